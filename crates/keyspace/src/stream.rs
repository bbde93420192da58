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
}

/// A stream.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
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
}

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
