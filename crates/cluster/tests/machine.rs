//! The state machine against hand-built messages (and a few packets captured from
//! redis-server 7.0.15), one Redis rule per test.

use std::path::PathBuf;

use cluster::bus::{Body, GossipEntry, Header, IpField, PingBody};
use cluster::machine::{Action, Command, Config, LinkAddrs, LinkId, Machine};
use cluster::{decode, ClusterState, Message, NodeFlags, NodeName, NodesConf, SlotBitmap};

const NOW_MS: u64 = 1_700_000_000_000;
const TIMEOUT_MS: u64 = 2000;

fn name(c: char) -> NodeName {
    NodeName::parse(&c.to_string().repeat(40)).unwrap()
}

fn config() -> Config {
    Config { node_timeout_ms: TIMEOUT_MS, port: 7000, cport: 17000, ..Config::default() }
}

/// Myself is `a` (slots 0-5460, epoch 1); `b` (5461-10922, epoch 2) and `c` (10923-16383,
/// epoch 3) are masters at 10.0.0.2 / 10.0.0.3; `d` is a slot-less master at 10.0.0.4.
fn machine() -> Machine {
    let text = format!(
        "{a} 10.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460\n\
         {b} 10.0.0.2:7000@17000 master - 0 0 2 connected 5461-10922\n\
         {c} 10.0.0.3:7000@17000 master - 0 0 3 connected 10923-16383\n\
         {d} 10.0.0.4:7000@17000 master - 0 0 0 connected\n\
         vars currentEpoch 3 lastVoteEpoch 0\n",
        a = name('a'),
        b = name('b'),
        c = name('c'),
        d = name('d'),
    );
    let state = ClusterState::from_nodes_conf(&NodesConf::parse(&text).unwrap(), NOW_MS).unwrap();
    Machine::new(state, config(), 7, NOW_MS)
}

/// Runs the first cron and connects every link it asks for; returns node → link id.
fn connect_all(m: &mut Machine, now_ms: u64) -> Vec<(NodeName, u64)> {
    let mut links = Vec::new();
    for action in m.tick(now_ms) {
        if let Action::Connect { link, ip, .. } = action {
            let node = *m.state.nodes.iter().find(|(_, n)| n.ip == ip).unwrap().0;
            links.push((node, link));
        }
    }
    for &(_, link) in &links {
        m.link_connected(link, now_ms);
    }
    links
}

fn link_of(links: &[(NodeName, u64)], node: NodeName) -> u64 {
    links.iter().find(|(n, _)| *n == node).unwrap().1
}

/// A master's header claiming `slots` (`0..0` for none).
fn header(sender: NodeName, config_epoch: u64, slots: std::ops::Range<u16>) -> Header {
    let mut myslots = SlotBitmap::default();
    for slot in slots {
        myslots.set(slot, true);
    }
    Header {
        port: 7000,
        current_epoch: 3,
        config_epoch,
        repl_offset: 0,
        sender,
        myslots: Box::new(myslots),
        replicaof: None,
        myip: IpField::default(),
        pport: 0,
        cport: 17000,
        flags: NodeFlags::MASTER,
        state: 0,
        mflags: [0; 3],
    }
}

fn gossip(node: NodeName, ip: &str, flags: NodeFlags) -> GossipEntry {
    GossipEntry {
        node,
        ping_sent_s: 0,
        pong_received_s: 0,
        ip: IpField::new(ip).unwrap(),
        port: 7000,
        cport: 17000,
        flags,
        pport: 0,
    }
}

fn pong(hdr: Header, gossip: Vec<GossipEntry>) -> Message {
    Message { header: hdr, body: Body::Pong(PingBody { gossip, extensions: Vec::new() }) }
}

fn ping(hdr: Header, gossip: Vec<GossipEntry>) -> Message {
    Message { header: hdr, body: Body::Ping(PingBody { gossip, extensions: Vec::new() }) }
}

fn addrs(peer: &str, local: &str) -> LinkAddrs {
    LinkAddrs { peer_ip: peer.into(), local_ip: local.into() }
}

fn sends(actions: &[Action]) -> Vec<(LinkId, &Message)> {
    actions
        .iter()
        .filter_map(|a| if let Action::Send { link, msg } = a { Some((*link, &**msg)) } else { None })
        .collect()
}

fn b_header() -> Header {
    header(name('b'), 2, 5461..10923)
}

fn flags(m: &Machine, c: char) -> NodeFlags {
    m.state.nodes[&name(c)].flags
}

