//! Files and packets written by a real Redis 7.0.15 (captured with
//! `tools/capture_cluster_bus.py`): each must decode / parse, and encode / write back to exactly
//! the bytes Redis produced.

use std::fs;
use std::path::{Path, PathBuf};

use cluster::bus::{self, Body, PingExt};
use cluster::nodes_conf::SlotEntry;
use cluster::{ClusterState, NodeFlags, NodesConf};

fn fixtures(dir: &str, ext: &str) -> Vec<(String, Vec<u8>)> {
    let dir: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "fixtures", dir].iter().collect();
    let mut files: Vec<(String, Vec<u8>)> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .map(|p: PathBuf| (file_name(&p), fs::read(&p).unwrap()))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "expected the captured fixtures in {}", dir.display());
    files
}

fn file_name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn captured_packets_decode_and_reencode_byte_for_byte() {
    let mut types_seen = std::collections::BTreeSet::new();
    for (name, bytes) in fixtures("bus", "bin") {
        assert_eq!(
            bus::frame(&bytes, bus::DEFAULT_MAX_PACKET_LEN_BYTES),
            Ok(bus::Framing::Ready { packet_len: bytes.len() })
        );
        let msg = bus::decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(bus::encode(&msg).unwrap(), bytes, "{name} re-encodes differently");
        types_seen.insert(msg.body.msg_type());
        // What the file name says (written by the capture script from the raw type field).
        let kind = name.split('-').nth(1).unwrap();
        let expected = match &msg.body {
            Body::Ping(_) => "ping",
            Body::Pong(_) => "pong",
            Body::Meet(_) => "meet",
            Body::Fail { .. } => "fail",
            Body::Publish { .. } => "publish",
            Body::PublishShard { .. } => "publishshard",
            Body::FailoverAuthRequest | Body::FailoverAuthAck => "auth",
            Body::MfStart => "mfstart",
            other => panic!("{name}: unexpected {other:?}"),
        };
        assert_eq!(kind, expected, "{name}");
        assert!(msg.header.sender.is_valid(), "{name}");
    }
    // PING, PONG, MEET, FAIL, PUBLISH, AUTH_REQUEST, AUTH_ACK, MFSTART, PUBLISHSHARD.
    assert_eq!(types_seen.into_iter().collect::<Vec<_>>(), vec![0, 1, 2, 3, 4, 5, 6, 8, 10]);
}

#[test]
fn captured_packets_mean_what_the_scenario_did() {
    for (name, bytes) in fixtures("bus", "bin") {
        let msg = bus::decode(&bytes).unwrap();
        let h = &msg.header;
        match &msg.body {
            Body::Meet(ping) => {
                // Node a announces a hostname, so its MEETs carry the extension.
                assert_eq!(ping.extensions, vec![PingExt::Hostname(b"node-a.local".to_vec())], "{name}");
                assert_eq!(h.mflags[0] & bus::mflag0::EXT_DATA, bus::mflag0::EXT_DATA);
                assert!(h.flags.contains(NodeFlags::MASTER.union(NodeFlags::MYSELF)));
            }
            Body::Publish { channel, message } => {
                assert_eq!((channel.as_slice(), message.as_slice()), (&b"news"[..], &b"hello"[..]), "{name}");
                assert_eq!(h.myslots.count(), 16384);
            }
            Body::PublishShard { channel, message } => {
                assert_eq!((channel.as_slice(), message.as_slice()), (&b"news"[..], &b"shard-hello"[..]));
            }
            Body::FailoverAuthRequest => {
                // A manual failover asks for votes with FORCEACK, from a replica, with its master's slots.
                assert_eq!(h.mflags[0] & bus::mflag0::FORCEACK, bus::mflag0::FORCEACK, "{name}");
                assert!(h.flags.contains(NodeFlags::SLAVE) && h.replicaof.is_some());
                assert_eq!(h.myslots.count(), 16384);
            }
            Body::Ping(p) | Body::Pong(p) => {
                for g in &p.gossip {
                    assert!(g.node.is_valid(), "{name}");
                    assert_eq!(g.ip.text(), b"127.0.0.1", "{name}");
                }
                if h.flags.contains(NodeFlags::SLAVE) {
                    assert!(h.replicaof.is_some(), "{name}");
                }
            }
            _ => {}
        }
    }
}

#[test]
fn nodes_conf_written_by_redis_parses_and_writes_back_identically() {
    let mut saw_migrating = false;
    let mut saw_importing = false;
    let mut saw_hostname = false;
    for (name, bytes) in fixtures("nodes_conf", "conf") {
        let text = String::from_utf8(bytes).unwrap();
        let conf = NodesConf::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(conf.to_text(), text, "{name}");
        assert!(conf.myself().is_some());
        for node in &conf.nodes {
            saw_hostname |= node.hostname.as_deref() == Some("node-a.local");
            for entry in &node.slots {
                saw_migrating |= matches!(entry, SlotEntry::Migrating { slot: 100, .. });
                saw_importing |= matches!(entry, SlotEntry::Importing { slot: 100, .. });
            }
        }
    }
    assert!(saw_migrating && saw_importing && saw_hostname);
}

#[test]
fn nodes_conf_written_by_redis_loads_into_state_and_saves_the_same_topology() {
    for (name, bytes) in fixtures("nodes_conf", "conf") {
        let conf = NodesConf::parse(&String::from_utf8(bytes).unwrap()).unwrap();
        let state = ClusterState::from_nodes_conf(&conf, 42).unwrap();
        assert_eq!(state.myself, conf.myself().unwrap().name, "{name}");
        let saved = state.to_nodes_conf();
        // Same nodes, addresses, flags, masters, epochs and slot entries; only the order of the
        // lines, the ping/pong times (now "now") and the link column (no links yet) may differ.
        let key = |c: &NodesConf| {
            let mut lines: Vec<_> = c
                .nodes
                .iter()
                .map(|n| {
                    (
                        n.name,
                        n.ip.clone(),
                        n.port,
                        n.cport,
                        n.hostname.clone(),
                        n.flags,
                        n.master,
                        n.config_epoch,
                        n.slots.clone(),
                    )
                })
                .collect();
            lines.sort_by_key(|l| l.0);
            lines
        };
        assert_eq!(key(&saved), key(&conf), "{name}");
        assert_eq!((saved.current_epoch, saved.last_vote_epoch), (conf.current_epoch, conf.last_vote_epoch));
    }
}
