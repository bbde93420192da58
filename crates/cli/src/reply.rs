//! Server replies as redis-cli sees them, and the parser that reads them from a byte buffer.
//!
//! The parser follows hiredis (the reader redis-cli 7.0.15 links): the same reply types, the same
//! nesting limit and the same `Protocol error, ...` texts, because redis-cli prints those texts as
//! `Error: <text>` and we must print the same. We did not reuse `resp::parse_request`: it parses
//! *requests* (multibulk of bulk strings, inline commands), not the fourteen reply types.

use thiserror::Error;

/// One reply, typed as hiredis types it (`REDIS_REPLY_*`). Doubles and big numbers keep the text the
/// server sent, since redis-cli prints that text unchanged.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `+OK`
    Status(Vec<u8>),
    /// `-ERR ...`
    Error(Vec<u8>),
    /// `:1`
    Integer(i64),
    /// `$3\r\nfoo`
    Bulk(Vec<u8>),
    /// `$-1`, `*-1` and RESP3's `_`
    Nil,
    /// `*N`
    Array(Vec<Reply>),
    /// `%N`: keys and values interleaved, as hiredis stores them.
    Map(Vec<Reply>),
    /// `~N`
    Set(Vec<Reply>),
    /// `>N`
    Push(Vec<Reply>),
    /// `,1.5` (the text after the comma)
    Double(Vec<u8>),
    /// `#t` / `#f`
    Bool(bool),
    /// `(123...` (hiredis parses it; redis-cli 7.0.15 cannot print it)
    BigNumber(Vec<u8>),
    /// `=N\r\ntxt:...`: the format and the text after `txt:`
    Verbatim(Vec<u8>, Vec<u8>),
}

impl Reply {
    /// hiredis's `REDIS_REPLY_*` number for this type, used in redis-cli's `Unknown reply type: N`.
    pub fn hiredis_type(&self) -> u8 {
        match self {
            Reply::Bulk(_) => 1,
            Reply::Array(_) => 2,
            Reply::Integer(_) => 3,
            Reply::Nil => 4,
            Reply::Status(_) => 5,
            Reply::Error(_) => 6,
            Reply::Double(_) => 7,
            Reply::Bool(_) => 8,
            Reply::Map(_) => 9,
            Reply::Set(_) => 10,
            Reply::Push(_) => 12,
            Reply::BigNumber(_) => 13,
            Reply::Verbatim(..) => 14,
        }
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }
}

/// A reply the reader cannot accept; the connection is unusable after it (as in hiredis).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0}")]
pub struct ProtocolError(pub String);

/// hiredis 1.x (the one redis-cli 7.0 links) grows its task stack without limit; COMMAND DOCS alone
/// nests past 7 levels. We recurse, so a bound keeps a hostile server from overflowing our stack;
/// it is far above anything Redis sends, and the error text is ours (hiredis has none).
const MAX_DEPTH: usize = 512;

/// Parses one complete reply at the start of `buf`. `Ok(None)`: more bytes are needed.
/// `Ok(Some((reply, consumed)))` otherwise.
pub fn parse_reply(buf: &[u8]) -> Result<Option<(Reply, usize)>, ProtocolError> {
    let mut at = 0;
    match parse_at(buf, &mut at, 0)? {
        Some(r) => Ok(Some((r, at))),
        None => Ok(None),
    }
}

/// The line starting at `*at` (without its CRLF), advancing past the CRLF; `None` if incomplete.
fn line<'a>(buf: &'a [u8], at: &mut usize) -> Option<&'a [u8]> {
    let rest = &buf[*at..];
    let pos = rest.windows(2).position(|w| w == b"\r\n")?;
    *at += pos + 2;
    Some(&rest[..pos])
}

/// hiredis's `chrtos`: how a bad type byte is shown in its protocol error.
fn chrtos(b: u8) -> String {
    match b {
        b'\\' | b'"' => format!("\"\\{}\"", b as char),
        b'\n' => "\"\\n\"".into(),
        b'\r' => "\"\\r\"".into(),
        b'\t' => "\"\\t\"".into(),
        0x07 => "\"\\a\"".into(),
        0x08 => "\"\\b\"".into(),
        0x20..=0x7e => format!("\"{}\"", b as char),
        _ => format!("\"\\x{b:02x}\""),
    }
}

fn parse_len(text: &[u8], what: &str) -> Result<i64, ProtocolError> {
    resp::string2ll(text).ok_or_else(|| ProtocolError(format!("Bad {what} value")))
}

