//! The append-only file, black box, against real processes: a restart (after kill -9) keeps
//! every type and TTL; `appendfsync always` keeps every acknowledged write through repeated
//! kill -9; Debian's redis-server 7.0.15 loads the AOF directory we write and we load the one
//! it writes (datasets compared key by key); a truncated tail is trimmed; a corrupt middle
//! stops start-up naming file and offset; BGREWRITEAOF under writes loses nothing; and the
//! commands we log are the ones redis-server logs for the same requests.

mod support;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{free_port, Client, Reply, Server};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("redoxide-aof-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Removes a test's directory when the test ends, also on failure.
struct DirGuard(PathBuf);

impl Drop for DirGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const AOF_ON: &[&str] = &["--appendonly", "yes", "--save", ""];
const DEBUG_AOF_ON: &[&str] = &["--appendonly", "yes", "--save", "", "--enable-debug-command", "local"];

/// Debian's redis-server, started on a free port in `dir`, killed (SIGKILL) by pid on drop.
struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    fn start(dir: &Path, extra: &[&str]) -> RedisServer {
        let port = free_port();
        let mut args: Vec<String> =
            vec!["--port".into(), port.to_string(), "--bind".into(), "127.0.0.1".into(), "--dir".into()];
        args.push(dir.display().to_string());
        args.extend(extra.iter().map(|s| s.to_string()));
        let child = Command::new("redis-server")
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server (Debian's 7.0.15 is the test oracle)");
        let mut server = RedisServer { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                // Listening comes before the AOF is loaded: wait until it answers.
                let mut c = server.client();
                for _ in 0..500 {
                    if c.cmd(&["PING"]) == Reply::Simple("PONG".into()) {
                        return server;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("redis-server exited during start-up: {status}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server did not start on port {port}");
    }

    fn client(&self) -> Client {
        Client::connect(self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cmd(c: &mut Client, args: &[&str]) -> Reply {
    c.cmd(args)
}

fn ok(c: &mut Client, args: &[&str]) {
    let r = c.cmd(args);
    assert!(!matches!(r, Reply::Error(_)), "{args:?} -> {r:?}");
}

/// A sample of every type, TTLs (relative and absolute), several databases, and the commands
/// whose propagated form differs from what the client sent.
fn write_sample(c: &mut Client) {
    for args in [
        &["SET", "s", "hello"][..],
        &["SET", "n", "41"],
        &["INCR", "n"],
        &["SET", "ttl", "v", "EX", "100000"],
        &["SETEX", "ttl2", "100000", "v"],
        &["SET", "pttl", "v"],
        &["PEXPIRE", "pttl", "50000000"],
        &["SET", "gone", "v"],
        &["EXPIRE", "gone", "-1"],
        &["INCRBYFLOAT", "f", "1.1"],
        &["INCRBYFLOAT", "f", "2.25"],
        &["RPUSH", "l", "a", "b", "c", "d"],
        &["LPOP", "l"],
        &["HSET", "h", "f1", "v1", "f2", "v2"],
        &["HINCRBYFLOAT", "h", "x", "0.5"],
        &["SADD", "set", "a", "b", "c", "d"],
        &["SADD", "one", "m"],
        &["SPOP", "one"],
        &["ZADD", "z", "1", "a", "2.5", "b", "3", "c"],
        &["ZPOPMIN", "z"],
        &["PFADD", "hll", "a", "b", "c"],
        &["GETEX", "s", "PX", "90000000"],
        &["SELECT", "3"],
        &["SET", "in3", "x"],
        &["LPUSH", "l3", "x", "y"],
        &["SELECT", "0"],
        &["MULTI"],
        &["SET", "tx1", "1"],
        &["INCR", "tx1"],
        &["RPUSH", "tx2", "a"],
        &["EXEC"],
    ] {
        ok(c, args);
    }
}

/// Every key of every database: type, value (collections in a canonical order) and absolute
/// expiry, so two servers' datasets compare exactly.
fn dataset(c: &mut Client) -> Vec<String> {
    let mut out = Vec::new();
    for db in 0..16 {
        ok(c, &["SELECT", &db.to_string()]);
        let Reply::Array(keys) = cmd(c, &["KEYS", "*"]) else { panic!("KEYS") };
        let mut keys: Vec<String> = keys
            .into_iter()
            .map(|k| match k {
                Reply::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
                other => panic!("key {other:?}"),
            })
            .collect();
        keys.sort();
        for k in keys {
            let Reply::Simple(t) = cmd(c, &["TYPE", &k]) else { panic!("TYPE") };
            let value = match t.as_str() {
                "string" => format!("{:?}", cmd(c, &["GET", &k])),
                "list" => format!("{:?}", cmd(c, &["LRANGE", &k, "0", "-1"])),
                "set" => sorted(cmd(c, &["SMEMBERS", &k])),
                "hash" => sorted(cmd(c, &["HGETALL", &k])),
                "zset" => format!("{:?}", cmd(c, &["ZRANGE", &k, "0", "-1", "WITHSCORES"])),
                other => other.to_string(),
            };
            let expire = cmd(c, &["PEXPIRETIME", &k]);
            out.push(format!("db{db} {k} {t} {value} {expire:?}"));
        }
    }
    ok(c, &["SELECT", "0"]);
    out
}

fn sorted(r: Reply) -> String {
    let Reply::Array(items) = r else { return format!("{r:?}") };
    let mut items: Vec<String> = items.iter().map(|i| format!("{i:?}")).collect();
    items.sort();
    items.join(",")
}

fn wait_rewrite_done(c: &mut Client) {
    for _ in 0..1000 {
        if info_field(c, "aof_rewrite_in_progress") == "0" && info_field(c, "aof_rewrite_scheduled") == "0" {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("the AOF rewrite did not finish within 20 s");
}

fn info_field(c: &mut Client, name: &str) -> String {
    let Reply::Bulk(info) = cmd(c, &["INFO", "persistence"]) else { panic!("INFO") };
    let info = String::from_utf8_lossy(&info).into_owned();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")).map(str::to_string))
        .unwrap_or_else(|| panic!("no {name} in {info}"))
}

/// True if the server exits with a failure during start-up (it listens before it loads, as
/// redis-server does, so the port alone does not tell).
fn start_refused(dir: &Path, args: &[&str]) -> bool {
    match Server::start_in(dir, args) {
        Err(_) => true,
        Ok(mut s) => s.wait_exit(Duration::from_secs(10)).is_some_and(|status| !status.success()),
    }
}

fn incr_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("appendonlydir"))
        .expect("appendonlydir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".incr.aof"))
        .collect();
    v.sort();
    v
}

/// With the AOF on, a server killed with SIGKILL comes back with every type, TTL and database.
#[test]
fn restart_after_kill_keeps_every_type_and_ttl() {
    let dir = temp_dir("restart");
    let _guard = DirGuard(dir.clone());
    let before = {
        let server = Server::start_in(&dir, DEBUG_AOF_ON).expect("start");
        let mut c = server.client();
        write_sample(&mut c);
        let data = dataset(&mut c);
        // DEBUG LOADAOF empties the keyspace and reads the files back: the same data.
        assert_eq!(cmd(&mut c, &["DEBUG", "LOADAOF"]), Reply::Simple("OK".into()));
        assert_eq!(dataset(&mut c), data, "after DEBUG LOADAOF");
        data
    };
    assert!(before.iter().any(|l| l.starts_with("db3 in3")), "{before:?}");
    assert!(!before.iter().any(|l| l.contains(" gone ")), "EXPIRE -1 deleted it");
    let server = Server::start_in(&dir, AOF_ON).expect("restart");
    let mut c = server.client();
    assert_eq!(dataset(&mut c), before);
    // And once more: the incr file we now append to still loads after the first restart.
    ok(&mut c, &["SET", "after", "restart"]);
    let again = dataset(&mut c);
    drop(server);
    let server = Server::start_in(&dir, AOF_ON).expect("second restart");
    assert_eq!(dataset(&mut server.client()), again);
}

/// `appendfsync always`: every write acknowledged before a kill -9 is there after the restart.
#[test]
fn appendfsync_always_keeps_every_acknowledged_write_through_kill_9() {
    let dir = temp_dir("always");
    let _guard = DirGuard(dir.clone());
    let args = ["--appendonly", "yes", "--save", "", "--appendfsync", "always"];
    let mut acked = 0u64;
    for round in 0..3 {
        let server = Server::start_in(&dir, &args).expect("start");
        let mut c = server.client();
        assert_eq!(
            cmd(&mut c, &["GET", "counter"]),
            if acked == 0 { Reply::Null } else { Reply::bulk(&acked.to_string()) }
        );
        let stop = Arc::new(AtomicBool::new(false));
        let acked_now = Arc::new(AtomicU64::new(acked));
        let writer = {
            let (stop, acked_now, port) = (stop.clone(), acked_now.clone(), server.port);
            std::thread::spawn(move || {
                let mut c = Client::connect(port);
                c.set_read_timeout(Duration::from_secs(2));
                // Bounded: at most this many writes per round, or until the server dies.
                for _ in 0..100_000 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    c.send(&["INCR", "counter"]);
                    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| c.read())) {
                        Ok(Reply::Int(n)) => acked_now.store(n as u64, Ordering::SeqCst),
                        _ => break,
                    }
                }
            })
        };
        std::thread::sleep(Duration::from_millis(300 + 150 * round));
        drop(server); // SIGKILL, mid-stream
        stop.store(true, Ordering::Relaxed);
        let _ = writer.join();
        let last_ack = acked_now.load(Ordering::SeqCst);
        assert!(last_ack > acked, "round {round}: no write was acknowledged");
        let server = Server::start_in(&dir, &args).expect("restart");
        let Reply::Bulk(v) = cmd(&mut server.client(), &["GET", "counter"]) else { panic!("counter missing") };
        let v: u64 = String::from_utf8_lossy(&v).parse().expect("a number");
        // One INCR may have reached the disk without its reply reaching us.
        assert!(v == last_ack || v == last_ack + 1, "round {round}: acknowledged {last_ack}, found {v}");
        acked = v;
    }
}

/// Redis 7.0.15 loads the AOF directory we wrote, and we load the one it wrote for the same
/// commands: the datasets are the same key by key.
#[test]
fn redis_server_and_we_load_each_others_aof_directories() {
    let ours = temp_dir("ours");
    let theirs = temp_dir("theirs");
    let _g1 = DirGuard(ours.clone());
    let _g2 = DirGuard(theirs.clone());
    let (our_data, their_data);
    {
        let server = Server::start_in(&ours, AOF_ON).expect("start");
        let mut c = server.client();
        write_sample(&mut c);
        our_data = dataset(&mut c);
    }
    {
        let redis = RedisServer::start(&theirs, AOF_ON);
        let mut c = redis.client();
        write_sample(&mut c);
        their_data = dataset(&mut c);
    }
    // Same commands, same data (absolute expiry times differ by when each ran).
    let strip = |d: &[String]| {
        d.iter().map(|l| l.rsplit_once(' ').map_or(l.clone(), |(a, _)| a.to_string())).collect::<Vec<_>>()
    };
    assert_eq!(strip(&our_data), strip(&their_data));
    let check = Command::new("redis-check-aof")
        .arg(ours.join("appendonlydir").join("appendonly.aof.manifest"))
        .output()
        .expect("redis-check-aof");
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stdout));
    {
        let redis = RedisServer::start(&ours, AOF_ON);
        assert_eq!(dataset(&mut redis.client()), our_data, "redis-server loading our directory");
    }
    let server = Server::start_in(&theirs, AOF_ON).expect("start on redis-server's directory");
    assert_eq!(dataset(&mut server.client()), their_data, "we load redis-server's directory");
}

/// A crash can leave half a command at the end of the last incr file: it is cut off with a
/// warning (aof-load-truncated yes), or start-up stops (no).
#[test]
fn a_truncated_tail_is_trimmed() {
    let dir = temp_dir("truncated");
    let _guard = DirGuard(dir.clone());
    let before = {
        let server = Server::start_in(&dir, AOF_ON).expect("start");
        let mut c = server.client();
        write_sample(&mut c);
        dataset(&mut c)
    };
    let incr = incr_files(&dir).pop().expect("an incr file");
    let good_len = std::fs::metadata(&incr).expect("incr").len();
    let mut bytes = std::fs::read(&incr).expect("read");
    bytes.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nval");
    std::fs::write(&incr, &bytes).expect("write");
    assert!(
        start_refused(&dir, &["--appendonly", "yes", "--save", "", "--aof-load-truncated", "no"]),
        "aof-load-truncated no must refuse a truncated file"
    );
    let server = Server::start_in(&dir, AOF_ON).expect("a truncated tail is trimmed");
    assert_eq!(dataset(&mut server.client()), before);
    drop(server);
    assert_eq!(std::fs::metadata(&incr).expect("incr").len(), good_len, "the tail was cut off");
}

/// Damage before the end is not a crash's truncation: start-up stops and says where.
#[test]
fn a_corrupt_middle_stops_start_up_naming_file_and_offset() {
    let dir = temp_dir("corrupt");
    let _guard = DirGuard(dir.clone());
    {
        let server = Server::start_in(&dir, AOF_ON).expect("start");
        write_sample(&mut server.client());
    }
    let incr = incr_files(&dir).pop().expect("an incr file");
    let mut bytes = std::fs::read(&incr).expect("read");
    // The third command's `*` becomes garbage; commands follow it.
    let starts: Vec<usize> =
        bytes.windows(3).enumerate().filter(|(_, w)| w[0] == b'*' && w[2] == b'\r').map(|(i, _)| i).collect();
    let at = starts[2];
    bytes[at] = b'!';
    std::fs::write(&incr, &bytes).expect("write");
    let log = dir.join("server.log");
    let log_arg = log.display().to_string();
    assert!(
        start_refused(&dir, &["--appendonly", "yes", "--save", "", "--logfile", &log_arg]),
        "a corrupt AOF must stop start-up"
    );
    let text = std::fs::read_to_string(&log).expect("log");
    let name = incr.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    assert!(text.contains(&format!("Bad file format reading the append only file {name} at offset {at}")), "{text}");
}

/// BGREWRITEAOF while clients write: after the rewrite (and a kill -9), every acknowledged
/// write is there, and the directory holds the new base and one incr file.
#[test]
fn bgrewriteaof_under_writes_loses_nothing() {
    let dir = temp_dir("rewrite");
    let _guard = DirGuard(dir.clone());
    // A slow rewrite (1 ms per key) so writes land while it runs.
    let args = ["--appendonly", "yes", "--save", "", "--rdb-key-save-delay", "1000"];
    let server = Server::start_in(&dir, &args).expect("start");
    let mut c = server.client();
    for i in 0..300 {
        ok(&mut c, &["SET", &format!("pre{i}"), &i.to_string()]);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let (stop, port) = (stop.clone(), server.port);
            std::thread::spawn(move || {
                let mut c = Client::connect(port);
                let mut acked = 0u64;
                for _ in 0..20_000 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let Reply::Int(n) = c.cmd(&["INCR", &format!("w{w}")]) else { break };
                    acked = n as u64;
                    let _ = c.cmd(&["RPUSH", &format!("list{w}"), &n.to_string()]);
                }
                acked
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(cmd(&mut c, &["BGREWRITEAOF"]), Reply::Simple("Background append only file rewriting started".into()));
    assert_eq!(info_field(&mut c, "aof_rewrite_in_progress"), "1", "the rewrite is slow enough to overlap writes");
    wait_rewrite_done(&mut c);
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::Relaxed);
    let acked: Vec<u64> = writers.into_iter().map(|w| w.join().expect("writer")).collect();
    assert_eq!(info_field(&mut c, "aof_last_bgrewrite_status"), "ok");
    let before = dataset(&mut c);
    drop(server);
    let manifest = std::fs::read_to_string(dir.join("appendonlydir/appendonly.aof.manifest")).expect("manifest");
    assert_eq!(
        manifest, "file appendonly.aof.2.base.rdb seq 2 type b\nfile appendonly.aof.2.incr.aof seq 2 type i\n",
        "new base + the incr opened at the switch; the old files are gone"
    );
    let server = Server::start_in(&dir, &args).expect("restart");
    let mut c = server.client();
    assert_eq!(dataset(&mut c), before);
    for (w, n) in acked.iter().enumerate() {
        assert_eq!(cmd(&mut c, &["GET", &format!("w{w}")]), Reply::bulk(&n.to_string()));
        assert_eq!(cmd(&mut c, &["LLEN", &format!("list{w}")]), Reply::Int(*n as i64), "one RPUSH per INCR");
    }
}

/// The commands as they appear in an incr file, with absolute times (any integer past
/// 10^12, or seconds past 10^9 after EXPIREAT) replaced so two servers' files compare.
fn logged_commands(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for f in incr_files(dir) {
        let bytes = std::fs::read(&f).expect("incr file");
        let mut r = persist::aof::CommandReader::new(&bytes, 0);
        while let Some(argv) = r.next_command().expect("a well-formed incr file") {
            let mut words: Vec<String> = argv.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect();
            let srem = words[0].eq_ignore_ascii_case("srem");
            for (i, w) in words.iter_mut().enumerate() {
                if w.parse::<i64>().is_ok_and(|n| n > 1_000_000_000_000) {
                    *w = "<ms>".into();
                } else if srem && i == 2 {
                    // SPOP's member is random.
                    *w = "<member>".into();
                }
            }
            words[0] = words[0].to_ascii_uppercase();
            out.push(words.join(" "));
        }
    }
    out
}

/// The same requests sent to redis-server 7.0.15 and to us are logged as the same commands:
/// relative times as absolute ones, random pops as the members popped, blocking pops as plain
/// pops, several commands of one call in MULTI/EXEC, a transaction with one write bare.
#[test]
fn propagated_forms_match_what_redis_logs() {
    let ours = temp_dir("forms-ours");
    let theirs = temp_dir("forms-theirs");
    let _g1 = DirGuard(ours.clone());
    let _g2 = DirGuard(theirs.clone());
    let run = |c: &mut Client, port: u16| {
        // Expiry on access only, so the deletion's place in the log does not depend on timing.
        ok(c, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
        let payload = {
            ok(c, &["SET", "src", "payload"]);
            let Reply::Bulk(p) = cmd(c, &["DUMP", "src"]) else { panic!("DUMP") };
            p
        };
        for args in [
            &["SET", "a", "1", "EX", "1000"][..],
            &["SET", "a", "1", "PX", "1000000", "GET"],
            &["SET", "a", "2", "EXAT", "4102444800"],
            &["SET", "a", "2", "PXAT", "4102444800000"],
            &["SET", "b", "v", "KEEPTTL"],
            &["SETEX", "c", "100", "v"],
            &["PSETEX", "c", "100000", "v"],
            &["EXPIRE", "c", "500"],
            &["PEXPIRE", "c", "600000", "GT"],
            &["EXPIREAT", "c", "4102444800"],
            &["PEXPIREAT", "c", "4102444800000"],
            &["EXPIRE", "c", "-5"],
            &["SET", "d", "v"],
            &["GETEX", "d", "EX", "100"],
            &["GETEX", "d", "PERSIST"],
            &["GETEX", "d", "PXAT", "1"],
            &["SET", "e", "v"],
            &["GETDEL", "e"],
            &["GETSET", "e", "w"],
            &["INCRBYFLOAT", "f", "1.5"],
            &["HINCRBYFLOAT", "h", "x", "2.5"],
            &["SADD", "s", "a", "b", "c", "d", "e"],
            &["SPOP", "s"],
            &["SPOP", "s", "2"],
            &["SPOP", "s", "10"],
            &["RPUSH", "l", "a", "b", "c", "d"],
            &["BLPOP", "l", "0"],
            &["BRPOP", "l", "0"],
            &["LMPOP", "1", "l", "LEFT", "COUNT", "5"],
            &["RPUSH", "l2", "a", "b"],
            &["BLMOVE", "l2", "l3", "LEFT", "RIGHT", "0"],
            &["BRPOPLPUSH", "l2", "l3", "0"],
            &["ZADD", "z", "1", "a", "2", "b", "3", "c"],
            &["BZPOPMIN", "z", "0"],
            &["ZMPOP", "1", "z", "MAX", "COUNT", "1"],
            &["BZMPOP", "0", "1", "z", "MIN"],
            &["SELECT", "2"],
            &["SET", "in2", "x"],
            &["FLUSHDB"],
            &["SELECT", "0"],
            &["MULTI"],
            &["SET", "t", "1"],
            &["EXEC"],
            &["MULTI"],
            &["SET", "t", "1"],
            &["INCR", "t"],
            &["GET", "t"],
            &["EXEC"],
            &["SET", "short", "v", "PX", "1"],
            // Commands logged as they were sent, when (and only when) they changed something.
            &["MSET", "m1", "1", "m2", "2"],
            &["MSETNX", "m1", "x", "m3", "3"],
            &["INCRBY", "m1", "5"],
            &["DECR", "m2"],
            &["APPEND", "m3", "abc"],
            &["SETRANGE", "m3", "1", "zz"],
            &["SETBIT", "bits", "7", "1"],
            &["BITFIELD", "bf", "SET", "u8", "0", "255", "GET", "u8", "0"],
            &["HSET", "h2", "f", "v"],
            &["HSET", "h2", "f", "v"],
            &["HSETNX", "h2", "f", "w"],
            &["HDEL", "h2", "nope"],
            &["HDEL", "h2", "f"],
            &["LPUSHX", "nolist", "a"],
            &["RPUSH", "l4", "c", "b", "a"],
            &["LSET", "l4", "0", "z"],
            &["LTRIM", "l4", "0", "1"],
            &["LREM", "l4", "0", "nope"],
            &["SORT", "l4", "ALPHA", "STORE", "sorted"],
            &["SADD", "s2", "a", "b"],
            &["SADD", "s2", "a"],
            &["SMOVE", "s2", "s3", "a"],
            &["SREM", "s2", "nope"],
            &["SINTERSTORE", "s4", "s2", "s3"],
            &["ZADD", "z2", "1", "a"],
            &["ZADD", "z2", "1", "a"],
            &["ZADD", "z2", "INCR", "2", "a"],
            &["ZINCRBY", "z2", "1.5", "a"],
            &["ZREM", "z2", "nope"],
            &["ZUNIONSTORE", "z3", "1", "z2"],
            &["PFADD", "p1", "a", "b"],
            &["PFADD", "p1", "a"],
            &["PFMERGE", "p2", "p1"],
            &["COPY", "m1", "m1copy"],
            &["RENAME", "m1copy", "m1renamed"],
            &["MOVE", "m1renamed", "5"],
            &["SWAPDB", "0", "6"],
            &["SWAPDB", "0", "6"],
            &["EXPIRE", "m2", "100", "NX"],
            &["EXPIRE", "m2", "100", "NX"],
            &["PERSIST", "m2"],
            &["PERSIST", "m2"],
            &["DEL", "nope", "m3"],
            &["UNLINK", "nope"],
            &["GETDEL", "nope"],
            // FLUSHDB inside a transaction is logged inside its MULTI/EXEC.
            &["SELECT", "9"],
            &["SET", "pre", "1"],
            &["MULTI"],
            &["SET", "a", "1"],
            &["FLUSHDB"],
            &["SET", "b", "2"],
            &["EXEC"],
            &["SELECT", "0"],
        ] {
            let r = cmd(c, args);
            assert!(!matches!(r, Reply::Error(_)), "{args:?} -> {r:?}");
        }
        // A blocking pop served by a later push is logged as the plain pop, after the push.
        let mut blocked = Client::connect(port);
        blocked.send(&["BLPOP", "wait", "0"]);
        std::thread::sleep(Duration::from_millis(200));
        ok(c, &["RPUSH", "wait", "x"]);
        assert_eq!(blocked.read(), Reply::Array(vec![Reply::bulk("wait"), Reply::bulk("x")]));
        // A key past its time is deleted on access, and the deletion logged.
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(cmd(c, &["GET", "short"]), Reply::Null);
        // RESTORE with a relative TTL is logged with the absolute one and ABSTTL.
        c.send_raw(&restore_request(&payload));
        assert_eq!(c.read(), Reply::Simple("OK".into()));
    };
    {
        let server = Server::start_in(&ours, DEBUG_AOF_ON).expect("start");
        let mut c = server.client();
        run(&mut c, server.port);
        std::thread::sleep(Duration::from_millis(300));
    }
    {
        let redis = RedisServer::start(&theirs, DEBUG_AOF_ON);
        let mut c = redis.client();
        run(&mut c, redis.port);
        std::thread::sleep(Duration::from_millis(300));
    }
    let (mine, redis) = (logged_commands(&ours), logged_commands(&theirs));
    if mine != redis {
        let width = mine.len().max(redis.len());
        let rows: Vec<String> = (0..width)
            .map(|i| {
                let (a, b) = (mine.get(i).map_or("", String::as_str), redis.get(i).map_or("", String::as_str));
                format!("{} {a:<40} | {b}", if a == b { " " } else { "!" })
            })
            .collect();
        panic!("ours | redis-server\n{}", rows.join("\n"));
    }
}

/// RESTORE r 100000 <payload>, encoded with the payload's raw bytes.
fn restore_request(payload: &[u8]) -> Vec<u8> {
    let mut out = b"*4\r\n$7\r\nRESTORE\r\n$1\r\nr\r\n$6\r\n100000\r\n".to_vec();
    out.extend_from_slice(format!("${}\r\n", payload.len()).as_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
    out
}

/// CONFIG SET appendonly yes on a server with data: the base is made from the dataset (RDB
/// preamble), later writes go to the new incr file, and a restart with the AOF on has it all.
#[test]
fn config_set_appendonly_yes_starts_from_the_dataset() {
    let dir = temp_dir("config-set");
    let _guard = DirGuard(dir.clone());
    let before = {
        let server = Server::start_in(&dir, &["--save", ""]).expect("start");
        let mut c = server.client();
        write_sample(&mut c);
        assert_eq!(info_field(&mut c, "aof_enabled"), "0");
        assert_eq!(cmd(&mut c, &["CONFIG", "SET", "appendonly", "yes"]), Reply::Simple("OK".into()));
        wait_rewrite_done(&mut c);
        assert_eq!(info_field(&mut c, "aof_enabled"), "1");
        ok(&mut c, &["SET", "after", "switch"]);
        ok(&mut c, &["RPUSH", "l", "more"]);
        dataset(&mut c)
    };
    let server = Server::start_in(&dir, AOF_ON).expect("restart with the AOF on");
    assert_eq!(dataset(&mut server.client()), before);
    drop(server);
    let redis = RedisServer::start(&dir, AOF_ON);
    assert_eq!(dataset(&mut redis.client()), before, "redis-server loads it too");
}

/// An AOF from before Redis 7 (one file, `dir/appendonly.aof`) is loaded and moved into the
/// AOF directory as its base, as Redis 7.0 upgrades it; redis-server then loads the result.
#[test]
fn an_old_single_file_aof_is_upgraded() {
    let dir = temp_dir("upgrade");
    let _guard = DirGuard(dir.clone());
    let mut old = Vec::new();
    for argv in
        [&["SELECT", "0"][..], &["SET", "k", "v"], &["RPUSH", "l", "a", "b"], &["SELECT", "2"], &["SET", "k2", "v2"]]
    {
        old.extend_from_slice(&Client::encode(argv));
    }
    std::fs::write(dir.join("appendonly.aof"), &old).expect("old aof");
    let data = {
        let server = Server::start_in(&dir, AOF_ON).expect("start");
        let mut c = server.client();
        assert_eq!(cmd(&mut c, &["GET", "k"]), Reply::bulk("v"));
        ok(&mut c, &["SET", "new", "1"]);
        dataset(&mut c)
    };
    assert!(!dir.join("appendonly.aof").exists(), "the old file moved into the directory");
    let manifest = std::fs::read_to_string(dir.join("appendonlydir/appendonly.aof.manifest")).expect("manifest");
    assert_eq!(manifest, "file appendonly.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n");
    let redis = RedisServer::start(&dir, AOF_ON);
    assert_eq!(dataset(&mut redis.client()), data);
}

/// `aof-use-rdb-preamble no`: the base is commands (`.base.aof`), which we and redis-server
/// both load back to the same dataset.
#[test]
fn a_base_in_commands_loads_here_and_in_redis() {
    let dir = temp_dir("no-preamble");
    let _guard = DirGuard(dir.clone());
    let args = ["--appendonly", "yes", "--save", "", "--aof-use-rdb-preamble", "no"];
    let before = {
        let server = Server::start_in(&dir, &args).expect("start");
        let mut c = server.client();
        write_sample(&mut c);
        for i in 0..100 {
            ok(&mut c, &["RPUSH", "big", &i.to_string()]);
            ok(&mut c, &["ZADD", "bigz", &format!("{i}.5"), &format!("m{i}")]);
        }
        assert_eq!(
            cmd(&mut c, &["BGREWRITEAOF"]),
            Reply::Simple("Background append only file rewriting started".into())
        );
        wait_rewrite_done(&mut c);
        dataset(&mut c)
    };
    let manifest = std::fs::read_to_string(dir.join("appendonlydir/appendonly.aof.manifest")).expect("manifest");
    assert!(manifest.starts_with("file appendonly.aof.2.base.aof seq 2 type b\n"), "{manifest}");
    let base = std::fs::read(dir.join("appendonlydir/appendonly.aof.2.base.aof")).expect("base");
    assert!(base.starts_with(b"*2\r\n$6\r\nSELECT\r\n"), "commands, not an RDB image");
    let server = Server::start_in(&dir, &args).expect("restart");
    assert_eq!(dataset(&mut server.client()), before);
    drop(server);
    let redis = RedisServer::start(&dir, &args);
    assert_eq!(dataset(&mut redis.client()), before, "redis-server loads our command base");
}

/// Runs a checker on `file` (in its own directory, so both tools print the same names) with
/// `answer` on stdin; its stdout and exit code.
fn run_checker(tool: &str, pre_args: &[&str], args: &[&str], file: &Path, answer: &str) -> (String, Option<i32>) {
    use std::io::Write as _;
    let mut child = Command::new(tool)
        .args(pre_args)
        .args(args)
        .arg(file.file_name().expect("file name"))
        .current_dir(file.parent().expect("dir"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the checker");
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(answer.as_bytes());
    }
    let out = child.wait_with_output().expect("checker output");
    (String::from_utf8_lossy(&out.stdout).into_owned(), out.status.code())
}

/// `redoxide-server --check-aof [--fix]` prints what redis-check-aof 7.0.15 prints, exits as
/// it does, and `--fix` leaves the same bytes, for a valid directory and for damaged files.
#[test]
fn check_aof_agrees_with_redis_check_aof() {
    let dir = temp_dir("check");
    let _guard = DirGuard(dir.clone());
    {
        let server = Server::start_in(&dir, AOF_ON).expect("start");
        write_sample(&mut server.client());
    }
    let ours = env!("CARGO_BIN_EXE_redoxide-server");
    let manifest = dir.join("appendonlydir/appendonly.aof.manifest");
    assert_eq!(
        run_checker(ours, &["--check-aof"], &[], &manifest, ""),
        run_checker("redis-check-aof", &[], &[], &manifest, ""),
        "a valid directory"
    );
    let incr = std::fs::read(incr_files(&dir).pop().expect("incr")).expect("read");
    let tails: [&[u8]; 8] = [
        b"*1\r\n$5\r\nMULTI\r\n*1\r\n$3\r\nSET\r\n",
        b"*2\r\n$3\r\nDEL\r\nx",
        b"*1\r\n$4\r\nEXEC\r\n",
        b"$3\r\nabc\r\n",
        b"*1\r\n$3\r\nabcd\r\n",
        b"*1\r",
        b"#TS:12\r\n*1\r\n$4\r\nPING\r\n",
        b"*1\r\n$5\r\nMULTI\r\n*1\r\n$5\r\nMULTI\r\n",
    ];
    for (i, tail) in tails.iter().enumerate() {
        for fix in [false, true] {
            let mut results = Vec::new();
            for tool in ["ours", "redis"] {
                let sub = dir.join(format!("case{i}-{fix}-{tool}"));
                std::fs::create_dir_all(&sub).expect("case dir");
                let file = sub.join("appendonly.aof");
                let mut bytes = incr.clone();
                bytes.extend_from_slice(tail);
                std::fs::write(&file, &bytes).expect("case file");
                let args: &[&str] = if fix { &["--fix"] } else { &[] };
                let (out, code) = if tool == "ours" {
                    run_checker(ours, &["--check-aof"], args, &file, "y\n")
                } else {
                    run_checker("redis-check-aof", &[], args, &file, "y\n")
                };
                results.push((out, code, std::fs::read(&file).expect("after")));
            }
            assert_eq!(results[0], results[1], "case {i} (fix {fix}): tail {:?}", String::from_utf8_lossy(tail));
        }
    }
}

/// `--truncate-to-timestamp` cuts what redis-check-aof 7.0.15 cuts and prints what it prints: in an
/// old-style file and in the last file of a manifest, refusing a file that is not the last one or
/// that has nothing before the timestamp; and the checker also runs when called as `redis-check-aof`.
#[test]
fn truncate_to_timestamp_agrees_with_redis_check_aof() {
    let dir = temp_dir("check-ts");
    let _guard = DirGuard(dir.clone());
    let ours = env!("CARGO_BIN_EXE_redoxide-server");
    let as_redis_tool = dir.join("redis-check-aof");
    std::os::unix::fs::symlink(ours, &as_redis_tool).expect("link");
    let command = |args: &[&str]| {
        let mut b = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            b.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
        b
    };
    let mut timestamped = Vec::new();
    for (ts, key) in [(1628217470, "foo1"), (1628217471, "foo2"), (1628217473, "foo3")] {
        timestamped.extend_from_slice(format!("#TS:{ts}\r\n").as_bytes());
        timestamped.extend_from_slice(&command(&["set", key, "bar"]));
    }
    timestamped.extend_from_slice(b"#TS:1628217474\r\n");
    let plain = command(&["set", "foo", "hello"]);
    // (case, the base and incr files of a manifest or None for an old-style file, timestamp)
    type Files<'a> = Option<[&'a [u8]; 2]>;
    let cases: Vec<(&str, Files, &str)> = vec![
        ("old-keep-all", None, "1628217474"),
        ("old-cut-last", None, "1628217473"),
        ("old-cut-two", None, "1628217471"),
        ("old-nothing-before", None, "1628217469"),
        ("old-bad-timestamp", None, "12x"),
        ("manifest-not-last", Some([&timestamped, &plain]), "1628217471"),
        ("manifest-last", Some([&plain, &timestamped]), "1628217470"),
    ];
    for (name, files, ts) in cases {
        let mut results = Vec::new();
        for tool in ["ours", "ours-as-redis-check-aof", "redis"] {
            let sub = dir.join(format!("{name}-{tool}"));
            std::fs::create_dir_all(&sub).expect("case dir");
            let (target, written) = match files {
                None => {
                    std::fs::write(sub.join("appendonly.aof"), &timestamped).expect("file");
                    (sub.join("appendonly.aof"), vec![sub.join("appendonly.aof")])
                }
                Some([base, incr]) => {
                    std::fs::write(sub.join("appendonly.aof.1.base.aof"), base).expect("base");
                    std::fs::write(sub.join("appendonly.aof.1.incr.aof"), incr).expect("incr");
                    std::fs::write(
                        sub.join("appendonly.aof.manifest"),
                        "file appendonly.aof.1.base.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n",
                    )
                    .expect("manifest");
                    let files = vec![sub.join("appendonly.aof.1.base.aof"), sub.join("appendonly.aof.1.incr.aof")];
                    (sub.join("appendonly.aof.manifest"), files)
                }
            };
            let args = ["--truncate-to-timestamp", ts];
            let (out, code) = match tool {
                "ours" => run_checker(ours, &["--check-aof"], &args, &target, ""),
                "ours-as-redis-check-aof" => {
                    run_checker(as_redis_tool.to_str().expect("utf-8 path"), &[], &args, &target, "")
                }
                _ => run_checker("redis-check-aof", &[], &args, &target, ""),
            };
            let after: Vec<Vec<u8>> = written.iter().map(|f| std::fs::read(f).expect("after")).collect();
            results.push((out, code, after));
        }
        assert_eq!(results[0], results[2], "{name}: ours vs redis-check-aof");
        assert_eq!(results[1], results[2], "{name}: ours called as redis-check-aof vs redis-check-aof");
    }
}

/// INFO persistence has Redis's fields in Redis's order (AOF on and off), and the AOF sizes
/// it reports are the files' sizes.
#[test]
fn info_persistence_fields_are_redis_and_sizes_are_the_files() {
    let fields = |c: &mut Client| -> Vec<String> {
        let Reply::Bulk(info) = cmd(c, &["INFO", "persistence"]) else { panic!("INFO") };
        String::from_utf8_lossy(&info).lines().map(|l| l.split(':').next().unwrap_or("").to_string()).collect()
    };
    for args in [AOF_ON, &["--save", ""][..]] {
        let ours_dir = temp_dir("info-ours");
        let theirs_dir = temp_dir("info-theirs");
        let _g1 = DirGuard(ours_dir.clone());
        let _g2 = DirGuard(theirs_dir.clone());
        let server = Server::start_in(&ours_dir, args).expect("start");
        let redis = RedisServer::start(&theirs_dir, args);
        assert_eq!(fields(&mut server.client()), fields(&mut redis.client()), "{args:?}");
    }
    let dir = temp_dir("info-sizes");
    let _guard = DirGuard(dir.clone());
    let server = Server::start_in(&dir, AOF_ON).expect("start");
    let mut c = server.client();
    write_sample(&mut c);
    let size = |name: &str| std::fs::metadata(dir.join("appendonlydir").join(name)).map(|m| m.len()).unwrap_or(0);
    let base = size("appendonly.aof.1.base.rdb");
    assert!(base > 0);
    assert_eq!(info_field(&mut c, "aof_base_size"), base.to_string());
    assert_eq!(info_field(&mut c, "aof_current_size"), (base + size("appendonly.aof.1.incr.aof")).to_string());
    assert_eq!(info_field(&mut c, "aof_last_write_status"), "ok");
}

/// A start-up Redis refuses: name, files (name, bytes), manifest, the log line it writes.
type RefusedCase = (&'static str, Vec<(&'static str, Vec<u8>)>, &'static str, &'static str);

/// Manifests Redis's own tests (aof-multi-part.tcl) refuse or accept at start-up, with the log
/// line they look for; the accepted ones load the data their files hold.
#[test]
fn start_up_refuses_and_accepts_manifests_as_redis_does() {
    let set = |k: &str, v: &str| Client::encode(&["SET", k, v]);
    let files = |dir: &Path, list: &[(&str, Vec<u8>)], manifest: &str| {
        let aof_dir = dir.join("appendonlydir");
        std::fs::create_dir_all(&aof_dir).expect("aof dir");
        for (name, bytes) in list {
            std::fs::write(aof_dir.join(name), bytes).expect("aof file");
        }
        std::fs::write(aof_dir.join("appendonly.aof.manifest"), manifest).expect("manifest");
    };
    let refused: [RefusedCase; 5] = [
        (
            "missing",
            vec![("appendonly.aof.1.base.aof", set("k1", "v1")), ("appendonly.aof.2.incr.aof", set("k2", "v2"))],
            "file appendonly.aof.1.base.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\nfile appendonly.aof.2.incr.aof seq 2 type i\n",
            "appendonly.aof.1.incr.aof doesn't exist: No such file or directory",
        ),
        (
            "monotonic",
            vec![("appendonly.aof.1.incr.aof", set("k1", "v1")), ("appendonly.aof.2.incr.aof", set("k2", "v2"))],
            "file appendonly.aof.2.incr.aof seq 2 type i\nfile appendonly.aof.1.incr.aof seq 1 type i\n",
            "Found a non-monotonic sequence number",
        ),
        (
            "blank",
            vec![("appendonly.aof.1.incr.aof", set("k1", "v1")), ("appendonly.aof.3.incr.aof", set("k2", "v2"))],
            "file appendonly.aof.1.incr.aof seq 1 type i\n\nfile appendonly.aof.3.incr.aof seq 3 type i\n",
            "Invalid AOF manifest file format",
        ),
        (
            "duplicate-base",
            vec![("appendonly.aof.1.base.aof", set("k1", "v1")), ("appendonly.aof.2.base.aof", set("k2", "v2"))],
            "file appendonly.aof.1.base.aof seq 1 type b\nfile appendonly.aof.2.base.aof seq 2 type b\n",
            "Found duplicate base file information",
        ),
        (
            "unknown-command",
            vec![("appendonly.aof.1.incr.aof", [set("k1", "v1"), Client::encode(&["bla", "x"])].concat())],
            "file appendonly.aof.1.incr.aof seq 1 type i\n",
            "Unknown command 'bla' reading the append only file appendonly.aof.1.incr.aof",
        ),
    ];
    for (name, list, manifest, message) in refused {
        let dir = temp_dir(&format!("refuse-{name}"));
        let _guard = DirGuard(dir.clone());
        files(&dir, &list, manifest);
        let log = dir.join("server.log");
        let log_arg = log.display().to_string();
        assert!(start_refused(&dir, &["--appendonly", "yes", "--save", "", "--logfile", &log_arg]), "{name}");
        let text = std::fs::read_to_string(&log).expect("log");
        assert!(text.contains(message), "{name}: {text}");
    }
    // Accepted: gaps in the sequence, empty files; the data is what the files say.
    let dir = temp_dir("accept");
    let _guard = DirGuard(dir.clone());
    files(
        &dir,
        &[
            ("appendonly.aof.1.base.aof", set("k1", "v1")),
            ("appendonly.aof.1.incr.aof", Vec::new()),
            ("appendonly.aof.5.incr.aof", set("k2", "v2")),
        ],
        "file appendonly.aof.1.base.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\nfile appendonly.aof.5.incr.aof seq 5 type i\n",
    );
    let server = Server::start_in(&dir, AOF_ON).expect("start");
    let mut c = server.client();
    assert_eq!(cmd(&mut c, &["MGET", "k1", "k2"]), Reply::Array(vec![Reply::bulk("v1"), Reply::bulk("v2")]));
}

/// Writes to one key from clients served by different worker threads reach the log in the
/// order they ran: after a restart the list holds its elements in the same order, and a key
/// several clients SET holds the value that won.
#[test]
fn writes_to_one_key_from_several_workers_keep_their_order() {
    let dir = temp_dir("order");
    let _guard = DirGuard(dir.clone());
    let args = ["--appendonly", "yes", "--save", "", "--io-threads", "4"];
    let before = {
        let server = Server::start_in(&dir, &args).expect("start");
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let port = server.port;
                std::thread::spawn(move || {
                    let mut c = Client::connect(port);
                    for i in 0..300 {
                        let item = format!("{w}:{i}");
                        assert!(matches!(c.cmd(&["RPUSH", "shared", &item]), Reply::Int(_)));
                        assert_eq!(c.cmd(&["SET", "last", &item]), Reply::Simple("OK".into()));
                        assert!(matches!(c.cmd(&["ZINCRBY", "z", "1", &w.to_string()]), Reply::Bulk(_)));
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().expect("writer");
        }
        let mut c = server.client();
        assert_eq!(cmd(&mut c, &["LLEN", "shared"]), Reply::Int(1200));
        dataset(&mut c)
    };
    let server = Server::start_in(&dir, &args).expect("restart");
    assert_eq!(dataset(&mut server.client()), before);
}

/// `aof-timestamp-enabled yes`: a `#TS:<unix seconds>` line precedes the first command of each
/// new second; the files still load here and pass redis-check-aof.
#[test]
fn timestamp_annotations_are_written_and_skipped_on_load() {
    let dir = temp_dir("ts");
    let _guard = DirGuard(dir.clone());
    let args = ["--appendonly", "yes", "--save", "", "--aof-timestamp-enabled", "yes"];
    let now_s = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let start_s = now_s();
    let before = {
        let server = Server::start_in(&dir, &args).expect("start");
        let mut c = server.client();
        ok(&mut c, &["SET", "a", "1"]);
        std::thread::sleep(Duration::from_millis(1100));
        ok(&mut c, &["SET", "b", "2"]);
        dataset(&mut c)
    };
    let text =
        String::from_utf8_lossy(&std::fs::read(incr_files(&dir).pop().expect("incr")).expect("read")).into_owned();
    let stamps: Vec<u64> =
        text.lines().filter_map(|l| l.strip_prefix("#TS:")).filter_map(|t| t.trim().parse().ok()).collect();
    assert!(stamps.len() >= 2, "{text:?}");
    assert!(stamps.windows(2).all(|w| w[0] < w[1]) && stamps[0] >= start_s && stamps[stamps.len() - 1] <= now_s());
    let check = Command::new("redis-check-aof")
        .arg(dir.join("appendonlydir").join("appendonly.aof.manifest"))
        .output()
        .expect("redis-check-aof");
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stdout));
    let server = Server::start_in(&dir, &args).expect("restart");
    assert_eq!(dataset(&mut server.client()), before);
}

/// A redoxide-server started under `sh` with a file size limit (SIGXFSZ ignored, so a write
/// past it fails with EFBIG instead of killing the process); killed by pid on drop.
struct LimitedServer {
    child: Child,
    port: u16,
}

impl LimitedServer {
    fn start(dir: &Path, limit_blocks: u64, extra: &[&str]) -> LimitedServer {
        let port = free_port();
        let mut script = format!(
            "trap '' XFSZ; ulimit -f {limit_blocks}; exec '{}' --port {port} --bind 127.0.0.1 --dir '{}'",
            env!("CARGO_BIN_EXE_redoxide-server"),
            dir.display()
        );
        for a in extra {
            script.push_str(&format!(" '{a}'"));
        }
        let child = Command::new("sh")
            .arg("-c")
            .arg(&script)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn sh");
        let server = LimitedServer { child, port };
        for _ in 0..500 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redoxide-server did not start under a file size limit");
    }
}

impl LimitedServer {
    /// Waits (bounded: 10 s) for the server to exit by itself.
    fn wait_exit(mut self) {
        for _ in 0..500 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the server did not exit after SHUTDOWN");
    }
}

impl Drop for LimitedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A write the AOF cannot take: under `everysec` writes are refused with Redis's MISCONF
/// (reads still work, INFO says err, the file holds only whole commands); under `always` the
/// server exits rather than answer.
#[test]
fn a_failed_aof_write_refuses_writes_or_exits_under_always() {
    let dir = temp_dir("efbig");
    let _guard = DirGuard(dir.clone());
    let value = "x".repeat(1000);
    {
        // 128 blocks of 512 bytes: the base and the first writes fit, later ones do not.
        let server = LimitedServer::start(&dir, 128, AOF_ON);
        let mut c = Client::connect(server.port);
        let mut refused = None;
        for i in 0..200 {
            match c.cmd(&["SET", &format!("k{i}"), &value]) {
                Reply::Simple(_) => {}
                Reply::Error(e) => {
                    refused = Some((i, e));
                    break;
                }
                other => panic!("{other:?}"),
            }
        }
        let (i, e) = refused.expect("a write past the file size limit is refused");
        assert!(i > 10, "the first writes fit");
        assert_eq!(e, "MISCONF Errors writing to the AOF file: File too large");
        assert!(matches!(cmd(&mut c, &["PING"]), Reply::Error(e) if e.starts_with("MISCONF")));
        assert_eq!(cmd(&mut c, &["GET", "k0"]), Reply::bulk(&value), "reads still work");
        assert_eq!(info_field(&mut c, "aof_last_write_status"), "err");
        // Stopped, not killed: its background thread retries the write every 100 ms, and a
        // SIGKILL during a retry (between the short write and its truncation) would leave a
        // partial command, as any crash mid-write can (the loader's aof-load-truncated case).
        c.send(&["SHUTDOWN", "NOSAVE"]);
        server.wait_exit();
    }
    // Only whole commands reached the file: it loads without trimming anything.
    let incr = incr_files(&dir).pop().expect("incr");
    let bytes = std::fs::read(&incr).expect("read");
    let mut r = persist::aof::CommandReader::new(&bytes, 0);
    while r.next_command().expect("whole commands only").is_some() {}
    let dir2 = temp_dir("efbig-always");
    let _guard2 = DirGuard(dir2.clone());
    let mut server =
        LimitedServer::start(&dir2, 128, &["--appendonly", "yes", "--save", "", "--appendfsync", "always"]);
    // A raw socket: once the server is gone a write fails, which the test client treats as a bug.
    let mut sock = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    sock.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    let mut exited = false;
    for i in 0..200 {
        use std::io::{Read as _, Write as _};
        if sock.write_all(&Client::encode(&["SET", &format!("k{i}"), &value])).is_err() {
            exited = true;
            break;
        }
        let mut reply = [0u8; 5];
        match sock.read_exact(&mut reply) {
            Err(_) => {
                exited = true;
                break;
            }
            Ok(()) => assert_eq!(&reply, b"+OK\r\n", "under always a write is acknowledged or the server exits"),
        }
    }
    assert!(exited, "the connection closed: the server exited instead of replying");
    let mut status = None;
    for _ in 0..250 {
        if let Ok(Some(s)) = server.child.try_wait() {
            status = Some(s);
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(status.is_some_and(|s| !s.success()), "exit status {status:?}");
}

/// auto-aof-rewrite-percentage / -min-size: once the AOF doubled past the minimum size, a
/// rewrite starts by itself, and the data survives it.
#[test]
fn the_aof_rewrites_itself_when_it_grows() {
    let dir = temp_dir("auto");
    let _guard = DirGuard(dir.clone());
    let args = [
        "--appendonly",
        "yes",
        "--save",
        "",
        "--auto-aof-rewrite-percentage",
        "100",
        "--auto-aof-rewrite-min-size",
        "4096",
    ];
    let server = Server::start_in(&dir, &args).expect("start");
    let mut c = server.client();
    assert_eq!(info_field(&mut c, "aof_rewrites"), "0");
    for i in 0..200 {
        ok(&mut c, &["SET", &format!("key{i}"), &"v".repeat(40)]);
    }
    let mut rewritten = false;
    for _ in 0..250 {
        if info_field(&mut c, "aof_rewrites") != "0" {
            rewritten = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(rewritten, "no automatic rewrite within 5 s");
    wait_rewrite_done(&mut c);
    let before = dataset(&mut c);
    drop(server);
    let server = Server::start_in(&dir, &args).expect("restart");
    assert_eq!(dataset(&mut server.client()), before);
}

/// BGREWRITEAOF and BGSAVE share the one snapshot as Redis's share the one child: the same
/// replies as redis-server's when one is asked for while the other runs.
#[test]
fn bgrewriteaof_and_bgsave_exclude_each_other_as_in_redis() {
    let ours_dir = temp_dir("excl-ours");
    let theirs_dir = temp_dir("excl-theirs");
    let _g1 = DirGuard(ours_dir.clone());
    let _g2 = DirGuard(theirs_dir.clone());
    // 200 ms per key: each background job outlasts the requests that follow it.
    let args = ["--appendonly", "yes", "--save", "", "--rdb-key-save-delay", "200000"];
    let script = |c: &mut Client| -> Vec<Reply> {
        ok(c, &["SET", "a", "1"]);
        let mut replies = vec![cmd(c, &["BGREWRITEAOF"]), cmd(c, &["BGSAVE"]), cmd(c, &["BGREWRITEAOF"])];
        wait_rewrite_done(c);
        replies.push(cmd(c, &["BGSAVE"]));
        replies.push(cmd(c, &["BGREWRITEAOF"]));
        wait_rewrite_done(c);
        replies
    };
    let ours = {
        let server = Server::start_in(&ours_dir, &args).expect("start");
        script(&mut server.client())
    };
    let redis = RedisServer::start(&theirs_dir, &args);
    assert_eq!(ours, script(&mut redis.client()));
}

/// Inside MULTI/EXEC a rewrite is scheduled (the transaction holds slot locks), as Redis
/// schedules it while in EXEC; it then runs, and CONFIG SET appendonly yes works the same way.
#[test]
fn a_rewrite_asked_for_inside_exec_is_scheduled_then_runs() {
    let ours_dir = temp_dir("exec-ours");
    let theirs_dir = temp_dir("exec-theirs");
    let _g1 = DirGuard(ours_dir.clone());
    let _g2 = DirGuard(theirs_dir.clone());
    let script = |c: &mut Client| -> Reply {
        ok(c, &["MULTI"]);
        ok(c, &["SET", "k", "v"]);
        ok(c, &["BGREWRITEAOF"]);
        let reply = cmd(c, &["EXEC"]);
        for _ in 0..250 {
            if info_field(c, "aof_rewrites") == "1" {
                return reply;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the scheduled rewrite did not run within 5 s");
    };
    let ours = {
        let server = Server::start_in(&ours_dir, AOF_ON).expect("start");
        script(&mut server.client())
    };
    let redis = RedisServer::start(&theirs_dir, AOF_ON);
    assert_eq!(ours, script(&mut redis.client()));
    drop(redis);
    let dir = temp_dir("exec-config");
    let _g3 = DirGuard(dir.clone());
    let before = {
        let server = Server::start_in(&dir, &["--save", ""]).expect("start");
        let mut c = server.client();
        ok(&mut c, &["SET", "a", "1"]);
        ok(&mut c, &["MULTI"]);
        ok(&mut c, &["SET", "b", "2"]);
        ok(&mut c, &["CONFIG", "SET", "appendonly", "yes"]);
        assert!(
            matches!(cmd(&mut c, &["EXEC"]), Reply::Array(r) if r.iter().all(|x| *x == Reply::Simple("OK".into())))
        );
        for _ in 0..250 {
            if info_field(&mut c, "aof_enabled") == "1" {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        wait_rewrite_done(&mut c);
        assert_eq!(info_field(&mut c, "aof_enabled"), "1");
        ok(&mut c, &["SET", "c", "3"]);
        dataset(&mut c)
    };
    let server = Server::start_in(&dir, AOF_ON).expect("restart");
    assert_eq!(dataset(&mut server.client()), before);
}

/// What an AOF written by an older Redis may hold, and how Redis 7.0 replays it: EVAL,
/// SCRIPT LOAD + EVALSHA (inside MULTI too) run as scripts; a relative EXPIRE or SET EX counts
/// from the time of loading; a key given a time already past is kept while loading, so a later
/// PERSIST in the file saves it. Loaded here and by Debian's redis-server, the datasets match;
/// DEBUG LOADAOF replays the scripts without appending their writes to the AOF again.
#[test]
fn an_aof_with_scripts_and_relative_times_loads_as_in_redis() {
    let script = "redis.call('incr', KEYS[1]) redis.call('expire', KEYS[1], 100)";
    let sha = {
        let mut child = Command::new("sha1sum").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("sha1sum");
        std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), script.as_bytes()).expect("write");
        let out = child.wait_with_output().expect("sha1sum output");
        String::from_utf8_lossy(&out.stdout).split_whitespace().next().expect("sha").to_string()
    };
    let now_ms =
        || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64;
    let file = [
        Client::encode(&["SET", "a", "1"]),
        Client::encode(&["EXPIRE", "a", "1000"]),
        Client::encode(&["SET", "s", "v", "EX", "500"]),
        Client::encode(&["SET", "p", "1"]),
        Client::encode(&["PEXPIREAT", "p", "1000"]),
        Client::encode(&["PERSIST", "p"]),
        Client::encode(&["EVAL", "return redis.call('incr', 'c')", "0"]),
        Client::encode(&["SCRIPT", "LOAD", script]),
        Client::encode(&["EVALSHA", &sha, "1", "d"]),
        Client::encode(&["MULTI"]),
        Client::encode(&["EVALSHA", &sha, "1", "d"]),
        Client::encode(&["EVAL", "redis.call('rpush', KEYS[1], ARGV[1])", "1", "l", "x"]),
        Client::encode(&["EXEC"]),
        Client::encode(&["SELECT", "3"]),
        Client::encode(&["EVAL", "redis.call('set', KEYS[1], 'x')", "1", "e"]),
    ]
    .concat();
    let place = |dir: &Path| {
        let aof_dir = dir.join("appendonlydir");
        std::fs::create_dir_all(&aof_dir).expect("aof dir");
        std::fs::write(aof_dir.join("appendonly.aof.1.incr.aof"), &file).expect("aof file");
        std::fs::write(aof_dir.join("appendonly.aof.manifest"), "file appendonly.aof.1.incr.aof seq 1 type i\n")
            .expect("manifest");
    };
    let ours = temp_dir("scripts-ours");
    let theirs = temp_dir("scripts-theirs");
    let _g1 = DirGuard(ours.clone());
    let _g2 = DirGuard(theirs.clone());
    place(&ours);
    place(&theirs);
    // Expiry times count from each server's load, so they are compared to the second.
    let seconds = |d: Vec<String>| {
        d.into_iter()
            .map(|l| match l.rsplit_once(" Int(") {
                Some((head, ms)) => {
                    let ms: i64 = ms.trim_end_matches(')').parse().expect("ms");
                    if ms > 0 {
                        let left_s = (ms - now_ms()) as f64 / 1000.0;
                        format!("{head} ttl~{}", left_s.round() as i64)
                    } else {
                        format!("{head} {ms}")
                    }
                }
                None => l,
            })
            .collect::<Vec<_>>()
    };
    let their_data = {
        let redis = RedisServer::start(&theirs, AOF_ON);
        seconds(dataset(&mut redis.client()))
    };
    let server = Server::start_in(&ours, DEBUG_AOF_ON).expect("start");
    let mut c = server.client();
    let our_data = seconds(dataset(&mut c));
    assert_eq!(our_data, their_data);
    for expected in ["db0 a string", "db0 p string Bulk([49]) -1", "db0 d string", "db3 e string"] {
        assert!(our_data.iter().any(|l| l.starts_with(expected)), "{expected} in {our_data:?}");
    }
    assert!(our_data.iter().any(|l| l.starts_with("db0 a string") && l.ends_with("ttl~1000")), "{our_data:?}");
    // DEBUG LOADAOF with the AOF on: the same data, and the file is not written to.
    let files_before: Vec<(PathBuf, u64)> =
        incr_files(&ours).into_iter().map(|p| (p.clone(), std::fs::metadata(&p).expect("size").len())).collect();
    ok(&mut c, &["DEBUG", "LOADAOF"]);
    assert_eq!(seconds(dataset(&mut c)), our_data);
    let files_after: Vec<(PathBuf, u64)> =
        incr_files(&ours).into_iter().map(|p| (p.clone(), std::fs::metadata(&p).expect("size").len())).collect();
    assert_eq!(files_after, files_before, "the replayed scripts' writes were not logged again");
}
