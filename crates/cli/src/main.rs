//! `redoxide-cli`: the drop-in for Redis 7.0.15's `redis-cli`: one-shot, the interactive prompt
//! (on a terminal, or reading commands from a pipe) and `--pipe` modes.
//!
//! This file owns the process: options, the connection life cycle (AUTH, SELECT, HELLO 3, reconnects,
//! cluster redirections) and what goes to stdout/stderr and the exit code, each as redis-cli does it.
//! It must never format a reply itself (that is `cli::format`, pure and unit-tested) nor speak RESP
//! itself (that is `cli::client` / `cli::reply`).

use cli::client::{ClientError, Connection};
use cli::format::{self, Mode};
use cli::help::HelpTable;
use cli::lineedit::{self, Editor, Outcome};
use cli::modes;
use cli::options::{self, Options};
use cli::prompt::{self, Repeat};
use cli::reply::Reply;
use std::io::{BufRead, IsTerminal, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::process::exit;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::{Duration, Instant};

fn main() {
    // Arguments are bytes (a value may be any binary string); `env::args` would panic on non-UTF-8.
    // Options are matched on a lossy copy; the command's words are passed on as the raw bytes.
    let argv_os: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let argv: Vec<String> = argv_os.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    // redis-cli honours FAKETTY to force the tty format when stdout is not a terminal.
    let stdout_tty = std::io::stdout().is_terminal() || std::env::var_os("FAKETTY").is_some();
    let mut o = match options::parse(&argv, stdout_tty) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{}", e.0);
            exit(1);
        }
    };
    if o.version {
        println!("redis-cli 7.0.15 (redoxide-cli {})", env!("CARGO_PKG_VERSION"));
        exit(0);
    }
    if o.help {
        print!("{}", USAGE);
        exit(0);
    }
    if o.usage_error {
        eprint!("{}", USAGE);
        exit(1);
    }
    if !o.no_auth_warning && o.auth.is_some() {
        eprintln!("Warning: Using a password with '-a' or '-u' option on the command line interface may not be safe.");
    }
    // parseEnv: REDISCLI_AUTH supplies the password when none was given, without the warning.
    if o.auth.is_none() {
        if let Ok(pass) = std::env::var("REDISCLI_AUTH") {
            o.auth = Some(pass);
        }
    }
    if let Some(mut cargs) = o.cluster.take() {
        // parseEnv: REDISCLI_CLUSTER_YES=1 answers every prompt as --cluster-yes does.
        if std::env::var("REDISCLI_CLUSTER_YES").is_ok_and(|v| v == "1") {
            cargs.yes = true;
        }
        // -x / -X apply to the subcommand's arguments (createClusterManagerCommand).
        if o.stdin_lastarg || o.stdin_tag.is_some() {
            let mut all = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut all);
            let arg = String::from_utf8_lossy(&all).into_owned();
            if o.stdin_lastarg {
                cargs.args.push(arg);
            } else if let Some(tag) = &o.stdin_tag {
                match cargs.args.iter().position(|a| a.as_bytes() == tag.as_slice()) {
                    Some(i) => cargs.args[i] = arg,
                    None => {
                        eprintln!("Using -X option but stdin tag not match.");
                        exit(1);
                    }
                }
            }
        }
        if cargs.from_askpass {
            cargs.from_pass = Some(ask_password("Please input import source node password: "));
        }
        let auth = cli::cluster::Auth { user: o.user.clone(), pass: o.auth.clone() };
        let (stdout, stderr, stdin) = (std::io::stdout(), std::io::stderr(), std::io::stdin());
        let (mut out, mut err, mut input) = (stdout.lock(), stderr.lock(), stdin.lock());
        let io = cli::cluster::Io {
            out: &mut out,
            err: &mut err,
            input: &mut input,
            color: std::env::var("TERM").is_ok_and(|t| t.contains("xterm")),
            out_is_tty: stdout_tty,
        };
        exit(cli::cluster::run(cargs, auth, io));
    }
    let words: Vec<Vec<u8>> = argv_os[o.first_arg..].iter().map(|a| a.as_bytes().to_vec()).collect();
    let mut cli = Cli::new(o);
    cli.push_output = stdout_tty;
    // redis-cli's main() runs --latency and --latency-dist before --pipe, the other tool modes after.
    let stdout_is_terminal = std::io::stdout().is_terminal();
    if cli.o.tools.before_pipe() {
        exit(cli.tool_mode(&argv_os, stdout_is_terminal));
    }
    if cli.o.pipe {
        if cli.connect(false).is_err() {
            exit(1);
        }
        exit(cli.pipe_mode());
    }
    if cli.o.tools.any() {
        exit(cli.tool_mode(&argv_os, stdout_is_terminal));
    }
    if words.is_empty() {
        cli.repl(std::io::stdin().is_terminal());
    }
    let _ = cli.connect(true);
    exit(cli.one_shot(words));
}

