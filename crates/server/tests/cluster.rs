//! Cluster mode, node by node, with real processes: start-up rules (nodes.conf lock, port range),
//! the replies of a node with no slots, redirection between two nodes joined by CLUSTER MEET,
//! MULTI/EXEC under redirection, and identity kept across a restart. The whole-cluster scenarios
//! with redis-cli, redis-py and redis-server live in compat/cluster/.

mod support;

use std::time::{Duration, Instant};
use support::{cluster_port, Client, Reply, Server};

fn err(text: &str) -> Reply {
    Reply::Error(text.to_string())
}

fn text(reply: Reply) -> String {
    match reply {
        Reply::Bulk(b) | Reply::Verbatim(_, b) => String::from_utf8_lossy(&b).into_owned(),
        Reply::Simple(s) => s,
        other => panic!("expected text, got {other:?}"),
    }
}

fn info_field(c: &mut Client, field: &str) -> String {
    let info = text(c.cmd(&["CLUSTER", "INFO"]));
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {info}"))
        .trim()
        .to_string()
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

/// Gives `a` slots 0-8191 and `b` the rest, joins them with CLUSTER MEET and waits until both
/// say the cluster is ok; a client of each.
fn join_halves(a: &Server, b: &Server) -> (Client, Client) {
    let (mut ca, mut cb) = (a.client(), b.client());
    assert_eq!(ca.cmd(&["CLUSTER", "ADDSLOTSRANGE", "0", "8191"]), Reply::Simple("OK".into()));
    assert_eq!(cb.cmd(&["CLUSTER", "ADDSLOTSRANGE", "8192", "16383"]), Reply::Simple("OK".into()));
    assert_eq!(ca.cmd(&["CLUSTER", "MEET", "127.0.0.1", &b.port.to_string()]), Reply::Simple("OK".into()));
    wait_for("both nodes ok", || {
        info_field(&mut ca, "cluster_state") == "ok" && info_field(&mut cb, "cluster_state") == "ok"
    });
    (ca, cb)
}

#[test]
fn a_port_whose_bus_port_overflows_is_refused() {
    let dir = std::env::temp_dir().join(format!("redoxide-cluster-port-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_redoxide-server"))
        .args(["--port", "60001", "--bind", "127.0.0.1", "--cluster-enabled", "yes", "--dir"])
        .arg(&dir)
        .output()
        .expect("run server");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!out.status.success());
    let log = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("Your Redis port number must be 55535 or less."), "{log}");
}

#[test]
fn nodes_conf_is_locked_to_one_node() {
    let first = Server::start_cluster_node(&[]);
    let mut c = first.client();
    let myid = text(c.cmd(&["CLUSTER", "MYID"]));
    let conf = std::fs::read_to_string(first.dir.join("nodes.conf")).expect("nodes.conf written at start");
    assert!(conf.contains(&format!("{myid} ")) && conf.contains("myself,master"), "{conf}");
    assert!(conf.contains("vars currentEpoch 0 lastVoteEpoch 0"), "{conf}");
    let port = cluster_port();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_redoxide-server"))
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--cluster-enabled", "yes", "--dir"])
        .arg(&first.dir)
        .output()
        .expect("run second server");
    assert!(!out.status.success());
    let log = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("is already used by a different Redis Cluster node"), "{log}");
}

#[test]
fn cluster_commands_need_cluster_mode() {
    let server = Server::start(&[]);
    let mut c = server.client();
    for cmd in [&["CLUSTER", "INFO"][..], &["ASKING"], &["READONLY"], &["READWRITE"]] {
        assert_eq!(c.cmd(cmd), err("ERR This instance has cluster support disabled"), "{cmd:?}");
    }
}

#[test]
fn a_lone_node_serves_no_slot_and_allows_only_db_0() {
    let server = Server::start_cluster_node(&[]);
    let mut c = server.client();
    assert_eq!(info_field(&mut c, "cluster_state"), "fail");
    assert_eq!(c.cmd(&["SET", "foo", "bar"]), err("CLUSTERDOWN Hash slot not served"));
    assert_eq!(c.cmd(&["PING"]), Reply::Simple("PONG".into()));
    assert_eq!(c.cmd(&["SELECT", "0"]), Reply::Simple("OK".into()));
    assert_eq!(c.cmd(&["SELECT", "1"]), err("ERR SELECT is not allowed in cluster mode"));
    assert_eq!(c.cmd(&["CLUSTER", "ADDSLOTSRANGE", "0", "16383"]), Reply::Simple("OK".into()));
    wait_for("cluster_state:ok", || info_field(&mut c, "cluster_state") == "ok");
    assert_eq!(c.cmd(&["SET", "foo", "bar"]), Reply::Simple("OK".into()));
    assert_eq!(c.cmd(&["MSET", "a", "1", "b", "2"]), err("CROSSSLOT Keys in request don't hash to the same slot"));
    assert_eq!(c.cmd(&["MSET", "{a}1", "1", "{a}2", "2"]), Reply::Simple("OK".into()));
}

