//! CLUSTER, ASKING, READONLY and READWRITE as server commands: the CLUSTER subcommands are
//! `cluster::command::cluster_command`'s (parsing, rules and replies live there); this module
//! only lends it the keyspace, executes the actions it returns and encodes its reply.
//! It never interprets a subcommand itself.

use super::ClusterNode;
use crate::worker::{Conn, Env};
use cluster::command::{cluster_command, Environment, Reply};
use cluster::machine::{Action, LinkId};
use keyspace::Keyspace;
use resp::ReplyBuf;

pub const CLUSTER: u16 = 200;
pub const ASKING: u16 = 201;
pub const READONLY: u16 = 202;
pub const READWRITE: u16 = 203;

/// Every CLUSTER subcommand of Redis 7.0.15, registered so arity and COMMAND INFO come from the
/// command table; subcommands not built yet answer with their own error from the machine.
pub const SUBCOMMANDS: &[&str] = &[
    "addslots",
    "addslotsrange",
    "bumpepoch",
    "count-failure-reports",
    "countkeysinslot",
    "delslots",
    "delslotsrange",
    "failover",
    "flushslots",
    "forget",
    "getkeysinslot",
    "help",
    "info",
    "keyslot",
    "links",
    "meet",
    "myid",
    "nodes",
    "replicas",
    "replicate",
    "reset",
    "saveconfig",
    "set-config-epoch",
    "setslot",
    "shards",
    "slaves",
    "slots",
];

/// Subcommands that never change the cluster state.
const READ_ONLY: &[&str] = &[
    "count-failure-reports",
    "countkeysinslot",
    "getkeysinslot",
    "help",
    "info",
    "keyslot",
    "links",
    "myid",
    "nodes",
    "replicas",
    "shards",
    "slaves",
    "slots",
];

const DISABLED: &str = "ERR This instance has cluster support disabled";

/// The keyspace as the machine's commands see it (database 0: cluster mode has only one).
struct KeyspaceEnv<'a> {
    ks: &'a Keyspace,
    node: &'a ClusterNode,
}

impl Environment for KeyspaceEnv<'_> {
    fn count_keys_in_slot(&self, slot: u16) -> u64 {
        self.ks.db(0).lock_slot(slot).len() as u64
    }

    fn keys_in_slot(&self, slot: u16, count: usize) -> Vec<Vec<u8>> {
        self.ks.db(0).lock_slot(slot).keys().take(count).map(|k| k.as_bytes().to_vec()).collect()
    }

    fn link_buffers(&self, _link: LinkId) -> Option<(u64, u64)> {
        None
    }

    fn db_is_empty(&self) -> bool {
        (0..self.ks.db_count()).all(|i| self.ks.db_if_used(i).is_none_or(|d| d.is_empty()))
    }

    fn links_buffer_limit_exceeded(&self) -> u64 {
        self.node.links_buffer_limit_exceeded.load(std::sync::atomic::Ordering::Relaxed)
    }
}

fn encode(out: &mut ReplyBuf, reply: &Reply) {
    match reply {
        Reply::Ok => out.ok(),
        Reply::Status(s) => out.simple(s),
        Reply::Int(n) => out.int(*n),
        Reply::Bulk(b) => out.bulk(b),
        Reply::Verbatim(text) => out.verbatim("txt", text.as_bytes()),
        Reply::Array(items) => {
            out.array(items.len());
            for item in items {
                encode(out, item);
            }
        }
        Reply::Map(pairs) => {
            out.map(pairs.len());
            for (k, v) in pairs {
                encode(out, k);
                encode(out, v);
            }
        }
        Reply::Null => out.null(),
        Reply::Error(text) => out.error(text),
    }
}

/// Whether `args` is a CLUSTER SETSLOT, the command whose cluster work may wait for the end of
/// its client's batch.
pub fn is_setslot(args: &[&[u8]]) -> bool {
    args.len() > 1 && args[0].eq_ignore_ascii_case(b"cluster") && args[1].eq_ignore_ascii_case(b"setslot")
}

/// Applies the cluster work deferred by this worker's SETSLOTs: the nodes.conf save, the bus
/// messages and the new routing snapshot.
pub fn flush_deferred(env: &mut Env) {
    let Some(actions) = env.cluster_deferred.take() else { return };
    let Some(node): Option<&ClusterNode> = env.cluster else { return };
    let machine = node.machine.lock();
    node.apply(&env.shared.ks, &machine, actions, None);
}

/// Runs CLUSTER / ASKING / READONLY / READWRITE for `c`.
pub fn run(env: &mut Env, c: &mut Conn, id: u16, args: &[&[u8]]) {
    let Some(node): Option<&ClusterNode> = env.cluster else {
        c.out.error(DISABLED);
        return;
    };
    match id {
        ASKING => {
            c.asking = 2;
            c.out.ok();
        }
        READONLY => {
            c.readonly = true;
            c.out.ok();
        }
        READWRITE => {
            c.readonly = false;
            c.out.ok();
        }
        _ => {
            let ks = &env.shared.ks;
            let now = crate::shared::now_ms() as u64;
            let mut machine = node.machine.lock();
            // CLUSTER SLOTS / SHARDS / REPLICAS judge our own availability by the live offset.
            machine.set_repl_offset(crate::replication::cluster_offset());
            let (mut reply, mut actions) = cluster_command(&mut machine, &args[1..], &KeyspaceEnv { ks, node }, now);
            if args.get(1).is_some_and(|a| a.eq_ignore_ascii_case(b"saveconfig")) {
                // CLUSTER SAVECONFIG reports a failed save to its caller; every other save that
                // fails stops the server (`ClusterNode::apply`).
                let mut save = false;
                actions.retain(|a| match a {
                    Action::SaveConfig { .. } => {
                        save = true;
                        false
                    }
                    _ => true,
                });
                if save {
                    if let Err(e) = node.save_config(&machine, true) {
                        reply = Reply::Error(format!("ERR error saving the cluster node config: {e}"));
                    }
                }
            }
            // A subcommand that only reads changes no routing: skipping the snapshot comparison
            // matters for GETKEYSINSLOT, which a reshard sends once per slot.
            let read_only =
                args.get(1).is_some_and(|sub| READ_ONLY.iter().any(|r| sub.eq_ignore_ascii_case(r.as_bytes())));
            let deferrable = is_setslot(args)
                && !env.in_exec
                && !env.in_script
                && !c.master
                && actions.iter().all(|a| {
                    matches!(a, Action::SaveConfig { fsync: false } | Action::Send { .. } | Action::StateChanged { .. })
                });
            if deferrable {
                // A reshard pipelines SETSLOTs by the dozen: as Redis saves nodes.conf once in
                // clusterBeforeSleep, the save and the routing snapshot wait for the end of the
                // batch (one nodes.conf write and one routing copy, not one per slot). Not when
                // the config must be fsynced (an epoch was bumped): that save precedes all else.
                let pending = env.cluster_deferred.get_or_insert_with(Vec::new);
                for action in actions {
                    let is_save = matches!(action, Action::SaveConfig { .. });
                    if !(is_save && pending.iter().any(|p| matches!(p, Action::SaveConfig { .. }))) {
                        pending.push(action);
                    }
                }
            } else if !(read_only && actions.is_empty()) {
                if let Some(mut pending) = env.cluster_deferred.take() {
                    pending.extend(actions);
                    actions = pending;
                }
                node.apply(ks, &machine, actions, None);
            }
            drop(machine);
            encode(&mut c.out, &reply);
        }
    }
}
