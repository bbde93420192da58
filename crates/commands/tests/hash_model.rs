//! The hash group through the registry, as the server runs it: exact replies captured from
//! redis-server 7.0.15 for edge cases (wrong types, empty results, counts, float formatting,
//! RESP2 and RESP3), and a property test driving random command sequences against a
//! `BTreeMap` model.

use commands::{key_positions, Ctx, DataConfig, Effects, Kind, LookupError, Registry};
use keyspace::{Keyspace, LockSet};
use proptest::prelude::*;
use resp::ReplyBuf;
use std::collections::{BTreeMap, BTreeSet};
// The in-process harness shared with set_model (textually included: each tests/ file is its own crate).
include!("common/registry_harness.rs");

fn bulk(s: &str) -> Reply {
    Reply::Bulk(s.as_bytes().to_vec())
}

// ---------------------------------------------------------------------------------------------
// Edge cases, replies checked against redis-server 7.0.15
// ---------------------------------------------------------------------------------------------

const WRONGTYPE: &[u8] = b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";

#[test]
fn exact_replies_match_redis() {
    let mut s = Server::new();
    let cases: &[(&str, &[u8])] = &[
        ("hset h a 1 b", b"-ERR wrong number of arguments for 'hset' command\r\n"),
        ("hset h a 1 b 2", b":2\r\n"),
        ("hset h a 10", b":0\r\n"),
        ("hget h a", b"$2\r\n10\r\n"),
        ("hget h zz", b"$-1\r\n"),
        ("hget nokey a", b"$-1\r\n"),
        ("hmset h a", b"-ERR wrong number of arguments for 'hmset' command\r\n"),
        ("hmset h a 1", b"+OK\r\n"),
        ("hincrby h b x", b"-ERR value is not an integer or out of range\r\n"),
        ("hset h s foo", b":1\r\n"),
        ("hincrby h s 1", b"-ERR hash value is not an integer\r\n"),
        ("hincrbyfloat h s 1", b"-ERR hash value is not a float\r\n"),
        ("hincrbyfloat h b inf", b"-ERR value is NaN or Infinity\r\n"),
        ("hincrbyfloat h b nan", b"-ERR value is not a valid float\r\n"),
        ("hincrbyfloat h b 0x10", b"$2\r\n18\r\n"),
        ("hincrbyfloat h b 1e4933", b"-ERR value is not a valid float\r\n"),
        ("hincrbyfloat h b 1,5", b"-ERR value is not a valid float\r\n"),
        ("hset h big 9223372036854775807", b":1\r\n"),
        ("hincrby h big 1", b"-ERR increment or decrement would overflow\r\n"),
        ("hincrbyfloat h big 1", b"$19\r\n9223372036854775808\r\n"),
        ("hincrby h nf 99999999999999999999", b"-ERR value is not an integer or out of range\r\n"),
        ("hincrby nokey2 f -5", b":-5\r\n"),
        ("hincrbyfloat n4 f 0.1", b"$3\r\n0.1\r\n"),
        ("hincrbyfloat n4 f 0.1", b"$3\r\n0.2\r\n"),
        ("hincrbyfloat n4 f 0.1", b"$3\r\n0.3\r\n"),
        ("hincrbyfloat n4 f -0.3", b"$1\r\n0\r\n"),
        ("hincrbyfloat n4 f 1e-18", b"$1\r\n0\r\n"),
        ("hincrbyfloat n5 f 1e-5", b"$7\r\n0.00001\r\n"),
        ("hset fl f 1.5e308", b":1\r\n"),
        ("hset fl g inf", b":1\r\n"),
        ("hincrbyfloat fl g 1", b"-ERR increment would produce NaN or Infinity\r\n"),
        ("hstrlen h big", b":19\r\n"),
        ("hstrlen h nope", b":0\r\n"),
        ("hstrlen nokey f", b":0\r\n"),
        ("hexists h a", b":1\r\n"),
        ("hexists h nope", b":0\r\n"),
        ("hexists nokey a", b":0\r\n"),
        ("hlen nokey", b":0\r\n"),
        ("hmget nokey a b", b"*2\r\n$-1\r\n$-1\r\n"),
        ("hgetall nokey", b"*0\r\n"),
        ("hkeys nokey", b"*0\r\n"),
        ("hvals nokey", b"*0\r\n"),
        ("hdel nokey a", b":0\r\n"),
        ("hsetnx n6 a 1", b":1\r\n"),
        ("hsetnx n6 a 2", b":0\r\n"),
        ("hget n6 a", b"$1\r\n1\r\n"),
        ("hrandfield nokey", b"$-1\r\n"),
        ("hrandfield nokey 3", b"*0\r\n"),
        ("hrandfield nokey 3 withvalues", b"*0\r\n"),
        ("hrandfield nokey x", b"-ERR value is not an integer or out of range\r\n"),
        ("hrandfield nokey 1 foo", b"-ERR syntax error\r\n"),
        ("hrandfield h 0", b"*0\r\n"),
        ("hrandfield h 0 withvalues", b"*0\r\n"),
        ("hrandfield h x foo", b"-ERR value is not an integer or out of range\r\n"),
        ("hrandfield h 1 withvalues x", b"-ERR syntax error\r\n"),
        (
            "hrandfield h -9223372036854775808",
            b"-ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807\r\n",
        ),
        (
            "hrandfield h -9223372036854775808 foo",
            b"-ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807\r\n",
        ),
        ("hrandfield h 9223372036854775807 foo", b"-ERR syntax error\r\n"),
        ("hrandfield h -9223372036854775807 withvalues", b"-ERR value is out of range\r\n"),
        ("hrandfield h -4611686018427387904 withvalues", b"-ERR value is out of range\r\n"),
        ("hrandfield h 4611686018427387904 withvalues", b"-ERR value is out of range\r\n"),
        ("hscan h x", b"-ERR invalid cursor\r\n"),
        ("hscan h 0 count 0", b"-ERR syntax error\r\n"),
        ("hscan h 0 count -1", b"-ERR syntax error\r\n"),
        ("hscan h 0 count x", b"-ERR value is not an integer or out of range\r\n"),
        ("hscan h 0 type string", b"-ERR syntax error\r\n"),
        ("hscan h 0 match", b"-ERR syntax error\r\n"),
        ("hscan h 18446744073709551616", b"-ERR invalid cursor\r\n"),
        ("hscan nokey 0", b"*2\r\n$1\r\n0\r\n*0\r\n"),
        ("hscan nokey 0 count 0", b"*2\r\n$1\r\n0\r\n*0\r\n"),
        ("set str x", b"+OK\r\n"),
        ("hscan str x", b"-ERR invalid cursor\r\n"),
        ("hscan str 0 count 0", WRONGTYPE),
        ("hrandfield str x", b"-ERR value is not an integer or out of range\r\n"),
        ("hincrbyfloat str f x", b"-ERR value is not a valid float\r\n"),
        ("hincrby str f x", b"-ERR value is not an integer or out of range\r\n"),
        ("hset str f", b"-ERR wrong number of arguments for 'hset' command\r\n"),
    ];
    for (line, want) in cases {
        let got = s.raw(false, line);
        assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(want), "{line}");
    }
    for line in [
        "hrandfield str 1",
        "hrandfield str 0",
        "hrandfield str 0 withvalues",
        "hrandfield str",
        "hget str a",
        "hmget str a",
        "hlen str",
        "hexists str a",
        "hgetall str",
        "hkeys str",
        "hvals str",
        "hsetnx str a 2",
        "hset str f 1",
        "hmset str f 1",
        "hdel str f",
        "hstrlen str f",
        "hincrby str f 1",
        "hincrbyfloat str f 1",
        "hscan str 0",
    ] {
        assert_eq!(s.raw(false, line), WRONGTYPE, "{line}");
        assert_eq!(s.raw(true, line), WRONGTYPE, "{line} (RESP3)");
    }
}

