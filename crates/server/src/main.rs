//! redoxide-server: starts like redis-server (`redoxide-server [/path/redis.conf] [--directive
//! value ...]`), binds the client listeners, runs one event loop per worker thread and shuts
//! down cleanly on SIGTERM/SIGINT or SHUTDOWN.
//!
//! This crate is the only place where the world is real: sockets, threads, clocks, signals and
//! files. The protocol and data logic it drives live in the `resp`, `keyspace` and `commands`
//! crates and never touch any of those.

// The ACL model is a crate of its own so its aclfile parser can be fuzzed; `crate::acl` paths
// keep working through this import.
use ::acl;
mod acl_cmds;
mod aof;
mod check_aof;
mod cluster_node;
mod cmds;
mod config;
mod crash;
mod debug;
mod evict;
mod info;
mod introspect;
mod latencystats;
mod log;
mod lolwut;
mod memory;
mod migrate;
mod oom_score;
mod outbound;
mod persistence;
mod proctitle;
mod pubsub;
mod replication;
mod scripting;
mod shared;
mod shutdown;
mod tracking;
mod watchdog;
mod worker;

use crate::config::Config;
use crate::shared::{now_ms, Shared, WorkerHandle, WorkerStats};
use crate::worker::{Listener, Worker};
use commands::Registry;
use keyspace::Keyspace;
use parking_lot::{Mutex, RwLock};
use std::sync::atomic::Ordering;
use std::sync::Arc;

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Asks every worker to stop; the main thread then finishes the shutdown.
///
/// The listeners stop accepting first, before any reply or connection close can reach a client:
/// Redis exits inside SHUTDOWN, so a client that sees its connection end must find the port
/// refusing (Redis's suite reconnects and expects "connection refused"). Rejected: closing the
/// listeners when worker 0's loop ends, which races the SHUTDOWN client's own close on another
/// worker (or on worker 0 itself, whose reply is flushed before its loop checks the flag).
pub fn request_shutdown(shared: &Shared) {
    let mut fds = shared.listener_fds.lock();
    for fd in fds.take().unwrap_or_default() {
        // SAFETY: the descriptor belongs to an open listener: worker 0 removes a descriptor from
        // the list, under this lock, before it closes its listener (CONFIG SET port/bind), and
        // closes the rest only after its loop ends, after `shutdown` is set below. The list is
        // taken, so no descriptor is shut down twice. shutdown(2) on a listening socket makes
        // new connections fail and does not close the descriptor.
        unsafe {
            libc::shutdown(fd, libc::SHUT_RDWR);
        }
    }
    drop(fds);
    shared.shutdown.store(true, Ordering::SeqCst);
    for w in shared.workers() {
        let _ = w.waker.wake();
    }
}

fn random_hex_id() -> String {
    (0..40).map(|_| char::from_digit(rand::random_range(0..16u32), 16).unwrap_or('0')).collect()
}

fn main() {
    let argv0 = std::env::args().next().unwrap_or_default();
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Before any other thread exists, and after the arguments were read (see `proctitle`).
    proctitle::init(&argv0);
    // As Redis's binary does, the checker runs when the program is called by its name (a `redis-check-aof`
    // link, which is how Redis's test suite calls it), as well as with `--check-aof`.
    if argv0.contains("check-aof") {
        std::process::exit(check_aof::main(&args));
    }
    if matches!(args.first().map(String::as_str), Some("-v") | Some("--version")) {
        println!(
            "Redis server v={} sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=redoxide-{}",
            info::REDIS_VERSION,
            env!("CARGO_PKG_VERSION")
        );
        return;
    }
    if args.first().map(String::as_str) == Some("--check-aof") {
        std::process::exit(check_aof::main(&args[1..]));
    }
    if matches!(args.first().map(String::as_str), Some("-h") | Some("--help")) {
        println!("Usage: ./redoxide-server [/path/to/redis.conf] [options] [-]");
        println!("       ./redoxide-server - (read config from stdin)");
        println!("       ./redoxide-server -v or --version");
        println!("Examples:\n       ./redoxide-server /etc/redis/6379.conf\n       ./redoxide-server --port 7777");
        return;
    }
    let config = match Config::from_args(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = log::init(&config.logfile(), log::Level::parse(&config.loglevel())) {
        eprintln!("Can't open the log file: {e}");
        std::process::exit(1);
    }
    commands::set_verbose_log(|line| log::log(log::Level::Verbose, line));
    crash::set_log_enabled(config.crash_log_enabled());
    crash::install();
    match run(config) {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            warning!("{e:#}");
            std::process::exit(1);
        }
    }
}

