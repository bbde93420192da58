//! String commands: every command of Redis's `string` group (GET, SET and its variants,
//! counters, ranges, APPEND, LCS, MGET/MSET...).
//!
//! This module owns the exact replies and error texts of those commands (t_string.c in Redis
//! 7.0.15 is the specification) and the option parsing shared by SET and GETEX. It must never
//! allocate on the GET / plain SET path beyond what storing the value needs, and must never
//! panic on client input: every bad argument gets Redis's error reply.

use crate::args::{eq_ic, parse_i64};
use crate::ctx::Ctx;
use crate::errors;
use crate::notify::{NOTIFY_GENERIC, NOTIFY_STRING};
use crate::registry::{Kind, Registry};
use keyspace::{Sds, SlotTable, StrValue, Value};
use resp::ReplyBuf;

pub fn register(r: &mut Registry) {
    r.add("append", Kind::Data(append));
    r.add("decr", Kind::Data(decr));
    r.add("decrby", Kind::Data(decrby));
    r.add("get", Kind::Data(get));
    r.add("getdel", Kind::Data(getdel));
    r.add("getex", Kind::Data(getex));
    r.add("getrange", Kind::Data(getrange));
    r.add("getset", Kind::Data(getset));
    r.add("incr", Kind::Data(incr));
    r.add("incrby", Kind::Data(incrby));
    r.add("incrbyfloat", Kind::Data(incrbyfloat));
    r.add("lcs", Kind::Data(lcs));
    r.add("mget", Kind::Data(mget));
    r.add("mset", Kind::Data(mset));
    r.add("msetnx", Kind::Data(msetnx));
    r.add("psetex", Kind::Data(psetex));
    r.add("set", Kind::Data(set));
    r.add("setex", Kind::Data(setex));
    r.add("setnx", Kind::Data(setnx));
    r.add("setrange", Kind::Data(setrange));
    r.add("strlen", Kind::Data(strlen));
    r.add("substr", Kind::Data(getrange));
}

// ---------------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------------

/// Formats `n` in decimal into `buf`, returning the digits. Used instead of `to_string` so
/// replying an integer-encoded string does not allocate.
#[inline]
pub(crate) fn format_i64(n: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut v = n.unsigned_abs();
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if n < 0 {
        i -= 1;
        buf[i] = b'-';
    }
    &buf[i..]
}

/// Replies a string value as a bulk string.
#[inline]
pub(crate) fn reply_str(out: &mut ReplyBuf, v: &StrValue) {
    match v {
        StrValue::Raw(s) => out.bulk(s),
        StrValue::Int(n) => {
            let mut buf = [0u8; 20];
            out.bulk(format_i64(*n, &mut buf));
        }
    }
}

/// Redis's `checkStringLength`: a string of `len + extra` bytes must fit proto-max-bulk-len.
/// The sum is done in u64 so a huge offset cannot wrap around the check.
fn string_length_ok(config_max: i64, len: u64, extra: u64) -> bool {
    match len.checked_add(extra) {
        Some(total) => total <= config_max.max(0) as u64,
        None => false,
    }
}

/// `ERR invalid expire time in '<cmd>' command` (Redis's `addReplyErrorExpireTime`).
pub(crate) fn invalid_expire_error(cmd: &str) -> String {
    format!("ERR invalid expire time in '{cmd}' command")
}

/// How the expire argument of SET / GETEX / SETEX / PSETEX is to be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ExpireUnit {
    /// EX: seconds from now.
    Ex,
    /// PX: milliseconds from now.
    Px,
    /// EXAT: absolute Unix seconds.
    ExAt,
    /// PXAT: absolute Unix milliseconds.
    PxAt,
}

impl ExpireUnit {
    fn is_seconds(self) -> bool {
        matches!(self, ExpireUnit::Ex | ExpireUnit::ExAt)
    }
    fn is_relative(self) -> bool {
        matches!(self, ExpireUnit::Ex | ExpireUnit::Px)
    }
}

/// Redis's `getExpireMillisecondsOrReply`: turns the expire argument into an absolute Unix
/// time in ms. Zero and negative values are refused, and so is anything whose conversion to
/// ms or addition of "now" would overflow (Redis detects the wrapped result; we use checked
/// arithmetic, which refuses exactly the same inputs).
pub(crate) fn expire_arg_to_abs_ms(arg: &[u8], unit: ExpireUnit, now_ms: i64, cmd: &str) -> Result<i64, String> {
    let Some(mut v) = parse_i64(arg) else {
        return Err(errors::NOT_INTEGER.to_string());
    };
    if v <= 0 || (unit.is_seconds() && v > i64::MAX / 1000) {
        return Err(invalid_expire_error(cmd));
    }
    if unit.is_seconds() {
        v *= 1000;
    }
    if unit.is_relative() {
        v = match v.checked_add(now_ms) {
            Some(x) if x > 0 => x,
            _ => return Err(invalid_expire_error(cmd)),
        };
    }
    Ok(v)
}

/// NX / XX condition of SET.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SetCondition {
    Always,
    IfAbsent,
    IfPresent,
}

/// The options of SET (`COMMAND_SET`) or GETEX (`COMMAND_GET`), as Redis's
/// `parseExtendedStringArgumentsOrReply` accepts them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StringOptions<'a> {
    pub condition: SetCondition,
    pub get: bool,
    pub keep_ttl: bool,
    pub persist: bool,
    pub expire: Option<(ExpireUnit, &'a [u8])>,
}

