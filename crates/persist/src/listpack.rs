//! Listpacks: the flat encoding Redis 7.0 uses for small hashes and sorted sets and for the
//! nodes of lists, inside RDB files and DUMP payloads.
//!
//! Layout: total bytes (u32 LE), element count (u16 LE, 65535 = "count them"), the entries,
//! then 0xFF. An entry is an encoding byte with its data (small unsigned, 13/16/24/32/64-bit
//! signed integers, strings with 6/12/32-bit lengths) followed by its own length, written
//! backwards in 7-bit groups so the list can be walked from either end.

use crate::FormatError;

/// One listpack element as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LpValue<'a> {
    Int(i64),
    Str(&'a [u8]),
}

impl LpValue<'_> {
    /// The element as Redis would return it: integers in decimal.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            LpValue::Int(v) => v.to_string().into_bytes(),
            LpValue::Str(s) => s.to_vec(),
        }
    }
}

/// Builds a listpack, storing strings that are canonical integers as integers (as Redis's
/// `lpAppend` does).
#[derive(Default)]
pub struct ListpackWriter {
    buf: Vec<u8>,
    count: usize,
}

impl ListpackWriter {
    pub fn new() -> ListpackWriter {
        ListpackWriter { buf: vec![0; 6], count: 0 }
    }

    /// Bytes the listpack would take if finished now.
    pub fn len_bytes(&self) -> usize {
        self.buf.len() + 1
    }

    pub fn count(&self) -> usize {
        self.count
    }

    pub fn push(&mut self, element: &[u8]) {
        match resp::string2ll(element) {
            Some(v) if element.len() <= 20 => self.push_int(v),
            _ => self.push_str(element),
        }
    }

    pub fn push_int(&mut self, v: i64) {
        let start = self.buf.len();
        if (0..=127).contains(&v) {
            self.buf.push(v as u8);
        } else if (-4096..=4095).contains(&v) {
            let u = (v as u64) & 0x1fff;
            self.buf.push(0xC0 | (u >> 8) as u8);
            self.buf.push(u as u8);
        } else if (-32768..=32767).contains(&v) {
            self.buf.push(0xF1);
            self.buf.extend_from_slice(&(v as i16).to_le_bytes());
        } else if (-8_388_608..=8_388_607).contains(&v) {
            self.buf.push(0xF2);
            self.buf.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
        } else if i32::try_from(v).is_ok() {
            self.buf.push(0xF3);
            self.buf.extend_from_slice(&(v as i32).to_le_bytes());
        } else {
            self.buf.push(0xF4);
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
        self.finish_entry(start);
    }

    pub fn push_str(&mut self, s: &[u8]) {
        let start = self.buf.len();
        let len = s.len();
        if len < 64 {
            self.buf.push(0x80 | len as u8);
        } else if len < 4096 {
            self.buf.push(0xE0 | (len >> 8) as u8);
            self.buf.push(len as u8);
        } else {
            self.buf.push(0xF0);
            self.buf.extend_from_slice(&(len as u32).to_le_bytes());
        }
        self.buf.extend_from_slice(s);
        self.finish_entry(start);
    }

    fn finish_entry(&mut self, start: usize) {
        let l = self.buf.len() - start;
        encode_backlen(l, &mut self.buf);
        self.count += 1;
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(0xFF);
        let total = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&total.to_le_bytes());
        let count = self.count.min(u16::MAX as usize) as u16;
        self.buf[4..6].copy_from_slice(&count.to_le_bytes());
        self.buf
    }
}

/// Bytes [`ListpackWriter::push`] adds for `element`: its entry and its back-length.
pub fn pushed_len(element: &[u8]) -> usize {
    match resp::string2ll(element) {
        Some(v) if element.len() <= 20 => pushed_int_len(v),
        _ => {
            let len = element.len();
            let head = if len < 64 {
                1
            } else if len < 4096 {
                2
            } else {
                5
            };
            head + len + backlen_size(head + len)
        }
    }
}

