//! cluster-link-sendbuf-limit, black box on two cluster nodes, as Redis's legacy cluster suite
//! checks it (tests/cluster/tests/24-links.tcl): when a peer stops reading, the link to it is
//! freed once its send buffer passes the limit, CLUSTER INFO counts it in
//! total_cluster_links_buffer_limit_exceeded, a new link to the peer replaces it, and the link
//! from the peer is left alone.

mod support;

use std::time::{Duration, Instant};
use support::{free_port, Client, Reply, Server};

fn cluster_node() -> (Server, u16) {
    let cport = free_port();
    let server = Server::start(&["--cluster-enabled", "yes", "--cluster-port", &cport.to_string(), "--save", ""]);
    (server, cport)
}

fn text(reply: Reply) -> String {
    match reply {
        Reply::Bulk(b) => String::from_utf8(b).expect("utf-8"),
        Reply::Verbatim(_, b) => String::from_utf8(b).expect("utf-8"),
        other => panic!("expected a bulk string, got {other:?}"),
    }
}

fn info_field(c: &mut Client, section: &[&str], field: &str) -> String {
    let info = text(c.cmd(section));
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {info}"))
        .trim()
        .to_string()
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

/// (direction, create-time) of `c`'s links with node `peer`.
fn links_with(c: &mut Client, peer: &str) -> Vec<(String, i64)> {
    let Reply::Array(links) = c.cmd(&["CLUSTER", "LINKS"]) else { panic!("CLUSTER LINKS is not an array") };
    let mut out = Vec::new();
    for link in links {
        let Reply::Array(fields) = link else { panic!("a link is not a flat map in RESP2: {link:?}") };
        let get = |name: &str| {
            let at = fields.iter().position(|f| *f == Reply::bulk(name)).expect("field");
            fields[at + 1].clone()
        };
        if get("node") == Reply::bulk(peer) {
            let Reply::Int(ctime) = get("create-time") else { panic!("create-time") };
            out.push((text(get("direction")), ctime));
        }
    }
    out.sort();
    out
}

fn signal(pid: &str, sig: &str) {
    let status = std::process::Command::new("kill").args([sig, pid]).status().expect("kill");
    assert!(status.success(), "kill {sig} {pid}");
}

#[test]
fn link_over_sendbuf_limit_is_freed_counted_and_replaced() {
    let (a, _) = cluster_node();
    let (b, b_cport) = cluster_node();
    let (mut ca, mut cb) = (a.client(), b.client());
    let b_id = text(cb.cmd(&["CLUSTER", "MYID"]));
    let meet = ca.cmd(&["CLUSTER", "MEET", "127.0.0.1", &b.port.to_string(), &b_cport.to_string()]);
    assert_eq!(meet, Reply::Simple("OK".into()));
    wait_for("a link each way between the two nodes", || links_with(&mut ca, &b_id).len() == 2);
    let before = links_with(&mut ca, &b_id);
    assert_eq!(before.iter().map(|l| l.0.as_str()).collect::<Vec<_>>(), ["from", "to"]);
    assert_eq!(info_field(&mut ca, &["CLUSTER", "INFO"], "total_cluster_links_buffer_limit_exceeded"), "0");

    // A long node timeout, so that only the buffer limit can free the link.
    assert_eq!(ca.cmd(&["CONFIG", "SET", "cluster-node-timeout", "3600000"]), Reply::Simple("OK".into()));
    assert_eq!(ca.cmd(&["CONFIG", "SET", "cluster-link-sendbuf-limit", "262144"]), Reply::Simple("OK".into()));
    let b_pid = info_field(&mut cb, &["INFO", "server"], "process_id");
    signal(&b_pid, "-STOP");
    let message = "x".repeat(128 * 1024);
    let mut exceeded = false;
    for _ in 0..100 {
        assert_eq!(ca.cmd(&["PUBLISH", "channel", &message]), Reply::Int(0));
        if info_field(&mut ca, &["CLUSTER", "INFO"], "total_cluster_links_buffer_limit_exceeded") != "0" {
            exceeded = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    signal(&b_pid, "-CONT");
    assert!(exceeded, "the link to the stopped peer was never freed");
    assert_eq!(info_field(&mut ca, &["CLUSTER", "INFO"], "total_cluster_links_buffer_limit_exceeded"), "1");

    // The outbound link comes back, newer; the inbound one is the same link as before.
    wait_for("a new link to the peer", || {
        let now = links_with(&mut ca, &b_id);
        now.len() == 2 && now[1].1 > before[1].1
    });
    assert_eq!(links_with(&mut ca, &b_id)[0], before[0]);
}
