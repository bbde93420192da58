//! A deterministic simulator for failover: masters with replicas in one process, a seeded
//! network that delays, drops, duplicates, reorders and partitions messages, nodes that crash
//! and restart from the nodes.conf they last wrote (rendered and parsed back), simulated
//! replication offsets, and virtual time. Every run is a pure function of its seed.
//!
//! Each seed: a cluster loaded from nodes.conf files converges; a master with replicas is
//! killed on a clean network and one of its replicas must own its slots within a bound
//! (liveness), then the master returns; a manual failover (CLUSTER FAILOVER) must complete
//! without losing a write; then a chaos phase (crashes, restarts, partitions, lossy links,
//! CLUSTER FAILOVER [FORCE] at random); then everything heals and all nodes must agree on the
//! slot map, with every slot served by a live master that claims it.
//!
//! Checked after every step (safety):
//! - no two masters claim a common slot with the same configEpoch, and no two nodes are
//!   promoted in one epoch for common slots (two winners of one epoch with disjoint slots do
//!   happen, as in Redis: see `Sim::winners`);
//! - currentEpoch and lastVoteEpoch never go back, nor the configEpoch of a node while it is
//!   a master, across restarts too;
//! - one vote (FAILOVER_AUTH_ACK) per epoch per voter, across restarts;
//! - a vote, an election request and a promotion come after an fsynced save in the same
//!   action list, and no epoch, vote or role changes without a save.
//!
//! Environment: `SIM_SEED=<n>` replays one seed with a trace; `SIM_SEEDS=<count>` changes how
//! many seeds the default run covers (spread over two threads), `SIM_SEED_BASE=<n>` where they
//! start (to search new seeds without rerunning old ones).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use cluster::bus::{msg_type, Body};
use cluster::machine::{Action, Config, LinkAddrs, LinkId, Machine, Rng, CRON_PERIOD_MS};
use cluster::{cluster_command, decode, encode, ClusterState, EmptyKeyspace, FailoverConfig, Message, NodeFlags};
use cluster::{NodeName, NodesConf, Reply, CLUSTER_SLOTS};

const EPOCH_MS: u64 = 1_700_000_000_000;
const DEFAULT_SEEDS: u64 = 2000;
/// Bound on simulated events per seed: a run that does not finish is a bug, not a hang.
const MAX_EVENTS: u64 = 3_000_000;

enum Event {
    Tick {
        node: usize,
    },
    Connected {
        node: usize,
        inc: u64,
        link: u64,
    },
    ConnectFailed {
        node: usize,
        inc: u64,
        link: u64,
    },
    Deliver {
        conn: usize,
        to_acceptor: bool,
        bytes: Vec<u8>,
    },
    /// The machine's `failover_timer_ms` came due (the server wakes for it between crons).
    FailoverTimer {
        node: usize,
        inc: u64,
    },
}

struct Conn {
    initiator: usize,
    initiator_inc: u64,
    acceptor: usize,
    out_link: u64,
    open: bool,
    last_to_acceptor_ms: u64,
    last_to_initiator_ms: u64,
}

/// What a node's last save recorded of the fields that must never be lost.
#[derive(Clone, PartialEq, Eq, Debug)]
struct Durable {
    current_epoch: u64,
    last_vote_epoch: u64,
    config_epoch: u64,
    master: Option<NodeName>,
}

struct SimNode {
    machine: Machine,
    ip: String,
    up: bool,
    /// Incarnation: bumped at each crash so events of a dead process are ignored.
    inc: u64,
    /// The simulated replication offset (a master's writes, a replica's applied stream).
    offset: u64,
    /// The node this one replicates from (per its machine) and whether it synced with it.
    synced_with: Option<usize>,
    master_link_ms: Option<u64>,
    paused_until_ms: u64,
    /// The offset at the last pause for a manual failover.
    paused_at_offset: Option<u64>,
    durable: Durable,
    /// The `failover_timer_ms` a FailoverTimer event is scheduled for.
    timer_at_ms: Option<u64>,
}

struct Net {
    drop_per_mille: u64,
    dup_per_mille: u64,
    max_delay_ms: u64,
    reorder: bool,
    group: Vec<u8>,
}

struct Sim {
    seed: u64,
    trace: bool,
    now_ms: u64,
    rng: Rng,
    nodes: Vec<SimNode>,
    names: Vec<NodeName>,
    config: Config,
    failover_config: FailoverConfig,
    conns: Vec<Conn>,
    net: Net,
    events: BinaryHeap<Reverse<(u64, u64)>>,
    payloads: BTreeMap<u64, Event>,
    seq: u64,
    steps: u64,
    /// Highest epochs each node (by name) ever had: current, vote, own configEpoch as master.
    high_water: BTreeMap<NodeName, (u64, u64, u64)>,
    /// (voter, epoch) → the candidate it voted for.
    votes: BTreeMap<(NodeName, u64), NodeName>,
    /// Election epoch → the node promoted in it.
    /// Election epoch → the nodes promoted in it, with the slots each took. Two winners of one
    /// epoch are possible in Redis's algorithm when their slots are disjoint: a master that was
    /// failed over without hearing of it still counts itself a voter (it has slots in its own
    /// view), so a replica in a minority partition can gather "a majority" of stale masters in
    /// an epoch another replica also won (found by seed 6234). The collision rule then gives one
    /// of them a new epoch. Overlapping slots in one epoch would be a real split brain.
    winners: BTreeMap<u64, Vec<(NodeName, cluster::SlotBitmap)>>,
    /// Promotions that shared an epoch with another (disjoint slots).
    shared_epoch_wins: u64,
    /// (node, its offset, when) at each promotion.
    promotions: Vec<(usize, u64, u64)>,
    elections_won: u64,
}

