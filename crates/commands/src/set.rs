//! The `set` command group: SADD, SREM, SINTER/SUNION/SDIFF and their STORE forms,
//! SINTERCARD, SMOVE, SPOP, SRANDMEMBER, SSCAN and the rest, with Redis 7.0.15's replies and
//! errors in RESP2 and RESP3.
//!
//! This module owns the commands that read and write `Value::Set`, and the random sampling
//! helpers the hash group shares. It must never leave an empty set in the keyspace (a set whose
//! last member goes is deleted; a STORE with an empty result deletes its destination), never
//! hold a reference into one key's table while reaching for another's (multi-key commands copy
//! what they need out of each table in turn), and never panic on client input.
//!
//! Reply order: Redis keeps small all-integer sets as sorted intsets, so their members come
//! back in numeric order; we store every set in a hash table and reproduce that order on
//! output for any set Redis would hold as an intset.

use crate::args::{eq_ic, parse_i64};
use crate::ctx::Ctx;
use crate::errors;
use crate::generic::{parse_scan_options, scan_by_hash, scan_cursor_parse, string_match};
use crate::notify::{NOTIFY_GENERIC, NOTIFY_SET};
use crate::registry::{Kind, Registry};
use keyspace::value::SetMembers;
use keyspace::{Sds, SlotTable, Value};
use rand::Rng;
use resp::ReplyBuf;

/// getRangeLongFromObjectOrReply's message for the range [-LONG_MAX, LONG_MAX].
pub(crate) const RANGE_LONG: &str =
    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";
const NUMKEYS_NOT_POSITIVE: &str = "ERR numkeys should be greater than 0";
const TOO_MANY_NUMKEYS: &str = "ERR Number of keys can't be greater than number of args";
const LIMIT_NEGATIVE: &str = "ERR LIMIT can't be negative";

type Members = SetMembers;

pub fn register(r: &mut Registry) {
    r.add("sadd", Kind::Data(sadd));
    r.add("scard", Kind::Data(scard));
    r.add("sdiff", Kind::Data(sdiff));
    r.add("sdiffstore", Kind::Data(sdiffstore));
    r.add("sinter", Kind::Data(sinter));
    r.add("sintercard", Kind::Data(sintercard));
    r.add("sinterstore", Kind::Data(sinterstore));
    r.add("sismember", Kind::Data(sismember));
    r.add("smembers", Kind::Data(smembers));
    r.add("smismember", Kind::Data(smismember));
    r.add("smove", Kind::Data(smove));
    r.add("spop", Kind::Data(spop));
    r.add("srandmember", Kind::Data(srandmember));
    r.add("srem", Kind::Data(srem));
    r.add("sscan", Kind::Data(sscan));
    r.add("sunion", Kind::Data(sunion));
    r.add("sunionstore", Kind::Data(sunionstore));
}

// ---------------------------------------------------------------------------------------------
// Random sampling (shared with the hash group)
// ---------------------------------------------------------------------------------------------

/// A uniform index below `len` (0 when `len` is 0, so callers can use it with `nth`).
pub(crate) fn random_index(rng: &mut impl Rng, len: usize) -> usize {
    if len == 0 {
        0
    } else {
        rng.random_range(0..len)
    }
}

/// `count` distinct indices below `len` (`count <= len`), in random order.
pub(crate) fn sample_distinct(rng: &mut impl Rng, len: usize, count: usize) -> Vec<usize> {
    rand::seq::index::sample(rng, len, count.min(len)).into_vec()
}

// ---------------------------------------------------------------------------------------------
// Lookups and replies
// ---------------------------------------------------------------------------------------------

/// The key holds something other than a set.
struct WrongType;

/// The set stored at `key`, `None` if the key does not exist.
fn read_set<'t>(t: &'t mut SlotTable, key: &[u8], now_ms: i64) -> Result<Option<&'t Members>, WrongType> {
    match t.get(key, now_ms) {
        None => Ok(None),
        Some(Value::Set(s)) => Ok(Some(s)),
        Some(_) => Err(WrongType),
    }
}

