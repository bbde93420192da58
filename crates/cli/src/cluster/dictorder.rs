//! The order in which redis-cli 7.0.15 walks its small string-keyed hash tables (Redis's `dict`
//! with SipHash-1-2 under an all-zero seed, which redis-cli never sets), so that lists redis-cli
//! prints from such a table ("The following slots are open: ...") and the order it repairs slots
//! in come out the same here.
//!
//! It owns a model of the table's layout only (bucket chains, the 1:1 growth rule and the
//! one-bucket incremental rehash on each insert), not a general map. It must never be used for
//! anything but reproducing that order: sorting instead (the rejected alternative) would be simpler
//! but would print open slots in another order than redis-cli.

/// SipHash-1-2 as Redis's `siphash()` (one compression round, two finalization rounds), key 0.
pub fn siphash12(data: &[u8]) -> u64 {
    let (mut v0, mut v1, mut v2, mut v3) =
        (0x736f6d6570736575u64, 0x646f72616e646f6du64, 0x6c7967656e657261u64, 0x7465646279746573u64);
    let round = |v0: &mut u64, v1: &mut u64, v2: &mut u64, v3: &mut u64| {
        *v0 = v0.wrapping_add(*v1);
        *v1 = v1.rotate_left(13);
        *v1 ^= *v0;
        *v0 = v0.rotate_left(32);
        *v2 = v2.wrapping_add(*v3);
        *v3 = v3.rotate_left(16);
        *v3 ^= *v2;
        *v0 = v0.wrapping_add(*v3);
        *v3 = v3.rotate_left(21);
        *v3 ^= *v0;
        *v2 = v2.wrapping_add(*v1);
        *v1 = v1.rotate_left(17);
        *v1 ^= *v2;
        *v2 = v2.rotate_left(32);
    };
    let chunks = data.chunks_exact(8);
    let tail = chunks.remainder();
    for c in chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let m = u64::from_le_bytes(w);
        v3 ^= m;
        round(&mut v0, &mut v1, &mut v2, &mut v3);
        v0 ^= m;
    }
    let mut b = (data.len() as u64) << 56;
    for (i, byte) in tail.iter().enumerate() {
        b |= u64::from(*byte) << (8 * i);
    }
    v3 ^= b;
    round(&mut v0, &mut v1, &mut v2, &mut v3);
    v0 ^= b;
    v2 ^= 0xff;
    round(&mut v0, &mut v1, &mut v2, &mut v3);
    round(&mut v0, &mut v1, &mut v2, &mut v3);
    v0 ^ v1 ^ v2 ^ v3
}

/// One of the two tables: buckets of entry indexes, the head of each chain first.
#[derive(Default)]
struct Table {
    buckets: Vec<Vec<usize>>,
    used: usize,
}

impl Table {
    fn mask(&self) -> u64 {
        (self.buckets.len() as u64).wrapping_sub(1)
    }
}

/// A model of `dict` holding only keys, in insertion order of calls.
#[derive(Default)]
pub struct DictOrder {
    keys: Vec<String>,
    hashes: Vec<u64>,
    t: [Table; 2],
    rehash_idx: Option<usize>,
}

/// `_dictNextExp`: the table size for `size` entries (at least 4, a power of two).
fn next_size(size: usize) -> usize {
    size.max(4).next_power_of_two()
}

impl DictOrder {
    pub fn new() -> Self {
        Self::default()
    }

    /// `dictAdd` / `dictReplace` of `key` (an existing key is left where it is).
    pub fn add(&mut self, key: &str) {
        if self.rehash_idx.is_some() {
            self.rehash_step();
        }
        self.expand_if_needed();
        let hash = siphash12(key.as_bytes());
        let rehashing = self.rehash_idx.is_some();
        for t in 0..2 {
            if self.t[t].buckets.is_empty() {
                break;
            }
            let idx = (hash & self.t[t].mask()) as usize;
            if self.t[t].buckets[idx].iter().any(|&e| self.keys[e] == key) {
                return;
            }
            if !rehashing {
                break;
            }
        }
        let t = usize::from(rehashing);
        if self.t[t].buckets.is_empty() {
            return;
        }
        let idx = (hash & self.t[t].mask()) as usize;
        self.keys.push(key.to_string());
        self.hashes.push(hash);
        self.t[t].buckets[idx].insert(0, self.keys.len() - 1);
        self.t[t].used += 1;
    }

