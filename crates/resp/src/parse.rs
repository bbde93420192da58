//! Request parsing: one complete command at a time from the front of a read buffer.
//!
//! Redis accepts two request forms: RESP multibulk (`*N\r\n$len\r\narg\r\n...`) and inline commands
//! (space-separated words ending in `\n`, with the quoting rules of `sdssplitargs`). Multibulk
//! arguments are returned as spans into the caller's buffer so the hot path copies nothing; inline
//! arguments may contain escapes and are returned owned, since inline requests are rare (health
//! checks, telnet users).
//!
//! The parser re-scans from the start of the buffer on each call rather than keeping resumable
//! state. That was chosen over a state machine because a request is usually complete on the first
//! call; to keep large partial bulks from being re-scanned per read, `Incomplete` says how many bytes
//! the buffer must hold before another attempt can succeed.

use memchr::memchr;
use thiserror::Error;

/// Redis's `PROTO_INLINE_MAX_SIZE`: the longest inline request or header line accepted.
pub const INLINE_MAX_SIZE: usize = 64 * 1024;
/// Redis's limit on arguments for a client that must still authenticate.
const UNAUTH_MAX_MULTIBULK: i64 = 10;
/// Redis's limit on a bulk argument's size for a client that must still authenticate.
const UNAUTH_MAX_BULK: i64 = 16384;

/// The limits a request is checked against; `proto-max-bulk-len` and authentication state change.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// `proto-max-bulk-len`.
    pub max_bulk_len: i64,
    /// True while the client must authenticate before running commands (stricter limits apply).
    pub unauthenticated: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_bulk_len: 512 * 1024 * 1024, unauthenticated: false }
    }
}

/// The location of one multibulk argument inside the parsed buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArgSpan {
    pub start: u32,
    pub len: u32,
}

impl ArgSpan {
    /// The argument's bytes within the buffer it was parsed from.
    #[inline]
    pub fn of<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        &buf[self.start as usize..self.start as usize + self.len as usize]
    }
}

/// What one call to [`parse_request`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A multibulk command whose arguments were pushed as spans; `consumed` bytes are used up.
    Multibulk { consumed: usize },
    /// An inline command with its (unescaped) arguments.
    Inline { consumed: usize, args: Vec<Vec<u8>> },
    /// Bytes that carry no command (an empty inline line, `*0`, `*-1`): drop them and go on.
    Skip { consumed: usize },
    /// The buffer does not yet hold a whole command; it needs at least `min_total` bytes.
    Incomplete { min_total: usize },
}

/// A request that can never become valid: the client gets `-ERR Protocol error: <text>` and is
/// disconnected, as Redis does.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("too big mbulk count string")]
    TooBigMultibulkCount,
    #[error("invalid multibulk length")]
    InvalidMultibulkLength,
    #[error("unauthenticated multibulk length")]
    UnauthenticatedMultibulkLength,
    #[error("too big bulk count string")]
    TooBigBulkCount,
    #[error("expected '$', got '{0}'")]
    ExpectedDollar(char),
    #[error("invalid bulk length")]
    InvalidBulkLength,
    #[error("unauthenticated bulk length")]
    UnauthenticatedBulkLength,
    #[error("too big inline request")]
    TooBigInline,
    #[error("unbalanced quotes in request")]
    UnbalancedQuotes,
}

impl ParseError {
    /// The full error line Redis sends before closing the connection.
    pub fn reply_text(&self) -> String {
        format!("ERR Protocol error: {self}")
    }
}

/// Parses the first request in `buf`, pushing multibulk argument spans onto `args` (cleared first).
pub fn parse_request(buf: &[u8], limits: &Limits, args: &mut Vec<ArgSpan>) -> Result<Parsed, ParseError> {
    args.clear();
    match buf.first() {
        None => Ok(Parsed::Incomplete { min_total: 1 }),
        Some(b'*') => parse_multibulk(buf, limits, args),
        Some(_) => parse_inline(buf),
    }
}

