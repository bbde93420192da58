//! The `stream` command group: XADD, XRANGE, XREVRANGE, XLEN, XDEL, XTRIM, XSETID, XREAD,
//! XREADGROUP, XGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM and XINFO, with Redis 7.0.15's
//! replies, errors, keyspace events and propagated forms.
//!
//! This module parses arguments, formats replies and decides what to propagate; the stream's
//! data and its invariants (IDs, trimming by node, a pending entry listed in its group and in its
//! consumer) belong to `keyspace::stream`. It never waits and never reads a clock: a blocking
//! read that finds nothing asks the server to park the client (`ctx.effects.block`) and is run
//! again when a key it waits on is signalled, with `$` already resolved to the ID it stood for.
//! Rejected alternative: Redis's per-client blocking state (the IDs each key waits after, the
//! group and consumer) kept by the server, which would give the worker stream-specific logic
//! that a rewritten argument vector makes unnecessary.
//!
//! Commands that change consumer groups propagate what Redis propagates instead of themselves
//! (XREADGROUP and XAUTOCLAIM become XCLAIMs and XGROUP SETID, an XADD with `*` carries its
//! concrete ID, `~` trimming becomes the exact trim it performed), so replicas and the AOF
//! converge on the same data whatever time or node layout they run with.

use crate::args::{eq_ic, parse_i64};
use crate::ctx::{self, BlockRequest, Ctx};
use crate::errors;
use crate::notify::NOTIFY_STREAM;
use crate::registry::{Kind, Registry};
use keyspace::stream::{
    Consumer, ConsumerGroup, NodeLimits, PendingEntry, Stream, StreamFields, StreamId, Trim, TrimStrategy,
    ENTRIES_READ_UNKNOWN,
};
use keyspace::{Sds, SlotTable, Value};
use resp::ReplyBuf;

pub fn register(r: &mut Registry) {
    r.add("xadd", Kind::Data(xadd));
    r.add("xrange", Kind::Data(xrange));
    r.add("xrevrange", Kind::Data(xrevrange));
    r.add("xlen", Kind::Data(xlen));
    r.add("xdel", Kind::Data(xdel));
    r.add("xtrim", Kind::Data(xtrim));
    r.add("xsetid", Kind::Data(xsetid));
    r.add("xread", Kind::Data(xread));
    r.add("xreadgroup", Kind::Data(xreadgroup));
    r.add("xack", Kind::Data(xack));
    r.add("xpending", Kind::Data(xpending));
    r.add("xclaim", Kind::Data(xclaim));
    r.add("xautoclaim", Kind::Data(xautoclaim));
    for sub in ["create", "setid", "destroy", "createconsumer", "delconsumer", "help"] {
        r.add(&format!("xgroup|{sub}"), Kind::Data(xgroup));
    }
    for sub in ["stream", "groups", "consumers", "help"] {
        r.add(&format!("xinfo|{sub}"), Kind::Data(xinfo));
    }
}

const INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";
const INVALID_START: &str = "ERR invalid start ID for the interval";
const INVALID_END: &str = "ERR invalid end ID for the interval";
/// Entries a blocked XREAD without COUNT gets at most when it is served (Redis's
/// XREAD_BLOCKED_DEFAULT_COUNT).
const BLOCKED_DEFAULT_COUNT: &[u8] = b"1000";
/// Redis's STREAM_LISTPACK_MAX_SIZE: an entry's fields and values together may not exceed it.
const ENTRY_MAX_BYTES: usize = 1 << 30;

// ---------------------------------------------------------------------------------------------
// IDs and lookups
// ---------------------------------------------------------------------------------------------

/// Redis's `string2ull`: a canonical non-negative integer, or what `strtoull` accepts in full
/// (leading blanks, a `+`, leading zeros) as long as it fits 64 bits.
fn parse_u64(arg: &[u8]) -> Option<u64> {
    if let Some(v) = parse_i64(arg) {
        return u64::try_from(v).ok();
    }
    let start = arg.iter().position(|&c| !crate::list::is_c_space(c))?;
    let mut digits = &arg[start..];
    if let Some(rest) = digits.strip_prefix(b"+") {
        digits = rest;
    }
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for &d in digits {
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(v)
}

/// A parsed ID argument: the ID, and false for the `<ms>-*` form (sequence to be generated).
struct ParsedId {
    id: StreamId,
    seq_given: bool,
}

/// Redis's streamGenericParseIDOrReply: `-`/`+` (unless `strict`), `<ms>` (sequence
/// `missing_seq`), `<ms>-<seq>`, and with `allow_auto_seq` `<ms>-*`.
fn parse_id_full(arg: &[u8], missing_seq: u64, strict: bool, allow_auto_seq: bool) -> Option<ParsedId> {
    if arg.len() > 127 {
        return None;
    }
    match arg {
        b"-" | b"+" if strict => None,
        b"-" => Some(ParsedId { id: StreamId::MIN, seq_given: true }),
        b"+" => Some(ParsedId { id: StreamId::MAX, seq_given: true }),
        _ => {
            // C stops at the first NUL; an argument with one is cut there.
            let arg = arg.split(|&c| c == 0).next().unwrap_or(arg);
            match arg.iter().position(|&c| c == b'-') {
                None => Some(ParsedId { id: StreamId::new(parse_u64(arg)?, missing_seq), seq_given: true }),
                Some(dash) => {
                    let ms = parse_u64(&arg[..dash])?;
                    let seq_part = &arg[dash + 1..];
                    if allow_auto_seq && seq_part == b"*" {
                        Some(ParsedId { id: StreamId::new(ms, 0), seq_given: false })
                    } else {
                        Some(ParsedId { id: StreamId::new(ms, parse_u64(seq_part)?), seq_given: true })
                    }
                }
            }
        }
    }
}

/// A strict ID (no `-`/`+`), missing sequence 0, or Redis's error.
fn strict_id(out: &mut ReplyBuf, arg: &[u8]) -> Option<StreamId> {
    let id = parse_id_full(arg, 0, true, false).map(|p| p.id);
    if id.is_none() {
        out.error(INVALID_ID);
    }
    id
}

/// The start of an interval: `(id` excludes it (the next ID is the real start).
fn interval_start(out: &mut ReplyBuf, arg: &[u8]) -> Option<StreamId> {
    interval_bound(out, arg, 0, StreamId::next, INVALID_START)
}

/// The end of an interval: `(id` excludes it (the previous ID is the real end).
fn interval_end(out: &mut ReplyBuf, arg: &[u8]) -> Option<StreamId> {
    interval_bound(out, arg, u64::MAX, StreamId::prev, INVALID_END)
}

/// One end of an interval: an exclusive `(id` moves one step inward, and an ID with no step
/// left is `beyond_error`.
fn interval_bound(
    out: &mut ReplyBuf,
    arg: &[u8],
    missing_seq: u64,
    inward: fn(StreamId) -> Option<StreamId>,
    beyond_error: &str,
) -> Option<StreamId> {
    let (exclusive, id) = interval_id(arg, missing_seq);
    let Some(id) = id else {
        out.error(INVALID_ID);
        return None;
    };
    if !exclusive {
        return Some(id);
    }
    let bound = inward(id);
    if bound.is_none() {
        out.error(beyond_error);
    }
    bound
}

/// Redis's streamParseIntervalIDOrReply: whether the ID is exclusive, and the ID.
fn interval_id(arg: &[u8], missing_seq: u64) -> (bool, Option<StreamId>) {
    if arg.len() > 1 && arg[0] == b'(' {
        (true, parse_id_full(&arg[1..], missing_seq, true, false).map(|p| p.id))
    } else {
        (false, parse_id_full(arg, missing_seq, false, false).map(|p| p.id))
    }
}

fn id_arg(id: StreamId) -> Vec<u8> {
    id.to_string().into_bytes()
}

/// Marker for "the key holds a value of another type".
struct WrongType;

fn stream_mut<'t>(t: &'t mut SlotTable, key: &[u8], now_ms: i64) -> Result<Option<&'t mut Stream>, WrongType> {
    match t.get_mut(key, now_ms) {
        None => Ok(None),
        Some(Value::Stream(s)) => Ok(Some(s)),
        Some(_) => Err(WrongType),
    }
}

fn stream_ref<'t>(t: &'t mut SlotTable, key: &[u8], now_ms: i64) -> Result<Option<&'t Stream>, WrongType> {
    match t.get(key, now_ms) {
        None => Ok(None),
        Some(Value::Stream(s)) => Ok(Some(s)),
        Some(_) => Err(WrongType),
    }
}

