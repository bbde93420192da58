//! The command line, read with redis-cli's rules (`parseOptions`): options come first and the first
//! word that does not start with `-` begins the command; an unknown option is an error naming it.
//!
//! Hand-written rather than with clap: redis-cli's grammar (an option that takes a value is ignored
//! when it is the last word, `-h` alone prints the help, the command's own `-x`-looking arguments after
//! the command name are not options) and its error texts would have to be fought out of clap.

use crate::format::Mode;

#[derive(Debug, Clone)]
pub struct Options {
    pub host: String,
    pub port: u16,
    /// `-s path`: a unix socket instead of host:port.
    pub socket: Option<String>,
    pub user: Option<String>,
    pub auth: Option<String>,
    pub dbnum: i64,
    pub repeat: i64,
    pub interval_us: u64,
    pub mode: Mode,
    pub resp3: bool,
    pub resp2: bool,
    pub stdin_lastarg: bool,
    /// `-X tag`: the argument equal to `tag` is replaced by stdin.
    pub stdin_tag: Option<Vec<u8>>,
    /// `--quoted-input`: each argument is unquoted as a redis-cli line word (`"a\x00b"`).
    pub quoted_input: bool,
    pub set_errcode: bool,
    pub cluster_mode: bool,
    pub no_auth_warning: bool,
    pub pipe: bool,
    pub pipe_timeout_s: u64,
    pub mb_delim: Vec<u8>,
    pub cmd_delim: Vec<u8>,
    pub help: bool,
    /// redis-cli's `usage(1)`: the usage text on stderr, exit 1 (`--cluster` without a subcommand).
    pub usage_error: bool,
    pub version: bool,
    /// Index in argv of the first word of the command (== argv.len() when there is none).
    pub first_arg: usize,
    /// `--cluster <subcommand> ...`: the cluster manager's command line.
    pub cluster: Option<ClusterArgs>,
    /// The tool modes (`--scan`, `--bigkeys`, ...); all off unless asked for.
    pub tools: ToolModes,
}

/// redis-cli's tool modes and their options. Several may be given; the binary runs the first in
/// redis-cli's `main()` order (latency, latency-dist, then after `--pipe`: bigkeys, memkeys,
/// hotkeys, stat, scan).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ToolModes {
    pub latency: bool,
    pub latency_history: bool,
    pub latency_dist: bool,
    /// `--mono`: `--latency-dist` in greys.
    pub mono: bool,
    pub stat: bool,
    pub scan: bool,
    pub bigkeys: bool,
    pub memkeys: bool,
    /// `--memkeys-samples n` (0: the server's default).
    pub memkeys_samples: u32,
    pub hotkeys: bool,
    /// `--pattern` / `--quoted-pattern`, unquoted (the last one given wins).
    pub pattern: Option<Vec<u8>>,
    /// argv index of a `--pattern` value, so the binary can take its raw bytes (options are
    /// matched on a lossy UTF-8 copy of argv). `None` after `--quoted-pattern`.
    pub pattern_raw_at: Option<usize>,
}

impl ToolModes {
    /// Whether a mode runs before `--pipe` is considered (redis-cli checks these first).
    pub fn before_pipe(&self) -> bool {
        self.latency || self.latency_dist
    }

    pub fn any(&self) -> bool {
        self.before_pipe() || self.bigkeys || self.memkeys || self.hotkeys || self.stat || self.scan
    }
}

/// The `--cluster` subcommand, its arguments and every `--cluster-*` option (redis-cli's
/// `clusterManagerCommand`), with redis-cli's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterArgs {
    pub command: String,
    pub args: Vec<String>,
    pub replicas: i64,
    pub master_id: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub from_user: Option<String>,
    pub from_pass: Option<String>,
    pub from_askpass: bool,
    /// `--cluster-weight n1=w1 n2=w2 ...`, as given.
    pub weights: Vec<String>,
    pub slots: i64,
    pub timeout_ms: i64,
    pub pipeline: i64,
    pub threshold_pct: f32,
    pub yes: bool,
    pub simulate: bool,
    pub replace: bool,
    pub copy: bool,
    pub slave: bool,
    pub use_empty_masters: bool,
    pub search_multiple_owners: bool,
    pub fix_with_unreachable_masters: bool,
    pub only_masters: bool,
    pub only_replicas: bool,
    /// `--cluster-replicas` was given (`up` defaults to 1 replica per master, `create` to 0).
    pub replicas_given: bool,
    /// `up`/`down` (redoxide's own): `--cluster-masters`, `--cluster-base-port`, `--cluster-dir`,
    /// `--cluster-node-timeout`, `--cluster-detach`; `None` when not given.
    pub masters: Option<i64>,
    pub base_port: Option<i64>,
    pub dir: Option<String>,
    pub node_timeout: Option<i64>,
    pub detach: bool,
}

