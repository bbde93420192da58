//! Worker threads: each runs its own event loop over its own connections and executes every
//! request it reads, run-to-completion: parse, look up, lock the key's slot, execute, reply,
//! all on the thread that read the bytes. Handing requests to another thread was rejected: the
//! hop costs more CPU than the command itself.
//!
//! Worker 0 also accepts connections and hands them out round-robin. A worker never holds a
//! slot lock while waiting for anything (I/O, another lock of lower order, the blocking
//! registry), except MIGRATE waiting for its target (`migrate.rs`).

use crate::cluster_node::routing::{Redirect, NONE};
use crate::shared::{now_ms, ClientShared, Msg, Shared, Waiter, WorkerStats, CLIENT_BASE_MEM};
use crate::{verbose, warning};
use commands::{flag, key_positions, keys_and_flags, Ctx, DataConfig, Effects, Entry, Kind, LookupError};
use keyspace::{key_hash_slot, LockSet, Sds};
use mio::event::Source;
use mio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use mio::{Events, Interest, Poll, Token, Waker};
use resp::{parse_request, peek_request, ArgSpan, Limits, Parsed, ReplyBuf};
use std::collections::{HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const WAKER_TOKEN: Token = Token(0);
const LISTENER_BASE: usize = 1;
const CONN_BASE: usize = 64;
const READ_CHUNK: usize = 16 * 1024;
/// Reads per readiness event before other connections get a turn. Edge-triggered readiness
/// will not report the rest again, so a connection cut off here is revisited on the next loop
/// iteration (see `Worker::pending_reads`).
const MAX_READS_PER_EVENT: usize = 64;
pub const MISCONF: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";
/// How many buffered requests `scan_ahead` looks at: enough for any pipeline depth to reach its
/// steady state, few enough that a huge pipeline is not scanned twice.
const LOOKAHEAD_MAX: usize = 256;
/// Output buffers larger than this are freed after a flush instead of kept for reuse.
const OUT_KEEP_BYTES: usize = 64 * 1024;
/// Output buffers up to this size are always kept after a flush; a larger one only while the
/// connection's replies keep needing it (see `flush`).
const OUT_KEEP_ALWAYS_BYTES: usize = 1024;
/// The most argument spans a connection keeps between requests (a 32 KB list).
const SPANS_KEEP: usize = 4096;

/// A client connection's socket.
pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }
    fn source(&mut self) -> &mut dyn Source {
        match self {
            Stream::Tcp(s) => s,
            Stream::Unix(s) => s,
        }
    }
}

pub enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ReplyMode {
    On,
    Off,
    /// Drop the reply of the next command only.
    SkipNext,
    /// Currently dropping this command's reply.
    Skipping,
}

/// One client connection and its protocol state.
pub struct Conn {
    stream: Stream,
    pub info: Arc<ClientShared>,
    rbuf: Vec<u8>,
    rstart: usize,
    filled: usize,
    /// Bytes the buffer must hold (from `rstart`) before parsing can make progress.
    need: usize,
    pub out: ReplyBuf,
    wpos: usize,
    /// Bytes the previous complete flush sent: how large this connection's replies run.
    last_flush_bytes: usize,
    pub db: u32,
    pub authenticated: bool,
    /// The user this client runs as, and the ACL generation it was read at (see `acl_cmds`).
    pub user: Arc<crate::acl::User>,
    pub acl_gen: u64,
    /// `Some(deadline)` while parked by a blocking command.
    pub blocked: Option<Option<i64>>,
    /// How long (µs) the command that blocked ran: its latency once it is served.
    pub blocked_call_us: u64,
    pub close_after_write: bool,
    closed: bool,
    pub reply_mode: ReplyMode,
    writable: bool,
    spans: Vec<ArgSpan>,
    /// Waiting for CLIENT PAUSE to end before running the next command.
    paused: bool,
    /// Commands queued since MULTI (`None` outside a transaction).
    pub multi: Option<Vec<Vec<Vec<u8>>>>,
    /// A command was refused while queuing: EXEC must fail with EXECABORT.
    pub multi_aborted: bool,
    /// Bytes the commands queued since MULTI hold (their arguments and vectors), kept as they
    /// are queued so reporting the client's memory after each command stays O(1).
    pub multi_queued_bytes: usize,
    /// WATCHed keys: (db, key, expiry time at WATCH if the key had one).
    pub watched: Vec<(u32, Sds, Option<i64>)>,
    /// Pub/sub subscriptions; `None` while the client holds none (nearly always), so the
    /// per-request check for the RESP2 subscribed context is one test of a pointer.
    pub subs: Option<Box<crate::pubsub::Subs>>,
    /// ASKING: 2 when set by the command just run, 1 for the next command (or the whole
    /// transaction), 0 otherwise (Redis's CLIENT_ASKING, cleared after one command).
    pub asking: u8,
    /// READONLY: reads of our master's slots are served here (Redis's CLIENT_READONLY).
    pub readonly: bool,
    /// Cluster mode, while blocked: the slot of the keys it waits on (all in one slot).
    blocked_slot: Option<u16>,
    /// While blocked: the command is a read (XREAD), which a READONLY client may wait for on a
    /// replica of the slot's owner; a blocking pop is a write and always waits at the owner.
    blocked_read: bool,
    /// This connection is our master's link (Redis's CLIENT_MASTER): no replies but to
    /// `REPLCONF GETACK`, exempt from the read-only and redirection checks.
    pub master: bool,
    /// The master client's bytes applied since the last stream append (a transaction's, until
    /// its EXEC), for `replication::applied_from_master`.
    master_pending: Vec<u8>,
    /// When the master client last sent `REPLCONF ACK`.
    last_ack_ms: i64,
    /// What a replica said with REPLCONF before PSYNC.
    pub hello: Option<Box<crate::replication::ReplicaHello>>,
    /// PSYNC/SYNC accepted: the connection goes to the replication module after this batch.
    pub handoff: Option<crate::replication::PsyncRequest>,
    /// Parked in WAIT: (offset to reach, replicas wanted).
    pub wait_repl: Option<(u64, usize)>,
    /// Blocked in SHUTDOWN while it waits for replicas: `shutdown::cancels()` when it blocked.
    pub shutdown_wait: Option<u64>,
    /// Since when this normal client's pending replies have been over the normal class's soft
    /// `client-output-buffer-limit`.
    pub obuf_soft_since_ms: Option<i64>,
    /// CLIENT CACHING yes|no was given: it applies to the next command, or to the whole
    /// transaction (Redis's CLIENT_TRACKING_CACHING).
    pub tracking_caching: bool,
    /// SCRIPT DEBUG YES|SYNC was given: the next EVAL runs under the Lua debugger
    /// (Redis's CLIENT_LUA_DEBUG / CLIENT_LUA_DEBUG_SYNC).
    pub lua_debug: Option<crate::scripting::ldb::Mode>,
}

impl Conn {
    /// What the client holds besides its buffers, as Redis's getClientMemoryUsage adds it:
    /// (the queued transaction and the WATCHed keys, CLIENT LIST's `multi-mem`; that plus the
    /// subscriptions and the tracking prefixes). Like Redis, a subscription or a WATCH counts
    /// its entry, not the name, which keeps this O(1): it runs after every command.
    fn state_mem(&self) -> (u64, u64) {
        let watch = self.watched.capacity() * std::mem::size_of::<(u32, Sds, Option<i64>)>();
        let multi = self.multi_queued_bytes + watch;
        let subs = self.subs.as_ref().map_or(0, |s| {
            // An IndexSet entry: the name's vector, its hash, and its slot in the index.
            let entry = std::mem::size_of::<Vec<u8>>() + 2 * std::mem::size_of::<usize>();
            (s.channels.capacity() + s.patterns.capacity() + s.shard.capacity()) * entry
        });
        let prefixes = self.info.tracking_prefix_bytes.load(Ordering::Relaxed);
        (multi as u64, (multi + subs) as u64 + prefixes)
    }

    /// Reply bytes written to the buffer and not yet sent.
    pub(crate) fn pending_reply_bytes(&self) -> usize {
        self.out.len() - self.wpos
    }

    /// The fake client a script's commands run through (Redis's Lua client): never registered
    /// with the event loop nor listed among the clients; only its output buffer and database
    /// are used. Its socket is one end of a pair whose other end is dropped at once.
    pub fn script_client() -> io::Result<Conn> {
        let (stream, _other) = UnixStream::pair()?;
        // Named "lua" where Redis's Lua client shows (MONITOR lines of a script's commands).
        let info = Arc::new(ClientShared::new(0, 0, "lua".into(), String::new(), -1, false));
        // The caller's user is checked in `script_dispatch` before a command reaches this
        // client, which therefore runs with every permission.
        Ok(Conn::new(Stream::Unix(stream), info, true, Arc::new(crate::acl::User::default_user()), 0))
    }

    /// A connection in its initial state: database 0, RESP2, no transaction, subscription or
    /// pause, served as `user` (read at ACL generation `acl_gen`).
    fn new(
        stream: Stream,
        info: Arc<ClientShared>,
        authenticated: bool,
        user: Arc<crate::acl::User>,
        acl_gen: u64,
    ) -> Conn {
        Conn {
            stream,
            info,
            rbuf: Vec::new(),
            rstart: 0,
            filled: 0,
            need: 0,
            out: ReplyBuf::new(false),
            wpos: 0,
            last_flush_bytes: 0,
            db: 0,
            authenticated,
            user,
            acl_gen,
            blocked: None,
            blocked_call_us: 0,
            close_after_write: false,
            closed: false,
            reply_mode: ReplyMode::On,
            writable: false,
            spans: Vec::new(),
            paused: false,
            multi: None,
            multi_aborted: false,
            multi_queued_bytes: 0,
            watched: Vec::new(),
            subs: None,
            asking: 0,
            readonly: false,
            blocked_slot: None,
            blocked_read: false,
            master: false,
            master_pending: Vec::new(),
            last_ack_ms: 0,
            hello: None,
            handoff: None,
            wait_repl: None,
            shutdown_wait: None,
            obuf_soft_since_ms: None,
            tracking_caching: false,
            lua_debug: None,
        }
    }

    /// For the Lua debugger (`scripting::ldb`), which talks to this client's socket itself
    /// while its script runs, as Redis's ldbRepl does: the socket, and the replies queued
    /// before the EVAL (`take_unsent`), which become the debugger's to write first so the
    /// order on the wire stays. Inside EXEC they stay (the transaction's reply is being built).
    pub(crate) fn debugger_socket(&mut self, take_unsent: bool) -> (std::os::fd::RawFd, Vec<u8>) {
        use std::os::fd::AsRawFd;
        let fd = match &self.stream {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
        };
        if !take_unsent {
            return (fd, Vec::new());
        }
        let unsent = self.out.buf.get(self.wpos..).unwrap_or_default().to_vec();
        self.out.truncate(0);
        self.wpos = 0;
        (fd, unsent)
    }

    /// The master client ran the request `bytes`: they join our replication stream, a
    /// transaction's all at once after its EXEC (a link lost inside MULTI resumes before it).
    fn master_applied(&mut self, bytes: &[u8]) {
        self.master_pending.extend_from_slice(bytes);
        if self.multi.is_none() {
            crate::replication::applied_from_master(self.info.id, &self.master_pending);
            self.master_pending.clear();
            // A big command (a 32 MB SET) must not leave its size allocated for the rest of the
            // link's life: Redis's pending_querybuf test saw a replica hold twice its master's
            // memory. Rejected: freeing it every time, which reallocates for every command.
            if self.master_pending.capacity() > 4 * READ_CHUNK {
                self.master_pending = Vec::new();
            }
        }
    }

    pub fn resp3(&self) -> bool {
        self.out.is_resp3()
    }

    /// Unprocessed input bytes, the running request included (Redis's `qbuf` of CLIENT LIST).
    pub fn pending_input(&self) -> usize {
        self.filled - self.rstart
    }
}

/// Whether a connection's socket was drained.
#[derive(PartialEq, Eq, Debug)]
enum ReadOutcome {
    Done,
    MoreToRead,
}

/// What happened to a request handed to `execute`.
#[derive(PartialEq, Eq, Debug)]
pub enum Exec {
    Done,
    /// Not run now (CLIENT PAUSE): keep it in the buffer and retry later.
    Deferred,
}

/// Per-worker execution state, separate from the connections so a connection can be borrowed
/// mutably while commands run.
pub struct Env {
    pub id: usize,
    pub shared: &'static Shared,
    pub stats: Arc<WorkerStats>,
    pub data_config: Arc<DataConfig>,
    /// The thread's `keyspace::ExpiryMode` as last set, so it is written only when it changes.
    pub expiry_mode: keyspace::ExpiryMode,
    /// `client-query-buffer-limit`, cached: reading the config lock per read would make every
    /// core touch one shared cache line.
    qbuf_limit: usize,
    /// Connections of this worker that are blocked or paused; the loop scans for deadlines
    /// only when there are some.
    parked: usize,
    locks: LockSet<'static>,
    effects: Effects,
    key_pos: Vec<usize>,
    slot_buf: Vec<(u32, u16)>,
    clock: BatchClock,
    /// Per complete request buffered at the start of a batch: where its first key lies in the
    /// read buffer and its slot (`scan_ahead`).
    lookahead: Vec<Option<(usize, usize, u16)>>,
    /// Pub/sub deliveries queued by this worker's publishers, indexed by the receiving worker;
    /// flushed once per event-loop iteration (`pubsub` module).
    pub outbox: Vec<Vec<crate::pubsub::Delivery>>,
    /// The pubsub class of `client-output-buffer-limit`, cached and refreshed each tick.
    pub obuf_limit_pubsub: crate::config::OutputBufferLimit,
    /// The normal class, likewise.
    pub obuf_limit_normal: crate::config::OutputBufferLimit,
    /// True while EXEC runs a queued server command (Redis's deny-blocking rule for SSUBSCRIBE).
    pub in_exec: bool,
    /// Cluster work a CLUSTER SETSLOT left for the end of its client's batch: `Some` once one
    /// did, with the actions to apply (see `cluster_node::commands::run`). Done before the next
    /// other command, and at the end of `process_input`, before any reply can be written.
    pub cluster_deferred: Option<Vec<cluster::machine::Action>>,
    /// Set by a command that wrote pub/sub pushes into its client's buffer: where they end.
    pub pushed_until: Option<usize>,
    /// The `Shared::config_epoch` the cached settings were read at.
    config_epoch: u64,
    /// Cluster mode: the node, the newest routing snapshot this worker has seen, and the
    /// epoch it was taken at (see `cluster_node::routing`).
    pub cluster: Option<&'static crate::cluster_node::ClusterNode>,
    routing: Option<Arc<crate::cluster_node::routing::Routing>>,
    routing_seen: u64,
    /// `cluster-allow-reads-when-down` and `cluster-allow-pubsubshard-when-down`, cached.
    pub cluster_reads_when_down: bool,
    cluster_pubsubshard_when_down: bool,
    /// The routing epoch a keyed command was judged at (`cluster_redirect`): once its slot
    /// locks are held the epoch must still be that, or the routing of its slot may have moved
    /// between the check and the lock (a SETSLOT MIGRATING from another thread) and it is
    /// judged again (`routing_stale`). Checking under the lock from the start would need the
    /// locks before the key positions are known to be in one slot.
    routing_guard: Option<u64>,
    routing_stale: bool,
    /// Commands taking at least this long (µs) go to `introspect` (`u64::MAX`: none do).
    pub introspect_floor_us: u64,
    /// `latency-tracking`: commands' durations go to their latency histograms.
    pub latency_tracking: bool,
    /// Set by REPLCONF GETACK from the master client: its reply (the ACK) is kept.
    pub master_keep_reply: bool,
    /// `replica-read-only` and `replica-serve-stale-data`, cached.
    replica_read_only: bool,
    replica_serve_stale: bool,
    /// The client whose command runs now, for CLIENT TRACKING (0: none, e.g. active expiry).
    cur_client: u64,
    /// It tracks in default mode (its reads are remembered), and CLIENT CACHING is in effect.
    cur_tracking: bool,
    cur_caching: bool,
    /// The command is a CLIENT subcommand (it does not end CLIENT CACHING's effect).
    cur_is_client: bool,
    /// The full name of the command `execute` runs (`None` when it is unknown), for the log
    /// line of an error our master's command got.
    cur_cmd: Option<&'static str>,
    /// Tracking messages of the current client's own command, written after its reply (Redis's
    /// `tracking_pending_keys`), each with the receiver's worker.
    track_deferred: Vec<(usize, crate::pubsub::Delivery)>,
    /// Tracking messages for the current client as another tracker's REDIRECT target: written
    /// where its command's reply begins (`splice_track_immediate`).
    track_immediate: Vec<crate::pubsub::Delivery>,
    /// `tracking-table-max-keys`, cached.
    tracking_max_keys: usize,
    /// This is a worker's second environment, for [`busy_pump`].
    serves_busy_pump: bool,
    /// maxmemory enforcement: settings, candidate pool (`evict`).
    pub evictor: crate::evict::Evictor,
    /// Used memory was over maxmemory (evicting did not help) when the running client command
    /// started (Redis's `pre_command_oom_state`, which scripts consult).
    pub pre_command_oom: bool,
    /// A Lua script is running on this worker and its `redis.call`s are being dispatched
    /// (Redis's CLIENT_SCRIPT / ACL log context "lua"): permission checks and tracking look here.
    pub in_script: bool,
    /// The running script's declared keys: Redis tracks these (not the keys its commands read)
    /// for a tracking caller whenever the script runs a read-only command.
    pub script_keys: Vec<Vec<u8>>,
    /// The script that just ran replied with an error its `redis.call` already counted in
    /// INFO errorstats (Redis's `ignore_error_stats_update`): `after_command` does not count
    /// it again. Set by `scripting` only, taken by `after_command`.
    pub error_stats_counted: bool,
}