#[test]
fn meet_starts_a_handshake_that_sends_meet_then_renames_on_pong() {
    let mut m = Machine::fresh(config(), 1, NOW_MS);
    m.handle_command(Command::Meet { ip: "10.0.0.9".into(), port: 7000, cport: None }, NOW_MS).unwrap();
    let (temp, node) = m.state.nodes.iter().find(|(_, n)| n.flags.contains(NodeFlags::HANDSHAKE)).unwrap();
    let temp = *temp;
    assert_eq!((node.ip.as_str(), node.port, node.cport), ("10.0.0.9", 7000, 17000));
    assert!(node.flags.contains(NodeFlags::MEET));

    let actions = m.tick(NOW_MS + 100);
    let link = match &actions[..] {
        [Action::Connect { link, ip, cport: 17000 }] if ip == "10.0.0.9" => *link,
        other => panic!("expected one connect, got {other:?}"),
    };
    let actions = m.link_connected(link, NOW_MS + 110);
    let sent = sends(&actions);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, LinkId::Out(link));
    assert!(matches!(sent[0].1.body, Body::Meet(_)), "the first packet of a handshake is MEET");
    assert!(!flags_by(&m, temp).contains(NodeFlags::MEET), "MEET is sent once");

    // The PONG carries the peer's real name: the handshake node takes it.
    let mut hdr = header(name('z'), 0, 0..0);
    hdr.flags = NodeFlags::MASTER.union(NodeFlags::NOFAILOVER);
    let actions = m.handle_message(LinkId::Out(link), &addrs("10.0.0.9", "10.0.0.1"), &pong(hdr, vec![]), NOW_MS + 120);
    assert!(!m.state.nodes.contains_key(&temp));
    let z = &m.state.nodes[&name('z')];
    assert_eq!(z.flags, NodeFlags::MASTER, "only MASTER/SLAVE are taken from the header at handshake");
    assert_eq!((z.pong_received_ms, z.ping_sent_ms), (NOW_MS + 120, 0));
    assert!(actions.contains(&Action::SaveConfig { fsync: false }));
}

fn flags_by(m: &Machine, n: NodeName) -> NodeFlags {
    m.state.nodes[&n].flags
}

#[test]
fn handshake_with_an_already_known_node_is_dropped_and_its_address_updated() {
    let mut m = machine();
    m.handle_command(Command::Meet { ip: "10.0.0.22".into(), port: 7000, cport: None }, NOW_MS).unwrap();
    let temp = *m.state.nodes.iter().find(|(_, n)| n.flags.contains(NodeFlags::HANDSHAKE)).unwrap().0;
    let actions = m.tick(NOW_MS + 100);
    let link = actions
        .iter()
        .find_map(|a| match a {
            Action::Connect { link, ip, .. } if ip == "10.0.0.22" => Some(*link),
            _ => None,
        })
        .unwrap();
    m.link_connected(link, NOW_MS + 100);
    // b answers from its new address.
    let actions =
        m.handle_message(LinkId::Out(link), &addrs("10.0.0.22", "10.0.0.1"), &pong(b_header(), vec![]), NOW_MS + 150);
    assert!(!m.state.nodes.contains_key(&temp));
    assert_eq!(m.state.nodes.len(), 4);
    assert_eq!(m.state.nodes[&name('b')].ip, "10.0.0.22");
    assert!(actions.contains(&Action::Close { link }), "the handshake link goes with its node");
}

#[test]
fn meet_from_an_unknown_node_adds_it_as_handshake_and_answers_pong_on_the_same_link() {
    let bytes = std::fs::read(fixture("bus/0001-meet-to-c.bin")).unwrap();
    let meet = decode(&bytes).unwrap();
    assert!(matches!(meet.body, Body::Meet(_)));
    let mut m = Machine::fresh(config(), 3, NOW_MS);
    let actions = m.handle_message(LinkId::In(9), &addrs("127.0.0.1", "127.0.0.3"), &meet, NOW_MS);
    let me = m.myself();
    assert_eq!(m.state.nodes[&me].ip, "127.0.0.3", "our address is learned from the MEET's socket");
    let (_, hs) = m.state.nodes.iter().find(|(_, n)| n.flags.contains(NodeFlags::HANDSHAKE)).unwrap();
    assert_eq!((hs.ip.as_str(), hs.port, hs.cport), ("127.0.0.1", meet.header.port, meet.header.cport));
    assert!(!m.state.nodes.contains_key(&meet.header.sender), "a MEET sender is known only after our handshake");
    let sent = sends(&actions);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, LinkId::In(9));
    assert!(matches!(sent[0].1.body, Body::Pong(_)));
    assert_eq!(sent[0].1.header.sender, me);
    cluster::encode(sent[0].1).unwrap();
}

fn fixture(rel: &str) -> PathBuf {
    [env!("CARGO_MANIFEST_DIR"), "tests", "fixtures", rel].iter().collect()
}

