//! MEMORY STATS, DOCTOR, MALLOC-STATS and PURGE (MEMORY USAGE and HELP are data commands, in
//! `commands`): Redis 7.0.15's replies, from jemalloc's statistics and our own counters.
//!
//! Owns the memory overview ([`Overview`], Redis's `getMemoryOverheadData`) and the doctor's rules
//! (`getMemoryDoctorReport`, the same thresholds and texts). It only reads statistics; it never
//! frees or moves data (PURGE asks jemalloc to return dirty pages, as Redis does).
//!
//! What we do not measure is reported as 0 rather than guessed: client buffers, the replication
//! backlog, cluster links, the AOF buffer and the per-database table overhead (INFO memory says the
//! same), so `overhead.total` is the start-up memory plus the script caches, and everything else
//! counts as dataset.

use crate::worker::{Conn, Env};
use commands::args::eq_ic;
use std::sync::atomic::{AtomicU64, Ordering};

/// `used_memory` when the server finished starting (Redis's `startup_allocated`).
static STARTUP_ALLOCATED: AtomicU64 = AtomicU64::new(0);
/// The largest `used_memory` seen by a memory report (Redis samples its peak in the cron; ours is
/// the peak of what MEMORY STATS / DOCTOR and INFO observed).
static PEAK_ALLOCATED: AtomicU64 = AtomicU64::new(0);

/// Records the start-up baseline; called once the server is initialized.
/// Turns this thread's allocator cache off, for threads that allocate almost nothing after they
/// start (a replica link's writer and reader): jemalloc's per-thread cache costs about 58 KB of
/// used_memory per thread, which every replica would carry, and which reappeared as unexplained
/// memory freed when a replica went away. Failure just leaves the cache on.
pub fn disable_thread_cache() {
    // SAFETY: the name is NUL-terminated and the setting is a bool, the type written.
    let _ = unsafe { tikv_jemalloc_ctl::raw::write(b"thread.tcache.enabled\0", false) };
}

/// The bytes the allocator sets aside for a request of `requested` bytes (its size class), as
/// used_memory counts them: a 2.7 MB buffer occupies a 3 MB class, and reporting the request
/// alone left the difference looking like memory nobody accounted for.
pub fn allocation_size(requested: usize) -> usize {
    if requested == 0 {
        return 0;
    }
    // SAFETY: nallocx only computes a size class; it allocates nothing and accepts any size
    // (returning 0 when it is too large, where the request is the best answer left).
    let class = unsafe { tikv_jemalloc_sys::nallocx(requested, 0) };
    if class == 0 {
        requested
    } else {
        class
    }
}

pub fn note_startup() {
    let used = crate::evict::used_memory();
    STARTUP_ALLOCATED.store(used, Ordering::Relaxed);
    PEAK_ALLOCATED.fetch_max(used, Ordering::Relaxed);
}

/// `used_memory` at start-up (INFO's used_memory_startup).
pub fn startup_allocated() -> u64 {
    STARTUP_ALLOCATED.load(Ordering::Relaxed)
}

/// `used_memory`, updating the observed peak.
pub fn used_and_peak() -> (u64, u64) {
    let used = crate::evict::used_memory();
    let peak = PEAK_ALLOCATED.fetch_max(used, Ordering::Relaxed).max(used);
    (used, peak)
}

/// Redis's `redisMemOverhead`, with what we measure.
struct Overview {
    peak: u64,
    total: u64,
    startup: u64,
    lua_caches: u64,
    /// (database, keys) of the databases holding keys.
    dbs: Vec<(usize, u64)>,
    overhead_total: u64,
    keys: u64,
    bytes_per_key: u64,
    dataset: u64,
    dataset_perc: f32,
    peak_perc: f32,
    allocator_allocated: u64,
    allocator_active: u64,
    allocator_resident: u64,
    rss: u64,
    /// Allocated since start-up but not data: the Lua VMs and the commands' latency histograms.
    not_data: u64,
}