/// The set at `key` for writing, created empty if missing. The caller must add a member to a
/// set it created.
fn write_set<'t>(t: &'t mut SlotTable, key: &[u8], now_ms: i64) -> Result<&'t mut Members, WrongType> {
    match t.get(key, now_ms) {
        None => {
            t.insert_new(key, Value::Set(Box::default()));
        }
        Some(Value::Set(_)) => {}
        Some(_) => return Err(WrongType),
    }
    match t.get_mut(key, now_ms) {
        Some(Value::Set(s)) => Ok(s),
        // Unreachable: the key was just found or created as a set under our lock.
        _ => Err(WrongType),
    }
}

/// Runs `f` on the set at `key` (or `None`), answering WRONGTYPE itself.
fn with_set(ctx: &mut Ctx<'_, '_>, key: &[u8], f: impl FnOnce(Option<&Members>, &mut ReplyBuf, i64)) {
    let now = ctx.now_ms;
    let max_intset = ctx.config.set_max_intset_entries;
    let t = ctx.locks.table(ctx.ks, ctx.db, key);
    match read_set(t, key, now) {
        Ok(s) => f(s, ctx.out, max_intset),
        Err(WrongType) => ctx.out.error(errors::WRONGTYPE),
    }
}

/// True if Redis would hold these members as an intset: few enough, all canonical integers.
fn is_intset_like<'a>(mut members: impl Iterator<Item = &'a [u8]>, len: usize, max_intset: i64) -> bool {
    (len as i64) <= max_intset && members.all(|m| parse_i64(m).is_some())
}

/// Puts members in the order Redis would reply them in: numeric order for an intset,
/// unchanged (hash-table order, which Redis leaves unspecified) otherwise.
fn redis_order<T: AsRef<[u8]>>(members: &mut [T], max_intset: i64) {
    if is_intset_like(members.iter().map(|m| m.as_ref()), members.len(), max_intset) {
        members.sort_by_key(|m| parse_i64(m.as_ref()).unwrap_or(0));
    }
}

/// Replies with members as a RESP3 set (an array in RESP2), or as an array.
fn reply_members<T: AsRef<[u8]>>(out: &mut ReplyBuf, mut members: Vec<T>, as_set: bool, max_intset: i64) {
    redis_order(&mut members, max_intset);
    if as_set {
        out.set(members.len());
    } else {
        out.array(members.len());
    }
    for m in &members {
        out.bulk(m.as_ref());
    }
}

/// Replaces `dest` with `members`, or deletes it if `members` is empty, as the STORE
/// commands do; replies with the cardinality.
fn store(ctx: &mut Ctx<'_, '_>, dest: &[u8], members: Members, event: &'static str) {
    let now = ctx.now_ms;
    let t = ctx.locks.table(ctx.ks, ctx.db, dest);
    let len = members.len();
    if len == 0 {
        if t.remove(dest, now).is_some() {
            ctx.dirty(1);
            ctx.notify(NOTIFY_GENERIC, "del", dest);
        }
    } else {
        t.set(dest, Value::Set(Box::new(members)));
        ctx.dirty(1);
        ctx.notify(NOTIFY_SET, event, dest);
    }
    ctx.out.int(len as i64);
}

// ---------------------------------------------------------------------------------------------
// Single-key commands
// ---------------------------------------------------------------------------------------------

/// SADD key member [member ...]: replies with the number of members added.
fn sadd(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let now = ctx.now_ms;
    let t = ctx.locks.table(ctx.ks, ctx.db, args[1]);
    let Ok(s) = write_set(t, args[1], now) else {
        return ctx.out.error(errors::WRONGTYPE);
    };
    let added = args[2..].iter().filter(|m| s.insert(Sds::new(m))).count();
    ctx.out.int(added as i64);
    ctx.dirty(added as u64);
    if added > 0 {
        ctx.notify(NOTIFY_SET, "sadd", args[1]);
    }
}