/// redis-cli's `askPassword`: on a terminal the prompt is shown and the typed text is not echoed;
/// from a pipe the line is read silently (linenoise prints no prompt when stdin is not a tty).
fn ask_password(prompt: &str) -> String {
    let stdin = std::io::stdin();
    let tty = stdin.is_terminal();
    // SAFETY: termios is plain data; tcgetattr fills it for fd 0 and we only restore what we read.
    let saved = tty.then(|| unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        (libc::tcgetattr(0, &mut t) == 0).then_some(t)
    });
    if let Some(Some(t)) = saved {
        let mut quiet = t;
        quiet.c_lflag &= !libc::ECHO;
        // SAFETY: fd 0 is a terminal (checked above) and `quiet` is a valid termios.
        unsafe { libc::tcsetattr(0, libc::TCSANOW, &quiet) };
        print!("{prompt}");
        let _ = std::io::stdout().flush();
    }
    let mut line = String::new();
    let _ = stdin.lock().read_line(&mut line);
    if let Some(Some(t)) = saved {
        // SAFETY: restores the settings read above.
        unsafe { libc::tcsetattr(0, libc::TCSANOW, &t) };
        println!();
    }
    line.trim_end_matches(['\n', '\r']).to_string()
}

const USAGE: &str = "Usage: redoxide-cli [OPTIONS] [cmd [arg [arg ...]]]
  -h <hostname>      Server hostname (default: 127.0.0.1).
  -p <port>          Server port (default: 6379).
  -s <socket>        Server socket (overrides hostname and port).
  -a <password>      Password to use when connecting to the server.
  --user <username>  Used to send ACL style 'AUTH username pass'. Needs -a.
  --pass <password>  Alias of -a for consistency with the new --user option.
  --no-auth-warning  Don't show warning message when using password on command line interface.
  -u <uri>           Server URI: redis://[[user]:pass@]host[:port][/db].
  -r <repeat>        Execute specified command N times (negative: forever).
  -i <interval>      When -r is used, waits <interval> seconds per command.
                     Also the cycle of --scan, --stat and --latency*, and the pause
                     per 100 SCAN commands of --bigkeys, --memkeys and --hotkeys.
  -n <db>            Database number.
  -2, -3             Start session in RESP2 / RESP3 protocol mode.
  -x                 Read last argument from STDIN.
  -X <tag>           Read <tag> argument from STDIN.
  --quoted-input     Force input to be handled as quoted strings.
  -d <delimiter>     Delimiter between response bulks for raw formatting (default: \\n).
  -D <delimiter>     Delimiter between responses for raw formatting (default: \\n).
  -c                 Enable cluster mode (follow -ASK and -MOVED redirections).
  -e                 Return exit error code when command execution fails.
  --raw, --no-raw    Use raw formatting for replies / force formatted output.
  --csv              Output in CSV format.
  --stat             Print rolling stats about server: mem, clients, ... (every -i, default 1 s).
  --latency          Sample PING latency continuously; with --raw, --csv or a non-tty
                     stdout, for 1 second (or -i), then one line, and exit.
  --latency-history  Like --latency, tracking changes over time (range every 15 s, or -i).
  --latency-dist     Latency as a spectrum, xterm 256 colors (--mono: greys); every 1 s or -i.
  --bigkeys          Sample keys looking for keys with many elements (complexity).
  --memkeys          Sample keys looking for keys consuming a lot of memory.
  --memkeys-samples <n> Like --memkeys, with MEMORY USAGE ... SAMPLES <n>.
  --hotkeys          Sample keys looking for hot keys (needs maxmemory-policy *lfu).
  --scan             List all keys using the SCAN command.
  --pattern <pat>    Keys pattern for --scan, --bigkeys, --memkeys, --hotkeys (default: *).
  --quoted-pattern <pat> Same as --pattern, quoted as a prompt word (e.g. \"a\\x00*\").
  --pipe             Transfer raw Redis protocol from stdin to server.
  --pipe-timeout <n> In --pipe mode, abort after n seconds without a reply (default 30, 0: never).
  --cluster <command> [args...] [opts...]
                     Cluster Manager command and arguments (see below).
  --help, -v         This help; the version.

Cluster Manager Commands:
  Use --cluster help to list all available cluster manager commands.
  redoxide-cli adds:
  --cluster up [--cluster-masters 3] [--cluster-replicas 1] [--cluster-base-port 7000]
               [--cluster-dir ./redoxide-cluster] [--cluster-node-timeout 5000] [--cluster-detach]
                     Start a local cluster of redoxide-server nodes (or restart the one in the directory).
  --cluster down [--cluster-dir ./redoxide-cluster]
                     Stop a cluster started with up --cluster-detach.
  --cluster health <host:port>
                     Cluster state, nodes, warnings and slot distribution; exit 1 unless ok.
";

struct Cli {
    o: Options,
    conn: Option<Connection>,
    /// The database the connection is in, and the one the user asked for (`-n`, SELECT).
    dbnum: i64,
    input_dbnum: i64,
    /// Set by a MOVED/ASK reply in cluster mode: reconnect to `o.host:o.port` and send again.
    reissue: bool,
    send_asking: bool,
    interactive: bool,
    shutdown: bool,
    /// Print RESP3 push messages that arrive before a reply (redis-cli: only when stdout is a tty).
    push_output: bool,
    /// Why the last connection broke, for redis-cli's `Error: <errstr>` line.
    last_err: Option<String>,
    /// Inside MULTI (the prompt shows `(TX)`), and the database to go back to on DISCARD or a failed EXEC.
    in_multi: bool,
    pre_multi_dbnum: i64,
    /// The COMMAND DOCS help table, loaded on the first need (`cliInitHelp`).
    help: Option<HelpTable>,
    /// `:set hints` / `:set nohints`.
    hints: bool,
}

/// The prompt's completions and hints, from the help table (redis-cli's linenoise callbacks).
struct PromptHooks<'a> {
    table: &'a HelpTable,
    hints: bool,
}

