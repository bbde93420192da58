//! Lua scripting: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT LOAD/EXISTS/FLUSH/KILL/HELP, as
//! Redis 7.0.15's `eval.c`, `script.c` and `script_lua.c` behave (read as the specification).
//! Functions (FUNCTION, FCALL) live in [`functions`], which owns the libraries and runs their
//! callbacks through this module's `execute_script`, the run path EVAL takes.
//!
//! Owns: the script cache shared by every worker (SHA1 → body and shebang flags, so a SCRIPT LOAD
//! on one connection serves EVALSHA on any other), one Lua VM per worker thread (`vm`, created on
//! first use and again after SCRIPT FLUSH; each worker compiles a cached script the first time it
//! runs it), the run of one script (its slot locks, its commands through the server's own
//! dispatch, its reply), and the registry of running scripts behind BUSY and SCRIPT KILL.
//! Never: runs a command other than through `Env::run_in_transaction` / `Env::server_command`
//! (the paths clients and EXEC use, so notifications, WATCH, tracking, dirty counting and
//! propagation behave the same), blocks on a slot lock that could close a wait cycle, or lets a
//! script's input (errors, huge or cyclic tables, bad UTF-8) panic the server.
//!
//! # Locking (atomicity)
//! A script runs with the slots of its declared KEYS locked for its whole run, taken in ascending
//! (db, slot) order before it starts, exactly as EXEC takes its queued commands' slots. A
//! `redis.call` on a key it did not declare (allowed in standalone mode, and in cluster mode for
//! scripts without a shebang or with `allow-cross-slot-keys`) adds that slot to the held set for
//! the rest of the run, so what the script has seen stays unchanged until it ends. To never
//! deadlock, `LockSet::lock_late` waits for such a slot only when it sorts above every slot
//! already held (the global ascending order is kept, so no cycle can form); a slot below one held
//! is only tried, repeatedly, for up to `LATE_LOCK_PATIENCE`, after which the command fails with
//! `LATE_LOCK_ERROR` (nothing the script did is undone, as with any error inside a script).
//! Rejected: releasing the held slots and re-taking all in order (another client could change
//! what the script already read: not atomic); taking every slot of the database up front for
//! every script (serializes all scripts and clients); a global script lock (every keyed client
//! command would have to take it).
//!
//! # Propagation
//! Redis 7.0 replicates a script's effects, never the EVAL: the write commands it ran go to the
//! AOF and replicas as they were propagated by their handlers, wrapped in MULTI/EXEC when there is
//! more than one. That is the transaction path (`aof::begin_transaction` /
//! `aof::end_transaction` via `Env::lock_for_transaction` / `finish_transaction`), appended while
//! the script's slot locks are still held.
//!
//! # Busy scripts
//! A script running longer than `busy-reply-threshold` (`lua-time-limit`) is marked timed out:
//! while one is, every other worker answers commands without the `allow-busy` flag with -BUSY,
//! as Redis answers other clients; SCRIPT KILL stops a timed-out script that has not written.
//! The script's own worker answers its other connections from the script's hook
//! (`worker::busy_pump`, Redis's processEventsWhileBlocked), so with `io-threads 1` too a client
//! can send the SCRIPT KILL. Not matched: the pump answers WATCH with -BUSY (its slot may be
//! locked by the script, on the same thread).

pub mod cjson;
pub mod cmsgpack;
pub mod functions;
pub mod ldb;
pub mod vm;

use crate::worker::{Conn, Env};
use commands::{flag, key_positions, Entry, Kind};
use keyspace::key_hash_slot;
use mlua::{HookTriggers, Value, Variadic, VmState};
use parking_lot::{Mutex, RwLock};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};
use vm::Vm;

pub const NOSCRIPT: &str = "NOSCRIPT No matching script. Please use EVAL.";
const STALE_ERROR: &str = "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.";
pub const BUSY_ERROR: &str = "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
/// The BUSY reply while the busy script is a function (Redis's slowscripterr).
pub const BUSY_FUNCTION_ERROR: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";
/// How long a script's `redis.call` tries to lock a slot that sorts below one it holds. Ample
/// for a client command or transaction holding it (microseconds); kept short because the holder
/// is often a script blocked on a slot this one holds, and then trying can only fail while that
/// script, and everyone queued behind it, waits too (500 ms made such runs take seconds).
const LATE_LOCK_PATIENCE: Duration = Duration::from_millis(100);
const LATE_LOCK_ERROR: &str = "Script attempted to access a key whose slot another client holds while this script holds a higher slot (declare the key in KEYS to lock it up front)";

// Shebang and function flags (Redis's SCRIPT_FLAG_*; prelude.lua's `flag_bits` has the same).
pub const NO_WRITES: u32 = 1;
pub const ALLOW_OOM: u32 = 2;
pub const ALLOW_STALE: u32 = 4;
pub const NO_CLUSTER: u32 = 8;
pub const ALLOW_CROSS_SLOT: u32 = 16;
/// The flags' names, in Redis's order (FUNCTION LIST).
pub const FLAG_NAMES: [(u32, &str); 5] = [
    (NO_WRITES, "no-writes"),
    (ALLOW_OOM, "allow-oom"),
    (ALLOW_STALE, "allow-stale"),
    (NO_CLUSTER, "no-cluster"),
    (ALLOW_CROSS_SLOT, "allow-cross-slot-keys"),
];
/// No shebang: the script runs as in Redis 6 (flags of the EVAL command itself).
const EVAL_COMPAT: u32 = 32;

/// A cached script.
pub struct Script {
    pub body: Vec<u8>,
    pub flags: u32,
    /// Bytes of the shebang line (the body compiled starts at its newline, so line numbers stay).
    pub shebang_len: usize,
}

static CACHE: LazyLock<RwLock<HashMap<String, Arc<Script>>>> = LazyLock::new(|| RwLock::new(HashMap::new()));
/// Bytes of cached script bodies and names (INFO's used_memory_scripts_eval).
static CACHE_BYTES: AtomicUsize = AtomicUsize::new(0);
/// SCRIPT FLUSH count: a worker whose VM predates the last flush makes a new one.
static FLUSH_EPOCH: AtomicU64 = AtomicU64::new(0);
/// Scripts running now, on any worker.
static RUNNING: LazyLock<Mutex<Vec<Arc<RunState>>>> = LazyLock::new(|| Mutex::new(Vec::new()));
/// DEBUG SET-DISABLE-DENY-SCRIPTS: scripts may call `noscript` commands (a test hook of Redis's).
pub static DISABLE_DENY_SCRIPT: AtomicBool = AtomicBool::new(false);
/// Running scripts past `busy-reply-threshold`: while non-zero other clients get -BUSY.
static TIMED_OUT: AtomicUsize = AtomicUsize::new(0);
/// Memory of every worker's Lua VM, as last measured after a run (INFO's used_memory_lua).
static LUA_MEMORY: LazyLock<Mutex<HashMap<usize, usize>>> = LazyLock::new(|| Mutex::new(HashMap::new()));

