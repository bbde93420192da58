//! Command metadata: arity, flags, key specs, documentation, exactly as Redis 7.0.15 reports
//! them in COMMAND and COMMAND DOCS, loaded once from `data/commands.json`.
//!
//! Key positions are computed from the key specs (Redis's "key spec" algorithm), so COMMAND
//! GETKEYS, lock acquisition and cluster slot checks all derive from one description instead of
//! a hand-kept list per command.

use crate::tree::Tree;
use std::collections::HashMap;
use std::sync::OnceLock;

static COMMANDS_JSON: &str = include_str!("../data/commands.json");

/// Command flags we act on, as bits.
pub mod flag {
    pub const WRITE: u32 = 1 << 0;
    pub const READONLY: u32 = 1 << 1;
    pub const DENYOOM: u32 = 1 << 2;
    pub const ADMIN: u32 = 1 << 3;
    pub const PUBSUB: u32 = 1 << 4;
    pub const NOSCRIPT: u32 = 1 << 5;
    pub const BLOCKING: u32 = 1 << 6;
    pub const LOADING: u32 = 1 << 7;
    pub const STALE: u32 = 1 << 8;
    pub const SKIP_MONITOR: u32 = 1 << 9;
    pub const SKIP_SLOWLOG: u32 = 1 << 10;
    pub const ASKING: u32 = 1 << 11;
    pub const FAST: u32 = 1 << 12;
    pub const NO_AUTH: u32 = 1 << 13;
    pub const MAY_REPLICATE: u32 = 1 << 14;
    pub const NO_MULTI: u32 = 1 << 15;
    pub const MOVABLEKEYS: u32 = 1 << 16;
    pub const ALLOW_BUSY: u32 = 1 << 17;
    pub const NO_MANDATORY_KEYS: u32 = 1 << 18;
    pub const NO_ASYNC_LOADING: u32 = 1 << 19;

    pub fn from_name(name: &str) -> u32 {
        match name {
            "write" => WRITE,
            "readonly" => READONLY,
            "denyoom" => DENYOOM,
            "admin" => ADMIN,
            "pubsub" => PUBSUB,
            "noscript" => NOSCRIPT,
            "blocking" => BLOCKING,
            "loading" => LOADING,
            "stale" => STALE,
            "skip_monitor" => SKIP_MONITOR,
            "skip_slowlog" => SKIP_SLOWLOG,
            "asking" => ASKING,
            "fast" => FAST,
            "no_auth" => NO_AUTH,
            "may_replicate" => MAY_REPLICATE,
            "no_multi" => NO_MULTI,
            "movablekeys" => MOVABLEKEYS,
            "allow_busy" => ALLOW_BUSY,
            "no_mandatory_keys" => NO_MANDATORY_KEYS,
            "no_async_loading" => NO_ASYNC_LOADING,
            _ => 0,
        }
    }
}

/// Where a key spec's keys start.
#[derive(Clone, Debug, PartialEq)]
pub enum BeginSearch {
    Index(i64),
    Keyword { keyword: String, start_from: i64 },
    Unknown,
}

/// How a key spec's keys continue from the start.
#[derive(Clone, Debug, PartialEq)]
pub enum FindKeys {
    Range { last_key: i64, key_step: i64, limit: i64 },
    KeyNum { key_num_idx: i64, first_key: i64, key_step: i64 },
    Unknown,
}

#[derive(Clone, Debug, PartialEq)]
pub struct KeySpec {
    pub begin: BeginSearch,
    pub find: FindKeys,
    /// The spec may not find every key (e.g. SORT's BY/GET patterns); out-of-range positions
    /// end the search instead of making the arguments invalid.
    pub incomplete: bool,
    /// The spec's key flags as COMMAND reports them (`RW`, `access`, ...), for COMMAND
    /// GETKEYSANDFLAGS.
    pub flags: Vec<String>,
}

/// One command or subcommand as COMMAND describes it.
#[derive(Debug)]
pub struct CommandMeta {
    /// Full name, lowercase: `get`, `config|get`.
    pub name: String,
    pub arity: i32,
    pub flags: u32,
    pub first_key: i32,
    pub last_key: i32,
    pub step: i32,
    pub key_specs: Vec<KeySpec>,
    /// The COMMAND INFO entry as Redis replies it.
    pub info: Tree,
    pub subcommands: Vec<CommandMeta>,
}

impl CommandMeta {
    pub fn has(&self, f: u32) -> bool {
        self.flags & f != 0
    }

