//! Bitmap commands: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD and BITFIELD_RO.
//!
//! This module owns the exact replies, error texts and dirty counts of those commands (Redis
//! 7.0.15's bitops.c is the specification, including its quirks: BITPOS's "clear bit past the
//! end" rule, BITCOUNT's early zero for reversed negative ranges, BITFIELD's overflow checks
//! done on wrapped 64-bit arithmetic). A string is a bitmap whose bit 0 is the most significant
//! bit of its first byte; an integer-encoded string is read as its decimal bytes.
//!
//! It must never allocate for an offset beyond proto-max-bulk-len (the offset is refused first),
//! never write anything when a command replies an error, and never panic on client input.

use crate::args::{eq_ic, parse_i64};
use crate::ctx::Ctx;
use crate::errors;
use crate::registry::{Kind, Registry};
use crate::string::format_i64;
use keyspace::{Sds, StrValue, Value};
use resp::ReplyBuf;

pub fn register(r: &mut Registry) {
    r.add("setbit", Kind::Data(setbit));
    r.add("getbit", Kind::Data(getbit));
    r.add("bitcount", Kind::Data(bitcount));
    r.add("bitpos", Kind::Data(bitpos));
    r.add("bitop", Kind::Data(bitop));
    r.add("bitfield", Kind::Data(bitfield));
    r.add("bitfield_ro", Kind::Data(bitfield_ro));
}

const BIT_OFFSET_ERR: &str = "ERR bit offset is not an integer or out of range";
const BIT_VALUE_ERR: &str = "ERR bit is not an integer or out of range";
const BITPOS_BIT_ERR: &str = "ERR The bit argument must be 1 or 0.";
const BITOP_NOT_ERR: &str = "ERR BITOP NOT must be called with a single source key.";
const BITFIELD_TYPE_ERR: &str =
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
const OVERFLOW_TYPE_ERR: &str = "ERR Invalid OVERFLOW type specified";
const BITFIELD_RO_ERR: &str = "ERR BITFIELD_RO only supports the GET subcommand";

// ---------------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------------

/// The argument as C's string functions see it: Redis compares keywords with `strcasecmp` and
/// parses the bitfield width with `strlen`, so anything after an embedded NUL is ignored.
fn c_str(arg: &[u8]) -> &[u8] {
    match arg.iter().position(|&b| b == 0) {
        Some(nul) => &arg[..nul],
        None => arg,
    }
}

/// A string value's bytes; an integer is formatted into `buf`.
fn str_bytes<'a>(v: &'a StrValue, buf: &'a mut [u8; 20]) -> &'a [u8] {
    match v {
        StrValue::Raw(s) => s.as_bytes(),
        StrValue::Int(n) => format_i64(*n, buf),
    }
}

/// The bytes of a string stored as Sds, for editing in place without reallocating.
fn sds_bytes_mut(s: &mut Sds) -> &mut [u8] {
    match s {
        Sds::Inline { len, buf } => &mut buf[..*len as usize],
        Sds::Heap(b) => b,
    }
}

/// Runs `edit` on the bytes of `v`, first padding them with zeros to at least `min_len` bytes
/// (Redis's `lookupStringForBitCommand` + `sdsgrowzero`). An integer becomes its decimal bytes
/// and the value is stored back raw. `edit` is told whether the length grew, which Redis counts
/// as a change even if no bit flips.
fn edit_bitmap<R>(v: &mut StrValue, min_len: usize, edit: impl FnOnce(&mut [u8], bool) -> R) -> R {
    match v {
        // The common case (a raw string already long enough) is edited where it lies.
        StrValue::Raw(s) if s.len() >= min_len => edit(sds_bytes_mut(s), false),
        _ => {
            let mut bytes = match std::mem::replace(v, StrValue::Int(0)) {
                StrValue::Raw(Sds::Heap(b)) => b.into_vec(),
                StrValue::Raw(s) => s.as_bytes().to_vec(),
                StrValue::Int(n) => format_i64(n, &mut [0u8; 20]).to_vec(),
            };
            let grew = bytes.len() < min_len;
            if grew {
                // Exact: the bytes go back into a boxed slice, so spare capacity would only
                // be reallocated away again.
                bytes.reserve_exact(min_len - bytes.len());
                bytes.resize(min_len, 0);
            }
            let r = edit(&mut bytes, grew);
            *v = StrValue::Raw(Sds::from(bytes));
            r
        }
    }
}

/// Redis's `getBitOffsetFromArgument`: a bit offset in `[0, proto_max_bulk_len * 8)`. With
/// `field_bits` (BITFIELD), `#N` means N fields of that width; the product wraps as Redis's
/// does, and is checked afterwards.
fn parse_bit_offset(arg: &[u8], field_bits: Option<u32>, max_bulk_len: i64) -> Result<u64, &'static str> {
    let (digits, multiplier) = match field_bits {
        Some(bits) if arg.first() == Some(&b'#') => (&arg[1..], bits as i64),
        _ => (arg, 1),
    };
    let offset = parse_i64(digits).ok_or(BIT_OFFSET_ERR)?.wrapping_mul(multiplier);
    if offset < 0 || (offset >> 3) >= max_bulk_len {
        return Err(BIT_OFFSET_ERR);
    }
    Ok(offset as u64)
}

