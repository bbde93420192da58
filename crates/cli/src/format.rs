//! redis-cli's output formats as pure functions: reply in, the exact bytes redis-cli 7.0.15 prints out.
//!
//! Three modes, as in `cliFormatReply`: `tty` (the human format redis-cli uses when stdout is a
//! terminal, or with `--no-raw`), `raw` (stdout not a terminal, or `--raw`) and `csv`. The callers
//! add the per-command delimiter; these functions return what redis-cli's `cliFormatReply*` return.
//! A reply type redis-cli 7.0.15 cannot print (big numbers: it exits with `Unknown reply type: 13`)
//! is an error, so the binary can fail exactly as redis-cli does.

use crate::reply::Reply;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("Unknown reply type: {0}")]
pub struct UnknownType(pub u8);

/// The output mode chosen on the command line or from whether stdout is a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Tty,
    Raw,
    Csv,
}

pub use resp::repr;

/// Error and status texts are C strings in hiredis: redis-cli prints them up to the first NUL.
fn cstr(s: &[u8]) -> &[u8] {
    match s.iter().position(|&b| b == 0) {
        Some(end) => &s[..end],
        None => s,
    }
}

/// `cliIsMultilineValueTTY`: whether a map value starts on its own line.
fn is_multiline(r: &Reply) -> bool {
    match r {
        Reply::Array(e) | Reply::Set(e) | Reply::Push(e) => match e.len() {
            0 => false,
            1 => is_multiline(&e[0]),
            _ => true,
        },
        Reply::Map(e) => match e.len() {
            0 => false,
            2 => is_multiline(&e[1]),
            _ => true,
        },
        _ => false,
    }
}

/// The tty format of one reply (`cliFormatReplyTTY` with an empty prefix).
pub fn tty(r: &Reply) -> Result<Vec<u8>, UnknownType> {
    let mut out = Vec::new();
    tty_into(&mut out, r, b"")?;
    Ok(out)
}

fn tty_into(out: &mut Vec<u8>, r: &Reply, prefix: &[u8]) -> Result<(), UnknownType> {
    match r {
        Reply::Error(s) => {
            out.extend_from_slice(b"(error) ");
            out.extend_from_slice(cstr(s));
            out.push(b'\n');
        }
        Reply::Status(s) => {
            out.extend_from_slice(cstr(s));
            out.push(b'\n');
        }
        Reply::Integer(i) => out.extend_from_slice(format!("(integer) {i}\n").as_bytes()),
        Reply::Double(s) => {
            out.extend_from_slice(b"(double) ");
            out.extend_from_slice(cstr(s));
            out.push(b'\n');
        }
        Reply::Bulk(s) => {
            repr(out, s);
            out.push(b'\n');
        }
        Reply::Verbatim(_, s) => {
            out.extend_from_slice(s);
            out.push(b'\n');
        }
        Reply::Nil => out.extend_from_slice(b"(nil)\n"),
        Reply::Bool(b) => out.extend_from_slice(if *b { b"(true)\n" } else { b"(false)\n" }),
        Reply::Array(e) | Reply::Map(e) | Reply::Set(e) | Reply::Push(e) => tty_aggregate(out, r, e, prefix)?,
        Reply::BigNumber(_) => return Err(UnknownType(r.hiredis_type())),
    }
    Ok(())
}

fn tty_aggregate(out: &mut Vec<u8>, r: &Reply, elems: &[Reply], prefix: &[u8]) -> Result<(), UnknownType> {
    let is_map = matches!(r, Reply::Map(_));
    if elems.is_empty() {
        out.extend_from_slice(match r {
            Reply::Array(_) => b"(empty array)\n".as_slice(),
            Reply::Map(_) => b"(empty hash)\n",
            Reply::Set(_) => b"(empty set)\n",
            _ => b"(empty push)\n",
        });
        return Ok(());
    }
    // The index column is as wide as the largest index; nested replies are indented past it.
    let count = if is_map { elems.len() / 2 } else { elems.len() };
    let width = count.max(1).to_string().len();
    let mut child_prefix = prefix.to_vec();
    child_prefix.resize(prefix.len() + width + 2, b' ');
    let sep = match r {
        Reply::Set(_) => '~',
        Reply::Map(_) => '#',
        _ => ')',
    };
    let mut i = 0;
    while i < elems.len() {
        let human = if is_map { i / 2 + 1 } else { i + 1 };
        // The first entry's prefix was already written by the caller, before its own index.
        if i != 0 {
            out.extend_from_slice(prefix);
        }
        out.extend_from_slice(format!("{human:>width$}{sep} ").as_bytes());
        tty_into(out, &elems[i], &child_prefix)?;
        if is_map {
            i += 1;
            out.pop(); // the key's newline: the value follows on the same line
            out.extend_from_slice(b" => ");
            // hiredis always pairs a map's entries; an odd count cannot come out of the parser.
            if let Some(value) = elems.get(i) {
                if is_multiline(value) {
                    out.push(b'\n');
                    out.extend_from_slice(&child_prefix);
                }
                tty_into(out, value, &child_prefix)?;
            }
        }
        i += 1;
    }
    Ok(())
}

