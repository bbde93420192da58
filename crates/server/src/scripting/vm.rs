//! One worker's Lua 5.1 VM: the environment Redis 7.0 gives scripts (`prelude.lua` plus the Rust
//! primitives here: `bit`, `cjson`, `math.random`, `redis.sha1hex`, `redis.log`), compiled script
//! functions by SHA1, and the conversions between RESP replies and Lua values in both directions
//! (Redis's `redisProtocolToLuaType` and `luaReplyToRedisReply`). It never touches the keyspace:
//! `redis.call` reaches the server through a function the caller installs for one run.

use mlua::{Function, Lua, LuaOptions, StdLib, Table, Value, Variadic};
use resp::ReplyBuf;
use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;

/// How deep a script's reply (or a command's reply turned into Lua) may nest before it is cut
/// off with Redis's "reached lua stack limit" error: a table that contains itself must not
/// recurse forever.
pub const MAX_DEPTH: usize = 1000;

pub const REDIS_VERSION: &str = "7.0.15";
pub const REDIS_VERSION_NUM: i64 = 0x0007_000f;

pub struct Vm {
    pub lua: Lua,
    /// What scripts see as globals besides the library (`KEYS`, `ARGV` set per run).
    pub exposed: Table,
    /// The scripts' environment (a read-only proxy over `exposed`).
    pub env: Table,
    /// `xpcall(f, handler)` with Redis's error handler.
    run: Function,
    /// The real `redis` table (scripts see a read-only view); `call` / `pcall` set per run.
    pub redis: Table,
    /// The prelude's table of Rust primitives; `acl_check` set per run.
    pub rx: Table,
    funcs: HashMap<String, Function>,
    /// The environment of function libraries (load API while loading, scripts' globals after).
    fenv: Table,
    /// The prelude's `load_library(chunk)`: runs a library's chunk, collecting registrations.
    load_library: Function,
    /// Function libraries compiled in this VM: library name → (its version in the registry,
    /// lower-cased function name → callback). See `functions`.
    pub libs: HashMap<String, (u64, HashMap<String, Function>)>,
    /// `SCRIPT FLUSH` count this VM was created after (`super::flush_epoch`).
    pub epoch: u64,
    /// The protocol `redis.setresp` chose for this run (false: RESP2).
    pub resp3: Rc<Cell<bool>>,
    /// Scripts run (and scripts loaded) since the VM was created, for the collector's pace.
    pub runs: u64,
    /// The prelude's `ldb_locals` (the Lua debugger's `print`, see `ldb`).
    pub ldb_locals: Function,
}