/// The time as commands see it, read once per command from a monotonic clock anchored to the
/// wall clock once per batch of requests. Redis reads the clock for every command; reading it
/// three times per command (wall time for expiry, and twice for COMMANDSTATS' usec) cost ~5 %
/// of the CPU of a pipelined GET, so one monotonic read now serves both: it ends the previous
/// command's duration and dates the next. A command's usec therefore includes parsing it,
/// which Redis's excludes; the difference is a fraction of a microsecond.
struct BatchClock {
    base_ms: i64,
    base: Instant,
    last: Instant,
}

impl BatchClock {
    fn new() -> BatchClock {
        let now = Instant::now();
        BatchClock { base_ms: now_ms(), base: now, last: now }
    }

    /// Re-anchors to the wall clock; called before each batch of requests.
    fn begin_batch(&mut self) {
        self.base_ms = now_ms();
        self.base = Instant::now();
        self.last = self.base;
    }

    /// Wall-clock milliseconds as of the last reading.
    fn now_ms(&self) -> i64 {
        self.base_ms + self.last.duration_since(self.base).as_millis() as i64
    }

    /// Reads the clock: microseconds since the previous reading.
    fn lap_us(&mut self) -> u64 {
        let now = Instant::now();
        let us = now.duration_since(self.last).as_micros() as u64;
        self.last = now;
        us
    }
}

pub struct Worker {
    env: Env,
    poll: Poll,
    /// Boxed so a connection can be taken out while its commands run (see [`Worker::with_conn`]).
    conns: Vec<Option<Box<Conn>>>,
    free: Vec<usize>,
    by_client: HashMap<u64, usize>,
    listeners: Vec<Listener>,
    next_worker: usize,
    expire_slot: usize,
    last_tick_ms: i64,
    /// Connections whose socket may still hold data after hitting MAX_READS_PER_EVENT.
    pending_reads: Vec<usize>,
    /// Connections whose replies wait for the AOF: it is written (and fsynced under
    /// `appendfsync always`) once for all of them at the end of the loop iteration, as Redis
    /// writes its AOF once before it writes any reply, rather than once per connection.
    aof_waiting: Vec<usize>,
    /// The connection of our master's link, if this worker serves it.
    master_idx: Option<usize>,
    /// Runs the commands [`busy_pump`] serves while this worker's own environment is inside a
    /// busy script (a second environment: the first one holds the script's locks and state).
    pump_env: Box<Env>,
    /// The tokens of the loop's current batch of events: a busy script's pump serves them too,
    /// since edge-triggered readiness already reported is not reported to its own poll again.
    /// The waker's token is kept too: the pump takes the connections handed over in the inbox.
    batch: Vec<usize>,
    /// Poll tokens [`busy_pump`] saw but left for the loop (the waker, the script's own
    /// connection, our master's link, connections to close or with output left to write).
    deferred: Vec<usize>,
}

/// A worker's connection table, borrowed apart from its environments: what accepting and
/// registering connections needs, for the loop and for [`busy_pump`] alike.
struct Admission<'a> {
    shared: &'static Shared,
    worker_id: usize,
    stats: &'a WorkerStats,
    poll: &'a Poll,
    listeners: &'a mut Vec<Listener>,
    conns: &'a mut Vec<Option<Box<Conn>>>,
    free: &'a mut Vec<usize>,
    by_client: &'a mut HashMap<u64, usize>,
    next_worker: &'a mut usize,
}

