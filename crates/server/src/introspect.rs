//! Introspection of executed commands: SLOWLOG, LATENCY and MONITOR, after Redis 7.0.15's
//! `slowlog.c`, `latency.c` and `replicationFeedMonitors` (replies and texts byte for byte).
//!
//! Owns: the slow log, the latency event series, the list of MONITOR clients, and the one
//! number each worker compares a command's duration with ([`floor_us`]): the smallest duration
//! anything here wants to hear about, `u64::MAX` when nothing does. A worker calls
//! [`Env::introspect_command`] only when a command took at least that long, so while the slow log
//! is disabled or far above the command's duration, latency monitoring is off and no client
//! monitors, a command costs one comparison here: no lock, no clock read, no allocation.
//! MONITOR starting or ending bumps `Shared::config_epoch`, which makes every worker re-read
//! the floor before its next batch.
//!
//! Never: writes to another worker's connection (monitor lines travel through the pub/sub
//! outbox as [`Delivery`]s, written by the monitor's own worker), holds one of its locks while
//! taking a slot lock, or keeps argument bytes beyond Redis's trimming limits.

use crate::pubsub::{Delivery, SubKind};
use crate::shared::Shared;
use crate::worker::{Conn, Env};
use commands::args::{eq_ic, parse_i64};
use commands::{flag, Entry};
use indexmap::IndexMap;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;

/// Arguments kept per slow log entry (`SLOWLOG_ENTRY_MAX_ARGC`).
const SLOWLOG_MAX_ARGC: usize = 32;
/// Bytes kept per argument (`SLOWLOG_ENTRY_MAX_STRING`).
const SLOWLOG_MAX_STRING: usize = 128;
/// Samples kept per latency event (`LATENCY_TS_LEN`).
const LATENCY_TS_LEN: usize = 160;
const REDACTED: &[u8] = b"(redacted)";

const SLOWLOG_HELP: &[&str] = &[
    "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET [<count>]",
    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
    "    Entries are made of:",
    "    id, timestamp, time in microseconds, arguments array, client IP and port,",
    "    client name",
    "LEN",
    "    Return the length of the slowlog.",
    "RESET",
    "    Reset the slowlog.",
    "HELP",
    "    Prints this help.",
];

const LATENCY_HELP: &[&str] = &[
    "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return a human readable latency analysis report.",
    "GRAPH <event>",
    "    Return an ASCII latency graph for the <event> class.",
    "HISTORY <event>",
    "    Return time-latency samples for the <event> class.",
    "LATEST",
    "    Return the latest latency samples for all events.",
    "RESET [<event> ...]",
    "    Reset latency data of one or more <event> classes.",
    "    (default: reset all data for all event classes)",
    "HISTOGRAM [COMMAND ...]",
    "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
    "    If no commands are specified then all histograms are replied.",
    "HELP",
    "    Prints this help.",
];

/// One slow log entry, its arguments already trimmed and redacted.
struct SlowEntry {
    id: i64,
    time_s: i64,
    duration_us: i64,
    argv: Vec<Vec<u8>>,
    peer: String,
    name: Vec<u8>,
}

#[derive(Default)]
struct Slowlog {
    /// Newest first.
    entries: VecDeque<SlowEntry>,
    next_id: i64,
}

#[derive(Clone, Copy, Default)]
struct Sample {
    time_s: i64,
    latency_ms: u64,
}

/// One event's ring of samples (`latencyTimeSeries`).
struct Series {
    idx: usize,
    max: u64,
    samples: [Sample; LATENCY_TS_LEN],
}

/// Everything this module keeps, one per server (`Shared::introspect`).
pub struct State {
    slowlog: Mutex<Slowlog>,
    latency: Mutex<IndexMap<String, Series>>,
    /// MONITOR clients as (client id, worker), in the order they started.
    monitors: Mutex<Vec<(u64, usize)>>,
    monitor_count: AtomicUsize,
    /// `slowlog-log-slower-than` (µs, negative: off), `slowlog-max-len`,
    /// `latency-monitor-threshold` (ms, 0: off); copied from the config by [`refresh`].
    slower_than_us: AtomicI64,
    max_len: AtomicI64,
    latency_ms: AtomicI64,
}