impl Vm {
    pub fn new(epoch: u64) -> mlua::Result<Vm> {
        // SAFETY: the debug library is needed for the error handler (line numbers); it is
        // captured by the prelude and never exposed to scripts.
        let lua = unsafe {
            Lua::unsafe_new_with(StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::DEBUG, LuaOptions::default())
        };
        let globals = lua.globals();
        let rx = lua.create_table()?;
        let resp3 = Rc::new(Cell::new(false));
        rx.set("version", REDIS_VERSION)?;
        rx.set("version_num", REDIS_VERSION_NUM)?;
        rx.set(
            "sha1hex",
            lua.create_function(|lua, v: Value| {
                let bytes = match &v {
                    Value::String(s) => s.as_bytes().to_vec(),
                    Value::Integer(i) => i.to_string().into_bytes(),
                    Value::Number(n) => lua_number_string(*n).into_bytes(),
                    _ => Vec::new(),
                };
                lua.create_string(super::sha1_hex(&bytes))
            })?,
        )?;
        rx.set(
            "log",
            lua.create_function(|_, args: Variadic<Value>| {
                let level = match args.first() {
                    Some(Value::Integer(i)) => *i,
                    Some(Value::Number(n)) => *n as i64,
                    Some(Value::String(s)) => {
                        s.to_str().ok().and_then(|s| s.trim().parse::<f64>().ok()).unwrap_or(0.0) as i64
                    }
                    _ => 0,
                };
                let mut text = Vec::new();
                for (j, a) in args.iter().enumerate().skip(1) {
                    let part = match a {
                        Value::String(s) => s.as_bytes().to_vec(),
                        Value::Integer(i) => i.to_string().into_bytes(),
                        Value::Number(n) => lua_number_string(*n).into_bytes(),
                        _ => continue,
                    };
                    if j != 1 {
                        text.push(b' ');
                    }
                    text.extend_from_slice(&part);
                }
                let text = String::from_utf8_lossy(&text);
                match level {
                    3 => crate::warning!("{}", text),
                    2 => crate::notice!("{}", text),
                    // Debug-level lines are not logged (no `debug` verbosity here).
                    1 => crate::verbose!("{}", text),
                    _ => {}
                }
                Ok(())
            })?,
        )?;
        let r = resp3.clone();
        rx.set(
            "setresp",
            lua.create_function(move |_, v: f64| {
                r.set(v as i64 == 3);
                Ok(())
            })?,
        )?;
        rx.set("set_repl", lua.create_function(|_, _v: Value| Ok(()))?)?;
        // redis.breakpoint / redis.debug: no-ops (false / nothing) outside a debugging session.
        rx.set("breakpoint", lua.create_function(|_, _: Variadic<Value>| Ok(super::ldb::breakpoint()))?)?;
        rx.set(
            "debug",
            lua.create_function(|_, args: Variadic<Value>| {
                super::ldb::debug(&args);
                Ok(())
            })?,
        )?;
        rx.set("bit", bit_library(&lua)?)?;
        rx.set("cjson", super::cjson::library(&lua)?)?;
        rx.set("cmsgpack", super::cmsgpack::library(&lua)?)?;
        rx.set("struct", lua.create_table()?)?;
        // Redis replaces math.random with its own rand48 so every platform gives one sequence.
        let state = Rc::new(Cell::new(RAND48_SEED));
        let math: Table = globals.get("math")?;
        let s = state.clone();
        math.set(
            "random",
            lua.create_function(move |_, args: Variadic<Value>| {
                let r = (rand48_next(&s) % RAND48_MAX) as f64 / RAND48_MAX as f64;
                let int = |v: &Value, n: usize| -> mlua::Result<i64> {
                    match v {
                        Value::Integer(i) => Ok(*i),
                        Value::Number(f) => Ok(*f as i64),
                        Value::String(s) => {
                            s.to_str().ok().and_then(|s| s.trim().parse::<f64>().ok()).map(|f| f as i64).ok_or_else(
                                || mlua::Error::runtime(format!("bad argument #{n} to 'random' (number expected)")),
                            )
                        }
                        _ => Err(mlua::Error::runtime(format!("bad argument #{n} to 'random' (number expected)"))),
                    }
                };
                match args.len() {
                    0 => Ok(r),
                    1 => {
                        let u = int(&args[0], 1)?;
                        if u < 1 {
                            return Err(mlua::Error::runtime("bad argument #1 to 'random' (interval is empty)"));
                        }
                        Ok((r * u as f64).floor() + 1.0)
                    }
                    2 => {
                        let l = int(&args[0], 1)?;
                        let u = int(&args[1], 2)?;
                        if l > u {
                            return Err(mlua::Error::runtime("bad argument #2 to 'random' (interval is empty)"));
                        }
                        Ok((r * (u - l + 1) as f64).floor() + l as f64)
                    }
                    _ => Err(mlua::Error::runtime("wrong number of arguments")),
                }
            })?,
        )?;
        let s = state.clone();
        math.set(
            "randomseed",
            lua.create_function(move |_, seed: f64| {
                s.set(rand48_seed(seed as i64 as i32));
                Ok(())
            })?,
        )?;
        let debug: Value = globals.get("debug")?;
        let prelude = lua.load(include_str!("prelude.lua")).set_name("=redis_api").into_function()?;
        rx.set(
            "errtext",
            lua.create_function(|_, v: Value| {
                Ok(match v {
                    Value::Error(e) => error_text(&e),
                    _ => (None, false, false),
                })
            })?,
        )?;
        #[allow(clippy::type_complexity)]
        let (env, exposed, run, redis, fenv, load_library, ldb_locals): (
            Table,
            Table,
            Function,
            Table,
            Table,
            Function,
            Function,
        ) = prelude.call((rx.clone(), debug, globals.clone()))?;
        globals.raw_set("debug", Value::Nil)?;
        Ok(Vm {
            lua,
            exposed,
            env,
            run,
            redis,
            rx,
            funcs: HashMap::new(),
            fenv,
            load_library,
            libs: HashMap::new(),
            epoch,
            resp3,
            runs: 0,
            ldb_locals,
        })
    }

