//! Introspection and database-moving commands: OBJECT (ENCODING, REFCOUNT, IDLETIME, FREQ,
//! HELP), MEMORY USAGE and MEMORY HELP, MOVE and SWAPDB.
//!
//! This module owns the exact replies and errors of those commands (object.c and db.c of Redis
//! 7.0.15 are the specification) and the two models behind OBJECT ENCODING and MEMORY USAGE.
//! It must never hold a slot lock while locking a lower (db, slot) except where a comment says
//! why it is safe, and must never panic on client input. MEMORY STATS / DOCTOR / MALLOC-STATS /
//! PURGE belong to the server and are not registered here.
//!
//! # OBJECT ENCODING is computed, not stored
//! We do not keep Redis's encodings (listpack, intset...); values have one representation per
//! type. OBJECT ENCODING reports the encoding Redis 7.0 would use for the same contents under
//! the thresholds in [`DataConfig`]. Known deviation: Redis never converts a value back to the
//! compact encoding once it outgrew it (a hash that had 513 fields and went back to 10 stays
//! `hashtable`), while ours reports `listpack` again, because the answer is derived from the
//! current contents only. Likewise a short string built by APPEND/SETRANGE is `raw` in Redis but
//! `embstr` (or `int`) here.
//!
//! # MEMORY USAGE estimates our memory, not Redis's
//! The figure is what this server spends on the key: its slot-table bucket, the key's and the
//! value's heap blocks rounded to jemalloc's size classes, collection tables from their real
//! capacity, and elements' own heap blocks. As in Redis, element costs are averaged over the
//! first `SAMPLES` elements (default 5, 0 = all) and multiplied by the element count. Redis's
//! numbers for the same data differ (different structures); both are estimates.

use crate::args::{eq_ic, parse_i64};
use crate::ctx::{Ctx, DataConfig};
use crate::errors;
use crate::registry::{Kind, Registry};
use keyspace::stream::{Consumer, ConsumerGroup, PendingEntry, Stream, StreamFields, StreamId};
use keyspace::value::{HashFields, SetMembers};
use keyspace::{key_hash_slot, LockSet, Sds, SlotTable, StrValue, Value, ZSetValue, SLOT_COUNT};
use std::ops::DerefMut;

pub fn register(r: &mut Registry) {
    r.add("object|encoding", Kind::Data(object_encoding));
    r.add("object|refcount", Kind::Data(object_refcount));
    r.add("object|idletime", Kind::Data(object_idletime));
    r.add("object|freq", Kind::Data(object_freq));
    r.add("object|help", Kind::Data(object_help));
    r.add("memory|usage", Kind::Data(memory_usage));
    r.add("memory|help", Kind::Data(memory_help));
    r.add("move", Kind::Data(move_));
    r.add("swapdb", Kind::Data(swapdb));
}

// ---------------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------------

/// Redis's `getIntFromObjectOrReply` with no custom message: the argument as a C `int`, or the
/// error text Redis replies.
fn parse_int_arg(arg: &[u8]) -> Result<i32, String> {
    let Some(n) = parse_i64(arg) else {
        return Err(errors::NOT_INTEGER.to_string());
    };
    i32::try_from(n).map_err(|_| "ERR value is out of range, value must between -2147483648 and 2147483647".into())
}

/// Replies a HELP text the way Redis's `addReplyHelp` does: a header naming the command, the
/// given lines, and the HELP entry every container command has, all as status replies.
fn reply_help(ctx: &mut Ctx<'_, '_>, command: &str, lines: &[&str]) {
    ctx.out.array(lines.len() + 3);
    ctx.out.simple(&format!("{command} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"));
    for line in lines {
        ctx.out.simple(line);
    }
    ctx.out.simple("HELP");
    ctx.out.simple("    Prints this help.");
}

/// Values that can wake clients blocked on their key (BLPOP & co., BZPOPMIN & co.).
fn may_serve_blocked(v: &Value) -> bool {
    matches!(v, Value::List(_) | Value::ZSet(_) | Value::Stream(_))
}

// ---------------------------------------------------------------------------------------------
// OBJECT
// ---------------------------------------------------------------------------------------------

