//! Redis 7.0 Functions: FUNCTION LOAD / DELETE / FLUSH / LIST / DUMP / RESTORE / STATS / KILL /
//! HELP and FCALL / FCALL_RO, as Redis 7.0.15's `functions.c` and `function_lua.c` behave (read
//! as the specification).
//!
//! Owns: the library registry shared by every worker (library name → code and the functions it
//! registered with their flags; function names are case-insensitive, library names are not),
//! each library's version (a worker's Lua VM compiles a library the first time it calls one of
//! its functions, and again after it was replaced), and the library form of RDB files, AOF
//! rewrites and FUNCTION DUMP payloads (the code, from which everything else is rebuilt).
//! Never: runs a function other than through the scripting module's `execute_script` (the path EVAL
//! takes, so slot locks, ACL, cluster checks, propagation of effects and BUSY/KILL are the same),
//! changes the registry except all at once under its write lock (a failed LOAD or RESTORE leaves
//! it as it was), or lets a library's code (a hostile RESTORE payload, an endless loop at load)
//! panic the server or hang FUNCTION LOAD past Redis's 500 ms.
//!
//! A library is validated by running its code in a loader VM of the thread doing the load (its
//! registrations are checked, then dropped); workers recompile from the code. Loading runs
//! only `redis.register_function` and `redis.log`, so running it again on another VM registers
//! the same functions. Rejected: one VM shared by all workers behind a lock (every FCALL would
//! serialize on it, and a busy function would stop the other workers' scripts).

use super::vm::Vm;
use super::{Callee, FLAG_NAMES, NO_WRITES};
use crate::worker::{Conn, Env};
use commands::args::eq_ic;
use parking_lot::RwLock;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

/// How long a run of a library's code may take (Redis's LOAD_TIMEOUT_MS for FUNCTION LOAD).
/// Applied to every run, also RESTORE, RDB and AOF loads and a worker's own compile, where
/// Redis has none: there an endless loop would hang the thread for good, and code that
/// FUNCTION LOAD accepted ran within it.
const LOAD_TIMEOUT: Duration = Duration::from_millis(500);
const NAME_ERROR: &str =
    "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long";

/// One registered function.
pub struct FunctionInfo {
    pub name: String,
    pub description: Option<String>,
    pub flags: u32,
}

/// One library: its whole code (shebang included, as FUNCTION LIST WITHCODE and DUMP give it).
pub struct Library {
    pub name: String,
    pub code: Vec<u8>,
    /// Where the code after the shebang line starts (its newline, so line numbers stay).
    body_start: usize,
    pub functions: Vec<FunctionInfo>,
    /// Unique per created library: a worker recompiles when the version it holds differs.
    version: u64,
}

/// The registry: libraries by name, and every function (lower-cased) → (library, index).
#[derive(Clone, Default)]
struct Libraries {
    libs: BTreeMap<String, Arc<Library>>,
    funcs: HashMap<String, (Arc<Library>, usize)>,
}

impl Libraries {
    /// Adds `lib`, replacing a library of the same name if `replace` (Redis's
    /// functionsCreateWithLibraryCtx after the compile): on error `self` is unchanged.
    fn insert(&mut self, lib: Arc<Library>, replace: bool) -> Result<(), String> {
        if !replace && self.libs.contains_key(&lib.name) {
            return Err(format!("Library '{}' already exists", lib.name));
        }
        let mut next = self.clone();
        next.remove(&lib.name);
        next.link(lib)?;
        *self = next;
        Ok(())
    }

    fn link(&mut self, lib: Arc<Library>) -> Result<(), String> {
        for f in &lib.functions {
            if self.funcs.contains_key(&f.name.to_ascii_lowercase()) {
                return Err(format!("Function {} already exists", f.name));
            }
        }
        for (i, f) in lib.functions.iter().enumerate() {
            self.funcs.insert(f.name.to_ascii_lowercase(), (lib.clone(), i));
        }
        self.libs.insert(lib.name.clone(), lib);
        Ok(())
    }

    fn remove(&mut self, name: &str) -> Option<Arc<Library>> {
        let lib = self.libs.remove(name)?;
        for f in &lib.functions {
            self.funcs.remove(&f.name.to_ascii_lowercase());
        }
        Some(lib)
    }

