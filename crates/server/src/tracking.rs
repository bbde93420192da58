//! Client-side caching: CLIENT TRACKING, after Redis 7.0.15's `tracking.c` (its semantics, our
//! own code). This module owns the server-wide tracking table (key name → ids of the clients
//! that read it in default mode), the BCAST prefix table (prefix → its clients and the keys
//! modified under it since the last broadcast), and each tracking client's mode (REDIRECT,
//! BCAST, OPTIN, OPTOUT, NOLOOP, a broken redirection).
//!
//! It must never write to a connection or take a slot lock: it may be called while a command's
//! slot locks are held (lock order: slot → `Tracking::inner` → `Shared::clients`), and every
//! message it produces is a [`Delivery`] that travels like a pub/sub message to the receiver's
//! own worker (`pubsub` outbox), which writes it with [`write_push`].
//!
//! As in Redis the table is keyed by key name only (not by database), and an entry is dropped
//! when the key is invalidated: every reader gets at most one message per read. Ids of clients
//! that stopped tracking stay in the table until their key is invalidated (Redis does not clean
//! them either: that would need a reverse index per client, paid on every read).

use crate::pubsub::{Delivery, SubKind};
use crate::shared::{ClientShared, Shared};
use parking_lot::Mutex;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// `ClientShared::tracking` bits (CLIENT LIST flags `t`, `R`, `B`) and `Tracker::flags`.
pub const ON: u8 = 1;
pub const BCAST: u8 = 2;
pub const OPTIN: u8 = 4;
pub const OPTOUT: u8 = 8;
pub const NOLOOP: u8 = 16;
pub const BROKEN_REDIR: u8 = 32;

/// The channel RESP2 clients subscribe to for redirected invalidations.
pub const CHANNEL: &[u8] = b"__redis__:invalidate";

/// What a tracking delivery writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Push {
    /// `invalidate` with the delivery's message (a RESP array of keys, or a null for a flush).
    /// `redirected`: the receiver is a REDIRECT target, so a RESP2 receiver subscribed to
    /// [`CHANNEL`] gets it as a pub/sub message.
    Invalidate { redirected: bool },
    /// `tracking-redir-broken <id>`: the redirection target is gone (RESP3 receivers only).
    RedirBroken(u64),
}

/// One tracking client's mode (Redis keeps it in the client's flags).
struct Tracker {
    info: Arc<ClientShared>,
    flags: u8,
    redirect: u64,
    prefixes: BTreeSet<Vec<u8>>,
}

/// A BCAST prefix: who listens and which keys under it changed since the last broadcast
/// (each with the id of the client that changed it last, for NOLOOP).
#[derive(Default)]
struct Bcast {
    clients: BTreeSet<u64>,
    keys: BTreeMap<Vec<u8>, u64>,
}

#[derive(Default)]
struct Inner {
    /// Key → ids of the clients that read it, sorted (binary search on insert).
    table: HashMap<Vec<u8>, Vec<u64>>,
    total_items: u64,
    prefixes: BTreeMap<Vec<u8>, Bcast>,
    clients: HashMap<u64, Tracker>,
    /// Rounds in a row `limit` ended still over the limit: each raises its effort by 100 keys,
    /// as Redis's `trackingLimitUsedSlots`.
    evict_rounds: u32,
}

/// Where the messages of one operation go: those of `current`'s own tracking (the client whose
/// command is running) are held back in `deferred` until its reply is written, as Redis's
/// `tracking_pending_keys`; those of another tracker that redirects to `current` go in
/// `immediate`, to be written where the command's reply begins (Redis writes them at once, and
/// a command replies after it modifies); the rest in `send`, each with the receiver's worker.
pub struct Sink {
    pub current: u64,
    pub deferred: Vec<(usize, Delivery)>,
    pub immediate: Vec<Delivery>,
    pub send: Vec<(usize, Delivery)>,
}

impl Sink {
    pub fn new(current: u64) -> Sink {
        Sink { current, deferred: Vec::new(), immediate: Vec::new(), send: Vec::new() }
    }
}

