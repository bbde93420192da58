//! The Lua debugger (LDB): `SCRIPT DEBUG YES|SYNC` followed by an EVAL runs that script under a
//! line hook that stops it and talks to the debugging client, as Redis 7.0.15's `eval.c` ldb*
//! functions do (read as the specification: ldbStartSession, ldbRepl, ldbReplParseCommand,
//! luaLdbLineHook, ldbLog / ldbSendLogs, ldbList, ldbPrint, ldbBreak, ldbEval, ldbRedis,
//! ldbTrace, ldbMaxlen, ldbCatStackValue, ldbRedisProtocolToHuman).
//!
//! Owns: one session per worker thread at most (a thread-local, as Redis's global `ldb`): the
//! script's source split in lines, breakpoints, the step flag, the pending log lines and the
//! debugger client's command buffer. While stopped, the session reads the client's socket
//! itself (poll + read, never through the event loop) and writes the log arrays straight to it,
//! as Redis's ldbRepl does with a blocking connection: the worker thread is held for the whole
//! session, as Redis's sync-mode session holds the server. Other workers keep serving (slots the
//! script locked stay locked until it ends).
//!
//! Costs nothing outside a session: the line hook is installed only for a debugged EVAL (other
//! scripts keep the 100,000-instruction busy hook), `redis.call` tests one flag of its run.
//!
//! Never: panics or allocates without bound on the client's bytes (the command buffer is capped
//! at 1 MiB as in Redis, the pending log at `MAX_PENDING_LOG_BYTES`), blocks a write more than
//! `SEND_TIMEOUT` (Redis's 5 s send timeout), or outlives its client: a closed or killed client
//! ends the stops (the script runs on without them, as Redis's), and SHUTDOWN aborts the script.
//!
//! # YES (forked) sessions
//! Redis forks for `SCRIPT DEBUG YES` so that whatever the script writes is thrown away with the
//! child. We cannot fork (a multi-threaded process; the keyspace is shared with the other
//! workers). A YES session therefore runs like a SYNC one, but every write command the script
//! (or the debugger's `redis` command) tries is refused with `FORKLESS_WRITE_ERROR`, so the
//! dataset is left untouched exactly as after Redis's child exits, and `redis-cli --ldb` (which
//! uses YES) works for the scripts that only read. Rejected: refusing YES altogether (breaks
//! `redis-cli --ldb` for every script); running it as SYNC (would keep writes the user was
//! promised are rolled back); undo logs of the touched keys (keyspace notifications, tracking
//! invalidations and WATCH touches would already have escaped to other clients).

use super::vm::ScriptError;
use crate::shared::{ClientShared, Shared};
use mlua::{Lua, Table, Value, VmState};
use std::cell::RefCell;
use std::os::fd::RawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How a client asked to debug (SCRIPT DEBUG SYNC or YES).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Changes are kept (Redis's CLIENT_LUA_DEBUG_SYNC).
    Sync,
    /// Redis's forked session: here, writes are refused instead (see the module doc).
    Forkless,
}

/// The error a write gets in a YES session.
pub const FORKLESS_WRITE_ERROR: &str = "Write commands are not allowed in a SCRIPT DEBUG YES session (redoxide cannot fork to roll them back): use SCRIPT DEBUG SYNC, whose changes are kept";

/// Redis's LDB_BREAKPOINTS_MAX.
const BREAKPOINTS_MAX: usize = 64;
/// Redis's LDB_MAX_LEN_DEFAULT: replies and values logged are cut at this many bytes.
const MAXLEN_DEFAULT: usize = 256;
/// Redis's LDB_MAX_VALUES_DEPTH (LUA_MINSTACK / 2): how deep a logged table is shown.
const MAX_VALUES_DEPTH: usize = 10;
/// The debugger client's command buffer beyond which the script is stopped (Redis: 1 MiB).
const MAX_CBUF_BYTES: usize = 1 << 20;
/// Redis's ldbReplParseCommand limits on a debugger command.
const MAX_ARGS: i64 = 1024;
const MAX_ARG_BYTES: i64 = 1024;
/// Redis's connSendTimeout for the debugging connection.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a stopped session looks at SHUTDOWN and CLIENT KILL while it waits for input.
const POLL_INTERVAL_MS: i32 = 100;
/// Pending log lines are dropped past this (a script calling `redis.debug` in a loop between
/// two stops); Redis keeps them all. Far above anything a person reads in one stop.
const MAX_PENDING_LOG_BYTES: usize = 16 << 20;
/// Commands shown by the `<redis>` log line before "... (N more)" (Redis's 10).
const LOGGED_ARGS: usize = 10;

const HELP: &[&str] = &[
    "Redis Lua debugger help:",
    "[h]elp               Show this help.",
    "[s]tep               Run current line and stop again.",
    "[n]ext               Alias for step.",
    "[c]ontinue           Run till next breakpoint.",
    "[l]ist               List source code around current line.",
    "[l]ist [line]        List source code around [line].",
    "                     line = 0 means: current position.",
    "[l]ist [line] [ctx]  In this form [ctx] specifies how many lines",
    "                     to show before/after [line].",
    "[w]hole              List all source code. Alias for 'list 1 1000000'.",
    "[p]rint              Show all the local variables.",
    "[p]rint <var>        Show the value of the specified variable.",
    "                     Can also show global vars KEYS and ARGV.",
    "[b]reak              Show all breakpoints.",
    "[b]reak <line>       Add a breakpoint to the specified line.",
    "[b]reak -<line>      Remove breakpoint from the specified line.",
    "[b]reak 0            Remove all breakpoints.",
    "[t]race              Show a backtrace.",
    "[e]val <code>        Execute some Lua code (in a different callframe).",
    "[r]edis <cmd>        Execute a Redis command.",
    "[m]axlen [len]       Trim logged Redis replies and Lua var dumps to len.",
    "                     Specifying zero as <len> means unlimited.",
    "[a]bort              Stop the execution of the script. In sync",
    "                     mode dataset changes will be retained.",
    "",
    "Debugger functions you can call from Lua scripts:",
    "redis.debug()        Produce logs in the debugger console.",
    "redis.breakpoint()   Stop execution like if there was a breakpoint in the",
    "                     next line of code.",
];

