//! Test support: start a real redoxide-server on a free 127.0.0.1 port, talk raw RESP to it,
//! and kill it by pid when the test ends.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Polls `f` every 50 ms until it holds; panics naming `what` after `limit`.
pub fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

pub struct Server {
    child: Child,
    pub port: u16,
    pub dir: PathBuf,
    /// False for a directory the test handed in (it outlives the server, e.g. for a restart).
    owns_dir: bool,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if self.owns_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A port nobody listens on right now (the OS picks it; we release it just before use).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// True if process `pid` holds the socket listening on TCP `port` (Linux: the LISTEN entry's
/// inode in /proc/net/tcp among the process's open sockets). Asking the server itself was
/// rejected: a server with requirepass does not answer before AUTH.
pub fn listens_on(pid: u32, port: u16) -> bool {
    let Ok(table) = std::fs::read_to_string("/proc/net/tcp") else { return false };
    let suffix = format!(":{port:04X}");
    let inodes: Vec<String> = table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            (f.len() > 9 && f[1].ends_with(&suffix) && f[3] == "0A").then(|| format!("socket:[{}]", f[9]))
        })
        .collect();
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return false };
    fds.filter_map(Result::ok)
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .any(|target| inodes.iter().any(|i| target.to_str() == Some(i.as_str())))
}

/// A port for a cluster node: at most 55535 (Redis refuses more, its bus port is +10000), below
/// the ephemeral range so no client socket takes it meanwhile, with both it and its bus port
/// free now; distinct within this process.
pub fn cluster_port() -> u16 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let seed = std::process::id() % 5000;
    for _ in 0..5000 {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let port = 12_000 + ((seed + n * 7) % 8000) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
    panic!("no free cluster port");
}

