//! DEBUG, behind `enable-debug-command` as in Redis: the subcommands Redis's test suite leans on
//! that redoxide can honour today (RELOAD, SLEEP, SET-ACTIVE-EXPIRE, OBJECT, DIGEST,
//! CONFIG-REWRITE-FORCE-ALL,
//! DIGEST-VALUE, POPULATE, PROTOCOL, LOG, QUICKLIST-PACKED-THRESHOLD, JMAP, DROP-CLUSTER-PACKET-FILTER,
//! CLUSTERLINK KILL, PAUSE-CRON, SEGFAULT, HELP).
//!
//! DIGEST values are our own (not Redis's SHA1 bytes) but follow Redis's rule: equal datasets
//! give equal digests, whatever the order their members were added in, and an empty dataset
//! digests to forty zeros. Never reachable when the directive forbids it.

use crate::shared::Shared;
use crate::worker::{Conn, Env};
use crate::{notice, warning};
use commands::args::{eq_ic, parse_f64, parse_i64};
use keyspace::{key_hash_slot, Sds, StrValue, Value, SLOT_COUNT};
use std::sync::atomic::Ordering;

const HELP: &[&str] = &[
    "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CONFIG-REWRITE-FORCE-ALL",
    "    Like CONFIG REWRITE but writes all configuration options, including",
    "    keywords not listed in original configuration file or default values.",
    "DIGEST",
    "    Output a hex signature representing the current DB content.",
    "DIGEST-VALUE <key> [<key> ...]",
    "    Output a hex signature of the values of all the specified keys.",
    "JMAP",
    "    Create a memory dump.",
    "LOG <message>",
    "    Write <message> to the server log.",
    "REPLICATE <string>",
    "    Replicates the provided string to replicas, allowing data divergence.",
    "OBJECT <key>",
    "    Show low level info about the `key` and associated value.",
    "DROP-CLUSTER-PACKET-FILTER <packet-type>",
    "    Drop all packets that match the filtered type. Set to -1 allow all packets.",
    "POPULATE <count> [<prefix>] [<size>]",
    "    Create <count> string keys named key:<num>. If <prefix> is specified then",
    "    it is used instead of the 'key' prefix. These are not propagated to",
    "    replicas. Cluster slots are not respected so keys not belonging to the",
    "    current node can be created in cluster mode.",
    "PROTOCOL <type>",
    "    Reply with a test value of the specified type. <type> can be: string,",
    "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
    "    true, false.",
    "QUICKLIST-PACKED-THRESHOLD <size>",
    "    Sets the threshold for elements to be inserted as plain vs packed nodes",
    "    Default value is 1GB, allows values up to 4GB. Setting to 0 restores to default.",
    "RELOAD [option ...]",
    "    Save the RDB on disk and reload it back to memory. Valid <option> values:",
    "    * MERGE: Merge the content of the RDB instead of flushing the current",
    "      DB before loading the data.",
    "    * NOFLUSH: Do not empty the current database before loading the data.",
    "    * NOSAVE: the database will be loaded from an existing RDB file.",
    "    Examples:",
    "    * DEBUG RELOAD: verify that the server is able to persist, flush and reload",
    "      the database.",
    "    * DEBUG RELOAD NOSAVE: replace the current database with the contents of an",
    "      existing RDB file.",
    "    * DEBUG RELOAD NOSAVE NOFLUSH MERGE: add the contents of an existing RDB",
    "      file to the database.",
    "SET-ACTIVE-EXPIRE <0|1>",
    "    Setting it to 0 disables expiring keys in background when they are not",
    "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
    "    default.",
    "CLUSTERLINK KILL <to|from|all> <node-id>",
    "    Kills the link based on the direction to/from (both) with the provided node.",
    "PAUSE-CRON <0|1>",
    "    Stop periodic cron job processing.",
    "SEGFAULT",
    "    Crash the server with sigsegv.",
    "SLEEP <seconds>",
    "    Stop the server for <seconds>. Decimals allowed.",
    "HELP",
    "    Prints this help.",
];

const NOT_ALLOWED: &str = "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.";

/// A 20-byte digest built by XOR and mixing, as Redis's `xorDigest`/`mixDigest` combine SHA1s:
/// XOR where order must not matter (keys of a database, members of a set), mixing where it
/// must (list elements, a key with its value).
#[derive(Clone, Copy, Default, PartialEq)]
struct Digest([u8; 20]);