impl Overview {
    fn gather(shared: &crate::shared::Shared, keys_per_db: &[u64]) -> Overview {
        let (total, peak) = used_and_peak();
        let startup = STARTUP_ALLOCATED.load(Ordering::Relaxed).min(total);
        let lua_caches = crate::scripting::scripts_memory() as u64;
        let dbs: Vec<(usize, u64)> =
            keys_per_db.iter().enumerate().filter(|(_, &n)| n > 0).map(|(i, &n)| (i, n)).collect();
        let keys: u64 = dbs.iter().map(|(_, n)| n).sum();
        let overhead_total = startup + lua_caches;
        let net = if total > startup { total - startup } else { 1 };
        let dataset = total.saturating_sub(overhead_total);
        let _ = tikv_jemalloc_ctl::epoch::advance();
        let read = |r: tikv_jemalloc_ctl::Result<usize>| r.map(|v| v as u64).unwrap_or(0);
        Overview {
            peak,
            total,
            startup,
            lua_caches,
            dbs,
            overhead_total,
            keys,
            bytes_per_key: net.checked_div(keys).unwrap_or(0),
            dataset,
            dataset_perc: dataset as f32 * 100.0 / net as f32,
            peak_perc: if peak > 0 { total as f32 * 100.0 / peak as f32 } else { 100.0 },
            allocator_allocated: read(tikv_jemalloc_ctl::stats::allocated::read()),
            allocator_active: read(tikv_jemalloc_ctl::stats::active::read()),
            allocator_resident: read(tikv_jemalloc_ctl::stats::resident::read()),
            rss: crate::info::rss_bytes(),
            not_data: crate::scripting::lua_memory() as u64 + latency_histograms_bytes(shared),
        }
    }

    /// (ratio, bytes) of `a` over `b`, the ratio as the `float` Redis keeps it.
    fn ratio(a: u64, b: u64) -> (f32, i64) {
        (if b > 0 { a as f32 / b as f32 } else { 0.0 }, a as i64 - b as i64)
    }

    fn allocator_frag(&self) -> (f32, i64) {
        Self::ratio(self.allocator_active, self.allocator_allocated)
    }
    fn allocator_rss(&self) -> (f32, i64) {
        Self::ratio(self.allocator_resident, self.allocator_active)
    }
    fn rss_extra(&self) -> (f32, i64) {
        Self::ratio(self.rss, self.allocator_resident)
    }
    fn total_frag(&self) -> (f32, i64) {
        Self::ratio(self.rss, self.total)
    }
}

/// Bytes held by the commands' latency histograms, over every worker.
fn latency_histograms_bytes(shared: &crate::shared::Shared) -> u64 {
    let per = (crate::latencystats::COUNTS_LEN * std::mem::size_of::<u64>()) as u64;
    let allocated: usize =
        shared.workers().iter().map(|w| w.stats.per_command.iter().filter(|c| c.latency.get().is_some()).count()).sum();
    allocated as u64 * per
}