/// SREM key member [member ...]: deletes the key when its last member goes.
fn srem(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let now = ctx.now_ms;
    let t = ctx.locks.table(ctx.ks, ctx.db, args[1]);
    let (removed, now_empty) = match t.get_mut(args[1], now) {
        None => (0, false),
        Some(Value::Set(s)) => {
            let mut removed = 0;
            for m in &args[2..] {
                if s.swap_remove(*m) {
                    removed += 1;
                    if s.is_empty() {
                        break;
                    }
                }
            }
            (removed, s.is_empty())
        }
        Some(_) => return ctx.out.error(errors::WRONGTYPE),
    };
    if now_empty {
        t.remove(args[1], now);
    }
    ctx.out.int(removed);
    ctx.dirty(removed as u64);
    if removed > 0 {
        ctx.notify(NOTIFY_SET, "srem", args[1]);
        if now_empty {
            ctx.notify(NOTIFY_GENERIC, "del", args[1]);
        }
    }
}

/// SCARD key
fn scard(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    with_set(ctx, args[1], |s, out, _| out.int(s.map_or(0, |s| s.len()) as i64));
}

/// SISMEMBER key member
fn sismember(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    with_set(ctx, args[1], |s, out, _| out.int(s.is_some_and(|s| s.contains(args[2])) as i64));
}

/// SMISMEMBER key member [member ...]
fn smismember(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    with_set(ctx, args[1], |s, out, _| {
        out.array(args.len() - 2);
        for m in &args[2..] {
            out.int(s.is_some_and(|s| s.contains(*m)) as i64);
        }
    });
}

/// SMEMBERS key: a RESP3 set.
fn smembers(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    with_set(ctx, args[1], |s, out, max_intset| {
        let members: Vec<&Sds> = s.into_iter().flat_map(|s| s.iter()).collect();
        reply_members(out, members, true, max_intset);
    });
}

/// SMOVE source destination member
fn smove(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (src, dst, member) = (args[1], args[2], args[3]);
    let now = ctx.now_ms;
    // A missing source answers 0 before the destination's type is looked at, as in Redis.
    let in_src = match read_set(ctx.locks.table(ctx.ks, ctx.db, src), src, now) {
        Ok(None) => return ctx.out.int(0),
        Ok(Some(s)) => s.contains(member),
        Err(WrongType) => return ctx.out.error(errors::WRONGTYPE),
    };
    if read_set(ctx.locks.table(ctx.ks, ctx.db, dst), dst, now).is_err() {
        return ctx.out.error(errors::WRONGTYPE);
    }
    // Moving within one key changes nothing; the reply still says whether it is a member.
    if src == dst || !in_src {
        return ctx.out.int(in_src as i64);
    }
    let t = ctx.locks.table(ctx.ks, ctx.db, src);
    let mut src_emptied = false;
    if let Some(Value::Set(s)) = t.get_mut(src, now) {
        s.swap_remove(member);
        if s.is_empty() {
            t.remove(src, now);
            src_emptied = true;
        }
    }
    ctx.notify(NOTIFY_SET, "srem", src);
    if src_emptied {
        ctx.notify(NOTIFY_GENERIC, "del", src);
    }
    let t = ctx.locks.table(ctx.ks, ctx.db, dst);
    let added = write_set(t, dst, now).is_ok_and(|d| d.insert(Sds::new(member)));
    if added {
        ctx.notify(NOTIFY_SET, "sadd", dst);
    }
    ctx.out.int(1);
    // As Redis: the destination counts as modified only if the member was new there.
    if added {
        ctx.dirty(2);
    } else {
        ctx.dirty(1);
        ctx.effects.unmodified_key_args |= 1 << 2;
    }
}

