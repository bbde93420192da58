//! Property tests of nodes.conf: any config we can hold writes to text that parses back to it,
//! and no text makes the parser panic.

use cluster::nodes_conf::{NodeLine, SlotEntry};
use cluster::types::PRINTED_FLAGS;
use cluster::{NodeFlags, NodeName, NodesConf};
use proptest::collection::vec;
use proptest::prelude::*;

fn name() -> impl Strategy<Value = NodeName> {
    "[0-9a-z]{40}".prop_map(|s| NodeName::parse(&s).unwrap())
}

fn slot() -> impl Strategy<Value = u16> {
    0u16..16384
}

fn slot_entry() -> impl Strategy<Value = SlotEntry> {
    prop_oneof![
        (slot(), slot()).prop_map(|(first, last)| SlotEntry::Range { first, last }),
        (slot(), name()).prop_map(|(slot, node)| SlotEntry::Migrating { slot, node }),
        (slot(), name()).prop_map(|(slot, node)| SlotEntry::Importing { slot, node }),
    ]
}

fn node_line() -> impl Strategy<Value = NodeLine> {
    (
        (name(), "[0-9a-f:.]{0,39}", any::<u16>(), any::<u16>(), proptest::option::of("[a-z0-9.-]{1,20}")),
        (any::<u8>(), proptest::option::of(name()), any::<u64>(), any::<u64>(), any::<u64>(), any::<bool>()),
        vec(slot_entry(), 0..8),
    )
        .prop_map(|((name, ip, port, cport, hostname), rest, slots)| {
            let (flag_bits, master, ping_sent_ms, pong_received_ms, config_epoch, link_connected) = rest;
            let mut flags = NodeFlags::empty();
            for (i, (flag, _)) in PRINTED_FLAGS.iter().enumerate() {
                // MYSELF is placed by the config strategy, one node at most.
                if i > 0 && flag_bits & (1 << i) != 0 {
                    flags.insert(*flag);
                }
            }
            NodeLine {
                name,
                ip,
                port,
                cport,
                hostname,
                flags,
                master,
                ping_sent_ms,
                pong_received_ms,
                config_epoch,
                link_connected,
                slots,
            }
        })
}

fn conf() -> impl Strategy<Value = NodesConf> {
    (vec(node_line(), 1..6), any::<prop::sample::Index>(), any::<u64>(), any::<u64>()).prop_map(
        |(mut nodes, myself, current_epoch, last_vote_epoch)| {
            let at = myself.index(nodes.len());
            nodes[at].flags.insert(NodeFlags::MYSELF);
            NodesConf { nodes, current_epoch, last_vote_epoch }
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn configs_round_trip_through_text(conf in conf()) {
        let text = conf.to_text();
        prop_assert_eq!(NodesConf::parse(&text), Ok(conf));
        prop_assert!(text.ends_with('\n') && text.lines().last().unwrap().starts_with("vars currentEpoch "));
    }

    #[test]
    fn damaged_text_never_panics(conf in conf(), at in any::<prop::sample::Index>(), with in any::<char>()) {
        let mut text: Vec<char> = conf.to_text().chars().collect();
        let at = at.index(text.len());
        text[at] = with;
        let text: String = text.into_iter().collect();
        if let Ok(parsed) = NodesConf::parse(&text) {
            // Anything accepted writes to text that reads back the same.
            prop_assert_eq!(NodesConf::parse(&parsed.to_text()), Ok(parsed));
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in "[ -~\n]{0,300}") {
        let _ = NodesConf::parse(&text);
    }
}
