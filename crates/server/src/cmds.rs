//! Commands that need server state rather than just the keyspace: connection (AUTH, HELLO,
//! SELECT, CLIENT ...), COMMAND, CONFIG, INFO, DBSIZE, FLUSHALL/FLUSHDB, TIME, SHUTDOWN.
//! Replies and errors follow Redis 7.0.15 word for word.

use crate::info;
use crate::pubsub::SubKind;
use crate::shared::{now_us, Msg};
use crate::worker::{Conn, Env, ReplyMode};
use commands::args::{eq_ic, parse_i64};
use commands::{errors, key_positions, keys_and_flags, Entry, Kind, Registry};
use keyspace::SLOT_COUNT;
use std::sync::atomic::Ordering;

pub const PING: u16 = 1;
pub const ECHO: u16 = 2;
pub const QUIT: u16 = 3;
pub const SELECT: u16 = 4;
pub const AUTH: u16 = 5;
pub const HELLO: u16 = 6;
pub const RESET: u16 = 7;
pub const CLIENT_ID: u16 = 10;
pub const CLIENT_GETNAME: u16 = 11;
pub const CLIENT_SETNAME: u16 = 12;
pub const CLIENT_INFO: u16 = 13;
pub const CLIENT_LIST: u16 = 14;
pub const CLIENT_KILL: u16 = 15;
pub const CLIENT_PAUSE: u16 = 16;
pub const CLIENT_UNPAUSE: u16 = 17;
pub const CLIENT_REPLY: u16 = 18;
pub const CLIENT_NO_EVICT: u16 = 19;
pub const CLIENT_HELP: u16 = 20;
pub const CLIENT_UNBLOCK: u16 = 21;
pub const CLIENT_TRACKING: u16 = 22;
pub const CLIENT_CACHING: u16 = 23;
pub const CLIENT_GETREDIR: u16 = 24;
pub const CLIENT_TRACKINGINFO: u16 = 25;
pub const COMMAND: u16 = 30;
pub const COMMAND_COUNT: u16 = 31;
pub const COMMAND_INFO: u16 = 32;
pub const COMMAND_DOCS: u16 = 33;
pub const COMMAND_LIST: u16 = 34;
pub const COMMAND_GETKEYS: u16 = 35;
pub const COMMAND_GETKEYSANDFLAGS: u16 = 36;
pub const COMMAND_HELP: u16 = 37;
pub const CONFIG_GET: u16 = 40;
pub const CONFIG_SET: u16 = 41;
pub const CONFIG_RESETSTAT: u16 = 42;
pub const CONFIG_REWRITE: u16 = 43;
pub const CONFIG_HELP: u16 = 44;
pub const INFO: u16 = 50;
pub const DBSIZE: u16 = 51;
pub const FLUSHALL: u16 = 52;
pub const FLUSHDB: u16 = 53;
pub const TIME: u16 = 54;
pub const SHUTDOWN: u16 = 55;
pub const LASTSAVE: u16 = 56;
pub const SAVE: u16 = 57;
pub const BGSAVE: u16 = 58;
pub const DEBUG: u16 = 59;
pub const MULTI: u16 = 60;
pub const EXEC: u16 = 61;
pub const DISCARD: u16 = 62;
pub const WATCH: u16 = 63;
pub const UNWATCH: u16 = 64;
pub const SUBSCRIBE: u16 = 70;
pub const UNSUBSCRIBE: u16 = 71;
pub const PSUBSCRIBE: u16 = 72;
pub const PUNSUBSCRIBE: u16 = 73;
pub const SSUBSCRIBE: u16 = 74;
pub const SUNSUBSCRIBE: u16 = 75;
pub const PUBLISH: u16 = 76;
pub const SPUBLISH: u16 = 77;
pub const PUBSUB: u16 = 78;
pub const BGREWRITEAOF: u16 = 79;
pub const MIGRATE: u16 = 80;
pub const SLOWLOG: u16 = 90;
pub const LATENCY: u16 = 91;
pub const MONITOR: u16 = 92;
pub const REPLCONF: u16 = 100;
pub const PSYNC: u16 = 101;
pub const REPLICAOF: u16 = 102;
pub const ROLE: u16 = 103;
pub const WAIT: u16 = 104;
pub const FAILOVER: u16 = 105;
pub const EVAL: u16 = 110;
pub const EVALSHA: u16 = 111;
pub const EVAL_RO: u16 = 112;
pub const EVALSHA_RO: u16 = 113;
pub const SCRIPT: u16 = 114;
pub const MEMORY: u16 = 121;
pub const FUNCTION: u16 = 122;
pub const FCALL: u16 = 123;
pub const FCALL_RO: u16 = 124;
pub const LOLWUT: u16 = 130;

/// Commands that run at once even inside MULTI instead of being queued (as in Redis).
pub fn runs_inside_multi(entry: &Entry) -> bool {
    matches!(entry.kind, Kind::Server(EXEC | DISCARD | MULTI | WATCH | QUIT | RESET))
}