/// The raw format of one reply (`cliFormatReplyRaw`); `mb_delim` separates aggregate elements (`-d`).
pub fn raw(r: &Reply, mb_delim: &[u8]) -> Result<Vec<u8>, UnknownType> {
    let mut out = Vec::new();
    raw_into(&mut out, r, mb_delim)?;
    Ok(out)
}

fn raw_into(out: &mut Vec<u8>, r: &Reply, delim: &[u8]) -> Result<(), UnknownType> {
    match r {
        Reply::Nil => {}
        Reply::Error(s) => {
            out.extend_from_slice(s);
            out.push(b'\n');
        }
        Reply::Status(s) | Reply::Bulk(s) | Reply::Verbatim(_, s) => out.extend_from_slice(s),
        Reply::Bool(b) => out.extend_from_slice(if *b { b"(true)" } else { b"(false)" }),
        Reply::Integer(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Reply::Double(s) => out.extend_from_slice(cstr(s)),
        Reply::Array(e) | Reply::Set(e) | Reply::Push(e) => {
            for (i, x) in e.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(delim);
                }
                raw_into(out, x, delim)?;
            }
        }
        Reply::Map(e) => {
            for (i, pair) in e.chunks(2).enumerate() {
                if i > 0 {
                    out.extend_from_slice(delim);
                }
                raw_into(out, &pair[0], delim)?;
                out.push(b' ');
                if let Some(v) = pair.get(1) {
                    raw_into(out, v, delim)?;
                }
            }
        }
        Reply::BigNumber(_) => return Err(UnknownType(r.hiredis_type())),
    }
    Ok(())
}

/// The CSV format of one reply (`cliFormatReplyCSV`): aggregates (maps too) flattened with commas.
pub fn csv(r: &Reply) -> Result<Vec<u8>, UnknownType> {
    let mut out = Vec::new();
    csv_into(&mut out, r)?;
    Ok(out)
}

fn csv_into(out: &mut Vec<u8>, r: &Reply) -> Result<(), UnknownType> {
    match r {
        Reply::Error(s) => {
            out.extend_from_slice(b"ERROR,");
            repr(out, cstr(s));
        }
        Reply::Status(s) | Reply::Bulk(s) | Reply::Verbatim(_, s) => repr(out, s),
        Reply::Integer(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Reply::Double(s) => out.extend_from_slice(cstr(s)),
        Reply::Nil => out.extend_from_slice(b"NULL"),
        Reply::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Reply::Array(e) | Reply::Set(e) | Reply::Push(e) | Reply::Map(e) => {
            for (i, x) in e.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                csv_into(out, x)?;
            }
        }
        Reply::BigNumber(_) => return Err(UnknownType(r.hiredis_type())),
    }
    Ok(())
}

/// What redis-cli writes for one reply of a command (`cliFormatReply`): `verbatim` is set for the
/// commands whose text redis-cli prints unformatted (INFO, CLIENT LIST, ...); raw mode ends each reply
/// with `cmd_delim` (`-D`), CSV with a newline.
pub fn format_reply(
    r: &Reply,
    mode: Mode,
    verbatim: bool,
    mb_delim: &[u8],
    cmd_delim: &[u8],
) -> Result<Vec<u8>, UnknownType> {
    if verbatim {
        return raw(r, mb_delim);
    }
    Ok(match mode {
        Mode::Tty => tty(r)?,
        Mode::Raw => {
            let mut out = raw(r, mb_delim)?;
            out.extend_from_slice(cmd_delim);
            out
        }
        Mode::Csv => {
            let mut out = csv(r)?;
            out.push(b'\n');
            out
        }
    })
}

