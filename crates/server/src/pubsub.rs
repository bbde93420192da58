//! Pub/Sub: SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE and their UNSUBSCRIBEs, PUBLISH, SPUBLISH, PUBSUB,
//! and the delivery of messages to subscribers that live on other worker threads. Replies follow
//! Redis 7.0.15 byte for byte (`src/pubsub.c` is the specification).
//!
//! Who may write where: a subscriber's socket and output buffer belong to its worker. A publisher
//! looks its receivers up in the shared [`Registry`] (one mutex, taken only by pub/sub commands,
//! by keyspace notifications and when a subscribed client goes away), counts them, and queues one
//! [`Delivery`] per receiver in its own worker's outbox, grouped by the receiver's worker. The
//! outbox is flushed once per event-loop iteration: one `Msg::Deliver` per target worker however
//! many messages a pipeline published, so a burst costs one inbox lock and one wake-up per worker,
//! not one per message. Writing into another worker's buffers under a lock was rejected: every
//! reply path would then need that lock.

use crate::config::OutputBufferLimit;
use crate::shared::{Msg, Shared};
use crate::worker::{Conn, Env};
use commands::args::eq_ic;
use commands::string_match;
use indexmap::{IndexMap, IndexSet};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// A batch for another worker is handed over once it holds this many deliveries, without
/// waiting for the end of the loop iteration: bounds the outbox when one read brings a long
/// pipeline of PUBLISHes, while still amortising the inbox lock and wake-up over many messages.
const OUTBOX_BATCH_MAX: usize = 4096;

/// The three kinds of subscription a client can hold.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SubKind {
    Channel = 0,
    Pattern = 1,
    Shard = 2,
}

/// Subscribers of one channel or pattern: client id → its worker, in subscription order.
type Subscribers = IndexMap<u64, usize>;

/// Every subscription of the server.
#[derive(Default)]
pub struct RegistryInner {
    channels: HashMap<Vec<u8>, Subscribers>,
    /// Kept in insertion order so pattern delivery order is stable (Redis walks a dict).
    patterns: IndexMap<Vec<u8>, Subscribers>,
    shard_channels: HashMap<Vec<u8>, Subscribers>,
}

impl RegistryInner {
    fn map(&mut self, kind: SubKind) -> &mut dyn SubMap {
        match kind {
            SubKind::Channel => &mut self.channels,
            SubKind::Pattern => &mut self.patterns,
            SubKind::Shard => &mut self.shard_channels,
        }
    }
}

/// The operations subscription maps share, so the three kinds use one code path.
trait SubMap {
    fn add(&mut self, name: &[u8], client: u64, worker: usize);
    fn remove(&mut self, name: &[u8], client: u64);
}

macro_rules! impl_submap {
    ($t:ty) => {
        impl SubMap for $t {
            fn add(&mut self, name: &[u8], client: u64, worker: usize) {
                self.entry(name.to_vec()).or_default().insert(client, worker);
            }
            fn remove(&mut self, name: &[u8], client: u64) {
                let now_empty = match self.get_mut(name) {
                    Some(subs) => {
                        subs.shift_remove(&client);
                        subs.is_empty()
                    }
                    None => false,
                };
                if now_empty {
                    // A channel nobody listens to is dropped at once, so a flood of distinct
                    // channel names cannot grow the registry (Redis does the same).
                    self.remove_entry_by_name(name);
                }
            }
        }
    };
}

trait RemoveByName {
    fn remove_entry_by_name(&mut self, name: &[u8]);
}
impl RemoveByName for HashMap<Vec<u8>, Subscribers> {
    fn remove_entry_by_name(&mut self, name: &[u8]) {
        self.remove(name);
    }
}
impl RemoveByName for IndexMap<Vec<u8>, Subscribers> {
    fn remove_entry_by_name(&mut self, name: &[u8]) {
        self.shift_remove(name);
    }
}
impl_submap!(HashMap<Vec<u8>, Subscribers>);
impl_submap!(IndexMap<Vec<u8>, Subscribers>);

