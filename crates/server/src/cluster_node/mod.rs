//! Cluster mode in the server: runs `crates/cluster`'s state machine against real sockets,
//! clocks and files. It owns the machine (behind one mutex), the `nodes.conf` file (locked for the
//! life of the process, rewritten whenever the machine asks), the bus thread (`bus`), and the
//! slot-routing snapshot the workers redirect by (`routing`).
//!
//! It never decides anything about the cluster itself: every rule (joining, gossip, failure
//! detection, slot ownership, CLUSTER subcommands) is the machine's. It never holds the machine
//! mutex while waiting on a socket, and a worker never takes it on the data path.
//!
//! Lock order: machine mutex → slot locks (ascending) → routing lock. Workers take slot locks
//! and then read the routing epoch, never the machine mutex.

pub mod bus;
pub mod commands;
pub mod routing;

use crate::config::ClusterSettings;
use crate::shared::{now_ms, Shared};
use crate::{notice, warning};
use cluster::machine::{Action, Config as MachineConfig, Machine};
use cluster::{ClusterState, NodesConf};
use keyspace::Keyspace;
use parking_lot::{Mutex, RwLock};
use routing::Routing;
use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// The running cluster node.
pub struct ClusterNode {
    pub machine: Mutex<Machine>,
    routing: RwLock<Arc<Routing>>,
    /// Bumped (Release) every time `routing` is replaced, while the locks of the slots whose
    /// routing changed are held: a worker that holds a slot lock and reads this epoch sees the
    /// routing that is current for that slot.
    routing_epoch: AtomicU64,
    /// Bus actions (connect, send, close) produced outside the bus thread, by CLUSTER commands.
    bus_inbox: Mutex<Vec<Action>>,
    bus_waker: OnceLock<mio::Waker>,
    /// A nodes.conf save the bus thread deferred to the end of its loop iteration.
    save_pending: std::sync::atomic::AtomicBool,
    /// The server, for delivering pub/sub messages that arrive over the bus (set by `start`).
    shared: OnceLock<&'static Shared>,
    config_path: PathBuf,
    /// The open, flock()ed nodes.conf: the lock lasts as long as this descriptor.
    _config_lock: File,
    pub settings: RwLock<ClusterSettings>,
    /// DEBUG DROP-CLUSTER-PACKET-FILTER: the bus drops every incoming packet of this type
    /// (`server.cluster_drop_packet_filter`; -1, the default, drops nothing).
    pub drop_packet_filter: AtomicI64,
    /// Links the bus freed because their send buffer went over cluster-link-sendbuf-limit
    /// (`total_cluster_links_buffer_limit_exceeded` of CLUSTER INFO).
    pub links_buffer_limit_exceeded: AtomicU64,
}

/// `clusterLockConfig`: one node per nodes.conf.
fn lock_config(path: &Path) -> anyhow::Result<File> {
    let file = std::fs::OpenOptions::new().write(true).create(true).truncate(false).open(path)?;
    // SAFETY: flock on a descriptor we own; it has no memory effects.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == -1 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
            anyhow::bail!(
                "Sorry, the cluster configuration file {} is already used by a different Redis Cluster node. Please make sure that different nodes use different cluster configuration files.",
                path.display()
            );
        }
        anyhow::bail!("Impossible to lock {}: {err}", path.display());
    }
    Ok(file)
}

fn failover_config(s: &ClusterSettings) -> cluster::FailoverConfig {
    cluster::FailoverConfig {
        replica_validity_factor: s.replica_validity_factor,
        repl_ping_replica_period_ms: s.repl_ping_replica_period_ms,
        replica_no_failover: s.replica_no_failover,
        migration_barrier: s.migration_barrier,
        ..cluster::FailoverConfig::default()
    }
}

/// `Action::PauseWrites`: no write starts from now until `until_ms`; once no worker is inside
/// a write that began before (see `WorkerStats::in_write`), the replication offset is final and
/// the machine learns it (`Machine::writes_paused`), which lets the replica catch up to exactly
/// that offset. The wait runs on its own short-lived thread: the caller holds the machine lock,
/// and a write in flight may need that lock (a PUBLISH travels over the bus) before it ends.
fn pause_writes_for_failover(shared: &'static Shared, until_ms: u64) {
    shared.failover_pause_until_ms.store(until_ms.min(i64::MAX as u64) as i64, Ordering::SeqCst);
    let spawned = std::thread::Builder::new().name("mf-pause".into()).spawn(move || {
        if !shared.wait_writes_drained(std::time::Duration::from_secs(5)) {
            // A write that takes 5 s is stuck; the failover will time out and resume.
            warning!("Manual failover: a write did not finish within 5 s of the pause");
            return;
        }
        let offset = crate::replication::offset();
        let Some(node) = shared.cluster.as_ref() else { return };
        let mut m = node.machine.lock();
        let actions = m.writes_paused(offset, now_ms() as u64);
        node.apply(&shared.ks, &m, actions, None);
    });
    if let Err(e) = spawned {
        warning!("Manual failover: could not start the pause thread: {e}");
    }
}