#[test]
fn ping_from_an_unknown_sender_gets_a_pong_but_teaches_nothing() {
    let mut m = machine();
    let stranger = header(name('x'), 9, 0..100);
    let g = vec![gossip(name('y'), "10.0.0.25", NodeFlags::MASTER)];
    let actions = m.handle_message(LinkId::In(1), &addrs("10.0.0.24", "10.0.0.1"), &ping(stranger, g), NOW_MS);
    assert_eq!(sends(&actions).len(), 1);
    assert_eq!(m.state.nodes.len(), 4, "neither the sender nor its gossip is learned");
    assert_eq!(m.state.slot_owner[0], Some(name('a')));
    assert_eq!(m.state.current_epoch, 3, "epochs of unknown senders are ignored");
}

#[test]
fn known_sender_raises_epochs_and_gossip_adds_unknown_nodes() {
    let mut m = machine();
    let mut hdr = b_header();
    hdr.current_epoch = 10;
    hdr.config_epoch = 7;
    let g = vec![gossip(name('e'), "10.0.0.5", NodeFlags::MASTER), gossip(name('f'), "10.0.0.6", NodeFlags::NOADDR)];
    let actions = m.handle_message(LinkId::In(1), &addrs("10.0.0.2", "10.0.0.1"), &ping(hdr, g), NOW_MS);
    assert_eq!(m.state.current_epoch, 10);
    assert_eq!(m.state.nodes[&name('b')].config_epoch, 7);
    assert!(actions.contains(&Action::SaveConfig { fsync: true }), "a configEpoch change is fsynced");
    let e = &m.state.nodes[&name('e')];
    assert_eq!((e.ip.as_str(), e.flags), ("10.0.0.5", NodeFlags::MASTER), "added under its own name, no handshake");
    assert!(!m.state.nodes.contains_key(&name('f')), "NOADDR nodes are not learned");
}

#[test]
fn higher_config_epoch_takes_slots_and_stale_claims_get_an_update() {
    let mut m = machine();
    let links = connect_all(&mut m, NOW_MS);
    // b claims c's first slots with a higher epoch than c's 3: they move to b.
    let hdr = header(name('b'), 4, 5461..11000);
    m.handle_message(LinkId::In(1), &addrs("10.0.0.2", "10.0.0.1"), &ping(hdr, vec![]), NOW_MS);
    assert_eq!(m.state.slot_owner[10999], Some(name('b')));
    assert_eq!(m.state.slot_owner[11000], Some(name('c')));
    assert_eq!(m.node_slot_count(&name('c')), 16384 - 11000);

    // d claims b's slot 6000 at epoch 1 < b's 4: nothing moves, d is told about b.
    let mut hdr = header(name('d'), 1, 6000..6001);
    hdr.current_epoch = 4;
    let actions = m.handle_message(LinkId::In(2), &addrs("10.0.0.4", "10.0.0.1"), &ping(hdr, vec![]), NOW_MS);
    assert_eq!(m.state.slot_owner[6000], Some(name('b')));
    let update = sends(&actions)
        .into_iter()
        .find_map(|(link, msg)| match &msg.body {
            Body::Update { config_epoch, node, slots } => Some((link, *config_epoch, *node, slots.count())),
            _ => None,
        })
        .expect("an UPDATE");
    assert_eq!(update, (LinkId::Out(link_of(&links, name('d'))), 4, name('b'), 11000 - 5461));

    // c takes slot 100 from a with a newer epoch.
    let mut hdr = header(name('c'), 6, 11000..16384);
    hdr.myslots.set(100, true);
    hdr.current_epoch = 6;
    m.handle_message(LinkId::In(3), &addrs("10.0.0.3", "10.0.0.1"), &ping(hdr, vec![]), NOW_MS);
    assert_eq!(m.state.slot_owner[100], Some(name('c')));

    // A stale claim over two newer owners names the owner of the lowest slot claimed, as Redis's
    // walk in slot order does, not the first owner by name.
    let update_about = |m: &mut Machine, claimed: &[u16]| {
        let mut hdr = header(name('d'), 1, 0..0);
        hdr.current_epoch = 4;
        for &slot in claimed {
            hdr.myslots.set(slot, true);
        }
        let actions = m.handle_message(LinkId::In(2), &addrs("10.0.0.4", "10.0.0.1"), &ping(hdr, vec![]), NOW_MS);
        sends(&actions).into_iter().find_map(|(_, msg)| match &msg.body {
            Body::Update { node, config_epoch, .. } => Some((*node, *config_epoch)),
            _ => None,
        })
    };
    assert_eq!(update_about(&mut m, &[6000, 100]), Some((name('c'), 6)));
    assert_eq!(update_about(&mut m, &[12000, 6000]), Some((name('b'), 4)));
    assert_eq!(update_about(&mut m, &[12000, 12001]), Some((name('c'), 6)));
}

