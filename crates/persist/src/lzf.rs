//! LZF, the compression Redis applies to long strings in RDB files and DUMP payloads.
//!
//! The format: a control byte below 32 starts a run of `ctrl + 1` literal bytes; otherwise its
//! top three bits hold a length (7 means "add the next byte") and the low five bits the high
//! part of a back-reference distance whose low byte follows; `length + 2` bytes are copied from
//! `distance + 1` bytes back. Any compressor's output is valid input to Redis's decompressor, so
//! ours need not produce Redis's bytes, only valid ones.

use crate::FormatError;

/// Longest back-reference: 7 + 255 + 2 bytes.
const MAX_MATCH: usize = 264;
/// Farthest back-reference: the 13-bit distance field plus one.
const MAX_DISTANCE: usize = 8192;
const HASH_BITS: u32 = 14;
/// After this many positions in a row without a match, the compressor checks only every
/// second position, after twice as many every third, and so on (LZ4's "acceleration"): on
/// incompressible strings, the common case of an RDB save that tries every string over 20
/// bytes, it gives up sooner (measured: a save of 865K random 64-byte values spent 130 ms
/// failing to compress them, as long as the rest of the save). A run of literals can start
/// anywhere, so skipping only loses matches that begin at the skipped positions.
const SKIP_AFTER_MISSES: usize = 16;

/// Compresses `input` into `out` (cleared first, its capacity reused): true if `out` now holds
/// the compressed bytes, at most `max_len` of them (Redis stores a string compressed only if
/// that saves at least 4 bytes, and passes `len - 4` here). A save calls this for every long
/// string, so it passes one buffer from call to call instead of allocating a result each time.
pub fn compress_into(input: &[u8], max_len: usize, out: &mut Vec<u8>) -> bool {
    out.clear();
    // Positions are kept as u32 above the table's base; longer inputs are stored raw (a valid
    // RDB too: compression is optional per string).
    if input.len() >= (u32::MAX / 2) as usize {
        return false;
    }
    HASH_TABLE.with(|table| match table.try_borrow_mut() {
        Ok(mut table) => compress_with(&mut table, input, max_len, out),
        // Not reentrant in practice; a fresh table keeps it correct if it ever were.
        Err(_) => compress_with(&mut HashTable::new(), input, max_len, out),
    })
}

/// The last position each 3-byte prefix was seen at, reused from call to call: an RDB save
/// compresses every string over 20 bytes, and clearing (or allocating) a fresh 64 KB table for
/// each cost more than compressing a short string. Rejected: a table sized to the input, which
/// still clears memory per call, and Redis's uninitialized table, which safe Rust cannot have.
struct HashTable {
    /// `base + position + 1` of the last sighting, or anything `<= base`: not seen in this call.
    last_seen: Vec<u32>,
    /// Every entry written before this call is at most `base`.
    base: u32,
}

impl HashTable {
    /// No table yet: `start` allocates one at the first compression.
    const UNALLOCATED: HashTable = HashTable { last_seen: Vec::new(), base: 0 };

    fn new() -> HashTable {
        HashTable { last_seen: vec![0; 1 << HASH_BITS], base: 0 }
    }

    /// Makes room for an input of `n` bytes: entries of earlier calls become stale at once.
    fn start(&mut self, n: usize) {
        if self.last_seen.is_empty() {
            // Released (`release_thread_buffers`) or never used on this thread.
            *self = HashTable::new();
        }
        if u64::from(self.base) + n as u64 + 1 >= u64::from(u32::MAX) {
            self.last_seen.fill(0);
            self.base = 0;
        }
    }
}

thread_local! {
    static HASH_TABLE: std::cell::RefCell<HashTable> =
        const { std::cell::RefCell::new(HashTable::UNALLOCATED) };
}

/// Frees the calling thread's hash table; the next compression on it allocates a fresh one.
pub(crate) fn release_thread_table() {
    HASH_TABLE.with(|t| {
        if let Ok(mut t) = t.try_borrow_mut() {
            *t = HashTable::UNALLOCATED;
        }
    });
}

