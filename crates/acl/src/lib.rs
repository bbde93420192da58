//! Redis 7.0.15's ACL model: users, selectors, rule parsing (`ACL SETUSER`'s modifiers),
//! permission checks, the describing of a user back into rules (`ACL LIST`, the aclfile), the
//! ACL LOG, and password hashing (SHA-256). After Redis's `acl.c`, read as a specification.
//!
//! This module owns the data and the rules only. It must never do I/O, take a lock, look at a
//! clock (callers pass `now_ms`) or know about connections: the command glue (`acl_cmds.rs`)
//! and the worker do that, and decide which clients to disconnect from what this returns.
//!
//! Cost model: a user whose root selector allows every command, key and channel (the default
//! user as shipped) is `unrestricted`; the worker tests that one flag and nothing else runs.

use commands::{CommandMeta, Tree};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, OnceLock};

/// The categories in Redis's order (`ACLCommandCategories`): the order of ACL CAT, of the
/// best-fit search when describing a user, and of COMMAND's category lists.
pub const CATEGORIES: [&str; 21] = [
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

/// The bit of a category name (case-insensitive, as `strcasecmp`), 0 for an unknown one.
pub fn category_flag(name: &[u8]) -> u32 {
    CATEGORIES.iter().position(|c| c.as_bytes().eq_ignore_ascii_case(name)).map_or(0, |i| 1 << i)
}

/// One command or subcommand as the ACL code numbers it.
pub struct AclCmd {
    /// Full lowercase name (`get`, `config|get`).
    pub name: &'static str,
    pub cats: u32,
    pub parent: Option<u16>,
    pub subs: Vec<u16>,
    pub no_auth: bool,
}

/// Every command of Redis 7.0.15 (commands.json, implemented or not, as Redis's ACLs know all
/// of its own), numbered for the permission bitmaps. Top-level commands in table order, each
/// followed by its subcommands: the order in which categories are applied and rules emitted.
pub struct Table {
    pub cmds: Vec<AclCmd>,
    by_name: HashMap<&'static str, u16>,
    /// Keyed by the address of the command's `CommandMeta`, which is what a registry entry
    /// holds: the worker finds a command's number without hashing its name.
    by_meta: HashMap<usize, u16>,
    /// Words of a bitmap: one bit per command plus the "future commands" bit (`+@all`).
    words: usize,
}

fn categories_of(info: &Tree) -> u32 {
    let items = info.items();
    let Some(cats) = items.get(6) else { return 0 };
    cats.items()
        .iter()
        .filter_map(|t| t.as_str())
        .map(|s| category_flag(s.trim_start_matches('@').as_bytes()))
        .fold(0, |a, b| a | b)
}

pub fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut cmds = Vec::new();
        let mut by_meta = HashMap::new();
        let mut push = |m: &'static CommandMeta, parent: Option<u16>, cmds: &mut Vec<AclCmd>| -> u16 {
            let id = cmds.len() as u16;
            cmds.push(AclCmd {
                name: m.name.as_str(),
                cats: categories_of(&m.info),
                parent,
                subs: Vec::new(),
                no_auth: m.has(commands::flag::NO_AUTH),
            });
            by_meta.insert(m as *const CommandMeta as usize, id);
            id
        };
        for m in commands::meta::all() {
            let id = push(m, None, &mut cmds);
            for s in &m.subcommands {
                let sid = push(s, Some(id), &mut cmds);
                cmds[id as usize].subs.push(sid);
            }
        }
        let by_name = cmds.iter().enumerate().map(|(i, c)| (c.name, i as u16)).collect();
        let words = (cmds.len() + 1).div_ceil(64);
        Table { cmds, by_name, by_meta, words }
    })
}

impl Table {
    fn future_bit(&self) -> usize {
        self.cmds.len()
    }

    /// A command by name (`get`, `CONFIG|GET`), as `lookupCommandBySdsLogic`: a `|` name must
    /// be a container's subcommand.
    pub fn lookup(&self, name: &[u8]) -> Option<u16> {
        let lower = String::from_utf8_lossy(name).to_ascii_lowercase();
        if lower.split('|').count() > 2 {
            return None;
        }
        self.by_name.get(lower.as_str()).copied()
    }

    pub fn id_of(&self, meta: &CommandMeta) -> Option<u16> {
        self.by_meta.get(&(meta as *const CommandMeta as usize)).copied()
    }

    /// Commands in `flag`'s category, in table order (ACL CAT <category>).
    pub fn in_category(&self, flag: u32) -> impl Iterator<Item = &'static str> + '_ {
        self.cmds.iter().filter(move |c| c.cats & flag != 0).map(|c| c.name)
    }
}

/// Why a rule was refused; the texts are `ACLSetUserStringError`'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("Unknown command or category name in ACL")]
    Unknown,
    #[error("Syntax error")]
    Syntax,
    #[error("Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns")]
    KeysAfterAll,
    #[error("Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels")]
    ChannelsAfterAll,
    #[error("The password you are trying to remove from the user does not exist")]
    NoSuchPassword,
    #[error("The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters")]
    BadHash,
    #[error("Duplicate user found. A user can only be defined once in config files")]
    Duplicate,
    #[error("Allowing first-arg of a subcommand is not supported")]
    FirstArgOfSubcommand,
}

pub const PERM_READ: u8 = 1;
pub const PERM_WRITE: u8 = 2;
pub const PERM_ALL: u8 = 3;

