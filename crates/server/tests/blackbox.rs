//! Black-box tests of redoxide-server's own behaviour (connections, protocol handling,
//! blocking, authentication, client management), each against a real server process.

mod support;

use std::io::{Read, Write};
use std::process::Command;
use std::time::{Duration, Instant};
use support::{Client, Reply, Server};

/// A client that sends requests and closes its side at once (data and FIN may reach the server
/// together, in one readiness event) gets its replies, and the server then closes too: the
/// worker's short-read shortcut must not leave such a connection open forever.
#[test]
fn requests_followed_by_end_of_stream_are_answered_and_the_connection_closed() {
    let server = Server::start(&["--io-threads", "1"]);
    let mut admin = server.client();
    for round in 0..20 {
        let mut c = server.client();
        let pipeline: Vec<u8> = (0..8).flat_map(|i| Client::encode(&["SET", &format!("k{round}:{i}"), "v"])).collect();
        c.send_raw(&pipeline);
        c.shutdown_write();
        for _ in 0..8 {
            assert_eq!(c.read(), Reply::Simple("OK".into()));
        }
        c.set_read_timeout(Duration::from_secs(5));
        assert!(c.is_closed(), "round {round}: the server kept a half-closed connection open");
    }
    // Only the admin connection is left.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let Reply::Bulk(list) = admin.cmd(&["CLIENT", "LIST"]) else { panic!("CLIENT LIST is a bulk string") };
        if String::from_utf8_lossy(&list).lines().count() == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "connections left open: {}", String::from_utf8_lossy(&list));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(admin.cmd(&["DBSIZE"]), Reply::Int(160));
}

#[test]
fn inline_and_pipelined_requests() {
    let server = Server::start(&[]);
    let mut c = server.client();
    c.send_raw(b"PING\r\n");
    assert_eq!(c.read(), Reply::Simple("PONG".into()));
    c.send_raw(b"set \"a key\" 'x y'\r\n");
    assert_eq!(c.read(), Reply::Simple("OK".into()));
    assert_eq!(c.cmd(&["GET", "a key"]), Reply::bulk("x y"));
    let mut batch = Vec::new();
    for i in 0..200 {
        batch.extend(Client::encode(&["SET", &format!("k{i}"), &i.to_string()]));
    }
    c.send_raw(&batch);
    for _ in 0..200 {
        assert_eq!(c.read(), Reply::Simple("OK".into()));
    }
    assert_eq!(c.cmd(&["GET", "k199"]), Reply::bulk("199"));
    assert_eq!(c.cmd(&["DBSIZE"]), Reply::Int(201));
}

