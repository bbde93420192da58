//! The `--cluster` subcommands, one function each, in redis-cli 7.0.15's order of checks, commands
//! and messages (`clusterManagerCommand*`), built on the manager's blocks in `cluster`.
//!
//! It owns the subcommand table (names, arity, the help text) and each subcommand's flow. It must
//! never change a cluster before the checks redis-cli makes first have passed (node reachable,
//! cluster mode, empty for create, agreement for reshard/rebalance/add-node), and never loop on
//! end of input where redis-cli would spin: a prompt that gets no answer ends the command.

use super::model::{self, Node, SLOTS};
use super::plan;
use super::{argv, err_text, host_from_args, reply_text, Manager, MoveOpts, Progress};
use crate::client::Connection;
use crate::reply::Reply;
use std::io::Write;
use std::net::ToSocketAddrs;
use std::time::Duration;

/// One subcommand: its name, its handler, its arity (negative: at least), its help.
pub struct CommandDef {
    pub name: &'static str,
    pub run: fn(&mut Manager<'_>) -> bool,
    pub arity: i32,
    pub args: Option<&'static str>,
    pub options: Option<&'static str>,
}

impl CommandDef {
    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i32;
        !((self.arity > 0 && argc != self.arity) || (self.arity < 0 && argc < -self.arity))
    }
}

const HOST_ARGS: &str = "<host:port> or <host> <port> - separated by either colon or space";

pub const COMMANDS: &[CommandDef] = &[
    CommandDef { name: "create", run: create, arity: -2, args: Some("host1:port1 ... hostN:portN"), options: Some("replicas <arg>") },
    CommandDef { name: "check", run: check, arity: -1, args: Some(HOST_ARGS), options: Some("search-multiple-owners") },
    CommandDef { name: "info", run: info, arity: -1, args: Some(HOST_ARGS), options: None },
    CommandDef {
        name: "fix",
        run: fix,
        arity: -1,
        args: Some(HOST_ARGS),
        options: Some("search-multiple-owners,fix-with-unreachable-masters"),
    },
    CommandDef {
        name: "reshard",
        run: reshard,
        arity: -1,
        args: Some(HOST_ARGS),
        options: Some("from <arg>,to <arg>,slots <arg>,yes,timeout <arg>,pipeline <arg>,replace"),
    },
    CommandDef {
        name: "rebalance",
        run: rebalance,
        arity: -1,
        args: Some(HOST_ARGS),
        options: Some(
            "weight <node1=w1...nodeN=wN>,use-empty-masters,timeout <arg>,simulate,pipeline <arg>,threshold <arg>,replace",
        ),
    },
    CommandDef {
        name: "add-node",
        run: add_node,
        arity: 2,
        args: Some("new_host:new_port existing_host:existing_port"),
        options: Some("slave,master-id <arg>"),
    },
    CommandDef { name: "del-node", run: del_node, arity: 2, args: Some("host:port node_id"), options: None },
    CommandDef {
        name: "call",
        run: call,
        arity: -2,
        args: Some("host:port command arg arg .. arg"),
        options: Some("only-masters,only-replicas"),
    },
    CommandDef { name: "set-timeout", run: set_timeout, arity: 2, args: Some("host:port milliseconds"), options: None },
    CommandDef {
        name: "import",
        run: import,
        arity: 1,
        args: Some("host:port"),
        options: Some("from <arg>,from-user <arg>,from-pass <arg>,from-askpass,copy,replace"),
    },
    CommandDef { name: "backup", run: backup, arity: 2, args: Some("host:port backup_directory"), options: None },
    CommandDef { name: "help", run: help, arity: 0, args: None, options: None },
];

pub fn lookup(name: &str) -> Option<&'static CommandDef> {
    COMMANDS.iter().find(|c| c.name == name)
}

const INVALID_HOST_ARG: &str = "[ERR] Invalid arguments: you need to pass either a valid address (ie. 120.0.0.1:7000) or space separated IP and port (ie. 120.0.0.1 7000)\n";

/// The entry node from the arguments, or redis-cli's invalid-arguments message.
fn entry_host(m: &mut Manager<'_>, args: &[String]) -> Option<(String, u16)> {
    let h = host_from_args(args);
    if h.is_none() {
        m.eprint(INVALID_HOST_ARG);
    }
    h
}

/// `anetResolve`: CLUSTER MEET wants an IP address, so a host name is resolved first.
fn resolve_ip(host: &str) -> Option<String> {
    (host, 0u16).to_socket_addrs().ok()?.next().map(|a| a.ip().to_string())
}

/// CLUSTER MEET toward node `first`, sent to node `i` (the 3-argument form only when the bus port
/// is not port + 10000).
fn meet(m: &mut Manager<'_>, i: usize, first: usize, first_ip: &str) -> Option<Reply> {
    let f = &m.nodes[first];
    let (port, bus) = (f.port.to_string(), f.bus_port.to_string());
    if f.bus_port == 0 || u32::from(f.bus_port) == u32::from(f.port) + 10000 {
        m.cmd_str(i, &["CLUSTER", "MEET", first_ip, &port])
    } else {
        m.cmd_str(i, &["CLUSTER", "MEET", first_ip, &port, &bus])
    }
}

