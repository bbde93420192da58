//! RDB files (version 10, as Redis 7.0 writes them): the `REDIS0010` header, auxiliary fields,
//! database selectors and size hints, keys with their expiry and object, the EOF opcode and the
//! CRC64 trailer.
//!
//! Writing is incremental ([`RdbWriter`] appends to a buffer the caller drains to disk as it
//! likes), so a snapshot can be written slot by slot without holding the whole file in memory.
//! Reading ([`RdbReader`]) walks a complete file in memory and yields one item at a time; every
//! length is checked against the bytes present first, so a corrupt or hostile file is an error,
//! never a panic or an unbounded allocation. Never does I/O itself.

use crate::object::{decode_body, encode_object, Reader};
use crate::{crc64, EncodeLimits, FormatError, RDB_VERSION};
use keyspace::Value;

const OP_FUNCTION2: u8 = 0xF5;
const OP_FUNCTION: u8 = 0xF6;
const OP_MODULE_AUX: u8 = 0xF7;
const OP_IDLE: u8 = 0xF8;
const OP_FREQ: u8 = 0xF9;
const OP_AUX: u8 = 0xFA;
const OP_RESIZEDB: u8 = 0xFB;
const OP_EXPIRETIME_MS: u8 = 0xFC;
const OP_EXPIRETIME: u8 = 0xFD;
const OP_SELECTDB: u8 = 0xFE;
const OP_EOF: u8 = 0xFF;

/// Builds an RDB file. The caller adds aux fields, then for each database a selector and its
/// keys, then [`RdbWriter::finish`]; it may take the bytes written so far at any point with
/// [`RdbWriter::take_bytes`] (the checksum covers everything, taken or not).
pub struct RdbWriter {
    buf: Vec<u8>,
    /// The running checksum, fed whole slots at a time (kilobytes), where the carry-less
    /// multiply implementation is several times the table's speed.
    crc: crc_fast::Digest,
    limits: EncodeLimits,
    checksum: bool,
}

impl RdbWriter {
    /// Starts a file with the `REDIS0010` header. `checksum` false writes a zero trailer, as
    /// Redis does with `rdbchecksum no`.
    pub fn new(limits: EncodeLimits, checksum: bool) -> RdbWriter {
        let mut w = RdbWriter {
            buf: Vec::new(),
            crc: crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Redis),
            limits,
            checksum,
        };
        w.buf.extend_from_slice(format!("REDIS{RDB_VERSION:04}").as_bytes());
        w
    }

    /// An auxiliary field (`redis-ver`, `ctime`, `repl-id`, ...).
    pub fn aux(&mut self, key: &[u8], value: &[u8]) {
        self.buf.push(OP_AUX);
        crate::object::write_string(&mut self.buf, key, &self.limits);
        crate::object::write_string(&mut self.buf, value, &self.limits);
    }

    /// One function library (Redis 7.0's `RDB_OPCODE_FUNCTION2` and the library's code), which
    /// Redis writes after the aux fields, before the first database.
    pub fn function(&mut self, code: &[u8]) {
        encode_function(&mut self.buf, code, &self.limits);
    }

    /// Starts database `db`, with the sizes Redis records as a hint for the loader.
    pub fn select_db(&mut self, db: u64, keys: u64, keys_with_expiry: u64) {
        self.buf.push(OP_SELECTDB);
        crate::object::write_len(&mut self.buf, db);
        self.buf.push(OP_RESIZEDB);
        crate::object::write_len(&mut self.buf, keys);
        crate::object::write_len(&mut self.buf, keys_with_expiry);
    }

    /// Starts database `db` without size hints (a snapshot taken slot by slot does not know
    /// the sizes up front; the hints are optional for Redis's loader).
    pub fn select(&mut self, db: u64) {
        self.buf.push(OP_SELECTDB);
        crate::object::write_len(&mut self.buf, db);
    }

    /// One key of the current database, with its absolute expiry in Unix ms if it has one.
    pub fn key(&mut self, key: &[u8], value: &Value, expire_at_ms: Option<i64>) {
        encode_key_entry(&mut self.buf, key, value, expire_at_ms, &self.limits);
    }

    /// Hands `sink` the bytes this writer holds, then `entries` (key entries encoded earlier with
    /// [`encode_key_entry`]) as they are, the checksum seeing both. A snapshot serializes slots as
    /// their first writer reaches them and writes them out in order later, without copying
    /// them into this writer first.
    pub fn emit_encoded(
        &mut self,
        entries: &[u8],
        sink: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        self.drain_to(sink)?;
        self.crc.update(entries);
        sink(entries)
    }

    /// Lets `encode` append key entries (as [`encode_key_entry`] writes them) to the file with
    /// this writer's limits: a snapshot encodes a whole slot at once this way.
    pub fn encode_with<R>(&mut self, encode: impl FnOnce(&mut Vec<u8>, &EncodeLimits) -> R) -> R {
        encode(&mut self.buf, &self.limits)
    }

    /// Bytes encoded and not yet handed out.
    pub fn buffered_len(&self) -> usize {
        self.buf.len()
    }

    /// Hands `sink` the bytes encoded so far, the checksum seeing them, and keeps the buffer's
    /// room for what comes next.
    pub fn drain_to(&mut self, sink: &mut dyn FnMut(&[u8]) -> std::io::Result<()>) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.crc.update(&self.buf);
        sink(&self.buf)?;
        self.buf.clear();
        Ok(())
    }

    /// Bytes written since the last call, to be appended to the file; the checksum has seen them.
    pub fn take_bytes(&mut self) -> Vec<u8> {
        self.crc.update(&self.buf);
        std::mem::take(&mut self.buf)
    }

    /// The EOF opcode and the checksum trailer; returns the last bytes of the file.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(OP_EOF);
        self.crc.update(&self.buf);
        let crc = if self.checksum { self.crc.finalize() } else { 0 };
        self.buf.extend_from_slice(&crc.to_le_bytes());
        self.buf
    }
}

