//! State shared by all worker threads: the keyspace, the command registry, configuration,
//! the client list, the blocked-client registry, counters, and the handles used to wake a
//! worker from another thread.
//!
//! Counters a worker bumps on every request live in that worker's own [`WorkerStats`]: only
//! its owner writes them (plain load+store, no locked instruction) and INFO sums them. A
//! single set of global atomics was rejected because every core would fight over one cache line.

use crate::config::Config;
use commands::{DataConfig, Registry};
use keyspace::{Keyspace, Sds};
use mio::Waker;
use parking_lot::{Mutex, RwLock};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU16, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

pub fn now_us() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}

/// A counter written by one thread and read by any: relaxed load + store, no read-modify-write.
#[derive(Default, Debug)]
pub struct OwnedCounter(AtomicU64);

impl WorkerStats {
    pub fn new(commands: usize) -> WorkerStats {
        WorkerStats { per_command: (0..commands).map(|_| CommandCounters::default()).collect(), ..Default::default() }
    }

    /// Counts one error reply with text `err` (without the leading `-`).
    /// A blocked command finished with `reply` (served, or CLIENT UNBLOCK): its call, and its
    /// error if it failed, are counted now, as Redis counts them when the client is unblocked.
    /// `call_us`: how long the command ran when it blocked (its latency, as Redis's `c->duration`),
    /// or None while latency tracking is off.
    pub fn count_unblocked(&self, entry_id: u16, reply: &[u8], call_us: Option<u64>) {
        let failed = reply.first() == Some(&b'-');
        if let Some(counters) = self.per_command.get(entry_id as usize) {
            counters.calls.add(1);
            if let Some(us) = call_us {
                counters.record_latency_us(us);
            }
            if failed {
                counters.failed.add(1);
            }
        }
        if failed {
            let end = reply.iter().position(|&b| b == b'\r').unwrap_or(reply.len());
            self.count_error(&reply[1..end]);
        }
    }

    pub fn count_error(&self, err: &[u8]) {
        self.error_replies.add(1);
        let code = err.split(|&b| b == b' ' || b == b'\r').next().unwrap_or(b"ERR");
        let code = String::from_utf8_lossy(code).into_owned();
        *self.error_codes.lock().entry(code).or_insert(0) += 1;
    }

    pub fn reset(&self) {
        for c in [
            &self.commands,
            &self.connections,
            &self.net_input_bytes,
            &self.net_output_bytes,
            &self.error_replies,
            &self.rejected_calls,
            &self.expired_keys,
            &self.keyspace_hits,
            &self.keyspace_misses,
        ] {
            c.reset();
        }
        for c in self.per_command.iter() {
            c.calls.reset();
            c.usec.reset();
            c.rejected.reset();
            c.failed.reset();
            if let Some(counts) = c.latency.get() {
                counts.iter().for_each(OwnedCounter::reset);
            }
        }
        self.error_codes.lock().clear();
    }
}

impl OwnedCounter {
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.store(self.0.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
    }
    #[inline]
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
    pub fn reset(&self) {
        self.0.store(0, Ordering::Relaxed);
    }
}

/// Per-command counters for INFO commandstats and latencystats.
#[derive(Default, Debug)]
pub struct CommandCounters {
    pub calls: OwnedCounter,
    pub usec: OwnedCounter,
    pub rejected: OwnedCounter,
    pub failed: OwnedCounter,
    /// The command's latency histogram (`crate::latencystats`), allocated at its first
    /// recording (24 KB): most commands are never run.
    pub latency: std::sync::OnceLock<Box<[OwnedCounter]>>,
}

impl CommandCounters {
    /// Records one call that took `us` microseconds (Redis records microseconds * 1000 ns).
    #[inline]
    pub fn record_latency_us(&self, us: u64) {
        let counts = self
            .latency
            .get_or_init(|| (0..crate::latencystats::COUNTS_LEN).map(|_| OwnedCounter::default()).collect());
        counts[crate::latencystats::counts_index(us.saturating_mul(1000))].add(1);
    }
}

