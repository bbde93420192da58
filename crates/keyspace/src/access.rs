//! Per-key access clocks: what the 24 bits stored beside every entry (see `CompactMap`) mean,
//! how an access updates them, and how idle time, access frequency and an eviction score are
//! read back — Redis 7.0's `lru` field of `robj`, with the same two encodings:
//!
//! * **LRU** (every policy but the LFU ones): the access time in seconds, modulo 2^24 (194 days),
//!   so OBJECT IDLETIME and the LRU policies see how long a key has been idle.
//! * **LFU** (`allkeys-lfu`, `volatile-lfu`): the high 16 bits are the minute of the last
//!   decrement (modulo 2^16) and the low 8 bits a logarithmic access counter: an access raises it
//!   with probability 1 / ((counter - 5) * lfu-log-factor + 1), and it loses one per
//!   `lfu-decay-time` minutes without access. A new key starts at 5 so it is not evicted before
//!   it had a chance to be read.
//!
//! This module owns that encoding and the process-wide choice between the two (set by the server
//! from `maxmemory-policy`, `lfu-log-factor`, `lfu-decay-time`). It never reads a clock (callers
//! pass `now_ms`) and never evicts anything: the server decides what to evict.
//!
//! Why process-wide atomics rather than a parameter of every lookup: the mode is consulted on
//! every key access, and threading a policy through every command's `get` would touch hundreds of
//! call sites for a value that changes only with CONFIG SET. A relaxed load of a global is the
//! cheapest check there is. As in Redis, switching between LRU and LFU at run time leaves the old
//! clocks to be reinterpreted until keys are accessed again.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, Ordering};

/// The largest clock value: clocks are 24 bits.
pub const CLOCK_MAX: u32 = (1 << 24) - 1;
/// An LFU counter's starting value for a new key (Redis's LFU_INIT_VAL).
pub const LFU_INIT_VAL: u8 = 5;
const LRU_RESOLUTION_MS: i64 = 1000;
const LFU_MINUTE_MS: i64 = 60_000;

static LFU_MODE: AtomicBool = AtomicBool::new(false);
/// The time clocks are stamped with, as Redis's cached `server.lruclock`: callers advance it
/// (the server does before each command and on its timer), and it is written only when the
/// second changes, so the cache line stays shared between threads and reading it is one load.
static NOW_MS: AtomicI64 = AtomicI64::new(0);
static LFU_LOG_FACTOR: AtomicU32 = AtomicU32::new(10);
static LFU_DECAY_MINUTES: AtomicU32 = AtomicU32::new(1);

/// Selects the clock encoding (LFU for the LFU policies, else LRU) and the LFU parameters.
pub fn configure(lfu: bool, log_factor: u32, decay_minutes: u32) {
    LFU_MODE.store(lfu, Ordering::Relaxed);
    LFU_LOG_FACTOR.store(log_factor, Ordering::Relaxed);
    LFU_DECAY_MINUTES.store(decay_minutes, Ordering::Relaxed);
}

/// Moves the stamping time to `now_ms` if that is in a later second (never backwards).
#[inline]
pub fn advance(now_ms: i64) {
    let seen = NOW_MS.load(Ordering::Relaxed);
    if now_ms / LRU_RESOLUTION_MS > seen / LRU_RESOLUTION_MS {
        NOW_MS.store(now_ms, Ordering::Relaxed);
    }
}

/// The time the last [`advance`] set (to the second).
#[inline]
pub fn now_ms() -> i64 {
    NOW_MS.load(Ordering::Relaxed)
}

/// True while clocks are LFU counters.
#[inline]
pub fn lfu_mode() -> bool {
    LFU_MODE.load(Ordering::Relaxed)
}

/// The LRU clock at `now_ms`: seconds, modulo 2^24.
#[inline]
pub fn lru_clock(now_ms: i64) -> u32 {
    ((now_ms.max(0) / LRU_RESOLUTION_MS) as u32) & CLOCK_MAX
}

#[inline]
fn lfu_minutes(now_ms: i64) -> u32 {
    ((now_ms.max(0) / LFU_MINUTE_MS) as u32) & 0xFFFF
}

/// The clock of a key created at `now_ms`.
#[inline]
pub fn initial(now_ms: i64) -> u32 {
    if lfu_mode() {
        (lfu_minutes(now_ms) << 8) | LFU_INIT_VAL as u32
    } else {
        lru_clock(now_ms)
    }
}

/// The clock after an access at `now_ms` to a key whose clock was `old`.
#[inline]
pub fn on_access(old: u32, now_ms: i64) -> u32 {
    if lfu_mode() {
        let counter = log_incr(decayed_counter(old, now_ms));
        (lfu_minutes(now_ms) << 8) | counter as u32
    } else {
        lru_clock(now_ms)
    }
}

