//! The stream's RDB form (Redis 7.0's `RDB_TYPE_STREAM_LISTPACKS_2`, and reading the older
//! `RDB_TYPE_STREAM_LISTPACKS`): what `rdbSaveObject` writes after the type byte, and what
//! `rdbLoadObject` reads. Never panics or allocates unboundedly on bad input: every count is
//! checked against the bytes left before anything is built.
//!
//! Redis keeps a stream as listpack "nodes" in a radix tree keyed by each node's master ID, and
//! writes those nodes as they are. We keep a B-tree of entries (see `keyspace::stream`), so
//! writing packs the entries into nodes exactly as XADD would have built them (same node limits,
//! same master entry, same flags), which gives Redis's bytes for any stream that was only ever
//! appended to; reading walks each node with the checks of Redis's deep sanitization
//! (`streamValidateListpackIntegrity` and the consumer-group checks of `rdbLoadObject`), and
//! drops tombstones. Rejected alternative: keeping Redis's listpacks in memory so saving copies
//! them, which would tie every stream command to the node format.
//!
//! Layout of a node's listpack (all counts and IDs are listpack integers):
//!
//! ```text
//! master entry: count | deleted | num-fields | field_1 .. field_N | 0
//! each entry:   flags | ms-diff | seq-diff | [num-fields | f_1 | v_1 .. f_M | v_M] or [v_1 .. v_N] | lp-count
//! ```
//!
//! The bracketed field list appears unless the entry has the SAMEFIELDS flag (its fields are the
//! master's, so only values follow); `lp-count` is the number of elements before it in the entry,
//! so the node can be walked backwards. IDs are deltas from the node's master ID (the radix-tree
//! key), with wrapping 64-bit arithmetic as Redis's unsigned C does.

use crate::listpack::{self, pushed_int_len, pushed_len, ListpackWriter, LpValue};
use crate::object::{write_len, write_string, EncodeLimits, Reader};
use crate::FormatError;
use keyspace::stream::{Consumer, ConsumerGroup, PendingEntry, Stream, StreamFields, StreamId, ENTRIES_READ_UNKNOWN};
use keyspace::Sds;
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

/// Redis 5.0-6.2's stream type: no first ID, deleted maximum, entries-added counter or group
/// read counters (loading estimates them as Redis 7.0 does).
pub const TYPE_STREAM_LISTPACKS: u8 = 15;
/// Redis 7.0's stream type, the one we write.
pub const TYPE_STREAM_LISTPACKS_2: u8 = 19;

/// An entry that was deleted but not yet removed from its node (XDEL inside a node).
const FLAG_DELETED: i64 = 1;
/// An entry whose field names are its node's master fields (only its values are stored).
const FLAG_SAMEFIELDS: i64 = 2;
/// Redis's `STREAM_LISTPACK_MAX_SIZE`: the node byte limit when the configured one is 0 or above.
const NODE_MAX_BYTES_CAP: u64 = 1 << 30;

/// The reason Redis logs for a node its listpack check refuses (`rdbReportCorruptRDB`).
const NODE_INTEGRITY: FormatError = FormatError::Malformed("Stream listpack integrity check failed");

/// How big a stream node may grow before XADD starts a new one: Redis's
/// `stream-node-max-bytes` and `stream-node-max-entries`, where 0 means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamNodeLimits {
    pub max_bytes: u64,
    pub max_entries: u64,
}

impl Default for StreamNodeLimits {
    /// Redis's defaults: 4096 bytes, 100 entries.
    fn default() -> Self {
        StreamNodeLimits { max_bytes: 4096, max_entries: 100 }
    }
}

// ---- writing ----