/// The server's subscription registry.
#[derive(Default)]
pub struct Registry {
    pub inner: Mutex<RegistryInner>,
}

impl Registry {
    /// Every subscription held by one of `ids` (for ACL changes that take channels away).
    pub fn subscriptions_of(&self, ids: &std::collections::HashSet<u64>) -> Vec<(u64, SubKind, Vec<u8>)> {
        let r = self.inner.lock();
        let mut out = Vec::new();
        let mut scan = |kind: SubKind, entries: &mut dyn Iterator<Item = (&Vec<u8>, &Subscribers)>| {
            for (name, subs) in entries {
                for id in subs.keys().filter(|id| ids.contains(id)) {
                    out.push((*id, kind, name.clone()));
                }
            }
        };
        scan(SubKind::Channel, &mut r.channels.iter());
        scan(SubKind::Pattern, &mut r.patterns.iter());
        scan(SubKind::Shard, &mut r.shard_channels.iter());
        out
    }

    /// INFO's `pubsub_channels`, `pubsub_patterns`, `pubsubshard_channels`.
    pub fn counts(&self) -> (usize, usize, usize) {
        let r = self.inner.lock();
        (r.channels.len(), r.patterns.len(), r.shard_channels.len())
    }
}

/// One client's subscriptions, kept by its own worker (boxed: absent for the vast majority of
/// connections, which never subscribe).
#[derive(Default, Debug)]
pub struct Subs {
    pub channels: IndexSet<Vec<u8>>,
    pub patterns: IndexSet<Vec<u8>>,
    pub shard: IndexSet<Vec<u8>>,
    /// Since when the output buffer has been over the pubsub class's soft limit (Unix ms).
    pub soft_limit_since_ms: Option<i64>,
}

impl Subs {
    fn set(&mut self, kind: SubKind) -> &mut IndexSet<Vec<u8>> {
        match kind {
            SubKind::Channel => &mut self.channels,
            SubKind::Pattern => &mut self.patterns,
            SubKind::Shard => &mut self.shard,
        }
    }

    /// Redis's `clientSubscriptionsCount` (channels + patterns).
    fn global_count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    pub fn total(&self) -> usize {
        self.global_count() + self.shard.len()
    }
}

/// What a subscriber receives: `message`, `pmessage` or `smessage`.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub client_id: u64,
    pub kind: SubKind,
    /// The pattern that matched (`pmessage` only).
    pub pattern: Option<Arc<[u8]>>,
    pub channel: Arc<[u8]>,
    pub message: Arc<[u8]>,
    /// A MONITOR line (`introspect`): `message` is the whole line, written as it is.
    pub monitor: bool,
    /// A CLIENT TRACKING message (`tracking`): `message` is the RESP payload (keys or a null).
    /// Carried as a delivery so it reaches a receiver on another worker the way pub/sub
    /// messages do; rejected: a message type of its own, which would duplicate the outbox.
    pub tracking: Option<crate::tracking::Push>,
}

/// Writes a delivery in the receiver's protocol (a push in RESP3, an array in RESP2).
pub fn write_delivery(c: &mut Conn, d: &Delivery) {
    if let Some(push) = d.tracking {
        crate::tracking::write_push(&mut c.out, c.subs.is_some(), push, &d.message);
        return;
    }
    if d.monitor {
        c.out.raw(&d.message);
        return;
    }
    match (&d.pattern, d.kind) {
        (Some(p), _) => {
            c.out.push(4);
            c.out.bulk(b"pmessage");
            c.out.bulk(p);
        }
        (None, SubKind::Shard) => {
            c.out.push(3);
            c.out.bulk(b"smessage");
        }
        (None, _) => {
            c.out.push(3);
            c.out.bulk(b"message");
        }
    }
    c.out.bulk(&d.channel);
    c.out.bulk(&d.message);
}

