//! The `generic` command group: key-level commands that work on any type (DEL, EXISTS, TYPE,
//! the EXPIRE/TTL family, RENAME, COPY) and whole-keyspace walks (KEYS, SCAN, RANDOMKEY).
//!
//! It also owns two building blocks other groups reuse: Redis's glob matcher
//! ([`string_match`], for MATCH options and PUBSUB patterns) and the cursor machinery of the
//! SCAN family ([`scan_cursor_parse`], [`parse_scan_options`], [`scan_by_hash`]).
//!
//! Commands here must never hold one slot lock while taking another (except the two locks of
//! COPY/RENAME, taken through the lock set in order), never re-lock a slot the command's lock set
//! already holds, and never panic on client input.

use crate::args::{eq_ic, parse_i64};
use crate::ctx::Ctx;
use crate::errors;
use crate::notify::NOTIFY_GENERIC;
use crate::registry::{Kind, Registry};
use keyspace::{key_hash_slot, Keyspace, LockSet, SlotTable, Value, SLOT_COUNT};
use resp::ReplyBuf;
use std::collections::BinaryHeap;
use std::hash::Hasher;

pub fn register(r: &mut Registry) {
    r.add("copy", Kind::Data(copy));
    r.add("del", Kind::Data(del));
    r.add("exists", Kind::Data(exists));
    r.add("expire", Kind::Data(expire));
    r.add("expireat", Kind::Data(expireat));
    r.add("expiretime", Kind::Data(expiretime));
    r.add("keys", Kind::Data(keys));
    r.add("persist", Kind::Data(persist));
    r.add("pexpire", Kind::Data(pexpire));
    r.add("pexpireat", Kind::Data(pexpireat));
    r.add("pexpiretime", Kind::Data(pexpiretime));
    r.add("pttl", Kind::Data(pttl));
    r.add("randomkey", Kind::Data(randomkey));
    r.add("rename", Kind::Data(rename));
    r.add("renamenx", Kind::Data(renamenx));
    r.add("scan", Kind::Data(scan));
    r.add("touch", Kind::Data(touch));
    r.add("ttl", Kind::Data(ttl));
    r.add("type", Kind::Data(type_));
    r.add("unlink", Kind::Data(unlink));
}

// ---------------------------------------------------------------------------------------------
// Glob matching
// ---------------------------------------------------------------------------------------------

/// Redis's glob matcher (`stringmatchlen`), byte for byte: `*`, `?`, `[abc]`, `[^abc]`,
/// `[a-z]` (reversed ranges allowed), `\` escapes (inside brackets too), and Redis's treatment
/// of malformed patterns (an unterminated `[` class ends at the end of the pattern). As in Redis
/// (7.0.15 with the CVE-2024-31228 fix Debian ships), recursion deeper than 1000 `*` levels is a
/// non-match, and a failed `*` stops earlier `*`s from retrying longer matches, which keeps
/// patterns like `a*a*a*...b` linear instead of exponential.
///
/// `nocase` folds ASCII letters, except for escaped characters inside brackets, which Redis
/// compares exactly.
pub fn string_match(pattern: &[u8], s: &[u8], nocase: bool) -> bool {
    let mut skip_longer_matches = false;
    match_impl(pattern, s, nocase, &mut skip_longer_matches, 0)
}

/// C's `tolower` in the C locale, applied to a `char` promoted to int (signed on x86).
#[inline]
fn c_tolower(c: i32) -> i32 {
    if (b'A' as i32..=b'Z' as i32).contains(&c) {
        c + 32
    } else {
        c
    }
}

/// A byte as C's (signed) `char` promoted to `int`, which is how Redis compares range bounds.
#[inline]
fn c_char(b: u8) -> i32 {
    b as i8 as i32
}

fn match_impl(pat: &[u8], s: &[u8], nocase: bool, skip_longer_matches: &mut bool, nesting: u32) -> bool {
    if nesting > 1000 {
        return false;
    }
    // Reading past the end yields NUL, as the C code reads the string terminator.
    let at = |i: usize| pat.get(i).copied().unwrap_or(0);
    let same = |a: u8, b: u8| if nocase { a.eq_ignore_ascii_case(&b) } else { a == b };
    let (mut p, mut i) = (0usize, 0usize);
    while p < pat.len() && i < s.len() {
        match pat[p] {
            b'*' => {
                while at(p + 1) == b'*' {
                    p += 1;
                }
                if p + 1 == pat.len() {
                    return true;
                }
                while i < s.len() {
                    if match_impl(&pat[p + 1..], &s[i..], nocase, skip_longer_matches, nesting + 1) {
                        return true;
                    }
                    if *skip_longer_matches {
                        return false;
                    }
                    i += 1;
                }
                // Nothing after this star matches anywhere in the rest of the string, so no
                // earlier star can succeed by consuming more either.
                *skip_longer_matches = true;
                return false;
            }
            b'?' => i += 1,
            b'[' => {
                p += 1;
                let not = at(p) == b'^';
                if not {
                    p += 1;
                }
                let mut matched = false;
                loop {
                    let remaining = pat.len().saturating_sub(p);
                    if at(p) == b'\\' && remaining >= 2 {
                        p += 1;
                        if pat[p] == s[i] {
                            matched = true;
                        }
                    } else if at(p) == b']' {
                        break;
                    } else if remaining == 0 {
                        // Unterminated class: step back so the outer advance ends the pattern.
                        p -= 1;
                        break;
                    } else if remaining >= 3 && pat[p + 1] == b'-' {
                        let (mut start, mut end, mut c) = (c_char(pat[p]), c_char(pat[p + 2]), c_char(s[i]));
                        if start > end {
                            std::mem::swap(&mut start, &mut end);
                        }
                        if nocase {
                            start = c_tolower(start);
                            end = c_tolower(end);
                            c = c_tolower(c);
                        }
                        p += 2;
                        if c >= start && c <= end {
                            matched = true;
                        }
                    } else if same(pat[p], s[i]) {
                        matched = true;
                    }
                    p += 1;
                }
                if not {
                    matched = !matched;
                }
                if !matched {
                    return false;
                }
                i += 1;
            }
            c => {
                let lit = if c == b'\\' && pat.len() - p >= 2 {
                    p += 1;
                    pat[p]
                } else {
                    c
                };
                if !same(lit, s[i]) {
                    return false;
                }
                i += 1;
            }
        }
        p += 1;
        if i == s.len() {
            while at(p) == b'*' {
                p += 1;
            }
            break;
        }
    }
    p >= pat.len() && i == s.len()
}

