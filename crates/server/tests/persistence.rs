//! RDB persistence, black box: SAVE writes a file redis-check-rdb accepts and a restarted
//! server loads; shutdown saves when save points are set; a file Debian's redis-server 7.0.15
//! wrote loads; a damaged file stops start-up instead of starting with part of the data.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};
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

/// Streams Redis saved (groups, tombstones, wrapping IDs, empty streams) load, DUMP as Redis
/// DUMPed them, and survive our own save and a restart.
#[test]
fn a_stream_file_redis_wrote_loads_and_saves() {
    let dir = temp_dir("streams");
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/../persist/tests/fixtures/");
    std::fs::copy(format!("{fixtures}redis-7.0.15-streams.rdb"), dir.join("dump.rdb")).expect("fixture");
    let dumps = std::fs::read_to_string(format!("{fixtures}redis-7.0.15-stream-dumps.txt")).expect("fixture");
    let redis_dump: Vec<u8> = dumps
        .lines()
        .find_map(|l| l.strip_prefix("s:groups rdbcompression=no\t"))
        .map(|hex| (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex")).collect())
        .expect("the s:groups payload");
    let server = Server::start_in(&dir, &["--save", "", "--rdbcompression", "no"]).expect("start");
    let mut c = server.client();
    assert_eq!(c.cmd(&["DBSIZE"]), Reply::Int(6));
    assert_eq!(c.cmd(&["TYPE", "s:tombs"]), Reply::Simple("stream".into()));
    assert_eq!(c.cmd(&["OBJECT", "ENCODING", "s:empty"]), Reply::bulk("stream"));
    assert_eq!(c.cmd(&["DUMP", "s:groups"]), Reply::Bulk(redis_dump.clone()), "Redis's DUMP, byte for byte");
    let Reply::Bulk(tombs) = c.cmd(&["DUMP", "s:tombs"]) else { panic!("DUMP") };
    assert_eq!(c.cmd(&["SAVE"]), Reply::Simple("OK".into()));
    let mut server = server;
    server.client().send(&["SHUTDOWN", "NOSAVE"]);
    assert!(server.wait_exit(Duration::from_secs(10)).is_some());
    let server = Server::start_in(&dir, &["--save", "", "--rdbcompression", "no"]).expect("restart");
    let mut c = server.client();
    assert_eq!(c.cmd(&["DBSIZE"]), Reply::Int(6));
    assert_eq!(c.cmd(&["DUMP", "s:groups"]), Reply::Bulk(redis_dump));
    assert_eq!(c.cmd(&["DUMP", "s:tombs"]), Reply::Bulk(tombs));
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

fn persistence_field(c: &mut support::Client, name: &str) -> String {
    let Reply::Bulk(info) = c.cmd(&["INFO", "persistence"]) else { panic!("INFO") };
    let info = String::from_utf8_lossy(&info).to_string();
    info.lines().find_map(|l| l.strip_prefix(&format!("{name}:")).map(str::to_string)).unwrap_or_default()
}

fn wait_bgsave_done(c: &mut support::Client) {
    for _ in 0..600 {
        if persistence_field(c, "rdb_bgsave_in_progress") == "0" {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("BGSAVE did not finish within 30 s");
}

/// BGSAVE is a point-in-time snapshot without blocking: writes and a FLUSHDB issued while it
/// runs (slowed down with rdb-key-save-delay) are served at once and are not in the file.
/// (FLUSHALL would stop the save instead: see `flushall_stops_a_running_bgsave`.)
#[test]
fn bgsave_saves_the_data_as_it_was_when_it_started() {
    let dir = temp_dir("bgsave");
    {
        let server = Server::start_in(&dir, &["--save", ""]).expect("start");
        let mut c = server.client();
        let mut pipeline = Vec::new();
        for i in 0..20_000 {
            pipeline.extend(support::Client::encode(&["SET", &format!("key:{i}"), "before"]));
        }
        c.send_raw(&pipeline);
        for _ in 0..20_000 {
            assert_eq!(c.read(), Reply::Simple("OK".into()));
        }
        c.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "50"]);
        assert_eq!(c.cmd(&["BGSAVE"]), Reply::Simple("Background saving started".into()));
        assert_eq!(c.cmd(&["BGSAVE"]), Reply::Error("ERR Background save already in progress".into()));
        assert_eq!(c.cmd(&["SET", "key:7", "after"]), Reply::Simple("OK".into()));
        assert_eq!(c.cmd(&["SET", "new", "after"]), Reply::Simple("OK".into()));
        assert_eq!(persistence_field(&mut c, "rdb_bgsave_in_progress"), "1", "still saving while we wrote");
        assert_eq!(c.cmd(&["FLUSHDB"]), Reply::Simple("OK".into()));
        wait_bgsave_done(&mut c);
        assert_eq!(persistence_field(&mut c, "rdb_last_bgsave_status"), "ok");
    }
    let server = Server::start_in(&dir, &["--save", ""]).expect("restart");
    let mut c = server.client();
    assert_eq!(c.cmd(&["DBSIZE"]), Reply::Int(20_000));
    assert_eq!(c.cmd(&["GET", "key:7"]), Reply::bulk("before"));
    assert_eq!(c.cmd(&["EXISTS", "new"]), Reply::Int(0));
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A background save reports its progress in INFO persistence as Redis's child does: the keys
/// it will write and has written (`current_save_keys_*`, `current_fork_perc`), and the memory it
/// costs beyond the dataset, where a fork reports its copy-on-write pages: here the copies of the
/// slots that writes reached before the save's writer did (`current_cow_size`, `current_cow_peak`,
/// then `rdb_last_cow_size` / `aof_last_cow_size`). Both BGSAVE and BGREWRITEAOF.
#[test]
fn a_background_save_reports_its_progress_and_the_copies_writes_cost() {
    const KEYS: i64 = 1_000;
    const VALUE_BYTES: i64 = 500;
    for (command, in_progress, last_copies, extra) in [
        ("BGSAVE", "rdb_bgsave_in_progress", "rdb_last_cow_size", ["--appendonly", "no"]),
        ("BGREWRITEAOF", "aof_rewrite_in_progress", "aof_last_cow_size", ["--appendonly", "yes"]),
    ] {
        let dir = temp_dir("save-progress");
        let server = Server::start_in(&dir, &["--save", "", extra[0], extra[1]]).expect("start");
        let mut c = server.client();
        let field = |c: &mut support::Client, name: &str| -> i64 {
            persistence_field(c, name).parse().unwrap_or_else(|_| panic!("{name} is a number"))
        };
        let value = "A".repeat(VALUE_BYTES as usize);
        let mut pipeline = Vec::new();
        for i in 0..KEYS {
            pipeline.extend(support::Client::encode(&["SET", &format!("key{i}"), &value]));
        }
        c.send_raw(&pipeline);
        for _ in 0..KEYS {
            assert_eq!(c.read(), Reply::Simple("OK".into()));
        }
        for name in ["current_cow_size", "current_cow_peak", "current_save_keys_total", last_copies] {
            assert_eq!(field(&mut c, name), 0, "{name} before any save ({command})");
        }
        // 2 ms a key: the save takes about 2 s, and our writes below land ahead of it.
        c.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "2000"]);
        let Reply::Simple(_) = c.cmd(&[command]) else { panic!("{command} started") };
        assert_eq!(field(&mut c, "current_save_keys_total"), KEYS, "({command})");
        let mut pipeline = Vec::new();
        for i in 0..KEYS {
            pipeline.extend(support::Client::encode(&["SETRANGE", &format!("key{i}"), "0", "B"]));
        }
        c.send_raw(&pipeline);
        for _ in 0..KEYS {
            assert_eq!(c.read(), Reply::Int(VALUE_BYTES));
        }
        let copies = field(&mut c, "current_cow_size");
        let written = field(&mut c, "current_save_keys_processed");
        assert_eq!(field(&mut c, in_progress), 1, "still saving ({command})");
        // Every key the writer had not reached when we wrote it was copied first, and stays
        // copied until the writer writes it out; 100 keys (200 ms) of slack for the two reads.
        let expected = (KEYS - written - 100).max(0) * VALUE_BYTES;
        assert!(copies >= expected, "{copies} bytes copied, {written} keys written ({command})");
        assert!(copies > 0, "the writes cost copies ({command})");
        assert!(field(&mut c, "current_cow_peak") >= copies, "({command})");
        support::wait_until("the save's writer to move on", Duration::from_secs(10), || {
            field(&mut c, "current_save_keys_processed") > written
        });
        let percent: f64 = persistence_field(&mut c, "current_fork_perc").parse().expect("a percentage");
        assert!(percent > 0.0 && percent <= 100.0, "current_fork_perc {percent} ({command})");
        support::wait_until("the save to end", Duration::from_secs(30), || field(&mut c, in_progress) == 0);
        assert!(field(&mut c, last_copies) >= copies, "the save's peak copies are kept ({command})");
        for name in ["current_cow_size", "current_cow_peak", "current_save_keys_total", "current_save_keys_processed"] {
            assert_eq!(field(&mut c, name), 0, "{name} after the save ({command})");
        }
        drop(server);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// As Redis's FLUSHALL kills its saving child: a BGSAVE under way stops at once, writes no file,
/// leaves no temp file, does not count as a failed save (writes stay allowed) and keeps the changes
/// counted as unsaved; with save points configured, FLUSHALL then saves the empty dataset itself.
#[test]
fn flushall_stops_a_running_bgsave() {
    for save_points in ["", "3600 1"] {
        let dir = temp_dir("flushall-bgsave");
        let server = Server::start_in(&dir, &["--save", save_points]).expect("start");
        let mut c = server.client();
        let mut pipeline = Vec::new();
        for i in 0..2_000 {
            pipeline.extend(support::Client::encode(&["SET", &format!("key:{i}"), "v"]));
        }
        c.send_raw(&pipeline);
        for _ in 0..2_000 {
            assert_eq!(c.read(), Reply::Simple("OK".into()));
        }
        // 2000 keys at 10 ms each: the save would take 20 s.
        c.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "10000"]);
        assert_eq!(c.cmd(&["BGSAVE"]), Reply::Simple("Background saving started".into()));
        assert_eq!(persistence_field(&mut c, "rdb_bgsave_in_progress"), "1");
        let started = std::time::Instant::now();
        assert_eq!(c.cmd(&["FLUSHALL"]), Reply::Simple("OK".into()));
        wait_bgsave_done(&mut c);
        assert!(started.elapsed() < Duration::from_secs(5), "the save was stopped, not finished");
        assert_eq!(persistence_field(&mut c, "rdb_last_bgsave_status"), "ok", "({save_points:?})");
        assert_eq!(c.cmd(&["SET", "x", "y"]), Reply::Simple("OK".into()), "writes still allowed");
        let leftovers: Vec<String> = std::fs::read_dir(&dir)
            .expect("dir")
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .filter(|n| n.starts_with("temp-"))
            .collect();
        assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
        let changes: i64 = persistence_field(&mut c, "rdb_changes_since_last_save").parse().expect("number");
        if save_points.is_empty() {
            assert!(changes > 2_000, "nothing was saved: {changes} changes");
            assert!(!dir.join("dump.rdb").exists(), "no file without save points");
        } else {
            // FLUSHALL's own save (of nothing) ran after the flush; only the SET after it is unsaved.
            assert!(changes <= 2, "FLUSHALL saved: {changes} changes since");
            assert!(dir.join("dump.rdb").exists());
        }
        drop(server);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// A save that fails blocks writes with Redis's -MISCONF until a save succeeds.
#[test]
fn a_failed_save_stops_writes_until_a_save_succeeds() {
    let dir = temp_dir("misconf");
    let server = Server::start_in(&dir, &["--save", ""]).expect("start");
    let mut c = server.client();
    c.cmd(&["SET", "k", "v"]);
    std::fs::remove_dir_all(&dir).expect("remove the data directory");
    assert_eq!(c.cmd(&["BGSAVE"]), Reply::Simple("Background saving started".into()));
    wait_bgsave_done(&mut c);
    assert_eq!(persistence_field(&mut c, "rdb_last_bgsave_status"), "err");
    let Reply::Error(e) = c.cmd(&["SET", "k", "w"]) else { panic!("a write went through after a failed save") };
    assert!(e.starts_with("MISCONF Redis is configured to save RDB snapshots"), "{e}");
    assert!(matches!(c.cmd(&["PING"]), Reply::Error(e) if e.starts_with("MISCONF")));
    assert_eq!(c.cmd(&["GET", "k"]), Reply::bulk("v"), "reads still work");
    std::fs::create_dir_all(&dir).expect("recreate");
    assert_eq!(c.cmd(&["SAVE"]), Reply::Simple("OK".into()));
    assert_eq!(c.cmd(&["SET", "k", "w"]), Reply::Simple("OK".into()));
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `save <seconds> <changes>` starts a BGSAVE by itself once enough changes are old enough.
#[test]
fn save_points_trigger_a_background_save() {
    let dir = temp_dir("savepoints");
    let server = Server::start_in(&dir, &["--save", "1 2"]).expect("start");
    let mut c = server.client();
    c.cmd(&["SET", "a", "1"]);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(persistence_field(&mut c, "rdb_saves"), "0", "one change is below the save point");
    c.cmd(&["SET", "b", "2"]);
    let mut saved = false;
    for _ in 0..100 {
        if persistence_field(&mut c, "rdb_saves") == "1" {
            saved = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(saved, "no background save within 5 s of the second change");
    assert_eq!(persistence_field(&mut c, "rdb_changes_since_last_save"), "0");
    assert!(dir.join("dump.rdb").exists());
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Writes `keys` keys with DEBUG POPULATE and saves them; returns the file's bytes.
fn populate_and_save(dir: &std::path::Path, keys: &str) -> Vec<u8> {
    let server = Server::start_in(dir, &["--save", "", "--enable-debug-command", "yes"]).expect("start");
    let mut c = server.client();
    assert_eq!(c.cmd(&["DEBUG", "POPULATE", keys, "key", "100"]), Reply::Simple("OK".into()));
    assert_eq!(c.cmd(&["SAVE"]), Reply::Simple("OK".into()));
    drop(server);
    std::fs::read(dir.join("dump.rdb")).expect("dump.rdb")
}

fn info_field(c: &mut support::Client, name: &str) -> Option<String> {
    let Reply::Bulk(info) = c.cmd(&["INFO", "persistence"]) else { panic!("INFO") };
    let info = String::from_utf8_lossy(&info).into_owned();
    info.lines().find_map(|l| l.strip_prefix(&format!("{name}:")).map(str::to_string))
}

/// As Redis's loading loop: clients are answered while the file loads. INFO reports the
/// progress, `loading` commands run (CONFIG SET of a runtime directive), the others get
/// -LOADING, and so does CONFIG SET of a deny-loading directive. Once loaded, all is served.
#[test]
fn clients_are_served_with_loading_during_the_start_up_load() {
    let dir = temp_dir("loading");
    populate_and_save(&dir, "300");
    // 10 ms per key: about 3 s of loading.
    // Clients are let in once 1 KB is loaded (as Redis's loader first serves them then).
    let args = [
        "--save",
        "",
        "--key-load-delay",
        "10000",
        "--enable-protected-configs",
        "yes",
        "--loading-process-events-interval-bytes",
        "1024",
    ];
    let server = Server::start_in(&dir, &args).expect("start");
    let mut c = server.client();
    assert_eq!(info_field(&mut c, "loading").as_deref(), Some("1"));
    let total: u64 = info_field(&mut c, "loading_total_bytes").and_then(|v| v.parse().ok()).expect("total");
    assert_eq!(total, std::fs::metadata(dir.join("dump.rdb")).expect("file").len());
    assert_eq!(c.cmd(&["GET", "key:1"]), Reply::Error("LOADING Redis is loading the dataset in memory".into()));
    assert_eq!(c.cmd(&["CONFIG", "SET", "loglevel", "debug"]), Reply::Simple("OK".into()));
    let Reply::Error(e) = c.cmd(&["CONFIG", "SET", "dir", "/tmp"]) else { panic!("CONFIG SET dir ran") };
    assert!(e.starts_with("LOADING"), "{e}");
    let perc: f64 = info_field(&mut c, "loading_loaded_perc").and_then(|v| v.parse().ok()).expect("perc");
    assert!((0.0..100.0).contains(&perc), "{perc}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while info_field(&mut c, "loading").as_deref() != Some("0") {
        assert!(Instant::now() < deadline, "the load never ended");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(info_field(&mut c, "loading_total_bytes"), None, "the progress lines go with the load");
    assert_eq!(c.cmd(&["DBSIZE"]), Reply::Int(300));
    let Reply::Bulk(value) = c.cmd(&["GET", "key:1"]) else { panic!("GET") };
    assert!(value.len() == 100 && value.starts_with(b"value:1\0"), "{value:?}");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// SIGTERM or SHUTDOWN during the start-up load stops the server without saving, even with
/// save points set (Redis's prepareForShutdown forces NOSAVE while loading): saving then would
/// replace the file with the part loaded so far.
#[test]
fn shutdown_during_the_start_up_load_keeps_the_file() {
    let dir = temp_dir("loadstop");
    let file = populate_and_save(&dir, "300");
    for how in ["SIGTERM", "SHUTDOWN"] {
        let args = ["--save", "3600 1", "--key-load-delay", "10000", "--loading-process-events-interval-bytes", "1024"];
        let mut server = Server::start_in(&dir, &args).expect("start");
        let mut c = server.client();
        assert_eq!(info_field(&mut c, "loading").as_deref(), Some("1"), "{how}");
        let started = Instant::now();
        if how == "SIGTERM" {
            server.signal("-TERM");
        } else {
            c.send(&["SHUTDOWN"]);
        }
        let status = server.wait_exit(Duration::from_secs(10)).expect("the server exits");
        assert!(status.success(), "{how}: {status}");
        assert!(started.elapsed() < Duration::from_secs(2), "{how}: the load was not cut short");
        assert_eq!(std::fs::read(dir.join("dump.rdb")).expect("dump.rdb"), file, "{how}: the file is untouched");
    }
    let server = Server::start_in(&dir, &["--save", ""]).expect("restart");
    assert_eq!(server.client().cmd(&["DBSIZE"]), Reply::Int(300));
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A load shorter than `loading-process-events-interval-bytes` (2 MB by default) is never seen:
/// as with Redis, a client that connects during it waits and is then served, never -LOADING.
#[test]
fn a_short_start_up_load_is_never_seen_as_loading() {
    let dir = temp_dir("shortload");
    populate_and_save(&dir, "300");
    // About 0.3 s of loading, all of it under the 2 MB after which clients would be let in.
    let server = Server::start_in(&dir, &["--save", "", "--key-load-delay", "1000"]).expect("start");
    let mut c = server.client();
    assert_eq!(c.cmd(&["DBSIZE"]), Reply::Int(300));
    assert_eq!(info_field(&mut c, "loading").as_deref(), Some("0"));
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `rdbcompression` applies to what BGSAVE and the AOF rewrite write, not only to SAVE: with
/// it on, long repetitive strings are stored LZF-compressed (the file is a fraction of the
/// size with it off), redis-check-rdb accepts the file, and a restart reads every value back.
/// The INFO polls meanwhile must not make the worker serialize the slots itself (uncompressed,
/// as a writer's first touch is): they read the slots without the snapshot hook.
#[test]
fn bgsave_and_the_aof_base_honour_rdbcompression() {
    let dir = temp_dir("compression");
    let value = "abcdefgh".repeat(16);
    let file_size = |name: &str| std::fs::metadata(dir.join(name)).map(|m| m.len()).expect("file");
    let base_size = || {
        std::fs::read_dir(dir.join("appendonlydir"))
            .expect("aof dir")
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(".base."))
            .map(|e| e.metadata().expect("base").len())
            .sum::<u64>()
    };
    let mut sizes = Vec::new();
    {
        let server = Server::start_in(&dir, &["--save", "", "--appendonly", "yes"]).expect("start");
        let mut c = server.client();
        let mut pipeline = Vec::new();
        for i in 0..2_000 {
            pipeline.extend(support::Client::encode(&["SET", &format!("key:{i}"), &value]));
        }
        c.send_raw(&pipeline);
        for _ in 0..2_000 {
            assert_eq!(c.read(), Reply::Simple("OK".into()));
        }
        for setting in ["yes", "no"] {
            assert_eq!(c.cmd(&["CONFIG", "SET", "rdbcompression", setting]), Reply::Simple("OK".into()));
            assert_eq!(c.cmd(&["BGSAVE"]), Reply::Simple("Background saving started".into()));
            wait_bgsave_done(&mut c);
            assert_eq!(c.cmd(&["BGREWRITEAOF"]), Reply::Simple("Background append only file rewriting started".into()));
            for _ in 0..600 {
                if persistence_field(&mut c, "aof_rewrite_in_progress") == "0" {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            sizes.push((setting, file_size("dump.rdb"), base_size()));
            if setting == "yes" {
                let check =
                    Command::new("redis-check-rdb").arg(dir.join("dump.rdb")).output().expect("redis-check-rdb");
                let report = String::from_utf8_lossy(&check.stdout);
                assert!(check.status.success() && report.contains("RDB looks OK"), "redis-check-rdb: {report}");
            }
        }
        assert_eq!(c.cmd(&["CONFIG", "SET", "rdbcompression", "yes"]), Reply::Simple("OK".into()));
        assert_eq!(c.cmd(&["BGSAVE"]), Reply::Simple("Background saving started".into()));
        wait_bgsave_done(&mut c);
    }
    let [(_, rdb_on, base_on), (_, rdb_off, base_off)] = sizes[..] else { panic!("{sizes:?}") };
    assert!(rdb_on * 3 < rdb_off, "BGSAVE compressed: {sizes:?}");
    assert!(base_on * 3 < base_off, "the AOF base compressed: {sizes:?}");
    let server = Server::start_in(&dir, &["--save", ""]).expect("restart on the compressed file");
    let mut c = server.client();
    assert_eq!(c.cmd(&["DBSIZE"]), Reply::Int(2_000));
    assert_eq!(c.cmd(&["GET", "key:1999"]), Reply::bulk(&value));
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// BGSAVE inside a transaction that also holds a key's slot (MULTI, SET, BGSAVE, EXEC) starts
/// the save and answers: counting the keys for INFO must not wait on the slot the transaction
/// itself holds (it did, and the worker hung). The file then holds the key.
#[test]
fn bgsave_inside_a_transaction_that_holds_a_slot_answers() {
    let dir = temp_dir("bgsave-in-exec");
    {
        let server = Server::start_in(&dir, &["--save", ""]).expect("start");
        let mut c = server.client();
        c.set_read_timeout(Duration::from_secs(10));
        assert_eq!(c.cmd(&["MULTI"]), Reply::Simple("OK".into()));
        assert_eq!(c.cmd(&["SET", "k", "v"]), Reply::Simple("QUEUED".into()));
        assert_eq!(c.cmd(&["BGSAVE"]), Reply::Simple("QUEUED".into()));
        assert_eq!(
            c.cmd(&["EXEC"]),
            Reply::Array(vec![Reply::Simple("OK".into()), Reply::Simple("Background saving started".into())])
        );
        wait_bgsave_done(&mut c);
        assert_eq!(persistence_field(&mut c, "rdb_last_bgsave_status"), "ok");
    }
    let server = Server::start_in(&dir, &["--save", ""]).expect("restart");
    assert_eq!(server.client().cmd(&["GET", "k"]), Reply::bulk("v"));
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
