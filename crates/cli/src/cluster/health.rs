//! `redoxide-cli --cluster health host:port`: the seed's "Monitoring Cluster Health" script as one
//! command. It prints what that script prints (read through redis-py: `cluster_info()` and
//! `cluster_nodes()`): the cluster state, known nodes and size; then each node's address, flags and
//! slots, with the script's two warnings (a node whose flags contain `fail`, a master without
//! slots); then the slot distribution over masters as bars, one `=` per 500 slots.
//!
//! It owns the report (a pure function of the CLUSTER INFO and CLUSTER NODES texts, unit-tested)
//! and the command's exit status: 0 when `cluster_state` is `ok`, 1 otherwise or when the node
//! cannot be asked. It must never change anything on a node (it only sends AUTH, CLUSTER INFO and
//! CLUSTER NODES), never panic on a reply, and never print outside the `Io` sinks.

use super::{Auth, Io};
use crate::client::Connection;
use crate::reply::Reply;
use std::collections::BTreeMap;
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum HealthError {
    #[error("Could not connect to Redis at {addr}: {reason}")]
    Connect { addr: String, reason: String },
    #[error("{addr} replied to {command} with: {reply}")]
    Reply { addr: String, command: &'static str, reply: String },
}

/// The report's text and whether the cluster is ok (`cluster_state:ok`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub text: String,
    pub ok: bool,
    /// How many warnings the node section printed.
    pub warnings: usize,
}

/// A field of an INFO-style text (`name:value` lines); `None` when missing.
fn field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines().find_map(|l| l.trim_end_matches('\r').strip_prefix(name)?.strip_prefix(':'))
}

/// Python's `repr` of a list of str, as the seed's script prints a node's slots
/// (`[['0', '5460'], ['7']]`).
fn py_slots(ranges: &[Vec<&str>]) -> String {
    let inner: Vec<String> = ranges
        .iter()
        .map(|r| format!("[{}]", r.iter().map(|s| format!("'{s}'")).collect::<Vec<_>>().join(", ")))
        .collect();
    format!("[{}]", inner.join(", "))
}

/// The slot count of one range as the script counts it (a single slot counts 1).
fn range_len(r: &[&str]) -> u64 {
    let num = |s: &str| s.parse::<u64>().ok();
    match r {
        [one] => u64::from(num(one).is_some()),
        [a, b, ..] => match (num(a), num(b)) {
            (Some(a), Some(b)) if b >= a => b - a + 1,
            _ => 0,
        },
        [] => 0,
    }
}

/// Builds the report from the two replies' texts.
pub fn report(cluster_info: &str, cluster_nodes: &str) -> Report {
    let state = field(cluster_info, "cluster_state").unwrap_or("");
    let mut text = String::new();
    text.push_str(&format!("Cluster state: {state}\n"));
    text.push_str(&format!("Known nodes: {}\n", field(cluster_info, "cluster_known_nodes").unwrap_or("")));
    text.push_str(&format!("Cluster size: {}\n", field(cluster_info, "cluster_size").unwrap_or("")));
    let mut warnings = 0;
    // redis-py's parse_cluster_nodes: a dict keyed by `ip:port` (a later line with the same address
    // replaces an earlier one but keeps its place), in the reply's order.
    let mut order: Vec<String> = Vec::new();
    let mut nodes: BTreeMap<String, (String, Vec<Vec<&str>>)> = BTreeMap::new();
    for line in cluster_nodes.lines() {
        let items: Vec<&str> = line.trim_end_matches('\r').split(' ').collect();
        if items.len() < 8 {
            continue;
        }
        let addr = items[1].split('@').next().unwrap_or("").to_string();
        let ranges: Vec<Vec<&str>> = items[8..]
            .iter()
            .filter(|s| !s.is_empty() && !s.contains("->-") && !s.contains("-<-"))
            .map(|s| s.split('-').collect())
            .collect();
        if !nodes.contains_key(&addr) {
            order.push(addr.clone());
        }
        nodes.insert(addr, (items[2].to_string(), ranges));
    }
    let mut masters: BTreeMap<String, u64> = BTreeMap::new();
    for addr in &order {
        let Some((flags, ranges)) = nodes.get(addr) else { continue };
        text.push_str(&format!("\nNode: {addr}\n"));
        text.push_str(&format!("  Flags: {flags}\n"));
        text.push_str(&format!("  Slots: {}\n", py_slots(ranges)));
        if flags.contains("fail") {
            text.push_str("  WARNING: Node marked as failed!\n");
            warnings += 1;
        }
        if flags.contains("master") {
            if ranges.is_empty() {
                text.push_str("  WARNING: Master with no slots!\n");
                warnings += 1;
            }
            masters.insert(addr.clone(), ranges.iter().map(|r| range_len(r)).sum());
        }
    }
    text.push_str("\nSlot distribution:\n");
    for (addr, count) in &masters {
        text.push_str(&format!("  {addr}: {count} slots {}\n", "=".repeat((count / 500) as usize)));
    }
    Report { text, ok: state == "ok", warnings }
}

