//! The interactive prompt on a real terminal: the same keys typed into `redoxide-cli` and into
//! Debian's `redis-cli` 7.0.15, each in its own tmux pane against one real `redis-server`, and the
//! screens (colours included) compared after every step. Only the `(0.62s)` duration of a long
//! command is normalised; everything else must be identical.
//!
//! Skipped (with a note on stderr) when tmux, redis-server or redis-cli is missing. Everything it
//! starts is ended on every path: the server by its pid, the panes by killing the private tmux
//! server (`tmux -S <temp dir>/tmux.sock`, so no one else's tmux is touched) and the temp dir, all
//! from `Drop` (declared so that the dir goes last).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const REDIS_SERVER: &str = "/usr/bin/redis-server";
const REDIS_CLI: &str = "/usr/bin/redis-cli";

/// The test's temp dir, removed on every path.
struct TempDir(PathBuf);
impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("rdx-prompt-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp dir");
        TempDir(dir)
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A private tmux server (its socket inside the test's temp dir); dropping it kills every session
/// in it.
struct Tmux {
    socket: PathBuf,
}
impl Tmux {
    fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux").arg("-S").arg(&self.socket).args(args).stdin(Stdio::null()).output().expect("run tmux")
    }
    fn screen(&self, session: &str) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-e", "-t", session]).stdout).into_owned()
    }
    fn alive(&self, session: &str) -> bool {
        self.cmd(&["has-session", "-t", session]).status.success()
    }
}
impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Whether `path` and tmux are there. Under CI (`CI` set, as .ci/run sets it after installing them) a missing
/// tool is a failure, not a skip: a test that silently stops running proves nothing.
fn have(path: &str) -> bool {
    let present = Path::new(path).exists() && Command::new("tmux").arg("-V").output().is_ok_and(|o| o.status.success());
    assert!(present || std::env::var_os("CI").is_none(), "CI must provide tmux and {path}");
    present
}

