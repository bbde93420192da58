//! Reading the encodings older Redis versions wrote into RDB files, which Redis 7.0 still loads
//! and converts: ziplists (hashes, sorted sets and list nodes up to Redis 6.2) and zipmaps (small
//! hashes up to Redis 2.4). Read-only: nothing here ever writes them, as Redis 7.0 does not.
//!
//! Ziplist layout: total bytes (u32 LE), offset of the last entry (u32 LE), entry count (u16 LE,
//! 65535 = "count them"), the entries, then 0xFF. An entry is the previous entry's length (one
//! byte, or 0xFE and a u32), an encoding with its data (strings with 6/14/32-bit lengths, or
//! 8/16/24/32/64-bit signed integers, or a 4-bit immediate 0-12).
//!
//! Zipmap layout: a count byte (254 or more = "count them"), then key/value pairs, each a length
//! (one byte, or 254 and a u32), the key, a length, a byte of free space, the value and that
//! many free bytes, then 0xFF.
//!
//! Every length is checked against the bytes that are there: a corrupt blob is an error, never
//! a panic or an allocation it asked for.

use crate::listpack::LpValue;
use crate::FormatError;

const ZIP_END: u8 = 0xFF;
const ZIP_BIG_PREVLEN: u8 = 0xFE;

fn bad(what: &'static str) -> FormatError {
    FormatError::Malformed(what)
}

fn take<'a>(blob: &'a [u8], at: &mut usize, n: usize) -> Result<&'a [u8], FormatError> {
    let end = at.checked_add(n).filter(|&e| e <= blob.len()).ok_or(bad("ziplist entry"))?;
    let bytes = &blob[*at..end];
    *at = end;
    Ok(bytes)
}

fn int_le(bytes: &[u8]) -> i64 {
    // Sign-extends a little-endian integer of 1 to 8 bytes.
    let mut v: i64 = 0;
    for (i, &b) in bytes.iter().enumerate() {
        v |= i64::from(b) << (8 * i);
    }
    let bits = 8 * bytes.len() as u32;
    if bits < 64 {
        let shift = 64 - bits;
        v = (v << shift) >> shift;
    }
    v
}

/// The elements of a ziplist, in order.
pub fn decode(blob: &[u8]) -> Result<Vec<LpValue<'_>>, FormatError> {
    if blob.len() < 11 {
        return Err(bad("ziplist header"));
    }
    let total = u32::from_le_bytes([blob[0], blob[1], blob[2], blob[3]]) as usize;
    if total != blob.len() || blob[blob.len() - 1] != ZIP_END {
        return Err(bad("ziplist length"));
    }
    let tail = u32::from_le_bytes([blob[4], blob[5], blob[6], blob[7]]) as usize;
    let declared = u16::from_le_bytes([blob[8], blob[9]]);
    let mut at = 10;
    // Where the last entry starts (the header's end while there is none): the header's tail
    // offset must name it, as Redis's ziplistValidateIntegrity requires.
    let mut last_start = 10;
    let mut out = Vec::new();
    let mut prev_len = 0usize;
    loop {
        let Some(&first) = blob.get(at) else { return Err(bad("ziplist end")) };
        if first == ZIP_END {
            break;
        }
        let start = at;
        let prev = if first == ZIP_BIG_PREVLEN {
            at += 1;
            let b = take(blob, &mut at, 4)?;
            u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize
        } else {
            at += 1;
            usize::from(first)
        };
        if prev != prev_len {
            return Err(bad("ziplist prevlen"));
        }
        let enc = *blob.get(at).ok_or(bad("ziplist encoding"))?;
        at += 1;
        let value = match enc >> 6 {
            0 => LpValue::Str(take(blob, &mut at, usize::from(enc & 0x3F))?),
            1 => {
                let lo = *blob.get(at).ok_or(bad("ziplist encoding"))?;
                at += 1;
                let len = (usize::from(enc & 0x3F) << 8) | usize::from(lo);
                LpValue::Str(take(blob, &mut at, len)?)
            }
            2 => {
                let b = take(blob, &mut at, 4)?;
                let len = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
                LpValue::Str(take(blob, &mut at, len)?)
            }
            _ => match enc {
                0xC0 => LpValue::Int(int_le(take(blob, &mut at, 2)?)),
                0xD0 => LpValue::Int(int_le(take(blob, &mut at, 4)?)),
                0xE0 => LpValue::Int(int_le(take(blob, &mut at, 8)?)),
                0xF0 => LpValue::Int(int_le(take(blob, &mut at, 3)?)),
                0xFE => LpValue::Int(int_le(take(blob, &mut at, 1)?)),
                0xF1..=0xFD => LpValue::Int(i64::from(enc & 0x0F) - 1),
                _ => return Err(bad("ziplist encoding")),
            },
        };
        prev_len = at - start;
        last_start = start;
        out.push(value);
    }
    if tail != last_start {
        return Err(bad("ziplist tail offset"));
    }
    if at + 1 != blob.len() {
        return Err(bad("ziplist trailing bytes"));
    }
    if declared != u16::MAX && usize::from(declared) != out.len() {
        return Err(bad("ziplist count"));
    }
    Ok(out)
}

/// A zipmap's key and value, borrowed from the blob.
pub type ZipmapPair<'a> = (&'a [u8], &'a [u8]);