fn node_limits(ctx: &Ctx<'_, '_>) -> NodeLimits {
    NodeLimits {
        max_entries: ctx.config.stream_node_max_entries.max(0) as u64,
        max_bytes: ctx.config.stream_node_max_bytes.max(0) as u64,
    }
}

fn now_u64(ctx: &Ctx<'_, '_>) -> u64 {
    ctx.now_ms.max(0) as u64
}

/// Redis's addReplySubcommandSyntaxError.
fn subcommand_syntax_error(out: &mut ReplyBuf, args: &[&[u8]]) {
    let cmd = String::from_utf8_lossy(args[0]).to_uppercase();
    let sub = String::from_utf8_lossy(args.get(1).copied().unwrap_or_default());
    let sub: String = sub.chars().take(128).collect();
    out.error(&format!("ERR unknown subcommand or wrong number of arguments for '{sub}'. Try {cmd} HELP."));
}

// ---------------------------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------------------------

fn reply_id(out: &mut ReplyBuf, id: StreamId) {
    out.bulk(id.to_string().as_bytes());
}

/// One entry: `[id, [field, value, ...]]`.
fn reply_entry(out: &mut ReplyBuf, id: StreamId, fields: &StreamFields) {
    out.array(2);
    reply_id(out, id);
    out.array(fields.len());
    for f in fields.iter() {
        out.bulk(f.as_bytes());
    }
}

/// Entries from `start` to `end` inclusive, forwards or backwards, at most `count` (0 = all).
fn reply_range(out: &mut ReplyBuf, s: &Stream, start: StreamId, end: StreamId, count: usize, rev: bool) {
    if start > end {
        out.array(0);
        return;
    }
    let range = s.entries.range(start..=end);
    let limit = if count == 0 { usize::MAX } else { count };
    let mut body = ReplyBuf::new(out.is_resp3());
    let mut n = 0usize;
    let mut emit = |(id, fields): (&StreamId, &StreamFields)| {
        reply_entry(&mut body, *id, fields);
        n += 1;
    };
    if rev {
        range.rev().take(limit).for_each(&mut emit);
    } else {
        range.take(limit).for_each(&mut emit);
    }
    out.array(n);
    out.raw(&body.buf);
}

// ---------------------------------------------------------------------------------------------
// XADD / XTRIM
// ---------------------------------------------------------------------------------------------

/// The options XADD and XTRIM share, parsed (Redis's streamParseAddOrTrimArgsOrReply).
struct AddTrimArgs {
    trim: Option<Trim>,
    /// Index of the MAXLEN/MINID value (the `~`/`=` is just before it when given).
    trim_arg_idx: usize,
    no_mkstream: bool,
    /// XADD: the explicit ID, if one was given (not `*`).
    id: Option<ParsedId>,
    /// XADD: index of the ID argument.
    id_idx: usize,
}

fn parse_add_trim(ctx: &mut Ctx<'_, '_>, args: &[&[u8]], xadd: bool) -> Option<AddTrimArgs> {
    let mut strategy: Option<TrimStrategy> = None;
    let mut approx = false;
    let mut limit: i64 = 0;
    let mut limit_given = false;
    let mut parsed = AddTrimArgs { trim: None, trim_arg_idx: 0, no_mkstream: false, id: None, id_idx: 0 };
    let mut i = 2;
    const CONFLICT: &str = "ERR syntax error, MAXLEN and MINID options at the same time are not compatible";
    while i < args.len() {
        let moreargs = args.len() - 1 - i;
        let opt = args[i];
        if xadd && opt == b"*" {
            break;
        } else if (eq_ic(opt, "maxlen") || eq_ic(opt, "minid")) && moreargs > 0 {
            if strategy.is_some() {
                ctx.error(CONFLICT);
                return None;
            }
            approx = false;
            let next = args[i + 1];
            if moreargs >= 2 && next == b"~" {
                approx = true;
                i += 1;
            } else if moreargs >= 2 && next == b"=" {
                i += 1;
            }
            let value = args[i + 1];
            if eq_ic(opt, "maxlen") {
                let Some(max) = parse_i64(value) else {
                    ctx.error(errors::NOT_INTEGER);
                    return None;
                };
                if max < 0 {
                    ctx.error("ERR The MAXLEN argument must be >= 0.");
                    return None;
                }
                strategy = Some(TrimStrategy::MaxLen(max as u64));
            } else {
                let min = strict_id(ctx.out, value)?;
                strategy = Some(TrimStrategy::MinId(min));
            }
            i += 1;
            parsed.trim_arg_idx = i;
        } else if eq_ic(opt, "limit") && moreargs > 0 {
            let Some(l) = parse_i64(args[i + 1]) else {
                ctx.error(errors::NOT_INTEGER);
                return None;
            };
            if l < 0 {
                ctx.error("ERR The LIMIT argument must be >= 0.");
                return None;
            }
            limit = l;
            limit_given = true;
            i += 1;
        } else if xadd && eq_ic(opt, "nomkstream") {
            parsed.no_mkstream = true;
        } else if xadd {
            let Some(id) = parse_id_full(opt, 0, true, true) else {
                ctx.error(INVALID_ID);
                return None;
            };
            parsed.id = Some(id);
            break;
        } else {
            ctx.error(errors::SYNTAX);
            return None;
        }
        i += 1;
    }
    parsed.id_idx = i;
    if limit != 0 && strategy.is_none() {
        ctx.error("ERR syntax error, LIMIT cannot be used without specifying a trimming strategy");
        return None;
    }
    if !xadd && strategy.is_none() {
        ctx.error("ERR syntax error, XTRIM must be called with a trimming strategy");
        return None;
    }
    if ctx::obey_client() {
        // Our master or the AOF sent it: the trim was rewritten exact, and is never limited.
        limit = 0;
    } else if limit_given {
        if !approx {
            ctx.error("ERR syntax error, LIMIT cannot be used without the special ~ option");
            return None;
        }
    } else if approx {
        // At most 100 nodes' worth of work per call, capped both ways as Redis does.
        limit = ctx.config.stream_node_max_entries.saturating_mul(100);
        if limit <= 0 {
            limit = 10_000;
        }
        limit = limit.min(1_000_000);
    } else {
        limit = 0;
    }
    parsed.trim = strategy.map(|strategy| Trim { strategy, approx, limit: limit as u64 });
    Some(parsed)
}

/// The exact trim argument an approximate trim is propagated with: the length it left, or the
/// first ID left (the greatest ID when none is).
fn exact_trim_value(s: &Stream, strategy: TrimStrategy) -> Vec<u8> {
    match strategy {
        TrimStrategy::MaxLen(_) => s.len().to_string().into_bytes(),
        TrimStrategy::MinId(_) => id_arg(s.entries.keys().next().copied().unwrap_or(StreamId::MAX)),
    }
}

/// XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] *|id field value [...]
fn xadd(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let Some(parsed) = parse_add_trim(ctx, args, true) else { return };
    let field_pos = parsed.id_idx + 1;
    if field_pos > args.len() || (args.len() - field_pos) < 2 || (args.len() - field_pos) % 2 == 1 {
        return ctx.error(&errors::wrong_arity("xadd"));
    }
    if let Some(p) = &parsed.id {
        if p.seq_given && p.id == StreamId::MIN {
            return ctx.error("ERR The ID specified in XADD must be greater than 0-0");
        }
    }
    let (key, now) = (args[1], ctx.now_ms);
    let now_ms = now_u64(ctx);
    let limits = node_limits(ctx);
    let fields = &args[field_pos..];
    let table = ctx.table(key);
    let exists = match stream_ref(table, key, now) {
        Err(WrongType) => return ctx.error(errors::WRONGTYPE),
        Ok(s) => s.is_some(),
    };
    if !exists {
        if parsed.no_mkstream {
            return ctx.out.null();
        }
        table.insert_new(key, Value::Stream(Box::default()));
    }
    let Ok(Some(s)) = stream_mut(table, key, now) else { return ctx.error(errors::WRONGTYPE) };
    if s.last_id == StreamId::MAX {
        return ctx.error("ERR The stream has exhausted the last possible ID, unable to add more items");
    }
    let id = match &parsed.id {
        Some(p) if p.seq_given => Some(p.id),
        Some(p) if s.last_id.ms == p.id.ms => s.last_id.next().filter(|n| n.ms == p.id.ms),
        Some(p) => Some(p.id),
        None => s.next_auto_id(now_ms),
    };
    let Some(id) = id.filter(|id| *id > s.last_id) else {
        return ctx.error("ERR The ID specified in XADD is equal or smaller than the target stream top item");
    };
    if fields.iter().map(|f| f.len()).sum::<usize>() > ENTRY_MAX_BYTES {
        return ctx.error("ERR Elements are too large to be stored");
    }
    s.append(id, fields.iter().map(|f| Sds::new(f)).collect(), limits);
    let mut trimmed = 0;
    let mut exact_value = None;
    if let Some(trim) = parsed.trim {
        trimmed = s.trim(trim, limits);
        if trim.approx {
            exact_value = Some(exact_trim_value(s, trim.strategy));
        }
    }
    reply_id(ctx.out, id);
    ctx.notify(NOTIFY_STREAM, "xadd", key);
    ctx.dirty(1);
    if trimmed > 0 {
        ctx.notify(NOTIFY_STREAM, "xtrim", key);
    }
    let id_rewritten = parsed.id.as_ref().is_none_or(|p| !p.seq_given);
    if id_rewritten || exact_value.is_some() {
        ctx.propagate_as(|| {
            let mut argv: Vec<Vec<u8>> = args.iter().map(|a| a.to_vec()).collect();
            if let Some(v) = exact_value {
                argv[parsed.trim_arg_idx - 1] = b"=".to_vec();
                argv[parsed.trim_arg_idx] = v;
            }
            if id_rewritten {
                argv[parsed.id_idx] = id_arg(id);
            }
            argv
        });
    }
    ctx.signal_ready(key);
}

/// XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count]
fn xtrim(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let Some(parsed) = parse_add_trim(ctx, args, false) else { return };
    let Some(trim) = parsed.trim else { return ctx.error(errors::SYNTAX) };
    let (key, now) = (args[1], ctx.now_ms);
    let limits = node_limits(ctx);
    let s = match stream_mut(ctx.table(key), key, now) {
        Err(WrongType) => return ctx.error(errors::WRONGTYPE),
        Ok(None) => return ctx.out.int(0),
        Ok(Some(s)) => s,
    };
    let deleted = s.trim(trim, limits);
    let exact_value = (deleted > 0 && trim.approx).then(|| exact_trim_value(s, trim.strategy));
    ctx.out.int(deleted as i64);
    if deleted > 0 {
        ctx.notify(NOTIFY_STREAM, "xtrim", key);
        ctx.dirty(deleted);
        if let Some(v) = exact_value {
            ctx.propagate_as(|| {
                let mut argv: Vec<Vec<u8>> = args.iter().map(|a| a.to_vec()).collect();
                argv[parsed.trim_arg_idx - 1] = b"=".to_vec();
                argv[parsed.trim_arg_idx] = v;
                argv
            });
        }
    }
}

// ---------------------------------------------------------------------------------------------
// XRANGE / XREVRANGE / XLEN / XDEL / XSETID
// ---------------------------------------------------------------------------------------------

fn xrange_generic(ctx: &mut Ctx<'_, '_>, args: &[&[u8]], rev: bool) {
    let (start_arg, end_arg) = if rev { (args[3], args[2]) } else { (args[2], args[3]) };
    let Some(start) = interval_start(ctx.out, start_arg) else { return };
    let Some(end) = interval_end(ctx.out, end_arg) else { return };
    let mut count: i64 = -1;
    let mut j = 4;
    while j < args.len() {
        if eq_ic(args[j], "count") && j + 1 < args.len() {
            let Some(c) = parse_i64(args[j + 1]) else { return ctx.error(errors::NOT_INTEGER) };
            count = c.max(0);
            j += 2;
        } else {
            return ctx.error(errors::SYNTAX);
        }
    }
    let (key, now) = (args[1], ctx.now_ms);
    let out = &mut *ctx.out;
    match stream_ref(ctx.locks.table(ctx.ks, ctx.db, key), key, now) {
        Err(WrongType) => out.error(errors::WRONGTYPE),
        Ok(None) => out.array(0),
        Ok(Some(_)) if count == 0 => out.null_array(),
        Ok(Some(s)) => {
            let count = if count < 0 { 0 } else { usize::try_from(count).unwrap_or(usize::MAX) };
            reply_range(out, s, start, end, count, rev);
        }
    }
}

/// XRANGE key start end [COUNT count]
fn xrange(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    xrange_generic(ctx, args, false)
}

/// XREVRANGE key end start [COUNT count]
fn xrevrange(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    xrange_generic(ctx, args, true)
}

/// XLEN key
fn xlen(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (key, now) = (args[1], ctx.now_ms);
    match stream_ref(ctx.table(key), key, now).map(|s| s.map_or(0, |s| s.len() as i64)) {
        Err(WrongType) => ctx.error(errors::WRONGTYPE),
        Ok(len) => ctx.out.int(len),
    }
}

/// XDEL key id [id ...]
fn xdel(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (key, now) = (args[1], ctx.now_ms);
    match stream_ref(ctx.table(key), key, now) {
        Err(WrongType) => return ctx.error(errors::WRONGTYPE),
        Ok(None) => return ctx.out.int(0),
        Ok(Some(_)) => {}
    }
    let mut ids = Vec::new();
    for arg in &args[2..] {
        let Some(id) = strict_id(ctx.out, arg) else { return };
        ids.push(id);
    }
    let limits = node_limits(ctx);
    let Ok(Some(s)) = stream_mut(ctx.table(key), key, now) else { return ctx.error(errors::WRONGTYPE) };
    let deleted = ids.into_iter().filter(|id| s.delete(*id, limits)).count() as u64;
    if deleted > 0 {
        ctx.notify(NOTIFY_STREAM, "xdel", key);
        ctx.dirty(deleted);
    }
    ctx.out.int(deleted as i64);
}

/// XSETID key last-id [ENTRIESADDED entries-added] [MAXDELETEDID max-deleted-id]
fn xsetid(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let Some(id) = strict_id(ctx.out, args[2]) else { return };
    let mut entries_added: i64 = -1;
    let mut max_deleted = StreamId::MIN;
    let mut i = 3;
    while i < args.len() {
        let moreargs = args.len() - 1 - i;
        if eq_ic(args[i], "entriesadded") && moreargs > 0 {
            let Some(n) = parse_i64(args[i + 1]) else { return ctx.error(errors::NOT_INTEGER) };
            if n < 0 {
                return ctx.error("ERR entries_added must be positive");
            }
            entries_added = n;
        } else if eq_ic(args[i], "maxdeletedid") && moreargs > 0 {
            let Some(m) = strict_id(ctx.out, args[i + 1]) else { return };
            if id < m {
                return ctx.error("ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id");
            }
            max_deleted = m;
        } else {
            return ctx.error(errors::SYNTAX);
        }
        i += 2;
    }
    let (key, now) = (args[1], ctx.now_ms);
    let s = match stream_mut(ctx.table(key), key, now) {
        Err(WrongType) => return ctx.error(errors::WRONGTYPE),
        Ok(None) => return ctx.error(errors::NO_SUCH_KEY),
        Ok(Some(s)) => s,
    };
    if !s.is_empty() {
        if id < s.last_valid_id() {
            return ctx.error("ERR The ID specified in XSETID is smaller than the target stream top item");
        }
        if entries_added != -1 && s.len() as u64 > entries_added as u64 {
            return ctx.error("ERR The entries_added specified in XSETID is smaller than the target stream length");
        }
    }
    s.last_id = id;
    if entries_added != -1 {
        s.entries_added = entries_added as u64;
    }
    if max_deleted != StreamId::MIN {
        s.max_deleted_entry_id = max_deleted;
    }
    ctx.out.ok();
    ctx.dirty(1);
    ctx.notify(NOTIFY_STREAM, "xsetid", key);
}

// ---------------------------------------------------------------------------------------------
// XREAD / XREADGROUP
// ---------------------------------------------------------------------------------------------

/// What one stream of an XREAD/XREADGROUP asks for.
enum ReadFrom {
    /// Entries after this ID.
    After(StreamId),
    /// XREADGROUP `>`: entries never delivered to the group.
    New,
}

/// XREAD [COUNT count] [BLOCK milliseconds] STREAMS key [key ...] id [id ...]
fn xread(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    xread_generic(ctx, args, false)
}

/// XREADGROUP GROUP group consumer [COUNT count] [BLOCK milliseconds] [NOACK] STREAMS key
/// [key ...] id [id ...]
fn xreadgroup(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    xread_generic(ctx, args, true)
}

