//! Which node serves each hash slot, as the worker threads see it, and the redirection rules
//! (Redis 7.0.15's `getNodeByQuery` / `clusterRedirectClient`).
//!
//! The cluster state machine lives behind one mutex; taking it for every keyed command would
//! make every core contend on one line. Instead the machine's slot table is copied into an
//! immutable `Routing` snapshot whenever it changes, and each worker keeps an `Arc` of the
//! newest one, refreshed when `ClusterNode::routing_epoch` moves (one atomic load per command).
//! This module never locks, blocks or reads a clock: the caller supplies the key-existence test
//! for slots that are being migrated.

use cluster::machine::{EndpointType, Machine};
use cluster::types::{NodeFlags, CLUSTER_SLOTS};
use keyspace::key_hash_slot;

/// No node (an unassigned slot, a stable slot, a master without master).
pub const NONE: u16 = u16::MAX;
/// A node of an older snapshot that the newer one no longer has (never stored in a snapshot).
const GONE: u16 = u16::MAX - 1;

/// One node as redirections name it: `getPreferredEndpoint(n)` and its client port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteNode {
    pub endpoint: String,
    pub port: u16,
}

/// An immutable copy of the slot table for the workers.
#[derive(Clone, Debug)]
pub struct Routing {
    /// Owner of each slot (an index into `nodes`) or `NONE`.
    pub owner: Box<[u16]>,
    /// Where each slot we own is being migrated to, or `NONE`.
    pub migrating_to: Box<[u16]>,
    /// Where each slot is being imported from, or `NONE`.
    pub importing_from: Box<[u16]>,
    pub nodes: Vec<RouteNode>,
    pub me: u16,
    /// Our master when we are a replica, else `NONE`.
    pub my_master: u16,
    /// `cluster_state:ok`.
    pub ok: bool,
}

impl Routing {
    /// The snapshot of `machine`'s current view.
    pub fn from_machine(machine: &Machine, endpoint_type: EndpointType) -> Routing {
        let state = &machine.state;
        let mut index = std::collections::BTreeMap::new();
        let mut nodes = Vec::with_capacity(state.nodes.len());
        for (name, node) in &state.nodes {
            // At most MAX_KNOWN_NODES (10,000) nodes: the index fits in u16 below NONE.
            index.insert(*name, nodes.len() as u16);
            let endpoint = match endpoint_type {
                EndpointType::Ip => node.ip.clone(),
                EndpointType::Hostname => match &node.hostname {
                    Some(h) if !h.is_empty() => h.clone(),
                    _ => "?".to_string(),
                },
                // `getPreferredEndpoint`: "?" stands for a hostname not known yet; with
                // unknown-endpoint the client is to reuse the address it already talks to.
                EndpointType::UnknownEndpoint => String::new(),
            };
            nodes.push(RouteNode { endpoint, port: node.port });
        }
        let lookup = |name: &cluster::types::NodeName| index.get(name).copied().unwrap_or(NONE);
        // From the per-node bitmaps' runs, each filled as one slice: a few 2 KB scans instead
        // of 16384 name comparisons (or 16384 single-slot stores).
        let mut owner = vec![NONE; CLUSTER_SLOTS].into_boxed_slice();
        for (name, ranges) in machine.slot_ranges() {
            let i = lookup(&name);
            for (first, last) in ranges {
                if let Some(run) = owner.get_mut(usize::from(first)..=usize::from(last)) {
                    run.fill(i);
                }
            }
        }
        let mut migrating_to = vec![NONE; CLUSTER_SLOTS].into_boxed_slice();
        for (slot, to) in &state.migrating_to {
            if let Some(entry) = migrating_to.get_mut(usize::from(*slot)) {
                *entry = lookup(to);
            }
        }
        let mut importing_from = vec![NONE; CLUSTER_SLOTS].into_boxed_slice();
        for (slot, from) in &state.importing_from {
            if let Some(entry) = importing_from.get_mut(usize::from(*slot)) {
                *entry = lookup(from);
            }
        }
        let me = lookup(&state.myself);
        let my_master = state
            .nodes
            .get(&state.myself)
            .filter(|n| n.flags.contains(NodeFlags::SLAVE))
            .and_then(|n| n.master.as_ref())
            .map_or(NONE, lookup);
        Routing { owner, migrating_to, importing_from, nodes, me, my_master, ok: machine.cluster_ok() }
    }

