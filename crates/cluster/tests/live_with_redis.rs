//! Our machine and a real redis-server 7.0.15 in one cluster, over real cluster-bus sockets on
//! 127.0.0.1 (this test plays the server's part: it opens the links the machine asks for,
//! frames and decodes what arrives, and writes what the machine sends). Each side's CLUSTER
//! replies must then describe the other as Redis would: addresses, hostnames (the ping
//! extension both ways), slots, roles after CLUSTER REPLICATE, message counters, and CLUSTER
//! FORGET's effect. Every wait is bounded in count and time; the server is killed by its pid.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};

use std::time::{Duration, Instant};

use cluster::bus::{self, Framing};
use cluster::machine::{Action, Config, LinkAddrs, LinkId, Machine, CRON_PERIOD_MS};
use cluster::{cluster_command, EmptyKeyspace, NodeFlags, NodeName, Reply};

mod support;
use support::{free_port, Redis};

fn start_redis() -> Redis {
    support::start_redis("live", &["--cluster-node-timeout", "3000", "--cluster-announce-hostname", "redis.example"])
}

/// Sends one command over RESP2 and returns the reply flattened to text: a bulk or status as
/// its text (status and error with their `+`/`-`), an integer as `:n`, an array as `*n` followed
/// by its elements, one per line.
fn redis_call(port: u16, args: &[&str]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
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

/// The server's part for one machine: sockets, framing, the clock.
struct Node {
    machine: Machine,
    listener: TcpListener,
    conns: Vec<Conn>,
    next_in: u64,
    start: Instant,
    epoch_ms: u64,
    last_tick_ms: u64,
    replicate_from: Option<NodeName>,
}

impl Node {
    fn now_ms(&self) -> u64 {
        self.epoch_ms + self.start.elapsed().as_millis() as u64
    }

    fn apply(&mut self, actions: Vec<Action>) {
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
                Action::Send { link, msg } => {
                    let bytes = bus::encode(&msg).expect("encodable");
                    if let Some(c) = self.conns.iter_mut().find(|c| c.id == link) {
                        // Loopback with small packets: a short write would be a test failure.
                        c.stream.set_nonblocking(false).expect("blocking");
                        c.stream.write_all(&bytes).expect("bus write");
                        c.stream.set_nonblocking(true).expect("nonblocking");
                    }
                }
                Action::ReplicateFrom { master } => self.replicate_from = Some(master),
                Action::SaveConfig { .. }
                | Action::StateChanged { .. }
                | Action::DropSlotKeys { .. }
                | Action::DropSlotChannels { .. }
                | Action::StopReplication { .. }
                | Action::PauseWrites { .. }
                | Action::ResumeWrites
                | Action::CloseInbound { .. }
                | Action::Deliver { .. } => {}
            }
        }
    }

    /// One pass of the event loop: accept, read and process whole packets, run the cron.
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

    fn text(&mut self, words: &str) -> String {
        match self.command(words) {
            Reply::Verbatim(s) => s,
            other => panic!("CLUSTER {words} gave {other:?}"),
        }
    }

    /// Polls until `cond` holds, at most `limit`.
    fn run_until(&mut self, limit: Duration, what: &str, mut cond: impl FnMut(&mut Node) -> bool) {
        let deadline = Instant::now() + limit;
        for _ in 0..100_000 {
            self.poll();
            if cond(self) {
                return;
            }
            assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("{what}: poll bound reached");
    }
}

fn line_of<'a>(nodes: &'a str, id: &str) -> &'a str {
    nodes.lines().find(|l| l.starts_with(id)).unwrap_or_else(|| panic!("no line for {id} in\n{nodes}"))
}

