//! Redis 7.0's cluster config file (`cluster-config-file`, usually `nodes.conf`): parse and write.
//!
//! The file is the `CLUSTER NODES` text without handshake nodes, one line per node, then
//! `vars currentEpoch <n> lastVoteEpoch <n>`. We read what Redis 7.0.15's `clusterLoadConfig`
//! reads and write what its `clusterSaveConfig` writes, so each side can start from the other's
//! file. A file written by Redis parses and writes back byte for byte (node lines keep their
//! order; slot entries keep theirs).
//!
//! Text in, text out: opening, locking, fsync and rename belong to the server.

use std::fmt::Write as _;

use thiserror::Error;

use crate::types::{NodeFlags, NodeName, CLUSTER_SLOTS, PRINTED_FLAGS};

/// Redis derives a missing bus port from the client port (`CLUSTER_PORT_INCR`).
pub const CLUSTER_PORT_INCR: u16 = 10000;

/// The whole file.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct NodesConf {
    /// Node lines in file order (Redis writes its hash table's order; we keep whatever we read).
    pub nodes: Vec<NodeLine>,
    pub current_epoch: u64,
    /// The epoch of the last failover vote this node granted (one vote per epoch).
    pub last_vote_epoch: u64,
}

/// One node's line.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NodeLine {
    pub name: NodeName,
    /// May be empty: a fresh node has not learned its own address yet (`:0@0`).
    pub ip: String,
    pub port: u16,
    /// Bus port; a line without `@cport` (files older than Redis 4) means `port + 10000`.
    pub cport: u16,
    /// `cluster-announce-hostname`, written as `,hostname` after the address when set.
    pub hostname: Option<String>,
    /// Only the printable flags survive a round trip (see `types::PRINTED_FLAGS`).
    pub flags: NodeFlags,
    pub master: Option<NodeName>,
    /// When the node was last pinged / answered, in ms since the epoch (0 = never). Redis only
    /// checks these for nonzero on load; they are kept so the file writes back unchanged.
    pub ping_sent_ms: u64,
    pub pong_received_ms: u64,
    /// For a replica Redis writes its master's epoch and ignores the field when loading.
    pub config_epoch: u64,
    pub link_connected: bool,
    /// Slot entries in file order.
    pub slots: Vec<SlotEntry>,
}

/// One slot token after the eighth field.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SlotEntry {
    /// `first-last`, or `first` alone when equal. Redis accepts `first > last` (it adds no slot);
    /// so do we, to read whatever it reads.
    Range { first: u16, last: u16 },
    /// `[slot->-node]`: we are migrating `slot` to `node` (only on the `myself` line).
    Migrating { slot: u16, node: NodeName },
    /// `[slot-<-node]`: we are importing `slot` from `node` (only on the `myself` line).
    Importing { slot: u16, node: NodeName },
}

/// Why a file is not a cluster config Redis would load. Redis exits with "Unrecoverable error:
/// corrupted cluster config file" (or panics, for an unknown flag) in each of these cases.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum NodesConfError {
    /// A zero-length file. Not corrupt: Redis takes a missing or empty file to mean "start as a
    /// new node and write the file", which is the caller's decision, so it gets its own variant.
    #[error("the cluster config file is empty")]
    Empty,
    #[error("line {line}: {reason}")]
    Line { line: usize, reason: String },
    #[error("no node line has the `myself` flag")]
    NoMyself,
    #[error("line {line}: a second `myself` node")]
    SecondMyself { line: usize },
}

