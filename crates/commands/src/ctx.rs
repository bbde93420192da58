//! The execution context a command runs in, and the effects it reports back to the server.

use keyspace::{Keyspace, LockSet, Sds, SlotTable};
use resp::ReplyBuf;
use std::sync::OnceLock;

/// Where a command's diagnostic lines go (the server's log at verbose level), set once by the
/// server at start-up. A hook rather than a logging dependency: this crate does no I/O itself,
/// and a line a handler wants logged (why a RESTORE payload was refused) is rare, off the hot path.
static VERBOSE_LOG: OnceLock<fn(&str)> = OnceLock::new();

/// Installs the server's verbose-level logger; later calls are ignored.
pub fn set_verbose_log(log: fn(&str)) {
    let _ = VERBOSE_LOG.set(log);
}

/// Logs `line` at verbose level through the installed logger (nowhere before one is installed).
pub fn log_verbose(line: &str) {
    if let Some(log) = VERBOSE_LOG.get() {
        log(line);
    }
}

/// Settings commands consult (a snapshot of the config values they need, kept small so the
/// server can hand a shared reference to every command without locking).
#[derive(Clone, Debug)]
pub struct DataConfig {
    pub proto_max_bulk_len: i64,
    pub databases: u32,
    pub cluster_enabled: bool,
    pub list_max_listpack_size: i64,
    pub list_compress_depth: i64,
    pub hash_max_listpack_entries: i64,
    pub hash_max_listpack_value: i64,
    pub set_max_intset_entries: i64,
    pub zset_max_listpack_entries: i64,
    pub zset_max_listpack_value: i64,
    /// `stream-node-max-bytes` and `stream-node-max-entries` (0: no limit): how DUMP and saves
    /// cut a stream into listpack nodes, and the nodes `~` trimming removes whole.
    pub stream_node_max_bytes: i64,
    pub stream_node_max_entries: i64,
    /// `rdbcompression`: DUMP payloads compress long strings with LZF.
    pub rdb_compression: bool,
    /// `rdbchecksum`: RESTORE verifies the payload's CRC64.
    pub rdb_checksum: bool,
    /// Largest sparse HyperLogLog (header included) before it is promoted to dense.
    pub hll_sparse_max_bytes: i64,
    /// `notify-keyspace-events` (NOTIFY_* bits); 0 turns keyspace notifications off.
    pub notify_keyspace_events: u32,
    /// `lazyfree-lazy-expire`: an expiry a command causes propagates as UNLINK, not DEL.
    pub lazyfree_lazy_expire: bool,
    /// `lazyfree-lazy-user-del`: GETDEL propagates as UNLINK, not DEL.
    pub lazyfree_lazy_user_del: bool,
    /// OBJECT REFCOUNT reports small integers as shared (false under a maxmemory LRU/LFU policy).
    pub shared_integers: bool,
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig {
            proto_max_bulk_len: 512 * 1024 * 1024,
            databases: 16,
            cluster_enabled: false,
            list_max_listpack_size: -2,
            list_compress_depth: 0,
            hash_max_listpack_entries: 512,
            hash_max_listpack_value: 64,
            set_max_intset_entries: 512,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            stream_node_max_bytes: 4096,
            stream_node_max_entries: 100,
            rdb_compression: true,
            rdb_checksum: true,
            hll_sparse_max_bytes: 3000,
            notify_keyspace_events: 0,
            lazyfree_lazy_expire: false,
            lazyfree_lazy_user_del: false,
            shared_integers: true,
        }
    }
}

/// A blocking command that found nothing to serve asks to be parked on these keys.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockRequest {
    /// Database and keys to wait on.
    pub db: u32,
    pub keys: Vec<Sds>,
    /// Absolute deadline in Unix ms; `None` blocks forever (timeout 0).
    pub deadline_ms: Option<i64>,
    /// The command to run again when a key is signalled, if not the one that blocked: XREAD
    /// waits for entries after the `$` it resolved when it blocked, not after the last ID at
    /// wake-up time.
    pub rerun_argv: Option<Vec<Vec<u8>>>,
}

/// What a command did besides replying, for the server to act on after it returns.
#[derive(Debug, Default)]
pub struct Effects {
    /// Number of changes made (Redis's `server.dirty` increments).
    pub dirty: u64,
    /// Set by a blocking command that must wait. Its reply buffer is left untouched.
    pub block: Option<BlockRequest>,
    /// Keys that may now serve blocked clients (a push to a list, an add to a sorted set).
    pub ready_keys: Vec<(u32, Sds)>,
    /// Bit i set: argument i is a key the command may write but this time left unchanged, so
    /// WATCH on it must not fire (SMOVE of a member the destination already has).
    pub unmodified_key_args: u64,
    /// Keyspace events the command fired, in order, for the classes that are enabled.
    pub notifications: Vec<Notification>,
    /// `Some` while the server propagates writes (AOF, replicas): the dispatcher sets it before
    /// the handler runs, and a handler that must be propagated in another form than its own
    /// arguments records that form here. `None` (the default) costs nothing.
    pub propagation: Option<Propagation>,
}

