//! cluster-preferred-endpoint-type in redirections, black box on two cluster nodes, as Redis's
//! legacy cluster suite checks it (tests/cluster/tests/27-endpoints.tcl): MOVED names the
//! owner by ip, by hostname ("?" when it announced none), or by an empty endpoint with
//! unknown-endpoint (`getPreferredEndpoint`).

mod support;

use std::time::{Duration, Instant};
use support::{free_port, Reply, Server};

fn cluster_node() -> (Server, u16) {
    let cport = free_port();
    let server = Server::start(&["--cluster-enabled", "yes", "--cluster-port", &cport.to_string(), "--save", ""]);
    (server, cport)
}

#[test]
fn moved_uses_the_preferred_endpoint_type() {
    let (a, _) = cluster_node();
    let (b, b_cport) = cluster_node();
    let (mut ca, mut cb) = (a.client(), b.client());
    assert_eq!(ca.cmd(&["CLUSTER", "ADDSLOTSRANGE", "0", "16383"]), Reply::Simple("OK".into()));
    let meet = ca.cmd(&["CLUSTER", "MEET", "127.0.0.1", &b.port.to_string(), &b_cport.to_string()]);
    assert_eq!(meet, Reply::Simple("OK".into()));
    // "foo" hashes to slot 12182, which A serves.
    let moved = |endpoint: &str| Reply::Error(format!("MOVED 12182 {endpoint}:{}", a.port));
    let deadline = Instant::now() + Duration::from_secs(20);
    while cb.cmd(&["GET", "foo"]) != moved("127.0.0.1") {
        assert!(Instant::now() < deadline, "B never learned that A serves slot 12182");
        std::thread::sleep(Duration::from_millis(50));
    }
    for (kind, endpoint) in [("hostname", "?"), ("unknown-endpoint", ""), ("ip", "127.0.0.1")] {
        let set = cb.cmd(&["CONFIG", "SET", "cluster-preferred-endpoint-type", kind]);
        assert_eq!(set, Reply::Simple("OK".into()));
        assert_eq!(cb.cmd(&["SET", "foo", "bar"]), moved(endpoint), "with {kind}");
    }
}
