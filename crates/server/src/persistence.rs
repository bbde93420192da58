//! RDB persistence on the server side: SAVE, loading the RDB file at start-up, and saving at
//! shutdown, in Redis's file format (the `persist` crate) and with Redis's log lines.
//!
//! SAVE takes a point-in-time snapshot by holding every slot lock of every database while it
//! writes, which blocks all clients for the duration, exactly as Redis's SAVE blocks its server.
//!
//! BGSAVE takes the same point-in-time snapshot without fork() and without blocking: it starts
//! a keyspace snapshot ([`keyspace::SnapshotHook`]), after which the first lock of every slot,
//! by anyone, serializes that slot before the locker can change it. A background thread then
//! locks the slots in order (serializing those nobody touched yet) and writes the parts out.
//! Memory grows only by the serialized copies of slots written to before the thread reached
//! them, never by a copy of the whole dataset as fork's copy-on-write can.
//!
//! Files are written to a temporary file, fsynced, renamed over the target and the directory
//! fsynced, so a crash leaves either the old file or the new one, never a torn one. This module
//! never runs on the request hot path, except the hook, which serializes one slot, once.

use crate::shared::{now_ms, Shared};
use crate::{notice, warning};
use keyspace::{key_hash_slot, LockSet, SlotTable, SnapshotHook, SLOT_COUNT};
use parking_lot::Mutex;
use persist::rdb::{encode_key_entry, RdbItem, RdbReader, RdbWriter};
use persist::EncodeLimits;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64};
use std::sync::{Arc, Weak};

/// What INFO persistence reports about saves and the last load.
#[derive(Debug, Default)]
pub struct PersistState {
    pub saving: bool,
    /// Unix ms when the BGSAVE under way began.
    pub bgsave_started_ms: Option<i64>,
    pub last_bgsave_secs: i64,
    pub last_save_ok: bool,
    /// Unix seconds of the last failed save attempt (save points retry after 5 s, as Redis).
    pub last_failed_s: i64,
    pub rdb_saves: u64,
    /// BGSAVE SCHEDULE arrived while a save ran: start one when it ends.
    pub bgsave_scheduled: bool,
    pub last_load_keys_loaded: u64,
    pub last_load_keys_expired: u64,
    /// The replication info of the RDB loaded at start-up (`replication::start` takes it).
    pub loaded_repl: Option<LoadedRepl>,
    /// The running BGSAVE's snapshot, to cancel it ([`kill_bgsave`]).
    pub(crate) bgsave_snapshot: Option<Arc<SlotSnapshot>>,
}

/// What an RDB says of the replication history it was saved in (its `repl-*` aux fields).
#[derive(Debug)]
pub struct LoadedRepl {
    pub stream_db: u32,
    pub replid: String,
    pub offset: u64,
    /// Keys the file held that were past their expiry when loaded, by database. A restarted
    /// master feeds their deletion to its backlog before any replica reconnects, so a replica
    /// that partially resyncs loses them too (Redis's `RDBFLAGS_FEED_REPL`).
    pub expired: Vec<(u32, Vec<u8>)>,
}

pub fn new_state() -> Mutex<PersistState> {
    Mutex::new(PersistState { last_save_ok: true, last_bgsave_secs: -1, ..Default::default() })
}

fn encode_limits(shared: &Shared) -> (EncodeLimits, bool) {
    let cfg = shared.config.read();
    let data = cfg.data_config();
    let limits = EncodeLimits {
        compress: data.rdb_compression,
        // Whole-dataset saves only: one thread encodes everything, so a run of values that do
        // not compress says something about the next ones.
        compress_backoff: true,
        list_max_listpack_size: data.list_max_listpack_size,
        hash_max_listpack_entries: data.hash_max_listpack_entries,
        hash_max_listpack_value: data.hash_max_listpack_value,
        set_max_intset_entries: data.set_max_intset_entries,
        zset_max_listpack_entries: data.zset_max_listpack_entries,
        zset_max_listpack_value: data.zset_max_listpack_value,
        stream_node: persist::StreamNodeLimits::from_config(data.stream_node_max_bytes, data.stream_node_max_entries),
    };
    (limits, data.rdb_checksum)
}

/// Records the outcome of a BGSAVE, or of a SAVE that succeeded, as Redis does: the change counter loses the
/// changes the snapshot holds, LASTSAVE moves, and a failure blocks writes if
/// stop-writes-on-bgsave-error says so.
fn finish_save(shared: &Shared, ok: bool, dirty_at_start: u64) {
    let now = now_ms();
    let mut st = shared.persist.lock();
    st.saving = false;
    st.bgsave_snapshot = None;
    st.last_save_ok = ok;
    if let Some(started) = st.bgsave_started_ms.take() {
        st.last_bgsave_secs = (now - started) / 1000;
    }
    if ok {
        st.rdb_saves += 1;
        shared.stats.dirty.fetch_sub(dirty_at_start, Ordering::Relaxed);
        shared.lastsave_s.store(now / 1000, Ordering::Relaxed);
    } else {
        st.last_failed_s = now / 1000;
    }
    let block = !ok && shared.config.read().stop_writes_on_bgsave_error();
    shared.write_error.store(block, Ordering::Relaxed);
}

/// Redis's `rdbSave`: writes every database to `dir`/`dbfilename` with every slot locked. On
/// success resets the change counter and LASTSAVE; on failure logs why and returns the error.
pub fn save(shared: &Shared) -> std::io::Result<()> {
    {
        let mut st = shared.persist.lock();
        if st.saving {
            return Err(std::io::Error::other("a save is already in progress"));
        }
        st.saving = true;
    }
    let (limits, checksum) = encode_limits(shared);
    let path = shared.config.read().rdb_path();
    let dirty_before = shared.stats.dirty.load(Ordering::Relaxed);
    let result = write_snapshot(shared, &path, limits, checksum);
    match &result {
        Ok(keys) => notice!("DB saved on disk ({keys} keys)"),
        Err(e) => warning!("Failed saving the RDB file {}: {e}", path.display()),
    }
    if result.is_ok() {
        finish_save(shared, true, dirty_before);
    } else {
        // As Redis's rdbSave: a failed foreground save changes no status (only a failed BGSAVE
        // blocks writes with -MISCONF); the caller gets the error.
        shared.persist.lock().saving = false;
    }
    result.map(|_| ())
}

