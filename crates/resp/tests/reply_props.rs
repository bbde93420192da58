//! Property tests for reply encoding: random reply trees written through `ReplyBuf` decode, with
//! a small independent RESP reader, to the same values in RESP2 and RESP3, with RESP3-only types
//! degraded for RESP2 the way Redis does.

use proptest::collection::vec;
use proptest::prelude::*;
use resp::ReplyBuf;

/// A reply as a command means it, before encoding.
#[derive(Clone, Debug)]
enum Reply {
    Ok,
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    BulkI64(i64),
    Null,
    NullArray,
    Array(Vec<Reply>),
    Map(Vec<(Reply, Reply)>),
    Set(Vec<Reply>),
    Push(Vec<Reply>),
    Double(f64),
    Boolean(bool),
    Verbatim(Vec<u8>),
    BigNumber(String),
}

fn write(r: &Reply, out: &mut ReplyBuf) {
    match r {
        Reply::Ok => out.ok(),
        Reply::Simple(s) => out.simple(s),
        Reply::Error(s) => out.error(s),
        Reply::Int(v) => out.int(*v),
        Reply::Bulk(b) => out.bulk(b),
        Reply::BulkI64(v) => out.bulk_i64(*v),
        Reply::Null => out.null(),
        Reply::NullArray => out.null_array(),
        Reply::Array(items) => {
            out.array(items.len());
            items.iter().for_each(|i| write(i, out));
        }
        Reply::Map(pairs) => {
            out.map(pairs.len());
            for (k, v) in pairs {
                write(k, out);
                write(v, out);
            }
        }
        Reply::Set(items) => {
            out.set(items.len());
            items.iter().for_each(|i| write(i, out));
        }
        Reply::Push(items) => {
            out.push(items.len());
            items.iter().for_each(|i| write(i, out));
        }
        Reply::Double(d) => out.double(*d),
        Reply::Boolean(b) => out.boolean(*b),
        Reply::Verbatim(t) => out.verbatim("txt", t),
        Reply::BigNumber(d) => out.big_number(d),
    }
}

/// One decoded RESP frame.
#[derive(Clone, Debug, PartialEq)]
enum Frame {
    Simple(Vec<u8>),
    Error(Vec<u8>),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Frame>>),
    Null,
    Map(Vec<(Frame, Frame)>),
    Set(Vec<Frame>),
    Push(Vec<Frame>),
    Double(Vec<u8>),
    Boolean(bool),
    Verbatim(Vec<u8>, Vec<u8>),
    BigNumber(Vec<u8>),
}

/// A deliberately simple, strict RESP2/RESP3 reader (written from the protocol spec, sharing
/// nothing with the encoder): returns the frame at `buf[*pos..]` and advances `pos` past it.
fn read_frame(buf: &[u8], pos: &mut usize) -> Result<Frame, String> {
    let line = read_line(buf, pos)?;
    let (&kind, body) = line.split_first().ok_or("empty line")?;
    let number = |b: &[u8]| -> Result<i64, String> {
        std::str::from_utf8(b).ok().and_then(|s| s.parse::<i64>().ok()).ok_or(format!("bad number {b:?}"))
    };
    let items =
        |n: i64, pos: &mut usize| -> Result<Vec<Frame>, String> { (0..n).map(|_| read_frame(buf, pos)).collect() };
    Ok(match kind {
        b'+' => Frame::Simple(body.to_vec()),
        b'-' => Frame::Error(body.to_vec()),
        b':' => Frame::Int(number(body)?),
        b'$' => match number(body)? {
            -1 => Frame::Bulk(None),
            n if n >= 0 => Frame::Bulk(Some(read_payload(buf, pos, n as usize)?)),
            n => return Err(format!("bulk length {n}")),
        },
        b'=' => {
            let payload = read_payload(buf, pos, number(body)? as usize)?;
            if payload.len() < 4 || payload[3] != b':' {
                return Err("verbatim without format".into());
            }
            Frame::Verbatim(payload[..3].to_vec(), payload[4..].to_vec())
        }
        b'*' => match number(body)? {
            -1 => Frame::Array(None),
            n => Frame::Array(Some(items(n, pos)?)),
        },
        b'~' => Frame::Set(items(number(body)?, pos)?),
        b'>' => Frame::Push(items(number(body)?, pos)?),
        b'%' => {
            let flat = items(2 * number(body)?, pos)?;
            Frame::Map(flat.chunks(2).map(|kv| (kv[0].clone(), kv[1].clone())).collect())
        }
        b'_' if body.is_empty() => Frame::Null,
        b'#' => match body {
            b"t" => Frame::Boolean(true),
            b"f" => Frame::Boolean(false),
            _ => return Err("bad boolean".into()),
        },
        b',' => Frame::Double(body.to_vec()),
        b'(' => Frame::BigNumber(body.to_vec()),
        other => return Err(format!("unknown type byte {:?}", other as char)),
    })
}