/// A set of permissions: commands, keys, channels (`aclSelector`).
#[derive(Clone, Debug, PartialEq)]
pub struct Selector {
    pub allkeys: bool,
    pub allchannels: bool,
    pub allcommands: bool,
    bits: Vec<u64>,
    /// Allowed first arguments of otherwise denied commands (`+select|0`), per command.
    firstargs: Vec<(u16, Vec<Vec<u8>>)>,
    /// Key patterns with their `PERM_*` bits, in the order given.
    pub patterns: Vec<(u8, Vec<u8>)>,
    pub channels: Vec<Vec<u8>>,
}

/// `ACLStringHasSpaces`: spaces or NUL bytes.
fn has_spaces(s: &[u8]) -> bool {
    s.iter().any(|&b| b == 0 || b.is_ascii_whitespace())
}

impl Selector {
    /// An empty selector; `acl-pubsub-default allchannels` starts it with every channel.
    pub fn new(allchannels: bool) -> Selector {
        Selector {
            allkeys: false,
            allchannels,
            allcommands: false,
            bits: vec![0; table().words],
            firstargs: Vec::new(),
            patterns: Vec::new(),
            channels: Vec::new(),
        }
    }

    fn bit(&self, id: usize) -> bool {
        self.bits.get(id / 64).is_some_and(|w| w & (1 << (id % 64)) != 0)
    }

    fn set_bit(&mut self, id: usize, on: bool) {
        if let Some(w) = self.bits.get_mut(id / 64) {
            if on {
                *w |= 1 << (id % 64);
            } else {
                *w &= !(1 << (id % 64));
                self.allcommands = false;
            }
        }
    }

    /// `ACLChangeSelectorPerm`: a container's subcommands follow it.
    fn change_perm(&mut self, id: u16, allow: bool) {
        let t = table();
        self.set_bit(id as usize, allow);
        self.firstargs.retain(|(c, _)| *c != id);
        for &s in &t.cmds[id as usize].subs {
            self.set_bit(s as usize, allow);
        }
    }

    fn set_category(&mut self, flag: u32, allow: bool) {
        let t = table();
        for id in 0..t.cmds.len() {
            if t.cmds[id].cats & flag != 0 {
                self.change_perm(id as u16, allow);
            }
        }
    }

    fn count_category(&self, flag: u32) -> (usize, usize) {
        let t = table();
        let (mut on, mut off) = (0, 0);
        for (id, c) in t.cmds.iter().enumerate() {
            if c.cats & flag != 0 {
                if self.bit(id) {
                    on += 1
                } else {
                    off += 1
                }
            }
        }
        (on, off)
    }

    fn set_all_commands(&mut self, on: bool) {
        self.bits.iter_mut().for_each(|w| *w = if on { u64::MAX } else { 0 });
        self.allcommands = on;
        self.firstargs.clear();
    }

    /// Applies one selector rule (`ACLSetSelector`).
    pub fn apply(&mut self, op: &[u8]) -> Result<(), RuleError> {
        let is = |s: &str| op.eq_ignore_ascii_case(s.as_bytes());
        let t = table();
        if is("allkeys") || is("~*") {
            self.allkeys = true;
            self.patterns.clear();
        } else if is("resetkeys") {
            self.allkeys = false;
            self.patterns.clear();
        } else if is("allchannels") || is("&*") {
            self.allchannels = true;
            self.channels.clear();
        } else if is("resetchannels") {
            self.allchannels = false;
            self.channels.clear();
        } else if is("allcommands") || is("+@all") {
            self.set_all_commands(true);
        } else if is("nocommands") || is("-@all") {
            self.set_all_commands(false);
        } else if op.first() == Some(&b'~') || op.first() == Some(&b'%') {
            if self.allkeys {
                return Err(RuleError::KeysAfterAll);
            }
            let mut flags = 0u8;
            let mut offset = 1;
            if op[0] == b'%' {
                while offset < op.len() {
                    let ch = op[offset].to_ascii_uppercase();
                    if ch == b'R' && flags & PERM_READ == 0 {
                        flags |= PERM_READ;
                    } else if ch == b'W' && flags & PERM_WRITE == 0 {
                        flags |= PERM_WRITE;
                    } else if op[offset] == b'~' {
                        offset += 1;
                        break;
                    } else {
                        return Err(RuleError::Syntax);
                    }
                    offset += 1;
                }
                // Redis accepts `%~pat` with no permission and then cannot describe it; a
                // pattern that grants nothing is refused here instead.
                if flags == 0 {
                    return Err(RuleError::Syntax);
                }
            } else {
                flags = PERM_ALL;
            }
            let pat = &op[offset.min(op.len())..];
            if has_spaces(pat) {
                return Err(RuleError::Syntax);
            }
            match self.patterns.iter_mut().find(|(_, p)| p.as_slice() == pat) {
                Some((f, _)) => *f |= flags,
                None => self.patterns.push((flags, pat.to_vec())),
            }
            self.allkeys = false;
        } else if op.first() == Some(&b'&') {
            if self.allchannels {
                return Err(RuleError::ChannelsAfterAll);
            }
            let pat = &op[1..];
            if has_spaces(pat) {
                return Err(RuleError::Syntax);
            }
            if !self.channels.iter().any(|c| c.as_slice() == pat) {
                self.channels.push(pat.to_vec());
            }
            self.allchannels = false;
        } else if op.first() == Some(&b'+') && op.get(1) != Some(&b'@') {
            let name = &op[1..];
            match name.iter().rposition(|&b| b == b'|') {
                None => {
                    let id = t.lookup(name).ok_or(RuleError::Unknown)?;
                    self.change_perm(id, true);
                }
                Some(bar) => {
                    let (parent, sub) = (&name[..bar], &name[bar + 1..]);
                    let id = t.lookup(parent).ok_or(RuleError::Unknown)?;
                    if t.cmds[id as usize].parent.is_some() {
                        return Err(RuleError::FirstArgOfSubcommand);
                    }
                    if sub.is_empty() {
                        return Err(RuleError::Syntax);
                    }
                    if !t.cmds[id as usize].subs.is_empty() {
                        let sid = t.lookup(name).ok_or(RuleError::Unknown)?;
                        self.change_perm(sid, true);
                    } else {
                        self.add_firstarg(id, sub);
                    }
                }
            }
        } else if op.first() == Some(&b'-') && op.get(1) != Some(&b'@') {
            let id = t.lookup(&op[1..]).ok_or(RuleError::Unknown)?;
            self.change_perm(id, false);
        } else if (op.first() == Some(&b'+') || op.first() == Some(&b'-')) && op.get(1) == Some(&b'@') {
            let flag = category_flag(&op[2..]);
            if flag == 0 {
                return Err(RuleError::Unknown);
            }
            self.set_category(flag, op[0] == b'+');
        } else {
            return Err(RuleError::Syntax);
        }
        Ok(())
    }

