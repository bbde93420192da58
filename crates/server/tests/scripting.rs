//! Black-box tests of Lua scripting (EVAL, EVALSHA, EVAL_RO, SCRIPT) against real servers with
//! several worker threads: reply conversions both ways (RESP2 and RESP3), Redis 7.0.15's error
//! texts, the script cache across connections, atomicity under concurrent clients on other
//! threads (declared and undeclared keys), effects propagated to the AOF, cluster-mode slot
//! rules, and BUSY / SCRIPT KILL.

mod support;

use std::time::{Duration, Instant};
use support::{Client, Reply, Server};

fn b(s: &str) -> Reply {
    Reply::bulk(s)
}

fn ok() -> Reply {
    Reply::Simple("OK".into())
}

fn err(s: &str) -> Reply {
    Reply::Error(s.to_string())
}

/// The script's SHA1 as the server computes it (redis.sha1hex is checked against a known digest).
fn sha(c: &mut Client, body: &str) -> String {
    match c.cmd(&["SCRIPT", "LOAD", body]) {
        Reply::Bulk(b) => String::from_utf8(b).expect("hex"),
        other => panic!("SCRIPT LOAD replied {other:?}"),
    }
}

fn eval(c: &mut Client, body: &str, keys: &[&str], argv: &[&str]) -> Reply {
    let n = keys.len().to_string();
    let mut args = vec!["EVAL", body, n.as_str()];
    args.extend_from_slice(keys);
    args.extend_from_slice(argv);
    c.cmd(&args)
}

#[test]
fn lua_values_become_resp2_replies_as_in_redis() {
    let s = Server::start(&["--io-threads", "2"]);
    let mut c = s.client();
    assert_eq!(
        eval(&mut c, "return {1,2,3,'ciao',{1,2}}", &[], &[]),
        Reply::Array(vec![
            Reply::Int(1),
            Reply::Int(2),
            Reply::Int(3),
            b("ciao"),
            Reply::Array(vec![Reply::Int(1), Reply::Int(2)])
        ])
    );
    // Arrays stop at the first nil; numbers are truncated; true is 1 and false is nil.
    assert_eq!(eval(&mut c, "return {1,2,nil,4}", &[], &[]), Reply::Array(vec![Reply::Int(1), Reply::Int(2)]));
    assert_eq!(eval(&mut c, "return 3.99", &[], &[]), Reply::Int(3));
    assert_eq!(eval(&mut c, "return -3.99", &[], &[]), Reply::Int(-3));
    assert_eq!(eval(&mut c, "return true", &[], &[]), Reply::Int(1));
    assert_eq!(eval(&mut c, "return false", &[], &[]), Reply::Null);
    assert_eq!(eval(&mut c, "return nil", &[], &[]), Reply::Null);
    assert_eq!(eval(&mut c, "return {ok='fine'}", &[], &[]), Reply::Simple("fine".into()));
    assert_eq!(eval(&mut c, "return {err='My Error'}", &[], &[]), err("My Error"));
    assert_eq!(eval(&mut c, "return redis.error_reply('My Error')", &[], &[]), err("My Error"));
    assert_eq!(eval(&mut c, "return redis.status_reply('PONG2')", &[], &[]), Reply::Simple("PONG2".into()));
    assert_eq!(eval(&mut c, "return KEYS[1]..ARGV[2]", &["k"], &["a", "b"]), b("kb"));
    // Command replies become Lua values: nil bulk is false, status is {ok=...}.
    assert_eq!(eval(&mut c, "return type(redis.call('get','nokey'))", &[], &[]), b("boolean"));
    assert_eq!(eval(&mut c, "return redis.call('set','a','1')", &[], &[]), ok());
    assert_eq!(eval(&mut c, "return redis.call('set','a','1')['ok']", &[], &[]), b("OK"));
    assert_eq!(eval(&mut c, "return redis.call('incrby','a',41.0)", &[], &[]), Reply::Int(42));
    assert_eq!(c.cmd(&["RPUSH", "l", "x", "y"]), Reply::Int(2));
    assert_eq!(eval(&mut c, "return redis.call('lrange','l',0,-1)", &[], &[]), Reply::Array(vec![b("x"), b("y")]));
    // A table that contains itself does not recurse forever.
    let mut depth = 0;
    let mut r = eval(&mut c, "local t = {} t[1] = t return t", &[], &[]);
    while let Reply::Array(mut items) = r {
        assert_eq!(items.len(), 1);
        depth += 1;
        r = items.remove(0);
    }
    assert_eq!(r, err("ERR reached lua stack limit"));
    assert!(depth > 100, "{depth}");
    assert_eq!(c.cmd(&["PING"]), Reply::Simple("PONG".into()));
    // Libraries.
    assert_eq!(eval(&mut c, "return cjson.encode({1,2,{a=1}})", &[], &[]), b("[1,2,{\"a\":1}]"));
    assert_eq!(eval(&mut c, "return cjson.decode('[1,2,{\"a\":7}]')[3].a", &[], &[]), Reply::Int(7));
    assert_eq!(eval(&mut c, "return bit.band(0xff, 0x0f) .. bit.tohex(65535)", &[], &[]), b("150000ffff"));
    // Redis's own expected encodings (tests/unit/scripting.tcl).
    let hex = "local e = cmsgpack.pack(ARGV[1] == 'd' and 0.1 or -1099511627776) local h = '' \
               for i = 1, #e do h = h .. string.format('%02x', string.byte(e, i)) end return h";
    assert_eq!(eval(&mut c, hex, &[], &["d"]), b("cb3fb999999999999a"));
    assert_eq!(eval(&mut c, hex, &[], &["i"]), b("d3ffffff0000000000"));
    assert_eq!(eval(&mut c, "return cmsgpack.unpack(cmsgpack.pack({1, 'x', {2}}))[3][1]", &[], &[]), Reply::Int(2));
    assert_eq!(
        eval(&mut c, "return redis.sha1hex('Pizza & Mandolino')", &[], &[]),
        b("74822d82031af7493c20eefa13bd07ec4fada82f")
    );
}

