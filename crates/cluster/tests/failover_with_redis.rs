//! Elections across implementations: our machine and real redis-server 7.0.15 processes in one
//! cluster over real cluster-bus sockets on 127.0.0.1 (this test plays our server's part, as in
//! `live_with_redis.rs`).
//!
//! - Our machine as a voting master: three masters (two Redis, ours) and a Redis replica; the
//!   replica's master is killed, and the replica can only win with our vote (quorum 2 of 3,
//!   one master dead).
//! - Our machine as the replica: three Redis masters vote for us when our master is killed,
//!   and they then route its slots to us.
//! - A manual failover (MFSTART, the PAUSED offset, FORCEACK votes) from our replica against
//!   a live Redis master.
//!
//! Every wait is bounded in count and time; servers are killed by pid.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};

use std::time::{Duration, Instant};

use cluster::bus::{self, msg_type, Framing};
use cluster::machine::{Action, Config, LinkAddrs, LinkId, Machine, CRON_PERIOD_MS};
use cluster::{cluster_command, EmptyKeyspace, NodeFlags, Reply};

mod support;
use support::{free_port, Redis};
const NODE_TIMEOUT_MS: u64 = 1000;

impl Redis {
    fn call(&self, args: &[&str]) -> String {
        redis_call(self.port, args)
    }

    fn id(&self) -> String {
        self.call(&["CLUSTER", "MYID"])
    }
}

fn start_redis(tag: &str) -> Redis {
    support::start_redis(&format!("fo-{tag}"), &["--cluster-node-timeout", &NODE_TIMEOUT_MS.to_string()])
}

