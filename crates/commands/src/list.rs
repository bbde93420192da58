//! The `list` command group: LPUSH, RPUSH, LPOP, LRANGE, LPOS, LMOVE, the blocking pops and the
//! rest, with Redis 7.0.15's replies and errors.
//!
//! A list is a `VecDeque<Sds>`. This module never leaves an empty list behind (a list that
//! becomes empty is deleted, so an existing list key is never empty) and never waits.
//!
//! Every command that adds elements reports the key with `ctx.signal_ready`. Redis signals only
//! when a list key is created (`dbAdd`), because a client can only be blocked on a missing key;
//! here a client registers its wait after its command released the slot lock, so a push to a
//! key that already exists may be the one it is waiting for. Signalling every addition is a
//! superset that costs the server one failed lookup when nobody waits.
//!
//! Blocking commands with nothing to serve either ask the server to park the client
//! (`ctx.effects.block`, writing nothing) or, when blocking is not allowed (MULTI, or a re-run
//! for a woken client), reply what Redis replies to a client that may not block. They are
//! re-runnable: the server runs the same command again when a key it waits on is signalled.
//!
//! This module also holds the argument helpers the sorted-set commands share: the blocking
//! timeout (`parse_timeout_ms`), C's number syntax, ranged integers with Redis's messages, the
//! multi-key pop arguments and the blocking decision (`block_or_deny`). It never reads a clock
//! (`ctx.now_ms` is "now").

use crate::args::{eq_ic, parse_i64};
use crate::ctx::{BlockRequest, Ctx};
use crate::errors;
use crate::notify::{NOTIFY_GENERIC, NOTIFY_LIST};
use crate::registry::{Kind, Registry};
use keyspace::{Sds, SlotTable, Value};
use resp::ReplyBuf;
use std::collections::VecDeque;

type List = VecDeque<Sds>;

pub fn register(r: &mut Registry) {
    r.add("lpush", Kind::Data(lpush));
    r.add("rpush", Kind::Data(rpush));
    r.add("lpushx", Kind::Data(lpushx));
    r.add("rpushx", Kind::Data(rpushx));
    r.add("linsert", Kind::Data(linsert));
    r.add("llen", Kind::Data(llen));
    r.add("lindex", Kind::Data(lindex));
    r.add("lset", Kind::Data(lset));
    r.add("lpop", Kind::Data(lpop));
    r.add("rpop", Kind::Data(rpop));
    r.add("lrange", Kind::Data(lrange));
    r.add("ltrim", Kind::Data(ltrim));
    r.add("lpos", Kind::Data(lpos));
    r.add("lrem", Kind::Data(lrem));
    r.add("lmove", Kind::Data(lmove));
    r.add("rpoplpush", Kind::Data(rpoplpush));
    r.add("lmpop", Kind::Data(lmpop));
    r.add("blpop", Kind::Data(blpop));
    r.add("brpop", Kind::Data(brpop));
    r.add("blmove", Kind::Data(blmove));
    r.add("brpoplpush", Kind::Data(brpoplpush));
    r.add("blmpop", Kind::Data(blmpop));
}

// ---------------------------------------------------------------------------------------------
// Helpers shared with the sorted-set commands.
// ---------------------------------------------------------------------------------------------

/// Marker for "the key holds a value of another type".
pub(crate) struct WrongType;

/// Redis's `getRangeLongFromObjectOrReply`: an integer within `[min, max]`. With `msg`, both a
/// non-integer and an out-of-range value get `ERR <msg>`; without it they get Redis's generic
/// texts.
pub(crate) fn range_long_or_reply(
    out: &mut ReplyBuf,
    arg: &[u8],
    min: i64,
    max: i64,
    msg: Option<&str>,
) -> Option<i64> {
    match parse_i64(arg) {
        Some(v) if v >= min && v <= max => Some(v),
        parsed => {
            match (msg, parsed) {
                (Some(m), _) => out.error(&format!("ERR {m}")),
                (None, None) => out.error(errors::NOT_INTEGER),
                (None, Some(_)) => out.error(&format!("ERR value is out of range, value must between {min} and {max}")),
            }
            None
        }
    }
}

/// Redis's `getPositiveLongFromObjectOrReply`: `msg` defaults to "value is out of range, must be
/// positive" and is used for a non-integer too.
pub(crate) fn positive_long_or_reply(out: &mut ReplyBuf, arg: &[u8], msg: Option<&str>) -> Option<i64> {
    range_long_or_reply(out, arg, 0, i64::MAX, Some(msg.unwrap_or("value is out of range, must be positive")))
}

/// `getLongFromObjectOrReply` with the default message.
pub(crate) fn long_or_reply(out: &mut ReplyBuf, arg: &[u8]) -> Option<i64> {
    let v = parse_i64(arg);
    if v.is_none() {
        out.error(errors::NOT_INTEGER);
    }
    v
}

