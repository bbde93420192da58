//! The vocabulary shared by the bus codec, nodes.conf and (later) the state machine: node names,
//! node flags and slot bitmaps, each with Redis 7.0's exact representation.

use std::fmt;

/// Number of hash slots (`CLUSTER_SLOTS`).
pub const CLUSTER_SLOTS: usize = 16384;

/// Length of a node name: 40 characters, the hex form of a 160-bit id (`CLUSTER_NAMELEN`).
pub const NODE_NAME_LEN: usize = 40;

/// A node's 40-byte name exactly as it travels on the bus.
///
/// Kept as raw bytes rather than a validated string: the bus carries whatever a peer put there,
/// and Redis only checks names when it looks them up (`verifyClusterNodeId`). Decoding therefore
/// never rejects a packet for its name; `is_valid` tells the state machine whether to trust it.
#[derive(Clone, Copy, Eq)]
pub struct NodeName(pub [u8; NODE_NAME_LEN]);

impl NodeName {
    /// The name as five big-endian machine words (so word order is byte order). Equality and
    /// ordering compare these instead of calling memcmp for 40 bytes: the node table is keyed
    /// by name and the slot table is a 16384-entry array of owner names, and their scans
    /// (routing snapshots, nodes.conf, UPDATE handling) spent most of their time in memcmp.
    #[inline]
    fn words(&self) -> [u64; 5] {
        let mut w = [0u64; 5];
        for (word, chunk) in w.iter_mut().zip(self.0.chunks_exact(8)) {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            *word = u64::from_be_bytes(b);
        }
        w
    }
}

impl PartialEq for NodeName {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        // Folded by hand: `==` on the two word arrays compiles back into a memcmp call.
        if self.first_word() != other.first_word() {
            return false;
        }
        let (a, b) = (self.words(), other.words());
        ((a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) | (a[3] ^ b[3]) | (a[4] ^ b[4])) == 0
    }
}

impl Ord for NodeName {
    #[inline]
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Names are random: the first eight bytes almost always decide, so compare them as one
        // word and convert the rest only on a tie (converting all five words per comparison was
        // most of the node-table lookups' cost in the failover simulator).
        match self.first_word().cmp(&other.first_word()) {
            std::cmp::Ordering::Equal => self.words().cmp(&other.words()),
            decided => decided,
        }
    }
}

impl NodeName {
    #[inline]
    fn first_word(&self) -> u64 {
        let b = &self.0;
        u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
    }
}

impl PartialOrd for NodeName {
    #[inline]
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl std::hash::Hash for NodeName {
    // Byte-wise, as the derived Hash was: equal names (equal bytes) hash alike.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl NodeName {
    /// All zero bytes: Redis's "no node" (`CLUSTER_NODE_NULL_NAME`), e.g. `slaveof` of a master.
    pub const NULL: NodeName = NodeName([0; NODE_NAME_LEN]);

    /// Parses a name as `nodes.conf` and commands spell it; `None` unless Redis's
    /// `verifyClusterNodeId` would accept it (exactly 40 characters of `a-z` / `0-9`).
    pub fn parse(text: &str) -> Option<NodeName> {
        let bytes = text.as_bytes();
        let name: [u8; NODE_NAME_LEN] = bytes.try_into().ok()?;
        let name = NodeName(name);
        name.is_valid().then_some(name)
    }

    /// `verifyClusterNodeId`: 40 characters, each `a-z` or `0-9`.
    pub fn is_valid(&self) -> bool {
        self.0.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    }

    pub fn is_null(&self) -> bool {
        self.0 == [0; NODE_NAME_LEN]
    }

    pub fn as_bytes(&self) -> &[u8; NODE_NAME_LEN] {
        &self.0
    }
}

impl fmt::Debug for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeName({:?})", String::from_utf8_lossy(&self.0))
    }
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

/// A node's flags, the `CLUSTER_NODE_*` bits as Redis sends them on the bus (16 bits).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NodeFlags(pub u16);

