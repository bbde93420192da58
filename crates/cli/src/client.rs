//! A blocking client connection: connect, send a command, read its reply.
//!
//! Blocking std I/O on purpose: redis-cli's one-shot and stdin modes send one command and wait for its
//! reply, and so will most of the `--cluster` manager; an async runtime would add a dependency and
//! nothing a user can see. Error texts are hiredis's (`Connection refused`, `Server closed the
//! connection`), since redis-cli prints them.

use crate::reply::{parse_reply, ProtocolError, Reply};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::time::Duration;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ClientError {
    /// Could not connect; the text is what hiredis puts in `errstr` (strerror or the resolver's text).
    #[error("{0}")]
    Connect(String),
    /// The server closed the connection (hiredis's `REDIS_ERR_EOF`).
    #[error("Server closed the connection")]
    Eof,
    /// A read or write failed (hiredis's `REDIS_ERR_IO`); the text is strerror's.
    #[error("{0}")]
    Io(String),
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
}

/// strerror's text for an I/O error (Rust's Display adds " (os error N)", which redis-cli never prints).
pub fn os_error_text(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        // SAFETY: strerror returns a pointer to a static NUL-terminated message for any errno value.
        Some(code) => unsafe { std::ffi::CStr::from_ptr(libc::strerror(code)) }.to_string_lossy().into_owned(),
        None => e.to_string(),
    }
}

/// Upper bound on one reply kept in memory, well above Redis's 512 MB proto-max-bulk-len default.
const MAX_REPLY_BYTES: usize = 1 << 30;

/// The socket under a connection: TCP, or a unix socket (`-s`).
pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    pub fn try_clone(&self) -> std::io::Result<Stream> {
        Ok(match self {
            Stream::Tcp(s) => Stream::Tcp(s.try_clone()?),
            Stream::Unix(s) => Stream::Unix(s.try_clone()?),
        })
    }

    /// The socket's descriptor, for the prompt's SIGINT handler, which shuts it down to end a
    /// MONITOR or SUBSCRIBE stream (the only thing a handler may safely do to it).
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
        }
    }

    pub fn set_read_timeout(&self, t: Option<Duration>) -> std::io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_read_timeout(t),
            Stream::Unix(s) => s.set_read_timeout(t),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Tcp(s) => s.flush(),
            Stream::Unix(s) => s.flush(),
        }
    }
}

pub struct Connection {
    stream: Stream,
    buf: Vec<u8>,
}

impl Connection {
    /// Connects to `host:port` (every address the name resolves to is tried in turn, as hiredis does).
    pub fn connect(host: &str, port: u16) -> Result<Self, ClientError> {
        let addrs =
            (host, port).to_socket_addrs().map_err(|_| ClientError::Connect("Name or service not known".into()))?;
        let mut last = ClientError::Connect("Name or service not known".into());
        for addr in addrs {
            match TcpStream::connect(addr) {
                Ok(stream) => {
                    // Commands are small and we always wait for the reply: Nagle would only add latency.
                    let _ = stream.set_nodelay(true);
                    return Ok(Connection { stream: Stream::Tcp(stream), buf: Vec::new() });
                }
                Err(e) => last = ClientError::Connect(os_error_text(&e)),
            }
        }
        Err(last)
    }

    /// Connects to a unix socket (redis-cli's `-s`).
    pub fn connect_unix(path: &str) -> Result<Self, ClientError> {
        match UnixStream::connect(path) {
            Ok(s) => Ok(Connection { stream: Stream::Unix(s), buf: Vec::new() }),
            Err(e) => Err(ClientError::Connect(os_error_text(&e))),
        }
    }

    /// Encodes `argv` as a RESP multibulk request (what hiredis's `redisAppendCommandArgv` sends).
    /// A request is an array of bulk strings, the same bytes as such a reply, so `resp`'s reply
    /// encoder writes it: one encoder for the project instead of a second one here.
    pub fn encode(argv: &[Vec<u8>]) -> Vec<u8> {
        let mut out = resp::ReplyBuf::new(false);
        out.array(argv.len());
        for a in argv {
            out.bulk(a);
        }
        out.buf
    }

