//! The `redoxide-cli` binary end to end against a scripted fake server: exit codes, stderr lines and
//! the stdin and `--pipe` modes, with the outputs Debian's redis-cli 7.0.15 gives for the same
//! exchanges (compat/cli/diff.py checks the same against a real redis-server).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::thread;

/// A server that answers the n-th request it reads with `replies[n]` (one read = one request).
fn fake_server(replies: Vec<&'static [u8]>) -> (u16, thread::JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let handle = thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        let mut seen = Vec::new();
        for reply in replies {
            let mut buf = [0u8; 4096];
            let n = s.read(&mut buf).unwrap_or(0);
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
            s.write_all(reply).expect("write");
        }
        seen
    });
    (port, handle)
}

fn run(args: &[&str], stdin: &[u8]) -> (String, String, i32) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_redoxide-cli"))
        .args(args)
        .env_remove("FAKETTY")
        .env_remove("REDISCLI_AUTH")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(stdin);
    }
    let out = child.wait_with_output().expect("wait");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

#[test]
fn error_reply_in_raw_mode_exits_0_but_1_with_e() {
    let (port, h) = fake_server(vec![b"-ERR boom\r\n"]);
    let p = port.to_string();
    assert_eq!(run(&["-p", &p, "incr", "x"], b""), ("ERR boom\n\n".into(), String::new(), 0));
    assert_eq!(h.join().expect("server"), b"*2\r\n$4\r\nincr\r\n$1\r\nx\r\n");
    let (port, _h) = fake_server(vec![b"-ERR boom\r\n"]);
    let p = port.to_string();
    assert_eq!(run(&["-p", &p, "-e", "incr", "x"], b""), (String::new(), "ERR boom\n".into(), 1));
}

#[test]
fn auth_select_and_the_password_warning() {
    let (port, h) = fake_server(vec![b"+OK\r\n", b"+OK\r\n", b":5\r\n"]);
    let p = port.to_string();
    let got = run(&["-p", &p, "-a", "pw", "-n", "2", "--no-raw", "dbsize"], b"");
    assert_eq!(
        got,
        (
            "(integer) 5\n".into(),
            "Warning: Using a password with '-a' or '-u' option on the command line interface may not be safe.\n"
                .into(),
            0
        )
    );
    let seen = h.join().expect("server");
    assert_eq!(seen, b"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n*1\r\n$6\r\ndbsize\r\n");
}

#[test]
fn connection_refused() {
    let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("port");
    let p = port.to_string();
    let want = format!("Could not connect to Redis at 127.0.0.1:{p}: Connection refused\n");
    assert_eq!(run(&["-p", &p, "ping"], b""), (String::new(), want, 1));
}

#[test]
fn stdin_mode_splits_lines_like_redis_cli() {
    // The first request is COMMAND DOCS, which redis-cli's prompt sends to load its help.
    let (port, h) = fake_server(vec![b"*0\r\n", b"+OK\r\n", b"$2\r\na\"\r\n"]);
    let p = port.to_string();
    let got = run(&["-p", &p, "--no-raw"], b"set k \"a\\\"\"\nbad \"x\nget k\n");
    assert_eq!(got, ("OK\nInvalid argument(s)\n\"a\\\"\"\n".into(), String::new(), 0));
    let seen = h.join().expect("server");
    assert_eq!(seen[..27], b"*2\r\n$7\r\nCOMMAND\r\n$4\r\nDOCS\r\n"[..]);
    assert_eq!(seen[27..], b"*3\r\n$3\r\nset\r\n$1\r\nk\r\n$2\r\na\"\r\n*2\r\n$3\r\nget\r\n$1\r\nk\r\n"[..]);
}

#[test]
fn repeat_and_x() {
    let (port, h) = fake_server(vec![b":1\r\n", b":2\r\n"]);
    let p = port.to_string();
    assert_eq!(run(&["-p", &p, "-r", "2", "incr", "n"], b""), ("1\n2\n".into(), String::new(), 0));
    drop(h);
    let (port, h) = fake_server(vec![b"+OK\r\n"]);
    let p = port.to_string();
    assert_eq!(run(&["-p", &p, "-x", "set", "k"], b"v\n"), ("OK\n".into(), String::new(), 0));
    assert_eq!(h.join().expect("server"), b"*3\r\n$3\r\nset\r\n$1\r\nk\r\n$2\r\nv\n\r\n");
}

#[test]
fn unknown_option_and_reply_type() {
    assert_eq!(
        run(&["--bogus"], b""),
        (String::new(), "Unrecognized option or bad number of args for: '--bogus'\n".into(), 1)
    );
    let (port, _h) = fake_server(vec![b"(123\r\n"]);
    let p = port.to_string();
    assert_eq!(run(&["-p", &p, "x"], b""), (String::new(), "Unknown reply type: 13\n".into(), 1));
}

#[test]
fn monitor_prints_until_an_error_reply() {
    // The fake server sends the whole stream at once after reading MONITOR.
    let (port, _h) = fake_server(vec![b"+OK\r\n+1700000000.123456 [0 127.0.0.1:5] \"ping\"\r\n-ERR stop\r\n"]);
    let p = port.to_string();
    assert_eq!(
        run(&["-p", &p, "monitor"], b""),
        ("OK\n1700000000.123456 [0 127.0.0.1:5] \"ping\"\nERR stop\n\n".into(), String::new(), 0)
    );
}