/// Milliseconds since the access an LRU clock records (modulo 2^24 seconds, as Redis's
/// `estimateObjectIdleTime`, without its off-by-one across the wrap).
pub fn idle_ms(clock: u32, now_ms: i64) -> u64 {
    let secs = lru_clock(now_ms).wrapping_sub(clock) & CLOCK_MAX;
    secs as u64 * LRU_RESOLUTION_MS as u64
}

/// The LFU counter of `clock` as of `now_ms`: one less per `lfu-decay-time` minutes since the
/// last decrement (a decay time of 0 never decays).
pub fn decayed_counter(clock: u32, now_ms: i64) -> u8 {
    let last = clock >> 8;
    let counter = (clock & 0xFF) as u8;
    let decay = LFU_DECAY_MINUTES.load(Ordering::Relaxed);
    if decay == 0 {
        return counter;
    }
    let now = lfu_minutes(now_ms);
    let elapsed = if now >= last { now - last } else { 0xFFFF - last + now };
    let periods = elapsed / decay;
    counter.saturating_sub(periods.min(255) as u8)
}

/// The clock RESTORE ... IDLETIME gives a key: accessed `idle_secs` ago (ignored under LFU, as
/// Redis's `objectSetLRUOrLFU`).
pub fn with_idle(idle_secs: i64, now_ms: i64) -> u32 {
    if lfu_mode() {
        return initial(now_ms);
    }
    let now = lru_clock(now_ms) as i64;
    let back = idle_secs.clamp(0, CLOCK_MAX as i64);
    // Wrap inside the 24-bit space, as an idle time measured across the wrap reads back.
    ((now - back).rem_euclid(CLOCK_MAX as i64 + 1)) as u32
}

/// The clock RESTORE ... FREQ gives a key (ignored under LRU).
pub fn with_freq(freq: u8, now_ms: i64) -> u32 {
    if lfu_mode() {
        (lfu_minutes(now_ms) << 8) | freq as u32
    } else {
        lru_clock(now_ms)
    }
}

/// How much an LRU or LFU policy wants to evict a key with this clock: higher is evicted first
/// (idle milliseconds under LRU, 255 minus the decayed counter under LFU), as Redis ranks its
/// eviction pool.
pub fn eviction_score(clock: u32, now_ms: i64) -> u64 {
    if lfu_mode() {
        255 - decayed_counter(clock, now_ms) as u64
    } else {
        idle_ms(clock, now_ms)
    }
}

thread_local! {
    /// xorshift64* state for the LFU increment's coin flip; seeded per thread from the address
    /// of the thread-local itself mixed with a constant (quality matters little: it only has to
    /// spread increments, and a client cannot exploit it to do more than access a key more).
    static RNG: Cell<u64> = const { Cell::new(0) };
}

/// A pseudo-random number in [0, 1) (the LFU increment's probability draw).
fn unit_random() -> f64 {
    RNG.with(|r| {
        let mut x = r.get();
        if x == 0 {
            x = (r as *const Cell<u64> as u64) ^ 0x9E37_79B9_7F4A_7C15;
        }
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        r.set(x);
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    })
}

/// Redis's logarithmic counter step: the higher the counter, the less likely it rises.
fn log_incr(counter: u8) -> u8 {
    if counter == 255 {
        return 255;
    }
    let base = counter.saturating_sub(LFU_INIT_VAL) as f64;
    let p = 1.0 / (base * LFU_LOG_FACTOR.load(Ordering::Relaxed) as f64 + 1.0);
    if unit_random() < p {
        counter + 1
    } else {
        counter
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // One test touches the process-wide mode, so the others cannot race with it.
    #[test]
    fn lru_and_lfu_clocks() {
        configure(false, 10, 1);
        let t0 = 1_700_000_000_000i64;
        let c = initial(t0);
        assert_eq!(idle_ms(c, t0 + 5_500), 5_000);
        assert_eq!(idle_ms(on_access(c, t0 + 5_500), t0 + 5_500), 0);
        assert_eq!(idle_ms(with_idle(100, t0), t0), 100_000);
        // Across the 24-bit wrap.
        assert_eq!(idle_ms(CLOCK_MAX - 1, (CLOCK_MAX as i64 + 3) * 1000), 4_000);

        configure(true, 10, 1);
        let c = initial(t0);
        assert_eq!(decayed_counter(c, t0), LFU_INIT_VAL);
        // Accesses raise the counter, ever more slowly.
        let mut c = c;
        for _ in 0..1000 {
            c = on_access(c, t0);
        }
        let after = decayed_counter(c, t0);
        assert!(after > 10 && after < 60, "1000 hits with log factor 10 gave {after}");
        // Three idle minutes cost three.
        assert_eq!(decayed_counter(c, t0 + 3 * 60_000), after - 3);
        assert_eq!(decayed_counter(with_freq(100, t0), t0), 100);
        assert!(eviction_score(with_freq(1, t0), t0) > eviction_score(with_freq(200, t0), t0));
        configure(false, 10, 1);
    }
}