    pub fn send(&mut self, argv: &[Vec<u8>]) -> Result<(), ClientError> {
        self.send_raw(&Self::encode(argv))
    }

    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.stream.write_all(bytes).map_err(|e| ClientError::Io(os_error_text(&e)))
    }

    /// Reads the next reply, blocking until it is complete.
    pub fn read_reply(&mut self) -> Result<Reply, ClientError> {
        loop {
            if let Some(r) = self.try_reply()? {
                return Ok(r);
            }
            if self.buf.len() > MAX_REPLY_BYTES {
                return Err(ClientError::Io("Reply too large".into()));
            }
            self.fill()?;
        }
    }

    /// A reply already buffered, if there is a complete one.
    pub fn try_reply(&mut self) -> Result<Option<Reply>, ClientError> {
        match parse_reply(&self.buf)? {
            Some((r, used)) => {
                self.buf.drain(..used);
                Ok(Some(r))
            }
            None => Ok(None),
        }
    }

    /// One read from the socket into the buffer.
    pub fn fill(&mut self) -> Result<(), ClientError> {
        let mut chunk = [0u8; 16 * 1024];
        let n = loop {
            match self.stream.read(&mut chunk) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ClientError::Io(os_error_text(&e))),
            }
        };
        if n == 0 {
            return Err(ClientError::Eof);
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// TCP keep-alive probes after `interval_s` idle seconds (redis-cli's `anetKeepAlive`), so that a
    /// long command on a dead peer fails instead of waiting forever. Best effort: errors are ignored.
    pub fn set_keepalive(&self, interval_s: i32) {
        use std::os::fd::AsRawFd;
        let Stream::Tcp(s) = &self.stream else { return };
        let fd = s.as_raw_fd();
        let set = |level: libc::c_int, name: libc::c_int, value: libc::c_int| {
            // SAFETY: fd is an open socket owned by `s`; the option value is a live c_int.
            unsafe {
                libc::setsockopt(
                    fd,
                    level,
                    name,
                    (&value as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
        };
        set(libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1);
        set(libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, interval_s);
        set(libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, (interval_s / 3).max(1));
        set(libc::IPPROTO_TCP, libc::TCP_KEEPCNT, 3);
    }

    /// Raw bytes from the connection, buffered ones first (SYNC's payload is not a reply).
    pub fn read_raw(&mut self, out: &mut [u8]) -> Result<usize, ClientError> {
        if self.buf.is_empty() {
            self.fill()?;
        }
        let n = out.len().min(self.buf.len());
        out[..n].copy_from_slice(&self.buf[..n]);
        self.buf.drain(..n);
        Ok(n)
    }

    /// Sends one command and reads its reply.
    pub fn command(&mut self, argv: &[Vec<u8>]) -> Result<Reply, ClientError> {
        self.send(argv)?;
        self.read_reply()
    }

    pub fn stream(&self) -> &Stream {
        &self.stream
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_encoding() {
        assert_eq!(Connection::encode(&[b"GET".to_vec(), b"a b".to_vec()]), b"*2\r\n$3\r\nGET\r\n$3\r\na b\r\n");
        assert_eq!(Connection::encode(&[b"X".to_vec(), Vec::new()]), b"*2\r\n$1\r\nX\r\n$0\r\n\r\n");
    }

    #[test]
    fn refused_connection_uses_strerror_text() {
        // Bind then drop a listener: nothing listens on that port afterwards.
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port());
        let Ok(port) = port else { return };
        match Connection::connect("127.0.0.1", port) {
            Err(ClientError::Connect(text)) => assert_eq!(text, "Connection refused"),
            Err(other) => panic!("unexpected error {other:?}"),
            Ok(_) => panic!("connected to a closed port"),
        }
    }

    #[test]
    fn command_round_trip_and_eof() {
        use std::io::{Read, Write};
        let Ok(listener) = std::net::TcpListener::bind("127.0.0.1:0") else { return };
        let Ok(addr) = listener.local_addr() else { return };
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().expect("accept");
            let mut buf = [0u8; 64];
            let n = s.read(&mut buf).expect("read");
            assert_eq!(&buf[..n], b"*1\r\n$4\r\nPING\r\n");
            // The reply arrives in two pieces: the reader must wait for the rest.
            s.write_all(b"*2\r\n+PO").expect("write");
            s.flush().expect("flush");
            std::thread::sleep(std::time::Duration::from_millis(20));
            s.write_all(b"NG\r\n:1\r\n").expect("write");
        });
        let mut c = Connection::connect("127.0.0.1", addr.port()).expect("connect");
        let r = c.command(&[b"PING".to_vec()]).expect("reply");
        assert_eq!(r, Reply::Array(vec![Reply::Status(b"PONG".to_vec()), Reply::Integer(1)]));
        server.join().expect("server thread");
        assert!(matches!(c.read_reply(), Err(ClientError::Eof)));
    }
}
