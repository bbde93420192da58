//! Redis 7.0's shutdown sequence (server.c's `prepareForShutdown`, `isReadyToShutdown`,
//! `finishShutdown`, `abortShutdown`), owned here: SIGTERM and SIGINT only ask for a shutdown
//! ([`on_signal`]) and worker 0's cron starts it ([`cron`]), as Redis's serverCron does, so
//! DEBUG PAUSE-CRON holds it and SHUTDOWN ABORT can still cancel it. SHUTDOWN starts it at once
//! ([`prepare`]). A master whose replicas have not acknowledged the whole stream holds every
//! write and waits up to `shutdown-timeout` seconds for them (a graceful restart loses nothing a
//! replica was about to receive), blocking the SHUTDOWN callers; then the final steps run (a
//! running BGSAVE or AOF rewrite is stopped, the final RDB is saved) and the workers are told to
//! stop (`crate::request_shutdown`), after which the main thread fsyncs the AOF and exits.
//!
//! This module never ends the process itself, except on a second SIGINT ("You insist"), which
//! Redis also answers with an immediate exit. Rejected: running the sequence on the signal
//! thread (as before), which saved with the signal thread busy, so a second SIGINT went
//! unheard, and which neither waited for replicas nor could be aborted.

use crate::shared::Shared;
use crate::{notice, warning};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU64, AtomicUsize, Ordering};

/// SHUTDOWN's flags, with the bit values `shutdown-on-sigint` / `shutdown-on-sigterm` use.
pub const SAVE: i32 = 1;
pub const NOSAVE: i32 = 2;
pub const NOW: i32 = 4;
pub const FORCE: i32 = 8;

/// A signal asked for a shutdown the cron has not finished (Redis's `shutdown_asap`).
static ASAP: AtomicBool = AtomicBool::new(false);
/// The last such signal was SIGINT (else SIGTERM): which `shutdown-on-sig*` applies.
static LAST_SIGINT: AtomicBool = AtomicBool::new(false);
/// Unix ms at which a shutdown waiting for its replicas goes ahead anyway; 0 when none waits
/// (Redis's `shutdown_mstime`).
static DEADLINE_MS: AtomicI64 = AtomicI64::new(0);
/// The flags of the shutdown under way.
static FLAGS: AtomicI32 = AtomicI32::new(0);
/// Bumped by every cancelled shutdown: a client blocked in SHUTDOWN remembers the value it
/// blocked under and gets its error once it changes.
static CANCELS: AtomicU64 = AtomicU64::new(0);
/// Clients blocked in SHUTDOWN (INFO `blocked_clients` counts them, as Redis's BLOCKED_SHUTDOWN).
pub static BLOCKED: AtomicUsize = AtomicUsize::new(0);
/// Held while a thread starts or finishes a shutdown: the cron (worker 0) and SHUTDOWN on any
/// worker must not both run the final save.
static SEQUENCE: Mutex<()> = Mutex::new(());

/// The reply of every SHUTDOWN whose shutdown failed or was aborted.
pub const FAILED_REPLY: &str = "ERR Errors trying to SHUTDOWN. Check logs.";

/// What [`prepare`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything is saved: the process may end.
    Exit,
    /// Waiting for replicas (this call started the wait or one was under way): a SHUTDOWN
    /// caller blocks until the shutdown ends or is cancelled, that is until [`cancels`] is no
    /// longer the value carried here (read before anything could cancel it).
    Waiting(u64),
    /// A final step failed (logged) and the shutdown was cancelled.
    Failed,
}

/// SIGTERM / SIGINT (Redis's `sigShutdownHandler`), on the signal thread.
pub fn on_signal(shared: &Shared, sigint: bool) {
    if sigint && ASAP.load(Ordering::SeqCst) {
        // A second Ctrl+C: the user wants out now, without the save or the replicas.
        warning!("You insist... exiting now.");
        remove_own_temp_files(shared);
        std::process::exit(1);
    }
    if crate::replication::loading() {
        warning!("Received shutdown signal during loading, scheduling shutdown.");
    } else {
        warning!("Received {} scheduling shutdown...", if sigint { "SIGINT" } else { "SIGTERM" });
    }
    LAST_SIGINT.store(sigint, Ordering::SeqCst);
    ASAP.store(true, Ordering::SeqCst);
    if let Some(w) = shared.workers().first() {
        let _ = w.waker.wake();
    }
}

/// The temp file of a save this process runs in the foreground (Redis's `rdbRemoveTempFile`
/// for its own pid), and our BGSAVE's, which a process exit would otherwise leave behind.
fn remove_own_temp_files(shared: &Shared) {
    let path = shared.config.read().rdb_path();
    let dir = path.parent().map(|p| p.to_path_buf()).unwrap_or_default();
    let pid = std::process::id();
    for name in [format!("temp-{pid}.rdb"), format!("temp-bgsave-{pid}.rdb")] {
        let _ = std::fs::remove_file(dir.join(name));
    }
}

/// Worker 0's cron (Redis's serverCron): starts a shutdown a signal asked for, and finishes one
/// that waited for its replicas once they caught up or the timeout passed.
pub fn cron(shared: &Shared, now_ms: i64) {
    let deadline = DEADLINE_MS.load(Ordering::SeqCst);
    if deadline == 0 {
        if !ASAP.load(Ordering::SeqCst) {
            return;
        }
        let flags = shared.config.read().shutdown_on_signal(LAST_SIGINT.load(Ordering::SeqCst));
        if prepare(shared, flags, now_ms) == Outcome::Exit {
            crate::request_shutdown(shared);
        }
    } else if now_ms >= deadline || crate::replication::replicas_caught_up() {
        let Some(_sequence) = SEQUENCE.try_lock() else { return };
        if DEADLINE_MS.load(Ordering::SeqCst) != 0 && finish(shared) {
            crate::request_shutdown(shared);
        }
    }
}