#[test]
fn resp3_shapes() {
    let mut s = Server::new();
    s.cmd("hset h a 1");
    assert_eq!(s.raw(true, "hgetall h"), b"%1\r\n$1\r\na\r\n$1\r\n1\r\n");
    assert_eq!(s.raw(true, "hgetall nokey"), b"%0\r\n");
    assert_eq!(s.raw(true, "hget nokey a"), b"_\r\n");
    assert_eq!(s.raw(true, "hmget h a b"), b"*2\r\n$1\r\n1\r\n_\r\n");
    assert_eq!(s.raw(true, "hrandfield nokey"), b"_\r\n");
    assert_eq!(s.raw(true, "hrandfield h 5 withvalues"), b"*1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n");
    assert_eq!(s.raw(false, "hrandfield h 5 withvalues"), b"*2\r\n$1\r\na\r\n$1\r\n1\r\n");
    assert_eq!(
        s.raw(true, "hrandfield h -2 withvalues"),
        b"*2\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n"
    );
    assert_eq!(s.raw(false, "hrandfield h -2 withvalues"), b"*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\na\r\n$1\r\n1\r\n");
    assert_eq!(s.raw(true, "hrandfield h -2"), b"*2\r\n$1\r\na\r\n$1\r\na\r\n");
    assert_eq!(s.raw(true, "hrandfield nokey 2"), b"*0\r\n");
    assert_eq!(s.raw(true, "hscan h 0"), b"*2\r\n$1\r\n0\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n");
    assert_eq!(s.raw(true, "hscan h 0 match b*"), b"*2\r\n$1\r\n0\r\n*0\r\n");
}