/// Finds the `\r` ending a header line that starts at `from`; `None` if the line (and its `\n`)
/// is not fully buffered yet.
#[inline]
fn header_line(buf: &[u8], from: usize) -> Option<usize> {
    let cr = from + memchr(b'\r', &buf[from..])?;
    if cr + 1 < buf.len() {
        Some(cr)
    } else {
        None
    }
}

fn parse_multibulk(buf: &[u8], limits: &Limits, args: &mut Vec<ArgSpan>) -> Result<Parsed, ParseError> {
    let Some(cr) = header_line(buf, 0) else {
        if buf.len() > INLINE_MAX_SIZE {
            return Err(ParseError::TooBigMultibulkCount);
        }
        return Ok(Parsed::Incomplete { min_total: buf.len() + 1 });
    };
    let count = match string2ll(&buf[1..cr]) {
        Some(n) if n <= i32::MAX as i64 => n,
        _ => return Err(ParseError::InvalidMultibulkLength),
    };
    if count > UNAUTH_MAX_MULTIBULK && limits.unauthenticated {
        return Err(ParseError::UnauthenticatedMultibulkLength);
    }
    let mut pos = cr + 2;
    if count <= 0 {
        return Ok(Parsed::Skip { consumed: pos });
    }
    // A huge count is legal (up to INT_MAX) but must not make us reserve memory for arguments
    // that have not arrived: reserve at most what the buffer could possibly hold.
    args.reserve((count as usize).min(buf.len() / 4 + 1));
    for _ in 0..count {
        if pos >= buf.len() {
            return Ok(Parsed::Incomplete { min_total: pos + 4 });
        }
        let Some(cr) = header_line(buf, pos) else {
            if buf.len() - pos > INLINE_MAX_SIZE {
                return Err(ParseError::TooBigBulkCount);
            }
            return Ok(Parsed::Incomplete { min_total: buf.len() + 1 });
        };
        if buf[pos] != b'$' {
            return Err(ParseError::ExpectedDollar(buf[pos] as char));
        }
        let len = match string2ll(&buf[pos + 1..cr]) {
            Some(n) if n >= 0 && n <= limits.max_bulk_len => n,
            _ => return Err(ParseError::InvalidBulkLength),
        };
        if len > UNAUTH_MAX_BULK && limits.unauthenticated {
            return Err(ParseError::UnauthenticatedBulkLength);
        }
        let start = cr + 2;
        // Spans are u32: a bulk can be at most proto-max-bulk-len (capped well below 4 GiB by
        // config), so a larger value here means the limit was configured beyond what we support.
        let end = start.checked_add(len as usize).ok_or(ParseError::InvalidBulkLength)?;
        if end > u32::MAX as usize {
            return Err(ParseError::InvalidBulkLength);
        }
        // Like Redis, the two bytes after the payload are skipped without being checked.
        if end + 2 > buf.len() {
            return Ok(Parsed::Incomplete { min_total: end + 2 });
        }
        args.push(ArgSpan { start: start as u32, len: len as u32 });
        pos = end + 2;
    }
    Ok(Parsed::Multibulk { consumed: pos })
}

fn parse_inline(buf: &[u8]) -> Result<Parsed, ParseError> {
    // Redis finds the end of an inline request with strchr, which stops at a NUL byte: a NUL
    // before the newline means the request never looks complete, until it passes the inline
    // size limit. Doing the same keeps replies (and the failure) identical.
    let nl = match memchr::memchr2(b'\n', 0, buf) {
        Some(i) if buf[i] == b'\n' => Some(i),
        _ => None,
    };
    let Some(nl) = nl else {
        if buf.len() > INLINE_MAX_SIZE {
            return Err(ParseError::TooBigInline);
        }
        return Ok(Parsed::Incomplete { min_total: buf.len() + 1 });
    };
    let mut line = &buf[..nl];
    if let Some((&b'\r', rest)) = line.split_last() {
        line = rest;
    }
    let args = split_args(line).ok_or(ParseError::UnbalancedQuotes)?;
    if args.is_empty() {
        return Ok(Parsed::Skip { consumed: nl + 1 });
    }
    Ok(Parsed::Inline { consumed: nl + 1, args })
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t' | 0x0b | 0x0c)
}