impl Digest {
    fn hash(bytes: &[u8]) -> [u8; 20] {
        // Three CRC64s over the bytes with different prefixes: not cryptographic, but a
        // digest only has to tell datasets apart in tests.
        let mut out = [0u8; 20];
        for (i, chunk) in out.chunks_mut(8).enumerate() {
            let mut buf = Vec::with_capacity(bytes.len() + 1);
            buf.push(i as u8);
            buf.extend_from_slice(bytes);
            let h = persist::crc64(&buf).to_le_bytes();
            chunk.copy_from_slice(&h[..chunk.len()]);
        }
        out
    }

    fn xor(&mut self, bytes: &[u8]) {
        for (a, b) in self.0.iter_mut().zip(Digest::hash(bytes)) {
            *a ^= b;
        }
    }

    fn mix(&mut self, bytes: &[u8]) {
        self.xor(bytes);
        self.0 = Digest::hash(&self.0);
    }

    fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The digest of one value, independent of the order sets and hashes were filled in.
fn value_digest(value: &Value, expire_at_ms: Option<i64>) -> Digest {
    let mut d = Digest::default();
    match value {
        Value::Str(s) => d.mix(&s.to_vec()),
        Value::List(l) => l.iter().for_each(|e| d.mix(e.as_bytes())),
        Value::Set(s) => {
            let mut acc = Digest::default();
            s.iter().for_each(|m| acc.xor(m.as_bytes()));
            d.mix(&acc.0);
        }
        Value::Hash(h) => {
            let mut acc = Digest::default();
            for (f, v) in h.iter() {
                let mut pair = Digest::default();
                pair.mix(f.as_bytes());
                pair.mix(v.as_bytes());
                acc.xor(&pair.0);
            }
            d.mix(&acc.0);
        }
        Value::ZSet(z) => {
            for (score, m) in z.ordered.iter() {
                d.mix(m.as_bytes());
                d.mix(resp::format_double(score.0).as_bytes());
            }
        }
        Value::Stream(st) => stream_digest(&mut d, st),
    }
    d.mix(value.type_name().as_bytes());
    if let Some(at) = expire_at_ms {
        d.mix(b"!!expire!!");
        d.mix(at.to_string().as_bytes());
    }
    d
}

/// A stream's digest: its entries in order, its counters, and every group with its PEL and
/// consumer names. Redis digests the entries only; the groups are in here so a replica or a
/// reload that lost a group shows. Consumers' seen times are left out: a replica sets them
/// when it applies the propagated XCLAIM, so they differ between equal datasets.
fn stream_digest(d: &mut Digest, st: &keyspace::stream::Stream) {
    for (id, fields) in &st.entries {
        d.mix(&id.to_be_bytes());
        fields.iter().for_each(|f| d.mix(f.as_bytes()));
    }
    d.mix(&st.last_id.to_be_bytes());
    d.mix(&st.first_id.to_be_bytes());
    d.mix(&st.max_deleted_entry_id.to_be_bytes());
    d.mix(&st.entries_added.to_le_bytes());
    for (name, g) in &st.groups {
        d.mix(name.as_bytes());
        d.mix(&g.last_id.to_be_bytes());
        d.mix(&g.entries_read.to_le_bytes());
        for (id, nack) in &g.pel {
            d.mix(&id.to_be_bytes());
            d.mix(nack.consumer.as_bytes());
            d.mix(&nack.delivery_time_ms.to_le_bytes());
            d.mix(&nack.delivery_count.to_le_bytes());
        }
        g.consumers.keys().for_each(|cname| d.mix(cname.as_bytes()));
    }
}

fn dataset_digest(shared: &Shared, now: i64) -> Digest {
    let mut total = Digest::default();
    for db in 0..shared.ks.db_count() {
        let Some(d) = shared.ks.db_if_used(db) else { continue };
        let mut acc = Digest::default();
        let mut any = false;
        for slot in 0..SLOT_COUNT as u16 {
            let t = d.lock_slot(slot);
            for (key, value) in t.iter() {
                if t.is_expired(key.as_bytes(), now) {
                    continue;
                }
                let mut kd = value_digest(value, t.expire_at(key.as_bytes()));
                kd.mix(key.as_bytes());
                acc.xor(&kd.0);
                any = true;
            }
        }
        if any {
            total.mix(&(db as u64).to_le_bytes());
            total.xor(&acc.0);
        }
    }
    total
}

impl Env {
    /// DEBUG <subcommand> ...
    pub fn debug_command(&mut self, c: &mut Conn, args: &[&[u8]], now: i64) {
        let shared = self.shared;
        let local = c.info.unix || c.info.addr.starts_with("127.") || c.info.addr.starts_with("[::1]");
        if !shared.config.read().enable_debug_command().allows(local) {
            c.out.error(NOT_ALLOWED);
            return;
        }
        let sub = args[1];
        let n = args.len();
        if eq_ic(sub, "help") && n == 2 {
            c.out.array(HELP.len());
            HELP.iter().for_each(|l| c.out.simple(l));
        } else if eq_ic(sub, "segfault") && n == 2 {
            warning!("DEBUG SEGFAULT called: crashing on purpose.");
            crate::crash::segfault();
        } else if eq_ic(sub, "sleep") && n == 3 {
            let secs = parse_f64(args[2]).unwrap_or(0.0).clamp(0.0, 3600.0);
            let _asleep = crate::replication::debug_sleep();
            std::thread::sleep(std::time::Duration::from_secs_f64(secs));
            c.out.ok();
        } else if eq_ic(sub, "set-active-expire") && n == 3 {
            shared.active_expire_enabled.store(parse_i64(args[2]).unwrap_or(1) != 0, Ordering::Relaxed);
            c.out.ok();
        } else if eq_ic(sub, "set-disable-deny-scripts") && n == 3 {
            crate::scripting::DISABLE_DENY_SCRIPT.store(parse_i64(args[2]).unwrap_or(0) != 0, Ordering::Relaxed);
            c.out.ok();
        } else if eq_ic(sub, "set-skip-checksum-validation") && n == 3 {
            commands::SKIP_CHECKSUM_VALIDATION.store(parse_i64(args[2]).unwrap_or(0) != 0, Ordering::Relaxed);
            c.out.ok();
        } else if eq_ic(sub, "aof-flush-sleep") && n == 3 {
            crate::aof::set_flush_sleep_us(parse_i64(args[2]).unwrap_or(0).max(0) as u64);
            c.out.ok();
        } else if eq_ic(sub, "pause-cron") && n == 3 {
            shared.cron_paused.store(parse_i64(args[2]).unwrap_or(0) != 0, Ordering::Relaxed);
            c.out.ok();
        } else if eq_ic(sub, "jmap") && n == 2 {
            c.out.ok();
        } else if eq_ic(sub, "replicate") && n >= 3 {
            // Redis feeds the arguments to its replicas as a command in the stream's current
            // database (no SELECT) and not to the AOF: a test of how replicas take a command
            // they fail to run (propagation-error-behavior).
            crate::replication::feed_verbatim(&args[2..]);
            c.out.ok();
        } else if eq_ic(sub, "log") && n == 3 {
            notice!("DEBUG LOG: {}", String::from_utf8_lossy(args[2]));
            c.out.ok();
        } else if eq_ic(sub, "quicklist-packed-threshold") && n == 3 {
            // Lists are not quicklists here, so there is no threshold to move; the value is
            // checked as Redis checks it.
            match crate::config::memtoull(args[2]) {
                Some(v) if v <= (1u64 << 32) - (1 << 20) => c.out.ok(),
                _ => c.out.error("ERR argument must be a memory value bigger than 1 and smaller than 4gb"),
            }
        } else if eq_ic(sub, "drop-cluster-packet-filter") && n == 3 {
            // Outside cluster mode Redis stores the value too (it just never applies).
            match parse_i64(args[2]) {
                Some(t) => {
                    if let Some(node) = shared.cluster.as_ref() {
                        node.drop_packet_filter.store(t, Ordering::Relaxed);
                    }
                    c.out.ok();
                }
                None => c.out.error("ERR value is not an integer or out of range"),
            }
        } else if eq_ic(sub, "clusterlink") && n == 5 && eq_ic(args[2], "kill") {
            let Some(node) = shared.cluster.as_ref() else {
                c.out.error("ERR Debug option only available for cluster mode enabled setup!");
                return;
            };
            let (to, from) = match args[3] {
                d if eq_ic(d, "to") => (true, false),
                d if eq_ic(d, "from") => (false, true),
                d if eq_ic(d, "all") => (true, true),
                // Redis looks the node up first, so an unknown node wins over a bad direction.
                d => {
                    if !node.knows_node(args[4]) {
                        c.out.error(&format!("ERR Unknown node {}", String::from_utf8_lossy(args[4])));
                    } else {
                        c.out.error(&format!("ERR Unknown direction {}", String::from_utf8_lossy(d)));
                    }
                    return;
                }
            };
            if node.debug_kill_links(&shared.ks, args[4], to, from) {
                c.out.ok();
            } else {
                c.out.error(&format!("ERR Unknown node {}", String::from_utf8_lossy(args[4])));
            }
        } else if eq_ic(sub, "object") && n == 3 {
            self.debug_object(c, args[2]);
        } else if eq_ic(sub, "digest") && n == 2 {
            c.out.simple(&dataset_digest(shared, now).hex());
        } else if eq_ic(sub, "digest-value") && n >= 2 {
            c.out.array(n - 2);
            for key in &args[2..] {
                let db = shared.ks.db(c.db as usize);
                let mut t = db.lock_slot(key_hash_slot(key));
                let d = t.get(key, now).map_or(Digest::default(), |v| value_digest(v, None));
                c.out.simple(&d.hex());
            }
        } else if eq_ic(sub, "populate") && (3..=5).contains(&n) {
            self.debug_populate(c, args, now);
        } else if eq_ic(sub, "protocol") && n == 3 {
            debug_protocol(c, args[2]);
        } else if eq_ic(sub, "config-rewrite-force-all") && n == 2 {
            match shared.config.read().rewrite_force_all() {
                Ok(()) => c.out.ok(),
                Err(text) => c.out.error(&text.replacen("ERR ", "ERR CONFIG-REWRITE-FORCE-ALL failed: ", 1)),
            }
        } else if eq_ic(sub, "reload") {
            self.debug_reload(c, &args[2..]);
        } else if eq_ic(sub, "loadaof") && n == 2 {
            let loaded = crate::aof::debug_loadaof(self.shared, self.id);
            // The dataset was emptied and reloaded (Redis's emptyData): a flush for trackers.
            self.track_flush();
            match loaded {
                Ok(()) => c.out.ok(),
                Err(e) => {
                    warning!("DEBUG LOADAOF failed: {e:#}");
                    c.out.error("ERR Error trying to load the AOF files, check server logs.");
                }
            }
        } else {
            let name = String::from_utf8_lossy(&sub[..sub.len().min(128)]).into_owned();
            c.out.error(&format!("ERR unknown subcommand or wrong number of arguments for '{name}'. Try DEBUG HELP."));
        }
    }