    /// `dictFind`'s effect on the layout (the key itself is looked up by the caller): one
    /// incremental rehash step while the table is rehashing and not empty. `--bigkeys` finds every
    /// TYPE reply in its table of types, so the order it prints its summary in depends on how many
    /// lookups came before.
    pub fn find_step(&mut self) {
        if !self.keys.is_empty() && self.rehash_idx.is_some() {
            self.rehash_step();
        }
    }

    fn expand_if_needed(&mut self) {
        if self.rehash_idx.is_some() {
            return;
        }
        if self.t[0].buckets.is_empty() {
            self.t[0].buckets = vec![Vec::new(); 4];
            return;
        }
        if self.t[0].used >= self.t[0].buckets.len() {
            let size = next_size(self.t[0].used + 1);
            if size != self.t[0].buckets.len() {
                self.t[1] = Table { buckets: vec![Vec::new(); size], used: 0 };
                self.rehash_idx = Some(0);
            }
        }
    }

    /// `dictRehash(d, 1)`: moves one non-empty bucket (visiting at most 10 empty ones).
    fn rehash_step(&mut self) {
        let Some(mut idx) = self.rehash_idx else { return };
        let mut empty_visits = 10;
        if self.t[0].used != 0 {
            while idx < self.t[0].buckets.len() && self.t[0].buckets[idx].is_empty() {
                idx += 1;
                empty_visits -= 1;
                if empty_visits == 0 {
                    self.rehash_idx = Some(idx);
                    return;
                }
            }
            if idx < self.t[0].buckets.len() {
                let chain = std::mem::take(&mut self.t[0].buckets[idx]);
                for e in chain {
                    let h = (self.hashes[e] & self.t[1].mask()) as usize;
                    self.t[1].buckets[h].insert(0, e);
                    self.t[0].used -= 1;
                    self.t[1].used += 1;
                }
                idx += 1;
            }
        }
        self.rehash_idx = Some(idx);
        if self.t[0].used == 0 {
            self.t[0] = std::mem::take(&mut self.t[1]);
            self.rehash_idx = None;
        }
    }

    /// The keys in `dictNext`'s order: table 0's buckets, then table 1's while rehashing.
    pub fn iter_order(&self) -> Vec<String> {
        let mut out = Vec::with_capacity(self.keys.len());
        let tables = if self.rehash_idx.is_some() { 2 } else { 1 };
        for t in &self.t[..tables] {
            for b in &t.buckets {
                out.extend(b.iter().map(|&e| self.keys[e].clone()));
            }
        }
        out
    }
}

/// The order redis-cli iterates `keys` after adding them in this order.
pub fn order_of<'a>(keys: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut d = DictOrder::new();
    for k in keys {
        d.add(k);
    }
    d.iter_order()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siphash_1_2_reference_values() {
        // Test vectors from Redis 7.0.15's own siphash() (src/siphash.c, compiled as an oracle)
        // with the zero seed: the empty input, a tail only, one block, blocks plus a tail.
        assert_eq!(siphash12(b""), 0x3204eeb59b3cccdd);
        assert_eq!(siphash12(b"5462"), 0xce05b88ecd3d71ab);
        assert_eq!(siphash12(b"abcdefgh"), 0x6d96dcfe6bbf95cb);
        assert_eq!(siphash12(b"0123456789abcdef0"), 0x5bc3d1cfd211a857);
    }

    #[test]
    fn lookups_finish_the_rehash_started_by_the_fifth_insert() {
        // redis-cli 7.0.15 --bigkeys on an empty database (no lookup: still rehashing) and on one
        // with five keys (five lookups: rehash done) prints its type table in these two orders.
        let mut d = DictOrder::new();
        for t in ["string", "list", "set", "hash", "zset", "stream"] {
            d.add(t);
        }
        assert_eq!(d.iter_order(), ["hash", "list", "string", "stream", "set", "zset"]);
        for _ in 0..5 {
            d.find_step();
        }
        assert_eq!(d.iter_order(), ["list", "hash", "string", "stream", "set", "zset"]);
    }

    #[test]
    fn every_key_comes_out_once_through_growth_and_rehash() {
        for n in [0usize, 1, 3, 4, 5, 9, 17, 100, 1000, 5461] {
            let keys: Vec<String> = (0..n).map(|i| i.to_string()).collect();
            let mut dup: Vec<&str> = keys.iter().map(String::as_str).collect();
            dup.extend(keys.iter().take(n / 3).map(String::as_str));
            let mut got = order_of(dup);
            assert_eq!(got.len(), n);
            got.sort();
            let mut want = keys.clone();
            want.sort();
            assert_eq!(got, want);
        }
    }
}
