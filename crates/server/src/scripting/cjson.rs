//! The `cjson` library scripts see (lua-cjson 2.1 as Redis bundles it): `encode`, `decode` and
//! `null`, with lua-cjson's rules for arrays (tables whose keys are all positive integers, not
//! excessively sparse), number formatting (`%.14g`) and string escapes, and the settings Redis's
//! tests use (`encode_max_depth`, `decode_max_depth`, `encode_invalid_numbers`,
//! `encode_keep_buffer`), kept per VM as lua-cjson keeps them per module.

use mlua::{LightUserData, Lua, Table, Value};
use std::cell::Cell;
use std::rc::Rc;

const MAX_DEPTH: usize = 1000;

struct Config {
    encode_max_depth: Cell<usize>,
    decode_max_depth: Cell<usize>,
    invalid_numbers: Cell<bool>,
}

pub fn library(lua: &Lua) -> mlua::Result<Table> {
    let cfg = Rc::new(Config {
        encode_max_depth: Cell::new(MAX_DEPTH),
        decode_max_depth: Cell::new(MAX_DEPTH),
        invalid_numbers: Cell::new(false),
    });
    let t = lua.create_table()?;
    t.set("null", Value::LightUserData(LightUserData(std::ptr::null_mut())))?;
    let c = cfg.clone();
    t.set(
        "encode",
        lua.create_function(move |lua, v: Value| {
            let mut out = Vec::new();
            encode(&v, &mut out, 0, &c).map_err(mlua::Error::runtime)?;
            lua.create_string(&out)
        })?,
    )?;
    let depth_arg = |v: Option<f64>| v.map(|n| n.max(1.0).min(i32::MAX as f64) as usize);
    let c = cfg.clone();
    t.set(
        "encode_max_depth",
        lua.create_function(move |_, v: Option<f64>| {
            if let Some(n) = depth_arg(v) {
                c.encode_max_depth.set(n);
            }
            Ok(c.encode_max_depth.get() as f64)
        })?,
    )?;
    let c = cfg.clone();
    t.set(
        "decode_max_depth",
        lua.create_function(move |_, v: Option<f64>| {
            if let Some(n) = depth_arg(v) {
                c.decode_max_depth.set(n);
            }
            Ok(c.decode_max_depth.get() as f64)
        })?,
    )?;
    let c = cfg.clone();
    t.set(
        "encode_invalid_numbers",
        lua.create_function(move |_, v: Option<bool>| {
            if let Some(b) = v {
                c.invalid_numbers.set(b);
            }
            Ok(c.invalid_numbers.get())
        })?,
    )?;
    t.set("encode_keep_buffer", lua.create_function(|_, v: Option<bool>| Ok(v.unwrap_or(true)))?)?;
    let c = cfg.clone();
    t.set(
        "decode",
        lua.create_function(move |lua, s: mlua::LuaString| {
            let bytes = s.as_bytes();
            let mut p = Parser { s: &bytes, pos: 0, max_depth: c.decode_max_depth.get() };
            p.ws();
            let v = p.value(lua, 0).map_err(mlua::Error::runtime)?;
            p.ws();
            if p.pos < p.s.len() {
                return Err(mlua::Error::runtime(p.invalid("the end")));
            }
            Ok(v)
        })?,
    )?;
    Ok(t)
}

fn number(n: f64, out: &mut Vec<u8>, cfg: &Config) -> Result<(), String> {
    if n.is_nan() || n.is_infinite() {
        if !cfg.invalid_numbers.get() {
            return Err("Cannot serialise number: must not be NaN or Inf".into());
        }
        out.extend_from_slice(if n.is_nan() {
            b"nan"
        } else if n > 0.0 {
            b"inf"
        } else {
            b"-inf"
        });
        return Ok(());
    }
    out.extend_from_slice(super::vm::lua_number_string(n).as_bytes());
    Ok(())
}

fn string(s: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &b in s {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            b if b < 0x20 || b == 0x7f => out.extend_from_slice(format!("\\u{:04x}", b).as_bytes()),
            b => out.push(b),
        }
    }
    out.push(b'"');
}

