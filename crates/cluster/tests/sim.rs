//! A deterministic simulator: N cluster state machines in one process, a seeded network that
//! delays, duplicates, drops and partitions messages, and virtual time. Every run is a pure
//! function of its seed; a failing seed prints the command that replays it alone.
//!
//! Each seed runs a join (CLUSTER MEET on a reliable network, since Redis does not retry a lost
//! MEET either), then a few fault episodes (freeze a master, partition a minority), checking
//! after every step that epochs never go back and, at Redis's time bounds, that failures are
//! detected, agreed, and cleared, and that a minority partition reports `cluster_state:fail`.
//!
//! Environment: `SIM_SEED=<n>` runs that seed alone, printing a trace summary;
//! `SIM_SEEDS=<count>` changes how many seeds the default run covers.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use cluster::machine::{Action, Command, Config, LinkAddrs, LinkId, Machine, Rng, CRON_PERIOD_MS};
use cluster::{cluster_command, decode, encode, EmptyKeyspace, Message, NodeFlags, NodeName, Reply};

/// Virtual clocks start at a realistic Unix time: gossip carries pong times in seconds, and a
/// clock near zero would hide the ms → s truncation.
const EPOCH_MS: u64 = 1_700_000_000_000;
/// Slack for tick granularity (100 ms), network delay and reconnects, added to Redis's bounds.
const SLACK_MS: u64 = 1_000;
const DEFAULT_SEEDS: u64 = 70;
/// Bound on simulated events per seed: a run that does not finish is a bug, not a hang.
const MAX_EVENTS: u64 = 2_000_000;
/// Bound on messages held for a frozen node (peers ping at most once per link per interval).
const MAX_BACKLOG: usize = 100_000;

#[derive(Debug)]
enum Event {
    Tick {
        node: usize,
    },
    Connected {
        node: usize,
        link: u64,
    },
    /// The outbound link failed to connect, or broke (reset).
    ConnectFailed {
        node: usize,
        link: u64,
    },
    Deliver {
        conn: usize,
        to_acceptor: bool,
        bytes: Vec<u8>,
    },
}

struct Conn {
    initiator: usize,
    acceptor: usize,
    out_link: u64,
    open: bool,
    /// Last scheduled delivery time per direction, so each direction stays FIFO like TCP.
    last_to_acceptor_ms: u64,
    last_to_initiator_ms: u64,
}

struct SimNode {
    machine: Machine,
    ip: String,
    frozen: bool,
    /// Messages that reached this node while frozen: TCP holds them, the process reads them
    /// when it runs again.
    backlog: Vec<(usize, bool, Vec<u8>)>,
    last_current_epoch: u64,
    last_config_epochs: BTreeMap<NodeName, u64>,
}

struct Net {
    drop_per_mille: u64,
    dup_per_mille: u64,
    max_delay_ms: u64,
    /// Partition group of each node; messages and connects cross groups never.
    group: Vec<u8>,
}

struct Sim {
    seed: u64,
    now_ms: u64,
    rng: Rng,
    nodes: Vec<SimNode>,
    conns: Vec<Conn>,
    net: Net,
    events: BinaryHeap<Reverse<(u64, u64, usize)>>,
    payloads: BTreeMap<usize, Event>,
    next_event: usize,
    seq: u64,
    steps: u64,
    messages: u64,
    /// (viewer, subject, until_ms): the viewer must keep the subject, a master with slots, in
    /// FAIL until then (Redis undoes such a FAIL only 2 × node_timeout after marking it).
    fail_floors: Vec<(usize, usize, u64)>,
    saves: u64,
    /// UPDATE messages delivered (stale slot claims corrected).
    updates: u64,
}

type SimResult<T> = Result<T, String>;

impl Sim {
    fn new(seed: u64, n: usize, node_timeout_ms: u64, require_full_coverage: bool) -> Sim {
        let mut rng = Rng::new(seed);
        let nodes = (0..n)
            .map(|i| {
                let config = Config {
                    node_timeout_ms,
                    require_full_coverage,
                    announce_ip: None,
                    port: 7000,
                    cport: 17000,
                    pport: 0,
                    ..Config::default()
                };
                let machine = Machine::fresh(config, rng.next_u64(), EPOCH_MS);
                SimNode {
                    machine,
                    ip: format!("10.0.0.{}", i + 1),
                    frozen: false,
                    backlog: Vec::new(),
                    last_current_epoch: 0,
                    last_config_epochs: BTreeMap::new(),
                }
            })
            .collect();
        let mut sim = Sim {
            seed,
            now_ms: EPOCH_MS,
            rng,
            nodes,
            conns: Vec::new(),
            net: Net { drop_per_mille: 0, dup_per_mille: 20, max_delay_ms: 30, group: vec![0; n] },
            events: BinaryHeap::new(),
            payloads: BTreeMap::new(),
            next_event: 0,
            seq: 0,
            steps: 0,
            messages: 0,
            fail_floors: Vec::new(),
            saves: 0,
            updates: 0,
        };
        for node in 0..n {
            // Staggered cron phases, as real servers' timers are.
            let phase_ms = sim.rng.below(CRON_PERIOD_MS);
            sim.schedule(EPOCH_MS + phase_ms, Event::Tick { node });
        }
        sim
    }