/// If every key matching `pattern` must live in one hash slot, that slot: the pattern is a
/// literal key, or starts with a literal `...{tag}` whose tag then decides the slot. KEYS and
/// SCAN use it to visit one slot instead of 16384 (same result, since no other slot can hold a
/// match).
fn pattern_slot(pattern: &[u8]) -> Option<u16> {
    let literal_len = pattern.iter().position(|c| matches!(c, b'*' | b'?' | b'[' | b'\\')).unwrap_or(pattern.len());
    let literal = &pattern[..literal_len];
    if literal_len == pattern.len() {
        return Some(key_hash_slot(pattern));
    }
    let open = literal.iter().position(|&c| c == b'{')?;
    let close = open + 1 + literal[open + 1..].iter().position(|&c| c == b'}')?;
    if close == open + 1 {
        // `{}` does not count as a tag: the whole key is hashed.
        return None;
    }
    Some(key_hash_slot(&literal[..=close]))
}

// ---------------------------------------------------------------------------------------------
// Scan building blocks
// ---------------------------------------------------------------------------------------------

/// Parses a SCAN-family cursor as Redis does (`strtoul` base 10): an optional sign, decimal
/// digits, nothing after them, no leading whitespace, no overflow. As in C, a negative number
/// wraps (`-1` is 2^64-1), bytes after a NUL are ignored, and an empty argument is cursor 0.
/// `None` means Redis's "ERR invalid cursor".
pub fn scan_cursor_parse(arg: &[u8]) -> Option<u64> {
    let arg = match arg.iter().position(|&c| c == 0) {
        Some(nul) => &arg[..nul],
        None => arg,
    };
    if arg.is_empty() {
        return Some(0);
    }
    if matches!(arg[0], b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r') {
        return None;
    }
    let (negative, digits) = match arg[0] {
        b'-' => (true, &arg[1..]),
        b'+' => (false, &arg[1..]),
        _ => (false, arg),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for &d in digits {
        v = v.checked_mul(10)?.checked_add((d - b'0') as u64)?;
    }
    Some(if negative { v.wrapping_neg() } else { v })
}

/// The options of SCAN / HSCAN / SSCAN / ZSCAN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScanOptions<'a> {
    /// Elements to visit per call (COUNT, default 10).
    pub count: usize,
    /// MATCH pattern; `None` when absent or exactly `*`.
    pub pattern: Option<&'a [u8]>,
    /// TYPE filter (SCAN only).
    pub type_name: Option<&'a [u8]>,
}

/// Parses `[MATCH pattern] [COUNT count] [TYPE type]` (TYPE only when `allow_type`, i.e. for
/// SCAN itself) with Redis's errors: a bad COUNT is "not an integer", COUNT < 1 and anything
/// unknown or missing its value is a syntax error. Returns the error text.
pub fn parse_scan_options<'a>(opts: &[&'a [u8]], allow_type: bool) -> Result<ScanOptions<'a>, &'static str> {
    let mut o = ScanOptions { count: 10, pattern: None, type_name: None };
    let mut i = 0;
    while i < opts.len() {
        let has_value = i + 1 < opts.len();
        if eq_ic(opts[i], "count") && has_value {
            let n = parse_i64(opts[i + 1]).ok_or(errors::NOT_INTEGER)?;
            if n < 1 {
                return Err(errors::SYNTAX);
            }
            o.count = usize::try_from(n).unwrap_or(usize::MAX);
        } else if eq_ic(opts[i], "match") && has_value {
            let p = opts[i + 1];
            o.pattern = if p == b"*" { None } else { Some(p) };
        } else if eq_ic(opts[i], "type") && allow_type && has_value {
            o.type_name = Some(opts[i + 1]);
        } else {
            return Err(errors::SYNTAX);
        }
        i += 2;
    }
    Ok(o)
}

/// The position of an element in the 64-bit hash space [`scan_by_hash`] walks. Fixed keys
/// (SipHash-1-3 with zero keys), so a cursor stays meaningful across calls and across copies
/// of a collection for the life of the process.
pub fn scan_hash(bytes: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    h.write(bytes);
    h.finish()
}

/// One candidate of [`scan_by_hash`], ordered by hash only.
struct ByHash<T>(u64, T);

impl<T> PartialEq for ByHash<T> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl<T> Eq for ByHash<T> {}
impl<T> PartialOrd for ByHash<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for ByHash<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.cmp(&other.0)
    }
}

/// A cursor over a hash-table collection for HSCAN / SSCAN / ZSCAN.
///
/// The cursor is a position in the 64-bit space of [`scan_hash`] of each element's key bytes
/// (`key_of`). A call returns every element whose hash lies in `[cursor, next)`, choosing
/// `next` so that about `count` elements come back (exactly `count` unless hashes collide), in
/// hash order, and returns `next = 0` once the space is exhausted. An element present for the
/// whole iteration is therefore returned exactly once, whatever is added or removed meanwhile,
/// which is SCAN's guarantee; elements added or removed during the iteration may or may not
/// appear.
///
/// `elements` is called once, or twice in the degenerate case of more than `count` elements
/// sharing one 64-bit hash.
///
/// Cost: every call hashes the whole collection: O(n log count) time for n elements and
/// O(count) extra memory, so a full iteration costs O(n²/count). Callers should answer small
/// collections in one call (cursor 0), as Redis does for its compact encodings.
#[allow(dead_code)] // For HSCAN / SSCAN / ZSCAN in the hash, set and sorted-set groups.
pub fn scan_by_hash<T, I>(
    elements: impl Fn() -> I,
    key_of: impl Fn(&T) -> &[u8],
    cursor: u64,
    count: usize,
) -> (u64, Vec<T>)
where
    I: Iterator<Item = T>,
{
    let keep = count.max(1).saturating_add(1);
    // Max-heap of the `keep` smallest hashes at or after the cursor.
    let mut heap: BinaryHeap<ByHash<T>> = BinaryHeap::with_capacity(keep.min(1024));
    for e in elements() {
        let h = scan_hash(key_of(&e));
        if h < cursor {
            continue;
        }
        if heap.len() < keep {
            heap.push(ByHash(h, e));
        } else if heap.peek().is_some_and(|top| h < top.0) {
            heap.pop();
            heap.push(ByHash(h, e));
        }
    }
    if heap.len() < keep {
        return (0, heap.into_sorted_vec().into_iter().map(|b| b.1).collect());
    }
    // `keep` = count + 1 elements were kept: everything hashing below the largest of them is
    // among them, and the largest hash becomes the next cursor.
    let boundary = heap.peek().map_or(0, |top| top.0);
    let below: Vec<T> = heap.into_sorted_vec().into_iter().filter(|b| b.0 < boundary).map(|b| b.1).collect();
    if !below.is_empty() {
        return (boundary, below);
    }
    // Every kept element hashes to `boundary`: return all elements with that hash (a second
    // pass, since the heap may have dropped some) and continue after it.
    let mut same = Vec::new();
    let mut next: Option<u64> = None;
    for e in elements() {
        let h = scan_hash(key_of(&e));
        if h == boundary {
            same.push(e);
        } else if h > boundary && next.is_none_or(|n| h < n) {
            next = Some(h);
        }
    }
    (next.unwrap_or(0), same)
}

