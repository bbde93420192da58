//! INFO, CLIENT LIST lines and HELP texts, in Redis 7.0.15's field names and order so tools that
//! parse them (redis-cli, redis-py, Redis's test suite) read ours the same way.

use crate::shared::{ClientShared, Shared};
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

/// The Redis version we are compatible with and report, so clients enable the same features.
pub const REDIS_VERSION: &str = "7.0.15";

pub const CLIENT_HELP: &[&str] = &[
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CACHING (YES|NO)",
    "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
    "GETREDIR",
    "    Return the client ID we are redirecting to when tracking is enabled.",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "UNPAUSE",
    "    Stop the current client pause, resuming traffic.",
    "PAUSE <timeout> [WRITE|ALL]",
    "    Suspend all, or just write, clients for <timeout> milliseconds.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "UNBLOCK <clientid> [TIMEOUT|ERROR]",
    "    Unblock the specified blocked client.",
    "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
    "         [OPTIN] [OPTOUT] [NOLOOP]",
    "    Control server assisted client side caching.",
    "TRACKINGINFO",
    "    Report tracking status for the current connection.",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
    "HELP",
    "    Prints this help.",
];

pub const COMMAND_HELP: &[&str] = &[
    "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "(no subcommand)",
    "    Return details about all Redis commands.",
    "COUNT",
    "    Return the total number of commands in this Redis server.",
    "LIST",
    "    Return a list of all commands in this Redis server.",
    "INFO [<command-name> ...]",
    "    Return details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "DOCS [<command-name> ...]",
    "    Return documentation details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "GETKEYS <full-command>",
    "    Return the keys from a full Redis command.",
    "GETKEYSANDFLAGS <full-command>",
    "    Return the keys and the access flags from a full Redis command.",
    "HELP",
    "    Prints this help.",
];

pub const CONFIG_HELP: &[&str] = &[
    "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET <pattern>",
    "    Return parameters matching the glob-like <pattern> and their values.",
    "SET <directive> <value>",
    "    Set the configuration <directive> to <value>.",
    "RESETSTAT",
    "    Reset statistics reported by the INFO command.",
    "REWRITE",
    "    Rewrite the configuration file.",
    "HELP",
    "    Prints this help.",
];

/// One line of CLIENT LIST / CLIENT INFO.
pub fn client_line(shared: &Shared, cl: &ClientShared, now_ms: i64) -> String {
    let name = cl.name.lock().as_ref().map(|n| String::from_utf8_lossy(n).into_owned()).unwrap_or_default();
    let cmd = match cl.last_cmd.load(Ordering::Relaxed) {
        u16::MAX => "NULL",
        id => shared.registry.name_of(id),
    };
    let age = (now_ms - cl.created_ms).max(0) / 1000;
    let idle = (now_ms - cl.last_interaction_ms.load(Ordering::Relaxed)).max(0) / 1000;
    // In Redis's order (`catClientInfoString`): O P x b ... U r e.
    let mut flags = String::new();
    if cl.monitor.load(Ordering::Relaxed) {
        flags.push('O');
    }
    if cl.is_pubsub() {
        flags.push('P');
    }
    if cl.multi_len.load(Ordering::Relaxed) >= 0 {
        flags.push('x');
    }
    if cl.blocked.load(Ordering::Relaxed) {
        flags.push('b');
    }
    let tracking = cl.tracking.load(Ordering::Relaxed);
    if tracking & crate::tracking::ON != 0 {
        flags.push('t');
    }
    if tracking & crate::tracking::BROKEN_REDIR != 0 {
        flags.push('R');
    }
    if tracking & crate::tracking::BCAST != 0 {
        flags.push('B');
    }
    if cl.unix {
        flags.push('U');
    }
    if cl.no_evict.load(Ordering::Relaxed) {
        flags.push('e');
    }
    if flags.is_empty() {
        flags.push('N');
    }
    let qbuf = cl.qbuf.load(Ordering::Relaxed);
    // Pending replies as Redis splits them: the fixed 16 KB buffer (`obl`), then a list of
    // 16 KB blocks (`oll` blocks holding `omem` bytes).
    let pending = cl.obuf.load(Ordering::Relaxed);
    let omem = crate::pubsub::output_list_bytes(pending as usize) as u64;
    let obl = pending - omem;
    let oll = omem.div_ceil(crate::shared::CLIENT_BASE_MEM);
    format!(
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} qbuf={} qbuf-free={} argv-mem={} multi-mem={} rbs={} rbp={} obl={} oll={} omem={} tot-mem={} events=r cmd={} user={} redir={} resp={}",
        cl.id,
        cl.addr,
        cl.laddr,
        cl.fd,
        name,
        age,
        idle,
        flags,
        cl.db.load(Ordering::Relaxed),
        cl.subs[0].load(Ordering::Relaxed),
        cl.subs[1].load(Ordering::Relaxed),
        cl.subs[2].load(Ordering::Relaxed),
        cl.multi_len.load(Ordering::Relaxed),
        qbuf,
        cl.qbuf_free.load(Ordering::Relaxed),
        cl.argv_mem.load(Ordering::Relaxed),
        cl.multi_mem.load(Ordering::Relaxed),
        16384,
        16384,
        obl,
        oll,
        omem,
        // The read buffer as allocated (a big argument's whole length once its header is read),
        // as Redis counts its query buffer's allocation.
        crate::shared::CLIENT_BASE_MEM
            + qbuf
            + cl.argv_mem.load(Ordering::Relaxed)
            + cl.qbuf_free.load(Ordering::Relaxed)
            + pending
            + cl.state_mem.load(Ordering::Relaxed),
        cmd,
        String::from_utf8_lossy(&cl.user.lock()),
        if tracking & crate::tracking::ON != 0 { cl.tracking_redirect.load(Ordering::Relaxed) as i64 } else { -1 },
        cl.resp.load(Ordering::Relaxed),
    )
}