impl NodesConf {
    /// Parses a whole file. A parsed config always has exactly one `myself` node, as Redis
    /// requires. Only a zero-length text is `Empty`; blank lines alone are `NoMyself` (Redis
    /// calls that file corrupted).
    pub fn parse(text: &str) -> Result<NodesConf, NodesConfError> {
        if text.is_empty() {
            return Err(NodesConfError::Empty);
        }
        let mut conf = NodesConf::default();
        let mut myself_seen = false;
        for (index, line) in text.lines().enumerate() {
            let line_no = index + 1;
            let err = |reason: String| NodesConfError::Line { line: line_no, reason };
            // Redis splits with `sdssplitargs` (which also honours quotes); Redis never writes
            // quotes into this file, so splitting on whitespace reads every file Redis writes.
            let fields: Vec<&str> = line.split_ascii_whitespace().collect();
            let Some(&first) = fields.first() else { continue };
            if first.eq_ignore_ascii_case("vars") {
                parse_vars(&fields[1..], &mut conf).map_err(err)?;
                continue;
            }
            let node = parse_node_line(&fields).map_err(err)?;
            if node.flags.contains(NodeFlags::MYSELF) {
                if myself_seen {
                    return Err(NodesConfError::SecondMyself { line: line_no });
                }
                myself_seen = true;
            }
            conf.nodes.push(node);
        }
        if !myself_seen {
            return Err(NodesConfError::NoMyself);
        }
        Ok(conf)
    }

    /// The file as `clusterSaveConfig` writes it.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for node in &self.nodes {
            node.write_line(&mut out);
            out.push('\n');
        }
        let _ = writeln!(out, "vars currentEpoch {} lastVoteEpoch {}", self.current_epoch, self.last_vote_epoch);
        out
    }

    /// The node line flagged `myself`, if any.
    pub fn myself(&self) -> Option<&NodeLine> {
        self.nodes.iter().find(|n| n.flags.contains(NodeFlags::MYSELF))
    }
}

/// `vars` takes key/value pairs; unknown keys are skipped (Redis logs and skips them).
fn parse_vars(pairs: &[&str], conf: &mut NodesConf) -> Result<(), String> {
    if !pairs.len().is_multiple_of(2) {
        return Err("`vars` needs key/value pairs".into());
    }
    for pair in pairs.chunks_exact(2) {
        let value = || parse_u64(pair[1], pair[0]);
        if pair[0].eq_ignore_ascii_case("currentEpoch") {
            conf.current_epoch = value()?;
        } else if pair[0].eq_ignore_ascii_case("lastVoteEpoch") {
            conf.last_vote_epoch = value()?;
        }
    }
    Ok(())
}

// Numbers are parsed strictly where Redis uses atoi/strtoull (which read "12abc" as 12): Redis
// never writes such text, and a file that has it was damaged by something we should not guess at.
fn parse_u64(text: &str, what: &str) -> Result<u64, String> {
    text.parse().map_err(|_| format!("bad {what} {text:?}"))
}

fn parse_u16(text: &str, what: &str) -> Result<u16, String> {
    text.parse().map_err(|_| format!("bad {what} {text:?}"))
}

fn parse_slot(text: &str) -> Result<u16, String> {
    match text.parse::<u16>() {
        Ok(slot) if usize::from(slot) < CLUSTER_SLOTS => Ok(slot),
        _ => Err(format!("bad slot {text:?}")),
    }
}

fn parse_name(text: &str) -> Result<NodeName, String> {
    NodeName::parse(text).ok_or_else(|| format!("bad node name {text:?}"))
}

