//! DEBUG DROP-CLUSTER-PACKET-FILTER, black box on two cluster nodes: a node drops every incoming
//! bus packet of the filtered type (still counted in CLUSTER INFO, as Redis counts it before
//! the filter), keeps the link, and processes that type again once the filter is -1. Redis's
//! legacy cluster suite sets it in every unit's init (tests/cluster/tests/includes/init-tests.tcl).

mod support;

use std::time::{Duration, Instant};
use support::{free_port, Client, Reply, Server};

/// CLUSTERMSG_TYPE_PUBLISH.
const PUBLISH_TYPE: &str = "4";

fn cluster_node() -> (Server, u16) {
    let cport = free_port();
    let server = Server::start(&[
        "--cluster-enabled",
        "yes",
        "--cluster-port",
        &cport.to_string(),
        "--enable-debug-command",
        "yes",
        "--save",
        "",
    ]);
    (server, cport)
}

fn text(reply: Reply) -> String {
    match reply {
        Reply::Bulk(b) => String::from_utf8(b).expect("utf-8"),
        other => panic!("expected a bulk string, got {other:?}"),
    }
}

/// A CLUSTER INFO field, 0 when the line is absent (Redis omits zero message counters).
fn info_field(c: &mut Client, field: &str) -> u64 {
    let info = text(c.cmd(&["CLUSTER", "INFO"]));
    info.lines().find_map(|l| l.strip_prefix(&format!("{field}:"))).map_or(0, |v| v.trim().parse().expect("number"))
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

#[test]
fn drop_cluster_packet_filter_drops_one_type_until_reset() {
    let (a, _) = cluster_node();
    let (b, b_cport) = cluster_node();
    let (mut ca, mut cb) = (a.client(), b.client());

    assert_eq!(
        cb.cmd(&["DEBUG", "DROP-CLUSTER-PACKET-FILTER", "x"]),
        Reply::Error("ERR value is not an integer or out of range".into())
    );
    assert_eq!(cb.cmd(&["DEBUG", "DROP-CLUSTER-PACKET-FILTER", "-1"]), Reply::Simple("OK".into()));

    let meet = ca.cmd(&["CLUSTER", "MEET", "127.0.0.1", &b.port.to_string(), &b_cport.to_string()]);
    assert_eq!(meet, Reply::Simple("OK".into()));
    // Both know each other, with no handshake left and both links up.
    wait_for("the two nodes to meet", || {
        [&mut ca, &mut cb].into_iter().all(|c| {
            let nodes = text(c.cmd(&["CLUSTER", "NODES"]));
            nodes.lines().count() == 2 && !nodes.contains("handshake") && nodes.matches(" connected").count() == 2
        })
    });

    let mut sub = b.client();
    sub.send(&["SUBSCRIBE", "ch"]);
    assert_eq!(sub.read(), Reply::Array(vec![Reply::bulk("subscribe"), Reply::bulk("ch"), Reply::Int(1)]));

    assert_eq!(cb.cmd(&["DEBUG", "DROP-CLUSTER-PACKET-FILTER", PUBLISH_TYPE]), Reply::Simple("OK".into()));
    let before = info_field(&mut cb, "cluster_stats_messages_publish_received");
    assert_eq!(ca.cmd(&["PUBLISH", "ch", "dropped"]), Reply::Int(0));
    // The packet arrives and is counted, but nobody on B hears it.
    wait_for("B to receive the PUBLISH packet", || {
        info_field(&mut cb, "cluster_stats_messages_publish_received") == before + 1
    });
    // Other types still flow: PINGs keep arriving while PUBLISH is filtered.
    let pings = info_field(&mut cb, "cluster_stats_messages_ping_received");
    wait_for("B to receive a PING", || info_field(&mut cb, "cluster_stats_messages_ping_received") > pings);

    assert_eq!(cb.cmd(&["DEBUG", "DROP-CLUSTER-PACKET-FILTER", "-1"]), Reply::Simple("OK".into()));
    assert_eq!(ca.cmd(&["PUBLISH", "ch", "delivered"]), Reply::Int(0));
    // The first message the subscriber gets is the one sent after the filter was lifted.
    assert_eq!(sub.read(), Reply::Array(vec![Reply::bulk("message"), Reply::bulk("ch"), Reply::bulk("delivered")]));
}

#[test]
fn drop_cluster_packet_filter_is_accepted_outside_cluster_mode() {
    let server = Server::start(&["--enable-debug-command", "yes", "--save", ""]);
    let mut c = server.client();
    assert_eq!(c.cmd(&["DEBUG", "DROP-CLUSTER-PACKET-FILTER", "0"]), Reply::Simple("OK".into()));
    assert_eq!(c.cmd(&["DEBUG", "DROP-CLUSTER-PACKET-FILTER", "-1"]), Reply::Simple("OK".into()));
}

/// CLUSTER LINKS as (direction, create-time) pairs, in reply order.
fn links(c: &mut Client) -> Vec<(String, i64)> {
    let Reply::Array(links) = c.cmd(&["CLUSTER", "LINKS"]) else { panic!("CLUSTER LINKS is an array") };
    links
        .into_iter()
        .map(|link| {
            let Reply::Array(fields) = link else { panic!("a link is a flat map") };
            let mut dir = String::new();
            let mut ctime = -1;
            for pair in fields.chunks(2) {
                match (&pair[0], &pair[1]) {
                    (Reply::Bulk(k), Reply::Bulk(v)) if k == b"direction" => dir = String::from_utf8_lossy(v).into(),
                    (Reply::Bulk(k), Reply::Int(v)) if k == b"create-time" => ctime = *v,
                    _ => {}
                }
            }
            (dir, ctime)
        })
        .collect()
}

fn ctime_of(c: &mut Client, dir: &str) -> Option<i64> {
    links(c).into_iter().find(|(d, _)| d == dir).map(|(_, t)| t)
}

#[test]
fn debug_clusterlink_kill_frees_the_link_and_it_comes_back() {
    let (a, _) = cluster_node();
    let (b, b_cport) = cluster_node();
    let (mut ca, mut cb) = (a.client(), b.client());
    let meet = ca.cmd(&["CLUSTER", "MEET", "127.0.0.1", &b.port.to_string(), &b_cport.to_string()]);
    assert_eq!(meet, Reply::Simple("OK".into()));
    wait_for("both links up on both nodes", || links(&mut ca).len() == 2 && links(&mut cb).len() == 2);
    let b_id = text(cb.cmd(&["CLUSTER", "MYID"]));

    assert_eq!(
        ca.cmd(&["DEBUG", "CLUSTERLINK", "KILL", "to", "0000000000000000000000000000000000000000"]),
        Reply::Error("ERR Unknown node 0000000000000000000000000000000000000000".into())
    );
    assert_eq!(
        ca.cmd(&["DEBUG", "CLUSTERLINK", "KILL", "sideways", &b_id]),
        Reply::Error("ERR Unknown direction sideways".into())
    );

    // TO: our link to B is freed and the cron opens a new one (a later create time).
    let to_before = ctime_of(&mut ca, "to").expect("a link to B");
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(ca.cmd(&["DEBUG", "CLUSTERLINK", "KILL", "TO", &b_id]), Reply::Simple("OK".into()));
    wait_for("a new link to B", || ctime_of(&mut ca, "to").is_some_and(|t| t > to_before));

    // FROM: B's link to us is closed under it; B reconnects and we see a new inbound link.
    let a_id = text(ca.cmd(&["CLUSTER", "MYID"]));
    let from_before = ctime_of(&mut ca, "from").expect("a link from B");
    let b_to_before = ctime_of(&mut cb, "to").expect("B's link to A");
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(ca.cmd(&["DEBUG", "CLUSTERLINK", "KILL", "from", &b_id]), Reply::Simple("OK".into()));
    wait_for("B to reconnect to A", || {
        ctime_of(&mut cb, "to").is_some_and(|t| t > b_to_before)
            && ctime_of(&mut ca, "from").is_some_and(|t| t > from_before)
    });

    // ALL, issued on B about A: both of B's links to A are replaced.
    let (to_b, from_b) = (ctime_of(&mut cb, "to").expect("to"), ctime_of(&mut cb, "from").expect("from"));
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(cb.cmd(&["DEBUG", "CLUSTERLINK", "KILL", "ALL", &a_id]), Reply::Simple("OK".into()));
    wait_for("both of B's links to come back", || {
        ctime_of(&mut cb, "to").is_some_and(|t| t > to_b) && ctime_of(&mut cb, "from").is_some_and(|t| t > from_b)
    });
}

#[test]
fn debug_clusterlink_kill_needs_cluster_mode() {
    let server = Server::start(&["--enable-debug-command", "yes", "--save", ""]);
    let mut c = server.client();
    assert_eq!(
        c.cmd(&["DEBUG", "CLUSTERLINK", "KILL", "to", "0000000000000000000000000000000000000000"]),
        Reply::Error("ERR Debug option only available for cluster mode enabled setup!".into())
    );
}