/// Bytes needed to address bit `bit`. The bit is already bounded by proto-max-bulk-len, so on
/// a 32-bit target an offset too large for memory still fails cleanly here.
fn bytes_for_bit(bit: u64) -> Result<usize, &'static str> {
    usize::try_from((bit >> 3) + 1).map_err(|_| BIT_OFFSET_ERR)
}

/// Redis's index normalization for BITCOUNT / BITPOS: negative indexes count from the end,
/// then both are clamped into `[0, total - 1]`. `None` when the range is empty.
fn clamp_range(start: i64, end: i64, total: i64) -> Option<(u64, u64)> {
    let start = if start < 0 { total + start } else { start }.max(0);
    let end = if end < 0 { total + end } else { end }.max(0).min(total - 1);
    if start > end {
        None
    } else {
        Some((start as u64, end as u64))
    }
}

/// BYTE (default) or BIT as the unit of a BITCOUNT / BITPOS range.
fn parse_unit(arg: &[u8]) -> Result<bool, &'static str> {
    let arg = c_str(arg);
    if eq_ic(arg, "bit") {
        Ok(true)
    } else if eq_ic(arg, "byte") {
        Ok(false)
    } else {
        Err(errors::SYNTAX)
    }
}

/// Mask of the bits of byte `index` that lie inside the bit range `[first, last]`.
fn byte_mask(index: u64, first: u64, last: u64) -> u8 {
    let mut mask = 0xffu8;
    if index == first >> 3 {
        mask &= 0xff >> (first & 7);
    }
    if index == last >> 3 {
        mask &= 0xff << (7 - (last & 7));
    }
    mask
}

/// Number of set bits in `bytes`, eight bytes at a time.
fn popcount(bytes: &[u8]) -> u64 {
    let mut words = bytes.chunks_exact(8);
    let mut total: u64 = 0;
    for w in &mut words {
        let mut word = [0u8; 8];
        word.copy_from_slice(w);
        total += u64::from_ne_bytes(word).count_ones() as u64;
    }
    total + words.remainder().iter().map(|b| b.count_ones() as u64).sum::<u64>()
}

/// Set bits in the bit range `[first, last]` (both inside `bytes`).
fn count_bits(bytes: &[u8], first: u64, last: u64) -> u64 {
    let (lo, hi) = ((first >> 3) as usize, (last >> 3) as usize);
    let outside = |index: usize| (bytes[index] & !byte_mask(index as u64, first, last)).count_ones() as u64;
    let mut total = popcount(&bytes[lo..=hi]) - outside(lo);
    if hi != lo {
        total -= outside(hi);
    }
    total
}

/// Position of the first bit equal to `bit` in the bit range `[first, last]` (both inside
/// `bytes`), if any.
fn find_bit(bytes: &[u8], first: u64, last: u64, bit: bool) -> Option<u64> {
    let (lo, hi) = ((first >> 3) as usize, (last >> 3) as usize);
    // Looking for a 0 is looking for a 1 in the complement; whole bytes equal to `skip` hold
    // no candidate, so they are passed over eight at a time.
    let flip = if bit { 0u8 } else { 0xff };
    let matching = |index: usize| (bytes[index] ^ flip) & byte_mask(index as u64, first, last);
    let first_hit = |index: usize| Some(index as u64 * 8 + matching(index).leading_zeros() as u64);
    if matching(lo) != 0 {
        return first_hit(lo);
    }
    if hi == lo {
        return None;
    }
    let middle = &bytes[lo + 1..hi];
    let skip_word = u64::from_ne_bytes([flip; 8]);
    let mut index = lo + 1;
    for w in middle.chunks_exact(8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(w);
        if u64::from_ne_bytes(word) != skip_word {
            break;
        }
        index += 8;
    }
    while index < hi {
        if bytes[index] != flip {
            return first_hit(index);
        }
        index += 1;
    }
    if matching(hi) != 0 {
        return first_hit(hi);
    }
    None
}

// ---------------------------------------------------------------------------------------------
// SETBIT / GETBIT
// ---------------------------------------------------------------------------------------------

/// SETBIT key offset value
fn setbit(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let offset = match parse_bit_offset(args[2], None, ctx.config.proto_max_bulk_len) {
        Ok(o) => o,
        Err(e) => return ctx.out.error(e),
    };
    let on = match parse_i64(args[3]) {
        Some(0) => false,
        Some(1) => true,
        _ => return ctx.out.error(BIT_VALUE_ERR),
    };
    let min_len = match bytes_for_bit(offset) {
        Ok(n) => n,
        Err(e) => return ctx.out.error(e),
    };
    let (byte, mask) = (min_len - 1, 0x80u8 >> (offset & 7));
    // Returns the old bit and whether Redis counts the call as a change.
    let flip = |bytes: &mut [u8], grew: bool| {
        let was = bytes[byte] & mask != 0;
        if on {
            bytes[byte] |= mask;
        } else {
            bytes[byte] &= !mask;
        }
        (was, grew || was != on)
    };
    let key = args[1];
    let t = ctx.locks.table(ctx.ks, ctx.db, key);
    let (was, changed) = match t.get_mut(key, ctx.now_ms) {
        Some(Value::Str(s)) => edit_bitmap(s, min_len, flip),
        Some(_) => return ctx.out.error(errors::WRONGTYPE),
        None => {
            let mut bytes = vec![0u8; min_len];
            let result = flip(&mut bytes, true);
            t.set(key, Value::Str(StrValue::Raw(Sds::from(bytes))));
            result
        }
    };
    if changed {
        ctx.dirty(1);
        ctx.notify(crate::notify::NOTIFY_STRING, "setbit", key);
    }
    ctx.out.int(was as i64);
}