/// Connect, cluster mode, CLUSTER NODES, emptiness: the checks `create` and `add-node` make on a
/// node that is to join. Prints redis-cli's message on failure.
fn check_new_node(m: &mut Manager<'_>, i: usize, connect_msg: bool) -> bool {
    if !m.connect(i) {
        if connect_msg {
            let a = m.nodes[i].addr();
            m.logerr(&format!("[ERR] Sorry, can't connect to node {a}\n"));
        }
        return false;
    }
    match m.is_cluster(i) {
        Ok(true) => {}
        Ok(false) => {
            m.print_not_cluster(i, None);
            return false;
        }
        Err(e) => {
            m.print_not_cluster(i, e);
            return false;
        }
    }
    if let Err(e) = m.node_load_info(i, false) {
        if let Some(e) = e {
            m.print_reply_error(i, &e);
        }
        return false;
    }
    match m.is_empty(i) {
        Ok(true) => true,
        Ok(false) => {
            m.print_not_empty(i, None);
            false
        }
        Err(e) => {
            m.print_not_empty(i, e);
            false
        }
    }
}

fn create(m: &mut Manager<'_>) -> bool {
    m.nodes.clear();
    m.conns.clear();
    for addr in m.args.args.clone() {
        let Some((ip, port, _)) = model::parse_node_address(&addr) else {
            m.eprint(&format!("Invalid address format: {addr}\n"));
            return false;
        };
        let i = m.push_node(Node::new(&ip, port, 0));
        if !check_new_node(m, i, false) {
            return false;
        }
    }
    let node_len = m.nodes.len();
    let replicas = m.args.replicas.max(0) as usize;
    if plan::masters_count(node_len, replicas) < 3 {
        m.logerr(&format!("*** ERROR: Invalid configuration for cluster creation.\n*** Redis Cluster requires at least 3 master nodes.\n*** This is not possible with {} nodes and {} replicas per node.", node_len, m.args.replicas));
        m.logerr(&format!("\n*** At least {} nodes are required.\n", m.args.replicas.wrapping_add(1).wrapping_mul(3)));
        return false;
    }
    m.info(&format!(">>> Performing hash slots allocation on {node_len} nodes...\n"));
    let cnodes: Vec<plan::CreateNode> =
        m.nodes.iter().map(|n| plan::CreateNode { ip: n.ip.clone(), addr: n.addr(), id: n.name.clone() }).collect();
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let p = plan::plan_create(&cnodes, replicas, &mut plan::Rng::new(seed));
    for (&mi, &(first, last)) in p.masters.iter().zip(p.ranges.iter()) {
        let n = &mut m.nodes[mi];
        n.reset_slots();
        for s in first..=last {
            n.slots[s] = true;
        }
        n.slots_count = last - first + 1;
        n.dirty = true;
    }
    for (i, rep) in plan::replicate_ids(&cnodes, &p).into_iter().enumerate() {
        if rep.is_some() {
            m.nodes[i].replicate = rep;
            m.nodes[i].dirty = true;
        }
    }
    for (level, line) in &p.log {
        m.log(*level, &format!("{line}\n"));
    }
    m.show_nodes();
    if !m.confirm("Can I set the above configuration?", false) {
        return true;
    }
    for i in 0..node_len {
        let flushed = m.flush_node_config(i);
        if let Err(e) = flushed {
            if m.nodes[i].dirty && m.nodes[i].replicate.is_none() {
                if let Some(e) = e {
                    m.print_reply_error(i, &e);
                }
                return false;
            }
        }
    }
    m.info(">>> Nodes configuration updated\n");
    m.info(">>> Assign a different config epoch to each node\n");
    for i in 0..node_len {
        let _ = m.cmd_str(i, &["cluster", "set-config-epoch", &(i + 1).to_string()]);
    }
    m.info(">>> Sending CLUSTER MEET messages to join the cluster\n");
    let Some(first_ip) = resolve_ip(&m.nodes[0].ip) else {
        let h = m.nodes[0].ip.clone();
        m.eprint(&format!("Invalid IP address or hostname specified: {h}\n"));
        return false;
    };
    for i in 1..node_len {
        match meet(m, i, 0, &first_ip) {
            Some(Reply::Error(e)) => {
                let e = String::from_utf8_lossy(&e).into_owned();
                m.print_reply_error(i, &e);
                return false;
            }
            None => {
                m.eprint("Failed to send CLUSTER MEET command.\n");
                return false;
            }
            Some(_) => {}
        }
    }
    // Give the join a second to start, so that the wait does not see empty nodes "agreeing".
    std::thread::sleep(Duration::from_secs(1));
    m.wait_for_cluster_join();
    for i in 0..node_len {
        if !m.nodes[i].dirty {
            continue;
        }
        if let Err(e) = m.flush_node_config(i) {
            if m.nodes[i].replicate.is_none() {
                if let Some(e) = e {
                    m.print_reply_error(i, &e);
                }
                return false;
            }
        }
    }
    let (ip, port) = (m.nodes[0].ip.clone(), m.nodes[0].port);
    if !m.load_info_from_node(&ip, port) {
        return false;
    }
    m.check_cluster(false);
    true
}