type SimResult<T> = Result<T, String>;

impl Sim {
    /// `masters` masters with `replicas[i]` replicas each, loaded from nodes.conf files as a
    /// restarted cluster would be.
    fn new(seed: u64, trace: bool, replicas: &[usize], node_timeout_ms: u64, fo: FailoverConfig) -> Sim {
        let mut rng = Rng::new(seed);
        let masters = replicas.len();
        let total = masters + replicas.iter().sum::<usize>();
        let names: Vec<NodeName> = (0..total)
            .map(|_| {
                let mut text = String::new();
                let mut x = rng.next_u64();
                for _ in 0..40 {
                    text.push(char::from(b"0123456789abcdef"[(x & 15) as usize]));
                    x = x.rotate_right(4) ^ rng.next_u64();
                }
                NodeName::parse(&text).unwrap_or(NodeName::NULL)
            })
            .collect();
        let ips: Vec<String> = (0..total).map(|i| format!("10.0.{}.{}", i / 200, i % 200 + 1)).collect();
        // Node index → its master's index, if a replica.
        let mut master_of = vec![None; total];
        let mut next = masters;
        for (m, &count) in replicas.iter().enumerate() {
            for _ in 0..count {
                master_of[next] = Some(m);
                next += 1;
            }
        }
        let per = CLUSTER_SLOTS / masters;
        let config = Config { node_timeout_ms, port: 7000, cport: 17000, ..Config::default() };
        let mut nodes = Vec::new();
        for me in 0..total {
            let mut text = String::new();
            for i in 0..total {
                let myself = if i == me { "myself," } else { "" };
                let (role, master, epoch, slots) = match master_of[i] {
                    Some(m) => ("slave", names[m].to_string(), m as u64 + 1, String::new()),
                    None => {
                        let last = if i == masters - 1 { CLUSTER_SLOTS - 1 } else { (i + 1) * per - 1 };
                        ("master", "-".to_string(), i as u64 + 1, format!(" {}-{}", i * per, last))
                    }
                };
                text.push_str(&format!(
                    "{} {}:7000@17000 {myself}{role} {master} 0 0 {epoch} connected{slots}\n",
                    names[i], ips[i]
                ));
            }
            text.push_str(&format!("vars currentEpoch {masters} lastVoteEpoch 0\n"));
            let state =
                ClusterState::from_nodes_conf(&NodesConf::parse(&text).expect("conf"), EPOCH_MS).expect("state");
            let mut machine = Machine::new(state, config.clone(), rng.next_u64(), EPOCH_MS);
            machine.set_failover_config(fo.clone(), EPOCH_MS);
            let durable = durable_of(&machine);
            nodes.push(SimNode {
                machine,
                ip: ips[me].clone(),
                up: true,
                inc: 0,
                offset: 0,
                synced_with: None,
                master_link_ms: None,
                paused_until_ms: 0,
                paused_at_offset: None,
                durable,
                timer_at_ms: None,
            });
        }
        let mut sim = Sim {
            seed,
            trace,
            now_ms: EPOCH_MS,
            rng,
            nodes,
            names,
            config,
            failover_config: fo,
            conns: Vec::new(),
            net: Net { drop_per_mille: 0, dup_per_mille: 0, max_delay_ms: 20, reorder: false, group: vec![0; total] },
            events: BinaryHeap::new(),
            payloads: BTreeMap::new(),
            seq: 0,
            steps: 0,
            high_water: BTreeMap::new(),
            votes: BTreeMap::new(),
            winners: BTreeMap::new(),
            shared_epoch_wins: 0,
            promotions: Vec::new(),
            elections_won: 0,
        };
        for node in 0..total {
            let phase_ms = sim.rng.below(CRON_PERIOD_MS);
            sim.schedule(EPOCH_MS + phase_ms, Event::Tick { node });
        }
        sim
    }

    fn fail(&self, what: String) -> String {
        format!(
            "seed {} failed at t+{} ms (step {}): {what}\n  replay: SIM_SEED={} cargo test -p cluster --test failover_sim -- --nocapture",
            self.seed,
            self.now_ms - EPOCH_MS,
            self.steps,
            self.seed
        )
    }

    fn log(&self, what: impl FnOnce() -> String) {
        if self.trace {
            println!("t+{:>6} {}", self.now_ms - EPOCH_MS, what());
        }
    }

    fn schedule(&mut self, at_ms: u64, event: Event) {
        self.seq += 1;
        self.payloads.insert(self.seq, event);
        self.events.push(Reverse((at_ms, self.seq)));
    }

    fn index_of(&self, name: &NodeName) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    fn is_master(&self, i: usize) -> bool {
        let m = &self.nodes[i].machine;
        m.state.nodes[&m.myself()].flags.contains(NodeFlags::MASTER)
    }

    /// The node `i` replicates from, by its own view.
    fn master_of(&self, i: usize) -> Option<usize> {
        let m = &self.nodes[i].machine;
        let me = &m.state.nodes[&m.myself()];
        if me.flags.contains(NodeFlags::SLAVE) {
            me.master.and_then(|n| self.index_of(&n))
        } else {
            None
        }
    }

