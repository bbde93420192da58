//! The stream value type: entries by ID, and the consumer groups with their pending entries.
//!
//! This module owns the stream's data and the invariants between its parts (the IDs a stream
//! remembers, a pending entry listed both in its group and in its consumer). It never formats
//! replies, never parses commands and never reads a clock: commands build on it and pass times
//! in.
//!
//! Redis keeps entries in a radix tree of listpacks that share a "master" field list; we keep a
//! B-tree of entries, each with its own field/value pairs. The listpack layout is a file format
//! here, produced and checked only by the RDB codec: a B-tree makes XDEL, XTRIM and ranges plain
//! map operations, where keeping Redis's nodes would mean re-implementing its node splitting and
//! deletion flags in every command for no observable difference.

use crate::Sds;
use std::collections::{BTreeMap, BTreeSet};

/// A stream entry ID, `<ms>-<seq>`. Orders as Redis's 128-bit big-endian key does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId { ms: u64::MAX, seq: u64::MAX };

    pub const fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    /// The ID right after this one, or `None` at the maximum (Redis's streamIncrID failing).
    pub fn next(self) -> Option<StreamId> {
        if self.seq < u64::MAX {
            Some(StreamId::new(self.ms, self.seq + 1))
        } else if self.ms < u64::MAX {
            Some(StreamId::new(self.ms + 1, 0))
        } else {
            None
        }
    }

    /// The ID right before this one, or `None` at 0-0 (Redis's streamDecrID failing).
    pub fn prev(self) -> Option<StreamId> {
        if self.seq > 0 {
            Some(StreamId::new(self.ms, self.seq - 1))
        } else if self.ms > 0 {
            Some(StreamId::new(self.ms - 1, u64::MAX))
        } else {
            None
        }
    }

    /// The 16-byte big-endian form Redis uses as a radix-tree key (and in RDB PEL records).
    pub fn to_be_bytes(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.ms.to_be_bytes());
        out[8..].copy_from_slice(&self.seq.to_be_bytes());
        out
    }

    pub fn from_be_bytes(bytes: [u8; 16]) -> StreamId {
        let mut ms = [0u8; 8];
        let mut seq = [0u8; 8];
        ms.copy_from_slice(&bytes[..8]);
        seq.copy_from_slice(&bytes[8..]);
        StreamId::new(u64::from_be_bytes(ms), u64::from_be_bytes(seq))
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// One entry's field/value pairs, flattened: `[f1, v1, f2, v2, ...]` (never empty, even length).
pub type StreamFields = Box<[Sds]>;

/// A pending entry of a consumer group: delivered to `consumer`, not yet acknowledged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingEntry {
    pub consumer: Sds,
    /// Unix time of the last delivery, in milliseconds.
    pub delivery_time_ms: u64,
    pub delivery_count: u64,
}

/// A consumer of a group. Its pending IDs are also in the group's PEL, with this consumer's
/// name there: the group's map holds the details, this set only makes per-consumer queries
/// (XPENDING with a consumer, XINFO CONSUMERS) cheap.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Consumer {
    /// Unix time the consumer last read or claimed, in milliseconds.
    pub seen_time_ms: u64,
    pub pending: BTreeSet<StreamId>,
}

/// `entries_read` when the group cannot know how many entries it has read (Redis's
/// SCG_INVALID_ENTRIES_READ).
pub const ENTRIES_READ_UNKNOWN: i64 = -1;

/// A consumer group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerGroup {
    /// The last ID delivered to the group's consumers.
    pub last_id: StreamId,
    /// How many entries the group has read, or [`ENTRIES_READ_UNKNOWN`].
    pub entries_read: i64,
    /// Pending entries of every consumer, by ID.
    pub pel: BTreeMap<StreamId, PendingEntry>,
    /// Consumers by name; ordered because Redis lists them in its radix tree's order.
    pub consumers: BTreeMap<Sds, Consumer>,
}

impl ConsumerGroup {
    pub fn new(last_id: StreamId, entries_read: i64) -> ConsumerGroup {
        ConsumerGroup { last_id, entries_read, pel: BTreeMap::new(), consumers: BTreeMap::new() }
    }