thread_local! {
    static VM: RefCell<Option<Vm>> = const { RefCell::new(None) };
    /// The fake client whose output buffer receives the replies of a script's commands.
    static LUA_CLIENT: RefCell<Option<Conn>> = const { RefCell::new(None) };
}

/// One script run, as other threads see it (SCRIPT KILL, BUSY).
pub struct RunState {
    start: Instant,
    timed_out: AtomicBool,
    killed: AtomicBool,
    wrote: AtomicBool,
    from_master: bool,
    /// A function (FCALL), which only FUNCTION KILL stops, or an EVAL script (SCRIPT KILL).
    function: bool,
    /// The function's name or the script's SHA1, and the command line (FUNCTION STATS).
    name: String,
    command: Vec<Vec<u8>>,
}

/// What a run calls: a cached script by SHA1, or a function's callback.
pub(crate) enum Callee<'a> {
    Script(&'a str),
    Function { name: &'a str, f: &'a mlua::Function },
}

impl Callee<'_> {
    fn name(&self) -> &str {
        match self {
            Callee::Script(sha) => sha,
            Callee::Function { name, .. } => name,
        }
    }
}

/// The BUSY error other clients get now: the text names the kill command of the busy run.
pub fn busy_error() -> &'static str {
    let running = RUNNING.lock();
    match running.iter().find(|r| r.timed_out.load(Ordering::Relaxed)) {
        Some(r) if r.function => BUSY_FUNCTION_ERROR,
        _ => BUSY_ERROR,
    }
}

/// SCRIPT KILL (`function` false) / FUNCTION KILL (Redis's scriptKill): stops the timed-out run
/// if it may be stopped, or the error saying why not.
pub(crate) fn kill(function: bool) -> Result<(), &'static str> {
    let running = RUNNING.lock();
    let Some(run) = running.iter().find(|r| r.timed_out.load(Ordering::Relaxed)) else {
        return Err("NOTBUSY No scripts in execution right now.");
    };
    if run.from_master {
        return Err("UNKILLABLE The busy script was sent by a master instance in the context of replication and cannot be killed.");
    }
    if run.wrote.load(Ordering::Relaxed) {
        return Err("UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.");
    }
    if run.function != function {
        // Each kill command stops only its own kind, answering with the other's BUSY text.
        return Err(if run.function { BUSY_FUNCTION_ERROR } else { BUSY_ERROR });
    }
    run.killed.store(true, Ordering::Relaxed);
    Ok(())
}

/// The timed-out run FUNCTION STATS reports: (name, command line, milliseconds so far).
pub(crate) fn busy_run() -> Option<(String, Vec<Vec<u8>>, u64)> {
    let running = RUNNING.lock();
    running
        .iter()
        .find(|r| r.timed_out.load(Ordering::Relaxed))
        .map(|r| (r.name.clone(), r.command.clone(), r.start.elapsed().as_millis() as u64))
}

/// Whether a timed-out script is running (other clients' commands get -BUSY).
#[inline]
pub fn busy() -> bool {
    TIMED_OUT.load(Ordering::Relaxed) > 0
}

pub fn cached_scripts() -> usize {
    CACHE.read().len()
}

pub fn scripts_memory() -> usize {
    CACHE_BYTES.load(Ordering::Relaxed)
}

pub fn lua_memory() -> usize {
    let m = LUA_MEMORY.lock();
    if m.is_empty() {
        // A VM that was never created: what an empty one takes (Redis reports its fresh VM too).
        return 31744;
    }
    m.values().sum()
}

/// SHA1 of `data` in lowercase hex.
pub fn sha1_hex(data: &[u8]) -> String {
    use sha1::Digest;
    let digest = sha1::Sha1::digest(data);
    let mut s = String::with_capacity(40);
    for b in digest.iter() {
        s.push_str(&format!("{:02x}", b));
    }
    s
}

/// Whether EVAL / EVALSHA with these arguments counts as a write for CLIENT PAUSE WRITE and a
/// failover's pause (Redis's evalGetCommandFlags): a script that declares flags writes unless
/// it says no-writes; one without a shebang, an unknown SHA or a bad shebang keeps the
/// command's may-replicate. EVAL parses its shebang rather than hashing the body to find it in
/// the cache: the cached flags come from that same line.
pub fn eval_may_write(args: &[&[u8]], evalsha: bool) -> bool {
    let Some(&body_or_sha) = args.get(1) else { return true };
    let flags = if evalsha {
        if body_or_sha.len() != 40 {
            return true;
        }
        let sha = String::from_utf8_lossy(body_or_sha).to_ascii_lowercase();
        match CACHE.read().get(&sha) {
            Some(s) => s.flags,
            None => return true,
        }
    } else {
        match shebang_flags(body_or_sha) {
            Ok((flags, _)) => flags,
            Err(_) => return true,
        }
    };
    flags & EVAL_COMPAT != 0 || flags & NO_WRITES == 0
}

/// The script flags an EVAL/EVALSHA (`evalsha`) would run with: the cached script's, or the
/// shebang's; None when they cannot be known before it runs (an EVALSHA of an unknown sha, a
/// bad shebang: the command's own flags apply and the run reports the error).
fn eval_script_flags(args: &[&[u8]], evalsha: bool) -> Option<u32> {
    let &body_or_sha = args.get(1)?;
    if evalsha {
        if body_or_sha.len() != 40 {
            return None;
        }
        let sha = String::from_utf8_lossy(body_or_sha).to_ascii_lowercase();
        return CACHE.read().get(&sha).map(|s| s.flags);
    }
    shebang_flags(body_or_sha).ok().map(|(flags, _)| flags)
}

