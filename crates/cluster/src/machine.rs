//! The cluster as a deterministic state machine: joining (CLUSTER MEET, handshakes), gossip,
//! failure detection (PFAIL → FAIL and back), cluster state, slot ownership by configEpoch,
//! UPDATE messages and configEpoch collisions, the hostname ping extension, the FORGET
//! blacklist and per-type message counters, following Redis 7.0.15's `cluster.c`. The CLUSTER
//! subcommands that change this state live in `command`.
//!
//! The machine never does I/O, reads a clock or draws entropy. Every entry point takes the
//! caller's `now_ms` and returns the `Action`s the server must execute (send a message, open or
//! close a link, save nodes.conf, ...). Randomness (handshake names, which nodes to gossip
//! about, which node to ping) comes from a small PRNG seeded by the caller at construction, so a
//! run is a pure function of the seed and the inputs: that is what lets `tests/sim.rs` replay any
//! run exactly.
//!
//! Links are abstract. An outbound link (ours, to a node we know) is a `LinkId::Out(n)` whose
//! number the machine allocates when it asks for a connection; an inbound link (a peer connected
//! to us) is a `LinkId::In(n)` numbered by the server. Redis's `clusterLink` pointers become these
//! ids; a handshake node keeps its link id when it is renamed, so the server never has to rename
//! anything.
//!
//! Functions that implement a Redis algorithm carry its name in snake case
//! (`mark_node_as_failing_if_needed` for `markNodeAsFailingIfNeeded`) so a reviewer can hold
//! one against the other.

use std::collections::BTreeMap;

use thiserror::Error;

use crate::bus::{Body, GossipEntry, Header, IpField, Message, PingBody};
use crate::state::ClusterState;
use crate::types::{NodeFlags, NodeName, SlotBitmap, CLUSTER_SLOTS};

/// Failure reports older than this many node timeouts are ignored (`CLUSTER_FAIL_REPORT_VALIDITY_MULT`).
pub const FAIL_REPORT_VALIDITY_MULT: u64 = 2;
/// A master with slots leaves FAIL on its own only this many node timeouts after it was marked
/// (`CLUSTER_FAIL_UNDO_TIME_MULT`): by then a replica would have taken its slots if it could.
pub const FAIL_UNDO_TIME_MULT: u64 = 2;
/// A master waits this long after start before its cluster state may become ok
/// (`CLUSTER_WRITABLE_DELAY`).
pub const WRITABLE_DELAY_MS: u64 = 2000;
/// Bounds on the delay before a master that was in a minority partition reports ok again
/// (`CLUSTER_MIN_REJOIN_DELAY` / `CLUSTER_MAX_REJOIN_DELAY`); the delay itself is the node timeout.
pub const MIN_REJOIN_DELAY_MS: u64 = 500;
pub const MAX_REJOIN_DELAY_MS: u64 = 5000;
/// A master we have heard nothing from for `minority_quiet_ms` counts as unreachable for the
/// cluster state even before it is PFAIL; see there.
const MINORITY_QUIET_MARGIN_MS: u64 = 250;
/// A cron run later than this after the previous one means our own thread stalled.
const MINORITY_QUIET_STALL_MS: u64 = 3 * CRON_PERIOD_MS;
/// How far above the longest silence a healthy link shows (node timeout / 2, when the next ping
/// goes out, plus a cron period and the reply's way back) the quiet rule stays.
const MINORITY_QUIET_HEADROOM_MS: u64 = 600;

/// How long a master may stay silent (no message of any kind from it) before the cluster state
/// counts it unreachable: node timeout − 250 ms, but never less than node timeout / 2 + 600 ms.
///
/// Why: Redis's minority master keeps acknowledging writes until it has marked a majority of
/// masters PFAIL, which needs a ping that went unanswered for a node timeout; that ping may
/// leave up to node timeout / 2 after the cut, so the writes go on for up to 1.5 node timeouts,
/// and all of them are lost once the majority promotes a replica. A peer we can reach answers
/// or pings us at least every node timeout / 2 (plus a cron period), so silence longer than this
/// only comes from a broken link, and a master in the minority refuses writes before a node
/// timeout has passed. The floor keeps the rule that far above a healthy link's longest silence
/// (rejected: node timeout − margin at every timeout, which at 500 ms left 100 ms between a
/// healthy link and CLUSTERDOWN). PFAIL and failover keep Redis's rules: only the cluster
/// state looks at silence.
pub fn minority_quiet_ms(node_timeout_ms: u64) -> u64 {
    node_timeout_ms.saturating_sub(MINORITY_QUIET_MARGIN_MS).max(node_timeout_ms / 2 + MINORITY_QUIET_HEADROOM_MS)
}
/// Why the cluster state counts a slot-holding master unreachable (`Machine::master_unreachable`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unreachable {
    Fail,
    Pfail,
    Silent { ms: u64 },
}

/// `clusterCron` runs every 100 ms; callers should call `tick` at this period.
pub const CRON_PERIOD_MS: u64 = 100;
/// Bound on the node table. Redis has none, so one known peer could make it grow without end by
/// gossiping invented names; 10,000 is ten times the cluster size Redis documents as its limit.
/// Past it, new nodes (MEET, gossip, CLUSTER MEET) are ignored.
pub const MAX_KNOWN_NODES: usize = 10_000;
/// Gossip may move a node's `pong_received` at most this far into our future.
const GOSSIP_PONG_FUTURE_TOLERANCE_MS: u64 = 500;

/// Configuration the machine reads (the `cluster-*` directives it needs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub node_timeout_ms: u64,
    pub require_full_coverage: bool,
    /// `cluster-announce-ip`; when unset, our address is learned from the links peers use.
    pub announce_ip: Option<String>,
    /// The client port we announce (`cluster-announce-port`, else `port`; the TLS port when
    /// `tls_cluster`).
    pub port: u16,
    /// The bus port we announce (`cluster-announce-bus-port`, else `cluster-port` or port + 10000).
    pub cport: u16,
    /// Plaintext client port when `port` is the TLS one, else 0.
    pub pport: u16,
    /// `cluster-announce-hostname`; `None` or empty means no hostname (no ping extension).
    pub hostname: Option<String>,
    /// `cluster-preferred-endpoint-type`: what CLUSTER SLOTS / SHARDS give as endpoint.
    pub preferred_endpoint_type: EndpointType,
    /// `tls-cluster`: whether `port` is a TLS port. Always false today (redoxide has no TLS); it
    /// decides which port CLUSTER SHARDS reports as `port` and which as `tls-port`.
    pub tls_cluster: bool,
    /// `cluster-allow-replica-migration`: a master that loses its last slot follows its new owner.
    pub allow_replica_migration: bool,
}

/// `cluster-preferred-endpoint-type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum EndpointType {
    #[default]
    Ip,
    Hostname,
    UnknownEndpoint,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            node_timeout_ms: 15_000,
            require_full_coverage: true,
            announce_ip: None,
            port: 6379,
            cport: 16379,
            pport: 0,
            hostname: None,
            preferred_endpoint_type: EndpointType::Ip,
            tls_cluster: false,
            allow_replica_migration: true,
        }
    }
}

impl Config {
    /// The hostname to announce, `None` when unset or empty (Redis treats both alike).
    pub fn announced_hostname(&self) -> Option<&str> {
        self.hostname.as_deref().filter(|h| !h.is_empty())
    }
}

/// A link between this node and a peer.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum LinkId {
    /// Ours, to a known node; numbered by the machine (see `Action::Connect`).
    Out(u64),
    /// A peer's, to us; numbered by the server.
    In(u64),
}

/// What the server must do, in order.
///
/// Ordering contract: the server executes the actions of one returned list in list order, and
/// a `SaveConfig { fsync: true }` must be complete (written and fsynced) before any action
/// after it is executed, in particular before any later `Send` leaves the process. The
/// machine relies on this for safety: a failover vote (`lastVoteEpoch`) is followed by its
/// FAILOVER_AUTH_ACK, an election's new currentEpoch by its FAILOVER_AUTH_REQUEST, and a
/// promotion's configEpoch by the PONGs announcing it; each is in the list *after* the
/// fsynced save, so a crash can never forget a vote or an epoch that a peer has seen.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Action {
    /// Open outbound link `link` to `ip:cport`; report `link_connected` or `link_closed`.
    Connect { link: u64, ip: String, cport: u16 },
    /// Close outbound link `link` (do not report `link_closed` for it).
    Close { link: u64 },
    /// Write `msg` on `link`. On an outbound link still connecting, queue it until the connect
    /// completes (Redis's link send queue); a send on a link that is gone is dropped silently.
    Send { link: LinkId, msg: Box<Message> },
    /// Write nodes.conf (`to_nodes_conf`), fsyncing it when asked, before replying to anyone.
    SaveConfig { fsync: bool },
    /// The cluster state (`cluster_state` of CLUSTER INFO) changed.
    StateChanged { ok: bool },
    /// We became a replica of `master` (it took our last slots): start replicating from it.
    ReplicateFrom { master: NodeName },
    /// We lost these slots to another master while keeping others: delete their keys
    /// (Redis's dirty slots; the machine does not know which slots hold keys).
    DropSlotKeys { slots: Vec<u16> },
    /// These slots stopped being served by us or our master: unsubscribe every client from the
    /// shard channels hashing to them (`removeChannelsInSlot`, called by `clusterDelSlot`).
    DropSlotChannels { slots: Vec<u16> },
    /// We were a replica and are a master now: stop replicating (`replicationUnsetMaster`).
    /// With `flush_data` false this is a promotion (an election won, CLUSTER FAILOVER
    /// TAKEOVER): keep the data and the replication history, psync2 style, so the old
    /// master's other replicas can continue from us. With `flush_data` true (CLUSTER RESET of
    /// a replica) empty every database as Redis does.
    StopReplication { flush_data: bool },
    /// Manual failover, master side: a replica asked (MFSTART). Stop accepting writes
    /// (Redis's `CLIENT_PAUSE_WRITE`) until `until_ms` (caller's clock) or `ResumeWrites`,
    /// whichever comes first; then call `Machine::writes_paused` with the replication offset
    /// as of the pause, so the replica learns the exact offset it must reach.
    PauseWrites { until_ms: u64 },
    /// End the pause of `PauseWrites` (the manual failover ended, failed or timed out).
    ResumeWrites,
    /// Close inbound link `link` (a peer's connection to us) without reporting it back: the
    /// machine already forgot it (`DEBUG CLUSTERLINK KILL FROM`).
    CloseInbound { link: u64 },
    /// A PUBLISH (`shard` false) or PUBLISHSHARD packet from a known node: deliver the message
    /// to this node's subscribers (and do not propagate it further).
    Deliver { shard: bool, channel: Vec<u8>, message: Vec<u8> },
}

/// The addresses of the socket a message came in on (what `connSockName` / `connPeerName` give).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkAddrs {
    pub peer_ip: String,
    pub local_ip: String,
}

/// The few CLUSTER subcommands with a typed entry point (`handle_command`), kept for tests and
/// tools that build commands directly; clients' CLUSTER commands go through
/// `command::cluster_command`, which parses and answers every subcommand.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Meet { ip: String, port: u16, cport: Option<u16> },
    AddSlots(Vec<u16>),
    SetConfigEpoch(u64),
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CommandError {
    #[error("ERR Invalid node address specified: {ip}:{port}")]
    InvalidAddress { ip: String, port: u16 },
    #[error("ERR Slot {0} is already busy")]
    SlotBusy(u16),
    #[error("ERR Invalid or out of range slot")]
    BadSlot,
    #[error("ERR The user can assign a config epoch only when the node does not know any other node.")]
    EpochWithPeers,
    #[error("ERR Node config epoch is already non-zero")]
    EpochNonZero,
    /// Ours: Redis has no bound on the node table (see `MAX_KNOWN_NODES`).
    #[error("ERR Too many known nodes")]
    TooManyNodes,
}