fn xread_generic(ctx: &mut Ctx<'_, '_>, args: &[&[u8]], group_mode: bool) {
    let mut timeout_ms: Option<i64> = None;
    let mut count: i64 = 0;
    let mut count_given = false;
    let mut streams_arg = 0usize;
    let mut group: Option<(&[u8], &[u8])> = None;
    let mut noack = false;
    let mut i = 1;
    while i < args.len() {
        let moreargs = args.len() - 1 - i;
        let o = args[i];
        if eq_ic(o, "block") && moreargs > 0 {
            if ctx::from_script() {
                let name = String::from_utf8_lossy(args[0]);
                return ctx.error(&format!("ERR {name} command is not allowed with BLOCK option from scripts"));
            }
            i += 1;
            let Some(t) = parse_i64(args[i]) else {
                return ctx.error("ERR timeout is not an integer or out of range");
            };
            if t < 0 {
                return ctx.error(errors::TIMEOUT_NEGATIVE);
            }
            timeout_ms = Some(t);
        } else if eq_ic(o, "count") && moreargs > 0 {
            i += 1;
            let Some(c) = parse_i64(args[i]) else { return ctx.error(errors::NOT_INTEGER) };
            count = c.max(0);
            count_given = true;
        } else if eq_ic(o, "streams") && moreargs > 0 {
            streams_arg = i + 1;
            if !(args.len() - streams_arg).is_multiple_of(2) {
                return ctx.error(
                    "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.",
                );
            }
            break;
        } else if eq_ic(o, "group") && moreargs >= 2 {
            if !group_mode {
                return ctx.error("ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.");
            }
            group = Some((args[i + 1], args[i + 2]));
            i += 2;
        } else if eq_ic(o, "noack") {
            if !group_mode {
                return ctx.error("ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.");
            }
            noack = true;
        } else {
            return ctx.error(errors::SYNTAX);
        }
        i += 1;
    }
    if streams_arg == 0 {
        return ctx.error(errors::SYNTAX);
    }
    if group_mode && group.is_none() {
        return ctx.error("ERR Missing GROUP option for XREADGROUP");
    }
    if group_mode {
        // The reads propagate as the XCLAIMs and XGROUP SETIDs they amount to, never as
        // themselves.
        ctx.propagate_nothing();
    }
    let nstreams = (args.len() - streams_arg) / 2;
    let keys = &args[streams_arg..streams_arg + nstreams];
    let id_args = &args[streams_arg + nstreams..];
    let now = ctx.now_ms;
    let serving = ctx::serving_blocked();
    let mut from = Vec::with_capacity(nstreams.min(1024));
    for (key, id_arg) in keys.iter().zip(id_args) {
        let looked_up = stream_ref(ctx.table(key), key, now)
            .map(|s| s.map(|s| (s.last_id, group.is_some_and(|(gname, _)| s.groups.contains_key(gname)))));
        let found = match looked_up {
            Err(WrongType) if serving && group.is_some() => {
                return ctx.error("UNBLOCKED the stream key no longer exists");
            }
            Err(WrongType) => return ctx.error(errors::WRONGTYPE),
            Ok(found) => found,
        };
        if let Some((gname, _)) = group {
            if !found.is_some_and(|(_, has_group)| has_group) {
                let text = if serving && found.is_none() {
                    "UNBLOCKED the stream key no longer exists".to_string()
                } else if serving {
                    "NOGROUP the consumer group this client was blocked on no longer exists".to_string()
                } else {
                    format!(
                        "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                        String::from_utf8_lossy(key),
                        String::from_utf8_lossy(gname)
                    )
                };
                return ctx.error(&text);
            }
        }
        if *id_arg == b"$" {
            if group_mode {
                return ctx.error(
                    "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.",
                );
            }
            from.push(ReadFrom::After(found.map_or(StreamId::MIN, |(last_id, _)| last_id)));
        } else if *id_arg == b">" {
            if !group_mode {
                return ctx.error(
                    "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.",
                );
            }
            from.push(ReadFrom::New);
        } else {
            let Some(id) = strict_id(ctx.out, id_arg) else { return };
            from.push(ReadFrom::After(id));
        }
    }

    let count = usize::try_from(count).unwrap_or(usize::MAX);
    let mut body = ReplyBuf::new(ctx.out.is_resp3());
    let mut served = 0usize;
    for (key, read_from) in keys.iter().zip(&from) {
        let served_now = match group {
            None => serve_plain(ctx, &mut body, key, read_from, count),
            Some((gname, cname)) => serve_group(ctx, &mut body, key, gname, cname, read_from, count, noack),
        };
        if served_now {
            served += 1;
        }
    }
    if served > 0 {
        if ctx.out.is_resp3() {
            ctx.out.map(served);
        } else {
            ctx.out.array(served);
        }
        ctx.out.raw(&body.buf);
        return;
    }
    let Some(timeout_ms) = timeout_ms else { return ctx.out.null_array() };
    if !ctx.may_block {
        return ctx.out.null_array();
    }
    // Park on the keys; when woken, run again with `$` resolved and Redis's COUNT default for
    // served blocked reads.
    let mut rerun: Vec<Vec<u8>> = Vec::with_capacity(args.len() + 2);
    rerun.extend(args[..streams_arg].iter().map(|a| a.to_vec()));
    if !count_given {
        let streams_kw = rerun.pop().unwrap_or_else(|| b"STREAMS".to_vec());
        rerun.push(b"COUNT".to_vec());
        rerun.push(BLOCKED_DEFAULT_COUNT.to_vec());
        rerun.push(streams_kw);
    }
    rerun.extend(keys.iter().map(|k| k.to_vec()));
    for (given, read_from) in id_args.iter().zip(&from) {
        match read_from {
            ReadFrom::After(id) if *given == b"$" => rerun.push(id_arg(*id)),
            _ => rerun.push(given.to_vec()),
        }
    }
    let deadline_ms = if timeout_ms == 0 { None } else { ctx.now_ms.checked_add(timeout_ms) };
    ctx.effects.block = Some(BlockRequest {
        db: ctx.db,
        keys: keys.iter().map(|k| Sds::new(k)).collect(),
        deadline_ms,
        rerun_argv: Some(rerun),
    });
}

/// XREAD of one stream: its entries after the ID, if it has any. Writes `key, [entries]`.
fn serve_plain(ctx: &mut Ctx<'_, '_>, body: &mut ReplyBuf, key: &[u8], from: &ReadFrom, count: usize) -> bool {
    let ReadFrom::After(after) = *from else { return false };
    let now = ctx.now_ms;
    let Ok(Some(s)) = stream_ref(ctx.table(key), key, now) else { return false };
    if s.is_empty() || s.last_valid_id() <= after {
        return false;
    }
    let Some(start) = after.next() else { return false };
    if !body.is_resp3() {
        body.array(2);
    }
    body.bulk(key);
    reply_range(body, s, start, StreamId::MAX, count, false);
    true
}