    /// Redis's libraryJoin: adds every library of `src`; one already present is an error, or
    /// replaced with `replace`; then no function may collide. On error `self` is unchanged.
    fn join(&mut self, src: &Libraries, replace: bool) -> Result<(), String> {
        let mut next = self.clone();
        for name in src.libs.keys() {
            if next.libs.contains_key(name) {
                if !replace {
                    return Err(format!("Library {name} already exists"));
                }
                next.remove(name);
            }
        }
        for lib in src.libs.values() {
            next.link(lib.clone())?;
        }
        *self = next;
        Ok(())
    }

    fn function_count(&self) -> usize {
        self.funcs.len()
    }
}

static LIBS: LazyLock<RwLock<Libraries>> = LazyLock::new(|| RwLock::new(Libraries::default()));
static VERSION: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The VM this thread validates libraries in (FUNCTION LOAD / RESTORE, RDB loading).
    static LOADER: RefCell<Option<Vm>> = const { RefCell::new(None) };
}

/// A library's metadata from its shebang line (Redis's functionExtractLibMetaData):
/// (engine, library name, where the code after the shebang starts).
fn parse_metadata(code: &[u8]) -> Result<(Vec<u8>, String, usize), String> {
    if !code.starts_with(b"#!") {
        return Err("Missing library metadata".into());
    }
    let Some(end) = memchr::memchr(b'\n', code) else {
        return Err("Invalid library metadata".into());
    };
    let parts = match resp::split_args(&code[..end]) {
        Some(p) if !p.is_empty() => p,
        _ => return Err("Invalid library metadata".into()),
    };
    let engine = parts[0].get(2..).unwrap_or_default().to_vec();
    let mut name: Option<Vec<u8>> = None;
    for part in &parts[1..] {
        if part.len() >= 5 && part[..5].eq_ignore_ascii_case(b"name=") {
            if name.is_some() {
                return Err("Invalid metadata value, name argument was given multiple times".into());
            }
            name = Some(part[5..].to_vec());
            continue;
        }
        return Err(format!("Invalid metadata value given: {}", String::from_utf8_lossy(part)));
    }
    let Some(name) = name else {
        return Err("Library name was not given".into());
    };
    if name.is_empty() || !name.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_') {
        return Err(NAME_ERROR.into());
    }
    if !engine.eq_ignore_ascii_case(b"lua") {
        return Err(format!("Engine '{}' not found", String::from_utf8_lossy(&engine)));
    }
    // Only ASCII letters, digits and '_' passed the check above.
    Ok((engine, String::from_utf8_lossy(&name).into_owned(), end))
}

/// Builds a library from its code: runs it in this thread's loader VM (within `LOAD_TIMEOUT`)
/// and keeps what it registered. Errors are Redis's texts without "ERR".
fn build(code: &[u8], name: String, body_start: usize) -> Result<Library, String> {
    let registered = LOADER.with(|l| {
        let mut slot = l.borrow_mut();
        if slot.is_none() {
            *slot = Some(Vm::new(0).map_err(|e| format!("Lua VM could not be created: {e}"))?);
        }
        let vm = slot.as_ref().ok_or_else(|| "Lua VM could not be created".to_string())?;
        let r = vm.load_library(&code[body_start..], Some(LOAD_TIMEOUT));
        // The callbacks are dropped: workers compile the code themselves.
        let _ = vm.lua.gc_collect();
        r
    })?;
    if registered.is_empty() {
        return Err("No functions registered".into());
    }
    let functions = registered
        .into_iter()
        .map(|r| FunctionInfo { name: r.name, description: r.description, flags: r.flags })
        .collect();
    Ok(Library { name, code: code.to_vec(), body_start, functions, version: VERSION.fetch_add(1, Ordering::Relaxed) })
}

/// Parses, validates and builds a library for the registry `existing` (checked for a library of
/// the same name first, as Redis does before compiling).
fn create(code: &[u8], replace: bool, existing: &Libraries) -> Result<Arc<Library>, String> {
    let (_, name, body_start) = parse_metadata(code)?;
    if !replace && existing.libs.contains_key(&name) {
        return Err(format!("Library '{name}' already exists"));
    }
    Ok(Arc::new(build(code, name, body_start)?))
}

/// FUNCTION LOAD's work: the library's name, or the error text (without "ERR").
pub fn load(code: &[u8], replace: bool) -> Result<String, String> {
    let lib = {
        let current = LIBS.read().clone();
        create(code, replace, &current)?
    };
    let name = lib.name.clone();
    LIBS.write().insert(lib, replace)?;
    Ok(name)
}