/// Parses SET's options (`for_set`) or GETEX's. Mirrors Redis's rules exactly: an option that
/// conflicts with one already seen (NX after XX, PX after EX, KEEPTTL after EX...), an option
/// of the other command, or an expire keyword without a value is a syntax error; repeating a
/// compatible option (NX NX, EX 1 EX 2) is accepted and the last value wins.
pub(crate) fn parse_string_options<'a>(opts: &[&'a [u8]], for_set: bool) -> Result<StringOptions<'a>, &'static str> {
    let mut o =
        StringOptions { condition: SetCondition::Always, get: false, keep_ttl: false, persist: false, expire: None };
    let mut i = 0;
    while i < opts.len() {
        let opt = opts[i];
        let next = opts.get(i + 1).copied();
        let exp = o.expire.map(|(u, _)| u);
        let expire_ok = |unit: ExpireUnit| !o.keep_ttl && !o.persist && (exp.is_none() || exp == Some(unit));
        if for_set && eq_ic(opt, "nx") && o.condition != SetCondition::IfPresent {
            o.condition = SetCondition::IfAbsent;
        } else if for_set && eq_ic(opt, "xx") && o.condition != SetCondition::IfAbsent {
            o.condition = SetCondition::IfPresent;
        } else if for_set && eq_ic(opt, "get") {
            o.get = true;
        } else if for_set && eq_ic(opt, "keepttl") && !o.persist && exp.is_none() {
            o.keep_ttl = true;
        } else if !for_set && eq_ic(opt, "persist") && exp.is_none() && !o.keep_ttl {
            o.persist = true;
        } else if let (Some(unit), Some(value)) = (expire_keyword(opt), next) {
            if !expire_ok(unit) {
                return Err(errors::SYNTAX);
            }
            o.expire = Some((unit, value));
            i += 1;
        } else {
            return Err(errors::SYNTAX);
        }
        i += 1;
    }
    Ok(o)
}

fn expire_keyword(opt: &[u8]) -> Option<ExpireUnit> {
    if eq_ic(opt, "ex") {
        Some(ExpireUnit::Ex)
    } else if eq_ic(opt, "px") {
        Some(ExpireUnit::Px)
    } else if eq_ic(opt, "exat") {
        Some(ExpireUnit::ExAt)
    } else if eq_ic(opt, "pxat") {
        Some(ExpireUnit::PxAt)
    } else {
        None
    }
}

/// What a lookup of a key expected to hold a string found.
enum Found<'v> {
    Missing,
    WrongType,
    Str(&'v StrValue),
}

#[inline]
fn lookup_str<'t>(t: &'t mut SlotTable, key: &[u8], now_ms: i64) -> Found<'t> {
    match t.get(key, now_ms) {
        None => Found::Missing,
        Some(Value::Str(s)) => Found::Str(s),
        Some(_) => Found::WrongType,
    }
}

/// Redis's `getGenericCommand`: replies the value (or null); false if the key holds another
/// type (the WRONGTYPE error has then been replied).
fn reply_get(ctx: &mut Ctx<'_, '_>, key: &[u8]) -> bool {
    let t = ctx.locks.table(ctx.ks, ctx.db, key);
    match lookup_str(t, key, ctx.now_ms) {
        Found::Missing => ctx.out.null(),
        Found::Str(s) => reply_str(ctx.out, s),
        Found::WrongType => {
            ctx.out.error(errors::WRONGTYPE);
            return false;
        }
    }
    true
}

/// The bytes of a string value, moved out of it for in-place editing (APPEND, SETRANGE):
/// a heap string is taken without copying.
fn take_bytes(v: &mut StrValue) -> Vec<u8> {
    match std::mem::replace(v, StrValue::Int(0)) {
        StrValue::Raw(Sds::Heap(b)) => b.into_vec(),
        StrValue::Raw(s) => s.as_bytes().to_vec(),
        StrValue::Int(n) => {
            let mut buf = [0u8; 20];
            format_i64(n, &mut buf).to_vec()
        }
    }
}

/// Stores edited bytes back, keeping canonical integers as integers as SET does.
fn store_bytes(v: &mut StrValue, bytes: Vec<u8>) {
    *v = if bytes.len() <= 20 { StrValue::from_bytes(&bytes) } else { StrValue::Raw(Sds::from(bytes)) };
}

// ---------------------------------------------------------------------------------------------
// GET / SET family
// ---------------------------------------------------------------------------------------------

/// GET key
fn get(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let t = ctx.locks.table(ctx.ks, ctx.db, args[1]);
    match t.get(args[1], ctx.now_ms) {
        None => ctx.out.null(),
        Some(Value::Str(s)) => reply_str(ctx.out, s),
        Some(_) => ctx.out.error(errors::WRONGTYPE),
    }
}

/// SET key value [NX|XX] [GET] [EX s|PX ms|EXAT ts|PXAT ms-ts|KEEPTTL]
fn set(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    if args.len() == 3 {
        // The benchmark path: no options to parse, one table write.
        let t = ctx.locks.table(ctx.ks, ctx.db, args[1]);
        t.set(args[1], Value::string(args[2]));
        ctx.effects.dirty += 1;
        ctx.notify(NOTIFY_STRING, "set", args[1]);
        ctx.out.ok();
        return;
    }
    match parse_string_options(&args[3..], true) {
        Ok(opts) => set_generic(ctx, args[1], args[2], &opts, "set", SetReplies::OK_NULL),
        Err(e) => ctx.out.error(e),
    }
}

/// The replies of a SET variant when it sets or skips the key (`ok_reply` / `abort_reply`).
#[derive(Clone, Copy)]
struct SetReplies {
    set_int: bool,
}

impl SetReplies {
    const OK_NULL: SetReplies = SetReplies { set_int: false };
    const ONE_ZERO: SetReplies = SetReplies { set_int: true };
}