/// Runtime data Redis keeps in `clusterNode` that nodes.conf does not carry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct NodeRuntime {
    /// Creation time (handshake expiry).
    pub(crate) ctime_ms: u64,
    /// Last time any packet from it was processed.
    pub(crate) data_received_ms: u64,
    /// Reporter → time of its latest report that this node is PFAIL/FAIL.
    pub(crate) fail_reports: BTreeMap<NodeName, u64>,
    pub(crate) link: Option<OutLink>,
    pub(crate) repl_offset: u64,
    /// As a master: when we last voted for one of its replicas (`voted_time`).
    pub(crate) voted_time_ms: u64,
    /// As a master: since when it has been orphaned, 0 when it is not (`orphaned_time`).
    pub(crate) orphaned_time_ms: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OutLink {
    pub(crate) id: u64,
    pub(crate) ctime_ms: u64,
}

/// SplitMix64: tiny, seedable, and good enough for choosing gossip targets. The machine must not
/// read OS entropy (runs must replay), so the caller's seed is the only source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform enough in `0..n` for n far below 2^64; 0 when n is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
}

/// Work deferred to the end of an entry point, as Redis defers it to `clusterBeforeSleep`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Todo {
    pub(crate) save: bool,
    pub(crate) fsync: bool,
    pub(crate) update_state: bool,
}

/// One node's cluster state machine.
#[derive(Clone, Debug)]
pub struct Machine {
    pub state: ClusterState,
    pub(crate) config: Config,
    pub(crate) rng: Rng,
    pub(crate) runtime: BTreeMap<NodeName, NodeRuntime>,
    /// Each node's slots, kept with `state.slot_owner` (Redis's per-node `slots` bitmap): the
    /// header carries a bitmap, and comparing bitmaps beats scanning 16384 owners per packet.
    pub(crate) node_slots: BTreeMap<NodeName, SlotBitmap>,
    /// Set bits of each `node_slots` bitmap (`numslots`), kept so quorum and gossip choices do
    /// not recount 2048 bytes per node.
    pub(crate) slot_counts: BTreeMap<NodeName, usize>,
    /// Slots whose owner stopped claiming them (`owner_not_claiming_slot`).
    pub(crate) owner_not_claiming: SlotBitmap,
    pub(crate) next_link_id: u64,
    pub(crate) cluster_ok: bool,
    pub(crate) first_update_state_ms: Option<u64>,
    pub(crate) among_minority_since_ms: u64,
    pub(crate) cron_iteration: u64,
    /// When `tick` last ran, and whether the run before it was on time: only then does a
    /// master's silence count (see `cluster_update_state`).
    pub(crate) last_tick_ms: Option<u64>,
    pub(crate) ticks_on_time: bool,
    pub(crate) pfail_nodes: usize,
    /// `server.cluster->size` as `clusterUpdateState` last computed it: CLUSTER INFO shows this
    /// cached value (it stays 0 during the writable delay), while the quorum uses `cluster_size`.
    pub(crate) cached_size: usize,
    /// Messages handed to the server per bus type (`stats_bus_messages_sent`).
    pub(crate) stats_sent: [u64; MSG_TYPE_COUNT],
    /// Messages processed per bus type (`stats_bus_messages_received`).
    pub(crate) stats_received: [u64; MSG_TYPE_COUNT],
    /// Our replication offset as the server last reported it (`set_repl_offset`): headers carry
    /// it, and peers list a replica in CLUSTER SLOTS only once it is non-zero.
    pub(crate) my_repl_offset: u64,
    /// Slots deleted from us or our master since the last `take_actions` (see
    /// `Action::DropSlotChannels`).
    pub(crate) lost_channel_slots: Vec<u16>,
    /// CLUSTER FORGET's blacklist: node → when (ms) it may be re-added from gossip again.
    pub(crate) blacklist: BTreeMap<NodeName, u64>,
    /// Each node's inbound link, once a packet on it named a known sender: node → (link
    /// number, when we first heard on it). Redis's `node->inbound_link`; only CLUSTER LINKS
    /// reads it. One per node, the newest, as in Redis (which also closes the older one; we
    /// leave that socket to the server, which owns inbound sockets).
    pub(crate) inbound_links: BTreeMap<NodeName, (u64, u64)>,
    pub(crate) todo: Todo,
    pub(crate) actions: Vec<Action>,
    pub(crate) failover_config: crate::failover::FailoverConfig,
    pub(crate) election: crate::failover::Election,
    pub(crate) mf: crate::failover::ManualFailover,
    /// See `set_master_link_time`.
    pub(crate) master_link_ms: Option<u64>,
}

/// Bus message types Redis 7.0 counts (`CLUSTERMSG_TYPE_COUNT`).
pub const MSG_TYPE_COUNT: usize = 11;

/// How long a forgotten node stays out of our table whatever gossip says
/// (`CLUSTER_BLACKLIST_TTL`, 60 s).
pub const BLACKLIST_TTL_MS: u64 = 60_000;

/// A link as CLUSTER LINKS describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkInfo {
    pub link: LinkId,
    pub node: NodeName,
    /// When the link was created (ms of the caller's clock).
    pub ctime_ms: u64,
    /// Outbound links only: whether the connect completed.
    pub connected: bool,
}

fn ip_text(field: &IpField) -> String {
    String::from_utf8_lossy(field.text()).into_owned()
}

impl Machine {
    /// A machine over `state` (from nodes.conf or `fresh`). `rng_seed` is the only randomness.
    pub fn new(mut state: ClusterState, config: Config, rng_seed: u64, now_ms: u64) -> Machine {
        let myself = state.myself;
        if let Some(me) = state.nodes.get_mut(&myself) {
            me.flags.insert(NodeFlags::MYSELF);
            me.port = config.port;
            me.cport = config.cport;
            me.pport = config.pport;
            me.hostname = config.announced_hostname().map(str::to_string);
            if let Some(ip) = &config.announce_ip {
                me.ip.clone_from(ip);
            }
        }
        // clusterLoadConfig adds each replica to its master (`clusterNodeAddSlave`), which makes
        // the master a replica-migration target.
        let masters_with_replicas: Vec<NodeName> =
            state.nodes.values().filter(|n| n.flags.contains(NodeFlags::SLAVE)).filter_map(|n| n.master).collect();
        for master in masters_with_replicas {
            if let Some(node) = state.nodes.get_mut(&master) {
                node.flags.insert(NodeFlags::MIGRATE_TO);
            }
        }
        let mut node_slots: BTreeMap<NodeName, SlotBitmap> = BTreeMap::new();
        for (slot, owner) in state.slot_owner.iter().enumerate() {
            if let Some(owner) = owner {
                // Below 16384, fits.
                node_slots.entry(*owner).or_default().set(slot as u16, true);
            }
        }
        let slot_counts = node_slots.iter().map(|(name, bits)| (*name, bits.count())).collect();
        let runtime = state
            .nodes
            .keys()
            .map(|name| (*name, NodeRuntime { ctime_ms: now_ms, data_received_ms: now_ms, ..Default::default() }))
            .collect();
        Machine {
            state,
            config,
            rng: Rng::new(rng_seed),
            runtime,
            node_slots,
            slot_counts,
            owner_not_claiming: SlotBitmap::default(),
            next_link_id: 1,
            cluster_ok: false,
            first_update_state_ms: None,
            among_minority_since_ms: 0,
            cron_iteration: 0,
            last_tick_ms: None,
            ticks_on_time: false,
            pfail_nodes: 0,
            // clusterInit starts at 1; the first state update past the writable delay corrects it.
            cached_size: 1,
            stats_sent: [0; MSG_TYPE_COUNT],
            stats_received: [0; MSG_TYPE_COUNT],
            my_repl_offset: 0,
            lost_channel_slots: Vec::new(),
            blacklist: BTreeMap::new(),
            inbound_links: BTreeMap::new(),
            todo: Todo::default(),
            actions: Vec::new(),
            failover_config: Default::default(),
            election: Default::default(),
            mf: Default::default(),
            master_link_ms: None,
        }
    }

    /// A brand-new node, alone in its cluster, named from `rng_seed` (as `clusterInit` does with
    /// no nodes.conf: a random name, flags `myself,master`).
    pub fn fresh(config: Config, rng_seed: u64, now_ms: u64) -> Machine {
        let mut rng = Rng::new(rng_seed);
        let myself = random_name(&mut rng);
        let mut nodes = BTreeMap::new();
        nodes.insert(
            myself,
            crate::state::Node { flags: NodeFlags::MYSELF.union(NodeFlags::MASTER), ..Default::default() },
        );
        let state = ClusterState {
            myself,
            current_epoch: 0,
            last_vote_epoch: 0,
            nodes,
            slot_owner: vec![None; CLUSTER_SLOTS].into_boxed_slice(),
            migrating_to: BTreeMap::new(),
            importing_from: BTreeMap::new(),
        };
        Machine::new(state, config, rng.next_u64(), now_ms)
    }