fn parse_at(buf: &[u8], at: &mut usize, depth: usize) -> Result<Option<Reply>, ProtocolError> {
    let Some(&kind) = buf.get(*at) else { return Ok(None) };
    // hiredis judges the type byte as soon as it arrives, before the rest of the line.
    if !b"+-:,(_#$=*%~>".contains(&kind) {
        return Err(ProtocolError(format!("Protocol error, got {} as reply type byte", chrtos(kind))));
    }
    let start = *at;
    *at += 1;
    let Some(text) = line(buf, at) else {
        *at = start;
        return Ok(None);
    };
    let reply = match kind {
        b'+' => Reply::Status(text.to_vec()),
        b'-' => Reply::Error(text.to_vec()),
        b':' => Reply::Integer(parse_len(text, "integer")?),
        b',' => Reply::Double(text.to_vec()),
        b'(' => Reply::BigNumber(text.to_vec()),
        b'_' => {
            if !text.is_empty() {
                return Err(ProtocolError("Bad nil value".into()));
            }
            Reply::Nil
        }
        b'#' => match text {
            b"t" => Reply::Bool(true),
            b"f" => Reply::Bool(false),
            _ => return Err(ProtocolError("Bad bool value".into())),
        },
        b'$' | b'=' => {
            let len = parse_len(text, "bulk string length")?;
            if len < 0 {
                Reply::Nil
            } else {
                let len = usize::try_from(len).map_err(|_| ProtocolError("Bulk string length out of range".into()))?;
                let body_end =
                    at.checked_add(len).ok_or_else(|| ProtocolError("Bulk string length out of range".into()))?;
                if buf.len() < body_end + 2 {
                    *at = start;
                    return Ok(None);
                }
                let body = &buf[*at..body_end];
                *at = body_end + 2;
                if kind == b'=' {
                    if body.len() < 4 || body[3] != b':' {
                        return Err(ProtocolError(
                            "Verbatim string 4 bytes of content type are missing or incorrectly encoded.".into(),
                        ));
                    }
                    Reply::Verbatim(body[..3].to_vec(), body[4..].to_vec())
                } else {
                    Reply::Bulk(body.to_vec())
                }
            }
        }
        b'*' | b'%' | b'~' | b'>' => {
            let n = parse_len(text, "multi-bulk length")?;
            if n < 0 {
                Reply::Nil
            } else {
                if depth >= MAX_DEPTH {
                    return Err(ProtocolError(format!(
                        "Protocol error, replies nested deeper than {MAX_DEPTH} levels"
                    )));
                }
                let elements = if kind == b'%' { n.saturating_mul(2) } else { n };
                // Bound the up-front allocation by what the buffer could possibly hold (each element
                // takes at least 3 bytes), so a lying length cannot make us allocate gigabytes.
                let cap = usize::try_from(elements).unwrap_or(usize::MAX).min(buf.len() / 3 + 1);
                let mut items = Vec::with_capacity(cap);
                for _ in 0..elements {
                    match parse_at(buf, at, depth + 1)? {
                        Some(item) => items.push(item),
                        None => {
                            *at = start;
                            return Ok(None);
                        }
                    }
                }
                match kind {
                    b'*' => Reply::Array(items),
                    b'%' => Reply::Map(items),
                    b'~' => Reply::Set(items),
                    _ => Reply::Push(items),
                }
            }
        }
        other => return Err(ProtocolError(format!("Protocol error, got {} as reply type byte", chrtos(other)))),
    };
    Ok(Some(reply))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(b: &[u8]) -> Reply {
        match parse_reply(b) {
            Ok(Some((r, n))) => {
                assert_eq!(n, b.len());
                r
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_type() {
        assert_eq!(one(b"+OK\r\n"), Reply::Status(b"OK".to_vec()));
        assert_eq!(one(b"-ERR x\r\n"), Reply::Error(b"ERR x".to_vec()));
        assert_eq!(one(b":-5\r\n"), Reply::Integer(-5));
        assert_eq!(one(b"$3\r\na\r\n\r\n"), Reply::Bulk(b"a\r\n".to_vec()));
        assert_eq!(one(b"$-1\r\n"), Reply::Nil);
        assert_eq!(one(b"*-1\r\n"), Reply::Nil);
        assert_eq!(one(b"_\r\n"), Reply::Nil);
        assert_eq!(one(b",3.5\r\n"), Reply::Double(b"3.5".to_vec()));
        assert_eq!(one(b"#f\r\n"), Reply::Bool(false));
        assert_eq!(one(b"(12\r\n"), Reply::BigNumber(b"12".to_vec()));
        assert_eq!(one(b"=7\r\ntxt:abc\r\n"), Reply::Verbatim(b"txt".to_vec(), b"abc".to_vec()));
        assert_eq!(
            one(b"%1\r\n+k\r\n~1\r\n:1\r\n"),
            Reply::Map(vec![Reply::Status(b"k".to_vec()), Reply::Set(vec![Reply::Integer(1)])])
        );
        assert_eq!(one(b">1\r\n*0\r\n"), Reply::Push(vec![Reply::Array(vec![])]));
    }

    #[test]
    fn incomplete_then_complete() {
        let full = b"*2\r\n$3\r\nfoo\r\n:1\r\n";
        for cut in 0..full.len() {
            assert_eq!(parse_reply(&full[..cut]), Ok(None), "cut at {cut}");
        }
        assert!(matches!(parse_reply(full), Ok(Some((_, 17)))));
    }

    #[test]
    fn protocol_errors_use_hiredis_texts() {
        assert_eq!(parse_reply(b"|1\r\n").unwrap_err().0, "Protocol error, got \"|\" as reply type byte");
        assert_eq!(parse_reply(b"\x01\r\n").unwrap_err().0, "Protocol error, got \"\\x01\" as reply type byte");
        // COMMAND DOCS nests 8 levels and more; only a hostile depth is refused.
        let mut ok = b"*1\r\n".repeat(20);
        ok.extend_from_slice(b":1\r\n");
        assert!(matches!(parse_reply(&ok), Ok(Some(_))));
        let deep = b"*1\r\n".repeat(600);
        assert!(parse_reply(&deep).unwrap_err().0.contains("deeper than 512"));
        assert!(parse_reply(b":x\r\n").is_err());
    }
}