impl Admission<'_> {
    /// Accepts what listener `index` has; the connections this worker keeps are returned (to be
    /// read at once: data may already be waiting), the others go to their workers.
    fn accept(&mut self, index: usize) -> Vec<usize> {
        let mut kept = Vec::new();
        loop {
            let accepted = match self.listeners.get_mut(index) {
                Some(Listener::Tcp(l)) => l.accept().map(|(s, peer)| {
                    let _ = s.set_nodelay(true);
                    let laddr = s.local_addr().map(|a| a.to_string()).unwrap_or_default();
                    (Stream::Tcp(s), peer.to_string(), laddr, false)
                }),
                Some(Listener::Unix(l)) => l.accept().map(|(s, _)| {
                    let path = self.shared.config.read().unixsocket().unwrap_or_default();
                    (Stream::Unix(s), format!("{path}:0"), format!("{path}:0"), true)
                }),
                None => return kept,
            };
            match accepted {
                Ok((stream, addr, laddr, unix)) => kept.extend(self.admit(stream, addr, laddr, unix)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return kept,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // EINVAL: the listener was shut down by `request_shutdown`; nothing to report.
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => return kept,
                Err(e) => {
                    warning!("Accepting client connection: {}", e);
                    return kept;
                }
            }
        }
    }

    fn admit(&mut self, mut stream: Stream, addr: String, laddr: String, unix: bool) -> Option<usize> {
        let shared = self.shared;
        let maxclients = shared.config.read().maxclients();
        if shared.clients.lock().len() >= maxclients {
            let _ = stream.write(b"-ERR max number of clients reached\r\n");
            shared.stats.rejected_connections.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        // Protected mode (Redis's clientAcceptHandler): with no password on the default user,
        // only loopback clients are served; the others get the explanation and are closed.
        if !crate::acl_cmds::is_local(&addr, unix)
            && shared.acl.default_nopass()
            && shared.config.read().protected_mode()
        {
            let _ = stream.write(crate::acl_cmds::DENIED.as_bytes());
            shared.stats.rejected_connections.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let fd = match &stream {
            Stream::Tcp(s) => std::os::fd::AsRawFd::as_raw_fd(s),
            Stream::Unix(s) => std::os::fd::AsRawFd::as_raw_fd(s),
        };
        let workers = shared.workers().len().max(1);
        let target = *self.next_worker % workers;
        *self.next_worker = self.next_worker.wrapping_add(1);
        let id = shared.next_client_id.fetch_add(1, Ordering::Relaxed);
        let info = Arc::new(ClientShared::new(id, target, addr, laddr, fd, unix));
        shared.clients.lock().insert(id, info.clone());
        self.stats.connections.add(1);
        if target == self.worker_id {
            return self.add_conn(stream, info);
        }
        if let Some(w) = shared.workers().get(target) {
            w.send(Msg::NewConn(stream, info));
        }
        None
    }

    /// The busy pump's share of the inbox: adds the connections other workers handed over and
    /// leaves every other message, in order, for the loop's `drain_inbox`.
    fn admit_handed_over(&mut self) -> Vec<usize> {
        let Some(handle) = self.shared.workers().get(self.worker_id) else { return Vec::new() };
        let msgs = std::mem::take(&mut *handle.inbox.lock());
        let mut kept = Vec::new();
        let mut ready = Vec::new();
        for msg in msgs {
            match msg {
                Msg::NewConn(stream, info) => ready.extend(self.add_conn(stream, info)),
                other => kept.push(other),
            }
        }
        if !kept.is_empty() {
            // Messages sent meanwhile go after the ones taken first.
            let mut inbox = handle.inbox.lock();
            kept.append(&mut inbox);
            *inbox = kept;
        }
        ready
    }

    fn add_conn(&mut self, mut stream: Stream, info: Arc<ClientShared>) -> Option<usize> {
        let idx = match self.free.pop() {
            Some(i) => i,
            None => {
                self.conns.push(None);
                self.conns.len() - 1
            }
        };
        if let Err(e) = self.poll.registry().register(stream.source(), Token(CONN_BASE + idx), Interest::READABLE) {
            warning!("Registering client connection: {}", e);
            self.shared.clients.lock().remove(&info.id);
            self.free.push(idx);
            return None;
        }
        let acl = &self.shared.acl;
        let acl_gen = acl.generation.load(Ordering::Acquire);
        let authenticated = acl.default_open();
        let user = acl.default_user();
        self.by_client.insert(info.id, idx);
        self.conns[idx] = Some(Box::new(Conn::new(stream, info, authenticated, user, acl_gen)));
        Some(idx)
    }
}

thread_local! {
    /// The worker of this thread while [`Worker::with_conn`] runs a connection's commands, for
    /// [`busy_pump`]; null otherwise, and while the pump itself runs.
    static PUMP: std::cell::Cell<*mut Worker> = const { std::cell::Cell::new(std::ptr::null_mut()) };
}

/// Redis's `processEventsWhileBlocked`, called by a script past busy-reply-threshold: the other
/// connections of its worker are read and answered (-BUSY but for allow-busy commands such as
/// SCRIPT KILL, SHUTDOWN NOSAVE, MULTI or HELLO), as other workers already answer theirs;
/// without it a client of the same worker could never send the SCRIPT KILL. New connections are
/// accepted. The script's own connection (taken out of `conns`), our master's link (Redis lets
/// its stream accumulate) and the waker (other workers' messages) are left for the loop once the
/// script ends.
///
/// A no-op outside [`Worker::with_conn`] (the script then runs as before: only other workers
/// answer meanwhile).
pub fn busy_pump() {
    let me = PUMP.with(|p| p.replace(std::ptr::null_mut()));
    if me.is_null() {
        return;
    }
    // SAFETY: `me` was made from the `&mut Worker` of the `with_conn` frame below us on this
    // thread, which meanwhile only uses the `env` field (the script runs in it) and a connection
    // it took out of `conns`. The fields reached here are disjoint from both, and nothing else
    // touches them until this function returns (the pointer is cleared meanwhile, so there is
    // no re-entry).
    unsafe {
        let deferred = &mut (*me).deferred;
        let mut ready: Vec<usize> = Vec::new();
        {
            let pump_env = &*(*me).pump_env;
            let mut table = Admission {
                shared: pump_env.shared,
                worker_id: pump_env.id,
                stats: &pump_env.stats,
                poll: &(*me).poll,
                listeners: &mut (*me).listeners,
                conns: &mut (*me).conns,
                free: &mut (*me).free,
                by_client: &mut (*me).by_client,
                next_worker: &mut (*me).next_worker,
            };
            let mut events = Events::with_capacity(64);
            let mut tokens = std::mem::take(&mut (*me).batch);
            if (*me).poll.poll(&mut events, Some(Duration::ZERO)).is_ok() {
                tokens.extend(events.iter().map(|ev| ev.token().0));
            }
            for t in tokens {
                if t == WAKER_TOKEN.0 {
                    // New connections handed to us by the accepting worker are served now, as
                    // the rest of the inbox waits for the loop: with several workers a client
                    // may land on the busy one and must still get its -BUSY or SCRIPT KILL.
                    ready.extend(table.admit_handed_over());
                    deferred.push(t);
                } else if t < CONN_BASE {
                    // New clients are served at once, as Redis accepts them meanwhile.
                    ready.extend(table.accept(t - LISTENER_BASE));
                } else {
                    ready.push(t - CONN_BASE);
                }
            }
        }
        let env = &mut *(*me).pump_env;
        let conns = &mut (*me).conns;
        for idx in ready {
            let Some(c) = conns.get_mut(idx).and_then(|c| c.as_deref_mut()).filter(|c| !c.master) else {
                deferred.push(CONN_BASE + idx);
                continue;
            };
            env.read_and_process(c, true);
            flush(c);
            if c.closed || c.close_after_write || c.handoff.is_some() || c.out.len() > c.wpos {
                // Closing, handing over or a full socket: the loop's `finish` does it.
                deferred.push(CONN_BASE + idx);
            }
        }
    }
    PUMP.with(|p| p.set(me));
}

impl Worker {
    pub fn new(id: usize, shared: &'static Shared, poll: Poll, stats: Arc<WorkerStats>) -> Worker {
        Worker {
            env: Env::new(id, shared, stats.clone()),
            pump_env: Box::new(Env { serves_busy_pump: true, ..Env::new(id, shared, stats) }),
            deferred: Vec::new(),
            batch: Vec::new(),
            poll,
            conns: Vec::new(),
            free: Vec::new(),
            by_client: HashMap::new(),
            listeners: Vec::new(),
            next_worker: 0,
            expire_slot: id,
            last_tick_ms: 0,
            pending_reads: Vec::new(),
            aof_waiting: Vec::new(),
            master_idx: None,
        }
    }

    pub fn new_waker(poll: &Poll) -> io::Result<Waker> {
        Waker::new(poll.registry(), WAKER_TOKEN)
    }

    pub fn add_listener(&mut self, mut l: Listener) -> io::Result<()> {
        let token = Token(LISTENER_BASE + self.listeners.len());
        let fd = match &mut l {
            Listener::Tcp(t) => {
                self.poll.registry().register(t, token, Interest::READABLE)?;
                std::os::fd::AsRawFd::as_raw_fd(t)
            }
            Listener::Unix(u) => {
                self.poll.registry().register(u, token, Interest::READABLE)?;
                std::os::fd::AsRawFd::as_raw_fd(u)
            }
        };
        match self.env.shared.listener_fds.lock().as_mut() {
            Some(fds) => fds.push(fd),
            // Shutdown already stopped the others: this one must not accept either.
            // SAFETY: `fd` belongs to `l`, open until it is dropped below us.
            None => unsafe {
                libc::shutdown(fd, libc::SHUT_RDWR);
            },
        }
        self.listeners.push(l);
        Ok(())
    }

    /// CONFIG SET port / bind: the TCP listeners are closed and `fresh` ones (or, for
    /// `rebind`, ones bound now, after the old addresses are free) take their place; the unix
    /// socket stays. Tokens are handed out again from the start, as `add_listener` numbers them.
    fn replace_tcp_listeners(&mut self, fresh: Vec<Listener>, rebind: Option<(Vec<String>, u16)>) {
        let old = std::mem::take(&mut self.listeners);
        {
            // Out of the shutdown list before they close (see `request_shutdown`).
            let mut fds = self.env.shared.listener_fds.lock();
            if let Some(fds) = fds.as_mut() {
                fds.clear();
            }
        }
        let mut kept = Vec::new();
        for mut l in old {
            match &mut l {
                Listener::Tcp(t) => {
                    let _ = self.poll.registry().deregister(t);
                }
                Listener::Unix(u) => {
                    let _ = self.poll.registry().deregister(u);
                    kept.push(l);
                }
            }
        }
        let fresh = match rebind {
            Some((binds, port)) => crate::rebind(&binds, port),
            None => fresh,
        };
        for l in fresh.into_iter().chain(kept) {
            if let Err(e) = self.add_listener(l) {
                warning!("Registering a listener: {e}");
            }
        }
    }

    /// Runs the event loop until shutdown is requested.
    pub fn run(mut self) {
        let mut events = Events::with_capacity(1024);
        while !self.env.shared.shutdown.load(Ordering::Relaxed) {
            let timeout = self.poll_timeout();
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    warning!("Worker {} poll error: {}", self.env.id, e);
                }
                continue;
            }
            self.batch.clear();
            self.batch.extend(events.iter().map(|ev| ev.token().0));
            for ev in events.iter() {
                let closed = ev.is_read_closed() || ev.is_error();
                self.on_event(ev.token().0, ev.is_readable() || closed, closed, ev.is_writable());
            }
            for t in std::mem::take(&mut self.deferred) {
                self.on_event(t, true, true, false);
            }
            for idx in std::mem::take(&mut self.pending_reads) {
                self.on_readable(idx);
            }
            self.tick();
            if !self.aof_waiting.is_empty() {
                self.finish_aof_waiting();
            }
            if self.env.shared.tracking.bcast_pending() {
                self.env.track_broadcast();
            }
            self.flush_outbox();
        }
        crate::aof::before_reply();
        let ids: Vec<usize> = (0..self.conns.len()).collect();
        for i in ids {
            if let Some(c) = self.conns.get_mut(i).and_then(|c| c.as_mut()) {
                flush(c);
            }
        }
    }

    /// One readiness event, or a token [`busy_pump`] left for the loop (then read until the
    /// socket is empty).
    fn on_event(&mut self, token: usize, readable: bool, drain: bool, writable: bool) {
        if token == WAKER_TOKEN.0 {
            self.drain_inbox();
        } else if token < CONN_BASE {
            self.accept(token - LISTENER_BASE);
        } else {
            let idx = token - CONN_BASE;
            if readable {
                self.on_readable_drain(idx, drain);
            }
            if writable {
                self.on_writable(idx);
            }
        }
    }

    fn poll_timeout(&self) -> Duration {
        if !self.pending_reads.is_empty() || !self.deferred.is_empty() {
            return Duration::ZERO;
        }
        let hz = self.env.data_config_hz();
        let mut ms = (1000 / hz.max(1)) as i64;
        if self.env.parked == 0 {
            return Duration::from_millis(ms.max(0) as u64);
        }
        let now = now_ms();
        for c in self.conns.iter().flatten() {
            if let Some(Some(deadline)) = c.blocked {
                ms = ms.min((deadline - now).max(0));
            }
            if c.paused {
                ms = ms.min(5);
            }
        }
        Duration::from_millis(ms.max(0) as u64)
    }

    /// The connection table, borrowed apart from the environments.
    fn admission(&mut self) -> Admission<'_> {
        Admission {
            shared: self.env.shared,
            worker_id: self.env.id,
            stats: &self.env.stats,
            poll: &self.poll,
            listeners: &mut self.listeners,
            conns: &mut self.conns,
            free: &mut self.free,
            by_client: &mut self.by_client,
            next_worker: &mut self.next_worker,
        }
    }

    fn accept(&mut self, index: usize) {
        for idx in self.admission().accept(index) {
            self.on_readable(idx);
        }
    }

    fn add_conn(&mut self, stream: Stream, info: Arc<ClientShared>) -> Option<usize> {
        self.admission().add_conn(stream, info)
    }

    fn drain_inbox(&mut self) {
        let msgs = match self.env.shared.workers().get(self.env.id) {
            Some(w) => std::mem::take(&mut *w.inbox.lock()),
            None => return,
        };
        for msg in msgs {
            match msg {
                Msg::NewConn(stream, info) => {
                    // Data may already be waiting: edge-triggered readiness would not report it.
                    if let Some(idx) = self.add_conn(stream, info) {
                        self.on_readable(idx);
                    }
                }
                Msg::Unblocked { client_id, reply, argv, served_us } => {
                    if let Some(&idx) = self.by_client.get(&client_id) {
                        let resumed = self.with_conn(idx, |env, c| {
                            if c.blocked.is_some() {
                                env.parked = env.parked.saturating_sub(1);
                            }
                            c.blocked = None;
                            c.info.blocked.store(false, Ordering::Relaxed);
                            let call_us = env.latency_tracking.then_some(c.blocked_call_us);
                            env.stats.count_unblocked(c.info.last_cmd.load(Ordering::Relaxed), &reply, call_us);
                            env.slowlog_unblocked_argv(c, &argv, c.blocked_call_us + served_us);
                            c.out.raw(&reply);
                            env.process_input(c);
                        });
                        if resumed.is_some() {
                            self.finish(idx);
                        }
                    }
                }
                // CLIENT KILL or client eviction marked one of ours.
                Msg::Poke => self.check_kills(),
                Msg::UnblockAll(text) => {
                    for idx in 0..self.conns.len() {
                        let waiting =
                            matches!(&self.conns[idx], Some(c) if c.blocked.is_some() && c.wait_repl.is_none());
                        if waiting {
                            self.with_conn(idx, |env, c| env.unblock_with_error(c, &text));
                            self.finish(idx);
                        }
                    }
                }
                Msg::MasterLink(stream, info, leftover, db) => {
                    if let Some(idx) = self.add_conn(stream, info) {
                        self.with_conn(idx, |env, c| {
                            c.master = true;
                            c.authenticated = true;
                            c.db = db;
                            c.info.db.store(db, Ordering::Relaxed);
                            c.last_ack_ms = now_ms();
                            c.rbuf = leftover;
                            c.filled = c.rbuf.len();
                            env.process_input(c);
                        });
                        self.master_idx = Some(idx);
                        self.on_readable(idx);
                    }
                }
                Msg::Deliver(batch) => self.deliver(batch),
                Msg::Listeners(fresh) => self.replace_tcp_listeners(fresh, None),
                Msg::Rebind(binds, port) => self.replace_tcp_listeners(Vec::new(), Some((binds, port))),
                Msg::ShardUnsubscribe(list) => {
                    for (client_id, channel) in list {
                        let Some(&idx) = self.by_client.get(&client_id) else { continue };
                        if let Some(c) = self.conns[idx].as_mut() {
                            self.env.unsubscribe(c, crate::pubsub::SubKind::Shard, &[&channel], true);
                            self.env.pushed_until = None;
                        }
                        self.finish(idx);
                    }
                }
            }
        }
        self.check_kills();
    }

    /// Sends the pub/sub deliveries this worker's commands queued: other workers' through their
    /// inboxes, ours straight into the subscribers' buffers.
    fn flush_outbox(&mut self) {
        // Bounded: delivering writes no new deliveries, so one round empties the outbox.
        let local = self.env.flush_outbox();
        if !local.is_empty() {
            self.deliver(local);
        }
    }

    /// Writes deliveries to this worker's subscribers, then enforces the pubsub output buffer
    /// limit and writes once per touched connection.
    fn deliver(&mut self, batch: Vec<crate::pubsub::Delivery>) {
        let mut touched: Vec<usize> = Vec::new();
        for d in &batch {
            let Some(&idx) = self.by_client.get(&d.client_id) else {
                continue;
            };
            if let Some(c) = self.conns[idx].as_mut() {
                if crate::pubsub::still_subscribed(c, d) {
                    crate::pubsub::write_delivery(c, d);
                    if touched.last() != Some(&idx) {
                        touched.push(idx);
                    }
                }
            }
        }
        touched.sort_unstable();
        touched.dedup();
        let now = now_ms();
        let (pubsub, normal) = (self.env.obuf_limit_pubsub, self.env.obuf_limit_normal);
        for idx in touched {
            let close = match self.conns[idx].as_mut() {
                Some(c) => crate::pubsub::output_limit_reached(c, &pubsub, &normal, now),
                None => false,
            };
            if close {
                warning!("Client scheduled to be closed ASAP for overcoming of output buffer limits.");
                self.close(idx);
            } else {
                self.finish(idx);
            }
        }
    }

    /// Redis's clientsCron, per connection: the output buffer limit check, which must run even
    /// when nothing new is added to a client's buffer (the check on writing alone would never see
    /// a soft limit's time run out), and clientsCronResizeQueryBuffer for idle clients (one that
    /// has sent nothing for more than 2 s and has nothing buffered gives its read buffer back,
    /// 16 KB each; the next read allocates one again; buffers over 64 KB already go when their
    /// request ends).
    fn clients_cron(&mut self, now: i64) {
        let (pubsub, normal) = (self.env.obuf_limit_pubsub, self.env.obuf_limit_normal);
        for idx in 0..self.conns.len() {
            let Some(c) = self.conns[idx].as_mut() else { continue };
            if c.pending_reply_bytes() > 0 && crate::pubsub::output_limit_reached(c, &pubsub, &normal, now) {
                warning!("Client {} scheduled to be closed ASAP for overcoming of output buffer limits.", c.info.addr);
                self.close(idx);
                continue;
            }
            if c.rbuf.is_empty()
                || c.rstart != c.filled
                || now - c.info.last_interaction_ms.load(Ordering::Relaxed) <= 2000
            {
                continue;
            }
            c.rbuf = Vec::new();
            c.rstart = 0;
            c.filled = 0;
            c.info.qbuf_free.store(0, Ordering::Relaxed);
            if !c.master {
                report_client_mem(self.env.shared, c);
            }
        }
    }

    fn check_kills(&mut self) {
        for idx in 0..self.conns.len() {
            let kill = matches!(&self.conns[idx], Some(c) if c.info.kill.load(Ordering::Relaxed));
            if kill {
                self.close(idx);
            }
        }
    }

    /// Runs `f` with the worker's environment on connection `idx`, taken out of `conns`
    /// meanwhile so that a script running past busy-reply-threshold can serve the other
    /// connections through [`busy_pump`] without reaching this one.
    fn with_conn<R>(&mut self, idx: usize, f: impl FnOnce(&mut Env, &mut Conn) -> R) -> Option<R> {
        let mut c = self.conns.get_mut(idx)?.take()?;
        let me: *mut Worker = self;
        let outer = PUMP.with(|p| p.replace(me));
        let result = f(&mut self.env, &mut c);
        PUMP.with(|p| p.set(outer));
        self.conns[idx] = Some(c);
        Some(result)
    }

    /// Reads until the socket says it is empty (`WouldBlock`).
    fn on_readable(&mut self, idx: usize) {
        self.on_readable_drain(idx, true);
    }

    /// Reads and executes what the socket holds. Without `until_would_block`, a read that did
    /// not fill the buffer is taken to have emptied the socket: with edge-triggered readiness,
    /// bytes or a FIN that arrive after the event was reported raise a new event, and a FIN
    /// already there when it was reported shows as `read_closed` (callers then ask to drain).
    /// That saves the read that would only answer `WouldBlock`: one syscall per batch.
    fn on_readable_drain(&mut self, idx: usize, until_would_block: bool) {
        let Some(outcome) = self.with_conn(idx, |env, c| env.read_and_process(c, until_would_block)) else {
            return;
        };
        if outcome == ReadOutcome::MoreToRead {
            self.pending_reads.push(idx);
        }
        self.finish(idx);
    }

    fn on_writable(&mut self, idx: usize) {
        // `finish` writes: its output may hold replies that wait for the AOF.
        self.finish(idx);
    }

    /// After work on a connection: write what is pending, adjust interest, close if needed.
    /// While the AOF holds commands not yet on disk the connection waits for the end of the
    /// loop iteration instead (one AOF write for every connection of the iteration).
    fn finish(&mut self, idx: usize) {
        if crate::aof::replies_must_wait() {
            self.aof_waiting.push(idx);
            return;
        }
        self.finish_now(idx);
    }

    /// Writes the AOF once, then finishes every connection that waited for it.
    fn finish_aof_waiting(&mut self) {
        crate::aof::before_reply();
        let mut waiting = std::mem::take(&mut self.aof_waiting);
        waiting.sort_unstable();
        waiting.dedup();
        for idx in waiting {
            self.finish_now(idx);
        }
    }

    fn finish_now(&mut self, idx: usize) {
        let registry = self.poll.registry();
        let Some(c) = self.conns.get_mut(idx).and_then(|c| c.as_mut()) else {
            return;
        };
        // Also after the peer closed its side: requests that arrived together with its FIN were
        // executed, and their replies are owed (Redis writes them before it reads the FIN).
        // A write to a reset connection just fails.
        crate::aof::before_reply();
        if self.env.output_limit_reached(c) {
            // As Redis's closeClientOnOutputBufferLimitReached: none of the pending replies is
            // sent, so the memory they hold is freed at once.
            warning!("Client {} scheduled to be closed ASAP for overcoming of output buffer limits.", c.info.addr);
            self.close(idx);
            return;
        }
        flush(c);
        if c.handoff.is_some() && !c.closed {
            self.hand_off(idx);
            return;
        }
        if !c.master && report_client_mem(self.env.shared, c) {
            crate::evict::evict_clients(self.env.shared);
        }
        if c.closed || c.info.kill.load(Ordering::Relaxed) || (c.close_after_write && c.wpos >= c.out.len()) {
            self.close(idx);
            return;
        }
        let want_write = c.wpos < c.out.len();
        if want_write != c.writable {
            let interest = if want_write { Interest::READABLE | Interest::WRITABLE } else { Interest::READABLE };
            let _ = registry.reregister(c.stream.source(), Token(CONN_BASE + idx), interest);
            c.writable = want_write;
        }
    }

    /// PSYNC/SYNC was accepted: the connection leaves this worker for the replication module
    /// (its own threads stream to it), with whatever output was not written yet.
    fn hand_off(&mut self, idx: usize) {
        let Some(mut c) = self.conns.get_mut(idx).and_then(|c| c.take()) else {
            return;
        };
        let _ = self.poll.registry().deregister(c.stream.source());
        self.env.unwatch_all(&mut c);
        self.env.unsubscribe_all(&mut c);
        self.env.shared.tracking.disable(&c.info);
        forget_client_mem(self.env.shared, &c.info);
        self.by_client.remove(&c.info.id);
        self.free.push(idx);
        let pending = c.out.buf[c.wpos..].to_vec();
        let Some(req) = c.handoff.take() else { return };
        match c.stream {
            Stream::Tcp(s) => {
                let sock: std::net::TcpStream = s.into();
                crate::replication::serve_replica(self.env.shared, sock, c.info.clone(), req, pending);
            }
            Stream::Unix(_) => {
                self.env.shared.clients.lock().remove(&c.info.id);
            }
        }
    }

    fn close(&mut self, idx: usize) {
        let Some(mut c) = self.conns.get_mut(idx).and_then(|c| c.take()) else {
            return;
        };
        if c.master {
            self.master_idx = None;
            crate::replication::master_link_lost(c.info.id, c.db);
        }
        if c.wait_repl.take().is_some() {
            crate::replication::repl().waiters.fetch_sub(1, Ordering::Relaxed);
        }
        if c.shutdown_wait.take().is_some() {
            crate::shutdown::BLOCKED.fetch_sub(1, Ordering::Relaxed);
        }
        let _ = self.poll.registry().deregister(c.stream.source());
        if c.blocked.is_some() && self.env.shared.blocking.inner.lock().remove(c.info.id).is_some() {
            self.env.shared.blocked_count.fetch_sub(1, Ordering::SeqCst);
        }
        if c.blocked.is_some() || c.paused {
            self.env.parked = self.env.parked.saturating_sub(1);
        }
        if c.paused {
            self.env.shared.paused_count.fetch_sub(1, Ordering::Relaxed);
        }
        self.env.unwatch_all(&mut c);
        self.env.unsubscribe_all(&mut c);
        self.env.shared.tracking.disable(&c.info);
        crate::introspect::monitor_stop(self.env.shared, c.info.id);
        forget_client_mem(self.env.shared, &c.info);
        self.env.shared.clients.lock().remove(&c.info.id);
        self.by_client.remove(&c.info.id);
        self.free.push(idx);
    }

    /// Periodic work: blocked-client timeouts, paused clients, idle timeouts, active expiry.
    fn tick(&mut self) {
        let now = now_ms();
        crate::watchdog::heartbeat(self.env.id, now);
        if self.env.parked > 0 {
            self.wake_parked(now);
        }
        let hz = self.env.data_config_hz().max(1) as i64;
        if now - self.last_tick_ms < 1000 / hz {
            return;
        }
        self.last_tick_ms = now;
        if self.env.shared.cron_paused.load(Ordering::Relaxed) {
            return;
        }
        if self.env.id == 0 {
            crate::shutdown::cron(self.env.shared, now);
        }
        self.master_cron(now);
        self.env.refresh_data_config();
        self.env.qbuf_limit = self.env.shared.config.read().client_query_buffer_limit();
        self.check_kills();
        self.clients_cron(now);
        let timeout_s = self.env.shared.config.read().timeout_secs() as i64;
        if timeout_s > 0 {
            for idx in 0..self.conns.len() {
                let idle = matches!(&self.conns[idx], Some(c) if c.blocked.is_none()
                    && now - c.info.last_interaction_ms.load(Ordering::Relaxed) > timeout_s * 1000);
                if idle {
                    verbose!("Closing idle client");
                    self.close(idx);
                }
            }
        }
        // Redis runs no serverCron while loading (only whileBlockedCron): no expiry cycle, no
        // eviction and no save point may act on a dataset that is half there.
        if crate::replication::loading() {
            return;
        }
        self.active_expire(now);
        if self.env.shared.tracking.active() {
            if self.env.id == 0 {
                let mut sink = crate::tracking::Sink::new(0);
                self.env.track_limit(&mut sink);
                self.env.route_tracking(sink);
            }
        } else {
            keyspace::set_tracking_log(false);
        }
        if self.env.maxmemory_applies() {
            // Redis's eviction time proc: an eviction that ran out of its time budget continues
            // here, and a limit lowered by CONFIG SET takes effect without waiting for a command.
            keyspace::access::advance(now);
            // No command runs: every invalidation goes out as a message of its own.
            self.env.cur_client = 0;
            self.env.perform_evictions();
        }
        if self.env.id == 0 {
            crate::persistence::cron(self.env.shared, now);
        }
    }

    /// The master client: `REPLCONF ACK <offset>` every second, and the link is dropped after
    /// `repl-timeout` seconds without a byte from the master (it PINGs every
    /// `repl-ping-replica-period`).
    fn master_cron(&mut self, now: i64) {
        let Some(idx) = self.master_idx else { return };
        let timeout_s = self.env.shared.config.read().get_i64("repl-timeout").unwrap_or(60).max(1);
        let Some(c) = self.conns.get_mut(idx).and_then(|c| c.as_mut()) else {
            self.master_idx = None;
            return;
        };
        if now - c.info.last_interaction_ms.load(Ordering::Relaxed) > timeout_s * 1000 {
            warning!("MASTER timeout: no data nor PING received...");
            self.close(idx);
            return;
        }
        if now - c.last_ack_ms >= 1000 {
            c.last_ack_ms = now;
            c.out.raw(&crate::replication::ack_command());
            self.finish(idx);
        }
    }

    /// Blocked clients whose deadline passed get their timeout reply; paused clients resume
    /// once the pause is over.
    fn wake_parked(&mut self, now: i64) {
        if self.env.cluster.is_some() {
            self.redirect_blocked();
        }
        if crate::replication::repl().waiters.load(Ordering::Relaxed) > 0 {
            for idx in 0..self.conns.len() {
                let Some(Some((target, wanted))) = self.conns[idx].as_ref().map(|c| c.wait_repl) else { continue };
                let acked = crate::replication::replicas_acked(target);
                let timed_out = matches!(&self.conns[idx], Some(c) if matches!(c.blocked, Some(Some(d)) if d <= now));
                if acked >= wanted || timed_out {
                    self.with_conn(idx, |env, c| {
                        c.wait_repl = None;
                        crate::replication::repl().waiters.fetch_sub(1, Ordering::Relaxed);
                        c.blocked = None;
                        c.info.blocked.store(false, Ordering::Relaxed);
                        env.parked = env.parked.saturating_sub(1);
                        c.out.int(acked as i64);
                        env.process_input(c);
                    });
                    self.finish(idx);
                }
            }
        }
        if crate::shutdown::BLOCKED.load(Ordering::Relaxed) > 0 {
            for idx in 0..self.conns.len() {
                let cancelled =
                    matches!(&self.conns[idx], Some(c) if c.shutdown_wait.is_some_and(crate::shutdown::was_cancelled));
                if cancelled {
                    self.with_conn(idx, |env, c| {
                        c.shutdown_wait = None;
                        crate::shutdown::BLOCKED.fetch_sub(1, Ordering::Relaxed);
                        c.blocked = None;
                        c.info.blocked.store(false, Ordering::Relaxed);
                        env.parked = env.parked.saturating_sub(1);
                        c.out.error(crate::shutdown::FAILED_REPLY);
                        env.process_input(c);
                    });
                    self.finish(idx);
                }
            }
        }
        for idx in 0..self.conns.len() {
            let due = matches!(&self.conns[idx], Some(c) if c.wait_repl.is_none() && matches!(c.blocked, Some(Some(d)) if d <= now));
            if due {
                self.with_conn(idx, |env, c| env.unblock_on_timeout(c));
                self.finish(idx);
            }
        }
        let paused_until = self
            .env
            .shared
            .pause_until_ms
            .load(Ordering::Relaxed)
            .max(self.env.shared.write_pause_until_ms())
            .max(if self.env.shared.role_switch_pending.load(Ordering::Relaxed) { i64::MAX } else { 0 });
        for idx in 0..self.conns.len() {
            let resume = matches!(&self.conns[idx], Some(c) if c.paused && now >= paused_until);
            if resume {
                self.with_conn(idx, |env, c| {
                    c.paused = false;
                    env.parked = env.parked.saturating_sub(1);
                    env.shared.paused_count.fetch_sub(1, Ordering::Relaxed);
                    env.process_input(c);
                });
                self.finish(idx);
            }
        }
    }

    /// `clusterRedirectBlockedClientIfNeeded`: a client blocked on keys of a slot this node no
    /// longer serves (or while the cluster is down) is unblocked with the redirection, instead
    /// of waiting for a push that will never come here.
    fn redirect_blocked(&mut self) {
        let Some(node) = self.env.cluster else { return };
        let routing = node.routing();
        for idx in 0..self.conns.len() {
            let Some(c) = self.conns[idx].as_mut() else { continue };
            let (Some(_), Some(slot)) = (c.blocked, c.blocked_slot) else { continue };
            let s = usize::from(slot);
            // Redis: a READONLY client's read may wait on a replica of the slot's owner.
            let served_here = routing.owner[s] == routing.me
                || (c.readonly && c.blocked_read && routing.my_master != NONE && routing.my_master == routing.owner[s]);
            let text = if !routing.ok {
                Some("CLUSTERDOWN The cluster is down".to_string())
            } else if served_here || routing.importing_from[s] != NONE {
                None
            } else if routing.owner[s] == NONE {
                Some("CLUSTERDOWN Hash slot not served".to_string())
            } else {
                Some(Redirect::Moved { slot, node: routing.owner[s] }.error_text(&routing))
            };
            if let Some(text) = text {
                self.env.unblock_with_error(c, &text);
                self.finish(idx);
            }
        }
    }

    /// Removes expired keys in this worker's share of the slots (slot % workers == id), with a
    /// budget per tick so a mass expiry cannot stall the loop.
    fn active_expire(&mut self, now: i64) {
        let shared = self.env.shared;
        if !shared.active_expire_enabled.load(Ordering::Relaxed) {
            return;
        }
        // No expiry cycle while clients are paused (see the expiry mode in `execute`).
        if shared.pause_until_ms.load(Ordering::Relaxed) > now || shared.write_pause_until_ms() > now {
            return;
        }
        // A replica's keys expire by its master's DELs only (Redis runs no expiry cycle there),
        // except those its own clients wrote with a TTL (replica-read-only no).
        if crate::replication::is_replica() {
            if self.env.id == 0 {
                self.expire_replica_keys(now);
            }
            return;
        }
        let started = Instant::now();
        let workers = shared.workers().len().max(1);
        let mut budget_keys = 2000usize;
        let mut slots_visited = 0;
        // Each tick walks this worker's whole share of the slots (most are empty or hold no key with a TTL,
        // which costs one uncontended lock each), bounded by the keys removed and by time, as Redis bounds its
        // cycle (25 % of the tick; we take 5 ms of 100). Rejected: a fixed 1024 slots per tick, which took
        // 1.6 s to come back to a slot with one worker, so a key could outlive its TTL by that much (Redis's
        // "actively expire keys incrementally" test allows 2 s in all).
        let share = keyspace::SLOT_COUNT.div_ceil(workers);
        while budget_keys > 0 && slots_visited < share {
            if slots_visited % 64 == 63 && started.elapsed() > Duration::from_millis(5) {
                break;
            }
            let slot = self.expire_slot;
            self.expire_slot = (self.expire_slot + workers) % keyspace::SLOT_COUNT;
            slots_visited += 1;
            for db in 0..shared.ks.db_count() {
                if let Some(d) = shared.ks.db_if_used(db) {
                    // Looked at first without the snapshot hook: during a snapshot, locking every
                    // slot of the walk made this worker serialize them all itself.
                    if !d.peek_slot(slot as u16, |t| t.has_due_expiry(now)) {
                        continue;
                    }
                    let mut t = d.lock_slot(slot as u16);
                    let tracking = shared.tracking.active();
                    if tracking {
                        keyspace::set_tracking_log(true);
                    }
                    let removed = t.expire_some(now, budget_keys);
                    if tracking && removed > 0 {
                        self.env.track_expired();
                    }
                    // The DELs are logged while the slot is still locked (per-key order).
                    let logged = if removed > 0 {
                        crate::aof::feed_expired(db as u32, self.env.data_config.lazyfree_lazy_expire)
                    } else {
                        None
                    };
                    drop(t);
                    budget_keys = budget_keys.saturating_sub(removed);
                    match logged {
                        Some(keys) => self.env.publish_expired_keys(db as u32, keys),
                        None if removed > 0 => self.env.publish_expired_log(db as u32),
                        None => {}
                    }
                }
            }
        }
        crate::introspect::latency_event_if_needed(shared, "expire-cycle", started.elapsed().as_millis() as u64);
    }
}

