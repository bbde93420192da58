//! `CompactMap`: the `Sds` → `Value` hash table behind every slot table, built to cost as few
//! bytes per key as possible while keeping a lookup to one hash and, usually, one key compare.
//!
//! This module owns the table's memory layout and its growth policy. It never interprets
//! values, never reads a clock and never knows about expiry: [`crate::SlotTable`] builds on it.
//!
//! # Layout, and why
//! A keyspace holds 16384 of these (one per hash slot), so with a million keys each holds only
//! ~60 and the per-key cost is decided by (a) the entry size, (b) the average load factor and
//! (c) how well the allocation fits the allocator's size classes.
//!
//! * **Entries inline in one array.** `buckets: Box<[Option<(Sds, Value)>]>` holds key and value
//!   side by side: 24 + 24 bytes, and thanks to the niche in `Sds`'s tag `Option` adds nothing,
//!   so a bucket is 48 bytes (asserted by a test). Short keys and short values live inside the
//!   `Sds`, so a typical string key costs zero allocations of its own. *Rejected*: allocating
//!   each key (or entry) separately and storing pointers in the table, as Redis's `dict` does:
//!   that is an 8-byte pointer plus an allocator block (with its rounding) per key, and a
//!   pointer chase per lookup.
//! * **Per-bucket metadata in a parallel array** (`meta`, 2 bytes per bucket): the probe
//!   distance and an 8-bit fingerprint of the hash. A probe reads this small array first and
//!   touches a 48-byte bucket only when the fingerprint matches (1 in 256 for a non-matching
//!   key), and Robin Hood ordering lets a miss stop as soon as the stored distance is smaller
//!   than the probe distance. Beside it sits each bucket's 24-bit access clock (3 bytes per
//!   bucket; see `Segment`), which the maxmemory policies and OBJECT IDLETIME / FREQ read.
//! * **Any capacity, not only powers of two.** A hash is mapped to its home bucket by
//!   multiply-high ("fastrange": `(hash * capacity) >> 64`), so capacity can be whatever fits
//!   best. Capacity is chosen so the bucket array *exactly* fills one of the allocator's size
//!   classes (jemalloc's: 16-byte steps up to 128, then four classes per doubling); the server
//!   runs on jemalloc, and under another allocator the rounding merely adds a few buckets.
//!   The table grows by a quarter to a third of its segments (×1.25–×1.33) when the load passes
//!   0.9, so loads stay between ~0.68 and 0.9 (≈0.78 on average), and shrinks when the load falls below 0.2;
//!   an emptied map frees its arrays and an empty map allocates nothing. *Rejected*:
//!   hashbrown's power-of-two capacities with a 7/8 maximum load: a table that just doubled is
//!   at 44% load, and with thousands of similar-sized slot tables growing in step most of them
//!   sit near half full (measured ~120 bytes/key against this layout's target of ~65).
//! * **Robin Hood linear probing, deletion by backward shift** (no tombstones, so a table that
//!   sees many deletions never degrades and never needs a cleanup rehash). Entries stay sorted
//!   by home bucket, which is what lets a miss stop early.
//!
//! Probe distances above 253 do not fit the metadata byte; they are stored as "saturated" and
//! the exact distance is recomputed from the key's hash on the rare occasions it is needed, so
//! correctness never depends on hashes being well spread (only speed does).
//!
//! # Hashing
//! foldhash, seeded per map: a process-wide [`SharedSeed`] and a per-map seed both come from
//! std's `RandomState` (keys drawn from the OS's random source), so clients cannot predict
//! which keys collide. A key is hashed once per operation; only growth and shrinking rehash
//! the keys already stored.

use crate::{Sds, Value};
use foldhash::fast::SeedableRandomState;
use foldhash::SharedSeed;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

/// How many entries ahead [`CompactMap::iter_prefetching`] starts loading their bytes: about
/// the number of cache misses a core keeps in flight, less than the ~60 entries of a slot.
pub const PREFETCH_AHEAD: usize = 8;

/// The iterator [`CompactMap::iter_prefetching`] returns: a ring of the next entries, each
/// prefetched as it enters.
pub struct Prefetching<'a, I> {
    inner: I,
    ahead: [Option<(&'a Sds, &'a Value)>; PREFETCH_AHEAD],
    head: usize,
    len: usize,
}

impl<'a, I: Iterator<Item = (&'a Sds, &'a Value)>> Iterator for Prefetching<'a, I> {
    type Item = (&'a Sds, &'a Value);

    fn next(&mut self) -> Option<Self::Item> {
        while self.len < PREFETCH_AHEAD {
            let Some((key, value)) = self.inner.next() else { break };
            crate::prefetch_read(key.as_bytes().as_ptr() as *const i8);
            if let Value::Str(crate::StrValue::Raw(s)) = value {
                crate::prefetch_read(s.as_bytes().as_ptr() as *const i8);
            }
            self.ahead[(self.head + self.len) % PREFETCH_AHEAD] = Some((key, value));
            self.len += 1;
        }
        if self.len == 0 {
            return None;
        }
        let entry = self.ahead[self.head].take();
        self.head = (self.head + 1) % PREFETCH_AHEAD;
        self.len -= 1;
        entry
    }
}

/// How many segments ahead [`SegmentWalk`] starts loading a segment's bucket block. Each block
/// is a heap allocation of its own, so reaching the next one is a cache (and often a TLB) miss
/// that the hardware prefetcher cannot foresee; it must also lie beyond the entries the
/// [`Prefetching`] ring has already taken (8 entries, one or two segments).
const SEGMENTS_AHEAD: usize = 4;

/// How many segments ahead [`CompactMap::rebuild`] loads the old bucket blocks. More than
/// [`SEGMENTS_AHEAD`]: a rebuild does little work per entry, so the loads must be in flight
/// long before. (Measured with INCR on new keys beside 550K others: 4 ahead left the worker
/// stalled on the first touch of each block; 16 took ~3 % off its CPU.)
const REBUILD_SEGMENTS_AHEAD: usize = 16;

/// The entries of a map in bucket order, as [`CompactMap::iter`], for walks that read them all:
/// the bucket block of the segment [`SEGMENTS_AHEAD`] further on is prefetched when a segment
/// is entered, and empty buckets are skipped by their metadata, without touching the block.
/// (Measured before it: a quarter of an AOF rewrite's CPU stalled on the first bucket of each
/// segment.)
pub struct SegmentWalk<'a> {
    segments: &'a [Segment],
    segment: usize,
    bucket: usize,
}

