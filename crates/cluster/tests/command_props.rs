//! Property tests of `cluster_command`: any sequence of CLUSTER commands, well-formed or not,
//! on a node that knows a five-node cluster, never panics, leaves the machine's bookkeeping
//! consistent, answers errors with Redis's `ERR ` prefix, asks for at most one save per command,
//! never moves the current epoch back (except CLUSTER RESET HARD, which zeroes it), and keeps
//! CLUSTER NODES and nodes.conf readable by the nodes.conf parser.

use std::collections::BTreeMap;

use cluster::machine::{Action, Config, Machine};
use cluster::{cluster_command, ClusterState, Environment, LinkId, NodesConf, Reply};
use proptest::collection::vec;
use proptest::prelude::*;

const NOW_MS: u64 = 1_700_000_000_000;

fn id(c: char) -> String {
    c.to_string().repeat(40)
}

fn machine() -> Machine {
    let text = format!(
        "{a} 10.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460\n\
         {b} 10.0.0.2:7000@17000,b.example master - 0 0 2 connected 5461-10922\n\
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
    Machine::new(state, Config { node_timeout_ms: 2000, port: 7000, cport: 17000, ..Config::default() }, 3, NOW_MS)
}

struct Keys(BTreeMap<u16, u64>);

impl Environment for Keys {
    fn count_keys_in_slot(&self, slot: u16) -> u64 {
        self.0.get(&slot).copied().unwrap_or(0)
    }
    fn keys_in_slot(&self, slot: u16, count: usize) -> Vec<Vec<u8>> {
        (0..self.count_keys_in_slot(slot).min(count as u64)).map(|i| format!("k{slot}:{i}").into_bytes()).collect()
    }
    fn link_buffers(&self, _link: LinkId) -> Option<(u64, u64)> {
        Some((16, 0))
    }
    fn db_is_empty(&self) -> bool {
        self.0.values().all(|&n| n == 0)
    }
}

/// Words a CLUSTER command is made of: real subcommands and options in any case, node ids
/// (known, unknown, malformed), slots (valid, edge, out of range, not numbers), and raw bytes.
fn word() -> impl Strategy<Value = Vec<u8>> {
    let known = prop_oneof![
        Just("addslots"),
        Just("ADDSLOTSRANGE"),
        Just("delslots"),
        Just("delslotsrange"),
        Just("setslot"),
        Just("importing"),
        Just("MIGRATING"),
        Just("stable"),
        Just("node"),
        Just("flushslots"),
        Just("forget"),
        Just("replicate"),
        Just("replicas"),
        Just("slaves"),
        Just("reset"),
        Just("hard"),
        Just("soft"),
        Just("bumpepoch"),
        Just("set-config-epoch"),
        Just("nodes"),
        Just("slots"),
        Just("shards"),
        Just("info"),
        Just("links"),
        Just("meet"),
        Just("10.0.0.9"),
        Just("::1"),
        Just("failover"),
        Just("takeover"),
        Just("force"),
        Just("count-failure-reports"),
        Just("getkeysinslot"),
        Just("countkeysinslot"),
        Just("keyslot"),
        Just("myid"),
        Just("saveconfig"),
        Just("help"),
    ]
    .prop_map(|w| w.as_bytes().to_vec());
    let node = prop_oneof![Just('a'), Just('b'), Just('c'), Just('d'), Just('e'), Just('z'), Just('A')]
        .prop_map(|c| id(c).into_bytes());
    let number = prop_oneof![0i64..16384, Just(16383i64), Just(16384i64), Just(-1i64), Just(i64::MAX), 0i64..70000,]
        .prop_map(|n| n.to_string().into_bytes());
    prop_oneof![
        4 => known,
        3 => node,
        4 => number,
        1 => vec(any::<u8>(), 0..12),
    ]
}

fn node_arg() -> impl Strategy<Value = String> {
    prop_oneof![Just('a'), Just('b'), Just('c'), Just('d'), Just('e'), Just('z')].prop_map(id)
}

fn slot_arg() -> impl Strategy<Value = String> {
    // Mostly near the edges of the three owners' ranges, where moves interact.
    prop_oneof![0u16..8, 5458u16..5466, 10920u16..10926, 16380u16..16384, 0u16..16384].prop_map(|s| s.to_string())
}

/// A well-formed command of a writing subcommand (its checks may still refuse it).
fn structured() -> impl Strategy<Value = Vec<String>> {
    let action = prop_oneof![Just("importing"), Just("migrating"), Just("node")];
    prop_oneof![
        (slot_arg(), action, node_arg()).prop_map(|(s, a, n)| vec!["setslot".into(), s, a.into(), n]),
        slot_arg().prop_map(|s| vec!["setslot".into(), s, "stable".into()]),
        (prop_oneof![Just("addslots"), Just("delslots")], vec(slot_arg(), 1..4))
            .prop_map(|(c, slots)| std::iter::once(c.to_string()).chain(slots).collect()),
        (prop_oneof![Just("addslotsrange"), Just("delslotsrange")], slot_arg(), 0u16..20).prop_map(|(c, s, len)| {
            let first: u16 = s.parse().unwrap();
            vec![c.into(), s, (first.saturating_add(len)).min(16383).to_string()]
        }),
        (prop_oneof![Just("forget"), Just("replicate"), Just("replicas"), Just("count-failure-reports")], node_arg())
            .prop_map(|(c, n)| vec![c.into(), n]),
        prop_oneof![Just("hard"), Just("soft")].prop_map(|o| vec!["reset".into(), o.into()]),
        prop_oneof![Just("takeover"), Just("force")].prop_map(|o| vec!["failover".into(), o.into()]),
        Just(vec!["bumpepoch".to_string()]),
        Just(vec!["flushslots".to_string()]),
        (0u64..10).prop_map(|e| vec!["set-config-epoch".into(), e.to_string()]),
        Just(vec!["meet".to_string(), "10.0.0.9".into(), "7000".into()]),
        (slot_arg(), 0u8..5).prop_map(|(s, n)| vec!["getkeysinslot".into(), s, n.to_string()]),
    ]
}

fn command() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop_oneof![
        3 => structured().prop_map(|words| words.into_iter().map(String::into_bytes).collect()),
        1 => vec(word(), 1..7),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn any_command_sequence_keeps_the_machine_consistent(
        commands in vec(command(), 1..30),
        keyed in vec((0u16..16384, 0u64..3), 0..4),
    ) {
        let mut m = machine();
        let env = Keys(keyed.into_iter().collect());
        let mut now_ms = NOW_MS;
        for args in &commands {
            now_ms += 10;
            let before_epoch = m.state.current_epoch;
            let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
            let (reply, actions) = cluster_command(&mut m, &refs, &env, now_ms);
            let hard_reset = matches!(&reply, Reply::Ok)
                && args.first().is_some_and(|w| w.eq_ignore_ascii_case(b"reset"))
                && args.get(1).is_some_and(|w| w.eq_ignore_ascii_case(b"hard"));
            if let Err(problem) = m.check_consistency() {
                prop_assert!(false, "after {:?}: {}", args, problem);
            }
            if let Reply::Error(text) = &reply {
                prop_assert!(text.starts_with("ERR "), "{text}");
                prop_assert!(!text.contains('\r') && !text.contains('\n'), "{text:?}");
            }
            let saves = actions.iter().filter(|a| matches!(a, Action::SaveConfig { .. })).count();
            prop_assert!(saves <= 1, "{actions:?}");
            if !hard_reset {
                prop_assert!(m.state.current_epoch >= before_epoch, "{:?} moved the epoch back", args);
            }
            let me = m.myself();
            prop_assert!(m.state.nodes[&me].config_epoch <= m.state.current_epoch);
        }
        // What a restart would read, and what CLUSTER NODES shows, parse as nodes.conf.
        let saved = m.state.to_nodes_conf().to_text();
        let conf = NodesConf::parse(&saved).map_err(|e| TestCaseError::fail(format!("{e}: {saved}")))?;
        let loaded = ClusterState::from_nodes_conf(&conf, now_ms).unwrap();
        prop_assert_eq!(&loaded.slot_owner, &m.state.slot_owner);
        let (nodes, _) = cluster_command(&mut m, &[b"nodes"], &env, now_ms);
        let Reply::Verbatim(text) = nodes else { panic!("NODES is verbatim text") };
        let parsed = NodesConf::parse(&text).map_err(|e| TestCaseError::fail(format!("{e}: {text}")))?;
        prop_assert_eq!(parsed.nodes.len(), m.state.nodes.len());
    }
}