/// Redis's getCommandFlags: the flags processCommand judges a command by. For EVAL, EVALSHA,
/// their _RO forms and FCALL/FCALL_RO, a script that declares flags (a shebang, or any
/// function) replaces the command's write, denyoom and stale flags with what it declared
/// (`scriptFlagsToCmdFlags`): a write unless no-writes, denyoom unless no-writes or allow-oom,
/// stale only with allow-stale. Every other command, and a script without a shebang, keeps
/// its own flags. Costs a match on the command for everything else.
pub fn command_flags(entry: &commands::Entry, args: &[&[u8]]) -> u32 {
    use commands::{flag, Kind};
    let cmd_flags = entry.meta.flags;
    let script_flags = match entry.kind {
        Kind::Server(crate::cmds::EVAL | crate::cmds::EVAL_RO) => eval_script_flags(args, false),
        Kind::Server(crate::cmds::EVALSHA | crate::cmds::EVALSHA_RO) => eval_script_flags(args, true),
        Kind::Server(crate::cmds::FCALL | crate::cmds::FCALL_RO) => functions::function_flags(args),
        _ => return cmd_flags,
    };
    let Some(script_flags) = script_flags.filter(|f| f & EVAL_COMPAT == 0) else { return cmd_flags };
    let mut flags = cmd_flags & !(flag::STALE | flag::DENYOOM | flag::WRITE | flag::MAY_REPLICATE);
    if script_flags & (ALLOW_OOM | NO_WRITES) == 0 {
        flags |= flag::DENYOOM;
    }
    if script_flags & NO_WRITES == 0 {
        flags |= flag::WRITE;
    }
    if script_flags & ALLOW_STALE != 0 {
        flags |= flag::STALE;
    }
    flags
}

/// Parses `#!lua flags=...` (Redis's evalExtractShebangFlags): (flags, shebang length).
fn shebang_flags(body: &[u8]) -> Result<(u32, usize), String> {
    if !body.starts_with(b"#!") {
        return Ok((EVAL_COMPAT, 0));
    }
    let Some(end) = memchr::memchr(b'\n', body) else {
        return Err("Invalid script shebang".into());
    };
    let line = String::from_utf8_lossy(&body[..end]);
    let parts: Vec<&str> = line.split_ascii_whitespace().collect();
    let Some(first) = parts.first() else {
        return Err("Invalid engine in script shebang".into());
    };
    if *first != "#!lua" {
        return Err(format!("Unexpected engine in script shebang: {first}"));
    }
    let mut flags = 0;
    for part in &parts[1..] {
        let Some(list) = part.strip_prefix("flags=") else {
            return Err(format!("Unknown lua shebang option: {part}"));
        };
        for f in list.split(',') {
            if f.is_empty() && list.is_empty() {
                continue;
            }
            flags |= match f {
                "no-writes" => NO_WRITES,
                "allow-oom" => ALLOW_OOM,
                "allow-stale" => ALLOW_STALE,
                "no-cluster" => NO_CLUSTER,
                "allow-cross-slot-keys" => ALLOW_CROSS_SLOT,
                other => return Err(format!("Unexpected flag in script shebang: {other}")),
            };
        }
    }
    Ok((flags, end))
}

/// Redis's luaPushErrorBuff: an error text ("-CODE msg" or "msg") as the `err` string of a
/// Lua error table ("CODE msg").
fn error_string(text: &str) -> String {
    let (code, msg) = match text.strip_prefix('-') {
        Some(rest) => match rest.split_once(' ') {
            Some((code, msg)) => (code, msg),
            None => ("ERR", rest),
        },
        None => ("ERR", text),
    };
    format!("{code} {}", msg.trim_matches(|c| c == '\r' || c == '\n'))
}

/// What a script's commands need to know about the client that ran EVAL.
#[derive(Clone)]
struct Caller {
    master: bool,
    asking: bool,
    readonly: bool,
    /// Its user, whose permissions every `redis.call` is checked against, and its shared
    /// description (for the ACL LOG entry of a denied call).
    user: Arc<crate::acl::User>,
    info: Arc<crate::shared::ClientShared>,
}

/// The state of one run that `redis.call` reads and updates.
struct Run {
    ro: bool,
    /// The script may write while used memory is over maxmemory (`allow-oom`).
    allow_oom: bool,
    allow_cross_slot: bool,
    /// The slot the script's keys hash to (cluster mode), from its declared keys or its first
    /// accessed key.
    slot: Option<u16>,
    wrote: bool,
    state: Arc<RunState>,
    caller: Caller,
    now: i64,
    /// The protocol `redis.setresp` chose (the VM's cell).
    resp3: std::rc::Rc<std::cell::Cell<bool>>,
    /// The run is an EVAL under the Lua debugger (`ldb`): its commands are logged while
    /// stepping; in a YES session (`forkless`) its writes are refused.
    debugging: bool,
    forkless: bool,
}

/// Gives back the worker's VM and fake client when a run ends, however it ends.
fn take_vm(env_id: usize) -> Result<Vm, String> {
    let epoch = FLUSH_EPOCH.load(Ordering::Acquire);
    let current = VM.with(|v| v.borrow_mut().take());
    match current {
        Some(vm) if vm.epoch == epoch => Ok(vm),
        _ => {
            let vm = Vm::new(epoch).map_err(|e| format!("ERR Lua VM could not be created: {e}"))?;
            LUA_MEMORY.lock().insert(env_id, vm.memory());
            Ok(vm)
        }
    }
}

fn put_vm(env_id: usize, mut vm: Vm) {
    // A full collection every few runs keeps the VM near its live size (Redis steps its
    // collector every 50 scripts; a whole cycle of a VM this small takes microseconds).
    vm.runs += 1;
    if vm.runs & 15 == 0 {
        let _ = vm.lua.gc_collect();
    }
    LUA_MEMORY.lock().insert(env_id, vm.memory());
    VM.with(|v| *v.borrow_mut() = Some(vm));
}

/// Drops the calling thread's Lua VM, made for `env_id` (the start-up AOF load, whose thread
/// runs no scripts afterwards).
pub fn drop_thread_vm(env_id: usize) {
    VM.with(|v| v.borrow_mut().take());
    LUA_MEMORY.lock().remove(&env_id);
}

/// Compiles a script into the cache (EVAL of a new body, SCRIPT LOAD): its SHA1, or the error.
fn create_function(vm: &mut Vm, body: &[u8]) -> Result<(String, Arc<Script>), String> {
    let sha = sha1_hex(body);
    if let Some(s) = CACHE.read().get(&sha) {
        if !vm.has(&sha) {
            vm.compile(&sha, &body[s.shebang_len..])
                .map_err(|e| format!("ERR Error compiling script (new function): {e}"))?;
        }
        return Ok((sha.clone(), s.clone()));
    }
    let (flags, shebang_len) = shebang_flags(body).map_err(|e| format!("ERR {e}"))?;
    vm.compile(&sha, &body[shebang_len..]).map_err(|e| format!("ERR Error compiling script (new function): {e}"))?;
    let script = Arc::new(Script { body: body.to_vec(), flags, shebang_len });
    let mut cache = CACHE.write();
    if !cache.contains_key(&sha) {
        CACHE_BYTES.fetch_add(body.len() + 40 + 64, Ordering::Relaxed);
        cache.insert(sha.clone(), script.clone());
    }
    Ok((sha, script))
}

