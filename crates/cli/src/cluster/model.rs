//! The cluster manager's picture of one node, and the pure text handling around it: reading a
//! `CLUSTER NODES` reply as redis-cli 7.0.15 reads it, the configuration signature two nodes must
//! share to "agree", and the node and slot strings redis-cli prints (`M: id ip:port`, `[0-5460]`).
//!
//! It owns no connection and does no I/O: the manager (`cluster::Manager`) fills these structs from
//! replies. It must never panic on a reply's bytes: a line it cannot read is skipped or reported as
//! [`ModelError`], exactly where redis-cli would skip or fail.

use thiserror::Error;

/// Number of hash slots in a Redis Cluster.
pub const SLOTS: usize = 16384;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ModelError {
    /// An address without `:` (redis-cli prints `Error: invalid CLUSTER NODES reply`).
    #[error("invalid CLUSTER NODES reply")]
    InvalidAddress,
    /// A line with fewer than three fields (redis-cli fails without a message).
    #[error("truncated CLUSTER NODES line")]
    Truncated,
}

/// What the manager knows about one node (redis-cli's `clusterManagerNode`, without the socket).
#[derive(Debug, Clone)]
pub struct Node {
    /// The 40-hex node id; empty until `CLUSTER NODES` was read.
    pub name: String,
    pub ip: String,
    pub port: u16,
    pub bus_port: u16,
    pub current_epoch: u64,
    pub ping_sent: i64,
    pub ping_recv: i64,
    pub myself: bool,
    pub slave: bool,
    pub noaddr: bool,
    pub disconnected: bool,
    pub fail: bool,
    /// The flag words as the node printed them (shown without `myself`).
    pub flags_str: Vec<String>,
    /// The master's id when the node is (or is planned to be) a replica.
    pub replicate: Option<String>,
    /// Planned configuration not yet sent (create).
    pub dirty: bool,
    pub slots: Vec<bool>,
    /// Kept apart from `slots` as redis-cli keeps it: a move with "update" changes `slots` only.
    pub slots_count: usize,
    pub replicas_count: usize,
    /// (slot text, destination id) for `[slot->-id]`.
    pub migrating: Vec<(String, String)>,
    /// (slot text, source id) for `[slot-<-id]`.
    pub importing: Vec<(String, String)>,
    pub weight: f32,
    pub balance: i64,
}

impl Node {
    /// A node known only by address; the bus port defaults to port + 10000 until read.
    pub fn new(ip: &str, port: u16, bus_port: u16) -> Self {
        Node {
            name: String::new(),
            ip: ip.to_string(),
            port,
            bus_port: if bus_port != 0 { bus_port } else { port.wrapping_add(10000) },
            current_epoch: 0,
            ping_sent: 0,
            ping_recv: 0,
            myself: false,
            slave: false,
            noaddr: false,
            disconnected: false,
            fail: false,
            flags_str: Vec::new(),
            replicate: None,
            dirty: false,
            slots: vec![false; SLOTS],
            slots_count: 0,
            replicas_count: 0,
            migrating: Vec::new(),
            importing: Vec::new(),
            weight: 1.0,
            balance: 0,
        }
    }

    pub fn reset_slots(&mut self) {
        self.slots.iter_mut().for_each(|s| *s = false);
        self.slots_count = 0;
    }

    /// `ip:port`, as every message names a node.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }

    pub fn is_master(&self) -> bool {
        !self.slave
    }

    /// The flag words joined by `,`, without `myself` (`clusterManagerNodeFlagString`).
    pub fn flag_string(&self) -> String {
        self.flags_str.iter().filter(|f| f.as_str() != "myself").cloned().collect::<Vec<_>>().join(",")
    }

    /// Applies one `CLUSTER NODES` entry's fields (not its slots) to this node.
    fn apply_entry(&mut self, e: &Entry) {
        self.name = e.name.clone();
        self.flags_str = e.flags.clone();
        for f in &e.flags {
            match f.as_str() {
                "noaddr" => self.noaddr = true,
                "disconnected" => self.disconnected = true,
                "fail" => self.fail = true,
                "slave" => {
                    self.slave = true;
                    self.replicate = Some(e.master_id.clone());
                }
                _ => {}
            }
        }
        self.current_epoch = e.config_epoch;
        self.ping_sent = e.ping_sent;
        self.ping_recv = e.ping_recv;
    }
}