    pub fn myself(&self) -> NodeName {
        self.state.myself
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// CONFIG SET of a `cluster-*` directive: takes the new configuration and announces our new
    /// ports, hostname and ip from the next packet on, as `clusterUpdateMyselfAnnouncedPorts` /
    /// `clusterUpdateMyselfHostname` do. Returns the save it calls for (the address is in
    /// nodes.conf).
    pub fn update_config(&mut self, config: Config, now_ms: u64) -> Vec<Action> {
        let me = self.myself();
        if let Some(node) = self.state.nodes.get_mut(&me) {
            node.port = config.port;
            node.cport = config.cport;
            node.pport = config.pport;
            node.hostname = config.announced_hostname().map(str::to_string);
            if let Some(ip) = &config.announce_ip {
                node.ip.clone_from(ip);
            }
        }
        self.config = config;
        self.do_before_sleep(true, false, false);
        self.take_actions(now_ms)
    }

    /// `cluster_state:ok` of CLUSTER INFO.
    pub fn cluster_ok(&self) -> bool {
        self.cluster_ok
    }

    /// Valid failure reports about `node` (for tests and CLUSTER COUNT-FAILURE-REPORTS).
    pub fn failure_report_count(&self, node: &NodeName, now_ms: u64) -> usize {
        let validity_ms = self.config.node_timeout_ms * FAIL_REPORT_VALIDITY_MULT;
        self.runtime
            .get(node)
            .map(|rt| rt.fail_reports.values().filter(|&&t| now_ms.saturating_sub(t) <= validity_ms).count())
            .unwrap_or(0)
    }

    /// Each slot-owning node's slots as a bitmap (Redis's per-node `slots`), kept in step with
    /// `state.slot_owner`: a reader that wants owners per slot can walk a few bitmaps instead of
    /// comparing 16384 names.
    pub fn node_slot_bitmaps(&self) -> impl Iterator<Item = (&NodeName, &SlotBitmap)> {
        self.node_slots.iter()
    }

    /// Slots `node` owns in our view.
    pub fn node_slot_count(&self, node: &NodeName) -> usize {
        self.slot_counts.get(node).copied().unwrap_or(0)
    }

    /// Messages sent / received so far, per bus type (index = type), as CLUSTER INFO counts them.
    pub fn message_stats(&self) -> (&[u64; MSG_TYPE_COUNT], &[u64; MSG_TYPE_COUNT]) {
        (&self.stats_sent, &self.stats_received)
    }

    /// `server.cluster->size` as last computed by the state update (what CLUSTER INFO shows).
    pub fn reported_cluster_size(&self) -> usize {
        self.cached_size
    }

    /// The replication offset a peer last announced in its header (0 if unknown).
    pub fn node_repl_offset(&self, node: &NodeName) -> u64 {
        // Our own entry is never refreshed by a header (nodes do not gossip about themselves to
        // themselves): Redis's isReplicaAvailable reads the live offset for myself.
        if *node == self.myself() {
            return self.my_repl_offset;
        }
        self.runtime.get(node).map_or(0, |rt| rt.repl_offset)
    }

    /// Every link tied to a node, as CLUSTER LINKS lists them: per node (in table order) its
    /// outbound link, then its inbound one.
    pub fn links(&self) -> Vec<LinkInfo> {
        let mut links = Vec::new();
        for name in self.state.nodes.keys() {
            if let Some(l) = self.runtime.get(name).and_then(|rt| rt.link) {
                let connected = self.state.nodes.get(name).is_some_and(|n| n.link_connected);
                links.push(LinkInfo { link: LinkId::Out(l.id), node: *name, ctime_ms: l.ctime_ms, connected });
            }
            if let Some(&(id, ctime_ms)) = self.inbound_links.get(name) {
                links.push(LinkInfo { link: LinkId::In(id), node: *name, ctime_ms, connected: true });
            }
        }
        links
    }

    /// Whether we hold an outbound link to `node`, connected or still connecting: what
    /// CLUSTER NODES prints as `connected` (Redis's `node->link != NULL`).
    pub fn has_link(&self, node: &NodeName) -> bool {
        self.runtime.get(node).is_some_and(|rt| rt.link.is_some())
    }

    /// Each owner's slots as ascending `(first, last)` runs, from the per-node bitmaps (the
    /// same as `state.slot_ranges()`, which walks the owner table, at a fraction of the cost).
    pub fn slot_ranges(&self) -> BTreeMap<NodeName, Vec<(u16, u16)>> {
        self.node_slots
            .iter()
            .filter(|(name, _)| self.slot_counts.get(*name).is_some_and(|&n| n > 0))
            .map(|(name, bits)| (*name, bits.runs()))
            .collect()
    }

    /// Maximal runs of slots with one owner in slot order, `(first, last, owner)`: the same as
    /// `state.slot_runs()`, from the bitmaps.
    pub fn slot_runs(&self) -> Vec<(u16, u16, NodeName)> {
        let mut runs: Vec<(u16, u16, NodeName)> = self
            .slot_ranges()
            .into_iter()
            .flat_map(|(owner, ranges)| ranges.into_iter().map(move |(first, last)| (first, last, owner)))
            .collect();
        runs.sort_unstable_by_key(|r| r.0);
        runs
    }

    /// The nodes.conf content for the current state (`clusterSaveConfig`'s text).
    pub fn nodes_conf(&self) -> crate::nodes_conf::NodesConf {
        self.state.to_nodes_conf_with(self.slot_ranges())
    }

    /// Checks the machine's redundant bookkeeping against itself: each slot's owner matches the
    /// per-node bitmaps and counts, every owner and every migration peer is a known node, and
    /// myself is in the table. For tests: a failure names the first inconsistency.
    pub fn check_consistency(&self) -> Result<(), String> {
        let me = self.myself();
        if !self.state.nodes.contains_key(&me) {
            return Err(format!("myself {me} is not in the node table"));
        }
        let mut counts: BTreeMap<NodeName, usize> = BTreeMap::new();
        let mut bitmaps: BTreeMap<NodeName, SlotBitmap> = BTreeMap::new();
        for (first, last, owner) in self.state.slot_runs() {
            if !self.state.nodes.contains_key(&owner) {
                return Err(format!("slot {first} is owned by unknown node {owner}"));
            }
            let bits = bitmaps.entry(owner).or_default();
            for slot in first..=last {
                bits.set(slot, true);
            }
            *counts.entry(owner).or_default() += usize::from(last - first) + 1;
        }
        if self.slot_ranges() != self.state.slot_ranges() {
            return Err("the bitmaps' slot ranges differ from the owner table's".into());
        }
        let empty = SlotBitmap::default();
        for name in bitmaps.keys().chain(self.node_slots.keys()) {
            let expected = bitmaps.get(name).unwrap_or(&empty);
            let kept = self.node_slots.get(name).unwrap_or(&empty);
            if expected != kept {
                return Err(format!("{name}'s bitmap {kept:?} differs from the owners table {expected:?}"));
            }
        }
        for (name, &count) in &self.slot_counts {
            if counts.get(name).copied().unwrap_or(0) != count {
                return Err(format!("{name} counted {count} slots, owns {}", counts.get(name).copied().unwrap_or(0)));
            }
        }
        for (name, count) in &counts {
            if self.slot_counts.get(name) != Some(count) {
                return Err(format!("{name} owns {count} slots, counted {:?}", self.slot_counts.get(name)));
            }
        }
        for (slot, peer) in self.state.migrating_to.iter().chain(self.state.importing_from.iter()) {
            if !self.state.nodes.contains_key(peer) {
                return Err(format!("slot {slot} migrates to/from unknown node {peer}"));
            }
        }
        if self.runtime.keys().any(|n| !self.state.nodes.contains_key(n)) {
            return Err("runtime data for a node not in the table".into());
        }
        Ok(())
    }

    /// A packet of type `msg_type` arrived but did not decode (bad length, version, ...). Redis
    /// counts every packet in CLUSTER INFO before its sanity checks, so the server reports
    /// these here to keep the counters equal to Redis's.
    pub fn note_undecodable_message(&mut self, msg_type: u16) {
        if let Some(count) = self.stats_received.get_mut(usize::from(msg_type)) {
            *count += 1;
        }
    }

    /// The server's replication offset, for our headers (`clusterBuildMessageHdr`): the master's
    /// `master_repl_offset`, or the offset a replica has processed. Call it whenever it moves
    /// (at least before each cron tick).
    pub fn set_repl_offset(&mut self, offset: u64) {
        self.my_repl_offset = offset;
    }

    /// Inbound link `link` is gone: CLUSTER LINKS stops listing it.
    pub fn inbound_link_closed(&mut self, link: u64) {
        self.inbound_links.retain(|_, &mut (id, _)| id != link);
    }

    /// `DEBUG CLUSTERLINK KILL`: `freeClusterLink` on our link to `node` (`to`), on its link to
    /// us (`from`), or both. Nothing else changes: our cron reconnects ours as after any lost
    /// link, and the peer reconnects its own. `None` when `node` is unknown.
    pub fn debug_kill_links(&mut self, node: &NodeName, to: bool, from: bool, now_ms: u64) -> Option<Vec<Action>> {
        if !self.state.nodes.contains_key(node) {
            return None;
        }
        if to {
            self.free_link(node);
        }
        if from {
            if let Some((link, _)) = self.inbound_links.remove(node) {
                self.actions.push(Action::CloseInbound { link });
            }
        }
        Some(self.take_actions(now_ms))
    }

    /// `clusterBlacklistAddNode`: keep `node` out of the table for `BLACKLIST_TTL_MS`.
    pub(crate) fn cluster_blacklist_add_node(&mut self, node: NodeName, now_ms: u64) {
        self.blacklist.retain(|_, &mut until_ms| until_ms >= now_ms);
        self.blacklist.insert(node, now_ms + BLACKLIST_TTL_MS);
    }

    /// `clusterBlacklistExists`.
    pub fn cluster_blacklist_exists(&self, node: &NodeName, now_ms: u64) -> bool {
        self.blacklist.get(node).is_some_and(|&until_ms| until_ms >= now_ms)
    }

    pub(crate) fn flags(&self, node: &NodeName) -> NodeFlags {
        self.state.nodes.get(node).map_or(NodeFlags::empty(), |n| n.flags)
    }

    pub(crate) fn is_master(&self, node: &NodeName) -> bool {
        self.flags(node).contains(NodeFlags::MASTER)
    }

    pub(crate) fn in_handshake(&self, node: &NodeName) -> bool {
        self.flags(node).contains(NodeFlags::HANDSHAKE)
    }

    pub(crate) fn take_actions(&mut self, now_ms: u64) -> Vec<Action> {
        if !self.lost_channel_slots.is_empty() {
            let mut slots = std::mem::take(&mut self.lost_channel_slots);
            slots.sort_unstable();
            slots.dedup();
            self.actions.push(Action::DropSlotChannels { slots });
        }
        // clusterBeforeSleep: state first (it may ask for a save), then the save.
        if self.todo.update_state {
            self.todo.update_state = false;
            self.cluster_update_state(now_ms);
        }
        if self.todo.save {
            self.actions.push(Action::SaveConfig { fsync: self.todo.fsync });
        }
        self.todo = Todo::default();
        for action in &self.actions {
            if let Action::Send { msg, .. } = action {
                if let Some(count) = self.stats_sent.get_mut(usize::from(msg.body.msg_type())) {
                    *count += 1;
                }
            }
        }
        std::mem::take(&mut self.actions)
    }

    pub(crate) fn do_before_sleep(&mut self, save: bool, fsync: bool, update_state: bool) {
        self.todo.save |= save;
        self.todo.fsync |= fsync;
        self.todo.update_state |= update_state;
    }

    // ---- node table --------------------------------------------------------------------------

    /// `clusterAddNode`; false (nothing added) when the table is at `MAX_KNOWN_NODES`.
    pub(crate) fn add_node(&mut self, name: NodeName, node: crate::state::Node, now_ms: u64) -> bool {
        if self.state.nodes.len() >= MAX_KNOWN_NODES {
            return false;
        }
        self.state.nodes.insert(name, node);
        self.runtime.insert(name, NodeRuntime { ctime_ms: now_ms, ..Default::default() });
        true
    }

    /// `clusterDelNode`: forget the node, its slots, its link and the reports it made.
    pub(crate) fn del_node(&mut self, name: &NodeName) {
        self.del_node_slots(name);
        self.state.migrating_to.retain(|_, n| n != name);
        self.state.importing_from.retain(|_, n| n != name);
        for rt in self.runtime.values_mut() {
            rt.fail_reports.remove(name);
        }
        if let Some(link) = self.runtime.remove(name).and_then(|rt| rt.link) {
            self.actions.push(Action::Close { link: link.id });
        }
        self.inbound_links.remove(name);
        // freeClusterNode: its replicas no longer have a master we know.
        for node in self.state.nodes.values_mut() {
            if node.master.as_ref() == Some(name) {
                node.master = None;
            }
        }
        self.node_slots.remove(name);
        self.slot_counts.remove(name);
        self.state.nodes.remove(name);
    }

    /// `clusterRenameNode`: the handshake node takes the name its peer announced; its link and
    /// runtime move with it.
    fn rename_node(&mut self, from: &NodeName, to: NodeName) {
        if let Some(node) = self.state.nodes.remove(from) {
            self.state.nodes.insert(to, node);
        }
        if let Some(rt) = self.runtime.remove(from) {
            self.runtime.insert(to, rt);
        }
    }

    /// `freeClusterLink` on a node's outbound link.
    pub(crate) fn free_link(&mut self, name: &NodeName) {
        if let Some(link) = self.runtime.get_mut(name).and_then(|rt| rt.link.take()) {
            self.actions.push(Action::Close { link: link.id });
        }
        if let Some(node) = self.state.nodes.get_mut(name) {
            node.link_connected = false;
        }
    }

    fn node_by_link(&self, link: u64) -> Option<NodeName> {
        self.runtime.iter().find(|(_, rt)| rt.link.map(|l| l.id) == Some(link)).map(|(name, _)| *name)
    }

    pub(crate) fn add_slot(&mut self, node: NodeName, slot: u16) {
        self.del_slot(slot);
        self.state.slot_owner[usize::from(slot)] = Some(node);
        self.node_slots.entry(node).or_default().set(slot, true);
        let count = self.slot_counts.entry(node).or_default();
        *count += 1;
        if *count == 1 {
            self.note_first_slot(node);
        }
    }

    /// `clusterNodeSetSlotBit`'s rule: a master getting its first slot while some master has
    /// replicas becomes a replica-migration target, so a new master is not left without one.
    fn note_first_slot(&mut self, node: NodeName) {
        let masters_have_replicas = self
            .state
            .nodes
            .values()
            .any(|n| n.flags.contains(NodeFlags::SLAVE) && n.master.is_some_and(|m| self.is_master(&m)));
        if masters_have_replicas {
            if let Some(n) = self.state.nodes.get_mut(&node) {
                n.flags.insert(NodeFlags::MIGRATE_TO);
            }
        }
    }

    /// `clusterDelSlot` + `clusterAddSlot(to, slot)` for many slots at once: one bitmap and
    /// count update per previous owner rather than several node-table lookups per slot.
    pub(crate) fn reassign_slots(&mut self, to: NodeName, slots: &[u16]) {
        let mut previous: BTreeMap<NodeName, Vec<u16>> = BTreeMap::new();
        // Runs of slots share an owner: group them without a map lookup per slot.
        let mut run: Option<(NodeName, Vec<u16>)> = None;
        for &slot in slots {
            let Some(cell) = self.state.slot_owner.get_mut(usize::from(slot)) else { continue };
            let Some(old) = cell.replace(to).filter(|old| *old != to) else { continue };
            match &mut run {
                Some((name, lost)) if *name == old => lost.push(slot),
                _ => {
                    if let Some((name, lost)) = run.replace((old, vec![slot])) {
                        previous.entry(name).or_default().extend(lost);
                    }
                }
            }
        }
        if let Some((name, lost)) = run {
            previous.entry(name).or_default().extend(lost);
        }
        for (old, lost) in previous {
            let ours = self.serves_my_slots(&old);
            if let Some(bits) = self.node_slots.get_mut(&old) {
                for &slot in &lost {
                    bits.set(slot, false);
                }
            }
            if let Some(count) = self.slot_counts.get_mut(&old) {
                *count = count.saturating_sub(lost.len());
            }
            if ours {
                self.lost_channel_slots.extend_from_slice(&lost);
            }
        }
        let bits = self.node_slots.entry(to).or_default();
        let mut added = 0usize;
        for &slot in slots {
            if usize::from(slot) < CLUSTER_SLOTS && !bits.get(slot) {
                bits.set(slot, true);
                added += 1;
            }
        }
        let count = self.slot_counts.entry(to).or_default();
        let first = *count == 0 && added > 0;
        *count += added;
        if first {
            self.note_first_slot(to);
        }
    }

    pub(crate) fn del_slot(&mut self, slot: u16) {
        if let Some(owner) = self.state.slot_owner[usize::from(slot)].take() {
            if self.serves_my_slots(&owner) {
                self.lost_channel_slots.push(slot);
            }
            if let Some(bits) = self.node_slots.get_mut(&owner) {
                bits.set(slot, false);
            }
            if let Some(count) = self.slot_counts.get_mut(&owner) {
                *count = count.saturating_sub(1);
            }
        }
    }

    /// `clusterDelNodeSlots`.
    pub(crate) fn del_node_slots(&mut self, node: &NodeName) {
        self.slot_counts.remove(node);
        let ours = self.serves_my_slots(node);
        if let Some(bits) = self.node_slots.remove(node) {
            for slot in bits.iter() {
                self.state.slot_owner[usize::from(slot)] = None;
                if ours {
                    self.lost_channel_slots.push(slot);
                }
            }
        }
    }

    /// Whether `owner`'s slots are served by us: it is us, or the master we replicate
    /// (`clusterGetNodesServingMySlots(owner)` contains myself).
    fn serves_my_slots(&self, owner: &NodeName) -> bool {
        let me = self.myself();
        *owner == me
            || (self.flags(&me).contains(NodeFlags::SLAVE)
                && self.state.nodes.get(&me).and_then(|n| n.master).as_ref() == Some(owner))
    }

    /// `clusterSetNodeAsMaster` for another node.
    fn set_node_as_master(&mut self, name: &NodeName) {
        let me = self.myself();
        let Some(node) = self.state.nodes.get_mut(name) else { return };
        if node.flags.contains(NodeFlags::MASTER) {
            return;
        }
        let old_master = node.master.take();
        node.flags.remove(NodeFlags::SLAVE);
        node.flags.insert(NodeFlags::MASTER);
        // A replica that took over its master's place is a migration target (it inherits the
        // expectation of having replicas).
        if old_master.is_some() && *name != me {
            node.flags.insert(NodeFlags::MIGRATE_TO);
        }
        if let Some(old) = old_master {
            self.clear_migrate_to_if_no_replicas(&old);
        }
        self.do_before_sleep(true, false, true);
    }

    // ---- commands ----------------------------------------------------------------------------

    /// CLUSTER subcommands. Errors carry Redis's reply text.
    pub fn handle_command(&mut self, cmd: Command, now_ms: u64) -> Result<Vec<Action>, CommandError> {
        match cmd {
            Command::Meet { ip, port, cport } => {
                // The bus port defaults to the client port + 10000 (`CLUSTER_PORT_INCR`).
                let cport = match cport.or_else(|| port.checked_add(10_000)) {
                    Some(cport) => cport,
                    None => return Err(CommandError::InvalidAddress { ip, port }),
                };
                self.cluster_start_handshake(&ip, port, cport, now_ms)?;
            }
            Command::AddSlots(slots) => {
                // All or nothing, as Redis checks every slot before assigning any.
                for &slot in &slots {
                    if usize::from(slot) >= CLUSTER_SLOTS {
                        return Err(CommandError::BadSlot);
                    }
                    if self.state.slot_owner[usize::from(slot)].is_some() {
                        return Err(CommandError::SlotBusy(slot));
                    }
                }
                let me = self.myself();
                for slot in slots {
                    self.add_slot(me, slot);
                }
                self.do_before_sleep(true, false, true);
            }
            Command::SetConfigEpoch(epoch) => {
                if self.state.nodes.len() > 1 {
                    return Err(CommandError::EpochWithPeers);
                }
                let me = self.myself();
                let node = self.state.nodes.get_mut(&me).ok_or(CommandError::EpochWithPeers)?;
                if node.config_epoch != 0 {
                    return Err(CommandError::EpochNonZero);
                }
                node.config_epoch = epoch;
                self.state.current_epoch = self.state.current_epoch.max(epoch);
                self.do_before_sleep(true, true, true);
            }
        }
        Ok(self.take_actions(now_ms))
    }

    /// `clusterStartHandshake`: a node with a random name and flags HANDSHAKE|MEET; `tick`
    /// connects to it and sends MEET. A handshake already under way to the same address is not
    /// duplicated.
    pub(crate) fn cluster_start_handshake(
        &mut self,
        ip: &str,
        port: u16,
        cport: u16,
        now_ms: u64,
    ) -> Result<(), CommandError> {
        let ip_ok = ip.parse::<std::net::IpAddr>().is_ok();
        if !ip_ok || port == 0 || cport == 0 {
            return Err(CommandError::InvalidAddress { ip: ip.to_string(), port });
        }
        // Redis normalises the text form of the address; parsing and printing does the same.
        let ip = ip.parse::<std::net::IpAddr>().map(|a| a.to_string()).unwrap_or_default();
        let pending = self.state.nodes.values().any(|n| {
            n.flags.contains(NodeFlags::HANDSHAKE)
                && n.ip.eq_ignore_ascii_case(&ip)
                && n.port == port
                && n.cport == cport
        });
        if pending {
            return Ok(());
        }
        let name = random_name(&mut self.rng);
        let node = crate::state::Node {
            ip,
            port,
            cport,
            flags: NodeFlags::HANDSHAKE.union(NodeFlags::MEET),
            ..Default::default()
        };
        if !self.add_node(name, node, now_ms) {
            return Err(CommandError::TooManyNodes);
        }
        Ok(())
    }

    // ---- links -------------------------------------------------------------------------------

    /// Outbound link `link` is up: send MEET or PING (`clusterLinkConnectHandler`).
    pub fn link_connected(&mut self, link: u64, now_ms: u64) -> Vec<Action> {
        if let Some(name) = self.node_by_link(link) {
            if let Some(node) = self.state.nodes.get_mut(&name) {
                node.link_connected = true;
            }
            let old_ping_sent_ms = self.state.nodes.get(&name).map_or(0, |n| n.ping_sent_ms);
            let meet = self.flags(&name).contains(NodeFlags::MEET);
            self.send_ping(LinkId::Out(link), Some(name), if meet { PingKind::Meet } else { PingKind::Ping }, now_ms);
            if let Some(node) = self.state.nodes.get_mut(&name) {
                // A ping in flight before the link broke keeps its age: failure detection
                // measures from the first unanswered ping, not the latest reconnect.
                if old_ping_sent_ms != 0 {
                    node.ping_sent_ms = old_ping_sent_ms;
                }
                node.flags.remove(NodeFlags::MEET);
            }
        } else {
            // Its node was deleted (handshake expired) while connecting: nobody will use it.
            self.actions.push(Action::Close { link });
        }
        self.take_actions(now_ms)
    }

    /// Outbound link `link` failed to connect or broke.
    ///
    /// If no ping is in flight we count one as sent now, as Redis does on a synchronous connect
    /// error: otherwise a node that refuses connections would never time out. (Redis skips this
    /// on an asynchronous connect error; we do not distinguish the two, and doing it always only
    /// starts the failure clock at the first failed attempt.)
    pub fn link_closed(&mut self, link: u64, now_ms: u64) -> Vec<Action> {
        if let Some(name) = self.node_by_link(link) {
            if let Some(rt) = self.runtime.get_mut(&name) {
                rt.link = None;
            }
            if let Some(node) = self.state.nodes.get_mut(&name) {
                node.link_connected = false;
                if node.ping_sent_ms == 0 {
                    node.ping_sent_ms = now_ms;
                }
            }
        }
        self.take_actions(now_ms)
    }

    // ---- building messages -------------------------------------------------------------------

    /// `clusterBuildMessageHdr`.
    pub(crate) fn build_header(&self) -> Header {
        let me = self.myself();
        let my_node = self.state.nodes.get(&me);
        let flags = my_node.map_or(NodeFlags::empty(), |n| n.flags);
        let my_master = my_node.and_then(|n| n.master);
        let master = if flags.contains(NodeFlags::SLAVE) { my_master.unwrap_or(me) } else { me };
        let config_epoch = self.state.nodes.get(&master).map_or(0, |n| n.config_epoch);
        let myslots = Box::new(self.node_slots.get(&master).cloned().unwrap_or_default());
        let myip = self.config.announce_ip.as_deref().and_then(IpField::new).unwrap_or_default();
        Header {
            port: self.config.port,
            current_epoch: self.state.current_epoch,
            config_epoch,
            repl_offset: self.my_repl_offset,
            sender: me,
            myslots,
            replicaof: my_master,
            myip,
            pport: self.config.pport,
            cport: self.config.cport,
            flags,
            state: if self.cluster_ok { 0 } else { 1 },
            mflags: [self.header_mflags0(), 0, 0],
        }
    }

    /// `clusterSetGossipEntry`.
    fn gossip_entry(&self, name: &NodeName) -> Option<GossipEntry> {
        let node = self.state.nodes.get(name)?;
        Some(GossipEntry {
            node: *name,
            // Seconds fit u32 until 2106; Redis truncates the same way.
            ping_sent_s: (node.ping_sent_ms / 1000) as u32,
            pong_received_s: (node.pong_received_ms / 1000) as u32,
            ip: IpField::new(&node.ip).unwrap_or_default(),
            port: node.port,
            cport: node.cport,
            flags: node.flags,
            pport: node.pport,
        })
    }

    /// `clusterSendPing`: a PING/PONG/MEET with a gossip section of about a tenth of the known
    /// nodes (at least 3), chosen at random among those worth telling about, plus every PFAIL
    /// node (so failure reports spread fast).
    pub(crate) fn send_ping(&mut self, link: LinkId, to: Option<NodeName>, kind: PingKind, now_ms: u64) {
        let me = self.myself();
        let total = self.state.nodes.len();
        let mut freshnodes = total.saturating_sub(2);
        let wanted = (total / 10).max(3).min(freshnodes);
        if let (LinkId::Out(_), Some(name), PingKind::Ping) = (link, to, kind) {
            if let Some(node) = self.state.nodes.get_mut(&name) {
                node.ping_sent_ms = now_ms;
            }
        }
        let header = self.build_header();
        let names: Vec<NodeName> = self.state.nodes.keys().copied().collect();
        let mut chosen: Vec<NodeName> = Vec::with_capacity(wanted);
        let mut gossip = Vec::with_capacity(wanted + self.pfail_nodes);
        // Bounded as in Redis: three random draws per wanted entry.
        let mut iterations_left = wanted * 3;
        while freshnodes > 0 && gossip.len() < wanted && iterations_left > 0 {
            iterations_left -= 1;
            let Some(&name) = names.get(self.rng.below(names.len() as u64) as usize) else { break };
            if name == me {
                continue;
            }
            let flags = self.flags(&name);
            if flags.contains(NodeFlags::PFAIL) {
                continue;
            }
            let has_link = self.runtime.get(&name).is_some_and(|rt| rt.link.is_some());
            if flags.contains(NodeFlags::HANDSHAKE)
                || flags.contains(NodeFlags::NOADDR)
                || (!has_link && self.node_slot_count(&name) == 0)
            {
                freshnodes -= 1;
                continue;
            }
            if chosen.contains(&name) {
                continue;
            }
            chosen.push(name);
            gossip.extend(self.gossip_entry(&name));
            freshnodes -= 1;
        }
        let mut pfail_wanted = self.pfail_nodes;
        for name in &names {
            if pfail_wanted == 0 {
                break;
            }
            let flags = self.flags(name);
            if flags.contains(NodeFlags::HANDSHAKE)
                || flags.contains(NodeFlags::NOADDR)
                || !flags.contains(NodeFlags::PFAIL)
            {
                continue;
            }
            gossip.extend(self.gossip_entry(name));
            pfail_wanted -= 1;
        }
        // The hostname extension travels only when a hostname is set (`getHostnamePingExtSize`).
        let extensions = match self.config.announced_hostname() {
            Some(host) => vec![crate::bus::PingExt::Hostname(host.as_bytes().to_vec())],
            None => Vec::new(),
        };
        let ping = PingBody { gossip, extensions };
        let body = match kind {
            PingKind::Ping => Body::Ping(ping),
            PingKind::Pong => Body::Pong(ping),
            PingKind::Meet => Body::Meet(ping),
        };
        self.actions.push(Action::Send { link, msg: Box::new(Message { header, body }) });
    }

    /// `clusterBroadcastMessage`: to every node we hold a link to, except handshakes.
    pub(crate) fn broadcast(&mut self, body: Body) {
        let header = self.build_header();
        self.broadcast_with_header(header, body);
    }

    /// `broadcast` with a header the caller adjusted (FORCEACK).
    pub(crate) fn broadcast_with_header(&mut self, header: Header, body: Body) {
        let me = self.myself();
        let targets: Vec<u64> = self
            .runtime
            .iter()
            .filter(|(name, _)| **name != me && !self.in_handshake(name))
            .filter_map(|(_, rt)| rt.link.map(|l| l.id))
            .collect();
        for link in targets {
            let msg = Message { header: header.clone(), body: body.clone() };
            self.actions.push(Action::Send { link: LinkId::Out(link), msg: Box::new(msg) });
        }
    }

    /// `clusterPropagatePublish` / `clusterPropagatePublishShard`: a message published here goes
    /// to every node (PUBLISH) or to the other nodes of our shard — our master or ourselves and
    /// its replicas — (PUBLISHSHARD), over the links we hold.
    pub fn publish(&mut self, shard: bool, channel: &[u8], message: &[u8], now_ms: u64) -> Vec<Action> {
        let body = if shard {
            Body::PublishShard { channel: channel.to_vec(), message: message.to_vec() }
        } else {
            Body::Publish { channel: channel.to_vec(), message: message.to_vec() }
        };
        if !shard {
            self.broadcast(body);
        } else {
            let me = self.myself();
            let master = self.state.nodes.get(&me).and_then(|n| n.master).unwrap_or(me);
            let header = self.build_header();
            let targets: Vec<u64> = self
                .state
                .nodes
                .iter()
                .filter(|(name, n)| **name != me && (**name == master || n.master == Some(master)))
                .filter_map(|(name, _)| self.runtime.get(name).and_then(|rt| rt.link.map(|l| l.id)))
                .collect();
            for link in targets {
                let msg = Message { header: header.clone(), body: body.clone() };
                self.actions.push(Action::Send { link: LinkId::Out(link), msg: Box::new(msg) });
            }
        }
        self.take_actions(now_ms)
    }

    /// `clusterBroadcastPong` (to all nodes), used after our epoch or slots change.
    pub(crate) fn broadcast_pong(&mut self, now_ms: u64) {
        let me = self.myself();
        let targets: Vec<(NodeName, u64)> = self
            .runtime
            .iter()
            .filter(|(name, _)| **name != me && !self.in_handshake(name))
            .filter_map(|(name, rt)| rt.link.map(|l| (*name, l.id)))
            .collect();
        for (name, link) in targets {
            self.send_ping(LinkId::Out(link), Some(name), PingKind::Pong, now_ms);
        }
    }

    // ---- receiving ---------------------------------------------------------------------------

    /// `clusterProcessPacket` for a decoded message that arrived on `link`.
    pub fn handle_message(&mut self, link: LinkId, addrs: &LinkAddrs, msg: &Message, now_ms: u64) -> Vec<Action> {
        if let Some(count) = self.stats_received.get_mut(usize::from(msg.body.msg_type())) {
            *count += 1;
        }
        self.process_packet(link, addrs, msg, now_ms);
        self.take_actions(now_ms)
    }

    /// `nodeIp2String`: the announced ip, or the socket's peer address when none is announced.
    fn sender_ip(addrs: &LinkAddrs, header: &Header) -> String {
        if header.myip.text().is_empty() {
            addrs.peer_ip.clone()
        } else {
            ip_text(&header.myip)
        }
    }

    fn process_packet(&mut self, link: LinkId, addrs: &LinkAddrs, msg: &Message, now_ms: u64) {
        let hdr = &msg.header;
        let link_node = match link {
            LinkId::Out(id) => match self.node_by_link(id) {
                Some(name) => Some(name),
                // A link we already freed: Redis would not read from it any more.
                None => return,
            },
            LinkId::In(_) => None,
        };
        // getNodeFromLinkAndMsg.
        let sender = match link_node {
            Some(name) if !self.in_handshake(&name) => Some(name),
            _ => self.state.nodes.contains_key(&hdr.sender).then_some(hdr.sender),
        };
        if let Some(s) = sender {
            if let Some(rt) = self.runtime.get_mut(&s) {
                rt.data_received_ms = now_ms;
            }
            if let LinkId::In(id) = link {
                // setClusterNodeToInboundClusterLink: the newest inbound link wins.
                if self.inbound_links.get(&s).is_none_or(|&(known, _)| known != id) {
                    self.inbound_links.insert(s, (id, now_ms));
                }
            }
        }
        let sender_config_epoch = hdr.config_epoch;
        if let Some(s) = sender.filter(|s| !self.in_handshake(s)) {
            if hdr.current_epoch > self.state.current_epoch {
                self.state.current_epoch = hdr.current_epoch;
                // Saved (Redis does not) so that currentEpoch never goes back across a
                // restart: epochs change rarely, and a node that forgot one would ask for
                // votes in an epoch others consider past.
                self.do_before_sleep(true, false, false);
            }
            if let Some(node) = self.state.nodes.get_mut(&s) {
                if sender_config_epoch > node.config_epoch {
                    node.config_epoch = sender_config_epoch;
                    self.do_before_sleep(true, true, false);
                }
            }
            if let Some(rt) = self.runtime.get_mut(&s) {
                rt.repl_offset = hdr.repl_offset;
            }
            self.note_paused_master_offset(s, hdr, now_ms);
        }

        match &msg.body {
            Body::Ping(ping) | Body::Meet(ping) => {
                let is_meet = matches!(msg.body, Body::Meet(_));
                self.process_ping_or_meet(link, addrs, msg, sender, is_meet, ping, now_ms);
                self.process_ping_pong_meet(link, link_node, addrs, msg, sender, false, ping, now_ms);
            }
            Body::Pong(ping) => {
                self.process_ping_pong_meet(link, link_node, addrs, msg, sender, true, ping, now_ms);
            }
            Body::Fail { node } => {
                let Some(_) = sender else { return };
                let flags = self.flags(node);
                if self.state.nodes.contains_key(node)
                    && !flags.contains(NodeFlags::FAIL)
                    && !flags.contains(NodeFlags::MYSELF)
                {
                    if let Some(n) = self.state.nodes.get_mut(node) {
                        n.flags.insert(NodeFlags::FAIL);
                        n.flags.remove(NodeFlags::PFAIL);
                        n.fail_time_ms = now_ms;
                    }
                    self.do_before_sleep(true, false, true);
                    self.start_failover_if_my_master(node, now_ms);
                }
            }
            Body::Update { config_epoch, node, slots } => {
                let Some(_) = sender else { return };
                let Some(known) = self.state.nodes.get(node) else { return };
                if known.config_epoch >= *config_epoch {
                    return;
                }
                if known.flags.contains(NodeFlags::SLAVE) {
                    self.set_node_as_master(node);
                }
                if let Some(n) = self.state.nodes.get_mut(node) {
                    n.config_epoch = *config_epoch;
                }
                self.cluster_update_slots_config_with(*node, *config_epoch, slots);
            }
            // Redis delivers pub/sub messages only from nodes it knows.
            Body::Publish { channel, message } | Body::PublishShard { channel, message } if sender.is_some() => {
                let shard = matches!(msg.body, Body::PublishShard { .. });
                self.actions.push(Action::Deliver { shard, channel: channel.clone(), message: message.clone() });
            }
            Body::FailoverAuthRequest => {
                if let Some(s) = sender {
                    self.cluster_send_failover_auth_if_needed(s, hdr, now_ms);
                }
            }
            Body::FailoverAuthAck => {
                if let Some(s) = sender {
                    self.handle_failover_auth_ack(s, hdr, now_ms);
                }
            }
            Body::MfStart => {
                if let Some(s) = sender {
                    self.handle_mfstart(link, s, now_ms);
                }
            }
            // Module messages belong to a later layer.
            _ => {}
        }
    }

    /// The PING/MEET-only part: learn our own address, adopt an unknown MEETing node as a
    /// handshake node, and answer with a PONG on the same link.
    #[allow(clippy::too_many_arguments)]
    fn process_ping_or_meet(
        &mut self,
        link: LinkId,
        addrs: &LinkAddrs,
        msg: &Message,
        sender: Option<NodeName>,
        is_meet: bool,
        ping: &PingBody,
        now_ms: u64,
    ) {
        let me = self.myself();
        let my_ip_unknown = self.state.nodes.get(&me).is_none_or(|n| n.ip.is_empty());
        if (is_meet || my_ip_unknown) && self.config.announce_ip.is_none() && !addrs.local_ip.is_empty() {
            if let Some(node) = self.state.nodes.get_mut(&me) {
                if node.ip != addrs.local_ip {
                    node.ip.clone_from(&addrs.local_ip);
                    self.do_before_sleep(true, false, false);
                }
            }
        }
        if sender.is_none() && is_meet {
            let hdr = &msg.header;
            let name = random_name(&mut self.rng);
            let node = crate::state::Node {
                ip: Self::sender_ip(addrs, hdr),
                port: hdr.port,
                pport: hdr.pport,
                cport: hdr.cport,
                flags: NodeFlags::HANDSHAKE,
                ..Default::default()
            };
            if self.add_node(name, node, now_ms) {
                self.do_before_sleep(true, false, false);
            }
            // Trusted because it is a MEET: with no known sender this only refreshes pong times.
            self.cluster_process_gossip_section(link, msg, &ping.gossip, now_ms);
        }
        self.send_ping(link, None, PingKind::Pong, now_ms);
    }

    /// The part of `clusterProcessPacket` shared by PING, PONG and MEET.
    #[allow(clippy::too_many_arguments)]
    fn process_ping_pong_meet(
        &mut self,
        link: LinkId,
        link_node: Option<NodeName>,
        addrs: &LinkAddrs,
        msg: &Message,
        sender: Option<NodeName>,
        is_pong: bool,
        ping: &PingBody,
        now_ms: u64,
    ) {
        let hdr = &msg.header;
        if let Some(link_node) = link_node {
            if self.in_handshake(&link_node) {
                if let Some(known) = sender {
                    // We already know this node under its real name: keep that entry.
                    if self.node_update_address_if_needed(&known, link, addrs, hdr) {
                        self.do_before_sleep(true, false, true);
                    }
                    self.del_node(&link_node);
                    return;
                }
                if !hdr.sender.is_valid() {
                    // Redis would adopt any 40 bytes; a name CLUSTER NODES cannot print or
                    // nodes.conf reload is refused instead (`verifyClusterNodeId`).
                    return;
                }
                self.rename_node(&link_node, hdr.sender);
                if let Some(node) = self.state.nodes.get_mut(&hdr.sender) {
                    node.flags.remove(NodeFlags::HANDSHAKE);
                    node.flags.insert(NodeFlags(hdr.flags.0 & (NodeFlags::MASTER.0 | NodeFlags::SLAVE.0)));
                }
                self.do_before_sleep(true, false, false);
            } else if link_node != hdr.sender {
                // The address now answers with another name: forget the address.
                if let Some(node) = self.state.nodes.get_mut(&link_node) {
                    node.flags.insert(NodeFlags::NOADDR);
                    node.ip.clear();
                    node.port = 0;
                    node.pport = 0;
                    node.cport = 0;
                }
                self.free_link(&link_node);
                self.do_before_sleep(true, false, false);
                return;
            }
        }
        // A handshake just completed leaves `sender` unknown for the rest of this packet, as in
        // Redis: its role, slots and gossip are taken from its next packet.

        if let Some(s) = sender {
            let nofailover = hdr.flags.contains(NodeFlags::NOFAILOVER);
            if let Some(node) = self.state.nodes.get_mut(&s) {
                node.flags.remove(NodeFlags::NOFAILOVER);
                if nofailover {
                    node.flags.insert(NodeFlags::NOFAILOVER);
                }
            }
            if !is_pong && !self.in_handshake(&s) && self.node_update_address_if_needed(&s, link, addrs, hdr) {
                self.do_before_sleep(true, false, true);
            }
        }

        if let (LinkId::Out(_), Some(name), true) = (link, link_node, is_pong) {
            let name = if self.state.nodes.contains_key(&name) { name } else { hdr.sender };
            let mut clear_fail = false;
            if let Some(node) = self.state.nodes.get_mut(&name) {
                node.pong_received_ms = now_ms;
                node.ping_sent_ms = 0;
                if node.flags.contains(NodeFlags::PFAIL) {
                    node.flags.remove(NodeFlags::PFAIL);
                    self.do_before_sleep(true, false, true);
                } else if node.flags.contains(NodeFlags::FAIL) {
                    clear_fail = true;
                }
            }
            if clear_fail {
                self.clear_node_failure_if_needed(&name, now_ms);
            }
        }

        let Some(sender) = sender else { return };

        // Role: the header says whose replica the sender is, if anyone's.
        match hdr.replicaof {
            None => self.set_node_as_master(&sender),
            Some(master) => {
                if self.is_master(&sender) {
                    self.del_node_slots(&sender);
                    if let Some(node) = self.state.nodes.get_mut(&sender) {
                        node.flags.remove(NodeFlags::MASTER);
                        node.flags.remove(NodeFlags::MIGRATE_TO);
                        node.flags.insert(NodeFlags::SLAVE);
                    }
                    self.do_before_sleep(true, false, true);
                }
                let master_known = self.state.nodes.contains_key(&master);
                let mut old_master = None;
                let mut changed = false;
                if let Some(node) = self.state.nodes.get_mut(&sender) {
                    if master_known && node.master != Some(master) {
                        old_master = node.master.replace(master);
                        changed = true;
                        self.do_before_sleep(true, false, false);
                    }
                }
                if changed {
                    // clusterNodeAddSlave / clusterNodeRemoveSlave: MIGRATE_TO follows.
                    if let Some(m) = self.state.nodes.get_mut(&master) {
                        m.flags.insert(NodeFlags::MIGRATE_TO);
                    }
                    if let Some(old) = old_master {
                        self.clear_migrate_to_if_no_replicas(&old);
                    }
                }
            }
        }

        // Slots: compare what the sender (or its master) claims with our view.
        let sender_master =
            if self.is_master(&sender) { Some(sender) } else { self.state.nodes.get(&sender).and_then(|n| n.master) };
        let dirty_slots = sender_master.is_some_and(|m| {
            let ours = self.node_slots.get(&m);
            match ours {
                Some(bits) => bits.0 != hdr.myslots.0,
                None => hdr.myslots.count() != 0,
            }
        });
        if dirty_slots && self.is_master(&sender) {
            self.cluster_update_slots_config_with(sender, hdr.config_epoch, &hdr.myslots);
        }
        if dirty_slots {
            self.send_update_if_stale(sender, hdr);
        }

        let me = self.myself();
        let my_epoch = self.state.nodes.get(&me).map_or(0, |n| n.config_epoch);
        if self.is_master(&me) && self.is_master(&sender) && hdr.config_epoch == my_epoch {
            self.cluster_handle_config_epoch_collision(&sender);
        }

        self.cluster_process_gossip_section(link, msg, &ping.gossip, now_ms);
        self.cluster_process_ping_extensions(&sender, ping);
    }

    /// `clusterProcessPingExtensions`: the sender's hostname is whatever its hostname extension
    /// says, and none when it sent none (7.0 sends it on every PING/PONG/MEET when set). A
    /// hostname that is not UTF-8 or holds a space or comma is ignored: CLUSTER NODES and
    /// nodes.conf could not print it back unambiguously. (Redis takes any bytes.)
    fn cluster_process_ping_extensions(&mut self, sender: &NodeName, ping: &PingBody) {
        let mut hostname: Option<&[u8]> = None;
        for ext in &ping.extensions {
            if let crate::bus::PingExt::Hostname(bytes) = ext {
                hostname = Some(bytes);
            }
        }
        let new = match hostname {
            Some(bytes) => match std::str::from_utf8(bytes) {
                Ok(text) if !text.bytes().any(|b| b == b' ' || b == b',' || b.is_ascii_control()) => {
                    Some(text.to_string()).filter(|t| !t.is_empty())
                }
                _ => return,
            },
            None => None,
        };
        if let Some(node) = self.state.nodes.get_mut(sender) {
            if node.hostname != new {
                node.hostname = new;
            }
        }
    }

    /// The reverse check: the sender claims a slot whose owner (per us) has a greater
    /// configEpoch, so its view is stale; tell it with an UPDATE about that owner (only the
    /// first such slot per packet, as Redis).
    fn send_update_if_stale(&mut self, sender: NodeName, hdr: &Header) {
        // Redis walks the claimed slots in order and stops at the first whose owner is newer.
        // Equivalently: among the owners newer than the sender (usually none), the one whose
        // slots meet the claim lowest. Bitmaps per owner rather than 16384 owner lookups.
        let mut stale_owner: Option<(usize, NodeName)> = None;
        for (owner, bits) in &self.node_slots {
            if *owner == sender || self.state.nodes.get(owner).map_or(0, |n| n.config_epoch) <= hdr.config_epoch {
                continue;
            }
            let first = (0..crate::types::SLOT_BITMAP_LEN).find_map(|byte| {
                let meet = hdr.myslots.0[byte] & bits.0[byte] & !self.owner_not_claiming.0[byte];
                (meet != 0).then(|| byte * 8 + meet.trailing_zeros() as usize)
            });
            if let Some(slot) = first {
                if stale_owner.is_none_or(|(lowest, _)| slot < lowest) {
                    stale_owner = Some((slot, *owner));
                }
            }
        }
        let Some((_, owner)) = stale_owner else { return };
        let Some(link) = self.runtime.get(&sender).and_then(|rt| rt.link) else { return };
        let config_epoch = self.state.nodes.get(&owner).map_or(0, |n| n.config_epoch);
        let mut slots = self.node_slots.get(&owner).cloned().unwrap_or_default();
        for slot in 0..CLUSTER_SLOTS as u16 {
            if self.owner_not_claiming.get(slot) {
                slots.set(slot, false);
            }
        }
        let msg = Message {
            header: self.build_header(),
            body: Body::Update { config_epoch, node: owner, slots: Box::new(slots) },
        };
        self.actions.push(Action::Send { link: LinkId::Out(link.id), msg: Box::new(msg) });
    }

    /// `nodeUpdateAddressIfNeeded`: a known node now speaks from another address (not on our own
    /// link to it, which proves nothing): take the new address and reconnect.
    fn node_update_address_if_needed(
        &mut self,
        name: &NodeName,
        link: LinkId,
        addrs: &LinkAddrs,
        hdr: &Header,
    ) -> bool {
        if *name == self.myself() {
            return false;
        }
        let own_link = self.runtime.get(name).and_then(|rt| rt.link).map(|l| LinkId::Out(l.id));
        if own_link == Some(link) {
            return false;
        }
        let ip = Self::sender_ip(addrs, hdr);
        let Some(node) = self.state.nodes.get_mut(name) else { return false };
        if node.port == hdr.port && node.cport == hdr.cport && node.pport == hdr.pport && node.ip == ip {
            return false;
        }
        node.ip = ip;
        node.port = hdr.port;
        node.pport = hdr.pport;
        node.cport = hdr.cport;
        node.flags.remove(NodeFlags::NOADDR);
        self.free_link(name);
        true
    }

    /// `clusterProcessGossipSection`.
    fn cluster_process_gossip_section(&mut self, link: LinkId, msg: &Message, gossip: &[GossipEntry], now_ms: u64) {
        let me = self.myself();
        let link_node = match link {
            LinkId::Out(id) => self.node_by_link(id),
            LinkId::In(_) => None,
        };
        let sender =
            link_node.or_else(|| self.state.nodes.contains_key(&msg.header.sender).then_some(msg.header.sender));
        let sender_is_master = sender.is_some_and(|s| self.is_master(&s));
        for g in gossip {
            let flags = g.flags;
            let failing = flags.contains(NodeFlags::PFAIL) || flags.contains(NodeFlags::FAIL);
            if self.state.nodes.contains_key(&g.node) {
                if let (Some(s), true) = (sender, sender_is_master) {
                    if g.node != me {
                        if failing {
                            if let Some(rt) = self.runtime.get_mut(&g.node) {
                                rt.fail_reports.insert(s, now_ms);
                            }
                            self.mark_node_as_failing_if_needed(&g.node, now_ms);
                        } else if let Some(rt) = self.runtime.get_mut(&g.node) {
                            rt.fail_reports.remove(&s);
                        }
                    }
                }
                let report_count = self.failure_report_count(&g.node, now_ms);
                if let Some(node) = self.state.nodes.get_mut(&g.node) {
                    if !failing && node.ping_sent_ms == 0 && report_count == 0 {
                        let pong_ms = u64::from(g.pong_received_s) * 1000;
                        if pong_ms <= now_ms + GOSSIP_PONG_FUTURE_TOLERANCE_MS && pong_ms > node.pong_received_ms {
                            node.pong_received_ms = pong_ms;
                        }
                    }
                }
                let node_failing =
                    self.flags(&g.node).contains(NodeFlags::PFAIL) || self.flags(&g.node).contains(NodeFlags::FAIL);
                let g_ip = ip_text(&g.ip);
                let moved = self
                    .state
                    .nodes
                    .get(&g.node)
                    .is_some_and(|n| !n.ip.eq_ignore_ascii_case(&g_ip) || n.port != g.port || n.cport != g.cport);
                if node_failing && !flags.contains(NodeFlags::NOADDR) && !failing && moved {
                    self.free_link(&g.node);
                    if let Some(node) = self.state.nodes.get_mut(&g.node) {
                        node.ip = g_ip;
                        node.port = g.port;
                        node.pport = g.pport;
                        node.cport = g.cport;
                        node.flags.remove(NodeFlags::NOADDR);
                    }
                }
            } else if sender.is_some()
                && !flags.contains(NodeFlags::NOADDR)
                && g.node.is_valid()
                && !self.cluster_blacklist_exists(&g.node, now_ms)
            {
                // Redis 7.0 adds a node gossiped by a known node directly, under its real name
                // and flags (not a handshake to the address, which might by now belong to
                // another cluster), unless CLUSTER FORGET blacklisted it.
                let node = crate::state::Node {
                    ip: ip_text(&g.ip),
                    port: g.port,
                    pport: g.pport,
                    cport: g.cport,
                    flags,
                    ..Default::default()
                };
                // At the bound the entry is ignored, as a NOADDR one is.
                let _added = self.add_node(g.node, node, now_ms);
            }
        }
    }

    // ---- failure detection -------------------------------------------------------------------

    /// `markNodeAsFailingIfNeeded`: PFAIL becomes FAIL when, counting ourselves if we are a
    /// master, a majority of the masters that hold slots reported it within the validity window;
    /// then everyone is told.
    fn mark_node_as_failing_if_needed(&mut self, name: &NodeName, now_ms: u64) {
        let needed_quorum = self.cluster_size() / 2 + 1;
        let flags = self.flags(name);
        if !flags.contains(NodeFlags::PFAIL) || flags.contains(NodeFlags::FAIL) {
            return;
        }
        self.expire_fail_reports(name, now_ms);
        let mut failures = self.runtime.get(name).map_or(0, |rt| rt.fail_reports.len());
        if self.is_master(&self.myself()) {
            failures += 1;
        }
        if failures < needed_quorum {
            return;
        }
        if let Some(node) = self.state.nodes.get_mut(name) {
            node.flags.remove(NodeFlags::PFAIL);
            node.flags.insert(NodeFlags::FAIL);
            node.fail_time_ms = now_ms;
        }
        self.broadcast(Body::Fail { node: *name });
        self.do_before_sleep(true, false, true);
        self.start_failover_if_my_master(name, now_ms);
    }

    /// `clusterNodeCleanupFailureReports`.
    fn expire_fail_reports(&mut self, name: &NodeName, now_ms: u64) {
        let validity_ms = self.config.node_timeout_ms * FAIL_REPORT_VALIDITY_MULT;
        if let Some(rt) = self.runtime.get_mut(name) {
            rt.fail_reports.retain(|_, &mut t| now_ms.saturating_sub(t) <= validity_ms);
        }
    }

    /// `clearNodeFailureIfNeeded`: a replica or a slot-less master leaves FAIL as soon as it
    /// answers; a master with slots only after 2 × node timeout, when nobody took them over.
    fn clear_node_failure_if_needed(&mut self, name: &NodeName, now_ms: u64) {
        let is_master = self.is_master(name);
        let slots = self.node_slot_count(name);
        let timeout_ms = self.config.node_timeout_ms;
        let Some(node) = self.state.nodes.get_mut(name) else { return };
        let clear = if !is_master || slots == 0 {
            true
        } else {
            now_ms.saturating_sub(node.fail_time_ms) > timeout_ms * FAIL_UNDO_TIME_MULT
        };
        if clear {
            node.flags.remove(NodeFlags::FAIL);
            self.do_before_sleep(true, false, true);
        }
    }

    /// Masters with at least one slot (`server.cluster->size`). Computed on use rather than
    /// cached by `clusterUpdateState` as in Redis: the cached value can lag a slot change by one
    /// state update, and the quorum should not.
    pub(crate) fn cluster_size(&self) -> usize {
        self.state
            .nodes
            .iter()
            .filter(|(name, n)| n.flags.contains(NodeFlags::MASTER) && self.node_slot_count(name) > 0)
            .count()
    }

    /// `clusterCron`: call every `CRON_PERIOD_MS`.
    pub fn tick(&mut self, now_ms: u64) -> Vec<Action> {
        self.cron_iteration += 1;
        // A bus thread that could not run for a while has messages waiting unread: the silence
        // it sees is its own, not its peers'. It judges silence again from the next run on.
        self.ticks_on_time =
            self.last_tick_ms.is_some_and(|last_ms| now_ms.saturating_sub(last_ms) <= MINORITY_QUIET_STALL_MS);
        self.last_tick_ms = Some(now_ms);
        let timeout_ms = self.config.node_timeout_ms;
        let handshake_timeout_ms = timeout_ms.max(1000);
        self.pfail_nodes = 0;
        let names: Vec<NodeName> = self.state.nodes.keys().copied().collect();
        for name in &names {
            let flags = self.flags(name);
            if flags.contains(NodeFlags::MYSELF) || flags.contains(NodeFlags::NOADDR) {
                continue;
            }
            if flags.contains(NodeFlags::PFAIL) {
                self.pfail_nodes += 1;
            }
            let ctime_ms = self.runtime.get(name).map_or(now_ms, |rt| rt.ctime_ms);
            if flags.contains(NodeFlags::HANDSHAKE) && now_ms.saturating_sub(ctime_ms) > handshake_timeout_ms {
                self.del_node(name);
                continue;
            }
            let has_link = self.runtime.get(name).is_some_and(|rt| rt.link.is_some());
            if !has_link {
                let id = self.next_link_id;
                self.next_link_id += 1;
                if let Some(rt) = self.runtime.get_mut(name) {
                    rt.link = Some(OutLink { id, ctime_ms: now_ms });
                }
                if let Some(node) = self.state.nodes.get(name) {
                    self.actions.push(Action::Connect { link: id, ip: node.ip.clone(), cport: node.cport });
                }
            }
        }

        // Every second, ping one of five random nodes: the one we heard from longest ago.
        if self.cron_iteration.is_multiple_of(10) {
            let mut best: Option<(NodeName, u64)> = None;
            for _ in 0..5 {
                let Some(&name) = names.get(self.rng.below(names.len() as u64) as usize) else { break };
                let Some(node) = self.state.nodes.get(&name) else { continue };
                let has_link = self.runtime.get(&name).is_some_and(|rt| rt.link.is_some());
                if !has_link
                    || node.ping_sent_ms != 0
                    || node.flags.contains(NodeFlags::MYSELF)
                    || node.flags.contains(NodeFlags::HANDSHAKE)
                {
                    continue;
                }
                if best.is_none_or(|(_, pong)| pong > node.pong_received_ms) {
                    best = Some((name, node.pong_received_ms));
                }
            }
            if let Some((name, _)) = best {
                if let Some(link) = self.runtime.get(&name).and_then(|rt| rt.link) {
                    self.send_ping(LinkId::Out(link.id), Some(name), PingKind::Ping, now_ms);
                }
            }
        }

        for name in &names {
            let Some(node) = self.state.nodes.get(name) else { continue };
            let flags = node.flags;
            if flags.contains(NodeFlags::MYSELF)
                || flags.contains(NodeFlags::NOADDR)
                || flags.contains(NodeFlags::HANDSHAKE)
            {
                continue;
            }
            let (ping_sent_ms, pong_received_ms) = (node.ping_sent_ms, node.pong_received_ms);
            let Some(rt) = self.runtime.get(name) else { continue };
            let link = rt.link;
            let ping_delay_ms = now_ms.saturating_sub(ping_sent_ms);
            let data_delay_ms = now_ms.saturating_sub(rt.data_received_ms);
            // A connect still pending after a node timeout is abandoned and retried. Redis has
            // no such rule: it leaves the connect to the kernel's SYN retries (up to ~2 min),
            // and the rule below never fires while the peer's own link keeps `data_received`
            // fresh, so after a partition heals a master could stay FAIL in our view until the
            // kernel's next SYN. Peers cannot tell the difference except that we heal sooner.
            if let Some(l) = link {
                let connected = self.state.nodes.get(name).is_some_and(|n| n.link_connected);
                if !connected && now_ms.saturating_sub(l.ctime_ms) > timeout_ms {
                    self.free_link(name);
                }
            }
            let link = self.runtime.get(name).and_then(|rt| rt.link);
            // A link that pinged and heard nothing for half a timeout is probably dead
            // (a peer that lost our connection without a reset): reconnect.
            if let Some(l) = link {
                if now_ms.saturating_sub(l.ctime_ms) > timeout_ms
                    && ping_sent_ms != 0
                    && ping_delay_ms > timeout_ms / 2
                    && data_delay_ms > timeout_ms / 2
                {
                    self.free_link(name);
                }
            }
            let link = self.runtime.get(name).and_then(|rt| rt.link);
            // A link still connecting counts, as in Redis (its `node->link` is set when the
            // connect starts): the ping waits in the server's queue, and its time starts the
            // failure clock even if the connect hangs. (Rejected: pinging only connected links,
            // which left a node behind a black-holing partition unsuspected forever.)
            if let Some(l) = link {
                if ping_sent_ms == 0 && now_ms.saturating_sub(pong_received_ms) > timeout_ms / 2 {
                    self.send_ping(LinkId::Out(l.id), Some(*name), PingKind::Ping, now_ms);
                    continue;
                }
                // A master in a manual failover pings the replica every run (its offset).
                if self.mf.end_ms != 0 && self.mf.replica == Some(*name) && self.is_master(&self.myself()) {
                    self.send_ping(LinkId::Out(l.id), Some(*name), PingKind::Ping, now_ms);
                    continue;
                }
            }
            if ping_sent_ms == 0 {
                continue;
            }
            let node_delay_ms = ping_delay_ms.min(data_delay_ms);
            if node_delay_ms > timeout_ms && !flags.contains(NodeFlags::PFAIL) && !flags.contains(NodeFlags::FAIL) {
                if let Some(node) = self.state.nodes.get_mut(name) {
                    node.flags.insert(NodeFlags::PFAIL);
                }
                // Counted now, so the gossip of the pings below includes this node.
                self.pfail_nodes += 1;
                self.report_pfail_to_replicas(name, now_ms);
                // Masters' reports may have come before our own timeout did.
                self.mark_node_as_failing_if_needed(name, now_ms);
            }
        }
        self.failover_cron(now_ms);
        // Every run, not only when a flag changed (Redis's rule): a master's silence (see
        // `minority_quiet_ms`) changes no flag.
        self.cluster_update_state(now_ms);
        self.take_actions(now_ms)
    }

    /// A master that has just timed out `failed` pings the replicas of `failed` at once: the
    /// ping's gossip carries every PFAIL node, so a replica holds a majority of the masters'
    /// reports as soon as they time out, marks FAIL and broadcasts it, and its election can
    /// start. (Redis leaves the reports to ordinary gossip, which reaches a given node about
    /// every node timeout / 2: up to a second of a 2 s timeout spent waiting. Rejected: pinging
    /// every master instead, which costs masters² messages per failure where this costs
    /// masters × replicas, and only the replicas act on the news.)
    fn report_pfail_to_replicas(&mut self, failed: &NodeName, now_ms: u64) {
        if !self.is_master(&self.myself()) || !self.is_master(failed) {
            return;
        }
        for replica in self.replicas_of(failed) {
            let flags = self.flags(&replica);
            if flags.contains(NodeFlags::PFAIL)
                || flags.contains(NodeFlags::FAIL)
                || flags.contains(NodeFlags::HANDSHAKE)
            {
                continue;
            }
            if let Some(link) = self.runtime.get(&replica).and_then(|rt| rt.link) {
                self.send_ping(LinkId::Out(link.id), Some(replica), PingKind::Ping, now_ms);
            }
        }
    }

    // ---- cluster state -----------------------------------------------------------------------

    /// `clusterUpdateState`.
    pub(crate) fn cluster_update_state(&mut self, now_ms: u64) {
        let first_ms = *self.first_update_state_ms.get_or_insert(now_ms);
        let me_master = self.is_master(&self.myself());
        // A restarted master waits for the cluster to reconfigure before accepting writes.
        if me_master && !self.cluster_ok && now_ms.saturating_sub(first_ms) < WRITABLE_DELAY_MS {
            return;
        }
        let mut new_ok = true;
        let mut covered = 0usize;
        let mut size = 0usize;
        let mut reachable_masters = 0usize;
        for (name, &count) in &self.slot_counts {
            if !self.flags(name).contains(NodeFlags::FAIL) {
                covered += count;
            }
            if self.flags(name).contains(NodeFlags::MASTER) && count > 0 {
                size += 1;
                if self.master_unreachable(name, now_ms).is_none() {
                    reachable_masters += 1;
                }
            }
        }
        if self.config.require_full_coverage && covered < CLUSTER_SLOTS {
            new_ok = false;
        }
        self.cached_size = size;
        if reachable_masters < size / 2 + 1 {
            new_ok = false;
            self.among_minority_since_ms = now_ms;
        }
        if new_ok != self.cluster_ok {
            let rejoin_delay_ms = self.config.node_timeout_ms.clamp(MIN_REJOIN_DELAY_MS, MAX_REJOIN_DELAY_MS);
            if new_ok && me_master && now_ms.saturating_sub(self.among_minority_since_ms) < rejoin_delay_ms {
                return;
            }
            self.cluster_ok = new_ok;
            self.actions.push(Action::StateChanged { ok: new_ok });
        }
    }

    /// Why the state counts the slot-holding master `name` unreachable, if it does: FAIL,
    /// PFAIL, or silent longer than [`minority_quiet_ms`] (how long). A node without an address
    /// is never pinged (nor PFAIL in Redis), so its silence says nothing; nor does anyone's
    /// while our own cron runs late.
    fn master_unreachable(&self, name: &NodeName, now_ms: u64) -> Option<Unreachable> {
        let flags = self.flags(name);
        if flags.contains(NodeFlags::FAIL) {
            return Some(Unreachable::Fail);
        }
        if flags.contains(NodeFlags::PFAIL) {
            return Some(Unreachable::Pfail);
        }
        if !self.ticks_on_time || flags.contains(NodeFlags::MYSELF) || flags.contains(NodeFlags::NOADDR) {
            return None;
        }
        let rt = self.runtime.get(name)?;
        let silent_ms = now_ms.saturating_sub(rt.data_received_ms.max(rt.ctime_ms));
        (silent_ms > minority_quiet_ms(self.config.node_timeout_ms)).then_some(Unreachable::Silent { ms: silent_ms })
    }

    /// Why the cluster state is what it is, for the log line after a change to fail: slots
    /// covered, and each slot-holding master counted unreachable and why.
    pub fn state_detail(&self, now_ms: u64) -> String {
        let covered: usize = self
            .slot_counts
            .iter()
            .filter(|(name, _)| !self.flags(name).contains(NodeFlags::FAIL))
            .map(|(_, &count)| count)
            .sum();
        let masters: Vec<&NodeName> = self
            .slot_counts
            .iter()
            .filter(|(name, &count)| count > 0 && self.flags(name).contains(NodeFlags::MASTER))
            .map(|(name, _)| name)
            .collect();
        let unreachable: Vec<String> = masters
            .iter()
            .filter_map(|name| {
                self.master_unreachable(name, now_ms).map(|why| match why {
                    Unreachable::Fail => format!("{name} fail"),
                    Unreachable::Pfail => format!("{name} pfail"),
                    Unreachable::Silent { ms } => format!("{name} silent for {ms} ms"),
                })
            })
            .collect();
        format!(
            "{covered} of {CLUSTER_SLOTS} slots covered; {} of {} masters with slots unreachable{}{}",
            unreachable.len(),
            masters.len(),
            if unreachable.is_empty() { "" } else { ": " },
            unreachable.join(", ")
        )
    }

    // ---- slots and epochs --------------------------------------------------------------------

    /// `clusterUpdateSlotsConfigWith`: `sender` claims `slots` at `sender_config_epoch`; take
    /// each claimed slot that is unclaimed or owned at a lower epoch (unless we are importing
    /// it), and follow the sender if it took our last slot.
    fn cluster_update_slots_config_with(&mut self, sender: NodeName, sender_config_epoch: u64, slots: &SlotBitmap) {
        let me = self.myself();
        if sender == me {
            return;
        }
        let my_node = self.state.nodes.get(&me);
        let curmaster = if self.is_master(&me) { Some(me) } else { my_node.and_then(|n| n.master) };
        let mut newmaster = None;
        let mut sender_slots = 0usize;
        let mut migrated_our_slots = 0usize;
        let mut lost_slots = Vec::new();
        // Only slots the sender claims or owns can change; whole bytes with neither are
        // skipped (a PING claiming a third of the slots used to cost 16384 owner lookups).
        let owned = self.node_slots.get(&sender).cloned().unwrap_or_default();
        // The epoch of the last owner looked up: runs of slots share an owner.
        let mut epoch_cache: Option<(NodeName, u64)> = None;
        let mut moved: Vec<u16> = Vec::new();
        for byte in 0..crate::types::SLOT_BITMAP_LEN {
            let (claimed_bits, owned_bits) = (slots.0[byte], owned.0[byte]);
            if claimed_bits | owned_bits == 0 {
                continue;
            }
            sender_slots += claimed_bits.count_ones() as usize;
            // Slots the sender owns: it stopped claiming those missing from the packet, and
            // claims again those present. Whole bytes at a time, as only the slots it claims
            // without owning them need a look at their owner.
            let not_claiming = &mut self.owner_not_claiming.0[byte];
            *not_claiming = (*not_claiming & !(claimed_bits & owned_bits)) | (owned_bits & !claimed_bits);
            let mut new_bits = claimed_bits & !owned_bits;
            while new_bits != 0 {
                // byte * 8 + bit < 16384; bit 0 is the byte's lowest slot, as in Redis's bitmaps.
                let slot = (byte as u16) * 8 + new_bits.trailing_zeros() as u16;
                new_bits &= new_bits - 1;
                if self.state.importing_from.contains_key(&slot) {
                    continue;
                }
                let owner = self.state.slot_owner[usize::from(slot)];
                let unclaimed = owner.is_none() || self.owner_not_claiming.get(slot);
                let owner_epoch = match (owner, epoch_cache) {
                    (None, _) => 0,
                    (Some(o), Some((cached, epoch))) if cached == o => epoch,
                    (Some(o), _) => {
                        let epoch = self.state.nodes.get(&o).map_or(0, |n| n.config_epoch);
                        epoch_cache = Some((o, epoch));
                        epoch
                    }
                };
                if unclaimed || owner_epoch < sender_config_epoch {
                    if owner == Some(me) {
                        lost_slots.push(slot);
                    }
                    if owner.is_some() && owner == curmaster {
                        newmaster = Some(sender);
                        migrated_our_slots += 1;
                    }
                    moved.push(slot);
                    self.owner_not_claiming.set(slot, false);
                }
            }
        }
        if !moved.is_empty() {
            // Each slot's decision depends only on its own owner, so moving them together
            // after the scan equals Redis's move-as-you-go.
            self.reassign_slots(sender, &moved);
            self.do_before_sleep(true, true, true);
        }
        let curmaster_empty = curmaster.is_some_and(|m| self.node_slot_count(&m) == 0);
        let my_master = self.state.nodes.get(&me).and_then(|n| n.master).filter(|_| !self.is_master(&me));
        let grandmaster = my_master.and_then(|m| self.state.nodes.get(&m)).and_then(|n| n.master);
        if newmaster.is_some()
            && curmaster_empty
            && (self.config.allow_replica_migration || sender_slots == migrated_our_slots)
        {
            // We (or our master) were failed over or gave our last slot to the sender: follow it.
            self.cluster_set_master(sender);
            self.do_before_sleep(true, true, true);
        } else if let Some(grand) = grandmaster.filter(|g| *g != me) {
            // A sub-replica (our master became a replica) follows the grandmaster: nothing
            // else would ever move it. (When the grandmaster is us, TAKEOVER made a loop; as
            // Redis, wait for an operator.)
            self.cluster_set_master(grand);
            self.do_before_sleep(true, true, true);
        } else if !lost_slots.is_empty() {
            self.actions.push(Action::DropSlotKeys { slots: lost_slots });
        }
    }

    /// `clusterHandleConfigEpochCollision`: two masters with one configEpoch; the one with the
    /// smaller name takes a new epoch, so fresh clusters end with distinct epochs.
    fn cluster_handle_config_epoch_collision(&mut self, sender: &NodeName) {
        let me = self.myself();
        if sender.0 <= me.0 {
            return;
        }
        self.state.current_epoch = self.state.current_epoch.saturating_add(1);
        let epoch = self.state.current_epoch;
        if let Some(node) = self.state.nodes.get_mut(&me) {
            node.config_epoch = epoch;
        }
        self.do_before_sleep(true, true, false);
    }

    /// Broadcast a PONG to every node now (used by tests and, later, by failover).
    pub fn broadcast_pong_now(&mut self, now_ms: u64) -> Vec<Action> {
        self.broadcast_pong(now_ms);
        self.take_actions(now_ms)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum PingKind {
    Ping,
    Pong,
    Meet,
}

/// A random node name (`getRandomHexChars`): 40 lowercase hex characters.
pub(crate) fn random_name(rng: &mut Rng) -> NodeName {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut name = [0u8; 40];
    for chunk in name.chunks_mut(16) {
        let mut bits = rng.next_u64();
        for byte in chunk {
            *byte = HEX[(bits & 0xf) as usize];
            bits >>= 4;
        }
    }
    NodeName(name)
}