impl ClusterArgs {
    fn new(command: String, args: Vec<String>) -> Self {
        ClusterArgs {
            command,
            args,
            replicas: 0,
            master_id: None,
            from: None,
            to: None,
            from_user: None,
            from_pass: None,
            from_askpass: false,
            weights: Vec::new(),
            slots: 0,
            timeout_ms: 60000,
            pipeline: 10,
            threshold_pct: 2.0,
            yes: false,
            simulate: false,
            replace: false,
            copy: false,
            slave: false,
            use_empty_masters: false,
            search_multiple_owners: false,
            fix_with_unreachable_masters: false,
            only_masters: false,
            only_replicas: false,
            replicas_given: false,
            masters: None,
            base_port: None,
            dir: None,
            node_timeout: None,
            detach: false,
        }
    }
}

/// The `--cluster-*` options are read into a default `ClusterArgs` until `--cluster` names the
/// subcommand (redis-cli accepts them on either side of it).
fn cluster_args(o: &mut Options) -> &mut ClusterArgs {
    o.cluster.get_or_insert_with(|| ClusterArgs::new(String::new(), Vec::new()))
}

/// Why the command line was refused; the text is what redis-cli prints to stderr before exiting 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionsError(pub String);

/// C's `atoi`: leading spaces, a sign, digits; anything else ends the number; no digits gives 0.
pub fn atoi(s: &str) -> i64 {
    let t = s.trim_start();
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let mut v: i64 = 0;
    for b in digits.bytes().take_while(u8::is_ascii_digit) {
        v = v.wrapping_mul(10).wrapping_add(i64::from(b - b'0'));
    }
    if neg {
        -v
    } else {
        v
    }
}

/// C's `atof` for `-i`: the longest prefix that parses as a number, 0 if none.
fn atof(s: &str) -> f64 {
    let t = s.trim_start();
    (1..=t.len()).rev().find_map(|n| t.get(..n).and_then(|p| p.parse::<f64>().ok())).unwrap_or(0.0)
}

/// Percent-decoding of a URI part, as redis-cli's `percentDecode` (hex digits in either case).
fn percent_decode(s: &[u8]) -> Result<String, OptionsError> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' {
            let (Some(h), Some(l)) = (s.get(i + 1), s.get(i + 2)) else {
                return Err(OptionsError("Incomplete URI encoding".into()));
            };
            let hex = |c: u8| (c as char).to_ascii_lowercase().to_digit(16);
            let (Some(h), Some(l)) = (hex(*h), hex(*l)) else {
                return Err(OptionsError("Illegal character in URI encoding".into()));
            };
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// `-u redis://[[user:]pass@][host[:port]][/db]`, read as redis-cli's `parseRedisUri` reads it:
/// the first `@` ends the user info, the first `:` after the user info starts the port.
fn parse_uri(uri: &str, o: &mut Options) -> Result<(), OptionsError> {
    let b = uri.as_bytes();
    let has_prefix = |p: &str| b.len() >= p.len() && b[..p.len()].eq_ignore_ascii_case(p.as_bytes());
    if has_prefix("rediss://") {
        return Err(OptionsError("rediss:// is only supported when redis-cli is compiled with OpenSSL".into()));
    }
    if !has_prefix("redis://") {
        return Err(OptionsError("Invalid URI scheme".into()));
    }
    let mut rest = &b["redis://".len()..];
    if let Some(at) = rest.iter().position(|&c| c == b'@') {
        let info = &rest[..at];
        let pass = match info.iter().position(|&c| c == b':') {
            Some(colon) => {
                o.user = Some(percent_decode(&info[..colon])?);
                &info[colon + 1..]
            }
            None => info,
        };
        o.auth = Some(percent_decode(pass)?);
        rest = &rest[at + 1..];
    }
    if rest.is_empty() {
        return Ok(());
    }
    let path = rest.iter().position(|&c| c == b'/');
    if rest[0] != b'/' {
        let mut host_end = path.unwrap_or(rest.len());
        if let Some(colon) = rest.iter().position(|&c| c == b':') {
            o.port = atoi(&String::from_utf8_lossy(&rest[colon + 1..])) as u16;
            host_end = colon;
        }
        o.host = String::from_utf8_lossy(&rest[..host_end]).into_owned();
    }
    if let Some(p) = path {
        let db = &rest[p + 1..];
        if !db.is_empty() {
            o.dbnum = atoi(&String::from_utf8_lossy(db));
        }
    }
    Ok(())
}

