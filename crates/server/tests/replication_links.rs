//! Replication between redoxide servers, for what the master and replica links do beyond one
//! replica's sync (crates/server/tests/replication.rs): replicas that share one diskless
//! transfer, a partial resync after REPLICAOF pointed elsewhere for a while, and how a replica
//! takes a command of its master that fails (DEBUG REPLICATE, propagation-error-behavior).
//! Every server runs on 127.0.0.1 and is killed when its handle drops; every wait is bounded.

mod support;

use std::time::Duration;
use support::{wait_until, Client, Reply, Server};

fn field(c: &mut Client, section: &str, name: &str) -> String {
    let body = match c.cmd(&["INFO", section]) {
        Reply::Bulk(b) | Reply::Verbatim(_, b) => String::from_utf8_lossy(&b).into_owned(),
        other => panic!("INFO answered {other:?}"),
    };
    body.lines().find_map(|l| l.strip_prefix(&format!("{name}:"))).unwrap_or_default().trim().to_string()
}

fn ok() -> Reply {
    Reply::Simple("OK".into())
}

fn replicate(replica: &mut Client, master: &Server) {
    assert_eq!(replica.cmd(&["REPLICAOF", "127.0.0.1", &master.port.to_string()]), ok());
}

fn log_of(server: &Server) -> String {
    std::fs::read_to_string(server.dir.join("redoxide.log")).unwrap_or_default()
}

#[test]
fn replicas_that_ask_within_the_delay_share_one_diskless_transfer() {
    let master =
        Server::start(&["--save", "", "--repl-diskless-sync-delay", "3", "--repl-diskless-sync-max-replicas", "2"]);
    let mut m = master.client();
    for i in 0..100 {
        assert_eq!(m.cmd(&["SET", &format!("k{i}"), &i.to_string()]), ok());
    }
    let (a, b) = (Server::start(&["--save", ""]), Server::start(&["--save", ""]));
    let (mut ca, mut cb) = (a.client(), b.client());
    replicate(&mut ca, &master);
    replicate(&mut cb, &master);
    wait_until("both replicas in sync", Duration::from_secs(20), || {
        field(&mut ca, "replication", "master_link_status") == "up"
            && field(&mut cb, "replication", "master_link_status") == "up"
    });
    // Two full syncs, one snapshot: the second replica joined the first's transfer (and the
    // transfer started before the 3 s delay ran out, as two replicas were the maximum).
    assert_eq!(field(&mut m, "stats", "sync_full"), "2");
    assert_eq!(field(&mut m, "stats", "total_forks"), "1");
    for c in [&mut ca, &mut cb] {
        assert_eq!(c.cmd(&["DBSIZE"]), Reply::Int(100));
        assert_eq!(c.cmd(&["GET", "k42"]), Reply::bulk("42"));
    }
    // The stream after the snapshot reaches both.
    assert_eq!(m.cmd(&["SET", "after", "1"]), ok());
    wait_until("the write on both replicas", Duration::from_secs(10), || {
        ca.cmd(&["GET", "after"]) == Reply::bulk("1") && cb.cmd(&["GET", "after"]) == Reply::bulk("1")
    });
}

#[test]
fn a_partial_resync_after_replicaof_elsewhere_continues_in_the_stream_database() {
    let master = Server::start(&["--save", "", "--repl-diskless-sync-delay", "0"]);
    let replica = Server::start(&["--save", ""]);
    let (mut m, mut r) = (master.client(), replica.client());
    replicate(&mut r, &master);
    wait_until("the replica in sync", Duration::from_secs(20), || {
        field(&mut r, "replication", "master_link_status") == "up"
    });
    // The stream is now in database 9 (SELECT 9 went out with the first write).
    assert_eq!(m.cmd(&["SELECT", "9"]), ok());
    assert_eq!(m.cmd(&["SET", "a", "1"]), ok());
    wait_until("the first write", Duration::from_secs(10), || {
        r.cmd(&["SELECT", "9"]) == ok() && r.cmd(&["GET", "a"]) == Reply::bulk("1")
    });
    // Pointed at a port where nothing listens, then back: the master accepts a partial resync,
    // and its stream goes on without a SELECT, so the replica must still be in database 9.
    let nowhere = support::free_port();
    assert_eq!(r.cmd(&["REPLICAOF", "127.0.0.1", &nowhere.to_string()]), ok());
    assert_eq!(m.cmd(&["SET", "b", "2"]), ok());
    replicate(&mut r, &master);
    wait_until("the second write", Duration::from_secs(20), || r.cmd(&["GET", "b"]) == Reply::bulk("2"));
    assert_eq!(field(&mut m, "stats", "sync_partial_ok"), "1");
    assert_eq!(r.cmd(&["SELECT", "0"]), ok());
    assert_eq!(r.cmd(&["DBSIZE"]), Reply::Int(0), "a write of database 9 landed in database 0");
}