impl Server {
    /// A cluster-mode node (`cluster-enabled yes`) on a port whose bus port is free too, with its
    /// own temporary directory.
    pub fn start_cluster_node(extra: &[&str]) -> Server {
        let port = cluster_port();
        let dir = std::env::temp_dir().join(format!("redoxide-test-{}-{}", std::process::id(), port));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut args = vec!["--cluster-enabled", "yes"];
        args.extend_from_slice(extra);
        Server::launch(port, dir, true, &args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A cluster-mode node whose `dir` is `dir` (kept when the server ends, for a restart).
    pub fn start_cluster_in(dir: &std::path::Path, extra: &[&str]) -> Result<Server, String> {
        let mut args = vec!["--cluster-enabled", "yes"];
        args.extend_from_slice(extra);
        Server::launch(cluster_port(), dir.to_path_buf(), false, &args)
    }

    pub fn start(extra: &[&str]) -> Server {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("redoxide-test-{}-{}", std::process::id(), port));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Server::launch(port, dir, true, extra).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts a server whose `dir` is `dir` (kept when the server ends), or says why it could
    /// not: it exited (with its status) or never listened.
    pub fn start_in(dir: &std::path::Path, extra: &[&str]) -> Result<Server, String> {
        Server::launch(free_port(), dir.to_path_buf(), false, extra)
    }

    /// Waits (bounded) for the process to exit by itself; its status, or None if still running.
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    fn launch(port: u16, dir: PathBuf, owns_dir: bool, extra: &[&str]) -> Result<Server, String> {
        let mut args: Vec<String> = vec![
            "--port".into(),
            port.to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--dir".into(),
            dir.display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let child = Command::new(env!("CARGO_BIN_EXE_redoxide-server"))
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redoxide-server");
        let mut server = Server { child, port, dir, owns_dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            // Our own process must hold the listening socket: another process that took the
            // port meanwhile would also accept the connection (and our server would have exited).
            if TcpStream::connect(("127.0.0.1", port)).is_ok() && listens_on(server.child.id(), port) {
                return Ok(server);
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!("redoxide-server exited during start-up: {status}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!("redoxide-server did not start on port {port}"))
    }

    pub fn client(&self) -> Client {
        Client::connect(self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (e.g. "-TERM") to the server's process.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill").args([signal, &self.child.id().to_string()]).status().expect("kill");
        assert!(status.success(), "kill {signal}");
    }
}

/// A reply, with RESP3 types kept apart.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    Null,
    Array(Vec<Reply>),
    Map(Vec<(Reply, Reply)>),
    Set(Vec<Reply>),
    Double(String),
    Bool(bool),
    Verbatim(String, Vec<u8>),
    Push(Vec<Reply>),
}

impl Reply {
    pub fn bulk(s: &str) -> Reply {
        Reply::Bulk(s.as_bytes().to_vec())
    }
}

pub struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    pub fn connect(port: u16) -> Client {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        Client { reader: BufReader::new(stream.try_clone().expect("clone")), writer: stream }
    }

    /// A client over a socket the test connected itself (e.g. from another source address).
    pub fn from_stream(stream: TcpStream) -> Client {
        stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        Client { reader: BufReader::new(stream.try_clone().expect("clone")), writer: stream }
    }

    pub fn encode(args: &[&str]) -> Vec<u8> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("write");
    }

    /// Writes `bytes`; false once the server has closed the connection.
    pub fn try_send_raw(&mut self, bytes: &[u8]) -> bool {
        self.writer.write_all(bytes).is_ok()
    }

    /// True if the server closed the connection, with or without a reset.
    pub fn is_closed_or_reset(&mut self) -> bool {
        let mut buf = [0u8; 1];
        match self.reader.read(&mut buf) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }

    pub fn send(&mut self, args: &[&str]) {
        let bytes = Client::encode(args);
        self.send_raw(&bytes);
    }

    pub fn cmd(&mut self, args: &[&str]) -> Reply {
        self.send(args);
        self.read()
    }

    /// Closes the sending half: the server sees everything sent so far, then end-of-stream.
    pub fn shutdown_write(&mut self) {
        self.writer.shutdown(std::net::Shutdown::Write).expect("shutdown");
    }

    pub fn set_read_timeout(&mut self, d: Duration) {
        self.writer.set_read_timeout(Some(d)).expect("timeout");
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("read line");
        assert!(line.ends_with("\r\n"), "bad line {line:?}");
        line.truncate(line.len() - 2);
        line
    }

    /// True if the server closed the connection (read returns EOF).
    pub fn is_closed(&mut self) -> bool {
        let mut buf = [0u8; 1];
        matches!(self.reader.read(&mut buf), Ok(0))
    }

    pub fn read(&mut self) -> Reply {
        let line = self.line();
        let (kind, rest) = line.split_at(1);
        let n = || rest.parse::<i64>().expect("length");
        match kind {
            "+" => Reply::Simple(rest.to_string()),
            "-" => Reply::Error(rest.to_string()),
            ":" => Reply::Int(n()),
            "$" => {
                if n() < 0 {
                    return Reply::Null;
                }
                let mut buf = vec![0u8; n() as usize + 2];
                self.reader.read_exact(&mut buf).expect("bulk");
                buf.truncate(buf.len() - 2);
                Reply::Bulk(buf)
            }
            "=" => {
                let mut buf = vec![0u8; n() as usize + 2];
                self.reader.read_exact(&mut buf).expect("verbatim");
                buf.truncate(buf.len() - 2);
                let text = buf.split_off(4);
                Reply::Verbatim(String::from_utf8_lossy(&buf[..3]).into_owned(), text)
            }
            "*" | ">" | "~" => {
                if n() < 0 {
                    return Reply::Null;
                }
                let items = (0..n()).map(|_| self.read()).collect();
                match kind {
                    "*" => Reply::Array(items),
                    ">" => Reply::Push(items),
                    _ => Reply::Set(items),
                }
            }
            "%" => Reply::Map((0..n()).map(|_| (self.read(), self.read())).collect()),
            "_" => Reply::Null,
            "," => Reply::Double(rest.to_string()),
            "#" => Reply::Bool(rest == "t"),
            other => panic!("unknown reply type {other}"),
        }
    }
}
