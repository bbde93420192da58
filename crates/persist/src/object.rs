//! RDB object encodings (Redis 7.0, RDB version 10): what `rdbSaveObject` writes for each value
//! type and what `rdbLoadObject` reads, including lengths, integer-encoded and LZF-compressed
//! strings. Writing chooses the encoding Redis 7.0 would for the same contents (listpack or
//! intset while small, plain otherwise), so a payload is what Redis itself would accept.

use crate::listpack::{self, ListpackWriter, LpValue};
use crate::stream::{
    decode_stream_body, encode_stream_body, StreamNodeLimits, TYPE_STREAM_LISTPACKS, TYPE_STREAM_LISTPACKS_2,
};
use crate::{intset, lzf, ziplist, FormatError};
use keyspace::value::{HashFields, SetMembers};
use keyspace::{Score, Sds, StrValue, Value, ZSetValue};
use std::collections::VecDeque;

pub const TYPE_STRING: u8 = 0;
pub const TYPE_SET: u8 = 2;
pub const TYPE_ZSET: u8 = 3;
pub const TYPE_HASH: u8 = 4;
pub const TYPE_ZSET_2: u8 = 5;
pub const TYPE_LIST: u8 = 1;
pub const TYPE_HASH_ZIPMAP: u8 = 9;
pub const TYPE_LIST_ZIPLIST: u8 = 10;
pub const TYPE_SET_INTSET: u8 = 11;
pub const TYPE_ZSET_ZIPLIST: u8 = 12;
pub const TYPE_HASH_ZIPLIST: u8 = 13;
pub const TYPE_LIST_QUICKLIST: u8 = 14;
pub const TYPE_HASH_LISTPACK: u8 = 16;
pub const TYPE_ZSET_LISTPACK: u8 = 17;
pub const TYPE_LIST_QUICKLIST_2: u8 = 18;

const ENC_INT8: u8 = 0;
const ENC_INT16: u8 = 1;
const ENC_INT32: u8 = 2;
const ENC_LZF: u8 = 3;

const QUICKLIST_NODE_PLAIN: u64 = 1;
const QUICKLIST_NODE_PACKED: u64 = 2;

/// The settings that decide encodings, as the matching Redis directives.
#[derive(Debug, Clone)]
pub struct EncodeLimits {
    /// `rdbcompression`.
    pub compress: bool,
    /// With `compress`: after a run of strings LZF could not shrink, store the next ones as they
    /// are without trying, probing again now and then (see [`LzfBackoff`]). For whole-dataset
    /// saves, where a dataset of random or already-compressed values would otherwise pay for a
    /// failed compression per value; off for DUMP, whose payload should be what Redis's is.
    pub compress_backoff: bool,
    /// `list-max-listpack-size`: negative for a byte size class, positive for a count.
    pub list_max_listpack_size: i64,
    pub hash_max_listpack_entries: i64,
    pub hash_max_listpack_value: i64,
    pub set_max_intset_entries: i64,
    pub zset_max_listpack_entries: i64,
    pub zset_max_listpack_value: i64,
    /// `stream-node-max-bytes` and `stream-node-max-entries`: how streams are cut into nodes.
    pub stream_node: StreamNodeLimits,
}

impl Default for EncodeLimits {
    fn default() -> Self {
        EncodeLimits {
            compress: true,
            compress_backoff: false,
            list_max_listpack_size: -2,
            hash_max_listpack_entries: 128,
            hash_max_listpack_value: 64,
            set_max_intset_entries: 512,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            stream_node: StreamNodeLimits::default(),
        }
    }
}

// ---- writing ----

