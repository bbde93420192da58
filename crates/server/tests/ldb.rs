//! Black-box tests of the Lua debugger (SCRIPT DEBUG SYNC|YES + EVAL): a session driven with raw
//! RESP, every reply compared byte for byte with what redis-server 7.0.15 sends for the same
//! input (captured from Debian's redis-server 7.0.15 while writing these tests), plus what ends
//! a session: the client closing, SHUTDOWN, a protocol error.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use support::{Reply, Server};

/// A raw connection: requests are written as multibulk, replies read and compared as bytes.
struct Raw {
    stream: TcpStream,
}

impl Raw {
    fn connect(s: &Server) -> Raw {
        let stream = TcpStream::connect(("127.0.0.1", s.port)).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        Raw { stream }
    }

    fn send(&mut self, args: &[&[u8]]) {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        self.stream.write_all(&out).expect("write");
    }

    /// Reads exactly as many bytes as `expected` (bounded by the read timeout) and compares.
    fn expect(&mut self, expected: &[u8]) {
        let mut got = vec![0u8; expected.len()];
        let mut filled = 0;
        while filled < got.len() {
            match self.stream.read(&mut got[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) => panic!("read after {:?}: {e}", String::from_utf8_lossy(&got[..filled])),
            }
        }
        assert_eq!(
            String::from_utf8_lossy(&got[..filled]),
            String::from_utf8_lossy(expected),
            "reply differs from redis-server 7.0.15's"
        );
    }

    fn cmd(&mut self, args: &[&str], expected: &[u8]) {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.send(&args);
        self.expect(expected);
    }

    /// The server closed the connection (end of stream within the read timeout).
    fn closed(&mut self) -> bool {
        let mut buf = [0u8; 64];
        matches!(self.stream.read(&mut buf), Ok(0))
    }
}

const SCRIPT: &str = "local a = 1\nlocal t = {1,2,'x',{k='v'}}\nredis.call('set','k','v')\nredis.debug('hi', a, t)\nlocal b = redis.call('get','k')\nreturn b\n";

fn start_sync(s: &Server, script: &str, first_stop: &[u8]) -> Raw {
    let mut r = Raw::connect(s);
    r.cmd(&["SCRIPT", "DEBUG", "SYNC"], b"+OK\r\n");
    r.cmd(&["EVAL", script, "0"], first_stop);
    r
}