fn check(m: &mut Manager<'_>) -> bool {
    let args = m.args.args.clone();
    let Some((ip, port)) = entry_host(m, &args) else { return false };
    if !m.load_info_from_node(&ip, port) {
        return false;
    }
    m.show_cluster_info();
    m.check_cluster(false)
}

fn info(m: &mut Manager<'_>) -> bool {
    let args = m.args.args.clone();
    let Some((ip, port)) = entry_host(m, &args) else { return false };
    if !m.load_info_from_node(&ip, port) {
        return false;
    }
    m.show_cluster_info();
    true
}

fn fix(m: &mut Manager<'_>) -> bool {
    m.fix = true;
    check(m)
}

/// `clusterNodeForResharding`: a known master, not the target. `Err(true)` is fatal.
fn node_for_resharding(m: &mut Manager<'_>, id: &str, target: Option<usize>) -> Result<usize, bool> {
    match m.node_by_name(id) {
        Some(n) if !m.nodes[n].slave => {
            if let Some(t) = target {
                if m.nodes[n].name == m.nodes[t].name {
                    m.logerr("*** It is not possible to use the target node as source node.\n");
                    return Err(false);
                }
            }
            Ok(n)
        }
        _ => {
            m.logerr(&format!("*** The specified node ({id}) is not known or not a master, please retry.\n"));
            Err(true)
        }
    }
}

fn reshard(m: &mut Manager<'_>) -> bool {
    let args = m.args.args.clone();
    let Some((ip, port)) = entry_host(m, &args) else { return false };
    if !m.load_info_from_node(&ip, port) {
        return false;
    }
    m.check_cluster(false);
    if !m.errors.is_empty() {
        m.flush();
        m.eprint("*** Please fix your cluster problems before resharding\n");
        return false;
    }
    let mut slots = m.args.slots;
    while slots <= 0 || slots > SLOTS as i64 {
        m.out(&format!("How many slots do you want to move (from 1 to {SLOTS})? "));
        m.flush();
        let Some(line) = m.read_line() else { return false };
        slots = model::c_atoi(&line);
    }
    let mut to = m.args.to.clone();
    while to.is_none() {
        m.out("What is the receiving node ID? ");
        m.flush();
        let Some(line) = m.read_line() else { return false };
        if !line.is_empty() {
            to = Some(line);
        }
    }
    let to = to.unwrap_or_default();
    let Ok(target) = node_for_resharding(m, &to, None) else { return false };
    let mut sources: Vec<usize> = Vec::new();
    let mut all = false;
    match m.args.from.clone() {
        None => {
            m.out("Please enter all the source node IDs.\n");
            m.out("  Type 'all' to use all the nodes as source nodes for the hash slots.\n");
            m.out("  Type 'done' once you entered all the source nodes IDs.\n");
            loop {
                m.out(&format!("Source node #{}: ", sources.len() + 1));
                m.flush();
                let Some(line) = m.read_line() else { return false };
                match line.as_str() {
                    "done" => break,
                    "all" => {
                        all = true;
                        break;
                    }
                    id => match node_for_resharding(m, id, Some(target)) {
                        Ok(n) => sources.push(n),
                        Err(true) => return false,
                        Err(false) => {}
                    },
                }
            }
        }
        Some(from) => {
            for id in from.split(',') {
                if id == "all" {
                    all = true;
                    break;
                }
                if id.is_empty() {
                    continue;
                }
                match node_for_resharding(m, id, Some(target)) {
                    Ok(n) => sources.push(n),
                    Err(true) => return false,
                    Err(false) => {}
                }
            }
        }
    }
    if all {
        sources = m
            .masters()
            .into_iter()
            .filter(|&n| m.nodes[n].replicate.is_none() && m.nodes[n].name != m.nodes[target].name)
            .collect();
    }
    if sources.is_empty() {
        m.eprint("*** No source nodes given, operation aborted.\n");
        return false;
    }
    m.out(&format!("\nReady to move {slots} slots.\n"));
    m.out("  Source nodes:\n");
    for &s in &sources {
        let t = model::node_info(&m.nodes[s], 4);
        m.out(&format!("{t}\n"));
    }
    m.out("  Destination node:\n");
    let t = model::node_info(&m.nodes[target], 4);
    m.out(&format!("{t}\n"));
    let table = {
        let srcs: Vec<plan::Source<'_>> = sources
            .iter()
            .map(|&s| plan::Source { index: s, slots_count: m.nodes[s].slots_count, slots: &m.nodes[s].slots })
            .collect();
        plan::reshard_table(&srcs, slots as usize)
    };
    m.out("  Resharding plan:\n");
    for &(src, slot) in &table {
        let name = m.nodes[src].name.clone();
        m.out(&format!("    Moving slot {slot} from {name}\n"));
    }
    if !m.args.yes {
        m.out("Do you want to proceed with the proposed reshard plan (yes/no)? ");
        m.flush();
        if !matches!(m.read_line(), Some(l) if l.starts_with("yes")) {
            return false;
        }
    }
    m.progress = Some(Progress::new(table.len()));
    let opts = MoveOpts { progress: true, ..MoveOpts::default() };
    for (src, slots) in runs_by_source(&table) {
        if let Err(e) = m.move_slots(src, target, &slots, opts) {
            m.tick_progress(true);
            m.progress = None;
            if let Some(e) = e {
                m.logerr(&format!("clusterManagerMoveSlot failed: {e}\n"));
            }
            return false;
        }
    }
    m.tick_progress(true);
    m.progress = None;
    true
}