/// One worker's counters.
#[derive(Default, Debug)]
pub struct WorkerStats {
    /// Indexed by registry entry id.
    pub per_command: Box<[CommandCounters]>,
    /// Error replies by error code (the first word: ERR, WRONGTYPE, ...). Locked only when an
    /// error is replied, by its own worker, or by INFO.
    pub error_codes: Mutex<HashMap<String, u64>>,
    pub commands: OwnedCounter,
    pub connections: OwnedCounter,
    pub net_input_bytes: OwnedCounter,
    pub net_output_bytes: OwnedCounter,
    pub error_replies: OwnedCounter,
    pub rejected_calls: OwnedCounter,
    pub expired_keys: OwnedCounter,
    pub keyspace_hits: OwnedCounter,
    pub keyspace_misses: OwnedCounter,
    /// Set (SeqCst) by the worker before it checks the failover pause for a write command and
    /// cleared when the write is done, propagated included. The failover pause sets its flag,
    /// then waits until every worker's `in_write` is clear once: from then on no write can be
    /// between the check and its append to the stream, so the offset it reads is final
    /// (Dekker's pattern; rejected: taking every slot lock, which a write that passed the
    /// check but not yet locked would outlive).
    pub in_write: std::sync::atomic::AtomicBool,
}

/// The memory a connection is charged before anything waits in its buffers: CLIENT LIST's
/// `tot-mem` floor and each client's share of `clients_mem` (the reserve of its query and
/// output buffers, as Redis's 16 KB reply buffer).
pub const CLIENT_BASE_MEM: u64 = 16384;

/// What other threads may need to know about a connection (CLIENT LIST, CLIENT KILL).
/// The owning worker updates it with relaxed stores as it serves the client.
#[derive(Debug)]
pub struct ClientShared {
    pub id: u64,
    pub worker: usize,
    pub addr: String,
    pub laddr: String,
    pub fd: i32,
    pub created_ms: i64,
    pub last_interaction_ms: AtomicI64,
    pub db: AtomicU32,
    pub resp: AtomicU8,
    /// Registry id of the last command run (see `Registry::name_of`).
    pub last_cmd: AtomicU16,
    pub name: Mutex<Option<Vec<u8>>>,
    pub kill: AtomicBool,
    pub no_evict: AtomicBool,
    pub unix: bool,
    /// Bytes pending in the query buffer and output buffer, refreshed per batch.
    pub qbuf: AtomicU64,
    /// Free room in the connection's read buffer (CLIENT LIST `qbuf-free`).
    pub qbuf_free: AtomicU64,
    pub obuf: AtomicU64,
    /// This client's share of `GlobalStats::clients_mem` (0 for our master's link and replicas).
    pub mem_reported: AtomicU64,
    pub blocked: AtomicBool,
    /// Set when a key this client WATCHes is modified: its next EXEC fails.
    pub watch_dirty: AtomicBool,
    /// In MULTI (for CLIENT LIST's `multi=` field: queued commands, or -1).
    pub multi_len: AtomicI64,
    /// Bytes the queued transaction and the WATCHed keys hold (CLIENT LIST's `multi-mem`).
    pub multi_mem: AtomicU64,
    /// All a client holds besides its buffers: `multi_mem` plus its subscriptions and tracking
    /// prefixes (in `tot-mem`). Both written by the owning worker when it reports the client's
    /// memory (`Conn::state_mem`).
    pub state_mem: AtomicU64,
    /// The complete arguments of an unfinished request (CLIENT LIST's `argv-mem`; they are in
    /// the read buffer, and `qbuf` counts only what follows them, as Redis shows it).
    pub argv_mem: AtomicU64,
    /// Subscriptions held (channels, patterns, shard channels), for CLIENT LIST's `sub=`,
    /// `psub=`, `ssub=` and the `P` flag; written by the owning worker when they change.
    pub subs: [AtomicU32; 3],
    /// In MONITOR mode (`introspect`).
    pub monitor: AtomicBool,
    /// `replication::CLIENT_NORMAL`, `CLIENT_MASTER` (our master's link) or `CLIENT_REPLICA`.
    pub kind: AtomicU8,
    /// CLIENT TRACKING state for CLIENT LIST (`tracking::ON`, `BCAST`, `BROKEN_REDIR` bits) and
    /// its REDIRECT id; the authoritative mode is in `tracking::Tracking`.
    pub tracking: AtomicU8,
    pub tracking_redirect: AtomicU64,
    /// Bytes this client's BCAST prefixes hold (`tracking`), counted in its memory.
    pub tracking_prefix_bytes: AtomicU64,
    /// The name of the user the client is authenticated as (CLIENT LIST's `user=`, CLIENT
    /// KILL USER, disconnection on ACL changes).
    pub user: Mutex<Vec<u8>>,
}

