//! redis-cli 7.0.15's tool modes: `--scan`, `--bigkeys`, `--memkeys`, `--hotkeys`, `--stat`,
//! `--latency`, `--latency-history` and `--latency-dist`, sending the commands redis-cli sends and
//! printing what it prints (its `scanMode`, `findBigKeys`, `findHotKeys`, `statMode`, `latencyMode`,
//! `latencyDistMode`).
//!
//! It owns: the pure line formats of each mode (unit-tested below), the loops that drive a
//! [`Connection`], and [`StdioOut`], which buffers stdout the way C's stdio does, because what a
//! never-ending mode has shown when it is killed depends on it (`--stat | cat` shows nothing for a
//! while with redis-cli). It must never write to the process's stdout or stderr itself (it writes to
//! the handles it is given) nor exit the process: each mode returns the exit code redis-cli would
//! exit with, and the binary exits.

use crate::client::{ClientError, Connection};
use crate::cluster::dictorder::DictOrder;
use crate::format::{repr, Mode};
use crate::reply::Reply;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// glibc's buffer size for a stdout that is not a terminal (a pipe's or a file's `st_blksize`).
const STDIO_BLOCK_BYTES: usize = 4096;

/// stdout as C's stdio buffers it: line-buffered on a terminal, in whole 4096-byte blocks
/// otherwise, and written out on `flush` (redis-cli's `fflush`, and `exit`). Writing straight
/// through (the rejected alternative) would show lines redis-cli keeps in its buffer.
pub struct StdioOut<'a> {
    inner: &'a mut dyn Write,
    buf: Vec<u8>,
    line_buffered: bool,
}

impl<'a> StdioOut<'a> {
    pub fn new(inner: &'a mut dyn Write, line_buffered: bool) -> Self {
        StdioOut { inner, buf: Vec::new(), line_buffered }
    }

    /// `printf`: buffered, written out at a newline (terminal) or per full block (otherwise).
    pub fn print(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        let last_newline = self.buf.iter().rposition(|&c| c == b'\n');
        if let (true, Some(at)) = (self.line_buffered && bytes.contains(&b'\n'), last_newline) {
            // A line-buffered stream writes up to the last newline; the rest waits.
            let _ = self.inner.write_all(&self.buf[..=at]);
            let _ = self.inner.flush();
            self.buf.drain(..=at);
        } else if self.buf.len() >= STDIO_BLOCK_BYTES {
            let whole = self.buf.len() / STDIO_BLOCK_BYTES * STDIO_BLOCK_BYTES;
            // Write errors are ignored, as printf's are by redis-cli.
            let _ = self.inner.write_all(&self.buf[..whole]);
            let _ = self.inner.flush();
            self.buf.drain(..whole);
        }
    }

    /// `fflush(stdout)`.
    pub fn flush(&mut self) {
        let _ = self.inner.write_all(&self.buf);
        let _ = self.inner.flush();
        self.buf.clear();
    }
}

/// What every mode needs besides its connection.
pub struct ModeEnv<'a, 'o> {
    pub out: &'a mut StdioOut<'o>,
    /// stderr (unbuffered in C: written straight through).
    pub err: &'a mut dyn Write,
    pub mode: Mode,
    /// `-i`, in microseconds (0: not given).
    pub interval_us: u64,
    /// `--pattern` / `--quoted-pattern`: SCAN's MATCH argument.
    pub pattern: Option<Vec<u8>>,
    /// Set by the binary's SIGINT handler (`longStatLoopModeStop`): the scan loops stop and print
    /// their summary.
    pub cancel: &'a AtomicBool,
    /// Where `--stat` and `--latency*` reconnect after a broken connection. redis-cli's
    /// `reconnectingRedisCommand` reconnects to host:port without AUTH or SELECT; so do we.
    pub host: String,
    pub port: u16,
}

impl ModeEnv<'_, '_> {
    fn eprint(&mut self, text: &str) {
        let _ = self.err.write_all(text.as_bytes());
        let _ = self.err.flush();
    }

    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }
}

// ---------------------------------------------------------------------------------------------
// C number formats and parsers
// ---------------------------------------------------------------------------------------------

/// printf's `%05.2f`, including glibc's `-nan` / `inf`, which ignore the `0` flag.
pub fn pct_05_2(x: f64) -> String {
    if x.is_nan() {
        format!("{:>5}", if x.is_sign_negative() { "-nan" } else { "nan" })
    } else if x.is_infinite() {
        format!("{:>5}", if x < 0.0 { "-inf" } else { "inf" })
    } else {
        format!("{x:05.2}")
    }
}

/// redis-cli's progress percentage, `100 * (double)sampled / total_keys`. With DBSIZE 0 and
/// nothing sampled it is C's 0.0/0.0, which x86 makes a negative NaN (printed `-nan`).
pub fn progress_pct(sampled: u64, total_keys: i64) -> f64 {
    if total_keys == 0 && sampled == 0 {
        -f64::NAN
    } else {
        100.0 * sampled as f64 / total_keys as f64
    }
}

/// C's `strtol(s, NULL, 10)`: leading spaces, a sign, digits; saturates; 0 when there are none.
pub fn strtol(s: &[u8]) -> i64 {
    let mut i = s.iter().take_while(|c| c.is_ascii_whitespace()).count();
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let mut v: i64 = 0;
    for &c in s[i.min(s.len())..].iter().take_while(|c| c.is_ascii_digit()) {
        let d = i64::from(c - b'0');
        v = if neg { v.saturating_mul(10).saturating_sub(d) } else { v.saturating_mul(10).saturating_add(d) };
    }
    v
}

/// C's `strtoull(s, NULL, 10)` for SCAN's cursor (digits only; anything else ends it).
fn strtoull(s: &[u8]) -> u64 {
    let mut v: u64 = 0;
    for &c in s.iter().skip_while(|c| c.is_ascii_whitespace()).take_while(|c| c.is_ascii_digit()) {
        v = v.saturating_mul(10).saturating_add(u64::from(c - b'0'));
    }
    v
}

/// A reply's text as C's `%s` prints it: up to the first NUL.
fn c_str(s: &[u8]) -> &[u8] {
    match s.iter().position(|&b| b == 0) {
        Some(end) => &s[..end],
        None => s,
    }
}