#[test]
fn update_message_rebinds_slots_and_losing_all_slots_makes_us_a_replica() {
    let mut m = machine();
    let mut slots = SlotBitmap::default();
    for s in 0..5461 {
        slots.set(s, true);
    }
    let msg = Message {
        header: header(name('c'), 3, 10923..16384),
        body: Body::Update { config_epoch: 5, node: name('b'), slots: Box::new(slots.clone()) },
    };
    let actions = m.handle_message(LinkId::In(1), &addrs("10.0.0.3", "10.0.0.1"), &msg, NOW_MS);
    assert_eq!(m.state.nodes[&name('b')].config_epoch, 5);
    assert_eq!(m.state.slot_owner[0], Some(name('b')));
    assert!(actions.contains(&Action::ReplicateFrom { master: name('b') }));
    let me = &m.state.nodes[&name('a')];
    assert!(me.flags.contains(NodeFlags::SLAVE) && me.master == Some(name('b')));

    // An UPDATE that is not newer than what we know changes nothing.
    let msg = Message {
        header: header(name('c'), 3, 10923..16384),
        body: Body::Update { config_epoch: 5, node: name('c'), slots: Box::new(slots) },
    };
    m.handle_message(LinkId::In(1), &addrs("10.0.0.3", "10.0.0.1"), &msg, NOW_MS);
    assert_eq!(m.state.slot_owner[0], Some(name('b')));
}

#[test]
fn config_epoch_collision_is_resolved_by_the_smaller_name() {
    let mut m = machine();
    // b announces a's epoch 1: b's name is greater, so a moves to a new epoch.
    let hdr = header(name('b'), 1, 5461..10923);
    let actions = m.handle_message(LinkId::In(1), &addrs("10.0.0.2", "10.0.0.1"), &ping(hdr, vec![]), NOW_MS);
    assert_eq!(m.state.current_epoch, 4);
    assert_eq!(m.state.nodes[&name('a')].config_epoch, 4);
    assert!(actions.contains(&Action::SaveConfig { fsync: true }));

    // Seen from b (the greater name), the same collision changes nothing.
    let text = format!(
        "{b} 10.0.0.2:7000@17000 myself,master - 0 0 1 connected\n{a} 10.0.0.1:7000@17000 master - 0 0 1 connected\n\
         vars currentEpoch 1 lastVoteEpoch 0\n",
        a = name('a'),
        b = name('b')
    );
    let state = ClusterState::from_nodes_conf(&NodesConf::parse(&text).unwrap(), NOW_MS).unwrap();
    let mut mb = Machine::new(state, config(), 1, NOW_MS);
    let mut hdr = header(name('a'), 1, 0..0);
    hdr.current_epoch = 1;
    mb.handle_message(LinkId::In(1), &addrs("10.0.0.1", "10.0.0.2"), &ping(hdr, vec![]), NOW_MS);
    assert_eq!((mb.state.current_epoch, mb.state.nodes[&name('b')].config_epoch), (1, 1));
}

#[test]
fn silence_past_node_timeout_is_pfail_and_a_majority_of_reports_is_fail() {
    let mut m = machine();
    let links = connect_all(&mut m, NOW_MS);
    // Everyone answers but c.
    for (node, link) in &links {
        if *node != name('c') {
            let hdr = header(*node, m.state.nodes[node].config_epoch, 0..0);
            m.handle_message(LinkId::Out(*link), &addrs("x", "10.0.0.1"), &pong(hdr, vec![]), NOW_MS + 10);
        }
    }
    m.tick(NOW_MS + TIMEOUT_MS);
    assert!(!flags(&m, 'c').contains(NodeFlags::PFAIL), "not before node_timeout has passed");
    m.tick(NOW_MS + TIMEOUT_MS + 1);
    assert!(flags(&m, 'c').contains(NodeFlags::PFAIL));

    // Masters with slots: a, b, c → quorum 2, a counting itself. Reports from a replica are
    // not counted.
    let now = NOW_MS + TIMEOUT_MS + 100;
    let mut replica_hdr = header(name('d'), 0, 0..0);
    replica_hdr.flags = NodeFlags::SLAVE;
    replica_hdr.replicaof = Some(name('b'));
    let g = vec![gossip(name('c'), "10.0.0.3", NodeFlags::MASTER.union(NodeFlags::PFAIL))];
    m.handle_message(LinkId::In(4), &addrs("10.0.0.4", "10.0.0.1"), &ping(replica_hdr, g.clone()), now);
    assert_eq!(m.failure_report_count(&name('c'), now), 0);
    assert!(flags(&m, 'c').contains(NodeFlags::PFAIL) && !flags(&m, 'c').contains(NodeFlags::FAIL));

    // b (a master) reports c: with a itself that is 2 of 3.
    let actions = m.handle_message(LinkId::In(2), &addrs("10.0.0.2", "10.0.0.1"), &ping(b_header(), g), now);
    assert!(flags(&m, 'c').contains(NodeFlags::FAIL) && !flags(&m, 'c').contains(NodeFlags::PFAIL));
    assert_eq!(m.state.nodes[&name('c')].fail_time_ms, now);
    let fails: Vec<LinkId> = sends(&actions)
        .into_iter()
        .filter(|(_, msg)| msg.body == Body::Fail { node: name('c') })
        .map(|(l, _)| l)
        .collect();
    // c's own link was dropped by the cron (a ping unanswered for over node_timeout/2 on a link
    // older than node_timeout), so the FAIL goes to b and d.
    let expected = vec![LinkId::Out(link_of(&links, name('b'))), LinkId::Out(link_of(&links, name('d')))];
    assert_eq!(fails, expected, "FAIL goes to every linked node");
    assert!(actions.contains(&Action::StateChanged { ok: false }) || !m.cluster_ok());
}