impl<'a> Iterator for SegmentWalk<'a> {
    type Item = (&'a Sds, &'a Value);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let segment = self.segments.get(self.segment)?;
            if self.bucket == 0 {
                if let Some(ahead) = self.segments.get(self.segment + SEGMENTS_AHEAD) {
                    prefetch_block(&ahead.buckets);
                }
            }
            while self.bucket < SEGMENT_BUCKETS {
                let b = self.bucket;
                self.bucket += 1;
                if segment.meta[b].is_empty() {
                    continue;
                }
                if let Some((key, value)) = &segment.buckets[b] {
                    return Some((key, value));
                }
            }
            self.segment += 1;
            self.bucket = 0;
        }
    }
}

/// Starts loading every cache line of a segment's bucket block.
#[inline]
fn prefetch_block(buckets: &Buckets) {
    let block = buckets as *const Buckets as *const i8;
    for line in (0..std::mem::size_of::<Buckets>()).step_by(64) {
        // In bounds: `line` < the block's size.
        crate::prefetch_read(block.wrapping_add(line));
    }
}

/// Metadata tag of an empty bucket.
const TAG_EMPTY: u8 = 0;
/// Metadata tag meaning "probe distance ≥ [`SATURATED_DIST`]"; smaller distances are stored
/// exactly as `distance + 1`.
const TAG_SATURATED: u8 = u8::MAX;
const SATURATED_DIST: usize = (TAG_SATURATED - 1) as usize;

/// Probe distance and hash fingerprint of one bucket.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Meta {
    tag: u8,
    fingerprint: u8,
}

impl Meta {
    const EMPTY: Meta = Meta { tag: TAG_EMPTY, fingerprint: 0 };

    #[inline]
    fn occupied(distance: usize, fingerprint: u8) -> Meta {
        let tag = if distance < SATURATED_DIST { distance as u8 + 1 } else { TAG_SATURATED };
        Meta { tag, fingerprint }
    }

    #[inline]
    fn is_empty(self) -> bool {
        self.tag == TAG_EMPTY
    }
}

/// Buckets per segment. 8 buckets are 384 bytes, exactly one allocator size class (asserted by a
/// test), and make bucket → segment a shift.
const SEGMENT_BUCKETS: usize = 8;

/// The entries of one segment: one heap block, the same size in every table.
type Buckets = [Option<(Sds, Value)>; SEGMENT_BUCKETS];

/// One directory entry: the metadata of a segment's buckets, kept in the directory so a probe
/// reads it without touching the entries, and the segment's entries.
///
/// It also holds each bucket's 24-bit access clock (see [`crate::access`]), which moves with
/// its entry. Why here: an entry has no spare byte (key and value each use all 24 of theirs, the
/// enum tags living in `Sds`'s niche), and the directory entry of the bucket a lookup found is
/// already in cache, so updating the clock on access is one store to a line the probe just read.
/// *Rejected*: a third field in the bucket (48 → 56 bytes: +8 per bucket where this costs 3, the
/// 8-bucket block moving from the 384-byte size class to 448); a separate clock
/// array per table (a second allocation per slot and another cache miss per access); a 16-bit
/// clock (LFU needs 8 bits of counter plus a 16-bit minute stamp, as Redis's 24 bits).
#[derive(Clone)]
struct Segment {
    meta: [Meta; SEGMENT_BUCKETS],
    clocks: [[u8; 3]; SEGMENT_BUCKETS],
    buckets: Box<Buckets>,
}

impl Segment {
    fn empty() -> Segment {
        Segment {
            meta: [Meta::EMPTY; SEGMENT_BUCKETS],
            clocks: [[0; 3]; SEGMENT_BUCKETS],
            buckets: Box::new([const { None }; SEGMENT_BUCKETS]),
        }
    }
}

#[inline]
fn clock_bytes(clock: u32) -> [u8; 3] {
    let b = clock.to_le_bytes();
    [b[0], b[1], b[2]]
}

#[inline]
fn clock_of(bytes: [u8; 3]) -> u32 {
    u32::from_le_bytes([bytes[0], bytes[1], bytes[2], 0])
}

/// An open-addressing Robin Hood hash map from [`Sds`] to [`Value`]; see the module doc.
pub struct CompactMap {
    /// The directory: bucket `b` is entry `b % SEGMENT_BUCKETS` of `segments[b / SEGMENT_BUCKETS]`.
    segments: Box<[Segment]>,
    len: usize,
    hasher: SeedableRandomState,
}

/// Where a probe for a key ended.
enum Probe {
    /// The key is in this bucket.
    Found(usize),
    /// The key is absent; Robin Hood order says it belongs in this bucket.
    Vacant(usize),
    /// The key is absent and the table is full (only tiny tables are ever full).
    Full,
}

impl Default for CompactMap {
    fn default() -> Self {
        CompactMap::new()
    }
}

