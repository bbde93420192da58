//! `CLUSTER <subcommand>` as Redis 7.0.15's `clusterCommand` runs it: argument parsing and the
//! arity table of its command docs, every error text, every reply's shape, and the state changes
//! behind the writing subcommands (slots, SETSLOT, FORGET, REPLICATE, RESET, epochs).
//!
//! This module owns the translation between command words and the machine. It returns a `Reply`
//! independent of RESP (the server encodes it for RESP2 or RESP3) and the machine's `Action`s.
//! It must never do I/O or read a clock: what it needs from the keyspace and the sockets comes
//! through `Environment`, and "now" is a parameter. It must never panic on a client's bytes:
//! every argument is parsed here, with Redis's `string2ll` rules.

use std::fmt::Write as _;

use crate::machine::{Action, EndpointType, LinkId, Machine, MSG_TYPE_COUNT};
use crate::state::Node;
use crate::types::{NodeFlags, NodeName, CLUSTER_SLOTS};

/// A reply, independent of RESP; the server encodes it (RESP2/RESP3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`.
    Ok,
    /// `+text`.
    Status(String),
    Int(i64),
    Bulk(Vec<u8>),
    /// CLUSTER NODES / INFO: Redis uses `addReplyVerbatim(..., "txt")` (a bulk string in RESP2).
    Verbatim(String),
    Array(Vec<Reply>),
    /// CLUSTER SHARDS / LINKS entries and the SLOTS metadata: maps in RESP3, flat arrays in RESP2.
    Map(Vec<(Reply, Reply)>),
    /// Null bulk.
    Null,
    /// Full text without the leading '-', e.g. "ERR Unknown node abc".
    Error(String),
}

/// What the command needs from the server's keyspace and sockets.
pub trait Environment {
    fn count_keys_in_slot(&self, slot: u16) -> u64;
    /// At most `count` keys of `slot`.
    fn keys_in_slot(&self, slot: u16, count: usize) -> Vec<Vec<u8>>;
    /// For CLUSTER LINKS: per link id, (send buffer allocated, send buffer used) bytes; None if
    /// unknown.
    fn link_buffers(&self, link: LinkId) -> Option<(u64, u64)>;
    /// Whether database 0 holds no key (FLUSHSLOTS, REPLICATE and RESET need an empty master).
    fn db_is_empty(&self) -> bool;
    /// `total_cluster_links_buffer_limit_exceeded` of CLUSTER INFO (the server owns the buffers).
    fn links_buffer_limit_exceeded(&self) -> u64 {
        0
    }
}

/// A node that holds no keys and has no links: what a fresh server lends the commands, and what
/// tests, the simulator and the fuzz target lend a machine that has no server around it.
pub struct EmptyKeyspace;

impl Environment for EmptyKeyspace {
    fn count_keys_in_slot(&self, _slot: u16) -> u64 {
        0
    }
    fn keys_in_slot(&self, _slot: u16, _count: usize) -> Vec<Vec<u8>> {
        Vec::new()
    }
    fn link_buffers(&self, _link: LinkId) -> Option<(u64, u64)> {
        None
    }
    fn db_is_empty(&self) -> bool {
        true
    }
}

/// The slot of a key (`keyHashSlot`): the keyspace's own, so the slot a CLUSTER command reports
/// is by construction the one the server stores the key in.
pub use keyspace::key_hash_slot;

/// Arity of each subcommand in Redis 7.0.15's command table (`src/commands/cluster-*.json`),
/// counting `CLUSTER` itself: positive = exact, negative = at least.
const SUBCOMMANDS: [(&str, i32); 27] = [
    ("addslots", -3),
    ("addslotsrange", -4),
    ("bumpepoch", 2),
    ("count-failure-reports", 3),
    ("countkeysinslot", 3),
    ("delslots", -3),
    ("delslotsrange", -4),
    ("failover", -2),
    ("flushslots", 2),
    ("forget", 3),
    ("getkeysinslot", 4),
    ("help", 2),
    ("info", 2),
    ("keyslot", 3),
    ("links", 2),
    ("meet", -4),
    ("myid", 2),
    ("nodes", 2),
    ("replicas", 3),
    ("replicate", 3),
    ("reset", -2),
    ("saveconfig", 2),
    ("set-config-epoch", 3),
    ("setslot", -4),
    ("shards", 2),
    ("slaves", 3),
    ("slots", 2),
];