/// One command over RESP2, the reply flattened to text (see `live_with_redis.rs`).
fn redis_call(port: u16, args: &[&str]) -> String {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else { return "(down)".into() };
    s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    let mut out = format!("*{}\r\n", args.len());
    for a in args {
        out.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    s.write_all(out.as_bytes()).expect("write");
    let mut r = BufReader::new(s);
    let mut text = Vec::new();
    read_flat(&mut r, &mut text);
    text.join("\n")
}

fn read_flat(r: &mut BufReader<TcpStream>, out: &mut Vec<String>) {
    let mut line = String::new();
    r.read_line(&mut line).expect("read");
    let body = line.trim_end().to_string();
    match body.as_bytes().first() {
        Some(b'$') => {
            let n: i64 = body[1..].parse().expect("len");
            if n < 0 {
                out.push("(nil)".into());
                return;
            }
            let mut b = vec![0u8; n as usize + 2];
            r.read_exact(&mut b).expect("bulk");
            b.truncate(n as usize);
            out.push(String::from_utf8(b).expect("utf-8"));
        }
        Some(b'*') => {
            let n: usize = body[1..].parse().expect("len");
            out.push(body);
            for _ in 0..n {
                read_flat(r, out);
            }
        }
        _ => out.push(body),
    }
}

struct Conn {
    id: LinkId,
    stream: TcpStream,
    buf: Vec<u8>,
}

/// The server's part for our machine: sockets, framing, the clock, and what the failover
/// actions ask of it.
struct Node {
    machine: Machine,
    listener: TcpListener,
    conns: Vec<Conn>,
    next_in: u64,
    start: Instant,
    epoch_ms: u64,
    last_tick_ms: u64,
    acks_sent: u64,
    promoted: bool,
    paused: bool,
    /// Actions seen, in order, with the index of each vote's preceding fsynced save checked.
    votes_after_save: bool,
}

impl Node {
    fn new(tag: u64) -> Node {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bus listener");
        listener.set_nonblocking(true).expect("nonblocking");
        let cport = listener.local_addr().expect("addr").port();
        let config = Config { node_timeout_ms: NODE_TIMEOUT_MS, port: free_port(), cport, ..Config::default() };
        let epoch_ms =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as u64;
        Node {
            machine: Machine::fresh(config, tag, epoch_ms),
            listener,
            conns: Vec::new(),
            next_in: 0,
            start: Instant::now(),
            epoch_ms,
            last_tick_ms: 0,
            acks_sent: 0,
            promoted: false,
            paused: false,
            votes_after_save: true,
        }
    }

    fn now_ms(&self) -> u64 {
        self.epoch_ms + self.start.elapsed().as_millis() as u64
    }

    fn apply(&mut self, actions: Vec<Action>) {
        let mut fsynced = false;
        for action in actions {
            match action {
                Action::Connect { link, ip, cport } => {
                    let now = self.now_ms();
                    match TcpStream::connect((ip.as_str(), cport)) {
                        Ok(stream) => {
                            stream.set_nonblocking(true).expect("nonblocking");
                            self.conns.push(Conn { id: LinkId::Out(link), stream, buf: Vec::new() });
                            let more = self.machine.link_connected(link, now);
                            self.apply(more);
                        }
                        Err(_) => {
                            let more = self.machine.link_closed(link, now);
                            self.apply(more);
                        }
                    }
                }
                Action::Close { link } => self.conns.retain(|c| c.id != LinkId::Out(link)),
                Action::CloseInbound { link } => self.conns.retain(|c| c.id != LinkId::In(link)),
                Action::Send { link, msg } => {
                    if msg.body.msg_type() == msg_type::FAILOVER_AUTH_ACK {
                        self.acks_sent += 1;
                        self.votes_after_save &= fsynced;
                    }
                    let bytes = bus::encode(&msg).expect("encodable");
                    if let Some(c) = self.conns.iter_mut().find(|c| c.id == link) {
                        c.stream.set_nonblocking(false).expect("blocking");
                        // A peer that died leaves a broken pipe: the read side notices.
                        let _ = c.stream.write_all(&bytes);
                        c.stream.set_nonblocking(true).expect("nonblocking");
                    }
                }
                Action::SaveConfig { fsync } => fsynced |= fsync,
                Action::StopReplication { flush_data: false } => self.promoted = true,
                Action::PauseWrites { .. } => self.paused = true,
                Action::ResumeWrites => self.paused = false,
                Action::ReplicateFrom { .. }
                | Action::StateChanged { .. }
                | Action::DropSlotKeys { .. }
                | Action::DropSlotChannels { .. }
                | Action::StopReplication { .. }
                | Action::Deliver { .. } => {}
            }
        }
    }

    fn poll(&mut self) {
        while let Ok((stream, _)) = self.listener.accept() {
            stream.set_nonblocking(true).expect("nonblocking");
            self.next_in += 1;
            self.conns.push(Conn { id: LinkId::In(self.next_in), stream, buf: Vec::new() });
        }
        let mut packets = Vec::new();
        let mut closed = Vec::new();
        for c in &mut self.conns {
            let mut chunk = [0u8; 16384];
            loop {
                match c.stream.read(&mut chunk) {
                    Ok(0) => {
                        closed.push(c.id);
                        break;
                    }
                    Ok(n) => c.buf.extend_from_slice(&chunk[..n]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => {
                        closed.push(c.id);
                        break;
                    }
                }
            }
            while let Ok(Framing::Ready { packet_len }) = bus::frame(&c.buf, bus::DEFAULT_MAX_PACKET_LEN_BYTES) {
                let packet: Vec<u8> = c.buf.drain(..packet_len).collect();
                packets.push((c.id, packet));
            }
        }
        for (link, packet) in packets {
            if let Ok(msg) = bus::decode(&packet) {
                let addrs = LinkAddrs { peer_ip: "127.0.0.1".into(), local_ip: "127.0.0.1".into() };
                let now = self.now_ms();
                let actions = self.machine.handle_message(link, &addrs, &msg, now);
                self.apply(actions);
            }
        }
        for id in closed {
            self.conns.retain(|c| c.id != id);
            let now = self.now_ms();
            match id {
                LinkId::Out(link) => {
                    let actions = self.machine.link_closed(link, now);
                    self.apply(actions);
                }
                LinkId::In(link) => self.machine.inbound_link_closed(link),
            }
        }
        let now = self.now_ms();
        if now >= self.last_tick_ms + CRON_PERIOD_MS {
            self.last_tick_ms = now;
            let actions = self.machine.tick(now);
            self.apply(actions);
        }
    }

    fn command(&mut self, words: &str) -> Reply {
        let args: Vec<&[u8]> = words.split(' ').map(str::as_bytes).collect();
        let now = self.now_ms();
        let (reply, actions) = cluster_command(&mut self.machine, &args, &EmptyKeyspace, now);
        self.apply(actions);
        reply
    }

    fn nodes(&mut self) -> String {
        match self.command("nodes") {
            Reply::Verbatim(s) => s,
            other => panic!("CLUSTER NODES gave {other:?}"),
        }
    }

    /// Polls until `cond` holds, at most `limit`.
    fn run_until(&mut self, limit: Duration, what: &str, mut cond: impl FnMut(&mut Node) -> bool) {
        let deadline = Instant::now() + limit;
        for _ in 0..1_000_000 {
            self.poll();
            if cond(self) {
                return;
            }
            if Instant::now() >= deadline {
                let nodes = self.nodes();
                panic!("{what}: not within {limit:?}; our view:\n{nodes}");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("{what}: poll bound reached");
    }
}

fn line_of<'a>(nodes: &'a str, id: &str) -> &'a str {
    nodes.lines().find(|l| l.starts_with(id)).unwrap_or("")
}

/// Redis masters with the given slot ranges and config epochs, our node, all met; returns
/// when every node knows every other one.
fn cluster(redis: &[&Redis], ranges: &[(u32, u32)], node: &mut Node) {
    for (i, (r, (first, last))) in redis.iter().zip(ranges).enumerate() {
        assert_eq!(r.call(&["CLUSTER", "ADDSLOTSRANGE", &first.to_string(), &last.to_string()]), "+OK");
        assert_eq!(r.call(&["CLUSTER", "SET-CONFIG-EPOCH", &(i + 1).to_string()]), "+OK");
    }
    for r in redis {
        assert_eq!(node.command(&format!("meet 127.0.0.1 {} {}", r.port, r.cport)), Reply::Ok);
    }
    let total = redis.len() + 1;
    let ports: Vec<u16> = redis.iter().map(|r| r.port).collect();
    node.run_until(Duration::from_secs(30), "join", |n| {
        let ours = n.nodes();
        ours.lines().count() == total
            && !ours.contains("handshake")
            && ports.iter().all(|&p| {
                let theirs = redis_call(p, &["CLUSTER", "NODES"]);
                theirs.lines().count() == total && !theirs.contains("handshake") && !theirs.contains("fail")
            })
    });
}

#[test]
fn a_redis_replica_wins_an_election_that_needs_our_vote() {
    let mut r1 = start_redis("r1");
    let r2 = start_redis("r2");
    let r3 = start_redis("r3");
    let mut node = Node::new(21);
    // Masters: r1 0-5460, r3 5461-10922, ours 10923-16383 (epoch 3); r2 will replicate r1.
    assert_eq!(node.command("addslotsrange 10923 16383"), Reply::Ok);
    assert_eq!(node.command("set-config-epoch 3"), Reply::Ok);
    cluster(&[&r1, &r3], &[(0, 5460), (5461, 10922)], &mut node);
    assert_eq!(r2.call(&["CLUSTER", "MEET", "127.0.0.1", &r1.port.to_string(), &r1.cport.to_string()]), "+OK");
    let r1_id = r1.id();
    let r2_id = r2.id();
    node.run_until(Duration::from_secs(30), "r2 joins", |n| n.nodes().contains(&r2_id));
    assert_eq!(r2.call(&["CLUSTER", "REPLICATE", &r1_id]), "+OK");
    let r2_port = r2.port;
    node.run_until(Duration::from_secs(30), "r2 replicates r1", |n| {
        redis_call(r2_port, &["INFO", "replication"]).contains("master_link_status:up")
            && line_of(&n.nodes(), &r2_id).contains(&format!(" slave {r1_id} "))
    });

    r1.kill();
    // r1 is failed by r3 and us (2 of 3 masters); r2 asks; r3 and we vote; r2 wins.
    node.run_until(Duration::from_secs(30), "r2 takes r1's slots", |n| {
        let ours = n.nodes();
        let r2_line = line_of(&ours, &r2_id);
        r2_line.contains(" master ") && r2_line.ends_with(" 0-5460")
    });
    assert!(node.acks_sent >= 1, "our vote was needed and sent");
    assert!(node.votes_after_save, "every vote followed an fsynced save");
    assert!(node.machine.state.last_vote_epoch >= 4);
    let r2_nodes = r2.call(&["CLUSTER", "NODES"]);
    assert!(line_of(&r2_nodes, &r2_id).contains("myself,master"), "{r2_nodes}");
}

#[test]
fn redis_masters_elect_our_replica_when_its_master_dies() {
    let mut r1 = start_redis("m1");
    let r3 = start_redis("m3");
    let r4 = start_redis("m4");
    let mut node = Node::new(22);
    cluster(&[&r1, &r3, &r4], &[(0, 5460), (5461, 10922), (10923, 16383)], &mut node);
    let r1_id = r1.id();
    assert_eq!(node.command(&format!("replicate {r1_id}")), Reply::Ok);
    let our_id = node.machine.myself().to_string();
    let r3_port = r3.port;
    node.run_until(Duration::from_secs(30), "redis sees our replica", |_| {
        line_of(&redis_call(r3_port, &["CLUSTER", "NODES"]), &our_id).contains(&format!(" slave {r1_id} "))
    });
    // Our replication link is up (as our server would report it) until the master dies.
    let now = node.now_ms();
    node.machine.set_repl_offset(10);
    node.machine.set_master_link_time(Some(now));
    r1.kill();
    node.run_until(Duration::from_secs(30), "we are elected", |n| n.promoted);
    let me = node.machine.myself();
    assert!(node.machine.state.nodes[&me].flags.contains(NodeFlags::MASTER));
    assert_eq!(node.machine.node_slot_count(&me), 5461);
    let epoch = node.machine.state.nodes[&me].config_epoch;
    assert!(epoch >= 4, "a fresh epoch: {epoch}");
    // Redis routes the slots to us now.
    let r4_port = r4.port;
    node.run_until(Duration::from_secs(30), "redis masters see our promotion", |_| {
        [r3_port, r4_port].iter().all(|&p| {
            let line = line_of(&redis_call(p, &["CLUSTER", "NODES"]), &our_id).to_string();
            line.contains(" master - ") && line.ends_with(" 0-5460")
        })
    });
}

#[test]
fn our_replica_runs_a_manual_failover_against_a_redis_master() {
    let r1 = start_redis("mf1");
    let r3 = start_redis("mf3");
    let r4 = start_redis("mf4");
    let mut node = Node::new(23);
    cluster(&[&r1, &r3, &r4], &[(0, 5460), (5461, 10922), (10923, 16383)], &mut node);
    let r1_id = r1.id();
    assert_eq!(node.command(&format!("replicate {r1_id}")), Reply::Ok);
    let our_id = node.machine.myself().to_string();
    let r1_port = r1.port;
    node.run_until(Duration::from_secs(30), "redis sees our replica", |_| {
        line_of(&redis_call(r1_port, &["CLUSTER", "NODES"]), &our_id).contains(&format!(" slave {r1_id} "))
    });
    // Redis pauses writes and announces its offset with PAUSED; we must be at that offset.
    let info = r1.call(&["INFO", "replication"]);
    let offset: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("master_repl_offset:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    node.machine.set_repl_offset(offset);
    let now = node.now_ms();
    node.machine.set_master_link_time(Some(now));
    assert_eq!(node.command("failover"), Reply::Ok);
    node.run_until(Duration::from_secs(10), "manual failover done", |n| n.promoted);
    node.run_until(Duration::from_secs(30), "the old master follows us", |_| {
        line_of(&redis_call(r1_port, &["CLUSTER", "NODES"]), &r1_id).contains(&format!("myself,slave {our_id} "))
    });
}