impl NodeFlags {
    pub const MASTER: NodeFlags = NodeFlags(1);
    pub const SLAVE: NodeFlags = NodeFlags(2);
    /// "Possibly failing": our own view, not yet agreed (`fail?`).
    pub const PFAIL: NodeFlags = NodeFlags(4);
    pub const FAIL: NodeFlags = NodeFlags(8);
    pub const MYSELF: NodeFlags = NodeFlags(16);
    pub const HANDSHAKE: NodeFlags = NodeFlags(32);
    pub const NOADDR: NodeFlags = NodeFlags(64);
    /// Send a MEET rather than a PING on the next connect (never printed).
    pub const MEET: NodeFlags = NodeFlags(128);
    /// Master eligible as a replica-migration target (never printed).
    pub const MIGRATE_TO: NodeFlags = NodeFlags(256);
    pub const NOFAILOVER: NodeFlags = NodeFlags(512);
    /// Redis 7.2+: the node sends ping extensions (never printed; 7.0 does not know it).
    pub const EXTENSIONS_SUPPORTED: NodeFlags = NodeFlags(1024);

    pub const fn empty() -> NodeFlags {
        NodeFlags(0)
    }

    pub const fn contains(self, other: NodeFlags) -> bool {
        self.0 & other.0 == other.0
    }

    pub const fn union(self, other: NodeFlags) -> NodeFlags {
        NodeFlags(self.0 | other.0)
    }

    pub fn insert(&mut self, other: NodeFlags) {
        self.0 |= other.0;
    }

    pub fn remove(&mut self, other: NodeFlags) {
        self.0 &= !other.0;
    }
}

/// The flag words of `CLUSTER NODES` / `nodes.conf`, in Redis's printing order
/// (`redisNodeFlagsTable`). Flags absent from this table are never printed.
pub const PRINTED_FLAGS: [(NodeFlags, &str); 8] = [
    (NodeFlags::MYSELF, "myself"),
    (NodeFlags::MASTER, "master"),
    (NodeFlags::SLAVE, "slave"),
    (NodeFlags::PFAIL, "fail?"),
    (NodeFlags::FAIL, "fail"),
    (NodeFlags::HANDSHAKE, "handshake"),
    (NodeFlags::NOADDR, "noaddr"),
    (NodeFlags::NOFAILOVER, "nofailover"),
];

impl fmt::Debug for NodeFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeFlags({:#x})", self.0)
    }
}

/// Bytes in a slot bitmap: one bit per slot.
pub const SLOT_BITMAP_LEN: usize = CLUSTER_SLOTS / 8;

/// The set of slots a node claims, in the bus's layout: slot `s` is bit `s % 8` (least
/// significant first) of byte `s / 8`.
///
/// Kept in wire layout rather than, say, a `BTreeSet<u16>`, because the header carries exactly
/// this and the state machine compares whole bitmaps on every PING; the accessors hide the layout.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SlotBitmap(pub [u8; SLOT_BITMAP_LEN]);

impl Default for SlotBitmap {
    fn default() -> Self {
        SlotBitmap([0; SLOT_BITMAP_LEN])
    }
}

impl SlotBitmap {
    /// Whether `slot` is set; slots past 16383 are never set.
    pub fn get(&self, slot: u16) -> bool {
        let slot = usize::from(slot);
        slot < CLUSTER_SLOTS && self.0[slot / 8] & (1 << (slot % 8)) != 0
    }

    /// Sets or clears `slot`; slots past 16383 are ignored (there is no such bit).
    pub fn set(&mut self, slot: u16, on: bool) {
        let slot = usize::from(slot);
        if slot >= CLUSTER_SLOTS {
            return;
        }
        let bit = 1u8 << (slot % 8);
        if on {
            self.0[slot / 8] |= bit;
        } else {
            self.0[slot / 8] &= !bit;
        }
    }

    pub fn count(&self) -> usize {
        self.0.iter().map(|b| b.count_ones() as usize).sum()
    }

    /// The set slots as ascending `(first, last)` runs, found a 64-slot word at a time (empty
    /// and full words are skipped whole): the cheap way to the ranges of nodes.conf and CLUSTER
    /// NODES, which are rewritten at every slot change of a reshard. (Rejected: walking the
    /// 16384-entry owner table, which cost a name comparison per slot and was the reshard's
    /// largest cost.)
    pub fn runs(&self) -> Vec<(u16, u16)> {
        let mut runs = Vec::new();
        let mut start: Option<usize> = None;
        for (i, chunk) in self.0.chunks_exact(8).enumerate() {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(chunk);
            // Little-endian: bit b of the word is slot base + b (byte j holds slots 8j..8j+7).
            let word = u64::from_le_bytes(bytes);
            let base = i * 64;
            match (word, start) {
                (0, None) | (u64::MAX, Some(_)) => continue,
                _ => {}
            }
            for bit in 0..64 {
                let on = (word >> bit) & 1 == 1;
                match (on, start) {
                    (true, None) => start = Some(base + bit),
                    (false, Some(first)) => {
                        runs.push((first as u16, (base + bit - 1) as u16));
                        start = None;
                    }
                    _ => {}
                }
            }
        }
        if let Some(first) = start {
            runs.push((first as u16, (CLUSTER_SLOTS - 1) as u16));
        }
        runs
    }

