//! The interactive prompt on a real terminal: the same keys typed into `redoxide-cli` and into
//! Debian's `redis-cli` 7.0.15, each in its own tmux pane against one real `redis-server`, and the
//! screens compared after every step. Nothing is normalised: the two screens must be identical.
//!
//! Skipped (with a note on stderr) when tmux, redis-server or redis-cli is missing. Everything it
//! starts is ended on every path: the server by its pid, the panes by killing the private tmux
//! server (`tmux -L <name>`, so no one else's tmux is touched), both from `Drop`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const REDIS_SERVER: &str = "/usr/bin/redis-server";
const REDIS_CLI: &str = "/usr/bin/redis-cli";

struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A private tmux server; dropping it kills every session in it.
struct Tmux {
    socket: String,
}
impl Tmux {
    fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux").arg("-L").arg(&self.socket).args(args).stdin(Stdio::null()).output().expect("run tmux")
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

fn have(path: &str) -> bool {
    Path::new(path).exists() && Command::new("tmux").arg("-V").output().is_ok_and(|o| o.status.success())
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
    /// Keys by tmux name (Up, Tab, C-u, Enter); wait for the screen to settle.
    Keys(&'a [&'a str]),
}

#[test]
fn prompt_screens_match_redis_cli() {
    if !have(REDIS_SERVER) || !have(REDIS_CLI) {
        eprintln!("skipped: needs tmux, {REDIS_SERVER} and {REDIS_CLI}");
        return;
    }
    let port = free_port();
    let dir: PathBuf = std::env::temp_dir().join(format!("redoxide-prompt-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let server = Server(
        Command::new(REDIS_SERVER)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir)
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
    let tmux = Tmux { socket: format!("redoxide-prompt-{}-{port}", std::process::id()) };
    let ours = env!("CARGO_BIN_EXE_redoxide-cli");
    let sides = [("ours", ours), ("theirs", REDIS_CLI)];
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
        Step::Keys(&["Enter"]),
        Step::Line("clear"),
        Step::Line("multi"),
        Step::Line("select 0"),
        Step::Line("discard"),
        Step::Line("help"),
        Step::Line(":set nohints"),
        Step::Type("set x"),
        Step::Keys(&["C-u"]),
    ];
    // One side after the other on an emptied server, so both see the same data.
    let mut screens: Vec<Vec<String>> = Vec::new();
    for (name, bin) in sides {
        flushall(port);
        let hist = dir.join(format!("hist-{name}"));
        // HOME points at the empty temp dir so no ~/.redisclirc of the user's changes either side.
        let cmd =
            format!("env HOME={} TERM=xterm REDISCLI_HISTFILE={} {} -p {port}", dir.display(), hist.display(), bin);
        let out = tmux.cmd(&["new-session", "-d", "-s", name, "-x", "120", "-y", "40", &cmd]);
        assert!(out.status.success(), "tmux new-session: {}", String::from_utf8_lossy(&out.stderr));
        wait_screen(&tmux, name, "the first prompt", at_prompt);
        let mut side = Vec::new();
        for step in steps {
            side.push(run_step(&tmux, name, step));
        }
        // Ctrl-C on an empty line ends the program.
        tmux.cmd(&["send-keys", "-t", name, "C-c"]);
        let deadline = Instant::now() + Duration::from_secs(5);
        while tmux.alive(name) {
            assert!(Instant::now() < deadline, "{name} still running after Ctrl-C");
            std::thread::sleep(Duration::from_millis(50));
        }
        screens.push(side);
    }
    for (i, step) in steps.iter().enumerate() {
        assert_eq!(
            screens[0][i],
            screens[1][i],
            "step {i} {}: screens differ (left: redoxide-cli, right: redis-cli)",
            describe(*step)
        );
    }
    // The history files hold the same lines, without the AUTH line.
    let ours_hist = std::fs::read_to_string(dir.join("hist-ours")).unwrap_or_default();
    let theirs_hist = std::fs::read_to_string(dir.join("hist-theirs")).unwrap_or_default();
    assert!(ours_hist.contains("get k\n") && !ours_hist.contains("auth"), "history file:\n{ours_hist}");
    assert_eq!(ours_hist, theirs_hist);
    drop(tmux);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
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
            wait_screen(tmux, name, &format!("{text:?} typed"), |s| last_line(s).contains(text))
        }
        Step::Keys(keys) => {
            let mut a = vec!["send-keys", "-t", name];
            a.extend_from_slice(keys);
            tmux.cmd(&a);
            std::thread::sleep(Duration::from_millis(300));
            wait_screen(tmux, name, "the screen to settle", |_| true)
        }
    }
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
    }
}
