//! The start of the cluster state machine's data: the node table, who owns each slot, the
//! epochs, and open slot migrations, with loading from and saving to `nodes.conf` as Redis 7.0
//! does it (`clusterLoadConfig` / `clusterSaveConfig`).
//!
//! Behaviour (message handling, failure detection) lives in `machine`, which owns a
//! `ClusterState` and keeps the runtime data nodes.conf does not carry (links, failure reports).

use std::collections::BTreeMap;

use thiserror::Error;

use crate::nodes_conf::{NodeLine, NodesConf, SlotEntry};
use crate::types::{NodeFlags, NodeName, CLUSTER_SLOTS};

/// What this node knows about one node of the cluster (Redis's `clusterNode`, the parts that
/// exist so far).
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Node {
    /// Empty until learned (a placeholder created for a name seen only as someone's master).
    pub ip: String,
    pub port: u16,
    pub cport: u16,
    /// Plaintext client port when `port` is the TLS one; learned from the bus only.
    pub pport: u16,
    pub hostname: Option<String>,
    pub flags: NodeFlags,
    pub master: Option<NodeName>,
    /// For a replica with a known master Redis keeps 0 and reports its master's epoch.
    pub config_epoch: u64,
    /// When we last pinged it / heard its PONG, in ms of the caller's clock (0 = never).
    pub ping_sent_ms: u64,
    pub pong_received_ms: u64,
    /// When it was marked FAIL, in ms of the caller's clock (0 = not failed).
    pub fail_time_ms: u64,
    /// Whether we hold an outbound link to it (shown as `connected` in CLUSTER NODES).
    pub link_connected: bool,
}

/// The cluster as one node sees it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ClusterState {
    pub myself: NodeName,
    pub current_epoch: u64,
    /// Epoch of the last failover vote we granted: at most one vote per epoch.
    pub last_vote_epoch: u64,
    /// Every known node, myself included. Ordered by name so iteration (and the saved file) is
    /// deterministic; Redis's hash-table order is not, and no reader depends on it.
    pub nodes: BTreeMap<NodeName, Node>,
    /// Owner of each slot, indexed by slot (16384 entries).
    pub slot_owner: Box<[Option<NodeName>]>,
    /// Slots we are migrating away, and to whom (`[slot->-node]`).
    pub migrating_to: BTreeMap<u16, NodeName>,
    /// Slots we are importing, and from whom (`[slot-<-node]`).
    pub importing_from: BTreeMap<u16, NodeName>,
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum StateError {
    #[error("the config has no `myself` node")]
    NoMyself,
}

impl ClusterState {
    /// Builds the state a Redis 7.0 node has after loading `conf` at time `now_ms`:
    /// - names seen only as a master or migration peer become placeholder nodes (no address,
    ///   no flags) until their own line, if any, fills them in;
    /// - a slot listed by two nodes stays with the first (`clusterAddSlot` refuses an owned slot);
    /// - a replica with a known master gets config epoch 0 (it reports its master's);
    /// - nonzero ping/pong times become `now_ms` (the file's times are another run's clock), and
    ///   a `fail` node's fail time is `now_ms`;
    /// - `current_epoch` is raised to the largest config epoch if it was below.
    pub fn from_nodes_conf(conf: &NodesConf, now_ms: u64) -> Result<ClusterState, StateError> {
        let myself = conf.myself().ok_or(StateError::NoMyself)?.name;
        let mut state = ClusterState {
            myself,
            current_epoch: conf.current_epoch,
            last_vote_epoch: conf.last_vote_epoch,
            nodes: BTreeMap::new(),
            slot_owner: vec![None; CLUSTER_SLOTS].into_boxed_slice(),
            migrating_to: BTreeMap::new(),
            importing_from: BTreeMap::new(),
        };
        for line in &conf.nodes {
            if let Some(master) = line.master {
                state.nodes.entry(master).or_default();
            }
            let node = state.nodes.entry(line.name).or_default();
            node.ip.clone_from(&line.ip);
            node.port = line.port;
            node.cport = line.cport;
            node.hostname.clone_from(&line.hostname);
            // Redis ORs the line's flags into the node's, so a placeholder's empty flags vanish.
            node.flags.insert(line.flags);
            node.master = line.master;
            node.ping_sent_ms = if line.ping_sent_ms != 0 { now_ms } else { 0 };
            node.pong_received_ms = if line.pong_received_ms != 0 { now_ms } else { 0 };
            if line.flags.contains(NodeFlags::FAIL) {
                node.fail_time_ms = now_ms;
            }
            let is_replica_of_known = node.flags.contains(NodeFlags::SLAVE) && node.master.is_some();
            node.config_epoch = if is_replica_of_known { 0 } else { line.config_epoch };
            node.link_connected = false;
            for entry in &line.slots {
                match *entry {
                    SlotEntry::Range { first, last } => {
                        for slot in first..=last {
                            let owner = &mut state.slot_owner[usize::from(slot)];
                            if owner.is_none() {
                                *owner = Some(line.name);
                            }
                        }
                    }
                    SlotEntry::Migrating { slot, node } => {
                        state.nodes.entry(node).or_default();
                        state.migrating_to.insert(slot, node);
                    }
                    SlotEntry::Importing { slot, node } => {
                        state.nodes.entry(node).or_default();
                        state.importing_from.insert(slot, node);
                    }
                }
            }
        }
        let max_epoch = state.nodes.values().map(|n| n.config_epoch).max().unwrap_or(0);
        state.current_epoch = state.current_epoch.max(max_epoch);
        Ok(state)
    }