    fn debug_object(&mut self, c: &mut Conn, key: &[u8]) {
        let db = self.shared.ks.db(c.db as usize);
        let t = db.lock_slot(key_hash_slot(key));
        // Not an access, and no expiry either: Redis's DEBUG OBJECT finds the key in the dict
        // directly, so a key past its time is still reported until something expires it.
        let Some((value, clock)) = t.stored(key) else {
            c.out.error("ERR no such key");
            return;
        };
        // The same encoding OBJECT ENCODING reports: what Redis 7.0 would hold under the current thresholds.
        let encoding = commands::redis_encoding(value, &self.data_config);
        let mut payload = Vec::new();
        persist::encode_object(value, &persist::EncodeLimits::default(), &mut payload);
        let addr = value as *const Value as usize;
        c.out.simple(&format!(
            "Value at:0x{addr:x} refcount:1 encoding:{encoding} serializedlength:{} lru:{clock} lru_seconds_idle:{}",
            payload.len().saturating_sub(1),
            keyspace::access::idle_ms(clock, keyspace::access::now_ms()) / 1000
        ));
    }

    fn debug_populate(&mut self, c: &mut Conn, args: &[&[u8]], now: i64) {
        let Some(count) = parse_i64(args[2]).filter(|&v| v >= 0) else {
            c.out.error("ERR count is out of range");
            return;
        };
        let prefix = args.get(3).copied().unwrap_or(b"key");
        let size = match args.get(4) {
            None => None,
            Some(s) => match parse_i64(s).filter(|&v| v >= 0) {
                Some(v) => Some(v as usize),
                None => {
                    c.out.error("ERR size is out of range");
                    return;
                }
            },
        };
        let db = self.shared.ks.db(c.db as usize);
        for i in 0..count {
            let mut key = prefix.to_vec();
            key.push(b':');
            key.extend_from_slice(i.to_string().as_bytes());
            let mut t = db.lock_slot(key_hash_slot(&key));
            // Existing keys are left alone, as Redis does.
            if t.contains(&key, now) {
                continue;
            }
            let mut value = format!("value:{i}").into_bytes();
            if let Some(size) = size {
                value.resize(size, 0);
            }
            t.set(&key, Value::Str(StrValue::Raw(Sds::new(&value))));
        }
        c.out.ok();
    }

