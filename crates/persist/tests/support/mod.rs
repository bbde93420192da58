//! What the tests against Debian's redis-server 7.0.15 share: starting it on a free 127.0.0.1
//! port (killed by its pid when dropped) and a minimal RESP client.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub mod pid_probe;

pub const REDIS_SERVER: &str = "/usr/bin/redis-server";

pub struct Redis {
    child: Child,
    pub port: u16,
    dir: std::path::PathBuf,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts redis-server 7.0.15 in `dir` on a free 127.0.0.1 port, with `extra` directives
/// (retried on another port if the picked one was taken meanwhile: see `pid_probe`).
pub fn start_redis(dir: std::path::PathBuf, extra: &[&str]) -> Redis {
    for _attempt in 0..5 {
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let mut child = Command::new(REDIS_SERVER)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            // Deep checks on everything RESTORE reads, so what we write passes Redis's sanitizer.
            .args(["--sanitize-dump-payload", "yes"])
            .args(extra)
            .args(["--dir", dir.to_str().expect("utf-8 dir"), "--dbfilename", "dump.rdb"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server 7.0.15 must be installed (compat/install-deps.sh)");
        if pid_probe::serving(&mut child, port) {
            return Redis { child, port, dir };
        }
        // Not ours: end what is left of this attempt (the directory serves the next).
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("redis-server did not start on any of 5 free ports");
}

/// A minimal RESP client: enough for the replies these checks read.
pub struct Client(BufReader<TcpStream>);

#[derive(Debug, PartialEq, Clone)]
pub enum Reply {
    Status(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Vec<Reply>),
    Error(String),
}

impl Client {
    pub fn connect(port: u16) -> Client {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        Client(BufReader::new(s))
    }

    pub fn call(&mut self, args: &[&[u8]]) -> Reply {
        match self.try_call(args) {
            Reply::Error(e) => panic!("redis-server answered an error: {e}"),
            reply => reply,
        }
    }

    /// Sends a command; an error reply is returned, not a panic.
    pub fn try_call(&mut self, args: &[&[u8]]) -> Reply {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        self.0.get_mut().write_all(&out).expect("write");
        self.read()
    }

    fn read(&mut self) -> Reply {
        let mut line = String::new();
        self.0.read_line(&mut line).expect("read");
        let body = line.trim_end().to_string();
        match body.as_bytes().first() {
            Some(b'+') => Reply::Status(body[1..].to_string()),
            Some(b'-') => Reply::Error(body[1..].to_string()),
            Some(b':') => Reply::Int(body[1..].parse().expect("int")),
            Some(b'$') => {
                let n: i64 = body[1..].parse().expect("len");
                if n < 0 {
                    return Reply::Bulk(None);
                }
                let mut b = vec![0u8; n as usize + 2];
                self.0.read_exact(&mut b).expect("bulk");
                b.truncate(n as usize);
                Reply::Bulk(Some(b))
            }
            Some(b'*') => {
                let n: i64 = body[1..].parse().expect("len");
                Reply::Array((0..n.max(0)).map(|_| self.read()).collect())
            }
            _ => panic!("unexpected reply line {body:?}"),
        }
    }
}