fn c_str_lossy(s: &[u8]) -> String {
    String::from_utf8_lossy(c_str(s)).into_owned()
}

/// `sdscatrepr`: the key quoted and escaped, as the modes print key names.
fn repr_string(s: &[u8]) -> String {
    let mut out = Vec::new();
    repr(&mut out, s);
    // repr escapes every byte outside printable ASCII, so the text is ASCII.
    String::from_utf8_lossy(&out).into_owned()
}

/// hiredis's `c->err` number for a failed read, as redis-cli prints it in "(%d: %s)".
fn hiredis_err_code(e: &ClientError) -> i32 {
    match e {
        ClientError::Connect(_) | ClientError::Io(_) => 1,
        ClientError::Eof => 3,
        ClientError::Protocol(_) => 4,
    }
}

/// Wall-clock microseconds, as redis-cli's `ustime()` (`mstime()` is this / 1000).
fn ustime() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}

fn mstime() -> i64 {
    ustime() / 1000
}

// ---------------------------------------------------------------------------------------------
// SCAN, shared by --scan, --bigkeys, --memkeys and --hotkeys
// ---------------------------------------------------------------------------------------------

/// `sendScan`: one SCAN call; the next cursor and the keys, or the exit code after the message
/// redis-cli prints.
fn send_scan(conn: &mut Connection, cursor: u64, env: &mut ModeEnv) -> Result<(u64, Vec<Vec<u8>>), i32> {
    let mut argv = vec![b"SCAN".to_vec(), cursor.to_string().into_bytes()];
    if let Some(p) = &env.pattern {
        argv.push(b"MATCH".to_vec());
        argv.push(p.clone());
    }
    let reply = match conn.command(&argv) {
        Ok(r) => r,
        Err(_) => {
            env.eprint("\nI/O error\n");
            return Err(1);
        }
    };
    let items = match reply {
        Reply::Error(e) => {
            env.eprint(&format!("SCAN error: {}\n", c_str_lossy(&e)));
            return Err(1);
        }
        Reply::Array(items) => items,
        _ => {
            env.eprint("Non ARRAY response from SCAN!\n");
            return Err(1);
        }
    };
    let [Reply::Bulk(next), Reply::Array(keys)] = items.as_slice() else {
        // redis-cli asserts the element types (an abort); we refuse with its count message instead.
        env.eprint("Invalid element count from SCAN!\n");
        return Err(1);
    };
    let keys = keys.iter().map(|k| if let Reply::Bulk(b) = k { b.clone() } else { Vec::new() }).collect();
    Ok((strtoull(next), keys))
}

/// `getDbSize`.
fn db_size(conn: &mut Connection, env: &mut ModeEnv) -> Result<i64, i32> {
    match conn.command(&[b"DBSIZE".to_vec()]) {
        Err(_) => {
            env.eprint("\nI/O error\n");
            Err(1)
        }
        Ok(Reply::Error(e)) => {
            env.eprint(&format!("Couldn't determine DBSIZE: {}\n", c_str_lossy(&e)));
            Err(1)
        }
        // DBSIZE is read into a C int.
        Ok(Reply::Integer(n)) => Ok(i64::from(n as i32)),
        Ok(_) => {
            env.eprint("Non INTEGER response from DBSIZE!\n");
            Err(1)
        }
    }
}

/// Sends one command per key in one write, as redis-cli's `redisAppendCommandArgv` loop does.
fn send_pipeline(conn: &mut Connection, commands: &[Vec<Vec<u8>>]) -> Result<(), ClientError> {
    let mut bytes = Vec::new();
    for argv in commands {
        bytes.extend_from_slice(&Connection::encode(argv));
    }
    if bytes.is_empty() {
        return Ok(());
    }
    conn.send_raw(&bytes)
}

/// A pipeline sent in one write, its replies read one at a time, each when its caller gets to it
/// (as redis-cli reads them, so the first error stops the reading): a failed send is every
/// reply's error.
struct Pipeline<'c> {
    conn: &'c mut Connection,
    sent: Result<(), String>,
}

