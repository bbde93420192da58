//! The `hash` command group: HSET, HGET, HINCRBYFLOAT, HRANDFIELD, HSCAN and the rest, with
//! Redis 7.0.15's replies and errors in RESP2 and RESP3.
//!
//! This module owns the commands that read and write `Value::Hash`, and [`long_double`], the
//! software 80-bit arithmetic HINCRBYFLOAT needs to print exactly what Redis prints. It must
//! never leave an empty hash in the keyspace (a hash whose last field goes is deleted, as in
//! Redis), never touch a key of another type except to answer WRONGTYPE, and never panic on
//! client input.

use crate::args::{eq_ic, parse_i64};
use crate::ctx::Ctx;
use crate::errors;
use crate::generic::{parse_scan_options, scan_by_hash, scan_cursor_parse, string_match};
use crate::long_double::{self, F80};
use crate::notify::{NOTIFY_GENERIC, NOTIFY_HASH};
use crate::registry::{Kind, Registry};
use crate::set::{random_index, sample_distinct, RANGE_LONG};
use keyspace::value::HashFields;
use keyspace::{Sds, SlotTable, Value};
use resp::ReplyBuf;

const HASH_NOT_INTEGER: &str = "ERR hash value is not an integer";
const HASH_NOT_FLOAT: &str = "ERR hash value is not a float";
const INCR_NAN_OR_INFINITY: &str = "ERR value is NaN or Infinity";
const OUT_OF_RANGE_PLAIN: &str = "ERR value is out of range";

type HashMap = HashFields;

pub fn register(r: &mut Registry) {
    r.add("hdel", Kind::Data(hdel));
    r.add("hexists", Kind::Data(hexists));
    r.add("hget", Kind::Data(hget));
    r.add("hgetall", Kind::Data(hgetall));
    r.add("hincrby", Kind::Data(hincrby));
    r.add("hincrbyfloat", Kind::Data(hincrbyfloat));
    r.add("hkeys", Kind::Data(hkeys));
    r.add("hlen", Kind::Data(hlen));
    r.add("hmget", Kind::Data(hmget));
    r.add("hmset", Kind::Data(hmset));
    r.add("hrandfield", Kind::Data(hrandfield));
    r.add("hscan", Kind::Data(hscan));
    r.add("hset", Kind::Data(hset));
    r.add("hsetnx", Kind::Data(hsetnx));
    r.add("hstrlen", Kind::Data(hstrlen));
    r.add("hvals", Kind::Data(hvals));
}

/// The key holds something other than a hash.
struct WrongType;

/// The hash stored at `key`, `None` if the key does not exist.
fn read_hash<'t>(t: &'t mut SlotTable, key: &[u8], now_ms: i64) -> Result<Option<&'t HashMap>, WrongType> {
    match t.get(key, now_ms) {
        None => Ok(None),
        Some(Value::Hash(h)) => Ok(Some(h)),
        Some(_) => Err(WrongType),
    }
}

/// The hash at `key` for writing, created empty if the key does not exist. The caller must
/// put at least one field in a hash it created (an empty hash must never stay in the keyspace).
fn write_hash<'t>(t: &'t mut SlotTable, key: &[u8], now_ms: i64) -> Result<&'t mut HashMap, WrongType> {
    match t.get(key, now_ms) {
        None => {
            t.insert_new(key, Value::Hash(Box::default()));
        }
        Some(Value::Hash(_)) => {}
        Some(_) => return Err(WrongType),
    }
    match t.get_mut(key, now_ms) {
        Some(Value::Hash(h)) => Ok(h),
        // Unreachable: the key was just found or created as a hash under our lock.
        _ => Err(WrongType),
    }
}

/// Runs `f` on the hash at `key` (or `None`), answering WRONGTYPE itself.
fn with_hash<R>(ctx: &mut Ctx<'_, '_>, key: &[u8], f: impl FnOnce(Option<&HashMap>, &mut ReplyBuf) -> R) -> Option<R> {
    let now = ctx.now_ms;
    let t = ctx.locks.table(ctx.ks, ctx.db, key);
    match read_hash(t, key, now) {
        Ok(h) => Some(f(h, ctx.out)),
        Err(WrongType) => {
            ctx.out.error(errors::WRONGTYPE);
            None
        }
    }
}