impl CompactMap {
    /// An empty map; allocates nothing.
    pub fn new() -> CompactMap {
        CompactMap {
            segments: Box::default(),
            len: 0,
            hasher: SeedableRandomState::with_seed(os_random_u64(), process_shared_seed()),
        }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of buckets (the map grows before it is full: see [`max_len_for`]).
    #[inline]
    pub fn capacity(&self) -> usize {
        self.segments.len() * SEGMENT_BUCKETS
    }

    /// Heap bytes of the table itself (directory and segments). Keys and values longer than
    /// their inline capacity own further heap blocks, which this does not count.
    pub fn table_heap_bytes(&self) -> usize {
        self.segments.len() * (std::mem::size_of::<Segment>() + std::mem::size_of::<Buckets>())
    }

    /// Prefetch hint, step 1 of 2: starts loading the directory entry (fingerprints and bucket
    /// pointer) of the segment where `key` would be. Reads only this map's header.
    #[inline]
    pub fn prefetch_segment(&self, key: &[u8]) {
        let cap = self.capacity();
        if cap > 0 {
            let b = home_bucket(self.hash(key), cap);
            crate::prefetch_read(&self.segments[b / SEGMENT_BUCKETS] as *const Segment as *const i8);
        }
    }

    /// Prefetch hint, step 2 of 2: starts loading the bucket where `key` would be. Reads the
    /// segment's directory entry, so it pays off once [`CompactMap::prefetch_segment`] brought
    /// that in.
    #[inline]
    pub fn prefetch_bucket(&self, key: &[u8]) {
        let cap = self.capacity();
        if cap > 0 {
            let b = home_bucket(self.hash(key), cap);
            let bucket = &self.segments[b / SEGMENT_BUCKETS].buckets[b % SEGMENT_BUCKETS];
            crate::prefetch_read(bucket as *const Option<(Sds, Value)> as *const i8);
        }
    }

    /// Prefetch hint, after [`CompactMap::prefetch_bucket`]: if `key` is here and its value is a
    /// string kept out of line, starts loading the string's bytes.
    #[inline]
    pub fn prefetch_value(&self, key: &[u8]) {
        if let Some(Value::Str(crate::StrValue::Raw(s))) = self.get(key) {
            crate::prefetch_read(s.as_bytes().as_ptr() as *const i8);
        }
    }

    #[inline]
    pub fn get(&self, key: &[u8]) -> Option<&Value> {
        let i = self.find(self.hash(key), key)?;
        self.slot(i).as_ref().map(|(_, v)| v)
    }

    #[inline]
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Value> {
        let i = self.find(self.hash(key), key)?;
        self.slot_mut(i).as_mut().map(|(_, v)| v)
    }

    /// The value of `key`, recording an access in its clock ([`crate::access::on_access`]).
    #[inline]
    pub fn get_touch(&mut self, key: &[u8]) -> Option<&Value> {
        let i = self.find(self.hash(key), key)?;
        self.touch_at(i);
        self.slot(i).as_ref().map(|(_, v)| v)
    }

    /// [`CompactMap::get_touch`] for writing.
    #[inline]
    pub fn get_mut_touch(&mut self, key: &[u8]) -> Option<&mut Value> {
        let i = self.find(self.hash(key), key)?;
        self.touch_at(i);
        self.slot_mut(i).as_mut().map(|(_, v)| v)
    }

    /// The access clock of `key` (not an access itself: OBJECT IDLETIME must not reset it).
    pub fn clock(&self, key: &[u8]) -> Option<u32> {
        let i = self.find(self.hash(key), key)?;
        Some(self.clock_at(i))
    }

    /// Sets the access clock of `key` (RESTORE's IDLETIME / FREQ); false if it is absent.
    pub fn set_clock(&mut self, key: &[u8], clock: u32) -> bool {
        match self.find(self.hash(key), key) {
            Some(i) => {
                self.set_clock_at(i, clock);
                true
            }
            None => false,
        }
    }

    /// Up to `max` entries with their clocks, read from consecutive buckets starting at bucket
    /// `start % capacity` (wrapping): the eviction sampler's view, as Redis's `dictGetSomeKeys`
    /// reads runs of buckets from a random place.
    pub fn sample(&self, start: usize, max: usize, mut f: impl FnMut(&Sds, &Value, u32)) {
        let cap = self.capacity();
        if cap == 0 {
            return;
        }
        let mut b = start % cap;
        let mut taken = 0;
        for _ in 0..cap {
            if taken == max {
                break;
            }
            if let Some((k, v)) = self.slot(b) {
                f(k, v, self.clock_at(b));
                taken += 1;
            }
            b = self.next(b);
        }
    }

    /// The stored key and its value (callers clone the key to index other maps by it).
    #[inline]
    pub fn get_key_value(&self, key: &[u8]) -> Option<(&Sds, &Value)> {
        let i = self.find(self.hash(key), key)?;
        self.slot(i).as_ref().map(|(k, v)| (k, v))
    }

    #[inline]
    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.find(self.hash(key), key).is_some()
    }

    /// Inserts or replaces; returns the previous value.
    pub fn insert(&mut self, key: Sds, value: Value) -> Option<Value> {
        let hash = self.hash(&key);
        match self.probe(hash, &key) {
            Probe::Found(i) => {
                self.touch_at(i);
                self.slot_mut(i).replace((key, value)).map(|(_, old)| old)
            }
            Probe::Vacant(at) => {
                self.place_new(hash, Some(at), key, value);
                None
            }
            Probe::Full => {
                self.place_new(hash, None, key, value);
                None
            }
        }
    }

    /// Inserts or replaces the value of `key`, building an owned key only when it is new (the
    /// SET path: one hash, no key copy when overwriting). Returns the previous value.
    #[inline]
    pub fn upsert(&mut self, key: &[u8], value: Value) -> Option<Value> {
        let hash = self.hash(key);
        match self.probe(hash, key) {
            Probe::Found(i) => {
                // Overwriting is an access (Redis looks the key up for writing first).
                self.touch_at(i);
                self.slot_mut(i).as_mut().map(|(_, stored)| std::mem::replace(stored, value))
            }
            Probe::Vacant(at) => {
                self.place_new(hash, Some(at), Sds::new(key), value);
                None
            }
            Probe::Full => {
                self.place_new(hash, None, Sds::new(key), value);
                None
            }
        }
    }

    /// Inserts an entry for a key the caller believes absent and returns its value slot. If
    /// the key is present after all its value is replaced (never a duplicate entry).
    pub fn insert_new(&mut self, key: Sds, value: Value) -> &mut Value {
        let hash = self.hash(&key);
        let at = match self.probe(hash, &key) {
            Probe::Found(i) => {
                self.touch_at(i);
                return &mut self.slot_mut(i).insert((key, value)).1;
            }
            Probe::Vacant(at) => Some(at),
            Probe::Full => None,
        };
        self.place_new(hash, at, key, value)
    }

    /// Removes `key`; returns its value.
    pub fn remove(&mut self, key: &[u8]) -> Option<Value> {
        self.remove_entry(key).map(|(_, v)| v)
    }

    /// Removes `key`; returns the stored key and its value.
    pub fn remove_entry(&mut self, key: &[u8]) -> Option<(Sds, Value)> {
        let i = self.find(self.hash(key), key)?;
        let entry = self.take_at(i);
        if self.len == 0 {
            // Give the whole table back: an emptied slot should cost nothing.
            self.clear();
        } else if self.len * 5 < self.capacity() && self.segments.len() > 1 {
            self.rebuild(capacity_for_len(self.len + self.len / 4 + 1));
        }
        entry
    }