impl<'c> Pipeline<'c> {
    fn send(conn: &'c mut Connection, commands: &[Vec<Vec<u8>>]) -> Pipeline<'c> {
        let sent = send_pipeline(conn, commands).map_err(|e| e.to_string());
        Pipeline { conn, sent }
    }

    fn next_reply(&mut self) -> Result<Reply, ClientError> {
        match &self.sent {
            Ok(()) => self.conn.read_reply(),
            Err(e) => Err(ClientError::Io(e.clone())),
        }
    }
}

/// `scanMode`: every key SCAN returns, one a line (quoted on a terminal, as C strings otherwise).
pub fn scan_mode(conn: &mut Connection, env: &mut ModeEnv) -> i32 {
    let mut cursor = 0;
    loop {
        let (next, keys) = match send_scan(conn, cursor, env) {
            Ok(r) => r,
            Err(code) => return code,
        };
        cursor = next;
        for k in &keys {
            let mut line = if env.mode == Mode::Tty { repr_string(k).into_bytes() } else { c_str(k).to_vec() };
            line.push(b'\n');
            env.out.print(&line);
        }
        if env.interval_us > 0 {
            std::thread::sleep(Duration::from_micros(env.interval_us));
        }
        if env.cancelled() || cursor == 0 {
            return 0;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// --bigkeys and --memkeys
// ---------------------------------------------------------------------------------------------

/// One key type's totals (redis-cli's `typeinfo`).
#[derive(Debug, Clone)]
struct TypeStats {
    name: String,
    /// The command giving a key's size in `unit`s; `None` for types redis-cli does not know
    /// (a module's), which --bigkeys counts without sizing.
    size_cmd: Option<&'static str>,
    unit: &'static str,
    biggest: u64,
    count: u64,
    total_size: u64,
    /// The biggest key, quoted (`sdscatrepr`).
    biggest_key: Option<String>,
}

/// redis-cli's table of types: a dict keyed by the TYPE reply, whose iteration order is the
/// order of the summary. `DictOrder` models that dict's layout; the stats live beside it.
pub struct TypeTable {
    stats: Vec<TypeStats>,
    layout: DictOrder,
}

impl Default for TypeTable {
    fn default() -> Self {
        Self::new()
    }
}

impl TypeTable {
    /// The six types redis-cli adds first, in its order (which decides the dict's layout).
    pub fn new() -> Self {
        let mut t = TypeTable { stats: Vec::new(), layout: DictOrder::new() };
        for (name, cmd, unit) in [
            ("string", "STRLEN", "bytes"),
            ("list", "LLEN", "items"),
            ("set", "SCARD", "members"),
            ("hash", "HLEN", "fields"),
            ("zset", "ZCARD", "members"),
            ("stream", "XLEN", "entries"),
        ] {
            t.add(name, Some(cmd), unit);
        }
        t
    }

    fn add(&mut self, name: &str, size_cmd: Option<&'static str>, unit: &'static str) -> usize {
        self.layout.add(name);
        self.stats.push(TypeStats {
            name: name.to_string(),
            size_cmd,
            unit,
            biggest: 0,
            count: 0,
            total_size: 0,
            biggest_key: None,
        });
        self.stats.len() - 1
    }

    /// The type a TYPE reply names (`getKeyTypes`): looked up (one rehash step), added as an
    /// unsized "other" type when unknown, `None` for `none` (the key went away since SCAN).
    pub fn resolve(&mut self, name: &str) -> Option<usize> {
        self.layout.find_step();
        if let Some(i) = self.stats.iter().position(|t| t.name == name) {
            return Some(i);
        }
        (name != "none").then(|| self.add(name, None, "?"))
    }

    fn in_dict_order(&self) -> Vec<&TypeStats> {
        self.layout.iter_order().iter().filter_map(|n| self.stats.iter().find(|t| &t.name == n)).collect()
    }
}

/// `[%05.2f%%] Biggest %-6s found so far '%s' with %llu %s`.
pub fn biggest_so_far_line(pct: f64, type_name: &str, key_repr: &str, size: u64, unit: &str) -> String {
    format!("[{}%] Biggest {type_name:<6} found so far '{key_repr}' with {size} {unit}\n", pct_05_2(pct))
}

/// The part of findBigKeys's summary after "Total key length": the biggest key of each type
/// found, then every type's totals, both in the table's order.
fn big_keys_summary(table: &TypeTable, sampled: u64, memkeys: bool) -> String {
    let mut s = String::new();
    let order = table.in_dict_order();
    let unit = |t: &TypeStats| if memkeys { "bytes" } else { t.unit };
    for t in &order {
        if let Some(key) = &t.biggest_key {
            s += &format!("Biggest {:>6} found '{key}' has {} {}\n", t.name, t.biggest, unit(t));
        }
    }
    s.push('\n');
    for t in &order {
        let share = if sampled > 0 { 100.0 * t.count as f64 / sampled as f64 } else { 0.0 };
        let avg = if t.count > 0 { t.total_size as f64 / t.count as f64 } else { 0.0 };
        s += &format!(
            "{} {}s with {} {} ({} of keys, avg size {avg:.2})\n",
            t.count,
            t.name,
            t.total_size,
            unit(t),
            pct_05_2(share) + "%"
        );
    }
    s
}

const BIGKEYS_BANNER: &str = "\n# Scanning the entire keyspace to find biggest keys as well as\n\
# average sizes per key type.  You can use -i 0.1 to sleep 0.1 sec\n\
# per 100 SCAN commands (not usually needed).\n\n";

const HOTKEYS_BANNER: &str = "\n# Scanning the entire keyspace to find hot keys as well as\n\
# average sizes per key type.  You can use -i 0.1 to sleep 0.1 sec\n\
# per 100 SCAN commands (not usually needed).\n\n";

/// `getKeyTypes`: TYPE of every key, pipelined.
fn key_types(
    conn: &mut Connection,
    keys: &[Vec<u8>],
    table: &mut TypeTable,
    env: &mut ModeEnv,
) -> Result<Vec<Option<usize>>, i32> {
    let cmds: Vec<Vec<Vec<u8>>> = keys.iter().map(|k| vec![b"TYPE".to_vec(), k.clone()]).collect();
    let mut pipeline = Pipeline::send(conn, &cmds);
    let mut types = Vec::with_capacity(keys.len());
    for k in keys {
        let reply = pipeline.next_reply();
        match reply {
            Err(e) => {
                env.eprint(&format!(
                    "Error getting type for key '{}' ({}: {e})\n",
                    c_str_lossy(k),
                    hiredis_err_code(&e)
                ));
                return Err(1);
            }
            Ok(Reply::Status(t)) => types.push(table.resolve(&c_str_lossy(&t))),
            Ok(Reply::Error(e)) => {
                env.eprint(&format!("TYPE returned an error: {}\n", c_str_lossy(&e)));
                return Err(1);
            }
            Ok(other) => {
                env.eprint(&format!(
                    "Invalid reply type ({}) for TYPE on key '{}'!\n",
                    other.hiredis_type(),
                    c_str_lossy(k)
                ));
                return Err(1);
            }
        }
    }
    Ok(types)
}

/// `getKeySizes`: each key's size (its type's size command, or MEMORY USAGE), pipelined; 0 for
/// keys that went away or that cannot be sized.
fn key_sizes(
    conn: &mut Connection,
    keys: &[Vec<u8>],
    types: &[Option<usize>],
    table: &TypeTable,
    memkeys_samples: Option<u32>,
    env: &mut ModeEnv,
) -> Result<Vec<u64>, i32> {
    let memkeys = memkeys_samples.is_some();
    let size_cmd = |t: Option<usize>| t.and_then(|i| table.stats[i].size_cmd);
    let sized = |t: Option<usize>| t.is_some() && (memkeys || size_cmd(t).is_some());
    let mut cmds = Vec::new();
    for (k, &t) in keys.iter().zip(types) {
        if !sized(t) {
            continue;
        }
        cmds.push(match (memkeys_samples, size_cmd(t)) {
            (Some(0), _) => vec![b"MEMORY".to_vec(), b"USAGE".to_vec(), k.clone()],
            (Some(n), _) => {
                vec![b"MEMORY".to_vec(), b"USAGE".to_vec(), k.clone(), b"SAMPLES".to_vec(), n.to_string().into_bytes()]
            }
            (None, cmd) => vec![cmd.unwrap_or_default().as_bytes().to_vec(), k.clone()],
        });
    }
    let mut pipeline = Pipeline::send(conn, &cmds);
    let mut sizes = Vec::with_capacity(keys.len());
    for (k, &t) in keys.iter().zip(types) {
        if !sized(t) {
            sizes.push(0);
            continue;
        }
        let reply = pipeline.next_reply();
        match reply {
            Err(e) => {
                env.eprint(&format!(
                    "Error getting size for key '{}' ({}: {e})\n",
                    c_str_lossy(k),
                    hiredis_err_code(&e)
                ));
                return Err(1);
            }
            // A negative integer wraps, as it does in redis-cli's unsigned long long.
            Ok(Reply::Integer(n)) => sizes.push(n as u64),
            Ok(_) => {
                // The key changed type between TYPE and the size command.
                let cmd = if memkeys { "MEMORY USAGE" } else { size_cmd(t).unwrap_or_default() };
                env.eprint(&format!("Warning:  {cmd} on '{}' failed (may have changed type)\n", c_str_lossy(k)));
                sizes.push(0);
            }
        }
    }
    Ok(sizes)
}

/// `findBigKeys`: `--bigkeys` (`memkeys_samples` None) or `--memkeys` (Some(samples), 0 meaning
/// the server's default).
pub fn big_keys(conn: &mut Connection, env: &mut ModeEnv, memkeys_samples: Option<u32>) -> i32 {
    let memkeys = memkeys_samples.is_some();
    let mut table = TypeTable::new();
    let total_keys = match db_size(conn, env) {
        Ok(n) => n,
        Err(code) => return code,
    };
    env.out.print(BIGKEYS_BANNER.as_bytes());
    let (mut sampled, mut total_len, mut cursor, mut scan_loops) = (0u64, 0u64, 0u64, 0u64);
    let mut pct;
    loop {
        pct = progress_pct(sampled, total_keys);
        let (next, keys) = match send_scan(conn, cursor, env) {
            Ok(r) => r,
            Err(code) => return code,
        };
        cursor = next;
        scan_loops += 1;
        let types = match key_types(conn, &keys, &mut table, env) {
            Ok(t) => t,
            Err(code) => return code,
        };
        let sizes = match key_sizes(conn, &keys, &types, &table, memkeys_samples, env) {
            Ok(s) => s,
            Err(code) => return code,
        };
        for ((k, t), size) in keys.iter().zip(types).zip(sizes) {
            let Some(t) = t else { continue };
            let stats = &mut table.stats[t];
            stats.total_size = stats.total_size.wrapping_add(size);
            stats.count += 1;
            total_len += k.len() as u64;
            sampled += 1;
            if stats.biggest < size {
                let key = repr_string(k);
                let unit = if memkeys { "bytes" } else { stats.unit };
                env.out.print(biggest_so_far_line(pct, &stats.name, &key, size, unit).as_bytes());
                stats.biggest_key = Some(key);
                stats.biggest = size;
            }
            if sampled % 1_000_000 == 0 {
                env.out.print(format!("[{}%] Sampled {sampled} keys so far\n", pct_05_2(pct)).as_bytes());
            }
        }
        if env.interval_us > 0 && scan_loops % 100 == 0 {
            std::thread::sleep(Duration::from_micros(env.interval_us));
        }
        if env.cancelled() || cursor == 0 {
            break;
        }
    }
    let mut s = String::from("\n-------- summary -------\n\n");
    if env.cancelled() {
        s += &format!("[{}%] ", pct_05_2(pct));
    }
    let avg_len = if total_len > 0 { total_len as f64 / sampled as f64 } else { 0.0 };
    s += &format!(
        "Sampled {sampled} keys in the keyspace!\nTotal key length in bytes is {total_len} (avg len {avg_len:.2})\n\n"
    );
    s += &big_keys_summary(&table, sampled, memkeys);
    env.out.print(s.as_bytes());
    0
}

// ---------------------------------------------------------------------------------------------
// --hotkeys
// ---------------------------------------------------------------------------------------------

/// How many hot keys redis-cli keeps (`HOTKEYS_SAMPLE`).
const HOTKEYS_SAMPLE: usize = 16;

/// findHotKeys's pool: counters in ascending order, slot 0 the coldest kept; a key enters when its
/// counter beats slot 0's, pushing the colder ones down (the eviction pool's rule).
#[derive(Debug, Default)]
pub struct HotKeys {
    counters: [u64; HOTKEYS_SAMPLE],
    keys: [Option<String>; HOTKEYS_SAMPLE],
}

impl HotKeys {
    /// Offers a key (quoted) with its OBJECT FREQ counter; true when it was kept (redis-cli then
    /// prints "Hot key ... found so far").
    pub fn offer(&mut self, freq: u64, key_repr: String) -> bool {
        let mut k = 0;
        while k < HOTKEYS_SAMPLE && freq > self.counters[k] {
            k += 1;
        }
        if k == 0 {
            return false;
        }
        k -= 1;
        if k != 0 && self.counters[k] != 0 {
            // Slot k is taken: everything colder moves down one, dropping slot 0.
            self.counters.copy_within(1..=k, 0);
            self.keys[..=k].rotate_left(1);
        }
        self.counters[k] = freq;
        self.keys[k] = Some(key_repr);
        true
    }

    /// The summary lines, hottest first.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        for k in (0..HOTKEYS_SAMPLE).rev() {
            if self.counters[k] > 0 {
                let key = self.keys[k].as_deref().unwrap_or_default();
                s += &format!("hot key found with counter: {}\tkeyname: {key}\n", self.counters[k]);
            }
        }
        s
    }
}

/// `getKeyFreqs`: OBJECT FREQ of every key, pipelined.
fn key_freqs(conn: &mut Connection, keys: &[Vec<u8>], env: &mut ModeEnv) -> Result<Vec<u64>, i32> {
    let cmds: Vec<Vec<Vec<u8>>> = keys.iter().map(|k| vec![b"OBJECT".to_vec(), b"FREQ".to_vec(), k.clone()]).collect();
    let mut pipeline = Pipeline::send(conn, &cmds);
    let mut freqs = Vec::with_capacity(keys.len());
    for k in keys {
        let reply = pipeline.next_reply();
        match reply {
            Err(e) => {
                env.eprint(&format!(
                    "Error getting freq for key '{}' ({}: {e})\n",
                    repr_string(k),
                    hiredis_err_code(&e)
                ));
                return Err(1);
            }
            Ok(Reply::Integer(n)) => freqs.push(n as u64),
            Ok(Reply::Error(e)) => {
                // Typically: no LFU maxmemory-policy, so the server tracks no frequencies.
                env.eprint(&format!("Error: {}\n", c_str_lossy(&e)));
                return Err(1);
            }
            Ok(_) => {
                env.eprint(&format!("Warning: OBJECT freq on '{}' failed (may have been deleted)\n", repr_string(k)));
                freqs.push(0);
            }
        }
    }
    Ok(freqs)
}

/// `findHotKeys`.
pub fn hot_keys(conn: &mut Connection, env: &mut ModeEnv) -> i32 {
    let total_keys = match db_size(conn, env) {
        Ok(n) => n,
        Err(code) => return code,
    };
    env.out.print(HOTKEYS_BANNER.as_bytes());
    let mut pool = HotKeys::default();
    let (mut sampled, mut cursor, mut scan_loops) = (0u64, 0u64, 0u64);
    let mut pct;
    loop {
        pct = progress_pct(sampled, total_keys);
        let (next, keys) = match send_scan(conn, cursor, env) {
            Ok(r) => r,
            Err(code) => return code,
        };
        cursor = next;
        scan_loops += 1;
        let freqs = match key_freqs(conn, &keys, env) {
            Ok(f) => f,
            Err(code) => return code,
        };
        for (k, freq) in keys.iter().zip(freqs) {
            sampled += 1;
            if sampled % 1_000_000 == 0 {
                env.out.print(format!("[{}%] Sampled {sampled} keys so far\n", pct_05_2(pct)).as_bytes());
            }
            let key = repr_string(k);
            let line = format!("[{}%] Hot key '{key}' found so far with counter {freq}\n", pct_05_2(pct));
            if pool.offer(freq, key) {
                env.out.print(line.as_bytes());
            }
        }
        if env.interval_us > 0 && scan_loops % 100 == 0 {
            std::thread::sleep(Duration::from_micros(env.interval_us));
        }
        if env.cancelled() || cursor == 0 {
            break;
        }
    }
    let mut s = String::from("\n-------- summary -------\n\n");
    if env.cancelled() {
        s += &format!("[{}%] ", pct_05_2(pct));
    }
    s += &format!("Sampled {sampled} keys in the keyspace!\n");
    s += &pool.summary();
    env.out.print(s.as_bytes());
    0
}

// ---------------------------------------------------------------------------------------------
// --stat
// ---------------------------------------------------------------------------------------------

/// Printed before the first line and every 20 lines.
pub const STAT_HEADER: &str = "------- data ------ --------------------- load -------------------- - child -\n\
keys       mem      clients blocked requests            connections          \n";

/// `getInfoField`: the text after the first occurrence of `field` (anywhere, as `strstr` finds
/// it, so `bgsave_in_progress` matches inside `rdb_bgsave_in_progress`) and one separator byte,
/// up to the next `\r` or `,`.
pub fn info_field<'i>(info: &'i [u8], field: &str) -> Option<&'i [u8]> {
    let f = field.as_bytes();
    let at = info.windows(f.len()).position(|w| w == f)?;
    let start = (at + f.len() + 1).min(info.len());
    let rest = &info[start..];
    let end = rest.iter().position(|&c| c == b'\r' || c == b',').unwrap_or(rest.len());
    Some(&rest[..end])
}