/// True if `c` still holds the subscription a delivery was addressed to: a message published
/// just before the client unsubscribed, still in flight, is dropped rather than sent after the
/// unsubscribe confirmation.
pub fn still_subscribed(c: &Conn, d: &Delivery) -> bool {
    if d.tracking.is_some() {
        // Judged by `write_push` with the receiver's state as it is now.
        return true;
    }
    if d.monitor {
        return c.info.monitor.load(Ordering::Relaxed);
    }
    let Some(s) = c.subs.as_ref() else {
        return false;
    };
    match (&d.pattern, d.kind) {
        (Some(p), _) => s.patterns.contains(&p[..]),
        (None, SubKind::Shard) => s.shard.contains(&d.channel[..]),
        (None, _) => s.channels.contains(&d.channel[..]),
    }
}

/// What the output buffer limit says about a pub/sub client after output was added.
#[derive(PartialEq, Eq, Debug)]
pub enum ObufVerdict {
    Keep,
    Close,
}

/// Redis's checkClientOutputBufferLimits for a client: the pubsub class's limit while it is
/// subscribed, the normal class's otherwise, on every pending reply byte. Over the hard limit
/// it must close at once; over the soft limit for longer than its seconds, too. A master's link
/// and a connection being handed to another worker are never closed by it. The one rule for the
/// three places that check (writing replies, delivering messages, the tick that sees a soft
/// limit run out with no new traffic). Rejected: leaving the first 16 KB out, as CLIENT LIST's
/// `omem` does after Redis's fixed buffer: Redis's replies built with a deferred length skip
/// that buffer, so a KEYS reply Redis counts whole would have escaped the limit.
pub fn output_limit_reached(c: &mut Conn, pubsub: &OutputBufferLimit, normal: &OutputBufferLimit, now_ms: i64) -> bool {
    if c.master || c.handoff.is_some() {
        return false;
    }
    let pending = c.pending_reply_bytes();
    let (since, limit) = match c.subs.as_mut() {
        Some(subs) => (&mut subs.soft_limit_since_ms, pubsub),
        None => (&mut c.obuf_soft_since_ms, normal),
    };
    limit.is_set() && output_limit_verdict(since, pending, limit, now_ms) == ObufVerdict::Close
}

/// Of `pending_bytes` of replies, those Redis would hold in its reply list rather than in the
/// client's fixed 16 KB buffer: CLIENT LIST's `omem`.
pub fn output_list_bytes(pending_bytes: usize) -> usize {
    pending_bytes.saturating_sub(crate::shared::CLIENT_BASE_MEM as usize)
}

/// The limit rule itself (Redis's `checkClientOutputBufferLimits`): `soft_since_ms` remembers
/// when the buffer first went over the soft limit and is cleared once it is back under.
fn output_limit_verdict(
    soft_since_ms: &mut Option<i64>,
    pending_bytes: usize,
    limit: &OutputBufferLimit,
    now_ms: i64,
) -> ObufVerdict {
    let used = pending_bytes as u64;
    if limit.hard_bytes > 0 && used >= limit.hard_bytes {
        return ObufVerdict::Close;
    }
    if limit.soft_bytes > 0 && used >= limit.soft_bytes {
        let since = *soft_since_ms.get_or_insert(now_ms);
        // Redis closes once more than the soft limit's seconds have passed, not at exactly that.
        if (now_ms - since) / 1000 > limit.soft_seconds {
            return ObufVerdict::Close;
        }
    } else {
        *soft_since_ms = None;
    }
    ObufVerdict::Keep
}

/// Writes a subscribe/unsubscribe confirmation.
fn confirm(out: &mut resp::ReplyBuf, what: &[u8], name: Option<&[u8]>, count: usize) {
    out.push(3);
    out.bulk(what);
    match name {
        Some(n) => out.bulk(n),
        None => out.null(),
    }
    out.int(count as i64);
}