    /// Gives back whole segments the entries no longer need (the tightest capacity that holds
    /// them). Deletion alone shrinks only below 20 % load, so that a table that loses and regains
    /// a few keys is not rebuilt each time; eviction calls this because the memory it frees is
    /// the point of evicting, and with keys and values stored inline an emptied bucket frees
    /// nothing by itself.
    pub fn shrink_to_fit(&mut self) {
        if self.len > 0 && capacity_for_len(self.len) < self.capacity() {
            self.rebuild(capacity_for_len(self.len));
        }
    }

    /// Removes every entry and frees the table.
    pub fn clear(&mut self) {
        self.segments = Box::default();
        self.len = 0;
    }

    /// Every entry, in bucket order.
    pub fn iter(&self) -> impl Iterator<Item = (&Sds, &Value)> + '_ {
        self.segments.iter().flat_map(|s| s.buckets.iter()).filter_map(|b| b.as_ref().map(|(k, v)| (k, v)))
    }

    /// [`CompactMap::iter`] for walks that read every entry's bytes (a snapshot serializing a
    /// slot): the out-of-line bytes of the key and of a string value are prefetched
    /// [`PREFETCH_AHEAD`] entries before they are yielded, so their cache misses overlap
    /// instead of stalling the walk one by one (measured: most of an AOF rewrite's time was
    /// the copy of each value stalling on its first touch). Rejected: prefetching in
    /// [`CompactMap::iter`] itself, which also serves walks that read only the keys.
    pub fn iter_prefetching(&self) -> Prefetching<'_, SegmentWalk<'_>> {
        // The walk prefetches the block [`SEGMENTS_AHEAD`] segments on as it enters each one,
        // so the first blocks are started here: otherwise every slot's walk (a few dozen
        // entries) began with that many misses one after another.
        for segment in self.segments.iter().take(SEGMENTS_AHEAD) {
            prefetch_block(&segment.buckets);
        }
        let inner = SegmentWalk { segments: &self.segments, segment: 0, bucket: 0 };
        Prefetching { inner, ahead: [None; PREFETCH_AHEAD], head: 0, len: 0 }
    }

    pub fn keys(&self) -> impl Iterator<Item = &Sds> + '_ {
        self.iter().map(|(k, _)| k)
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Value> + '_ {
        self.segments.iter_mut().flat_map(|s| s.buckets.iter_mut()).filter_map(|b| b.as_mut().map(|(_, v)| v))
    }

    // ---- internals ----

    #[inline]
    fn hash(&self, key: &[u8]) -> u64 {
        let mut hasher = self.hasher.build_hasher();
        hasher.write(key);
        test_hooks::degrade(hasher.finish())
    }

    #[inline]
    fn meta_at(&self, b: usize) -> Meta {
        self.segments[b / SEGMENT_BUCKETS].meta[b % SEGMENT_BUCKETS]
    }

    #[inline]
    fn set_meta(&mut self, b: usize, meta: Meta) {
        self.segments[b / SEGMENT_BUCKETS].meta[b % SEGMENT_BUCKETS] = meta;
    }

    #[inline]
    fn clock_at(&self, b: usize) -> u32 {
        clock_of(self.segments[b / SEGMENT_BUCKETS].clocks[b % SEGMENT_BUCKETS])
    }

    #[inline]
    fn set_clock_at(&mut self, b: usize, clock: u32) {
        self.segments[b / SEGMENT_BUCKETS].clocks[b % SEGMENT_BUCKETS] = clock_bytes(clock);
    }

    /// Records an access to the entry in bucket `b`.
    #[inline]
    fn touch_at(&mut self, b: usize) {
        let clock = crate::access::on_access(self.clock_at(b), crate::access::now_ms());
        self.set_clock_at(b, clock);
    }

    #[inline]
    fn slot(&self, b: usize) -> &Option<(Sds, Value)> {
        &self.segments[b / SEGMENT_BUCKETS].buckets[b % SEGMENT_BUCKETS]
    }

    #[inline]
    fn slot_mut(&mut self, b: usize) -> &mut Option<(Sds, Value)> {
        &mut self.segments[b / SEGMENT_BUCKETS].buckets[b % SEGMENT_BUCKETS]
    }

    #[inline]
    fn next(&self, bucket: usize) -> usize {
        let n = bucket + 1;
        if n == self.capacity() {
            0
        } else {
            n
        }
    }

    /// Exact probe distance of the occupied bucket `b` (recomputed from the key's hash only
    /// when the stored one is saturated).
    #[inline]
    fn distance_at(&self, b: usize) -> usize {
        let tag = self.meta_at(b).tag;
        if tag != TAG_SATURATED {
            return (tag as usize).saturating_sub(1);
        }
        match self.slot(b) {
            Some((k, _)) => {
                let cap = self.capacity();
                let home = home_bucket(self.hash(k), cap);
                (b + cap - home) % cap
            }
            None => 0,
        }
    }

    #[inline]
    fn find(&self, hash: u64, key: &[u8]) -> Option<usize> {
        match self.probe(hash, key) {
            Probe::Found(i) => Some(i),
            Probe::Vacant(_) | Probe::Full => None,
        }
    }

    /// Walks the probe sequence of `hash` until it finds `key` or proves it absent.
    #[inline]
    fn probe(&self, hash: u64, key: &[u8]) -> Probe {
        let cap = self.capacity();
        if cap == 0 {
            return Probe::Full;
        }
        let fingerprint = fingerprint_of(hash);
        let mut b = home_bucket(hash, cap);
        // Walk (segment, offset) alongside `b` so a step is an increment, not a division.
        let (mut seg, mut off) = (b / SEGMENT_BUCKETS, b % SEGMENT_BUCKETS);
        for _ in 0..cap {
            let segment = &self.segments[seg];
            let m = segment.meta[off];
            if m.is_empty() {
                // Linear probing: a key is never stored past an empty bucket of its run.
                return Probe::Vacant(b);
            }
            if m.fingerprint == fingerprint {
                if let Some((k, _)) = &segment.buckets[off] {
                    if k.as_bytes() == key {
                        return Probe::Found(b);
                    }
                }
            }
            b += 1;
            off += 1;
            if off == SEGMENT_BUCKETS {
                off = 0;
                seg += 1;
                if seg == self.segments.len() {
                    (seg, b) = (0, 0);
                }
            }
        }
        Probe::Full
    }

    /// Inserts an absent key. `at` is where the probe said it belongs (None if the table was
    /// full); it is recomputed if the table has to grow first. Returns the new value's slot.
    fn place_new(&mut self, hash: u64, at: Option<usize>, key: Sds, value: Value) -> &mut Value {
        let clock = crate::access::initial(crate::access::now_ms());
        self.place_with_clock(hash, at, key, value, clock)
    }

    fn place_with_clock(&mut self, hash: u64, at: Option<usize>, key: Sds, value: Value, clock: u32) -> &mut Value {
        let at = match at {
            Some(at) if self.len < max_len_for(self.capacity()) => at,
            _ => {
                self.grow_for(self.len + 1);
                self.vacant_bucket(hash)
            }
        };
        let cap = self.capacity();
        let home = home_bucket(hash, cap);
        self.set_meta(at, Meta::occupied((at + cap - home) % cap, fingerprint_of(hash)));
        self.set_clock_at(at, clock);
        self.len += 1;
        &mut self.slot_mut(at).insert((key, value)).1
    }

    /// [`CompactMap::place_with_clock`] for [`CompactMap::rebuild`], which sized the table for
    /// every entry it moves: no growth check, and the home bucket computed once. (Measured: the
    /// general path cost ~5 % more server CPU on INCRs of new keys beside 550K others.)
    #[inline]
    fn place_moved(&mut self, hash: u64, key: Sds, value: Value, clock: u32) {
        let cap = self.capacity();
        let home = home_bucket(hash, cap);
        let (b, seg, off) = self.vacant_from(home);
        let segment = &mut self.segments[seg];
        segment.meta[off] = Meta::occupied((b + cap - home) % cap, fingerprint_of(hash));
        segment.clocks[off] = clock_bytes(clock);
        segment.buckets[off] = Some((key, value));
        self.len += 1;
    }

    /// The first empty bucket of `hash`'s probe sequence (the table has room).
    fn vacant_bucket(&self, hash: u64) -> usize {
        self.vacant_from(home_bucket(hash, self.capacity())).0
    }

    /// The first empty bucket at or after `home` (the table has room), with its segment and
    /// offset. Walks (segment, offset) as [`CompactMap::probe`] does, so a step is an increment.
    #[inline]
    fn vacant_from(&self, home: usize) -> (usize, usize, usize) {
        let mut b = home;
        let (mut seg, mut off) = (b / SEGMENT_BUCKETS, b % SEGMENT_BUCKETS);
        for _ in 0..self.capacity() {
            if self.segments[seg].meta[off].is_empty() {
                break;
            }
            b += 1;
            off += 1;
            if off == SEGMENT_BUCKETS {
                off = 0;
                seg += 1;
                if seg == self.segments.len() {
                    (seg, b) = (0, 0);
                }
            }
        }
        (b, seg, off)
    }

    /// Empties bucket `i` without tombstones (Knuth's algorithm R): later entries of the run
    /// whose home is at or before the hole move into it, so every entry stays reachable from
    /// its home without crossing an empty bucket.
    fn take_at(&mut self, i: usize) -> Option<(Sds, Value)> {
        let cap = self.capacity();
        let entry = self.slot_mut(i).take();
        self.set_meta(i, Meta::EMPTY);
        self.len -= 1;
        let mut hole = i;
        let mut j = i;
        for _ in 1..cap {
            j = self.next(j);
            let m = self.meta_at(j);
            if m.is_empty() {
                break;
            }
            let distance = self.distance_at(j);
            let gap = (j + cap - hole) % cap;
            if distance >= gap {
                let moved = self.slot_mut(j).take();
                *self.slot_mut(hole) = moved;
                let clock = self.clock_at(j);
                self.set_clock_at(hole, clock);
                self.set_meta(hole, Meta::occupied(distance - gap, m.fingerprint));
                self.set_meta(j, Meta::EMPTY);
                hole = j;
            }
        }
        entry
    }

    /// Grows so that `len` entries fit, by at least ~1/GROWTH_DIVISOR of the current size.
    fn grow_for(&mut self, len: usize) {
        let segments = self.segments.len();
        let stepped = (segments + (segments / GROWTH_DIVISOR).max(1)) * SEGMENT_BUCKETS;
        self.rebuild(capacity_for_len(len).max(stepped));
    }

    /// Moves every entry into fresh segments holding `capacity` buckets (rounded up).
    fn rebuild(&mut self, capacity: usize) {
        let segment_count = capacity.max(self.len).div_ceil(SEGMENT_BUCKETS);
        let fresh: Box<[Segment]> = (0..segment_count).map(|_| Segment::empty()).collect();
        let mut old = std::mem::replace(&mut self.segments, fresh);
        self.len = 0;
        // Each entry moves once, straight from its old bucket to its new one, and the old blocks
        // go back to the allocator, whose next blocks of this size (the next table's growth) are
        // these, still in cache. Entries come out in home order and fastrange keeps that order at
        // any capacity, so each mostly lands right after the previous one.
        //
        // The old blocks are prefetched REBUILD_SEGMENTS_AHEAD ahead: a table that grows is
        // usually cold (16384 of them share the cache), each block is a heap allocation the
        // hardware cannot foresee, and a typical slot table (8-16 segments) is then requested
        // whole before its first entry moves.
        //
        // Rejected: emptying the table into a scratch list and re-placing from it into the same
        // blocks, which copied every entry twice. With INCR on new keys beside 550K others,
        // growth took ~19 % of the worker's samples that way and ~14 % this way.
        for ahead in old.iter().take(REBUILD_SEGMENTS_AHEAD) {
            prefetch_block(&ahead.buckets);
        }
        for i in 0..old.len() {
            if let Some(ahead) = old.get(i + REBUILD_SEGMENTS_AHEAD) {
                prefetch_block(&ahead.buckets);
            }
            let segment = &mut old[i];
            for b in 0..SEGMENT_BUCKETS {
                if segment.meta[b].is_empty() {
                    continue;
                }
                if let Some((key, value)) = segment.buckets[b].take() {
                    let hash = self.hash(&key);
                    self.place_moved(hash, key, value, clock_of(segment.clocks[b]));
                }
            }
        }
    }
}

