//! MIGRATE, as Redis 7.0.15's `migrateCommand`: for each key that exists, a DUMP payload is
//! sent to another server as `RESTORE key ttl payload [REPLACE]` (`RESTORE-ASKING` in cluster
//! mode), after `AUTH` and `SELECT` when needed, all pipelined in one write; every reply is read
//! and the keys the target accepted are deleted here unless COPY.
//!
//! Owns: MIGRATE's argument parsing and reply texts, the blocking socket I/O it does, and the
//! cache of connections to targets (per `host:port` as written, at most 64, closed after 10 s
//! unused, as Redis's MIGRATE_SOCKET_CACHE_ITEMS / _TTL).
//!
//! Must never: hold a slot lock while connecting (only while writing the batch and waiting for
//! its replies, each wait bounded by the timeout); wait without a bound; panic or trust a length
//! on anything a target sends (it reads one line per command sent, nothing more).

use crate::shared::now_ms;
use crate::worker::{Conn, Env};
use commands::args::{eq_ic, parse_i64};
use commands::notify::NOTIFY_GENERIC;
use commands::{errors, Notification};
use keyspace::{key_hash_slot, Sds};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{LazyLock, Once};
use std::time::{Duration, Instant};

/// Most cached target connections; a new one beyond this evicts one at random.
const CACHE_MAX_ITEMS: usize = 64;
/// A cached connection unused for longer than this is closed.
const CACHE_IDLE_TTL: Duration = Duration::from_secs(10);
/// The request is written in pieces of this size, each within the timeout (Redis's 64K).
const WRITE_CHUNK_BYTES: usize = 64 * 1024;
/// A reply line is cut after this many bytes, as Redis's 1024-byte read buffers do.
const LINE_MAX_BYTES: usize = 1023;

const KEYS_NEED_EMPTY_KEY: &str =
    "ERR When using MIGRATE KEYS option, the key argument must be set to the empty string";
const IOERR_CONNECT: &str = "IOERR error or timeout connecting to the client";

/// A parsed MIGRATE request.
#[derive(Debug, PartialEq)]
struct Request<'a> {
    host: &'a [u8],
    port: &'a [u8],
    keys: &'a [&'a [u8]],
    db: i64,
    timeout: Duration,
    copy: bool,
    replace: bool,
    username: Option<&'a [u8]>,
    password: Option<&'a [u8]>,
}

/// Parses MIGRATE's arguments in Redis's order: the options first (a syntax error wins over a
/// bad number), then the timeout, then the database. The dispatcher checked the arity (at least
/// 6 arguments); fewer is a syntax error here rather than a panic.
fn parse<'a>(args: &'a [&'a [u8]]) -> Result<Request<'a>, &'static str> {
    if args.len() < 6 {
        return Err(errors::SYNTAX);
    }
    let mut req = Request {
        host: args[1],
        port: args[2],
        keys: &args[3..4],
        db: 0,
        timeout: Duration::ZERO,
        copy: false,
        replace: false,
        username: None,
        password: None,
    };
    let mut j = 6;
    while j < args.len() {
        let more = args.len() - 1 - j;
        let a = args[j];
        if eq_ic(a, "copy") {
            req.copy = true;
        } else if eq_ic(a, "replace") {
            req.replace = true;
        } else if eq_ic(a, "auth") {
            if more < 1 {
                return Err(errors::SYNTAX);
            }
            req.password = Some(args[j + 1]);
            j += 1;
        } else if eq_ic(a, "auth2") {
            if more < 2 {
                return Err(errors::SYNTAX);
            }
            req.username = Some(args[j + 1]);
            req.password = Some(args[j + 2]);
            j += 2;
        } else if eq_ic(a, "keys") {
            if !args[3].is_empty() {
                return Err(KEYS_NEED_EMPTY_KEY);
            }
            req.keys = &args[j + 1..];
            break;
        } else {
            return Err(errors::SYNTAX);
        }
        j += 1;
    }
    let timeout_ms = parse_i64(args[5]).ok_or(errors::NOT_INTEGER)?;
    req.db = parse_i64(args[4]).ok_or(errors::NOT_INTEGER)?;
    // Redis's rule: a timeout that is not positive means one second. The largest (i64::MAX ms,
    // 292 million years) still fits an `Instant` deadline.
    req.timeout = Duration::from_millis(if timeout_ms <= 0 { 1000 } else { timeout_ms as u64 });
    Ok(req)
}