/// Bytes [`ListpackWriter::push_int`] adds for `v`: its entry and its back-length.
pub fn pushed_int_len(v: i64) -> usize {
    let len = if (0..=127).contains(&v) {
        1
    } else if (-4096..=4095).contains(&v) {
        2
    } else if (-32768..=32767).contains(&v) {
        3
    } else if (-8_388_608..=8_388_607).contains(&v) {
        4
    } else if i32::try_from(v).is_ok() {
        5
    } else {
        9
    };
    len + backlen_size(len)
}

/// Redis's `lpEncodeBacklen`: the entry length in 7-bit groups, most significant first, every
/// byte but the first carrying the high bit.
fn encode_backlen(l: usize, out: &mut Vec<u8>) {
    let n = backlen_size(l);
    for i in (0..n).rev() {
        let group = ((l >> (7 * i)) & 127) as u8;
        out.push(if i == n - 1 { group } else { group | 128 });
    }
}

/// Redis's `lpDecodeBacklen`: the length whose last byte is `buf[last]`, read backwards 7 bits
/// a byte while the high bit is set; `None` past five bytes (or the buffer's start).
fn decode_backlen(buf: &[u8], last: usize) -> Option<usize> {
    let (mut value, mut shift, mut at) = (0usize, 0u32, last);
    loop {
        let byte = *buf.get(at)?;
        value |= usize::from(byte & 127) << shift;
        if byte & 128 == 0 {
            return Some(value);
        }
        shift += 7;
        if shift > 28 {
            return None;
        }
        at = at.checked_sub(1)?;
    }
}

fn backlen_size(l: usize) -> usize {
    match l {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

/// Decodes a whole listpack, checking its header against its size, every entry's bounds and
/// back-length, and the terminator.
pub fn decode(buf: &[u8]) -> Result<Vec<LpValue<'_>>, FormatError> {
    decode_elements(buf, true)
}

/// The elements of a stream node, read as Redis's `streamValidateListpackIntegrity` walks them:
/// the header's size and final terminator are checked as in [`decode`], but not the header's
/// element count, and the elements end at the first terminator even when bytes follow it
/// (Redis's walk stops there, and so do its readers). Redis loads such nodes, so we must.
pub fn decode_stream_node(buf: &[u8]) -> Result<Vec<LpValue<'_>>, FormatError> {
    decode_elements(buf, false)
}