/// XREADGROUP of one stream (the group exists: checked by the caller). Writes
/// `key, [entries]` and returns true when the stream is served: always for a history read,
/// for `>` only when the stream has entries the group has not been given yet.
#[allow(clippy::too_many_arguments)]
fn serve_group(
    ctx: &mut Ctx<'_, '_>,
    body: &mut ReplyBuf,
    key: &[u8],
    gname: &[u8],
    cname: &[u8],
    from: &ReadFrom,
    count: usize,
    noack: bool,
) -> bool {
    let now = ctx.now_ms;
    let now_ms = now_u64(ctx);
    let propagating = ctx.propagating();
    let Ok(Some(s)) = stream_mut(ctx.table(key), key, now) else { return false };
    let last_valid = s.last_valid_id();
    let Some(g) = s.groups.get(gname) else { return false };
    let history = match from {
        ReadFrom::After(id) => Some(*id),
        ReadFrom::New if !s.is_empty() && last_valid > g.last_id => None,
        ReadFrom::New => return false,
    };
    if !body.is_resp3() {
        body.array(2);
    }
    body.bulk(key);
    let cname_sds = Sds::new(cname);
    let created = touch_consumer(s, gname, &cname_sds, now_ms);
    let limit = if count == 0 { usize::MAX } else { count };
    let mut ops: Vec<Vec<Vec<u8>>> = Vec::new();
    if created && noack && propagating {
        ops.push(vec![b"XGROUP".to_vec(), b"CREATECONSUMER".to_vec(), key.to_vec(), gname.to_vec(), cname.to_vec()]);
    }
    match history {
        Some(after) => {
            let mut entries = ReplyBuf::new(body.is_resp3());
            let mut n = 0usize;
            if let Some(start) = after.next() {
                let Some(g) = s.groups.get_mut(gname) else { return false };
                let ids: Vec<StreamId> = g
                    .consumers
                    .get(cname)
                    .map(|c| c.pending.range(start..).take(limit).copied().collect())
                    .unwrap_or_default();
                for id in ids {
                    match s.entries.get(&id) {
                        Some(fields) => {
                            reply_entry(&mut entries, id, fields);
                            if let Some(nack) = g.pel.get_mut(&id) {
                                nack.delivery_time_ms = now_ms;
                                nack.delivery_count += 1;
                            }
                        }
                        None => {
                            entries.array(2);
                            reply_id(&mut entries, id);
                            entries.null_array();
                        }
                    }
                    n += 1;
                }
            }
            body.array(n);
            body.raw(&entries.buf);
        }
        None => {
            let start = s.groups.get(gname).map(|g| g.last_id).unwrap_or_default();
            let delivered: Vec<StreamId> = match start.next() {
                Some(start) => s.entries.range(start..).take(limit).map(|(id, _)| *id).collect(),
                None => Vec::new(),
            };
            body.array(delivered.len());
            let mut last_id_moved = false;
            for id in delivered {
                let Some(cur) = s.groups.get(gname) else { break };
                if id > cur.last_id {
                    let read = s.entries_read_after(cur.entries_read, id);
                    if let Some(g) = s.groups.get_mut(gname) {
                        g.entries_read = read;
                        g.last_id = id;
                    }
                    last_id_moved = true;
                }
                if let Some(fields) = s.entries.get(&id) {
                    reply_entry(body, id, fields);
                }
                if noack {
                    continue;
                }
                let Some(g) = s.groups.get_mut(gname) else { break };
                g.assign(id, &cname_sds, now_ms, 1);
                if propagating {
                    if let Some(nack) = g.pel.get(&id) {
                        ops.push(xclaim_propagation(key, gname, id_arg(id), nack, g.last_id));
                    }
                }
            }
            if noack && last_id_moved && propagating {
                if let Some(g) = s.groups.get(gname) {
                    ops.push(setid_propagation(key, gname, g));
                }
            }
        }
    }
    if created {
        ctx.dirty(1);
        ctx.notify(NOTIFY_STREAM, "xgroup-createconsumer", key);
    }
    ctx.dirty(1);
    for op in ops {
        ctx.propagate_as(|| op);
    }
    true
}

/// Looks consumer `name` of group `gname` up, refreshing its seen time, or creates it. True
/// when it was created.
fn touch_consumer(s: &mut Stream, gname: &[u8], name: &Sds, now_ms: u64) -> bool {
    s.groups.get_mut(gname).is_some_and(|g| touch_group_consumer(g, name, now_ms))
}

/// [`touch_consumer`] within a group already found.
fn touch_group_consumer(g: &mut ConsumerGroup, name: &Sds, now_ms: u64) -> bool {
    match g.consumers.get_mut(name) {
        Some(c) => {
            c.seen_time_ms = now_ms;
            false
        }
        None => {
            g.consumers.insert(name.clone(), Consumer { seen_time_ms: now_ms, pending: Default::default() });
            true
        }
    }
}

/// A claimed entry in XCLAIM's and XAUTOCLAIM's reply: its ID alone with JUSTID, else the
/// whole entry (an entry deleted meanwhile is left out).
fn reply_claimed(body: &mut ReplyBuf, s: &Stream, id: StreamId, justid: bool) {
    if justid {
        reply_id(body, id);
    } else if let Some(fields) = s.entries.get(&id) {
        reply_entry(body, id, fields);
    }
}

/// The idempotent XCLAIM a delivery or claim propagates as (Redis's streamPropagateXCLAIM).
fn xclaim_propagation(key: &[u8], gname: &[u8], id: Vec<u8>, nack: &PendingEntry, last_id: StreamId) -> Vec<Vec<u8>> {
    vec![
        b"XCLAIM".to_vec(),
        key.to_vec(),
        gname.to_vec(),
        nack.consumer.to_vec(),
        b"0".to_vec(),
        id,
        b"TIME".to_vec(),
        nack.delivery_time_ms.to_string().into_bytes(),
        b"RETRYCOUNT".to_vec(),
        nack.delivery_count.to_string().into_bytes(),
        b"FORCE".to_vec(),
        b"JUSTID".to_vec(),
        b"LASTID".to_vec(),
        id_arg(last_id),
    ]
}

/// The XGROUP SETID a group's moved last ID propagates as (Redis's streamPropagateGroupID).
fn setid_propagation(key: &[u8], gname: &[u8], g: &ConsumerGroup) -> Vec<Vec<u8>> {
    vec![
        b"XGROUP".to_vec(),
        b"SETID".to_vec(),
        key.to_vec(),
        gname.to_vec(),
        id_arg(g.last_id),
        b"ENTRIESREAD".to_vec(),
        g.entries_read.to_string().into_bytes(),
    ]
}

// ---------------------------------------------------------------------------------------------
// XGROUP
// ---------------------------------------------------------------------------------------------

const XGROUP_HELP: &[&str] = &[
    "CREATE <key> <groupname> <id|$> [option]",
    "    Create a new consumer group. Options are:",
    "    * MKSTREAM",
    "      Create the empty stream if it does not exist.",
    "    * ENTRIESREAD entries_read",
    "      Set the group's entries_read counter (internal use).",
    "CREATECONSUMER <key> <groupname> <consumer>",
    "    Create a new consumer in the specified group.",
    "DELCONSUMER <key> <groupname> <consumer>",
    "    Remove the specified consumer.",
    "DESTROY <key> <groupname>",
    "    Remove the specified group.",
    "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
    "    Set the current group ID and entries_read counter.",
];

/// Redis's addReplyHelp: the command's usage line, the lines, and HELP.
fn reply_help(out: &mut ReplyBuf, command: &str, lines: &[&str]) {
    out.array(lines.len() + 3);
    out.simple(&format!("{command} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"));
    for line in lines {
        out.simple(line);
    }
    out.simple("HELP");
    out.simple("    Prints this help.");
}