/// The forkless snapshot's state: which slots are serialized, and the parts serialized by the
/// first lockers that the writer thread has not written out yet. BGSAVE and the AOF rewrite
/// (`crate::aof`) both use it.
pub(crate) struct SlotSnapshot {
    databases: usize,
    taken: Box<[AtomicBool]>,
    /// Serialized slots waiting for the writer, by slot index.
    parts: Mutex<HashMap<usize, SlotPart>>,
    limits: EncodeLimits,
    /// `limits` without LZF, for the slots a writer serializes first: it does so in its own
    /// worker, holding the slot's lock, so it keeps that short and leaves compression to the
    /// snapshot's thread (the file holds those few slots' strings uncompressed, which any
    /// loader reads the same). Rejected: compressing there too, which cost a worker a tenth of
    /// its time during an AOF rewrite under a SET load. The snapshot's own thread (marked by
    /// [`SnapshotWriterThread`]) encodes with `limits`, `rdbcompression` included.
    first_lock_limits: EncodeLimits,
    now_ms: i64,
    /// Set by [`SlotSnapshot::cancel`]: the writer stops at its next slot (Redis kills its child).
    cancelled: AtomicBool,
    kind: SnapshotKind,
    /// Keys in the databases when the snapshot was taken (INFO's `current_save_keys_total`).
    keys_total: u64,
    /// Keys the writer has handed to its sink (`current_save_keys_processed`).
    keys_written: AtomicU64,
    /// Bytes of the slots that first lockers serialized and the writer has not written out yet:
    /// what this snapshot costs in memory beyond the dataset, where a fork costs the pages
    /// copied on write. INFO reports it as `current_cow_size`, so the same dashboards and alerts
    /// read it. Rejected: counting every byte first lockers ever serialized, which keeps growing
    /// after the writer has freed them and so overstates the memory a save needs.
    held_bytes: AtomicU64,
    /// The most `held_bytes` reached (`current_cow_peak`; the last save's `rdb_last_cow_size` /
    /// `aof_last_cow_size`).
    held_peak_bytes: AtomicU64,
}

/// One slot, serialized by a first locker other than the snapshot's writer, waiting for the
/// writer (its bytes are counted in `held_bytes`).
struct SlotPart {
    bytes: Vec<u8>,
    keys: u64,
}

/// Which of Redis's child types a snapshot stands in for: where INFO reports its copies once it
/// succeeds (`rdb_last_cow_size` for BGSAVE and full syncs, `aof_last_cow_size` for rewrites).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SnapshotKind {
    Rdb,
    Aof,
}

/// The running snapshot, for INFO's progress fields (the keyspace runs one at a time). Weak: INFO
/// must not keep a finished snapshot's parts alive.
static RUNNING: Mutex<Option<Weak<SlotSnapshot>>> = Mutex::new(None);
/// The peak copies of the last successful snapshot of each kind (`rdb_last_cow_size`,
/// `aof_last_cow_size`).
static LAST_RDB_COPIES_BYTES: AtomicU64 = AtomicU64::new(0);
static LAST_AOF_COPIES_BYTES: AtomicU64 = AtomicU64::new(0);

/// A running snapshot's progress, as INFO persistence's `current_*` fields report a child's.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SaveProgress {
    pub copies_bytes: u64,
    pub copies_peak_bytes: u64,
    pub keys_written: u64,
    pub keys_total: u64,
}

impl SaveProgress {
    /// `current_fork_perc`: the share of the keys written, as Redis computes it from its child's
    /// reports.
    pub fn percent(&self) -> f64 {
        if self.keys_total == 0 {
            return 0.0;
        }
        // Capped: a count that skipped a held slot can be below what gets written.
        (self.keys_written as f64 * 100.0 / self.keys_total as f64).min(100.0)
    }
}

/// The running snapshot's progress, zero when none runs.
pub(crate) fn save_progress() -> SaveProgress {
    let Some(s) = RUNNING.lock().as_ref().and_then(Weak::upgrade) else { return SaveProgress::default() };
    SaveProgress {
        copies_bytes: s.held_bytes.load(Ordering::Relaxed),
        copies_peak_bytes: s.held_peak_bytes.load(Ordering::Relaxed),
        keys_written: s.keys_written.load(Ordering::Relaxed),
        keys_total: s.keys_total,
    }
}

/// The peak copies of the last successful snapshot of `kind`.
pub(crate) fn last_copies_bytes(kind: SnapshotKind) -> u64 {
    match kind {
        SnapshotKind::Rdb => LAST_RDB_COPIES_BYTES.load(Ordering::Relaxed),
        SnapshotKind::Aof => LAST_AOF_COPIES_BYTES.load(Ordering::Relaxed),
    }
}