/// Slots `entry` touches when run with `args` in `db` (the keys' slots; whole databases for
/// the commands that walk them), as EXEC collects them.
pub fn command_slots(env: &Env, entry: &Entry, args: &[&[u8]], db: u32, wanted: &mut Vec<(u32, u16)>) {
    let shared = env.shared;
    let all = |wanted: &mut Vec<(u32, u16)>, db: u32| wanted.extend((0..keyspace::SLOT_COUNT as u16).map(|s| (db, s)));
    let mut pos = Vec::new();
    match entry.kind {
        Kind::Data(_) => {
            if key_positions(entry.meta, args, &mut pos).is_ok() && !pos.is_empty() {
                wanted.extend(pos.iter().filter_map(|&p| args.get(p)).map(|k| (db, key_hash_slot(k))));
            } else {
                for d in 0..shared.ks.db_count() as u32 {
                    if d == db || shared.ks.db_if_used(d as usize).is_some() {
                        all(wanted, d);
                    }
                }
            }
        }
        Kind::Server(crate::cmds::FLUSHDB | crate::cmds::DBSIZE) => all(wanted, db),
        Kind::Server(crate::cmds::MIGRATE) => {
            wanted.extend(crate::migrate::key_args(args).iter().map(|k| (db, key_hash_slot(k))))
        }
        Kind::Server(crate::cmds::FLUSHALL | crate::cmds::INFO) => {
            for d in 0..shared.ks.db_count() as u32 {
                if shared.ks.db_if_used(d as usize).is_some() {
                    all(wanted, d);
                }
            }
        }
        Kind::Server(
            crate::cmds::EVAL
            | crate::cmds::EVALSHA
            | crate::cmds::EVAL_RO
            | crate::cmds::EVALSHA_RO
            | crate::cmds::FCALL
            | crate::cmds::FCALL_RO,
        ) if key_positions(entry.meta, args, &mut pos).is_ok() => {
            wanted.extend(pos.iter().filter_map(|&p| args.get(p)).map(|k| (db, key_hash_slot(k))));
        }
        _ => {}
    }
}

pub const SCRIPT_HELP: &[&str] = &[
    "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DEBUG (YES|SYNC|NO)",
    "    Set the debug mode for subsequent scripts executed.",
    "EXISTS <sha1> [<sha1> ...]",
    "    Return information about the existence of the scripts in the script cache.",
    "FLUSH [ASYNC|SYNC]",
    "    Flush the Lua scripts cache. Very dangerous on replicas.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the scripts cache.",
    "    * SYNC: Synchronously flush the scripts cache.",
    "KILL",
    "    Kill the currently executing Lua script.",
    "LOAD <script>",
    "    Load a script into the scripts cache without executing it.",
    "HELP",
    "    Prints this help.",
];

impl Env {
    /// SCRIPT LOAD / EXISTS / FLUSH / KILL / DEBUG.
    pub fn script_command(&mut self, c: &mut Conn, args: &[&[u8]]) {
        let sub = args[1].to_ascii_lowercase();
        match sub.as_slice() {
            b"load" => {
                let mut vm = match take_vm(self.id) {
                    Ok(vm) => vm,
                    Err(e) => return c.out.error(&e),
                };
                let r = create_function(&mut vm, args[2]);
                put_vm(self.id, vm);
                match r {
                    Ok((sha, _)) => c.out.bulk(sha.as_bytes()),
                    Err(e) => c.out.error(&e),
                }
            }
            b"exists" => {
                let cache = CACHE.read();
                c.out.array(args.len() - 2);
                for a in &args[2..] {
                    let sha = String::from_utf8_lossy(a).to_ascii_lowercase();
                    c.out.int(cache.contains_key(&sha) as i64);
                }
            }
            b"flush" => {
                if args.len() > 3 {
                    return c.out.error("ERR SCRIPT FLUSH only support SYNC|ASYNC option");
                }
                if let Some(mode) = args.get(2) {
                    if !mode.eq_ignore_ascii_case(b"sync") && !mode.eq_ignore_ascii_case(b"async") {
                        return c.out.error("ERR SCRIPT FLUSH only support SYNC|ASYNC option");
                    }
                }
                CACHE.write().clear();
                CACHE_BYTES.store(0, Ordering::Relaxed);
                FLUSH_EPOCH.fetch_add(1, Ordering::AcqRel);
                // This worker's VM goes now (others at their next script), as Redis resets its VM.
                VM.with(|v| *v.borrow_mut() = None);
                LUA_MEMORY.lock().remove(&self.id);
                c.out.ok();
            }
            b"kill" => match kill(false) {
                Ok(()) => c.out.ok(),
                Err(e) => c.out.error(e),
            },
            b"debug" => {
                if args.len() != 3 {
                    return c.out.error(&commands::errors::unknown_subcommand(args[0], args[1]));
                }
                // Redis's clientHasPendingReplies: the session writes to the socket itself.
                if !c.out.buf.is_empty() {
                    return c.out.error("ERR SCRIPT DEBUG must be called outside a pipeline");
                }
                let mode = args[2].to_ascii_lowercase();
                match mode.as_slice() {
                    b"no" => {
                        c.lua_debug = None;
                        c.out.ok()
                    }
                    b"yes" => {
                        c.lua_debug = Some(ldb::Mode::Forkless);
                        c.out.ok()
                    }
                    b"sync" => {
                        c.lua_debug = Some(ldb::Mode::Sync);
                        c.out.ok()
                    }
                    _ => c.out.error("ERR Use SCRIPT DEBUG YES/SYNC/NO"),
                }
            }
            b"help" => {
                c.out.array(SCRIPT_HELP.len());
                for l in SCRIPT_HELP {
                    c.out.simple(l);
                }
            }
            _ => c.out.error(&commands::errors::unknown_subcommand(args[0], args[1])),
        }
    }

    /// EVAL / EVALSHA / EVAL_RO / EVALSHA_RO (Redis's evalGenericCommand).
    pub fn eval_command(&mut self, c: &mut Conn, args: &[&[u8]], now: i64, evalsha: bool, ro: bool) {
        // EVAL is skip_monitor: it feeds MONITOR itself, so its line precedes its commands'.
        self.feed_monitors(c, args, &[]);
        if evalsha && args[1].len() != 40 {
            return c.out.error(NOSCRIPT);
        }
        if let Some(mode) = c.lua_debug {
            if evalsha {
                return c.out.error("ERR Please use EVAL instead of EVALSHA for debugging");
            }
            return self.eval_with_debugging(c, args, now, ro, mode);
        }
        self.eval_generic(c, args, now, evalsha, ro);
    }

