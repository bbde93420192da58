//! The prompt's command help: the table redis-cli 7.0.15 builds from `COMMAND DOCS` (`cliInitHelp`),
//! and the texts drawn from it: `help`, `help <command>`, `help @<group>`, tab completions and the
//! grey argument hints.
//!
//! It owns the table and the exact bytes of each help text. It must never talk to a server or write
//! to a terminal (the binary sends `COMMAND DOCS` and prints; the line editor asks for completions
//! and hints through [`crate::lineedit::Hooks`]), and never panic on a reply it does not expect: a
//! malformed entry is skipped where redis-cli would `assert`.
//!
//! Without a server (or one without `COMMAND DOCS`) redis-cli falls back to its compiled-in
//! `help.h`; we fall back to [`HelpTable::builtin`], the COMMAND DOCS of Redis 7.0.15 that
//! `crates/commands/data/commands.json` records (the server's own source for COMMAND DOCS), read
//! through the same code. The texts agree with help.h except where help.h itself lost text
//! (MIGRATE's `key|""`, REPLICAOF's `|NO ONE`).

use crate::reply::Reply;

/// What an entry names: a command (or `CMD SUBCMD`) or a group (`@string`). Completion after
/// `help ` offers both; elsewhere only commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Command,
    Group,
}

/// One row of the table (redis-cli's `helpEntry`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: Kind,
    /// The words of the name, upper-cased: `["CONFIG", "GET"]`; `["@string"]` for a group.
    pub argv: Vec<String>,
    /// The words joined by one space; the sort key and the completion text.
    pub full: String,
    pub params: String,
    pub summary: Option<String>,
    pub since: Option<String>,
    pub group: Option<String>,
}

/// The help table, sorted by `full` (byte order, as `strcmp`).
#[derive(Debug, Clone, Default)]
pub struct HelpTable {
    pub entries: Vec<Entry>,
}

/// RESP2 sends maps as flat arrays; hiredis stores RESP3 maps flat too. Either way: pairs.
fn pairs(r: &Reply) -> Option<&[Reply]> {
    match r {
        Reply::Map(v) | Reply::Array(v) => Some(v.as_slice()),
        _ => None,
    }
}

