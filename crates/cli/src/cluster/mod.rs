//! `redoxide-cli --cluster ...`: redis-cli 7.0.15's cluster manager (create, check, info, fix,
//! reshard, rebalance, add-node, del-node, call, set-timeout, import, backup, help).
//!
//! This module owns the manager's state (the nodes it loaded and one blocking connection to each,
//! the errors a check found) and the building blocks every subcommand shares: loading the cluster
//! from one node, the consistency check, slot moves with MIGRATE, and the repairs of `fix`. The
//! subcommands are in `commands`, the pure planning in `plan`, the node model and text parsing in
//! `model`. Everything is written to the `Io` sinks the binary hands in.
//!
//! It must never: print to the process's stdout/stderr directly (output goes through `Io`, so it is
//! testable), panic on anything a node replies (a reply of an unexpected shape is treated as the
//! failure redis-cli would report), or change a cluster after a check that redis-cli would refuse.

mod batch;
pub mod commands;
pub mod dictorder;
pub mod health;
pub mod model;
pub mod plan;
pub mod up;

use crate::client::Connection;
use crate::options::ClusterArgs;
use crate::reply::Reply;
use model::{Node, SLOTS};
use plan::Level;
use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

/// Where the manager writes and reads: stdout, stderr, stdin, and how stdout looks.
pub struct Io<'a> {
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
    pub input: &'a mut dyn BufRead,
    /// redis-cli colours its log lines when TERM contains "xterm" (even into a pipe).
    pub color: bool,
    /// Reshard/rebalance progress is one rewritten line on a terminal, periodic lines otherwise.
    pub out_is_tty: bool,
}

/// Credentials sent as AUTH on every node connection (`-a`, `--user`).
#[derive(Debug, Clone, Default)]
pub struct Auth {
    pub user: Option<String>,
    pub pass: Option<String>,
}

/// Options of one slot move (`CLUSTER_MANAGER_OPT_*`).
#[derive(Debug, Clone, Copy, Default)]
struct MoveOpts {
    /// Do not print "Moving slot ..." (rebalance).
    quiet: bool,
    /// Print a dot per key (fix).
    dots: bool,
    /// Move keys only, without IMPORTING/MIGRATING/NODE (fix).
    cold: bool,
    /// Update the manager's slot maps after the move (rebalance, fix case 1).
    update: bool,
    /// Count into the progress line instead of printing (reshard, rebalance).
    progress: bool,
}

/// The progress of a reshard or rebalance: slots and keys moved, rate and time left.
struct Progress {
    total_slots: usize,
    slots_done: usize,
    keys_done: u64,
    started: Instant,
    last_print: Option<Instant>,
}

impl Progress {
    fn new(total_slots: usize) -> Self {
        Progress { total_slots, slots_done: 0, keys_done: 0, started: Instant::now(), last_print: None }
    }

    fn line(&self) -> String {
        let secs = self.started.elapsed().as_secs_f64();
        let rate = if secs > 0.0 { self.keys_done as f64 / secs } else { 0.0 };
        let left_s = if self.slots_done > 0 {
            secs / self.slots_done as f64 * (self.total_slots - self.slots_done.min(self.total_slots)) as f64
        } else {
            0.0
        };
        format!(
            "Moved {}/{} slots, {} keys, {:.0} keys/s, {:.0}s left",
            self.slots_done, self.total_slots, self.keys_done, rate, left_s
        )
    }
}

pub struct Manager<'a> {
    pub args: ClusterArgs,
    auth: Auth,
    io: Io<'a>,
    nodes: Vec<Node>,
    conns: Vec<Option<Connection>>,
    errors: Vec<String>,
    unreachable_masters: usize,
    fix: bool,
    /// Set when redis-cli would `exit(1)` in the middle of a fix: everything stops, unchanged.
    aborted: bool,
    progress: Option<Progress>,
}

/// `argv` from displayable parts.
fn argv<S: AsRef<[u8]>>(parts: &[S]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.as_ref().to_vec()).collect()
}

fn err_text(r: &Reply) -> Option<String> {
    match r {
        Reply::Error(e) => Some(String::from_utf8_lossy(e).into_owned()),
        _ => None,
    }
}

/// The keys of a CLUSTER GETKEYSINSLOT reply; `Err(Some(error))` for an error reply, `Err(None)`
/// for a reply of another shape.
fn keys_of_reply(r: Reply) -> Result<Vec<Vec<u8>>, Option<String>> {
    match r {
        Reply::Error(e) => Err(Some(String::from_utf8_lossy(&e).into_owned())),
        Reply::Array(items) => Ok(items
            .into_iter()
            .filter_map(|k| match k {
                Reply::Bulk(b) => Some(b),
                _ => None,
            })
            .collect()),
        _ => Err(None),
    }
}

/// The text of a bulk/status/verbatim reply.
fn reply_text(r: &Reply) -> Option<String> {
    match r {
        Reply::Bulk(b) | Reply::Status(b) | Reply::Verbatim(_, b) => Some(String::from_utf8_lossy(b).into_owned()),
        _ => None,
    }
}

impl<'a> Manager<'a> {
    pub fn new(args: ClusterArgs, auth: Auth, io: Io<'a>) -> Self {
        Manager {
            args,
            auth,
            io,
            nodes: Vec::new(),
            conns: Vec::new(),
            errors: Vec::new(),
            unreachable_masters: 0,
            fix: false,
            aborted: false,
            progress: None,
        }
    }

    // ----- output -----

    fn out(&mut self, text: &str) {
        let _ = self.io.out.write_all(text.as_bytes());
    }

    fn flush(&mut self) {
        let _ = self.io.out.flush();
    }

    fn eprint(&mut self, text: &str) {
        let _ = self.io.out.flush();
        let _ = self.io.err.write_all(text.as_bytes());
    }

    /// `clusterManagerLog`: stdout, coloured by level when the terminal is an xterm.
    fn log(&mut self, level: Level, text: &str) {
        // Plain lines are redis-cli's bare printf calls: never coloured.
        if self.io.color && level != Level::Plain {
            let code = match level {
                Level::Info => "29;1m",
                Level::Warn => "33;1m",
                Level::Err => "31;1m",
                Level::Ok => "32;1m",
                Level::Plain => "",
            };
            self.out(&format!("\x1b[{code}{text}\x1b[0m"));
        } else {
            self.out(text);
        }
    }

    fn info(&mut self, text: &str) {
        self.log(Level::Info, text)
    }
    fn warn(&mut self, text: &str) {
        self.log(Level::Warn, text)
    }
    fn logerr(&mut self, text: &str) {
        self.log(Level::Err, text)
    }
    fn ok(&mut self, text: &str) {
        self.log(Level::Ok, text)
    }

    fn print_reply_error(&mut self, i: usize, err: &str) {
        let addr = self.nodes[i].addr();
        self.logerr(&format!("Node {addr} replied with error:\n{err}\n"));
    }

    /// `clusterManagerOnError`: remember and print.
    fn on_error(&mut self, err: String) {
        self.logerr(&format!("{err}\n"));
        self.errors.push(err);
    }