const PUBSUB_HELP: &[&str] = &[
    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
    "HELP",
    "    Prints this help.",
];

/// The commands a RESP2 client may send while it holds subscriptions.
pub fn allowed_while_subscribed(name: &str) -> bool {
    matches!(
        name,
        "ping"
            | "subscribe"
            | "ssubscribe"
            | "unsubscribe"
            | "sunsubscribe"
            | "psubscribe"
            | "punsubscribe"
            | "quit"
            | "reset"
    )
}

impl Env {
    fn publish_shared_count(&self, c: &Conn) {
        if let Some(s) = c.subs.as_ref() {
            c.info.subs[0].store(s.channels.len() as u32, Ordering::Relaxed);
            c.info.subs[1].store(s.patterns.len() as u32, Ordering::Relaxed);
            c.info.subs[2].store(s.shard.len() as u32, Ordering::Relaxed);
        }
    }

    /// SUBSCRIBE / PSUBSCRIBE / SSUBSCRIBE: one confirmation per argument, counting the
    /// subscriptions of the same family (channels + patterns, or shard channels).
    pub fn subscribe(&mut self, c: &mut Conn, kind: SubKind, names: &[&[u8]]) {
        let what: &[u8] = match kind {
            SubKind::Channel => b"subscribe",
            SubKind::Pattern => b"psubscribe",
            SubKind::Shard => b"ssubscribe",
        };
        let id = c.info.id;
        let subs = c.subs.get_or_insert_with(Default::default);
        let mut reg = self.shared.pubsub.inner.lock();
        for name in names {
            if subs.set(kind).insert(name.to_vec()) {
                reg.map(kind).add(name, id, self.id);
            }
            let count = if kind == SubKind::Shard { subs.shard.len() } else { subs.global_count() };
            confirm(&mut c.out, what, Some(name), count);
        }
        drop(reg);
        self.publish_shared_count(c);
        self.pushed_until = Some(c.out.len());
    }

    /// UNSUBSCRIBE / PUNSUBSCRIBE / SUNSUBSCRIBE: with no names, from every subscription of
    /// that kind; with nothing to leave, one confirmation with a null name.
    pub fn unsubscribe(&mut self, c: &mut Conn, kind: SubKind, names: &[&[u8]], notify: bool) {
        let what: &[u8] = match kind {
            SubKind::Channel => b"unsubscribe",
            SubKind::Pattern => b"punsubscribe",
            SubKind::Shard => b"sunsubscribe",
        };
        let id = c.info.id;
        let Some(subs) = c.subs.as_mut() else {
            if notify {
                if names.is_empty() {
                    confirm(&mut c.out, what, None, 0);
                }
                for name in names {
                    confirm(&mut c.out, what, Some(name), 0);
                }
                self.pushed_until = Some(c.out.len());
            }
            return;
        };
        let targets: Vec<Vec<u8>> = if names.is_empty() {
            subs.set(kind).iter().cloned().collect()
        } else {
            names.iter().map(|n| n.to_vec()).collect()
        };
        let mut removed_any = false;
        let mut reg = self.shared.pubsub.inner.lock();
        for name in &targets {
            if subs.set(kind).shift_remove(name.as_slice()) {
                removed_any = true;
                reg.map(kind).remove(name, id);
            }
            if notify {
                let count = if kind == SubKind::Shard { subs.shard.len() } else { subs.global_count() };
                confirm(&mut c.out, what, Some(name), count);
            }
        }
        drop(reg);
        if notify && names.is_empty() && !removed_any {
            let count = if kind == SubKind::Shard { subs.shard.len() } else { subs.global_count() };
            confirm(&mut c.out, what, None, count);
        }
        if notify {
            self.pushed_until = Some(c.out.len());
        }
        self.publish_shared_count(c);
        if c.subs.as_ref().is_some_and(|s| s.total() == 0) {
            c.subs = None;
        }
    }