#[test]
fn failure_reports_expire_after_twice_the_node_timeout_and_healthy_gossip_removes_them() {
    let mut m = machine();
    let g_fail = vec![gossip(name('c'), "10.0.0.3", NodeFlags::MASTER.union(NodeFlags::PFAIL))];
    m.handle_message(LinkId::In(2), &addrs("10.0.0.2", "10.0.0.1"), &ping(b_header(), g_fail), NOW_MS);
    assert_eq!(m.failure_report_count(&name('c'), NOW_MS + 2 * TIMEOUT_MS), 1);
    assert_eq!(m.failure_report_count(&name('c'), NOW_MS + 2 * TIMEOUT_MS + 1), 0);
    let g_ok = vec![gossip(name('c'), "10.0.0.3", NodeFlags::MASTER)];
    m.handle_message(LinkId::In(2), &addrs("10.0.0.2", "10.0.0.1"), &ping(b_header(), g_ok), NOW_MS + 1);
    assert_eq!(m.failure_report_count(&name('c'), NOW_MS + 1), 0);
}

#[test]
fn fail_message_is_taken_from_known_senders_only() {
    let mut m = machine();
    let fail = |sender| Message { header: header(sender, 0, 0..0), body: Body::Fail { node: name('c') } };
    m.handle_message(LinkId::In(1), &addrs("10.0.0.9", "10.0.0.1"), &fail(name('x')), NOW_MS);
    assert!(!flags(&m, 'c').contains(NodeFlags::FAIL));
    m.handle_message(LinkId::In(1), &addrs("10.0.0.2", "10.0.0.1"), &fail(name('b')), NOW_MS);
    assert!(flags(&m, 'c').contains(NodeFlags::FAIL));
    // A FAIL about ourselves is ignored.
    let about_me = Message { header: b_header(), body: Body::Fail { node: name('a') } };
    m.handle_message(LinkId::In(1), &addrs("10.0.0.2", "10.0.0.1"), &about_me, NOW_MS);
    assert!(!flags(&m, 'a').contains(NodeFlags::FAIL));
}

#[test]
fn captured_fail_packet_marks_the_node_failed() {
    let conf = std::fs::read_to_string(fixture("nodes_conf/nodes-a-before.conf")).unwrap();
    let state = ClusterState::from_nodes_conf(&NodesConf::parse(&conf).unwrap(), NOW_MS).unwrap();
    let mut m = Machine::new(state, config(), 1, NOW_MS);
    let msg = decode(&std::fs::read(fixture("bus/0162-fail-to-a.bin")).unwrap()).unwrap();
    let Body::Fail { node } = msg.body else { panic!("not a FAIL packet") };
    assert!(!m.state.nodes[&node].flags.contains(NodeFlags::FAIL));
    m.handle_message(LinkId::In(1), &addrs("127.0.0.1", "127.0.0.1"), &msg, NOW_MS);
    assert!(m.state.nodes[&node].flags.contains(NodeFlags::FAIL));
}

#[test]
fn fail_on_a_master_with_slots_clears_only_after_twice_the_node_timeout() {
    let mut m = machine();
    let links = connect_all(&mut m, NOW_MS);
    let fail = |n| Message { header: b_header(), body: Body::Fail { node: name(n) } };
    m.handle_message(LinkId::In(1), &addrs("10.0.0.2", "10.0.0.1"), &fail('c'), NOW_MS);
    m.handle_message(LinkId::In(1), &addrs("10.0.0.2", "10.0.0.1"), &fail('d'), NOW_MS);
    let pong_at = |m: &mut Machine, n: char, now_ms| {
        let hdr = header(name(n), m.state.nodes[&name(n)].config_epoch, 0..0);
        m.handle_message(LinkId::Out(link_of(&links, name(n))), &addrs("x", "y"), &pong(hdr, vec![]), now_ms);
    };
    // d has no slots: it leaves FAIL at its first PONG.
    pong_at(&mut m, 'd', NOW_MS + 1);
    assert!(!flags(&m, 'd').contains(NodeFlags::FAIL));
    // c owns slots: the PONG is not enough until 2 × node_timeout after it was marked.
    let c_hdr = header(name('c'), 3, 10923..16384);
    m.handle_message(
        LinkId::Out(link_of(&links, name('c'))),
        &addrs("x", "y"),
        &pong(c_hdr.clone(), vec![]),
        NOW_MS + 2 * TIMEOUT_MS,
    );
    assert!(flags(&m, 'c').contains(NodeFlags::FAIL));
    m.handle_message(
        LinkId::Out(link_of(&links, name('c'))),
        &addrs("x", "y"),
        &pong(c_hdr, vec![]),
        NOW_MS + 2 * TIMEOUT_MS + 1,
    );
    assert!(!flags(&m, 'c').contains(NodeFlags::FAIL));
}