    /// Reads one line from stdin for a prompt (`None` at end of input).
    fn read_line(&mut self) -> Option<String> {
        let mut line = String::new();
        match self.io.input.read_line(&mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(line.trim_end_matches(['\n', '\r']).to_string()),
        }
    }

    /// `confirmWithYes`: true on `yes`; `--cluster-yes` answers for us unless `ignore_force`.
    fn confirm(&mut self, msg: &str, ignore_force: bool) -> bool {
        if !ignore_force && self.args.yes {
            return true;
        }
        self.out(&format!("{msg} (type 'yes' to accept): "));
        self.flush();
        // redis-cli reads up to 4 bytes and compares the first three with "yes".
        matches!(self.read_line(), Some(l) if l.starts_with("yes"))
    }

    // ----- connections -----

    /// Adds a node to the manager's list; returns its index.
    fn push_node(&mut self, node: Node) -> usize {
        self.nodes.push(node);
        self.conns.push(None);
        self.nodes.len() - 1
    }

    /// `clusterManagerNodeConnect`: connect, then AUTH when credentials were given.
    fn connect(&mut self, i: usize) -> bool {
        let (ip, port) = (self.nodes[i].ip.clone(), self.nodes[i].port);
        match Connection::connect(&ip, port) {
            Ok(c) => {
                // As redis-cli: keep-alive every 15 s, so a MIGRATE to a dead node cannot hang forever.
                c.set_keepalive(15);
                self.conns[i] = Some(c);
            }
            Err(e) => {
                self.eprint(&format!("Could not connect to Redis at {ip}:{port}: {e}\n"));
                self.conns[i] = None;
                return false;
            }
        }
        if let Some(pass) = self.auth.pass.clone() {
            let cmd = match &self.auth.user {
                Some(u) => argv(&["AUTH", u.as_str(), pass.as_str()]),
                None => argv(&["AUTH", pass.as_str()]),
            };
            match self.cmd(i, cmd) {
                Some(Reply::Error(e)) => {
                    let e = String::from_utf8_lossy(&e).into_owned();
                    self.print_reply_error(i, &e);
                    return false;
                }
                None => return false,
                Some(_) => {}
            }
        }
        true
    }

    /// Sends a command to node `i`; `None` when there is no connection or it broke (hiredis NULL).
    fn cmd(&mut self, i: usize, args: Vec<Vec<u8>>) -> Option<Reply> {
        let conn = self.conns.get_mut(i)?.as_mut()?;
        match conn.command(&args) {
            Ok(r) => Some(r),
            Err(_) => {
                self.conns[i] = None;
                None
            }
        }
    }

    fn cmd_str(&mut self, i: usize, parts: &[&str]) -> Option<Reply> {
        self.cmd(i, argv(parts))
    }

    /// `clusterManagerCheckRedisReply` without an error out-parameter: errors are printed.
    fn check_reply(&mut self, i: usize, r: &Option<Reply>) -> bool {
        match r {
            None => false,
            Some(Reply::Error(e)) => {
                let e = String::from_utf8_lossy(e).into_owned();
                self.print_reply_error(i, &e);
                false
            }
            Some(_) => true,
        }
    }

    // ----- loading the cluster -----

    fn info_text(&mut self, i: usize) -> Result<String, Option<String>> {
        match self.cmd_str(i, &["INFO"]) {
            None => Err(None),
            Some(Reply::Error(e)) => Err(Some(String::from_utf8_lossy(&e).into_owned())),
            Some(r) => Ok(reply_text(&r).unwrap_or_default()),
        }
    }

    /// `clusterManagerNodeIsCluster`: INFO's `cluster_enabled` is 1.
    fn is_cluster(&mut self, i: usize) -> Result<bool, Option<String>> {
        let info = self.info_text(i)?;
        Ok(model::info_field(&info, "cluster_enabled").unwrap_or(0) != 0)
    }

    fn print_not_cluster(&mut self, i: usize, err: Option<String>) {
        let addr = self.nodes[i].addr();
        let msg = err.unwrap_or_else(|| "is not configured as a cluster node.".into());
        self.logerr(&format!("[ERR] Node {addr} {msg}\n"));
    }

    fn print_not_empty(&mut self, i: usize, err: Option<String>) {
        let addr = self.nodes[i].addr();
        let msg = err.unwrap_or_else(|| {
            "is not empty. Either the node already knows other nodes (check with CLUSTER NODES) or contains some key in database 0.".into()
        });
        self.logerr(&format!("[ERR] Node {addr} {msg}\n"));
    }

    /// `clusterManagerNodeIsEmpty`: no `db0:` in INFO and `cluster_known_nodes:1`.
    fn is_empty(&mut self, i: usize) -> Result<bool, Option<String>> {
        let info = self.info_text(i)?;
        if info.contains("db0:") {
            return Ok(false);
        }
        match self.cmd_str(i, &["CLUSTER", "INFO"]) {
            None => Ok(false),
            Some(Reply::Error(e)) => Err(Some(String::from_utf8_lossy(&e).into_owned())),
            Some(r) => Ok(model::info_field(&reply_text(&r).unwrap_or_default(), "cluster_known_nodes") == Some(1)),
        }
    }

    /// `clusterManagerNodeLoadInfo`: CLUSTER NODES on node `i`; returns its friends when asked.
    fn node_load_info(&mut self, i: usize, friends: bool) -> Result<Vec<Node>, Option<String>> {
        let text = match self.cmd_str(i, &["CLUSTER", "NODES"]) {
            None => return Err(None),
            Some(Reply::Error(e)) => return Err(Some(String::from_utf8_lossy(&e).into_owned())),
            Some(r) => reply_text(&r).unwrap_or_default(),
        };
        let entries = match model::parse_cluster_nodes(&text) {
            Ok(e) => e,
            Err(model::ModelError::InvalidAddress) => {
                self.eprint("Error: invalid CLUSTER NODES reply\n");
                return Err(None);
            }
            Err(model::ModelError::Truncated) => return Err(None),
        };
        let found = model::load_node_info(&mut self.nodes[i], &entries);
        Ok(if friends { found } else { Vec::new() })
    }

    /// `clusterManagerLoadInfoFromNode`: the whole cluster as seen from `ip:port`; the entry node
    /// comes first, then every friend that answers and is not failing.
    fn load_info_from_node(&mut self, ip: &str, port: u16) -> bool {
        self.nodes.clear();
        self.conns.clear();
        let first = self.push_node(Node::new(ip, port, 0));
        if !self.connect(first) {
            return false;
        }
        match self.is_cluster(first) {
            Ok(true) => {}
            Ok(false) => {
                self.print_not_cluster(first, None);
                return false;
            }
            Err(e) => {
                self.print_not_cluster(first, e);
                return false;
            }
        }
        let friends = match self.node_load_info(first, true) {
            Ok(f) => f,
            Err(e) => {
                if let Some(e) = e {
                    self.print_reply_error(first, &e);
                }
                return false;
            }
        };
        for friend in friends {
            let is_slave = friend.slave;
            let usable = friend.port != 0 && !friend.ip.is_empty();
            let i = self.push_node(friend);
            let mut keep = false;
            if usable && self.connect(i) {
                match self.node_load_info(i, false) {
                    Ok(_) => {
                        let n = &self.nodes[i];
                        keep = !(n.noaddr || n.disconnected || n.fail);
                    }
                    Err(_) => {
                        let addr = self.nodes[i].addr();
                        self.logerr(&format!("[ERR] Unable to load info for node {addr}\n"));
                    }
                }
            }
            if !keep {
                if !is_slave {
                    self.unreachable_masters += 1;
                }
                self.nodes.pop();
                self.conns.pop();
            }
        }
        for i in 0..self.nodes.len() {
            if let Some(m) = self.nodes[i].replicate.clone() {
                match self.nodes.iter().position(|n| n.name == m) {
                    Some(mi) => self.nodes[mi].replicas_count += 1,
                    None => {
                        let addr = self.nodes[i].addr();
                        self.warn(&format!("*** WARNING: {addr} claims to be slave of unknown node ID {m}.\n"));
                    }
                }
            }
        }
        true
    }

