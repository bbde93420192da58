//! The properties the fuzz targets check, for any input bytes: `resp`'s request parsing, and
//! `cluster`'s bus codec and nodes.conf parser.
//!
//! Each `check_*` function panics (which libFuzzer records as a crash, with the input saved under
//! `fuzz/artifacts/`) when a property fails. They are plain functions so a crashing input can also
//! be replayed from a unit test. They never touch the network or the disk.

pub mod restore;

use resp::{parse_request, pending_request_split, split_args, ArgSpan, Limits, ParseError, Parsed, INLINE_MAX_SIZE};

/// `proto-max-bulk-len` values worth exploring: tiny ones make the limit checks reachable from
/// short inputs, huge ones exercise the span-size guard.
const MAX_BULK_LEN_CHOICES: [i64; 8] = [0, 1, 3, 16, 16384, 512 * 1024 * 1024, u32::MAX as i64, i64::MAX];

/// Below this length every split point is tried; above it, a sample (the check is quadratic).
const ALL_SPLITS_UP_TO: usize = 300;
const SAMPLED_SPLITS: usize = 96;

/// Input layout: byte 0 picks the limits, byte 1 seeds the split points, the rest is what a
/// client sent. Parses request after request, as a connection would, checking each result.
pub fn check_parse_request(data: &[u8]) {
    let [control, split_seed, ref buf @ ..] = *data else {
        return;
    };
    let limits =
        Limits { unauthenticated: control & 1 != 0, max_bulk_len: MAX_BULK_LEN_CHOICES[(control >> 1) as usize & 7] };
    let mut spans = Vec::new();
    let mut pos = 0;
    // Bounded: each iteration consumes at least one byte or stops.
    while pos <= buf.len() {
        let seg = &buf[pos..];
        let result = parse_request(seg, &limits, &mut spans);
        check_result(seg, &limits, &result, &spans);
        check_peek_agrees(seg, &result, &spans);
        check_splits(seg, &limits, &result, &spans, split_seed);
        match result {
            Ok(Parsed::Multibulk { consumed })
            | Ok(Parsed::Inline { consumed, .. })
            | Ok(Parsed::Skip { consumed }) => pos += consumed,
            Ok(Parsed::Incomplete { .. }) | Err(_) => break,
        }
    }
}

/// `peek_request` (the prefetch hint) never panics, never claims more bytes than are buffered,
/// and when the real parser accepts the same request as a multibulk, agrees with it on the
/// request's length and on where its second argument is.
fn check_peek_agrees(seg: &[u8], result: &Result<Parsed, ParseError>, spans: &[ArgSpan]) {
    let Some(peeked) = resp::peek_request(seg) else { return };
    assert!(peeked.len <= seg.len(), "peek claims {} of {} bytes", peeked.len, seg.len());
    if let Some((off, len)) = peeked.second_arg {
        assert!(off + len <= peeked.len);
    }
    if let Ok(Parsed::Multibulk { consumed }) = result {
        assert_eq!(peeked.len, *consumed, "peek and parse disagree on the request's length");
        let second = spans.get(1).map(|s| s.of(seg));
        assert_eq!(peeked.second_arg.map(|(off, len)| &seg[off..off + len]), second);
    }
}

