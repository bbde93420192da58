//! Replication, Redis 7.0's PSYNC2 protocol, both sides.
//!
//! Owns: the replication stream and its backlog (`Stream`: replid, replid2, offsets, the
//! ring of recent bytes, the stream's own SELECT tracking as Redis's `slaveseldb`), the
//! master side of every replica link (full sync from the forkless snapshot, partial resync
//! from the backlog, streaming, ACKs, output-buffer limits, PINGs), the replica side's link
//! to its master (handshake, loading the RDB, handing the socket to a worker as the master
//! client), ROLE / INFO replication / WAIT / REPLICAOF / REPLCONF / PSYNC, and
//! min-replicas-to-write.
//!
//! Never: runs a command itself (the master client's commands run on a worker through the
//! normal handlers), holds the stream lock across a syscall, or lets a replica's socket block
//! a worker: every replica link has its own writer and reader threads (rejected alternative:
//! one mio loop for all links, which would save threads but make the RDB streaming an explicit
//! state machine; a server has few replicas).
//!
//! Ordering: on a master the stream is fed from `aof::Aof::append`, i.e. while the command's
//! slot locks are held, the same point the AOF log is fed, so per-key order equals execution
//! order. On a replica the stream is the master's bytes, appended verbatim after each applied
//! command (outside MULTI), so a chain of replicas shares one offset space (PSYNC2). A full
//! sync takes its snapshot and reads the offset under one barrier (every slot lock, and on a
//! replica the `apply` lock the master client holds around each command), so the RDB holds
//! exactly the bytes before that offset.

use crate::shared::{now_ms, ClientShared, Msg, Shared};
use crate::{notice, warning};
use parking_lot::{Condvar, Mutex};
use persist::repl::{find_eof_mark, parse_psync_reply, parse_rdb_preamble, PsyncReply, RdbPreamble};
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU16, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// `ClientShared::kind` values.
pub const CLIENT_NORMAL: u8 = 0;
pub const CLIENT_MASTER: u8 = 1;
pub const CLIENT_REPLICA: u8 = 2;

const ZERO_ID: &str = "0000000000000000000000000000000000000000";
/// Bytes copied out of the backlog per socket write.
const SEND_CHUNK: usize = 64 * 1024;
/// The master's first reply line, or a preamble line, may not be longer (bounded reads).
const MAX_LINE: usize = 4096;

/// Replica link states, as INFO names them.
const WAIT_BGSAVE: u8 = 0;
const SEND_BULK: u8 = 1;
const ONLINE: u8 = 2;

/// A replica link's state as INFO replication and the shutdown log name it (Redis's
/// `replstateToString`).
fn state_name(state: u8) -> &'static str {
    match state {
        WAIT_BGSAVE => "wait_bgsave",
        SEND_BULK => "send_bulk",
        _ => "online",
    }
}

/// The replication stream and backlog. One mutex: appends are short memcpys.
struct Stream {
    replid: String,
    replid2: String,
    second_offset: i64,
    /// Bytes `start+1 ..= end` of the stream (the backlog, plus what lagging replicas need).
    buf: VecDeque<u8>,
    start: u64,
    /// `master_repl_offset`: bytes ever in the stream under this history.
    end: u64,
    /// The database the stream's last command ran in (Redis's `slaveseldb`).
    selected_db: Option<u32>,
    backlog_size: u64,
    /// A backlog exists (Redis's `repl_backlog != NULL`).
    active: bool,
    links: Vec<Arc<ReplicaLink>>,
    /// When the last replica went away (`repl-backlog-ttl`).
    no_replicas_since_ms: i64,
    /// `buf`'s capacity when its allocation size was last published (see `account`).
    accounted_capacity: usize,
}

impl Stream {
    fn push(&mut self, bytes: &[u8]) {
        self.buf.extend(bytes);
        self.end += bytes.len() as u64;
        self.trim();
    }

    /// Keeps the backlog's size, and whatever a live replica has not been sent yet.
    fn trim(&mut self) {
        let mut keep_from = self.end.saturating_sub(self.backlog_size);
        for l in &self.links {
            keep_from = keep_from.min(l.pos.load(Ordering::Relaxed));
        }
        if keep_from > self.start {
            let n = ((keep_from - self.start) as usize).min(self.buf.len());
            self.buf.drain(..n);
            self.start += n as u64;
        }
        self.account();
    }

    /// Gives back what a lagging replica made the buffer grow to once it is no longer needed
    /// (Redis frees its 16 KB blocks as they are trimmed; a ring keeps its largest size), and
    /// publishes the buffer's memory for INFO and key eviction. The shrink waits for twice
    /// what is kept plus 64 KB, so a buffer that keeps refilling is not resized back and forth,
    /// while a burst's megabytes go back once no replica needs them (as Redis frees its blocks:
    /// replication-buffer's "Replication buffer will become smaller" wants 1 MB of 1.1 back).
    fn account(&mut self) {
        let kept = self.buf.len().max(self.backlog_size as usize);
        if self.buf.capacity() > 2 * kept + (64 << 10) {
            self.buf.shrink_to(kept);
        }
        // Every propagated write passes here (under the stream lock): the allocator's size
        // class is looked up only when the capacity changed.
        if self.buf.capacity() != self.accounted_capacity {
            self.accounted_capacity = self.buf.capacity();
            REPL_BUFFER_BYTES.store(crate::memory::allocation_size(self.accounted_capacity) as u64, Ordering::Relaxed);
        }
        REPL_BACKLOG_BYTES.store(self.backlog_size, Ordering::Relaxed);
        REPL_HAS_REPLICAS.store(!self.links.is_empty(), Ordering::Relaxed);
    }

    /// What partial resyncs can start from: the backlog, and beyond its size whatever a lagging
    /// replica still holds (Redis 7's replication buffer is shared the same way, and its
    /// `repl_backlog_histlen` grows past `repl-backlog-size` while a slow replica keeps it).
    fn histlen(&self) -> u64 {
        self.end - self.start
    }

    fn select(&mut self, db: u32, out: &mut Vec<u8>) {
        if self.selected_db != Some(db) {
            persist::aof::encode_command(out, &[b"SELECT".to_vec(), db.to_string().into_bytes()]);
            self.selected_db = Some(db);
        }
    }

    /// Redis's `shiftReplicationId`: the old history stays valid up to the current offset.
    fn shift_replid(&mut self) {
        self.replid2 = std::mem::replace(&mut self.replid, random_hex(40));
        self.second_offset = self.end as i64 + 1;
        notice!(
            "Setting secondary replication ID to {}, valid up to offset: {}. New replication ID is {}",
            self.replid2,
            self.second_offset,
            self.replid
        );
    }
}

/// The master side of one replica connection.
struct ReplicaLink {
    info: Arc<ClientShared>,
    /// A clone of the socket, only to shut it down from another thread.
    sock: TcpStream,
    /// Stream offset of the last byte handed to the socket.
    pos: AtomicU64,
    ack: AtomicU64,
    ack_ms: AtomicI64,
    state: AtomicU8,
    listening_port: AtomicU16,
    ip: String,
    closed: AtomicBool,
    soft_since_ms: AtomicI64,
    /// During a diskless transfer: since when a write to this replica has been waiting (0 when
    /// none is), for the cron's `repl-timeout` (Redis's `repl_last_partial_write`; ours are
    /// blocking writes, one replica after the other, so the time one of them blocks is what
    /// says that replica stopped reading).
    transfer_write_since_ms: AtomicI64,
}

/// How Redis's log lines name a replica (its replicationGetSlaveName): the address it announced or connected from,
/// with the port it announced with REPLCONF listening-port, or `<unknown-replica-port>` when it announced none
/// (the connection's own port is not where the replica listens, so it is not shown).
fn replica_log_name(ip: &str, listening_port: u16) -> String {
    debug_assert!(!ip.starts_with('['));
    let host = if ip.contains(':') { format!("[{ip}]") } else { ip.to_string() };
    if listening_port > 0 {
        format!("{host}:{listening_port}")
    } else {
        format!("{ip}:<unknown-replica-port>")
    }
}

/// The IP part of a client's `addr` ("1.2.3.4:5678" or "[::1]:5678").
fn peer_ip(addr: &str) -> &str {
    addr.rsplit_once(':').map(|(host, _)| host.trim_matches(['[', ']'])).unwrap_or_default()
}

impl ReplicaLink {
    fn name(&self) -> String {
        replica_log_name(&self.ip, self.listening_port.load(Ordering::Relaxed))
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        let _ = self.sock.shutdown(Shutdown::Both);
    }

    /// Whether the transfer to this replica should stop: its link closed, CLIENT KILL chose it,
    /// or the server is shutting down.
    fn stopped(&self, shared: &Shared) -> bool {
        self.closed.load(Ordering::Relaxed)
            || self.info.kill.load(Ordering::Relaxed)
            || shared.shutdown.load(Ordering::Relaxed)
    }
}

/// The replica side: which master, and how the link is.
struct Link {
    master: Option<(String, u16)>,
    /// Bumped by every REPLICAOF: a link thread of an older generation stops.
    generation: u64,
    state: &'static str,
    /// The master client's id once handed to a worker.
    client: Option<(u64, usize)>,
    /// The database the master client was in when its link was lost: a partial resync resumes
    /// the stream there (Redis keeps it in the cached master client).
    db: u32,
    down_since_ms: i64,
    sync_total: i64,
    sync_read: i64,
    sync_last_io_ms: i64,
}

pub struct Repl {
    stream: Mutex<Stream>,
    data: Condvar,
    /// Held by the master client's worker around each command and its stream append, and by
    /// a full sync's barrier, so a chained replica's snapshot offset is exact.
    apply: Mutex<()>,
    /// A master with a backlog: `aof::Aof::append` feeds the stream.
    feeding: AtomicBool,
    replica: AtomicBool,
    /// A cluster replica at start-up, until REPLICAOF-like switches decide (see `is_replica`).
    starting_as_replica: AtomicBool,
    link_up: AtomicBool,
    /// The link to a master has been up at least once since start (a replica that never synced
    /// has no data age to offer an election).
    link_was_up: AtomicBool,
    link: Mutex<Link>,
    /// Clients parked in WAIT (ACKs poke the workers only while some are).
    pub waiters: AtomicUsize,
    /// min-replicas-to-write and min-replicas-max-lag, cached by every worker's config refresh
    /// (`refresh_config`), so a CONFIG SET holds for the next command.
    min_to_write: AtomicUsize,
    max_lag_s: AtomicI64,
    pub sync_full: AtomicU64,
    pub sync_partial_ok: AtomicU64,
    pub sync_partial_err: AtomicU64,
    /// Serial number for temp file names.
    serial: AtomicU64,
    /// A coordinated failover started by FAILOVER (standalone masters only).
    failover: Mutex<Failover>,
}

/// Redis's `failover_state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum FailoverPhase {
    #[default]
    None,
    /// Writes are paused; waiting for the target (or any replica) to reach our offset.
    WaitForSync,
    /// We replicate from the target and ask it, with `PSYNC ... FAILOVER`, to take over.
    InProgress,
}

#[derive(Default)]
struct Failover {
    phase: FailoverPhase,
    /// TO host port, or the replica that caught up first.
    target: Option<(String, u16)>,
    end_ms: Option<i64>,
    force: bool,
    /// Set once no write that began before the pause is still running: from then on our offset
    /// only moves by PINGs and GETACKs, which the replica acknowledges like any byte.
    quiesced: bool,
}

static REPL: OnceLock<Repl> = OnceLock::new();

pub fn repl() -> &'static Repl {
    REPL.get_or_init(|| Repl {
        stream: Mutex::new(Stream {
            replid: random_hex(40),
            replid2: ZERO_ID.into(),
            second_offset: -1,
            buf: VecDeque::new(),
            start: 0,
            end: 0,
            selected_db: None,
            backlog_size: 1 << 20,
            active: false,
            links: Vec::new(),
            no_replicas_since_ms: now_ms(),
            accounted_capacity: 0,
        }),
        data: Condvar::new(),
        apply: Mutex::new(()),
        feeding: AtomicBool::new(false),
        replica: AtomicBool::new(false),
        starting_as_replica: AtomicBool::new(false),
        link_up: AtomicBool::new(false),
        link_was_up: AtomicBool::new(false),
        link: Mutex::new(Link {
            master: None,
            generation: 0,
            state: "none",
            client: None,
            db: 0,
            down_since_ms: -1,
            sync_total: -1,
            sync_read: 0,
            sync_last_io_ms: 0,
        }),
        waiters: AtomicUsize::new(0),
        min_to_write: AtomicUsize::new(0),
        max_lag_s: AtomicI64::new(10),
        sync_full: AtomicU64::new(0),
        sync_partial_ok: AtomicU64::new(0),
        sync_partial_err: AtomicU64::new(0),
        serial: AtomicU64::new(0),
        failover: Mutex::new(Failover::default()),
    })
}

fn random_hex(n: usize) -> String {
    (0..n).map(|_| char::from_digit(rand::random_range(0..16u32), 16).unwrap_or('0')).collect()
}

// ---------------------------------------------------------------------------------------------
// The module API (failover wiring, cluster hook)
// ---------------------------------------------------------------------------------------------

/// The replication offset (`master_repl_offset`; on a replica the master's bytes applied).
pub fn offset() -> u64 {
    REPL.get().map_or(0, |r| r.stream.lock().end)
}

/// CONFIG SET repl-backlog-size: the new size holds at once, the backlog trimmed to it (Redis's
/// resizeReplicationBacklog), not at the next cron tick: a replica that disconnects right after
/// must find only what the new size keeps.
pub fn resize_backlog(shared: &Shared) {
    let size = shared.config.read().get_i64("repl-backlog-size").unwrap_or(1 << 20).max(1) as u64;
    let mut st = repl().stream.lock();
    st.backlog_size = size;
    st.trim();
}

/// The shared replication buffer's allocation (Redis's `repl_buffer_mem`), the backlog size and
/// whether replicas are attached, as `Stream::account` last saw them: read per command by key
/// eviction, which must not take the stream lock for it.
static REPL_BUFFER_BYTES: AtomicU64 = AtomicU64::new(0);
static REPL_BACKLOG_BYTES: AtomicU64 = AtomicU64::new(0);
static REPL_HAS_REPLICAS: AtomicBool = AtomicBool::new(false);

/// Full syncs whose snapshot is being written now (INFO's rdb_bgsave_in_progress counts them,
/// as Redis counts its sync child).
static SYNC_SNAPSHOTS: AtomicU64 = AtomicU64::new(0);

/// Whether a full sync's snapshot is being written.
pub fn sync_snapshot_in_progress() -> bool {
    SYNC_SNAPSHOTS.load(Ordering::Relaxed) > 0
}

