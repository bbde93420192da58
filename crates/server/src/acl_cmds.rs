//! The ACL system's server side: the shared user table and ACL LOG (`AclShared`), the ACL
//! command, AUTH / HELLO AUTH, the denial path (log entry + NOPERM error) and the
//! disconnection of clients whose user was deleted or lost channels. The rules themselves are
//! in `acl.rs`.
//!
//! Connections hold an `Arc<User>` and the generation it was read at; every change publishes
//! a new table and bumps `generation`, and each connection re-reads its user before its next
//! command (one relaxed-cost atomic load per request, no lock).

use crate::acl::{self, Context, Denied, LogEntry, Reason, User, Users};
use crate::shared::{ClientShared, Msg, Shared};
use crate::worker::{Conn, Env};
use commands::args::{eq_ic, parse_i64};
use commands::errors;
use parking_lot::{Mutex, RwLock};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

pub const ACL: u16 = 120;

const HELP: &[&str] = &[
    "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "DELUSER <username> [<username> ...]",
    "    Delete a list of users.",
    "DRYRUN <username> <command> [<arg> ...]",
    "    Returns whether the user can execute the given command without executing the command.",
    "GETUSER <username>",
    "    Get the user's details.",
    "GENPASS [<bits>]",
    "    Generate a secure 256-bit user password. The optional `bits` argument can",
    "    be used to specify a different size.",
    "LIST",
    "    Show users details in config file format.",
    "LOAD",
    "    Reload users from the ACL file.",
    "LOG [<count> | RESET]",
    "    Show the ACL log entries.",
    "SAVE",
    "    Save the current config to the ACL file.",
    "SETUSER <username> <attribute> [<attribute> ...]",
    "    Create or modify a user with the specified attributes.",
    "USERS",
    "    List all the registered usernames.",
    "WHOAMI",
    "    Return the current connection username.",
    "HELP",
    "    Prints this help.",
];

const NO_ACLFILE: &str = "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.";
pub const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

/// An atomic alone on its cache line.
#[repr(align(64))]
pub struct Padded(pub AtomicU64);

impl std::ops::Deref for Padded {
    type Target = AtomicU64;
    fn deref(&self) -> &AtomicU64 {
        &self.0
    }
}

/// The users and the ACL LOG, shared by every worker.
pub struct AclShared {
    users: RwLock<Users>,
    pub log: Mutex<acl::Log>,
    /// Bumped after every change of `users`; connections compare it before each command. On a
    /// cache line of its own: every request of every worker reads it, and the ACL LOG's mutex
    /// beside it is written by every denial.
    pub generation: Padded,
    /// The default user is on and nopass: new connections start authenticated, AUTH with a
    /// password alone is refused, protected mode applies.
    default_open: AtomicBool,
    /// The `requirepass` last applied to the default user, so that a CONFIG SET of another
    /// directive does not reset the default user's passwords.
    requirepass: Mutex<Option<Vec<u8>>>,
}

impl AclShared {
    pub fn new(users: Users, requirepass: Option<Vec<u8>>) -> AclShared {
        let d = users.default_user();
        let open = d.enabled && d.nopass;
        AclShared {
            users: RwLock::new(users),
            log: Mutex::new(acl::Log::default()),
            generation: Padded(AtomicU64::new(1)),
            default_open: AtomicBool::new(open),
            requirepass: Mutex::new(requirepass),
        }
    }

    /// Protected mode's condition: the default user has no password (on or off, as Redis).
    pub fn default_nopass(&self) -> bool {
        self.users.read().default_user().nopass
    }

    pub fn default_open(&self) -> bool {
        self.default_open.load(Ordering::Acquire)
    }

    pub fn default_user(&self) -> Arc<User> {
        self.users.read().default_user()
    }

    pub fn user(&self, name: &[u8]) -> Option<Arc<User>> {
        self.users.read().get(name).cloned()
    }

    pub fn lines(&self) -> Vec<Vec<u8>> {
        self.users.read().lines()
    }

    /// Runs `f` on the table and publishes the result (the generation moves on).
    fn update<R>(&self, f: impl FnOnce(&mut Users) -> R) -> R {
        let mut users = self.users.write();
        let r = f(&mut users);
        let d = users.default_user();
        self.default_open.store(d.enabled && d.nopass, Ordering::Release);
        self.generation.fetch_add(1, Ordering::AcqRel);
        r
    }

