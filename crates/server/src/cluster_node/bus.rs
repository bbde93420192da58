//! The cluster bus thread: listens on the bus port, keeps one outbound link per known node and
//! accepts peers' inbound links, frames and decodes packets (`cluster::bus`), feeds them to the
//! machine, runs its cron every 100 ms, and writes what it asks to send.
//!
//! One thread, one mio loop: the bus carries a few packets per node per second, so a thread of
//! its own keeps it off the workers' hot path (and a worker stall cannot delay a PONG) without
//! any sharing beyond the machine mutex. It never blocks on a socket and never holds the machine
//! mutex while doing I/O other than the nodes.conf save the machine asks for.
//!
//! A packet that fails to frame or decode closes its link, as Redis frees a link that sends a
//! bad signature or length; a peer can never make this thread panic or allocate more than
//! `MAX_PACKET_LEN_BYTES` per link.

use super::ClusterNode;
use crate::shared::{now_ms, Shared};
use crate::{verbose, warning};
use cluster::bus::{self as wire, Framing};
use cluster::machine::{Action, LinkAddrs, LinkId, CRON_PERIOD_MS};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Our bound on one packet. Redis accepts any length a header announces (up to 4 GiB); the
/// largest real packet is a PUBLISH of a big message, so 512 MiB (Redis's proto-max-bulk-len
/// default) is enough and keeps a peer from making us reserve gigabytes.
const MAX_PACKET_LEN_BYTES: u32 = 512 * 1024 * 1024;
const WAKER: Token = Token(0);
const FIRST_LISTENER: usize = 1;
const FIRST_LINK: usize = 1024;
const READ_CHUNK: usize = 16 * 1024;

struct Link {
    id: LinkId,
    stream: TcpStream,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    /// Outbound and not yet connected.
    connecting: bool,
    addrs: LinkAddrs,
}

struct Bus {
    shared: &'static Shared,
    node: &'static ClusterNode,
    poll: Poll,
    listeners: Vec<TcpListener>,
    links: HashMap<Token, Link>,
    /// Outbound link id → token.
    outbound: HashMap<u64, Token>,
    next_token: usize,
    next_inbound_id: u64,
}

/// Binds the bus port on the client's bind addresses and starts the thread.
pub fn spawn(shared: &'static Shared, node: &'static ClusterNode, bind: &[String], cport: u16) -> anyhow::Result<()> {
    let poll = Poll::new()?;
    let waker = Waker::new(poll.registry(), WAKER)?;
    let _ = node.bus_waker.set(waker);
    let mut listeners = Vec::new();
    for entry in bind {
        let (addr, optional) = crate::bind_address(entry);
        let sockaddr = if addr.contains(':') { format!("[{addr}]:{cport}") } else { format!("{addr}:{cport}") };
        match std::net::TcpListener::bind(&sockaddr) {
            Ok(l) => {
                l.set_nonblocking(true)?;
                listeners.push(TcpListener::from_std(l));
            }
            Err(e) if optional => verbose!("Could not bind the cluster bus to {sockaddr}: {e} (optional, skipped)"),
            // Redis logs only the warning and exits; the last line is ours, in the words the main port's failure
            // uses, because harnesses (Redis's own Tcl one among them) look for exactly "Failed listening on port"
            // to retry on another port. Without it a bus port taken between their check and our bind leaves
            // them waiting for "Ready to accept" forever.
            Err(e) => {
                warning!("Warning: Could not create server TCP listening socket {sockaddr}: bind: {e}");
                anyhow::bail!("Failed listening on port {cport} (TCP), aborting.");
            }
        }
    }
    if listeners.is_empty() {
        anyhow::bail!("Failed listening on port {cport} (TCP), aborting.");
    }
    for (i, l) in listeners.iter_mut().enumerate() {
        poll.registry().register(l, Token(FIRST_LISTENER + i), Interest::READABLE)?;
    }
    let mut bus = Bus {
        shared,
        node,
        poll,
        listeners,
        links: HashMap::new(),
        outbound: HashMap::new(),
        next_token: FIRST_LINK,
        next_inbound_id: 1,
    };
    std::thread::Builder::new().name("cluster-bus".into()).spawn(move || bus.run())?;
    Ok(())
}