/// Properties of one result on its own, plus feeding its output back through the parser.
fn check_result(seg: &[u8], limits: &Limits, result: &Result<Parsed, ParseError>, spans: &[ArgSpan]) {
    match result {
        Ok(Parsed::Multibulk { consumed }) => {
            let consumed = *consumed;
            assert!(consumed > 0 && consumed <= seg.len(), "consumed {consumed} of {}", seg.len());
            assert_eq!(seg[0], b'*');
            assert!(!spans.is_empty(), "a multibulk command has at least one argument");
            for span in spans {
                let end = span.start as u64 + span.len as u64;
                assert!(end <= consumed as u64, "span {span:?} beyond consumed {consumed}");
                assert!(span.len as i64 <= limits.max_bulk_len, "span {span:?} over proto-max-bulk-len");
                if limits.unauthenticated {
                    assert!(span.len <= 16384, "unauthenticated bulk of {} bytes", span.len);
                }
            }
            if limits.unauthenticated {
                assert!(spans.len() <= 10, "unauthenticated multibulk of {} arguments", spans.len());
            }
            let args: Vec<Vec<u8>> = spans.iter().map(|s| s.of(seg).to_vec()).collect();
            let encoded = encode_multibulk(&args);
            assert_eq!(reparse_multibulk(&encoded, limits), Ok(args), "canonical re-encoding parses differently");
        }
        Ok(Parsed::Inline { consumed, args }) => {
            let consumed = *consumed;
            assert!(consumed > 0 && consumed <= seg.len(), "consumed {consumed} of {}", seg.len());
            assert_ne!(seg[0], b'*');
            assert_eq!(seg[consumed - 1], b'\n');
            assert!(!seg[..consumed - 1].contains(&b'\n'), "inline request went past its first newline");
            assert!(!args.is_empty(), "an empty inline line must be a Skip");
            assert!(spans.is_empty(), "inline arguments are owned, not spans");
            let line = seg[..consumed - 1].strip_suffix(b"\r").unwrap_or(&seg[..consumed - 1]);
            assert_eq!(split_args(line).as_ref(), Some(args));
            // The same arguments sent as multibulk parse back to themselves when the limits allow.
            let encoded = encode_multibulk(args);
            let fits = !limits.unauthenticated || (args.len() <= 10 && args.iter().all(|a| a.len() <= 16384));
            if fits && args.iter().all(|a| a.len() as i64 <= limits.max_bulk_len) {
                assert_eq!(reparse_multibulk(&encoded, limits), Ok(args.clone()));
            } else {
                assert!(reparse_multibulk(&encoded, limits).is_err(), "limits not enforced");
            }
            // And re-quoted as an inline request they parse back to themselves.
            let mut line = quote_line(args, 0);
            line.extend_from_slice(b"\r\n");
            let mut spans = Vec::new();
            match parse_request(&line, limits, &mut spans) {
                Ok(Parsed::Inline { consumed, args: again }) => {
                    assert_eq!(consumed, line.len());
                    assert_eq!(&again, args);
                }
                other => panic!("re-quoted inline request {:?} parsed as {other:?}", String::from_utf8_lossy(&line)),
            }
        }
        Ok(Parsed::Skip { consumed }) => {
            let consumed = *consumed;
            assert!(consumed > 0 && consumed <= seg.len(), "consumed {consumed} of {}", seg.len());
            if seg[0] != b'*' {
                assert_eq!(seg[consumed - 1], b'\n');
                let line = seg[..consumed - 1].strip_suffix(b"\r").unwrap_or(&seg[..consumed - 1]);
                assert_eq!(split_args(line), Some(Vec::new()), "skipped a line that has arguments");
            }
        }
        Ok(Parsed::Incomplete { min_total }) => {
            assert!(*min_total > seg.len(), "Incomplete asks for {min_total} bytes but {} are buffered", seg.len());
            // How CLIENT LIST splits the unfinished request stays inside it.
            let (argv_bytes, qbuf_from) = pending_request_split(seg);
            assert!(
                qbuf_from <= seg.len() && argv_bytes <= qbuf_from,
                "split {argv_bytes}/{qbuf_from} of {}",
                seg.len()
            );
        }
        Err(e) => assert!(e.reply_text().starts_with("ERR Protocol error: ")),
    }
}

fn is_too_big(e: &ParseError) -> bool {
    matches!(e, ParseError::TooBigMultibulkCount | ParseError::TooBigBulkCount | ParseError::TooBigInline)
}

/// Parsing any prefix of `seg` must agree with parsing `seg` whole: a prefix holding the whole
/// first command gives the same result; a shorter one is `Incomplete` with a bound that is not
/// past where the command really ends. A "too big" error may come early, as in Redis, where it
/// depends on how the bytes were split into reads.
fn check_splits(seg: &[u8], limits: &Limits, whole: &Result<Parsed, ParseError>, whole_spans: &[ArgSpan], seed: u8) {
    let complete_at = match whole {
        Ok(Parsed::Multibulk { consumed }) | Ok(Parsed::Inline { consumed, .. }) | Ok(Parsed::Skip { consumed }) => {
            Some(*consumed)
        }
        _ => None,
    };
    let mut spans = Vec::new();
    let mut check = |k: usize| {
        let prefix = &seg[..k];
        let part = parse_request(prefix, limits, &mut spans);
        if let Some(c) = complete_at {
            if k >= c {
                assert_eq!(&part, whole, "prefix of {k} bytes holds the whole command");
                assert_eq!(spans.as_slice(), whole_spans);
                return;
            }
        }
        match &part {
            Ok(Parsed::Incomplete { min_total }) => {
                assert!(*min_total > k, "prefix {k}: Incomplete asks for only {min_total}");
                if let Some(c) = complete_at {
                    assert!(*min_total <= c, "prefix {k}: asks for {min_total} but the command ends at {c}");
                }
            }
            Err(e) if is_too_big(e) && k > INLINE_MAX_SIZE => {}
            Err(e) => assert_eq!(Err::<&Parsed, _>(e), whole.as_ref(), "prefix {k} fails differently"),
            Ok(other) => panic!("prefix {k} of an unfinished command parsed as {other:?}; whole: {whole:?}"),
        }
    };
    if seg.len() <= ALL_SPLITS_UP_TO {
        (0..=seg.len()).for_each(&mut check);
        return;
    }
    (0..=ALL_SPLITS_UP_TO).for_each(&mut check);
    let mut state = u64::from(seed) << 32 | seg.len() as u64 | 1;
    for _ in 0..SAMPLED_SPLITS {
        // xorshift64: cheap, deterministic per input.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        check((state % (seg.len() as u64 + 1)) as usize);
    }
    if let Some(c) = complete_at {
        for k in [c - 1, c, c + 1] {
            if k <= seg.len() {
                check(k);
            }
        }
    }
}