#[test]
fn gossip_section_has_a_tenth_of_the_nodes_at_least_three_plus_every_pfail_node() {
    let mut m = machine();
    // 20 more masters, learned through b's gossip, all with links.
    let extra: Vec<NodeName> = (0..20).map(|i| NodeName::parse(&format!("{:040}", i)).unwrap()).collect();
    let g: Vec<GossipEntry> =
        extra.iter().enumerate().map(|(i, n)| gossip(*n, &format!("10.1.0.{i}"), NodeFlags::MASTER)).collect();
    m.handle_message(LinkId::In(1), &addrs("10.0.0.2", "10.0.0.1"), &ping(b_header(), g), NOW_MS);
    assert_eq!(m.state.nodes.len(), 24);
    connect_all(&mut m, NOW_MS);
    // 24 nodes: 24/10 = 2, raised to 3.
    let actions = m.handle_message(LinkId::In(1), &addrs("10.0.0.2", "10.0.0.1"), &ping(b_header(), vec![]), NOW_MS);
    let Body::Pong(body) = &sends(&actions)[0].1.body else { panic!("expected a PONG") };
    assert_eq!(body.gossip.len(), 3);
    assert!(body.gossip.iter().all(|g| g.node != name('a')), "never ourselves");

    // Five nodes go silent → PFAIL; every PONG then carries all five besides the 3 random ones.
    let pfail: Vec<NodeName> = extra[..5].to_vec();
    let later = NOW_MS + TIMEOUT_MS + 1;
    // Everyone else answers in time.
    let names: Vec<NodeName> = m.state.nodes.keys().copied().collect();
    for n in names.iter().filter(|n| !pfail.contains(n) && **n != name('a')) {
        let hdr = header(*n, m.state.nodes[n].config_epoch, 0..0);
        m.handle_message(LinkId::In(7), &addrs("x", "y"), &pong(hdr, vec![]), NOW_MS + 1);
    }
    m.tick(later);
    m.tick(later + 100);
    for n in &pfail {
        assert!(m.state.nodes[n].flags.contains(NodeFlags::PFAIL));
    }
    let actions =
        m.handle_message(LinkId::In(1), &addrs("10.0.0.2", "10.0.0.1"), &ping(b_header(), vec![]), later + 100);
    let Body::Pong(body) = &sends(&actions)[0].1.body else { panic!("expected a PONG") };
    let pfail_entries = body.gossip.iter().filter(|g| g.flags.contains(NodeFlags::PFAIL)).count();
    assert!(pfail_entries >= 5, "every PFAIL node is gossiped: {body:?}");
    assert!(body.gossip.len() <= 3 + 5 + 20);
}

#[test]
fn cluster_state_waits_for_the_writable_delay_and_fails_in_a_minority() {
    let mut m = machine();
    let links = connect_all(&mut m, NOW_MS);
    assert!(!m.cluster_ok(), "a master starts in fail");
    for (node, link) in &links {
        let hdr = header(*node, m.state.nodes[node].config_epoch, 0..0);
        m.handle_message(LinkId::Out(*link), &addrs("x", "y"), &pong(hdr, vec![]), NOW_MS + 10);
    }
    m.tick(NOW_MS + 1900);
    assert!(!m.cluster_ok(), "not within 2 s of the first state update");
    // They keep talking (a node timeout of silence would count as unreachable).
    for (node, link) in &links {
        let hdr = header(*node, m.state.nodes[node].config_epoch, 0..0);
        m.handle_message(LinkId::Out(*link), &addrs("x", "y"), &pong(hdr, vec![]), NOW_MS + 1900);
    }
    let actions = m.tick(NOW_MS + 2100);
    assert!(m.cluster_ok() && actions.contains(&Action::StateChanged { ok: true }));

    // b and c stop answering: a alone is 1 of 3 masters with slots → fail.
    for n in ['b', 'c'] {
        let link = link_of(&links, name(n));
        let actions = m.link_closed(link, NOW_MS + 2200);
        assert!(actions.is_empty());
    }
    m.tick(NOW_MS + 2200 + TIMEOUT_MS + 1);
    assert!(flags(&m, 'b').contains(NodeFlags::PFAIL) && flags(&m, 'c').contains(NodeFlags::PFAIL));
    assert!(!m.cluster_ok());
}