impl Default for State {
    fn default() -> State {
        State {
            slowlog: Mutex::new(Slowlog::default()),
            latency: Mutex::new(IndexMap::new()),
            monitors: Mutex::new(Vec::new()),
            monitor_count: AtomicUsize::new(0),
            slower_than_us: AtomicI64::new(10_000),
            max_len: AtomicI64::new(128),
            latency_ms: AtomicI64::new(0),
        }
    }
}

/// Copies the directives this module follows out of the config; called whenever the config
/// changes (start-up, CONFIG SET).
pub fn refresh(shared: &Shared) {
    let cfg = shared.config.read();
    let num = |name: &str, default: i64| cfg.get(name).and_then(|v| v.parse::<i64>().ok()).unwrap_or(default);
    let s = &shared.introspect;
    s.slower_than_us.store(num("slowlog-log-slower-than", 10_000), Ordering::Relaxed);
    s.max_len.store(num("slowlog-max-len", 128), Ordering::Relaxed);
    s.latency_ms.store(num("latency-monitor-threshold", 0), Ordering::Relaxed);
}

/// The shortest command duration (µs) anything here wants to see; `u64::MAX` for none.
pub fn floor_us(shared: &Shared) -> u64 {
    let s = &shared.introspect;
    if s.monitor_count.load(Ordering::Acquire) > 0 {
        return 0;
    }
    let mut floor = u64::MAX;
    let slower = s.slower_than_us.load(Ordering::Relaxed);
    if slower >= 0 {
        floor = slower as u64;
    }
    let latency = s.latency_ms.load(Ordering::Relaxed);
    if latency > 0 {
        floor = floor.min((latency as u64).saturating_mul(1000));
    }
    floor
}

/// Unix time in seconds and microseconds.
fn wall_us() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64)
}

/// Which arguments Redis replaces by "(redacted)" before logging a command (the commands that
/// call `redactClientCommandArgument`).
fn redacted_positions(name: &str, args: &[&[u8]]) -> Vec<usize> {
    match name {
        "auth" => (1..args.len()).collect(),
        "hello" => {
            let mut out = Vec::new();
            let mut j = 2;
            while j < args.len() {
                let more = args.len() - 1 - j;
                if eq_ic(args[j], "auth") && more >= 2 {
                    out.extend([j + 1, j + 2]);
                    j += 2;
                } else if eq_ic(args[j], "setname") && more >= 1 {
                    j += 1;
                } else {
                    break;
                }
                j += 1;
            }
            out
        }
        "migrate" => {
            let mut out = Vec::new();
            let mut j = 6;
            while j < args.len() {
                let more = args.len() - 1 - j;
                if eq_ic(args[j], "auth") && more >= 1 {
                    out.push(j + 1);
                    j += 1;
                } else if eq_ic(args[j], "auth2") && more >= 2 {
                    out.extend([j + 1, j + 2]);
                    j += 2;
                } else if eq_ic(args[j], "keys") {
                    break;
                }
                j += 1;
            }
            out
        }
        "config|set" => (2..args.len())
            .step_by(2)
            .filter(|&i| i + 1 < args.len() && crate::config::Config::is_sensitive(args[i]))
            .map(|i| i + 1)
            .collect(),
        "acl|setuser" => (2..args.len()).collect(),
        _ => Vec::new(),
    }
}

/// Redis's `sdscatrepr` (`resp::repr`) appended to a `String`: the quoted form is ASCII.
pub fn repr(out: &mut String, bytes: &[u8]) {
    let mut quoted = Vec::with_capacity(bytes.len() + 2);
    resp::repr(&mut quoted, bytes);
    out.push_str(&String::from_utf8_lossy(&quoted));
}

/// The MONITOR line for a command (`replicationFeedMonitors`), with its `+` and CRLF.
pub fn monitor_line(time_us: i64, db: u32, client: &str, args: &[&[u8]], redacted: &[usize]) -> String {
    let mut line = format!("+{}.{:06} [{} {}] ", time_us / 1_000_000, time_us % 1_000_000, db, client);
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            line.push(' ');
        }
        repr(&mut line, if redacted.contains(&i) { REDACTED } else { a });
    }
    line.push_str("\r\n");
    line
}