impl ClientShared {
    pub fn new(id: u64, worker: usize, addr: String, laddr: String, fd: i32, unix: bool) -> ClientShared {
        ClientShared {
            id,
            worker,
            addr,
            laddr,
            fd,
            created_ms: now_ms(),
            last_interaction_ms: now_ms().into(),
            db: 0.into(),
            resp: 2.into(),
            last_cmd: u16::MAX.into(),
            name: Default::default(),
            kill: false.into(),
            user: Mutex::new(b"default".to_vec()),
            no_evict: false.into(),
            watch_dirty: false.into(),
            multi_len: (-1).into(),
            multi_mem: 0.into(),
            argv_mem: 0.into(),
            state_mem: 0.into(),
            subs: Default::default(),
            unix,
            qbuf: 0.into(),
            qbuf_free: 0.into(),
            obuf: 0.into(),
            mem_reported: 0.into(),
            blocked: false.into(),
            monitor: false.into(),
            kind: AtomicU8::new(crate::replication::CLIENT_NORMAL),
            tracking: 0.into(),
            tracking_prefix_bytes: 0.into(),
            tracking_redirect: 0.into(),
        }
    }

    /// True while the client holds a subscription (Redis's CLIENT_PUBSUB flag).
    pub fn is_pubsub(&self) -> bool {
        self.subs.iter().any(|n| n.load(Ordering::Relaxed) > 0)
    }
}

/// Messages one worker sends another.
pub enum Msg {
    /// A new connection for the receiving worker to serve.
    NewConn(crate::worker::Stream, Arc<ClientShared>),
    /// A blocked client was served by another thread: append `reply` and resume it. `argv` is
    /// the command it was blocked in and `served_us` what serving it took, for its slow-log
    /// entry (logged when it is unblocked, as Redis does).
    Unblocked { client_id: u64, reply: Vec<u8>, argv: Vec<Vec<u8>>, served_us: u64 },
    /// Look at kill flags (CLIENT KILL) and pause state now.
    Poke,
    /// Our master's link after the handshake and sync (`replication`): serve it as the master
    /// client, starting with the stream bytes already read, in the given database.
    MasterLink(crate::worker::Stream, Arc<ClientShared>, Vec<u8>, u32),
    /// Unblock every client parked by a blocking command with this error (the node became a
    /// replica: Redis's `disconnectAllBlockedClients`).
    UnblockAll(String),
    /// Pub/sub messages for subscribers of the receiving worker, in publication order.
    Deliver(Vec<crate::pubsub::Delivery>),
    /// CONFIG SET port: these freshly bound TCP listeners replace worker 0's.
    Listeners(Vec<crate::worker::Listener>),
    /// CONFIG SET bind: worker 0 closes its TCP listeners, then binds this list on this port.
    Rebind(Vec<String>, u16),
    /// Cluster mode: unsubscribe these clients of the receiving worker from these shard
    /// channels (their slot is no longer served here), with Redis's `sunsubscribe` push.
    ShardUnsubscribe(Vec<(u64, Vec<u8>)>),
}

pub struct WorkerHandle {
    pub waker: Waker,
    pub inbox: Mutex<Vec<Msg>>,
    pub stats: Arc<WorkerStats>,
}