    /// The COMMAND DOCS entry, or `None` where Redis has no docs for the command.
    pub fn docs(&self) -> Option<&'static Tree> {
        all_docs().get(self.name.as_str())
    }

    fn from_info(info: &Tree) -> Option<CommandMeta> {
        let items = info.items();
        if items.len() < 10 {
            return None;
        }
        let mut flags = items[2].items().iter().filter_map(|t| t.as_str()).map(flag::from_name).fold(0, |a, b| a | b);
        // COMMAND never shows may_replicate (Redis leaves it out of the reply), yet it decides
        // what CLIENT PAUSE WRITE and a failover's pause hold: these six have it in 7.0.15's
        // command table.
        if matches!(items[0].as_str(), Some("eval" | "evalsha" | "fcall" | "pfcount" | "publish" | "spublish")) {
            flags |= flag::MAY_REPLICATE;
        }
        let key_specs = items[8].items().iter().map(parse_key_spec).collect();
        let subcommands = items[9].items().iter().filter_map(CommandMeta::from_info).collect();
        Some(CommandMeta {
            name: items[0].as_str()?.to_string(),
            arity: items[1].as_int()? as i32,
            flags,
            first_key: items[3].as_int()? as i32,
            last_key: items[4].as_int()? as i32,
            step: items[5].as_int()? as i32,
            key_specs,
            info: info.clone(),
            subcommands,
        })
    }

    /// The subcommand named by `name` (case-insensitive), for container commands.
    pub fn subcommand(&self, name: &[u8]) -> Option<&CommandMeta> {
        self.subcommands.iter().find(|s| {
            let short = s.name.rsplit('|').next().unwrap_or(&s.name);
            short.as_bytes().eq_ignore_ascii_case(name)
        })
    }
}