fn compress_with(table: &mut HashTable, input: &[u8], max_len: usize, out: &mut Vec<u8>) -> bool {
    let n = input.len();
    table.start(n);
    let base = table.base;
    // Whatever happens below, the next call sees every entry of this one as stale.
    table.base = base + n as u32 + 1;
    out.reserve(max_len.min(n + n / 32 + 1));
    let mut literal_start = 0;
    let mut misses = 0;
    let mut i = 0;
    while i + 2 < n {
        let h = hash3(input[i], input[i + 1], input[i + 2]);
        let seen = table.last_seen[h];
        table.last_seen[h] = base + i as u32 + 1;
        if seen > base {
            let r = (seen - base - 1) as usize;
            let distance = i - r;
            if distance <= MAX_DISTANCE && input[r..r + 3] == input[i..i + 3] {
                let max_match = MAX_MATCH.min(n - i);
                let mut len = 3;
                while len < max_match && input[r + len] == input[i + len] {
                    len += 1;
                }
                push_literals(out, &input[literal_start..i]);
                let field = len - 2;
                let off = distance - 1;
                if field < 7 {
                    out.push(((field as u8) << 5) | (off >> 8) as u8);
                } else {
                    out.push((7 << 5) | (off >> 8) as u8);
                    out.push((field - 7) as u8);
                }
                out.push(off as u8);
                i += len;
                literal_start = i;
                misses = 0;
                if out.len() > max_len {
                    return false;
                }
                continue;
            }
        }
        misses += 1;
        i += 1 + misses / SKIP_AFTER_MISSES;
    }
    push_literals(out, &input[literal_start..]);
    out.len() <= max_len
}

fn push_literals(out: &mut Vec<u8>, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        let run = bytes.len().min(32);
        out.push((run - 1) as u8);
        out.extend_from_slice(&bytes[..run]);
        bytes = &bytes[run..];
    }
}

#[inline]
fn hash3(a: u8, b: u8, c: u8) -> usize {
    let v = (a as u32) << 16 | (b as u32) << 8 | c as u32;
    (v.wrapping_mul(2654435761) >> (32 - HASH_BITS)) as usize
}