fn text(r: &Reply) -> Option<String> {
    match r {
        Reply::Bulk(b) | Reply::Status(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Reply::Verbatim(_, b) => Some(String::from_utf8_lossy(b).into_owned()),
        _ => None,
    }
}

/// `sdscat_orempty`: an empty name or token shows as `""`.
fn or_empty(s: &str) -> &str {
    if s.is_empty() {
        "\"\""
    } else {
        s
    }
}

/// `cliConcatArguments`: each argument's text, joined by `sep`.
fn concat_arguments(out: &mut String, args: &[Reply], sep: &str) {
    for (i, a) in args.iter().enumerate() {
        add_argument(out, a);
        if i + 1 != args.len() {
            out.push_str(sep);
        }
    }
}

/// `cliAddArgument`: one argument of COMMAND DOCS as redis-cli writes it in a hint or help line:
/// `[token name [token name ...]]` for an optional multiple-token argument, `a|b` for a oneof.
fn add_argument(out: &mut String, arg: &Reply) {
    let Some(fields) = pairs(arg) else { return };
    let (mut name, mut ty, mut token) = ("", "", None::<String>);
    let (mut optional, mut multiple, mut multiple_token) = (false, false, false);
    let mut nested: &[Reply] = &[];
    // Borrowed strings need owners that outlive the loop.
    let owned: Vec<(String, Option<String>)> =
        fields.chunks(2).map(|kv| (text(&kv[0]).unwrap_or_default(), kv.get(1).and_then(text))).collect();
    for (kv, (key, val)) in fields.chunks(2).zip(owned.iter()) {
        match key.as_str() {
            "name" => name = val.as_deref().unwrap_or(""),
            "type" => ty = val.as_deref().unwrap_or(""),
            "token" => token = Some(or_empty(val.as_deref().unwrap_or("")).to_string()),
            "arguments" => {
                if let Some(Reply::Array(a)) = kv.get(1) {
                    nested = a;
                }
            }
            "flags" => {
                if let Some(Reply::Set(f) | Reply::Array(f)) = kv.get(1) {
                    for flag in f.iter().filter_map(text) {
                        match flag.as_str() {
                            "optional" => optional = true,
                            "multiple" => multiple = true,
                            "multiple_token" => multiple_token = true,
                            _ => {}
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let mut repeat = String::new();
    match ty {
        "key" | "string" | "integer" | "double" | "pattern" | "unix-time" | "token" => repeat.push_str(or_empty(name)),
        "oneof" => concat_arguments(&mut repeat, nested, "|"),
        "block" => concat_arguments(&mut repeat, nested, " "),
        // redis-cli prints "Unknown type" to stderr for anything else; a server's novelty is not
        // worth a line on the user's terminal, so it is just left out.
        _ => {}
    }
    let mut token_part = token.unwrap_or_default();
    if !token_part.is_empty() && ty != "pure-token" {
        token_part.push(' ');
    }
    if optional {
        out.push('[');
    }
    out.push_str(&token_part);
    out.push_str(&repeat);
    if multiple {
        out.push_str(" [");
        if multiple_token {
            out.push_str(&token_part);
        }
        out.push_str(&repeat);
        out.push_str(" ...]");
    }
    if optional {
        out.push(']');
    }
}

/// Redis 7.0.15's COMMAND DOCS as the server crate records it. Embedded rather than depending on
/// the `commands` crate, which would pull the whole command implementation into the CLI.
static BUILTIN_JSON: &str = include_str!("../../commands/data/commands.json");

/// commands.json's typed JSON (`{"map": [[k, v], ...]}`, `{"set": [...]}`, `{"simple": s}`, plain
/// strings for bulk strings) as the reply a server would send.
fn json_reply(v: &serde_json::Value) -> Reply {
    use serde_json::Value;
    match v {
        Value::String(s) => Reply::Bulk(s.as_bytes().to_vec()),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Reply::Integer(i),
            None => Reply::Double(n.to_string().into_bytes()),
        },
        Value::Bool(b) => Reply::Bool(*b),
        Value::Null => Reply::Nil,
        Value::Array(a) => Reply::Array(a.iter().map(json_reply).collect()),
        Value::Object(o) => {
            if let Some(Value::Array(pairs)) = o.get("map") {
                Reply::Map(
                    pairs.iter().flat_map(|kv| kv.as_array().into_iter().flatten().take(2).map(json_reply)).collect(),
                )
            } else if let Some(Value::Array(items)) = o.get("set") {
                Reply::Set(items.iter().map(json_reply).collect())
            } else if let Some(Value::String(s)) = o.get("simple") {
                Reply::Status(s.as_bytes().to_vec())
            } else {
                Reply::Nil
            }
        }
    }
}

impl HelpTable {
    /// The table without a server: Redis 7.0.15's documentation, built in.
    pub fn builtin() -> Self {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(BUILTIN_JSON) else { return HelpTable::default() };
        let mut docs = Vec::new();
        for c in v.get("commands").and_then(|c| c.as_array()).into_iter().flatten() {
            if let (Some(name), Some(d)) = (c.get("name").and_then(|n| n.as_str()), c.get("docs")) {
                docs.push(Reply::Bulk(name.as_bytes().to_vec()));
                docs.push(json_reply(d));
            }
        }
        HelpTable::from_command_docs(&Reply::Map(docs))
    }

    /// The table from a `COMMAND DOCS` reply (RESP2 array or RESP3 map); empty for anything else.
    pub fn from_command_docs(docs: &Reply) -> Self {
        let mut entries = Vec::new();
        let mut groups: Vec<String> = Vec::new();
        if let Some(items) = pairs(docs) {
            for kv in items.chunks(2) {
                if let (Some(name), Some(spec)) = (text(&kv[0]), kv.get(1)) {
                    add_command(&mut entries, &mut groups, &name, None, spec);
                }
            }
        }
        for g in groups {
            let full = format!("@{g}");
            entries.push(Entry {
                kind: Kind::Group,
                argv: vec![full.clone()],
                full,
                params: String::new(),
                summary: None,
                since: None,
                group: None,
            });
        }
        entries.sort_by(|a, b| a.full.as_bytes().cmp(b.full.as_bytes()));
        HelpTable { entries }
    }

    /// `cliOutputHelp` for `help <args>` (the words after `help`); bytes as redis-cli prints them,
    /// `\r\n` line ends and colour escapes included (it prints them even to a pipe).
    pub fn help_text(&self, args: &[Vec<u8>]) -> Vec<u8> {
        if args.is_empty() {
            return generic_help().into_bytes();
        }
        let args: Vec<String> = args.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        let group = args[0].strip_prefix('@');
        let mut out = String::new();
        for e in self.entries.iter().filter(|e| e.kind == Kind::Command) {
            match group {
                None => {
                    if args.len() <= e.argv.len() && args.iter().zip(&e.argv).all(|(a, b)| a.eq_ignore_ascii_case(b)) {
                        command_help(&mut out, e, true);
                    }
                }
                Some(g) => {
                    if e.group.as_deref().is_some_and(|eg| eg.eq_ignore_ascii_case(g)) {
                        command_help(&mut out, e, false);
                    }
                }
            }
        }
        out.push_str("\r\n");
        out.into_bytes()
    }

    /// `completionCallback`: every line Tab can turn `buf` into, in table order. After `help `,
    /// groups are offered too and the typed prefix (spaces included) is kept.
    pub fn completions(&self, buf: &[u8]) -> Vec<Vec<u8>> {
        let (start, groups_too) = if buf.len() >= 5 && buf[..5].eq_ignore_ascii_case(b"help ") {
            let mut s = 5;
            while s < buf.len() && buf[s].is_ascii_whitespace() {
                s += 1;
            }
            (s, true)
        } else {
            (0, false)
        };
        let typed = &buf[start..];
        self.entries
            .iter()
            .filter(|e| e.kind == Kind::Command || groups_too)
            .filter(|e| e.full.len() >= typed.len() && e.full.as_bytes()[..typed.len()].eq_ignore_ascii_case(typed))
            .map(|e| {
                let mut line = buf[..start].to_vec();
                line.extend_from_slice(e.full.as_bytes());
                line
            })
            .collect()
    }

    /// `hintsCallback`: the grey text after the cursor: the parameters of the longest command name
    /// the line starts with, less one word per argument already typed (up to the first optional
    /// `[`), with a leading space unless the line ends in one.
    pub fn hint(&self, buf: &[u8]) -> Option<String> {
        let argv = resp::split_args(buf)?;
        if argv.is_empty() {
            return None;
        }
        let mut best: Option<(&Entry, usize)> = None;
        for e in self.entries.iter().filter(|e| e.kind == Kind::Command) {
            let n = e.argv.len();
            if n <= argv.len()
                && e.argv.iter().zip(&argv).all(|(a, b)| a.as_bytes().eq_ignore_ascii_case(b))
                && n > best.map_or(0, |b| b.1)
            {
                best = Some((e, n));
            }
        }
        let (entry, matched) = best?;
        let mut hint = entry.params.as_str();
        let mut to_remove = argv.len() - matched;
        while to_remove > 0 && !hint.is_empty() {
            if hint.starts_with('[') {
                break;
            }
            if hint.starts_with(' ') {
                to_remove -= 1;
            }
            let mut chars = hint.chars();
            chars.next();
            hint = chars.as_str();
        }
        let ends_in_space = buf.last().is_some_and(|c| c.is_ascii_whitespace());
        Some(if ends_in_space { hint.to_string() } else { format!(" {hint}") })
    }
}

/// `cliInitCommandHelpEntry`: the command's row, then (recursively) one per subcommand.
fn add_command(entries: &mut Vec<Entry>, groups: &mut Vec<String>, cmd: &str, sub: Option<&str>, spec: &Reply) {
    let mut argv = vec![cmd.to_ascii_uppercase()];
    if let Some(s) = sub {
        // Subcommands are named "config|get" in COMMAND DOCS.
        let word = s.split_once('|').map_or(s, |(_, w)| w);
        argv.push(word.to_ascii_uppercase());
    }
    let mut entry = Entry {
        kind: Kind::Command,
        full: argv.join(" "),
        argv,
        params: String::new(),
        summary: None,
        since: None,
        group: None,
    };
    let mut subs: Vec<(String, &Reply)> = Vec::new();
    if let Some(fields) = pairs(spec) {
        for kv in fields.chunks(2) {
            let (Some(key), Some(val)) = (text(&kv[0]), kv.get(1)) else { continue };
            match key.as_str() {
                "summary" => entry.summary = text(val),
                "since" => entry.since = text(val),
                "group" => {
                    if let Some(g) = text(val) {
                        if !groups.contains(&g) {
                            groups.push(g.clone());
                        }
                        entry.group = Some(g);
                    }
                }
                "arguments" => {
                    if let Reply::Array(a) = val {
                        concat_arguments(&mut entry.params, a, " ");
                    }
                }
                "subcommands" => {
                    if let Some(s) = pairs(val) {
                        for skv in s.chunks(2) {
                            if let (Some(n), Some(v)) = (text(&skv[0]), skv.get(1)) {
                                subs.push((n, v));
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }
    entries.push(entry);
    for (n, v) in subs {
        add_command(entries, groups, cmd, Some(&n), v);
    }
}

/// `cliOutputCommandHelp`: name bold, parameters grey, then summary, since and (for `help <cmd>`)
/// group in yellow. A missing summary prints as glibc prints a NULL `%s`.
fn command_help(out: &mut String, e: &Entry, with_group: bool) {
    out.push_str(&format!("\r\n  \x1b[1m{}\x1b[0m \x1b[90m{}\x1b[0m\r\n", e.full, e.params));
    out.push_str(&format!("  \x1b[33msummary:\x1b[0m {}\r\n", e.summary.as_deref().unwrap_or("(null)")));
    if let Some(since) = &e.since {
        out.push_str(&format!("  \x1b[33msince:\x1b[0m {since}\r\n"));
    }
    if with_group {
        out.push_str(&format!("  \x1b[33mgroup:\x1b[0m {}\r\n", e.group.as_deref().unwrap_or("(null)")));
    }
}

/// `cliOutputGenericHelp`, for a bare `help`. The version is the one we are a drop-in for.
pub fn generic_help() -> String {
    "redis-cli 7.0.15\n\
     To get help about Redis commands type:\n      \
     \"help @<group>\" to get a list of commands in <group>\n      \
     \"help <command>\" for help on <command>\n      \
     \"help <tab>\" to get a list of possible help topics\n      \
     \"quit\" to exit\n\
     \n\
     To set redis-cli preferences:\n      \
     \":set hints\" enable online hints\n      \
     \":set nohints\" disable online hints\n\
     Set your preferences in ~/.redisclirc\n"
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Reply {
        Reply::Bulk(s.as_bytes().to_vec())
    }
    fn arg(fields: &[(&str, Reply)]) -> Reply {
        Reply::Array(fields.iter().flat_map(|(k, v)| [b(k), v.clone()]).collect())
    }
    fn flags(f: &[&str]) -> Reply {
        Reply::Array(f.iter().map(|s| Reply::Status(s.as_bytes().to_vec())).collect())
    }

    /// A small COMMAND DOCS in RESP2 shape: GET, SET (with a oneof and an optional token), CONFIG GET.
    fn docs() -> Reply {
        let get = arg(&[
            ("summary", b("Get the value of a key")),
            ("since", b("1.0.0")),
            ("group", b("string")),
            ("arguments", Reply::Array(vec![arg(&[("name", b("key")), ("type", b("key"))])])),
        ]);
        let set = arg(&[
            ("summary", b("Set the string value of a key")),
            ("since", b("1.0.0")),
            ("group", b("string")),
            (
                "arguments",
                Reply::Array(vec![
                    arg(&[("name", b("key")), ("type", b("key"))]),
                    arg(&[("name", b("value")), ("type", b("string"))]),
                    arg(&[
                        ("name", b("condition")),
                        ("type", b("oneof")),
                        ("flags", flags(&["optional"])),
                        (
                            "arguments",
                            Reply::Array(vec![
                                arg(&[("name", b("nx")), ("type", b("pure-token")), ("token", b("NX"))]),
                                arg(&[("name", b("xx")), ("type", b("pure-token")), ("token", b("XX"))]),
                            ]),
                        ),
                    ]),
                    arg(&[
                        ("name", b("get")),
                        ("type", b("pure-token")),
                        ("token", b("GET")),
                        ("flags", flags(&["optional"])),
                    ]),
                ]),
            ),
        ]);
        let config = arg(&[
            ("summary", b("A container for server configuration commands")),
            ("since", b("2.0.0")),
            ("group", b("server")),
            (
                "subcommands",
                Reply::Array(vec![
                    b("config|get"),
                    arg(&[
                        ("summary", b("Get the values of configuration parameters")),
                        ("since", b("2.0.0")),
                        ("group", b("server")),
                        (
                            "arguments",
                            Reply::Array(vec![arg(&[
                                ("name", b("parameter")),
                                ("type", b("string")),
                                ("flags", flags(&["multiple"])),
                            ])]),
                        ),
                    ]),
                ]),
            ),
        ]);
        Reply::Array(vec![b("set"), set, b("get"), get, b("config"), config])
    }

    #[test]
    fn table_sorted_with_groups_and_subcommands() {
        let t = HelpTable::from_command_docs(&docs());
        let names: Vec<&str> = t.entries.iter().map(|e| e.full.as_str()).collect();
        assert_eq!(names, ["@server", "@string", "CONFIG", "CONFIG GET", "GET", "SET"]);
        let set = &t.entries[5];
        assert_eq!(set.params, "key value [NX|XX] [GET]");
        assert_eq!(t.entries[3].params, "parameter [parameter ...]");
    }

    #[test]
    fn help_command_text() {
        let t = HelpTable::from_command_docs(&docs());
        let out = String::from_utf8(t.help_text(&[b"get".to_vec()])).unwrap_or_default();
        assert_eq!(
            out,
            "\r\n  \x1b[1mGET\x1b[0m \x1b[90mkey\x1b[0m\r\n  \x1b[33msummary:\x1b[0m Get the value of a key\r\n  \x1b[33msince:\x1b[0m 1.0.0\r\n  \x1b[33mgroup:\x1b[0m string\r\n\r\n"
        );
        // `help config` lists the container and its subcommands; `help config get` only the latter.
        let out = String::from_utf8(t.help_text(&[b"CONFIG".to_vec()])).unwrap_or_default();
        assert_eq!(out.matches("summary:").count(), 2);
        let out = String::from_utf8(t.help_text(&[b"config".to_vec(), b"get".to_vec()])).unwrap_or_default();
        assert_eq!(out.matches("summary:").count(), 1);
        assert_eq!(t.help_text(&[b"nosuch".to_vec()]), b"\r\n");
    }

    #[test]
    fn help_group_text_has_no_group_line() {
        let t = HelpTable::from_command_docs(&docs());
        let out = String::from_utf8(t.help_text(&[b"@STRING".to_vec()])).unwrap_or_default();
        assert!(out.starts_with("\r\n  \x1b[1mGET\x1b[0m \x1b[90mkey\x1b[0m\r\n"));
        assert!(out.contains("\x1b[1mSET\x1b[0m \x1b[90mkey value [NX|XX] [GET]\x1b[0m"));
        assert!(!out.contains("group:"));
    }

    #[test]
    fn generic_help_first_line() {
        let t = HelpTable::default();
        let out = String::from_utf8(t.help_text(&[])).unwrap_or_default();
        assert!(out.starts_with("redis-cli 7.0.15\nTo get help about Redis commands type:\n"));
        assert!(out.ends_with("Set your preferences in ~/.redisclirc\n"));
    }

    #[test]
    fn hints_drop_typed_words() {
        let t = HelpTable::from_command_docs(&docs());
        assert_eq!(t.hint(b"set").as_deref(), Some(" key value [NX|XX] [GET]"));
        assert_eq!(t.hint(b"set ").as_deref(), Some("key value [NX|XX] [GET]"));
        assert_eq!(t.hint(b"set k").as_deref(), Some(" value [NX|XX] [GET]"));
        assert_eq!(t.hint(b"set k v ").as_deref(), Some("[NX|XX] [GET]"));
        assert_eq!(t.hint(b"config get ").as_deref(), Some("parameter [parameter ...]"));
        assert_eq!(t.hint(b"nosuch"), None);
        assert_eq!(t.hint(b""), None);
        assert_eq!(t.hint(b"\"unbalanced"), None);
    }

    #[test]
    fn completions_commands_and_help_topics() {
        let t = HelpTable::from_command_docs(&docs());
        assert_eq!(t.completions(b"g"), vec![b"GET".to_vec()]);
        assert_eq!(t.completions(b"con"), vec![b"CONFIG".to_vec(), b"CONFIG GET".to_vec()]);
        assert_eq!(t.completions(b"help @s"), vec![b"help @server".to_vec(), b"help @string".to_vec()]);
        assert!(t.completions(b"@s").is_empty());
    }

    #[test]
    fn builtin_table_has_redis_7_docs() {
        let t = HelpTable::builtin();
        assert!(t.entries.len() > 300, "{} entries", t.entries.len());
        let out = String::from_utf8(t.help_text(&[b"set".to_vec()])).unwrap_or_default();
        assert!(out.contains("\x1b[90mkey value [NX|XX] [GET] [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|KEEPTTL]\x1b[0m"), "{out}");
        assert_eq!(t.hint(b"config get ").as_deref(), Some("parameter [parameter ...]"));
    }

    #[test]
    fn garbage_docs_never_panic() {
        for r in [
            Reply::Nil,
            Reply::Array(vec![b("x")]),
            Reply::Array(vec![Reply::Integer(1), Reply::Nil]),
            Reply::Error(b"ERR".to_vec()),
        ] {
            let t = HelpTable::from_command_docs(&r);
            let _ = t.help_text(&[b"x".to_vec()]);
            let _ = t.hint(b"x ");
        }
    }
}
