//! The software watchdog (`watchdog-period`, a hidden config): a warning in the log when the
//! server is stuck for longer than the period, as Redis 7.0.15's (debug.c, "Software Watchdog").
//!
//! Redis arms a one-shot SIGALRM at every serverCron; if its one thread does not get back to
//! the cron within the period (a slow command, DEBUG SLEEP, a load) the signal fires once and its
//! handler logs `--- WATCHDOG TIMER EXPIRED ---` with the main thread's stack. Here the server is
//! several threads, so "stuck" is judged per place where Redis's thread would be:
//! - a worker that has not come back to its event loop within the period (every loop iteration
//!   stamps its heartbeat; an idle worker still iterates every `1000/hz` ms, its poll timeout, so
//!   a stale heartbeat means a command, script or DEBUG SLEEP is holding it);
//! - a load of the dataset (start-up, or a replica's full sync) lasting longer than the period:
//!   Redis loads on its main thread, without the cron, and the suite relies on the watchdog
//!   firing during a replica's diskless load.
//!
//! Each stall is reported once, as Redis's timer does not re-arm itself. No signal is sent
//! (rejected: interrupting a worker to print its stack, which would need an async-signal-safe
//! logger and would make every blocking call of that thread see EINTR), so instead of a stack
//! trace the report names what was stuck and for how long.

use crate::shared::Shared;
use crate::warning;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

/// One worker's last event-loop iteration (ms since the epoch), on a cache line of its own:
/// every worker writes its own once per iteration.
#[repr(align(64))]
struct Heartbeat(AtomicI64);

static HEARTBEATS: OnceLock<Box<[Heartbeat]>> = OnceLock::new();

/// Stamps worker `id`'s heartbeat (called once per event-loop iteration).
#[inline]
pub fn heartbeat(id: usize, now_ms: i64) {
    if let Some(h) = HEARTBEATS.get().and_then(|b| b.get(id)) {
        h.0.store(now_ms, Ordering::Relaxed);
    }
}

/// Starts the watchdog thread for `workers` workers.
pub fn start(shared: &'static Shared, workers: usize) {
    let now = crate::shared::now_ms();
    let beats: Box<[Heartbeat]> = (0..workers).map(|_| Heartbeat(AtomicI64::new(now))).collect();
    if HEARTBEATS.set(beats).is_err() {
        return;
    }
    let spawned = std::thread::Builder::new().name("watchdog".into()).spawn(move || run(shared));
    if let Err(e) = spawned {
        warning!("Can't start the watchdog thread: {e}");
    }
}

/// The effective period: Redis raises one shorter than two cron periods to that, since its
/// timer is re-armed only by the cron.
fn effective_period_ms(period_ms: i64, hz: u32) -> i64 {
    if period_ms <= 0 {
        return 0;
    }
    period_ms.max(2 * (1000 / hz.max(1) as i64))
}

/// What the watchdog tracks between two looks: per worker, the heartbeat already reported
/// (so one stall gives one report), and since when a load has been seen.
struct State {
    reported: Vec<i64>,
    loading_since: Option<i64>,
    loading_reported: bool,
}

impl State {
    /// The reports due at `now`: which place, and for how long it has been stuck.
    fn check(&mut self, now: i64, period: i64, beats: &[i64], loading: bool) -> Vec<(String, i64)> {
        let mut due = Vec::new();
        self.reported.resize(beats.len(), 0);
        for (i, &beat) in beats.iter().enumerate() {
            if now - beat > period && self.reported[i] != beat {
                self.reported[i] = beat;
                due.push((format!("worker {i} has not returned to its event loop"), now - beat));
            }
        }
        match (loading, self.loading_since) {
            (false, _) => {
                self.loading_since = None;
                self.loading_reported = false;
            }
            (true, None) => self.loading_since = Some(now),
            (true, Some(since)) => {
                if now - since > period && !self.loading_reported {
                    self.loading_reported = true;
                    due.push(("the dataset has been loading".to_string(), now - since));
                }
            }
        }
        due
    }
}

fn run(shared: &'static Shared) {
    let mut state = State { reported: Vec::new(), loading_since: None, loading_reported: false };
    while !shared.shutdown.load(Ordering::Relaxed) {
        let (period, hz) = {
            let cfg = shared.config.read();
            (cfg.get_i64("watchdog-period").unwrap_or(0), cfg.hz())
        };
        let period = effective_period_ms(period, hz);
        if period == 0 {
            // Disabled: forget any stall in progress, as Redis's SIG_IGN drops a pending alarm.
            state = State { reported: Vec::new(), loading_since: None, loading_reported: false };
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        // A look every tenth of the period (at least every 10 ms) reports a stall at most 10 %
        // late.
        std::thread::sleep(Duration::from_millis((period / 10).clamp(10, 100) as u64));
        let now = crate::shared::now_ms();
        let beats: Vec<i64> =
            HEARTBEATS.get().map(|b| b.iter().map(|h| h.0.load(Ordering::Relaxed)).collect()).unwrap_or_default();
        for (what, ms) in state.check(now, period, &beats, crate::replication::loading()) {
            warning!("\n--- WATCHDOG TIMER EXPIRED ---");
            warning!("{what} for {ms} ms (watchdog-period {period} ms); no stack trace: the watchdog does not interrupt threads");
            warning!("--------\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_period_is_at_least_two_cron_periods() {
        assert_eq!(effective_period_ms(0, 10), 0);
        assert_eq!(effective_period_ms(50, 10), 200);
        assert_eq!(effective_period_ms(300, 10), 300);
        assert_eq!(effective_period_ms(5, 500), 5);
    }

    #[test]
    fn a_stall_is_reported_once() {
        let mut s = State { reported: Vec::new(), loading_since: None, loading_reported: false };
        // Worker 0 iterates, worker 1 last iterated at 1000.
        assert!(s.check(1100, 200, &[1100, 1000], false).is_empty());
        let due = s.check(1250, 200, &[1250, 1000], false);
        assert_eq!(due.len(), 1);
        assert!(due[0].0.starts_with("worker 1 "));
        assert_eq!(due[0].1, 250);
        assert!(s.check(1500, 200, &[1500, 1000], false).is_empty(), "reported twice");
        // It came back, then stalled again: a new report.
        assert!(s.check(1600, 200, &[1600, 1550], false).is_empty());
        assert_eq!(s.check(1800, 200, &[1800, 1550], false).len(), 1);
    }

    #[test]
    fn a_load_longer_than_the_period_is_reported_once() {
        let mut s = State { reported: Vec::new(), loading_since: None, loading_reported: false };
        assert!(s.check(1000, 200, &[], true).is_empty());
        assert!(s.check(1150, 200, &[], true).is_empty());
        let due = s.check(1250, 200, &[], true);
        assert_eq!(due, vec![("the dataset has been loading".to_string(), 250)]);
        assert!(s.check(1400, 200, &[], true).is_empty());
        assert!(s.check(1450, 200, &[], false).is_empty());
        assert!(s.check(1500, 200, &[], true).is_empty());
        assert_eq!(s.check(1800, 200, &[], true).len(), 1);
    }
}