fn hex_val(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// How an incomplete multibulk request at the start of `buf` splits as Redis holds it: the
/// bytes of the arguments already complete (Redis has moved them out of its query buffer into
/// the command's argv: CLIENT LIST's `argv-mem`) and the offset where what Redis still keeps
/// in its query buffer begins (the unfinished argument's payload once its `$len` line is read,
/// else that line). `(0, 0)` for anything else (an inline request, a malformed one). Only for
/// reporting: it applies no limits and walks the headers again, as a parse of the request
/// would.
pub fn pending_request_split(buf: &[u8]) -> (usize, usize) {
    fn header(buf: &[u8], at: usize, prefix: u8) -> Option<(usize, usize)> {
        if *buf.get(at)? != prefix {
            return None;
        }
        let cr = at + 1 + memchr(b'\r', buf.get(at + 1..)?)?;
        let n = usize::try_from(string2ll(&buf[at + 1..cr])?).ok()?;
        (cr + 1 < buf.len()).then_some((n, cr + 2))
    }
    let Some((count, mut pos)) = header(buf, 0, b'*') else { return (0, 0) };
    let mut argv_bytes = 0usize;
    for _ in 0..count {
        let Some((len, start)) = header(buf, pos, b'$') else { return (argv_bytes, pos) };
        match start.checked_add(len).and_then(|end| end.checked_add(2)) {
            Some(next) if next <= buf.len() => {
                argv_bytes += len;
                pos = next;
            }
            _ => return (argv_bytes, start),
        }
    }
    (0, 0)
}

/// A complete multibulk request found by [`peek_request`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peeked {
    /// Bytes the request takes.
    pub len: usize,
    /// Where its second argument (the first key, for most commands) lies, if it has one.
    pub second_arg: Option<(usize, usize)>,
}

/// Looks at the multibulk request at the start of `buf` without parsing it: its length and where
/// its second argument is, if the whole request is buffered; `None` for anything else (an inline
/// request, a malformed or incomplete one). Only a hint, for prefetching the memory requests
/// will touch before they run: it applies no limits, and every request is parsed properly
/// before it is executed.
pub fn peek_request(buf: &[u8]) -> Option<Peeked> {
    /// Reads `<prefix><digits>\r\n` at `at`; returns the number and where the line ends.
    fn header(buf: &[u8], at: usize, prefix: u8) -> Option<(usize, usize)> {
        if *buf.get(at)? != prefix {
            return None;
        }
        let mut n: usize = 0;
        let mut i = at + 1;
        loop {
            let b = *buf.get(i)?;
            if b == b'\r' {
                break;
            }
            if !b.is_ascii_digit() || i - at > 10 {
                return None;
            }
            n = n.checked_mul(10)?.checked_add((b - b'0') as usize)?;
            i += 1;
        }
        if i == at + 1 || *buf.get(i + 1)? != b'\n' {
            return None;
        }
        Some((n, i + 2))
    }
    let (argc, mut at) = header(buf, 0, b'*')?;
    let mut second_arg = None;
    for i in 0..argc {
        let (len, start) = header(buf, at, b'$')?;
        let end = start.checked_add(len)?;
        if buf.get(end..end.checked_add(2)?)? != b"\r\n" {
            return None;
        }
        if i == 1 {
            second_arg = Some((start, len));
        }
        at = end + 2;
    }
    Some(Peeked { len: at, second_arg })
}