    /// Executes `actions` of node `i`, checking the ordering contract on the way.
    fn apply(&mut self, i: usize, actions: Vec<Action>) -> SimResult<()> {
        let mut fsynced = false;
        let mut saved = false;
        let mut work = std::collections::VecDeque::from(actions);
        let mut rounds = 0;
        while let Some(action) = work.pop_front() {
            rounds += 1;
            if rounds > 100_000 {
                return Err(self.fail("unbounded action list".into()));
            }
            match action {
                Action::Connect { link, ip, cport } => {
                    let target = self.nodes.iter().position(|n| n.ip == ip && cport == 17000);
                    let delay_ms = 1 + self.rng.below(self.net.max_delay_ms);
                    let inc = self.nodes[i].inc;
                    match target {
                        Some(to) if self.nodes[to].up && self.net.group[to] == self.net.group[i] => {
                            self.conns.push(Conn {
                                initiator: i,
                                initiator_inc: inc,
                                acceptor: to,
                                out_link: link,
                                open: true,
                                last_to_acceptor_ms: 0,
                                last_to_initiator_ms: 0,
                            });
                            self.schedule(self.now_ms + delay_ms, Event::Connected { node: i, inc, link });
                        }
                        // Across a partition the connect hangs until the machine gives up.
                        Some(to) if self.nodes[to].up => {}
                        // A dead process's port refuses at once.
                        _ => self.schedule(self.now_ms + delay_ms, Event::ConnectFailed { node: i, inc, link }),
                    }
                }
                Action::Close { link } => {
                    let inc = self.nodes[i].inc;
                    for c in &mut self.conns {
                        if c.initiator == i && c.initiator_inc == inc && c.out_link == link {
                            c.open = false;
                        }
                    }
                }
                Action::Send { link, msg } => {
                    let t = msg.body.msg_type();
                    if t == msg_type::FAILOVER_AUTH_ACK {
                        if !fsynced {
                            return Err(self.fail(format!("node {i} sent a vote before an fsynced save")));
                        }
                        self.record_vote(i, link, &msg)?;
                    }
                    if t == msg_type::FAILOVER_AUTH_REQUEST && !fsynced {
                        return Err(self.fail(format!("node {i} asked for votes before saving its epoch")));
                    }
                    self.send(i, link, &msg)?;
                }
                Action::SaveConfig { fsync } => {
                    saved = true;
                    fsynced |= fsync;
                    self.nodes[i].durable = durable_of(&self.nodes[i].machine);
                }
                Action::StopReplication { flush_data } => {
                    if flush_data {
                        return Err(self.fail(format!("node {i} was told to flush its data")));
                    }
                    // Promoted: keeps its data and offset (psync2); writes continue from there.
                    self.nodes[i].synced_with = None;
                    self.nodes[i].master_link_ms = None;
                    let m = &self.nodes[i].machine;
                    let epoch = m.state.nodes[&m.myself()].config_epoch;
                    let name = m.myself();
                    self.promotions.push((i, self.nodes[i].offset, self.now_ms));
                    self.elections_won += 1;
                    let slots = m.node_slot_bitmaps().find(|(n, _)| **n == name).map(|(_, b)| b.clone());
                    let slots = slots.unwrap_or_default();
                    let same_epoch = self.winners.entry(epoch).or_default();
                    let overlap = same_epoch
                        .iter()
                        .find(|(other, theirs)| {
                            *other != name && slots.0.iter().zip(theirs.0.iter()).any(|(a, b)| a & b != 0)
                        })
                        .map(|(other, _)| *other);
                    if !same_epoch.is_empty() {
                        self.shared_epoch_wins += 1;
                    }
                    same_epoch.push((name, slots));
                    if let Some(other) = overlap {
                        return Err(self.fail(format!(
                            "two nodes promoted in epoch {epoch} for common slots: node {i} and {:?}",
                            self.index_of(&other)
                        )));
                    }
                    self.log(|| format!("node {i} promoted at epoch {epoch}, offset {}", self.nodes[i].offset));
                }
                Action::ReplicateFrom { master } => {
                    self.nodes[i].synced_with = None;
                    self.nodes[i].master_link_ms = None;
                    self.log(|| format!("node {i} replicates from node {:?}", self.index_of(&master)));
                }
                Action::PauseWrites { until_ms } => {
                    self.nodes[i].paused_until_ms = until_ms;
                    let offset = self.nodes[i].offset;
                    self.nodes[i].paused_at_offset = Some(offset);
                    let now = self.now_ms;
                    let more = self.nodes[i].machine.writes_paused(offset, now);
                    work.extend(more);
                    self.log(|| format!("node {i} paused writes at offset {offset}"));
                }
                Action::ResumeWrites => self.nodes[i].paused_until_ms = 0,
                Action::CloseInbound { link } => {
                    if let Some(c) = self.conns.get_mut(link as usize).filter(|c| c.acceptor == i) {
                        c.open = false;
                    }
                }
                Action::StateChanged { .. }
                | Action::DropSlotKeys { .. }
                | Action::DropSlotChannels { .. }
                | Action::Deliver { .. } => {}
            }
        }
        let now = durable_of(&self.nodes[i].machine);
        if !saved && now != self.nodes[i].durable {
            return Err(
                self.fail(format!("node {i} changed {:?} -> {now:?} without saving nodes.conf", self.nodes[i].durable))
            );
        }
        Ok(())
    }