/// Registers the server-state commands beside the data commands.
pub fn register(r: &mut Registry) {
    let table: &[(&str, u16)] = &[
        ("ping", PING),
        ("echo", ECHO),
        ("quit", QUIT),
        ("select", SELECT),
        ("auth", AUTH),
        ("hello", HELLO),
        ("reset", RESET),
        ("client|id", CLIENT_ID),
        ("client|getname", CLIENT_GETNAME),
        ("client|setname", CLIENT_SETNAME),
        ("client|info", CLIENT_INFO),
        ("client|list", CLIENT_LIST),
        ("client|kill", CLIENT_KILL),
        ("client|pause", CLIENT_PAUSE),
        ("client|unpause", CLIENT_UNPAUSE),
        ("client|reply", CLIENT_REPLY),
        ("client|no-evict", CLIENT_NO_EVICT),
        ("client|help", CLIENT_HELP),
        ("client|unblock", CLIENT_UNBLOCK),
        ("client|tracking", CLIENT_TRACKING),
        ("client|caching", CLIENT_CACHING),
        ("client|getredir", CLIENT_GETREDIR),
        ("client|trackinginfo", CLIENT_TRACKINGINFO),
        ("command", COMMAND),
        ("command|count", COMMAND_COUNT),
        ("command|info", COMMAND_INFO),
        ("command|docs", COMMAND_DOCS),
        ("command|list", COMMAND_LIST),
        ("command|getkeys", COMMAND_GETKEYS),
        ("command|getkeysandflags", COMMAND_GETKEYSANDFLAGS),
        ("command|help", COMMAND_HELP),
        ("config|get", CONFIG_GET),
        ("config|set", CONFIG_SET),
        ("config|resetstat", CONFIG_RESETSTAT),
        ("config|rewrite", CONFIG_REWRITE),
        ("config|help", CONFIG_HELP),
        ("info", INFO),
        ("dbsize", DBSIZE),
        ("flushall", FLUSHALL),
        ("flushdb", FLUSHDB),
        ("time", TIME),
        ("shutdown", SHUTDOWN),
        ("lastsave", LASTSAVE),
        ("save", SAVE),
        ("bgsave", BGSAVE),
        ("bgrewriteaof", BGREWRITEAOF),
        ("debug", DEBUG),
        ("multi", MULTI),
        ("exec", EXEC),
        ("discard", DISCARD),
        ("watch", WATCH),
        ("unwatch", UNWATCH),
        ("subscribe", SUBSCRIBE),
        ("unsubscribe", UNSUBSCRIBE),
        ("psubscribe", PSUBSCRIBE),
        ("punsubscribe", PUNSUBSCRIBE),
        ("ssubscribe", SSUBSCRIBE),
        ("sunsubscribe", SUNSUBSCRIBE),
        ("publish", PUBLISH),
        ("spublish", SPUBLISH),
        ("pubsub|channels", PUBSUB),
        ("pubsub|numsub", PUBSUB),
        ("pubsub|numpat", PUBSUB),
        ("pubsub|shardchannels", PUBSUB),
        ("pubsub|shardnumsub", PUBSUB),
        ("pubsub|help", PUBSUB),
        ("migrate", MIGRATE),
        ("slowlog|get", SLOWLOG),
        ("slowlog|len", SLOWLOG),
        ("slowlog|reset", SLOWLOG),
        ("slowlog|help", SLOWLOG),
        ("latency|latest", LATENCY),
        ("latency|history", LATENCY),
        ("latency|reset", LATENCY),
        ("latency|graph", LATENCY),
        ("latency|doctor", LATENCY),
        ("latency|histogram", LATENCY),
        ("latency|help", LATENCY),
        ("monitor", MONITOR),
        ("replconf", REPLCONF),
        ("psync", PSYNC),
        ("sync", PSYNC),
        ("replicaof", REPLICAOF),
        ("slaveof", REPLICAOF),
        ("role", ROLE),
        ("wait", WAIT),
        ("failover", FAILOVER),
        ("acl|cat", crate::acl_cmds::ACL),
        ("acl|deluser", crate::acl_cmds::ACL),
        ("acl|dryrun", crate::acl_cmds::ACL),
        ("acl|genpass", crate::acl_cmds::ACL),
        ("acl|getuser", crate::acl_cmds::ACL),
        ("acl|help", crate::acl_cmds::ACL),
        ("acl|list", crate::acl_cmds::ACL),
        ("acl|load", crate::acl_cmds::ACL),
        ("acl|log", crate::acl_cmds::ACL),
        ("acl|save", crate::acl_cmds::ACL),
        ("acl|setuser", crate::acl_cmds::ACL),
        ("acl|users", crate::acl_cmds::ACL),
        ("acl|whoami", crate::acl_cmds::ACL),
        ("eval", EVAL),
        ("evalsha", EVALSHA),
        ("eval_ro", EVAL_RO),
        ("evalsha_ro", EVALSHA_RO),
        ("script|load", SCRIPT),
        ("script|exists", SCRIPT),
        ("script|flush", SCRIPT),
        ("script|kill", SCRIPT),
        ("script|debug", SCRIPT),
        ("script|help", SCRIPT),
        ("function|load", FUNCTION),
        ("function|delete", FUNCTION),
        ("function|flush", FUNCTION),
        ("function|list", FUNCTION),
        ("function|dump", FUNCTION),
        ("function|restore", FUNCTION),
        ("function|stats", FUNCTION),
        ("function|kill", FUNCTION),
        ("function|help", FUNCTION),
        ("fcall", FCALL),
        ("fcall_ro", FCALL_RO),
        ("memory|stats", MEMORY),
        ("memory|doctor", MEMORY),
        ("memory|malloc-stats", MEMORY),
        ("memory|purge", MEMORY),
        ("lolwut", LOLWUT),
    ];
    for &(name, id) in table {
        r.add(name, Kind::Server(id));
    }
    use crate::cluster_node::commands as cluster_cmds;
    for sub in cluster_cmds::SUBCOMMANDS {
        r.add(&format!("cluster|{sub}"), Kind::Server(cluster_cmds::CLUSTER));
    }
    r.add("asking", Kind::Server(cluster_cmds::ASKING));
    r.add("readonly", Kind::Server(cluster_cmds::READONLY));
    r.add("readwrite", Kind::Server(cluster_cmds::READWRITE));
}

/// Redis's client classes (`getClientType`): replication links aside, a client holding a
/// subscription is `pubsub`, any other `normal`.
fn client_type(cl: &crate::shared::ClientShared) -> &'static str {
    match cl.kind.load(Ordering::Relaxed) {
        crate::replication::CLIENT_MASTER => return "master",
        crate::replication::CLIENT_REPLICA => return "slave",
        _ => {}
    }
    if cl.is_pubsub() {
        "pubsub"
    } else {
        "normal"
    }
}

/// The class a CLIENT LIST/KILL TYPE argument names (already checked to be one of them).
fn client_type_name(t: &[u8]) -> &'static str {
    if eq_ic(t, "pubsub") {
        "pubsub"
    } else if eq_ic(t, "normal") {
        "normal"
    } else if eq_ic(t, "master") {
        "master"
    } else {
        "slave"
    }
}

fn mode_on(flags: u8) -> bool {
    flags & crate::tracking::ON != 0
}

fn help(c: &mut Conn, lines: &[&str]) {
    c.out.array(lines.len());
    for l in lines {
        c.out.simple(l);
    }
}

/// Client names may not contain spaces or non-printable characters (Redis's rule).
fn valid_client_name(name: &[u8]) -> bool {
    name.iter().all(|&b| (b'!'..=b'~').contains(&b))
}