/// Redis's `setGenericCommand`: SET, SETNX, SETEX and PSETEX.
fn set_generic(ctx: &mut Ctx<'_, '_>, key: &[u8], value: &[u8], o: &StringOptions<'_>, cmd: &str, replies: SetReplies) {
    let now = ctx.now_ms;
    let mut expire_at_ms = None;
    if let Some((unit, arg)) = o.expire {
        match expire_arg_to_abs_ms(arg, unit, now, cmd) {
            Ok(ms) => expire_at_ms = Some(ms),
            Err(e) => return ctx.out.error(&e),
        }
    }
    if o.get && !reply_get(ctx, key) {
        return;
    }
    let t = ctx.locks.table(ctx.ks, ctx.db, key);
    let found = t.contains(key, now);
    if (o.condition == SetCondition::IfAbsent && found) || (o.condition == SetCondition::IfPresent && !found) {
        if !o.get {
            if replies.set_int {
                ctx.out.int(0);
            } else {
                ctx.out.null();
            }
        }
        return;
    }
    if o.keep_ttl {
        t.set_keep_ttl(key, Value::string(value));
    } else {
        t.set(key, Value::string(value));
    }
    if let Some(ms) = expire_at_ms {
        t.set_expire(key, ms);
        // Propagated with the absolute time, so a replay later sets the same deadline.
        ctx.propagate_as(|| {
            vec![b"SET".to_vec(), key.to_vec(), value.to_vec(), b"PXAT".to_vec(), ms.to_string().into_bytes()]
        });
    }
    ctx.effects.dirty += 1;
    ctx.notify(NOTIFY_STRING, "set", key);
    if expire_at_ms.is_some() {
        ctx.notify(NOTIFY_GENERIC, "expire", key);
    }
    if !o.get {
        if replies.set_int {
            ctx.out.int(1);
        } else {
            ctx.out.ok();
        }
    }
}

/// SETNX key value
fn setnx(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let o =
        StringOptions { condition: SetCondition::IfAbsent, get: false, keep_ttl: false, persist: false, expire: None };
    set_generic(ctx, args[1], args[2], &o, "setnx", SetReplies::ONE_ZERO);
}

/// SETEX key seconds value
fn setex(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let o = StringOptions {
        condition: SetCondition::Always,
        get: false,
        keep_ttl: false,
        persist: false,
        expire: Some((ExpireUnit::Ex, args[2])),
    };
    set_generic(ctx, args[1], args[3], &o, "setex", SetReplies::OK_NULL);
}

/// PSETEX key milliseconds value
fn psetex(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let o = StringOptions {
        condition: SetCondition::Always,
        get: false,
        keep_ttl: false,
        persist: false,
        expire: Some((ExpireUnit::Px, args[2])),
    };
    set_generic(ctx, args[1], args[3], &o, "psetex", SetReplies::OK_NULL);
}

/// GETEX key [EX s|PX ms|EXAT ts|PXAT ms-ts|PERSIST]
fn getex(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let o = match parse_string_options(&args[2..], false) {
        Ok(o) => o,
        Err(e) => return ctx.out.error(e),
    };
    let key = args[1];
    let now = ctx.now_ms;
    let t = ctx.locks.table(ctx.ks, ctx.db, key);
    let s = match lookup_str(t, key, now) {
        Found::Missing => return ctx.out.null(),
        Found::WrongType => return ctx.out.error(errors::WRONGTYPE),
        Found::Str(s) => s,
    };
    // The expire value is validated only once the key is known to exist, as in Redis.
    let mut expire_at_ms = None;
    if let Some((unit, arg)) = o.expire {
        match expire_arg_to_abs_ms(arg, unit, now, "getex") {
            Ok(ms) => expire_at_ms = Some((unit, ms)),
            Err(e) => return ctx.out.error(&e),
        }
    }
    reply_str(ctx.out, s);
    match expire_at_ms {
        // An absolute time already past deletes the key (relative ones are always future).
        Some((unit, ms)) if !unit.is_relative() && crate::ctx::already_expired(ms, now) => {
            t.remove(key, now);
            ctx.effects.dirty += 1;
            ctx.propagate_del(key, ctx.config.lazyfree_lazy_expire);
            ctx.notify(NOTIFY_GENERIC, "del", key);
        }
        Some((_, ms)) => {
            t.set_expire(key, ms);
            ctx.effects.dirty += 1;
            ctx.propagate_as(|| vec![b"PEXPIREAT".to_vec(), key.to_vec(), ms.to_string().into_bytes()]);
            ctx.notify(NOTIFY_GENERIC, "expire", key);
        }
        None => {
            if o.persist && t.persist(key) {
                ctx.effects.dirty += 1;
                ctx.propagate_as(|| vec![b"PERSIST".to_vec(), key.to_vec()]);
                ctx.notify(NOTIFY_GENERIC, "persist", key);
            }
        }
    }
}

/// GETDEL key
fn getdel(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let key = args[1];
    let now = ctx.now_ms;
    let t = ctx.locks.table(ctx.ks, ctx.db, key);
    match lookup_str(t, key, now) {
        Found::Missing => ctx.out.null(),
        Found::WrongType => ctx.out.error(errors::WRONGTYPE),
        Found::Str(s) => {
            reply_str(ctx.out, s);
            t.remove(key, now);
            ctx.effects.dirty += 1;
            ctx.propagate_del(key, ctx.config.lazyfree_lazy_user_del);
            ctx.notify(NOTIFY_GENERIC, "del", key);
        }
    }
}

