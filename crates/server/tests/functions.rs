//! Black-box tests of Redis 7.0 Functions (FUNCTION LOAD / DELETE / FLUSH / LIST / DUMP /
//! RESTORE / STATS / KILL, FCALL / FCALL_RO) against real servers with several worker threads:
//! Redis 7.0.15's error texts, reply shapes in RESP2 and RESP3, function flags (no-writes and
//! FCALL_RO, CLIENT PAUSE WRITE), hostile RESTORE payloads, persistence across a restart (RDB and
//! AOF), replication to a replica, and BUSY / FUNCTION KILL.

mod support;

use std::time::{Duration, Instant};
use support::{wait_until, Client, Reply, Server};

fn b(s: &str) -> Reply {
    Reply::bulk(s)
}

fn ok() -> Reply {
    Reply::Simple("OK".into())
}

fn err(s: &str) -> Reply {
    Reply::Error(s.to_string())
}

fn lib(name: &str, body: &str) -> String {
    format!("#!lua name={name}\n{body}")
}

/// A command whose arguments may be binary (FUNCTION RESTORE's payload).
fn cmd_bytes(c: &mut Client, args: &[&[u8]]) -> Reply {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    c.send_raw(&out);
    c.read()
}

fn dump(c: &mut Client) -> Vec<u8> {
    match c.cmd(&["FUNCTION", "DUMP"]) {
        Reply::Bulk(p) => p,
        other => panic!("FUNCTION DUMP replied {other:?}"),
    }
}