fn machine_config(s: &ClusterSettings) -> MachineConfig {
    MachineConfig {
        node_timeout_ms: s.node_timeout_ms,
        require_full_coverage: s.require_full_coverage,
        announce_ip: s.announce_ip.clone(),
        port: s.announced_port(),
        cport: s.announced_bus_port(),
        pport: 0,
        hostname: s.announce_hostname.clone(),
        preferred_endpoint_type: s.endpoint_type(),
        tls_cluster: false,
        allow_replica_migration: s.allow_replica_migration,
    }
}

impl ClusterNode {
    /// Loads nodes.conf (or starts a new node when it is missing or empty) and saves it at once,
    /// as `clusterInit` does.
    pub fn open(settings: ClusterSettings) -> anyhow::Result<ClusterNode> {
        if settings.cluster_port == 0 && settings.port > 65535 - 10_000 {
            anyhow::bail!(
                "Redis port number too high. Cluster communication port is 10,000 port numbers higher than your Redis port. Your Redis port number must be 55535 or less."
            );
        }
        let path = PathBuf::from(&settings.config_file);
        let lock = lock_config(&path)?;
        let text = std::fs::read_to_string(&path)?;
        let now = now_ms() as u64;
        let seed: u64 = rand::random();
        let config = machine_config(&settings);
        let machine = if text.trim().is_empty() {
            let m = Machine::fresh(config, seed, now);
            notice!("No cluster configuration found, I'm {}", m.myself());
            m
        } else {
            let conf = NodesConf::parse(&text).map_err(|e| {
                anyhow::anyhow!("Unrecoverable error: corrupted cluster config file \"{}\": {e}", path.display())
            })?;
            let state = ClusterState::from_nodes_conf(&conf, now)
                .map_err(|e| anyhow::anyhow!("Unrecoverable error: corrupted cluster config file: {e}"))?;
            let m = Machine::new(state, config, seed, now);
            notice!("Node configuration loaded, I'm {}", m.myself());
            m
        };
        let mut machine = machine;
        // Only a save comes back, and nodes.conf is saved below anyway.
        let _ = machine.set_failover_config(failover_config(&settings), now);
        let routing = Arc::new(Routing::from_machine(&machine, settings.endpoint_type()));
        let node = ClusterNode {
            machine: Mutex::new(machine),
            routing: RwLock::new(routing),
            routing_epoch: AtomicU64::new(1),
            bus_inbox: Mutex::new(Vec::new()),
            bus_waker: OnceLock::new(),
            shared: OnceLock::new(),
            save_pending: false.into(),
            config_path: path,
            _config_lock: lock,
            settings: RwLock::new(settings),
            drop_packet_filter: AtomicI64::new(-1),
            links_buffer_limit_exceeded: AtomicU64::new(0),
        };
        {
            let m = node.machine.lock();
            node.save_config(&m, true).map_err(|e| anyhow::anyhow!("Fatal: can't update cluster config file: {e}"))?;
        }
        Ok(node)
    }

    /// True when nodes.conf (or the bus since) makes this node a replica.
    pub fn myself_is_replica(&self) -> bool {
        let m = self.machine.lock();
        m.state.nodes.get(&m.myself()).is_some_and(|n| n.master.is_some())
    }

    pub fn routing_epoch(&self) -> u64 {
        self.routing_epoch.load(Ordering::Acquire)
    }

    pub fn routing(&self) -> Arc<Routing> {
        self.routing.read().clone()
    }

    /// Writes nodes.conf in place, as `clusterSaveConfig` does: the new text padded with
    /// newlines to the old length, written over the old, fsynced when the protocol asks, then
    /// truncated to its length. Rejected: temp file + rename. It would make a torn file
    /// impossible, but the rename moves the name off the inode our flock holds, and on ext4
    /// a rename over an existing file forces its data out (auto_da_alloc): 5-15 ms per save,
    /// which made a reshard (one or two saves per slot) several times slower than Redis's. The
    /// file is one page for clusters up to about 20 nodes, and a page write is not torn.
    pub fn save_config(&self, machine: &Machine, fsync: bool) -> std::io::Result<()> {
        use std::io::{Seek, SeekFrom};
        let mut text = machine.nodes_conf().to_text().into_bytes();
        let content_len = text.len() as u64;
        let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(false).open(&self.config_path)?;
        let old_len = file.metadata()?.len();
        if old_len > content_len {
            text.resize(old_len as usize, b'\n');
        }
        file.seek(SeekFrom::Start(0))?;
        file.write_all(&text)?;
        if fsync {
            file.sync_data()?;
        }
        if old_len > content_len {
            // Only drops the padding; a failure leaves blank lines the loader skips.
            let _ = file.set_len(content_len);
        }
        Ok(())
    }