/// The lines of CLUSTER HELP between Redis's header and its closing HELP entry.
const HELP: [&str; 53] = [
    "ADDSLOTS <slot> [<slot> ...]",
    "    Assign slots to current node.",
    "ADDSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
    "    Assign slots which are between <start-slot> and <end-slot> to current node.",
    "BUMPEPOCH",
    "    Advance the cluster config epoch.",
    "COUNT-FAILURE-REPORTS <node-id>",
    "    Return number of failure reports for <node-id>.",
    "COUNTKEYSINSLOT <slot>",
    "    Return the number of keys in <slot>.",
    "DELSLOTS <slot> [<slot> ...]",
    "    Delete slots information from current node.",
    "DELSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
    "    Delete slots information which are between <start-slot> and <end-slot> from current node.",
    "FAILOVER [FORCE|TAKEOVER]",
    "    Promote current replica node to being a master.",
    "FORGET <node-id>",
    "    Remove a node from the cluster.",
    "GETKEYSINSLOT <slot> <count>",
    "    Return key names stored by current node in a slot.",
    "FLUSHSLOTS",
    "    Delete current node own slots information.",
    "INFO",
    "    Return information about the cluster.",
    "KEYSLOT <key>",
    "    Return the hash slot for <key>.",
    "MEET <ip> <port> [<bus-port>]",
    "    Connect nodes into a working cluster.",
    "MYID",
    "    Return the node id.",
    "NODES",
    "    Return cluster configuration seen by node. Output format:",
    "    <id> <ip:port> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ...",
    "REPLICATE <node-id>",
    "    Configure current node as replica to <node-id>.",
    "RESET [HARD|SOFT]",
    "    Reset current node (default: soft).",
    "SET-CONFIG-EPOCH <epoch>",
    "    Set config epoch of current node.",
    "SETSLOT <slot> (IMPORTING <node-id>|MIGRATING <node-id>|STABLE|NODE <node-id>)",
    "    Set slot state.",
    "REPLICAS <node-id>",
    "    Return <node-id> replicas.",
    "SAVECONFIG",
    "    Force saving cluster configuration on disk.",
    "SLOTS",
    "    Return information about slots range mappings. Each range is made of:",
    "    start, end, master and replicas IP addresses, ports and ids",
    "SHARDS",
    "    Return information about slot range mappings and the nodes associated with them.",
    "LINKS",
    "    Return information about all network links between this node and its peers.",
    "    Output format is an array where each array element is a map containing attributes of a link",
];

/// Message type names of CLUSTER INFO's stats (`clusterGetMessageTypeString`), by type.
const MSG_TYPE_NAMES: [&str; MSG_TYPE_COUNT] =
    ["ping", "pong", "meet", "fail", "publish", "auth-req", "auth-ack", "update", "mfstart", "module", "publishshard"];

/// An argument as C's `%s` prints it: up to the first NUL, invalid UTF-8 replaced.
fn c_str(arg: &[u8]) -> String {
    let end = arg.iter().position(|&b| b == 0).unwrap_or(arg.len());
    String::from_utf8_lossy(&arg[..end]).into_owned()
}

/// `%.128s`: at most 128 bytes of the argument.
fn c_str_128(arg: &[u8]) -> String {
    let end = arg.iter().position(|&b| b == 0).unwrap_or(arg.len()).min(128);
    String::from_utf8_lossy(&arg[..end]).into_owned()
}

/// An error reply with Redis's sanitising: CR and LF become spaces (`addReplyErrorFormat`),
/// so a client's argument can never break the protocol line.
fn error(text: impl AsRef<str>) -> Reply {
    let text: String = text.as_ref().chars().map(|c| if c == '\r' || c == '\n' { ' ' } else { c }).collect();
    Reply::Error(format!("ERR {text}"))
}

fn not_an_integer() -> Reply {
    error("value is not an integer or out of range")
}

fn syntax_error() -> Reply {
    error("syntax error")
}

/// Redis's `string2ll`: optional `-`, no leading zeros (but "0"), no spaces or `+`, at most
/// 20 characters, within `i64`.
pub fn parse_ll(arg: &[u8]) -> Option<i64> {
    if arg.is_empty() || arg.len() > 20 {
        return None;
    }
    if arg == b"0" {
        return Some(0);
    }
    let (negative, digits) = match arg.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, arg),
    };
    let (&first, _) = digits.split_first()?;
    if !(b'1'..=b'9').contains(&first) || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // Accumulate as a negative number so i64::MIN parses without overflow.
    let mut value: i64 = 0;
    for &d in digits {
        value = value.checked_mul(10)?.checked_sub(i64::from(d - b'0'))?;
    }
    if negative {
        Some(value)
    } else {
        value.checked_neg()
    }
}

/// `getSlotOrReply`.
fn slot_arg(arg: &[u8]) -> Result<u16, Reply> {
    match parse_ll(arg) {
        Some(slot) if (0..CLUSTER_SLOTS as i64).contains(&slot) => Ok(slot as u16),
        _ => Err(error("Invalid or out of range slot")),
    }
}

/// `clusterLookupNode`: a valid 40-character name we know.
fn lookup_node(machine: &Machine, arg: &[u8]) -> Option<NodeName> {
    let name: [u8; 40] = arg.try_into().ok()?;
    let name = NodeName(name);
    (name.is_valid() && machine.state.nodes.contains_key(&name)).then_some(name)
}

fn is_slave(machine: &Machine, name: &NodeName) -> bool {
    machine.flags(name).contains(NodeFlags::SLAVE)
}

/// Runs `CLUSTER <args...>` (args[0] is the subcommand, any case). Returns the reply and the
/// actions to execute (SaveConfig before replying, Send/Connect/Close on the bus...).
///
/// The server executes the actions in order and then sends the reply, with one exception:
/// when the `SaveConfig` of CLUSTER SAVECONFIG fails, it replies
/// `ERR error saving the cluster node config: <strerror>` instead of the returned OK, as Redis
/// does. Arity errors and unknown subcommands are answered here too (the server's command
/// table need only route `CLUSTER` here).
pub fn cluster_command(
    machine: &mut Machine,
    args: &[&[u8]],
    env: &dyn Environment,
    now_ms: u64,
) -> (Reply, Vec<Action>) {
    let reply = dispatch(machine, args, env, now_ms);
    let actions = machine.take_actions(now_ms);
    (reply, actions)
}