/// GETBIT key offset
fn getbit(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let offset = match parse_bit_offset(args[2], None, ctx.config.proto_max_bulk_len) {
        Ok(o) => o,
        Err(e) => return ctx.out.error(e),
    };
    let t = ctx.locks.table(ctx.ks, ctx.db, args[1]);
    let s = match t.get(args[1], ctx.now_ms) {
        None => return ctx.out.int(0),
        Some(Value::Str(s)) => s,
        Some(_) => return ctx.out.error(errors::WRONGTYPE),
    };
    let mut buf = [0u8; 20];
    let bytes = str_bytes(s, &mut buf);
    let bit =
        usize::try_from(offset >> 3).ok().and_then(|i| bytes.get(i)).is_some_and(|b| b & (0x80 >> (offset & 7)) != 0);
    ctx.out.int(bit as i64);
}

// ---------------------------------------------------------------------------------------------
// BITCOUNT / BITPOS
// ---------------------------------------------------------------------------------------------

/// BITCOUNT key [start end [BYTE|BIT]]
fn bitcount(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let t = ctx.locks.table(ctx.ks, ctx.db, args[1]);
    let s = match t.get(args[1], ctx.now_ms) {
        None => return ctx.out.int(0),
        Some(Value::Str(s)) => s,
        Some(_) => return ctx.out.error(errors::WRONGTYPE),
    };
    let mut buf = [0u8; 20];
    let bytes = str_bytes(s, &mut buf);
    match bitcount_of(bytes, &args[2..]) {
        Ok(n) => ctx.out.int(n as i64),
        Err(e) => ctx.out.error(e),
    }
}

/// BITCOUNT's answer for an existing string, given the arguments after the key.
fn bitcount_of(bytes: &[u8], range: &[&[u8]]) -> Result<u64, &'static str> {
    let strlen = bytes.len() as i64;
    let (first, last) = match range.len() {
        0 if bytes.is_empty() => return Ok(0),
        0 => (0, strlen as u64 * 8 - 1),
        2 | 3 => {
            let start = parse_i64(range[0]).ok_or(errors::NOT_INTEGER)?;
            let end = parse_i64(range[1]).ok_or(errors::NOT_INTEGER)?;
            // Checked before the unit and before clamping, which would otherwise turn two
            // out-of-range negative indexes into the range 0..0.
            if start < 0 && end < 0 && start > end {
                return Ok(0);
            }
            let in_bits = match range.get(2) {
                Some(unit) => parse_unit(unit)?,
                None => false,
            };
            let total = if in_bits { strlen * 8 } else { strlen };
            match clamp_range(start, end, total) {
                None => return Ok(0),
                Some((s, e)) if in_bits => (s, e),
                Some((s, e)) => (s * 8, e * 8 + 7),
            }
        }
        _ => return Err(errors::SYNTAX),
    };
    Ok(count_bits(bytes, first, last))
}

/// BITPOS key bit [start [end [BYTE|BIT]]]
fn bitpos(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let bit = match parse_i64(args[2]) {
        Some(0) => false,
        Some(1) => true,
        Some(_) => return ctx.out.error(BITPOS_BIT_ERR),
        None => return ctx.out.error(errors::NOT_INTEGER),
    };
    let t = ctx.locks.table(ctx.ks, ctx.db, args[1]);
    let s = match t.get(args[1], ctx.now_ms) {
        // A missing key is an endless run of zeros; the range is not even parsed.
        None => return ctx.out.int(if bit { -1 } else { 0 }),
        Some(Value::Str(s)) => s,
        Some(_) => return ctx.out.error(errors::WRONGTYPE),
    };
    let mut buf = [0u8; 20];
    let bytes = str_bytes(s, &mut buf);
    match bitpos_of(bytes, bit, &args[3..]) {
        Ok(n) => ctx.out.int(n),
        Err(e) => ctx.out.error(e),
    }
}