    /// Executes the machine's actions, with the machine locked by the caller: saves, state
    /// changes and key drops here; socket work goes to the bus (`bus_actions`, or the bus
    /// thread's inbox when `bus_actions` is `None`). Ends by publishing the routing.
    pub fn apply(&self, ks: &Keyspace, machine: &Machine, actions: Vec<Action>, bus_actions: Option<&mut Vec<Action>>) {
        let mut for_bus = Vec::new();
        let mut resume_writes = false;
        for action in actions {
            match action {
                // On the bus thread a save without fsync waits for the end of the loop iteration
                // (`flush_pending_save`), as Redis saves once in clusterBeforeSleep: a burst of
                // gossip that moves slots writes nodes.conf once, not once per packet.
                Action::SaveConfig { fsync: false } if bus_actions.is_some() => {
                    self.save_pending.store(true, Ordering::Relaxed);
                }
                Action::SaveConfig { fsync } => {
                    if let Err(e) = self.save_config(machine, fsync) {
                        // Redis exits here (clusterSaveConfigOrDie): a node that cannot record
                        // an epoch or a vote must not keep acting on it.
                        warning!("Fatal: can't update cluster config file: {e}");
                        std::process::exit(1);
                    }
                }
                Action::StateChanged { ok } => {
                    notice!("Cluster state changed: {}", if ok { "ok" } else { "fail" });
                    if !ok {
                        // Not a Redis line: which masters the state found unreachable, so a
                        // CLUSTERDOWN can be explained from the log alone.
                        notice!("Cluster state: {}", machine.state_detail(crate::shared::now_ms() as u64));
                    }
                }
                Action::ReplicateFrom { master } => {
                    // Queued, not run here: starting to replicate takes the all-slots barrier,
                    // which must not be waited for with the machine locked.
                    match (machine.state.nodes.get(&master), self.shared.get()) {
                        (Some(n), Some(shared)) if !n.ip.is_empty() && n.port != 0 => {
                            notice!("Configured to replicate from {master} ({}:{})", n.ip, n.port);
                            crate::replication::request(
                                shared,
                                crate::replication::Control::ReplicateFrom(n.ip.clone(), n.port),
                            );
                        }
                        _ => warning!("Asked to replicate from {master}, whose address is not known yet"),
                    }
                }
                Action::DropSlotKeys { slots } => {
                    let db = ks.db(0);
                    let mut deleted = 0usize;
                    for slot in slots {
                        let mut table = db.lock_slot(slot);
                        deleted += table.len();
                        table.clear();
                    }
                    if deleted > 0 {
                        notice!("Deleted {deleted} keys from slots we no longer own");
                    }
                }
                Action::DropSlotChannels { slots } => {
                    if let Some(shared) = self.shared.get() {
                        crate::pubsub::drop_shard_channels_in_slots(shared, &slots);
                    }
                }
                Action::StopReplication { flush_data } => {
                    if let Some(shared) = self.shared.get() {
                        // Before the routing below publishes our new slots (see
                        // `Shared::role_switch_pending`); the control thread clears it.
                        shared.role_switch_pending.store(true, Ordering::SeqCst);
                        crate::replication::request(shared, crate::replication::Control::BecomeMaster);
                    }
                    if flush_data {
                        for i in 0..ks.db_count() {
                            if let Some(db) = ks.db_if_used(i) {
                                for slot in 0..keyspace::SLOT_COUNT as u16 {
                                    db.lock_slot(slot).clear();
                                }
                            }
                        }
                        // Redis empties the data with emptyData, which voids trackers' caches.
                        if let Some(shared) = self.shared.get() {
                            shared.tracking.invalidate_all_now(shared);
                        }
                    }
                }
                Action::PauseWrites { until_ms } => {
                    if let Some(shared) = self.shared.get() {
                        pause_writes_for_failover(shared, until_ms);
                    }
                }
                // After the routing below: the writes held by a manual failover's pause must see
                // the topology that ended it. Resumed first, a write held on the old master ran
                // with its old routing (the slot still ours), was acknowledged, and was then lost
                // when the node resynced as the new master's replica (Redis ends the pause in the
                // same step that gives the slots away, before any client runs again).
                Action::ResumeWrites => resume_writes = true,
                Action::Deliver { shard, channel, message } => {
                    if let Some(shared) = self.shared.get() {
                        crate::pubsub::deliver_from_bus(shared, shard, &channel, &message);
                    }
                }
                bus @ (Action::Connect { .. }
                | Action::Close { .. }
                | Action::CloseInbound { .. }
                | Action::Send { .. }) => for_bus.push(bus),
            }
        }
        self.publish_routing(ks, machine);
        if resume_writes {
            if let Some(shared) = self.shared.get() {
                shared.failover_pause_until_ms.store(0, Ordering::SeqCst);
                for w in shared.workers() {
                    w.send(crate::shared::Msg::Poke);
                }
            }
        }
        if !for_bus.is_empty() {
            match bus_actions {
                Some(out) => out.extend(for_bus),
                None => {
                    self.bus_inbox.lock().extend(for_bus);
                    if let Some(w) = self.bus_waker.get() {
                        let _ = w.wake();
                    }
                }
            }
        }
    }