/// The registry; one mutex, taken only while some client tracks or the table is not empty.
#[derive(Default)]
pub struct Tracking {
    /// True while the hooks have work (a tracking client, a remembered key or a prefix): the
    /// one atomic load a command pays when nobody tracks, as `watch_count` for WATCH. Alone on
    /// its line: the mutex and counters below are written by every tracking operation.
    active: LineOf<AtomicBool>,
    /// Keys wait in some prefix for the end-of-iteration broadcast.
    bcast_pending: AtomicBool,
    /// Keys in the table, for the per-command `tracking-table-max-keys` check without the lock.
    keys: AtomicUsize,
    inner: Mutex<Inner>,
}

/// A value alone on its cache line (128 bytes: adjacent-line prefetching pairs 64-byte lines).
#[derive(Default)]
#[repr(align(128))]
struct LineOf<T>(T);

/// An error of CLIENT TRACKING ON, with Redis's text.
#[derive(Debug, PartialEq, Eq)]
pub struct OptionError(pub String);

/// CLIENT TRACKING ON's options, parsed.
#[derive(Default, Debug)]
pub struct Options {
    pub redirect: u64,
    pub flags: u8,
    pub prefixes: Vec<Vec<u8>>,
}

/// The keys as one RESP array (the payload of `invalidate`).
fn key_array<'k>(keys: impl ExactSizeIterator<Item = &'k [u8]>) -> Arc<[u8]> {
    let mut out = format!("*{}\r\n", keys.len()).into_bytes();
    for k in keys {
        out.extend_from_slice(format!("${}\r\n", k.len()).as_bytes());
        out.extend_from_slice(k);
        out.extend_from_slice(b"\r\n");
    }
    out.into()
}

/// The null a flush sends, in the tracking client's protocol (Redis's `shared.null[resp]`).
fn null_for(info: &ClientShared) -> Arc<[u8]> {
    if info.resp.load(Ordering::Relaxed) >= 3 {
        Arc::from(&b"_\r\n"[..])
    } else {
        Arc::from(&b"$-1\r\n"[..])
    }
}

fn delivery(to: u64, push: Push, message: Arc<[u8]>) -> Delivery {
    Delivery {
        client_id: to,
        kind: SubKind::Channel,
        pattern: None,
        channel: Arc::from(CHANNEL),
        message,
        monitor: false,
        tracking: Some(push),
    }
}

/// Redis's `sendTrackingMessage` up to the choice of receiver: the tracker itself, its
/// REDIRECT target, or (target gone) the tracker with `tracking-redir-broken`. Whether the
/// receiver can take it (RESP3, or a subscribed RESP2 redirect target) is judged when it is
/// written, by the receiver's worker, which knows its protocol and subscriptions for sure.
fn route(shared: &Shared, t: &mut Tracker, message: Arc<[u8]>, sink: &mut Sink) {
    let (receiver, worker, push) = if t.redirect != 0 {
        let target = shared.clients.lock().get(&t.redirect).map(|r| (r.id, r.worker));
        match target {
            Some((id, worker)) => (id, worker, Push::Invalidate { redirected: true }),
            None => {
                t.flags |= BROKEN_REDIR;
                t.info.tracking.fetch_or(BROKEN_REDIR, Ordering::Relaxed);
                (t.info.id, t.info.worker, Push::RedirBroken(t.redirect))
            }
        }
    } else {
        (t.info.id, t.info.worker, Push::Invalidate { redirected: false })
    };
    let d = delivery(receiver, push, message);
    if t.info.id == sink.current {
        sink.deferred.push((worker, d));
    } else if receiver == sink.current {
        sink.immediate.push(d);
    } else {
        sink.send.push((worker, d));
    }
}