/// Splits a line into arguments with the rules of Redis's `sdssplitargs`: whitespace separates,
/// `"..."` supports `\n \r \t \b \a \\ \" \xHH` escapes, `'...'` supports only `\'`, and a closing
/// quote must be followed by whitespace or the end. Returns `None` on unbalanced quotes.
/// Also used for redis.conf lines, which Redis splits the same way.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    // sdssplitargs works on a C string: a NUL byte ends the line. Without this cut, a NUL outside
    // quotes would end a word without being consumed and the loop would never advance.
    let line = match memchr(0, line) {
        Some(end) => &line[..end],
        None => line,
    };
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        while i < line.len() && is_space(line[i]) {
            i += 1;
        }
        if i >= line.len() {
            return Some(out);
        }
        let mut cur = Vec::new();
        let mut in_dq = false;
        let mut in_sq = false;
        loop {
            if in_dq {
                if i >= line.len() {
                    return None;
                }
                let c = line[i];
                if c == b'\\' && i + 3 < line.len() && line[i + 1] == b'x' {
                    if let (Some(h), Some(l)) = (hex_val(line[i + 2]), hex_val(line[i + 3])) {
                        cur.push(h * 16 + l);
                        i += 4;
                        continue;
                    }
                }
                if c == b'\\' && i + 1 < line.len() {
                    i += 1;
                    cur.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if c == b'"' {
                    if i + 1 < line.len() && !is_space(line[i + 1]) {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
                i += 1;
            } else if in_sq {
                if i >= line.len() {
                    return None;
                }
                let c = line[i];
                if c == b'\\' && i + 1 < line.len() && line[i + 1] == b'\'' {
                    cur.push(b'\'');
                    i += 2;
                    continue;
                } else if c == b'\'' {
                    if i + 1 < line.len() && !is_space(line[i + 1]) {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
                i += 1;
            } else {
                if i >= line.len() {
                    break;
                }
                match line[i] {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => {
                        break;
                    }
                    b'"' => in_dq = true,
                    b'\'' => in_sq = true,
                    c => cur.push(c),
                }
                i += 1;
            }
        }
        out.push(cur);
    }
}

/// Redis's `string2ll`: a strict decimal integer (no sign other than a leading `-`, no leading
/// zeros, no spaces, fits in i64). Used for protocol lengths and integer arguments alike.
pub fn string2ll(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (negative, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    if negative {
        if v > (i64::MAX as u64) + 1 {
            return None;
        }
        Some((v as i64).wrapping_neg())
    } else {
        if v > i64::MAX as u64 {
            return None;
        }
        Some(v as i64)
    }
}

#[cfg(test)]
mod peek_tests {
    use super::*;

    #[test]
    fn peek_request_measures_complete_multibulk_requests_only() {
        let get = b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n";
        assert_eq!(peek_request(get), Some(Peeked { len: get.len(), second_arg: Some((17, 3)) }));
        let two = [&get[..], b"*1\r\n$4\r\nPING\r\n"].concat();
        assert_eq!(peek_request(&two).map(|p| p.len), Some(get.len()));
        assert_eq!(peek_request(&two[get.len()..]), Some(Peeked { len: 14, second_arg: None }));
        assert_eq!(peek_request(&get[..get.len() - 1]), None);
        assert_eq!(peek_request(b"*2\r\n$3\r\nGET\r\n$3\r\nkeyXX"), None);
        assert_eq!(peek_request(b"GET key\r\n"), None);
        assert_eq!(peek_request(b"*2\r\n$99999999999999999999\r\n"), None);
        assert_eq!(peek_request(b""), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(buf: &[u8]) -> Result<(Parsed, Vec<Vec<u8>>), ParseError> {
        let mut spans = Vec::new();
        let p = parse_request(buf, &Limits::default(), &mut spans)?;
        let args = spans.iter().map(|s| s.of(buf).to_vec()).collect();
        Ok((p, args))
    }

    #[test]
    fn multibulk_complete_and_partial() {
        let req = b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n";
        let (p, args) = parse(req).unwrap();
        assert_eq!(p, Parsed::Multibulk { consumed: req.len() });
        assert_eq!(args, vec![b"GET".to_vec(), b"key".to_vec()]);
        for cut in 0..req.len() {
            match parse(&req[..cut]).unwrap().0 {
                Parsed::Incomplete { min_total } => assert!(min_total > cut, "cut {cut}"),
                other => panic!("cut {cut}: {other:?}"),
            }
        }
    }

    #[test]
    fn protocol_errors_match_redis() {
        assert_eq!(parse(b"*x\r\n").unwrap_err().reply_text(), "ERR Protocol error: invalid multibulk length");
        assert_eq!(parse(b"*1\r\n+GET\r\n").unwrap_err().reply_text(), "ERR Protocol error: expected '$', got '+'");
        assert_eq!(parse(b"*1\r\n$-1\r\n").unwrap_err(), ParseError::InvalidBulkLength);
        assert_eq!(parse(b"*3000000000\r\n").unwrap_err(), ParseError::InvalidMultibulkLength);
        assert_eq!(parse(b"\"foo\r\n").unwrap_err(), ParseError::UnbalancedQuotes);
        let big = vec![b'a'; INLINE_MAX_SIZE + 1];
        assert_eq!(parse(&big).unwrap_err(), ParseError::TooBigInline);
    }

    #[test]
    fn unauthenticated_limits() {
        let limits = Limits { unauthenticated: true, ..Limits::default() };
        let mut spans = Vec::new();
        assert_eq!(parse_request(b"*11\r\n", &limits, &mut spans), Err(ParseError::UnauthenticatedMultibulkLength));
        assert_eq!(parse_request(b"*1\r\n$16385\r\n", &limits, &mut spans), Err(ParseError::UnauthenticatedBulkLength));
    }

    #[test]
    fn inline_quoting() {
        let (p, _) = parse(b"set \"a b\" 'c\\'d' \"\\x41\\n\"\r\n").unwrap();
        match p {
            Parsed::Inline { args, .. } => {
                assert_eq!(args, vec![b"set".to_vec(), b"a b".to_vec(), b"c'd".to_vec(), b"A\n".to_vec()])
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(parse(b"\r\n").unwrap().0, Parsed::Skip { consumed: 2 });
        assert_eq!(parse(b"*0\r\n").unwrap().0, Parsed::Skip { consumed: 4 });
        assert_eq!(parse(b"\"a\"b\n").unwrap_err(), ParseError::UnbalancedQuotes);
    }

    #[test]
    fn nul_bytes_end_inline_lines_like_c_strings() {
        assert_eq!(split_args(b"set a\0b c"), Some(vec![b"set".to_vec(), b"a".to_vec()]));
        assert_eq!(split_args(b"\0"), Some(vec![]));
        assert_eq!(split_args(b"\"a\0b\""), None);
        // An inline request with a NUL before its newline never completes...
        assert!(matches!(parse(b"\0\n").unwrap().0, Parsed::Incomplete { .. }));
        assert!(matches!(parse(b"set a\0b c\r\n").unwrap().0, Parsed::Incomplete { .. }));
        // ...until it is too big, as in Redis.
        let mut big = b"ping\0".to_vec();
        big.resize(INLINE_MAX_SIZE + 10, b'\n');
        assert_eq!(parse(&big).unwrap_err(), ParseError::TooBigInline);
    }

    #[test]
    fn string2ll_is_strict() {
        assert_eq!(string2ll(b"0"), Some(0));
        assert_eq!(string2ll(b"-1"), Some(-1));
        assert_eq!(string2ll(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(string2ll(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [&b""[..], b"-0", b"01", b"+1", b" 1", b"1 ", b"9223372036854775808", b"-", b"1a"] {
            assert_eq!(string2ll(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }
    #[test]
    fn a_pending_request_splits_as_redis_holds_it() {
        // The big argument's header is read: only its payload so far stays in the query buffer.
        let buf = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\nvvvv";
        let payload = buf.len() - 4;
        assert_eq!(pending_request_split(buf), (4, payload));
        // Its header is not complete yet: it stays whole.
        let buf = b"*2\r\n$3\r\nGET\r\n$1";
        assert_eq!(pending_request_split(buf), (3, 13));
        assert_eq!(pending_request_split(b"*1\r\n$500\r\n"), (0, 10));
        assert_eq!(pending_request_split(b"PING\r\n"), (0, 0));
        assert_eq!(pending_request_split(b"*1\r\n$4\r\nPING\r\n"), (0, 0));
    }
}