/// Redis's `getMemoryDoctorReport`: the same checks, thresholds and texts.
fn doctor_report(o: &Overview, cached_scripts: usize) -> String {
    const MB10: i64 = 10 << 20;
    let mut found: Vec<&str> = Vec::new();
    // Redis calls an instance empty below 5 MB allocated in all, its start-up footprint being about
    // 1 MB. Ours starts larger and grows with what is not data (a Lua VM per worker thread, a
    // latency histogram per command and worker), so the 5 MB are counted above that: the rule's
    // intent (too little data to judge), not its figure.
    let empty = o.total.saturating_sub(o.startup + o.not_data) < 5 * 1024 * 1024;
    if !empty {
        if o.peak as f32 / o.total as f32 > 1.5 {
            found.push(" * Peak memory: In the past this instance used more than 150% the memory that is currently using. The allocator is normally not able to release memory after a peak, so you can expect to see a big fragmentation ratio, however this is actually harmless and is only due to the memory peak, and if the Redis instance Resident Set Size (RSS) is currently bigger than expected, the memory will be used as soon as you fill the Redis instance with more data. If the memory peak was only occasional and you want to try to reclaim memory, please try the MEMORY PURGE command, otherwise the only other option is to shutdown and restart the instance.\n\n");
        }
        let (frag, frag_bytes) = o.total_frag();
        if frag > 1.4 && frag_bytes > MB10 {
            found.push(" * High total RSS: This instance has a memory fragmentation and RSS overhead greater than 1.4 (this means that the Resident Set Size of the Redis process is much larger than the sum of the logical allocations Redis performed). This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. If the problem is a large peak memory, then there is no issue. Otherwise, make sure you are using the Jemalloc allocator and not the default libc malloc. Note: The currently used allocator is \"jemalloc-5.3.0\".\n\n");
        }
        let (af, af_bytes) = o.allocator_frag();
        if af > 1.1 && af_bytes > MB10 {
            found.push(" * High allocator fragmentation: This instance has an allocator external fragmentation greater than 1.1. This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. You can try enabling 'activedefrag' config option.\n\n");
        }
        let (ar, ar_bytes) = o.allocator_rss();
        if ar > 1.1 && ar_bytes > MB10 {
            found.push(" * High allocator RSS overhead: This instance has an RSS memory overhead is greater than 1.1 (this means that the Resident Set Size of the allocator is much larger than the sum what the allocator actually holds). This problem is usually due to a large peak memory (check if there is a peak memory entry above in the report), you can try the MEMORY PURGE command to reclaim it.\n\n");
        }
        let (re, re_bytes) = o.rss_extra();
        if re > 1.1 && re_bytes > MB10 {
            found.push(" * High process RSS overhead: This instance has non-allocator RSS memory overhead is greater than 1.1 (this means that the Resident Set Size of the Redis process is much larger than the RSS the allocator holds). This problem may be due to Lua scripts or Modules.\n\n");
        }
        // Client and replica buffers are not measured (0): Redis's two checks of them never fire.
        if cached_scripts > 1000 {
            found.push(" * Many scripts: There seem to be many cached scripts in this instance (more than 1000). This may be because scripts are generated and `EVAL`ed, instead of being parameterized (with KEYS and ARGV), `SCRIPT LOAD`ed and `EVALSHA`ed. Unless `SCRIPT FLUSH` is called periodically, the scripts' caches may end up consuming most of your memory.\n\n");
        }
    }
    if empty {
        return "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n".to_string();
    }
    if found.is_empty() {
        return "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n"
            .to_string();
    }
    let mut s = String::from("Sam, I detected a few issues in this Redis instance memory implants:\n\n");
    found.iter().for_each(|f| s.push_str(f));
    s.push_str("I'm here to keep you safe, Sam. I want to help you.\n");
    s
}

/// jemalloc's `malloc_stats_print` output (MEMORY MALLOC-STATS).
fn malloc_stats() -> String {
    unsafe extern "C" fn write_cb(opaque: *mut std::ffi::c_void, text: *const std::ffi::c_char) {
        // SAFETY: `opaque` is the &mut String passed below, alive for the whole call; jemalloc
        // passes a NUL-terminated string.
        unsafe {
            let out = &mut *(opaque as *mut String);
            out.push_str(&std::ffi::CStr::from_ptr(text).to_string_lossy());
        }
    }
    let mut out = String::new();
    // SAFETY: the callback only appends to `out`, which outlives the call; no options string.
    unsafe {
        tikv_jemalloc_sys::malloc_stats_print(
            Some(write_cb),
            &mut out as *mut String as *mut std::ffi::c_void,
            std::ptr::null(),
        );
    }
    out
}

/// MEMORY PURGE: jemalloc returns every arena's dirty pages to the system (arena 4096 is
/// MALLCTL_ARENAS_ALL), as Redis's `jemalloc_purge`.
fn purge() {
    // SAFETY: a NUL-terminated control name that takes no input and gives no output.
    unsafe {
        tikv_jemalloc_sys::mallctl(
            c"arena.4096.purge".as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        );
    }
}

impl Env {
    /// MEMORY DOCTOR / STATS / MALLOC-STATS / PURGE (the dispatcher checked arity).
    pub fn memory_command(&mut self, c: &mut Conn, args: &[&[u8]]) {
        let shared = self.shared;
        let sub = args[1];
        if eq_ic(sub, "purge") {
            purge();
            c.out.ok();
        } else if eq_ic(sub, "malloc-stats") {
            c.out.verbatim("txt", malloc_stats().as_bytes());
        } else {
            let mut keys_per_db = Vec::with_capacity(shared.ks.db_count());
            for db in 0..shared.ks.db_count() {
                let mut n = 0u64;
                self.for_each_slot_table_read(db, |t| n += t.len() as u64);
                keys_per_db.push(n);
            }
            let o = Overview::gather(shared, &keys_per_db);
            if eq_ic(sub, "doctor") {
                let report = doctor_report(&o, crate::scripting::cached_scripts());
                c.out.verbatim("txt", report.as_bytes());
            } else {
                stats_reply(c, &o);
            }
        }
    }
}