impl SlotSnapshot {
    /// Asks the thread writing this snapshot to stop and fail with `ErrorKind::Interrupted`; its
    /// temp file is removed. What Redis does by killing the saving child (CONFIG SET appendonly no
    /// during a rewrite).
    pub(crate) fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
    }

    /// Unix ms the snapshot was taken at.
    pub(crate) fn now_ms(&self) -> i64 {
        self.now_ms
    }

    fn check_cancelled(&self) -> std::io::Result<()> {
        if self.cancelled.load(Ordering::Acquire) {
            return Err(std::io::Error::new(std::io::ErrorKind::Interrupted, "cancelled"));
        }
        Ok(())
    }

    /// A snapshot of every database, not started yet ([`SlotSnapshot::start`]). Counts the keys
    /// for INFO's `current_save_keys_total`; the caller may hold slot locks (BGSAVE inside EXEC
    /// holds its keys' slots), so a slot whose lock stays taken for a millisecond is left out of
    /// the count. Rejected: `Db::len`, which waited forever on a lock this thread held.
    pub(crate) fn new(shared: &Shared, now_ms: i64, kind: SnapshotKind) -> (Arc<SlotSnapshot>, bool) {
        let (limits, checksum) = encode_limits(shared);
        let databases = shared.ks.db_count();
        let wait = std::time::Duration::from_millis(1);
        let keys_total = (0..databases)
            .filter_map(|d| shared.ks.db_if_used(d))
            .map(|db| db.len_not_waiting_on_held_slots(wait) as u64)
            .sum();
        let snapshot = Arc::new(SlotSnapshot {
            databases,
            taken: (0..databases * SLOT_COUNT).map(|_| AtomicBool::new(false)).collect(),
            parts: Mutex::new(HashMap::new()),
            first_lock_limits: EncodeLimits { compress: false, ..limits.clone() },
            limits,
            now_ms,
            cancelled: AtomicBool::new(false),
            kind,
            keys_total,
            keys_written: AtomicU64::new(0),
            held_bytes: AtomicU64::new(0),
            held_peak_bytes: AtomicU64::new(0),
        });
        (snapshot, checksum)
    }

    /// Installs the snapshot in the keyspace ([`keyspace::Keyspace::start_snapshot`]) and makes
    /// it the one INFO reports on. False if another snapshot runs.
    pub(crate) fn start(self: &Arc<Self>, ks: &keyspace::Keyspace) -> bool {
        if !ks.start_snapshot(self.clone()) {
            return false;
        }
        *RUNNING.lock() = Some(Arc::downgrade(self));
        true
    }

    /// Removes the snapshot from the keyspace; if it was written whole (`ok`), its peak copies
    /// become the last save's (`rdb_last_cow_size` or `aof_last_cow_size`), as a child reports
    /// its copy-on-write only after a successful save.
    pub(crate) fn end(self: &Arc<Self>, ks: &keyspace::Keyspace, ok: bool) {
        ks.end_snapshot();
        let mut running = RUNNING.lock();
        if running.as_ref().is_some_and(|w| std::ptr::eq(w.as_ptr(), Arc::as_ptr(self))) {
            *running = None;
        }
        drop(running);
        if ok {
            let peak = self.held_peak_bytes.load(Ordering::Relaxed);
            match self.kind {
                SnapshotKind::Rdb => LAST_RDB_COPIES_BYTES.store(peak, Ordering::Relaxed),
                SnapshotKind::Aof => LAST_AOF_COPIES_BYTES.store(peak, Ordering::Relaxed),
            }
        }
    }

    fn index(&self, db: u32, slot: u16) -> Option<usize> {
        ((db as usize) < self.databases).then(|| db as usize * SLOT_COUNT + slot as usize)
    }
}

thread_local! {
    /// Set while this thread writes a snapshot out (`write_parts`): the slots it reaches first
    /// it serializes itself, with the snapshot's full limits.
    static SNAPSHOT_WRITER: Cell<bool> = const { Cell::new(false) };
    /// The slot index the writer's last lock reached first: the hook leaves it to the writer,
    /// which encodes it straight into the file's buffer while it still holds the lock.
    static WRITER_FIRST: Cell<Option<usize>> = const { Cell::new(None) };
    /// A first locker's encoding buffer, reused from slot to slot so a part is allocated once
    /// at its final size. Rejected: a part grown from a guess, which reallocated (copying
    /// the part) two or three times per slot in the worker that happened to touch it.
    static PART_SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The most a first locker's scratch buffer keeps between slots: one slot holding a huge key
/// must not leave a worker holding its size for good.
const PART_SCRATCH_KEEP_BYTES: usize = 1 << 20;

/// Marks the calling thread as a snapshot's writer while it lives.
struct SnapshotWriterThread;

impl SnapshotWriterThread {
    fn begin() -> SnapshotWriterThread {
        SNAPSHOT_WRITER.with(|w| w.set(true));
        SnapshotWriterThread
    }
}

impl Drop for SnapshotWriterThread {
    fn drop(&mut self) {
        SNAPSHOT_WRITER.with(|w| w.set(false));
        // The compressor's buffers go with the snapshot, not with the thread: a full sync's
        // thread outlives it, and their ~200 KB showed in used_memory as it ended (Redis's
        // "replica buffer don't induce eviction" test saw the drop).
        persist::release_thread_buffers();
    }
}

impl std::fmt::Debug for SlotSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlotSnapshot").field("now_ms", &self.now_ms).finish_non_exhaustive()
    }
}

impl SnapshotHook for SlotSnapshot {
    fn on_first_lock(&self, db: u32, slot: u16, table: &SlotTable) {
        let Some(i) = self.index(db, slot) else { return };
        if self.taken[i].swap(true, Ordering::AcqRel) {
            return;
        }
        if SNAPSHOT_WRITER.with(Cell::get) {
            WRITER_FIRST.with(|w| w.set(Some(i)));
            return;
        }
        if table.is_empty() {
            return;
        }
        let (bytes, keys) = PART_SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            scratch.clear();
            let keys = encode_slot(&mut scratch, table, &self.first_lock_limits);
            let bytes = scratch.as_slice().to_vec();
            if scratch.capacity() > PART_SCRATCH_KEEP_BYTES {
                *scratch = Vec::new();
            }
            (bytes, keys)
        });
        let held = self.held_bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed) + bytes.len() as u64;
        self.held_peak_bytes.fetch_max(held, Ordering::Relaxed);
        self.parts.lock().insert(i, SlotPart { bytes, keys });
    }
}