/// The keys a MIGRATE request names (none if its arguments are wrong), for EXEC, which locks
/// the slots of every queued command's keys before running any.
pub fn key_args<'a>(args: &'a [&'a [u8]]) -> &'a [&'a [u8]] {
    parse(args).map(|r| r.keys).unwrap_or(&[])
}

/// A connection to a target, with what Redis remembers about it.
struct Target {
    stream: TcpStream,
    /// The database the last successful MIGRATE selected; -1 when unknown (Redis's
    /// `last_dbid`, including its quirk that a MIGRATE to db -1 then sends no SELECT).
    last_db: i64,
    last_use: Instant,
    /// Bytes read past the last line returned (a reply read in the same `read` as the one
    /// before it).
    pending: Vec<u8>,
}

/// Why talking to the target failed.
#[derive(Debug, Clone, Copy, PartialEq)]
enum IoFailure {
    /// A wait ran out: Redis's ETIMEDOUT, which it never retries.
    TimedOut,
    /// Closed, reset, or any other socket error.
    Broken,
}

/// Cached connections by `host:port` as the client wrote them. A process-wide static rather
/// than a field of `Shared`: the cache is MIGRATE's alone, and there is one server per process.
/// A connection in use is taken out of the map, so two workers never share one.
static CACHE: LazyLock<Mutex<HashMap<Vec<u8>, Target>>> = LazyLock::new(|| Mutex::new(HashMap::new()));
static JANITOR: Once = Once::new();

/// Connections in the cache now (INFO's `migrate_cached_sockets`; one in use is not counted).
pub fn cached_sockets() -> usize {
    CACHE.lock().len()
}

/// A cached connection for `name`, if one was used within the idle TTL.
fn take_cached(name: &[u8]) -> Option<Target> {
    let target = CACHE.lock().remove(name)?;
    (target.last_use.elapsed() <= CACHE_IDLE_TTL).then_some(target)
}

/// Puts a connection back into the cache, evicting an arbitrary other one when full.
fn put_cached(name: &[u8], mut target: Target) {
    target.last_use = Instant::now();
    let mut cache = CACHE.lock();
    if !cache.contains_key(name) && cache.len() >= CACHE_MAX_ITEMS {
        let skip = rand::random_range(0..cache.len());
        if let Some(victim) = cache.keys().nth(skip).cloned() {
            cache.remove(&victim);
        }
    }
    cache.insert(name.to_vec(), target);
    drop(cache);
    // Closing idle connections needs a clock tick; a thread of its own keeps this module out of
    // the workers' loops (the alternative, a hook in every worker's tick, touches their code
    // for a feature few servers use). Started with the first cached connection.
    JANITOR.call_once(|| {
        let spawned = std::thread::Builder::new().name("migrate-cache".into()).spawn(|| loop {
            std::thread::sleep(Duration::from_secs(1));
            CACHE.lock().retain(|_, t| t.last_use.elapsed() <= CACHE_IDLE_TTL);
        });
        if spawned.is_err() {
            crate::warning!("MIGRATE: could not start the thread closing idle target connections");
        }
    });
}

/// C's `atoi`, which Redis applies to the port: leading blanks, a sign, digits up to the first
/// other byte; no digits is 0.
fn atoi(s: &[u8]) -> i64 {
    let mut i = s.iter().position(|b| !matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')).unwrap_or(s.len());
    let negative = s.get(i) == Some(&b'-');
    if matches!(s.get(i), Some(b'-' | b'+')) {
        i += 1;
    }
    let mut n: i64 = 0;
    for &b in s[i..].iter().take_while(|b| b.is_ascii_digit()) {
        n = n.saturating_mul(10).saturating_add(i64::from(b - b'0'));
    }
    if negative {
        -n
    } else {
        n
    }
}

/// The port Redis ends up connecting to: `atoi` (as glibc's, `(int)strtol`), printed into a
/// 6-byte buffer (so at most 5 characters survive), then handed to `getaddrinfo`, which takes a
/// non-negative number modulo 65536 and rejects a negative one. "70000" is port 4464, as there.
fn port_number(arg: &[u8]) -> Option<u16> {
    let printed = (atoi(arg) as i32).to_string();
    let kept = &printed[..printed.len().min(5)];
    if kept.starts_with('-') {
        return None;
    }
    kept.parse::<u32>().ok().map(|p| p as u16)
}

/// Opens a connection to `host:port` as Redis 7.0.15's `connBlockingConnect` does: a
/// non-blocking connect to the first resolved address that does not fail at once, then a wait
/// of at most `timeout` for it to complete, whose outcome is ignored. So a refused or
/// unanswered connection is reported by the first write ("IOERR ... writing"), and only a name
/// that does not resolve, a bad port or an immediate failure is "connecting". (`std`'s
/// `connect_timeout` was rejected: it reports every failure here, which changes the error text.)
fn connect(host: &[u8], port: &[u8], timeout: Duration) -> Option<Target> {
    let host = std::str::from_utf8(host).ok()?;
    let port = port_number(port)?;
    let mut pending = (host, port).to_socket_addrs().ok()?.find_map(|a| mio::net::TcpStream::connect(a).ok())?;
    wait_writable(&mut pending, timeout);
    let stream = TcpStream::from(pending);
    stream.set_nonblocking(false).ok()?;
    let _ = stream.set_nodelay(true);
    Some(Target { stream, last_db: -1, last_use: Instant::now(), pending: Vec::new() })
}

/// Waits up to `timeout` for a connecting socket to become writable (connected or failed).
fn wait_writable(stream: &mut mio::net::TcpStream, timeout: Duration) {
    let Ok(mut poll) = mio::Poll::new() else { return };
    if poll.registry().register(stream, mio::Token(0), mio::Interest::WRITABLE).is_err() {
        return;
    }
    let deadline = Instant::now() + timeout;
    let mut events = mio::Events::with_capacity(1);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match poll.poll(&mut events, Some(left)) {
            Err(e) if e.kind() == ErrorKind::Interrupted && !left.is_zero() => continue,
            _ => break,
        }
    }
    let _ = poll.registry().deregister(stream);
}

fn classify(e: &std::io::Error) -> IoFailure {
    match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => IoFailure::TimedOut,
        _ => IoFailure::Broken,
    }
}