#[test]
fn our_node_and_redis_form_one_cluster_and_describe_each_other_alike() {
    let redis = start_redis();
    let redis_id = redis_call(redis.port, &["CLUSTER", "MYID"]);
    assert_eq!(redis_call(redis.port, &["CLUSTER", "ADDSLOTSRANGE", "0", "99"]), "+OK");

    let listener = TcpListener::bind("127.0.0.1:0").expect("bus listener");
    listener.set_nonblocking(true).expect("nonblocking");
    let our_cport = listener.local_addr().expect("addr").port();
    let our_port = free_port();
    let config = Config {
        node_timeout_ms: 3000,
        port: our_port,
        cport: our_cport,
        hostname: Some("ours.example".into()),
        ..Config::default()
    };
    let epoch_ms =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as u64;
    let machine = Machine::fresh(config, 11, epoch_ms);
    let mut node = Node {
        machine,
        listener,
        conns: Vec::new(),
        next_in: 0,
        start: Instant::now(),
        epoch_ms,
        last_tick_ms: 0,
        replicate_from: None,
    };
    let our_id = node.machine.myself().to_string();
    assert_eq!(node.command("addslotsrange 100 199"), Reply::Ok);
    assert_eq!(node.command(&format!("meet 127.0.0.1 {} {}", redis.port, redis.cport)), Reply::Ok);

    // Both sides know both nodes, without handshakes, and agree on the slots.
    let (r_port, r_cport) = (redis.port, redis.cport);
    node.run_until(Duration::from_secs(20), "join", |n| {
        let ours = n.text("nodes");
        let theirs = redis_call(r_port, &["CLUSTER", "NODES"]);
        ours.lines().count() == 2
            && !ours.contains("handshake")
            && ours.contains("100-199")
            && ours.contains(" 0-99")
            && theirs.lines().count() == 2
            && !theirs.contains("handshake")
            && theirs.contains("100-199")
            && theirs.contains(",ours.example")
            && ours.contains(",redis.example")
    });
    let ours = node.text("nodes");
    let theirs = redis_call(r_port, &["CLUSTER", "NODES"]);
    // Redis's line for us and ours for it: address, hostname, flags, slots.
    let r_about_us = line_of(&theirs, &our_id);
    assert!(
        r_about_us.starts_with(&format!("{our_id} 127.0.0.1:{our_port}@{our_cport},ours.example master - ")),
        "{r_about_us}"
    );
    assert!(r_about_us.ends_with(" connected 100-199"), "{r_about_us}");
    let us_about_r = line_of(&ours, &redis_id);
    assert!(
        us_about_r.starts_with(&format!("{redis_id} 127.0.0.1:{r_port}@{r_cport},redis.example master - ")),
        "{us_about_r}"
    );
    assert!(us_about_r.ends_with(" connected 0-99"), "{us_about_r}");
    // Each side's own line has the address the other taught it.
    assert!(line_of(&ours, &our_id)
        .starts_with(&format!("{our_id} 127.0.0.1:{our_port}@{our_cport},ours.example myself,master - 0 0 ")));

    // The message counters: we sent a MEET and PONGs, got PONGs and PINGs.
    let info = match node.command("info") {
        Reply::Verbatim(s) => s,
        other => panic!("{other:?}"),
    };
    for field in ["cluster_stats_messages_meet_sent:1", "cluster_known_nodes:2", "cluster_slots_assigned:200"] {
        assert!(info.contains(&format!("{field}\r\n")), "{field} in\n{info}");
    }
    // (Our own PINGs start only half a node timeout after the last PONG: maybe none yet.)
    for field in [
        "cluster_stats_messages_pong_sent:",
        "cluster_stats_messages_pong_received:",
        "cluster_stats_messages_ping_received:",
    ] {
        assert!(info.contains(field), "{field} in\n{info}");
    }
    let their_info = redis_call(r_port, &["CLUSTER", "INFO"]);
    assert!(their_info.contains("cluster_stats_messages_meet_received:1\r\n"), "{their_info}");
    // Links: one outbound to Redis, and its inbound one once it has sent us a packet.
    let Reply::Array(links) = node.command("links") else { panic!() };
    assert_eq!(links.len(), 2, "{links:?}");

    // We give our slots back and replicate Redis: it sees us as its replica.
    assert_eq!(node.command("delslotsrange 100 199"), Reply::Ok);
    assert_eq!(node.command(&format!("replicate {redis_id}")), Reply::Ok);
    assert_eq!(node.replicate_from.map(|m| m.to_string()), Some(redis_id.clone()));
    node.run_until(Duration::from_secs(20), "replica seen by redis", |_| {
        let theirs = redis_call(r_port, &["CLUSTER", "NODES"]);
        line_of(&theirs, &our_id).contains(&format!(" slave {redis_id} "))
    });
    let replicas = redis_call(r_port, &["CLUSTER", "REPLICAS", &redis_id]);
    assert!(replicas.starts_with("*1\n"), "{replicas}");
    // Until we report a replication offset Redis shows us `loading` and leaves us out of SLOTS;
    // then it lists us after its own entry.
    let shards = redis_call(r_port, &["CLUSTER", "SHARDS"]);
    assert!(shards.contains("\nreplica\nreplication-offset\n:0\nhealth\nloading"), "{shards}");
    node.machine.set_repl_offset(77);
    node.run_until(Duration::from_secs(20), "replica offset seen by redis", |_| {
        redis_call(r_port, &["CLUSTER", "SLOTS"]).contains(&our_id)
    });
    let shards = redis_call(r_port, &["CLUSTER", "SHARDS"]);
    assert!(shards.contains("\nreplica\nreplication-offset\n:77\nhealth\nonline"), "{shards}");
    let ours = node.text("nodes");
    assert!(line_of(&ours, &our_id).contains(&format!("myself,slave {redis_id} ")), "{ours}");
    assert!(node.machine.state.nodes[&node.machine.myself()].flags.contains(NodeFlags::SLAVE));

    // FORGET on our side: Redis keeps talking to us, but we do not take it back.
    // (A replica cannot forget its master: become a master again first.)
    assert_eq!(node.command(&format!("forget {redis_id}")), Reply::Error("ERR Can't forget my master!".into()));
    assert_eq!(node.command("reset soft"), Reply::Ok);
    assert_eq!(node.command(&format!("meet 127.0.0.1 {r_port} {r_cport}")), Reply::Ok);
    node.run_until(Duration::from_secs(20), "rejoin", |n| {
        let ours = n.text("nodes");
        ours.lines().count() == 2 && !ours.contains("handshake")
    });
    assert_eq!(node.command(&format!("forget {redis_id}")), Reply::Ok);
    let until = Instant::now() + Duration::from_millis(2500);
    node.run_until(Duration::from_secs(5), "forgotten for a while", |n| {
        assert_eq!(n.text("nodes").lines().count(), 1, "Redis came back within the blacklist time");
        Instant::now() >= until
    });
}