    fn fail(&self, what: String) -> String {
        format!(
            "seed {} failed at t+{} ms (step {}): {what}\n  replay: SIM_SEED={} cargo test -p cluster --test sim -- --nocapture",
            self.seed,
            self.now_ms - EPOCH_MS,
            self.steps,
            self.seed
        )
    }

    fn schedule(&mut self, at_ms: u64, event: Event) {
        let id = self.next_event;
        self.next_event += 1;
        self.seq += 1;
        self.payloads.insert(id, event);
        self.events.push(Reverse((at_ms, self.seq, id)));
    }

    fn apply(&mut self, node: usize, actions: Vec<Action>) -> SimResult<()> {
        for action in actions {
            match action {
                Action::Connect { link, ip, cport } => {
                    let target = self.nodes.iter().position(|n| n.ip == ip && cport == 17000);
                    let delay_ms = 1 + self.rng.below(self.net.max_delay_ms);
                    match target {
                        Some(to) if self.net.group[to] == self.net.group[node] => {
                            self.conns.push(Conn {
                                initiator: node,
                                acceptor: to,
                                out_link: link,
                                open: true,
                                last_to_acceptor_ms: 0,
                                last_to_initiator_ms: 0,
                            });
                            // A frozen peer's kernel still accepts: the connect succeeds.
                            self.schedule(self.now_ms + delay_ms, Event::Connected { node, link });
                        }
                        // Across a partition the SYNs vanish and the connect hangs: only the
                        // machine's own link timeout ends it. To nobody it is refused.
                        Some(_) => {}
                        None => self.schedule(self.now_ms + delay_ms, Event::ConnectFailed { node, link }),
                    }
                }
                Action::Close { link } => {
                    for conn in &mut self.conns {
                        if conn.initiator == node && conn.out_link == link {
                            conn.open = false;
                        }
                    }
                }
                Action::CloseInbound { link } => {
                    if let Some(conn) = self.conns.get_mut(link as usize).filter(|c| c.acceptor == node) {
                        conn.open = false;
                    }
                }
                Action::Send { link, msg } => self.send(node, link, &msg)?,
                // Checked in `check_saved_configs` at quiet points: rendering nodes.conf on every
                // save would dominate the run time.
                Action::SaveConfig { .. } => self.saves += 1,
                Action::StateChanged { .. }
                | Action::ReplicateFrom { .. }
                | Action::DropSlotKeys { .. }
                | Action::DropSlotChannels { .. }
                | Action::StopReplication { .. }
                | Action::Deliver { .. } => {}
            }
        }
        Ok(())
    }

    fn send(&mut self, from: usize, link: LinkId, msg: &Message) -> SimResult<()> {
        let bytes = encode(msg).map_err(|e| self.fail(format!("node {from} built an unencodable message: {e}")))?;
        let conn = match link {
            LinkId::Out(l) => self.conns.iter().position(|c| c.initiator == from && c.out_link == l && c.open),
            LinkId::In(i) => {
                let i = i as usize;
                self.conns.get(i).is_some_and(|c| c.acceptor == from && c.open).then_some(i)
            }
        };
        let Some(conn) = conn else { return Ok(()) };
        let to_acceptor = matches!(link, LinkId::Out(_));
        let copies = if self.rng.below(1000) < self.net.dup_per_mille { 2 } else { 1 };
        for _ in 0..copies {
            if self.rng.below(1000) < self.net.drop_per_mille {
                // TCP never loses one message silently: a lost message is a reset link, which
                // its initiator learns about.
                let c = &mut self.conns[conn];
                c.open = false;
                let (node, link) = (c.initiator, c.out_link);
                let at_ms = self.now_ms + 1 + self.rng.below(self.net.max_delay_ms);
                self.schedule(at_ms, Event::ConnectFailed { node, link });
                return Ok(());
            }
            let delay_ms = 1 + self.rng.below(self.net.max_delay_ms);
            let c = &mut self.conns[conn];
            let last = if to_acceptor { &mut c.last_to_acceptor_ms } else { &mut c.last_to_initiator_ms };
            let at_ms = (self.now_ms + delay_ms).max(*last);
            *last = at_ms;
            self.schedule(at_ms, Event::Deliver { conn, to_acceptor, bytes: bytes.clone() });
        }
        Ok(())
    }