fn read_line<'a>(buf: &'a [u8], pos: &mut usize) -> Result<&'a [u8], String> {
    let rest = &buf[*pos..];
    let end = rest.windows(2).position(|w| w == b"\r\n").ok_or("no CRLF")?;
    let line = &rest[..end];
    if line.contains(&b'\r') || line.contains(&b'\n') {
        return Err("CR or LF inside a line".into());
    }
    *pos += end + 2;
    Ok(line)
}

fn read_payload(buf: &[u8], pos: &mut usize, len: usize) -> Result<Vec<u8>, String> {
    let end = pos.checked_add(len).filter(|&e| e + 2 <= buf.len()).ok_or("payload past the end")?;
    if &buf[end..end + 2] != b"\r\n" {
        return Err("payload not followed by CRLF".into());
    }
    let payload = buf[*pos..end].to_vec();
    *pos = end + 2;
    Ok(payload)
}

/// The text of a double must parse back to the same double (%.17g round-trips every f64).
fn same_double(text: &[u8], d: f64) -> Result<(), TestCaseError> {
    let s = std::str::from_utf8(text).map_err(|_| TestCaseError::fail("double not UTF-8"))?;
    let back: f64 = s.parse().map_err(|_| TestCaseError::fail(format!("double text {s:?}")))?;
    prop_assert!(back.to_bits() == d.to_bits() || (back.is_nan() && d.is_nan()), "{s} is not {d}");
    Ok(())
}

/// Checks that `frame` is what `reply` must look like on a connection of the given protocol.
fn check(reply: &Reply, frame: &Frame, resp3: bool) -> Result<(), TestCaseError> {
    let all = |items: &[Reply], frames: &[Frame]| -> Result<(), TestCaseError> {
        prop_assert_eq!(items.len(), frames.len());
        items.iter().zip(frames).try_for_each(|(i, f)| check(i, f, resp3))
    };
    match (reply, frame) {
        (Reply::Ok, Frame::Simple(s)) => prop_assert_eq!(s, b"OK"),
        (Reply::Simple(t), Frame::Simple(s)) => prop_assert_eq!(s, t.as_bytes()),
        (Reply::Error(t), Frame::Error(s)) => {
            let expected: Vec<u8> = t.bytes().map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }).collect();
            prop_assert_eq!(s, &expected);
        }
        (Reply::Int(v), Frame::Int(x)) => prop_assert_eq!(v, x),
        (Reply::Bulk(b), Frame::Bulk(Some(x))) => prop_assert_eq!(b, x),
        (Reply::BulkI64(v), Frame::Bulk(Some(x))) => prop_assert_eq!(v.to_string().into_bytes(), x.clone()),
        (Reply::Null, Frame::Null) if resp3 => {}
        (Reply::Null, Frame::Bulk(None)) if !resp3 => {}
        (Reply::NullArray, Frame::Null) if resp3 => {}
        (Reply::NullArray, Frame::Array(None)) if !resp3 => {}
        (Reply::Array(items), Frame::Array(Some(frames))) => all(items, frames)?,
        (Reply::Map(pairs), Frame::Map(frames)) if resp3 => {
            prop_assert_eq!(pairs.len(), frames.len());
            for ((k, v), (fk, fv)) in pairs.iter().zip(frames) {
                check(k, fk, resp3)?;
                check(v, fv, resp3)?;
            }
        }
        (Reply::Map(pairs), Frame::Array(Some(frames))) if !resp3 => {
            let flat: Vec<Reply> = pairs.iter().flat_map(|(k, v)| [k.clone(), v.clone()]).collect();
            all(&flat, frames)?
        }
        (Reply::Set(items), Frame::Set(frames)) if resp3 => all(items, frames)?,
        (Reply::Push(items), Frame::Push(frames)) if resp3 => all(items, frames)?,
        (Reply::Set(items) | Reply::Push(items), Frame::Array(Some(frames))) if !resp3 => all(items, frames)?,
        (Reply::Double(d), Frame::Double(text)) if resp3 => same_double(text, *d)?,
        (Reply::Double(d), Frame::Bulk(Some(text))) if !resp3 => same_double(text, *d)?,
        (Reply::Boolean(b), Frame::Boolean(x)) if resp3 => prop_assert_eq!(b, x),
        (Reply::Boolean(b), Frame::Int(x)) if !resp3 => prop_assert_eq!(i64::from(*b), *x),
        (Reply::Verbatim(t), Frame::Verbatim(format, x)) if resp3 => {
            prop_assert_eq!(format, b"txt");
            prop_assert_eq!(t, x);
        }
        (Reply::Verbatim(t), Frame::Bulk(Some(x))) if !resp3 => prop_assert_eq!(t, x),
        (Reply::BigNumber(d), Frame::BigNumber(x)) if resp3 => prop_assert_eq!(d.as_bytes(), x.as_slice()),
        (Reply::BigNumber(d), Frame::Bulk(Some(x))) if !resp3 => prop_assert_eq!(d.as_bytes(), x.as_slice()),
        (r, f) => prop_assert!(false, "{r:?} encoded as {f:?} (resp3: {resp3})"),
    }
    Ok(())
}