/// Properties of `split_args` for any line; byte 0 picks the quoting style of the round trip.
pub fn check_split_args(data: &[u8]) {
    let [style, ref line @ ..] = *data else {
        return;
    };
    let Some(args) = split_args(line) else {
        return check_inline_agrees(line, None);
    };
    let quoted = quote_line(&args, style);
    assert_eq!(split_args(&quoted).as_ref(), Some(&args), "quoted as {:?}", String::from_utf8_lossy(&quoted));
    check_inline_agrees(line, Some(args));
}

/// An inline request is the line split by `split_args`, when the line is one request.
fn check_inline_agrees(line: &[u8], split: Option<Vec<Vec<u8>>>) {
    if line.first() == Some(&b'*')
        || line.contains(&b'\n')
        || line.last() == Some(&b'\r')
        || line.len() > INLINE_MAX_SIZE
    {
        return;
    }
    let mut request = line.to_vec();
    request.push(b'\n');
    let consumed = request.len();
    let mut spans = Vec::new();
    if line.contains(&0) {
        // As in Redis, the newline search stops at a NUL: the request never looks complete.
        let got = parse_request(&request, &Limits::default(), &mut spans);
        assert!(matches!(got, Ok(Parsed::Incomplete { .. })), "NUL line parsed as {got:?}");
        return;
    }
    let expected = match split {
        None => Err(ParseError::UnbalancedQuotes),
        Some(args) if args.is_empty() => Ok(Parsed::Skip { consumed }),
        Some(args) => Ok(Parsed::Inline { consumed, args }),
    };
    assert_eq!(parse_request(&request, &Limits::default(), &mut spans), expected);
}

/// The canonical multibulk encoding of `args`.
pub fn encode_multibulk(args: &[Vec<u8>]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Parses a buffer that must hold exactly one multibulk command and returns its arguments.
fn reparse_multibulk(buf: &[u8], limits: &Limits) -> Result<Vec<Vec<u8>>, String> {
    let mut spans = Vec::new();
    match parse_request(buf, limits, &mut spans) {
        Ok(Parsed::Multibulk { consumed }) if consumed == buf.len() => {
            Ok(spans.iter().map(|s| s.of(buf).to_vec()).collect())
        }
        other => Err(format!("{other:?}")),
    }
}

/// Quotes arguments so `split_args` gives them back. `style` picks, per argument, among the forms
/// that can carry it: bare, single-quoted, or double-quoted with escapes (which carries anything).
pub fn quote_line(args: &[Vec<u8>], style: u8) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        let choice = style.rotate_left(i as u32 * 3) % 3;
        if choice == 0 && can_be_bare(arg, i == 0) {
            out.extend_from_slice(arg);
        } else if choice == 1 && can_be_single_quoted(arg) {
            out.push(b'\'');
            for &b in arg {
                if b == b'\'' {
                    out.push(b'\\');
                }
                out.push(b);
            }
            out.push(b'\'');
        } else {
            quote_double(arg, &mut out);
        }
    }
    out
}

fn can_be_bare(arg: &[u8], first: bool) -> bool {
    !arg.is_empty()
        && (!first || arg[0] != b'*')
        && arg.iter().all(|&b| !matches!(b, b' ' | b'\n' | b'\r' | b'\t' | 0 | 0x0b | 0x0c | b'"' | b'\''))
}

/// Inside single quotes only `\'` is an escape, so a trailing backslash would swallow the closing
/// quote; a newline would end the request line; a raw NUL is left to `\x00` in double quotes,
/// since Redis's splitter stops at a NUL.
fn can_be_single_quoted(arg: &[u8]) -> bool {
    arg.last() != Some(&b'\\') && !arg.contains(&b'\n') && !arg.contains(&0)
}

fn quote_double(arg: &[u8], out: &mut Vec<u8>) {
    resp::repr(out, arg);
}