    /// The set slots in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        (0..CLUSTER_SLOTS as u16).filter(move |&s| self.get(s))
    }
}

impl fmt::Debug for SlotBitmap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Ranges, as CLUSTER NODES prints them: 2048 raw bytes would drown any test failure.
        let mut list = f.debug_list();
        let mut slots = self.iter().peekable();
        while let Some(start) = slots.next() {
            let mut end = start;
            while slots.peek() == Some(&(end + 1)) {
                end += 1;
                slots.next();
            }
            list.entry(&format_args!("{start}-{end}"));
        }
        list.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `runs` against the slot-by-slot definition, on bitmaps of long runs, single slots, word
    /// boundaries and both ends.
    #[test]
    fn slot_bitmap_runs_match_a_slot_by_slot_walk() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            x >> 33
        };
        for case in 0..300 {
            let mut bits = SlotBitmap::default();
            let mut slot = 0usize;
            let mut on = case % 2 == 0;
            while slot < CLUSTER_SLOTS {
                let len = match next() % 4 {
                    0 => 1 + (next() % 3) as usize,
                    1 => 64,
                    _ => 1 + (next() % 3000) as usize,
                };
                for s in slot..(slot + len).min(CLUSTER_SLOTS) {
                    bits.set(s as u16, on);
                }
                slot += len;
                on = !on;
            }
            let mut expected: Vec<(u16, u16)> = Vec::new();
            for s in bits.iter() {
                match expected.last_mut() {
                    Some((_, last)) if *last + 1 == s => *last = s,
                    _ => expected.push((s, s)),
                }
            }
            assert_eq!(bits.runs(), expected, "case {case}");
        }
        assert_eq!(SlotBitmap::default().runs(), vec![]);
        let mut full = SlotBitmap::default();
        for s in 0..CLUSTER_SLOTS as u16 {
            full.set(s, true);
        }
        assert_eq!(full.runs(), vec![(0, 16383)]);
    }

    #[test]
    fn node_name_order_and_equality_are_byte_order() {
        // Pseudo-random names, including ones that differ only in a late byte.
        let mut names = Vec::new();
        let mut x = 0x1234_5678_9abc_def0u64;
        for _ in 0..200 {
            let mut n = [0u8; NODE_NAME_LEN];
            for b in n.iter_mut() {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                *b = b"0123456789abcdef"[(x >> 60) as usize];
            }
            names.push(n);
            let mut late = n;
            late[NODE_NAME_LEN - 1] ^= 1;
            names.push(late);
        }
        for a in &names {
            for b in &names {
                assert_eq!(NodeName(*a).cmp(&NodeName(*b)), a.cmp(b));
                assert_eq!(NodeName(*a) == NodeName(*b), a == b);
            }
        }
    }

    #[test]
    fn slot_bits_are_lsb_first() {
        let mut bitmap = SlotBitmap::default();
        bitmap.set(0, true);
        bitmap.set(9, true);
        bitmap.set(16383, true);
        assert_eq!(bitmap.0[0], 0b0000_0001);
        assert_eq!(bitmap.0[1], 0b0000_0010);
        assert_eq!(bitmap.0[2047], 0b1000_0000);
        assert_eq!(bitmap.iter().collect::<Vec<_>>(), vec![0, 9, 16383]);
        assert_eq!(bitmap.count(), 3);
        bitmap.set(9, false);
        bitmap.set(16384, true);
        assert!(!bitmap.get(9) && !bitmap.get(16384));
        assert_eq!(format!("{bitmap:?}"), "[0-0, 16383-16383]");
    }

    #[test]
    fn node_names_follow_verify_cluster_node_id() {
        assert!(NodeName::parse("95ab6ceec892e7a93825b09c25aae48684be1e96").is_some());
        assert!(NodeName::parse("95AB6ceec892e7a93825b09c25aae48684be1e96").is_none());
        assert!(NodeName::parse("95ab6ceec892e7a93825b09c25aae48684be1e9").is_none());
        assert!(NodeName::parse("95ab6ceec892e7a93825b09c25aae48684be1e9-").is_none());
        assert!(NodeName::NULL.is_null() && !NodeName::NULL.is_valid());
    }
}