    fn record_vote(&mut self, voter: usize, link: LinkId, msg: &Message) -> SimResult<()> {
        let LinkId::Out(l) = link else {
            return Err(self.fail(format!("node {voter} voted on an inbound link")));
        };
        let inc = self.nodes[voter].inc;
        let Some(c) =
            self.conns.iter().rev().find(|c| c.initiator == voter && c.initiator_inc == inc && c.out_link == l)
        else {
            return Ok(());
        };
        let candidate = self.names[c.acceptor];
        let key = (self.names[voter], msg.header.current_epoch);
        if let Some(prev) = self.votes.insert(key, candidate).filter(|p| *p != candidate) {
            return Err(self.fail(format!(
                "node {voter} voted twice in epoch {}: for {:?} and node {}",
                key.1,
                self.index_of(&prev),
                c.acceptor
            )));
        }
        Ok(())
    }

    fn send(&mut self, from: usize, link: LinkId, msg: &Message) -> SimResult<()> {
        let bytes = encode(msg).map_err(|e| self.fail(format!("node {from} built an unencodable message: {e}")))?;
        let inc = self.nodes[from].inc;
        let conn = match link {
            LinkId::Out(l) => self
                .conns
                .iter()
                .rposition(|c| c.initiator == from && c.initiator_inc == inc && c.out_link == l && c.open),
            LinkId::In(k) => {
                let k = k as usize;
                self.conns.get(k).is_some_and(|c| c.acceptor == from && c.open).then_some(k)
            }
        };
        let Some(conn) = conn else { return Ok(()) };
        let to_acceptor = matches!(link, LinkId::Out(_));
        let copies = if self.rng.below(1000) < self.net.dup_per_mille { 2 } else { 1 };
        for _ in 0..copies {
            if self.rng.below(1000) < self.net.drop_per_mille {
                continue;
            }
            let delay_ms = 1 + self.rng.below(self.net.max_delay_ms);
            let reorder = self.net.reorder;
            let c = &mut self.conns[conn];
            let last = if to_acceptor { &mut c.last_to_acceptor_ms } else { &mut c.last_to_initiator_ms };
            let at_ms = if reorder { self.now_ms + delay_ms } else { (self.now_ms + delay_ms).max(*last) };
            *last = at_ms;
            self.schedule(at_ms, Event::Deliver { conn, to_acceptor, bytes: bytes.clone() });
        }
        Ok(())
    }

    fn run_until(&mut self, until_ms: u64) -> SimResult<()> {
        while let Some(Reverse((at_ms, id))) = self.events.peek().copied() {
            if at_ms > until_ms {
                break;
            }
            self.events.pop();
            self.steps += 1;
            if self.steps > MAX_EVENTS {
                return Err(self.fail("event bound exceeded".into()));
            }
            self.now_ms = at_ms;
            let Some(event) = self.payloads.remove(&id) else { continue };
            if let Some(node) = self.step(event)? {
                self.check_node(node)?;
                let due = self.nodes[node].machine.failover_timer_ms();
                if let Some(due_ms) = due.filter(|_| self.nodes[node].timer_at_ms != due) {
                    self.nodes[node].timer_at_ms = due;
                    let inc = self.nodes[node].inc;
                    self.schedule(due_ms.max(self.now_ms), Event::FailoverTimer { node, inc });
                }
            }
        }
        self.now_ms = until_ms;
        Ok(())
    }

    /// Replication as the machine's roles say: a replica linked to its master (both up, same
    /// side) catches up with it, a full sync first after each change of master; a master
    /// takes writes unless paused.
    fn replicate(&mut self, i: usize) {
        let now = self.now_ms;
        match self.master_of(i) {
            None => {
                if self.nodes[i].paused_until_ms <= now {
                    self.nodes[i].paused_until_ms = 0;
                    self.nodes[i].offset += 1 + self.rng.below(50);
                }
            }
            Some(m) => {
                let linked = self.nodes[m].up && self.net.group[m] == self.net.group[i];
                if linked {
                    let target = self.nodes[m].offset;
                    if self.nodes[i].synced_with != Some(m) {
                        self.nodes[i].synced_with = Some(m);
                        self.nodes[i].offset = target;
                    } else if self.rng.below(3) == 0 {
                        self.nodes[i].offset = target;
                    } else {
                        let lag = self.rng.below(100);
                        self.nodes[i].offset = self.nodes[i].offset.max(target.saturating_sub(lag));
                    }
                    self.nodes[i].master_link_ms = Some(now);
                }
            }
        }
        let (offset, link) = (self.nodes[i].offset, self.nodes[i].master_link_ms);
        self.nodes[i].machine.set_repl_offset(offset);
        self.nodes[i].machine.set_master_link_time(link);
    }