    /// Drops every subscription without confirmations (RESET, disconnect).
    pub fn unsubscribe_all(&mut self, c: &mut Conn) {
        if c.subs.is_none() {
            return;
        }
        for kind in [SubKind::Channel, SubKind::Pattern, SubKind::Shard] {
            self.unsubscribe(c, kind, &[], false);
        }
        for n in &c.info.subs {
            n.store(0, Ordering::Relaxed);
        }
        c.subs = None;
    }

    /// PUBLISH / SPUBLISH (and keyspace notifications): queues the message for every receiver
    /// and returns how many there are, as Redis counts them (a client subscribed to the channel
    /// and to a matching pattern counts, and receives, twice). A receiver that is `current`
    /// itself (a RESP3 client publishing to its own channel) gets the message in its buffer at
    /// once, before the command's reply, as in Redis.
    pub fn publish(&mut self, mut current: Option<&mut Conn>, shard: bool, channel: &[u8], message: &[u8]) -> usize {
        let shared = self.shared;
        for_each_receiver(shared, shard, channel, message, |d, worker| match current.as_deref_mut() {
            Some(c) if c.info.id == d.client_id => {
                write_delivery(c, &d);
                self.pushed_until = Some(c.out.len());
            }
            _ => self.queue_delivery(worker, d),
        })
    }

    /// Queues a delivery for a client of `worker` in the outbox (handed over at once when the
    /// batch for another worker is full).
    pub fn queue_delivery(&mut self, worker: usize, d: Delivery) {
        if self.outbox.len() <= worker {
            self.outbox.resize_with(worker + 1, Vec::new);
        }
        self.outbox[worker].push(d);
        if worker != self.id && self.outbox[worker].len() >= OUTBOX_BATCH_MAX {
            if let Some(h) = self.shared.workers().get(worker) {
                h.send(Msg::Deliver(std::mem::take(&mut self.outbox[worker])));
            }
        }
    }

    /// Publishes keyspace events a command reported (their classes were checked when they were
    /// reported): `__keyspace@<db>__:<key>` carrying the event name if `K` is on, and
    /// `__keyevent@<db>__:<event>` carrying the key if `E` is on, in that order, as Redis.
    pub fn publish_notifications(&mut self, notes: &[commands::Notification]) {
        let flags = self.data_config.notify_keyspace_events;
        let mut channel: Vec<u8> = Vec::new();
        for n in notes {
            if flags & commands::notify::NOTIFY_KEYSPACE != 0 {
                channel.clear();
                channel.extend_from_slice(format!("__keyspace@{}__:", n.db).as_bytes());
                channel.extend_from_slice(n.key.as_bytes());
                self.publish(None, false, &channel, n.event.as_bytes());
            }
            if flags & commands::notify::NOTIFY_KEYEVENT != 0 {
                channel.clear();
                channel.extend_from_slice(format!("__keyevent@{}__:{}", n.db, n.event).as_bytes());
                self.publish(None, false, &channel, n.key.as_bytes());
            }
        }
    }

    /// Hands the outbox to the target workers: one message per worker. Deliveries for this
    /// worker's own clients are returned for the caller to write.
    pub fn flush_outbox(&mut self) -> Vec<Delivery> {
        let mut local = Vec::new();
        for (w, batch) in self.outbox.iter_mut().enumerate() {
            if batch.is_empty() {
                continue;
            }
            let batch = std::mem::take(batch);
            if w == self.id {
                local = batch;
            } else if let Some(h) = self.shared.workers().get(w) {
                h.send(Msg::Deliver(batch));
            }
        }
        local
    }

