//! Black-box tests of maxmemory enforcement: the OOM refusal under noeviction (and inside
//! MULTI), which keys each policy evicts, and what an eviction does besides deleting (INFO
//! evicted_keys, the `evicted` keyspace event, WATCH, propagation to the AOF).
//!
//! Limits are set relative to the server's own used_memory (a few tens of KB below it), so the
//! tests do not depend on the allocator's exact figures; keys are sampled exhaustively
//! (`maxmemory-samples` above the key count) where a test checks *which* keys went.

mod support;

use std::time::{Duration, Instant};
use support::{Client, Reply, Server};

const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";

fn ok(c: &mut Client, args: &[&str]) {
    assert_eq!(c.cmd(args), Reply::Simple("OK".into()), "{args:?}");
}

fn info_field(c: &mut Client, section: &str, field: &str) -> String {
    let text = match c.cmd(&["INFO", section]) {
        Reply::Bulk(b) | Reply::Verbatim(_, b) => String::from_utf8_lossy(&b).into_owned(),
        other => panic!("INFO replied {other:?}"),
    };
    let prefix = format!("{field}:");
    text.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no {field} in INFO {section}"))
}

fn used_memory(c: &mut Client) -> i64 {
    info_field(c, "memory", "used_memory").parse().expect("used_memory")
}

fn evicted_keys(c: &mut Client) -> i64 {
    info_field(c, "stats", "evicted_keys").parse().expect("evicted_keys")
}

fn exists(c: &mut Client, key: &str) -> bool {
    c.cmd(&["EXISTS", key]) == Reply::Int(1)
}