fn parse_node_line(fields: &[&str]) -> Result<NodeLine, String> {
    if fields.len() < 8 {
        return Err(format!("{} fields, a node line has at least 8", fields.len()));
    }
    let name = parse_name(fields[0])?;
    // ip:port[@cport][,hostname]; the ip may itself contain ':' (IPv6), so the port is after the
    // last ':', as Redis's strrchr does.
    let (addr, hostname) = match fields[1].split_once(',') {
        Some((addr, host)) => (addr, (!host.is_empty()).then(|| host.to_string())),
        None => (fields[1], None),
    };
    let (ip, ports) = addr.rsplit_once(':').ok_or_else(|| format!("address {addr:?} has no ':'"))?;
    let (port, cport) = match ports.split_once('@') {
        Some((port, cport)) => (parse_u16(port, "port")?, parse_u16(cport, "bus port")?),
        None => {
            let port = parse_u16(ports, "port")?;
            (port, port.checked_add(CLUSTER_PORT_INCR).ok_or_else(|| format!("port {port} has no bus port"))?)
        }
    };
    let mut flags = NodeFlags::empty();
    for word in fields[2].split(',') {
        if word.eq_ignore_ascii_case("noflags") {
            continue;
        }
        let (flag, _) = PRINTED_FLAGS
            .iter()
            .find(|(_, text)| text.eq_ignore_ascii_case(word))
            .ok_or_else(|| format!("unknown flag {word:?}"))?;
        flags.insert(*flag);
    }
    // Redis takes any field starting with '-' as "no master".
    let master = if fields[3].starts_with('-') { None } else { Some(parse_name(fields[3])?) };
    let link_connected = match fields[7] {
        "connected" => true,
        "disconnected" => false,
        other => return Err(format!("bad link state {other:?}")),
    };
    let slots = fields[8..].iter().map(|token| parse_slot_entry(token)).collect::<Result<_, _>>()?;
    Ok(NodeLine {
        name,
        ip: ip.to_string(),
        port,
        cport,
        hostname,
        flags,
        master,
        ping_sent_ms: parse_u64(fields[4], "ping_sent")?,
        pong_received_ms: parse_u64(fields[5], "pong_recv")?,
        config_epoch: parse_u64(fields[6], "config epoch")?,
        link_connected,
        slots,
    })
}

fn parse_slot_entry(token: &str) -> Result<SlotEntry, String> {
    if let Some(inner) = token.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or_else(|| format!("unterminated {token:?}"))?;
        if let Some((slot, node)) = inner.split_once("->-") {
            return Ok(SlotEntry::Migrating { slot: parse_slot(slot)?, node: parse_name(node)? });
        }
        if let Some((slot, node)) = inner.split_once("-<-") {
            return Ok(SlotEntry::Importing { slot: parse_slot(slot)?, node: parse_name(node)? });
        }
        return Err(format!("bad slot migration entry {token:?}"));
    }
    match token.split_once('-') {
        Some((first, last)) => Ok(SlotEntry::Range { first: parse_slot(first)?, last: parse_slot(last)? }),
        None => {
            let slot = parse_slot(token)?;
            Ok(SlotEntry::Range { first: slot, last: slot })
        }
    }
}