impl lineedit::Hooks for PromptHooks<'_> {
    fn completions(&self, buf: &[u8]) -> Vec<Vec<u8>> {
        self.table.completions(buf)
    }
    fn hint(&self, buf: &[u8]) -> Option<String> {
        if self.hints {
            self.table.hint(buf)
        } else {
            None
        }
    }
}

/// The socket of a MONITOR / SUBSCRIBE stream being read (-1: none), and whether Ctrl-C ended it.
/// Atomics, because the SIGINT handler reads and writes them.
static STREAM_FD: AtomicI32 = AtomicI32::new(-1);
static STREAM_ABORTED: AtomicBool = AtomicBool::new(false);

/// Set by Ctrl-C in --scan, --bigkeys, --memkeys and --hotkeys (redis-cli's `force_cancel_loop`):
/// the scan stops after the current batch and the summary is printed.
static STOP_LOOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint_stop_loop(_: libc::c_int) {
    STOP_LOOP.store(true, Ordering::SeqCst);
}

/// redis-cli's `sigIntHandler` in interactive mode: Ctrl-C during MONITOR or SUBSCRIBE ends the
/// stream (we shut the socket down, so the blocked read returns, then reconnect and go back to the
/// prompt); at any other time it exits 1. While a line is edited Ctrl-C is a key, not a signal.
extern "C" fn on_sigint(_: libc::c_int) {
    let fd = STREAM_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        STREAM_ABORTED.store(true, Ordering::SeqCst);
        // SAFETY: shutdown is async-signal-safe; the fd stays open (owned by the connection),
        // closing it here could let a new socket reuse the number under the reader.
        unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
        return;
    }
    lineedit::restore_terminal();
    // SAFETY: _exit is async-signal-safe (exit is not).
    unsafe { libc::_exit(1) };
}