/// Sets maxmemory `below` bytes under the current use, then writes (a denyoom command, which
/// evicts first) until something was evicted; returns the reply of the last write.
fn squeeze(c: &mut Client, below: i64) -> Reply {
    // Every command the squeeze and the checks after it use runs once first: a command's first
    // call allocates its latency histogram (24 KB, as Redis's hdr_init does), which would count
    // against the limit and evict more than `below` bytes' worth.
    ok(c, &["CONFIG", "SET", "maxmemory", "0"]);
    ok(c, &["SET", "trigger:warm-up", "x"]);
    let _ = exists(c, "trigger:warm-up");
    let _ = c.cmd(&["OBJECT", "FREQ", "trigger:warm-up"]);
    let _ = c.cmd(&["GET", "trigger:warm-up"]);
    let _ = evicted_keys(c);
    let limit = (used_memory(c) - below).max(1);
    ok(c, &["CONFIG", "SET", "maxmemory", &limit.to_string()]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut i = 0;
    loop {
        let reply = c.cmd(&["SET", &format!("trigger:{i}"), "x"]);
        if evicted_keys(c) > 0 || matches!(reply, Reply::Error(_)) {
            return reply;
        }
        assert!(Instant::now() < deadline, "nothing was evicted under maxmemory {limit}");
        i += 1;
    }
}

#[test]
fn noeviction_refuses_denyoom_commands_runs_the_rest_and_counts_oom() {
    let server = Server::start(&[]);
    let mut c = server.client();
    ok(&mut c, &["SET", "k", "v"]);
    ok(&mut c, &["CONFIG", "SET", "maxmemory", "1"]);
    assert_eq!(c.cmd(&["SET", "k2", "v"]), Reply::Error(OOM.into()));
    assert_eq!(c.cmd(&["APPEND", "k", "more"]), Reply::Error(OOM.into()));
    // Reads and deletions (not denyoom) still run.
    assert_eq!(c.cmd(&["GET", "k"]), Reply::bulk("v"));
    assert_eq!(c.cmd(&["DEL", "k"]), Reply::Int(1));
    assert_eq!(info_field(&mut c, "errorstats", "errorstat_OOM"), "count=2");
    let set_stats = info_field(&mut c, "commandstats", "cmdstat_set");
    assert!(set_stats.contains("rejected_calls=1"), "{set_stats}");

    // Queuing inside MULTI uses memory: refused, and the transaction is aborted. DISCARD runs.
    ok(&mut c, &["MULTI"]);
    assert_eq!(c.cmd(&["GET", "k"]), Reply::Error(OOM.into()));
    assert!(matches!(c.cmd(&["EXEC"]), Reply::Error(e) if e.starts_with("EXECABORT")));
    ok(&mut c, &["MULTI"]);
    assert_eq!(c.cmd(&["SET", "x", "1"]), Reply::Error(OOM.into()));
    ok(&mut c, &["DISCARD"]);

    // A transaction queued before the limit: EXEC of reads runs, EXEC with a denyoom command
    // is refused.
    ok(&mut c, &["CONFIG", "SET", "maxmemory", "0"]);
    let mut other = server.client();
    ok(&mut c, &["MULTI"]);
    assert_eq!(c.cmd(&["GET", "k"]), Reply::Simple("QUEUED".into()));
    ok(&mut other, &["CONFIG", "SET", "maxmemory", "1"]);
    assert_eq!(c.cmd(&["EXEC"]), Reply::Array(vec![Reply::Null]));
    ok(&mut other, &["CONFIG", "SET", "maxmemory", "0"]);
    ok(&mut c, &["MULTI"]);
    assert_eq!(c.cmd(&["SET", "k", "1"]), Reply::Simple("QUEUED".into()));
    ok(&mut other, &["CONFIG", "SET", "maxmemory", "1"]);
    assert_eq!(c.cmd(&["EXEC"]), Reply::Error(format!("EXECABORT Transaction discarded because of: {OOM}")));
    ok(&mut other, &["CONFIG", "SET", "maxmemory", "0"]);
    // The transaction is over: nothing ran, and the connection is out of MULTI.
    assert_eq!(c.cmd(&["GET", "k"]), Reply::Null);
    assert_eq!(evicted_keys(&mut c), 0, "noeviction never evicts");
}

#[test]
fn volatile_policies_never_evict_keys_without_a_ttl() {
    let server = Server::start(&[]);
    let mut c = server.client();
    let value = "v".repeat(100);
    for policy in ["volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"] {
        ok(&mut c, &["CONFIG", "SET", "maxmemory", "0"]);
        ok(&mut c, &["FLUSHALL"]);
        ok(&mut c, &["CONFIG", "RESETSTAT"]);
        ok(&mut c, &["CONFIG", "SET", "maxmemory-policy", policy]);
        for i in 0..300 {
            ok(&mut c, &["SET", &format!("plain:{i}"), &value]);
            ok(&mut c, &["SET", &format!("ttl:{i}"), &value, "EX", "1000"]);
        }
        squeeze(&mut c, 30_000);
        assert!(evicted_keys(&mut c) > 0, "{policy}");
        // Down to a limit nothing but the plain keys could meet: every key with a TTL goes,
        // then writes are refused, and the plain keys all stay.
        // (One call evicts for at most its time budget, maxmemory-eviction-tenacity, and lets
        // the command run meanwhile; the refusal comes once nothing is left to evict.)
        ok(&mut c, &["CONFIG", "SET", "maxmemory", "1"]);
        let refused = (0..1000).any(|_| c.cmd(&["SET", "one-more", "x"]) == Reply::Error(OOM.into()));
        assert!(refused, "{policy}: writes never refused");
        for i in 0..300 {
            assert!(exists(&mut c, &format!("plain:{i}")), "{policy} evicted plain:{i}");
            assert!(!exists(&mut c, &format!("ttl:{i}")), "{policy} kept ttl:{i}");
        }
        assert_eq!(evicted_keys(&mut c), 300, "{policy}");
    }
}

#[test]
fn volatile_ttl_evicts_the_nearest_expiry_first() {
    let server = Server::start(&["--maxmemory-policy", "volatile-ttl", "--maxmemory-samples", "1000"]);
    let mut c = server.client();
    let value = "v".repeat(100);
    for i in 0..300 {
        let ttl = (100_000 + i * 1000).to_string();
        ok(&mut c, &["SET", &format!("k:{i}"), &value, "PX", &ttl]);
    }
    squeeze(&mut c, 30_000);
    let gone: Vec<usize> = (0..300).filter(|i| !exists(&mut c, &format!("k:{i}"))).collect();
    assert!(!gone.is_empty());
    // Every key was sampled, so exactly the nearest expiries went.
    assert_eq!(gone, (0..gone.len()).collect::<Vec<_>>());
}

#[test]
fn allkeys_lru_keeps_recently_read_keys_and_object_idletime_reports_idle_seconds() {
    let server = Server::start(&["--maxmemory-policy", "allkeys-lru", "--maxmemory-samples", "1000"]);
    let mut c = server.client();
    let value = "v".repeat(100);
    for i in 0..300 {
        ok(&mut c, &["SET", &format!("k:{i}"), &value]);
    }
    // The LRU clock counts seconds.
    std::thread::sleep(Duration::from_millis(2100));
    for i in (0..300).step_by(2) {
        assert_eq!(c.cmd(&["GET", &format!("k:{i}")]), Reply::bulk(&value));
    }
    assert_eq!(c.cmd(&["OBJECT", "IDLETIME", "k:0"]), Reply::Int(0));
    assert!(matches!(c.cmd(&["OBJECT", "IDLETIME", "k:1"]), Reply::Int(n) if n >= 2));
    // OBJECT itself is not an access.
    assert!(matches!(c.cmd(&["OBJECT", "IDLETIME", "k:1"]), Reply::Int(n) if n >= 2));
    assert!(
        matches!(c.cmd(&["OBJECT", "FREQ", "k:1"]), Reply::Error(e) if e.contains("LFU maxmemory policy is not selected"))
    );
    squeeze(&mut c, 30_000);
    let evicted = evicted_keys(&mut c);
    assert!(evicted > 0 && evicted < 150, "evicted {evicted}");
    for i in (0..300).step_by(2) {
        assert!(exists(&mut c, &format!("k:{i}")), "recently read k:{i} was evicted");
    }
}

#[test]
fn lfu_counts_accesses_logarithmically() {
    let server = Server::start(&["--maxmemory-policy", "allkeys-lfu"]);
    let mut c = server.client();
    ok(&mut c, &["SET", "hot", "1"]);
    ok(&mut c, &["SET", "cold", "1"]);
    // A new key starts at 5, and looking at it is not an access.
    assert_eq!(c.cmd(&["OBJECT", "FREQ", "cold"]), Reply::Int(5));
    assert_eq!(c.cmd(&["OBJECT", "FREQ", "cold"]), Reply::Int(5));
    for _ in 0..2000 {
        c.send(&["GET", "hot"]);
    }
    for _ in 0..2000 {
        c.read();
    }
    match c.cmd(&["OBJECT", "FREQ", "hot"]) {
        Reply::Int(n) => assert!(n > 10 && n < 100, "freq after 2000 reads: {n}"),
        other => panic!("OBJECT FREQ replied {other:?}"),
    }
    assert!(
        matches!(c.cmd(&["OBJECT", "IDLETIME", "hot"]), Reply::Error(e) if e.contains("LFU maxmemory policy is selected"))
    );
    assert!(matches!(c.cmd(&["RESTORE", "r", "0", "x", "FREQ", "300"]), Reply::Error(_)));
    let dump = match c.cmd(&["DUMP", "cold"]) {
        Reply::Bulk(b) => b,
        other => panic!("DUMP replied {other:?}"),
    };
    // RESTORE with FREQ sets the counter (sent raw: the payload is binary).
    let mut req = format!("*6\r\n$7\r\nRESTORE\r\n$8\r\nrestored\r\n$1\r\n0\r\n${}\r\n", dump.len()).into_bytes();
    req.extend_from_slice(&dump);
    req.extend_from_slice(b"\r\n$4\r\nFREQ\r\n$3\r\n100\r\n");
    c.send_raw(&req);
    assert_eq!(c.read(), Reply::Simple("OK".into()));
    assert_eq!(c.cmd(&["OBJECT", "FREQ", "restored"]), Reply::Int(100));
}

#[test]
fn eviction_notifies_touches_watchers_and_propagates_to_the_aof() {
    let server = Server::start(&[
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--maxmemory-policy",
        "allkeys-random",
        "--notify-keyspace-events",
        "Ee",
        "--lazyfree-lazy-eviction",
        "yes",
    ]);
    let mut c = server.client();
    let mut sub = server.client();
    assert!(matches!(sub.cmd(&["SUBSCRIBE", "__keyevent@0__:evicted"]), Reply::Array(_)));
    let mut watcher = server.client();
    for i in 0..20 {
        ok(&mut c, &["SET", &format!("k:{i}"), "v"]);
    }
    ok(&mut watcher, &["WATCH", "k:0"]);
    // Everything must go: any command evicts, a read-only one too.
    ok(&mut c, &["CONFIG", "SET", "maxmemory", "1"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.cmd(&["DBSIZE"]) != Reply::Int(0) {
        assert!(Instant::now() < deadline, "keys left after 10 s over maxmemory");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(evicted_keys(&mut c), 20);
    ok(&mut c, &["CONFIG", "SET", "maxmemory", "0"]);

    let mut notified = Vec::new();
    sub.set_read_timeout(Duration::from_secs(5));
    for _ in 0..20 {
        match sub.read() {
            Reply::Array(items) => {
                assert_eq!(items[1], Reply::bulk("__keyevent@0__:evicted"));
                if let Reply::Bulk(k) = &items[2] {
                    notified.push(String::from_utf8_lossy(k).into_owned());
                }
            }
            other => panic!("subscriber got {other:?}"),
        }
    }
    notified.sort();
    let mut expected: Vec<String> = (0..20).map(|i| format!("k:{i}")).collect();
    expected.sort();
    assert_eq!(notified, expected);

    ok(&mut watcher, &["MULTI"]);
    assert_eq!(watcher.cmd(&["SET", "k:0", "again"]), Reply::Simple("QUEUED".into()));
    assert_eq!(watcher.cmd(&["EXEC"]), Reply::Null, "eviction must fail the watcher's EXEC");

    // The AOF holds one UNLINK per evicted key (lazyfree-lazy-eviction yes).
    let dir = server_dir(&mut c);
    let mut aof = Vec::new();
    for entry in std::fs::read_dir(dir.join("appendonlydir")).expect("appendonlydir").flatten() {
        if entry.file_name().to_string_lossy().ends_with(".incr.aof") {
            aof.extend(std::fs::read(entry.path()).expect("read aof"));
        }
    }
    let text = String::from_utf8_lossy(&aof);
    for i in 0..20 {
        let unlink = format!("*2\r\n$6\r\nUNLINK\r\n${}\r\nk:{i}\r\n", format!("k:{i}").len());
        assert!(text.contains(&unlink), "no UNLINK of k:{i} in the AOF");
    }
}

fn server_dir(c: &mut Client) -> std::path::PathBuf {
    match c.cmd(&["CONFIG", "GET", "dir"]) {
        Reply::Array(items) => match &items[1] {
            Reply::Bulk(b) => std::path::PathBuf::from(String::from_utf8_lossy(b).into_owned()),
            other => panic!("dir {other:?}"),
        },
        other => panic!("CONFIG GET dir replied {other:?}"),
    }
}

/// Waits (bounded) until `cond` holds.
fn wait_until(what: &str, within: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_replica_ignores_maxmemory_unless_told_otherwise() {
    let master = Server::start(&[]);
    let mut m = master.client();
    let port = master.port.to_string();
    let replica =
        Server::start(&["--replicaof", "127.0.0.1", &port, "--maxmemory", "1", "--maxmemory-policy", "allkeys-random"]);
    let mut r = replica.client();
    for i in 0..50 {
        ok(&mut m, &["SET", &format!("k:{i}"), "v"]);
    }
    // replica-ignore-maxmemory yes (the default): the master's writes all land and stay.
    wait_until("the replica to hold the 50 keys", Duration::from_secs(20), || r.cmd(&["DBSIZE"]) == Reply::Int(50));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(r.cmd(&["DBSIZE"]), Reply::Int(50));
    assert_eq!(evicted_keys(&mut r), 0);
    // Told not to ignore it, the replica evicts on its own (its timer, no command needed).
    ok(&mut r, &["CONFIG", "SET", "replica-ignore-maxmemory", "no"]);
    wait_until("the replica to evict", Duration::from_secs(10), || r.cmd(&["DBSIZE"]) == Reply::Int(0));
    assert_eq!(evicted_keys(&mut r), 50);
}

/// Client eviction (`maxmemory-clients`): clients whose unread replies or unfinished requests
/// push the clients' memory over the limit are closed, largest first, counted in
/// `evicted_clients`; a CLIENT NO-EVICT client and the keys are left alone. Without the limit
/// nothing is evicted.
#[test]
fn client_eviction_closes_the_largest_clients_and_spares_no_evict_ones() {
    let server = Server::start(&["--io-threads", "2"]);
    let mut admin = server.client();
    ok(&mut admin, &["CLIENT", "NO-EVICT", "on"]);
    assert_eq!(admin.cmd(&["SETRANGE", "big", "100000", "x"]), Reply::Int(100001));
    ok(&mut admin, &["CONFIG", "SET", "maxmemory-clients", "1mb"]);
    // A client that asks for 100 KB replies and never reads them.
    let mut hog = server.client();
    let burst: Vec<u8> = (0..40).flat_map(|_| Client::encode(&["GET", "big"])).collect();
    // A client that never finishes a 2 MB request.
    let mut dead = server.client();
    let mut partial = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000\r\n".to_vec();
    partial.extend(std::iter::repeat_n(b'v', 1_200_000));
    let deadline = Instant::now() + Duration::from_secs(20);
    // The socket buffers absorb the first replies; keep asking until the server reacts.
    let mut hog_alive = true;
    while hog_alive {
        assert!(Instant::now() < deadline, "no client was evicted");
        hog_alive = hog.try_send_raw(&burst);
        std::thread::sleep(Duration::from_millis(20));
        if info_field(&mut admin, "stats", "evicted_clients") != "0" {
            break;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let _ = dead.try_send_raw(&partial);
    while info_field(&mut admin, "stats", "evicted_clients").parse::<u64>().unwrap_or(0) < 2 {
        assert!(Instant::now() < deadline, "the dead client was not evicted");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(admin.cmd(&["STRLEN", "big"]), Reply::Int(100001), "keys are not touched");
    assert_eq!(info_field(&mut admin, "stats", "evicted_keys"), "0");
    assert!(dead.is_closed_or_reset(), "the dead client's connection is closed");
    let mem: i64 = info_field(&mut admin, "memory", "mem_clients_normal").parse().expect("number");
    assert!(mem < 1 << 20, "clients' memory is back under the limit: {mem}");
    // Off: the same dead client stays.
    ok(&mut admin, &["CONFIG", "SET", "maxmemory-clients", "0"]);
    let mut dead = server.client();
    assert!(dead.try_send_raw(&partial));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(info_field(&mut admin, "stats", "evicted_clients").parse::<u64>().unwrap_or(0), 2);
    assert_eq!(admin.cmd(&["PING"]), Reply::Simple("PONG".into()));
}

/// One large reply among small ones does not leave its output buffer held by the connection
/// (that memory is used_memory, and would stand against maxmemory: Redis's "Don't rehash if
/// used memory exceeds maxmemory after rehash" leaves a margin of 10 KB after an INFO); a
/// client whose replies stay large keeps reusing one buffer.
#[test]
fn a_large_reply_does_not_leave_its_buffer_held() {
    let server = Server::start(&[]);
    let mut c = server.client();
    let value = "v".repeat(32 * 1024);
    ok(&mut c, &["SET", "big", &value]);
    ok(&mut c, &["SET", "small", "x"]);
    // Each command once first (its latency histogram is allocated on the first call).
    assert_eq!(c.cmd(&["GET", "big"]), Reply::Bulk(value.clone().into_bytes()));
    let _ = c.cmd(&["GET", "small"]);
    let _ = used_memory(&mut c);
    let before = used_memory(&mut c);
    assert_eq!(c.cmd(&["GET", "big"]), Reply::Bulk(value.clone().into_bytes()));
    let after_one = used_memory(&mut c);
    assert!(after_one - before < 8 * 1024, "one 32 KB reply left {} bytes in use", after_one - before);
    assert_eq!(c.cmd(&["GET", "big"]), Reply::Bulk(value.clone().into_bytes()));
    assert_eq!(c.cmd(&["GET", "big"]), Reply::Bulk(value.into_bytes()));
    let after_many = used_memory(&mut c);
    assert!(
        after_many - before >= 32 * 1024,
        "replies that stay large keep their buffer: {} bytes",
        after_many - before
    );
}

/// A key written by a script becomes evictable at once, even right after an eviction found
/// nothing to evict (the worker then skips sampling for a moment, but not past a write).
#[test]
fn a_key_a_script_wrote_is_evicted_right_after_a_barren_eviction() {
    let server = Server::start(&["--maxmemory-policy", "allkeys-random"]);
    let mut c = server.client();
    ok(&mut c, &["CONFIG", "SET", "maxmemory", "1"]);
    assert_eq!(c.cmd(&["GET", "nothing"]), Reply::Null, "an eviction that finds no key");
    ok(&mut c, &["CONFIG", "SET", "maxmemory", "0"]);
    assert_eq!(c.cmd(&["EVAL", "return redis.call('set', KEYS[1], 'y')", "1", "k"]), Reply::Simple("OK".into()));
    ok(&mut c, &["CONFIG", "SET", "maxmemory", "1"]);
    assert_eq!(c.cmd(&["SADD", "k", "m"]), Reply::Error(OOM.into()));
    assert_eq!(c.cmd(&["DBSIZE"]), Reply::Int(0), "the script's key was evicted");
}

/// The CLIENT LIST line of the connection named `name`, if it is listed.
fn client_line(admin: &mut Client, name: &str) -> Option<String> {
    let Reply::Bulk(list) = admin.cmd(&["CLIENT", "LIST"]) else { panic!("CLIENT LIST is a bulk string") };
    String::from_utf8_lossy(&list).lines().find(|l| l.contains(&format!(" name={name} "))).map(str::to_string)
}

fn client_field(line: &str, field: &str) -> u64 {
    let prefix = format!("{field}=");
    line.split(' ').find_map(|kv| kv.strip_prefix(prefix.as_str())).and_then(|v| v.parse().ok()).expect(field)
}

/// What a client holds besides its buffers counts towards `maxmemory-clients`, as Redis's
/// getClientMemoryUsage adds it: a queued transaction and its WATCHes (CLIENT LIST's
/// `multi-mem`, also in `tot-mem`), so a transaction that queues past the limit is evicted.
/// Lowering the limit evicts at once; a percentage of no `maxmemory` is no limit.
#[test]
fn client_memory_counts_transactions_and_a_lower_limit_evicts_at_once() {
    let server = Server::start(&[]);
    let mut admin = server.client();
    ok(&mut admin, &["CLIENT", "NO-EVICT", "on"]);
    // A share of no maxmemory evicts nobody (it once evicted every client).
    ok(&mut admin, &["CONFIG", "SET", "maxmemory-clients", "7%"]);
    let mut plain = server.client();
    ok(&mut plain, &["CLIENT", "SETNAME", "plain"]);
    assert_eq!(plain.cmd(&["PING"]), Reply::Simple("PONG".into()));
    assert!(client_line(&mut admin, "plain").is_some(), "no limit, no eviction");

    ok(&mut admin, &["CONFIG", "SET", "maxmemory-clients", "3000000"]);
    let mut tx = server.client();
    ok(&mut tx, &["CLIENT", "SETNAME", "tx"]);
    for i in 0..100 {
        ok(&mut tx, &["WATCH", &format!("w{i}")]);
    }
    ok(&mut tx, &["MULTI"]);
    let value = "v".repeat(500_000);
    assert_eq!(tx.cmd(&["SET", "k", &value]), Reply::Simple("QUEUED".into()));
    let line = client_line(&mut admin, "tx").expect("listed");
    let multi_mem = client_field(&line, "multi-mem");
    assert!(multi_mem >= 500_000, "the queued SET counts: {line}");
    assert!(client_field(&line, "tot-mem") >= multi_mem, "{line}");
    let mut evicted = false;
    for _ in 0..10 {
        if !tx.try_send_raw(&Client::encode(&["SET", "k", &value])) {
            evicted = true;
            break;
        }
        if client_line(&mut admin, "tx").is_none() {
            evicted = true;
            break;
        }
        let _ = tx.read();
    }
    assert!(evicted, "a transaction queued past maxmemory-clients is evicted");
    assert!(client_line(&mut admin, "plain").is_some(), "the small client stays");

    // Ten clients holding ~300 KB of unfinished requests each, under a 4 MB limit; halving it
    // evicts some of them before the next command runs.
    ok(&mut admin, &["CONFIG", "SET", "maxmemory-clients", "4mb"]);
    let mut holders = Vec::new();
    for i in 0..10 {
        let mut c = server.client();
        ok(&mut c, &["CLIENT", "SETNAME", &format!("holder{i}")]);
        let mut partial = b"*2\r\n$300000\r\n".to_vec();
        partial.extend(std::iter::repeat_n(b'v', 300_000));
        assert!(c.try_send_raw(&partial));
        holders.push(c);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let holding = |admin: &mut Client| (0..10).filter(|i| client_line(admin, &format!("holder{i}")).is_some()).count();
    while (0..10)
        .any(|i| client_line(&mut admin, &format!("holder{i}")).is_none_or(|l| client_field(&l, "qbuf") < 300_000))
    {
        assert!(Instant::now() < deadline, "the requests did not arrive");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(holding(&mut admin), 10);
    ok(&mut admin, &["CONFIG", "SET", "maxmemory-clients", "2mb"]);
    let left = holding(&mut admin);
    assert!(left > 0 && left < 10, "{left} of 10 holders left after halving the limit");
}