    /// `clusterManagerNodeByName` (case-insensitive on the given id).
    fn node_by_name(&self, name: &str) -> Option<usize> {
        let lc = name.to_ascii_lowercase();
        self.nodes.iter().position(|n| !n.name.is_empty() && n.name == lc)
    }

    fn node_by_abbreviated_name(&self, name: &str) -> Option<usize> {
        let lc = name.to_ascii_lowercase();
        self.nodes.iter().position(|n| !n.name.is_empty() && n.name.starts_with(&lc))
    }

    fn masters(&self) -> Vec<usize> {
        (0..self.nodes.len()).filter(|&i| !self.nodes[i].slave).collect()
    }

    /// `clusterManagerNodeWithLeastReplicas`: the first master with the fewest replicas.
    fn node_with_least_replicas(&self) -> Option<usize> {
        let mut best: Option<usize> = None;
        for i in self.masters() {
            if best.is_none_or(|b| self.nodes[i].replicas_count < self.nodes[b].replicas_count) {
                best = Some(i);
            }
        }
        best
    }

    // ----- printing the cluster -----

    fn show_nodes(&mut self) {
        for i in 0..self.nodes.len() {
            let text = model::node_info(&self.nodes[i], 0);
            self.out(&format!("{text}\n"));
        }
    }

    /// `clusterManagerShowClusterInfo`: a line per master with its keys (DBSIZE), then totals.
    fn show_cluster_info(&mut self) {
        let mut masters = 0;
        let mut keys: i64 = 0;
        for i in 0..self.nodes.len() {
            if self.nodes[i].slave || self.nodes[i].name.is_empty() {
                continue;
            }
            let name = self.nodes[i].name.clone();
            let replicas = self
                .nodes
                .iter()
                .enumerate()
                .filter(|(j, n)| *j != i && n.slave && n.replicate.as_deref() == Some(&name))
                .count();
            let r = self.cmd_str(i, &["DBSIZE"]);
            let dbsize = match r {
                Some(Reply::Integer(n)) if n >= 0 => n,
                other => {
                    let e = other.as_ref().and_then(err_text).unwrap_or_default();
                    self.print_reply_error(i, &e);
                    return;
                }
            };
            let n = &self.nodes[i];
            let short: String = n.name.chars().take(8).collect();
            let line = format!(
                "{} ({}...) -> {} keys | {} slots | {} slaves.\n",
                n.addr(),
                short,
                dbsize,
                n.slots_count,
                replicas
            );
            self.out(&line);
            masters += 1;
            keys += dbsize;
        }
        self.ok(&format!("[OK] {keys} keys in {masters} masters.\n"));
        let per_slot = keys as f32 / SLOTS as f32;
        self.out(&format!("{per_slot:.2} keys per slot on average.\n"));
    }

    // ----- consistency -----

    fn config_signature(&mut self, i: usize) -> Option<String> {
        let r = self.cmd_str(i, &["CLUSTER", "NODES"])?;
        model::config_signature(&reply_text(&r)?)
    }

    /// `clusterManagerIsConfigConsistent`: every node reports the same slot signature.
    fn is_config_consistent(&mut self) -> bool {
        if self.nodes.len() <= 1 {
            return true;
        }
        let mut first: Option<String> = None;
        for i in 0..self.nodes.len() {
            let Some(sig) = self.config_signature(i) else { return false };
            match &first {
                None => first = Some(sig),
                Some(f) if *f != sig => return false,
                Some(_) => {}
            }
        }
        true
    }

    /// `clusterManagerWaitForClusterJoin`: a dot a second until the nodes agree; after
    /// 20 + 0.15·N seconds, hints about links that look down.
    fn wait_for_cluster_join(&mut self) {
        self.out("Waiting for the cluster to join\n");
        let check_after_s = 20 + (self.nodes.len() as f32 * 0.15) as u32;
        let mut waited_s = 0;
        while !self.is_config_consistent() {
            self.out(".");
            self.flush();
            std::thread::sleep(Duration::from_secs(1));
            waited_s += 1;
            if waited_s > check_after_s {
                self.report_link_status();
                waited_s = 0;
            }
        }
        self.out("\n");
    }

    fn report_link_status(&mut self) {
        let mut status: Vec<(String, Vec<String>)> = Vec::new();
        for i in 0..self.nodes.len() {
            let Some(r) = self.cmd_str(i, &["CLUSTER", "NODES"]) else { continue };
            let Some(text) = reply_text(&r) else { continue };
            for addr in model::disconnected_links(&text) {
                let from = self.nodes[i].addr();
                match status.iter_mut().find(|(a, _)| *a == addr) {
                    Some((_, v)) => v.push(from),
                    None => status.push((addr, vec![from])),
                }
            }
        }
        if status.is_empty() {
            return;
        }
        self.out("\n");
        self.logerr(&format!("Warning: {} node(s) may be unreachable\n", status.len()));
        for (addr, from) in status {
            match model::parse_node_address(&addr) {
                Some((ip, _, bus)) if bus != 0 => {
                    self.logerr(&format!(" - The port {bus} of node {ip} may be unreachable from:\n"))
                }
                _ => self.logerr(&format!(" - Node {addr} may be unreachable from:\n")),
            }
            for f in from {
                self.logerr(&format!("   {f}\n"));
            }
            self.logerr(
                "Cluster bus ports must be reachable by every node.\nRemember that cluster bus ports are different from standard instance ports.\n",
            );
        }
    }

    // ----- slot commands -----

    /// `CLUSTER SETSLOT <slot> <status> <id-of-other>`; the error text on failure.
    fn set_slot(&mut self, i: usize, other: usize, slot: usize, status: &str) -> Result<(), String> {
        self.set_slots(i, other, &[slot], status).map_err(|(_, e)| e)
    }

    /// `set_slot` whose error is printed (redis-cli's callers passing no error pointer).
    fn set_slot_print(&mut self, i: usize, other: usize, slot: usize, status: &str) -> bool {
        match self.set_slot(i, other, slot, status) {
            Ok(()) => true,
            Err(e) => {
                self.print_reply_error(i, &e);
                false
            }
        }
    }

    fn clear_slot_status(&mut self, i: usize, slot: usize) -> bool {
        let r = self.cmd_str(i, &["CLUSTER", "SETSLOT", &slot.to_string(), "STABLE"]);
        self.check_reply(i, &r)
    }