/// Appends every key of `table` as an RDB key entry; returns how many. Keys past their expiry
/// but not yet removed are written too, as Redis's rdbSaveRio does: whoever loads the file
/// decides (a master drops them and, restarted, feeds their deletion to its replicas; a replica
/// keeps them until its master's DEL arrives).
fn encode_slot(out: &mut Vec<u8>, table: &SlotTable, limits: &EncodeLimits) -> u64 {
    let mut keys = 0u64;
    for (key, value) in table.iter_prefetching() {
        let expire = table.expire_at(key.as_bytes());
        encode_key_entry(out, key.as_bytes(), value, expire, limits);
        keys += 1;
    }
    keys
}

/// Redis's `killRDBChild`: stops a running BGSAVE (its temp file is removed, and it does not count
/// as a failed save) and waits until it has stopped. FLUSHALL does this: the snapshot would save
/// data that no longer exists.
pub fn kill_bgsave(shared: &Shared) {
    let Some(snapshot) = shared.persist.lock().bgsave_snapshot.clone() else { return };
    snapshot.cancel();
    for _ in 0..10_000 {
        if !shared.persist.lock().saving {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// Redis's `rdbSaveBackground`: starts a forkless snapshot and a thread that writes it.
/// Err with Redis's reply text if one is already running.
pub fn bgsave(shared: &'static Shared) -> Result<(), &'static str> {
    let now = now_ms();
    {
        let mut st = shared.persist.lock();
        if st.saving {
            return Err("ERR Background save already in progress");
        }
        // The AOF rewrite holds the keyspace's one snapshot (Redis: its one child process).
        if crate::aof::rewrite_in_progress() {
            return Err("ERR Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.");
        }
        st.saving = true;
        st.bgsave_started_ms = Some(now);
    }
    let (snapshot, checksum) = SlotSnapshot::new(shared, now, SnapshotKind::Rdb);
    let databases = shared.ks.db_count();
    let used: Vec<u32> = (0..databases).filter(|&d| shared.ks.db_if_used(d).is_some()).map(|d| d as u32).collect();
    let dirty_at_start = shared.stats.dirty.load(Ordering::Relaxed);
    if !snapshot.start(&shared.ks) {
        shared.persist.lock().saving = false;
        return Err("ERR Background save already in progress");
    }
    shared.persist.lock().bgsave_snapshot = Some(snapshot.clone());
    let spawned = std::thread::Builder::new().name("bgsave".into()).spawn(move || {
        let path = shared.config.read().rdb_path();
        let delay_us = shared.config.read().rdb_key_save_delay_us().max(0) as u64;
        let result = write_background_snapshot(shared, &snapshot, &used, &path, checksum, delay_us, false);
        snapshot.end(&shared.ks, result.is_ok());
        match &result {
            Ok(keys) => {
                notice!("DB saved on disk ({keys} keys)");
                notice!("Background saving terminated with success");
            }
            // Cancelled (kill_bgsave): as Redis's child killed with SIGUSR1, not an error that
            // stops writes.
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                warning!("Background saving terminated by signal 10");
                let ok_before = shared.persist.lock().last_save_ok;
                finish_save(shared, false, dirty_at_start);
                let mut st = shared.persist.lock();
                st.last_save_ok = ok_before;
                shared
                    .write_error
                    .store(!ok_before && shared.config.read().stop_writes_on_bgsave_error(), Ordering::Relaxed);
                return;
            }
            Err(e) => warning!("Background saving error: {e}"),
        }
        finish_save(shared, result.is_ok(), dirty_at_start);
    });
    if spawned.is_err() {
        shared.ks.end_snapshot();
        finish_save(shared, false, 0);
        return Err("ERR");
    }
    notice!("Background saving started");
    Ok(())
}

/// Locks every slot of the databases in `used` in order (which serializes the slots nobody
/// touched yet) and writes the parts out as an RDB file (an AOF base file with `aof_base`).
pub(crate) fn write_background_snapshot(
    shared: &Shared,
    snapshot: &SlotSnapshot,
    used: &[u32],
    path: &Path,
    checksum: bool,
    delay_us: u64,
    aof_base: bool,
) -> std::io::Result<u64> {
    let mut out = TempFile::create(path, if aof_base { "temp-rewriteaof-bg" } else { "temp-bgsave" })?;
    let how = PartsOptions { checksum, delay_us, aof_base, stop: &|| false };
    let keys = write_parts(shared, snapshot, used, &how, &mut |b| out.write_all(b))?;
    out.commit()?;
    Ok(keys)
}

/// The snapshot as an RDB image handed to `sink` piece by piece (a replica's socket for a
/// diskless sync, a file otherwise), as [`write_background_snapshot`] writes it. `stop` is asked
/// between slots and during `delay_us` waits: true ends the write with `Interrupted` (the
/// replica went away; otherwise a slowed-down transfer would hold the one snapshot to the end).
pub(crate) fn write_snapshot_to(
    shared: &Shared,
    snapshot: &SlotSnapshot,
    used: &[u32],
    checksum: bool,
    delay_us: u64,
    stop: &dyn Fn() -> bool,
    sink: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
) -> std::io::Result<u64> {
    write_parts(shared, snapshot, used, &PartsOptions { checksum, delay_us, aof_base: false, stop }, sink)
}

/// How much a snapshot's writer encodes before handing it to its sink: large enough that the
/// file's buffered writer passes it straight to write(2) rather than copying it first.
const WRITE_CHUNK_BYTES: usize = 1 << 20;

/// How [`write_parts`] writes: with a checksum, slowed by `delay_us` a key, as an AOF base, and
/// until `stop` says otherwise.
struct PartsOptions<'a> {
    checksum: bool,
    delay_us: u64,
    aof_base: bool,
    stop: &'a dyn Fn() -> bool,
}

fn write_parts(
    shared: &Shared,
    snapshot: &SlotSnapshot,
    used: &[u32],
    how: &PartsOptions,
    sink: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
) -> std::io::Result<u64> {
    let PartsOptions { checksum, delay_us, aof_base, stop } = *how;
    let _writer = SnapshotWriterThread::begin();
    let go_on = || -> std::io::Result<()> {
        snapshot.check_cancelled()?;
        if stop() {
            return Err(std::io::Error::new(std::io::ErrorKind::Interrupted, "stopped"));
        }
        Ok(())
    };
    let mut w = RdbWriter::new(snapshot.limits.clone(), checksum);
    write_aux(&mut w, snapshot.now_ms, aof_base);
    write_functions(&mut w);
    let mut keys = 0u64;
    for &d in used {
        let mut selected = false;
        if shared.ks.db_if_used(d as usize).is_none() {
            continue;
        }
        for s in 0..SLOT_COUNT as u16 {
            go_on()?;
            let Some(i) = snapshot.index(d, s) else { continue };
            let table = shared.ks.db(d as usize).lock_slot(s);
            let n = if WRITER_FIRST.with(Cell::take) == Some(i) {
                // Reached first by this thread: encoded straight into the file's buffer under
                // the slot's lock (the lock is what keeps the slot as it was at the start).
                if table.is_empty() {
                    continue;
                }
                if !selected {
                    w.select(d as u64);
                    selected = true;
                }
                let n = w.encode_with(|out, limits| encode_slot(out, &table, limits));
                drop(table);
                // A slowed-down save (rdb-key-save-delay, a test knob) hands out each slot as
                // it goes, as before: tests watch a transfer's bytes arrive while it runs.
                if w.buffered_len() >= WRITE_CHUNK_BYTES || delay_us > 0 {
                    w.drain_to(sink)?;
                }
                n
            } else {
                drop(table);
                let Some(SlotPart { bytes, keys: n }) = snapshot.parts.lock().remove(&i) else { continue };
                if !selected {
                    w.select(d as u64);
                    selected = true;
                }
                w.emit_encoded(&bytes, sink)?;
                snapshot.held_bytes.fetch_sub(bytes.len() as u64, Ordering::Relaxed);
                n
            };
            keys += n;
            snapshot.keys_written.fetch_add(n, Ordering::Relaxed);
            if delay_us > 0 {
                // rdb-key-save-delay (a test knob) can ask for seconds per key: slept in short steps so
                // a cancel is seen promptly.
                let until = std::time::Instant::now() + std::time::Duration::from_micros(delay_us.saturating_mul(n));
                while let Some(left) = until.checked_duration_since(std::time::Instant::now()) {
                    go_on()?;
                    std::thread::sleep(left.min(std::time::Duration::from_millis(10)));
                }
            }
        }
    }
    sink(&w.finish())?;
    Ok(keys)
}

/// A file written beside its target and moved over it only once complete and on disk: temp
/// file, fsync, rename, fsync of the directory. A crash leaves the old file or the new one; a
/// save that fails or is cancelled removes its temp file when dropped, as Redis's parent removes
/// a failed child's.
struct TempFile {
    /// None once committed.
    out: Option<std::io::BufWriter<std::fs::File>>,
    temp: std::path::PathBuf,
    target: std::path::PathBuf,
}

impl TempFile {
    fn create(target: &Path, prefix: &str) -> std::io::Result<TempFile> {
        let temp = dir_of(target).join(format!("{prefix}-{}.rdb", std::process::id()));
        let out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&temp)?);
        Ok(TempFile { out: Some(out), temp, target: target.to_path_buf() })
    }

    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match &mut self.out {
            Some(out) => out.write_all(bytes),
            None => Err(std::io::Error::other("temp file already committed")),
        }
    }

    fn commit(mut self) -> std::io::Result<()> {
        let Some(out) = self.out.take() else { return Err(std::io::Error::other("temp file already committed")) };
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&self.temp, &self.target)?;
        std::fs::File::open(dir_of(&self.target))?.sync_all()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.out.take().is_some() {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

fn dir_of(path: &Path) -> &Path {
    path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// The RDB's auxiliary fields, in Redis 7.0's order. `repl` is (stream db, replid, offset):
/// Redis's `rdbSaveInfo`, written only by SAVE (and the final save at shutdown), whose
/// snapshot is taken at an exact replication offset; a background snapshot's offset is not
/// pinned to its data, and a wrong offset would let a restarted replica skip or repeat writes.
fn write_aux(w: &mut RdbWriter, now_ms: i64, aof_base: bool) {
    write_aux_repl(w, now_ms, aof_base, None)
}

fn write_aux_repl(w: &mut RdbWriter, now_ms: i64, aof_base: bool, repl: Option<(u32, String, u64)>) {
    w.aux(b"redis-ver", crate::info::REDIS_VERSION.as_bytes());
    w.aux(b"redis-bits", b"64");
    w.aux(b"ctime", (now_ms / 1000).to_string().as_bytes());
    w.aux(b"used-mem", b"0");
    if let Some((db, id, offset)) = repl {
        w.aux(b"repl-stream-db", db.to_string().as_bytes());
        w.aux(b"repl-id", id.as_bytes());
        w.aux(b"repl-offset", offset.to_string().as_bytes());
    }
    w.aux(b"aof-base", if aof_base { b"1" } else { b"0" });
}

/// The function libraries, after the aux fields and before the databases, as Redis's
/// rdbSaveFunctions. A background snapshot reads them when it starts writing, after its
/// barrier: a FUNCTION LOAD / DELETE / FLUSH in between is both in the file and in the stream
/// that follows it, and replaying it there converges (a LOAD of a library present, a DELETE of
/// one absent, fail and change nothing). Rejected: reading them when the snapshot is created,
/// before the barrier, which would lose a change made in between from both.
fn write_functions(w: &mut RdbWriter) {
    for lib in crate::scripting::functions::library_codes() {
        w.function(&lib.code);
    }
}

/// Redis's save points (`save <seconds> <changes>`), checked from a worker's timer: starts a
/// BGSAVE when enough changes are older than their time, retrying a failed one after 5 s.
pub fn cron(shared: &'static Shared, now_ms: i64) {
    let scheduled = {
        let mut st = shared.persist.lock();
        let go = st.bgsave_scheduled && !st.saving && !crate::aof::rewrite_in_progress();
        if go {
            st.bgsave_scheduled = false;
        }
        go
    };
    if scheduled {
        let _ = bgsave(shared);
        return;
    }
    let params = shared.config.read().save_params();
    if params.is_empty() {
        return;
    }
    let (due, failed_recently) = {
        let st = shared.persist.lock();
        if st.saving {
            return;
        }
        let now_s = now_ms / 1000;
        let since_save = now_s - shared.lastsave_s.load(Ordering::Relaxed);
        let dirty = shared.stats.dirty.load(Ordering::Relaxed) as i64;
        let due = params.iter().find(|&&(secs, changes)| dirty >= changes && since_save >= secs).copied();
        (due, !st.last_save_ok && now_s - st.last_failed_s < 5)
    };
    if let Some((secs, changes)) = due {
        if failed_recently {
            return;
        }
        notice!("{changes} changes in {secs} seconds. Saving...");
        let _ = bgsave(shared);
    }
}

/// Writes the snapshot with every slot locked; returns how many keys it holds.
fn write_snapshot(shared: &Shared, path: &Path, limits: EncodeLimits, checksum: bool) -> std::io::Result<u64> {
    let mut out = TempFile::create(path, "temp")?;
    let now = now_ms();
    let mut w = RdbWriter::new(limits, checksum);
    let used: Vec<u32> =
        (0..shared.ks.db_count()).filter(|&d| shared.ks.db_if_used(d).is_some()).map(|d| d as u32).collect();
    let mut wanted: Vec<(u32, u16)> = used.iter().flat_map(|&d| (0..SLOT_COUNT as u16).map(move |s| (d, s))).collect();
    // On a replica the master client appends a command's bytes to the stream after its slot
    // locks are released, under the apply lock: holding it too makes the offset match the data.
    let apply = crate::replication::apply_lock();
    let mut locks = LockSet::new();
    locks.lock(&shared.ks, &mut wanted);
    write_aux_repl(&mut w, now, false, crate::replication::save_info(shared));
    write_functions(&mut w);
    let mut keys = 0u64;
    // rdb-key-save-delay (a test knob) slows SAVE too, as Redis's rdbSaveKeyValuePair does for
    // every save: tests watch a shutdown's save while it runs.
    let delay_us = shared.config.read().rdb_key_save_delay_us().max(0) as u64;
    for &d in &used {
        let (mut n, mut with_expiry) = (0u64, 0u64);
        for s in 0..SLOT_COUNT as u16 {
            if let Some(t) = locks.held(d, s) {
                n += t.len() as u64;
                with_expiry += t.expires_len() as u64;
            }
        }
        if n == 0 {
            continue;
        }
        w.select_db(d as u64, n, with_expiry);
        for s in 0..SLOT_COUNT as u16 {
            let Some(t) = locks.held(d, s) else { continue };
            for (key, value) in t.iter_prefetching() {
                // Expired keys are written too (see `SlotSnapshot::on_first_lock`).
                let expire = t.expire_at(key.as_bytes());
                w.key(key.as_bytes(), value, expire);
                keys += 1;
                if delay_us > 0 {
                    std::thread::sleep(std::time::Duration::from_micros(delay_us));
                }
            }
            out.write_all(&w.take_bytes())?;
        }
    }
    drop(locks);
    drop(apply);
    out.write_all(&w.finish())?;
    out.commit()?;
    Ok(keys)
}

/// Redis's log line for an RDB image that failed to decode where `reader` stopped.
pub(crate) fn rdb_error_text(e: &persist::FormatError, reader: &RdbReader<'_>) -> String {
    use persist::FormatError;
    let reason = match (e, reader.object_type()) {
        (FormatError::Truncated, _) => "Short read or OOM loading DB. Unrecoverable error, aborting now.".to_string(),
        (FormatError::Checksum { .. }, _) | (_, None) => format!("{e}."),
        (_, Some(object_type)) => persist::corruption_reason(object_type, e),
    };
    format!("Internal error in RDB reading offset {}, function at rdb.c:0 -> {reason}", reader.position())
}

/// An RDB image that could not be decoded, with Redis's words for why (`rdbReportError`).
/// A load stopped because shutdown was asked for meanwhile: start-up ends cleanly.
#[derive(Debug)]
pub struct ShutdownDuringLoad;

impl std::fmt::Display for ShutdownDuringLoad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("shutdown requested during loading")
    }
}