/// Strings up to this many bytes are `embstr` in Redis (OBJ_ENCODING_EMBSTR_SIZE_LIMIT).
const EMBSTR_MAX_BYTES: usize = 44;
/// Integers below this are shared objects in Redis (OBJ_SHARED_INTEGERS).
const SHARED_INTEGERS: i64 = 10_000;
/// The refcount Redis reports for shared objects (OBJ_SHARED_REFCOUNT = INT_MAX).
const SHARED_REFCOUNT: i64 = i32::MAX as i64;

/// True if `len` is within a `*-max-listpack-*` / `set-max-intset-entries` limit. The limits
/// are unsigned in Redis; a negative one (never accepted by CONFIG SET) admits nothing.
#[inline]
fn within(len: usize, limit: i64) -> bool {
    limit >= 0 && len as u64 <= limit as u64
}

/// The encoding Redis 7.0 would report for `value` under the thresholds in `config`.
pub fn redis_encoding(value: &Value, config: &DataConfig) -> &'static str {
    match value {
        Value::Str(StrValue::Int(_)) => "int",
        Value::Str(StrValue::Raw(s)) => {
            if s.len() <= EMBSTR_MAX_BYTES {
                "embstr"
            } else {
                "raw"
            }
        }
        // 7.0 stores every list as a quicklist (listpack lists came in 7.2).
        Value::List(_) => "quicklist",
        Value::Hash(h) => {
            let limit = config.hash_max_listpack_value;
            let small = within(h.len(), config.hash_max_listpack_entries)
                && h.iter().all(|(f, v)| within(f.len(), limit) && within(v.len(), limit));
            if small {
                "listpack"
            } else {
                "hashtable"
            }
        }
        Value::Set(s) => {
            // The count test first: it is O(1) and bounds the member scan by the threshold.
            let small = within(s.len(), config.set_max_intset_entries) && s.iter().all(|m| parse_i64(m).is_some());
            if small {
                "intset"
            } else {
                "hashtable"
            }
        }
        Value::ZSet(z) => {
            let small = within(z.scores.len(), config.zset_max_listpack_entries)
                && z.scores.keys().all(|m| within(m.len(), config.zset_max_listpack_value));
            if small {
                "listpack"
            } else {
                "skiplist"
            }
        }
        Value::Stream(_) => "stream",
    }
}

/// Redis's OBJECT REFCOUNT for `value`: small non-negative integers are shared objects unless
/// a maxmemory LRU/LFU policy forbids sharing (`shared_integers` false: each key then needs its
/// own access clock); everything else has exactly one reference.
fn redis_refcount(value: &Value, shared_integers: bool) -> i64 {
    match value {
        Value::Str(StrValue::Int(n)) if shared_integers && (0..SHARED_INTEGERS).contains(n) => SHARED_REFCOUNT,
        _ => 1,
    }
}

/// OBJECT ENCODING key
fn object_encoding(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (key, now) = (args[2], ctx.now_ms);
    let config = ctx.config;
    // Computed under the lock without cloning the value: this may walk up to a threshold's
    // worth of elements, never a whole large collection (the count is tested first).
    let encoding = ctx.table(key).peek(key, now).map(|v| redis_encoding(v, config));
    match encoding {
        Some(e) => ctx.out.bulk(e.as_bytes()),
        None => ctx.out.null(),
    }
}

/// OBJECT REFCOUNT key
fn object_refcount(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (key, now) = (args[2], ctx.now_ms);
    let shared = ctx.config.shared_integers;
    let refcount = ctx.table(key).peek(key, now).map(|v| redis_refcount(v, shared));
    match refcount {
        Some(n) => ctx.out.int(n),
        None => ctx.out.null(),
    }
}

/// OBJECT IDLETIME key: seconds since the key was last accessed (its LRU clock; looking at it is
/// not an access). Under an LFU policy the clock holds a counter instead, so Redis refuses.
fn object_idletime(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (key, now) = (args[2], ctx.now_ms);
    let Some(clock) = ctx.table(key).clock(key, now) else {
        return ctx.out.null();
    };
    if keyspace::access::lfu_mode() {
        return ctx.out.error(
            "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching \
             between policies at runtime LRU and LFU data will take some time to adjust.",
        );
    }
    // Measured against the time clocks are stamped with (not the command's own `now_ms`), so a
    // key read in this very second is 0 seconds idle whatever the two clocks' phase.
    ctx.out.int((keyspace::access::idle_ms(clock, keyspace::access::now_ms()) / 1000) as i64);
}

