//! HyperLogLog commands against replies captured from redis-server 7.0.15 (Debian's build), and
//! property tests of what the structure promises.
//!
//! The golden table was produced by sending the same commands, in order, to a fresh
//! `redis-server --save "" --appendonly no` and recording each raw reply. The large-set vectors
//! pin PFCOUNT, the stored length and an FNV-1a hash of GET's bytes after adding `el:0..el:N`
//! in batches of 1000 (FNV is computed here, over the bytes Redis returned). The property tests
//! hold the registers in a plain `[u8; 16384]` model driven by the element → (register, run)
//! mapping (`commands::hll::pattern`, itself pinned by the golden bytes), and check PFADD's
//! reply, the registers PFDEBUG GETREG reports, sparse/dense agreement, the error bound and
//! merge commutativity; corrupted values must produce an error or a number, never a panic.

use commands::hll::{pattern, REGISTERS};
use commands::{Ctx, DataConfig, Effects, Kind, LookupError, Registry};
use keyspace::{Keyspace, LockSet};
use proptest::prelude::*;
use resp::ReplyBuf;

/// A fixed "now" for every command.
const NOW_MS: i64 = 1_700_000_000_000;

struct Harness {
    registry: Registry,
    ks: Keyspace,
    config: DataConfig,
    dirty: u64,
    /// `Effects::unmodified_key_args` of the last command.
    unmodified: u64,
}

impl Harness {
    fn new() -> Self {
        Harness::with_sparse_max(3000)
    }

    fn with_sparse_max(hll_sparse_max_bytes: i64) -> Self {
        let config = DataConfig { hll_sparse_max_bytes, ..DataConfig::default() };
        Harness { registry: Registry::with_data_commands(), ks: Keyspace::new(16), config, dirty: 0, unmodified: 0 }
    }

    fn run(&mut self, args: &[&[u8]]) -> Vec<u8> {
        let entry = match self.registry.lookup(args) {
            Ok(e) => e,
            Err(LookupError::Reply(e)) => return format!("-{e}\r\n").into_bytes(),
        };
        let Kind::Data(handler) = entry.kind else {
            panic!("{:?} is not a data command", String::from_utf8_lossy(args[0]))
        };
        let mut locks = LockSet::new();
        let mut out = ReplyBuf::new(false);
        let mut effects = Effects::default();
        let mut ctx = Ctx {
            ks: &self.ks,
            locks: &mut locks,
            db: 0,
            now_ms: NOW_MS,
            out: &mut out,
            effects: &mut effects,
            config: &self.config,
            may_block: true,
        };
        handler(&mut ctx, args);
        self.dirty += effects.dirty;
        self.unmodified = effects.unmodified_key_args;
        out.buf
    }

    fn runv(&mut self, args: &[Vec<u8>]) -> Vec<u8> {
        let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
        self.run(&refs)
    }

    fn int(&mut self, args: &[&[u8]]) -> i64 {
        let r = self.run(args);
        let text = String::from_utf8_lossy(&r);
        assert!(text.starts_with(':'), "{args:?} replied {text:?}");
        text[1..].trim_end().parse().unwrap_or_else(|_| panic!("{text:?}"))
    }

    /// GET's payload (without the bulk framing).
    fn get(&mut self, key: &[u8]) -> Vec<u8> {
        let r = self.run(&[b"GET", key]);
        let header_end = r.iter().position(|&b| b == b'\n').expect("bulk header") + 1;
        r[header_end..r.len() - 2].to_vec()
    }