/// Appends `stream`'s RDB body (type 19, without the type byte), its entries packed into nodes
/// under `limits.stream_node` as Redis's XADD would have packed them.
pub fn encode_stream_body(stream: &Stream, limits: &EncodeLimits, out: &mut Vec<u8>) {
    let nodes = split_into_nodes(stream, &limits.stream_node);
    write_len(out, nodes.len() as u64);
    for node in &nodes {
        let Some((master_id, _)) = node.first() else { continue };
        write_string(out, &master_id.to_be_bytes(), limits);
        write_string(out, &build_node(node), limits);
    }
    write_len(out, stream.len() as u64);
    write_id(out, stream.last_id);
    write_id(out, stream.first_id);
    write_id(out, stream.max_deleted_entry_id);
    write_len(out, stream.entries_added);
    write_len(out, stream.groups.len() as u64);
    for (name, group) in &stream.groups {
        write_string(out, name.as_bytes(), limits);
        write_id(out, group.last_id);
        // Redis saves the signed counter as an unsigned length: -1 (unknown) is 2^64 - 1.
        write_len(out, group.entries_read as u64);
        write_len(out, group.pel.len() as u64);
        for (id, pending) in &group.pel {
            out.extend_from_slice(&id.to_be_bytes());
            out.extend_from_slice(&pending.delivery_time_ms.to_le_bytes());
            write_len(out, pending.delivery_count);
        }
        write_len(out, group.consumers.len() as u64);
        for (name, consumer) in &group.consumers {
            write_string(out, name.as_bytes(), limits);
            out.extend_from_slice(&consumer.seen_time_ms.to_le_bytes());
            write_len(out, consumer.pending.len() as u64);
            for id in &consumer.pending {
                out.extend_from_slice(&id.to_be_bytes());
            }
        }
    }
}

fn write_id(out: &mut Vec<u8>, id: StreamId) {
    write_len(out, id.ms);
    write_len(out, id.seq);
}

type NodeEntries<'a> = Vec<(StreamId, &'a StreamFields)>;

/// Groups the entries into nodes as `streamAppendItem` does: a new node starts when the current
/// one's listpack has reached the byte limit (counting the new entry's fields and values) or
/// holds the entry limit.
fn split_into_nodes<'a>(stream: &'a Stream, limits: &StreamNodeLimits) -> Vec<NodeEntries<'a>> {
    let max_bytes = match limits.max_bytes {
        0 => NODE_MAX_BYTES_CAP,
        n => n.min(NODE_MAX_BYTES_CAP),
    };
    let mut nodes: Vec<NodeEntries<'a>> = Vec::new();
    let mut current: NodeEntries<'a> = Vec::new();
    // Bytes of the current node's entries after its master entry.
    let mut entries_bytes = 0usize;
    for (&id, fields) in &stream.entries {
        if let Some(&(master_id, master)) = current.first() {
            let added: usize = fields.iter().map(|s| s.len()).sum();
            let node_bytes = master_entry_len(master, current.len()) + entries_bytes;
            let full = (node_bytes as u64).saturating_add(added as u64) >= max_bytes
                || (limits.max_entries != 0 && current.len() as u64 >= limits.max_entries);
            if full {
                nodes.push(std::mem::take(&mut current));
                entries_bytes = 0;
            } else {
                entries_bytes += entry_len(master_id, master, id, fields);
            }
        }
        if current.is_empty() {
            entries_bytes = entry_len(id, fields, id, fields);
        }
        current.push((id, fields));
    }
    if !current.is_empty() {
        nodes.push(current);
    }
    nodes
}

/// Header, master entry and terminator of a node holding `count` entries, in bytes.
fn master_entry_len(master: &StreamFields, count: usize) -> usize {
    let names: usize = master.iter().step_by(2).map(|f| pushed_len(f)).sum();
    6 + pushed_int_len(count as i64)
        + pushed_int_len(0)
        + pushed_int_len((master.len() / 2) as i64)
        + names
        + pushed_int_len(0)
        + 1
}