impl Worker {
    /// Redis's `expireSlaveKeys`: removes the keys a writable replica's clients wrote with a TTL
    /// once it has passed, logged and propagated as any expiry, and forgets keys that lost
    /// their TTL or are gone.
    fn expire_replica_keys(&mut self, now: i64) {
        let shared = self.env.shared;
        let keys = crate::replication::replica_keys_with_expire();
        if keys.is_empty() {
            return;
        }
        keyspace::set_expiry_mode(keyspace::ExpiryMode::Delete);
        self.env.expiry_mode = keyspace::ExpiryMode::Delete;
        for (db, key) in keys {
            let Some(d) = shared.ks.db_if_used(db as usize) else {
                crate::replication::forget_replica_key(db, &key);
                continue;
            };
            let mut t = d.lock_slot(keyspace::key_hash_slot(&key));
            match t.expire_at(&key) {
                Some(at) if at <= now => {
                    t.remove(&key, now);
                    let logged = crate::aof::feed_expired(db, self.env.data_config.lazyfree_lazy_expire);
                    drop(t);
                    crate::replication::forget_replica_key(db, &key);
                    match logged {
                        Some(keys) => self.env.publish_expired_keys(db, keys),
                        None => self.env.publish_expired_log(db),
                    }
                }
                Some(_) => {}
                None => {
                    drop(t);
                    crate::replication::forget_replica_key(db, &key);
                }
            }
        }
    }
}

/// Writes as much pending output as the socket takes.
/// Whether `entry` run with `args` may write or replicate (Redis's CMD_WRITE | CMD_MAY_REPLICATE
/// of `getCommandFlags`, which for EVAL and EVALSHA come from the script's shebang flags).
fn may_write(entry: &Entry, args: &[&[u8]]) -> bool {
    if entry.meta.has(flag::WRITE) {
        return true;
    }
    if !entry.meta.has(flag::MAY_REPLICATE) {
        return false;
    }
    match entry.kind {
        Kind::Server(crate::cmds::EVAL) => crate::scripting::eval_may_write(args, false),
        Kind::Server(crate::cmds::EVALSHA) => crate::scripting::eval_may_write(args, true),
        Kind::Server(crate::cmds::FCALL) => crate::scripting::functions::fcall_may_write(args),
        _ => true,
    }
}

/// The client's memory (a fixed share for the connection, plus what its query and output
/// buffers hold allocated, as Redis counts its buffers' allocation sizes), reported into
/// `clients_mem` when it changed. True when client eviction is on and clients are over the limit.
/// A pipelined GET/SET batch leaves both buffers' capacity as it was, so it changes nothing
/// and costs two loads here. Rejected: counting only the bytes pending, which missed the
/// growth slack of a buffer holding large replies (up to twice them) until keys were evicted
/// for memory the clients held.
fn report_client_mem(shared: &Shared, c: &Conn) -> bool {
    report_client_buffers(shared, c, c.rbuf.capacity() + c.out.buf.capacity())
}

/// [`report_client_mem`] with the buffers' capacities given: while `process_input` runs, the
/// input buffer is out of the connection.
fn report_client_buffers(shared: &Shared, conn: &Conn, buffers_bytes: usize) -> bool {
    let c = &conn.info;
    let (multi_mem, state_mem) = conn.state_mem();
    // Stored only when changed: the line is shared with CLIENT LIST's readers, and nearly
    // every client holds none of this.
    if c.state_mem.load(Ordering::Relaxed) != state_mem || c.multi_mem.load(Ordering::Relaxed) != multi_mem {
        c.multi_mem.store(multi_mem, Ordering::Relaxed);
        c.state_mem.store(state_mem, Ordering::Relaxed);
    }
    let mem = CLIENT_BASE_MEM + buffers_bytes as u64 + state_mem;
    // Only the owning worker writes a client's share (`forget_client_mem` too, on the same
    // thread), so a plain load and store do: no read-modify-write unless it changed.
    let old = c.mem_reported.load(Ordering::Relaxed);
    if old == mem {
        return false;
    }
    c.mem_reported.store(mem, Ordering::Relaxed);
    let delta = mem as i64 - old as i64;
    let total = shared.stats.clients_mem.fetch_add(delta, Ordering::Relaxed) + delta;
    let limit = shared.stats.client_eviction_limit.load(Ordering::Relaxed);
    limit != 0 && total >= limit as i64
}

/// A client leaves (closed, or handed to replication): its share leaves `clients_mem`.
fn forget_client_mem(shared: &Shared, info: &ClientShared) {
    let old = info.mem_reported.swap(0, Ordering::Relaxed);
    shared.stats.clients_mem.fetch_sub(old as i64, Ordering::Relaxed);
}

fn flush(c: &mut Conn) {
    while c.wpos < c.out.len() {
        match c.stream.write(&c.out.buf[c.wpos..]) {
            Ok(0) => {
                c.closed = true;
                return;
            }
            Ok(n) => c.wpos += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => {
                c.closed = true;
                return;
            }
        }
    }
    if c.wpos >= c.out.len() {
        // Keep the buffer for the next replies only if the previous flush needed this much too:
        // one large reply (an INFO, a big LRANGE) among small ones must not leave its buffer held
        // by a connection that now sits idle. That memory counts as used_memory, so it would
        // stand against maxmemory and evict keys (Redis's clientsCronResizeOutputBuffer shrinks
        // such a buffer too, a cron later). A client whose replies stay large keeps its buffer
        // from the second one on, so its flushes allocate nothing. Rejected: always keeping up to
        // OUT_KEEP_BYTES (an idle client held its largest reply's buffer; Redis's "Don't rehash if
        // used memory exceeds maxmemory" test then saw 10 KB appear after one INFO), and a lower
        // fixed bound (a client reading 8 KB replies would allocate for every one).
        let sent = c.out.len();
        let capacity = c.out.buf.capacity();
        let needed_before = c.last_flush_bytes.saturating_mul(2);
        c.last_flush_bytes = sent;
        c.wpos = 0;
        if capacity > OUT_KEEP_BYTES || (capacity > OUT_KEEP_ALWAYS_BYTES && needed_before < capacity) {
            c.out.buf = Vec::new();
        } else {
            c.out.buf.clear();
        }
    }
    c.info.obuf.store((c.out.len() - c.wpos) as u64, Ordering::Relaxed);
}

impl Env {
    /// Whether `c` is over its class's output buffer limit (see
    /// [`crate::pubsub::output_limit_reached`]). One test of a cached word for an unsubscribed
    /// client under the normal class's default (no limit): the clock is read only when a limit
    /// applies.
    fn output_limit_reached(&self, c: &mut Conn) -> bool {
        let (pubsub, normal) = (&self.obuf_limit_pubsub, &self.obuf_limit_normal);
        let limited = if c.subs.is_some() { pubsub.is_set() } else { normal.is_set() };
        limited && crate::pubsub::output_limit_reached(c, pubsub, normal, now_ms())
    }

    /// The environment the AOF loader runs scripts in (EVAL, EVALSHA, SCRIPT and FCALL from
    /// the file), as Redis's loader runs them through its fake client. `id` names the Lua VM's
    /// owner: the calling worker's own for DEBUG LOADAOF, so its VM is reused, not counted twice.
    pub(crate) fn for_loader(id: usize, shared: &'static Shared) -> Env {
        Env::new(id, shared, Arc::new(WorkerStats::default()))
    }

    /// A worker's command environment: everything a command needs besides its connection.
    fn new(id: usize, shared: &'static Shared, stats: Arc<WorkerStats>) -> Env {
        Env {
            id,
            shared,
            stats,
            error_stats_counted: false,
            data_config: shared.data_config(),
            expiry_mode: keyspace::ExpiryMode::Delete,
            qbuf_limit: shared.config.read().client_query_buffer_limit(),
            parked: 0,
            evictor: crate::evict::Evictor::new(0x9E37_79B9_7F4A_7C15 ^ id as u64),
            pre_command_oom: false,
            in_script: false,
            script_keys: Vec::new(),
            locks: LockSet::new(),
            effects: Effects::default(),
            key_pos: Vec::new(),
            slot_buf: Vec::new(),
            clock: BatchClock::new(),
            lookahead: Vec::with_capacity(LOOKAHEAD_MAX),
            outbox: Vec::new(),
            obuf_limit_pubsub: shared.config.read().client_output_buffer_limits()[2],
            obuf_limit_normal: shared.config.read().client_output_buffer_limits()[0],
            in_exec: false,
            cluster_deferred: None,
            pushed_until: None,
            config_epoch: 0,
            cluster: shared.cluster.as_ref(),
            routing: None,
            routing_seen: 0,
            cluster_reads_when_down: false,
            cluster_pubsubshard_when_down: true,
            routing_guard: None,
            routing_stale: false,
            introspect_floor_us: crate::introspect::floor_us(shared),
            latency_tracking: shared.config.read().get_bool("latency-tracking").unwrap_or(true),
            master_keep_reply: false,
            replica_read_only: true,
            replica_serve_stale: true,
            cur_client: 0,
            cur_tracking: false,
            cur_caching: false,
            cur_is_client: false,
            cur_cmd: None,
            track_deferred: Vec::new(),
            track_immediate: Vec::new(),
            tracking_max_keys: 0,
            serves_busy_pump: false,
        }
    }

    fn data_config_hz(&self) -> u32 {
        10
    }