    /// PFDEBUG GETREG's registers (converts the key to dense, as in Redis).
    fn registers(&mut self, key: &[u8]) -> Vec<u8> {
        let r = self.run(&[b"PFDEBUG", b"GETREG", key]);
        let text = String::from_utf8_lossy(&r).into_owned();
        let mut lines = text.split("\r\n");
        assert_eq!(lines.next(), Some("*16384"), "{}", &text[..text.len().min(80)]);
        lines.filter(|l| !l.is_empty()).map(|l| l[1..].parse::<u8>().expect("register")).collect()
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}

#[test]
fn replies_and_stored_bytes_match_redis() {
    let cases: &[(&[&[u8]], &[u8])] = &[
        (&[b"PFADD", b"h", b"a", b"b", b"c"], b":1\x0d\x0a"),
        (&[b"GET", b"h"], b"$27\x0d\x0aHYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80`\xf3\x80P\xb1\x84K\xfb\x80BZ\x0d\x0a"),
        (&[b"PFCOUNT", b"h"], b":3\x0d\x0a"),
        (&[b"GET", b"h"], b"$27\x0d\x0aHYLL\x01\x00\x00\x00\x03\x00\x00\x00\x00\x00\x00\x00`\xf3\x80P\xb1\x84K\xfb\x80BZ\x0d\x0a"),
        (&[b"PFADD", b"h", b"a"], b":0\x0d\x0a"),
        (&[b"PFADD", b"e"], b":1\x0d\x0a"),
        (&[b"GET", b"e"], b"$18\x0d\x0aHYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x7f\xff\x0d\x0a"),
        (&[b"PFADD", b"h2", b"c", b"d", b"foo", b"bar", b""], b":1\x0d\x0a"),
        (&[b"PFDEBUG", b"DECODE", b"h2"], b"$69\x0d\x0aZ:5938 v:2,1 Z:1353 v:1,1 z:55 v:5,1 Z:1087 v:1,1 Z:1570 v:1,1 Z:6376\x0d\x0a"),
        (&[b"PFMERGE", b"m", b"h", b"h2"], b"+OK\x0d\x0a"),
        (&[b"GET", b"m"], b"$38\x0d\x0aHYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80W1\x84EH\x806\x90D>\x80F!\x80J\x8e\x84K\xfb\x80BZ\x0d\x0a"),
        (&[b"PFCOUNT", b"h", b"h2"], b":7\x0d\x0a"),
        (&[b"PFCOUNT", b"m"], b":7\x0d\x0a"),
        (&[b"PFDEBUG", b"ENCODING", b"m"], b"+sparse\x0d\x0a"),
        (&[b"PFDEBUG", b"TODENSE", b"h2"], b":1\x0d\x0a"),
        (&[b"PFDEBUG", b"TODENSE", b"h2"], b":0\x0d\x0a"),
        (&[b"PFDEBUG", b"DECODE", b"h2"], b"-ERR HLL encoding is not sparse\x0d\x0a"),
        (&[b"PFCOUNT", b"h2"], b":5\x0d\x0a"),
        (&[b"PFDEBUG", b"NOSUCH", b"h2"], b"-ERR Unknown PFDEBUG subcommand 'NOSUCH'\x0d\x0a"),
        (&[b"PFDEBUG", b"GETREG", b"h2", b"x"], b"-ERR wrong number of arguments for 'pfdebug' command\x0d\x0a"),
        (&[b"PFDEBUG", b"GETREG", b"nokey"], b"-ERR The specified key does not exist\x0d\x0a"),
        (&[b"SET", b"s", b"hello"], b"+OK\x0d\x0a"),
        (&[b"PFADD", b"s", b"x"], b"-WRONGTYPE Key is not a valid HyperLogLog string value.\x0d\x0a"),
        (&[b"PFCOUNT", b"s"], b"-WRONGTYPE Key is not a valid HyperLogLog string value.\x0d\x0a"),
        (&[b"SET", b"bad", b"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x7f\xff\x00"], b"+OK\x0d\x0a"),
        (&[b"PFCOUNT", b"bad"], b":0\x0d\x0a"),
        (&[b"PFCOUNT", b"bad", b"h"], b"-INVALIDOBJ Corrupted HLL object detected\x0d\x0a"),
        (&[b"PFMERGE", b"bad2", b"bad"], b"-INVALIDOBJ Corrupted HLL object detected\x0d\x0a"),
        (&[b"EXISTS", b"bad2"], b":0\x0d\x0a"),
        (&[b"LPUSH", b"l", b"x"], b":1\x0d\x0a"),
        (&[b"PFADD", b"l", b"x"], b"-WRONGTYPE Operation against a key holding the wrong kind of value\x0d\x0a"),
        // A VAL after a full cover: corrupted for every whole-stream read (Debian's build has the
        // CVE-2025-32023 fix), while PFADD edits the covered part and keeps the tail.
        (&[b"SET", b"tv", b"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x7f\xff\x84"], b"+OK\x0d\x0a"),
        (&[b"PFCOUNT", b"tv"], b"-INVALIDOBJ Corrupted HLL object detected\x0d\x0a"),
        (&[b"PFCOUNT", b"tv", b"tv"], b"-INVALIDOBJ Corrupted HLL object detected\x0d\x0a"),
        (&[b"PFDEBUG", b"TODENSE", b"tv"], b"-INVALIDOBJ Corrupted HLL object detected\x0d\x0a"),
        (&[b"PFMERGE", b"tv2", b"tv"], b"-INVALIDOBJ Corrupted HLL object detected\x0d\x0a"),
        (&[b"PFADD", b"tv", b"a"], b":1\x0d\x0a"),
        (&[b"GET", b"tv"], b"$22\x0d\x0aHYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80q\xa6\x84NW\x84\x0d\x0a"),
        (&[b"SET", b"i", b"12345"], b"+OK\x0d\x0a"),
        (&[b"PFCOUNT", b"i"], b"-WRONGTYPE Key is not a valid HyperLogLog string value.\x0d\x0a"),
    ];
    let mut h = Harness::new();
    for (n, (args, want)) in cases.iter().enumerate() {
        let got = h.run(args);
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(want),
            "case {n}: {:?}",
            args.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect::<Vec<_>>()
        );
    }
}