/// BITPOS's answer for an existing string, given the arguments after the bit.
fn bitpos_of(bytes: &[u8], bit: bool, range: &[&[u8]]) -> Result<i64, &'static str> {
    let strlen = bytes.len() as i64;
    if range.len() > 3 {
        return Err(errors::SYNTAX);
    }
    let start = match range.first() {
        Some(arg) => parse_i64(arg).ok_or(errors::NOT_INTEGER)?,
        None => 0,
    };
    // Redis checks the unit before it parses the end.
    let in_bits = match range.get(2) {
        Some(unit) => parse_unit(unit)?,
        None => false,
    };
    let end_given = range.len() >= 2;
    let end = match range.get(1) {
        Some(arg) => parse_i64(arg).ok_or(errors::NOT_INTEGER)?,
        None => strlen - 1,
    };
    let total = if in_bits { strlen * 8 } else { strlen };
    let (first, last) = match clamp_range(start, end, total) {
        // An empty range holds neither a 0 nor a 1.
        None => return Ok(-1),
        Some((s, e)) if in_bits => (s, e),
        Some((s, e)) => (s * 8, e * 8 + 7),
    };
    Ok(match find_bit(bytes, first, last, bit) {
        Some(pos) => pos as i64,
        None if bit => -1,
        // Without an explicit end the string is taken as padded with zeros on the right, so
        // the first clear bit is the one just past it; with an end, there is none.
        None if end_given => -1,
        None => last as i64 + 1,
    })
}

// ---------------------------------------------------------------------------------------------
// BITOP
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

/// Combines `src` into the running result `acc` (shorter operands count as zero-padded).
fn fold_bitop(acc: &mut Vec<u8>, src: &[u8], op: BitOp) {
    let common = acc.len().min(src.len());
    match op {
        BitOp::And => {
            for (a, b) in acc[..common].iter_mut().zip(src) {
                *a &= b;
            }
            acc[common..].fill(0);
            acc.resize(acc.len().max(src.len()), 0);
        }
        BitOp::Or | BitOp::Xor => {
            for (a, b) in acc[..common].iter_mut().zip(src) {
                if op == BitOp::Or {
                    *a |= b;
                } else {
                    *a ^= b;
                }
            }
            // Beyond the accumulated length x|0 and x^0 are just x.
            acc.extend_from_slice(&src[common..]);
        }
        BitOp::Not => {}
    }
}

/// BITOP AND|OR|XOR|NOT destkey key [key ...]
fn bitop(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let name = c_str(args[1]);
    let op = if eq_ic(name, "and") {
        BitOp::And
    } else if eq_ic(name, "or") {
        BitOp::Or
    } else if eq_ic(name, "xor") {
        BitOp::Xor
    } else if eq_ic(name, "not") {
        BitOp::Not
    } else {
        return ctx.out.error(errors::SYNTAX);
    };
    if op == BitOp::Not && args.len() != 4 {
        return ctx.out.error(BITOP_NOT_ERR);
    }
    let now = ctx.now_ms;
    let mut result: Vec<u8> = Vec::new();
    for (i, key) in args[3..].iter().enumerate() {
        let t = ctx.locks.table(ctx.ks, ctx.db, key);
        let mut buf = [0u8; 20];
        let src: &[u8] = match t.get(key, now) {
            None => &[],
            Some(Value::Str(s)) => str_bytes(s, &mut buf),
            Some(_) => return ctx.out.error(errors::WRONGTYPE),
        };
        if i == 0 {
            result.extend_from_slice(src);
            if op == BitOp::Not {
                result.iter_mut().for_each(|b| *b = !*b);
            }
        } else {
            fold_bitop(&mut result, src, op);
        }
    }
    let len = result.len();
    let dest = args[2];
    let t = ctx.locks.table(ctx.ks, ctx.db, dest);
    if len > 0 {
        t.set(dest, Value::Str(StrValue::Raw(Sds::from(result))));
        ctx.dirty(1);
        ctx.notify(crate::notify::NOTIFY_STRING, "set", dest);
    } else if t.remove(dest, now).is_some() {
        ctx.dirty(1);
        ctx.notify(crate::notify::NOTIFY_GENERIC, "del", dest);
    }
    ctx.out.int(len as i64);
}

// ---------------------------------------------------------------------------------------------
// BITFIELD / BITFIELD_RO
// ---------------------------------------------------------------------------------------------

/// What an INCRBY or SET does when the result does not fit the field.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum FieldOpKind {
    Get,
    Set,
    IncrBy,
}

/// One GET / SET / INCRBY of a BITFIELD call, fully parsed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct FieldOp {
    kind: FieldOpKind,
    signed: bool,
    /// Width in bits: 1..=64 signed, 1..=63 unsigned.
    bits: u32,
    offset: u64,
    /// The SET value or INCRBY increment.
    value: i64,
    overflow: Overflow,
}

/// A parsed BITFIELD call.
#[derive(Debug, PartialEq, Eq)]
struct FieldOps {
    ops: Vec<FieldOp>,
    /// The last bit a SET or INCRBY touches; `None` if every operation is a GET.
    highest_write_bit: Option<u64>,
}

/// Redis's `getBitfieldTypeFromArgument`: `i1`..`i64` or `u1`..`u63` (lowercase prefix only).
fn parse_field_type(arg: &[u8]) -> Result<(bool, u32), &'static str> {
    let arg = c_str(arg);
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(BITFIELD_TYPE_ERR),
    };
    match parse_i64(&arg[1..]) {
        Some(bits) if bits >= 1 && bits <= if signed { 64 } else { 63 } => Ok((signed, bits as u32)),
        _ => Err(BITFIELD_TYPE_ERR),
    }
}