impl WorkerHandle {
    pub fn send(&self, msg: Msg) {
        self.inbox.lock().push(msg);
        let _ = self.waker.wake();
    }
}

/// A client parked by a blocking command.
#[derive(Debug)]
pub struct Waiter {
    pub client_id: u64,
    pub worker: usize,
    pub db: u32,
    pub resp3: bool,
    pub argv: Vec<Vec<u8>>,
    pub keys: Vec<Sds>,
    pub deadline_ms: Option<i64>,
}

/// Clients blocked on keys, in arrival order per key (Redis serves them FIFO).
/// Lock order: this registry's lock is taken before any slot lock, never while holding one.
#[derive(Default)]
pub struct Blocking {
    pub inner: Mutex<BlockingInner>,
}

#[derive(Default)]
pub struct BlockingInner {
    pub by_key: HashMap<(u32, Sds), VecDeque<u64>>,
    pub waiters: HashMap<u64, Waiter>,
}

impl BlockingInner {
    pub fn add(&mut self, w: Waiter) {
        for k in &w.keys {
            let q = self.by_key.entry((w.db, k.clone())).or_default();
            if !q.contains(&w.client_id) {
                q.push_back(w.client_id);
            }
        }
        self.waiters.insert(w.client_id, w);
    }

    /// Removes a waiter from every key it waits on.
    pub fn remove(&mut self, client_id: u64) -> Option<Waiter> {
        let w = self.waiters.remove(&client_id)?;
        for k in &w.keys {
            let key = (w.db, k.clone());
            if let Some(q) = self.by_key.get_mut(&key) {
                q.retain(|id| *id != client_id);
                if q.is_empty() {
                    self.by_key.remove(&key);
                }
            }
        }
        Some(w)
    }
}

/// CLIENT PAUSE state.
#[derive(Default, Debug, Clone, Copy)]
pub struct Pause {
    pub until_ms: i64,
    /// True: only write commands are held (PAUSE WRITE); false: all commands.
    pub write_only: bool,
}

/// Counters that change rarely (not per request), safe to share as plain atomics.
#[derive(Default, Debug)]
pub struct GlobalStats {
    pub rejected_connections: AtomicU64,
    /// Errors our master's commands (or the AOF's) got here (INFO `unexpected_error_replies`).
    pub unexpected_error_replies: AtomicU64,
    pub dirty: AtomicU64,
    pub expired_keys: AtomicU64,
    /// Keys removed by maxmemory eviction (INFO `evicted_keys`).
    pub evicted_keys: AtomicU64,
    /// Clients closed by client eviction (INFO `evicted_clients`).
    pub evicted_clients: AtomicU64,
    /// The memory of normal and pub/sub clients as last reported by their workers (each
    /// client's share is its `ClientShared::mem_reported`): INFO `mem_clients_normal`, and
    /// what `maxmemory-clients` limits.
    pub clients_mem: AtomicI64,
    /// `Config::client_eviction_limit`, kept here for the check after every batch (0: off).
    pub client_eviction_limit: AtomicU64,
}