/// Parses a `bind` entry: `*` is every IPv4 address, `::*` every IPv6 one, and a leading `-`
/// marks an address whose failure to bind is not fatal.
/// Shared by the client listeners and the cluster bus.
pub(crate) fn bind_address(entry: &str) -> (String, bool) {
    let (addr, optional) = match entry.strip_prefix('-') {
        Some(rest) => (rest, true),
        None => (entry, false),
    };
    let addr = match addr {
        "*" => "0.0.0.0".to_string(),
        "::*" => "::".to_string(),
        other => other.to_string(),
    };
    (addr, optional)
}

fn listen_tcp(config: &Config) -> anyhow::Result<Vec<Listener>> {
    let port = config.port();
    if port == 0 {
        return Ok(Vec::new());
    }
    let binds = config.bind();
    let listeners = listen_tcp_on(&binds, port)?;
    // An empty `bind` means no TCP listener at all (Redis's `bind ""`); addresses that were
    // all optional and all failed leave the server unreachable, which Redis refuses.
    if listeners.is_empty() && !binds.is_empty() {
        anyhow::bail!("Failed listening on port {port} (TCP), aborting.");
    }
    Ok(listeners)
}

/// Binds `port` on every `bind` entry (Redis's listenToPort).
fn listen_tcp_on(binds: &[String], port: u16) -> anyhow::Result<Vec<Listener>> {
    let mut listeners = Vec::new();
    for entry in binds {
        let (addr, optional) = bind_address(entry);
        let sockaddr = if addr.contains(':') { format!("[{addr}]:{port}") } else { format!("{addr}:{port}") };
        match std::net::TcpListener::bind(&sockaddr) {
            Ok(l) => {
                l.set_nonblocking(true)?;
                listeners.push(Listener::Tcp(mio::net::TcpListener::from_std(l)));
            }
            Err(e) if optional => {
                verbose!("Could not create server TCP listening socket {sockaddr}: {e} (optional, skipped)");
            }
            Err(e) => {
                warning!("Warning: Could not create server TCP listening socket {sockaddr}: bind: {e}");
                anyhow::bail!("Failed listening on port {port} (TCP), aborting.");
            }
        }
    }
    Ok(listeners)
}

/// CONFIG SET port / bind (Redis's updatePort and updateBind): the TCP listeners follow the
/// configuration. A new port is bound here, before CONFIG SET answers, and handed to worker 0,
/// which owns the listeners and closes the old ones; a failure leaves everything as it was and
/// makes CONFIG SET roll back. A new address list on the same port cannot be bound beside the
/// old one (the address is in use until the old socket closes), so each address is first
/// tried on a spare port, which catches the addresses that cannot be bound here, and worker 0
/// then closes the old sockets and binds the new ones, as Redis's changeBindAddr does.
/// Rejected: sharing the listeners behind a lock so this thread could swap them itself, which
/// would put a lock on every accept.
pub(crate) fn relisten(shared: &Shared, cfg: &Config) -> Result<(), (String, String)> {
    let want = (cfg.bind(), cfg.port());
    let mut current = shared.listen_spec.lock();
    if *current == want {
        return Ok(());
    }
    // A new port, or no TCP listener until now: nothing holds the addresses, so they are bound
    // here and CONFIG SET answers once the server listens (a client may connect right after).
    let listening_before = !current.0.is_empty() && current.1 != 0;
    let msg = if current.1 != want.1 || !listening_before {
        let listeners = if want.1 == 0 { Ok(Vec::new()) } else { listen_tcp_on(&want.0, want.1) };
        match listeners {
            Ok(l) => shared::Msg::Listeners(l),
            Err(e) if current.1 != want.1 => {
                warning!("Failed to listen on port {}: {e}", want.1);
                return Err(("port".into(), "Unable to listen on this port. Check server logs.".into()));
            }
            Err(e) => {
                warning!("Failed to bind: {e}");
                return Err(("bind".into(), "Failed to bind to specified addresses.".into()));
            }
        }
    } else {
        if want.1 != 0 {
            if let Err(e) = listen_tcp_on(&want.0, 0) {
                warning!("Failed to bind: {e}");
                return Err(("bind".into(), "Failed to bind to specified addresses.".into()));
            }
        }
        shared::Msg::Rebind(want.0.clone(), want.1)
    };
    if let Some(w) = shared.workers().first() {
        w.send(msg);
    }
    *current = want;
    // The title's {listen-addr} / {port} follow (Redis's changeListenPort / changeBindAddr).
    proctitle::refresh(cfg);
    Ok(())
}