/// What the replica links' own send buffers hold (one chunk each while streaming): replica
/// output memory as much as the shared buffer is, so it is counted with it.
static REPL_LINK_BUFFER_BYTES: AtomicU64 = AtomicU64::new(0);

/// Adds `amount` to a gauge while it lives (a sync in SYNC_SNAPSHOTS, a send buffer's bytes
/// in REPL_LINK_BUFFER_BYTES), so every way out of the
/// function that holds it takes it off again.
struct Counted(&'static AtomicU64, u64);

impl Counted {
    fn new(gauge: &'static AtomicU64, amount: u64) -> Counted {
        gauge.fetch_add(amount, Ordering::Relaxed);
        Counted(gauge, amount)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(self.1, Ordering::Relaxed);
    }
}

/// DEBUG SLEEPs under way. Redis sleeps on its only thread, so its replicas hear nothing at all
/// meanwhile, not even the keepalive newlines of a sync that waits; ours come from threads of
/// their own, which hold them back while this is non-zero, so a replica can see its master
/// go silent and time out (as the suite's handshake-timeout test makes it).
static DEBUG_SLEEPS: AtomicU64 = AtomicU64::new(0);

/// Marks a DEBUG SLEEP for as long as the returned guard lives.
pub fn debug_sleep() -> impl Drop {
    Counted::new(&DEBUG_SLEEPS, 1)
}

/// Whether a DEBUG SLEEP is under way (keepalives and the cron's PING wait for it to end).
fn asleep() -> bool {
    DEBUG_SLEEPS.load(Ordering::Relaxed) > 0
}

/// Sends a keepalive newline to a replica waiting for its sync, unless the server is asleep.
fn keepalive(mut sock: &TcpStream) -> std::io::Result<()> {
    if asleep() {
        return Ok(());
    }
    sock.write_all(b"\n")
}

/// The replication buffer's memory as INFO reports it, after Redis's getMemoryOverheadData.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplBufferMem {
    /// `mem_total_replication_buffers`.
    pub total: u64,
    /// `mem_replication_backlog`.
    pub backlog: u64,
    /// `mem_clients_slaves`: what replicas hold beyond the backlog.
    pub replicas: u64,
    /// `mem_not_counted_for_evict`.
    pub not_counted_for_evict: u64,
}

/// Where the buffer is over the backlog size and replicas are attached, the excess is the
/// replicas' (`mem_clients_slaves`); otherwise it is all backlog. Key eviction ignores the
/// excess even with no replica left (Redis's freeMemoryGetNotCountedMemory), so a buffer still
/// shrinking after a replica went away does not evict keys.
pub fn repl_buffer_mem() -> ReplBufferMem {
    let total = REPL_BUFFER_BYTES.load(Ordering::Relaxed) + REPL_LINK_BUFFER_BYTES.load(Ordering::Relaxed);
    let backlog_size = REPL_BACKLOG_BYTES.load(Ordering::Relaxed);
    let over = total.saturating_sub(backlog_size);
    let (backlog, replicas) =
        if REPL_HAS_REPLICAS.load(Ordering::Relaxed) && over > 0 { (backlog_size, over) } else { (total, 0) };
    ReplBufferMem { total, backlog, replicas, not_counted_for_evict: over }
}

/// Set from a master's FULLRESYNC until its RDB is loaded (`FullSync`).
static FULL_SYNC: AtomicBool = AtomicBool::new(false);
/// Set while a master's RDB is being loaded (INFO's `loading`, the -LOADING refusal).
static LOADING: AtomicBool = AtomicBool::new(false);
/// Set during a full sync with repl-diskless-load swapdb (INFO's `async_loading`).
static ASYNC_LOADING: AtomicBool = AtomicBool::new(false);

pub fn async_loading() -> bool {
    ASYNC_LOADING.load(Ordering::Relaxed)
}