/// [`decode`] when `strict`, [`decode_stream_node`] otherwise.
fn decode_elements(buf: &[u8], strict: bool) -> Result<Vec<LpValue<'_>>, FormatError> {
    if buf.len() < 7 {
        return Err(FormatError::Malformed("listpack header"));
    }
    let total = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    let count = u16::from_le_bytes([buf[4], buf[5]]) as usize;
    if total != buf.len() || buf[total - 1] != 0xFF {
        return Err(FormatError::Malformed("listpack size"));
    }
    let mut out = Vec::with_capacity(count.min(buf.len()));
    let mut i = 6;
    loop {
        let b = *buf.get(i).ok_or(FormatError::Truncated)?;
        if b == 0xFF {
            if strict && i != total - 1 {
                return Err(FormatError::Malformed("listpack terminator"));
            }
            break;
        }
        let start = i;
        let need = |n: usize| buf.get(start..start + n).ok_or(FormatError::Truncated);
        let (value, len) = match b {
            0x00..=0x7F => (LpValue::Int(b as i64), 1),
            0x80..=0xBF => {
                let n = (b & 0x3f) as usize;
                (LpValue::Str(&need(1 + n)?[1..]), 1 + n)
            }
            0xC0..=0xDF => {
                let d = need(2)?;
                let u = (((d[0] & 0x1f) as i64) << 8) | d[1] as i64;
                (LpValue::Int(if u >= 1 << 12 { u - (1 << 13) } else { u }), 2)
            }
            0xE0..=0xEF => {
                let d = need(2)?;
                let n = (((d[0] & 0x0f) as usize) << 8) | d[1] as usize;
                (LpValue::Str(&need(2 + n)?[2..]), 2 + n)
            }
            0xF0 => {
                let d = need(5)?;
                let n = u32::from_le_bytes([d[1], d[2], d[3], d[4]]) as usize;
                let end = n.checked_add(5).ok_or(FormatError::Malformed("listpack length"))?;
                (LpValue::Str(&need(end)?[5..]), end)
            }
            0xF1 => {
                let d = need(3)?;
                (LpValue::Int(i16::from_le_bytes([d[1], d[2]]) as i64), 3)
            }
            0xF2 => {
                let d = need(4)?;
                let v = i32::from_le_bytes([0, d[1], d[2], d[3]]) >> 8;
                (LpValue::Int(v as i64), 4)
            }
            0xF3 => {
                let d = need(5)?;
                (LpValue::Int(i32::from_le_bytes([d[1], d[2], d[3], d[4]]) as i64), 5)
            }
            0xF4 => {
                let d = need(9)?;
                let mut b8 = [0u8; 8];
                b8.copy_from_slice(&d[1..9]);
                (LpValue::Int(i64::from_le_bytes(b8)), 9)
            }
            _ => return Err(FormatError::Malformed("listpack encoding")),
        };
        // As Redis's lpValidateNext: the back-length takes the bytes its canonical form would,
        // and read backwards from their end it gives the entry's length (so a non-canonical
        // form that reads the same passes there, and here).
        let back = backlen_size(len);
        let end = start + len + back;
        if end > buf.len() || decode_backlen(buf, end - 1) != Some(len) {
            return Err(FormatError::Malformed("listpack back-length"));
        }
        i = start + len + back;
        out.push(value);
    }
    if strict && count != u16::MAX as usize && count != out.len() {
        return Err(FormatError::Malformed("listpack count"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_bytes_from_redis() {
        // redis-server 7.0.15: HSET h a 1 → DUMP carries this listpack.
        let mut w = ListpackWriter::new();
        w.push(b"a");
        w.push(b"1");
        assert_eq!(w.finish(), b"\x0c\x00\x00\x00\x02\x00\x81a\x02\x01\x01\xff".to_vec());
    }

    #[test]
    fn back_lengths_are_read_as_redis_reads_them() {
        // redis-server 7.0.15 (sanitizing) restores a hash whose "\0" field ends in 0x82, not 0x02:
        // read backwards, 0x82 continues into the 0x00 before it, which adds nothing.
        let odd = b"\x0d\x00\x00\x00\x02\x00\x81\x00\x82\x81b\x02\xff";
        let values: Vec<Vec<u8>> = decode(odd).expect("Redis accepts it").iter().map(|v| v.to_bytes()).collect();
        assert_eq!(values, [b"\0".to_vec(), b"b".to_vec()]);
        let wrong = b"\x0d\x00\x00\x00\x02\x00\x81\x00\x03\x81b\x02\xff";
        assert_eq!(decode(wrong), Err(FormatError::Malformed("listpack back-length")));
        assert_eq!(decode_backlen(&[0x80, 0x80, 0x80, 0x80, 0x80], 4), None, "more than five bytes");
        let mut two = Vec::new();
        encode_backlen(300, &mut two);
        assert_eq!(decode_backlen(&two, 1), Some(300));
    }

    proptest! {
        #[test]
        fn round_trip(items in proptest::collection::vec(prop_oneof![
            any::<i64>().prop_map(|v| v.to_string().into_bytes()),
            (-5000i64..5000).prop_map(|v| v.to_string().into_bytes()),
            proptest::collection::vec(any::<u8>(), 0..5000),
        ], 0..40)) {
            let mut w = ListpackWriter::new();
            for it in &items {
                w.push(it);
            }
            let lp = w.finish();
            let back: Vec<Vec<u8>> = decode(&lp).unwrap().iter().map(|v| v.to_bytes()).collect();
            prop_assert_eq!(back, items);
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode(&bytes);
        }
    }
}