/// OBJECT FREQ key: the key's logarithmic access counter, tracked only under an LFU policy.
fn object_freq(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (key, now) = (args[2], ctx.now_ms);
    let Some(clock) = ctx.table(key).clock(key, now) else {
        return ctx.out.null();
    };
    if !keyspace::access::lfu_mode() {
        return ctx.out.error(
            "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when \
             switching between policies at runtime LRU and LFU data will take some time to adjust.",
        );
    }
    // Decayed as of now, as Redis's LFUDecrAndReturn does before replying.
    ctx.out.int(keyspace::access::decayed_counter(clock, keyspace::access::now_ms()) as i64);
}

const OBJECT_HELP: &[&str] = &[
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
];

/// OBJECT HELP
fn object_help(ctx: &mut Ctx<'_, '_>, _args: &[&[u8]]) {
    reply_help(ctx, "OBJECT", OBJECT_HELP);
}

// ---------------------------------------------------------------------------------------------
// MEMORY USAGE / MEMORY HELP
// ---------------------------------------------------------------------------------------------

/// Elements sampled by MEMORY USAGE when SAMPLES is not given (Redis's default).
const DEFAULT_SAMPLES: usize = 5;

/// The block jemalloc hands out for a request of `n` bytes: 8, then 16-byte steps up to 128,
/// then four size classes per doubling.
pub(crate) fn alloc_size(n: usize) -> usize {
    if n == 0 {
        0
    } else if n <= 8 {
        8
    } else if n <= 128 {
        (n + 15) & !15
    } else {
        let log2_below = (usize::BITS - 1 - (n - 1).leading_zeros()) as usize;
        let step = 1usize << (log2_below - 2);
        n.div_ceil(step).saturating_mul(step)
    }
}

/// Heap bytes of one `Sds` (inline ones cost nothing beyond their slot).
#[inline]
fn sds_heap(s: &Sds) -> usize {
    alloc_size(s.heap_bytes())
}

/// Bytes of a boxed collection header of type `T`.
#[inline]
fn box_of<T>() -> usize {
    alloc_size(std::mem::size_of::<T>())
}

/// Bytes hashbrown allocates for a table of `capacity` usable slots holding `T`: one `T` per
/// bucket, one control byte per bucket plus one 16-byte group, in a single block. The bucket
/// count is recovered from hashbrown's capacity rule (buckets - 1 below 8 buckets, 7/8 of them
/// from 8 on).
fn hashbrown_bytes<T>(capacity: usize) -> usize {
    if capacity == 0 {
        return 0;
    }
    let buckets =
        if capacity < 7 { (capacity + 1).next_power_of_two() } else { (capacity * 8 / 7).next_power_of_two() };
    alloc_size(buckets * std::mem::size_of::<T>() + buckets + 16)
}

/// Average heap bytes per element over the first `samples` of `elements`, times `count`
/// (Redis's sampling rule: the whole collection is assumed to look like its first elements).
fn sampled<'v>(elements: impl Iterator<Item = usize> + 'v, samples: usize, count: usize) -> usize {
    let (mut total, mut seen) = (0usize, 0usize);
    for cost in elements.take(samples) {
        total = total.saturating_add(cost);
        seen += 1;
    }
    if seen == 0 {
        return 0;
    }
    // As Redis: (double)elesize/samples*len, truncated.
    (total as f64 / seen as f64 * count as f64) as usize
}

/// One slot-table bucket: key and value side by side plus 2 bytes of probe metadata, at the
/// table's average load of ~0.8 (see keyspace's compact_map).
fn table_entry_bytes() -> usize {
    (std::mem::size_of::<Option<(Sds, Value)>>() + 2) * 5 / 4
}

/// One entry of a slot's expiry map (hashbrown, key + i64 + control byte), at its average
/// load of ~2/3.
fn expire_entry_bytes() -> usize {
    (std::mem::size_of::<(Sds, i64)>() + 1) * 3 / 2
}

/// Bytes per element of a `BTreeSet<(Score, Sds)>`: the element itself in a node of up to 11,
/// nodes being about 70 % full on average.
fn btree_element_bytes() -> usize {
    std::mem::size_of::<(keyspace::Score, Sds)>() * 10 / 7
}