/// One debugging session (Redis's `struct ldbState`).
struct Session {
    mode: Mode,
    fd: RawFd,
    client: Arc<ClientShared>,
    shared: &'static Shared,
    /// The client is gone (closed, killed, or a write failed for good): no more stops or writes.
    gone: bool,
    logs: Vec<Vec<u8>>,
    log_bytes: usize,
    logs_dropped: usize,
    breakpoints: Vec<i64>,
    /// Stop at the next line regardless of breakpoints; also turns on the logging of commands.
    step: bool,
    /// `redis.breakpoint()` was called: stop at the next line.
    luabp: bool,
    src: Vec<Vec<u8>>,
    currentline: i64,
    cbuf: Vec<u8>,
    /// 0: unlimited.
    maxlen: usize,
    maxlen_hint_sent: bool,
    /// When the script last resumed (Redis resets the run's start time after each stop): the
    /// count hook stops a script running this long without a stop ("infinite loop?").
    resumed: Instant,
    timeout: Duration,
}

thread_local! {
    static SESSION: RefCell<Option<Session>> = const { RefCell::new(None) };
}

/// Runs `f` on this thread's session, if there is one and it is not borrowed (it never is
/// across a call into Lua: see `line_hook`).
fn with_session<R>(f: impl FnOnce(&mut Session) -> R) -> Option<R> {
    SESSION.with(|s| s.try_borrow_mut().ok().and_then(|mut s| s.as_mut().map(f)))
}

/// Whether commands and their replies are logged now (Redis's ldbIsEnabled: active and
/// stepping).
pub fn logging() -> bool {
    with_session(|s| s.step).unwrap_or(false)
}

/// The mode of this thread's session.
pub fn mode() -> Option<Mode> {
    with_session(|s| s.mode)
}

/// Redis's ldbStartSession (the fork aside, see the module doc): sets up the session of the
/// EVAL `body` the client on `fd` is about to run. `unsent` are replies queued before the EVAL,
/// written before the session's first output.
pub fn start_session(
    mode: Mode,
    fd: RawFd,
    unsent: Vec<u8>,
    body: &[u8],
    client: Arc<ClientShared>,
    shared: &'static Shared,
) {
    let threshold_ms = shared.config.read().get_i64("busy-reply-threshold").unwrap_or(5000).max(0) as u64;
    let mut end = body.len();
    while end > 0 && (body[end - 1] == b'\n' || body[end - 1] == b'\r') {
        end -= 1;
    }
    let src: Vec<Vec<u8>> =
        if end == 0 { Vec::new() } else { body[..end].split(|&b| b == b'\n').map(|l| l.to_vec()).collect() };
    crate::warning!(
        "{}",
        match mode {
            Mode::Sync => "Redis synchronous debugging eval session started",
            Mode::Forkless => "Redis forkless (SCRIPT DEBUG YES, writes refused) debugging eval session started",
        }
    );
    let mut session = Session {
        mode,
        fd,
        client,
        shared,
        gone: false,
        logs: Vec::new(),
        log_bytes: 0,
        logs_dropped: 0,
        breakpoints: Vec::new(),
        step: true,
        luabp: false,
        src,
        currentline: 0,
        cbuf: Vec::new(),
        maxlen: MAXLEN_DEFAULT,
        maxlen_hint_sent: false,
        resumed: Instant::now(),
        timeout: Duration::from_millis(if threshold_ms > 0 { threshold_ms } else { 5000 }),
    };
    if !unsent.is_empty() {
        session.write_all(&unsent);
    }
    SESSION.with(|s| {
        if let Ok(mut s) = s.try_borrow_mut() {
            *s = Some(session);
        }
    });
}

/// Redis's ldbEndSession: the pending logs and the `<endsession>` mark go out; the caller
/// closes the connection after the EVAL's reply.
pub fn end_session() {
    let session = SESSION.with(|s| s.try_borrow_mut().ok().and_then(|mut s| s.take()));
    if let Some(mut s) = session {
        s.log(b"<endsession>".to_vec());
        s.send_logs();
        crate::warning!(
            "{}",
            match s.mode {
                Mode::Sync => "Redis synchronous debugging eval session ended",
                Mode::Forkless => "Redis forkless debugging eval session ended",
            }
        );
    }
}

/// `redis.breakpoint()`: true (and a stop at the next line) inside a session.
pub fn breakpoint() -> bool {
    with_session(|s| s.luabp = true).is_some()
}

/// `redis.debug(...)`: logs the values as "<debug> line N: v1, v2".
pub fn debug(args: &[Value]) {
    with_session(|s| {
        let mut line = format!("<debug> line {}: ", s.currentline).into_bytes();
        for (i, v) in args.iter().enumerate() {
            if i > 0 {
                line.extend_from_slice(b", ");
            }
            cat_value(&mut line, v, 0);
        }
        s.log(line);
    });
}

