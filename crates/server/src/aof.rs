//! The append-only file (Redis 7.0's multi-part AOF) on the server side: the propagation
//! stream every write feeds, its files on disk (manifest, base, incr files), fsync policies,
//! loading at start-up, BGREWRITEAOF, and turning the AOF on and off at run time.
//!
//! Ordering: a command's propagated form is appended to one shared log buffer while the
//! command's slot locks are still held, so two writes to one key reach the log in the order
//! they ran, whichever workers ran them. Rejected alternative: per-worker buffers merged
//! later, which would need a global sequence number per write to restore that order.
//!
//! Turning propagation on, and switching to a new incr file for a rewrite, happen under a
//! barrier that holds every slot lock of every database: no command is then between its
//! change and its append, so the switch point is exact. The rewrite's base is the forkless
//! snapshot (`persistence::SlotSnapshot`) started at that same barrier, so base + new incr
//! hold every write exactly once.
//!
//! Cost when the AOF is off: the dispatcher reads one atomic flag per command (`propagation`),
//! the write check one more (`write_refusal`) and the reply path one more (`before_reply`).
//! No lock, no allocation. This module never decides a command's propagated form (the
//! commands record it in `commands::Propagation`) and never parses file bytes itself (the
//! formats live in `persist::aof` and `persist::rdb`); its loader replays commands through
//! the command handlers, as Redis's fake AOF client does, never by logic of its own.

use crate::persistence::{self, SlotSnapshot, SnapshotKind};
use crate::shared::{now_ms, Shared};
use crate::{notice, warning};
use commands::{flag, key_positions, Ctx, DataConfig, Effects, Entry, Kind, Notification, Propagation};
use keyspace::{key_hash_slot, LockSet, Sds, SLOT_COUNT};
use parking_lot::Mutex;
use persist::aof::{
    base_name, encode_command, incr_name, manifest_name, parse_manifest, temp_manifest_name, CommandReader, FileKind,
    Manifest, ManifestEntry, StreamError,
};
use std::cell::{Cell, RefCell};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::sync::OnceLock;

/// `appendfsync`: when written bytes are forced to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fsync {
    /// Before any reply of the batch that wrote them leaves (group commit).
    Always = 0,
    /// By a background thread about once a second.
    EverySec = 1,
    /// When the kernel decides.
    No = 2,
}

impl Fsync {
    fn parse(s: &str) -> Fsync {
        match s {
            "always" => Fsync::Always,
            "no" => Fsync::No,
            _ => Fsync::EverySec,
        }
    }

    fn from_u8(v: u8) -> Fsync {
        match v {
            0 => Fsync::Always,
            2 => Fsync::No,
            _ => Fsync::EverySec,
        }
    }
}

/// The AOF of this process. One per process: the server has one keyspace.
pub struct Aof {
    /// Writes are propagated: the AOF logs them (`log_on`) or the replication stream takes
    /// them (`replication::feeding`). Written only under the all-slots barrier, read under a
    /// slot lock.
    on: AtomicBool,
    /// The AOF is on (or waits for its first rewrite): appended commands go to its log.
    log_on: AtomicBool,
    /// Logical offset of the end of the log: bytes ever appended.
    appended: AtomicU64,
    /// Logical offset up to which the log is written to the file (and, under `always`, fsynced).
    done: AtomicU64,
    /// The last write or fsync failed: writes are refused with -MISCONF until one succeeds.
    write_failed: AtomicBool,
    /// The last background fsync failed (also sets `write_failed`).
    fsync_failed: AtomicBool,
    fsync: AtomicU8,
    /// `no-appendfsync-on-rewrite`: no fsync while a rewrite runs.
    no_fsync_on_rewrite: AtomicBool,
    /// A rewrite is writing its base (read without the state lock by the fsync paths).
    rewriting: AtomicBool,
    /// `aof-timestamp-enabled`: `#TS:<unix seconds>` lines before the commands of a new second.
    timestamps: AtomicBool,
    /// DEBUG AOF-FLUSH-SLEEP: microseconds slept before each write of pending bytes (a test knob
    /// that widens the window between a reply and the write it waits for).
    flush_sleep_us: AtomicU64,
    /// The background thread is in an `everysec` fsync (Redis's aofFsyncInProgress).
    fsync_in_progress: AtomicBool,
    /// When writes began to wait for that fsync (ms; 0: none waits), Redis's
    /// `aof_flush_postponed_start`.
    flush_postponed_since_ms: AtomicI64,
    /// Writes that stopped waiting for a slow fsync after 2 s (INFO aof_delayed_fsync).
    delayed_fsync: AtomicU64,
    log: Mutex<Log>,
    io: Mutex<Io>,
    state: Mutex<State>,
}

/// `flush_postponed_since_ms` once writes waited 2 s for one fsync: they no longer wait for it.
const POSTPONEMENT_RAN_OUT: i64 = -1;

/// The largest log buffer kept for reuse after a flush (a burst's bigger one is freed).
const SPARE_MAX_BYTES: usize = 1 << 20;

/// Appended commands not yet handed to the file.
#[derive(Default)]
struct Log {
    buf: Vec<u8>,
    /// The database the last appended command ran in (a SELECT precedes a change of it).
    selected_db: Option<u32>,
    end: u64,
    /// The second of the last `#TS` annotation.
    last_ts_s: i64,
}

/// The files. Locked by whoever writes to them; never while a slot lock is wanted.
#[derive(Default)]
struct Io {
    dir: PathBuf,
    filename: String,
    manifest: Manifest,
    /// The last incr file, open for appending.
    file: Option<File>,
    /// Bytes in the open incr file.
    incr_size: u64,
    /// Bytes of the base and of the incr files before the open one.
    base_size: u64,
    earlier_incrs_size: u64,
    /// Written since the last fsync (everysec).
    unsynced: bool,
    /// The log's previous buffer, emptied, swapped in at the next flush so appends do not
    /// grow a new one from nothing every time (kept only up to `SPARE_MAX_BYTES`).
    spare: Vec<u8>,
    last_error: Option<String>,
}

/// What INFO persistence reports, and the rewrite's bookkeeping.
#[derive(Default)]
struct State {
    rewrite_in_progress: bool,
    rewrite_started_ms: i64,
    rewrite_scheduled: bool,
    /// The scheduled rewrite also turns the AOF on (CONFIG SET appendonly yes).
    scheduled_turn_on: bool,
    /// The running rewrite writes the first base of an AOF just turned on (Redis's
    /// AOF_WAIT_REWRITE): until it ends, the data before the switch is in no file.
    writing_first_base: bool,
    last_rewrite_secs: i64,
    last_rewrite_ok: bool,
    rewrites: u64,
    consecutive_failures: u64,
    /// aof_current_size when the last rewrite finished (auto-aof-rewrite-percentage's base).
    size_after_rewrite: u64,
    thread_started: bool,
    /// The running rewrite's snapshot, to cancel it (Redis kills its rewrite child).
    rewrite_snapshot: Option<Arc<SlotSnapshot>>,
}

static AOF: OnceLock<Aof> = OnceLock::new();

/// The process's AOF, created (off) on first use.
pub fn aof() -> &'static Aof {
    AOF.get_or_init(Aof::new)
}