    pub fn has(&self, sha: &str) -> bool {
        self.funcs.contains_key(sha)
    }

    /// Compiles `body` as script `sha` (Redis's chunk name `@user_script`); the error is Lua's
    /// message, e.g. `user_script:1: '=' expected near 'x'`.
    pub fn compile(&mut self, sha: &str, body: &[u8]) -> Result<(), String> {
        let f =
            self.lua.load(body).set_name("@user_script").set_environment(self.env.clone()).into_function().map_err(
                |e| match e {
                    mlua::Error::SyntaxError { message, .. } => message,
                    other => other.to_string(),
                },
            )?;
        self.funcs.insert(sha.to_string(), f);
        Ok(())
    }

    /// Runs script `sha`: `Ok(value)` it returned, or `Err(error table or value)` it raised
    /// (already through the error handler).
    pub fn call(&self, sha: &str) -> mlua::Result<Result<Value, Value>> {
        let Some(f) = self.funcs.get(sha) else {
            return Err(mlua::Error::runtime("script not compiled"));
        };
        let mut out: mlua::MultiValue = self.run.call(f.clone())?;
        let ok = matches!(out.pop_front(), Some(Value::Boolean(true)));
        let v = out.pop_front().unwrap_or(Value::Nil);
        Ok(if ok { Ok(v) } else { Err(v) })
    }

    /// Compiles a library's code (chunk name `@user_function`, as Redis) and runs it with the
    /// load API, under `timeout` if given (Redis's 500 ms for FUNCTION LOAD). Returns the
    /// functions it registered, or Redis's error text (without the reply's own "ERR " code).
    pub fn load_library(&self, code: &[u8], timeout: Option<std::time::Duration>) -> Result<Vec<Registered>, String> {
        let chunk =
            self.lua.load(code).set_name("@user_function").set_environment(self.fenv.clone()).into_function().map_err(
                |e| match e {
                    mlua::Error::SyntaxError { message, .. } => format!("Error compiling function: {message}"),
                    other => format!("Error compiling function: {other}"),
                },
            )?;
        if let Some(limit) = timeout {
            let started = std::time::Instant::now();
            self.lua
                .set_hook(mlua::HookTriggers::new().every_nth_instruction(100_000), move |_, _| {
                    if started.elapsed() > limit {
                        // Raised as Redis's error table, without the position a runtime error gets.
                        return Err(mlua::Error::external(ScriptError("ERR FUNCTION LOAD timeout".into())));
                    }
                    Ok(mlua::VmState::Continue)
                })
                .map_err(|e| e.to_string())?;
        }
        let outcome: mlua::Result<(bool, Value)> = self.load_library.call(chunk);
        if timeout.is_some() {
            self.lua.remove_hook();
        }
        let (ok, v) = outcome.map_err(|e| format!("Error registering functions: {e}"))?;
        if !ok {
            let msg = match &v {
                Value::Table(t) => match t.raw_get::<Value>("err") {
                    Ok(Value::String(s)) => String::from_utf8_lossy(&s.as_bytes()).into_owned(),
                    _ => "unknown error".to_string(),
                },
                Value::String(s) => String::from_utf8_lossy(&s.as_bytes()).into_owned(),
                _ => "unknown error".to_string(),
            };
            // The error's own code stays in the text, as Redis words it ("... functions: ERR ...").
            return Err(format!("Error registering functions: {msg}"));
        }
        let Value::Table(list) = v else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        for item in list.sequence_values::<Table>() {
            let item = item.map_err(|e| e.to_string())?;
            let name: String = item.raw_get("name").map_err(|e| e.to_string())?;
            let flags: f64 = item.raw_get("flags").map_err(|e| e.to_string())?;
            let description: Option<String> = item.raw_get("description").map_err(|e| e.to_string())?;
            let callback: Function = item.raw_get("callback").map_err(|e| e.to_string())?;
            out.push(Registered { name, flags: flags as u32, description, callback });
        }
        Ok(out)
    }