impl Target {
    /// Writes all of `buf` in 64K pieces, each within `timeout` (Redis's `connSyncWrite`).
    fn write_all(&mut self, buf: &[u8], timeout: Duration) -> Result<(), IoFailure> {
        for chunk in buf.chunks(WRITE_CHUNK_BYTES) {
            let deadline = Instant::now() + timeout;
            let mut rest = chunk;
            while !rest.is_empty() {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(IoFailure::TimedOut);
                }
                self.stream.set_write_timeout(Some(left)).map_err(|_| IoFailure::Broken)?;
                match self.stream.write(rest) {
                    Ok(0) => return Err(IoFailure::Broken),
                    Ok(n) => rest = &rest[n..],
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(classify(&e)),
                }
            }
        }
        Ok(())
    }

    /// Reads one reply line (without its CR LF), waiting at most `timeout` for each piece of
    /// it, as Redis's `syncReadLine`: a line is cut after 1023 bytes, and an empty line counts
    /// as a failure (Redis's `<= 0` test on the length read).
    fn read_line(&mut self, timeout: Duration) -> Result<Vec<u8>, IoFailure> {
        self.stream.set_read_timeout(Some(timeout)).map_err(|_| IoFailure::Broken)?;
        loop {
            let window = self.pending.len().min(LINE_MAX_BYTES);
            // A CR is dropped only before the LF (a line cut at 1023 bytes keeps it, as there).
            let (taken, line) = match self.pending[..window].iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, self.pending[..i].strip_suffix(b"\r").unwrap_or(&self.pending[..i]).to_vec()),
                None if window == LINE_MAX_BYTES => (window, self.pending[..window].to_vec()),
                None => {
                    let mut chunk = [0u8; 4096];
                    match self.stream.read(&mut chunk) {
                        Ok(0) => return Err(IoFailure::Broken),
                        Ok(n) => self.pending.extend_from_slice(&chunk[..n]),
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(e) => return Err(classify(&e)),
                    }
                    continue;
                }
            };
            self.pending.drain(..taken);
            // Redis fails on a read of length 0, a bare LF; "\r\n" is a (blank) line.
            if taken == 1 {
                return Err(IoFailure::Broken);
            }
            return Ok(line);
        }
    }
}

/// The error MIGRATE replies for an error line from the target (without its `-`): the bytes as
/// they came, up to a NUL (Redis formats them with `%s`).
fn target_error_reply(text: &[u8]) -> Vec<u8> {
    let text = text.split(|&b| b == 0).next().unwrap_or_default();
    [b"ERR Target instance replied with error: ".as_slice(), text].concat()
}