/// XGROUP CREATE|SETID|DESTROY|CREATECONSUMER|DELCONSUMER|HELP ...
fn xgroup(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let opt = args[1];
    let argc = args.len();
    let mut mkstream = false;
    let mut entries_read = ENTRIES_READ_UNKNOWN;
    let now = ctx.now_ms;
    let mut exists = false;
    if argc >= 4 {
        let create = eq_ic(opt, "create");
        let setid = eq_ic(opt, "setid");
        let mut i = 5;
        while i < argc {
            if create && eq_ic(args[i], "mkstream") {
                mkstream = true;
                i += 1;
            } else if (create || setid) && eq_ic(args[i], "entriesread") && i + 1 < argc {
                let Some(n) = parse_i64(args[i + 1]) else { return ctx.error(errors::NOT_INTEGER) };
                if n < 0 && n != ENTRIES_READ_UNKNOWN {
                    return ctx.error("ERR value for ENTRIESREAD must be positive or -1");
                }
                entries_read = n;
                i += 2;
            } else {
                return subcommand_syntax_error(ctx.out, args);
            }
        }
        let key = args[2];
        let looked_up = stream_ref(ctx.table(key), key, now).map(|s| s.map(|s| s.groups.contains_key(args[3])));
        let has_group = match looked_up {
            Err(WrongType) => return ctx.error(errors::WRONGTYPE),
            Ok(found) => {
                exists = found.is_some();
                found.unwrap_or(false)
            }
        };
        if !mkstream {
            if !exists {
                return ctx.error("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.");
            }
            let needs_group = eq_ic(opt, "setid") || eq_ic(opt, "createconsumer") || eq_ic(opt, "delconsumer");
            if needs_group && !has_group {
                return ctx.error(&format!(
                    "NOGROUP No such consumer group '{}' for key name '{}'",
                    String::from_utf8_lossy(args[3]),
                    String::from_utf8_lossy(key)
                ));
            }
        }
    }
    let now_ms = now_u64(ctx);
    if argc == 2 && eq_ic(opt, "help") {
        reply_help(ctx.out, "XGROUP", XGROUP_HELP);
    } else if eq_ic(opt, "create") && (5..=8).contains(&argc) {
        let (key, gname) = (args[2], args[3]);
        let id = if args[4] == b"$" {
            None
        } else {
            let Some(id) = strict_id(ctx.out, args[4]) else { return };
            Some(id)
        };
        let table = ctx.table(key);
        if !exists {
            table.insert_new(key, Value::Stream(Box::default()));
        }
        let Ok(Some(s)) = stream_mut(table, key, now) else { return ctx.error(errors::WRONGTYPE) };
        let id = id.unwrap_or(s.last_id);
        if s.groups.contains_key(gname) {
            return ctx.error("BUSYGROUP Consumer Group name already exists");
        }
        s.groups.insert(Sds::new(gname), ConsumerGroup::new(id, entries_read));
        ctx.out.ok();
        ctx.dirty(1);
        ctx.notify(NOTIFY_STREAM, "xgroup-create", key);
    } else if eq_ic(opt, "setid") && (argc == 5 || argc == 7) {
        let (key, gname) = (args[2], args[3]);
        let parsed = if args[4] == b"$" {
            None
        } else {
            let Some(p) = parse_id_full(args[4], 0, false, false) else { return ctx.error(INVALID_ID) };
            Some(p.id)
        };
        let Ok(Some(s)) = stream_mut(ctx.table(key), key, now) else { return ctx.error(errors::WRONGTYPE) };
        let id = parsed.unwrap_or(s.last_id);
        if let Some(g) = s.groups.get_mut(gname) {
            g.last_id = id;
            g.entries_read = entries_read;
        }
        ctx.out.ok();
        ctx.dirty(1);
        ctx.notify(NOTIFY_STREAM, "xgroup-setid", key);
    } else if eq_ic(opt, "destroy") && argc == 4 {
        let (key, gname) = (args[2], args[3]);
        let Ok(Some(s)) = stream_mut(ctx.table(key), key, now) else { return ctx.error(errors::WRONGTYPE) };
        if s.groups.remove(gname).is_some() {
            ctx.out.int(1);
            ctx.dirty(1);
            ctx.notify(NOTIFY_STREAM, "xgroup-destroy", key);
            // Clients blocked in XREADGROUP on this group get their error now.
            ctx.signal_ready(key);
        } else {
            ctx.out.int(0);
        }
    } else if eq_ic(opt, "createconsumer") && argc == 5 {
        let (key, gname) = (args[2], args[3]);
        let Ok(Some(s)) = stream_mut(ctx.table(key), key, now) else { return ctx.error(errors::WRONGTYPE) };
        let Some(g) = s.groups.get_mut(gname) else { return ctx.out.int(0) };
        if g.consumers.contains_key(args[4]) {
            return ctx.out.int(0);
        }
        g.consumers.insert(Sds::new(args[4]), Consumer { seen_time_ms: now_ms, pending: Default::default() });
        ctx.out.int(1);
        ctx.dirty(1);
        ctx.notify(NOTIFY_STREAM, "xgroup-createconsumer", key);
    } else if eq_ic(opt, "delconsumer") && argc == 5 {
        let (key, gname) = (args[2], args[3]);
        let Ok(Some(s)) = stream_mut(ctx.table(key), key, now) else { return ctx.error(errors::WRONGTYPE) };
        let removed = s.groups.get_mut(gname).and_then(|g| g.delete_consumer(args[4]));
        ctx.out.int(removed.unwrap_or(0) as i64);
        if removed.is_some() {
            ctx.dirty(1);
            ctx.notify(NOTIFY_STREAM, "xgroup-delconsumer", key);
        }
    } else {
        subcommand_syntax_error(ctx.out, args);
    }
}

// ---------------------------------------------------------------------------------------------
// XACK / XPENDING
// ---------------------------------------------------------------------------------------------

/// XACK key group id [id ...]
fn xack(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (key, gname, now) = (args[1], args[2], ctx.now_ms);
    match stream_ref(ctx.table(key), key, now) {
        Err(WrongType) => return ctx.error(errors::WRONGTYPE),
        Ok(s) if !s.is_some_and(|s| s.groups.contains_key(gname)) => return ctx.out.int(0),
        Ok(_) => {}
    }
    let mut ids = Vec::new();
    for arg in &args[3..] {
        let Some(id) = strict_id(ctx.out, arg) else { return };
        ids.push(id);
    }
    let Ok(Some(s)) = stream_mut(ctx.table(key), key, now) else { return ctx.out.int(0) };
    let Some(g) = s.groups.get_mut(gname) else { return ctx.out.int(0) };
    let acked = ids.into_iter().filter(|id| g.ack(*id)).count() as u64;
    ctx.dirty(acked);
    ctx.out.int(acked as i64);
}

fn nogroup_key_group(key: &[u8], gname: &[u8]) -> String {
    format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        String::from_utf8_lossy(key),
        String::from_utf8_lossy(gname)
    )
}

/// XPENDING key group [[IDLE min-idle-time] start end count [consumer]]
fn xpending(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let argc = args.len();
    let justinfo = argc == 3;
    let (key, gname) = (args[1], args[2]);
    if argc != 3 && !(6..=9).contains(&argc) {
        return ctx.error(errors::SYNTAX);
    }
    let mut start = StreamId::MIN;
    let mut end = StreamId::MAX;
    let mut count: i64 = 0;
    let mut min_idle_ms: i64 = 0;
    let mut consumer: Option<&[u8]> = None;
    if argc >= 6 {
        let mut startidx = 3;
        if eq_ic(args[3], "idle") {
            let Some(v) = parse_i64(args[4]) else { return ctx.error(errors::NOT_INTEGER) };
            min_idle_ms = v;
            if argc < 8 {
                return ctx.error(errors::SYNTAX);
            }
            startidx += 2;
        }
        let Some(c) = parse_i64(args[startidx + 2]) else { return ctx.error(errors::NOT_INTEGER) };
        count = c.max(0);
        let Some(s) = interval_start(ctx.out, args[startidx]) else { return };
        let Some(e) = interval_end(ctx.out, args[startidx + 1]) else { return };
        start = s;
        end = e;
        if startidx + 3 < argc {
            consumer = Some(args[startidx + 3]);
        }
    }
    let now = ctx.now_ms;
    let out = &mut *ctx.out;
    let s = match stream_ref(ctx.locks.table(ctx.ks, ctx.db, key), key, now) {
        Err(WrongType) => return out.error(errors::WRONGTYPE),
        Ok(s) => s,
    };
    let Some(g) = s.and_then(|s| s.groups.get(gname)) else {
        return out.error(&nogroup_key_group(key, gname));
    };
    if justinfo {
        out.array(4);
        out.int(g.pel.len() as i64);
        match (g.pel.keys().next(), g.pel.keys().next_back()) {
            (Some(first), Some(last)) => {
                reply_id(out, *first);
                reply_id(out, *last);
                let with_pending: Vec<(&Sds, &Consumer)> =
                    g.consumers.iter().filter(|(_, c)| !c.pending.is_empty()).collect();
                out.array(with_pending.len());
                for (name, c) in with_pending {
                    out.array(2);
                    out.bulk(name.as_bytes());
                    out.bulk_i64(c.pending.len() as i64);
                }
            }
            _ => {
                out.null();
                out.null();
                out.null_array();
            }
        }
        return;
    }
    let ids: Box<dyn Iterator<Item = &StreamId>> = match consumer {
        Some(name) => match g.consumers.get(name) {
            Some(c) if start <= end => Box::new(c.pending.range(start..=end)),
            Some(_) => Box::new(std::iter::empty()),
            None => return out.array(0),
        },
        None if start <= end => Box::new(g.pel.range(start..=end).map(|(id, _)| id)),
        None => Box::new(std::iter::empty()),
    };
    let mut body = ReplyBuf::new(out.is_resp3());
    let mut n = 0usize;
    let mut left = count;
    for id in ids {
        if left == 0 {
            break;
        }
        let Some(nack) = g.pel.get(id) else { continue };
        let idle = now - nack.delivery_time_ms as i64;
        if min_idle_ms != 0 && idle < min_idle_ms {
            continue;
        }
        left -= 1;
        n += 1;
        body.array(4);
        reply_id(&mut body, *id);
        body.bulk(nack.consumer.as_bytes());
        body.int(idle.max(0));
        body.int(nack.delivery_count as i64);
    }
    out.array(n);
    out.raw(&body.buf);
}

// ---------------------------------------------------------------------------------------------
// XCLAIM / XAUTOCLAIM
// ---------------------------------------------------------------------------------------------