    /// Redis's evalGenericCommandWithDebugging: the EVAL runs as a debugging session on this
    /// client's connection (see `ldb`), which is closed after the EVAL's reply, as Redis does
    /// to mark the session's end.
    fn eval_with_debugging(&mut self, c: &mut Conn, args: &[&[u8]], now: i64, ro: bool, mode: ldb::Mode) {
        let (fd, unsent) = c.debugger_socket(!self.in_exec);
        ldb::start_session(mode, fd, unsent, args[1], c.info.clone(), self.shared);
        self.eval_generic(c, args, now, false, ro);
        ldb::end_session();
        c.lua_debug = None;
        c.close_after_write = true;
    }

    /// EVAL / EVALSHA once the debugger is settled (Redis's evalGenericCommand).
    fn eval_generic(&mut self, c: &mut Conn, args: &[&[u8]], now: i64, evalsha: bool, ro: bool) {
        let Some(numkeys) = commands::args::parse_i64(args[2]) else {
            return c.out.error("ERR value is not an integer or out of range");
        };
        if numkeys > args.len() as i64 - 3 {
            return c.out.error("ERR Number of keys can't be greater than number of args");
        }
        if numkeys < 0 {
            return c.out.error("ERR Number of keys can't be negative");
        }
        let numkeys = numkeys as usize;
        let mut vm = match take_vm(self.id) {
            Ok(vm) => vm,
            Err(e) => return c.out.error(&e),
        };
        let found = if evalsha {
            let sha = String::from_utf8_lossy(args[1]).to_ascii_lowercase();
            let script = CACHE.read().get(&sha).cloned();
            match script {
                None => Err(NOSCRIPT.to_string()),
                Some(s) => {
                    if vm.has(&sha) {
                        Ok((sha, s))
                    } else {
                        match vm.compile(&sha, &s.body[s.shebang_len..]) {
                            Ok(()) => Ok((sha, s)),
                            Err(e) => Err(format!("ERR Error compiling script (new function): {e}")),
                        }
                    }
                }
            }
        } else {
            create_function(&mut vm, args[1])
        };
        let (sha, script) = match found {
            Ok(f) => f,
            Err(e) => {
                put_vm(self.id, vm);
                return c.out.error(&e);
            }
        };
        if let Err(e) = self.prepare_run(c, script.flags, ro) {
            put_vm(self.id, vm);
            return c.out.error(&e);
        }
        self.execute_script(c, &vm, args, now, numkeys, script.flags, ro, Callee::Script(&sha));
        put_vm(self.id, vm);
    }