/// One line of a `CLUSTER NODES` reply, split as redis-cli splits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub ip: String,
    pub port: u16,
    pub bus_port: u16,
    pub flags: Vec<String>,
    pub master_id: String,
    pub ping_sent: i64,
    pub ping_recv: i64,
    pub config_epoch: u64,
    /// Everything after the eighth field (slots), as text.
    pub slot_tokens: Vec<String>,
    pub myself: bool,
}

/// C's `atoi`/`atoll` on a token (digits after an optional sign; anything else ends the number).
pub fn c_atoi(s: &str) -> i64 {
    crate::options::atoi(s)
}

/// `ip:port[@bus_port[,hostname]]` split at the last `@` and the last `:` (`parseClusterNodeAddress`).
/// `None` when there is no `:`.
pub fn parse_node_address(addr: &str) -> Option<(String, u16, u16)> {
    let (rest, bus) = match addr.rfind('@') {
        Some(at) => (&addr[..at], c_atoi(&addr[at + 1..]) as u16),
        None => (addr, 0),
    };
    let colon = rest.rfind(':')?;
    Some((rest[..colon].to_string(), c_atoi(&rest[colon + 1..]) as u16, bus))
}

/// The complete lines of a reply (redis-cli ignores text after the last `\n`).
fn complete_lines(text: &str) -> impl Iterator<Item = &str> {
    let end = text.rfind('\n').map_or(0, |i| i + 1);
    text[..end].split_terminator('\n')
}

/// Reads every line of a `CLUSTER NODES` reply into entries.
pub fn parse_cluster_nodes(text: &str) -> Result<Vec<Entry>, ModelError> {
    let mut out = Vec::new();
    for line in complete_lines(text) {
        let mut fields: Vec<&str> = Vec::new();
        let mut rest = line;
        // Eight space-terminated fields; whatever follows the eighth space is the slot list.
        while fields.len() < 8 {
            match rest.find(' ') {
                Some(sp) => {
                    fields.push(&rest[..sp]);
                    rest = &rest[sp + 1..];
                }
                None => break,
            }
        }
        if fields.len() < 3 {
            return Err(ModelError::Truncated);
        }
        let (ip, port, bus_port) = parse_node_address(fields[1]).ok_or(ModelError::InvalidAddress)?;
        let flags: Vec<String> = fields[2].split(',').filter(|f| !f.is_empty()).map(String::from).collect();
        let field = |i: usize| fields.get(i).copied().unwrap_or("");
        let slot_tokens = if fields.len() == 8 {
            rest.split(' ').filter(|t| !t.is_empty()).map(String::from).collect()
        } else {
            Vec::new()
        };
        out.push(Entry {
            name: fields[0].to_string(),
            ip,
            port,
            bus_port,
            myself: fields[2].contains("myself"),
            flags,
            master_id: field(3).to_string(),
            ping_sent: c_atoi(field(4)),
            ping_recv: c_atoi(field(5)),
            config_epoch: c_atoi(field(6)).max(0) as u64,
            slot_tokens,
        });
    }
    Ok(out)
}

/// Fills `node` from the `myself` entry (fields, slots, open slots) as `clusterManagerNodeLoadInfo`;
/// returns the other entries (the node's "friends") as new nodes.
pub fn load_node_info(node: &mut Node, entries: &[Entry]) -> Vec<Node> {
    let mut friends = Vec::new();
    for e in entries {
        if e.myself {
            node.bus_port = e.bus_port;
            node.myself = true;
            node.reset_slots();
            for tok in &e.slot_tokens {
                apply_slot_token(node, tok);
            }
            node.dirty = false;
            node.apply_entry(e);
        } else {
            let mut f = Node::new(&e.ip, e.port, e.bus_port);
            f.apply_entry(e);
            friends.push(f);
        }
    }
    friends
}

fn apply_slot_token(node: &mut Node, tok: &str) {
    if let Some(def) = tok.strip_prefix('[') {
        let def = def.split(']').next().unwrap_or("");
        if let Some((slot, dst)) = def.split_once("->-") {
            node.migrating.push((slot.to_string(), dst.to_string()));
        } else if let Some((slot, src)) = def.split_once("-<-") {
            node.importing.push((slot.to_string(), src.to_string()));
        }
    } else if let Some((a, b)) = tok.split_once('-') {
        let (start, stop) = (c_atoi(a), c_atoi(b));
        // A range outside 0..16384 cannot come from Redis; it is ignored rather than trusted.
        if start >= 0 && stop >= start && stop < SLOTS as i64 {
            node.slots_count += (stop - start + 1) as usize;
            for s in start..=stop {
                node.slots[s as usize] = true;
            }
        }
    } else {
        let s = c_atoi(tok);
        if (0..SLOTS as i64).contains(&s) {
            node.slots[s as usize] = true;
            node.slots_count += 1;
        }
    }
}