    fn count_keys_in_slot(&mut self, i: usize, slot: usize) -> i64 {
        let r = self.cmd_str(i, &["CLUSTER", "COUNTKEYSINSLOT", &slot.to_string()]);
        if !self.check_reply(i, &r) {
            return -1;
        }
        match r {
            Some(Reply::Integer(n)) => n,
            _ => -1,
        }
    }

    /// `clusterManagerGetSlotOwner` via CLUSTER SLOTS: Ok(None) when the slot is unassigned.
    fn get_slot_owner(&mut self, i: usize, slot: usize) -> Result<Option<usize>, String> {
        let r = match self.cmd_str(i, &["CLUSTER", "SLOTS"]) {
            None => return Ok(None),
            Some(Reply::Error(e)) => return Err(String::from_utf8_lossy(&e).into_owned()),
            Some(r) => r,
        };
        let Reply::Array(ranges) = r else { return Ok(None) };
        for range in ranges {
            let Reply::Array(f) = range else { continue };
            let (Some(Reply::Integer(from)), Some(Reply::Integer(to)), Some(Reply::Array(node))) =
                (f.first(), f.get(1), f.get(2))
            else {
                continue;
            };
            if (slot as i64) < *from || (slot as i64) > *to {
                continue;
            }
            let owner = match node.get(2).and_then(reply_text) {
                Some(id) => self.node_by_name(&id),
                None => {
                    let ip = node.first().and_then(reply_text).unwrap_or_default();
                    let port = match node.get(1) {
                        Some(Reply::Integer(p)) => *p,
                        _ => 0,
                    };
                    self.nodes.iter().position(|n| n.ip == ip && i64::from(n.port) == port)
                }
            };
            if owner.is_some() {
                return Ok(owner);
            }
        }
        Ok(None)
    }

    /// `clusterManagerDelSlot`: DELSLOTS; with `ignore_unassigned`, an error on a slot nobody
    /// serves is not a failure.
    fn del_slot(&mut self, i: usize, slot: usize, ignore_unassigned: bool) -> bool {
        let r = self.cmd_str(i, &["CLUSTER", "DELSLOTS", &slot.to_string()]);
        let err = r.as_ref().and_then(err_text);
        let mut success = r.is_some() && err.is_none();
        if !success && err.is_some() && ignore_unassigned {
            match self.get_slot_owner(i, slot) {
                Ok(None) => success = true,
                Ok(Some(_)) => {}
                Err(e) => self.print_reply_error(i, &e),
            }
        }
        if !success {
            if let Some(e) = err {
                self.print_reply_error(i, &e);
            }
        }
        success
    }

    /// `clusterManagerSetSlotOwner`: in one MULTI, DELSLOTS + ADDSLOTS (+ STABLE) + BUMPEPOCH;
    /// only an ADDSLOTS failure counts.
    fn set_slot_owner(&mut self, i: usize, slot: usize, clear: bool) -> bool {
        let r = self.cmd_str(i, &["MULTI"]);
        if !self.check_reply(i, &r) {
            return false;
        }
        let s = slot.to_string();
        // Inside MULTI every reply is QUEUED; DelSlot's CLUSTER SLOTS fallback is queued as well
        // in redis-cli, so a DELSLOTS error never shows here.
        let _ = self.cmd_str(i, &["CLUSTER", "DELSLOTS", &s]);
        let _ = self.cmd_str(i, &["CLUSTER", "ADDSLOTS", &s]);
        if clear {
            let _ = self.cmd_str(i, &["CLUSTER", "SETSLOT", &s, "STABLE"]);
        }
        let _ = self.cmd_str(i, &["CLUSTER", "BUMPEPOCH"]);
        let r = self.cmd_str(i, &["EXEC"]);
        if !self.check_reply(i, &r) {
            return false;
        }
        let Some(Reply::Array(items)) = r else { return false };
        for (idx, item) in items.iter().enumerate() {
            if let Some(e) = err_text(item) {
                if idx == 1 {
                    self.print_reply_error(i, &e);
                    return false;
                }
            }
        }
        true
    }

    // ----- moving keys and slots -----

    /// One MIGRATE of `keys` from `src` to `dst` (`clusterManagerMigrateKeysInReply`).
    fn migrate_keys(&mut self, src: usize, dst: usize, keys: &[Vec<u8>], replace: bool) -> Option<Reply> {
        let a = self.migrate_argv(dst, keys, replace);
        self.cmd(src, a)
    }

    /// The `MIGRATE <host> <port> "" 0 <timeout> [REPLACE] [AUTH...] KEYS ...` that moves `keys` to `dst`.
    fn migrate_argv(&self, dst: usize, keys: &[Vec<u8>], replace: bool) -> Vec<Vec<u8>> {
        let timeout = self.args.timeout_ms.to_string();
        let mut a: Vec<Vec<u8>> =
            argv(&["MIGRATE", self.nodes[dst].ip.as_str(), &self.nodes[dst].port.to_string(), "", "0", &timeout]);
        if replace {
            a.push(b"REPLACE".to_vec());
        }
        if let Some(pass) = &self.auth.pass {
            match &self.auth.user {
                Some(u) => a.extend(argv(&["AUTH2", u.as_str(), pass.as_str()])),
                None => a.extend(argv(&["AUTH", pass.as_str()])),
            }
        }
        a.push(b"KEYS".to_vec());
        a.extend(keys.iter().cloned());
        a
    }

    /// `clusterManagerCompareKeysValues`: the keys whose DEBUG DIGEST-VALUE differs on both
    /// nodes (keys missing on either side are ignored). `None` when a node refused.
    fn compare_keys_values(&mut self, a: usize, b: usize, keys: &[Vec<u8>]) -> Option<Vec<Vec<u8>>> {
        let mut args = argv(&["DEBUG", "DIGEST-VALUE"]);
        args.extend(keys.iter().cloned());
        let r1 = self.cmd(a, args.clone())?;
        let r2 = self.cmd(b, args)?;
        let mut ok = true;
        if let Some(e) = err_text(&r1) {
            self.print_reply_error(a, &e);
            ok = false;
        }
        if let Some(e) = err_text(&r2) {
            self.print_reply_error(b, &e);
            ok = false;
        }
        if !ok {
            return None;
        }
        let (Reply::Array(h1), Reply::Array(h2)) = (r1, r2) else { return None };
        if h1.len() != keys.len() || h2.len() != keys.len() {
            return None;
        }
        let zero = "0".repeat(40);
        let mut diffs = Vec::new();
        for (k, (x, y)) in keys.iter().zip(h1.iter().zip(h2.iter())) {
            let (x, y) = (reply_text(x).unwrap_or_default(), reply_text(y).unwrap_or_default());
            if x == zero || y == zero {
                continue;
            }
            if x != y {
                diffs.push(k.clone());
            }
        }
        Some(diffs)
    }