    /// Acknowledges `id`: drops it from the PEL and from its consumer. False if it was not pending.
    pub fn ack(&mut self, id: StreamId) -> bool {
        let Some(nack) = self.pel.remove(&id) else { return false };
        if let Some(c) = self.consumers.get_mut(&nack.consumer) {
            c.pending.remove(&id);
        }
        true
    }

    /// Makes `consumer` (which must exist) the owner of pending entry `id` with this delivery
    /// time and count, creating the entry when it is not pending yet and moving it from its
    /// previous owner otherwise.
    pub fn assign(&mut self, id: StreamId, consumer: &Sds, delivery_time_ms: u64, delivery_count: u64) {
        match self.pel.get_mut(&id) {
            Some(nack) => {
                if nack.consumer != *consumer {
                    if let Some(old) = self.consumers.get_mut(&nack.consumer) {
                        old.pending.remove(&id);
                    }
                    nack.consumer = consumer.clone();
                }
                nack.delivery_time_ms = delivery_time_ms;
                nack.delivery_count = delivery_count;
            }
            None => {
                self.pel.insert(id, PendingEntry { consumer: consumer.clone(), delivery_time_ms, delivery_count });
            }
        }
        if let Some(c) = self.consumers.get_mut(consumer) {
            c.pending.insert(id);
        }
    }

    /// Removes consumer `name` and its pending entries; the number it had pending, or `None`
    /// if there is no such consumer.
    pub fn delete_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let consumer = self.consumers.remove(name)?;
        for id in &consumer.pending {
            self.pel.remove(id);
        }
        Some(consumer.pending.len())
    }
}

/// How XADD and XTRIM trim a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrimStrategy {
    /// Keep at most this many entries.
    MaxLen(u64),
    /// Drop entries whose ID is below this one.
    MinId(StreamId),
}

/// A trim request: the strategy, whether `~` allows trimming whole nodes only, and the most
/// entries it may remove (0 = no limit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trim {
    pub strategy: TrimStrategy,
    pub approx: bool,
    pub limit: u64,
}

/// The node limits Redis splits a stream by (`stream-node-max-entries` and
/// `stream-node-max-bytes`; 0 means no limit of that kind).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeLimits {
    pub max_entries: u64,
    pub max_bytes: u64,
}

/// Redis's cap on a listpack (STREAM_LISTPACK_MAX_SIZE), used when `max_bytes` is 0 or larger.
const LISTPACK_MAX_BYTES: u64 = 1 << 30;

impl NodeLimits {
    fn effective_max_bytes(self) -> u64 {
        if self.max_bytes == 0 || self.max_bytes > LISTPACK_MAX_BYTES {
            LISTPACK_MAX_BYTES
        } else {
            self.max_bytes
        }
    }
}

/// Approximate bytes of a new listpack before its first entry: the header, and the master
/// entry (counts and the first entry's field names, with its terminator).
fn node_header_bytes(fields: &StreamFields) -> u64 {
    7 + 8 + fields.iter().step_by(2).map(|f| f.len() as u64 + 2).sum::<u64>()
}

/// Approximate listpack bytes of an entry: each element costs its length plus about two bytes
/// of header, and the entry has flags, two ID deltas, a field count and a back-length.
fn entry_bytes(fields: &StreamFields) -> u64 {
    fields.iter().map(|f| f.len() as u64 + 2).sum::<u64>() + 10
}