/// XCLAIM key group consumer min-idle-time id [id ...] [IDLE ms] [TIME unix-time-ms]
/// [RETRYCOUNT count] [FORCE] [JUSTID] [LASTID lastid]
fn xclaim(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (key, gname, cname, now) = (args[1], args[2], args[3], ctx.now_ms);
    match stream_ref(ctx.table(key), key, now) {
        Err(WrongType) => return ctx.error(errors::WRONGTYPE),
        Ok(s) if !s.is_some_and(|s| s.groups.contains_key(gname)) => {
            return ctx.error(&nogroup_key_group(key, gname));
        }
        Ok(_) => {}
    }
    let Some(min_idle_ms) = parse_i64(args[4]) else {
        return ctx.error("ERR Invalid min-idle-time argument for XCLAIM");
    };
    let min_idle_ms = min_idle_ms.max(0);
    let mut ids: Vec<(StreamId, &[u8])> = Vec::new();
    let mut j = 5;
    while j < args.len() {
        match parse_id_full(args[j], 0, true, false) {
            Some(p) => ids.push((p.id, args[j])),
            None => break,
        }
        j += 1;
    }
    let mut force = false;
    let mut justid = false;
    let mut retrycount: i64 = -1;
    let mut delivery_time_ms: i64 = -1;
    let mut last_id = StreamId::MIN;
    while j < args.len() {
        let moreargs = args.len() - 1 - j;
        let opt = args[j];
        if eq_ic(opt, "force") {
            force = true;
        } else if eq_ic(opt, "justid") {
            justid = true;
        } else if eq_ic(opt, "idle") && moreargs > 0 {
            j += 1;
            let Some(v) = parse_i64(args[j]) else {
                return ctx.error("ERR Invalid IDLE option argument for XCLAIM");
            };
            delivery_time_ms = now.wrapping_sub(v);
        } else if eq_ic(opt, "time") && moreargs > 0 {
            j += 1;
            let Some(v) = parse_i64(args[j]) else {
                return ctx.error("ERR Invalid TIME option argument for XCLAIM");
            };
            delivery_time_ms = v;
        } else if eq_ic(opt, "retrycount") && moreargs > 0 {
            j += 1;
            let Some(v) = parse_i64(args[j]) else {
                return ctx.error("ERR Invalid RETRYCOUNT option argument for XCLAIM");
            };
            retrycount = v;
        } else if eq_ic(opt, "lastid") && moreargs > 0 {
            j += 1;
            let Some(id) = strict_id(ctx.out, args[j]) else { return };
            last_id = id;
        } else {
            return ctx.error(&format!("ERR Unrecognized XCLAIM option '{}'", String::from_utf8_lossy(opt)));
        }
        j += 1;
    }
    // Past times only; but a master's or the AOF's TIME is kept as given (the AOF loads with
    // the clock at 0, and the time was already checked where the claim first happened).
    if delivery_time_ms < 0 || (delivery_time_ms > now && !ctx::obey_client()) {
        delivery_time_ms = now;
    }
    let delivery_time_ms = delivery_time_ms as u64;
    let now_ms = now_u64(ctx);
    let propagating = ctx.propagating();
    ctx.propagate_nothing();
    let mut body = ReplyBuf::new(ctx.out.is_resp3());
    let Ok(Some(s)) = stream_mut(ctx.table(key), key, now) else { return ctx.error(errors::WRONGTYPE) };
    let mut ops: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut dirty = 0u64;
    let mut propagate_last_id = false;
    let cname_sds = Sds::new(cname);
    let mut consumer_created = false;
    let mut consumer_ready = false;
    let mut n = 0usize;
    {
        let Some(g) = s.groups.get_mut(gname) else { return };
        if last_id > g.last_id {
            g.last_id = last_id;
            propagate_last_id = true;
        }
    }
    for (id, id_text) in ids {
        let exists = s.entries.contains_key(&id);
        let Some(g) = s.groups.get_mut(gname) else { break };
        if !exists {
            if let Some(nack) = g.pel.get(&id) {
                if propagating {
                    ops.push(xclaim_propagation(key, gname, id_text.to_vec(), nack, g.last_id));
                }
                propagate_last_id = false;
                dirty += 1;
                g.ack(id);
            }
            continue;
        }
        let existing = g.pel.get(&id).cloned();
        if existing.is_none() && !force {
            continue;
        }
        if let Some(nack) = &existing {
            if min_idle_ms > 0 && now - (nack.delivery_time_ms as i64) < min_idle_ms {
                continue;
            }
        }
        if !consumer_ready {
            consumer_created = touch_group_consumer(g, &cname_sds, now_ms);
            consumer_ready = true;
        }
        let prev_count = existing.as_ref().map_or(1, |n| n.delivery_count);
        let delivery_count = if retrycount >= 0 {
            retrycount as u64
        } else if justid {
            prev_count
        } else {
            prev_count + 1
        };
        g.assign(id, &cname_sds, delivery_time_ms, delivery_count);
        reply_claimed(&mut body, s, id, justid);
        n += 1;
        if let Some(g) = s.groups.get(gname) {
            if let (true, Some(nack)) = (propagating, g.pel.get(&id)) {
                ops.push(xclaim_propagation(key, gname, id_text.to_vec(), nack, g.last_id));
            }
        }
        propagate_last_id = false;
        dirty += 1;
    }
    if propagate_last_id {
        if let (true, Some(g)) = (propagating, s.groups.get(gname)) {
            ops.push(setid_propagation(key, gname, g));
        }
        dirty += 1;
    }
    ctx.out.array(n);
    ctx.out.raw(&body.buf);
    if consumer_created {
        ctx.dirty(1);
        ctx.notify(NOTIFY_STREAM, "xgroup-createconsumer", key);
    }
    ctx.dirty(dirty);
    for op in ops {
        ctx.propagate_as(|| op);
    }
}

/// XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]
fn xautoclaim(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (key, gname, cname, now) = (args[1], args[2], args[3], ctx.now_ms);
    let Some(min_idle_ms) = parse_i64(args[4]) else {
        return ctx.error("ERR Invalid min-idle-time argument for XAUTOCLAIM");
    };
    let min_idle_ms = min_idle_ms.max(0);
    let Some(start) = interval_start(ctx.out, args[5]) else { return };
    const ATTEMPTS_FACTOR: i64 = 10;
    let mut count: i64 = 100;
    let mut justid = false;
    let mut j = 6;
    while j < args.len() {
        let moreargs = args.len() - 1 - j;
        if eq_ic(args[j], "count") && moreargs > 0 {
            let max_count = i64::MAX / 16;
            match parse_i64(args[j + 1]) {
                Some(c) if (1..=max_count).contains(&c) => count = c,
                _ => return ctx.error("ERR COUNT must be > 0"),
            }
            j += 1;
        } else if eq_ic(args[j], "justid") {
            justid = true;
        } else {
            return ctx.error(errors::SYNTAX);
        }
        j += 1;
    }
    match stream_ref(ctx.table(key), key, now) {
        Err(WrongType) => return ctx.error(errors::WRONGTYPE),
        Ok(s) if !s.is_some_and(|s| s.groups.contains_key(gname)) => {
            return ctx.error(&nogroup_key_group(key, gname));
        }
        Ok(_) => {}
    }
    let now_ms = now_u64(ctx);
    let propagating = ctx.propagating();
    ctx.propagate_nothing();
    let mut body = ReplyBuf::new(ctx.out.is_resp3());
    let Ok(Some(s)) = stream_mut(ctx.table(key), key, now) else { return ctx.error(errors::WRONGTYPE) };
    let cname_sds = Sds::new(cname);
    let mut attempts = count.saturating_mul(ATTEMPTS_FACTOR);
    let mut ops: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut deleted_ids: Vec<StreamId> = Vec::new();
    let mut n = 0usize;
    let mut dirty = 0u64;
    let mut consumer_created = false;
    let mut consumer_ready = false;
    let mut cursor = Some(start);
    loop {
        if attempts == 0 {
            break;
        }
        attempts -= 1;
        if count == 0 {
            break;
        }
        let Some(from) = cursor else { break };
        let Some(g) = s.groups.get_mut(gname) else { break };
        let Some((&id, nack)) = g.pel.range(from..).next() else {
            cursor = None;
            break;
        };
        cursor = id.next();
        if !s.entries.contains_key(&id) {
            if propagating {
                ops.push(xclaim_propagation(key, gname, id_arg(id), nack, g.last_id));
            }
            g.ack(id);
            dirty += 1;
            deleted_ids.push(id);
            count -= 1;
            continue;
        }
        if min_idle_ms > 0 && now - (nack.delivery_time_ms as i64) < min_idle_ms {
            continue;
        }
        let prev_count = nack.delivery_count;
        if !consumer_ready {
            consumer_created = touch_group_consumer(g, &cname_sds, now_ms);
            consumer_ready = true;
        }
        g.assign(id, &cname_sds, now_ms, if justid { prev_count } else { prev_count + 1 });
        reply_claimed(&mut body, s, id, justid);
        n += 1;
        count -= 1;
        if let Some(g) = s.groups.get(gname) {
            if let (true, Some(nack)) = (propagating, g.pel.get(&id)) {
                ops.push(xclaim_propagation(key, gname, id_arg(id), nack, g.last_id));
            }
        }
        dirty += 1;
    }
    let next_id = match (cursor, s.groups.get(gname)) {
        (Some(from), Some(g)) => g.pel.range(from..).next().map(|(id, _)| *id).unwrap_or_default(),
        _ => StreamId::MIN,
    };
    let out = &mut *ctx.out;
    out.array(3);
    reply_id(out, next_id);
    out.array(n);
    out.raw(&body.buf);
    out.array(deleted_ids.len());
    for id in deleted_ids {
        reply_id(out, id);
    }
    if consumer_created {
        ctx.dirty(1);
        ctx.notify(NOTIFY_STREAM, "xgroup-createconsumer", key);
    }
    ctx.dirty(dirty);
    for op in ops {
        ctx.propagate_as(|| op);
    }
}

