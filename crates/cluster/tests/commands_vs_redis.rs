//! CLUSTER subcommands against Debian's redis-server 7.0.15 in cluster mode: the same command
//! sequence runs on a real server and on our machine (a fresh node with the same ports and an
//! empty keyspace), and every deterministic reply must be the same RESP2 value once each side's
//! own node id is replaced by a placeholder. The server runs on free 127.0.0.1 ports in a temp
//! dir and is killed by its pid, also when an assertion fails.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

use std::time::Duration;

use cluster::machine::{Config, Machine};
use cluster::{cluster_command, EmptyKeyspace, Reply};

mod support;
use support::Redis;
const NOW_MS: u64 = 1_700_000_000_000;

/// A RESP2 value, as the wire carries it.
#[derive(Debug, PartialEq, Clone)]
enum Resp {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Vec<Resp>),
}

struct Client(BufReader<TcpStream>);

impl Client {
    fn connect(port: u16) -> Client {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        Client(BufReader::new(s))
    }

    fn call(&mut self, args: &[&[u8]]) -> Resp {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        self.0.get_mut().write_all(&out).expect("write");
        self.read()
    }

    fn read(&mut self) -> Resp {
        let mut line = String::new();
        self.0.read_line(&mut line).expect("read");
        let body = line.trim_end_matches("\r\n").to_string();
        match body.as_bytes().first() {
            Some(b'+') => Resp::Simple(body[1..].to_string()),
            Some(b'-') => Resp::Error(body[1..].to_string()),
            Some(b':') => Resp::Int(body[1..].parse().expect("int")),
            Some(b'$') => {
                let n: i64 = body[1..].parse().expect("len");
                if n < 0 {
                    return Resp::Bulk(None);
                }
                let mut b = vec![0u8; n as usize + 2];
                self.0.read_exact(&mut b).expect("bulk");
                b.truncate(n as usize);
                Resp::Bulk(Some(b))
            }
            Some(b'*') => {
                let n: usize = body[1..].parse().expect("len");
                Resp::Array((0..n).map(|_| self.read()).collect())
            }
            _ => panic!("unexpected reply line {body:?}"),
        }
    }
}

/// How our `Reply` travels in RESP2: maps flatten to arrays, verbatim text is a bulk string.
fn to_resp2(reply: Reply) -> Resp {
    match reply {
        Reply::Ok => Resp::Simple("OK".into()),
        Reply::Status(s) => Resp::Simple(s),
        Reply::Int(i) => Resp::Int(i),
        Reply::Bulk(b) => Resp::Bulk(Some(b)),
        Reply::Verbatim(s) => Resp::Bulk(Some(s.into_bytes())),
        Reply::Array(items) => Resp::Array(items.into_iter().map(to_resp2).collect()),
        Reply::Map(pairs) => Resp::Array(pairs.into_iter().flat_map(|(k, v)| [to_resp2(k), to_resp2(v)]).collect()),
        Reply::Null => Resp::Bulk(None),
        Reply::Error(e) => Resp::Error(e),
    }
}

/// Replaces `id` by `$MYID` everywhere in a reply (texts and bulks).
fn redact(resp: Resp, id: &str) -> Resp {
    let swap = |s: String| s.replace(id, "$MYID");
    match resp {
        Resp::Simple(s) => Resp::Simple(swap(s)),
        Resp::Error(s) => Resp::Error(swap(s)),
        Resp::Bulk(Some(b)) => match String::from_utf8(b) {
            Ok(s) => Resp::Bulk(Some(swap(s).into_bytes())),
            Err(e) => Resp::Bulk(Some(e.into_bytes())),
        },
        Resp::Array(items) => Resp::Array(items.into_iter().map(|r| redact(r, id)).collect()),
        other => other,
    }
}

struct Pair {
    redis: Client,
    ours: Machine,
    _server: Redis,
}

impl Pair {
    fn new() -> Pair {
        let server = support::start_redis("cmd-vs-redis", &[]);
        let (port, cport) = (server.port, server.cport);
        let redis = Client::connect(server.port);
        let config = Config { port, cport, ..Config::default() };
        let ours = Machine::fresh(config, 42, NOW_MS);
        Pair { redis, ours, _server: server }
    }