/// Input layout: byte 0 is a control byte, the rest is what a peer sent on the cluster bus. With
/// bit 0 set, the signature and the length field are overwritten with valid ones first, so the
/// search spends its time past the framing checks (the fixture packets make good seeds either way).
///
/// Checked: `frame` never panics and its answer is consistent with the buffer; `decode` never
/// panics; anything it accepts re-encodes to bytes that decode to the same message, and those
/// bytes are a fixed point of decode → encode.
pub fn check_cluster_bus(data: &[u8]) {
    use cluster::bus::{self, Framing};
    let [control, ref rest @ ..] = *data else {
        return;
    };
    let mut packet = rest.to_vec();
    if control & 1 != 0 && packet.len() >= 8 {
        packet[..4].copy_from_slice(&bus::SIGNATURE);
        let len = u32::try_from(packet.len()).unwrap_or(u32::MAX);
        packet[4..8].copy_from_slice(&len.to_be_bytes());
    }
    // A small limit now and then, so the "too long" branch is reachable from short inputs.
    let max = if control & 2 != 0 { 4096 } else { bus::DEFAULT_MAX_PACKET_LEN_BYTES };
    match bus::frame(&packet, max) {
        Ok(Framing::NeedMore { total_len }) => {
            assert!(total_len > packet.len(), "NeedMore {total_len} with {} buffered", packet.len());
            assert!(total_len == 8 || (bus::HEADER_LEN..=max as usize).contains(&total_len));
        }
        Ok(Framing::Ready { packet_len }) => {
            assert!((bus::HEADER_LEN..=packet.len()).contains(&packet_len));
            assert!(packet_len <= max as usize);
            // The framed packet decodes exactly as a buffer holding only it.
            if packet_len == packet.len() {
                let _ = bus::decode(&packet[..packet_len]);
            }
        }
        Err(_) => {}
    }
    let Ok(msg) = bus::decode(&packet) else { return };
    let again = bus::encode(&msg).expect("a decoded message always fits its wire fields");
    assert!(again.len() <= packet.len(), "re-encoding grew from {} to {} bytes", packet.len(), again.len());
    let redecoded = bus::decode(&again).expect("our own encoding decodes");
    assert_eq!(redecoded, msg, "decode(encode(m)) != m");
    assert_eq!(bus::encode(&redecoded).expect("fits"), again, "encoding is not a fixed point");
    if control & 2 == 0 {
        assert_eq!(bus::frame(&again, max), Ok(Framing::Ready { packet_len: again.len() }));
    }
}

/// Any text (lossily UTF-8) given to the nodes.conf parser: never panics; whatever it accepts
/// writes to text that parses back to the same config, and that text is a fixed point.
pub fn check_nodes_conf(data: &[u8]) {
    use cluster::NodesConf;
    let text = String::from_utf8_lossy(data);
    let Ok(conf) = NodesConf::parse(&text) else { return };
    let written = conf.to_text();
    let reparsed = NodesConf::parse(&written).expect("our own nodes.conf parses");
    assert_eq!(reparsed, conf, "parse(write(c)) != c");
    assert_eq!(reparsed.to_text(), written, "writing is not a fixed point");
}

/// The aclfile parser (`acl::parse_aclfile`, Redis's `ACLLoadFromFile`): byte 0 picks
/// acl-pubsub-default (bit 0), the rest is the file. Never panics or hangs; a file that loads
/// is described as `user` lines (what ACL SAVE writes) that load back to users described by the
/// same lines, unless a key or channel pattern holds a parenthesis: Redis accepts those and
/// writes them as they are, where they read back as a selector's bounds (the format's own
/// ambiguity, which we keep to load what Redis loads).
pub fn check_acl_file(data: &[u8]) {
    let [control, ref file @ ..] = *data else {
        return;
    };
    let pubsub_all = control & 1 != 0;
    let Ok(users) = acl::parse_aclfile(file, "users.acl", pubsub_all) else { return };
    let mut lines = users.lines();
    lines.sort();
    // In a description every selector is " (" ... ")", and patterns hold no spaces: any other
    // parenthesis is inside a pattern.
    let parens_only_bound_selectors = |l: &Vec<u8>| {
        let selectors = l.windows(2).filter(|w| w == b" (").count();
        let count = |c: u8| l.iter().filter(|&&b| b == c).count();
        count(b'(') == selectors && count(b')') == selectors
    };
    if !lines.iter().all(parens_only_bound_selectors) {
        return;
    }
    let text = lines.join(&b'\n');
    let again = match acl::parse_aclfile(&text, "users.acl", pubsub_all) {
        Ok(u) => u,
        Err(e) => panic!("our own aclfile does not load: {e}\n{}", String::from_utf8_lossy(&text)),
    };
    let mut relines = again.lines();
    relines.sort();
    assert_eq!(relines, lines, "describing the loaded description changed it");
}