/// `getLongInfoField`: the field as a number, `LONG_MIN` when it is missing.
pub fn info_long(info: &[u8], field: &str) -> i64 {
    info_field(info, field).map_or(i64::MIN, strtol)
}

/// `bytesToHuman`: 100B, 4.00K, 2.50M, 1.00G. From 1 TiB up redis-cli writes nothing after the
/// sign, leaving what its buffer held (`previous`: the keys column it printed just before).
pub fn bytes_to_human(n: i64, previous: &str) -> String {
    let (sign, m) = if n < 0 { ("-", n.unsigned_abs()) } else { ("", n as u64) };
    const K: u64 = 1024;
    let body = if m < K {
        format!("{m}B")
    } else if m < K * K {
        format!("{:.2}K", m as f64 / K as f64)
    } else if m < K * K * K {
        format!("{:.2}M", m as f64 / (K * K) as f64)
    } else if m < K * K * K * K {
        format!("{:.2}G", m as f64 / (K * K * K) as f64)
    } else {
        // The sign overwrote the buffer's first byte; the rest is the previous text.
        return format!("{sign}{}", previous.get(sign.len()..).unwrap_or_default());
    };
    format!("{sign}{body}")
}

/// One `--stat` line from an INFO reply; `previous_requests` is the last line's request count
/// (0 before the first). Returns the line and this line's request count.
pub fn stat_line(info: &[u8], previous_requests: i64) -> (String, i64) {
    let keys = (0..20).map(|db| info_long(info, &format!("db{db}:keys"))).filter(|&k| k != i64::MIN);
    let keys = keys.fold(0i64, i64::wrapping_add).to_string();
    let mut line = format!("{keys:<11}");
    line += &format!("{:<8}", bytes_to_human(info_long(info, "used_memory"), &keys));
    line += &format!(" {:<8}", info_long(info, "connected_clients"));
    line += &format!("{:<8}", info_long(info, "blocked_clients"));
    let requests = info_long(info, "total_commands_processed");
    let delta = if previous_requests == 0 { 0 } else { requests.wrapping_sub(previous_requests) };
    line += &format!("{:<19}", format!("{requests} (+{delta})"));
    line += &format!(" {:<12}", info_long(info, "total_connections_received"));
    let children = info_long(info, "bgsave_in_progress")
        | info_long(info, "aof_rewrite_in_progress").wrapping_shl(1)
        | info_long(info, "loading").wrapping_shl(2);
    line += match children {
        1 => "SAVE",
        2 => "AOF",
        3 => "SAVE+AOF",
        4 => "LOAD",
        _ => "",
    };
    line.push('\n');
    (line, requests)
}