#[test]
fn resp3_scripts_and_clients() {
    let s = Server::start(&["--io-threads", "2"]);
    let mut c = s.client();
    assert!(matches!(c.cmd(&["HELLO", "3"]), Reply::Map(_)));
    assert_eq!(c.cmd(&["HSET", "h", "f", "v"]), Reply::Int(1));
    assert_eq!(
        eval(&mut c, "redis.setresp(3) return redis.call('hgetall', 'h')", &[], &[]),
        Reply::Map(vec![(b("f"), b("v"))])
    );
    assert_eq!(eval(&mut c, "redis.setresp(3) return {double=3.5}", &[], &[]), Reply::Double("3.5".into()));
    assert_eq!(eval(&mut c, "redis.setresp(3) return true", &[], &[]), Reply::Bool(true));
    assert_eq!(eval(&mut c, "redis.setresp(3) return false", &[], &[]), Reply::Bool(false));
    assert_eq!(eval(&mut c, "return {set={a=true}}", &[], &[]), Reply::Set(vec![b("a")]));
    assert_eq!(eval(&mut c, "redis.setresp(3) return redis.call('get','nokey') == nil", &[], &[]), Reply::Bool(true));
    // A RESP2 script's false is a null in the client's protocol.
    assert_eq!(eval(&mut c, "return false", &[], &[]), Reply::Null);
    let h = sha(&mut c, "redis.setresp(4)");
    assert_eq!(
        eval(&mut c, "redis.setresp(4)", &[], &[]),
        err(&format!("ERR RESP version must be 2 or 3. script: {h}, on @user_script:1."))
    );
}