/// A slow log entry's arguments, trimmed as `slowlogCreateEntry` trims them.
fn trimmed_argv(args: &[&[u8]], redacted: &[usize]) -> Vec<Vec<u8>> {
    let kept = args.len().min(SLOWLOG_MAX_ARGC);
    (0..kept)
        .map(|j| {
            if kept != args.len() && j == kept - 1 {
                format!("... ({} more arguments)", args.len() - kept + 1).into_bytes()
            } else if redacted.contains(&j) {
                REDACTED.to_vec()
            } else if args[j].len() > SLOWLOG_MAX_STRING {
                let mut s = args[j][..SLOWLOG_MAX_STRING].to_vec();
                s.extend_from_slice(format!("... ({} more bytes)", args[j].len() - SLOWLOG_MAX_STRING).as_bytes());
                s
            } else {
                args[j].to_vec()
            }
        })
        .collect()
}

/// Records one latency sample (`latencyAddSample`): one sample per second per event, the
/// highest of that second.
pub fn add_latency_sample(shared: &Shared, event: &str, latency_ms: u64) {
    let now_s = wall_us() / 1_000_000;
    let mut events = shared.introspect.latency.lock();
    let ts = events.entry(event.to_string()).or_insert_with(|| Series {
        idx: 0,
        max: 0,
        samples: [Sample::default(); LATENCY_TS_LEN],
    });
    ts.max = ts.max.max(latency_ms);
    let prev = (ts.idx + LATENCY_TS_LEN - 1) % LATENCY_TS_LEN;
    if ts.samples[prev].time_s == now_s {
        ts.samples[prev].latency_ms = ts.samples[prev].latency_ms.max(latency_ms);
        return;
    }
    ts.samples[ts.idx] = Sample { time_s: now_s, latency_ms };
    ts.idx = (ts.idx + 1) % LATENCY_TS_LEN;
}

/// `latencyAddSampleIfNeeded`: records `latency_ms` under `event` if monitoring is on and the
/// latency reaches the threshold. For events measured outside command execution.
pub fn latency_event_if_needed(shared: &Shared, event: &str, latency_ms: u64) {
    let threshold = shared.introspect.latency_ms.load(Ordering::Relaxed);
    if threshold > 0 && latency_ms >= threshold as u64 {
        add_latency_sample(shared, event, latency_ms);
    }
}

/// Takes a client out of the MONITOR list (connection closed, RESET). Cheap when nobody
/// monitors.
pub fn monitor_stop(shared: &Shared, client_id: u64) {
    let s = &shared.introspect;
    if s.monitor_count.load(Ordering::Acquire) == 0 {
        return;
    }
    let mut list = s.monitors.lock();
    let before = list.len();
    list.retain(|&(id, _)| id != client_id);
    if list.len() != before {
        s.monitor_count.store(list.len(), Ordering::Release);
        shared.config_epoch.fetch_add(1, Ordering::Release);
    }
}

impl Env {
    /// Called after a command that took at least `floor_us` (see the module doc): slow log,
    /// latency events and MONITOR lines, each as far as it is switched on.
    pub fn introspect_command(&mut self, c: &Conn, entry: &Entry, args: &[&[u8]], duration_us: u64) {
        let shared = self.shared;
        let s = &shared.introspect;
        let name = entry.meta.name.as_str();
        let latency = s.latency_ms.load(Ordering::Relaxed);
        if latency > 0 && duration_us / 1000 >= latency as u64 {
            let event = if entry.meta.has(flag::FAST) { "fast-command" } else { "command" };
            add_latency_sample(shared, event, duration_us / 1000);
        }
        let slower = s.slower_than_us.load(Ordering::Relaxed);
        let slowlog =
            slower >= 0 && duration_us >= slower as u64 && !entry.meta.has(flag::SKIP_SLOWLOG) && c.blocked.is_none();
        let monitor = s.monitor_count.load(Ordering::Acquire) > 0 && !entry.meta.has(flag::SKIP_MONITOR | flag::ADMIN);
        if !slowlog && !monitor {
            return;
        }
        let redacted = redacted_positions(name, args);
        if slowlog {
            slowlog_push(shared, c, args, &redacted, duration_us);
        }
        if monitor {
            self.feed_monitors(c, args, &redacted);
        }
    }