/// What a command asks to be written to the propagation stream (the AOF and, later, replicas)
/// instead of its own arguments, as Redis's `rewriteClientCommandVector` / `alsoPropagate` /
/// `preventCommandPropagation` do: relative times become absolute, random choices become the
/// elements chosen, blocking forms become their non-blocking forms. Rejected alternative: the
/// server rewriting argv after the fact, which would need to know every command's results.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Propagation {
    /// True once the handler chose its form: `ops` then replaces the command's own arguments
    /// (an empty `ops` propagates nothing). False: the command's own arguments, if it changed
    /// data (`dirty` > 0).
    pub replaced: bool,
    /// The commands to propagate, in order, each an argument vector.
    pub ops: Vec<Vec<Vec<u8>>>,
}

/// One keyspace event: `event` happened to `key` of database `db`.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub db: u32,
    pub event: &'static str,
    pub key: Sds,
}

impl Effects {
    pub fn clear(&mut self) {
        self.dirty = 0;
        self.block = None;
        self.ready_keys.clear();
        self.unmodified_key_args = 0;
        self.notifications.clear();
        self.propagation = None;
    }
}

/// Everything a command may use while it runs.
pub struct Ctx<'a, 'b> {
    pub ks: &'a Keyspace,
    /// The slot locks the dispatcher took for this command's keys.
    pub locks: &'b mut LockSet<'a>,
    /// The client's selected database.
    pub db: u32,
    /// The time the command started, Unix ms; commands never read a clock.
    pub now_ms: i64,
    pub out: &'b mut ReplyBuf,
    pub effects: &'b mut Effects,
    pub config: &'b DataConfig,
    /// False inside MULTI/EXEC and when re-running a command for a woken client: blocking
    /// commands then reply as on timeout instead of asking to block.
    pub may_block: bool,
}

impl<'a, 'b> Ctx<'a, 'b> {
    /// The table holding `key` in the current database.
    #[inline]
    pub fn table(&mut self, key: &[u8]) -> &mut SlotTable {
        self.locks.table(self.ks, self.db, key)
    }

    /// The table holding `key` in database `db`.
    pub fn table_in(&mut self, db: u32, key: &[u8]) -> &mut SlotTable {
        self.locks.table(self.ks, db, key)
    }

    /// Records one or more changes to the dataset.
    #[inline]
    pub fn dirty(&mut self, n: u64) {
        self.effects.dirty += n;
    }

    /// Marks `key` as possibly able to serve clients blocked on it.
    pub fn signal_ready(&mut self, key: &[u8]) {
        self.effects.ready_keys.push((self.db, Sds::new(key)));
    }

    /// Marks `key` of database `db` as possibly able to serve clients blocked on it, for
    /// commands that put values into a database other than the client's (MOVE, SWAPDB).
    pub fn signal_ready_in(&mut self, db: u32, key: &[u8]) {
        self.effects.ready_keys.push((db, Sds::new(key)));
    }

    /// Reports keyspace event `event` of class `class` (a `notify::NOTIFY_*` bit) on `key` of the
    /// current database. With notifications off (the default) this is one test of a cached
    /// config word, so the commands' hot paths pay nothing for it.
    #[inline]
    pub fn notify(&mut self, class: u32, event: &'static str, key: &[u8]) {
        let flags = self.config.notify_keyspace_events;
        if flags == 0 {
            return;
        }
        if flags & crate::notify::NOTIFY_NEW != 0 {
            self.note_new_keys();
        }
        if flags & class != 0 {
            self.effects.notifications.push(Notification { db: self.db, event, key: Sds::new(key) });
        }
    }

    /// Reports the keys created since the last report as `new` events (Redis fires them when a
    /// key is added, before the command's own event).
    pub fn note_new_keys(&mut self) {
        self.note_new_keys_in(self.db);
    }

    /// As [`Ctx::note_new_keys`], for keys created in database `db` (MOVE, COPY ... DB).
    pub fn note_new_keys_in(&mut self, db: u32) {
        for key in keyspace::take_new_log() {
            self.effects.notifications.push(Notification { db, event: "new", key });
        }
    }

    /// As [`Ctx::notify`], for a key of database `db` (MOVE, COPY ... DB).
    #[inline]
    pub fn notify_in(&mut self, db: u32, class: u32, event: &'static str, key: &[u8]) {
        let flags = self.config.notify_keyspace_events;
        if flags & crate::notify::NOTIFY_NEW != 0 {
            self.note_new_keys_in(db);
        }
        if flags & class != 0 {
            self.effects.notifications.push(Notification { db, event, key: Sds::new(key) });
        }
    }