    /// Runs a function's callback with its KEYS and ARGV tables as its two arguments: as
    /// [`Vm::call`].
    pub fn call_function(&self, f: &Function, keys: &[&[u8]], argv: &[&[u8]]) -> mlua::Result<Result<Value, Value>> {
        let k = self.array(keys)?;
        let a = self.array(argv)?;
        let mut out: mlua::MultiValue = self.run.call((f.clone(), k, a))?;
        let ok = matches!(out.pop_front(), Some(Value::Boolean(true)));
        let v = out.pop_front().unwrap_or(Value::Nil);
        Ok(if ok { Ok(v) } else { Err(v) })
    }

    fn array(&self, items: &[&[u8]]) -> mlua::Result<Table> {
        let t = self.lua.create_table_with_capacity(items.len(), 0)?;
        for (i, a) in items.iter().enumerate() {
            t.raw_set(i + 1, self.lua.create_string(a)?)?;
        }
        Ok(t)
    }

    pub fn set_array(&self, name: &str, items: &[&[u8]]) -> mlua::Result<()> {
        let t = self.lua.create_table_with_capacity(items.len(), 0)?;
        for (i, a) in items.iter().enumerate() {
            t.raw_set(i + 1, self.lua.create_string(a)?)?;
        }
        self.exposed.raw_set(name, t)
    }

    pub fn memory(&self) -> usize {
        self.lua.used_memory()
    }
}

/// A function a library registered while loading.
pub struct Registered {
    pub name: String,
    pub flags: u32,
    pub description: Option<String>,
    pub callback: Function,
}

/// An error `redis.call` raises: the `err` string of Redis's error table ("CODE message").
#[derive(Debug)]
pub struct ScriptError(pub String);

impl std::fmt::Display for ScriptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ScriptError {}

/// An error `redis.call` raises for a command that failed or was refused: its reply already
/// counted in INFO errorstats, so the script's error reply made of it is not counted again
/// (Redis's `ignore_error_stats_update` field).
#[derive(Debug)]
pub struct CountedError(pub String);

impl std::fmt::Display for CountedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CountedError {}

/// Whether a script's final value (an error table it raised or returned) is an error whose
/// stats were counted already (`ignore_error_stats_update`).
pub fn error_counted(v: &Value) -> bool {
    match v {
        Value::Table(t) => {
            matches!(t.raw_get::<Value>("err"), Ok(Value::String(_)))
                && matches!(t.raw_get::<Value>("ignore_error_stats_update"), Ok(Value::Boolean(true)))
        }
        _ => false,
    }
}

/// The Redis error text of an error a Rust function raised: a `ScriptError`'s text (as is), or
/// the message of a plain runtime error (a library's bad argument, SCRIPT KILL), which the error
/// handler prefixes with the script's position as `luaL_error` would (the bool).
/// The third value: a [`CountedError`], whose stats were counted already.
fn error_text(e: &mlua::Error) -> (Option<String>, bool, bool) {
    for cause in e.chain() {
        if let Some(s) = cause.downcast_ref::<ScriptError>() {
            return (Some(s.0.clone()), false, false);
        }
        if let Some(s) = cause.downcast_ref::<CountedError>() {
            return (Some(s.0.clone()), false, true);
        }
        if let Some(mlua::Error::RuntimeError(m)) = cause.downcast_ref::<mlua::Error>() {
            return (Some(m.clone()), true, false);
        }
    }
    (None, false, false)
}

/// Lua's `%.14g` form of a number (what `tostring` gives).
/// A table's key/value pairs, and the largest key if every key is a positive whole number
/// (None otherwise): what the cjson and cmsgpack encoders decide "array or map" from.
pub fn table_pairs(t: &Table) -> (Vec<(Value, Value)>, Option<f64>) {
    let pairs: Vec<(Value, Value)> = t.pairs::<Value, Value>().filter_map(|p| p.ok()).collect();
    let mut max = 0f64;
    for (k, _) in &pairs {
        let n = match k {
            Value::Integer(i) => *i as f64,
            Value::Number(n) => *n,
            _ => return (pairs, None),
        };
        if n < 1.0 || n.fract() != 0.0 {
            return (pairs, None);
        }
        max = max.max(n);
    }
    (pairs, Some(max))
}