    /// Runs events until virtual time `until_ms`, checking the step invariants after each.
    fn run_until(&mut self, until_ms: u64) -> SimResult<()> {
        while let Some(Reverse((at_ms, _, id))) = self.events.peek().copied() {
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
                self.check_epochs(node)?;
                self.check_fail_floors(node)?;
            }
        }
        self.now_ms = until_ms;
        Ok(())
    }

    /// Runs one event; returns the node whose state it may have changed.
    fn step(&mut self, event: Event) -> SimResult<Option<usize>> {
        let now_ms = self.now_ms;
        match event {
            Event::Tick { node } => {
                self.schedule(now_ms + CRON_PERIOD_MS, Event::Tick { node });
                if self.nodes[node].frozen {
                    return Ok(None);
                }
                let actions = self.nodes[node].machine.tick(now_ms);
                self.apply(node, actions)?;
                Ok(Some(node))
            }
            Event::Connected { node, link } => {
                // A frozen initiator notices later; the connect itself completed in its kernel.
                let actions = self.nodes[node].machine.link_connected(link, now_ms);
                self.apply(node, actions)?;
                Ok(Some(node))
            }
            Event::ConnectFailed { node, link } => {
                let actions = self.nodes[node].machine.link_closed(link, now_ms);
                self.apply(node, actions)?;
                Ok(Some(node))
            }
            Event::Deliver { conn, to_acceptor, bytes } => {
                let c = &self.conns[conn];
                let (to, from) = if to_acceptor { (c.acceptor, c.initiator) } else { (c.initiator, c.acceptor) };
                let link = if to_acceptor { LinkId::In(conn as u64) } else { LinkId::Out(c.out_link) };
                if !c.open {
                    return Ok(None);
                }
                if self.net.group[to] != self.net.group[from] {
                    // Lost in the partition; the connection is dead, but neither end is told
                    // (TCP would retry for minutes): Redis's own link timeout must notice.
                    self.conns[conn].open = false;
                    return Ok(None);
                }
                if self.nodes[to].frozen {
                    if self.nodes[to].backlog.len() >= MAX_BACKLOG {
                        return Err(self.fail(format!("node {to}'s backlog is over {MAX_BACKLOG} messages")));
                    }
                    self.nodes[to].backlog.push((conn, to_acceptor, bytes));
                    return Ok(None);
                }
                let msg = decode(&bytes).map_err(|e| self.fail(format!("node {to} could not decode: {e}")))?;
                let addrs = LinkAddrs { peer_ip: self.nodes[from].ip.clone(), local_ip: self.nodes[to].ip.clone() };
                self.messages += 1;
                if msg.body.msg_type() == cluster::bus::msg_type::UPDATE {
                    self.updates += 1;
                }
                let actions = self.nodes[to].machine.handle_message(link, &addrs, &msg, now_ms);
                self.apply(to, actions)?;
                Ok(Some(to))
            }
        }
    }

    /// Epochs never go back: a node's currentEpoch, and every configEpoch in its view.
    fn check_epochs(&mut self, i: usize) -> SimResult<()> {
        let node = &self.nodes[i];
        let current = node.machine.state.current_epoch;
        if current < node.last_current_epoch {
            return Err(self.fail(format!("node {i} currentEpoch went back {} -> {current}", node.last_current_epoch)));
        }
        for (name, n) in &node.machine.state.nodes {
            if let Some(&last) = node.last_config_epochs.get(name) {
                if n.config_epoch < last {
                    return Err(
                        self.fail(format!("node {i}'s configEpoch of {name} went back {last} -> {}", n.config_epoch))
                    );
                }
            }
        }
        let node = &mut self.nodes[i];
        node.last_current_epoch = current;
        for (name, n) in &node.machine.state.nodes {
            node.last_config_epochs.insert(*name, n.config_epoch);
        }
        Ok(())
    }

    /// What a restart would load must survive nodes.conf text: every node's state renders,
    /// parses back, and loads into the same topology.
    fn check_saved_configs(&self) -> SimResult<()> {
        for (i, node) in self.nodes.iter().enumerate() {
            let state = &node.machine.state;
            let text = state.to_nodes_conf().to_text();
            let conf = cluster::NodesConf::parse(&text)
                .map_err(|e| self.fail(format!("node {i} saved a bad nodes.conf: {e}")))?;
            let loaded = cluster::ClusterState::from_nodes_conf(&conf, self.now_ms)
                .map_err(|e| self.fail(format!("node {i}'s nodes.conf does not load: {e}")))?;
            if loaded.slot_owner != state.slot_owner || loaded.nodes.len() != state.nodes.len() {
                return Err(self.fail(format!("node {i}'s nodes.conf loads another topology")));
            }
        }
        Ok(())
    }

    fn check_fail_floors(&self, viewer: usize) -> SimResult<()> {
        for &(v, subject, until_ms) in &self.fail_floors {
            if v == viewer && self.now_ms <= until_ms && !self.flags_of(v, subject).contains(NodeFlags::FAIL) {
                return Err(self.fail(format!(
                    "node {v} cleared FAIL of node {subject} {} ms before 2 x node_timeout had passed",
                    until_ms - self.now_ms
                )));
            }
        }
        Ok(())
    }

    fn name(&self, i: usize) -> NodeName {
        self.nodes[i].machine.myself()
    }

    fn live(&self) -> Vec<usize> {
        (0..self.nodes.len()).filter(|&i| !self.nodes[i].frozen).collect()
    }

    /// Every live node knows every node (no handshakes left), sees every live node as it is
    /// (address, master, configEpoch, no failure flags), all agree on slot owners, epochs are
    /// distinct, and every live node reports ok.
    fn check_converged(&self, what: &str) -> SimResult<()> {
        let n = self.nodes.len();
        for &a in &self.live() {
            let m = &self.nodes[a].machine;
            if m.state.nodes.len() != n {
                return Err(format!(
                    "{what}: node {a} knows {} nodes, not {n}: {:?}",
                    m.state.nodes.len(),
                    m.state.nodes.values().map(|x| x.flags).collect::<Vec<_>>()
                ));
            }
            for b in 0..n {
                let nb = self.name(b);
                let Some(view) = m.state.nodes.get(&nb) else {
                    return Err(format!("{what}: node {a} does not know node {b}"));
                };
                let own = &self.nodes[b].machine.state.nodes[&nb];
                let bad = [NodeFlags::PFAIL, NodeFlags::FAIL, NodeFlags::HANDSHAKE, NodeFlags::NOADDR];
                if bad.iter().any(|f| view.flags.contains(*f)) || !view.flags.contains(NodeFlags::MASTER) {
                    return Err(format!(
                        "{what}: node {a} sees node {b} with flags {:?} (ping_sent t+{}, pong t+{}, fail_time t+{}, connected {})",
                        view.flags,
                        view.ping_sent_ms.saturating_sub(EPOCH_MS),
                        view.pong_received_ms.saturating_sub(EPOCH_MS),
                        view.fail_time_ms.saturating_sub(EPOCH_MS),
                        view.link_connected
                    ));
                }
                if a != b && (view.ip != self.nodes[b].ip || view.port != 7000 || view.cport != 17000) {
                    return Err(format!("{what}: node {a} sees node {b} at {}:{}@{}", view.ip, view.port, view.cport));
                }
                if view.config_epoch != own.config_epoch {
                    return Err(format!(
                        "{what}: node {a} sees node {b} at configEpoch {}, it has {}",
                        view.config_epoch, own.config_epoch
                    ));
                }
            }
            if !m.cluster_ok() {
                return Err(format!("{what}: node {a} reports cluster_state fail"));
            }
        }
        let mut epochs: Vec<u64> =
            (0..n).map(|i| self.nodes[i].machine.state.nodes[&self.name(i)].config_epoch).collect();
        epochs.sort_unstable();
        epochs.dedup();
        if epochs.len() != n {
            return Err(format!("{what}: configEpochs not distinct: {epochs:?}"));
        }
        // Last: comparing 16384 owners per node is the expensive check.
        let live = self.live();
        let Some(&first) = live.first() else { return Ok(()) };
        for &a in &live[1..] {
            if self.nodes[a].machine.state.slot_owner != self.nodes[first].machine.state.slot_owner {
                return Err(format!("{what}: node {a} disagrees with node {first} on slot owners"));
            }
        }
        Ok(())
    }

    /// Runs until `deadline_ms`, succeeding as soon as `cond` holds after a step; the failure
    /// names what did not happen in time.
    fn expect_by(&mut self, deadline_ms: u64, what: &str, cond: impl Fn(&Sim) -> Option<String>) -> SimResult<u64> {
        loop {
            let Some(problem) = cond(self) else { return Ok(self.now_ms) };
            if self.now_ms >= deadline_ms {
                return Err(self.fail(format!("{what}: not true by its deadline: {problem}")));
            }
            let next_ms = (self.now_ms + 50).min(deadline_ms);
            self.run_until(next_ms)?;
        }
    }

    fn unfreeze(&mut self, node: usize) {
        self.nodes[node].frozen = false;
        let backlog = std::mem::take(&mut self.nodes[node].backlog);
        for (conn, to_acceptor, bytes) in backlog {
            // Same instant, in arrival order (the heap breaks ties by sequence number).
            self.schedule(self.now_ms, Event::Deliver { conn, to_acceptor, bytes });
        }
    }

    fn flags_of(&self, viewer: usize, subject: usize) -> NodeFlags {
        self.nodes[viewer].machine.state.nodes.get(&self.name(subject)).map_or(NodeFlags::empty(), |n| n.flags)
    }
}

