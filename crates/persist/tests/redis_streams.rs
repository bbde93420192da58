//! The stream codec against Debian's redis-server 7.0.15: streams built by Redis's own commands
//! (multi-node, tombstones from XDEL and XTRIM, groups, pending entries, consumers with none,
//! XSETID counters) are DUMPed, decoded by us and compared with XRANGE; encoded again, they are
//! byte for byte Redis's payload when only XADD built them, and once RESTOREd into Redis they
//! show the same XRANGE and XINFO STREAM FULL as the original. Older type-15 payloads load with
//! the counters Redis 7.0 derives. Mutated payloads: whatever we accept, Redis (with
//! sanitize-dump-payload yes) accepts too. Skipped when redis-server is not installed.

use keyspace::stream::{Stream, StreamId};
use keyspace::Value;
use persist::{crc64, dump_payload, restore_payload, EncodeLimits, StreamNodeLimits, RDB_VERSION};
use support::{start_redis, Client, Reply, REDIS_SERVER};

mod support;

fn redis_present() -> bool {
    let present = std::path::Path::new(REDIS_SERVER).exists();
    if !present {
        eprintln!("skipped: {REDIS_SERVER} is not installed");
    }
    present
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("redoxide-persist-streams-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn uncompressed() -> EncodeLimits {
    EncodeLimits { compress: false, ..EncodeLimits::default() }
}

/// Sends a command written as words (none of these arguments holds a space).
fn run(c: &mut Client, command: &str) -> Reply {
    let args: Vec<&[u8]> = command.split(' ').map(str::as_bytes).collect();
    c.call(&args)
}

fn bulk(reply: Reply) -> Vec<u8> {
    match reply {
        Reply::Bulk(Some(b)) => b,
        other => panic!("expected a bulk reply, got {other:?}"),
    }
}

fn decode_stream(payload: &[u8]) -> Stream {
    match restore_payload(payload) {
        Ok(Value::Stream(stream)) => *stream,
        other => panic!("expected a stream, got {other:?}"),
    }
}

/// XRANGE's reply for our entries.
fn as_xrange(stream: &Stream) -> Reply {
    let bulk = |b: &[u8]| Reply::Bulk(Some(b.to_vec()));
    Reply::Array(
        stream
            .entries
            .iter()
            .map(|(id, fields)| {
                let fields = fields.iter().map(|f| bulk(f.as_bytes())).collect();
                Reply::Array(vec![bulk(id.to_string().as_bytes()), Reply::Array(fields)])
            })
            .collect(),
    )
}

/// XINFO STREAM FULL without the radix-tree sizes (which count nodes, and we repack nodes that
/// held tombstones).
fn xinfo_full(c: &mut Client, key: &[u8]) -> Vec<Reply> {
    let Reply::Array(items) = c.call(&[b"XINFO", b"STREAM", key, b"FULL", b"COUNT", b"0"]) else {
        panic!("XINFO STREAM FULL")
    };
    items
        .chunks(2)
        .filter(|pair| !matches!(&pair[0], Reply::Bulk(Some(name)) if name.starts_with(b"radix-tree")))
        .flat_map(|pair| pair.to_vec())
        .collect()
}

/// Builds the streams of [`redis_built_streams`] with Redis's commands. Returns each key and
/// whether only XADD, groups and XSETID shaped it (so its nodes are as we pack them).
fn build_streams(c: &mut Client) -> Vec<(&'static str, bool)> {
    // Multi-node: 250 entries, most sharing the master's fields, some not, some large enough to
    // close a node by bytes, integer-looking values of every listpack width.
    for i in 0..250u64 {
        let value = match i % 13 {
            0 => "v".repeat(5000),
            1 => "-5".to_string(),
            2 => "18446744073709551615".to_string(),
            3 => "".to_string(),
            4 => (1u64 << 40).to_string(),
            5 => "-4096".to_string(),
            _ => format!("{}", i * 37),
        };
        let id = format!("1700000000000-{i}");
        let mut args: Vec<Vec<u8>> = vec![b"XADD".to_vec(), b"s:append".to_vec(), id.into_bytes()];
        if i % 7 == 3 {
            for (f, v) in [("a", "x"), ("b", value.as_str()), ("c", "z")] {
                args.push(f.as_bytes().to_vec());
                args.push(v.as_bytes().to_vec());
            }
        } else {
            for (f, v) in [("sensor", value.as_str()), ("temp", "-12.5"), ("12", "x")] {
                args.push(f.as_bytes().to_vec());
                args.push(v.as_bytes().to_vec());
            }
        }
        let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
        c.call(&refs);
    }
    // IDs whose deltas from the master wrap (a smaller sequence in a later millisecond).
    for id in ["0-1", "5-18446744073709551615", "6-0", "6-3", "1000000-1", "18446744073709551614-5"] {
        run(c, &format!("XADD s:ids {id} f v"));
    }
    run(c, "XGROUP CREATE s:empty g $ MKSTREAM");
    run(c, "XGROUP CREATECONSUMER s:empty g alice");
    for i in 1..=3 {
        run(c, &format!("XADD s:xsetid {i}-0 f {i}"));
    }
    run(c, "XSETID s:xsetid 999999999999-0 ENTRIESADDED 100 MAXDELETEDID 2-5");
    for i in 1..=30 {
        run(c, &format!("XADD s:groups {i}-1 field {i} other {}", i * i));
    }
    run(c, "XGROUP CREATE s:groups g1 0");
    run(c, "XREADGROUP GROUP g1 alice COUNT 5 STREAMS s:groups >");
    run(c, "XREADGROUP GROUP g1 bob COUNT 3 STREAMS s:groups >");
    run(c, "XACK s:groups g1 2-1");
    run(c, "XCLAIM s:groups g1 alice 0 7-1 RETRYCOUNT 7");
    run(c, "XGROUP CREATECONSUMER s:groups g1 carol");
    run(c, "XGROUP CREATE s:groups g2 $");
    run(c, "XGROUP CREATE s:groups g3 10-1 ENTRIESREAD 4");
    run(c, "XGROUP CREATE s:groups 123 0");
    run(c, "XREADGROUP GROUP 123 456 COUNT 2 STREAMS s:groups >");
    // Tombstones: deletions inside nodes, a node's first entry, trimming whole nodes, and
    // pending entries that outlive their entries.
    for i in 1..=260 {
        run(c, &format!("XADD s:tombs {i}-0 k {i}"));
    }
    run(c, "XGROUP CREATE s:tombs g 0");
    run(c, "XREADGROUP GROUP g alice COUNT 20 STREAMS s:tombs >");
    run(c, "XDEL s:tombs 3-0 4-0 101-0 150-0 151-0 200-0 260-0");
    run(c, "XTRIM s:tombs MAXLEN = 240");
    for i in 1..=5 {
        run(c, &format!("XADD s:gone {i}-0 k {i}"));
    }
    run(c, "XDEL s:gone 1-0 2-0 3-0 4-0 5-0");
    vec![
        ("s:append", true),
        ("s:ids", true),
        ("s:empty", true),
        ("s:xsetid", true),
        ("s:groups", true),
        ("s:tombs", false),
        ("s:gone", false),
    ]
}

#[test]
fn redis_built_streams() {
    if !redis_present() {
        return;
    }
    check_built_streams("default", &[], StreamNodeLimits::default());
    let small = ["--stream-node-max-bytes", "300", "--stream-node-max-entries", "7"];
    check_built_streams("small-nodes", &small, StreamNodeLimits { max_bytes: 300, max_entries: 7 });
    let unlimited = ["--stream-node-max-bytes", "0", "--stream-node-max-entries", "0"];
    check_built_streams("unlimited", &unlimited, StreamNodeLimits { max_bytes: 0, max_entries: 0 });
}

/// [`redis_built_streams`] with Redis's node limits `node_args`, which are `node` to us.
fn check_built_streams(name: &str, node_args: &[&str], node: StreamNodeLimits) {
    // Uncompressed DUMPs, so payloads compare byte for byte (our LZF may choose other matches).
    let mut args = vec!["--rdbcompression", "no"];
    args.extend_from_slice(node_args);
    let redis = start_redis(temp_dir(name), &args);
    let mut c = Client::connect(redis.port);
    let limits = EncodeLimits { stream_node: node, ..uncompressed() };
    for (key, append_only) in build_streams(&mut c) {
        let key = key.as_bytes();
        let payload = bulk(c.call(&[b"DUMP", key]));
        assert_eq!(payload[0], persist::stream::TYPE_STREAM_LISTPACKS_2);
        let stream = decode_stream(&payload);
        let name = format!("{name} {}", String::from_utf8_lossy(key));
        assert_eq!(as_xrange(&stream), c.call(&[b"XRANGE", key, b"-", b"+"]), "{name}: entries");
        let ours = dump_payload(&Value::Stream(Box::new(stream.clone())), &limits);
        if append_only {
            assert_eq!(ours, payload, "{name}: our payload is Redis's");
            let Reply::Array(info) = c.call(&[b"XINFO", b"STREAM", key]) else { panic!("XINFO STREAM") };
            let nodes = Reply::Int(persist::stream::node_count(&stream, &node) as i64);
            assert_eq!(info[2..4], [Reply::Bulk(Some(b"radix-tree-keys".to_vec())), nodes], "{name}");
        }
        let copy = [key, b":copy"].concat();
        assert_eq!(c.call(&[b"RESTORE", &copy, b"0", &ours]), Reply::Status("OK".into()), "{name}");
        assert_eq!(c.call(&[b"XRANGE", &copy, b"-", b"+"]), c.call(&[b"XRANGE", key, b"-", b"+"]), "{name}");
        assert_eq!(xinfo_full(&mut c, &copy), xinfo_full(&mut c, key), "{name}: XINFO STREAM FULL");
        assert_eq!(decode_stream(&bulk(c.call(&[b"DUMP", &copy]))), stream, "{name}: Redis kept what we wrote");
    }
    let tombs = decode_stream(&bulk(c.call(&[b"DUMP", b"s:tombs"])));
    assert_eq!(tombs.len(), 240);
    assert_eq!(tombs.max_deleted_entry_id, StreamId::new(260, 0));
    assert!(!tombs.entries.contains_key(&StreamId::new(101, 0)));
    let gone = decode_stream(&bulk(c.call(&[b"DUMP", b"s:gone"])));
    assert!(gone.is_empty());
    assert_eq!(gone.last_id, StreamId::new(5, 0));
}

/// Type 15 (Redis 5.0 to 6.2) bodies for `stream`: the nodes and length as type 19, then only
/// the last ID and the groups without their read counters.
fn type_15_payload(stream: &Stream) -> Vec<u8> {
    let mut body = Vec::new();
    persist::encode_stream_body(stream, &uncompressed(), &mut body);
    // Re-read what type 19 wrote, to cut out the counters type 15 lacks.
    let mut r = persist::Reader::new(&body);
    let node_count = r.plain_len().expect("node count");
    for _ in 0..2 * node_count {
        r.string_bytes().expect("node");
    }
    r.plain_len().expect("length");
    r.plain_len().expect("last ms");
    r.plain_len().expect("last seq");
    let keep_until = r.position();
    for _ in 0..5 {
        r.plain_len().expect("counters");
    }
    let mut out = vec![persist::stream::TYPE_STREAM_LISTPACKS];
    out.extend_from_slice(&body[..keep_until]);
    // Groups: name, last ID, (read counter dropped), PELs and consumers as they are.
    let group_count = r.plain_len().expect("group count");
    push_len(&mut out, group_count);
    for _ in 0..group_count {
        let start = r.position();
        r.string_bytes().expect("name");
        r.plain_len().expect("ms");
        r.plain_len().expect("seq");
        out.extend_from_slice(&body[start..r.position()]);
        r.plain_len().expect("entries read");
        let start = r.position();
        let pel = r.plain_len().expect("pel");
        for _ in 0..pel {
            r.skip(24).expect("pending");
            r.plain_len().expect("count");
        }
        let consumers = r.plain_len().expect("consumers");
        for _ in 0..consumers {
            r.string_bytes().expect("consumer");
            r.skip(8).expect("seen");
            let own = r.plain_len().expect("own");
            r.skip(16 * own as usize).expect("own ids");
        }
        out.extend_from_slice(&body[start..r.position()]);
    }
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

fn push_len(out: &mut Vec<u8>, len: u64) {
    assert!(len < 64, "small counts only");
    out.push(len as u8);
}

#[test]
fn type_15_payloads_load_as_redis_7_loads_them() {
    if !redis_present() {
        return;
    }
    let redis = start_redis(temp_dir("type15"), &["--rdbcompression", "no"]);
    let mut c = Client::connect(redis.port);
    let mut checked = 0;
    for (key, _) in build_streams(&mut c) {
        let original = decode_stream(&bulk(c.call(&[b"DUMP", key.as_bytes()])));
        let old = type_15_payload(&original);
        let ours = decode_stream(&old);
        let copy = format!("{key}:15");
        let restored = c.call(&[b"RESTORE", copy.as_bytes(), b"0", &old]);
        assert_eq!(restored, Reply::Status("OK".into()), "{key}");
        let redis_view = decode_stream(&bulk(c.call(&[b"DUMP", copy.as_bytes()])));
        assert_eq!(ours, redis_view, "{key}: the counters Redis derives for a type-15 stream");
        checked += 1;
    }
    assert_eq!(checked, 7);
}

/// Mutations of Redis's payloads (a byte changed, bytes cut out or inserted, the tail cut off),
/// footers made valid again: whatever we accept, Redis accepts too, with the same entries; what
/// only Redis accepts is one of the things it loads but no Redis writes, which we refuse on
/// purpose (see `decode_stream_body`).
#[test]
fn whatever_we_accept_redis_accepts() {
    if !redis_present() {
        return;
    }
    let redis = start_redis(temp_dir("mutations"), &["--rdbcompression", "no"]);
    let mut c = Client::connect(redis.port);
    let keys = build_streams(&mut c);
    let mut seed = 0x2545f4914f6cdd1du64;
    let mut next = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n.max(1) as u64) as usize
    };
    let (mut both, mut neither, mut only_redis) = (0, 0, 0);
    for (key, _) in keys {
        let payload = bulk(c.call(&[b"DUMP", key.as_bytes()]));
        let body = &payload[..payload.len() - 10];
        for _ in 0..1000 {
            let mut mutated = body.to_vec();
            let at = next(mutated.len());
            match next(4) {
                0 => mutated[at] = next(256) as u8,
                1 => {
                    let end = (at + 1 + next(4)).min(mutated.len());
                    mutated.drain(at..end);
                }
                2 => mutated.insert(at, next(256) as u8),
                _ => mutated.truncate(at.max(1)),
            }
            mutated.extend_from_slice(&RDB_VERSION.to_le_bytes());
            let crc = crc64(&mutated);
            mutated.extend_from_slice(&crc.to_le_bytes());
            let ours = restore_payload(&mutated);
            let theirs = c.try_call(&[b"RESTORE", b"mutated", b"0", &mutated, b"REPLACE"]);
            let redis_accepts = theirs == Reply::Status("OK".into());
            assert!(
                redis_accepts || ours.is_err(),
                "{key}: we accept a payload Redis refuses ({theirs:?}): {mutated:?}"
            );
            match (ours.is_ok(), redis_accepts) {
                (true, true) => {
                    both += 1;
                    // Both read the same entries (Redis validated the nodes deeply, so walking
                    // them is safe).
                    if let Ok(Value::Stream(ours)) = &ours {
                        let theirs = c.call(&[b"XRANGE", b"mutated", b"-", b"+"]);
                        assert_eq!(as_xrange(ours), theirs, "{key}: entries of {mutated:?}");
                    }
                }
                (false, false) => neither += 1,
                (false, true) => {
                    only_redis += 1;
                    let refused_on_purpose = [
                        "stream entry above the last ID",
                        "stream entry IDs out of order",
                        "stream length differs from its entries",
                        "stream entry without fields",
                        "stream PEL entry owned by two consumers",
                    ];
                    assert!(
                        matches!(ours, Err(persist::FormatError::Malformed(reason)) if refused_on_purpose.contains(&reason)),
                        "{key}: Redis accepts a payload we refuse, not on purpose ({ours:?}): {mutated:?}"
                    );
                }
                (true, false) => unreachable!(),
            }
        }
    }
    eprintln!("mutations: both accept {both}, both refuse {neither}, only Redis accepts {only_redis}");
    assert!(neither > 0 && both > 0, "the mutations reach both outcomes");
}