/// Worker 0's side of a `Msg::Rebind`: the old sockets are closed by then.
pub(crate) fn rebind(binds: &[String], port: u16) -> Vec<Listener> {
    if port == 0 {
        return Vec::new();
    }
    listen_tcp_on(binds, port).unwrap_or_else(|e| {
        warning!("Failed to bind: {e}");
        Vec::new()
    })
}

fn listen_unix(config: &Config) -> anyhow::Result<Option<Listener>> {
    let Some(path) = config.unixsocket().filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    let _ = std::fs::remove_file(&path);
    let l = match mio::net::UnixListener::bind(&path) {
        Ok(l) => l,
        Err(e) => anyhow::bail!("Failed opening Unix socket: {e}"),
    };
    let perm = config.unixsocketperm();
    if perm != 0 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(perm))?;
    }
    Ok(Some(Listener::Unix(l)))
}

fn run(config: Config) -> anyhow::Result<()> {
    let pid = std::process::id();
    notice!("oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo");
    notice!(
        "Redis version={}, bits=64, commit=00000000, modified=0, pid={pid}, just started (redoxide {})",
        info::REDIS_VERSION,
        env!("CARGO_PKG_VERSION")
    );
    match config.config_file() {
        Some(p) => notice!("Configuration loaded from {}", p.display()),
        None => warning!("Warning: no config file specified, using the default config. In order to specify a config file use redoxide-server /path/to/redis.conf"),
    }
    for name in config.not_yet_effective() {
        warning!("Directive '{name}' is accepted but has no effect yet in redoxide (feature not implemented)");
    }
    let threads = match config.io_threads() {
        0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        n => n,
    };
    let databases = if config.cluster_enabled() { 1 } else { config.databases() };
    let mut registry = Registry::with_data_commands();
    cmds::register(&mut registry);
    // Checked against the command table when the configuration was read.
    for (from, to) in config.renamed_commands() {
        registry.rename(from, to);
    }
    let tcp = listen_tcp(&config)?;
    let unix = listen_unix(&config)?;
    if tcp.is_empty() && unix.is_none() {
        anyhow::bail!("Configured to not listen anywhere, exiting.");
    }
    let listen_spec = (config.bind(), config.port());
    let port = config.port();
    notice!(
        "redoxide {} running in {} mode, port={port}, worker threads={threads}, PID: {pid}",
        env!("CARGO_PKG_VERSION"),
        if config.cluster_enabled() { "cluster" } else { "standalone" }
    );
    if let Some(pidfile) = config.pidfile().filter(|p| !p.is_empty()) {
        if let Err(e) = std::fs::write(&pidfile, format!("{pid}\n")) {
            warning!("Failed to write PID file: {e}");
        }
    }
    let data_config = Arc::new(config.data_config());
    let requirepass = config.requirepass();
    let users = match acl_cmds::startup_users(&config) {
        Ok(u) => u,
        Err(e) => {
            warning!("{e}");
            std::process::exit(1);
        }
    };
    let unixsocket = config.unixsocket();
    let pidfile = config.pidfile();
    let bind = config.bind();
    let cluster =
        if config.cluster_enabled() { Some(cluster_node::ClusterNode::open(config.cluster_settings())?) } else { None };
    let shared: &'static Shared = Box::leak(Box::new(Shared {
        ks: Keyspace::new(databases),
        registry,
        config: RwLock::new(config),
        data_config: RwLock::new(data_config),
        acl: acl_cmds::AclShared::new(users, requirepass),
        clients: Mutex::new(Default::default()),
        next_client_id: 1.into(),
        blocking: Default::default(),
        pubsub: Default::default(),
        blocked_count: 0.into(),
        paused_count: 0.into(),
        watches: Mutex::new(Default::default()),
        watch_count: 0.into(),
        tracking: Default::default(),
        workers: Default::default(),
        shutdown: false.into(),
        listener_fds: Mutex::new(Some(Vec::new())),
        listen_spec: Mutex::new(listen_spec),
        pause: Mutex::new(Default::default()),
        pause_until_ms: 0.into(),
        failover_pause_until_ms: 0.into(),
        shutdown_pause_until_ms: 0.into(),
        role_switch_pending: false.into(),
        stats: Default::default(),
        start_ms: now_ms(),
        run_id: random_hex_id(),
        executable: std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default(),
        lastsave_s: (now_ms() / 1000).into(),
        persist: persistence::new_state(),
        write_error: false.into(),
        active_expire_enabled: true.into(),
        cron_paused: false.into(),
        stat_reset_ms: now_ms().into(),
        config_epoch: 0.into(),
        cluster,
        introspect: Default::default(),
    }));
    introspect::refresh(shared);
    oom_score::apply_current(shared);
    proctitle::refresh(&shared.config.read());
    shared.stats.client_eviction_limit.store(shared.config.read().client_eviction_limit(), Ordering::Relaxed);
    // Keys loaded below get access clocks of the right kind, stamped now (not at the epoch, which
    // would make every loaded key look idle for decades to the LRU policies).
    keyspace::access::advance(shared::now_ms());
    {
        let eviction = shared.config.read().eviction_settings();
        keyspace::access::configure(eviction.policy.lfu(), eviction.lfu_log_factor, eviction.lfu_decay_time);
    }

    let mut workers = Vec::with_capacity(threads);
    let mut handles = Vec::with_capacity(threads);
    for id in 0..threads {
        let poll = mio::Poll::new()?;
        let waker = Worker::new_waker(&poll)?;
        let stats = Arc::new(WorkerStats::new(shared.registry.len()));
        handles.push(WorkerHandle { waker, inbox: Mutex::new(Vec::new()), stats: stats.clone() });
        workers.push(Worker::new(id, shared, poll, stats));
    }
    let _ = shared.workers.set(handles);
    let listeners: Vec<Listener> = tcp.into_iter().chain(unix).collect();
    let signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT]);
    match signals {
        Ok(mut signals) => {
            std::thread::Builder::new().name("signals".into()).spawn(move || {
                for sig in signals.forever() {
                    shutdown::on_signal(shared, sig == signal_hook::consts::SIGINT);
                }
            })?;
        }
        Err(e) => warning!("Could not install signal handlers: {e}"),
    }
    // As Redis's initServer: the baseline is taken before the data is loaded.
    memory::note_startup();
    notice!("Server initialized");
    let threads: Vec<_> = workers
        .into_iter()
        .enumerate()
        // 16 MB of stack (address space; pages are touched only as used): a script's reply and
        // the command replies it converts recurse once per nesting level (up to
        // scripting::vm::MAX_DEPTH), which overflowed the default 2 MB in debug builds.
        .map(|(i, w)| {
            std::thread::Builder::new().name(format!("worker-{i}")).stack_size(16 << 20).spawn(move || w.run())
        })
        .collect::<Result<_, _>>()?;
    watchdog::start(shared, threads.len());
    // The workers serve clients while the data loads, as Redis's loading loop processes events:
    // INFO, CONFIG and the other `loading` commands run, the rest get -LOADING. Worker 0 gets
    // the listeners once the load is past `loading-process-events-interval-bytes`, as Redis's
    // loader first serves events there, or when it ends. Rejected: loading before the workers
    // start, which left connections unanswered in the listen backlog for the whole load (a
    // client could not even learn that the server was loading).
    // As Redis: with the AOF off, the RDB file (if any) is the data; a file that cannot be read
    // whole stops start-up rather than let the server run with part of it.
    let interval_bytes = shared.config.read().loading_process_events_interval_bytes();
    persistence::LOAD_PROGRESS.begin_startup(
        persistence::startup_load_bytes(shared),
        interval_bytes,
        Box::new(move || {
            if let Some(w) = shared.workers().first() {
                w.send(shared::Msg::Listeners(listeners));
            }
        }),
    );
    let loaded = {
        let _loading = replication::begin_loading();
        if !shared.config.read().appendonly() {
            persistence::load_at_startup(shared)
        } else {
            // As Redis 7.0: with the AOF on, the AOF directory is the data (an RDB file is not read).
            aof::load_and_open_at_startup(shared)
        }
    };
    match loaded {
        Err(e) if e.is::<persistence::ShutdownDuringLoad>() => notice!("Loading stopped: shutdown requested"),
        Err(e) => return Err(e),
        Ok(()) => {
            cluster_node::start(shared, &bind)?;
            replication::start(shared);
            persistence::LOAD_PROGRESS.open_now();
            notice!("Ready to accept connections");
        }
    }
    for t in threads {
        let _ = t.join();
    }
    aof::shutdown();
    if let Some(path) = unixsocket.filter(|p| !p.is_empty()) {
        let _ = std::fs::remove_file(path);
    }
    if let Some(p) = pidfile.filter(|p| !p.is_empty()) {
        let _ = std::fs::remove_file(p);
    }
    warning!("Redis is now ready to exit, bye bye...");
    Ok(())
}