    /// `clusterManagerMigrateKeysInSlot`: GETKEYSINSLOT/MIGRATE batches of `--cluster-pipeline`
    /// keys until the slot is empty on `src`. BUSYKEY is retried with REPLACE only when the values
    /// are equal or with `--cluster-replace`.
    fn migrate_keys_in_slot(&mut self, src: usize, dst: usize, slot: usize, dots: bool) -> Result<(), Option<String>> {
        let pipeline = self.args.pipeline.to_string();
        loop {
            let r = self.cmd_str(src, &["CLUSTER", "GETKEYSINSLOT", &slot.to_string(), &pipeline]);
            let keys = match keys_of_reply(r.ok_or(None)?) {
                Ok(keys) => keys,
                Err(Some(e)) => {
                    self.print_reply_error(src, &e);
                    return Err(Some(e));
                }
                Err(None) => return Err(None),
            };
            if keys.is_empty() {
                return Ok(());
            }
            let Some(reply) = self.migrate_keys(src, dst, &keys, false) else { return Err(None) };
            if let Some(e) = err_text(&reply) {
                let is_busy = e.contains("BUSYKEY");
                let mut not_served = false;
                if !is_busy {
                    match self.get_slot_owner(src, slot) {
                        Ok(None) => not_served = true,
                        Ok(Some(_)) => {}
                        Err(ge) => self.print_reply_error(src, &ge),
                    }
                }
                if !(is_busy || not_served) {
                    self.out("\n");
                    self.print_reply_error(src, &e);
                    return Err(Some(e));
                }
                if self.fix && not_served {
                    let addr = self.nodes[dst].addr();
                    self.warn(&format!("*** Slot was not served, setting owner to node {addr}.\n"));
                    let _ = self.set_slot_print(src, dst, slot, "node");
                }
                if is_busy {
                    self.warn("\n*** Target key exists\n");
                    if !self.args.replace {
                        self.warn("*** Checking key values on both nodes...\n");
                        let Some(diffs) = self.compare_keys_values(src, dst, &keys) else {
                            self.logerr("*** Value check failed!\n");
                            return Err(None);
                        };
                        if !diffs.is_empty() {
                            let (sa, da) = (self.nodes[src].addr(), self.nodes[dst].addr());
                            let mut msg = format!(
                                "*** Found {} key(s) in both source node and target node having different values.\n    Source node: {}\n    Target node: {}\n    Keys(s):\n",
                                diffs.len(),
                                sa,
                                da
                            );
                            for k in &diffs {
                                msg.push_str(&format!("    - {}\n", String::from_utf8_lossy(k)));
                            }
                            self.logerr(&msg);
                            self.logerr("Please fix the above key(s) manually and try again or relaunch the command \nwith --cluster-replace option to force key overriding.\n");
                            return Err(None);
                        }
                    }
                    self.warn("*** Replacing target keys...\n");
                }
                let retry = self.migrate_keys(src, dst, &keys, is_busy);
                match retry.as_ref().and_then(err_text) {
                    None if retry.is_some() => {}
                    Some(e2) => {
                        self.out("\n");
                        self.print_reply_error(src, &e2);
                        return Err(Some(e2));
                    }
                    None => return Err(None),
                }
            }
            if dots {
                self.out(&".".repeat(keys.len()));
                self.flush();
            }
            if let Some(p) = self.progress.as_mut() {
                p.keys_done += keys.len() as u64;
            }
            self.tick_progress(false);
        }
    }

    /// `clusterManagerMoveSlot`: IMPORTING on the target, MIGRATING on the source, the keys, then
    /// NODE on the target, the source and every other master (`assign_slots`).
    fn move_slot(&mut self, src: usize, dst: usize, slot: usize, opts: MoveOpts) -> Result<(), Option<String>> {
        if !opts.quiet && !opts.progress {
            let (sa, da) = (self.nodes[src].addr(), self.nodes[dst].addr());
            self.out(&format!("Moving slot {slot} from {sa} to {da}: "));
            self.flush();
        }
        if !opts.cold {
            self.set_slot(dst, src, slot, "importing").map_err(Some)?;
            self.set_slot(src, dst, slot, "migrating").map_err(Some)?;
        }
        let moved = self.migrate_keys_in_slot(src, dst, slot, opts.dots);
        if !opts.quiet && !opts.progress {
            self.out("\n");
        }
        moved?;
        if !opts.cold {
            self.assign_slots(src, dst, &[slot])?;
        }
        self.note_moved(src, dst, &[slot], opts);
        Ok(())
    }

    /// Prints the progress line: rewritten in place on a terminal (at most 10 times a second),
    /// a plain line at most once a second otherwise, and always on the final call.
    fn tick_progress(&mut self, last: bool) {
        let tty = self.io.out_is_tty;
        let Some(p) = self.progress.as_mut() else { return };
        let every = if tty { Duration::from_millis(100) } else { Duration::from_secs(1) };
        if !last && p.last_print.is_some_and(|t| t.elapsed() < every) {
            return;
        }
        p.last_print = Some(Instant::now());
        let line = p.line();
        if tty {
            self.out(&format!("\r\x1b[K{line}"));
            if last {
                self.out("\n");
            }
        } else {
            self.out(&format!("{line}\n"));
        }
        self.flush();
    }

    /// `clusterManagerFlushNodeConfig`: a planned replica sends REPLICATE, a planned master ADDSLOTS
    /// of all its slots in one command. `Ok(false)` when there was nothing to send.
    fn flush_node_config(&mut self, i: usize) -> Result<bool, Option<String>> {
        if !self.nodes[i].dirty {
            return Ok(false);
        }
        if let Some(m) = self.nodes[i].replicate.clone() {
            match self.cmd_str(i, &["CLUSTER", "REPLICATE", &m]) {
                None => return Err(None),
                // The replica may not know its master yet: stay dirty, retry after the join.
                Some(Reply::Error(e)) => return Err(Some(String::from_utf8_lossy(&e).into_owned())),
                Some(_) => {}
            }
        } else {
            let mut a = argv(&["CLUSTER", "ADDSLOTS"]);
            a.extend(
                self.nodes[i].slots.iter().enumerate().filter(|(_, on)| **on).map(|(s, _)| s.to_string().into_bytes()),
            );
            if a.len() == 2 {
                return Err(None);
            }
            match self.cmd(i, a) {
                None => return Err(None),
                Some(Reply::Error(e)) => return Err(Some(String::from_utf8_lossy(&e).into_owned())),
                Some(_) => {}
            }
        }
        self.nodes[i].dirty = false;
        Ok(true)
    }

    // ----- check and fix -----

    fn covered_slots(&self) -> (usize, Vec<bool>) {
        let mut all = vec![false; SLOTS];
        let mut total = 0;
        for n in &self.nodes {
            for (s, on) in n.slots.iter().enumerate() {
                if *on && !all[s] {
                    all[s] = true;
                    total += 1;
                }
            }
        }
        (total, all)
    }