/// `reconnectingRedisCommand`: sends `argv`; while the connection is broken, shows
/// "Reconnecting... N" and connects again (to host:port, once a second, for as long as it takes,
/// as redis-cli does). A protocol error ends the mode.
fn reconnecting_command(conn: &mut Connection, argv: &[Vec<u8>], env: &mut ModeEnv) -> Result<Reply, i32> {
    let mut tries = 0u64;
    loop {
        match conn.command(argv) {
            Ok(r) => {
                if tries > 0 {
                    env.out.print(b"\r\x1b[0K");
                }
                return Ok(r);
            }
            Err(ClientError::Protocol(e)) => {
                env.eprint(&format!("Error: {e}\n"));
                return Err(1);
            }
            Err(_) => loop {
                tries += 1;
                env.out.print(format!("\r\x1b[0KReconnecting... {tries}\r").as_bytes());
                env.out.flush();
                let fresh = Connection::connect(&env.host, env.port);
                std::thread::sleep(Duration::from_secs(1));
                if let Ok(c) = fresh {
                    *conn = c;
                    break;
                }
            },
        }
    }
}

/// `statMode`: an INFO every interval (default 1 s), one line each; runs until killed or an
/// error reply.
pub fn stat_mode(conn: &mut Connection, env: &mut ModeEnv) -> i32 {
    let interval_us = if env.interval_us == 0 { 1_000_000 } else { env.interval_us };
    let mut requests = 0;
    let mut lines = 0u64;
    loop {
        let reply = match reconnecting_command(conn, &[b"INFO".to_vec()], env) {
            Ok(r) => r,
            Err(code) => return code,
        };
        let info = match reply {
            Reply::Error(e) => {
                env.eprint(&format!("ERROR: {}\n", c_str_lossy(&e)));
                return 1;
            }
            Reply::Bulk(b) | Reply::Verbatim(_, b) => b,
            _ => Vec::new(),
        };
        if lines.is_multiple_of(20) {
            env.out.print(STAT_HEADER.as_bytes());
        }
        lines += 1;
        let (line, now) = stat_line(c_str(&info), requests);
        requests = now;
        env.out.print(line.as_bytes());
        std::thread::sleep(Duration::from_micros(interval_us));
    }
}