fn dispatch(machine: &mut Machine, args: &[&[u8]], env: &dyn Environment, now_ms: u64) -> Reply {
    let Some(sub_arg) = args.first() else {
        return error("wrong number of arguments for 'cluster' command");
    };
    let sub = String::from_utf8_lossy(sub_arg).to_ascii_lowercase();
    // processCommand: the subcommand must exist and satisfy its arity before clusterCommand runs.
    let Some(&(name, arity)) = SUBCOMMANDS.iter().find(|(name, _)| *name == sub) else {
        return error(format!("unknown subcommand '{}'. Try CLUSTER HELP.", c_str_128(sub_arg)));
    };
    let argc = args.len() as i64 + 1;
    let arity = i64::from(arity);
    if (arity > 0 && argc != arity) || argc < -arity {
        return error(format!("wrong number of arguments for 'cluster|{name}' command"));
    }
    let reply = match name {
        "help" => Some(help()),
        "meet" if argc == 4 || argc == 5 => Some(meet(machine, args, now_ms)),
        "nodes" => Some(Reply::Verbatim(nodes_text(machine))),
        "myid" => Some(Reply::Bulk(machine.myself().as_bytes().to_vec())),
        "slots" => Some(slots(machine, env)),
        "shards" => Some(shards(machine, env)),
        "flushslots" => Some(flushslots(machine, env)),
        "addslots" | "delslots" => Some(add_del_slots(machine, &args[1..], name == "delslots")),
        "addslotsrange" | "delslotsrange" => Some(add_del_slots_range(machine, name, &args[1..])),
        "setslot" => Some(setslot(machine, &args[1..], env, now_ms)),
        "bumpepoch" => Some(bumpepoch(machine)),
        "info" => Some(Reply::Verbatim(info_text(machine, env))),
        "saveconfig" => {
            machine.do_before_sleep(true, true, false);
            Some(Reply::Ok)
        }
        "keyslot" => Some(Reply::Int(i64::from(key_hash_slot(args[1])))),
        "countkeysinslot" => Some(countkeysinslot(args[1], env)),
        "getkeysinslot" => Some(getkeysinslot(args[1], args[2], env)),
        "forget" => Some(forget(machine, args[1], now_ms)),
        "replicate" => Some(replicate(machine, args[1], env)),
        "slaves" | "replicas" => Some(replicas(machine, args[1])),
        "count-failure-reports" => Some(match lookup_node(machine, args[1]) {
            Some(node) => Reply::Int(machine.failure_report_count(&node, now_ms) as i64),
            None => error(format!("Unknown node {}", c_str(args[1]))),
        }),
        "failover" if argc <= 3 => Some(failover(machine, args.get(1).copied(), now_ms)),
        "set-config-epoch" => Some(set_config_epoch(machine, args[1])),
        "reset" if argc <= 3 => Some(reset(machine, args.get(1).copied(), env)),
        "links" => Some(links(machine, env)),
        _ => None,
    };
    // addReplySubcommandSyntaxError: the arity table let it through, clusterCommand did not.
    reply.unwrap_or_else(|| {
        error(format!(
            "unknown subcommand or wrong number of arguments for '{}'. Try CLUSTER HELP.",
            c_str_128(sub_arg)
        ))
    })
}

/// `addReplyHelp`: a header, the lines, and HELP itself, each a status reply.
fn help() -> Reply {
    let mut lines = vec![Reply::Status("CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:".into())];
    lines.extend(HELP.iter().map(|l| Reply::Status((*l).to_string())));
    lines.push(Reply::Status("HELP".into()));
    lines.push(Reply::Status("    Prints this help.".into()));
    Reply::Array(lines)
}

fn meet(machine: &mut Machine, args: &[&[u8]], now_ms: u64) -> Reply {
    let (ip_arg, port_arg) = (args[1], args[2]);
    let Some(port) = parse_ll(port_arg) else {
        return error(format!("Invalid TCP base port specified: {}", c_str(port_arg)));
    };
    let cport = match args.get(3) {
        Some(arg) => match parse_ll(arg) {
            Some(cport) => cport,
            None => return error(format!("Invalid TCP bus port specified: {}", c_str(arg))),
        },
        // CLUSTER_PORT_INCR.
        None => port.saturating_add(10_000),
    };
    let invalid = || error(format!("Invalid node address specified: {}:{}", c_str(ip_arg), c_str(port_arg)));
    let Ok(ip) = std::str::from_utf8(ip_arg) else { return invalid() };
    if ip.parse::<std::net::IpAddr>().is_err() {
        return invalid();
    }
    let (Ok(port), Ok(cport)) = (u16::try_from(port), u16::try_from(cport)) else { return invalid() };
    if port == 0 || cport == 0 {
        return invalid();
    }
    match machine.cluster_start_handshake(ip, port, cport, now_ms) {
        Ok(()) => Reply::Ok,
        Err(e) => Reply::Error(e.to_string()),
    }
}

/// `clusterGenNodesDescription(0)`: one line per known node, handshakes included, each ending
/// in `\n`; `connected` when we hold an outbound link (even one still connecting) or for myself.
pub fn nodes_text(machine: &Machine) -> String {
    let me = machine.myself();
    let mut out = String::new();
    for line in
        machine.state.node_lines_with(machine.slot_ranges(), true, |name, _| *name == me || machine.has_link(name))
    {
        line.write_line(&mut out);
        out.push('\n');
    }
    out
}