#[test]
fn handshake_nodes_expire_after_the_node_timeout_or_one_second() {
    let mut m = Machine::fresh(Config { node_timeout_ms: 500, ..config() }, 1, NOW_MS);
    m.handle_command(Command::Meet { ip: "10.0.0.9".into(), port: 7000, cport: Some(17000) }, NOW_MS).unwrap();
    m.tick(NOW_MS + 1000);
    assert_eq!(m.state.nodes.len(), 2, "kept for max(node_timeout, 1000 ms)");
    let actions = m.tick(NOW_MS + 1001);
    assert_eq!(m.state.nodes.len(), 1);
    assert!(actions.iter().any(|a| matches!(a, Action::Close { .. })), "its link goes with it");
}

#[test]
fn a_different_name_on_our_link_means_the_address_is_gone() {
    let mut m = machine();
    let links = connect_all(&mut m, NOW_MS);
    let link = link_of(&links, name('c'));
    let actions =
        m.handle_message(LinkId::Out(link), &addrs("10.0.0.3", "y"), &pong(header(name('x'), 0, 0..0), vec![]), NOW_MS);
    let c = &m.state.nodes[&name('c')];
    assert!(c.flags.contains(NodeFlags::NOADDR));
    assert_eq!((c.ip.as_str(), c.port, c.cport), ("", 0, 0));
    assert!(actions.contains(&Action::Close { link }));
    assert!(!m.state.nodes.contains_key(&name('x')));
}

#[test]
fn gossiped_pong_times_are_adopted_only_when_healthy_newer_and_not_in_the_future() {
    let mut m = machine();
    let entry = |pong_s: u64, flags| GossipEntry {
        pong_received_s: pong_s as u32,
        ..gossip(name('c'), "10.0.0.3", NodeFlags::MASTER.union(flags))
    };
    let now = NOW_MS + 10_000;
    let send = |m: &mut Machine, g| {
        m.handle_message(LinkId::In(1), &addrs("10.0.0.2", "10.0.0.1"), &ping(b_header(), vec![g]), now);
    };
    // Up to 500 ms ahead of our clock is tolerated; further is not.
    send(&mut m, entry(now / 1000 + 1, NodeFlags::empty()));
    assert_eq!(m.state.nodes[&name('c')].pong_received_ms, 0);
    send(&mut m, entry(now / 1000, NodeFlags::empty()));
    assert_eq!(m.state.nodes[&name('c')].pong_received_ms, now);
    // A PFAIL entry is a failure report, not a pong time.
    send(&mut m, entry(now / 1000 - 1, NodeFlags::PFAIL));
    assert_eq!(m.state.nodes[&name('c')].pong_received_ms, now);
    assert_eq!(m.failure_report_count(&name('c'), now), 1);
}

#[test]
fn a_failing_node_seen_healthy_elsewhere_takes_the_gossiped_address() {
    let mut m = machine();
    let links = connect_all(&mut m, NOW_MS);
    let fail = Message { header: b_header(), body: Body::Fail { node: name('c') } };
    m.handle_message(LinkId::In(1), &addrs("10.0.0.2", "10.0.0.1"), &fail, NOW_MS);
    let g = vec![gossip(name('c'), "10.0.0.33", NodeFlags::MASTER)];
    let actions = m.handle_message(LinkId::In(1), &addrs("10.0.0.2", "10.0.0.1"), &ping(b_header(), g), NOW_MS);
    assert_eq!(m.state.nodes[&name('c')].ip, "10.0.0.33");
    assert!(actions.contains(&Action::Close { link: link_of(&links, name('c')) }), "reconnect to the new address");
}

#[test]
fn gossip_cannot_grow_the_node_table_past_its_bound() {
    let mut m = machine();
    let max = cluster::machine::MAX_KNOWN_NODES;
    let mut i = 0u64;
    while m.state.nodes.len() < max + 10 && i < (max as u64) * 2 {
        let g: Vec<GossipEntry> = (0..1000)
            .map(|j| gossip(NodeName::parse(&format!("{:040}", i * 1000 + j)).unwrap(), "10.9.0.1", NodeFlags::MASTER))
            .collect();
        let before = m.state.nodes.len();
        m.handle_message(LinkId::In(1), &addrs("10.0.0.2", "10.0.0.1"), &ping(b_header(), g), NOW_MS);
        i += 1;
        if m.state.nodes.len() == before {
            break;
        }
    }
    assert_eq!(m.state.nodes.len(), max);
    assert_eq!(
        m.handle_command(Command::Meet { ip: "10.0.0.9".into(), port: 7000, cport: None }, NOW_MS),
        Err(cluster::machine::CommandError::TooManyNodes)
    );
}