#[test]
fn load_call_replace_delete_with_redis_errors() {
    let s = Server::start(&["--io-threads", "2"]);
    let mut c = s.client();
    let code = lib(
        "mylib",
        "redis.register_function('setter', function(keys, args) return redis.call('set', keys[1], args[1]) end)\n\
         redis.register_function{function_name='Getter', callback=function(keys) return redis.call('get', keys[1]) end, flags={'no-writes'}}",
    );
    assert_eq!(c.cmd(&["FUNCTION", "LOAD", &code]), b("mylib"));
    assert_eq!(c.cmd(&["FCALL", "setter", "1", "k", "v1"]), ok());
    // Function names are case-insensitive; another connection (maybe another worker) sees it.
    let mut other = s.client();
    assert_eq!(other.cmd(&["FCALL", "GETTER", "1", "k"]), b("v1"));
    assert_eq!(other.cmd(&["FCALL_RO", "getter", "1", "k"]), b("v1"));
    assert_eq!(
        c.cmd(&["FCALL_RO", "setter", "1", "k", "v"]),
        err("ERR Can not execute a script with write flag using *_ro command.")
    );
    assert_eq!(c.cmd(&["FUNCTION", "LOAD", &code]), err("ERR Library 'mylib' already exists"));
    assert_eq!(
        c.cmd(&["FUNCTION", "LOAD", &lib("other", "redis.register_function('SETTER', function() return 1 end)")]),
        err("ERR Function SETTER already exists")
    );
    // REPLACE swaps the code everywhere, also on a worker that had compiled the old version.
    let v2 = lib("mylib", "redis.register_function('setter', function() return 'v2' end)");
    assert_eq!(c.cmd(&["FUNCTION", "LOAD", "REPLACE", &v2]), b("mylib"));
    assert_eq!(other.cmd(&["FCALL", "setter", "0"]), b("v2"));
    assert_eq!(other.cmd(&["FCALL", "getter", "1", "k"]), err("ERR Function not found"));
    // A failed REPLACE keeps the old library.
    let broken = lib("mylib", "redis.register_function('setter', 'not a function')");
    match c.cmd(&["FUNCTION", "LOAD", "REPLACE", &broken]) {
        Reply::Error(e) => assert!(e.contains("second argument to redis.register_function must be a function"), "{e}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(c.cmd(&["FCALL", "setter", "0"]), b("v2"));
    // Argument errors, in Redis's order and words.
    assert_eq!(c.cmd(&["FCALL", "setter", "x"]), err("ERR Bad number of keys provided"));
    assert_eq!(c.cmd(&["FCALL", "setter", "2", "a"]), err("ERR Number of keys can't be greater than number of args"));
    assert_eq!(c.cmd(&["FCALL", "setter", "-1", "a"]), err("ERR Number of keys can't be negative"));
    assert_eq!(c.cmd(&["FCALL", "nosuch", "0"]), err("ERR Function not found"));
    assert_eq!(c.cmd(&["FUNCTION", "LOAD", "foo", "bar", &v2]), err("ERR Unknown option given: foo"));
    assert_eq!(c.cmd(&["FUNCTION", "LOAD", "return 1"]), err("ERR Missing library metadata"));
    assert_eq!(
        c.cmd(&["FUNCTION", "LOAD", "#!lua name=a-b\nreturn 1"]),
        err("ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long")
    );
    assert_eq!(c.cmd(&["FUNCTION", "LOAD", &lib("empty", "return 1")]), err("ERR No functions registered"));
    assert_eq!(c.cmd(&["FUNCTION", "LOAD", "#!js name=x\nreturn 1"]), err("ERR Engine 'js' not found"));
    // The load run sees only the load API; the run sees no register_function.
    for (body, want) in [
        ("return redis.call('ping')", "nonexistent global variable 'call'"),
        ("return math.random()", "nonexistent global variable 'math'"),
        ("a = 1", "Attempt to modify a readonly table"),
        ("local a = 1 while 1 do a = a + 1 end", "FUNCTION LOAD timeout"),
    ] {
        match c.cmd(&["FUNCTION", "LOAD", &lib("bad", body)]) {
            // Redis keeps the Lua error's own code after the prefix.
            Reply::Error(e) => {
                assert!(e.starts_with("ERR Error registering functions: ERR ") && e.contains(want), "{e}")
            }
            other => panic!("{body}: {other:?}"),
        }
    }
    let nested =
        lib("nested", "redis.register_function('outer', function() redis.register_function('x', function() end) end)");
    assert_eq!(c.cmd(&["FUNCTION", "LOAD", &nested]), b("nested"));
    match c.cmd(&["FCALL", "outer", "0"]) {
        Reply::Error(e) => assert!(e.contains("attempt to call field 'register_function' (a nil value)"), "{e}"),
        other => panic!("{other:?}"),
    }
    // A no-writes function cannot write, even through FCALL.
    let ro = lib(
        "ro",
        "redis.register_function{function_name='w', callback=function() return redis.call('set','x','1') end, flags={'no-writes'}}",
    );
    assert_eq!(c.cmd(&["FUNCTION", "LOAD", &ro]), b("ro"));
    match c.cmd(&["FCALL", "w", "0"]) {
        Reply::Error(e) => assert!(e.starts_with("ERR Write commands are not allowed from read-only scripts"), "{e}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(c.cmd(&["FUNCTION", "DELETE", "mylib"]), ok());
    assert_eq!(c.cmd(&["FCALL", "setter", "0"]), err("ERR Function not found"));
    assert_eq!(c.cmd(&["FUNCTION", "DELETE", "mylib"]), err("ERR Library not found"));
    assert_eq!(c.cmd(&["FUNCTION", "FLUSH", "bad"]), err("ERR FUNCTION FLUSH only supports SYNC|ASYNC option"));
    assert_eq!(
        c.cmd(&["FUNCTION", "FLUSH", "sync", "extra"]),
        err("ERR unknown subcommand or wrong number of arguments for 'flush'. Try FUNCTION HELP.")
    );
    // FLUSHALL leaves the libraries; FUNCTION FLUSH removes them.
    assert_eq!(c.cmd(&["FLUSHALL"]), ok());
    assert_ne!(c.cmd(&["FCALL", "w", "0"]), err("ERR Function not found"));
    assert_eq!(c.cmd(&["FUNCTION", "FLUSH", "ASYNC"]), ok());
    assert_eq!(c.cmd(&["FUNCTION", "LIST"]), Reply::Array(vec![]));
    assert_eq!(c.cmd(&["FUNCTION", "KILL"]), err("NOTBUSY No scripts in execution right now."));
}

#[test]
fn list_stats_dump_and_restore() {
    let s = Server::start(&["--io-threads", "2"]);
    let mut c = s.client();
    let code1 = lib(
        "library1",
        "redis.register_function{function_name='f1', callback=function() return 1 end, description='one', flags={'no-writes', 'ALLOW-STALE'}}",
    );
    let code2 = lib("lib2", "redis.register_function('f2', function() return 2 end)");
    assert_eq!(c.cmd(&["FUNCTION", "LOAD", &code1]), b("library1"));
    assert_eq!(c.cmd(&["FUNCTION", "LOAD", &code2]), b("lib2"));
    let entry1 = |code: bool| {
        let mut v = vec![
            b("library_name"),
            b("library1"),
            b("engine"),
            b("LUA"),
            b("functions"),
            Reply::Array(vec![Reply::Array(vec![
                b("name"),
                b("f1"),
                b("description"),
                b("one"),
                b("flags"),
                Reply::Array(vec![Reply::Simple("no-writes".into()), Reply::Simple("allow-stale".into())]),
            ])]),
        ];
        if code {
            v.push(b("library_code"));
            v.push(b(&code1));
        }
        Reply::Array(v)
    };
    assert_eq!(c.cmd(&["FUNCTION", "LIST", "LIBRARYNAME", "LIBRARY*"]), Reply::Array(vec![entry1(false)]));
    assert_eq!(c.cmd(&["FUNCTION", "LIST", "withcode", "libraryname", "library*"]), Reply::Array(vec![entry1(true)]));
    assert_eq!(c.cmd(&["FUNCTION", "LIST", "libraryname"]), err("ERR library name argument was not given"));
    assert_eq!(c.cmd(&["FUNCTION", "LIST", "withcode", "withcode"]), err("ERR Unknown argument withcode"));
    assert_eq!(
        c.cmd(&["FUNCTION", "STATS"]),
        Reply::Array(vec![
            b("running_script"),
            Reply::Null,
            b("engines"),
            Reply::Array(vec![
                b("LUA"),
                Reply::Array(vec![b("libraries_count"), Reply::Int(2), b("functions_count"), Reply::Int(2)])
            ]),
        ])
    );
    // RESP3: maps, a set of flags, a null description.
    assert!(matches!(c.cmd(&["HELLO", "3"]), Reply::Map(_)));
    match c.cmd(&["FUNCTION", "LIST", "LIBRARYNAME", "lib2"]) {
        Reply::Array(libs) => match &libs[..] {
            [Reply::Map(fields)] => {
                assert_eq!(fields[0], (b("library_name"), b("lib2")));
                let Reply::Array(fs) = &fields[2].1 else { panic!("{fields:?}") };
                assert_eq!(
                    fs[0],
                    Reply::Map(vec![
                        (b("name"), b("f2")),
                        (b("description"), Reply::Null),
                        (b("flags"), Reply::Set(vec![]))
                    ])
                );
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    assert!(matches!(c.cmd(&["HELLO", "2"]), Reply::Array(_)));

    let payload = dump(&mut c);
    assert_eq!(c.cmd(&["FUNCTION", "FLUSH"]), ok());
    assert_eq!(cmd_bytes(&mut c, &[b"FUNCTION", b"RESTORE", &payload]), ok());
    assert_eq!(c.cmd(&["FCALL", "f1", "0"]), Reply::Int(1));
    assert_eq!(c.cmd(&["FCALL", "f2", "0"]), Reply::Int(2));
    // APPEND (the default) refuses a library present; REPLACE replaces it; FLUSH drops others.
    assert_eq!(cmd_bytes(&mut c, &[b"FUNCTION", b"RESTORE", &payload]), err("ERR Library lib2 already exists"));
    assert_eq!(
        c.cmd(&[
            "FUNCTION",
            "LOAD",
            "REPLACE",
            &lib("lib2", "redis.register_function('f2', function() return 22 end)")
        ]),
        b("lib2")
    );
    assert_eq!(c.cmd(&["FCALL", "f2", "0"]), Reply::Int(22));
    assert_eq!(cmd_bytes(&mut c, &[b"FUNCTION", b"RESTORE", &payload, b"REPLACE"]), ok());
    assert_eq!(c.cmd(&["FCALL", "f2", "0"]), Reply::Int(2));
    assert_eq!(
        c.cmd(&["FUNCTION", "LOAD", &lib("extra", "redis.register_function('f3', function() return 3 end)")]),
        b("extra")
    );
    assert_eq!(cmd_bytes(&mut c, &[b"FUNCTION", b"RESTORE", &payload, b"FLUSH"]), ok());
    assert_eq!(c.cmd(&["FCALL", "f3", "0"]), err("ERR Function not found"));
    assert_eq!(
        cmd_bytes(&mut c, &[b"FUNCTION", b"RESTORE", &payload, b"bogus"]),
        err("ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.")
    );
    // A function name collision with another library fails the whole restore.
    assert_eq!(c.cmd(&["FUNCTION", "FLUSH"]), ok());
    assert_eq!(
        c.cmd(&["FUNCTION", "LOAD", &lib("clash", "redis.register_function('F2', function() return 0 end)")]),
        b("clash")
    );
    assert_eq!(cmd_bytes(&mut c, &[b"FUNCTION", b"RESTORE", &payload]), err("ERR Function f2 already exists"));
    assert_eq!(c.cmd(&["FCALL", "f1", "0"]), err("ERR Function not found"));

    // Hostile payloads: errors, never a crash, and the libraries stay.
    assert_eq!(c.cmd(&["FUNCTION", "RESTORE", "bad_payload"]), err("ERR payload version or checksum are wrong"));
    let mut flipped = payload.clone();
    flipped[4] ^= 0x55;
    assert_eq!(
        cmd_bytes(&mut c, &[b"FUNCTION", b"RESTORE", &flipped]),
        err("ERR payload version or checksum are wrong")
    );
    // A valid footer around garbage: a huge claimed length, a key type, bad code.
    for body in
        [vec![0xF5u8, 0x80, 0x7f, 0xff, 0xff, 0xff], vec![0x00u8, 0x01, b'k', 0x01, b'v'], vec![0xF6u8, 0x01, b'x'], {
            let mut v = vec![0xF5u8, 13];
            v.extend_from_slice(b"#!lua name=z\n");
            v
        }]
    {
        let mut p = body.clone();
        p.extend_from_slice(&10u16.to_le_bytes());
        let crc = crc64(&p);
        p.extend_from_slice(&crc.to_le_bytes());
        match cmd_bytes(&mut c, &[b"FUNCTION", b"RESTORE", &p]) {
            Reply::Error(e) => assert!(e.starts_with("ERR "), "{e}"),
            other => panic!("{body:?}: {other:?}"),
        }
    }
    // A library that never finishes loading: the load timeout, not a hung worker.
    let endless = b"#!lua name=z\nwhile true do end";
    let mut p = vec![0xF5u8, endless.len() as u8];
    p.extend_from_slice(endless);
    p.extend_from_slice(&10u16.to_le_bytes());
    let crc = crc64(&p);
    p.extend_from_slice(&crc.to_le_bytes());
    match cmd_bytes(&mut c, &[b"FUNCTION", b"RESTORE", &p]) {
        Reply::Error(e) => assert!(e.contains("FUNCTION LOAD timeout"), "{e}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(c.cmd(&["FCALL", "F2", "0"]), Reply::Int(0));
    assert_eq!(c.cmd(&["PING"]), Reply::Simple("PONG".into()));
}

/// Redis's CRC64 (Jones, reflected), bit by bit: the test's own, independent of the server's.
fn crc64(data: &[u8]) -> u64 {
    const POLY: u64 = 0x95ac_9329_ac4b_c9b5;
    let mut crc = 0u64;
    for &byte in data {
        crc ^= byte as u64;
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ POLY } else { crc >> 1 };
        }
    }
    crc
}

#[test]
fn functions_survive_debug_reload_and_a_restart() {
    let dir = std::env::temp_dir().join(format!("redoxide-functions-rdb-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let code = lib("persisted", "redis.register_function('pf', function(keys, args) return args[1] end)");
    {
        let s = Server::start_in(&dir, &["--save", "", "--enable-debug-command", "yes"]).expect("start");
        let mut c = s.client();
        assert_eq!(c.cmd(&["FUNCTION", "LOAD", &code]), b("persisted"));
        assert_eq!(c.cmd(&["SET", "k", "v"]), ok());
        assert_eq!(c.cmd(&["DEBUG", "RELOAD"]), ok());
        assert_eq!(c.cmd(&["FCALL", "pf", "0", "hi"]), b("hi"));
        // Without flushing, the library in the file collides with the loaded one; MERGE replaces.
        assert_eq!(
            c.cmd(&["DEBUG", "RELOAD", "NOFLUSH"]),
            err("ERR Error trying to load the RDB dump, check server logs.")
        );
        assert_eq!(c.cmd(&["DEBUG", "RELOAD", "NOFLUSH", "MERGE"]), ok());
        assert_eq!(c.cmd(&["SAVE"]), ok());
    }
    let s = Server::start_in(&dir, &["--save", ""]).expect("restart");
    let mut c = s.client();
    assert_eq!(c.cmd(&["FCALL", "pf", "0", "back"]), b("back"));
    assert_eq!(c.cmd(&["GET", "k"]), b("v"));
    assert_eq!(
        c.cmd(&["FUNCTION", "STATS"]),
        Reply::Array(vec![
            b("running_script"),
            Reply::Null,
            b("engines"),
            Reply::Array(vec![
                b("LUA"),
                Reply::Array(vec![b("libraries_count"), Reply::Int(1), b("functions_count"), Reply::Int(1)])
            ]),
        ])
    );
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn functions_survive_an_aof_restart_with_and_without_preamble() {
    for preamble in ["yes", "no"] {
        let dir = std::env::temp_dir().join(format!("redoxide-functions-aof-{preamble}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let args = ["--save", "", "--appendonly", "yes", "--aof-use-rdb-preamble", preamble];
        {
            let s = Server::start_in(&dir, &args).expect("start");
            let mut c = s.client();
            let a = lib("a", "redis.register_function('fa', function() return 'a' end)");
            let gone = lib("gone", "redis.register_function('fg', function() return 'g' end)");
            assert_eq!(c.cmd(&["FUNCTION", "LOAD", &a]), b("a"));
            assert_eq!(c.cmd(&["FUNCTION", "LOAD", &gone]), b("gone"));
            // Into the base by the rewrite, then a change in the incr file after it.
            assert!(matches!(c.cmd(&["BGREWRITEAOF"]), Reply::Simple(_)));
            wait_until("rewrite", Duration::from_secs(20), || {
                matches!(c.cmd(&["INFO", "persistence"]), Reply::Verbatim(_, t) | Reply::Bulk(t)
                    if String::from_utf8_lossy(&t).contains("aof_rewrite_in_progress:0")
                        && String::from_utf8_lossy(&t).contains("aof_rewrite_scheduled:0"))
            });
            assert_eq!(c.cmd(&["FUNCTION", "DELETE", "gone"]), ok());
            let b2 = lib("b", "redis.register_function('fb', function() return 'b' end)");
            assert_eq!(c.cmd(&["FUNCTION", "LOAD", &b2]), b("b"));
        }
        let s = Server::start_in(&dir, &args).expect("restart");
        let mut c = s.client();
        assert_eq!(c.cmd(&["FCALL", "fa", "0"]), b("a"), "preamble {preamble}");
        assert_eq!(c.cmd(&["FCALL", "fb", "0"]), b("b"), "preamble {preamble}");
        assert_eq!(c.cmd(&["FCALL", "fg", "0"]), err("ERR Function not found"), "preamble {preamble}");
        drop(s);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn functions_replicate_by_command_and_by_full_sync() {
    let master = Server::start(&["--save", "", "--repl-diskless-sync-delay", "0"]);
    let mut m = master.client();
    // Before the replica exists: carried by the full sync's RDB.
    let early = lib("early", "redis.register_function('fe', function() return redis.call('set', 'x', 'e') end)");
    assert_eq!(m.cmd(&["FUNCTION", "LOAD", &early]), b("early"));
    let port = master.port.to_string();
    let replica = Server::start(&["--save", "", "--replicaof", "127.0.0.1", &port]);
    let mut r = replica.client();
    let listed = |r: &mut Client, name: &str| match r.cmd(&["FUNCTION", "LIST", "LIBRARYNAME", name]) {
        Reply::Array(v) => !v.is_empty(),
        _ => false,
    };
    wait_until("full sync", Duration::from_secs(20), || listed(&mut r, "early"));
    // After: FUNCTION LOAD, FCALL's effects, DELETE and FLUSH stream to the replica.
    let late = lib(
        "late",
        "redis.register_function{function_name='fl', callback=function() return 'ro' end, flags={'no-writes'}}",
    );
    assert_eq!(m.cmd(&["FUNCTION", "LOAD", &late]), b("late"));
    wait_until("load replicated", Duration::from_secs(10), || listed(&mut r, "late"));
    assert_eq!(r.cmd(&["FCALL", "fl", "0"]), b("ro"));
    assert_eq!(m.cmd(&["FCALL", "fe", "0"]), ok());
    wait_until("effect replicated", Duration::from_secs(10), || r.cmd(&["GET", "x"]) == b("e"));
    // The replica refuses what writes.
    assert_eq!(r.cmd(&["FCALL", "fe", "0"]), err("READONLY You can't write against a read only replica."));
    assert_eq!(r.cmd(&["FUNCTION", "DELETE", "late"]), err("READONLY You can't write against a read only replica."));
    assert_eq!(m.cmd(&["FUNCTION", "DELETE", "late"]), ok());
    wait_until("delete replicated", Duration::from_secs(10), || !listed(&mut r, "late"));
    assert_eq!(m.cmd(&["FUNCTION", "FLUSH"]), ok());
    wait_until("flush replicated", Duration::from_secs(10), || !listed(&mut r, "early"));
}

#[test]
fn pause_write_holds_writing_functions_only() {
    let s = Server::start(&["--io-threads", "2"]);
    let mut c = s.client();
    let code = lib(
        "p",
        "redis.register_function{function_name='ro', callback=function() return 'r' end, flags={'no-writes'}}\n\
         redis.register_function('rw', function() return redis.call('set', 'y', '1') end)",
    );
    assert_eq!(c.cmd(&["FUNCTION", "LOAD", &code]), b("p"));
    assert_eq!(c.cmd(&["CLIENT", "PAUSE", "100000", "WRITE"]), ok());
    let mut other = s.client();
    assert_eq!(other.cmd(&["FCALL", "ro", "0"]), b("r"));
    assert_eq!(other.cmd(&["FCALL_RO", "ro", "0"]), b("r"));
    other.send(&["FCALL", "rw", "0"]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(c.cmd(&["GET", "y"]), Reply::Null, "a writing function ran during CLIENT PAUSE WRITE");
    assert_eq!(c.cmd(&["CLIENT", "UNPAUSE"]), ok());
    assert_eq!(other.read(), ok());
    assert_eq!(c.cmd(&["GET", "y"]), b("1"));
}

#[test]
fn a_busy_function_answers_busy_and_only_function_kill_stops_it() {
    let s = Server::start(&["--io-threads", "2", "--busy-reply-threshold", "50"]);
    // Connections are spread over the workers in turn: the first two land on different ones
    // (a worker's own connections wait for its script), as in tests/scripting.rs.
    let mut a = s.client();
    let mut b2 = s.client();
    let code = lib("busy", "redis.register_function('spin', function() local i = 0 while true do i = i + 1 end end)");
    assert_eq!(b2.cmd(&["FUNCTION", "LOAD", &code]), b("busy"));
    a.send(&["FCALL", "spin", "0"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match b2.cmd(&["PING"]) {
            Reply::Error(e) => {
                assert_eq!(
                    e,
                    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE."
                );
                break;
            }
            Reply::Simple(_) => {}
            other => panic!("{other:?}"),
        }
        assert!(Instant::now() < deadline, "never busy");
        std::thread::sleep(Duration::from_millis(20));
    }
    match b2.cmd(&["FUNCTION", "STATS"]) {
        Reply::Array(v) => match &v[1] {
            Reply::Array(run) => {
                assert_eq!(run[0..2], [b("name"), b("spin")]);
                assert_eq!(run[3], Reply::Array(vec![b("FCALL"), b("spin"), b("0")]));
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    assert_eq!(
        b2.cmd(&["SCRIPT", "KILL"]),
        err("BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.")
    );
    assert_eq!(b2.cmd(&["FUNCTION", "KILL"]), ok());
    match a.read() {
        Reply::Error(e) => assert!(e.contains("Script killed by user"), "{e}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(b2.cmd(&["PING"]), Reply::Simple("PONG".into()));
}