#[test]
fn a_sync_session_answers_as_redis_does() {
    let s = Server::start(&["--io-threads", "2"]);
    let mut r = start_sync(&s, SCRIPT, b"*2\r\n+* Stopped at 1, stop reason = step over\r\n+-> 1   local a = 1\r\n");
    r.cmd(&["help"], b"*30\r\n+Redis Lua debugger help:\r\n+[h]elp               Show this help.\r\n+[s]tep               Run current line and stop again.\r\n+[n]ext               Alias for step.\r\n+[c]ontinue           Run till next breakpoint.\r\n+[l]ist               List source code around current line.\r\n+[l]ist [line]        List source code around [line].\r\n+                     line = 0 means: current position.\r\n+[l]ist [line] [ctx]  In this form [ctx] specifies how many lines\r\n+                     to show before/after [line].\r\n+[w]hole              List all source code. Alias for 'list 1 1000000'.\r\n+[p]rint              Show all the local variables.\r\n+[p]rint <var>        Show the value of the specified variable.\r\n+                     Can also show global vars KEYS and ARGV.\r\n+[b]reak              Show all breakpoints.\r\n+[b]reak <line>       Add a breakpoint to the specified line.\r\n+[b]reak -<line>      Remove breakpoint from the specified line.\r\n+[b]reak 0            Remove all breakpoints.\r\n+[t]race              Show a backtrace.\r\n+[e]val <code>        Execute some Lua code (in a different callframe).\r\n+[r]edis <cmd>        Execute a Redis command.\r\n+[m]axlen [len]       Trim logged Redis replies and Lua var dumps to len.\r\n+                     Specifying zero as <len> means unlimited.\r\n+[a]bort              Stop the execution of the script. In sync\r\n+                     mode dataset changes will be retained.\r\n+\r\n+Debugger functions you can call from Lua scripts:\r\n+redis.debug()        Produce logs in the debugger console.\r\n+redis.breakpoint()   Stop execution like if there was a breakpoint in the\r\n+                     next line of code.\r\n");
    r.cmd(&["list"], b"*6\r\n+-> 1   local a = 1\r\n+   2   local t = {1,2,'x',{k='v'}}\r\n+   3   redis.call('set','k','v')\r\n+   4   redis.debug('hi', a, t)\r\n+   5   local b = redis.call('get','k')\r\n+   6   return b\r\n");
    r.cmd(&["l", "3", "1"], b"*3\r\n+   2   local t = {1,2,'x',{k='v'}}\r\n+   3   redis.call('set','k','v')\r\n+   4   redis.debug('hi', a, t)\r\n");
    r.cmd(&["print"], b"*1\r\n+No local variables in the current context.\r\n");
    r.cmd(&["p", "a"], b"*1\r\n+No such variable.\r\n");
    r.cmd(&["p", "KEYS"], b"*1\r\n+<value> {}\r\n");
    r.cmd(&["s"], b"*2\r\n+* Stopped at 2, stop reason = step over\r\n+-> 2   local t = {1,2,'x',{k='v'}}\r\n");
    r.cmd(&["s"], b"*2\r\n+* Stopped at 3, stop reason = step over\r\n+-> 3   redis.call('set','k','v')\r\n");
    r.cmd(&["print"], b"*2\r\n+<value> a = 1\r\n+<value> t = {1; 2; \"x\"; {[\"k\"]=\"v\"}}\r\n");
    // While stepping, the script's commands and their replies are logged before the stop.
    r.cmd(&["n"], b"*4\r\n+<redis> set k v\r\n+<reply> \"+OK\"\r\n+* Stopped at 4, stop reason = step over\r\n+-> 4   redis.debug('hi', a, t)\r\n");
    r.cmd(&["s"], b"*3\r\n+<debug> line 4: \"hi\", 1, {1; 2; \"x\"; {[\"k\"]=\"v\"}}\r\n+* Stopped at 5, stop reason = step over\r\n+-> 5   local b = redis.call('get','k')\r\n");
    r.cmd(&["b"], b"*1\r\n+No breakpoints set. Use 'b <line>' to add one.\r\n");
    r.cmd(&["b", "6"], b"*2\r\n+-> 5   local b = redis.call('get','k')\r\n+  #6   return b\r\n");
    r.cmd(&["b", "6"], b"*1\r\n+Wrong line number.\r\n");
    r.cmd(&["b", "99"], b"*1\r\n+Wrong line number.\r\n");
    r.cmd(&["b", "x"], b"*1\r\n+Invalid argument:'x'\r\n");
    r.cmd(&["b"], b"*2\r\n+1 breakpoints set:\r\n+  #6   return b\r\n");
    r.cmd(&["b", "-6"], b"*1\r\n+Breakpoint removed.\r\n");
    r.cmd(&["b", "-6"], b"*1\r\n+No breakpoint in the specified line.\r\n");
    r.cmd(&["b", "0"], b"*1\r\n+All breakpoints removed.\r\n");
    r.cmd(&["t"], b"*2\r\n+In top level:\r\n+-> 5   local b = redis.call('get','k')\r\n");
    r.cmd(&["m"], b"*1\r\n+<value> replies are truncated at 256 bytes.\r\n");
    r.cmd(&["m", "10"], b"*1\r\n+<value> replies are truncated at 60 bytes.\r\n");
    r.cmd(&["m", "0"], b"*1\r\n+<value> replies are unlimited.\r\n");
    r.cmd(&["e", "1+1"], b"*1\r\n+<retval> 2\r\n");
    r.cmd(&["e", "x = 1"], b"*1\r\n+<error> ldb_eval:1: Attempt to modify a readonly table\r\n");
    r.cmd(&["e", "local q = "], b"*1\r\n+<error> ldb_eval:1: unexpected symbol near '<eof>'\r\n");
    r.cmd(
        &["e", "nosuch"],
        b"*1\r\n+<error> ldb_eval:1: Script attempted to access nonexistent global variable 'nosuch'\r\n",
    );
    r.cmd(&["e", "'a\\nb\\1'"], b"*1\r\n+<retval> \"a\\nb\\x01\"\r\n");
    r.cmd(&["r", "set", "a", "b"], b"*2\r\n+<redis> set a b\r\n+<reply> \"+OK\"\r\n");
    r.cmd(&["r", "get", "nokey"], b"*2\r\n+<redis> get nokey\r\n+<reply> NULL\r\n");
    r.cmd(&["r", "hset", "h", "f", "v"], b"*2\r\n+<redis> hset h f v\r\n+<reply> 1\r\n");
    r.cmd(&["r", "hgetall", "h"], b"*2\r\n+<redis> hgetall h\r\n+<reply> [\"f\",\"v\"]\r\n");
    r.cmd(&["r", "incr", "a"], b"*3\r\n+<redis> incr a\r\n+<error> -ERR value is not an integer or out of range\r\n+<reply> \"-ERR value is not an integer or out of range\"\r\n");
    r.cmd(&["r", "x"], b"*2\r\n+<redis> x\r\n+<error> Unknown Redis command called from script\r\n");
    r.cmd(&["r"], b"*1\r\n+<error> Unknown Redis Lua debugger command or wrong number of arguments.\r\n");
    r.cmd(&["zzz"], b"*1\r\n+<error> Unknown Redis Lua debugger command or wrong number of arguments.\r\n");
    r.cmd(&["m", "60"], b"*1\r\n+<value> replies are truncated at 60 bytes.\r\n");
    r.cmd(
        &["e", "string.rep('y', 100)"],
        b"*1\r\n+<retval> \"yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy ...\r\n",
    );
    r.cmd(&["b", "6"], b"*2\r\n+-> 5   local b = redis.call('get','k')\r\n+  #6   return b\r\n");
    r.cmd(&["c"], b"*2\r\n+* Stopped at 6, stop reason = break point\r\n+->#6   return b\r\n");
    // The end of the session, then the EVAL's own reply, then the connection is closed.
    r.cmd(&["c"], b"*1\r\n+<endsession>\r\n$1\r\nv\r\n");
    assert!(r.closed(), "the debugging connection stays open after the session");
    // Sync mode keeps what the script and the debugger's `redis` command wrote.
    let mut c = s.client();
    assert_eq!(c.cmd(&["GET", "k"]), Reply::bulk("v"));
    assert_eq!(c.cmd(&["GET", "a"]), Reply::bulk("b"));
}