/// A move table's consecutive entries from one source, as (source, slots), in table order.
fn runs_by_source(table: &[(usize, usize)]) -> Vec<(usize, Vec<usize>)> {
    let mut runs: Vec<(usize, Vec<usize>)> = Vec::new();
    for &(src, slot) in table {
        match runs.last_mut() {
            Some((s, slots)) if *s == src => slots.push(slot),
            _ => runs.push((src, vec![slot])),
        }
    }
    runs
}

fn rebalance(m: &mut Manager<'_>) -> bool {
    let args = m.args.args.clone();
    let Some((ip, port)) = entry_host(m, &args) else { return false };
    if !m.load_info_from_node(&ip, port) {
        return false;
    }
    for w in m.args.weights.clone() {
        let Some((name, weight)) = w.split_once('=') else {
            m.logerr(&format!("*** invalid input {w}\n"));
            return false;
        };
        let Some(n) = m.node_by_abbreviated_name(name) else {
            m.logerr(&format!("*** No such master node {name}\n"));
            return false;
        };
        m.nodes[n].weight = weight.trim().parse::<f32>().unwrap_or_else(|_| model::c_atoi(weight) as f32);
    }
    let mut involved = Vec::new();
    for n in m.masters() {
        if m.nodes[n].replicate.is_some() {
            continue;
        }
        if !m.args.use_empty_masters && m.nodes[n].slots_count == 0 {
            m.nodes[n].weight = 0.0;
            continue;
        }
        involved.push(plan::Weighted { index: n, weight: m.nodes[n].weight, slots_count: m.nodes[n].slots_count });
    }
    m.check_cluster(true);
    if !m.errors.is_empty() {
        m.logerr("*** Please fix your cluster problems before rebalancing\n");
        return false;
    }
    let threshold_pct = m.args.threshold_pct;
    let p = plan::plan_rebalance(&involved, threshold_pct);
    if !p.threshold_reached {
        m.warn(&format!("*** No rebalancing needed! All nodes are within the {threshold_pct:.2}% threshold.\n"));
        return true;
    }
    m.info(&format!(">>> Rebalancing across {} nodes. Total weight = {:.2}\n", involved.len(), p.total_weight));
    for (src, dst, numslots) in p.moves {
        let (sa, da) = (m.nodes[src].addr(), m.nodes[dst].addr());
        m.out(&format!("Moving {numslots} slots from {sa} to {da}\n"));
        let table = {
            let s = [plan::Source { index: src, slots_count: m.nodes[src].slots_count, slots: &m.nodes[src].slots }];
            plan::reshard_table(&s, numslots)
        };
        if table.len() != numslots {
            m.logerr("*** Assertion failed: Reshard table != number of slots");
            return false;
        }
        if m.args.simulate {
            m.out(&format!("{}\n", "#".repeat(table.len())));
            continue;
        }
        m.progress = Some(Progress::new(table.len()));
        let opts = MoveOpts { quiet: true, update: true, progress: true, ..MoveOpts::default() };
        for (s, slots) in runs_by_source(&table) {
            if let Err(e) = m.move_slots(s, dst, &slots, opts) {
                m.tick_progress(true);
                m.progress = None;
                m.logerr(&format!("*** clusterManagerMoveSlot: {}\n", e.unwrap_or_default()));
                return false;
            }
        }
        m.tick_progress(true);
        m.progress = None;
    }
    true
}