/// Commands for `cluster::command::cluster_command`, split from the input: lines are commands
/// (at most 16), NUL-separated arguments. Whatever a client sends, the command never panics and
/// leaves the machine's bookkeeping consistent (`Machine::check_consistency`).
pub fn check_cluster_command(data: &[u8]) {
    use cluster::command::{cluster_command, EmptyKeyspace};
    use cluster::machine::{Config, Machine};
    let mut machine = Machine::fresh(Config::default(), 7, 1_000);
    for (i, line) in data.split(|&b| b == b'\n').take(16).enumerate() {
        let args: Vec<&[u8]> = line.split(|&b| b == 0).collect();
        let _ = cluster_command(&mut machine, &args, &EmptyKeyspace, 1_000 + i as u64 * 100);
        if let Err(e) = machine.check_consistency() {
            panic!("inconsistent after {args:?}: {e}");
        }
    }
}

/// A hostile or confused cluster driving the failover rules of one machine
/// (`cluster::failover`). Byte 0 picks who we are: a voting master (`a`), a master with two
/// replicas (`b`), or one of its replicas (`e`), in a loaded cluster of three masters and two
/// replicas. Each following 8-byte record is one event: a PING / PONG / FAILOVER_AUTH_REQUEST /
/// FAILOVER_AUTH_ACK / MFSTART / UPDATE / FAIL from a chosen node with chosen epochs, flags,
/// offset, role and slot claim; a cron tick; CLUSTER FAILOVER [FORCE|TAKEOVER]; a replication
/// offset or a confirmed pause (at most 64 events).
///
/// Checked after each: nothing panics; the bookkeeping stays consistent
/// (`Machine::check_consistency`); currentEpoch and lastVoteEpoch never go back; every
/// FAILOVER_AUTH_ACK follows an fsynced save in its action list, and no two ACKs carry the same
/// epoch (one vote per epoch).
pub fn check_cluster_failover(data: &[u8]) {
    use cluster::bus::{msg_type, Body, Header, IpField, Message, PingBody};
    use cluster::machine::{Action, Config, LinkAddrs, LinkId, Machine};
    use cluster::{ClusterState, NodeFlags, NodeName, NodesConf, SlotBitmap};
    let [who, ref events @ ..] = *data else {
        return;
    };
    let letters = ['a', 'b', 'c', 'e', 'f'];
    let names: Vec<NodeName> =
        letters.iter().map(|c| NodeName::parse(&c.to_string().repeat(40)).unwrap_or(NodeName::NULL)).collect();
    let me = ['a', 'b', 'e'][usize::from(who % 3)];
    let mut text = String::new();
    for (i, c) in letters.iter().enumerate() {
        let flags = if *c == me { "myself," } else { "" };
        let line = match c {
            'a' => format!("{flags}master - 0 0 1 connected 0-5460"),
            'b' => format!("{flags}master - 0 0 2 connected 5461-10922"),
            'c' => format!("{flags}master - 0 0 3 connected 10923-16383"),
            _ => format!("{flags}slave {} 0 0 2 connected", names[1]),
        };
        text.push_str(&format!("{} 10.0.0.{}:7000@17000 {line}\n", names[i], i + 1));
    }
    text.push_str("vars currentEpoch 3 lastVoteEpoch 0\n");
    let Ok(conf) = NodesConf::parse(&text) else { return };
    let Ok(state) = ClusterState::from_nodes_conf(&conf, 1_000) else { return };
    let config = Config { node_timeout_ms: 1000, port: 7000, cport: 17000, ..Config::default() };
    let mut m = Machine::new(state, config, u64::from(who), 1_000);
    let mut now = 1_000u64;
    let mut links = Vec::new();
    for action in m.tick(now) {
        if let Action::Connect { link, .. } = action {
            links.push(link);
        }
    }
    for &link in &links {
        m.link_connected(link, now);
    }
    let mut acked_epochs = std::collections::BTreeSet::new();
    let (mut last_current, mut last_vote) = (m.state.current_epoch, m.state.last_vote_epoch);
    let addrs = LinkAddrs { peer_ip: "10.0.0.9".into(), local_ip: "10.0.0.1".into() };
    for record in events.chunks_exact(8).take(64) {
        let [kind, sender, epoch, flags, offset, slots, role, dt] =
            [record[0], record[1], record[2], record[3], record[4], record[5], record[6], record[7]];
        now += u64::from(dt) * 20;
        let from = names[usize::from(sender) % names.len()];
        let mut myslots = SlotBitmap::default();
        let (first, last) =
            [(0u16, 5460u16), (5461, 10922), (10923, 16383), (0, 0), (100, 200)][usize::from(slots % 5)];
        if slots % 5 != 3 {
            for slot in first..=last {
                myslots.set(slot, true);
            }
        }
        let replicaof = match role % 3 {
            0 => None,
            1 => Some(names[1]),
            _ => Some(names[usize::from(role / 3) % names.len()]),
        };
        let header = Header {
            port: 7000,
            current_epoch: m.state.current_epoch.saturating_sub(2) + u64::from(epoch % 8),
            config_epoch: u64::from(epoch / 8 % 8),
            repl_offset: u64::from(offset),
            sender: from,
            myslots: Box::new(myslots),
            replicaof,
            myip: IpField::default(),
            pport: 0,
            cport: 17000,
            flags: if replicaof.is_some() { NodeFlags::SLAVE } else { NodeFlags::MASTER },
            state: 0,
            mflags: [flags & 7, 0, 0],
        };
        let target = names[usize::from(flags >> 3) % names.len()];
        let body = match kind % 12 {
            0 => Some(Body::Ping(PingBody::default())),
            1 => Some(Body::Pong(PingBody::default())),
            2 | 3 => Some(Body::FailoverAuthRequest),
            4 => Some(Body::FailoverAuthAck),
            5 => Some(Body::MfStart),
            6 => Some(Body::Update { config_epoch: u64::from(epoch), node: target, slots: header.myslots.clone() }),
            7 => Some(Body::Fail { node: target }),
            _ => None,
        };
        let actions = match (kind % 12, body) {
            (_, Some(body)) => {
                let link = LinkId::In(u64::from(sender));
                m.handle_message(link, &addrs, &Message { header, body }, now)
            }
            (8, None) => m.tick(now),
            (9, None) => {
                let words: &[&[u8]] = match offset % 3 {
                    0 => &[b"failover"],
                    1 => &[b"failover", b"force"],
                    _ => &[b"failover", b"takeover"],
                };
                cluster::command::cluster_command(&mut m, words, &cluster::command::EmptyKeyspace, now).1
            }
            (10, None) => {
                m.set_repl_offset(u64::from(offset));
                m.set_master_link_time(if role & 1 == 0 { Some(now) } else { None });
                Vec::new()
            }
            _ => m.writes_paused(u64::from(offset), now),
        };
        let mut fsynced = false;
        for action in &actions {
            match action {
                Action::SaveConfig { fsync: true } => fsynced = true,
                Action::Send { msg, .. } if msg.body.msg_type() == msg_type::FAILOVER_AUTH_ACK => {
                    assert!(fsynced, "a vote was sent before it was saved: {actions:?}");
                    assert!(acked_epochs.insert(msg.header.current_epoch), "two votes in one epoch");
                }
                _ => {}
            }
        }
        if let Err(e) = m.check_consistency() {
            panic!("inconsistent: {e}");
        }
        assert!(m.state.current_epoch >= last_current, "currentEpoch went back");
        assert!(m.state.last_vote_epoch >= last_vote, "lastVoteEpoch went back");
        last_current = m.state.current_epoch;
        last_vote = m.state.last_vote_epoch;
    }
}