/// Our estimate of the bytes `value` occupies, besides its slot-table bucket.
pub(crate) fn value_bytes(value: &Value, samples: usize) -> usize {
    match value {
        Value::Str(StrValue::Int(_)) => 0,
        Value::Str(StrValue::Raw(s)) => sds_heap(s),
        Value::List(l) => {
            let table = alloc_size(l.capacity() * std::mem::size_of::<Sds>());
            box_of::<std::collections::VecDeque<Sds>>() + table + sampled(l.iter().map(sds_heap), samples, l.len())
        }
        Value::Hash(h) => {
            box_of::<HashFields>()
                + hashbrown_bytes::<(Sds, Sds)>(h.capacity())
                + sampled(h.iter().map(|(f, v)| sds_heap(f) + sds_heap(v)), samples, h.len())
        }
        Value::Set(s) => {
            box_of::<SetMembers>()
                + hashbrown_bytes::<Sds>(s.capacity())
                + sampled(s.iter().map(sds_heap), samples, s.len())
        }
        Value::ZSet(z) => {
            // Each member is held twice (the score map and the ordered set own a copy each).
            box_of::<ZSetValue>()
                + hashbrown_bytes::<(Sds, f64)>(z.scores.capacity())
                + z.ordered.len() * btree_element_bytes()
                + sampled(z.scores.keys().map(|m| 2 * sds_heap(m)), samples, z.scores.len())
        }
        Value::Stream(stream) => stream_bytes(stream, samples),
    }
}

/// Bytes of `len` elements of type `T` in a B-tree map or set (nodes of up to 11 elements,
/// about 70 % full on average).
fn btree_bytes<T>(len: usize) -> usize {
    len * std::mem::size_of::<T>() * 10 / 7
}

/// A stream: its entry map with each entry's field/value array, then its groups with their
/// pending entries and consumers (entries and pending entries sampled, as Redis samples).
fn stream_bytes(stream: &Stream, samples: usize) -> usize {
    let entry = |fields: &StreamFields| {
        alloc_size(std::mem::size_of_val::<[Sds]>(fields)) + fields.iter().map(sds_heap).sum::<usize>()
    };
    let entries = btree_bytes::<(StreamId, StreamFields)>(stream.entries.len())
        + sampled(stream.entries.values().map(entry), samples, stream.entries.len());
    let groups: usize = stream
        .groups
        .iter()
        .map(|(name, group)| {
            let consumers: usize = group
                .consumers
                .iter()
                .map(|(name, consumer)| sds_heap(name) + btree_bytes::<StreamId>(consumer.pending.len()))
                .sum();
            sds_heap(name)
                + btree_bytes::<(StreamId, PendingEntry)>(group.pel.len())
                + sampled(group.pel.values().map(|p| sds_heap(&p.consumer)), samples, group.pel.len())
                + btree_bytes::<(Sds, Consumer)>(group.consumers.len())
                + consumers
        })
        .sum();
    box_of::<Stream>() + entries + btree_bytes::<(Sds, ConsumerGroup)>(stream.groups.len()) + groups
}

/// Our estimate of the bytes `key` and its value occupy in a slot table.
pub(crate) fn key_usage_bytes(key: &[u8], value: &Value, has_expire: bool, samples: usize) -> usize {
    let key_heap = alloc_size(Sds::new(key).heap_bytes());
    let expire = if has_expire { expire_entry_bytes() + key_heap } else { 0 };
    table_entry_bytes() + key_heap + expire + value_bytes(value, samples)
}

