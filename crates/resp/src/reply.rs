//! Reply encoding into a connection's output buffer, RESP2 or RESP3.
//!
//! Every command writes through [`ReplyBuf`], which knows the connection's protocol and degrades
//! RESP3-only types the way Redis does for RESP2 clients (maps become flat arrays, doubles become
//! bulk strings, null becomes `$-1` or `*-1`, booleans become integers, pushes become arrays).

use crate::float::format_double;

/// An output buffer plus the protocol version replies must be encoded in.
#[derive(Debug, Default)]
pub struct ReplyBuf {
    pub buf: Vec<u8>,
    resp3: bool,
}

#[inline]
fn push_u64(buf: &mut Vec<u8>, mut v: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
}

#[inline]
fn push_i64(buf: &mut Vec<u8>, v: i64) {
    if v < 0 {
        buf.push(b'-');
    }
    push_u64(buf, v.unsigned_abs());
}

impl ReplyBuf {
    pub fn new(resp3: bool) -> Self {
        ReplyBuf { buf: Vec::new(), resp3 }
    }

    #[inline]
    pub fn is_resp3(&self) -> bool {
        self.resp3
    }

    pub fn set_resp3(&mut self, resp3: bool) {
        self.resp3 = resp3;
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Drops everything written after `len` (used to retract a partial reply).
    pub fn truncate(&mut self, len: usize) {
        self.buf.truncate(len);
    }

    #[inline]
    fn header(&mut self, prefix: u8, n: i64) {
        self.buf.push(prefix);
        push_i64(&mut self.buf, n);
        self.buf.extend_from_slice(b"\r\n");
    }

    #[inline]
    pub fn ok(&mut self) {
        self.buf.extend_from_slice(b"+OK\r\n");
    }

    /// A status reply (`+text`). The text must not contain CR or LF.
    pub fn simple(&mut self, s: &str) {
        self.buf.push(b'+');
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    /// An error reply; `s` includes the code (`ERR ...`, `WRONGTYPE ...`). As Redis does, CR and
    /// LF inside the text are replaced by spaces so the reply stays one line.
    pub fn error<S: AsRef<[u8]> + ?Sized>(&mut self, s: &S) {
        self.buf.push(b'-');
        for &b in s.as_ref() {
            self.buf.push(if b == b'\r' || b == b'\n' { b' ' } else { b });
        }
        self.buf.extend_from_slice(b"\r\n");
    }

    #[inline]
    pub fn int(&mut self, v: i64) {
        self.buf.push(b':');
        push_i64(&mut self.buf, v);
        self.buf.extend_from_slice(b"\r\n");
    }

    #[inline]
    pub fn bulk(&mut self, data: &[u8]) {
        // The whole bulk at once (a "$" header holds at most 20 digits and two CRLFs): growing
        // for the data and then again for its CRLF doubled the buffer of a large reply.
        self.buf.reserve(data.len() + 25);
        self.header(b'$', data.len() as i64);
        self.buf.extend_from_slice(data);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// A bulk string holding an integer's decimal form.
    pub fn bulk_i64(&mut self, v: i64) {
        let mut tmp = Vec::with_capacity(20);
        push_i64(&mut tmp, v);
        self.bulk(&tmp);
    }

    /// A null bulk string: `$-1` in RESP2, `_` in RESP3.
    #[inline]
    pub fn null(&mut self) {
        if self.resp3 {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"$-1\r\n");
        }
    }

    /// A null array: `*-1` in RESP2, `_` in RESP3 (e.g. BLPOP timeout, EXEC abort).
    pub fn null_array(&mut self) {
        if self.resp3 {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"*-1\r\n");
        }
    }

    #[inline]
    pub fn array(&mut self, n: usize) {
        self.header(b'*', n as i64);
    }

    /// A map of `n` key/value pairs; RESP2 clients get a flat array of `2n` elements.
    pub fn map(&mut self, n: usize) {
        if self.resp3 {
            self.header(b'%', n as i64);
        } else {
            self.header(b'*', 2 * n as i64);
        }
    }

    /// A set of `n` elements; RESP2 clients get an array.
    pub fn set(&mut self, n: usize) {
        if self.resp3 {
            self.header(b'~', n as i64);
        } else {
            self.header(b'*', n as i64);
        }
    }

    /// An out-of-band push of `n` elements; RESP2 clients (pub/sub) get an array.
    pub fn push(&mut self, n: usize) {
        if self.resp3 {
            self.header(b'>', n as i64);
        } else {
            self.header(b'*', n as i64);
        }
    }

    /// A double: `,<%.17g>` in RESP3, a bulk string in RESP2.
    pub fn double(&mut self, d: f64) {
        let s = format_double(d);
        if self.resp3 {
            self.buf.push(b',');
            self.buf.extend_from_slice(s.as_bytes());
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(s.as_bytes());
        }
    }

    /// A boolean: `#t`/`#f` in RESP3, `:1`/`:0` in RESP2.
    pub fn boolean(&mut self, v: bool) {
        if self.resp3 {
            self.buf.extend_from_slice(if v { b"#t\r\n" } else { b"#f\r\n" });
        } else {
            self.int(v as i64);
        }
    }

    /// A verbatim string with a three-letter format (`txt`); RESP2 clients get a bulk string.
    pub fn verbatim(&mut self, format: &str, text: &[u8]) {
        if self.resp3 {
            // As `bulk`: the whole reply at once ("=", length, CRLF, "txt:", text, CRLF).
            self.buf.reserve(text.len() + format.len() + 26);
            self.header(b'=', (text.len() + 4) as i64);
            self.buf.extend_from_slice(format.as_bytes());
            self.buf.push(b':');
            self.buf.extend_from_slice(text);
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(text);
        }
    }

    /// A big number in RESP3, a bulk string in RESP2.
    pub fn big_number(&mut self, digits: &str) {
        if self.resp3 {
            self.buf.push(b'(');
            self.buf.extend_from_slice(digits.as_bytes());
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(digits.as_bytes());
        }
    }

    /// Appends bytes that are already a complete RESP encoding.
    pub fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resp2_degrades_resp3_types() {
        let mut r = ReplyBuf::new(false);
        r.map(1);
        r.bulk(b"a");
        r.double(1.5);
        r.null();
        r.boolean(true);
        assert_eq!(r.buf, b"*2\r\n$1\r\na\r\n$3\r\n1.5\r\n$-1\r\n:1\r\n");
        let mut r = ReplyBuf::new(true);
        r.map(1);
        r.bulk(b"a");
        r.double(1.5);
        r.null();
        r.boolean(true);
        r.verbatim("txt", b"hi");
        assert_eq!(r.buf, b"%1\r\n$1\r\na\r\n,1.5\r\n_\r\n#t\r\n=6\r\ntxt:hi\r\n");
    }

    #[test]
    fn integers_and_errors() {
        let mut r = ReplyBuf::new(false);
        r.int(i64::MIN);
        r.int(0);
        r.error("ERR bad\r\nthing");
        assert_eq!(r.buf, b":-9223372036854775808\r\n:0\r\n-ERR bad  thing\r\n");
    }
}
