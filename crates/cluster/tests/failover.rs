//! Failover rules one at a time, against hand-built messages: votes (every refusal rule of
//! `clusterSendFailoverAuthIfNeeded`, the save-before-ACK order), the replica's election
//! (delays, rank, data age, quorum, promotion), manual failover (MFSTART, PAUSED, FORCE,
//! timeout) and CLUSTER FAILOVER's replies.

use cluster::bus::{mflag0, Body, GossipEntry, Header, IpField, PingBody};
use cluster::machine::{Action, Config, LinkAddrs, LinkId, Machine};
use cluster::{cluster_command, ClusterState, EmptyKeyspace, FailoverConfig, Message, NodeFlags, NodeName};
use cluster::{NodesConf, Reply, SlotBitmap};

const NOW_MS: u64 = 1_700_000_000_000;
const TIMEOUT_MS: u64 = 2000;

fn name(c: char) -> NodeName {
    NodeName::parse(&c.to_string().repeat(40)).unwrap()
}

fn config() -> Config {
    Config { node_timeout_ms: TIMEOUT_MS, port: 7000, cport: 17000, ..Config::default() }
}

/// a, b, c: masters with a third of the slots each (epochs 1, 2, 3); e and f: replicas of b.
/// `me` is the node this machine is.
fn machine(me: char) -> Machine {
    let line = |c: char, ip: u8, role: &str, epoch: u64, slots: &str| {
        let flags = if c == me { format!("myself,{role}") } else { role.to_string() };
        let (flags, master) = match role {
            "slave" => (flags, name('b').to_string()),
            _ => (flags, "-".to_string()),
        };
        format!("{} 10.0.0.{ip}:7000@17000 {flags} {master} 0 0 {epoch} connected {slots}\n", name(c))
    };
    let text = [
        line('a', 1, "master", 1, "0-5460"),
        line('b', 2, "master", 2, "5461-10922"),
        line('c', 3, "master", 3, "10923-16383"),
        line('e', 5, "slave", 2, ""),
        line('f', 6, "slave", 2, ""),
        "vars currentEpoch 3 lastVoteEpoch 0\n".to_string(),
    ]
    .concat();
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

/// The header `c` sends as itself: a master with its slots and epoch, or a replica of b.
fn header_of(m: &Machine, c: char, current_epoch: u64) -> Header {
    let node = name(c);
    let view = &m.state.nodes[&node];
    let (owner, replicaof, flags) = if view.flags.contains(NodeFlags::SLAVE) {
        (name('b'), Some(name('b')), NodeFlags::SLAVE)
    } else {
        (node, None, NodeFlags::MASTER)
    };
    let mut myslots = SlotBitmap::default();
    for (slot, o) in m.state.slot_owner.iter().enumerate() {
        if *o == Some(owner) {
            myslots.set(slot as u16, true);
        }
    }
    Header {
        port: 7000,
        current_epoch,
        config_epoch: m.state.nodes[&owner].config_epoch,
        repl_offset: 0,
        sender: node,
        myslots: Box::new(myslots),
        replicaof,
        myip: IpField::default(),
        pport: 0,
        cport: 17000,
        flags,
        state: 0,
        mflags: [0; 3],
    }
}

fn addrs() -> LinkAddrs {
    LinkAddrs { peer_ip: "10.0.0.9".into(), local_ip: "10.0.0.1".into() }
}

fn deliver(m: &mut Machine, header: Header, body: Body, now_ms: u64) -> Vec<Action> {
    m.handle_message(LinkId::In(99), &addrs(), &Message { header, body }, now_ms)
}

fn deliver_from(m: &mut Machine, from: char, current_epoch: u64, body: Body, now_ms: u64) -> Vec<Action> {
    let header = header_of(m, from, current_epoch);
    deliver(m, header, body, now_ms)
}

fn sent(actions: &[Action], msg_type: u16) -> Vec<(usize, LinkId, &Message)> {
    actions
        .iter()
        .enumerate()
        .filter_map(|(i, a)| match a {
            Action::Send { link, msg } if msg.body.msg_type() == msg_type => Some((i, *link, &**msg)),
            _ => None,
        })
        .collect()
}

fn fsync_save_index(actions: &[Action]) -> Option<usize> {
    actions.iter().position(|a| *a == Action::SaveConfig { fsync: true })
}

/// b is FAIL in m's view (a FAIL message from a known master).
fn fail_b(m: &mut Machine, from: char, now_ms: u64) -> Vec<Action> {
    let hdr = header_of(m, from, m.state.current_epoch);
    let actions = deliver(m, hdr, Body::Fail { node: name('b') }, now_ms);
    assert!(m.state.nodes[&name('b')].flags.contains(NodeFlags::FAIL));
    actions
}

use cluster::bus::msg_type::{FAIL, FAILOVER_AUTH_ACK, FAILOVER_AUTH_REQUEST, MFSTART, PING, PONG};

#[test]
fn a_master_votes_once_per_epoch_and_saves_the_vote_before_the_ack() {
    let mut m = machine('a');
    let links = connect_all(&mut m, NOW_MS);
    fail_b(&mut m, 'c', NOW_MS);
    let actions = deliver_from(&mut m, 'e', 4, Body::FailoverAuthRequest, NOW_MS + 10);
    let acks = sent(&actions, FAILOVER_AUTH_ACK);
    assert_eq!(acks.len(), 1, "{actions:?}");
    let (ack_at, link, ack) = acks[0];
    assert_eq!(link, LinkId::Out(link_of(&links, name('e'))));
    assert_eq!(ack.header.current_epoch, 4);
    let save_at = fsync_save_index(&actions).expect("the vote is saved with fsync");
    assert!(save_at < ack_at, "the save must come before the ACK: {actions:?}");
    assert_eq!((m.state.current_epoch, m.state.last_vote_epoch), (4, 4));
    assert!(m.state.to_nodes_conf().to_text().contains("lastVoteEpoch 4"));

    // f, another replica of b, in the same epoch: no second vote.
    let actions = deliver_from(&mut m, 'f', 4, Body::FailoverAuthRequest, NOW_MS + 20);
    assert!(sent(&actions, FAILOVER_AUTH_ACK).is_empty());
    // In a later epoch, but within 2 × node timeout of the vote for a replica of b: refused.
    let actions = deliver_from(&mut m, 'f', 5, Body::FailoverAuthRequest, NOW_MS + 30);
    assert!(sent(&actions, FAILOVER_AUTH_ACK).is_empty());
    assert_eq!(m.state.last_vote_epoch, 4);
    // After it: granted.
    let later = NOW_MS + 30 + 2 * TIMEOUT_MS;
    let actions = deliver_from(&mut m, 'f', 6, Body::FailoverAuthRequest, later);
    assert_eq!(sent(&actions, FAILOVER_AUTH_ACK).len(), 1);
    assert_eq!(m.state.last_vote_epoch, 6);
}

#[test]
fn votes_are_refused_by_each_rule() {
    // The master of the requester is up and there is no FORCEACK.
    let mut m = machine('a');
    connect_all(&mut m, NOW_MS);
    let actions = deliver_from(&mut m, 'e', 4, Body::FailoverAuthRequest, NOW_MS);
    assert!(sent(&actions, FAILOVER_AUTH_ACK).is_empty());
    assert_eq!(m.state.last_vote_epoch, 0, "a refusal spends no vote");
    // ... FORCEACK (manual failover) votes although the master is up.
    let mut hdr = header_of(&m, 'e', 5);
    hdr.mflags[0] = mflag0::FORCEACK;
    let actions = deliver(&mut m, hdr, Body::FailoverAuthRequest, NOW_MS);
    assert_eq!(sent(&actions, FAILOVER_AUTH_ACK).len(), 1);

    // A request in an epoch older than ours.
    let mut m = machine('a');
    connect_all(&mut m, NOW_MS);
    fail_b(&mut m, 'c', NOW_MS);
    let actions = deliver_from(&mut m, 'e', 2, Body::FailoverAuthRequest, NOW_MS);
    assert!(sent(&actions, FAILOVER_AUTH_ACK).is_empty());
    // A master asking.
    let actions = deliver_from(&mut m, 'c', 4, Body::FailoverAuthRequest, NOW_MS);
    assert!(sent(&actions, FAILOVER_AUTH_ACK).is_empty());
    // A requester claiming slots that are held at a greater epoch than it claims (c's, at 3).
    let mut hdr = header_of(&m, 'e', 4);
    hdr.myslots.set(16000, true);
    let actions = deliver(&mut m, hdr, Body::FailoverAuthRequest, NOW_MS);
    assert!(sent(&actions, FAILOVER_AUTH_ACK).is_empty());
    assert_eq!(m.state.last_vote_epoch, 0);

    // A replica never votes, nor does a master without slots.
    let mut m = machine('f');
    connect_all(&mut m, NOW_MS);
    fail_b(&mut m, 'c', NOW_MS);
    let actions = deliver_from(&mut m, 'e', 4, Body::FailoverAuthRequest, NOW_MS);
    assert!(sent(&actions, FAILOVER_AUTH_ACK).is_empty());
}

/// Replica e of failed master b: the election after Redis's delay (a delay unit of 500 ms
/// gives Redis 7.0's timing), the request (new epoch, saved before it leaves, each after a FAIL
/// about b on the same link), ACKs from a majority, and the promotion.
#[test]
fn a_replica_of_a_failed_master_is_elected_and_takes_its_slots() {
    let mut m = machine('e');
    let links = connect_all(&mut m, NOW_MS);
    m.set_failover_config(FailoverConfig { election_delay_ms: Some(500), ..FailoverConfig::default() }, NOW_MS);
    m.set_repl_offset(1000);
    m.set_master_link_time(Some(NOW_MS));
    let t0 = NOW_MS + 500;
    // The FAIL schedules the attempt 500..1000 ms later (rank 0: f announced nothing better)
    // and tells f our offset.
    let actions = fail_b(&mut m, 'a', t0);
    assert!(sent(&actions, FAILOVER_AUTH_REQUEST).is_empty());
    let due = m.failover_timer_ms().expect("an attempt is scheduled");
    assert!((t0 + 500..t0 + 1000).contains(&due), "{}", due - t0);
    let pongs = sent(&actions, PONG);
    assert_eq!(pongs.iter().map(|p| p.1).collect::<Vec<_>>(), vec![LinkId::Out(link_of(&links, name('f')))]);
    assert_eq!(pongs[0].2.header.repl_offset, 1000);
    let actions = m.tick(t0 + 499);
    assert!(sent(&actions, FAILOVER_AUTH_REQUEST).is_empty(), "not before the fixed delay");
    let mut t = t0 + 499;
    let mut request = None;
    while t <= t0 + 1000 {
        t += 100;
        let actions = m.tick(t);
        let reqs = sent(&actions, FAILOVER_AUTH_REQUEST);
        if !reqs.is_empty() {
            let save_at = fsync_save_index(&actions).expect("the new epoch is saved");
            assert!(reqs.iter().all(|r| r.0 > save_at), "saved before the request leaves");
            assert_eq!(reqs.len(), 4, "to every other node");
            let fails = sent(&actions, FAIL);
            assert_eq!(fails.len(), 4, "FAIL to every other node: {actions:?}");
            for req in &reqs {
                let fail = fails.iter().find(|f| f.1 == req.1).expect("a FAIL on the request's link");
                assert!(fail.0 < req.0, "FAIL before the request on its link");
                assert_eq!(fail.2.body, Body::Fail { node: name('b') });
            }
            request = Some(reqs[0].2.header.clone());
            break;
        }
    }
    let request = request.expect("an election by 1000 ms after the master failed");
    assert_eq!(request.current_epoch, 4);
    assert_eq!(request.mflags[0] & mflag0::FORCEACK, 0);
    assert_eq!(m.failover_auth_epoch(), 4);

    // An ACK from a replica or from a stale epoch does not count; a and c (2 of 3) win it.
    let stale = header_of(&m, 'a', 3);
    let actions = deliver(&mut m, stale, Body::FailoverAuthAck, t + 1);
    assert!(!actions.contains(&Action::StopReplication { flush_data: false }));
    let actions = deliver_from(&mut m, 'f', 4, Body::FailoverAuthAck, t + 2);
    assert!(!actions.contains(&Action::StopReplication { flush_data: false }));
    deliver_from(&mut m, 'a', 4, Body::FailoverAuthAck, t + 3);
    assert!(m.state.nodes[&name('e')].flags.contains(NodeFlags::SLAVE), "one vote of three is not a majority");
    let actions = deliver_from(&mut m, 'c', 4, Body::FailoverAuthAck, t + 4);
    let promoted = actions.iter().position(|a| *a == Action::StopReplication { flush_data: false });
    let saved = fsync_save_index(&actions);
    let first_pong = sent(&actions, PONG).first().map(|p| p.0);
    assert!(promoted.is_some() && saved.is_some() && first_pong.is_some(), "{actions:?}");
    assert!(promoted < saved && saved < first_pong, "stop replicating, save, then announce: {actions:?}");
    assert!(m.state.nodes[&name('e')].flags.contains(NodeFlags::MASTER));
    assert_eq!(m.state.nodes[&name('e')].config_epoch, 4);
    assert_eq!(m.node_slot_count(&name('e')), 10922 - 5461 + 1);
    assert_eq!(m.node_slot_count(&name('b')), 0);
    // Every node hears at once, with our new slots and epoch.
    let pong = sent(&actions, PONG)[0].2;
    assert_eq!((pong.header.config_epoch, pong.header.myslots.count()), (4, 5462));
    assert_eq!(pong.header.replicaof, None);
}

#[test]
fn a_replica_with_old_data_or_no_failover_does_not_run() {
    for case in 0..3 {
        let mut m = machine('e');
        connect_all(&mut m, NOW_MS);
        let t0 = NOW_MS + 500;
        match case {
            // Never connected to its master since start: Redis's repl_down_since = 0.
            0 => m.set_master_link_time(None),
            // Down for longer than node timeout + ping period + node timeout × factor (10).
            1 => m.set_master_link_time(Some(t0 - (TIMEOUT_MS + 10_000 + 10 * TIMEOUT_MS) - 1)),
            _ => {
                m.set_master_link_time(Some(t0));
                let cfg = FailoverConfig { replica_no_failover: true, ..FailoverConfig::default() };
                let actions = m.set_failover_config(cfg, t0);
                assert!(actions.contains(&Action::SaveConfig { fsync: false }));
                // Others see it and leave us out of their rank; CLUSTER NODES prints it.
                assert!(m.state.nodes[&name('e')].flags.contains(NodeFlags::NOFAILOVER));
                let nodes = cluster_command(&mut m, &[b"nodes"], &EmptyKeyspace, t0).0;
                assert!(format!("{nodes:?}").contains("myself,slave,nofailover"), "{nodes:?}");
            }
        }
        fail_b(&mut m, 'a', t0);
        for i in 0..30 {
            let actions = m.tick(t0 + i * 100);
            assert!(sent(&actions, FAILOVER_AUTH_REQUEST).is_empty(), "case {case}");
        }
    }
    // A validity factor of 0 lets the oldest replica try.
    let mut m = machine('e');
    connect_all(&mut m, NOW_MS);
    m.set_failover_config(FailoverConfig { replica_validity_factor: 0, ..FailoverConfig::default() }, NOW_MS);
    let t0 = NOW_MS + 500;
    fail_b(&mut m, 'a', t0);
    let asked = (0..30).any(|i| !sent(&m.tick(t0 + i * 100), FAILOVER_AUTH_REQUEST).is_empty());
    assert!(asked);
}

/// The automatic delay unit is min(500, node timeout / 30): 66 ms for a 2 s timeout, so a
/// replica of rank 0 asks 66..132 ms after it sees FAIL (at its next cron run after that).
#[test]
fn the_default_election_delay_follows_the_node_timeout() {
    let mut m = machine('e');
    connect_all(&mut m, NOW_MS);
    m.set_repl_offset(1000);
    m.set_master_link_time(Some(NOW_MS));
    let t0 = NOW_MS + 500;
    assert!(sent(&fail_b(&mut m, 'a', t0), FAILOVER_AUTH_REQUEST).is_empty(), "the FAIL only schedules");
    let due = m.failover_timer_ms().expect("an attempt is scheduled");
    assert!((t0 + 66..t0 + 132).contains(&due), "rank 0: 66..132 ms, got {}", due - t0);
    // The server runs the timer when due, between cron runs; it asks then, and only then.
    assert!(sent(&m.run_failover_timer(due - 1), FAILOVER_AUTH_REQUEST).is_empty(), "not before it is due");
    assert_eq!(m.failover_timer_ms(), Some(due), "still armed");
    assert_eq!(sent(&m.run_failover_timer(due), FAILOVER_AUTH_REQUEST).len(), 4);
    assert_eq!(m.failover_timer_ms(), None, "disarmed once the request is out");

    // Two failed masters: the replica of the one whose name sorts second waits one unit more
    // (e's master b sorts after a).
    let mut m = machine('e');
    connect_all(&mut m, NOW_MS);
    m.set_repl_offset(1000);
    m.set_master_link_time(Some(NOW_MS));
    m.state.nodes.get_mut(&name('a')).unwrap().flags.insert(NodeFlags::FAIL);
    fail_b(&mut m, 'c', t0);
    let due = m.failover_timer_ms().expect("an attempt is scheduled");
    assert!((t0 + 132..t0 + 198).contains(&due), "failed-master rank 1: 132..198 ms, got {}", due - t0);
    // A cron run after the due time asks too (the timer only makes it sooner).
    assert!(sent(&m.tick(due - 1), FAILOVER_AUTH_REQUEST).is_empty());
    assert_eq!(sent(&m.tick(due), FAILOVER_AUTH_REQUEST).len(), 4);

    // An attempt that won nothing is retried after the auth retry time (2 × 2 × node timeout),
    // with Redis's timing: 500 + random(0..500) ms.
    let mut m = machine('e');
    connect_all(&mut m, NOW_MS);
    m.set_repl_offset(1000);
    m.set_master_link_time(Some(NOW_MS));
    fail_b(&mut m, 'a', t0);
    let first = m.failover_timer_ms().expect("an attempt is scheduled");
    assert_eq!(sent(&m.run_failover_timer(first), FAILOVER_AUTH_REQUEST).len(), 4);
    let retry_at = first + 2 * 2 * TIMEOUT_MS + 1;
    assert!(sent(&m.tick(retry_at), FAILOVER_AUTH_REQUEST).is_empty());
    let due = m.failover_timer_ms().expect("a second attempt is scheduled") - retry_at;
    assert!((500..1000).contains(&due), "a retry waits Redis's 500..1000 ms, got {due}");

    // Replicas with the same offset rank by name: f, behind e only by name, is rank 1 and
    // waits two units more; once e is failing itself, f is rank 0.
    for e_failing in [false, true] {
        let mut m = machine('f');
        connect_all(&mut m, NOW_MS);
        m.set_repl_offset(1000);
        m.set_master_link_time(Some(NOW_MS));
        let mut hdr = header_of(&m, 'e', 3);
        hdr.repl_offset = 1000;
        deliver(&mut m, hdr, Body::Ping(PingBody::default()), NOW_MS);
        if e_failing {
            m.state.nodes.get_mut(&name('e')).unwrap().flags.insert(NodeFlags::PFAIL);
        }
        fail_b(&mut m, 'a', t0);
        let due = m.failover_timer_ms().expect("an attempt is scheduled") - t0;
        if e_failing {
            assert!((66..132).contains(&due), "rank 0: 66..132 ms, got {due}");
        } else {
            assert!((198..264).contains(&due), "rank 1 by name: 198..264 ms, got {due}");
        }
    }
}

/// With Redis's timing (unit 500 ms) a replica of rank 1 waits 2 × 500 ms more.
#[test]
fn a_replica_behind_another_waits_a_second_per_rank() {
    let mut m = machine('e');
    connect_all(&mut m, NOW_MS);
    m.set_failover_config(FailoverConfig { election_delay_ms: Some(500), ..FailoverConfig::default() }, NOW_MS);
    m.set_repl_offset(500);
    m.set_master_link_time(Some(NOW_MS));
    // f announces a better offset.
    let mut hdr = header_of(&m, 'f', 3);
    hdr.repl_offset = 900;
    deliver(&mut m, hdr, Body::Ping(PingBody::default()), NOW_MS);
    let t0 = NOW_MS + 500;
    fail_b(&mut m, 'a', t0);
    let first = (0..40).map(|i| t0 + i * 100).find(|&t| !sent(&m.tick(t), FAILOVER_AUTH_REQUEST).is_empty());
    let first = first.expect("an election within 4 s");
    assert!(first >= t0 + 1500 && first <= t0 + 2100, "rank 1: 1500..2000 ms, got {}", first - t0);
}

/// The whole manual failover, driving the master (b) and the replica (e) by hand.
#[test]
fn manual_failover_pauses_the_master_and_waits_for_its_offset() {
    let mut e = machine('e');
    let e_links = connect_all(&mut e, NOW_MS);
    let mut b = machine('b');
    connect_all(&mut b, NOW_MS);
    e.set_repl_offset(100);
    e.set_master_link_time(Some(NOW_MS));
    let t0 = NOW_MS + 1000;

    let args: Vec<&[u8]> = vec![b"failover"];
    let (reply, actions) = cluster_command(&mut e, &args, &EmptyKeyspace, t0);
    assert_eq!(reply, Reply::Ok);
    let mfstart = sent(&actions, MFSTART);
    assert_eq!(mfstart.len(), 1);
    assert_eq!(mfstart[0].1, LinkId::Out(link_of(&e_links, name('b'))));
    assert!(e.manual_failover_in_progress());

    // The master pauses, answers with a PING (not yet PAUSED: the server has not confirmed).
    let mfstart_msg = mfstart[0].2.clone();
    let actions = b.handle_message(LinkId::In(7), &addrs(), &mfstart_msg, t0 + 1);
    assert!(actions.contains(&Action::PauseWrites { until_ms: t0 + 1 + 10_000 }), "{actions:?}");
    let pings = sent(&actions, PING);
    assert_eq!(pings.len(), 1);
    assert_eq!(pings[0].1, LinkId::In(7));
    assert_eq!(pings[0].2.header.mflags[0] & mflag0::PAUSED, 0);
    // The server paused at offset 150; from now on b's headers carry PAUSED and 150.
    let actions = b.writes_paused(150, t0 + 2);
    let paused_ping = sent(&actions, PING)[0].2.clone();
    assert_eq!(paused_ping.header.mflags[0] & mflag0::PAUSED, mflag0::PAUSED);
    assert_eq!(paused_ping.header.repl_offset, 150);

    // The replica is at 100: it waits.
    e.handle_message(LinkId::In(8), &addrs(), &paused_ping, t0 + 3);
    assert!(sent(&e.tick(t0 + 100), FAILOVER_AUTH_REQUEST).is_empty());
    // At 150 it asks at once, with FORCEACK (b is not failed).
    e.set_repl_offset(150);
    let actions = e.tick(t0 + 200);
    let reqs = sent(&actions, FAILOVER_AUTH_REQUEST);
    assert_eq!(reqs.len(), 4, "{actions:?}");
    assert_eq!(reqs[0].2.header.mflags[0] & mflag0::FORCEACK, mflag0::FORCEACK);

    // A master with slots votes for it although b is up.
    let mut a = machine('a');
    connect_all(&mut a, NOW_MS);
    let req = reqs[0].2.clone();
    let votes = a.handle_message(LinkId::In(9), &addrs(), &req, t0 + 201);
    assert_eq!(sent(&votes, FAILOVER_AUTH_ACK).len(), 1);

    // Without a winner the master gives up after 5 s and resumes writes.
    let actions = b.tick(t0 + 1 + 5_001);
    assert!(actions.contains(&Action::ResumeWrites), "{actions:?}");
    assert!(!b.manual_failover_in_progress());
    let after = b.tick(t0 + 6_000);
    let after = sent(&after, PING);
    assert!(after.iter().all(|p| p.2.header.mflags[0] & mflag0::PAUSED == 0));
}

#[test]
fn forced_failover_runs_an_election_without_the_master() {
    let mut e = machine('e');
    connect_all(&mut e, NOW_MS);
    let args: Vec<&[u8]> = vec![b"FAILOVER", b"force"];
    let (reply, actions) = cluster_command(&mut e, &args, &EmptyKeyspace, NOW_MS);
    assert_eq!(reply, Reply::Ok);
    assert!(sent(&actions, MFSTART).is_empty());
    let reqs = sent(&actions, FAILOVER_AUTH_REQUEST);
    assert_eq!(reqs.len(), 4);
    assert_eq!(reqs[0].2.header.mflags[0] & mflag0::FORCEACK, mflag0::FORCEACK);
    // Without the votes in 5 s it is over: no further request with FORCEACK.
    let later: Vec<Action> = (1..80).flat_map(|i| e.tick(NOW_MS + i * 100)).collect();
    assert!(sent(&later, FAILOVER_AUTH_REQUEST).is_empty());
    assert!(!e.manual_failover_in_progress());
}

#[test]
fn takeover_needs_no_votes() {
    let mut e = machine('e');
    connect_all(&mut e, NOW_MS);
    let args: Vec<&[u8]> = vec![b"failover", b"TAKEOVER"];
    let (reply, actions) = cluster_command(&mut e, &args, &EmptyKeyspace, NOW_MS);
    assert_eq!(reply, Reply::Ok);
    assert!(sent(&actions, FAILOVER_AUTH_REQUEST).is_empty());
    assert!(e.state.nodes[&name('e')].flags.contains(NodeFlags::MASTER));
    assert_eq!(e.state.nodes[&name('e')].config_epoch, 4);
    assert_eq!(e.node_slot_count(&name('e')), 5462);
}

#[test]
fn cluster_failover_replies_as_redis() {
    let run = |m: &mut Machine, words: &[&str]| {
        let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
        cluster_command(m, &args, &EmptyKeyspace, NOW_MS).0
    };
    let err = |s: &str| Reply::Error(s.to_string());
    let mut a = machine('a');
    assert_eq!(run(&mut a, &["failover"]), err("ERR You should send CLUSTER FAILOVER to a replica"));
    assert_eq!(run(&mut a, &["failover", "bogus"]), err("ERR syntax error"));
    let mut e = machine('e');
    // No link to the master yet (connect_all not run): only FORCE / TAKEOVER.
    assert_eq!(run(&mut e, &["failover"]), err("ERR Master is down or failed, please use CLUSTER FAILOVER FORCE"));
    connect_all(&mut e, NOW_MS);
    fail_b(&mut e, 'a', NOW_MS);
    assert_eq!(run(&mut e, &["failover"]), err("ERR Master is down or failed, please use CLUSTER FAILOVER FORCE"));
    assert_eq!(run(&mut e, &["failover", "force"]), Reply::Ok);
}

#[test]
fn an_old_master_that_comes_back_follows_the_winner() {
    // b comes back: e (its former replica) claims b's slots at epoch 4 in a PONG.
    let mut b = machine('b');
    connect_all(&mut b, NOW_MS);
    let mut hdr = header_of(&b, 'e', 4);
    hdr.flags = NodeFlags::MASTER;
    hdr.replicaof = None;
    hdr.config_epoch = 4;
    let actions = deliver(&mut b, hdr, Body::Pong(PingBody::default()), NOW_MS);
    assert!(actions.contains(&Action::ReplicateFrom { master: name('e') }), "{actions:?}");
    assert!(b.state.nodes[&name('b')].flags.contains(NodeFlags::SLAVE));
    assert_eq!(b.state.nodes[&name('b')].master, Some(name('e')));
    assert_eq!(b.node_slot_count(&name('e')), 5462);

    // f, a replica of b, follows the new owner too.
    let mut f = machine('f');
    connect_all(&mut f, NOW_MS);
    let mut hdr = header_of(&f, 'e', 4);
    hdr.flags = NodeFlags::MASTER;
    hdr.replicaof = None;
    hdr.config_epoch = 4;
    let actions = deliver(&mut f, hdr, Body::Pong(PingBody::default()), NOW_MS);
    assert!(actions.contains(&Action::ReplicateFrom { master: name('e') }), "{actions:?}");
}

/// A master cut off from the majority goes fail after the node timeout (it must refuse writes)
/// and, once the others answer again, stays fail for the rejoin delay (`clusterUpdateState`:
/// node timeout clamped to 0.5..5 s), so a replica elected meanwhile can reach it first.
#[test]
fn a_minority_master_fails_and_waits_the_rejoin_delay() {
    let mut m = machine('a');
    let links = connect_all(&mut m, NOW_MS);
    for (node, link) in &links {
        let hdr = header_of(&m, node.to_string().chars().next().unwrap_or('a'), 3);
        let msg = Message { header: hdr, body: Body::Pong(PingBody::default()) };
        m.handle_message(LinkId::Out(*link), &addrs(), &msg, NOW_MS + 10);
    }
    m.tick(NOW_MS + 2100);
    assert!(m.cluster_ok());
    for c in ['b', 'c'] {
        m.link_closed(link_of(&links, name(c)), NOW_MS + 2200);
    }
    let t2 = NOW_MS + 2200 + TIMEOUT_MS + 1;
    let actions = m.tick(t2);
    assert!(!m.cluster_ok(), "2 of 3 masters unreachable: fail");
    assert!(actions.contains(&Action::StateChanged { ok: false }));
    // The tick reconnects; b and c answer.
    let mut relinks = Vec::new();
    for action in &actions {
        if let Action::Connect { link, ip, .. } = action {
            let node = *m.state.nodes.iter().find(|(_, n)| n.ip == *ip).map(|(n, _)| n).unwrap_or(&name('a'));
            relinks.push((node, *link));
        }
    }
    assert_eq!(relinks.len(), 2, "{actions:?}");
    for &(node, link) in &relinks {
        m.link_connected(link, t2 + 10);
        let c = node.to_string().chars().next().unwrap_or('a');
        let msg = Message { header: header_of(&m, c, 3), body: Body::Pong(PingBody::default()) };
        m.handle_message(LinkId::Out(link), &addrs(), &msg, t2 + 50);
    }
    assert!(!m.state.nodes[&name('b')].flags.contains(NodeFlags::PFAIL));
    m.tick(t2 + TIMEOUT_MS - 1);
    assert!(!m.cluster_ok(), "still within the rejoin delay");
    // They keep talking (a silence of a node timeout would count as unreachable again).
    for &(node, link) in &relinks {
        pong_from(&mut m, node, link, t2 + TIMEOUT_MS - 1);
    }
    let actions = m.tick(t2 + TIMEOUT_MS + 1);
    assert!(m.cluster_ok() && actions.contains(&Action::StateChanged { ok: true }));
}

/// A master cut off from every other node stops reporting ok within the node timeout, before
/// it has marked anyone PFAIL: the others' silence alone counts (`minority_quiet_ms`). While
/// the peers answer its pings (and nothing else: the longest silence a healthy link shows), it
/// stays ok; a cron run late by a second, our own stall, does not count their silence.
#[test]
fn a_master_cut_off_from_the_majority_fails_within_the_node_timeout() {
    assert_eq!(cluster::machine::minority_quiet_ms(2000), 1750);
    assert_eq!(cluster::machine::minority_quiet_ms(15000), 14750);
    assert_eq!(cluster::machine::minority_quiet_ms(500), 850, "never within a cron run of a healthy link");
    let mut m = machine('a');
    let links = connect_all(&mut m, NOW_MS);
    for &(node, link) in &links {
        pong_from(&mut m, node, link, NOW_MS + 10);
    }
    let cut_ms = NOW_MS + 10_000;
    let mut t = NOW_MS;
    let mut failed_at = None;
    while t < cut_ms + 2 * TIMEOUT_MS && failed_at.is_none() {
        t += 100;
        let actions = m.tick(t);
        if t <= cut_ms {
            assert!(m.cluster_ok() || t < NOW_MS + 3000, "a healthy link's silence at {}", t - NOW_MS);
            answer_pings(&mut m, &links, &actions, 'z', t + 5);
        } else if !m.cluster_ok() {
            assert!(actions.contains(&Action::StateChanged { ok: false }));
            failed_at = Some(t);
        }
    }
    let failed_at = failed_at.expect("the cut-off master fails");
    assert!(failed_at - cut_ms <= TIMEOUT_MS - 100, "failed {} ms after the cut", failed_at - cut_ms);
    for c in ['b', 'c'] {
        assert!(!m.state.nodes[&name(c)].flags.contains(NodeFlags::PFAIL), "silence, not PFAIL, made it fail");
    }

    // The same cut, but the cron runs that would see the silence come a second late.
    let mut m = machine('a');
    let links = connect_all(&mut m, NOW_MS);
    for &(node, link) in &links {
        pong_from(&mut m, node, link, NOW_MS + 10);
    }
    let mut t = NOW_MS;
    while t < cut_ms {
        t += 100;
        let actions = m.tick(t);
        answer_pings(&mut m, &links, &actions, 'z', t + 5);
    }
    assert!(m.cluster_ok());
    m.tick(cut_ms + 1900);
    assert!(m.cluster_ok(), "a stalled cron run does not judge silence");
    m.tick(cut_ms + 2000);
    assert!(!m.cluster_ok(), "the next run, on time, does");
}

/// A peer announcing the largest epoch cannot make us panic or wrap our epochs to zero.
#[test]
fn an_epoch_at_the_top_of_the_range_saturates() {
    let mut a = machine('a');
    connect_all(&mut a, NOW_MS);
    // b claims our epoch (collision: we have the smaller name, so we take a new epoch).
    let mut hdr = header_of(&a, 'b', u64::MAX);
    hdr.config_epoch = 1;
    deliver(&mut a, hdr, Body::Ping(PingBody::default()), NOW_MS);
    assert_eq!(a.state.current_epoch, u64::MAX);
    assert_eq!(a.state.nodes[&name('a')].config_epoch, u64::MAX);
    // A replica electing itself at the top of the range.
    let mut e = machine('e');
    connect_all(&mut e, NOW_MS);
    e.set_master_link_time(Some(NOW_MS));
    deliver_from(&mut e, 'a', u64::MAX, Body::Fail { node: name('b') }, NOW_MS);
    let args: Vec<&[u8]> = vec![b"failover", b"force"];
    let (reply, _) = cluster_command(&mut e, &args, &EmptyKeyspace, NOW_MS);
    assert_eq!(reply, Reply::Ok);
    assert_eq!(e.state.current_epoch, u64::MAX);
}

/// A master that gets its first slot while masters have replicas is a migration target
/// (`clusterNodeSetSlotBit`), so a replica may move to it once it is orphaned.
#[test]
fn a_master_given_its_first_slot_becomes_a_migration_target() {
    let mut a = machine('a');
    // d joins as a slot-less master, then claims one of c's slots at a greater epoch.
    let mut hdr = header_of(&a, 'c', 9);
    hdr.sender = name('d');
    hdr.config_epoch = 9;
    hdr.myslots = Box::new(SlotBitmap::default());
    hdr.myslots.set(16000, true);
    // d is unknown: a known node gossips it first.
    let gossip = cluster::bus::GossipEntry {
        node: name('d'),
        ping_sent_s: 0,
        pong_received_s: 0,
        ip: IpField::new("10.0.0.4").unwrap_or_default(),
        port: 7000,
        cport: 17000,
        flags: NodeFlags::MASTER,
        pport: 0,
    };
    let ping = Body::Ping(PingBody { gossip: vec![gossip], extensions: Vec::new() });
    deliver_from(&mut a, 'c', 3, ping, NOW_MS);
    assert!(!a.state.nodes[&name('d')].flags.contains(NodeFlags::MIGRATE_TO));
    deliver(&mut a, hdr, Body::Ping(PingBody::default()), NOW_MS);
    assert_eq!(a.node_slot_count(&name('d')), 1);
    assert!(a.state.nodes[&name('d')].flags.contains(NodeFlags::MIGRATE_TO));
}

/// Answers every PING `actions` sent on an outbound link with a PONG from that node, except
/// from `silent`: the peers are alive, `silent` is dead.
fn answer_pings(m: &mut Machine, links: &[(NodeName, u64)], actions: &[Action], silent: char, now_ms: u64) {
    for (_, link, _) in sent(actions, PING) {
        let LinkId::Out(id) = link else { continue };
        let Some(&(node, _)) = links.iter().find(|(_, l)| *l == id) else { continue };
        if node == name(silent) {
            continue;
        }
        pong_from(m, node, id, now_ms);
    }
}

/// A PONG from `node` on our outbound link `link` to it.
fn pong_from(m: &mut Machine, node: NodeName, link: u64, now_ms: u64) {
    let c = node.to_string().chars().next().unwrap();
    let hdr = header_of(m, c, m.state.current_epoch);
    m.handle_message(
        LinkId::Out(link),
        &addrs(),
        &Message { header: hdr, body: Body::Pong(PingBody::default()) },
        now_ms,
    );
}

fn reports_b_failing(msg: &Message) -> bool {
    let Body::Ping(ping) = &msg.body else { return false };
    ping.gossip.iter().any(|g| g.node == name('b') && g.flags.contains(NodeFlags::PFAIL))
}

/// Master a loses b (its link breaks at 550 ms): in the cron run that marks b PFAIL, a pings
/// b's replicas e and f at once, the gossip carrying b's PFAIL, instead of leaving the report
/// to ordinary gossip (their next regular ping is not due then).
#[test]
fn a_master_that_times_out_a_master_tells_its_replicas_at_once() {
    let mut m = machine('a');
    let links = connect_all(&mut m, NOW_MS);
    for &(node, link) in &links {
        pong_from(&mut m, node, link, NOW_MS + 10);
    }
    let mut closed = false;
    let mut t = NOW_MS;
    let mut told = None;
    while t < NOW_MS + 3000 && told.is_none() {
        t += 100;
        if t >= NOW_MS + 550 && !closed {
            m.link_closed(link_of(&links, name('b')), NOW_MS + 550);
            closed = true;
        }
        let was_pfail = m.state.nodes[&name('b')].flags.contains(NodeFlags::PFAIL);
        let actions = m.tick(t);
        if !was_pfail && m.state.nodes[&name('b')].flags.contains(NodeFlags::PFAIL) {
            told = Some((t, actions.clone()));
        }
        answer_pings(&mut m, &links, &actions, 'b', t);
    }
    let (t, actions) = told.expect("b timed out");
    assert_eq!(t, NOW_MS + 2600, "PFAIL one node timeout after the link broke");
    for replica in ['e', 'f'] {
        let link = LinkId::Out(link_of(&links, name(replica)));
        let pings = sent(&actions, PING);
        assert!(
            pings.iter().any(|(_, l, msg)| *l == link && reports_b_failing(msg)),
            "{replica} is told in the same run: {actions:?}"
        );
    }
}

/// Replica e holds the reports of a and c (PFAIL gossip) before its own timeout of b: the cron
/// run that marks b PFAIL marks it FAIL at once, broadcasts FAIL and schedules the election.
#[test]
fn reports_that_arrived_first_make_fail_as_soon_as_we_time_out_too() {
    let mut m = machine('e');
    let links = connect_all(&mut m, NOW_MS);
    m.set_repl_offset(1000);
    for &(node, link) in &links {
        pong_from(&mut m, node, link, NOW_MS + 10);
    }
    let mut t = NOW_MS;
    let mut closed = false;
    let mut reported = false;
    let mut failed_at = None;
    while t < NOW_MS + 3000 && failed_at.is_none() {
        t += 100;
        if t >= NOW_MS + 550 && !closed {
            m.link_closed(link_of(&links, name('b')), NOW_MS + 550);
            closed = true;
        }
        if t >= NOW_MS + 2300 && !reported {
            for reporter in ['a', 'c'] {
                let mut flags = NodeFlags::MASTER;
                flags.insert(NodeFlags::PFAIL);
                let entry = GossipEntry {
                    node: name('b'),
                    ping_sent_s: 0,
                    pong_received_s: 0,
                    ip: IpField::default(),
                    port: 7000,
                    cport: 17000,
                    flags,
                    pport: 0,
                };
                let ping = PingBody { gossip: vec![entry], ..PingBody::default() };
                deliver_from(&mut m, reporter, 3, Body::Ping(ping), t);
            }
            reported = true;
            assert!(!m.state.nodes[&name('b')].flags.contains(NodeFlags::FAIL), "not before our own timeout");
        }
        m.set_master_link_time(Some(t.min(NOW_MS + 550)));
        let actions = m.tick(t);
        if m.state.nodes[&name('b')].flags.contains(NodeFlags::FAIL) {
            failed_at = Some((t, actions.clone()));
        }
        answer_pings(&mut m, &links, &actions, 'b', t);
    }
    let (t, actions) = failed_at.expect("b failed");
    assert_eq!(t, NOW_MS + 2600, "FAIL in the run that timed b out");
    let fails = sent(&actions, FAIL);
    assert_eq!(fails.len(), 4, "FAIL broadcast: {actions:?}");
    assert!(m.failover_timer_ms().is_some(), "the election is scheduled");
}