/// Appends one key entry as an RDB file holds it: the optional expiry, the type byte, the key,
/// the object's encoding.
pub fn encode_key_entry(
    out: &mut Vec<u8>,
    key: &[u8],
    value: &Value,
    expire_at_ms: Option<i64>,
    limits: &EncodeLimits,
) {
    if let Some(at) = expire_at_ms {
        out.push(OP_EXPIRETIME_MS);
        out.extend_from_slice(&at.to_le_bytes());
    }
    // The type byte comes first, then the key, then the encoding. A string's type is known
    // up front, so it is written in order (strings are most of a dataset; this runs per key
    // of every snapshot).
    if let Value::Str(s) = value {
        out.push(crate::object::TYPE_STRING);
        crate::object::write_string(out, key, limits);
        crate::object::encode_string_body(s, limits, out);
        return;
    }
    // Other types choose their encoding (and so their type byte) while encoding: the key goes
    // after a placeholder, the object after the key, and its type byte then moves into the
    // placeholder. Rejected: encoding the object apart and copying it in after the key, an
    // allocation and a second copy of every object.
    let start = out.len();
    out.push(0);
    crate::object::write_string(out, key, limits);
    let type_at = out.len();
    encode_object(value, limits, out);
    out[start] = out[type_at];
    out.remove(type_at);
}

/// Appends one function library entry: the opcode, then the code as an RDB string.
pub fn encode_function(out: &mut Vec<u8>, code: &[u8], limits: &EncodeLimits) {
    out.push(OP_FUNCTION2);
    crate::object::write_string(out, code, limits);
}