/// Appends one request in RESP multibulk form.
fn push_command(buf: &mut Vec<u8>, args: &[&[u8]]) {
    buf.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        buf.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        buf.extend_from_slice(a);
        buf.extend_from_slice(b"\r\n");
    }
}

/// How one attempt over one connection ended.
enum Attempt {
    /// The target answered everything: `None` for +OK, or the first error it replied.
    Answered(Option<Vec<u8>>),
    /// The connection failed before any RESTORE was answered (nothing deleted): Redis retries
    /// once on a fresh connection unless a wait timed out.
    EarlyFailure { writing: bool, why: IoFailure },
    /// The connection failed after some RESTOREs were answered (those keys are handled).
    LateFailure { target_error: Option<Vec<u8>> },
}

impl Env {
    /// MIGRATE host port key|"" destination-db timeout [COPY] [REPLACE] [AUTH password]
    /// [AUTH2 username password] [KEYS key ...]
    ///
    /// The slots of the keys stay locked from the dump to the deletion, so a write that lands
    /// in between cannot be lost with the deleted source key. That blocks those slots (and any
    /// worker that touches them) for as long as the target takes, bounded by the timeout per
    /// wait; Redis blocks the whole server for the same time. The connection is made before
    /// the locks are taken, so an unreachable host never holds them (inside EXEC the
    /// transaction holds its locks throughout, as for every command it runs).
    pub fn migrate(&mut self, c: &mut Conn, args: &[&[u8]]) {
        let req = match parse(args) {
            Ok(r) => r,
            Err(text) => return c.out.error(text),
        };
        let in_exec = self.in_exec;
        if !in_exec {
            self.clear_effects();
        }
        let db = c.db;
        let shared = self.shared;
        let ks = &shared.ks;

        // Keys that exist now; none: +NOKEY without connecting (often a key that just expired).
        self.lock_keys(db, req.keys);
        let now = now_ms();
        let present: Vec<&[u8]> = {
            let (locks, _) = self.locks_and_effects();
            req.keys.iter().copied().filter(|k| locks.table(ks, db, k).contains(k, now)).collect()
        };
        self.unlock_keys();
        if present.is_empty() {
            c.out.simple("NOKEY");
            return self.migrate_done(db);
        }

        let mut name = req.host.to_vec();
        name.push(b':');
        name.extend_from_slice(req.port);
        let mut may_retry = true;
        loop {
            let mut target = match take_cached(&name) {
                Some(t) => t,
                None => match connect(req.host, req.port, req.timeout) {
                    Some(t) => t,
                    None => {
                        c.out.error(IOERR_CONNECT);
                        break;
                    }
                },
            };
            self.lock_keys(db, &present);
            let (attempt, deleted) = self.migrate_attempt(&mut target, &req, db, &present);
            self.unlock_keys();
            shared.touch_keys(db, deleted.iter().copied());
            self.track_modified(&deleted);
            match attempt {
                Attempt::Answered(None) => {
                    c.out.ok();
                    put_cached(&name, target);
                }
                Attempt::Answered(Some(text)) => {
                    c.out.error(&text);
                    put_cached(&name, target);
                }
                Attempt::EarlyFailure { writing, why } => {
                    drop(target);
                    if why != IoFailure::TimedOut && may_retry {
                        may_retry = false;
                        continue;
                    }
                    let doing = if writing { "writing" } else { "reading" };
                    c.out.error(&format!("IOERR error or timeout {doing} to target instance"));
                }
                Attempt::LateFailure { target_error: Some(text) } => {
                    c.out.error(&text);
                }
                Attempt::LateFailure { target_error: None } => {
                    c.out.error("IOERR error or timeout reading to target instance");
                }
            }
            break;
        }
        self.migrate_done(db)
    }