/// The AOF's two formats (`persist::aof`). Byte 0 picks the parser: even, the manifest; odd,
/// the command stream of an incr file. Never panics or hangs; an accepted manifest written out
/// parses back to itself and writing is a fixed point; every command read, re-encoded, reads
/// back the same; reading stops (at the end or with an error inside the input) within one
/// command per byte.
pub fn check_aof(data: &[u8]) {
    use persist::aof::{encode_command, parse_manifest, CommandReader, StreamError};
    let [control, ref bytes @ ..] = *data else {
        return;
    };
    if control & 1 == 0 {
        let Ok(m) = parse_manifest(bytes) else { return };
        // Quoting can lengthen a line past the limit: writing then refuses, never writes junk.
        let Ok(written) = m.to_bytes() else { return };
        if written.is_empty() {
            // Only comment lines: nothing to write back (an empty manifest is refused).
            return;
        }
        let again = parse_manifest(&written).expect("our own manifest parses");
        assert_eq!(again, m, "parse(write(m)) != m");
        assert_eq!(again.to_bytes().ok(), Some(written), "writing is not a fixed point");
        return;
    }
    let mut reader = CommandReader::new(bytes, 0);
    let mut reencoded = Vec::new();
    let mut commands = Vec::new();
    for _ in 0..=bytes.len() {
        let before = reader.position();
        match reader.next_command() {
            Ok(Some(argv)) => {
                assert!(!argv.is_empty(), "a command without arguments");
                assert!(reader.position() > before, "a command consumed no bytes");
                encode_command(&mut reencoded, &argv);
                commands.push(argv);
            }
            Ok(None) => break,
            Err(StreamError::Truncated { valid_up_to }) => {
                assert!(valid_up_to <= bytes.len());
                break;
            }
            Err(StreamError::BadFormat { offset }) => {
                assert!(offset < bytes.len());
                break;
            }
        }
    }
    let mut back = CommandReader::new(&reencoded, 0);
    for argv in &commands {
        assert_eq!(back.next_command().expect("our own encoding reads").as_ref(), Some(argv));
    }
    assert_eq!(back.next_command(), Ok(None));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acl_file_check_round_trips_real_files() {
        let loads = |f: &[u8]| acl::parse_aclfile(&f[1..], "users.acl", false).is_ok();
        assert!(loads(b"\x00user a on >p ~k:* &c +@all -debug (~x +get)\nuser b off resetchannels %R~r -@all"));
        assert!(!loads(b"\x00user a on\nuser a off"));
        check_acl_file(b"\x00user default on nopass ~* &* +@all\nuser alice on >secret ~cached:* resetchannels &news.* -@all +get +set|ex (~other:* +@read)\n");
        check_acl_file(b"\x01user bob off #5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8 %R~r:* %W~w:* +@all -debug -config|set\n\nuser carol on nopass allkeys allchannels allcommands -@dangerous +client|list\n");
        // Patterns and first-args of other bytes than UTF-8 are written back as they are.
        check_acl_file(b"\x00user z on ~a\x8d ~a\x8f &b\xff -@all +select|\xfe\n");
        // Rejected files: a bad line, a duplicate user, an unbalanced selector.
        check_acl_file(b"\x00user\nuser d on\nuser d off\nuser e (~x +get\n");
    }

    #[test]
    fn cluster_command_check_runs_real_sequences() {
        check_cluster_command(b"addslotsrange\x000\x0099\nsetslot\x005\x00migrating\x00abc\ndelslots\x003\nflushslots");
        check_cluster_command(b"meet\x00127.0.0.1\x007000\nset-config-epoch\x005\nbumpepoch\nreset\x00hard");
    }

    fn aof_checks_pass_on_known_inputs() {
        check_aof(b"\x00file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n");
        check_aof(b"\x00# comment\nfile \"a b\" seq 3 type h x y\n");
        check_aof(b"\x01*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n#TS:1\r\n*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET");
        check_aof(b"\x01*1\r\n$99999999999999999999\r\n");
        check_aof(b"");
        // Found by the fuzzer: quoting 0xff bytes took a manifest line past 1024 bytes.
        let mut long = b"\x00file app\xa0ndon".to_vec();
        long.extend(std::iter::repeat_n(0xffu8, 150));
        long.extend_from_slice(b"incr.aof seq 1 type i\n");
        check_aof(&long);
    }

    #[test]
    fn cluster_failover_check_runs_real_sequences() {
        // A voter asked twice in one epoch; a replica electing itself and being voted for; a
        // manual failover with its pause.
        for who in 0..3u8 {
            let mut data = vec![who];
            data.extend_from_slice(&[7, 1, 3, 1 << 3, 0, 1, 0, 1]);
            data.extend_from_slice(&[2, 3, 4, 0, 9, 1, 1, 1]);
            data.extend_from_slice(&[2, 4, 4, 0, 9, 1, 1, 1]);
            data.extend_from_slice(&[10, 0, 0, 0, 50, 0, 0, 1]);
            for _ in 0..20 {
                data.extend_from_slice(&[8, 0, 0, 0, 0, 0, 0, 10]);
            }
            data.extend_from_slice(&[4, 0, 7, 0, 0, 0, 0, 1]);
            data.extend_from_slice(&[4, 2, 7, 0, 0, 2, 0, 1]);
            data.extend_from_slice(&[9, 0, 0, 0, 0, 0, 0, 1]);
            data.extend_from_slice(&[5, 3, 4, 0, 9, 3, 1, 1]);
            data.extend_from_slice(&[11, 0, 0, 0, 60, 0, 0, 1]);
            data.extend_from_slice(&[9, 0, 0, 0, 1, 0, 0, 1]);
            data.extend_from_slice(&[9, 0, 0, 0, 2, 0, 0, 1]);
            check_cluster_failover(&data);
        }
        check_cluster_failover(b"");
        check_cluster_failover(b"\x01\x02");
    }

    #[test]
    fn cluster_failover_check_survives_random_events() {
        // A blind search stand-in for machines without cargo-fuzz: 30 inputs of random records (unoptimized, each takes ~0.3 s; 200 passed when this was written).
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..30 {
            let mut data = Vec::with_capacity(1 + 8 * 48);
            for _ in 0..(1 + 8 * 48) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                data.push((x >> 24) as u8);
            }
            check_cluster_failover(&data);
        }
    }

    #[test]
    fn known_inputs_pass() {
        check_parse_request(b"\x00\x07*2\r\n$3\r\nGET\r\n$3\r\nkey\r\nPING\r\n\r\n*0\r\n*1\r\n$4\r\nPI");
        check_parse_request(b"\x01\x00set \"a b\" 'c\\'d' \"\\x41\\n\"\r\n");
        check_split_args(b"\x05set \"a b\" 'c\\'d' \"\\x41\\n\" plain");
        // A manifest naming a file with a single quote: written back bare it no longer parsed.
        check_aof(b"~file ap\"'\"\x0c seq 2 type h\n");
    }

    #[test]
    fn cluster_checks_pass_on_captured_inputs() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../crates/cluster/tests/fixtures");
        for entry in std::fs::read_dir(format!("{dir}/bus")).unwrap() {
            let packet = std::fs::read(entry.unwrap().path()).unwrap();
            for control in 0..4u8 {
                let mut data = vec![control];
                data.extend_from_slice(&packet);
                check_cluster_bus(&data);
            }
        }
        for entry in std::fs::read_dir(format!("{dir}/nodes_conf")).unwrap() {
            check_nodes_conf(&std::fs::read(entry.unwrap().path()).unwrap());
        }
        check_cluster_bus(b"\x01RCmb");
        check_nodes_conf(b"vars currentEpoch 1\n");
    }

    #[test]
    fn quote_line_round_trips_awkward_arguments() {
        let args: Vec<Vec<u8>> = vec![b"*x".to_vec(), b"".to_vec(), b"a'b\\".to_vec(), vec![0, 0xff, b'\n', b'"']];
        for style in 0..=255u8 {
            assert_eq!(split_args(&quote_line(&args, style)), Some(args.clone()), "style {style}");
        }
    }
}