    /// The config file for this state, as `clusterSaveConfig` writes it: every node but those
    /// in handshake, a replica showing its master's epoch, slots as ascending ranges, and the
    /// open migrations on the `myself` line (a slot both migrating and importing shows only as
    /// migrating, as in Redis).
    pub fn to_nodes_conf(&self) -> NodesConf {
        self.to_nodes_conf_with(self.slot_ranges())
    }

    /// `to_nodes_conf` with each owner's slot ranges given (see `node_lines_with`).
    pub fn to_nodes_conf_with(&self, owned: BTreeMap<NodeName, Vec<(u16, u16)>>) -> NodesConf {
        let nodes = self.node_lines_with(owned, false, |name, node| node.link_connected || *name == self.myself);
        NodesConf { nodes, current_epoch: self.current_epoch, last_vote_epoch: self.last_vote_epoch }
    }

    /// Each owner's slots as ascending `(first, last)` runs (`clusterGenNodesSlotsInfo`).
    pub fn slot_ranges(&self) -> BTreeMap<NodeName, Vec<(u16, u16)>> {
        let mut owned: BTreeMap<NodeName, Vec<(u16, u16)>> = BTreeMap::new();
        for (first, last, owner) in self.slot_runs() {
            owned.entry(owner).or_default().push((first, last));
        }
        owned
    }

    /// Maximal runs of consecutive slots with one owner, in slot order: `(first, last, owner)`
    /// (the walk of `clusterReplyMultiBulkSlots`).
    pub fn slot_runs(&self) -> Vec<(u16, u16, NodeName)> {
        let mut runs = Vec::new();
        let mut slot = 0usize;
        let owners = &self.slot_owner[..CLUSTER_SLOTS.min(self.slot_owner.len())];
        while slot < owners.len() {
            let Some(owner) = owners[slot] else {
                slot += 1;
                continue;
            };
            let first = slot;
            // Slot owners change in long runs, so the run's end is found by comparing whole
            // entries with the first one (no per-slot Option unwrap and re-wrap).
            let len = owners[first..].iter().take_while(|o| **o == owners[first]).count();
            slot = first + len;
            // Both fit: slots are below 16384.
            runs.push((first as u16, (slot - 1) as u16, owner));
        }
        runs
    }

    /// The lines of `clusterGenNodesDescription`: handshake nodes only when asked (CLUSTER
    /// NODES shows them, nodes.conf does not); `connected` decides the link column.
    pub fn node_lines(&self, include_handshake: bool, connected: impl Fn(&NodeName, &Node) -> bool) -> Vec<NodeLine> {
        self.node_lines_with(self.slot_ranges(), include_handshake, connected)
    }