    /// `clusterManagerCheckCluster`: agreement, open slots, coverage (and multiple owners when
    /// asked); with `fix`, repairs as it goes. True when nothing was wrong (or all was fixed).
    fn check_cluster(&mut self, quiet: bool) -> bool {
        let Some(first) = self.nodes.first() else { return false };
        let addr = first.addr();
        self.info(&format!(">>> Performing Cluster Check (using node {addr})\n"));
        let mut result = true;
        if !quiet {
            self.show_nodes();
        }
        if self.is_config_consistent() {
            self.ok("[OK] All nodes agree about slots configuration.\n");
        } else {
            self.on_error("[ERR] Nodes don't agree about configuration!".into());
            result = false;
        }
        self.info(">>> Check for open slots...\n");
        // redis-cli gathers the open slots in a hash table and lists (and repairs) them in that
        // table's order; `dictorder` reproduces it.
        let mut open_table = dictorder::DictOrder::new();
        let mut warnings = Vec::new();
        for n in &self.nodes {
            for (list, state) in [(&n.migrating, "migrating"), (&n.importing, "importing")] {
                if list.is_empty() {
                    continue;
                }
                let slots: Vec<String> = list.iter().map(|(s, _)| s.clone()).collect();
                for s in &slots {
                    open_table.add(s);
                }
                warnings.push(format!("[WARNING] Node {} has slots in {} state {}.", n.addr(), state, slots.join(",")));
            }
        }
        let open = open_table.iter_order();
        for w in warnings {
            self.on_error(w);
        }
        if !open.is_empty() {
            result = false;
            self.logerr(&format!("[WARNING] The following slots are open: {}.\n", open.join(",")));
            if self.fix {
                for s in &open {
                    let slot = model::c_atoi(s);
                    if !(0..SLOTS as i64).contains(&slot) {
                        continue;
                    }
                    result = self.fix_open_slot(slot as usize);
                    if self.aborted {
                        return false;
                    }
                    if !result {
                        break;
                    }
                }
            }
        }
        self.info(">>> Check slots coverage...\n");
        let (covered, all) = self.covered_slots();
        if covered == SLOTS {
            self.ok(&format!("[OK] All {SLOTS} slots covered.\n"));
        } else {
            self.on_error(format!("[ERR] Not all {SLOTS} slots are covered by nodes.\n"));
            result = false;
            if self.fix && self.fix_slots_coverage(&all) > 0 {
                result = true;
            }
            if self.aborted {
                return false;
            }
        }
        if self.args.search_multiple_owners {
            self.info(">>> Check for multiple slot owners...\n");
            let mut with_multiple = 0;
            for slot in 0..SLOTS {
                let mut owners = Vec::new();
                for i in self.masters() {
                    if self.nodes[i].slots[slot] || self.count_keys_in_slot(i, slot) > 0 {
                        owners.push(i);
                    }
                }
                if owners.len() > 1 {
                    result = false;
                    self.logerr(&format!("[WARNING] Slot {} has {} owners:\n", slot, owners.len()));
                    for &o in &owners {
                        let a = self.nodes[o].addr();
                        self.logerr(&format!("    {a}\n"));
                    }
                    with_multiple += 1;
                    if self.fix {
                        result = self.fix_multiple_slot_owners(slot, &owners);
                        if !result {
                            self.logerr(&format!("Failed to fix multiple owners for slot {slot}\n"));
                            break;
                        }
                        with_multiple -= 1;
                    }
                }
            }
            if with_multiple == 0 {
                self.ok("[OK] No multiple owners found.\n");
            }
        }
        result
    }

    /// Refuses (exit 1, as redis-cli) to reassign slots while masters are unreachable, unless
    /// `--cluster-fix-with-unreachable-masters`.
    fn guard_unreachable(&mut self, what: &str) -> bool {
        if self.unreachable_masters > 0 && !self.args.fix_with_unreachable_masters {
            self.warn(&format!("*** Fixing {} with {} unreachable masters is dangerous: redis-cli will assume that slots about masters that are not reachable are not covered, and will try to reassign them to the reachable nodes. This can cause data loss and is rarely what you want to do. If you really want to proceed use the --cluster-fix-with-unreachable-masters option.\n", what, self.unreachable_masters));
            return false;
        }
        true
    }

    /// The master with the most keys in `slot` among `among` (`None` on a reply error).
    fn node_with_most_keys(&mut self, among: &[usize], slot: usize) -> Option<usize> {
        let mut best: Option<(usize, i64)> = None;
        for &i in among {
            if self.nodes[i].slave || self.nodes[i].replicate.is_some() {
                continue;
            }
            let r = self.cmd_str(i, &["CLUSTER", "COUNTKEYSINSLOT", &slot.to_string()]);
            if !self.check_reply(i, &r) {
                return None;
            }
            let n = match r {
                Some(Reply::Integer(n)) => n,
                _ => 0,
            };
            if best.is_none_or(|(_, k)| n > k) {
                best = Some((i, n));
            }
        }
        best.map(|b| b.0)
    }