/// One node's line, as CLUSTER REPLICAS lists them (no trailing newline).
fn node_line_text(machine: &Machine, name: &NodeName) -> String {
    let me = machine.myself();
    let mut out = String::new();
    let lines = machine.state.node_lines_with(machine.slot_ranges(), true, |n, _| *n == me || machine.has_link(n));
    if let Some(line) = lines.iter().find(|l| l.name == *name) {
        line.write_line(&mut out);
    }
    out
}

/// The replicas of `master` we know (Redis's `master->slaves`), in table order.
fn replicas_of(machine: &Machine, master: &NodeName) -> Vec<NodeName> {
    machine
        .state
        .nodes
        .iter()
        .filter(|(_, n)| n.flags.contains(NodeFlags::SLAVE) && n.master.as_ref() == Some(master))
        .map(|(name, _)| *name)
        .collect()
}

fn hostname_of(node: &Node) -> Option<&str> {
    node.hostname.as_deref().filter(|h| !h.is_empty())
}

/// The client port to show: always `port` (no client of ours is on a TLS connection to a TLS
/// cluster, where Redis shows `pport`).
fn client_port(node: &Node) -> i64 {
    i64::from(node.port)
}

/// `addNodeToNodeReply`.
fn node_to_node_reply(machine: &Machine, name: &NodeName, node: &Node) -> Reply {
    let endpoint_type = machine.config().preferred_endpoint_type;
    let endpoint = match endpoint_type {
        EndpointType::Ip => Reply::Bulk(node.ip.as_bytes().to_vec()),
        EndpointType::Hostname => Reply::Bulk(hostname_of(node).unwrap_or("?").as_bytes().to_vec()),
        EndpointType::UnknownEndpoint => Reply::Null,
    };
    let mut extra = Vec::new();
    if endpoint_type != EndpointType::Ip {
        extra.push((bulk("ip"), Reply::Bulk(node.ip.as_bytes().to_vec())));
    }
    if endpoint_type != EndpointType::Hostname {
        if let Some(host) = hostname_of(node) {
            extra.push((bulk("hostname"), bulk(host)));
        }
    }
    Reply::Array(vec![
        endpoint,
        Reply::Int(client_port(node)),
        Reply::Bulk(name.as_bytes().to_vec()),
        Reply::Map(extra),
    ])
}

fn bulk(text: &str) -> Reply {
    Reply::Bulk(text.as_bytes().to_vec())
}

/// A node's replication offset: ours as the server last fed it (`Machine::set_repl_offset`,
/// refreshed before every CLUSTER command), a peer's from its last header.
fn repl_offset(machine: &Machine, name: &NodeName, _env: &dyn Environment) -> u64 {
    machine.node_repl_offset(name)
}

/// `clusterReplyMultiBulkSlots`: one entry per run of slots with one owner; replicas that are
/// not failed and have replicated something follow the master (`isReplicaAvailable`).
fn slots(machine: &Machine, env: &dyn Environment) -> Reply {
    let mut entries = Vec::new();
    for (first, last, owner) in machine.slot_runs() {
        let Some(node) = machine.state.nodes.get(&owner) else { continue };
        let mut entry = vec![Reply::Int(i64::from(first)), Reply::Int(i64::from(last))];
        entry.push(node_to_node_reply(machine, &owner, node));
        for replica in replicas_of(machine, &owner) {
            let Some(r) = machine.state.nodes.get(&replica) else { continue };
            if r.flags.contains(NodeFlags::FAIL) || repl_offset(machine, &replica, env) == 0 {
                continue;
            }
            entry.push(node_to_node_reply(machine, &replica, r));
        }
        entries.push(Reply::Array(entry));
    }
    Reply::Array(entries)
}

/// `addNodeDetailsToShardReply`.
fn shard_node_details(machine: &Machine, name: &NodeName, node: &Node, env: &dyn Environment) -> Reply {
    let config = machine.config();
    let mut map = vec![(bulk("id"), Reply::Bulk(name.as_bytes().to_vec()))];
    let (plaintext_port, tls_port) = if config.tls_cluster { (node.pport, node.port) } else { (node.port, 0) };
    if plaintext_port != 0 {
        map.push((bulk("port"), Reply::Int(i64::from(plaintext_port))));
    }
    if tls_port != 0 {
        map.push((bulk("tls-port"), Reply::Int(i64::from(tls_port))));
    }
    map.push((bulk("ip"), bulk(&node.ip)));
    let endpoint = match config.preferred_endpoint_type {
        EndpointType::Ip => node.ip.as_str(),
        EndpointType::Hostname => hostname_of(node).unwrap_or("?"),
        EndpointType::UnknownEndpoint => "",
    };
    map.push((bulk("endpoint"), bulk(endpoint)));
    if let Some(host) = hostname_of(node) {
        map.push((bulk("hostname"), bulk(host)));
    }
    let offset = repl_offset(machine, name, env);
    let is_replica = node.flags.contains(NodeFlags::SLAVE);
    map.push((bulk("role"), bulk(if is_replica { "replica" } else { "master" })));
    // Offsets beyond i64 do not occur; Redis keeps them as long long.
    map.push((bulk("replication-offset"), Reply::Int(i64::try_from(offset).unwrap_or(i64::MAX))));
    let health = if node.flags.contains(NodeFlags::FAIL) {
        "fail"
    } else if is_replica && offset == 0 {
        "loading"
    } else {
        "online"
    };
    map.push((bulk("health"), bulk(health)));
    Reply::Map(map)
}