/// MEMORY USAGE key [SAMPLES count]
fn memory_usage(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let mut samples = DEFAULT_SAMPLES;
    let mut j = 3;
    while j < args.len() {
        if eq_ic(args[j], "samples") && j + 1 < args.len() {
            match parse_i64(args[j + 1]) {
                None => return ctx.out.error(errors::NOT_INTEGER),
                Some(n) if n < 0 => return ctx.out.error(errors::SYNTAX),
                Some(0) => samples = usize::MAX,
                Some(n) => samples = usize::try_from(n).unwrap_or(usize::MAX),
            }
            j += 2;
        } else {
            return ctx.out.error(errors::SYNTAX);
        }
    }
    let (key, now) = (args[2], ctx.now_ms);
    let table = ctx.table(key);
    // Deviation: Redis looks the key up without expiring it, so a key past its TTL that was
    // not reclaimed yet still reports a size there; here it is gone (lazily expired).
    if !table.contains(key, now) {
        return ctx.out.null();
    }
    let has_expire = table.expire_at(key).is_some();
    let usage = table.get(key, now).map(|v| key_usage_bytes(key, v, has_expire, samples));
    match usage {
        Some(bytes) => ctx.out.int(i64::try_from(bytes).unwrap_or(i64::MAX)),
        None => ctx.out.null(),
    }
}

const MEMORY_HELP: &[&str] = &[
    "DOCTOR",
    "    Return memory problems reports.",
    "MALLOC-STATS",
    "    Return internal statistics report from the memory allocator.",
    "PURGE",
    "    Attempt to purge dirty pages for reclamation by the allocator.",
    "STATS",
    "    Return information about the memory usage of the server.",
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value. Nested values are",
    "    sampled up to <count> times (default: 5, 0 means sample all).",
];

/// MEMORY HELP
fn memory_help(ctx: &mut Ctx<'_, '_>, _args: &[&[u8]]) {
    reply_help(ctx, "MEMORY", MEMORY_HELP);
}

// ---------------------------------------------------------------------------------------------
// MOVE
// ---------------------------------------------------------------------------------------------

/// MOVE key db
fn move_(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    if ctx.config.cluster_enabled {
        return ctx.out.error("ERR MOVE is not allowed in cluster mode");
    }
    let dst_db = match parse_int_arg(args[2]) {
        Ok(n) => n,
        Err(e) => return ctx.out.error(&e),
    };
    if dst_db < 0 || dst_db as usize >= ctx.ks.db_count() {
        return ctx.out.error(errors::DB_INDEX_OUT_OF_RANGE);
    }
    let (key, src_db, dst_db, now) = (args[1], ctx.db, dst_db as u32, ctx.now_ms);
    if src_db == dst_db {
        return ctx.out.error("ERR source and destination objects are the same");
    }
    lock_in_order(ctx, key, dst_db);
    let (src, dst) = ctx.locks.two_tables(ctx.ks, (src_db, key), (dst_db, key));
    // Different databases never share a table.
    let Some(dst) = dst else {
        return ctx.out.int(0);
    };
    if !src.contains(key, now) {
        return ctx.out.int(0);
    }
    let expire_at = src.expire_at(key);
    if dst.contains(key, now) {
        return ctx.out.int(0);
    }
    let Some(value) = src.remove(key, now) else {
        return ctx.out.int(0);
    };
    let wake = may_serve_blocked(&value);
    dst.set(key, value);
    if let Some(at) = expire_at {
        dst.set_expire(key, at);
    }
    ctx.dirty(1);
    if ctx.config.notify_keyspace_events & crate::notify::NOTIFY_NEW != 0 {
        // The key was created in the destination database.
        ctx.note_new_keys_in(dst_db);
    }
    ctx.notify_in(src_db, crate::notify::NOTIFY_GENERIC, "move_from", key);
    ctx.notify_in(dst_db, crate::notify::NOTIFY_GENERIC, "move_to", key);
    if wake {
        ctx.signal_ready_in(dst_db, key);
    }
    ctx.out.int(1);
}

/// Makes sure MOVE holds the destination's lock without having taken it out of order.
///
/// The dispatcher locked (client db, slot) for the key. When the destination database is
/// lower, locking (dst db, slot) now would break the ascending order and could deadlock with a
/// MOVE the other way. Outside a transaction (`may_block`) the only lock held is the
/// dispatcher's, and nothing was read under it yet, so we release it and take both in order.
/// Inside MULTI/EXEC we must keep the transaction's locks; there the destination is locked
/// through `two_tables`, accepting the same risk as every out-of-order lock (see LockSet).
fn lock_in_order(ctx: &mut Ctx<'_, '_>, key: &[u8], dst_db: u32) {
    let slot = key_hash_slot(key);
    if dst_db < ctx.db && ctx.may_block && ctx.locks.held(dst_db, slot).is_none() {
        ctx.locks.clear();
        ctx.locks.lock(ctx.ks, &mut [(dst_db, slot), (ctx.db, slot)]);
    }
}

