//! `redoxide-server --check-aof [--fix|--truncate-to-timestamp $timestamp] <file.manifest|file.aof>`
//! (also run when the binary is called as `redis-check-aof`): Redis 7.0's `redis-check-aof`, with its
//! output lines, its line and offset counting and its exit codes. It detects a manifest (then checks
//! the base and every incr file it lists, in order), an old-style file with an RDB preamble, or a
//! plain command file. With `--fix` it asks before cutting the last file back to its last whole
//! command (never another file); with `--truncate-to-timestamp` it cuts the last file at the first
//! `#TS:` annotation later than the timestamp (point-in-time recovery with `aof-timestamp-enabled`).
//!
//! It reads files and may truncate the one the user named for fixing; it never starts a server
//! and never touches the keyspace. Its RESP walk is its own, not `persist::aof::CommandReader`,
//! because it must count lines and word its errors exactly as Redis's tool does.

use persist::aof::{parse_manifest, FileKind};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

/// What checking one file found.
enum Checked {
    Ok,
    Empty,
    Truncated,
    /// Cut at a `#TS:` annotation later than `--truncate-to-timestamp`.
    TimestampTruncated,
}

/// The tool's state across files: Redis's counter of lines is global to the run.
struct Checker {
    line: u64,
    fix: bool,
    /// `--truncate-to-timestamp` (0: not asked, as in Redis).
    to_timestamp: i64,
}

/// Runs the tool; returns the process's exit code.
pub fn main(args: &[String]) -> i32 {
    let (fix, to_timestamp, file) = match args {
        [f] => (false, 0, f),
        [opt, f] if opt == "--fix" => (true, 0, f),
        [opt, ts, f] if opt == "--truncate-to-timestamp" => match ts.parse::<i64>() {
            Ok(ts) => (false, ts, f),
            Err(_) => {
                println!("Invalid timestamp, aborting...");
                return 1;
            }
        },
        _ => {
            println!("Usage: redis-check-aof [--fix|--truncate-to-timestamp $timestamp] <file.manifest|file.aof>");
            return 1;
        }
    };
    let path = PathBuf::from(file);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => {
            println!("Cannot open file {file}: {e}");
            return 1;
        }
    };
    let mut checker = Checker { line: 1, fix, to_timestamp };
    let result = if is_manifest(&bytes) {
        checker.multi_part(&path, &bytes)
    } else {
        let preamble = bytes.len() >= 8 && bytes.starts_with(b"REDIS");
        println!("Start checking Old-Style AOF");
        checker.single(file, &path, true, preamble).map(|checked| checker.report("", file, checked))
    };
    i32::from(result.is_err())
}

/// Redis's `fileIsManifest`: a non-comment line starting with `file`.
fn is_manifest(bytes: &[u8]) -> bool {
    bytes.split(|&b| b == b'\n').any(|l| !l.starts_with(b"#") && l.starts_with(b"file"))
}

impl Checker {
    /// The line after one file; `kind` is "BASE " or "INCR " in a multi-part check, "" otherwise.
    fn report(&self, kind: &str, name: &str, checked: Checked) {
        match checked {
            Checked::Ok => println!("{kind}AOF {name} is valid"),
            Checked::Empty => println!("{kind}AOF {name} is empty"),
            Checked::Truncated => println!("Successfully truncated AOF {name}"),
            Checked::TimestampTruncated => {
                println!("Successfully truncated AOF {name} to timestamp {}", self.to_timestamp)
            }
        }
    }