fn parse_key_spec(t: &Tree) -> KeySpec {
    let flags: Vec<String> = t
        .get("flags")
        .map(|f| f.items().iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    let incomplete = flags.iter().any(|f| f == "incomplete");
    let begin = match t.get("begin_search") {
        Some(b) => {
            let spec = b.get("spec");
            match b.get("type").and_then(|x| x.as_str()) {
                Some("index") => {
                    BeginSearch::Index(spec.and_then(|s| s.get("index")).and_then(|x| x.as_int()).unwrap_or(0))
                }
                Some("keyword") => BeginSearch::Keyword {
                    keyword: spec.and_then(|s| s.get("keyword")).and_then(|x| x.as_str()).unwrap_or("").to_string(),
                    start_from: spec.and_then(|s| s.get("startfrom")).and_then(|x| x.as_int()).unwrap_or(0),
                },
                _ => BeginSearch::Unknown,
            }
        }
        None => BeginSearch::Unknown,
    };
    let find = match t.get("find_keys") {
        Some(f) => {
            let spec = f.get("spec");
            let int = |k: &str| spec.and_then(|s| s.get(k)).and_then(|x| x.as_int()).unwrap_or(0);
            match f.get("type").and_then(|x| x.as_str()) {
                Some("range") => {
                    FindKeys::Range { last_key: int("lastkey"), key_step: int("keystep"), limit: int("limit") }
                }
                Some("keynum") => FindKeys::KeyNum {
                    key_num_idx: int("keynumidx"),
                    first_key: int("firstkey"),
                    key_step: int("keystep"),
                },
                _ => FindKeys::Unknown,
            }
        }
        None => FindKeys::Unknown,
    };
    KeySpec { begin, find, incomplete, flags }
}

/// Why key positions could not be computed.
#[derive(Debug, PartialEq, Eq)]
pub enum KeysError {
    /// The arguments contradict the key specs (e.g. a numkeys larger than the argument count).
    InvalidArguments,
}

/// Pushes the positions of `args` that are keys, per Redis's key-spec search
/// (`getKeysUsingKeySpecs`). `args[0]` is the command name.
pub fn key_positions(meta: &CommandMeta, args: &[&[u8]], out: &mut Vec<usize>) -> Result<(), KeysError> {
    out.clear();
    let argc = args.len() as i64;
    // Fast path for the common fixed-position commands (GET, SET, MGET, ...).
    if meta.flags & flag::MOVABLEKEYS == 0 && meta.first_key > 0 {
        let first = meta.first_key as i64;
        let last = if meta.last_key < 0 { argc + meta.last_key as i64 } else { meta.last_key as i64 };
        let step = meta.step.max(1) as i64;
        let mut i = first;
        while i <= last && i < argc {
            out.push(i as usize);
            i += step;
        }
        return Ok(());
    }
    if has_unreliable_spec(meta) {
        if let Some(custom) = custom_getkeys(&meta.name) {
            return custom(args, out);
        }
    }
    walk_key_specs(meta, args, &mut |pos, _| out.push(pos))
}

/// True if some key spec cannot find its keys alone, so a dedicated search must (Redis's
/// `getkeys_proc` fallback).
fn has_unreliable_spec(meta: &CommandMeta) -> bool {
    meta.key_specs.iter().any(|s| s.incomplete || s.begin == BeginSearch::Unknown || s.find == FindKeys::Unknown)
}

/// Redis's `getKeysUsingKeySpecs`: calls `push(position, spec index)` for each key the specs
/// find, spec by spec.
fn walk_key_specs(meta: &CommandMeta, args: &[&[u8]], push: &mut dyn FnMut(usize, usize)) -> Result<(), KeysError> {
    let argc = args.len() as i64;
    for (spec_index, spec) in meta.key_specs.iter().enumerate() {
        let first = match &spec.begin {
            BeginSearch::Index(i) => *i,
            BeginSearch::Keyword { keyword, start_from } => {
                let found = if *start_from >= 0 {
                    (*start_from..argc).find(|&i| args[i as usize].eq_ignore_ascii_case(keyword.as_bytes()))
                } else {
                    let start = argc + start_from;
                    (1..=start.max(0))
                        .rev()
                        .find(|&i| i < argc && args[i as usize].eq_ignore_ascii_case(keyword.as_bytes()))
                };
                match found {
                    Some(i) => i + 1,
                    None => continue,
                }
            }
            BeginSearch::Unknown => continue,
        };
        let (first, last, step) = match &spec.find {
            FindKeys::Range { last_key, key_step, limit } => {
                let last = if *last_key >= 0 {
                    first + last_key
                } else if *limit <= 1 {
                    argc + last_key
                } else {
                    first + ((argc - first) / limit + last_key)
                };
                (first, last, *key_step)
            }
            FindKeys::KeyNum { key_num_idx, first_key, key_step } => {
                let idx = first + key_num_idx;
                if idx >= argc {
                    if spec.incomplete {
                        continue;
                    }
                    return Err(KeysError::InvalidArguments);
                }
                let numkeys = match resp::string2ll(args[idx as usize]) {
                    Some(n) if n >= 0 => n,
                    _ => {
                        if spec.incomplete {
                            continue;
                        }
                        return Err(KeysError::InvalidArguments);
                    }
                };
                let start = first + first_key;
                (start, start + (numkeys - 1) * key_step, *key_step)
            }
            FindKeys::Unknown => continue,
        };
        let step = step.max(1);
        let mut i = first;
        while i <= last {
            if i >= argc || i < 1 {
                if spec.incomplete {
                    break;
                }
                return Err(KeysError::InvalidArguments);
            }
            push(i as usize, spec_index);
            i += step;
        }
    }
    Ok(())
}

/// The keys of a command with the flags of each, as COMMAND GETKEYSANDFLAGS reports them.
/// Most keys take the flags of the key spec that found them; commands whose flags depend on
/// their arguments (`variable_flags`: SET, BITFIELD) or whose specs are incomplete (SORT,
/// MIGRATE) compute them as Redis's `getkeys_proc` does.
pub fn keys_and_flags<'m>(meta: &'m CommandMeta, args: &[&[u8]]) -> Result<Vec<(usize, Vec<&'m str>)>, KeysError> {
    const RO_ACCESS: &[&str] = &["RO", "access"];
    const RW_ACCESS_UPDATE: &[&str] = &["RW", "access", "update"];
    const OW_UPDATE: &[&str] = &["OW", "update"];
    let fixed = |pos: usize, flags: &[&'static str]| vec![(pos, flags.to_vec())];
    match meta.name.as_str() {
        "set" if args.len() >= 3 => {
            let get = args[3..].iter().any(|a| a.eq_ignore_ascii_case(b"get"));
            return Ok(fixed(1, if get { RW_ACCESS_UPDATE } else { OW_UPDATE }));
        }
        "bitfield" if args.len() >= 2 => {
            return Ok(fixed(1, if bitfield_is_read_only(args) { RO_ACCESS } else { RW_ACCESS_UPDATE }));
        }
        _ => {}
    }
    let mut out = Vec::new();
    if has_unreliable_spec(meta) {
        if let Some(custom) = custom_getkeys(&meta.name) {
            let mut positions = Vec::new();
            custom(args, &mut positions)?;
            let flags_of = |i: usize| -> &'static [&'static str] {
                match meta.name.as_str() {
                    "sort" if i > 0 => OW_UPDATE,
                    "migrate" => &["RW", "access", "delete"],
                    _ => RO_ACCESS,
                }
            };
            return Ok(positions.into_iter().enumerate().map(|(i, p)| (p, flags_of(i).to_vec())).collect());
        }
    }
    // Specs flagged `not_key` (SPUBLISH's channel) name arguments that only hash like keys.
    walk_key_specs(meta, args, &mut |pos, spec| {
        let flags = &meta.key_specs[spec].flags;
        if !flags.iter().any(|f| f == "not_key") {
            out.push((pos, flags.iter().map(String::as_str).collect()));
        }
    })?;
    Ok(out)
}

