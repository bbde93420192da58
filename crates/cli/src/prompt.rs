//! The small decisions of redis-cli 7.0.15's prompt loop (`repl`), as pure functions: the prompt
//! text, the leading repeat count, which lines stay out of the history, where the history file is.
//!
//! It owns those rules only. It must never read the terminal, touch a file or talk to a server:
//! `main.rs` runs the loop and `lineedit` edits the line.

/// `cliRefreshPrompt`: `host:port`, `[db]` when not 0, `(TX)` inside MULTI, then `> `. A unix
/// socket shows as `redis /path`. An IPv6 address is bracketed (`anetFormatAddr`).
pub fn prompt_text(host: &str, port: u16, socket: Option<&str>, dbnum: i64, in_multi: bool) -> String {
    let mut p = match socket {
        Some(path) => format!("redis {path}"),
        None if host.contains(':') => format!("[{host}]:{port}"),
        None => format!("{host}:{port}"),
    };
    if dbnum != 0 {
        p.push_str(&format!("[{dbnum}]"));
    }
    if in_multi {
        p.push_str("(TX)");
    }
    p.push_str("> ");
    p
}

/// The prompt redis-cli shows while it has no connection object at all.
pub const NOT_CONNECTED: &str = "not connected> ";

/// What a leading number on the line means (`3 PING`).
#[derive(Debug, PartialEq, Eq)]
pub enum Repeat {
    /// No count: run once with every word.
    Once,
    /// `n` times, the first word skipped.
    Times(i64),
    /// A count that is zero, negative or out of range: `Invalid redis-cli repeat command option value.`
    Invalid,
}

/// `repl`'s `strtol(argv[0])` check: only with more than one word, and only when the whole first
/// word is a number (leading spaces allowed, as strtol skips them; none can survive the split
/// unless quoted).
pub fn parse_repeat(argv: &[Vec<u8>]) -> Repeat {
    if argv.len() < 2 {
        return Repeat::Once;
    }
    let Ok(word) = std::str::from_utf8(&argv[0]) else { return Repeat::Once };
    let t = word.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        // strtol stops early or reads nothing: *endptr != '\0' (an empty first word, `""`, is the
        // exception: strtol reads nothing and endptr is at the NUL, so it is the invalid count 0).
        return if word.is_empty() { Repeat::Invalid } else { Repeat::Once };
    }
    match t.parse::<i64>() {
        Ok(n) if n > 0 => Repeat::Times(n),
        // ERANGE or <= 0
        _ => Repeat::Invalid,
    }
}

/// `isSensitiveCommand`: lines kept out of the history because they carry a password (AUTH,
/// ACL SETUSER, CONFIG SET of the auth settings, HELLO ... AUTH, MIGRATE ... AUTH/AUTH2).
pub fn is_sensitive(argv: &[Vec<u8>]) -> bool {
    let is = |i: usize, s: &str| argv.get(i).is_some_and(|a| a.eq_ignore_ascii_case(s.as_bytes()));
    let argc = argv.len();
    if is(0, "auth") {
        return true;
    }
    if argc > 1 && is(0, "acl") && is(1, "setuser") {
        return true;
    }
    if argc > 2
        && is(0, "config")
        && is(1, "set")
        && (is(2, "masterauth") || is(2, "masteruser") || is(2, "requirepass"))
    {
        return true;
    }
    if argc > 4 && is(0, "hello") {
        let mut j = 2;
        while j < argc {
            let more = argc - 1 - j;
            if is(j, "auth") && more >= 2 {
                return true;
            } else if is(j, "setname") && more > 0 {
                j += 1;
            } else {
                return false;
            }
            j += 1;
        }
        return false;
    }
    if argc > 7 && is(0, "migrate") {
        for j in 6..argc {
            let more = argc - 1 - j;
            if (is(j, "auth") && more > 0) || (is(j, "auth2") && more >= 2) {
                return true;
            }
            if is(j, "keys") && more > 0 {
                return false;
            }
        }
    }
    false
}

/// `getDotfilePath`: the env override when set and not empty (`/dev/null` turns the file off),
/// else `$HOME/<name>`, else none.
pub fn dotfile_path(env_value: Option<&str>, home: Option<&str>, name: &str) -> Option<String> {
    match env_value {
        Some("/dev/null") => None,
        Some(p) if !p.is_empty() => Some(p.to_string()),
        _ => home.filter(|h| !h.is_empty()).map(|h| format!("{h}/{name}")),
    }
}

