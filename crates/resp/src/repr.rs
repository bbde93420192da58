//! Redis's `sdscatrepr`, the quoted form Redis prints bytes in (MONITOR lines, CONFIG REWRITE
//! values, AOF manifest names, redis-cli's output). Owns only the quoting; never allocates
//! beyond the output buffer it is given and never fails.

/// Redis's `sdscatrepr`: a double-quoted string with `\\ \" \n \r \t \a \b` escaped, printable ASCII as
/// is and every other byte as `\xhh`. Bytes >= 0x80 are escaped too (redis-cli runs in the C locale),
/// so UTF-8 text shows as `"h\xc3\xa9llo"`.
pub fn repr(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &c in s {
        match c {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x07 => out.extend_from_slice(b"\\a"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x20..=0x7e => out.push(c),
            _ => out.extend_from_slice(format!("\\x{c:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}