#[test]
fn two_nodes_redirect_and_transactions_follow_redis() {
    let (a, b) = (Server::start_cluster_node(&[]), Server::start_cluster_node(&[]));
    let (mut ca, mut cb) = join_halves(&a, &b);
    // "foo" is slot 12182, on b.
    assert_eq!(ca.cmd(&["GET", "foo"]), err(&format!("MOVED 12182 127.0.0.1:{}", b.port)));
    assert_eq!(cb.cmd(&["SET", "foo", "1"]), Reply::Simple("OK".into()));
    // A redirected command inside MULTI aborts the transaction; EXEC is refused.
    assert_eq!(ca.cmd(&["MULTI"]), Reply::Simple("OK".into()));
    assert_eq!(ca.cmd(&["INCR", "foo"]), err(&format!("MOVED 12182 127.0.0.1:{}", b.port)));
    assert_eq!(ca.cmd(&["EXEC"]), err("EXECABORT Transaction discarded because of previous errors."));
    // Served locally: queued and executed.
    assert_eq!(cb.cmd(&["MULTI"]), Reply::Simple("OK".into()));
    assert_eq!(cb.cmd(&["INCR", "foo"]), Reply::Simple("QUEUED".into()));
    assert_eq!(cb.cmd(&["EXEC"]), Reply::Array(vec![Reply::Int(2)]));
    // ASKING lets an importing node serve a key once; READONLY does not make a master serve
    // another master's slot.
    let b_id = text(cb.cmd(&["CLUSTER", "MYID"]));
    assert_eq!(ca.cmd(&["CLUSTER", "SETSLOT", "12182", "IMPORTING", &b_id]), Reply::Simple("OK".into()));
    assert_eq!(ca.cmd(&["ASKING"]), Reply::Simple("OK".into()));
    assert_eq!(ca.cmd(&["GET", "foo"]), Reply::Null);
    assert_eq!(ca.cmd(&["GET", "foo"]), err(&format!("MOVED 12182 127.0.0.1:{}", b.port)));
    assert_eq!(ca.cmd(&["READONLY"]), Reply::Simple("OK".into()));
    assert_eq!(ca.cmd(&["GET", "foo"]), err(&format!("MOVED 12182 127.0.0.1:{}", b.port)));
}

#[test]
fn a_readonly_client_of_a_replica_may_block_on_reads_but_not_run_writing_scripts() {
    let master = Server::start_cluster_node(&[]);
    let replica = Server::start_cluster_node(&[]);
    let (mut cm, mut cr) = (master.client(), replica.client());
    assert_eq!(cm.cmd(&["CLUSTER", "ADDSLOTSRANGE", "0", "16383"]), Reply::Simple("OK".into()));
    assert_eq!(cr.cmd(&["CLUSTER", "MEET", "127.0.0.1", &master.port.to_string()]), Reply::Simple("OK".into()));
    let master_id = text(cm.cmd(&["CLUSTER", "MYID"]));
    wait_for("the replica to know the master", || {
        cr.cmd(&["CLUSTER", "REPLICATE", &master_id]) == Reply::Simple("OK".into())
    });
    wait_for("the replica in sync", || {
        let info = text(cr.cmd(&["INFO", "replication"]));
        info.contains("master_link_status:up")
    });
    // "foo" is slot 12182. XREAD is a read: a READONLY client waits for it on the replica,
    // and the master's XADD, replicated, wakes it (Redis's clusterRedirectBlockedClientIfNeeded
    // lets the replica keep it). BLPOP is a write: redirected at once.
    let mut reader = replica.client();
    assert_eq!(reader.cmd(&["READONLY"]), Reply::Simple("OK".into()));
    assert_eq!(reader.cmd(&["BLPOP", "foo", "0"]), err(&format!("MOVED 12182 127.0.0.1:{}", master.port)));
    reader.send(&["XREAD", "BLOCK", "0", "STREAMS", "foo", "$"]);
    wait_for("the reader blocked", || text(cr.cmd(&["INFO", "clients"])).contains("blocked_clients:1"));
    // The replica's cluster cron runs meanwhile: the reader must still be parked, not MOVED.
    std::thread::sleep(Duration::from_millis(300));
    assert!(matches!(cm.cmd(&["XADD", "foo", "1-1", "f", "v"]), Reply::Bulk(_)));
    let b = |s: &str| Reply::Bulk(s.as_bytes().to_vec());
    let entry = Reply::Array(vec![b("1-1"), Reply::Array(vec![b("f"), b("v")])]);
    assert_eq!(reader.read(), Reply::Array(vec![Reply::Array(vec![b("foo"), Reply::Array(vec![entry])])]));
    // A script with a shebang and no `no-writes` flag may write: MOVED to the master, as Redis's
    // getCommandFlags makes it a write; one declared `no-writes` is served here.
    let writing = "#!lua\nreturn redis.call('del', KEYS[1])";
    assert_eq!(reader.cmd(&["EVAL", writing, "1", "foo"]), err(&format!("MOVED 12182 127.0.0.1:{}", master.port)));
    let reading = "#!lua flags=no-writes\nreturn redis.call('xlen', KEYS[1])";
    assert_eq!(reader.cmd(&["EVAL", reading, "1", "foo"]), Reply::Int(1));
}

