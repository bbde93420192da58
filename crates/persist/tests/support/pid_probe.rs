//! Waiting for a redis-server we spawned on a port we picked, shared by the tests of the
//! persist and cluster crates (the cluster crate includes this file by path).
//!
//! A port found free is not reserved: a test running alongside may take it before the server
//! binds it, and then the server exits while a probe reaches the other test's server. So the
//! server counts as up only when it answers INFO with its own pid.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Child;
use std::time::{Duration, Instant};

/// Waits (at most 10 s) until `child` serves on `port`: true once it answers INFO with its own
/// pid, false if it exited or another process answers there (the caller retries on a new port).
pub fn serving(child: &mut Child, port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(Some(_exited)) = child.try_wait() {
            return false;
        }
        if let Some(pid) = answering_pid(port) {
            return pid == child.id();
        }
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The `process_id` INFO reports from whatever listens on `port`, if anything answers.
fn answering_pid(port: u16) -> Option<u32> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n").ok()?;
    let mut text = Vec::new();
    let mut buf = [0u8; 4096];
    while text.len() < 64 * 1024 {
        let n = s.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        text.extend_from_slice(&buf[..n]);
        let body = String::from_utf8_lossy(&text);
        if let Some(rest) = body.split("process_id:").nth(1) {
            if let Some((line, _)) = rest.split_once("\r\n") {
                return line.trim().parse().ok();
            }
        }
    }
    None
}
