//! Redis's on-disk and on-the-wire object formats: the RDB object encodings (version 10, as
//! Redis 7.0 writes them; streams in [`stream`]), LZF, listpacks and intsets, and the
//! DUMP/RESTORE payload built on them (object + RDB version + CRC64), and the multi-part AOF's
//! manifest and command stream ([`aof`]).
//!
//! This crate owns byte formats only. It never does I/O, never reads a clock and never touches
//! the keyspace's locks: callers hand it a value and get bytes, or hand it bytes and get a value.
//! Every decoder treats its input as hostile: a length is checked against the bytes that are
//! really there before anything is read or allocated, and bad input is an error, never a panic.

pub mod aof;
mod intset;
mod listpack;
mod lzf;
mod object;
pub mod rdb;
pub mod repl;
pub mod stream;
mod ziplist;

pub use object::{decode_object, encode_object, release_thread_buffers, EncodeLimits, Reader};
pub use stream::{decode_stream_body, encode_stream_body, StreamNodeLimits};

use thiserror::Error;

/// The RDB version Redis 7.0 writes (and the newest it reads).
pub const RDB_VERSION: u16 = 10;

/// Why bytes could not be decoded.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum FormatError {
    #[error("input ends before the data it announces")]
    Truncated,
    #[error("malformed {0}")]
    Malformed(&'static str),
    #[error("unsupported object type {0}")]
    UnsupportedType(u8),
    #[error("empty collection")]
    Empty,
    /// The file's CRC64 trailer does not match its bytes (Redis: "Wrong RDB checksum", "RDB CRC error").
    #[error("RDB CRC error: wrong RDB checksum expected: ({computed:x}) got ({stored:x})")]
    Checksum { computed: u64, stored: u64 },
}

const CRC64_REDIS: crc::Crc<u64, crc::Table<16>> = crc::Crc::<u64, crc::Table<16>>::new(&crc::CRC_64_REDIS);

/// Inputs at least this long go to the carry-less multiply implementation (`crc_fast`, ~6x the
/// table's speed on a 72 MB file); shorter ones, such as most DUMP payloads, to the 16-byte
/// table, which costs less per call (measured: 13-byte updates took twice as long in crc_fast).
const CRC64_SIMD_MIN_BYTES: usize = 256;

/// Redis's CRC64 (Jones polynomial, reflected) of `bytes`.
pub fn crc64(bytes: &[u8]) -> u64 {
    if bytes.len() >= CRC64_SIMD_MIN_BYTES {
        crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Redis, bytes)
    } else {
        CRC64_REDIS.checksum(bytes)
    }
}