/// `clusterReplyShards`: one shard per master, slot-less ones included.
fn shards(machine: &Machine, env: &dyn Environment) -> Reply {
    let ranges = machine.slot_ranges();
    let mut shards = Vec::new();
    for (name, node) in &machine.state.nodes {
        if !node.flags.contains(NodeFlags::MASTER) {
            continue;
        }
        let slots: Vec<Reply> = ranges
            .get(name)
            .into_iter()
            .flatten()
            .flat_map(|&(first, last)| [Reply::Int(i64::from(first)), Reply::Int(i64::from(last))])
            .collect();
        let mut nodes = vec![shard_node_details(machine, name, node, env)];
        for replica in replicas_of(machine, name) {
            if let Some(r) = machine.state.nodes.get(&replica) {
                nodes.push(shard_node_details(machine, &replica, r, env));
            }
        }
        shards.push(Reply::Map(vec![(bulk("slots"), Reply::Array(slots)), (bulk("nodes"), Reply::Array(nodes))]));
    }
    Reply::Array(shards)
}

fn flushslots(machine: &mut Machine, env: &dyn Environment) -> Reply {
    if !env.db_is_empty() {
        return error("DB must be empty to perform CLUSTER FLUSHSLOTS.");
    }
    let me = machine.myself();
    machine.del_node_slots(&me);
    machine.do_before_sleep(true, false, true);
    Reply::Ok
}

/// `checkSlotAssignmentsOrReply` over `first..=last`, marking `seen`.
fn check_slot_assignments(machine: &Machine, seen: &mut [bool], del: bool, first: u16, last: u16) -> Result<(), Reply> {
    for slot in first..=last {
        let owned = machine.state.slot_owner[usize::from(slot)].is_some();
        if del && !owned {
            return Err(error(format!("Slot {slot} is already unassigned")));
        }
        if !del && owned {
            return Err(error(format!("Slot {slot} is already busy")));
        }
        let mark = &mut seen[usize::from(slot)];
        if *mark {
            return Err(error(format!("Slot {slot} specified multiple times")));
        }
        *mark = true;
    }
    Ok(())
}

/// `clusterUpdateSlots`: assign (to myself) or unassign the marked slots; either way an
/// importing state ends, as we are now the real owner or nobody is.
fn update_slots(machine: &mut Machine, seen: &[bool], del: bool) {
    let me = machine.myself();
    for (slot, _) in seen.iter().enumerate().filter(|(_, &marked)| marked) {
        // Below 16384, fits.
        let slot = slot as u16;
        machine.state.importing_from.remove(&slot);
        if del {
            machine.del_slot(slot);
        } else {
            machine.add_slot(me, slot);
        }
    }
    machine.do_before_sleep(true, false, true);
}

fn add_del_slots(machine: &mut Machine, slot_args: &[&[u8]], del: bool) -> Reply {
    // Every argument must parse before any is checked, as in Redis.
    let mut slots = Vec::with_capacity(slot_args.len());
    for arg in slot_args {
        match slot_arg(arg) {
            Ok(slot) => slots.push(slot),
            Err(reply) => return reply,
        }
    }
    let mut seen = vec![false; CLUSTER_SLOTS];
    for slot in slots {
        if let Err(reply) = check_slot_assignments(machine, &mut seen, del, slot, slot) {
            return reply;
        }
    }
    update_slots(machine, &seen, del);
    Reply::Ok
}

fn add_del_slots_range(machine: &mut Machine, name: &str, pairs: &[&[u8]]) -> Reply {
    if pairs.len() % 2 == 1 {
        return error(format!("wrong number of arguments for 'cluster|{name}' command"));
    }
    let del = name == "delslotsrange";
    let mut seen = vec![false; CLUSTER_SLOTS];
    for pair in pairs.chunks_exact(2) {
        let first = match slot_arg(pair[0]) {
            Ok(slot) => slot,
            Err(reply) => return reply,
        };
        let last = match slot_arg(pair[1]) {
            Ok(slot) => slot,
            Err(reply) => return reply,
        };
        if first > last {
            return error(format!("start slot number {first} is greater than end slot number {last}"));
        }
        if let Err(reply) = check_slot_assignments(machine, &mut seen, del, first, last) {
            return reply;
        }
    }
    update_slots(machine, &seen, del);
    Reply::Ok
}