struct Outcome {
    steps: u64,
    messages: u64,
    episodes: usize,
    sim_ms: u64,
}

/// A cluster of 3 to 6 masters with the slots split evenly, joined and converged.
fn joined_cluster(seed: u64, setup: &mut Rng) -> SimResult<(Sim, usize, u64)> {
    let n = 3 + setup.below(4) as usize;
    let node_timeout_ms = [1000, 2000, 3000][setup.below(3) as usize];
    let distinct_epochs = setup.below(2) == 0;
    // Without full coverage a cluster stays ok with a master down, as long as a majority of
    // masters is reachable.
    let full_coverage = setup.below(3) != 0;
    let mut sim = Sim::new(seed, n, node_timeout_ms, full_coverage);
    let nt = node_timeout_ms;

    // Slots split evenly; epochs either set as redis-cli does (1..N) or left at 0, so that the
    // configEpoch collision rule has to make them distinct.
    let per = cluster::CLUSTER_SLOTS / n;
    for i in 0..n {
        let first = i * per;
        let last = if i == n - 1 { cluster::CLUSTER_SLOTS } else { first + per };
        let slots: Vec<u16> = (first..last).map(|s| s as u16).collect();
        let now = sim.now_ms;
        let mut actions =
            sim.nodes[i].machine.handle_command(Command::AddSlots(slots), now).map_err(|e| sim.fail(e.to_string()))?;
        if distinct_epochs {
            actions.extend(
                sim.nodes[i]
                    .machine
                    .handle_command(Command::SetConfigEpoch(i as u64 + 1), now)
                    .map_err(|e| sim.fail(e.to_string()))?,
            );
        }
        sim.apply(i, actions)?;
    }
    // Node 0 meets everyone, or each node meets the previous one (a chain: gossip must spread).
    let chain = setup.below(2) == 0;
    for i in 1..n {
        let (who, whom) = if chain { (i, i - 1) } else { (0, i) };
        let ip = sim.nodes[whom].ip.clone();
        let now = sim.now_ms;
        let actions = sim.nodes[who]
            .machine
            .handle_command(Command::Meet { ip, port: 7000, cport: None }, now)
            .map_err(|e| sim.fail(e.to_string()))?;
        sim.apply(who, actions)?;
    }
    // Joining: a chain of n nodes needs a few gossip rounds; each round is at most a ping
    // interval (node_timeout/2) plus the 1 s random ping.
    let join_deadline_ms = sim.now_ms + 10_000 + 3 * nt * n as u64;
    sim.expect_by(join_deadline_ms, "join", |s| s.check_converged("join").err())?;
    sim.check_saved_configs()?;
    Ok((sim, n, nt))
}