/// Parses a blocking command's timeout exactly as Redis 7.0 does (`getTimeoutFromObjectOrReply`
/// in seconds): `strtold` syntax (decimal, hex, `inf`), no leading space, nothing left over,
/// then `(long long) ceil(seconds * 1000)`. Returns the relative timeout in ms (0 = forever) or
/// the error text.
///
/// Redis multiplies in 80-bit long double; for decimal input we compute `ceil(value * 1000)`
/// exactly from the digits (long double agrees for any timeout a person writes), for hex input
/// in f64. A product outside the i64 range converts to `LLONG_MIN` on x86, so Redis calls it
/// negative, and so do we. A magnitude beyond long double's range is "not a float".
pub(crate) fn parse_timeout_ms(arg: &[u8]) -> Result<i64, &'static str> {
    const NOT_FLOAT: &str = errors::TIMEOUT_NOT_FLOAT;
    const NEGATIVE: &str = errors::TIMEOUT_NEGATIVE;
    // MAX_LONG_DOUBLE_CHARS in Redis: longer input is refused before parsing.
    if arg.is_empty() || arg.len() >= 5 * 1024 || is_c_space(arg[0]) {
        return Err(NOT_FLOAT);
    }
    let Some(num) = parse_c_number(arg) else {
        return Err(NOT_FLOAT);
    };
    match num.kind {
        NumKind::Nan => Err(NOT_FLOAT),
        NumKind::Inf => Err(NEGATIVE),
        NumKind::Hex { magnitude, lead_exp2 } => {
            let Some(e2) = lead_exp2 else {
                return Ok(0); // zero, of either sign
            };
            if !(-16445..16384).contains(&e2) {
                // Overflow to HUGE_VALL or underflow to 0: strtold's ERANGE, refused.
                return Err(NOT_FLOAT);
            }
            if magnitude == 0.0 {
                // Too small for f64 but not for long double: ceil gives 1 or -0.
                return Ok(if num.negative { 0 } else { 1 });
            }
            let seconds = if num.negative { -magnitude } else { magnitude };
            let ms = (seconds * 1000.0).ceil();
            // (long long) of a value outside [-2^63, 2^63) is LLONG_MIN on x86.
            const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
            if !(-TWO_POW_63..TWO_POW_63).contains(&ms) {
                return Err(NEGATIVE);
            }
            let ms = ms as i64;
            if ms < 0 {
                Err(NEGATIVE)
            } else {
                Ok(ms)
            }
        }
        NumKind::Decimal(d) => {
            if d.digits.is_empty() {
                return Ok(0); // zero, of either sign
            }
            // Long double's range: max ~1.18973e4932; below half the smallest denormal
            // (~3.6452e-4951 / 2) strtold returns 0 with ERANGE.
            let lead = d.lead_exp10();
            if lead > 4932 || (lead == 4932 && d.digits.as_slice() >= &b"118973149535723176502"[..]) {
                return Err(NOT_FLOAT);
            }
            if lead < -4951 || (lead == -4951 && d.digits.as_slice() < &b"18225997659412373012"[..]) {
                return Err(NOT_FLOAT);
            }
            let (int_part, frac_nonzero) = d.shifted_integer_part(3);
            if num.negative {
                // ceil(-y) = -floor(y): negative unless y < 1, where it is -0 (block forever).
                return if int_part == Some(0) { Ok(0) } else { Err(NEGATIVE) };
            }
            match int_part.map(|v| v.saturating_add(frac_nonzero as u128)) {
                Some(ms) if ms <= i64::MAX as u128 => Ok(ms as i64),
                _ => Err(NEGATIVE),
            }
        }
    }
}

/// C's `isspace` in the "C" locale.
pub(crate) fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

/// A number as C's `strtod`/`strtold` read it.
pub(crate) struct CNumber {
    pub negative: bool,
    pub kind: NumKind,
}

pub(crate) enum NumKind {
    Decimal(DecimalDigits),
    /// A hex float: its magnitude as f64 (may have overflowed to inf or underflowed to 0) and
    /// the binary exponent of its leading bit (None for zero).
    Hex {
        magnitude: f64,
        lead_exp2: Option<i64>,
    },
    Inf,
    Nan,
}

/// The significant digits of a decimal number: value = 0.DIGITS × 10^exp10, with no leading or
/// trailing zeros in DIGITS (empty for zero).
#[derive(Default, Debug)]
pub(crate) struct DecimalDigits {
    pub digits: Vec<u8>,
    /// Saturating; far beyond any double's range when saturated.
    pub exp10: i64,
}

impl DecimalDigits {
    /// Power of ten of the first significant digit.
    pub fn lead_exp10(&self) -> i64 {
        self.exp10.saturating_sub(1)
    }

    /// The integer part of value × 10^shift (None if it does not fit in u128) and whether the
    /// fraction left over is non-zero.
    fn shifted_integer_part(&self, shift: i64) -> (Option<u128>, bool) {
        let point = self.exp10.saturating_add(shift); // digits before the decimal point
        if point <= 0 {
            return (Some(0), !self.digits.is_empty());
        }
        if point > 39 {
            return (None, false);
        }
        let point = point as usize;
        let mut v: u128 = 0;
        for i in 0..point {
            let d = self.digits.get(i).map_or(0, |c| c - b'0') as u128;
            match v.checked_mul(10).and_then(|x| x.checked_add(d)) {
                Some(x) => v = x,
                None => return (None, false),
            }
        }
        (Some(v), self.digits.len() > point)
    }

    /// The nearest f64 (Rust's parser rounds correctly, as glibc's strtod does): inf on
    /// overflow, 0 on underflow.
    pub fn to_f64(&self) -> f64 {
        if self.digits.is_empty() {
            return 0.0;
        }
        // Anything this far out is inf or 0 for f64 anyway; keeps the text short.
        let exp = self.exp10.clamp(-100_000, 100_000);
        let mut s = String::with_capacity(self.digits.len() + 16);
        s.push_str("0.");
        for &c in &self.digits {
            s.push(c as char);
        }
        s.push('e');
        s.push_str(&exp.to_string());
        s.parse::<f64>().unwrap_or(0.0)
    }
}