/// A library read from an RDB file (Redis's rdbFunctionLoad): an existing library of the same
/// name is an error unless `replace` (DEBUG RELOAD MERGE).
pub fn load_from_rdb(code: &[u8], replace: bool) -> Result<(), String> {
    let current = LIBS.read().clone();
    let lib = create(code, replace, &current)?;
    LIBS.write().insert(lib, replace)
}

/// Removes every library (FUNCTION FLUSH, and the flushes Redis's emptyData does: DEBUG
/// RELOAD, DEBUG LOADAOF, a replica's full sync).
pub fn clear() {
    *LIBS.write() = Libraries::default();
}

/// Every library's code, in name order (RDB files, AOF rewrites, FUNCTION DUMP).
pub fn library_codes() -> Vec<Arc<Library>> {
    LIBS.read().libs.values().cloned().collect()
}

/// (libraries, functions) for INFO.
pub fn counts() -> (usize, usize) {
    let libs = LIBS.read();
    (libs.libs.len(), libs.function_count())
}

/// Bytes of library code and names (INFO's used_memory_functions, an estimate).
pub fn memory() -> usize {
    let libs = LIBS.read();
    libs.libs.values().map(|l| l.code.len() + l.name.len() + l.functions.len() * 64 + 64).sum()
}

/// Whether FCALL with these arguments counts as a write for CLIENT PAUSE WRITE, a failover's
/// pause and a read-only replica (Redis's fcallGetCommandFlags): an unknown function keeps the
/// command's may-replicate; a known one writes unless it has no-writes.
/// The flags of the function an FCALL names, if it exists.
pub fn function_flags(args: &[&[u8]]) -> Option<u32> {
    let name = args.get(1)?;
    let key = String::from_utf8_lossy(name).to_ascii_lowercase();
    let libs = LIBS.read();
    let (lib, i) = libs.funcs.get(&key)?;
    lib.functions.get(*i).map(|f| f.flags)
}

pub fn fcall_may_write(args: &[&[u8]]) -> bool {
    let Some(name) = args.get(1) else { return true };
    let key = String::from_utf8_lossy(name).to_ascii_lowercase();
    match LIBS.read().funcs.get(&key) {
        Some((lib, i)) => lib.functions.get(*i).is_none_or(|f| f.flags & NO_WRITES == 0),
        None => true,
    }
}

/// FUNCTION RESTORE's work (Redis's functionRestoreCommand): the error reply's text on failure,
/// the registry unchanged then.
fn restore(payload: &[u8], policy: Option<&[u8]>) -> Result<(), String> {
    #[derive(PartialEq)]
    enum Policy {
        Append,
        Replace,
        Flush,
    }
    let policy = match policy {
        None => Policy::Append,
        Some(p) if eq_ic(p, "append") => Policy::Append,
        Some(p) if eq_ic(p, "replace") => Policy::Replace,
        Some(p) if eq_ic(p, "flush") => Policy::Flush,
        Some(_) => {
            return Err("ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.".into())
        }
    };
    let codes = match persist::rdb::function_restore_payload(payload) {
        Ok(codes) => codes,
        Err(persist::rdb::FunctionPayloadError::Footer) => {
            return Err("ERR payload version or checksum are wrong".into())
        }
        Err(persist::rdb::FunctionPayloadError::Entry(e)) => return Err(format!("ERR {e}")),
    };
    // The payload's libraries form a registry of their own first (collisions among them are
    // errors), then join the current one by the policy.
    let mut restored = Libraries::default();
    for code in &codes {
        create(code, false, &restored).and_then(|lib| restored.insert(lib, false)).map_err(|e| format!("ERR {e}"))?;
    }
    let mut current = LIBS.write();
    if policy == Policy::Flush {
        *current = restored;
        return Ok(());
    }
    current.join(&restored, policy == Policy::Replace).map_err(|e| format!("ERR {e}"))
}

/// A FUNCTION command read back from an AOF (the loader's fake client, which gets no reply):
/// LOAD, DELETE, FLUSH and RESTORE change the libraries as they did when logged.
pub fn replay(args: &[&[u8]]) -> Result<(), String> {
    let Some(sub) = args.get(1) else { return Err("ERR wrong number of arguments".into()) };
    if eq_ic(sub, "load") && args.len() >= 3 {
        let replace = args[2..args.len() - 1].iter().any(|a| eq_ic(a, "replace"));
        return load(args[args.len() - 1], replace).map(|_| ()).map_err(|e| format!("ERR {e}"));
    }
    if eq_ic(sub, "delete") && args.len() == 3 {
        return match LIBS.write().remove(&String::from_utf8_lossy(args[2])) {
            Some(_) => Ok(()),
            None => Err("ERR Library not found".into()),
        };
    }
    if eq_ic(sub, "flush") {
        clear();
        return Ok(());
    }
    if eq_ic(sub, "restore") && (3..=4).contains(&args.len()) {
        return restore(args[2], args.get(3).copied());
    }
    Ok(())
}

