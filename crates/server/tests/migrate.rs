//! MIGRATE against real servers: redoxide → redoxide, redoxide → Debian's redis-server 7.0.15
//! and redis-server → redoxide, for every value type; and the same request sequences run with
//! redis-server as the source, whose replies ours must equal (errors, NOKEY, BUSYKEY, AUTH,
//! unreachable or silent targets, a target restarted under a cached connection).
//! Every server runs on a free 127.0.0.1 port and is killed by its pid when its guard drops.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use support::{cluster_port, free_port, listens_on, Client, Reply};

const REDIS_SERVER: &str = "/usr/bin/redis-server";

/// A server process (Debian's redis-server, or ours where a test must choose its port), killed
/// by pid on drop.
struct Proc {
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Proc {
    fn redis(extra: &[&str]) -> Proc {
        Proc::start_fresh(REDIS_SERVER, free_port, extra)
    }

    /// redis-server on this very port (a restart where the old one ran).
    fn redis_on(port: u16, extra: &[&str]) -> Proc {
        Proc::launch(REDIS_SERVER, port, extra).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Our server, on a free port.
    fn ours(extra: &[&str]) -> Proc {
        Proc::start_fresh(env!("CARGO_BIN_EXE_redoxide-server"), free_port, extra)
    }

    /// redis-server in cluster mode, on a port whose bus port (+10000) exists and is free.
    fn redis_cluster() -> Proc {
        Proc::start_fresh(
            REDIS_SERVER,
            cluster_port,
            &["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"],
        )
    }

    /// Our server in cluster mode, on a port as `redis_cluster` chooses it.
    fn ours_cluster() -> Proc {
        Proc::start_fresh(env!("CARGO_BIN_EXE_redoxide-server"), cluster_port, &["--cluster-enabled", "yes"])
    }

    /// Starts `binary` on a port from `pick`, on another one if a different process took the
    /// port between the pick and the bind (other test suites start servers on this machine too).
    fn start_fresh(binary: &str, pick: fn() -> u16, extra: &[&str]) -> Proc {
        let mut last = String::new();
        for _ in 0..5 {
            match Proc::launch(binary, pick(), extra) {
                Ok(p) => return p,
                Err(e) => last = e,
            }
        }
        panic!("{last}")
    }

    /// Starts `binary` on `port` and waits (bounded) until that process, by its pid, listens
    /// there: a listener of someone else on the port does not count.
    fn launch(binary: &str, port: u16, extra: &[&str]) -> Result<Proc, String> {
        let dir = std::env::temp_dir().join(format!("redoxide-migrate-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let child = Command::new(binary)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--dir", dir.to_str().expect("utf-8 dir")])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{binary} must be installed (compat/install-deps.sh): {e}"));
        let mut proc = Proc { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if !matches!(proc.child.try_wait(), Ok(None)) {
                return Err(format!("{binary} exited at start on {port}"));
            }
            if listens_on(proc.child.id(), port) && TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(proc);
            }
            if Instant::now() > deadline {
                return Err(format!("{binary} did not start on {port}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn err(text: &str) -> Reply {
    Reply::Error(text.into())
}

fn ok() -> Reply {
    Reply::Simple("OK".into())
}

fn migrate(c: &mut Client, target: u16, key: &str, db: &str, timeout_ms: &str, extra: &[&str]) -> Reply {
    let port = target.to_string();
    let mut args = vec!["MIGRATE", "127.0.0.1", &port, key, db, timeout_ms];
    args.extend_from_slice(extra);
    c.cmd(&args)
}

fn info_text(c: &mut Client, section: &str) -> String {
    match c.cmd(&["INFO", section]) {
        Reply::Bulk(b) | Reply::Verbatim(_, b) => String::from_utf8_lossy(&b).into_owned(),
        other => panic!("INFO replied {other:?}"),
    }
}

fn info_field(c: &mut Client, section: &str, field: &str) -> i64 {
    let text = info_text(c, section);
    let prefix = format!("{field}:");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("INFO {section} has no {field}"))
        .trim()
        .parse()
        .expect("numeric INFO field")
}

/// Sends a request whose arguments may be binary.
fn cmd_bytes(c: &mut Client, args: &[&[u8]]) -> Reply {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    c.send_raw(&out);
    c.read()
}

fn items(r: Reply) -> Vec<Vec<u8>> {
    match r {
        Reply::Array(v) => v
            .into_iter()
            .map(|x| match x {
                Reply::Bulk(b) => b,
                other => panic!("expected bulk items, got {other:?}"),
            })
            .collect(),
        other => panic!("expected an array, got {other:?}"),
    }
}

/// A key's type and contents, in an order that does not depend on the server's encoding.
fn contents(c: &mut Client, key: &str) -> (String, Vec<Vec<u8>>) {
    let Reply::Simple(ty) = c.cmd(&["TYPE", key]) else { panic!("TYPE replies a status") };
    let data = match ty.as_str() {
        "none" => Vec::new(),
        "string" => match c.cmd(&["GET", key]) {
            Reply::Bulk(b) => vec![b],
            other => panic!("GET replied {other:?}"),
        },
        "list" => items(c.cmd(&["LRANGE", key, "0", "-1"])),
        "set" => {
            let mut v = items(c.cmd(&["SMEMBERS", key]));
            v.sort();
            v
        }
        "hash" => {
            let flat = items(c.cmd(&["HGETALL", key]));
            let mut pairs: Vec<Vec<u8>> =
                flat.chunks(2).map(|p| [p[0].as_slice(), b"=", p[1].as_slice()].concat()).collect();
            pairs.sort();
            pairs
        }
        "zset" => items(c.cmd(&["ZRANGE", key, "0", "-1", "WITHSCORES"])),
        other => panic!("unexpected type {other}"),
    };
    (ty, data)
}

/// Letters from a small LCG: long values that LZF cannot shrink much.
fn noise(len: usize, seed: u64) -> String {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            char::from(b'a' + ((x >> 33) % 26) as u8)
        })
        .collect()
}

/// Creates keys of every type, small and large encodings, some with a TTL; returns their names.
fn fill(c: &mut Client) -> Vec<String> {
    let mut send = |args: &[&str]| {
        let r = c.cmd(args);
        assert!(!matches!(r, Reply::Error(_)), "{args:?} failed: {r:?}");
    };
    send(&["SET", "str", "hello"]);
    send(&["SET", "int", "-1234567"]);
    send(&["SET", "big:noise", &noise(200_000, 1)]);
    send(&["SET", "big:zeros", &"0".repeat(150_000)]);
    send(&["SET", "ttl:str", "soon"]);
    send(&["PEXPIRE", "ttl:str", "100000"]);
    send(&["PFADD", "hll", "a", "b", "c", "d"]);
    send(&["RPUSH", "list", "a", "1", "", "b"]);
    let long_items: Vec<String> = (0..1500).map(|i| format!("item-{i}-{}", noise(i % 90, i as u64))).collect();
    for chunk in long_items.chunks(100) {
        let mut args = vec!["RPUSH", "big:list"];
        args.extend(chunk.iter().map(String::as_str));
        send(&args);
    }
    send(&["SADD", "set:ints", "1", "2", "300", "-5"]);
    send(&["SADD", "set:strs", "x", "y", "z"]);
    let members: Vec<String> = (0..800).map(|i| format!("m{i}")).collect();
    for chunk in members.chunks(100) {
        let mut args = vec!["SADD", "big:set"];
        args.extend(chunk.iter().map(String::as_str));
        send(&args);
    }
    send(&["HSET", "hash", "f1", "v1", "f2", "2"]);
    for chunk in members.chunks(50) {
        let mut args = vec!["HSET", "big:hash"];
        for m in chunk {
            args.push(m);
            args.push(m);
        }
        send(&args);
    }
    send(&["HSET", "ttl:hash", "a", "b"]);
    send(&["PEXPIRE", "ttl:hash", "200000"]);
    send(&["ZADD", "zset", "1", "a", "2.5", "b", "-inf", "c"]);
    let scored: Vec<(String, String)> =
        (0..300).map(|i| (format!("{}", i as f64 * 1.25 - 7.0), format!("z{i}"))).collect();
    for chunk in scored.chunks(50) {
        let mut args = vec!["ZADD", "big:zset"];
        for (s, m) in chunk {
            args.push(s);
            args.push(m);
        }
        send(&args);
    }
    [
        "str",
        "int",
        "big:noise",
        "big:zeros",
        "ttl:str",
        "hll",
        "list",
        "big:list",
        "set:ints",
        "set:strs",
        "big:set",
        "hash",
        "big:hash",
        "ttl:hash",
        "zset",
        "big:zset",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Moves every type from `src` to `dst` (the single-key form for half of them, the KEYS form
/// for the rest, into database 2) and checks the target holds the same values and TTLs and
/// the source holds nothing.
fn migrate_every_type(src: u16, dst: u16) {
    let mut s = Client::connect(src);
    let mut d = Client::connect(dst);
    let keys = fill(&mut s);
    let before: Vec<_> = keys.iter().map(|k| contents(&mut s, k)).collect();
    let (single, multi) = keys.split_at(keys.len() / 2);
    for k in single {
        assert_eq!(migrate(&mut s, dst, k, "2", "5000", &[]), ok(), "MIGRATE {k}");
    }
    let mut extra = vec!["KEYS"];
    extra.extend(multi.iter().map(String::as_str));
    assert_eq!(migrate(&mut s, dst, "", "2", "5000", &extra), ok());
    assert_eq!(s.cmd(&["DBSIZE"]), Reply::Int(0), "the source still holds keys");
    assert_eq!(d.cmd(&["SELECT", "2"]), ok());
    for (k, want) in keys.iter().zip(&before) {
        assert_eq!(&contents(&mut d, k), want, "{k} differs on the target");
    }
    for (k, limit) in [("ttl:str", 100_000), ("ttl:hash", 200_000)] {
        let Reply::Int(ttl) = d.cmd(&["PTTL", k]) else { panic!("PTTL replies an integer") };
        assert!(ttl > 0 && ttl <= limit, "{k}: TTL {ttl} not in (0, {limit}]");
    }
    assert_eq!(d.cmd(&["PTTL", "big:set"]), Reply::Int(-1));
    // The target's copies survive a DUMP/RESTORE round trip there too (well-formed payloads).
    let Reply::Bulk(payload) = d.cmd(&["DUMP", "big:zset"]) else { panic!("DUMP replies a bulk") };
    assert!(!payload.is_empty());
}

#[test]
fn every_type_redoxide_to_redoxide() {
    let src = Proc::ours(&[]);
    let dst = Proc::ours(&[]);
    migrate_every_type(src.port, dst.port);
}

#[test]
fn every_type_redoxide_to_redis() {
    let src = Proc::ours(&[]);
    let dst = Proc::redis(&[]);
    migrate_every_type(src.port, dst.port);
}

#[test]
fn every_type_redis_to_redoxide() {
    let src = Proc::redis(&[]);
    let dst = Proc::ours(&[]);
    migrate_every_type(src.port, dst.port);
}

/// One request sequence covering argument errors, NOKEY, KEYS with missing keys, COPY, REPLACE,
/// BUSYKEY, target errors and unreachable targets (a closed port is "writing" in Redis 7.0.15,
/// a bad port or address "connecting"); returns every reply and the state it left.
fn option_scenario(src: u16, dst: u16, closed: u16) -> Vec<Reply> {
    let mut s = Client::connect(src);
    let mut d = Client::connect(dst);
    let mut log = Vec::new();
    for args in [
        vec!["MIGRATE", "127.0.0.1", "1", "k", "0"],
        vec!["MIGRATE", "127.0.0.1", "1", "k", "0", "10", "NOPE"],
        vec!["MIGRATE", "127.0.0.1", "1", "k", "x", "10", "NOPE"],
        vec!["MIGRATE", "127.0.0.1", "1", "k", "x", "10"],
        vec!["MIGRATE", "127.0.0.1", "1", "k", "0", "ten"],
        vec!["MIGRATE", "127.0.0.1", "1", "k", "0", "9223372036854775808"],
        vec!["MIGRATE", "127.0.0.1", "1", "k", "0", "10", "AUTH"],
        vec!["MIGRATE", "127.0.0.1", "1", "k", "0", "10", "AUTH2", "user"],
        vec!["MIGRATE", "127.0.0.1", "1", "k", "0", "10", "KEYS", "a"],
        vec!["MIGRATE", "127.0.0.1", "1", "k", "0", "10", "COPY", "REPLACE", "bogus"],
        vec!["MIGRATE", "127.0.0.1", "1", "", "0", "10", "KEYS"],
        vec!["MIGRATE", "127.0.0.1", "1", "nosuchkey", "0", "10"],
    ] {
        log.push(s.cmd(&args));
    }
    for args in [
        vec!["SET", "a", "1"],
        vec!["SET", "b", "2"],
        vec!["SET", "c", "3"],
        vec!["SET", "busy", "src"],
        vec!["SET", "keep", "src"],
        vec!["SET", "dup", "src"],
        vec!["SET", "dup2", "src"],
    ] {
        s.cmd(&args);
    }
    d.cmd(&["SET", "busy", "dst"]);
    let closed_port = closed.to_string();
    log.push(s.cmd(&["MIGRATE", "127.0.0.1", &closed_port, "a", "0", "1000"]));
    log.push(s.cmd(&["MIGRATE", "127.0.0.1", "not a port", "a", "0", "1000"]));
    log.push(s.cmd(&["MIGRATE", "127.0.0.1", "-1", "a", "0", "1000"]));
    log.push(s.cmd(&["MIGRATE", "256.0.0.1", &closed_port, "a", "0", "1000"]));
    log.push(migrate(&mut s, dst, "", "0", "1000", &["KEYS", "missing1", "missing2"]));
    log.push(migrate(&mut s, dst, "", "0", "1000", &["KEYS", "a", "missing", "b"]));
    log.push(migrate(&mut s, dst, "keep", "0", "1000", &["COPY"]));
    // The largest timeout there is (no deadline overflow), to a live target and to a closed port.
    log.push(migrate(&mut s, dst, "keep", "0", "9223372036854775807", &["COPY", "REPLACE"]));
    log.push(s.cmd(&["MIGRATE", "127.0.0.1", &closed_port, "keep", "0", "9223372036854775807"]));
    log.push(migrate(&mut s, dst, "busy", "0", "1000", &[]));
    log.push(migrate(&mut s, dst, "busy", "0", "1000", &["COPY", "REPLACE"]));
    // A key named twice is sent twice: the second RESTORE finds the first's key.
    log.push(migrate(&mut s, dst, "", "0", "1000", &["KEYS", "dup", "dup"]));
    log.push(migrate(&mut s, dst, "", "0", "1000", &["REPLACE", "KEYS", "dup2", "dup2"]));
    log.push(migrate(&mut s, dst, "c", "99", "1000", &[]));
    log.push(migrate(&mut s, dst, "c", "-1", "1000", &[]));
    log.push(migrate(&mut s, dst, "c", "1", "1000", &["AUTH", "nopass"]));
    log.push(migrate(&mut s, dst, "c", "1", "1000", &[]));
    for k in ["a", "b", "c", "busy", "keep", "missing", "dup", "dup2"] {
        log.push(s.cmd(&["EXISTS", k]));
        log.push(d.cmd(&["GET", k]));
    }
    d.cmd(&["SELECT", "1"]);
    log.push(d.cmd(&["GET", "c"]));
    log
}

#[test]
fn replies_and_effects_match_redis_as_source() {
    let closed = free_port();
    let ours_src = Proc::ours(&[]);
    let ours_dst = Proc::redis(&[]);
    let theirs_src = Proc::redis(&[]);
    let theirs_dst = Proc::redis(&[]);
    let ours = option_scenario(ours_src.port, ours_dst.port, closed);
    let theirs = option_scenario(theirs_src.port, theirs_dst.port, closed);
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(a, b, "step {i} differs from redis-server");
    }
    assert_eq!(ours.len(), theirs.len());
    // The scenario did reach the cases it is about.
    assert!(ours.contains(&err("ERR Target instance replied with error: BUSYKEY Target key name already exists.")));
    assert!(ours.contains(&err("IOERR error or timeout connecting to the client")));
    assert!(ours.contains(&err("IOERR error or timeout writing to target instance")));
    assert!(ours.contains(&Reply::Simple("NOKEY".into())));
    assert!(ours.contains(&err("ERR When using MIGRATE KEYS option, the key argument must be set to the empty string")));
}

/// AUTH and AUTH2 against a target with requirepass; the replies for each case.
fn auth_scenario(src: u16, dst: u16) -> Vec<Reply> {
    let mut s = Client::connect(src);
    let mut log = Vec::new();
    for k in ["k1", "k2", "k3", "k4", "k5"] {
        s.cmd(&["SET", k, k]);
    }
    log.push(migrate(&mut s, dst, "k1", "0", "1000", &[]));
    log.push(migrate(&mut s, dst, "k1", "0", "1000", &["AUTH", "wrong"]));
    log.push(migrate(&mut s, dst, "k1", "0", "1000", &["AUTH2", "default", "wrong"]));
    log.push(migrate(&mut s, dst, "k1", "0", "1000", &["AUTH", "s3cret"]));
    log.push(migrate(&mut s, dst, "k2", "0", "1000", &["AUTH2", "default", "s3cret"]));
    log.push(migrate(&mut s, dst, "", "0", "1000", &["AUTH", "s3cret", "KEYS", "k3", "k4"]));
    let mut d = Client::connect(dst);
    log.push(d.cmd(&["AUTH", "s3cret"]));
    for k in ["k1", "k2", "k3", "k4", "k5"] {
        log.push(s.cmd(&["EXISTS", k]));
        log.push(d.cmd(&["GET", k]));
    }
    log
}

#[test]
fn auth_and_auth2_match_redis() {
    let ours_src = Proc::ours(&[]);
    let theirs_src = Proc::redis(&[]);
    let redis_dst = [Proc::redis(&["--requirepass", "s3cret"]), Proc::redis(&["--requirepass", "s3cret"])];
    let ours_dst = [Proc::ours(&["--requirepass", "s3cret"]), Proc::ours(&["--requirepass", "s3cret"])];
    let reference = auth_scenario(theirs_src.port, redis_dst[0].port);
    assert_eq!(reference[3], ok(), "the scenario must reach a successful AUTH");
    // Our server as the source, against redis-server as the target.
    assert_eq!(auth_scenario(ours_src.port, redis_dst[1].port), reference);
    // Our server as the target, with either server as the source (fresh source keys each time).
    let ours_src2 = Proc::ours(&[]);
    assert_eq!(auth_scenario(ours_src2.port, ours_dst[0].port), reference);
    let theirs_src2 = Proc::redis(&[]);
    assert_eq!(auth_scenario(theirs_src2.port, ours_dst[1].port), reference);
}

/// A target that accepts connections, reads everything and never answers.
struct Silent {
    port: u16,
    stop: mpsc::Sender<()>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Silent {
    fn start() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            // Bounded: the test drops the guard (stop) long before this many rounds.
            for _ in 0..3000 {
                if stopped.try_recv().is_ok() {
                    break;
                }
                if let Ok((conn, _)) = listener.accept() {
                    held.push(conn);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        Silent { port, stop, thread: Some(thread) }
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        let _ = self.stop.send(());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn a_silent_target_times_out_and_keeps_the_key() {
    let silent = Silent::start();
    let ours = Proc::ours(&[]);
    let theirs = Proc::redis(&[]);
    for port in [ours.port, theirs.port] {
        let mut s = Client::connect(port);
        s.cmd(&["SET", "k", "v"]);
        let started = Instant::now();
        let reply = migrate(&mut s, silent.port, "k", "0", "300", &[]);
        assert_eq!(reply, err("IOERR error or timeout reading to target instance"), "server on {port}");
        // The timeout was honoured (the client's own read timeout is 10 s).
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert_eq!(s.cmd(&["GET", "k"]), Reply::bulk("v"));
        // The server is still serving, and that key's slot is free again.
        assert_eq!(Client::connect(port).cmd(&["SET", "k", "w"]), ok());
    }
}

#[test]
fn cached_connection_is_reused_and_retried_after_the_target_restarts() {
    for source_is_ours in [true, false] {
        let (_ours, _theirs);
        let src = if source_is_ours {
            _ours = Proc::ours(&[]);
            _ours.port
        } else {
            _theirs = Proc::redis(&[]);
            _theirs.port
        };
        let port = free_port();
        let target = Proc::redis_on(port, &[]);
        let mut s = Client::connect(src);
        for k in ["a", "b", "c"] {
            s.cmd(&["SET", k, k]);
        }
        assert_eq!(migrate(&mut s, port, "a", "0", "2000", &[]), ok());
        let mut t = Client::connect(port);
        let conns = info_field(&mut t, "stats", "total_connections_received");
        assert_eq!(info_field(&mut s, "stats", "migrate_cached_sockets"), 1);
        assert_eq!(migrate(&mut s, port, "b", "0", "2000", &[]), ok());
        assert_eq!(info_field(&mut t, "stats", "total_connections_received"), conns, "a second connection was made");
        drop(t);
        drop(target);
        let target = Proc::redis_on(port, &[]);
        // The cached socket is dead: the first attempt fails, the retry on a new one succeeds.
        assert_eq!(migrate(&mut s, port, "c", "0", "2000", &[]), ok(), "source ours: {source_is_ours}");
        assert_eq!(Client::connect(target.port).cmd(&["GET", "c"]), Reply::bulk("c"));
        assert_eq!(s.cmd(&["EXISTS", "c"]), Reply::Int(0));
    }
}

/// The deletion of migrated keys: `del` events, dirty count, WATCH, compared with redis-server.
fn effects_scenario(src: u16, dst: u16) -> Vec<Reply> {
    let mut s = Client::connect(src);
    let mut sub = Client::connect(src);
    let mut watcher = Client::connect(src);
    let mut log = Vec::new();
    log.push(s.cmd(&["CONFIG", "SET", "notify-keyspace-events", "KEg"]));
    log.push(sub.cmd(&["PSUBSCRIBE", "__key*__:*"]));
    s.cmd(&["MSET", "x", "1", "y", "2", "z", "3"]);
    log.push(watcher.cmd(&["WATCH", "x"]));
    let dirty = info_field(&mut s, "persistence", "rdb_changes_since_last_save");
    log.push(migrate(&mut s, dst, "", "0", "1000", &["KEYS", "x", "nope", "y"]));
    log.push(migrate(&mut s, dst, "z", "0", "1000", &["COPY"]));
    log.push(Reply::Int(info_field(&mut s, "persistence", "rdb_changes_since_last_save") - dirty));
    log.push(watcher.cmd(&["MULTI"]));
    log.push(watcher.cmd(&["SET", "w", "1"]));
    log.push(watcher.cmd(&["EXEC"]));
    // Four messages: keyspace and keyevent for x, then for y; nothing for the COPY.
    for _ in 0..4 {
        log.push(sub.read());
    }
    log.push(s.cmd(&["PUBLISH", "__keyspace@0__:end", "end"]));
    log.push(sub.read());
    // MIGRATE inside a transaction, after a write to the same key.
    log.push(s.cmd(&["MULTI"]));
    log.push(s.cmd(&["SET", "t", "in-tx"]));
    log.push(migrate(&mut s, dst, "t", "0", "1000", &[]));
    log.push(s.cmd(&["EXISTS", "t"]));
    log.push(s.cmd(&["EXEC"]));
    log.push(Client::connect(dst).cmd(&["GET", "t"]));
    log
}

#[test]
fn deletion_effects_match_redis() {
    let ours_src = Proc::ours(&[]);
    let theirs_src = Proc::redis(&[]);
    let dst = [Proc::redis(&[]), Proc::redis(&[])];
    let ours = effects_scenario(ours_src.port, dst[0].port);
    let theirs = effects_scenario(theirs_src.port, dst[1].port);
    assert_eq!(ours, theirs);
    assert_eq!(ours[5], Reply::Int(2), "two keys deleted, two changes");
}

/// A target that answers each complete request with +OK, but only after the test says so.
fn gated_target(listener: TcpListener, received: mpsc::Sender<()>, release: mpsc::Receiver<()>) {
    let Ok((mut conn, _)) = listener.accept() else { return };
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    // SELECT + RESTORE: wait (bounded by the read timeout) until both have arrived whole.
    while count_requests(&buf) < 2 {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let _ = received.send(());
    if release.recv_timeout(Duration::from_secs(10)).is_ok() {
        let _ = conn.write_all(b"+OK\r\n+OK\r\n");
    }
    std::thread::sleep(Duration::from_millis(200));
}

/// How many complete RESP multibulk requests `buf` holds.
fn count_requests(buf: &[u8]) -> usize {
    let mut pos = 0;
    let mut count = 0;
    let line = |pos: usize| -> Option<(i64, usize)> {
        let end = buf[pos..].windows(2).position(|w| w == b"\r\n")? + pos;
        let n = std::str::from_utf8(&buf[pos + 1..end]).ok()?.parse().ok()?;
        Some((n, end + 2))
    };
    'outer: while pos < buf.len() {
        let Some((argc, mut p)) = line(pos) else { break };
        for _ in 0..argc {
            let Some((len, q)) = line(p) else { break 'outer };
            p = q + len as usize + 2;
            if p > buf.len() {
                break 'outer;
            }
        }
        pos = p;
        count += 1;
    }
    count
}

/// A write to a key between its dump and its deletion is not lost: the slot stays locked
/// while MIGRATE waits for the target, so the SET runs after the deletion and its value stays.
#[test]
fn a_write_during_migration_is_not_lost() {
    let server = Proc::ours(&["--io-threads", "2"]);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (received_tx, received) = mpsc::channel();
    let (release, release_rx) = mpsc::channel();
    let target = std::thread::spawn(move || gated_target(listener, received_tx, release_rx));
    let mut a = Client::connect(server.port);
    a.cmd(&["SET", "k", "old"]);
    a.send(&["MIGRATE", "127.0.0.1", &port.to_string(), "k", "0", "5000"]);
    received.recv_timeout(Duration::from_secs(10)).expect("the target got the RESTORE");
    // Another connection (another worker) writes the key while MIGRATE waits for the reply.
    let mut b = Client::connect(server.port);
    b.send(&["SET", "k", "new"]);
    std::thread::sleep(Duration::from_millis(100));
    release.send(()).expect("release the target");
    assert_eq!(a.read(), ok());
    assert_eq!(b.read(), ok());
    assert_eq!(a.cmd(&["GET", "k"]), Reply::bulk("new"));
    let _ = target.join();
}

/// A redis-server in cluster mode sends RESTORE-ASKING; our server takes it as RESTORE.
#[test]
fn redis_in_cluster_mode_migrates_into_redoxide_with_restore_asking() {
    let src = Proc::redis_cluster();
    let dst = Proc::ours(&[]);
    let mut s = Client::connect(src.port);
    assert_eq!(s.cmd(&["CLUSTER", "ADDSLOTSRANGE", "0", "16383"]), ok());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if info_cluster_ok(&mut s) {
            break;
        }
        assert!(Instant::now() < deadline, "the one-node cluster never became ok");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(s.cmd(&["SET", "k", "v"]), ok());
    assert_eq!(s.cmd(&["SADD", "s", "a", "b"]), Reply::Int(2));
    assert_eq!(migrate(&mut s, dst.port, "k", "0", "2000", &[]), ok());
    assert_eq!(migrate(&mut s, dst.port, "s", "0", "2000", &["COPY"]), ok());
    let mut d = Client::connect(dst.port);
    assert_eq!(d.cmd(&["GET", "k"]), Reply::bulk("v"));
    assert_eq!(contents(&mut d, "s"), ("set".to_string(), vec![b"a".to_vec(), b"b".to_vec()]));
    let stats = info_text(&mut d, "commandstats");
    assert!(stats.contains("cmdstat_restore-asking:calls=2,"), "no RESTORE-ASKING seen: {stats}");
    // And its replies are RESTORE's, as in redis-server.
    assert_eq!(
        migrate(&mut s, dst.port, "s", "0", "2000", &[]),
        err("ERR Target instance replied with error: BUSYKEY Target key name already exists.")
    );
    let other = Proc::redis(&[]);
    let mut r = Client::connect(other.port);
    let Reply::Bulk(payload) = d.cmd(&["DUMP", "k"]) else { panic!("DUMP replies a bulk") };
    for c in [&mut d, &mut r] {
        let bad = cmd_bytes(c, &[b"RESTORE-ASKING", b"k2", b"0", b"bad"]);
        assert_eq!(bad, err("ERR DUMP payload version or checksum are wrong"));
        assert_eq!(cmd_bytes(c, &[b"RESTORE-ASKING", b"k3", b"0", &payload]), ok());
        assert_eq!(
            cmd_bytes(c, &[b"RESTORE-ASKING", b"k3", b"0", &payload]),
            err("BUSYKEY Target key name already exists.")
        );
        assert_eq!(c.cmd(&["GET", "k3"]), Reply::bulk("v"));
    }
}

fn info_cluster_ok(c: &mut Client) -> bool {
    match c.cmd(&["CLUSTER", "INFO"]) {
        Reply::Bulk(b) => String::from_utf8_lossy(&b).contains("cluster_state:ok"),
        _ => false,
    }
}

/// At most 64 cached connections: the 65th target name evicts one (each name below is a
/// different cache entry for the same server: Redis keys the cache by the text of the port).
#[test]
fn at_most_64_cached_connections_as_redis() {
    let ours = Proc::ours(&[]);
    let theirs = Proc::redis(&[]);
    for src in [ours.port, theirs.port] {
        let target = Proc::redis(&[]);
        let mut s = Client::connect(src);
        let mut t = Client::connect(target.port);
        for i in 0..65 {
            let key = format!("k{i}");
            s.cmd(&["SET", &key, "v"]);
            let port = format!("{}{}", "0".repeat(i), target.port);
            assert_eq!(s.cmd(&["MIGRATE", "127.0.0.1", &port, &key, "0", "2000"]), ok());
        }
        assert_eq!(info_field(&mut s, "stats", "migrate_cached_sockets"), 64, "source on {src}");
        assert_eq!(t.cmd(&["DBSIZE"]), Reply::Int(65));
        // The evicted connection was closed: 64 cached ones plus this client remain.
        let deadline = Instant::now() + Duration::from_secs(10);
        while info_field(&mut t, "clients", "connected_clients") != 65 {
            assert!(Instant::now() < deadline, "the evicted connection stayed open");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A cached connection unused for 10 s is closed (Redis: MIGRATE_SOCKET_CACHE_TTL).
#[test]
fn idle_cached_connections_are_closed_after_ten_seconds() {
    let ours = Proc::ours(&[]);
    let theirs = Proc::redis(&[]);
    let target = Proc::redis(&[]);
    let mut sources: Vec<Client> = [ours.port, theirs.port].iter().map(|&p| Client::connect(p)).collect();
    let started = Instant::now();
    for (i, s) in sources.iter_mut().enumerate() {
        let key = format!("k{i}");
        s.cmd(&["SET", &key, "v"]);
        assert_eq!(migrate(s, target.port, &key, "0", "2000", &[]), ok());
        assert_eq!(info_field(s, "stats", "migrate_cached_sockets"), 1);
    }
    let mut closed_after = Vec::new();
    for s in &mut sources {
        let deadline = Instant::now() + Duration::from_secs(20);
        while info_field(s, "stats", "migrate_cached_sockets") != 0 {
            assert!(Instant::now() < deadline, "the idle connection was never closed");
            std::thread::sleep(Duration::from_millis(200));
        }
        closed_after.push(started.elapsed());
    }
    for after in closed_after {
        assert!(after >= Duration::from_secs(9), "closed after {after:?}, before the 10 s TTL");
    }
    let mut t = Client::connect(target.port);
    assert_eq!(info_field(&mut t, "clients", "connected_clients"), 1);
}

/// A one-node cluster (all slots, state ok) of our server or of redis-server.
fn wait_cluster_ok(port: u16) {
    let mut c = Client::connect(port);
    assert_eq!(c.cmd(&["CLUSTER", "ADDSLOTSRANGE", "0", "16383"]), ok());
    let deadline = Instant::now() + Duration::from_secs(20);
    while !info_cluster_ok(&mut c) {
        assert!(Instant::now() < deadline, "the one-node cluster on {port} never became ok");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// In cluster mode MIGRATE sends RESTORE-ASKING, and its keys follow the cluster's rules
/// (CROSSSLOT for keys of different slots): our node against redis-server's, same requests.
fn cluster_scenario(src: u16, dst: u16) -> Vec<Reply> {
    wait_cluster_ok(src);
    let mut s = Client::connect(src);
    let mut d = Client::connect(dst);
    let mut log = vec![
        s.cmd(&["SET", "k", "v"]),
        s.cmd(&["SADD", "{k}s", "a", "b"]),
        s.cmd(&["SET", "x", "1"]),
        s.cmd(&["SET", "y", "2"]),
    ];
    log.push(migrate(&mut s, dst, "k", "0", "1000", &["COPY"]));
    log.push(migrate(&mut s, dst, "", "0", "1000", &["REPLACE", "KEYS", "k", "{k}s"]));
    log.push(migrate(&mut s, dst, "", "0", "1000", &["KEYS", "x", "y"]));
    log.push(migrate(&mut s, dst, "x", "1", "1000", &[]));
    log.push(migrate(&mut s, dst, "nokey", "0", "1000", &[]));
    for k in ["k", "{k}s", "x", "y"] {
        log.push(s.cmd(&["EXISTS", k]));
    }
    let stats = info_text(&mut d, "commandstats");
    let calls = |name: &str| -> i64 {
        let prefix = format!("cmdstat_{name}:calls=");
        let line = stats.lines().find_map(|l| l.strip_prefix(&prefix)).unwrap_or("0");
        line.split(',').next().and_then(|n| n.parse().ok()).unwrap_or(-1)
    };
    log.push(Reply::Int(calls("restore-asking")));
    log.push(Reply::Int(calls("restore")));
    log.push(d.cmd(&["DBSIZE"]));
    log
}

#[test]
fn cluster_mode_sends_restore_asking_as_redis() {
    let ours = Proc::ours_cluster();
    let theirs = Proc::redis_cluster();
    let targets = [Proc::redis(&[]), Proc::redis(&[])];
    let reference = cluster_scenario(theirs.port, targets[0].port);
    assert!(reference.contains(&err("CROSSSLOT Keys in request don't hash to the same slot")));
    assert!(matches!(reference[13], Reply::Int(n) if n > 0), "redis-server sent no RESTORE-ASKING: {reference:?}");
    assert_eq!(cluster_scenario(ours.port, targets[1].port), reference);
}

/// A cluster-mode target accepts MIGRATE's SELECT 0 and refuses any other database, as a
/// redis-server node does.
fn into_cluster_scenario(src: u16, dst: u16) -> Vec<Reply> {
    wait_cluster_ok(dst);
    let mut s = Client::connect(src);
    s.cmd(&["MSET", "a", "1", "b", "2"]);
    let log = vec![
        migrate(&mut s, dst, "a", "0", "1000", &[]),
        migrate(&mut s, dst, "b", "1", "1000", &[]),
        migrate(&mut s, dst, "b", "0", "1000", &["COPY"]),
        s.cmd(&["EXISTS", "a", "b"]),
        Client::connect(dst).cmd(&["MGET", "a"]),
        Client::connect(dst).cmd(&["GET", "b"]),
    ];
    log
}

#[test]
fn a_cluster_mode_target_takes_select_0_as_redis() {
    let sources = [Proc::redis(&[]), Proc::redis(&[])];
    let theirs = Proc::redis_cluster();
    let ours = Proc::ours_cluster();
    let reference = into_cluster_scenario(sources[0].port, theirs.port);
    assert_eq!(reference[0], ok());
    assert_eq!(into_cluster_scenario(sources[1].port, ours.port), reference);
}

/// Runs redis-cli with `args`, killed if it runs longer than `bound`; its exit success and
/// output (stdout and stderr).
fn redis_cli(args: &[&str], bound: Duration) -> (bool, String) {
    let dir = std::env::temp_dir().join(format!("redoxide-migrate-cli-{}-{}", std::process::id(), free_port()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let out_path = dir.join("out");
    let out = std::fs::File::create(&out_path).expect("output file");
    let err = out.try_clone().expect("output file");
    let mut child = Command::new("/usr/bin/redis-cli")
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("redis-cli 7.0.15 must be installed");
    let deadline = Instant::now() + bound;
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = std::fs::read_to_string(&out_path).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    (status.is_some_and(|s| s.success()), text)
}

fn node_id(c: &mut Client) -> String {
    let Reply::Bulk(id) = c.cmd(&["CLUSTER", "MYID"]) else { panic!("CLUSTER MYID replies a bulk") };
    String::from_utf8(id).expect("ascii node id")
}

/// `redis-cli --cluster check` reports no problem (retried while the nodes converge, bounded).
fn wait_cluster_clean(port: u16) {
    let addr = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (ok, out) = redis_cli(&["--cluster", "check", &addr], Duration::from_secs(30));
        if ok && !out.contains("[ERR]") && !out.contains("[WARNING]") {
            return;
        }
        assert!(Instant::now() < deadline, "the cluster never became clean:\n{out}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// redis-cli --cluster reshard moves slots with their keys by MIGRATE: from our node to a
/// redis-server node, then from that node to another of ours. Every key arrives with its value
/// and TTL, and the cluster ends clean.
#[test]
fn redis_cli_reshard_moves_keys_between_our_nodes_and_redis_server() {
    let nodes = [Proc::ours_cluster(), Proc::redis_cluster(), Proc::ours_cluster()];
    let addrs: Vec<String> = nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)).collect();
    let mut args = vec!["--cluster", "create"];
    args.extend(addrs.iter().map(String::as_str));
    args.extend(["--cluster-replicas", "0", "--cluster-yes"]);
    let (created, out) = redis_cli(&args, Duration::from_secs(120));
    assert!(created && out.contains("[OK] All 16384 slots covered."), "cluster create failed:\n{out}");
    for n in &nodes {
        let mut c = Client::connect(n.port);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !info_cluster_ok(&mut c) {
            assert!(Instant::now() < deadline, "node {} never reached cluster_state:ok", n.port);
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    wait_cluster_clean(nodes[0].port);

    // Keys in the first 8 slots, which `create` gave the first node and reshard moves first.
    const SLOTS: u16 = 8;
    let mut keys: Vec<String> = Vec::new();
    let mut per_slot = [0usize; SLOTS as usize];
    let mut i = 0u64;
    while per_slot.iter().any(|&n| n < 3) {
        let key = format!("key:{i}");
        let slot = keyspace::key_hash_slot(key.as_bytes());
        if slot < SLOTS && per_slot[slot as usize] < 3 {
            per_slot[slot as usize] += 1;
            keys.push(key);
        }
        i += 1;
        assert!(i < 50_000_000, "no keys found for the first slots");
    }
    let mut a = Client::connect(nodes[0].port);
    for (n, key) in keys.iter().enumerate() {
        assert_eq!(a.cmd(&["RPUSH", key, "x", &n.to_string()]), Reply::Int(2), "{key}");
        if n % 2 == 0 {
            assert_eq!(a.cmd(&["PEXPIRE", key, "600000"]), Reply::Int(1));
        }
    }
    let ids: Vec<String> = nodes.iter().map(|n| node_id(&mut Client::connect(n.port))).collect();
    let slots = SLOTS.to_string();
    for (from, to) in [(0, 1), (1, 2)] {
        let (ok, out) = redis_cli(
            &[
                "--cluster",
                "reshard",
                &addrs[from],
                "--cluster-from",
                &ids[from],
                "--cluster-to",
                &ids[to],
                "--cluster-slots",
                &slots,
                "--cluster-yes",
                "--cluster-pipeline",
                "2",
            ],
            Duration::from_secs(240),
        );
        assert!(ok && !out.contains("ERR"), "reshard {from} -> {to} failed:\n{out}");
        wait_cluster_clean(nodes[0].port);
    }
    let mut c = Client::connect(nodes[2].port);
    for (n, key) in keys.iter().enumerate() {
        let values = items(c.cmd(&["LRANGE", key, "0", "-1"]));
        assert_eq!(values, vec![b"x".to_vec(), n.to_string().into_bytes()], "{key} on the last node");
        let Reply::Int(ttl) = c.cmd(&["PTTL", key]) else { panic!("PTTL replies an integer") };
        if n % 2 == 0 {
            assert!(ttl > 0 && ttl <= 600_000, "{key}: TTL {ttl}");
        } else {
            assert_eq!(ttl, -1, "{key}");
        }
    }
    for n in &nodes[..2] {
        assert_eq!(Client::connect(n.port).cmd(&["DBSIZE"]), Reply::Int(0), "node {} kept keys", n.port);
    }
}