    fn step(&mut self, event: Event) -> SimResult<Option<usize>> {
        let now = self.now_ms;
        match event {
            Event::Tick { node } => {
                self.schedule(now + CRON_PERIOD_MS, Event::Tick { node });
                if !self.nodes[node].up {
                    return Ok(None);
                }
                self.replicate(node);
                let actions = self.nodes[node].machine.tick(now);
                self.apply(node, actions)?;
                Ok(Some(node))
            }
            Event::FailoverTimer { node, inc } => {
                if !self.nodes[node].up || self.nodes[node].inc != inc {
                    return Ok(None);
                }
                self.nodes[node].timer_at_ms = None;
                if self.nodes[node].machine.failover_timer_ms().is_none_or(|due_ms| due_ms > now) {
                    return Ok(None);
                }
                self.replicate(node);
                let actions = self.nodes[node].machine.run_failover_timer(now);
                self.apply(node, actions)?;
                Ok(Some(node))
            }
            Event::Connected { node, inc, link } | Event::ConnectFailed { node, inc, link } => {
                if !self.nodes[node].up || self.nodes[node].inc != inc {
                    return Ok(None);
                }
                let ok = self
                    .conns
                    .iter()
                    .any(|c| c.initiator == node && c.initiator_inc == inc && c.out_link == link && c.open);
                let actions = if matches!(event, Event::Connected { .. }) && ok {
                    self.nodes[node].machine.link_connected(link, now)
                } else {
                    self.nodes[node].machine.link_closed(link, now)
                };
                self.apply(node, actions)?;
                Ok(Some(node))
            }
            Event::Deliver { conn, to_acceptor, bytes } => {
                let c = &self.conns[conn];
                let (to, from) = if to_acceptor { (c.acceptor, c.initiator) } else { (c.initiator, c.acceptor) };
                let link = if to_acceptor { LinkId::In(conn as u64) } else { LinkId::Out(c.out_link) };
                if !c.open || !self.nodes[to].up {
                    return Ok(None);
                }
                if self.net.group[to] != self.net.group[from] {
                    self.conns[conn].open = false;
                    return Ok(None);
                }
                let msg = decode(&bytes).map_err(|e| self.fail(format!("node {to} could not decode: {e}")))?;
                if msg.body.msg_type() == msg_type::FAILOVER_AUTH_REQUEST {
                    self.log(|| {
                        format!("node {to} gets an auth request from node {from} (epoch {})", msg.header.current_epoch)
                    });
                }
                let addrs = LinkAddrs { peer_ip: self.nodes[from].ip.clone(), local_ip: self.nodes[to].ip.clone() };
                let (offset, link_ms) = (self.nodes[to].offset, self.nodes[to].master_link_ms);
                self.nodes[to].machine.set_repl_offset(offset);
                self.nodes[to].machine.set_master_link_time(link_ms);
                let actions = self.nodes[to].machine.handle_message(link, &addrs, &msg, now);
                self.apply(to, actions)?;
                Ok(Some(to))
            }
        }
    }

    /// The per-step invariants for node `i` (and its slot claims against everyone's).
    fn check_node(&mut self, i: usize) -> SimResult<()> {
        let m = &self.nodes[i].machine;
        let me = m.myself();
        let own = &m.state.nodes[&me];
        let is_master = own.flags.contains(NodeFlags::MASTER);
        let (cur, vote, cfg) = (m.state.current_epoch, m.state.last_vote_epoch, own.config_epoch);
        let hw = self.high_water.entry(me).or_insert((0, 0, 0));
        if cur < hw.0 || vote < hw.1 || (is_master && cfg < hw.2) {
            let old = *hw;
            return Err(self.fail(format!(
                "node {i} epochs went back: current {} -> {cur}, vote {} -> {vote}, config {} -> {cfg} (master {is_master})",
                old.0, old.1, old.2
            )));
        }
        hw.0 = cur;
        hw.1 = vote;
        if is_master {
            hw.2 = hw.2.max(cfg);
        }
        if !is_master {
            return Ok(());
        }
        let Some(mine) = m.node_slot_bitmaps().find(|(n, _)| **n == me).map(|(_, b)| b) else { return Ok(()) };
        for (j, other) in self.nodes.iter().enumerate() {
            if j == i {
                continue;
            }
            let om = &other.machine;
            let on = &om.state.nodes[&om.myself()];
            if !on.flags.contains(NodeFlags::MASTER) || on.config_epoch != cfg {
                continue;
            }
            let Some(theirs) = om.node_slot_bitmaps().find(|(n, _)| **n == om.myself()).map(|(_, b)| b) else {
                continue;
            };
            if mine.0.iter().zip(theirs.0.iter()).any(|(a, b)| a & b != 0) {
                return Err(self.fail(format!("nodes {i} and {j} both claim slots at configEpoch {cfg}")));
            }
        }
        Ok(())
    }

    fn crash(&mut self, i: usize) {
        self.log(|| format!("crash node {i}"));
        self.nodes[i].up = false;
        self.nodes[i].inc += 1;
        self.nodes[i].timer_at_ms = None;
        self.nodes[i].paused_until_ms = 0;
        for k in 0..self.conns.len() {
            let c = &self.conns[k];
            if !c.open || (c.initiator != i && c.acceptor != i) {
                continue;
            }
            let (initiator, inc, link) = (c.initiator, c.initiator_inc, c.out_link);
            self.conns[k].open = false;
            // The peer's kernel gets a reset: its outbound link breaks at once.
            if initiator != i && self.net.group[initiator] == self.net.group[i] {
                let at = self.now_ms + 1 + self.rng.below(self.net.max_delay_ms);
                self.schedule(at, Event::ConnectFailed { node: initiator, inc, link });
            }
        }
    }

    /// Restarts node `i` from what its nodes.conf holds (rendered, parsed and loaded).
    fn restart(&mut self, i: usize) -> SimResult<()> {
        let text = self.nodes[i].machine.state.to_nodes_conf().to_text();
        let conf = NodesConf::parse(&text).map_err(|e| self.fail(format!("node {i}'s nodes.conf: {e}")))?;
        let state = ClusterState::from_nodes_conf(&conf, self.now_ms)
            .map_err(|e| self.fail(format!("node {i}'s nodes.conf does not load: {e}")))?;
        let mut machine = Machine::new(state, self.config.clone(), self.rng.next_u64(), self.now_ms);
        machine.set_failover_config(self.failover_config.clone(), self.now_ms);
        let node = &mut self.nodes[i];
        node.machine = machine;
        node.up = true;
        node.synced_with = None;
        node.master_link_ms = None;
        node.paused_until_ms = 0;
        node.durable = durable_of(&node.machine);
        self.log(|| format!("restart node {i}"));
        self.check_node(i)
    }