/// Writes a tracking delivery into a receiver's output (Redis's `sendTrackingMessage` tail):
/// RESP3 receivers get `>2 invalidate <keys>`; a RESP2 REDIRECT target subscribed to anything
/// gets a `message` on [`CHANNEL`]; anyone else nothing.
pub fn write_push(out: &mut resp::ReplyBuf, subscribed: bool, push: Push, message: &[u8]) {
    match push {
        Push::RedirBroken(id) => {
            if out.is_resp3() {
                out.push(2);
                out.bulk(b"tracking-redir-broken");
                out.int(id as i64);
            }
        }
        Push::Invalidate { redirected } => {
            if out.is_resp3() {
                out.push(2);
                out.bulk(b"invalidate");
            } else if redirected && subscribed {
                out.push(3);
                out.bulk(b"message");
                out.bulk(CHANNEL);
            } else {
                return;
            }
            out.raw(message);
        }
    }
}

/// Parses CLIENT TRACKING's options (from `args[3]` on). REDIRECT's target must exist now.
pub fn parse_options(shared: &Shared, args: &[&[u8]]) -> Result<Options, OptionError> {
    use commands::args::eq_ic;
    let mut o = Options::default();
    let mut redirect_given = false;
    let mut j = 3;
    while j < args.len() {
        let more = j + 1 < args.len();
        let a = args[j];
        if eq_ic(a, "redirect") && more {
            j += 1;
            if redirect_given && o.redirect != 0 {
                return Err(OptionError("ERR A client can only redirect to a single other client".into()));
            }
            let id = commands::args::parse_i64(args[j])
                .ok_or_else(|| OptionError(commands::errors::NOT_INTEGER.to_string()))?;
            redirect_given = true;
            // Redis asks for the target to exist now, even though it may go away later.
            if id < 0 || !shared.clients.lock().contains_key(&(id as u64)) {
                return Err(OptionError("ERR The client ID you want redirect to does not exist".into()));
            }
            o.redirect = id as u64;
        } else if eq_ic(a, "bcast") {
            o.flags |= BCAST;
        } else if eq_ic(a, "optin") {
            o.flags |= OPTIN;
        } else if eq_ic(a, "optout") {
            o.flags |= OPTOUT;
        } else if eq_ic(a, "noloop") {
            o.flags |= NOLOOP;
        } else if eq_ic(a, "prefix") && more {
            j += 1;
            o.prefixes.push(args[j].to_vec());
        } else {
            return Err(OptionError(commands::errors::SYNTAX.to_string()));
        }
        j += 1;
    }
    Ok(o)
}

/// Two prefixes overlap when one starts with the other (Redis's `stringCheckPrefix`).
fn overlap(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().min(b.len());
    a[..n] == b[..n]
}

impl Tracking {
    /// One atomic load: whether any hook has work.
    #[inline]
    pub fn active(&self) -> bool {
        self.active.0.load(Ordering::SeqCst)
    }

    pub fn bcast_pending(&self) -> bool {
        self.bcast_pending.load(Ordering::Relaxed)
    }

    pub fn key_count(&self) -> usize {
        self.keys.load(Ordering::Relaxed)
    }

    /// Called under the lock after every change. `active` is stored only when it flips, so a
    /// busy tracker does not keep writing the line every command reads.
    fn refresh_active(&self, inner: &Inner) {
        self.keys.store(inner.table.len(), Ordering::Relaxed);
        let on = !inner.clients.is_empty() || !inner.table.is_empty() || !inner.prefixes.is_empty();
        if self.active.0.load(Ordering::Relaxed) != on {
            self.active.0.store(on, Ordering::SeqCst);
        }
    }