#[test]
fn trace_print_and_redis_breakpoint_follow_the_stack() {
    let s = Server::start(&["--io-threads", "2"]);
    let script =
        "local function f(x)\n  local y = x * 2\n  redis.breakpoint()\n  return y\nend\nlocal r = f(21)\nreturn r\n";
    let mut r = start_sync(&s, script, b"*2\r\n+* Stopped at 5, stop reason = step over\r\n+-> 5   end\r\n");
    r.cmd(&["c"], b"*2\r\n+* Stopped at 4, stop reason = redis.breakpoint() called\r\n+-> 4     return y\r\n");
    r.cmd(&["t"], b"*4\r\n+In f:\r\n+-> 4     return y\r\n+From top level:\r\n+   6   local r = f(21)\r\n");
    r.cmd(&["p"], b"*2\r\n+<value> x = 21\r\n+<value> y = 42\r\n");
    r.cmd(&["p", "r"], b"*1\r\n+No such variable.\r\n");
    r.cmd(&["p", "x"], b"*1\r\n+<value> 21\r\n");
    r.cmd(&["s"], b"*2\r\n+* Stopped at 7, stop reason = step over\r\n+-> 7   return r\r\n");
    r.cmd(&["s"], b"*1\r\n+<endsession>\r\n:42\r\n");
    assert!(r.closed());
    // Outside a session redis.breakpoint() is false and redis.debug() does nothing.
    let mut c = s.client();
    assert_eq!(c.cmd(&["EVAL", "redis.debug('x') return redis.breakpoint()", "0"]), Reply::Null);
}

