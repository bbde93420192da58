//! maxmemory enforcement, after Redis 7.0's `performEvictions` (evict.c) and the OOM check of
//! `processCommand` (server.c).
//!
//! This module owns: whether used memory is over `maxmemory`, choosing keys to evict by
//! `maxmemory-policy` (sampling `maxmemory-samples` keys per database into a pool of the best
//! 16 candidates, as Redis does), and evicting them with everything a deletion the server makes
//! on its own must do: propagate it (DEL, or UNLINK under `lazyfree-lazy-eviction`) to the AOF
//! and replicas while the slot is still locked, fire the `evicted` keyspace event, count
//! `evicted_keys`, and fail the EXEC of clients watching the key. It never runs or rejects a
//! command itself (the worker asks `perform_evictions` and replies the OOM error), and never
//! evicts on a replica that ignores maxmemory.
//!
//! Memory is INFO's used_memory (`used_memory`: jemalloc's allocated bytes less its thread
//! caches). Reading that means advancing jemalloc's statistics epoch, which merges every arena's
//! statistics: ~30 µs, and reading it before every command took a pipelined GET from 1 M to 30 K
//! requests/s. So each worker keeps a [`Gauge`]: a reading at most [`GAUGE_REFRESH`] old, plus
//! what this thread allocated and freed since (jemalloc's per-thread byte counters, one load
//! each). The thread's own writes and evictions show at once; other threads' show within the
//! refresh interval. Rejected: a counting wrapper around the global allocator (an atomic update
//! shared by every thread on every allocation); re-reading only every N commands (a burst of
//! large writes would overshoot the limit by N of them).
//!
//! It also owns client eviction (`maxmemory-clients`, Redis's `evictClients`): when the normal
//! and pub/sub clients' memory reaches the limit, the largest evictable clients are closed.

use crate::worker::Env;
use keyspace::{Rank, Sds};
use std::sync::atomic::Ordering;
use std::time::Instant;
use tikv_jemalloc_ctl::thread::ThreadLocal;

/// Redis's `shared.oomerr`, without the leading '-'.
pub const OOM_ERROR: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// Redis's EVPOOL_SIZE: the candidates kept between samplings.
const POOL_SIZE: usize = 16;
/// After sampling found nothing the policy may evict, sampling is not tried again for this long.
/// Finding nothing means walking every slot table of every database (tens of thousands of
/// locks), and a server over its limit with nothing evictable (a volatile policy and no key
/// with a TTL) would otherwise do that before every command, reads included. Redis skips a
/// database in O(1) by its key counts, which our per-slot tables do not keep. Any write ends the
/// wait at once (it may have made a key evictable, e.g. EXPIRE): this worker's through
/// `Env::note_write`, and any other, a script's or a transaction's included, through the
/// server's dirty counter, which moved (rejected: `note_write` alone, which the writes of EVAL and
/// of other workers did not reach, so a key written there outlived a limit Redis evicts it for).
const BARREN_BACKOFF: std::time::Duration = std::time::Duration::from_millis(100);
/// The time budget is checked after this many evictions.
const CHECK_TIME_EVERY: usize = 16;
/// Longest a [`Gauge`]'s allocator-wide reading is used before it is taken again.
const GAUGE_REFRESH: std::time::Duration = std::time::Duration::from_millis(10);
/// A reading younger than this is not taken again to confirm that the limit is exceeded.
const GAUGE_CONFIRM_AGE: std::time::Duration = std::time::Duration::from_millis(1);

/// `maxmemory-policy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    VolatileLru,
    VolatileLfu,
    VolatileRandom,
    VolatileTtl,
    AllkeysLru,
    AllkeysLfu,
    AllkeysRandom,
    NoEviction,
}

impl Policy {
    /// Whether only keys with a TTL may be evicted.
    fn volatile(self) -> bool {
        matches!(self, Policy::VolatileLru | Policy::VolatileLfu | Policy::VolatileRandom | Policy::VolatileTtl)
    }

    fn rank(self) -> Rank {
        match self {
            Policy::VolatileTtl => Rank::Ttl,
            Policy::VolatileRandom | Policy::AllkeysRandom | Policy::NoEviction => Rank::Any,
            _ => Rank::Access,
        }
    }