/// The replica's reading of a master's PSYNC reply and RDB preamble (`persist::repl`). Input
/// layout: up to the first LF, a line given to both parsers; byte after it seeds the read sizes;
/// the rest is a payload searched for its own first 40 bytes as the EOF mark, fed in pieces,
/// which must find what one search of the whole payload finds.
pub fn check_repl_handshake(data: &[u8]) {
    use persist::repl::{find_eof_mark, parse_psync_reply, parse_rdb_preamble, PsyncReply, RdbPreamble, EOF_MARK_LEN};
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let line = String::from_utf8_lossy(&data[..split]);
    match parse_psync_reply(&line) {
        PsyncReply::Full { replid, .. } => assert_eq!(replid.len(), 40),
        PsyncReply::Continue { replid: Some(id) } => assert_eq!(id.len(), 40),
        _ => {}
    }
    if let Ok(RdbPreamble::Eof(mark)) = parse_rdb_preamble(&line) {
        assert!(line.ends_with(std::str::from_utf8(&mark).unwrap_or("\u{0}")));
    }
    let rest = data.get(split + 1..).unwrap_or(&[]);
    let [seed, ref payload @ ..] = *rest else { return };
    if payload.len() < EOF_MARK_LEN {
        return;
    }
    let mut mark = [0u8; EOF_MARK_LEN];
    mark.copy_from_slice(&payload[..EOF_MARK_LEN]);
    let body = &payload[1..];
    let whole = body.windows(EOF_MARK_LEN).position(|w| w == &mark[..]);
    // Feed `body` in pieces of 1..=8 bytes chosen by the seed, as reads would deliver it.
    let (mut len, mut scanned, mut found, mut step) = (0usize, 0usize, None, seed as usize);
    while len < body.len() && found.is_none() {
        step = step.wrapping_mul(31).wrapping_add(7);
        len = (len + 1 + step % 8).min(body.len());
        found = find_eof_mark(&body[..len], scanned, &mark);
        scanned = len;
    }
    assert_eq!(found, whole, "incremental search disagrees with a whole search");
}

#[cfg(test)]
mod repl_handshake_tests {
    #[test]
    fn examples() {
        let mark = "m".repeat(40);
        let mut input = format!("$EOF:{mark}\n").into_bytes();
        input.push(3);
        input.extend_from_slice(mark.as_bytes());
        input.extend_from_slice(b"some rdb bytes");
        input.extend_from_slice(mark.as_bytes());
        input.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
        super::check_repl_handshake(&input);
        super::check_repl_handshake(b"+FULLRESYNC 0123456789012345678901234567890123456789 7\n");
        super::check_repl_handshake(b"");
    }
}