/// The listpack bytes of one entry (flags to lp-count) in a node with `master`'s fields.
fn entry_len(master_id: StreamId, master: &StreamFields, id: StreamId, fields: &StreamFields) -> usize {
    let (ms_diff, seq_diff) = id_diff(master_id, id);
    let pairs = (fields.len() / 2) as i64;
    if same_fields(master, fields) {
        let values: usize = fields.iter().skip(1).step_by(2).map(|v| pushed_len(v)).sum();
        pushed_int_len(FLAG_SAMEFIELDS)
            + pushed_int_len(ms_diff)
            + pushed_int_len(seq_diff)
            + values
            + pushed_int_len(pairs + 3)
    } else {
        let pairs_len: usize = fields.iter().map(|s| pushed_len(s)).sum();
        pushed_int_len(0)
            + pushed_int_len(ms_diff)
            + pushed_int_len(seq_diff)
            + pushed_int_len(pairs)
            + pairs_len
            + pushed_int_len(2 * pairs + 4)
    }
}

fn id_diff(master_id: StreamId, id: StreamId) -> (i64, i64) {
    (id.ms.wrapping_sub(master_id.ms) as i64, id.seq.wrapping_sub(master_id.seq) as i64)
}

/// Whether `fields` has exactly the master entry's field names, in order.
fn same_fields(master: &StreamFields, fields: &StreamFields) -> bool {
    master.len() == fields.len() && master.iter().step_by(2).eq(fields.iter().step_by(2))
}

/// The listpack of one node (never empty: the master entry is its first entry's fields).
fn build_node(node: &NodeEntries<'_>) -> Vec<u8> {
    let mut w = ListpackWriter::new();
    let Some(&(master_id, master)) = node.first() else { return w.finish() };
    w.push_int(node.len() as i64);
    w.push_int(0);
    w.push_int((master.len() / 2) as i64);
    for name in master.iter().step_by(2) {
        w.push(name.as_bytes());
    }
    w.push_int(0);
    for &(id, fields) in node {
        let (ms_diff, seq_diff) = id_diff(master_id, id);
        let pairs = (fields.len() / 2) as i64;
        if same_fields(master, fields) {
            w.push_int(FLAG_SAMEFIELDS);
            w.push_int(ms_diff);
            w.push_int(seq_diff);
            for value in fields.iter().skip(1).step_by(2) {
                w.push(value.as_bytes());
            }
            w.push_int(pairs + 3);
        } else {
            w.push_int(0);
            w.push_int(ms_diff);
            w.push_int(seq_diff);
            w.push_int(pairs);
            for s in fields.iter() {
                w.push(s.as_bytes());
            }
            w.push_int(2 * pairs + 4);
        }
    }
    w.finish()
}

// ---- reading ----