    /// A blocked command was served (or timed out, or was unblocked): its slow-log entry, with
    /// the time it ran for, not the time it waited (Redis's updateStatsOnUnblock, which does
    /// not feed MONITOR again: that happened when the command first ran).
    pub fn slowlog_unblocked(&self, c: &Conn, entry: &Entry, args: &[&[u8]], duration_us: u64) {
        let slower = self.shared.introspect.slower_than_us.load(Ordering::Relaxed);
        if slower >= 0 && duration_us >= slower as u64 && !entry.meta.has(flag::SKIP_SLOWLOG) {
            let redacted = redacted_positions(entry.meta.name.as_str(), args);
            slowlog_push(self.shared, c, args, &redacted, duration_us);
        }
    }

    /// Sends the line of `args`, run by `c`, to every MONITOR client (EVAL feeds its own line
    /// before its script's commands, as Redis's evalCommand does).
    pub fn feed_monitors(&mut self, c: &Conn, args: &[&[u8]], redacted: &[usize]) {
        let shared = self.shared;
        let s = &shared.introspect;
        if s.monitor_count.load(Ordering::Acquire) == 0 {
            return;
        }
        {
            let client = if c.info.unix {
                format!("unix:{}", shared.config.read().get("unixsocket").unwrap_or_default())
            } else {
                c.info.addr.clone()
            };
            let line: Arc<[u8]> = monitor_line(wall_us(), c.db, &client, args, redacted).into_bytes().into();
            let empty: Arc<[u8]> = Arc::from(&b""[..]);
            let targets: Vec<(u64, usize)> = s.monitors.lock().clone();
            for (client_id, worker) in targets {
                let d = Delivery {
                    client_id,
                    kind: SubKind::Channel,
                    pattern: None,
                    channel: empty.clone(),
                    message: line.clone(),
                    monitor: true,
                    tracking: None,
                };
                self.queue_delivery(worker, d);
            }
        }
    }

    /// MONITOR: this client receives a line for every command run from now on.
    pub fn monitor_command(&mut self, c: &mut Conn) {
        if self.in_exec {
            c.out.error("ERR MONITOR isn't allowed for DENY BLOCKING client");
            return;
        }
        if c.info.monitor.swap(true, Ordering::AcqRel) {
            return;
        }
        let s = &self.shared.introspect;
        let mut list = s.monitors.lock();
        list.push((c.info.id, self.id));
        s.monitor_count.store(list.len(), Ordering::Release);
        drop(list);
        self.shared.config_epoch.fetch_add(1, Ordering::Release);
        c.out.ok();
    }

    /// SLOWLOG GET / LEN / RESET / HELP.
    pub fn slowlog_command(&mut self, c: &mut Conn, args: &[&[u8]]) {
        let s = &self.shared.introspect;
        let sub = args[1];
        if args.len() == 2 && eq_ic(sub, "help") {
            help(c, SLOWLOG_HELP);
        } else if args.len() == 2 && eq_ic(sub, "reset") {
            s.slowlog.lock().entries.clear();
            c.out.ok();
        } else if args.len() == 2 && eq_ic(sub, "len") {
            c.out.int(s.slowlog.lock().entries.len() as i64);
        } else if (args.len() == 2 || args.len() == 3) && eq_ic(sub, "get") {
            let log = s.slowlog.lock();
            let count = match args.get(2) {
                None => 10,
                Some(a) => match parse_i64(a) {
                    Some(-1) => log.entries.len(),
                    Some(n) if n >= 0 => n as usize,
                    _ => {
                        c.out.error("ERR count should be greater than or equal to -1");
                        return;
                    }
                },
            };
            let n = count.min(log.entries.len());
            c.out.array(n);
            for e in log.entries.iter().take(n) {
                c.out.array(6);
                c.out.int(e.id);
                c.out.int(e.time_s);
                c.out.int(e.duration_us);
                c.out.array(e.argv.len());
                for a in &e.argv {
                    c.out.bulk(a);
                }
                c.out.bulk(e.peer.as_bytes());
                c.out.bulk(&e.name);
            }
        } else {
            c.out.error(&subcommand_syntax_error(args));
        }
    }