impl Bus {
    fn run(&mut self) {
        let mut events = Events::with_capacity(256);
        let mut next_tick_ms = now_ms() as u64;
        loop {
            if self.shared.shutdown.load(Ordering::Relaxed) {
                return;
            }
            let now = now_ms() as u64;
            if now >= next_tick_ms {
                next_tick_ms = now + CRON_PERIOD_MS;
                let mut bus_actions = Vec::new();
                {
                    let mut m = self.node.machine.lock();
                    feed_replication_state(&mut m);
                    let actions = m.tick(now);
                    self.node.apply(&self.shared.ks, &m, actions, Some(&mut bus_actions));
                    replicate_if_replica_without_link(self.shared, &m);
                }
                self.run_actions(bus_actions);
            }
            // An election due before the next cron run asks on time (Redis asks at the first
            // cron run after its delay, up to 100 ms late).
            let mut bus_actions = Vec::new();
            let failover_due_ms = {
                let mut m = self.node.machine.lock();
                let now = now_ms() as u64;
                if m.failover_timer_ms().is_some_and(|due_ms| due_ms <= now) {
                    feed_replication_state(&mut m);
                    let actions = m.run_failover_timer(now);
                    self.node.apply(&self.shared.ks, &m, actions, Some(&mut bus_actions));
                }
                m.failover_timer_ms()
            };
            self.run_actions(bus_actions);
            let wake_ms = failover_due_ms.map_or(next_tick_ms, |due_ms| due_ms.min(next_tick_ms));
            let wait_ms = wake_ms.saturating_sub(now_ms() as u64).min(CRON_PERIOD_MS);
            if let Err(e) = self.poll.poll(&mut events, Some(Duration::from_millis(wait_ms))) {
                if e.kind() != io::ErrorKind::Interrupted {
                    warning!("cluster bus poll failed: {e}");
                    return;
                }
            }
            for event in events.iter() {
                let token = event.token();
                if token == WAKER {
                    let actions = self.node.take_bus_inbox();
                    self.run_actions(actions);
                } else if token.0 < FIRST_LINK {
                    self.accept(token.0 - FIRST_LISTENER);
                } else {
                    if event.is_writable() {
                        self.on_writable(token);
                    }
                    if event.is_readable() || event.is_read_closed() || event.is_error() {
                        self.on_readable(token);
                    }
                }
            }
            self.node.flush_pending_save();
        }
    }

    fn new_token(&mut self) -> Token {
        let t = Token(self.next_token);
        self.next_token += 1;
        t
    }