    fn add_firstarg(&mut self, id: u16, sub: &[u8]) {
        let list = match self.firstargs.iter_mut().position(|(c, _)| *c == id) {
            Some(i) => &mut self.firstargs[i].1,
            None => {
                self.firstargs.push((id, Vec::new()));
                let last = self.firstargs.len() - 1;
                &mut self.firstargs[last].1
            }
        };
        if !list.iter().any(|s| s.eq_ignore_ascii_case(sub)) {
            list.push(sub.to_vec());
        }
    }

    fn firstargs_of(&self, id: u16) -> Option<&[Vec<u8>]> {
        self.firstargs.iter().find(|(c, _)| *c == id).map(|(_, l)| l.as_slice())
    }

    /// `ACLDescribeSelectorCommandRules`: `+@all`/`-@all`, then the categories that fit best,
    /// then single commands, until rules applied to an empty selector give these bits.
    pub fn describe_commands(&self) -> Vec<u8> {
        let t = table();
        let additive = !self.bit(t.future_bit());
        let mut rules = if additive { b"-@all ".to_vec() } else { b"+@all ".to_vec() };
        let mut fake = Selector::new(false);
        fake.set_all_commands(!additive);
        let mut temp = self.clone();
        temp.firstargs.clear();
        let mut applied = [false; CATEGORIES.len()];
        loop {
            let mut best = None;
            let (mut mindiff, mut maxsame) = (usize::MAX, 0);
            for (j, done) in applied.iter().enumerate() {
                if *done {
                    continue;
                }
                let (on, off) = temp.count_category(1 << j);
                let (diff, same) = if additive { (off, on) } else { (on, off) };
                if same > diff && (diff < mindiff || (diff == mindiff && same > maxsame)) {
                    best = Some(j);
                    mindiff = diff;
                    maxsame = same;
                }
            }
            let Some(j) = best else { break };
            fake.set_category(1 << j, additive);
            temp.set_category(1 << j, !additive);
            rules.extend_from_slice(if additive { b"+@" } else { b"-@" });
            rules.extend_from_slice(CATEGORIES[j].as_bytes());
            rules.push(b' ');
            applied[j] = true;
        }
        for top in (0..t.cmds.len()).filter(|&i| t.cmds[i].parent.is_none()) {
            let group = std::iter::once(top as u16).chain(t.cmds[top].subs.iter().copied());
            for id in group {
                let user = self.bit(id as usize);
                if user != fake.bit(id as usize) {
                    rules.push(if user { b'+' } else { b'-' });
                    rules.extend_from_slice(t.cmds[id as usize].name.as_bytes());
                    rules.push(b' ');
                    fake.change_perm(id, user);
                }
            }
            // First-args come after the command and its subcommands, as Redis emits them.
            if !self.bit(top) {
                for arg in self.firstargs_of(top as u16).unwrap_or(&[]) {
                    rules.push(b'+');
                    rules.extend_from_slice(t.cmds[top].name.as_bytes());
                    rules.push(b'|');
                    rules.extend_from_slice(arg);
                    rules.push(b' ');
                }
            }
        }
        rules.pop();
        rules
    }

    /// Key patterns as GETUSER's `keys` field (space separated, no trailing space).
    pub fn describe_keys(&self) -> Vec<u8> {
        if self.allkeys {
            return b"~*".to_vec();
        }
        let mut res = Vec::new();
        for (f, p) in &self.patterns {
            push_pattern(&mut res, *f, p);
            res.push(b' ');
        }
        res.pop();
        res
    }

    pub fn describe_channels(&self) -> Vec<u8> {
        if self.allchannels {
            return b"&*".to_vec();
        }
        let mut res = Vec::new();
        for c in &self.channels {
            res.push(b'&');
            res.extend_from_slice(c);
            res.push(b' ');
        }
        res.pop();
        res
    }