/// Adds `el:0..el:n` to `key` in batches of 1000, as the capture script did.
fn add_range(h: &mut Harness, key: &[u8], n: usize) {
    for start in (0..n).step_by(1000) {
        let mut args = vec![b"PFADD".to_vec(), key.to_vec()];
        args.extend((start..n.min(start + 1000)).map(|i| format!("el:{i}").into_bytes()));
        h.runv(&args);
    }
}

#[test]
fn large_sets_count_and_store_like_redis() {
    // (elements, PFCOUNT, GET length, FNV-1a of GET) from redis-server 7.0.15.
    let vectors: [(usize, i64, usize, u64); 5] = [
        (10, 10, 48, 17337463337789251764),
        (100, 100, 289, 11899000440896796039),
        (1000, 999, 1892, 5780113230564479226),
        (5000, 4959, 12304, 8967906625024744119),
        (20000, 20030, 12304, 10072282202164592829),
    ];
    let mut h = Harness::new();
    for (n, count, len, hash) in vectors {
        let key = format!("n{n}").into_bytes();
        add_range(&mut h, &key, n);
        assert_eq!(h.int(&[b"PFCOUNT", &key]), count, "PFCOUNT after {n}");
        let stored = h.get(&key);
        assert_eq!((stored.len(), fnv1a(&stored)), (len, hash), "GET after {n}");
    }
    assert_eq!(h.run(&[b"PFMERGE", b"u", b"n1000", b"n20000", b"n5000"]), b"+OK\r\n");
    // Read before PFCOUNT refreshes the cache: the merge leaves it marked stale.
    let merged = h.get(b"u");
    assert_eq!((merged.len(), fnv1a(&merged)), (12304, 0xd916_3e38_10fe_a1e1));
    assert_eq!(h.int(&[b"PFCOUNT", b"u"]), 20030);
    assert_eq!(h.int(&[b"PFCOUNT", b"n10", b"n100", b"n1000"]), 999);
}

#[test]
fn hll_sparse_max_bytes_decides_promotion_like_redis() {
    // With hll-sparse-max-bytes 60, Redis keeps s0..s14 sparse (these exact bytes) and turns
    // dense on s15.
    let mut h = Harness::with_sparse_max(60);
    for i in 0..15 {
        h.run(&[b"PFADD", b"small", format!("s{i}").as_bytes()]);
    }
    assert_eq!(
        h.get(b"small"),
        b"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80D\x98\x80D>\x800\x8c!\x80D\x0b\x84A\x88\x80H\x90\x84@\xb9\x84A\xac\x84\x16\x80NG\x84A\xf2\x80A6\x94D\xce\x80HY\x80G\x86"
    );
    assert_eq!(h.run(&[b"PFDEBUG", b"ENCODING", b"small"]), b"+sparse\r\n");
    assert_eq!(h.int(&[b"PFADD", b"small", b"s15"]), 1);
    assert_eq!(h.run(&[b"PFDEBUG", b"ENCODING", b"small"]), b"+dense\r\n");
    assert_eq!(h.get(b"small").len(), 12304);
}