    /// LATENCY LATEST / HISTORY / RESET / GRAPH / DOCTOR / HISTOGRAM / HELP.
    pub fn latency_command(&mut self, c: &mut Conn, args: &[&[u8]]) {
        let shared = self.shared;
        let s = &shared.introspect;
        let sub = args[1];
        let event = args.get(2).map(|e| String::from_utf8_lossy(e).into_owned());
        if eq_ic(sub, "history") && args.len() == 3 {
            let events = s.latency.lock();
            match events.get(event.as_deref().unwrap_or_default()) {
                None => c.out.array(0),
                Some(ts) => {
                    let samples: Vec<Sample> = ring(ts).collect();
                    c.out.array(samples.len());
                    for sm in samples {
                        c.out.array(2);
                        c.out.int(sm.time_s);
                        c.out.int(sm.latency_ms as i64);
                    }
                }
            }
        } else if eq_ic(sub, "graph") && args.len() == 3 {
            let name = event.unwrap_or_default();
            let events = s.latency.lock();
            match events.get(&name) {
                None => c.out.error(&format!("ERR No samples available for event '{name}'")),
                Some(ts) => c.out.verbatim("txt", graph(&name, ts).as_bytes()),
            }
        } else if eq_ic(sub, "latest") && args.len() == 2 {
            let events = s.latency.lock();
            c.out.array(events.len());
            for (name, ts) in events.iter() {
                let last = ts.samples[(ts.idx + LATENCY_TS_LEN - 1) % LATENCY_TS_LEN];
                c.out.array(4);
                c.out.bulk(name.as_bytes());
                c.out.int(last.time_s);
                c.out.int(last.latency_ms as i64);
                c.out.int(ts.max as i64);
            }
        } else if eq_ic(sub, "doctor") && args.len() == 2 {
            let report = doctor(shared);
            c.out.verbatim("txt", report.as_bytes());
        } else if eq_ic(sub, "reset") {
            let mut events = s.latency.lock();
            if args.len() == 2 {
                let n = events.len();
                events.clear();
                c.out.int(n as i64);
            } else {
                let n = args[2..]
                    .iter()
                    .filter(|e| events.shift_remove(String::from_utf8_lossy(e).as_ref()).is_some())
                    .count();
                c.out.int(n as i64);
            }
        } else if eq_ic(sub, "histogram") {
            self.latency_histogram(c, args);
        } else if eq_ic(sub, "help") && args.len() == 2 {
            help(c, LATENCY_HELP);
        } else {
            c.out.error(&subcommand_syntax_error(args));
        }
    }