    /// `ACLDescribeSelector`: keys, channels, commands, as bytes (patterns and first-args are
    /// whatever bytes the rules gave, as in Redis's sds descriptions).
    pub fn describe(&self) -> Vec<u8> {
        let mut res = self.describe_keys();
        if !res.is_empty() {
            res.push(b' ');
        }
        if !self.allchannels {
            res.extend_from_slice(b"resetchannels ");
        }
        let channels = self.describe_channels();
        if !channels.is_empty() {
            res.extend_from_slice(&channels);
            res.push(b' ');
        }
        res.extend_from_slice(&self.describe_commands());
        res
    }

    /// `ACLSelectorCheckKey`.
    fn key_allowed(&self, key: &[u8], need: u8) -> bool {
        self.allkeys || self.patterns.iter().any(|(f, p)| f & need == need && commands::string_match(p, key, false))
    }

    fn check_cmd(&self, id: u16, args: &[&[u8]], keys: &mut KeyCache) -> Result<(), Denied> {
        let t = table();
        let cmd = &t.cmds[id as usize];
        if !self.allcommands && !cmd.no_auth && !self.bit(id as usize) {
            let first = if cmd.parent.is_some() { args.get(2) } else { args.get(1) };
            let ok = match (first, self.firstargs_of(id)) {
                (Some(a), Some(list)) if args.len() >= 2 => list.iter().any(|s| s.eq_ignore_ascii_case(a)),
                _ => false,
            };
            if !ok {
                return Err(Denied { reason: Reason::Command, pos: 0 });
            }
        }
        if !self.allkeys {
            for &(pos, need) in keys.get(id, args) {
                if !self.key_allowed(args[pos], need) {
                    return Err(Denied { reason: Reason::Key, pos });
                }
            }
        }
        if !self.allchannels {
            for (pos, pattern) in channel_args(cmd.name, args) {
                if !channel_allowed(&self.channels, args[pos], pattern) {
                    return Err(Denied { reason: Reason::Channel, pos });
                }
            }
        }
        Ok(())
    }
}

fn push_pattern(out: &mut Vec<u8>, flags: u8, p: &[u8]) {
    out.extend_from_slice(match flags {
        PERM_READ => b"%R~",
        PERM_WRITE => b"%W~",
        _ => b"~",
    });
    out.extend_from_slice(p);
}

/// `ACLCheckChannelAgainstList`: a channel must match a pattern; a pattern subscription must
/// equal one literally.
pub fn channel_allowed(list: &[Vec<u8>], channel: &[u8], is_pattern: bool) -> bool {
    list.iter().any(|p| if is_pattern { p.as_slice() == channel } else { commands::string_match(p, channel, false) })
}

/// The channel arguments ACLs check (`getChannelsFromCommand` entries flagged publish or
/// subscribe): positions and whether they are patterns.
fn channel_args(name: &str, args: &[&[u8]]) -> Vec<(usize, bool)> {
    match name {
        "publish" | "spublish" if args.len() > 1 => vec![(1, false)],
        "subscribe" | "ssubscribe" => (1..args.len()).map(|i| (i, false)).collect(),
        "psubscribe" => (1..args.len()).map(|i| (i, true)).collect(),
        _ => Vec::new(),
    }
}

/// A command's keys with the permissions they need, computed at most once per check however
/// many selectors look at them (Redis's `aclKeyResultCache`).
struct KeyCache {
    keys: Option<Vec<(usize, u8)>>,
}

impl KeyCache {
    fn get(&mut self, id: u16, args: &[&[u8]]) -> &[(usize, u8)] {
        self.keys.get_or_insert_with(|| {
            let t = table();
            let Some(meta) = find_meta(t.cmds[id as usize].name) else { return Vec::new() };
            let Ok(found) = commands::keys_and_flags(meta, args) else { return Vec::new() };
            found
                .into_iter()
                .map(|(pos, flags)| {
                    let mut need = 0;
                    for f in flags {
                        match f {
                            "access" => need |= PERM_READ,
                            "insert" | "delete" | "update" => need |= PERM_WRITE,
                            _ => {}
                        }
                    }
                    (pos, need)
                })
                .collect()
        })
    }
}

fn find_meta(name: &str) -> Option<&'static CommandMeta> {
    match name.split_once('|') {
        None => commands::meta::find(name),
        Some((p, s)) => commands::meta::find(p)?.subcommand(s.as_bytes()),
    }
}

/// Why a command was refused, in Redis's order of relevance (`ACL_DENIED_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    Command = 1,
    Key = 2,
    Auth = 3,
    Channel = 4,
}