/// Parses all of `s` with C's strtod grammar: optional sign, then a decimal with optional
/// exponent, a `0x` hex float with optional `p` exponent, `inf`, `infinity`, `nan` or
/// `nan(chars)`, case-insensitively. None if there is no number or bytes are left over. Leading
/// whitespace is the caller's business.
pub(crate) fn parse_c_number(s: &[u8]) -> Option<CNumber> {
    let (negative, rest) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest.eq_ignore_ascii_case(b"inf") || rest.eq_ignore_ascii_case(b"infinity") {
        return Some(CNumber { negative, kind: NumKind::Inf });
    }
    if rest.eq_ignore_ascii_case(b"nan")
        || (rest.len() >= 5
            && rest[..4].eq_ignore_ascii_case(b"nan(")
            && rest[rest.len() - 1] == b')'
            && rest[4..rest.len() - 1].iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_'))
    {
        return Some(CNumber { negative, kind: NumKind::Nan });
    }
    if rest.len() > 2 && rest[0] == b'0' && (rest[1] == b'x' || rest[1] == b'X') {
        // Without a hex digit after "0x", strtod reads just the "0" and leaves "x...": refused.
        let (magnitude, lead_exp2) = parse_hex_float(&rest[2..])?;
        return Some(CNumber { negative, kind: NumKind::Hex { magnitude, lead_exp2 } });
    }
    Some(CNumber { negative, kind: NumKind::Decimal(parse_decimal(rest)?) })
}

/// A decimal mantissa with optional exponent, all of `s` consumed.
fn parse_decimal(s: &[u8]) -> Option<DecimalDigits> {
    let mut i = 0;
    let mut digits = Vec::new();
    let mut seen_digit = false;
    let mut exp10: i64 = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        seen_digit = true;
        if !(digits.is_empty() && s[i] == b'0') {
            digits.push(s[i]);
            exp10 = exp10.saturating_add(1);
        }
        i += 1;
    }
    if i < s.len() && s[i] == b'.' {
        i += 1;
        while i < s.len() && s[i].is_ascii_digit() {
            seen_digit = true;
            if digits.is_empty() && s[i] == b'0' {
                exp10 = exp10.saturating_sub(1);
            } else {
                digits.push(s[i]);
            }
            i += 1;
        }
    }
    if !seen_digit {
        return None;
    }
    if i < s.len() && (s[i] == b'e' || s[i] == b'E') {
        let mut j = i + 1;
        let mut negative = false;
        if j < s.len() && (s[j] == b'+' || s[j] == b'-') {
            negative = s[j] == b'-';
            j += 1;
        }
        // An 'e' without digits is not part of the number (and is then left over).
        if j < s.len() && s[j].is_ascii_digit() {
            let mut e: i64 = 0;
            while j < s.len() && s[j].is_ascii_digit() {
                e = e.saturating_mul(10).saturating_add((s[j] - b'0') as i64);
                j += 1;
            }
            exp10 = if negative { exp10.saturating_sub(e) } else { exp10.saturating_add(e) };
            i = j;
        }
    }
    if i != s.len() {
        return None;
    }
    while digits.last() == Some(&b'0') {
        digits.pop();
    }
    if digits.is_empty() {
        exp10 = 0;
    }
    Some(DecimalDigits { digits, exp10 })
}

/// A hex float after "0x": its magnitude as f64 and the binary exponent of its leading bit (None
/// for zero). None if there is no hex digit or bytes are left over.
fn parse_hex_float(s: &[u8]) -> Option<(f64, Option<i64>)> {
    let mut i = 0;
    let mut mantissa: f64 = 0.0;
    let mut seen = false;
    // value = mantissa × 2^(frac_shift + pexp); lead_exp2 tracked separately so that huge
    // inputs are classified without overflowing anything.
    let mut frac_shift: i64 = 0;
    let mut lead: Option<i64> = None; // exponent of the leading bit, relative to the point
    let mut int_digits: i64 = 0;
    while i < s.len() && s[i].is_ascii_hexdigit() {
        seen = true;
        int_digits += 1;
        i += 1;
    }
    // Leading bit of the integer digits.
    for (k, &c) in s[..i].iter().enumerate() {
        let d = hex_value(c);
        mantissa = mantissa * 16.0 + d as f64;
        if lead.is_none() && d != 0 {
            let bits = 32 - d.leading_zeros() as i64; // 1..=4
            lead = Some((int_digits - 1 - k as i64) * 4 + bits - 1);
        }
    }
    if i < s.len() && s[i] == b'.' {
        i += 1;
        let mut k: i64 = 0;
        while i < s.len() && s[i].is_ascii_hexdigit() {
            seen = true;
            let d = hex_value(s[i]);
            mantissa = mantissa * 16.0 + d as f64;
            frac_shift -= 4;
            k += 1;
            if lead.is_none() && d != 0 {
                let bits = 32 - d.leading_zeros() as i64;
                lead = Some(-4 * k + bits - 1);
            }
            i += 1;
        }
    }
    if !seen {
        return None;
    }
    let mut pexp: i64 = 0;
    if i < s.len() && (s[i] == b'p' || s[i] == b'P') {
        let mut j = i + 1;
        let mut negative = false;
        if j < s.len() && (s[j] == b'+' || s[j] == b'-') {
            negative = s[j] == b'-';
            j += 1;
        }
        if j < s.len() && s[j].is_ascii_digit() {
            let mut e: i64 = 0;
            while j < s.len() && s[j].is_ascii_digit() {
                e = e.saturating_mul(10).saturating_add((s[j] - b'0') as i64);
                j += 1;
            }
            pexp = if negative { -e } else { e };
            i = j;
        }
    }
    if i != s.len() {
        return None;
    }
    let Some(lead) = lead else {
        return Some((0.0, None));
    };
    let scale = frac_shift.saturating_add(pexp).clamp(-5000, 5000) as i32;
    // powi of 2 overflows/underflows exactly where the value does (to within the mantissa).
    let magnitude = mantissa * 2f64.powi(scale / 2) * 2f64.powi(scale - scale / 2);
    Some((magnitude, Some(lead.saturating_add(pexp))))
}

fn hex_value(c: u8) -> u32 {
    (c as char).to_digit(16).unwrap_or(0)
}