    /// `requirepass` changed (start-up or CONFIG SET): it becomes the default user's only
    /// password, or the default user becomes nopass (`ACLUpdateDefaultUserPassword`).
    pub fn apply_requirepass(&self, pass: Option<Vec<u8>>) {
        if *self.requirepass.lock() != pass {
            self.set_requirepass(pass);
        }
    }

    /// CONFIG SET requirepass: applied whatever the previous value.
    pub fn set_requirepass(&self, pass: Option<Vec<u8>>) {
        *self.requirepass.lock() = pass.clone();
        self.update(|users| {
            let mut d = (*users.default_user()).clone();
            let _ = d.apply(b"resetpass", false);
            match pass {
                Some(p) => {
                    let mut op = b">".to_vec();
                    op.extend_from_slice(&p);
                    let _ = d.apply(&op, false);
                }
                None => {
                    let _ = d.apply(b"nopass", false);
                }
            }
            users.map.insert(b"default".to_vec(), Arc::new(d));
        });
    }
}

/// Marks clients for disconnection, as CLIENT KILL does; the running client closes after
/// its reply.
fn kill_clients(shared: &Shared, c: &mut Conn, pred: impl Fn(&ClientShared) -> bool) {
    let clients: Vec<Arc<ClientShared>> = shared.clients.lock().values().filter(|cl| pred(cl)).cloned().collect();
    for cl in clients {
        if cl.id == c.info.id {
            c.close_after_write = true;
            continue;
        }
        cl.kill.store(true, Ordering::Relaxed);
        crate::replication::client_killed(cl.id);
        if let Some(w) = shared.workers().get(cl.worker) {
            w.send(Msg::Poke);
        }
    }
}

impl Env {
    /// The permission check of a command about to run or be queued (`ACLCheckAllPerm`); on a
    /// denial the log entry is written and the NOPERM error returned.
    pub fn acl_denied(
        &mut self,
        c: &Conn,
        meta: &commands::CommandMeta,
        args: &[&[u8]],
        in_exec: bool,
    ) -> Option<String> {
        let Err(d) = c.user.check(meta, args) else { return None };
        let context = if in_exec || self.in_exec || c.multi.is_some() { Context::Multi } else { Context::Toplevel };
        let object = match d.reason {
            Reason::Command => meta.name.as_bytes().to_vec(),
            _ => args.get(d.pos).map(|a| a.to_vec()).unwrap_or_default(),
        };
        self.acl_log(&c.info, d.reason, context, object, c.user.name.clone());
        Some(if in_exec {
            let reason = match d.reason {
                Reason::Command => "no permission to execute the command or subcommand",
                Reason::Key => "no permission to touch the specified keys",
                Reason::Channel => "no permission to access one of the channels used as arguments",
                Reason::Auth => "no permission",
            };
            format!("NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: {reason}")
        } else {
            denial_text(d, &meta.name)
        })
    }

    pub fn acl_log(
        &mut self,
        info: &crate::shared::ClientShared,
        reason: Reason,
        context: Context,
        object: Vec<u8>,
        username: Vec<u8>,
    ) {
        let now = crate::shared::now_ms();
        let client_info = crate::info::client_line(self.shared, info, now);
        let max = self.shared.config.read().get_i64("acllog-max-len").unwrap_or(128).max(0) as usize;
        let entry = LogEntry { count: 1, reason, context, object, username, ctime_ms: now, client_info };
        self.shared.acl.log.lock().add(entry, max);
    }

    /// Checks a username/password pair and switches the connection to that user
    /// (`ACLAuthenticateUser`); a failure goes to the ACL LOG with reason `auth`.
    pub fn authenticate(&mut self, c: &mut Conn, cmd_name: &[u8], user: &[u8], pass: &[u8]) -> bool {
        let shared = self.shared;
        if let Some(u) = shared.acl.user(user).filter(|u| u.password_ok(pass)) {
            c.acl_gen = shared.acl.generation.load(Ordering::Acquire);
            *c.info.user.lock() = u.name.clone();
            c.user = u;
            c.authenticated = true;
            return true;
        }
        // An AUTH queued in MULTI fails while EXEC runs it: Redis's client still has its
        // MULTI flag then, so the entry's context is `multi`.
        let context = if c.multi.is_some() || self.in_exec { Context::Multi } else { Context::Toplevel };
        self.acl_log(&c.info, Reason::Auth, context, cmd_name.to_vec(), user.to_vec());
        false
    }

