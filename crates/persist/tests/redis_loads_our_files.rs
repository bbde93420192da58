//! Debian's redis-server 7.0.15 loads what we write: an RDB file and DUMP payloads made by
//! `persist` from random values of every type are handed to a real redis-server, and every
//! value it reads back must equal the original. The server runs on a free 127.0.0.1 port and
//! is killed by its pid.

use keyspace::stream::{Consumer, ConsumerGroup, PendingEntry, Stream, StreamId, ENTRIES_READ_UNKNOWN};
use keyspace::value::{HashFields, SetMembers};
use keyspace::{Score, Sds, StrValue, Value, ZSetValue};
use persist::rdb::RdbWriter;
use persist::{dump_payload, EncodeLimits};
use std::collections::VecDeque;
use support::{start_redis, Client, Reply};

mod support;

/// A small deterministic generator (no test may depend on the clock or the OS's randomness).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n.max(1)
    }

    fn bytes(&mut self) -> Vec<u8> {
        match self.next(4) {
            0 => (self.next(2_000_000) as i64 - 1_000_000).to_string().into_bytes(),
            1 => (0..self.next(30)).map(|_| self.next(256) as u8).collect(),
            2 => b"ab".repeat(1 + self.next(500) as usize),
            _ => format!("v{}", self.next(1 << 40)).into_bytes(),
        }
    }

    fn value(&mut self) -> Value {
        let n = [1, 3, 20, 300][self.next(4) as usize];
        match self.next(6) {
            5 => Value::Stream(Box::new(self.stream(n - 1))),
            0 => Value::Str(StrValue::from_bytes(&self.bytes())),
            1 => Value::List(Box::new((0..n).map(|_| Sds::new(&self.bytes())).collect::<VecDeque<_>>())),
            2 => {
                let mut h = HashFields::default();
                for i in 0..n {
                    h.insert(Sds::new(format!("f{i}").as_bytes()), Sds::new(&self.bytes()));
                }
                Value::Hash(Box::new(h))
            }
            3 => {
                let mut s = SetMembers::default();
                while s.len() < n {
                    s.insert(Sds::new(&self.bytes()));
                }
                Value::Set(Box::new(s))
            }
            _ => {
                let mut z = ZSetValue::default();
                for i in 0..n {
                    let score = [1.5, -2.0, 1e300, f64::NEG_INFINITY, (i as f64) * 0.25][self.next(5) as usize];
                    let m = Sds::new(format!("m{i}").as_bytes());
                    z.scores.insert(m.clone(), score);
                    z.ordered.insert((Score(score), m));
                }
                Value::ZSet(Box::new(z))
            }
        }
    }

    /// A stream of `n` entries with increasing IDs (runs within a millisecond and jumps), entries
    /// that share field names and entries that do not, and up to three groups whose pending
    /// entries are spread over their consumers (some consumers have none).
    fn stream(&mut self, n: usize) -> Stream {
        let mut s = Stream::new();
        let mut id = StreamId::new(self.next(1 << 42), self.next(3));
        for _ in 0..n {
            let fields: Vec<Sds> = if self.next(3) > 0 {
                vec![Sds::new(b"sensor"), Sds::new(&self.bytes()), Sds::new(b"7"), Sds::new(&self.bytes())]
            } else {
                (0..1 + self.next(3))
                    .flat_map(|j| [Sds::new(format!("f{j}").as_bytes()), Sds::new(&self.bytes())])
                    .collect()
            };
            s.entries.insert(id, fields.into_boxed_slice());
            id = match self.next(3) {
                0 => StreamId::new(id.ms, id.seq + 1 + self.next(5)),
                1 => StreamId::new(id.ms + 1 + self.next(1000), self.next(3)),
                _ => StreamId::new(id.ms + 1 + self.next(1 << 30), 0),
            };
        }
        s.last_id = s.entries.keys().next_back().copied().unwrap_or(id);
        s.first_id = s.entries.keys().next().copied().unwrap_or(StreamId::MIN);
        s.max_deleted_entry_id = if self.next(2) == 0 { StreamId::MIN } else { StreamId::new(self.next(1000), 1) };
        s.entries_added = n as u64 + self.next(10);
        let ids: Vec<StreamId> = s.entries.keys().copied().collect();
        for g in 0..self.next(4) {
            let last_id = ids.get(self.next(ids.len() as u64 + 1) as usize).copied().unwrap_or(s.last_id);
            let entries_read = if self.next(2) == 0 { ENTRIES_READ_UNKNOWN } else { self.next(1000) as i64 };
            let mut group = ConsumerGroup::new(last_id, entries_read);
            let consumers: Vec<Sds> =
                (0..1 + self.next(3)).map(|c| Sds::new(format!("consumer-{c}").as_bytes())).collect();
            for name in &consumers {
                group
                    .consumers
                    .insert(name.clone(), Consumer { seen_time_ms: self.next(1 << 45), pending: Default::default() });
            }
            for _ in 0..self.next(12) {
                let Some(&pending_id) = ids.get(self.next(ids.len() as u64) as usize) else { break };
                let owner = consumers[self.next(consumers.len() as u64) as usize].clone();
                if group.pel.contains_key(&pending_id) {
                    continue;
                }
                if let Some(consumer) = group.consumers.get_mut(&owner) {
                    consumer.pending.insert(pending_id);
                }
                let pending = PendingEntry {
                    consumer: owner,
                    delivery_time_ms: self.next(1 << 45),
                    delivery_count: self.next(20),
                };
                group.pel.insert(pending_id, pending);
            }
            s.groups.insert(Sds::new(format!("group-{g}").as_bytes()), group);
        }
        s
    }
}