    /// LATENCY HISTOGRAM. Redis keeps an HDR histogram per command; redoxide keeps only the
    /// calls and total microseconds of COMMANDSTATS (recording every command's duration in a
    /// histogram would cost the hot path), so each command's histogram is one bucket: the
    /// power of two at or above its mean duration, holding all its calls.
    fn latency_histogram(&mut self, c: &mut Conn, args: &[&[u8]]) {
        let shared = self.shared;
        let registry = &shared.registry;
        let mut picked: Vec<&Entry> = Vec::new();
        let add_with_subs = |e: &'static Entry, picked: &mut Vec<&'static Entry>| {
            picked.push(e);
            picked.extend(e.subcommands());
        };
        if args.len() == 2 {
            for e in registry.entries() {
                add_with_subs(e, &mut picked);
            }
        } else {
            for a in &args[2..] {
                let name = String::from_utf8_lossy(a).to_ascii_lowercase();
                let found = match name.split_once('|') {
                    None => registry.get(name.as_bytes()),
                    Some((p, _)) => {
                        registry.get(p.as_bytes()).and_then(|e| e.subcommands().find(|s| s.meta.name == name))
                    }
                };
                if let Some(e) = found {
                    if name.contains('|') {
                        picked.push(e);
                    } else {
                        add_with_subs(e, &mut picked);
                    }
                }
            }
        }
        let workers = shared.workers();
        let with_data: Vec<(&str, u64, u64)> = picked
            .iter()
            .filter_map(|e| {
                let (mut calls, mut usec) = (0u64, 0u64);
                for w in workers {
                    if let Some(ctr) = w.stats.per_command.get(e.id as usize) {
                        calls += ctr.calls.get();
                        usec += ctr.usec.get();
                    }
                }
                (calls > 0).then_some((e.meta.name.as_str(), calls, usec))
            })
            .collect();
        c.out.map(with_data.len());
        for (name, calls, usec) in with_data {
            c.out.bulk(name.as_bytes());
            c.out.map(2);
            c.out.bulk(b"calls");
            c.out.int(calls as i64);
            c.out.bulk(b"histogram_usec");
            c.out.map(1);
            c.out.int((usec / calls).max(1).next_power_of_two() as i64);
            c.out.int(calls as i64);
        }
    }
}

/// A series' samples, oldest first, skipping empty slots.
fn ring(ts: &Series) -> impl Iterator<Item = Sample> + '_ {
    (0..LATENCY_TS_LEN).map(move |j| ts.samples[(ts.idx + j) % LATENCY_TS_LEN]).filter(|s| s.time_s != 0)
}

/// LATENCY GRAPH's header (`latencyCommandGenSparkeline`) over a plain column chart of the
/// samples (Redis's sparkline renderer is not reproduced).
fn graph(event: &str, ts: &Series) -> String {
    let samples: Vec<Sample> = ring(ts).collect();
    let max = samples.iter().map(|s| s.latency_ms).max().unwrap_or(0);
    let min = samples.iter().map(|s| s.latency_ms).min().unwrap_or(0);
    let mut out = format!("{event} - high {max} ms, low {min} ms (all time high {} ms)\n", ts.max);
    out.push_str(&"-".repeat(80));
    out.push('\n');
    let now_s = wall_us() / 1_000_000;
    for s in samples.iter().rev().take(80).rev() {
        let elapsed = now_s - s.time_s;
        let label = match elapsed {
            e if e < 60 => format!("{e}s"),
            e if e < 3600 => format!("{}m", e / 60),
            e if e < 86400 => format!("{}h", e / 3600),
            e => format!("{}d", e / 86400),
        };
        let bar = if max == 0 { 0 } else { (s.latency_ms * 40).div_ceil(max) as usize };
        out.push_str(&format!("{:>4} {} {}\n", label, "#".repeat(bar), s.latency_ms));
    }
    out
}

/// LATENCY DOCTOR: Redis's opening sentences and per-event statistics line.
fn doctor(shared: &Shared) -> String {
    let s = &shared.introspect;
    let events = s.latency.lock();
    if events.is_empty() && s.latency_ms.load(Ordering::Relaxed) == 0 {
        return "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n".to_string();
    }
    if events.is_empty() {
        return "Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sleep tonight.\n".to_string();
    }
    let mut out = String::from(
        "Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n",
    );
    for (n, (name, ts)) in events.iter().enumerate() {
        let samples: Vec<Sample> = ring(ts).collect();
        let count = samples.len().max(1) as u64;
        let avg = samples.iter().map(|s| s.latency_ms).sum::<u64>() / count;
        let mad = samples.iter().map(|s| s.latency_ms.abs_diff(avg)).sum::<u64>() / count;
        let period = match (samples.first(), samples.last()) {
            (Some(a), Some(b)) => (b.time_s - a.time_s) as f64,
            _ => 0.0,
        };
        out.push_str(&format!(
            "{}. {}: {} latency spikes (average {}ms, mean deviation {}ms, period {:.2} sec). Worst all time event {}ms.\n",
            n + 1,
            name,
            samples.len(),
            avg,
            mad,
            period / count as f64,
            ts.max
        ));
    }
    out.push_str("\nI have a few advices for you:\n\n- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.\n");
    out
}