#[test]
fn meet_rejects_bad_addresses() {
    let mut m = Machine::fresh(config(), 1, NOW_MS);
    for (ip, port) in [("not-an-ip", 7000), ("10.0.0.1", 0), ("10.0.0.1", 60_000)] {
        let result = m.handle_command(Command::Meet { ip: ip.into(), port, cport: None }, NOW_MS);
        assert!(matches!(result, Err(cluster::machine::CommandError::InvalidAddress { .. })), "{ip}:{port}");
    }
    assert_eq!(m.state.nodes.len(), 1);
}

#[test]
fn a_link_that_connects_after_its_node_is_gone_is_closed() {
    let mut m = Machine::fresh(config(), 1, NOW_MS);
    m.handle_command(Command::Meet { ip: "10.0.0.9".into(), port: 7000, cport: None }, NOW_MS).unwrap();
    let link = match &m.tick(NOW_MS)[..] {
        [Action::Connect { link, .. }] => *link,
        other => panic!("expected a connect, got {other:?}"),
    };
    // Handshakes last max(node_timeout, 1 s) = 2 s here.
    m.tick(NOW_MS + TIMEOUT_MS + 1);
    assert_eq!(m.state.nodes.len(), 1, "the handshake expired");
    assert_eq!(m.link_connected(link, NOW_MS + TIMEOUT_MS + 2), vec![Action::Close { link }]);
}

#[test]
fn a_connect_that_never_completes_still_times_the_node_out() {
    // Redis sets a node's link when the connect starts and queues pings on it, so a connect that
    // hangs (a partition drops the SYNs) still starts the failure clock.
    let mut m = machine();
    let actions = m.tick(NOW_MS);
    assert_eq!(actions.iter().filter(|a| matches!(a, Action::Connect { .. })).count(), 3);
    let pings = sends(&actions).len();
    assert_eq!(pings, 3, "pings are queued on the connecting links: {actions:?}");
    assert_eq!(m.state.nodes[&name('c')].ping_sent_ms, NOW_MS);
    let actions = m.tick(NOW_MS + TIMEOUT_MS + 1);
    assert!(flags(&m, 'c').contains(NodeFlags::PFAIL));
    // Ours, not Redis's: a connect pending for over node_timeout is abandoned and retried.
    let closed = actions.iter().filter(|a| matches!(a, Action::Close { .. })).count();
    assert_eq!(closed, 3, "{actions:?}");
    let actions = m.tick(NOW_MS + TIMEOUT_MS + 101);
    assert_eq!(actions.iter().filter(|a| matches!(a, Action::Connect { .. })).count(), 3);
    assert_eq!(m.state.nodes[&name('c')].ping_sent_ms, NOW_MS, "the first unanswered ping keeps its time");
}

#[test]
fn a_master_back_from_a_minority_waits_the_rejoin_delay() {
    let mut m = machine();
    let links = connect_all(&mut m, NOW_MS);
    let answer_all = |m: &mut Machine, links: &[(NodeName, u64)], now_ms| {
        for (node, link) in links {
            let hdr = header(*node, m.state.nodes[node].config_epoch, 0..0);
            m.handle_message(LinkId::Out(*link), &addrs("x", "y"), &pong(hdr, vec![]), now_ms);
        }
    };
    answer_all(&mut m, &links, NOW_MS + 10);
    m.tick(NOW_MS + 2100);
    assert!(m.cluster_ok());
    // Pings go out at +2100 (pong older than node_timeout/2) and nobody answers.
    let t_minority = NOW_MS + 2100 + TIMEOUT_MS + 1;
    m.tick(t_minority);
    assert!(flags(&m, 'b').contains(NodeFlags::PFAIL) && !m.cluster_ok());
    // That tick also dropped the silent links; the next reconnects, and everyone answers.
    // a stays fail for the rejoin delay (node_timeout clamped to
    // 500..5000 ms) counted from the last time it found itself in the minority.
    let links = connect_all(&mut m, t_minority + 5);
    assert_eq!(links.len(), 3);
    answer_all(&mut m, &links, t_minority + 10);
    assert!(!flags(&m, 'b').contains(NodeFlags::PFAIL));
    // The reconnecting tick at +5 was the last one in the minority.
    let last_minority = t_minority + 5;
    m.tick(last_minority + TIMEOUT_MS - 1);
    assert!(!m.cluster_ok());
    answer_all(&mut m, &links, last_minority + TIMEOUT_MS - 1);
    let actions = m.tick(last_minority + TIMEOUT_MS + 1);
    assert!(m.cluster_ok() && actions.contains(&Action::StateChanged { ok: true }));
}