impl Clone for CompactMap {
    fn clone(&self) -> Self {
        CompactMap { segments: self.segments.clone(), len: self.len, hasher: self.hasher.clone() }
    }
}

impl fmt::Debug for CompactMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// The bucket `hash` starts probing at: multiply-high maps it onto any capacity uniformly.
#[inline]
fn home_bucket(hash: u64, capacity: usize) -> usize {
    ((hash as u128 * capacity as u128) >> 64) as usize
}

/// The low byte: independent of the high bits that choose the home bucket.
#[inline]
fn fingerprint_of(hash: u64) -> u8 {
    hash as u8
}

/// Most entries a table of `capacity` buckets holds before growing: load ≤ 0.9, except that
/// tables of up to 10 buckets may fill up (their probes are short anyway, and a slot with 3
/// keys should not pay for 4 buckets).
#[inline]
fn max_len_for(capacity: usize) -> usize {
    if capacity <= 10 {
        capacity
    } else {
        capacity - capacity.div_ceil(10)
    }
}

/// Growth adds at least 1/GROWTH_DIVISOR of the current segments (at least one): ×1.25–1.33
/// for all but tiny tables, so loads run from ~0.68 just after growth up to 0.9. Every growth
/// moves every entry, so the step is a trade between bytes per key and the cost of an insert:
/// a table grown by a quarter (divisor 4) moved each entry about five times while it doubled,
/// by a third four times. Measured with INCR on new keys beside 550K others (server CPU for
/// 800K requests): divisor 4 ~108 ticks, 3 ~103, 2 ~99; `used_memory` at the end 105.8M, 107.2M
/// and 113.4M, and the benchmark's bytes per key at 632K keys 63.4, 65.6 and 72.9 (redis-server:
/// 139). Divisor 2 gives back a seventh of the memory lead for a further 4 %; 3 is the middle.
const GROWTH_DIVISOR: usize = 3;