fn stats_reply(c: &mut Conn, o: &Overview) {
    let out = &mut c.out;
    out.map(27 + o.dbs.len());
    let mut int = |name: &str, v: i64| {
        out.bulk(name.as_bytes());
        out.int(v);
    };
    int("peak.allocated", o.peak as i64);
    int("total.allocated", o.total as i64);
    int("startup.allocated", o.startup as i64);
    int("replication.backlog", 0);
    int("clients.slaves", 0);
    int("clients.normal", 0);
    int("cluster.links", 0);
    int("aof.buffer", 0);
    int("lua.caches", o.lua_caches as i64);
    int("functions.caches", 0);
    for (db, _) in &o.dbs {
        out.bulk(format!("db.{db}").as_bytes());
        out.map(3);
        for name in ["overhead.hashtable.main", "overhead.hashtable.expires", "overhead.hashtable.slot-to-keys"] {
            out.bulk(name.as_bytes());
            out.int(0);
        }
    }
    let mut int = |name: &str, v: i64| {
        out.bulk(name.as_bytes());
        out.int(v);
    };
    int("overhead.total", o.overhead_total as i64);
    int("keys.count", o.keys as i64);
    int("keys.bytes-per-key", o.bytes_per_key as i64);
    int("dataset.bytes", o.dataset as i64);
    let double = |out: &mut resp::ReplyBuf, name: &str, v: f32| {
        out.bulk(name.as_bytes());
        out.double(v as f64);
    };
    double(out, "dataset.percentage", o.dataset_perc);
    double(out, "peak.percentage", o.peak_perc);
    for (name, v) in [
        ("allocator.allocated", o.allocator_allocated),
        ("allocator.active", o.allocator_active),
        ("allocator.resident", o.allocator_resident),
    ] {
        out.bulk(name.as_bytes());
        out.int(v as i64);
    }
    for (ratio_name, bytes_name, (ratio, bytes)) in [
        ("allocator-fragmentation.ratio", "allocator-fragmentation.bytes", o.allocator_frag()),
        ("allocator-rss.ratio", "allocator-rss.bytes", o.allocator_rss()),
        ("rss-overhead.ratio", "rss-overhead.bytes", o.rss_extra()),
        ("fragmentation", "fragmentation.bytes", o.total_frag()),
    ] {
        double(out, ratio_name, ratio);
        out.bulk(bytes_name.as_bytes());
        out.int(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overview(total: u64, peak: u64, rss: u64) -> Overview {
        Overview {
            peak,
            total,
            startup: (1 << 20).min(total),
            lua_caches: 0,
            dbs: vec![(0, 10)],
            overhead_total: 1 << 20,
            keys: 10,
            bytes_per_key: 0,
            dataset: total - (1 << 20),
            dataset_perc: 0.0,
            peak_perc: 0.0,
            allocator_allocated: total,
            allocator_active: total,
            allocator_resident: rss,
            rss,
            not_data: 0,
        }
    }

    #[test]
    fn doctor_reports_as_redis() {
        assert!(doctor_report(&overview(1 << 20, 1 << 20, 1 << 20), 0).starts_with("Hi Sam, this instance is empty"));
        // Under 5 MB above the start-up memory is still empty.
        assert!(doctor_report(&overview(5 << 20, 5 << 20, 40 << 20), 0).starts_with("Hi Sam, this instance is empty"));
        let healthy = overview(64 << 20, 64 << 20, 66 << 20);
        assert!(doctor_report(&healthy, 0).starts_with("Hi Sam, I can't find any memory issue"));
        let peaked = doctor_report(&overview(64 << 20, 128 << 20, 66 << 20), 0);
        assert!(peaked.starts_with("Sam, I detected a few issues"));
        assert!(peaked.contains(" * Peak memory:") && !peaked.contains("High total RSS"));
        assert!(peaked.ends_with("I'm here to keep you safe, Sam. I want to help you.\n"));
        let fragmented = doctor_report(&overview(64 << 20, 64 << 20, 128 << 20), 2000);
        assert!(fragmented.contains("High total RSS") && fragmented.contains("Many scripts"));
        assert!(fragmented.contains("High allocator RSS overhead"));
    }
}