#[test]
fn a_restarted_node_keeps_its_name_slots_and_epoch() {
    let dir = std::env::temp_dir().join(format!("redoxide-cluster-restart-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (myid, epoch) = {
        let server = Server::start_cluster_in(&dir, &[]).expect("start");
        let mut c = server.client();
        assert_eq!(c.cmd(&["CLUSTER", "ADDSLOTSRANGE", "100", "200"]), Reply::Simple("OK".into()));
        assert_eq!(c.cmd(&["CLUSTER", "SET-CONFIG-EPOCH", "7"]), Reply::Simple("OK".into()));
        (text(c.cmd(&["CLUSTER", "MYID"])), info_field(&mut c, "cluster_current_epoch"))
    };
    let server = Server::start_cluster_in(&dir, &[]).expect("restart");
    let mut c = server.client();
    assert_eq!(text(c.cmd(&["CLUSTER", "MYID"])), myid);
    assert_eq!(info_field(&mut c, "cluster_current_epoch"), epoch);
    assert_eq!(info_field(&mut c, "cluster_slots_assigned"), "101");
    let nodes = text(c.cmd(&["CLUSTER", "NODES"]));
    assert!(nodes.contains(" 100-200"), "{nodes}");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A pipeline of SETSLOTs (what redoxide-cli's reshard sends) saves nodes.conf and republishes
/// the routing once at the end of the batch, as Redis saves once before it sleeps: the commands
/// after each SETSLOT in the same pipeline must still be routed by it, and a reply must not leave
/// before nodes.conf holds what it acknowledged.
#[test]
fn pipelined_setslots_route_the_commands_after_them_and_save_before_replying() {
    let dir = std::env::temp_dir().join(format!("redoxide-test-setslot-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let a = Server::start_cluster_node(&[]);
    let b = Server::start_cluster_in(&dir, &[]).expect("node b");
    let (mut ca, mut cb) = join_halves(&a, &b);
    let a_id = text(ca.cmd(&["CLUSTER", "MYID"]));
    // "foo" is slot 12182, on b, and does not exist: once the slot migrates, b sends it to a.
    let mut pipeline = Vec::new();
    for args in [
        &["CLUSTER", "SETSLOT", "12182", "MIGRATING", a_id.as_str()][..],
        &["GET", "foo"],
        &["CLUSTER", "SETSLOT", "12182", "STABLE"],
        &["GET", "foo"],
        &["CLUSTER", "SETSLOT", "12183", "MIGRATING", a_id.as_str()],
        &["CLUSTER", "SETSLOT", "12184", "MIGRATING", a_id.as_str()],
    ] {
        pipeline.extend(Client::encode(args));
    }
    cb.send_raw(&pipeline);
    let replies: Vec<Reply> = (0..6).map(|_| cb.read()).collect();
    let ok = || Reply::Simple("OK".into());
    assert_eq!(replies, vec![ok(), err(&format!("ASK 12182 127.0.0.1:{}", a.port)), ok(), Reply::Null, ok(), ok()]);
    // Read as soon as the replies came: nodes.conf already holds both open slots.
    let conf = std::fs::read_to_string(dir.join("nodes.conf")).expect("nodes.conf");
    let mine = conf.lines().find(|l| l.contains("myself")).unwrap_or_default();
    assert!(
        mine.contains(&format!("[12183->-{a_id}]")) && mine.contains(&format!("[12184->-{a_id}]")),
        "nodes.conf after the replies: {conf}"
    );
    assert!(!mine.contains("[12182->-"), "12182 was set back to stable: {conf}");
    drop(b);
    let _ = std::fs::remove_dir_all(&dir);
}