/// The smallest whole-segment capacity that holds `len` entries.
fn capacity_for_len(len: usize) -> usize {
    // Start at or just below the answer (len / 0.9, or len for tables that may fill up);
    // a step or two settles the rounding.
    let start = if len <= 10 { len } else { len + len / 9 };
    let mut capacity = start.div_ceil(SEGMENT_BUCKETS) * SEGMENT_BUCKETS;
    for _ in 0..4 {
        if max_len_for(capacity) >= len {
            break;
        }
        capacity += SEGMENT_BUCKETS;
    }
    capacity
}

/// A fresh unpredictable 64-bit value: std's `RandomState` draws its SipHash keys from the
/// OS's random source (then varies them per instance), so hashing a constant with it yields
/// a value a client cannot guess.
fn os_random_u64() -> u64 {
    std::collections::hash_map::RandomState::new().hash_one(0x5eed_u64)
}

/// foldhash's shared seed (six words), derived once per process from OS randomness rather than
/// foldhash's own address-and-time-based default.
fn process_shared_seed() -> &'static SharedSeed {
    static SEED: OnceLock<SharedSeed> = OnceLock::new();
    SEED.get_or_init(|| SharedSeed::from_u64(os_random_u64()))
}

#[cfg(not(test))]
mod test_hooks {
    #[inline(always)]
    pub fn degrade(hash: u64) -> u64 {
        hash
    }
}

#[cfg(test)]
mod test_hooks {
    use std::cell::Cell;

    thread_local! {
        static HASH_MASK: Cell<u64> = const { Cell::new(u64::MAX) };
    }

    /// Tests degrade the hash (per thread) to force collisions of home bucket and fingerprint.
    pub fn degrade(hash: u64) -> u64 {
        hash & HASH_MASK.with(|m| m.get())
    }

