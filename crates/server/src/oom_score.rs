//! `oom-score-adj`: the process's Linux OOM-killer score follows its role, as Redis's
//! `setOOMScoreAdj` sets it: `oom-score-adj-values` gives one value per class (master,
//! replica, background child), added to the score the process had before we first changed it
//! (`relative`, also spelled `yes`) or used as is (`absolute`), and clamped to -1000..1000.
//! Turning it off restores that earlier score. A replica gets the higher default (200) so the
//! kernel sacrifices it before its master. The background-child class has no process to apply
//! to here: our snapshots are threads of the server.
//!
//! Owns only /proc/self/oom_score_adj; it never reads or changes any other process's.

use crate::shared::Shared;
use crate::warning;
use parking_lot::Mutex;

const PROC_FILE: &str = "/proc/self/oom_score_adj";

/// The score before we first changed it, while we have changed it (Redis's
/// `oom_score_adj_base` and `oom_score_adjusted_by_redis`).
static BASE_SCORE: Mutex<Option<i64>> = Mutex::new(None);

/// The error CONFIG SET replies when the score cannot be written.
pub const APPLY_FAILED: &str = "Failed to set current oom_score_adj. Check server logs.";

/// Sets the score for the current role from `cfg`, or restores the earlier one when
/// `oom-score-adj` is off. Err (logged) if /proc cannot be read or written.
pub fn apply(cfg: &crate::config::Config, replica: bool) -> Result<(), ()> {
    let (mode, values) = cfg.oom_score_adj();
    let mut base = BASE_SCORE.lock();
    let score = if mode != 0 {
        let base_score = match *base {
            Some(b) => b,
            None => {
                let read = std::fs::read_to_string(PROC_FILE).map_err(|e| {
                    warning!("Unable to read oom_score_adj: {e}");
                })?;
                let b = read.trim().parse::<i64>().unwrap_or(0);
                *base = Some(b);
                b
            }
        };
        let class_value = values[usize::from(replica)];
        let score = if mode == 1 { class_value + base_score } else { class_value };
        score.clamp(-1000, 1000)
    } else if let Some(b) = base.take() {
        b
    } else {
        return Ok(());
    };
    std::fs::write(PROC_FILE, format!("{score}\n")).map_err(|e| {
        warning!("Unable to write oom_score_adj: {e}");
    })
}

/// [`apply`] with the live configuration and role: at start-up and whenever the role changes.
pub fn apply_current(shared: &Shared) {
    let _ = apply(&shared.config.read(), crate::replication::is_replica());
}
