//! Redis 7.0's multi-part append-only file, as bytes: the manifest (`file <name> seq <n> type
//! b|h|i` lines), the names of the base, incr and manifest files, and the command stream the
//! incr files (and `.base.aof` bases) hold — RESP arrays of bulk strings, with `#` annotation
//! lines skipped.
//!
//! This module owns the formats only. It never does I/O, never reads a clock and never runs a
//! command: the server reads the files, hands the bytes here, and executes what comes back.
//! Every reader treats its input as hostile: a length is checked against the bytes present
//! before anything is copied, and bad input is an error that says where it is, never a panic.

use thiserror::Error;

/// Redis's `MANIFEST_MAX_LINE`: a longer manifest line is an error.
pub const MANIFEST_MAX_LINE: usize = 1024;

/// The kind of a file the manifest lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// `b`: the base (an RDB file or a command stream), at most one.
    Base,
    /// `h`: a file a rewrite replaced, kept only until it is deleted.
    History,
    /// `i`: an incremental file, replayed after the base in sequence order.
    Incr,
}

impl FileKind {
    fn letter(self) -> char {
        match self {
            FileKind::Base => 'b',
            FileKind::History => 'h',
            FileKind::Incr => 'i',
        }
    }
}

/// One `file ... seq ... type ...` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestEntry {
    pub name: String,
    pub seq: i64,
    pub kind: FileKind,
}

/// The files of one AOF, in load order: the base, then the incr files by sequence.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    pub base: Option<ManifestEntry>,
    pub history: Vec<ManifestEntry>,
    pub incrs: Vec<ManifestEntry>,
}

/// Why a manifest was refused, with Redis's message and the line it found wrong.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{reason} (line {line_number}: '{line}')")]
pub struct ManifestError {
    /// Redis's text, e.g. "Invalid AOF manifest file format".
    pub reason: &'static str,
    /// 1-based; 0 when the error is not about one line (an empty manifest).
    pub line_number: usize,
    pub line: String,
}

fn manifest_error(reason: &'static str, line_number: usize, line: &[u8]) -> ManifestError {
    ManifestError { reason, line_number, line: String::from_utf8_lossy(line).into_owned() }
}

/// Parses a manifest with the checks of Redis's `aofLoadManifestFromFile`: comment lines (`#`)
/// skipped; every other line must end in a newline, be at most [`MANIFEST_MAX_LINE`] bytes, not
/// be blank, and hold key/value pairs (at least three) naming the file (a base name, not a
/// path), a non-zero seq and a type; one base at most; incr seqs strictly increasing; and at
/// least one line.
pub fn parse_manifest(bytes: &[u8]) -> Result<Manifest, ManifestError> {
    let mut m = Manifest::default();
    let mut max_incr_seq = 0i64;
    let mut rest = bytes;
    let mut line_number = 0usize;
    while !rest.is_empty() {
        // fgets reads at most MANIFEST_MAX_LINE bytes: a longer line is seen without its newline.
        let newline = rest.iter().take(MANIFEST_MAX_LINE).position(|&b| b == b'\n');
        let raw = match newline {
            Some(i) => &rest[..=i],
            None => &rest[..rest.len().min(MANIFEST_MAX_LINE)],
        };
        rest = &rest[raw.len()..];
        line_number += 1;
        if raw.first() == Some(&b'#') {
            continue;
        }
        if newline.is_none() {
            return Err(manifest_error("The AOF manifest file contains too long line", line_number, raw));
        }
        let line = trim(raw);
        if line.is_empty() {
            return Err(manifest_error("Invalid AOF manifest file format", line_number, line));
        }
        let args = match resp::split_args(line) {
            Some(a) if a.len() >= 6 && a.len() % 2 == 0 => a,
            _ => return Err(manifest_error("Invalid AOF manifest file format", line_number, line)),
        };
        let (mut name, mut seq, mut kind) = (None, 0i64, None);
        for pair in args.chunks(2) {
            let (key, value) = (&pair[0], &pair[1]);
            if key.eq_ignore_ascii_case(b"file") {
                let n = String::from_utf8_lossy(value).into_owned();
                if n.contains('/') {
                    return Err(manifest_error("File can't be a path, just a filename", line_number, line));
                }
                name = Some(n);
            } else if key.eq_ignore_ascii_case(b"seq") {
                seq = atoll(value);
            } else if key.eq_ignore_ascii_case(b"type") {
                kind = value.first().copied();
            }
        }
        let (Some(name), Some(kind)) = (name.filter(|n| !n.is_empty()), kind.filter(|&k| k != 0)) else {
            return Err(manifest_error("Invalid AOF manifest file format", line_number, line));
        };
        if seq == 0 {
            return Err(manifest_error("Invalid AOF manifest file format", line_number, line));
        }
        match kind {
            b'b' => {
                if m.base.is_some() {
                    return Err(manifest_error("Found duplicate base file information", line_number, line));
                }
                m.base = Some(ManifestEntry { name, seq, kind: FileKind::Base });
            }
            b'h' => m.history.push(ManifestEntry { name, seq, kind: FileKind::History }),
            b'i' => {
                if seq <= max_incr_seq {
                    return Err(manifest_error("Found a non-monotonic sequence number", line_number, line));
                }
                max_incr_seq = seq;
                m.incrs.push(ManifestEntry { name, seq, kind: FileKind::Incr });
            }
            _ => return Err(manifest_error("Unknown AOF file type", line_number, line)),
        }
    }
    if line_number == 0 {
        return Err(manifest_error("Found an empty AOF manifest", 0, b""));
    }
    Ok(m)
}

