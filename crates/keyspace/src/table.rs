//! One hash slot's keys: the entries, their expiry times, and lazy expiry on access.

use crate::value::{FastMap, Value};
#[cfg(doc)]
use crate::Db;
use crate::{CompactMap, Sds};

/// What an eviction sample ranks keys by (see [`SlotTable::sample`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rank {
    /// The access clock: idle time under LRU, rarity under LFU (whichever [`crate::access`]
    /// is set to).
    Access,
    /// Nearness of the expiry time (volatile-ttl).
    Ttl,
    /// Nothing: the random policies take any sampled key.
    Any,
}

/// The keys of one slot of one database. Always used under that slot's lock.
#[derive(Default, Debug)]
pub struct SlotTable {
    entries: CompactMap,
    /// Absolute expiry in Unix milliseconds, only for keys that have one (most keys don't, so a
    /// separate map costs nothing for them; a field in every entry would).
    expires: Expires,
    /// Keys removed here because their time had come (for INFO `expired_keys`).
    pub expired_count: u64,
}

/// The expiry times of one slot's keys: no map at all while none has one. Most slots never hold
/// a key with a TTL, and keeping this field one pointer wide is what lets a slot's lock and
/// table header share a single cache line (see `Db`), the first line every command touches.
#[derive(Default, Debug)]
struct Expires(Option<Box<FastMap<Sds, i64>>>);

impl Expires {
    #[inline]
    fn is_empty(&self) -> bool {
        self.0.as_ref().is_none_or(|m| m.is_empty())
    }

    fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |m| m.len())
    }

    #[inline]
    fn get(&self, key: &[u8]) -> Option<&i64> {
        self.0.as_ref()?.get(key)
    }

    fn remove(&mut self, key: &[u8]) -> Option<i64> {
        let map = self.0.as_mut()?;
        let removed = map.remove(key);
        if map.is_empty() {
            self.0 = None;
        }
        removed
    }

    fn insert(&mut self, key: Sds, at_ms: i64) {
        self.0.get_or_insert_with(Default::default).insert(key, at_ms);
    }

    fn iter(&self) -> impl Iterator<Item = (&Sds, &i64)> {
        self.0.iter().flat_map(|m| m.iter())
    }
}

impl SlotTable {
    /// Prefetch hint for a key a command will soon look up: see [`Db::prefetch`].
    #[inline]
    pub fn prefetch_segment(&self, key: &[u8]) {
        self.entries.prefetch_segment(key);
    }

    #[inline]
    pub fn prefetch_bucket(&self, key: &[u8]) {
        self.entries.prefetch_bucket(key);
    }

