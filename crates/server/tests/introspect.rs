//! SLOWLOG, LATENCY and MONITOR, black box, on a server with several workers: what Redis's Tcl
//! units do not check (MONITOR lines from clients on other workers, redaction in both logs,
//! EXEC's commands logged one by one, MONITOR ending with RESET and refused inside MULTI).
//! Durations are never asserted beyond "the threshold let it in". Also CLIENT LIST's view of an
//! idle client's read buffer.

mod support;

use support::{Client, Reply, Server};

fn start() -> Server {
    Server::start(&["--io-threads", "3", "--enable-debug-command", "yes", "--save", ""])
}

fn int(r: Reply) -> i64 {
    match r {
        Reply::Int(n) => n,
        other => panic!("expected an integer, got {other:?}"),
    }
}

/// The argument lists of SLOWLOG GET's entries, newest first.
fn slowlog_argvs(c: &mut Client) -> Vec<Vec<String>> {
    let Reply::Array(entries) = c.cmd(&["SLOWLOG", "GET", "-1"]) else { panic!("SLOWLOG GET") };
    entries
        .into_iter()
        .map(|e| {
            let Reply::Array(fields) = e else { panic!("entry {e:?}") };
            assert_eq!(fields.len(), 6);
            let Reply::Array(argv) = &fields[3] else { panic!("argv {:?}", fields[3]) };
            argv.iter()
                .map(|a| match a {
                    Reply::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
                    other => panic!("arg {other:?}"),
                })
                .collect()
        })
        .collect()
}

#[test]
fn slowlog_logs_trims_redacts_and_splits_exec() {
    let server = start();
    let mut c = server.client();
    assert_eq!(int(c.cmd(&["SLOWLOG", "LEN"])), 0);
    c.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    c.cmd(&["SLOWLOG", "RESET"]);
    c.cmd(&["CLIENT", "SETNAME", "me"]);
    c.cmd(&["CONFIG", "SET", "masterauth", "secret"]);
    let long = "x".repeat(130);
    c.cmd(&["SET", "k", &long]);
    c.cmd(&["MULTI"]);
    c.cmd(&["INCR", "n"]);
    c.cmd(&["GET", "n"]);
    c.cmd(&["EXEC"]);
    c.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "-1"]);
    let argvs = slowlog_argvs(&mut c);
    // EXEC itself is not logged (skip_slowlog), its commands are; the last CONFIG SET is
    // judged by the threshold it set, so it is absent.
    let expect: Vec<Vec<String>> = [
        vec!["GET", "n"],
        vec!["INCR", "n"],
        vec!["MULTI"],
        vec!["SET", "k", &format!("{}... (2 more bytes)", "x".repeat(128))],
        vec!["CONFIG", "SET", "masterauth", "(redacted)"],
        vec!["CLIENT", "SETNAME", "me"],
        vec!["SLOWLOG", "RESET"],
    ]
    .iter()
    .map(|v| v.iter().map(|s| s.to_string()).collect())
    .collect();
    assert_eq!(argvs, expect);
    let Reply::Array(entries) = c.cmd(&["SLOWLOG", "GET", "1"]) else { panic!() };
    let Reply::Array(fields) = &entries[0] else { panic!() };
    assert_eq!(fields[5], Reply::bulk("me"));
    assert_eq!(
        c.cmd(&["SLOWLOG", "GET", "-2"]),
        Reply::Error("ERR count should be greater than or equal to -1".into())
    );
    assert_eq!(
        c.cmd(&["SLOWLOG", "GET", "1", "2"]),
        Reply::Error("ERR unknown subcommand or wrong number of arguments for 'GET'. Try SLOWLOG HELP.".into())
    );
    c.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "0", "slowlog-max-len", "2"]);
    for _ in 0..5 {
        c.cmd(&["PING"]);
    }
    assert_eq!(int(c.cmd(&["SLOWLOG", "LEN"])), 2);
}