// ---------------------------------------------------------------------------------------------
// SWAPDB
// ---------------------------------------------------------------------------------------------

/// SWAPDB index1 index2
///
/// Swaps the contents (keys and expiry times) of two databases; clients stay in the database
/// they selected and so see the other data set. Every slot of both databases is locked, in
/// ascending (db, slot) order, before any table moves, so no client ever sees a half-swapped
/// pair of databases (Redis's swap is atomic too). Keys that may now serve blocked clients are
/// signalled after the locks are released.
fn swapdb(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    if ctx.config.cluster_enabled {
        return ctx.out.error("ERR SWAPDB is not allowed in cluster mode");
    }
    let Ok(first) = parse_int_arg(args[1]) else {
        return ctx.out.error("ERR invalid first DB index");
    };
    let Ok(second) = parse_int_arg(args[2]) else {
        return ctx.out.error("ERR invalid second DB index");
    };
    let count = ctx.ks.db_count();
    if first < 0 || second < 0 || first as usize >= count || second as usize >= count {
        return ctx.out.error(errors::DB_INDEX_OUT_OF_RANGE);
    }
    let (lo, hi) = if first <= second { (first as u32, second as u32) } else { (second as u32, first as u32) };
    if lo != hi && (ctx.ks.db_if_used(lo as usize).is_some() || ctx.ks.db_if_used(hi as usize).is_some()) {
        swap_databases(ctx.locks, ctx.ks, lo, hi);
        signal_blocking_candidates(ctx, lo);
        signal_blocking_candidates(ctx, hi);
    }
    ctx.dirty(1);
    ctx.out.ok();
}

/// The table of (db, slot): through our own guard, or through the caller's lock set when it
/// already held that slot (inside a transaction).
fn table_of<'t, G: DerefMut<Target = SlotTable>>(
    own: &'t mut Option<G>,
    locks: &'t mut LockSet<'_>,
    db: u32,
    slot: u16,
) -> Option<&'t mut SlotTable> {
    match own {
        Some(guard) => Some(&mut **guard),
        None => locks.held(db, slot),
    }
}

/// Swaps every slot table of databases `lo` < `hi`, holding all their locks at once.
fn swap_databases<'a>(locks: &mut LockSet<'a>, ks: &'a keyspace::Keyspace, lo: u32, hi: u32) {
    let slots = SLOT_COUNT as u16;
    // The guards' type is parking_lot's, which this crate does not name; inference carries it.
    let mut own = Vec::with_capacity(2 * SLOT_COUNT);
    for db in [lo, hi] {
        let tables = ks.db(db as usize);
        for slot in 0..slots {
            // A slot the caller holds (a transaction's key) must not be locked again: the
            // mutex is not reentrant.
            let guard = if locks.held(db, slot).is_some() { None } else { Some(tables.lock_slot(slot)) };
            own.push(guard);
        }
    }
    let (own_lo, own_hi) = own.split_at_mut(SLOT_COUNT);
    for slot in 0..slots {
        let i = slot as usize;
        if let (Some(a), Some(b)) = (own_lo[i].as_mut(), own_hi[i].as_mut()) {
            std::mem::swap(&mut **a, &mut **b);
            continue;
        }
        // At least one side is held by the caller's lock set: move the contents one table at a
        // time, since both cannot be borrowed from the lock set at once.
        let a = table_of(&mut own_lo[i], locks, lo, slot).map(SlotTable::take);
        let b = table_of(&mut own_hi[i], locks, hi, slot).map(SlotTable::take);
        if let (Some(a), Some(b)) = (a, b) {
            if let Some(t) = table_of(&mut own_lo[i], locks, lo, slot) {
                *t = b;
            }
            if let Some(t) = table_of(&mut own_hi[i], locks, hi, slot) {
                *t = a;
            }
        }
    }
}