/// Parses the subcommands after the key, stopping at the first bad argument with Redis's
/// error for it (arguments are checked in order, as Redis does).
fn parse_field_ops(args: &[&[u8]], max_bulk_len: i64) -> Result<FieldOps, &'static str> {
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut highest_write_bit: Option<u64> = None;
    let mut j = 0;
    while j < args.len() {
        let remaining = args.len() - j - 1;
        let sub = c_str(args[j]);
        let kind = if eq_ic(sub, "get") && remaining >= 2 {
            FieldOpKind::Get
        } else if eq_ic(sub, "set") && remaining >= 3 {
            FieldOpKind::Set
        } else if eq_ic(sub, "incrby") && remaining >= 3 {
            FieldOpKind::IncrBy
        } else if eq_ic(sub, "overflow") && remaining >= 1 {
            let name = c_str(args[j + 1]);
            overflow = if eq_ic(name, "wrap") {
                Overflow::Wrap
            } else if eq_ic(name, "sat") {
                Overflow::Sat
            } else if eq_ic(name, "fail") {
                Overflow::Fail
            } else {
                return Err(OVERFLOW_TYPE_ERR);
            };
            j += 2;
            continue;
        } else {
            return Err(errors::SYNTAX);
        };
        let (signed, bits) = parse_field_type(args[j + 1])?;
        let offset = parse_bit_offset(args[j + 2], Some(bits), max_bulk_len)?;
        let mut value = 0;
        if kind != FieldOpKind::Get {
            let last = offset + bits as u64 - 1;
            highest_write_bit = Some(highest_write_bit.map_or(last, |h| h.max(last)));
            value = parse_i64(args[j + 3]).ok_or(errors::NOT_INTEGER)?;
        }
        ops.push(FieldOp { kind, signed, bits, offset, value, overflow });
        j += if kind == FieldOpKind::Get { 3 } else { 4 };
    }
    Ok(FieldOps { ops, highest_write_bit })
}