/// The FUNCTION DUMP payload of the current libraries.
pub fn dump_payload() -> Vec<u8> {
    let libs = library_codes();
    let codes: Vec<&[u8]> = libs.iter().map(|l| l.code.as_slice()).collect();
    persist::rdb::function_dump_payload(&codes, &persist::EncodeLimits::default())
}

pub const FUNCTION_HELP: &[&str] = &[
    "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "LOAD [REPLACE] <FUNCTION CODE>",
    "    Create a new library with the given library name and code.",
    "DELETE <LIBRARY NAME>",
    "    Delete the given library.",
    "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
    "    Return general information on all the libraries:",
    "    * Library name",
    "    * The engine used to run the Library",
    "    * Functions list",
    "    * Library code (if WITHCODE is given)",
    "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
    "STATS",
    "    Return information about the current function running:",
    "    * Function name",
    "    * Command used to run the function",
    "    * Duration in MS that the function is running",
    "    If no function is running, return nil",
    "    In addition, returns a list of available engines.",
    "KILL",
    "    Kill the current running function.",
    "FLUSH [ASYNC|SYNC]",
    "    Delete all the libraries.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the libraries.",
    "    * SYNC: Synchronously flush the libraries.",
    "DUMP",
    "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
    "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
    "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
    "    control how to handle existing libraries (default APPEND):",
    "    * FLUSH: delete all existing libraries.",
    "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
    "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
    "      libraries with the new libraries (notice that even on this option there is a chance of failure",
    "      in case of functions name collision with another library).",
    "HELP",
    "    Prints this help.",
];

/// Redis's addReplySubcommandSyntaxError for FUNCTION's subcommands.
fn syntax_error(c: &mut Conn, sub: &[u8]) {
    let sub = String::from_utf8_lossy(sub).to_ascii_lowercase();
    c.out.error(&format!("ERR unknown subcommand or wrong number of arguments for '{sub}'. Try FUNCTION HELP."));
}

impl Env {
    /// FUNCTION <subcommand>.
    pub fn function_command(&mut self, c: &mut Conn, args: &[&[u8]]) {
        let sub = args[1].to_ascii_lowercase();
        match sub.as_slice() {
            b"load" => self.function_load(c, args),
            b"delete" => {
                if LIBS.write().remove(&String::from_utf8_lossy(args[2])).is_none() {
                    return c.out.error("ERR Library not found");
                }
                self.function_changed(c, args);
                c.out.ok();
            }
            b"flush" => {
                if args.len() > 3 {
                    return syntax_error(c, args[1]);
                }
                if let Some(mode) = args.get(2) {
                    if !eq_ic(mode, "sync") && !eq_ic(mode, "async") {
                        return c.out.error("ERR FUNCTION FLUSH only supports SYNC|ASYNC option");
                    }
                }
                clear();
                self.function_changed(c, args);
                c.out.ok();
            }
            b"list" => function_list(c, args),
            b"dump" => c.out.bulk(&dump_payload()),
            b"restore" => self.function_restore(c, args),
            b"stats" => function_stats(c),
            b"kill" => match super::kill(true) {
                Ok(()) => c.out.ok(),
                Err(e) => c.out.error(e),
            },
            b"help" => {
                c.out.array(FUNCTION_HELP.len());
                for l in FUNCTION_HELP {
                    c.out.simple(l);
                }
            }
            _ => c.out.error(&commands::errors::unknown_subcommand(args[0], args[1])),
        }
    }

    /// A change to the libraries: counted as a change to the data (save points) and
    /// propagated as the command itself to the AOF and replicas, as Redis does.
    fn function_changed(&mut self, c: &Conn, args: &[&[u8]]) {
        self.shared.stats.dirty.fetch_add(1, Ordering::Relaxed);
        crate::aof::propagate_server_write(c.db, args.iter().map(|a| a.to_vec()).collect());
    }

    fn function_load(&mut self, c: &mut Conn, args: &[&[u8]]) {
        let mut replace = false;
        let last = args.len() - 1;
        for a in &args[2..last] {
            if eq_ic(a, "replace") {
                replace = true;
                continue;
            }
            return c.out.error(&format!("ERR Unknown option given: {}", String::from_utf8_lossy(a)));
        }
        match load(args[last], replace) {
            Ok(name) => {
                self.function_changed(c, args);
                c.out.bulk(name.as_bytes());
            }
            Err(e) => c.out.error(&format!("ERR {e}")),
        }
    }