#[test]
fn abort_and_protocol_errors_end_the_script_with_redis_errors() {
    let s = Server::start(&["--io-threads", "2"]);
    let stop = b"*2\r\n+* Stopped at 1, stop reason = step over\r\n+-> 1   return 1\r\n";
    let mut r = start_sync(&s, "return 1", stop);
    r.cmd(&["abort"], b"*1\r\n+<endsession>\r\n-ERR script aborted for user request script: e0e1f9fabfc9d4800c877a703b823ac0578ff8db, on @user_script:1.\r\n");
    assert!(r.closed());
    for bad in [&b"hello\r\n"[..], b"*0\r\n", b"*1\r\n$0\r\n\r\n"] {
        let mut r = start_sync(&s, "return 1", stop);
        r.stream.write_all(bad).expect("write");
        r.expect(b"*1\r\n+<endsession>\r\n-ERR protocol error script: e0e1f9fabfc9d4800c877a703b823ac0578ff8db, on @user_script:1.\r\n");
        assert!(r.closed());
    }
    // A command split across writes is waited for; NUL bytes inside an argument are fine.
    let mut r = start_sync(&s, "return 1", stop);
    r.stream.write_all(b"*1\r\n$11\r\nhello").expect("write");
    std::thread::sleep(Duration::from_millis(100));
    r.stream.write_all(b"\0world\r\n").expect("write");
    r.expect(b"*1\r\n+<error> Unknown Redis Lua debugger command or wrong number of arguments.\r\n");
    r.cmd(&["c"], b"*1\r\n+<endsession>\r\n:1\r\n");
    // EVALSHA cannot be debugged; an unknown mode is refused.
    let mut r = Raw::connect(&s);
    r.cmd(&["SCRIPT", "DEBUG", "maybe"], b"-ERR Use SCRIPT DEBUG YES/SYNC/NO\r\n");
    r.cmd(&["SCRIPT", "DEBUG", "SYNC"], b"+OK\r\n");
    r.cmd(&["EVALSHA", &"a".repeat(40), "0"], b"-ERR Please use EVAL instead of EVALSHA for debugging\r\n");
    r.cmd(&["SCRIPT", "DEBUG", "NO"], b"+OK\r\n");
    r.cmd(&["EVAL", "return 1", "0"], b":1\r\n");
}

/// Redis's "Test scripting debug lua stack overflow": 100 arguments to `redis` are refused by
/// the command lookup, logged as Redis logs them, and the server stays up.
#[test]
fn a_huge_redis_command_is_refused_and_the_server_stays_up() {
    let s = Server::start(&["--io-threads", "2"]);
    let mut r = start_sync(
        &s,
        "return 'hello'",
        b"*2\r\n+* Stopped at 1, stop reason = step over\r\n+-> 1   return 'hello'\r\n",
    );
    let mut cmd = b"*101\r\n$5\r\nredis\r\n".to_vec();
    for _ in 0..100 {
        cmd.extend_from_slice(b"$4\r\ntest\r\n");
    }
    r.stream.write_all(&cmd).expect("write");
    r.expect(b"*2\r\n+<redis> test test test test test test test test test test ... (89 more)\r\n+<error> Unknown Redis command called from script\r\n");
    // More than 1024 arguments, or an argument over 1024 bytes, is a protocol error.
    let mut cmd = b"*2\r\n$1\r\ne\r\n$1025\r\n".to_vec();
    cmd.extend_from_slice(&[b'x'; 1025]);
    cmd.extend_from_slice(b"\r\n");
    r.stream.write_all(&cmd).expect("write");
    r.expect(b"*1\r\n+<endsession>\r\n-ERR protocol error script: ");
    drop(r);
    let mut c = s.client();
    assert_eq!(c.cmd(&["PING"]), Reply::Simple("PONG".into()));
}