// ---------------------------------------------------------------------------------------------
// XINFO
// ---------------------------------------------------------------------------------------------

const XINFO_HELP: &[&str] = &[
    "CONSUMERS <key> <groupname>",
    "    Show consumers of <groupname>.",
    "GROUPS <key>",
    "    Show the stream consumer groups.",
    "STREAM <key> [FULL [COUNT <count>]",
    "    Show information about the stream.",
];

/// The radix tree Redis would hold for `nodes` listpack nodes: one key per node, and about
/// one inner node per key plus the root (the keys share long prefixes: their high bytes are
/// the same milliseconds).
pub(crate) fn radix_tree_nodes(keys: usize) -> usize {
    if keys == 0 {
        1
    } else {
        keys * 2 + 1
    }
}

fn reply_lag(out: &mut ReplyBuf, s: &Stream, g: &ConsumerGroup) {
    match s.group_lag(g) {
        Some(lag) => out.int(lag),
        None => out.null(),
    }
}

fn reply_entries_read(out: &mut ReplyBuf, g: &ConsumerGroup) {
    if g.entries_read != ENTRIES_READ_UNKNOWN {
        out.int(g.entries_read);
    } else {
        out.null();
    }
}

/// XINFO STREAM|GROUPS|CONSUMERS|HELP ...
fn xinfo(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    if eq_ic(args[1], "help") {
        if args.len() != 2 {
            return subcommand_syntax_error(ctx.out, args);
        }
        return reply_help(ctx.out, "XINFO", XINFO_HELP);
    }
    if args.len() < 3 {
        return subcommand_syntax_error(ctx.out, args);
    }
    let (opt, key, now) = (args[1], args[2], ctx.now_ms);
    let limits = node_limits(ctx);
    let out = &mut *ctx.out;
    let s = match stream_ref(ctx.locks.table(ctx.ks, ctx.db, key), key, now) {
        Err(WrongType) => return out.error(errors::WRONGTYPE),
        Ok(None) => return out.error(errors::NO_SUCH_KEY),
        Ok(Some(s)) => s,
    };
    if eq_ic(opt, "consumers") && args.len() == 4 {
        let Some(g) = s.groups.get(args[3]) else {
            return out.error(&format!(
                "NOGROUP No such consumer group '{}' for key name '{}'",
                String::from_utf8_lossy(args[3]),
                String::from_utf8_lossy(key)
            ));
        };
        out.array(g.consumers.len());
        for (name, c) in &g.consumers {
            out.map(3);
            out.bulk(b"name");
            out.bulk(name.as_bytes());
            out.bulk(b"pending");
            out.int(c.pending.len() as i64);
            out.bulk(b"idle");
            out.int((now - c.seen_time_ms as i64).max(0));
        }
    } else if eq_ic(opt, "groups") && args.len() == 3 {
        out.array(s.groups.len());
        for (name, g) in &s.groups {
            out.map(6);
            out.bulk(b"name");
            out.bulk(name.as_bytes());
            out.bulk(b"consumers");
            out.int(g.consumers.len() as i64);
            out.bulk(b"pending");
            out.int(g.pel.len() as i64);
            out.bulk(b"last-delivered-id");
            reply_id(out, g.last_id);
            out.bulk(b"entries-read");
            reply_entries_read(out, g);
            out.bulk(b"lag");
            reply_lag(out, s, g);
        }
    } else if eq_ic(opt, "stream") {
        xinfo_stream(out, args, s, limits);
    } else {
        subcommand_syntax_error(out, args);
    }
}

fn xinfo_stream(out: &mut ReplyBuf, args: &[&[u8]], s: &Stream, limits: NodeLimits) {
    let opts = &args[3..];
    let mut full = true;
    let mut count: i64 = 10;
    if opts.is_empty() {
        full = false;
    } else {
        if (opts.len() != 1 && opts.len() != 3) || !eq_ic(opts[0], "full") {
            return subcommand_syntax_error(out, args);
        }
        if opts.len() == 3 {
            if !eq_ic(opts[1], "count") {
                return subcommand_syntax_error(out, args);
            }
            let Some(c) = parse_i64(opts[2]) else { return out.error(errors::NOT_INTEGER) };
            count = if c < 0 { 10 } else { c };
        }
    }
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    let limit = if count == 0 { usize::MAX } else { count };
    let keys = s.node_count(limits);
    out.map(if full { 9 } else { 10 });
    out.bulk(b"length");
    out.int(s.len() as i64);
    out.bulk(b"radix-tree-keys");
    out.int(keys as i64);
    out.bulk(b"radix-tree-nodes");
    out.int(radix_tree_nodes(keys) as i64);
    out.bulk(b"last-generated-id");
    reply_id(out, s.last_id);
    out.bulk(b"max-deleted-entry-id");
    reply_id(out, s.max_deleted_entry_id);
    out.bulk(b"entries-added");
    out.int(s.entries_added as i64);
    out.bulk(b"recorded-first-entry-id");
    reply_id(out, s.first_id);
    if !full {
        out.bulk(b"groups");
        out.int(s.groups.len() as i64);
        out.bulk(b"first-entry");
        match s.entries.iter().next() {
            Some((id, fields)) => reply_entry(out, *id, fields),
            None => out.null(),
        }
        out.bulk(b"last-entry");
        match s.entries.iter().next_back() {
            Some((id, fields)) => reply_entry(out, *id, fields),
            None => out.null(),
        }
        return;
    }
    out.bulk(b"entries");
    reply_range(out, s, StreamId::MIN, StreamId::MAX, count, false);
    out.bulk(b"groups");
    out.array(s.groups.len());
    for (name, g) in &s.groups {
        out.map(7);
        out.bulk(b"name");
        out.bulk(name.as_bytes());
        out.bulk(b"last-delivered-id");
        reply_id(out, g.last_id);
        out.bulk(b"entries-read");
        reply_entries_read(out, g);
        out.bulk(b"lag");
        reply_lag(out, s, g);
        out.bulk(b"pel-count");
        out.int(g.pel.len() as i64);
        out.bulk(b"pending");
        let shown = g.pel.len().min(limit);
        out.array(shown);
        for (id, nack) in g.pel.iter().take(shown) {
            out.array(4);
            reply_id(out, *id);
            out.bulk(nack.consumer.as_bytes());
            out.int(nack.delivery_time_ms as i64);
            out.int(nack.delivery_count as i64);
        }
        out.bulk(b"consumers");
        out.array(g.consumers.len());
        for (cname, c) in &g.consumers {
            out.map(4);
            out.bulk(b"name");
            out.bulk(cname.as_bytes());
            out.bulk(b"seen-time");
            out.int(c.seen_time_ms as i64);
            out.bulk(b"pel-count");
            out.int(c.pending.len() as i64);
            out.bulk(b"pending");
            let shown = c.pending.len().min(limit);
            out.array(shown);
            for id in c.pending.iter().take(shown) {
                let (delivery_time_ms, deliveries) =
                    g.pel.get(id).map_or((0, 0), |n| (n.delivery_time_ms, n.delivery_count));
                out.array(3);
                reply_id(out, *id);
                out.int(delivery_time_ms as i64);
                out.int(deliveries as i64);
            }
        }
    }
}
