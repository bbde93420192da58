//! Replication against Debian's redis-server 7.0.15, both directions: full sync of every
//! value type, the command stream (MULTI/EXEC, expiries, other databases), partial resync
//! after a killed link, PSYNC2 after a promotion, WAIT / ROLE / INFO replication / READONLY.
//! Every server runs on 127.0.0.1 and is killed when its handle drops; every wait is bounded.

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{free_port, wait_until, Client, Reply, Server};

const REDIS_SERVER: &str = "/usr/bin/redis-server";

/// A redis-server process with its own directory, killed on drop.
struct Redis {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Redis {
    fn start(extra: &[&str]) -> Redis {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("redoxide-repl-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let mut args: Vec<String> = vec![
            "--port".into(),
            port.to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--dir".into(),
            dir.display().to_string(),
            "--save".into(),
            "".into(),
            "--repl-diskless-sync-delay".into(),
            "0".into(),
            "--logfile".into(),
            "redis.log".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let child = Command::new(REDIS_SERVER)
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        let r = Redis { child, port, dir };
        wait_until("redis-server to listen", Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        r
    }

    fn client(&self) -> Client {
        Client::connect(self.port)
    }
}

fn redoxide(extra: &[&str]) -> Server {
    let mut args = vec!["--repl-diskless-sync-delay", "0", "--save", ""];
    args.extend_from_slice(extra);
    Server::start(&args)
}

fn text(r: &Reply) -> String {
    match r {
        Reply::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
        Reply::Simple(s) | Reply::Error(s) => s.clone(),
        Reply::Verbatim(_, b) => String::from_utf8_lossy(b).into_owned(),
        Reply::Int(n) => n.to_string(),
        other => format!("{other:?}"),
    }
}

fn info(c: &mut Client, section: &str) -> BTreeMap<String, String> {
    let body = text(&c.cmd(&["INFO", section]));
    body.lines().filter_map(|l| l.split_once(':')).map(|(k, v)| (k.to_string(), v.trim().to_string())).collect()
}

fn field(c: &mut Client, section: &str, name: &str) -> String {
    info(c, section).get(name).cloned().unwrap_or_default()
}

fn link_up(c: &mut Client) -> bool {
    field(c, "replication", "master_link_status") == "up"
}

/// Sends commands pipelined and checks none failed.
fn pipeline(c: &mut Client, cmds: &[Vec<String>]) {
    for chunk in cmds.chunks(500) {
        let mut bytes = Vec::new();
        for cmd in chunk {
            let args: Vec<&str> = cmd.iter().map(|s| s.as_str()).collect();
            bytes.extend_from_slice(&Client::encode(&args));
        }
        c.send_raw(&bytes);
        for cmd in chunk {
            if let Reply::Error(e) = c.read() {
                panic!("{cmd:?} failed: {e}");
            }
        }
    }
}

fn v(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// Keys of every type in databases 0 and 5, some with TTLs.
fn populate(c: &mut Client, n: usize) {
    let mut cmds = Vec::new();
    for db in ["0", "5"] {
        cmds.push(v(&["SELECT", db]));
        for i in 0..n {
            let k = format!("k{i}");
            match i % 7 {
                0 => cmds.push(v(&["SET", &format!("s:{k}"), &format!("value-{i}")])),
                1 => cmds.push(v(&["SET", &format!("i:{k}"), &i.to_string()])),
                2 => cmds.push(v(&["RPUSH", &format!("l:{k}"), "a", &i.to_string(), "c"])),
                3 => cmds.push(v(&["SADD", &format!("S:{k}"), "x", &i.to_string(), "1", "2"])),
                4 => cmds.push(v(&["HSET", &format!("h:{k}"), "f", &i.to_string(), "g", "long value"])),
                5 => cmds.push(v(&["ZADD", &format!("z:{k}"), "1.5", "a", &i.to_string(), "b"])),
                _ => cmds.push(v(&["SET", &format!("t:{k}"), "ttl", "EX", "1000"])),
            }
        }
        // One big value of each kind (non-listpack encodings).
        let mut big = v(&["RPUSH", "biglist"]);
        let mut bighash = v(&["HSET", "bighash"]);
        let mut bigz = v(&["ZADD", "bigz"]);
        for i in 0..300 {
            big.push(format!("item{i}"));
            bighash.push(format!("f{i}"));
            bighash.push(format!("v{i}"));
            bigz.push(i.to_string());
            bigz.push(format!("m{i}"));
        }
        cmds.push(big);
        cmds.push(bighash);
        cmds.push(bigz);
    }
    cmds.push(v(&["SELECT", "0"]));
    pipeline(c, &cmds);
}

/// Writes that exercise the stream: transactions, expiries, other databases, pops.
fn write_traffic(c: &mut Client, round: usize) {
    let r = round.to_string();
    let cmds = vec![
        // Database 9 first and last: after a killed link the stream goes on in the database it
        // was in, which the replica must remember (no SELECT precedes this write).
        v(&["SELECT", "9"]),
        v(&["HSET", "db9", "pre", &r]),
        v(&["SELECT", "0"]),
        v(&["SET", "s:k0", &format!("changed-{r}")]),
        v(&["INCRBY", "i:k1", "5"]),
        v(&["LPUSH", "l:k2", &r]),
        v(&["SREM", "S:k3", "x"]),
        v(&["HINCRBYFLOAT", "h:k4", "g2", "1.5"]),
        v(&["ZINCRBY", "z:k5", "2", "a"]),
        v(&["SET", &format!("short:{r}"), "x", "PX", "100"]),
        v(&["EXPIRE", "s:k7", "1000"]),
        v(&["DEL", "s:k14"]),
        v(&["MULTI"]),
        v(&["SET", "tx:a", &r]),
        v(&["INCR", "tx:b"]),
        v(&["RPOPLPUSH", "biglist", "tx:l"]),
        v(&["EXEC"]),
        v(&["SELECT", "5"]),
        v(&["SET", &format!("db5:{r}"), "y"]),
        v(&["SPOP", "S:k3"]),
        v(&["SELECT", "9"]),
        v(&["HSET", "db9", "f", &r]),
        v(&["SELECT", "0"]),
    ];
    for cmd in cmds {
        let args: Vec<&str> = cmd.iter().map(|s| s.as_str()).collect();
        let reply = c.cmd(&args);
        if cmd[0] != "EXEC" {
            assert!(!matches!(reply, Reply::Error(_)), "{cmd:?}: {reply:?}");
        }
    }
}

fn sorted(r: Reply) -> Vec<String> {
    let mut items = match r {
        Reply::Array(a) | Reply::Set(a) => a.iter().map(text).collect(),
        other => vec![text(&other)],
    };
    items.sort();
    items
}

/// Every key of databases 0, 5 and 9 with its type, value and whether it has a TTL.
fn dataset(c: &mut Client) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for db in ["0", "5", "9"] {
        c.cmd(&["SELECT", db]);
        for key in sorted(c.cmd(&["KEYS", "*"])) {
            let t = text(&c.cmd(&["TYPE", &key]));
            let value = match t.as_str() {
                "string" => text(&c.cmd(&["GET", &key])),
                "list" => format!("{:?}", c.cmd(&["LRANGE", &key, "0", "-1"])),
                "set" => format!("{:?}", sorted(c.cmd(&["SMEMBERS", &key]))),
                "hash" => format!("{:?}", sorted(c.cmd(&["HGETALL", &key]))),
                "zset" => format!("{:?}", c.cmd(&["ZRANGE", &key, "0", "-1", "WITHSCORES"])),
                other => other.to_string(),
            };
            let ttl = match c.cmd(&["PTTL", &key]) {
                Reply::Int(n) if n > 0 => "ttl",
                Reply::Int(-1) => "persistent",
                _ => "gone",
            };
            if ttl != "gone" {
                out.insert(format!("{db}/{key}"), format!("{t} {ttl} {value}"));
            }
        }
    }
    c.cmd(&["SELECT", "0"]);
    out
}

/// Waits until the replica applied everything the master has sent, then compares datasets.
fn assert_in_sync(master: &mut Client, replica: &mut Client) {
    wait_until("the replica to catch up", Duration::from_secs(20), || {
        let m = field(master, "replication", "master_repl_offset");
        let r = field(replica, "replication", "slave_repl_offset");
        !m.is_empty() && m == r
    });
    // Keys that expire meanwhile (100 ms TTLs) must be gone on both before comparing.
    std::thread::sleep(Duration::from_millis(200));
    wait_until("the datasets to match", Duration::from_secs(10), || dataset(master) == dataset(replica));
    let d = dataset(master);
    assert!(d.len() > 500, "too few keys compared: {}", d.len());
}

#[test]
fn redoxide_master_full_sync_and_stream_to_redis_replica() {
    let master = redoxide(&[]);
    let mut m = master.client();
    populate(&mut m, 2000);
    let replica = Redis::start(&["--replicaof", "127.0.0.1", &master.port.to_string()]);
    let mut r = replica.client();
    wait_until("link up", Duration::from_secs(20), || link_up(&mut r));
    for round in 0..20 {
        write_traffic(&mut m, round);
    }
    assert_in_sync(&mut m, &mut r);
    assert_eq!(field(&mut m, "stats", "sync_full"), "1");

    // (c) partial resync after the master kills the replica's link.
    assert!(matches!(m.cmd(&["CLIENT", "KILL", "TYPE", "replica"]), Reply::Int(1)));
    for round in 20..25 {
        write_traffic(&mut m, round);
    }
    wait_until("partial resync", Duration::from_secs(20), || field(&mut m, "stats", "sync_partial_ok") == "1");
    assert_in_sync(&mut m, &mut r);
    assert_eq!(field(&mut m, "stats", "sync_full"), "1", "the reconnection must not be a full sync");
}

#[test]
fn redis_master_to_redoxide_replica_full_sync_stream_and_partial_resync() {
    for diskless in ["yes", "no"] {
        let master = Redis::start(&["--repl-diskless-sync", diskless]);
        let mut m = master.client();
        populate(&mut m, 2000);
        let replica = redoxide(&["--replicaof", "127.0.0.1", &master.port.to_string()]);
        let mut r = replica.client();
        wait_until("link up", Duration::from_secs(20), || link_up(&mut r));
        for round in 0..20 {
            write_traffic(&mut m, round);
        }
        assert_in_sync(&mut m, &mut r);

        // The replica refuses writes.
        match r.cmd(&["SET", "x", "y"]) {
            Reply::Error(e) => assert_eq!(e, "READONLY You can't write against a read only replica."),
            other => panic!("write accepted on a replica: {other:?}"),
        }

        // (c) the replica's side of a killed link: it reconnects and continues.
        assert!(matches!(r.cmd(&["CLIENT", "KILL", "TYPE", "master"]), Reply::Int(1)));
        for round in 20..25 {
            write_traffic(&mut m, round);
        }
        wait_until("partial resync", Duration::from_secs(20), || field(&mut m, "stats", "sync_partial_ok") == "1");
        assert_in_sync(&mut m, &mut r);
        assert_eq!(field(&mut m, "stats", "sync_full"), "1");
    }
}

#[test]
fn psync2_promoted_replica_serves_partial_resync_to_former_sibling() {
    let master = redoxide(&[]);
    let mut m = master.client();
    populate(&mut m, 300);
    let r1 = redoxide(&["--replicaof", "127.0.0.1", &master.port.to_string()]);
    let r2 = Redis::start(&["--replicaof", "127.0.0.1", &master.port.to_string()]);
    let (mut c1, mut c2) = (r1.client(), r2.client());
    wait_until("links up", Duration::from_secs(20), || link_up(&mut c1) && link_up(&mut c2));
    for round in 0..5 {
        write_traffic(&mut m, round);
    }
    assert_in_sync(&mut m, &mut c1);
    assert_in_sync(&mut m, &mut c2);
    let old_id = field(&mut m, "replication", "master_replid");
    drop(master);

    // r1 becomes a master: its old history id moves to replid2.
    assert_eq!(c1.cmd(&["REPLICAOF", "NO", "ONE"]), Reply::Simple("OK".into()));
    let i1 = info(&mut c1, "replication");
    assert_eq!(i1["role"], "master");
    assert_eq!(i1["master_replid2"], old_id);
    assert_ne!(i1["master_replid"], old_id);
    // The former sibling (real Redis) follows r1 with a partial resync.
    assert_eq!(c2.cmd(&["REPLICAOF", "127.0.0.1", &r1.port.to_string()]), Reply::Simple("OK".into()));
    wait_until("partial resync on the promoted node", Duration::from_secs(20), || {
        field(&mut c1, "stats", "sync_partial_ok") == "1" && link_up(&mut c2)
    });
    assert_eq!(field(&mut c1, "stats", "sync_full"), "0");
    for round in 5..8 {
        write_traffic(&mut c1, round);
    }
    assert_in_sync(&mut c1, &mut c2);
    assert_eq!(
        c2.cmd(&["REPLICAOF", "127.0.0.1", &r1.port.to_string()]),
        Reply::Simple("OK Already connected to specified master".into())
    );
}

#[test]
fn redoxide_to_redoxide_chain() {
    let master = redoxide(&[]);
    let mut m = master.client();
    populate(&mut m, 300);
    let r1 = redoxide(&["--replicaof", "127.0.0.1", &master.port.to_string()]);
    let mut c1 = r1.client();
    wait_until("link up", Duration::from_secs(20), || link_up(&mut c1));
    // A replica of the replica: it gets the master's stream verbatim (same offsets).
    let r2 = redoxide(&[]);
    let mut c2 = r2.client();
    assert_eq!(c2.cmd(&["SLAVEOF", "127.0.0.1", &r1.port.to_string()]), Reply::Simple("OK".into()));
    wait_until("link up", Duration::from_secs(20), || link_up(&mut c2));
    for round in 0..10 {
        write_traffic(&mut m, round);
    }
    assert_in_sync(&mut m, &mut c1);
    assert_in_sync(&mut m, &mut c2);
    assert_eq!(field(&mut c2, "replication", "master_replid"), field(&mut m, "replication", "master_replid"));

    // A killed link in the middle of the chain resumes with +CONTINUE, in the database the
    // stream was in.
    m.cmd(&["SELECT", "9"]);
    m.cmd(&["HSET", "db9", "before-kill", "1"]);
    m.cmd(&["SELECT", "0"]);
    assert!(matches!(c1.cmd(&["CLIENT", "KILL", "TYPE", "master"]), Reply::Int(1)));
    wait_until("partial resync", Duration::from_secs(20), || field(&mut m, "stats", "sync_partial_ok") == "1");
    m.cmd(&["SELECT", "9"]);
    m.cmd(&["HSET", "db9", "after-kill", "1"]);
    m.cmd(&["SELECT", "0"]);
    wait_until("the write after the resync", Duration::from_secs(10), || {
        c1.cmd(&["SELECT", "9"]);
        let got = c1.cmd(&["HGET", "db9", "after-kill"]);
        c1.cmd(&["SELECT", "0"]);
        got == Reply::bulk("1")
    });
    assert_eq!(c1.cmd(&["EXISTS", "db9"]), Reply::Int(0), "the write landed in the wrong database");
    for round in 10..15 {
        write_traffic(&mut m, round);
    }
    assert_in_sync(&mut m, &mut c1);
    assert_in_sync(&mut m, &mut c2);
    assert_eq!(field(&mut m, "stats", "sync_full"), "1");
}

#[test]
fn wait_role_info_fields_match_redis() {
    let master = redoxide(&[]);
    let mut m = master.client();
    let replica = Redis::start(&["--replicaof", "127.0.0.1", &master.port.to_string()]);
    let mut r = replica.client();
    wait_until("link up", Duration::from_secs(20), || link_up(&mut r));
    m.cmd(&["SET", "a", "1"]);
    assert_eq!(m.cmd(&["WAIT", "1", "2000"]), Reply::Int(1));
    // Nobody can satisfy 2: WAIT times out with the count it has.
    let started = Instant::now();
    assert_eq!(m.cmd(&["WAIT", "2", "300"]), Reply::Int(1));
    assert!(started.elapsed() >= Duration::from_millis(250));
    // A client in WAIT is a blocked client, as Redis's BLOCKED_WAIT.
    let mut waiting = master.client();
    waiting.send(&["WAIT", "2", "3000"]);
    wait_until("WAIT to count as blocked", Duration::from_secs(2), || {
        field(&mut m, "clients", "blocked_clients") == "1"
    });
    assert_eq!(waiting.read(), Reply::Int(1));
    assert_eq!(field(&mut m, "clients", "blocked_clients"), "0");
    match m.cmd(&["ROLE"]) {
        Reply::Array(a) => {
            assert_eq!(a[0], Reply::bulk("master"));
            assert!(matches!(a[1], Reply::Int(n) if n > 0));
            match &a[2] {
                Reply::Array(rs) => {
                    assert_eq!(rs.len(), 1);
                    match &rs[0] {
                        Reply::Array(f) => {
                            assert_eq!(f[0], Reply::bulk("127.0.0.1"));
                            assert_eq!(f[1], Reply::bulk(&replica.port.to_string()));
                        }
                        other => panic!("{other:?}"),
                    }
                }
                other => panic!("{other:?}"),
            }
        }
        other => panic!("{other:?}"),
    }

    // INFO replication field names (and their order) as Redis 7.0.15 gives them, master and
    // replica side: a reference pair of real servers.
    let ref_master = Redis::start(&[]);
    let ref_replica = Redis::start(&["--replicaof", "127.0.0.1", &ref_master.port.to_string()]);
    let mut rr = ref_replica.client();
    let mut rm = ref_master.client();
    wait_until("reference link up", Duration::from_secs(20), || link_up(&mut rr));
    let names = |c: &mut Client| -> Vec<String> {
        text(&c.cmd(&["INFO", "replication"]))
            .lines()
            .filter_map(|l| l.split_once(':').map(|(k, _)| k.to_string()))
            .collect()
    };
    assert_eq!(names(&mut m), names(&mut rm));
    let ours = redoxide(&["--replicaof", "127.0.0.1", &ref_master.port.to_string()]);
    let mut oc = ours.client();
    wait_until("our link up", Duration::from_secs(20), || link_up(&mut oc));
    assert_eq!(names(&mut oc), names(&mut rr));
    match oc.cmd(&["ROLE"]) {
        Reply::Array(a) => {
            assert_eq!(a[0], Reply::bulk("slave"));
            assert_eq!(a[2], Reply::Int(ref_master.port as i64));
            assert_eq!(a[3], Reply::bulk("connected"));
        }
        other => panic!("{other:?}"),
    }
    match oc.cmd(&["WAIT", "0", "0"]) {
        Reply::Error(e) => assert!(e.starts_with("ERR WAIT cannot be used with replica instances")),
        other => panic!("{other:?}"),
    }
    // REPLICAOF NO ONE: writable again.
    assert_eq!(oc.cmd(&["REPLICAOF", "NO", "ONE"]), Reply::Simple("OK".into()));
    assert_eq!(oc.cmd(&["SET", "x", "1"]), Reply::Simple("OK".into()));
}

#[test]
fn min_replicas_to_write_refuses_without_good_replicas() {
    let master = redoxide(&["--min-replicas-to-write", "1", "--min-replicas-max-lag", "10"]);
    let mut m = master.client();
    std::thread::sleep(Duration::from_millis(300));
    match m.cmd(&["SET", "a", "1"]) {
        Reply::Error(e) => assert_eq!(e, "NOREPLICAS Not enough good replicas to write."),
        other => panic!("{other:?}"),
    }
    let replica = Redis::start(&["--replicaof", "127.0.0.1", &master.port.to_string()]);
    let mut r = replica.client();
    wait_until("link up", Duration::from_secs(20), || link_up(&mut r));
    wait_until("writes accepted", Duration::from_secs(10), || m.cmd(&["SET", "a", "1"]) == Reply::Simple("OK".into()));
}

/// A raw connection that asks `master` for a full sync (diskless) and is then listed as its
/// replica; it reads nothing unless the test does.
fn fake_replica(master: &Server, m: &mut Client) -> Client {
    let mut fake = Client::connect(master.port);
    assert_eq!(fake.cmd(&["REPLCONF", "capa", "eof"]), Reply::Simple("OK".into()));
    fake.send(&["PSYNC", "?", "-1"]);
    wait_until("the replica to be listed", Duration::from_secs(10), || {
        field(m, "replication", "connected_slaves") == "1"
    });
    fake
}

#[test]
fn replica_output_buffer_limit_disconnects_a_stuck_replica() {
    let master = redoxide(&["--client-output-buffer-limit", "replica 64kb 0 0"]);
    let mut m = master.client();
    // A fake replica that completes PSYNC and then never reads.
    let _fake = fake_replica(&master, &mut m);
    let value = "x".repeat(10_000);
    let mut cmds = Vec::new();
    for i in 0..2000 {
        cmds.push(v(&["SET", &format!("k{i}"), &value]));
    }
    pipeline(&mut m, &cmds);
    wait_until("the replica to be dropped", Duration::from_secs(10), || {
        field(&mut m, "replication", "connected_slaves") == "0"
    });
}

/// A replica gets no replies: one that sends its master a command that would produce one (here
/// a GET, which a replica may not even run) is disconnected, as Redis does, and the master goes
/// on serving. A PSYNC with an offset that is not a number is refused and leaves no replica.
#[test]
fn a_replica_link_that_sends_a_command_is_dropped() {
    let master = redoxide(&[]);
    let mut m = master.client();
    let mut fake = fake_replica(&master, &mut m);
    fake.send(&["GET", "foo"]);
    wait_until("the replica to be dropped", Duration::from_secs(10), || {
        field(&mut m, "replication", "connected_slaves") == "0"
    });
    assert_eq!(m.cmd(&["PING"]), Reply::Simple("PONG".into()));
    assert_eq!(
        m.cmd(&["PSYNC", "replicationid", "offset_str"]),
        Reply::Error("ERR value is not an integer or out of range".into())
    );
    assert_eq!(m.cmd(&["PING"]), Reply::Simple("PONG".into()));
    assert_eq!(field(&mut m, "replication", "connected_slaves"), "0");
}

#[test]
fn restarted_replica_resumes_with_a_partial_resync_from_its_rdb() {
    let master = Redis::start(&[]);
    let mut m = master.client();
    populate(&mut m, 300);
    let dir = std::env::temp_dir().join(format!("redoxide-repl-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let port = master.port.to_string();
    let args = ["--replicaof", "127.0.0.1", port.as_str(), "--save", "", "--repl-diskless-sync-delay", "0"];
    {
        let replica = Server::start_in(&dir, &args).expect("replica");
        let mut r = replica.client();
        wait_until("link up", Duration::from_secs(20), || link_up(&mut r));
        for round in 0..3 {
            write_traffic(&mut m, round);
        }
        assert_in_sync(&mut m, &mut r);
        // SHUTDOWN SAVE records the replication id and offset in the RDB (Redis's aux fields).
        r.send(&["SHUTDOWN", "SAVE"]);
        let _ = r.is_closed();
    }
    for round in 3..6 {
        write_traffic(&mut m, round);
    }
    let replica = Server::start_in(&dir, &args).expect("restarted replica");
    let mut r = replica.client();
    wait_until("partial resync after the restart", Duration::from_secs(20), || {
        field(&mut m, "stats", "sync_partial_ok") == "1"
    });
    assert_in_sync(&mut m, &mut r);
    assert_eq!(field(&mut m, "stats", "sync_full"), "1", "the restart must not need a full sync");
    drop(replica);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn replica_aof_holds_the_synced_dataset() {
    let master = Redis::start(&[]);
    let mut m = master.client();
    populate(&mut m, 300);
    let dir = std::env::temp_dir().join(format!("redoxide-repl-aof-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let expected;
    {
        let replica = Server::start_in(&dir, &["--appendonly", "yes", "--save", ""]).expect("replica");
        let mut r = replica.client();
        r.cmd(&["SET", "stale", "from before the sync"]);
        let port = master.port.to_string();
        assert_eq!(r.cmd(&["REPLICAOF", "127.0.0.1", &port]), Reply::Simple("OK".into()));
        wait_until("link up", Duration::from_secs(20), || link_up(&mut r));
        for round in 0..3 {
            write_traffic(&mut m, round);
        }
        assert_in_sync(&mut m, &mut r);
        wait_until("the AOF rewrite", Duration::from_secs(20), || {
            field(&mut r, "persistence", "aof_rewrite_in_progress") == "0"
                && field(&mut r, "persistence", "aof_rewrites") == "1"
        });
        expected = dataset(&mut m);
        r.send(&["SHUTDOWN", "NOSAVE"]);
        let _ = r.is_closed();
    }
    // Restarted alone (no replicaof): the AOF alone must give the master's dataset.
    let restarted = Server::start_in(&dir, &["--appendonly", "yes", "--save", ""]).expect("restart");
    let mut c = restarted.client();
    assert_eq!(dataset(&mut c), expected);
    drop(restarted);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn becoming_a_replica_unblocks_blocked_clients() {
    let master = Redis::start(&[]);
    let node = redoxide(&[]);
    let mut blocked = node.client();
    blocked.send(&["BLPOP", "list", "0"]);
    let mut c = node.client();
    wait_until("the client to block", Duration::from_secs(5), || field(&mut c, "clients", "blocked_clients") == "1");
    assert_eq!(c.cmd(&["REPLICAOF", "127.0.0.1", &master.port.to_string()]), Reply::Simple("OK".into()));
    match blocked.read() {
        Reply::Error(e) => assert_eq!(
            e,
            "UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)"
        ),
        other => panic!("{other:?}"),
    }
}

/// FAILOVER between the two implementations, both ways: a redoxide master hands over to a
/// redis-server replica and becomes its replica (PSYNC ... FAILOVER from us, answered by
/// Redis), then the redis-server master hands back to us (PSYNC ... FAILOVER from Redis,
/// answered by us). Each hand-over is a partial resync: no full sync, the same data on both.
#[test]
fn failover_command_hands_over_between_redoxide_and_redis() {
    let ours = redoxide(&[]);
    let mut o = ours.client();
    populate(&mut o, 500);
    let theirs = Redis::start(&["--replicaof", "127.0.0.1", &ours.port.to_string()]);
    let mut t = theirs.client();
    wait_until("link up", Duration::from_secs(20), || link_up(&mut t));
    write_traffic(&mut o, 0);
    let to = |port: u16| ["FAILOVER", "TO", "127.0.0.1", &port.to_string()].map(String::from);
    let redis_port = theirs.port;
    let to_redis = to(redis_port);
    let args: Vec<&str> = to_redis.iter().map(String::as_str).collect();
    assert_eq!(o.cmd(&args), Reply::Simple("OK".into()));
    wait_until("redis-server to become master", Duration::from_secs(20), || {
        field(&mut t, "replication", "role") == "master" && field(&mut o, "replication", "master_link_status") == "up"
    });
    assert_eq!(field(&mut o, "replication", "master_failover_state"), "no-failover");
    assert_eq!(field(&mut t, "stats", "sync_full"), "0", "the hand-over to Redis was a full sync");
    assert_eq!(field(&mut t, "stats", "sync_partial_ok"), "1");
    write_traffic(&mut t, 1);
    assert_in_sync(&mut t, &mut o);

    let to_ours = to(ours.port);
    let args: Vec<&str> = to_ours.iter().map(String::as_str).collect();
    assert_eq!(t.cmd(&args), Reply::Simple("OK".into()));
    wait_until("redoxide to become master again", Duration::from_secs(20), || {
        field(&mut o, "replication", "role") == "master" && field(&mut t, "replication", "master_link_status") == "up"
    });
    assert_eq!(field(&mut o, "stats", "sync_partial_ok"), "1", "the hand-back was not a partial resync");
    write_traffic(&mut o, 2);
    assert_in_sync(&mut o, &mut t);
    // The pause ended: writes flow on the new master, and the old one is a read-only replica.
    assert_eq!(o.cmd(&["SET", "after", "1"]), Reply::Simple("OK".into()));
    assert!(matches!(t.cmd(&["SET", "x", "y"]), Reply::Error(e) if e.starts_with("READONLY")));
}

/// A replica never removes a key on its own when its time passes: its clients see it missing,
/// but it stays (DBSIZE counts it) until the master's DEL arrives, so the two datasets cannot
/// diverge when the clocks disagree (Redis's `expireIfNeeded` on replicas).
#[test]
fn replica_hides_expired_keys_until_the_master_deletes_them() {
    let master = Redis::start(&["--enable-debug-command", "yes"]);
    let mut m = master.client();
    let replica = redoxide(&["--replicaof", "127.0.0.1", &master.port.to_string()]);
    let mut r = replica.client();
    wait_until("link up", Duration::from_secs(20), || link_up(&mut r));
    m.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    m.cmd(&["SET", "short", "v", "PX", "50"]);
    m.cmd(&["SET", "long", "v"]);
    wait_until("the keys to replicate", Duration::from_secs(10), || r.cmd(&["DBSIZE"]) == Reply::Int(2));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(r.cmd(&["GET", "short"]), Reply::Null);
    assert_eq!(r.cmd(&["EXISTS", "short"]), Reply::Int(0));
    // Two reads later and past any active expiry tick of ours, still stored.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(r.cmd(&["DBSIZE"]), Reply::Int(2), "the replica removed an expired key on its own");
    // The master expires it on access and its DEL removes it here.
    assert_eq!(m.cmd(&["GET", "short"]), Reply::Null);
    wait_until("the master's DEL", Duration::from_secs(10), || r.cmd(&["DBSIZE"]) == Reply::Int(1));
    assert_eq!(r.cmd(&["GET", "long"]), Reply::bulk("v"));
}

/// A swapdb full sync with the master's own history (async loading): the old dataset is served
/// until the new one is all here; commands that would change the replication setup or save the
/// half-replaced data get -LOADING (inside MULTI too, which then fails); and when the master
/// drops the replica mid-transfer (CLIENT KILL, which must close the link at once although
/// rdb-key-save-delay makes the transfer last seconds more), the old dataset stays as it was.
#[test]
fn async_loading_serves_the_old_data_and_survives_an_aborted_transfer() {
    let master = redoxide(&["--repl-diskless-sync", "yes"]);
    let mut m = master.client();
    let replica = redoxide(&["--repl-diskless-load", "swapdb", "--replica-read-only", "no"]);
    let mut r = replica.client();
    assert_eq!(r.cmd(&["REPLICAOF", "127.0.0.1", &master.port.to_string()]), Reply::Simple("OK".into()));
    wait_until("link up", Duration::from_secs(20), || link_up(&mut r));
    let cmds: Vec<Vec<String>> = (0..300).map(|i| v(&["SET", &format!("k{i}"), "v"])).collect();
    pipeline(&mut m, &cmds);
    wait_until("the keys to replicate", Duration::from_secs(10), || r.cmd(&["DBSIZE"]) == Reply::Int(300));
    assert_eq!(r.cmd(&["SET", "mykey", "old"]), Reply::Simple("OK".into()));

    // 20 ms a key: the next transfer takes over six seconds. The link is dropped and the backlog
    // overrun in one transaction, so the replica must sync in full, with the same history.
    assert_eq!(m.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "20000"]), Reply::Simple("OK".into()));
    assert_eq!(m.cmd(&["CONFIG", "SET", "repl-backlog-size", "16384"]), Reply::Simple("OK".into()));
    let big = "A".repeat(16384);
    m.send(&["MULTI"]);
    m.read();
    m.send(&["CLIENT", "KILL", "TYPE", "replica"]);
    m.read();
    for i in 0..4 {
        m.send(&["SET", &format!("big{i}"), &big]);
        m.read();
    }
    assert!(matches!(m.cmd(&["EXEC"]), Reply::Array(items) if items.len() == 5));
    wait_until("async loading", Duration::from_secs(10), || field(&mut r, "persistence", "async_loading") == "1");
    assert_eq!(field(&mut r, "persistence", "loading"), "0");
    assert_eq!(r.cmd(&["GET", "mykey"]), Reply::bulk("old"));
    assert_eq!(r.cmd(&["DBSIZE"]), Reply::Int(301));
    let loading = "LOADING Redis is loading the dataset in memory";
    assert_eq!(r.cmd(&["REPLICAOF", "NO", "ONE"]), Reply::Error(loading.into()));
    assert_eq!(r.cmd(&["CONFIG", "SET", "appendonly", "yes"]), Reply::Error(loading.into()));
    assert_eq!(r.cmd(&["MULTI"]), Reply::Simple("OK".into()));
    assert_eq!(r.cmd(&["SAVE"]), Reply::Error(loading.into()), "refused when queued, as processCommand does");
    assert_eq!(r.cmd(&["EXEC"]), Reply::Error("EXECABORT Transaction discarded because of previous errors.".into()));
    assert_eq!(r.cmd(&["PING"]), Reply::Simple("PONG".into()), "the aborted EXEC left the client in MULTI");

    // A second sync must not start at once, so the replica is seen between the two.
    assert_eq!(m.cmd(&["CONFIG", "SET", "repl-diskless-sync-delay", "5"]), Reply::Simple("OK".into()));
    assert_eq!(m.cmd(&["CLIENT", "KILL", "TYPE", "replica"]), Reply::Int(1));
    wait_until("the aborted transfer", Duration::from_secs(3), || field(&mut r, "persistence", "async_loading") == "0");
    assert_eq!(r.cmd(&["GET", "mykey"]), Reply::bulk("old"), "an aborted sync lost the old data");
    assert_eq!(r.cmd(&["DBSIZE"]), Reply::Int(301));

    // Unslowed, the next sync completes and replaces the data with the master's.
    assert_eq!(m.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "0"]), Reply::Simple("OK".into()));
    wait_until("the full sync", Duration::from_secs(30), || link_up(&mut r) && r.cmd(&["DBSIZE"]) == Reply::Int(304));
    assert_eq!(r.cmd(&["GET", "mykey"]), Reply::Null);
}

/// A log file for a server under test, in the temp directory (removed on drop).
struct LogFile(PathBuf);

impl LogFile {
    fn new(tag: &str) -> LogFile {
        let n = free_port();
        LogFile(std::env::temp_dir().join(format!("redoxide-repl-{tag}-{}-{n}.log", std::process::id())))
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap_or_default()
    }

    fn contains(&self, needle: &str) -> bool {
        std::fs::read_to_string(&self.0).is_ok_and(|s| s.contains(needle))
    }
}

impl Drop for LogFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A fake master for `conns` connections (or until `limit`): it answers the handshake, then
/// PSYNC with `psync(n)` for its n-th connection (from 0), and then holds the socket open and
/// silent (`hold`) or closes it. It records when it accepted each connection.
fn fake_master(
    limit: Duration,
    conns: usize,
    hold: bool,
    psync: fn(usize) -> Vec<u8>,
) -> (u16, std::sync::Arc<parking_lot::Mutex<Vec<Instant>>>, std::thread::JoinHandle<()>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    listener.set_nonblocking(true).expect("nonblocking");
    let accepted = std::sync::Arc::new(parking_lot::Mutex::new(Vec::new()));
    let times = accepted.clone();
    let handle = std::thread::spawn(move || {
        let deadline = Instant::now() + limit;
        let mut held = Vec::new();
        while Instant::now() < deadline && times.lock().len() < conns {
            let Ok((sock, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            };
            let n = {
                let mut t = times.lock();
                t.push(Instant::now());
                t.len() - 1
            };
            let _ = sock.set_nonblocking(false);
            let _ = sock.set_read_timeout(Some(Duration::from_secs(5)));
            let mut w = match sock.try_clone() {
                Ok(w) => w,
                Err(_) => continue,
            };
            let mut r = BufReader::new(sock);
            // Each request is a multibulk; its first argument decides the answer.
            for _ in 0..10 {
                let mut header = String::new();
                if r.read_line(&mut header).unwrap_or(0) == 0 {
                    break;
                }
                let argc: usize = header.trim_start_matches('*').trim().parse().unwrap_or(0);
                let mut args = Vec::new();
                for _ in 0..argc {
                    let (mut len, mut arg) = (String::new(), String::new());
                    let _ = r.read_line(&mut len);
                    let _ = r.read_line(&mut arg);
                    args.push(arg.trim_end().to_ascii_uppercase());
                }
                match args.first().map(String::as_str) {
                    Some("PING") => {
                        let _ = w.write_all(b"+PONG\r\n");
                    }
                    Some("PSYNC") => {
                        let _ = w.write_all(&psync(n));
                        break;
                    }
                    _ => {
                        let _ = w.write_all(b"+OK\r\n");
                    }
                }
            }
            if hold {
                held.push(w);
            } else {
                let _ = w.shutdown(std::net::Shutdown::Both);
            }
        }
    });
    (port, accepted, handle)
}

#[test]
fn replica_times_out_a_silent_master_in_the_handshake_and_in_the_transfer() {
    // Silent after PSYNC the first time, after the first bytes of a 1000-byte RDB the second.
    let (port, accepted, handle) = fake_master(Duration::from_secs(30), 3, true, |n| {
        if n == 0 {
            Vec::new()
        } else {
            format!("+FULLRESYNC {} 0\r\n$1000\r\nREDIS", "a".repeat(40)).into_bytes()
        }
    });
    let log = LogFile::new("silent-master");
    let replica = redoxide(&["--repl-timeout", "1", "--logfile", log.path()]);
    let mut r = replica.client();
    assert_eq!(r.cmd(&["REPLICAOF", "127.0.0.1", &port.to_string()]), Reply::Simple("OK".into()));
    wait_until("the handshake timeout", Duration::from_secs(10), || {
        log.contains("Timeout connecting to the MASTER...")
    });
    wait_until("the transfer timeout", Duration::from_secs(10), || {
        log.contains("Timeout receiving bulk data from MASTER... If the problem persists try to set the 'repl-timeout' parameter in redis.conf to a larger value.")
    });
    // And after each timeout, the replica tries again.
    wait_until("a third attempt", Duration::from_secs(10), || accepted.lock().len() >= 3);
    assert_eq!(field(&mut r, "replication", "master_link_status"), "down");
    drop(replica);
    let _ = handle.join();
}

#[test]
fn debug_sleep_holds_back_the_keepalives_of_a_waiting_sync() {
    // The master waits 1000 s for more replicas before a diskless sync, sending a newline each
    // second; while it sleeps in DEBUG SLEEP it sends nothing (as Redis's one thread), so the
    // replica's repl-timeout fires mid-handshake.
    let master = redoxide(&[
        "--repl-diskless-sync",
        "yes",
        "--repl-diskless-sync-delay",
        "1000",
        "--enable-debug-command",
        "yes",
    ]);
    let mut m = master.client();
    let log = LogFile::new("debug-sleep");
    let replica = redoxide(&["--repl-timeout", "2", "--logfile", log.path()]);
    let mut r = replica.client();
    assert_eq!(r.cmd(&["REPLICAOF", "127.0.0.1", &master.port.to_string()]), Reply::Simple("OK".into()));
    wait_until(
        "the handshake",
        Duration::from_secs(10),
        || matches!(r.cmd(&["ROLE"]), Reply::Array(items) if items.iter().any(|i| text(i) == "handshake")),
    );
    // Keepalives alone keep it going for longer than its timeout.
    std::thread::sleep(Duration::from_secs(3));
    assert!(!log.contains("Timeout connecting to the MASTER"), "timed out despite the keepalives");
    assert_eq!(m.cmd(&["DEBUG", "SLEEP", "4"]), Reply::Simple("OK".into()));
    wait_until("the handshake timeout", Duration::from_secs(5), || log.contains("Timeout connecting to the MASTER..."));
}

#[test]
fn sub_replicas_stay_through_a_failed_full_sync_with_another_master() {
    let master1 = redoxide(&[]);
    let mut m1 = master1.client();
    m1.cmd(&["SET", "a", "b"]);
    let master2 = redoxide(&["--repl-diskless-sync", "no", "--rdb-key-save-delay", "1000000"]);
    let mut m2 = master2.client();
    for i in 0..10 {
        m2.cmd(&["SET", &format!("k{i}"), "v"]);
    }
    let replica = redoxide(&[]);
    let mut r = replica.client();
    let sub_log = LogFile::new("sub-replica");
    let sub = redoxide(&["--logfile", sub_log.path()]);
    let mut s = sub.client();
    r.cmd(&["REPLICAOF", "127.0.0.1", &master1.port.to_string()]);
    wait_until("link up", Duration::from_secs(20), || link_up(&mut r));
    s.cmd(&["REPLICAOF", "127.0.0.1", &replica.port.to_string()]);
    wait_until("sub link up", Duration::from_secs(20), || link_up(&mut s));
    assert_eq!(s.cmd(&["GET", "a"]), Reply::bulk("b"));

    // A full sync with master2 starts (its RDB takes 10 s) and master2 dies before it is over.
    r.cmd(&["REPLICAOF", "127.0.0.1", &master2.port.to_string()]);
    wait_until("master2's sync to start", Duration::from_secs(10), || {
        field(&mut m2, "persistence", "rdb_bgsave_in_progress") == "1"
    });
    drop(m2);
    drop(master2);
    let id1 = field(&mut m1, "replication", "master_replid");
    assert!(!sub_log.contains("Connection with master lost"), "the sub-replica was disconnected");
    assert_eq!(field(&mut r, "replication", "master_replid"), id1);
    assert_eq!(field(&mut s, "replication", "master_replid"), id1);

    // Back to master1: a partial resync, and the sub-replica never noticed.
    let partial = field(&mut m1, "stats", "sync_partial_ok").parse::<u64>().unwrap_or(0);
    r.cmd(&["REPLICAOF", "127.0.0.1", &master1.port.to_string()]);
    wait_until("link up again", Duration::from_secs(20), || link_up(&mut r));
    assert_eq!(field(&mut m1, "stats", "sync_full"), "1");
    assert_eq!(field(&mut m1, "stats", "sync_partial_ok"), (partial + 1).to_string());
    m1.cmd(&["SET", "c", "d"]);
    wait_until("the write to reach the sub-replica", Duration::from_secs(10), || {
        s.cmd(&["GET", "c"]) == Reply::bulk("d")
    });
    assert!(!sub_log.contains("Connection with master lost"), "the sub-replica was disconnected");
    assert_eq!(field(&mut r, "stats", "sync_full"), "1");
    assert_eq!(field(&mut r, "stats", "sync_partial_ok"), "0");
}

#[test]
fn watchdog_reports_a_diskless_load_and_a_debug_sleep_once_each() {
    let master = redoxide(&["--repl-diskless-sync", "yes", "--rdbcompression", "no"]);
    let mut m = master.client();
    let cmds: Vec<Vec<String>> = (0..100).map(|i| v(&["SET", &format!("k{i}"), &"x".repeat(10_000)])).collect();
    pipeline(&mut m, &cmds);
    // 10 ms a key: the transfer takes about a second.
    assert_eq!(m.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "10000"]), Reply::Simple("OK".into()));
    let log = LogFile::new("watchdog");
    let replica =
        redoxide(&["--repl-diskless-load", "on-empty-db", "--enable-debug-command", "yes", "--logfile", log.path()]);
    let mut r = replica.client();
    assert_eq!(r.cmd(&["CONFIG", "SET", "watchdog-period", "200"]), Reply::Simple("OK".into()));
    assert_eq!(r.cmd(&["REPLICAOF", "127.0.0.1", &master.port.to_string()]), Reply::Simple("OK".into()));
    wait_until("the watchdog during the load", Duration::from_secs(5), || log.contains("WATCHDOG TIMER EXPIRED"));
    let text = std::fs::read_to_string(&log.0).unwrap_or_default();
    let loading_at = text.find("Loading DB in memory").expect("the diskless load says it is loading when it starts");
    assert!(text.find("WATCHDOG TIMER EXPIRED").is_some_and(|at| at > loading_at));
    assert!(text.contains("the dataset has been loading"));
    assert_eq!(field(&mut r, "persistence", "loading"), "1", "the transfer was already over");
    wait_until("link up", Duration::from_secs(20), || link_up(&mut r));
    assert_eq!(r.cmd(&["DBSIZE"]), Reply::Int(100));
    let text = std::fs::read_to_string(&log.0).unwrap_or_default();
    assert_eq!(text.matches("the dataset has been loading").count(), 1, "one load, one report");

    // A worker held by DEBUG SLEEP is reported once, however long it sleeps.
    assert_eq!(r.cmd(&["DEBUG", "SLEEP", "0.7"]), Reply::Simple("OK".into()));
    wait_until("the watchdog during the sleep", Duration::from_secs(5), || {
        std::fs::read_to_string(&log.0).is_ok_and(|t| t.contains("has not returned to its event loop"))
    });
    std::thread::sleep(Duration::from_millis(300));
    let text = std::fs::read_to_string(&log.0).unwrap_or_default();
    // A timer re-armed during the 700 ms would report it three times; one more report than the
    // sleep's may come from a worker the loaded test machine did not schedule for 200 ms.
    assert!(text.matches("has not returned to its event loop").count() <= 2, "reported again and again");

    // Disabled, it says nothing.
    let before = text.matches("WATCHDOG TIMER EXPIRED").count();
    assert_eq!(r.cmd(&["CONFIG", "SET", "watchdog-period", "0"]), Reply::Simple("OK".into()));
    assert_eq!(r.cmd(&["DEBUG", "SLEEP", "0.5"]), Reply::Simple("OK".into()));
    std::thread::sleep(Duration::from_millis(300));
    let text = std::fs::read_to_string(&log.0).unwrap_or_default();
    assert_eq!(text.matches("WATCHDOG TIMER EXPIRED").count(), before);
}

#[test]
fn a_transfer_cut_short_is_reported_as_redis_does_and_retried_at_once() {
    // Every connection gets a full resync whose streamed RDB stops after its header.
    let (port, accepted, handle) = fake_master(Duration::from_secs(30), 3, false, |_| {
        format!("+FULLRESYNC {} 0\r\n$EOF:{}\r\nREDIS0010", "a".repeat(40), "b".repeat(40)).into_bytes()
    });
    let log = LogFile::new("cut-short");
    let replica = redoxide(&["--repl-diskless-load", "swapdb", "--logfile", log.path()]);
    let mut r = replica.client();
    assert_eq!(r.cmd(&["SET", "mine", "1"]), Reply::Simple("OK".into()));
    assert_eq!(r.cmd(&["REPLICAOF", "127.0.0.1", &port.to_string()]), Reply::Simple("OK".into()));
    wait_until("three attempts", Duration::from_secs(10), || accepted.lock().len() >= 3);
    let _ = handle.join();
    let times = accepted.lock().clone();
    // Without waiting for the once-a-second retry a refused connection gets.
    for pair in times.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap < Duration::from_millis(700), "reconnected after {gap:?}");
    }
    wait_until("the report", Duration::from_secs(5), || log.contains("Discarding temporary DB in background"));
    for line in [
        "MASTER <-> REPLICA sync: receiving streamed RDB from master with EOF to parser",
        "MASTER <-> REPLICA sync: Loading DB in memory",
        "Internal error in RDB reading offset 9,",
        "Failure loading rdb format from socket, assuming connection error, resuming operation.",
        "Failed trying to load the MASTER synchronization DB from socket:",
        &format!("Reconnecting to MASTER 127.0.0.1:{port} after failure"),
    ] {
        assert!(log.contains(line), "no '{line}' in the log");
    }
    // (Once the fake master stops listening, a refused connection is reported its own way.)
    assert!(!log.contains("failed: the master closed the connection"), "reported twice");
    // The old data is untouched by the failed transfers.
    assert_eq!(r.cmd(&["GET", "mine"]), Reply::bulk("1"));
}

/// A master's SHUTDOWN waits for a replica that has not acknowledged every write (Redis 7.0's
/// `shutdown-timeout`): the caller blocks, writes are held, INFO shows the time left; SHUTDOWN
/// ABORT ends the wait (the caller gets Redis's error, the held write goes through). Once the
/// replica runs again a second SHUTDOWN ends the process, and only after the replica has every
/// write the master acknowledged.
#[test]
fn shutdown_waits_for_a_lagging_replica_and_abort_cancels_the_wait() {
    let mut master = redoxide(&["--shutdown-timeout", "60"]);
    let replica = redoxide(&[]);
    let mut m = master.client();
    let mut r = replica.client();
    assert_eq!(r.cmd(&["REPLICAOF", "127.0.0.1", &master.port.to_string()]), Reply::Simple("OK".into()));
    wait_until("the replica's link", Duration::from_secs(10), || link_up(&mut r));
    m.cmd(&["SET", "k", "1"]);
    wait_until("the first write on the replica", Duration::from_secs(10), || r.cmd(&["GET", "k"]) == Reply::bulk("1"));
    replica.signal("-STOP");
    assert_eq!(m.cmd(&["INCR", "k"]), Reply::Int(2));
    let mut shutdown = master.client();
    shutdown.send(&["SHUTDOWN"]);
    wait_until("SHUTDOWN to block", Duration::from_secs(5), || field(&mut m, "clients", "blocked_clients") == "1");
    let left_ms: i64 = field(&mut m, "server", "shutdown_in_milliseconds").parse().expect("time left");
    assert!(left_ms > 0 && left_ms <= 60_000, "shutdown_in_milliseconds {left_ms}");
    let mut writer = master.client();
    writer.send(&["SET", "held", "1"]);
    wait_until("the write to be held", Duration::from_secs(5), || field(&mut m, "clients", "blocked_clients") == "2");
    assert_eq!(m.cmd(&["SHUTDOWN", "ABORT"]), Reply::Simple("OK".into()));
    assert_eq!(shutdown.read(), Reply::Error("ERR Errors trying to SHUTDOWN. Check logs.".into()));
    assert_eq!(writer.read(), Reply::Simple("OK".into()), "the held write runs once the wait is over");
    assert_eq!(field(&mut m, "server", "shutdown_in_milliseconds"), "", "no shutdown pending");
    assert_eq!(m.cmd(&["SHUTDOWN", "ABORT"]), Reply::Error("ERR No shutdown in progress.".into()));
    shutdown.send(&["SHUTDOWN"]);
    wait_until("SHUTDOWN to block again", Duration::from_secs(5), || {
        field(&mut m, "clients", "blocked_clients") == "1"
    });
    replica.signal("-CONT");
    let status = master.wait_exit(Duration::from_secs(20)).expect("the master exits once the replica caught up");
    assert!(status.success(), "{status}");
    assert_eq!(r.cmd(&["GET", "k"]), Reply::bulk("2"), "the replica had every write before the master left");
    assert_eq!(r.cmd(&["GET", "held"]), Reply::bulk("1"));
}

/// `oom-score-adj` follows the role, as Redis's setOOMScoreAdj: the master's value, the
/// replica's after REPLICAOF, the master's again after REPLICAOF NO ONE (relative to the score
/// the process had), the value itself when `absolute`, and the earlier score once turned off.
#[test]
fn oom_score_adj_follows_the_role() {
    let node = redoxide(&[]);
    let mut c = node.client();
    let score = || -> i64 {
        let text = std::fs::read_to_string(format!("/proc/{}/oom_score_adj", node.pid())).expect("oom_score_adj");
        text.trim().parse().expect("a number")
    };
    let base = score();
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "oom-score-adj-values", "10 20 30", "oom-score-adj", "yes"]),
        Reply::Simple("OK".into())
    );
    assert_eq!(score(), base + 10, "master class");
    // Nobody listens on port 1: the role changes all the same.
    assert_eq!(c.cmd(&["REPLICAOF", "127.0.0.1", "1"]), Reply::Simple("OK".into()));
    assert_eq!(score(), base + 20, "replica class");
    assert_eq!(c.cmd(&["REPLICAOF", "NO", "ONE"]), Reply::Simple("OK".into()));
    assert_eq!(score(), base + 10, "master class again");
    assert_eq!(c.cmd(&["CONFIG", "SET", "oom-score-adj", "absolute"]), Reply::Simple("OK".into()));
    assert_eq!(score(), 10, "absolute");
    assert_eq!(c.cmd(&["CONFIG", "SET", "oom-score-adj", "no"]), Reply::Simple("OK".into()));
    assert_eq!(score(), base, "the earlier score is restored");
}