#[test]
fn last_field_removed_deletes_the_key() {
    let mut s = Server::new();
    s.cmd("hset h a 1 b 2 c 3");
    assert_eq!(s.cmd("hdel h a b c zz"), Reply::Int(3));
    assert!(!s.key_exists(b"h"));
    assert_eq!(s.cmd("hlen h"), Reply::Int(0));
    // Errors never leave an empty hash behind.
    assert!(matches!(s.cmd("hincrbyfloat h2 f nan"), Reply::Error(_)));
    assert!(!s.key_exists(b"h2"));
    assert!(matches!(s.cmd("hset h3 a"), Reply::Error(_)));
    assert!(!s.key_exists(b"h3"));
}

#[test]
fn dirty_counts_like_redis() {
    let mut s = Server::new();
    s.cmd("hset h a 1 b 2");
    assert_eq!(s.dirty, 2);
    s.cmd("hset h a 1 c 3");
    assert_eq!(s.dirty, 4, "updates count too");
    s.cmd("hdel h a zz");
    assert_eq!(s.dirty, 5);
    s.cmd("hsetnx h b 9");
    assert_eq!(s.dirty, 5);
    s.cmd("hincrby h b 1");
    assert_eq!(s.dirty, 6);
    s.cmd("hget h b");
    assert_eq!(s.dirty, 6);
}

#[test]
fn hrandfield_counts() {
    let mut s = Server::new();
    s.cmd("hset h a 1 b 2 c 3 d 4 e 5");
    for _ in 0..20 {
        let fields = s.cmd("hrandfield h 3").bulks();
        assert_eq!(fields.len(), 3);
        assert_eq!(fields.iter().collect::<BTreeSet<_>>().len(), 3, "distinct");
        let picks = s.cmd("hrandfield h -20").bulks();
        assert_eq!(picks.len(), 20);
        assert!(picks.iter().all(|f| f.len() == 1 && (b'a'..=b'e').contains(&f[0])));
        let pairs = s.cmd("hrandfield h 2 withvalues").bulks();
        assert_eq!(pairs.len(), 4);
        for p in pairs.chunks(2) {
            assert_eq!(p[1][0] - b'0', p[0][0] - b'a' + 1, "value belongs to its field");
        }
    }
    let all: BTreeSet<Vec<u8>> = s.cmd("hrandfield h 100").bulks().into_iter().collect();
    assert_eq!(all.len(), 5);
    // Every field shows up eventually (the picks are random, not the first ones).
    let mut seen = BTreeSet::new();
    for _ in 0..200 {
        if let Reply::Bulk(f) = s.cmd("hrandfield h") {
            seen.insert(f);
        }
    }
    assert_eq!(seen.len(), 5);
}