    /// DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE]: save, empty, load back (Redis's checks that
    /// the dataset survives its own file).
    fn debug_reload(&mut self, c: &mut Conn, options: &[&[u8]]) {
        let (mut merge, mut flush, mut save) = (false, true, true);
        for o in options {
            if eq_ic(o, "merge") {
                merge = true;
            } else if eq_ic(o, "noflush") {
                flush = false;
            } else if eq_ic(o, "nosave") {
                save = false;
            } else {
                c.out.error("ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.");
                return;
            }
        }
        let shared = self.shared;
        if save && crate::persistence::save(shared).is_err() {
            c.out.error("ERR");
            return;
        }
        if flush {
            for db in 0..shared.ks.db_count() {
                if let Some(d) = shared.ks.db_if_used(db) {
                    for slot in 0..SLOT_COUNT as u16 {
                        d.lock_slot(slot).clear();
                    }
                }
            }
            // Redis's emptyData also clears the function libraries (the file holds them).
            crate::scripting::functions::clear();
            // Redis's emptyData signals a flush: trackers are told their caches are void.
            self.track_flush();
        }
        match crate::persistence::load_file(shared, merge) {
            Ok(()) => {
                // Only a start-up load resumes the file's replication history (Redis's DEBUG
                // RELOAD passes no rdbSaveInfo either).
                shared.persist.lock().loaded_repl = None;
                notice!("DB reloaded by DEBUG RELOAD");
                c.out.ok();
            }
            Err(e) => {
                warning!("DEBUG RELOAD failed: {e:#}");
                c.out.error("ERR Error trying to load the RDB dump, check server logs.");
            }
        }
    }
}

/// DEBUG PROTOCOL <type>: one value of each RESP3 type (downgraded for RESP2 by the buffer).
fn debug_protocol(c: &mut Conn, kind: &[u8]) {
    let k = String::from_utf8_lossy(kind).to_ascii_lowercase();
    match k.as_str() {
        "string" => c.out.bulk(b"Hello World"),
        "integer" => c.out.int(12345),
        // Redis's fixed test value, not an approximation of pi.
        #[allow(clippy::approx_constant)]
        "double" => c.out.double(3.141),
        "bignum" => c.out.big_number("1234567999999999999999999999999999999"),
        "null" => c.out.null(),
        "array" => {
            c.out.array(3);
            (0..3).for_each(|i| c.out.int(i));
        }
        "set" => {
            c.out.set(3);
            (0..3).for_each(|i| c.out.int(i));
        }
        "map" => {
            c.out.map(3);
            for i in 0..3 {
                c.out.int(i);
                c.out.boolean(i == 1);
            }
        }
        "true" => c.out.boolean(true),
        "false" => c.out.boolean(false),
        "verbatim" => c.out.verbatim("txt", b"This is a verbatim\nstring"),
        "attrib" => {
            if c.resp3() {
                c.out.raw(b"|1\r\n");
                c.out.bulk(b"key-popularity");
                c.out.array(2);
                c.out.bulk(b"key:123");
                c.out.int(90);
            }
            c.out.bulk(b"Some real reply following the attribute");
        }
        "push" => {
            if !c.resp3() {
                c.out.error("ERR RESP2 is not supported by this command");
                return;
            }
            c.out.push(2);
            c.out.bulk(b"server-cpu-usage");
            c.out.int(42);
            c.out.bulk(b"Some real reply following the push reply");
        }
        _ => c.out.error(
            "ERR Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false",
        ),
    }
}