/// Polls until `ok(screen)` holds and the screen stopped changing, for at most 10 s.
fn wait_screen(t: &Tmux, session: &str, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = String::new();
    loop {
        let s = t.screen(session);
        if ok(&s) && s == last {
            return s;
        }
        if Instant::now() > deadline {
            panic!("{session}: timed out waiting for {what}; screen:\n{s}");
        }
        last = s;
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The last non-empty line of a screen.
fn last_line(s: &str) -> &str {
    s.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("")
}

fn at_prompt(s: &str) -> bool {
    let l = last_line(s).trim_end();
    l.ends_with('>') && (l.starts_with("127.0.0.1:") || l.starts_with("not connected"))
}

#[derive(Clone, Copy)]
enum Step<'a> {
    /// Type a line and press Enter; wait for the next prompt.
    Line(&'a str),
    /// Type text without Enter; wait until it shows on the last line.
    Type(&'a str),
    /// Keys by tmux name (Up, Tab, C-u, Enter) that change the screen; wait for it to change and settle.
    Keys(&'a [&'a str]),
    /// Keys, then wait for a bare prompt on the last line.
    KeysToPrompt(&'a [&'a str]),
    /// Let time pass (so a stream runs long enough for redis-cli's `(0.62s)` line, which is
    /// printed only from half a second on); the screen is captured as it is.
    Sleep(u64),
}

#[test]
fn prompt_screens_match_redis_cli() {
    if !have(REDIS_SERVER) || !have(REDIS_CLI) {
        eprintln!("skipped: needs tmux, {REDIS_SERVER} and {REDIS_CLI}");
        return;
    }
    let port = free_port();
    let tmp = TempDir::new("main");
    let dir = tmp.0.clone();
    let server = start_server(&dir, port, &[]);
    let tmux = Tmux { socket: dir.join("tmux.sock") };
    let closed = free_port();
    let connect_closed = format!("connect 127.0.0.1 {closed}");
    let connect_back = format!("connect 127.0.0.1 {port}");
    let long_line = format!("echo {}", "x".repeat(150));
    let steps = [
        Step::Type("set k"),
        Step::Line(" v"),
        Step::Line("get k"),
        Step::Line("get nosuchkey"),
        Step::Line("incr counter"),
        Step::Line("incr counter"),
        Step::Line("lrange nolist 0 -1"),
        Step::Line("rpush mylist a \"b c\" \"\\x41\\n\""),
        Step::Line("lrange mylist 0 -1"),
        Step::Line("command info get"),
        Step::Line("get"),
        Step::Line("select 2"),
        Step::Type("hel"),
        Step::Keys(&["Tab"]),
        Step::Keys(&["C-u"]),
        Step::Line("help GET"),
        Step::Line("help @string"),
        Step::Line("3 ping"),
        Step::Line("0 ping"),
        Step::Line("get \"abc"),
        Step::Line("auth secret"),
        Step::Keys(&["Up"]),
        Step::Keys(&["Up"]),
        Step::Keys(&["Down"]),
        // Runs the recalled line: the reply shows before the next prompt is drawn, so the step
        // waits for that prompt (waiting for any change raced it on a loaded machine).
        Step::KeysToPrompt(&["Enter"]),
        Step::Line("clear"),
        Step::Line("multi"),
        Step::Line("select 0"),
        Step::Line("discard"),
        Step::Line("help"),
        Step::Line(":set nohints"),
        Step::Type("set x"),
        Step::Keys(&["C-u"]),
        Step::Line(":set hints"),
        // Ctrl-C ends SUBSCRIBE and MONITOR and comes back to the prompt on a new connection.
        Step::Type("subscribe ch1"),
        Step::Keys(&["Enter"]),
        Step::Sleep(700),
        Step::KeysToPrompt(&["C-c"]),
        Step::Type("monitor"),
        Step::Keys(&["Enter"]),
        Step::Sleep(700),
        Step::KeysToPrompt(&["C-c"]),
        Step::Line("ping"),
        // A failed `connect` leaves no connection: `not connected> ` until a good one.
        Step::Line(&connect_closed),
        Step::Line("ping"),
        Step::Line(&connect_back),
        Step::Line("get k"),
        // A line wider than the terminal wraps (linenoise's multi-line mode), and Left moves back.
        Step::Type(&long_line),
        Step::Keys(&["Left", "Left", "Left", "Home", "Right", "Y"]),
        Step::Keys(&["C-u"]),
    ];
    // One side after the other on an emptied server, so both see the same data.
    let screens = run_sides(&tmux, &dir, &format!("-p {port}"), &steps, || flushall(port));
    compare(&steps, &screens);
    // The history files hold the same lines, without the AUTH line.
    let ours_hist = std::fs::read_to_string(dir.join("hist-ours")).unwrap_or_default();
    let theirs_hist = std::fs::read_to_string(dir.join("hist-theirs")).unwrap_or_default();
    assert!(ours_hist.contains("get k\n") && !ours_hist.contains("auth"), "history file:\n{ours_hist}");
    assert_eq!(ours_hist, theirs_hist);
    drop(tmux);
    drop(server);
}

fn start_server(dir: &Path, port: u16, extra: &[&str]) -> Server {
    let data = dir.join(format!("server-{port}"));
    std::fs::create_dir_all(&data).expect("server dir");
    let server = Server(
        Command::new(REDIS_SERVER)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(extra)
            .arg("--dir")
            .arg(&data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server"),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

/// Runs `steps` in a pane of `redoxide-cli ARGS`, then of `redis-cli ARGS` (`reset` first each
/// time), ends each with Ctrl-C on an empty line (which must end it), and returns the screens.
fn run_sides(tmux: &Tmux, dir: &Path, args: &str, steps: &[Step], reset: impl Fn()) -> Vec<Vec<String>> {
    let sides = [("ours", env!("CARGO_BIN_EXE_redoxide-cli")), ("theirs", REDIS_CLI)];
    let mut screens: Vec<Vec<String>> = Vec::new();
    for (name, bin) in sides {
        reset();
        let hist = dir.join(format!("hist-{name}"));
        // HOME points at the empty temp dir so no ~/.redisclirc of the user's changes either side.
        let cmd = format!("env HOME={} TERM=xterm REDISCLI_HISTFILE={} {bin} {args}", dir.display(), hist.display());
        let out = tmux.cmd(&["new-session", "-d", "-s", name, "-x", "120", "-y", "40", &cmd]);
        assert!(out.status.success(), "tmux new-session: {}", String::from_utf8_lossy(&out.stderr));
        wait_screen(tmux, name, "the first prompt", at_prompt);
        let mut side = Vec::new();
        for step in steps {
            side.push(run_step(tmux, name, *step));
        }
        tmux.cmd(&["send-keys", "-t", name, "C-c"]);
        let deadline = Instant::now() + Duration::from_secs(5);
        while tmux.alive(name) {
            assert!(Instant::now() < deadline, "{name} still running after Ctrl-C");
            std::thread::sleep(Duration::from_millis(50));
        }
        screens.push(side);
    }
    screens
}

fn compare(steps: &[Step], screens: &[Vec<String>]) {
    for (i, step) in steps.iter().enumerate() {
        assert_eq!(
            normalise(&screens[0][i]),
            normalise(&screens[1][i]),
            "step {i} {}: screens differ (left: redoxide-cli, right: redis-cli)",
            describe(*step)
        );
    }
}

/// The one thing that must differ: how long a command took, which redis-cli prints as `(0.62s)` at
/// the end of a line after a command that ran for half a second or more (here: a stream ended with
/// Ctrl-C). Such a time becomes `(T)`.
fn normalise(screen: &str) -> String {
    let mut out = String::new();
    for line in screen.lines() {
        let trimmed = line.trim_end();
        let cut = trimmed.strip_suffix("s)").and_then(|head| {
            let open = head.rfind('(')?;
            let num = &head[open + 1..];
            let ok = !num.is_empty() && num.bytes().all(|c| c.is_ascii_digit() || c == b'.');
            ok.then_some(open)
        });
        match cut {
            Some(open) => {
                out.push_str(&trimmed[..open]);
                out.push_str("(T)");
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// Types one step into a pane and returns the screen once it has settled.
fn run_step(tmux: &Tmux, name: &str, step: Step) -> String {
    match step {
        Step::Line(text) => {
            tmux.cmd(&["send-keys", "-t", name, "-l", text]);
            wait_screen(tmux, name, &format!("{text:?} typed"), |s| last_line(s).contains(text.trim()));
            tmux.cmd(&["send-keys", "-t", name, "Enter"]);
            // The reply, then a fresh prompt on the last line (no longer the typed one).
            wait_screen(tmux, name, "the next prompt", |s| at_prompt(s) && !last_line(s).contains(text.trim()))
        }
        Step::Type(text) => {
            tmux.cmd(&["send-keys", "-t", name, "-l", text]);
            // A line wider than the pane wraps onto the next row.
            wait_screen(tmux, name, &format!("{text:?} typed"), |s| s.replace('\n', "").contains(text))
        }
        Step::Keys(keys) => {
            // Every Keys step changes the screen (a cursor move alone would not show in a capture):
            // waiting for the change, not for a fixed time, keeps a loaded machine from racing it.
            let before = tmux.screen(name);
            let mut a = vec!["send-keys", "-t", name];
            a.extend_from_slice(keys);
            tmux.cmd(&a);
            std::thread::sleep(Duration::from_millis(100));
            wait_screen(tmux, name, &format!("{keys:?} to change the screen"), |s| s != before)
        }
        Step::Sleep(ms) => {
            std::thread::sleep(Duration::from_millis(ms));
            tmux.screen(name)
        }
        Step::KeysToPrompt(keys) => {
            let mut a = vec!["send-keys", "-t", name];
            a.extend_from_slice(keys);
            tmux.cmd(&a);
            wait_screen(tmux, name, "a prompt", at_prompt)
        }
    }
}

/// In cluster mode (`-c`) the prompt follows a MOVED redirection to the node that owns the key.
/// Two cluster-enabled redis-servers, half the slots each.
#[test]
fn cluster_redirect_moves_the_prompt() {
    if !have(REDIS_SERVER) || !have(REDIS_CLI) {
        eprintln!("skipped: needs tmux, {REDIS_SERVER} and {REDIS_CLI}");
        return;
    }
    let (a, b) = (free_port(), free_port());
    let tmp = TempDir::new("cluster");
    let dir = tmp.0.clone();
    let cluster = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"];
    let _sa = start_server(&dir, a, &cluster);
    let _sb = start_server(&dir, b, &cluster);
    assert_eq!(command(a, &["CLUSTER", "ADDSLOTSRANGE", "0", "8191"]), "+OK");
    assert_eq!(command(b, &["CLUSTER", "ADDSLOTSRANGE", "8192", "16383"]), "+OK");
    assert_eq!(command(a, &["CLUSTER", "MEET", "127.0.0.1", &b.to_string()]), "+OK");
    let deadline = Instant::now() + Duration::from_secs(30);
    while ![a, b].iter().all(|p| command(*p, &["CLUSTER", "INFO"]).contains("cluster_state:ok")) {
        assert!(Instant::now() < deadline, "the two-node cluster did not come up");
        std::thread::sleep(Duration::from_millis(200));
    }
    let tmux = Tmux { socket: dir.join("tmux.sock") };
    // foo is in slot 12182 (node b), bar in 5061 (node a).
    let steps = [
        Step::Line("set foo 1"),
        Step::Line("get foo"),
        Step::Line("incr bar"),
        Step::Line("2 incr foo"),
        Step::Line("select 1"),
    ];
    let flush = || {
        for p in [a, b] {
            assert_eq!(command(p, &["FLUSHALL"]), "+OK");
        }
    };
    let screens = run_sides(&tmux, &dir, &format!("-c -p {a}"), &steps, flush);
    compare(&steps, &screens);
    assert!(screens[0][0].contains(&format!("127.0.0.1:{b}>")), "no redirection seen:\n{}", screens[0][0]);
    drop(tmux);
}

/// Lines piped into the prompt (no terminal: no prompt, no history) give redis-cli's bytes, and
/// `help` answers from the built-in table when no server listens.
#[test]
fn piped_lines_and_offline_help_match_redis_cli() {
    if !Path::new(REDIS_SERVER).exists() || !Path::new(REDIS_CLI).exists() {
        eprintln!("skipped: needs {REDIS_SERVER} and {REDIS_CLI}");
        return;
    }
    let tmp = TempDir::new("pipe");
    let port = free_port();
    let _server = start_server(&tmp.0, port, &[]);
    let input = "help get\nhelp\n? set\nhelp @hyperloglog\n3 help ping\n:set hints\n:nope\nrestart\nget \"x\n\
                 0 ping\n2 incr n\nhelp config get\nhelp nosuch\nselect 3\nmulti\nexec\nquit\nping\n";
    let run = |bin: &str, args: &[&str], stdin: &str| {
        use std::io::Write;
        let mut child = Command::new(bin)
            .args(args)
            .env("HOME", &tmp.0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        if let Some(mut i) = child.stdin.take() {
            let _ = i.write_all(stdin.as_bytes());
        }
        let out = child.wait_with_output().expect("wait");
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
            out.status.code(),
        )
    };
    let ours = env!("CARGO_BIN_EXE_redoxide-cli");
    let p = port.to_string();
    flushall(port);
    let a = run(ours, &["-p", &p], input);
    flushall(port);
    let b = run(REDIS_CLI, &["-p", &p], input);
    assert_eq!(a, b, "piped prompt (left: redoxide-cli, right: redis-cli)");
    assert!(a.0.contains("summary:"));
    let closed = free_port().to_string();
    for args in [["help", "@string"], ["help", "set"], ["help", "client"]] {
        let mut all = vec!["-p", closed.as_str()];
        all.extend_from_slice(&args);
        assert_eq!(run(ours, &all, ""), run(REDIS_CLI, &all, ""), "offline {args:?}");
    }
}

/// One command over a plain socket, its reply's text (one read; enough for these short replies).
fn command(port: u16, argv: &[&str]) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    let mut req = format!("*{}\r\n", argv.len());
    for a in argv {
        req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    s.write_all(req.as_bytes()).expect("send");
    let mut buf = vec![0u8; 65536];
    let n = s.read(&mut buf).expect("reply");
    String::from_utf8_lossy(&buf[..n]).trim_end().to_string()
}

/// FLUSHALL over a plain socket (the CLIs under test are not used for the test's own setup).
fn flushall(port: u16) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect for FLUSHALL");
    s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    s.write_all(b"*1\r\n$8\r\nFLUSHALL\r\n").expect("send FLUSHALL");
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).expect("FLUSHALL reply");
    assert_eq!(&buf[..n], b"+OK\r\n");
}

fn describe(s: Step) -> String {
    match s {
        Step::Line(t) => format!("line {t:?}"),
        Step::Type(t) => format!("type {t:?}"),
        Step::Keys(k) => format!("keys {k:?}"),
        Step::KeysToPrompt(k) => format!("keys {k:?} then a prompt"),
        Step::Sleep(ms) => format!("sleep {ms} ms"),
    }
}
