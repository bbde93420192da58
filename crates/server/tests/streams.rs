//! Black-box tests of blocking stream reads against a real server process: waking readers that
//! wait for different IDs on one key, `$` resolved when the reader blocked, and XREADGROUP
//! readers ended with Redis's errors when their key or group goes away.

mod support;

use std::time::{Duration, Instant};
use support::{Client, Reply, Server};

/// Polls INFO until `blocked_clients` is `want` (bounded: 5 s).
fn wait_blocked_clients(c: &mut Client, want: i64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let Reply::Bulk(info) = c.cmd(&["INFO", "clients"]) else { panic!("INFO is a bulk string") };
        let info = String::from_utf8_lossy(&info).into_owned();
        if info.contains(&format!("blocked_clients:{want}\r\n")) {
            return;
        }
        assert!(Instant::now() < deadline, "blocked_clients never reached {want}: {info}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn entry(id: &str, field: &str, value: &str) -> Reply {
    Reply::Array(vec![Reply::bulk(id), Reply::Array(vec![Reply::bulk(field), Reply::bulk(value)])])
}

/// A reader waiting for entries after a later ID does not hold up one waiting for an earlier ID
/// on the same key (unlike BLPOP waiters, stream readers are not served strictly in order).
#[test]
fn readers_of_one_stream_are_served_by_their_own_ids() {
    let server = Server::start(&["--io-threads", "2"]);
    let mut admin = server.client();
    assert_eq!(admin.cmd(&["XADD", "s", "5-0", "f", "v"]), Reply::bulk("5-0"));
    let mut late = server.client();
    late.send(&["XREAD", "BLOCK", "0", "STREAMS", "s", "9-0"]);
    wait_blocked_clients(&mut admin, 1);
    let mut early = server.client();
    early.send(&["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
    wait_blocked_clients(&mut admin, 2);
    assert_eq!(admin.cmd(&["XADD", "s", "6-0", "g", "w"]), Reply::bulk("6-0"));
    let served = Reply::Array(vec![Reply::Array(vec![Reply::bulk("s"), Reply::Array(vec![entry("6-0", "g", "w")])])]);
    assert_eq!(early.read(), served);
    wait_blocked_clients(&mut admin, 1);
    assert_eq!(admin.cmd(&["XADD", "s", "10-0", "h", "x"]), Reply::bulk("10-0"));
    let served = Reply::Array(vec![Reply::Array(vec![Reply::bulk("s"), Reply::Array(vec![entry("10-0", "h", "x")])])]);
    assert_eq!(late.read(), served);
    wait_blocked_clients(&mut admin, 0);
}

#[test]
fn blocked_group_readers_end_with_errors_when_the_key_or_group_goes() {
    let server = Server::start(&[]);
    let mut admin = server.client();
    assert_eq!(admin.cmd(&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]), Reply::Simple("OK".into()));
    let mut reader = server.client();
    reader.send(&["XREADGROUP", "GROUP", "g", "alice", "BLOCK", "0", "STREAMS", "s", ">"]);
    wait_blocked_clients(&mut admin, 1);
    assert_eq!(admin.cmd(&["XGROUP", "DESTROY", "s", "g"]), Reply::Int(1));
    assert_eq!(
        reader.read(),
        Reply::Error("NOGROUP the consumer group this client was blocked on no longer exists".into())
    );

    assert_eq!(admin.cmd(&["XGROUP", "CREATE", "s", "g", "$"]), Reply::Simple("OK".into()));
    reader.send(&["XREADGROUP", "GROUP", "g", "alice", "BLOCK", "0", "STREAMS", "s", ">"]);
    wait_blocked_clients(&mut admin, 1);
    assert_eq!(admin.cmd(&["SET", "s", "not a stream"]), Reply::Simple("OK".into()));
    assert_eq!(reader.read(), Reply::Error("UNBLOCKED the stream key no longer exists".into()));

    assert_eq!(admin.cmd(&["DEL", "s"]), Reply::Int(1));
    assert_eq!(admin.cmd(&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]), Reply::Simple("OK".into()));
    reader.send(&["XREADGROUP", "GROUP", "g", "alice", "BLOCK", "0", "STREAMS", "s", ">"]);
    wait_blocked_clients(&mut admin, 1);
    assert_eq!(admin.cmd(&["FLUSHALL"]), Reply::Simple("OK".into()));
    assert_eq!(reader.read(), Reply::Error("UNBLOCKED the stream key no longer exists".into()));
    wait_blocked_clients(&mut admin, 0);
}

#[test]
fn blocked_reads_time_out_with_a_null_and_serve_new_entries_to_groups() {
    let server = Server::start(&[]);
    let mut c = server.client();
    assert_eq!(c.cmd(&["XREAD", "BLOCK", "50", "STREAMS", "s", "$"]), Reply::Null);
    let mut admin = server.client();
    assert_eq!(admin.cmd(&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]), Reply::Simple("OK".into()));
    c.send(&["XREADGROUP", "GROUP", "g", "bob", "BLOCK", "0", "STREAMS", "s", ">"]);
    wait_blocked_clients(&mut admin, 1);
    assert_eq!(admin.cmd(&["XADD", "s", "1-1", "k", "v"]), Reply::bulk("1-1"));
    let served = Reply::Array(vec![Reply::Array(vec![Reply::bulk("s"), Reply::Array(vec![entry("1-1", "k", "v")])])]);
    assert_eq!(c.read(), served);
    // The delivery is pending for bob.
    let Reply::Array(summary) = admin.cmd(&["XPENDING", "s", "g"]) else { panic!("XPENDING is an array") };
    assert_eq!(summary[0], Reply::Int(1));
}