pub fn lua_number_string(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        return format!("{}", n as i64);
    }
    let s = format!("{:.13e}", n);
    // Fall back to the shortest round-trip form for anything else: close to %.14g.
    match s.parse::<f64>() {
        Ok(v) => {
            let short = format!("{}", v);
            if short.len() <= 16 {
                short
            } else {
                s
            }
        }
        Err(_) => s,
    }
}

// rand48 as Redis's rand.c: x(n+1) = (a x(n) + c) mod 2^48, output the top 31 bits.
const RAND48_SEED: u64 = 0x1234_ABCD_330E;
const RAND48_A: u64 = 0x5_DEEC_E66D;
const RAND48_C: u64 = 0xB;
const RAND48_MAX: u64 = i32::MAX as u64;

fn rand48_next(state: &Cell<u64>) -> u64 {
    let x = (RAND48_A.wrapping_mul(state.get()).wrapping_add(RAND48_C)) & ((1u64 << 48) - 1);
    state.set(x);
    x >> 17
}

fn rand48_seed(seed: i32) -> u64 {
    let s = seed as u32 as u64;
    ((s & 0xffff_ffff) << 16) | 0x330E
}

/// LuaBitOp's `bit` module: 32-bit operations on numbers taken modulo 2^32.
fn bit_library(lua: &Lua) -> mlua::Result<Table> {
    fn tobit(v: &Value) -> mlua::Result<i32> {
        let n = match v {
            Value::Integer(i) => *i as f64,
            Value::Number(n) => *n,
            Value::String(s) => s
                .to_str()
                .ok()
                .and_then(|s| s.trim().parse::<f64>().ok())
                .ok_or_else(|| mlua::Error::runtime("bad argument (number expected)"))?,
            _ => return Err(mlua::Error::runtime("bad argument (number expected)")),
        };
        // LuaBitOp adds 2^52+2^51 and takes the low word: the number modulo 2^32, rounded.
        let m = (n.round_ties_even()).rem_euclid(4_294_967_296.0);
        Ok(m as u64 as u32 as i32)
    }
    let t = lua.create_table()?;
    t.set("tobit", lua.create_function(|_, v: Value| Ok(tobit(&v)? as f64))?)?;
    t.set("bnot", lua.create_function(|_, v: Value| Ok(!tobit(&v)? as f64))?)?;
    t.set(
        "band",
        lua.create_function(|_, a: Variadic<Value>| {
            let mut r = -1i32;
            for v in a.iter() {
                r &= tobit(v)?;
            }
            Ok(r as f64)
        })?,
    )?;
    t.set(
        "bor",
        lua.create_function(|_, a: Variadic<Value>| {
            let mut r = 0i32;
            for v in a.iter() {
                r |= tobit(v)?;
            }
            Ok(r as f64)
        })?,
    )?;
    t.set(
        "bxor",
        lua.create_function(|_, a: Variadic<Value>| {
            let mut r = 0i32;
            for v in a.iter() {
                r ^= tobit(v)?;
            }
            Ok(r as f64)
        })?,
    )?;
    let shift = |f: fn(i32, u32) -> i32| {
        move |_: &Lua, (a, n): (Value, Value)| -> mlua::Result<f64> {
            Ok(f(tobit(&a)?, (tobit(&n)? & 31) as u32) as f64)
        }
    };
    t.set("lshift", lua.create_function(shift(|a, n| ((a as u32) << n) as i32))?)?;
    t.set("rshift", lua.create_function(shift(|a, n| ((a as u32) >> n) as i32))?)?;
    t.set("arshift", lua.create_function(shift(|a, n| a >> n))?)?;
    t.set("rol", lua.create_function(shift(|a, n| (a as u32).rotate_left(n) as i32))?)?;
    t.set("ror", lua.create_function(shift(|a, n| (a as u32).rotate_right(n) as i32))?)?;
    t.set("bswap", lua.create_function(|_, v: Value| Ok((tobit(&v)? as u32).swap_bytes() as i32 as f64))?)?;
    t.set(
        "tohex",
        lua.create_function(|_, (v, n): (Value, Option<Value>)| {
            let x = tobit(&v)? as u32;
            let mut n = match n {
                Some(n) => tobit(&n)?,
                None => 8,
            };
            let upper = n < 0;
            if upper {
                n = -n;
            }
            let n = n.clamp(1, 8) as usize;
            let s = if upper { format!("{:08X}", x) } else { format!("{:08x}", x) };
            Ok(s[8 - n..].to_string())
        })?,
    )?;
    Ok(t)
}