/// Runs `f` on the table of `slot` in `db`: through the lock the command's lock set already
/// holds (inside a transaction), or by locking the slot just for `f`.
fn with_slot<'a, R>(
    locks: &mut LockSet<'a>,
    ks: &'a Keyspace,
    db: u32,
    slot: u16,
    f: impl FnOnce(&mut SlotTable) -> R,
) -> R {
    if let Some(t) = locks.held(db, slot) {
        return f(t);
    }
    let mut guard = ks.db(db as usize).lock_slot(slot);
    f(&mut guard)
}

/// Inserts an array header for `n` elements at byte `at` of the reply, for replies whose
/// length is known only after their elements were written.
fn insert_array_header(out: &mut ReplyBuf, at: usize, n: usize) {
    let mut header = ReplyBuf::new(out.is_resp3());
    header.array(n);
    out.buf.splice(at..at, header.buf);
}

// ---------------------------------------------------------------------------------------------
// KEYS / SCAN / RANDOMKEY
// ---------------------------------------------------------------------------------------------

/// The slots to visit for `pattern`.
fn slots_for(pattern: Option<&[u8]>) -> std::ops::Range<u16> {
    match pattern.and_then(pattern_slot) {
        Some(s) => s..s + 1,
        None => 0..SLOT_COUNT as u16,
    }
}

/// KEYS pattern
fn keys(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let pattern = args[1];
    let all = pattern == b"*";
    let (db, now) = (ctx.db, ctx.now_ms);
    if ctx.ks.db_if_used(db as usize).is_none() {
        // Never used: do not create 16384 empty tables just to walk them.
        return ctx.out.array(0);
    }
    let start = ctx.out.len();
    let mut n = 0usize;
    for slot in slots_for(if all { None } else { Some(pattern) }) {
        let out = &mut *ctx.out;
        if crate::reply_over_limit(out.len()) {
            // The client will be closed with none of this sent.
            break;
        }
        with_slot(ctx.locks, ctx.ks, db, slot, |t| {
            if t.is_empty() {
                return;
            }
            for k in t.keys() {
                if (all || string_match(pattern, k, false)) && !t.is_expired(k, now) {
                    out.bulk(k);
                    n += 1;
                }
            }
        });
    }
    insert_array_header(ctx.out, start, n);
}

/// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]
///
/// The cursor is the next hash slot to visit (0 = start, and 0 again = done). Each call visits
/// whole slots until at least COUNT keys were looked at, so a key present for the whole
/// iteration is returned exactly once.
fn scan(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let Some(cursor) = scan_cursor_parse(args[1]) else {
        return ctx.out.error("ERR invalid cursor");
    };
    let o = match parse_scan_options(&args[2..], true) {
        Ok(o) => o,
        Err(e) => return ctx.out.error(e),
    };
    let (db, now) = (ctx.db, ctx.now_ms);
    if ctx.ks.db_if_used(db as usize).is_none() {
        ctx.out.array(2);
        ctx.out.bulk(b"0");
        return ctx.out.array(0);
    }
    let start = ctx.out.len();
    let mut n = 0usize;
    let mut visited = 0usize;
    let slots = slots_for(o.pattern);
    let mut next = cursor.max(slots.start as u64);
    loop {
        if next >= slots.end as u64 {
            next = 0;
            break;
        }
        let out = &mut *ctx.out;
        with_slot(ctx.locks, ctx.ks, db, next as u16, |t| {
            visited += t.len();
            for (k, v) in t.iter() {
                let wanted = o.pattern.is_none_or(|p| string_match(p, k, false))
                    && o.type_name.is_none_or(|ty| ty.eq_ignore_ascii_case(v.type_name().as_bytes()))
                    && !t.is_expired(k, now);
                if wanted {
                    out.bulk(k);
                    n += 1;
                }
            }
        });
        next += 1;
        if visited >= o.count {
            if next >= slots.end as u64 {
                next = 0;
            }
            break;
        }
    }
    insert_array_header(ctx.out, start, n);
    let mut header = ReplyBuf::new(ctx.out.is_resp3());
    header.array(2);
    header.bulk(next.to_string().as_bytes());
    ctx.out.buf.splice(start..start, header.buf);
}

/// A uniformly chosen live key of `t`, if it has one.
fn random_live_key(t: &SlotTable, now: i64, rng: &mut impl rand::Rng) -> Option<keyspace::Sds> {
    let n = t.len();
    if n == 0 {
        return None;
    }
    let first = rng.random_range(0..n);
    t.keys().skip(first).chain(t.keys().take(first)).find(|k| !t.is_expired(k, now)).cloned()
}

/// RANDOMKEY
///
/// Picks a random slot, then a random key in it. With a sparse keyspace (most slots empty) it
/// falls back to one pass over the slot sizes and a pick weighted by them, so every key is
/// about equally likely either way. Expired keys are never returned.
fn randomkey(ctx: &mut Ctx<'_, '_>, _args: &[&[u8]]) {
    const SLOT_SAMPLES: usize = 32;
    const WEIGHTED_TRIES: usize = 16;
    let (db, now) = (ctx.db, ctx.now_ms);
    if ctx.ks.db_if_used(db as usize).is_none() {
        return ctx.out.null();
    }
    let mut rng = rand::rng();
    for _ in 0..SLOT_SAMPLES {
        let slot = rand::Rng::random_range(&mut rng, 0..SLOT_COUNT as u16);
        if let Some(k) = with_slot(ctx.locks, ctx.ks, db, slot, |t| random_live_key(t, now, &mut rng)) {
            return ctx.out.bulk(&k);
        }
    }
    let sizes: Vec<usize> =
        (0..SLOT_COUNT as u16).map(|slot| with_slot(ctx.locks, ctx.ks, db, slot, |t| t.len())).collect();
    let total: usize = sizes.iter().sum();
    if total == 0 {
        return ctx.out.null();
    }
    for _ in 0..WEIGHTED_TRIES {
        let mut pick = rand::Rng::random_range(&mut rng, 0..total);
        let slot = sizes.iter().position(|&s| {
            if pick < s {
                true
            } else {
                pick -= s;
                false
            }
        });
        let slot = slot.unwrap_or(0) as u16;
        if let Some(k) = with_slot(ctx.locks, ctx.ks, db, slot, |t| random_live_key(t, now, &mut rng)) {
            return ctx.out.bulk(&k);
        }
    }
    // Mostly expired keys: settle for the first live one.
    for slot in 0..SLOT_COUNT as u16 {
        if let Some(k) = with_slot(ctx.locks, ctx.ks, db, slot, |t| random_live_key(t, now, &mut rng)) {
            return ctx.out.bulk(&k);
        }
    }
    ctx.out.null();
}

// ---------------------------------------------------------------------------------------------
// DEL / EXISTS / TYPE / TOUCH
// ---------------------------------------------------------------------------------------------