/// The `<redis>` line of a command a script runs while stepping.
pub fn log_command(argv: &[Vec<u8>]) {
    with_session(|s| {
        let mut line = b"<redis>".to_vec();
        for (j, a) in argv.iter().enumerate() {
            if j == LOGGED_ARGS {
                // Redis's count, one short of the arguments left (kept for the same output).
                line.extend_from_slice(format!(" ... ({} more)", argv.len() - j - 1).as_bytes());
                break;
            }
            line.push(b' ');
            line.extend_from_slice(a);
        }
        s.log(line);
    });
}

/// The `<error>` line of an error a script's command got (Redis's luaPushErrorBuff while
/// stepping): `text` as Redis has it, "-CODE msg" for a command's error reply.
pub fn log_error(text: &[u8]) {
    with_session(|s| {
        let mut line = b"<error> ".to_vec();
        line.extend_from_slice(text);
        s.log(line);
    });
}

/// The `<reply>` line of a command's reply (Redis's ldbLogRedisReply).
pub fn log_reply(reply: &[u8]) {
    with_session(|s| {
        let mut line = b"<reply> ".to_vec();
        let mut pos = 0;
        // Tracking pushes spliced ahead of the reply are not part of it (see vm::reply_to_lua).
        while reply.get(pos) == Some(&b'>') {
            let mut skip = Vec::new();
            if protocol_to_human(&mut skip, reply, &mut pos, 0).is_none() {
                break;
            }
        }
        let _ = protocol_to_human(&mut line, reply, &mut pos, 0);
        s.log_with_maxlen(line);
    });
}

/// What a debugged script's line hook needs of the VM, cloned into the hook.
pub struct HookCtx {
    /// The scripts' environment (for `eval`) and their globals (KEYS and ARGV for `print`).
    pub env: Table,
    pub exposed: Table,
    /// The real `redis` table, whose `call` the `redis` command runs.
    pub redis: Table,
    /// The prelude's `ldb_locals(name)` (locals of the stopped frames).
    pub locals: mlua::Function,
}

/// Redis's luaLdbLineHook, installed on every line and every 100,000 instructions of a debugged
/// script: stops where asked (step, breakpoint, `redis.breakpoint()`, a run too long) and talks
/// to the client until it says to go on.
pub fn line_hook(lua: &Lua, ar: &mlua::debug::Debug, ctx: &HookCtx) -> mlua::Result<VmState> {
    let is_count = matches!(ar.event(), mlua::debug::DebugEvent::Count);
    let user_script = ar.source().short_src.is_some_and(|s| s.contains("user_script"));
    // Redis updates the line for any frame; here the prelude's Lua helpers would show, so
    // only the script's own lines count (what Redis, whose API is C, ends up showing).
    if !user_script {
        return Ok(VmState::Continue);
    }
    let line = ar.current_line().map(|l| l as i64).unwrap_or(0);
    let decision = with_session(|s| {
        s.currentline = line;
        let bp = s.breakpoints.contains(&line) || s.luabp;
        if s.shared.shutdown.load(Ordering::Relaxed) {
            return Err(shutdown_error());
        }
        let mut timeout = false;
        if is_count && !s.step && !bp {
            if s.resumed.elapsed() < s.timeout {
                return Ok(None);
            }
            timeout = true;
            s.step = true;
        }
        if !(s.step || bp) || s.gone {
            if s.gone {
                s.step = false;
            }
            return Ok(None);
        }
        let reason = if bp {
            if s.luabp {
                "redis.breakpoint() called"
            } else {
                "break point"
            }
        } else if timeout {
            "timeout reached, infinite loop?"
        } else {
            "step over"
        };
        s.step = false;
        s.luabp = false;
        s.log(format!("* Stopped at {line}, stop reason = {reason}").into_bytes());
        s.log_source_line(line);
        s.send_logs();
        Ok(Some(timeout))
    });
    let timeout = match decision {
        None | Some(Ok(None)) => return Ok(VmState::Continue),
        Some(Err(e)) => return Err(e),
        Some(Ok(Some(timeout))) => timeout,
    };
    let client_gone = repl(lua, ctx)?;
    if client_gone && timeout {
        // Nobody can stop it any more: a runaway script would hold the worker forever.
        return Err(script_error("timeout during Lua debugging with client closing connection"));
    }
    with_session(|s| s.resumed = Instant::now());
    Ok(VmState::Continue)
}

fn script_error(msg: &str) -> mlua::Error {
    mlua::Error::external(ScriptError(format!("ERR {msg}")))
}

fn shutdown_error() -> mlua::Error {
    script_error("Lua debugging session ended: the server is shutting down")
}