/// Reads a stream body of RDB type `object_type` ([`TYPE_STREAM_LISTPACKS`] or
/// [`TYPE_STREAM_LISTPACKS_2`]), its type byte already read, checking it as Redis does with
/// `sanitize-dump-payload yes`. Tombstoned entries are dropped.
///
/// Beyond Redis's checks, a few things Redis 7.0.15 loads but that no Redis ever writes, and
/// that our entry map cannot hold or the stream commands rely on, are refused: an entry without
/// fields, entry IDs not strictly increasing across the stream or below their node's master ID,
/// an entry above the stream's last ID, a stored length other than the live entries' count, and
/// a pending entry claimed by two consumers.
pub fn decode_stream_body(object_type: u8, r: &mut Reader<'_>) -> Result<Stream, FormatError> {
    if object_type != TYPE_STREAM_LISTPACKS && object_type != TYPE_STREAM_LISTPACKS_2 {
        return Err(FormatError::UnsupportedType(object_type));
    }
    let mut stream = Stream::new();
    let node_count = count(r)?;
    let mut previous_node: Option<StreamId> = None;
    let mut previous_entry: Option<StreamId> = None;
    for _ in 0..node_count {
        let key = r.string()?;
        let key: [u8; 16] = key
            .as_slice()
            .try_into()
            .map_err(|_| FormatError::Malformed("Stream node key entry is not the size of a stream ID"))?;
        let master_id = StreamId::from_be_bytes(key);
        let listpack = r.string()?;
        if previous_node == Some(master_id) {
            return Err(FormatError::Malformed("Listpack re-added with existing key"));
        }
        previous_node = Some(master_id);
        read_node(master_id, &listpack, &mut stream.entries, &mut previous_entry)?;
    }

    let length = number(r)?;
    stream.last_id = read_id(r)?;
    if object_type == TYPE_STREAM_LISTPACKS_2 {
        stream.first_id = read_id(r)?;
        stream.max_deleted_entry_id = read_id(r)?;
        stream.entries_added = number(r)?;
    } else {
        // As Redis 7.0 migrates an older stream: nothing deleted is known, every entry counts
        // as added, and the first ID is the first live entry's (the maximum ID when none).
        stream.max_deleted_entry_id = StreamId::MIN;
        stream.entries_added = length;
        stream.first_id = stream.entries.keys().next().copied().unwrap_or(StreamId::MAX);
    }
    if length != 0 && node_count == 0 {
        return Err(FormatError::Malformed("Stream length inconsistent with rax entries"));
    }
    if length != stream.entries.len() as u64 {
        return Err(FormatError::Malformed("stream length differs from its entries"));
    }
    if stream.entries.keys().next_back().is_some_and(|&top| top > stream.last_id) {
        return Err(FormatError::Malformed("stream entry above the last ID"));
    }

    let group_count = count(r)?;
    for _ in 0..group_count {
        let name = Sds::new(&r.string()?);
        let last_id = read_id(r)?;
        let entries_read = if object_type == TYPE_STREAM_LISTPACKS_2 {
            number(r)? as i64
        } else {
            estimate_entries_read(&stream, length, last_id)
        };
        let group = read_group_pels(r, last_id, entries_read)?;
        match stream.groups.entry(name) {
            Entry::Occupied(_) => return Err(FormatError::Malformed("Duplicated consumer group name")),
            Entry::Vacant(slot) => {
                slot.insert(group);
            }
        }
    }
    Ok(stream)
}

/// A number as `rdbLoadLen(rdb, NULL)` reads it, which is how Redis reads every number and
/// count of a stream. Two quirks are kept because Redis loads what they let through: a byte that
/// would announce a special string encoding (0xC0-0xFF) stands for its low six bits, and an
/// unknown length encoding (0x82-0xBF) reads as `RDB_LENERR` (2^64 - 1), which Redis logs as
/// corruption but only its counts check for. (Other types' readers refuse both; Redis never
/// writes either.)
fn number(r: &mut Reader<'_>) -> Result<u64, FormatError> {
    let first = r.u8()?;
    Ok(match first {
        0x00..=0x3F => u64::from(first),
        0x40..=0x7F => (u64::from(first & 0x3F) << 8) | u64::from(r.u8()?),
        0x80 => {
            let d = r.take(4)?;
            u64::from(u32::from_be_bytes([d[0], d[1], d[2], d[3]]))
        }
        0x81 => {
            let mut d = [0u8; 8];
            d.copy_from_slice(r.take(8)?);
            u64::from_be_bytes(d)
        }
        0x82..=0xBF => RDB_LENERR,
        0xC0..=0xFF => u64::from(first & 0x3F),
    })
}

/// Redis's `rdbLoadLen` failure value.
const RDB_LENERR: u64 = u64::MAX;

/// A count of items that follow, each at least a byte: more than the bytes left cannot be
/// there, which also keeps a hostile count from driving a long loop.
fn count(r: &mut Reader<'_>) -> Result<usize, FormatError> {
    match number(r)? {
        RDB_LENERR => Err(FormatError::Malformed("length")),
        n if n > r.remaining() as u64 => Err(FormatError::Truncated),
        n => Ok(n as usize),
    }
}

fn read_id(r: &mut Reader<'_>) -> Result<StreamId, FormatError> {
    Ok(StreamId::new(number(r)?, number(r)?))
}

fn read_raw_id(r: &mut Reader<'_>) -> Result<StreamId, FormatError> {
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(r.take(16)?);
    Ok(StreamId::from_be_bytes(bytes))
}

/// `rdbLoadMillisecondTime`: 8 bytes, little-endian.
fn read_time_ms(r: &mut Reader<'_>) -> Result<u64, FormatError> {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(r.take(8)?);
    Ok(u64::from_le_bytes(bytes))
}