    fn multi_part(&mut self, manifest_path: &Path, bytes: &[u8]) -> Result<(), ()> {
        println!("Start checking Multi Part AOF");
        let m = match parse_manifest(bytes) {
            Ok(m) => m,
            Err(e) => {
                println!("\n*** FATAL AOF MANIFEST FILE ERROR ***\n");
                if e.line_number > 0 {
                    println!("Reading the manifest file, at line {}\n", e.line_number);
                    println!(">>> '{}'\n", e.line);
                }
                println!("{}\n", e.reason);
                return Err(());
            }
        };
        // Redis joins dirname(manifest) and the name with a slash: "./name" for a manifest named bare.
        let dir = manifest_path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let total = usize::from(m.base.is_some()) + m.incrs.len();
        let mut n = 0;
        if let Some(b) = &m.base {
            n += 1;
            let path = dir.join(&b.name);
            let preamble = std::fs::read(&path).map(|d| d.len() >= 8 && d.starts_with(b"REDIS")).unwrap_or(false);
            println!("Start to check BASE AOF ({} format).", if preamble { "RDB" } else { "RESP" });
            let checked = self.single(&b.name, &path, n == total, preamble)?;
            self.report("BASE ", &b.name, checked);
        }
        if !m.incrs.is_empty() {
            println!("Start to check INCR files.");
            for e in m.incrs.iter().filter(|e| e.kind == FileKind::Incr) {
                n += 1;
                let path = dir.join(&e.name);
                let checked = self.single(&e.name, &path, n == total, false)?;
                self.report("INCR ", &e.name, checked);
            }
        }
        println!("All AOF files and manifest are valid");
        Ok(())
    }

    /// Redis's `checkSingleAof`: Err(()) when the tool must exit with status 1.
    fn single(&mut self, name: &str, path: &Path, last_file: bool, preamble: bool) -> Result<Checked, ()> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                println!("Cannot open file {}: {e}, aborting...", path.display());
                return Err(());
            }
        };
        if bytes.is_empty() {
            return Ok(Checked::Empty);
        }
        let mut at = 0usize;
        if preamble {
            match check_rdb(name, &bytes) {
                Some(end) => {
                    println!("RDB preamble is OK, proceeding with AOF tail...");
                    at = end;
                }
                None => {
                    println!("RDB preamble of AOF file is not sane, aborting.");
                    return Err(());
                }
            }
        }
        let mut walk = Walk { bytes: &bytes, at, epos: 0, error: None, eof: false };
        let mut multi = 0i64;
        let mut pos = at;
        loop {
            if multi == 0 {
                pos = walk.at;
            }
            let Some(&first) = bytes.get(walk.at) else {
                walk.eof = true;
                break;
            };
            if first == b'#' {
                let start = walk.at;
                let end = match bytes[start..].iter().position(|&b| b == b'\n') {
                    Some(i) => start + i + 1,
                    None => bytes.len(),
                };
                walk.at = end;
                if self.to_timestamp != 0 && bytes[start..end].starts_with(b"#TS:") {
                    let (ts, _) = strtol(&bytes[start + 4..end]);
                    if ts > self.to_timestamp {
                        return self.truncate_at_timestamp(path, start, last_file);
                    }
                }
            } else if first == b'*' {
                if !walk.command(&mut self.line, name, &mut multi) {
                    break;
                }
            } else {
                println!("AOF {name} format error");
                break;
            }
        }
        if walk.eof && multi != 0 && walk.error.is_none() {
            walk.fail("Reached EOF before reading EXEC for MULTI".to_string());
        }
        if let Some(e) = &walk.error {
            println!("{e}");
        }
        let size = bytes.len();
        let diff = size - pos;
        if diff == 0 && self.to_timestamp != 0 {
            println!("Truncate nothing in AOF {name} to timestamp {}", self.to_timestamp);
            return Ok(Checked::Ok);
        }
        println!(
            "AOF analyzed: filename={name}, size={size}, ok_up_to={pos}, ok_up_to_line={}, diff={diff}",
            self.line
        );
        if diff == 0 {
            return Ok(Checked::Ok);
        }
        if !self.fix {
            println!("AOF {name} is not valid. Use the --fix option to try fixing it.");
            return Err(());
        }
        if !last_file {
            println!("Failed to truncate AOF {name} because it is not the last file");
            return Err(());
        }
        println!("This will shrink the AOF {name} from {size} bytes, with {diff} bytes, to {pos} bytes");
        print!("Continue? [y/N]: ");
        let _ = std::io::stdout().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if !answer.trim_start().to_ascii_lowercase().starts_with('y') {
            println!("Aborting...");
            return Err(());
        }
        let truncated = std::fs::OpenOptions::new().write(true).open(path).and_then(|f| f.set_len(pos as u64));
        if truncated.is_err() {
            println!("Failed to truncate AOF {name}");
            return Err(());
        }
        Ok(Checked::Truncated)
    }
}