    fn live(&self) -> Vec<usize> {
        (0..self.nodes.len()).filter(|&i| self.nodes[i].up).collect()
    }

    /// All live nodes agree on the slot map, and each slot's owner is live, a master in its
    /// own view, and claims the slot.
    fn check_agreement(&self) -> Option<String> {
        let live = self.live();
        let first = *live.first()?;
        // Per-owner bitmaps: comparing them is far cheaper than 16384 owner names per node.
        let map_of = |a: usize| -> Vec<(NodeName, &cluster::SlotBitmap)> {
            let m = &self.nodes[a].machine;
            m.node_slot_bitmaps().filter(|(n, _)| m.node_slot_count(n) > 0).map(|(n, b)| (*n, b)).collect()
        };
        let view = map_of(first);
        for &a in &live[1..] {
            if map_of(a) != view {
                let owners =
                    |x: usize| map_of(x).iter().map(|(n, b)| (self.index_of(n), b.count())).collect::<Vec<_>>();
                return Some(format!("node {a} sees {:?}, node {first} sees {:?}", owners(a), owners(first)));
            }
        }
        if view.iter().map(|(_, b)| b.count()).sum::<usize>() != CLUSTER_SLOTS {
            return Some("a slot has no owner".into());
        }
        for (owner, bits) in &view {
            let Some(o) = self.index_of(owner) else { return Some(format!("unknown owner {owner}")) };
            if !self.nodes[o].up || !self.is_master(o) {
                return Some(format!("owner node {o} is down or not a master"));
            }
            let om = &self.nodes[o].machine;
            if om.node_slot_bitmaps().find(|(n, _)| *n == owner).map(|(_, b)| b) != Some(*bits) {
                return Some(format!("owner node {o} does not claim exactly its slots"));
            }
        }
        None
    }

    fn expect_by(&mut self, deadline_ms: u64, what: &str, cond: impl Fn(&Sim) -> Option<String>) -> SimResult<u64> {
        loop {
            let Some(problem) = cond(self) else { return Ok(self.now_ms) };
            if self.now_ms >= deadline_ms {
                return Err(self.fail(format!("{what}: not true by its deadline: {problem}")));
            }
            let next_ms = (self.now_ms + 100).min(deadline_ms);
            self.run_until(next_ms)?;
        }
    }

    fn cluster(&mut self, i: usize, words: &[&str]) -> SimResult<Reply> {
        let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
        let now = self.now_ms;
        let (offset, link_ms) = (self.nodes[i].offset, self.nodes[i].master_link_ms);
        self.nodes[i].machine.set_repl_offset(offset);
        self.nodes[i].machine.set_master_link_time(link_ms);
        let (reply, actions) = cluster_command(&mut self.nodes[i].machine, &args, &EmptyKeyspace, now);
        self.apply(i, actions)?;
        self.check_node(i)?;
        Ok(reply)
    }

    /// Election timing bound for one attempt after the master is FAIL everywhere.
    fn auth_retry_ms(&self) -> u64 {
        (2 * self.config.node_timeout_ms).max(2000) * 2
    }
}

fn durable_of(m: &Machine) -> Durable {
    let own = &m.state.nodes[&m.myself()];
    Durable {
        current_epoch: m.state.current_epoch,
        last_vote_epoch: m.state.last_vote_epoch,
        config_epoch: own.config_epoch,
        master: if own.flags.contains(NodeFlags::SLAVE) { own.master } else { None },
    }
}

struct Outcome {
    steps: u64,
    elections: u64,
}