    #[inline]
    pub fn prefetch_value(&self, key: &[u8]) {
        self.entries.prefetch_value(key);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn expires_len(&self) -> usize {
        self.expires.len()
    }

    /// True if `key`'s expiry time has passed and this lookup must treat it as missing. Under
    /// [`ExpiryMode::Delete`] the key is also removed (and logged for propagation).
    #[inline]
    fn expire_if_needed(&mut self, key: &[u8], now_ms: i64) -> bool {
        if self.expires.is_empty() {
            return false;
        }
        match self.expires.get(key) {
            Some(&at) if at <= now_ms => match EXPIRY_MODE.with(std::cell::Cell::get) {
                ExpiryMode::Delete => {
                    self.expires.remove(key);
                    self.entries.remove(key);
                    self.expired_count += 1;
                    log_expired(key);
                    true
                }
                ExpiryMode::Hide => true,
                ExpiryMode::Keep => false,
            },
            _ => false,
        }
    }

    /// The live value of `key`, expiring it first if its time has passed. An access: it updates
    /// the key's access clock (Redis's `lookupKey`).
    #[inline]
    pub fn get(&mut self, key: &[u8], now_ms: i64) -> Option<&Value> {
        if self.expire_if_needed(key, now_ms) {
            return None;
        }
        self.entries.get_touch(key)
    }

    #[inline]
    pub fn get_mut(&mut self, key: &[u8], now_ms: i64) -> Option<&mut Value> {
        if self.expire_if_needed(key, now_ms) {
            return None;
        }
        self.entries.get_mut_touch(key)
    }

    /// The live value of `key` without counting as an access (Redis's `LOOKUP_NOTOUCH`: OBJECT,
    /// TYPE), still expiring it if its time has passed.
    pub fn peek(&mut self, key: &[u8], now_ms: i64) -> Option<&Value> {
        if self.expire_if_needed(key, now_ms) {
            return None;
        }
        self.entries.get(key)
    }

    /// The stored value of `key` and its access clock, whether or not its time has passed, with
    /// nothing expired or touched (a bare `dictFind`, as DEBUG OBJECT looks keys up).
    pub fn stored(&self, key: &[u8]) -> Option<(&Value, u32)> {
        Some((self.entries.get(key)?, self.entries.clock(key).unwrap_or(0)))
    }

    /// The access clock of a live key (see [`crate::access`]), without touching it.
    pub fn clock(&mut self, key: &[u8], now_ms: i64) -> Option<u32> {
        if self.expire_if_needed(key, now_ms) {
            return None;
        }
        self.entries.clock(key)
    }

    /// Sets the access clock of `key` (RESTORE IDLETIME / FREQ); false if it is absent.
    pub fn set_clock(&mut self, key: &[u8], clock: u32) -> bool {
        self.entries.set_clock(key, clock)
    }

    /// Eviction sampling: calls `f` with up to `max` keys and how much the policy wants them
    /// gone (higher first), read from a run of entries starting at position `start` (the caller's
    /// random number). `volatile` samples only keys with a TTL, as Redis samples its `expires`
    /// dict for the volatile policies.
    pub fn sample(
        &self,
        volatile: bool,
        rank: Rank,
        start: usize,
        max: usize,
        now_ms: i64,
        mut f: impl FnMut(&Sds, u64),
    ) {
        let score = |clock: u32, expire: Option<i64>| match rank {
            Rank::Access => crate::access::eviction_score(clock, now_ms),
            // The nearest expiry is evicted first; a key without one ranks last.
            Rank::Ttl => expire.map_or(0, |at| u64::MAX - at.max(0) as u64),
            Rank::Any => 0,
        };
        if volatile {
            let len = self.expires.len();
            if len == 0 {
                return;
            }
            // Walking to a random offset of a hash map is linear, but a slot holds a few dozen
            // keys even with millions in the database (they are spread over 16384 slots).
            let first = start % len;
            let take = max.min(len);
            let tail = self.expires.iter().skip(first).take(take);
            let head = self.expires.iter().take(take.saturating_sub(len - first));
            for (k, &at) in tail.chain(head) {
                let clock = self.entries.clock(k).unwrap_or(0);
                f(k, score(clock, Some(at)));
            }
        } else {
            self.entries.sample(start, max, |k, _, clock| f(k, score(clock, self.expires.get(k).copied())));
        }
    }

    /// Removes `key` for eviction, past its expiry or not, and gives back the table memory
    /// that frees (see `CompactMap::shrink_to_fit`); returns its value if it was there.
    pub fn evict(&mut self, key: &[u8]) -> Option<Value> {
        if !self.expires.is_empty() {
            self.expires.remove(key);
            if let Some(map) = self.expires.0.as_mut() {
                map.shrink_to_fit();
            }
        }
        let value = self.entries.remove(key);
        self.entries.shrink_to_fit();
        value
    }

    /// True if `key` is stored, live or past its expiry but not yet removed (Redis's
    /// `dictFind` on the main dict, where `contains` is its `lookupKey`).
    pub fn holds(&self, key: &[u8]) -> bool {
        self.entries.contains_key(key)
    }

    /// True if `key` exists and is live.
    pub fn contains(&mut self, key: &[u8], now_ms: i64) -> bool {
        self.get(key, now_ms).is_some()
    }

    /// Stores `value` under `key`, dropping any previous value and expiry (SET semantics).
    #[inline]
    pub fn set(&mut self, key: &[u8], value: Value) {
        if !self.expires.is_empty() {
            self.expires.remove(key);
        }
        if self.entries.upsert(key, value).is_none() {
            log_new(key);
        }
    }

    /// Stores `value` under `key`, keeping an existing expiry (used for in-place updates that
    /// replace the whole value, e.g. SET KEEPTTL).
    pub fn set_keep_ttl(&mut self, key: &[u8], value: Value) {
        if self.entries.upsert(key, value).is_none() {
            log_new(key);
        }
    }

    /// Inserts an entry for a key known to be absent, returning its value slot.
    pub fn insert_new(&mut self, key: &[u8], value: Value) -> &mut Value {
        log_new(key);
        self.entries.insert_new(Sds::new(key), value)
    }

    /// Removes `key` and its expiry; returns the value if it was live.
    pub fn remove(&mut self, key: &[u8], now_ms: i64) -> Option<Value> {
        if self.expire_if_needed(key, now_ms) {
            return None;
        }
        if !self.expires.is_empty() {
            self.expires.remove(key);
        }
        self.entries.remove(key)
    }

    /// The absolute expiry (Unix ms) of a live key, if it has one.
    pub fn expire_at(&self, key: &[u8]) -> Option<i64> {
        self.expires.get(key).copied()
    }

    /// Sets the expiry of an existing key. Returns false if the key does not exist.
    pub fn set_expire(&mut self, key: &[u8], at_ms: i64) -> bool {
        match self.entries.get_key_value(key) {
            Some((k, _)) => {
                let k = k.clone();
                self.expires.insert(k, at_ms);
                true
            }
            None => false,
        }
    }

    /// Removes the expiry of a key; true if it had one.
    pub fn persist(&mut self, key: &[u8]) -> bool {
        self.expires.remove(key).is_some()
    }

    /// Iterates every entry (expired-but-not-yet-removed ones included; callers filter with
    /// [`SlotTable::is_expired`]).
    pub fn iter(&self) -> impl Iterator<Item = (&Sds, &Value)> {
        self.entries.iter()
    }

    /// [`SlotTable::iter`] with each entry's bytes prefetched ahead of it, for walks that read
    /// them all (see [`CompactMap::iter_prefetching`]).
    pub fn iter_prefetching(&self) -> impl Iterator<Item = (&Sds, &Value)> {
        self.entries.iter_prefetching()
    }

    pub fn keys(&self) -> impl Iterator<Item = &Sds> {
        self.entries.keys()
    }

    /// True if the key has an expiry that has passed.
    pub fn is_expired(&self, key: &[u8], now_ms: i64) -> bool {
        matches!(self.expires.get(key), Some(&at) if at <= now_ms)
    }

    /// Whether some key's time has passed at `now_ms` (what [`SlotTable::expire_some`] would
    /// remove).
    pub fn has_due_expiry(&self, now_ms: i64) -> bool {
        self.expires.iter().any(|(_, &at)| at <= now_ms)
    }

    /// Active expiry: removes up to `max` expired keys; returns how many were removed.
    pub fn expire_some(&mut self, now_ms: i64, max: usize) -> usize {
        if self.expires.is_empty() {
            return 0;
        }
        let dead: Vec<Sds> =
            self.expires.iter().filter(|(_, &at)| at <= now_ms).take(max).map(|(k, _)| k.clone()).collect();
        for k in &dead {
            self.expires.remove(k.as_bytes());
            self.entries.remove(k.as_bytes());
            log_expired(k.as_bytes());
        }
        self.expired_count += dead.len() as u64;
        dead.len()
    }

    /// Removes every key.
    pub fn clear(&mut self) {
        self.entries = CompactMap::default();
        self.expires = Expires::default();
    }

    /// Moves all content out, leaving the table empty (SWAPDB, FLUSHALL ASYNC).
    pub fn take(&mut self) -> SlotTable {
        std::mem::take(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lazy_expiry() {
        let mut t = SlotTable::default();
        t.set(b"k", Value::string(b"v"));
        assert!(t.set_expire(b"k", 100));
        assert!(t.get(b"k", 99).is_some());
        assert!(t.get(b"k", 100).is_none());
        assert_eq!(t.len(), 0);
        assert_eq!(t.expires_len(), 0);
        assert_eq!(t.expired_count, 1);
    }

    #[test]
    fn set_clears_ttl_keep_ttl_keeps_it() {
        let mut t = SlotTable::default();
        t.set(b"k", Value::string(b"v"));
        t.set_expire(b"k", 1000);
        t.set_keep_ttl(b"k", Value::string(b"w"));
        assert_eq!(t.expire_at(b"k"), Some(1000));
        t.set(b"k", Value::string(b"x"));
        assert_eq!(t.expire_at(b"k"), None);
    }
}

/// A per-thread log of keys (expired, created), kept only while switched on. A thread-local
/// rather than a field of the table: the table header must stay within its cache line, and only
/// the rare expiring or creating access touches it.
type KeyLog = std::cell::RefCell<Option<Vec<Sds>>>;

thread_local! {
    /// Keys expired by this thread since the log was last taken (keyspace notifications of
    /// class `x`, and propagation of the deletions).
    static EXPIRED_LOG: KeyLog = const { std::cell::RefCell::new(None) };
    /// The same keys for CLIENT TRACKING. Kept apart from `EXPIRED_LOG` because that one is
    /// taken by whoever propagates or notifies first; sharing it would make each consumer
    /// depend on the others' order.
    static TRACKING_LOG: KeyLog = const { std::cell::RefCell::new(None) };
    /// Keys this thread added to a database (keyspace notifications of class `n`).
    static NEW_LOG: KeyLog = const { std::cell::RefCell::new(None) };
}

/// Bound on logged keys between two takes: a mass expiry beyond it is still carried out, but
/// only the first keys get an event.
const KEY_LOG_MAX: usize = 100_000;

fn log_push(log: &'static std::thread::LocalKey<KeyLog>, key: &[u8]) {
    log.with(|l| {
        if let Some(v) = l.borrow_mut().as_mut() {
            if v.len() < KEY_LOG_MAX {
                v.push(Sds::new(key));
            }
        }
    });
}

fn log_switch(log: &'static std::thread::LocalKey<KeyLog>, on: bool) {
    log.with(|l| {
        let mut l = l.borrow_mut();
        if on != l.is_some() {
            *l = if on { Some(Vec::new()) } else { None };
        }
    });
}

fn log_take(log: &'static std::thread::LocalKey<KeyLog>) -> Vec<Sds> {
    log.with(|l| l.borrow_mut().as_mut().map(std::mem::take).unwrap_or_default())
}

fn log_expired(key: &[u8]) {
    log_push(&TRACKING_LOG, key);
    log_push(&EXPIRED_LOG, key);
}

fn log_new(key: &[u8]) {
    log_push(&NEW_LOG, key);
}

/// What a lookup on the calling thread does with a key whose time has passed: Redis's
/// `expireIfNeeded`, which deletes on a master but only hides on a replica, since a replica's
/// keys change only by its master's stream (the master's DEL follows). A replica that deleted
/// on its own would diverge as soon as the two clocks disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiryMode {
    /// A master (or a writable replica's own write): remove the key, log it for propagation.
    Delete,
    /// A replica serving a client: the key reads as missing but stays stored.
    Hide,
    /// A replica applying its master's stream: the key lives until the master says otherwise.
    Keep,
}

thread_local! {
    static EXPIRY_MODE: std::cell::Cell<ExpiryMode> = const { std::cell::Cell::new(ExpiryMode::Delete) };
}

/// Sets the calling thread's [`ExpiryMode`] for the lookups that follow.
pub fn set_expiry_mode(mode: ExpiryMode) {
    EXPIRY_MODE.with(|m| m.set(mode));
}

/// The calling thread's [`ExpiryMode`].
pub fn expiry_mode() -> ExpiryMode {
    EXPIRY_MODE.with(std::cell::Cell::get)
}

/// Turns the tracking log of expired keys on or off for the calling thread.
pub fn set_tracking_log(on: bool) {
    log_switch(&TRACKING_LOG, on);
}

/// Takes the keys the calling thread expired since the last take of the tracking log.
pub fn take_tracking_log() -> Vec<Sds> {
    log_take(&TRACKING_LOG)
}

/// Turns logging of expired keys on or off for the calling thread.
pub fn set_expired_log(on: bool) {
    log_switch(&EXPIRED_LOG, on);
}

/// Takes the keys the calling thread expired since the last take (empty while logging is off).
pub fn take_expired_log() -> Vec<Sds> {
    log_take(&EXPIRED_LOG)
}

/// Turns logging of created keys on or off for the calling thread.
pub fn set_new_log(on: bool) {
    log_switch(&NEW_LOG, on);
}

/// Takes the keys the calling thread created since the last take (empty while logging is off).
pub fn take_new_log() -> Vec<Sds> {
    log_take(&NEW_LOG)
}