    fn function_restore(&mut self, c: &mut Conn, args: &[&[u8]]) {
        if args.len() > 4 {
            return syntax_error(c, args[1]);
        }
        match restore(args[2], args.get(3).copied()) {
            Ok(()) => {
                self.function_changed(c, args);
                c.out.ok();
            }
            Err(e) => c.out.error(&e),
        }
    }

    /// FCALL / FCALL_RO (Redis's fcallCommandGeneric).
    pub fn fcall_command(&mut self, c: &mut Conn, args: &[&[u8]], now: i64, ro: bool) {
        // Fed to MONITOR before the commands the function runs, as EVAL.
        self.feed_monitors(c, args, &[]);
        let key = String::from_utf8_lossy(args[1]).to_ascii_lowercase();
        let found = LIBS.read().funcs.get(&key).cloned();
        let Some((lib, index)) = found else {
            return c.out.error("ERR Function not found");
        };
        let Some(info) = lib.functions.get(index) else {
            return c.out.error("ERR Function not found");
        };
        let Some(numkeys) = commands::args::parse_i64(args[2]) else {
            return c.out.error("ERR Bad number of keys provided");
        };
        if numkeys > args.len() as i64 - 3 {
            return c.out.error("ERR Number of keys can't be greater than number of args");
        }
        if numkeys < 0 {
            return c.out.error("ERR Number of keys can't be negative");
        }
        let mut vm = match super::take_vm(self.id) {
            Ok(vm) => vm,
            Err(e) => return c.out.error(&e),
        };
        let callback = match compiled(&mut vm, &lib, &key) {
            Ok(f) => f,
            Err(e) => {
                super::put_vm(self.id, vm);
                return c.out.error(&format!("ERR {e}"));
            }
        };
        if let Err(e) = self.prepare_run(c, info.flags, ro) {
            super::put_vm(self.id, vm);
            return c.out.error(&e);
        }
        let callee = Callee::Function { name: &info.name, f: &callback };
        self.execute_script(c, &vm, args, now, numkeys as usize, info.flags, ro, callee);
        super::put_vm(self.id, vm);
    }
}

/// The callback of function `key` (lower-cased) of `lib` in this worker's VM, compiling the
/// library there first if the VM does not hold this version of it.
fn compiled(vm: &mut Vm, lib: &Library, key: &str) -> Result<mlua::Function, String> {
    let current = vm.libs.get(&lib.name).is_some_and(|(v, _)| *v == lib.version);
    if !current {
        // Libraries deleted or replaced since are dropped with the chance.
        {
            let libs = LIBS.read();
            vm.libs.retain(|name, (v, _)| libs.libs.get(name).is_some_and(|l| l.version == *v));
        }
        let registered = vm.load_library(&lib.code[lib.body_start..], Some(LOAD_TIMEOUT))?;
        let callbacks = registered.into_iter().map(|r| (r.name.to_ascii_lowercase(), r.callback)).collect();
        vm.libs.insert(lib.name.clone(), (lib.version, callbacks));
    }
    vm.libs.get(&lib.name).and_then(|(_, fs)| fs.get(key)).cloned().ok_or_else(|| "Function not found".to_string())
}

/// FUNCTION LIST [WITHCODE] [LIBRARYNAME pattern].
fn function_list(c: &mut Conn, args: &[&[u8]]) {
    let mut with_code = false;
    let mut pattern: Option<&[u8]> = None;
    let mut i = 2;
    while i < args.len() {
        let a = args[i];
        if !with_code && eq_ic(a, "withcode") {
            with_code = true;
        } else if pattern.is_none() && eq_ic(a, "libraryname") {
            if i + 1 >= args.len() {
                return c.out.error("ERR library name argument was not given");
            }
            i += 1;
            pattern = Some(args[i]);
        } else {
            return c.out.error(&format!("ERR Unknown argument {}", String::from_utf8_lossy(a)));
        }
        i += 1;
    }
    let libs: Vec<Arc<Library>> = library_codes()
        .into_iter()
        .filter(|l| pattern.is_none_or(|p| commands::string_match(p, l.name.as_bytes(), true)))
        .collect();
    c.out.array(libs.len());
    for lib in &libs {
        c.out.map(if with_code { 4 } else { 3 });
        c.out.bulk(b"library_name");
        c.out.bulk(lib.name.as_bytes());
        c.out.bulk(b"engine");
        c.out.bulk(b"LUA");
        c.out.bulk(b"functions");
        c.out.array(lib.functions.len());
        for f in &lib.functions {
            c.out.map(3);
            c.out.bulk(b"name");
            c.out.bulk(f.name.as_bytes());
            c.out.bulk(b"description");
            match &f.description {
                Some(d) => c.out.bulk(d.as_bytes()),
                None => c.out.null(),
            }
            c.out.bulk(b"flags");
            let names: Vec<&str> = FLAG_NAMES.iter().filter(|(b, _)| f.flags & b != 0).map(|(_, n)| *n).collect();
            c.out.set(names.len());
            for n in names {
                c.out.simple(n);
            }
        }
        if with_code {
            c.out.bulk(b"library_code");
            c.out.bulk(&lib.code);
        }
    }
}