    pub fn auth_command(&mut self, c: &mut Conn, args: &[&[u8]]) {
        if args.len() > 3 {
            c.out.error(errors::SYNTAX);
            return;
        }
        let (user, pass): (&[u8], &[u8]) = if args.len() == 2 {
            if self.shared.acl.default_user().nopass {
                c.out.error("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?");
                return;
            }
            (b"default", args[1])
        } else {
            (args[1], args[2])
        };
        if self.authenticate(c, args[0], user, pass) {
            c.out.ok();
        } else {
            c.out.error(WRONGPASS);
        }
    }

    /// Back to the default user, authenticated only if it needs no password (RESET).
    pub fn reset_user(&self, c: &mut Conn) {
        let shared = self.shared;
        c.acl_gen = shared.acl.generation.load(Ordering::Acquire);
        c.user = shared.acl.default_user();
        *c.info.user.lock() = c.user.name.clone();
        c.authenticated = shared.acl.default_open();
    }

    pub fn acl_command(&mut self, c: &mut Conn, args: &[&[u8]]) {
        let shared = self.shared;
        let sub = args[1];
        let argc = args.len();
        let is = |s: &str| eq_ic(sub, s);
        if is("setuser") {
            self.acl_setuser(c, args);
        } else if is("deluser") {
            if args[2..].iter().any(|u| *u == b"default") {
                c.out.error("ERR The 'default' user cannot be removed");
                return;
            }
            let names: HashSet<Vec<u8>> = args[2..].iter().map(|a| a.to_vec()).collect();
            let deleted = shared.acl.update(|users| names.iter().filter(|n| users.map.remove(*n).is_some()).count());
            // Only names that existed were removed; their clients go too.
            kill_clients(shared, c, |cl| {
                let u = cl.user.lock();
                names.contains(u.as_slice()) && u.as_slice() != b"default"
            });
            c.out.int(deleted as i64);
        } else if is("getuser") && argc == 3 {
            match shared.acl.user(args[2]) {
                None => c.out.null(),
                Some(u) => getuser_reply(c, &u),
            }
        } else if (is("list") || is("users")) && argc == 2 {
            let lines: Vec<(Vec<u8>, Vec<u8>)> = {
                let users = shared.acl.users.read();
                users.map.values().map(|u| (u.name.clone(), u.describe())).collect()
            };
            c.out.array(lines.len());
            for (name, descr) in lines {
                if is("users") {
                    c.out.bulk(&name);
                } else {
                    let mut line = b"user ".to_vec();
                    line.extend_from_slice(&name);
                    line.push(b' ');
                    line.extend_from_slice(&descr);
                    c.out.bulk(&line);
                }
            }
        } else if is("whoami") && argc == 2 {
            c.out.bulk(&c.user.name.clone());
        } else if (is("load") || is("save")) && aclfile(shared).is_none() {
            c.out.error(NO_ACLFILE);
        } else if is("load") && argc == 2 {
            let Some(path) = aclfile(shared) else { return };
            match load_aclfile(shared, &path) {
                Ok(()) => {
                    // Every user but the default one was replaced: their clients go.
                    kill_clients(shared, c, |cl| cl.user.lock().as_slice() != b"default");
                    c.out.ok();
                }
                Err(e) => c.out.error(&format!("ERR {e}")),
            }
        } else if is("save") && argc == 2 {
            let Some(path) = aclfile(shared) else { return };
            match save_aclfile(shared, &path) {
                Ok(()) => c.out.ok(),
                Err(e) => {
                    crate::warning!("Writing ACL file for ACL SAVE: {e}");
                    c.out.error("ERR There was an error trying to save the ACLs. Please check the server logs for more information")
                }
            }
        } else if is("cat") && argc == 2 {
            c.out.array(acl::CATEGORIES.len());
            for name in acl::CATEGORIES {
                c.out.bulk(name.as_bytes());
            }
        } else if is("cat") && argc == 3 {
            let flag = acl::category_flag(args[2]);
            if flag == 0 {
                let shown = &args[2][..args[2].len().min(128)];
                c.out.error(&format!("ERR Unknown category '{}'", String::from_utf8_lossy(shown)));
                return;
            }
            let names: Vec<&str> = acl::table().in_category(flag).collect();
            c.out.array(names.len());
            for n in names {
                c.out.bulk(n.as_bytes());
            }
        } else if is("genpass") && (argc == 2 || argc == 3) {
            let bits = if argc == 3 {
                match parse_i64(args[2]) {
                    Some(b) => b,
                    None => {
                        c.out.error(errors::NOT_INTEGER);
                        return;
                    }
                }
            } else {
                256
            };
            if bits <= 0 || bits > 4096 {
                c.out.error("ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096");
                return;
            }
            let chars = ((bits + 3) / 4) as usize;
            let hex: String =
                (0..chars).map(|_| char::from(b"0123456789abcdef"[rand::random::<u8>() as usize % 16])).collect();
            c.out.bulk(hex.as_bytes());
        } else if is("log") && (argc == 2 || argc == 3) {
            self.acl_log_command(c, args);
        } else if is("dryrun") && argc >= 4 {
            acl_dryrun(shared, c, args);
        } else if is("help") && argc == 2 {
            c.out.array(HELP.len());
            for l in HELP {
                c.out.simple(l);
            }
        } else {
            c.out.error(&format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try ACL HELP.",
                String::from_utf8_lossy(sub)
            ));
        }
    }

    fn acl_setuser(&mut self, c: &mut Conn, args: &[&[u8]]) {
        let shared = self.shared;
        let name = args[2];
        if name.iter().any(|&b| b == 0 || b.is_ascii_whitespace()) {
            c.out.error("ERR Usernames can't contain spaces or null characters");
            return;
        }
        let ops = match acl::merge_selector_args(&args[3..]) {
            Ok(ops) => ops,
            Err(i) => {
                c.out.error(&format!(
                    "ERR Unmatched parenthesis in acl selector starting at '{}'.",
                    String::from_utf8_lossy(args[3 + i])
                ));
                return;
            }
        };
        let pubsub_all = pubsub_default_all(shared);
        let result = shared.acl.update(|users| {
            let old = users.get(name).cloned();
            let mut u = match &old {
                Some(o) => (**o).clone(),
                None => User::new(name, pubsub_all),
            };
            for op in &ops {
                if let Err(e) = u.apply(op, pubsub_all) {
                    return Err(format!("ERR Error in ACL SETUSER modifier '{}': {e}", String::from_utf8_lossy(op)));
                }
            }
            let lost = old.as_ref().and_then(|o| u.lost_channels(o));
            users.map.insert(name.to_vec(), Arc::new(u));
            Ok(lost)
        });
        match result {
            Err(e) => c.out.error(&e),
            Ok(lost) => {
                if let Some(allowed) = lost {
                    kill_forbidden_subscribers(shared, c, name, &allowed);
                }
                c.out.ok();
            }
        }
    }

    fn acl_log_command(&mut self, c: &mut Conn, args: &[&[u8]]) {
        let mut count = 10i64;
        if args.len() == 3 {
            if eq_ic(args[2], "reset") {
                self.shared.acl.log.lock().entries.clear();
                c.out.ok();
                return;
            }
            match parse_i64(args[2]) {
                Some(n) => count = n.max(0),
                None => {
                    c.out.error(errors::NOT_INTEGER);
                    return;
                }
            }
        }
        let entries: Vec<LogEntry> = self.shared.acl.log.lock().entries.iter().take(count as usize).cloned().collect();
        let now = crate::shared::now_ms();
        c.out.array(entries.len());
        for e in entries {
            c.out.map(7);
            c.out.bulk(b"count");
            c.out.int(e.count as i64);
            c.out.bulk(b"reason");
            c.out.bulk(e.reason.name().as_bytes());
            c.out.bulk(b"context");
            c.out.bulk(e.context.name().as_bytes());
            c.out.bulk(b"object");
            c.out.bulk(&e.object);
            c.out.bulk(b"username");
            c.out.bulk(&e.username);
            c.out.bulk(b"age-seconds");
            c.out.double((now - e.ctime_ms) as f64 / 1000.0);
            c.out.bulk(b"client-info");
            c.out.bulk(e.client_info.as_bytes());
        }
    }
}