    pub fn set_hash_mask(mask: u64) {
        HASH_MASK.with(|m| m.set(mask));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StrValue;
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn int(n: i64) -> Value {
        Value::Str(StrValue::Int(n))
    }

    fn as_int(v: &Value) -> i64 {
        match v {
            Value::Str(StrValue::Int(n)) => *n,
            other => panic!("unexpected value {other:?}"),
        }
    }

    /// Restores the normal hash when a test ends, even by panic.
    struct MaskGuard;
    impl MaskGuard {
        fn set(mask: u64) -> MaskGuard {
            test_hooks::set_hash_mask(mask);
            MaskGuard
        }
    }
    impl Drop for MaskGuard {
        fn drop(&mut self) {
            test_hooks::set_hash_mask(u64::MAX);
        }
    }

    /// Checks every structural invariant the lookups rely on.
    fn check_invariants(m: &CompactMap) {
        let cap = m.capacity();
        assert_eq!(cap % SEGMENT_BUCKETS, 0);
        let live = (0..cap).filter(|&b| m.slot(b).is_some()).count();
        assert_eq!(live, m.len, "len counter");
        if m.len == 0 {
            assert_eq!(cap, 0, "an empty map holds no table");
        } else {
            assert!(m.len <= max_len_for(cap), "load {} / {}", m.len, cap);
            assert!(m.len * 5 >= cap || cap == SEGMENT_BUCKETS, "under-loaded table {} / {}", m.len, cap);
        }
        for b in 0..cap {
            let meta = m.meta_at(b);
            match m.slot(b) {
                None => assert!(meta.is_empty(), "empty bucket {b} has metadata"),
                Some((k, _)) => {
                    let hash = m.hash(k);
                    let exact = (b + cap - home_bucket(hash, cap)) % cap;
                    assert_eq!(meta, Meta::occupied(exact, fingerprint_of(hash)), "bucket {b}");
                    assert_eq!(m.distance_at(b), exact);
                    // Linear probing: no empty bucket between an entry's home and the entry.
                    for back in 1..=exact {
                        let between = (b + cap - back) % cap;
                        assert!(!m.meta_at(between).is_empty(), "bucket {b}: hole at {between}");
                    }
                }
            }
        }
    }

    #[test]
    fn buckets_and_metadata_are_compact() {
        assert_eq!(std::mem::size_of::<Option<(Sds, Value)>>(), 48);
        // A segment's entries fill the 384-byte allocator size class exactly; its directory
        // entry is 6 bytes per bucket (metadata 2, access clock 3, the segment pointer 1).
        assert_eq!(std::mem::size_of::<Buckets>(), 384);
        assert_eq!(std::mem::size_of::<Segment>(), 48);
        assert_eq!(std::mem::size_of::<Meta>(), 2);
    }

    #[test]
    fn access_clocks_move_with_their_entries() {
        // Growth (rehash) and backward-shift deletion move entries; each clock must follow.
        let mut m = CompactMap::new();
        for i in 0..3000 {
            m.insert(Sds::new(format!("k{i}").as_bytes()), int(i));
            assert!(m.set_clock(format!("k{i}").as_bytes(), (i as u32 * 7919) & crate::access::CLOCK_MAX));
        }
        for i in (0..3000).step_by(3) {
            m.remove(format!("k{i}").as_bytes());
        }
        for i in 0..3000 {
            let expect = (i % 3 != 0).then_some((i as u32 * 7919) & crate::access::CLOCK_MAX);
            assert_eq!(m.clock(format!("k{i}").as_bytes()), expect, "k{i}");
        }
        let mut sampled = 0;
        m.sample(12345, 10, |k, v, clock| {
            assert_eq!(k.as_bytes(), format!("k{}", as_int(v)).as_bytes());
            assert_eq!(clock, (as_int(v) as u32 * 7919) & crate::access::CLOCK_MAX);
            sampled += 1;
        });
        assert_eq!(sampled, 10);
    }

    #[test]
    fn empty_map_allocates_nothing_and_emptied_map_frees() {
        let mut m = CompactMap::new();
        assert_eq!(m.capacity(), 0);
        assert_eq!(m.table_heap_bytes(), 0);
        assert!(m.get(b"x").is_none());
        assert!(m.remove(b"x").is_none());
        for i in 0..5000 {
            m.insert(Sds::new(format!("key:{i}").as_bytes()), int(i));
        }
        assert!(m.capacity() >= 5000);
        for i in 0..5000 {
            assert_eq!(m.remove(format!("key:{i}").as_bytes()).map(|v| as_int(&v)), Some(i));
            if i % 97 == 0 {
                check_invariants(&m);
            }
        }
        assert_eq!(m.capacity(), 0);
        assert_eq!(m.table_heap_bytes(), 0);
        m.insert(Sds::new(b"again"), int(1));
        m.clear();
        assert_eq!((m.len(), m.capacity()), (0, 0));
        assert!(m.get(b"again").is_none());
    }

    #[test]
    fn capacities_are_whole_segments_and_load_stays_high() {
        for len in 0..200_000 {
            let cap = capacity_for_len(len);
            assert!(max_len_for(cap) >= len, "len {len} cap {cap}");
            assert_eq!(cap % SEGMENT_BUCKETS, 0, "len {len}");
            // ... and the smallest such.
            assert!(cap < SEGMENT_BUCKETS || max_len_for(cap - SEGMENT_BUCKETS) < len, "len {len} cap {cap}");
        }
        // Loads seen while a map grows: never above 0.9 once past the tiny sizes, and a table
        // that just grew (by at most a third) is still at least two thirds full.
        let mut m = CompactMap::new();
        let mut min_load = 1.0f64;
        for i in 0..20_000i64 {
            let before = m.capacity();
            m.insert(Sds::new(&i.to_le_bytes()), int(i));
            let load = m.len() as f64 / m.capacity() as f64;
            if m.len() > 20 {
                assert!(load <= 0.9 + 1e-9, "{} / {}", m.len(), m.capacity());
                if m.capacity() != before && m.len() > 40 {
                    min_load = min_load.min(load);
                    let growth = m.capacity() as f64 / before as f64;
                    assert!((1.1..=1.35).contains(&growth), "growth {growth}");
                }
            }
        }
        assert!(min_load >= 0.9 / (4.0 / 3.0) - 1e-9, "min load after growth {min_load}");
    }

    #[test]
    fn upsert_insert_new_and_key_access() {
        let mut m = CompactMap::new();
        assert!(m.upsert(b"a", int(1)).is_none());
        assert_eq!(m.upsert(b"a", int(2)).map(|v| as_int(&v)), Some(1));
        *m.insert_new(Sds::new(b"b"), int(3)) = int(4);
        assert_eq!(as_int(m.get(b"b").unwrap()), 4);
        // insert_new on a present key replaces rather than duplicating.
        *m.insert_new(Sds::new(b"a"), int(5)) = int(6);
        assert_eq!(m.len(), 2);
        assert_eq!(as_int(m.get(b"a").unwrap()), 6);
        let long = vec![b'k'; 100];
        m.insert(Sds::new(&long), int(7));
        let (k, v) = m.get_key_value(&long).unwrap();
        assert_eq!((k.as_bytes(), as_int(v)), (&long[..], 7));
        if let Some(v) = m.get_mut(&long) {
            *v = int(8);
        }
        assert_eq!(m.remove_entry(&long).map(|(k, v)| (k.len(), as_int(&v))), Some((100, 8)));
        assert!(!m.contains_key(&long));
        for v in m.values_mut() {
            *v = int(0);
        }
        assert!(m.iter().all(|(_, v)| as_int(v) == 0));
        check_invariants(&m);
    }

    #[test]
    fn fully_colliding_keys_saturate_distances_and_still_work() {
        // Every key has the same home and fingerprint: distances run far past the metadata's
        // exact range, exercising the recomputed-distance path in probe, insert and remove.
        let _guard = MaskGuard::set(0);
        let mut m = CompactMap::new();
        let n = 700i64;
        for i in 0..n {
            assert!(m.insert(Sds::new(format!("c{i}").as_bytes()), int(i)).is_none());
        }
        check_invariants(&m);
        assert!((0..m.capacity()).any(|b| m.meta_at(b).tag == TAG_SATURATED));
        for i in 0..n {
            assert_eq!(m.get(format!("c{i}").as_bytes()).map(as_int), Some(i));
        }
        assert!(m.get(b"absent").is_none());
        for i in (0..n).step_by(3) {
            assert_eq!(m.remove(format!("c{i}").as_bytes()).map(|v| as_int(&v)), Some(i));
        }
        check_invariants(&m);
        for i in 0..n {
            let expect = if i % 3 == 0 { None } else { Some(i) };
            assert_eq!(m.get(format!("c{i}").as_bytes()).map(as_int), expect, "c{i}");
        }
    }

    #[test]
    fn iteration_yields_every_live_entry_once() {
        let mut m = CompactMap::new();
        for i in 0..3000i64 {
            m.insert(Sds::new(format!("k{i}").as_bytes()), int(i));
        }
        for i in (0..3000i64).filter(|i| i % 7 == 0) {
            m.remove(format!("k{i}").as_bytes());
        }
        let mut seen: Vec<i64> = m
            .iter()
            .map(|(k, v)| {
                assert_eq!(k.as_bytes(), format!("k{}", as_int(v)).as_bytes());
                as_int(v)
            })
            .collect();
        seen.sort_unstable();
        let expect: Vec<i64> = (0..3000).filter(|i| i % 7 != 0).collect();
        assert_eq!(seen, expect);
        assert_eq!(m.keys().count(), m.len());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(Vec<u8>, i64),
        Upsert(Vec<u8>, i64),
        InsertNew(Vec<u8>, i64),
        Remove(Vec<u8>),
        Get(Vec<u8>),
        GetMut(Vec<u8>, i64),
        Clear,
    }

    fn key_strategy() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            // A small key space so replaces and removes hit.
            (0u8..40).prop_map(|i| vec![b'k', i]),
            // Inline and heap-allocated keys, including > 16 bytes (foldhash's long path).
            (0u8..8, 0usize..40).prop_map(|(c, len)| vec![b'a' + c; len]),
        ]
    }

    fn op_strategy() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (key_strategy(), any::<i64>()).prop_map(|(k, v)| Op::Insert(k, v)),
            3 => (key_strategy(), any::<i64>()).prop_map(|(k, v)| Op::Upsert(k, v)),
            2 => (key_strategy(), any::<i64>()).prop_map(|(k, v)| Op::InsertNew(k, v)),
            6 => key_strategy().prop_map(Op::Remove),
            3 => key_strategy().prop_map(Op::Get),
            1 => (key_strategy(), any::<i64>()).prop_map(|(k, v)| Op::GetMut(k, v)),
            1 => Just(Op::Clear),
        ]
    }

    /// Applies `ops` to a map and to std's HashMap and compares every answer. The full
    /// invariant check runs every `check_every` ops and whenever the capacity changes.
    fn run_against_model(ops: &[Op], check_every: usize) {
        let mut m = CompactMap::new();
        let mut model: HashMap<Vec<u8>, i64> = HashMap::new();
        for (step, op) in ops.iter().enumerate() {
            let capacity_before = m.capacity();
            match op {
                Op::Insert(k, v) => {
                    let got = m.insert(Sds::new(k), int(*v)).map(|x| as_int(&x));
                    assert_eq!(got, model.insert(k.clone(), *v), "{op:?}");
                }
                Op::Upsert(k, v) => {
                    let got = m.upsert(k, int(*v)).map(|x| as_int(&x));
                    assert_eq!(got, model.insert(k.clone(), *v), "{op:?}");
                }
                Op::InsertNew(k, v) => {
                    assert_eq!(as_int(m.insert_new(Sds::new(k), int(*v))), *v);
                    model.insert(k.clone(), *v);
                }
                Op::Remove(k) => {
                    assert_eq!(m.remove(k).map(|x| as_int(&x)), model.remove(k), "{op:?}");
                }
                Op::Get(k) => {
                    assert_eq!(m.get(k).map(as_int), model.get(k).copied(), "{op:?}");
                    assert_eq!(
                        m.get_key_value(k).map(|(k, _)| k.to_vec()),
                        model.get_key_value(k).map(|(k, _)| k.clone())
                    );
                }
                Op::GetMut(k, v) => match (m.get_mut(k), model.get_mut(k)) {
                    (Some(a), Some(b)) => {
                        *a = int(*v);
                        *b = *v;
                    }
                    (None, None) => {}
                    (a, b) => panic!("get_mut disagrees: {:?} vs {b:?}", a.is_some()),
                },
                Op::Clear => {
                    m.clear();
                    model.clear();
                }
            }
            assert_eq!(m.len(), model.len());
            if step % check_every == 0 || m.capacity() != capacity_before {
                check_invariants(&m);
            }
        }
        check_invariants(&m);
        let mut got: Vec<(Vec<u8>, i64)> = m.iter().map(|(k, v)| (k.to_vec(), as_int(v))).collect();
        got.sort();
        let mut want: Vec<(Vec<u8>, i64)> = model.into_iter().collect();
        want.sort();
        assert_eq!(got, want);
        // The snapshot walk (segment by segment, empty buckets skipped by their metadata) yields
        // the same entries in the same order as `iter`.
        let plain: Vec<(Vec<u8>, i64)> = m.iter().map(|(k, v)| (k.to_vec(), as_int(v))).collect();
        let walked: Vec<(Vec<u8>, i64)> = m.iter_prefetching().map(|(k, v)| (k.to_vec(), as_int(v))).collect();
        assert_eq!(walked, plain);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        #[test]
        fn matches_hashmap_model(ops in proptest::collection::vec(op_strategy(), 0..400)) {
            run_against_model(&ops, 1);
        }

        /// Hashes cut down to a few bits: many keys share home buckets and fingerprints, so
        /// probes compare keys, runs are long and wrap around the end of the array.
        #[test]
        fn matches_hashmap_model_with_colliding_hashes(
            ops in proptest::collection::vec(op_strategy(), 0..400),
            mask in prop_oneof![Just(0u64), Just(0xC000_0000_0000_0000), Just(0xF000_0000_0000_0003)],
        ) {
            let _guard = MaskGuard::set(mask);
            run_against_model(&ops, 1);
        }

        /// Long insert runs then long delete runs: growth through many size classes, then
        /// shrinking back down to nothing.
        #[test]
        fn grows_and_shrinks_like_the_model(
            keys in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..30), 0..600),
        ) {
            let mut ops: Vec<Op> = keys.iter().enumerate().map(|(i, k)| Op::Insert(k.clone(), i as i64)).collect();
            ops.extend(keys.iter().map(|k| Op::Get(k.clone())));
            ops.extend(keys.iter().rev().map(|k| Op::Remove(k.clone())));
            run_against_model(&ops, 16);
        }
    }
}