/// BITFIELD only reads when every operation is a complete GET (or OVERFLOW); anything else,
/// a syntax error included, counts as a write, as in Redis.
fn bitfield_is_read_only(args: &[&[u8]]) -> bool {
    let mut i = 2;
    while i < args.len() {
        let remaining = args.len() - i - 1;
        let a = args[i];
        if a.eq_ignore_ascii_case(b"get") && remaining >= 2 {
            i += 3;
        } else if a.eq_ignore_ascii_case(b"overflow") && remaining >= 1 {
            i += 2;
        } else {
            return false;
        }
    }
    true
}

type GetKeysFn = fn(&[&[u8]], &mut Vec<usize>) -> Result<(), KeysError>;

/// Commands whose key specs cannot describe all their keys get a dedicated search, as Redis
/// gives them a `getkeys_proc`.
fn custom_getkeys(name: &str) -> Option<GetKeysFn> {
    match name {
        "sort" => Some(sort_get_keys),
        "migrate" => Some(migrate_get_keys),
        _ => None,
    }
}

/// SORT key [BY p] [LIMIT o c] [GET p ...] [ASC|DESC] [ALPHA] [STORE dst]: the sorted key and,
/// if present, the last STORE destination.
fn sort_get_keys(args: &[&[u8]], out: &mut Vec<usize>) -> Result<(), KeysError> {
    if args.len() < 2 {
        return Err(KeysError::InvalidArguments);
    }
    out.push(1);
    let mut store = None;
    let mut i = 2;
    while i < args.len() {
        let a = args[i];
        let skip = if a.eq_ignore_ascii_case(b"limit") {
            2
        } else if a.eq_ignore_ascii_case(b"get") || a.eq_ignore_ascii_case(b"by") {
            1
        } else if a.eq_ignore_ascii_case(b"store") {
            if i + 1 < args.len() {
                store = Some(i + 1);
            }
            1
        } else {
            0
        };
        i += 1 + skip;
    }
    out.extend(store);
    Ok(())
}

/// MIGRATE host port key|"" db timeout [COPY] [REPLACE] [AUTH pw] [AUTH2 user pw] [KEYS k...].
fn migrate_get_keys(args: &[&[u8]], out: &mut Vec<usize>) -> Result<(), KeysError> {
    if args.len() < 6 {
        return Err(KeysError::InvalidArguments);
    }
    if args[3].is_empty() {
        let mut i = 6;
        while i < args.len() {
            let a = args[i];
            if a.eq_ignore_ascii_case(b"auth") {
                i += 2;
            } else if a.eq_ignore_ascii_case(b"auth2") {
                i += 3;
            } else if a.eq_ignore_ascii_case(b"keys") {
                out.extend(i + 1..args.len());
                return Ok(());
            } else {
                i += 1;
            }
        }
        Ok(())
    } else {
        out.push(3);
        Ok(())
    }
}

/// Every command Redis 7.0.15 has, indexed by name.
pub fn all() -> &'static [CommandMeta] {
    static TABLE: OnceLock<Vec<CommandMeta>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let parsed: serde_json::Value = match serde_json::from_str(COMMANDS_JSON) {
            Ok(v) => v,
            Err(_) => return Vec::new(),
        };
        let Some(list) = parsed.get("commands").and_then(|c| c.as_array()) else {
            return Vec::new();
        };
        list.iter()
            .filter_map(|c| {
                let info = Tree::from_json(c.get("info")?);
                CommandMeta::from_info(&info)
            })
            .collect()
    })
}