/// The DUMP payload of `value`: its RDB object encoding, then the RDB version and the CRC64 of
/// everything before it, both little-endian (Redis's `createDumpPayload`).
pub fn dump_payload(value: &keyspace::Value, limits: &EncodeLimits) -> Vec<u8> {
    let mut out = Vec::new();
    encode_object(value, limits, &mut out);
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The reason Redis gives (in its log, `rdbReportCorruptRDB`) for refusing an object of RDB type
/// `object_type` that failed to decode (`err`): the compact encodings fail their "integrity check",
/// whatever inside them was wrong; other types say what was wrong.
pub fn corruption_reason(object_type: u8, err: &FormatError) -> String {
    let encoding = match object_type {
        9 => "Zipmap",
        10 => "List ziplist",
        11 => "Intset",
        12 => "Zset ziplist",
        13 => "Hash ziplist",
        14 => "Ziplist",
        16 => "Hash listpack",
        17 => "Zset listpack",
        18 => "Listpack",
        // Stream errors are worded as Redis words each of its stream checks.
        stream::TYPE_STREAM_LISTPACKS | stream::TYPE_STREAM_LISTPACKS_2 => {
            return match err {
                FormatError::Malformed(reason) => format!("{reason}."),
                _ => format!("Bad data format: {err}."),
            }
        }
        _ => return format!("Bad data format: {err}."),
    };
    // An empty one fails the same check in Redis (zipmapValidateIntegrity and the others count entries).
    format!("{encoding} integrity check failed.")
}

/// Redis's `verifyDumpPayload`: the footer names an RDB version we read and, when
/// `check_crc`, the checksum matches. Returns the object bytes without the footer.
pub fn verify_dump_payload(payload: &[u8], check_crc: bool) -> Option<&[u8]> {
    if payload.len() < 10 {
        return None;
    }
    let (body, crc_bytes) = payload.split_at(payload.len() - 8);
    let version = u16::from_le_bytes([body[body.len() - 2], body[body.len() - 1]]);
    if version > RDB_VERSION {
        return None;
    }
    if check_crc {
        let mut want = [0u8; 8];
        want.copy_from_slice(crc_bytes);
        if crc64(body) != u64::from_le_bytes(want) {
            return None;
        }
    }
    Some(&body[..body.len() - 2])
}

/// The value in a DUMP payload whose footer [`verify_dump_payload`] accepted. As Redis's
/// RESTORE, the object is read from the whole payload, footer included: an object that claims
/// more bytes than it has reads into the footer, and bytes after it are ignored. Redis accepts
/// such payloads (the checksum covers them), so RESTORE gives the same answer as Redis does.
pub fn restore_payload(payload: &[u8]) -> Result<keyspace::Value, FormatError> {
    decode_object(&mut object::Reader::new(payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc64_matches_redis_check_value() {
        assert_eq!(crc64(b"123456789"), 0xe9c6d914c4b8d9ca);
    }

    /// DUMP payloads written by redis-server 7.0.15 for: HSET h a 1; SET s hello; SET i 12345;
    /// RPUSH l a 1 -100 hello; SADD si 3 -1 100000; ZADD z 1 a 2.5 b -0 c.
    const REDIS_DUMPS: &[&[u8]] = &[
        b"\x10\x0c\x0c\x00\x00\x00\x02\x00\x81a\x02\x01\x01\xff\n\x00\x84\xa6\x93\xe8\xaa\x17\xe4\xdb",
        b"\x00\x05hello\n\x00cr\xdfve4 \n",
        b"\x00\xc190\n\x00\x9d\x94\xea'\x93\xfc\x08\xb9",
        b"\x12\x01\x02\x16\x16\x00\x00\x00\x04\x00\x81a\x02\x01\x01\xdf\x9c\x02\x85hello\x06\xff\n\x00\x8f\x81\xee?v\xdcej",
        b"\x0b\x14\x04\x00\x00\x00\x03\x00\x00\x00\xff\xff\xff\xff\x03\x00\x00\x00\xa0\x86\x01\x00\n\x00\ny\x0c\xc5[\x1d\xc8\xc5",
        b"\x11\x19\x19\x00\x00\x00\x06\x00\x81c\x02\x00\x01\x81a\x02\x01\x01\x81b\x02\x832.5\x04\xff\n\x00dn]\x16N\xafXw",
    ];

    #[test]
    fn redis_payloads_restore_and_dump_back_byte_for_byte() {
        for (i, payload) in REDIS_DUMPS.iter().enumerate() {
            assert!(verify_dump_payload(payload, true).is_some(), "payload {i}: footer");
            let value = restore_payload(payload).unwrap_or_else(|e| panic!("payload {i}: {e}"));
            assert_eq!(&dump_payload(&value, &EncodeLimits::default()), payload, "payload {i}");
        }
    }

    #[test]
    fn a_long_string_is_compressed_and_restores() {
        let v = keyspace::Value::string(&b"a".repeat(100));
        let p = dump_payload(&v, &EncodeLimits::default());
        assert_eq!(p[1], 0xC3, "LZF-encoded");
        assert!(verify_dump_payload(&p, true).is_some());
        let back = restore_payload(&p).unwrap();
        let keyspace::Value::Str(s) = back else { panic!("a string") };
        assert_eq!(s.to_vec(), b"a".repeat(100));
    }

    #[test]
    fn payload_footer_is_checked() {
        let v = keyspace::Value::string(b"hello");
        let p = dump_payload(&v, &EncodeLimits::default());
        assert!(verify_dump_payload(&p, true).is_some());
        let mut bad = p.clone();
        bad[0] ^= 1;
        assert!(verify_dump_payload(&bad, true).is_none());
        assert!(verify_dump_payload(&bad, false).is_some());
        let mut newer = p.clone();
        let n = newer.len();
        newer[n - 10] = 11;
        assert!(verify_dump_payload(&newer, false).is_none());
        assert!(verify_dump_payload(b"short", false).is_none());
    }
}