/// After a blocking command found nothing to serve: asks the server to park the client on
/// `keys` until `timeout_ms` from now (0 = forever) if blocking is allowed; otherwise replies
/// what Redis replies to a client that may not block (`deny` writes it).
pub(crate) fn block_or_deny(ctx: &mut Ctx<'_, '_>, keys: &[&[u8]], timeout_ms: i64, deny: fn(&mut ReplyBuf)) {
    if ctx.may_block {
        // A deadline past i64 is as good as never (Redis's own sum wraps and such a client waits
        // forever too).
        let deadline_ms = if timeout_ms == 0 { None } else { ctx.now_ms.checked_add(timeout_ms) };
        ctx.effects.block = Some(BlockRequest {
            db: ctx.db,
            keys: keys.iter().map(|k| Sds::new(k)).collect(),
            deadline_ms,
            rerun_argv: None,
        });
    } else {
        deny(ctx.out);
    }
}

pub(crate) fn deny_null_array(out: &mut ReplyBuf) {
    out.null_array()
}

fn deny_null(out: &mut ReplyBuf) {
    out.null()
}

// ---------------------------------------------------------------------------------------------
// Lookups
// ---------------------------------------------------------------------------------------------

/// The list at `key` for writing: Ok(None) if there is none, Err if the key holds another type.
fn list_mut<'t>(t: &'t mut SlotTable, key: &[u8], now_ms: i64) -> Result<Option<&'t mut List>, WrongType> {
    match t.get_mut(key, now_ms) {
        None => Ok(None),
        Some(Value::List(l)) => Ok(Some(l)),
        Some(_) => Err(WrongType),
    }
}

/// The list at `key` for reading.
fn list_ref<'t>(t: &'t mut SlotTable, key: &[u8], now_ms: i64) -> Result<Option<&'t List>, WrongType> {
    match t.get(key, now_ms) {
        None => Ok(None),
        Some(Value::List(l)) => Ok(Some(l)),
        Some(_) => Err(WrongType),
    }
}

/// The list at `key`, created empty if missing (the caller fills it before returning).
fn list_or_create<'t>(t: &'t mut SlotTable, key: &[u8], now_ms: i64) -> Result<&'t mut List, WrongType> {
    if t.get(key, now_ms).is_none() {
        t.insert_new(key, Value::List(Box::default()));
    }
    match t.get_mut(key, now_ms) {
        Some(Value::List(l)) => Ok(l),
        _ => Err(WrongType),
    }
}

/// Which end of a list.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum End {
    Left,
    Right,
}

fn parse_end(arg: &[u8]) -> Option<End> {
    if eq_ic(arg, "left") {
        Some(End::Left)
    } else if eq_ic(arg, "right") {
        Some(End::Right)
    } else {
        None
    }
}

/// Redis's index normalisation for an inclusive range over `len` elements (negative indexes
/// count from the end); None when the range is empty.
pub(crate) fn normalize_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 { len.saturating_add(start) } else { start }.max(0);
    let end = if end < 0 { len.saturating_add(end) } else { end };
    if start > end || start >= len {
        return None;
    }
    Some((start as usize, end.min(len - 1) as usize))
}

/// Pops up to `count` elements from `end` of `list`, in pop order.
fn pop_many(list: &mut List, end: End, count: usize) -> Vec<Sds> {
    let n = count.min(list.len());
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let v = match end {
            End::Left => list.pop_front(),
            End::Right => list.pop_back(),
        };
        match v {
            Some(v) => out.push(v),
            None => break,
        }
    }
    out
}

fn push(list: &mut List, end: End, v: Sds) {
    match end {
        End::Left => list.push_front(v),
        End::Right => list.push_back(v),
    }
}

// ---------------------------------------------------------------------------------------------
// Pushes
// ---------------------------------------------------------------------------------------------

/// LPUSH/RPUSH/LPUSHX/RPUSHX key element [element ...]
fn push_generic(ctx: &mut Ctx<'_, '_>, args: &[&[u8]], end: End, only_if_exists: bool) {
    let key = args[1];
    let now = ctx.now_ms;
    let t = ctx.locks.table(ctx.ks, ctx.db, key);
    // One lookup on the hot path; a new key is inserted and used in place.
    let list = match t.get_mut(key, now) {
        Some(Value::List(l)) => l,
        Some(_) => return ctx.out.error(errors::WRONGTYPE),
        None if only_if_exists => return ctx.out.int(0),
        None => match t.insert_new(key, Value::List(Box::default())) {
            Value::List(l) => l,
            _ => return ctx.out.error(errors::WRONGTYPE),
        },
    };
    for v in &args[2..] {
        push(list, end, Sds::new(v));
    }
    let len = list.len() as i64;
    ctx.out.int(len);
    ctx.dirty(args.len() as u64 - 2);
    ctx.notify(NOTIFY_LIST, push_event(end), key);
    ctx.signal_ready(key);
}

fn push_event(end: End) -> &'static str {
    match end {
        End::Left => "lpush",
        End::Right => "rpush",
    }
}

/// The events of a pop: `lpop`/`rpop`, then `del` if it emptied the list.
fn notify_pop(ctx: &mut Ctx<'_, '_>, key: &[u8], end: End, emptied: bool) {
    ctx.notify(NOTIFY_LIST, if end == End::Left { "lpop" } else { "rpop" }, key);
    if emptied {
        ctx.notify(NOTIFY_GENERIC, "del", key);
    }
}

fn lpush(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    push_generic(ctx, args, End::Left, false)
}

fn rpush(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    push_generic(ctx, args, End::Right, false)
}

fn lpushx(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    push_generic(ctx, args, End::Left, true)
}

fn rpushx(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    push_generic(ctx, args, End::Right, true)
}