impl std::error::Error for ShutdownDuringLoad {}

#[derive(Debug)]
pub struct RdbCorrupt(pub String);

impl std::fmt::Display for RdbCorrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RdbCorrupt {}

/// Where the load under way is, for INFO's `loading_*` fields (Redis's `loading_start_time`,
/// `loading_total_bytes`, `loading_loaded_bytes`). Written by the one loading thread, read by
/// INFO; plain atomics, since a reader seeing one field a step behind another is harmless.
pub struct LoadProgress {
    start_s: AtomicI64,
    total_bytes: AtomicU64,
    loaded_bytes: AtomicU64,
    /// Start-up only: once this many bytes are loaded, `open_listeners` runs (see
    /// [`LoadProgress::begin_startup`]); u64::MAX when nothing waits.
    open_at_bytes: AtomicU64,
    open_listeners: Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

pub static LOAD_PROGRESS: LoadProgress = LoadProgress {
    start_s: AtomicI64::new(0),
    total_bytes: AtomicU64::new(0),
    loaded_bytes: AtomicU64::new(0),
    open_at_bytes: AtomicU64::new(u64::MAX),
    open_listeners: Mutex::new(None),
};

impl LoadProgress {
    /// A load of `total_bytes` (the file's size, or the sum of the AOF's files) starts now.
    pub fn begin(&self, total_bytes: u64) {
        self.start_s.store(now_ms() / 1000, Ordering::Relaxed);
        self.total_bytes.store(total_bytes, Ordering::Relaxed);
        self.loaded_bytes.store(0, Ordering::Relaxed);
    }