impl Aof {
    fn new() -> Aof {
        Aof {
            on: AtomicBool::new(false),
            log_on: AtomicBool::new(false),
            appended: AtomicU64::new(0),
            done: AtomicU64::new(0),
            write_failed: AtomicBool::new(false),
            fsync_failed: AtomicBool::new(false),
            fsync: AtomicU8::new(Fsync::EverySec as u8),
            no_fsync_on_rewrite: AtomicBool::new(false),
            rewriting: AtomicBool::new(false),
            timestamps: AtomicBool::new(false),
            flush_sleep_us: AtomicU64::new(0),
            fsync_in_progress: AtomicBool::new(false),
            flush_postponed_since_ms: AtomicI64::new(0),
            delayed_fsync: AtomicU64::new(0),
            log: Mutex::new(Log::default()),
            io: Mutex::new(Io::default()),
            state: Mutex::new(State { last_rewrite_secs: -1, last_rewrite_ok: true, ..Default::default() }),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Feeding the log (called by the workers, with slot locks held)
// ---------------------------------------------------------------------------------------------

/// What the dispatcher puts in `Effects::propagation` before a handler runs, with the
/// command's slot locks held: `None` while nothing is propagated (one atomic load).
#[inline]
pub fn propagation() -> Option<Propagation> {
    match AOF.get() {
        Some(a) if a.on.load(Ordering::Relaxed) && !REPLAYING.with(Cell::get) => {
            // Lazy expiries must be logged as DELs from now on: a replay does not expire keys.
            keyspace::set_expired_log(true);
            // Keys still in the log were expired by a look-up outside any data command (DEBUG
            // OBJECT, FLUSHALL's WATCH check) whose database the log does not say. They are not
            // this command's: logging them in its database could delete a live key of that
            // database on replay, so they are dropped (the FLUSHALL that follows, or the
            // absolute expiry a replay keeps, stands for them).
            drop(keyspace::take_expired_log());
            Some(Propagation::default())
        }
        _ => None,
    }
}

/// Recomputes whether writes are propagated (AOF log or replication stream). Call it under the
/// all-slots barrier ([`with_all_slots_locked`]) after changing either, so the switch point is
/// exact.
pub(crate) fn refresh_on() {
    let a = aof();
    let on = a.log_on.load(Ordering::Relaxed) || crate::replication::feeding();
    a.on.store(on, Ordering::Relaxed);
}

/// True while the AOF is on (its log takes the propagated commands).
pub fn logging() -> bool {
    AOF.get().is_some_and(|a| a.log_on.load(Ordering::Relaxed))
}

/// True while a rewrite writes its base (BGSAVE waits: they share the keyspace's snapshot).
pub fn rewrite_in_progress() -> bool {
    AOF.get().is_some_and(|a| a.rewriting.load(Ordering::Relaxed))
}

/// True while the running rewrite writes the first base of an AOF just turned on (shutdown must
/// not exit then, as Redis's AOF_WAIT_REWRITE).
pub fn writing_first_base() -> bool {
    AOF.get().is_some_and(|a| a.state.lock().writing_first_base)
}

/// Stops a running rewrite and waits for its thread (Redis's `killAppendOnlyChild`): the
/// manifest already lists the incr file opened at its start, so old base + every incr still
/// hold the whole dataset.
pub fn kill_rewrite() {
    let Some(a) = AOF.get() else { return };
    if let Some(snapshot) = a.state.lock().rewrite_snapshot.clone() {
        snapshot.cancel();
    }
    wait_rewrite_done();
}

/// True while writes are propagated (never on a thread replaying the AOF).
pub fn enabled() -> bool {
    AOF.get().is_some_and(|a| a.on.load(Ordering::Relaxed)) && !REPLAYING.with(Cell::get)
}

/// The commands of one call, in order, each with its database.
type Ops = Vec<(u32, Vec<Vec<u8>>)>;

thread_local! {
    /// The commands of the transaction this thread is running (EXEC), appended as one unit
    /// when it ends.
    static TX_OPS: RefCell<Option<Ops>> = const { RefCell::new(None) };
    /// Set while this thread replays AOF files (`Replaying`): what the replayed commands and
    /// scripts change is not propagated again, as Redis's alsoPropagate does nothing while
    /// `server.loading`. DEBUG LOADAOF replays with the AOF on, and would otherwise append
    /// every script's writes to the very file being read.
    static REPLAYING: Cell<bool> = const { Cell::new(false) };
}

/// After a handler ran with propagation on (its slot locks still held): turns the keys it
/// expired and what it changed into propagated commands and appends them, or keeps them for
/// the end of the transaction. Keyspace events for the expired keys are inserted at
/// `notes_at` in `effects.notifications` when their class is on (this takes the expiry log
/// the worker would otherwise read). `dirty_before` is `effects.dirty` before the handler.
pub fn feed_command(
    effects: &mut Effects,
    config: &DataConfig,
    entry: &Entry,
    args: &[&[u8]],
    db: u32,
    dirty_before: u64,
    notes_at: usize,
) {
    let Some(p) = effects.propagation.take() else { return };
    let mut ops: Ops = Vec::new();
    let expired = keyspace::take_expired_log();
    if !expired.is_empty() {
        // A command that reaches into another database (MOVE, COPY ... DB) may have expired
        // a key there; the log does not say where, so such expiries are not propagated. That
        // is safe: times are absolute, so a replay finds the same keys expired.
        let cross_db = matches!(entry.meta.name.as_str(), "move" | "copy" | "swapdb");
        if !cross_db {
            for k in &expired {
                ops.push((db, del_argv(k.as_bytes(), config.lazyfree_lazy_expire)));
            }
        }
        if config.notify_keyspace_events & commands::notify::NOTIFY_EXPIRED != 0 {
            let at = notes_at.min(effects.notifications.len());
            let notes = expired.into_iter().map(|key| Notification { db, event: "expired", key });
            effects.notifications.splice(at..at, notes);
        }
    }
    if p.replaced {
        ops.extend(p.ops.into_iter().map(|argv| (db, argv)));
    } else if effects.dirty > dirty_before {
        if ops.is_empty() && !in_transaction() {
            // The common case: the command alone, encoded from the request's own bytes.
            aof().append_args(db, args);
            return;
        }
        ops.push((db, args.iter().map(|a| a.to_vec()).collect()));
    }
    if ops.is_empty() {
        return;
    }
    let in_tx = TX_OPS.with(|t| {
        let mut t = t.borrow_mut();
        match t.as_mut() {
            Some(tx) => {
                tx.append(&mut ops);
                true
            }
            None => false,
        }
    });
    if !in_tx {
        // Redis wraps the several commands one call propagates in MULTI/EXEC, except for the
        // commands that touch arbitrary keys (SCAN, RANDOMKEY expire what they meet).
        let wrap = ops.len() > 1 && !matches!(entry.meta.name.as_str(), "scan" | "randomkey");
        aof().append(&ops, wrap);
    }
}

/// True while a transaction's commands are being collected (`begin_transaction`).
fn in_transaction() -> bool {
    TX_OPS.with(|t| t.borrow().is_some())
}

/// Starts collecting a transaction's commands (EXEC, its slot locks held).
pub fn begin_transaction() {
    if enabled() {
        TX_OPS.with(|t| *t.borrow_mut() = Some(Vec::new()));
    }
}

/// Appends the transaction's commands, wrapped in MULTI/EXEC when there are several, as
/// Redis 7.0 does (one write alone is propagated bare). Called with its slot locks held.
pub fn end_transaction() {
    let Some(ops) = TX_OPS.with(|t| t.borrow_mut().take()) else { return };
    if !ops.is_empty() {
        aof().append(&ops, ops.len() > 1);
    }
}

/// After active expiry removed keys of `db` (the slot's lock still held): appends one DEL
/// per key when propagating and returns the keys, for the worker's `expired` events. `None`
/// when not propagating: the keys are still in the expiry log.
pub fn feed_expired(db: u32, lazy: bool) -> Option<Vec<Sds>> {
    if !enabled() {
        return None;
    }
    let keys = keyspace::take_expired_log();
    let a = aof();
    // Each deletion alone, never wrapped: they are independent (Redis's active expiry).
    for k in &keys {
        a.append(&[(db, del_argv(k.as_bytes(), lazy))], false);
    }
    Some(keys)
}

/// For server code that changes data outside a data command's handler (MIGRATE deleting the
/// keys it moved, which Redis logs as `DEL key ...`; a cluster node dropping a slot's keys):
/// appends `argv` as run in database `db`. Call it while the slot locks of the keys it names are
/// still held, so the log keeps their order. Nothing happens while not propagating.
/// Inside EXEC the command joins the transaction's MULTI/EXEC unit.
pub fn propagate_server_write(db: u32, argv: Vec<Vec<u8>>) {
    if !enabled() {
        return;
    }
    let mut op = Some((db, argv));
    TX_OPS.with(|t| {
        if let Some(tx) = t.borrow_mut().as_mut() {
            tx.extend(op.take());
        }
    });
    if let Some(op) = op {
        aof().append(&[op], false);
    }
}

/// FLUSHALL / FLUSHDB while propagating: clears `dbs` with every slot of them locked and
/// appends the command (in database `db`) before releasing them, so no write to those
/// databases can land on the other side of the flush in the log than in memory. Returns how
/// many keys were removed.
pub fn flush_logged(shared: &Shared, dbs: &[usize], db: u32, args: &[&[u8]]) -> u64 {
    let mut wanted: Vec<(u32, u16)> =
        dbs.iter().flat_map(|&d| (0..SLOT_COUNT as u16).map(move |s| (d as u32, s))).collect();
    let mut locks = LockSet::new();
    locks.lock(&shared.ks, &mut wanted);
    let mut removed = 0u64;
    for &(d, s) in &wanted {
        if let Some(t) = locks.held(d, s) {
            removed += t.len() as u64;
            t.clear();
        }
    }
    propagate_server_write(db, args.iter().map(|a| a.to_vec()).collect());
    removed
}

fn del_argv(key: &[u8], lazy: bool) -> Vec<Vec<u8>> {
    vec![if lazy { b"UNLINK".to_vec() } else { b"DEL".to_vec() }, key.to_vec()]
}

impl Aof {
    /// Appends commands to the log, preceded by a SELECT when their database differs from
    /// the last one, and wrapped in MULTI/EXEC with `wrap`.
    fn append(&self, ops: &[(u32, Vec<Vec<u8>>)], wrap: bool) {
        self.append_ops(ops.iter().map(|(db, argv)| (*db, argv.as_slice())), wrap);
    }

    /// [`Aof::append`] of one command borrowed from the request: the common case (a write that
    /// propagates itself) copies no argument before encoding it.
    fn append_args(&self, db: u32, args: &[&[u8]]) {
        self.append_ops(std::iter::once((db, args)), false);
    }

    fn append_ops<'a, A: AsRef<[u8]> + 'a>(&self, ops: impl Iterator<Item = (u32, &'a [A])> + Clone, wrap: bool) {
        // The replication stream keeps its own SELECT tracking (Redis's `slaveseldb`).
        if crate::replication::feeding() {
            crate::replication::feed_ops(ops.clone(), wrap);
        }
        if !self.log_on.load(Ordering::Relaxed) {
            return;
        }
        let mut ops = ops.peekable();
        let mut log = self.log.lock();
        let before = log.buf.len();
        if self.timestamps.load(Ordering::Relaxed) {
            let now_s = now_ms() / 1000;
            if now_s > log.last_ts_s {
                log.last_ts_s = now_s;
                log.buf.extend_from_slice(format!("#TS:{now_s}\r\n").as_bytes());
            }
        }
        if wrap {
            if let Some((db, _)) = ops.peek() {
                log.select(*db);
            }
            encode_command(&mut log.buf, &[b"MULTI"]);
        }
        for (db, argv) in ops {
            log.select(db);
            encode_command(&mut log.buf, argv);
        }
        if wrap {
            encode_command(&mut log.buf, &[b"EXEC"]);
        }
        log.end += (log.buf.len() - before) as u64;
        self.appended.store(log.end, Ordering::Release);
    }
}

impl Log {
    fn select(&mut self, db: u32) {
        if self.selected_db != Some(db) {
            encode_command(&mut self.buf, &[b"SELECT".to_vec(), db.to_string().into_bytes()]);
            self.selected_db = Some(db);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Writing the log to the file
// ---------------------------------------------------------------------------------------------

/// Before a worker writes replies: whatever was appended reaches the file first, and under
/// `appendfsync always` the disk, so no client hears of a write the AOF does not hold. One
/// fsync covers every worker's appends so far (group commit). Two atomic loads when there is
/// nothing to do.
///
/// Under `everysec`, while the background fsync runs, the write waits for it (up to 2 s) and
/// replies do not wait for the write, as Redis's flushAppendOnlyFile postpones it: on most
/// file systems a write() to a file being fsynced blocks until the fsync ends, which stalled
/// every client for the length of the fsync (tens of ms for a second of writes). Rejected:
/// writing from a thread of its own, which keeps the replies' order behind the write but
/// still blocks that thread, and costs a wake-up per batch.
#[inline]
pub fn before_reply() {
    let Some(a) = AOF.get() else { return };
    let target = a.appended.load(Ordering::Acquire);
    if target > a.done.load(Ordering::Acquire) && !a.flush_postponed() {
        a.flush_to(target);
    }
}

/// True while appended commands are not yet written (and fsynced under `always`): replies
/// must wait for [`before_reply`]. One atomic load when the AOF was never used.
#[inline]
pub fn replies_must_wait() -> bool {
    AOF.get()
        .is_some_and(|a| a.appended.load(Ordering::Acquire) > a.done.load(Ordering::Acquire) && !a.flush_postponed())
}

impl Aof {
    /// Whether pending bytes wait for the running `everysec` fsync rather than being written
    /// now (one atomic load when no fsync runs). After 2 s of waiting they are written anyway,
    /// as Redis does, with its log line.
    fn flush_postponed(&self) -> bool {
        if !self.fsync_in_progress.load(Ordering::Acquire) || self.policy() != Fsync::EverySec {
            return false;
        }
        let now = now_ms();
        match self.flush_postponed_since_ms.compare_exchange(0, now, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => true,
            Err(POSTPONEMENT_RAN_OUT) => false,
            Err(since) if now - since < 2000 => true,
            Err(since) => {
                // One log line and one count per postponement that ran out, from whichever
                // worker gets here first; then writes go on until this fsync ends.
                if self
                    .flush_postponed_since_ms
                    .compare_exchange(since, POSTPONEMENT_RAN_OUT, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    self.delayed_fsync.fetch_add(1, Ordering::Relaxed);
                    notice!("Asynchronous AOF fsync is taking too long (disk is busy?). Writing the AOF buffer without waiting for fsync to complete, this may slow down Redis.");
                }
                false
            }
        }
    }

    /// Writes the log up to at least `target` (fsyncing under `always`). A failed write is
    /// kept for a retry and refuses writes (-MISCONF); under `always` it ends the process, as
    /// Redis does, since replies already promised may not be on disk.
    fn flush_to(&self, target: u64) {
        let mut io = self.io.lock();
        if self.done.load(Ordering::Acquire) >= target {
            return;
        }
        let (mut bytes, end) = {
            let mut log = self.log.lock();
            let spare = std::mem::take(&mut io.spare);
            (std::mem::replace(&mut log.buf, spare), log.end)
        };
        if bytes.is_empty() {
            self.done.store(end, Ordering::Release);
            return;
        }
        let sleep_us = self.flush_sleep_us.load(Ordering::Relaxed);
        if sleep_us > 0 {
            std::thread::sleep(std::time::Duration::from_micros(sleep_us));
        }
        let policy = self.policy();
        let result = io.write(&bytes).and_then(|()| match policy {
            Fsync::Always => io.sync(),
            _ => Ok(()),
        });
        match result {
            Ok(()) => {
                if !self.fsync_failed.load(Ordering::Relaxed) && self.write_failed.swap(false, Ordering::Relaxed) {
                    warning!("AOF write error looks solved, Redis can write again.");
                }
                io.last_error = None;
                self.done.store(end, Ordering::Release);
                if bytes.capacity() <= SPARE_MAX_BYTES {
                    bytes.clear();
                    io.spare = bytes;
                }
            }
            Err(e) => {
                if policy == Fsync::Always {
                    warning!("Can't recover from AOF write error when the AOF fsync policy is 'always'. Exiting...");
                    std::process::exit(1);
                }
                if !self.write_failed.swap(true, Ordering::Relaxed) {
                    warning!("Error writing to the AOF file: {e}");
                }
                io.last_error = Some(os_error_text(&e));
                // Put the bytes back in front of what was appended since, for the retry.
                let mut log = self.log.lock();
                let mut all = bytes;
                all.extend_from_slice(&log.buf);
                log.buf = all;
            }
        }
    }

    /// The fsync policy in force: `no` while a rewrite runs with `no-appendfsync-on-rewrite`.
    fn policy(&self) -> Fsync {
        if self.no_fsync_on_rewrite.load(Ordering::Relaxed) && self.rewriting.load(Ordering::Relaxed) {
            return Fsync::No;
        }
        Fsync::from_u8(self.fsync.load(Ordering::Relaxed))
    }

    /// Re-reads the fsync settings.
    fn read_settings(&self, shared: &Shared) {
        let cfg = shared.config.read();
        self.fsync.store(Fsync::parse(&cfg.get("appendfsync").unwrap_or_default()) as u8, Ordering::Relaxed);
        self.no_fsync_on_rewrite.store(cfg.get_bool("no-appendfsync-on-rewrite").unwrap_or(false), Ordering::Relaxed);
        self.timestamps.store(cfg.get_bool("aof-timestamp-enabled").unwrap_or(false), Ordering::Relaxed);
    }

    /// Writes everything appended so far and fsyncs it (shutdown, before a file switch).
    fn flush_and_sync(&self) {
        self.flush_to(self.appended.load(Ordering::Acquire));
        let mut io = self.io.lock();
        if let Err(e) = io.sync() {
            warning!("Fail to fsync the AOF file: {e}");
        }
    }
}

impl Io {
    /// Appends to the open incr file; a partial write is cut off again so the file never ends
    /// inside a command that will be written again.
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let Some(f) = self.file.as_mut() else {
            return Err(std::io::Error::other("the AOF file is not open"));
        };
        match f.write_all(bytes) {
            Ok(()) => {
                self.incr_size += bytes.len() as u64;
                self.unsynced = true;
                Ok(())
            }
            Err(e) => {
                if let Err(t) = f.set_len(self.incr_size) {
                    warning!("Could not remove short write from the append-only file. Redis may refuse to load the AOF the next time it starts. ftruncate: {t}");
                }
                Err(e)
            }
        }
    }

    fn sync(&mut self) -> std::io::Result<()> {
        if let Some(f) = self.file.as_ref() {
            f.sync_data()?;
        }
        self.unsynced = false;
        Ok(())
    }

    fn current_size(&self) -> u64 {
        self.base_size + self.earlier_incrs_size + self.incr_size
    }
}

/// strerror-like text of an I/O error (Redis's MISCONF shows strerror(errno)).
fn os_error_text(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// The MISCONF reply for a write (or PING) while the AOF cannot be written, as Redis's
/// `writeCommandsDeniedByDiskError`; `None` otherwise (one atomic load).
pub fn write_refusal(entry: &Entry) -> Option<String> {
    let a = AOF.get()?;
    if !a.write_failed.load(Ordering::Relaxed) || !(entry.meta.has(flag::WRITE) || entry.meta.name == "ping") {
        return None;
    }
    let err = a.io.lock().last_error.clone().unwrap_or_else(|| "Unknown error".into());
    Some(format!("MISCONF Errors writing to the AOF file: {err}"))
}

/// The background thread: writes what no reply flushed (active expiry's DELs), fsyncs about
/// once a second under `everysec`, retries a failed write.
fn background(shared: &'static Shared) {
    let a = aof();
    let mut last_fsync_ms = now_ms();
    while !shared.shutdown.load(Ordering::Relaxed) {
        std::thread::sleep(std::time::Duration::from_millis(100));
        if !a.log_on.load(Ordering::Relaxed) && a.io.lock().file.is_none() {
            auto_rewrite_check(shared);
            continue;
        }
        let target = a.appended.load(Ordering::Acquire);
        if target > a.done.load(Ordering::Acquire) || a.write_failed.load(Ordering::Relaxed) {
            a.flush_to(target);
        }
        let now = now_ms();
        if a.policy() == Fsync::EverySec && now - last_fsync_ms >= 1000 {
            last_fsync_ms = now;
            // fsync a clone of the handle, outside the lock, so writers are not held up.
            let file = {
                let mut io = a.io.lock();
                if !io.unsynced {
                    continue;
                }
                io.unsynced = false;
                io.file.as_ref().and_then(|f| f.try_clone().ok())
            };
            if let Some(f) = file {
                a.fsync_in_progress.store(true, Ordering::Release);
                let synced = f.sync_data();
                a.fsync_in_progress.store(false, Ordering::Release);
                a.flush_postponed_since_ms.store(0, Ordering::Release);
                // What the workers postponed meanwhile goes to the file now, not at the next
                // write some client happens to send.
                let target = a.appended.load(Ordering::Acquire);
                if target > a.done.load(Ordering::Acquire) {
                    a.flush_to(target);
                }
                match synced {
                    Ok(()) => {
                        if a.fsync_failed.swap(false, Ordering::Relaxed) {
                            a.write_failed.store(false, Ordering::Relaxed);
                            warning!("AOF fsync error looks solved, Redis can write again.");
                        }
                    }
                    Err(e) => {
                        // As Redis's aof_bio_fsync_status: writes are refused until an fsync works.
                        warning!("Fail to fsync the AOF file: {e}");
                        let mut io = a.io.lock();
                        io.unsynced = true;
                        io.last_error = Some(os_error_text(&e));
                        a.fsync_failed.store(true, Ordering::Relaxed);
                        a.write_failed.store(true, Ordering::Relaxed);
                    }
                }
            }
        }
        auto_rewrite_check(shared);
    }
}

fn start_background_thread(shared: &'static Shared) {
    let mut st = aof().state.lock();
    if st.thread_started {
        return;
    }
    st.thread_started = true;
    if let Err(e) = std::thread::Builder::new().name("aof".into()).spawn(move || background(shared)) {
        warning!("Can't start the AOF thread: {e}");
        st.thread_started = false;
    }
}

// ---------------------------------------------------------------------------------------------
// Files: manifest, incr files
// ---------------------------------------------------------------------------------------------

/// The AOF directory and file name prefix from the configuration.
fn paths(shared: &Shared) -> (PathBuf, String) {
    let cfg = shared.config.read();
    (cfg.aof_dir(), cfg.appendfilename())
}

/// Writes the manifest as Redis's `persistAofManifest`: temp file, fsync, rename, dir fsync.
fn persist_manifest(dir: &Path, filename: &str, m: &Manifest) -> std::io::Result<()> {
    let temp = dir.join(temp_manifest_name(filename));
    let mut f = File::create(&temp)?;
    f.write_all(&m.to_bytes().map_err(|e| std::io::Error::other(e.to_string()))?)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&temp, dir.join(manifest_name(filename)))?;
    File::open(dir)?.sync_all()
}

fn open_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// The barrier and the rewrite
// ---------------------------------------------------------------------------------------------

/// Runs `f` with every slot of every database locked, so that no command is between its
/// change and its append (see `Keyspace::with_every_slot_locked`).
pub(crate) fn with_all_slots_locked<R>(shared: &Shared, f: impl FnOnce() -> R) -> R {
    shared.ks.with_every_slot_locked(f)
}

/// Redis's `rewriteAppendOnlyFileBackground`, forkless: at the barrier, opens a new incr file
/// (recorded in the manifest at once, so a crash mid-rewrite loads old base + old incrs + new
/// incr), turns propagation on if it was off (CONFIG SET appendonly yes) and starts a keyspace
/// snapshot; a thread writes the snapshot as the new base and then swaps the manifest to new
/// base + new incr, the older files becoming history and deleted.
/// With `turn_on`, propagation starts at the switch (CONFIG SET appendonly yes); without it a
/// server with the AOF off only writes a new base and an empty incr file (BGREWRITEAOF).
/// Ok(false) when the rewrite was scheduled behind a running BGSAVE instead.
pub fn rewrite_background(shared: &'static Shared, turn_on: bool) -> Result<bool, String> {
    {
        let mut st = aof().state.lock();
        if st.rewrite_in_progress {
            return Err("ERR Background append only file rewriting already in progress".into());
        }
        if shared.persist.lock().saving {
            drop(st);
            schedule_rewrite(shared, turn_on);
            return Ok(false);
        }
        st.rewrite_in_progress = true;
        st.rewrite_started_ms = now_ms();
        st.writing_first_base = turn_on && !aof().log_on.load(Ordering::Relaxed);
        aof().rewriting.store(true, Ordering::Relaxed);
    }
    let result = start_rewrite(shared, turn_on);
    if let Err(e) = &result {
        warning!("Can't rewrite append only file in background: {e}");
        let mut st = aof().state.lock();
        st.rewrite_in_progress = false;
        st.writing_first_base = false;
        aof().rewriting.store(false, Ordering::Relaxed);
        st.last_rewrite_ok = false;
        st.consecutive_failures += 1;
    }
    result.map(|()| true).map_err(|_| "ERR Can't rewrite append only file in background".to_string())
}

fn start_rewrite(shared: &'static Shared, turn_on: bool) -> std::io::Result<()> {
    let a = aof();
    let (dir, filename) = paths(shared);
    std::fs::create_dir_all(&dir)?;
    let (snapshot, checksum) = SlotSnapshot::new(shared, now_ms(), SnapshotKind::Aof);
    // Some(new incr file, None while the AOF is off), or None if a BGSAVE holds the snapshot.
    let started = with_all_slots_locked(shared, || -> std::io::Result<Option<Option<ManifestEntry>>> {
        let mut io = a.io.lock();
        // Everything appended so far belongs to the old files.
        let (bytes, end) = {
            let mut log = a.log.lock();
            (std::mem::take(&mut log.buf), log.end)
        };
        let written = if bytes.is_empty() { Ok(()) } else { io.write(&bytes) }.and_then(|()| io.sync());
        if let Err(e) = written {
            // Kept for the next write attempt, ahead of anything appended later.
            let mut log = a.log.lock();
            let mut all = bytes;
            all.extend_from_slice(&log.buf);
            log.buf = all;
            return Err(e);
        }
        a.done.store(end, Ordering::Release);
        if io.file.is_none() {
            // The AOF was off: the manifest on disk (if any) lists what the rewrite replaces.
            io.dir = dir.clone();
            io.filename = filename.clone();
            io.manifest = read_manifest(&dir, &filename).ok().flatten().unwrap_or_default();
        }
        // The snapshot first: if a BGSAVE holds the keyspace's one snapshot, nothing changed yet.
        if !snapshot.start(&shared.ks) {
            return Ok(None);
        }
        if !turn_on && !a.log_on.load(Ordering::Relaxed) {
            // The AOF is off: only a new base is written, and no incr file is opened (Redis's
            // openNewIncrAofForAppend does nothing while the AOF is off).
            return Ok(Some(None));
        }
        let seq = io.manifest.next_incr_seq();
        let name = incr_name(&filename, seq);
        let entry = ManifestEntry { name, seq, kind: FileKind::Incr };
        let mut manifest = io.manifest.clone();
        manifest.incrs.push(entry.clone());
        let opened =
            open_append(&dir.join(&entry.name)).and_then(|f| persist_manifest(&dir, &filename, &manifest).map(|()| f));
        let file = match opened {
            Ok(f) => f,
            Err(e) => {
                snapshot.end(&shared.ks, false);
                return Err(e);
            }
        };
        io.manifest = manifest;
        io.earlier_incrs_size += io.incr_size;
        io.incr_size = 0;
        io.file = Some(file);
        a.log.lock().selected_db = None;
        a.log_on.store(true, Ordering::Relaxed);
        refresh_on();
        Ok(Some(Some(entry)))
    })?;
    let Some(new_incr) = started else {
        return Err(std::io::Error::other("a background save is in progress"));
    };
    notice!("Background append only file rewriting started");
    start_background_thread(shared);
    let delay_us = shared.config.read().rdb_key_save_delay_us().max(0) as u64;
    aof().state.lock().rewrite_snapshot = Some(snapshot.clone());
    let spawned = std::thread::Builder::new().name("aof-rewrite".into()).spawn(move || {
        let result = finish_rewrite(shared, &snapshot, checksum, delay_us, &new_incr);
        snapshot.end(&shared.ks, result.is_ok());
        let mut st = aof().state.lock();
        st.rewrite_snapshot = None;
        st.rewrite_in_progress = false;
        st.writing_first_base = false;
        aof().rewriting.store(false, Ordering::Relaxed);
        st.last_rewrite_secs = (now_ms() - st.rewrite_started_ms) / 1000;
        match result {
            Ok(()) => {
                st.last_rewrite_ok = true;
                st.rewrites += 1;
                st.consecutive_failures = 0;
                st.size_after_rewrite = aof().io.lock().current_size();
                notice!("Background AOF rewrite terminated with success");
                notice!("Background AOF rewrite finished successfully");
            }
            // Cancelled by turning the AOF off: as Redis's child killed with SIGUSR1, not an error.
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                warning!("Background AOF rewrite terminated by signal 10")
            }
            Err(e) => {
                st.last_rewrite_ok = false;
                st.consecutive_failures += 1;
                warning!("Background AOF rewrite failed: {e}");
            }
        }
    });
    if let Err(e) = spawned {
        aof().state.lock().rewrite_snapshot = None;
        shared.ks.end_snapshot();
        return Err(e);
    }
    Ok(())
}

/// Writes the new base from the snapshot, then swaps the manifest and deletes the history.
fn finish_rewrite(
    shared: &Shared,
    snapshot: &SlotSnapshot,
    checksum: bool,
    delay_us: u64,
    new_incr: &Option<ManifestEntry>,
) -> std::io::Result<()> {
    let a = aof();
    let (dir, filename) = {
        let io = a.io.lock();
        (io.dir.clone(), io.filename.clone())
    };
    let seq = a.io.lock().manifest.next_base_seq();
    let preamble = shared.config.read().get_bool("aof-use-rdb-preamble").unwrap_or(true);
    let name = base_name(&filename, seq, preamble);
    let path = dir.join(&name);
    write_base(shared, snapshot, &path, checksum, delay_us, preamble)?;
    let mut io = a.io.lock();
    let old = io.manifest.clone();
    let mut next = Manifest {
        base: Some(ManifestEntry { name, seq, kind: FileKind::Base }),
        history: old.history.clone(),
        incrs: Vec::new(),
    };
    // Everything before the incr file opened at the switch (everything, if none was: the AOF is
    // off) is replaced by the new base.
    let first_kept = new_incr.as_ref().map_or(i64::MAX, |e| e.seq);
    for e in old.base.iter().chain(old.incrs.iter()) {
        if e.kind == FileKind::Incr && e.seq >= first_kept {
            next.incrs.push(e.clone());
        } else {
            next.history.push(ManifestEntry { kind: FileKind::History, ..e.clone() });
        }
    }
    persist_manifest(&dir, &filename, &next)?;
    let auto_gc = !shared.config.read().get_bool("aof-disable-auto-gc").unwrap_or(false);
    if auto_gc && !next.history.is_empty() {
        notice!("Removing the history file in the background");
        for h in &next.history {
            let _ = std::fs::remove_file(dir.join(&h.name));
        }
        next.history.clear();
        persist_manifest(&dir, &filename, &next)?;
    }
    io.base_size = file_size(&path);
    io.earlier_incrs_size =
        next.incrs.iter().filter(|e| e.seq != first_kept).map(|e| file_size(&dir.join(&e.name))).sum();
    io.manifest = next;
    Ok(())
}

/// Writes the snapshot as a base file: an RDB image (`aof-use-rdb-preamble yes`), or the
/// commands that rebuild it (`no`, Redis's `rewriteAppendOnlyFileRio`), made from the RDB
/// image written beside it first. Temp file, fsync, rename, directory fsync either way.
fn write_base(
    shared: &Shared,
    snapshot: &SlotSnapshot,
    path: &Path,
    checksum: bool,
    delay_us: u64,
    preamble: bool,
) -> std::io::Result<()> {
    let dbs: Vec<u32> = (0..shared.ks.db_count() as u32).collect();
    if preamble {
        persistence::write_background_snapshot(shared, snapshot, &dbs, path, checksum, delay_us, true)?;
        return Ok(());
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let image = dir.join(format!("temp-rewriteaof-image-{}.rdb", std::process::id()));
    persistence::write_background_snapshot(shared, snapshot, &dbs, &image, checksum, delay_us, true)?;
    let rdb = std::fs::read(&image);
    let _ = std::fs::remove_file(&image);
    let commands =
        rdb_to_commands(&rdb?).map_err(|e| std::io::Error::other(format!("re-reading the snapshot: {e}")))?;
    let temp = dir.join(format!("temp-rewriteaof-bg-{}.aof", std::process::id()));
    let mut f = File::create(&temp)?;
    if aof().timestamps.load(Ordering::Relaxed) {
        // As Redis's rewriteAppendOnlyFileRio: a command base opens with the time it was taken.
        f.write_all(format!("#TS:{}\r\n", snapshot.now_ms() / 1000).as_bytes())?;
    }
    f.write_all(&commands)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&temp, path)?;
    File::open(dir)?.sync_all()
}

/// Redis's AOF rewrite in commands: per non-empty database a SELECT, then per key SET, RPUSH,
/// SADD, ZADD or HMSET (at most 64 items per command) and PEXPIREAT for a key with a TTL.
fn rdb_to_commands(rdb: &[u8]) -> Result<Vec<u8>, persist::FormatError> {
    use keyspace::{StrValue, Value};
    const ITEMS_PER_CMD: usize = 64;
    let mut out = Vec::new();
    let mut reader = persist::rdb::RdbReader::new(rdb)?;
    let mut pending_db = None;
    while let Some(item) = reader.next_item()? {
        let (key, value, expire_at_ms) = match item {
            persist::rdb::RdbItem::SelectDb(d) => {
                pending_db = Some(d);
                continue;
            }
            persist::rdb::RdbItem::Key { key, value, expire_at_ms } => (key, value, expire_at_ms),
            // Redis's rewriteFunctions: each library as the FUNCTION LOAD that creates it.
            persist::rdb::RdbItem::Function(code) => {
                encode_command(&mut out, &[b"FUNCTION".to_vec(), b"LOAD".to_vec(), code]);
                continue;
            }
            _ => continue,
        };
        if let Some(d) = pending_db.take() {
            encode_command(&mut out, &[b"SELECT".to_vec(), d.to_string().into_bytes()]);
        }
        let mut batched = |name: &[u8], items: Vec<Vec<u8>>, per: usize| {
            for chunk in items.chunks(ITEMS_PER_CMD * per) {
                let mut argv = vec![name.to_vec(), key.clone()];
                argv.extend(chunk.iter().cloned());
                encode_command(&mut out, &argv);
            }
        };
        match &value {
            Value::Str(StrValue::Int(n)) => {
                batched(b"SET", vec![n.to_string().into_bytes()], 1);
            }
            Value::Str(StrValue::Raw(s)) => batched(b"SET", vec![s.to_vec()], 1),
            Value::List(l) => batched(b"RPUSH", l.iter().map(|v| v.to_vec()).collect(), 1),
            Value::Set(m) => batched(b"SADD", m.iter().map(|v| v.to_vec()).collect(), 1),
            Value::ZSet(z) => batched(
                b"ZADD",
                z.ordered
                    .iter()
                    .flat_map(|(score, m)| [resp::format_double(score.0).into_bytes(), m.to_vec()])
                    .collect(),
                2,
            ),
            Value::Hash(h) => batched(b"HMSET", h.iter().flat_map(|(f, v)| [f.to_vec(), v.to_vec()]).collect(), 2),
            Value::Stream(stream) => persist::aof::encode_stream_rewrite(&mut out, &key, stream),
        }
        if let Some(at) = expire_at_ms {
            encode_command(&mut out, &[b"PEXPIREAT".to_vec(), key.clone(), at.to_string().into_bytes()]);
        }
    }
    Ok(out)
}

/// Asks the AOF thread to start a rewrite (turning the AOF on with `turn_on`) when it can.
fn schedule_rewrite(shared: &'static Shared, turn_on: bool) {
    {
        let mut st = aof().state.lock();
        st.rewrite_scheduled = true;
        st.scheduled_turn_on |= turn_on;
    }
    start_background_thread(shared);
}

/// Starts a rewrite when the AOF grew by `auto-aof-rewrite-percentage` since the last one and
/// is at least `auto-aof-rewrite-min-size`; also starts one scheduled behind a BGSAVE.
fn auto_rewrite_check(shared: &'static Shared) {
    let a = aof();
    let (scheduled, turn_on, base) = {
        let st = a.state.lock();
        if st.rewrite_in_progress {
            return;
        }
        (st.rewrite_scheduled, st.scheduled_turn_on, st.size_after_rewrite)
    };
    if shared.persist.lock().saving {
        return;
    }
    if scheduled {
        {
            let mut st = a.state.lock();
            st.rewrite_scheduled = false;
            st.scheduled_turn_on = false;
        }
        let _ = rewrite_background(shared, turn_on);
        return;
    }
    if !a.log_on.load(Ordering::Relaxed) {
        return;
    }
    let (perc, min_size) = {
        let cfg = shared.config.read();
        (cfg.get_i64("auto-aof-rewrite-percentage").unwrap_or(0), cfg.get_i64("auto-aof-rewrite-min-size").unwrap_or(0))
    };
    let size = a.io.lock().current_size();
    if perc <= 0 || size <= min_size.max(0) as u64 {
        return;
    }
    let base = base.max(1);
    let growth = (size.saturating_sub(base)) * 100 / base;
    if growth >= perc as u64 {
        notice!("Starting automatic rewriting of AOF on {growth}% growth");
        let _ = rewrite_background(shared, false);
    }
}

// ---------------------------------------------------------------------------------------------
// Turning the AOF on and off
// ---------------------------------------------------------------------------------------------

/// CONFIG SET side: re-reads `appendfsync`, and turns the AOF on (with a rewrite, as Redis's
/// `startAppendOnly`) or off when `appendonly` changed. Err with the reply text on failure.
pub fn config_changed(shared: &'static Shared, in_exec: bool) -> Result<(), String> {
    let want_on = shared.config.read().appendonly();
    let a = aof();
    a.read_settings(shared);
    let is_on = a.log_on.load(Ordering::Relaxed);
    if want_on && !is_on {
        if in_exec {
            // The transaction holds slot locks the barrier would wait for: start it after.
            warning!("AOF was enabled during a transaction. An AOF background was scheduled to start when possible.");
            schedule_rewrite(shared, true);
            return Ok(());
        }
        if a.state.lock().rewrite_in_progress {
            // Redis kills its rewrite child here; ours is only a writer thread: wait for it.
            wait_rewrite_done();
        }
        let started = rewrite_background(shared, true)
            .map_err(|_| "ERR Unable to turn on AOF. Check server logs.".to_string())?;
        if !started {
            warning!("AOF was enabled but there is already another background operation. An AOF background was scheduled to start when possible.");
        }
    } else if !want_on && is_on {
        stop(shared);
    }
    Ok(())
}

fn wait_rewrite_done() {
    for _ in 0..60_000 {
        if !aof().state.lock().rewrite_in_progress {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// Redis's `stopAppendOnly`: writes and fsyncs what is pending, closes the file, and stops a
/// rewrite in progress (Redis's `killAppendOnlyChild`).
fn stop(shared: &Shared) {
    let a = aof();
    with_all_slots_locked(shared, || {
        a.log_on.store(false, Ordering::Relaxed);
        refresh_on();
    });
    if let Some(snapshot) = a.state.lock().rewrite_snapshot.clone() {
        notice!("Killing running AOF rewrite child: thread aof-rewrite");
        snapshot.cancel();
    }
    wait_rewrite_done();
    a.flush_and_sync();
    a.io.lock().file = None;
    a.write_failed.store(false, Ordering::Relaxed);
}

/// At shutdown: everything appended reaches the disk.
pub fn shutdown() {
    if let Some(a) = AOF.get() {
        if a.io.lock().file.is_some() {
            notice!("Calling fsync() on the AOF file.");
            a.flush_and_sync();
        }
    }
}

/// BGREWRITEAOF's reply text: started, or scheduled behind a BGSAVE. Inside EXEC
/// (`in_exec`) the rewrite is always scheduled: the transaction holds slot locks the switch
/// barrier would wait for.
pub fn bgrewriteaof(shared: &'static Shared, in_exec: bool) -> Result<&'static str, String> {
    if in_exec {
        schedule_rewrite(shared, false);
        return Ok("Background append only file rewriting scheduled");
    }
    Ok(if rewrite_background(shared, false)? {
        "Background append only file rewriting started"
    } else {
        "Background append only file rewriting scheduled"
    })
}

/// The aof_* lines of INFO persistence, as Redis prints them.
pub fn info_fields() -> String {
    let a = aof();
    let st = a.state.lock();
    let on = a.log_on.load(Ordering::Relaxed);
    let failed = a.write_failed.load(Ordering::Relaxed);
    let current_secs = if st.rewrite_in_progress { (now_ms() - st.rewrite_started_ms) / 1000 } else { -1 };
    let mut s = format!(
        "aof_enabled:{}\r\naof_rewrite_in_progress:{}\r\naof_rewrite_scheduled:{}\r\naof_last_rewrite_time_sec:{}\r\naof_current_rewrite_time_sec:{}\r\naof_last_bgrewrite_status:{}\r\naof_rewrites:{}\r\naof_rewrites_consecutive_failures:{}\r\naof_last_write_status:{}\r\naof_last_cow_size:{}\r\nmodule_fork_in_progress:0\r\nmodule_fork_last_cow_size:0\r\n",
        u8::from(on),
        u8::from(st.rewrite_in_progress),
        u8::from(st.rewrite_scheduled),
        st.last_rewrite_secs,
        current_secs,
        if st.last_rewrite_ok { "ok" } else { "err" },
        st.rewrites,
        st.consecutive_failures,
        if failed { "err" } else { "ok" },
        persistence::last_copies_bytes(SnapshotKind::Aof),
    );
    if on {
        let io = a.io.lock();
        let pending = a.log.lock().buf.len();
        s.push_str(&format!(
            "aof_current_size:{}\r\naof_base_size:{}\r\naof_pending_rewrite:{}\r\naof_buffer_length:{pending}\r\naof_pending_bio_fsync:{}\r\naof_delayed_fsync:{}\r\n",
            io.current_size(),
            io.base_size,
            u8::from(st.rewrite_scheduled),
            u8::from(a.fsync_in_progress.load(Ordering::Relaxed)),
            a.delayed_fsync.load(Ordering::Relaxed),
        ));
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Loading at start-up
// ---------------------------------------------------------------------------------------------

/// The manifest in `dir`, `Ok(None)` if there is none.
fn read_manifest(dir: &Path, filename: &str) -> anyhow::Result<Option<Manifest>> {
    let path = dir.join(manifest_name(filename));
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => anyhow::bail!("Fatal error: can't open the AOF manifest file {} for reading: {e}", path.display()),
    };
    match parse_manifest(&bytes) {
        Ok(m) => Ok(Some(m)),
        Err(e) => {
            warning!("\n*** FATAL AOF MANIFEST FILE ERROR ***\n");
            if e.line_number > 0 {
                warning!("Reading the manifest file, at line {}\n", e.line_number);
                warning!(">>> '{}'\n", e.line);
            }
            anyhow::bail!("{}", e.reason)
        }
    }
}

/// Start-up with `appendonly yes` (Redis's `loadDataFromDisk` + `aofOpenIfNeededOnServerStart`):
/// upgrades an old single-file AOF into the directory, loads base and incr files in order,
/// creates a base if there is none, opens the last incr file (or a new one) for appending.
/// Returns Err, naming file and offset, when start-up must stop.
pub fn load_and_open_at_startup(shared: &'static Shared) -> anyhow::Result<()> {
    let (dir, filename) = paths(shared);
    let a = aof();
    a.read_settings(shared);
    let old_style = dir.parent().map(|p| p.join(&filename)).filter(|p| p.is_file());
    let mut manifest = read_manifest(&dir, &filename)?;
    let upgrade = match (&old_style, &manifest) {
        (Some(_), None) => true,
        // An interrupted upgrade: the manifest names the old file, which was not moved yet.
        (Some(_), Some(m)) => {
            m.incrs.is_empty() && m.base.as_ref().is_some_and(|b| b.name == filename) && !dir.join(&filename).exists()
        }
        _ => false,
    };
    let started = std::time::Instant::now();
    if upgrade {
        let old = old_style.unwrap_or_default();
        load_file(shared, &old, true, STARTUP_LOADER_ENV_ID)?;
        std::fs::create_dir_all(&dir)?;
        let m = Manifest {
            base: Some(ManifestEntry { name: filename.clone(), seq: 1, kind: FileKind::Base }),
            ..Default::default()
        };
        persist_manifest(&dir, &filename, &m)?;
        std::fs::rename(&old, dir.join(&filename))?;
        File::open(&dir)?.sync_all()?;
        notice!("Successfully migrated an old-style AOF into the AOF directory");
        manifest = Some(m);
    } else if let Some(m) = &manifest {
        let files: Vec<&ManifestEntry> = m.base.iter().chain(m.incrs.iter()).collect();
        for (i, e) in files.iter().enumerate() {
            let path = dir.join(&e.name);
            if !path.exists() {
                anyhow::bail!("The append log file {} doesn't exist: No such file or directory", e.name);
            }
            load_file(shared, &path, i + 1 == files.len(), STARTUP_LOADER_ENV_ID)?;
            let kind = if e.kind == FileKind::Base { "base" } else { "incr" };
            notice!("DB loaded from {kind} file {}: {:.3} seconds", e.name, started.elapsed().as_secs_f64());
        }
        if !files.is_empty() {
            notice!("DB loaded from append only file: {:.3} seconds", started.elapsed().as_secs_f64());
        }
    }
    crate::scripting::drop_thread_vm(STARTUP_LOADER_ENV_ID);
    let mut m = manifest.unwrap_or_default();
    std::fs::create_dir_all(&dir)
        .map_err(|e| anyhow::anyhow!("Can't open or create append-only dir {}: {e}", dir.display()))?;
    let mut io = a.io.lock();
    io.dir = dir.clone();
    io.filename = filename.clone();
    if m.base.is_none() && m.incrs.is_empty() {
        let seq = m.next_base_seq();
        let preamble = shared.config.read().get_bool("aof-use-rdb-preamble").unwrap_or(true);
        let name = base_name(&filename, seq, preamble);
        write_base_now(shared, &dir.join(&name))?;
        notice!("Creating AOF base file {name} on server start");
        m.base = Some(ManifestEntry { name, seq, kind: FileKind::Base });
    }
    let existing_incr = m.incrs.last().cloned();
    let incr = match existing_incr {
        Some(e) => e,
        None => {
            let seq = m.next_incr_seq();
            let e = ManifestEntry { name: incr_name(&filename, seq), seq, kind: FileKind::Incr };
            m.incrs.push(e.clone());
            e
        }
    };
    let path = dir.join(&incr.name);
    let file = open_append(&path).map_err(|e| anyhow::anyhow!("Can't open the append-only file {}: {e}", incr.name))?;
    persist_manifest(&dir, &filename, &m)?;
    if m.incrs.len() > 1 || file_size(&path) > 0 {
        notice!("Opening AOF incr file {} on server start", incr.name);
    } else {
        notice!("Creating AOF incr file {} on server start", incr.name);
    }
    io.incr_size = file_size(&path);
    io.base_size = m.base.as_ref().map_or(0, |b| file_size(&dir.join(&b.name)));
    io.earlier_incrs_size = m.incrs.iter().filter(|e| e.seq != incr.seq).map(|e| file_size(&dir.join(&e.name))).sum();
    io.file = Some(file);
    io.manifest = m;
    a.state.lock().size_after_rewrite = io.current_size();
    drop(io);
    a.log_on.store(true, Ordering::Relaxed);
    refresh_on();
    start_background_thread(shared);
    Ok(())
}

/// DEBUG AOF-FLUSH-SLEEP <microseconds>.
pub fn set_flush_sleep_us(us: u64) {
    aof().flush_sleep_us.store(us, Ordering::Relaxed);
}

/// DEBUG LOADAOF: writes what is pending, empties the keyspace and loads the AOF files again
/// (Redis's test hook). Meanwhile the server is loading, as Redis's is: other clients' commands
/// without the `loading` flag get -LOADING once the load has gone on for a while (see
/// `replication::wait_for_loading_events`). `env_id` is the calling worker's, whose Lua VM runs
/// the file's scripts.
pub fn debug_loadaof(shared: &'static Shared, env_id: usize) -> anyhow::Result<()> {
    let a = aof();
    if a.io.lock().file.is_some() {
        a.flush_and_sync();
    }
    let _loading = crate::replication::begin_loading();
    for db in 0..shared.ks.db_count() {
        if let Some(d) = shared.ks.db_if_used(db) {
            for slot in 0..SLOT_COUNT as u16 {
                d.lock_slot(slot).clear();
            }
        }
    }
    // Redis's emptyData clears the function libraries too: the files hold their FUNCTION LOADs.
    crate::scripting::functions::clear();
    let (dir, filename) = paths(shared);
    let Some(m) = read_manifest(&dir, &filename)? else { return Ok(()) };
    let files: Vec<&ManifestEntry> = m.base.iter().chain(m.incrs.iter()).collect();
    persistence::LOAD_PROGRESS.begin(files.iter().map(|e| file_size(&dir.join(&e.name))).sum());
    for (i, e) in files.iter().enumerate() {
        load_file(shared, &dir.join(&e.name), i + 1 == files.len(), env_id)?;
    }
    // As Redis's aofLoadManifestFromDisk: the manifest on disk becomes the one a later rewrite
    // (or turning the AOF on) continues from. While the AOF is on the two are the same.
    let mut io = a.io.lock();
    if io.file.is_none() {
        io.dir = dir;
        io.filename = filename;
        io.manifest = m;
    }
    warning!("Append Only File loaded by DEBUG LOADAOF");
    Ok(())
}

/// Writes the whole dataset as a base file right away (start-up, nothing runs concurrently).
fn write_base_now(shared: &Shared, path: &Path) -> anyhow::Result<()> {
    let (snapshot, checksum) = SlotSnapshot::new(shared, now_ms(), SnapshotKind::Aof);
    if !snapshot.start(&shared.ks) {
        anyhow::bail!("a snapshot is already running");
    }
    let preamble = path.to_string_lossy().ends_with(".rdb");
    let r = write_base(shared, &snapshot, path, checksum, 0, preamble);
    snapshot.end(&shared.ks, r.is_ok());
    r?;
    Ok(())
}

/// Loads one AOF file (an RDB base, an old-style file with an RDB preamble, or commands) into
/// the keyspace. A truncated tail of the `last` file is cut off when `aof-load-truncated`
/// allows; any other damage is an error naming the file and the offset.
fn load_file(shared: &'static Shared, path: &Path, last: bool, env_id: usize) -> anyhow::Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let bytes = std::fs::read(path)
        .map_err(|e| anyhow::anyhow!("Unrecoverable error reading the append only file {name}: {e}"))?;
    if bytes.is_empty() {
        return Ok(());
    }
    let mut start = 0;
    if bytes.starts_with(b"REDIS") {
        notice!("Reading RDB base file on AOF loading...");
        start = persistence::load_rdb_bytes(shared, &bytes, false, true).map_err(|e| {
            if e.is::<persistence::ShutdownDuringLoad>() {
                e
            } else {
                anyhow::anyhow!("Error reading the RDB base file {name}, AOF loading aborted: {e}")
            }
        })?;
    }
    let truncate_ok = shared.config.read().get_bool("aof-load-truncated").unwrap_or(true);
    let mut loader = Loader::new(shared, env_id);
    let mut reader = CommandReader::new(&bytes, start);
    let mut valid_before_multi = start;
    let progress_base = persistence::LOAD_PROGRESS.loaded().saturating_sub(start as u64);
    let outcome = loop {
        let before = reader.position();
        persistence::LOAD_PROGRESS.set_loaded(progress_base + before as u64);
        if shared.shutdown.load(Ordering::Relaxed) {
            anyhow::bail!(persistence::ShutdownDuringLoad);
        }
        match reader.next_command() {
            Ok(Some(argv)) => {
                if argv[0].eq_ignore_ascii_case(b"multi") {
                    valid_before_multi = before;
                }
                if let Err(e) = loader.run(argv) {
                    anyhow::bail!("{e} reading the append only file {name}");
                }
            }
            Ok(None) => {
                if loader.multi.is_some() {
                    warning!("Revert incomplete MULTI/EXEC transaction in AOF file {name}");
                    break Some(valid_before_multi);
                }
                break None;
            }
            Err(StreamError::Truncated { valid_up_to }) => {
                break Some(if loader.multi.is_some() { valid_before_multi } else { valid_up_to });
            }
            Err(StreamError::BadFormat { offset }) => {
                anyhow::bail!(
                    "Bad file format reading the append only file {name} at offset {offset}: make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>"
                );
            }
        }
    };
    let Some(valid_up_to) = outcome else { return Ok(()) };
    if !last {
        anyhow::bail!("Fatal error: the truncated file is not the last file (unexpected end of file in {name} after offset {valid_up_to})");
    }
    if !truncate_ok {
        anyhow::bail!(
            "Unexpected end of file reading the append only file {name}. You can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server."
        );
    }
    warning!("!!! Warning: short read while loading the AOF file {name}!!!");
    warning!("!!! Truncating the AOF {name} at offset {valid_up_to} !!!");
    OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|f| f.set_len(valid_up_to as u64))
        .map_err(|e| anyhow::anyhow!("Error truncating the AOF file {name}: {e}"))?;
    warning!("AOF {name} loaded anyway because aof-load-truncated is enabled");
    Ok(())
}

/// The Lua VM owner the start-up load runs scripts as: it runs on the main thread, not on a
/// worker, and the VM it makes there is dropped when the load ends.
const STARTUP_LOADER_ENV_ID: usize = usize::MAX;

/// Marks the calling thread as replaying the AOF for as long as it lives: nothing replayed is
/// propagated, and keys past their time stay (`ExpiryMode::Keep`), as Redis expires nothing
/// while `server.loading`: the file holds the deletions that really happened. The clock is
/// the real one, so a relative EXPIRE or SET EX in the file gets the deadline Redis gives it.
/// Dropping it restores the thread's previous mode (a worker caches its own).
struct Replaying {
    previous_mode: keyspace::ExpiryMode,
}

impl Replaying {
    fn begin() -> Replaying {
        let previous_mode = keyspace::expiry_mode();
        keyspace::set_expiry_mode(keyspace::ExpiryMode::Keep);
        REPLAYING.with(|r| r.set(true));
        Replaying { previous_mode }
    }
}

impl Drop for Replaying {
    fn drop(&mut self) {
        REPLAYING.with(|r| r.set(false));
        keyspace::set_expiry_mode(self.previous_mode);
    }
}

/// Runs an AOF's commands against the keyspace, as Redis's fake AOF client: no replies, no
/// blocking, no propagation, and no expiry while loading (see [`Replaying`]).
struct Loader {
    shared: &'static Shared,
    db: u32,
    locks: LockSet<'static>,
    effects: Effects,
    out: resp::ReplyBuf,
    config: DataConfig,
    multi: Option<Vec<Vec<Vec<u8>>>>,
    key_pos: Vec<usize>,
    /// Where scripts from the file run (EVAL, EVALSHA, SCRIPT, FCALL), made at the first:
    /// a worker environment and a client that obeys as our master's does (Redis's AOF client
    /// is exempt from the read-only replica, OOM and MISCONF refusals too).
    scripts: Option<Box<(crate::worker::Env, crate::worker::Conn)>>,
    env_id: usize,
    _replaying: Replaying,
}

impl Loader {
    fn new(shared: &'static Shared, env_id: usize) -> Loader {
        let config = shared.config.read().data_config();
        Loader {
            shared,
            db: 0,
            locks: LockSet::new(),
            effects: Effects::default(),
            out: resp::ReplyBuf::new(false),
            config,
            multi: None,
            key_pos: Vec::new(),
            scripts: None,
            env_id,
            _replaying: Replaying::begin(),
        }
    }

    fn run(&mut self, argv: Vec<Vec<u8>>) -> Result<(), String> {
        let args: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
        let entry = match self.shared.registry.lookup(&args) {
            Ok(e) => e,
            // A known command with the wrong arguments fails as a client's would; its error
            // reply is ignored, as Redis's loader ignores every reply.
            Err(_) if self.shared.registry.resolve(&args).is_some() => return Ok(()),
            Err(_) => return Err(format!("Unknown command '{}'", String::from_utf8_lossy(&argv[0]))),
        };
        let name = entry.meta.name.as_str();
        if name == "exec" {
            // EXEC without MULTI is an error reply in Redis, ignored like every reply.
            for q in self.multi.take().unwrap_or_default() {
                self.run(q)?;
            }
            return Ok(());
        }
        if let Some(q) = self.multi.as_mut() {
            q.push(argv);
            return Ok(());
        }
        match (entry.kind, name) {
            (_, "multi") => self.multi = Some(Vec::new()),
            (_, "select") => {
                let db = std::str::from_utf8(&argv[1]).ok().and_then(|s| s.parse::<u32>().ok());
                match db {
                    Some(d) if (d as usize) < self.shared.ks.db_count() => self.db = d,
                    _ => return Err("Invalid SELECT".into()),
                }
            }
            (_, "flushall" | "flushdb") => {
                let dbs: Vec<usize> =
                    if name == "flushall" { (0..self.shared.ks.db_count()).collect() } else { vec![self.db as usize] };
                for d in dbs {
                    if let Some(db) = self.shared.ks.db_if_used(d) {
                        for s in 0..SLOT_COUNT as u16 {
                            db.lock_slot(s).clear();
                        }
                    }
                }
            }
            (Kind::Data(handler), _) => self.run_data(entry, handler, &args),
            // FUNCTION LOAD / DELETE / FLUSH / RESTORE; a failure is a reply, ignored as above.
            (Kind::Server(crate::cmds::FUNCTION), _) => {
                let _ = crate::scripting::functions::replay(&args);
            }
            // Redis 7 logs a script's effects, but older versions (and Redis 7 under
            // `lua-replicate-commands no` before 7.0) logged EVAL, EVALSHA and SCRIPT LOAD.
            (
                Kind::Server(
                    id @ (crate::cmds::EVAL
                    | crate::cmds::EVALSHA
                    | crate::cmds::EVAL_RO
                    | crate::cmds::EVALSHA_RO
                    | crate::cmds::SCRIPT
                    | crate::cmds::FCALL
                    | crate::cmds::FCALL_RO),
                ),
                _,
            ) => self.run_script(entry, id, &args)?,
            _ => return Err(format!("Unknown command '{}'", String::from_utf8_lossy(&argv[0]))),
        }
        Ok(())
    }

    /// A scripting command from the file, run as a client's would be; its reply (an error
    /// included) is dropped like every reply of the loader.
    fn run_script(&mut self, entry: &Entry, id: u16, args: &[&[u8]]) -> Result<(), String> {
        let scripts = match &mut self.scripts {
            Some(s) => s,
            None => {
                let mut conn = crate::worker::Conn::script_client()
                    .map_err(|e| format!("Can't create the client for the AOF's scripts ({e})"))?;
                conn.master = true;
                self.scripts.insert(Box::new((crate::worker::Env::for_loader(self.env_id, self.shared), conn)))
            }
        };
        let (env, conn) = &mut **scripts;
        conn.db = self.db;
        env.server_command(conn, entry, id, args, now_ms());
        conn.out.truncate(0);
        Ok(())
    }

    fn run_data(&mut self, entry: &Entry, handler: commands::Handler, args: &[&[u8]]) {
        let ks = &self.shared.ks;
        let mut wanted: Vec<(u32, u16)> = Vec::new();
        if key_positions(entry.meta, args, &mut self.key_pos).is_ok() {
            wanted.extend(self.key_pos.iter().map(|&p| (self.db, key_hash_slot(args[p]))));
        }
        self.locks.lock(ks, &mut wanted);
        self.effects.clear();
        let mut ctx = Ctx {
            ks,
            locks: &mut self.locks,
            db: self.db,
            now_ms: now_ms(),
            out: &mut self.out,
            effects: &mut self.effects,
            config: &self.config,
            may_block: false,
        };
        commands::ctx::set_obey_client(true);
        handler(&mut ctx, args);
        commands::ctx::set_obey_client(false);
        self.locks.clear();
        // Replies are dropped, errors included, as Redis's loader ignores its fake client's.
        self.out.truncate(0);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn writes_wait_for_a_running_everysec_fsync_for_two_seconds_only() {
        use std::sync::atomic::Ordering;
        let a = super::Aof::new();
        a.fsync.store(super::Fsync::EverySec as u8, Ordering::Relaxed);
        assert!(!a.flush_postponed(), "no fsync runs");
        a.fsync_in_progress.store(true, Ordering::Relaxed);
        assert!(a.flush_postponed(), "the first write waits");
        assert!(a.flush_postponed(), "and so does the next, within 2 s");
        let since = a.flush_postponed_since_ms.load(Ordering::Relaxed);
        a.flush_postponed_since_ms.store(since - 2001, Ordering::Relaxed);
        assert!(!a.flush_postponed(), "after 2 s the write goes ahead");
        assert!(!a.flush_postponed(), "and keeps going until the fsync ends");
        assert_eq!(a.delayed_fsync.load(Ordering::Relaxed), 1, "counted once (INFO aof_delayed_fsync)");
        // `always` never postpones: its replies wait for the fsync of their own write.
        a.flush_postponed_since_ms.store(0, Ordering::Relaxed);
        a.fsync.store(super::Fsync::Always as u8, Ordering::Relaxed);
        assert!(!a.flush_postponed());
    }

    use commands::{Ctx, DataConfig, Effects, Kind, Registry};
    use keyspace::{Keyspace, LockSet, Value};

    const NOW_MS: i64 = 1_700_000_000_000;

    fn run(ks: &Keyspace, reg: &Registry, config: &DataConfig, args: &[&[u8]]) -> Vec<u8> {
        let entry = reg.lookup(args).unwrap_or_else(|_| panic!("{:?}", String::from_utf8_lossy(args[0])));
        let Kind::Data(handler) = entry.kind else { panic!("not a data command") };
        let mut out = resp::ReplyBuf::new(false);
        let mut effects = Effects::default();
        let mut locks = LockSet::new();
        let mut ctx = Ctx {
            ks,
            locks: &mut locks,
            db: 0,
            now_ms: NOW_MS,
            out: &mut out,
            effects: &mut effects,
            config,
            may_block: false,
        };
        handler(&mut ctx, args);
        out.buf
    }

    /// The commands `persist::aof::encode_stream_rewrite` writes for the stream at `key`.
    fn stream_rewrite_commands(key: &[u8], stream: &keyspace::stream::Stream) -> Vec<Vec<Vec<u8>>> {
        let mut encoded = Vec::new();
        persist::aof::encode_stream_rewrite(&mut encoded, key, stream);
        let limits = resp::Limits { max_bulk_len: 1 << 20, unauthenticated: false };
        let (mut at, mut spans, mut cmds) = (0, Vec::new(), Vec::new());
        while at < encoded.len() {
            match resp::parse_request(&encoded[at..], &limits, &mut spans) {
                Ok(resp::Parsed::Multibulk { consumed }) => {
                    cmds.push(spans.iter().map(|sp| sp.of(&encoded[at..]).to_vec()).collect());
                    at += consumed;
                }
                other => panic!("the rewrite is not a command stream: {other:?}"),
            }
        }
        cmds
    }

    fn stream_of(ks: &Keyspace, key: &[u8]) -> keyspace::stream::Stream {
        let mut locks = LockSet::new();
        match locks.table(ks, 0, key).get(key, NOW_MS) {
            Some(Value::Stream(s)) => (**s).clone(),
            other => panic!("no stream at the key: {other:?}"),
        }
    }

    /// The rewrite of a stream with deletions, groups, pending entries and an idle consumer,
    /// replayed as the AOF loader replays it, rebuilds an equal stream.
    #[test]
    fn a_rewritten_stream_replays_to_the_same_stream() {
        let (reg, config) = (Registry::with_data_commands(), DataConfig::default());
        let ks = Keyspace::new(1);
        let script: &[&[&[u8]]] = &[
            &[b"XADD", b"s", b"1-1", b"a", b"1"],
            &[b"XADD", b"s", b"1-2", b"b", b"2", b"c", b"3"],
            &[b"XADD", b"s", b"2-0", b"d", b"4"],
            &[b"XADD", b"s", b"3-0", b"e", b"5"],
            &[b"XGROUP", b"CREATE", b"s", b"g1", b"0"],
            &[b"XGROUP", b"CREATE", b"s", b"g2", b"$"],
            &[b"XREADGROUP", b"GROUP", b"g1", b"alice", b"COUNT", b"2", b"STREAMS", b"s", b">"],
            &[b"XREADGROUP", b"GROUP", b"g1", b"bob", b"STREAMS", b"s", b">"],
            // Acknowledged before its entry goes: a pending entry whose stream entry was deleted
            // does not survive a rewrite, in Redis either (its XCLAIM finds no entry and drops it).
            &[b"XACK", b"s", b"g1", b"2-0", b"3-0"],
            &[b"XGROUP", b"CREATECONSUMER", b"s", b"g2", b"carol"],
            &[b"XDEL", b"s", b"3-0"],
        ];
        for args in script {
            let reply = run(&ks, &reg, &config, args);
            assert!(!reply.starts_with(b"-"), "{}", String::from_utf8_lossy(&reply));
        }
        let original = stream_of(&ks, b"s");
        let cmds = stream_rewrite_commands(b"s", &original);
        assert_eq!(cmds[0], [&b"XADD"[..], b"s", b"1-1", b"a", b"1"]);
        assert_eq!(
            cmds[3],
            [&b"XSETID"[..], b"s", b"3-0", b"ENTRIESADDED", b"4", b"MAXDELETEDID", b"3-0"],
            "XSETID keeps the deleted last entry's ID and the counters"
        );
        assert!(cmds.iter().any(|c| c[..2] == [&b"XGROUP"[..], b"CREATECONSUMER"] && c[4] == b"carol"));
        assert!(cmds.iter().any(|c| c[..2] == [&b"XGROUP"[..], b"CREATECONSUMER"] && c[4] == b"bob"));

        let replayed = Keyspace::new(1);
        commands::ctx::set_obey_client(true);
        for argv in &cmds {
            let args: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
            let reply = run(&replayed, &reg, &config, &args);
            assert!(!reply.starts_with(b"-"), "{:?}: {}", argv, String::from_utf8_lossy(&reply));
        }
        commands::ctx::set_obey_client(false);
        assert_eq!(stream_of(&replayed, b"s"), original);
    }

    /// An empty stream is rebuilt with Redis's `XADD key MAXLEN 0 0-1 x y` trick, then XSETID.
    #[test]
    fn an_empty_stream_rewrites_with_the_maxlen_zero_trick() {
        let s = keyspace::stream::Stream::new();
        let cmds = stream_rewrite_commands(b"k", &s);
        assert_eq!(cmds[0], [&b"XADD"[..], b"k", b"MAXLEN", b"0", b"0-1", b"x", b"y"]);
        assert_eq!(cmds[1], [&b"XSETID"[..], b"k", b"0-0", b"ENTRIESADDED", b"0", b"MAXDELETEDID", b"0-0"]);
        assert_eq!(cmds.len(), 2);
    }
}
