//! The `cmsgpack` library scripts see (lua-cmsgpack as Redis bundles it): `pack(...)` and
//! `unpack(s)` / `unpack_one(s [, offset])` / `unpack_limit(s, limit [, offset])`, with its
//! encoding choices (the smallest integer form for integral numbers, float32 when exact,
//! fixstr/str8/str16/str32, arrays for tables keyed 1..n, nesting cut to nil at depth 16).

use mlua::{Lua, MultiValue, Table, Value, Variadic};

const MAX_NESTING: usize = 16;

pub fn library(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "pack",
        lua.create_function(|lua, args: Variadic<Value>| {
            if args.is_empty() {
                return Err(mlua::Error::runtime("MessagePack pack needs input."));
            }
            let mut out = Vec::new();
            for v in args.iter() {
                encode(v, &mut out, 0);
            }
            lua.create_string(&out)
        })?,
    )?;
    t.set(
        "unpack",
        lua.create_function(|lua, s: mlua::LuaString| {
            let bytes = s.as_bytes();
            let mut pos = 0;
            let mut values = MultiValue::new();
            while pos < bytes.len() {
                values.push_back(decode(lua, &bytes, &mut pos, 0)?);
            }
            Ok(values)
        })?,
    )?;
    let limited = |lua: &Lua, s: mlua::LuaString, limit: i64, offset: i64| -> mlua::Result<MultiValue> {
        let bytes = s.as_bytes();
        let mut pos = offset.max(0) as usize;
        let mut values = MultiValue::new();
        let mut n = 0;
        while pos < bytes.len() && (limit <= 0 || n < limit) {
            values.push_back(decode(lua, &bytes, &mut pos, 0)?);
            n += 1;
        }
        let next = if pos >= bytes.len() { -1 } else { pos as i64 };
        values.push_front(Value::Number(next as f64));
        Ok(values)
    };
    t.set(
        "unpack_one",
        lua.create_function(move |lua, (s, offset): (mlua::LuaString, Option<i64>)| {
            limited(lua, s, 1, offset.unwrap_or(0))
        })?,
    )?;
    t.set(
        "unpack_limit",
        lua.create_function(move |lua, (s, limit, offset): (mlua::LuaString, i64, Option<i64>)| {
            limited(lua, s, limit, offset.unwrap_or(0))
        })?,
    )?;
    Ok(t)
}