/// Asks `host:port` for CLUSTER INFO and CLUSTER NODES and builds the report.
pub fn fetch_report(host: &str, port: u16, auth: &Auth) -> Result<Report, HealthError> {
    let addr = format!("{host}:{port}");
    let mut conn = Connection::connect(host, port)
        .map_err(|e| HealthError::Connect { addr: addr.clone(), reason: e.to_string() })?;
    let _ = conn.stream().set_read_timeout(Some(std::time::Duration::from_secs(10)));
    let mut ask = |command: &'static str, argv: Vec<Vec<u8>>| -> Result<String, HealthError> {
        match conn.command(&argv) {
            Ok(Reply::Bulk(b)) | Ok(Reply::Verbatim(_, b)) | Ok(Reply::Status(b)) => {
                Ok(String::from_utf8_lossy(&b).into_owned())
            }
            Ok(Reply::Error(e)) => {
                Err(HealthError::Reply { addr: addr.clone(), command, reply: String::from_utf8_lossy(&e).into_owned() })
            }
            Ok(other) => Err(HealthError::Reply { addr: addr.clone(), command, reply: format!("{other:?}") }),
            Err(e) => Err(HealthError::Reply { addr: addr.clone(), command, reply: e.to_string() }),
        }
    };
    if let Some(pass) = &auth.pass {
        let mut argv = vec![b"AUTH".to_vec()];
        if let Some(u) = &auth.user {
            argv.push(u.clone().into_bytes());
        }
        argv.push(pass.clone().into_bytes());
        ask("AUTH", argv)?;
    }
    let info = ask("CLUSTER INFO", vec![b"CLUSTER".to_vec(), b"INFO".to_vec()])?;
    let nodes = ask("CLUSTER NODES", vec![b"CLUSTER".to_vec(), b"NODES".to_vec()])?;
    Ok(report(&info, &nodes))
}

/// The subcommand: prints the report; exit status 0 only when the cluster state is ok.
pub fn run(host: &str, port: u16, auth: &Auth, io: &mut Io<'_>) -> i32 {
    match fetch_report(host, port, auth) {
        Ok(r) => {
            let _ = io.out.write_all(r.text.as_bytes());
            let _ = io.out.flush();
            if r.ok {
                0
            } else {
                let _ = writeln!(io.err, "redoxide-cli: the cluster is not ok (cluster_state is not `ok`)");
                1
            }
        }
        Err(e) => {
            let _ = io.out.flush();
            let _ = writeln!(io.err, "{e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str =
        "cluster_state:ok\r\ncluster_slots_assigned:16384\r\ncluster_known_nodes:4\r\ncluster_size:2\r\n";
    const NODES: &str = "\
aaa 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460 7000 [7001->-bbb]
bbb 127.0.0.1:7001@17001 master - 0 1 2 connected 5461-6999 7001-16383
ccc 127.0.0.1:7002@17002 slave,fail aaa 0 1 1 disconnected
ddd 127.0.0.1:7003@17003 master - 0 1 3 connected
";

    #[test]
    fn prints_what_the_seed_script_prints() {
        let r = report(INFO, NODES);
        assert!(r.ok);
        assert_eq!(r.warnings, 2);
        assert_eq!(
            r.text,
            "Cluster state: ok\nKnown nodes: 4\nCluster size: 2\n\
             \nNode: 127.0.0.1:7000\n  Flags: myself,master\n  Slots: [['0', '5460'], ['7000']]\n\
             \nNode: 127.0.0.1:7001\n  Flags: master\n  Slots: [['5461', '6999'], ['7001', '16383']]\n\
             \nNode: 127.0.0.1:7002\n  Flags: slave,fail\n  Slots: []\n  WARNING: Node marked as failed!\n\
             \nNode: 127.0.0.1:7003\n  Flags: master\n  Slots: []\n  WARNING: Master with no slots!\n\
             \nSlot distribution:\n  127.0.0.1:7000: 5462 slots ==========\n  127.0.0.1:7001: 10922 slots =====================\n  127.0.0.1:7003: 0 slots \n"
        );
    }

    #[test]
    fn not_ok_and_garbage_do_not_panic() {
        let r = report("cluster_state:fail\r\n", "short line\n\n\u{0} x y z a b c d 9-1 x-y -\n");
        assert!(!r.ok);
        assert!(r.text.starts_with("Cluster state: fail\nKnown nodes: \nCluster size: \n"));
        let r = report("", "");
        assert!(!r.ok);
    }
}