impl Reason {
    pub fn name(self) -> &'static str {
        match self {
            Reason::Command => "command",
            Reason::Key => "key",
            Reason::Auth => "auth",
            Reason::Channel => "channel",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Denied {
    pub reason: Reason,
    /// The offending argument (key or channel); 0 for a command.
    pub pos: usize,
}

/// A user (`struct user`).
#[derive(Clone, Debug, PartialEq)]
pub struct User {
    pub name: Vec<u8>,
    pub enabled: bool,
    pub nopass: bool,
    /// `Some(true)`: sanitize-payload, `Some(false)`: skip-sanitize-payload.
    pub sanitize: Option<bool>,
    /// SHA-256 hex digests, in the order added.
    pub passwords: Vec<String>,
    /// The root selector first, then `(...)` selectors.
    pub selectors: Vec<Selector>,
    /// Root allows everything: the worker skips every check.
    unrestricted: bool,
}

impl User {
    /// A new user: off, no passwords, no permissions (`ACLCreateUser`).
    pub fn new(name: &[u8], pubsub_all: bool) -> User {
        User {
            name: name.to_vec(),
            enabled: false,
            nopass: false,
            sanitize: None,
            passwords: Vec::new(),
            selectors: vec![Selector::new(pubsub_all)],
            unrestricted: false,
        }
    }

    /// `ACLCreateDefaultUser`: on, nopass, everything allowed.
    pub fn default_user() -> User {
        let mut u = User::new(b"default", false);
        for op in ["+@all", "~*", "&*", "on", "nopass"] {
            let _ = u.apply(op.as_bytes(), false);
        }
        u
    }

    pub fn unrestricted(&self) -> bool {
        self.unrestricted
    }

    fn refresh(&mut self) {
        let r = &self.selectors[0];
        self.unrestricted = r.allcommands && r.allkeys && r.allchannels;
    }

    fn root(&mut self) -> &mut Selector {
        &mut self.selectors[0]
    }

    /// Applies one `ACL SETUSER` modifier (`ACLSetUser`); `pubsub_all` is acl-pubsub-default.
    pub fn apply(&mut self, op: &[u8], pubsub_all: bool) -> Result<(), RuleError> {
        let r = self.apply_inner(op, pubsub_all);
        self.refresh();
        r
    }

    fn apply_inner(&mut self, op: &[u8], pubsub_all: bool) -> Result<(), RuleError> {
        let is = |s: &str| op.eq_ignore_ascii_case(s.as_bytes());
        if op.is_empty() {
            return Ok(());
        }
        if is("on") {
            self.enabled = true;
        } else if is("off") {
            self.enabled = false;
        } else if is("skip-sanitize-payload") {
            self.sanitize = Some(false);
        } else if is("sanitize-payload") {
            self.sanitize = Some(true);
        } else if is("nopass") {
            self.nopass = true;
            self.passwords.clear();
        } else if is("resetpass") {
            self.nopass = false;
            self.passwords.clear();
        } else if op[0] == b'>' || op[0] == b'#' {
            let hash = if op[0] == b'>' { hash_password(&op[1..]) } else { checked_hash(&op[1..])? };
            if !self.passwords.contains(&hash) {
                self.passwords.push(hash);
            }
            self.nopass = false;
        } else if op[0] == b'<' || op[0] == b'!' {
            let hash = if op[0] == b'<' { hash_password(&op[1..]) } else { checked_hash(&op[1..])? };
            let Some(i) = self.passwords.iter().position(|p| *p == hash) else {
                return Err(RuleError::NoSuchPassword);
            };
            self.passwords.remove(i);
        } else if op[0] == b'(' && op[op.len() - 1] == b')' {
            let mut s = Selector::new(pubsub_all);
            let inner = &op[1..op.len() - 1];
            for rule in resp::split_args(inner).unwrap_or_default() {
                s.apply(&rule)?;
            }
            self.selectors.push(s);
        } else if is("clearselectors") {
            self.selectors.truncate(1);
        } else if is("reset") {
            self.nopass = false;
            self.passwords.clear();
            let root = self.root();
            root.allkeys = false;
            root.patterns.clear();
            root.allchannels = pubsub_all;
            root.channels.clear();
            self.enabled = false;
            self.sanitize = Some(true);
            self.selectors.truncate(1);
            self.root().set_all_commands(false);
        } else {
            self.root().apply(op)?;
        }
        Ok(())
    }

    /// Whether `password` opens this user (`ACLCheckUserCredentials` after the user lookup).
    pub fn password_ok(&self, password: &[u8]) -> bool {
        if !self.enabled {
            return false;
        }
        if self.nopass {
            return true;
        }
        let hashed = hash_password(password);
        // Every stored hash is compared in full, so timing does not tell which one matched.
        self.passwords.iter().fold(false, |acc, p| acc | constant_time_eq(p.as_bytes(), hashed.as_bytes()))
    }

    /// `ACLCheckAllUserCommandPerm`: allowed if any selector allows; otherwise the most
    /// relevant denial (higher reason, then later argument).
    pub fn check(&self, meta: &CommandMeta, args: &[&[u8]]) -> Result<(), Denied> {
        if self.unrestricted {
            return Ok(());
        }
        // Every registered command's metadata comes from the table, so this never misses; if
        // it did, a restricted user is refused rather than let through.
        let Some(id) = table().id_of(meta) else { return Err(Denied { reason: Reason::Command, pos: 0 }) };
        let mut cache = KeyCache { keys: None };
        let mut worst = Denied { reason: Reason::Command, pos: 0 };
        for s in &self.selectors {
            match s.check_cmd(id, args, &mut cache) {
                Ok(()) => return Ok(()),
                Err(d) => {
                    if d.reason > worst.reason || (d.reason == worst.reason && d.pos > worst.pos) {
                        worst = d;
                    }
                }
            }
        }
        Err(worst)
    }

    /// `ACLUserCheckCmdWithUnrestrictedKeyAccess`: some selector allows the command and every
    /// key for `need` (SORT's BY/GET read keys the check never saw).
    pub fn full_key_access(&self, meta: &CommandMeta, args: &[&[u8]], need: u8) -> bool {
        if self.unrestricted {
            return true;
        }
        let Some(id) = table().id_of(meta) else { return false };
        let mut cache = KeyCache { keys: None };
        self.selectors.iter().any(|s| {
            s.check_cmd(id, args, &mut cache).is_ok()
                && (s.allkeys || s.patterns.iter().any(|(f, p)| f & need == need && p.as_slice() == b"*"))
        })
    }

    /// `ACLUserCheckChannelPerm`, for the pub/sub kill check.
    pub fn channel_ok(&self, channel: &[u8], is_pattern: bool) -> bool {
        self.selectors.iter().any(|s| s.allchannels || channel_allowed(&s.channels, channel, is_pattern))
    }

    /// The user's rules as ACL LIST shows them (`ACLDescribeUser`), without `user <name> `.
    pub fn describe(&self) -> Vec<u8> {
        let mut res = Vec::new();
        for (on, name) in [
            (self.enabled, "on"),
            (!self.enabled, "off"),
            (self.nopass, "nopass"),
            (self.sanitize == Some(false), "skip-sanitize-payload"),
            (self.sanitize == Some(true), "sanitize-payload"),
        ] {
            if on {
                res.extend_from_slice(name.as_bytes());
                res.push(b' ');
            }
        }
        for p in &self.passwords {
            res.push(b'#');
            res.extend_from_slice(p.as_bytes());
            res.push(b' ');
        }
        for (i, s) in self.selectors.iter().enumerate() {
            if i == 0 {
                res.extend_from_slice(&s.describe());
            } else {
                res.extend_from_slice(b" (");
                res.extend_from_slice(&s.describe());
                res.push(b')');
            }
        }
        res
    }

    /// GETUSER's `flags` list.
    pub fn flag_names(&self) -> Vec<&'static str> {
        let mut v = vec![if self.enabled { "on" } else { "off" }];
        if self.nopass {
            v.push("nopass");
        }
        match self.sanitize {
            Some(false) => v.push("skip-sanitize-payload"),
            Some(true) => v.push("sanitize-payload"),
            None => {}
        }
        v
    }

    /// Channel patterns of every selector, or None if one allows all channels.
    fn channel_list(&self) -> Option<Vec<&[u8]>> {
        if self.selectors.iter().any(|s| s.allchannels) {
            return None;
        }
        Some(self.selectors.iter().flat_map(|s| s.channels.iter().map(Vec::as_slice)).collect())
    }

    /// `ACLKillPubsubClientsIfNeeded`'s first half: whether `self` (the new rules) may have
    /// lost channels `old` allowed, so that subscribers must be checked. None: nothing lost.
    pub fn lost_channels(&self, old: &User) -> Option<Vec<Vec<u8>>> {
        let upcoming = self.channel_list()?;
        let lost = match old.channel_list() {
            None => true,
            Some(prev) => prev.iter().any(|c| !upcoming.contains(c)),
        };
        lost.then(|| upcoming.iter().map(|c| c.to_vec()).collect())
    }
}

/// `ACLMergeSelectorArguments`: joins `(`...`)` selectors split over several arguments. On an
/// unmatched parenthesis, the index of the argument that opened it.
pub fn merge_selector_args(args: &[&[u8]]) -> Result<Vec<Vec<u8>>, usize> {
    let mut out = Vec::new();
    let mut open: Option<(usize, Vec<u8>)> = None;
    for (j, op) in args.iter().enumerate() {
        if let Some((_, sel)) = open.as_mut() {
            sel.push(b' ');
            sel.extend_from_slice(op);
            if op.last() == Some(&b')') {
                if let Some((_, sel)) = open.take() {
                    out.push(sel);
                }
            }
            continue;
        }
        if op.first() == Some(&b'(') && op.last() != Some(&b')') {
            open = Some((j, op.to_vec()));
            continue;
        }
        out.push(op.to_vec());
    }
    match open {
        Some((j, _)) => Err(j),
        None => Ok(out),
    }
}

fn checked_hash(h: &[u8]) -> Result<String, RuleError> {
    if h.len() != 64 || !h.iter().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b)) {
        return Err(RuleError::BadHash);
    }
    Ok(String::from_utf8_lossy(h).into_owned())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The SHA-256 of a password as lowercase hex (`ACLHashPassword`).