/// FUNCTION STATS: the busy run (if any) and the engine's counts.
fn function_stats(c: &mut Conn) {
    c.out.map(2);
    c.out.bulk(b"running_script");
    match super::busy_run() {
        None => c.out.null(),
        Some((name, command, ms)) => {
            c.out.map(3);
            c.out.bulk(b"name");
            c.out.bulk(name.as_bytes());
            c.out.bulk(b"command");
            c.out.array(command.len());
            for a in &command {
                c.out.bulk(a);
            }
            c.out.bulk(b"duration_ms");
            c.out.int(ms as i64);
        }
    }
    let (libraries, functions) = counts();
    c.out.bulk(b"engines");
    c.out.map(1);
    c.out.bulk(b"LUA");
    c.out.map(2);
    c.out.bulk(b"libraries_count");
    c.out.int(libraries as i64);
    c.out.bulk(b"functions_count");
    c.out.int(functions as i64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_is_parsed_as_redis_does() {
        assert_eq!(parse_metadata(b"#!lua name=lib1\nx").map(|m| m.1), Ok("lib1".to_string()));
        assert_eq!(parse_metadata(b"#!LUA name=\"foo\"\nx").map(|m| m.1), Ok("foo".to_string()));
        assert_eq!(parse_metadata(b"return 1").unwrap_err(), "Missing library metadata");
        assert_eq!(parse_metadata(b"#!lua name=x").unwrap_err(), "Invalid library metadata");
        assert_eq!(parse_metadata(b"#! name=test\n").unwrap_err(), "Engine '' not found");
        assert_eq!(parse_metadata(b"#!lua\n").unwrap_err(), "Library name was not given");
        assert_eq!(parse_metadata(b"#!lua name=test foo=bar\n").unwrap_err(), "Invalid metadata value given: foo=bar");
        assert_eq!(
            parse_metadata(b"#!lua name=foo name=bar\n").unwrap_err(),
            "Invalid metadata value, name argument was given multiple times"
        );
        assert_eq!(parse_metadata(b"#!lua name=a-b\n").unwrap_err(), NAME_ERROR);
        assert_eq!(parse_metadata(b"#!bad name=a\n").unwrap_err(), "Engine 'bad' not found");
    }

    #[test]
    fn join_keeps_the_registry_on_collision() {
        let lib = |name: &str, funcs: &[&str]| {
            Arc::new(Library {
                name: name.into(),
                code: Vec::new(),
                body_start: 0,
                functions: funcs
                    .iter()
                    .map(|f| FunctionInfo { name: f.to_string(), description: None, flags: 0 })
                    .collect(),
                version: VERSION.fetch_add(1, Ordering::Relaxed),
            })
        };
        let mut cur = Libraries::default();
        cur.insert(lib("a", &["f1"]), false).unwrap();
        assert_eq!(cur.insert(lib("a", &["f2"]), false).unwrap_err(), "Library 'a' already exists");
        assert_eq!(cur.insert(lib("b", &["F1"]), false).unwrap_err(), "Function F1 already exists");
        let mut src = Libraries::default();
        src.insert(lib("a", &["f3"]), false).unwrap();
        src.insert(lib("c", &["f1"]), false).unwrap();
        assert_eq!(cur.join(&src, false).unwrap_err(), "Library a already exists");
        // Replacing a drops its f1, so c's f1 no longer collides.
        cur.join(&src, true).unwrap();
        assert_eq!(cur.libs.len(), 2);
        assert!(cur.funcs.contains_key("f1") && cur.funcs.contains_key("f3"));
    }
}