    /// PUBSUB CHANNELS / NUMSUB / NUMPAT / SHARDCHANNELS / SHARDNUMSUB / HELP.
    pub fn pubsub_command(&mut self, c: &mut Conn, args: &[&[u8]]) {
        let sub = args[1];
        let reg = self.shared.pubsub.inner.lock();
        if args.len() == 2 && eq_ic(sub, "help") {
            drop(reg);
            c.out.array(PUBSUB_HELP.len());
            for l in PUBSUB_HELP {
                c.out.simple(l);
            }
        } else if (eq_ic(sub, "channels") || eq_ic(sub, "shardchannels")) && args.len() <= 3 {
            let map = if eq_ic(sub, "channels") { &reg.channels } else { &reg.shard_channels };
            let names: Vec<&Vec<u8>> =
                map.keys().filter(|ch| args.get(2).is_none_or(|p| string_match(p, ch, false))).collect();
            c.out.array(names.len());
            for n in names {
                c.out.bulk(n);
            }
        } else if eq_ic(sub, "numsub") || eq_ic(sub, "shardnumsub") {
            let map = if eq_ic(sub, "numsub") { &reg.channels } else { &reg.shard_channels };
            c.out.array((args.len() - 2) * 2);
            for ch in &args[2..] {
                c.out.bulk(ch);
                c.out.int(map.get(*ch).map_or(0, |s| s.len()) as i64);
            }
        } else if eq_ic(sub, "numpat") && args.len() == 2 {
            c.out.int(reg.patterns.len() as i64);
        } else {
            drop(reg);
            let name = String::from_utf8_lossy(&sub[..sub.len().min(128)]).into_owned();
            c.out.error(&format!("ERR unknown subcommand or wrong number of arguments for '{name}'. Try PUBSUB HELP."));
        }
    }
}

/// Calls `each` with the delivery for every receiver of `message` on `channel` (a client on the
/// channel and on a matching pattern counts and receives twice, as in Redis) and the worker that
/// owns it; returns how many there were. Holds the registry lock throughout.
fn for_each_receiver(
    shared: &Shared,
    shard: bool,
    channel: &[u8],
    message: &[u8],
    mut each: impl FnMut(Delivery, usize),
) -> usize {
    let reg = shared.pubsub.inner.lock();
    let kind = if shard { SubKind::Shard } else { SubKind::Channel };
    let exact = if shard { reg.shard_channels.get(channel) } else { reg.channels.get(channel) };
    if exact.is_none() && (shard || reg.patterns.is_empty()) {
        return 0;
    }
    let channel: Arc<[u8]> = Arc::from(channel);
    let message: Arc<[u8]> = Arc::from(message);
    let mut receivers = 0usize;
    let mut queue = |client_id: u64, worker: usize, pattern: Option<Arc<[u8]>>| {
        receivers += 1;
        each(
            Delivery {
                client_id,
                kind,
                pattern,
                channel: channel.clone(),
                message: message.clone(),
                monitor: false,
                tracking: None,
            },
            worker,
        );
    };
    if let Some(subs) = exact {
        for (&id, &w) in subs {
            queue(id, w, None);
        }
    }
    if !shard {
        for (pattern, subs) in reg.patterns.iter() {
            if !string_match(pattern, &channel, false) {
                continue;
            }
            let pattern: Arc<[u8]> = Arc::from(pattern.as_slice());
            for (&id, &w) in subs {
                queue(id, w, Some(pattern.clone()));
            }
        }
    }
    receivers
}

/// `removeChannelsInSlot`: every client subscribed to a shard channel of `slots` (slots this
/// node stopped serving) is unsubscribed from it, with the `sunsubscribe` push Redis sends.
/// The subscribers' own workers do it (`Msg::ShardUnsubscribe`), since only they may touch
/// their connections.
pub fn drop_shard_channels_in_slots(shared: &Shared, slots: &[u16]) {
    let mut lost = vec![false; keyspace::SLOT_COUNT];
    for &s in slots {
        if let Some(flag) = lost.get_mut(usize::from(s)) {
            *flag = true;
        }
    }
    let mut per_worker: Vec<Vec<(u64, Vec<u8>)>> = Vec::new();
    {
        let reg = shared.pubsub.inner.lock();
        for (channel, subs) in &reg.shard_channels {
            if !lost[usize::from(keyspace::key_hash_slot(channel))] {
                continue;
            }
            for (&id, &worker) in subs {
                if per_worker.len() <= worker {
                    per_worker.resize_with(worker + 1, Vec::new);
                }
                per_worker[worker].push((id, channel.clone()));
            }
        }
    }
    for (worker, list) in per_worker.into_iter().enumerate() {
        if let (false, Some(h)) = (list.is_empty(), shared.workers().get(worker)) {
            h.send(Msg::ShardUnsubscribe(list));
        }
    }
}