fn encode(v: &Value, out: &mut Vec<u8>, depth: usize, cfg: &Config) -> Result<(), String> {
    match v {
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Integer(i) => number(*i as f64, out, cfg)?,
        Value::Number(n) => number(*n, out, cfg)?,
        Value::String(s) => string(&s.as_bytes(), out),
        Value::Table(t) => {
            if depth >= cfg.encode_max_depth.get() {
                return Err(format!("Cannot serialise, excessive nesting ({})", depth + 1));
            }
            // lua-cjson's array test: every key a positive integer, not excessively sparse.
            let (pairs, max) = super::vm::table_pairs(t);
            let array = max.is_some();
            let max = max.unwrap_or(0.0);
            if array && !pairs.is_empty() {
                let count = pairs.len() as f64;
                if max > 10.0 && max > count * 2.0 {
                    return Err("Cannot serialise table: excessively sparse array".into());
                }
                out.push(b'[');
                for i in 1..=(max as usize) {
                    if i > 1 {
                        out.push(b',');
                    }
                    let v: Value = t.raw_get(i).unwrap_or(Value::Nil);
                    encode(&v, out, depth + 1, cfg)?;
                }
                out.push(b']');
                return Ok(());
            }
            out.push(b'{');
            for (i, (k, v)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                match k {
                    Value::String(s) => string(&s.as_bytes(), out),
                    Value::Integer(n) => {
                        out.push(b'"');
                        number(*n as f64, out, cfg)?;
                        out.push(b'"');
                    }
                    Value::Number(n) => {
                        out.push(b'"');
                        number(*n, out, cfg)?;
                        out.push(b'"');
                    }
                    _ => return Err("Cannot serialise table: table key must be a number or string".into()),
                }
                out.push(b':');
                encode(v, out, depth + 1, cfg)?;
            }
            out.push(b'}');
        }
        other => return Err(format!("Cannot serialise {}: type not supported", other.type_name())),
    }
    Ok(())
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
    max_depth: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.pos < self.s.len() && matches!(self.s[self.pos], b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
    }

    /// lua-cjson's parse error: what was expected and the token found at the position.
    fn invalid(&self, what: &str) -> String {
        let rest = &self.s[self.pos.min(self.s.len())..];
        let found = match rest.first() {
            None => "T_END",
            Some(b'{') => "T_OBJ_BEGIN",
            Some(b'}') => "T_OBJ_END",
            Some(b'[') => "T_ARR_BEGIN",
            Some(b']') => "T_ARR_END",
            Some(b'"') => "T_STRING",
            Some(b'-' | b'0'..=b'9') => "T_NUMBER",
            Some(b':') => "T_COLON",
            Some(b',') => "T_COMMA",
            Some(_) if rest.starts_with(b"true") || rest.starts_with(b"false") => "T_BOOLEAN",
            Some(_) if rest.starts_with(b"null") => "T_NULL",
            Some(_) => "invalid token",
        };
        format!("Expected {what} but found {found} at character {}", self.pos + 1)
    }

    fn value(&mut self, lua: &Lua, depth: usize) -> Result<Value, String> {
        let opens = matches!(self.s.get(self.pos), Some(b'{' | b'['));
        if opens && depth >= self.max_depth {
            return Err(format!("Found too many nested data structures ({}) at character {}", depth + 1, self.pos + 1));
        }
        let lerr = |e: mlua::Error| e.to_string();
        match self.s.get(self.pos) {
            Some(b'{') => {
                self.pos += 1;
                let t = lua.create_table().map_err(lerr)?;
                self.ws();
                if self.s.get(self.pos) == Some(&b'}') {
                    self.pos += 1;
                    return Ok(Value::Table(t));
                }
                loop {
                    self.ws();
                    if self.s.get(self.pos) != Some(&b'"') {
                        return Err(self.invalid("object key string"));
                    }
                    let k = self.string()?;
                    self.ws();
                    if self.s.get(self.pos) != Some(&b':') {
                        return Err(self.invalid("colon"));
                    }
                    self.pos += 1;
                    self.ws();
                    let v = self.value(lua, depth + 1)?;
                    t.raw_set(lua.create_string(&k).map_err(lerr)?, v).map_err(lerr)?;
                    self.ws();
                    match self.s.get(self.pos) {
                        Some(b',') => self.pos += 1,
                        Some(b'}') => {
                            self.pos += 1;
                            return Ok(Value::Table(t));
                        }
                        _ => return Err(self.invalid("comma or object end")),
                    }
                }
            }
            Some(b'[') => {
                self.pos += 1;
                let t = lua.create_table().map_err(lerr)?;
                self.ws();
                if self.s.get(self.pos) == Some(&b']') {
                    self.pos += 1;
                    return Ok(Value::Table(t));
                }
                let mut i = 1;
                loop {
                    self.ws();
                    let v = self.value(lua, depth + 1)?;
                    t.raw_set(i, v).map_err(lerr)?;
                    i += 1;
                    self.ws();
                    match self.s.get(self.pos) {
                        Some(b',') => self.pos += 1,
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(Value::Table(t));
                        }
                        _ => return Err(self.invalid("comma or array end")),
                    }
                }
            }
            Some(b'"') => {
                let s = self.string()?;
                Ok(Value::String(lua.create_string(&s).map_err(lerr)?))
            }
            Some(b't') if self.s[self.pos..].starts_with(b"true") => {
                self.pos += 4;
                Ok(Value::Boolean(true))
            }
            Some(b'f') if self.s[self.pos..].starts_with(b"false") => {
                self.pos += 5;
                Ok(Value::Boolean(false))
            }
            Some(b'n') if self.s[self.pos..].starts_with(b"null") => {
                self.pos += 4;
                Ok(Value::LightUserData(LightUserData(std::ptr::null_mut())))
            }
            Some(b'-' | b'0'..=b'9') => {
                let start = self.pos;
                while self.pos < self.s.len()
                    && matches!(self.s[self.pos], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    self.pos += 1;
                }
                let text = std::str::from_utf8(&self.s[start..self.pos]).unwrap_or("");
                match text.parse::<f64>() {
                    Ok(n) => Ok(Value::Number(n)),
                    Err(_) => {
                        self.pos = start;
                        Err(self.invalid("value"))
                    }
                }
            }
            _ => Err(self.invalid("value")),
        }
    }

    fn string(&mut self) -> Result<Vec<u8>, String> {
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            let Some(&b) = self.s.get(self.pos) else {
                return Err(self.invalid("string end"));
            };
            self.pos += 1;
            match b {
                b'"' => return Ok(out),
                b'\\' => {
                    let Some(&e) = self.s.get(self.pos) else {
                        return Err(self.invalid("escape"));
                    };
                    self.pos += 1;
                    match e {
                        b'"' | b'\\' | b'/' => out.push(e),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let hex = self.s.get(self.pos..self.pos + 4).and_then(|h| std::str::from_utf8(h).ok());
                            let Some(cp) = hex.and_then(|h| u32::from_str_radix(h, 16).ok()) else {
                                return Err(self.invalid("unicode escape"));
                            };
                            self.pos += 4;
                            let c = char::from_u32(cp).unwrap_or('\u{fffd}');
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => return Err(self.invalid("escape")),
                    }
                }
                b => out.push(b),
            }
        }
    }
}