#[test]
fn latency_records_command_events_above_the_threshold() {
    let server = start();
    let mut c = server.client();
    assert_eq!(c.cmd(&["LATENCY", "LATEST"]), Reply::Array(vec![]));
    c.cmd(&["CONFIG", "SET", "latency-monitor-threshold", "50"]);
    c.cmd(&["DEBUG", "SLEEP", "0.1"]);
    let Reply::Array(latest) = c.cmd(&["LATENCY", "LATEST"]) else { panic!() };
    assert_eq!(latest.len(), 1);
    let Reply::Array(ev) = &latest[0] else { panic!() };
    assert_eq!(ev[0], Reply::bulk("command"));
    assert!(matches!(ev[2], Reply::Int(ms) if ms >= 50));
    let Reply::Array(history) = c.cmd(&["LATENCY", "HISTORY", "command"]) else { panic!() };
    assert_eq!(history.len(), 1);
    assert_eq!(c.cmd(&["LATENCY", "HISTORY", "nope"]), Reply::Array(vec![]));
    assert_eq!(c.cmd(&["LATENCY", "GRAPH", "nope"]), Reply::Error("ERR No samples available for event 'nope'".into()));
    assert_eq!(int(c.cmd(&["LATENCY", "RESET", "nope"])), 0);
    assert_eq!(int(c.cmd(&["LATENCY", "RESET"])), 1);
    assert_eq!(c.cmd(&["LATENCY", "LATEST"]), Reply::Array(vec![]));
}

fn monitor_line(m: &mut Client) -> String {
    match m.read() {
        Reply::Simple(s) => s,
        other => panic!("monitor sent {other:?}"),
    }
}

#[test]
fn monitor_sees_every_worker_redacts_and_ends_with_reset() {
    let server = start();
    let mut m = server.client();
    assert_eq!(m.cmd(&["MONITOR"]), Reply::Simple("OK".into()));
    // Several connections: with three workers they land on different threads.
    let mut clients: Vec<Client> = (0..3).map(|_| server.client()).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        c.cmd(&["SET", &format!("k{i}"), "a \"b\"\n"]);
    }
    let mut lines: Vec<String> = (0..3).map(|_| monitor_line(&mut m)).collect();
    lines.sort();
    for (i, line) in lines.iter().enumerate() {
        let tail = format!("] \"SET\" \"k{i}\" \"a \\\"b\\\"\\n\"");
        assert!(line.ends_with(&tail), "{line:?}");
        assert!(line.contains(" [0 127.0.0.1:"), "{line:?}");
    }
    let c = &mut clients[0];
    c.cmd(&["AUTH", "nobody", "secret"]);
    assert!(monitor_line(&mut m).ends_with("\"AUTH\" \"(redacted)\" \"(redacted)\""));
    // Admin commands are not shown; EXEC's commands are, between MULTI and EXEC.
    c.cmd(&["CONFIG", "GET", "port"]);
    c.cmd(&["MULTI"]);
    c.cmd(&["GET", "k0"]);
    c.cmd(&["EXEC"]);
    assert!(monitor_line(&mut m).ends_with("\"MULTI\""));
    assert!(monitor_line(&mut m).ends_with("\"GET\" \"k0\""));
    assert!(monitor_line(&mut m).ends_with("\"EXEC\""));
    assert!(matches!(c.cmd(&["CLIENT", "LIST"]), Reply::Bulk(b) if String::from_utf8_lossy(&b).contains("flags=O")));
    // MONITOR queued in a transaction is refused at EXEC.
    c.cmd(&["MULTI"]);
    c.cmd(&["MONITOR"]);
    assert_eq!(
        c.cmd(&["EXEC"]),
        Reply::Array(vec![Reply::Error("ERR MONITOR isn't allowed for DENY BLOCKING client".into())])
    );
    assert!(monitor_line(&mut m).ends_with("\"MULTI\""));
    assert!(monitor_line(&mut m).ends_with("\"EXEC\""));
    assert_eq!(m.cmd(&["RESET"]), Reply::Simple("RESET".into()));
    c.cmd(&["SET", "after", "reset"]);
    assert_eq!(m.cmd(&["PING"]), Reply::Simple("PONG".into()), "no monitor line after RESET");
}