#[test]
fn a_client_that_leaves_lets_the_script_finish() {
    let s = Server::start(&["--io-threads", "2"]);
    let r = start_sync(
        &s,
        "local x = 1\nredis.call('set','after','1')\nreturn x\n",
        b"*2\r\n+* Stopped at 1, stop reason = step over\r\n+-> 1   local x = 1\r\n",
    );
    drop(r);
    // The script runs on without stops; its write is kept (sync mode).
    let mut c = s.client();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if c.cmd(&["GET", "after"]) == Reply::bulk("1") {
            break;
        }
        assert!(Instant::now() < deadline, "the script never finished after its client left");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_runaway_loop_stops_at_the_timeout_and_ends_when_its_client_leaves() {
    let s = Server::start(&["--io-threads", "2", "--busy-reply-threshold", "100"]);
    let mut r = start_sync(
        &s,
        "local i = 0\nwhile true do\n  i = i + 1\nend\n",
        b"*2\r\n+* Stopped at 1, stop reason = step over\r\n+-> 1   local i = 0\r\n",
    );
    r.cmd(&["c"], b"*2\r\n+* Stopped at 3, stop reason = timeout reached, infinite loop?\r\n+-> 3     i = i + 1\r\n");
    // Nobody can stop the loop once the client is gone: the script is ended instead, and the
    // worker it held answers again (fresh connections are spread over both workers).
    drop(r);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let all_answer = (0..4).all(|_| {
            let Ok(mut one) = TcpStream::connect(("127.0.0.1", s.port)) else { return false };
            let _ = one.set_read_timeout(Some(Duration::from_millis(500)));
            let mut buf = [0u8; 7];
            one.write_all(b"*1\r\n$4\r\nPING\r\n").is_ok() && one.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
        });
        if all_answer {
            break;
        }
        assert!(Instant::now() < deadline, "the runaway debugged script never ended");
    }
}

#[test]
fn yes_mode_runs_without_changing_the_dataset() {
    let s = Server::start(&["--io-threads", "2"]);
    let mut r = Raw::connect(&s);
    r.cmd(&["SCRIPT", "DEBUG", "YES"], b"+OK\r\n");
    r.cmd(
        &["EVAL", "return redis.call('get','k')", "0"],
        b"*2\r\n+* Stopped at 1, stop reason = step over\r\n+-> 1   return redis.call('get','k')\r\n",
    );
    r.cmd(&["r", "set", "k", "v"], b"*2\r\n+<redis> set k v\r\n+<error> Write commands are not allowed in a SCRIPT DEBUG YES session (redoxide cannot fork to roll them back): use SCRIPT DEBUG SYNC, whose changes are kept\r\n");
    r.cmd(&["c"], b"*1\r\n+<endsession>\r\n$-1\r\n");
    assert!(r.closed());
    let mut c = s.client();
    assert_eq!(c.cmd(&["EXISTS", "k"]), Reply::Int(0));
}

#[test]
fn shutdown_ends_a_stopped_session() {
    let mut s = Server::start(&["--io-threads", "2"]);
    let _r = start_sync(&s, "return 1", b"*2\r\n+* Stopped at 1, stop reason = step over\r\n+-> 1   return 1\r\n");
    // Connections are spread over the workers: one of these lands on the free one.
    let mut others: Vec<TcpStream> =
        (0..4).map(|_| TcpStream::connect(("127.0.0.1", s.port)).expect("connect")).collect();
    for o in &mut others {
        o.write_all(b"*2\r\n$8\r\nSHUTDOWN\r\n$6\r\nNOSAVE\r\n").expect("write");
    }
    assert!(s.wait_exit(Duration::from_secs(10)).is_some(), "SHUTDOWN did not end the debugging session");
}