/// Every COMMAND DOCS entry by full name (`get`, `config|get`), built on the first COMMAND
/// DOCS. Kept apart from [`all`] because the docs are two thirds of the table (640 KB of
/// `used_memory`) and only COMMAND DOCS reads them: a server nobody asks for docs starts with
/// a baseline near Redis's, which the maxmemory budgets of Redis's own tests assume. Rejected:
/// parsing the JSON on every COMMAND DOCS (redis-cli sends it on each interactive start).
fn all_docs() -> &'static HashMap<String, Tree> {
    static DOCS: OnceLock<HashMap<String, Tree>> = OnceLock::new();
    DOCS.get_or_init(|| {
        let mut docs = HashMap::new();
        let Ok(parsed) = serde_json::from_str::<serde_json::Value>(COMMANDS_JSON) else {
            return docs;
        };
        let list = parsed.get("commands").and_then(|c| c.as_array()).map(Vec::as_slice).unwrap_or_default();
        for c in list {
            let Some(name) = c.get("info").and_then(|i| i.get(0)).and_then(|n| n.as_str()) else {
                continue;
            };
            let Some(doc) = c.get("docs").map(Tree::from_json).filter(|d| *d != Tree::Null) else {
                continue;
            };
            if let Some(Tree::Map(subs)) = doc.get("subcommands") {
                for (sub_name, sub_doc) in subs {
                    if let Some(sub_name) = sub_name.as_str() {
                        docs.insert(sub_name.to_string(), sub_doc.clone());
                    }
                }
            }
            docs.insert(name.to_string(), doc);
        }
        docs
    })
}

/// Looks a top-level command up by name.
pub fn find(name: &str) -> Option<&'static CommandMeta> {
    all().iter().find(|m| m.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(cmd: &[&str]) -> Result<Vec<usize>, KeysError> {
        let args: Vec<&[u8]> = cmd.iter().map(|s| s.as_bytes()).collect();
        let meta = find(&cmd[0].to_lowercase()).expect("command");
        let mut out = Vec::new();
        key_positions(meta, &args, &mut out).map(|_| out)
    }

    #[test]
    fn table_loads_every_redis_command() {
        assert!(all().len() >= 240);
        let get = find("get").unwrap();
        assert_eq!((get.arity, get.first_key, get.last_key, get.step), (2, 1, 1, 1));
        assert!(get.has(flag::READONLY) && get.has(flag::FAST));
        assert!(find("config").unwrap().subcommand(b"GET").is_some());
    }

    #[test]
    fn key_positions_follow_key_specs() {
        assert_eq!(keys(&["mset", "a", "1", "b", "2"]), Ok(vec![1, 3]));
        assert_eq!(keys(&["zunionstore", "d", "2", "a", "b", "WEIGHTS", "1", "2"]), Ok(vec![1, 3, 4]));
        assert_eq!(keys(&["zunionstore", "d", "5", "a"]), Err(KeysError::InvalidArguments));
        assert_eq!(keys(&["blpop", "a", "b", "0"]), Ok(vec![1, 2]));
        assert_eq!(keys(&["lmpop", "2", "a", "b", "LEFT"]), Ok(vec![2, 3]));
        assert_eq!(keys(&["eval", "s", "1", "k", "a"]), Ok(vec![3]));
        assert_eq!(keys(&["sort", "k", "BY", "x", "STORE", "d"]), Ok(vec![1, 5]));
    }

    fn keys_flags(cmd: &[&str]) -> Vec<(usize, Vec<&'static str>)> {
        let args: Vec<&[u8]> = cmd.iter().map(|s| s.as_bytes()).collect();
        let meta = find(&cmd[0].to_lowercase()).expect("command");
        keys_and_flags(meta, &args).expect("keys")
    }

    #[test]
    fn key_flags_come_from_the_spec_that_found_the_key() {
        assert_eq!(
            keys_flags(&["rename", "a", "b"]),
            vec![(1, vec!["RW", "access", "delete"]), (2, vec!["OW", "update"])]
        );
        assert_eq!(keys_flags(&["set", "k", "v"]), vec![(1, vec!["OW", "update"])]);
        assert_eq!(keys_flags(&["set", "k", "v", "GET"]), vec![(1, vec!["RW", "access", "update"])]);
        assert_eq!(keys_flags(&["bitfield", "k", "GET", "u8", "0"]), vec![(1, vec!["RO", "access"])]);
        assert_eq!(keys_flags(&["bitfield", "k", "INCRBY", "u8", "0", "1"]), vec![(1, vec!["RW", "access", "update"])]);
        assert_eq!(
            keys_flags(&["sort", "k", "STORE", "d"]),
            vec![(1, vec!["RO", "access"]), (3, vec!["OW", "update"])]
        );
    }
}