fn run_seed(seed: u64, trace: bool) -> SimResult<Outcome> {
    let mut setup = Rng::new(seed ^ 0xfa11_0c3e);
    let masters = 3 + setup.below(2) as usize;
    let mut replicas: Vec<usize> = (0..masters).map(|_| setup.below(3) as usize).collect();
    if replicas.iter().all(|&r| r == 0) {
        replicas[0] = 1;
    }
    let nt = [500, 1000, 1500][setup.below(3) as usize];
    let fo = FailoverConfig {
        election_delay_ms: [None, Some(500), Some(100), Some(10)][setup.below(4) as usize],
        replica_validity_factor: if setup.below(4) == 0 { 0 } else { 10 },
        ..FailoverConfig::default()
    };
    let mut sim = Sim::new(seed, trace, &replicas, nt, fo);
    sim.log(|| format!("masters {masters}, replicas {replicas:?}, node timeout {nt}"));
    let converge_ms = 10_000 + 4 * nt;
    sim.expect_by(EPOCH_MS + converge_ms, "initial convergence", |s| s.check_agreement())?;
    // Let every replica sync once.
    sim.run_until(sim.now_ms + nt + 500)?;

    // Liveness: kill a master that has a replica; one of them must own its slots in time.
    let victim = (0..masters).filter(|&m| replicas[m] > 0).nth(setup.below(masters as u64) as usize % masters);
    let victim = victim.unwrap_or_else(|| (0..masters).find(|&m| replicas[m] > 0).unwrap_or(0));
    let victim_name = sim.names[victim];
    let victim_slots: Vec<usize> =
        (0..CLUSTER_SLOTS).filter(|&s| sim.nodes[0].machine.state.slot_owner[s] == Some(victim_name)).collect();
    let its_replicas: Vec<NodeName> =
        (0..sim.nodes.len()).filter(|&r| sim.master_of(r) == Some(victim)).map(|r| sim.names[r]).collect();
    sim.crash(victim);
    let t0 = sim.now_ms;
    let max_rank = its_replicas.len() as u64;
    let bound = 2 * nt + nt / 2 + 2000 + max_rank * 1000 + 2 * sim.auth_retry_ms() + 2000;
    sim.expect_by(t0 + bound, "a replica takes over the killed master's slots", |s| {
        for &a in &s.live() {
            let view = &s.nodes[a].machine.state.slot_owner;
            for &slot in &victim_slots {
                match view[slot] {
                    Some(o) if its_replicas.contains(&o) => {}
                    other => {
                        return Some(format!(
                            "node {a} sees slot {slot} owned by {:?}",
                            other.and_then(|o| s.index_of(&o))
                        ))
                    }
                }
            }
        }
        None
    })?;
    sim.log(|| format!("failover after {} ms", sim.now_ms - t0));
    sim.run_until(sim.now_ms + setup.below(2 * nt))?;
    let observer = sim.live().first().copied().unwrap_or(0);
    let winner = sim.nodes[observer].machine.state.slot_owner[victim_slots[0]].and_then(|w| sim.index_of(&w));
    sim.restart(victim)?;
    let followers: Vec<usize> = its_replicas.iter().filter_map(|r| sim.index_of(r)).chain([victim]).collect();
    sim.expect_by(sim.now_ms + converge_ms + 4 * nt, "convergence after the old master returns", |s| {
        s.check_agreement().or_else(|| {
            // The old master and its other replicas follow the winner.
            followers
                .iter()
                .find(|&&f| Some(f) != winner && s.master_of(f) != winner)
                .map(|f| format!("node {f} replicates {:?}, not the winner {winner:?}", s.master_of(*f)))
        })
    })?;
    sim.run_until(sim.now_ms + 4 * nt)?;

    // A manual failover loses no write: the replica's offset at promotion is the paused
    // master's.
    let mf_replica = (0..sim.nodes.len()).find(|&r| sim.master_of(r).is_some_and(|m| sim.is_master(m)));
    if let Some(r) = mf_replica {
        let m = sim.master_of(r).unwrap_or(0);
        let reply = sim.cluster(r, &["failover"])?;
        if reply == Reply::Ok {
            let before = sim.promotions.len();
            sim.expect_by(sim.now_ms + 5_000 + 2_000, "manual failover", |s| {
                (!s.is_master(r)).then(|| format!("node {r} is not a master"))
            })?;
            if let Some(&(node, offset, _)) = sim.promotions[before..].first() {
                let old = sim.nodes[m].paused_at_offset.unwrap_or(u64::MAX);
                if node != r || offset < old {
                    return Err(sim.fail(format!(
                        "manual failover promoted node {node} at offset {offset}, the old master had {old}"
                    )));
                }
            }
            sim.expect_by(sim.now_ms + converge_ms, "convergence after the manual failover", |s| {
                s.check_agreement()
                    .or_else(|| (s.master_of(m) != Some(r)).then(|| "the old master did not follow".into()))
            })?;
        }
    }

    // Chaos.
    sim.net.reorder = setup.below(2) == 0;
    sim.net.dup_per_mille = [0, 20, 100][setup.below(3) as usize];
    sim.net.drop_per_mille = [0, 10, 50][setup.below(3) as usize];
    sim.net.max_delay_ms = [20, 200, 1000][setup.below(3) as usize];
    let n = sim.nodes.len();
    let chaos_end = sim.now_ms + 10_000 + setup.below(10_000);
    while sim.now_ms < chaos_end {
        let gap = 200 + setup.below(2000);
        sim.run_until(sim.now_ms + gap)?;
        let k = setup.below(n as u64) as usize;
        match setup.below(6) {
            0 | 1 => {
                if sim.nodes[k].up {
                    sim.crash(k);
                } else {
                    sim.restart(k)?;
                }
            }
            2 => {
                sim.net.group = (0..n).map(|_| setup.below(2) as u8).collect();
                sim.log(|| format!("partition {:?}", sim.net.group));
            }
            3 => {
                sim.net.group = vec![0; n];
                sim.log(|| "heal partition".into());
            }
            _ => {
                if sim.nodes[k].up && sim.master_of(k).is_some() {
                    let words: &[&str] = if setup.below(2) == 0 { &["failover"] } else { &["failover", "force"] };
                    let reply = sim.cluster(k, words)?;
                    sim.log(|| format!("node {k}: CLUSTER {words:?} -> {reply:?}"));
                }
            }
        }
    }

    // Heal: everything up, a clean network; the cluster must settle.
    sim.net = Net { drop_per_mille: 0, dup_per_mille: 0, max_delay_ms: 20, reorder: false, group: vec![0; n] };
    for k in 0..n {
        if !sim.nodes[k].up {
            sim.restart(k)?;
        }
    }
    sim.log(|| "healed".into());
    let heal_bound = 20_000 + 6 * nt + 3 * sim.auth_retry_ms();
    sim.expect_by(sim.now_ms + heal_bound, "agreement after healing", |s| s.check_agreement())?;
    Ok(Outcome { steps: sim.steps, elections: sim.elections_won })
}