impl Env {
    pub fn server_command(&mut self, c: &mut Conn, entry: &Entry, id: u16, args: &[&[u8]], now: i64) {
        let shared = self.shared;
        let in_exec = self.in_exec;
        match id {
            // A RESP2 client in the subscribed context gets PING's answer in the shape of a
            // pub/sub message, so it can tell it from the messages around it.
            PING if c.subs.is_some() && !c.resp3() => match args.len() {
                1 | 2 => {
                    c.out.array(2);
                    c.out.bulk(b"pong");
                    c.out.bulk(args.get(1).copied().unwrap_or(b""));
                }
                _ => c.out.error(&errors::wrong_arity("ping")),
            },
            PING => match args.len() {
                1 => c.out.simple("PONG"),
                2 => c.out.bulk(args[1]),
                _ => c.out.error(&errors::wrong_arity("ping")),
            },
            SUBSCRIBE => self.subscribe(c, SubKind::Channel, &args[1..]),
            PSUBSCRIBE => self.subscribe(c, SubKind::Pattern, &args[1..]),
            SSUBSCRIBE => {
                // Redis refuses SSUBSCRIBE to a client that expects one reply per command, and
                // counts a transaction's client as one (unlike SUBSCRIBE, kept for backward
                // compatibility).
                if in_exec {
                    c.out.error("ERR SSUBSCRIBE isn't allowed for a DENY BLOCKING client");
                } else {
                    self.subscribe(c, SubKind::Shard, &args[1..])
                }
            }
            UNSUBSCRIBE => self.unsubscribe(c, SubKind::Channel, &args[1..], true),
            PUNSUBSCRIBE => self.unsubscribe(c, SubKind::Pattern, &args[1..], true),
            SUNSUBSCRIBE => self.unsubscribe(c, SubKind::Shard, &args[1..], true),
            PUBLISH | SPUBLISH => {
                let n = self.publish(Some(&mut *c), id == SPUBLISH, args[1], args[2]);
                if let Some(node) = self.cluster {
                    node.propagate_publish(&shared.ks, id == SPUBLISH, args[1], args[2]);
                }
                c.out.int(n as i64);
            }
            PUBSUB => self.pubsub_command(c, args),
            crate::cluster_node::commands::CLUSTER..=crate::cluster_node::commands::READWRITE => {
                crate::cluster_node::commands::run(self, c, id, args)
            }
            MIGRATE => self.migrate(c, args),
            SLOWLOG => self.slowlog_command(c, args),
            MEMORY => self.memory_command(c, args),
            LOLWUT => match crate::lolwut::lolwut(&args[1..]) {
                Ok(text) => c.out.verbatim("txt", &text),
                Err(e) => c.out.error(e),
            },
            LATENCY => self.latency_command(c, args),
            MONITOR => self.monitor_command(c),
            REPLCONF..=FAILOVER => self.replication_command(c, id, args, now),
            ECHO => c.out.bulk(args[1]),
            QUIT => {
                c.out.ok();
                c.close_after_write = true;
                // Gone for other clients from now on, though the socket closes only after the
                // reply is written: whoever saw this OK and then looks the client up (a
                // tracker's REDIRECT on another worker) must not find it, as in Redis, where
                // the reply and the free happen in one step of the single thread.
                shared.clients.lock().remove(&c.info.id);
            }
            SELECT => match parse_i64(args[1]) {
                None => c.out.error(errors::NOT_INTEGER),
                Some(id) if id != 0 && self.data_config.cluster_enabled => {
                    c.out.error("ERR SELECT is not allowed in cluster mode")
                }
                Some(n) if n < 0 || n >= shared.ks.db_count() as i64 => c.out.error(errors::DB_INDEX_OUT_OF_RANGE),
                Some(n) => {
                    c.db = n as u32;
                    c.info.db.store(n as u32, Ordering::Relaxed);
                    c.out.ok();
                }
            },
            AUTH => self.auth_command(c, args),
            crate::acl_cmds::ACL => self.acl_command(c, args),
            HELLO => self.hello(c, args),
            RESET => {
                self.unsubscribe_all(c);
                if c.info.monitor.swap(false, Ordering::AcqRel) {
                    crate::introspect::monitor_stop(shared, c.info.id);
                }
                self.discard_transaction(c);
                shared.tracking.disable(&c.info);
                c.tracking_caching = false;
                c.db = 0;
                c.info.db.store(0, Ordering::Relaxed);
                c.out.set_resp3(false);
                c.info.resp.store(2, Ordering::Relaxed);
                *c.info.name.lock() = None;
                c.reply_mode = ReplyMode::On;
                c.info.no_evict.store(false, Ordering::Relaxed);
                self.reset_user(c);
                c.out.simple("RESET");
            }
            CLIENT_ID => c.out.int(c.info.id as i64),
            CLIENT_GETNAME => match c.info.name.lock().as_ref() {
                Some(n) => c.out.bulk(n),
                None => c.out.null(),
            },
            CLIENT_SETNAME => {
                if !valid_client_name(args[2]) {
                    c.out.error("ERR Client names cannot contain spaces, newlines or special characters.");
                } else {
                    *c.info.name.lock() = if args[2].is_empty() { None } else { Some(args[2].to_vec()) };
                    c.out.ok();
                }
            }
            CLIENT_INFO => {
                c.info.qbuf.store(c.pending_input() as u64, Ordering::Relaxed);
                let line = info::client_line(shared, &c.info, now);
                c.out.verbatim("txt", format!("{line}\n").as_bytes());
            }
            CLIENT_LIST => {
                c.info.qbuf.store(c.pending_input() as u64, Ordering::Relaxed);
                self.client_list(c, args, now)
            }
            CLIENT_KILL => self.client_kill(c, args),
            CLIENT_PAUSE => {
                let Some(ms) = parse_i64(args[2]).filter(|&n| n >= 0) else {
                    c.out.error("ERR timeout is not an integer or out of range");
                    return;
                };
                let write_only = match args.get(3) {
                    None => false,
                    Some(m) if eq_ic(m, "all") => false,
                    Some(m) if eq_ic(m, "write") => true,
                    Some(_) => {
                        c.out.error("ERR CLIENT PAUSE mode must be WRITE or ALL");
                        return;
                    }
                };
                if args.len() > 4 {
                    c.out.error(errors::SYNTAX);
                    return;
                }
                let mut p = shared.pause.lock();
                let until = now.saturating_add(ms);
                // A later pause extends an earlier one, and ALL wins over WRITE while both last.
                if until > p.until_ms || p.until_ms <= now {
                    p.until_ms = until;
                }
                p.write_only = if shared.pause_until_ms.load(Ordering::Relaxed) > now {
                    p.write_only && write_only
                } else {
                    write_only
                };
                shared.pause_until_ms.store(p.until_ms, Ordering::Relaxed);
                c.out.ok();
            }
            CLIENT_UNPAUSE => {
                let mut p = shared.pause.lock();
                p.until_ms = 0;
                shared.pause_until_ms.store(0, Ordering::Relaxed);
                drop(p);
                for w in shared.workers() {
                    w.send(Msg::Poke);
                }
                c.out.ok();
            }
            CLIENT_REPLY => {
                if eq_ic(args[2], "on") {
                    c.reply_mode = ReplyMode::On;
                    c.out.ok();
                } else if eq_ic(args[2], "off") {
                    c.reply_mode = ReplyMode::Off;
                } else if eq_ic(args[2], "skip") {
                    if c.reply_mode == ReplyMode::On {
                        c.reply_mode = ReplyMode::SkipNext;
                    }
                } else {
                    c.out.error(errors::SYNTAX);
                }
            }
            CLIENT_NO_EVICT => {
                if eq_ic(args[2], "on") {
                    c.info.no_evict.store(true, Ordering::Relaxed);
                    c.out.ok();
                } else if eq_ic(args[2], "off") {
                    c.info.no_evict.store(false, Ordering::Relaxed);
                    c.out.ok();
                } else {
                    c.out.error(errors::SYNTAX);
                }
            }
            CLIENT_HELP => help(c, info::CLIENT_HELP),
            CLIENT_UNBLOCK => self.client_unblock(c, args),
            CLIENT_TRACKING..=CLIENT_TRACKINGINFO => self.client_tracking(c, id, args),
            COMMAND => {
                let entries: Vec<&Entry> = shared.registry.entries().collect();
                c.out.array(entries.len());
                for e in entries {
                    e.meta.info.write(&mut c.out);
                }
            }
            COMMAND_COUNT => c.out.int(shared.registry.entries().count() as i64),
            COMMAND_INFO => {
                if args.len() == 2 {
                    let entries: Vec<&Entry> = shared.registry.entries().collect();
                    c.out.array(entries.len());
                    for e in entries {
                        e.meta.info.write(&mut c.out);
                    }
                } else {
                    c.out.array(args.len() - 2);
                    for name in &args[2..] {
                        match self.find_full(name) {
                            Some(m) => m.info.write(&mut c.out),
                            // Redis answers a null bulk string here (`$-1` in RESP2), not a null array.
                            None => c.out.null(),
                        }
                    }
                }
            }
            COMMAND_DOCS => {
                let metas: Vec<&'static commands::CommandMeta> = if args.len() == 2 {
                    shared.registry.entries().map(|e| e.meta).collect()
                } else {
                    args[2..].iter().filter_map(|n| self.find_full(n)).collect()
                };
                c.out.map(metas.len());
                for m in metas {
                    c.out.bulk(m.name.as_bytes());
                    match m.docs() {
                        Some(d) => d.write(&mut c.out),
                        None => c.out.map(0),
                    }
                }
            }
            COMMAND_LIST => self.command_list(c, args),
            COMMAND_GETKEYS | COMMAND_GETKEYSANDFLAGS => self.command_getkeys(c, args, id == COMMAND_GETKEYSANDFLAGS),
            COMMAND_HELP => help(c, info::COMMAND_HELP),
            CONFIG_GET => {
                let pairs = shared.config.read().config_get(&args[2..]);
                c.out.map(pairs.len());
                for (k, v) in pairs {
                    c.out.bulk(k.as_bytes());
                    c.out.bulk(v.as_bytes());
                }
            }
            CONFIG_SET => {
                if !(args.len() - 2).is_multiple_of(2) {
                    c.out.error(errors::SYNTAX);
                    return;
                }
                let pairs: Vec<(&[u8], &[u8])> = args[2..].chunks(2).map(|p| (p[0], p[1])).collect();
                // `enable-protected-configs local` lets loopback and unix-socket clients set them.
                let local = c.info.unix || c.info.addr.starts_with("127.") || c.info.addr.starts_with("[::1]");
                // Redis refuses deny-loading directives during either kind of load (its `server.loading`
                // is set for an async one too).
                let loading = crate::replication::loading() || crate::replication::async_loading();
                let cx = crate::config::SetContext { client_is_local: local, loading };
                let result = shared.config.write().config_set_with(&pairs, cx, &mut |cfg, changed| {
                    if changed.iter().any(|n| n == "port" || n == "bind") {
                        crate::relisten(shared, cfg)?;
                    }
                    if changed.iter().any(|n| n == "proc-title-template") {
                        crate::proctitle::refresh(cfg);
                    }
                    if let Some(name) = changed.iter().find(|n| *n == "oom-score-adj" || *n == "oom-score-adj-values") {
                        crate::oom_score::apply(cfg, crate::replication::is_replica())
                            .map_err(|()| (name.clone(), crate::oom_score::APPLY_FAILED.to_string()))?;
                    }
                    Ok(())
                });
                match result {
                    Ok(_) => {
                        // Setting requirepass resets the default user's passwords even to the
                        // value it had (Redis's updateRequirePass runs on every set of it).
                        if pairs.iter().any(|(k, _)| eq_ic(k, "requirepass")) {
                            shared.acl.set_requirepass(shared.config.read().requirepass());
                        }
                        if pairs.iter().any(|(k, _)| eq_ic(k, "repl-backlog-size")) {
                            crate::replication::resize_backlog(shared);
                        }
                        shared.refresh_from_config();
                        self.refresh_data_config();
                        match crate::aof::config_changed(shared, in_exec) {
                            Ok(()) => c.out.ok(),
                            Err(text) => c.out.error(&text),
                        }
                    }
                    Err(text) => c.out.error(&text),
                }
            }
            CONFIG_RESETSTAT => {
                for w in shared.workers() {
                    w.stats.reset();
                }
                shared.stats.rejected_connections.store(0, Ordering::Relaxed);
                shared.stats.expired_keys.store(0, Ordering::Relaxed);
                crate::replication::reset_stats();
                shared.stats.evicted_keys.store(0, Ordering::Relaxed);
                shared.stats.evicted_clients.store(0, Ordering::Relaxed);
                commands::LAZYFREED_OBJECTS.store(0, Ordering::Relaxed);
                shared.stat_reset_ms.store(now, Ordering::Relaxed);
                c.out.ok();
            }
            CONFIG_REWRITE => match self.config_rewrite() {
                Ok(()) => c.out.ok(),
                Err(text) => c.out.error(&text),
            },
            CONFIG_HELP => help(c, info::CONFIG_HELP),
            INFO => {
                let sections: Vec<String> =
                    args[1..].iter().map(|a| String::from_utf8_lossy(a).to_ascii_lowercase()).collect();
                let mut counts = Vec::new();
                let mut expired = 0u64;
                for db in 0..shared.ks.db_count() {
                    let (mut keys, mut expires) = (0usize, 0usize);
                    self.for_each_slot_table_read(db, |t| {
                        keys += t.len();
                        expires += t.expires_len();
                        expired += t.expired_count;
                    });
                    counts.push((keys, expires));
                }
                let text = info::render(shared, &sections, now, &counts, expired);
                c.out.verbatim("txt", text.as_bytes());
            }
            DBSIZE => {
                let mut keys = 0usize;
                self.for_each_slot_table_read(c.db as usize, |t| keys += t.len());
                c.out.int(keys as i64);
            }
            FLUSHALL | FLUSHDB => {
                if args.len() > 2 || (args.len() == 2 && !eq_ic(args[1], "async") && !eq_ic(args[1], "sync")) {
                    c.out.error(errors::SYNTAX);
                    return;
                }
                let dbs: Vec<usize> =
                    if id == FLUSHALL { (0..shared.ks.db_count()).collect() } else { vec![c.db as usize] };
                for &d in &dbs {
                    self.touch_all_watched_keys_in_db(d as u32, d as u32, None, now);
                }
                let mut removed = 0u64;
                if in_exec {
                    // EXEC locked every slot of these databases already: clear through its
                    // locks (locking again would wait on ourselves), logged within its unit.
                    for d in dbs {
                        self.for_each_slot_table(d, |t| {
                            removed += t.len() as u64;
                            t.clear();
                        });
                    }
                    crate::aof::propagate_server_write(c.db, args.iter().map(|a| a.to_vec()).collect());
                } else if crate::aof::enabled() {
                    removed = crate::aof::flush_logged(shared, &dbs, c.db, args);
                } else {
                    for d in dbs {
                        if let Some(db) = shared.ks.db_if_used(d) {
                            for slot in 0..keyspace::SLOT_COUNT {
                                let mut t = db.lock_slot(slot as u16);
                                removed += t.len() as u64;
                                t.clear();
                            }
                        }
                    }
                }
                shared.stats.dirty.fetch_add(removed, Ordering::Relaxed);
                if !in_exec {
                    self.wake_vanished_stream_readers();
                }
                if id == FLUSHALL {
                    // Redis's flushAllDataAndResetRDB: a BGSAVE under way would save what is gone, so
                    // it is stopped; with save points the empty dataset is saved at once. Not inside
                    // EXEC (the save locks every slot, which the transaction holds), nor for our
                    // master's FLUSHALL on a replica (the save takes the apply lock the master
                    // client holds while it applies): there the save points save it later.
                    crate::persistence::kill_bgsave(shared);
                    // 7.0.15 counts only the keys removed (7.2 adds one more): after this save
                    // rdb_changes_since_last_save is 0, as unit/other checks.
                    if !in_exec && !c.master && !shared.config.read().save_params().is_empty() {
                        let _ = crate::persistence::save(shared);
                    }
                }
                self.track_flush();
                self.write_track_immediate(c);
                c.out.ok();
            }
            TIME => {
                let us = now_us();
                c.out.array(2);
                c.out.bulk((us / 1_000_000).to_string().as_bytes());
                c.out.bulk((us % 1_000_000).to_string().as_bytes());
            }
            LASTSAVE => c.out.int(shared.lastsave_s.load(Ordering::Relaxed)),
            DEBUG => self.debug_command(c, args, now),
            BGREWRITEAOF => match crate::aof::bgrewriteaof(shared, in_exec) {
                Ok(text) => c.out.simple(text),
                Err(text) => c.out.error(&text),
            },
            BGSAVE => {
                let schedule = match args.get(1) {
                    None => false,
                    Some(a) if eq_ic(a, "schedule") && args.len() == 2 => true,
                    Some(_) => {
                        c.out.error(errors::SYNTAX);
                        return;
                    }
                };
                match crate::persistence::bgsave(shared) {
                    Ok(()) => c.out.simple("Background saving started"),
                    Err(_) if schedule => {
                        shared.persist.lock().bgsave_scheduled = true;
                        c.out.simple("Background saving scheduled");
                    }
                    Err(e) => c.out.error(e),
                }
            }
            SAVE => {
                if shared.persist.lock().saving {
                    c.out.error("ERR Background save already in progress");
                } else if crate::persistence::save(shared).is_ok() {
                    c.out.ok();
                } else {
                    c.out.error("ERR");
                }
            }
            SHUTDOWN => {
                let mut flags = 0;
                let mut abort = false;
                for a in &args[1..] {
                    match () {
                        _ if eq_ic(a, "nosave") => flags |= crate::shutdown::NOSAVE,
                        _ if eq_ic(a, "save") => flags |= crate::shutdown::SAVE,
                        _ if eq_ic(a, "now") => flags |= crate::shutdown::NOW,
                        _ if eq_ic(a, "force") => flags |= crate::shutdown::FORCE,
                        _ if eq_ic(a, "abort") => abort = true,
                        _ => {
                            c.out.error(errors::SYNTAX);
                            return;
                        }
                    }
                }
                let both = crate::shutdown::SAVE | crate::shutdown::NOSAVE;
                if (abort && flags != 0) || flags & both == both {
                    c.out.error(errors::SYNTAX);
                    return;
                }
                if abort {
                    if crate::shutdown::abort(shared) {
                        c.out.ok();
                    } else {
                        c.out.error("ERR No shutdown in progress.");
                    }
                    return;
                }
                // Waiting for replicas blocks the caller, which a transaction cannot.
                if flags & crate::shutdown::NOW == 0 && self.in_exec {
                    c.out.error("ERR SHUTDOWN without NOW or ABORT isn't allowed for DENY BLOCKING client");
                    return;
                }
                // Redis's shutdownCommand: during a busy script only NOSAVE (saving would wait
                // for the script's data).
                if crate::scripting::busy() && flags & crate::shutdown::NOSAVE == 0 {
                    c.out.error(crate::scripting::busy_error());
                    return;
                }
                match crate::shutdown::prepare(shared, flags, now) {
                    crate::shutdown::Outcome::Exit => {
                        crate::request_shutdown(shared);
                        c.close_after_write = true;
                    }
                    crate::shutdown::Outcome::Waiting(cancels) => self.block_in_shutdown(c, cancels),
                    crate::shutdown::Outcome::Failed => c.out.error(crate::shutdown::FAILED_REPLY),
                }
            }
            MULTI => {
                if c.multi.is_some() {
                    c.out.error("ERR MULTI calls can not be nested");
                } else {
                    c.multi = Some(Vec::new());
                    c.multi_queued_bytes = 0;
                    c.info.multi_len.store(0, Ordering::Relaxed);
                    c.out.ok();
                }
            }
            DISCARD => {
                if c.multi.is_none() {
                    c.out.error("ERR DISCARD without MULTI");
                } else {
                    self.discard_transaction(c);
                    c.out.ok();
                }
            }
            EXEC => self.exec(c, now),
            EVAL => self.eval_command(c, args, now, false, false),
            EVALSHA => self.eval_command(c, args, now, true, false),
            EVAL_RO => self.eval_command(c, args, now, false, true),
            EVALSHA_RO => self.eval_command(c, args, now, true, true),
            SCRIPT => self.script_command(c, args),
            FUNCTION => self.function_command(c, args),
            FCALL => self.fcall_command(c, args, now, false),
            FCALL_RO => self.fcall_command(c, args, now, true),
            WATCH => {
                if c.multi.is_some() {
                    c.out.error("ERR WATCH inside MULTI is not allowed");
                    return;
                }
                for key in &args[1..] {
                    if c.watched.iter().any(|(d, k, _)| *d == c.db && k.as_bytes() == *key) {
                        continue;
                    }
                    // A key that already expired when watched does not fail EXEC by expiring.
                    let (expire_at, expired) = {
                        let t = shared.ks.db(c.db as usize).lock_slot(keyspace::key_hash_slot(key));
                        (t.expire_at(key).filter(|&at| at > now), t.holds(key) && t.is_expired(key, now))
                    };
                    let k = keyspace::Sds::new(key);
                    let watcher = crate::shared::Watcher { client_id: c.info.id, expired };
                    shared.watches.lock().entry((c.db, k.clone())).or_default().push(watcher);
                    shared.watch_count.fetch_add(1, Ordering::SeqCst);
                    c.watched.push((c.db, k, expire_at));
                }
                c.out.ok();
            }
            UNWATCH => {
                self.unwatch_all(c);
                c.out.ok();
            }
            _ => c.out.error(&errors::unknown_command(args)),
        }
        let _ = entry;
    }

    /// EXEC: runs the queued commands atomically. Every slot any of them touches is locked
    /// first, in ascending order (the whole database for commands without keys, such as KEYS
    /// or FLUSHDB), so no other client sees a state between two of them and no lock order can
    /// deadlock. Blocking commands behave as if they timed out.
    fn exec(&mut self, c: &mut Conn, now: i64) {
        let shared = self.shared;
        let Some(queued) = c.multi.take() else {
            c.out.error("ERR EXEC without MULTI");
            return;
        };
        c.multi_queued_bytes = 0;
        c.info.multi_len.store(-1, Ordering::Relaxed);
        let aborted = std::mem::take(&mut c.multi_aborted);
        let watch_failed = c.info.watch_dirty.load(Ordering::SeqCst)
            || c.watched.iter().any(|(_, _, exp)| matches!(exp, Some(at) if *at <= now));
        self.unwatch_all(c);
        if aborted {
            c.out.error("EXECABORT Transaction discarded because of previous errors.");
            return;
        }
        if watch_failed {
            c.out.null_array();
            return;
        }
        let mut wanted: Vec<(u32, u16)> = Vec::new();
        let mut db = c.db;
        let all_slots = |wanted: &mut Vec<(u32, u16)>, db: u32| wanted.extend((0..SLOT_COUNT as u16).map(|s| (db, s)));
        let mut pos = Vec::new();
        for argv in &queued {
            let args: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
            let Ok(entry) = shared.registry.lookup(&args) else {
                continue;
            };
            match entry.kind {
                Kind::Data(_) => {
                    if key_positions(entry.meta, &args, &mut pos).is_ok() && !pos.is_empty() {
                        wanted.extend(pos.iter().map(|&p| (db, keyspace::key_hash_slot(args[p]))));
                    } else {
                        // Keyless data commands (KEYS, SCAN, RANDOMKEY, SWAPDB) walk whole databases.
                        for d in 0..shared.ks.db_count() as u32 {
                            if d == db || shared.ks.db_if_used(d as usize).is_some() {
                                all_slots(&mut wanted, d);
                            }
                        }
                    }
                }
                Kind::Server(SELECT) => {
                    if let Some(n) = parse_i64(args[1]).filter(|&n| n >= 0 && (n as usize) < shared.ks.db_count()) {
                        db = n as u32;
                    }
                }
                Kind::Server(MIGRATE) => {
                    wanted.extend(crate::migrate::key_args(&args).iter().map(|k| (db, keyspace::key_hash_slot(k))))
                }
                Kind::Server(EVAL | EVALSHA | EVAL_RO | EVALSHA_RO) => {
                    crate::scripting::command_slots(self, entry, &args, db, &mut wanted)
                }
                Kind::Server(FLUSHDB | DBSIZE) => all_slots(&mut wanted, db),
                Kind::Server(FLUSHALL | INFO) => {
                    for d in 0..shared.ks.db_count() as u32 {
                        if shared.ks.db_if_used(d as usize).is_some() {
                            all_slots(&mut wanted, d);
                        }
                    }
                }
                _ => {}
            }
        }
        self.clear_effects();
        self.lock_for_transaction(&mut wanted);
        c.out.array(queued.len());
        for argv in &queued {
            let args: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
            let entry = match shared.registry.lookup(&args) {
                Ok(e) => e,
                Err(commands::LookupError::Reply(text)) => {
                    c.out.error(&text);
                    continue;
                }
            };
            // Permissions again at EXEC: the rules may have changed since the command was
            // queued (Redis's execCommand).
            if !c.user.unrestricted() && !c.master {
                if let Some(text) = self.acl_denied(c, entry.meta, &args, true) {
                    c.out.error(&text);
                    continue;
                }
            }
            c.info.last_cmd.store(entry.id, Ordering::Relaxed);
            self.stats.commands.add(1);
            // Queued commands are counted, logged and monitored one by one, as Redis's call()
            // does (EXEC is not the hot path: reading the clock per command is fine here).
            let started = std::time::Instant::now();
            let at = c.out.len();
            // SORT's BY/GET need read access to every key (see `Worker::execute`).
            let sort_restricted = !c.user.unrestricted()
                && !c.master
                && matches!(entry.meta.name.as_str(), "sort" | "sort_ro")
                && !c.user.full_key_access(entry.meta, &args, crate::acl::PERM_READ);
            if sort_restricted {
                commands::sort::set_key_read_restricted(true);
            }
            match entry.kind {
                Kind::Data(handler) => self.run_in_transaction(c, entry, handler, &args, now),
                Kind::Server(id) => {
                    self.in_exec = true;
                    self.server_command(c, entry, id, &args, now);
                    self.in_exec = false;
                }
                Kind::Container => c.out.error(&errors::wrong_arity(&entry.meta.name)),
            }
            if sort_restricted {
                commands::sort::set_key_read_restricted(false);
            }
            let took_us = started.elapsed().as_micros() as u64;
            let failed = c.out.len() > at && c.out.buf[at] == b'-';
            if let Some(counters) = self.stats.per_command.get(entry.id as usize) {
                counters.calls.add(1);
                counters.usec.add(took_us);
                if self.latency_tracking {
                    counters.record_latency_us(took_us);
                }
                if failed {
                    counters.failed.add(1);
                }
            }
            if failed {
                let end = c.out.buf[at..].iter().position(|&b| b == b'\r').map_or(c.out.len(), |i| at + i);
                self.stats.count_error(&c.out.buf[at + 1..end]);
            }
            if took_us >= self.introspect_floor_us {
                self.introspect_command(c, entry, &args, took_us);
            }
        }
        self.finish_transaction();
    }

    /// A command or `parent|sub` name, case-insensitive, among the registered ones.
    fn find_full(&self, name: &[u8]) -> Option<&'static commands::CommandMeta> {
        let name = String::from_utf8_lossy(name).to_ascii_lowercase();
        match name.split_once('|') {
            None => self.shared.registry.get(name.as_bytes()).map(|e| e.meta),
            Some((p, s)) => self
                .shared
                .registry
                .get(p.as_bytes())
                .and_then(|e| e.subcommands().find(|sub| sub.meta.name.ends_with(&format!("|{s}"))))
                .map(|e| e.meta),
        }
    }

    /// CONFIG REWRITE. Users are written as `user` lines unless an aclfile holds them (Redis's
    /// rewriteConfigUserOption); the lines are `<name> <rules>`.
    fn config_rewrite(&self) -> Result<(), String> {
        let shared = self.shared;
        let cfg = shared.config.read();
        let users: Vec<String> = if cfg.get_bytes(b"aclfile").is_some_and(|f| !f.is_empty()) {
            Vec::new()
        } else {
            // The config writer works in text: a user whose rules hold other bytes than UTF-8
            // is written lossily there (the aclfile keeps the bytes).
            shared
                .acl
                .lines()
                .into_iter()
                .map(|l| String::from_utf8_lossy(l.strip_prefix(b"user ").unwrap_or(&l)).into_owned())
                .collect()
        };
        cfg.rewrite_with_users(Some(&users))
    }

    fn hello(&mut self, c: &mut Conn, args: &[&[u8]]) {
        let shared = self.shared;
        let mut proto = if c.resp3() { 3 } else { 2 };
        let mut i = 1;
        if args.len() >= 2 {
            match parse_i64(args[1]) {
                None => {
                    c.out.error("ERR Protocol version is not an integer or out of range");
                    return;
                }
                Some(v) if !(2..=3).contains(&v) => {
                    c.out.error("NOPROTO unsupported protocol version");
                    return;
                }
                Some(v) => proto = v,
            }
            i = 2;
        }
        let mut auth: Option<(&[u8], &[u8])> = None;
        let mut setname: Option<&[u8]> = None;
        while i < args.len() {
            let more = args.len() - i - 1;
            if eq_ic(args[i], "auth") && more >= 2 {
                auth = Some((args[i + 1], args[i + 2]));
                i += 3;
            } else if eq_ic(args[i], "setname") && more >= 1 {
                setname = Some(args[i + 1]);
                i += 2;
            } else {
                c.out.error(&format!("ERR Syntax error in HELLO option '{}'", String::from_utf8_lossy(args[i])));
                return;
            }
        }
        if let Some((user, pass)) = auth {
            if !self.authenticate(c, args[0], user, pass) {
                c.out.error(crate::acl_cmds::WRONGPASS);
                return;
            }
        }
        if !c.authenticated && !shared.acl.default_open() {
            c.out.error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
            return;
        }
        if let Some(name) = setname {
            if !valid_client_name(name) {
                c.out.error("ERR Client names cannot contain spaces, newlines or special characters.");
                return;
            }
            *c.info.name.lock() = if name.is_empty() { None } else { Some(name.to_vec()) };
        }
        c.out.set_resp3(proto == 3);
        c.info.resp.store(proto as u8, Ordering::Relaxed);
        c.out.map(7);
        c.out.bulk(b"server");
        c.out.bulk(b"redis");
        c.out.bulk(b"version");
        c.out.bulk(info::REDIS_VERSION.as_bytes());
        c.out.bulk(b"proto");
        c.out.int(proto);
        c.out.bulk(b"id");
        c.out.int(c.info.id as i64);
        c.out.bulk(b"mode");
        c.out.bulk(if self.data_config.cluster_enabled { b"cluster" } else { b"standalone" });
        c.out.bulk(b"role");
        c.out.bulk(b"master");
        c.out.bulk(b"modules");
        c.out.array(0);
    }

    /// CLIENT TRACKING / CACHING / GETREDIR / TRACKINGINFO (the logic is in `tracking`).
    fn client_tracking(&mut self, c: &mut Conn, id: u16, args: &[&[u8]]) {
        use crate::tracking::{parse_options, BCAST, BROKEN_REDIR, NOLOOP, OPTIN, OPTOUT};
        let shared = self.shared;
        let mode = shared.tracking.info_of(c.info.id);
        match id {
            CLIENT_TRACKING => {
                let options = match parse_options(shared, args) {
                    Ok(o) => o,
                    Err(e) => return c.out.error(&e.0),
                };
                if eq_ic(args[2], "on") {
                    match shared.tracking.enable(&c.info, options) {
                        Ok(()) => c.out.ok(),
                        Err(e) => c.out.error(&e.0),
                    }
                } else if eq_ic(args[2], "off") {
                    shared.tracking.disable(&c.info);
                    c.tracking_caching = false;
                    c.out.ok();
                } else {
                    c.out.error(errors::SYNTAX);
                }
            }
            CLIENT_CACHING => {
                let Some((flags, _, _)) = mode else {
                    return c.out.error("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled");
                };
                if eq_ic(args[2], "yes") {
                    if flags & OPTIN == 0 {
                        return c
                            .out
                            .error("ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.");
                    }
                } else if eq_ic(args[2], "no") {
                    if flags & OPTOUT == 0 {
                        return c
                            .out
                            .error("ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.");
                    }
                } else {
                    return c.out.error(errors::SYNTAX);
                }
                c.tracking_caching = true;
                c.out.ok();
            }
            CLIENT_GETREDIR => c.out.int(mode.map_or(-1, |(_, redirect, _)| redirect as i64)),
            _ => {
                let (flags, redirect, prefixes) = mode.map_or((0, -1, Vec::new()), |(f, r, p)| (f, r as i64, p));
                let mut names: Vec<&str> = vec![if mode_on(flags) { "on" } else { "off" }];
                if flags & BCAST != 0 {
                    names.push("bcast");
                }
                if flags & OPTIN != 0 {
                    names.push("optin");
                    if c.tracking_caching {
                        names.push("caching-yes");
                    }
                }
                if flags & OPTOUT != 0 {
                    names.push("optout");
                    if c.tracking_caching {
                        names.push("caching-no");
                    }
                }
                if flags & NOLOOP != 0 {
                    names.push("noloop");
                }
                if flags & BROKEN_REDIR != 0 {
                    names.push("broken_redirect");
                }
                c.out.map(3);
                c.out.bulk(b"flags");
                c.out.set(names.len());
                for n in names {
                    c.out.bulk(n.as_bytes());
                }
                c.out.bulk(b"redirect");
                c.out.int(redirect);
                c.out.bulk(b"prefixes");
                c.out.array(prefixes.len());
                for p in prefixes {
                    c.out.bulk(&p);
                }
            }
        }
    }

    fn client_list(&mut self, c: &mut Conn, args: &[&[u8]], now: i64) {
        let shared = self.shared;
        let mut ids: Option<Vec<u64>> = None;
        let mut ctype: Option<&'static str> = None;
        let mut i = 2;
        while i < args.len() {
            if eq_ic(args[i], "type") && i + 1 < args.len() {
                let t = args[i + 1];
                if !["normal", "master", "replica", "slave", "pubsub"].iter().any(|k| eq_ic(t, k)) {
                    c.out.error(&format!("ERR Unknown client type '{}'", String::from_utf8_lossy(t)));
                    return;
                }
                ctype = Some(client_type_name(t));
                i += 2;
            } else if eq_ic(args[i], "id") && i + 1 < args.len() {
                let mut list = Vec::new();
                for a in &args[i + 1..] {
                    match parse_i64(a).filter(|&n| n > 0) {
                        Some(n) => list.push(n as u64),
                        None => {
                            c.out.error("ERR Invalid client ID");
                            return;
                        }
                    }
                }
                ids = Some(list);
                i = args.len();
            } else {
                c.out.error(errors::SYNTAX);
                return;
            }
        }
        let mut clients: Vec<_> = shared.clients.lock().values().cloned().collect();
        clients.sort_by_key(|cl| cl.id);
        let mut text = String::new();
        for cl in clients {
            if let Some(ids) = &ids {
                if !ids.contains(&cl.id) {
                    continue;
                }
            }
            if ctype.is_some_and(|t| t != client_type(&cl)) {
                continue;
            }
            // A client marked for closing (CLIENT KILL, eviction) is gone as far as anyone can
            // see, as Redis frees it on the spot; its worker closes it at its next turn.
            if cl.kill.load(Ordering::Relaxed) && cl.id != c.info.id {
                continue;
            }
            text.push_str(&info::client_line(shared, &cl, now));
            text.push('\n');
        }
        c.out.verbatim("txt", text.as_bytes());
    }

    /// CLIENT UNBLOCK id [TIMEOUT|ERROR]: ends another client's blocking command as if it timed
    /// out, or with Redis's `-UNBLOCKED` error. The waiter leaves the registry here, under its
    /// lock, so a push racing with us either served it first (we answer 0) or finds it gone.
    fn client_unblock(&mut self, c: &mut Conn, args: &[&[u8]]) {
        if args.len() > 4 {
            let sub = String::from_utf8_lossy(&args[1][..args[1].len().min(128)]).into_owned();
            c.out.error(&format!("ERR unknown subcommand or wrong number of arguments for '{sub}'. Try CLIENT HELP."));
            return;
        }
        let as_error = match args.get(3) {
            None => false,
            Some(r) if eq_ic(r, "timeout") => false,
            Some(r) if eq_ic(r, "error") => true,
            Some(_) => {
                c.out.error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR");
                return;
            }
        };
        let Some(id) = parse_i64(args[2]) else {
            c.out.error(errors::NOT_INTEGER);
            return;
        };
        let shared = self.shared;
        let removed = if id > 0 { shared.blocking.inner.lock().remove(id as u64) } else { None };
        let Some(waiter) = removed else {
            c.out.int(0);
            return;
        };
        shared.blocked_count.fetch_sub(1, Ordering::SeqCst);
        let reply = if as_error {
            b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n".to_vec()
        } else {
            // Redis's timeout reply for every key-blocking command: a null array.
            let mut out = resp::ReplyBuf::new(waiter.resp3);
            out.null_array();
            out.buf
        };
        if let Some(w) = shared.workers().get(waiter.worker) {
            w.send(Msg::Unblocked { client_id: waiter.client_id, reply, argv: waiter.argv, served_us: 0 });
        }
        c.out.int(1);
    }

    fn client_kill(&mut self, c: &mut Conn, args: &[&[u8]]) {
        let shared = self.shared;
        // Old form: CLIENT KILL addr:port.
        if args.len() == 3 {
            let target = String::from_utf8_lossy(args[2]).into_owned();
            let found = shared.clients.lock().values().find(|cl| cl.addr == target).cloned();
            match found {
                Some(cl) => {
                    cl.kill.store(true, Ordering::Relaxed);
                    crate::replication::client_killed(cl.id);
                    if let Some(w) = shared.workers().get(cl.worker) {
                        w.send(Msg::Poke);
                    }
                    if cl.id == c.info.id {
                        c.close_after_write = true;
                    }
                    c.out.ok();
                }
                None => c.out.error("ERR No such client"),
            }
            return;
        }
        let mut id: Option<u64> = None;
        let mut addr: Option<String> = None;
        let mut laddr: Option<String> = None;
        let mut skipme = true;
        let mut ctype: Option<String> = None;
        let mut user: Option<Vec<u8>> = None;
        let mut i = 2;
        while i < args.len() {
            if i + 1 >= args.len() {
                c.out.error(errors::SYNTAX);
                return;
            }
            let (k, v) = (args[i], args[i + 1]);
            if eq_ic(k, "id") {
                match parse_i64(v).filter(|&n| n > 0) {
                    Some(n) => id = Some(n as u64),
                    None => {
                        c.out.error("ERR client-id should be greater than 0");
                        return;
                    }
                }
            } else if eq_ic(k, "addr") {
                addr = Some(String::from_utf8_lossy(v).into_owned());
            } else if eq_ic(k, "laddr") {
                laddr = Some(String::from_utf8_lossy(v).into_owned());
            } else if eq_ic(k, "type") {
                let t = String::from_utf8_lossy(v).to_ascii_lowercase();
                if !["normal", "master", "replica", "slave", "pubsub"].contains(&t.as_str()) {
                    c.out.error(&format!("ERR Unknown client type '{}'", String::from_utf8_lossy(v)));
                    return;
                }
                ctype = Some(t);
            } else if eq_ic(k, "user") {
                if shared.acl.user(v).is_none() {
                    c.out.error(&format!("ERR No such user '{}'", String::from_utf8_lossy(v)));
                    return;
                }
                user = Some(v.to_vec());
            } else if eq_ic(k, "skipme") {
                if eq_ic(v, "yes") {
                    skipme = true;
                } else if eq_ic(v, "no") {
                    skipme = false;
                } else {
                    c.out.error(errors::SYNTAX);
                    return;
                }
            } else {
                c.out.error(errors::SYNTAX);
                return;
            }
            i += 2;
        }
        let clients: Vec<_> = shared.clients.lock().values().cloned().collect();
        let mut killed = 0;
        for cl in clients {
            if id.is_some_and(|i| i != cl.id)
                || addr.as_ref().is_some_and(|a| *a != cl.addr)
                || laddr.as_ref().is_some_and(|a| *a != cl.laddr)
                || ctype.as_ref().is_some_and(|t| client_type_name(t.as_bytes()) != client_type(&cl))
                || user.as_ref().is_some_and(|u| *u != *cl.user.lock())
                || (skipme && cl.id == c.info.id)
            {
                continue;
            }
            cl.kill.store(true, Ordering::Relaxed);
            crate::replication::client_killed(cl.id);
            if cl.id == c.info.id {
                c.close_after_write = true;
            } else if let Some(w) = shared.workers().get(cl.worker) {
                w.send(Msg::Poke);
            }
            killed += 1;
        }
        c.out.int(killed);
    }

    fn command_list(&mut self, c: &mut Conn, args: &[&[u8]]) {
        let shared = self.shared;
        let mut names: Vec<&str> = Vec::new();
        for e in shared.registry.entries() {
            names.push(&e.meta.name);
            for s in e.subcommands() {
                names.push(&s.meta.name);
            }
        }
        if args.len() > 2 {
            if args.len() != 5 || !eq_ic(args[2], "filterby") {
                c.out.error(errors::SYNTAX);
                return;
            }
            let value = String::from_utf8_lossy(args[4]).into_owned();
            if eq_ic(args[3], "pattern") {
                names.retain(|n| commands_glob(value.as_bytes(), n.as_bytes()));
            } else if eq_ic(args[3], "aclcat") {
                let cat = format!("@{}", value.to_ascii_lowercase());
                names.retain(|n| {
                    self.find_full(n.as_bytes())
                        .map(|m| {
                            m.info
                                .items()
                                .get(6)
                                .map(|t| t.items().iter().any(|x| x.as_str() == Some(&cat)))
                                .unwrap_or(false)
                        })
                        .unwrap_or(false)
                });
            } else if eq_ic(args[3], "module") {
                names.clear();
            } else {
                c.out.error(errors::SYNTAX);
                return;
            }
        }
        c.out.array(names.len());
        for n in names {
            c.out.bulk(n.as_bytes());
        }
    }

    /// COMMAND GETKEYS / GETKEYSANDFLAGS, answered from Redis 7.0.15's whole command table: key
    /// positions are metadata, so they are reported for commands redoxide does not run yet too
    /// (as Redis's `commandGetKeys`, in its order of checks).
    fn command_getkeys(&mut self, c: &mut Conn, args: &[&[u8]], with_flags: bool) {
        let sub = &args[2..];
        let name = String::from_utf8_lossy(sub[0]).to_ascii_lowercase();
        let meta = match commands::meta::find(&name) {
            Some(m) if !m.subcommands.is_empty() && sub.len() >= 2 => m.subcommand(sub[1]),
            other => other,
        };
        let Some(meta) = meta else {
            c.out.error("ERR Invalid command specified");
            return;
        };
        if meta.key_specs.iter().all(|spec| spec.flags.iter().any(|f| f == "not_key")) && meta.first_key == 0 {
            c.out.error("ERR The command has no key arguments");
            return;
        }
        let argc = sub.len() as i32;
        if (meta.arity > 0 && meta.arity != argc) || argc < -meta.arity {
            c.out.error("ERR Invalid number of arguments specified for command");
            return;
        }
        let keys = match keys_and_flags(meta, sub) {
            Ok(keys) if !keys.is_empty() => keys,
            _ if meta.has(commands::flag::NO_MANDATORY_KEYS) => {
                c.out.array(0);
                return;
            }
            _ => {
                c.out.error("ERR Invalid arguments specified for command");
                return;
            }
        };
        c.out.array(keys.len());
        for (p, flags) in keys {
            if with_flags {
                c.out.array(2);
                c.out.bulk(sub[p]);
                c.out.set(flags.len());
                for f in flags {
                    c.out.simple(f);
                }
            } else {
                c.out.bulk(sub[p]);
            }
        }
    }
}

/// Glob matching for COMMAND LIST FILTERBY PATTERN: `*`, `?` and literal bytes (all command
/// names need), case-insensitive, in O(pattern × name) with the classic single-backtrack scan
/// (a recursive matcher was rejected: a pattern of many stars makes it exponential).
fn commands_glob(pattern: &[u8], s: &[u8]) -> bool {
    let (mut p, mut i) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p].eq_ignore_ascii_case(&s[i])) {
            p += 1;
            i += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, i));
            p += 1;
        } else if let Some((sp, si)) = star {
            p = sp + 1;
            i = si + 1;
            star = Some((sp, si + 1));
        } else {
            return false;
        }
    }
    while p < pattern.len() && pattern[p] == b'*' {
        p += 1;
    }
    p == pattern.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_for_command_names() {
        assert!(commands_glob(b"cl*", b"client|list"));
        assert!(commands_glob(b"*list", b"client|list"));
        assert!(commands_glob(b"?et", b"get"));
        assert!(!commands_glob(b"?et", b"getex"));
        assert!(commands_glob(b"*****************************x", b"x"));
        assert!(!commands_glob(b"*a*a*a*a*a*a*a*a*a*a*b", b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
    }
}