/// Decompresses `input`, which must expand to exactly `out_len` bytes. `out_len` comes from
/// the same untrusted bytes, so it is checked against the most `input` could expand to before
/// anything is allocated.
pub fn decompress(input: &[u8], out_len: usize) -> Result<Vec<u8>, FormatError> {
    // Each 3 input bytes can produce at most MAX_MATCH output bytes.
    if out_len > input.len().saturating_mul(MAX_MATCH / 3 + 1) {
        return Err(FormatError::Malformed("lzf length"));
    }
    let mut out: Vec<u8> = Vec::with_capacity(out_len);
    let mut i = 0;
    while i < input.len() {
        let ctrl = input[i] as usize;
        i += 1;
        if ctrl < 32 {
            let run = ctrl + 1;
            let lit = input.get(i..i + run).ok_or(FormatError::Truncated)?;
            if out.len() + run > out_len {
                return Err(FormatError::Malformed("lzf overrun"));
            }
            out.extend_from_slice(lit);
            i += run;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += *input.get(i).ok_or(FormatError::Truncated)? as usize;
                i += 1;
            }
            len += 2;
            let low = *input.get(i).ok_or(FormatError::Truncated)? as usize;
            i += 1;
            let distance = ((ctrl & 0x1f) << 8) + low + 1;
            if distance > out.len() || out.len() + len > out_len {
                return Err(FormatError::Malformed("lzf back-reference"));
            }
            let from = out.len() - distance;
            // Byte by byte: the source may overlap what this copy writes (runs).
            for k in 0..len {
                let b = out[from + k];
                out.push(b);
            }
        }
    }
    if out.len() != out_len {
        return Err(FormatError::Malformed("lzf length"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn compress(input: &[u8], max_len: usize) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        compress_into(input, max_len, &mut out).then_some(out)
    }

    #[test]
    fn repetitive_input_compresses_and_round_trips() {
        let input = b"abcabcabcabcabcabcabcabcabcabcabcabcabcabc-xyzxyzxyzxyz".repeat(20);
        let c = compress(&input, input.len() - 4).expect("compressible");
        assert!(c.len() < input.len() / 4);
        assert_eq!(decompress(&c, input.len()).unwrap(), input);
    }

    #[test]
    fn incompressible_input_is_refused() {
        let input: Vec<u8> = (0..200u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        assert_eq!(compress(&input, input.len() - 4), None);
    }

    #[test]
    fn hostile_input_is_an_error() {
        assert!(decompress(&[0x20, 0x00], 3).is_err(), "reference before the start");
        assert!(decompress(&[0x05, b'a'], 6).is_err(), "truncated literal");
        assert!(decompress(&[0x00, b'a'], 1 << 40).is_err(), "absurd length");
        assert!(decompress(&[0x00, b'a'], 2).is_err(), "short output");
    }

    /// `compress_with` into a fresh buffer: the output when it fits `max_len`.
    fn compressed(table: &mut HashTable, input: &[u8], max_len: usize) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        compress_with(table, input, max_len, &mut out).then_some(out)
    }

    #[test]
    fn a_reused_buffer_and_table_give_what_fresh_ones_give() {
        let inputs: Vec<Vec<u8>> = (0..40u32)
            .map(|k| match k % 3 {
                0 => format!("value-{k}-").repeat(1 + k as usize % 9).into_bytes(),
                1 => (0..(30 + k * 7)).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect(),
                _ => [b"head".repeat(k as usize), (0..64u32).map(|i| (i * 37 + k) as u8).collect()].concat(),
            })
            .collect();
        let mut out = vec![0xAA; 5];
        for input in &inputs {
            let max_len = input.len().saturating_sub(4);
            let fresh = compressed(&mut HashTable::new(), input, max_len);
            let fits = compress_into(input, max_len, &mut out);
            assert_eq!(fits.then(|| out.clone()), fresh);
            if let Some(c) = fresh {
                assert_eq!(&decompress(&c, input.len()).expect("round trip"), input);
            }
        }
    }

    #[test]
    fn matches_after_a_long_incompressible_run_are_still_found() {
        // 200 bytes without a repeat, then the same 200 bytes: skipping positions in the first
        // run must not lose the back-reference the second run is.
        let noise: Vec<u8> = (0..200u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        let input = [noise.clone(), noise].concat();
        let c = compress(&input, input.len() - 4).expect("the repeat compresses");
        assert!(c.len() < 230, "{} bytes", c.len());
        assert_eq!(decompress(&c, input.len()).expect("round trip"), input);
    }

    #[test]
    fn a_reused_table_compresses_exactly_as_a_fresh_one_also_across_its_reset() {
        let inputs: Vec<Vec<u8>> =
            (0..50u32).map(|k| format!("value-{k}-").repeat(1 + (k as usize % 7)).into_bytes()).collect();
        let mut shared = HashTable::new();
        for (round, input) in inputs.iter().enumerate() {
            if round == 25 {
                // The next input no longer fits above the base: the table is cleared first.
                shared.base = u32::MAX - 10;
            }
            let fresh = compressed(&mut HashTable::new(), input, input.len());
            assert_eq!(compressed(&mut shared, input, input.len()), fresh, "input {round}");
            if let Some(c) = fresh {
                assert_eq!(&decompress(&c, input.len()).unwrap(), input);
            }
        }
        assert!(shared.base < 1 << 20, "the table was reset");
    }

    proptest! {
        #[test]
        fn reusing_the_table_changes_nothing(inputs in proptest::collection::vec(
            proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), any::<u8>()], 0..500), 1..8)) {
            let mut shared = HashTable::new();
            for input in &inputs {
                let fresh = compressed(&mut HashTable::new(), input, input.len() + 64);
                prop_assert_eq!(compressed(&mut shared, input, input.len() + 64), fresh);
            }
        }

        #[test]
        fn round_trip(input in proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), any::<u8>()], 0..3000)) {
            if let Some(c) = compress(&input, input.len()) {
                prop_assert_eq!(decompress(&c, input.len()).unwrap(), input);
            }
        }

        #[test]
        fn decompress_never_panics(input in proptest::collection::vec(any::<u8>(), 0..200), len in 0usize..5000) {
            let _ = decompress(&input, len);
        }
    }
}