impl Checker {
    /// Redis's `processAnnotations` in truncate-to-timestamp mode, at an annotation later than the
    /// timestamp that starts at `at`: cut the file there if it is the last one and something precedes it.
    fn truncate_at_timestamp(&self, path: &Path, at: usize, last_file: bool) -> Result<Checked, ()> {
        let (shown, ts) = (path.display(), self.to_timestamp);
        if at == 0 {
            println!("AOF {shown} has nothing before timestamp {ts}, aborting...");
            return Err(());
        }
        if !last_file {
            println!(
                "Failed to truncate AOF {shown} to timestamp {ts} to offset {at} because it is not the last file."
            );
            println!(
                "If you insist, please delete all files after this file according to the manifest file and \
                 delete the corresponding records in manifest file manually. Then re-run redis-check-aof."
            );
            return Err(());
        }
        let truncated = std::fs::OpenOptions::new().write(true).open(path).and_then(|f| f.set_len(at as u64));
        if truncated.is_err() {
            println!("Failed to truncate AOF {shown} to timestamp {ts}");
            return Err(());
        }
        Ok(Checked::TimestampTruncated)
    }
}

/// A walk over one file's commands with redis-check-aof's reading rules.
struct Walk<'a> {
    bytes: &'a [u8],
    at: usize,
    /// Where the read that failed started (Redis's `epos`).
    epos: usize,
    error: Option<String>,
    /// A read ran into the end of the file.
    eof: bool,
}

impl Walk<'_> {
    fn fail(&mut self, msg: String) {
        self.error = Some(format!("0x{:16x}: {msg}", self.epos));
    }

    /// Checks that `pair` is CRLF (Redis's `consumeNewline`), counting the line.
    fn newline(&mut self, pair: [u8; 2], line: &mut u64) -> bool {
        if pair != *b"\r\n" {
            self.fail(format!("Expected \\r\\n, got: {:02x}{:02x}", pair[0], pair[1]));
            return false;
        }
        *line += 1;
        true
    }

    /// `*<n>` or `$<n>` and its CRLF (Redis's `readLong`: fgets of at most 127 bytes, strtol).
    fn long(&mut self, prefix: u8, line: &mut u64) -> Option<i64> {
        self.epos = self.at;
        if self.at >= self.bytes.len() {
            self.eof = true;
            return None;
        }
        let rest = &self.bytes[self.at..];
        let len = rest.iter().take(127).position(|&b| b == b'\n').map_or(rest.len().min(127), |i| i + 1);
        let text = &rest[..len];
        self.at += len;
        if self.at >= self.bytes.len() && !text.ends_with(b"\n") {
            self.eof = true;
        }
        if text[0] != prefix {
            self.fail(format!("Expected prefix '{}', got: '{}'", prefix as char, text[0] as char));
            return None;
        }
        let (value, digits) = strtol(&text[1..]);
        let after = &text[1 + digits..];
        let pair = [after.first().copied().unwrap_or(0), after.get(1).copied().unwrap_or(0)];
        self.newline(pair, line).then_some(value)
    }

    /// One command, tracking MULTI/EXEC nesting (Redis's `processRESP`).
    fn command(&mut self, line: &mut u64, name: &str, multi: &mut i64) -> bool {
        let Some(argc) = self.long(b'*', line) else { return false };
        for i in 0..argc.max(0) {
            let Some(len) = self.long(b'$', line) else { return false };
            if !(0..=i64::MAX - 2).contains(&len) {
                self.fail(format!("Expected to read string of {len} bytes, which is not in the suitable range"));
                return false;
            }
            self.epos = self.at;
            let want = len as u64 + 2;
            let have = (self.bytes.len() - self.at) as u64;
            if have < want {
                self.eof = true;
                self.fail(format!("Expected to read {want} bytes, got {have} bytes"));
                self.at = self.bytes.len();
                return false;
            }
            let start = self.at;
            let end = start + len as usize;
            self.at = end + 2;
            if !self.newline([self.bytes[end], self.bytes[end + 1]], line) {
                return false;
            }
            if i == 0 {
                let arg = &self.bytes[start..end];
                if arg.eq_ignore_ascii_case(b"multi") {
                    *multi += 1;
                    if *multi > 1 {
                        self.fail(format!("Unexpected MULTI in AOF {name}"));
                        return false;
                    }
                } else if arg.eq_ignore_ascii_case(b"exec") {
                    *multi -= 1;
                    if *multi != 0 {
                        self.fail(format!("Unexpected EXEC in AOF {name}"));
                        return false;
                    }
                }
            }
        }
        true
    }
}