#[test]
fn a_master_command_that_fails_on_the_replica_is_logged_and_may_stop_it() {
    let master = Server::start(&["--save", "", "--repl-diskless-sync-delay", "0", "--enable-debug-command", "yes"]);
    let mut replica = Server::start(&["--save", "", "--logfile", "redoxide.log"]);
    let (mut m, mut r) = (master.client(), replica.client());
    replicate(&mut r, &master);
    wait_until("the replica in sync", Duration::from_secs(20), || {
        field(&mut r, "replication", "master_link_status") == "up"
    });
    // The default, ignore: logged as Redis's afterErrorReply logs it, counted, and the replica
    // goes on with the stream.
    assert_eq!(m.cmd(&["DEBUG", "REPLICATE", "fake-command-1"]), ok());
    assert_eq!(m.cmd(&["SET", "foo", "bar"]), ok());
    wait_until("the write after it", Duration::from_secs(10), || r.cmd(&["GET", "foo"]) == Reply::bulk("bar"));
    assert_eq!(field(&mut r, "stats", "unexpected_error_replies"), "1");
    let log = log_of(&replica);
    assert!(
        log.contains(
            "== CRITICAL == This replica is sending an error to its master: 'ERR unknown command 'fake-command-1', with args beginning with: ' after processing the command '<unknown>'"
        ),
        "{log}"
    );
    // A known command that fails names itself.
    assert_eq!(r.cmd(&["CONFIG", "SET", "replica-read-only", "no"]), ok());
    assert_eq!(r.cmd(&["SET", "n", "x"]), ok());
    assert_eq!(m.cmd(&["INCRBY", "n", "1"]), Reply::Int(1));
    wait_until("the second error", Duration::from_secs(10), || {
        field(&mut r, "stats", "unexpected_error_replies") == "2"
    });
    assert!(log_of(&replica).contains("after processing the command 'incrby'"));
    // panic-on-replicas stops a read-only replica rather than let it serve diverged data.
    assert_eq!(r.cmd(&["CONFIG", "SET", "replica-read-only", "yes"]), ok());
    assert_eq!(r.cmd(&["CONFIG", "SET", "propagation-error-behavior", "panic-on-replicas"]), ok());
    assert_eq!(m.cmd(&["DEBUG", "REPLICATE", "fake-command-2"]), ok());
    assert!(replica.wait_exit(Duration::from_secs(10)).is_some_and(|s| !s.success()), "the replica kept running");
    assert!(log_of(&replica).contains("Guru Meditation: This replica panicked sending an error to its master"));
}

#[test]
fn a_replica_that_stops_reading_is_dropped_from_a_shared_transfer_after_repl_timeout() {
    let master = Server::start(&[
        "--save",
        "",
        "--repl-diskless-sync-delay",
        "5",
        "--repl-diskless-sync-max-replicas",
        "2",
        "--repl-timeout",
        "2",
        "--enable-debug-command",
        "yes",
        "--logfile",
        "redoxide.log",
    ]);
    let mut m = master.client();
    // Far more than the socket buffers hold: the transfer blocks on a replica that reads nothing.
    assert_eq!(m.cmd(&["DEBUG", "POPULATE", "200000", "key", "100"]), ok());
    // A replica that asks for a diskless sync, then never reads.
    let mut stuck = std::net::TcpStream::connect(("127.0.0.1", master.port)).expect("connect");
    std::io::Write::write_all(&mut stuck, b"REPLCONF capa eof capa psync2\r\nPSYNC ? -1\r\n").expect("send");
    let replica = Server::start(&["--save", ""]);
    let mut r = replica.client();
    replicate(&mut r, &master);
    wait_until("the reading replica in sync", Duration::from_secs(30), || {
        field(&mut r, "replication", "master_link_status") == "up"
    });
    assert_eq!(r.cmd(&["DBSIZE"]), Reply::Int(200_000));
    assert_eq!(field(&mut m, "stats", "total_forks"), "1", "the two shared one transfer");
    assert!(log_of(&master).contains("Disconnecting timedout replica (full sync)"), "{}", log_of(&master));
    assert!(log_of(&master).contains("Diskless rdb transfer, done reading from pipe, 1 replicas still up."));
    assert_eq!(field(&mut m, "replication", "connected_slaves"), "1");
    drop(stuck);
}

/// A replica loading its master's RDB answers clients only once the load has passed
/// `loading-process-events-interval-bytes` (2 MB by default), as Redis's loader does: a small
/// RDB, even a slow one (`key-load-delay`), is never seen as -LOADING; the command waits and
/// then runs. With an interval below the RDB's size, the same loop sees -LOADING.
#[test]
fn a_load_shorter_than_the_events_interval_is_never_seen_as_loading() {
    let master = Server::start(&["--save", "", "--repl-diskless-sync-delay", "0"]);
    let mut m = master.client();
    for i in 0..200 {
        assert_eq!(m.cmd(&["SET", &format!("key:{i}"), &"v".repeat(20)]), ok());
    }
    for interval in ["2097152", "1024"] {
        let replica = Server::start(&["--save", "", "--key-load-delay", "2000"]);
        let mut r = replica.client();
        assert_eq!(r.cmd(&["CONFIG", "SET", "loading-process-events-interval-bytes", interval]), ok());
        let mut probe = replica.client();
        replicate(&mut r, &master);
        let mut loading_replies = 0;
        let mut synced = false;
        // 200 keys at 2 ms each: a load of about 400 ms, polled for at most 20 s.
        for _ in 0..4000 {
            match probe.cmd(&["GET", "key:199"]) {
                Reply::Error(e) => {
                    assert!(e.starts_with("LOADING"), "{e}");
                    loading_replies += 1;
                }
                Reply::Bulk(_) => {
                    synced = true;
                    break;
                }
                _ => {}
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(synced, "the replica loaded the RDB");
        if interval == "1024" {
            assert!(loading_replies > 0, "past the interval the load answers -LOADING");
        } else {
            assert_eq!(loading_replies, 0, "a load below the interval is never seen");
        }
    }
}