/// SPOP key [count]
fn spop(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    match args.len() {
        2 => {}
        3 => return spop_with_count(ctx, args),
        _ => return ctx.out.error(errors::SYNTAX),
    }
    let now = ctx.now_ms;
    let t = ctx.locks.table(ctx.ks, ctx.db, args[1]);
    let (popped, now_empty) = match t.get_mut(args[1], now) {
        None => return ctx.out.null(),
        Some(Value::Set(s)) => {
            let i = random_index(&mut rand::rng(), s.len());
            let Some(m) = s.swap_remove_index(i) else {
                return ctx.out.null();
            };
            (m, s.is_empty())
        }
        Some(_) => return ctx.out.error(errors::WRONGTYPE),
    };
    if now_empty {
        t.remove(args[1], now);
    }
    ctx.out.bulk(&popped);
    ctx.dirty(1);
    ctx.propagate_as(|| vec![b"SREM".to_vec(), args[1].to_vec(), popped.to_vec()]);
    ctx.notify(NOTIFY_SET, "spop", args[1]);
    if now_empty {
        ctx.notify(NOTIFY_GENERIC, "del", args[1]);
    }
}

/// SPOP key count: up to `count` distinct members, removed; a RESP3 set.
fn spop_with_count(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let count = match parse_i64(args[2]) {
        Some(n) if n >= 0 => n as u64,
        _ => return ctx.out.error(errors::MUST_BE_POSITIVE),
    };
    let now = ctx.now_ms;
    let max_intset = ctx.config.set_max_intset_entries;
    let t = ctx.locks.table(ctx.ks, ctx.db, args[1]);
    let s = match t.get_mut(args[1], now) {
        None => return ctx.out.set(0),
        Some(Value::Set(s)) => s,
        Some(_) => return ctx.out.error(errors::WRONGTYPE),
    };
    if count == 0 {
        return ctx.out.set(0);
    }
    if count >= s.len() as u64 {
        // Everything goes: reply with the whole set and delete the key.
        let all: Vec<Sds> = s.drain(..).collect();
        t.remove(args[1], now);
        ctx.dirty(all.len() as u64);
        ctx.propagate_del(args[1], false);
        ctx.notify(NOTIFY_SET, "spop", args[1]);
        ctx.notify(NOTIFY_GENERIC, "del", args[1]);
        return reply_members(ctx.out, all, true, max_intset);
    }
    // O(count), as Redis: each pop takes a random index of what is left (count < len here).
    let mut rng = rand::rng();
    let mut picked: Vec<Sds> = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let i = random_index(&mut rng, s.len());
        if let Some(m) = s.swap_remove_index(i) {
            picked.push(m);
        }
    }
    // When few members stay, Redis picks those and replies with the rest in the set's own
    // order (numeric for an intset); otherwise it pops one by one, in random order.
    let remaining = s.len() as u64;
    if remaining.saturating_mul(5) <= count {
        redis_order(&mut picked, max_intset);
    }
    ctx.out.set(picked.len());
    for m in &picked {
        ctx.out.bulk(m);
    }
    ctx.dirty(picked.len() as u64);
    // One SREM per member popped (Redis 7.0 does not batch them); several are wrapped in
    // MULTI/EXEC by the server.
    for m in &picked {
        ctx.propagate_as(|| vec![b"SREM".to_vec(), args[1].to_vec(), m.to_vec()]);
    }
    ctx.notify(NOTIFY_SET, "spop", args[1]);
}

/// SRANDMEMBER key [count]
fn srandmember(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    match args.len() {
        2 => {}
        3 => return srandmember_with_count(ctx, args),
        _ => return ctx.out.error(errors::SYNTAX),
    }
    let mut rng = rand::rng();
    with_set(ctx, args[1], |s, out, _| match s.and_then(|s| s.get_index(random_index(&mut rng, s.len()))) {
        Some(m) => out.bulk(m),
        None => out.null(),
    });
}