    /// Reads what the socket has (edge-triggered readiness requires draining it, up to a fair
    /// share per turn), executing complete requests as they arrive.
    fn read_and_process(&mut self, c: &mut Conn, until_would_block: bool) -> ReadOutcome {
        let limit = self.qbuf_limit;
        for _ in 0..MAX_READS_PER_EVENT {
            if c.rstart > 0 && (c.rstart == c.filled || c.filled == c.rbuf.len()) {
                c.rbuf.copy_within(c.rstart..c.filled, 0);
                c.filled -= c.rstart;
                c.rstart = 0;
            }
            if c.filled == c.rbuf.len() {
                let pending = c.filled - c.rstart;
                if pending >= limit {
                    warning!("Closing client that reached max query buffer length (qbuf={pending})");
                    c.closed = true;
                    return ReadOutcome::Done;
                }
                let want = c.need.max(c.rbuf.len() * 2).max(READ_CHUNK).min(limit.max(READ_CHUNK));
                c.rbuf.resize(want, 0);
            }
            match c.stream.read(&mut c.rbuf[c.filled..]) {
                Ok(0) => {
                    c.closed = true;
                    return ReadOutcome::Done;
                }
                Ok(n) => {
                    let short_read = c.filled + n < c.rbuf.len();
                    c.filled += n;
                    self.stats.net_input_bytes.add(n as u64);
                    self.process_input(c);
                    if c.closed || c.close_after_write || (short_read && !until_would_block) {
                        return ReadOutcome::Done;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return ReadOutcome::Done,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    c.closed = true;
                    return ReadOutcome::Done;
                }
            }
        }
        ReadOutcome::MoreToRead
    }

    /// Parses and executes every complete request buffered for `c`, stopping when the client
    /// blocks, is paused or must be closed.
    pub fn process_input(&mut self, c: &mut Conn) {
        self.clock.begin_batch();
        // One load per batch (not per request) of a line that is written only by CONFIG SET.
        if self.shared.config_epoch.load(Ordering::Acquire) != self.config_epoch {
            self.refresh_data_config();
        }
        let rbuf = std::mem::take(&mut c.rbuf);
        let mut spans = std::mem::take(&mut c.spans);
        self.scan_ahead(&rbuf[..c.filled], c.rstart);
        let mut request = 0usize;
        let limits = Limits { max_bulk_len: self.data_config.proto_max_bulk_len, unauthenticated: !c.authenticated };
        // The master client holds the apply lock around each command and its stream append,
        // so a full sync's barrier never falls between them (see `replication`).
        let mut apply_guard = None;
        while c.rstart < c.filled
            && c.blocked.is_none()
            && !c.paused
            && !c.close_after_write
            && !c.closed
            && c.handoff.is_none()
        {
            drop(apply_guard.take());
            if c.master {
                if c.info.kill.load(Ordering::Relaxed) {
                    break;
                }
                apply_guard = Some(crate::replication::apply_lock());
                // Again under the lock: REPLICAOF takes this client away under it.
                if c.info.kill.load(Ordering::Relaxed) {
                    break;
                }
            }
            let buf = &rbuf[c.rstart..c.filled];
            if buf.len() < c.need {
                break;
            }
            match parse_request(buf, &limits, &mut spans) {
                Ok(Parsed::Multibulk { consumed }) => {
                    self.prefetch_ahead(&rbuf, c.db, request);
                    request += 1;
                    let mut argv: [&[u8]; 8] = [&[]; 8];
                    let status = if spans.len() <= argv.len() {
                        for (slot, s) in argv.iter_mut().zip(spans.iter()) {
                            *slot = s.of(buf);
                        }
                        self.execute(c, &argv[..spans.len()])
                    } else {
                        let args: Vec<&[u8]> = spans.iter().map(|s| s.of(buf)).collect();
                        self.execute(c, &args)
                    };
                    if status == Exec::Deferred {
                        break;
                    }
                    if c.master {
                        c.master_applied(&buf[..consumed]);
                    }
                    c.rstart += consumed;
                    c.need = 0;
                    // Over its output buffer limit, the client is closed (by `finish_now`,
                    // nothing sent) before anything else of it runs, and from now on its memory
                    // counts towards no eviction (Redis's closeClientOnOutputBufferLimitReached
                    // takes it out of the eviction buckets): a client whose reply is too large
                    // for it must not get another client evicted first.
                    if self.output_limit_reached(c) {
                        c.info.kill.store(true, Ordering::Relaxed);
                        forget_client_mem(self.shared, &c.info);
                        break;
                    }
                    // As Redis after each command (updateClientMemUsageAndBucket, then
                    // evictClients before the next): a pipeline of large replies must be able
                    // to evict clients before its output makes the next command evict keys.
                    if !c.master
                        && self.shared.stats.client_eviction_limit.load(Ordering::Relaxed) != 0
                        && report_client_buffers(self.shared, c, rbuf.capacity() + c.out.buf.capacity())
                    {
                        crate::evict::evict_clients(self.shared);
                        if c.info.kill.load(Ordering::Relaxed) {
                            break;
                        }
                    }
                }
                Ok(Parsed::Inline { consumed, args }) => {
                    let argv: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
                    if self.execute(c, &argv) == Exec::Deferred {
                        break;
                    }
                    if c.master {
                        c.master_applied(&rbuf[c.rstart..c.rstart + consumed]);
                    }
                    c.rstart += consumed;
                    c.need = 0;
                }
                Ok(Parsed::Skip { consumed }) => {
                    if c.master {
                        c.master_applied(&rbuf[c.rstart..c.rstart + consumed]);
                    }
                    c.rstart += consumed;
                    c.need = 0;
                }
                Ok(Parsed::Incomplete { min_total }) => {
                    c.need = min_total;
                    break;
                }
                Err(e) => {
                    if c.master {
                        warning!("Protocol error ({e}) from our master: closing the link");
                        c.closed = true;
                        break;
                    }
                    verbose!("Protocol error ({}) from client: id={} addr={}", e, c.info.id, c.info.addr);
                    c.out.error(&e.reply_text());
                    c.close_after_write = true;
                    break;
                }
            }
        }
        drop(apply_guard);
        crate::cluster_node::commands::flush_deferred(self);
        // A command of many arguments (SADD of 100 000 members) left a span list of that
        // size: it goes with the request, as the read buffer does, instead of staying with the
        // connection (800 KB that Redis's lazyfree test saw as memory UNLINK never gave back).
        if spans.capacity() > SPANS_KEEP {
            spans = Vec::new();
        }
        if c.rstart == c.filled {
            c.rstart = 0;
            c.filled = 0;
            if rbuf.len() > 4 * READ_CHUNK {
                c.rbuf = Vec::new();
                c.spans = spans;
                c.info.qbuf.store(0, Ordering::Relaxed);
                c.info.argv_mem.store(0, Ordering::Relaxed);
                c.info.qbuf_free.store(0, Ordering::Relaxed);
                return;
            }
        }
        // What Redis would show of an unfinished request: the arguments already complete sit in
        // the command's argv (`argv-mem`), and its query buffer holds the rest, from the
        // unfinished argument's payload on. Worked out only for a request of some size, so a
        // pipeline's partial last request costs no second look at its headers.
        let pending = c.filled - c.rstart;
        let (argv_bytes, qbuf_from) =
            if pending > READ_CHUNK { resp::pending_request_split(&rbuf[c.rstart..c.filled]) } else { (0, 0) };
        c.info.qbuf.store((pending - qbuf_from) as u64, Ordering::Relaxed);
        c.info.argv_mem.store(argv_bytes as u64, Ordering::Relaxed);
        c.info.qbuf_free.store((rbuf.len() - c.filled) as u64, Ordering::Relaxed);
        c.rbuf = rbuf;
        c.spans = spans;
    }

    /// Notes where the key of each complete request buffered from `start` on lies (up to
    /// `LOOKAHEAD_MAX` requests), for [`Env::prefetch_ahead`].
    fn scan_ahead(&mut self, buf: &[u8], start: usize) {
        self.lookahead.clear();
        let mut at = start;
        while self.lookahead.len() < LOOKAHEAD_MAX {
            let Some(p) = peek_request(&buf[at..]) else { break };
            self.lookahead
                .push(p.second_arg.map(|(off, len)| (at + off, len, key_hash_slot(&buf[at + off..at + off + len]))));
            at += p.len;
        }
    }

    /// Before request `current` of a batch runs, starts loading what the next four will touch,
    /// one level deeper the nearer they are (see `Db::prefetch`). With a keyspace far larger
    /// than the caches, a lookup's dependent misses were the largest cost of a pipelined GET
    /// after the syscalls.
    fn prefetch_ahead(&self, rbuf: &[u8], db: u32, current: usize) {
        let Some(db) = self.shared.ks.db_if_used(db as usize) else { return };
        for (distance, stage) in [(4usize, 0u8), (3, 1), (2, 2), (1, 3)] {
            if let Some(Some((off, len, slot))) = self.lookahead.get(current + distance) {
                db.prefetch(*slot, &rbuf[*off..*off + *len], stage);
            }
        }
    }

    /// Runs one request for `c`: lookup, checks in Redis's order, execution, reply.
    pub fn execute(&mut self, c: &mut Conn, args: &[&[u8]]) -> Exec {
        let shared = self.shared;
        let now = self.clock.now_ms();
        let before = c.out.len();
        self.cur_client = c.info.id;
        if self.cluster_deferred.is_some() && !crate::cluster_node::commands::is_setslot(args) {
            crate::cluster_node::commands::flush_deferred(self);
        }
        self.cur_tracking = c.info.tracking.load(Ordering::Relaxed) & (crate::tracking::ON | crate::tracking::BCAST)
            == crate::tracking::ON;
        self.cur_caching = c.tracking_caching;
        self.cur_is_client = false;
        self.cur_cmd = None;
        let entry = match shared.registry.lookup(args) {
            Ok(e) => {
                self.cur_cmd = Some(e.meta.name.as_str());
                e
            }
            Err(LookupError::Reply(text)) => {
                // Arity errors are charged to the (sub)command (Redis's rejected_calls), and an
                // EXEC with the wrong arity ends its transaction; an unknown command or
                // subcommand has nobody to charge.
                if let Some(e) = shared.registry.resolve(args) {
                    return self.reject(c, e, &text, before);
                }
                c.out.error(&text);
                self.stats.rejected_calls.add(1);
                c.multi_aborted |= c.multi.is_some();
                self.after_command(c, before);
                return Exec::Done;
            }
        };
        if shared.tracking.active() {
            // Room is made before the command runs; messages for this very client come before
            // its reply, as Redis's processCommand sends them outside `call`.
            let mut sink = crate::tracking::Sink::new(c.info.id);
            self.track_limit(&mut sink);
            for d in std::mem::take(&mut sink.immediate) {
                crate::pubsub::write_delivery(c, &d);
            }
            for (worker, d) in std::mem::take(&mut sink.deferred) {
                if d.client_id == c.info.id {
                    crate::pubsub::write_delivery(c, &d);
                } else {
                    self.queue_delivery(worker, d);
                }
            }
            self.route_tracking(sink);
        }
        if !c.authenticated && !entry.meta.has(flag::NO_AUTH) {
            if !shared.acl.default_open() {
                return self.reject(c, entry, "NOAUTH Authentication required.", before);
            }
            c.authenticated = true;
        }
        // ACLs, after authentication as in Redis's processCommand. A change of any user moves
        // the generation on: the connection re-reads its user (one atomic load per request
        // otherwise). An unrestricted user (the default one, as shipped) pays one flag test.
        let acl_gen = shared.acl.generation.load(Ordering::Acquire);
        if acl_gen != c.acl_gen {
            self.refresh_user(c, acl_gen);
        }
        let mut sort_restricted = false;
        // Inside MULTI a no-multi command is refused as such first (Redis checks that before
        // ACLs); the refusal itself comes further down.
        let refused_in_multi = c.multi.is_some() && entry.meta.has(flag::NO_MULTI);
        if !c.user.unrestricted() && !c.master && !refused_in_multi {
            if let Some(text) = self.acl_denied(c, entry.meta, args, false) {
                return self.reject(c, entry, &text, before);
            }
            if matches!(entry.meta.name.as_str(), "sort" | "sort_ro") {
                sort_restricted = !c.user.full_key_access(entry.meta, args, crate::acl::PERM_READ);
            }
        }
        // Checked in Redis's processCommand order: after a failed save, writes (and PING) are
        // refused until a save succeeds (stop-writes-on-bgsave-error), so no client believes
        // data is safe that is not; then a RESP2 client in subscribed mode may run only a few
        // commands.
        // Redis's getCommandFlags: a script's declared flags stand in for EVAL's / FCALL's own.
        let cmd_flags = crate::scripting::command_flags(entry, args);
        let is_exec = matches!(entry.kind, Kind::Server(crate::cmds::EXEC));
        let rejection: Option<String> = if shared.write_error.load(Ordering::Relaxed)
            && !c.master
            && (cmd_flags & flag::WRITE != 0 || entry.meta.name == "ping")
            && shared.config.read().stop_writes_on_bgsave_error()
        {
            Some(MISCONF.to_string())
        } else if let Some(text) = crate::aof::write_refusal(entry) {
            Some(text)
        } else if c.subs.is_some() && !c.resp3() && !crate::pubsub::allowed_while_subscribed(&entry.meta.name) {
            Some(format!(
                "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
                entry.meta.name
            ))
        } else {
            None
        };
        if let Some(text) = rejection {
            return self.reject(c, entry, &text, before);
        }
        if self.cluster.is_some() && !c.master {
            if let Some(text) = self.cluster_redirect(c, entry, args, cmd_flags) {
                c.out.error(&text);
                self.stats.rejected_calls.add(1);
                self.count_rejected(entry);
                if matches!(entry.kind, Kind::Server(crate::cmds::EXEC)) {
                    // processCommand discards a transaction whose EXEC is redirected.
                    self.discard_transaction(c);
                } else {
                    c.multi_aborted |= c.multi.is_some();
                }
                self.after_command(c, before);
                return Exec::Done;
            }
        }
        // Stamps the access clocks of the keys this command touches (written once a second).
        keyspace::access::advance(now);
        // maxmemory, where Redis's processCommand checks it (after the cluster redirection):
        // evict first, then refuse what would use memory if that did not get under the limit.
        // Like Redis, every command tries to evict (a read-only one too: it is never refused,
        // but it is how a lowered limit takes effect). A command queued inside MULTI is refused
        // as well, because the queue itself uses memory; DISCARD, EXEC, QUIT and RESET never
        // are, except an EXEC whose queue holds a denyoom command. Our master's stream is never
        // refused (a replica that must diverge from its master is worse than one over its limit).
        self.pre_command_oom = false;
        if self.maxmemory_applies() {
            let reject_on_oom = cmd_flags & flag::DENYOOM != 0
                || (is_exec && self.queue_has_flag(c, flag::DENYOOM))
                || (c.multi.is_some() && !is_exec && !matches!(entry.meta.name.as_str(), "discard" | "quit" | "reset"));
            let outcome = self.perform_evictions();
            self.pre_command_oom = outcome == crate::evict::Outcome::Fail;
            // This client's invalidations of evicted keys precede its reply, as in Redis.
            self.write_track_immediate(c);
            if outcome == crate::evict::Outcome::Fail && reject_on_oom && !c.master {
                return self.reject(c, entry, crate::evict::OOM_ERROR, before);
            }
        }
        // A cluster replica promoted a moment ago serves its new slots before its role has
        // switched (`Shared::role_switch_pending`): a write waits for the switch rather than
        // being refused as READONLY, which no cluster client retries.
        if shared.role_switch_pending.load(Ordering::SeqCst) && !c.master && self.writes_if_run(c, entry, args) {
            self.park_paused(c);
            return Exec::Deferred;
        }
        // After the cluster redirection, as Redis orders them: a write to a cluster replica's
        // slot is MOVED to its master, not refused as READONLY. A script declaring flags is a
        // write unless no-writes (`cmd_flags`); an EXEC is a write if its queue holds one, and
        // denied on a stale replica if any queued command is (Redis's mstate flags).
        let is_write = cmd_flags & flag::WRITE != 0 || (is_exec && self.queue_has_flag(c, flag::WRITE));
        let stale_ok = cmd_flags & flag::STALE != 0 && !(is_exec && self.queue_lacks_flag(c, flag::STALE));
        if let Some(text) =
            crate::replication::refusal(is_write, stale_ok, c.master, self.replica_read_only, self.replica_serve_stale)
        {
            return self.reject(c, entry, text, before);
        }
        // A replica loading its master's RDB: the dataset is half there (Redis's -LOADING, checked
        // after the replica refusals as processCommand does).
        if crate::replication::loading() && !entry.meta.has(flag::LOADING) && !c.master {
            let interval_bytes = shared.config.read().loading_process_events_interval_bytes();
            crate::replication::wait_for_loading_events(interval_bytes);
            if crate::replication::loading() {
                return self.reject(c, entry, "LOADING Redis is loading the dataset in memory", before);
            }
        }
        // While the old dataset is served during a swapdb sync, commands that would change the
        // replication setup or save the half-replaced data wait for it (REPLICAOF, SAVE,
        // CLUSTER SETSLOT...), also from inside a transaction.
        if crate::replication::async_loading()
            && !c.master
            && (entry.meta.has(flag::NO_ASYNC_LOADING)
                || (matches!(entry.kind, Kind::Server(crate::cmds::EXEC))
                    && self.queue_has_flag(c, flag::NO_ASYNC_LOADING)))
        {
            return self.reject(c, entry, "LOADING Redis is loading the dataset in memory", before);
        }
        // A script past busy-reply-threshold: Redis answers everyone else -BUSY (but for
        // allow-busy commands such as SCRIPT KILL) until it ends. In the busy script's own worker (`busy_pump`) a command with keys is refused too: the
        // script holds slot locks on this very thread (WATCH is the one allow-busy such command).
        if crate::scripting::busy()
            && (!entry.meta.has(flag::ALLOW_BUSY) || (self.serves_busy_pump && entry.meta.first_key > 0))
            && !c.master
        {
            return self.reject(c, entry, crate::scripting::busy_error(), before);
        }
        if c.multi.is_some() && !crate::cmds::runs_inside_multi(entry) {
            if entry.meta.has(flag::NO_MULTI) {
                c.out.error("ERR Command not allowed inside a transaction");
                c.multi_aborted = true;
                self.count_rejected(entry);
            } else if let Some(queued) = c.multi.as_mut() {
                queued.push(args.iter().map(|a| a.to_vec()).collect());
                c.multi_queued_bytes += std::mem::size_of::<Vec<Vec<u8>>>()
                    + args.iter().map(|a| std::mem::size_of::<Vec<u8>>() + a.len()).sum::<usize>();
                c.info.multi_len.store(queued.len() as i64, Ordering::Relaxed);
                c.out.simple("QUEUED");
            }
            self.after_command(c, before);
            return Exec::Done;
        }
        let paused_until = shared.pause_until_ms.load(Ordering::Relaxed);
        if paused_until > now && self.affected_by_pause(c, entry, args) {
            self.park_paused(c);
            return Exec::Deferred;
        }
        // A failover's write pause (a cluster manual failover, or FAILOVER): see
        // `WorkerStats::in_write`. Our master's stream is never paused (its writes are not ours
        // to hold). Rejected: guarding only while a failover runs, since a worker that read "no
        // failover" just before the pause began would run its write unguarded and move the
        // offset after the replica was judged caught up; the SeqCst store costs a few cycles.
        let failover_guard = !c.master && self.writes_if_run(c, entry, args);
        // A replica hides expired keys from its clients and keeps them for its master's stream;
        // a write it accepts (replica-read-only no) deletes them, as Redis's forced expiry does.
        // While clients are paused (CLIENT PAUSE, a failover's pause) nothing expires for real
        // either, as Redis 7.0's checkClientPauseTimeoutAndReturnIfPaused: a read that runs
        // during a write pause finds expired keys gone but leaves them, so the dataset (and the
        // replication offset) does not move until the pause ends.
        let paused = shared.pause_until_ms.load(Ordering::Relaxed) > now || shared.write_pause_until_ms() > now;
        // Only a writable replica's writes delete (Redis forces the deletion for write lookups
        // unless the replica is read-only): a may-replicate command a read-only replica runs,
        // such as PFCOUNT or EVAL, hides expired keys and keeps them.
        let replica_write = failover_guard && !self.replica_read_only;
        let expiry_mode = match (crate::replication::is_replica(), c.master, replica_write) {
            (false, _, _) if paused => keyspace::ExpiryMode::Hide,
            (false, _, _) | (true, false, true) => keyspace::ExpiryMode::Delete,
            (true, true, _) => keyspace::ExpiryMode::Keep,
            (true, false, false) => keyspace::ExpiryMode::Hide,
        };
        if expiry_mode != self.expiry_mode {
            keyspace::set_expiry_mode(expiry_mode);
            self.expiry_mode = expiry_mode;
        }
        if failover_guard {
            self.stats.in_write.store(true, Ordering::SeqCst);
            if shared.write_pause_until_ms() > now {
                self.stats.in_write.store(false, Ordering::Release);
                self.park_paused(c);
                return Exec::Deferred;
            }
        }
        c.info.last_interaction_ms.store(now, Ordering::Relaxed);
        c.info.last_cmd.store(entry.id, Ordering::Relaxed);
        // An integer range check, not a name comparison: it runs for every command.
        self.cur_is_client = matches!(entry.kind, Kind::Server(id) if (crate::cmds::CLIENT_ID..=crate::cmds::CLIENT_TRACKINGINFO).contains(&id));
        self.stats.commands.add(1);
        if sort_restricted {
            commands::sort::set_key_read_restricted(true);
        }
        // A normal client with a hard output limit: commands whose reply has no bound of its
        // own (KEYS, the random-member commands with a negative count) stop adding to it once
        // past the limit, since the client will be closed without any of it sent (Redis's
        // CLIENT_CLOSE_ASAP check in those loops). One compare when no limit is set.
        let reply_limited = self.obuf_limit_normal.hard_bytes > 0 && c.subs.is_none() && !c.master;
        if reply_limited {
            let stop = c.wpos + self.obuf_limit_normal.hard_bytes as usize;
            commands::set_reply_stop_len(stop);
        }
        match entry.kind {
            Kind::Data(handler) => self.run_data(c, entry, handler, args, now),
            Kind::Server(id) => self.server_command(c, entry, id, args, now),
            Kind::Container => c.out.error(&commands::errors::wrong_arity(&entry.meta.name)),
        }
        if reply_limited {
            commands::set_reply_stop_len(usize::MAX);
        }
        if sort_restricted {
            commands::sort::set_key_read_restricted(false);
        }
        let mut took_us = 0;
        if let Some(counters) = self.stats.per_command.get(entry.id as usize) {
            took_us = self.clock.lap_us();
            if c.blocked.is_none() {
                counters.calls.add(1);
                counters.usec.add(took_us);
                if self.latency_tracking {
                    counters.record_latency_us(took_us);
                }
                if c.out.len() > before && c.out.buf[before] == b'-' {
                    counters.failed.add(1);
                }
            } else {
                // Counted when the client is served (`count_unblocked`), as Redis does; nor is a
                // blocked command a slow-log entry yet.
                c.blocked_call_us = took_us;
                took_us = 0;
            }
        }
        if failover_guard {
            self.stats.in_write.store(false, Ordering::Release);
            if expiry_mode == keyspace::ExpiryMode::Delete && crate::replication::is_replica() {
                self.remember_replica_keys_with_expire(c.db, entry, args, now);
            }
        }
        if took_us >= self.introspect_floor_us {
            self.introspect_command(c, entry, args, took_us);
        }
        self.after_command(c, before);
        Exec::Done
    }

    /// The client's user after an ACL change: the new rules of the same name. A deleted
    /// user's clients are being disconnected; until then they run as the default user,
    /// unauthenticated, as Redis's `ACLFreeUserAndKillClients` leaves them.
    fn refresh_user(&self, c: &mut Conn, acl_gen: u64) {
        c.acl_gen = acl_gen;
        match self.shared.acl.user(&c.user.name) {
            Some(u) => c.user = u,
            None => {
                c.user = self.shared.acl.default_user();
                *c.info.user.lock() = c.user.name.clone();
                c.authenticated = false;
            }
        }
    }

    /// Whether running `entry` now may write: a write or may-replicate command, or an EXEC whose
    /// queue holds one (Redis pauses EXEC by its queued commands' flags).
    fn writes_if_run(&self, c: &Conn, entry: &Entry, args: &[&[u8]]) -> bool {
        if may_write(entry, args) {
            return true;
        }
        matches!(entry.kind, Kind::Server(crate::cmds::EXEC))
            && c.multi.as_ref().is_some_and(|queued| {
                // The name and first argument are enough (see `queue_has_flag`); for EVAL and
                // EVALSHA the first argument is what `may_write` reads.
                queued.iter().any(|argv| {
                    let Some(first) = argv.first() else { return false };
                    let head = [first.as_slice(), argv.get(1).map_or(&[][..], |a| a.as_slice())];
                    let named = &head[..argv.len().min(2)];
                    self.shared.registry.resolve(named).is_some_and(|e| may_write(e, named))
                })
            })
    }

    /// Whether a command queued in `c`'s MULTI has any of the `wanted` flags (Redis's
    /// `mstate.cmd_flags`). The name and subcommand are enough (queued commands passed their
    /// arity check when queued), so the lookup collects no arguments: this runs for every EXEC.
    fn queue_has_flag(&self, c: &Conn, wanted: u32) -> bool {
        self.queue_any(c, |flags| flags & wanted != 0)
    }

    /// Whether a command queued in `c`'s MULTI lacks all of the `wanted` flags (Redis's
    /// `mstate.cmd_inv_flags`).
    fn queue_lacks_flag(&self, c: &Conn, wanted: u32) -> bool {
        self.queue_any(c, |flags| flags & wanted == 0)
    }

    /// Whether `test` holds for the flags (as `scripting::command_flags` gives them: the name
    /// and first argument are all a script's flags depend on) of any command in `c`'s queue.
    fn queue_any(&self, c: &Conn, test: impl Fn(u32) -> bool) -> bool {
        c.multi.as_ref().is_some_and(|queued| {
            queued.iter().any(|argv| {
                let Some(first) = argv.first() else { return false };
                let head = [first.as_slice(), argv.get(1).map_or(&[][..], |a| a.as_slice())];
                let named = &head[..argv.len().min(2)];
                self.shared.registry.resolve(named).is_some_and(|e| test(crate::scripting::command_flags(e, named)))
            })
        })
    }

    /// Refuses the command with `text` before it runs (Redis's `rejectCommand`): counted as
    /// rejected; a refused EXEC ends its transaction (`execCommandAbort`), any other refusal
    /// inside MULTI makes EXEC fail.
    fn reject<T: AsRef<[u8]> + ?Sized>(&mut self, c: &mut Conn, entry: &Entry, text: &T, before: usize) -> Exec {
        self.stats.rejected_calls.add(1);
        self.count_rejected(entry);
        if matches!(entry.kind, Kind::Server(crate::cmds::EXEC)) {
            // Redis's rejectCommandFormat texts carry no "ERR " here (addReplyErrorSds adds it to a
            // plain refusal); the others keep their codes (NOAUTH, OOM, NOPERM ...).
            let text = text.as_ref();
            let mut abort = b"EXECABORT Transaction discarded because of: ".to_vec();
            abort.extend_from_slice(text.strip_prefix(b"ERR ").unwrap_or(text));
            c.out.error(&abort);
            self.discard_transaction(c);
        } else {
            c.out.error(text);
            c.multi_aborted |= c.multi.is_some();
        }
        self.after_command(c, before);
        Exec::Done
    }

    /// Redis's `discardTransaction`: out of MULTI, its queue and its WATCHes dropped.
    pub fn discard_transaction(&mut self, c: &mut Conn) {
        c.multi = None;
        c.multi_queued_bytes = 0;
        c.multi_aborted = false;
        c.info.multi_len.store(-1, Ordering::Relaxed);
        self.unwatch_all(c);
    }

    fn count_rejected(&self, entry: &Entry) {
        if let Some(counters) = self.stats.per_command.get(entry.id as usize) {
            counters.rejected.add(1);
        }
    }

    /// Holds `c`'s command until a pause ends (`wake_parked` runs it again). Counted in INFO's
    /// blocked_clients, as Redis blocks a postponed client (BLOCKED_POSTPONE).
    /// SHUTDOWN waits for replicas: the caller blocks until the shutdown ends the process or is
    /// cancelled (then it gets `shutdown::FAILED_REPLY`, from `wake_parked`). `cancels` is
    /// `shutdown::cancels()` as `shutdown::prepare` read it.
    pub(crate) fn block_in_shutdown(&mut self, c: &mut Conn, cancels: u64) {
        c.shutdown_wait = Some(cancels);
        crate::shutdown::BLOCKED.fetch_add(1, Ordering::Relaxed);
        c.blocked = Some(None);
        c.info.blocked.store(true, Ordering::Relaxed);
        self.parked += 1;
    }

    fn park_paused(&mut self, c: &mut Conn) {
        c.paused = true;
        self.parked += 1;
        self.shared.paused_count.fetch_add(1, Ordering::Relaxed);
    }

    fn affected_by_pause(&self, c: &Conn, entry: &Entry, args: &[&[u8]]) -> bool {
        let write_only = self.shared.pause.lock().write_only;
        !write_only || self.writes_if_run(c, entry, args)
    }

    /// Bookkeeping after a command: error counting and CLIENT REPLY OFF|SKIP. Pub/sub pushes
    /// the command wrote (`pushed_until`) survive REPLY OFF|SKIP, as Redis's CLIENT_PUSHING.
    fn after_command(&mut self, c: &mut Conn, before: usize) {
        self.routing_guard = None;
        if c.asking > 0 && c.multi.is_none() {
            c.asking -= 1;
        }
        let before = match self.pushed_until.take() {
            Some(end) if end > before && end <= c.out.len() => end,
            _ => before,
        };
        let counted = std::mem::take(&mut self.error_stats_counted);
        if c.out.len() > before && c.out.buf[before] == b'-' && !counted {
            let end = c.out.buf[before..].iter().position(|&b| b == b'\r').map_or(c.out.len(), |i| before + i);
            self.stats.count_error(&c.out.buf[before + 1..end]);
        }
        if c.tracking_caching && c.multi.is_none() && !self.cur_is_client {
            c.tracking_caching = false;
        }
        if c.master {
            if c.out.len() > before && c.out.buf[before] == b'-' {
                let end = c.out.buf[before..].iter().position(|&b| b == b'\r').map_or(c.out.len(), |i| before + i);
                crate::replication::master_command_failed(self.shared, &c.out.buf[before + 1..end], self.cur_cmd);
            }
            // Redis never answers its master, but for REPLCONF GETACK.
            if !std::mem::take(&mut self.master_keep_reply) {
                c.out.truncate(before);
            }
            self.flush_track_deferred(c);
            return;
        }
        match c.reply_mode {
            ReplyMode::On => {}
            ReplyMode::Off => c.out.truncate(before),
            ReplyMode::SkipNext => c.reply_mode = ReplyMode::Skipping,
            ReplyMode::Skipping => {
                c.out.truncate(before);
                c.reply_mode = ReplyMode::On;
            }
        }
        // After the reply, and past CLIENT REPLY OFF|SKIP: pushes are always sent.
        self.flush_track_deferred(c);
    }

    /// Writes the tracking messages the current client's command produced for itself (after
    /// its reply, as Redis's `trackingHandlePendingKeyInvalidations`) and sends those for its
    /// REDIRECT target on.
    fn flush_track_deferred(&mut self, c: &mut Conn) {
        // Left by an operation with no reply position to put them at (MIGRATE): after the reply
        // is the nearest place.
        self.write_track_immediate(c);
        if self.track_deferred.is_empty() {
            return;
        }
        for (worker, d) in std::mem::take(&mut self.track_deferred) {
            if d.client_id == c.info.id {
                crate::pubsub::write_delivery(c, &d);
            } else {
                self.queue_delivery(worker, d);
            }
        }
    }

    /// Writes now the messages for the current client as a REDIRECT target (a server command
    /// that modified data and has not replied yet).
    pub fn write_track_immediate(&mut self, c: &mut Conn) {
        for d in std::mem::take(&mut self.track_immediate) {
            crate::pubsub::write_delivery(c, &d);
        }
    }

    /// Hands a tracking operation's messages on: the current client's wait for its reply.
    pub fn route_tracking(&mut self, sink: crate::tracking::Sink) {
        self.track_deferred.extend(sink.deferred);
        self.track_immediate.extend(sink.immediate);
        for (worker, d) in sink.send {
            self.queue_delivery(worker, d);
        }
    }

    /// CLIENT TRACKING's part of a command, run with its slot locks still held (so a read is
    /// remembered before any write of its keys can run): keys it expired or wrote are
    /// invalidated, then the keys a default-mode tracking client read are remembered. In that
    /// order, as in Redis: a key a read expired lazily is invalidated, then remembered as read.
    fn track_command(&mut self, entry: &Entry, args: &[&[u8]], dirty_before: u64) {
        let shared = self.shared;
        let mut sink = crate::tracking::Sink::new(self.cur_client);
        let expired = keyspace::take_tracking_log();
        if !expired.is_empty() {
            shared.tracking.invalidate(shared, expired.iter().map(|k| k.as_bytes()), &mut sink);
        }
        if self.effects.dirty > dirty_before {
            if self.key_pos.is_empty() {
                // SWAPDB: Redis invalidates as for a flush (`trackingInvalidateKeysOnFlush`).
                if entry.meta.name == "swapdb" {
                    shared.tracking.invalidate_all(shared, &mut sink);
                }
            } else {
                let written = self.written_key_positions(entry, args);
                shared.tracking.invalidate(shared, written.iter().filter_map(|&p| args.get(p).copied()), &mut sink);
            }
        }
        if self.in_script {
            // Redis 7.0: a script that runs a read command makes its caller track every key it
            // declared (`trackingRememberKeys` on the caller's EVAL).
            if self.cur_tracking && entry.meta.has(flag::READONLY) && !entry.meta.has(flag::PUBSUB) {
                let keys = std::mem::take(&mut self.script_keys);
                shared.tracking.remember(self.cur_client, self.cur_caching, keys.iter().map(|k| k.as_slice()));
                self.script_keys = keys;
            }
        } else if self.cur_tracking
            && entry.meta.has(flag::READONLY)
            && !entry.meta.has(flag::PUBSUB)
            && !self.key_pos.is_empty()
        {
            let keys = self.key_pos.iter().filter_map(|&p| args.get(p).copied());
            shared.tracking.remember(self.cur_client, self.cur_caching, keys);
        }
        self.route_tracking(sink);
    }

    /// Writes the messages for the current client as a REDIRECT target at `at`, where its
    /// command's reply begins in `out`: Redis adds them while the command modifies, before it
    /// replies (inside EXEC, between the replies of the queued commands, as Redis does).
    fn splice_track_immediate(&mut self, out: &mut ReplyBuf, at: usize) {
        if self.track_immediate.is_empty() {
            return;
        }
        let at = at.min(out.buf.len());
        let tail = out.buf.split_off(at);
        for d in std::mem::take(&mut self.track_immediate) {
            if let Some(push) = d.tracking {
                crate::tracking::write_push(out, false, push, &d.message);
            }
        }
        out.buf.extend_from_slice(&tail);
    }

    /// Invalidates keys a server command changed outside a data handler (MIGRATE's deletions).
    pub fn track_modified(&mut self, keys: &[&[u8]]) {
        let shared = self.shared;
        if !shared.tracking.active() || keys.is_empty() {
            return;
        }
        let mut sink = crate::tracking::Sink::new(self.cur_client);
        shared.tracking.invalidate(shared, keys.iter().copied(), &mut sink);
        self.route_tracking(sink);
    }

    /// Invalidates an evicted key. Eviction runs before the command that needed the memory, so
    /// even its own client gets the message before that command's reply, as in Redis.
    pub fn track_evicted(&mut self, key: &[u8]) {
        let shared = self.shared;
        if !shared.tracking.active() {
            return;
        }
        let mut sink = crate::tracking::Sink::new(self.cur_client);
        shared.tracking.invalidate(shared, std::iter::once(key), &mut sink);
        for (worker, d) in std::mem::take(&mut sink.deferred) {
            if d.client_id == self.cur_client {
                sink.immediate.push(d);
            } else {
                sink.send.push((worker, d));
            }
        }
        self.route_tracking(sink);
    }

    /// Invalidates the keys this thread expired outside a command (active expiry).
    pub fn track_expired(&mut self) {
        let keys = keyspace::take_tracking_log();
        if keys.is_empty() {
            return;
        }
        let shared = self.shared;
        let mut sink = crate::tracking::Sink::new(0);
        shared.tracking.invalidate(shared, keys.iter().map(|k| k.as_bytes()), &mut sink);
        self.route_tracking(sink);
    }

    /// FLUSHALL / FLUSHDB: every tracking client is told with a null (after the reply for the
    /// client that flushed).
    pub fn track_flush(&mut self) {
        let shared = self.shared;
        if !shared.tracking.active() {
            return;
        }
        let mut sink = crate::tracking::Sink::new(self.cur_client);
        shared.tracking.invalidate_all(shared, &mut sink);
        self.route_tracking(sink);
    }

    /// The end-of-iteration BCAST broadcast.
    pub fn track_broadcast(&mut self) {
        let shared = self.shared;
        let mut sink = crate::tracking::Sink::new(0);
        shared.tracking.broadcast(shared, &mut sink);
        self.route_tracking(sink);
    }

    /// `tracking-table-max-keys`: worker 0's tick, and before every command while some
    /// client tracks (Redis's `processCommand`). `tracking_max_keys` is cached, and the table's
    /// size is read from an atomic first, so the common case takes no lock.
    fn track_limit(&mut self, sink: &mut crate::tracking::Sink) {
        let shared = self.shared;
        if self.tracking_max_keys == 0 || shared.tracking.key_count() <= self.tracking_max_keys {
            return;
        }
        shared.tracking.limit(shared, self.tracking_max_keys, sink);
    }

    /// Positions in `args` of the keys the command just run wrote, as Redis's
    /// `signalModifiedKey` sees them: not the keys it only reads (SUNIONSTORE's sources,
    /// COPY's source), nor those it left unchanged (`Effects::unmodified_key_args`).
    fn written_key_positions(&self, entry: &Entry, args: &[&[u8]]) -> Vec<usize> {
        let unmodified = self.effects.unmodified_key_args;
        let written = |p: usize| p >= 64 || unmodified & (1 << p) == 0;
        if entry.meta.key_specs.len() > 1 {
            if let Ok(keys) = keys_and_flags(entry.meta, args) {
                return keys
                    .into_iter()
                    .filter(|(p, flags)| !flags.contains(&"RO") && written(*p))
                    .map(|(p, _)| p)
                    .collect();
            }
        }
        self.key_pos.iter().copied().filter(|&p| written(p)).collect()
    }

    /// Locks the slots of the command's keys (ascending), runs it, releases the locks.
    // The arguments are exactly what `Ctx` needs; bundling them into a struct only for this call
    // would add a type that is built and torn apart on the hot path.
    #[allow(clippy::too_many_arguments)]
    fn run_locked(
        &mut self,
        entry: &Entry,
        handler: commands::Handler,
        args: &[&[u8]],
        db: u32,
        out: &mut ReplyBuf,
        now: i64,
        may_block: bool,
    ) {
        let shared = self.shared;
        self.slot_buf.clear();
        if key_positions(entry.meta, args, &mut self.key_pos).is_ok() {
            for &p in &self.key_pos {
                self.slot_buf.push((db, key_hash_slot(args[p])));
            }
        } else {
            self.key_pos.clear();
        }
        self.locks.lock(&shared.ks, &mut self.slot_buf);
        if let (Some(seen), Some(node)) = (self.routing_guard, self.cluster) {
            if node.routing_epoch() != seen {
                self.locks.clear();
                self.routing_stale = true;
                return;
            }
        }
        // Checked under the slot locks: a client that started tracking and read these keys did
        // so before we got them, and its SeqCst store is visible now.
        let tracking = shared.tracking.active();
        if tracking {
            keyspace::set_tracking_log(true);
        }
        let dirty_before = self.effects.dirty;
        let reply_at = out.len();
        // Read under the slot locks: the AOF switches on only while it holds all of them.
        self.effects.propagation = crate::aof::propagation();
        let mut ctx = Ctx {
            ks: &shared.ks,
            locks: &mut self.locks,
            db,
            now_ms: now,
            out,
            effects: &mut self.effects,
            config: &self.data_config,
            may_block,
        };
        handler(&mut ctx, args);
        if self.data_config.notify_keyspace_events & commands::notify::NOTIFY_NEW != 0 {
            ctx.note_new_keys();
        }
        if self.effects.propagation.is_some() {
            crate::aof::feed_command(&mut self.effects, &self.data_config, entry, args, db, 0, 0);
        }
        if tracking {
            self.track_command(entry, args, dirty_before);
            self.splice_track_immediate(out, reply_at);
        }
        self.locks.clear();
        if self.data_config.notify_keyspace_events & commands::notify::NOTIFY_EXPIRED != 0 {
            self.note_expired(db, 0);
        }
    }

    /// Turns the keys this thread expired (lazily, while a command looked them up, or actively)
    /// into `expired` events of database `db`, inserted at `at` in the command's events: a lazy
    /// expiry happens when the key is looked up, before the command's own events.
    pub fn note_expired(&mut self, db: u32, at: usize) {
        let keys = keyspace::take_expired_log();
        if keys.is_empty() {
            return;
        }
        let at = at.min(self.effects.notifications.len());
        let notes = keys.into_iter().map(|key| commands::Notification { db, event: "expired", key });
        self.effects.notifications.splice(at..at, notes);
    }

    /// Publishes the keys this thread expired outside any command (active expiry, a blocked
    /// client's ready key) as `expired` events of database `db`.
    pub fn publish_expired_log(&mut self, db: u32) {
        if self.data_config.notify_keyspace_events & commands::notify::NOTIFY_EXPIRED == 0 {
            return;
        }
        self.publish_expired_keys(db, keyspace::take_expired_log());
    }

    /// Publishes `keys` as `expired` events of database `db` if that class is on.
    pub fn publish_expired_keys(&mut self, db: u32, keys: Vec<Sds>) {
        if self.data_config.notify_keyspace_events & commands::notify::NOTIFY_EXPIRED == 0 {
            return;
        }
        let notes: Vec<commands::Notification> =
            keys.into_iter().map(|key| commands::Notification { db, event: "expired", key }).collect();
        if !notes.is_empty() {
            self.publish_notifications(&notes);
        }
    }

    /// Re-reads the settings commands consult (after CONFIG SET, and every tick).
    pub fn refresh_data_config(&mut self) {
        self.config_epoch = self.shared.config_epoch.load(Ordering::Acquire);
        self.data_config = self.shared.data_config();
        let limits = self.shared.config.read().client_output_buffer_limits();
        self.obuf_limit_pubsub = limits[2];
        self.obuf_limit_normal = limits[0];
        if self.cluster.is_some() {
            let settings = self.shared.config.read().cluster_settings();
            self.cluster_reads_when_down = settings.allow_reads_when_down;
            self.cluster_pubsubshard_when_down = settings.allow_pubsubshard_when_down;
        }
        self.introspect_floor_us = crate::introspect::floor_us(self.shared);
        {
            let cfg = self.shared.config.read();
            self.latency_tracking = cfg.get_bool("latency-tracking").unwrap_or(true);
            self.tracking_max_keys = cfg.get_i64("tracking-table-max-keys").unwrap_or(0).max(0) as usize;
            self.replica_read_only = cfg.get_bool("replica-read-only").unwrap_or(true);
            self.replica_serve_stale = cfg.get_bool("replica-serve-stale-data").unwrap_or(true);
            crate::replication::refresh_config(
                cfg.get_i64("min-replicas-to-write").unwrap_or(0),
                cfg.get_i64("min-replicas-max-lag").unwrap_or(10),
            );
            let eviction = cfg.eviction_settings();
            keyspace::access::configure(eviction.policy.lfu(), eviction.lfu_log_factor, eviction.lfu_decay_time);
            self.evictor.settings = eviction;
        }
        let flags = self.data_config.notify_keyspace_events;
        keyspace::set_expired_log(flags & commands::notify::NOTIFY_EXPIRED != 0 || crate::aof::enabled());
        keyspace::set_new_log(flags & commands::notify::NOTIFY_NEW != 0);
    }

    fn run_data(&mut self, c: &mut Conn, entry: &Entry, handler: commands::Handler, args: &[&[u8]], now: i64) {
        self.effects.clear();
        // Bounded: a routing change between check and lock is a SETSLOT racing this very
        // command; the third attempt runs unguarded rather than loop.
        for attempt in 0..3 {
            if attempt == 2 {
                self.routing_guard = None;
            }
            if c.master {
                commands::ctx::set_obey_client(true);
                self.run_locked(entry, handler, args, c.db, &mut c.out, now, true);
                commands::ctx::set_obey_client(false);
            } else {
                self.run_locked(entry, handler, args, c.db, &mut c.out, now, true);
            }
            if !std::mem::take(&mut self.routing_stale) {
                break;
            }
            if let Some(text) = self.cluster_redirect(c, entry, args, crate::scripting::command_flags(entry, args)) {
                c.out.error(&text);
                self.routing_guard = None;
                return;
            }
        }
        self.routing_guard = None;
        if self.effects.block.is_some() {
            self.block_client(c, entry, handler, args, now);
        }
        self.touch_watched(entry, c.db, args);
        if self.effects.dirty > 0 {
            self.note_write();
        }
        self.apply_effects();
    }

    /// After a command that changed data, fails the EXEC of clients watching the keys it wrote
    /// (all keys of the database for a keyless command such as SWAPDB). Uses the key positions
    /// of the command just run (`key_pos`). As Redis's `signalModifiedKey`, keys a command only
    /// reads (SUNIONSTORE's sources, COPY's source) and keys it left unchanged
    /// (`Effects::unmodified_key_args`) do not count.
    pub fn touch_watched(&mut self, entry: &Entry, db: u32, args: &[&[u8]]) {
        if self.effects.dirty == 0 || self.shared.watch_count.load(Ordering::SeqCst) == 0 {
            return;
        }
        if self.key_pos.is_empty() {
            if entry.meta.name == "swapdb" {
                // Run already: the argument check passed, so both indexes parse.
                let index = |a: Option<&&[u8]>| a.and_then(|a| std::str::from_utf8(a).ok()?.parse::<u32>().ok());
                if let (Some(a), Some(b)) = (index(args.get(1)), index(args.get(2))) {
                    let now = now_ms();
                    // After the swap `a` holds what `b` held and the other way round.
                    self.touch_all_watched_keys_in_db(a, b, Some(a), now);
                    self.touch_all_watched_keys_in_db(b, a, Some(b), now);
                    return;
                }
            }
            self.shared.touch_db(None);
            return;
        }
        let unmodified = self.effects.unmodified_key_args;
        let written = |p: usize| p >= 64 || unmodified & (1 << p) == 0;
        if entry.meta.key_specs.len() > 1 {
            // Several key specs: some may be read-only. Rare and only with watchers, so the
            // allocation of the flag lists is fine here.
            if let Ok(keys) = keys_and_flags(entry.meta, args) {
                let keys = keys.into_iter().filter(|(p, flags)| !flags.contains(&"RO") && written(*p));
                self.shared.touch_keys(db, keys.filter_map(|(p, _)| args.get(p).copied()));
                return;
            }
        }
        let keys = self.key_pos.iter().filter(|&&p| written(p));
        self.shared.touch_keys(db, keys.filter_map(|&p| args.get(p).copied()));
    }

    /// A writable replica's client wrote: the keys that now carry a TTL are expired by this
    /// replica itself (Redis's `rememberSlaveKeyWithExpire`), since no master DEL will come.
    fn remember_replica_keys_with_expire(&mut self, db: u32, entry: &Entry, args: &[&[u8]], now: i64) {
        self.compute_keys(entry, args);
        let Some(d) = self.shared.ks.db_if_used(db as usize) else { return };
        for &p in &self.key_pos {
            let Some(key) = args.get(p) else { continue };
            let has_ttl = d.lock_slot(keyspace::key_hash_slot(key)).expire_at(key).is_some_and(|at| at > now);
            if has_ttl {
                crate::replication::remember_replica_key(db, key);
            }
        }
    }

    /// Computes the key positions of a command into `key_pos` (empty when it has none).
    pub fn compute_keys(&mut self, entry: &Entry, args: &[&[u8]]) {
        if key_positions(entry.meta, args, &mut self.key_pos).is_err() {
            self.key_pos.clear();
        }
    }

    /// Cluster mode: the redirection error for this request, or `None` when this node serves it
    /// (`getNodeByQuery`; EXEC is judged by the keys of every queued command).
    /// `cmd_flags`: the command's flags as `scripting::command_flags` gives them (a script's
    /// declared flags in place of EVAL's / FCALL's), which the caller has at hand.
    fn cluster_redirect(&mut self, c: &Conn, entry: &Entry, args: &[&[u8]], cmd_flags: u32) -> Option<String> {
        use crate::cluster_node::routing::{get_node_by_query, Query};
        let node = self.cluster?;
        let epoch = node.routing_epoch();
        if epoch != self.routing_seen || self.routing.is_none() {
            self.routing = Some(node.routing());
            self.routing_seen = epoch;
        }
        self.routing_guard = None;
        let routing = self.routing.as_ref()?;
        let name = entry.meta.name.as_str();
        // Redis's getCommandFlags: a script that may write (a shebang without `no-writes`) is
        // redirected to the master like any write, even from a READONLY client.
        let mut query = Query {
            is_write: cmd_flags & flag::WRITE != 0,
            is_pubsubshard: matches!(name, "spublish" | "ssubscribe" | "sunsubscribe"),
            is_migrate: name == "migrate",
            asking: c.asking > 0 || entry.meta.has(flag::ASKING),
            readonly: c.readonly,
            allow_reads_when_down: self.cluster_reads_when_down,
            allow_pubsubshard_when_down: self.cluster_pubsubshard_when_down,
        };
        let ks = &self.shared.ks;
        let now = self.clock.now_ms();
        // Asked only for slots in migration: a brief lock of that one slot (no lock is held here).
        let exists = |slot: u16, key: &[u8]| ks.db(0).lock_slot(slot).contains(key, now);
        let decision = if matches!(entry.kind, Kind::Server(crate::cmds::EXEC)) {
            let queued = c.multi.as_ref()?;
            let mut keys: Vec<&[u8]> = Vec::new();
            let mut pos = Vec::new();
            for argv in queued {
                let argv: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
                let Ok(e) = self.shared.registry.lookup(&argv) else { continue };
                query.is_write |= crate::scripting::command_flags(e, &argv) & flag::WRITE != 0;
                if key_positions(e.meta, &argv, &mut pos).is_ok() {
                    keys.extend(pos.iter().filter_map(|&p| argv.get(p).copied()));
                }
            }
            get_node_by_query(routing, keys.into_iter(), &query, exists)
        } else {
            if key_positions(entry.meta, args, &mut self.key_pos).is_err() || self.key_pos.is_empty() {
                return None;
            }
            get_node_by_query(routing, self.key_pos.iter().filter_map(|&p| args.get(p).copied()), &query, exists)
        };
        match decision {
            Ok(Some(_)) => {
                self.routing_guard = Some(epoch);
                None
            }
            Ok(None) => None,
            Err(r) => Some(r.error_text(routing)),
        }
    }

    /// Runs a data command against locks the transaction already holds (EXEC).
    pub fn run_in_transaction(
        &mut self,
        c: &mut Conn,
        entry: &Entry,
        handler: commands::Handler,
        args: &[&[u8]],
        now: i64,
    ) {
        let dirty_before = self.effects.dirty;
        let notes_before = self.effects.notifications.len();
        self.effects.unmodified_key_args = 0;
        let shared = self.shared;
        let tracking = shared.tracking.active();
        if tracking {
            keyspace::set_tracking_log(true);
        }
        let reply_at = c.out.len();
        self.effects.propagation = crate::aof::propagation();
        {
            let mut ctx = Ctx {
                ks: &shared.ks,
                locks: &mut self.locks,
                db: c.db,
                now_ms: now,
                out: &mut c.out,
                effects: &mut self.effects,
                config: &self.data_config,
                may_block: false,
            };
            handler(&mut ctx, args);
            if self.data_config.notify_keyspace_events & commands::notify::NOTIFY_NEW != 0 {
                ctx.note_new_keys();
            }
        }
        if self.effects.propagation.is_some() {
            let (data_config, db) = (&self.data_config, c.db);
            crate::aof::feed_command(&mut self.effects, data_config, entry, args, db, dirty_before, notes_before);
        }
        if self.data_config.notify_keyspace_events & commands::notify::NOTIFY_EXPIRED != 0 {
            self.note_expired(c.db, notes_before);
        }
        if tracking {
            self.compute_keys(entry, args);
            self.track_command(entry, args, dirty_before);
            self.splice_track_immediate(&mut c.out, reply_at);
        }
        if self.effects.dirty > dirty_before && shared.watch_count.load(Ordering::SeqCst) > 0 {
            self.compute_keys(entry, args);
            let saved = self.effects.dirty;
            self.effects.dirty = 1;
            self.touch_watched(entry, c.db, args);
            self.effects.dirty = saved;
        }
    }

    /// The lock set a transaction fills before running its commands.
    pub fn lock_for_transaction(&mut self, wanted: &mut [(u32, u16)]) {
        self.locks.lock(&self.shared.ks, wanted);
        crate::aof::begin_transaction();
    }

    /// Releases the transaction's locks and applies what its commands did; its propagated
    /// commands are appended first, under the locks, as one MULTI/EXEC unit.
    pub fn finish_transaction(&mut self) {
        crate::aof::end_transaction();
        self.locks.clear();
        self.apply_effects();
    }

    pub fn clear_effects(&mut self) {
        self.effects.clear();
    }

    /// The running command's (or transaction's) slot locks and effects, for a server command
    /// that works on keys itself (MIGRATE).
    pub fn locks_and_effects(&mut self) -> (&mut LockSet<'static>, &mut Effects) {
        (&mut self.locks, &mut self.effects)
    }

    /// [`Env::for_each_slot_table`] for walks that only read (INFO's key counts, DBSIZE): slots
    /// this command does not hold are looked at without the snapshot hook (`Db::peek_slot`).
    /// Through the hook, an INFO during a BGSAVE made its worker serialize the whole dataset
    /// itself, uncompressed, while its client waited.
    pub fn for_each_slot_table_read(&mut self, db: usize, mut f: impl FnMut(&keyspace::SlotTable)) {
        self.visit_slots(db, |held, d, slot| match held {
            Some(t) => f(t),
            None => d.peek_slot(slot, &mut f),
        });
    }

    /// Calls `f` with every slot table of `db`, using the transaction's lock where it holds one
    /// (locking again would deadlock on our own mutex) and locking each slot briefly otherwise.
    pub fn for_each_slot_table(&mut self, db: usize, mut f: impl FnMut(&mut keyspace::SlotTable)) {
        self.visit_slots(db, |held, d, slot| match held {
            Some(t) => f(t),
            None => f(&mut d.lock_slot(slot)),
        });
    }

    /// Calls `visit` for every slot of `db` (if it was ever used) with the table when this
    /// command holds the slot's lock, else `None` and the database to reach it through.
    fn visit_slots(
        &mut self,
        db: usize,
        mut visit: impl FnMut(Option<&mut keyspace::SlotTable>, &'static keyspace::Db, u16),
    ) {
        let shared = self.shared;
        let Some(d) = shared.ks.db_if_used(db) else {
            return;
        };
        for slot in 0..keyspace::SLOT_COUNT as u16 {
            visit(self.locks.held(db as u32, slot), d, slot);
        }
    }

    /// Redis's `touchAllWatchedKeysInDb`: fails the EXEC of clients watching a key of
    /// `watch_db` that a flush or SWAPDB logically changes. `emptied_in` is the database that
    /// now holds `watch_db`'s old content (itself, before a flush runs; the partner, after a
    /// swap), `replaced_in` the one holding what replaced it (none for a flush). A key that
    /// was already past its expiry when watched and is only removed, or stays expired, is no
    /// change; nor is a missing key replaced by an expired one (it is then watched as expired).
    ///
    /// Slot tables are read through the transaction's locks when it holds them (a flush inside
    /// EXEC: locking again would wait on ourselves), and `watches` is never held while a slot
    /// is locked here, keeping the order "slot, then watches" that `touch_keys` relies on.
    pub fn touch_all_watched_keys_in_db(&mut self, watch_db: u32, emptied_in: u32, replaced_in: Option<u32>, now: i64) {
        let shared = self.shared;
        if shared.watch_count.load(Ordering::SeqCst) == 0 {
            return;
        }
        let keys: Vec<Sds> =
            shared.watches.lock().keys().filter(|(d, _)| *d == watch_db).map(|(_, k)| k.clone()).collect();
        let mut dirty = Vec::new();
        for key in keys {
            let (in_emptied, _) = self.stored_state(emptied_in, key.as_bytes(), now);
            let (in_replaced, replaced_expired) =
                replaced_in.map_or((false, false), |r| self.stored_state(r, key.as_bytes(), now));
            if !in_emptied && !in_replaced {
                continue;
            }
            let mut watches = shared.watches.lock();
            let Some(watchers) = watches.get_mut(&(watch_db, key)) else { continue };
            for w in watchers.iter_mut() {
                if w.expired {
                    if !in_replaced {
                        // The expired key is gone now: no logical change.
                        w.expired = false;
                        continue;
                    }
                    if replaced_expired {
                        continue;
                    }
                } else if !in_emptied && replaced_expired {
                    w.expired = true;
                    continue;
                }
                dirty.push(w.client_id);
            }
        }
        shared.mark_watch_dirty(&dirty);
    }

    /// Whether `key` is stored in `db` (expired or not) and whether it is past its expiry,
    /// without removing it.
    fn stored_state(&mut self, db: u32, key: &[u8], now: i64) -> (bool, bool) {
        let slot = keyspace::key_hash_slot(key);
        if let Some(t) = self.locks.held(db, slot) {
            return (t.holds(key), t.is_expired(key, now));
        }
        match self.shared.ks.db_if_used(db as usize) {
            Some(d) => {
                let t = d.lock_slot(slot);
                (t.holds(key), t.is_expired(key, now))
            }
            None => (false, false),
        }
    }

    /// Drops every WATCH of `c`.
    pub fn unwatch_all(&mut self, c: &mut Conn) {
        c.info.watch_dirty.store(false, Ordering::SeqCst);
        if c.watched.is_empty() {
            return;
        }
        let shared = self.shared;
        let mut watches = shared.watches.lock();
        for (db, key, _) in c.watched.drain(..) {
            let k = (db, key);
            if let Some(watchers) = watches.get_mut(&k) {
                watchers.retain(|w| w.client_id != c.info.id);
                if watchers.is_empty() {
                    watches.remove(&k);
                }
            }
            shared.watch_count.fetch_sub(1, Ordering::SeqCst);
        }
        drop(watches);
        // A long WATCH list's room is given back, not kept for the client's lifetime (it
        // counts in the client's memory, as Redis frees its list).
        if c.watched.capacity() > 16 {
            c.watched = Vec::new();
        }
    }

    /// Folds the last command's effects into the server: dirty counter, waking blocked clients.
    fn apply_effects(&mut self) {
        if self.effects.dirty > 0 {
            self.shared.stats.dirty.fetch_add(self.effects.dirty, Ordering::Relaxed);
        }
        if !self.effects.notifications.is_empty() {
            let notes = std::mem::take(&mut self.effects.notifications);
            self.publish_notifications(&notes);
        }
        if self.effects.dirty > 0 {
            let vanished = self.vanished_stream_keys();
            self.effects.ready_keys.extend(vanished);
        }
        if !self.effects.ready_keys.is_empty() {
            let ready: VecDeque<(u32, Sds)> = self.effects.ready_keys.drain(..).collect();
            self.serve_ready_keys(ready);
        }
    }

    /// The keys XREADGROUP clients wait on that no longer hold a stream. Redis ends such a wait
    /// with an error as soon as the key is deleted or replaced (by DEL, SET, FLUSHALL, SWAPDB,
    /// RENAME, expiry...); rather than hooking every way a key can go, a write while such
    /// clients wait checks their keys, and the re-run gives each its error. Costs one atomic
    /// load while nobody is blocked.
    pub fn vanished_stream_keys(&mut self) -> Vec<(u32, Sds)> {
        let shared = self.shared;
        if shared.blocked_count.load(Ordering::SeqCst) == 0 {
            return Vec::new();
        }
        let reg = shared.blocking.inner.lock();
        let mut vanished = Vec::new();
        for w in reg.waiters.values() {
            if !w.argv[0].eq_ignore_ascii_case(b"xreadgroup") {
                continue;
            }
            for key in &w.keys {
                let t = shared.ks.db(w.db as usize).lock_slot(key_hash_slot(key));
                let is_stream = matches!(t.stored(key), Some((keyspace::Value::Stream(_), _)));
                if !is_stream && !vanished.iter().any(|(d, k)| *d == w.db && k == key) {
                    vanished.push((w.db, key.clone()));
                }
            }
        }
        vanished
    }

    /// After FLUSHALL/FLUSHDB (which run outside the data commands' effects): wakes the
    /// XREADGROUP clients whose keys are gone.
    pub fn wake_vanished_stream_readers(&mut self) {
        let vanished: VecDeque<(u32, Sds)> = self.vanished_stream_keys().into_iter().collect();
        if !vanished.is_empty() {
            self.serve_ready_keys(vanished);
        }
    }

    /// Parks `c` on the keys of a blocking command. The command is run once more under the
    /// blocking registry's lock: a push that happened after the first attempt either shows in
    /// this retry or finds us registered, so no wake-up is lost.
    fn block_client(&mut self, c: &mut Conn, entry: &Entry, handler: commands::Handler, args: &[&[u8]], now: i64) {
        let shared = self.shared;
        let mut reg = shared.blocking.inner.lock();
        shared.blocked_count.fetch_add(1, Ordering::SeqCst);
        self.effects.clear();
        self.run_locked(entry, handler, args, c.db, &mut c.out, now, true);
        match self.effects.block.take() {
            Some(req) => {
                reg.add(Waiter {
                    client_id: c.info.id,
                    worker: self.id,
                    db: req.db,
                    resp3: c.resp3(),
                    argv: req.rerun_argv.unwrap_or_else(|| args.iter().map(|a| a.to_vec()).collect()),
                    keys: req.keys,
                    deadline_ms: req.deadline_ms,
                });
                c.blocked = Some(req.deadline_ms);
                c.blocked_slot = self.key_pos.first().and_then(|&p| args.get(p)).map(|k| key_hash_slot(k));
                c.blocked_read = !entry.meta.has(flag::WRITE);
                c.info.blocked.store(true, Ordering::Relaxed);
                self.parked += 1;
            }
            None => {
                shared.blocked_count.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }

    /// Serves clients blocked on keys that may have gained data, in FIFO order per key, by
    /// running their commands here and sending the replies to their workers.
    fn serve_ready_keys(&mut self, mut queue: VecDeque<(u32, Sds)>) {
        let shared = self.shared;
        if shared.blocked_count.load(Ordering::SeqCst) == 0 {
            return;
        }
        let mut reg = shared.blocking.inner.lock();
        let mut rounds = 0usize;
        while let Some((db, key)) = queue.pop_front() {
            rounds += 1;
            if rounds > 100_000 {
                break;
            }
            // Waiters of this key already tried and left waiting (stream readers only: each
            // waits for entries after its own ID, so one that cannot be served yet does not
            // mean the next one cannot; a list or sorted set serves its waiters in order or
            // none).
            let mut skipped = 0usize;
            while let Some(&client_id) = reg.by_key.get(&(db, key.clone())).and_then(|q| q.get(skipped)) {
                let Some(w) = reg.waiters.get(&client_id) else {
                    break;
                };
                // As Redis, a ready key serves its waiters only if it now holds the type they wait
                // for (a list for BLPOP and friends, a sorted set for BZPOP*, a stream for XREAD):
                // a key that was pushed to and then replaced by a string inside one transaction
                // wakes nobody. XREADGROUP runs whatever the key holds: a deleted key or group
                // ends its wait with an error.
                let wants_zset = w.argv[0].len() > 2 && w.argv[0][..2].eq_ignore_ascii_case(b"bz");
                let wants_stream = w.argv[0].first().is_some_and(|c| c.eq_ignore_ascii_case(&b'x'));
                let any_type = w.argv[0].eq_ignore_ascii_case(b"xreadgroup");
                let (has_type, logged) = {
                    let mut t = shared.ks.db(db as usize).lock_slot(key_hash_slot(&key));
                    let has_type = any_type
                        || t.get(&key, now_ms()).is_some_and(|v| {
                            if wants_stream {
                                matches!(v, keyspace::Value::Stream(_))
                            } else if wants_zset {
                                matches!(v, keyspace::Value::ZSet(_))
                            } else {
                                matches!(v, keyspace::Value::List(_))
                            }
                        });
                    // An expiry here is logged (as a DEL of `db`) while the slot is locked.
                    (has_type, crate::aof::feed_expired(db, self.data_config.lazyfree_lazy_expire))
                };
                // The look-up may have expired the key: that is an `expired` event of `db`, not
                // of whichever command runs next on this thread.
                match logged {
                    Some(keys) => self.publish_expired_keys(db, keys),
                    None => self.publish_expired_log(db),
                }
                if !has_type {
                    if wants_stream {
                        skipped += 1;
                        continue;
                    }
                    break;
                }
                let argv: Vec<&[u8]> = w.argv.iter().map(|a| a.as_slice()).collect();
                let Ok(entry) = shared.registry.lookup(&argv) else {
                    reg.remove(client_id);
                    break;
                };
                let Kind::Data(handler) = entry.kind else {
                    reg.remove(client_id);
                    break;
                };
                let mut out = ReplyBuf::new(w.resp3);
                let (wdb, worker) = (w.db, w.worker);
                let saved = std::mem::take(&mut self.effects);
                // The served client is the current client while its command runs again: its
                // own invalidations follow its reply (Redis's unblocked-client `call`).
                let saved_cur = (self.cur_client, self.cur_tracking, self.cur_caching);
                let saved_deferred = std::mem::take(&mut self.track_deferred);
                self.cur_client = client_id;
                self.cur_tracking = shared.tracking.active()
                    && shared.clients.lock().get(&client_id).is_some_and(|i| {
                        i.tracking.load(Ordering::Relaxed) & (crate::tracking::ON | crate::tracking::BCAST)
                            == crate::tracking::ON
                    });
                self.cur_caching = false;
                let serve_started = Instant::now();
                commands::ctx::set_serving_blocked(true);
                self.run_locked(entry, handler, &argv, wdb, &mut out, now_ms(), true);
                commands::ctx::set_serving_blocked(false);
                let served_us = serve_started.elapsed().as_micros() as u64;
                for (to, d) in std::mem::replace(&mut self.track_deferred, saved_deferred) {
                    if d.client_id == client_id {
                        if let Some(push) = d.tracking {
                            crate::tracking::write_push(&mut out, false, push, &d.message);
                        }
                    } else {
                        self.queue_delivery(to, d);
                    }
                }
                (self.cur_client, self.cur_tracking, self.cur_caching) = saved_cur;
                let effects = std::mem::replace(&mut self.effects, saved);
                if effects.block.is_some() {
                    if wants_stream {
                        skipped += 1;
                        continue;
                    }
                    break;
                }
                if effects.dirty > 0 {
                    shared.stats.dirty.fetch_add(effects.dirty, Ordering::Relaxed);
                    // The served command popped (and maybe pushed): WATCHers of those keys see it.
                    shared.touch_keys(wdb, self.key_pos.iter().filter_map(|&p| argv.get(p).copied()));
                }
                let waiter_argv = reg.remove(client_id).map(|w| w.argv).unwrap_or_default();
                shared.blocked_count.fetch_sub(1, Ordering::SeqCst);
                queue.extend(effects.ready_keys);
                // Lock order: the blocking registry may be held while the pub/sub registry is
                // taken (never the other way round).
                self.publish_notifications(&effects.notifications);
                if let Some(h) = shared.workers().get(worker) {
                    h.send(Msg::Unblocked { client_id, reply: out.buf, argv: waiter_argv, served_us });
                }
            }
        }
    }

    /// A blocked client's deadline passed: if it is still waiting, it gets Redis's timeout reply,
    /// a null array for every blocking list and sorted-set command (not the reply the command
    /// gives when it cannot block, which for BLMOVE is a null bulk string).
    fn unblock_with_error(&mut self, c: &mut Conn, text: &str) {
        let shared = self.shared;
        if shared.blocking.inner.lock().remove(c.info.id).is_none() {
            return;
        }
        shared.blocked_count.fetch_sub(1, Ordering::SeqCst);
        c.out.error(text);
        c.blocked = None;
        c.blocked_slot = None;
        self.parked = self.parked.saturating_sub(1);
        c.info.blocked.store(false, Ordering::Relaxed);
        self.process_input(c);
    }

    /// The slow-log entry of a command that was blocked (see `Env::slowlog_unblocked`).
    fn slowlog_unblocked_argv(&self, c: &Conn, argv: &[Vec<u8>], duration_us: u64) {
        let refs: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
        if let Some(entry) = self.shared.registry.resolve(&refs) {
            self.slowlog_unblocked(c, entry, &refs, duration_us);
        }
    }

    fn unblock_on_timeout(&mut self, c: &mut Conn) {
        let shared = self.shared;
        let Some(waiter) = shared.blocking.inner.lock().remove(c.info.id) else {
            return;
        };
        self.slowlog_unblocked_argv(c, &waiter.argv, c.blocked_call_us);
        shared.blocked_count.fetch_sub(1, Ordering::SeqCst);
        c.out.null_array();
        c.blocked = None;
        self.parked = self.parked.saturating_sub(1);
        c.info.blocked.store(false, Ordering::Relaxed);
        self.process_input(c);
    }
}

impl Env {
    /// REPLCONF, PSYNC/SYNC, REPLICAOF/SLAVEOF, ROLE, WAIT (the logic is in `replication`).
    pub fn replication_command(&mut self, c: &mut Conn, id: u16, args: &[&[u8]], now: i64) {
        use crate::cmds::{FAILOVER, PSYNC, REPLCONF, REPLICAOF, ROLE, WAIT};
        use crate::replication as repl;
        match id {
            REPLCONF => {
                if c.master {
                    // From our master only GETACK matters: answer with our offset.
                    if args.len() >= 2 && args[1].eq_ignore_ascii_case(b"getack") {
                        c.out.raw(&repl::ack_command());
                        c.last_ack_ms = now;
                        self.master_keep_reply = true;
                    }
                    return;
                }
                let hello = c.hello.get_or_insert_with(Default::default);
                match repl::replconf(hello, args) {
                    Ok(true) => c.out.ok(),
                    Ok(false) => {}
                    Err(e) => c.out.error(&e),
                }
            }
            PSYNC => {
                if c.master || c.info.kind.load(Ordering::Relaxed) == repl::CLIENT_REPLICA {
                    return;
                }
                let hello = c.hello.as_deref().cloned().unwrap_or_default();
                let locked = self.in_exec && !self.locks.is_empty();
                match repl::psync_check(self.shared, args, &hello, &c.info.addr, locked) {
                    Ok(req) => c.handoff = Some(req),
                    Err(e) => c.out.error(&e),
                }
            }
            REPLICAOF => {
                // Inside an EXEC that holds slot locks the barrier would wait for them.
                let locked = self.in_exec && !self.locks.is_empty();
                match repl::replicaof_command(self.shared, args, self.cluster.is_some(), locked) {
                    Ok(text) => c.out.simple(&text),
                    Err(e) => c.out.error(&e),
                }
            }
            ROLE => repl::role_reply(&mut c.out),
            FAILOVER => {
                let locked = self.in_exec && !self.locks.is_empty();
                match repl::failover_command(self.shared, args, self.cluster.is_some(), locked, now) {
                    Ok(()) => c.out.ok(),
                    Err(e) => c.out.error(&e),
                }
            }
            WAIT => {
                if repl::is_replica() {
                    c.out.error("ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.");
                    return;
                }
                let Some(wanted) = commands::args::parse_i64(args[1]) else {
                    c.out.error(commands::errors::NOT_INTEGER);
                    return;
                };
                let Some(timeout) = commands::args::parse_i64(args[2]) else {
                    c.out.error("ERR timeout is not an integer or out of range");
                    return;
                };
                if timeout < 0 {
                    c.out.error("ERR timeout is negative");
                    return;
                }
                let target = repl::offset();
                let acked = repl::replicas_acked(target);
                if acked as i64 >= wanted || self.in_exec || c.multi.is_some() {
                    c.out.int(acked as i64);
                    return;
                }
                repl::request_acks();
                repl::repl().waiters.fetch_add(1, Ordering::Relaxed);
                c.wait_repl = Some((target, wanted.max(0) as usize));
                c.blocked = Some(if timeout > 0 { Some(now + timeout) } else { None });
                c.info.blocked.store(true, Ordering::Relaxed);
                self.parked += 1;
            }
            _ => {}
        }
    }
}