/// C's `atoll`: optional blanks and sign, then digits up to the first non-digit; 0 if none.
fn atoll(s: &[u8]) -> i64 {
    let s = trim(s);
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut v: i64 = 0;
    for &b in digits.iter().take_while(|b| b.is_ascii_digit()) {
        v = v.wrapping_mul(10).wrapping_add((b - b'0') as i64);
    }
    if neg {
        v.wrapping_neg()
    } else {
        v
    }
}

fn trim(s: &[u8]) -> &[u8] {
    let blank = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let start = s.iter().position(|b| !blank(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|b| !blank(b)).map_or(start, |i| i + 1);
    &s[start..end]
}

impl Manifest {
    /// The manifest's text as Redis writes it: the base, the history files, then the incr
    /// files, one `file <name> seq <n> type <c>` line each (a name that needs it is quoted).
    /// A line longer than [`MANIFEST_MAX_LINE`] (a very long or much-quoted name) is an error:
    /// a manifest no loader could read back is never produced.
    pub fn to_bytes(&self) -> Result<Vec<u8>, ManifestError> {
        let mut out = Vec::new();
        for (i, e) in self.base.iter().chain(&self.history).chain(&self.incrs).enumerate() {
            let start = out.len();
            out.extend_from_slice(b"file ");
            out.extend_from_slice(&quote_if_needed(&e.name));
            out.extend_from_slice(format!(" seq {} type {}\n", e.seq, e.kind.letter()).as_bytes());
            if out.len() - start > MANIFEST_MAX_LINE {
                return Err(manifest_error("The AOF manifest file contains too long line", i + 1, &out[start..]));
            }
        }
        Ok(out)
    }

    /// The sequence number the next incr file gets.
    pub fn next_incr_seq(&self) -> i64 {
        self.incrs.last().map_or(1, |e| e.seq.saturating_add(1))
    }

    /// The sequence number the next base file gets.
    pub fn next_base_seq(&self) -> i64 {
        self.base.as_ref().map_or(1, |e| e.seq.saturating_add(1))
    }
}

/// Redis's `sdscatrepr` for names that contain blanks, quotes, backslashes or non-printable
/// bytes (`sdsneedsrepr`); other names are written as they are. Unlike `sdsneedsrepr` a single
/// quote also forces quoting: Redis writes `ap'` bare, and its own `sdssplitargs` then reads the
/// quote as the start of a quoted string and refuses the whole manifest (found by the aof_file
/// fuzz target). `"ap'"` reads back the same in both.
fn quote_if_needed(name: &str) -> Vec<u8> {
    let needs = name
        .bytes()
        .any(|b| matches!(b, b'\\' | b'"' | b'\'' | b'\n' | b'\r' | b'\t' | 7 | 8 | b' ') || !(32..127).contains(&b));
    if !needs {
        return name.as_bytes().to_vec();
    }
    let mut out = Vec::with_capacity(name.len() + 2);
    resp::repr(&mut out, name.as_bytes());
    out
}

/// `<appendfilename>.manifest`.
pub fn manifest_name(appendfilename: &str) -> String {
    format!("{appendfilename}.manifest")
}

/// `temp-<appendfilename>.manifest`, written and fsynced before it is renamed over the manifest.
pub fn temp_manifest_name(appendfilename: &str) -> String {
    format!("temp-{appendfilename}.manifest")
}

/// `<appendfilename>.<seq>.base.rdb` (RDB preamble) or `.base.aof` (commands).
pub fn base_name(appendfilename: &str, seq: i64, rdb: bool) -> String {
    format!("{appendfilename}.{seq}.base.{}", if rdb { "rdb" } else { "aof" })
}

/// `<appendfilename>.<seq>.incr.aof`.
pub fn incr_name(appendfilename: &str, seq: i64) -> String {
    format!("{appendfilename}.{seq}.incr.aof")
}

/// Appends one command as the AOF holds it: `*<argc>\r\n` then `$<len>\r\n<arg>\r\n` per argument.
pub fn encode_command<A: AsRef<[u8]>>(out: &mut Vec<u8>, argv: &[A]) {
    push_header(out, b'*', argv.len());
    for a in argv {
        let a = a.as_ref();
        push_header(out, b'$', a.len());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// The commands that rebuild `stream` under `key` in a rewritten AOF, as Redis's
/// `rewriteStreamObject` emits them: an XADD per entry (or, for an empty stream, an XADD that
/// MAXLEN 0 trims away at once), XSETID with the stream's counters, then per group XGROUP CREATE
/// with its read counter, an XCLAIM ... JUSTID FORCE per pending entry under its consumer, and
/// XGROUP CREATECONSUMER for a consumer with nothing pending. (Seen times are not kept, as in
/// Redis: XCLAIM sets them when the AOF is replayed.)
pub fn encode_stream_rewrite(out: &mut Vec<u8>, key: &[u8], stream: &keyspace::stream::Stream) {
    let id = |id: keyspace::stream::StreamId| id.to_string().into_bytes();
    if stream.is_empty() {
        encode_command(out, &[&b"XADD"[..], key, b"MAXLEN", b"0", b"0-1", b"x", b"y"]);
    }
    for (entry_id, fields) in &stream.entries {
        let mut argv: Vec<&[u8]> = Vec::with_capacity(3 + fields.len());
        let entry_id = id(*entry_id);
        argv.extend([&b"XADD"[..], key, &entry_id]);
        argv.extend(fields.iter().map(|f| f.as_bytes()));
        encode_command(out, &argv);
    }
    let last_id = id(stream.last_id);
    let entries_added = (stream.entries_added as i64).to_string().into_bytes();
    let max_deleted = id(stream.max_deleted_entry_id);
    encode_command(
        out,
        &[&b"XSETID"[..], key, &last_id, b"ENTRIESADDED", &entries_added, b"MAXDELETEDID", &max_deleted],
    );
    for (name, group) in &stream.groups {
        let group_last = id(group.last_id);
        let entries_read = group.entries_read.to_string().into_bytes();
        encode_command(
            out,
            &[&b"XGROUP"[..], b"CREATE", key, name.as_bytes(), &group_last, b"ENTRIESREAD", &entries_read],
        );
        for (consumer_name, consumer) in &group.consumers {
            if consumer.pending.is_empty() {
                encode_command(
                    out,
                    &[&b"XGROUP"[..], b"CREATECONSUMER", key, name.as_bytes(), consumer_name.as_bytes()],
                );
            }
            for pending_id in &consumer.pending {
                let Some(pending) = group.pel.get(pending_id) else { continue };
                let pending_id = id(*pending_id);
                let time = (pending.delivery_time_ms as i64).to_string().into_bytes();
                let count = (pending.delivery_count as i64).to_string().into_bytes();
                encode_command(
                    out,
                    &[
                        &b"XCLAIM"[..],
                        key,
                        name.as_bytes(),
                        consumer_name.as_bytes(),
                        b"0",
                        &pending_id,
                        b"TIME",
                        &time,
                        b"RETRYCOUNT",
                        &count,
                        b"JUSTID",
                        b"FORCE",
                    ],
                );
            }
        }
    }
}

/// `<kind><n>\r\n` without a heap allocation (every propagated write passes here, once per
/// argument; `to_string` cost an allocation each time).
fn push_header(out: &mut Vec<u8>, kind: u8, n: usize) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut n = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.push(kind);
    out.extend_from_slice(&digits[at..]);
    out.extend_from_slice(b"\r\n");
}

/// Why a command stream stopped before its end.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StreamError {
    /// The bytes end inside a command: everything up to `valid_up_to` is whole commands (the
    /// tail a crash or a full disk can leave; `aof-load-truncated` trims it).
    #[error("unexpected end of file after offset {valid_up_to}")]
    Truncated { valid_up_to: usize },
    /// Bytes that are not a command, at `offset` (the start of the command they belong to).
    #[error("bad file format at offset {offset}")]
    BadFormat { offset: usize },
}

/// Largest argument count and argument length accepted: far beyond what any server writes
/// (512 MB is `proto-max-bulk-len`'s ceiling), and small enough that a corrupt count cannot make
/// the reader reserve absurd memory (it never reserves more than the bytes present anyway).
const MAX_ARGC: u64 = 1 << 31;
const MAX_ARG_LEN: u64 = 1 << 40;

/// Walks a command stream (an incr file, or a base file's commands) one command at a time.
pub struct CommandReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> CommandReader<'a> {
    /// Reads `bytes` from offset `start` (past an RDB preamble, for instance).
    pub fn new(bytes: &'a [u8], start: usize) -> CommandReader<'a> {
        CommandReader { bytes, pos: start.min(bytes.len()) }
    }

    /// Where the next command starts: everything before it was whole commands.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The next command's arguments; `Ok(None)` at the end of the bytes. After an error the
    /// reader stays where it was.
    pub fn next_command(&mut self) -> Result<Option<Vec<Vec<u8>>>, StreamError> {
        loop {
            let start = self.pos;
            if start >= self.bytes.len() {
                return Ok(None);
            }
            let truncated = StreamError::Truncated { valid_up_to: start };
            let bad = StreamError::BadFormat { offset: start };
            if self.bytes[start] == b'#' {
                // An annotation (`#TS:...`): skipped up to its newline.
                let Some(nl) = self.bytes[start..].iter().position(|&b| b == b'\n') else {
                    return Err(truncated);
                };
                self.pos = start + nl + 1;
                continue;
            }
            let mut at = start;
            let argc = read_header(self.bytes, &mut at, b'*').map_err(|e| e.at(start))?;
            if argc == 0 || argc > MAX_ARGC {
                return Err(bad);
            }
            let mut argv = Vec::with_capacity((argc as usize).min(64));
            for _ in 0..argc {
                let len = read_header(self.bytes, &mut at, b'$').map_err(|e| e.at(start))?;
                if len > MAX_ARG_LEN {
                    return Err(bad);
                }
                let len = len as usize;
                let Some(end) = at.checked_add(len).filter(|&e| e <= self.bytes.len()) else {
                    return Err(truncated);
                };
                let arg = self.bytes[at..end].to_vec();
                at = end;
                match self.bytes.get(at..at + 2) {
                    Some(b"\r\n") => at += 2,
                    Some(_) => return Err(bad),
                    None => return Err(truncated),
                }
                argv.push(arg);
            }
            self.pos = at;
            return Ok(Some(argv));
        }
    }
}

/// What went wrong reading a `*<n>` / `$<n>` line, before the command's start is known.
enum HeaderError {
    Truncated,
    Bad,
}

impl HeaderError {
    fn at(self, start: usize) -> StreamError {
        match self {
            HeaderError::Truncated => StreamError::Truncated { valid_up_to: start },
            HeaderError::Bad => StreamError::BadFormat { offset: start },
        }
    }
}

/// Reads `<prefix><decimal>\r\n` at `*at`, advancing past it.
fn read_header(bytes: &[u8], at: &mut usize, prefix: u8) -> Result<u64, HeaderError> {
    match bytes.get(*at) {
        None => return Err(HeaderError::Truncated),
        Some(&b) if b != prefix => return Err(HeaderError::Bad),
        Some(_) => {}
    }
    let digits_start = *at + 1;
    // A header line is short: a number of at most 20 digits.
    let window = &bytes[digits_start..bytes.len().min(digits_start + 24)];
    let Some(cr) = window.iter().position(|&b| b == b'\r') else {
        return if window.len() < 24 && window.iter().all(u8::is_ascii_digit) {
            Err(HeaderError::Truncated)
        } else {
            Err(HeaderError::Bad)
        };
    };
    let digits = &window[..cr];
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(HeaderError::Bad);
    }
    match bytes.get(digits_start + cr + 1) {
        None => return Err(HeaderError::Truncated),
        Some(b'\n') => {}
        Some(_) => return Err(HeaderError::Bad),
    }
    let mut v = 0u64;
    for &d in digits {
        v = v.saturating_mul(10).saturating_add((d - b'0') as u64);
    }
    *at = digits_start + cr + 2;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use keyspace::stream::{Consumer, ConsumerGroup, PendingEntry, Stream, StreamId};

    fn commands(aof: &[u8]) -> Vec<String> {
        let mut reader = CommandReader::new(aof, 0);
        let mut out = Vec::new();
        while let Some(argv) = reader.next_command().expect("well-formed") {
            out.push(argv.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect::<Vec<_>>().join(" "));
        }
        out
    }

    #[test]
    fn streams_rewrite_as_redis_rewrites_them() {
        let mut empty = Stream::new();
        empty.last_id = StreamId::new(5, 0);
        empty.max_deleted_entry_id = StreamId::new(5, 0);
        empty.entries_added = 5;
        let mut out = Vec::new();
        encode_stream_rewrite(&mut out, b"e", &empty);
        assert_eq!(commands(&out), ["XADD e MAXLEN 0 0-1 x y", "XSETID e 5-0 ENTRIESADDED 5 MAXDELETEDID 5-0"]);

        let mut s = Stream::new();
        s.entries.insert(StreamId::new(1, 2), vec![keyspace::Sds::new(b"f"), keyspace::Sds::new(b"v")].into());
        s.last_id = StreamId::new(1, 2);
        s.entries_added = 1;
        let mut group = ConsumerGroup::new(StreamId::new(1, 2), -1);
        let bob = keyspace::Sds::new(b"bob");
        group.pel.insert(
            StreamId::new(1, 2),
            PendingEntry { consumer: bob.clone(), delivery_time_ms: 77, delivery_count: 3 },
        );
        group.consumers.insert(bob, Consumer { seen_time_ms: 1, pending: [StreamId::new(1, 2)].into() });
        group.consumers.insert(keyspace::Sds::new(b"idle"), Consumer::default());
        s.groups.insert(keyspace::Sds::new(b"g"), group);
        let mut out = Vec::new();
        encode_stream_rewrite(&mut out, b"s", &s);
        assert_eq!(
            commands(&out),
            [
                "XADD s 1-2 f v",
                "XSETID s 1-2 ENTRIESADDED 1 MAXDELETEDID 0-0",
                "XGROUP CREATE s g 1-2 ENTRIESREAD -1",
                "XCLAIM s g bob 0 1-2 TIME 77 RETRYCOUNT 3 JUSTID FORCE",
                "XGROUP CREATECONSUMER s g idle",
            ]
        );
    }

    use super::*;

    /// The manifest redis-server 7.0.15 writes on first start with `appendonly yes`.
    const REDIS_MANIFEST: &[u8] =
        b"file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n";

    #[test]
    fn commands_encode_as_resp_arrays_of_bulk_strings() {
        let mut out = Vec::new();
        encode_command(&mut out, &[&b"SET"[..], b"", &[b'x'; 1234]]);
        let mut want = b"*3\r\n$3\r\nSET\r\n$0\r\n\r\n$1234\r\n".to_vec();
        want.extend_from_slice(&[b'x'; 1234]);
        want.extend_from_slice(b"\r\n");
        assert_eq!(out, want);
        let mut header = Vec::new();
        push_header(&mut header, b'$', usize::MAX);
        assert_eq!(header, format!("${}\r\n", usize::MAX).into_bytes());
    }

    #[test]
    fn redis_manifest_round_trips() {
        let m = parse_manifest(REDIS_MANIFEST).expect("Redis's own manifest");
        assert_eq!(m.base.as_ref().map(|b| b.name.as_str()), Some("appendonly.aof.1.base.rdb"));
        assert_eq!(m.incrs.len(), 1);
        assert_eq!(m.to_bytes().unwrap(), REDIS_MANIFEST);
        assert_eq!(m.next_incr_seq(), 2);
        assert_eq!(m.next_base_seq(), 2);
    }

    /// An incr file redis-server 7.0.15 wrote for: SET k v EX 100; RPUSH l a b c; SADD s x y;
    /// SPOP s; INCRBYFLOAT f 1.5; MULTI; SET a 1; INCR a; EXEC; then HSET h f v twice in db 1
    /// (the second changes nothing, and is logged all the same: HSET always counts as a change).
    #[test]
    fn reads_an_incr_file_redis_wrote() {
        let bytes = include_bytes!("../tests/fixtures/redis-7.0.15-appendonly.aof.1.incr.aof");
        let mut r = CommandReader::new(bytes, 0);
        let mut names = Vec::new();
        while let Some(argv) = r.next_command().expect("Redis's own incr file") {
            names.push(String::from_utf8_lossy(&argv[0]).to_ascii_uppercase());
        }
        assert_eq!(
            names,
            ["SELECT", "SET", "RPUSH", "SADD", "SREM", "SET", "MULTI", "SET", "INCR", "EXEC", "SELECT", "HSET", "HSET"]
        );
        assert_eq!(r.position(), bytes.len());
        let m = parse_manifest(include_bytes!("../tests/fixtures/redis-7.0.15-appendonly.aof.manifest")).unwrap();
        assert_eq!(m.incrs[0].name, "appendonly.aof.1.incr.aof");
    }

    #[test]
    fn manifest_errors_as_redis_names_them() {
        let reason = |b: &[u8]| parse_manifest(b).err().map(|e| e.reason);
        assert_eq!(reason(b""), Some("Found an empty AOF manifest"));
        assert_eq!(reason(b"\n"), Some("Invalid AOF manifest file format"));
        assert_eq!(reason(b"file a seq 1 type b"), Some("The AOF manifest file contains too long line"));
        assert_eq!(reason(b"file a seq 1\n"), Some("Invalid AOF manifest file format"));
        assert_eq!(reason(b"file a seq 1 type x\n"), Some("Unknown AOF file type"));
        assert_eq!(reason(b"file a/b seq 1 type b\n"), Some("File can't be a path, just a filename"));
        assert_eq!(
            reason(b"file a seq 1 type b\nfile b seq 2 type b\n"),
            Some("Found duplicate base file information")
        );
        assert_eq!(
            reason(b"file a seq 2 type i\nfile b seq 2 type i\n"),
            Some("Found a non-monotonic sequence number")
        );
        let long = format!("file {} seq 1 type b\n", "a".repeat(MANIFEST_MAX_LINE));
        assert_eq!(reason(long.as_bytes()), Some("The AOF manifest file contains too long line"));
        // Comments are skipped, unknown keys ignored, a gap in seqs is fine.
        let m = parse_manifest(b"# hi\nfile a seq 1 type i x y\nfile b seq 5 type i\n").unwrap();
        assert_eq!(m.incrs.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 5]);
    }

    #[test]
    fn quoted_names_round_trip() {
        for name in ["my file\t1", "ap'", "it's"] {
            let m = Manifest {
                base: Some(ManifestEntry { name: name.into(), seq: 3, kind: FileKind::Base }),
                ..Default::default()
            };
            assert_eq!(parse_manifest(&m.to_bytes().unwrap()).unwrap(), m, "{name}");
        }
        let long = Manifest {
            base: Some(ManifestEntry { name: "\u{1}".repeat(300), seq: 1, kind: FileKind::Base }),
            ..Default::default()
        };
        assert!(long.to_bytes().is_err(), "a line no loader could read is refused");
    }

    proptest::proptest! {
        /// Hostile bytes never panic either parser; what the command reader accepts re-encodes
        /// to the same commands, and every prefix of an encoding is a truncation, never garbage.
        #[test]
        fn hostile_bytes_and_prefixes(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
                                      args in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..20), 1..5)) {
            let _ = parse_manifest(&bytes);
            let mut r = CommandReader::new(&bytes, 0);
            for _ in 0..=bytes.len() {
                match r.next_command() {
                    Ok(Some(argv)) => {
                        let mut again = Vec::new();
                        encode_command(&mut again, &argv);
                        let back = CommandReader::new(&again, 0).next_command();
                        proptest::prop_assert_eq!(back, Ok(Some(argv)));
                    }
                    _ => break,
                }
            }
            let mut enc = Vec::new();
            encode_command(&mut enc, &args);
            for cut in 0..enc.len() {
                let got = CommandReader::new(&enc[..cut], 0).next_command();
                if cut == 0 {
                    proptest::prop_assert_eq!(got, Ok(None));
                } else {
                    proptest::prop_assert_eq!(got, Err(StreamError::Truncated { valid_up_to: 0 }));
                }
            }
            proptest::prop_assert_eq!(CommandReader::new(&enc, 0).next_command(), Ok(Some(args)));
        }
    }

    #[test]
    fn commands_round_trip_and_tails_are_classified() {
        let mut bytes = Vec::new();
        encode_command(&mut bytes, &[&b"SELECT"[..], b"0"]);
        let first_end = bytes.len();
        encode_command(&mut bytes, &[&b"SET"[..], b"k", b"v\r\nx"]);
        bytes.extend_from_slice(b"#TS:123\r\n");
        encode_command(&mut bytes, &[&b"DEL"[..], b""]);
        let mut r = CommandReader::new(&bytes, 0);
        assert_eq!(r.next_command().unwrap().unwrap(), [b"SELECT".to_vec(), b"0".to_vec()]);
        assert_eq!(r.position(), first_end);
        assert_eq!(r.next_command().unwrap().unwrap()[2], b"v\r\nx");
        assert_eq!(r.next_command().unwrap().unwrap(), [b"DEL".to_vec(), Vec::new()]);
        assert_eq!(r.next_command().unwrap(), None);
        // Every strict prefix that cuts the second command is a truncation at its start.
        for cut in first_end + 1..first_end + 20 {
            let mut r = CommandReader::new(&bytes[..cut], 0);
            r.next_command().unwrap();
            assert_eq!(r.next_command(), Err(StreamError::Truncated { valid_up_to: first_end }), "cut at {cut}");
        }
        // Garbage in the middle is a format error at the command's start.
        let mut bad = bytes.clone();
        bad[first_end + 1] = b'x';
        let mut r = CommandReader::new(&bad, 0);
        r.next_command().unwrap();
        assert_eq!(r.next_command(), Err(StreamError::BadFormat { offset: first_end }));
        let mut r = CommandReader::new(b"*0\r\n", 0);
        assert_eq!(r.next_command(), Err(StreamError::BadFormat { offset: 0 }));
        let mut r = CommandReader::new(b"*1\r\n$99999999999999999999\r\n", 0);
        assert!(r.next_command().is_err());
    }
}
