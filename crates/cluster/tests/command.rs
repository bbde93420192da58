//! CLUSTER subcommands on a node that knows other nodes: what the single-node comparison with
//! redis-server (tests/commands_vs_redis.rs) cannot reach — replicas, peers' slots, links,
//! failure reports, the FORGET blacklist, SETSLOT's side effects, REPLICATE, RESET — each
//! checked against the rule in Redis 7.0.15's cluster.c it implements.

use std::cell::RefCell;
use std::collections::BTreeMap;

use cluster::bus::{Body, GossipEntry, Header, IpField, PingBody, PingExt};
use cluster::machine::{Action, Config, LinkAddrs, LinkId, Machine, BLACKLIST_TTL_MS};
use cluster::{cluster_command, ClusterState, Environment, Message, NodeFlags, NodeName, NodesConf, Reply, SlotBitmap};

const NOW_MS: u64 = 1_700_000_000_000;
const TIMEOUT_MS: u64 = 2000;

fn name(c: char) -> NodeName {
    NodeName::parse(&c.to_string().repeat(40)).unwrap()
}

fn id(c: char) -> String {
    c.to_string().repeat(40)
}

fn config() -> Config {
    Config { node_timeout_ms: TIMEOUT_MS, port: 7000, cport: 17000, ..Config::default() }
}

/// Myself is `a` (slots 0-5460, epoch 1); `b` (5461-10922, epoch 2) and `c` (10923-16383,
/// epoch 3) are masters; `d` is a slot-less master; `e` replicates `b`.
fn machine() -> Machine {
    machine_as('a')
}

/// The same cluster as `me` sees it (`a` or `b`).
fn machine_as(me: char) -> Machine {
    let (a_flags, b_flags) = if me == 'a' { ("myself,master", "master") } else { ("master", "myself,master") };
    let text = format!(
        "{a} 10.0.0.1:7000@17000 {a_flags} - 0 0 1 connected 0-5460\n\
         {b} 10.0.0.2:7000@17000,b.example {b_flags} - 0 0 2 connected 5461-10922\n\
         {c} 10.0.0.3:7000@17000 master - 0 0 3 connected 10923-16383\n\
         {d} 10.0.0.4:7000@17000 master - 0 0 0 connected\n\
         {e} 10.0.0.5:7000@17000 slave {b} 0 0 2 connected\n\
         vars currentEpoch 3 lastVoteEpoch 0\n",
        a = id('a'),
        b = id('b'),
        c = id('c'),
        d = id('d'),
        e = id('e'),
    );
    let state = ClusterState::from_nodes_conf(&NodesConf::parse(&text).unwrap(), NOW_MS).unwrap();
    Machine::new(state, config(), 7, NOW_MS)
}

/// A keyspace of given slot → keys, and given link buffers.
#[derive(Default)]
struct Env {
    keys: BTreeMap<u16, Vec<Vec<u8>>>,
    buffers: BTreeMap<LinkId, (u64, u64)>,
    asked: RefCell<Vec<(u16, usize)>>,
}

impl Environment for Env {
    fn count_keys_in_slot(&self, slot: u16) -> u64 {
        self.keys.get(&slot).map_or(0, |k| k.len() as u64)
    }
    fn keys_in_slot(&self, slot: u16, count: usize) -> Vec<Vec<u8>> {
        self.asked.borrow_mut().push((slot, count));
        self.keys.get(&slot).map(|k| k.iter().take(count).cloned().collect()).unwrap_or_default()
    }
    fn link_buffers(&self, link: LinkId) -> Option<(u64, u64)> {
        self.buffers.get(&link).copied()
    }
    fn db_is_empty(&self) -> bool {
        self.keys.values().all(Vec::is_empty)
    }
}

fn run(m: &mut Machine, env: &Env, words: &str, now_ms: u64) -> (Reply, Vec<Action>) {
    let args: Vec<&[u8]> = words.split(' ').map(str::as_bytes).collect();
    cluster_command(m, &args, env, now_ms)
}

fn reply(m: &mut Machine, words: &str) -> Reply {
    run(m, &Env::default(), words, NOW_MS).0
}

fn err(text: &str) -> Reply {
    Reply::Error(text.to_string())
}

fn bulk(text: &str) -> Reply {
    Reply::Bulk(text.as_bytes().to_vec())
}

fn text(r: Reply) -> String {
    match r {
        Reply::Verbatim(s) => s,
        Reply::Bulk(b) => String::from_utf8(b).unwrap(),
        other => panic!("not text: {other:?}"),
    }
}

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