fn setslot(machine: &mut Machine, args: &[&[u8]], env: &dyn Environment, now_ms: u64) -> Reply {
    let me = machine.myself();
    if is_slave(machine, &me) {
        return error("Please use SETSLOT only with masters.");
    }
    let slot = match slot_arg(args[0]) {
        Ok(slot) => slot,
        Err(reply) => return reply,
    };
    let action = String::from_utf8_lossy(args[1]).to_ascii_lowercase();
    let owner = machine.state.slot_owner[usize::from(slot)];
    match (action.as_str(), args.len()) {
        ("migrating", 3) => {
            if owner != Some(me) {
                return error(format!("I'm not the owner of hash slot {slot}"));
            }
            let Some(target) = lookup_node(machine, args[2]) else {
                return error(format!("I don't know about node {}", c_str(args[2])));
            };
            if is_slave(machine, &target) {
                return error("Target node is not a master");
            }
            machine.state.migrating_to.insert(slot, target);
        }
        ("importing", 3) => {
            if owner == Some(me) {
                return error(format!("I'm already the owner of hash slot {slot}"));
            }
            let Some(source) = lookup_node(machine, args[2]) else {
                return error(format!("I don't know about node {}", c_str(args[2])));
            };
            if is_slave(machine, &source) {
                return error("Target node is not a master");
            }
            machine.state.importing_from.insert(slot, source);
        }
        ("stable", 2) => {
            machine.state.importing_from.remove(&slot);
            machine.state.migrating_to.remove(&slot);
        }
        ("node", 3) => {
            let Some(target) = lookup_node(machine, args[2]) else {
                return error(format!("Unknown node {}", c_str(args[2])));
            };
            if is_slave(machine, &target) {
                return error("Target node is not a master");
            }
            if let Err(reply) = setslot_node(machine, slot, target, env, now_ms) {
                return reply;
            }
        }
        _ => return error("Invalid CLUSTER SETSLOT action or number of arguments. Try CLUSTER HELP"),
    }
    machine.do_before_sleep(true, false, true);
    Reply::Ok
}

/// `CLUSTER SETSLOT <slot> NODE <target>` once the target is known to be a master.
fn setslot_node(
    machine: &mut Machine,
    slot: u16,
    target: NodeName,
    env: &dyn Environment,
    now_ms: u64,
) -> Result<(), Reply> {
    let me = machine.myself();
    let slot_was_mine = machine.state.slot_owner[usize::from(slot)] == Some(me);
    // Keys of a slot we hand away would become unreachable: the migration must finish first.
    if slot_was_mine && target != me && env.count_keys_in_slot(slot) != 0 {
        return Err(error(format!(
            "Can't assign hashslot {slot} to a different node while I still hold keys for this hash slot."
        )));
    }
    // A migrating slot with no keys left here is closed by assigning it.
    if env.count_keys_in_slot(slot) == 0 {
        machine.state.migrating_to.remove(&slot);
    }
    machine.del_slot(slot);
    machine.add_slot(target, slot);
    if slot_was_mine && target != me && machine.node_slot_count(&me) == 0 && machine.config().allow_replica_migration {
        machine.cluster_set_master(target);
        machine.do_before_sleep(true, true, true);
    }
    if target == me && machine.state.importing_from.contains_key(&slot) {
        // The slot was migrated by hand: take a new epoch without consensus so the cluster
        // adopts our claim, and tell everyone now (a collision, if any, is resolved as usual).
        machine.cluster_bump_config_epoch_without_consensus();
        machine.state.importing_from.remove(&slot);
        machine.broadcast_pong(now_ms);
    }
    Ok(())
}

fn bumpepoch(machine: &mut Machine) -> Reply {
    let bumped = machine.cluster_bump_config_epoch_without_consensus();
    let me = machine.myself();
    let epoch = machine.state.nodes.get(&me).map_or(0, |n| n.config_epoch);
    Reply::Status(format!("{} {epoch}", if bumped { "BUMPED" } else { "STILL" }))
}

/// The text of CLUSTER INFO, `\r\n`-terminated lines in Redis's order.
pub fn info_text(machine: &Machine, env: &dyn Environment) -> String {
    let (mut assigned, mut ok, mut pfail, mut fail) = (0usize, 0usize, 0usize, 0usize);
    for owner in machine.state.slot_owner.iter().flatten() {
        assigned += 1;
        let flags = machine.flags(owner);
        if flags.contains(NodeFlags::FAIL) {
            fail += 1;
        } else if flags.contains(NodeFlags::PFAIL) {
            pfail += 1;
        } else {
            ok += 1;
        }
    }
    let me = machine.myself();
    let my_node = machine.state.nodes.get(&me);
    let my_master = my_node.filter(|n| n.flags.contains(NodeFlags::SLAVE)).and_then(|n| n.master);
    let my_epoch = match my_master.and_then(|m| machine.state.nodes.get(&m)) {
        Some(master) => master.config_epoch,
        None => my_node.map_or(0, |n| n.config_epoch),
    };
    let mut out = String::new();
    let _ = write!(
        out,
        "cluster_state:{}\r\ncluster_slots_assigned:{assigned}\r\ncluster_slots_ok:{ok}\r\n\
         cluster_slots_pfail:{pfail}\r\ncluster_slots_fail:{fail}\r\ncluster_known_nodes:{}\r\n\
         cluster_size:{}\r\ncluster_current_epoch:{}\r\ncluster_my_epoch:{my_epoch}\r\n",
        if machine.cluster_ok() { "ok" } else { "fail" },
        machine.state.nodes.len(),
        machine.reported_cluster_size(),
        machine.state.current_epoch,
    );
    let (sent, received) = machine.message_stats();
    for (counts, dir) in [(sent, "sent"), (received, "received")] {
        let mut total = 0u64;
        for (name, &count) in MSG_TYPE_NAMES.iter().zip(counts.iter()) {
            if count == 0 {
                continue;
            }
            total += count;
            let _ = write!(out, "cluster_stats_messages_{name}_{dir}:{count}\r\n");
        }
        let _ = write!(out, "cluster_stats_messages_{dir}:{total}\r\n");
    }
    let _ = write!(out, "total_cluster_links_buffer_limit_exceeded:{}\r\n", env.links_buffer_limit_exceeded());
    out
}