/// A command's RESP reply as the Lua value Redis gives `redis.call` (integers as numbers, nil
/// bulk and nil array as `false`, status as `{ok=...}`, errors as `{err=...}`, RESP3 types as
/// Redis's tables). Returns the value and whether it was an error.
pub fn reply_to_lua(lua: &Lua, bytes: &[u8]) -> mlua::Result<(Value, bool)> {
    let mut pos = 0;
    // Tracking pushes for the caller spliced ahead of the reply (it is a REDIRECT target of a
    // key the script changed) are not part of the reply: skipped (bounded by the buffer).
    while bytes.get(pos) == Some(&b'>') {
        parse_value(lua, bytes, &mut pos, 0)?;
    }
    let is_err = bytes.get(pos) == Some(&b'-');
    let v = parse_value(lua, bytes, &mut pos, 0)?;
    Ok((v, is_err))
}

fn line<'a>(bytes: &'a [u8], pos: &mut usize) -> mlua::Result<&'a [u8]> {
    let start = *pos;
    let rest = bytes.get(start..).ok_or_else(|| mlua::Error::runtime("truncated reply"))?;
    let end = memchr::memchr(b'\r', rest).ok_or_else(|| mlua::Error::runtime("truncated reply"))?;
    *pos = start + end + 2;
    Ok(&rest[..end])
}

fn num(s: &[u8]) -> i64 {
    std::str::from_utf8(s).ok().and_then(|s| s.parse().ok()).unwrap_or(0)
}

fn parse_value(lua: &Lua, bytes: &[u8], pos: &mut usize, depth: usize) -> mlua::Result<Value> {
    if depth > MAX_DEPTH {
        return Err(mlua::Error::runtime("reply nested too deeply"));
    }
    let kind = *bytes.get(*pos).ok_or_else(|| mlua::Error::runtime("truncated reply"))?;
    *pos += 1;
    let head = line(bytes, pos)?;
    let table1 = |k: &str, v: Value| -> mlua::Result<Value> {
        let t = lua.create_table()?;
        t.raw_set(k, v)?;
        Ok(Value::Table(t))
    };
    Ok(match kind {
        b':' => Value::Number(num(head) as f64),
        b'+' => table1("ok", Value::String(lua.create_string(head)?))?,
        b'-' => {
            let t = lua.create_table()?;
            t.raw_set("err", lua.create_string(head)?)?;
            t.raw_set("ignore_error_stats_update", true)?;
            Value::Table(t)
        }
        b'$' | b'=' => {
            let n = num(head);
            if n < 0 {
                return Ok(Value::Boolean(false));
            }
            let n = n as usize;
            let data = bytes.get(*pos..*pos + n).ok_or_else(|| mlua::Error::runtime("truncated reply"))?;
            *pos += n + 2;
            if kind == b'=' {
                let (format, text) = if data.len() >= 4 { (&data[..3], &data[4..]) } else { (&b"txt"[..], data) };
                let inner = lua.create_table()?;
                inner.raw_set("string", lua.create_string(text)?)?;
                inner.raw_set("format", lua.create_string(format)?)?;
                table1("verbatim_string", Value::Table(inner))?
            } else {
                Value::String(lua.create_string(data)?)
            }
        }
        b'*' | b'>' => {
            let n = num(head);
            if n < 0 {
                return Ok(Value::Boolean(false));
            }
            let t = lua.create_table_with_capacity(n as usize, 0)?;
            for i in 0..n as usize {
                let v = parse_value(lua, bytes, pos, depth + 1)?;
                t.raw_set(i + 1, v)?;
            }
            Value::Table(t)
        }
        b'%' => {
            let inner = lua.create_table()?;
            for _ in 0..num(head).max(0) {
                let k = parse_value(lua, bytes, pos, depth + 1)?;
                let v = parse_value(lua, bytes, pos, depth + 1)?;
                if k != Value::Nil {
                    inner.raw_set(k, v)?;
                }
            }
            table1("map", Value::Table(inner))?
        }
        b'~' => {
            let inner = lua.create_table()?;
            for _ in 0..num(head).max(0) {
                let k = parse_value(lua, bytes, pos, depth + 1)?;
                if k != Value::Nil {
                    inner.raw_set(k, true)?;
                }
            }
            table1("set", Value::Table(inner))?
        }
        b'|' => {
            for _ in 0..num(head).max(0) * 2 {
                parse_value(lua, bytes, pos, depth + 1)?;
            }
            parse_value(lua, bytes, pos, depth)?
        }
        b'_' => Value::Nil,
        b'#' => Value::Boolean(head == b"t"),
        b',' => {
            let s = std::str::from_utf8(head).unwrap_or("0");
            let d = match s {
                "inf" => f64::INFINITY,
                "-inf" => f64::NEG_INFINITY,
                "nan" => f64::NAN,
                _ => s.parse().unwrap_or(0.0),
            };
            table1("double", Value::Number(d))?
        }
        b'(' => table1("big_number", Value::String(lua.create_string(head)?))?,
        _ => return Err(mlua::Error::runtime("unknown reply type")),
    })
}