impl Stream {
    pub fn new() -> Stream {
        Stream::default()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The ID XADD `*` gives at `now_ms`: the time with sequence 0 if it is past the last ID's
    /// millisecond, else the last ID plus one (`None` once the last possible ID was used).
    pub fn next_auto_id(&self, now_ms: u64) -> Option<StreamId> {
        if now_ms > self.last_id.ms {
            Some(StreamId::new(now_ms, 0))
        } else {
            self.last_id.next()
        }
    }

    /// Appends an entry; `id` must be greater than `last_id` (the caller checked). The entry
    /// goes into the last node unless that one is full under `limits` (Redis's
    /// streamAppendItem).
    pub fn append(&mut self, id: StreamId, fields: StreamFields, limits: NodeLimits) {
        self.ensure_nodes(limits);
        let payload: u64 = fields.iter().map(|f| f.len() as u64).sum();
        let add = entry_bytes(&fields);
        let max_bytes = limits.effective_max_bytes();
        let tail_has_room = self.nodes.iter_mut().next_back().is_some_and(|(_, node)| {
            let full = node.bytes + payload >= max_bytes
                || (limits.max_entries > 0 && node.live + node.deleted >= limits.max_entries);
            if !full {
                node.live += 1;
                node.bytes += add;
            }
            !full
        });
        if !tail_has_room {
            self.nodes.insert(id, StreamNode { live: 1, deleted: 0, bytes: node_header_bytes(&fields) + add });
        }
        self.entries.insert(id, fields);
        self.last_id = id;
        self.entries_added += 1;
        if self.entries.len() == 1 {
            self.first_id = id;
        }
    }

    /// XDEL of one ID: removes it, remembering the greatest deleted ID and moving `first_id`
    /// on. A node left with no entry goes. False if there was no such entry.
    pub fn delete(&mut self, id: StreamId, limits: NodeLimits) -> bool {
        self.ensure_nodes(limits);
        if self.entries.remove(&id).is_none() {
            return false;
        }
        self.node_lost(id, 1);
        if id > self.max_deleted_entry_id {
            self.max_deleted_entry_id = id;
        }
        if id == self.first_id || self.entries.is_empty() {
            self.refresh_first_id();
        }
        true
    }

    /// Counts `n` entries of the node holding `id` as deleted, dropping the node when none is
    /// left.
    fn node_lost(&mut self, id: StreamId, n: u64) {
        let Some((&start, node)) = self.nodes.range_mut(..=id).next_back() else { return };
        node.live = node.live.saturating_sub(n);
        node.deleted += n;
        if node.live == 0 {
            self.nodes.remove(&start);
        }
    }

    /// Rebuilds [`Stream::nodes`] from the entries when they disagree (a stream loaded from a
    /// file, whose node split is not kept): entries are packed into nodes in order, as if
    /// appended under `limits`.
    pub fn ensure_nodes(&mut self, limits: NodeLimits) {
        let counted: u64 = self.nodes.values().map(|n| n.live).sum();
        if counted == self.entries.len() as u64 {
            return;
        }
        self.nodes.clear();
        let max_bytes = limits.effective_max_bytes();
        let mut current: Option<(StreamId, StreamNode)> = None;
        for (id, fields) in &self.entries {
            let payload: u64 = fields.iter().map(|f| f.len() as u64).sum();
            if let Some((_, node)) = &current {
                let full =
                    node.bytes + payload >= max_bytes || (limits.max_entries > 0 && node.live >= limits.max_entries);
                if full {
                    if let Some((start, node)) = current.take() {
                        self.nodes.insert(start, node);
                    }
                }
            }
            let (_, node) =
                current.get_or_insert((*id, StreamNode { live: 0, deleted: 0, bytes: node_header_bytes(fields) }));
            node.live += 1;
            node.bytes += entry_bytes(fields);
        }
        if let Some((start, node)) = current {
            self.nodes.insert(start, node);
        }
    }

    /// The number of nodes (XINFO's radix-tree-keys).
    pub fn node_count(&self, limits: NodeLimits) -> usize {
        let counted: u64 = self.nodes.values().map(|n| n.live).sum();
        if counted == self.entries.len() as u64 {
            return self.nodes.len();
        }
        // Rare (a stream loaded from a file and not written since): lay a copy out.
        let mut copy = Stream { entries: self.entries.clone(), ..Stream::default() };
        copy.ensure_nodes(limits);
        copy.nodes.len()
    }

    fn refresh_first_id(&mut self) {
        self.first_id = self.entries.keys().next().copied().unwrap_or_default();
    }

    /// The ID of the last entry still present, 0-0 when empty (Redis's streamLastValidID).
    pub fn last_valid_id(&self) -> StreamId {
        self.entries.keys().next_back().copied().unwrap_or_default()
    }

    /// Trims as XADD/XTRIM do (Redis's streamTrim): whole nodes from the front while the
    /// strategy allows and `limit` is not exceeded; without `approx`, then entries one by one
    /// from the first node that cannot go whole (they count as deleted in that node). Returns
    /// the number of entries removed.
    pub fn trim(&mut self, trim: Trim, limits: NodeLimits) -> u64 {
        self.ensure_nodes(limits);
        let mut deleted = 0u64;
        while let Some((&start, &node)) = self.nodes.iter().next() {
            let len = self.entries.len() as u64;
            if let TrimStrategy::MaxLen(max) = trim.strategy {
                if len <= max {
                    break;
                }
            }
            if trim.limit > 0 && deleted + node.live > trim.limit {
                break;
            }
            let next_start = self.nodes.range((std::ops::Bound::Excluded(start), std::ops::Bound::Unbounded)).next();
            let end = next_start.map(|(k, _)| *k);
            let remove_node = match trim.strategy {
                TrimStrategy::MaxLen(max) => len - node.live >= max,
                TrimStrategy::MinId(min) => {
                    let last = match end {
                        Some(end) => self.entries.range(start..end).next_back(),
                        None => self.entries.range(start..).next_back(),
                    };
                    last.is_some_and(|(last, _)| *last < min)
                }
            };
            if remove_node {
                let ids: Vec<StreamId> = match end {
                    Some(end) => self.entries.range(start..end).map(|(id, _)| *id).collect(),
                    None => self.entries.range(start..).map(|(id, _)| *id).collect(),
                };
                for id in &ids {
                    self.entries.remove(id);
                }
                self.nodes.remove(&start);
                deleted += ids.len() as u64;
                continue;
            }
            if trim.approx {
                break;
            }
            let mut removed_here = 0u64;
            while let Some((&first, _)) = self.entries.iter().next() {
                if end.is_some_and(|end| first >= end) {
                    break;
                }
                let stop = match trim.strategy {
                    TrimStrategy::MaxLen(max) => self.entries.len() as u64 <= max,
                    TrimStrategy::MinId(min) => first >= min,
                };
                if stop {
                    break;
                }
                self.entries.remove(&first);
                removed_here += 1;
            }
            if let Some(node) = self.nodes.get_mut(&start) {
                node.live = node.live.saturating_sub(removed_here);
                node.deleted += removed_here;
            }
            deleted += removed_here;
            break;
        }
        if deleted > 0 {
            self.refresh_first_id();
        }
        deleted
    }

    /// Whether `start..=end` may hold a deleted entry (Redis's streamRangeHasTombstones: only
    /// the greatest deleted ID is known, so this is an over-approximation).
    pub fn range_has_tombstones(&self, start: StreamId, end: StreamId) -> bool {
        if self.entries.is_empty() || self.max_deleted_entry_id == StreamId::MIN {
            return false;
        }
        if self.first_id > self.max_deleted_entry_id {
            return false;
        }
        start <= self.max_deleted_entry_id && self.max_deleted_entry_id <= end
    }

    /// How many entries were added up to and including `id`, when that can be known (Redis's
    /// streamEstimateDistanceFromFirstEverEntry); [`ENTRIES_READ_UNKNOWN`] otherwise.
    pub fn estimate_entries_read(&self, id: StreamId) -> i64 {
        let added = self.entries_added as i64;
        if self.entries_added == 0 {
            return 0;
        }
        if self.entries.is_empty() && id <= self.last_id {
            return added;
        }
        if id == self.last_id {
            return added;
        }
        if id > self.last_id {
            return ENTRIES_READ_UNKNOWN;
        }
        if self.max_deleted_entry_id == StreamId::MIN || self.max_deleted_entry_id < self.first_id {
            let len = self.entries.len() as i64;
            if id < self.first_id {
                return added - len;
            }
            if id == self.first_id {
                return added - len + 1;
            }
        }
        ENTRIES_READ_UNKNOWN
    }

    /// The number of entries group `g` has yet to read, or `None` when it cannot be known
    /// (Redis's streamReplyWithCGLag).
    pub fn group_lag(&self, g: &ConsumerGroup) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if g.entries_read != ENTRIES_READ_UNKNOWN && !self.range_has_tombstones(g.last_id, StreamId::MAX) {
            return Some(self.entries_added as i64 - g.entries_read);
        }
        let read = self.estimate_entries_read(g.last_id);
        (read != ENTRIES_READ_UNKNOWN).then(|| self.entries_added as i64 - read)
    }

