//! The data: databases split into 16384 per-slot tables, each behind its own lock, the value
//! types, expiry, and each key's access clock (LRU / LFU, for the maxmemory policies).
//!
//! This crate owns where keys live and how they are found, locked and expired. It never does
//! I/O, never reads a clock (callers pass `now_ms`) and never formats replies: commands build on
//! it. Locks are always taken in ascending (db, slot) order, which is what makes multi-key
//! commands and transactions deadlock-free; [`LockSet`] enforces that order.

pub mod access;
mod compact_map;
mod sds;
mod slot;
pub mod stream;
mod table;
pub mod value;

pub use compact_map::CompactMap;
pub use sds::Sds;
pub use slot::{key_hash_slot, SLOT_COUNT};
pub use table::{
    expiry_mode, set_expired_log, set_expiry_mode, set_new_log, set_tracking_log, take_expired_log, take_new_log,
    take_tracking_log, ExpiryMode, Rank, SlotTable,
};
pub use value::{Score, StrValue, Value, ZSetValue};

use parking_lot::{Mutex, MutexGuard, RwLock};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// One slot's lock and table header, alone in one cache line: a command's first memory access
/// is this line, so it must not share it with a neighbouring slot (false sharing between
/// workers) nor straddle two lines (two misses per command).
#[repr(align(64))]
struct SlotCell(Mutex<SlotTable>);

/// Told about each slot the first time it is locked while a snapshot runs, before whoever
/// locked it can change it: the forkless snapshot serializes the slot there, so the snapshot
/// holds every slot exactly as it was when the snapshot began (see `Keyspace::start_snapshot`).
/// Implementations must be cheap when the slot was already seen, and must not lock slots.
pub trait SnapshotHook: Send + Sync {
    fn on_first_lock(&self, db: u32, slot: u16, table: &SlotTable);
}

/// Shared by every database of a keyspace: whether a snapshot runs, and its hook. Checking
/// `active` is the only cost a slot lock pays when no snapshot runs.
#[derive(Default)]
struct SnapshotCell {
    active: AtomicBool,
    hook: RwLock<Option<Arc<dyn SnapshotHook>>>,
    /// Snapshots started since start-up: where Redis forks a child, we start a snapshot, so
    /// INFO's `total_forks` reports this count.
    started: AtomicU64,
}

/// One database: a table per hash slot.
pub struct Db {
    slots: Box<[SlotCell]>,
    index: u32,
    snapshot: Arc<SnapshotCell>,
}

impl Db {
    fn new(index: u32, snapshot: Arc<SnapshotCell>) -> Db {
        Db { slots: (0..SLOT_COUNT).map(|_| SlotCell(Mutex::new(SlotTable::default()))).collect(), index, snapshot }
    }