/// `cliFormatInvalidateTTY`: a client-tracking `invalidate` push as `-> invalidate: 'k1', 'k2'`.
/// `None` when the push is not an invalidation (it is then formatted like any reply).
pub fn invalidate_tty(r: &Reply) -> Option<Vec<u8>> {
    let Reply::Push(e) = r else { return None };
    let [Reply::Bulk(kind), Reply::Array(keys)] = e.as_slice() else { return None };
    if !kind.starts_with(b"invalidate") {
        return None;
    }
    let mut out = b"-> invalidate: ".to_vec();
    for (i, k) in keys.iter().enumerate() {
        let Reply::Bulk(k) = k else { return None };
        out.push(b'\'');
        out.extend_from_slice(cstr(k));
        out.push(b'\'');
        if i + 1 < keys.len() {
            out.extend_from_slice(b", ");
        }
    }
    out.push(b'\n');
    Some(out)
}

/// Whether redis-cli prints this command's reply unformatted in every mode (`cliSendCommand`'s list).
pub fn prints_verbatim(argv: &[Vec<u8>]) -> bool {
    let is = |i: usize, s: &str| argv.get(i).is_some_and(|a| a.eq_ignore_ascii_case(s.as_bytes()));
    let argc = argv.len();
    is(0, "info")
        || is(0, "lolwut")
        || (argc >= 2 && is(0, "debug") && (is(1, "htstats") || is(1, "htstats-key") || is(1, "client-eviction")))
        || (argc >= 2 && is(0, "memory") && (is(1, "malloc-stats") || is(1, "doctor")))
        || (argc == 2 && is(0, "cluster") && (is(1, "nodes") || is(1, "info")))
        || (argc >= 2 && is(0, "client") && (is(1, "list") || is(1, "info")))
        || (argc == 3 && is(0, "latency") && is(1, "graph"))
        || (argc == 2 && is(0, "latency") && is(1, "doctor"))
        || (argc >= 2 && is(0, "proxy") && is(1, "info"))
}

#[cfg(test)]
mod tests {
    //! Cases the captured fixture (tests/format.rs) cannot reach, with the output redis-cli.c's
    //! formatting functions give for them.
    use super::*;

    fn bulk(s: &str) -> Reply {
        Reply::Bulk(s.as_bytes().to_vec())
    }

    #[test]
    fn push_in_tty_mode_is_numbered_like_an_array() {
        // cliPushHandler formats with cliFormatReplyTTY, where PUSH shares ARRAY's branch.
        let p = Reply::Push(vec![bulk("message"), bulk("ch"), bulk("hi")]);
        assert_eq!(tty(&p).unwrap(), b"1) \"message\"\n2) \"ch\"\n3) \"hi\"\n");
        assert_eq!(tty(&Reply::Push(vec![])).unwrap(), b"(empty push)\n");
        assert_eq!(raw(&p, b"\n").unwrap(), b"message\nch\nhi");
    }

    #[test]
    fn repr_escapes() {
        let mut out = Vec::new();
        repr(&mut out, b"a\"b\\c\n\r\t\x07\x08\x00\x7f\xc3\xa9~ ");
        assert_eq!(out, b"\"a\\\"b\\\\c\\n\\r\\t\\a\\b\\x00\\x7f\\xc3\\xa9~ \"");
    }

    #[test]
    fn raw_delimiters_and_verbatim_commands() {
        let a = Reply::Array(vec![bulk("a"), Reply::Integer(2)]);
        assert_eq!(format_reply(&a, Mode::Raw, false, b",", b"|").unwrap(), b"a,2|");
        // INFO-like commands print unformatted in every mode, without the per-command delimiter.
        assert_eq!(format_reply(&bulk("x\r\n"), Mode::Tty, true, b"\n", b"\n").unwrap(), b"x\r\n");
        assert!(prints_verbatim(&[b"INFO".to_vec()]));
        assert!(prints_verbatim(&[b"client".to_vec(), b"LIST".to_vec()]));
        assert!(!prints_verbatim(&[b"cluster".to_vec(), b"nodes".to_vec(), b"x".to_vec()]));
        assert!(!prints_verbatim(&[b"get".to_vec()]));
    }

    #[test]
    fn map_index_width_counts_pairs() {
        let pairs: Vec<Reply> = (0..10).flat_map(|i| [bulk(&i.to_string()), Reply::Integer(i)]).collect();
        let out = String::from_utf8(tty(&Reply::Map(pairs)).unwrap()).unwrap();
        assert!(out.starts_with(" 1# \"0\" => (integer) 0\n"), "{out}");
        assert!(out.ends_with("10# \"9\" => (integer) 9\n"), "{out}");
    }
}