    /// Slots whose owner, migration or import differs between `self` and `other` (the slots
    /// whose locks a change of snapshot must hold).
    pub fn changed_slots(&self, other: &Routing) -> Vec<u16> {
        if self.nodes == other.nodes && self.me == other.me {
            // The common case (same node table): whole-array comparisons first, which are
            // memcmp-fast, and a per-slot pass only over arrays that differ.
            if self.owner == other.owner
                && self.migrating_to == other.migrating_to
                && self.importing_from == other.importing_from
            {
                return Vec::new();
            }
            // Chunks of 64 slots that are equal in all three arrays are skipped whole.
            const CHUNK: usize = 64;
            let mut changed = Vec::new();
            for start in (0..CLUSTER_SLOTS).step_by(CHUNK) {
                let r = start..start + CHUNK;
                if self.owner[r.clone()] == other.owner[r.clone()]
                    && self.migrating_to[r.clone()] == other.migrating_to[r.clone()]
                    && self.importing_from[r.clone()] == other.importing_from[r.clone()]
                {
                    continue;
                }
                changed.extend(
                    r.filter(|&s| {
                        self.owner[s] != other.owner[s]
                            || self.migrating_to[s] != other.migrating_to[s]
                            || self.importing_from[s] != other.importing_from[s]
                    })
                    .map(|s| s as u16),
                );
            }
            return changed;
        }
        // `other`'s node indices translated to ours (GONE for a node we do not have), so the
        // per-slot test compares two integers.
        let translate: Vec<u16> =
            other.nodes.iter().map(|n| self.nodes.iter().position(|m| m == n).map_or(GONE, |i| i as u16)).collect();
        let map = |i: u16| if i == NONE { NONE } else { translate.get(usize::from(i)).copied().unwrap_or(NONE) };
        (0..CLUSTER_SLOTS)
            .filter(|&s| {
                self.owner[s] != map(other.owner[s])
                    || self.migrating_to[s] != map(other.migrating_to[s])
                    || self.importing_from[s] != map(other.importing_from[s])
                    || (self.owner[s] == self.me) != (other.owner[s] == other.me)
            })
            .map(|s| s as u16)
            .collect()
    }
}

/// Why a command is not served here (`CLUSTER_REDIR_*`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Redirect {
    CrossSlot,
    /// Several keys of a slot in migration, not all of them here.
    Unstable,
    Down,
    DownReadOnly,
    DownUnbound,
    Moved {
        slot: u16,
        node: u16,
    },
    Ask {
        slot: u16,
        node: u16,
    },
}

impl Redirect {
    /// The error reply, without the leading '-' (`clusterRedirectClient`).
    pub fn error_text(&self, routing: &Routing) -> String {
        let addr = |node: u16| {
            routing
                .nodes
                .get(usize::from(node))
                .map_or_else(|| "?:0".to_string(), |n| format!("{}:{}", n.endpoint, n.port))
        };
        match *self {
            Redirect::CrossSlot => "CROSSSLOT Keys in request don't hash to the same slot".into(),
            Redirect::Unstable => "TRYAGAIN Multiple keys request during rehashing of slot".into(),
            Redirect::Down => "CLUSTERDOWN The cluster is down".into(),
            Redirect::DownReadOnly => "CLUSTERDOWN The cluster is down and only accepts read commands".into(),
            Redirect::DownUnbound => "CLUSTERDOWN Hash slot not served".into(),
            Redirect::Moved { slot, node } => format!("MOVED {slot} {}", addr(node)),
            Redirect::Ask { slot, node } => format!("ASK {slot} {}", addr(node)),
        }
    }
}

/// What the decision needs to know about the request besides its keys.
#[derive(Clone, Copy, Debug, Default)]
pub struct Query {
    /// The command (or, for EXEC, any queued command) writes.
    pub is_write: bool,
    /// SPUBLISH / SSUBSCRIBE / SUNSUBSCRIBE: channels, not keys.
    pub is_pubsubshard: bool,
    pub is_migrate: bool,
    /// The client sent ASKING, or the command has the `asking` flag (RESTORE-ASKING).
    pub asking: bool,
    /// The client sent READONLY.
    pub readonly: bool,
    pub allow_reads_when_down: bool,
    pub allow_pubsubshard_when_down: bool,
}