fn countkeysinslot(arg: &[u8], env: &dyn Environment) -> Reply {
    let Some(slot) = parse_ll(arg) else { return not_an_integer() };
    if !(0..CLUSTER_SLOTS as i64).contains(&slot) {
        return error("Invalid slot");
    }
    // Below 16384, fits.
    Reply::Int(i64::try_from(env.count_keys_in_slot(slot as u16)).unwrap_or(i64::MAX))
}

fn getkeysinslot(slot_arg: &[u8], count_arg: &[u8], env: &dyn Environment) -> Reply {
    let Some(slot) = parse_ll(slot_arg) else { return not_an_integer() };
    let Some(max_keys) = parse_ll(count_arg) else { return not_an_integer() };
    if !(0..CLUSTER_SLOTS as i64).contains(&slot) || max_keys < 0 {
        return error("Invalid slot or number of keys");
    }
    // Below 16384, fits.
    let slot = slot as u16;
    let in_slot = env.count_keys_in_slot(slot);
    let wanted = usize::try_from((max_keys as u64).min(in_slot)).unwrap_or(usize::MAX);
    let keys = env.keys_in_slot(slot, wanted);
    Reply::Array(keys.into_iter().take(wanted).map(Reply::Bulk).collect())
}

fn forget(machine: &mut Machine, arg: &[u8], now_ms: u64) -> Reply {
    let Some(node) = lookup_node(machine, arg) else {
        return error(format!("Unknown node {}", c_str(arg)));
    };
    let me = machine.myself();
    if node == me {
        return error("I tried hard but I can't forget myself...");
    }
    let my_master = machine.state.nodes.get(&me).and_then(|n| n.master);
    if is_slave(machine, &me) && my_master == Some(node) {
        return error("Can't forget my master!");
    }
    machine.cluster_blacklist_add_node(node, now_ms);
    machine.del_node(&node);
    machine.do_before_sleep(true, false, true);
    Reply::Ok
}

fn replicate(machine: &mut Machine, arg: &[u8], env: &dyn Environment) -> Reply {
    let Some(node) = lookup_node(machine, arg) else {
        return error(format!("Unknown node {}", c_str(arg)));
    };
    let me = machine.myself();
    if node == me {
        return error("Can't replicate myself");
    }
    if is_slave(machine, &node) {
        return error("I can only replicate a master, not a replica.");
    }
    if machine.is_master(&me) && (machine.node_slot_count(&me) != 0 || !env.db_is_empty()) {
        return error("To set a master the node must be empty and without assigned slots.");
    }
    machine.cluster_set_master(node);
    machine.do_before_sleep(true, false, true);
    Reply::Ok
}

fn replicas(machine: &Machine, arg: &[u8]) -> Reply {
    let Some(node) = lookup_node(machine, arg) else {
        return error(format!("Unknown node {}", c_str(arg)));
    };
    if is_slave(machine, &node) {
        return error("The specified node is not a master");
    }
    Reply::Array(
        replicas_of(machine, &node).iter().map(|r| Reply::Bulk(node_line_text(machine, r).into_bytes())).collect(),
    )
}

fn failover(machine: &mut Machine, option: Option<&[u8]>, now_ms: u64) -> Reply {
    let (mut force, mut takeover) = (false, false);
    if let Some(option) = option {
        if option.eq_ignore_ascii_case(b"force") {
            force = true;
        } else if option.eq_ignore_ascii_case(b"takeover") {
            takeover = true;
            force = true;
        } else {
            return syntax_error();
        }
    }
    let me = machine.myself();
    if machine.is_master(&me) {
        return error("You should send CLUSTER FAILOVER to a replica");
    }
    let Some(master) = machine.state.nodes.get(&me).and_then(|n| n.master) else {
        return error("I'm a replica but my master is unknown to me");
    };
    if !force && (machine.flags(&master).contains(NodeFlags::FAIL) || !machine.has_link(&master)) {
        return error("Master is down or failed, please use CLUSTER FAILOVER FORCE");
    }
    machine.start_manual_failover(force, takeover, now_ms);
    Reply::Ok
}

fn set_config_epoch(machine: &mut Machine, arg: &[u8]) -> Reply {
    let Some(epoch) = parse_ll(arg) else { return not_an_integer() };
    if epoch < 0 {
        return error(format!("Invalid config epoch specified: {epoch}"));
    }
    if machine.state.nodes.len() > 1 {
        return error("The user can assign a config epoch only when the node does not know any other node.");
    }
    let me = machine.myself();
    let Some(node) = machine.state.nodes.get_mut(&me) else {
        return error("The user can assign a config epoch only when the node does not know any other node.");
    };
    if node.config_epoch != 0 {
        return error("Node config epoch is already non-zero");
    }
    // Checked non-negative above.
    let epoch = epoch as u64;
    node.config_epoch = epoch;
    machine.state.current_epoch = machine.state.current_epoch.max(epoch);
    // No fsync, as in Redis: a lost epoch is repaired by the collision rule.
    machine.do_before_sleep(true, false, true);
    Reply::Ok
}

fn reset(machine: &mut Machine, option: Option<&[u8]>, env: &dyn Environment) -> Reply {
    let hard = match option {
        None => false,
        Some(o) if o.eq_ignore_ascii_case(b"hard") => true,
        Some(o) if o.eq_ignore_ascii_case(b"soft") => false,
        Some(_) => return syntax_error(),
    };
    let me = machine.myself();
    if machine.is_master(&me) && !env.db_is_empty() {
        return error("CLUSTER RESET can't be called with master nodes containing keys");
    }
    machine.cluster_reset(hard);
    Reply::Ok
}