/// HSET key field value [field value ...]: replies with the number of fields created.
fn hset(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    if let Some(created) = set_fields(ctx, args, "hset") {
        ctx.out.int(created as i64);
    }
}

/// HMSET key field value [field value ...]: HSET replying OK.
fn hmset(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    if set_fields(ctx, args, "hmset").is_some() {
        ctx.out.ok();
    }
}

/// Stores every field/value pair of HSET/HMSET; returns how many fields were new, or `None`
/// after replying with an error.
fn set_fields(ctx: &mut Ctx<'_, '_>, args: &[&[u8]], name: &str) -> Option<usize> {
    // An unpaired field is an arity error, reported before the key is looked at.
    if args.len() < 4 || args.len() & 1 == 1 {
        ctx.out.error(&errors::wrong_arity(name));
        return None;
    }
    let now = ctx.now_ms;
    let t = ctx.locks.table(ctx.ks, ctx.db, args[1]);
    let Ok(h) = write_hash(t, args[1], now) else {
        ctx.out.error(errors::WRONGTYPE);
        return None;
    };
    let mut created = 0;
    for pair in args[2..].chunks_exact(2) {
        match h.get_mut(pair[0]) {
            Some(v) => *v = Sds::new(pair[1]),
            None => {
                h.insert(Sds::new(pair[0]), Sds::new(pair[1]));
                created += 1;
            }
        }
    }
    // Redis counts every pair written, updates included.
    ctx.dirty(((args.len() - 2) / 2) as u64);
    ctx.notify(NOTIFY_HASH, "hset", args[1]);
    Some(created)
}

/// HSETNX key field value
fn hsetnx(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let now = ctx.now_ms;
    let t = ctx.locks.table(ctx.ks, ctx.db, args[1]);
    match read_hash(t, args[1], now) {
        Err(WrongType) => return ctx.out.error(errors::WRONGTYPE),
        Ok(Some(h)) if h.contains_key(args[2]) => return ctx.out.int(0),
        Ok(_) => {}
    }
    if let Ok(h) = write_hash(t, args[1], now) {
        h.insert(Sds::new(args[2]), Sds::new(args[3]));
    }
    ctx.out.int(1);
    ctx.dirty(1);
    ctx.notify(NOTIFY_HASH, "hset", args[1]);
}

/// HGET key field
fn hget(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    with_hash(ctx, args[1], |h, out| match h.and_then(|h| h.get(args[2])) {
        Some(v) => out.bulk(v),
        None => out.null(),
    });
}

/// HMGET key field [field ...]: a null for each missing field (all of them if no key).
fn hmget(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    with_hash(ctx, args[1], |h, out| {
        out.array(args.len() - 2);
        for field in &args[2..] {
            match h.and_then(|h| h.get(*field)) {
                Some(v) => out.bulk(v),
                None => out.null(),
            }
        }
    });
}

/// HEXISTS key field
fn hexists(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    with_hash(ctx, args[1], |h, out| out.int(h.is_some_and(|h| h.contains_key(args[2])) as i64));
}

/// HLEN key
fn hlen(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    with_hash(ctx, args[1], |h, out| out.int(h.map_or(0, |h| h.len()) as i64));
}

/// HSTRLEN key field
fn hstrlen(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    with_hash(ctx, args[1], |h, out| out.int(h.and_then(|h| h.get(args[2])).map_or(0, |v| v.len()) as i64));
}

/// HGETALL key: a map in RESP3, a flat field/value array in RESP2.
fn hgetall(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    with_hash(ctx, args[1], |h, out| match h {
        None => out.map(0),
        Some(h) => {
            out.map(h.len());
            for (f, v) in h.iter() {
                out.bulk(f);
                out.bulk(v);
            }
        }
    });
}

/// HKEYS key
fn hkeys(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    with_hash(ctx, args[1], |h, out| {
        out.array(h.map_or(0, |h| h.len()));
        for f in h.into_iter().flat_map(|h| h.keys()) {
            out.bulk(f);
        }
    });
}

/// HVALS key
fn hvals(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    with_hash(ctx, args[1], |h, out| {
        out.array(h.map_or(0, |h| h.len()));
        for v in h.into_iter().flat_map(|h| h.values()) {
            out.bulk(v);
        }
    });
}