/// A full HSCAN iteration returns every field exactly once, on big hashes (cursor paging)
/// and small ones (one reply with cursor 0).
#[test]
fn hscan_iterates_everything() {
    let mut s = Server::new();
    let mut args: Vec<Vec<u8>> = vec![b"hset".to_vec(), b"big".to_vec()];
    for i in 0..1000 {
        args.push(format!("field:{i}").into_bytes());
        args.push(format!("{i}").into_bytes());
    }
    let refs: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
    assert_eq!(s.cmd_args(&refs), Reply::Int(1000));
    let mut cursor = "0".to_string();
    let mut seen = BTreeMap::new();
    let mut calls = 0;
    loop {
        let r = s.cmd(&format!("hscan big {cursor} count 50")).items();
        calls += 1;
        let page = r[1].bulks();
        for p in page.chunks(2) {
            assert!(seen.insert(p[0].clone(), p[1].clone()).is_none(), "returned twice");
        }
        cursor = String::from_utf8(r[0].bulks_single()).unwrap_or_default();
        if cursor == "0" || calls > 1000 {
            break;
        }
    }
    assert_eq!(seen.len(), 1000);
    assert!(calls > 10, "a hashtable-sized hash is paged ({calls} calls)");
    let m = s.cmd("hscan big 0 match field:99* count 10000").items();
    assert_eq!(m[1].bulks().len(), 2 * 11);
    s.cmd("hset small a 1 b 2");
    let r = s.cmd("hscan small 0 count 1").items();
    assert_eq!(r[0], bulk("0"));
    assert_eq!(r[1].bulks().len(), 4);
}