/// GETSET key value
fn getset(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    if !reply_get(ctx, args[1]) {
        return;
    }
    let t = ctx.locks.table(ctx.ks, ctx.db, args[1]);
    t.set(args[1], Value::string(args[2]));
    ctx.effects.dirty += 1;
    ctx.propagate_as(|| vec![b"SET".to_vec(), args[1].to_vec(), args[2].to_vec()]);
    ctx.notify(NOTIFY_STRING, "set", args[1]);
}

/// MGET key [key ...]: null for missing keys and for keys of another type.
fn mget(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let now = ctx.now_ms;
    ctx.out.array(args.len() - 1);
    for key in &args[1..] {
        let t = ctx.locks.table(ctx.ks, ctx.db, key);
        match t.get(key, now) {
            Some(Value::Str(s)) => reply_str(ctx.out, s),
            _ => ctx.out.null(),
        }
    }
}

/// MSET key value [key value ...]
fn mset(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    mset_generic(ctx, args, false);
}

/// MSETNX key value [key value ...]: sets all or none.
fn msetnx(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    mset_generic(ctx, args, true);
}

fn mset_generic(ctx: &mut Ctx<'_, '_>, args: &[&[u8]], nx: bool) {
    if args.len().is_multiple_of(2) {
        let name = if nx { "msetnx" } else { "mset" };
        return ctx.out.error(&errors::wrong_arity(name));
    }
    let now = ctx.now_ms;
    if nx {
        for pair in args[1..].chunks_exact(2) {
            if ctx.locks.table(ctx.ks, ctx.db, pair[0]).contains(pair[0], now) {
                return ctx.out.int(0);
            }
        }
    }
    for pair in args[1..].chunks_exact(2) {
        ctx.locks.table(ctx.ks, ctx.db, pair[0]).set(pair[0], Value::string(pair[1]));
        // Per key, right after it is stored: its `new` event, then its `set`, as Redis orders them.
        ctx.notify(NOTIFY_STRING, "set", pair[0]);
    }
    ctx.effects.dirty += (args.len() as u64 - 1) / 2;
    if nx {
        ctx.out.int(1);
    } else {
        ctx.out.ok();
    }
}

// ---------------------------------------------------------------------------------------------
// Counters
// ---------------------------------------------------------------------------------------------

/// INCR key
fn incr(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    incr_decr(ctx, args[1], 1);
}

/// DECR key
fn decr(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    incr_decr(ctx, args[1], -1);
}

/// INCRBY key increment
fn incrby(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    match parse_i64(args[2]) {
        Some(by) => incr_decr(ctx, args[1], by),
        None => ctx.out.error(errors::NOT_INTEGER),
    }
}

/// DECRBY key decrement
fn decrby(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    match parse_i64(args[2]) {
        // Negating i64::MIN is not representable.
        Some(i64::MIN) => ctx.out.error("ERR decrement would overflow"),
        Some(by) => incr_decr(ctx, args[1], -by),
        None => ctx.out.error(errors::NOT_INTEGER),
    }
}

/// Redis's `incrDecrCommand`. A missing key counts as 0; the key's TTL is kept.
fn incr_decr(ctx: &mut Ctx<'_, '_>, key: &[u8], by: i64) {
    let t = ctx.locks.table(ctx.ks, ctx.db, key);
    let slot = t.get_mut(key, ctx.now_ms);
    let current = match &slot {
        None => 0,
        Some(Value::Str(StrValue::Int(n))) => *n,
        Some(Value::Str(StrValue::Raw(s))) => match parse_i64(s) {
            Some(n) => n,
            None => return ctx.out.error(errors::NOT_INTEGER),
        },
        Some(_) => return ctx.out.error(errors::WRONGTYPE),
    };
    let Some(value) = current.checked_add(by) else {
        return ctx.out.error(errors::OVERFLOW);
    };
    match slot {
        Some(v) => *v = Value::Str(StrValue::Int(value)),
        None => t.set(key, Value::Str(StrValue::Int(value))),
    }
    ctx.effects.dirty += 1;
    ctx.notify(NOTIFY_STRING, "incrby", key);
    ctx.out.int(value);
}

/// INCRBYFLOAT key increment
///
/// Computed exactly as Redis does on x86-64: both operands parsed by `strtold` into 80-bit long
/// doubles, added, and the sum printed with `%.17Lf` minus trailing zeros (see [`long_double`]).
/// The key's TTL is kept.
fn incrbyfloat(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    use crate::long_double::{self, F80};
    let key = args[1];
    let t = ctx.locks.table(ctx.ks, ctx.db, key);
    let slot = t.get_mut(key, ctx.now_ms);
    let current = match &slot {
        None => Some(F80::Zero { neg: false }),
        Some(Value::Str(StrValue::Int(n))) => Some(F80::from_i64(*n)),
        Some(Value::Str(StrValue::Raw(s))) => long_double::parse(s),
        Some(_) => return ctx.out.error(errors::WRONGTYPE),
    };
    let (Some(current), Some(by)) = (current, long_double::parse(args[2])) else {
        return ctx.out.error(errors::NOT_FLOAT);
    };
    let value = match long_double::add(current, by) {
        Some(v) if v.is_finite() => v,
        _ => return ctx.out.error(errors::NAN_OR_INFINITY),
    };
    let text = long_double::format_human(value);
    let new = Value::string(text.as_bytes());
    match slot {
        Some(v) => *v = new,
        None => t.set(key, new),
    }
    ctx.effects.dirty += 1;
    // The result, not the increment: float formatting can never make a replay differ.
    ctx.propagate_as(|| vec![b"SET".to_vec(), key.to_vec(), text.as_bytes().to_vec(), b"KEEPTTL".to_vec()]);
    ctx.notify(NOTIFY_STRING, "incrbyfloat", key);
    ctx.out.bulk(text.as_bytes());
}