/// The configuration signature of one `CLUSTER NODES` reply (`clusterManagerGetConfigSignature`):
/// for every node with slots, `id:` and its sorted slot tokens (open-slot tokens left out), the
/// entries sorted and joined by `|`. `None` when no node has slots.
pub fn config_signature(text: &str) -> Option<String> {
    let mut configs: Vec<String> = Vec::new();
    for line in complete_lines(text) {
        let mut rest = line;
        let mut name = "";
        let mut count = 0;
        while count < 8 {
            match rest.find(' ') {
                Some(sp) => {
                    if count == 0 {
                        name = &rest[..sp];
                    }
                    rest = &rest[sp + 1..];
                    count += 1;
                }
                None => break,
            }
        }
        if count != 8 || rest.is_empty() {
            continue;
        }
        let mut slots: Vec<&str> = rest.split(' ').filter(|t| !t.is_empty() && !t.starts_with('[')).collect();
        if slots.is_empty() {
            continue;
        }
        slots.sort_unstable();
        configs.push(format!("{}:{}", name, slots.join(",")));
    }
    if configs.is_empty() {
        return None;
    }
    configs.sort_unstable();
    Some(configs.join("|"))
}

/// Nodes a reply shows as not linked: (address, handshaking) for each line whose flags hold
/// `disconnected`/`handshake` or whose link state is `disconnected` (`clusterManagerGetDisconnectedLinks`).
pub fn disconnected_links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in complete_lines(text) {
        let fields: Vec<&str> = line.split(' ').collect();
        if fields.len() < 8 || fields[2].contains("myself") {
            continue;
        }
        let down = fields[2].contains("disconnected") || fields[7].contains("disconnected");
        if down || fields[2].contains("handshake") {
            out.push(fields[1].to_string());
        }
    }
    out
}