    /// A group's read counter once its last delivered ID moves forward to `id`, from
    /// `entries_read` before (Redis's streamReplyWithRange: counted on while no tombstone lies
    /// ahead, re-estimated otherwise).
    pub fn entries_read_after(&self, entries_read: i64, id: StreamId) -> i64 {
        if entries_read != ENTRIES_READ_UNKNOWN && !self.range_has_tombstones(id, StreamId::MAX) {
            entries_read + 1
        } else if self.entries_added > 0 {
            self.estimate_entries_read(id)
        } else {
            entries_read
        }
    }
}

/// One of the listpack nodes Redis would keep this stream's entries in, keyed in
/// [`Stream::nodes`] by the ID of the first entry ever added to it. Only counts are kept: the
/// entries themselves live in [`Stream::entries`]. Trimming with `~` removes whole nodes, and
/// entries deleted inside a node still count towards filling it, so the counts decide replies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamNode {
    /// Entries of the node still present.
    pub live: u64,
    /// Entries of the node deleted (by XDEL or an exact trim) while the node stayed.
    pub deleted: u64,
    /// Approximate listpack bytes, for `stream-node-max-bytes`.
    pub bytes: u64,
}

/// A stream.
///
/// Equality ignores `nodes`: two streams with the same entries, IDs and groups are the same
/// value, however their entries happen to be split.
#[derive(Clone, Debug, Default)]
pub struct Stream {
    pub entries: BTreeMap<StreamId, StreamFields>,
    /// The greatest ID ever added (kept after that entry is deleted; XSETID may raise it).
    pub last_id: StreamId,
    /// The first entry's ID, or 0-0 when empty (Redis 7.0 keeps it for XINFO's
    /// recorded-first-entry-id).
    pub first_id: StreamId,
    /// The greatest ID ever deleted by XDEL or trimming.
    pub max_deleted_entry_id: StreamId,
    /// Entries ever added, including deleted ones.
    pub entries_added: u64,
    /// Consumer groups by name; ordered because Redis lists them in its radix tree's order.
    pub groups: BTreeMap<Sds, ConsumerGroup>,
    /// The node layout (see [`StreamNode`]). A stream built without it (from an RDB file)
    /// gets one recomputed from its entries on first use: see [`Stream::ensure_nodes`].
    pub nodes: BTreeMap<StreamId, StreamNode>,
}

impl PartialEq for Stream {
    fn eq(&self, other: &Stream) -> bool {
        self.entries == other.entries
            && self.last_id == other.last_id
            && self.first_id == other.first_id
            && self.max_deleted_entry_id == other.max_deleted_entry_id
            && self.entries_added == other.entries_added
            && self.groups == other.groups
    }
}

impl Eq for Stream {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_step_across_the_millisecond_and_stop_at_the_ends() {
        assert_eq!(StreamId::new(5, u64::MAX).next(), Some(StreamId::new(6, 0)));
        assert_eq!(StreamId::new(6, 0).prev(), Some(StreamId::new(5, u64::MAX)));
        assert_eq!(StreamId::MAX.next(), None);
        assert_eq!(StreamId::MIN.prev(), None);
        let id = StreamId::new(0x0102030405060708, 9);
        assert_eq!(StreamId::from_be_bytes(id.to_be_bytes()), id);
        assert!(StreamId::new(1, u64::MAX) < StreamId::new(2, 0));
        assert_eq!(StreamId::new(12, 3).to_string(), "12-3");
    }
}