fn run_seed(seed: u64, trace: bool) -> SimResult<Outcome> {
    let mut setup = Rng::new(seed ^ 0x5eed);
    let (mut sim, n, nt) = joined_cluster(seed, &mut setup)?;
    let full_coverage = sim.nodes[0].machine.config().require_full_coverage;

    // Faults from here on: some seeds also drop messages.
    sim.net.drop_per_mille = if setup.below(2) == 0 { 0 } else { 5 };
    sim.net.max_delay_ms = 50;
    let drop_slack_ms = if sim.net.drop_per_mille > 0 { nt } else { 0 };
    let episodes = 2 + setup.below(2) as usize;
    for episode in 0..episodes {
        let quiet_ms = sim.now_ms + 500 + setup.below(2000);
        sim.run_until(quiet_ms)?;
        if setup.below(2) == 0 {
            // Freeze one master (it stops answering, as under SIGSTOP or a dead host).
            let k = setup.below(n as u64) as usize;
            let t0 = sim.now_ms;
            if trace {
                println!("episode {episode}: freeze node {k} at t+{}", t0 - EPOCH_MS);
            }
            sim.nodes[k].frozen = true;
            // PFAIL: the next ping goes out at most node_timeout/2 after the last pong, and
            // times out node_timeout later.
            let pfail_by = t0 + nt / 2 + nt + SLACK_MS + drop_slack_ms;
            sim.expect_by(pfail_by, "PFAIL after freeze", |s| {
                s.live()
                    .into_iter()
                    .find(|&a| {
                        !s.flags_of(a, k).contains(NodeFlags::PFAIL) && !s.flags_of(a, k).contains(NodeFlags::FAIL)
                    })
                    .map(|a| format!("node {a} does not suspect node {k}"))
            })?;
            // FAIL: reports (valid 2 × node_timeout) reach everyone within one more ping interval.
            let fail_by = t0 + 2 * nt + 2 * SLACK_MS + drop_slack_ms;
            let failed_at = sim.expect_by(fail_by, "FAIL after freeze", |s| {
                s.live()
                    .into_iter()
                    .find(|&a| !s.flags_of(a, k).contains(NodeFlags::FAIL))
                    .map(|a| format!("node {a} sees node {k} as {:?}", s.flags_of(a, k)))
            })?;
            if full_coverage {
                // Its slots are uncovered: everyone reports fail.
                sim.expect_by(failed_at + SLACK_MS, "cluster fail while a master is FAIL", |s| {
                    s.live()
                        .into_iter()
                        .find(|&a| s.nodes[a].machine.cluster_ok())
                        .map(|a| format!("node {a} still ok"))
                })?;
            } else if let Some(a) = sim.live().into_iter().find(|&a| !sim.nodes[a].machine.cluster_ok()) {
                return Err(sim.fail(format!("node {a} reports fail with a majority of masters reachable")));
            }
            let down_ms = setup.below(3 * nt);
            sim.run_until(sim.now_ms + down_ms)?;
            let t1 = sim.now_ms;
            sim.unfreeze(k);
            if trace {
                println!("  node {k} FAIL everywhere at t+{}, back at t+{}", failed_at - EPOCH_MS, t1 - EPOCH_MS);
            }
            // A master with slots leaves FAIL only 2 × node_timeout after it was marked, then at
            // its next PONG (the stale link is dropped and reconnected first).
            let last_fail_ms = sim
                .live()
                .iter()
                .map(|&a| sim.nodes[a].machine.state.nodes[&sim.name(k)].fail_time_ms)
                .max()
                .unwrap_or(t1);
            sim.fail_floors = sim
                .live()
                .into_iter()
                .filter(|&a| a != k)
                .map(|a| (a, k, sim.nodes[a].machine.state.nodes[&sim.name(k)].fail_time_ms + 2 * nt))
                .collect();
            let clear_by = t1.max(last_fail_ms + 2 * nt) + nt / 2 + 2 * SLACK_MS + drop_slack_ms;
            sim.expect_by(clear_by, "FAIL cleared after return", |s| {
                (0..s.nodes.len())
                    .find(|&a| {
                        a != k
                            && (s.flags_of(a, k).contains(NodeFlags::FAIL)
                                || s.flags_of(a, k).contains(NodeFlags::PFAIL))
                    })
                    .map(|a| {
                        let v = &s.nodes[a].machine.state.nodes[&s.name(k)];
                        format!(
                            "node {a} sees node {k} as {:?} (ping_sent t+{}, pong t+{}, fail_time t+{}, connected {})",
                            v.flags,
                            v.ping_sent_ms.saturating_sub(EPOCH_MS),
                            v.pong_received_ms.saturating_sub(EPOCH_MS),
                            v.fail_time_ms.saturating_sub(EPOCH_MS),
                            v.link_connected
                        )
                    })
            })?;
            sim.fail_floors.clear();
            let rejoin_ms = nt.clamp(500, 5000);
            sim.expect_by(clear_by + rejoin_ms + nt + 2 * SLACK_MS, "converged after return", |s| {
                s.check_converged("after return").err()
            })?;
        } else {
            // Partition a minority of masters away from the rest.
            let minority = 1 + setup.below(((n - 1) / 2) as u64) as usize;
            let mut members: Vec<usize> = (0..n).collect();
            for i in 0..minority {
                let j = i + setup.below((n - i) as u64) as usize;
                members.swap(i, j);
            }
            let side: Vec<usize> = members[..minority].to_vec();
            for &i in &side {
                sim.net.group[i] = 1;
            }
            let t0 = sim.now_ms;
            if trace {
                println!("episode {episode}: partition {side:?} away at t+{}", t0 - EPOCH_MS);
            }
            // The minority sees the majority PFAIL within the PFAIL bound and goes fail.
            let fail_by = t0 + nt / 2 + nt + 2 * SLACK_MS + drop_slack_ms;
            sim.expect_by(fail_by, "minority reports cluster_state fail", |s| {
                side.iter()
                    .find(|&&a| s.nodes[a].machine.cluster_ok())
                    .map(|a| format!("node {a} in the minority still ok"))
            })?;
            // ... and stays fail while partitioned.
            let hold_ms = nt + setup.below(2 * nt);
            let hold_until = sim.now_ms + hold_ms;
            while sim.now_ms < hold_until {
                sim.run_until(sim.now_ms + CRON_PERIOD_MS)?;
                if let Some(a) = side.iter().find(|&&a| sim.nodes[a].machine.cluster_ok()) {
                    return Err(sim.fail(format!("node {a} in the minority reports ok while partitioned")));
                }
                // The majority keeps a quorum of masters: without full coverage it stays ok.
                let majority_down = (0..n).find(|&a| !side.contains(&a) && !sim.nodes[a].machine.cluster_ok());
                if let (false, Some(a)) = (full_coverage, majority_down) {
                    return Err(sim.fail(format!("node {a} in the majority reports fail")));
                }
            }
            sim.net.group = vec![0; n];
            let t1 = sim.now_ms;
            if trace {
                println!("  healed at t+{}", t1 - EPOCH_MS);
            }
            let last_fail_ms = (0..n)
                .flat_map(|a| (0..n).map(move |b| (a, b)))
                .map(|(a, b)| sim.nodes[a].machine.state.nodes.get(&sim.name(b)).map_or(0, |x| x.fail_time_ms))
                .max()
                .unwrap_or(t1);
            let rejoin_ms = nt.clamp(500, 5000);
            let heal_by = t1.max(last_fail_ms + 2 * nt) + nt / 2 + rejoin_ms + nt + 3 * SLACK_MS + drop_slack_ms;
            sim.expect_by(heal_by, "converged after heal", |s| s.check_converged("after heal").err())?;
        }
    }
    sim.check_saved_configs()?;
    if sim.saves == 0 {
        return Err(sim.fail("no node ever asked to save nodes.conf".into()));
    }
    Ok(Outcome { steps: sim.steps, messages: sim.messages, episodes, sim_ms: sim.now_ms - EPOCH_MS })
}

