//! RDB persistence, black box: SAVE writes a file redis-check-rdb accepts and a restarted
//! server loads; shutdown saves when save points are set; a file Debian's redis-server 7.0.15
//! wrote loads; a damaged file stops start-up instead of starting with part of the data.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;
use support::{Reply, Server};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("redoxide-persist-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn write_sample(server: &Server) {
    let mut c = server.client();
    assert_eq!(c.cmd(&["SET", "s", "hello"]), Reply::Simple("OK".into()));
    c.cmd(&["SET", "n", "12345"]);
    c.cmd(&["SET", "ttl", "v", "PX", "100000000"]);
    c.cmd(&["SET", "gone", "v", "PX", "1"]);
    c.cmd(&["RPUSH", "l", "a", "b", "1"]);
    c.cmd(&["HSET", "h", "f", "v"]);
    c.cmd(&["SADD", "t", "1", "2"]);
    c.cmd(&["ZADD", "z", "1.5", "m"]);
    c.cmd(&["SELECT", "4"]);
    c.cmd(&["SET", "in4", "x"]);
    std::thread::sleep(Duration::from_millis(5));
}

fn check_sample(server: &Server) {
    let mut c = server.client();
    assert_eq!(c.cmd(&["DBSIZE"]), Reply::Int(7), "db 0 keys (the expired one is gone)");
    assert_eq!(c.cmd(&["GET", "s"]), Reply::bulk("hello"));
    assert_eq!(c.cmd(&["GET", "n"]), Reply::bulk("12345"));
    let Reply::Int(ttl) = c.cmd(&["PTTL", "ttl"]) else { panic!("PTTL") };
    assert!(ttl > 90_000_000, "the expiry survived: {ttl}");
    assert_eq!(
        c.cmd(&["LRANGE", "l", "0", "-1"]),
        Reply::Array(vec![Reply::bulk("a"), Reply::bulk("b"), Reply::bulk("1")])
    );
    assert_eq!(c.cmd(&["HGET", "h", "f"]), Reply::bulk("v"));
    assert_eq!(c.cmd(&["SCARD", "t"]), Reply::Int(2));
    assert_eq!(c.cmd(&["ZSCORE", "z", "m"]), Reply::bulk("1.5"));
    c.cmd(&["SELECT", "4"]);
    assert_eq!(c.cmd(&["GET", "in4"]), Reply::bulk("x"));
}

#[test]
fn save_writes_a_valid_file_that_a_restart_loads() {
    let dir = temp_dir("save");
    {
        let server = Server::start_in(&dir, &["--save", ""]).expect("start");
        write_sample(&server);
        let mut c = server.client();
        assert_eq!(c.cmd(&["SAVE"]), Reply::Simple("OK".into()));
        let Reply::Bulk(info) = c.cmd(&["INFO", "persistence"]) else { panic!("INFO") };
        let info = String::from_utf8_lossy(&info).to_string();
        assert!(info.contains("rdb_changes_since_last_save:0") && info.contains("rdb_saves:1"), "{info}");
    }
    let check =
        Command::new("redis-check-rdb").arg(dir.join("dump.rdb")).output().expect("redis-check-rdb (redis-tools)");
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success() && report.contains("RDB looks OK"), "redis-check-rdb: {report}");
    let server = Server::start_in(&dir, &["--save", ""]).expect("restart");
    check_sample(&server);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn shutdown_saves_when_save_points_are_set_and_not_with_nosave() {
    let dir = temp_dir("shutdown");
    let mut server = Server::start_in(&dir, &["--save", "3600 1"]).expect("start");
    write_sample(&server);
    server.client().send(&["SHUTDOWN"]);
    assert!(server.wait_exit(Duration::from_secs(10)).is_some_and(|s| s.success()), "SHUTDOWN exits cleanly");
    let server = Server::start_in(&dir, &["--save", "3600 1"]).expect("restart");
    check_sample(&server);
    let mut c = server.client();
    c.cmd(&["SET", "after", "1"]);
    let mut server = server;
    server.client().send(&["SHUTDOWN", "NOSAVE"]);
    assert!(server.wait_exit(Duration::from_secs(10)).is_some());
    let server = Server::start_in(&dir, &["--save", ""]).expect("restart");
    assert_eq!(server.client().cmd(&["EXISTS", "after"]), Reply::Int(0), "NOSAVE did not save");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_file_redis_wrote_loads() {
    let dir = temp_dir("redisfile");
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/../persist/tests/fixtures/redis-7.0.15-types.rdb");
    std::fs::copy(fixture, dir.join("dump.rdb")).expect("fixture");
    let server = Server::start_in(&dir, &["--save", ""]).expect("start");
    let mut c = server.client();
    assert_eq!(c.cmd(&["DBSIZE"]), Reply::Int(7));
    assert_eq!(c.cmd(&["GET", "s"]), Reply::bulk("hello"));
    assert_eq!(c.cmd(&["ZSCORE", "z", "m"]), Reply::bulk("1.5"));
    c.cmd(&["SELECT", "3"]);
    assert_eq!(c.cmd(&["GET", "other"]), Reply::bulk("db3"));
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_damaged_file_stops_startup() {
    let dir = temp_dir("damaged");
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/../persist/tests/fixtures/redis-7.0.15-types.rdb");
    let mut bytes = std::fs::read(fixture).expect("fixture");
    let n = bytes.len();
    bytes.truncate(n - 20);
    std::fs::write(dir.join("dump.rdb"), &bytes).expect("write");
    // It listens before it loads (as Redis), so it may accept the connection and then exit.
    match Server::start_in(&dir, &["--save", ""]) {
        Err(_) => {}
        Ok(mut server) => {
            let status = server.wait_exit(Duration::from_secs(10));
            assert!(status.is_some_and(|s| !s.success()), "a server kept running on a truncated RDB file");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