pub struct Shared {
    pub ks: Keyspace,
    pub registry: Registry,
    pub config: RwLock<Config>,
    pub data_config: RwLock<Arc<DataConfig>>,
    /// Users and the ACL LOG (`acl_cmds`).
    pub acl: crate::acl_cmds::AclShared,
    pub clients: Mutex<HashMap<u64, Arc<ClientShared>>>,
    pub next_client_id: AtomicU64,
    pub blocking: Blocking,
    /// Number of registered waiters, checked without the registry lock by writers that
    /// signal ready keys (SeqCst on both sides keeps wake-ups from being lost).
    pub blocked_count: AtomicUsize,
    /// Clients whose command waits for a pause to end (CLIENT PAUSE, a failover's pause): INFO
    /// counts them in blocked_clients, as Redis blocks them (BLOCKED_POSTPONE).
    pub paused_count: AtomicUsize,
    /// WATCHed keys → the clients watching them. Lock order: `watches` before `clients`; a
    /// slot lock may be held when `watches` is taken, never the other way round.
    pub watches: Mutex<HashMap<(u32, Sds), Vec<Watcher>>>,
    /// Number of (client, key) watch registrations, checked without the lock by writers.
    pub watch_count: AtomicUsize,
    /// Pub/sub subscriptions of every client.
    pub pubsub: crate::pubsub::Registry,
    /// CLIENT TRACKING: the tracking table, BCAST prefixes and tracking clients' modes.
    pub tracking: crate::tracking::Tracking,
    pub workers: OnceLock<Vec<WorkerHandle>>,
    pub shutdown: AtomicBool,
    /// The client listeners' descriptors, for `request_shutdown` to stop accepting at once (the
    /// listeners themselves are owned by worker 0's poll). None once shutdown has taken them.
    pub listener_fds: Mutex<Option<Vec<std::os::fd::RawFd>>>,
    /// The `bind` list and `port` the TCP listeners serve (CONFIG SET compares against it).
    pub listen_spec: Mutex<(Vec<String>, u16)>,
    pub pause: Mutex<Pause>,
    /// Copy of `pause.until_ms` for a lock-free check on every command.
    pub pause_until_ms: AtomicI64,
    /// The write pause of a manual failover on this master (`Action::PauseWrites`), apart from
    /// CLIENT PAUSE as Redis keeps its pause purposes apart: CLIENT UNPAUSE must not end it.
    /// Until this time (ms) no write command starts; see `WorkerStats::in_write`.
    pub failover_pause_until_ms: AtomicI64,
    /// The write pause of a shutdown (`shutdown`): while it waits for lagging replicas and
    /// during its final save. Kept apart from the failover's, which its abort clears.
    pub shutdown_pause_until_ms: AtomicI64,
    /// Set while a cluster replica that now owns slots is still turning into a master (the
    /// queued `Control::BecomeMaster`): the routing already sends its slots' clients here, and
    /// until the switch their writes are held, not refused READONLY (Redis promotes in the same
    /// step that takes the slots, so its clients never see the gap).
    pub role_switch_pending: AtomicBool,
    pub stats: GlobalStats,
    pub start_ms: i64,
    pub run_id: String,
    pub executable: String,
    pub lastsave_s: AtomicI64,
    /// SAVE bookkeeping and the last load's counts (INFO persistence).
    pub persist: parking_lot::Mutex<crate::persistence::PersistState>,
    /// The last save failed and stop-writes-on-bgsave-error is on: writes get -MISCONF.
    pub write_error: AtomicBool,
    /// DEBUG SET-ACTIVE-EXPIRE: false stops the background expiry cycle.
    pub active_expire_enabled: AtomicBool,
    /// DEBUG PAUSE-CRON: the workers' periodic work (timeouts, active expiry, the tracking
    /// table limit, save points) stops while set, as Redis's `serverCron` returns at once.
    pub cron_paused: AtomicBool,
    pub stat_reset_ms: AtomicI64,
    /// Bumped by every CONFIG SET. Workers compare it with their copy once per batch of
    /// requests and re-read the settings they cache, so a setting changed through one
    /// connection (notify-keyspace-events above all) holds for the very next command of any
    /// connection. Re-reading on a timer alone left a window of up to one tick.
    pub config_epoch: AtomicU64,
    /// Cluster mode (`cluster-enabled yes`): the node, its bus and its routing.
    pub cluster: Option<crate::cluster_node::ClusterNode>,
    /// SLOWLOG, LATENCY and MONITOR state (`introspect`).
    pub introspect: crate::introspect::State,
}

/// One client's WATCH of one key (Redis's `watchedKey`).
#[derive(Debug, Clone, Copy)]
pub struct Watcher {
    pub client_id: u64,
    /// The key was stored but already past its expiry (`wk->expired`): its removal is no
    /// logical change, so a flush or SWAPDB that only removes it leaves the WATCH intact.
    pub expired: bool,
}