    pub fn loaded(&self) -> u64 {
        self.loaded_bytes.load(Ordering::Relaxed)
    }

    pub fn set_loaded(&self, bytes: u64) {
        self.loaded_bytes.store(bytes, Ordering::Relaxed);
        if bytes >= self.open_at_bytes.load(Ordering::Relaxed) {
            self.open_now();
        }
    }

    /// The start-up load: clients are let in once `interval_bytes` are loaded (or when
    /// [`LoadProgress::open_now`] is called at the end), by `open_listeners`. Redis's loader
    /// first processes events after `loading-process-events-interval-bytes` (2 MB): a
    /// connection made during a shorter load waits and is then served normally, never
    /// -LOADING. Rejected: serving from the first byte, which turned every start-up into a
    /// LOADING window that clients connecting right away (tests, `--cluster up`) had to ride.
    pub fn begin_startup(&self, total_bytes: u64, interval_bytes: u64, open_listeners: Box<dyn FnOnce() + Send>) {
        *self.open_listeners.lock() = Some(open_listeners);
        self.open_at_bytes.store(interval_bytes, Ordering::Relaxed);
        self.begin(total_bytes);
    }

    /// Lets clients in now, if they are not yet.
    pub fn open_now(&self) {
        self.open_at_bytes.store(u64::MAX, Ordering::Relaxed);
        let open = self.open_listeners.lock().take();
        if let Some(open) = open {
            open();
        }
    }