impl NodeLine {
    /// `clusterGenNodeDescription`'s text for this node, without the newline.
    pub fn write_line(&self, out: &mut String) {
        let _ = write!(out, "{} {}:{}@{}", self.name, self.ip, self.port, self.cport);
        if let Some(host) = self.hostname.as_deref().filter(|h| !h.is_empty()) {
            let _ = write!(out, ",{host}");
        }
        out.push(' ');
        let mut any_flag = false;
        for (flag, text) in PRINTED_FLAGS {
            if self.flags.contains(flag) {
                if any_flag {
                    out.push(',');
                }
                out.push_str(text);
                any_flag = true;
            }
        }
        if !any_flag {
            out.push_str("noflags");
        }
        match &self.master {
            Some(master) => {
                let _ = write!(out, " {master}");
            }
            None => out.push_str(" -"),
        }
        let link = if self.link_connected { "connected" } else { "disconnected" };
        let _ = write!(out, " {} {} {} {link}", self.ping_sent_ms, self.pong_received_ms, self.config_epoch);
        for entry in &self.slots {
            let _ = match entry {
                SlotEntry::Range { first, last } if first == last => write!(out, " {first}"),
                SlotEntry::Range { first, last } => write!(out, " {first}-{last}"),
                SlotEntry::Migrating { slot, node } => write!(out, " [{slot}->-{node}]"),
                SlotEntry::Importing { slot, node } => write!(out, " [{slot}-<-{node}]"),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "\
2f43fe1e7be2be4ba02c9b1d88a3424f38e7b094 127.0.0.1:7103@17103 slave 1647affdfea8420e40e5534a7a9714c5da3ea121 0 1795613958000 2 connected
1647affdfea8420e40e5534a7a9714c5da3ea121 127.0.0.1:7101@17101,node-7101.local master - 0 1795613957760 2 connected 5461-10922
95ab6ceec892e7a93825b09c25aae48684be1e96 127.0.0.1:7100@17100 myself,master - 0 1795613956000 1 connected 0-5460 16000 [5->-1647affdfea8420e40e5534a7a9714c5da3ea121] [9-<-1647affdfea8420e40e5534a7a9714c5da3ea121]
01e1b0cde1b0cde1b0cde1b0cde1b0cde1b0cde1 :0@0 master,fail?,fail,noaddr,nofailover - 1795614130070 1795614127055 3 disconnected
vars currentEpoch 6 lastVoteEpoch 0
";

    #[test]
    fn example_round_trips() {
        let conf = NodesConf::parse(EXAMPLE).unwrap();
        assert_eq!(conf.nodes.len(), 4);
        assert_eq!((conf.current_epoch, conf.last_vote_epoch), (6, 0));
        let myself = conf.myself().unwrap();
        assert_eq!(myself.port, 7100);
        assert_eq!(myself.slots.len(), 4);
        assert_eq!(conf.nodes[1].hostname.as_deref(), Some("node-7101.local"));
        assert_eq!(conf.nodes[0].master, NodeName::parse("1647affdfea8420e40e5534a7a9714c5da3ea121"));
        assert!(!conf.nodes[3].link_connected);
        assert_eq!(conf.to_text(), EXAMPLE);
    }

    #[test]
    fn old_and_odd_forms_read_as_redis_reads_them() {
        let text = "\n95ab6ceec892e7a93825b09c25aae48684be1e96 [::1]:7000 MYSELF,noflags - 0 0 0 connected 7-3\n\
                    VARS currentepoch 4 lastVoteEpoch 2 somethingNew x\n";
        let conf = NodesConf::parse(text).unwrap();
        let node = &conf.nodes[0];
        assert_eq!((node.ip.as_str(), node.port, node.cport), ("[::1]", 7000, 17000));
        assert_eq!(node.flags, NodeFlags::MYSELF);
        assert_eq!(node.slots, vec![SlotEntry::Range { first: 7, last: 3 }]);
        assert_eq!((conf.current_epoch, conf.last_vote_epoch), (4, 2));
        assert_eq!(NodesConf::parse(""), Err(NodesConfError::Empty));
        assert_eq!(NodesConf::parse("\n\n"), Err(NodesConfError::NoMyself));
        // A file of only `vars` has no node to be: Redis calls it corrupted, and so do we. (The
        // fuzzer found that an earlier version read "" as a config it then wrote as such a file.)
        assert_eq!(NodesConf::parse("vars currentEpoch 0 lastVoteEpoch 0\n"), Err(NodesConfError::NoMyself));
    }

    #[test]
    fn corrupt_files_are_refused() {
        let line = "95ab6ceec892e7a93825b09c25aae48684be1e96 127.0.0.1:7100@17100 myself,master - 0 0 1 connected";
        assert!(NodesConf::parse(line).is_ok());
        for bad in [
            line.replace("myself,master", "myself,boss"),
            line.replace(" connected", ""),
            line.replace("95ab", "95AB"),
            line.replace("127.0.0.1:7100@17100", "127.0.0.1"),
            line.replace("7100@", "99999@"),
            format!("{line} 16384"),
            format!("{line} [5->-abc]"),
            format!("{line} [5]"),
            format!("{line}\nvars currentEpoch"),
        ] {
            assert!(matches!(NodesConf::parse(&bad), Err(NodesConfError::Line { line: _, reason: _ })), "{bad}");
        }
        assert_eq!(NodesConf::parse(&line.replace("myself,", "")), Err(NodesConfError::NoMyself));
        assert_eq!(NodesConf::parse(&format!("{line}\n{line}")), Err(NodesConfError::SecondMyself { line: 2 }));
    }
}