    fn accept(&mut self, index: usize) {
        loop {
            let Some(listener) = self.listeners.get(index) else { return };
            match listener.accept() {
                Ok((mut stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let token = self.new_token();
                    if self
                        .poll
                        .registry()
                        .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
                        .is_err()
                    {
                        continue;
                    }
                    let id = LinkId::In(self.next_inbound_id);
                    self.next_inbound_id += 1;
                    let addrs = addrs_of(&stream, Some(peer));
                    verbose!("Accepting cluster node connection from {}", peer);
                    self.links.insert(
                        token,
                        Link { id, stream, rbuf: Vec::new(), wbuf: Vec::new(), connecting: false, addrs },
                    );
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    warning!("Error accepting cluster node connection: {e}");
                    return;
                }
            }
        }
    }

    /// Executes bus actions, and whatever the machine answers to a link event they cause.
    fn run_actions(&mut self, actions: Vec<Action>) {
        let mut queue: std::collections::VecDeque<Action> = actions.into();
        // Each action runs once; link events they cause append to the queue. Bounded by the
        // machine: a connect answers at most one MEET/PING per link.
        while let Some(action) = queue.pop_front() {
            match action {
                Action::Connect { link, ip, cport } => {
                    let addr: Option<SocketAddr> =
                        ip.parse::<std::net::IpAddr>().ok().map(|a| SocketAddr::new(a, cport));
                    let source = crate::outbound::source_addr(self.shared);
                    let connected = addr
                        .and_then(|a| crate::outbound::connect_nonblocking(a, source).ok())
                        .map(TcpStream::from_std);
                    match connected {
                        Some(mut stream) => {
                            let _ = stream.set_nodelay(true);
                            let token = self.new_token();
                            if self
                                .poll
                                .registry()
                                .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
                                .is_ok()
                            {
                                self.outbound.insert(link, token);
                                self.links.insert(
                                    token,
                                    Link {
                                        id: LinkId::Out(link),
                                        stream,
                                        rbuf: Vec::new(),
                                        wbuf: Vec::new(),
                                        connecting: true,
                                        addrs: LinkAddrs::default(),
                                    },
                                );
                                continue;
                            }
                            queue.extend(self.link_failed(link));
                        }
                        None => queue.extend(self.link_failed(link)),
                    }
                }
                Action::Close { link } => {
                    if let Some(token) = self.outbound.remove(&link) {
                        if let Some(mut l) = self.links.remove(&token) {
                            let _ = self.poll.registry().deregister(&mut l.stream);
                        }
                    }
                }
                Action::CloseInbound { link } => {
                    let token = self.links.iter().find(|(_, l)| l.id == LinkId::In(link)).map(|(t, _)| *t);
                    if let Some(mut l) = token.and_then(|t| self.links.remove(&t)) {
                        let _ = self.poll.registry().deregister(&mut l.stream);
                    }
                }
                Action::Send { link, msg } => {
                    let token = match link {
                        LinkId::Out(id) => self.outbound.get(&id).copied(),
                        LinkId::In(_) => self.links.iter().find(|(_, l)| l.id == link).map(|(t, _)| *t),
                    };
                    let Some(token) = token else { continue };
                    match wire::encode(&msg) {
                        Ok(bytes) => {
                            let limit = self.node.settings.read().link_sendbuf_limit_bytes;
                            let over = match self.links.get_mut(&token) {
                                Some(l) => {
                                    l.wbuf.extend_from_slice(&bytes);
                                    limit != 0 && l.wbuf.len() as u64 > limit
                                }
                                None => false,
                            };
                            if over {
                                // cluster-link-sendbuf-limit: a peer that does not read is cut
                                // off rather than let its queue grow without bound.
                                warning!("Freeing cluster link: send buffer over cluster-link-sendbuf-limit");
                                self.node.links_buffer_limit_exceeded.fetch_add(1, Ordering::Relaxed);
                                queue.extend(self.drop_link(token));
                            } else {
                                queue.extend(self.flush(token));
                            }
                        }
                        Err(e) => warning!("Could not encode a cluster bus message: {e}"),
                    }
                }
                // Not bus work; `ClusterNode::apply` handles these before they get here.
                other => {
                    let mut more = Vec::new();
                    let m = self.node.machine.lock();
                    self.node.apply(&self.shared.ks, &m, vec![other], Some(&mut more));
                    drop(m);
                    queue.extend(more);
                }
            }
        }
    }

    fn link_failed(&mut self, link: u64) -> Vec<Action> {
        let mut bus_actions = Vec::new();
        let mut m = self.node.machine.lock();
        let actions = m.link_closed(link, now_ms() as u64);
        self.node.apply(&self.shared.ks, &m, actions, Some(&mut bus_actions));
        bus_actions
    }

    /// Closes a link; an outbound one is reported to the machine.
    fn drop_link(&mut self, token: Token) -> Vec<Action> {
        let Some(mut l) = self.links.remove(&token) else { return Vec::new() };
        let _ = self.poll.registry().deregister(&mut l.stream);
        match l.id {
            LinkId::Out(id) => {
                self.outbound.remove(&id);
                self.link_failed(id)
            }
            LinkId::In(id) => {
                self.node.machine.lock().inbound_link_closed(id);
                Vec::new()
            }
        }
    }

    fn on_writable(&mut self, token: Token) {
        let mut follow = Vec::new();
        if let Some(l) = self.links.get_mut(&token) {
            if l.connecting {
                let ok = matches!(l.stream.take_error(), Ok(None)) && l.stream.peer_addr().is_ok();
                if !ok {
                    let actions = self.drop_link(token);
                    self.run_actions(actions);
                    return;
                }
                l.connecting = false;
                l.addrs = addrs_of(&l.stream, None);
                if let LinkId::Out(id) = l.id {
                    let mut m = self.node.machine.lock();
                    let actions = m.link_connected(id, now_ms() as u64);
                    self.node.apply(&self.shared.ks, &m, actions, Some(&mut follow));
                }
            }
        }
        follow.extend(self.flush(token));
        self.run_actions(follow);
    }

    /// Writes what the link has queued; a write error drops it.
    fn flush(&mut self, token: Token) -> Vec<Action> {
        let Some(l) = self.links.get_mut(&token) else { return Vec::new() };
        if l.connecting {
            return Vec::new();
        }
        let mut written = 0;
        let mut failed = false;
        while written < l.wbuf.len() {
            match l.stream.write(&l.wbuf[written..]) {
                Ok(0) => {
                    failed = true;
                    break;
                }
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        l.wbuf.drain(..written);
        if failed {
            return self.drop_link(token);
        }
        Vec::new()
    }

    fn on_readable(&mut self, token: Token) {
        let mut closed = false;
        let mut packets: Vec<Vec<u8>> = Vec::new();
        let mut bad = false;
        if let Some(l) = self.links.get_mut(&token) {
            if l.connecting {
                return;
            }
            let mut chunk = [0u8; READ_CHUNK];
            loop {
                match l.stream.read(&mut chunk) {
                    Ok(0) => {
                        closed = true;
                        break;
                    }
                    Ok(n) => l.rbuf.extend_from_slice(&chunk[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => {
                        closed = true;
                        break;
                    }
                }
                // Take whole packets as they arrive so the buffer holds at most one packet
                // plus one read.
                match take_packets(&mut l.rbuf, &mut packets) {
                    Ok(()) => {}
                    Err(e) => {
                        verbose!("Closing cluster link: {e}");
                        bad = true;
                        break;
                    }
                }
            }
        }
        let Some(l) = self.links.get(&token) else { return };
        let (id, addrs) = (l.id, l.addrs.clone());
        let mut follow = Vec::new();
        for packet in &packets {
            match wire::decode(packet) {
                Ok(msg) if i64::from(msg.body.msg_type()) == self.node.drop_packet_filter.load(Ordering::Relaxed) => {
                    // clusterProcessPacket counts the packet, then drops it unprocessed; the link
                    // stays up.
                    warning!("Dropping packet that matches debug drop filter");
                    self.node.machine.lock().note_undecodable_message(msg.body.msg_type());
                }
                Ok(msg) => {
                    let mut m = self.node.machine.lock();
                    feed_replication_state(&mut m);
                    let actions = m.handle_message(id, &addrs, &msg, now_ms() as u64);
                    self.node.apply(&self.shared.ks, &m, actions, Some(&mut follow));
                }
                Err(e) => {
                    // clusterProcessPacket drops a packet it cannot make sense of (and counts
                    // it); for a framing-level problem Redis frees the link (handled above).
                    verbose!("Dropping a cluster bus packet: {e}");
                    if let Some(t) = packet.get(12..14) {
                        self.node.machine.lock().note_undecodable_message(u16::from_be_bytes([t[0], t[1]]));
                    }
                }
            }
        }
        if closed || bad {
            follow.extend(self.drop_link(token));
        }
        self.run_actions(follow);
    }
}

/// Moves every complete packet at the front of `rbuf` into `out`.
fn take_packets(rbuf: &mut Vec<u8>, out: &mut Vec<Vec<u8>>) -> Result<(), wire::BusError> {
    let mut start = 0;
    while start < rbuf.len() {
        match wire::frame(&rbuf[start..], MAX_PACKET_LEN_BYTES)? {
            Framing::NeedMore { .. } => break,
            Framing::Ready { packet_len } => {
                out.push(rbuf[start..start + packet_len].to_vec());
                start += packet_len;
            }
        }
    }
    rbuf.drain(..start);
    Ok(())
}

fn addrs_of(stream: &TcpStream, peer: Option<SocketAddr>) -> LinkAddrs {
    let text = |a: SocketAddr| match a.ip() {
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or_else(|| v6.to_string(), |v4| v4.to_string()),
        ip => ip.to_string(),
    };
    LinkAddrs {
        peer_ip: peer.or_else(|| stream.peer_addr().ok()).map(text).unwrap_or_default(),
        local_ip: stream.local_addr().ok().map(text).unwrap_or_default(),
    }
}

/// Redis's clusterCron rule: a replica (by nodes.conf, after a restart) that replicates from
/// nobody yet starts replicating from its master as soon as that master's address is known.
/// The machine emits `ReplicateFrom` only when the role changes, which a restart is not.
fn replicate_if_replica_without_link(shared: &'static Shared, m: &cluster::Machine) {
    let Some(master) = m.state.nodes.get(&m.myself()).and_then(|n| n.master) else { return };
    let Some(addr) = m.state.nodes.get(&master).filter(|n| !n.ip.is_empty() && n.port != 0) else { return };
    if crate::replication::has_master_target() {
        return;
    }
    crate::replication::request(shared, crate::replication::Control::ReplicateFrom(addr.ip.clone(), addr.port));
}

/// What the machine needs from replication before it acts: the offset every bus header carries
/// (replicas are ranked by it, and a manual failover waits for it) and the replica's link time
/// (the data-age check of an election).
fn feed_replication_state(m: &mut cluster::Machine) {
    m.set_repl_offset(crate::replication::cluster_offset());
    m.set_master_link_time(crate::replication::master_link_time_ms());
}