/// What redis-server reports for `key`, to compare with what we gave it.
fn read_back(c: &mut Client, key: &[u8]) -> Vec<Vec<u8>> {
    let flat = |r: Reply| -> Vec<Vec<u8>> {
        match r {
            Reply::Array(items) => items
                .into_iter()
                .map(|i| match i {
                    Reply::Bulk(Some(b)) => b,
                    other => panic!("unexpected element {other:?}"),
                })
                .collect(),
            Reply::Bulk(Some(b)) => vec![b],
            other => panic!("unexpected reply {other:?}"),
        }
    };
    let Reply::Status(t) = c.call(&[b"TYPE", key]) else { panic!("TYPE") };
    let mut v = match t.as_str() {
        "string" => flat(c.call(&[b"GET", key])),
        "list" => flat(c.call(&[b"LRANGE", key, b"0", b"-1"])),
        "hash" => flat(c.call(&[b"HGETALL", key])),
        "set" => flat(c.call(&[b"SMEMBERS", key])),
        "zset" => flat(c.call(&[b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"])),
        // Redis keeps a loaded stream's nodes as they are and DUMP writes them back: decoded,
        // they show that every entry, counter and group arrived. (Compared uncompressed: our
        // LZF may pick other matches than Redis's for the same bytes.)
        "stream" => {
            let dump = flat(c.call(&[b"DUMP", key])).concat();
            let value = persist::restore_payload(&dump).expect("our decoder reads Redis's DUMP");
            vec![dump_payload(&value, &uncompressed())]
        }
        other => panic!("{key:?} has type {other}"),
    };
    if t == "hash" {
        let mut pairs: Vec<Vec<u8>> =
            v.chunks(2).map(|p| [p[0].clone(), b"=".to_vec(), p[1].clone()].concat()).collect();
        pairs.sort();
        v = pairs;
    } else if t == "set" {
        v.sort();
    }
    v
}

/// The same view of a value we hold, as redis-server would print it.
fn expected(value: &Value) -> Vec<Vec<u8>> {
    match value {
        Value::Str(s) => vec![s.to_vec()],
        Value::List(l) => l.iter().map(|e| e.as_bytes().to_vec()).collect(),
        Value::Hash(h) => {
            let mut v: Vec<Vec<u8>> = h.iter().map(|(f, x)| [f.as_bytes(), b"=", x.as_bytes()].concat()).collect();
            v.sort();
            v
        }
        Value::Set(s) => {
            let mut v: Vec<Vec<u8>> = s.iter().map(|m| m.as_bytes().to_vec()).collect();
            v.sort();
            v
        }
        Value::ZSet(z) => {
            z.ordered.iter().flat_map(|(score, m)| [m.as_bytes().to_vec(), resp_score(score.0)]).collect()
        }
        Value::Stream(_) => vec![dump_payload(value, &uncompressed())],
    }
}

fn uncompressed() -> EncodeLimits {
    EncodeLimits { compress: false, ..EncodeLimits::default() }
}

/// ZRANGE WITHSCORES prints scores with `%.17g` (and inf/-inf).
fn resp_score(score: f64) -> Vec<u8> {
    if score.is_infinite() {
        return if score < 0.0 { b"-inf".to_vec() } else { b"inf".to_vec() };
    }
    resp::format_double(score).into_bytes()
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("redoxide-persist-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[test]
fn redis_server_loads_an_rdb_file_we_wrote() {
    let mut rng = Lcg(7);
    let values: Vec<(Vec<u8>, Value)> = (0..80).map(|i| (format!("key:{i}").into_bytes(), rng.value())).collect();
    let mut w = RdbWriter::new(EncodeLimits::default(), true);
    w.aux(b"redis-ver", b"7.0.15");
    w.aux(b"redis-bits", b"64");
    let mut file = Vec::new();
    w.select_db(0, values.len() as u64, 1);
    for (i, (k, v)) in values.iter().enumerate() {
        // One key with an expiry far in the future: it must survive the load with a TTL.
        w.key(k, v, (i == 0).then_some(4_000_000_000_000));
        file.extend(w.take_bytes());
    }
    file.extend(w.finish());
    let dir = temp_dir("rdb");
    std::fs::write(dir.join("dump.rdb"), &file).expect("write rdb");
    let redis = start_redis(dir, &[]);
    let mut c = Client::connect(redis.port);
    assert_eq!(c.call(&[b"DBSIZE"]), Reply::Int(values.len() as i64), "redis-server loaded every key");
    for (k, v) in &values {
        assert_eq!(read_back(&mut c, k), expected(v), "key {}", String::from_utf8_lossy(k));
    }
    let Reply::Int(ttl) = c.call(&[b"PTTL", b"key:0"]) else { panic!("PTTL") };
    assert!(ttl > 0, "the expiry survived: {ttl}");
}

#[test]
fn redis_server_restores_our_dump_payloads() {
    let dir = temp_dir("dump");
    let redis = start_redis(dir, &[]);
    let mut c = Client::connect(redis.port);
    let mut rng = Lcg(11);
    for i in 0..120 {
        let v = rng.value();
        let key = format!("k{i}").into_bytes();
        let payload = dump_payload(&v, &EncodeLimits::default());
        assert_eq!(c.call(&[b"RESTORE", &key, b"0", &payload]), Reply::Status("OK".into()), "value {i}: {v:?}");
        assert_eq!(read_back(&mut c, &key), expected(&v), "value {i}");
    }
}