/// Parses `argv` (argv[0] is the program name).
pub fn parse(argv: &[String], stdout_is_tty: bool) -> Result<Options, OptionsError> {
    let mut o = Options {
        host: "127.0.0.1".into(),
        port: 6379,
        socket: None,
        user: None,
        auth: None,
        dbnum: 0,
        repeat: 1,
        interval_us: 0,
        mode: if stdout_is_tty { Mode::Tty } else { Mode::Raw },
        resp3: false,
        resp2: false,
        stdin_lastarg: false,
        stdin_tag: None,
        quoted_input: false,
        set_errcode: false,
        cluster_mode: false,
        no_auth_warning: false,
        pipe: false,
        pipe_timeout_s: 30,
        mb_delim: b"\n".to_vec(),
        cmd_delim: b"\n".to_vec(),
        help: false,
        usage_error: false,
        version: false,
        first_arg: argv.len(),
        cluster: None,
        tools: ToolModes::default(),
    };
    let mut cluster_named = false;
    let mut i = 1;
    while i < argv.len() {
        let a = argv[i].as_str();
        let has_value = i + 1 < argv.len();
        let mut value = || {
            i += 1;
            argv[i].clone()
        };
        match a {
            "-h" if has_value => o.host = value(),
            "-h" | "--help" => {
                o.help = true;
                return Ok(o);
            }
            "-v" | "--version" => {
                o.version = true;
                return Ok(o);
            }
            "-p" if has_value => o.port = atoi(&value()) as u16,
            "-s" if has_value => o.socket = Some(value()),
            "-r" if has_value => o.repeat = atoi(&value()),
            "-i" if has_value => o.interval_us = (atof(&value()) * 1_000_000.0).max(0.0) as u64,
            "-n" if has_value => o.dbnum = atoi(&value()),
            "-a" | "--pass" if has_value => o.auth = Some(value()),
            "--user" if has_value => o.user = Some(value()),
            "-u" if has_value => {
                let uri = value();
                parse_uri(&uri, &mut o)?;
            }
            "-d" if has_value => o.mb_delim = value().into_bytes(),
            "-D" if has_value => o.cmd_delim = value().into_bytes(),
            "--pipe-timeout" if has_value => o.pipe_timeout_s = atoi(&value()).max(0) as u64,
            "--no-auth-warning" => o.no_auth_warning = true,
            "--raw" => o.mode = Mode::Raw,
            "--no-raw" => o.mode = Mode::Tty,
            "--csv" => o.mode = Mode::Csv,
            "-x" => o.stdin_lastarg = true,
            "-X" if has_value => o.stdin_tag = Some(value().into_bytes()),
            "--quoted-input" => o.quoted_input = true,
            "-e" => o.set_errcode = true,
            "-c" => o.cluster_mode = true,
            "-2" => o.resp2 = true,
            "-3" => o.resp3 = true,
            "--pipe" => o.pipe = true,
            "--latency" => o.tools.latency = true,
            "--latency-history" => {
                o.tools.latency = true;
                o.tools.latency_history = true;
            }
            "--latency-dist" => o.tools.latency_dist = true,
            "--mono" => o.tools.mono = true,
            "--stat" => o.tools.stat = true,
            "--scan" => o.tools.scan = true,
            "--bigkeys" => o.tools.bigkeys = true,
            "--memkeys" => {
                o.tools.memkeys = true;
                o.tools.memkeys_samples = 0;
            }
            // redis-cli reads this one's value without checking it is there (a crash when it is
            // last); we refuse it as any other option missing its value.
            "--memkeys-samples" if has_value => {
                o.tools.memkeys = true;
                // C's atoi into an unsigned: a negative count wraps.
                o.tools.memkeys_samples = atoi(&value()) as u32;
            }
            "--hotkeys" => o.tools.hotkeys = true,
            "--pattern" if has_value => {
                let p = value();
                o.tools.pattern = Some(p.into_bytes());
                o.tools.pattern_raw_at = Some(i);
            }
            "--quoted-pattern" if has_value => {
                let p = value();
                match resp::split_args(p.as_bytes()).filter(|v| v.len() == 1).and_then(|mut v| v.pop()) {
                    Some(unquoted) => o.tools.pattern = Some(unquoted),
                    None => return Err(OptionsError("Invalid quoted string specified for --quoted-pattern.".into())),
                }
                o.tools.pattern_raw_at = None;
            }
            "--cluster" if has_value => {
                if cluster_named {
                    o.usage_error = true;
                    return Ok(o);
                }
                cluster_named = true;
                i += 1;
                // The subcommand's arguments run up to the next word starting with `-`.
                let mut j = i;
                while j < argv.len() && !argv[j].starts_with('-') {
                    j += 1;
                }
                if j > i {
                    j -= 1;
                }
                let c = cluster_args(&mut o);
                c.command = argv[i].clone();
                c.args = argv[i + 1..=j.max(i)].to_vec();
                if j == i {
                    c.args.clear();
                }
                i = j;
            }
            "--cluster" => {
                o.usage_error = true;
                return Ok(o);
            }
            "--cluster-only-masters" => cluster_args(&mut o).only_masters = true,
            "--cluster-only-replicas" => cluster_args(&mut o).only_replicas = true,
            "--cluster-replicas" if has_value => {
                let v = atoi(&value());
                let c = cluster_args(&mut o);
                c.replicas = v;
                c.replicas_given = true;
            }
            "--cluster-masters" if has_value => cluster_args(&mut o).masters = Some(atoi(&value())),
            "--cluster-base-port" if has_value => cluster_args(&mut o).base_port = Some(atoi(&value())),
            "--cluster-dir" if has_value => cluster_args(&mut o).dir = Some(value()),
            "--cluster-node-timeout" if has_value => cluster_args(&mut o).node_timeout = Some(atoi(&value())),
            "--cluster-detach" => cluster_args(&mut o).detach = true,
            "--cluster-master-id" if has_value => cluster_args(&mut o).master_id = Some(value()),
            "--cluster-from" if has_value => cluster_args(&mut o).from = Some(value()),
            "--cluster-to" if has_value => cluster_args(&mut o).to = Some(value()),
            "--cluster-from-user" if has_value => cluster_args(&mut o).from_user = Some(value()),
            "--cluster-from-pass" if has_value => cluster_args(&mut o).from_pass = Some(value()),
            "--cluster-from-askpass" => cluster_args(&mut o).from_askpass = true,
            "--cluster-weight" if has_value => {
                if !cluster_args(&mut o).weights.is_empty() {
                    return Err(OptionsError(
                        "WARNING: you cannot use --cluster-weight more than once.\nYou can set more weights by adding them as a space-separated list, ie:\n--cluster-weight n1=w n2=w".into(),
                    ));
                }
                let mut w = Vec::new();
                while i + 1 < argv.len() && !argv[i + 1].starts_with("--") && argv[i + 1].contains('=') {
                    i += 1;
                    w.push(argv[i].clone());
                }
                cluster_args(&mut o).weights = w;
            }
            "--cluster-slots" if has_value => cluster_args(&mut o).slots = atoi(&value()),
            "--cluster-timeout" if has_value => cluster_args(&mut o).timeout_ms = atoi(&value()),
            "--cluster-pipeline" if has_value => cluster_args(&mut o).pipeline = atoi(&value()),
            "--cluster-threshold" if has_value => cluster_args(&mut o).threshold_pct = atof(&value()) as f32,
            "--cluster-yes" => cluster_args(&mut o).yes = true,
            "--cluster-simulate" => cluster_args(&mut o).simulate = true,
            "--cluster-replace" => cluster_args(&mut o).replace = true,
            "--cluster-copy" => cluster_args(&mut o).copy = true,
            "--cluster-slave" => cluster_args(&mut o).slave = true,
            "--cluster-use-empty-masters" => cluster_args(&mut o).use_empty_masters = true,
            "--cluster-search-multiple-owners" => cluster_args(&mut o).search_multiple_owners = true,
            "--cluster-fix-with-unreachable-masters" => cluster_args(&mut o).fix_with_unreachable_masters = true,
            _ if cluster_named && !a.starts_with('-') => {
                // Arguments given after the options (`--cluster check --opt host:port`).
                let mut j = i + 1;
                while j < argv.len() && !argv[j].starts_with('-') {
                    j += 1;
                }
                let c = cluster_args(&mut o);
                if c.args.is_empty() {
                    c.args = argv[i..j].to_vec();
                    i = j - 1;
                }
            }
            _ if a.starts_with('-') => {
                return Err(OptionsError(format!("Unrecognized option or bad number of args for: '{a}'")));
            }
            _ => {
                o.first_arg = i;
                break;
            }
        }
        i += 1;
    }
    if !cluster_named {
        // `--cluster-*` options without `--cluster` are accepted and ignored, as by redis-cli.
        o.cluster = None;
    }
    if o.socket.is_some() && o.cluster_mode {
        return Err(OptionsError("Options -c and -s are mutually exclusive.".into()));
    }
    if o.resp2 && o.resp3 {
        return Err(OptionsError("Options -2 and -3 are mutually exclusive.".into()));
    }
    if o.stdin_lastarg && o.stdin_tag.is_some() {
        return Err(OptionsError("Options -x and -X are mutually exclusive.".into()));
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        std::iter::once("redoxide-cli").chain(s.split_whitespace()).map(String::from).collect()
    }

    #[test]
    fn options_stop_at_the_command() {
        let o = parse(&args("-p 7000 -n 3 --raw get -x"), true).unwrap();
        assert_eq!((o.port, o.dbnum, o.mode, o.first_arg), (7000, 3, Mode::Raw, 6));
        assert!(!o.stdin_lastarg);
    }

    #[test]
    fn unknown_option_and_value_at_the_end() {
        assert_eq!(
            parse(&args("--nope get"), false).unwrap_err().0,
            "Unrecognized option or bad number of args for: '--nope'"
        );
        assert_eq!(parse(&args("-p"), false).unwrap_err().0, "Unrecognized option or bad number of args for: '-p'");
    }

    #[test]
    fn uri() {
        let o = parse(&args("-u redis://bob:s%40cret@10.0.0.1:7001/4"), false).unwrap();
        assert_eq!(o.user.as_deref(), Some("bob"));
        assert_eq!(o.auth.as_deref(), Some("s@cret"));
        assert_eq!((o.host.as_str(), o.port, o.dbnum), ("10.0.0.1", 7001, 4));
        assert_eq!(parse(&args("-u http://x"), false).unwrap_err().0, "Invalid URI scheme");
        assert_eq!(parse(&args("-u redis://%4g@h"), false).unwrap_err().0, "Illegal character in URI encoding");
        let o = parse(&args("-u REDIS://pw@/2"), false).unwrap();
        assert_eq!((o.user, o.auth.as_deref(), o.host.as_str(), o.dbnum), (None, Some("pw"), "127.0.0.1", 2));
    }

    #[test]
    fn cluster_command_lines() {
        let o =
            parse(&args("--cluster create 127.0.0.1:1 127.0.0.1:2 --cluster-replicas 1 --cluster-yes"), false).unwrap();
        let c = o.cluster.unwrap();
        assert_eq!(c.command, "create");
        assert_eq!(c.args, vec!["127.0.0.1:1", "127.0.0.1:2"]);
        assert_eq!((c.replicas, c.yes, c.pipeline, c.timeout_ms), (1, true, 10, 60000));
        let o = parse(&args("--cluster-yes --cluster check --cluster-search-multiple-owners h:1"), false).unwrap();
        let c = o.cluster.unwrap();
        assert_eq!(
            (c.command.as_str(), c.args, c.yes, c.search_multiple_owners),
            ("check", vec!["h:1".into()], true, true)
        );
        let o = parse(&args("--cluster help"), false).unwrap();
        assert!(o.cluster.unwrap().args.is_empty());
        let o = parse(&args("--cluster rebalance h:1 --cluster-weight ab=2 cd=0.5 --cluster-threshold 1.5"), false)
            .unwrap();
        let c = o.cluster.unwrap();
        assert_eq!(c.weights, vec!["ab=2", "cd=0.5"]);
        assert_eq!(c.threshold_pct, 1.5);
        assert!(parse(&args("--cluster-yes get x"), false).unwrap().cluster.is_none());
        assert!(parse(&args("--cluster"), false).unwrap().usage_error);
        assert!(parse(&args("--cluster check h:1 --cluster info h:1"), false).unwrap().usage_error);
    }

    #[test]
    fn cluster_up_options() {
        let o = parse(&args("--cluster up"), false).unwrap();
        let c = o.cluster.unwrap();
        assert_eq!(
            (c.command.as_str(), c.replicas_given, c.masters, c.base_port, c.detach),
            ("up", false, None, None, false)
        );
        let o = parse(
            &args("--cluster up --cluster-masters 4 --cluster-replicas 0 --cluster-base-port 8000 --cluster-dir /x --cluster-node-timeout 900 --cluster-detach"),
            false,
        )
        .unwrap();
        let c = o.cluster.unwrap();
        assert!(c.args.is_empty());
        assert_eq!((c.masters, c.replicas, c.replicas_given, c.base_port), (Some(4), 0, true, Some(8000)));
        assert_eq!((c.dir.as_deref(), c.node_timeout, c.detach), (Some("/x"), Some(900), true));
        let c = parse(&args("--cluster down --cluster-dir d"), false).unwrap().cluster.unwrap();
        assert_eq!((c.command.as_str(), c.dir.as_deref()), ("down", Some("d")));
        let c = parse(&args("--cluster health 127.0.0.1:7000"), false).unwrap().cluster.unwrap();
        assert_eq!((c.command.as_str(), c.args), ("health", vec!["127.0.0.1:7000".to_string()]));
    }

    #[test]
    fn tool_modes() {
        let o = parse(&args("--scan --pattern k* -i 0.5"), false).unwrap();
        assert!(o.tools.scan && o.tools.any() && !o.tools.before_pipe());
        assert_eq!(
            (o.tools.pattern.as_deref(), o.tools.pattern_raw_at, o.interval_us),
            (Some(&b"k*"[..]), Some(3), 500_000)
        );
        let o = parse(&args("--quoted-pattern \"a\\x00*\" --scan"), false).unwrap();
        assert_eq!((o.tools.pattern.as_deref(), o.tools.pattern_raw_at), (Some(&b"a\x00*"[..]), None));
        assert_eq!(
            parse(&args("--quoted-pattern \"a --scan"), false).unwrap_err().0,
            "Invalid quoted string specified for --quoted-pattern."
        );
        let o = parse(&args("--memkeys-samples 7"), false).unwrap();
        assert_eq!((o.tools.memkeys, o.tools.memkeys_samples), (true, 7));
        assert!(parse(&args("--memkeys-samples"), false).is_err());
        let o = parse(&args("--latency-history --mono"), false).unwrap();
        assert!(o.tools.latency && o.tools.latency_history && o.tools.mono && o.tools.before_pipe());
        assert!(!parse(&args("get x"), false).unwrap().tools.any());
    }

    #[test]
    fn c_number_parsing() {
        assert_eq!(atoi("12abc"), 12);
        assert_eq!(atoi("x"), 0);
        assert_eq!(atoi("-3"), -3);
        assert_eq!(atof("0.5s"), 0.5);
    }
}