/// The FUNCTION DUMP payload of these libraries' code (Redis's functionDumpCommand): each as an
/// RDB function entry, then the RDB version and the CRC64 of everything before it.
pub fn function_dump_payload(codes: &[&[u8]], limits: &EncodeLimits) -> Vec<u8> {
    let mut out = Vec::new();
    for code in codes {
        encode_function(&mut out, code, limits);
    }
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Why a FUNCTION RESTORE payload was refused, worded as Redis's functionRestoreCommand.
#[derive(Debug, PartialEq, Eq)]
pub enum FunctionPayloadError {
    /// The footer's version is newer than ours or the checksum does not match.
    Footer,
    /// An entry that is not a library (the text is Redis's reason).
    Entry(&'static str),
}

/// The libraries' code in a FUNCTION DUMP payload. The footer is checked first; every entry
/// before it must be an `RDB_OPCODE_FUNCTION2` library, whose string length is checked against
/// the bytes present before anything is allocated.
pub fn function_restore_payload(payload: &[u8]) -> Result<Vec<Vec<u8>>, FunctionPayloadError> {
    let body = crate::verify_dump_payload(payload, true).ok_or(FunctionPayloadError::Footer)?;
    let mut reader = crate::object::Reader::new(body);
    let mut libraries = Vec::new();
    while reader.position() < body.len() {
        let op = reader.peek_u8().map_err(|_| FunctionPayloadError::Entry("can not read data type"))?;
        match op {
            OP_FUNCTION => return Err(FunctionPayloadError::Entry("Pre-GA function format not supported")),
            OP_FUNCTION2 => {}
            _ => return Err(FunctionPayloadError::Entry("given type is not a function")),
        }
        let _ = reader.skip(1);
        let code = reader
            .string_bytes()
            .map_err(|_| FunctionPayloadError::Entry("failed loading the given functions payload"))?;
        libraries.push(code);
    }
    Ok(libraries)
}

/// One item of an RDB file, in file order.
#[derive(Debug)]
pub enum RdbItem {
    Aux {
        key: Vec<u8>,
        value: Vec<u8>,
    },
    SelectDb(u64),
    ResizeDb {
        keys: u64,
        keys_with_expiry: u64,
    },
    Key {
        key: Vec<u8>,
        value: Value,
        expire_at_ms: Option<i64>,
    },
    /// A function library (Redis 7 FUNCTION): the payload, which the loader may skip with a warning.
    Function(Vec<u8>),
    /// A key whose collection holds nothing (files of older Redis versions can have them): Redis
    /// 7.0 skips it with a warning, and so may the loader.
    EmptyKey(Vec<u8>),
}

/// Walks a complete RDB file.
pub struct RdbReader<'a> {
    reader: Reader<'a>,
    file: &'a [u8],
    version: u16,
    done: bool,
    /// The RDB type of the last key's value read (or being read when an error came).
    object_type: Option<u8>,
}

impl<'a> RdbReader<'a> {
    /// Checks the header (`REDIS` and a version this code reads: 1 to 10).
    pub fn new(file: &'a [u8]) -> Result<RdbReader<'a>, FormatError> {
        if file.len() < 9 || &file[..5] != b"REDIS" {
            return Err(FormatError::Malformed("RDB header"));
        }
        let version = std::str::from_utf8(&file[5..9])
            .ok()
            .and_then(|v| v.parse::<u16>().ok())
            .filter(|v| (1..=RDB_VERSION).contains(v))
            .ok_or(FormatError::Malformed("RDB version"))?;
        let mut reader = Reader::new(file);
        reader.skip(9)?;
        Ok(RdbReader { reader, file, version, done: false, object_type: None })
    }

    pub fn version(&self) -> u16 {
        self.version
    }

    /// The RDB object type of the last key read, or of the key whose value failed to decode: what
    /// [`crate::corruption_reason`] words an error after.
    pub fn object_type(&self) -> Option<u8> {
        self.object_type
    }

    /// How far into the file the reader is (for progress reports).
    pub fn position(&self) -> usize {
        self.reader.position()
    }

    /// The next item; `Ok(None)` after the EOF opcode, once the checksum (if not zero) matched.
    pub fn next_item(&mut self) -> Result<Option<RdbItem>, FormatError> {
        if self.done {
            return Ok(None);
        }
        let mut expire_at_ms = None;
        loop {
            let op = self.reader.peek_u8()?;
            match op {
                OP_EOF => {
                    self.reader.skip(1)?;
                    let at = self.reader.position();
                    if self.version >= 5 {
                        let trailer = self.reader.take_bytes(8)?;
                        let mut b = [0u8; 8];
                        b.copy_from_slice(trailer);
                        let stored = u64::from_le_bytes(b);
                        let computed = crc64(&self.file[..at]);
                        if stored != 0 && stored != computed {
                            return Err(FormatError::Checksum { computed, stored });
                        }
                    }
                    self.done = true;
                    return Ok(None);
                }
                OP_AUX => {
                    self.reader.skip(1)?;
                    let key = self.reader.string_bytes()?;
                    let value = self.reader.string_bytes()?;
                    return Ok(Some(RdbItem::Aux { key, value }));
                }
                OP_SELECTDB => {
                    self.reader.skip(1)?;
                    return Ok(Some(RdbItem::SelectDb(self.reader.plain_len()?)));
                }
                OP_RESIZEDB => {
                    self.reader.skip(1)?;
                    let keys = self.reader.plain_len()?;
                    let keys_with_expiry = self.reader.plain_len()?;
                    return Ok(Some(RdbItem::ResizeDb { keys, keys_with_expiry }));
                }
                OP_EXPIRETIME_MS => {
                    self.reader.skip(1)?;
                    let d = self.reader.take_bytes(8)?;
                    let mut b = [0u8; 8];
                    b.copy_from_slice(d);
                    expire_at_ms = Some(i64::from_le_bytes(b));
                }
                OP_EXPIRETIME => {
                    self.reader.skip(1)?;
                    let d = self.reader.take_bytes(4)?;
                    expire_at_ms = Some(i32::from_le_bytes([d[0], d[1], d[2], d[3]]) as i64 * 1000);
                }
                OP_IDLE => {
                    self.reader.skip(1)?;
                    self.reader.plain_len()?;
                }
                OP_FREQ => {
                    self.reader.skip(2)?;
                }
                OP_FUNCTION2 => {
                    self.reader.skip(1)?;
                    return Ok(Some(RdbItem::Function(self.reader.string_bytes()?)));
                }
                // Redis 7.0 refuses the pre-GA function format (`RDB_OPCODE_FUNCTION`) too.
                OP_FUNCTION | OP_MODULE_AUX => return Err(FormatError::UnsupportedType(op)),
                _ => {
                    // A key: type byte, key string, then the object's encoding.
                    self.reader.skip(1)?;
                    self.object_type = Some(op);
                    let key = self.reader.string_bytes()?;
                    return match decode_body(op, &mut self.reader) {
                        Ok(value) => Ok(Some(RdbItem::Key { key, value, expire_at_ms })),
                        // The object was read whole: the walk can go on past it.
                        Err(FormatError::Empty) => Ok(Some(RdbItem::EmptyKey(key))),
                        Err(e) => Err(e),
                    };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyspace::StrValue;

    const REDIS_FILE: &[u8] = include_bytes!("../tests/fixtures/redis-7.0.15-types.rdb");

    #[test]
    fn function_payload_round_trips_and_refuses_bad_input() {
        let limits = EncodeLimits::default();
        let codes: [&[u8]; 2] = [b"#!lua name=a\nredis.register_function('f', function() end)", b"#!lua name=b\n"];
        let payload = function_dump_payload(&codes, &limits);
        let back = function_restore_payload(&payload).expect("valid payload");
        assert_eq!(back, codes.iter().map(|c| c.to_vec()).collect::<Vec<_>>());
        assert_eq!(function_restore_payload(&function_dump_payload(&[], &limits)), Ok(vec![]));
        // A flipped byte fails the checksum; a short payload has no footer.
        let mut bad = payload.clone();
        bad[3] ^= 1;
        assert_eq!(function_restore_payload(&bad), Err(FunctionPayloadError::Footer));
        assert_eq!(function_restore_payload(b"bad_payload"), Err(FunctionPayloadError::Footer));
        // A key entry (a string) where a library is expected.
        let key = crate::dump_payload(&Value::Str(StrValue::from_bytes(b"x")), &limits);
        assert_eq!(function_restore_payload(&key), Err(FunctionPayloadError::Entry("given type is not a function")));
        // A library whose length runs past the footer: refused, not read past the end.
        let mut body = vec![OP_FUNCTION2, 0x80, 0xff, 0xff, 0xff, 0xff];
        body.extend_from_slice(&RDB_VERSION.to_le_bytes());
        let crc = crc64(&body);
        body.extend_from_slice(&crc.to_le_bytes());
        assert!(matches!(function_restore_payload(&body), Err(FunctionPayloadError::Entry(_))));
    }

    fn read_all(file: &[u8]) -> Result<Vec<RdbItem>, FormatError> {
        let mut r = RdbReader::new(file)?;
        let mut items = Vec::new();
        while let Some(item) = r.next_item()? {
            items.push(item);
        }
        Ok(items)
    }

    fn keys_of(items: &[RdbItem]) -> Vec<(u64, Vec<u8>, Option<i64>)> {
        let mut db = 0;
        let mut out = Vec::new();
        for item in items {
            match item {
                RdbItem::SelectDb(d) => db = *d,
                RdbItem::Key { key, expire_at_ms, .. } => out.push((db, key.clone(), *expire_at_ms)),
                _ => {}
            }
        }
        out.sort();
        out
    }

    /// redis-server 7.0.15's SAVE of the streams in `stream-dumps` (s:groups, s:tombs), plus s:ids
    /// (IDs whose deltas wrap), s:empty (a group on an empty stream), s:gone (every entry
    /// deleted) and a string, nodes LZF-compressed.
    #[test]
    fn reads_the_streams_redis_saved() {
        let items = read_all(include_bytes!("../tests/fixtures/redis-7.0.15-streams.rdb")).expect("a valid file");
        let mut lengths = Vec::new();
        for item in items {
            if let RdbItem::Key { key, value, .. } = item {
                let len = match &value {
                    Value::Stream(s) => s.len(),
                    _ => usize::MAX,
                };
                lengths.push((String::from_utf8_lossy(&key).into_owned(), len));
                // What we write for it reads back the same.
                let mut again = Vec::new();
                encode_object(&value, &EncodeLimits::default(), &mut again);
                let back = crate::decode_object(&mut Reader::new(&again)).expect("ours decodes");
                assert_eq!(format!("{back:?}"), format!("{value:?}"));
            }
        }
        lengths.sort();
        let expected =
            [("plain", usize::MAX), ("s:empty", 0), ("s:gone", 0), ("s:groups", 30), ("s:ids", 6), ("s:tombs", 240)];
        let expected: Vec<(String, usize)> = expected.iter().map(|(k, n)| (k.to_string(), *n)).collect();
        assert_eq!(lengths, expected);
    }

    #[test]
    fn reads_a_file_redis_wrote() {
        let items = read_all(REDIS_FILE).expect("Redis's own file");
        let keys = keys_of(&items);
        let names: Vec<&[u8]> = keys.iter().map(|(_, k, _)| k.as_slice()).collect();
        assert_eq!(names, [&b"e"[..], b"h", b"l", b"n", b"s", b"t", b"z", b"other"]);
        assert!(keys.iter().find(|k| k.1 == b"e").unwrap().2.unwrap() > 1_700_000_000_000);
        assert_eq!(keys.last().map(|k| k.0), Some(3), "`other` is in db 3");
        assert!(items
            .iter()
            .any(|i| matches!(i, RdbItem::Aux { key, value } if key == b"redis-ver" && value == b"7.0.15")));
        let n = items.iter().find_map(|i| match i {
            RdbItem::Key { key, value: Value::Str(StrValue::Int(v)), .. } if key == b"n" => Some(*v),
            _ => None,
        });
        assert_eq!(n, Some(42));
    }

    #[test]
    fn a_damaged_file_is_refused() {
        let mut bad = REDIS_FILE.to_vec();
        let i = bad.len() / 2;
        bad[i] ^= 0x40;
        assert!(read_all(&bad).is_err(), "the checksum or the structure must catch it");
        assert!(read_all(&REDIS_FILE[..REDIS_FILE.len() - 3]).is_err(), "truncated");
        assert!(read_all(b"REDIS0011\xff").is_err(), "newer version");
    }

    #[test]
    fn what_we_write_reads_back_and_matches_redis_content() {
        let items = read_all(REDIS_FILE).unwrap();
        let mut w = RdbWriter::new(EncodeLimits::default(), true);
        w.aux(b"redis-ver", b"7.0.15");
        let mut file = Vec::new();
        let mut db = None;
        for item in &items {
            match item {
                RdbItem::SelectDb(d) => db = Some(*d),
                RdbItem::Key { key, value, expire_at_ms } => {
                    if let Some(d) = db.take() {
                        w.select_db(d, 0, 0);
                    }
                    w.key(key, value, *expire_at_ms);
                    file.extend(w.take_bytes());
                }
                _ => {}
            }
        }
        file.extend(w.finish());
        let again = read_all(&file).expect("our own file");
        assert_eq!(keys_of(&again), keys_of(&items));
        // Same content: each value re-encoded gives the same object bytes.
        let objects = |items: &[RdbItem]| {
            let mut v: Vec<(Vec<u8>, Vec<u8>)> = items
                .iter()
                .filter_map(|i| match i {
                    RdbItem::Key { key, value, .. } => {
                        let mut b = Vec::new();
                        encode_object(value, &EncodeLimits::default(), &mut b);
                        Some((key.clone(), b))
                    }
                    _ => None,
                })
                .collect();
            v.sort();
            v
        };
        assert_eq!(objects(&again), objects(&items));
    }
}