// ---------------------------------------------------------------------------------------------
// --latency, --latency-history, --latency-dist
// ---------------------------------------------------------------------------------------------

/// Milliseconds between two PINGs in every latency mode (`LATENCY_SAMPLE_RATE`).
const LATENCY_SAMPLE_MS: u64 = 10;

/// `latencyModePrint`'s text: no newline on a terminal (the line is redrawn in place).
pub fn latency_text(mode: Mode, min_ms: i64, max_ms: i64, avg_ms: f64, count: i64) -> String {
    match mode {
        Mode::Tty => format!("min: {min_ms}, max: {max_ms}, avg: {avg_ms:.2} ({count} samples)"),
        Mode::Csv => format!("{min_ms},{max_ms},{avg_ms:.2},{count}\n"),
        Mode::Raw => format!("{min_ms} {max_ms} {avg_ms:.2} {count}\n"),
    }
}

/// `latencyMode`: PING every 10 ms, timing each in (wall-clock) milliseconds. On a terminal the
/// running min/max/avg is redrawn forever; otherwise `--latency` prints one line after the
/// interval (default 1 s) and exits 0, and `--latency-history` prints a line per sample and a
/// "-- N seconds range" line each interval (default 15 s), starting over.
pub fn latency_mode(conn: &mut Connection, env: &mut ModeEnv, history: bool) -> i32 {
    let history_interval_ms = if env.interval_us != 0 { (env.interval_us / 1000) as i64 } else { 15_000 };
    let interval_ms = if env.interval_us == 0 { 1000 } else { (env.interval_us / 1000) as i64 };
    let (mut min, mut max, mut total, mut count) = (0i64, 0i64, 0i64, 0i64);
    let mut avg;
    let mut history_start = mstime();
    loop {
        let start = mstime();
        if let Err(code) = reconnecting_command(conn, &[b"PING".to_vec()], env) {
            return code;
        }
        let latency = mstime() - start;
        count += 1;
        if count == 1 {
            (min, max, total) = (latency, latency, latency);
            avg = latency as f64;
        } else {
            min = min.min(latency);
            max = max.max(latency);
            total += latency;
            avg = total as f64 / count as f64;
        }
        if env.mode == Mode::Tty {
            env.out.print(b"\x1b[0G\x1b[2K");
            env.out.print(latency_text(env.mode, min, max, avg, count).as_bytes());
            env.out.flush();
        } else if history {
            env.out.print(latency_text(env.mode, min, max, avg, count).as_bytes());
        } else if mstime() - history_start > interval_ms {
            env.out.print(latency_text(env.mode, min, max, avg, count).as_bytes());
            return 0;
        }
        if history && mstime() - history_start > history_interval_ms {
            // redis-cli divides as a C float before printing.
            let seconds = (mstime() - history_start) as f32 / 1000.0;
            env.out.print(format!(" -- {:.2} seconds range\n", f64::from(seconds)).as_bytes());
            history_start = mstime();
            (min, max, total, count) = (0, 0, 0, 0);
        }
        std::thread::sleep(Duration::from_millis(LATENCY_SAMPLE_MS));
    }
}

/// The xterm-256 colours from "no samples" to "all samples" (`spectrum_palette_color`).
pub const PALETTE_COLOR: &[u8] =
    &[0, 233, 234, 235, 237, 239, 241, 243, 245, 247, 144, 143, 142, 184, 226, 214, 208, 202, 196];
/// `--mono`'s greys (`spectrum_palette_mono`).
pub const PALETTE_MONO: &[u8] = &[0, 233, 234, 235, 237, 239, 241, 243, 245, 247, 249, 251, 253];