    #[inline]
    pub fn lock_slot(&self, slot: u16) -> MutexGuard<'_, SlotTable> {
        let guard = self.slots[slot as usize].0.lock();
        if self.snapshot.active.load(Ordering::Acquire) {
            if let Some(hook) = self.snapshot.hook.read().as_ref() {
                hook.on_first_lock(self.index, slot, &guard);
            }
        }
        guard
    }

    /// Reads the slot under its lock without the snapshot hook, so a running snapshot does not
    /// serialize the slot here: for background walks that only look (active expiry deciding
    /// whether a slot has anything due, eviction sampling) and would otherwise make the worker
    /// serialize, uncompressed and on its own time, every slot they pass. The table is only
    /// lent immutably: changing it needs [`Db::lock_slot`].
    #[inline]
    pub fn peek_slot<R>(&self, slot: u16, f: impl FnOnce(&SlotTable) -> R) -> R {
        f(&self.slots[slot as usize].0.lock())
    }

    /// The slot's lock if it is free at once (a script's late lock that must not wait: see
    /// `LockSet::lock_late`).
    #[inline]
    pub fn try_lock_slot(&self, slot: u16) -> Option<MutexGuard<'_, SlotTable>> {
        let guard = self.slots[slot as usize].0.try_lock()?;
        if self.snapshot.active.load(Ordering::Acquire) {
            if let Some(hook) = self.snapshot.hook.read().as_ref() {
                hook.on_first_lock(self.index, slot, &guard);
            }
        }
        Some(guard)
    }

    /// Asks the CPU to start loading what a lookup of `key` in `slot` will touch, one level of
    /// the lookup per `stage`, so that a pipelined command finds it in cache when it runs. A
    /// lookup follows four dependent loads (the slot's lock and header, the table segment's
    /// directory entry, the bucket, an out-of-line string value), each a cache miss with a large
    /// keyspace; a worker calls this with stage 0 for the request four ahead, 1 for three ahead,
    /// 2 for two ahead and 3 for the next one, so each stage finds the line the previous stage
    /// requested. Only a hint: stages 1 to 3 look at the table only if its lock is free at once
    /// (`try_lock`), and nothing is ever written.
    #[inline]
    pub fn prefetch(&self, slot: u16, key: &[u8], stage: u8) {
        let Some(cell) = self.slots.get(slot as usize) else {
            return;
        };
        match stage {
            0 => prefetch_read(cell as *const SlotCell as *const i8),
            1 => {
                if let Some(t) = cell.0.try_lock() {
                    t.prefetch_segment(key);
                }
            }
            2 => {
                if let Some(t) = cell.0.try_lock() {
                    t.prefetch_bucket(key);
                }
            }
            _ => {
                if let Some(t) = cell.0.try_lock() {
                    t.prefetch_value(key);
                }
            }
        }
    }

    /// Number of keys (expired-but-unreclaimed ones included, as Redis's DBSIZE).
    pub fn len(&self) -> usize {
        self.slots.iter().map(|s| s.0.lock().len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of keys, as [`Db::len`], for a caller that may hold some of this database's slot
    /// locks itself (BGSAVE inside EXEC): a slot whose lock is not free within `wait_per_slot`
    /// is left out, so the count may come out low but the call never waits on its own thread.
    pub fn len_not_waiting_on_held_slots(&self, wait_per_slot: std::time::Duration) -> usize {
        self.slots.iter().filter_map(|s| s.0.try_lock_for(wait_per_slot).map(|t| t.len())).sum()
    }

    /// (keys, keys with an expiry) for INFO keyspace.
    pub fn counts(&self) -> (usize, usize) {
        self.slots.iter().fold((0, 0), |(k, e), s| {
            let t = s.0.lock();
            (k + t.len(), e + t.expires_len())
        })
    }
}

#[inline]
pub(crate) fn prefetch_read(p: *const i8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults and has no effect on program state, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch(p, std::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// All databases. Database 0 exists from the start; the others are created on first use, so
/// an idle server does not pay for 16 × 16384 slot tables.
pub struct Keyspace {
    dbs: Box<[OnceLock<Db>]>,
    snapshot: Arc<SnapshotCell>,
    /// Held while a database is created, and by [`Keyspace::with_every_slot_locked`] while it
    /// runs its closure, so the set of databases cannot change under a barrier.
    creating: Mutex<()>,
    /// Databases created so far: how a barrier learns that one appeared while it was locking.
    created: AtomicU64,
}

impl Keyspace {
    pub fn new(databases: usize) -> Keyspace {
        let dbs: Box<[OnceLock<Db>]> = (0..databases.max(1)).map(|_| OnceLock::new()).collect();
        let ks = Keyspace { dbs, snapshot: Arc::default(), creating: Mutex::new(()), created: AtomicU64::new(0) };
        ks.db(0);
        ks
    }

    /// Starts a snapshot: from now on, the first lock of each slot calls `hook` with the slot
    /// as it is before the locker changes it. A lock taken before this call and still held may
    /// change its slot afterwards; the snapshot then sees that change, as if it happened before
    /// the snapshot began (which the client that made it cannot tell apart). Returns false if
    /// a snapshot already runs.
    pub fn start_snapshot(&self, hook: Arc<dyn SnapshotHook>) -> bool {
        let mut slot = self.snapshot.hook.write();
        if slot.is_some() {
            return false;
        }
        *slot = Some(hook);
        self.snapshot.active.store(true, Ordering::Release);
        self.snapshot.started.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// How many snapshots have started (BGSAVE, AOF rewrites, full syncs): our `total_forks`.
    pub fn snapshots_started(&self) -> u64 {
        self.snapshot.started.load(Ordering::Relaxed)
    }

    /// Ends the snapshot; slot locks stop calling the hook.
    pub fn end_snapshot(&self) {
        self.snapshot.active.store(false, Ordering::Release);
        *self.snapshot.hook.write() = None;
    }

    pub fn db_count(&self) -> usize {
        self.dbs.len()
    }

    /// Database `index`, created if needed. Callers validate `index` against [`Keyspace::db_count`].
    #[inline]
    pub fn db(&self, index: usize) -> &Db {
        match self.dbs[index].get() {
            Some(db) => db,
            None => self.create_db(index),
        }
    }

    /// A database's first use. Never called with the creation lock held by this thread: a
    /// barrier holds it only while it runs its closure, and it creates no database there.
    #[cold]
    fn create_db(&self, index: usize) -> &Db {
        let _creating = self.creating.lock();
        self.dbs[index].get_or_init(|| {
            self.created.fetch_add(1, Ordering::AcqRel);
            Db::new(index as u32, self.snapshot.clone())
        })
    }

    /// Runs `f` with every slot of every database that exists locked, and with no database
    /// created meanwhile, so no command is between its change and its append anywhere (the
    /// barrier of full syncs, AOF switches and replication role changes).
    ///
    /// Databases that were never used are not created for it: each costs 16384 slot cells
    /// (1 MB), and creating all sixteen at every full sync made an idle standalone master with
    /// one replica hold 16 MB more than Redis. The set of databases is made fixed instead:
    /// after the existing ones are locked, the creation lock is taken; if a database appeared
    /// meanwhile, everything is released and the locking starts over with it. The creation
    /// lock is taken last and held only by a thread that holds every existing slot, so no
    /// command that waits for it can hold a slot the barrier wants (rejected: taking it first,
    /// which deadlocks with a command that holds a slot of database 0 and creates database 5
    /// within one lock set).
    pub fn with_every_slot_locked<R>(&self, f: impl FnOnce() -> R) -> R {
        loop {
            let created_before = self.created.load(Ordering::Acquire);
            let mut wanted: Vec<(u32, u16)> = (0..self.dbs.len())
                .filter(|&d| self.dbs[d].get().is_some())
                .flat_map(|d| (0..SLOT_COUNT as u16).map(move |s| (d as u32, s)))
                .collect();
            let mut locks = LockSet::new();
            locks.lock(self, &mut wanted);
            let creating = self.creating.lock();
            if self.created.load(Ordering::Acquire) == created_before {
                let r = f();
                drop(creating);
                drop(locks);
                return r;
            }
        }
    }

    /// Database `index` if it was ever used.
    pub fn db_if_used(&self, index: usize) -> Option<&Db> {
        self.dbs.get(index).and_then(|d| d.get())
    }
}

/// Slot locks held for one command or transaction, always acquired in ascending (db, slot)
/// order. Commands reach their keys' tables through it.
#[derive(Default)]
pub struct LockSet<'a> {
    guards: Vec<(u32, u16, MutexGuard<'a, SlotTable>)>,
    /// `guards[..sorted]` is in ascending (db, slot) order (what `lock` builds); later entries
    /// were added one by one by `table` and are searched linearly. A transaction may hold all
    /// 16384 slots, so lookups must not be linear in the common case.
    sorted: usize,
}

impl<'a> LockSet<'a> {
    pub fn new() -> Self {
        LockSet { guards: Vec::new(), sorted: 0 }
    }

    /// Locks every (db, slot) in `wanted` that is not held yet. `wanted` may be unsorted and
    /// contain duplicates. Locking happens in ascending order; if something is already held
    /// that sorts after a new slot, the caller broke the protocol (a command's key spec missed a
    /// key) and we still take the lock rather than fail, accepting a deadlock risk over a
    /// wrong answer.
    pub fn lock(&mut self, ks: &'a Keyspace, wanted: &mut [(u32, u16)]) {
        wanted.sort_unstable();
        let before = self.guards.len();
        let mut last = None;
        for &(db, slot) in wanted.iter() {
            if last == Some((db, slot)) {
                continue;
            }
            last = Some((db, slot));
            // Only the locks held before this call can repeat a wanted one (`wanted` is
            // deduplicated): searching the ones added here too made locking every slot
            // (SAVE, FLUSHALL in a transaction) quadratic.
            if self.position_in(db, slot, before).is_none() {
                let guard = ks.db(db as usize).lock_slot(slot);
                self.guards.push((db, slot, guard));
            }
        }
        // Extend the sorted run over the new guards while they continue it in order.
        if self.sorted == before {
            let mut end = before;
            while end < self.guards.len()
                && (end == 0
                    || (self.guards[end - 1].0, self.guards[end - 1].1) < (self.guards[end].0, self.guards[end].1))
            {
                end += 1;
            }
            self.sorted = end;
        }
    }

    #[inline]
    fn position(&self, db: u32, slot: u16) -> Option<usize> {
        self.position_in(db, slot, self.guards.len())
    }

    /// Where (db, slot) is among the first `len` guards.
    #[inline]
    fn position_in(&self, db: u32, slot: u16, len: usize) -> Option<usize> {
        let sorted = self.sorted.min(len);
        if let Ok(i) = self.guards[..sorted].binary_search_by(|(d, s, _)| (*d, *s).cmp(&(db, slot))) {
            return Some(i);
        }
        self.guards[sorted..len].iter().position(|(d, s, _)| *d == db && *s == slot).map(|i| i + sorted)
    }

    /// The table holding `key` in database `db`, locking it if the caller did not ask for it.
    #[inline]
    pub fn table(&mut self, ks: &'a Keyspace, db: u32, key: &[u8]) -> &mut SlotTable {
        let slot = key_hash_slot(key);
        let idx = match self.position(db, slot) {
            Some(i) => i,
            None => {
                self.guards.push((db, slot, ks.db(db as usize).lock_slot(slot)));
                self.guards.len() - 1
            }
        };
        &mut self.guards[idx].2
    }

    /// The tables of two keys at once. `None` for the second means both keys share a table.
    pub fn two_tables(
        &mut self,
        ks: &'a Keyspace,
        a: (u32, &[u8]),
        b: (u32, &[u8]),
    ) -> (&mut SlotTable, Option<&mut SlotTable>) {
        let sa = key_hash_slot(a.1);
        let sb = key_hash_slot(b.1);
        self.table(ks, a.0, a.1);
        self.table(ks, b.0, b.1);
        let ia = self.position(a.0, sa).unwrap_or(0);
        let ib = self.position(b.0, sb).unwrap_or(0);
        if ia == ib {
            return (&mut self.guards[ia].2, None);
        }
        let (lo, hi, swapped) = if ia < ib { (ia, ib, false) } else { (ib, ia, true) };
        let (left, right) = self.guards.split_at_mut(hi);
        let (x, y) = (&mut left[lo].2, &mut right[0].2);
        if swapped {
            (&mut **y, Some(&mut **x))
        } else {
            (&mut **x, Some(&mut **y))
        }
    }

    /// The table of (db, slot) if this set already holds its lock. Commands that walk every
    /// slot (KEYS, SCAN, RANDOMKEY) use it so a slot a transaction holds is not locked twice.
    pub fn held(&mut self, db: u32, slot: u16) -> Option<&mut SlotTable> {
        let i = self.position(db, slot)?;
        Some(&mut self.guards[i].2)
    }

    /// Whether this set holds (db, slot).
    pub fn holds(&self, db: u32, slot: u16) -> bool {
        self.position(db, slot).is_some()
    }

    /// Locks, for a command that already holds locks and must keep them (a script's
    /// `redis.call` on a key it did not declare), every (db, slot) of `wanted` not held yet,
    /// without ever risking a deadlock. A slot above every slot held is locked with a blocking
    /// wait: everyone locks in ascending (db, slot) order, so that wait cannot close a cycle. A
    /// slot below one held could (its holder may be waiting for one of ours), so it is only
    /// tried, again and again until `patience` runs out. Returns the first (db, slot) it could
    /// not lock; the locks taken until then stay held (released with the rest by `clear`).
    pub fn lock_late(
        &mut self,
        ks: &'a Keyspace,
        wanted: &mut [(u32, u16)],
        patience: std::time::Duration,
    ) -> Result<(), (u32, u16)> {
        wanted.sort_unstable();
        let before = self.guards.len();
        let mut highest = self.guards.iter().map(|(d, s, _)| (*d, *s)).max();
        let mut deadline: Option<std::time::Instant> = None;
        let mut last = None;
        let mut outcome = Ok(());
        for &(db, slot) in wanted.iter() {
            if last == Some((db, slot)) {
                continue;
            }
            last = Some((db, slot));
            if self.position_in(db, slot, before).is_some() {
                continue;
            }
            let guard = if highest.is_none_or(|h| h < (db, slot)) {
                ks.db(db as usize).lock_slot(slot)
            } else {
                let until = *deadline.get_or_insert_with(|| std::time::Instant::now() + patience);
                // Bounded: one try per pass until the deadline.
                let mut got = None;
                loop {
                    if let Some(g) = ks.db(db as usize).try_lock_slot(slot) {
                        got = Some(g);
                        break;
                    }
                    if std::time::Instant::now() >= until {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_micros(50));
                }
                match got {
                    Some(g) => g,
                    None => {
                        outcome = Err((db, slot));
                        break;
                    }
                }
            };
            self.guards.push((db, slot, guard));
            highest = highest.max(Some((db, slot)));
        }
        // Keep every guard findable by binary search (a script may go on to lock many more).
        if self.guards.len() > before {
            self.guards.sort_unstable_by_key(|(d, s, _)| (*d, *s));
            self.sorted = self.guards.len();
        }
        outcome
    }

    /// Releases every lock.
    pub fn clear(&mut self) {
        self.guards.clear();
        self.sorted = 0;
    }

    pub fn is_empty(&self) -> bool {
        self.guards.is_empty()
    }
}

#[cfg(test)]
mod layout_tests {
    #[test]
    fn a_slot_is_one_cache_line() {
        assert_eq!(std::mem::size_of::<super::SlotCell>(), 64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_held_slots_are_found() {
        let ks = Keyspace::new(2);
        let mut locks = LockSet::new();
        let mut wanted: Vec<(u32, u16)> = (0..SLOT_COUNT as u16).rev().map(|s| (1, s)).collect();
        locks.lock(&ks, &mut wanted);
        assert!(locks.held(1, 0).is_some() && locks.held(1, 16383).is_some());
        assert!(locks.held(0, 5).is_none());
        // A lazily added lock is still found, and so are the sorted ones.
        locks.table(&ks, 0, b"foo").set(b"foo", Value::string(b"1"));
        assert!(locks.held(0, key_hash_slot(b"foo")).is_some());
        assert!(locks.held(1, 8000).is_some());
    }

    #[test]
    fn the_all_slots_barrier_locks_used_databases_and_creates_none() {
        let ks = Keyspace::new(16);
        drop(ks.db(3).lock_slot(7));
        let held = ks.with_every_slot_locked(|| {
            (ks.db(0).try_lock_slot(0).is_none(), ks.db(3).try_lock_slot(16383).is_none(), ks.db_if_used(5).is_none())
        });
        assert_eq!(held, (true, true, true));
        assert!(ks.db(3).try_lock_slot(16383).is_some(), "released after the closure");
        // A database first used by another thread while the barrier waits is locked too.
        let ks = std::sync::Arc::new(Keyspace::new(16));
        let guard = ks.db(0).lock_slot(1);
        let barrier = {
            let ks = ks.clone();
            std::thread::spawn(move || ks.with_every_slot_locked(|| ks.db(9).try_lock_slot(4).is_none()))
        };
        std::thread::sleep(std::time::Duration::from_millis(50));
        drop(ks.db(9).lock_slot(4));
        drop(guard);
        assert!(barrier.join().unwrap_or(false), "database 9, created while the barrier locked, was held too");
    }

    #[test]
    fn two_tables_same_and_different_slots() {
        let ks = Keyspace::new(16);
        let mut locks = LockSet::new();
        let (a, b) = locks.two_tables(&ks, (0, b"{x}a"), (0, b"{x}b"));
        a.set(b"{x}a", Value::string(b"1"));
        assert!(b.is_none());
        let (a, b) = locks.two_tables(&ks, (0, b"foo"), (0, b"bar"));
        a.set(b"foo", Value::string(b"1"));
        b.unwrap().set(b"bar", Value::string(b"2"));
        assert!(locks.table(&ks, 0, b"foo").get(b"foo", 0).is_some());
        assert!(locks.table(&ks, 0, b"bar").get(b"bar", 0).is_some());
        locks.clear();
        assert_eq!(ks.db(0).len(), 3);
    }
}