/// SRANDMEMBER key count: distinct members for a positive count, independent picks for a
/// negative one; always an array.
fn srandmember_with_count(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let Some(count) = parse_i64(args[2]) else {
        return ctx.out.error(errors::NOT_INTEGER);
    };
    if count == i64::MIN {
        return ctx.out.error(RANGE_LONG);
    }
    let mut rng = rand::rng();
    with_set(ctx, args[1], |s, out, max_intset| {
        let Some(s) = s.filter(|_| count != 0) else {
            return out.array(0);
        };
        // Members are reached by index (O(1)), so only a reply of the whole set walks it.
        if count < 0 {
            // Written pick by pick, so a huge count needs no memory up front.
            let picks = count.unsigned_abs() as usize;
            out.array(picks);
            for _ in 0..picks {
                if crate::reply_over_limit(out.len()) {
                    // The client will be closed with none of this sent.
                    break;
                }
                if let Some(m) = s.get_index(random_index(&mut rng, s.len())) {
                    out.bulk(m);
                }
            }
        } else if count as u64 >= s.len() as u64 {
            reply_members(out, s.iter().collect(), false, max_intset);
        } else {
            let picked = sample_distinct(&mut rng, s.len(), count as usize);
            out.array(picked.len());
            for m in picked.into_iter().filter_map(|i| s.get_index(i)) {
                out.bulk(m);
            }
        }
    });
}

