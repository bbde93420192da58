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
    pub version: bool,
    /// Index in argv of the first word of the command (== argv.len() when there is none).
    pub first_arg: usize,
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
        version: false,
        first_arg: argv.len(),
    };
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
    fn c_number_parsing() {
        assert_eq!(atoi("12abc"), 12);
        assert_eq!(atoi("x"), 0);
        assert_eq!(atoi("-3"), -3);
        assert_eq!(atof("0.5s"), 0.5);
    }
}