    /// True while writes are propagated: a handler builds a rewritten form only then, so the
    /// hot path allocates nothing for propagation when the AOF is off.
    #[inline]
    pub fn propagating(&self) -> bool {
        self.effects.propagation.is_some()
    }

    /// Propagates `build()` instead of the command's own arguments; a second call adds one more
    /// command after the first (Redis's `alsoPropagate`). `build` runs only while propagating.
    pub fn propagate_as(&mut self, build: impl FnOnce() -> Vec<Vec<u8>>) {
        if let Some(p) = self.effects.propagation.as_mut() {
            if !p.replaced {
                p.replaced = true;
                p.ops.clear();
            }
            p.ops.push(build());
        }
    }

    /// Propagates nothing for this command, whatever it changed (Redis's
    /// `preventCommandPropagation`), unless [`Ctx::propagate_as`] adds something afterwards.
    pub fn propagate_nothing(&mut self) {
        if let Some(p) = self.effects.propagation.as_mut() {
            p.replaced = true;
            p.ops.clear();
        }
    }

    /// The `DEL` (or `UNLINK`, with `lazyfree-lazy-expire` / `lazyfree-lazy-user-del`) a command
    /// that deleted `key` on its own propagates.
    pub fn propagate_del(&mut self, key: &[u8], lazy: bool) {
        self.propagate_as(|| vec![if lazy { b"UNLINK".to_vec() } else { b"DEL".to_vec() }, key.to_vec()]);
    }

    pub fn error(&mut self, msg: &str) {
        self.out.error(msg);
    }
}

thread_local! {
    /// Set while this thread runs a command on behalf of a Lua script (Redis's CLIENT_SCRIPT on
    /// the Lua client), for the few commands that behave differently there.
    static FROM_SCRIPT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marks (or unmarks) the commands this thread runs next as run by a script.
pub fn set_from_script(on: bool) {
    FROM_SCRIPT.with(|f| f.set(on));
}

/// Whether the running command was called by a script (`redis.call`).
pub fn from_script() -> bool {
    FROM_SCRIPT.with(|f| f.get())
}

thread_local! {
    /// The reply buffer length past which the running command's client is over its hard
    /// `client-output-buffer-limit` and will be closed with nothing sent (usize::MAX: no limit).
    static REPLY_STOP_LEN: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
}

/// Sets (or, with usize::MAX, clears) the length [`reply_over_limit`] compares with.
pub fn set_reply_stop_len(len: usize) {
    REPLY_STOP_LEN.with(|l| l.set(len));
}

/// Whether a command building a reply of unbounded size should stop adding to it: the client
/// is past its output limit and none of it will be sent. Never inside a script, whose replies
/// go to the script, not to the client.
pub fn reply_over_limit(out_len: usize) -> bool {
    out_len > REPLY_STOP_LEN.with(|l| l.get()) && !from_script()
}

thread_local! {
    /// Set while this thread re-runs a blocked client's command because a key it waits on was
    /// signalled: XREADGROUP then answers a vanished key or group with the errors Redis gives a
    /// client it unblocks, not the ones a fresh call gets.
    static SERVING_BLOCKED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

thread_local! {
    /// Set while this thread applies commands from our master or from the AOF (Redis's
    /// mustObeyClient): their arguments were produced by a server, which some commands accept
    /// in forms a client may not send (XADD/XTRIM with LIMIT and an exact trim).
    static OBEY_CLIENT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marks (or unmarks) the commands this thread runs next as coming from our master or the AOF.
pub fn set_obey_client(on: bool) {
    OBEY_CLIENT.with(|f| f.set(on));
}

/// Whether the running command comes from our master or the AOF.
pub fn obey_client() -> bool {
    OBEY_CLIENT.with(|f| f.get())
}

/// Whether an expire time `when_ms` already past at `now_ms` deletes the key at once (Redis's
/// checkAlreadyExpired). Not while loading the AOF nor when applying our master's stream
/// ([`keyspace::ExpiryMode::Keep`]): there the key keeps its past time, as Redis keeps it while
/// `server.loading` or on a replica, and only reads as missing once lookups may expire it.
/// Deleting at once would drop a key a later command of the file or stream still reads.
pub fn already_expired(when_ms: i64, now_ms: i64) -> bool {
    when_ms <= now_ms && keyspace::expiry_mode() != keyspace::ExpiryMode::Keep
}

/// Marks (or unmarks) the commands this thread runs next as re-runs for woken clients.
pub fn set_serving_blocked(on: bool) {
    SERVING_BLOCKED.with(|f| f.set(on));
}

/// Whether the running command is a re-run for a client woken by a signalled key.
pub fn serving_blocked() -> bool {
    SERVING_BLOCKED.with(|f| f.get())
}