/// Redis's ldbRepl: reads and runs debugger commands until one resumes the script. Returns
/// whether the client went away (the script then runs on without stops); an error aborts the
/// script (`abort`, a protocol error, a full buffer, shutdown).
fn repl(lua: &Lua, ctx: &HookCtx) -> mlua::Result<bool> {
    loop {
        let argv = loop {
            let parsed = with_session(|s| repl_parse_command(&s.cbuf)).unwrap_or(Parsed::Gone);
            match parsed {
                Parsed::Command(argv) => break argv,
                Parsed::ProtocolError => return Err(script_error("protocol error")),
                Parsed::Gone => return Ok(true),
                Parsed::Incomplete => {}
            }
            match with_session(|s| s.read_more()).unwrap_or(Read::Gone) {
                Read::Data => {}
                Read::Gone => {
                    with_session(|s| {
                        s.step = false;
                        s.breakpoints.clear();
                        s.gone = true;
                    });
                    return Ok(true);
                }
                Read::Shutdown => return Err(shutdown_error()),
                Read::Full => return Err(script_error("max client buffer reached")),
            }
        };
        with_session(|s| s.cbuf.clear());
        let name = argv[0].to_ascii_lowercase();
        let is = |short: &[u8], long: &[u8]| name == short || name == long;
        if is(b"h", b"help") {
            with_session(|s| {
                for l in HELP {
                    s.log(l.as_bytes().to_vec());
                }
            });
        } else if is(b"s", b"step") || is(b"n", b"next") {
            with_session(|s| s.step = true);
            return Ok(false);
        } else if is(b"c", b"continue") {
            return Ok(false);
        } else if is(b"t", b"trace") {
            trace(lua);
        } else if is(b"m", b"maxlen") {
            with_session(|s| s.maxlen_command(&argv));
        } else if is(b"b", b"break") {
            with_session(|s| s.break_command(&argv));
        } else if is(b"e", b"eval") {
            eval(lua, ctx, &argv);
        } else if is(b"a", b"abort") {
            return Err(script_error("script aborted for user request"));
        } else if argv.len() > 1 && is(b"r", b"redis") {
            redis(lua, ctx, &argv);
        } else if is(b"p", b"print") {
            if argv.len() == 2 {
                print(lua, ctx, &argv[1])?;
            } else {
                print_all(ctx);
            }
        } else if is(b"l", b"list") {
            with_session(|s| {
                let mut around = s.currentline;
                let mut context = 5;
                if let Some(a) = argv.get(1) {
                    let n = atoi(a) as i64;
                    if n > 0 {
                        around = n;
                    }
                }
                if let Some(a) = argv.get(2) {
                    context = atoi(a) as i64;
                }
                s.list(around, context);
            });
        } else if is(b"w", b"whole") {
            with_session(|s| s.list(1, 1_000_000));
        } else {
            with_session(|s| {
                s.log(b"<error> Unknown Redis Lua debugger command or wrong number of arguments.".to_vec())
            });
        }
        with_session(|s| s.send_logs());
    }
}

enum Parsed {
    Command(Vec<Vec<u8>>),
    Incomplete,
    ProtocolError,
    /// No session (cannot happen while a hook runs; treated as a client gone).
    Gone,
}

enum Read {
    Data,
    Gone,
    Shutdown,
    Full,
}

/// C's `atoi` as glibc has it (`(int)strtol(s, NULL, 10)`): leading blanks, a sign, digits up
/// to the first other byte; saturated to a long, then cut to an int.
fn atoi(s: &[u8]) -> i32 {
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r') {
        i += 1;
    }
    let negative = match s.get(i) {
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
    let mut n: i64 = 0;
    while let Some(d) = s.get(i).filter(|b| b.is_ascii_digit()) {
        n = n.saturating_mul(10).saturating_add((d - b'0') as i64);
        i += 1;
    }
    let n = if negative { n.saturating_neg() } else { n };
    n as i32
}

/// Redis's ldbReplParseCommand: one multibulk command from the start of `cbuf`, with its rules
/// (anything before the first `*` ignored, at most 1024 arguments of 1 to 1024 bytes) and its
/// C-string view of the buffer (searches stop at a NUL byte; an argument's bytes may hold one).
fn repl_parse_command(cbuf: &[u8]) -> Parsed {
    if cbuf.is_empty() {
        return Parsed::Incomplete;
    }
    // strchr / strstr see the buffer up to its first NUL from where they start.
    let c_string = |from: usize| -> &[u8] {
        let rest = &cbuf[from.min(cbuf.len())..];
        &rest[..memchr::memchr(0, rest).unwrap_or(rest.len())]
    };
    let find_crlf = |from: usize| memchr::memmem::find(c_string(from), b"\r\n").map(|i| from + i);
    let Some(star) = memchr::memchr(b'*', c_string(0)) else {
        return Parsed::ProtocolError;
    };
    let Some(end) = find_crlf(star) else {
        return Parsed::Incomplete;
    };
    let argc = atoi(&cbuf[star + 1..end]) as i64;
    if argc <= 0 || argc > MAX_ARGS {
        return Parsed::ProtocolError;
    }
    let mut p = end + 2;
    let mut argv = Vec::with_capacity(argc as usize);
    while (argv.len() as i64) < argc {
        match cbuf.get(p) {
            None | Some(0) => return Parsed::Incomplete,
            Some(b'$') => {}
            Some(_) => return Parsed::ProtocolError,
        }
        let Some(end) = find_crlf(p) else {
            return Parsed::Incomplete;
        };
        let len = atoi(&cbuf[p + 1..end]) as i64;
        if len <= 0 || len > MAX_ARG_BYTES {
            return Parsed::ProtocolError;
        }
        p = end + 2;
        let len = len as usize;
        if p + len + 2 > cbuf.len() {
            return Parsed::Incomplete;
        }
        argv.push(cbuf[p..p + len].to_vec());
        p += len;
        if &cbuf[p..p + 2] != b"\r\n" {
            return Parsed::ProtocolError;
        }
        p += 2;
    }
    Parsed::Command(argv)
}

impl Session {
    /// Redis's ldbLog (bounded here, see `MAX_PENDING_LOG_BYTES`).
    fn log(&mut self, entry: Vec<u8>) {
        if self.gone {
            return;
        }
        if self.log_bytes + entry.len() > MAX_PENDING_LOG_BYTES {
            self.logs_dropped += 1;
            return;
        }
        self.log_bytes += entry.len();
        self.logs.push(entry);
    }