#[test]
fn large_value_split_across_many_reads() {
    let server = Server::start(&[]);
    let mut c = server.client();
    let value: String = (0..300_000).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    let req = Client::encode(&["SET", "big", &value]);
    for chunk in req.chunks(70_001) {
        c.send_raw(chunk);
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(c.read(), Reply::Simple("OK".into()));
    assert_eq!(c.cmd(&["GET", "big"]), Reply::Bulk(value.into_bytes()));
}

#[test]
fn protocol_error_replies_then_closes() {
    let server = Server::start(&[]);
    let mut c = server.client();
    c.send_raw(b"*1\r\n+PING\r\n");
    assert_eq!(c.read(), Reply::Error("ERR Protocol error: expected '$', got '+'".into()));
    assert!(c.is_closed());
    let mut c = server.client();
    c.send_raw(b"*abc\r\n");
    assert_eq!(c.read(), Reply::Error("ERR Protocol error: invalid multibulk length".into()));
    assert!(c.is_closed());
    // The server is still serving others.
    assert_eq!(server.client().cmd(&["PING"]), Reply::Simple("PONG".into()));
}

#[test]
fn command_errors_match_redis() {
    let server = Server::start(&[]);
    let mut c = server.client();
    assert_eq!(
        c.cmd(&["NOPE", "a", "b"]),
        Reply::Error("ERR unknown command 'NOPE', with args beginning with: 'a' 'b' ".into())
    );
    assert_eq!(c.cmd(&["GET"]), Reply::Error("ERR wrong number of arguments for 'get' command".into()));
    assert_eq!(c.cmd(&["CONFIG", "NOPE"]), Reply::Error("ERR unknown subcommand 'NOPE'. Try CONFIG HELP.".into()));
    assert_eq!(c.cmd(&["SELECT", "16"]), Reply::Error("ERR DB index is out of range".into()));
}

#[test]
fn hello_switches_protocol() {
    let server = Server::start(&[]);
    let mut c = server.client();
    assert_eq!(c.cmd(&["HELLO", "4"]), Reply::Error("NOPROTO unsupported protocol version".into()));
    let Reply::Map(fields) = c.cmd(&["HELLO", "3", "SETNAME", "tester"]) else { panic!("HELLO 3 must reply a map") };
    assert!(fields.contains(&(Reply::bulk("proto"), Reply::Int(3))));
    assert!(fields.contains(&(Reply::bulk("version"), Reply::bulk("7.0.15"))));
    assert_eq!(c.cmd(&["GET", "missing"]), Reply::Null);
    assert_eq!(c.cmd(&["CLIENT", "GETNAME"]), Reply::bulk("tester"));
    // The reply to HELLO is already in the protocol it switches to: a flat array in RESP2.
    let Reply::Array(items) = c.cmd(&["HELLO", "2"]) else { panic!("HELLO 2 replies an array") };
    assert_eq!(items.len(), 14);
    assert_eq!(items[4..6], [Reply::bulk("proto"), Reply::Int(2)]);
    assert_eq!(c.cmd(&["GET", "missing"]), Reply::Null);
}

#[test]
fn requirepass_gates_commands() {
    let server = Server::start(&["--requirepass", "s3cret"]);
    let mut c = server.client();
    assert_eq!(c.cmd(&["GET", "k"]), Reply::Error("NOAUTH Authentication required.".into()));
    assert_eq!(
        c.cmd(&["AUTH", "wrong"]),
        Reply::Error("WRONGPASS invalid username-password pair or user is disabled.".into())
    );
    assert_eq!(c.cmd(&["AUTH", "default", "s3cret"]), Reply::Simple("OK".into()));
    assert_eq!(c.cmd(&["SET", "k", "v"]), Reply::Simple("OK".into()));
    // Before authenticating, a request may not announce more than 10 arguments.
    let mut c = server.client();
    c.send_raw(b"*11\r\n");
    assert_eq!(c.read(), Reply::Error("ERR Protocol error: unauthenticated multibulk length".into()));
    assert!(c.is_closed());
}

#[test]
fn blocked_client_is_served_by_a_push_on_another_connection() {
    let server = Server::start(&["--io-threads", "2"]);
    let mut waiter = server.client();
    let mut waiter2 = server.client();
    let mut pusher = server.client();
    waiter.send(&["BLPOP", "queue", "other", "5"]);
    std::thread::sleep(Duration::from_millis(100));
    waiter2.send(&["BRPOP", "queue", "5"]);
    std::thread::sleep(Duration::from_millis(100));
    let Reply::Bulk(list) = pusher.cmd(&["CLIENT", "LIST"]) else { panic!("CLIENT LIST is a bulk string in RESP2") };
    assert_eq!(String::from_utf8_lossy(&list).matches("flags=b").count(), 2);
    assert_eq!(pusher.cmd(&["RPUSH", "queue", "first", "second"]), Reply::Int(2));
    // FIFO: the first client to block gets served first, one element each.
    assert_eq!(waiter.read(), Reply::Array(vec![Reply::bulk("queue"), Reply::bulk("first")]));
    assert_eq!(waiter2.read(), Reply::Array(vec![Reply::bulk("queue"), Reply::bulk("second")]));
    assert_eq!(pusher.cmd(&["EXISTS", "queue"]), Reply::Int(0));
    // A pipelined command after the blocking one runs once the client is served.
    waiter.send_raw(&[Client::encode(&["BLPOP", "q2", "5"]), Client::encode(&["PING"])].concat());
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(pusher.cmd(&["LPUSH", "q2", "x"]), Reply::Int(1));
    assert_eq!(waiter.read(), Reply::Array(vec![Reply::bulk("q2"), Reply::bulk("x")]));
    assert_eq!(waiter.read(), Reply::Simple("PONG".into()));
}

#[test]
fn client_unblock_ends_a_blocking_command_as_timeout_or_error() {
    let server = Server::start(&["--io-threads", "2"]);
    let mut waiter = server.client();
    let mut admin = server.client();
    let Reply::Int(id) = waiter.cmd(&["CLIENT", "ID"]) else { panic!("CLIENT ID is an integer") };
    let id = id.to_string();
    waiter.send(&["BLPOP", "nothing", "0"]);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(admin.cmd(&["CLIENT", "UNBLOCK", &id]), Reply::Int(1));
    assert_eq!(waiter.read(), Reply::Null, "a null array, as on timeout");
    assert_eq!(admin.cmd(&["CLIENT", "UNBLOCK", &id]), Reply::Int(0), "no longer blocked");
    waiter.send(&["BZPOPMIN", "nothing", "0"]);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(admin.cmd(&["CLIENT", "UNBLOCK", &id, "ERROR"]), Reply::Int(1));
    assert_eq!(waiter.read(), Reply::Error("UNBLOCKED client unblocked via CLIENT UNBLOCK".into()));
    assert_eq!(
        admin.cmd(&["CLIENT", "UNBLOCK", &id, "LATER"]),
        Reply::Error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR".into())
    );
    // The waiter is usable again, and a push to the key it waited on finds nobody waiting.
    assert_eq!(admin.cmd(&["RPUSH", "nothing", "x"]), Reply::Int(1));
    assert_eq!(waiter.cmd(&["LLEN", "nothing"]), Reply::Int(1));
}

#[test]
fn blocked_client_times_out_with_null() {
    let server = Server::start(&[]);
    let mut c = server.client();
    let started = Instant::now();
    assert_eq!(c.cmd(&["BLPOP", "nothing", "0.2"]), Reply::Null);
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(190), "returned after {waited:?}");
    assert!(waited < Duration::from_secs(3), "returned after {waited:?}");
    assert_eq!(c.cmd(&["PING"]), Reply::Simple("PONG".into()));
}