pub fn hash_password(p: &[u8]) -> String {
    sha256(p).iter().map(|b| format!("{b:02x}")).collect()
}

/// FIPS 180-4 SHA-256; small enough to keep here rather than add a dependency.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
        0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
        0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
        0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
        0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
        0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
        0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] =
        [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u64).wrapping_mul(8)).to_be_bytes());
    for chunk in msg.chunks_exact(64) {
        let mut w = [0u32; 64];
        for i in 0..16 {
            w[i] = u32::from_be_bytes([chunk[4 * i], chunk[4 * i + 1], chunk[4 * i + 2], chunk[4 * i + 3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16].wrapping_add(s0).wrapping_add(w[i - 7]).wrapping_add(s1);
        }
        let mut v = h;
        for i in 0..64 {
            let s1 = v[4].rotate_right(6) ^ v[4].rotate_right(11) ^ v[4].rotate_right(25);
            let ch = (v[4] & v[5]) ^ (!v[4] & v[6]);
            let t1 = v[7].wrapping_add(s1).wrapping_add(ch).wrapping_add(K[i]).wrapping_add(w[i]);
            let s0 = v[0].rotate_right(2) ^ v[0].rotate_right(13) ^ v[0].rotate_right(22);
            let maj = (v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]);
            let t2 = s0.wrapping_add(maj);
            v = [t1.wrapping_add(t2), v[0], v[1], v[2], v[3].wrapping_add(t1), v[4], v[5], v[6]];
        }
        for (a, b) in h.iter_mut().zip(v) {
            *a = a.wrapping_add(b);
        }
    }
    let mut out = [0u8; 32];
    for (i, word) in h.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// Where a denial happened (ACL LOG's `context`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Toplevel,
    Multi,
    /// A command a script ran (`redis.call`).
    Lua,
}