    /// Redis's ldbLogWithMaxLen: cut at `maxlen` with a hint the first time.
    fn log_with_maxlen(&mut self, mut entry: Vec<u8>) {
        let mut trimmed = false;
        if self.maxlen > 0 && entry.len() > self.maxlen {
            entry.truncate(self.maxlen);
            entry.extend_from_slice(b" ...");
            trimmed = true;
        }
        self.log(entry);
        if trimmed && !self.maxlen_hint_sent {
            self.maxlen_hint_sent = true;
            self.log(b"<hint> The above reply was trimmed. Use 'maxlen 0' to disable trimming.".to_vec());
        }
    }

    /// Redis's ldbSendLogs: the pending lines as one array of status replies (CR and LF become
    /// spaces), written to the client now.
    fn send_logs(&mut self) {
        if self.logs_dropped > 0 {
            let line = format!(
                "<error> {} log lines dropped (more than {MAX_PENDING_LOG_BYTES} bytes pending)",
                self.logs_dropped
            );
            self.logs.push(line.into_bytes());
            self.logs_dropped = 0;
        }
        let mut proto = format!("*{}\r\n", self.logs.len()).into_bytes();
        for entry in self.logs.drain(..) {
            proto.push(b'+');
            proto.extend(entry.iter().map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }));
            proto.extend_from_slice(b"\r\n");
        }
        self.log_bytes = 0;
        if !self.gone {
            self.write_all(&proto);
        }
    }

    /// Writes `bytes` to the client, waiting for the socket at most `SEND_TIMEOUT` in all (the
    /// socket is non-blocking: it belongs to the event loop). A failure is noted, not returned:
    /// as in Redis, the next read finds the client gone.
    fn write_all(&mut self, mut bytes: &[u8]) {
        let deadline = Instant::now() + SEND_TIMEOUT;
        while !bytes.is_empty() {
            // SAFETY: `fd` is the debugging client's socket, open for the whole session (the
            // connection is closed only by its worker, which is running this session).
            let n = unsafe { libc::write(self.fd, bytes.as_ptr().cast(), bytes.len()) };
            if n > 0 {
                bytes = &bytes[n as usize..];
                continue;
            }
            let err = std::io::Error::last_os_error();
            match err.kind() {
                std::io::ErrorKind::Interrupted => continue,
                std::io::ErrorKind::WouldBlock => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() || !self.wait(libc::POLLOUT, left.as_millis().max(1) as i32) {
                        return;
                    }
                }
                _ => return,
            }
        }
    }

    /// poll(2) on the client's socket: whether it became ready (or hung up) in `timeout_ms`.
    fn wait(&self, events: libc::c_short, timeout_ms: i32) -> bool {
        let mut pfd = libc::pollfd { fd: self.fd, events, revents: 0 };
        // SAFETY: one valid pollfd for the duration of the call.
        let r = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        r > 0
    }

    /// Reads more of the client's input into `cbuf`, waiting as long as it takes (the person
    /// at the prompt), but looking at SHUTDOWN and CLIENT KILL every `POLL_INTERVAL_MS`.
    fn read_more(&mut self) -> Read {
        loop {
            if self.shared.shutdown.load(Ordering::Relaxed) {
                return Read::Shutdown;
            }
            if self.gone || self.client.kill.load(Ordering::Relaxed) {
                return Read::Gone;
            }
            if !self.wait(libc::POLLIN, POLL_INTERVAL_MS) {
                continue;
            }
            let mut buf = [0u8; 1024];
            // SAFETY: reads at most `buf.len()` bytes into `buf`; `fd` as in `write_all`.
            let n = unsafe { libc::read(self.fd, buf.as_mut_ptr().cast(), buf.len()) };
            if n > 0 {
                self.cbuf.extend_from_slice(&buf[..n as usize]);
                if self.cbuf.len() > MAX_CBUF_BYTES {
                    self.cbuf = Vec::new();
                    return Read::Full;
                }
                return Read::Data;
            }
            let err = std::io::Error::last_os_error();
            if n < 0 && matches!(err.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted) {
                continue;
            }
            return Read::Gone;
        }
    }

    /// Redis's ldbGetSourceLine / ldbLogSourceLine: "-> 3   code", "  #3   code" ...
    fn log_source_line(&mut self, line: i64) {
        let current = self.currentline == line;
        let bp = self.breakpoints.contains(&line);
        let prefix = match (current, bp) {
            (true, true) => "->#",
            (true, false) => "-> ",
            (false, true) => "  #",
            (false, false) => "   ",
        };
        let mut entry = format!("{prefix}{line:<3} ").into_bytes();
        match usize::try_from(line - 1).ok().and_then(|i| self.src.get(i)) {
            // Redis prints the line with %s: it ends at a NUL byte.
            Some(code) => entry.extend_from_slice(&code[..memchr::memchr(0, code).unwrap_or(code.len())]),
            None => entry.extend_from_slice(b"<out of range source code line>"),
        }
        self.log(entry);
    }

    /// Redis's ldbList: every line, or those within `context` of `around` (when not 0).
    fn list(&mut self, around: i64, context: i64) {
        for line in 1..=self.src.len() as i64 {
            if around != 0 && (around - line).abs() > context {
                continue;
            }
            self.log_source_line(line);
        }
    }

    /// Redis's ldbBreak. Removing a breakpoint keeps the others (Redis's memmove moves bytes
    /// rather than entries, which can lose or duplicate the ones after it).
    fn break_command(&mut self, argv: &[Vec<u8>]) {
        if argv.len() == 1 {
            if self.breakpoints.is_empty() {
                self.log(b"No breakpoints set. Use 'b <line>' to add one.".to_vec());
            } else {
                self.log(format!("{} breakpoints set:", self.breakpoints.len()).into_bytes());
                for line in self.breakpoints.clone() {
                    self.log_source_line(line);
                }
            }
            return;
        }
        for arg in &argv[1..] {
            let Some(line) = commands::args::parse_i64(arg) else {
                let mut entry = b"Invalid argument:'".to_vec();
                entry.extend_from_slice(&arg[..memchr::memchr(0, arg).unwrap_or(arg.len())]);
                entry.push(b'\'');
                self.log(entry);
                continue;
            };
            if line == 0 {
                self.breakpoints.clear();
                self.log(b"All breakpoints removed.".to_vec());
            } else if line > 0 {
                if self.breakpoints.len() == BREAKPOINTS_MAX {
                    self.log(b"Too many breakpoints set.".to_vec());
                } else if line <= self.src.len() as i64 && !self.breakpoints.contains(&line) {
                    self.breakpoints.push(line);
                    self.list(line, 1);
                } else {
                    // Also for a line that has one already, as Redis's ldbAddBreakpoint.
                    self.log(b"Wrong line number.".to_vec());
                }
            } else if let Some(i) = self.breakpoints.iter().position(|&b| b == line.saturating_neg()) {
                self.breakpoints.remove(i);
                self.log(b"Breakpoint removed.".to_vec());
            } else {
                self.log(b"No breakpoint in the specified line.".to_vec());
            }
        }
    }

    /// Redis's ldbMaxlen.
    fn maxlen_command(&mut self, argv: &[Vec<u8>]) {
        if argv.len() == 2 {
            let mut n = atoi(&argv[1]);
            self.maxlen_hint_sent = true;
            if n != 0 && n <= 60 {
                n = 60;
            }
            self.maxlen = n as usize;
        }
        let entry = if self.maxlen > 0 {
            format!("<value> replies are truncated at {} bytes.", self.maxlen)
        } else {
            "<value> replies are unlimited.".to_string()
        };
        self.log(entry.into_bytes());
    }
}