    /// INFO's lines while loading, computed as Redis's genRedisInfoString does (a one-second
    /// ETA until a second has passed).
    pub fn info_fields(&self) -> String {
        let (start_s, total, loaded) = (
            self.start_s.load(Ordering::Relaxed),
            self.total_bytes.load(Ordering::Relaxed),
            self.loaded_bytes.load(Ordering::Relaxed).min(self.total_bytes.load(Ordering::Relaxed)),
        );
        let (perc, remaining) =
            if total > 0 { (loaded as f64 / total as f64 * 100.0, total - loaded) } else { (0.0, 1) };
        let elapsed = now_ms() / 1000 - start_s;
        let eta = if elapsed <= 0 { 1 } else { (elapsed as u64 * remaining / (loaded + 1)) as i64 };
        format!(
            "loading_start_time:{start_s}\r\nloading_total_bytes:{total}\r\nloading_rdb_used_mem:0\r\nloading_loaded_bytes:{loaded}\r\nloading_loaded_perc:{perc:.2}\r\nloading_eta_seconds:{eta}\r\n"
        )
    }
}

/// Files a start-up load reads, for the progress total: the RDB file, or with the AOF on, the
/// AOF directory's files (an estimate is enough: it only feeds INFO's percentage).
pub fn startup_load_bytes(shared: &Shared) -> u64 {
    let cfg = shared.config.read();
    if cfg.appendonly() {
        std::fs::read_dir(cfg.aof_dir())
            .map(|entries| entries.flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum())
            .unwrap_or(0)
    } else {
        std::fs::metadata(cfg.rdb_path()).map(|m| m.len()).unwrap_or(0)
    }
}

/// Redis's `rdbLoad` at start-up: fills the keyspace from the RDB file if there is one. Keys
/// whose expiry has passed are dropped by a master and kept by a replica (see `load_file`). A
/// file that cannot be read whole is an error: the caller stops start-up rather than run with
/// part of the data.
pub fn load_at_startup(shared: &Shared) -> anyhow::Result<()> {
    let path = shared.config.read().rdb_path();
    match std::fs::metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        _ => load_file(shared, false).inspect_err(|e| {
            if let Some(RdbCorrupt(text)) = e.downcast_ref::<RdbCorrupt>() {
                // As Redis's rdbReportError while loading a file: the error, then the RDB
                // checker's report on the file (on stdout, as redis-check-rdb prints it); the
                // caller then stops start-up.
                warning!("{text}");
                if let Ok(bytes) = std::fs::read(&path) {
                    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                    crate::check_aof::check_rdb(&name, &bytes);
                }
                warning!("Terminating server after rdb file reading failure.");
            }
        }),
    }
}

/// Loads the RDB file into the keyspace. With `merge`, a key already present is replaced
/// (DEBUG RELOAD MERGE); without it, a key seen twice is an error, as in Redis.
pub fn load_file(shared: &Shared, merge: bool) -> anyhow::Result<()> {
    let path = shared.config.read().rdb_path();
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => anyhow::bail!("Fatal error loading the DB: {e}. Exiting."),
    };
    let started = std::time::Instant::now();
    // A replica keeps keys whose time has passed (Redis's `iAmMaster()` test): its master's
    // stream may still name them, and the master's DEL removes them. At start-up the role is
    // the one the configuration or nodes.conf gives; replication has not started yet.
    let replica = crate::replication::is_replica()
        || shared.config.read().replicaof().is_some()
        || shared.cluster.as_ref().is_some_and(|c| c.myself_is_replica());
    load_rdb_bytes(shared, &bytes, merge, replica)?;
    notice!("DB loaded from disk: {:.3} seconds", started.elapsed().as_secs_f64());
    Ok(())
}

