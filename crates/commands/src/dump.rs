//! DUMP and RESTORE: a key's value as Redis's serialized payload (RDB object encoding, RDB
//! version, CRC64) and back, so values move between redoxide and redis-server.
//!
//! The byte formats live in the `persist` crate; this module only applies Redis's command
//! semantics (the order of its checks, BUSYKEY, TTLs, REPLACE/ABSTTL/IDLETIME/FREQ). It never
//! touches sockets, clocks or files.

use crate::args::{eq_ic, parse_i64};
use crate::ctx::{Ctx, DataConfig};
use crate::errors;
use crate::notify::NOTIFY_GENERIC;
use crate::registry::{Kind, Registry};
use std::sync::atomic::{AtomicBool, Ordering};

/// DEBUG SET-SKIP-CHECKSUM-VALIDATION: RESTORE skips the payload's CRC (Redis's
/// `server.skip_checksum_validation`, a test knob; process-wide as in Redis).
pub static SKIP_CHECKSUM_VALIDATION: AtomicBool = AtomicBool::new(false);

pub fn register(r: &mut Registry) {
    r.add("dump", Kind::Data(dump));
    r.add("restore", Kind::Data(restore));
    // What MIGRATE sends in cluster mode; as a command it is RESTORE (its `asking` flag is the
    // cluster's business).
    r.add("restore-asking", Kind::Data(restore));
}

/// The settings that decide payload encodings, from the server's configuration (also what
/// MIGRATE dumps with).
pub fn encode_limits(c: &DataConfig) -> persist::EncodeLimits {
    persist::EncodeLimits {
        compress: c.rdb_compression,
        compress_backoff: false,
        list_max_listpack_size: c.list_max_listpack_size,
        hash_max_listpack_entries: c.hash_max_listpack_entries,
        hash_max_listpack_value: c.hash_max_listpack_value,
        set_max_intset_entries: c.set_max_intset_entries,
        zset_max_listpack_entries: c.zset_max_listpack_entries,
        zset_max_listpack_value: c.zset_max_listpack_value,
        stream_node: persist::StreamNodeLimits::from_config(c.stream_node_max_bytes, c.stream_node_max_entries),
    }
}

/// DUMP key
fn dump(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let limits = encode_limits(ctx.config);
    let now = ctx.now_ms;
    let t = ctx.locks.table(ctx.ks, ctx.db, args[1]);
    match t.get(args[1], now) {
        Some(value) => {
            let payload = persist::dump_payload(value, &limits);
            ctx.out.bulk(&payload);
        }
        None => ctx.out.null(),
    }
}

/// RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency], checking
/// in Redis's order: options, an existing key, the TTL, the payload's footer, its contents.
fn restore(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (mut replace, mut absttl) = (false, false);
    let (mut idle_given, mut freq_given) = (false, false);
    // The access clock the key gets (Redis's objectSetLRUOrLFU): an idle time only counts under
    // LRU, a frequency only under LFU.
    let mut clock: Option<u32> = None;
    let mut j = 4;
    while j < args.len() {
        let more = args.len() - j - 1;
        let a = args[j];
        if eq_ic(a, "replace") {
            replace = true;
        } else if eq_ic(a, "absttl") {
            absttl = true;
        } else if eq_ic(a, "idletime") && more >= 1 && !freq_given {
            match parse_i64(args[j + 1]) {
                None => return ctx.out.error(errors::NOT_INTEGER),
                Some(v) if v < 0 => return ctx.out.error("ERR Invalid IDLETIME value, must be >= 0"),
                Some(v) => clock = Some(keyspace::access::with_idle(v, ctx.now_ms)),
            }
            idle_given = true;
            j += 1;
        } else if eq_ic(a, "freq") && more >= 1 && !idle_given {
            match parse_i64(args[j + 1]) {
                None => return ctx.out.error(errors::NOT_INTEGER),
                Some(v) if !(0..=255).contains(&v) => {
                    return ctx.out.error("ERR Invalid FREQ value, must be >= 0 and <= 255")
                }
                Some(v) => clock = Some(keyspace::access::with_freq(v as u8, ctx.now_ms)),
            }
            freq_given = true;
            j += 1;
        } else {
            return ctx.out.error(errors::SYNTAX);
        }
        j += 1;
    }
    let (key, now) = (args[1], ctx.now_ms);
    let check_crc = ctx.config.rdb_checksum;
    let t = ctx.locks.table(ctx.ks, ctx.db, key);
    if !replace && t.contains(key, now) {
        return ctx.out.error("BUSYKEY Target key name already exists.");
    }
    let mut ttl = match parse_i64(args[2]) {
        None => return ctx.out.error(errors::NOT_INTEGER),
        Some(v) if v < 0 => return ctx.out.error("ERR Invalid TTL value, must be >= 0"),
        Some(v) => v,
    };
    let check_crc = check_crc && !SKIP_CHECKSUM_VALIDATION.load(Ordering::Relaxed);
    if persist::verify_dump_payload(args[3], check_crc).is_none() {
        return ctx.out.error("ERR DUMP payload version or checksum are wrong");
    }
    let value = match persist::restore_payload(args[3]) {
        Ok(value) => value,
        Err(e) => {
            // Redis logs why at verbose level (rdbReportError in a RESTORE context) and replies in general terms.
            let reason = persist::corruption_reason(args[3][0], &e);
            crate::ctx::log_verbose(&format!(
                "Internal error in RDB reading offset 0, function at rdb.c:0 -> {reason}"
            ));
            return ctx.out.error("ERR Bad data format");
        }
    };
    let deleted = replace && t.remove(key, now).is_some();
    if ttl > 0 && !absttl {
        ttl = ttl.saturating_add(now);
    }
    // A TTL already in the past: the key is not created (an old one replaced is still gone).
    if ttl > 0 && crate::ctx::already_expired(ttl, now) {
        if deleted {
            ctx.dirty(1);
            ctx.propagate_del(key, false);
            ctx.notify(NOTIFY_GENERIC, "del", key);
        }
        return ctx.out.ok();
    }
    t.set(key, value);
    if let Some(clock) = clock {
        t.set_clock(key, clock);
    }
    if ttl > 0 {
        t.set_expire(key, ttl);
        // Propagated with the absolute time (Redis appends ABSTTL to the arguments).
        if !absttl {
            ctx.propagate_as(|| {
                let mut argv: Vec<Vec<u8>> = args.iter().map(|a| a.to_vec()).collect();
                argv[2] = ttl.to_string().into_bytes();
                argv.push(b"ABSTTL".to_vec());
                argv
            });
        }
    }
    ctx.out.ok();
    ctx.dirty(1);
    ctx.notify(NOTIFY_GENERIC, "restore", key);
}