/// HDEL key field [field ...]: deletes the key when its last field goes.
fn hdel(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let now = ctx.now_ms;
    let t = ctx.locks.table(ctx.ks, ctx.db, args[1]);
    let (deleted, now_empty) = match t.get_mut(args[1], now) {
        None => (0, false),
        Some(Value::Hash(h)) => {
            let mut deleted = 0;
            for field in &args[2..] {
                if h.swap_remove(*field).is_some() {
                    deleted += 1;
                    if h.is_empty() {
                        break;
                    }
                }
            }
            (deleted, h.is_empty())
        }
        Some(_) => return ctx.out.error(errors::WRONGTYPE),
    };
    if now_empty {
        t.remove(args[1], now);
    }
    ctx.out.int(deleted);
    ctx.dirty(deleted as u64);
    if deleted > 0 {
        ctx.notify(NOTIFY_HASH, "hdel", args[1]);
        if now_empty {
            ctx.notify(NOTIFY_GENERIC, "del", args[1]);
        }
    }
}

/// HINCRBY key field increment
fn hincrby(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let Some(incr) = parse_i64(args[3]) else {
        return ctx.out.error(errors::NOT_INTEGER);
    };
    let now = ctx.now_ms;
    let t = ctx.locks.table(ctx.ks, ctx.db, args[1]);
    let Ok(h) = write_hash(t, args[1], now) else {
        return ctx.out.error(errors::WRONGTYPE);
    };
    let current = match h.get(args[2]) {
        None => 0,
        Some(v) => match parse_i64(v) {
            Some(n) => n,
            None => return ctx.out.error(HASH_NOT_INTEGER),
        },
    };
    // The key cannot have been created here with no field: a new hash has no field to
    // hold a bad value, and the overflow check below cannot fail from 0.
    let Some(result) = current.checked_add(incr) else {
        return ctx.out.error(errors::OVERFLOW);
    };
    h.insert(Sds::new(args[2]), Sds::new(result.to_string().as_bytes()));
    ctx.out.int(result);
    ctx.dirty(1);
    ctx.notify(NOTIFY_HASH, "hincrby", args[1]);
}

/// HINCRBYFLOAT key field increment: computed in 80-bit extended precision and printed as
/// `%.17Lf` without trailing zeros, like Redis on x86-64.
fn hincrbyfloat(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let Some(incr) = long_double::parse(args[3]) else {
        return ctx.out.error(errors::NOT_FLOAT);
    };
    if !incr.is_finite() {
        return ctx.out.error(INCR_NAN_OR_INFINITY);
    }
    let now = ctx.now_ms;
    let t = ctx.locks.table(ctx.ks, ctx.db, args[1]);
    let created = !t.contains(args[1], now);
    let Ok(h) = write_hash(t, args[1], now) else {
        return ctx.out.error(errors::WRONGTYPE);
    };
    let current = match h.get(args[2]) {
        None => F80::Zero { neg: false },
        Some(v) => match long_double::parse(v) {
            Some(x) => x,
            None => return ctx.out.error(HASH_NOT_FLOAT),
        },
    };
    let result = match long_double::add(current, incr) {
        Some(r) if r.is_finite() => r,
        _ => {
            // Never leave the empty hash this call may have created behind an error.
            if created && h.is_empty() {
                t.remove(args[1], now);
            }
            return ctx.out.error(errors::NAN_OR_INFINITY);
        }
    };
    let text = long_double::format_human(result);
    h.insert(Sds::new(args[2]), Sds::new(text.as_bytes()));
    ctx.out.bulk(text.as_bytes());
    ctx.dirty(1);
    ctx.propagate_as(|| vec![b"HSET".to_vec(), args[1].to_vec(), args[2].to_vec(), text.as_bytes().to_vec()]);
    ctx.notify(NOTIFY_HASH, "hincrbyfloat", args[1]);
}

/// HRANDFIELD key [count [WITHVALUES]]
fn hrandfield(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    if args.len() >= 3 {
        return hrandfield_with_count(ctx, args);
    }
    let mut rng = rand::rng();
    with_hash(ctx, args[1], |h, out| match h {
        None => out.null(),
        Some(h) => match h.get_index(random_index(&mut rng, h.len())) {
            Some((f, _)) => out.bulk(f),
            None => out.null(),
        },
    });
}