    /// Whether keys' access clocks hold LFU counters under this policy.
    pub fn lfu(self) -> bool {
        matches!(self, Policy::VolatileLfu | Policy::AllkeysLfu)
    }
}

/// The settings enforcement reads (from `Config::eviction_settings`).
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    pub maxmemory: u64,
    pub policy: Policy,
    pub samples: usize,
    pub tenacity: u32,
    pub lazy: bool,
    pub replica_ignores: bool,
    pub lfu_log_factor: u32,
    pub lfu_decay_time: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            maxmemory: 0,
            policy: Policy::NoEviction,
            samples: 5,
            tenacity: 10,
            lazy: false,
            replica_ignores: true,
            lfu_log_factor: 10,
            lfu_decay_time: 1,
        }
    }
}

/// What `perform_evictions` concluded (Redis's EVICT_OK / EVICT_RUNNING / EVICT_FAIL).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Under the limit (or no limit applies).
    Ok,
    /// Still over the limit after this call's time budget, but keys are being evicted: as Redis,
    /// commands are not refused for it, and the worker's timer continues the work.
    Running,
    /// Over the limit and nothing (more) can be evicted: denyoom commands get the OOM error.
    Fail,
}

/// One eviction candidate: higher `score` goes first.
#[derive(Clone, Debug)]
struct Candidate {
    score: u64,
    db: u32,
    key: Sds,
}

/// Used memory as one worker sees it cheaply: see the module doc.
#[derive(Debug)]
struct Gauge {
    /// `used_memory()` when last read, and this thread's byte counters then.
    base: u64,
    base_allocated: u64,
    base_deallocated: u64,
    read_at: Option<Instant>,
}

thread_local! {
    /// jemalloc's pointers to this thread's cumulative allocated / deallocated byte counters
    /// (`thread.allocatedp` / `thread.deallocatedp`), looked up once per thread; None if the
    /// allocator does not provide them.
    static THREAD_COUNTERS: Option<(ThreadLocal<u64>, ThreadLocal<u64>)> =
        match (tikv_jemalloc_ctl::thread::allocatedp::read(), tikv_jemalloc_ctl::thread::deallocatedp::read()) {
            (Ok(a), Ok(d)) => Some((a, d)),
            _ => None,
        };
}

/// This thread's cumulative (allocated, deallocated) bytes, or None.
fn thread_bytes() -> Option<(u64, u64)> {
    THREAD_COUNTERS.with(|c| c.map(|(a, d)| (a.get(), d.get())))
}

impl Gauge {
    /// A fresh allocator-wide reading, unless the last one is under [`GAUGE_CONFIRM_AGE`] old
    /// (then the estimate stands: a server that stays over the limit, refusing writes under
    /// noeviction, must not pay a statistics merge per command).
    fn confirmed(&mut self) -> u64 {
        if self.read_at.is_some_and(|at| at.elapsed() < GAUGE_CONFIRM_AGE) {
            return self.used();
        }
        self.read_at = None;
        self.used()
    }

    fn used(&mut self) -> u64 {
        let fresh = self.read_at.is_some_and(|at| at.elapsed() < GAUGE_REFRESH);
        let Some((allocated, deallocated)) = thread_bytes().filter(|_| fresh) else {
            self.base = used_memory();
            (self.base_allocated, self.base_deallocated) = thread_bytes().unwrap_or((0, 0));
            self.read_at = Some(Instant::now());
            return self.base;
        };
        let grown = allocated.wrapping_sub(self.base_allocated);
        let shrunk = deallocated.wrapping_sub(self.base_deallocated);
        (self.base + grown).saturating_sub(shrunk)
    }
}

/// A worker's eviction state: its candidate pool, random state, memory gauge and cached
/// settings.
#[derive(Debug)]
pub struct Evictor {
    pub settings: Settings,
    pool: Vec<Candidate>,
    rng: u64,
    gauge: Gauge,
    /// Until when sampling is skipped because the last one found nothing ([`BARREN_BACKOFF`]),
    /// and the server's dirty counter then (a write since ends the wait).
    barren_until: Option<(Instant, u64)>,
}