/// `addReplyClusterLinksDescription`.
fn links(machine: &Machine, env: &dyn Environment) -> Reply {
    let mut out = Vec::new();
    for link in machine.links() {
        let (allocated, used) = env.link_buffers(link.link).unwrap_or((0, 0));
        // Redis lists the handlers installed on the connection: reading once connected,
        // writing while something waits in the send buffer.
        let mut events = String::new();
        if link.connected {
            events.push('r');
            if used > 0 {
                events.push('w');
            }
        }
        let direction = match link.link {
            LinkId::Out(_) => "to",
            LinkId::In(_) => "from",
        };
        out.push(Reply::Map(vec![
            (bulk("direction"), bulk(direction)),
            (bulk("node"), Reply::Bulk(link.node.as_bytes().to_vec())),
            (bulk("create-time"), Reply::Int(i64::try_from(link.ctime_ms).unwrap_or(i64::MAX))),
            (bulk("events"), bulk(&events)),
            (bulk("send-buffer-allocated"), Reply::Int(i64::try_from(allocated).unwrap_or(i64::MAX))),
            (bulk("send-buffer-used"), Reply::Int(i64::try_from(used).unwrap_or(i64::MAX))),
        ]));
    }
    Reply::Array(out)
}

// ---- the state changes behind the commands ------------------------------------------------

impl Machine {
    /// `clusterGetMaxEpoch`: the greatest config epoch we know, or the current epoch if greater.
    fn cluster_get_max_epoch(&self) -> u64 {
        let max = self.state.nodes.values().map(|n| n.config_epoch).max().unwrap_or(0);
        max.max(self.state.current_epoch)
    }

    /// `clusterBumpConfigEpochWithoutConsensus`: take a new epoch unless ours is already
    /// non-zero and the greatest. True when bumped.
    pub(crate) fn cluster_bump_config_epoch_without_consensus(&mut self) -> bool {
        let me = self.myself();
        let max_epoch = self.cluster_get_max_epoch();
        let my_epoch = self.state.nodes.get(&me).map_or(0, |n| n.config_epoch);
        if my_epoch != 0 && my_epoch == max_epoch {
            return false;
        }
        self.state.current_epoch = self.state.current_epoch.saturating_add(1);
        let epoch = self.state.current_epoch;
        if let Some(node) = self.state.nodes.get_mut(&me) {
            node.config_epoch = epoch;
        }
        self.do_before_sleep(true, true, false);
        true
    }

    /// `clusterReset`: forget every other node and every slot, become a master again (a replica
    /// also drops its data); a hard reset also takes a new name and zeroes the epochs.
    pub(crate) fn cluster_reset(&mut self, hard: bool) {
        self.reset_manual_failover();
        self.election = Default::default();
        let me = self.myself();
        if self.flags(&me).contains(NodeFlags::SLAVE) {
            if let Some(node) = self.state.nodes.get_mut(&me) {
                node.flags.remove(NodeFlags::SLAVE);
                node.flags.insert(NodeFlags::MASTER);
                node.master = None;
            }
            self.actions.push(Action::StopReplication { flush_data: true });
        }
        self.state.migrating_to.clear();
        self.state.importing_from.clear();
        for slot in 0..CLUSTER_SLOTS as u16 {
            self.del_slot(slot);
        }
        self.owner_not_claiming = Default::default();
        let others: Vec<NodeName> = self.state.nodes.keys().copied().filter(|n| *n != me).collect();
        for name in others {
            self.del_node(&name);
        }
        if hard {
            self.state.current_epoch = 0;
            self.state.last_vote_epoch = 0;
            let new_name = crate::machine::random_name(&mut self.rng);
            if let Some(mut node) = self.state.nodes.remove(&me) {
                node.config_epoch = 0;
                self.state.nodes.insert(new_name, node);
            }
            if let Some(rt) = self.runtime.remove(&me) {
                self.runtime.insert(new_name, rt);
            }
            self.node_slots.remove(&me);
            self.slot_counts.remove(&me);
            self.state.myself = new_name;
        }
        self.do_before_sleep(true, true, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string2ll_rules() {
        assert_eq!(parse_ll(b"0"), Some(0));
        assert_eq!(parse_ll(b"-1"), Some(-1));
        assert_eq!(parse_ll(b"16383"), Some(16383));
        assert_eq!(parse_ll(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_ll(b"9223372036854775807"), Some(i64::MAX));
        for bad in [&b""[..], b"01", b"-0", b"+1", b" 1", b"1 ", b"1.0", b"9223372036854775808", b"-", b"x"] {
            assert_eq!(parse_ll(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn key_slots_match_redis_examples() {
        // Values from redis-cli CLUSTER KEYSLOT against redis-server 7.0.15.
        assert_eq!(key_hash_slot(b"foo"), 12182);
        assert_eq!(key_hash_slot(b"{user1000}.following"), 3443);
        assert_eq!(key_hash_slot(b"{user1000}.following"), key_hash_slot(b"user1000"));
        assert_eq!(key_hash_slot(b"foo{}{bar}"), key_hash_slot(b"foo{}{bar}"));
        assert_eq!(key_hash_slot(b"foo{{bar}}zap"), key_hash_slot(b"{bar"));
    }
}