#[test]
fn simulated_clusters_join_detect_failures_and_heal() {
    if let Some(seed) = std::env::var("SIM_SEED").ok().and_then(|s| s.parse::<u64>().ok()) {
        match run_seed(seed, true) {
            Ok(o) => println!(
                "seed {seed}: ok, {} steps, {} messages, {} episodes, {} ms simulated",
                o.steps, o.messages, o.episodes, o.sim_ms
            ),
            Err(e) => panic!("{e}"),
        }
        return;
    }
    let seeds = std::env::var("SIM_SEEDS").ok().and_then(|s| s.parse::<u64>().ok()).unwrap_or(DEFAULT_SEEDS);
    let mut failures = Vec::new();
    let (mut steps, mut messages) = (0, 0);
    for seed in 0..seeds {
        match run_seed(seed, false) {
            Ok(o) => {
                steps += o.steps;
                messages += o.messages;
            }
            Err(e) => failures.push(e),
        }
    }
    println!("{seeds} seeds: {} failed, {steps} steps, {messages} messages", failures.len());
    assert!(failures.is_empty(), "{} of {seeds} seeds failed:\n{}", failures.len(), failures.join("\n"));
}

impl Sim {
    /// Runs `CLUSTER <words>` on node `i` now; the reply must be `expected`.
    fn cluster(&mut self, i: usize, words: &str, expected: &[&str]) -> SimResult<()> {
        let args: Vec<&[u8]> = words.split(' ').map(str::as_bytes).collect();
        let now = self.now_ms;
        let (reply, actions) = cluster_command(&mut self.nodes[i].machine, &args, &EmptyKeyspace, now);
        let text = match &reply {
            Reply::Ok => "OK".to_string(),
            Reply::Status(s) => s.split(' ').next().unwrap_or_default().to_string(),
            other => format!("{other:?}"),
        };
        if !expected.contains(&text.as_str()) {
            return Err(self.fail(format!("node {i}: CLUSTER {words} answered {reply:?}")));
        }
        self.apply(i, actions)?;
        self.check_epochs(i)
    }