/// LINSERT key BEFORE|AFTER pivot element
fn linsert(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let after = if eq_ic(args[2], "after") {
        true
    } else if eq_ic(args[2], "before") {
        false
    } else {
        return ctx.out.error(errors::SYNTAX);
    };
    let (key, pivot, element) = (args[1], args[3], args[4]);
    let now = ctx.now_ms;
    let t = ctx.locks.table(ctx.ks, ctx.db, key);
    let list = match list_mut(t, key, now) {
        Err(WrongType) => return ctx.out.error(errors::WRONGTYPE),
        Ok(None) => return ctx.out.int(0),
        Ok(Some(l)) => l,
    };
    let Some(pos) = list.iter().position(|e| e.as_bytes() == pivot) else {
        return ctx.out.int(-1);
    };
    list.insert(if after { pos + 1 } else { pos }, Sds::new(element));
    let len = list.len() as i64;
    ctx.out.int(len);
    ctx.dirty(1);
    ctx.notify(NOTIFY_LIST, "linsert", key);
    ctx.signal_ready(key);
}

// ---------------------------------------------------------------------------------------------
// Reads
// ---------------------------------------------------------------------------------------------

/// LLEN key
fn llen(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let now = ctx.now_ms;
    let t = ctx.locks.table(ctx.ks, ctx.db, args[1]);
    match list_ref(t, args[1], now) {
        Err(WrongType) => ctx.out.error(errors::WRONGTYPE),
        Ok(None) => ctx.out.int(0),
        Ok(Some(l)) => ctx.out.int(l.len() as i64),
    }
}

/// LINDEX key index — the key is looked up before the index is parsed, as in Redis.
fn lindex(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let now = ctx.now_ms;
    let t = ctx.locks.table(ctx.ks, ctx.db, args[1]);
    let list = match list_ref(t, args[1], now) {
        Err(WrongType) => return ctx.out.error(errors::WRONGTYPE),
        Ok(None) => return ctx.out.null(),
        Ok(Some(l)) => l,
    };
    let Some(index) = long_or_reply(ctx.out, args[2]) else { return };
    let len = list.len() as i64;
    let i = if index < 0 { len.saturating_add(index) } else { index };
    if i < 0 || i >= len {
        ctx.out.null();
    } else {
        ctx.out.bulk(&list[i as usize]);
    }
}

/// LRANGE key start stop
fn lrange(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let Some(start) = long_or_reply(ctx.out, args[2]) else { return };
    let Some(end) = long_or_reply(ctx.out, args[3]) else { return };
    let now = ctx.now_ms;
    let t = ctx.locks.table(ctx.ks, ctx.db, args[1]);
    let list = match list_ref(t, args[1], now) {
        Err(WrongType) => return ctx.out.error(errors::WRONGTYPE),
        Ok(None) => return ctx.out.array(0),
        Ok(Some(l)) => l,
    };
    match normalize_range(start, end, list.len()) {
        None => ctx.out.array(0),
        Some((s, e)) => {
            ctx.out.array(e - s + 1);
            for v in list.range(s..=e) {
                ctx.out.bulk(v);
            }
        }
    }
}

/// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]
fn lpos(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let element = args[2];
    let mut rank: i64 = 1;
    let mut count: i64 = -1; // -1: option not given
    let mut maxlen: i64 = 0; // 0: no limit
    let mut j = 3;
    while j < args.len() {
        let more = j + 1 < args.len();
        if eq_ic(args[j], "rank") && more {
            j += 1;
            let Some(r) = long_or_reply(ctx.out, args[j]) else { return };
            if r == 0 {
                return ctx.out.error(
                    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... \
                     or use negative to start from the end of the list",
                );
            }
            rank = r;
        } else if eq_ic(args[j], "count") && more {
            j += 1;
            let Some(c) = positive_long_or_reply(ctx.out, args[j], Some("COUNT can't be negative")) else { return };
            count = c;
        } else if eq_ic(args[j], "maxlen") && more {
            j += 1;
            let Some(m) = positive_long_or_reply(ctx.out, args[j], Some("MAXLEN can't be negative")) else { return };
            maxlen = m;
        } else {
            return ctx.out.error(errors::SYNTAX);
        }
        j += 1;
    }
    // A negative rank searches from the tail. Redis negates with C's two's complement, so
    // LLONG_MIN stays negative and then every match satisfies the rank: wrapping reproduces it.
    let from_tail = rank < 0;
    if from_tail {
        rank = rank.wrapping_neg();
    }
    let now = ctx.now_ms;
    let t = ctx.locks.table(ctx.ks, ctx.db, args[1]);
    let list = match list_ref(t, args[1], now) {
        Err(WrongType) => return ctx.out.error(errors::WRONGTYPE),
        Ok(None) => return if count != -1 { ctx.out.array(0) } else { ctx.out.null() },
        Ok(Some(l)) => l,
    };
    let len = list.len();
    let mut matches: i64 = 0;
    let mut found: Vec<i64> = Vec::new();
    let mut single: Option<i64> = None;
    for scanned in 0..len {
        if maxlen != 0 && scanned as i64 >= maxlen {
            break;
        }
        let pos = if from_tail { len - 1 - scanned } else { scanned };
        if list[pos].as_bytes() != element {
            continue;
        }
        matches += 1;
        if matches >= rank {
            if count == -1 {
                single = Some(pos as i64);
                break;
            }
            found.push(pos as i64);
            if count != 0 && matches.wrapping_sub(rank).wrapping_add(1) >= count {
                break;
            }
        }
    }
    if count != -1 {
        ctx.out.array(found.len());
        for p in found {
            ctx.out.int(p);
        }
    } else {
        match single {
            Some(p) => ctx.out.int(p),
            None => ctx.out.null(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Updates and removals
// ---------------------------------------------------------------------------------------------

/// LSET key index element — key first, then the index, as in Redis.
fn lset(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let now = ctx.now_ms;
    let t = ctx.locks.table(ctx.ks, ctx.db, args[1]);
    let list = match list_mut(t, args[1], now) {
        Err(WrongType) => return ctx.out.error(errors::WRONGTYPE),
        Ok(None) => return ctx.out.error(errors::NO_SUCH_KEY),
        Ok(Some(l)) => l,
    };
    let Some(index) = long_or_reply(ctx.out, args[2]) else { return };
    let len = list.len() as i64;
    let i = if index < 0 { len.saturating_add(index) } else { index };
    if i < 0 || i >= len {
        return ctx.out.error(errors::OUT_OF_RANGE);
    }
    list[i as usize] = Sds::new(args[3]);
    ctx.out.ok();
    ctx.dirty(1);
    ctx.notify(NOTIFY_LIST, "lset", args[1]);
}

/// LPOP/RPOP key [count]
fn pop_generic(ctx: &mut Ctx<'_, '_>, args: &[&[u8]], end: End) {
    if args.len() > 3 {
        return ctx.out.error(&errors::wrong_arity(if end == End::Left { "lpop" } else { "rpop" }));
    }
    let has_count = args.len() == 3;
    let mut count = 1;
    if has_count {
        let Some(c) = positive_long_or_reply(ctx.out, args[2], None) else { return };
        count = c;
    }
    let key = args[1];
    let now = ctx.now_ms;
    let t = ctx.locks.table(ctx.ks, ctx.db, key);
    let list = match list_mut(t, key, now) {
        Err(WrongType) => return ctx.out.error(errors::WRONGTYPE),
        Ok(None) => return if has_count { ctx.out.null_array() } else { ctx.out.null() },
        Ok(Some(l)) => l,
    };
    if count == 0 {
        return ctx.out.array(0);
    }
    let popped = pop_many(list, end, usize::try_from(count).unwrap_or(usize::MAX));
    let emptied = list.is_empty();
    if emptied {
        t.remove(key, now);
    }
    notify_pop(ctx, key, end, emptied);
    if has_count {
        ctx.out.array(popped.len());
    }
    for v in &popped {
        ctx.out.bulk(v);
    }
    ctx.dirty(popped.len() as u64);
}

fn lpop(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    pop_generic(ctx, args, End::Left)
}

fn rpop(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    pop_generic(ctx, args, End::Right)
}

/// LTRIM key start stop
fn ltrim(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let Some(start) = long_or_reply(ctx.out, args[2]) else { return };
    let Some(end) = long_or_reply(ctx.out, args[3]) else { return };
    let key = args[1];
    let now = ctx.now_ms;
    let t = ctx.locks.table(ctx.ks, ctx.db, key);
    let list = match list_mut(t, key, now) {
        Err(WrongType) => return ctx.out.error(errors::WRONGTYPE),
        Ok(None) => return ctx.out.ok(),
        Ok(Some(l)) => l,
    };
    let len = list.len();
    let (ltrim, rtrim) = match normalize_range(start, end, len) {
        None => (len, 0),
        Some((s, e)) => (s, len - e - 1),
    };
    list.drain(..ltrim);
    list.truncate(list.len() - rtrim);
    let emptied = list.is_empty();
    if emptied {
        t.remove(key, now);
    }
    ctx.notify(NOTIFY_LIST, "ltrim", key);
    if emptied {
        ctx.notify(NOTIFY_GENERIC, "del", key);
    }
    ctx.dirty((ltrim + rtrim) as u64);
    ctx.out.ok();
}

/// LREM key count element
fn lrem(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let Some(count) = long_or_reply(ctx.out, args[2]) else { return };
    let (key, element) = (args[1], args[3]);
    let now = ctx.now_ms;
    let t = ctx.locks.table(ctx.ks, ctx.db, key);
    let list = match list_mut(t, key, now) {
        Err(WrongType) => return ctx.out.error(errors::WRONGTYPE),
        Ok(None) => return ctx.out.int(0),
        Ok(Some(l)) => l,
    };
    let limit = usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX); // 0: remove all
    let removed = if count >= 0 {
        let mut removed = 0usize;
        list.retain(|e| {
            let drop = (limit == 0 || removed < limit) && e.as_bytes() == element;
            removed += drop as usize;
            !drop
        });
        removed
    } else {
        // From the tail: the positions of the last `limit` matches, ascending.
        let mut doomed: Vec<usize> = list
            .iter()
            .enumerate()
            .rev()
            .filter(|(_, e)| e.as_bytes() == element)
            .map(|(i, _)| i)
            .take(limit)
            .collect();
        doomed.reverse();
        let (mut idx, mut next) = (0usize, 0usize);
        list.retain(|_| {
            let drop = next < doomed.len() && doomed[next] == idx;
            next += drop as usize;
            idx += 1;
            !drop
        });
        doomed.len()
    };
    let emptied = list.is_empty();
    if emptied {
        t.remove(key, now);
    }
    ctx.dirty(removed as u64);
    if removed > 0 {
        ctx.notify(NOTIFY_LIST, "lrem", key);
        if emptied {
            ctx.notify(NOTIFY_GENERIC, "del", key);
        }
    }
    ctx.out.int(removed as i64);
}

// ---------------------------------------------------------------------------------------------
// Moves
// ---------------------------------------------------------------------------------------------

/// The body of LMOVE/RPOPLPUSH (and of BLMOVE/BRPOPLPUSH with data): pops from `src`, pushes to
/// `dst` (possibly the same key) and replies the element; a missing source replies null.
fn lmove_generic(ctx: &mut Ctx<'_, '_>, src: &[u8], dst: &[u8], from: End, to: End) {
    let now = ctx.now_ms;
    match list_ref(ctx.locks.table(ctx.ks, ctx.db, src), src, now) {
        Err(WrongType) => return ctx.out.error(errors::WRONGTYPE),
        Ok(None) => return ctx.out.null(),
        Ok(Some(_)) => {}
    }
    // The destination's type is checked before anything changes.
    if list_ref(ctx.locks.table(ctx.ks, ctx.db, dst), dst, now).is_err() {
        return ctx.out.error(errors::WRONGTYPE);
    }
    // Pop without deleting the source yet: when src == dst the element goes back into the same
    // list, which then never was empty (Redis works on the one object the same way).
    let value = match list_mut(ctx.locks.table(ctx.ks, ctx.db, src), src, now) {
        Ok(Some(l)) => match from {
            End::Left => l.pop_front(),
            End::Right => l.pop_back(),
        },
        _ => None,
    };
    let Some(value) = value else {
        return ctx.out.null();
    };
    ctx.out.bulk(&value);
    // The destination's type was checked above and the slot locks keep it so.
    if let Ok(l) = list_or_create(ctx.locks.table(ctx.ks, ctx.db, dst), dst, now) {
        push(l, to, value);
    }
    let t = ctx.locks.table(ctx.ks, ctx.db, src);
    let emptied = matches!(list_ref(t, src, now), Ok(Some(l)) if l.is_empty());
    if emptied {
        t.remove(src, now);
    }
    ctx.dirty(1);
    // Redis reports the push to the destination before the pop from the source.
    ctx.notify(NOTIFY_LIST, push_event(to), dst);
    notify_pop(ctx, src, from, emptied);
    ctx.signal_ready(dst);
}

/// LMOVE source destination LEFT|RIGHT LEFT|RIGHT
fn lmove(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let Some(from) = parse_end(args[3]) else { return ctx.out.error(errors::SYNTAX) };
    let Some(to) = parse_end(args[4]) else { return ctx.out.error(errors::SYNTAX) };
    lmove_generic(ctx, args[1], args[2], from, to)
}

/// RPOPLPUSH source destination
fn rpoplpush(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    lmove_generic(ctx, args[1], args[2], End::Right, End::Left)
}

// ---------------------------------------------------------------------------------------------
// Multi-key pops
// ---------------------------------------------------------------------------------------------

/// The parsed `numkeys key [key ...] <where> [COUNT count]` of LMPOP/BLMPOP/ZMPOP/BZMPOP.
pub(crate) struct MpopArgs<'x, W> {
    pub keys: Vec<&'x [u8]>,
    pub where_: W,
    pub count: i64,
}

/// Parses the multi-pop arguments from `numkeys_idx` on with Redis's checks and messages;
/// `parse_where` reads LEFT|RIGHT or MIN|MAX. Replies on error.
pub(crate) fn parse_mpop<'x, W>(
    out: &mut ReplyBuf,
    args: &[&'x [u8]],
    numkeys_idx: usize,
    parse_where: fn(&[u8]) -> Option<W>,
) -> Option<MpopArgs<'x, W>> {
    let numkeys = range_long_or_reply(out, args[numkeys_idx], 1, i64::MAX, Some("numkeys should be greater than 0"))?;
    let where_idx = match (numkeys as u64).checked_add(numkeys_idx as u64 + 1) {
        Some(w) if w < args.len() as u64 => w as usize,
        _ => {
            out.error(errors::SYNTAX);
            return None;
        }
    };
    let Some(where_) = parse_where(args[where_idx]) else {
        out.error(errors::SYNTAX);
        return None;
    };
    let mut count: i64 = -1;
    let mut j = where_idx + 1;
    while j < args.len() {
        if count == -1 && eq_ic(args[j], "count") && j + 1 < args.len() {
            j += 1;
            count = range_long_or_reply(out, args[j], 1, i64::MAX, Some("count should be greater than 0"))?;
        } else {
            out.error(errors::SYNTAX);
            return None;
        }
        j += 1;
    }
    Some(MpopArgs { keys: args[numkeys_idx + 1..where_idx].to_vec(), where_, count: count.max(1) })
}

/// Pops from the first non-empty list among `keys`. With `count` None, replies
/// `[key, element]` (BLPOP/BRPOP); with Some(n), `[key, [element ...]]` (LMPOP). Returns false
/// if every key was missing and nothing was written.
fn serve_first(ctx: &mut Ctx<'_, '_>, keys: &[&[u8]], end: End, count: Option<i64>) -> bool {
    let now = ctx.now_ms;
    for &key in keys {
        let t = ctx.locks.table(ctx.ks, ctx.db, key);
        let list = match list_mut(t, key, now) {
            Err(WrongType) => {
                ctx.out.error(errors::WRONGTYPE);
                return true;
            }
            Ok(Some(l)) if !l.is_empty() => l,
            Ok(_) => continue,
        };
        let n = count.map_or(1, |c| usize::try_from(c).unwrap_or(usize::MAX));
        let popped = pop_many(list, end, n);
        let emptied = list.is_empty();
        if emptied {
            t.remove(key, now);
        }
        notify_pop(ctx, key, end, emptied);
        ctx.out.array(2);
        ctx.out.bulk(key);
        if count.is_some() {
            ctx.out.array(popped.len());
        }
        for v in &popped {
            ctx.out.bulk(v);
        }
        ctx.dirty(popped.len() as u64);
        // Propagated as the plain pop it was (LPOP key [count]), blocking or not.
        let pop: &[u8] = if matches!(end, End::Left) { b"LPOP" } else { b"RPOP" };
        ctx.propagate_as(|| match count {
            Some(_) => vec![pop.to_vec(), key.to_vec(), popped.len().to_string().into_bytes()],
            None => vec![pop.to_vec(), key.to_vec()],
        });
        return true;
    }
    false
}

/// LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]
fn lmpop(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let Some(m) = parse_mpop(ctx.out, args, 1, parse_end) else { return };
    if !serve_first(ctx, &m.keys, m.where_, Some(m.count)) {
        ctx.out.null_array();
    }
}

// ---------------------------------------------------------------------------------------------
// Blocking variants
// ---------------------------------------------------------------------------------------------

/// Parses a timeout argument, replying the error.
pub(crate) fn timeout_or_reply(out: &mut ReplyBuf, arg: &[u8]) -> Option<i64> {
    match parse_timeout_ms(arg) {
        Ok(t) => Some(t),
        Err(e) => {
            out.error(e);
            None
        }
    }
}

/// BLPOP/BRPOP key [key ...] timeout
fn blocking_pop(ctx: &mut Ctx<'_, '_>, args: &[&[u8]], end: End) {
    let Some(timeout_ms) = timeout_or_reply(ctx.out, args[args.len() - 1]) else { return };
    let keys = &args[1..args.len() - 1];
    if !serve_first(ctx, keys, end, None) {
        block_or_deny(ctx, keys, timeout_ms, deny_null_array);
    }
}

fn blpop(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    blocking_pop(ctx, args, End::Left)
}

fn brpop(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    blocking_pop(ctx, args, End::Right)
}

/// BLMOVE/BRPOPLPUSH once the arguments are parsed: serves now if the source has data,
/// otherwise waits on the source only.
fn blocking_move(ctx: &mut Ctx<'_, '_>, src: &[u8], dst: &[u8], from: End, to: End, timeout_ms: i64) {
    let now = ctx.now_ms;
    let has_data = match list_ref(ctx.locks.table(ctx.ks, ctx.db, src), src, now) {
        Err(WrongType) => return ctx.out.error(errors::WRONGTYPE),
        Ok(l) => l.is_some_and(|l| !l.is_empty()),
    };
    if has_data {
        lmove_generic(ctx, src, dst, from, to);
    } else {
        // Redis answers a BLMOVE that may not block with a null bulk, not a null array.
        block_or_deny(ctx, &[src], timeout_ms, deny_null);
    }
}

/// BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout
fn blmove(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let Some(from) = parse_end(args[3]) else { return ctx.out.error(errors::SYNTAX) };
    let Some(to) = parse_end(args[4]) else { return ctx.out.error(errors::SYNTAX) };
    let Some(timeout_ms) = timeout_or_reply(ctx.out, args[5]) else { return };
    let dirty_before = ctx.effects.dirty;
    blocking_move(ctx, args[1], args[2], from, to, timeout_ms);
    if ctx.effects.dirty > dirty_before {
        ctx.propagate_as(|| {
            let mut argv: Vec<Vec<u8>> = args[..5].iter().map(|a| a.to_vec()).collect();
            argv[0] = b"LMOVE".to_vec();
            argv
        });
    }
}

/// BRPOPLPUSH source destination timeout
fn brpoplpush(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let Some(timeout_ms) = timeout_or_reply(ctx.out, args[3]) else { return };
    let dirty_before = ctx.effects.dirty;
    blocking_move(ctx, args[1], args[2], End::Right, End::Left, timeout_ms);
    if ctx.effects.dirty > dirty_before {
        ctx.propagate_as(|| vec![b"RPOPLPUSH".to_vec(), args[1].to_vec(), args[2].to_vec()]);
    }
}

/// BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count] — the timeout is checked after
/// the other arguments, as in Redis.
fn blmpop(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let Some(m) = parse_mpop(ctx.out, args, 2, parse_end) else { return };
    let Some(timeout_ms) = timeout_or_reply(ctx.out, args[1]) else { return };
    if !serve_first(ctx, &m.keys, m.where_, Some(m.count)) {
        block_or_deny(ctx, &m.keys, timeout_ms, deny_null_array);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_like_redis() {
        let t = |s: &str| parse_timeout_ms(s.as_bytes());
        assert_eq!(t("0"), Ok(0));
        assert_eq!(t("1"), Ok(1000));
        assert_eq!(t("0.1"), Ok(100));
        assert_eq!(t("0.0001"), Ok(1));
        assert_eq!(t("1e-400"), Ok(1));
        assert_eq!(t("-1e-400"), Ok(0));
        assert_eq!(t("-0.0001"), Ok(0));
        assert_eq!(t("-0"), Ok(0));
        assert_eq!(t("+1.5"), Ok(1500));
        assert_eq!(t(".5"), Ok(500));
        assert_eq!(t("5."), Ok(5000));
        assert_eq!(t("1E1"), Ok(10000));
        assert_eq!(t("0x10"), Ok(16000));
        assert_eq!(t("0x1p-1"), Ok(500));
        assert_eq!(t("0X.8"), Ok(500));
        assert_eq!(t("9223372036854775"), Ok(9_223_372_036_854_775_000));
        assert_eq!(t("9223372036854775.807"), Ok(i64::MAX));
        for neg in [
            "-1",
            "inf",
            "INFINITY",
            "-inf",
            "1e300",
            "1e400",
            "9223372036854775807",
            "9223372036854776",
            "0x1p100",
            "340282366920938463463374607431768211.4551",
        ] {
            assert_eq!(t(neg), Err(errors::TIMEOUT_NEGATIVE), "{neg}");
        }
        for bad in [
            "",
            " 1",
            "1 ",
            "nan",
            "-nan",
            "abc",
            "1e",
            "1e+",
            "0x",
            "0xg",
            ".",
            "1e5000",
            "1e-5000",
            "--1",
            "1.5.5",
            "0x1p99999",
        ] {
            assert_eq!(t(bad), Err(errors::TIMEOUT_NOT_FLOAT), "{bad:?}");
        }
    }

    #[test]
    fn ranges_normalize_like_redis() {
        assert_eq!(normalize_range(0, -1, 3), Some((0, 2)));
        assert_eq!(normalize_range(-100, 100, 3), Some((0, 2)));
        assert_eq!(normalize_range(2, 1, 3), None);
        assert_eq!(normalize_range(3, 5, 3), None);
        assert_eq!(normalize_range(-1, -1, 3), Some((2, 2)));
        assert_eq!(normalize_range(i64::MIN, i64::MAX, 3), Some((0, 2)));
        assert_eq!(normalize_range(0, 0, 0), None);
    }
}