fn ping(hdr: Header, gossip: Vec<GossipEntry>, extensions: Vec<PingExt>) -> Message {
    Message { header: hdr, body: Body::Ping(PingBody { gossip, extensions }) }
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

fn addrs(peer: &str) -> LinkAddrs {
    LinkAddrs { peer_ip: peer.into(), local_ip: "10.0.0.1".into() }
}

/// Runs the first cron and completes every connect; node → outbound link id.
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

fn sent_messages(actions: &[Action]) -> Vec<&Message> {
    actions.iter().filter_map(|a| if let Action::Send { msg, .. } = a { Some(&**msg) } else { None }).collect()
}

#[test]
fn nodes_lists_every_node_with_flags_links_replica_epochs_and_open_slots() {
    let mut m = machine();
    let links = connect_all(&mut m, NOW_MS);
    assert_eq!(links.len(), 4);
    // A handshake shows in CLUSTER NODES (not in nodes.conf).
    assert_eq!(reply(&mut m, "meet 10.0.0.9 7000"), Reply::Ok);
    assert_eq!(reply(&mut m, &format!("setslot 5 migrating {}", id('b'))), Reply::Ok);
    assert_eq!(reply(&mut m, &format!("setslot 6000 importing {}", id('b'))), Reply::Ok);
    let nodes = text(reply(&mut m, "nodes"));
    let lines: Vec<&str> = nodes.lines().collect();
    assert!(nodes.ends_with('\n'));
    assert_eq!(lines.len(), 6);
    assert!(lines.contains(
        &format!(
            "{a} 10.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460 [5->-{b}] [6000-<-{b}]",
            a = id('a'),
            b = id('b')
        )
        .as_str()
    ));
    // Pings went out on connect, so b's ping time is set; its hostname follows the address.
    let b_line = lines.iter().find(|l| l.starts_with(&id('b'))).unwrap();
    assert!(b_line
        .starts_with(&format!("{} 10.0.0.2:7000@17000,b.example master - {NOW_MS} 0 2 connected 5461-10922", id('b'))));
    let e_line = lines.iter().find(|l| l.starts_with(&id('e'))).unwrap();
    assert_eq!(*e_line, format!("{} 10.0.0.5:7000@17000 slave {} {NOW_MS} 0 2 connected", id('e'), id('b')));
    let hs = lines.iter().find(|l| l.contains("handshake")).unwrap();
    assert!(hs.ends_with(" 10.0.0.9:7000@17000 handshake - 0 0 0 disconnected"), "{hs}");
    // A node without a link is `disconnected`.
    let actions = m.link_closed(links.iter().find(|(n, _)| *n == name('c')).unwrap().1, NOW_MS + 1);
    assert!(actions.is_empty() || actions.iter().all(|a| !matches!(a, Action::Connect { .. })));
    let nodes = text(reply(&mut m, "nodes"));
    let c_line = nodes.lines().find(|l| l.starts_with(&id('c'))).unwrap();
    assert!(c_line.contains(" disconnected 10923-16383"), "{c_line}");
}

#[test]
fn slots_and_shards_list_masters_with_available_replicas() {
    let mut m = machine();
    let env = Env::default();
    // e has replicated nothing yet: not listed in SLOTS, `loading` in SHARDS.
    let slots = run(&mut m, &env, "slots", NOW_MS).0;
    let Reply::Array(entries) = &slots else { panic!("{slots:?}") };
    assert_eq!(entries.len(), 3);
    let b_entry = &entries[1];
    let node = |ip: &str, c: char| {
        Reply::Array(vec![
            bulk(ip),
            Reply::Int(7000),
            bulk(&id(c)),
            Reply::Map(vec![(bulk("hostname"), bulk("b.example"))]),
        ])
    };
    assert_eq!(*b_entry, Reply::Array(vec![Reply::Int(5461), Reply::Int(10922), node("10.0.0.2", 'b')]));

    // e announces an offset: now it is listed after its master.
    let mut hdr = header(name('e'), 2, 5461..10923);
    hdr.flags = NodeFlags::SLAVE;
    hdr.replicaof = Some(name('b'));
    hdr.repl_offset = 100;
    m.handle_message(LinkId::In(1), &addrs("10.0.0.5"), &ping(hdr, vec![], vec![]), NOW_MS);
    let Reply::Array(entries) = run(&mut m, &env, "slots", NOW_MS).0 else { panic!() };
    let Reply::Array(b_entry) = &entries[1] else { panic!() };
    assert_eq!(b_entry.len(), 4);
    assert_eq!(b_entry[3], Reply::Array(vec![bulk("10.0.0.5"), Reply::Int(7000), bulk(&id('e')), Reply::Map(vec![])]));

    // SHARDS: one per master (d too, with no slots), replicas after their master.
    let Reply::Array(shards) = run(&mut m, &env, "shards", NOW_MS).0 else { panic!() };
    assert_eq!(shards.len(), 4);
    let Reply::Map(b_shard) = &shards[1] else { panic!() };
    assert_eq!(b_shard[0], (bulk("slots"), Reply::Array(vec![Reply::Int(5461), Reply::Int(10922)])));
    let Reply::Array(b_nodes) = &b_shard[1].1 else { panic!() };
    assert_eq!(
        b_nodes[1],
        Reply::Map(vec![
            (bulk("id"), bulk(&id('e'))),
            (bulk("port"), Reply::Int(7000)),
            (bulk("ip"), bulk("10.0.0.5")),
            (bulk("endpoint"), bulk("10.0.0.5")),
            (bulk("role"), bulk("replica")),
            (bulk("replication-offset"), Reply::Int(100)),
            (bulk("health"), bulk("online")),
        ])
    );
    let Reply::Map(d_shard) = &shards[3] else { panic!() };
    assert_eq!(d_shard[0], (bulk("slots"), Reply::Array(vec![])));

    // A failed replica leaves SLOTS and is `fail` in SHARDS.
    m.handle_message(
        LinkId::In(2),
        &addrs("10.0.0.3"),
        &Message { header: header(name('c'), 3, 10923..16384), body: Body::Fail { node: name('e') } },
        NOW_MS,
    );
    let Reply::Array(entries) = run(&mut m, &env, "slots", NOW_MS).0 else { panic!() };
    let Reply::Array(b_entry) = &entries[1] else { panic!() };
    assert_eq!(b_entry.len(), 3);
    let replicas = run(&mut m, &env, &format!("replicas {}", id('b')), NOW_MS).0;
    let Reply::Array(lines) = replicas else { panic!() };
    assert_eq!(lines.len(), 1);
    assert!(text(lines[0].clone()).starts_with(&format!("{} 10.0.0.5:7000@17000 slave,fail {}", id('e'), id('b'))));
    assert_eq!(
        run(&mut m, &env, &format!("slaves {}", id('e')), NOW_MS).0,
        err("ERR The specified node is not a master")
    );
}

#[test]
fn getkeysinslot_and_countkeysinslot_read_the_environment() {
    let mut m = machine();
    let mut env = Env::default();
    env.keys.insert(7, vec![b"k1".to_vec(), b"k2".to_vec(), b"k3".to_vec()]);
    assert_eq!(run(&mut m, &env, "countkeysinslot 7", NOW_MS).0, Reply::Int(3));
    assert_eq!(run(&mut m, &env, "getkeysinslot 7 2", NOW_MS).0, Reply::Array(vec![bulk("k1"), bulk("k2")]));
    assert_eq!(
        run(&mut m, &env, "getkeysinslot 7 100", NOW_MS).0,
        Reply::Array(vec![bulk("k1"), bulk("k2"), bulk("k3")])
    );
    // Never asks for more keys than the slot holds (Redis sizes the reply first).
    assert_eq!(env.asked.borrow().last(), Some(&(7, 3)));
    assert_eq!(run(&mut m, &env, "getkeysinslot 7 0", NOW_MS).0, Reply::Array(vec![]));
    assert_eq!(run(&mut m, &env, "flushslots", NOW_MS).0, err("ERR DB must be empty to perform CLUSTER FLUSHSLOTS."));
    assert_eq!(
        run(&mut m, &env, &format!("replicate {}", id('d')), NOW_MS).0,
        err("ERR To set a master the node must be empty and without assigned slots.")
    );
    assert_eq!(
        run(&mut m, &env, "reset hard", NOW_MS).0,
        err("ERR CLUSTER RESET can't be called with master nodes containing keys")
    );
}

#[test]
fn setslot_node_checks_keys_and_losing_the_last_slot_makes_us_a_replica() {
    let mut m = machine();
    let mut env = Env::default();
    env.keys.insert(10, vec![b"k".to_vec()]);
    assert_eq!(
        run(&mut m, &env, &format!("setslot 10 node {}", id('b')), NOW_MS).0,
        err("ERR Can't assign hashslot 10 to a different node while I still hold keys for this hash slot.")
    );
    assert_eq!(
        run(&mut m, &env, &format!("setslot 10 node {}", id('e')), NOW_MS).0,
        err("ERR Target node is not a master")
    );
    assert_eq!(
        run(&mut m, &env, &format!("setslot 10 migrating {}", id('e')), NOW_MS).0,
        err("ERR Target node is not a master")
    );
    assert_eq!(run(&mut m, &env, "setslot 10 node 123", NOW_MS).0, err("ERR Unknown node 123"));
    // A slot being migrated with no keys left: NODE closes the migration.
    let env = Env::default();
    assert_eq!(run(&mut m, &env, &format!("setslot 11 migrating {}", id('b')), NOW_MS).0, Reply::Ok);
    let (r, actions) = run(&mut m, &env, &format!("setslot 11 node {}", id('b')), NOW_MS);
    assert_eq!(r, Reply::Ok);
    assert!(!m.state.migrating_to.contains_key(&11));
    assert_eq!(m.state.slot_owner[11], Some(name('b')));
    assert!(actions.contains(&Action::SaveConfig { fsync: false }));
    // Give away everything else: the last slot turns us into b's replica.
    assert_eq!(run(&mut m, &env, "delslotsrange 0 10 12 5459", NOW_MS).0, Reply::Ok);
    assert_eq!(run(&mut m, &env, &format!("setslot 4000 importing {}", id('c')), NOW_MS).0, Reply::Ok);
    let (r, actions) = run(&mut m, &env, &format!("setslot 5460 node {}", id('b')), NOW_MS);
    assert_eq!(r, Reply::Ok);
    assert!(actions.contains(&Action::ReplicateFrom { master: name('b') }));
    assert!(actions.contains(&Action::SaveConfig { fsync: true }));
    let me = &m.state.nodes[&name('a')];
    assert_eq!((me.flags, me.master), (NodeFlags::MYSELF.union(NodeFlags::SLAVE), Some(name('b'))));
    assert!(m.state.importing_from.is_empty(), "a new replica drops its open slots");
    assert_eq!(run(&mut m, &env, "setslot 1 stable", NOW_MS).0, err("ERR Please use SETSLOT only with masters."));
    // INFO reports the master's epoch; our headers name our master and carry its slots.
    let info = text(run(&mut m, &env, "info", NOW_MS).0);
    assert!(info.contains("cluster_my_epoch:2\r\n"), "{info}");
    let links = connect_all(&mut m, NOW_MS + 100);
    let pings: Vec<_> = links.iter().map(|&(_, l)| l).collect();
    assert!(!pings.is_empty());
    let actions = m.broadcast_pong_now(NOW_MS + 200);
    let msg = sent_messages(&actions)[0];
    assert_eq!(msg.header.replicaof, Some(name('b')));
    assert!(msg.header.flags.contains(NodeFlags::SLAVE));
    let mut b_slots = SlotBitmap::default();
    for slot in (5460..=10922).chain(11..=11) {
        b_slots.set(slot, true);
    }
    assert_eq!(*msg.header.myslots, b_slots, "a replica advertises its master's slots");
    assert_eq!(msg.header.config_epoch, 2);
}

#[test]
fn setslot_node_to_myself_while_importing_bumps_the_epoch_and_tells_everyone() {
    let mut m = machine();
    connect_all(&mut m, NOW_MS);
    let env = Env::default();
    assert_eq!(run(&mut m, &env, &format!("setslot 6000 importing {}", id('b')), NOW_MS).0, Reply::Ok);
    let (r, actions) = run(&mut m, &env, &format!("setslot 6000 node {}", id('a')), NOW_MS);
    assert_eq!(r, Reply::Ok);
    // Our epoch 1 was not the greatest (current 3): a new one without consensus.
    assert_eq!(m.state.current_epoch, 4);
    assert_eq!(m.state.nodes[&name('a')].config_epoch, 4);
    assert!(m.state.importing_from.is_empty());
    assert!(actions.contains(&Action::SaveConfig { fsync: true }));
    let pongs: Vec<_> = sent_messages(&actions).into_iter().filter(|msg| matches!(msg.body, Body::Pong(_))).collect();
    assert_eq!(pongs.len(), 4, "a PONG to every node we have a link to");
    assert!(pongs.iter().all(|p| p.header.myslots.get(6000) && p.header.config_epoch == 4));
    // The rest of the cluster takes slot 6000 from b (epoch 2) when it sees our claim.
    let mut b_view = machine_as('b');
    let hdr = pongs[0].header.clone();
    b_view.handle_message(LinkId::In(1), &addrs("10.0.0.1"), &ping(hdr, vec![], vec![]), NOW_MS);
    assert_eq!(b_view.state.slot_owner[6000], Some(name('a')));
    assert_eq!(b_view.node_slot_count(&name('b')), 5461);
    // BUMPEPOCH now: ours is the greatest.
    assert_eq!(run(&mut m, &env, "bumpepoch", NOW_MS).0, Reply::Status("STILL 4".into()));
}

#[test]
fn bumpepoch_takes_current_plus_one_when_ours_is_not_the_greatest() {
    let mut m = machine();
    let (r, actions) = run(&mut m, &Env::default(), "bumpepoch", NOW_MS);
    assert_eq!(r, Reply::Status("BUMPED 4".into()));
    assert_eq!(actions, vec![Action::SaveConfig { fsync: true }]);
    assert_eq!(reply(&mut m, "bumpepoch"), Reply::Status("STILL 4".into()));
    assert_eq!(
        reply(&mut m, "set-config-epoch 9"),
        err("ERR The user can assign a config epoch only when the node does not know any other node.")
    );
}

#[test]
fn forget_deletes_the_node_and_gossip_cannot_bring_it_back_for_a_minute() {
    let mut m = machine();
    let links = connect_all(&mut m, NOW_MS);
    assert_eq!(reply(&mut m, &format!("forget {}", id('a'))), err("ERR I tried hard but I can't forget myself..."));
    assert_eq!(reply(&mut m, "forget xyz"), err("ERR Unknown node xyz"));
    let c_link = links.iter().find(|(n, _)| *n == name('c')).unwrap().1;
    let (r, actions) = run(&mut m, &Env::default(), &format!("forget {}", id('c')), NOW_MS);
    assert_eq!(r, Reply::Ok);
    assert!(actions.contains(&Action::Close { link: c_link }));
    assert!(!m.state.nodes.contains_key(&name('c')));
    assert_eq!(m.state.slot_owner[16000], None, "its slots are unassigned");
    // b gossips about c: ignored while blacklisted...
    let g = vec![gossip(name('c'), "10.0.0.3", NodeFlags::MASTER)];
    m.handle_message(
        LinkId::In(1),
        &addrs("10.0.0.2"),
        &ping(header(name('b'), 2, 5461..10923), g.clone(), vec![]),
        NOW_MS + 1000,
    );
    assert!(!m.state.nodes.contains_key(&name('c')));
    // ...and learned again once the minute is over.
    let later_ms = NOW_MS + BLACKLIST_TTL_MS + 1;
    m.handle_message(LinkId::In(1), &addrs("10.0.0.2"), &ping(header(name('b'), 2, 5461..10923), g, vec![]), later_ms);
    assert!(m.state.nodes.contains_key(&name('c')));
}

#[test]
fn replicate_turns_a_slotless_master_into_a_replica() {
    let mut m = machine();
    assert_eq!(
        reply(&mut m, &format!("replicate {}", id('e'))),
        err("ERR I can only replicate a master, not a replica.")
    );
    assert_eq!(reply(&mut m, &format!("replicate {}", id('a'))), err("ERR Can't replicate myself"));
    assert_eq!(reply(&mut m, "replicate nobody"), err("ERR Unknown node nobody"));
    assert_eq!(
        reply(&mut m, &format!("replicate {}", id('b'))),
        err("ERR To set a master the node must be empty and without assigned slots.")
    );
    assert_eq!(reply(&mut m, "flushslots"), Reply::Ok);
    assert_eq!(reply(&mut m, &format!("setslot 1 importing {}", id('b'))), Reply::Ok);
    let (r, actions) = run(&mut m, &Env::default(), &format!("replicate {}", id('b')), NOW_MS);
    assert_eq!(r, Reply::Ok);
    assert!(actions.contains(&Action::ReplicateFrom { master: name('b') }));
    assert!(m.state.importing_from.is_empty());
    assert_eq!(reply(&mut m, &format!("forget {}", id('b'))), err("ERR Can't forget my master!"));
    let replicas = reply(&mut m, &format!("replicas {}", id('b')));
    let Reply::Array(lines) = replicas else { panic!() };
    assert_eq!(lines.len(), 2, "e and now us");
    // A replica may switch masters; the keyspace check is for masters only.
    let mut env = Env::default();
    env.keys.insert(1, vec![b"x".to_vec()]);
    assert_eq!(run(&mut m, &env, &format!("replicate {}", id('c')), NOW_MS).0, Reply::Ok);
    assert_eq!(m.state.nodes[&name('a')].master, Some(name('c')));
    // FAILOVER checks (the election itself is not there yet; TAKEOVER needs none).
    assert_eq!(reply(&mut m, "failover"), err("ERR Master is down or failed, please use CLUSTER FAILOVER FORCE"));
    let (r, actions) = run(&mut m, &Env::default(), "failover takeover", NOW_MS);
    assert_eq!(r, Reply::Ok);
    assert!(actions.contains(&Action::StopReplication { flush_data: false }));
    assert_eq!(m.state.slot_owner[12000], Some(name('a')));
    assert_eq!(m.state.nodes[&name('a')].config_epoch, 4);
    assert!(m.state.nodes[&name('a')].flags.contains(NodeFlags::MASTER));
    assert_eq!(reply(&mut m, "failover force"), err("ERR You should send CLUSTER FAILOVER to a replica"));
}

#[test]
fn reset_forgets_everyone_and_hard_reset_takes_a_new_name_and_zero_epochs() {
    let mut m = machine();
    connect_all(&mut m, NOW_MS);
    assert_eq!(reply(&mut m, "flushslots"), Reply::Ok);
    assert_eq!(reply(&mut m, &format!("replicate {}", id('b'))), Reply::Ok);
    // A replica may reset with keys: it drops them.
    let mut env = Env::default();
    env.keys.insert(1, vec![b"x".to_vec()]);
    let (r, actions) = run(&mut m, &env, "reset soft", NOW_MS);
    assert_eq!(r, Reply::Ok);
    assert!(actions.contains(&Action::StopReplication { flush_data: true }));
    assert_eq!(actions.iter().filter(|a| matches!(a, Action::Close { .. })).count(), 4);
    assert!(actions.contains(&Action::SaveConfig { fsync: true }));
    assert_eq!(m.state.nodes.len(), 1);
    assert_eq!(m.myself(), name('a'));
    assert_eq!(m.state.current_epoch, 3, "a soft reset keeps the epochs");
    assert!(m.state.nodes[&name('a')].flags.contains(NodeFlags::MASTER));

    let (r, _) = run(&mut m, &Env::default(), "reset HARD", NOW_MS);
    assert_eq!(r, Reply::Ok);
    assert_ne!(m.myself(), name('a'));
    assert!(m.myself().is_valid());
    assert_eq!((m.state.current_epoch, m.state.last_vote_epoch, m.state.nodes[&m.myself()].config_epoch), (0, 0, 0));
    assert_eq!(reply(&mut m, "myid"), Reply::Bulk(m.myself().as_bytes().to_vec()));
    assert_eq!(reply(&mut m, "set-config-epoch 7"), Reply::Ok);
}

#[test]
fn count_failure_reports_counts_valid_reports_from_masters() {
    let mut m = machine();
    assert_eq!(reply(&mut m, &format!("count-failure-reports {}", id('c'))), Reply::Int(0));
    let g = vec![gossip(name('c'), "10.0.0.3", NodeFlags::MASTER.union(NodeFlags::PFAIL))];
    m.handle_message(
        LinkId::In(1),
        &addrs("10.0.0.2"),
        &ping(header(name('b'), 2, 5461..10923), g.clone(), vec![]),
        NOW_MS,
    );
    m.handle_message(LinkId::In(2), &addrs("10.0.0.4"), &ping(header(name('d'), 0, 0..0), g, vec![]), NOW_MS);
    assert_eq!(reply(&mut m, &format!("count-failure-reports {}", id('c'))), Reply::Int(2));
    let later =
        run(&mut m, &Env::default(), &format!("count-failure-reports {}", id('c')), NOW_MS + 2 * TIMEOUT_MS + 1).0;
    assert_eq!(later, Reply::Int(0), "reports older than twice the node timeout do not count");
}

#[test]
fn links_describe_outbound_and_inbound_links() {
    let mut m = machine();
    let links = connect_all(&mut m, NOW_MS);
    let b_link = links.iter().find(|(n, _)| *n == name('b')).unwrap().1;
    m.handle_message(
        LinkId::In(9),
        &addrs("10.0.0.2"),
        &ping(header(name('b'), 2, 5461..10923), vec![], vec![]),
        NOW_MS + 5,
    );
    let mut env = Env::default();
    env.buffers.insert(LinkId::Out(b_link), (1024, 10));
    let Reply::Array(entries) = run(&mut m, &env, "links", NOW_MS).0 else { panic!() };
    assert_eq!(entries.len(), 5, "four outbound, one inbound");
    let entry = |direction: &str, c: char, ctime: u64, events: &str, alloc: i64, used: i64| {
        Reply::Map(vec![
            (bulk("direction"), bulk(direction)),
            (bulk("node"), bulk(&id(c))),
            (bulk("create-time"), Reply::Int(ctime as i64)),
            (bulk("events"), bulk(events)),
            (bulk("send-buffer-allocated"), Reply::Int(alloc)),
            (bulk("send-buffer-used"), Reply::Int(used)),
        ])
    };
    assert_eq!(entries[0], entry("to", 'b', NOW_MS, "rw", 1024, 10));
    assert_eq!(entries[1], entry("from", 'b', NOW_MS + 5, "r", 0, 0));
    m.inbound_link_closed(9);
    let Reply::Array(entries) = run(&mut m, &env, "links", NOW_MS).0 else { panic!() };
    assert_eq!(entries.len(), 4);
}

#[test]
fn info_counts_messages_by_type_and_reports_slot_health() {
    let mut m = machine();
    connect_all(&mut m, NOW_MS);
    m.handle_message(
        LinkId::In(1),
        &addrs("10.0.0.2"),
        &ping(header(name('b'), 2, 5461..10923), vec![], vec![]),
        NOW_MS,
    );
    m.handle_message(
        LinkId::In(1),
        &addrs("10.0.0.2"),
        &Message { header: header(name('b'), 2, 5461..10923), body: Body::Fail { node: name('c') } },
        NOW_MS,
    );
    let info = text(reply(&mut m, "info"));
    let fields: Vec<(&str, &str)> =
        info.split("\r\n").filter(|l| !l.is_empty()).map(|l| l.split_once(':').unwrap()).collect();
    let get = |k: &str| fields.iter().find(|(f, _)| *f == k).map(|(_, v)| *v);
    // Four PINGs queued by the first cron on the connecting links, four more when the connects
    // complete (as Redis's cron and connect handler do), and one PONG answering b.
    assert_eq!(get("cluster_stats_messages_ping_sent"), Some("8"));
    assert_eq!(get("cluster_stats_messages_pong_sent"), Some("1"));
    assert_eq!(get("cluster_stats_messages_sent"), Some("9"));
    assert_eq!(get("cluster_stats_messages_ping_received"), Some("1"));
    assert_eq!(get("cluster_stats_messages_fail_received"), Some("1"));
    assert_eq!(get("cluster_stats_messages_received"), Some("2"));
    assert_eq!(get("cluster_stats_messages_meet_sent"), None, "types never sent are not listed");
    let order: Vec<&str> = fields.iter().map(|(k, _)| *k).collect();
    let pos = |k: &str| order.iter().position(|f| *f == k).unwrap();
    assert!(pos("cluster_stats_messages_ping_sent") < pos("cluster_stats_messages_pong_sent"));
    assert!(pos("cluster_stats_messages_sent") < pos("cluster_stats_messages_ping_received"));
    assert!(pos("cluster_stats_messages_ping_received") < pos("cluster_stats_messages_fail_received"));
    assert!(pos("cluster_stats_messages_fail_received") < pos("cluster_stats_messages_received"));
    assert_eq!(get("cluster_slots_assigned"), Some("16384"));
    assert_eq!(get("cluster_slots_fail"), Some("5461"));
    assert_eq!(get("cluster_slots_ok"), Some("10923"));
    assert_eq!(get("cluster_known_nodes"), Some("5"));
    assert_eq!(get("cluster_current_epoch"), Some("3"));
    assert_eq!(get("cluster_my_epoch"), Some("1"));
    assert_eq!(order.last(), Some(&"total_cluster_links_buffer_limit_exceeded"));

    // Packets that did not decode count too, as in Redis; unknown types do not.
    m.note_undecodable_message(7);
    m.note_undecodable_message(11);
    let info = text(reply(&mut m, "info"));
    assert!(info.contains("cluster_stats_messages_update_received:1\r\n"), "{info}");
    assert!(info.contains("cluster_stats_messages_received:3\r\n"), "{info}");
}

#[test]
fn hostname_travels_in_ping_extensions_and_is_cleared_when_absent() {
    let config = Config { hostname: Some("a.example".into()), ..config() };
    let mut m = Machine::new(machine().state, config, 7, NOW_MS);
    let actions = m.tick(NOW_MS);
    let link =
        actions.iter().find_map(|a| if let Action::Connect { link, .. } = a { Some(*link) } else { None }).unwrap();
    let actions = m.link_connected(link, NOW_MS);
    let msg = sent_messages(&actions)[0];
    let Body::Ping(body) = &msg.body else { panic!("{msg:?}") };
    assert_eq!(body.extensions, vec![PingExt::Hostname(b"a.example".to_vec())]);
    cluster::encode(msg).unwrap();
    assert!(text(reply(&mut m, "nodes")).contains("@17000,a.example myself,master"));

    let hdr = header(name('c'), 3, 10923..16384);
    m.handle_message(
        LinkId::In(1),
        &addrs("10.0.0.3"),
        &ping(hdr.clone(), vec![], vec![PingExt::Hostname(b"c.example".to_vec())]),
        NOW_MS,
    );
    assert_eq!(m.state.nodes[&name('c')].hostname.as_deref(), Some("c.example"));
    m.handle_message(LinkId::In(1), &addrs("10.0.0.3"), &ping(hdr, vec![], vec![]), NOW_MS);
    assert_eq!(m.state.nodes[&name('c')].hostname, None, "no extension means no hostname");
}

#[test]
fn saveconfig_asks_for_an_fsynced_save_and_addslots_clears_importing() {
    let mut m = machine();
    let (r, actions) = run(&mut m, &Env::default(), "saveconfig", NOW_MS);
    assert_eq!((r, actions), (Reply::Ok, vec![Action::SaveConfig { fsync: true }]));
    assert_eq!(reply(&mut m, "delslots 100"), Reply::Ok);
    assert_eq!(reply(&mut m, &format!("setslot 100 importing {}", id('b'))), Reply::Ok);
    assert_eq!(reply(&mut m, "addslots 100"), Reply::Ok);
    assert!(m.state.importing_from.is_empty());
    // DELSLOTS unassigns a slot whoever owns it.
    assert_eq!(reply(&mut m, "delslots 6000"), Reply::Ok);
    assert_eq!(m.state.slot_owner[6000], None);
    assert_eq!(m.node_slot_count(&name('b')), 5461);
    let unknown = reply(&mut m, "nosuch\r\nthing");
    assert_eq!(unknown, err("ERR unknown subcommand 'nosuch  thing'. Try CLUSTER HELP."));
    assert_eq!(
        cluster_command(&mut m, &[], &Env::default(), NOW_MS).0,
        err("ERR wrong number of arguments for 'cluster' command")
    );
    assert_eq!(cluster_command(&mut m, &[b"forget", b"a\0b"], &Env::default(), NOW_MS).0, err("ERR Unknown node a"));
}

#[test]
fn forgetting_a_master_leaves_its_replicas_without_a_known_master() {
    let mut m = machine();
    assert_eq!(reply(&mut m, &format!("forget {}", id('b'))), Reply::Ok);
    let e = &m.state.nodes[&name('e')];
    assert_eq!((e.master, e.flags), (None, NodeFlags::SLAVE));
    let nodes = text(reply(&mut m, "nodes"));
    // No link yet (no cron ran): `disconnected`; epoch 0, as a replica without a master shows its own.
    assert!(nodes.contains(&format!("{} 10.0.0.5:7000@17000 slave - 0 0 0 disconnected\n", id('e'))), "{nodes}");
    assert!(!nodes.contains(&id('b')));
    m.check_consistency().unwrap();
}

#[test]
fn update_config_changes_what_we_announce() {
    let mut m = machine();
    let config = Config { hostname: Some("new.example".into()), port: 7100, cport: 17100, ..m.config().clone() };
    let actions = m.update_config(config, NOW_MS);
    assert_eq!(actions, vec![Action::SaveConfig { fsync: false }]);
    let nodes = text(reply(&mut m, "nodes"));
    assert!(nodes.contains(&format!("{} 10.0.0.1:7100@17100,new.example myself,master", id('a'))), "{nodes}");
    let links = connect_all(&mut m, NOW_MS);
    assert!(!links.is_empty());
    let actions = m.broadcast_pong_now(NOW_MS);
    let msg = sent_messages(&actions)[0];
    assert_eq!((msg.header.port, msg.header.cport), (7100, 17100));
    let Body::Pong(body) = &msg.body else { panic!() };
    assert_eq!(body.extensions, vec![PingExt::Hostname(b"new.example".to_vec())]);
}

#[test]
fn our_headers_carry_the_replication_offset_the_server_reports() {
    let mut m = machine();
    connect_all(&mut m, NOW_MS);
    m.set_repl_offset(4242);
    let actions = m.broadcast_pong_now(NOW_MS);
    let msgs = sent_messages(&actions);
    assert!(!msgs.is_empty());
    assert!(msgs.iter().all(|msg| msg.header.repl_offset == 4242));
}

#[test]
fn slots_we_stop_serving_drop_their_shard_channels() {
    let mut m = machine();
    let (_, actions) = run(&mut m, &Env::default(), "delslots 7 3 6000", NOW_MS);
    assert!(actions.contains(&Action::DropSlotChannels { slots: vec![3, 7] }), "{actions:?}");
    let (_, actions) = run(&mut m, &Env::default(), "delslots 6001", NOW_MS);
    assert!(!actions.iter().any(|a| matches!(a, Action::DropSlotChannels { .. })), "b's slot is not ours");
    let (_, actions) = run(&mut m, &Env::default(), &format!("setslot 8 node {}", id('c')), NOW_MS);
    assert!(actions.contains(&Action::DropSlotChannels { slots: vec![8] }));
    // As a replica, our master's slots are ours: losing them to a newer claim drops channels.
    assert_eq!(reply(&mut m, "flushslots"), Reply::Ok);
    assert_eq!(reply(&mut m, &format!("replicate {}", id('b'))), Reply::Ok);
    let actions = m.handle_message(
        LinkId::In(1),
        &addrs("10.0.0.3"),
        &ping(header(name('c'), 9, 5461..5463), vec![], vec![]),
        NOW_MS,
    );
    assert!(actions.contains(&Action::DropSlotChannels { slots: vec![5461, 5462] }), "{actions:?}");
}