    /// CLIENT TRACKING ON (Redis's checks in its order, then `enableTracking`).
    pub fn enable(&self, info: &Arc<ClientShared>, o: Options) -> Result<(), OptionError> {
        let mut inner = self.inner.lock();
        let current = inner.clients.get(&info.id).map(|t| (t.flags, t.prefixes.clone()));
        if o.flags & BCAST == 0 && !o.prefixes.is_empty() {
            return Err(OptionError("ERR PREFIX option requires BCAST mode to be enabled".into()));
        }
        if let Some((flags, _)) = &current {
            if (flags & BCAST) != (o.flags & BCAST) {
                return Err(OptionError("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.".into()));
            }
        }
        if o.flags & BCAST != 0 && o.flags & (OPTIN | OPTOUT) != 0 {
            return Err(OptionError("ERR OPTIN and OPTOUT are not compatible with BCAST".into()));
        }
        if o.flags & OPTIN != 0 && o.flags & OPTOUT != 0 {
            return Err(OptionError("ERR You can't specify both OPTIN mode and OPTOUT mode".into()));
        }
        if let Some((flags, _)) = &current {
            if (o.flags & OPTIN != 0 && flags & OPTOUT != 0) || (o.flags & OPTOUT != 0 && flags & OPTIN != 0) {
                return Err(OptionError("ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.".into()));
            }
        }
        if o.flags & BCAST != 0 {
            let existing = current.as_ref().map(|(_, p)| p.clone()).unwrap_or_default();
            for (i, p) in o.prefixes.iter().enumerate() {
                if let Some(old) = existing.iter().find(|old| overlap(old, p)) {
                    return Err(OptionError(format!(
                        "ERR Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                        String::from_utf8_lossy(p),
                        String::from_utf8_lossy(old)
                    )));
                }
                if let Some(other) = o.prefixes[i + 1..].iter().find(|q| overlap(p, q)) {
                    return Err(OptionError(format!(
                        "ERR Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                        String::from_utf8_lossy(p),
                        String::from_utf8_lossy(other)
                    )));
                }
            }
        }
        let id = info.id;
        let tracker = inner.clients.entry(id).or_insert_with(|| Tracker {
            info: info.clone(),
            flags: 0,
            redirect: 0,
            prefixes: BTreeSet::new(),
        });
        // Re-enabling keeps the prefixes (they are added to) and resets the other options.
        tracker.flags = ON | (o.flags & (BCAST | OPTIN | OPTOUT | NOLOOP));
        tracker.redirect = o.redirect;
        let mut added: Vec<Vec<u8>> = Vec::new();
        if o.flags & BCAST != 0 {
            let wanted = if o.prefixes.is_empty() { vec![Vec::new()] } else { o.prefixes };
            for p in wanted {
                if tracker.prefixes.insert(p.clone()) {
                    added.push(p);
                }
            }
        }
        let flags = tracker.flags;
        // Counted in the client's memory (Redis adds its prefix tree's nodes): the client's copy
        // of each prefix and its id in the prefix's listener set.
        let added_bytes: usize =
            added.iter().map(|p| std::mem::size_of::<Vec<u8>>() + p.len() + std::mem::size_of::<u64>()).sum();
        info.tracking_prefix_bytes.fetch_add(added_bytes as u64, Ordering::Relaxed);
        for p in added {
            inner.prefixes.entry(p).or_default().clients.insert(id);
        }
        info.tracking.store(flags & (ON | BCAST), Ordering::Relaxed);
        info.tracking_redirect.store(o.redirect, Ordering::Relaxed);
        self.refresh_active(&inner);
        Ok(())
    }

    /// CLIENT TRACKING OFF, RESET, disconnect (Redis's `disableTracking`).
    pub fn disable(&self, info: &ClientShared) {
        if info.tracking.load(Ordering::Relaxed) == 0 {
            return;
        }
        let mut inner = self.inner.lock();
        if let Some(t) = inner.clients.remove(&info.id) {
            for p in &t.prefixes {
                let now_empty = match inner.prefixes.get_mut(p) {
                    Some(b) => {
                        b.clients.remove(&info.id);
                        b.clients.is_empty()
                    }
                    None => false,
                };
                if now_empty {
                    inner.prefixes.remove(p);
                }
            }
        }
        info.tracking.store(0, Ordering::Relaxed);
        info.tracking_redirect.store(0, Ordering::Relaxed);
        info.tracking_prefix_bytes.store(0, Ordering::Relaxed);
        self.refresh_active(&inner);
    }

    /// The mode of a client for CLIENT TRACKINGINFO: (flags, redirect, prefixes).
    pub fn info_of(&self, id: u64) -> Option<(u8, u64, Vec<Vec<u8>>)> {
        let inner = self.inner.lock();
        inner.clients.get(&id).map(|t| (t.flags, t.redirect, t.prefixes.iter().cloned().collect()))
    }

