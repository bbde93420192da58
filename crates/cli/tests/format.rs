//! The formatter against redis-cli 7.0.15's exact output for every reply type in every mode.
//!
//! `fixtures/format.json` was captured from Debian's /usr/bin/redis-cli by
//! `compat/cli/capture_format.py`: a fake server answers one canned payload, redis-cli prints it with
//! `--no-raw`, `--raw` and `--csv`. Here the same payload goes through our parser and formatter and
//! must give the same stdout (or the same failure: redis-cli's stderr line and exit code 1).

use cli::format::{format_reply, Mode};
use cli::reply::{parse_reply, Reply};

struct Case {
    name: String,
    mode: String,
    payload: Vec<u8>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    exit: i64,
}

/// The fixture stores bytes as latin-1 strings (one char per byte).
fn bytes(v: &serde_json::Value) -> Vec<u8> {
    v.as_str().unwrap_or_default().chars().map(|c| c as u32 as u8).collect()
}

fn cases() -> Vec<Case> {
    let text = include_str!("fixtures/format.json");
    let all: serde_json::Value = serde_json::from_str(text).expect("fixture is JSON");
    all.as_array()
        .expect("fixture is a list")
        .iter()
        .map(|c| Case {
            name: c["name"].as_str().unwrap_or_default().to_string(),
            mode: c["mode"].as_str().unwrap_or_default().to_string(),
            payload: bytes(&c["payload"]),
            stdout: bytes(&c["stdout"]),
            stderr: bytes(&c["stderr"]),
            exit: c["exit"].as_i64().unwrap_or(-1),
        })
        .collect()
}

/// What redoxide-cli prints for one reply read by a one-shot command, as (stdout, stderr, exit).
fn ours(payload: &[u8], mode: Mode) -> (Vec<u8>, Vec<u8>, i64) {
    match parse_reply(payload) {
        Err(e) => (Vec::new(), format!("Error: {e}\n").into_bytes(), 1),
        // Not a complete reply: the fake server then closes the connection.
        Ok(None) => (Vec::new(), b"Error: Server closed the connection\n".to_vec(), 1),
        // With stdout not a terminal redis-cli drops push messages and waits for the real reply,
        // which the fake server never sends.
        Ok(Some((Reply::Push(_), _))) => (Vec::new(), b"Error: Server closed the connection\n".to_vec(), 1),
        Ok(Some((r, _))) => match format_reply(&r, mode, false, b"\n", b"\n") {
            Ok(out) => (out, Vec::new(), 0),
            Err(e) => (Vec::new(), format!("{e}\n").into_bytes(), 1),
        },
    }
}

#[test]
fn every_reply_type_in_every_mode_matches_redis_cli() {
    let cases = cases();
    assert!(cases.len() >= 90, "fixture has {} cases", cases.len());
    let mut failures = Vec::new();
    for c in &cases {
        let mode = match c.mode.as_str() {
            "tty" => Mode::Tty,
            "raw" => Mode::Raw,
            _ => Mode::Csv,
        };
        let got = ours(&c.payload, mode);
        let want = (c.stdout.clone(), c.stderr.clone(), c.exit);
        if got != want {
            failures.push(format!(
                "{} {}:\n  redis-cli: {:?}\n  ours:      {:?}",
                c.name,
                c.mode,
                (String::from_utf8_lossy(&want.0), String::from_utf8_lossy(&want.1), want.2),
                (String::from_utf8_lossy(&got.0), String::from_utf8_lossy(&got.1), got.2)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn fixture_covers_every_shape() {
    let names: Vec<String> = cases().into_iter().map(|c| c.name).collect();
    for needed in [
        "status",
        "error",
        "integer",
        "bulk",
        "bulk_binary",
        "bulk_unicode",
        "nil",
        "resp3_null",
        "empty_array",
        "nested",
        "nested_wide",
        "map",
        "map_nested",
        "empty_map",
        "set",
        "empty_set",
        "double",
        "true",
        "false",
        "verbatim",
        "push",
        "bignum",
        "attribute",
    ] {
        assert!(names.iter().any(|n| n == needed), "fixture lacks {needed}");
    }
}