fn add_node(m: &mut Manager<'_>) -> bool {
    let args = m.args.args.clone();
    let (Some((ref_ip, ref_port)), Some((ip, port))) = (host_from_args(&args[1..]), host_from_args(&args[..1])) else {
        m.eprint(INVALID_HOST_ARG);
        return false;
    };
    m.info(&format!(">>> Adding node {ip}:{port} to cluster {ref_ip}:{ref_port}\n"));
    if !m.load_info_from_node(&ref_ip, ref_port) || !m.check_cluster(false) {
        return false;
    }
    let mut master = None;
    if m.args.slave {
        match m.args.master_id.clone() {
            Some(id) => match m.node_by_name(&id) {
                Some(n) => master = Some(n),
                None => {
                    m.logerr(&format!("[ERR] No such master ID {id}\n"));
                    return false;
                }
            },
            None => {
                let Some(n) = m.node_with_least_replicas() else { return false };
                let a = m.nodes[n].addr();
                m.out(&format!("Automatically selected master {a}\n"));
                master = Some(n);
            }
        }
    }
    let new = m.push_node(Node::new(&ip, port, 0));
    if !check_new_node(m, new, true) {
        return false;
    }
    if master.is_none() {
        // Functions go to a new master; a replica gets them from its master.
        m.info(">>> Getting functions from cluster\n");
        match m.cmd_str(0, &["FUNCTION", "DUMP"]) {
            Some(Reply::Bulk(payload)) => {
                m.info(&format!(">>> Send FUNCTION LIST to {ip}:{port} to verify there is no functions in it\n"));
                match m.cmd_str(new, &["FUNCTION", "LIST"]) {
                    Some(Reply::Array(list)) if list.is_empty() => {}
                    Some(Reply::Array(_)) => {
                        m.logerr(">>> New node already contains functions and can not be added to the cluster. Use FUNCTION FLUSH and try again.\r\n");
                        return false;
                    }
                    other => {
                        let e = other.as_ref().and_then(err_text).unwrap_or_else(|| "NULL reply".into());
                        m.logerr(&format!(">>> Failed on CLUSTER LIST (error = '{e}')\r\n"));
                        return false;
                    }
                }
                m.info(&format!(">>> Send FUNCTION RESTORE to {ip}:{port}\n"));
                let r = m.cmd(new, vec![b"FUNCTION".to_vec(), b"RESTORE".to_vec(), payload]);
                if r.as_ref().is_none_or(Reply::is_error) {
                    let e = r.as_ref().and_then(err_text).unwrap_or_else(|| "NULL reply".into());
                    m.logerr(&format!(">>> Failed loading functions to the new node (error = '{e}')\r\n"));
                    return false;
                }
            }
            other => {
                let e = other.as_ref().and_then(err_text).unwrap_or_else(|| "NULL reply".into());
                m.info(&format!(">>> Failed retrieving Functions from the cluster, skip this step as Redis version do not support function command (error = '{e}')\n"));
            }
        }
    }
    m.info(&format!(">>> Send CLUSTER MEET to node {ip}:{port} to make it join the cluster.\n"));
    let Some(first_ip) = resolve_ip(&m.nodes[0].ip) else {
        let h = m.nodes[0].ip.clone();
        m.eprint(&format!("Invalid IP address or hostname specified: {h}\n"));
        return false;
    };
    let r = meet(m, new, 0, &first_ip);
    if !m.check_reply(new, &r) {
        return false;
    }
    if let Some(master) = master {
        std::thread::sleep(Duration::from_secs(1));
        m.wait_for_cluster_join();
        let a = m.nodes[master].addr();
        m.info(&format!(">>> Configure node as replica of {a}.\n"));
        let id = m.nodes[master].name.clone();
        let r = m.cmd_str(new, &["CLUSTER", "REPLICATE", &id]);
        if !m.check_reply(new, &r) {
            return false;
        }
    }
    m.ok("[OK] New node added correctly.\n");
    true
}

fn del_node(m: &mut Manager<'_>) -> bool {
    let args = m.args.args.clone();
    let Some((ip, port)) = entry_host(m, &args[..1]) else { return false };
    let node_id = args[1].clone();
    m.info(&format!(">>> Removing node {node_id} from cluster {ip}:{port}\n"));
    if !m.load_info_from_node(&ip, port) {
        return false;
    }
    let Some(node) = m.node_by_name(&node_id) else {
        m.logerr(&format!("[ERR] No such node ID {node_id}\n"));
        return false;
    };
    if m.nodes[node].slots_count != 0 {
        let a = m.nodes[node].addr();
        m.logerr(&format!("[ERR] Node {a} is not empty! Reshard data away and try again.\n"));
        return false;
    }
    m.info(">>> Sending CLUSTER FORGET messages to the cluster...\n");
    for n in 0..m.nodes.len() {
        if n == node {
            continue;
        }
        if m.nodes[n].replicate.as_deref().is_some_and(|r| r.eq_ignore_ascii_case(&node_id)) {
            let Some(master) = m.node_with_least_replicas() else { return false };
            let (na, ma) = (m.nodes[n].addr(), m.nodes[master].addr());
            m.info(&format!(">>> {na} as replica of {ma}\n"));
            let id = m.nodes[master].name.clone();
            let r = m.cmd_str(n, &["CLUSTER", "REPLICATE", &id]);
            if !m.check_reply(n, &r) {
                return false;
            }
        }
        let r = m.cmd_str(n, &["CLUSTER", "FORGET", &node_id]);
        if !m.check_reply(n, &r) {
            return false;
        }
    }
    m.info(">>> Sending CLUSTER RESET SOFT to the deleted node.\n");
    let r = m.cmd_str(node, &["CLUSTER", "RESET", "SOFT"]);
    m.check_reply(node, &r)
}

fn call(m: &mut Manager<'_>) -> bool {
    let args = m.args.args.clone();
    let Some((ip, port)) = entry_host(m, &args[..1]) else { return false };
    if !m.load_info_from_node(&ip, port) {
        return false;
    }
    let words = &args[1..];
    m.info(">>> Calling");
    let mut line = String::new();
    for w in words {
        line.push(' ');
        line.push_str(w);
    }
    m.out(&format!("{line}\n"));
    for n in 0..m.nodes.len() {
        let is_replica = m.nodes[n].replicate.is_some();
        if (m.args.only_masters && is_replica) || (m.args.only_replicas && !is_replica) {
            continue;
        }
        if m.conns[n].is_none() && !m.connect(n) {
            continue;
        }
        let a = m.nodes[n].addr();
        match m.cmd(n, argv(words)) {
            None => m.out(&format!("{a}: Failed!\n")),
            Some(r) => {
                let text = crate::format::raw(&r, b"\n").unwrap_or_default();
                m.out(&format!("{a}: {}\n", String::from_utf8_lossy(&text)));
            }
        }
    }
    true
}