impl Shared {
    /// Marks every client watching one of `keys` in `db` so its EXEC fails (Redis's
    /// `touchWatchedKey`).
    pub fn touch_keys<'k>(&self, db: u32, keys: impl Iterator<Item = &'k [u8]>) {
        if self.watch_count.load(Ordering::SeqCst) == 0 {
            return;
        }
        let watches = self.watches.lock();
        let mut touched: Vec<u64> = Vec::new();
        for k in keys {
            if let Some(watchers) = watches.get(&(db, Sds::new(k))) {
                touched.extend(watchers.iter().map(|w| w.client_id));
            }
        }
        drop(watches);
        self.mark_watch_dirty(&touched);
    }

    /// Marks every client watching any key of `db` (all databases for `None`): the end of a
    /// diskless load, and a keyless write whose keys cannot be named. FLUSHDB, FLUSHALL and
    /// SWAPDB look at each watched key instead (`Worker::touch_all_watched_keys_in_db`).
    pub fn touch_db(&self, db: Option<u32>) {
        if self.watch_count.load(Ordering::SeqCst) == 0 {
            return;
        }
        let touched: Vec<u64> = self
            .watches
            .lock()
            .iter()
            .filter(|((d, _), _)| db.is_none_or(|x| x == *d))
            .flat_map(|(_, watchers)| watchers.iter().map(|w| w.client_id))
            .collect();
        self.mark_watch_dirty(&touched);
    }

    /// Until when writes are held by the server itself (a manual failover's or a shutdown's
    /// pause), apart from CLIENT PAUSE.
    pub fn write_pause_until_ms(&self) -> i64 {
        self.failover_pause_until_ms.load(Ordering::SeqCst).max(self.shutdown_pause_until_ms.load(Ordering::SeqCst))
    }

    /// Once a failover's write pause has begun: waits until every worker has been seen outside
    /// a write (`WorkerStats::in_write`), so no write that started before the pause can still
    /// move the replication offset. False if one is still inside a write after `limit`.
    pub fn wait_writes_drained(&self, limit: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + limit;
        for w in self.workers() {
            while w.stats.in_write.load(Ordering::SeqCst) {
                if std::time::Instant::now() > deadline {
                    return false;
                }
                std::thread::yield_now();
            }
        }
        true
    }

    pub fn mark_watch_dirty(&self, ids: &[u64]) {
        if ids.is_empty() {
            return;
        }
        let clients = self.clients.lock();
        for id in ids {
            if let Some(c) = clients.get(id) {
                c.watch_dirty.store(true, Ordering::SeqCst);
            }
        }
    }

    pub fn workers(&self) -> &[WorkerHandle] {
        self.workers.get().map(|w| w.as_slice()).unwrap_or(&[])
    }

    pub fn sum_stat(&self, f: impl Fn(&WorkerStats) -> &OwnedCounter) -> u64 {
        self.workers().iter().map(|w| f(&w.stats).get()).sum()
    }

    pub fn data_config(&self) -> Arc<DataConfig> {
        self.data_config.read().clone()
    }

    /// Re-reads the settings workers and commands cache after CONFIG SET.
    pub fn refresh_from_config(&self) {
        let cfg = self.config.read();
        *self.data_config.write() = Arc::new(cfg.data_config());
        self.acl.apply_requirepass(cfg.requirepass());
        let cluster_settings = self.cluster.as_ref().map(|_| cfg.cluster_settings());
        self.stats.client_eviction_limit.store(cfg.client_eviction_limit(), Ordering::Relaxed);
        crate::crash::set_log_enabled(cfg.crash_log_enabled());
        // The machine and slot locks are taken after the config lock is released, so nothing
        // waits on them while holding it.
        drop(cfg);
        if let (Some(node), Some(settings)) = (&self.cluster, cluster_settings) {
            node.reconfigure(&self.ks, settings);
        }
        crate::introspect::refresh(self);
        self.config_epoch.fetch_add(1, Ordering::Release);
        // A lower maxmemory-clients evicts at once, as Redis's next command's evictClients.
        crate::evict::evict_clients(self);
    }
}