pub(crate) fn write_len(out: &mut Vec<u8>, len: u64) {
    if len < 64 {
        out.push(len as u8);
    } else if len < 16384 {
        out.push(0x40 | (len >> 8) as u8);
        out.push(len as u8);
    } else if len <= u32::MAX as u64 {
        out.push(0x80);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

/// `rdbEncodeInteger`: the special 8/16/32-bit encodings, if `v` fits.
fn write_int_encoded(out: &mut Vec<u8>, v: i64) -> bool {
    if let Ok(b) = i8::try_from(v) {
        out.extend_from_slice(&[0xC0 | ENC_INT8, b as u8]);
    } else if let Ok(h) = i16::try_from(v) {
        out.push(0xC0 | ENC_INT16);
        out.extend_from_slice(&h.to_le_bytes());
    } else if let Ok(w) = i32::try_from(v) {
        out.push(0xC0 | ENC_INT32);
        out.extend_from_slice(&w.to_le_bytes());
    } else {
        return false;
    }
    true
}

thread_local! {
    /// Where [`write_string`] compresses each string before copying it after its header: one
    /// buffer per thread, so a save allocates nothing per string.
    static LZF_OUT: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    /// The calling thread's [`LzfBackoff`], for `EncodeLimits::compress_backoff`.
    static LZF_BACKOFF: std::cell::Cell<LzfBackoff> = const { std::cell::Cell::new(LzfBackoff::NEW) };
}

/// When a save stops trying LZF: after [`LzfBackoff::FAILURES`] strings in a row that did not
/// shrink, the next `window` strings are stored as they are; the one after is tried again, and a
/// failure there doubles the window (up to [`LzfBackoff::MAX_WINDOW`]) while a success starts
/// over. On incompressible values (random bytes, already-compressed data) this keeps one attempt
/// in ~1000 instead of every one, which was a fifth of an AOF rewrite's CPU; on values that do
/// compress it never skips, since a success resets the run. The cost is at most `MAX_WINDOW`
/// strings stored uncompressed when a long incompressible stretch gives way to compressible
/// values. Rejected: sampling only the first bytes of each string, which still pays per value
/// and misjudges values whose repetition starts late.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LzfBackoff {
    failures: u32,
    skip: u32,
    window: u32,
}

impl LzfBackoff {
    const NEW: LzfBackoff = LzfBackoff { failures: 0, skip: 0, window: 0 };
    const FAILURES: u32 = 32;
    const FIRST_WINDOW: u32 = 64;
    const MAX_WINDOW: u32 = 1024;

    /// Whether to try compressing the next string; a string skipped is counted here.
    fn should_try(&mut self) -> bool {
        if self.skip > 0 {
            self.skip -= 1;
            return false;
        }
        true
    }

    /// The outcome of a try.
    fn record(&mut self, shrank: bool) {
        if shrank {
            *self = LzfBackoff::NEW;
            return;
        }
        self.failures += 1;
        if self.failures >= Self::FAILURES {
            self.window = if self.window == 0 { Self::FIRST_WINDOW } else { (self.window * 2).min(Self::MAX_WINDOW) };
            self.skip = self.window;
            // The next try, after the window, decides alone whether to skip again.
            self.failures = Self::FAILURES - 1;
        }
    }
}

/// Frees what compressing strings keeps on the calling thread between calls (the LZF hash
/// table and output buffer, 64 KB and up to the longest string compressed). A thread that
/// wrote a snapshot calls it at the end: it may not compress again for a long time, and the
/// memory would otherwise count in used_memory (and against maxmemory) until it exits.
pub fn release_thread_buffers() {
    LZF_OUT.with(|b| {
        if let Ok(mut b) = b.try_borrow_mut() {
            *b = Vec::new();
        }
    });
    lzf::release_thread_table();
    LZF_BACKOFF.with(|b| b.set(LzfBackoff::NEW));
}

/// `rdbSaveRawString`: short canonical integers integer-encoded, long strings LZF-compressed
/// when that saves at least 4 bytes, everything else length-prefixed.
pub(crate) fn write_string(out: &mut Vec<u8>, s: &[u8], limits: &EncodeLimits) {
    if s.len() <= 11 {
        if let Some(v) = resp::string2ll(s) {
            if write_int_encoded(out, v) {
                return;
            }
        }
    }
    if limits.compress && s.len() > 20 {
        let try_now = !limits.compress_backoff
            || LZF_BACKOFF.with(|b| {
                let mut state = b.get();
                let go = state.should_try();
                b.set(state);
                go
            });
        let compressed = try_now
            && LZF_OUT.with(|scratch| {
                let Ok(mut c) = scratch.try_borrow_mut() else { return false };
                if !lzf::compress_into(s, s.len() - 4, &mut c) {
                    return false;
                }
                out.push(0xC0 | ENC_LZF);
                write_len(out, c.len() as u64);
                write_len(out, s.len() as u64);
                out.extend_from_slice(&c);
                true
            });
        if try_now && limits.compress_backoff {
            LZF_BACKOFF.with(|b| {
                let mut state = b.get();
                state.record(compressed);
                b.set(state);
            });
        }
        if compressed {
            return;
        }
    }
    write_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// Appends a score as a zset listpack holds it (Redis's `zzlInsertAt`): an integer when the
/// score is integral within ±LLONG_MAX/2 (`double2ll`; so -0 becomes 0), else `d2string`'s text.
fn push_score(w: &mut ListpackWriter, score: f64) {
    const LIMIT: f64 = (i64::MAX / 2) as f64;
    if (-LIMIT..=LIMIT).contains(&score) && score == (score as i64) as f64 {
        w.push_int(score as i64);
    } else if score.is_infinite() {
        w.push_str(if score < 0.0 { b"-inf" } else { b"inf" });
    } else {
        w.push_str(resp::format_double(score).as_bytes());
    }
}

/// Byte limit of one list node for a negative `list-max-listpack-size`.
fn list_node_bytes(fill: i64) -> usize {
    match fill {
        -1 => 4096,
        -2 => 8192,
        -3 => 16384,
        -4 => 32768,
        _ => 65536,
    }
}

/// Appends the type byte and the object encoding of `value`.
/// A string object's encoding without its type byte ([`TYPE_STRING`]): an integer encoding
/// where the value has one, else the bytes (LZF-compressed when `limits` allow and it pays).
pub fn encode_string_body(s: &StrValue, limits: &EncodeLimits, out: &mut Vec<u8>) {
    match s {
        StrValue::Int(v) => {
            if !write_int_encoded(out, *v) {
                write_string(out, v.to_string().as_bytes(), limits);
            }
        }
        StrValue::Raw(s) => write_string(out, s.as_bytes(), limits),
    }
}

pub fn encode_object(value: &Value, limits: &EncodeLimits, out: &mut Vec<u8>) {
    match value {
        Value::Str(s) => {
            out.push(TYPE_STRING);
            encode_string_body(s, limits, out);
        }
        Value::List(items) => {
            out.push(TYPE_LIST_QUICKLIST_2);
            let nodes = pack_list(items, limits.list_max_listpack_size);
            write_len(out, nodes.len() as u64);
            for node in nodes {
                write_len(out, QUICKLIST_NODE_PACKED);
                write_string(out, &node, limits);
            }
        }
        Value::Set(members) => {
            let ints: Option<Vec<i64>> = members.iter().map(|m| resp::string2ll(m.as_bytes())).collect();
            match ints {
                Some(mut ints) if members.len() as i64 <= limits.set_max_intset_entries => {
                    out.push(TYPE_SET_INTSET);
                    write_string(out, &intset::encode(&mut ints), limits);
                }
                _ => {
                    out.push(TYPE_SET);
                    write_len(out, members.len() as u64);
                    for m in members.iter() {
                        write_string(out, m.as_bytes(), limits);
                    }
                }
            }
        }
        Value::Hash(fields) => {
            let small = fields.len() as i64 <= limits.hash_max_listpack_entries
                && fields.iter().all(|(f, v)| {
                    f.len() as i64 <= limits.hash_max_listpack_value && v.len() as i64 <= limits.hash_max_listpack_value
                });
            if small {
                out.push(TYPE_HASH_LISTPACK);
                let mut w = ListpackWriter::new();
                for (f, v) in fields.iter() {
                    w.push(f.as_bytes());
                    w.push(v.as_bytes());
                }
                write_string(out, &w.finish(), limits);
            } else {
                out.push(TYPE_HASH);
                write_len(out, fields.len() as u64);
                for (f, v) in fields.iter() {
                    write_string(out, f.as_bytes(), limits);
                    write_string(out, v.as_bytes(), limits);
                }
            }
        }
        Value::ZSet(z) => {
            let small = z.ordered.len() as i64 <= limits.zset_max_listpack_entries
                && z.ordered.iter().all(|(_, m)| m.len() as i64 <= limits.zset_max_listpack_value);
            if small {
                out.push(TYPE_ZSET_LISTPACK);
                let mut w = ListpackWriter::new();
                for (score, m) in z.ordered.iter() {
                    w.push(m.as_bytes());
                    push_score(&mut w, score.0);
                }
                write_string(out, &w.finish(), limits);
            } else {
                // Highest score first, as Redis writes it (so loading appends in order).
                out.push(TYPE_ZSET_2);
                write_len(out, z.ordered.len() as u64);
                for (score, m) in z.ordered.iter().rev() {
                    write_string(out, m.as_bytes(), limits);
                    out.extend_from_slice(&score.0.to_le_bytes());
                }
            }
        }
        Value::Stream(stream) => {
            out.push(TYPE_STREAM_LISTPACKS_2);
            encode_stream_body(stream, limits, out);
        }
    }
}

/// Splits a list into listpacks no larger than the node limit (at least one element each).
fn pack_list(items: &VecDeque<Sds>, fill: i64) -> Vec<Vec<u8>> {
    let mut nodes = Vec::new();
    let mut w = ListpackWriter::new();
    for item in items {
        let full = if fill > 0 {
            w.count() as i64 >= fill
        } else {
            w.count() > 0 && w.len_bytes() + item.len() + 11 > list_node_bytes(fill)
        };
        if full {
            nodes.push(std::mem::take(&mut w).finish());
            w = ListpackWriter::new();
        }
        w.push(item.as_bytes());
    }
    if w.count() > 0 {
        nodes.push(w.finish());
    }
    nodes
}

// ---- reading ----

/// A cursor over untrusted bytes.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// A length field, or one of the special string encodings.
enum Len {
    Plain(u64),
    Encoded(u8),
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn skip(&mut self, n: usize) -> Result<(), FormatError> {
        self.take(n).map(|_| ())
    }

    pub fn peek_u8(&self) -> Result<u8, FormatError> {
        self.buf.get(self.pos).copied().ok_or(FormatError::Truncated)
    }

    pub fn take_bytes(&mut self, n: usize) -> Result<&'a [u8], FormatError> {
        self.take(n)
    }

    /// A string in any of its encodings, as bytes.
    pub fn string_bytes(&mut self) -> Result<Vec<u8>, FormatError> {
        self.string()
    }

    /// A plain length that is a number, not a count of following items (a database index,
    /// a size hint), so it is not bounded by the bytes left.
    pub fn plain_len(&mut self) -> Result<u64, FormatError> {
        match self.len_field()? {
            Len::Plain(n) => Ok(n),
            Len::Encoded(_) => Err(FormatError::Malformed("length")),
        }
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], FormatError> {
        let end = self.pos.checked_add(n).ok_or(FormatError::Truncated)?;
        let s = self.buf.get(self.pos..end).ok_or(FormatError::Truncated)?;
        self.pos = end;
        Ok(s)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, FormatError> {
        Ok(self.take(1)?[0])
    }

    fn len_field(&mut self) -> Result<Len, FormatError> {
        let b = self.u8()?;
        Ok(match b >> 6 {
            0 => Len::Plain((b & 0x3f) as u64),
            1 => Len::Plain((((b & 0x3f) as u64) << 8) | self.u8()? as u64),
            2 => match b {
                0x80 => {
                    let d = self.take(4)?;
                    Len::Plain(u32::from_be_bytes([d[0], d[1], d[2], d[3]]) as u64)
                }
                0x81 => {
                    let mut d = [0u8; 8];
                    d.copy_from_slice(self.take(8)?);
                    Len::Plain(u64::from_be_bytes(d))
                }
                _ => return Err(FormatError::Malformed("length")),
            },
            _ => Len::Encoded(b & 0x3f),
        })
    }

    /// A plain length, bounded by the bytes left (every counted item takes at least one byte),
    /// so a hostile count cannot make us allocate.
    fn len(&mut self) -> Result<usize, FormatError> {
        match self.len_field()? {
            Len::Plain(n) if n <= (self.buf.len() - self.pos) as u64 => Ok(n as usize),
            Len::Plain(_) => Err(FormatError::Truncated),
            Len::Encoded(_) => Err(FormatError::Malformed("length")),
        }
    }

    /// `rdbGenericLoadStringObject`: raw, integer-encoded or LZF-compressed.
    pub(crate) fn string(&mut self) -> Result<Vec<u8>, FormatError> {
        match self.len_field()? {
            Len::Plain(n) => {
                let n = usize::try_from(n).map_err(|_| FormatError::Truncated)?;
                Ok(self.take(n)?.to_vec())
            }
            Len::Encoded(ENC_INT8) => Ok((self.u8()? as i8).to_string().into_bytes()),
            Len::Encoded(ENC_INT16) => {
                let d = self.take(2)?;
                Ok(i16::from_le_bytes([d[0], d[1]]).to_string().into_bytes())
            }
            Len::Encoded(ENC_INT32) => {
                let d = self.take(4)?;
                Ok(i32::from_le_bytes([d[0], d[1], d[2], d[3]]).to_string().into_bytes())
            }
            Len::Encoded(ENC_LZF) => {
                let clen = self.len()?;
                let Len::Plain(len) = self.len_field()? else {
                    return Err(FormatError::Malformed("lzf length"));
                };
                let data = self.take(clen)?;
                let len = usize::try_from(len).map_err(|_| FormatError::Malformed("lzf length"))?;
                lzf::decompress(data, len)
            }
            Len::Encoded(_) => Err(FormatError::Malformed("string encoding")),
        }
    }

    /// `rdbLoadDoubleValue` (scores of the old ZSET type): a length byte, with 253/254/255
    /// meaning NaN/+inf/-inf, then the number as text.
    fn text_double(&mut self) -> Result<f64, FormatError> {
        match self.u8()? {
            255 => Ok(f64::NEG_INFINITY),
            254 => Ok(f64::INFINITY),
            253 => Ok(f64::NAN),
            n => parse_score(self.take(n as usize)?),
        }
    }

    fn binary_double(&mut self) -> Result<f64, FormatError> {
        let mut d = [0u8; 8];
        d.copy_from_slice(self.take(8)?);
        Ok(f64::from_le_bytes(d))
    }
}

fn parse_score(text: &[u8]) -> Result<f64, FormatError> {
    std::str::from_utf8(text).ok().and_then(|s| s.parse::<f64>().ok()).ok_or(FormatError::Malformed("score"))
}

fn zset_add(z: &mut ZSetValue, member: Vec<u8>, score: f64) -> Result<(), FormatError> {
    if score.is_nan() {
        return Err(FormatError::Malformed("NaN score"));
    }
    let m = Sds::new(&member);
    if z.scores.insert(m.clone(), score).is_some() {
        return Err(FormatError::Malformed("duplicate zset member"));
    }
    z.ordered.insert((Score(score), m));
    Ok(())
}

/// A hash from a flat field, value, field, value ... sequence (listpack or ziplist).
fn hash_from_flat(entries: &[LpValue<'_>]) -> Result<Value, FormatError> {
    if !entries.len().is_multiple_of(2) {
        return Err(FormatError::Malformed("hash listpack"));
    }
    let mut fields = HashFields::default();
    for pair in entries.chunks_exact(2) {
        if fields.insert(Sds::new(&pair[0].to_bytes()), Sds::new(&pair[1].to_bytes())).is_some() {
            return Err(FormatError::Malformed("duplicate hash field"));
        }
    }
    let n = fields.len();
    non_empty(Value::Hash(Box::new(fields)), n)
}

/// A sorted set from a flat member, score, member, score ... sequence (listpack or ziplist).
fn zset_from_flat(entries: &[LpValue<'_>]) -> Result<Value, FormatError> {
    if !entries.len().is_multiple_of(2) {
        return Err(FormatError::Malformed("zset listpack"));
    }
    let mut z = ZSetValue::default();
    for pair in entries.chunks_exact(2) {
        let score = match &pair[1] {
            LpValue::Int(v) => *v as f64,
            LpValue::Str(s) => parse_score(s)?,
        };
        zset_add(&mut z, pair[0].to_bytes(), score)?;
    }
    let n = z.ordered.len();
    non_empty(Value::ZSet(Box::new(z)), n)
}

fn non_empty(v: Value, len: usize) -> Result<Value, FormatError> {
    if len == 0 {
        Err(FormatError::Empty)
    } else {
        Ok(v)
    }
}

/// Reads one object: its type byte, then its encoding (Redis's `rdbLoadObjectType` and
/// `rdbLoadObject` for the types Redis 7.0 writes, plus the plain ZSET type). Duplicates and
/// empty collections are errors, as Redis reports them.
pub fn decode_object(r: &mut Reader<'_>) -> Result<Value, FormatError> {
    let t = r.u8()?;
    decode_body(t, r)
}

/// The encoding of an object of type `t` (its type byte already read).
pub fn decode_body(t: u8, r: &mut Reader<'_>) -> Result<Value, FormatError> {
    let value = match t {
        TYPE_STRING => Value::Str(StrValue::from_bytes(&r.string()?)),
        TYPE_LIST_QUICKLIST_2 => {
            let nodes = r.len()?;
            let mut items = VecDeque::new();
            for _ in 0..nodes {
                let container = match r.len_field()? {
                    Len::Plain(c) => c,
                    Len::Encoded(_) => return Err(FormatError::Malformed("quicklist container")),
                };
                let blob = r.string()?;
                // No node is empty: a plain node holds one large element, a packed one a listpack
                // (Redis refuses a zero-length node in either container).
                if blob.is_empty() {
                    return Err(FormatError::Malformed("quicklist node"));
                }
                match container {
                    QUICKLIST_NODE_PLAIN => items.push_back(Sds::new(&blob)),
                    QUICKLIST_NODE_PACKED => {
                        let entries = listpack::decode(&blob)?;
                        // As Redis: an empty node is skipped (a list left with no node is empty).
                        items.extend(entries.iter().map(|e| Sds::new(&e.to_bytes())));
                    }
                    _ => return Err(FormatError::Malformed("quicklist container")),
                }
            }
            let n = items.len();
            non_empty(Value::List(Box::new(items)), n)?
        }
        TYPE_SET => {
            let n = r.len()?;
            let mut members = SetMembers::default();
            for _ in 0..n {
                if !members.insert(Sds::new(&r.string()?)) {
                    return Err(FormatError::Malformed("duplicate set member"));
                }
            }
            non_empty(Value::Set(Box::new(members)), n)?
        }
        TYPE_SET_INTSET => {
            let ints = intset::decode(&r.string()?)?;
            let n = ints.len();
            let members: SetMembers = ints.iter().map(|v| Sds::new(v.to_string().as_bytes())).collect();
            non_empty(Value::Set(Box::new(members)), n)?
        }
        TYPE_HASH => {
            let n = r.len()?;
            let mut fields = HashFields::default();
            for _ in 0..n {
                let f = r.string()?;
                let v = r.string()?;
                if fields.insert(Sds::new(&f), Sds::new(&v)).is_some() {
                    return Err(FormatError::Malformed("duplicate hash field"));
                }
            }
            non_empty(Value::Hash(Box::new(fields)), n)?
        }
        TYPE_HASH_LISTPACK => hash_from_flat(&listpack::decode(&r.string()?)?)?,
        // Written by Redis before 7.0; loaded and converted as Redis 7.0 does.
        TYPE_HASH_ZIPLIST => hash_from_flat(&ziplist::decode(&r.string()?)?)?,
        TYPE_HASH_ZIPMAP => {
            let blob = r.string()?;
            let mut fields = HashFields::default();
            for (f, v) in ziplist::decode_zipmap(&blob)? {
                if fields.insert(Sds::new(f), Sds::new(v)).is_some() {
                    return Err(FormatError::Malformed("duplicate hash field"));
                }
            }
            let n = fields.len();
            non_empty(Value::Hash(Box::new(fields)), n)?
        }
        TYPE_ZSET_ZIPLIST => zset_from_flat(&ziplist::decode(&r.string()?)?)?,
        TYPE_LIST => {
            let n = r.len()?;
            let mut items = VecDeque::new();
            for _ in 0..n {
                items.push_back(Sds::new(&r.string()?));
            }
            non_empty(Value::List(Box::new(items)), n)?
        }
        TYPE_LIST_ZIPLIST => {
            let items: VecDeque<Sds> = ziplist::decode(&r.string()?)?.iter().map(|e| Sds::new(&e.to_bytes())).collect();
            let n = items.len();
            non_empty(Value::List(Box::new(items)), n)?
        }
        TYPE_LIST_QUICKLIST => {
            let nodes = r.len()?;
            let mut items = VecDeque::new();
            for _ in 0..nodes {
                let blob = r.string()?;
                let entries = ziplist::decode(&blob)?;
                // As Redis: an empty node is skipped (a list left with no node is empty).
                items.extend(entries.iter().map(|e| Sds::new(&e.to_bytes())));
            }
            let n = items.len();
            non_empty(Value::List(Box::new(items)), n)?
        }
        TYPE_ZSET | TYPE_ZSET_2 => {
            let n = r.len()?;
            let mut z = ZSetValue::default();
            for _ in 0..n {
                let m = r.string()?;
                let score = if t == TYPE_ZSET { r.text_double()? } else { r.binary_double()? };
                zset_add(&mut z, m, score)?;
            }
            non_empty(Value::ZSet(Box::new(z)), n)?
        }
        TYPE_ZSET_LISTPACK => zset_from_flat(&listpack::decode(&r.string()?)?)?,
        // A stream may be empty (its groups outlive its entries), so it skips `non_empty`.
        TYPE_STREAM_LISTPACKS | TYPE_STREAM_LISTPACKS_2 => Value::Stream(Box::new(decode_stream_body(t, r)?)),
        other => return Err(FormatError::UnsupportedType(other)),
    };
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encodes `s` as a save would and says whether it went out LZF-compressed.
    fn saved_compressed(s: &[u8], limits: &EncodeLimits) -> bool {
        let mut out = Vec::new();
        write_string(&mut out, s, limits);
        out[0] == 0xC0 | ENC_LZF
    }

    /// 40 bytes LZF cannot shrink (a xorshift stream), different each call.
    fn incompressible(state: &mut u64) -> Vec<u8> {
        (0..40)
            .map(|_| {
                *state ^= *state << 13;
                *state ^= *state >> 7;
                *state ^= *state << 17;
                *state as u8
            })
            .collect()
    }

    #[test]
    fn lzf_backoff_skips_incompressible_runs_and_resumes_on_compressible_values() {
        release_thread_buffers();
        let limits = EncodeLimits { compress_backoff: true, ..EncodeLimits::default() };
        let compressible = vec![b'x'; 64];
        let mut rng = 0x9E37_79B9_7F4A_7C15u64;
        let mut tries = 0;
        for _ in 0..100_000 {
            let before = LZF_BACKOFF.with(|b| b.get());
            assert!(!saved_compressed(&incompressible(&mut rng), &limits));
            if before.skip == 0 {
                tries += 1;
            }
        }
        // 32 to start, then one per window: 64, 128, ..., 1024, 1024, ...
        assert!((32..32 + 110).contains(&tries), "{tries} tries over 100000 incompressible strings");
        // Compressible values come back within one window.
        let stored_raw = (0..=LzfBackoff::MAX_WINDOW).take_while(|_| !saved_compressed(&compressible, &limits)).count();
        assert!(stored_raw <= LzfBackoff::MAX_WINDOW as usize, "{stored_raw}");
        assert!(saved_compressed(&compressible, &limits), "a success starts over");
        // Mixed values never reach a run of 32 failures: every compressible one is compressed.
        for i in 0..10_000 {
            if i % 8 == 0 {
                assert!(saved_compressed(&compressible, &limits), "value {i}");
            } else {
                saved_compressed(&incompressible(&mut rng), &limits);
            }
        }
        // Without the option every string is tried, as DUMP does.
        release_thread_buffers();
        let plain = EncodeLimits::default();
        for _ in 0..200 {
            saved_compressed(&incompressible(&mut rng), &plain);
        }
        assert!(saved_compressed(&compressible, &plain));
        assert_eq!(LZF_BACKOFF.with(|b| b.get()), LzfBackoff::NEW);
    }
}