impl Evictor {
    pub fn new(seed: u64) -> Evictor {
        Evictor {
            settings: Settings::default(),
            pool: Vec::with_capacity(POOL_SIZE),
            rng: seed | 1,
            gauge: Gauge { base: 0, base_allocated: 0, base_deallocated: 0, read_at: None },
            barren_until: None,
        }
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64*: only spreads samples over the keyspace; nothing depends on its quality.
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Adds a sampled key to the pool if it beats the worst candidate (or the pool has room),
    /// keeping the pool sorted best-first and free of duplicates.
    fn offer(&mut self, db: u32, key: &Sds, score: u64) {
        if self.pool.iter().any(|c| c.db == db && c.key == *key) {
            return;
        }
        if self.pool.len() == POOL_SIZE && self.pool.last().is_some_and(|w| w.score >= score) {
            return;
        }
        let at = self.pool.partition_point(|c| c.score >= score);
        self.pool.insert(at, Candidate { score, db, key: key.clone() });
        self.pool.truncate(POOL_SIZE);
    }
}

/// Bytes in use (INFO's used_memory): jemalloc's allocated bytes less what sits in its
/// thread caches. jemalloc counts a region as allocated from the moment a thread cache takes it
/// from the arena, so `stats.allocated` alone jumps by up to hundreds of KB when a cache refills
/// and would make a 100 KB margin over maxmemory meaningless; freed regions waiting in a cache
/// are not in use either. (Redis counts its own allocations, which has neither effect.)
pub fn used_memory() -> u64 {
    let _ = tikv_jemalloc_ctl::epoch::advance();
    let allocated = tikv_jemalloc_ctl::stats::allocated::read().map(|v| v as u64).unwrap_or(0);
    // Arena 4096 is MALLCTL_ARENAS_ALL (all arenas merged). An error (stats not built in) counts
    // as nothing cached.
    // SAFETY: the name is NUL-terminated and the statistic is a size_t, the type read here.
    let cached = unsafe { tikv_jemalloc_ctl::raw::read::<usize>(b"stats.arenas.4096.tcache_bytes\0") }
        .map(|v| v as u64)
        .unwrap_or(0);
    allocated.saturating_sub(cached)
}

/// Redis's `evictionTimeLimitUs`: how long one call may evict, from `maxmemory-eviction-tenacity`
/// (10, the default: 500 µs; 100: no limit).
fn time_limit_us(tenacity: u32) -> Option<u64> {
    if tenacity <= 10 {
        return Some(50 * tenacity as u64);
    }
    if tenacity < 100 {
        return Some((500.0 * 1.15f64.powi(tenacity as i32 - 10)) as u64);
    }
    None
}

impl Env {
    /// Whether a limit applies to this node now: maxmemory set, and not a replica that ignores it.
    pub fn maxmemory_applies(&self) -> bool {
        let s = &self.evictor.settings;
        s.maxmemory > 0 && !(s.replica_ignores && crate::replication::is_replica())
    }

    /// A command of this worker changed data: keys may have become evictable.
    pub fn note_write(&mut self) {
        self.evictor.barren_until = None;
    }