/// A group's global PEL and its consumers with their PELs (the group's name and IDs already read).
fn read_group_pels(r: &mut Reader<'_>, last_id: StreamId, entries_read: i64) -> Result<ConsumerGroup, FormatError> {
    let mut group = ConsumerGroup::new(last_id, entries_read);
    // The global PEL names no consumer: each consumer's own list, which follows, says whose an
    // entry is. Until then the consumer is unknown.
    let mut owners: BTreeMap<StreamId, Option<Sds>> = BTreeMap::new();
    let pel_len = count(r)?;
    for _ in 0..pel_len {
        let id = read_raw_id(r)?;
        let delivery_time_ms = read_time_ms(r)?;
        let delivery_count = number(r)?;
        let pending = PendingEntry { consumer: Sds::new(b""), delivery_time_ms, delivery_count };
        if group.pel.insert(id, pending).is_some() {
            return Err(FormatError::Malformed("Duplicated global PEL entry loading stream consumer group"));
        }
        owners.insert(id, None);
    }
    let consumer_count = count(r)?;
    for _ in 0..consumer_count {
        let name = Sds::new(&r.string()?);
        if group.consumers.contains_key(&name) {
            return Err(FormatError::Malformed("Duplicate stream consumer detected"));
        }
        let seen_time_ms = read_time_ms(r)?;
        let mut pending = BTreeSet::new();
        let own_len = count(r)?;
        for _ in 0..own_len {
            let id = read_raw_id(r)?;
            let owner =
                owners.get_mut(&id).ok_or(FormatError::Malformed("Consumer entry not found in group global PEL"))?;
            if !pending.insert(id) {
                return Err(FormatError::Malformed("Duplicated consumer PEL entry loading a stream consumer group"));
            }
            // Redis would hand the entry to the later consumer and leave it listed under both;
            // our PEL names one owner, and no Redis writes this.
            if owner.replace(name.clone()).is_some() {
                return Err(FormatError::Malformed("stream PEL entry owned by two consumers"));
            }
        }
        group.consumers.insert(name, Consumer { seen_time_ms, pending });
    }
    for (id, owner) in owners {
        let owner = owner.ok_or(FormatError::Malformed("Stream CG PEL entry without consumer"))?;
        if let Some(pending) = group.pel.get_mut(&id) {
            pending.consumer = owner;
        }
    }
    Ok(group)
}

/// Redis's `streamEstimateDistanceFromFirstEverEntry`, for groups of a type-15 stream (whose
/// counters were never saved), with `length` the stream's stored length.
fn estimate_entries_read(stream: &Stream, length: u64, id: StreamId) -> i64 {
    if stream.entries_added == 0 {
        return 0;
    }
    if length == 0 && id <= stream.last_id {
        return stream.entries_added as i64;
    }
    if id == stream.last_id {
        return stream.entries_added as i64;
    }
    if id > stream.last_id {
        return ENTRIES_READ_UNKNOWN;
    }
    let no_fragmentation =
        stream.max_deleted_entry_id == StreamId::MIN || stream.max_deleted_entry_id < stream.first_id;
    if no_fragmentation {
        if id < stream.first_id {
            return stream.entries_added.wrapping_sub(length) as i64;
        }
        if id == stream.first_id {
            return stream.entries_added.wrapping_sub(length).wrapping_add(1) as i64;
        }
    }
    ENTRIES_READ_UNKNOWN
}

/// An integer element as `lpGetIntegerIfValid` reads it: integer-encoded, or a string that is
/// a canonical integer.
fn int_of(value: &LpValue<'_>) -> Result<i64, FormatError> {
    match value {
        LpValue::Int(v) => Ok(*v),
        LpValue::Str(s) => resp::string2ll(s).ok_or(NODE_INTEGRITY),
    }
}

/// The elements of a node, read front to back with `streamValidateListpackIntegrity`'s bounds:
/// every read and skip must land on an element.
struct NodeCursor<'n, 'a> {
    elements: &'n [LpValue<'a>],
    pos: usize,
}