impl Context {
    pub fn name(self) -> &'static str {
        match self {
            Context::Toplevel => "toplevel",
            Context::Multi => "multi",
            Context::Lua => "lua",
        }
    }
}

#[derive(Debug, Clone)]
pub struct LogEntry {
    pub count: u64,
    pub reason: Reason,
    pub context: Context,
    pub object: Vec<u8>,
    pub username: Vec<u8>,
    pub ctime_ms: i64,
    pub client_info: String,
}

/// The ACL LOG, newest first (`ACLLog`).
#[derive(Debug, Default)]
pub struct Log {
    pub entries: VecDeque<LogEntry>,
}

impl Log {
    /// `addACLLogEntry`: an entry like one of the 10 newest (same reason, context, object and
    /// user, within 60 s) is counted there and moved to the front.
    pub fn add(&mut self, e: LogEntry, max_len: usize) {
        let found = self.entries.iter().take(10).position(|c| {
            c.reason == e.reason
                && c.context == e.context
                && (c.ctime_ms - e.ctime_ms).abs() <= 60_000
                && c.object == e.object
                && c.username == e.username
        });
        if let Some(i) = found {
            if let Some(mut m) = self.entries.remove(i) {
                m.client_info = e.client_info;
                m.ctime_ms = e.ctime_ms;
                m.count += 1;
                self.entries.push_front(m);
            }
        } else {
            self.entries.push_front(e);
            self.entries.truncate(max_len);
        }
    }
}

/// Every user, by name in byte order (ACL LIST / USERS order, as Redis's rax).
#[derive(Debug)]
pub struct Users {
    pub map: std::collections::BTreeMap<Vec<u8>, Arc<User>>,
}

impl Default for Users {
    fn default() -> Self {
        let mut map = std::collections::BTreeMap::new();
        map.insert(b"default".to_vec(), Arc::new(User::default_user()));
        Users { map }
    }
}

impl Users {
    pub fn get(&self, name: &[u8]) -> Option<&Arc<User>> {
        self.map.get(name)
    }

    pub fn default_user(&self) -> Arc<User> {
        self.map.get(&b"default"[..]).cloned().unwrap_or_else(|| Arc::new(User::default_user()))
    }

    /// Users as config/aclfile lines (`user <name> <rules>`), byte for byte.
    pub fn lines(&self) -> Vec<Vec<u8>> {
        self.map
            .values()
            .map(|u| {
                let mut line = b"user ".to_vec();
                line.extend_from_slice(&u.name);
                line.push(b' ');
                line.extend_from_slice(&u.describe());
                line
            })
            .collect()
    }
}

/// `ACLLoadFromFile`'s parsing: the users an aclfile defines, or the error text Redis replies.
pub fn parse_aclfile(content: &[u8], filename: &str, pubsub_all: bool) -> Result<Users, String> {
    let mut errors = String::new();
    let mut users = Users { map: Default::default() };
    for (i, raw) in content.split(|&b| b == b'\n').enumerate() {
        let linenum = i + 1;
        let line = trim(raw, b" \t\r\n");
        if line.is_empty() {
            continue;
        }
        let argv: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
        if argv[0] != b"user" || argv.len() < 2 {
            errors.push_str(&format!("{filename}:{linenum} should start with user keyword followed by the username. "));
            continue;
        }
        let name = argv[1];
        if has_spaces(name) {
            errors.push_str(&format!(
                "'{filename}:{linenum}: username '{}' contains invalid characters. ",
                String::from_utf8_lossy(name)
            ));
            continue;
        }
        if users.map.contains_key(name) {
            errors.push_str(&format!(
                "WARNING: Duplicate user '{}' found on line {linenum}. ",
                String::from_utf8_lossy(name)
            ));
            continue;
        }
        let mut u = User::new(name, pubsub_all);
        let merged = match merge_selector_args(&argv[2..]) {
            Ok(m) => m,
            Err(_) => {
                errors.push_str(&format!("{filename}:{linenum}: Unmatched parenthesis in selector definition."));
                Vec::new()
            }
        };
        let mut syntax_error = false;
        for op in merged {
            let op = trim(&op, b"\t\r\n");
            if let Err(e) = u.apply(op, pubsub_all) {
                if e == RuleError::Unknown {
                    errors.push_str(&format!(
                        "{filename}:{linenum}: Error in applying operation '{}': {e}. ",
                        String::from_utf8_lossy(op)
                    ));
                } else if !syntax_error {
                    errors.push_str(&format!("{filename}:{linenum}: {e}. "));
                    syntax_error = true;
                }
            }
        }
        users.map.insert(name.to_vec(), Arc::new(u));
    }
    if !errors.is_empty() {
        errors.push_str("WARNING: ACL errors detected, no change to the previously active ACL rules was performed");
        return Err(errors);
    }
    if !users.map.contains_key(&b"default"[..]) {
        users.map.insert(b"default".to_vec(), Arc::new(User::default_user()));
    }
    Ok(users)
}

fn trim<'a>(s: &'a [u8], set: &[u8]) -> &'a [u8] {
    let start = s.iter().position(|b| !set.contains(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|b| !set.contains(b)).map_or(start, |e| e + 1);
    &s[start..end.max(start)]
}