/// SSCAN key cursor [MATCH pattern] [COUNT count]
fn sscan(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let Some(cursor) = scan_cursor_parse(args[2]) else {
        return ctx.out.error("ERR invalid cursor");
    };
    with_set(ctx, args[1], |s, out, max_intset| {
        let Some(s) = s else {
            out.array(2);
            out.bulk(b"0");
            return out.array(0);
        };
        // Options are only parsed once the key is known to be a set, as in Redis.
        let opts = match parse_scan_options(&args[3..], false) {
            Ok(o) => o,
            Err(e) => return out.error(e),
        };
        // An intset is returned whole and in order, whatever the cursor and COUNT.
        let (next, mut page): (u64, Vec<&Sds>) = if is_intset_like(s.iter().map(|m| m.as_bytes()), s.len(), max_intset)
        {
            (0, s.iter().collect())
        } else {
            scan_by_hash(|| s.iter(), |m: &&Sds| m.as_bytes(), cursor, opts.count)
        };
        if let Some(p) = opts.pattern {
            page.retain(|m| string_match(p, m, false));
        }
        redis_order(&mut page, max_intset);
        out.array(2);
        out.bulk(next.to_string().as_bytes());
        out.array(page.len());
        for m in page {
            out.bulk(m);
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Multi-key commands
// ---------------------------------------------------------------------------------------------

/// The intersection of the sets at `keys`, at most `limit` members (0: no limit). `Err` after
/// replying WRONGTYPE. Every key is type-checked even when one is missing, as in Redis.
fn intersect(ctx: &mut Ctx<'_, '_>, keys: &[&[u8]], limit: usize) -> Result<Vec<Sds>, ()> {
    let now = ctx.now_ms;
    let mut sizes = Vec::with_capacity(keys.len());
    for key in keys {
        match read_set(ctx.locks.table(ctx.ks, ctx.db, key), key, now) {
            Ok(s) => sizes.push(s.map_or(0, |s| s.len())),
            Err(WrongType) => {
                ctx.out.error(errors::WRONGTYPE);
                return Err(());
            }
        }
    }
    if sizes.contains(&0) {
        return Ok(Vec::new());
    }
    // Walk the smallest set and filter it through the others, smallest first, copying only
    // the surviving candidates between tables.
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by_key(|&i| sizes[i]);
    let first = keys[order[0]];
    let mut candidates: Vec<Sds> = match read_set(ctx.locks.table(ctx.ks, ctx.db, first), first, now) {
        Ok(Some(s)) => s.iter().cloned().collect(),
        _ => Vec::new(),
    };
    for &i in &order[1..] {
        if candidates.is_empty() {
            break;
        }
        if let Ok(Some(s)) = read_set(ctx.locks.table(ctx.ks, ctx.db, keys[i]), keys[i], now) {
            candidates.retain(|m| s.contains(m));
        }
    }
    if limit > 0 {
        candidates.truncate(limit);
    }
    Ok(candidates)
}

/// SINTER key [key ...]
fn sinter(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    if let Ok(members) = intersect(ctx, &args[1..], 0) {
        reply_members(ctx.out, members, true, ctx.config.set_max_intset_entries);
    }
}

/// SINTERSTORE destination key [key ...]
fn sinterstore(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    if let Ok(members) = intersect(ctx, &args[2..], 0) {
        store(ctx, args[1], members.into_iter().collect(), "sinterstore");
    }
}

/// SINTERCARD numkeys key [key ...] [LIMIT limit]
fn sintercard(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let numkeys = match parse_i64(args[1]) {
        Some(n) if n >= 1 => n as u64,
        _ => return ctx.out.error(NUMKEYS_NOT_POSITIVE),
    };
    if numkeys > (args.len() - 2) as u64 {
        return ctx.out.error(TOO_MANY_NUMKEYS);
    }
    let keys_end = 2 + numkeys as usize;
    let mut limit = 0usize;
    let mut i = keys_end;
    while i < args.len() {
        if eq_ic(args[i], "limit") && i + 1 < args.len() {
            limit = match parse_i64(args[i + 1]) {
                Some(n) if n >= 0 => usize::try_from(n).unwrap_or(usize::MAX),
                _ => return ctx.out.error(LIMIT_NEGATIVE),
            };
            i += 2;
        } else {
            return ctx.out.error(errors::SYNTAX);
        }
    }
    if let Ok(members) = intersect(ctx, &args[2..keys_end], limit) {
        ctx.out.int(members.len() as i64);
    }
}

/// How SUNION/SDIFF combine their sets.
#[derive(Clone, Copy, PartialEq)]
enum Combine {
    Union,
    Diff,
}

/// The union of the sets at `keys`, or the first minus the others. `Err` after replying
/// WRONGTYPE; every key is type-checked before anything is computed, as in Redis.
fn combine(ctx: &mut Ctx<'_, '_>, keys: &[&[u8]], op: Combine) -> Result<Members, ()> {
    let now = ctx.now_ms;
    for key in keys {
        if read_set(ctx.locks.table(ctx.ks, ctx.db, key), key, now).is_err() {
            ctx.out.error(errors::WRONGTYPE);
            return Err(());
        }
    }
    let mut result = Members::default();
    for (i, key) in keys.iter().enumerate() {
        let Ok(Some(s)) = read_set(ctx.locks.table(ctx.ks, ctx.db, key), key, now) else {
            if op == Combine::Diff && i == 0 {
                break; // Nothing to subtract from.
            }
            continue;
        };
        match op {
            Combine::Union => result.extend(s.iter().cloned()),
            Combine::Diff if i == 0 => result = s.clone(),
            Combine::Diff => {
                // Walk whichever side is smaller.
                if s.len() < result.len() {
                    for m in s.iter() {
                        result.swap_remove(m);
                    }
                } else {
                    result.retain(|m| !s.contains(m));
                }
            }
        }
        if op == Combine::Diff && result.is_empty() {
            break;
        }
    }
    Ok(result)
}

/// SUNION key [key ...]
fn sunion(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    if let Ok(members) = combine(ctx, &args[1..], Combine::Union) {
        reply_members(ctx.out, members.into_iter().collect(), true, ctx.config.set_max_intset_entries);
    }
}

/// SUNIONSTORE destination key [key ...]
fn sunionstore(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    if let Ok(members) = combine(ctx, &args[2..], Combine::Union) {
        store(ctx, args[1], members, "sunionstore");
    }
}

/// SDIFF key [key ...]
fn sdiff(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    if let Ok(members) = combine(ctx, &args[1..], Combine::Diff) {
        reply_members(ctx.out, members.into_iter().collect(), true, ctx.config.set_max_intset_entries);
    }
}

/// SDIFFSTORE destination key [key ...]
fn sdiffstore(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    if let Ok(members) = combine(ctx, &args[2..], Combine::Diff) {
        store(ctx, args[1], members, "sdiffstore");
    }
}