/// The latency buckets of `--latency-dist`: the largest latency (µs) each holds and its
/// character; the last one (max 0) holds everything above a minute.
pub const DIST_BUCKETS: [(i64, u8); 31] = [
    (10, b'.'),
    (125, b'-'),
    (250, b'*'),
    (500, b'#'),
    (1000, b'1'),
    (2000, b'2'),
    (3000, b'3'),
    (4000, b'4'),
    (5000, b'5'),
    (6000, b'6'),
    (7000, b'7'),
    (8000, b'8'),
    (9000, b'9'),
    (10000, b'A'),
    (20000, b'B'),
    (30000, b'C'),
    (40000, b'D'),
    (50000, b'E'),
    (100000, b'F'),
    (200000, b'G'),
    (300000, b'H'),
    (400000, b'I'),
    (500000, b'J'),
    (1000000, b'K'),
    (2000000, b'L'),
    (4000000, b'M'),
    (8000000, b'N'),
    (16000000, b'O'),
    (30000000, b'P'),
    (60000000, b'Q'),
    (0, b'?'),
];

/// The bucket a latency falls in.
pub fn dist_bucket(latency_us: i64) -> usize {
    DIST_BUCKETS.iter().position(|&(max, _)| max == 0 || latency_us <= max).unwrap_or(DIST_BUCKETS.len() - 1)
}

/// `showLatencyDistLegend`.
pub fn dist_legend(palette: &[u8]) -> String {
    let mut s = String::from(
        "---------------------------------------------\n\
. - * #          .01 .125 .25 .5 milliseconds\n\
1,2,3,...,9      from 1 to 9     milliseconds\n\
A,B,C,D,E        10,20,30,40,50  milliseconds\n\
F,G,H,I,J        .1,.2,.3,.4,.5       seconds\n\
K,L,M,N,O,P,Q,?  1,2,4,8,16,30,60,>60 seconds\n\
From 0 to 100%: ",
    );
    for c in palette {
        s += &format!("\x1b[48;5;{c}m ");
    }
    s += "\x1b[0m\n---------------------------------------------\n";
    s
}

/// `showLatencyDistSamples`: each bucket's character on a background whose brightness is its
/// share of the `total` samples.
pub fn dist_spectrum(counts: &[u64; 31], total: u64, palette: &[u8]) -> String {
    let mut s = String::from("\x1b[38;5;0m");
    for (&(_, ch), &n) in DIST_BUCKETS.iter().zip(counts) {
        let idx = (n as f64 / total as f64 * (palette.len() - 1) as f64).ceil();
        let color = palette.get(idx as usize).copied().unwrap_or(0);
        s += &format!("\x1b[48;5;{color}m{}", ch as char);
    }
    s += "\x1b[0m\n";
    s
}