#[test]
fn client_kill_by_id_closes_the_target() {
    let server = Server::start(&["--io-threads", "2"]);
    let mut victim = server.client();
    let Reply::Int(id) = victim.cmd(&["CLIENT", "ID"]) else { panic!("CLIENT ID") };
    let mut admin = server.client();
    assert_eq!(admin.cmd(&["CLIENT", "KILL", "ID", &id.to_string()]), Reply::Int(1));
    assert!(victim.is_closed());
    assert_eq!(admin.cmd(&["CLIENT", "KILL", "ID", &id.to_string()]), Reply::Int(0));
}

#[test]
fn client_pause_write_holds_writes_not_reads() {
    let server = Server::start(&[]);
    let mut admin = server.client();
    let mut other = server.client();
    assert_eq!(admin.cmd(&["CLIENT", "PAUSE", "300", "WRITE"]), Reply::Simple("OK".into()));
    let started = Instant::now();
    assert_eq!(other.cmd(&["GET", "k"]), Reply::Null);
    assert!(started.elapsed() < Duration::from_millis(250));
    assert_eq!(other.cmd(&["SET", "k", "v"]), Reply::Simple("OK".into()));
    assert!(started.elapsed() >= Duration::from_millis(250), "write ran during the pause");
}

/// Polls INFO until `blocked_clients` is `want` (bounded: 5 s).
fn wait_blocked_clients(c: &mut Client, want: i64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let Reply::Bulk(info) = c.cmd(&["INFO", "clients"]) else { panic!("INFO") };
        let info = String::from_utf8_lossy(&info).into_owned();
        if info.contains(&format!("blocked_clients:{want}\r\n")) {
            return;
        }
        assert!(Instant::now() < deadline, "blocked_clients never reached {want}: {info}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Redis's may-replicate commands (EVAL, EVALSHA, PUBLISH, PFCOUNT...) wait out CLIENT PAUSE
/// WRITE like writes, counted as blocked clients; a script that declares no-writes does not,
/// alone or queued in MULTI. A failover's pause holds the same set.
#[test]
fn client_pause_write_holds_may_replicate_commands() {
    let server = Server::start(&[]);
    let mut admin = server.client();
    let mut other = server.client();
    other.set_read_timeout(Duration::from_secs(5));
    assert_eq!(admin.cmd(&["CLIENT", "PAUSE", "60000", "WRITE"]), Reply::Simple("OK".into()));
    let read_only = "#!lua flags=no-writes\nreturn redis.call('get', KEYS[1])";
    assert_eq!(other.cmd(&["EVAL", read_only, "1", "k"]), Reply::Null);
    assert_eq!(other.cmd(&["MULTI"]), Reply::Simple("OK".into()));
    assert_eq!(other.cmd(&["EVAL", read_only, "1", "k"]), Reply::Simple("QUEUED".into()));
    assert_eq!(other.cmd(&["EXEC"]), Reply::Array(vec![Reply::Null]));
    for held in [
        &["EVAL", "return redis.call('set', KEYS[1], 'v')", "1", "k"][..],
        &["PUBLISH", "ch", "m"][..],
        &["PFCOUNT", "hll"][..],
    ] {
        other.send(held);
        wait_blocked_clients(&mut admin, 1);
        assert_eq!(admin.cmd(&["CLIENT", "UNPAUSE"]), Reply::Simple("OK".into()));
        let reply = other.read();
        assert!(!matches!(reply, Reply::Error(_)), "{held:?} after the pause: {reply:?}");
        wait_blocked_clients(&mut admin, 0);
        assert_eq!(admin.cmd(&["CLIENT", "PAUSE", "60000", "WRITE"]), Reply::Simple("OK".into()));
    }
    assert_eq!(admin.cmd(&["CLIENT", "UNPAUSE"]), Reply::Simple("OK".into()));
    assert_eq!(other.cmd(&["GET", "k"]), Reply::bulk("v"));
}

fn expired_keys(c: &mut Client) -> String {
    let Reply::Bulk(info) = c.cmd(&["INFO", "stats"]) else { panic!("INFO") };
    let info = String::from_utf8_lossy(&info).into_owned();
    info.lines().find_map(|l| l.strip_prefix("expired_keys:").map(str::to_string)).expect("expired_keys")
}

/// While clients are paused nothing expires for real (Redis 7.0): a read finds the key gone but
/// leaves it, and the active cycle waits; after the pause the key expires and is counted.
#[test]
fn client_pause_holds_expiry() {
    let server = Server::start(&[]);
    let mut c = server.client();
    assert_eq!(c.cmd(&["SET", "k", "v", "PX", "50"]), Reply::Simple("OK".into()));
    assert_eq!(c.cmd(&["CLIENT", "PAUSE", "60000", "WRITE"]), Reply::Simple("OK".into()));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(c.cmd(&["GET", "k"]), Reply::Null);
    assert_eq!(expired_keys(&mut c), "0", "nothing expires during the pause");
    assert_eq!(c.cmd(&["CLIENT", "UNPAUSE"]), Reply::Simple("OK".into()));
    assert_eq!(c.cmd(&["GET", "k"]), Reply::Null);
    assert_eq!(expired_keys(&mut c), "1");
}

#[test]
fn databases_are_separate() {
    let server = Server::start(&[]);
    let mut c = server.client();
    c.cmd(&["SET", "k", "zero"]);
    assert_eq!(c.cmd(&["SELECT", "3"]), Reply::Simple("OK".into()));
    assert_eq!(c.cmd(&["GET", "k"]), Reply::Null);
    c.cmd(&["SET", "k", "three"]);
    assert_eq!(c.cmd(&["DBSIZE"]), Reply::Int(1));
    assert_eq!(c.cmd(&["FLUSHDB"]), Reply::Simple("OK".into()));
    assert_eq!(c.cmd(&["SELECT", "0"]), Reply::Simple("OK".into()));
    assert_eq!(c.cmd(&["GET", "k"]), Reply::bulk("zero"));
}

#[test]
fn quit_closes_after_ok() {
    let server = Server::start(&[]);
    let mut c = server.client();
    assert_eq!(c.cmd(&["QUIT"]), Reply::Simple("OK".into()));
    assert!(c.is_closed());
}

#[test]
fn unix_socket_serves_requests() {
    let dir = std::env::temp_dir().join(format!("redoxide-sock-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("redis.sock");
    let server = Server::start(&["--unixsocket", path.to_str().expect("utf8 path"), "--unixsocketperm", "700"]);
    let mut s = std::os::unix::net::UnixStream::connect(&path).expect("connect unix socket");
    s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    s.write_all(b"*1\r\n$4\r\nPING\r\n").expect("write");
    let mut buf = [0u8; 7];
    s.read_exact(&mut buf).expect("read");
    assert_eq!(&buf, b"+PONG\r\n");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unknown_directive_stops_startup_like_redis() {
    let out =
        Command::new(env!("CARGO_BIN_EXE_redoxide-server")).args(["--no-such-directive", "1"]).output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***"), "{stderr}");
    assert!(stderr.contains("Bad directive or wrong number of arguments"), "{stderr}");
}

#[test]
fn expired_keys_are_gone_lazily_and_actively() {
    let server = Server::start(&[]);
    let mut c = server.client();
    assert_eq!(c.cmd(&["SET", "lazy", "v", "PX", "50"]), Reply::Simple("OK".into()));
    for i in 0..100 {
        c.cmd(&["SET", &format!("active{i}"), "v", "PX", "50"]);
    }
    std::thread::sleep(Duration::from_millis(80));
    assert_eq!(c.cmd(&["GET", "lazy"]), Reply::Null);
    // Active expiry removes the rest without anyone touching them.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if c.cmd(&["DBSIZE"]) == Reply::Int(0) {
            break;
        }
        assert!(Instant::now() < deadline, "active expiry did not remove the keys");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn multi_exec_runs_queued_commands_in_order() {
    let server = Server::start(&[]);
    let mut c = server.client();
    assert_eq!(c.cmd(&["MULTI"]), Reply::Simple("OK".into()));
    assert_eq!(c.cmd(&["SET", "a", "1"]), Reply::Simple("QUEUED".into()));
    assert_eq!(c.cmd(&["INCR", "a"]), Reply::Simple("QUEUED".into()));
    assert_eq!(c.cmd(&["LPUSH", "a", "x"]), Reply::Simple("QUEUED".into()));
    assert_eq!(c.cmd(&["KEYS", "*"]), Reply::Simple("QUEUED".into()));
    assert_eq!(c.cmd(&["DBSIZE"]), Reply::Simple("QUEUED".into()));
    // A runtime error does not abort the others.
    assert_eq!(
        c.cmd(&["EXEC"]),
        Reply::Array(vec![
            Reply::Simple("OK".into()),
            Reply::Int(2),
            Reply::Error("WRONGTYPE Operation against a key holding the wrong kind of value".into()),
            Reply::Array(vec![Reply::bulk("a")]),
            Reply::Int(1),
        ])
    );
    assert_eq!(c.cmd(&["EXEC"]), Reply::Error("ERR EXEC without MULTI".into()));
}

#[test]
fn queueing_error_aborts_exec() {
    let server = Server::start(&[]);
    let mut c = server.client();
    c.cmd(&["MULTI"]);
    assert_eq!(c.cmd(&["SET", "k", "v"]), Reply::Simple("QUEUED".into()));
    assert_eq!(c.cmd(&["GET"]), Reply::Error("ERR wrong number of arguments for 'get' command".into()));
    assert_eq!(c.cmd(&["EXEC"]), Reply::Error("EXECABORT Transaction discarded because of previous errors.".into()));
    assert_eq!(c.cmd(&["EXISTS", "k"]), Reply::Int(0));
    assert_eq!(c.cmd(&["MULTI"]), Reply::Simple("OK".into()));
    assert_eq!(c.cmd(&["MULTI"]), Reply::Error("ERR MULTI calls can not be nested".into()));
    assert_eq!(c.cmd(&["DISCARD"]), Reply::Simple("OK".into()));
    // A refused EXEC ends the transaction (Redis's execCommandAbort), its reason without "ERR".
    c.cmd(&["WATCH", "k"]);
    c.cmd(&["MULTI"]);
    c.cmd(&["SET", "k", "v"]);
    assert_eq!(
        c.cmd(&["EXEC", "now"]),
        Reply::Error("EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command".into())
    );
    assert_eq!(c.cmd(&["EXEC"]), Reply::Error("ERR EXEC without MULTI".into()));
    assert_eq!(c.cmd(&["EXISTS", "k"]), Reply::Int(0));
}

#[test]
fn watch_fails_exec_when_another_client_writes() {
    let server = Server::start(&["--io-threads", "2"]);
    let mut c = server.client();
    let mut other = server.client();
    c.cmd(&["SET", "w", "1"]);
    assert_eq!(c.cmd(&["WATCH", "w"]), Reply::Simple("OK".into()));
    other.cmd(&["SET", "w", "2"]);
    c.cmd(&["MULTI"]);
    c.cmd(&["SET", "w", "3"]);
    assert_eq!(c.cmd(&["EXEC"]), Reply::Null);
    assert_eq!(c.cmd(&["GET", "w"]), Reply::bulk("2"));
    // Untouched watched key: EXEC goes through, and the watch ends with it.
    c.cmd(&["WATCH", "w"]);
    other.cmd(&["SET", "unrelated", "x"]);
    c.cmd(&["MULTI"]);
    c.cmd(&["SET", "w", "4"]);
    assert_eq!(c.cmd(&["EXEC"]), Reply::Array(vec![Reply::Simple("OK".into())]));
    other.cmd(&["SET", "w", "5"]);
    c.cmd(&["MULTI"]);
    c.cmd(&["GET", "w"]);
    assert_eq!(c.cmd(&["EXEC"]), Reply::Array(vec![Reply::bulk("5")]));
}

/// WATCH fires only for keys a command really wrote: not for the sources of a STORE command,
/// nor for an SMOVE destination that already had the member, nor for the keys a DEL did not
/// find (Redis's `signalModifiedKey`).
#[test]
fn watch_ignores_keys_a_command_only_read_or_left_unchanged() {
    let server = Server::start(&[]);
    let mut c = server.client();
    let mut other = server.client();
    let exec_after = |c: &mut Client, other: &mut Client, watched: &str, write: &[&str]| {
        c.cmd(&["WATCH", watched]);
        other.cmd(write);
        c.cmd(&["MULTI"]);
        c.cmd(&["PING"]);
        c.cmd(&["EXEC"])
    };
    let ran = Reply::Array(vec![Reply::Simple("PONG".into())]);
    c.cmd(&["SADD", "src{t}", "a", "b"]);
    c.cmd(&["SADD", "dst{t}", "a"]);
    assert_eq!(exec_after(&mut c, &mut other, "src{t}", &["SUNIONSTORE", "out{t}", "src{t}"]), ran);
    assert_eq!(exec_after(&mut c, &mut other, "out{t}", &["SUNIONSTORE", "out{t}", "src{t}"]), Reply::Null);
    assert_eq!(exec_after(&mut c, &mut other, "dst{t}", &["SMOVE", "src{t}", "dst{t}", "a"]), ran);
    assert_eq!(exec_after(&mut c, &mut other, "dst{t}", &["SMOVE", "src{t}", "dst{t}", "b"]), Reply::Null);
    assert_eq!(exec_after(&mut c, &mut other, "dst{t}", &["COPY", "dst{t}", "copy{t}"]), ran);
    // DEL and UNLINK signal only the keys they deleted.
    assert_eq!(exec_after(&mut c, &mut other, "gone{t}", &["DEL", "gone{t}", "copy{t}"]), ran);
    c.cmd(&["SET", "copy{t}", "x"]);
    assert_eq!(exec_after(&mut c, &mut other, "gone{t}", &["UNLINK", "copy{t}", "gone{t}"]), ran);
    c.cmd(&["SET", "copy{t}", "x"]);
    assert_eq!(exec_after(&mut c, &mut other, "copy{t}", &["DEL", "gone{t}", "copy{t}"]), Reply::Null);
    // A flush ends the watch on a key it removed, not on one that did not exist.
    assert_eq!(exec_after(&mut c, &mut other, "dst{t}", &["FLUSHALL"]), Reply::Null);
    assert_eq!(exec_after(&mut c, &mut other, "dst{t}", &["FLUSHDB"]), ran);
}

/// A flush inside EXEC ends another client's watch on a key it removed. The transaction holds
/// every slot lock of the database, so the watch check must read through those locks: it once
/// locked the watched key's slot again and the worker hung for good.
#[test]
fn flush_inside_exec_touches_watchers_without_deadlock() {
    let server = Server::start(&["--io-threads", "2"]);
    let mut c = server.client();
    let mut watcher = server.client();
    c.cmd(&["SET", "x", "1"]);
    watcher.cmd(&["WATCH", "x", "missing"]);
    c.cmd(&["MULTI"]);
    c.cmd(&["FLUSHALL"]);
    assert_eq!(c.cmd(&["EXEC"]), Reply::Array(vec![Reply::Simple("OK".into())]));
    watcher.cmd(&["MULTI"]);
    watcher.cmd(&["PING"]);
    assert_eq!(watcher.cmd(&["EXEC"]), Reply::Null);
    assert_eq!(c.cmd(&["DBSIZE"]), Reply::Int(0));
}

/// SWAPDB follows Redis's `touchAllWatchedKeysInDb`: a watch ends when the key exists on either
/// side, but a key already expired when watched that is swapped away, or replaced by another
/// expired key, and a missing key replaced by an expired one, are no logical change.
#[test]
fn swapdb_touches_watched_keys_by_their_logical_change() {
    let server = Server::start(&["--enable-debug-command", "yes"]);
    let mut c = server.client();
    let mut other = server.client();
    let ran = Reply::Array(vec![Reply::Simple("PONG".into())]);
    let exec = |c: &mut Client| {
        c.cmd(&["MULTI"]);
        c.cmd(&["PING"]);
        c.cmd(&["EXEC"])
    };
    c.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    // A live key swapped away: changed.
    c.cmd(&["SET", "live", "1"]);
    c.cmd(&["WATCH", "live"]);
    other.cmd(&["SWAPDB", "0", "1"]);
    assert_eq!(exec(&mut c), Reply::Null);
    other.cmd(&["FLUSHALL"]);
    // A stale key swapped for nothing, or for another stale key: unchanged.
    c.cmd(&["SET", "stale", "1", "PX", "1"]);
    std::thread::sleep(Duration::from_millis(5));
    c.cmd(&["WATCH", "stale"]);
    other.cmd(&["SWAPDB", "0", "1"]);
    assert_eq!(exec(&mut c), ran);
    other.cmd(&["SELECT", "1"]);
    other.cmd(&["SET", "stale", "2", "PX", "1"]);
    std::thread::sleep(Duration::from_millis(5));
    c.cmd(&["WATCH", "stale"]);
    other.cmd(&["SWAPDB", "0", "1"]);
    assert_eq!(exec(&mut c), ran);
    // A missing key replaced by a live one: changed; by a stale one: unchanged.
    other.cmd(&["FLUSHALL"]);
    other.cmd(&["SET", "k", "v"]);
    c.cmd(&["WATCH", "k"]);
    other.cmd(&["SWAPDB", "0", "1"]);
    assert_eq!(exec(&mut c), Reply::Null);
    other.cmd(&["FLUSHALL"]);
    other.cmd(&["SET", "k", "v", "PX", "1"]);
    std::thread::sleep(Duration::from_millis(5));
    c.cmd(&["WATCH", "k"]);
    other.cmd(&["SWAPDB", "0", "1"]);
    assert_eq!(exec(&mut c), ran);
}

#[test]
fn blocking_command_inside_multi_does_not_block_and_push_wakes_after_exec() {
    let server = Server::start(&["--io-threads", "2"]);
    let mut c = server.client();
    c.cmd(&["MULTI"]);
    c.cmd(&["BLPOP", "empty", "0"]);
    assert_eq!(c.cmd(&["EXEC"]), Reply::Array(vec![Reply::Null]));
    let mut waiter = server.client();
    waiter.send(&["BLPOP", "l", "5"]);
    std::thread::sleep(Duration::from_millis(100));
    c.cmd(&["MULTI"]);
    c.cmd(&["LPUSH", "l", "a"]);
    c.cmd(&["DEL", "l"]);
    c.cmd(&["SET", "l", "string"]);
    c.cmd(&["EXEC"]);
    c.cmd(&["DEL", "l"]);
    c.cmd(&["LPUSH", "l", "b"]);
    // The waiter was not woken by the transaction (the key ended up a string) but by the push.
    assert_eq!(waiter.read(), Reply::Array(vec![Reply::bulk("l"), Reply::bulk("b")]));
}

/// Redis exits inside SHUTDOWN: once the client sees its connection end, the port refuses new
/// connections (Redis's suite reconnects right away and expects "connection refused"). Two
/// workers, and the shutting-down client on each in turn (worker 0 owns the listeners); in the
/// busy rounds a script is running on the other client's thread, so the process takes a while to
/// end after the reply (the race Redis's "SHUTDOWN NOSAVE can kill a timedout script" hit), and in
/// one of them the new probe connection is handed to the busy worker, which must still answer it.
#[test]
fn the_port_refuses_connections_once_shutdown_has_closed_the_client() {
    for round in 0..4 {
        let (shutting, busy) = (round % 2, round >= 2);
        let mut server = Server::start(&["--io-threads", "2", "--busy-reply-threshold", "50"]);
        let mut clients = [server.client(), server.client()];
        for c in clients.iter_mut() {
            assert_eq!(c.cmd(&["PING"]), Reply::Simple("PONG".into()));
        }
        if busy {
            clients[1 - shutting].send(&["EVAL", "while true do end", "0"]);
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut probe = server.client();
            while !matches!(probe.cmd(&["PING"]), Reply::Error(ref e) if e.starts_with("BUSY")) {
                assert!(Instant::now() < deadline, "the script never became busy");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let c = &mut clients[shutting];
        c.set_read_timeout(Duration::from_secs(10));
        c.send(&["SHUTDOWN", "NOSAVE"]);
        assert!(c.is_closed(), "SHUTDOWN closes the connection");
        let err = std::net::TcpStream::connect(("127.0.0.1", server.port)).err();
        assert_eq!(err.map(|e| e.kind()), Some(std::io::ErrorKind::ConnectionRefused), "round {round}");
        assert!(server.wait_exit(Duration::from_secs(10)).is_some(), "the server exits");
    }
}

/// CONFIG SET port / bind move the listeners as Redis's updatePort / updateBind do: a new port
/// serves at once and the old one closes; a port in use or an address that cannot be bound is
/// refused with Redis's error, rolls back every directive of the same CONFIG SET, and leaves
/// the server where it was.
#[test]
fn config_set_port_and_bind_move_the_listeners() {
    let server = Server::start(&[]);
    let new_port = support::free_port();
    assert_eq!(server.client().cmd(&["CONFIG", "SET", "port", &new_port.to_string()]), Reply::Simple("OK".into()));
    let mut c = Client::connect(new_port);
    assert_eq!(c.cmd(&["PING"]), Reply::Simple("PONG".into()));
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(("127.0.0.1", server.port)).is_ok() {
        assert!(Instant::now() < deadline, "the old port still accepts");
        std::thread::sleep(Duration::from_millis(20));
    }
    let Reply::Bulk(info) = c.cmd(&["INFO", "server"]) else { panic!("INFO") };
    assert!(String::from_utf8_lossy(&info).contains(&format!("tcp_port:{new_port}\r\n")));

    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let taken_port = taken.local_addr().expect("addr").port().to_string();
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "maxmemory", "10000001", "port", &taken_port, "client-query-buffer-limit", "10m"]),
        Reply::Error(
            "ERR CONFIG SET failed (possibly related to argument 'port') - Unable to listen on this port. Check server logs."
                .into()
        )
    );
    let get = |c: &mut Client, name: &str| c.cmd(&["CONFIG", "GET", name]);
    assert_eq!(get(&mut c, "maxmemory"), Reply::Array(vec![Reply::bulk("maxmemory"), Reply::bulk("0")]));
    assert_eq!(
        get(&mut c, "client-query-buffer-limit"),
        Reply::Array(vec![Reply::bulk("client-query-buffer-limit"), Reply::bulk("1073741824")])
    );
    assert_eq!(get(&mut c, "port"), Reply::Array(vec![Reply::bulk("port"), Reply::bulk(&new_port.to_string())]));
    assert_eq!(Client::connect(new_port).cmd(&["PING"]), Reply::Simple("PONG".into()));

    assert_eq!(
        c.cmd(&["CONFIG", "SET", "bind", "999.999.999.999"]),
        Reply::Error(
            "ERR CONFIG SET failed (possibly related to argument 'bind') - Failed to bind to specified addresses."
                .into()
        )
    );
    // Same port, other address list: the old sockets close before the new ones bind.
    assert_eq!(c.cmd(&["CONFIG", "SET", "bind", "127.0.0.1 -::1"]), Reply::Simple("OK".into()));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        // A connection the old socket took just before it closed is reset: try again.
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", new_port)) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut reply = [0u8; 7];
            if stream.write_all(b"PING\r\n").is_ok() && stream.read_exact(&mut reply).is_ok() {
                assert_eq!(&reply, b"+PONG\r\n");
                break;
            }
        }
        assert!(Instant::now() < deadline, "nothing listens after the rebind");
        std::thread::sleep(Duration::from_millis(20));
    }
    // From no TCP listener at all, the addresses are bound before CONFIG SET answers: a client
    // connecting right after it is served (Redis's "CONFIG REWRITE handles empty bindaddr").
    assert_eq!(c.cmd(&["CONFIG", "SET", "bind", ""]), Reply::Simple("OK".into()));
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(("127.0.0.1", new_port)).is_ok() {
        assert!(Instant::now() < deadline, "bind \"\" left a listener");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(c.cmd(&["CONFIG", "SET", "bind", "127.0.0.1"]), Reply::Simple("OK".into()));
    assert_eq!(Client::connect(new_port).cmd(&["PING"]), Reply::Simple("PONG".into()));
    drop(taken);
}

/// `rename-command` takes effect: the old name is unknown, the new one runs the command, and an
/// empty new name removes it.
#[test]
fn rename_command_moves_and_removes_commands() {
    let server = Server::start(&["--rename-command", "flushdb", "badger", "--rename-command", "keys", ""]);
    let mut c = server.client();
    assert_eq!(c.cmd(&["SET", "k", "v"]), Reply::Simple("OK".into()));
    assert_eq!(c.cmd(&["FLUSHDB"]), Reply::Error("ERR unknown command 'FLUSHDB', with args beginning with: ".into()));
    assert_eq!(
        c.cmd(&["KEYS", "*"]),
        Reply::Error("ERR unknown command 'KEYS', with args beginning with: '*' ".into())
    );
    assert_eq!(c.cmd(&["DBSIZE"]), Reply::Int(1));
    assert_eq!(c.cmd(&["BADGER"]), Reply::Simple("OK".into()));
    assert_eq!(c.cmd(&["DBSIZE"]), Reply::Int(0));
}

/// The process title (`/proc/PID/cmdline`, what `ps` shows) is `proc-title-template` expanded,
/// as Redis's setproctitle makes it, and follows CONFIG SET of the template and of the port.
#[test]
fn the_process_title_follows_the_template_and_the_port() {
    let server = Server::start(&[]);
    let title = || {
        let raw = std::fs::read(format!("/proc/{}/cmdline", server.pid())).expect("cmdline");
        let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
        String::from_utf8_lossy(&raw[..end]).into_owned()
    };
    let port = server.port;
    let program = env!("CARGO_BIN_EXE_redoxide-server");
    assert_eq!(title(), format!("{program} 127.0.0.1:{port}"), "the default template");
    let mut c = server.client();
    let template = "TEST {title} {listen-addr} {port} {tls-port} {config-file}";
    assert_eq!(c.cmd(&["CONFIG", "SET", "proc-title-template", template]), Reply::Simple("OK".into()));
    assert_eq!(title(), format!("TEST {program} 127.0.0.1:{port} {port} 0 -"));
    let new_port = support::free_port();
    assert_eq!(c.cmd(&["CONFIG", "SET", "port", &new_port.to_string()]), Reply::Simple("OK".into()));
    assert_eq!(title(), format!("TEST {program} 127.0.0.1:{new_port} {new_port} 0 -"));
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "proc-title-template", "{invalid-var}"]),
        Reply::Error(
            "ERR CONFIG SET failed (possibly related to argument 'proc-title-template') - template format is invalid or contains unknown variables"
                .into()
        )
    );
    assert!(title().starts_with("TEST "), "a refused template changes nothing");
}