fn set_timeout(m: &mut Manager<'_>) -> bool {
    let args = m.args.args.clone();
    let Some((ip, port)) = entry_host(m, &args[..1]) else { return false };
    let timeout_ms = model::c_atoi(&args[1]);
    if timeout_ms < 100 {
        m.eprint("Setting a node timeout of less than 100 milliseconds is a bad idea.\n");
        return false;
    }
    if !m.load_info_from_node(&ip, port) {
        return false;
    }
    let (mut ok_count, mut err_count) = (0, 0);
    m.info(">>> Reconfiguring node timeout in every cluster node...\n");
    for n in 0..m.nodes.len() {
        let t = timeout_ms.to_string();
        let failure = match m.cmd_str(n, &["CONFIG", "SET", "cluster-node-timeout", &t]) {
            None => Some(String::new()),
            Some(r) => match err_text(&r) {
                Some(e) => Some(e),
                None => match m.cmd_str(n, &["CONFIG", "REWRITE"]) {
                    None => Some(String::new()),
                    Some(r) => err_text(&r),
                },
            },
        };
        let a = m.nodes[n].addr();
        match failure {
            None => {
                m.warn(&format!("*** New timeout set for {a}\n"));
                ok_count += 1;
            }
            Some(e) => {
                m.logerr(&format!("ERR setting node-timeout for {a}: {e}\n"));
                err_count += 1;
            }
        }
    }
    m.info(&format!(">>> New node timeout set. {ok_count} OK, {err_count} ERR.\n"));
    true
}

fn import(m: &mut Manager<'_>) -> bool {
    let args = m.args.args.clone();
    let Some((ip, port)) = host_from_args(&args) else {
        m.eprint(INVALID_HOST_ARG);
        return false;
    };
    let Some(from) = m.args.from.clone() else {
        m.eprint("[ERR] Option '--cluster-from' is required for subcommand 'import'.\n");
        return false;
    };
    let Some((src_ip, src_port)) = host_from_args(&[from]) else {
        m.eprint("[ERR] Invalid --cluster-from host. You need to pass a valid address (ie. 120.0.0.1:7000).\n");
        return false;
    };
    m.info(&format!(">>> Importing data from {src_ip}:{src_port} to cluster {ip}:{port}\n"));
    if !m.load_info_from_node(&ip, port) || !m.check_cluster(false) {
        return false;
    }
    let mut src = match Connection::connect(&src_ip, src_port) {
        Ok(c) => c,
        Err(e) => {
            m.eprint(&format!("Could not connect to Redis at {src_ip}:{src_port}: {e}.\n"));
            return false;
        }
    };
    if let Some(pass) = m.args.from_pass.clone() {
        let a = match m.args.from_user.clone() {
            Some(u) => argv(&["AUTH", u.as_str(), pass.as_str()]),
            None => argv(&["AUTH", pass.as_str()]),
        };
        match src.command(&a) {
            Err(_) => {
                m.eprint("\nI/O error\n");
                return false;
            }
            Ok(Reply::Error(e)) => {
                m.eprint(&format!("AUTH failed: {}\n", String::from_utf8_lossy(&e)));
                return false;
            }
            Ok(_) => {}
        }
    }
    let src_err = |m: &mut Manager<'_>, r: Result<Reply, crate::ClientError>| -> Option<Reply> {
        match r {
            Ok(Reply::Error(e)) => {
                let e = String::from_utf8_lossy(&e).into_owned();
                m.logerr(&format!("Source {src_ip}:{src_port} replied with error:\n{e}\n"));
                None
            }
            Ok(r) => Some(r),
            Err(_) => None,
        }
    };
    let Some(info) = src_err(m, src.command(&argv(&["INFO"]))) else { return false };
    if model::info_field(&reply_text(&info).unwrap_or_default(), "cluster_enabled").unwrap_or(0) != 0 {
        m.logerr("[ERR] The source node should not be a cluster node.\n");
        return false;
    }
    let Some(Reply::Integer(size)) = src_err(m, src.command(&argv(&["DBSIZE"]))) else { return false };
    m.warn(&format!("*** Importing {size} keys from DB 0\n"));
    let mut slot_map: Vec<Option<usize>> = vec![None; SLOTS];
    for (s, owner) in slot_map.iter_mut().enumerate() {
        *owner = (0..m.nodes.len()).find(|&n| !m.nodes[n].slave && m.nodes[n].slots_count > 0 && m.nodes[n].slots[s]);
    }
    let mut cursor = String::from("0");
    loop {
        let Some(Reply::Array(scan)) = src_err(m, src.command(&argv(&["SCAN", cursor.as_str(), "COUNT", "1000"])))
        else {
            return false;
        };
        let (Some(next), Some(Reply::Array(keys))) = (scan.first(), scan.get(1)) else { return false };
        cursor = match next {
            Reply::Integer(i) => i.to_string(),
            other => reply_text(other).unwrap_or_else(|| "0".into()),
        };
        for k in keys {
            let Reply::Bulk(key) = k else { continue };
            let slot = usize::from(model::key_hash_slot(key));
            let Some(t) = slot_map[slot] else { return false };
            let (tip, tport) = (m.nodes[t].ip.clone(), m.nodes[t].port.to_string());
            m.out(&format!("Migrating {} to {}:{}: ", String::from_utf8_lossy(key), tip, tport));
            let mut a = argv(&["MIGRATE", tip.as_str(), tport.as_str()]);
            a.push(key.clone());
            a.extend(argv(&["0", &m.args.timeout_ms.to_string()]));
            if let Some(pass) = &m.auth.pass {
                match &m.auth.user {
                    Some(u) => a.extend(argv(&["AUTH2", u.as_str(), pass.as_str()])),
                    None => a.extend(argv(&["AUTH", pass.as_str()])),
                }
            }
            if m.args.copy {
                a.push(b"COPY".to_vec());
            }
            if m.args.replace {
                a.push(b"REPLACE".to_vec());
            }
            if src_err(m, src.command(&a)).is_none() {
                return false;
            }
            m.ok("OK\n");
        }
        if cursor == "0" {
            break;
        }
    }
    true
}

