//! DEBUG, black box: gated by enable-debug-command, DIGEST equal for equal datasets whatever
//! the order they were built in, RELOAD keeps the data, SET-ACTIVE-EXPIRE 0 stops background
//! expiry, POPULATE fills keys.

mod support;

use std::time::Duration;
use support::{Reply, Server};

fn digest(c: &mut support::Client) -> String {
    match c.cmd(&["DEBUG", "DIGEST"]) {
        Reply::Simple(s) => s,
        other => panic!("DEBUG DIGEST answered {other:?}"),
    }
}

#[test]
fn debug_is_refused_unless_enabled() {
    let server = Server::start(&["--enable-debug-command", "no"]);
    let Reply::Error(e) = server.client().cmd(&["DEBUG", "DIGEST"]) else { panic!("DEBUG ran while disabled") };
    assert!(e.starts_with("ERR DEBUG command not allowed"), "{e}");
}

#[test]
fn digest_reload_populate_and_active_expire() {
    let a = Server::start(&["--enable-debug-command", "yes", "--save", ""]);
    let b = Server::start(&["--enable-debug-command", "yes", "--save", ""]);
    let (mut ca, mut cb) = (a.client(), b.client());
    assert_eq!(digest(&mut ca), "0".repeat(40), "an empty dataset digests to zeros");
    // The same data, added in a different order on each server.
    for (c, order) in [(&mut ca, ["x", "y", "z"]), (&mut cb, ["z", "x", "y"])] {
        for m in order {
            c.cmd(&["SADD", "s", m]);
            c.cmd(&["HSET", "h", m, "v"]);
        }
        c.cmd(&["RPUSH", "l", "1", "2"]);
    }
    assert_eq!(digest(&mut ca), digest(&mut cb));
    assert_eq!(ca.cmd(&["DEBUG", "DIGEST-VALUE", "s"]), cb.cmd(&["DEBUG", "DIGEST-VALUE", "s"]));
    cb.cmd(&["RPUSH", "l", "3"]);
    assert_ne!(digest(&mut ca), digest(&mut cb), "different data, different digest");
    // RELOAD: saved, emptied and loaded back, the digest is unchanged.
    let before = digest(&mut ca);
    assert_eq!(ca.cmd(&["DEBUG", "RELOAD"]), Reply::Simple("OK".into()));
    assert_eq!(digest(&mut ca), before);
    assert_eq!(ca.cmd(&["DEBUG", "POPULATE", "100", "p"]), Reply::Simple("OK".into()));
    assert_eq!(ca.cmd(&["GET", "p:7"]), Reply::bulk("value:7"));
    assert_eq!(ca.cmd(&["DBSIZE"]), Reply::Int(103));
    // With active expiry off, an expired key nobody touches stays counted; back on, it goes.
    assert_eq!(ca.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]), Reply::Simple("OK".into()));
    ca.cmd(&["SET", "gone", "v", "PX", "1"]);
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(ca.cmd(&["DBSIZE"]), Reply::Int(104));
    // DEBUG OBJECT finds it in the table as Redis's dictFind does: no expiry on the way.
    assert!(matches!(ca.cmd(&["DEBUG", "OBJECT", "gone"]), Reply::Simple(s) if s.contains("encoding:embstr")));
    assert_eq!(ca.cmd(&["DBSIZE"]), Reply::Int(104));
    ca.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "1"]);
    let mut gone = false;
    for _ in 0..50 {
        if ca.cmd(&["DBSIZE"]) == Reply::Int(103) {
            gone = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(gone, "active expiry did not resume");
}

#[test]
fn quicklist_threshold_takes_memory_units_and_protocol_push_needs_resp3() {
    let server = Server::start(&["--enable-debug-command", "yes", "--save", ""]);
    let mut c = server.client();
    assert_eq!(c.cmd(&["DEBUG", "QUICKLIST-PACKED-THRESHOLD", "1K"]), Reply::Simple("OK".into()));
    assert_eq!(c.cmd(&["DEBUG", "QUICKLIST-PACKED-THRESHOLD", "1b"]), Reply::Simple("OK".into()));
    let too_big = Reply::Error("ERR argument must be a memory value bigger than 1 and smaller than 4gb".into());
    assert_eq!(c.cmd(&["DEBUG", "QUICKLIST-PACKED-THRESHOLD", "4gb"]), too_big);
    assert_eq!(c.cmd(&["DEBUG", "QUICKLIST-PACKED-THRESHOLD", "x"]), too_big);
    assert_eq!(
        c.cmd(&["DEBUG", "PROTOCOL", "push"]),
        Reply::Error("ERR RESP2 is not supported by this command".into())
    );
    assert_eq!(c.cmd(&["DEBUG", "PROTOCOL", "attrib"]), Reply::bulk("Some real reply following the attribute"));
    c.cmd(&["HELLO", "3"]);
    assert_eq!(
        c.cmd(&["DEBUG", "PROTOCOL", "push"]),
        Reply::Push(vec![Reply::bulk("server-cpu-usage"), Reply::Int(42)])
    );
    assert_eq!(c.read(), Reply::bulk("Some real reply following the push reply"));
}

/// DEBUG SEGFAULT (the Redis Cluster tutorial's way to kill a master) and a SIGABRT from outside
/// end the process by that signal, after Redis's bug report in the log: the signal line and the
/// stack trace between the START and END markers. `crash-log-enabled no` leaves the report out
/// but the process still dies of its signal.
#[test]
fn a_crash_writes_redis_bug_report_and_dies_of_its_signal() {
    use std::os::unix::process::ExitStatusExt;
    for (how, report) in [("segfault", true), ("abort", true), ("segfault", false)] {
        let dir = std::env::temp_dir().join(format!("redoxide-crash-{how}-{report}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let log = dir.join("server.log");
        let enabled = if report { "yes" } else { "no" };
        let mut server = Server::start_in(
            &dir,
            &[
                "--enable-debug-command",
                "yes",
                "--logfile",
                log.to_str().expect("path"),
                "--crash-log-enabled",
                enabled,
            ],
        )
        .expect("start");
        let expected_signal = if how == "segfault" {
            let mut c = server.client();
            c.send(&["DEBUG", "SEGFAULT"]);
            assert!(c.is_closed_or_reset(), "the connection ends with the process");
            libc::SIGSEGV
        } else {
            server.signal("-ABRT");
            libc::SIGABRT
        };
        let status = server.wait_exit(Duration::from_secs(10)).expect("the server dies");
        assert_eq!(status.signal(), Some(expected_signal), "{how}: {status}");
        let text = std::fs::read_to_string(&log).expect("log");
        let header = format!("Redis 7.0.15 crashed by signal: {expected_signal}");
        if report {
            let start = text.find("=== REDIS BUG REPORT START").expect("start marker");
            let end = text.find("=== REDIS BUG REPORT END").expect("end marker");
            let body = &text[start..end];
            assert!(body.contains(&header), "{how}: {body}");
            assert!(body.contains("------ STACK TRACE ------"), "{how}: {body}");
            if how == "abort" {
                assert!(body.contains("Killed by PID: "), "{how}: the sender is named: {body}");
            }
        } else {
            assert!(!text.contains("REDIS BUG REPORT"), "crash-log-enabled no: {text}");
        }
        drop(server);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