    /// Node `a`'s slot owners as node indexes (node 0 for an unassigned slot).
    fn owners_seen_by(&self, a: usize) -> Vec<usize> {
        let view = &self.nodes[a].machine.state.slot_owner;
        view.iter().map(|o| (0..self.nodes.len()).find(|&i| Some(self.name(i)) == *o).unwrap_or(0)).collect()
    }

    /// Every slot has an owner in every live node's view.
    fn check_covered(&self) -> Option<String> {
        for &a in &self.live() {
            if let Some(slot) = self.nodes[a].machine.state.slot_owner.iter().position(Option::is_none) {
                return Some(format!("node {a} sees slot {slot} unassigned"));
            }
        }
        None
    }

    /// Every live node's view has each slot owned by `owners[slot]` (an index into `nodes`).
    fn check_owners(&self, owners: &[usize]) -> Option<String> {
        for &a in &self.live() {
            let view = &self.nodes[a].machine.state.slot_owner;
            for (slot, &owner) in owners.iter().enumerate() {
                if view[slot] != Some(self.name(owner)) {
                    let seen = view[slot].and_then(|o| (0..self.nodes.len()).find(|&i| self.name(i) == o));
                    return Some(format!("node {a} sees slot {slot} owned by {seen:?}, not node {owner}"));
                }
            }
        }
        None
    }
}