/// `latencyDistMode`: PING every 10 ms, timed in µs; every interval (default 1 s) a spectrum
/// line, with the legend before the first and every 20th. Runs until killed.
pub fn latency_dist_mode(conn: &mut Connection, env: &mut ModeEnv, palette: &[u8]) -> i32 {
    let history_interval_ms = if env.interval_us != 0 { (env.interval_us / 1000) as i64 } else { 1000 };
    let mut counts = [0u64; 31];
    let mut count = 0u64;
    let mut outputs = 0u64;
    let mut history_start = ustime();
    loop {
        let start = ustime();
        if let Err(code) = reconnecting_command(conn, &[b"PING".to_vec()], env) {
            return code;
        }
        let latency = ustime() - start;
        count += 1;
        counts[dist_bucket(latency)] += 1;
        if count > 0 && (ustime() - history_start) / 1000 > history_interval_ms {
            if outputs.is_multiple_of(20) {
                env.out.print(dist_legend(palette).as_bytes());
            }
            outputs += 1;
            env.out.print(dist_spectrum(&counts, count, palette).as_bytes());
            env.out.flush();
            counts = [0; 31];
            history_start = ustime();
            count = 0;
        }
        std::thread::sleep(Duration::from_millis(LATENCY_SAMPLE_MS));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_as_printf_prints_them() {
        assert_eq!(pct_05_2(0.0), "00.00");
        assert_eq!(pct_05_2(20.0), "20.00");
        assert_eq!(pct_05_2(100.0), "100.00");
        // An empty database: 0/0 is -nan in C on x86, and the 0 flag does not apply to it.
        assert_eq!(pct_05_2(progress_pct(0, 0)), " -nan");
        assert_eq!(pct_05_2(progress_pct(3, 0)), "  inf");
        assert_eq!(pct_05_2(progress_pct(1, 3)), "33.33");
    }

    #[test]
    fn c_parsers() {
        assert_eq!(strtol(b" -12x"), -12);
        assert_eq!(strtol(b"abc"), 0);
        assert_eq!(strtol(b"99999999999999999999"), i64::MAX);
        assert_eq!(strtoull(b"1234 "), 1234);
        assert_eq!(strtoull(b""), 0);
    }

    #[test]
    fn bigkeys_lines_and_summary_order() {
        assert_eq!(
            biggest_so_far_line(0.0, "set", "\"s\"", 1, "members"),
            "[00.00%] Biggest set    found so far '\"s\"' with 1 members\n"
        );
        // Nothing found: every type's totals, in the order of a table still rehashing.
        let t = TypeTable::new();
        let s = big_keys_summary(&t, 0, false);
        assert!(s.starts_with("\n0 hashs with 0 fields (00.00% of keys, avg size 0.00)\n0 lists"), "{s}");
        assert!(s.ends_with("0 zsets with 0 members (00.00% of keys, avg size 0.00)\n"), "{s}");
        // After lookups the rehash is done and a module type, unsized, joins the table.
        let mut t = TypeTable::new();
        let l = t.resolve("list");
        t.stats[l.unwrap_or(0)].count = 1;
        t.stats[l.unwrap_or(0)].total_size = 3;
        t.stats[l.unwrap_or(0)].biggest = 3;
        t.stats[l.unwrap_or(0)].biggest_key = Some("\"l\"".into());
        for _ in 0..4 {
            t.resolve("string");
        }
        assert_eq!(t.resolve("none"), None);
        let m = t.resolve("MyModType");
        assert_eq!(m, Some(6));
        assert_eq!(t.stats[6].size_cmd, None);
        let s = big_keys_summary(&t, 1, false);
        // The module type's bucket (by SipHash of its name) comes before every other here.
        assert!(s.starts_with("Biggest   list found '\"l\"' has 3 items\n\n0 MyModTypes with 0 ? (00.00% of keys, avg size 0.00)\n1 lists with 3 items (100.00% of keys, avg size 3.00)\n0 hashs"), "{s}");
        let s = big_keys_summary(&t, 1, true);
        assert!(s.starts_with("Biggest   list found '\"l\"' has 3 bytes\n"), "{s}");
    }

    #[test]
    fn hot_keys_pool_keeps_the_sixteen_hottest() {
        let mut p = HotKeys::default();
        assert!(!p.offer(0, "\"cold\"".into()));
        assert!(p.offer(5, "\"a\"".into()));
        assert!(p.offer(6, "\"b\"".into()));
        assert!(p.offer(5, "\"c\"".into()));
        assert_eq!(
            p.summary(),
            // "a" was pushed down one slot by "b"; "c" (not hotter than "a") lands below it.
            "hot key found with counter: 6\tkeyname: \"b\"\nhot key found with counter: 5\tkeyname: \"a\"\nhot key found with counter: 5\tkeyname: \"c\"\n"
        );
        let mut p = HotKeys::default();
        for i in 1..=20u64 {
            assert!(p.offer(i, format!("k{i}")));
        }
        // Full: a key no hotter than the coldest kept (5) is not taken.
        assert!(!p.offer(5, "x".into()));
        let s = p.summary();
        assert_eq!(s.lines().count(), 16);
        assert!(s.starts_with("hot key found with counter: 20\tkeyname: k20\n"), "{s}");
        assert!(s.ends_with("hot key found with counter: 5\tkeyname: k5\n"), "{s}");
    }

    #[test]
    fn info_fields_as_strstr_finds_them() {
        let info = b"# Persistence\r\nloading:0\r\nrdb_bgsave_in_progress:1\r\n# Keyspace\r\ndb0:keys=5,expires=0\r\ndb3:keys=1,expires=0\r\n";
        assert_eq!(info_field(info, "db0:keys"), Some(&b"5"[..]));
        assert_eq!(info_long(info, "bgsave_in_progress"), 1);
        assert_eq!(info_long(info, "used_memory"), i64::MIN);
        assert_eq!(info_field(b"x:1", "x:1"), Some(&b""[..]));
    }

    #[test]
    fn human_bytes() {
        assert_eq!(bytes_to_human(1023, ""), "1023B");
        assert_eq!(bytes_to_human(1024, ""), "1.00K");
        assert_eq!(bytes_to_human(1_234_567, ""), "1.18M");
        assert_eq!(bytes_to_human(-2048, ""), "-2.00K");
        assert_eq!(bytes_to_human(3 << 30, ""), "3.00G");
        assert_eq!(bytes_to_human(1 << 40, "12"), "12");
    }

    #[test]
    fn stat_lines() {
        let info = b"connected_clients:2\r\nblocked_clients:0\r\nused_memory:1048576\r\ntotal_connections_received:7\r\ntotal_commands_processed:40\r\nrdb_bgsave_in_progress:0\r\nloading:0\r\naof_rewrite_in_progress:1\r\ndb0:keys=9,expires=0\r\ndb3:keys=1,expires=0\r\n";
        let (line, req) = stat_line(info, 0);
        assert_eq!(line, "10         1.00M    2       0       40 (+0)             7           AOF\n");
        let (line, _) = stat_line(info, 35);
        assert!(line.contains("40 (+5)  "), "{line}");
        assert_eq!(req, 40);
        assert_eq!(STAT_HEADER.lines().map(str::len).collect::<Vec<_>>(), [77, 77]);
    }

    #[test]
    fn latency_texts() {
        assert_eq!(latency_text(Mode::Tty, 0, 1, 0.25, 9), "min: 0, max: 1, avg: 0.25 (9 samples)");
        assert_eq!(latency_text(Mode::Raw, 0, 1, 0.125, 9), "0 1 0.12 9\n");
        assert_eq!(latency_text(Mode::Csv, 0, 1, 1.0 / 3.0, 9), "0,1,0.33,9\n");
    }

    #[test]
    fn latency_distribution() {
        assert_eq!(dist_bucket(0), 0);
        assert_eq!(dist_bucket(10), 0);
        assert_eq!(dist_bucket(11), 1);
        assert_eq!(dist_bucket(60_000_001), 30);
        let mut counts = [0u64; 31];
        counts[1] = 3;
        counts[4] = 1;
        let s = dist_spectrum(&counts, 4, PALETTE_COLOR);
        // 3/4 of 18 rounds up to 14 (226); 1/4 to 5 (239); empty buckets are colour 0.
        assert!(s.starts_with("\x1b[38;5;0m\x1b[48;5;0m.\x1b[48;5;226m-\x1b[48;5;0m*"), "{s:?}");
        assert!(s.contains("\x1b[48;5;239m1"), "{s:?}");
        assert!(s.ends_with("\x1b[48;5;0m?\x1b[0m\n"), "{s:?}");
        let legend = dist_legend(PALETTE_MONO);
        assert!(legend.contains("From 0 to 100%: \x1b[48;5;0m \x1b[48;5;233m "), "{legend:?}");
        assert_eq!(legend.lines().count(), 8);
    }

    #[test]
    fn stdout_buffering_as_stdio() {
        let mut sink = Vec::new();
        {
            let mut out = StdioOut::new(&mut sink, false);
            out.print(b"line\n");
            out.print(&[b'x'; 5000]);
        }
        // Not a terminal: only whole blocks have gone out; the rest waits for a flush.
        assert_eq!(sink.len(), 4096);
        let mut sink = Vec::new();
        {
            let mut out = StdioOut::new(&mut sink, true);
            out.print(b"no newline");
            out.print(b" yet\nmore");
        }
        assert_eq!(sink, b"no newline yet\n");
        let mut sink = Vec::new();
        {
            let mut out = StdioOut::new(&mut sink, true);
            out.print(b"a\nb");
            out.flush();
        }
        assert_eq!(sink, b"a\nb");
    }
}