/// A blocked command is a slow-log entry when it is unblocked, as itself (BLPOP, not the LPOP it
/// became), whether served by a push from another client, timed out, or unblocked by CLIENT
/// UNBLOCK (Redis's updateStatsOnUnblock).
#[test]
fn blocked_commands_are_logged_when_unblocked() {
    let server = start();
    let mut c = server.client();
    assert_eq!(c.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]), Reply::Simple("OK".into()));
    let mut blocked = server.client();
    let Reply::Int(id) = blocked.cmd(&["CLIENT", "ID"]) else { panic!("CLIENT ID") };
    let wait_blocked = |c: &mut Client| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !matches!(c.cmd(&["CLIENT", "LIST", "ID", &id.to_string()]), Reply::Bulk(ref b) if String::from_utf8_lossy(b).contains("flags=b"))
        {
            assert!(std::time::Instant::now() < deadline, "never blocked");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    };
    // Served inside an EXEC whose queue resets the log (EXEC itself is never logged).
    blocked.send(&["BLPOP", "l", "0"]);
    wait_blocked(&mut c);
    assert_eq!(c.cmd(&["MULTI"]), Reply::Simple("OK".into()));
    assert_eq!(c.cmd(&["LPUSH", "l", "foo"]), Reply::Simple("QUEUED".into()));
    assert_eq!(c.cmd(&["SLOWLOG", "RESET"]), Reply::Simple("QUEUED".into()));
    assert!(matches!(c.cmd(&["EXEC"]), Reply::Array(_)));
    assert_eq!(blocked.read(), Reply::Array(vec![Reply::bulk("l"), Reply::bulk("foo")]));
    assert_eq!(slowlog_argvs(&mut c).first(), Some(&vec!["BLPOP".to_string(), "l".into(), "0".into()]));
    // Unblocked by CLIENT UNBLOCK.
    blocked.send(&["BRPOP", "other", "0"]);
    wait_blocked(&mut c);
    assert_eq!(c.cmd(&["SLOWLOG", "RESET"]), Reply::Simple("OK".into()));
    assert_eq!(c.cmd(&["CLIENT", "UNBLOCK", &id.to_string()]), Reply::Int(1));
    assert_eq!(blocked.read(), Reply::Null);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !slowlog_argvs(&mut c).iter().any(|a| a == &["BRPOP", "other", "0"]) {
        assert!(std::time::Instant::now() < deadline, "the unblocked BRPOP was not logged");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// An idle client's read buffer is given back after 2 s with nothing buffered (Redis's
/// clientsCronResizeQueryBuffer), which CLIENT LIST shows as `qbuf-free` dropping to 0; the
/// client is served as before afterwards.
#[test]
fn an_idle_clients_read_buffer_is_given_back() {
    let server = Server::start(&[]);
    let mut idle = server.client();
    idle.cmd(&["CLIENT", "SETNAME", "idler"]);
    let mut admin = server.client();
    let qbuf_free = |admin: &mut support::Client| -> u64 {
        let list = match admin.cmd(&["CLIENT", "LIST"]) {
            Reply::Bulk(b) | Reply::Verbatim(_, b) => String::from_utf8_lossy(&b).into_owned(),
            other => panic!("CLIENT LIST replied {other:?}"),
        };
        let line = list.lines().find(|l| l.contains("name=idler")).expect("the idle client").to_string();
        let field = line.split(' ').find_map(|f| f.strip_prefix("qbuf-free=")).expect("qbuf-free");
        field.parse().expect("a number")
    };
    assert_eq!(qbuf_free(&mut admin), 16384, "a client that sent something holds a 16 KB read buffer");
    support::wait_until("the idle buffer to be given back", std::time::Duration::from_secs(10), || {
        qbuf_free(&mut admin) == 0
    });
    assert_eq!(idle.cmd(&["PING"]), Reply::Simple("PONG".into()));
}