    /// Redis's `trackingRememberKeys`: after a read-only command of client `id`, its keys are
    /// remembered, unless OPTIN without CLIENT CACHING YES, or OPTOUT with CLIENT CACHING NO.
    /// Called with the command's slot locks held, so a write racing the read either ran before
    /// it (the value read is new) or invalidates after this (the reader is told).
    pub fn remember<'k>(&self, id: u64, caching: bool, keys: impl Iterator<Item = &'k [u8]>) {
        let mut inner = self.inner.lock();
        let Some(t) = inner.clients.get(&id) else { return };
        if t.flags & BCAST != 0 || (t.flags & OPTIN != 0 && !caching) || (t.flags & OPTOUT != 0 && caching) {
            return;
        }
        let inner = &mut *inner;
        for k in keys {
            let ids = match inner.table.get_mut(k) {
                Some(ids) => ids,
                None => inner.table.entry(k.to_vec()).or_default(),
            };
            if let Err(at) = ids.binary_search(&id) {
                ids.insert(at, id);
                inner.total_items += 1;
            }
        }
        self.refresh_active(inner);
    }

    /// Redis's `trackingInvalidateKey` for keys a command of `sink.current` modified (or that
    /// expired; `sink.current` 0 outside any client's command): BCAST prefixes note them for
    /// the broadcast; default-mode readers get one message each and the keys are forgotten.
    pub fn invalidate<'k>(&self, shared: &Shared, keys: impl Iterator<Item = &'k [u8]>, sink: &mut Sink) {
        let mut inner = self.inner.lock();
        let inner = &mut *inner;
        for key in keys {
            if !inner.prefixes.is_empty() {
                for (p, b) in inner.prefixes.iter_mut() {
                    if key.starts_with(p) {
                        b.keys.insert(key.to_vec(), sink.current);
                        self.bcast_pending.store(true, Ordering::Relaxed);
                    }
                }
            }
            let Some(ids) = inner.table.remove(key) else { continue };
            inner.total_items -= ids.len() as u64;
            let mut message: Option<Arc<[u8]>> = None;
            for id in ids {
                let Some(t) = inner.clients.get_mut(&id) else { continue };
                if t.flags & BCAST != 0 || (t.flags & NOLOOP != 0 && id == sink.current) {
                    continue;
                }
                let m = message.get_or_insert_with(|| key_array(std::iter::once(key))).clone();
                route(shared, t, m, sink);
            }
        }
        self.refresh_active(inner);
    }

    /// Redis's `trackingInvalidateKeysOnFlush`: every tracking client (BCAST ones too) gets an
    /// invalidation with a null instead of keys, and the table is emptied.
    pub fn invalidate_all(&self, shared: &Shared, sink: &mut Sink) {
        let mut inner = self.inner.lock();
        let inner = &mut *inner;
        for t in inner.clients.values_mut() {
            let null = null_for(&t.info);
            route(shared, t, null, sink);
        }
        inner.table.clear();
        inner.total_items = 0;
        self.refresh_active(inner);
    }

    /// `invalidate_all` from a thread that is not a worker (a replica that loaded its master's
    /// dataset): the messages go straight to the receivers' worker inboxes.
    pub fn invalidate_all_now(&self, shared: &Shared) {
        if !self.active() {
            return;
        }
        let mut sink = Sink::new(0);
        self.invalidate_all(shared, &mut sink);
        for (worker, d) in sink.send {
            if let Some(h) = shared.workers().get(worker) {
                h.send(crate::shared::Msg::Deliver(vec![d]));
            }
        }
    }

    /// Redis's `trackingBroadcastInvalidationMessages`, once per event-loop iteration: each
    /// prefix with modified keys sends all of them in one message to each of its clients (a
    /// NOLOOP client without the keys it modified itself).
    pub fn broadcast(&self, shared: &Shared, sink: &mut Sink) {
        if !self.bcast_pending.swap(false, Ordering::Relaxed) {
            return;
        }
        let mut inner = self.inner.lock();
        let inner = &mut *inner;
        for b in inner.prefixes.values_mut() {
            if b.keys.is_empty() {
                continue;
            }
            let keys = std::mem::take(&mut b.keys);
            let all = key_array(keys.keys().map(|k| k.as_slice()));
            for id in &b.clients {
                let Some(t) = inner.clients.get_mut(id) else { continue };
                let message = if t.flags & NOLOOP != 0 {
                    let own: Vec<&[u8]> =
                        keys.iter().filter(|(_, writer)| **writer != *id).map(|(k, _)| k.as_slice()).collect();
                    if own.is_empty() {
                        continue;
                    }
                    key_array(own.into_iter())
                } else {
                    all.clone()
                };
                route(shared, t, message, sink);
            }
        }
    }

    /// Redis's `trackingLimitUsedSlots` (every tick): while the table holds more keys than
    /// `tracking-table-max-keys`, keys are invalidated (their readers told) to make room, up
    /// to 100 per round the limit has been exceeded in a row.
    pub fn limit(&self, shared: &Shared, max_keys: usize, sink: &mut Sink) {
        if max_keys == 0 || !self.active() {
            return;
        }
        let victims: Vec<Vec<u8>> = {
            let mut inner = self.inner.lock();
            if inner.table.len() <= max_keys {
                inner.evict_rounds = 0;
                return;
            }
            let effort = 100 * (inner.evict_rounds as usize + 1);
            let excess = inner.table.len() - max_keys;
            if excess > effort {
                inner.evict_rounds += 1;
            } else {
                inner.evict_rounds = 0;
            }
            // HashMap order stands for Redis's random walk: any key may go.
            inner.table.keys().take(excess.min(effort)).cloned().collect()
        };
        self.invalidate_table_only(shared, &victims, sink);
    }

    /// Invalidates keys of the table without noting them for BCAST prefixes (the key did
    /// not change: Redis passes `bcast = 0` for a table eviction).
    fn invalidate_table_only(&self, shared: &Shared, keys: &[Vec<u8>], sink: &mut Sink) {
        let mut inner = self.inner.lock();
        let inner = &mut *inner;
        for key in keys {
            let Some(ids) = inner.table.remove(key) else { continue };
            inner.total_items -= ids.len() as u64;
            let message = key_array(std::iter::once(key.as_slice()));
            for id in ids {
                let Some(t) = inner.clients.get_mut(&id) else { continue };
                if t.flags & BCAST != 0 {
                    continue;
                }
                route(shared, t, message.clone(), sink);
            }
        }
        self.refresh_active(inner);
    }

    /// INFO: (tracking_clients, tracking_total_keys, tracking_total_items, tracking_total_prefixes).
    pub fn counts(&self) -> (usize, usize, u64, usize) {
        let inner = self.inner.lock();
        (inner.clients.len(), inner.table.len(), inner.total_items, inner.prefixes.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_overlap_when_one_starts_with_the_other() {
        assert!(overlap(b"FOO", b"FOOBAR"));
        assert!(overlap(b"BARB", b"BAR"));
        assert!(overlap(b"", b"x"));
        assert!(!overlap(b"FOO", b"BAR"));
    }

    #[test]
    fn key_arrays_are_resp_arrays_of_bulk_strings() {
        assert_eq!(&*key_array([&b"a"[..], b"bc"].into_iter()), b"*2\r\n$1\r\na\r\n$2\r\nbc\r\n");
    }

    #[test]
    fn pushes_reach_only_receivers_that_can_take_them() {
        let mut out = resp::ReplyBuf::new(false);
        write_push(&mut out, true, Push::Invalidate { redirected: false }, b"*0\r\n");
        assert!(out.buf.is_empty(), "a RESP2 tracker without redirection gets nothing");
        write_push(&mut out, true, Push::Invalidate { redirected: true }, b"*0\r\n");
        assert_eq!(out.buf, b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*0\r\n");
        let mut out = resp::ReplyBuf::new(true);
        write_push(&mut out, false, Push::RedirBroken(7), b"");
        assert_eq!(out.buf, b">2\r\n$21\r\ntracking-redir-broken\r\n:7\r\n");
    }
}