/// Slots change hands as redis-cli moves them, by CLUSTER commands on the nodes while the
/// network delays and duplicates messages: a migration (IMPORTING on the target, MIGRATING on
/// the source, NODE on the target, the source and some other masters, as `clusterManagerMoveSlot`
/// does) or a reassignment (DELSLOTS on some nodes, ADDSLOTS and BUMPEPOCH on the new owner, as
/// `clusterManagerSetSlotOwner` does). Several run at once on distinct slots; stale claims are
/// corrected by UPDATE messages. Once converged, every node must see every slot owned by the
/// node it was last given to, and no epoch may ever go back (checked after every step).
fn run_slot_seed(seed: u64, trace: bool) -> SimResult<(u64, u64)> {
    let mut setup = Rng::new(seed ^ 0x51075);
    let (mut sim, n, nt) = joined_cluster(seed, &mut setup)?;
    sim.net.drop_per_mille = if setup.below(2) == 0 { 0 } else { 5 };
    sim.net.max_delay_ms = 50;
    let mut owners: Vec<usize> = (0..cluster::CLUSTER_SLOTS)
        .map(|slot| sim.nodes[0].machine.state.slot_owner[slot])
        .map(|o| (0..n).find(|&i| Some(sim.name(i)) == o).unwrap_or(0))
        .collect();
    let rounds = 3 + setup.below(3);
    for round in 0..rounds {
        // A batch of moves on distinct slots, then convergence.
        let before = owners.clone();
        let mut touched = std::collections::BTreeSet::new();
        let batch = 1 + setup.below(4);
        for _ in 0..batch {
            let slot = setup.below(cluster::CLUSTER_SLOTS as u64) as usize;
            let src = owners[slot];
            let dst = setup.below(n as u64) as usize;
            // A master never gives away its last slot here (it would become a replica).
            if dst == src || !touched.insert(slot) || owners.iter().filter(|&&o| o == src).count() < 2 {
                continue;
            }
            let (src_id, dst_id) = (sim.name(src).to_string(), sim.name(dst).to_string());
            if setup.below(2) == 0 {
                if trace {
                    println!("round {round}: migrate slot {slot} from node {src} to node {dst}");
                }
                sim.cluster(dst, &format!("setslot {slot} importing {src_id}"), &["OK"])?;
                sim.cluster(src, &format!("setslot {slot} migrating {dst_id}"), &["OK"])?;
                sim.cluster(dst, &format!("setslot {slot} node {dst_id}"), &["OK"])?;
                sim.cluster(src, &format!("setslot {slot} node {dst_id}"), &["OK"])?;
                for other in (0..n).filter(|&o| o != src && o != dst) {
                    if setup.below(2) == 0 {
                        sim.cluster(other, &format!("setslot {slot} node {dst_id}"), &["OK"])?;
                    }
                }
            } else {
                if trace {
                    println!("round {round}: reassign slot {slot} from node {src} to node {dst}");
                }
                for other in 0..n {
                    let owned = sim.nodes[other].machine.state.slot_owner[slot].is_some();
                    if other == dst || (owned && setup.below(2) == 0) {
                        sim.cluster(other, &format!("delslots {slot}"), &["OK"])?;
                    }
                }
                sim.cluster(dst, &format!("addslots {slot}"), &["OK"])?;
                sim.cluster(dst, "bumpepoch", &["BUMPED", "STILL"])?;
            }
            owners[slot] = dst;
            let gap_ms = setup.below(300);
            sim.run_until(sim.now_ms + gap_ms)?;
        }
        // With one move in flight the new owner's epoch is the greatest, so it must win. With
        // several, two nodes may bump to the same epoch concurrently (their commands run before
        // either hears of the other's); the collision rule then moves the smaller name to a new
        // epoch, and an old owner still claiming the slot can win it back, as in Redis. Then
        // only agreement is required, and the agreed owners become the expectation.
        let moves = owners.iter().zip(&before).filter(|(a, b)| a != b).count();
        let deadline_ms = sim.now_ms + 10_000 + 3 * nt * n as u64;
        sim.expect_by(deadline_ms, "slots converged", |s| {
            let converged = s.check_converged("slots").err().or_else(|| s.check_covered());
            if moves <= 1 {
                converged.or_else(|| s.check_owners(&owners))
            } else {
                converged
            }
        })?;
        owners = sim.owners_seen_by(0);
    }
    sim.check_saved_configs()?;
    Ok((sim.steps, sim.updates))
}

#[test]
fn simulated_slot_moves_leave_one_owner_per_slot_everywhere() {
    if let Some(seed) = std::env::var("SIM_SEED").ok().and_then(|s| s.parse::<u64>().ok()) {
        match run_slot_seed(seed, true) {
            Ok((steps, updates)) => println!("seed {seed}: ok, {steps} steps, {updates} UPDATE messages"),
            Err(e) => panic!("{e}"),
        }
        return;
    }
    let seeds = std::env::var("SIM_SEEDS").ok().and_then(|s| s.parse::<u64>().ok()).unwrap_or(DEFAULT_SEEDS / 2);
    let mut failures = Vec::new();
    let mut updates = 0;
    for seed in 0..seeds {
        match run_slot_seed(seed, false) {
            Ok((_, u)) => updates += u,
            Err(e) => failures.push(e),
        }
    }
    println!("{seeds} seeds: {} failed, {updates} UPDATE messages", failures.len());
    assert!(failures.is_empty(), "{} of {seeds} seeds failed:\n{}", failures.len(), failures.join("\n"));
    // Reassignments that leave the old owner claiming must be corrected by UPDATE somewhere.
    assert!(seeds < 5 || updates > 0, "no stale claim was ever corrected by an UPDATE");
}