/// DEL key [key ...]
fn del(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    delete_keys(ctx, args, ctx.config.lazyfree_lazy_user_del);
}

/// UNLINK key [key ...]: as DEL (values are freed in place), counting in `lazyfreed_objects`
/// the values Redis would have handed to its lazy-free thread.
fn unlink(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    delete_keys(ctx, args, true);
}

/// Values UNLINK freed that Redis would have freed in the background (INFO's
/// `lazyfreed_objects`; CONFIG RESETSTAT zeroes it).
pub static LAZYFREED_OBJECTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Redis frees a value in the background when freeing it takes more than this many
/// allocations (LAZYFREE_THRESHOLD).
const LAZYFREE_THRESHOLD: usize = 64;

/// Redis's lazyfreeGetFreeEffort: the allocations freeing `value` takes.
fn free_effort(value: &Value, config: &crate::DataConfig) -> usize {
    let encoding = crate::redis_encoding(value, config);
    match value {
        // One quicklist node per list-max-listpack-size elements (or about 8 kB, its default).
        Value::List(l) => {
            let per_node = if config.list_max_listpack_size > 0 { config.list_max_listpack_size as usize } else { 128 };
            l.len().div_ceil(per_node)
        }
        Value::Set(s) if encoding == "hashtable" => s.len(),
        Value::Hash(h) if encoding == "hashtable" => h.len(),
        Value::ZSet(z) if encoding == "skiplist" => z.scores.len(),
        Value::Stream(s) => {
            let limits = keyspace::stream::NodeLimits {
                max_entries: config.stream_node_max_entries.max(0) as u64,
                max_bytes: config.stream_node_max_bytes.max(0) as u64,
            };
            let groups = s.groups.values().next().map_or(0, |first| s.groups.len() * (1 + first.pel.len()));
            crate::stream::radix_tree_nodes(s.node_count(limits)) + groups
        }
        _ => 1,
    }
}