/// Signals every live list and sorted-set key of `db` as possibly able to serve blocked
/// clients (Redis rescans the keys clients are blocked on; we cannot see those here, so we
/// offer every candidate and the server's waiter registry ignores keys nobody waits for).
/// Locks one slot at a time, as keyspace walks do.
fn signal_blocking_candidates(ctx: &mut Ctx<'_, '_>, db: u32) {
    let Some(tables) = ctx.ks.db_if_used(db as usize) else {
        return;
    };
    let mut ready: Vec<Sds> = Vec::new();
    for slot in 0..SLOT_COUNT as u16 {
        let mut collect = |t: &mut SlotTable| {
            if t.is_empty() {
                return;
            }
            // Expired keys too, as Redis's scanDatabaseForReadyKeys finds keys without looking
            // at their TTL: serving the waiter then finds the key expired, deletes it and
            // propagates the DEL, and the client stays blocked.
            for (k, v) in t.iter() {
                if may_serve_blocked(v) {
                    ready.push(k.clone());
                }
            }
        };
        match ctx.locks.held(db, slot) {
            Some(t) => collect(t),
            None => collect(&mut tables.lock_slot(slot)),
        }
    }
    for key in ready {
        ctx.signal_ready_in(db, &key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_costs_its_entries_and_groups() {
        let mut stream = Stream::new();
        let empty = value_bytes(&Value::Stream(Box::new(stream.clone())), 5);
        for i in 0..100 {
            let fields = [Sds::new(b"field"), Sds::new(&[b'v'; 100])];
            stream.entries.insert(StreamId::new(i, 0), fields.into());
        }
        let with_entries = value_bytes(&Value::Stream(Box::new(stream.clone())), 5);
        // Each entry: its map slot, its two-`Sds` array and a 100-byte value on the heap.
        assert!(with_entries >= empty + 100 * (48 + 112), "{with_entries}");
        let mut group = ConsumerGroup::new(StreamId::MIN, 0);
        let mut consumer = Consumer::default();
        for i in 0..50 {
            let pending = PendingEntry { consumer: Sds::new(b"alice"), delivery_time_ms: 0, delivery_count: 1 };
            group.pel.insert(StreamId::new(i, 0), pending);
            consumer.pending.insert(StreamId::new(i, 0));
        }
        group.consumers.insert(Sds::new(b"alice"), consumer);
        stream.groups.insert(Sds::new(b"g"), group);
        assert!(value_bytes(&Value::Stream(Box::new(stream)), 5) > with_entries + 50 * 56);
    }

    #[test]
    fn jemalloc_size_classes() {
        let cases = [(0, 0), (1, 8), (8, 8), (9, 16), (24, 32), (128, 128), (129, 160), (160, 160)];
        for (n, want) in cases {
            assert_eq!(alloc_size(n), want, "{n}");
        }
        for (n, want) in [(161, 192), (256, 256), (257, 320), (513, 640), (4097, 5120)] {
            assert_eq!(alloc_size(n), want, "{n}");
        }
    }

    #[test]
    fn hashbrown_capacity_rule() {
        // capacity 3 → 4 buckets, 7 → 8 buckets, 14 → 16 buckets, 28 → 32 buckets.
        assert_eq!(hashbrown_bytes::<Sds>(0), 0);
        assert_eq!(hashbrown_bytes::<Sds>(3), alloc_size(4 * 24 + 4 + 16));
        assert_eq!(hashbrown_bytes::<Sds>(7), alloc_size(8 * 24 + 8 + 16));
        assert_eq!(hashbrown_bytes::<Sds>(14), alloc_size(16 * 24 + 16 + 16));
        assert_eq!(hashbrown_bytes::<Sds>(28), alloc_size(32 * 24 + 32 + 16));
        let mut s: SetMembers = SetMembers::default();
        for i in 0..100 {
            s.insert(Sds::new(format!("{i}").as_bytes()));
            let cap = s.capacity();
            let buckets = if cap < 7 { (cap + 1).next_power_of_two() } else { (cap * 8 / 7).next_power_of_two() };
            // The recovered bucket count must give back the capacity hashbrown reports.
            let back = if buckets < 8 { buckets - 1 } else { buckets / 8 * 7 };
            assert_eq!(back, cap);
        }
    }

    #[test]
    fn sampling_extrapolates_from_the_first_elements() {
        assert_eq!(sampled([10, 20, 30].into_iter(), 2, 100), 1500);
        assert_eq!(sampled([10, 20, 30].into_iter(), usize::MAX, 3), 60);
        assert_eq!(sampled(std::iter::empty(), 5, 0), 0);
    }
}