/// Delivers a message that arrived from another node over the cluster bus (a PUBLISH or
/// PUBLISHSHARD packet) to this node's subscribers, from a thread that is not a worker: one
/// `Msg::Deliver` batch per worker with receivers.
pub fn deliver_from_bus(shared: &Shared, shard: bool, channel: &[u8], message: &[u8]) {
    let mut batches: Vec<Vec<Delivery>> = Vec::new();
    for_each_receiver(shared, shard, channel, message, |d, worker| {
        if batches.len() <= worker {
            batches.resize_with(worker + 1, Vec::new);
        }
        batches[worker].push(d);
    });
    for (worker, batch) in batches.into_iter().enumerate() {
        if let (false, Some(h)) = (batch.is_empty(), shared.workers().get(worker)) {
            h.send(Msg::Deliver(batch));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: OutputBufferLimit = OutputBufferLimit { hard_bytes: 1000, soft_bytes: 100, soft_seconds: 2 };

    #[test]
    fn hard_limit_closes_at_once() {
        let mut since = None;
        assert_eq!(output_limit_verdict(&mut since, 999, &LIMIT, 0), ObufVerdict::Keep);
        assert_eq!(output_limit_verdict(&mut since, 1000, &LIMIT, 0), ObufVerdict::Close);
    }

    #[test]
    fn soft_limit_closes_only_after_its_seconds_over_it() {
        let mut since = None;
        assert_eq!(output_limit_verdict(&mut since, 150, &LIMIT, 10_000), ObufVerdict::Keep);
        assert_eq!(since, Some(10_000));
        assert_eq!(output_limit_verdict(&mut since, 150, &LIMIT, 12_999), ObufVerdict::Keep);
        assert_eq!(output_limit_verdict(&mut since, 150, &LIMIT, 13_000), ObufVerdict::Close);
    }

    #[test]
    fn dropping_under_the_soft_limit_restarts_its_clock() {
        let mut since = None;
        output_limit_verdict(&mut since, 150, &LIMIT, 0);
        assert_eq!(output_limit_verdict(&mut since, 50, &LIMIT, 1_500), ObufVerdict::Keep);
        assert_eq!(since, None);
        assert_eq!(output_limit_verdict(&mut since, 150, &LIMIT, 2_500), ObufVerdict::Keep);
        assert_eq!(output_limit_verdict(&mut since, 150, &LIMIT, 5_499), ObufVerdict::Keep);
        assert_eq!(output_limit_verdict(&mut since, 150, &LIMIT, 5_500), ObufVerdict::Close);
    }

    #[test]
    fn zero_limits_never_close() {
        let off = OutputBufferLimit { hard_bytes: 0, soft_bytes: 0, soft_seconds: 0 };
        let mut since = None;
        assert_eq!(output_limit_verdict(&mut since, usize::MAX, &off, 0), ObufVerdict::Keep);
    }

    #[test]
    fn only_pubsub_commands_are_allowed_in_the_resp2_subscribed_context() {
        for ok in [
            "ping",
            "subscribe",
            "ssubscribe",
            "unsubscribe",
            "sunsubscribe",
            "psubscribe",
            "punsubscribe",
            "quit",
            "reset",
        ] {
            assert!(allowed_while_subscribed(ok), "{ok}");
        }
        for no in ["get", "publish", "client|id", "hello", "pubsub|numsub"] {
            assert!(!allowed_while_subscribed(no), "{no}");
        }
    }
}