/// C's strtol on a byte string: optional blanks and sign, digits; (value, bytes consumed), with
/// nothing consumed when there are no digits.
fn strtol(s: &[u8]) -> (i64, usize) {
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t') {
        i += 1;
    }
    let neg = matches!(s.get(i), Some(b'-'));
    if matches!(s.get(i), Some(b'-' | b'+')) {
        i += 1;
    }
    let digits_start = i;
    let mut v: i64 = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        v = v.saturating_mul(10).saturating_add((s[i] - b'0') as i64);
        i += 1;
    }
    if i == digits_start {
        return (0, 0);
    }
    (if neg { -v } else { v }, i)
}

/// The RDB preamble check, with the lines redis-check-rdb prints for a sane file; the offset
/// where it ends, or None.
pub(crate) fn check_rdb(name: &str, bytes: &[u8]) -> Option<usize> {
    use persist::rdb::{RdbItem, RdbReader};
    println!("[offset 0] Checking RDB file {name}");
    let mut reader = match RdbReader::new(bytes) {
        Ok(r) => r,
        Err(e) => {
            println!("--- RDB ERROR DETECTED ---\n[offset 0] {e}");
            return None;
        }
    };
    let now_ms = crate::shared::now_ms();
    let (mut keys, mut expires, mut expired) = (0u64, 0u64, 0u64);
    loop {
        match reader.next_item() {
            Ok(Some(RdbItem::Aux { key, value })) => println!(
                "[offset {}] AUX FIELD {} = '{}'",
                reader.position(),
                String::from_utf8_lossy(&key),
                String::from_utf8_lossy(&value)
            ),
            Ok(Some(RdbItem::SelectDb(db))) => println!("[offset {}] Selecting DB ID {db}", reader.position()),
            Ok(Some(RdbItem::Key { expire_at_ms, .. })) => {
                keys += 1;
                if let Some(at) = expire_at_ms {
                    expires += 1;
                    if at < now_ms {
                        expired += 1;
                    }
                }
            }
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(e) => {
                let text = crate::persistence::rdb_error_text(&e, &reader);
                println!("--- RDB ERROR DETECTED ---\n[offset {}] {text}", reader.position());
                return None;
            }
        }
    }
    println!("[offset {}] Checksum OK", reader.position());
    println!("[offset {}] \\o/ RDB looks OK! \\o/", reader.position());
    println!("[info] {keys} keys read");
    println!("[info] {expires} expires");
    println!("[info] {expired} already expired");
    Some(reader.position())
}