/// Saves one master's RDB through SYNC into `dir/redis-node-<ip>-<port>-<id>.rdb` (`getRDB`).
fn save_rdb(m: &mut Manager<'_>, n: usize, dir: &str) -> bool {
    let node = &m.nodes[n];
    let mut path = dir.to_string();
    if !path.ends_with('/') {
        path.push('/');
    }
    path.push_str(&format!("redis-node-{}-{}-{}.rdb", node.ip, node.port, node.name));
    // The replication stream follows the payload: the connection is of no further use after it.
    let Some(mut conn) = m.conns[n].take() else { return false };
    if conn.send_raw(b"SYNC\r\n").is_err() {
        m.eprint("Error writing to master\n");
        return false;
    }
    // "$<len>\r\n" or "$EOF:<40-byte mark>\r\n", possibly after keep-alive newlines.
    let mut header = Vec::new();
    loop {
        let mut b = [0u8; 1];
        match conn.read_raw(&mut b) {
            Ok(1) => {}
            _ => {
                m.eprint("Error reading bulk length while SYNCing\n");
                return false;
            }
        }
        if b[0] == b'\n' {
            if header.is_empty() {
                continue;
            }
            break;
        }
        header.push(b[0]);
    }
    let header = String::from_utf8_lossy(&header).trim_end_matches('\r').to_string();
    if header.starts_with('-') {
        m.eprint(&format!("SYNC with master failed: {header}\n"));
        return false;
    }
    let mark = header
        .get(1..)
        .and_then(|h| h.strip_prefix("EOF:"))
        .filter(|x| x.len() >= 40)
        .map(|x| x.as_bytes()[..40].to_vec());
    let mut file = match std::fs::File::create(&path) {
        Ok(f) => f,
        Err(e) => {
            m.eprint(&format!("Error opening '{}': {}\n", path, crate::client::os_error_text(&e)));
            return false;
        }
    };
    let mut buf = vec![0u8; 16 * 1024];
    match &mark {
        None => {
            let mut left: u64 = model::c_atoi(header.get(1..).unwrap_or("")).max(0) as u64;
            m.eprint(&format!("SYNC sent to master, writing {left} bytes to '{path}'\n"));
            while left > 0 {
                let want = buf.len().min(left as usize);
                let Ok(got) = conn.read_raw(&mut buf[..want]) else { break };
                if got == 0 || file.write_all(&buf[..got]).is_err() {
                    break;
                }
                left -= got as u64;
            }
            if left > 0 {
                m.eprint("I/O Error reading RDB payload from socket\n");
                return false;
            }
            m.eprint("Transfer finished with success.\n");
        }
        Some(mark) => {
            m.eprint(&format!("SYNC sent to master, writing bytes of bulk transfer until EOF marker to '{path}'\n"));
            // The payload ends with the 40-byte mark: keep the last 40 bytes back until it shows.
            let mut pending: Vec<u8> = Vec::new();
            let mut written: u64 = 0;
            let mut complete = false;
            while let Ok(got) = conn.read_raw(&mut buf) {
                if got == 0 {
                    break;
                }
                pending.extend_from_slice(&buf[..got]);
                if pending.ends_with(mark) {
                    pending.truncate(pending.len() - mark.len());
                    complete = true;
                }
                let keep = if complete { 0 } else { mark.len().min(pending.len()) };
                let flush = pending.len() - keep;
                if file.write_all(&pending[..flush]).is_err() {
                    break;
                }
                written += flush as u64;
                pending.drain(..flush);
                if complete {
                    break;
                }
            }
            if !complete {
                m.eprint("I/O Error reading RDB payload from socket\n");
                return false;
            }
            m.eprint(&format!("Transfer finished with success after {written} bytes\n"));
        }
    }
    file.sync_all().is_ok()
}