/// Redis's ldbTrace: the script's frames from the stopped one out.
fn trace(lua: &Lua) {
    let mut entries: Vec<(usize, String, i64)> = Vec::new();
    let mut level = 0;
    // Bounded by the Lua stack (LUAI_MAXCALLS); the extra bound only guards the loop.
    while level < 100_000 {
        let Some(frame) = lua.inspect_stack(level, |d| {
            let src = d.source().short_src.map(|s| s.to_string()).unwrap_or_default();
            let name = d.names().name.map(|n| n.to_string());
            let line = d.current_line().map(|l| l as i64).unwrap_or(-1);
            (src, name, line)
        }) else {
            break;
        };
        if frame.0.contains("user_script") {
            entries.push((level, frame.1.unwrap_or_else(|| "top level".to_string()), frame.2));
        }
        level += 1;
    }
    with_session(|s| {
        for (i, (_, name, line)) in entries.iter().enumerate() {
            s.log(format!("{} {}:", if i == 0 && entries[0].0 == 0 { "In" } else { "From" }, name).into_bytes());
            s.log_source_line(*line);
        }
        if level == 0 {
            s.log(b"<error> Can't retrieve Lua stack.".to_vec());
        }
    });
}

/// Redis's ldbEval: the code as an expression (`return <code>`) or else as statements, in the
/// scripts' environment, in a frame of its own; logs its value or its error.
fn eval(lua: &Lua, ctx: &HookCtx, argv: &[Vec<u8>]) {
    let code = argv[1..].join(&b' ');
    let mut expr = b"return ".to_vec();
    expr.extend_from_slice(&code);
    let load = |src: &[u8]| lua.load(src).set_name("@ldb_eval").set_environment(ctx.env.clone()).into_function();
    let f = match load(&expr).or_else(|_| load(&code)) {
        Ok(f) => f,
        Err(e) => return log_lua_error(&e),
    };
    match f.call::<Value>(()) {
        Ok(v) => {
            let mut entry = b"<retval> ".to_vec();
            cat_value(&mut entry, &v, 0);
            with_session(|s| s.log_with_maxlen(entry));
        }
        Err(e) => log_lua_error(&e),
    }
}

/// The `<error>` line of a failed `eval`: Lua's message ("ldb_eval:1: ..."), or the `err` text
/// of a `redis.call` error (where Redis crashes formatting a NULL string).
fn log_lua_error(e: &mlua::Error) {
    let text = match e {
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::RuntimeError(m) => m.clone(),
        other => {
            let mut text = None;
            for cause in other.chain() {
                if let Some(s) = cause.downcast_ref::<ScriptError>() {
                    text = Some(s.0.clone());
                    break;
                }
                if let Some(mlua::Error::RuntimeError(m)) = cause.downcast_ref::<mlua::Error>() {
                    text = Some(m.clone());
                    break;
                }
            }
            text.unwrap_or_else(|| other.to_string())
        }
    };
    // mlua appends a traceback to some errors; Redis shows Lua's message only.
    let text = text.split("\nstack traceback:").next().unwrap_or_default();
    let mut entry = b"<error> ".to_vec();
    entry.extend_from_slice(text.as_bytes());
    with_session(|s| s.log(entry));
}

/// Redis's ldbRedis: runs the command through `redis.call` with logging on, so the command
/// and its reply (or error) are logged as a stepping script's are.
fn redis(lua: &Lua, ctx: &HookCtx, argv: &[Vec<u8>]) {
    let Ok(call) = ctx.redis.raw_get::<mlua::Function>("call") else { return };
    let lua_args: Vec<Value> =
        match argv[1..].iter().map(|a| lua.create_string(a).map(Value::String)).collect::<mlua::Result<Vec<Value>>>() {
            Ok(a) => a,
            Err(_) => return,
        };
    with_session(|s| s.step = true);
    let _ = call.call::<Value>(mlua::MultiValue::from_iter(lua_args));
    with_session(|s| s.step = false);
}

