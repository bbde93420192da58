//! Debian's redis-server 7.0.15 loads what we write: an RDB file and DUMP payloads made by
//! `persist` from random values of every type are handed to a real redis-server, and every
//! value it reads back must equal the original. The server runs on a free 127.0.0.1 port and
//! is killed by its pid.

use keyspace::value::{HashFields, SetMembers};
use keyspace::{Score, Sds, StrValue, Value, ZSetValue};
use persist::rdb::RdbWriter;
use persist::{dump_payload, EncodeLimits};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const REDIS_SERVER: &str = "/usr/bin/redis-server";

struct Redis {
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start_redis(dir: std::path::PathBuf) -> Redis {
    let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
    let child = Command::new(REDIS_SERVER)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .args(["--dir", dir.to_str().expect("utf-8 dir"), "--dbfilename", "dump.rdb"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server 7.0.15 must be installed (compat/install-deps.sh)");
    let redis = Redis { child, port, dir };
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    redis
}

/// A minimal RESP client: enough for the replies these checks read.
struct Client(BufReader<TcpStream>);

#[derive(Debug, PartialEq, Clone)]
enum Reply {
    Status(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Vec<Reply>),
}

impl Client {
    fn connect(port: u16) -> Client {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        Client(BufReader::new(s))
    }

    fn call(&mut self, args: &[&[u8]]) -> Reply {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        self.0.get_mut().write_all(&out).expect("write");
        self.read()
    }

    fn read(&mut self) -> Reply {
        let mut line = String::new();
        self.0.read_line(&mut line).expect("read");
        let body = line.trim_end().to_string();
        match body.as_bytes().first() {
            Some(b'+') => Reply::Status(body[1..].to_string()),
            Some(b'-') => panic!("redis-server answered an error: {body}"),
            Some(b':') => Reply::Int(body[1..].parse().expect("int")),
            Some(b'$') => {
                let n: i64 = body[1..].parse().expect("len");
                if n < 0 {
                    return Reply::Bulk(None);
                }
                let mut b = vec![0u8; n as usize + 2];
                self.0.read_exact(&mut b).expect("bulk");
                b.truncate(n as usize);
                Reply::Bulk(Some(b))
            }
            Some(b'*') => {
                let n: usize = body[1..].parse().expect("len");
                Reply::Array((0..n).map(|_| self.read()).collect())
            }
            _ => panic!("unexpected reply line {body:?}"),
        }
    }
}

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
        match self.next(5) {
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
        Value::Stream(_) => panic!("this test generates no streams (their codec is not written yet)"),
    }
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
    let redis = start_redis(dir);
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
    let redis = start_redis(dir);
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
