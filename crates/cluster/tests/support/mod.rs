//! What the cluster crate's tests against Debian's redis-server 7.0.15 share: starting it in
//! cluster mode on free 127.0.0.1 ports, in a temp dir, killed by its pid when dropped.
#![allow(dead_code)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};

#[path = "../../../persist/tests/support/pid_probe.rs"]
mod pid_probe;

pub const REDIS_SERVER: &str = "/usr/bin/redis-server";

pub struct Redis {
    pub child: Child,
    pub port: u16,
    pub cport: u16,
    pub dir: std::path::PathBuf,
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Redis {
    /// Kills the server now (the directory goes when the handle drops).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nobody listens on right now (the OS picks it; it is released before use).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port()
}

/// Starts a cluster-enabled redis-server 7.0.15 on free ports with `extra` directives, in a temp
/// dir named after `tag` (retried on new ports if a picked one was taken meanwhile: see
/// `pid_probe`).
pub fn start_redis(tag: &str, extra: &[&str]) -> Redis {
    for _attempt in 0..5 {
        let (port, cport) = (free_port(), free_port());
        let dir = std::env::temp_dir().join(format!("cluster-{tag}-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let child = Command::new(REDIS_SERVER)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--cluster-enabled", "yes", "--cluster-port", &cport.to_string()])
            .args(["--cluster-config-file", "nodes.conf", "--dir", dir.to_str().expect("utf-8 dir")])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server 7.0.15 must be installed (compat/install-deps.sh)");
        let mut redis = Redis { child, port, cport, dir };
        if pid_probe::serving(&mut redis.child, port) {
            return redis;
        }
        // Dropping `redis` ends what is left of this attempt and removes its directory.
    }
    panic!("redis-server did not start on any of 5 pairs of free ports");
}