/// The key/value pairs of a zipmap, in order.
pub fn decode_zipmap(blob: &[u8]) -> Result<Vec<ZipmapPair<'_>>, FormatError> {
    fn length(blob: &[u8], at: &mut usize) -> Result<Option<usize>, FormatError> {
        let first = *blob.get(*at).ok_or(bad("zipmap length"))?;
        *at += 1;
        match first {
            0xFF => Ok(None),
            0xFE => {
                let b = take(blob, at, 4)?;
                Ok(Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize))
            }
            n => Ok(Some(usize::from(n))),
        }
    }
    let mut at = 1;
    let mut pairs = Vec::new();
    while let Some(klen) = length(blob, &mut at)? {
        let key = take(blob, &mut at, klen)?;
        let vlen = length(blob, &mut at)?.ok_or(bad("zipmap value"))?;
        let free = usize::from(*blob.get(at).ok_or(bad("zipmap free"))?);
        at += 1;
        let value = take(blob, &mut at, vlen)?;
        take(blob, &mut at, free)?;
        pairs.push((key, value));
    }
    if at != blob.len() {
        return Err(bad("zipmap trailing bytes"));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ziplist of `entries` (already encoded, without prevlen), built as Redis lays it out.
    fn ziplist(entries: &[Vec<u8>]) -> Vec<u8> {
        let mut body = Vec::new();
        let mut prev = 0usize;
        let mut last = 10;
        for e in entries {
            last = 10 + body.len();
            let start = body.len();
            if prev < 254 {
                body.push(prev as u8);
            } else {
                body.push(0xFE);
                body.extend_from_slice(&(prev as u32).to_le_bytes());
            }
            body.extend_from_slice(e);
            prev = body.len() - start;
        }
        let total = 10 + body.len() + 1;
        let mut out = Vec::new();
        out.extend_from_slice(&(total as u32).to_le_bytes());
        out.extend_from_slice(&(last as u32).to_le_bytes());
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        out.extend_from_slice(&body);
        out.push(0xFF);
        out
    }

    fn short_str(s: &[u8]) -> Vec<u8> {
        let mut e = vec![s.len() as u8];
        e.extend_from_slice(s);
        e
    }

    #[test]
    fn every_encoding_decodes() {
        let long = vec![b'x'; 300];
        let mut e14 = vec![0x40 | (300 >> 8) as u8, (300 & 0xFF) as u8];
        e14.extend_from_slice(&long);
        let mut e32 = vec![0x80, 0, 0, 0, 3];
        e32.extend_from_slice(b"abc");
        let entries = vec![
            short_str(b"f1"),
            vec![0xFE, 0x9C],                   // int8 -100
            vec![0xC0, 0x39, 0x30],             // int16 12345
            vec![0xF0, 0xFF, 0xFF, 0x7F],       // int24 8388607
            vec![0xD0, 0x00, 0x00, 0x00, 0x80], // int32 i32::MIN
            {
                let mut v = vec![0xE0];
                v.extend_from_slice(&(-5i64).to_le_bytes());
                v
            },
            vec![0xF1], // immediate 0
            vec![0xFD], // immediate 12
            e14,
            e32,
        ];
        let blob = ziplist(&entries);
        let got = decode(&blob).unwrap();
        assert_eq!(
            got,
            vec![
                LpValue::Str(b"f1"),
                LpValue::Int(-100),
                LpValue::Int(12345),
                LpValue::Int(8_388_607),
                LpValue::Int(i64::from(i32::MIN)),
                LpValue::Int(-5),
                LpValue::Int(0),
                LpValue::Int(12),
                LpValue::Str(&long),
                LpValue::Str(b"abc"),
            ]
        );
    }

    #[test]
    fn corrupt_ziplists_are_errors() {
        let good = ziplist(&[short_str(b"a"), short_str(b"bc")]);
        assert!(decode(&good).is_ok());
        for cut in 0..good.len() {
            assert!(decode(&good[..cut]).is_err(), "truncated at {cut}");
        }
        let mut wrong_prev = good.clone();
        wrong_prev[13] = 7; // the second entry's prevlen (header 10 bytes, then 0, 1, 'a')
        assert!(decode(&wrong_prev).is_err());
        let mut huge = ziplist(&[vec![0x80, 0xFF, 0xFF, 0xFF, 0xFF]]);
        assert!(decode(&huge).is_err());
        huge[10 + 1] = 0xC5; // no such encoding
        assert!(decode(&huge).is_err());
    }

    #[test]
    fn zipmaps_decode_and_reject_garbage() {
        // count 2; "f1" -> "v1" with 2 free bytes; "k" -> "vv".
        let blob = [2, 2, b'f', b'1', 2, 2, b'v', b'1', 0, 0, 1, b'k', 2, 0, b'v', b'v', 0xFF];
        assert_eq!(decode_zipmap(&blob).unwrap(), vec![(&b"f1"[..], &b"v1"[..]), (&b"k"[..], &b"vv"[..])]);
        for cut in 0..blob.len() {
            assert!(decode_zipmap(&blob[..cut]).is_err(), "truncated at {cut}");
        }
        assert!(decode_zipmap(&[1, 0xFE, 0xFF, 0xFF, 0xFF, 0x7F, 0xFF]).is_err());
    }
}