/// Slot ranges as redis-cli prints them: `[0-5460],[10923]` (`clusterManagerNodeSlotsString`).
pub fn slots_string(slots: &[bool]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < slots.len() {
        if !slots[i] {
            i += 1;
            continue;
        }
        let start = i;
        while i + 1 < slots.len() && slots[i + 1] {
            i += 1;
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == i {
            out.push_str(&format!("[{start}]"));
        } else {
            out.push_str(&format!("[{start}-{i}]"));
        }
        i += 1;
    }
    out
}

/// The text redis-cli prints for a node (`clusterManagerNodeInfo`), `indent` spaces before each line.
pub fn node_info(node: &Node, indent: usize) -> String {
    let spaces = " ".repeat(indent);
    let mut info = spaces.clone();
    if node.dirty && node.replicate.is_some() {
        info.push_str(&format!("S: {} {}:{}", node.name, node.ip, node.port));
    } else {
        let role = if node.slave { "S" } else { "M" };
        info.push_str(&format!(
            "{}: {} {}:{}\n{}   slots:{} ({} slots) {}",
            role,
            node.name,
            node.ip,
            node.port,
            spaces,
            slots_string(&node.slots),
            node.slots_count,
            node.flag_string()
        ));
    }
    if let Some(m) = &node.replicate {
        info.push_str(&format!("\n{spaces}   replicates {m}"));
    } else if node.replicas_count > 0 {
        info.push_str(&format!("\n{}   {} additional replica(s)", spaces, node.replicas_count));
    }
    info
}

/// `getLongInfoField`: the integer value of `field:` in an INFO text (value ends at `\r` or `,`).
pub fn info_field(info: &str, field: &str) -> Option<i64> {
    let pat = format!("{field}:");
    let at = info.find(&pat)?;
    let value = &info[at + pat.len()..];
    let end = value.find(['\r', ',']).unwrap_or(value.len());
    Some(c_atoi(&value[..end]))
}

/// The hash slot of a key (CRC16/XMODEM of the key or of its `{tag}`, modulo 16384): the
/// keyspace crate's, the one the server uses.
pub use keyspace::key_hash_slot;

#[cfg(test)]
mod tests {
    use super::*;

    const NODES: &str = "\
07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@31004 slave e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238317239 4 connected
67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 127.0.0.1:30002@31002,host.example master - 0 1426238316232 2 connected 5461-10922
292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f 127.0.0.1:30003@31003 master - 0 1426238318243 3 connected 10923-16383
e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@31001 myself,master - 0 0 1 connected 0-5459 5460 [5461-<-67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1] [100->-292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f]
";

    #[test]
    fn parses_myself_and_friends() {
        let entries = parse_cluster_nodes(NODES).unwrap();
        assert_eq!(entries.len(), 4);
        assert_eq!(entries[1].bus_port, 31002);
        let mut n = Node::new("127.0.0.1", 30001, 0);
        let friends = load_node_info(&mut n, &entries);
        assert_eq!(friends.len(), 3);
        assert_eq!(n.name, "e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca");
        assert_eq!(n.slots_count, 5461);
        assert!(n.slots[5460] && !n.slots[5461]);
        assert_eq!(n.importing, vec![("5461".into(), "67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1".into())]);
        assert_eq!(n.migrating[0].0, "100");
        assert_eq!(n.current_epoch, 1);
        assert_eq!(n.flag_string(), "master");
        assert!(friends[0].slave);
        assert_eq!(friends[0].replicate.as_deref(), Some("e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca"));
        // Friends' slots are not read from someone else's view.
        assert_eq!(friends[1].slots_count, 0);
    }

    #[test]
    fn bad_address_and_garbage_do_not_panic() {
        assert_eq!(parse_cluster_nodes("abc noport master -\n"), Err(ModelError::InvalidAddress));
        assert_eq!(parse_cluster_nodes("abc\n"), Err(ModelError::Truncated));
        assert!(parse_cluster_nodes("partial line without newline").unwrap().is_empty());
        let mut n = Node::new("h", 1, 0);
        let e =
            parse_cluster_nodes("x h:1@2 myself - 0 0 0 connected 9-3 99999 0-99999999999999999999 [ [zz]\n").unwrap();
        load_node_info(&mut n, &e);
        assert_eq!(n.slots_count, 0);
    }

    #[test]
    fn random_replies_never_panic() {
        // Replies made of the characters CLUSTER NODES uses, in random order: parsing, loading,
        // signatures and link lists must return, whatever the shape.
        let alphabet = b" :@-[]<>,0123456789abcmyself\nslave";
        let mut state: u64 = 42;
        for _ in 0..3000 {
            let len = (state % 200) as usize;
            let mut text = String::new();
            for _ in 0..len {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                text.push(alphabet[(state >> 33) as usize % alphabet.len()] as char);
            }
            text.push('\n');
            if let Ok(entries) = parse_cluster_nodes(&text) {
                let mut n = Node::new("h", 1, 0);
                let _ = load_node_info(&mut n, &entries);
                let _ = node_info(&n, 2);
            }
            let _ = config_signature(&text);
            let _ = disconnected_links(&text);
            let _ = info_field(&text, "a");
        }
    }

    #[test]
    fn signature_ignores_open_slots_and_order() {
        let a = config_signature(NODES).unwrap();
        let reordered: String = NODES.lines().rev().map(|l| format!("{l}\n")).collect();
        assert_eq!(config_signature(&reordered).unwrap(), a);
        assert!(a.starts_with("292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f:10923-16383|"));
        assert!(a.ends_with("e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca:0-5459,5460"));
        assert_eq!(config_signature("a 1:2@3 myself,master - 0 0 0 connected\n"), None);
    }

    #[test]
    fn slot_strings_and_info() {
        let mut s = vec![false; SLOTS];
        s[0] = true;
        s[1] = true;
        s[5] = true;
        s[16383] = true;
        assert_eq!(slots_string(&s), "[0-1],[5],[16383]");
        let mut n = Node::new("127.0.0.1", 7000, 0);
        n.name = "abc".into();
        n.slots = s;
        n.slots_count = 4;
        n.flags_str = vec!["myself".into(), "master".into()];
        n.replicas_count = 1;
        assert_eq!(
            node_info(&n, 4),
            "    M: abc 127.0.0.1:7000\n       slots:[0-1],[5],[16383] (4 slots) master\n       1 additional replica(s)"
        );
    }

    #[test]
    fn hash_slots_match_redis() {
        // Values from CLUSTER KEYSLOT on Redis 7.0.
        assert_eq!(key_hash_slot(b"foo"), 12182);
        assert_eq!(key_hash_slot(b"{user1000}.following"), key_hash_slot(b"user1000"));
        assert_eq!(key_hash_slot(b"foo{}{bar}"), key_hash_slot(b"foo{}{bar}"));
        assert_eq!(key_hash_slot(b"123456789"), 0x31C3 & 0x3FFF);
        assert_eq!(info_field("a:1\r\ncluster_enabled:1\r\n", "cluster_enabled"), Some(1));
        assert_eq!(info_field("x", "cluster_enabled"), None);
    }
}