/// Clears its flag when dropped, whichever way the sync ends.
pub struct FlagGuard(&'static AtomicBool);

/// A load from disk (Redis's `server.loading`): the start-up load, or DEBUG LOADAOF. Clients are
/// served meanwhile, and those without the `loading` flag get -LOADING, as during a full sync.
pub fn begin_loading() -> FlagGuard {
    FlagGuard::set(&LOADING)
}

impl FlagGuard {
    fn set(flag: &'static AtomicBool) -> FlagGuard {
        flag.store(true, Ordering::SeqCst);
        FlagGuard(flag)
    }
}

impl Drop for FlagGuard {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// True while this replica loads its master's RDB: commands without the `loading` flag are
/// refused with -LOADING, as Redis does, since the dataset is half there.
#[inline]
pub fn loading() -> bool {
    LOADING.load(Ordering::Relaxed)
}

/// Longest a command waits in [`wait_for_loading_events`] before it is answered -LOADING
/// anyway (a diskless load from a master that stalls would otherwise hold its worker until
/// repl-timeout, as it holds Redis's main thread).
const LOADING_EVENTS_WAIT_MAX_MS: i64 = 2000;

/// A command that loading would refuse waits first until the load has processed
/// `interval_bytes` (`loading-process-events-interval-bytes`, 2 MB) or ended, as Redis's
/// loader answers clients only from `processEventsWhileBlocked`, every that many bytes: a
/// short load (the empty or small RDB of most syncs) is never seen as -LOADING, the command
/// just runs after it. Rejected: refusing from the first byte, which made a replica answer
/// CLUSTER NODES with -LOADING for the instant its empty RDB loads (Redis never does, and
/// the legacy cluster suite's `create_cluster` fails on it).
pub fn wait_for_loading_events(interval_bytes: u64) {
    let deadline_ms = now_ms() + LOADING_EVENTS_WAIT_MAX_MS;
    // A script the load runs past busy-reply-threshold ends the wait too: Redis's busy-script
    // hook also processes events (an AOF holding a slow EVAL).
    while loading()
        && crate::persistence::LOAD_PROGRESS.loaded() < interval_bytes
        && now_ms() < deadline_ms
        && !crate::scripting::busy()
    {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// The offset the cluster bus announces and CLUSTER SLOTS / SHARDS judge us by: 0 during a full
/// sync, as Redis's `replicationGetSlaveOffset` is (its master client does not exist until the
/// RDB is loaded), so the other nodes hide a loading replica from CLUSTER SLOTS and report it
/// "loading" in CLUSTER SHARDS.
pub fn cluster_offset() -> u64 {
    if FULL_SYNC.load(Ordering::SeqCst) {
        0
    } else {
        offset()
    }
}

/// For a replica's election (`Machine::set_master_link_time`): now while the link to the master
/// is up (Redis's `master->lastinteraction`, which its PINGs keep within the ping period), the
/// time it went down otherwise (`repl_down_since`), and `None` when this node is no replica or
/// its link was never up since start.
pub fn master_link_time_ms() -> Option<u64> {
    let r = REPL.get()?;
    if !r.replica.load(Ordering::Relaxed) || !r.link_was_up.load(Ordering::Relaxed) {
        return None;
    }
    if r.link_up.load(Ordering::Relaxed) {
        return Some(now_ms().max(0) as u64);
    }
    let down_since = r.link.lock().down_since_ms;
    (down_since >= 0).then_some(down_since as u64)
}

/// Keys a writable replica's own clients wrote with a TTL (Redis's `slaveKeysWithExpire`):
/// the replica expires them itself, its master knowing nothing of them. Emptied when this
/// node becomes a master or loads a full sync, as Redis's `flushSlaveKeysWithExpireList`.
type DbKeys = std::collections::HashSet<(u32, Vec<u8>)>;
static REPLICA_KEYS_WITH_EXPIRE: Mutex<Option<DbKeys>> = Mutex::new(None);

pub fn remember_replica_key(db: u32, key: &[u8]) {
    REPLICA_KEYS_WITH_EXPIRE.lock().get_or_insert_with(Default::default).insert((db, key.to_vec()));
}

pub fn forget_replica_key(db: u32, key: &[u8]) {
    if let Some(set) = REPLICA_KEYS_WITH_EXPIRE.lock().as_mut() {
        set.remove(&(db, key.to_vec()));
    }
}

/// A copy of the remembered keys (a handful: only writable replicas have any).
pub fn replica_keys_with_expire() -> Vec<(u32, Vec<u8>)> {
    REPLICA_KEYS_WITH_EXPIRE.lock().as_ref().map(|s| s.iter().cloned().collect()).unwrap_or_default()
}

fn forget_replica_keys() {
    *REPLICA_KEYS_WITH_EXPIRE.lock() = None;
}

/// True when REPLICAOF (or the cluster) has named a master to replicate from.
pub fn has_master_target() -> bool {
    REPL.get().is_some_and(|r| r.link.lock().master.is_some())
}

/// CONFIG RESETSTAT: the sync counters of INFO stats start again from zero.
pub fn reset_stats() {
    let r = repl();
    r.sync_full.store(0, Ordering::Relaxed);
    r.sync_partial_ok.store(0, Ordering::Relaxed);
    r.sync_partial_err.store(0, Ordering::Relaxed);
}

/// True while this node replicates from a master, or is about to: a cluster node whose
/// nodes.conf names it a replica is one from start-up on (Redis's `iAmMaster()` asks the
/// cluster), before its first tick points it at its master. Until then it must neither expire
/// keys itself nor take the writes of a master.
#[inline]
pub fn is_replica() -> bool {
    REPL.get().is_some_and(|r| r.replica.load(Ordering::Relaxed) || r.starting_as_replica.load(Ordering::Relaxed))
}

/// Starts replicating from `host:port` (REPLICAOF host port). Ok(true) when already doing so.
pub fn replicate_from(shared: &'static Shared, host: &str, port: u16) -> Result<bool, String> {
    replicate_from_at(shared, host, port, true)
}

/// Runs `f` at the switch point: under the apply lock and every slot lock with `barrier`;
/// without it (REPLICAOF inside an EXEC that holds slot locks, which the barrier would wait
/// for) only under the stream lock's ordering, so a command of another connection that runs
/// across the switch may land on either side of it. Rejected: queueing the change until the
/// transaction ends, which Redis's clients can tell (INFO in the same MULTI shows the new role).
fn at_switch(shared: &Shared, barrier: bool, f: impl FnOnce()) {
    if barrier {
        let _g = repl().apply.lock();
        crate::aof::with_all_slots_locked(shared, f);
    } else {
        f();
    }
}

fn replicate_from_at(shared: &'static Shared, host: &str, port: u16, barrier: bool) -> Result<bool, String> {
    let r = repl();
    r.starting_as_replica.store(false, Ordering::Relaxed);
    // With the apply lock, the old master client is between two commands: none of its commands
    // runs after this without its bytes joining the stream (the worker checks the kill flag
    // under this lock), so the offset a partial resync asks for matches the data. Without a
    // barrier the caller holds slot locks, which a master command may be waiting for.
    let apply = barrier.then(|| r.apply.lock());
    let generation = {
        let mut l = r.link.lock();
        if l.master.as_ref().is_some_and(|(h, p)| h == host && *p == port) {
            return Ok(true);
        }
        l.master = Some((host.to_string(), port));
        shared.config.write().set_replicaof(Some((host.to_string(), port)));
        l.generation += 1;
        l.state = "connect";
        l.down_since_ms = now_ms();
        let old_client = l.client.take();
        // The database its stream was in: a partial resync with the next master continues
        // there (Redis keeps it in the cached master), as when the link drops by itself.
        if let Some((id, _)) = old_client {
            if let Some(info) = shared.clients.lock().get(&id) {
                l.db = info.db.load(Ordering::Relaxed);
            }
        }
        kill_client(shared, old_client);
        l.generation
    };
    drop(apply);
    r.link_up.store(false, Ordering::Relaxed);
    if !r.replica.swap(true, Ordering::Relaxed) {
        // A client blocked here must not be served by the master's pushes (its pop would exist
        // only on this replica): Redis unblocks them all with an error.
        for w in shared.workers() {
            w.send(Msg::UnblockAll(
                "UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)".into(),
            ));
        }
        // Our own writes stop feeding the stream: from now on it is the master's bytes.
        at_switch(shared, barrier, || {
            r.feeding.store(false, Ordering::Relaxed);
            crate::aof::refresh_on();
        });
    }
    // Our replicas stay (Redis's replicationSetMaster keeps them): if the new master continues
    // our history they lose nothing. They are disconnected, to resync with us, only when the
    // history does change: a partial resync that brings a new replid, or a full sync's RDB,
    // once it is all here and about to replace our data (a transfer that fails, e.g. because
    // the new master dies mid-way, leaves them and our history as they were).
    crate::oom_score::apply_current(shared);
    notice!("Connecting to MASTER {host}:{port}");
    let spawned = std::thread::Builder::new().name("repl-link".into()).spawn(move || link_thread(shared, generation));
    if let Err(e) = spawned {
        warning!("Can't start the replication link thread: {e}");
    }
    Ok(false)
}

/// Stops replicating and becomes a master (REPLICAOF NO ONE): the replication id moves to
/// replid2 (valid up to the current offset) so former siblings can partially resync with us.
pub fn become_master(shared: &'static Shared) {
    become_master_at(shared, true)
}

fn become_master_at(shared: &'static Shared, barrier: bool) {
    let r = repl();
    r.starting_as_replica.store(false, Ordering::Relaxed);
    let old_client = {
        let mut l = r.link.lock();
        l.master = None;
        shared.config.write().set_replicaof(None);
        l.generation += 1;
        l.state = "none";
        l.client.take()
    };
    r.link_up.store(false, Ordering::Relaxed);
    kill_client(shared, old_client);
    if !r.replica.swap(false, Ordering::Relaxed) {
        return;
    }
    forget_replica_keys();
    at_switch(shared, barrier, || {
        let mut st = r.stream.lock();
        st.shift_replid();
        st.selected_db = None;
        if !st.active {
            st.active = true;
            st.start = st.end;
        }
        drop(st);
        r.feeding.store(true, Ordering::Relaxed);
        crate::aof::refresh_on();
    });
    disconnect_replicas();
    crate::oom_score::apply_current(shared);
    notice!("MASTER MODE enabled");
}

/// A role change requested from a context that must not wait for the all-slots barrier (the
/// cluster machine's actions run with the machine locked, and a worker applying our master's
/// PUBLISH holds the apply lock while it takes the machine lock).
pub enum Control {
    ReplicateFrom(String, u16),
    BecomeMaster,
}

static CONTROL: OnceLock<Mutex<std::sync::mpsc::Sender<Control>>> = OnceLock::new();

/// Queues a role change; a thread of its own runs the queue in order.
pub fn request(shared: &'static Shared, c: Control) {
    let tx = CONTROL.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<Control>();
        let spawned = std::thread::Builder::new().name("repl-control".into()).spawn(move || {
            while let Ok(c) = rx.recv() {
                match c {
                    Control::ReplicateFrom(host, port) => {
                        let _ = replicate_from(shared, &host, port);
                    }
                    Control::BecomeMaster => {
                        become_master(shared);
                        if shared.role_switch_pending.swap(false, Ordering::SeqCst) {
                            for w in shared.workers() {
                                w.send(Msg::Poke);
                            }
                        }
                    }
                }
            }
        });
        if let Err(e) = spawned {
            warning!("Can't start the replication control thread: {e}");
        }
        Mutex::new(tx)
    });
    let _ = tx.lock().send(c);
}

fn kill_client(shared: &Shared, client: Option<(u64, usize)>) {
    let Some((id, worker)) = client else { return };
    if let Some(info) = shared.clients.lock().get(&id) {
        info.kill.store(true, Ordering::Relaxed);
    }
    if let Some(w) = shared.workers().get(worker) {
        w.send(Msg::Poke);
    }
}

fn disconnect_replicas() {
    let links: Vec<Arc<ReplicaLink>> = repl().stream.lock().links.clone();
    for l in links {
        l.close();
    }
}

// ---------------------------------------------------------------------------------------------
// Feeding the stream
// ---------------------------------------------------------------------------------------------

/// True while a master's writes feed the stream (one atomic load).
#[inline]
pub fn feeding() -> bool {
    REPL.get().is_some_and(|r| r.feeding.load(Ordering::Relaxed))
}

/// Appends commands run on this master (slot locks held), with SELECTs as the stream needs
/// them and MULTI/EXEC around them with `wrap`.
pub fn feed(ops: &[(u32, Vec<Vec<u8>>)], wrap: bool) {
    feed_ops(ops.iter().map(|(db, argv)| (*db, argv.as_slice())), wrap);
}

/// [`feed`] of borrowed commands (the AOF's `append_ops` passes a request's own arguments).
pub fn feed_ops<'a, A: AsRef<[u8]> + 'a>(ops: impl Iterator<Item = (u32, &'a [A])>, wrap: bool) {
    thread_local! {
        /// The encoding buffer, reused: every write a master propagates passes here.
        static OUT: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let r = repl();
    let mut ops = ops.peekable();
    OUT.with(|out| {
        let mut out = out.borrow_mut();
        out.clear();
        let mut st = r.stream.lock();
        if wrap {
            if let Some((db, _)) = ops.peek() {
                st.select(*db, &mut out);
            }
            persist::aof::encode_command(&mut out, &[b"MULTI"]);
        }
        for (db, argv) in ops {
            st.select(db, &mut out);
            persist::aof::encode_command(&mut out, argv);
        }
        if wrap {
            persist::aof::encode_command(&mut out, &[b"EXEC"]);
        }
        st.push(&out);
        if out.capacity() > 1 << 20 {
            // A huge write's buffer is not kept for the next small one.
            *out = Vec::new();
        }
    });
    r.data.notify_all();
}

/// DEBUG REPLICATE: one command into the stream as it is, in the stream's current database
/// (Redis's `replicationFeedSlaves` with `slaveseldb`), whatever it is.
pub fn feed_verbatim(argv: &[&[u8]]) {
    let r = repl();
    let mut out = Vec::new();
    persist::aof::encode_command(&mut out, argv);
    r.stream.lock().push(&out);
    r.data.notify_all();
}

/// Redis's afterErrorReply for its master client: a command our master sent failed here, so
/// this replica's data may have diverged. Logged as critical with the end of our stream (the
/// command itself is not in it yet: it joins after it ran), counted, and with
/// `propagation-error-behavior panic` or `panic-on-replicas` on a read-only replica the
/// process stops, as Redis panics, rather than serve data it knows may be wrong.
pub fn master_command_failed(shared: &Shared, error: &[u8], command: Option<&str>) {
    let error = &error[..error.len().min(4096)];
    let command = command.unwrap_or("<unknown>");
    warning!(
        "== CRITICAL == This replica is sending an error to its master: '{}' after processing the command '{command}'",
        String::from_utf8_lossy(error)
    );
    {
        let st = repl().stream.lock();
        if st.active && !st.buf.is_empty() {
            let n = st.buf.len().min(256);
            let tail: Vec<u8> = st.buf.range(st.buf.len() - n..).copied().collect();
            let mut dump = String::new();
            crate::introspect::repr(&mut dump, &tail);
            warning!("Latest backlog is: '{dump}'");
        }
    }
    shared.stats.unexpected_error_replies.fetch_add(1, Ordering::Relaxed);
    let (behavior, read_only) = {
        let cfg = shared.config.read();
        (cfg.get("propagation-error-behavior").unwrap_or_default(), cfg.get_bool("replica-read-only").unwrap_or(true))
    };
    if read_only && (behavior == "panic" || behavior == "panic-on-replicas") {
        // Redis's serverPanic report, then the end of the process.
        warning!("------------------------------------------------");
        warning!("!!! Software Failure. Press left mouse button to continue");
        warning!(
            "Guru Meditation: This replica panicked sending an error to its master after processing the command '{command}' #{}:{}",
            file!(),
            line!()
        );
        std::process::abort();
    }
}

/// The master client's lock around one command and its stream append.
pub fn apply_lock() -> parking_lot::MutexGuard<'static, ()> {
    repl().apply.lock()
}

/// On a replica, after the master client applied a command (outside MULTI) or a whole
/// transaction: its bytes, verbatim, join our stream (for our replicas and the offset).
/// Bytes of a master client that is no longer ours are dropped.
pub fn applied_from_master(client_id: u64, bytes: &[u8]) {
    let r = repl();
    if r.link.lock().client.map(|c| c.0) != Some(client_id) {
        return;
    }
    r.stream.lock().push(bytes);
    r.data.notify_all();
}

/// CLIENT KILL chose client `client_id` (its kill flag is already set).
///
/// If it is our master link, the link counts as down from now (Redis frees the master client at
/// once), although its worker closes it only when it is free (after a DEBUG SLEEP or a
/// transaction under way). A cluster replica's failover judges its data's age from this time
/// (06-slave-stop-cond).
///
/// If it is one of our replicas, its socket is shut down now, as Redis frees a replica client at
/// once: the replica sees the end of its transfer or stream at the same moment, not when the
/// writer thread next looks at the flag (which, mid-transfer, is only after the whole RDB).
pub fn client_killed(client_id: u64) {
    let Some(r) = REPL.get() else { return };
    {
        let mut l = r.link.lock();
        if l.client.map(|c| c.0) == Some(client_id) && r.link_up.load(Ordering::Relaxed) {
            l.down_since_ms = now_ms();
            r.link_up.store(false, Ordering::Relaxed);
        }
    }
    // The link leaves the stream now, as Redis frees a replica at once: what only it still
    // needed is trimmed here, so INFO right after the kill shows the memory given back, not
    // whenever the writer thread notices.
    let killed = {
        let mut st = r.stream.lock();
        let killed = st.links.iter().find(|l| l.info.id == client_id).cloned();
        if let Some(link) = &killed {
            st.links.retain(|l| !Arc::ptr_eq(l, link));
            st.trim();
        }
        killed
    };
    if let Some(link) = killed {
        link.close();
        r.data.notify_all();
    }
}

/// The worker closed the master client: the link thread reconnects and asks for a partial
/// resync from our offset (the cached master is our own stream).
pub fn master_link_lost(client_id: u64, db: u32) {
    let Some(r) = REPL.get() else { return };
    let mut l = r.link.lock();
    if l.client.map(|c| c.0) == Some(client_id) {
        l.client = None;
        l.db = db;
        l.state = "connect";
        // Down since CLIENT KILL if that is what closed it (`client_killed`).
        if r.link_up.load(Ordering::Relaxed) || l.down_since_ms < 0 {
            l.down_since_ms = now_ms();
        }
        r.link_up.store(false, Ordering::Relaxed);
        notice!("Connection with master lost.");
        notice!("* Caching the disconnected master state.");
    }
}

/// The `REPLCONF ACK <offset>` a replica sends its master.
pub fn ack_command() -> Vec<u8> {
    let mut out = Vec::new();
    persist::aof::encode_command(&mut out, &[b"REPLCONF".to_vec(), b"ACK".to_vec(), offset().to_string().into_bytes()]);
    out
}

// ---------------------------------------------------------------------------------------------
// Checks for the dispatcher
// ---------------------------------------------------------------------------------------------

/// Replica-side refusals in Redis's processCommand order: NOREPLICAS, READONLY, MASTERDOWN.
/// `from_master` exempts the master client. Two atomic loads on a master without
/// min-replicas-to-write.
pub fn refusal(
    write: bool,
    stale_ok: bool,
    from_master: bool,
    read_only: bool,
    serve_stale: bool,
) -> Option<&'static str> {
    let r = REPL.get()?;
    if from_master {
        return None;
    }
    let replica = r.replica.load(Ordering::Relaxed);
    if write && !replica {
        let min = r.min_to_write.load(Ordering::Relaxed);
        if min > 0 && good_replicas(r.max_lag_s.load(Ordering::Relaxed)) < min {
            return Some("NOREPLICAS Not enough good replicas to write.");
        }
    }
    if !replica {
        return None;
    }
    if write && read_only {
        return Some("READONLY You can't write against a read only replica.");
    }
    if !serve_stale && !stale_ok && !r.link_up.load(Ordering::Relaxed) {
        return Some("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.");
    }
    None
}

/// Online replicas whose last ACK is at most `max_lag_s` seconds old (Redis's
/// `refreshGoodSlavesCount`, counted when asked rather than cached, so a CONFIG SET or an ACK
/// counts at once).
fn good_replicas(max_lag_s: i64) -> usize {
    let now = now_ms();
    repl()
        .stream
        .lock()
        .links
        .iter()
        .filter(|l| {
            l.state.load(Ordering::Relaxed) == ONLINE && now - l.ack_ms.load(Ordering::Relaxed) <= max_lag_s * 1000
        })
        .count()
}

/// min-replicas-to-write / min-replicas-max-lag changed (called on every config refresh).
pub fn refresh_config(min_to_write: i64, max_lag_s: i64) {
    let r = repl();
    let min = if max_lag_s > 0 { min_to_write.max(0) as usize } else { 0 };
    r.min_to_write.store(min, Ordering::Relaxed);
    r.max_lag_s.store(max_lag_s, Ordering::Relaxed);
}

// ---------------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------------

/// What a replica said about itself with REPLCONF before PSYNC.
#[derive(Default, Clone, Debug)]
pub struct ReplicaHello {
    pub listening_port: u16,
    pub ip: Option<String>,
    pub capa_eof: bool,
    pub capa_psync2: bool,
}

/// A PSYNC/SYNC accepted by the worker: the connection goes to [`serve_replica`].
#[derive(Clone, Debug)]
pub struct PsyncRequest {
    pub replid: String,
    pub offset: i64,
    /// Old-style SYNC: no +FULLRESYNC line.
    pub sync: bool,
    pub hello: ReplicaHello,
}

/// REPLCONF on a normal client (the master client's GETACK is answered by the worker).
/// Err with the error text; Ok(true) when a +OK is owed.
pub fn replconf(hello: &mut ReplicaHello, args: &[&[u8]]) -> Result<bool, String> {
    if args.len().is_multiple_of(2) {
        return Err("ERR syntax error".into());
    }
    let mut i = 1;
    while i + 1 < args.len() {
        let opt = String::from_utf8_lossy(args[i]).to_ascii_lowercase();
        let val = args[i + 1];
        match opt.as_str() {
            "listening-port" => match std::str::from_utf8(val).ok().and_then(|s| s.parse::<i64>().ok()) {
                Some(p) if (0..=65535).contains(&p) => hello.listening_port = p as u16,
                _ => return Err("ERR value is not an integer or out of range".into()),
            },
            "ip-address" => {
                if val.len() >= 46 {
                    return Err(format!(
                        "ERR REPLCONF ip-address provided by replica instance is too long: {} bytes",
                        val.len()
                    ));
                }
                hello.ip = Some(String::from_utf8_lossy(val).into_owned());
            }
            "capa" => {
                if val.eq_ignore_ascii_case(b"eof") {
                    hello.capa_eof = true;
                } else if val.eq_ignore_ascii_case(b"psync2") {
                    hello.capa_psync2 = true;
                }
            }
            // Only meaningful on a replica link (handled there) or from our master.
            "ack" | "getack" => return Ok(false),
            "rdb-only" | "rdb-filter-only" => {}
            _ => return Err(format!("ERR Unrecognized REPLCONF option: {}", String::from_utf8_lossy(args[i]))),
        }
        i += 2;
    }
    Ok(true)
}

/// Checks a PSYNC/SYNC before the connection is handed over. Err with the error reply.
/// `PSYNC <replid> <offset> FAILOVER` from our own master (same replication id) is Redis's
/// coordinated failover: we become a master first, then serve the request, which then
/// continues partially from our replid2. `in_locked_exec` as for REPLICAOF.
pub fn psync_check(
    shared: &'static Shared,
    args: &[&[u8]],
    hello: &ReplicaHello,
    peer_addr: &str,
    in_locked_exec: bool,
) -> Result<PsyncRequest, String> {
    let r = repl();
    if args.len() > 3 && args[0].eq_ignore_ascii_case(b"psync") && args[3].eq_ignore_ascii_case(b"failover") {
        if args[1] != r.stream.lock().replid.as_bytes() {
            return Err("ERR PSYNC FAILOVER replid must match my replid.".into());
        }
        become_master_at(shared, !in_locked_exec);
        notice!("Failover request received for replid {}.", String::from_utf8_lossy(args[1]));
    }
    if r.failover.lock().phase != FailoverPhase::None {
        return Err("NOMASTERLINK Can't SYNC while failing over".into());
    }
    if r.replica.load(Ordering::Relaxed) && !r.link_up.load(Ordering::Relaxed) {
        return Err("NOMASTERLINK Can't SYNC while not connected with my master".into());
    }
    let sync = args[0].eq_ignore_ascii_case(b"sync");
    if sync {
        return Ok(PsyncRequest { replid: "?".into(), offset: -1, sync: true, hello: hello.clone() });
    }
    if args.len() < 3 {
        return Err("ERR wrong number of arguments for 'psync' command".into());
    }
    let offset = std::str::from_utf8(args[2]).ok().and_then(|s| s.parse::<i64>().ok()).ok_or_else(|| {
        // As Redis's syncCommand, which names the replica by the address it announced or connected from.
        let ip = hello.ip.as_deref().unwrap_or_else(|| peer_ip(peer_addr));
        warning!(
            "Replica {} asks for synchronization but with a wrong offset",
            replica_log_name(ip, hello.listening_port)
        );
        "ERR value is not an integer or out of range".to_string()
    })?;
    Ok(PsyncRequest {
        replid: String::from_utf8_lossy(args[1]).into_owned(),
        offset,
        sync: false,
        hello: hello.clone(),
    })
}

/// REPLICAOF / SLAVEOF. The reply text (simple string or error, with its prefix). `in_locked_exec`:
/// inside an EXEC that holds slot locks, where the switch cannot take the barrier
/// (see `at_switch`).
pub fn replicaof_command(
    shared: &'static Shared,
    args: &[&[u8]],
    cluster: bool,
    in_locked_exec: bool,
) -> Result<String, String> {
    if cluster {
        return Err("ERR REPLICAOF not allowed in cluster mode.".into());
    }
    if args[1].eq_ignore_ascii_case(b"no") && args[2].eq_ignore_ascii_case(b"one") {
        if is_replica() {
            become_master_at(shared, !in_locked_exec);
        }
        return Ok("OK".into());
    }
    let port = std::str::from_utf8(args[2])
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .filter(|p| (0..=65535).contains(p))
        .ok_or_else(|| "ERR Invalid master port".to_string())?;
    let host = String::from_utf8_lossy(args[1]).into_owned();
    if replicate_from_at(shared, &host, port as u16, !in_locked_exec)? {
        return Ok("OK Already connected to specified master".into());
    }
    notice!("REPLICAOF {host}:{port} enabled (user request)");
    Ok("OK".into())
}

// ---------------------------------------------------------------------------------------------
// FAILOVER (coordinated failover of a standalone master, Redis 6.2+)
// ---------------------------------------------------------------------------------------------

/// FAILOVER [TO host port [FORCE]] [ABORT] [TIMEOUT ms] (Redis's `failoverCommand`): pauses
/// writes, and once a replica (the named one, or any) has every byte, makes this node its
/// replica with `PSYNC ... FAILOVER`, which tells the replica to take over. The cron carries it
/// on (`update_failover_status`). `in_locked_exec` as for REPLICAOF.
pub fn failover_command(
    shared: &'static Shared,
    args: &[&[u8]],
    cluster: bool,
    in_locked_exec: bool,
    now: i64,
) -> Result<(), String> {
    const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
    if cluster {
        return Err("ERR FAILOVER not allowed in cluster mode.".into());
    }
    let parse = |a: &[u8]| std::str::from_utf8(a).ok().and_then(|s| s.parse::<i64>().ok());
    let (mut host, mut port, mut timeout_ms, mut force, mut abort) = (None, 0i64, 0i64, false, false);
    let mut j = 1;
    while j < args.len() {
        let a = args[j];
        if a.eq_ignore_ascii_case(b"to") && host.is_none() && j + 2 < args.len() {
            host = Some(String::from_utf8_lossy(args[j + 1]).into_owned());
            port = parse(args[j + 2]).ok_or(NOT_INTEGER)?;
            j += 2;
        } else if a.eq_ignore_ascii_case(b"timeout") && j + 1 < args.len() && timeout_ms <= 0 {
            timeout_ms = parse(args[j + 1]).ok_or(NOT_INTEGER)?;
            if timeout_ms <= 0 {
                return Err("ERR FAILOVER timeout must be greater than 0".into());
            }
            j += 1;
        } else if a.eq_ignore_ascii_case(b"force") && !force {
            force = true;
        } else if a.eq_ignore_ascii_case(b"abort") && !abort {
            abort = true;
        } else {
            return Err("ERR syntax error".into());
        }
        j += 1;
    }
    let r = repl();
    if abort {
        if r.failover.lock().phase == FailoverPhase::None {
            return Err("ERR No failover in progress.".into());
        }
        abort_failover_at(shared, "Failover manually aborted", !in_locked_exec);
        return Ok(());
    }
    if force && (timeout_ms == 0 || host.is_none()) {
        return Err("ERR FAILOVER with force option requires both a timeout and target HOST and IP.".into());
    }
    if is_replica() {
        return Err("ERR FAILOVER is not valid when server is a replica.".into());
    }
    if r.stream.lock().links.is_empty() {
        return Err("ERR FAILOVER requires connected replicas.".into());
    }
    let mut f = r.failover.lock();
    if f.phase != FailoverPhase::None {
        return Err("ERR FAILOVER already in progress.".into());
    }
    let target = match host {
        Some(host) => {
            let link = find_replica(&host, port).ok_or("ERR FAILOVER target HOST and PORT is not a replica.")?;
            if link.state.load(Ordering::Relaxed) != ONLINE {
                return Err("ERR FAILOVER target replica is not online.".into());
            }
            notice!("FAILOVER requested to {host}:{port}.");
            Some((host, port as u16))
        }
        None => {
            notice!("FAILOVER requested to any replica.");
            None
        }
    };
    *f = Failover {
        phase: FailoverPhase::WaitForSync,
        target,
        end_ms: (timeout_ms > 0).then(|| now.saturating_add(timeout_ms)),
        force,
        quiesced: false,
    };
    drop(f);
    pause_writes(shared);
    Ok(())
}

/// The link of the replica that announced `host` and listening port `port`.
fn find_replica(host: &str, port: i64) -> Option<Arc<ReplicaLink>> {
    let st = repl().stream.lock();
    st.links.iter().find(|l| l.ip == host && i64::from(l.listening_port.load(Ordering::Relaxed)) == port).cloned()
}

/// Holds every write from now on (Redis's `PAUSE_DURING_FAILOVER` write pause; CLIENT UNPAUSE
/// does not end it), then, on a thread of its own, waits until no worker is inside a write
/// that began before (`WorkerStats::in_write`): only then does our offset stop moving with data.
fn pause_writes(shared: &'static Shared) {
    shared.failover_pause_until_ms.store(i64::MAX, Ordering::SeqCst);
    let spawned = std::thread::Builder::new().name("failover-pause".into()).spawn(move || {
        if !shared.wait_writes_drained(Duration::from_secs(5)) {
            warning!("FAILOVER: a write did not finish within 5 s of the pause");
            return;
        }
        let mut f = repl().failover.lock();
        if f.phase == FailoverPhase::WaitForSync {
            f.quiesced = true;
        }
    });
    if let Err(e) = spawned {
        warning!("FAILOVER: could not start the pause thread: {e}");
    }
}

/// Redis's `clearFailoverState`: no failover, writes flow again.
fn clear_failover_state(shared: &Shared) {
    let r = repl();
    *r.failover.lock() = Failover::default();
    shared.failover_pause_until_ms.store(0, Ordering::SeqCst);
}

/// Redis's `abortFailover`: back to master if we had already turned to the target.
fn abort_failover(shared: &'static Shared, reason: &str) {
    abort_failover_at(shared, reason, true)
}

fn abort_failover_at(shared: &'static Shared, reason: &str, barrier: bool) {
    let (phase, target) = {
        let f = repl().failover.lock();
        (f.phase, f.target.clone())
    };
    if phase == FailoverPhase::None {
        return;
    }
    match target {
        Some((h, p)) => notice!("FAILOVER to {h}:{p} aborted: {reason}"),
        None => notice!("FAILOVER to any replica aborted: {reason}"),
    }
    if phase == FailoverPhase::InProgress {
        become_master_at(shared, barrier);
    }
    clear_failover_state(shared);
}

/// Redis's `updateFailoverStatus`, from the cron: times out (or, with FORCE, fails over
/// anyway), or turns to the first replica that has acknowledged our whole offset.
fn update_failover_status(shared: &'static Shared, now: i64) {
    let r = repl();
    let mut f = r.failover.lock();
    if f.phase != FailoverPhase::WaitForSync {
        return;
    }
    if f.end_ms.is_some_and(|end| end <= now) {
        if let (true, Some((host, port))) = (f.force, f.target.clone()) {
            notice!("FAILOVER to {host}:{port} time out exceeded, failing over.");
            f.phase = FailoverPhase::InProgress;
            drop(f);
            let _ = replicate_from(shared, &host, port);
        } else {
            drop(f);
            abort_failover(shared, "Replica never caught up before timeout");
        }
        return;
    }
    if !f.quiesced {
        return;
    }
    let end = r.stream.lock().end;
    let caught_up = match &f.target {
        Some((host, port)) => find_replica(host, i64::from(*port)).filter(|l| l.ack.load(Ordering::Relaxed) == end),
        None => {
            let st = r.stream.lock();
            st.links
                .iter()
                .find(|l| l.state.load(Ordering::Relaxed) == ONLINE && l.ack.load(Ordering::Relaxed) == end)
                .cloned()
        }
    };
    // Replicas acknowledge once a second on their own. Rejected: asking with REPLCONF GETACK,
    // as WAIT does: a replica's answer counts the bytes before the GETACK, so while we keep
    // asking its acknowledgement never reaches our offset.
    let Some(link) = caught_up else { return };
    let (host, port) = f.target.clone().unwrap_or((link.ip.clone(), link.listening_port.load(Ordering::Relaxed)));
    f.target = Some((host.clone(), port));
    f.phase = FailoverPhase::InProgress;
    drop(f);
    notice!("Failover target {host}:{port} is synced, failing over.");
    let _ = replicate_from(shared, &host, port);
}

/// ROLE's reply.
pub fn role_reply(out: &mut resp::ReplyBuf) {
    let r = repl();
    if r.replica.load(Ordering::Relaxed) {
        let l = r.link.lock();
        let (host, port) = l.master.clone().unwrap_or_default();
        out.array(5);
        out.bulk(b"slave");
        out.bulk(host.as_bytes());
        out.int(port as i64);
        out.bulk(l.state.as_bytes());
        let off = if l.client.is_some() { r.stream.lock().end as i64 } else { -1 };
        out.int(off);
        return;
    }
    let st = r.stream.lock();
    let links: Vec<&Arc<ReplicaLink>> = st.links.iter().filter(|l| l.state.load(Ordering::Relaxed) == ONLINE).collect();
    out.array(3);
    out.bulk(b"master");
    out.int(st.end as i64);
    out.array(links.len());
    for l in links {
        out.array(3);
        out.bulk(l.ip.as_bytes());
        out.bulk(l.listening_port.load(Ordering::Relaxed).to_string().as_bytes());
        out.bulk(l.ack.load(Ordering::Relaxed).to_string().as_bytes());
    }
}

/// How many replicas acknowledged at least `target`.
pub fn replicas_acked(target: u64) -> usize {
    let Some(r) = REPL.get() else { return 0 };
    r.stream.lock().links.iter().filter(|l| l.ack.load(Ordering::Relaxed) >= target).count()
}

/// Redis's `isReadyToShutdown`: every replica (in any state) has acknowledged the whole stream.
pub fn replicas_caught_up() -> bool {
    let Some(r) = REPL.get() else { return true };
    let st = r.stream.lock();
    st.links.iter().all(|l| l.ack.load(Ordering::Relaxed) == st.end)
}

/// What `finishShutdown` logs of the replicas: each one that lags, then how many are in sync.
pub fn log_replicas_at_shutdown() {
    let Some(r) = REPL.get() else { return };
    let st = r.stream.lock();
    let now_s = now_ms() / 1000;
    let mut lagging = 0usize;
    for l in &st.links {
        let ack = l.ack.load(Ordering::Relaxed);
        if ack == st.end {
            continue;
        }
        lagging += 1;
        let state = l.state.load(Ordering::Relaxed);
        let lag = if state == ONLINE { now_s - l.ack_ms.load(Ordering::Relaxed) / 1000 } else { 0 };
        let state = state_name(state);
        warning!(
            "Lagging replica {} reported offset {} behind master, lag={lag}, state={state}.",
            l.name(),
            st.end as i64 - ack as i64
        );
    }
    if !st.links.is_empty() {
        notice!("{} of {} replicas are in sync when shutting down.", st.links.len() - lagging, st.links.len());
    }
}

/// WAIT asks the replicas for their offsets (Redis's `REPLCONF GETACK *` in beforeSleep).
pub fn request_acks() {
    let r = repl();
    if !r.feeding.load(Ordering::Relaxed) {
        return;
    }
    let mut st = r.stream.lock();
    if st.links.is_empty() {
        return;
    }
    let mut out = Vec::new();
    persist::aof::encode_command(&mut out, &[&b"REPLCONF"[..], b"GETACK", b"*"]);
    st.push(&out);
    drop(st);
    r.data.notify_all();
}

// ---------------------------------------------------------------------------------------------
// INFO
// ---------------------------------------------------------------------------------------------

/// INFO's `# Replication` section, with Redis 7.0's fields in its order.
pub fn info_section(shared: &Shared) -> String {
    use std::fmt::Write as _;
    let r = repl();
    let now = now_ms();
    let mut s = String::from("# Replication\r\n");
    let replica = r.replica.load(Ordering::Relaxed);
    let _ = write!(s, "role:{}\r\n", if replica { "slave" } else { "master" });
    if replica {
        let l = r.link.lock();
        let (host, port) = l.master.clone().unwrap_or_default();
        let up = l.client.is_some();
        let end = r.stream.lock().end;
        let last_io = if up {
            shared
                .clients
                .lock()
                .get(&l.client.map_or(0, |c| c.0))
                .map_or(0, |c| (now - c.last_interaction_ms.load(Ordering::Relaxed)) / 1000)
        } else {
            -1
        };
        let in_sync = l.state == "sync";
        let _ = write!(
            s,
            "master_host:{host}\r\nmaster_port:{port}\r\nmaster_link_status:{}\r\nmaster_last_io_seconds_ago:{last_io}\r\nmaster_sync_in_progress:{}\r\nslave_read_repl_offset:{end}\r\nslave_repl_offset:{end}\r\n",
            if up { "up" } else { "down" },
            u8::from(in_sync),
        );
        if in_sync {
            let total = l.sync_total;
            let read = l.sync_read;
            let perc = if total > 0 { read as f64 * 100.0 / total as f64 } else { 0.0 };
            let _ = write!(
                s,
                "master_sync_total_bytes:{total}\r\nmaster_sync_read_bytes:{read}\r\nmaster_sync_left_bytes:{}\r\nmaster_sync_perc:{perc:.2}\r\nmaster_sync_last_io_seconds_ago:{}\r\n",
                total - read,
                (now - l.sync_last_io_ms) / 1000
            );
        }
        if !up {
            let since = if l.down_since_ms < 0 { -1 } else { (now - l.down_since_ms) / 1000 };
            let _ = write!(s, "master_link_down_since_seconds:{since}\r\n");
        }
        let cfg = shared.config.read();
        let _ = write!(
            s,
            "slave_priority:{}\r\nslave_read_only:{}\r\nreplica_announced:{}\r\n",
            cfg.get_i64("replica-priority").unwrap_or(100),
            u8::from(cfg.get_bool("replica-read-only").unwrap_or(true)),
            u8::from(cfg.get_bool("replica-announced").unwrap_or(true)),
        );
    }
    let failover_state = failover_state_name();
    let st = r.stream.lock();
    // A replica CLIENT KILL chose is gone for Redis at once (freeClient); its link thread may
    // take a moment to notice, and must not be counted meanwhile.
    let live = || st.links.iter().filter(|l| !l.info.kill.load(Ordering::Relaxed));
    let _ = write!(s, "connected_slaves:{}\r\n", live().count());
    {
        let cfg = shared.config.read();
        let min = cfg.get_i64("min-replicas-to-write").unwrap_or(0);
        let lag = cfg.get_i64("min-replicas-max-lag").unwrap_or(0);
        if min > 0 && lag > 0 {
            let good = {
                let now = now_ms();
                live()
                    .filter(|l| {
                        l.state.load(Ordering::Relaxed) == ONLINE
                            && now - l.ack_ms.load(Ordering::Relaxed) <= lag * 1000
                    })
                    .count()
            };
            let _ = write!(s, "min_slaves_good_slaves:{good}\r\n");
        }
    }
    for (i, l) in live().enumerate() {
        let state = state_name(l.state.load(Ordering::Relaxed));
        let _ = write!(
            s,
            "slave{i}:ip={},port={},state={state},offset={},lag={}\r\n",
            l.ip,
            l.listening_port.load(Ordering::Relaxed),
            l.ack.load(Ordering::Relaxed),
            (now - l.ack_ms.load(Ordering::Relaxed)) / 1000
        );
    }
    let first = if st.active { st.end - st.histlen() + 1 } else { 0 };
    let _ = write!(
        s,
        "master_failover_state:{}\r\nmaster_replid:{}\r\nmaster_replid2:{}\r\nmaster_repl_offset:{}\r\nsecond_repl_offset:{}\r\nrepl_backlog_active:{}\r\nrepl_backlog_size:{}\r\nrepl_backlog_first_byte_offset:{first}\r\nrepl_backlog_histlen:{}\r\n",
        failover_state,
        st.replid,
        st.replid2,
        st.end,
        st.second_offset,
        u8::from(st.active),
        st.backlog_size,
        if st.active { st.histlen() } else { 0 },
    );
    s
}

/// INFO's `master_failover_state`.
fn failover_state_name() -> &'static str {
    match REPL.get().map_or(FailoverPhase::None, |r| r.failover.lock().phase) {
        FailoverPhase::None => "no-failover",
        FailoverPhase::WaitForSync => "waiting-for-sync",
        FailoverPhase::InProgress => "failover-in-progress",
    }
}

// ---------------------------------------------------------------------------------------------
// Start-up and the cron
// ---------------------------------------------------------------------------------------------

/// What SAVE records in the RDB (Redis's `rdbPopulateSaveInfo`): the stream's database, id and
/// offset, when there is a history to resume (a master with a backlog, or a replica). Call it
/// with every slot locked (and the apply lock held) so the offset matches the data.
pub fn save_info(shared: &Shared) -> Option<(u32, String, u64)> {
    let r = REPL.get()?;
    // Lock order: link before stream (as INFO and ROLE take them).
    let replica_db = if r.replica.load(Ordering::Relaxed) {
        let l = r.link.lock();
        Some(match l.client {
            Some((id, _)) => shared.clients.lock().get(&id).map_or(l.db, |c| c.db.load(Ordering::Relaxed)),
            None => l.db,
        })
    } else {
        None
    };
    let st = r.stream.lock();
    if !st.active {
        return None;
    }
    let db = replica_db.unwrap_or_else(|| st.selected_db.unwrap_or(0));
    Some((db, st.replid.clone(), st.end))
}

/// Starts the replication cron and, with `replicaof` in the configuration, the link. A replica
/// whose RDB recorded its replication id and offset resumes that history, so it can ask its
/// master for a partial resync after a restart (Redis's cached master from the RDB).
pub fn start(shared: &'static Shared) {
    let r = repl();
    r.stream.lock().backlog_size = shared.config.read().get_i64("repl-backlog-size").unwrap_or(1 << 20).max(1) as u64;
    let loaded = shared.persist.lock().loaded_repl.take();
    let cluster_replica = shared.cluster.as_ref().is_some_and(|c| c.myself_is_replica());
    r.starting_as_replica.store(cluster_replica, Ordering::Relaxed);
    let is_replica = shared.config.read().replicaof().is_some() || cluster_replica;
    match loaded {
        Some(l) if is_replica => {
            notice!("Using the replication id {} and offset {} saved in the RDB file", l.replid, l.offset);
            let mut st = r.stream.lock();
            st.replid = l.replid;
            st.start = l.offset;
            st.end = l.offset;
            st.active = true;
            drop(st);
            r.link.lock().db = l.stream_db;
        }
        Some(l) => resume_history_as_master(shared, l),
        None => {}
    }
    if let Err(e) = std::thread::Builder::new().name("repl-cron".into()).spawn(move || cron_thread(shared)) {
        warning!("Can't start the replication cron thread: {e}");
    }
    let target = shared.config.read().replicaof();
    if let Some((host, port)) = target {
        let _ = replicate_from(shared, &host, port);
    }
}

/// A master restarted from an RDB that names its history: the old id becomes replid2, valid up
/// to the saved offset, and a backlog starts there (Redis's `loadDataFromDisk` for a master),
/// so the replicas that followed us before the restart resume with a partial resync. The
/// deletions of keys that expired while we were down go into that backlog first; if they
/// outgrow it, the replicas get a full sync instead.
fn resume_history_as_master(shared: &'static Shared, loaded: crate::persistence::LoadedRepl) {
    let r = repl();
    {
        let mut st = r.stream.lock();
        st.replid2 = loaded.replid;
        st.second_offset = loaded.offset as i64 + 1;
        st.start = loaded.offset;
        st.end = loaded.offset;
        st.buf.clear();
        st.selected_db = None;
        st.active = true;
        st.no_replicas_since_ms = now_ms();
    }
    r.feeding.store(true, Ordering::Relaxed);
    crate::aof::refresh_on();
    let lazy = shared.config.read().get_bool("lazyfree-lazy-expire").unwrap_or(false);
    let del: &[u8] = if lazy { b"UNLINK" } else { b"DEL" };
    let ops: Vec<(u32, Vec<Vec<u8>>)> =
        loaded.expired.into_iter().map(|(db, key)| (db, vec![del.to_vec(), key])).collect();
    if !ops.is_empty() {
        feed(&ops, false);
    }
}

fn cron_thread(shared: &'static Shared) {
    let r = repl();
    let mut last_ping_ms = now_ms();
    while !shared.shutdown.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
        let now = now_ms();
        let (backlog_size, ping_period, ttl, limit, repl_timeout_s) = {
            let cfg = shared.config.read();
            (
                cfg.get_i64("repl-backlog-size").unwrap_or(1 << 20).max(1) as u64,
                cfg.get_i64("repl-ping-replica-period").unwrap_or(10).max(1),
                cfg.get_i64("repl-backlog-ttl").unwrap_or(3600),
                cfg.client_output_buffer_limits()[1],
                cfg.get_i64("repl-timeout").unwrap_or(60).max(1),
            )
        };
        let replica = r.replica.load(Ordering::Relaxed);
        let mut to_close = Vec::new();
        let mut free_backlog = false;
        {
            let mut st = r.stream.lock();
            st.backlog_size = backlog_size;
            for l in &st.links {
                if l.info.kill.load(Ordering::Relaxed) {
                    to_close.push(l.clone());
                    continue;
                }
                let write_since_ms = l.transfer_write_since_ms.load(Ordering::Relaxed);
                if write_since_ms > 0 && now - write_since_ms > repl_timeout_s * 1000 {
                    warning!("Disconnecting timedout replica (full sync): {}", l.name());
                    l.close();
                    continue;
                }
                let lag = st.end.saturating_sub(l.pos.load(Ordering::Relaxed));
                // Redis's checkClientOutputBufferLimits: a replica's hard limit below the backlog
                // size counts as the backlog size, or a partial resync the backlog allows would
                // end in a disconnection at once.
                let hard_bytes = if limit.hard_bytes > 0 { limit.hard_bytes.max(backlog_size) } else { 0 };
                let over_hard = hard_bytes > 0 && lag > hard_bytes;
                let over_soft = limit.soft_bytes > 0 && lag > limit.soft_bytes;
                if over_soft {
                    let since = l.soft_since_ms.load(Ordering::Relaxed);
                    if since == 0 {
                        l.soft_since_ms.store(now, Ordering::Relaxed);
                    } else if now - since > limit.soft_seconds * 1000 {
                        to_close.push(l.clone());
                    }
                } else {
                    l.soft_since_ms.store(0, Ordering::Relaxed);
                }
                if over_hard {
                    to_close.push(l.clone());
                }
            }
            if !st.links.is_empty() {
                st.no_replicas_since_ms = now;
            } else if !replica && st.active && ttl > 0 && now - st.no_replicas_since_ms > ttl * 1000 {
                free_backlog = true;
            }
            st.trim();
        }
        for l in to_close {
            if !l.info.kill.load(Ordering::Relaxed) {
                warning!(
                    "Client id={} addr={} scheduled to be closed ASAP for overcoming of output buffer limits.",
                    l.info.id,
                    l.info.addr
                );
            }
            l.close();
        }
        if free_backlog {
            let _g = r.apply.lock();
            crate::aof::with_all_slots_locked(shared, || {
                let mut st = r.stream.lock();
                if st.links.is_empty() && !r.replica.load(Ordering::Relaxed) {
                    st.replid = random_hex(40);
                    st.replid2 = ZERO_ID.into();
                    st.second_offset = -1;
                    st.active = false;
                    st.buf.clear();
                    st.start = st.end;
                    r.feeding.store(false, Ordering::Relaxed);
                    crate::aof::refresh_on();
                    notice!("Replication backlog freed after {ttl} seconds without connected replicas.");
                }
            });
        }
        update_failover_status(shared, now);
        if !replica && !asleep() && now - last_ping_ms >= ping_period * 1000 {
            last_ping_ms = now;
            let mut st = r.stream.lock();
            if st.active && !st.links.is_empty() && r.feeding.load(Ordering::Relaxed) {
                st.push(b"*1\r\n$4\r\nPING\r\n");
                drop(st);
                r.data.notify_all();
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Master side: serving one replica
// ---------------------------------------------------------------------------------------------

/// Takes over a connection that sent PSYNC/SYNC (the worker let go of it): answers, sends the
/// RDB or the backlog, then streams, on threads of its own.
pub fn serve_replica(
    shared: &'static Shared,
    sock: TcpStream,
    info: Arc<ClientShared>,
    req: PsyncRequest,
    pending_out: Vec<u8>,
) {
    info.kind.store(CLIENT_REPLICA, Ordering::Relaxed);
    let spawned = std::thread::Builder::new()
        .name("repl-replica".into())
        .spawn(move || replica_writer(shared, sock, info, req, pending_out));
    if let Err(e) = spawned {
        warning!("Can't start a replica thread: {e}");
    }
}

fn replica_writer(
    shared: &'static Shared,
    mut sock: TcpStream,
    info: Arc<ClientShared>,
    req: PsyncRequest,
    pending_out: Vec<u8>,
) {
    let r = repl();
    let _ = sock.set_nonblocking(false);
    let _ = sock.set_nodelay(true);
    let _ = sock.set_write_timeout(None);
    let ip = req.hello.ip.clone().unwrap_or_else(|| peer_ip(&info.addr).to_string());
    let clone = match sock.try_clone() {
        Ok(c) => c,
        Err(e) => {
            warning!("Replica link: {e}");
            shared.clients.lock().remove(&info.id);
            return;
        }
    };
    let link = Arc::new(ReplicaLink {
        info: info.clone(),
        sock: clone,
        pos: AtomicU64::new(0),
        ack: AtomicU64::new(0),
        ack_ms: AtomicI64::new(now_ms()),
        state: AtomicU8::new(WAIT_BGSAVE),
        listening_port: AtomicU16::new(req.hello.listening_port),
        ip,
        closed: AtomicBool::new(false),
        soft_since_ms: AtomicI64::new(0),
        transfer_write_since_ms: AtomicI64::new(0),
    });
    let result = (|| -> std::io::Result<()> {
        if !pending_out.is_empty() {
            sock.write_all(&pending_out)?;
        }
        let reader = sock.try_clone()?;
        let l2 = link.clone();
        std::thread::Builder::new().name("repl-replica-rd".into()).spawn(move || replica_reader(shared, reader, l2))?;
        if !try_partial(&mut sock, &link, &req)? {
            full_sync(shared, &mut sock, &link, &req)?;
        }
        stream_to(shared, &mut sock, &link)
    })();
    link.close();
    {
        let mut st = r.stream.lock();
        st.links.retain(|l| !Arc::ptr_eq(l, &link));
        st.trim();
    }
    shared.clients.lock().remove(&info.id);
    match result {
        Ok(()) => warning!("Connection with replica {} lost.", link.name()),
        Err(e) => {
            warning!("Connection with replica {} lost ({e}).", link.name())
        }
    }
}

/// Redis's `masterTryPartialResynchronization`. Ok(true) when +CONTINUE was sent.
fn try_partial(sock: &mut TcpStream, link: &Arc<ReplicaLink>, req: &PsyncRequest) -> std::io::Result<bool> {
    let r = repl();
    if req.sync {
        return Ok(false);
    }
    let reply = {
        let mut st = r.stream.lock();
        let id_ok = req.replid == st.replid || (req.replid == st.replid2 && req.offset <= st.second_offset);
        let range_ok =
            st.active && req.offset >= 1 && (req.offset as u64) > st.start && (req.offset as u64) <= st.end + 1;
        if !(id_ok && range_ok) {
            if req.replid != "?" {
                if !id_ok {
                    notice!(
                        "Partial resynchronization not accepted: Replication ID mismatch (Replica asked for '{}', my replication IDs are '{}' and '{}')",
                        req.replid,
                        st.replid,
                        st.replid2
                    );
                } else {
                    notice!(
                        "Unable to partial resync with replica {} for lack of backlog (Replica request was: {}).",
                        link.name(),
                        req.offset
                    );
                }
                r.sync_partial_err.fetch_add(1, Ordering::Relaxed);
            }
            return Ok(false);
        }
        link.pos.store(req.offset as u64 - 1, Ordering::Relaxed);
        link.ack.store(req.offset as u64 - 1, Ordering::Relaxed);
        link.state.store(ONLINE, Ordering::Relaxed);
        st.links.push(link.clone());
        st.account();
        notice!(
            "Partial resynchronization request from {} accepted. Sending {} bytes of backlog starting from offset {}.",
            link.name(),
            st.end + 1 - req.offset as u64,
            req.offset
        );
        if req.hello.capa_psync2 {
            format!("+CONTINUE {}\r\n", st.replid)
        } else {
            "+CONTINUE\r\n".to_string()
        }
    };
    r.sync_partial_ok.fetch_add(1, Ordering::Relaxed);
    sock.write_all(reply.as_bytes())?;
    Ok(true)
}

/// A full resynchronization: the snapshot at an exact offset, as RDB, disk or EOF-marker form.
fn full_sync(
    shared: &'static Shared,
    sock: &mut TcpStream,
    link: &Arc<ReplicaLink>,
    req: &PsyncRequest,
) -> std::io::Result<()> {
    let r = repl();
    r.sync_full.fetch_add(1, Ordering::Relaxed);
    let (diskless, delay_s, key_delay_us) = {
        let cfg = shared.config.read();
        (
            cfg.get_bool("repl-diskless-sync").unwrap_or(true) && req.hello.capa_eof,
            cfg.get_i64("repl-diskless-sync-delay").unwrap_or(5).max(0),
            // Read once, as Redis's child reads it once when forked: a later CONFIG SET does not
            // speed up a transfer under way.
            cfg.rdb_key_save_delay_us().max(0) as u64,
        )
    };
    notice!("Replica {} asks for synchronization", link.name());
    notice!("Full resync requested by replica {}", link.name());
    if diskless {
        let member = BatchMember { link: link.clone(), sock: sock.try_clone()?, psync: !req.sync };
        return diskless_sync(shared, member, delay_s, key_delay_us);
    }
    let stop = || link.stopped(shared);
    let SyncStart { snapshot, checksum, replid, offset: at } =
        start_sync_snapshot(shared, std::slice::from_ref(link), &mut || keepalive(sock), &stop)?;
    // As Redis's rdb_child_type for a sync: INFO's rdb_bgsave_in_progress counts this transfer.
    let _saving = Counted::new(&SYNC_SNAPSHOTS, 1);
    let dbs: Vec<u32> = (0..shared.ks.db_count() as u32).collect();
    let dir = shared.config.read().rdb_path();
    let dir = dir.parent().map(|p| p.to_path_buf()).unwrap_or_default();
    let n = r.serial.fetch_add(1, Ordering::Relaxed);
    let path = dir.join(format!("temp-repl-{}-{n}.rdb", std::process::id()));
    let sent = (|| -> std::io::Result<()> {
        if !req.sync {
            notice!("Starting BGSAVE for SYNC with target: disk");
            sock.write_all(format!("+FULLRESYNC {replid} {at}\r\n").as_bytes())?;
        }
        let written = (|| -> std::io::Result<()> {
            let mut f = std::io::BufWriter::new(std::fs::File::create(&path)?);
            crate::persistence::write_snapshot_to(shared, &snapshot, &dbs, checksum, key_delay_us, &stop, &mut |b| {
                f.write_all(b)
            })?;
            f.flush()
        })();
        snapshot.end(&shared.ks, written.is_ok());
        written?;
        notice!("Background RDB transfer started by pid {}", std::process::id());
        link.state.store(SEND_BULK, Ordering::Relaxed);
        let mut f = std::fs::File::open(&path)?;
        let len = f.metadata()?.len();
        sock.write_all(format!("${len}\r\n").as_bytes())?;
        std::io::copy(&mut f, sock)?;
        Ok(())
    })();
    let _ = std::fs::remove_file(&path);
    sent?;
    link.state.store(ONLINE, Ordering::Relaxed);
    link.ack_ms.store(now_ms(), Ordering::Relaxed);
    notice!("Synchronization with replica {} succeeded", link.name());
    Ok(())
}

/// A full sync's snapshot, started: what [`start_sync_snapshot`] returns.
struct SyncStart {
    snapshot: Arc<crate::persistence::SlotSnapshot>,
    /// Whether the RDB ends with a checksum (`rdbchecksum`).
    checksum: bool,
    /// The replication ID and offset the snapshot is the data of (`+FULLRESYNC <replid> <offset>`).
    replid: String,
    offset: u64,
}

/// Starts the snapshot of a full sync and registers `links` in the stream at its offset, so
/// each gets exactly the data at that instant followed by the stream from there. The keyspace
/// has one snapshot at a time (a BGSAVE or AOF rewrite may hold it): retried until it is free,
/// with `send_keepalive` once a second.
fn start_sync_snapshot(
    shared: &'static Shared,
    links: &[Arc<ReplicaLink>],
    send_keepalive: &mut dyn FnMut() -> std::io::Result<()>,
    stop: &dyn Fn() -> bool,
) -> std::io::Result<SyncStart> {
    let r = repl();
    let mut waited_ms = 0u64;
    loop {
        if stop() {
            return Err(std::io::Error::other("closed while waiting for the snapshot"));
        }
        let (snapshot, checksum) =
            crate::persistence::SlotSnapshot::new(shared, now_ms(), crate::persistence::SnapshotKind::Rdb);
        let started = {
            let _g = r.apply.lock();
            crate::aof::with_all_slots_locked(shared, || {
                if !snapshot.start(&shared.ks) {
                    return None;
                }
                let mut st = r.stream.lock();
                if !st.active {
                    // Redis creates the backlog with a fresh history for the first replica.
                    st.active = true;
                    if !r.replica.load(Ordering::Relaxed) {
                        st.replid = random_hex(40);
                        st.replid2 = ZERO_ID.into();
                        st.second_offset = -1;
                    }
                    st.buf.clear();
                    st.start = st.end;
                }
                if !r.replica.load(Ordering::Relaxed) {
                    r.feeding.store(true, Ordering::Relaxed);
                    crate::aof::refresh_on();
                }
                // The next command of the stream names its database (the RDB leaves it at 0
                // for the replica, which could have run anything before).
                st.selected_db = None;
                for link in links {
                    link.pos.store(st.end, Ordering::Relaxed);
                    link.ack.store(0, Ordering::Relaxed);
                    st.links.push(link.clone());
                }
                st.account();
                Some((st.replid.clone(), st.end))
            })
        };
        if let Some((replid, offset)) = started {
            return Ok(SyncStart { snapshot, checksum, replid, offset });
        }
        std::thread::sleep(Duration::from_millis(100));
        waited_ms += 100;
        if waited_ms.is_multiple_of(1000) {
            send_keepalive()?;
        }
    }
}

/// One replica of a diskless transfer.
struct BatchMember {
    link: Arc<ReplicaLink>,
    /// The replica thread's socket, cloned: the leader writes the transfer to it.
    sock: TcpStream,
    /// It asked with PSYNC (it gets +FULLRESYNC first), not with the old SYNC.
    psync: bool,
}

/// Replicas that share one diskless transfer, as Redis's replicas share one RDB child: those
/// that ask during `repl-diskless-sync-delay` join the first, whose thread leads (waits, takes
/// the snapshot, writes it to every socket); the others wait for their outcome.
struct DisklessBatch {
    state: Mutex<BatchState>,
    done: Condvar,
}

#[derive(Default)]
struct BatchState {
    members: Vec<BatchMember>,
    /// The outcome per replica (client id), set by the leader when the transfer ends.
    results: Vec<(u64, Result<(), String>)>,
    /// The leader has written every outcome.
    finished: bool,
}

/// A batch member's outcome when the leader recorded none for it (it never should).
const LEFT_OUT: &str = "the transfer ended without this replica";

/// The batch still taking replicas (in its delay), if any.
static FORMING_BATCH: Mutex<Option<Arc<DisklessBatch>>> = Mutex::new(None);

/// A diskless full sync for `me`: joins the batch in its delay, or leads a new one.
fn diskless_sync(shared: &'static Shared, me: BatchMember, delay_s: i64, key_delay_us: u64) -> std::io::Result<()> {
    let my_id = me.link.info.id;
    let my_link = me.link.clone();
    let joined = {
        let mut forming = FORMING_BATCH.lock();
        match forming.as_ref() {
            Some(batch) if delay_s > 0 => {
                batch.state.lock().members.push(me);
                Err(batch.clone())
            }
            _ => {
                let batch = Arc::new(DisklessBatch {
                    state: Mutex::new(BatchState { members: vec![me], ..Default::default() }),
                    done: Condvar::new(),
                });
                if delay_s > 0 {
                    *forming = Some(batch.clone());
                }
                Ok(batch)
            }
        }
    };
    let batch = match joined {
        Ok(batch) => batch,
        Err(batch) => {
            // A follower: the leader's thread does the transfer. It always writes every
            // outcome before it ends, so this waits for as long as the transfer lasts.
            let mut st = batch.state.lock();
            loop {
                if let Some((_, result)) = st.results.iter().find(|(id, _)| *id == my_id) {
                    return result.clone().map_err(std::io::Error::other);
                }
                if st.finished {
                    return Err(std::io::Error::other(LEFT_OUT));
                }
                // Gone: this thread cleans up (the stream stops keeping data for it) without
                // waiting for the leader to notice at its next write.
                if my_link.stopped(shared) {
                    return Err(std::io::Error::other("closed during the transfer"));
                }
                batch.done.wait_for(&mut st, Duration::from_secs(1));
            }
        }
    };
    let results = lead_diskless_batch(shared, &batch, delay_s, key_delay_us);
    let mine = results.iter().find(|(id, _)| *id == my_id).map(|(_, r)| r.clone());
    {
        let mut st = batch.state.lock();
        st.results = results;
        st.finished = true;
    }
    batch.done.notify_all();
    mine.unwrap_or_else(|| Err(LEFT_OUT.into())).map_err(std::io::Error::other)
}

/// The leader's part: waits out the delay (while fewer than `repl-diskless-sync-max-replicas`
/// wait; 0: no such limit) with a keepalive newline each second, closes the batch, takes one
/// snapshot for all and writes it to every socket. A replica that fails or goes away is
/// dropped from the transfer without stopping it for the others. Returns each one's outcome.
fn lead_diskless_batch(
    shared: &'static Shared,
    batch: &Arc<DisklessBatch>,
    delay_s: i64,
    key_delay_us: u64,
) -> Vec<(u64, Result<(), String>)> {
    let mut results: Vec<(u64, Result<(), String>)> = Vec::new();
    // A replica that fails before the transfer: closed, so its own thread (waiting as a
    // follower) ends at once rather than when the transfer does.
    let fail = |results: &mut Vec<(u64, Result<(), String>)>, m: &BatchMember, why: String| {
        m.link.close();
        results.push((m.link.info.id, Err(why)));
    };
    if delay_s > 0 {
        let deadline = std::time::Instant::now() + Duration::from_secs(delay_s as u64);
        let mut next_keepalive = std::time::Instant::now() + Duration::from_secs(1);
        loop {
            let max_replicas = shared.config.read().get_i64("repl-diskless-sync-max-replicas").unwrap_or(0);
            let now = std::time::Instant::now();
            let mut st = batch.state.lock();
            let keepalive_due = now >= next_keepalive;
            if keepalive_due {
                next_keepalive += Duration::from_secs(1);
            }
            let mut kept = Vec::with_capacity(st.members.len());
            for m in std::mem::take(&mut st.members) {
                if m.link.stopped(shared) {
                    fail(&mut results, &m, "closed while waiting".into());
                } else if keepalive_due && keepalive(&m.sock).is_err() {
                    fail(&mut results, &m, "keepalive failed".into());
                } else {
                    kept.push(m);
                }
            }
            st.members = kept;
            let enough = max_replicas > 0 && st.members.len() as i64 >= max_replicas;
            if enough || now >= deadline || st.members.is_empty() {
                break;
            }
            drop(st);
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut forming = FORMING_BATCH.lock();
        if forming.as_ref().is_some_and(|b| Arc::ptr_eq(b, batch)) {
            *forming = None;
        }
    }
    // Closed: nobody joins any more (joining takes FORMING_BATCH's lock, released above).
    let members = std::mem::take(&mut batch.state.lock().members);
    if members.is_empty() {
        return results;
    }
    let links: Vec<Arc<ReplicaLink>> = members.iter().map(|m| m.link.clone()).collect();
    // Per replica: why it dropped out of the transfer, if it did.
    let failed: Vec<std::cell::RefCell<Option<String>>> = members.iter().map(|_| Default::default()).collect();
    // A replica that drops out leaves the stream at once, so that it no longer holds the
    // stream's data nor counts as connected (its own thread may be this one, busy writing).
    // Set once the transfer is under way: from then on the last replica to drop out ends it.
    let transferring = std::cell::Cell::new(false);
    let drop_out = |i: usize, why: String| {
        if failed[i].borrow().is_none() {
            *failed[i].borrow_mut() = Some(why);
            links[i].close();
            {
                let mut st = repl().stream.lock();
                st.links.retain(|l| !Arc::ptr_eq(l, &links[i]));
                st.trim();
            }
            if transferring.get() && failed.iter().all(|f| f.borrow().is_some()) {
                // Redis's words for it (its RDB comes from a fork child through a pipe).
                warning!("Diskless rdb transfer, last replica dropped, killing fork child.");
            }
        }
    };
    let all_stopped = || {
        for (i, l) in links.iter().enumerate() {
            if l.stopped(shared) {
                drop_out(i, "closed during the transfer".into());
            }
        }
        failed.iter().all(|f| f.borrow().is_some())
    };
    let mut keepalives = || {
        for m in &members {
            let _ = keepalive(&m.sock);
        }
        Ok(())
    };
    let started = start_sync_snapshot(shared, &links, &mut keepalives, &all_stopped);
    let SyncStart { snapshot, checksum, replid, offset: at } = match started {
        Ok(s) => s,
        Err(e) => {
            for m in &members {
                fail(&mut results, m, e.to_string());
            }
            return results;
        }
    };
    // As Redis's rdb_child_type for a sync: INFO's rdb_bgsave_in_progress counts this transfer.
    let _saving = Counted::new(&SYNC_SNAPSHOTS, 1);
    notice!("Starting BGSAVE for SYNC with target: replicas sockets");
    // A replica that stops reading (stopped, or its host gone) must not hold the transfer, and
    // the one snapshot, for the others: the repl-cron thread shuts its socket once a write to it
    // has waited for repl-timeout (read at each check, as Redis's replicationCron does), which
    // ends that write. Rejected: a send timeout on the socket, fixed when the transfer
    // starts, and a timed-out write, which may have sent part of a chunk, cannot be retried.
    let write_failed = |i: usize, e: std::io::Error| drop_out(i, e.to_string());
    let mark = random_hex(40);
    let mut writers: Vec<std::io::BufWriter<&TcpStream>> =
        members.iter().map(|m| std::io::BufWriter::with_capacity(1 << 16, &m.sock)).collect();
    for (i, m) in members.iter().enumerate() {
        let preamble = if m.psync { format!("+FULLRESYNC {replid} {at}\r\n") } else { String::new() };
        // Flushed at once: the replica reports the transfer (ROLE's "sync") from +FULLRESYNC on,
        // while the first 64 KB of a slowed-down snapshot can take long.
        links[i].transfer_write_since_ms.store(now_ms(), Ordering::Relaxed);
        let sent =
            writers[i].write_all(format!("{preamble}$EOF:{mark}\r\n").as_bytes()).and_then(|()| writers[i].flush());
        links[i].transfer_write_since_ms.store(0, Ordering::Relaxed);
        if let Err(e) = sent {
            write_failed(i, e);
        }
    }
    let dbs: Vec<u32> = (0..shared.ks.db_count() as u32).collect();
    transferring.set(true);
    let mut write_all = |bytes: &[u8]| -> std::io::Result<()> {
        let mut alive = 0;
        for (i, w) in writers.iter_mut().enumerate() {
            if failed[i].borrow().is_some() {
                continue;
            }
            if members[i].link.stopped(shared) {
                drop_out(i, "closed during the transfer".into());
                continue;
            }
            links[i].transfer_write_since_ms.store(now_ms(), Ordering::Relaxed);
            let wrote = w.write_all(bytes);
            links[i].transfer_write_since_ms.store(0, Ordering::Relaxed);
            match wrote {
                Ok(()) => alive += 1,
                Err(e) => write_failed(i, e),
            }
        }
        if alive == 0 {
            return Err(std::io::Error::other("every replica of the transfer is gone"));
        }
        Ok(())
    };
    let written = crate::persistence::write_snapshot_to(
        shared,
        &snapshot,
        &dbs,
        checksum,
        key_delay_us,
        &all_stopped,
        &mut write_all,
    )
    .and_then(|_| write_all(mark.as_bytes()));
    snapshot.end(&shared.ks, written.is_ok());
    for (i, w) in writers.iter_mut().enumerate() {
        if written.is_ok() && failed[i].borrow().is_none() {
            links[i].transfer_write_since_ms.store(now_ms(), Ordering::Relaxed);
            let flushed = w.flush();
            links[i].transfer_write_since_ms.store(0, Ordering::Relaxed);
            if let Err(e) = flushed {
                write_failed(i, e);
            }
        }
    }
    transferring.set(false);
    if written.is_ok() {
        let up = failed.iter().filter(|f| f.borrow().is_none()).count();
        notice!("Diskless rdb transfer, done reading from pipe, {up} replicas still up.");
    }
    for (i, m) in members.iter().enumerate() {
        let outcome = match (&written, failed[i].borrow().clone()) {
            (_, Some(why)) => Err(why),
            (Err(e), None) => Err(e.to_string()),
            (Ok(()), None) => Ok(()),
        };
        if outcome.is_ok() {
            m.link.state.store(ONLINE, Ordering::Relaxed);
            m.link.ack_ms.store(now_ms(), Ordering::Relaxed);
            notice!("Synchronization with replica {} succeeded", m.link.name());
        }
        results.push((m.link.info.id, outcome));
    }
    results
}

/// Sends the stream from the link's position on, until the link closes.
fn stream_to(shared: &Shared, sock: &mut TcpStream, link: &Arc<ReplicaLink>) -> std::io::Result<()> {
    let r = repl();
    // The full sync (which allocates while it encodes) is over: from here on this thread only
    // copies into one buffer.
    crate::memory::disable_thread_cache();
    let mut chunk = Vec::with_capacity(SEND_CHUNK);
    let _counted = Counted::new(&REPL_LINK_BUFFER_BYTES, crate::memory::allocation_size(chunk.capacity()) as u64);
    loop {
        if link.stopped(shared) {
            return Ok(());
        }
        chunk.clear();
        {
            let mut st = r.stream.lock();
            let pos = link.pos.load(Ordering::Relaxed);
            if pos < st.start {
                return Err(std::io::Error::other("the replica fell behind the backlog"));
            }
            if pos >= st.end {
                r.data.wait_for(&mut st, Duration::from_millis(100));
                continue;
            }
            let from = (pos - st.start) as usize;
            let n = ((st.end - pos) as usize).min(SEND_CHUNK);
            let (a, b) = st.buf.as_slices();
            if from < a.len() {
                let take = n.min(a.len() - from);
                chunk.extend_from_slice(&a[from..from + take]);
                chunk.extend_from_slice(&b[..n - take]);
            } else {
                chunk.extend_from_slice(&b[from - a.len()..from - a.len() + n]);
            }
        }
        sock.write_all(&chunk)?;
        link.pos.fetch_add(chunk.len() as u64, Ordering::Relaxed);
    }
}

/// Logs what Redis logs when a replica's command made the master produce a reply for it: the
/// reply an error (a keyspace command: "Replica can't interact with the keyspace") or not.
fn replica_sent_command(shared: &Shared, link: &ReplicaLink, args: &[&[u8]]) {
    use commands::meta::flag;
    let entry = shared.registry.lookup(args).ok();
    let full_name = match entry {
        Some(entry) => entry.meta.name.clone(),
        None => args.first().map(|a| String::from_utf8_lossy(a).to_ascii_lowercase()).unwrap_or_default(),
    };
    // Redis's processCommand refuses a replica's reads, writes and may-replicate commands with
    // this error, and an error sent to a replica is logged as critical.
    if entry.is_some_and(|e| e.meta.flags & (flag::WRITE | flag::READONLY | flag::MAY_REPLICATE) != 0) {
        warning!(
            "== CRITICAL == This master is sending an error to its replica: 'Replica can't interact with the keyspace' after processing the command '{full_name}'"
        );
    }
    let client = crate::info::client_line(shared, &link.info, now_ms());
    warning!("Replica generated a reply to command '{full_name}', disconnecting it: {client}");
}

/// Reads what a replica sends its master: `REPLCONF ACK <offset>` (and PINGs of old
/// replicas). Anything malformed closes the link.
fn replica_reader(shared: &'static Shared, mut sock: TcpStream, link: Arc<ReplicaLink>) {
    crate::memory::disable_thread_cache();
    let r = repl();
    let mut buf: Vec<u8> = Vec::new();
    let mut spans = Vec::new();
    let mut chunk = [0u8; 4096];
    let limits = resp::Limits { max_bulk_len: 1 << 20, unauthenticated: false };
    loop {
        let n = match sock.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        let mut at = 0;
        loop {
            match resp::parse_request(&buf[at..], &limits, &mut spans) {
                Ok(resp::Parsed::Multibulk { consumed }) => {
                    let args: Vec<&[u8]> = spans.iter().map(|s| s.of(&buf[at..])).collect();
                    if !args.first().is_some_and(|a| a.eq_ignore_ascii_case(b"replconf")) {
                        // A replica gets no replies (they would land in its stream), so Redis
                        // closes a replica link that sends a command that would produce one.
                        replica_sent_command(shared, &link, &args);
                        link.close();
                        r.data.notify_all();
                        return;
                    }
                    if args.len() >= 3 && args[1].eq_ignore_ascii_case(b"ack") {
                        if let Some(off) = std::str::from_utf8(args[2]).ok().and_then(|s| s.parse::<u64>().ok()) {
                            link.ack.store(off, Ordering::Relaxed);
                            link.ack_ms.store(now_ms(), Ordering::Relaxed);
                            if r.waiters.load(Ordering::Relaxed) > 0 {
                                for w in shared.workers() {
                                    w.send(Msg::Poke);
                                }
                            }
                        }
                    }
                    at += consumed;
                }
                Ok(resp::Parsed::Inline { consumed, .. }) | Ok(resp::Parsed::Skip { consumed }) => at += consumed,
                Ok(resp::Parsed::Incomplete { .. }) => break,
                Err(_) => {
                    link.close();
                    return;
                }
            }
        }
        buf.drain(..at);
        if buf.len() > 1 << 20 {
            break;
        }
    }
    link.close();
    r.data.notify_all();
}

// ---------------------------------------------------------------------------------------------
// Replica side: the link to our master
// ---------------------------------------------------------------------------------------------

/// Buffered reads from the master during the handshake and the RDB transfer; what is left
/// after the RDB is the start of the stream, handed to the worker with the socket.
struct MasterReader {
    sock: TcpStream,
    buf: Vec<u8>,
    pos: usize,
}

impl MasterReader {
    fn fill(&mut self) -> std::io::Result<()> {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        let mut chunk = [0u8; 16 * 1024];
        // A signal that lands during the read (a profiler's, a debugger's) is not the master's
        // doing: read again rather than fail the sync (Redis's replica must survive EINTR too).
        let n = loop {
            match self.sock.read(&mut chunk) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                r => break r?,
            }
        };
        if n == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the master closed the connection"));
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// One line without its CR LF (a bare LF ends one too: the master's keepalives).
    fn line(&mut self) -> std::io::Result<String> {
        loop {
            if let Some(i) = self.buf[self.pos..].iter().position(|&b| b == b'\n') {
                let mut line = &self.buf[self.pos..self.pos + i];
                if line.last() == Some(&b'\r') {
                    line = &line[..line.len() - 1];
                }
                let s = String::from_utf8_lossy(line).into_owned();
                self.pos += i + 1;
                return Ok(s);
            }
            if self.buf.len() - self.pos > MAX_LINE {
                return Err(std::io::Error::other("line from the master too long"));
            }
            self.fill()?;
        }
    }

    /// The next non-empty line (newlines are the master's keepalives).
    fn reply(&mut self) -> std::io::Result<String> {
        for _ in 0..100_000 {
            let l = self.line()?;
            if !l.is_empty() {
                return Ok(l);
            }
        }
        Err(std::io::Error::other("too many keepalives"))
    }

    fn command(&mut self, argv: &[&[u8]]) -> std::io::Result<String> {
        let mut out = Vec::new();
        persist::aof::encode_command(&mut out, argv);
        self.sock.write_all(&out)?;
        self.reply()
    }

    fn take_buffered(&mut self) -> Vec<u8> {
        let rest = self.buf[self.pos..].to_vec();
        self.buf.clear();
        self.pos = 0;
        rest
    }
}

fn link_current(generation: u64) -> bool {
    repl().link.lock().generation == generation
}

fn link_thread(shared: &'static Shared, generation: u64) {
    let r = repl();
    let mut attempt = 0u64;
    loop {
        if shared.shutdown.load(Ordering::Relaxed) {
            return;
        }
        let target = {
            let l = r.link.lock();
            if l.generation != generation {
                return;
            }
            l.master.clone()
        };
        let Some((host, port)) = target else { return };
        if attempt > 0 {
            notice!("Connecting to MASTER {host}:{port}");
        }
        attempt += 1;
        match sync_with_master(shared, generation, &host, port) {
            Ok(()) => {
                // The worker serves the link now; wait until it is lost or we are redirected.
                loop {
                    std::thread::sleep(Duration::from_millis(50));
                    if shared.shutdown.load(Ordering::Relaxed) {
                        return;
                    }
                    let l = r.link.lock();
                    if l.generation != generation {
                        return;
                    }
                    if l.client.is_none() {
                        break;
                    }
                }
            }
            Err(e) => {
                let state = {
                    let mut l = r.link.lock();
                    let state = l.state;
                    if l.generation == generation {
                        l.state = "connect";
                    }
                    state
                };
                let logged = e.get_ref().is_some_and(|inner| inner.is::<TransferFailed>());
                if !logged {
                    log_sync_failure(&e, state, &host, port);
                }
                if logged || is_timeout(&e) {
                    // As Redis's cancelReplicationHandshake(reconnect): at once, with its words.
                    notice!("Reconnecting to MASTER {host}:{port} after failure");
                    attempt = 0;
                    continue;
                }
                for _ in 0..10 {
                    std::thread::sleep(Duration::from_millis(100));
                    if !link_current(generation) {
                        return;
                    }
                }
            }
        }
    }
}

/// A sync attempt that failed during the transfer, already logged with Redis's lines for it.
/// Redis then reconnects at once (cancelReplicationHandshake with reconnect), not a second later
/// as after a refused connection: a master that cut one transfer is expected to serve the next.
#[derive(Debug)]
struct TransferFailed;

impl std::fmt::Display for TransferFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the transfer from the master failed")
    }
}

impl std::error::Error for TransferFailed {}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
}

/// Where a full sync's payload goes, in Redis's terms (readSyncBulkPayload): to disk, or to the
/// parser straight from the socket (a diskless load), into a temporary database with swapdb.
/// Ours is read into memory in every case; the mode decides what is reported and when the data
/// counts as loading.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PayloadTarget {
    Disk,
    Parser,
    ParserSwapdb,
}

/// Logs a transfer that broke off (not a timeout: that is replicationCron's to report) as
/// Redis does for the same target, and marks it as logged. `received`: payload bytes read.
fn transfer_failed(e: std::io::Error, target: PayloadTarget, received: usize) -> std::io::Error {
    if is_timeout(&e) {
        return e;
    }
    match target {
        PayloadTarget::Disk => warning!("I/O error trying to sync with MASTER: {e}"),
        PayloadTarget::Parser | PayloadTarget::ParserSwapdb => {
            // Redis's parser reports the short read as an RDB read error, then the failed load.
            warning!("Short read or OOM loading DB. Unrecoverable error, aborting now.");
            warning!(
                "Internal error in RDB reading offset {received}, function at the replica's socket load -> Unexpected EOF reading RDB file. Failure loading rdb format from socket, assuming connection error, resuming operation."
            );
            warning!("Failed trying to load the MASTER synchronization DB from socket: {e}");
            if target == PayloadTarget::ParserSwapdb {
                notice!("MASTER <-> REPLICA sync: Discarding temporary DB in background");
            }
        }
    }
    std::io::Error::other(TransferFailed)
}

/// Logs why a sync attempt failed. A master silent for `repl-timeout` (the socket's read or
/// connect timeout) gets the lines Redis's replicationCron writes for the state the attempt was
/// in, which the suite looks for: before the RDB's first byte it is still connecting, after it
/// the bulk transfer timed out.
fn log_sync_failure(e: &std::io::Error, state: &str, host: &str, port: u16) {
    match (is_timeout(e), state) {
        (true, "sync") => warning!(
            "Timeout receiving bulk data from MASTER... If the problem persists try to set the 'repl-timeout' parameter in redis.conf to a larger value."
        ),
        (true, _) => warning!("Timeout connecting to the MASTER..."),
        (false, _) => warning!("Replication with MASTER {host}:{port} failed: {e}"),
    }
}

fn set_state(generation: u64, state: &'static str) -> std::io::Result<()> {
    let mut l = repl().link.lock();
    if l.generation != generation {
        return Err(std::io::Error::other("replication target changed"));
    }
    l.state = state;
    Ok(())
}

/// Connects, shakes hands, resynchronizes and hands the socket to a worker.
fn sync_with_master(shared: &'static Shared, generation: u64, host: &str, port: u16) -> std::io::Result<()> {
    let r = repl();
    let (timeout_s, auth, user, announce_port, announce_ip) = {
        let cfg = shared.config.read();
        (
            cfg.get_i64("repl-timeout").unwrap_or(60).max(1) as u64,
            cfg.get("masterauth").filter(|s| !s.is_empty()),
            cfg.get("masteruser").filter(|s| !s.is_empty()),
            cfg.get_i64("replica-announce-port").unwrap_or(0),
            cfg.get("replica-announce-ip").filter(|s| !s.is_empty()),
        )
    };
    set_state(generation, "connecting")?;
    let addr =
        (host, port).to_socket_addrs()?.next().ok_or_else(|| std::io::Error::other("no address for the master"))?;
    let sock =
        crate::outbound::connect_timeout(addr, crate::outbound::source_addr(shared), Duration::from_secs(timeout_s))?;
    sock.set_read_timeout(Some(Duration::from_secs(timeout_s)))?;
    sock.set_write_timeout(Some(Duration::from_secs(timeout_s)))?;
    let _ = sock.set_nodelay(true);
    notice!("MASTER <-> REPLICA sync started");
    set_state(generation, "handshake")?;
    let mut m = MasterReader { sock, buf: Vec::new(), pos: 0 };
    let pong = m.command(&[b"PING"])?;
    if pong.starts_with('-')
        && !pong.starts_with("-NOAUTH")
        && !pong.starts_with("-NOPERM")
        && !pong.starts_with("-ERR operation not permitted")
    {
        return Err(std::io::Error::other(format!("Error reply to PING from master: '{pong}'")));
    }
    notice!("Master replied to PING, replication can continue...");
    if let Some(pass) = auth {
        let reply = match &user {
            Some(u) => m.command(&[b"AUTH", u.as_bytes(), pass.as_bytes()])?,
            None => m.command(&[b"AUTH", pass.as_bytes()])?,
        };
        if reply.starts_with('-') {
            return Err(std::io::Error::other(format!("Unable to AUTH to MASTER: {reply}")));
        }
    }
    let listen = if announce_port > 0 { announce_port as u16 } else { shared.config.read().port() };
    let reply = m.command(&[b"REPLCONF", b"listening-port", listen.to_string().as_bytes()])?;
    if reply.starts_with('-') {
        notice!("(Non critical) Master does not understand REPLCONF listening-port: {reply}");
    }
    if let Some(ip) = announce_ip {
        let reply = m.command(&[b"REPLCONF", b"ip-address", ip.as_bytes()])?;
        if reply.starts_with('-') {
            notice!("(Non critical) Master does not understand REPLCONF ip-address: {reply}");
        }
    }
    let reply = m.command(&[b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"])?;
    if reply.starts_with('-') {
        notice!("(Non critical) Master does not understand REPLCONF capa: {reply}");
    }
    // Our own history is the cached master (Redis's replicationCacheMasterUsingMyself).
    let (our_id, our_next) = {
        let st = r.stream.lock();
        (st.replid.clone(), st.end + 1)
    };
    notice!("Trying a partial resynchronization (request {our_id}:{our_next}).");
    let failing_over = r.failover.lock().phase == FailoverPhase::InProgress;
    let next = our_next.to_string();
    let line = if failing_over {
        m.command(&[b"PSYNC", our_id.as_bytes(), next.as_bytes(), b"FAILOVER"])?
    } else {
        m.command(&[b"PSYNC", our_id.as_bytes(), next.as_bytes()])?
    };
    let reply = parse_psync_reply(&line);
    if failing_over {
        // A full resync is not what a coordinated failover expects, but nothing is wrong with it.
        if matches!(reply, PsyncReply::Continue { .. } | PsyncReply::Full { .. }) {
            clear_failover_state(shared);
        } else {
            abort_failover(shared, "Failover target rejected psync request");
            return Err(std::io::Error::other("the failover target rejected PSYNC FAILOVER"));
        }
    }
    let mut db = 0;
    match reply {
        PsyncReply::Continue { replid } => {
            notice!("Successful partial resynchronization with master.");
            let changed = {
                let mut st = r.stream.lock();
                match replid {
                    Some(id) if id != st.replid => {
                        st.replid2 = std::mem::replace(&mut st.replid, id);
                        st.second_offset = st.end as i64 + 1;
                        notice!("Master replication ID changed to {}", st.replid);
                        true
                    }
                    _ => false,
                }
            };
            if changed {
                disconnect_replicas();
            }
            db = r.link.lock().db;
            notice!("MASTER <-> REPLICA sync: Master accepted a Partial Resynchronization.");
        }
        PsyncReply::Full { replid, offset } => {
            notice!("Full resync from master: {replid}:{offset}");
            let _full_sync = FlagGuard::set(&FULL_SYNC);
            // repl-diskless-load swapdb: Redis keeps serving the old data while the new arrives
            // (async_loading). Ours is kept whole until the RDB is all here in any mode, so the
            // flag is the report of it, and a transfer that fails leaves the data as it was.
            // Only with the master's own history (same replid, e.g. after a failover): a
            // different one makes Redis load the plain way (readSyncBulkPayload's asyncLoading).
            let load_mode = shared.config.read().get_bytes(b"repl-diskless-load");
            let swapdb = load_mode.as_deref() == Some(&b"swapdb"[..]);
            let same_history = r.stream.lock().replid == replid;
            let _async_loading = (swapdb && same_history).then(|| FlagGuard::set(&ASYNC_LOADING));
            // Redis's other diskless loads (swapdb with a new history, on-empty-db into an empty
            // dataset) block clients with -LOADING from the first byte of the transfer, as they
            // parse it straight from the socket (useDisklessLoad); a disk-based one serves the
            // old data until the file is all here.
            let diskless_load = swapdb
                || (load_mode.as_deref() == Some(&b"on-empty-db"[..])
                    && (0..shared.ks.db_count()).all(|d| shared.ks.db_if_used(d).is_none_or(|db| db.is_empty())));
            let loading_flag = (diskless_load && !(swapdb && same_history)).then_some(&LOADING);
            set_state(generation, "sync")?;
            let target = match (diskless_load, swapdb) {
                (false, _) => PayloadTarget::Disk,
                (true, false) => PayloadTarget::Parser,
                (true, true) => PayloadTarget::ParserSwapdb,
            };
            let (rdb, _loading) = read_rdb(&mut m, generation, target, loading_flag)?;
            notice!("MASTER <-> REPLICA sync: Flushing old data");
            disconnect_replicas();
            load_full_sync(shared, &rdb, &replid, offset, !diskless_load)?;
            notice!("MASTER <-> REPLICA sync: Finished with success");
            if crate::aof::logging() {
                // The AOF still describes the dataset we replaced: rewrite it from the new one
                // (Redis restarts its AOF after a full sync for the same reason).
                notice!("MASTER <-> REPLICA sync: Rewriting the AOF after the full sync");
                if let Err(e) = crate::aof::rewrite_background(shared, false) {
                    warning!("Can't rewrite the AOF after the full sync: {e}");
                }
            }
        }
        PsyncReply::TryLater(e) => {
            return Err(std::io::Error::other(format!(
                "Master is currently unable to PSYNC but should be in the future: {e}"
            )))
        }
        PsyncReply::Error(e) => {
            return Err(std::io::Error::other(format!("Unexpected reply to PSYNC from master: {e}")))
        }
    }
    // Hand the socket, and any stream bytes already read, to a worker.
    let leftover = m.take_buffered();
    let sock = m.sock;
    sock.set_read_timeout(None)?;
    sock.set_write_timeout(None)?;
    sock.set_nonblocking(true)?;
    let peer = sock.peer_addr().map(|a| a.to_string()).unwrap_or_default();
    let laddr = sock.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let stream = mio::net::TcpStream::from_std(sock);
    let fd = std::os::fd::AsRawFd::as_raw_fd(&stream);
    let workers = shared.workers().len().max(1);
    let id = shared.next_client_id.fetch_add(1, Ordering::Relaxed);
    let worker = (id as usize) % workers;
    let info = Arc::new(ClientShared::new(id, worker, peer, laddr, fd, false));
    info.kind.store(CLIENT_MASTER, Ordering::Relaxed);
    {
        let mut l = r.link.lock();
        if l.generation != generation {
            return Err(std::io::Error::other("replication target changed"));
        }
        l.client = Some((id, worker));
        l.state = "connected";
        l.down_since_ms = -1;
        r.link_up.store(true, Ordering::Relaxed);
        r.link_was_up.store(true, Ordering::Relaxed);
    }
    shared.clients.lock().insert(id, info.clone());
    match shared.workers().get(worker) {
        Some(w) => w.send(Msg::MasterLink(crate::worker::Stream::Tcp(stream), info, leftover, db)),
        None => return Err(std::io::Error::other("no worker")),
    }
    Ok(())
}

/// Reads the RDB payload in either form. It grows as bytes arrive (never by the announced
/// length, which the master controls). `loading_flag` is raised once the payload starts, and
/// stays up while the returned guard lives.
fn read_rdb(
    m: &mut MasterReader,
    generation: u64,
    target: PayloadTarget,
    loading_flag: Option<&'static AtomicBool>,
) -> std::io::Result<(Vec<u8>, Option<FlagGuard>)> {
    let r = repl();
    let diskless = target != PayloadTarget::Disk;
    let line = match m.reply() {
        Ok(line) => line,
        Err(e) if is_timeout(&e) => return Err(e),
        Err(e) => {
            warning!("I/O error reading bulk count from MASTER: {e}");
            return Err(std::io::Error::other(TransferFailed));
        }
    };
    let preamble = parse_rdb_preamble(&line).map_err(std::io::Error::other)?;
    let guard = loading_flag.map(|flag| {
        crate::persistence::LOAD_PROGRESS.begin(0);
        FlagGuard::set(flag)
    });
    let mut rdb = Vec::new();
    let mut scanned = 0usize;
    let total = match &preamble {
        RdbPreamble::Len(n) => *n as i64,
        RdbPreamble::Eof(_) => -1,
    };
    // Redis's words for where the payload goes: "to parser" when it loads straight from the
    // socket (a diskless load), "to disk" otherwise. Ours is read into memory in both cases; the
    // words say which of Redis's behaviours (-LOADING from the first byte or not) is followed.
    let to = if diskless { "to parser" } else { "to disk" };
    match &preamble {
        RdbPreamble::Len(n) => notice!("MASTER <-> REPLICA sync: receiving {n} bytes from master {to}"),
        RdbPreamble::Eof(_) => notice!("MASTER <-> REPLICA sync: receiving streamed RDB from master with EOF {to}"),
    }
    if diskless {
        // A diskless load parses as it receives, so Redis says it is loading now, not once the
        // transfer is over (load_full_sync does not say it again).
        notice!("MASTER <-> REPLICA sync: Loading DB in memory");
    }
    {
        let mut l = r.link.lock();
        l.sync_total = total;
        l.sync_read = 0;
        l.sync_last_io_ms = now_ms();
    }
    loop {
        if m.pos < m.buf.len() {
            let avail = &m.buf[m.pos..];
            let take = match &preamble {
                RdbPreamble::Len(n) => avail.len().min((*n as usize).saturating_sub(rdb.len())),
                RdbPreamble::Eof(_) => avail.len(),
            };
            rdb.extend_from_slice(&avail[..take]);
            m.pos += take;
            let mut l = r.link.lock();
            if l.generation != generation {
                return Err(std::io::Error::other("replication target changed"));
            }
            l.sync_read = rdb.len() as i64;
            l.sync_last_io_ms = now_ms();
        }
        match &preamble {
            RdbPreamble::Len(n) if rdb.len() as u64 >= *n => return Ok((rdb, guard)),
            RdbPreamble::Eof(mark) => {
                // The mark may arrive split over reads, and stream bytes may follow it in the
                // same read: they are given back to the reader.
                if let Some(at) = find_eof_mark(&rdb, scanned, mark) {
                    m.buf = rdb[at + 40..].to_vec();
                    m.pos = 0;
                    rdb.truncate(at);
                    return Ok((rdb, guard));
                }
                scanned = rdb.len();
            }
            _ => {}
        }
        if let Err(e) = m.fill() {
            return Err(transfer_failed(e, target, rdb.len()));
        }
    }
}

/// Replaces the data with the master's RDB and adopts its history.
/// `say_loading`: log Redis's "Loading DB in memory" here (a diskless load said it when the
/// transfer began).
fn load_full_sync(
    shared: &'static Shared,
    rdb: &[u8],
    replid: &str,
    offset: u64,
    say_loading: bool,
) -> std::io::Result<()> {
    let r = repl();
    forget_replica_keys();
    let _g = r.apply.lock();
    crate::aof::with_all_slots_locked(shared, || {});
    for db in 0..shared.ks.db_count() {
        if let Some(d) = shared.ks.db_if_used(db) {
            for slot in 0..keyspace::SLOT_COUNT as u16 {
                d.lock_slot(slot).clear();
            }
        }
    }
    // As Redis's emptyData before a full sync: the master's libraries replace ours.
    crate::scripting::functions::clear();
    if say_loading {
        notice!("MASTER <-> REPLICA sync: Loading DB in memory");
    }
    crate::persistence::LOAD_PROGRESS.begin(rdb.len() as u64);
    let loading = FlagGuard::set(&LOADING);
    let loaded = crate::persistence::load_rdb_bytes(shared, rdb, true, true);
    drop(loading);
    {
        let mut st = r.stream.lock();
        st.replid = replid.to_string();
        st.replid2 = ZERO_ID.into();
        st.second_offset = -1;
        st.buf.clear();
        st.start = offset;
        st.end = offset;
        st.active = true;
        st.selected_db = None;
    }
    loaded.map_err(|e| std::io::Error::other(format!("Failed trying to load the MASTER synchronization DB: {e}")))?;
    shared.touch_db(None);
    // The dataset was replaced: every tracker's cache is stale (Redis's emptyData flushes).
    shared.tracking.invalidate_all_now(shared);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicas_are_named_in_logs_as_redis_names_them() {
        assert_eq!(replica_log_name("127.0.0.1", 6380), "127.0.0.1:6380");
        assert_eq!(replica_log_name("127.0.0.1", 0), "127.0.0.1:<unknown-replica-port>");
        assert_eq!(replica_log_name("::1", 6380), "[::1]:6380");
        assert_eq!(replica_log_name("::1", 0), "::1:<unknown-replica-port>");
        assert_eq!(peer_ip("[::1]:41000"), "::1");
        assert_eq!(peer_ip("10.0.0.7:41000"), "10.0.0.7");
    }

    #[test]
    fn backlog_trims_to_its_size_but_keeps_what_replicas_need() {
        let mut st = Stream {
            replid: ZERO_ID.into(),
            replid2: ZERO_ID.into(),
            second_offset: -1,
            buf: VecDeque::new(),
            start: 0,
            end: 0,
            selected_db: None,
            backlog_size: 10,
            active: true,
            links: Vec::new(),
            no_replicas_since_ms: 0,
            accounted_capacity: 0,
        };
        st.push(&[1u8; 25]);
        assert_eq!((st.start, st.end, st.buf.len()), (15, 25, 10));
        assert_eq!(st.histlen(), 10);
    }
}