/// Replica migration: master 0 has two replicas, master 1 one; that one dies for good, and the
/// smallest-named replica of master 0 must move to master 1 once it has been orphaned for
/// `SLAVE_MIGRATION_DELAY_MS`, and only that one.
fn run_migration_seed(seed: u64, trace: bool) -> SimResult<u64> {
    let mut setup = Rng::new(seed ^ 0x0319_7a7e);
    let nt = [500, 1000][setup.below(2) as usize];
    let mut sim = Sim::new(seed, trace, &[2, 1, 0], nt, FailoverConfig::default());
    sim.expect_by(EPOCH_MS + 10_000 + 4 * nt, "initial convergence", |s| s.check_agreement())?;
    sim.run_until(sim.now_ms + setup.below(2 * nt))?;
    // Nodes 3, 4: replicas of master 0; node 5: replica of master 1.
    sim.crash(5);
    let t0 = sim.now_ms;
    let candidate = if sim.names[3] < sim.names[4] { 3 } else { 4 };
    let other = 7 - candidate;
    let deadline = t0 + 3 * nt + cluster::failover::SLAVE_MIGRATION_DELAY_MS + 3_000;
    let moved = sim.expect_by(deadline, "replica migration", |s| {
        (s.master_of(candidate) != Some(1)).then(|| format!("node {candidate} replicates {:?}", s.master_of(candidate)))
    })?;
    if moved < t0 + cluster::failover::SLAVE_MIGRATION_DELAY_MS {
        return Err(sim.fail(format!("migrated {} ms after the orphaning, before the delay", moved - t0)));
    }
    if sim.master_of(other) != Some(0) {
        return Err(sim.fail(format!("node {other} moved too (to {:?})", sim.master_of(other))));
    }
    // The move is stable: nobody moves back or away while the cluster settles.
    sim.run_until(sim.now_ms + 4 * nt + cluster::failover::SLAVE_MIGRATION_DELAY_MS)?;
    if sim.master_of(candidate) != Some(1) || sim.master_of(other) != Some(0) {
        return Err(sim.fail("replicas moved again".into()));
    }
    Ok(sim.steps)
}

#[test]
fn simulated_replica_migration_moves_one_replica_to_an_orphaned_master() {
    if let Some(seed) = std::env::var("SIM_SEED").ok().and_then(|s| s.parse::<u64>().ok()) {
        match run_migration_seed(seed, true) {
            Ok(steps) => println!("seed {seed}: ok, {steps} steps"),
            Err(e) => panic!("{e}"),
        }
        return;
    }
    let seeds = std::env::var("SIM_SEEDS").ok().and_then(|s| s.parse::<u64>().ok()).unwrap_or(DEFAULT_SEEDS) / 10;
    let failures: Vec<String> = (0..seeds).filter_map(|seed| run_migration_seed(seed, false).err()).collect();
    assert!(failures.is_empty(), "{} of {seeds} seeds failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn simulated_failovers_are_safe_and_live() {
    if let Some(seed) = std::env::var("SIM_SEED").ok().and_then(|s| s.parse::<u64>().ok()) {
        match run_seed(seed, true) {
            Ok(o) => println!("seed {seed}: ok, {} steps, {} promotions", o.steps, o.elections),
            Err(e) => panic!("{e}"),
        }
        return;
    }
    let seeds = std::env::var("SIM_SEEDS").ok().and_then(|s| s.parse::<u64>().ok()).unwrap_or(DEFAULT_SEEDS);
    let base = std::env::var("SIM_SEED_BASE").ok().and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
    let started = std::time::Instant::now();
    let threads = 2u64;
    let results: Vec<(Vec<String>, u64, u64)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    let mut failures = Vec::new();
                    let (mut steps, mut elections) = (0, 0);
                    let mut seed = base + t;
                    while seed < base + seeds {
                        match run_seed(seed, false) {
                            Ok(o) => {
                                steps += o.steps;
                                elections += o.elections;
                            }
                            Err(e) => failures.push(e),
                        }
                        seed += threads;
                    }
                    (failures, steps, elections)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| (vec!["a simulation thread panicked".into()], 0, 0)))
            .collect()
    });
    let failures: Vec<String> = results.iter().flat_map(|r| r.0.clone()).collect();
    let steps: u64 = results.iter().map(|r| r.1).sum();
    let elections: u64 = results.iter().map(|r| r.2).sum();
    println!(
        "{seeds} seeds in {:.1} s: {} failed, {steps} steps, {elections} promotions",
        started.elapsed().as_secs_f64(),
        failures.len()
    );
    assert!(failures.is_empty(), "{} of {seeds} seeds failed:\n{}", failures.len(), failures.join("\n"));
    assert!(seeds < 10 || elections >= seeds, "too few promotions: the liveness episode should promote once per seed");
}

/// The bus message types the simulator exchanges must all be decodable (the codec is in the loop).
#[test]
fn simulated_messages_round_trip() {
    let msg = Message {
        header: cluster::bus::Header {
            port: 7000,
            current_epoch: 1,
            config_epoch: 1,
            repl_offset: 5,
            sender: NodeName::parse(&"a".repeat(40)).unwrap_or(NodeName::NULL),
            myslots: Box::default(),
            replicaof: None,
            myip: Default::default(),
            pport: 0,
            cport: 17000,
            flags: NodeFlags::MASTER,
            state: 0,
            mflags: [cluster::bus::mflag0::PAUSED, 0, 0],
        },
        body: Body::MfStart,
    };
    assert_eq!(decode(&encode(&msg).unwrap()).unwrap(), msg);
}