/// Redis's ldbPrint: the first local called `name` from the stopped frame outwards, else the
/// globals KEYS and ARGV.
fn print(lua: &Lua, ctx: &HookCtx, name: &[u8]) -> mlua::Result<()> {
    let found: mlua::Result<(bool, Value)> = ctx.locals.call(lua.create_string(name)?);
    let value = match found {
        Ok((true, v)) => Some(v),
        _ if name == b"KEYS" || name == b"ARGV" => ctx.exposed.raw_get::<Value>(lua.create_string(name)?).ok(),
        _ => None,
    };
    match value {
        Some(v) => {
            let mut entry = b"<value> ".to_vec();
            cat_value(&mut entry, &v, 0);
            with_session(|s| s.log_with_maxlen(entry));
        }
        None => {
            with_session(|s| s.log(b"No such variable.".to_vec()));
        }
    }
    Ok(())
}

/// Redis's ldbPrintAll: the locals of the stopped frame.
fn print_all(ctx: &HookCtx) {
    let found: mlua::Result<(Table, Table, i64)> = ctx.locals.call(Value::Nil);
    let mut entries = Vec::new();
    if let Ok((names, values, count)) = found {
        for i in 1..=count {
            let name: mlua::LuaString = match names.raw_get(i) {
                Ok(n) => n,
                Err(_) => continue,
            };
            let v: Value = values.raw_get(i).unwrap_or(Value::Nil);
            let mut entry = b"<value> ".to_vec();
            entry.extend_from_slice(&name.as_bytes());
            entry.extend_from_slice(b" = ");
            cat_value(&mut entry, &v, 0);
            entries.push(entry);
        }
    }
    with_session(|s| {
        if entries.is_empty() {
            s.log(b"No local variables in the current context.".to_vec());
        }
        for e in entries {
            s.log_with_maxlen(e);
        }
    });
}

/// C's `%g` (what Redis's ldbCatStackValue prints numbers with).
fn format_g(n: f64) -> String {
    let mut buf = [0u8; 64];
    // SAFETY: snprintf writes at most `buf.len()` bytes, NUL included, into `buf`.
    let len = unsafe { libc::snprintf(buf.as_mut_ptr().cast(), buf.len(), c"%g".as_ptr(), n) };
    let len = (len.max(0) as usize).min(buf.len() - 1);
    String::from_utf8_lossy(&buf[..len]).into_owned()
}

/// Redis's ldbCatStackValueRec: a Lua value as the debugger shows it (tables as `{1; 2}` when
/// they look like arrays, `{["k"]=v}` otherwise, cut at `MAX_VALUES_DEPTH`).
pub fn cat_value(out: &mut Vec<u8>, v: &Value, level: usize) {
    if level == MAX_VALUES_DEPTH {
        out.extend_from_slice(b"<max recursion level reached! Nested table?>");
        return;
    }
    match v {
        Value::String(s) => resp::repr(out, &s.as_bytes()),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Integer(i) => out.extend_from_slice(format_g(*i as f64).as_bytes()),
        Value::Number(n) => out.extend_from_slice(format_g(*n).as_bytes()),
        Value::Nil => out.extend_from_slice(b"nil"),
        Value::Table(t) => {
            // Both forms are built at once; the keys decide which one is shown.
            let mut is_array = true;
            let mut expected = 1f64;
            let (mut as_array, mut as_map) = (Vec::new(), Vec::new());
            for pair in t.clone().pairs::<Value, Value>() {
                let Ok((k, val)) = pair else { break };
                let key_number = match k {
                    Value::Integer(i) => Some(i as f64),
                    Value::Number(n) => Some(n),
                    _ => None,
                };
                if is_array && key_number != Some(expected) {
                    is_array = false;
                }
                cat_value(&mut as_array, &val, level + 1);
                as_array.extend_from_slice(b"; ");
                as_map.push(b'[');
                cat_value(&mut as_map, &k, level + 1);
                as_map.extend_from_slice(b"]=");
                cat_value(&mut as_map, &val, level + 1);
                as_map.extend_from_slice(b"; ");
                expected += 1.0;
            }
            let body = if is_array { &mut as_array } else { &mut as_map };
            body.truncate(body.len().saturating_sub(2));
            out.push(b'{');
            out.extend_from_slice(body);
            out.push(b'}');
        }
        Value::Function(_) | Value::UserData(_) | Value::Thread(_) | Value::LightUserData(_) | Value::Error(_) => {
            let kind = match v {
                Value::Function(_) => "function",
                Value::Thread(_) => "thread",
                Value::LightUserData(_) => "light-userdata",
                _ => "userdata",
            };
            out.extend_from_slice(format!("\"{kind}@{:p}\"", v.to_pointer()).as_bytes());
        }
        _ => out.extend_from_slice(b"\"<unknown-lua-type>\""),
    }
}

/// `n` replies of an array or set, comma-separated between `open` and `close`
/// (ldbRedisProtocolToHuman_MultiBulk / _Set).
fn human_list(
    out: &mut Vec<u8>,
    reply: &[u8],
    pos: &mut usize,
    depth: usize,
    n: i64,
    open: &[u8],
    close: &[u8],
) -> Option<()> {
    out.extend_from_slice(open);
    for j in 0..n {
        protocol_to_human(out, reply, pos, depth + 1)?;
        if j != n - 1 {
            out.push(b',');
        }
    }
    out.extend_from_slice(close);
    Some(())
}