    fn ids(&mut self) -> (String, String) {
        let theirs = match self.redis.call(&[b"CLUSTER", b"MYID"]) {
            Resp::Bulk(Some(id)) => String::from_utf8(id).expect("utf-8 id"),
            other => panic!("MYID gave {other:?}"),
        };
        (theirs, self.ours.myself().to_string())
    }

    /// Runs `CLUSTER <words>` on both (`$MYID` stands for each side's own id) and returns both
    /// replies with the ids redacted.
    fn both(&mut self, words: &str) -> (Resp, Resp) {
        let (their_id, our_id) = self.ids();
        let theirs_words: Vec<String> = words.split(' ').map(|w| w.replace("$MYID", &their_id)).collect();
        let ours_words: Vec<String> = words.split(' ').map(|w| w.replace("$MYID", &our_id)).collect();
        let mut args: Vec<&[u8]> = vec![b"CLUSTER"];
        args.extend(theirs_words.iter().map(|w| w.as_bytes()));
        let theirs = redact(self.redis.call(&args), &their_id);
        let our_args: Vec<&[u8]> = ours_words.iter().map(|w| w.as_bytes()).collect();
        let (reply, _actions) = cluster_command(&mut self.ours, &our_args, &EmptyKeyspace, NOW_MS);
        let ours = redact(to_resp2(reply), &our_id);
        (theirs, ours)
    }

    /// CLUSTER INFO on both: the same fields in the same order, the same values except
    /// `cluster_size`, which Redis only recomputes once its 2 s writable delay has passed.
    fn same_info(&mut self) {
        let (theirs, ours) = self.both("info");
        let (theirs, ours) = (info_fields(&theirs), info_fields(&ours));
        let keys = |f: &[(String, String)]| f.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
        assert_eq!(keys(&ours), keys(&theirs));
        for (field, value) in &theirs {
            if field != "cluster_size" {
                assert_eq!(ours.iter().find(|(k, _)| k == field).map(|(_, v)| v), Some(value), "{field}");
            }
        }
    }

    fn same(&mut self, words: &str) -> Resp {
        let (theirs, ours) = self.both(words);
        assert_eq!(ours, theirs, "CLUSTER {words}");
        ours
    }
}

fn info_fields(resp: &Resp) -> Vec<(String, String)> {
    let Resp::Bulk(Some(text)) = resp else { panic!("INFO is a bulk string: {resp:?}") };
    let text = String::from_utf8(text.clone()).expect("utf-8");
    assert!(text.ends_with("\r\n"));
    text.split("\r\n")
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (k, v) = l.split_once(':').expect("field:value");
            (k.to_string(), v.to_string())
        })
        .collect()
}

#[test]
fn errors_help_and_keyslot_match_redis() {
    let mut pair = Pair::new();
    for words in [
        "FOO",
        "meet",
        "meet 1.2.3.4",
        "MEET a b c d",
        "nodes x",
        "help x",
        "addslots",
        "addslotsrange 1",
        "addslotsrange 1 2 3",
        "setslot 1",
        "setslot 1 foo",
        "setslot 1 stable x",
        "setslot 99999 stable",
        "setslot x stable",
        "setslot 1 migrating abc",
        "setslot 1 importing abc",
        "setslot 1 node abc",
        "info x",
        "reset x y",
        "reset foo",
        "failover a b",
        "failover",
        "failover x",
        "keyslot",
        "countkeysinslot a",
        "countkeysinslot 99999",
        "countkeysinslot -1",
        "countkeysinslot 01",
        "countkeysinslot 5",
        "getkeysinslot 1 a",
        "getkeysinslot -1 1",
        "getkeysinslot 1 -1",
        "getkeysinslot 1 10",
        "set-config-epoch -1",
        "set-config-epoch x",
        "meet 1.2.3.4 x",
        "meet 1.2.3.4 1 x",
        "meet foo 1",
        "meet 1.2.3.4 70000",
        "meet 1.2.3.4 0",
        "meet 1.2.3.4 -5",
        "meet 1.2.3.4 6000 70000",
        "meet ::1 1.5",
        "addslots 99999",
        "addslots x",
        "addslots 01",
        "addslots 1.0",
        "delslots 1",
        "delslotsrange 1 5",
        "addslots 1 1",
        "addslotsrange 5 3",
        "addslotsrange 5 6 6 7",
        "forget abc",
        "forget $MYID",
        "replicate abc",
        "replicate $MYID",
        "slaves abc",
        "replicas $MYID",
        "slaves $MYID",
        "count-failure-reports abc",
        "count-failure-reports $MYID",
        "myid x",
        "links",
        "help",
        "HeLp",
    ] {
        pair.same(words);
    }
    // The unknown-subcommand error quotes at most 128 bytes, with CR/LF turned into spaces.
    pair.same(&format!("foo{}", "x".repeat(200)));
    for key in
        ["foo", "bar", "{user1000}.following", "user1000", "foo{}{bar}", "foo{{bar}}zap", "{}", "a{b}c{d}", "\u{e9}"]
    {
        pair.same(&format!("keyslot {key}"));
    }
}