/// Writes a script's return value to `out` as Redis's `luaReplyToRedisReply` does. `resp3` is the
/// protocol the script chose with `redis.setresp` (it decides how booleans are encoded).
pub fn lua_to_reply(out: &mut ReplyBuf, v: &Value, resp3: bool, depth: usize) {
    if depth > MAX_DEPTH {
        out.error("ERR reached lua stack limit");
        return;
    }
    match v {
        Value::String(s) => out.bulk(&s.as_bytes()),
        Value::Boolean(b) => {
            if !resp3 {
                if *b {
                    out.int(1);
                } else {
                    out.null();
                }
            } else {
                out.boolean(*b);
            }
        }
        Value::Integer(i) => out.int(*i),
        Value::Number(n) => out.int(*n as i64),
        Value::Table(t) => table_to_reply(out, t, resp3, depth),
        _ => out.null(),
    }
}

fn table_to_reply(out: &mut ReplyBuf, t: &Table, resp3: bool, depth: usize) {
    let get = |k: &str| t.raw_get::<Value>(k).unwrap_or(Value::Nil);
    if let Value::String(e) = get("err") {
        let msg = e.as_bytes();
        out.error(&msg[..]);
        return;
    }
    if let Value::String(s) = get("ok") {
        let text: Vec<u8> = s.as_bytes().iter().map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }).collect();
        out.simple(&String::from_utf8_lossy(&text));
        return;
    }
    match get("double") {
        Value::Number(d) => {
            out.double(d);
            return;
        }
        Value::Integer(i) => {
            out.double(i as f64);
            return;
        }
        _ => {}
    }
    if let Value::String(s) = get("big_number") {
        let text: String = String::from_utf8_lossy(&s.as_bytes())
            .chars()
            .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
            .collect();
        out.big_number(&text);
        return;
    }
    if let Value::Table(vt) = get("verbatim_string") {
        if let (Ok(Value::String(f)), Ok(Value::String(s))) =
            (vt.raw_get::<Value>("format"), vt.raw_get::<Value>("string"))
        {
            let f = f.as_bytes();
            let format = String::from_utf8_lossy(&f[..f.len().min(3)]).to_string();
            out.verbatim(&format, &s.as_bytes());
            return;
        }
    }
    if let Value::Table(m) = get("map") {
        let pairs: Vec<(Value, Value)> = m.pairs::<Value, Value>().filter_map(|p| p.ok()).collect();
        out.map(pairs.len());
        for (k, v) in &pairs {
            lua_to_reply(out, k, resp3, depth + 1);
            lua_to_reply(out, v, resp3, depth + 1);
        }
        return;
    }
    if let Value::Table(s) = get("set") {
        let keys: Vec<Value> = s.pairs::<Value, Value>().filter_map(|p| p.ok().map(|(k, _)| k)).collect();
        out.set(keys.len());
        for k in &keys {
            lua_to_reply(out, k, resp3, depth + 1);
        }
        return;
    }
    let mut items = Vec::new();
    for i in 1.. {
        match t.raw_get::<Value>(i) {
            Ok(Value::Nil) | Err(_) => break,
            Ok(v) => items.push(v),
        }
    }
    out.array(items.len());
    for v in &items {
        lua_to_reply(out, v, resp3, depth + 1);
    }
}