fn install_sigint_handler() {
    // SAFETY: the handler only touches atomics and async-signal-safe calls. SIGPIPE is ignored so
    // a dead server is a write error (and a reconnect), as redis-cli's repl does.
    unsafe {
        libc::signal(libc::SIGINT, on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t);
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

fn err_text(r: &Reply) -> String {
    match r {
        Reply::Error(s) => String::from_utf8_lossy(s).into_owned(),
        _ => String::new(),
    }
}

impl Cli {
    fn new(o: Options) -> Self {
        let input_dbnum = o.dbnum;
        Cli {
            o,
            conn: None,
            dbnum: 0,
            input_dbnum,
            reissue: false,
            send_asking: false,
            interactive: false,
            shutdown: false,
            push_output: false,
            last_err: None,
            in_multi: false,
            pre_multi_dbnum: 0,
            help: None,
            hints: true,
        }
    }

    /// `cliConnect(CC_FORCE)`: a fresh connection, then AUTH, SELECT and HELLO 3 as configured.
    /// `quiet` hides the "Could not connect" line (one-shot mode connects quietly first, then loudly).
    fn connect(&mut self, quiet: bool) -> Result<(), ()> {
        self.conn = None;
        self.dbnum = 0;
        self.in_multi = false;
        // A redirection in cluster mode always goes over TCP (and -c excludes -s anyway).
        let socket = self.o.socket.clone().filter(|_| !(self.o.cluster_mode && self.reissue));
        let connected = match &socket {
            Some(path) => Connection::connect_unix(path),
            None => Connection::connect(&self.o.host, self.o.port),
        };
        let mut conn = match connected {
            Ok(c) => c,
            Err(e) => {
                if !quiet {
                    match &socket {
                        Some(path) => eprintln!("Could not connect to Redis at {path}: {e}"),
                        None => eprintln!("Could not connect to Redis at {}:{}: {}", self.o.host, self.o.port, e),
                    }
                }
                return Err(());
            }
        };
        if let Some(pass) = self.o.auth.clone() {
            let mut argv = vec![b"AUTH".to_vec()];
            if let Some(u) = &self.o.user {
                argv.push(u.clone().into_bytes());
            }
            argv.push(pass.into_bytes());
            match conn.command(&argv) {
                Err(_) => {
                    eprint!("\nI/O error\n");
                    return Err(());
                }
                Ok(r) if r.is_error() => {
                    eprintln!("AUTH failed: {}", err_text(&r));
                    // redis-cli keeps the connection it could not authenticate; its context has no
                    // error text, hence the later bare "Error: " line.
                    self.conn = Some(conn);
                    self.last_err = Some(String::new());
                    return Err(());
                }
                Ok(_) => {}
            }
        }
        self.conn = Some(conn);
        if self.select().is_err() {
            self.last_err = Some(String::new());
            return Err(());
        }
        if self.o.resp3 && !self.o.resp2 {
            let Some(conn) = self.conn.as_mut() else { return Err(()) };
            match conn.command(&[b"HELLO".to_vec(), b"3".to_vec()]) {
                Err(_) => {
                    eprint!("\nI/O error\n");
                    return Err(());
                }
                Ok(r) if r.is_error() => {
                    eprintln!("HELLO 3 failed: {}", err_text(&r));
                    self.last_err = Some(String::new());
                    return Err(());
                }
                Ok(_) => {}
            }
        }
        Ok(())
    }

    /// `cliSelect`: moves the connection to the requested database if it is not there.
    fn select(&mut self) -> Result<(), ()> {
        if self.input_dbnum == self.dbnum {
            return Ok(());
        }
        let Some(conn) = self.conn.as_mut() else { return Err(()) };
        match conn.command(&[b"SELECT".to_vec(), self.input_dbnum.to_string().into_bytes()]) {
            Err(_) => {
                eprint!("\nI/O error\n");
                Err(())
            }
            Ok(r) if r.is_error() => {
                eprintln!("SELECT {} failed: {}", self.input_dbnum, err_text(&r));
                Err(())
            }
            Ok(_) => {
                self.dbnum = self.input_dbnum;
                Ok(())
            }
        }
    }

    /// `cliPrintContextError`: only when a connection object exists, as in redis-cli.
    fn print_context_error(&self) {
        if self.conn.is_some() {
            eprintln!("Error: {}", self.last_err.as_deref().unwrap_or(""));
        }
    }

    /// One-shot mode (`noninteractive`): the command from argv, `-x` appending stdin as its last argument.
    fn one_shot(&mut self, mut words: Vec<Vec<u8>>) -> i32 {
        if self.o.quoted_input {
            // Each argument must unquote to exactly one word (redis-cli's unquoteCString).
            let unquoted: Option<Vec<Vec<u8>>> =
                words.iter().map(|w| resp::split_args(w).filter(|v| v.len() == 1).and_then(|mut v| v.pop())).collect();
            match unquoted {
                Some(u) => words = u,
                None => {
                    println!("Invalid quoted string");
                    return 1;
                }
            }
        }
        let read_stdin = || {
            let mut all = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut all);
            all
        };
        if self.o.stdin_lastarg {
            words.push(read_stdin());
        } else if let Some(tag) = self.o.stdin_tag.clone() {
            match words.iter().position(|w| *w == tag) {
                Some(i) => words[i] = read_stdin(),
                None => {
                    eprintln!("Using -X option but stdin tag not match.");
                    return 1;
                }
            }
        }
        let repeat = self.o.repeat;
        if self.issue_command_repeat(&words, repeat).is_ok() {
            0
        } else {
            1
        }
    }

    /// `cliInitHelp`: the help table from the server's COMMAND DOCS, connecting quietly if there is
    /// no connection yet. Loaded once; the built-in table when there is no server or no COMMAND DOCS.
    fn load_help(&mut self) {
        if self.help.is_some() {
            return;
        }
        let mut table = None;
        if self.conn.is_some() || self.connect(true).is_ok() {
            if let Some(conn) = self.conn.as_mut() {
                if let Ok(docs @ (Reply::Array(_) | Reply::Map(_))) =
                    conn.command(&[b"COMMAND".to_vec(), b"DOCS".to_vec()])
                {
                    table = Some(HelpTable::from_command_docs(&docs));
                }
            }
        }
        // No server, or no COMMAND DOCS: redis-cli's compiled-in table; ours is built in too.
        self.help = Some(table.unwrap_or_else(HelpTable::builtin));
    }

    /// The prompt for the next line (`cliRefreshPrompt`, or `not connected> ` without a connection).
    fn prompt(&self) -> String {
        if self.conn.is_none() {
            return prompt::NOT_CONNECTED.to_string();
        }
        prompt::prompt_text(&self.o.host, self.o.port, self.o.socket.as_deref(), self.dbnum, self.in_multi)
    }

    /// redis-cli's `repl`: lines from the terminal's line editor (`tty`) or from a pipe, each split
    /// as `sdssplitargs` splits it, with the prompt's own commands (quit, exit, connect, clear,
    /// :set, help) handled here and the rest sent to the server. Never returns: quit, exit, Ctrl-C,
    /// Ctrl-D and the end of a pipe all exit 0, as in redis-cli.
    fn repl(&mut self, tty: bool) -> ! {
        self.interactive = true;
        install_sigint_handler();
        let _ = self.connect(false);
        self.load_help();
        let mut editor = Editor::new();
        let mut history_file = None;
        if tty {
            lineedit::restore_terminal_on_signals();
            let env = std::env::var("REDISCLI_HISTFILE").ok();
            let home = std::env::var("HOME").ok();
            history_file = prompt::dotfile_path(env.as_deref(), home.as_deref(), ".rediscli_history");
            if let Some(path) = &history_file {
                editor.load_history(path);
            }
            let rc_env = std::env::var("REDISCLIRC").ok();
            if let Some(rc) = prompt::dotfile_path(rc_env.as_deref(), home.as_deref(), ".redisclirc") {
                if let Ok(data) = std::fs::read(rc) {
                    for l in data.split(|&c| c == b'\n') {
                        match resp::split_args(l) {
                            Some(argv) if !argv.is_empty() => {
                                if let Some(msg) = prompt::set_preference(&argv, false, &mut self.hints) {
                                    println!("{msg}");
                                }
                            }
                            _ => {}
                        }
                    }
                }
            }
        }
        let stdin = std::io::stdin();
        let mut line = Vec::new();
        loop {
            if tty {
                let p = self.prompt();
                let table = self.help.take().unwrap_or_default();
                let read = editor.read_line(&p, &PromptHooks { table: &table, hints: self.hints });
                self.help = Some(table);
                match read {
                    Ok(Outcome::Line(l)) => line = l,
                    // linenoise returns NULL for Ctrl-C, Ctrl-D and a terminal it cannot use: repl ends.
                    Ok(Outcome::Interrupted | Outcome::Eof) | Err(_) => exit(0),
                }
            } else {
                // linenoise's no-tty path prints no prompt and reads up to a newline or EOF.
                line.clear();
                match stdin.lock().read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => exit(0),
                    Ok(_) => {}
                }
                if line.last() == Some(&b'\n') {
                    line.pop();
                }
            }
            if line.is_empty() {
                continue;
            }
            let remember = |editor: &mut Editor, line: &[u8]| {
                if tty {
                    editor.add_history(line);
                    if let Some(path) = &history_file {
                        editor.save_history(path);
                    }
                }
            };
            let Some(argv) = resp::split_args(&line) else {
                println!("Invalid argument(s)");
                remember(&mut editor, &line);
                continue;
            };
            if argv.is_empty() {
                continue;
            }
            let (repeat, skip) = match prompt::parse_repeat(&argv) {
                Repeat::Once => (1, 0),
                Repeat::Times(n) => (n, 1),
                Repeat::Invalid => {
                    println!("Invalid redis-cli repeat command option value.");
                    continue;
                }
            };
            if !prompt::is_sensitive(&argv[skip..]) {
                remember(&mut editor, &line);
            }
            let first = &argv[0];
            if first.eq_ignore_ascii_case(b"quit") || first.eq_ignore_ascii_case(b"exit") {
                exit(0);
            } else if first.first() == Some(&b':') {
                if let Some(msg) = prompt::set_preference(&argv, true, &mut self.hints) {
                    println!("{msg}");
                }
                continue;
            } else if first.eq_ignore_ascii_case(b"restart") {
                println!("Use 'restart' only in Lua debugging mode.");
            } else if argv.len() == 3 && first.eq_ignore_ascii_case(b"connect") {
                self.o.host = String::from_utf8_lossy(&argv[1]).into_owned();
                self.o.port = options::atoi(&String::from_utf8_lossy(&argv[2])) as u16;
                let _ = self.connect(false);
            } else if argv.len() == 1 && first.eq_ignore_ascii_case(b"clear") {
                lineedit::clear_screen(&mut std::io::stdout().lock());
            } else {
                let started = Instant::now();
                let _ = self.issue_command_repeat(&argv[skip..], repeat);
                let elapsed = started.elapsed();
                if elapsed >= Duration::from_millis(500) && self.o.mode == Mode::Tty {
                    println!("({:.2}s)", elapsed.as_secs_f64());
                }
            }
        }
    }

    /// `issueCommandRepeat`: (re)connects when needed, sends ASKING after an ASK, and sends the
    /// command again after a redirection in cluster mode.
    fn issue_command_repeat(&mut self, argv: &[Vec<u8>], repeat: i64) -> Result<(), ()> {
        // `help` and `?` are answered here, without a connection (and once, whatever the repeat).
        if argv.first().is_some_and(|a| a.eq_ignore_ascii_case(b"help") || a.as_slice() == b"?") {
            self.load_help();
            let text = self.help.as_ref().map(|t| t.help_text(&argv[1..])).unwrap_or_default();
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(&text);
            let _ = out.flush();
            return Ok(());
        }
        loop {
            if (self.reissue || self.conn.is_none()) && self.connect(false).is_err() {
                self.print_context_error();
                self.reissue = false;
                return Err(());
            }
            self.reissue = false;
            if self.send_asking {
                self.send_asking = false;
                let Some(conn) = self.conn.as_mut() else { return Err(()) };
                match conn.command(&[b"ASKING".to_vec()]) {
                    Err(_) => {
                        eprint!("\nI/O error\n");
                        self.print_context_error();
                        return Err(());
                    }
                    Ok(r) if r.is_error() => {
                        eprintln!("ASKING failed: {}", err_text(&r));
                        self.print_context_error();
                        return Err(());
                    }
                    Ok(_) => {}
                }
            }
            if self.send_command(argv, repeat).is_err() {
                self.print_context_error();
                self.conn = None;
                return Err(());
            }
            if self.o.cluster_mode && self.reissue {
                continue;
            }
            return Ok(());
        }
    }

    /// `cliSendCommand`: sends `argv` `repeat` times (forever when negative), printing each reply.
    fn send_command(&mut self, argv: &[Vec<u8>], repeat: i64) -> Result<(), ()> {
        let Some(first) = argv.first() else { return Ok(()) };
        let verbatim = format::prints_verbatim(argv);
        if first.eq_ignore_ascii_case(b"shutdown") {
            self.shutdown = true;
        }
        let is = |s: &str| first.eq_ignore_ascii_case(s.as_bytes());
        let mut left = repeat;
        // A negative repeat count means forever (with -i, a poor man's watch).
        while left != 0 {
            if left > 0 {
                left -= 1;
            }
            if is("monitor") || is("subscribe") || is("psubscribe") || is("ssubscribe") {
                // Streaming commands: every later reply is printed until an error reply ends the
                // stream (or the connection does, which exits as any read failure does).
                let monitor = is("monitor");
                let Some(conn) = self.conn.as_mut() else { return Err(()) };
                if conn.send(argv).is_err() {
                    return Err(());
                }
                if !monitor && self.o.mode != Mode::Raw {
                    println!("Reading messages... (press Ctrl-C to quit)");
                }
                if self.interactive {
                    STREAM_FD.store(conn.stream().raw_fd(), Ordering::SeqCst);
                }
                loop {
                    let Some(conn) = self.conn.as_mut() else { return Err(()) };
                    // Pushes are read as replies here: redis-cli unsets its push handler meanwhile.
                    let reply = match conn.read_reply() {
                        Ok(r) => r,
                        Err(_) if STREAM_ABORTED.swap(false, Ordering::SeqCst) => {
                            // Ctrl-C: a fresh connection (cliConnect(CC_FORCE)) and back to the prompt.
                            STREAM_FD.store(-1, Ordering::SeqCst);
                            return self.connect(false);
                        }
                        Err(e) => {
                            STREAM_FD.store(-1, Ordering::SeqCst);
                            eprintln!("Error: {e}");
                            exit(1);
                        }
                    };
                    self.handle_reply(&reply, verbatim);
                    if reply.is_error() {
                        break;
                    }
                }
                STREAM_FD.store(-1, Ordering::SeqCst);
                if monitor {
                    return Ok(());
                }
                continue;
            }
            let result = self.read_command_reply(argv);
            let reply = match result {
                Ok(r) => r,
                Err(e) => {
                    if self.shutdown {
                        self.conn = None;
                        return Ok(());
                    }
                    if self.interactive && matches!(e, ClientError::Eof | ClientError::Io(_)) {
                        self.last_err = Some(e.to_string());
                        return Err(());
                    }
                    eprintln!("Error: {e}");
                    exit(1);
                }
            };
            self.handle_reply(&reply, verbatim);
            let ok = !reply.is_error();
            if is("select") && argv.len() == 2 && ok {
                let n = options::atoi(&String::from_utf8_lossy(&argv[1]));
                self.input_dbnum = n;
                self.dbnum = n;
            } else if is("auth") && (argv.len() == 2 || argv.len() == 3) {
                let _ = self.select();
            } else if is("multi") && argv.len() == 1 && ok {
                self.in_multi = true;
                self.pre_multi_dbnum = self.dbnum;
            } else if is("exec") && argv.len() == 1 && self.in_multi {
                self.in_multi = false;
                // A failed or aborted EXEC undoes a SELECT queued inside the transaction.
                if matches!(reply, Reply::Error(_) | Reply::Nil) {
                    self.dbnum = self.pre_multi_dbnum;
                    self.input_dbnum = self.pre_multi_dbnum;
                }
            } else if is("discard") && argv.len() == 1 && ok {
                self.in_multi = false;
                self.dbnum = self.pre_multi_dbnum;
                self.input_dbnum = self.pre_multi_dbnum;
            } else if is("reset") && argv.len() == 1 && ok {
                self.in_multi = false;
                self.dbnum = 0;
                self.input_dbnum = 0;
                self.o.resp3 = false;
            }
            if self.reissue {
                break;
            }
            if self.o.interval_us > 0 {
                std::thread::sleep(Duration::from_micros(self.o.interval_us));
            }
        }
        Ok(())
    }

    /// Sends `argv` and reads its reply, printing or dropping the push messages that come first
    /// (hiredis hands those to redis-cli's push handler, or frees them when it has none).
    fn read_command_reply(&mut self, argv: &[Vec<u8>]) -> Result<Reply, ClientError> {
        let Some(conn) = self.conn.as_mut() else { return Err(ClientError::Eof) };
        conn.send(argv)?;
        loop {
            let r = conn.read_reply()?;
            let Reply::Push(_) = r else { return Ok(r) };
            if self.push_output {
                let text = match format::invalidate_tty(&r).filter(|_| self.o.mode == Mode::Tty) {
                    Some(t) => Ok(t),
                    None => format::format_reply(&r, self.o.mode, false, &self.o.mb_delim, &self.o.cmd_delim),
                };
                if let Ok(bytes) = text {
                    let mut out = std::io::stdout().lock();
                    let _ = out.write_all(&bytes);
                    let _ = out.flush();
                }
            }
        }
    }

    /// `cliReadReply` after the read: cluster redirections, `-e`, and printing.
    fn handle_reply(&mut self, reply: &Reply, verbatim: bool) {
        if let Reply::Error(e) = reply {
            if self.o.cluster_mode && (e.starts_with(b"MOVED ") || e.starts_with(b"ASK ")) {
                if let Some((slot, host, port)) = parse_redirect(e) {
                    if self.interactive {
                        println!("-> Redirected to slot [{slot}] located at {host}:{port}");
                    }
                    self.o.host = host;
                    self.o.port = port;
                    self.reissue = true;
                    self.send_asking = e.starts_with(b"ASK ");
                    return;
                }
            }
            if !self.interactive && self.o.set_errcode {
                let mut err = std::io::stderr().lock();
                let _ = err.write_all(e);
                let _ = err.write_all(b"\n");
                exit(1);
            }
        }
        match format::format_reply(reply, self.o.mode, verbatim, &self.o.mb_delim, &self.o.cmd_delim) {
            Ok(bytes) => {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(&bytes);
                let _ = out.flush();
            }
            Err(e) => {
                eprintln!("{e}");
                exit(1);
            }
        }
    }

    /// The first tool mode given, in redis-cli's `main()` order, after `cliConnect(0)` (which
    /// prints why it could not connect; exit 1).
    fn tool_mode(&mut self, argv_os: &[std::ffi::OsString], stdout_is_terminal: bool) -> i32 {
        if self.connect(false).is_err() {
            return 1;
        }
        let Some(mut conn) = self.conn.take() else { return 1 };
        let tools = self.o.tools.clone();
        let mut pattern = tools.pattern.clone();
        if let Some(raw) = tools.pattern_raw_at.and_then(|at| argv_os.get(at)) {
            pattern = Some(raw.as_bytes().to_vec());
        }
        // SAFETY: the handler only stores to an atomic. SIGPIPE goes back to its default: redis-cli
        // does not ignore it in these modes, so `--scan | head -1` ends it (Rust's runtime ignores
        // SIGPIPE, which would leave us scanning on into a closed pipe).
        unsafe {
            if tools.scan || tools.bigkeys || tools.memkeys || tools.hotkeys {
                libc::signal(libc::SIGINT, on_sigint_stop_loop as extern "C" fn(libc::c_int) as libc::sighandler_t);
            }
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
        let (stdout, stderr) = (std::io::stdout(), std::io::stderr());
        let (mut out_lock, mut err_lock) = (stdout.lock(), stderr.lock());
        let mut out = modes::StdioOut::new(&mut out_lock, stdout_is_terminal);
        let code = {
            let mut env = modes::ModeEnv {
                out: &mut out,
                err: &mut err_lock,
                mode: self.o.mode,
                interval_us: self.o.interval_us,
                pattern,
                cancel: &STOP_LOOP,
                host: self.o.host.clone(),
                port: self.o.port,
            };
            if tools.latency {
                modes::latency_mode(&mut conn, &mut env, tools.latency_history)
            } else if tools.latency_dist {
                let palette = if tools.mono { modes::PALETTE_MONO } else { modes::PALETTE_COLOR };
                modes::latency_dist_mode(&mut conn, &mut env, palette)
            } else if tools.bigkeys {
                modes::big_keys(&mut conn, &mut env, None)
            } else if tools.memkeys {
                modes::big_keys(&mut conn, &mut env, Some(tools.memkeys_samples))
            } else if tools.hotkeys {
                modes::hot_keys(&mut conn, &mut env)
            } else if tools.stat {
                modes::stat_mode(&mut conn, &mut env)
            } else {
                modes::scan_mode(&mut conn, &mut env)
            }
        };
        // What exit() does to stdio: the buffered output goes out.
        out.flush();
        code
    }

    /// `--pipe`: stdin's raw protocol to the server, then an ECHO of a random marker; replies are
    /// counted (errors printed to stderr) until the marker comes back.
    fn pipe_mode(&mut self) -> i32 {
        let Some(conn) = self.conn.as_mut() else { return 1 };
        let mut data = Vec::new();
        if let Err(e) = std::io::stdin().read_to_end(&mut data) {
            eprintln!("Error reading from stdin: {}", cli::client::os_error_text(&e));
            return 1;
        }
        let magic = pipe_magic();
        // A writer thread would let a huge input stream while replies are read; with the whole
        // input in memory, writing it from a second handle of the socket does the same job.
        let Ok(mut writer) = conn.stream().try_clone() else { return 1 };
        let mut tail = b"\r\n*2\r\n$4\r\nECHO\r\n$20\r\n".to_vec();
        tail.extend_from_slice(&magic);
        tail.extend_from_slice(b"\r\n");
        let handle = std::thread::spawn(move || -> std::io::Result<()> {
            writer.write_all(&data)?;
            writer.write_all(&tail)
        });
        let (mut errors, mut replies) = (0u64, 0u64);
        let mut announced = false;
        let timeout = self.o.pipe_timeout_s;
        let _ = conn.stream().set_read_timeout(Some(Duration::from_secs(1)));
        let mut last_read = Instant::now();
        loop {
            if !announced && handle.is_finished() {
                announced = true;
                println!("All data transferred. Waiting for the last reply...");
            }
            match conn.try_reply() {
                Ok(Some(r)) => {
                    last_read = Instant::now();
                    match &r {
                        Reply::Error(e) => {
                            eprintln!("{}", String::from_utf8_lossy(e));
                            errors += 1;
                        }
                        Reply::Bulk(b) if b.as_slice() == magic.as_slice() => {
                            if !announced {
                                println!("All data transferred. Waiting for the last reply...");
                            }
                            println!("Last reply received from server.");
                            break;
                        }
                        _ => {}
                    }
                    replies += 1;
                    continue;
                }
                Ok(None) => {}
                Err(_) => {
                    eprintln!("Error reading replies from server");
                    return 1;
                }
            }
            match conn.fill() {
                Ok(()) => {}
                Err(ClientError::Io(_)) if timeout == 0 || last_read.elapsed() < Duration::from_secs(timeout) => {}
                Err(ClientError::Io(_)) => {
                    eprintln!("No replies for {timeout} seconds: exiting.");
                    errors += 1;
                    break;
                }
                Err(_) => {
                    eprintln!("Error reading replies from server");
                    return 1;
                }
            }
        }
        println!("errors: {errors}, replies: {replies}");
        if errors > 0 {
            1
        } else {
            0
        }
    }
}

/// `MOVED 3999 127.0.0.1:6381` / `ASK ...` → (slot, host, port).
fn parse_redirect(e: &[u8]) -> Option<(i64, String, u16)> {
    let text = std::str::from_utf8(e).ok()?;
    let mut parts = text.split(' ');
    parts.next()?;
    let slot = options::atoi(parts.next()?);
    let addr = parts.next()?;
    let (host, port) = addr.rsplit_once(':')?;
    Some((slot, host.to_string(), options::atoi(port) as u16))
}

/// 20 bytes the server will echo back; distinct per run so stale input cannot fake the end.
fn pipe_magic() -> [u8; 20] {
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
        ^ u128::from(std::process::id());
    let mut x = seed as u64 | 1;
    let mut out = [0u8; 20];
    for b in out.iter_mut() {
        // xorshift64: enough to make a collision with user data implausible; not security.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = b"0123456789abcdef"[(x & 15) as usize];
    }
    out
}