#[test]
fn slot_assignment_replies_match_redis() {
    let mut pair = Pair::new();
    pair.same_info();
    pair.same("nodes");
    pair.same("slots");
    pair.same("shards");

    pair.same("set-config-epoch 5");
    pair.same("set-config-epoch 6");
    pair.same("bumpepoch");
    pair.same("addslotsrange 0 100 200 300");
    pair.same("addslots 5000 5002");
    pair.same("addslots 100");
    pair.same("addslotsrange 90 95");
    pair.same("nodes");
    pair.same("slots");
    pair.same("shards");
    pair.same("countkeysinslot 5000");

    // Open migrations show on the myself line; NODE to myself while importing takes the slot.
    pair.same("setslot 0 migrating $MYID");
    pair.same("setslot 400 importing $MYID");
    pair.same("setslot 0 importing $MYID");
    pair.same("setslot 401 migrating $MYID");
    pair.same("nodes");
    pair.same("setslot 400 node $MYID");
    pair.same("nodes");
    pair.same("setslot 0 stable");
    pair.same("setslot 401 node $MYID");
    pair.same("nodes");
    pair.same("bumpepoch");

    pair.same("delslotsrange 0 50 5000 5000");
    pair.same("delslots 5002 60");
    pair.same("delslots 60");
    pair.same("slots");
    pair.same("shards");
    pair.same("nodes");

    pair.same_info();

    pair.same("flushslots");
    pair.same("saveconfig");
    pair.same("slots");
    pair.same("nodes");
    pair.same("reset soft");
    pair.same("nodes");
    pair.same("reset hard");
    pair.same("nodes");
    pair.same_info();
    pair.same("bumpepoch");
    // A handshake adds a node (its name is random on both sides, so only the count is compared).
    pair.same("meet 127.0.0.1 1");
    pair.same("meet 127.0.0.1 1");
    let (theirs, ours) = pair.both("info");
    let known = |f: Vec<(String, String)>| f.into_iter().find(|(k, _)| k == "cluster_known_nodes");
    assert_eq!(known(info_fields(&ours)), known(info_fields(&theirs)));
}

#[test]
fn hostname_and_endpoint_types_match_redis() {
    for (endpoint, ours_type) in [
        ("ip", cluster::EndpointType::Ip),
        ("hostname", cluster::EndpointType::Hostname),
        ("unknown-endpoint", cluster::EndpointType::UnknownEndpoint),
    ] {
        for hostname in ["", "node-1.example"] {
            let mut pair = Pair::new();
            let set = |pair: &mut Pair, name: &str, value: &str| {
                let reply = pair.redis.call(&[b"CONFIG", b"SET", name.as_bytes(), value.as_bytes()]);
                assert_eq!(reply, Resp::Simple("OK".into()), "CONFIG SET {name} {value}");
            };
            set(&mut pair, "cluster-preferred-endpoint-type", endpoint);
            set(&mut pair, "cluster-announce-hostname", hostname);
            let config = Config {
                hostname: Some(hostname.to_string()),
                preferred_endpoint_type: ours_type,
                ..pair.ours.config().clone()
            };
            pair.ours = Machine::new(pair.ours.state.clone(), config, 1, NOW_MS);
            pair.same("addslotsrange 0 10 20 30");
            pair.same("slots");
            pair.same("shards");
            pair.same("nodes");
        }
    }
}