fn human_bytes(n: u64) -> String {
    let n = n as f64;
    if n < 1024.0 {
        format!("{}B", n as u64)
    } else if n < 1024.0 * 1024.0 {
        format!("{:.2}K", n / 1024.0)
    } else if n < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}M", n / (1024.0 * 1024.0))
    } else {
        format!("{:.2}G", n / (1024.0 * 1024.0 * 1024.0))
    }
}

pub(crate) fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()))
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

fn cpu_times() -> (f64, f64) {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    if rc != 0 {
        return (0.0, 0.0);
    }
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (t(ru.ru_stime), t(ru.ru_utime))
}

const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "cluster",
    "keyspace",
];
const ALL_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "commandstats",
    "errorstats",
    "latencystats",
    "cluster",
    "keyspace",
];

/// Renders INFO for the requested sections (none = default; `all`, `everything`, `default`).
/// `keyspace[db]` is (keys, keys with an expiry); `expired` the keys removed by expiry so far.
/// The caller counts them because it may hold slot locks (INFO inside EXEC).
pub fn render(shared: &Shared, requested: &[String], now_ms: i64, keyspace: &[(usize, usize)], expired: u64) -> String {
    let mut wanted: Vec<&str> = Vec::new();
    if requested.is_empty() {
        wanted.extend(DEFAULT_SECTIONS);
    }
    for r in requested {
        match r.as_str() {
            "default" => wanted.extend(DEFAULT_SECTIONS),
            "all" | "everything" => wanted.extend(ALL_SECTIONS),
            other => {
                if let Some(s) = ALL_SECTIONS.iter().find(|s| **s == other) {
                    wanted.push(s);
                }
            }
        }
    }
    let mut out = String::new();
    for section in ALL_SECTIONS {
        if !wanted.contains(section) {
            continue;
        }
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        render_section(shared, section, now_ms, keyspace, expired, &mut out);
    }
    out
}