/// `cliSetPreferences`: `:set hints` / `:set nohints` from the prompt or `~/.redisclirc`. Returns
/// the line to print for anything else (prefixed `.redisclirc: ` when read from the file).
pub fn set_preference(argv: &[Vec<u8>], interactive: bool, hints: &mut bool) -> Option<String> {
    let from = if interactive { "" } else { ".redisclirc: " };
    let word = |i: usize| String::from_utf8_lossy(argv.get(i).map_or(&[][..], |w| w.as_slice())).into_owned();
    if argv.len() >= 2 && argv[0].eq_ignore_ascii_case(b":set") {
        if argv[1].eq_ignore_ascii_case(b"hints") {
            *hints = true;
        } else if argv[1].eq_ignore_ascii_case(b"nohints") {
            *hints = false;
        } else {
            return Some(format!("{from}unknown redis-cli preference '{}'", word(1)));
        }
        None
    } else {
        Some(format!("{from}unknown redis-cli internal command '{}'", word(0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &[&str]) -> Vec<Vec<u8>> {
        s.iter().map(|w| w.as_bytes().to_vec()).collect()
    }

    /// The prompt splits lines with `resp::split_args` (Redis's `sdssplitargs`); these are the cases
    /// the prompt depends on, checked against redis-cli 7.0.15's behaviour.
    #[test]
    fn lines_split_like_sdssplitargs() {
        let split = |s: &str| resp::split_args(s.as_bytes());
        assert_eq!(split("set \"a b\" 'c d'"), Some(words(&["set", "a b", "c d"])));
        assert_eq!(split("  get   k  "), Some(words(&["get", "k"])));
        assert_eq!(split("   "), Some(vec![]));
        assert_eq!(split("\"\""), Some(words(&[""])));
        assert_eq!(split(r#""\x41\n\t\"\\""#), Some(vec![b"A\n\t\"\\".to_vec()]));
        assert_eq!(split(r#""\xff\x00""#), Some(vec![vec![0xff, 0x00]]));
        // An incomplete \x escape is the letter x; an unknown escape is the character itself.
        assert_eq!(split(r#""\x4" "\q""#), Some(words(&["x4", "q"])));
        // Single quotes only know \'.
        assert_eq!(split(r"'it\'s' 'a\nb'"), Some(words(&["it's", "a\\nb"])));
        // Unbalanced quotes, and a closing quote not followed by a space: Invalid argument(s).
        assert_eq!(split("get \"abc"), None);
        assert_eq!(split("get 'abc"), None);
        assert_eq!(split("get \"a\"b"), None);
        assert_eq!(split("get 'a'b"), None);
        // A quote inside a word opens a quoted part of that word.
        assert_eq!(split("echo a\"b c\""), Some(words(&["echo", "ab c"])));
        assert_eq!(split("echo a\"b c"), None);
    }

    #[test]
    fn prompt_forms() {
        assert_eq!(prompt_text("127.0.0.1", 6379, None, 0, false), "127.0.0.1:6379> ");
        assert_eq!(prompt_text("127.0.0.1", 6379, None, 2, false), "127.0.0.1:6379[2]> ");
        assert_eq!(prompt_text("127.0.0.1", 7000, None, 2, true), "127.0.0.1:7000[2](TX)> ");
        assert_eq!(prompt_text("::1", 6379, None, 0, false), "[::1]:6379> ");
        assert_eq!(prompt_text("x", 1, Some("/tmp/r.sock"), 0, false), "redis /tmp/r.sock> ");
    }

    #[test]
    fn repeat_counts() {
        assert_eq!(parse_repeat(&words(&["3", "ping"])), Repeat::Times(3));
        assert_eq!(parse_repeat(&words(&["+3", "ping"])), Repeat::Times(3));
        assert_eq!(parse_repeat(&words(&["3"])), Repeat::Once);
        assert_eq!(parse_repeat(&words(&["ping", "3"])), Repeat::Once);
        assert_eq!(parse_repeat(&words(&["3x", "ping"])), Repeat::Once);
        assert_eq!(parse_repeat(&words(&["0", "ping"])), Repeat::Invalid);
        assert_eq!(parse_repeat(&words(&["-1", "ping"])), Repeat::Invalid);
        assert_eq!(parse_repeat(&words(&["99999999999999999999", "ping"])), Repeat::Invalid);
        assert_eq!(parse_repeat(&words(&["", "ping"])), Repeat::Invalid);
    }

    #[test]
    fn sensitive_lines() {
        assert!(is_sensitive(&words(&["AUTH", "pw"])));
        assert!(is_sensitive(&words(&["auth"])));
        assert!(is_sensitive(&words(&["acl", "SETUSER", "u"])));
        assert!(is_sensitive(&words(&["config", "set", "requirepass", "x"])));
        assert!(!is_sensitive(&words(&["config", "set", "maxmemory", "1"])));
        assert!(is_sensitive(&words(&["hello", "3", "AUTH", "u", "p"])));
        assert!(is_sensitive(&words(&["hello", "3", "SETNAME", "n", "AUTH", "u", "p"])));
        assert!(!is_sensitive(&words(&["hello", "3", "SETNAME", "n", "x"])));
        assert!(is_sensitive(&words(&["migrate", "h", "1", "", "0", "5", "AUTH", "p", "KEYS", "a"])));
        assert!(!is_sensitive(&words(&["migrate", "h", "1", "", "0", "5", "KEYS", "auth", "p"])));
        assert!(!is_sensitive(&words(&["get", "auth"])));
    }

    #[test]
    fn preferences() {
        let mut hints = true;
        assert_eq!(set_preference(&words(&[":set", "NOHINTS"]), true, &mut hints), None);
        assert!(!hints);
        assert_eq!(set_preference(&words(&[":SET", "hints"]), true, &mut hints), None);
        assert!(hints);
        assert_eq!(
            set_preference(&words(&[":set", "colour"]), true, &mut hints).as_deref(),
            Some("unknown redis-cli preference 'colour'")
        );
        assert_eq!(
            set_preference(&words(&[":set"]), false, &mut hints).as_deref(),
            Some(".redisclirc: unknown redis-cli internal command ':set'")
        );
    }

    #[test]
    fn history_path() {
        assert_eq!(
            dotfile_path(None, Some("/home/u"), ".rediscli_history").as_deref(),
            Some("/home/u/.rediscli_history")
        );
        assert_eq!(dotfile_path(Some("/tmp/h"), Some("/home/u"), ".x").as_deref(), Some("/tmp/h"));
        assert_eq!(dotfile_path(Some(""), Some("/home/u"), ".x").as_deref(), Some("/home/u/.x"));
        assert_eq!(dotfile_path(Some("/dev/null"), Some("/home/u"), ".x"), None);
        assert_eq!(dotfile_path(None, None, ".x"), None);
    }
}