fn node_json(n: &Node, errors: usize) -> String {
    let replicate = n.replicate.as_ref().map_or("null".to_string(), |r| format!("\"{r}\""));
    let slots = model::slots_string(&n.slots).replace('-', ",");
    let mut j = format!(
        "  {{\n    \"name\": \"{}\",\n    \"host\": \"{}\",\n    \"port\": {},\n    \"replicate\": {},\n    \"slots\": [{}],\n    \"slots_count\": {},\n    \"flags\": \"{}\",\n    \"current_epoch\": {}",
        n.name, n.ip, n.port, replicate, slots, n.slots_count, n.flag_string(), n.current_epoch
    );
    if errors > 0 {
        j.push_str(&format!(",\n    \"cluster_errors\": {errors}"));
    }
    for (list, key) in [(&n.migrating, "migrating"), (&n.importing, "importing")] {
        if !list.is_empty() {
            let items: Vec<String> = list.iter().map(|(s, id)| format!("\"{s}\": \"{id}\"")).collect();
            j.push_str(&format!(",\n    \"{}\": {{{}}}", key, items.join(",")));
        }
    }
    j.push_str("\n  }");
    j
}

fn backup(m: &mut Manager<'_>) -> bool {
    let args = m.args.args.clone();
    let Some((ip, port)) = entry_host(m, &args[..1]) else { return false };
    if !m.load_info_from_node(&ip, port) {
        return false;
    }
    let no_issues = m.check_cluster(false);
    let errors = if no_issues { 0 } else { m.errors.len() };
    let dir = args[1].clone();
    let mut json = String::from("[\n");
    for n in 0..m.nodes.len() {
        if n > 0 {
            json.push_str(",\n");
        }
        json.push_str(&node_json(&m.nodes[n], errors));
        if m.nodes[n].replicate.is_some() {
            continue;
        }
        let a = m.nodes[n].addr();
        m.info(&format!(">>> Node {a} -> Saving RDB...\n"));
        m.flush();
        if !save_rdb(m, n, &dir) {
            return false;
        }
    }
    json.push_str("\n]");
    let mut path = dir.clone();
    if !path.ends_with('/') {
        path.push('/');
    }
    path.push_str("nodes.json");
    m.info(&format!("Saving cluster configuration to: {path}\n"));
    if std::fs::write(&path, json).is_err() {
        m.logerr(&format!("Could not save nodes to: {path}\n"));
        m.ok("[ERR] Failed to back cluster!\n");
        return false;
    }
    if !no_issues {
        m.warn(
            "*** Cluster seems to have some problems, please be aware of it if you're going to restore this backup.\n",
        );
    }
    m.ok(&format!("[OK] Backup created into: {dir}\n"));
    true
}

/// The help text (`clusterManagerCommandHelp`); like redis-cli, `help` exits with status 1.
pub fn help_text() -> String {
    let pad = 15;
    let mut out = String::from("Cluster Manager Commands:\n");
    for c in COMMANDS {
        out.push_str(&format!("  {:<pad$}{}\n", c.name, c.args.unwrap_or("")));
        if let Some(opts) = c.options {
            for o in opts.split(',') {
                out.push_str(&format!("{}  --cluster-{}\n", " ".repeat(pad), o));
            }
        }
    }
    out.push_str("\nFor check, fix, reshard, del-node, set-timeout, info, rebalance, call, import, backup you can specify the host and port of any working node in the cluster.\n");
    out.push_str("\nCluster Manager Options:\n");
    out.push_str(&format!("  {:<pad$}{}\n", "--cluster-yes", "Automatic yes to cluster commands prompts"));
    out.push('\n');
    out
}

fn help(m: &mut Manager<'_>) -> bool {
    m.out(&help_text());
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_matches_redis_cli_layout() {
        let h = help_text();
        assert!(h.starts_with("Cluster Manager Commands:\n  create         host1:port1 ... hostN:portN\n                 --cluster-replicas <arg>\n"));
        assert!(h.contains("  help           \n\nFor check"));
        assert!(h.ends_with("  --cluster-yes  Automatic yes to cluster commands prompts\n\n"));
    }

    #[test]
    fn arity() {
        let add = lookup("add-node").unwrap();
        assert!(add.arity_ok(2) && !add.arity_ok(3));
        let create = lookup("create").unwrap();
        assert!(!create.arity_ok(1) && create.arity_ok(6));
        assert!(lookup("help").unwrap().arity_ok(0));
    }

    #[test]
    fn backup_json() {
        let mut n = Node::new("127.0.0.1", 7000, 0);
        n.name = "abc".into();
        n.slots[0] = true;
        n.slots[1] = true;
        n.slots[9] = true;
        n.slots_count = 3;
        n.flags_str = vec!["myself".into(), "master".into()];
        n.migrating.push(("9".into(), "def".into()));
        assert_eq!(
            node_json(&n, 0),
            "  {\n    \"name\": \"abc\",\n    \"host\": \"127.0.0.1\",\n    \"port\": 7000,\n    \"replicate\": null,\n    \"slots\": [[0,1],[9]],\n    \"slots_count\": 3,\n    \"flags\": \"master\",\n    \"current_epoch\": 0,\n    \"migrating\": {\"9\": \"def\"}\n  }"
        );
    }
}