fn render_section(
    shared: &Shared,
    section: &str,
    now_ms: i64,
    keyspace: &[(usize, usize)],
    expired: u64,
    o: &mut String,
) {
    let cfg = shared.config.read();
    match section {
        "server" => {
            let uptime = ((now_ms - shared.start_ms) / 1000).max(0);
            let _ = write!(
                o,
                "# Server\r\nredis_version:{REDIS_VERSION}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:0\r\nredis_mode:{}\r\nos:{}\r\narch_bits:64\r\nmonotonic_clock:POSIX clock_gettime\r\nmultiplexing_api:epoll\r\natomicvar_api:c11-builtin\r\ngcc_version:0.0.0\r\nprocess_id:{}\r\nprocess_supervised:no\r\nrun_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{}\r\nuptime_in_days:{}\r\nhz:{}\r\nconfigured_hz:{}\r\nlru_clock:{}\r\nexecutable:{}\r\nconfig_file:{}\r\nio_threads_active:0\r\nredoxide_version:{}\r\nredoxide_worker_threads:{}\r\n",
                if cfg.cluster_enabled() { "cluster" } else { "standalone" },
                std::env::consts::OS,
                std::process::id(),
                shared.run_id,
                cfg.port(),
                now_ms * 1000,
                uptime,
                uptime / 86_400,
                cfg.hz(),
                cfg.hz(),
                (now_ms / 1000) & ((1 << 24) - 1),
                shared.executable,
                cfg.config_file().map(|p| p.display().to_string()).unwrap_or_default(),
                env!("CARGO_PKG_VERSION"),
                shared.workers().len(),
            );
            if let Some(left_ms) = crate::shutdown::remaining_ms(now_ms) {
                let _ = write!(o, "shutdown_in_milliseconds:{left_ms}\r\n");
            }
        }
        "clients" => {
            // Replicas are not counted, as Redis's `clients - slaves`.
            let connected = shared
                .clients
                .lock()
                .values()
                .filter(|c| c.kind.load(Ordering::Relaxed) != crate::replication::CLIENT_REPLICA)
                .count();
            let _ = write!(
                o,
                "# Clients\r\nconnected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{}\r\nclient_recent_max_input_buffer:0\r\nclient_recent_max_output_buffer:0\r\nblocked_clients:{}\r\ntracking_clients:{}\r\nclients_in_timeout_table:{}\r\n",
                connected,
                cfg.maxclients(),
                shared.blocked_count.load(Ordering::Relaxed)
                    + shared.paused_count.load(Ordering::Relaxed)
                    + crate::shutdown::BLOCKED.load(Ordering::Relaxed)
                    + crate::replication::repl().waiters.load(Ordering::Relaxed),
                shared.tracking.counts().0,
                shared.blocked_count.load(Ordering::Relaxed),
            );
        }
        "memory" => {
            let (used, peak) = crate::memory::used_and_peak();
            let startup = crate::memory::startup_allocated();
            let rss = rss_bytes();
            let maxmemory = cfg.get_i64("maxmemory").unwrap_or(0).max(0) as u64;
            let lua = crate::scripting::lua_memory() as u64;
            let scripts = crate::scripting::scripts_memory() as u64;
            let cached = crate::scripting::cached_scripts();
            let (libraries, functions) = crate::scripting::functions::counts();
            let functions_memory = crate::scripting::functions::memory();
            let clients_mem = shared.stats.clients_mem.load(Ordering::Relaxed).max(0);
            let repl_mem = crate::replication::repl_buffer_mem();
            let lazyfreed = commands::LAZYFREED_OBJECTS.load(Ordering::Relaxed);
            let _ = write!(
                o,
                "# Memory\r\nused_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\nused_memory_rss_human:{}\r\nused_memory_peak:{peak}\r\nused_memory_peak_human:{}\r\nused_memory_peak_perc:{:.2}%\r\nused_memory_overhead:{startup}\r\nused_memory_startup:{startup}\r\nused_memory_dataset:{}\r\nused_memory_dataset_perc:{:.2}%\r\nallocator_allocated:{used}\r\nallocator_active:{used}\r\nallocator_resident:{rss}\r\ntotal_system_memory:0\r\ntotal_system_memory_human:0B\r\nused_memory_lua:{lua}\r\nused_memory_vm_eval:{lua}\r\nused_memory_lua_human:{}\r\nused_memory_scripts_eval:{scripts}\r\nnumber_of_cached_scripts:{cached}\r\nnumber_of_functions:{functions}\r\nnumber_of_libraries:{libraries}\r\nused_memory_vm_functions:0\r\nused_memory_vm_total:{lua}\r\nused_memory_vm_total_human:{}\r\nused_memory_functions:{functions_memory}\r\nused_memory_scripts:{scripts}\r\nused_memory_scripts_human:{}\r\nmaxmemory:{maxmemory}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{}\r\nallocator_frag_ratio:1.00\r\nallocator_frag_bytes:0\r\nallocator_rss_ratio:1.00\r\nallocator_rss_bytes:0\r\nrss_overhead_ratio:1.00\r\nrss_overhead_bytes:0\r\nmem_fragmentation_ratio:{:.2}\r\nmem_fragmentation_bytes:{}\r\nmem_not_counted_for_evict:{}\r\nmem_replication_backlog:{}\r\nmem_total_replication_buffers:{}\r\nmem_clients_slaves:{}\r\nmem_clients_normal:{clients_mem}\r\nmem_cluster_links:0\r\nmem_aof_buffer:0\r\nmem_allocator:jemalloc-5.3.0\r\nactive_defrag_running:0\r\nlazyfree_pending_objects:0\r\nlazyfreed_objects:{lazyfreed}\r\n",
                human_bytes(used),
                human_bytes(rss),
                human_bytes(peak),
                if peak > 0 { used as f64 * 100.0 / peak as f64 } else { 100.0 },
                used.saturating_sub(startup),
                if used > startup { 100.0 } else { 0.0 },
                human_bytes(lua),
                human_bytes(lua),
                human_bytes(scripts),
                human_bytes(maxmemory),
                cfg.get("maxmemory-policy").unwrap_or_else(|| "noeviction".into()),
                if used > 0 { rss as f64 / used as f64 } else { 1.0 },
                rss as i64 - used as i64,
                repl_mem.not_counted_for_evict,
                repl_mem.backlog,
                repl_mem.total,
                repl_mem.replicas,
            );
        }
        "persistence" => {
            // Our snapshot's copies of slots written before the writer reached them stand in for
            // a fork's copy-on-write pages (`persistence::SlotSnapshot`); they are read live, so
            // their age is always 0.
            let progress = crate::persistence::save_progress();
            let persist = shared.persist.lock();
            let _ = write!(
                o,
                "# Persistence\r\nloading:{}\r\nasync_loading:{}\r\ncurrent_cow_peak:{}\r\ncurrent_cow_size:{}\r\ncurrent_cow_size_age:0\r\ncurrent_fork_perc:{:.2}\r\ncurrent_save_keys_processed:{}\r\ncurrent_save_keys_total:{}\r\nrdb_changes_since_last_save:{}\r\nrdb_bgsave_in_progress:{}\r\nrdb_last_save_time:{}\r\nrdb_last_bgsave_status:{}\r\nrdb_last_bgsave_time_sec:{}\r\nrdb_current_bgsave_time_sec:{}\r\nrdb_saves:{}\r\nrdb_last_cow_size:{}\r\nrdb_last_load_keys_expired:{}\r\nrdb_last_load_keys_loaded:{}\r\n{}",
                u8::from(crate::replication::loading()),
                u8::from(crate::replication::async_loading()),
                progress.copies_peak_bytes,
                progress.copies_bytes,
                progress.percent(),
                progress.keys_written,
                progress.keys_total,
                shared.stats.dirty.load(Ordering::Relaxed),
                u8::from(persist.bgsave_started_ms.is_some() || crate::replication::sync_snapshot_in_progress()),
                shared.lastsave_s.load(Ordering::Relaxed),
                if persist.last_save_ok { "ok" } else { "err" },
                persist.last_bgsave_secs,
                persist.bgsave_started_ms.map_or(-1, |t| (crate::shared::now_ms() - t) / 1000),
                persist.rdb_saves,
                crate::persistence::last_copies_bytes(crate::persistence::SnapshotKind::Rdb),
                persist.last_load_keys_expired,
                persist.last_load_keys_loaded,
                crate::aof::info_fields(),
            );
            if crate::replication::loading() {
                o.push_str(&crate::persistence::LOAD_PROGRESS.info_fields());
            }
        }
        "stats" => {
            let expired: u64 = shared.stats.expired_keys.load(Ordering::Relaxed) + expired;
            let ps = shared.pubsub.counts();
            let tracking = shared.tracking.counts();
            let _ = write!(
                o,
                "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\ninstantaneous_ops_per_sec:0\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\ntotal_net_repl_input_bytes:0\r\ntotal_net_repl_output_bytes:0\r\ninstantaneous_input_kbps:0.00\r\ninstantaneous_output_kbps:0.00\r\ninstantaneous_input_repl_kbps:0.00\r\ninstantaneous_output_repl_kbps:0.00\r\nrejected_connections:{}\r\nsync_full:{}\r\nsync_partial_ok:{}\r\nsync_partial_err:{}\r\nexpired_keys:{}\r\nexpired_stale_perc:0.00\r\nexpired_time_cap_reached_count:0\r\nexpire_cycle_cpu_milliseconds:0\r\nevicted_keys:{}\r\nevicted_clients:{}\r\ntotal_eviction_exceeded_time:0\r\ncurrent_eviction_exceeded_time:0\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:{}\r\npubsub_patterns:{}\r\npubsubshard_channels:{}\r\nlatest_fork_usec:0\r\ntotal_forks:{}\r\nmigrate_cached_sockets:{}\r\nslave_expires_tracked_keys:0\r\nactive_defrag_hits:0\r\nactive_defrag_misses:0\r\nactive_defrag_key_hits:0\r\nactive_defrag_key_misses:0\r\ntotal_active_defrag_time:0\r\ncurrent_active_defrag_time:0\r\ntracking_total_keys:{}\r\ntracking_total_items:{}\r\ntracking_total_prefixes:{}\r\nunexpected_error_replies:{}\r\ntotal_error_replies:{}\r\ndump_payload_sanitizations:0\r\ntotal_reads_processed:0\r\ntotal_writes_processed:0\r\nio_threaded_reads_processed:0\r\nio_threaded_writes_processed:0\r\nreply_buffer_shrinks:0\r\nreply_buffer_expands:0\r\n",
                shared.sum_stat(|s| &s.connections),
                shared.sum_stat(|s| &s.commands),
                shared.sum_stat(|s| &s.net_input_bytes),
                shared.sum_stat(|s| &s.net_output_bytes),
                shared.stats.rejected_connections.load(Ordering::Relaxed),
                crate::replication::repl().sync_full.load(Ordering::Relaxed),
                crate::replication::repl().sync_partial_ok.load(Ordering::Relaxed),
                crate::replication::repl().sync_partial_err.load(Ordering::Relaxed),
                expired,
                shared.stats.evicted_keys.load(Ordering::Relaxed),
                shared.stats.evicted_clients.load(Ordering::Relaxed),
                shared.sum_stat(|s| &s.keyspace_hits),
                shared.sum_stat(|s| &s.keyspace_misses),
                ps.0,
                ps.1,
                ps.2,
                // Our fork: a snapshot started (we never fork, so latest_fork_usec stays 0).
                shared.ks.snapshots_started(),
                crate::migrate::cached_sockets(),
                tracking.1,
                tracking.2,
                tracking.3,
                shared.stats.unexpected_error_replies.load(Ordering::Relaxed),
                shared.sum_stat(|s| &s.error_replies),
            );
        }
        "replication" => o.push_str(&crate::replication::info_section(shared)),
        "cpu" => {
            let (sys, user) = cpu_times();
            let _ = write!(
                o,
                "# CPU\r\nused_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\nused_cpu_sys_children:0.000000\r\nused_cpu_user_children:0.000000\r\nused_cpu_sys_main_thread:{sys:.6}\r\nused_cpu_user_main_thread:{user:.6}\r\n"
            );
        }
        "modules" => o.push_str("# Modules\r\n"),
        "commandstats" => {
            o.push_str("# Commandstats\r\n");
            let workers = shared.workers();
            for id in 0..shared.registry.len() {
                let sum = |f: fn(&crate::shared::CommandCounters) -> u64| -> u64 {
                    workers.iter().filter_map(|w| w.stats.per_command.get(id)).map(f).sum()
                };
                let calls = sum(|c| c.calls.get());
                let rejected = sum(|c| c.rejected.get());
                let failed = sum(|c| c.failed.get());
                if calls == 0 && rejected == 0 && failed == 0 {
                    continue;
                }
                let usec = sum(|c| c.usec.get());
                let per_call = if calls > 0 { usec as f64 / calls as f64 } else { 0.0 };
                let _ = write!(
                    o,
                    "cmdstat_{}:calls={calls},usec={usec},usec_per_call={per_call:.2},rejected_calls={rejected},failed_calls={failed}\r\n",
                    shared.registry.name_of(id as u16)
                );
            }
        }
        "errorstats" => {
            o.push_str("# Errorstats\r\n");
            let mut codes: std::collections::BTreeMap<String, u64> = Default::default();
            for w in shared.workers() {
                for (code, n) in w.stats.error_codes.lock().iter() {
                    *codes.entry(code.clone()).or_insert(0) += n;
                }
            }
            for (code, n) in codes {
                let _ = write!(o, "errorstat_{code}:count={n}\r\n");
            }
        }
        "latencystats" => {
            o.push_str("# Latencystats\r\n");
            if cfg.get_bool("latency-tracking").unwrap_or(true) {
                let percentiles = cfg.latency_percentiles();
                let workers = shared.workers();
                let mut summed = vec![0u64; crate::latencystats::COUNTS_LEN];
                for id in 0..shared.registry.len() {
                    let mut any = false;
                    summed.iter_mut().for_each(|n| *n = 0);
                    for counts in workers.iter().filter_map(|w| w.stats.per_command.get(id)?.latency.get()) {
                        any = true;
                        summed.iter_mut().zip(counts.iter()).for_each(|(s, c)| *s += c.get());
                    }
                    if !any {
                        continue;
                    }
                    let name = shared.registry.name_of(id as u16);
                    if let Some(line) = crate::latencystats::info_line(name, &summed, &percentiles) {
                        o.push_str(&line);
                    }
                }
            }
        }
        "cluster" => {
            let _ = write!(o, "# Cluster\r\ncluster_enabled:{}\r\n", u8::from(cfg.cluster_enabled()));
        }
        "keyspace" => {
            o.push_str("# Keyspace\r\n");
            for (i, &(keys, expires)) in keyspace.iter().enumerate() {
                if keys > 0 {
                    let _ = write!(o, "db{i}:keys={keys},expires={expires},avg_ttl=0\r\n");
                }
            }
        }
        _ => {}
    }
}
