//! Intsets: the encoding Redis uses for small sets of integers, inside RDB files and DUMP
//! payloads. Layout: the width of every element in bytes (u32 LE: 2, 4 or 8), the element
//! count (u32 LE), then the elements in ascending order, little-endian.

use crate::FormatError;

/// Encodes `values` (any order; duplicates are the caller's to avoid) at the smallest width
/// that holds them all, as Redis does.
pub fn encode(values: &mut [i64]) -> Vec<u8> {
    values.sort_unstable();
    let width: usize = if values.iter().all(|&v| i16::try_from(v).is_ok()) {
        2
    } else if values.iter().all(|&v| i32::try_from(v).is_ok()) {
        4
    } else {
        8
    };
    let mut out = Vec::with_capacity(8 + width * values.len());
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(values.len() as u32).to_le_bytes());
    for &v in values.iter() {
        out.extend_from_slice(&v.to_le_bytes()[..width]);
    }
    out
}

/// Decodes an intset, checking its width, that its size matches its count exactly and that
/// its elements are strictly ascending.
pub fn decode(buf: &[u8]) -> Result<Vec<i64>, FormatError> {
    if buf.len() < 8 {
        return Err(FormatError::Malformed("intset header"));
    }
    let width = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    let count = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]) as usize;
    if ![2, 4, 8].contains(&width) || count.checked_mul(width) != Some(buf.len() - 8) {
        return Err(FormatError::Malformed("intset size"));
    }
    let mut out = Vec::with_capacity(count);
    for chunk in buf[8..].chunks_exact(width) {
        let mut b8 = [0u8; 8];
        b8[..width].copy_from_slice(chunk);
        // Sign-extend from the element's width.
        let shift = 64 - 8 * width as u32;
        let v = (i64::from_le_bytes(b8) << shift) >> shift;
        if out.last().is_some_and(|&last| last >= v) {
            return Err(FormatError::Malformed("intset order"));
        }
        out.push(v);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trip(set in proptest::collection::btree_set(any::<i64>(), 0..50)) {
            let mut values: Vec<i64> = set.iter().copied().collect();
            prop_assert_eq!(decode(&encode(&mut values)).unwrap(), set.into_iter().collect::<Vec<_>>());
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            let _ = decode(&bytes);
        }
    }

    #[test]
    fn smallest_width_wins() {
        assert_eq!(encode(&mut [3, -1]), b"\x02\x00\x00\x00\x02\x00\x00\x00\xff\xff\x03\x00".to_vec());
    }
}