// ---------------------------------------------------------------------------------------------
// Ranges, APPEND, STRLEN
// ---------------------------------------------------------------------------------------------

/// APPEND key value
fn append(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (key, tail) = (args[1], args[2]);
    let max = ctx.config.proto_max_bulk_len;
    let t = ctx.locks.table(ctx.ks, ctx.db, key);
    let total = match t.get_mut(key, ctx.now_ms) {
        None => {
            // Creating the key is not length-checked: the argument already fit the protocol.
            t.set(key, Value::string(tail));
            tail.len()
        }
        Some(Value::Str(s)) => {
            if !string_length_ok(max, s.len() as u64, tail.len() as u64) {
                return ctx.out.error(errors::STRING_TOO_LONG);
            }
            let mut bytes = take_bytes(s);
            bytes.extend_from_slice(tail);
            let total = bytes.len();
            store_bytes(s, bytes);
            total
        }
        Some(_) => return ctx.out.error(errors::WRONGTYPE),
    };
    ctx.effects.dirty += 1;
    ctx.notify(NOTIFY_STRING, "append", key);
    ctx.out.int(total as i64);
}

/// STRLEN key
fn strlen(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let t = ctx.locks.table(ctx.ks, ctx.db, args[1]);
    match lookup_str(t, args[1], ctx.now_ms) {
        Found::Missing => ctx.out.int(0),
        Found::WrongType => ctx.out.error(errors::WRONGTYPE),
        Found::Str(s) => ctx.out.int(s.len() as i64),
    }
}

/// SETRANGE key offset value
fn setrange(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (key, value) = (args[1], args[3]);
    let Some(offset) = parse_i64(args[2]) else {
        return ctx.out.error(errors::NOT_INTEGER);
    };
    if offset < 0 {
        return ctx.out.error("ERR offset is out of range");
    }
    let offset = offset as u64;
    let max = ctx.config.proto_max_bulk_len;
    let t = ctx.locks.table(ctx.ks, ctx.db, key);
    let new_len = match t.get_mut(key, ctx.now_ms) {
        None => {
            if value.is_empty() {
                return ctx.out.int(0);
            }
            if !string_length_ok(max, offset, value.len() as u64) {
                return ctx.out.error(errors::STRING_TOO_LONG);
            }
            // Fits proto-max-bulk-len, hence usize.
            let start = offset as usize;
            let mut bytes = vec![0u8; start + value.len()];
            bytes[start..].copy_from_slice(value);
            let len = bytes.len();
            t.set(key, Value::Str(StrValue::Raw(Sds::from(bytes))));
            len
        }
        Some(Value::Str(s)) => {
            if value.is_empty() {
                return ctx.out.int(s.len() as i64);
            }
            if !string_length_ok(max, offset, value.len() as u64) {
                return ctx.out.error(errors::STRING_TOO_LONG);
            }
            let start = offset as usize;
            let mut bytes = take_bytes(s);
            if bytes.len() < start + value.len() {
                bytes.resize(start + value.len(), 0);
            }
            bytes[start..start + value.len()].copy_from_slice(value);
            let len = bytes.len();
            store_bytes(s, bytes);
            len
        }
        Some(_) => return ctx.out.error(errors::WRONGTYPE),
    };
    ctx.effects.dirty += 1;
    ctx.notify(NOTIFY_STRING, "setrange", key);
    ctx.out.int(new_len as i64);
}

/// The byte range GETRANGE returns for a string of `len` bytes, per Redis's index rules
/// (negative indexes count from the end, both ends clamped, empty when inverted).
pub(crate) fn getrange_bounds(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    if start < 0 && end < 0 && start > end {
        return None;
    }
    let mut start = if start < 0 { len.saturating_add(start) } else { start };
    let mut end = if end < 0 { len.saturating_add(end) } else { end };
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if start > end || len == 0 {
        return None;
    }
    Some((start as usize, end as usize + 1))
}

/// GETRANGE key start end (and SUBSTR, its old name)
fn getrange(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (Some(start), Some(end)) = (parse_i64(args[2]), parse_i64(args[3])) else {
        return ctx.out.error(errors::NOT_INTEGER);
    };
    let t = ctx.locks.table(ctx.ks, ctx.db, args[1]);
    let s = match lookup_str(t, args[1], ctx.now_ms) {
        Found::Missing => return ctx.out.bulk(b""),
        Found::WrongType => return ctx.out.error(errors::WRONGTYPE),
        Found::Str(s) => s,
    };
    let mut buf = [0u8; 20];
    let bytes: &[u8] = match s {
        StrValue::Raw(r) => r,
        StrValue::Int(n) => format_i64(*n, &mut buf),
    };
    match getrange_bounds(start, end, bytes.len()) {
        Some((a, b)) => ctx.out.bulk(&bytes[a..b]),
        None => ctx.out.bulk(b""),
    }
}

// ---------------------------------------------------------------------------------------------
// LCS
// ---------------------------------------------------------------------------------------------

/// One common run found by LCS IDX: inclusive ranges in each string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LcsMatch {
    pub a: (u32, u32),
    pub b: (u32, u32),
}

impl LcsMatch {
    fn len(&self) -> u32 {
        self.a.1 - self.a.0 + 1
    }
}