/// The NOPERM error of a command refused before it runs (processCommand's texts).
pub fn denial_text(d: Denied, fullname: &str) -> String {
    match d.reason {
        Reason::Command => format!("NOPERM this user has no permissions to run the '{fullname}' command"),
        Reason::Key => "NOPERM this user has no permissions to access one of the keys used as arguments".into(),
        Reason::Channel => "NOPERM this user has no permissions to access one of the channels used as arguments".into(),
        Reason::Auth => "ERR no permission".into(),
    }
}

fn pubsub_default_all(shared: &Shared) -> bool {
    shared.config.read().get("acl-pubsub-default").is_some_and(|v| v.eq_ignore_ascii_case("allchannels"))
}

fn aclfile(shared: &Shared) -> Option<String> {
    shared
        .config
        .read()
        .get_bytes(b"aclfile")
        .filter(|p| !p.is_empty())
        .map(|p| String::from_utf8_lossy(&p).into_owned())
}

/// `ACLLoadFromFile`: all or nothing; the default user is kept if the file lacks one.
pub fn load_aclfile(shared: &Shared, path: &str) -> Result<(), String> {
    let content = std::fs::read(path)
        .map_err(|e| format!("Error loading ACLs, opening file '{path}': {}", crate::config::strerror(&e)))?;
    let users = acl::parse_aclfile(&content, path, pubsub_default_all(shared))?;
    shared.acl.update(|current| *current = users);
    Ok(())
}