/// HRANDFIELD key count [WITHVALUES]: distinct fields for a positive count, independent picks
/// (repeats allowed) for a negative one. With WITHVALUES, RESP3 gets [field, value] pairs and
/// RESP2 a flat array.
fn hrandfield_with_count(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let Some(count) = parse_i64(args[2]) else {
        return ctx.out.error(errors::NOT_INTEGER);
    };
    if count == i64::MIN {
        return ctx.out.error(RANGE_LONG);
    }
    let withvalues = match args.len() {
        3 => false,
        4 if eq_ic(args[3], "withvalues") => true,
        _ => return ctx.out.error(errors::SYNTAX),
    };
    // Redis refuses counts whose doubled reply length would overflow a long.
    if withvalues && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return ctx.out.error(OUT_OF_RANGE_PLAIN);
    }
    let mut rng = rand::rng();
    with_hash(ctx, args[1], |h, out| {
        let Some(h) = h.filter(|_| count != 0) else {
            return out.array(0);
        };
        // Fields are reached by index (O(1)); only a reply of the whole hash walks it.
        let resp3 = out.is_resp3();
        let header = |out: &mut ReplyBuf, n: usize| {
            if withvalues && !resp3 {
                out.array(2 * n)
            } else {
                out.array(n)
            }
        };
        let emit = |out: &mut ReplyBuf, (f, v): (&Sds, &Sds)| {
            if withvalues {
                if resp3 {
                    out.array(2);
                }
                out.bulk(f);
                out.bulk(v);
            } else {
                out.bulk(f);
            }
        };
        if count < 0 {
            // The reply is written pick by pick, so a huge count costs no memory up front.
            let picks = count.unsigned_abs() as usize;
            header(out, picks);
            for _ in 0..picks {
                if crate::reply_over_limit(out.len()) {
                    // The client will be closed with none of this sent.
                    break;
                }
                if let Some(e) = h.get_index(random_index(&mut rng, h.len())) {
                    emit(out, e);
                }
            }
        } else if count as u64 >= h.len() as u64 {
            header(out, h.len());
            for e in h.iter() {
                emit(out, e);
            }
        } else {
            let picked = sample_distinct(&mut rng, h.len(), count as usize);
            header(out, picked.len());
            for e in picked.into_iter().filter_map(|i| h.get_index(i)) {
                emit(out, e);
            }
        }
    });
}

/// HSCAN key cursor [MATCH pattern] [COUNT count]
fn hscan(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let Some(cursor) = scan_cursor_parse(args[2]) else {
        return ctx.out.error("ERR invalid cursor");
    };
    let max_entries = ctx.config.hash_max_listpack_entries;
    let max_value = ctx.config.hash_max_listpack_value;
    with_hash(ctx, args[1], |h, out| {
        let Some(h) = h else {
            out.array(2);
            out.bulk(b"0");
            return out.array(0);
        };
        // Options are only parsed once the key is known to be a hash, as in Redis.
        let opts = match parse_scan_options(&args[3..], false) {
            Ok(o) => o,
            Err(e) => return out.error(e),
        };
        // A hash Redis keeps as a listpack is returned whole, whatever the cursor and COUNT.
        let compact = is_listpack_sized(h, max_entries, max_value);
        let (next, page): (u64, Vec<(&Sds, &Sds)>) = if compact {
            (0, h.iter().collect())
        } else {
            scan_by_hash(|| h.iter(), |e: &(&Sds, &Sds)| e.0.as_bytes(), cursor, opts.count)
        };
        let matching: Vec<(&Sds, &Sds)> = match opts.pattern {
            None => page,
            Some(p) => page.into_iter().filter(|(f, _)| string_match(p, f, false)).collect(),
        };
        out.array(2);
        out.bulk(next.to_string().as_bytes());
        out.array(2 * matching.len());
        for (f, v) in matching {
            out.bulk(f);
            out.bulk(v);
        }
    });
}

/// True if Redis would keep this hash as a listpack (few entries, short fields and values).
fn is_listpack_sized(h: &HashMap, max_entries: i64, max_value: i64) -> bool {
    let short = |s: &Sds| (s.len() as i64) <= max_value;
    (h.len() as i64) <= max_entries && h.iter().all(|(f, v)| short(f) && short(v))
}