fn double() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => any::<f64>(),
        2 => (-1e6f64..1e6).prop_map(|d| (d * 1000.0).round() / 1000.0),
        1 => prop::sample::select(vec![0.0, -0.0, f64::INFINITY, f64::NEG_INFINITY, f64::MIN_POSITIVE, 1e17, 1e-5]),
    ]
}

fn leaf() -> impl Strategy<Value = Reply> {
    prop_oneof![
        Just(Reply::Ok),
        "[ -~]{0,20}".prop_map(Reply::Simple),
        "(ERR|WRONGTYPE) [ -~\r\n]{0,20}".prop_map(Reply::Error),
        any::<i64>().prop_map(Reply::Int),
        vec(any::<u8>(), 0..30).prop_map(Reply::Bulk),
        any::<i64>().prop_map(Reply::BulkI64),
        Just(Reply::Null),
        Just(Reply::NullArray),
        double().prop_map(Reply::Double),
        any::<bool>().prop_map(Reply::Boolean),
        vec(any::<u8>(), 0..30).prop_map(Reply::Verbatim),
        "-?[1-9][0-9]{0,40}".prop_map(Reply::BigNumber),
    ]
}

fn reply() -> impl Strategy<Value = Reply> {
    leaf().prop_recursive(3, 40, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Reply::Array),
            vec((inner.clone(), inner.clone()), 0..4).prop_map(Reply::Map),
            vec(inner.clone(), 0..6).prop_map(Reply::Set),
            vec(inner, 0..6).prop_map(Reply::Push),
        ]
    })
}

proptest! {
    #[test]
    fn replies_decode_to_what_was_written(replies in vec(reply(), 1..6)) {
        for resp3 in [false, true] {
            let mut out = ReplyBuf::new(resp3);
            replies.iter().for_each(|r| write(r, &mut out));
            let mut pos = 0;
            for r in &replies {
                let frame = read_frame(&out.buf, &mut pos).map_err(TestCaseError::fail)?;
                check(r, &frame, resp3)?;
            }
            prop_assert_eq!(pos, out.buf.len(), "trailing bytes after the last reply");
        }
    }

    #[test]
    fn truncate_retracts_a_partial_reply(first in reply(), partial in reply(), resp3 in any::<bool>()) {
        let mut out = ReplyBuf::new(resp3);
        write(&first, &mut out);
        let mark = out.len();
        write(&partial, &mut out);
        out.truncate(mark);
        let mut pos = 0;
        let frame = read_frame(&out.buf, &mut pos).map_err(TestCaseError::fail)?;
        check(&first, &frame, resp3)?;
        prop_assert_eq!(pos, out.buf.len());
    }
}