impl<'n, 'a> NodeCursor<'n, 'a> {
    fn next(&mut self) -> Result<&'n LpValue<'a>, FormatError> {
        let element = self.elements.get(self.pos).ok_or(NODE_INTEGRITY)?;
        self.pos += 1;
        Ok(element)
    }

    fn next_int(&mut self) -> Result<i64, FormatError> {
        int_of(self.next()?)
    }

    /// The next `count` elements (none for a negative count, as Redis's loops run zero times).
    fn take(&mut self, count: i64) -> Result<&'n [LpValue<'a>], FormatError> {
        let count = usize::try_from(count).unwrap_or(0);
        let end = self.pos.checked_add(count).ok_or(NODE_INTEGRITY)?;
        let taken = self.elements.get(self.pos..end).ok_or(NODE_INTEGRITY)?;
        self.pos = end;
        Ok(taken)
    }
}

/// Reads one node's listpack into `entries`, dropping tombstones. `previous_entry` is the
/// greatest ID read so far (tombstones included), to keep IDs strictly increasing.
fn read_node(
    master_id: StreamId,
    listpack: &[u8],
    entries: &mut BTreeMap<StreamId, StreamFields>,
    previous_entry: &mut Option<StreamId>,
) -> Result<(), FormatError> {
    let elements = listpack::decode_checking_count(listpack, false).map_err(|_| NODE_INTEGRITY)?;
    // An empty node fails here too, as in Redis's deep check (its "Empty listpack inside
    // stream" is only reached without it).
    let mut cursor = NodeCursor { elements: &elements, pos: 0 };
    let live = cursor.next_int()?;
    let deleted = cursor.next_int()?;
    let master_field_count = cursor.next_int()?;
    let master_fields = cursor.take(master_field_count)?;
    if cursor.next_int()? != 0 {
        return Err(NODE_INTEGRITY);
    }
    // Redis counts down from live + deleted until zero: a negative total never reaches it, so
    // the walk runs off the node's end. Each entry takes at least four elements, which bounds
    // the loop by the node's size as well.
    let total = live.checked_add(deleted).filter(|t| *t >= 0).ok_or(NODE_INTEGRITY)?;
    for _ in 0..total {
        let flags = cursor.next_int()?;
        let ms_diff = cursor.next_int()?;
        let seq_diff = cursor.next_int()?;
        let id = StreamId::new(master_id.ms.wrapping_add(ms_diff as u64), master_id.seq.wrapping_add(seq_diff as u64));
        let (field_count, fields) = if flags & FLAG_SAMEFIELDS != 0 {
            let values = cursor.take(master_field_count)?;
            let fields: Vec<Sds> = master_fields
                .iter()
                .zip(values)
                .flat_map(|(f, v)| [Sds::new(&f.to_bytes()), Sds::new(&v.to_bytes())])
                .collect();
            (master_field_count, fields)
        } else {
            let field_count = cursor.next_int()?;
            let pairs = cursor.take(field_count.saturating_mul(2).max(0))?;
            (field_count, pairs.iter().map(|e| Sds::new(&e.to_bytes())).collect())
        };
        let expected_lp_count = if flags & FLAG_SAMEFIELDS != 0 {
            field_count.checked_add(3)
        } else {
            field_count.checked_mul(2).and_then(|n| n.checked_add(4))
        };
        if Some(cursor.next_int()?) != expected_lp_count {
            return Err(NODE_INTEGRITY);
        }
        if field_count < 1 {
            return Err(FormatError::Malformed("stream entry without fields"));
        }
        if id < master_id || previous_entry.is_some_and(|p| p >= id) {
            return Err(FormatError::Malformed("stream entry IDs out of order"));
        }
        *previous_entry = Some(id);
        if flags & FLAG_DELETED == 0 {
            entries.insert(id, fields.into_boxed_slice());
        }
    }
    if cursor.pos != elements.len() {
        return Err(NODE_INTEGRITY);
    }
    Ok(())
}