#[test]
fn dirty_counts_follow_redis() {
    let mut h = Harness::new();
    h.run(&[b"PFADD", b"k", b"a", b"b", b"a"]);
    // Creation + two changed registers.
    assert_eq!(h.dirty, 3);
    h.run(&[b"PFADD", b"k", b"a"]);
    assert_eq!(h.dirty, 3);
    h.run(&[b"PFCOUNT", b"k"]);
    assert_eq!(h.dirty, 4, "refreshing the cache is a write");
    h.run(&[b"PFCOUNT", b"k"]);
    assert_eq!(h.dirty, 4, "a valid cache is only read");
    h.run(&[b"PFCOUNT", b"k", b"k"]);
    assert_eq!(h.dirty, 4);
    h.run(&[b"PFMERGE", b"d", b"k"]);
    assert_eq!(h.dirty, 5);
    assert_eq!(h.unmodified, 0, "PFMERGE signals its destination");
    h.run(&[b"PFDEBUG", b"TODENSE", b"d"]);
    // Redis counts the conversion as a change but does not signal the key: a WATCH on it
    // survives (checked against redis-server with WATCH / PFDEBUG TODENSE / EXEC).
    assert_eq!(h.unmodified, 1 << 2);
    h.run(&[b"PFDEBUG", b"TODENSE", b"d"]);
    assert_eq!(h.dirty, 6);
}

#[derive(Debug, Clone)]
enum Op {
    Add(u8, Vec<u32>),
    Count(u8),
    ToDense(u8),
}

fn element(n: u32) -> Vec<u8> {
    format!("m{n}").into_bytes()
}