    /// Evicts keys per policy until used memory is under `maxmemory` (Redis's
    /// `performEvictions`).
    pub fn perform_evictions(&mut self) -> Outcome {
        if !self.maxmemory_applies() {
            return Outcome::Ok;
        }
        let settings = self.evictor.settings;
        // As Redis's getMaxmemoryState: the replication buffer beyond the backlog is the
        // replicas', and evicting keys would not shrink it.
        let not_counted = crate::replication::repl_buffer_mem().not_counted_for_evict;
        let mut used = self.evictor.gauge.used().saturating_sub(not_counted);
        if used > settings.maxmemory {
            // Over by the estimate: confirm with an allocator-wide reading before deleting
            // anything, less what clients marked for closing still hold (client eviction
            // closed them for this very excess; their workers free them in a moment). The
            // estimate adds this thread's allocations to a reading up to GAUGE_REFRESH old,
            // and after a burst of large replies it overstated used memory by megabytes.
            used = self.evictor.gauge.confirmed().saturating_sub(not_counted + dying_clients_mem(self.shared));
        }
        if used <= settings.maxmemory {
            return Outcome::Ok;
        }
        let to_free = used - settings.maxmemory;
        if settings.policy == Policy::NoEviction {
            return Outcome::Fail;
        }
        let started = Instant::now();
        let dirty = self.shared.stats.dirty.load(Ordering::Relaxed);
        if self.evictor.barren_until.is_some_and(|(until, dirty_then)| started < until && dirty == dirty_then) {
            return Outcome::Fail;
        }
        let limit_us = time_limit_us(settings.tenacity);
        let mut evicted = 0usize;
        let mut freed = 0u64;
        // As Redis, the goal is the excess measured once, and each eviction counts what its
        // deletion alone freed (the gauge sees this thread's frees at once). Rejected: asking
        // the gauge whether we are under the limit after every eviction, which counted the
        // invalidation messages each eviction sends to tracking clients against us, so every
        // eviction caused more and the database drained.
        while freed < to_free && self.evictor.gauge.used().saturating_sub(not_counted) > settings.maxmemory {
            let Some(victim) = self.pick_victim(settings) else {
                // Nothing left that the policy may evict.
                self.evictor.barren_until = Some((Instant::now() + BARREN_BACKOFF, dirty));
                return Outcome::Fail;
            };
            freed += self.evict_key(victim.db, &victim.key, settings.lazy);
            evicted += 1;
            if evicted.is_multiple_of(CHECK_TIME_EVERY)
                && limit_us.is_some_and(|l| started.elapsed().as_micros() as u64 > l)
            {
                return Outcome::Running;
            }
        }
        Outcome::Ok
    }

    /// The next key to evict: the best of the pool after a fresh sampling of every database
    /// (the LRU, LFU and TTL policies), or the first key sampled from a random slot of the first
    /// database holding one (the random policies; Redis rotates over the databases instead).
    fn pick_victim(&mut self, settings: Settings) -> Option<Candidate> {
        let shared = self.shared;
        let volatile = settings.policy.volatile();
        let rank = settings.policy.rank();
        for db in 0..shared.ks.db_count() {
            let Some(d) = shared.ks.db_if_used(db) else { continue };
            // Walk slots from a random one until `samples` keys were seen (or every slot was):
            // keys are spread over 16384 slot tables, a few per table.
            let mut seen = 0usize;
            let first = (self.evictor.next_random() % keyspace::SLOT_COUNT as u64) as usize;
            for step in 0..keyspace::SLOT_COUNT {
                if seen >= settings.samples {
                    break;
                }
                let slot = ((first + step) % keyspace::SLOT_COUNT) as u16;
                let start = self.evictor.next_random() as usize;
                let mut batch: Vec<(Sds, u64)> = Vec::new();
                // Sampling only reads: no snapshot serialization here (see `Db::peek_slot`).
                d.peek_slot(slot, |t| {
                    // Ranked against the time access clocks are stamped with.
                    t.sample(volatile, rank, start, settings.samples - seen, keyspace::access::now_ms(), |k, score| {
                        batch.push((k.clone(), score))
                    });
                });
                seen += batch.len();
                for (key, score) in batch {
                    if rank == Rank::Any {
                        // Random policies take the first key sampled.
                        return Some(Candidate { score, db: db as u32, key });
                    }
                    self.evictor.offer(db as u32, &key, score);
                }
            }
        }
        // The best candidate still present (the pool may hold keys deleted since).
        while !self.evictor.pool.is_empty() {
            let c = self.evictor.pool.remove(0);
            let d = shared.ks.db_if_used(c.db as usize)?;
            if d.lock_slot(keyspace::key_hash_slot(&c.key)).holds(&c.key) {
                return Some(c);
            }
        }
        None
    }