/// Redis's ldbRedisProtocolToHuman: one reply from `reply[*pos..]` in the debugger's form.
/// `None` when the reply is cut short or of a type Redis does not show (then nothing more of it
/// is read); nesting is bounded by `vm::MAX_DEPTH`.
fn protocol_to_human(out: &mut Vec<u8>, reply: &[u8], pos: &mut usize, depth: usize) -> Option<()> {
    if depth > super::vm::MAX_DEPTH {
        return None;
    }
    let start = *pos;
    let kind = *reply.get(start)?;
    let end = start + memchr::memchr(b'\r', reply.get(start..)?)?;
    let head = &reply[start + 1..end];
    *pos = end + 2;
    let count = || std::str::from_utf8(head).ok().and_then(|s| s.parse::<i64>().ok());
    match kind {
        b':' => out.extend_from_slice(head),
        b'$' => {
            let n = count()?;
            if n < 0 {
                out.extend_from_slice(b"NULL");
            } else {
                let data = reply.get(*pos..*pos + n as usize)?;
                resp::repr(out, data);
                *pos += n as usize + 2;
            }
        }
        b'+' | b'-' => resp::repr(out, &reply[start..end]),
        b'*' | b'>' => {
            let n = count()?;
            if n < 0 {
                out.extend_from_slice(b"NULL");
                return Some(());
            }
            human_list(out, reply, pos, depth, n, b"[", b"]")?;
        }
        b'~' => {
            let n = count()?;
            human_list(out, reply, pos, depth, n, b"~(", b")")?;
        }
        b'%' => {
            let n = count()?;
            out.push(b'{');
            for j in 0..n {
                protocol_to_human(out, reply, pos, depth + 1)?;
                out.extend_from_slice(b" => ");
                protocol_to_human(out, reply, pos, depth + 1)?;
                if j != n - 1 {
                    out.push(b',');
                }
            }
            out.push(b'}');
        }
        b'_' => out.extend_from_slice(b"(null)"),
        b'#' => out.extend_from_slice(if head.first() == Some(&b't') { b"#true" } else { b"#false" }),
        b',' => {
            out.extend_from_slice(b"(double) ");
            out.extend_from_slice(head);
        }
        _ => return None,
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(b: &[u8]) -> Result<Vec<Vec<u8>>, &'static str> {
        match repl_parse_command(b) {
            Parsed::Command(a) => Ok(a),
            Parsed::Incomplete => Err("incomplete"),
            Parsed::ProtocolError => Err("protocol"),
            Parsed::Gone => Err("gone"),
        }
    }

    #[test]
    fn parses_as_redis_does() {
        assert_eq!(parse(b"*1\r\n$1\r\nc\r\n"), Ok(vec![b"c".to_vec()]));
        assert_eq!(parse(b"junk*1\r\n$1\r\nc\r\n"), Ok(vec![b"c".to_vec()]));
        assert_eq!(parse(b"*1\r\n$11\r\nhello\0world\r\n"), Ok(vec![b"hello\0world".to_vec()]));
        assert_eq!(parse(b"*1\r\n$1\r\n"), Err("incomplete"));
        assert_eq!(parse(b"*1\r\n"), Err("incomplete"));
        assert_eq!(parse(b"*1"), Err("incomplete"));
        assert_eq!(parse(b"hello\r\n"), Err("protocol"));
        assert_eq!(parse(b"\0*1\r\n$1\r\nc\r\n"), Err("protocol"));
        assert_eq!(parse(b"*0\r\n"), Err("protocol"));
        assert_eq!(parse(b"*1025\r\n"), Err("protocol"));
        assert_eq!(parse(b"*1\r\n$0\r\n\r\n"), Err("protocol"));
        assert_eq!(parse(b"*1\r\n$1025\r\n"), Err("protocol"));
        assert_eq!(parse(b"*1\r\n$1\r\ncX\n"), Err("protocol"));
        assert_eq!(parse(b"*1\r\n:1\r\n"), Err("protocol"));
        assert_eq!(parse(b"*99999999999\r\n"), Err("protocol"));
    }

    #[test]
    fn atoi_is_glibcs() {
        assert_eq!(atoi(b" 12x"), 12);
        assert_eq!(atoi(b"-7"), -7);
        assert_eq!(atoi(b"x"), 0);
        assert_eq!(atoi(b"99999999999"), 99_999_999_999i64 as i32);
    }

    #[test]
    fn values_and_replies_look_like_redis() {
        let lua = Lua::new();
        let v: Value = lua.load("return {1, 2, 'x', {k = 'v'}}").eval().unwrap();
        let mut out = Vec::new();
        cat_value(&mut out, &v, 0);
        assert_eq!(out, b"{1; 2; \"x\"; {[\"k\"]=\"v\"}}");
        let mut out = Vec::new();
        cat_value(&mut out, &Value::Number(1.7e6), 0);
        assert_eq!(out, b"1.7e+06");
        let mut out = Vec::new();
        let mut pos = 0;
        protocol_to_human(&mut out, b"*3\r\n$1\r\nf\r\n$-1\r\n:3\r\n", &mut pos, 0).unwrap();
        assert_eq!(out, b"[\"f\",NULL,3]");
        let mut out = Vec::new();
        let mut pos = 0;
        protocol_to_human(&mut out, b"-ERR x\r\n", &mut pos, 0).unwrap();
        assert_eq!(out, b"\"-ERR x\"");
        let mut pos = 0;
        assert!(protocol_to_human(&mut Vec::new(), b"*2\r\n:1\r\n", &mut pos, 0).is_none());
    }
}