#[test]
fn errors_are_redis_7_0_texts() {
    let s = Server::start(&["--io-threads", "2"]);
    let mut c = s.client();
    assert_eq!(c.cmd(&["EVAL", "return 1", "2", "a"]), err("ERR Number of keys can't be greater than number of args"));
    assert_eq!(c.cmd(&["EVAL", "return 1", "-1"]), err("ERR Number of keys can't be negative"));
    assert_eq!(c.cmd(&["EVAL", "return 1", "x"]), err("ERR value is not an integer or out of range"));
    assert_eq!(
        c.cmd(&["EVALSHA", "ffffffffffffffffffffffffffffffffffffffff", "0"]),
        err("NOSCRIPT No matching script. Please use EVAL.")
    );
    assert_eq!(c.cmd(&["EVALSHA", "short", "0"]), err("NOSCRIPT No matching script. Please use EVAL."));
    assert_eq!(
        c.cmd(&["EVAL", "return x(", "0"]),
        err("ERR Error compiling script (new function): user_script:1: unexpected symbol near '<eof>'")
    );
    let body = "return redis.call('nosuch')";
    let h = sha(&mut c, body);
    assert_eq!(
        c.cmd(&["EVAL", body, "0"]),
        err(&format!("ERR Unknown Redis command called from script script: {}, on @user_script:1.", h))
    );
    let body = "local x = 1\nreturn redis.call('get')";
    let h = sha(&mut c, body);
    assert_eq!(
        c.cmd(&["EVAL", body, "0"]),
        err(&format!("ERR Wrong number of args calling Redis command from script script: {}, on @user_script:2.", h))
    );
    let body = "return redis.call('eval','return 1','0')";
    let h = sha(&mut c, body);
    assert_eq!(
        c.cmd(&["EVAL", body, "0"]),
        err(&format!("ERR This Redis command is not allowed from script script: {}, on @user_script:1.", h))
    );
    let body = "return a";
    let h = sha(&mut c, body);
    assert_eq!(
        c.cmd(&["EVAL", body, "0"]),
        err(&format!(
            "ERR user_script:1: Script attempted to access nonexistent global variable 'a' script: {}, on @user_script:1.",
            h
        ))
    );
    let body = "a = 10";
    let h = sha(&mut c, body);
    assert_eq!(
        c.cmd(&["EVAL", body, "0"]),
        err(&format!("ERR user_script:1: Attempt to modify a readonly table script: {}, on @user_script:1.", h))
    );
    // A command's error raised by redis.call keeps its code; redis.pcall returns it.
    assert_eq!(c.cmd(&["SET", "s", "x"]), ok());
    let body = "return redis.call('incr','s')";
    let h = sha(&mut c, body);
    assert_eq!(
        c.cmd(&["EVAL", body, "0"]),
        err(&format!("ERR value is not an integer or out of range script: {}, on @user_script:1.", h))
    );
    assert_eq!(c.cmd(&["LPUSH", "l", "x"]), Reply::Int(1));
    let body = "return redis.call('get','l')";
    let h = sha(&mut c, body);
    assert_eq!(
        c.cmd(&["EVAL", body, "0"]),
        err(&format!(
            "WRONGTYPE Operation against a key holding the wrong kind of value script: {}, on @user_script:1.",
            h
        ))
    );
    assert_eq!(
        c.cmd(&["EVAL", "return redis.pcall('incr','s')", "0"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        c.cmd(&["EVAL", "local ok, e = pcall(redis.call, 'incr', 's') return e", "0"]),
        b("ERR value is not an integer or out of range")
    );
    // Read-only scripts.
    let body = "return redis.call('set','x','1')";
    let h = sha(&mut c, body);
    assert_eq!(
        c.cmd(&["EVAL_RO", body, "0"]),
        err(&format!("ERR Write commands are not allowed from read-only scripts. script: {}, on @user_script:1.", h))
    );
    assert_eq!(c.cmd(&["EVAL_RO", "return redis.call('get','s')", "0"]), b("x"));
    let body = "#!lua flags=no-writes\nreturn redis.call('set','x','1')";
    let h = sha(&mut c, body);
    assert_eq!(
        c.cmd(&["EVAL", body, "0"]),
        err(&format!("ERR Write commands are not allowed from read-only scripts. script: {}, on @user_script:2.", h))
    );
    assert_eq!(
        c.cmd(&["EVAL_RO", "#!lua\nreturn 1", "0"]),
        err("ERR Can not execute a script with write flag using *_ro command.")
    );
    assert_eq!(c.cmd(&["EVAL", "#!lua flags=bad\nreturn 1", "0"]), err("ERR Unexpected flag in script shebang: bad"));
    assert_eq!(c.cmd(&["EVAL", "#!lua", "0"]), err("ERR Invalid script shebang"));
    assert_eq!(c.cmd(&["EVAL", "#!python\nreturn 1", "0"]), err("ERR Unexpected engine in script shebang: #!python"));
    assert_eq!(c.cmd(&["EVAL", "#!lua foo=bar\nreturn 1", "0"]), err("ERR Unknown lua shebang option: foo=bar"));
    assert_eq!(c.cmd(&["SCRIPT", "KILL"]), err("NOTBUSY No scripts in execution right now."));
    assert_eq!(c.cmd(&["SCRIPT", "FLUSH", "x"]), err("ERR SCRIPT FLUSH only support SYNC|ASYNC option"));
    // The server is still fine after all that.
    assert_eq!(c.cmd(&["PING"]), Reply::Simple("PONG".into()));
}

#[test]
fn the_script_cache_is_shared_by_every_connection() {
    let s = Server::start(&["--io-threads", "3"]);
    let mut a = s.client();
    let mut others: Vec<Client> = (0..3).map(|_| s.client()).collect();
    let sha = match a.cmd(&["SCRIPT", "LOAD", "return ARGV[1]..'!'"]) {
        Reply::Bulk(b) => String::from_utf8(b).expect("hex"),
        other => panic!("{other:?}"),
    };
    for c in others.iter_mut() {
        assert_eq!(c.cmd(&["EVALSHA", &sha, "0", "hi"]), b("hi!"));
        assert_eq!(c.cmd(&["EVALSHA", &sha.to_uppercase(), "0", "hi"]), b("hi!"));
        assert_eq!(c.cmd(&["EVALSHA_RO", &sha, "0", "ro"]), b("ro!"));
        assert_eq!(
            c.cmd(&["SCRIPT", "EXISTS", &sha, "ffffffffffffffffffffffffffffffffffffffff"]),
            Reply::Array(vec![Reply::Int(1), Reply::Int(0)])
        );
    }
    // EVAL caches too.
    assert_eq!(a.cmd(&["EVAL", "return 'x'", "0"]), b("x"));
    let x = self::sha(&mut a, "return 'x'");
    assert_eq!(others[0].cmd(&["EVALSHA", &x, "0"]), b("x"));
    assert_eq!(a.cmd(&["SCRIPT", "FLUSH", "ASYNC"]), ok());
    for c in others.iter_mut() {
        assert_eq!(c.cmd(&["EVALSHA", &sha, "0", "hi"]), err("NOSCRIPT No matching script. Please use EVAL."));
    }
    let info = match a.cmd(&["INFO", "memory"]) {
        Reply::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
        other => panic!("{other:?}"),
    };
    assert!(info.contains("number_of_cached_scripts:0"), "{info}");
    assert_eq!(a.cmd(&["EVAL", "return 1", "0"]), Reply::Int(1));
    let info = match a.cmd(&["INFO", "memory"]) {
        Reply::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
        other => panic!("{other:?}"),
    };
    assert!(info.contains("number_of_cached_scripts:1"), "{info}");
}

/// Read-modify-write scripts from clients on four worker threads, against plain INCRs on the
/// same keys: no update is lost, so each script saw and wrote its keys with nobody in between.
#[test]
fn scripts_are_atomic_against_clients_on_other_threads() {
    let s = Server::start(&["--io-threads", "4"]);
    const ROUNDS: usize = 300;
    // Declared keys; the script reads, spins a little, then writes back.
    let declared = "local v = tonumber(redis.call('get', KEYS[1]) or '0') \
                    for i = 1, 200 do end \
                    redis.call('set', KEYS[1], v + 1) \
                    local w = tonumber(redis.call('get', KEYS[2]) or '0') \
                    redis.call('set', KEYS[2], w + 1) return v";
    // Standalone mode also allows keys a script did not declare; they must stay locked from
    // the first access to the end of the script too.
    let undeclared = "local v = tonumber(redis.call('get', ARGV[1]) or '0') \
                      for i = 1, 200 do end \
                      redis.call('set', ARGV[1], v + 1) return v";
    let port = s.port;
    let mut threads = Vec::new();
    for t in 0..4 {
        let declared = declared.to_string();
        let undeclared = undeclared.to_string();
        threads.push(std::thread::spawn(move || {
            let mut c = Client::connect(port);
            let mut late_lock_errors = 0;
            for _ in 0..ROUNDS {
                match t {
                    0 | 1 => {
                        assert!(matches!(c.cmd(&["EVAL", &declared, "2", "counter", "{counter}other"]), Reply::Int(_)))
                    }
                    2 => match c.cmd(&["EVAL", &undeclared, "0", "loose"]) {
                        Reply::Int(_) => {}
                        Reply::Error(e) if e.contains("another client holds") => late_lock_errors += 1,
                        other => panic!("{other:?}"),
                    },
                    _ => {
                        assert!(matches!(c.cmd(&["INCR", "counter"]), Reply::Int(_)));
                        assert!(matches!(c.cmd(&["INCR", "loose"]), Reply::Int(_)));
                    }
                }
            }
            late_lock_errors
        }));
    }
    let mut late = 0;
    for t in threads {
        late += t.join().expect("client thread");
    }
    let mut c = s.client();
    assert_eq!(c.cmd(&["GET", "counter"]), b(&(3 * ROUNDS).to_string()));
    assert_eq!(c.cmd(&["GET", "{counter}other"]), b(&(2 * ROUNDS).to_string()));
    // A script touching only one undeclared slot holds nothing lower, so it never gives up.
    assert_eq!(late, 0);
    assert_eq!(c.cmd(&["GET", "loose"]), b(&(2 * ROUNDS).to_string()));
}

/// Two kinds of scripts that each declare one key and then reach the other's key without
/// declaring it: naive lazy locking would deadlock (each holds one slot and waits for the
/// other's). Every call must answer, each either with its write done or with the late-lock
/// error, and the counters must add up exactly.
#[test]
fn undeclared_keys_never_deadlock() {
    let s = Server::start(&["--io-threads", "4"]);
    // "a" is slot 15495, "b" is slot 3300.
    let script = "redis.call('incr', KEYS[1]) redis.call('incr', ARGV[1]) return 1";
    let port = s.port;
    let mut threads = Vec::new();
    for t in 0..4 {
        let script = script.to_string();
        threads.push(std::thread::spawn(move || {
            let mut c = Client::connect(port);
            let (mine, other) = if t % 2 == 0 { ("a", "b") } else { ("b", "a") };
            let mut done = 0usize;
            let mut refused = 0usize;
            for _ in 0..200 {
                match c.cmd(&["EVAL", &script, "1", mine, other]) {
                    Reply::Int(1) => done += 1,
                    Reply::Error(e) if e.contains("another client holds") => refused += 1,
                    other => panic!("{other:?}"),
                }
            }
            (mine, done, refused)
        }));
    }
    let (mut a, mut b_count, mut refused) = (0, 0, 0);
    for t in threads {
        let (mine, done, r) = t.join().expect("thread");
        refused += r;
        // A completed script incremented both; a refused one incremented its own key only.
        if mine == "a" {
            a += done + r;
            b_count += done;
        } else {
            b_count += done + r;
            a += done;
        }
    }
    let mut c = s.client();
    assert_eq!(c.cmd(&["GET", "a"]), b(&a.to_string()));
    assert_eq!(c.cmd(&["GET", "b"]), b(&b_count.to_string()));
    assert!(refused < 800, "every script was refused");
}

#[test]
fn transactions_run_scripts_atomically() {
    let s = Server::start(&["--io-threads", "2"]);
    let mut c = s.client();
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(c.cmd(&["EVAL", "return redis.call('incr', KEYS[1])", "1", "x"]), Reply::Simple("QUEUED".into()));
    assert_eq!(c.cmd(&["INCR", "x"]), Reply::Simple("QUEUED".into()));
    assert_eq!(c.cmd(&["EVAL", "return redis.call('get', 'x')", "0"]), Reply::Simple("QUEUED".into()));
    assert_eq!(c.cmd(&["EXEC"]), Reply::Array(vec![Reply::Int(1), Reply::Int(2), b("2")]));
}

/// Redis 7.0 replicates a script's effects, never the EVAL: one write alone is logged bare,
/// several as MULTI/EXEC.
#[test]
fn effects_are_propagated_to_the_aof() {
    let s = Server::start(&["--io-threads", "2", "--appendonly", "yes", "--save", ""]);
    let mut c = s.client();
    assert_eq!(c.cmd(&["EVAL", "redis.call('set', KEYS[1], 'one')", "1", "k1"]), Reply::Null);
    assert_eq!(
        c.cmd(&[
            "EVAL",
            "redis.call('set', KEYS[1], 'a') redis.call('incr', KEYS[2]) return redis.call('get', KEYS[1])",
            "2",
            "k2",
            "k3"
        ]),
        b("a")
    );
    assert_eq!(c.cmd(&["EVAL", "return redis.call('get', KEYS[1])", "1", "k1"]), b("one"));
    let dir = s.dir.join("appendonlydir");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut log = String::new();
    while Instant::now() < deadline {
        log.clear();
        for e in std::fs::read_dir(&dir).expect("appendonlydir").flatten() {
            let p = e.path();
            if p.to_string_lossy().ends_with(".incr.aof") {
                log.push_str(&String::from_utf8_lossy(&std::fs::read(&p).expect("read")));
            }
        }
        if log.contains("incr") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let words: Vec<&str> = log.split("\r\n").filter(|l| !l.starts_with('*') && !l.starts_with('$')).collect();
    let text = words.join(" ");
    assert!(!text.to_lowercase().contains("eval"), "{text}");
    assert!(text.contains("set k1 one"), "{text}");
    let single = text.find("set k1 one").expect("first write");
    assert!(!text[..single].contains("MULTI") && !text[..single].contains("multi"), "{text}");
    let wrapped = text[single..].to_lowercase();
    assert!(wrapped.contains("multi set k2 a incr k3 exec"), "{text}");
}

#[test]
fn cluster_mode_slot_rules() {
    let s = Server::start_cluster_node(&["--io-threads", "2"]);
    let mut c = s.client();
    assert_eq!(c.cmd(&["CLUSTER", "ADDSLOTSRANGE", "0", "16383"]), ok());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let info = match c.cmd(&["CLUSTER", "INFO"]) {
            Reply::Bulk(b) | Reply::Verbatim(_, b) => String::from_utf8_lossy(&b).into_owned(),
            other => panic!("{other:?}"),
        };
        if info.contains("cluster_state:ok") {
            break;
        }
        assert!(Instant::now() < deadline, "cluster never became ok");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Declared keys in different slots: CROSSSLOT, as for any command.
    assert_eq!(
        c.cmd(&["EVAL", "return 1", "2", "a", "b"]),
        err("CROSSSLOT Keys in request don't hash to the same slot")
    );
    assert_eq!(c.cmd(&["EVAL", "return redis.call('set', KEYS[1], '1')", "1", "{t}a"]), ok());
    // Without a shebang a script may reach any local slot (Redis 7.0's compatibility mode).
    assert_eq!(c.cmd(&["EVAL", "return redis.call('get', 'zzz')", "1", "{t}a"]), Reply::Null);
    // With a shebang, keys outside the script's slot are refused unless allow-cross-slot-keys.
    let body = "#!lua\nreturn redis.call('get', 'zzz')";
    let h = sha(&mut c, body);
    assert_eq!(
        c.cmd(&["EVAL", body, "1", "{t}a"]),
        err(&format!(
            "ERR Script attempted to access keys that do not hash to the same slot script: {}, on @user_script:2.",
            h
        ))
    );
    assert_eq!(
        c.cmd(&["EVAL", "#!lua flags=allow-cross-slot-keys\nreturn redis.call('get', 'zzz')", "1", "{t}a"]),
        Reply::Null
    );
    assert_eq!(
        c.cmd(&["EVAL", "#!lua flags=no-cluster\nreturn 1", "0"]),
        err("ERR Can not run script on cluster, 'no-cluster' flag is set.")
    );
}

#[test]
fn a_busy_script_answers_busy_and_can_be_killed() {
    let s = Server::start(&["--io-threads", "2", "--busy-reply-threshold", "50"]);
    let mut a = s.client();
    let mut b = s.client();
    a.send(&["EVAL", "local i = 0 while true do i = i + 1 end", "0"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match b.cmd(&["PING"]) {
            Reply::Error(e) => {
                assert_eq!(e, "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.");
                break;
            }
            Reply::Simple(_) => {}
            other => panic!("{other:?}"),
        }
        assert!(Instant::now() < deadline, "never busy");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(b.cmd(&["SCRIPT", "KILL"]), ok());
    match a.read() {
        Reply::Error(e) => assert!(e.starts_with("ERR Script killed by user with SCRIPT KILL..."), "{e}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(b.cmd(&["PING"]), Reply::Simple("PONG".into()));
    assert_eq!(b.cmd(&["SCRIPT", "KILL"]), err("NOTBUSY No scripts in execution right now."));
    // A script that wrote cannot be killed.
    a.send(&["EVAL", "redis.call('set','x','1') while true do end", "0"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match b.cmd(&["SCRIPT", "KILL"]) {
            Reply::Error(e) if e.starts_with("UNKILLABLE") => break,
            Reply::Error(e) if e.starts_with("NOTBUSY") => {}
            other => panic!("{other:?}"),
        }
        assert!(Instant::now() < deadline, "never busy");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// With one I/O thread every client shares the busy script's worker: it answers them from the
/// script's hook (Redis's processEventsWhileBlocked), new connections included. Allow-busy
/// commands run (MULTI, SCRIPT KILL), the rest get -BUSY (a transaction holding one is
/// aborted), SHUTDOWN needs NOSAVE, and the script's own pipelined command waits for it.
#[test]
fn one_thread_serves_its_other_clients_during_a_busy_script() {
    let s = Server::start(&["--io-threads", "1", "--busy-reply-threshold", "50"]);
    let mut a = s.client();
    let mut b = s.client();
    let busy = "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
    assert_eq!(b.cmd(&["SET", "xx", "1"]), ok());
    assert_eq!(b.cmd(&["MULTI"]), ok());
    assert_eq!(b.cmd(&["INCR", "xx"]), Reply::Simple("QUEUED".into()));
    // The script and a PING pipelined behind it on the same connection.
    let mut pipelined = Client::encode(&["EVAL", "local i = 0 while true do i = i + 1 end", "0"]);
    pipelined.extend_from_slice(&Client::encode(&["PING"]));
    a.send_raw(&pipelined);
    let deadline = Instant::now() + Duration::from_secs(10);
    // A connection made now is accepted and answered while the script runs.
    let mut c = loop {
        let mut fresh = s.client();
        match fresh.cmd(&["PING"]) {
            Reply::Error(e) => {
                assert_eq!(e, busy);
                break fresh;
            }
            Reply::Simple(p) => assert_eq!(p, "PONG"),
            other => panic!("{other:?}"),
        }
        assert!(Instant::now() < deadline, "never busy");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(c.cmd(&["GET", "xx"]), err(busy));
    assert_eq!(c.cmd(&["SHUTDOWN"]), err(busy), "saving needs the script's data");
    assert_eq!(c.cmd(&["MULTI"]), ok(), "MULTI is allowed while busy");
    assert_eq!(c.cmd(&["INCR", "xx"]), err(busy));
    // EXEC itself is refused before it looks at the queue (processCommand's order).
    assert_eq!(c.cmd(&["EXEC"]), err(&format!("EXECABORT Transaction discarded because of: {busy}")));
    assert_eq!(b.cmd(&["EXEC"]), err(&format!("EXECABORT Transaction discarded because of: {busy}")));
    assert_eq!(c.cmd(&["SCRIPT", "KILL"]), ok());
    match a.read() {
        Reply::Error(e) => assert!(e.starts_with("ERR Script killed by user with SCRIPT KILL..."), "{e}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(a.read(), Reply::Simple("PONG".into()), "the script's own pipelined command");
    assert_eq!(b.cmd(&["GET", "xx"]), Reply::bulk("1"), "no part of either transaction ran");
    assert_eq!(c.cmd(&["PING"]), Reply::Simple("PONG".into()));
    // SHUTDOWN NOSAVE ends a busy script and the server.
    a.send(&["EVAL", "while true do end", "0"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.cmd(&["PING"]) != err(busy) {
        assert!(Instant::now() < deadline, "never busy");
        std::thread::sleep(Duration::from_millis(20));
    }
    c.send(&["SHUTDOWN", "NOSAVE"]);
    assert!(c.is_closed(), "SHUTDOWN NOSAVE did not end the server");
}

fn info_field(c: &mut Client, section: &str, name: &str) -> String {
    let text = match c.cmd(&["INFO", section]) {
        Reply::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
        other => panic!("{other:?}"),
    };
    text.lines().find_map(|l| l.strip_prefix(&format!("{name}:"))).unwrap_or("").trim().to_string()
}

/// A replica receives a script's effects and ends up with the same data; a script that writes is
/// refused on it (read-only replica), one that only reads runs.
#[test]
fn replicas_receive_the_effects() {
    let master = Server::start(&["--io-threads", "2"]);
    let replica = Server::start(&["--io-threads", "2"]);
    let mut m = master.client();
    let mut r = replica.client();
    assert_eq!(r.cmd(&["REPLICAOF", "127.0.0.1", &master.port.to_string()]), ok());
    let deadline = Instant::now() + Duration::from_secs(20);
    while info_field(&mut r, "replication", "master_link_status") != "up" {
        assert!(Instant::now() < deadline, "replica never connected");
        std::thread::sleep(Duration::from_millis(50));
    }
    let body = "redis.call('set', KEYS[1], ARGV[1]) redis.call('rpush', KEYS[2], ARGV[1], ARGV[1]) \
                redis.call('incrbyfloat', KEYS[3], '1.5') return redis.call('llen', KEYS[2])";
    assert_eq!(eval(&mut m, body, &["s", "l", "f"], &["v"]), Reply::Int(2));
    assert_eq!(eval(&mut m, body, &["s", "l", "f"], &["w"]), Reply::Int(4));
    let deadline = Instant::now() + Duration::from_secs(20);
    while r.cmd(&["LLEN", "l"]) != Reply::Int(4) {
        assert!(Instant::now() < deadline, "replica never got the writes");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(r.cmd(&["GET", "s"]), b("w"));
    assert_eq!(r.cmd(&["GET", "f"]), b("3"));
    assert_eq!(r.cmd(&["LRANGE", "l", "0", "-1"]), Reply::Array(vec![b("v"), b("v"), b("w"), b("w")]));
    // Scripts on the replica: reads run, writes are refused as Redis refuses them.
    assert_eq!(eval(&mut r, "return redis.call('get', KEYS[1])", &["s"], &[]), b("w"));
    match eval(&mut r, "return redis.call('set', 'x', '1')", &[], &[]) {
        Reply::Error(e) => assert!(e.starts_with("READONLY You can't write against a read only replica."), "{e}"),
        other => panic!("{other:?}"),
    }
    // A script declaring flags without no-writes is a write before it runs (Redis's
    // getCommandFlags): processCommand's own READONLY refusal, as Redis's "no-writes shebang
    // flag on replica" test expects.
    assert_eq!(eval(&mut r, "#!lua\nreturn 1", &[], &[]), err("READONLY You can't write against a read only replica."));
    assert_eq!(eval(&mut r, "#!lua flags=no-writes\nreturn redis.call('get', 's')", &[], &[]), b("w"));
}

/// A command error inside a script is counted once: INFO errorstats and the command's
/// rejected_calls count the refused `set`, and the script's error reply made of it only adds
/// the EVAL's failed_calls (Redis's `ignore_error_stats_update`). A shebang script that may
/// write is refused OOM before it runs.
#[test]
fn a_script_error_made_of_a_command_error_is_counted_once() {
    let s = Server::start(&[]);
    let mut c = s.client();
    assert_eq!(c.cmd(&["CONFIG", "SET", "maxmemory", "1"]), ok());
    assert_eq!(c.cmd(&["CONFIG", "RESETSTAT"]), ok());
    match eval(&mut c, "return redis.call('set','x','y')", &["x"], &[]) {
        Reply::Error(e) => assert!(e.starts_with("OOM command not allowed"), "{e}"),
        other => panic!("{other:?}"),
    }
    let stats = |c: &mut Client| match c.cmd(&["INFO", "errorstats", "commandstats"]) {
        Reply::Bulk(b) | Reply::Verbatim(_, b) => String::from_utf8_lossy(&b).into_owned(),
        other => panic!("{other:?}"),
    };
    let text = stats(&mut c);
    assert!(text.contains("errorstat_OOM:count=1\r\n"), "{text}");
    assert!(text.contains("cmdstat_set:calls=0,usec=0,usec_per_call=0.00,rejected_calls=1,failed_calls=0"), "{text}");
    assert!(text.contains("rejected_calls=0,failed_calls=1"), "{text}");
    assert_eq!(
        eval(&mut c, "#!lua\nreturn 1", &[], &[]),
        err("OOM command not allowed when used memory > 'maxmemory'.")
    );
    assert_eq!(eval(&mut c, "#!lua flags=no-writes\nreturn 1", &[], &[]), Reply::Int(1));
    assert_eq!(c.cmd(&["CONFIG", "SET", "maxmemory", "0"]), ok());
}
