//! Property tests for request parsing: multibulk round trips through arbitrary read splits,
//! arbitrary bytes never panicking or producing spans outside the buffer, and inline requests
//! with every quoting style round-tripping through a quoting encoder.

use proptest::collection::vec;
use proptest::prelude::*;
use resp::{parse_request, split_args, ArgSpan, Limits, ParseError, Parsed};

fn encode_multibulk(args: &[Vec<u8>]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Mostly short arguments, sometimes a few KiB so a bulk spans several reads.
fn arg() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => vec(any::<u8>(), 0..24),
        1 => vec(any::<u8>(), 1000..5000),
    ]
}

fn command() -> impl Strategy<Value = Vec<Vec<u8>>> {
    vec(arg(), 1..8)
}

/// Parses every complete command at the front of `buf`, draining what it consumes, as a
/// connection does after each read. Checks each `Incomplete` against the command that is really
/// next: it must ask for more than is buffered, and no more than that command's length.
fn drain_commands(buf: &mut Vec<u8>, expected: &[Vec<u8>], got: &mut Vec<Vec<Vec<u8>>>) {
    let mut spans = Vec::new();
    loop {
        match parse_request(buf, &Limits::default(), &mut spans) {
            Ok(Parsed::Multibulk { consumed }) => {
                got.push(spans.iter().map(|s| s.of(buf).to_vec()).collect());
                buf.drain(..consumed);
            }
            Ok(Parsed::Incomplete { min_total }) => {
                assert!(min_total > buf.len(), "asks for {min_total} with {} buffered", buf.len());
                if let Some(next) = expected.get(got.len()) {
                    assert!(min_total <= next.len(), "asks for {min_total}, the command is {}", next.len());
                }
                return;
            }
            other => panic!("unexpected {other:?} after {} commands", got.len()),
        }
    }
}

proptest! {
    #[test]
    fn concatenated_multibulk_commands_parse_back_one_by_one(cmds in vec(command(), 1..6)) {
        let encoded: Vec<Vec<u8>> = cmds.iter().map(|c| encode_multibulk(c)).collect();
        let all = encoded.concat();
        let mut pos = 0;
        let mut spans = Vec::new();
        for (cmd, enc) in cmds.iter().zip(&encoded) {
            let parsed = parse_request(&all[pos..], &Limits::default(), &mut spans);
            prop_assert_eq!(parsed, Ok(Parsed::Multibulk { consumed: enc.len() }));
            let args: Vec<Vec<u8>> = spans.iter().map(|s| s.of(&all[pos..]).to_vec()).collect();
            prop_assert_eq!(&args, cmd);
            pos += enc.len();
        }
        prop_assert_eq!(pos, all.len());
        prop_assert_eq!(parse_request(&all[pos..], &Limits::default(), &mut spans), Ok(Parsed::Incomplete { min_total: 1 }));
    }

    #[test]
    fn partial_reads_at_random_split_points_give_the_same_commands(
        cmds in vec(command(), 1..6),
        cuts in vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let encoded: Vec<Vec<u8>> = cmds.iter().map(|c| encode_multibulk(c)).collect();
        let all = encoded.concat();
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(all.len() + 1)).collect();
        points.push(all.len());
        points.sort_unstable();
        let mut buf = Vec::new();
        let mut got = Vec::new();
        let mut from = 0;
        for to in points {
            buf.extend_from_slice(&all[from..to]);
            from = to;
            drain_commands(&mut buf, &encoded, &mut got);
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(got, cmds);
    }

    #[test]
    fn one_byte_reads_give_the_same_commands(cmds in vec(vec(vec(any::<u8>(), 0..12), 1..5), 1..4)) {
        let encoded: Vec<Vec<u8>> = cmds.iter().map(|c| encode_multibulk(c)).collect();
        let mut buf = Vec::new();
        let mut got = Vec::new();
        for &b in &encoded.concat() {
            buf.push(b);
            drain_commands(&mut buf, &encoded, &mut got);
        }
        prop_assert_eq!(got, cmds);
    }
}

/// Bytes biased toward RESP's structure so random input reaches the deeper parser paths.
fn resp_ish_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        4 => 0u8..=255,
        1 => Just(0u8),
        2 => prop::sample::select(b"*$\r\n".to_vec()),
        2 => b'0'..=b'9',
        1 => prop::sample::select(b"-+ \"'\\x".to_vec()),
    ]
}