fn help(c: &mut Conn, lines: &[&str]) {
    c.out.array(lines.len());
    for l in lines {
        c.out.simple(l);
    }
}

/// `addReplySubcommandSyntaxError`.
fn subcommand_syntax_error(args: &[&[u8]]) -> String {
    let cmd = String::from_utf8_lossy(args[0]).to_ascii_uppercase();
    let sub: String = String::from_utf8_lossy(args[1]).chars().take(128).collect();
    format!("ERR unknown subcommand or wrong number of arguments for '{sub}'. Try {cmd} HELP.")
}

/// Adds `args`, run by `c` for `duration_us`, to the slow log (trimmed and redacted as Redis's
/// slowlogCreateEntry), dropping the oldest entry past `slowlog-max-len`.
fn slowlog_push(shared: &Shared, c: &Conn, args: &[&[u8]], redacted: &[usize], duration_us: u64) {
    let s = &shared.introspect;
    let entry = SlowEntry {
        id: 0,
        time_s: wall_us() / 1_000_000,
        duration_us: duration_us as i64,
        argv: trimmed_argv(args, redacted),
        peer: c.info.addr.clone(),
        name: c.info.name.lock().clone().unwrap_or_default(),
    };
    let max_len = s.max_len.load(Ordering::Relaxed).max(0) as usize;
    let mut log = s.slowlog.lock();
    let id = log.next_id;
    log.next_id += 1;
    log.entries.push_front(SlowEntry { id, ..entry });
    log.entries.truncate(max_len);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repr_escapes_as_sdscatrepr() {
        let mut s = String::new();
        repr(&mut s, b"a\"b\\\n\r\t\x07\x08\x00\xff ~");
        assert_eq!(s, r#""a\"b\\\n\r\t\a\b\x00\xff ~""#);
    }

    #[test]
    fn monitor_line_format() {
        let line = monitor_line(1_339_518_083_107_412, 0, "127.0.0.1:60866", &[b"keys", b"*"], &[]);
        assert_eq!(line, "+1339518083.107412 [0 127.0.0.1:60866] \"keys\" \"*\"\r\n");
        let line = monitor_line(5_000_001, 3, "x:1", &[b"auth", b"pw"], &[1]);
        assert_eq!(line, "+5.000001 [3 x:1] \"auth\" \"(redacted)\"\r\n");
    }

    #[test]
    fn slowlog_trims_arguments_and_strings() {
        let many: Vec<Vec<u8>> = (0..35).map(|i| i.to_string().into_bytes()).collect();
        let args: Vec<&[u8]> = many.iter().map(|a| a.as_slice()).collect();
        let t = trimmed_argv(&args, &[]);
        assert_eq!(t.len(), 32);
        assert_eq!(t[30], b"30");
        assert_eq!(t[31], b"... (4 more arguments)");
        let long = vec![b'A'; 129];
        let t = trimmed_argv(&[b"set", b"k", &long], &[]);
        assert_eq!(t[2].len(), 128 + "... (1 more bytes)".len());
        assert!(t[2].ends_with(b"A... (1 more bytes)"));
    }

    #[test]
    fn redaction_positions() {
        assert_eq!(redacted_positions("auth", &[b"auth", b"u", b"p"]), vec![1, 2]);
        assert_eq!(redacted_positions("hello", &[b"hello", b"2", b"AUTH", b"u", b"p"]), vec![3, 4]);
        let m: Vec<&[u8]> = vec![b"migrate", b"h", b"1", b"k", b"9", b"5000", b"AUTH2", b"u", b"p"];
        assert_eq!(redacted_positions("migrate", &m), vec![7, 8]);
        let m: Vec<&[u8]> = vec![b"migrate", b"h", b"1", b"k", b"9", b"5000", b"AUTH", b"u"];
        assert_eq!(redacted_positions("migrate", &m), vec![7]);
        assert_eq!(redacted_positions("config|set", &[b"config", b"set", b"masterauth", b"x"]), vec![3]);
        assert!(redacted_positions("config|set", &[b"config", b"set", b"maxmemory", b"1"]).is_empty());
    }
}