    fn fix_open_slot(&mut self, slot: usize) -> bool {
        if !self.guard_unreachable("open slots") {
            self.aborted = true;
            return false;
        }
        self.info(&format!(">>> Fixing open slot {slot}\n"));
        let mut owners: Vec<usize> = Vec::new();
        for i in self.masters() {
            if self.nodes[i].slots[slot] {
                owners.push(i);
            } else {
                let r = self.cmd_str(i, &["CLUSTER", "COUNTKEYSINSLOT", &slot.to_string()]);
                if !self.check_reply(i, &r) {
                    return false;
                }
                if matches!(r, Some(Reply::Integer(n)) if n > 0) {
                    let a = self.nodes[i].addr();
                    self.warn(&format!("*** Found keys about slot {slot} in non-owner node {a}!\n"));
                    owners.push(i);
                }
            }
        }
        let mut owner = if owners.len() == 1 { Some(owners[0]) } else { None };
        let slot_text = |s: &str| model::c_atoi(s) == slot as i64;
        let mut migrating: Vec<usize> = Vec::new();
        let mut importing: Vec<usize> = Vec::new();
        for i in self.masters() {
            let is_migrating = self.nodes[i].migrating.iter().any(|(s, _)| slot_text(s));
            let is_importing = !is_migrating && self.nodes[i].importing.iter().any(|(s, _)| slot_text(s));
            if is_migrating {
                migrating.push(i);
            } else if is_importing {
                importing.push(i);
            } else if Some(i) != owner {
                let r = self.cmd_str(i, &["CLUSTER", "COUNTKEYSINSLOT", &slot.to_string()]);
                if !self.check_reply(i, &r) {
                    return false;
                }
                if matches!(r, Some(Reply::Integer(n)) if n > 0) {
                    let a = self.nodes[i].addr();
                    self.warn(&format!("*** Found keys about slot {slot} in node {a}!\n"));
                    importing.push(i);
                }
            }
        }
        let list = |m: &Manager, v: &[usize]| v.iter().map(|&i| m.nodes[i].addr()).collect::<Vec<_>>().join(",");
        let (migrating_str, importing_str) = (list(self, &migrating), list(self, &importing));
        if !migrating_str.is_empty() {
            self.out(&format!("Set as migrating in: {migrating_str}\n"));
        }
        if !importing_str.is_empty() {
            self.out(&format!("Set as importing in: {importing_str}\n"));
        }
        if owner.is_none() {
            self.info(">>> No single clear owner for the slot, selecting an owner by # of keys...\n");
            let all: Vec<usize> = (0..self.nodes.len()).collect();
            let Some(o) = self.node_with_most_keys(&all, slot) else {
                self.logerr("[ERR] Can't select a slot owner. Impossible to fix.\n");
                return false;
            };
            let a = self.nodes[o].addr();
            self.warn(&format!("*** Configuring {a} as the slot owner\n"));
            if !self.clear_slot_status(o, slot) || !self.set_slot_owner(o, slot, false) {
                return false;
            }
            self.nodes[o].slots[slot] = true;
            migrating.retain(|&x| x != o);
            importing.retain(|&x| x != o);
            owner = Some(o);
        }
        let Some(owner) = owner else { return false };
        if owners.len() > 1 {
            for &n in &owners {
                if n == owner {
                    continue;
                }
                if !self.del_slot(n, slot, true) {
                    return false;
                }
                self.nodes[n].slots[slot] = false;
                if !self.set_slot_print(n, owner, slot, "node") || !self.set_slot_print(n, owner, slot, "importing") {
                    return false;
                }
                importing.retain(|&x| x != n);
                importing.push(n);
                migrating.retain(|&x| x != n);
            }
        }
        let dots = MoveOpts { dots: true, ..MoveOpts::default() };
        match plan::classify_open_slot(migrating.len(), importing.len()) {
            plan::OpenSlotCase::MoveOne => {
                let (src, dst) = (migrating[0], importing[0]);
                let (sa, da) = (self.nodes[src].addr(), self.nodes[dst].addr());
                self.info(&format!(">>> Case 1: Moving slot {slot} from {sa} to {da}\n"));
                self.move_slot(src, dst, slot, MoveOpts { update: true, ..dots }).is_ok()
            }
            plan::OpenSlotCase::ColdToOwner => {
                let oa = self.nodes[owner].addr();
                self.info(&format!(">>> Case 2: Moving all the {slot} slot keys to its owner {oa}\n"));
                for &n in &importing {
                    if n == owner {
                        continue;
                    }
                    if self.move_slot(n, owner, slot, MoveOpts { cold: true, ..dots }).is_err() {
                        return false;
                    }
                    let a = self.nodes[n].addr();
                    self.info(&format!(">>> Setting {slot} as STABLE in {a}\n"));
                    if !self.clear_slot_status(n, slot) {
                        return false;
                    }
                }
                for n in self.masters() {
                    if n != owner && !self.set_slot_print(n, owner, slot, "NODE") {
                        return false;
                    }
                }
                true
            }
            plan::OpenSlotCase::ManyImporting => {
                let src = migrating[0];
                let target_id = self.nodes[src].migrating.iter().find(|(s, _)| slot_text(s)).map(|(_, id)| id.clone());
                let mut dst = None;
                for &n in &importing {
                    if self.count_keys_in_slot(n, slot) > 0 {
                        return self.unhandled_open_slot(&migrating_str, &importing_str, owner);
                    }
                    if Some(&self.nodes[n].name) == target_id.as_ref() {
                        dst = Some(n);
                    }
                }
                let sa = self.nodes[src].addr();
                if let Some(dst) = dst {
                    let da = self.nodes[dst].addr();
                    self.info(&format!(
                        ">>> Case 3: Moving slot {slot} from {sa} to {da} and closing it on all the other importing nodes.\n"
                    ));
                    if self.move_slot(src, dst, slot, dots).is_err() {
                        return false;
                    }
                    importing.iter().filter(|&&n| n != dst).all(|&n| self.clear_slot_status(n, slot))
                } else {
                    self.info(&format!(">>> Case 3: Closing slot {slot} on both migrating and importing nodes.\n"));
                    self.clear_slot_status(src, slot) && importing.iter().all(|&n| self.clear_slot_status(n, slot))
                }
            }
            plan::OpenSlotCase::CloseOrUnhandled => {
                let mut close = importing.is_empty() && migrating.len() == 1;
                if close {
                    let n = migrating[0];
                    if owner != n {
                        let r = self.cmd_str(n, &["CLUSTER", "GETKEYSINSLOT", &slot.to_string(), "10"]);
                        if !self.check_reply(n, &r) {
                            return false;
                        }
                        close = matches!(r, Some(Reply::Array(ref k)) if k.is_empty());
                    }
                }
                if close {
                    let n = migrating[0];
                    let a = self.nodes[n].addr();
                    self.info(&format!(">>> Case 4: Closing slot {slot} on {a}\n"));
                    self.clear_slot_status(n, slot)
                } else {
                    self.unhandled_open_slot(&migrating_str, &importing_str, owner)
                }
            }
        }
    }

    fn unhandled_open_slot(&mut self, migrating: &str, importing: &str, owner: usize) -> bool {
        let oa = self.nodes[owner].addr();
        self.logerr(&format!("[ERR] Sorry, redis-cli can't fix this slot yet (work in progress). Slot is set as migrating in {migrating}, as importing in {importing}, owner is {oa}\n"));
        false
    }

    /// `clusterManagerFixSlotsCoverage`: uncovered slots go to a random master when no node has
    /// keys for them, to the one node holding keys, or (keys on several) to the one with most keys.
    /// Returns the number fixed, or -1.
    fn fix_slots_coverage(&mut self, all: &[bool]) -> i64 {
        if !self.guard_unreachable("slots coverage") {
            self.aborted = true;
            return -1;
        }
        self.info(">>> Fixing slots coverage...\n");
        let mut uncovered: Vec<(usize, Vec<usize>)> = Vec::new();
        for (slot, covered) in all.iter().enumerate() {
            if *covered {
                continue;
            }
            let mut with_keys = Vec::new();
            for i in self.masters() {
                if self.nodes[i].replicate.is_some() {
                    continue;
                }
                let r = self.cmd_str(i, &["CLUSTER", "GETKEYSINSLOT", &slot.to_string(), "1"]);
                if !self.check_reply(i, &r) {
                    return -1;
                }
                if matches!(r, Some(Reply::Array(ref k)) if !k.is_empty()) {
                    with_keys.push(i);
                }
            }
            uncovered.push((slot, with_keys));
        }
        // The three groups are built by walking redis-cli's table of uncovered slots: its order.
        let order = dictorder::order_of(
            uncovered.iter().map(|u| u.0.to_string()).collect::<Vec<_>>().iter().map(String::as_str),
        );
        let position: std::collections::HashMap<&str, usize> =
            order.iter().enumerate().map(|(i, s)| (s.as_str(), i)).collect();
        uncovered.sort_by_key(|u| position.get(u.0.to_string().as_str()).copied().unwrap_or(usize::MAX));
        let mut fixed = 0;
        let none: Vec<usize> = uncovered.iter().filter(|u| u.1.is_empty()).map(|u| u.0).collect();
        let single: Vec<(usize, usize)> = uncovered.iter().filter(|u| u.1.len() == 1).map(|u| (u.0, u.1[0])).collect();
        let multi: Vec<(usize, Vec<usize>)> = uncovered.iter().filter(|u| u.1.len() > 1).cloned().collect();
        let slot_list = |slots: &mut dyn Iterator<Item = usize>| {
            let mut map = vec![false; SLOTS];
            slots.for_each(|s| map[s] = true);
            model::slots_string(&map)
        };
        let now_s = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if !none.is_empty() {
            self.out("The following uncovered slots have no keys across the cluster:\n");
            let l = slot_list(&mut none.iter().copied());
            self.out(&format!("{l}\n"));
            if self.confirm("Fix these slots by covering with a random node?", true) {
                for &slot in &none {
                    let masters = self.masters();
                    if masters.is_empty() {
                        return -1;
                    }
                    // redis-cli reseeds with the current second for every slot, so the slots
                    // fixed within one second all go to the same random master; so do we.
                    let n = masters[plan::Rng::new(now_s()).below(masters.len())];
                    let a = self.nodes[n].addr();
                    self.info(&format!(">>> Covering slot {slot} with {a}\n"));
                    if !self.set_slot_owner(n, slot, false) {
                        return -1;
                    }
                    self.nodes[n].slots[slot] = true;
                    fixed += 1;
                }
            }
        }
        if !single.is_empty() {
            self.out("The following uncovered slots have keys in just one node:\n");
            let l = slot_list(&mut single.iter().map(|s| s.0));
            self.out(&format!("{l}\n"));
            if self.confirm("Fix these slots by covering with those nodes?", true) {
                for &(slot, n) in &single {
                    let a = self.nodes[n].addr();
                    self.info(&format!(">>> Covering slot {slot} with {a}\n"));
                    if !self.set_slot_owner(n, slot, false) {
                        return -1;
                    }
                    self.nodes[n].slots[slot] = true;
                    fixed += 1;
                }
            }
        }
        if !multi.is_empty() {
            self.out("The following uncovered slots have keys in multiple nodes:\n");
            let l = slot_list(&mut multi.iter().map(|s| s.0));
            self.out(&format!("{l}\n"));
            if self.confirm("Fix these slots by moving keys into a single node?", true) {
                for (slot, holders) in &multi {
                    let slot = *slot;
                    let Some(target) = self.node_with_most_keys(holders, slot) else { return -1 };
                    let a = self.nodes[target].addr();
                    self.info(&format!(">>> Covering slot {slot} moving keys to {a}\n"));
                    if !self.set_slot_owner(target, slot, true) {
                        return -1;
                    }
                    self.nodes[target].slots[slot] = true;
                    for &src in holders {
                        if src == target {
                            continue;
                        }
                        if !self.set_slot_print(src, target, slot, "NODE")
                            || !self.set_slot_print(src, target, slot, "IMPORTING")
                        {
                            return -1;
                        }
                        let opts = MoveOpts { dots: true, cold: true, ..MoveOpts::default() };
                        if self.move_slot(src, target, slot, opts).is_err() || !self.clear_slot_status(src, slot) {
                            return -1;
                        }
                    }
                    fixed += 1;
                }
            }
        }
        fixed
    }