    /// Runs a script or function whose checks passed (`prepare_run`): locks its declared keys'
    /// slots, runs it on the script client, replies, and ends the transaction its writes made.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn execute_script(
        &mut self,
        c: &mut Conn,
        vm: &Vm,
        args: &[&[u8]],
        now: i64,
        numkeys: usize,
        flags: u32,
        ro: bool,
        callee: Callee<'_>,
    ) {
        let compat = flags & EVAL_COMPAT != 0;
        let keys = &args[3..3 + numkeys];
        let state = Arc::new(RunState {
            start: Instant::now(),
            timed_out: AtomicBool::new(false),
            killed: AtomicBool::new(false),
            wrote: AtomicBool::new(false),
            from_master: c.master,
            function: matches!(callee, Callee::Function { .. }),
            name: callee.name().to_string(),
            command: args.iter().map(|a| a.to_vec()).collect(),
        });
        let mut run = Run {
            ro: ro || (!compat && flags & NO_WRITES != 0),
            allow_oom: !compat && flags & ALLOW_OOM != 0,
            allow_cross_slot: compat || flags & ALLOW_CROSS_SLOT != 0,
            slot: if self.cluster.is_some() { keys.first().map(|k| key_hash_slot(k)) } else { None },
            wrote: false,
            state: state.clone(),
            caller: Caller {
                master: c.master,
                asking: c.asking > 0,
                readonly: c.readonly,
                user: c.user.clone(),
                info: c.info.clone(),
            },
            now,
            resp3: vm.resp3.clone(),
            debugging: false,
            forkless: false,
        };
        if let (Callee::Script(_), Some(mode)) = (&callee, ldb::mode()) {
            run.debugging = true;
            run.forkless = mode == ldb::Mode::Forkless;
        }
        let mut wanted: Vec<(u32, u16)> = keys.iter().map(|k| (c.db, key_hash_slot(k))).collect();
        let outer = !self.in_exec;
        if outer {
            self.clear_effects();
            self.lock_for_transaction(&mut wanted);
        } else {
            // Inside EXEC, which locked these slots already (see `command_slots`).
            let shared = self.shared;
            let (locks, _) = self.locks_and_effects();
            let _ = locks.lock_late(&shared.ks, &mut wanted, LATE_LOCK_PATIENCE);
        }
        RUNNING.lock().push(state.clone());
        let mut sc = LUA_CLIENT.with(|l| l.borrow_mut().take()).or_else(|| Conn::script_client().ok());
        let result = match sc.as_mut() {
            Some(sc) => {
                sc.db = c.db;
                sc.out.truncate(0);
                sc.out.set_resp3(false);
                self.run_script(vm, sc, &callee, keys, &args[3 + numkeys..], &mut run)
            }
            None => Err("ERR the script client could not be created".to_string()),
        };
        match result {
            Ok(v) => {
                self.error_stats_counted = vm::error_counted(&v);
                vm::lua_to_reply(&mut c.out, &v, vm.resp3.get(), 0)
            }
            // `run_script` said whether its error was counted already.
            Err(e) => c.out.error(&e),
        }
        {
            let mut running = RUNNING.lock();
            running.retain(|r| !Arc::ptr_eq(r, &state));
        }
        if state.timed_out.load(Ordering::Relaxed) {
            TIMED_OUT.fetch_sub(1, Ordering::Relaxed);
        }
        LUA_CLIENT.with(|l| *l.borrow_mut() = sc);
        if outer {
            self.finish_transaction();
        }
    }

    /// Redis's scriptPrepareForRun checks of a script's shebang flags.
    pub(crate) fn prepare_run(&self, c: &Conn, flags: u32, ro: bool) -> Result<(), String> {
        let stale = self.running_stale(c.master);
        if flags & EVAL_COMPAT != 0 {
            if stale {
                return Err(STALE_ERROR.into());
            }
            return Ok(());
        }
        if flags & NO_CLUSTER != 0 && self.cluster.is_some() {
            return Err("ERR Can not run script on cluster, 'no-cluster' flag is set.".into());
        }
        if stale && flags & ALLOW_STALE == 0 {
            return Err("MASTERDOWN Link with MASTER is down, replica-serve-stale-data is set to 'no' and 'allow-stale' flag is not set on the script.".into());
        }
        if flags & NO_WRITES == 0 {
            let read_only_replica = crate::replication::is_replica()
                && self.shared.config.read().get_bool("replica-read-only").unwrap_or(true);
            if read_only_replica && !c.master {
                return Err("READONLY Can not run script with write flag on readonly replica".into());
            }
            if !c.master
                && self.shared.write_error.load(Ordering::Relaxed)
                && self.shared.config.read().stop_writes_on_bgsave_error()
            {
                return Err("MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Writable scripts are blocked. Use 'no-writes' flag for read only scripts.".into());
            }
            if ro {
                return Err("ERR Can not execute a script with write flag using *_ro command.".into());
            }
            if let Some(text) = self.not_enough_replicas(c.master) {
                return Err(text.into());
            }
        }
        // Checked after the write checks, so no-writes (which implies allow-oom) needs no mention.
        if self.pre_command_oom && flags & (ALLOW_OOM | NO_WRITES) == 0 && !c.master {
            return Err(
                "OOM allow-oom flag is not set on the script, can not run it when used memory > 'maxmemory'".into()
            );
        }
        Ok(())
    }

    /// A replica whose link is down with `replica-serve-stale-data no` (Redis's running_stale).
    fn running_stale(&self, from_master: bool) -> bool {
        if !crate::replication::is_replica() {
            return false;
        }
        let serve_stale = self.shared.config.read().get_bool("replica-serve-stale-data").unwrap_or(true);
        crate::replication::is_replica()
            && crate::replication::refusal(false, false, from_master, false, serve_stale).is_some()
    }

    /// NOREPLICAS on a master with fewer good replicas than `min-replicas-to-write`.
    fn not_enough_replicas(&self, from_master: bool) -> Option<&'static str> {
        if crate::replication::is_replica() {
            return None;
        }
        crate::replication::refusal(true, true, from_master, false, true)
    }

    /// Runs a compiled script; its reply (or error) is left in `sc.out`, an error of the run
    /// itself is returned.
    fn run_script(
        &mut self,
        vm: &Vm,
        sc: &mut Conn,
        callee: &Callee<'_>,
        keys: &[&[u8]],
        argv: &[&[u8]],
        run: &mut Run,
    ) -> Result<Value, String> {
        let sha = callee.name();
        self.error_stats_counted = false;
        let lua_err = |e: mlua::Error| format!("ERR Error running script {sha}: {e}");
        if let Callee::Script(_) = callee {
            vm.set_array("KEYS", keys).map_err(lua_err)?;
            vm.set_array("ARGV", argv).map_err(lua_err)?;
        }
        vm.resp3.set(false);
        let threshold = self.shared.config.read().get_i64("busy-reply-threshold").unwrap_or(5000).max(0) as u64;
        if run.debugging {
            // Redis's luaLdbLineHook (every line, and every 100,000 instructions to catch a
            // loop) in place of the busy hook: the session holds this worker like a busy script
            // would, but a person decides when it goes on, so others are not told BUSY.
            let ctx = ldb::HookCtx {
                env: vm.env.clone(),
                exposed: vm.exposed.clone(),
                redis: vm.redis.clone(),
                locals: vm.ldb_locals.clone(),
            };
            let triggers = HookTriggers::new().every_line().every_nth_instruction(100_000);
            vm.lua.set_hook(triggers, move |lua, ar| ldb::line_hook(lua, ar, &ctx)).map_err(lua_err)?;
        } else if threshold > 0 {
            let st = run.state.clone();
            let name = sha.to_string();
            let shared = self.shared;
            vm.lua.set_hook(HookTriggers::new().every_nth_instruction(100_000), move |_, _| {
                if !st.timed_out.load(Ordering::Relaxed) && st.start.elapsed() >= Duration::from_millis(threshold) {
                    st.timed_out.store(true, Ordering::Relaxed);
                    TIMED_OUT.fetch_add(1, Ordering::Relaxed);
                    crate::warning!(
                        "Slow script detected: still in execution after {} milliseconds. You can try killing the script using the SCRIPT KILL command. Script name is: {}.",
                        st.start.elapsed().as_millis(),
                        name
                    );
                }
                if st.timed_out.load(Ordering::Relaxed) {
                    // The clients of this worker are answered meanwhile (SCRIPT KILL among them).
                    crate::worker::busy_pump();
                }
                // SHUTDOWN NOSAVE ends a busy script too: the server is going away.
                if st.killed.load(Ordering::Relaxed) || shared.shutdown.load(Ordering::Relaxed) {
                    return Err(mlua::Error::runtime(KILLED));
                }
                Ok(VmState::Continue)
            })
            .map_err(lua_err)?;
        }
        self.in_script = true;
        self.script_keys = keys.iter().map(|k| k.to_vec()).collect();
        let cell = RefCell::new((&mut *self, &mut *sc, &mut *run));
        let outcome = vm.lua.scope(|scope| {
            let dispatch = |lua: &mlua::Lua, args: Variadic<Value>, raise: bool| -> mlua::Result<Value> {
                let mut guard = cell.try_borrow_mut().map_err(|_| mlua::Error::runtime("recursive redis.call"))?;
                let (env, sc, run) = &mut *guard;
                match env.script_call(lua, sc, run, &args)? {
                    Ok(v) => Ok(v),
                    Err((text, counted)) if raise => Err(if counted {
                        mlua::Error::external(vm::CountedError(text))
                    } else {
                        mlua::Error::external(vm::ScriptError(text))
                    }),
                    Err((text, counted)) => {
                        let t = lua.create_table()?;
                        t.raw_set("err", text)?;
                        if counted {
                            t.raw_set("ignore_error_stats_update", true)?;
                        }
                        Ok(Value::Table(t))
                    }
                }
            };
            let call = scope.create_function(move |lua, args: Variadic<Value>| dispatch(lua, args, true))?;
            let pcall = scope.create_function(move |lua, args: Variadic<Value>| dispatch(lua, args, false))?;
            // redis.acl_check_cmd (Redis's luaRedisAclCheckCmdPermissionsCommand): may the
            // caller's user run this command line?
            let acl_check = scope.create_function(|_, args: Variadic<Value>| {
                let mut argv: Vec<Vec<u8>> = Vec::with_capacity(args.len());
                for a in args.iter() {
                    match a {
                        Value::String(s) => argv.push(s.as_bytes().to_vec()),
                        Value::Integer(i) => argv.push(i.to_string().into_bytes()),
                        Value::Number(n) => argv.push(vm::lua_number_string(*n).into_bytes()),
                        _ => {
                            return Ok((
                                Some("Lua redis lib command arguments must be strings or integers"),
                                false,
                                false,
                            ))
                        }
                    }
                }
                let guard = cell.try_borrow().map_err(|_| mlua::Error::runtime("acl_check inside redis.call"))?;
                let (env, _, run) = &*guard;
                let refs: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
                Ok(match env.shared.registry.resolve(&refs) {
                    None => (None, false, false),
                    Some(entry) => (None, true, run.caller.user.check(entry.meta, &refs).is_ok()),
                })
            })?;
            vm.redis.raw_set("call", call)?;
            vm.redis.raw_set("pcall", pcall)?;
            vm.rx.raw_set("acl_check", acl_check)?;
            let r = match callee {
                Callee::Script(sha) => vm.call(sha),
                Callee::Function { f, .. } => vm.call_function(f, keys, argv),
            };
            vm.redis.raw_set("call", Value::Nil)?;
            vm.redis.raw_set("pcall", Value::Nil)?;
            vm.rx.raw_set("acl_check", Value::Nil)?;
            r
        });
        vm.lua.remove_hook();
        let (env, _, run) = cell.into_inner();
        env.in_script = false;
        env.script_keys.clear();
        match outcome {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                env.error_stats_counted = vm::error_counted(&e);
                Err(error_reply(sha, &e, run.state.killed.load(Ordering::Relaxed)))
            }
            Err(e) => Err(lua_err(e)),
        }
    }

    /// One `redis.call` / `redis.pcall`: `Ok(reply as a Lua value)`, or `Err((text, counted))`
    /// of the error table, "CODE message": a command's error reply or refusal (`counted`: INFO
    /// errorstats has it already), or a refusal of the call itself (bad arguments).
    fn script_call(
        &mut self,
        lua: &mlua::Lua,
        sc: &mut Conn,
        run: &mut Run,
        args: &[Value],
    ) -> mlua::Result<Result<Value, (String, bool)>> {
        if run.state.killed.load(Ordering::Relaxed) {
            return Err(mlua::Error::runtime(KILLED));
        }
        // Redis's ldbIsEnabled: a debugged script logs its commands while it is stepping.
        let logging = run.debugging && ldb::logging();
        let refuse = |text: &str| {
            if logging {
                ldb::log_error(text.as_bytes());
            }
            Ok(Err((error_string(text), false)))
        };
        if args.is_empty() {
            return refuse("Please specify at least one argument for this redis lib call");
        }
        let mut owned: Vec<Vec<u8>> = Vec::with_capacity(args.len());
        for a in args {
            match a {
                Value::String(s) => owned.push(s.as_bytes().to_vec()),
                Value::Integer(i) => owned.push(i.to_string().into_bytes()),
                Value::Number(n) => owned.push(resp::format_double(*n).into_bytes()),
                _ => return refuse("Lua redis lib command arguments must be strings or integers"),
            }
        }
        if logging {
            ldb::log_command(&owned);
        }
        let argv: Vec<&[u8]> = owned.iter().map(|a| a.as_slice()).collect();
        sc.out.truncate(0);
        sc.out.set_resp3(run.resp3.get());
        if let Err(text) = self.script_dispatch(sc, run, &argv) {
            sc.out.truncate(0);
            if logging {
                ldb::log_error(text.as_bytes());
            }
            let text = error_string(&text);
            self.stats.count_error(text.split(' ').next().unwrap_or("ERR").as_bytes());
            // Redis's scriptCall error path: a refused command counts as rejected
            // (incrCommandStatsOnError), an unknown one nowhere.
            if let Some(entry) = self.shared.registry.resolve(&argv) {
                self.stats.rejected_calls.add(1);
                if let Some(counters) = self.stats.per_command.get(entry.id as usize) {
                    counters.rejected.add(1);
                }
            }
            return Ok(Err((text, true)));
        }
        let (v, is_err) = vm::reply_to_lua(lua, &sc.out.buf)?;
        if logging {
            if is_err {
                // Redis's redisProtocolToLuaType_Error logs the error line ("-CODE msg").
                let start = sc.out.buf.iter().position(|&b| b == b'-').unwrap_or(0);
                let line = &sc.out.buf[start..];
                ldb::log_error(&line[..memchr::memchr(b'\r', line).unwrap_or(line.len())]);
            }
            ldb::log_reply(&sc.out.buf);
        }
        sc.out.truncate(0);
        if is_err {
            let text = match &v {
                Value::Table(t) => t.raw_get::<String>("err").unwrap_or_default(),
                _ => String::new(),
            };
            return Ok(Err((error_string(&format!("-{text}")), true)));
        }
        Ok(Ok(v))
    }

    /// Redis's scriptCall: the checks a script's command passes, then the command itself, run
    /// through the same handlers as a client's (its reply lands in `sc.out`).
    fn script_dispatch(&mut self, sc: &mut Conn, run: &mut Run, args: &[&[u8]]) -> Result<(), String> {
        let shared = self.shared;
        let Some(entry) = shared.registry.resolve(args) else {
            return Err("Unknown Redis command called from script".into());
        };
        let arity = entry.meta.arity;
        let argc = args.len() as i32;
        if (arity > 0 && arity != argc) || argc < -arity || matches!(entry.kind, Kind::Container) {
            return Err("Wrong number of args calling Redis command from script".into());
        }
        if entry.meta.has(flag::NOSCRIPT) && !DISABLE_DENY_SCRIPT.load(Ordering::Relaxed) {
            return Err("This Redis command is not allowed from script".into());
        }
        // Redis's scriptVerifyAllowStale: reachable only by an allow-stale script.
        if !entry.meta.has(flag::STALE) && self.running_stale(run.caller.master) {
            return Err("Can not execute the command on a stale replica".into());
        }
        // Redis's scriptVerifyACL: the caller's user, logged with context "lua".
        if let Err(d) = run.caller.user.check(entry.meta, args) {
            use crate::acl::Reason;
            let object = match d.reason {
                Reason::Command => entry.meta.name.as_bytes().to_vec(),
                _ => args.get(d.pos).map(|a| a.to_vec()).unwrap_or_default(),
            };
            let (info, name) = (run.caller.info.clone(), run.caller.user.name.clone());
            self.acl_log(&info, d.reason, crate::acl::Context::Lua, object, name);
            return Err(match d.reason {
                Reason::Command => "The user executing the script can't run this command or subcommand",
                Reason::Key => {
                    "The user executing the script can't access at least one of the keys mentioned in the command"
                }
                Reason::Channel => {
                    "The user executing the script can't publish to the channel mentioned in the command"
                }
                Reason::Auth => "The user executing the script is lacking the permissions for the command",
            }
            .into());
        }
        let is_write = entry.meta.has(flag::WRITE);
        if run.forkless && (is_write || entry.meta.has(flag::MAY_REPLICATE)) {
            return Err(ldb::FORKLESS_WRITE_ERROR.into());
        }
        if run.ro && (is_write || entry.meta.has(flag::MAY_REPLICATE)) {
            return Err("Write commands are not allowed from read-only scripts.".into());
        }
        if is_write && !run.wrote {
            if let Some(text) = self.not_enough_replicas(run.caller.master) {
                return Err(format!("-{text}"));
            }
            let cfg_ro = shared.config.read().get_bool("replica-read-only").unwrap_or(true);
            if crate::replication::is_replica() && cfg_ro && !run.caller.master {
                return Err("-READONLY You can't write against a read only replica.".into());
            }
            if !run.caller.master {
                if shared.write_error.load(Ordering::Relaxed) && shared.config.read().stop_writes_on_bgsave_error() {
                    return Err(format!("-{}", crate::worker::MISCONF));
                }
                if let Some(text) = crate::aof::write_refusal(entry) {
                    return Err(format!("-{text}"));
                }
            }
        }
        // Redis's scriptVerifyOOM: only a script that has not written yet can be stopped.
        if !run.allow_oom
            && !run.caller.master
            && !run.wrote
            && self.pre_command_oom
            && self.maxmemory_applies()
            && entry.meta.has(flag::DENYOOM)
        {
            return Err(format!("-{}", crate::evict::OOM_ERROR));
        }
        if is_write {
            run.wrote = true;
            run.state.wrote.store(true, Ordering::Relaxed);
        }
        if self.cluster.is_some() && !run.caller.master {
            self.script_cluster_check(entry, args, run)?;
        }
        let mut wanted = Vec::new();
        command_slots(self, entry, args, sc.db, &mut wanted);
        if !wanted.is_empty() {
            let shared = self.shared;
            let (locks, _) = self.locks_and_effects();
            if locks.lock_late(&shared.ks, &mut wanted, LATE_LOCK_PATIENCE).is_err() {
                return Err(LATE_LOCK_ERROR.into());
            }
        }
        let started = Instant::now();
        commands::ctx::set_from_script(true);
        match entry.kind {
            Kind::Data(handler) => self.run_in_transaction(sc, entry, handler, args, run.now),
            Kind::Server(id) => {
                let prev = self.in_exec;
                self.in_exec = true;
                self.server_command(sc, entry, id, args, run.now);
                self.in_exec = prev;
            }
            Kind::Container => {}
        }
        commands::ctx::set_from_script(false);
        let took_us = started.elapsed().as_micros() as u64;
        let failed = sc.out.buf.first() == Some(&b'-');
        if let Some(counters) = self.stats.per_command.get(entry.id as usize) {
            counters.calls.add(1);
            counters.usec.add(took_us);
            if failed {
                counters.failed.add(1);
            }
        }
        if failed {
            let end = sc.out.buf.iter().position(|&b| b == b'\r').unwrap_or(sc.out.len());
            self.stats.count_error(&sc.out.buf[1..end]);
        }
        self.stats.commands.add(1);
        if took_us >= self.introspect_floor_us {
            self.introspect_command(sc, entry, args, took_us);
        }
        Ok(())
    }

    /// Redis's scriptVerifyClusterState.
    fn script_cluster_check(&mut self, entry: &Entry, args: &[&[u8]], run: &mut Run) -> Result<(), String> {
        use crate::cluster_node::routing::{get_node_by_query, Query, Redirect};
        let Some(node) = self.cluster else { return Ok(()) };
        let routing = node.routing();
        let mut pos = Vec::new();
        if key_positions(entry.meta, args, &mut pos).is_err() {
            pos.clear();
        }
        let query = Query {
            is_write: entry.meta.has(flag::WRITE),
            is_pubsubshard: matches!(entry.meta.name.as_str(), "spublish" | "ssubscribe" | "sunsubscribe"),
            is_migrate: false,
            asking: run.caller.asking,
            readonly: run.caller.readonly,
            allow_reads_when_down: self.cluster_reads_when_down,
            allow_pubsubshard_when_down: true,
        };
        let ks = &self.shared.ks;
        let now = run.now;
        let exists = |slot: u16, key: &[u8]| ks.db(0).try_lock_slot(slot).is_some_and(|mut t| t.contains(key, now));
        let decision = get_node_by_query(&routing, pos.iter().filter_map(|&p| args.get(p).copied()), &query, exists);
        match decision {
            Ok(_) => {}
            Err(Redirect::DownReadOnly) => {
                return Err("Script attempted to execute a write command while the cluster is down and readonly".into())
            }
            Err(Redirect::Down) | Err(Redirect::DownUnbound) => {
                return Err("Script attempted to execute a command while the cluster is down".into())
            }
            Err(_) => return Err("Script attempted to access a non local key in a cluster node".into()),
        }
        if let Some(first) = pos.first().and_then(|&p| args.get(p)) {
            let slot = key_hash_slot(first);
            if !run.allow_cross_slot {
                match run.slot {
                    None => run.slot = Some(slot),
                    Some(s) if s != slot => {
                        return Err("Script attempted to access keys that do not hash to the same slot".into())
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

const KILLED: &str = "Script killed by user with SCRIPT KILL...";

/// The error reply of a script that raised `e` (Redis's luaCallFunction error path).
fn error_reply(sha: &str, e: &Value, killed: bool) -> String {
    let Value::Table(t) = e else {
        let msg = match e {
            Value::String(s) => String::from_utf8_lossy(&s.as_bytes()).to_string(),
            _ => "execution failure".to_string(),
        };
        let msg: String = msg.chars().take(100).collect();
        return format!("ERR Error running script {sha}, {msg}");
    };
    let field = |k: &str| -> Option<String> {
        match t.raw_get::<Value>(k).ok()? {
            Value::String(s) => Some(String::from_utf8_lossy(&s.as_bytes()).to_string()),
            Value::Integer(i) => Some(i.to_string()),
            Value::Number(n) => Some(vm::lua_number_string(n)),
            _ => None,
        }
    };
    let mut msg = field("err").unwrap_or_else(|| "ERR unknown error".into());
    if killed {
        msg = format!("ERR {KILLED}");
    } else if let Some(rest) = msg.strip_prefix("ERR runtime error: ") {
        msg = format!("ERR {}", rest.lines().next().unwrap_or(""));
    }
    match (field("line"), field("source")) {
        (Some(line), Some(source)) => format!("{msg} script: {sha}, on {source}:{line}."),
        _ => msg,
    }
}