    /// Deletes one key for eviction (nothing if it is gone meanwhile); returns the bytes its
    /// deletion freed.
    fn evict_key(&mut self, db: u32, key: &[u8], lazy: bool) -> u64 {
        let shared = self.shared;
        let Some(d) = shared.ks.db_if_used(db as usize) else { return 0 };
        let before = self.evictor.gauge.used();
        let mut t = d.lock_slot(keyspace::key_hash_slot(key));
        let Some(value) = t.evict(key) else { return 0 };
        // Logged while the slot is locked, so no write to the key can be logged before it.
        let verb: &[u8] = if lazy { b"UNLINK" } else { b"DEL" };
        crate::aof::propagate_server_write(db, vec![verb.to_vec(), key.to_vec()]);
        drop(t);
        // Freed here, on this thread, so the gauge sees it.
        drop(value);
        let freed = before.saturating_sub(self.evictor.gauge.used());
        shared.stats.evicted_keys.fetch_add(1, Ordering::Relaxed);
        shared.touch_keys(db, std::iter::once(key));
        self.track_evicted(key);
        if self.data_config.notify_keyspace_events & commands::notify::NOTIFY_EVICTED != 0 {
            let note = commands::Notification { db, event: "evicted", key: Sds::new(key) };
            self.publish_notifications(&[note]);
        }
        freed
    }
}

/// Redis's `evictClients`: while the clients' memory is at or over `maxmemory-clients`, the
/// largest clients that may be evicted (normal and pub/sub ones without CLIENT NO-EVICT) are
/// killed, largest first (Redis walks its power-of-two memory buckets from the top, the same
/// order to within a factor of two), each logged and counted in `evicted_clients`. Their
/// workers close them (a Poke), so the memory they still hold is taken off here at once,
/// as are clients already marked for closing, which keeps one overflow from evicting more
/// clients than it takes. Runs only when a report found the limit crossed; the scan of the
/// client table is then the cost of evicting.
/// The memory reported by clients that are marked for closing and not closed yet. Only read
/// when over maxmemory, so the scan of the client table is no cost otherwise.
fn dying_clients_mem(shared: &crate::shared::Shared) -> u64 {
    if shared.stats.client_eviction_limit.load(Ordering::Relaxed) == 0 {
        return 0;
    }
    let clients = shared.clients.lock();
    clients
        .values()
        .filter(|cl| cl.kill.load(Ordering::Relaxed))
        .map(|cl| cl.mem_reported.load(Ordering::Relaxed))
        .sum()
}

pub fn evict_clients(shared: &crate::shared::Shared) {
    use crate::shared::Msg;
    let limit = shared.stats.client_eviction_limit.load(Ordering::Relaxed) as i64;
    if limit == 0 {
        return;
    }
    let mut total = shared.stats.clients_mem.load(Ordering::Relaxed);
    if total < limit {
        return;
    }
    let mut candidates = Vec::new();
    for cl in shared.clients.lock().values() {
        let mem = cl.mem_reported.load(Ordering::Relaxed) as i64;
        if cl.kill.load(Ordering::Relaxed) {
            total -= mem;
        } else if !cl.no_evict.load(Ordering::Relaxed)
            && cl.kind.load(Ordering::Relaxed) == crate::replication::CLIENT_NORMAL
            && !cl.monitor.load(Ordering::Relaxed)
        {
            candidates.push((mem, cl.clone()));
        }
    }
    candidates.sort_unstable_by_key(|(mem, _)| std::cmp::Reverse(*mem));
    let now = crate::shared::now_ms();
    let mut evicted = candidates.into_iter();
    while total >= limit {
        let Some((mem, cl)) = evicted.next() else {
            crate::warning!("Over client maxmemory after evicting all evictable clients");
            return;
        };
        crate::notice!("Evicting client: {}", crate::info::client_line(shared, &cl, now));
        cl.kill.store(true, Ordering::Relaxed);
        shared.stats.evicted_clients.fetch_add(1, Ordering::Relaxed);
        total -= mem;
        if let Some(w) = shared.workers().get(cl.worker) {
            w.send(Msg::Poke);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_keeps_the_best_sixteen_without_duplicates() {
        let mut e = Evictor::new(7);
        for i in 0..40u64 {
            e.offer(0, &Sds::new(format!("k{i}").as_bytes()), i);
        }
        e.offer(0, &Sds::new(b"k39"), 39);
        assert_eq!(e.pool.len(), POOL_SIZE);
        let scores: Vec<u64> = e.pool.iter().map(|c| c.score).collect();
        assert_eq!(scores, (24..40).rev().collect::<Vec<u64>>());
    }

    #[test]
    fn tenacity_time_limits() {
        assert_eq!(time_limit_us(10), Some(500));
        assert_eq!(time_limit_us(0), Some(0));
        assert!(time_limit_us(50).is_some_and(|l| l > 100_000));
        assert_eq!(time_limit_us(100), None);
    }
}