    /// Replaces the routing snapshot when the machine's view changed, holding the locks of the
    /// slots whose routing changes (see `routing_epoch`).
    pub fn publish_routing(&self, ks: &Keyspace, machine: &Machine) {
        let endpoint_type = self.settings.read().endpoint_type();
        let new = Routing::from_machine(machine, endpoint_type);
        let current = self.routing();
        let changed = new.changed_slots(&current);
        let same_nodes = new.nodes == current.nodes && new.me == current.me && new.my_master == current.my_master;
        if changed.is_empty() && same_nodes && new.ok == current.ok {
            return;
        }
        let db = ks.db(0);
        let guards: Vec<_> = changed.iter().map(|&slot| db.lock_slot(slot)).collect();
        *self.routing.write() = Arc::new(new);
        self.routing_epoch.fetch_add(1, Ordering::Release);
        drop(guards);
    }

    /// CONFIG SET changed a directive: the machine and the routing take the new cluster
    /// settings (announced ports and hostname, node timeout, endpoint type ...).
    pub fn reconfigure(&self, ks: &Keyspace, settings: ClusterSettings) {
        if *self.settings.read() == settings {
            return;
        }
        let config = machine_config(&settings);
        *self.settings.write() = settings;
        let failover = failover_config(&self.settings.read());
        let mut m = self.machine.lock();
        let now = now_ms() as u64;
        let mut actions = m.update_config(config, now);
        actions.extend(m.set_failover_config(failover, now));
        self.apply(ks, &m, actions, None);
    }

    /// PUBLISH / SPUBLISH in cluster mode: the message also goes to the other nodes (all of
    /// them, or our shard's) over the bus.
    pub fn propagate_publish(&self, ks: &Keyspace, shard: bool, channel: &[u8], message: &[u8]) {
        let mut m = self.machine.lock();
        let actions = m.publish(shard, channel, message, now_ms() as u64);
        self.apply(ks, &m, actions, None);
    }

    /// DEBUG CLUSTERLINK KILL: frees our link to `node` (`to`), its link to us (`from`), or
    /// both. False when no node has that name.
    pub fn debug_kill_links(&self, ks: &Keyspace, node: &[u8], to: bool, from: bool) -> bool {
        let Some(name) = parse_node_name(node) else { return false };
        let mut m = self.machine.lock();
        match m.debug_kill_links(&name, to, from, now_ms() as u64) {
            Some(actions) => {
                self.apply(ks, &m, actions, None);
                true
            }
            None => false,
        }
    }

    /// Whether a node named `node` is in our table (`clusterLookupNode`).
    pub fn knows_node(&self, node: &[u8]) -> bool {
        parse_node_name(node).is_some_and(|name| self.machine.lock().state.nodes.contains_key(&name))
    }

    /// Performs the save the bus thread deferred, if any.
    pub fn flush_pending_save(&self) {
        if self.save_pending.swap(false, Ordering::Relaxed) {
            let m = self.machine.lock();
            if let Err(e) = self.save_config(&m, false) {
                warning!("Fatal: can't update cluster config file: {e}");
                std::process::exit(1);
            }
        }
    }

    fn take_bus_inbox(&self) -> Vec<Action> {
        std::mem::take(&mut *self.bus_inbox.lock())
    }
}

/// Starts cluster mode: opens nodes.conf and the bus listener, spawns the bus thread. Called
/// once from `main` before the workers start.
pub fn start(shared: &'static Shared, bind: &[String]) -> anyhow::Result<()> {
    let Some(node) = shared.cluster.as_ref() else {
        return Ok(());
    };
    let _ = node.shared.set(shared);
    let cport = node.settings.read().bus_port();
    bus::spawn(shared, node, bind, cport)
}

fn parse_node_name(bytes: &[u8]) -> Option<cluster::NodeName> {
    std::str::from_utf8(bytes).ok().and_then(cluster::NodeName::parse)
}