fn key_name(k: u8) -> Vec<u8> {
    vec![b'k', b'0' + k]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let elements = prop_oneof![
        3 => proptest::collection::vec(0u32..200, 0..6),
        1 => proptest::collection::vec(any::<u32>(), 0..400),
    ];
    prop_oneof![
        6 => (0u8..3, elements).prop_map(|(k, e)| Op::Add(k, e)),
        2 => (0u8..3).prop_map(Op::Count),
        1 => (0u8..3).prop_map(Op::ToDense),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// PFADD replies 1 exactly when the key was created or some register grew, and the
    /// registers end up at the per-register maximum of the elements' runs.
    #[test]
    fn pfadd_reports_register_changes(ops in proptest::collection::vec(op_strategy(), 1..40)) {
        let mut h = Harness::new();
        let mut model: Vec<Option<Vec<u8>>> = vec![None, None, None];
        for op in &ops {
            match op {
                Op::Add(k, elems) => {
                    let regs = model[*k as usize].get_or_insert_with(|| vec![0u8; REGISTERS]);
                    let mut changed = false;
                    let mut args = vec![b"PFADD".to_vec(), key_name(*k)];
                    for &e in elems {
                        let el = element(e);
                        let (index, run) = pattern(&el);
                        if run > regs[index] {
                            regs[index] = run;
                            changed = true;
                        }
                        args.push(el);
                    }
                    let created = h.run(&[b"EXISTS", &key_name(*k)]) == b":0\r\n";
                    let want: &[u8] = if changed || created { b":1\r\n" } else { b":0\r\n" };
                    prop_assert_eq!(h.runv(&args), want.to_vec());
                }
                Op::Count(k) => {
                    let r = h.run(&[b"PFCOUNT", &key_name(*k)]);
                    prop_assert!(r.starts_with(b":"));
                }
                Op::ToDense(k) => {
                    let r = h.run(&[b"PFDEBUG", b"TODENSE", &key_name(*k)]);
                    let exists = model[*k as usize].is_some();
                    prop_assert_eq!(r.starts_with(b":"), exists);
                }
            }
        }
        for k in 0..3u8 {
            if let Some(regs) = &model[k as usize] {
                prop_assert_eq!(&h.registers(&key_name(k)), regs);
            }
        }
    }

    /// The same elements added to a key kept sparse and to one made dense first give the same
    /// registers and the same count, and the count is within the HLL error bound.
    #[test]
    fn sparse_and_dense_agree_and_count_is_close(n in 0usize..4000, salt in any::<u32>()) {
        let mut h = Harness::new();
        h.run(&[b"PFADD", b"dense"]);
        h.run(&[b"PFDEBUG", b"TODENSE", b"dense"]);
        let elems: Vec<Vec<u8>> = (0..n).map(|i| format!("{salt}:{i}").into_bytes()).collect();
        for chunk in elems.chunks(500) {
            for key in [&b"sparse"[..], b"dense"] {
                let mut args = vec![b"PFADD".to_vec(), key.to_vec()];
                args.extend(chunk.iter().cloned());
                h.runv(&args);
            }
        }
        h.run(&[b"PFADD", b"sparse"]);
        let sparse_count = h.int(&[b"PFCOUNT", b"sparse"]);
        let dense_count = h.int(&[b"PFCOUNT", b"dense"]);
        prop_assert_eq!(sparse_count, dense_count);
        // Six standard errors (1.04 / sqrt(16384) each), at least 2 for tiny sets.
        let bound = ((6.0 * 1.04 / 128.0) * n as f64).ceil().max(2.0) as i64;
        prop_assert!((sparse_count - n as i64).abs() <= bound, "n={} count={}", n, sparse_count);
        prop_assert_eq!(h.registers(b"sparse"), h.registers(b"dense"));
    }

    /// PFMERGE and multi-key PFCOUNT do not depend on the order of their sources.
    #[test]
    fn merge_is_commutative(a in proptest::collection::vec(any::<u16>(), 0..1500),
                            b in proptest::collection::vec(any::<u16>(), 0..300),
                            dense_a in any::<bool>()) {
        let mut h = Harness::new();
        for (key, elems) in [(&b"a"[..], &a), (&b"b"[..], &b)] {
            let mut args = vec![b"PFADD".to_vec(), key.to_vec()];
            args.extend(elems.iter().map(|e| e.to_string().into_bytes()));
            h.runv(&args);
        }
        if dense_a {
            h.run(&[b"PFDEBUG", b"TODENSE", b"a"]);
        }
        prop_assert_eq!(h.run(&[b"PFCOUNT", b"a", b"b"]), h.run(&[b"PFCOUNT", b"b", b"a"]));
        h.run(&[b"PFMERGE", b"ab", b"a", b"b"]);
        h.run(&[b"PFMERGE", b"ba", b"b", b"a"]);
        prop_assert_eq!(h.get(b"ab"), h.get(b"ba"));
        prop_assert_eq!(h.run(&[b"PFCOUNT", b"ab"]), h.run(&[b"PFCOUNT", b"a", b"b"]));
    }

    /// Whatever bytes follow a HyperLogLog header, every command answers (a number, OK, a
    /// bulk, an array or an error) instead of panicking or reading past the value.
    #[test]
    fn corrupted_values_never_panic(body in proptest::collection::vec(any::<u8>(), 0..64),
                                    encoding in 0u8..3, dense_len in any::<bool>(),
                                    elems in proptest::collection::vec(any::<u16>(), 0..20)) {
        let mut h = Harness::new();
        let mut value = b"HYLL".to_vec();
        value.push(encoding);
        value.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80]);
        value.extend_from_slice(&body);
        if dense_len {
            value.resize(12304, 0x41);
        }
        h.runv(&[b"SET".to_vec(), b"c".to_vec(), value]);
        h.run(&[b"PFADD", b"ok", b"x"]);
        let mut add = vec![b"PFADD".to_vec(), b"c".to_vec()];
        add.extend(elems.iter().map(|e| e.to_string().into_bytes()));
        let replies = [
            h.runv(&add),
            h.run(&[b"PFCOUNT", b"c"]),
            h.run(&[b"PFCOUNT", b"c", b"ok"]),
            h.run(&[b"PFMERGE", b"ok", b"c"]),
            h.run(&[b"PFDEBUG", b"DECODE", b"c"]),
            h.run(&[b"PFDEBUG", b"GETREG", b"c"]),
            h.run(&[b"PFCOUNT", b"c"]),
        ];
        for r in replies {
            prop_assert!(matches!(r.first(), Some(b':' | b'+' | b'-' | b'$' | b'*')), "{:?}", r);
        }
    }
}