fn delete_keys(ctx: &mut Ctx<'_, '_>, args: &[&[u8]], lazy: bool) {
    let now = ctx.now_ms;
    let mut deleted = 0u64;
    for (position, key) in args.iter().enumerate().skip(1) {
        if let Some(value) = ctx.locks.table(ctx.ks, ctx.db, key).remove(key, now) {
            if lazy && free_effort(&value, ctx.config) > LAZYFREE_THRESHOLD {
                LAZYFREED_OBJECTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            deleted += 1;
            ctx.notify(NOTIFY_GENERIC, "del", key);
        } else if position < 64 {
            // Nothing deleted: a WATCH on it must not fire (Redis signals only deleted keys).
            ctx.effects.unmodified_key_args |= 1 << position;
        }
    }
    ctx.effects.dirty += deleted;
    ctx.out.int(deleted as i64);
}

/// EXISTS key [key ...]: a key named twice counts twice. Not an access (Redis's
/// LOOKUP_NOTOUCH): the keys' access clocks stay as they were.
fn exists(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    count_live(ctx, args, false);
}

/// TOUCH key [key ...]: counts live keys and records an access to each.
fn touch(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    count_live(ctx, args, true);
}

fn count_live(ctx: &mut Ctx<'_, '_>, args: &[&[u8]], access: bool) {
    let now = ctx.now_ms;
    let mut n = 0i64;
    for key in &args[1..] {
        let t = ctx.locks.table(ctx.ks, ctx.db, key);
        let live = if access { t.contains(key, now) } else { t.peek(key, now).is_some() };
        if live {
            n += 1;
        }
    }
    ctx.out.int(n);
}

/// TYPE key (not an access, as Redis's LOOKUP_NOTOUCH)
fn type_(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let t = ctx.locks.table(ctx.ks, ctx.db, args[1]);
    let name = t.peek(args[1], ctx.now_ms).map_or("none", Value::type_name);
    ctx.out.simple(name);
}

// ---------------------------------------------------------------------------------------------
// Expiry
// ---------------------------------------------------------------------------------------------

/// EXPIRE key seconds [NX|XX|GT|LT]
fn expire(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let now = ctx.now_ms;
    expire_generic(ctx, args, now, true, "expire");
}

/// EXPIREAT key unix-time-seconds [NX|XX|GT|LT]
fn expireat(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    expire_generic(ctx, args, 0, true, "expireat");
}

/// PEXPIRE key milliseconds [NX|XX|GT|LT]
fn pexpire(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let now = ctx.now_ms;
    expire_generic(ctx, args, now, false, "pexpire");
}

/// PEXPIREAT key unix-time-milliseconds [NX|XX|GT|LT]
fn pexpireat(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    expire_generic(ctx, args, 0, false, "pexpireat");
}

/// NX / XX / GT / LT of the EXPIRE family.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct ExpireFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

/// Redis's `parseExtendedExpireArgumentsOrReply`; the error text on failure.
fn parse_expire_flags(opts: &[&[u8]]) -> Result<ExpireFlags, String> {
    let mut f = ExpireFlags::default();
    for opt in opts {
        if eq_ic(opt, "nx") {
            f.nx = true;
        } else if eq_ic(opt, "xx") {
            f.xx = true;
        } else if eq_ic(opt, "gt") {
            f.gt = true;
        } else if eq_ic(opt, "lt") {
            f.lt = true;
        } else {
            // Redis formats the option with %s, which stops at a NUL byte.
            let shown = opt.split(|&c| c == 0).next().unwrap_or_default();
            return Err(format!("ERR Unsupported option {}", String::from_utf8_lossy(shown)));
        }
    }
    if f.nx && (f.xx || f.gt || f.lt) {
        return Err("ERR NX and XX, GT or LT options at the same time are not compatible".into());
    }
    if f.gt && f.lt {
        return Err("ERR GT and LT options at the same time are not compatible".into());
    }
    Ok(f)
}

/// The absolute expiry time (Unix ms) an EXPIRE-family argument names, with Redis's overflow
/// checks: seconds must survive ×1000, and adding `base_ms` (now, for the relative forms) must
/// not exceed i64. Negative results are allowed: they delete the key.
fn expire_when_ms(arg: &[u8], base_ms: i64, seconds: bool, cmd: &str) -> Result<i64, String> {
    let mut when = parse_i64(arg).ok_or_else(|| errors::NOT_INTEGER.to_string())?;
    let invalid = || format!("ERR invalid expire time in '{cmd}' command");
    if seconds {
        if !(i64::MIN / 1000..=i64::MAX / 1000).contains(&when) {
            return Err(invalid());
        }
        when *= 1000;
    }
    if when > i64::MAX - base_ms {
        return Err(invalid());
    }
    Ok(when + base_ms)
}

/// Redis's `expireGenericCommand`.
fn expire_generic(ctx: &mut Ctx<'_, '_>, args: &[&[u8]], base_ms: i64, seconds: bool, cmd: &str) {
    let flags = match parse_expire_flags(&args[3..]) {
        Ok(f) => f,
        Err(e) => return ctx.out.error(&e),
    };
    let when = match expire_when_ms(args[2], base_ms, seconds, cmd) {
        Ok(w) => w,
        Err(e) => return ctx.out.error(&e),
    };
    let (key, now) = (args[1], ctx.now_ms);
    let t = ctx.locks.table(ctx.ks, ctx.db, key);
    if !t.contains(key, now) {
        return ctx.out.int(0);
    }
    let current = t.expire_at(key);
    let refused = (flags.nx && current.is_some())
        || (flags.xx && current.is_none())
        // No TTL counts as an infinite one: never smaller, always larger.
        || (flags.gt && current.is_none_or(|c| when <= c))
        || (flags.lt && current.is_some_and(|c| when >= c));
    if refused {
        return ctx.out.int(0);
    }
    // A time already past deletes the key, and says so with a `del` event (Redis 7.0).
    let event = if crate::ctx::already_expired(when, now) {
        t.remove(key, now);
        ctx.propagate_del(key, ctx.config.lazyfree_lazy_expire);
        "del"
    } else {
        t.set_expire(key, when);
        // Propagated as PEXPIREAT with the absolute time; the NX/XX/GT/LT options stay.
        if cmd != "pexpireat" {
            ctx.propagate_as(|| {
                let mut argv: Vec<Vec<u8>> = args.iter().map(|a| a.to_vec()).collect();
                argv[0] = b"PEXPIREAT".to_vec();
                argv[2] = when.to_string().into_bytes();
                argv
            });
        }
        "expire"
    };
    ctx.effects.dirty += 1;
    ctx.notify(NOTIFY_GENERIC, event, key);
    ctx.out.int(1);
}

/// TTL key
fn ttl(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    ttl_generic(ctx, args[1], false, false);
}

/// PTTL key
fn pttl(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    ttl_generic(ctx, args[1], true, false);
}

/// EXPIRETIME key
fn expiretime(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    ttl_generic(ctx, args[1], false, true);
}

/// PEXPIRETIME key
fn pexpiretime(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    ttl_generic(ctx, args[1], true, true);
}

/// Redis's `ttlGenericCommand`: -2 for no key, -1 for no TTL, else the remaining time (or the
/// absolute time), seconds rounded to nearest.
fn ttl_generic(ctx: &mut Ctx<'_, '_>, key: &[u8], in_ms: bool, absolute: bool) {
    let now = ctx.now_ms;
    let t = ctx.locks.table(ctx.ks, ctx.db, key);
    // Not an access (Redis's LOOKUP_NOTOUCH).
    if t.peek(key, now).is_none() {
        return ctx.out.int(-2);
    }
    let Some(at) = t.expire_at(key) else {
        return ctx.out.int(-1);
    };
    let ttl = if absolute { at } else { at.saturating_sub(now) }.max(0);
    // Rounded in i128: Redis's (ttl+500)/1000 gives the exact result even at i64::MAX.
    ctx.out.int(if in_ms { ttl } else { ((ttl as i128 + 500) / 1000) as i64 });
}

/// PERSIST key
fn persist(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let t = ctx.locks.table(ctx.ks, ctx.db, args[1]);
    if t.contains(args[1], ctx.now_ms) && t.persist(args[1]) {
        ctx.effects.dirty += 1;
        ctx.notify(NOTIFY_GENERIC, "persist", args[1]);
        ctx.out.int(1);
    } else {
        ctx.out.int(0);
    }
}

// ---------------------------------------------------------------------------------------------
// RENAME / COPY
// ---------------------------------------------------------------------------------------------

/// The second table of a pair, or the first when both keys share it.
fn second<'t>(a: &'t mut SlotTable, b: &'t mut Option<&mut SlotTable>) -> &'t mut SlotTable {
    match b {
        Some(t) => t,
        None => a,
    }
}

/// Values that can wake blocked clients when they appear under a key.
fn may_serve_blocked(v: &Value) -> bool {
    matches!(v, Value::List(_) | Value::ZSet(_) | Value::Stream(_))
}

/// RENAME key newkey
fn rename(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    rename_generic(ctx, args, false);
}

/// RENAMENX key newkey
fn renamenx(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    rename_generic(ctx, args, true);
}

fn rename_generic(ctx: &mut Ctx<'_, '_>, args: &[&[u8]], nx: bool) {
    let (src, dst, db, now) = (args[1], args[2], ctx.db, ctx.now_ms);
    let (ta, mut tb) = ctx.locks.two_tables(ctx.ks, (db, src), (db, dst));
    if !ta.contains(src, now) {
        return ctx.out.error(errors::NO_SUCH_KEY);
    }
    if src == dst {
        return if nx { ctx.out.int(0) } else { ctx.out.ok() };
    }
    let expire_at = ta.expire_at(src);
    if nx && second(ta, &mut tb).contains(dst, now) {
        return ctx.out.int(0);
    }
    let Some(value) = ta.remove(src, now) else {
        return ctx.out.error(errors::NO_SUCH_KEY);
    };
    let wake = may_serve_blocked(&value);
    let td = second(ta, &mut tb);
    td.set(dst, value);
    if let Some(at) = expire_at {
        td.set_expire(dst, at);
    }
    ctx.effects.dirty += 1;
    ctx.notify(NOTIFY_GENERIC, "rename_from", src);
    ctx.notify(NOTIFY_GENERIC, "rename_to", dst);
    if wake {
        ctx.signal_ready(dst);
    }
    if nx {
        ctx.out.int(1);
    } else {
        ctx.out.ok();
    }
}

/// COPY source destination [DB destination-db] [REPLACE]
fn copy(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (src, dst, now) = (args[1], args[2], ctx.now_ms);
    let src_db = ctx.db;
    let mut dst_db = ctx.db;
    let mut replace = false;
    let mut j = 3;
    while j < args.len() {
        if eq_ic(args[j], "replace") {
            replace = true;
        } else if eq_ic(args[j], "db") && j + 1 < args.len() {
            let Some(n) = parse_i64(args[j + 1]) else {
                return ctx.out.error(errors::NOT_INTEGER);
            };
            if n < i32::MIN as i64 || n > i32::MAX as i64 {
                return ctx.out.error("ERR value is out of range, value must between -2147483648 and 2147483647");
            }
            if n < 0 || n as usize >= ctx.ks.db_count() {
                return ctx.out.error(errors::DB_INDEX_OUT_OF_RANGE);
            }
            dst_db = n as u32;
            j += 1;
        } else {
            return ctx.out.error(errors::SYNTAX);
        }
        j += 1;
    }
    if ctx.config.cluster_enabled && (src_db != 0 || dst_db != 0) {
        return ctx.out.error("ERR Copying to another database is not allowed in cluster mode");
    }
    if src_db == dst_db && src == dst {
        return ctx.out.error("ERR source and destination objects are the same");
    }
    let (ta, mut tb) = ctx.locks.two_tables(ctx.ks, (src_db, src), (dst_db, dst));
    let Some(value) = ta.get(src, now).cloned() else {
        return ctx.out.int(0);
    };
    let expire_at = ta.expire_at(src);
    let td = second(ta, &mut tb);
    if td.contains(dst, now) && !replace {
        return ctx.out.int(0);
    }
    let wake = may_serve_blocked(&value);
    td.set(dst, value);
    if let Some(at) = expire_at {
        td.set_expire(dst, at);
    }
    ctx.effects.dirty += 1;
    ctx.notify_in(dst_db, NOTIFY_GENERIC, "copy_to", dst);
    if wake {
        ctx.effects.ready_keys.push((dst_db, keyspace::Sds::new(dst)));
    }
    ctx.out.int(1);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctx::{DataConfig, Effects};

    const NOW: i64 = 1_700_000_000_000;

    fn m(p: &str, s: &str) -> bool {
        string_match(p.as_bytes(), s.as_bytes(), false)
    }

    #[test]
    fn glob_basics() {
        // Redis's matcher never matches an empty string against `*` (the loop needs both
        // sides non-empty); KEYS and SCAN special-case the pattern `*` before calling it.
        assert!(!m("*", ""));
        assert!(!m("**", ""));
        assert!(m("*", "abc"));
        assert!(m("", ""));
        assert!(!m("", "a"));
        assert!(!m("?", ""));
        assert!(m("a*", "abc"));
        assert!(m("*c", "abc"));
        assert!(!m("*d", "abc"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(m("h*llo", "heeeello"));
        assert!(m("**a**", "xxaxx"));
        assert!(m("a**", "a"));
        assert!(m("a*b*", "ab"));
    }

    #[test]
    fn glob_classes() {
        assert!(m("h[ae]llo", "hello"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(m("h[b-a]llo", "hallo"), "reversed ranges are swapped");
        assert!(!m("h[a-b]llo", "hcllo"));
        assert!(m("[\\]]", "]"));
        assert!(m("[a-]", "]"), "a range ending at ']' as Redis reads it");
        assert!(!m("[a-]", "-"));
        // Unterminated classes run to the end of the pattern.
        assert!(m("[abc", "b"));
        assert!(!m("[", "a"));
        assert!(m("[^", "a"));
        assert!(!m("a[", "a"));
        assert!(!m("a[", "a["), "an empty unterminated class matches nothing");
        // Bytes >= 0x80 compare as negative C chars in ranges.
        assert!(string_match(b"[\x80-\xff]", b"\x90", false));
        assert!(!string_match(b"[\x00-\x7f]", b"\x90", false));
        assert!(string_match(b"[\x7f-\x80]", b"a", false), "signed range -128..127 covers 'a'");
    }

    #[test]
    fn glob_escapes_and_nocase() {
        assert!(m("\\*", "*"));
        assert!(!m("\\*", "a"));
        assert!(m("a\\", "a\\"), "a trailing backslash is literal");
        assert!(m("\\?x", "?x"));
        assert!(string_match(b"HeLLo", b"hello", true));
        assert!(string_match(b"h[A-Z]llo", b"hello", true));
        assert!(string_match(b"h[E]llo", b"hello", true));
        assert!(!string_match(b"h[\\E]llo", b"hello", true), "escaped class chars compare exactly");
        assert!(!string_match(b"HeLLo", b"hello", false));
    }

    #[test]
    fn glob_nesting_limit_and_pathological_patterns() {
        let s = "a".repeat(1100);
        assert!(m(&"*a".repeat(1000), &s));
        assert!(!m(&"*a".repeat(1001), &s));
        // Exponential without the skip-longer-matches rule; must finish instantly.
        assert!(!m("a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", &"a".repeat(60)));
        assert!(!m(&"*?".repeat(50_000), &"a".repeat(50_000)));
    }

    #[test]
    fn pattern_slot_pins_only_when_safe() {
        assert_eq!(pattern_slot(b"foo"), Some(key_hash_slot(b"foo")));
        assert_eq!(pattern_slot(b"{user1}:*"), Some(key_hash_slot(b"user1")));
        assert_eq!(pattern_slot(b"x{user1}y*"), Some(key_hash_slot(b"user1")));
        assert_eq!(pattern_slot(b"{}*"), None);
        assert_eq!(pattern_slot(b"{us*er}"), None);
        assert_eq!(pattern_slot(b"*{a}"), None);
        assert_eq!(pattern_slot(b"{a\\}}*"), None);
    }

    #[test]
    fn cursor_parsing_like_strtoul() {
        assert_eq!(scan_cursor_parse(b"0"), Some(0));
        assert_eq!(scan_cursor_parse(b""), Some(0));
        assert_eq!(scan_cursor_parse(b"+5"), Some(5));
        assert_eq!(scan_cursor_parse(b"007"), Some(7));
        assert_eq!(scan_cursor_parse(b"-1"), Some(u64::MAX));
        assert_eq!(scan_cursor_parse(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(scan_cursor_parse(b"18446744073709551616"), None);
        assert_eq!(scan_cursor_parse(b"-18446744073709551615"), Some(1));
        assert_eq!(scan_cursor_parse(b"5\0abc"), Some(5));
        for bad in [&b" 5"[..], b"5 ", b"-", b"+", b"x", b"1x", b"\t1"] {
            assert_eq!(scan_cursor_parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn scan_options_errors() {
        let p = |s: &[&str], t| {
            let v: Vec<&[u8]> = s.iter().map(|x| x.as_bytes()).collect();
            parse_scan_options(&v, t).map(|o| (o.count, o.pattern.map(|p| p.to_vec()), o.type_name.is_some()))
        };
        assert_eq!(p(&[], true), Ok((10, None, false)));
        assert_eq!(p(&["count", "0"], true), Err(errors::SYNTAX));
        assert_eq!(p(&["count", "x"], true), Err(errors::NOT_INTEGER));
        assert_eq!(p(&["COUNT", "3", "match", "*"], true), Ok((3, None, false)));
        assert_eq!(p(&["match", "a*"], true), Ok((10, Some(b"a*".to_vec()), false)));
        assert_eq!(p(&["match"], true), Err(errors::SYNTAX));
        assert_eq!(p(&["type", "string"], true), Ok((10, None, true)));
        assert_eq!(p(&["type", "string"], false), Err(errors::SYNTAX));
    }

    #[test]
    fn hash_scan_returns_each_element_once() {
        let elems: Vec<String> = (0..1000).map(|i| format!("member:{i}")).collect();
        for count in [1usize, 7, 10, 999, 1000, 5000] {
            let mut cursor = 0u64;
            let mut seen = Vec::new();
            let mut calls = 0;
            loop {
                let (next, batch) = scan_by_hash(|| elems.iter(), |e: &&String| e.as_bytes(), cursor, count);
                assert!(batch.len() <= count, "count {count}: batch of {}", batch.len());
                seen.extend(batch.into_iter().cloned());
                calls += 1;
                assert!(calls <= 1001);
                if next == 0 {
                    break;
                }
                assert!(next > cursor, "cursor must advance");
                cursor = next;
            }
            seen.sort();
            let mut want = elems.clone();
            want.sort();
            assert_eq!(seen, want, "count {count}");
            if count < 1000 {
                assert_eq!(calls, 1000_usize.div_ceil(count), "count {count}");
            }
        }
    }

    #[test]
    fn hash_scan_survives_colliding_hashes() {
        // Twenty copies of one element share a hash: more than COUNT of them at the boundary.
        let mut elems: Vec<&[u8]> = vec![b"same"; 20];
        elems.extend([&b"a"[..], b"b", b"c"]);
        let mut cursor = 0;
        let mut total = 0;
        for _ in 0..100 {
            let (next, batch) = scan_by_hash(|| elems.iter().copied(), |e: &&[u8]| e, cursor, 3);
            total += batch.len();
            if next == 0 {
                break;
            }
            cursor = next;
        }
        assert_eq!(total, 23);
    }

    struct Harness {
        ks: Keyspace,
        config: DataConfig,
        db: u32,
    }

    impl Harness {
        fn new() -> Self {
            Harness { ks: Keyspace::new(16), config: DataConfig::default(), db: 0 }
        }

        fn run(&mut self, cmd: &[&str]) -> String {
            let args: Vec<&[u8]> = cmd.iter().map(|s| s.as_bytes()).collect();
            let registry = Registry::with_data_commands();
            let entry = match registry.lookup(&args) {
                Ok(e) => e,
                Err(crate::LookupError::Reply(e)) => return format!("-{e}\r\n"),
            };
            let Kind::Data(handler) = entry.kind else { panic!("not a data command") };
            let mut locks = LockSet::new();
            let mut out = ReplyBuf::new(false);
            let mut effects = Effects::default();
            let mut ctx = Ctx {
                ks: &self.ks,
                locks: &mut locks,
                db: self.db,
                now_ms: NOW,
                out: &mut out,
                effects: &mut effects,
                config: &self.config,
                may_block: true,
            };
            handler(&mut ctx, &args);
            String::from_utf8_lossy(&out.buf).into_owned()
        }

        /// Runs a full SCAN iteration, returning the keys and the number of calls.
        fn scan_all(&mut self, extra: &[&str]) -> (Vec<String>, usize) {
            let mut cursor = "0".to_string();
            let mut keys = Vec::new();
            for calls in 1..=20_000 {
                let mut cmd = vec!["scan", cursor.as_str()];
                cmd.extend_from_slice(extra);
                let reply = self.run(&cmd);
                let lines: Vec<&str> = reply.split("\r\n").collect();
                assert_eq!(lines[0], "*2");
                let next = lines[2].to_string();
                let n: usize = lines[3][1..].parse().unwrap();
                for i in 0..n {
                    keys.push(lines[5 + 2 * i].to_string());
                }
                if next == "0" {
                    keys.sort();
                    return (keys, calls);
                }
                cursor = next;
            }
            panic!("scan did not finish");
        }
    }

    #[test]
    fn scan_visits_whole_slots_and_finishes() {
        let mut h = Harness::new();
        for i in 0..500 {
            h.run(&["set", &format!("key:{i}"), "v"]);
        }
        {
            let mut locks = LockSet::new();
            let list = Value::List(Box::new([keyspace::Sds::new(b"x")].into_iter().collect()));
            locks.table(&h.ks, 0, b"alist").set(b"alist", list);
        }
        let (keys, calls) = h.scan_all(&[]);
        assert_eq!(keys.len(), 501);
        assert_eq!(keys.iter().filter(|k| k.starts_with("key:")).count(), 500);
        assert!(calls >= 50, "COUNT 10 over 500 keys takes many calls, got {calls}");
        let (big, calls) = h.scan_all(&["count", "100000"]);
        assert_eq!(calls, 1);
        assert_eq!(big, keys);
        let (matched, _) = h.scan_all(&["match", "key:1*"]);
        assert_eq!(matched.len(), 111);
        let (typed, _) = h.scan_all(&["type", "STRING"]);
        assert_eq!(typed.len(), 500);
        // A cursor past the last slot means the iteration is over.
        assert_eq!(h.run(&["scan", "16384"]), "*2\r\n$1\r\n0\r\n*0\r\n");
        assert_eq!(h.run(&["scan", "x"]), "-ERR invalid cursor\r\n");
    }

    #[test]
    fn scan_cursor_resumes_at_next_slot() {
        let mut h = Harness::new();
        // Keys in slots 0, 1 and 16383? Use hash tags whose slots we know.
        let keys = ["{a}1", "{b}1", "{c}1", "{a}2"];
        for k in keys {
            h.run(&["set", k, "v"]);
        }
        let mut slots: Vec<u16> = keys.iter().map(|k| key_hash_slot(k.as_bytes())).collect();
        slots.sort();
        slots.dedup();
        // COUNT 1: each call returns exactly one slot's keys and resumes after it.
        let first = h.run(&["scan", "0", "count", "1"]);
        let expected_next = (slots[0] + 1).to_string();
        assert!(first.starts_with(&format!("*2\r\n${}\r\n{}\r\n", expected_next.len(), expected_next)), "{first}");
        let (all, calls) = h.scan_all(&["count", "1"]);
        assert_eq!(all.len(), 4);
        assert_eq!(calls, slots.len() + usize::from(*slots.last().unwrap() != 16383));
        // A slot-pinned pattern visits only that slot and finishes at once.
        assert_eq!(h.scan_all(&["match", "{a}*"]), (vec!["{a}1".to_string(), "{a}2".to_string()], 1));
        assert_eq!(h.scan_all(&["match", "{a}*", "count", "1"]).1, 1);
    }

    #[test]
    fn keys_and_expired_keys() {
        let mut h = Harness::new();
        h.run(&["mset", "one", "1", "two", "2", "three", "3"]);
        h.run(&["pexpireat", "three", "1"]);
        let all = h.run(&["keys", "*"]);
        assert!(all.starts_with("*2\r\n"), "{all}");
        assert!(all.contains("one") && all.contains("two") && !all.contains("three"));
        assert_eq!(h.run(&["keys", "t?o"]), "*1\r\n$3\r\ntwo\r\n");
        assert_eq!(h.run(&["keys", "one"]), "*1\r\n$3\r\none\r\n");
        assert_eq!(h.run(&["keys", "nope"]), "*0\r\n");
    }

    #[test]
    fn expire_flags_and_past_times() {
        let mut h = Harness::new();
        h.run(&["set", "k", "v"]);
        assert_eq!(h.run(&["expire", "k", "100", "xx"]), ":0\r\n");
        assert_eq!(h.run(&["expire", "k", "100", "gt"]), ":0\r\n", "no TTL is infinite");
        assert_eq!(h.run(&["expire", "k", "100", "lt"]), ":1\r\n");
        assert_eq!(h.run(&["pttl", "k"]), ":100000\r\n");
        assert_eq!(h.run(&["expire", "k", "50", "nx"]), ":0\r\n");
        assert_eq!(h.run(&["expire", "k", "200", "lt"]), ":0\r\n");
        assert_eq!(h.run(&["expire", "k", "200", "gt"]), ":1\r\n");
        assert_eq!(h.run(&["ttl", "k"]), ":200\r\n");
        assert_eq!(h.run(&["pexpire", "k", "1499"]), ":1\r\n");
        assert_eq!(h.run(&["ttl", "k"]), ":1\r\n", "rounded to nearest");
        assert_eq!(h.run(&["pexpire", "k", "1500"]), ":1\r\n");
        assert_eq!(h.run(&["ttl", "k"]), ":2\r\n");
        assert_eq!(h.run(&["expiretime", "k"]), format!(":{}\r\n", (NOW + 1500 + 500) / 1000));
        assert_eq!(h.run(&["pexpiretime", "k"]), format!(":{}\r\n", NOW + 1500));
        assert_eq!(h.run(&["persist", "k"]), ":1\r\n");
        assert_eq!(h.run(&["persist", "k"]), ":0\r\n");
        assert_eq!(h.run(&["ttl", "k"]), ":-1\r\n");
        assert_eq!(h.run(&["expire", "k", "-1"]), ":1\r\n", "a past time deletes");
        assert_eq!(h.run(&["ttl", "k"]), ":-2\r\n");
        assert_eq!(h.run(&["expire", "k", "10"]), ":0\r\n");
        h.run(&["set", "k", "v"]);
        assert_eq!(
            h.run(&["expire", "k", "10", "nx", "gt"]),
            "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n"
        );
        assert_eq!(h.run(&["pexpireat", "k", "9223372036854775807"]), ":1\r\n");
        assert_eq!(h.run(&["expiretime", "k"]), ":9223372036854776\r\n");
        assert_eq!(h.run(&["expire", "k", "9223372036854775"]), "-ERR invalid expire time in 'expire' command\r\n");
    }

    #[test]
    fn rename_and_copy() {
        let mut h = Harness::new();
        h.run(&["set", "a", "1"]);
        h.run(&["pexpire", "a", "5000"]);
        assert_eq!(h.run(&["rename", "a", "b"]), "+OK\r\n");
        assert_eq!(h.run(&["exists", "a", "b", "b"]), ":2\r\n");
        assert_eq!(h.run(&["pttl", "b"]), ":5000\r\n");
        h.run(&["set", "c", "3"]);
        assert_eq!(h.run(&["renamenx", "b", "c"]), ":0\r\n");
        assert_eq!(h.run(&["rename", "b", "c"]), "+OK\r\n");
        assert_eq!(h.run(&["get", "c"]), "$1\r\n1\r\n");
        assert_eq!(h.run(&["rename", "b", "c"]), "-ERR no such key\r\n");
        assert_eq!(h.run(&["renamenx", "c", "c"]), ":0\r\n");
        assert_eq!(h.run(&["copy", "c", "d"]), ":1\r\n");
        assert_eq!(h.run(&["pttl", "d"]), ":5000\r\n");
        assert_eq!(h.run(&["copy", "c", "d"]), ":0\r\n");
        assert_eq!(h.run(&["copy", "c", "d", "replace"]), ":1\r\n");
        assert_eq!(h.run(&["copy", "c", "c", "db", "0"]), "-ERR source and destination objects are the same\r\n");
        assert_eq!(h.run(&["copy", "c", "c", "db", "3"]), ":1\r\n");
        h.db = 3;
        assert_eq!(h.run(&["get", "c"]), "$1\r\n1\r\n");
        assert_eq!(h.run(&["pttl", "c"]), ":5000\r\n");
        h.db = 0;
        h.config.cluster_enabled = true;
        assert_eq!(
            h.run(&["copy", "c", "e", "db", "1"]),
            "-ERR Copying to another database is not allowed in cluster mode\r\n"
        );
    }

    #[test]
    fn del_type_randomkey() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["randomkey"]), "$-1\r\n");
        h.run(&["set", "k", "v"]);
        assert_eq!(h.run(&["randomkey"]), "$1\r\nk\r\n");
        assert_eq!(h.run(&["type", "k"]), "+string\r\n");
        assert_eq!(h.run(&["type", "nokey"]), "+none\r\n");
        assert_eq!(h.run(&["del", "k", "k", "x"]), ":1\r\n");
        h.run(&["set", "gone", "v", "pxat", "1"]);
        assert_eq!(h.run(&["randomkey"]), "$-1\r\n", "expired keys are never returned");
        for i in 0..50 {
            h.run(&["set", &format!("r{i}"), "v"]);
        }
        let mut seen = std::collections::HashSet::new();
        for _ in 0..400 {
            seen.insert(h.run(&["randomkey"]));
        }
        assert!(seen.len() > 25, "random keys should vary, saw {}", seen.len());
        assert_eq!(h.run(&["unlink", "r1", "r2", "zz"]), ":2\r\n");
        assert_eq!(h.run(&["touch", "r3", "r1"]), ":1\r\n");
    }

    #[test]
    fn walks_of_an_unused_database_do_not_create_it() {
        let mut h = Harness::new();
        h.db = 5;
        assert_eq!(h.run(&["keys", "*"]), "*0\r\n");
        assert_eq!(h.run(&["scan", "0"]), "*2\r\n$1\r\n0\r\n*0\r\n");
        assert_eq!(h.run(&["randomkey"]), "$-1\r\n");
        assert!(h.ks.db_if_used(5).is_none());
    }

    #[test]
    fn whole_keyspace_commands_reuse_held_locks() {
        // Inside a transaction the lock set may already hold a slot KEYS must visit.
        let ks = Keyspace::new(16);
        let config = DataConfig::default();
        let mut locks = LockSet::new();
        locks.table(&ks, 0, b"held").set(b"held", Value::string(b"v"));
        let mut out = ReplyBuf::new(false);
        let mut effects = Effects::default();
        let mut ctx = Ctx {
            ks: &ks,
            locks: &mut locks,
            db: 0,
            now_ms: NOW,
            out: &mut out,
            effects: &mut effects,
            config: &config,
            may_block: true,
        };
        keys(&mut ctx, &[b"keys", b"*"]);
        scan(&mut ctx, &[b"scan", b"0", b"count", b"100000"]);
        randomkey(&mut ctx, &[b"randomkey"]);
        assert_eq!(out.buf, b"*1\r\n$4\r\nheld\r\n*2\r\n$1\r\n0\r\n*1\r\n$4\r\nheld\r\n$4\r\nheld\r\n".to_vec());
    }
}