/// Redis's `prepareForShutdown`: logs the request, and either starts waiting for lagging
/// replicas (writes held from now on) or finishes at once.
pub fn prepare(shared: &Shared, mut flags: i32, now_ms: i64) -> Outcome {
    let cancels_before = cancels();
    let Some(_sequence) = SEQUENCE.try_lock() else { return Outcome::Waiting(cancels_before) };
    if DEADLINE_MS.load(Ordering::SeqCst) != 0 {
        return Outcome::Waiting(cancels_before);
    }
    // Never save a dataset that is half loaded: it would replace the file with part of it.
    if crate::replication::loading() {
        flags = (flags & !SAVE) | NOSAVE;
    }
    FLAGS.store(flags, Ordering::SeqCst);
    warning!("User requested shutdown...");
    let timeout_s = shared.config.read().get_i64("shutdown-timeout").unwrap_or(10);
    if flags & NOW == 0 && timeout_s != 0 && !crate::replication::replicas_caught_up() {
        DEADLINE_MS.store(now_ms.saturating_add(timeout_s.saturating_mul(1000)), Ordering::SeqCst);
        crate::replication::request_acks();
        shared.shutdown_pause_until_ms.store(i64::MAX, Ordering::SeqCst);
        notice!("Waiting for replicas before shutting down.");
        return Outcome::Waiting(cancels_before);
    }
    if finish(shared) {
        Outcome::Exit
    } else {
        Outcome::Failed
    }
}

/// Redis's `finishShutdown`, with [`SEQUENCE`] held: reports the replicas, holds writes, stops
/// a running BGSAVE or AOF rewrite and saves the final RDB. False (logged, shutdown cancelled)
/// when that save fails or the AOF's first base is still being written, unless FORCE.
fn finish(shared: &Shared) -> bool {
    let flags = FLAGS.load(Ordering::SeqCst);
    crate::replication::log_replicas_at_shutdown();
    // From here no write starts, so the final RDB and the AOF's last fsync hold every write a
    // client was told succeeded. Rejected: saving while writes still ran on other workers,
    // which could acknowledge a write after the save and before they stopped.
    shared.shutdown_pause_until_ms.store(i64::MAX, Ordering::SeqCst);
    if !shared.wait_writes_drained(std::time::Duration::from_secs(5)) {
        warning!("A write was still running 5 s into the shutdown.");
    }
    if shared.persist.lock().saving {
        warning!("There is a child saving an .rdb. Killing it!");
        crate::persistence::kill_bgsave(shared);
    }
    if crate::aof::logging() && crate::aof::rewrite_in_progress() {
        if crate::aof::writing_first_base() {
            // The AOF was just turned on: until its first base exists, the data is nowhere.
            if flags & FORCE != 0 {
                warning!("Writing initial AOF. Exit anyway.");
            } else {
                warning!("Writing initial AOF, can't exit.");
                return failed(shared);
            }
        }
        warning!("There is a child rewriting the AOF. Killing it!");
        crate::aof::kill_rewrite();
    }
    let save_points = !shared.config.read().save_params().is_empty();
    if (save_points && flags & NOSAVE == 0) || flags & SAVE != 0 {
        notice!("Saving the final RDB snapshot before exiting.");
        if crate::persistence::save(shared).is_err() {
            if flags & FORCE != 0 {
                warning!("Error trying to save the DB. Exit anyway.");
            } else {
                warning!("Error trying to save the DB, can't exit.");
                return failed(shared);
            }
        }
    }
    true
}

fn failed(shared: &Shared) -> bool {
    warning!("Errors trying to shut down the server. Check the logs for more information.");
    cancel(shared);
    false
}

/// Redis's `cancelShutdown`: no shutdown is pending, writes flow again, and every client
/// blocked in SHUTDOWN gets [`FAILED_REPLY`].
fn cancel(shared: &Shared) {
    ASAP.store(false, Ordering::SeqCst);
    FLAGS.store(0, Ordering::SeqCst);
    DEADLINE_MS.store(0, Ordering::SeqCst);
    LAST_SIGINT.store(false, Ordering::SeqCst);
    CANCELS.fetch_add(1, Ordering::SeqCst);
    shared.shutdown_pause_until_ms.store(0, Ordering::SeqCst);
    for w in shared.workers() {
        let _ = w.waker.wake();
    }
}

/// SHUTDOWN ABORT (Redis's `abortShutdown`): cancels a shutdown that waits for its replicas, or
/// one a signal asked for that the cron has not started. False if there is none.
pub fn abort(shared: &Shared) -> bool {
    if DEADLINE_MS.load(Ordering::SeqCst) != 0 {
        cancel(shared);
    } else if ASAP.load(Ordering::SeqCst) {
        ASAP.store(false, Ordering::SeqCst);
    } else {
        return false;
    }
    notice!("Shutdown manually aborted.");
    true
}

/// How many shutdowns were cancelled so far: what a client blocking in SHUTDOWN remembers
/// ([`was_cancelled`]).
pub fn cancels() -> u64 {
    CANCELS.load(Ordering::SeqCst)
}

/// Whether the shutdown a client blocked in (at `cancels`) has been cancelled since.
pub fn was_cancelled(cancels_when_blocked: u64) -> bool {
    CANCELS.load(Ordering::SeqCst) != cancels_when_blocked
}

/// INFO's `shutdown_in_milliseconds`: time left before a waiting shutdown goes ahead anyway.
pub fn remaining_ms(now_ms: i64) -> Option<i64> {
    let deadline = DEADLINE_MS.load(Ordering::SeqCst);
    (deadline != 0).then(|| deadline - now_ms)
}