trait Single {
    fn bulks_single(&self) -> Vec<u8>;
}
impl Single for Reply {
    fn bulks_single(&self) -> Vec<u8> {
        match self {
            Reply::Bulk(b) => b.clone(),
            other => panic!("not a bulk: {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Model-based property test
// ---------------------------------------------------------------------------------------------

type Model = BTreeMap<String, BTreeMap<String, String>>;

#[derive(Clone, Debug)]
enum Op {
    Set(String, Vec<(String, String)>),
    SetNx(String, String, String),
    Del(String, Vec<String>),
    Get(String, String),
    MGet(String, Vec<String>),
    Exists(String, String),
    Len(String),
    StrLen(String, String),
    GetAll(String),
    Keys(String),
    Vals(String),
    IncrBy(String, String, i64),
    IncrByFloat(String, String, i64),
    RandField(String, i64),
    Scan(String, usize),
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![Just("h1".to_string()), Just("h2".to_string()), Just("str".to_string())]
}
fn field() -> impl Strategy<Value = String> {
    (0..12u8).prop_map(|i| format!("f{i}"))
}
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("abc".to_string()),
        Just(String::new()),
        (-50i64..50).prop_map(|n| n.to_string()),
        Just("9223372036854775800".to_string()),
        Just("x".repeat(70)),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (key(), prop::collection::vec((field(), value()), 1..4)).prop_map(|(k, p)| Op::Set(k, p)),
        1 => (key(), field(), value()).prop_map(|(k, f, v)| Op::SetNx(k, f, v)),
        3 => (key(), prop::collection::vec(field(), 1..4)).prop_map(|(k, f)| Op::Del(k, f)),
        1 => (key(), field()).prop_map(|(k, f)| Op::Get(k, f)),
        1 => (key(), prop::collection::vec(field(), 1..4)).prop_map(|(k, f)| Op::MGet(k, f)),
        1 => (key(), field()).prop_map(|(k, f)| Op::Exists(k, f)),
        1 => key().prop_map(Op::Len),
        1 => (key(), field()).prop_map(|(k, f)| Op::StrLen(k, f)),
        1 => key().prop_map(Op::GetAll),
        1 => key().prop_map(Op::Keys),
        1 => key().prop_map(Op::Vals),
        2 => (key(), field(), prop_oneof![-10i64..10, Just(i64::MAX), Just(i64::MIN)]).prop_map(|(k, f, n)| Op::IncrBy(k, f, n)),
        1 => (key(), field(), -10i64..10).prop_map(|(k, f, n)| Op::IncrByFloat(k, f, n)),
        1 => (key(), -15i64..15).prop_map(|(k, n)| Op::RandField(k, n)),
        1 => (key(), 1usize..5).prop_map(|(k, c)| Op::Scan(k, c)),
    ]
}

fn canonical_int(s: &str) -> Option<i64> {
    let n: i64 = s.parse().ok()?;
    (n.to_string() == s).then_some(n)
}

fn run_op(s: &mut Server, m: &mut Model, op: &Op) {
    let wrongtype = Reply::Error("WRONGTYPE Operation against a key holding the wrong kind of value".into());
    let is_str = |k: &str| k == "str";
    let empty = BTreeMap::new();
    let get = |m: &Model, k: &str| m.get(k).cloned().unwrap_or_default();
    match op {
        Op::Set(k, pairs) => {
            let mut args = vec!["hset".to_string(), k.clone()];
            for (f, v) in pairs {
                args.push(f.clone());
                args.push(v.clone());
            }
            let refs: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
            let got = s.cmd_args(&refs);
            if is_str(k) {
                return assert_eq!(got, wrongtype);
            }
            let h = m.entry(k.clone()).or_default();
            let mut created = 0;
            for (f, v) in pairs {
                if h.insert(f.clone(), v.clone()).is_none() {
                    created += 1;
                }
            }
            assert_eq!(got, Reply::Int(created));
        }
        Op::SetNx(k, f, v) => {
            let got = s.cmd_args(&[b"hsetnx", k.as_bytes(), f.as_bytes(), v.as_bytes()]);
            if is_str(k) {
                return assert_eq!(got, wrongtype);
            }
            let h = m.entry(k.clone()).or_default();
            let set = !h.contains_key(f);
            if set {
                h.insert(f.clone(), v.clone());
            }
            assert_eq!(got, Reply::Int(set as i64));
        }
        Op::Del(k, fields) => {
            let mut args = vec![b"hdel".to_vec(), k.as_bytes().to_vec()];
            args.extend(fields.iter().map(|f| f.as_bytes().to_vec()));
            let refs: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
            let got = s.cmd_args(&refs);
            if is_str(k) {
                return assert_eq!(got, wrongtype);
            }
            let mut n = 0;
            if let Some(h) = m.get_mut(k) {
                for f in fields {
                    n += h.remove(f).is_some() as i64;
                }
                if h.is_empty() {
                    m.remove(k);
                }
            }
            assert_eq!(got, Reply::Int(n));
        }
        Op::Get(k, f) => {
            let got = s.cmd(&format!("hget {k} {f}"));
            if is_str(k) {
                return assert_eq!(got, wrongtype);
            }
            assert_eq!(got, get(m, k).get(f).map_or(Reply::Null, |v| bulk(v)));
        }
        Op::MGet(k, fields) => {
            let got = s.cmd(&format!("hmget {k} {}", fields.join(" ")));
            if is_str(k) {
                return assert_eq!(got, wrongtype);
            }
            let h = get(m, k);
            let want: Vec<Reply> = fields.iter().map(|f| h.get(f).map_or(Reply::Null, |v| bulk(v))).collect();
            assert_eq!(got, Reply::Array(want));
        }
        Op::Exists(k, f) => {
            let got = s.cmd(&format!("hexists {k} {f}"));
            if is_str(k) {
                return assert_eq!(got, wrongtype);
            }
            assert_eq!(got, Reply::Int(get(m, k).contains_key(f) as i64));
        }
        Op::Len(k) => {
            let got = s.cmd(&format!("hlen {k}"));
            if is_str(k) {
                return assert_eq!(got, wrongtype);
            }
            assert_eq!(got, Reply::Int(get(m, k).len() as i64));
        }
        Op::StrLen(k, f) => {
            let got = s.cmd(&format!("hstrlen {k} {f}"));
            if is_str(k) {
                return assert_eq!(got, wrongtype);
            }
            assert_eq!(got, Reply::Int(get(m, k).get(f).map_or(0, |v| v.len()) as i64));
        }
        Op::GetAll(k) | Op::Keys(k) | Op::Vals(k) => {
            let name = match op {
                Op::GetAll(_) => "hgetall",
                Op::Keys(_) => "hkeys",
                _ => "hvals",
            };
            let got = s.cmd(&format!("{name} {k}"));
            if is_str(k) {
                return assert_eq!(got, wrongtype);
            }
            let h = m.get(k).unwrap_or(&empty);
            let mut got = got.bulks();
            let mut want: Vec<Vec<u8>> = match op {
                Op::GetAll(_) => {
                    let pairs: BTreeMap<Vec<u8>, Vec<u8>> =
                        got.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect();
                    assert_eq!(pairs.len() * 2, got.len());
                    let want: BTreeMap<Vec<u8>, Vec<u8>> =
                        h.iter().map(|(f, v)| (f.as_bytes().to_vec(), v.as_bytes().to_vec())).collect();
                    return assert_eq!(pairs, want);
                }
                Op::Keys(_) => h.keys().map(|f| f.as_bytes().to_vec()).collect(),
                _ => h.values().map(|v| v.as_bytes().to_vec()).collect(),
            };
            got.sort();
            want.sort();
            assert_eq!(got, want);
        }
        Op::IncrBy(k, f, by) => {
            let got = s.cmd(&format!("hincrby {k} {f} {by}"));
            if is_str(k) {
                return assert_eq!(got, wrongtype);
            }
            let h = m.entry(k.clone()).or_default();
            let current = h.get(f).map_or(Some(0), |v| canonical_int(v));
            let want = match current {
                None => Reply::Error("ERR hash value is not an integer".into()),
                Some(c) => match c.checked_add(*by) {
                    None => Reply::Error("ERR increment or decrement would overflow".into()),
                    Some(n) => {
                        h.insert(f.clone(), n.to_string());
                        Reply::Int(n)
                    }
                },
            };
            if h.is_empty() {
                m.remove(k);
            }
            assert_eq!(got, want);
        }
        Op::IncrByFloat(k, f, by) => {
            let got = s.cmd(&format!("hincrbyfloat {k} {f} {by}"));
            if is_str(k) {
                return assert_eq!(got, wrongtype);
            }
            let h = m.entry(k.clone()).or_default();
            // Values in this model are integers or words: integer sums stay exact.
            let want = match h.get(f).map_or(Some(0i128), |v| v.parse::<i128>().ok()) {
                None => Reply::Error("ERR hash value is not a float".into()),
                Some(c) => {
                    let n = (c + *by as i128).to_string();
                    h.insert(f.clone(), n.clone());
                    bulk(&n)
                }
            };
            if h.is_empty() {
                m.remove(k);
            }
            assert_eq!(got, want);
        }
        Op::RandField(k, count) => {
            let got = s.cmd(&format!("hrandfield {k} {count} withvalues"));
            if is_str(k) {
                return assert_eq!(got, wrongtype);
            }
            let h = get(m, k);
            let pairs = got.bulks();
            let n = pairs.len() / 2;
            let want_len = if *count >= 0 {
                (*count as usize).min(h.len())
            } else if h.is_empty() {
                0
            } else {
                count.unsigned_abs() as usize
            };
            assert_eq!(n, want_len);
            let mut distinct = BTreeSet::new();
            for p in pairs.chunks(2) {
                let (f, v) = (String::from_utf8_lossy(&p[0]).into_owned(), String::from_utf8_lossy(&p[1]).into_owned());
                assert_eq!(h.get(&f), Some(&v));
                distinct.insert(f);
            }
            if *count >= 0 {
                assert_eq!(distinct.len(), n, "positive counts give distinct fields");
            }
        }
        Op::Scan(k, count) => {
            let mut cursor = "0".to_string();
            let mut seen = BTreeMap::new();
            for _ in 0..100 {
                let got = s.cmd(&format!("hscan {k} {cursor} count {count}"));
                if is_str(k) {
                    return assert_eq!(got, wrongtype);
                }
                let r = got.items();
                for p in r[1].bulks().chunks(2) {
                    seen.insert(
                        String::from_utf8_lossy(&p[0]).into_owned(),
                        String::from_utf8_lossy(&p[1]).into_owned(),
                    );
                }
                cursor = String::from_utf8_lossy(&r[0].bulks_single()).into_owned();
                if cursor == "0" {
                    break;
                }
            }
            assert_eq!(cursor, "0");
            assert_eq!(seen, get(m, k));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn hash_commands_match_model(ops in prop::collection::vec(op(), 1..60), small_listpack in any::<bool>()) {
        let mut s = Server::new();
        if small_listpack {
            // Make most hashes "hashtable-sized" so HSCAN pages through scan_by_hash.
            s.config.hash_max_listpack_entries = 2;
        }
        assert_eq!(s.cmd("set str x"), Reply::Status("OK".into()));
        let mut m = Model::new();
        for op in &ops {
            run_op(&mut s, &mut m, op);
            for k in ["h1", "h2"] {
                assert_eq!(s.key_exists(k.as_bytes()), m.contains_key(k), "{k} exists after {op:?}");
            }
        }
    }
}