/// Builds the users from the config file's `user` lines (`ACLLoadConfiguredUsers`), on top of
/// the default user. Errors are the log lines Redis writes before exiting.
pub fn users_from_config(lines: &[Vec<Vec<u8>>], pubsub_all: bool) -> Result<Users, String> {
    let mut users = Users { map: Default::default() };
    users.map.insert(b"default".to_vec(), Arc::new(User::default_user()));
    let mut seen: Vec<&[u8]> = Vec::new();
    for line in lines {
        let Some(name) = line.first() else { continue };
        if seen.contains(&name.as_slice()) {
            return Err(format!(
                "Error in user declaration '{}': {}",
                String::from_utf8_lossy(name),
                RuleError::Duplicate
            ));
        }
        seen.push(name);
        if has_spaces(name) {
            return Err("Spaces not allowed in ACL usernames".into());
        }
        let args: Vec<&[u8]> = line[1..].iter().map(Vec::as_slice).collect();
        let merged = merge_selector_args(&args).map_err(|_| "Unmatched parenthesis in acl selector".to_string())?;
        let mut u = if name == b"default" {
            let mut d = User::default_user();
            let _ = d.apply(b"reset", pubsub_all);
            d
        } else {
            User::new(name, pubsub_all)
        };
        for op in &merged {
            u.apply(op, pubsub_all).map_err(|e| {
                format!(
                    "Error loading ACL rule '{}' for the user named '{}': {e}",
                    String::from_utf8_lossy(op),
                    String::from_utf8_lossy(name)
                )
            })?;
        }
        users.map.insert(name.clone(), Arc::new(u));
    }
    Ok(users)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(rules: &[&str]) -> User {
        let mut u = User::new(b"u", false);
        for r in rules {
            u.apply(r.as_bytes(), false).unwrap();
        }
        u
    }

    #[test]
    fn sha256_known_vectors() {
        assert_eq!(hash_password(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(hash_password(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        let long = vec![b'a'; 1000];
        assert_eq!(hash_password(&long), "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3");
    }

    #[test]
    fn default_and_new_user_descriptions() {
        assert_eq!(User::default_user().describe(), b"on nopass ~* &* +@all");
        assert_eq!(User::new(b"x", false).describe(), b"off resetchannels -@all");
        assert_eq!(User::new(b"x", true).describe(), b"off &* -@all");
        assert!(User::default_user().unrestricted());
    }

    #[test]
    fn describes_patterns_byte_for_byte() {
        let mut raw = User::new(b"u", false);
        for rule in [&b"on"[..], b"~a\x8d", b"~a\x8f", b"&c\xff", b"+select|\xfe"] {
            raw.apply(rule, false).unwrap();
        }
        assert_eq!(raw.describe(), b"on ~a\x8d ~a\x8f resetchannels &c\xff -@all +select|\xfe");
        assert_eq!(raw.selectors[0].describe_keys(), b"~a\x8d ~a\x8f");
        assert_eq!(raw.selectors[0].describe_channels(), b"&c\xff");
    }

    #[test]
    fn describes_categories_and_commands() {
        assert_eq!(user(&["+@all", "-@dangerous"]).selectors[0].describe_commands(), b"+@all -@dangerous");
        assert_eq!(user(&["+@set", "+acl"]).selectors[0].describe_commands(), b"-@all +@set +acl");
        assert_eq!(
            user(&["-@all", "+select|0", "+select|1"]).selectors[0].describe_commands(),
            b"-@all +select|0 +select|1"
        );
        assert_eq!(user(&["+@all", "-config|set"]).selectors[0].describe_commands(), b"+@all -config|set");
    }

    #[test]
    fn rule_errors() {
        let mut u = User::new(b"u", false);
        assert_eq!(u.apply(b"+nosuch", false), Err(RuleError::Unknown));
        assert_eq!(u.apply(b"+@nosuch", false), Err(RuleError::Unknown));
        assert_eq!(u.apply(b"+config|get|x", false), Err(RuleError::FirstArgOfSubcommand));
        assert_eq!(u.apply(b"+select|", false), Err(RuleError::Syntax));
        assert_eq!(u.apply(b"#abc", false), Err(RuleError::BadHash));
        assert_eq!(u.apply(b"<nope", false), Err(RuleError::NoSuchPassword));
        u.apply(b"allkeys", false).unwrap();
        assert_eq!(u.apply(b"~foo", false), Err(RuleError::KeysAfterAll));
        assert_eq!(u.apply(b"bogus", false), Err(RuleError::Syntax));
    }

    #[test]
    fn checks_keys_by_permission() {
        let u = user(&["on", "+@all", "%R~read*", "%W~write*", "~rw*"]);
        let get = commands::meta::find("get").unwrap();
        let set = commands::meta::find("set").unwrap();
        assert!(u.check(get, &[b"get", b"read1"]).is_ok());
        assert_eq!(u.check(get, &[b"get", b"write1"]).unwrap_err().reason, Reason::Key);
        assert!(u.check(set, &[b"set", b"write1", b"v"]).is_ok());
        assert!(u.check(set, &[b"set", b"rw", b"v"]).is_ok());
        assert_eq!(u.describe(), b"on %R~read* %W~write* ~rw* resetchannels +@all");
    }

    #[test]
    fn merges_selectors() {
        let args: Vec<&[u8]> = vec![b"on", b"(+get", b"~x)", b"(+set ~y)"];
        assert_eq!(
            merge_selector_args(&args).unwrap(),
            vec![b"on".to_vec(), b"(+get ~x)".to_vec(), b"(+set ~y)".to_vec()]
        );
        assert_eq!(merge_selector_args(&[b"(+get"]), Err(0));
    }
}