    /// `clusterManagerFixMultipleSlotOwners`: keep the owner with most keys, move the others' keys.
    fn fix_multiple_slot_owners(&mut self, slot: usize, owners: &[usize]) -> bool {
        self.info(&format!(">>> Fixing multiple owners for slot {slot}...\n"));
        let owner = self.node_with_most_keys(owners, slot).unwrap_or(owners[0]);
        let a = self.nodes[owner].addr();
        self.info(&format!(">>> Setting slot {slot} owner: {a}\n"));
        if !self.set_slot_owner(owner, slot, false) {
            return false;
        }
        let mut success = false;
        for n in self.masters() {
            if n == owner {
                continue;
            }
            let count = self.count_keys_in_slot(n, slot);
            success = count >= 0;
            if !success {
                break;
            }
            self.del_slot(n, slot, true);
            if !self.set_slot_print(n, owner, slot, "node") {
                return false;
            }
            if count > 0 {
                let opts = MoveOpts { dots: true, cold: true, ..MoveOpts::default() };
                success = self.move_slot(n, owner, slot, opts).is_ok();
                if !success {
                    break;
                }
            }
        }
        success
    }
}

/// `getClusterHostFromCmdArgs`: `host:port` as one word, or `host port` as two.
pub fn host_from_args(args: &[String]) -> Option<(String, u16)> {
    let (ip, port) = match args {
        [one] => {
            let (ip, port, _) = model::parse_node_address(one)?;
            (ip, port)
        }
        [ip, port, ..] => (ip.clone(), model::c_atoi(port) as u16),
        [] => return None,
    };
    if ip.is_empty() || port == 0 {
        return None;
    }
    Some((ip, port))
}

/// Runs the subcommand; returns the process exit code (0 on success, 1 otherwise).
pub fn run(args: ClusterArgs, auth: Auth, mut io: Io<'_>) -> i32 {
    // redoxide's own subcommands (not in redis-cli's table, so `--cluster help` stays redis-cli's).
    match args.command.as_str() {
        "up" => return up::up(args, auth, io),
        "down" => return up::down(args, io),
        "health" => {
            let Some((host, port)) = host_from_args(&args.args) else {
                let _ = io.err.write_all(b"Usage: redoxide-cli --cluster health host:port\n");
                return 1;
            };
            return health::run(&host, port, &auth, &mut io);
        }
        _ => {}
    }
    let Some(proc) = commands::lookup(&args.command) else {
        let _ = io.err.write_all(b"Unknown --cluster subcommand\n");
        return 1;
    };
    if !proc.arity_ok(args.args.len()) {
        let _ = io.err.write_all(b"[ERR] Wrong number of arguments for specified --cluster sub command\n");
        return 1;
    }
    let mut m = Manager::new(args, auth, io);
    let ok = (proc.run)(&mut m);
    m.flush();
    if ok {
        0
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_line_counts_slots_and_keys() {
        let mut p = Progress::new(10);
        assert!(p.line().starts_with("Moved 0/10 slots, 0 keys, "));
        p.slots_done = 4;
        p.keys_done = 120;
        let line = p.line();
        assert!(line.starts_with("Moved 4/10 slots, 120 keys, "), "{line}");
        assert!(line.ends_with("s left") && line.contains(" keys/s, "), "{line}");
    }

    #[test]
    fn host_arguments() {
        assert_eq!(host_from_args(&["127.0.0.1:7000".into()]), Some(("127.0.0.1".into(), 7000)));
        assert_eq!(host_from_args(&["h".into(), "7001".into()]), Some(("h".into(), 7001)));
        assert_eq!(host_from_args(&["noport".into()]), None);
        assert_eq!(host_from_args(&["h:0".into()]), None);
        assert_eq!(host_from_args(&[]), None);
    }

    #[test]
    fn unknown_subcommand_and_arity_print_redis_cli_errors() {
        let run_with = |cmd: &str, n: usize| {
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let mut input: &[u8] = b"";
            let mut a = crate::options::parse(&["x".into(), "--cluster".into(), cmd.into()], false)
                .ok()
                .and_then(|o| o.cluster)
                .unwrap_or_else(|| panic!("no cluster args"));
            a.args = vec!["1.2.3.4:5".to_string(); n];
            let io = Io { out: &mut out, err: &mut err, input: &mut input, color: false, out_is_tty: false };
            let code = run(a, Auth::default(), io);
            (code, String::from_utf8_lossy(&err).into_owned())
        };
        assert_eq!(run_with("nope", 1), (1, "Unknown --cluster subcommand\n".into()));
        assert_eq!(
            run_with("add-node", 1),
            (1, "[ERR] Wrong number of arguments for specified --cluster sub command\n".into())
        );
        assert_eq!(
            run_with("check", 0),
            (1, "[ERR] Wrong number of arguments for specified --cluster sub command\n".into())
        );
    }
}