fn low_mask(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

/// The `bits`-wide unsigned field at bit `offset`; bytes past the end of `bytes` read as 0.
fn read_field(bytes: &[u8], offset: u64, bits: u32) -> u64 {
    // A field of up to 64 bits starting anywhere in a byte spans at most 9 bytes: load them
    // big-endian into a 72-bit window and shift the field down.
    let first = offset >> 3;
    let mut window: u128 = 0;
    for i in 0..9 {
        let byte = usize::try_from(first + i).ok().and_then(|idx| bytes.get(idx)).copied().unwrap_or(0);
        window = (window << 8) | byte as u128;
    }
    let shift = 72 - (offset & 7) as u32 - bits;
    (window >> shift) as u64 & low_mask(bits)
}

/// Sign-extends a `bits`-wide two's complement field.
fn to_signed(raw: u64, bits: u32) -> i64 {
    if bits < 64 && raw & (1u64 << (bits - 1)) != 0 {
        (raw | !low_mask(bits)) as i64
    } else {
        raw as i64
    }
}

/// Stores the low `bits` bits of `value` at bit `offset`. The caller has made `bytes` long
/// enough to hold the whole field; bytes around it keep their other bits.
fn write_field(bytes: &mut [u8], offset: u64, bits: u32, value: u64) {
    let first = (offset >> 3) as usize;
    let span = ((offset & 7) + bits as u64).div_ceil(8) as usize;
    let mut window: u128 = 0;
    for i in 0..span {
        window = (window << 8) | bytes[first + i] as u128;
    }
    let shift = span as u32 * 8 - (offset & 7) as u32 - bits;
    let field_mask = (low_mask(bits) as u128) << shift;
    window = (window & !field_mask) | (((value & low_mask(bits)) as u128) << shift);
    for i in (0..span).rev() {
        bytes[first + i] = window as u8;
        window >>= 8;
    }
}

/// Redis's `checkUnsignedBitfieldOverflow`: whether `value + incr` fits `bits` unsigned bits,
/// and if not what WRAP or SAT turn it into. `value` is the old field for INCRBY, or the SET
/// value reinterpreted as unsigned (so a negative SET value is an overflow, saturating to the
/// maximum, exactly as in Redis).
fn unsigned_overflow(value: u64, incr: i64, bits: u32, overflow: Overflow) -> Option<u64> {
    let max = low_mask(bits);
    // Redis compares against these as signed 64-bit numbers computed with wrapping
    // arithmetic; keeping that form keeps its results for out-of-range inputs.
    let max_incr = max.wrapping_sub(value) as i64;
    let min_incr = value.wrapping_neg() as i64;
    let saturated = if value > max || (incr > 0 && incr > max_incr) {
        max
    } else if incr < 0 && incr < min_incr {
        0
    } else {
        return None;
    };
    Some(match overflow {
        Overflow::Sat => saturated,
        _ => value.wrapping_add(incr as u64) & max,
    })
}

/// Redis's `checkSignedBitfieldOverflow`, the signed counterpart of [`unsigned_overflow`].
fn signed_overflow(value: i64, incr: i64, bits: u32, overflow: Overflow) -> Option<i64> {
    let max: i64 = if bits == 64 { i64::MAX } else { (1i64 << (bits - 1)) - 1 };
    let min = -max - 1;
    // As in Redis these may wrap; they are compared exactly as it compares them, which makes
    // a SET of a hugely negative value into a narrow field count as an overflow (SAT → max).
    let max_incr = (max as u64).wrapping_sub(value as u64) as i64;
    let min_incr = min.wrapping_sub(value);
    let narrow = bits != 64;
    let saturated = if value > max || (narrow && incr > max_incr) || (value >= 0 && incr > 0 && incr > max_incr) {
        max
    } else if value < min || (narrow && incr < min_incr) || (value < 0 && incr < 0 && incr < min_incr) {
        min
    } else {
        return None;
    };
    Some(match overflow {
        Overflow::Sat => saturated,
        _ => to_signed(value.wrapping_add(incr) as u64 & low_mask(bits), bits),
    })
}

/// Runs a SET or INCRBY on `bytes`: replies the old value (SET) or the new one (INCRBY), or
/// null when OVERFLOW FAIL refuses it. Returns whether it wrote, and if so whether the stored
/// field changed.
fn apply_write(bytes: &mut [u8], op: &FieldOp, out: &mut ReplyBuf) -> Option<bool> {
    let old_raw = read_field(bytes, op.offset, op.bits);
    let (reply, new_raw) = if op.signed {
        let old = to_signed(old_raw, op.bits);
        let (base, incr) = if op.kind == FieldOpKind::IncrBy { (old, op.value) } else { (op.value, 0) };
        let new = match signed_overflow(base, incr, op.bits, op.overflow) {
            Some(_) if op.overflow == Overflow::Fail => None,
            Some(limited) => Some(limited),
            None => Some(base.wrapping_add(incr)),
        };
        let Some(new) = new else {
            out.null();
            return None;
        };
        (if op.kind == FieldOpKind::IncrBy { new } else { old }, new as u64 & low_mask(op.bits))
    } else {
        let (base, incr) = if op.kind == FieldOpKind::IncrBy { (old_raw, op.value) } else { (op.value as u64, 0) };
        let new = match unsigned_overflow(base, incr, op.bits, op.overflow) {
            Some(_) if op.overflow == Overflow::Fail => None,
            Some(limited) => Some(limited),
            None => Some(base.wrapping_add(incr as u64)),
        };
        let Some(new) = new else {
            out.null();
            return None;
        };
        // Unsigned fields are at most 63 bits wide, so every value fits an i64 reply.
        (if op.kind == FieldOpKind::IncrBy { new as i64 } else { old_raw as i64 }, new)
    };
    out.int(reply);
    write_field(bytes, op.offset, op.bits, new_raw);
    Some(new_raw != old_raw)
}

/// Replies a GET of `op` against `bytes` (zero beyond the end).
fn reply_get(bytes: &[u8], op: &FieldOp, out: &mut ReplyBuf) {
    let raw = read_field(bytes, op.offset, op.bits);
    out.int(if op.signed { to_signed(raw, op.bits) } else { raw as i64 });
}

/// Runs every operation in order on a bitmap already long enough for all writes, replying
/// each; returns the number of changes as Redis counts them: a write counts if it changed the
/// field, or if the string was just created or grown; a write refused by FAIL never counts.
fn run_field_ops(bytes: &mut [u8], ops: &[FieldOp], grew: bool, out: &mut ReplyBuf) -> u64 {
    let mut changes = 0;
    for op in ops {
        if op.kind == FieldOpKind::Get {
            reply_get(bytes, op, out);
        } else if let Some(changed) = apply_write(bytes, op, out) {
            if changed || grew {
                changes += 1;
            }
        }
    }
    changes
}

/// BITFIELD key [GET type offset | [OVERFLOW WRAP|SAT|FAIL] SET type offset value |
/// [OVERFLOW WRAP|SAT|FAIL] INCRBY type offset increment ...]
fn bitfield(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    bitfield_generic(ctx, args, false);
}

/// BITFIELD_RO key [GET type offset ...]
fn bitfield_ro(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    bitfield_generic(ctx, args, true);
}

fn bitfield_generic(ctx: &mut Ctx<'_, '_>, args: &[&[u8]], read_only: bool) {
    let parsed = match parse_field_ops(&args[2..], ctx.config.proto_max_bulk_len) {
        Ok(p) => p,
        Err(e) => return ctx.out.error(e),
    };
    let key = args[1];
    let now = ctx.now_ms;
    let t = ctx.locks.table(ctx.ks, ctx.db, key);
    let Some(highest) = parsed.highest_write_bit else {
        // Only GETs: a missing key reads as zeros.
        let mut buf = [0u8; 20];
        let bytes: &[u8] = match t.get(key, now) {
            None => &[],
            Some(Value::Str(s)) => str_bytes(s, &mut buf),
            Some(_) => return ctx.out.error(errors::WRONGTYPE),
        };
        ctx.out.array(parsed.ops.len());
        for op in &parsed.ops {
            reply_get(bytes, op, ctx.out);
        }
        return;
    };
    if read_only {
        return ctx.out.error(BITFIELD_RO_ERR);
    }
    let min_len = match bytes_for_bit(highest) {
        Ok(n) => n,
        Err(e) => return ctx.out.error(e),
    };
    let out = &mut *ctx.out;
    let changes = match t.get_mut(key, now) {
        Some(Value::Str(s)) => {
            out.array(parsed.ops.len());
            edit_bitmap(s, min_len, |bytes, grew| run_field_ops(bytes, &parsed.ops, grew, out))
        }
        Some(_) => return out.error(errors::WRONGTYPE),
        None => {
            out.array(parsed.ops.len());
            let mut bytes = vec![0u8; min_len];
            let changes = run_field_ops(&mut bytes, &parsed.ops, true, out);
            // Redis creates the key before running the operations, so it exists even when
            // every write was refused by OVERFLOW FAIL.
            t.set(key, Value::Str(StrValue::Raw(Sds::from(bytes))));
            changes
        }
    };
    ctx.dirty(changes);
    if changes > 0 {
        ctx.notify(crate::notify::NOTIFY_STRING, "setbit", key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic pseudo-random bytes (xorshift), so the tests need no seed handling.
    fn noise(len: usize, mut state: u64) -> Vec<u8> {
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect()
    }

    fn bit(bytes: &[u8], i: u64) -> bool {
        bytes.get((i / 8) as usize).is_some_and(|b| b & (0x80 >> (i % 8)) != 0)
    }

    #[test]
    fn fields_read_and_write_like_a_bit_loop() {
        let base = noise(16, 0x9e37_79b9_7f4a_7c15);
        for offset in 0..40u64 {
            for bits in 1..=64u32 {
                let want = (0..bits as u64).fold(0u64, |v, i| (v << 1) | bit(&base, offset + i) as u64);
                assert_eq!(read_field(&base, offset, bits), want, "read {offset} {bits}");
                // Reading past the end pads with zeros.
                assert_eq!(read_field(&base[..3], offset, bits), {
                    (0..bits as u64).fold(0u64, |v, i| (v << 1) | bit(&base[..3], offset + i) as u64)
                });
                if offset + bits as u64 > 128 {
                    continue;
                }
                let value = noise(8, offset * 64 + bits as u64).iter().fold(0u64, |v, b| (v << 8) | *b as u64);
                let mut got = base.clone();
                write_field(&mut got, offset, bits, value);
                for i in 0..128u64 {
                    let inside = i >= offset && i < offset + bits as u64;
                    let want_bit =
                        if inside { value >> (bits as u64 - 1 - (i - offset)) & 1 == 1 } else { bit(&base, i) };
                    assert_eq!(bit(&got, i), want_bit, "write {offset} {bits} bit {i}");
                }
            }
        }
    }

    #[test]
    fn bit_search_and_count_agree_with_a_scan() {
        let patterns = [noise(21, 7), vec![0u8; 21], vec![0xff; 21], {
            let mut v = vec![0u8; 21];
            v[13] = 0x10;
            v
        }];
        for bytes in &patterns {
            let total = bytes.len() as u64 * 8;
            for first in 0..total {
                for last in first..total {
                    let count = (first..=last).filter(|&i| bit(bytes, i)).count() as u64;
                    assert_eq!(count_bits(bytes, first, last), count);
                    for wanted in [false, true] {
                        let pos = (first..=last).find(|&i| bit(bytes, i) == wanted);
                        assert_eq!(find_bit(bytes, first, last, wanted), pos, "{first}..={last} {wanted}");
                    }
                }
            }
        }
    }

    #[test]
    fn overflow_checks_keep_redis_quirks() {
        use Overflow::*;
        // In range: no overflow.
        assert_eq!(signed_overflow(100, 27, 8, Sat), None);
        assert_eq!(signed_overflow(i64::MAX, 0, 64, Sat), None);
        assert_eq!(unsigned_overflow(200, 55, 8, Sat), None);
        // Plain overflow and underflow.
        assert_eq!(signed_overflow(100, 28, 8, Sat), Some(127));
        assert_eq!(signed_overflow(100, 28, 8, Wrap), Some(-128));
        assert_eq!(signed_overflow(-100, -29, 8, Sat), Some(-128));
        assert_eq!(signed_overflow(-100, -29, 8, Wrap), Some(127));
        assert_eq!(signed_overflow(i64::MAX, 1, 64, Wrap), Some(i64::MIN));
        assert_eq!(signed_overflow(i64::MIN, -1, 64, Sat), Some(i64::MIN));
        assert_eq!(unsigned_overflow(200, 56, 8, Sat), Some(255));
        assert_eq!(unsigned_overflow(200, 56, 8, Wrap), Some(0));
        assert_eq!(unsigned_overflow(5, -6, 8, Sat), Some(0));
        assert_eq!(unsigned_overflow(5, -6, 8, Wrap), Some(255));
        // A negative SET into an unsigned field is a huge unsigned number: it saturates to
        // the maximum (redis-server: `BITFIELD k OVERFLOW SAT SET u8 0 -1` stores 255).
        assert_eq!(unsigned_overflow(-1i64 as u64, 0, 8, Sat), Some(255));
        assert_eq!(unsigned_overflow(-300i64 as u64, 0, 8, Wrap), Some(212));
        // Redis's wrapped 64-bit test turns a SET far below a narrow field's minimum into an
        // overflow: SAT stores the maximum (checked against redis-server 7.0.15).
        assert_eq!(signed_overflow(i64::MIN, 0, 8, Sat), Some(127));
        assert_eq!(signed_overflow(i64::MIN, 0, 8, Wrap), Some(0));
        assert_eq!(signed_overflow(-9223372036854775681, 0, 8, Sat), Some(127));
        assert_eq!(signed_overflow(-9223372036854775680, 0, 8, Sat), Some(-128));
    }

    #[test]
    fn offsets_and_types_parse_like_redis() {
        let max = 1024 * 1024;
        assert_eq!(parse_bit_offset(b"8388607", None, max), Ok(8388607));
        assert_eq!(parse_bit_offset(b"8388608", None, max), Err(BIT_OFFSET_ERR));
        assert_eq!(parse_bit_offset(b"-1", None, max), Err(BIT_OFFSET_ERR));
        assert_eq!(parse_bit_offset(b"#3", None, max), Err(BIT_OFFSET_ERR));
        assert_eq!(parse_bit_offset(b"#3", Some(8), max), Ok(24));
        assert_eq!(parse_bit_offset(b"#1048575", Some(8), max), Ok(8388600));
        assert_eq!(parse_bit_offset(b"#1048576", Some(8), max), Err(BIT_OFFSET_ERR));
        assert_eq!(parse_bit_offset(b"#-1", Some(8), max), Err(BIT_OFFSET_ERR));
        // The #N product wraps as Redis's does: (2^61 + 1) * 8 = 8 (mod 2^64), a valid offset
        // (redis-server agrees), while (2^60 + 1) * 8 wraps negative and is refused.
        assert_eq!(parse_bit_offset(b"#2305843009213693953", Some(8), max), Ok(8));
        assert_eq!(parse_bit_offset(b"#1152921504606846977", Some(8), max), Err(BIT_OFFSET_ERR));
        assert_eq!(parse_field_type(b"i64"), Ok((true, 64)));
        assert_eq!(parse_field_type(b"u63"), Ok((false, 63)));
        assert_eq!(parse_field_type(b"u1\0junk"), Ok((false, 1)));
        for bad in [&b"u64"[..], b"i65", b"i0", b"I8", b"i", b"u", b"", b"x8", b"i-1", b"i+8", b"i 8"] {
            assert_eq!(parse_field_type(bad), Err(BITFIELD_TYPE_ERR), "{bad:?}");
        }
    }

    #[test]
    fn bitfield_parsing_stops_at_the_first_error() {
        let parse = |args: &[&str]| {
            let v: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
            parse_field_ops(&v, 1024 * 1024)
        };
        assert_eq!(parse(&["get", "u8"]), Err(errors::SYNTAX));
        assert_eq!(parse(&["overflow"]), Err(errors::SYNTAX));
        assert_eq!(parse(&["overflow", "nope", "get"]), Err(OVERFLOW_TYPE_ERR));
        assert_eq!(parse(&["set", "u8", "0", "x", "get", "u64", "0"]), Err(errors::NOT_INTEGER));
        assert_eq!(parse(&["get", "u64", "x"]), Err(BITFIELD_TYPE_ERR));
        let ok = parse(&["get", "u8", "0", "overflow", "fail", "incrby", "i5", "#2", "-3"])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ok.highest_write_bit, Some(14));
        assert_eq!(
            ok.ops[1],
            FieldOp {
                kind: FieldOpKind::IncrBy,
                signed: true,
                bits: 5,
                offset: 10,
                value: -3,
                overflow: Overflow::Fail
            }
        );
        assert_eq!(parse(&[]).map(|p| (p.ops.len(), p.highest_write_bit)), Ok((0, None)));
    }

    #[test]
    fn bitop_folds_zero_pad_shorter_operands() {
        let mut acc = vec![0xf0, 0x0f, 0xff];
        fold_bitop(&mut acc, &[0xff], BitOp::And);
        assert_eq!(acc, [0xf0, 0, 0]);
        fold_bitop(&mut acc, &[0x0f, 1, 2, 3], BitOp::Or);
        assert_eq!(acc, [0xff, 1, 2, 3]);
        fold_bitop(&mut acc, &[0xff, 1], BitOp::Xor);
        assert_eq!(acc, [0, 0, 2, 3]);
        let mut acc = vec![1];
        fold_bitop(&mut acc, &[1, 1, 1], BitOp::And);
        assert_eq!(acc, [1, 0, 0]);
    }

    #[test]
    fn integer_strings_become_raw_bytes_when_edited() {
        let mut v = StrValue::Int(12);
        let grew = edit_bitmap(&mut v, 3, |bytes, grew| {
            assert_eq!(bytes, b"12\0");
            bytes[0] = b'9';
            grew
        });
        assert!(grew);
        assert!(matches!(&v, StrValue::Raw(s) if s.as_bytes() == b"92\0"));
        // Long enough already: edited in place, no growth reported.
        let mut v = StrValue::Raw(Sds::new(&[0u8; 40]));
        assert!(!edit_bitmap(&mut v, 40, |bytes, grew| {
            bytes[39] = 1;
            grew
        }));
        assert!(matches!(&v, StrValue::Raw(s) if s.len() == 40 && s[39] == 1));
    }
}