/// The commands of `aof` that name `key` (XGROUP names it after its subcommand).
fn commands_for(aof: &[u8], key: &[u8]) -> Vec<Vec<Vec<u8>>> {
    let mut reader = persist::aof::CommandReader::new(aof, 0);
    let mut out = Vec::new();
    while let Some(argv) = reader.next_command().expect("a well-formed AOF") {
        let key_at = if argv[0].eq_ignore_ascii_case(b"XGROUP") { 2 } else { 1 };
        if argv.get(key_at).map(Vec::as_slice) == Some(key) && !argv[0].eq_ignore_ascii_case(b"SELECT") {
            out.push(argv);
        }
    }
    out
}

/// Redis's own BGREWRITEAOF (without the RDB preamble) writes, for every stream, exactly the
/// commands `persist::aof::encode_stream_rewrite` writes for what we decoded from its DUMP.
#[test]
fn aof_rewrite_commands_are_redis_s() {
    if !redis_present() {
        return;
    }
    let dir = temp_dir("aof");
    let args = ["--appendonly", "yes", "--aof-use-rdb-preamble", "no", "--appenddirname", "aof"];
    let redis = start_redis(dir.clone(), &args);
    let mut c = Client::connect(redis.port);
    let keys = build_streams(&mut c);
    run(&mut c, "BGREWRITEAOF");
    // The rewrite's base file (sequence 2: starting the server wrote the first), once complete.
    let base = dir.join("aof").join("appendonly.aof.2.base.aof");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let aof = loop {
        let Reply::Bulk(Some(info)) = c.call(&[b"INFO", b"persistence"]) else { panic!("INFO") };
        let done = String::from_utf8_lossy(&info).contains("aof_rewrite_in_progress:0");
        if let (true, Ok(bytes)) = (done, std::fs::read(&base)) {
            break bytes;
        }
        assert!(std::time::Instant::now() < deadline, "BGREWRITEAOF did not finish");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    for (key, _) in keys {
        let stream = decode_stream(&bulk(c.call(&[b"DUMP", key.as_bytes()])));
        let mut ours = Vec::new();
        persist::aof::encode_stream_rewrite(&mut ours, key.as_bytes(), &stream);
        let theirs = commands_for(&aof, key.as_bytes());
        assert!(!theirs.is_empty(), "{key}");
        assert_eq!(commands_for(&ours, key.as_bytes()), theirs, "{key}");
    }
}