    /// One exchange over `target`, with the keys' slots locked: dump, write, read, delete.
    /// Returns how it ended and the keys it deleted.
    fn migrate_attempt<'k>(
        &mut self,
        target: &mut Target,
        req: &Request<'_>,
        db: u32,
        present: &[&'k [u8]],
    ) -> (Attempt, Vec<&'k [u8]>) {
        let shared = self.shared;
        let ks = &shared.ks;
        let limits = commands::encode_limits(&self.data_config);
        let restore: &[u8] = if self.data_config.cluster_enabled { b"RESTORE-ASKING" } else { b"RESTORE" };
        let notify_del = self.data_config.notify_keyspace_events & NOTIFY_GENERIC != 0;
        let (locks, effects) = self.locks_and_effects();

        let mut request = Vec::new();
        if let Some(password) = req.password {
            match req.username {
                Some(user) => push_command(&mut request, &[b"AUTH", user, password]),
                None => push_command(&mut request, &[b"AUTH", password]),
            }
        }
        let select = target.last_db != req.db;
        if select {
            push_command(&mut request, &[b"SELECT", req.db.to_string().as_bytes()]);
        }
        // Keys that expired since the existence check are skipped, as in Redis; a TTL that
        // rounds to nothing is sent as 1 ms, since 0 would mean "no TTL".
        let now = now_ms();
        let mut sent: Vec<&[u8]> = Vec::with_capacity(present.len());
        for &key in present {
            let t = locks.table(ks, db, key);
            let ttl_ms = match t.expire_at(key) {
                Some(at) if at - now < 0 => continue,
                Some(at) => (at - now).max(1),
                None => 0,
            };
            let Some(value) = t.get(key, now) else { continue };
            let payload = persist::dump_payload(value, &limits);
            let ttl = ttl_ms.to_string();
            let mut cmd: Vec<&[u8]> = vec![restore, key, ttl.as_bytes(), payload.as_slice()];
            if req.replace {
                cmd.push(b"REPLACE");
            }
            push_command(&mut request, &cmd);
            sent.push(key);
        }

        if let Err(why) = target.write_all(&request, req.timeout) {
            return (Attempt::EarlyFailure { writing: true, why }, Vec::new());
        }
        let mut setup_error: Option<Vec<u8>> = None;
        for _ in 0..usize::from(req.password.is_some()) + usize::from(select) {
            match target.read_line(req.timeout) {
                Ok(line) => {
                    if line.first() == Some(&b'-') && setup_error.is_none() {
                        setup_error = Some(line);
                    }
                }
                Err(why) => return (Attempt::EarlyFailure { writing: false, why }, Vec::new()),
            }
        }
        let mut target_error: Option<Vec<u8>> = None;
        let mut deleted: Vec<&[u8]> = Vec::new();
        let mut failure: Option<IoFailure> = None;
        let mut answered = 0usize;
        for &key in &sent {
            let line = match target.read_line(req.timeout) {
                Ok(line) => line,
                Err(why) => {
                    failure = Some(why);
                    break;
                }
            };
            answered += 1;
            let error = setup_error.as_deref().or((line.first() == Some(&b'-')).then_some(line.as_slice()));
            if let Some(error) = error {
                if target_error.is_none() {
                    // The next MIGRATE selects again: an error may mean the SELECT failed.
                    target.last_db = -1;
                    target_error = Some(target_error_reply(&error[1..]));
                }
            } else if !req.copy {
                // Redis counts and notifies every accepted key, even one a duplicate in KEYS
                // already deleted.
                let t = locks.table(ks, db, key);
                t.remove(key, now);
                effects.dirty += 1;
                if notify_del {
                    effects.notifications.push(Notification { db, event: "del", key: Sds::new(key) });
                }
                deleted.push(key);
            }
        }
        if !deleted.is_empty() {
            // Redis propagates the deletions as one DEL of the moved keys (still under their
            // slot locks here, so the log keeps per-key order).
            let mut argv: Vec<Vec<u8>> = vec![b"DEL".to_vec()];
            argv.extend(deleted.iter().map(|k| k.to_vec()));
            crate::aof::propagate_server_write(db, argv);
        }
        let attempt = match failure {
            Some(why) if answered == 0 && target_error.is_none() => Attempt::EarlyFailure { writing: false, why },
            Some(_) => Attempt::LateFailure { target_error },
            None => {
                if target_error.is_none() {
                    target.last_db = req.db;
                }
                Attempt::Answered(target_error)
            }
        };
        (attempt, deleted)
    }

    /// Locks the slots of `keys` in `db`, in ascending order (inside EXEC the transaction
    /// already holds them).
    fn lock_keys(&mut self, db: u32, keys: &[&[u8]]) {
        let mut wanted: Vec<(u32, u16)> = keys.iter().map(|k| (db, key_hash_slot(k))).collect();
        let shared = self.shared;
        let (locks, _) = self.locks_and_effects();
        locks.lock(&shared.ks, &mut wanted);
    }