fn encode_int(n: i64, out: &mut Vec<u8>) {
    if n >= 0 {
        if n < 128 {
            out.push(n as u8);
        } else if n < 256 {
            out.extend_from_slice(&[0xcc, n as u8]);
        } else if n < 65536 {
            out.push(0xcd);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= u32::MAX as i64 {
            out.push(0xce);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= i32::MIN as i64 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn encode_number(n: f64, out: &mut Vec<u8>) {
    if n.is_finite() && n.fract() == 0.0 && n >= i64::MIN as f64 && n < 9.223_372_036_854_776e18 {
        encode_int(n as i64, out);
    } else if (n as f32) as f64 == n || n.is_nan() {
        out.push(0xca);
        out.extend_from_slice(&(n as f32).to_be_bytes());
    } else {
        out.push(0xcb);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn encode_len(len: usize, fix: u8, fix_max: usize, codes: [u8; 3], out: &mut Vec<u8>) {
    if len < fix_max {
        out.push(fix | len as u8);
    } else if codes[0] != 0 && len <= 0xff {
        out.extend_from_slice(&[codes[0], len as u8]);
    } else if len <= 0xffff {
        out.push(codes[1]);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(codes[2]);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

fn encode(v: &Value, out: &mut Vec<u8>, level: usize) {
    match v {
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(i) => encode_int(*i, out),
        Value::Number(n) => encode_number(*n, out),
        Value::String(s) => {
            let b = s.as_bytes();
            encode_len(b.len(), 0xa0, 32, [0xd9, 0xda, 0xdb], out);
            out.extend_from_slice(&b);
        }
        Value::Table(t) if level < MAX_NESTING => {
            // An array when the keys are exactly 1..n.
            let (pairs, max) = super::vm::table_pairs(t);
            let array = max.is_some();
            let max = max.unwrap_or(0.0);
            if array && max as usize == pairs.len() {
                encode_len(pairs.len(), 0x90, 16, [0, 0xdc, 0xdd], out);
                for i in 1..=pairs.len() {
                    let v: Value = t.raw_get(i).unwrap_or(Value::Nil);
                    encode(&v, out, level + 1);
                }
            } else {
                encode_len(pairs.len(), 0x80, 16, [0, 0xde, 0xdf], out);
                for (k, v) in &pairs {
                    encode(k, out, level + 1);
                    encode(v, out, level + 1);
                }
            }
        }
        _ => out.push(0xc0),
    }
}

fn take<'a>(s: &'a [u8], pos: &mut usize, n: usize) -> mlua::Result<&'a [u8]> {
    let end = pos.checked_add(n).filter(|&e| e <= s.len());
    let Some(end) = end else {
        return Err(mlua::Error::runtime("Missing bytes in input."));
    };
    let b = &s[*pos..end];
    *pos = end;
    Ok(b)
}

fn be(b: &[u8]) -> u64 {
    b.iter().fold(0u64, |acc, &x| (acc << 8) | x as u64)
}

fn decode(lua: &Lua, s: &[u8], pos: &mut usize, depth: usize) -> mlua::Result<Value> {
    if depth > 1000 {
        return Err(mlua::Error::runtime("Bad data format in input."));
    }
    let c = take(s, pos, 1)?[0];
    let array = |lua: &Lua, pos: &mut usize, n: usize| -> mlua::Result<Value> {
        let t = lua.create_table()?;
        for i in 1..=n {
            t.raw_set(i, decode(lua, s, pos, depth + 1)?)?;
        }
        Ok(Value::Table(t))
    };
    let map = |lua: &Lua, pos: &mut usize, n: usize| -> mlua::Result<Value> {
        let t = lua.create_table()?;
        for _ in 0..n {
            let k = decode(lua, s, pos, depth + 1)?;
            let v = decode(lua, s, pos, depth + 1)?;
            if k != Value::Nil {
                t.raw_set(k, v)?;
            }
        }
        Ok(Value::Table(t))
    };
    let string = |lua: &Lua, pos: &mut usize, n: usize| -> mlua::Result<Value> {
        Ok(Value::String(lua.create_string(take(s, pos, n)?)?))
    };
    Ok(match c {
        0x00..=0x7f => Value::Number(c as f64),
        0x80..=0x8f => map(lua, pos, (c & 0x0f) as usize)?,
        0x90..=0x9f => array(lua, pos, (c & 0x0f) as usize)?,
        0xa0..=0xbf => string(lua, pos, (c & 0x1f) as usize)?,
        0xc0 => Value::Nil,
        0xc2 => Value::Boolean(false),
        0xc3 => Value::Boolean(true),
        0xca => Value::Number(f32::from_be_bytes(take(s, pos, 4)?.try_into().unwrap_or([0; 4])) as f64),
        0xcb => Value::Number(f64::from_be_bytes(take(s, pos, 8)?.try_into().unwrap_or([0; 8]))),
        0xcc => Value::Number(be(take(s, pos, 1)?) as f64),
        0xcd => Value::Number(be(take(s, pos, 2)?) as f64),
        0xce => Value::Number(be(take(s, pos, 4)?) as f64),
        0xcf => Value::Number(be(take(s, pos, 8)?) as f64),
        0xd0 => Value::Number(be(take(s, pos, 1)?) as u8 as i8 as f64),
        0xd1 => Value::Number(be(take(s, pos, 2)?) as u16 as i16 as f64),
        0xd2 => Value::Number(be(take(s, pos, 4)?) as u32 as i32 as f64),
        0xd3 => Value::Number(be(take(s, pos, 8)?) as i64 as f64),
        0xd9 | 0xc4 => {
            let n = be(take(s, pos, 1)?) as usize;
            string(lua, pos, n)?
        }
        0xda | 0xc5 => {
            let n = be(take(s, pos, 2)?) as usize;
            string(lua, pos, n)?
        }
        0xdb | 0xc6 => {
            let n = be(take(s, pos, 4)?) as usize;
            string(lua, pos, n)?
        }
        0xdc => {
            let n = be(take(s, pos, 2)?) as usize;
            array(lua, pos, n)?
        }
        0xdd => {
            let n = be(take(s, pos, 4)?) as usize;
            array(lua, pos, n)?
        }
        0xde => {
            let n = be(take(s, pos, 2)?) as usize;
            map(lua, pos, n)?
        }
        0xdf => {
            let n = be(take(s, pos, 4)?) as usize;
            map(lua, pos, n)?
        }
        0xe0..=0xff => Value::Number(c as i8 as f64),
        _ => return Err(mlua::Error::runtime("Bad data format in input.")),
    })
}