/// Loads an RDB image (a file, or an AOF's RDB base / preamble) into the keyspace and returns
/// where it ended (the AOF tail of an old-style preamble file follows). With `keep_expired`
/// (an AOF base, as Redis's RDBFLAGS_AOF_PREAMBLE) keys whose time passed are kept: the AOF
/// that follows holds their deletion, and replaying it must find them.
/// Redis's debugDelay: sleeps `us` microseconds, or for a negative -n, 1 µs on one call in n
/// (a short sleep costs a context switch whatever its length, so short ones are spread out).
fn debug_delay(us: i64) {
    let us = if us < 0 { u64::from(rand::random_range(0..us.unsigned_abs()) == 0) } else { us as u64 };
    if us > 0 {
        std::thread::sleep(std::time::Duration::from_micros(us));
    }
}

pub fn load_rdb_bytes(shared: &Shared, bytes: &[u8], merge: bool, keep_expired: bool) -> anyhow::Result<usize> {
    let now = now_ms();
    let mut reader = RdbReader::new(bytes)
        .map_err(|e| anyhow::anyhow!("Wrong signature or version trying to load DB from file: {e}"))?;
    let (mut loaded, mut expired, mut empty_skipped) = (0u64, 0u64, 0u64);
    let mut db = 0usize;
    let (mut repl_db, mut repl_id, mut repl_offset) = (None, None, None);
    let mut expired_keys: Vec<(u32, Vec<u8>)> = Vec::new();
    let key_load_delay_us = shared.config.read().key_load_delay_us();
    let progress_base = LOAD_PROGRESS.loaded();
    loop {
        let item = reader.next_item().map_err(|e| anyhow::Error::new(RdbCorrupt(rdb_error_text(&e, &reader))))?;
        let Some(item) = item else { break };
        match item {
            RdbItem::Aux { key, value } => match key.as_slice() {
                b"redis-ver" => notice!("Loading RDB produced by version {}", String::from_utf8_lossy(&value)),
                b"repl-stream-db" => repl_db = String::from_utf8_lossy(&value).parse::<u32>().ok(),
                b"repl-id" if value.len() == 40 => repl_id = Some(String::from_utf8_lossy(&value).into_owned()),
                b"repl-offset" => repl_offset = String::from_utf8_lossy(&value).parse::<u64>().ok(),
                b"ctime" => {
                    let ctime: i64 = String::from_utf8_lossy(&value).parse().unwrap_or(now / 1000);
                    notice!("RDB age {} seconds", (now / 1000 - ctime).max(0));
                }
                _ => {}
            },
            RdbItem::SelectDb(d) => {
                if d >= shared.ks.db_count() as u64 {
                    anyhow::bail!("FATAL: Data file was created with a Redis server configured to handle more than {} databases. Exiting", shared.ks.db_count());
                }
                db = d as usize;
            }
            RdbItem::ResizeDb { .. } => {}
            RdbItem::EmptyKey(key) => {
                // As Redis 7.0's rdbLoad: logged (the first ten) and skipped.
                if empty_skipped < 10 {
                    warning!("rdbLoadObject skipping empty key: {}", String::from_utf8_lossy(&key));
                }
                empty_skipped += 1;
            }
            RdbItem::Function(code) => {
                // As Redis's rdbFunctionLoad: a library already present is an error, unless the
                // load merges (DEBUG RELOAD MERGE), which replaces it.
                if let Err(e) = crate::scripting::functions::load_from_rdb(&code, merge) {
                    anyhow::bail!("Failed loading library, {e}");
                }
            }
            RdbItem::Key { key, value, expire_at_ms } => {
                if !keep_expired && expire_at_ms.is_some_and(|at| at <= now) {
                    expired += 1;
                    // The aux fields come before the first key: only a file with a history
                    // to resume needs the names.
                    if repl_id.is_some() && repl_offset.is_some() {
                        expired_keys.push((db as u32, key.to_vec()));
                    }
                    continue;
                }
                let mut t = shared.ks.db(db).lock_slot(key_hash_slot(&key));
                if !merge && t.contains(&key, now) {
                    anyhow::bail!("RDB has duplicated key '{}' in DB {db}", String::from_utf8_lossy(&key));
                }
                t.set(&key, value);
                if let Some(at) = expire_at_ms {
                    t.set_expire(&key, at);
                }
                loaded += 1;
                drop(t);
                LOAD_PROGRESS.set_loaded(progress_base + reader.position() as u64);
                // SHUTDOWN or SIGTERM during a start-up load: the rest is not read (Redis
                // exits from its loading loop; nothing half-loaded is ever saved).
                if shared.shutdown.load(Ordering::Relaxed) {
                    anyhow::bail!(ShutdownDuringLoad);
                }
                debug_delay(key_load_delay_us);
            }
        }
    }
    if empty_skipped > 0 {
        warning!(
            "Done loading RDB, keys loaded: {loaded}, keys expired: {expired}, empty keys skipped: {empty_skipped}."
        );
    } else {
        notice!("Done loading RDB, keys loaded: {loaded}, keys expired: {expired}.");
    }
    if let (Some(replid), Some(offset)) = (repl_id, repl_offset) {
        shared.persist.lock().loaded_repl =
            Some(LoadedRepl { stream_db: repl_db.unwrap_or(0), replid, offset, expired: expired_keys });
    }
    let mut st = shared.persist.lock();
    st.last_load_keys_loaded = loaded;
    st.last_load_keys_expired = expired;
    Ok(reader.position())
}