/// `getNodeByQuery`: `Ok(None)` when the request names no key, `Ok(Some(slot))` when this node
/// serves it, `Err` with the redirection otherwise. `exists` is asked only about keys of a slot
/// that is migrating away or being imported (Redis's lookup without side effects).
pub fn get_node_by_query<'k>(
    routing: &Routing,
    keys: impl Iterator<Item = &'k [u8]>,
    query: &Query,
    mut exists: impl FnMut(u16, &[u8]) -> bool,
) -> Result<Option<u16>, Redirect> {
    let mut first: Option<&[u8]> = None;
    let mut slot = 0u16;
    let mut owner = NONE;
    let mut multiple_keys = false;
    let mut migrating = false;
    let mut importing = false;
    let (mut missing, mut existing) = (0usize, 0usize);
    for key in keys {
        let this_slot = key_hash_slot(key);
        match first {
            None => {
                first = Some(key);
                slot = this_slot;
                owner = routing.owner[usize::from(slot)];
                if owner == NONE {
                    return Err(Redirect::DownUnbound);
                }
                if owner == routing.me && routing.migrating_to[usize::from(slot)] != NONE {
                    migrating = true;
                } else if routing.importing_from[usize::from(slot)] != NONE {
                    importing = true;
                }
            }
            Some(f) if f != key => {
                if this_slot != slot {
                    return Err(Redirect::CrossSlot);
                }
                multiple_keys = true;
            }
            Some(_) => {}
        }
        if (migrating || importing) && !query.is_pubsubshard {
            if exists(slot, key) {
                existing += 1;
            } else {
                missing += 1;
            }
        }
    }
    if first.is_none() {
        return Ok(None);
    }
    if !routing.ok {
        if query.is_pubsubshard {
            if !query.allow_pubsubshard_when_down {
                return Err(Redirect::Down);
            }
        } else if !query.allow_reads_when_down {
            return Err(Redirect::Down);
        } else if query.is_write {
            return Err(Redirect::DownReadOnly);
        }
    }
    if (migrating || importing) && query.is_migrate {
        return Ok(Some(slot));
    }
    if migrating && missing > 0 {
        if existing > 0 {
            return Err(Redirect::Unstable);
        }
        return Err(Redirect::Ask { slot, node: routing.migrating_to[usize::from(slot)] });
    }
    if importing && query.asking {
        if multiple_keys && missing > 0 {
            return Err(Redirect::Unstable);
        }
        return Ok(Some(slot));
    }
    if (query.readonly || query.is_pubsubshard)
        && !query.is_write
        && routing.my_master != NONE
        && routing.my_master == owner
    {
        return Ok(Some(slot));
    }
    if owner != routing.me {
        return Err(Redirect::Moved { slot, node: owner });
    }
    Ok(Some(slot))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routing(owner_of_all: u16) -> Routing {
        Routing {
            owner: vec![owner_of_all; CLUSTER_SLOTS].into_boxed_slice(),
            migrating_to: vec![NONE; CLUSTER_SLOTS].into_boxed_slice(),
            importing_from: vec![NONE; CLUSTER_SLOTS].into_boxed_slice(),
            nodes: vec![
                RouteNode { endpoint: "127.0.0.1".into(), port: 7000 },
                RouteNode { endpoint: "127.0.0.1".into(), port: 7001 },
            ],
            me: 0,
            my_master: NONE,
            ok: true,
        }
    }

    fn decide(r: &Routing, keys: &[&str], q: Query, present: &[&str]) -> Result<Option<u16>, Redirect> {
        get_node_by_query(r, keys.iter().map(|k| k.as_bytes()), &q, |_, k| present.iter().any(|p| p.as_bytes() == k))
    }

    #[test]
    fn keyless_and_local_and_moved() {
        let r = routing(0);
        assert_eq!(decide(&r, &[], Query::default(), &[]), Ok(None));
        assert_eq!(decide(&r, &["foo"], Query::default(), &[]), Ok(Some(12182)));
        let r = routing(1);
        let err = decide(&r, &["foo"], Query::default(), &[]).unwrap_err();
        assert_eq!(err, Redirect::Moved { slot: 12182, node: 1 });
        assert_eq!(err.error_text(&r), "MOVED 12182 127.0.0.1:7001");
    }

    #[test]
    fn cross_slot_but_hash_tags_and_repeats_are_one_slot() {
        let r = routing(0);
        assert_eq!(decide(&r, &["a", "b"], Query::default(), &[]), Err(Redirect::CrossSlot));
        assert!(decide(&r, &["{u}a", "{u}b"], Query::default(), &[]).is_ok());
        assert!(decide(&r, &["a", "a"], Query::default(), &[]).is_ok());
    }

    #[test]
    fn unbound_and_down() {
        let mut r = routing(NONE);
        assert_eq!(decide(&r, &["foo"], Query::default(), &[]), Err(Redirect::DownUnbound));
        r = routing(0);
        r.ok = false;
        assert_eq!(decide(&r, &["foo"], Query::default(), &[]), Err(Redirect::Down));
        let reads = Query { allow_reads_when_down: true, ..Default::default() };
        assert_eq!(decide(&r, &["foo"], reads, &[]), Ok(Some(12182)));
        let write = Query { is_write: true, ..reads };
        assert_eq!(decide(&r, &["foo"], write, &[]), Err(Redirect::DownReadOnly));
    }

    #[test]
    fn migrating_slot_asks_for_missing_keys() {
        let mut r = routing(0);
        r.migrating_to[12182] = 1;
        assert_eq!(decide(&r, &["foo"], Query::default(), &["foo"]), Ok(Some(12182)));
        assert_eq!(decide(&r, &["foo"], Query::default(), &[]), Err(Redirect::Ask { slot: 12182, node: 1 }));
        assert_eq!(decide(&r, &["{foo}a", "{foo}b"], Query::default(), &["{foo}a"]), Err(Redirect::Unstable));
        let migrate = Query { is_migrate: true, ..Default::default() };
        assert_eq!(decide(&r, &["foo"], migrate, &[]), Ok(Some(12182)));
    }

    #[test]
    fn importing_slot_serves_only_asking() {
        let mut r = routing(1);
        r.importing_from[12182] = 1;
        assert_eq!(decide(&r, &["foo"], Query::default(), &[]), Err(Redirect::Moved { slot: 12182, node: 1 }));
        let asking = Query { asking: true, ..Default::default() };
        assert_eq!(decide(&r, &["foo"], asking, &[]), Ok(Some(12182)));
        assert_eq!(decide(&r, &["{foo}a", "{foo}b"], asking, &["{foo}a"]), Err(Redirect::Unstable));
    }

    #[test]
    fn changed_slots_sees_owner_moves_and_vanished_nodes() {
        let a = routing(0);
        let mut b = routing(0);
        assert!(a.changed_slots(&b).is_empty());
        b.owner[5] = 1;
        b.migrating_to[6] = 1;
        assert_eq!(a.changed_slots(&b), vec![5, 6]);
        // A snapshot whose node 1 is gone: its slot is unassigned now, which is a change.
        let mut c = routing(0);
        c.nodes.truncate(1);
        c.owner[5] = NONE;
        assert_eq!(c.changed_slots(&b), vec![5, 6]);
        // Reordered nodes with the same owners are no change.
        let mut d = routing(1);
        d.nodes.swap(0, 1);
        d.me = 1;
        assert!(d.changed_slots(&a).is_empty());
    }

    #[test]
    fn readonly_replica_serves_reads_of_its_master() {
        let mut r = routing(1);
        r.my_master = 1;
        let ro = Query { readonly: true, ..Default::default() };
        assert_eq!(decide(&r, &["foo"], ro, &[]), Ok(Some(12182)));
        let ro_write = Query { is_write: true, ..ro };
        assert!(matches!(decide(&r, &["foo"], ro_write, &[]), Err(Redirect::Moved { .. })));
        assert!(matches!(decide(&r, &["foo"], Query::default(), &[]), Err(Redirect::Moved { .. })));
    }
}