fn check_spans(spans: &[ArgSpan], consumed: usize) -> Result<(), TestCaseError> {
    for span in spans {
        prop_assert!(span.start as usize + span.len as usize <= consumed, "{span:?} past {consumed}");
    }
    Ok(())
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_or_escape_the_buffer(
        buf in vec(resp_ish_byte(), 0..400),
        max_bulk_len in prop_oneof![Just(512 * 1024 * 1024i64), 0i64..40],
        unauthenticated in any::<bool>(),
    ) {
        let limits = Limits { max_bulk_len, unauthenticated };
        let mut spans = Vec::new();
        let mut pos = 0;
        // Bounded: every step consumes at least one byte or stops.
        while pos <= buf.len() {
            let seg = &buf[pos..];
            match parse_request(seg, &limits, &mut spans) {
                Ok(Parsed::Multibulk { consumed }) => {
                    prop_assert!(consumed > 0 && consumed <= seg.len());
                    check_spans(&spans, consumed)?;
                    for span in &spans {
                        prop_assert!(i64::from(span.len) <= max_bulk_len);
                    }
                    pos += consumed;
                }
                Ok(Parsed::Inline { consumed, args }) => {
                    prop_assert!(consumed > 0 && consumed <= seg.len());
                    prop_assert!(!args.is_empty());
                    prop_assert_eq!(seg[consumed - 1], b'\n');
                    pos += consumed;
                }
                Ok(Parsed::Skip { consumed }) => {
                    prop_assert!(consumed > 0 && consumed <= seg.len());
                    pos += consumed;
                }
                Ok(Parsed::Incomplete { min_total }) => {
                    prop_assert!(min_total > seg.len());
                    break;
                }
                Err(e) => {
                    prop_assert!(e.reply_text().starts_with("ERR Protocol error: "));
                    break;
                }
            }
        }
    }
}

/// How one inline argument is written on the line.
#[derive(Clone, Copy, Debug)]
enum Quoting {
    Bare,
    Single,
    Double,
}

/// Writes `args` as one inline request line, each argument in its chosen quoting when that form
/// can carry it (double quotes with escapes can carry anything), separated by `seps`.
fn quote_inline(args: &[Vec<u8>], quoting: &[Quoting], seps: &[&[u8]]) -> Vec<u8> {
    let mut line = Vec::new();
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            line.extend_from_slice(seps[i % seps.len()]);
        }
        let bare_ok = !arg.is_empty()
            && (i > 0 || arg[0] != b'*')
            && arg.iter().all(|&b| !matches!(b, b' ' | b'\n' | b'\r' | b'\t' | 0 | 0x0b | 0x0c | b'"' | b'\''));
        // Inside single quotes only \' is an escape: a trailing backslash would eat the quote. A
        // raw NUL is left to double quotes' \x00, since Redis's splitter stops at a NUL.
        let single_ok = arg.last() != Some(&b'\\') && !arg.contains(&b'\n') && !arg.contains(&0);
        match quoting[i % quoting.len()] {
            Quoting::Bare if bare_ok => line.extend_from_slice(arg),
            Quoting::Single if single_ok => {
                line.push(b'\'');
                for &b in arg {
                    if b == b'\'' {
                        line.push(b'\\');
                    }
                    line.push(b);
                }
                line.push(b'\'');
            }
            _ => {
                line.push(b'"');
                for &b in arg {
                    match b {
                        b'\\' => line.extend_from_slice(b"\\\\"),
                        b'"' => line.extend_from_slice(b"\\\""),
                        b'\n' => line.extend_from_slice(b"\\n"),
                        b'\r' => line.extend_from_slice(b"\\r"),
                        b'\t' => line.extend_from_slice(b"\\t"),
                        0x07 => line.extend_from_slice(b"\\a"),
                        0x08 => line.extend_from_slice(b"\\b"),
                        0x20..=0x7e => line.push(b),
                        _ => line.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
                    }
                }
                line.push(b'"');
            }
        }
    }
    line
}

fn quoting() -> impl Strategy<Value = Quoting> {
    prop_oneof![Just(Quoting::Bare), Just(Quoting::Single), Just(Quoting::Double)]
}

proptest! {
    #[test]
    fn inline_requests_round_trip_through_quoting(
        args in vec(vec(any::<u8>(), 0..16), 1..6),
        quoting in vec(quoting(), 1..6),
        seps in vec(prop::sample::select(vec![&b" "[..], b"  ", b"\t", b" \t "]), 1..3),
        leading in prop::sample::select(vec![&b""[..], b" ", b"\t"]),
        crlf in any::<bool>(),
    ) {
        let mut request = leading.to_vec();
        request.extend_from_slice(&quote_inline(&args, &quoting, &seps));
        prop_assert_eq!(split_args(&request), Some(args.clone()));
        request.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
        let mut spans = Vec::new();
        let parsed = parse_request(&request, &Limits::default(), &mut spans);
        prop_assert_eq!(parsed, Ok(Parsed::Inline { consumed: request.len(), args }));
    }

    #[test]
    fn inline_requests_are_incomplete_until_the_newline(args in vec(vec(1u8..=255, 1..10), 1..4)) {
        let mut request = quote_inline(&args, &[Quoting::Double], &[b" "]);
        request.push(b'\n');
        let mut spans = Vec::new();
        for cut in 0..request.len() {
            let parsed = parse_request(&request[..cut], &Limits::default(), &mut spans);
            prop_assert_eq!(parsed, Ok(Parsed::Incomplete { min_total: cut + 1 }));
        }
    }

    #[test]
    fn a_closing_quote_glued_to_a_word_is_unbalanced(word in "[a-z]{1,8}", tail in "[a-z]{1,8}") {
        let request = format!("set \"{word}\"{tail}\r\n");
        let mut spans = Vec::new();
        prop_assert_eq!(
            parse_request(request.as_bytes(), &Limits::default(), &mut spans),
            Err(ParseError::UnbalancedQuotes)
        );
    }
}