/// The LCS of `a` and `b` by dynamic programming, with the matching runs listed from the end
/// of the strings backwards, as Redis's backtracking emits them. `table` is the caller-checked
/// (len(a)+1)*(len(b)+1) work area.
fn lcs_compute(a: &[u8], b: &[u8], table: &mut [u32], want_string: bool) -> (u32, Vec<u8>, Vec<LcsMatch>) {
    let (alen, blen) = (a.len(), b.len());
    let w = blen + 1;
    for i in 0..=alen {
        for j in 0..=blen {
            table[i * w + j] = if i == 0 || j == 0 {
                0
            } else if a[i - 1] == b[j - 1] {
                table[(i - 1) * w + (j - 1)] + 1
            } else {
                table[(i - 1) * w + j].max(table[i * w + (j - 1)])
            };
        }
    }
    let total = table[alen * w + blen];
    if !want_string {
        return (total, Vec::new(), Vec::new());
    }
    let mut result = vec![0u8; total as usize];
    let mut matches = Vec::new();
    let mut idx = total as usize;
    let (mut i, mut j) = (alen, blen);
    // The run being extended backwards, if any.
    let mut run: Option<LcsMatch> = None;
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            result[idx - 1] = a[i - 1];
            let (ai, bj) = ((i - 1) as u32, (j - 1) as u32);
            match &mut run {
                None => run = Some(LcsMatch { a: (ai, ai), b: (bj, bj) }),
                Some(r) if r.a.0 == ai + 1 && r.b.0 == bj + 1 => {
                    r.a.0 = ai;
                    r.b.0 = bj;
                }
                Some(_) => emit = true,
            }
            if let Some(r) = &run {
                if r.a.0 == 0 || r.b.0 == 0 {
                    emit = true;
                }
            }
            idx -= 1;
            i -= 1;
            j -= 1;
        } else {
            if table[(i - 1) * w + j] > table[i * w + (j - 1)] {
                i -= 1;
            } else {
                j -= 1;
            }
            if run.is_some() {
                emit = true;
            }
        }
        if emit {
            if let Some(r) = run.take() {
                matches.push(r);
            }
        }
    }
    (total, result, matches)
}

/// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]
fn lcs(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let now = ctx.now_ms;
    let mut strings: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
    for (n, key) in args[1..3].iter().enumerate() {
        let t = ctx.locks.table(ctx.ks, ctx.db, key);
        match t.get(key, now) {
            None => {}
            Some(Value::Str(s)) => strings[n] = s.to_vec(),
            Some(_) => return ctx.out.error("ERR The specified keys must contain string values"),
        }
    }
    let (mut get_len, mut get_idx, mut with_match_len) = (false, false, false);
    let mut min_match_len: i64 = 0;
    let mut j = 3;
    while j < args.len() {
        let opt = args[j];
        if eq_ic(opt, "idx") {
            get_idx = true;
        } else if eq_ic(opt, "len") {
            get_len = true;
        } else if eq_ic(opt, "withmatchlen") {
            with_match_len = true;
        } else if eq_ic(opt, "minmatchlen") && j + 1 < args.len() {
            match parse_i64(args[j + 1]) {
                Some(n) => min_match_len = n.max(0),
                None => return ctx.out.error(errors::NOT_INTEGER),
            }
            j += 1;
        } else {
            return ctx.out.error(errors::SYNTAX);
        }
        j += 1;
    }
    if get_len && get_idx {
        return ctx.out.error("ERR If you want both the length and indexes, please just use IDX.");
    }
    let [a, b] = &strings;
    if a.len() as u64 >= u32::MAX as u64 - 1 || b.len() as u64 >= u32::MAX as u64 - 1 {
        return ctx.out.error("ERR String too long for LCS");
    }
    let cells = (a.len() as u64 + 1) * (b.len() as u64 + 1);
    let bytes = cells.checked_mul(4);
    if matches!(bytes, Some(n) if n > ctx.config.proto_max_bulk_len.max(0) as u64) {
        return ctx.out.error("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");
    }
    let mut table: Vec<u32> = Vec::new();
    let fits = usize::try_from(cells).ok().filter(|_| bytes.is_some());
    if fits.is_none_or(|n| table.try_reserve_exact(n).is_err()) {
        return ctx.out.error("ERR Insufficient memory, failed allocating transient memory for LCS");
    }
    table.resize(cells as usize, 0);
    let (total, result, matches) = lcs_compute(a, b, &mut table, get_idx || !get_len);
    if get_idx {
        let keep: Vec<&LcsMatch> =
            matches.iter().filter(|m| min_match_len == 0 || m.len() as i64 >= min_match_len).collect();
        ctx.out.map(2);
        ctx.out.bulk(b"matches");
        ctx.out.array(keep.len());
        for m in keep {
            ctx.out.array(if with_match_len { 3 } else { 2 });
            ctx.out.array(2);
            ctx.out.int(m.a.0 as i64);
            ctx.out.int(m.a.1 as i64);
            ctx.out.array(2);
            ctx.out.int(m.b.0 as i64);
            ctx.out.int(m.b.1 as i64);
            if with_match_len {
                ctx.out.int(m.len() as i64);
            }
        }
        ctx.out.bulk(b"len");
        ctx.out.int(total as i64);
    } else if get_len {
        ctx.out.int(total as i64);
    } else {
        ctx.out.bulk(&result);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctx::{DataConfig, Effects};
    use keyspace::{Keyspace, LockSet};

    const NOW: i64 = 1_700_000_000_000;

    /// Runs commands against one keyspace, returning each reply's bytes.
    struct Harness {
        ks: Keyspace,
        config: DataConfig,
        dirty: u64,
    }

    impl Harness {
        fn new() -> Self {
            Harness { ks: Keyspace::new(16), config: DataConfig::default(), dirty: 0 }
        }

        fn run(&mut self, cmd: &[&str]) -> String {
            let args: Vec<&[u8]> = cmd.iter().map(|s| s.as_bytes()).collect();
            self.run_bytes(&args)
        }

        fn run_bytes(&mut self, args: &[&[u8]]) -> String {
            let registry = Registry::with_data_commands();
            let entry = match registry.lookup(args) {
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
                db: 0,
                now_ms: NOW,
                out: &mut out,
                effects: &mut effects,
                config: &self.config,
                may_block: true,
            };
            handler(&mut ctx, args);
            self.dirty += effects.dirty;
            String::from_utf8_lossy(&out.buf).into_owned()
        }

        fn expire_of(&mut self, key: &str) -> Option<i64> {
            let mut locks = LockSet::new();
            locks.table(&self.ks, 0, key.as_bytes()).expire_at(key.as_bytes())
        }
    }

    #[test]
    fn format_i64_edges() {
        let mut buf = [0u8; 20];
        for n in [0, 1, -1, 9, 10, -10, i64::MAX, i64::MIN, 1234567890] {
            assert_eq!(format_i64(n, &mut buf), n.to_string().as_bytes());
        }
    }

    #[test]
    fn set_option_parsing_follows_redis() {
        let p = |s: &[&str]| {
            let v: Vec<&[u8]> = s.iter().map(|x| x.as_bytes()).collect();
            parse_string_options(&v, true).map(|o| (o.condition, o.get, o.keep_ttl, o.expire.map(|e| e.0)))
        };
        assert_eq!(p(&["nx"]), Ok((SetCondition::IfAbsent, false, false, None)));
        assert_eq!(p(&["NX", "nx"]), Ok((SetCondition::IfAbsent, false, false, None)));
        assert_eq!(p(&["nx", "xx"]), Err(errors::SYNTAX));
        assert_eq!(p(&["xx", "NX"]), Err(errors::SYNTAX));
        assert_eq!(p(&["get", "xx", "Get"]), Ok((SetCondition::IfPresent, true, false, None)));
        assert_eq!(p(&["ex", "1", "ex", "2"]), Ok((SetCondition::Always, false, false, Some(ExpireUnit::Ex))));
        assert_eq!(p(&["ex", "1", "px", "2"]), Err(errors::SYNTAX));
        assert_eq!(p(&["pxat", "1", "exat", "2"]), Err(errors::SYNTAX));
        assert_eq!(p(&["keepttl", "ex", "2"]), Err(errors::SYNTAX));
        assert_eq!(p(&["ex", "2", "keepttl"]), Err(errors::SYNTAX));
        assert_eq!(p(&["ex"]), Err(errors::SYNTAX));
        assert_eq!(p(&["persist"]), Err(errors::SYNTAX));
        assert_eq!(p(&["nxx"]), Err(errors::SYNTAX));
        // The expire value is not validated during parsing.
        assert_eq!(p(&["px", "abc"]), Ok((SetCondition::Always, false, false, Some(ExpireUnit::Px))));
        let g = |s: &[&str]| {
            let v: Vec<&[u8]> = s.iter().map(|x| x.as_bytes()).collect();
            parse_string_options(&v, false).map(|o| (o.persist, o.expire.map(|e| e.0)))
        };
        assert_eq!(g(&["persist"]), Ok((true, None)));
        assert_eq!(g(&["persist", "ex", "1"]), Err(errors::SYNTAX));
        assert_eq!(g(&["ex", "1", "persist"]), Err(errors::SYNTAX));
        assert_eq!(g(&["nx"]), Err(errors::SYNTAX));
        assert_eq!(g(&["get"]), Err(errors::SYNTAX));
        assert_eq!(g(&["keepttl"]), Err(errors::SYNTAX));
        assert_eq!(g(&["exat", "5"]), Ok((false, Some(ExpireUnit::ExAt))));
    }

    #[test]
    fn expire_argument_overflow_checks() {
        let f = |arg: &str, unit| expire_arg_to_abs_ms(arg.as_bytes(), unit, NOW, "set");
        let bad = Err("ERR invalid expire time in 'set' command".to_string());
        assert_eq!(f("0", ExpireUnit::Ex), bad);
        assert_eq!(f("-5", ExpireUnit::Px), bad);
        assert_eq!(f("x", ExpireUnit::Px), Err(errors::NOT_INTEGER.to_string()));
        assert_eq!(f("9223372036854775", ExpireUnit::ExAt), Ok(9223372036854775000));
        assert_eq!(f("9223372036854776", ExpireUnit::ExAt), bad);
        assert_eq!(f("9223372036854775807", ExpireUnit::PxAt), Ok(i64::MAX));
        // Adding "now" overflows.
        assert_eq!(f("9223372036854775807", ExpireUnit::Px), bad);
        assert_eq!(f("9223372036854775", ExpireUnit::Ex), bad);
        assert_eq!(f("10", ExpireUnit::Ex), Ok(NOW + 10_000));
        assert_eq!(f("10", ExpireUnit::Px), Ok(NOW + 10));
    }

    #[test]
    fn set_with_options_end_to_end() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["set", "k", "v", "xx"]), "$-1\r\n");
        assert_eq!(h.run(&["set", "k", "v", "nx", "get"]), "$-1\r\n");
        assert_eq!(h.run(&["set", "k", "w", "nx", "get"]), "$1\r\nv\r\n");
        assert_eq!(h.run(&["get", "k"]), "$1\r\nv\r\n");
        assert_eq!(h.run(&["set", "k", "w", "get", "px", "5000"]), "$1\r\nv\r\n");
        assert_eq!(h.expire_of("k"), Some(NOW + 5000));
        assert_eq!(h.run(&["set", "k", "x", "keepttl"]), "+OK\r\n");
        assert_eq!(h.expire_of("k"), Some(NOW + 5000));
        assert_eq!(h.run(&["set", "k", "y"]), "+OK\r\n");
        assert_eq!(h.expire_of("k"), None);
        assert_eq!(h.run(&["set", "k", "y", "ex", "0"]), "-ERR invalid expire time in 'set' command\r\n");
        assert_eq!(h.run(&["setex", "k", "-1", "y"]), "-ERR invalid expire time in 'setex' command\r\n");
        assert_eq!(h.run(&["psetex", "k", "0", "y"]), "-ERR invalid expire time in 'psetex' command\r\n");
        assert_eq!(h.run(&["set", "k", "y", "ex", "1a"]), "-ERR value is not an integer or out of range\r\n");
        // Expire errors come before the type check of GET.
        h.run(&["set", "k", "1"]);
        assert_eq!(h.run(&["set", "k", "2", "get", "ex", "1"]), "$1\r\n1\r\n");
        assert_eq!(h.run(&["setnx", "k", "3"]), ":0\r\n");
        assert_eq!(h.run(&["setnx", "k2", "3"]), ":1\r\n");
        // An absolute time in the past is stored: the key is then simply gone.
        assert_eq!(h.run(&["set", "k", "2", "pxat", "1"]), "+OK\r\n");
        assert_eq!(h.run(&["get", "k"]), "$-1\r\n");
    }

    #[test]
    fn getex_expire_and_persist() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["getex", "k", "ex", "0"]), "$-1\r\n", "no key: no validation");
        h.run(&["set", "k", "v"]);
        assert_eq!(h.run(&["getex", "k", "ex", "0"]), "-ERR invalid expire time in 'getex' command\r\n");
        let d = h.dirty;
        assert_eq!(h.run(&["getex", "k", "persist"]), "$1\r\nv\r\n");
        assert_eq!(h.dirty, d, "persist without a TTL changes nothing");
        assert_eq!(h.run(&["getex", "k", "px", "100"]), "$1\r\nv\r\n");
        assert_eq!(h.expire_of("k"), Some(NOW + 100));
        assert_eq!(h.run(&["getex", "k", "persist"]), "$1\r\nv\r\n");
        assert_eq!(h.expire_of("k"), None);
        assert_eq!(h.run(&["getex", "k", "exat", "1"]), "$1\r\nv\r\n");
        assert_eq!(h.run(&["exists", "k"]), ":0\r\n");
    }

    #[test]
    fn counters_and_overflow() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["incr", "n"]), ":1\r\n");
        assert_eq!(h.run(&["incrby", "n", "-11"]), ":-10\r\n");
        assert_eq!(h.run(&["decrby", "n", "-9223372036854775808"]), "-ERR decrement would overflow\r\n");
        h.run(&["set", "n", "9223372036854775806"]);
        assert_eq!(h.run(&["incr", "n"]), ":9223372036854775807\r\n");
        assert_eq!(h.run(&["incr", "n"]), "-ERR increment or decrement would overflow\r\n");
        h.run(&["set", "n", " 1"]);
        assert_eq!(h.run(&["incr", "n"]), "-ERR value is not an integer or out of range\r\n");
        h.run(&["set", "n", "5"]);
        h.run(&["pexpire", "n", "1000"]);
        assert_eq!(h.run(&["decr", "n"]), ":4\r\n");
        assert_eq!(h.expire_of("n"), Some(NOW + 1000), "INCR keeps the TTL");
        assert_eq!(h.run(&["incrbyfloat", "n", "1.5"]), "$3\r\n5.5\r\n");
        assert_eq!(h.expire_of("n"), Some(NOW + 1000), "INCRBYFLOAT keeps the TTL");
        assert_eq!(h.run(&["incrbyfloat", "n", "abc"]), "-ERR value is not a valid float\r\n");
        assert_eq!(h.run(&["incrbyfloat", "n", "inf"]), "-ERR increment would produce NaN or Infinity\r\n");
        assert_eq!(h.run(&["incr", "n"]), "-ERR value is not an integer or out of range\r\n");
    }

    #[test]
    fn getrange_bounds_like_redis() {
        assert_eq!(getrange_bounds(0, -1, 5), Some((0, 5)));
        assert_eq!(getrange_bounds(-3, -1, 5), Some((2, 5)));
        assert_eq!(getrange_bounds(-1, -3, 5), None);
        assert_eq!(getrange_bounds(3, 1, 5), None);
        assert_eq!(getrange_bounds(0, 100, 5), Some((0, 5)));
        assert_eq!(getrange_bounds(-100, 0, 5), Some((0, 1)));
        assert_eq!(getrange_bounds(0, 0, 0), None);
        assert_eq!(getrange_bounds(i64::MIN, i64::MAX, 5), Some((0, 5)));
        assert_eq!(getrange_bounds(5, 10, 5), None);
    }

    #[test]
    fn lcs_matches_redis_example() {
        // The example from Redis's documentation.
        let mut h = Harness::new();
        h.run(&["mset", "key1", "ohmytext", "key2", "mynewtext"]);
        assert_eq!(h.run(&["lcs", "key1", "key2"]), "$6\r\nmytext\r\n");
        assert_eq!(h.run(&["lcs", "key1", "key2", "len"]), ":6\r\n");
        assert_eq!(
            h.run(&["lcs", "key1", "key2", "idx", "minmatchlen", "4", "withmatchlen"]),
            "*4\r\n$7\r\nmatches\r\n*1\r\n*3\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n:4\r\n$3\r\nlen\r\n:6\r\n"
        );
        assert_eq!(
            h.run(&["lcs", "key1", "key2", "idx"]),
            "*4\r\n$7\r\nmatches\r\n*2\r\n*2\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n*2\r\n*2\r\n:2\r\n:3\r\n*2\r\n:0\r\n:1\r\n$3\r\nlen\r\n:6\r\n"
        );
    }
}