/// `ACLSaveToFile`: a temporary file renamed over the aclfile.
fn save_aclfile(shared: &Shared, path: &str) -> std::io::Result<()> {
    let mut text = Vec::new();
    for line in shared.acl.lines() {
        text.extend_from_slice(&line);
        text.push(b'\n');
    }
    let tmp = format!("{path}.tmp-{}-{}", std::process::id(), crate::shared::now_ms());
    let r = std::fs::write(&tmp, text).and_then(|_| std::fs::rename(&tmp, path));
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

/// `ACLKillPubsubClientsIfNeeded`: `user`'s clients subscribed to a channel (or pattern) the
/// new rules no longer allow are disconnected.
fn kill_forbidden_subscribers(shared: &Shared, c: &mut Conn, user: &[u8], allowed: &[Vec<u8>]) {
    let ids: HashSet<u64> =
        shared.clients.lock().values().filter(|cl| cl.user.lock().as_slice() == user).map(|cl| cl.id).collect();
    if ids.is_empty() {
        return;
    }
    let subs = shared.pubsub.subscriptions_of(&ids);
    let doomed: HashSet<u64> = subs
        .into_iter()
        .filter(|(_, kind, name)| !acl::channel_allowed(allowed, name, *kind == crate::pubsub::SubKind::Pattern))
        .map(|(id, _, _)| id)
        .collect();
    kill_clients(shared, c, |cl| doomed.contains(&cl.id));
}

fn getuser_reply(c: &mut Conn, u: &User) {
    c.out.map(6);
    c.out.bulk(b"flags");
    let flags = u.flag_names();
    c.out.set(flags.len());
    for f in flags {
        c.out.bulk(f.as_bytes());
    }
    c.out.bulk(b"passwords");
    c.out.array(u.passwords.len());
    for p in &u.passwords {
        c.out.bulk(p.as_bytes());
    }
    selector_fields(c, &u.selectors[0]);
    c.out.bulk(b"selectors");
    c.out.array(u.selectors.len() - 1);
    for s in &u.selectors[1..] {
        c.out.map(3);
        selector_fields(c, s);
    }
}

fn selector_fields(c: &mut Conn, s: &acl::Selector) {
    c.out.bulk(b"commands");
    c.out.bulk(&s.describe_commands());
    c.out.bulk(b"keys");
    c.out.bulk(&s.describe_keys());
    c.out.bulk(b"channels");
    c.out.bulk(&s.describe_channels());
}

fn acl_dryrun(shared: &Shared, c: &mut Conn, args: &[&[u8]]) {
    let Some(u) = shared.acl.user(args[2]) else {
        c.out.error(&format!("ERR User '{}' not found", String::from_utf8_lossy(args[2])));
        return;
    };
    let cmd_args = &args[3..];
    let base = commands::meta::find(&String::from_utf8_lossy(cmd_args[0]).to_ascii_lowercase());
    let meta = match base {
        Some(b) if !b.subcommands.is_empty() && cmd_args.len() >= 2 => b.subcommand(cmd_args[1]),
        other => other,
    };
    let Some(meta) = meta else {
        c.out.error(&format!("ERR Command '{}' not found", String::from_utf8_lossy(cmd_args[0])));
        return;
    };
    let argc = cmd_args.len() as i32;
    if (meta.arity > 0 && meta.arity != argc) || argc < -meta.arity {
        c.out.error(&format!("ERR wrong number of arguments for '{}' command", meta.name));
        return;
    }
    match u.check(meta, cmd_args) {
        Ok(()) => c.out.ok(),
        Err(d) => {
            let arg = || String::from_utf8_lossy(cmd_args.get(d.pos).copied().unwrap_or(b"")).into_owned();
            let text = match d.reason {
                Reason::Command => format!("This user has no permissions to run the '{}' command", meta.name),
                Reason::Key => format!("This user has no permissions to access the '{}' key", arg()),
                _ => format!("This user has no permissions to access the '{}' channel", arg()),
            };
            c.out.bulk(text.as_bytes());
        }
    }
}

/// Redis's protected-mode refusal, written to a non-loopback client before closing it.
pub const DENIED: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

/// `islocalClient`: a Unix socket, or exactly 127.0.0.1 or ::1 (other 127/8 addresses are not
/// loopback to Redis).
pub fn is_local(addr: &str, unix: bool) -> bool {
    if unix {
        return true;
    }
    let ip = addr.rsplit_once(':').map_or(addr, |(ip, _)| ip);
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    ip == "127.0.0.1" || ip == "::1"
}

/// The users at start-up: `user` lines of the config, or the aclfile (not both, as Redis),
/// with requirepass applied to the default user first.
pub fn startup_users(config: &crate::config::Config) -> Result<Users, String> {
    let pubsub_all = config.get("acl-pubsub-default").is_some_and(|v| v.eq_ignore_ascii_case("allchannels"));
    let file = config.get_bytes(b"aclfile").filter(|p| !p.is_empty());
    if file.is_some() && !config.user_lines().is_empty() {
        return Err("Configuring Redis with users defined in redis.conf and at the same setting an ACL file path is invalid. This setup is very likely to lead to configuration errors and security holes, please define either an ACL file or declare users directly in your redis.conf, but not both.".into());
    }
    let mut users = Users::default();
    if let Some(p) = config.requirepass() {
        let mut d = User::default_user();
        let mut op = b">".to_vec();
        op.extend_from_slice(&p);
        let _ = d.apply(&op, false);
        users.map.insert(b"default".to_vec(), Arc::new(d));
    }
    if !config.user_lines().is_empty() {
        let mut configured = acl::users_from_config(config.user_lines(), pubsub_all)?;
        if !config.user_lines().iter().any(|l| l.first().is_some_and(|n| n == b"default")) {
            configured.map.insert(b"default".to_vec(), users.default_user());
        }
        users = configured;
    }
    if let Some(f) = file {
        let path = String::from_utf8_lossy(&f).into_owned();
        let content = std::fs::read(&path).map_err(|e| {
            format!(
                "Aborting Redis startup because of ACL errors: Error loading ACLs, opening file '{path}': {}",
                crate::config::strerror(&e)
            )
        })?;
        // A file without a default user gets a fresh one (on, nopass), requirepass or not,
        // as Redis's ACLLoadFromFile does.
        users = acl::parse_aclfile(&content, &path, pubsub_all)
            .map_err(|e| format!("Aborting Redis startup because of ACL errors: {e}"))?;
    }
    Ok(users)
}

#[cfg(test)]
mod tests {
    use super::is_local;

    #[test]
    fn only_exact_loopback_addresses_are_local() {
        assert!(is_local("127.0.0.1:5000", false));
        assert!(is_local("[::1]:5000", false));
        assert!(is_local("/tmp/redis.sock:0", true));
        // Loopback to the kernel, not to Redis's islocalClient.
        assert!(!is_local("127.0.0.2:5000", false));
        assert!(!is_local("[::ffff:127.0.0.1]:5000", false));
        assert!(!is_local("10.0.0.1:5000", false));
    }
}