    /// Releases what `lock_keys` took; inside EXEC the transaction keeps its locks.
    fn unlock_keys(&mut self) {
        if !self.in_exec {
            self.locks_and_effects().0.clear();
        }
    }

    /// Publishes what MIGRATE did (dirty count, `del` events, lazily expired keys); inside EXEC
    /// the transaction does so when it ends.
    fn migrate_done(&mut self, db: u32) {
        if self.data_config.notify_keyspace_events & commands::notify::NOTIFY_EXPIRED != 0 {
            self.note_expired(db, 0);
        }
        if !self.in_exec {
            self.finish_transaction();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&'static str]) -> Vec<&'static [u8]> {
        s.iter().map(|a| a.as_bytes()).collect()
    }

    #[test]
    fn parse_follows_redis_order_of_checks() {
        let a = args(&["migrate", "h", "1", "k", "0", "5", "copy", "replace", "auth", "p"]);
        let r = parse(&a).expect("valid");
        assert!(r.copy && r.replace);
        assert_eq!(r.password, Some(&b"p"[..]));
        assert_eq!(r.keys, [&b"k"[..]]);
        assert_eq!(r.timeout, Duration::from_millis(5));
        // A syntax error is found before a bad timeout or database.
        assert_eq!(parse(&args(&["migrate", "h", "1", "k", "x", "y", "nope"])), Err(errors::SYNTAX));
        assert_eq!(parse(&args(&["migrate", "h", "1", "k", "x", "5"])), Err(errors::NOT_INTEGER));
        assert_eq!(parse(&args(&["migrate", "h", "1", "k", "0", "5", "auth"])), Err(errors::SYNTAX));
        assert_eq!(parse(&args(&["migrate", "h", "1", "k", "0", "5", "auth2", "u"])), Err(errors::SYNTAX));
        assert_eq!(parse(&args(&["migrate", "h", "1", "k", "0", "5", "keys", "a"])), Err(KEYS_NEED_EMPTY_KEY));
        let a = args(&["migrate", "h", "1", "", "3", "-7", "auth2", "u", "p", "keys", "a", "copy"]);
        let r = parse(&a).expect("valid");
        assert_eq!(r.keys, [&b"a"[..], &b"copy"[..]]);
        assert!(!r.copy);
        assert_eq!((r.db, r.timeout), (3, Duration::from_millis(1000)));
        assert_eq!((r.username, r.password), (Some(&b"u"[..]), Some(&b"p"[..])));
    }

    #[test]
    fn reply_lines_as_redis_reads_them() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let stream = TcpStream::connect(addr).expect("connect");
        let (mut peer, _) = listener.accept().expect("accept");
        let long = "a".repeat(1100);
        peer.write_all(format!("+OK\r\n-ERR x\r\n\r\n\n{long}\r\n").as_bytes()).expect("write");
        let mut t = Target { stream, last_db: -1, last_use: Instant::now(), pending: Vec::new() };
        let timeout = Duration::from_secs(5);
        assert_eq!(t.read_line(timeout), Ok(b"+OK".to_vec()));
        assert_eq!(t.read_line(timeout), Ok(b"-ERR x".to_vec()));
        assert_eq!(t.read_line(timeout), Ok(Vec::new()));
        assert_eq!(t.read_line(timeout), Err(IoFailure::Broken));
        assert_eq!(t.read_line(timeout), Ok(long.as_bytes()[..1023].to_vec()));
        assert_eq!(t.read_line(timeout), Ok(long.as_bytes()[1023..].to_vec()));
        assert_eq!(t.read_line(Duration::from_millis(50)), Err(IoFailure::TimedOut));
        drop(peer);
        assert_eq!(t.read_line(timeout), Err(IoFailure::Broken));
    }

    #[test]
    fn atoi_as_c() {
        assert_eq!(atoi(b" 6379xyz"), 6379);
        assert_eq!(atoi(b"-12"), -12);
        assert_eq!(atoi(b"abc"), 0);
        assert_eq!(atoi(b""), 0);
        assert_eq!(atoi(b"+7"), 7);
        assert_eq!(port_number(b"6379"), Some(6379));
        assert_eq!(port_number(b"70000"), Some(4464));
        assert_eq!(port_number(b"123456"), Some(12345));
        assert_eq!(port_number(b"x"), Some(0));
        assert_eq!(port_number(b"-1"), None);
    }
}