    /// `node_lines` with each owner's slot ranges given (the machine keeps them as bitmaps,
    /// which yield them far faster than a walk of `slot_owner`).
    pub fn node_lines_with(
        &self,
        mut owned: BTreeMap<NodeName, Vec<(u16, u16)>>,
        include_handshake: bool,
        connected: impl Fn(&NodeName, &Node) -> bool,
    ) -> Vec<NodeLine> {
        self.nodes
            .iter()
            .filter(|(_, node)| include_handshake || !node.flags.contains(NodeFlags::HANDSHAKE))
            .map(|(name, node)| {
                let master_epoch = node.master.and_then(|m| self.nodes.get(&m)).map(|m| m.config_epoch);
                let config_epoch = match master_epoch {
                    Some(epoch) if node.flags.contains(NodeFlags::SLAVE) => epoch,
                    _ => node.config_epoch,
                };
                let mut slots: Vec<SlotEntry> = owned
                    .remove(name)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(first, last)| SlotEntry::Range { first, last })
                    .collect();
                if *name == self.myself {
                    // Walk the two (small) maps rather than probe both for each of the 16384
                    // slots: this runs on every save, and a reshard saves several times a slot.
                    let mut open: Vec<SlotEntry> = self
                        .migrating_to
                        .iter()
                        .map(|(&slot, &node)| SlotEntry::Migrating { slot, node })
                        .chain(
                            self.importing_from
                                .iter()
                                .filter(|(slot, _)| !self.migrating_to.contains_key(slot))
                                .map(|(&slot, &node)| SlotEntry::Importing { slot, node }),
                        )
                        .collect();
                    open.sort_by_key(|entry| match *entry {
                        SlotEntry::Migrating { slot, .. } | SlotEntry::Importing { slot, .. } => slot,
                        SlotEntry::Range { first, .. } => first,
                    });
                    slots.extend(open);
                }
                NodeLine {
                    name: *name,
                    ip: node.ip.clone(),
                    port: node.port,
                    cport: node.cport,
                    hostname: node.hostname.clone(),
                    flags: node.flags,
                    master: node.master,
                    ping_sent_ms: node.ping_sent_ms,
                    pong_received_ms: node.pong_received_ms,
                    config_epoch,
                    link_connected: connected(name, node),
                    slots,
                }
            })
            .collect()
    }

    /// Number of slots `node` owns.
    pub fn slot_count(&self, node: &NodeName) -> usize {
        self.slot_owner.iter().filter(|owner| owner.as_ref() == Some(node)).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(c: char) -> NodeName {
        NodeName::parse(&c.to_string().repeat(40)).unwrap()
    }

    #[test]
    fn loads_as_redis_does() {
        let text = format!(
            "{b} 127.0.0.1:7001@17001 slave {c} 5 6 9 connected\n\
             {a} 127.0.0.1:7000@17000 myself,master - 0 0 3 connected 0-10 [3->-{c}] [20-<-{c}]\n\
             {c} 127.0.0.1:7002@17002 master,fail - 0 1 4 disconnected 5-30\n\
             vars currentEpoch 2 lastVoteEpoch 1\n",
            a = name('a'),
            b = name('b'),
            c = name('c'),
        );
        let conf = NodesConf::parse(&text).unwrap();
        let state = ClusterState::from_nodes_conf(&conf, 1_000).unwrap();
        assert_eq!(state.myself, name('a'));
        // Raised to the largest config epoch (c's 4; b's 9 is dropped: b is a replica).
        assert_eq!((state.current_epoch, state.last_vote_epoch), (4, 1));
        let b = &state.nodes[&name('b')];
        assert_eq!((b.config_epoch, b.ping_sent_ms, b.pong_received_ms), (0, 1_000, 1_000));
        let c = &state.nodes[&name('c')];
        assert_eq!((c.fail_time_ms, c.pong_received_ms, c.ip.as_str()), (1_000, 1_000, "127.0.0.1"));
        // Slots 5-10 were listed by a first; c keeps only 11-30.
        assert_eq!(state.slot_count(&name('a')), 11);
        assert_eq!(state.slot_count(&name('c')), 20);
        assert_eq!(state.slot_owner[5], Some(name('a')));
        assert_eq!(state.migrating_to.get(&3), Some(&name('c')));
        assert_eq!(state.importing_from.get(&20), Some(&name('c')));

        let saved = state.to_nodes_conf().to_text();
        let expected = format!(
            "{a} 127.0.0.1:7000@17000 myself,master - 0 0 3 connected 0-10 [3->-{c}] [20-<-{c}]\n\
             {b} 127.0.0.1:7001@17001 slave {c} 1000 1000 4 disconnected\n\
             {c} 127.0.0.1:7002@17002 master,fail - 0 1000 4 disconnected 11-30\n\
             vars currentEpoch 4 lastVoteEpoch 1\n",
            a = name('a'),
            b = name('b'),
            c = name('c'),
        );
        assert_eq!(saved, expected);
    }

    #[test]
    fn unknown_masters_become_placeholders_and_handshakes_are_not_saved() {
        let text = format!(
            "{a} :0@0 myself,master - 0 0 0 connected\n{b} 10.0.0.2:7001@17001 slave {c} 0 0 0 connected\n\
             {d} 10.0.0.4:7003@17003 handshake - 0 0 0 connected\n",
            a = name('a'),
            b = name('b'),
            c = name('c'),
            d = name('d'),
        );
        let state = ClusterState::from_nodes_conf(&NodesConf::parse(&text).unwrap(), 5).unwrap();
        assert_eq!(state.nodes[&name('c')], Node::default());
        let saved = state.to_nodes_conf();
        let names: Vec<_> = saved.nodes.iter().map(|n| n.name).collect();
        assert_eq!(names, vec![name('a'), name('b'), name('c')]);
        assert!(saved.to_text().contains(&format!("{} :0@0 noflags - 0 0 0 disconnected\n", name('c'))));
    }
}
