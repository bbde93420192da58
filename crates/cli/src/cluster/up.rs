//! `redoxide-cli --cluster up` and `--cluster down`: a whole local cluster in one command.
//!
//! `up` writes one redis.conf per node in the seed's style (`DIR/<port>/redis.conf`), starts a
//! redoxide-server per node (the binary beside this one), creates the cluster with the manager's
//! own `create`, waits until every node agrees, and prints a table of the nodes and the health
//! report. A directory that already holds a cluster is restarted instead: the nodes rejoin from
//! their nodes.conf and nothing is re-created. In the foreground, Ctrl-C (or SIGTERM) stops every
//! node with SHUTDOWN; with `--cluster-detach` it returns once healthy, the pids recorded in
//! `DIR/cluster.pids`, and `down` stops them (SHUTDOWN first, then signals, bounded waits).
//!
//! It owns the directory's layout (`DIR/cluster-layout`, `DIR/cluster.pids`, `DIR/<port>/...`) and
//! the node processes it starts. It must never: start anything before every check passed (server
//! binary present, ports and bus ports free, no cluster of this directory running), leave a node
//! running when `up` fails, signal a pid that is no longer a redoxide-server of this directory,
//! panic on bad input, or wait without a bound.

use super::health;
use super::model;
use super::{Auth, Io, Manager};
use crate::client::Connection;
use crate::options::ClusterArgs;
use crate::reply::Reply;
use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use thiserror::Error;

const LAYOUT_FILE: &str = "cluster-layout";
const PIDS_FILE: &str = "cluster.pids";
const HOST: &str = "127.0.0.1";

#[derive(Debug, Error)]
pub enum UpError {
    #[error("{0}")]
    Usage(String),
    #[error(
        "redoxide-server not found at {0} (up starts the server binary that sits beside redoxide-cli: build both with `cargo build --release` and run target/release/redoxide-cli)"
    )]
    NoServer(String),
    #[error("{dir}: {what}: {err}")]
    Io { dir: String, what: String, err: std::io::Error },
    #[error("{0}")]
    Layout(String),
    #[error("port(s) already in use on 127.0.0.1: {0} (each node needs its port and its bus port, port + 10000; pick others with --cluster-base-port)")]
    PortsTaken(String),
    #[error("a cluster of {dir} is already running (pids {pids}); stop it with: redoxide-cli --cluster down --cluster-dir {dir}")]
    Running { dir: String, pids: String },
    #[error("{0}")]
    Start(String),
}

/// The cluster's shape, fixed when the directory is first used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub masters: u16,
    pub replicas: u16,
    pub base_port: u16,
    pub node_timeout: u64,
}

impl Layout {
    pub fn nodes(&self) -> u16 {
        self.masters * (1 + self.replicas)
    }

    pub fn ports(&self) -> Vec<u16> {
        (0..self.nodes()).map(|i| self.base_port + i).collect()
    }

    fn to_text(&self) -> String {
        format!(
            "# written by redoxide-cli --cluster up; the cluster's shape (do not edit)\nmasters {}\nreplicas {}\nbase-port {}\nnode-timeout {}\n",
            self.masters, self.replicas, self.base_port, self.node_timeout
        )
    }

    fn parse(text: &str) -> Option<Layout> {
        let get = |k: &str| -> Option<u64> {
            text.lines().find_map(|l| l.strip_prefix(k)?.strip_prefix(' ')?.trim().parse().ok())
        };
        let l = Layout {
            masters: u16::try_from(get("masters")?).ok()?,
            replicas: u16::try_from(get("replicas")?).ok()?,
            base_port: u16::try_from(get("base-port")?).ok()?,
            node_timeout: get("node-timeout")?,
        };
        l.validate().ok()?;
        Some(l)
    }

    fn validate(&self) -> Result<(), String> {
        if self.masters < 3 {
            return Err("--cluster-masters must be at least 3 (Redis Cluster needs three masters)".into());
        }
        if self.masters > 100 || self.replicas > 10 {
            return Err("up is for local clusters: at most 100 masters and 10 replicas per master".into());
        }
        if self.base_port == 0 || u32::from(self.base_port) + u32::from(self.nodes()) - 1 + 10000 > 65535 {
            return Err(format!(
                "--cluster-base-port {}: the ports and their bus ports (port + 10000) must fit below 65536",
                self.base_port
            ));
        }
        if self.node_timeout == 0 {
            return Err("--cluster-node-timeout must be a positive number of milliseconds".into());
        }
        Ok(())
    }
}

/// A node's redis.conf, the seed's lines for this node (bound to 127.0.0.1: a local cluster).
pub fn node_config(port: u16, dir: &Path, node_timeout: u64) -> String {
    format!(
        "port {port}\ncluster-enabled yes\ncluster-config-file nodes-{port}.conf\ncluster-node-timeout {node_timeout}\nappendonly yes\nappendfilename \"appendonly-{port}.aof\"\ndbfilename dump-{port}.rdb\ndir {}\nbind 127.0.0.1\nprotected-mode no\n",
        dir.display()
    )
}

fn io_err(dir: &Path, what: impl Into<String>) -> impl FnOnce(std::io::Error) -> UpError {
    let dir = dir.display().to_string();
    let what = what.into();
    move |err| UpError::Io { dir, what, err }
}

/// The directory given (or the default), made absolute so the configs do not depend on the cwd.
fn cluster_dir(args: &ClusterArgs) -> Result<PathBuf, UpError> {
    let d = PathBuf::from(args.dir.clone().unwrap_or_else(|| "./redoxide-cluster".into()));
    let abs =
        if d.is_absolute() { d } else { std::env::current_dir().map_err(io_err(&d, "current directory"))?.join(d) };
    // `components` drops the `.` steps (`/home/me/./redoxide-cluster`), so every spelling of the
    // directory names the same nodes (their command lines are matched against it).
    Ok(abs.components().collect())
}

/// The server binary beside the running redoxide-cli.
fn server_binary() -> Result<PathBuf, UpError> {
    let exe = std::env::current_exe().map_err(io_err(Path::new("."), "finding redoxide-cli's own path"))?;
    let bin = exe.with_file_name("redoxide-server");
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(UpError::NoServer(bin.display().to_string()))
    }
}

fn in_range(v: Option<i64>, default: i64, lo: i64, hi: i64, name: &str) -> Result<i64, UpError> {
    let v = v.unwrap_or(default);
    if v < lo || v > hi {
        return Err(UpError::Usage(format!("{name} {v} is out of range ({lo}..{hi})")));
    }
    Ok(v)
}

/// The layout asked for on the command line.
fn wanted_layout(args: &ClusterArgs) -> Result<Layout, UpError> {
    let l = Layout {
        masters: in_range(args.masters, 3, 0, 1000, "--cluster-masters")? as u16,
        replicas: in_range(args.replicas_given.then_some(args.replicas), 1, 0, 100, "--cluster-replicas")? as u16,
        base_port: in_range(args.base_port, 7000, 1, 65535, "--cluster-base-port")? as u16,
        node_timeout: in_range(args.node_timeout, 5000, 1, 1 << 40, "--cluster-node-timeout")? as u64,
    };
    l.validate().map_err(UpError::Usage)?;
    Ok(l)
}

/// Is `pid` alive (not a zombie) and a redoxide-server started on a config in `dir`?
fn is_our_server(pid: i32, dir: &Path) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    // The state follows the parenthesised command name; a zombie has exited already.
    if stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z')) {
        return false;
    }
    // The program (a rebuilt binary reads "redoxide-server (deleted)") and the working directory,
    // which the server changes to its node directory under `dir`. Rejected: the command line,
    // which the server replaces with its process title (`proc-title-template`, as Redis does),
    // so the config file path it held is gone.
    let program_is_ours = fs::read_link(format!("/proc/{pid}/exe"))
        .is_ok_and(|exe| exe.file_name().is_some_and(|n| n.to_string_lossy().starts_with("redoxide-server")));
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let runs_in_dir = fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd.starts_with(&dir));
    program_is_ours && runs_in_dir
}

/// `(port, pid)` pairs of the pid file; missing file: empty.
fn read_pids(dir: &Path) -> Vec<(u16, i32)> {
    let Ok(text) = fs::read_to_string(dir.join(PIDS_FILE)) else { return Vec::new() };
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
        })
        .collect()
}

fn write_pids(dir: &Path, pids: &[(u16, i32)]) -> Result<(), UpError> {
    let text: String = pids.iter().map(|(port, pid)| format!("{port} {pid}\n")).collect();
    fs::write(dir.join(PIDS_FILE), text).map_err(io_err(dir, PIDS_FILE))
}

/// Ports (and bus ports) that cannot be bound on 127.0.0.1 now.
fn taken_ports(ports: &[u16]) -> Vec<u16> {
    let mut taken = Vec::new();
    for &p in ports {
        for q in [p, p + 10000] {
            if TcpListener::bind((HOST, q)).is_err() {
                taken.push(q);
            }
        }
    }
    taken
}

/// One command on a fresh connection with a bound wait.
fn ask(port: u16, argv: &[&str], timeout: Duration) -> Option<Reply> {
    let mut c = Connection::connect(HOST, port).ok()?;
    let _ = c.stream().set_read_timeout(Some(timeout));
    let argv: Vec<Vec<u8>> = argv.iter().map(|a| a.as_bytes().to_vec()).collect();
    c.command(&argv).ok()
}

fn text_of(r: Option<Reply>) -> Option<String> {
    match r? {
        Reply::Bulk(b) | Reply::Status(b) | Reply::Verbatim(_, b) => Some(String::from_utf8_lossy(&b).into_owned()),
        _ => None,
    }
}

/// SIGINT/SIGTERM seen by the foreground `up`.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// The processes `up` started in this run (children: reaped by `wait`).
struct Started {
    children: Vec<(u16, Child)>,
}

impl Started {
    fn pids(&self) -> Vec<(u16, i32)> {
        self.children.iter().map(|(port, c)| (*port, c.id() as i32)).collect()
    }

    /// SHUTDOWN (saving, as configured) to each, then wait; SIGTERM, SIGKILL after bounded waits.
    fn stop_all(&mut self, out: &mut dyn Write) {
        for (port, child) in self.children.iter_mut() {
            if matches!(child.try_wait(), Ok(Some(_))) {
                continue;
            }
            let _ = ask(*port, &["SHUTDOWN"], Duration::from_secs(30));
            let pid = child.id() as i32;
            if !wait_child(child, Duration::from_secs(20)) {
                let _ = writeln!(out, "node {port} (pid {pid}) did not stop after SHUTDOWN: SIGTERM");
                // SAFETY: `pid` is our own child, not yet reaped (so the pid cannot have been reused).
                unsafe { libc::kill(pid, libc::SIGTERM) };
                if !wait_child(child, Duration::from_secs(10)) {
                    // SAFETY: as above.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                    let _ = child.wait();
                }
            }
        }
        self.children.clear();
    }
}

fn wait_child(child: &mut Child, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_)) | Err(_)) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Starts one node and waits (bounded) until it answers PING.
fn start_node(bin: &Path, dir: &Path, port: u16) -> Result<Child, UpError> {
    let node_dir = dir.join(port.to_string());
    let log_path = node_dir.join(format!("redoxide-{port}.log"));
    let log =
        fs::OpenOptions::new().create(true).append(true).open(&log_path).map_err(io_err(&node_dir, "log file"))?;
    let log2 = log.try_clone().map_err(io_err(&node_dir, "log file"))?;
    let mut child = Command::new(bin)
        .arg(node_dir.join("redis.conf"))
        .current_dir(&node_dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        // Its own process group: Ctrl-C reaches only redoxide-cli, which then shuts every node down.
        .process_group(0)
        .spawn()
        .map_err(|e| UpError::Start(format!("cannot start {}: {e}", bin.display())))?;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let log = fs::read_to_string(&log_path).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(5).collect();
            return Err(UpError::Start(format!(
                "node {port} exited at start-up ({status}); the end of {}:\n{}",
                log_path.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            )));
        }
        if matches!(ask(port, &["PING"], Duration::from_secs(1)), Some(Reply::Status(s)) if s == b"PONG") {
            return Ok(child);
        }
        if Instant::now() > deadline || STOP.load(Ordering::SeqCst) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(UpError::Start(format!("node {port} did not answer PING within 15 s")));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every node's role as one text: `id:master` / `id:slave:masterid`, sorted.
fn roles_signature(nodes: &str) -> String {
    let mut v: Vec<String> = nodes
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let role = if f.get(2)?.contains("slave") { format!("slave:{}", f.get(3)?) } else { "master".into() };
            Some(format!("{}:{role}", f[0]))
        })
        .collect();
    v.sort_unstable();
    v.join("|")
}

/// Why the nodes do not agree yet (`None`: they do): every node ok, knows every other, the same
/// slots configuration (redis-cli's signature), the same roles, and `replicas` replicas in all.
fn disagreement(ports: &[u16], replicas: usize) -> Option<String> {
    let mut sig: Option<String> = None;
    let mut roles: Option<String> = None;
    for &p in ports {
        let Some(info) = text_of(ask(p, &["CLUSTER", "INFO"], Duration::from_secs(5))) else {
            return Some(format!("node {p} does not answer CLUSTER INFO"));
        };
        let state = info.lines().find_map(|l| l.trim_end().strip_prefix("cluster_state:")).unwrap_or("?");
        if state != "ok" {
            return Some(format!("node {p}: cluster_state is {state}"));
        }
        let known = model::info_field(&info, "cluster_known_nodes").unwrap_or(0);
        if known != ports.len() as i64 {
            return Some(format!("node {p} knows {known} of {} nodes", ports.len()));
        }
        let Some(nodes) = text_of(ask(p, &["CLUSTER", "NODES"], Duration::from_secs(5))) else {
            return Some(format!("node {p} does not answer CLUSTER NODES"));
        };
        if nodes.lines().any(|l| l.split(' ').nth(2).is_some_and(|f| f.contains("fail") || f.contains("handshake"))) {
            return Some(format!("node {p} still sees a node failing or in handshake"));
        }
        let r = roles_signature(&nodes);
        let slaves = r.matches(":slave:").count();
        if slaves != replicas {
            return Some(format!("node {p} sees {slaves} replicas, not {replicas}"));
        }
        match &roles {
            None => roles = Some(r),
            Some(a) if *a != r => return Some(format!("node {p} disagrees on the roles")),
            _ => {}
        }
        let s = model::config_signature(&nodes);
        match (&sig, s) {
            (_, None) => return Some(format!("node {p} has no slots configuration")),
            (None, Some(s)) => sig = Some(s),
            (Some(a), Some(b)) if *a != b => return Some(format!("node {p} disagrees on the slots configuration")),
            _ => {}
        }
    }
    None
}

fn wait_agreement(ports: &[u16], replicas: usize, limit: Duration) -> Result<(), UpError> {
    let deadline = Instant::now() + limit;
    loop {
        match disagreement(ports, replicas) {
            None => return Ok(()),
            Some(_) if STOP.load(Ordering::SeqCst) => return Err(UpError::Start("interrupted".into())),
            Some(why) if Instant::now() > deadline => {
                return Err(UpError::Start(format!("the nodes did not agree within {} s: {why}", limit.as_secs())))
            }
            Some(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// The table of nodes: port, pid, role, id, slots or master.
fn node_table(ports: &[u16], pids: &[(u16, i32)]) -> String {
    let nodes = text_of(ask(ports[0], &["CLUSTER", "NODES"], Duration::from_secs(5))).unwrap_or_default();
    let entries: Vec<Vec<&str>> =
        nodes.lines().map(|l| l.split(' ').collect::<Vec<_>>()).filter(|v| v.len() >= 8).collect();
    let port_of_id = |id: &str| -> String {
        entries
            .iter()
            .find(|e| e[0] == id)
            .map(|e| e[1].split('@').next().unwrap_or("").to_string())
            .unwrap_or_else(|| id.to_string())
    };
    let mut out = format!("{:<6} {:<8} {:<8} {:<40} {}\n", "PORT", "PID", "ROLE", "NODE ID", "SLOTS / MASTER");
    for &p in ports {
        let pid = pids.iter().find(|(q, _)| *q == p).map_or("-".to_string(), |(_, pid)| pid.to_string());
        let addr = format!("{HOST}:{p}");
        let e = entries.iter().find(|e| e[1].split('@').next() == Some(addr.as_str()));
        let (role, id, what) = match e {
            Some(e) if e[2].contains("slave") => ("replica", e[0], format!("replicates {}", port_of_id(e[3]))),
            Some(e) => ("master", e[0], e[8..].join(" ")),
            None => ("?", "-", "not in the cluster".to_string()),
        };
        out.push_str(&format!("{p:<6} {pid:<8} {role:<8} {id:<40} {what}\n"));
    }
    out
}

fn say(io: &mut Io<'_>, text: &str) {
    let _ = io.out.write_all(text.as_bytes());
    let _ = io.out.flush();
}

/// `--cluster up`: returns the exit status.
pub fn up(args: ClusterArgs, auth: Auth, mut io: Io<'_>) -> i32 {
    let mut started = Started { children: Vec::new() };
    match up_inner(&args, &auth, &mut io, &mut started) {
        Ok(code) => code,
        Err(e) => {
            let _ = io.out.flush();
            let _ = writeln!(io.err, "redoxide-cli --cluster up: {e}");
            if !started.children.is_empty() {
                let _ = writeln!(io.err, "stopping the {} node(s) this run started", started.children.len());
                started.stop_all(io.err);
                if let Ok(dir) = cluster_dir(&args) {
                    let _ = fs::remove_file(dir.join(PIDS_FILE));
                }
            }
            1
        }
    }
}

fn up_inner(args: &ClusterArgs, auth: &Auth, io: &mut Io<'_>, started: &mut Started) -> Result<i32, UpError> {
    if !args.args.is_empty() {
        return Err(UpError::Usage(format!("up takes no arguments, only options (got {})", args.args.join(" "))));
    }
    let dir = cluster_dir(args)?;
    let wanted = wanted_layout(args)?;
    let bin = server_binary()?;
    // An existing directory fixes the shape; options that contradict it are refused.
    let existing = match fs::read_to_string(dir.join(LAYOUT_FILE)) {
        Ok(t) => Some(Layout::parse(&t).ok_or_else(|| {
            UpError::Layout(format!(
                "{} is not readable; remove {} to start over",
                dir.join(LAYOUT_FILE).display(),
                dir.display()
            ))
        })?),
        Err(_) => None,
    };
    // From here on Ctrl-C (SIGINT) or SIGTERM ends `up` through its own path, which stops every node
    // this run started; the nodes are in their own process groups, so the signal reaches only us.
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    let layout = match &existing {
        Some(l) => {
            let clash = (args.masters.is_some() && wanted.masters != l.masters)
                || (args.replicas_given && wanted.replicas != l.replicas)
                || (args.base_port.is_some() && wanted.base_port != l.base_port)
                || (args.node_timeout.is_some() && wanted.node_timeout != l.node_timeout);
            if clash {
                return Err(UpError::Layout(format!(
                    "{} already holds a cluster of {} masters x {} replicas on ports {}.. (node timeout {} ms); run up without those options to restart it, or use another --cluster-dir",
                    dir.display(),
                    l.masters,
                    l.replicas,
                    l.base_port,
                    l.node_timeout
                )));
            }
            l.clone()
        }
        None => wanted,
    };
    let ports = layout.ports();
    let running: Vec<String> = read_pids(&dir)
        .into_iter()
        .filter(|(_, pid)| is_our_server(*pid, &dir))
        .map(|(_, pid)| pid.to_string())
        .collect();
    if !running.is_empty() {
        return Err(UpError::Running { dir: dir.display().to_string(), pids: running.join(" ") });
    }
    let taken = taken_ports(&ports);
    if !taken.is_empty() {
        return Err(UpError::PortsTaken(taken.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(" ")));
    }
    let have_conf: Vec<bool> =
        ports.iter().map(|p| dir.join(p.to_string()).join(format!("nodes-{p}.conf")).is_file()).collect();
    let restart = existing.is_some() && have_conf.iter().all(|&b| b);
    if existing.is_some() && !restart && have_conf.iter().any(|&b| b) {
        return Err(UpError::Layout(format!(
            "{} holds nodes.conf files for only some of its nodes (an earlier up stopped half-way?); remove the directory to start over",
            dir.display()
        )));
    }
    // Checks passed: write and start.
    fs::create_dir_all(&dir).map_err(io_err(&dir, "creating the directory"))?;
    if !restart {
        fs::write(dir.join(LAYOUT_FILE), layout.to_text()).map_err(io_err(&dir, LAYOUT_FILE))?;
        for &p in &ports {
            let nd = dir.join(p.to_string());
            fs::create_dir_all(&nd).map_err(io_err(&nd, "creating the node directory"))?;
            fs::write(nd.join("redis.conf"), node_config(p, &nd, layout.node_timeout))
                .map_err(io_err(&nd, "redis.conf"))?;
        }
    }
    say(
        io,
        &format!(
            ">>> {} {} nodes ({} masters, {} replica(s) each) from {} with {}\n",
            if restart { "Restarting" } else { "Starting" },
            ports.len(),
            layout.masters,
            layout.replicas,
            dir.display(),
            bin.display()
        ),
    );
    for &p in &ports {
        if STOP.load(Ordering::SeqCst) {
            return Err(UpError::Start("interrupted".into()));
        }
        let child = start_node(&bin, &dir, p)?;
        started.children.push((p, child));
        write_pids(&dir, &started.pids())?;
    }
    if !restart {
        let mut cargs = args.clone();
        cargs.command = "create".into();
        cargs.args = ports.iter().map(|p| format!("{HOST}:{p}")).collect();
        cargs.replicas = i64::from(layout.replicas);
        cargs.yes = true;
        let sub = Io {
            out: &mut *io.out,
            err: &mut *io.err,
            input: &mut *io.input,
            color: io.color,
            out_is_tty: io.out_is_tty,
        };
        let mut m = Manager::new(cargs, auth.clone(), sub);
        let created = super::commands::lookup("create").is_some_and(|c| (c.run)(&mut m));
        m.flush();
        drop(m);
        if !created {
            return Err(UpError::Start("creating the cluster failed (see above)".into()));
        }
    }
    say(io, ">>> Waiting for every node to agree\n");
    let replicas = usize::from(layout.masters) * usize::from(layout.replicas);
    wait_agreement(&ports, replicas, Duration::from_millis(30_000 + 4 * layout.node_timeout))?;
    let pids = started.pids();
    say(io, &format!("\n{}\n", node_table(&ports, &pids)));
    let healthy = match health::fetch_report(HOST, ports[0], auth) {
        Ok(r) => {
            say(io, &r.text);
            r.ok
        }
        Err(e) => {
            let _ = writeln!(io.err, "{e}");
            false
        }
    };
    if !healthy {
        return Err(UpError::Start("the cluster is not healthy".into()));
    }
    let dir_s = dir.display();
    if args.detach {
        say(
            io,
            &format!(
                "\nThe cluster is up: redis-cli -c -p {} (pids in {dir_s}/{PIDS_FILE}, logs in {dir_s}/<port>/).\nStop it with: redoxide-cli --cluster down --cluster-dir {dir_s}\n",
                ports[0]
            ),
        );
        // The nodes run on, in their own process groups; they are no longer ours to stop.
        started.children.clear();
        return Ok(0);
    }
    say(io, &format!("\nThe cluster is up: redis-cli -c -p {}. Press Ctrl-C to stop every node.\n", ports[0]));
    let mut gone = Vec::new();
    while !STOP.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(200));
        for (port, child) in started.children.iter_mut() {
            if !gone.contains(port) {
                if let Ok(Some(status)) = child.try_wait() {
                    gone.push(*port);
                    let _ = writeln!(io.err, "node {port} exited ({status}); see {dir_s}/{port}/redoxide-{port}.log");
                }
            }
        }
        if gone.len() == started.children.len() {
            break;
        }
    }
    say(io, "\n>>> Stopping every node (SHUTDOWN)\n");
    started.stop_all(io.out);
    let _ = fs::remove_file(dir.join(PIDS_FILE));
    say(io, &format!(">>> Stopped. `redoxide-cli --cluster up --cluster-dir {dir_s}` starts the same nodes again.\n"));
    Ok(0)
}

/// `--cluster down`: stops the nodes recorded in the directory's pid file.
pub fn down(args: ClusterArgs, mut io: Io<'_>) -> i32 {
    match down_inner(&args, &mut io) {
        Ok(()) => 0,
        Err(e) => {
            let _ = io.out.flush();
            let _ = writeln!(io.err, "redoxide-cli --cluster down: {e}");
            1
        }
    }
}

fn pid_gone(pid: i32, dir: &Path) -> bool {
    !is_our_server(pid, dir)
}

fn wait_gone(pid: i32, dir: &Path, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if pid_gone(pid, dir) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    pid_gone(pid, dir)
}

fn down_inner(args: &ClusterArgs, io: &mut Io<'_>) -> Result<(), UpError> {
    if !args.args.is_empty() {
        return Err(UpError::Usage(format!(
            "down takes no arguments, only --cluster-dir (got {})",
            args.args.join(" ")
        )));
    }
    let dir = cluster_dir(args)?;
    if !dir.join(LAYOUT_FILE).is_file() {
        return Err(UpError::Layout(format!("{} holds no cluster made by `redoxide-cli --cluster up`", dir.display())));
    }
    let pids = read_pids(&dir);
    let live: Vec<(u16, i32)> = pids.into_iter().filter(|(_, pid)| is_our_server(*pid, &dir)).collect();
    if live.is_empty() {
        let _ = fs::remove_file(dir.join(PIDS_FILE));
        say(io, &format!("No node of {} is running.\n", dir.display()));
        return Ok(());
    }
    say(io, &format!(">>> Stopping {} node(s) of {} (SHUTDOWN)\n", live.len(), dir.display()));
    // SHUTDOWN to all first (each saves as configured), then wait for each pid.
    for (port, _) in &live {
        let _ = ask(*port, &["SHUTDOWN"], Duration::from_secs(30));
    }
    let mut failed = Vec::new();
    for (port, pid) in &live {
        if wait_gone(*pid, &dir, Duration::from_secs(20)) {
            say(io, &format!("node {port} (pid {pid}) stopped\n"));
            continue;
        }
        say(io, &format!("node {port} (pid {pid}) did not stop after SHUTDOWN: SIGTERM\n"));
        // SAFETY: is_our_server checked just now that the pid is this directory's redoxide-server.
        unsafe { libc::kill(*pid, libc::SIGTERM) };
        if !wait_gone(*pid, &dir, Duration::from_secs(10)) {
            if !pid_gone(*pid, &dir) {
                // SAFETY: as above.
                unsafe { libc::kill(*pid, libc::SIGKILL) };
            }
            if !wait_gone(*pid, &dir, Duration::from_secs(5)) {
                failed.push(*pid);
            }
        }
    }
    if !failed.is_empty() {
        return Err(UpError::Start(format!(
            "pid(s) {} are still running",
            failed.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(" ")
        )));
    }
    let _ = fs::remove_file(dir.join(PIDS_FILE));
    say(io, &format!(">>> Stopped. `redoxide-cli --cluster up --cluster-dir {}` starts it again.\n", dir.display()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_round_trips_and_validates() {
        let l = Layout { masters: 3, replicas: 1, base_port: 7000, node_timeout: 5000 };
        assert_eq!(Layout::parse(&l.to_text()), Some(l.clone()));
        assert_eq!(l.ports(), vec![7000, 7001, 7002, 7003, 7004, 7005]);
        assert!(Layout { masters: 2, ..l.clone() }.validate().is_err());
        assert!(Layout { base_port: 55531, ..l.clone() }.validate().is_err());
        assert!(Layout { base_port: 55530, ..l.clone() }.validate().is_ok());
        assert_eq!(Layout::parse("masters x\n"), None);
        assert_eq!(Layout::parse(""), None);
    }

    #[test]
    fn config_is_the_seeds() {
        assert_eq!(
            node_config(7000, Path::new("/d/7000"), 5000),
            "port 7000\ncluster-enabled yes\ncluster-config-file nodes-7000.conf\ncluster-node-timeout 5000\nappendonly yes\nappendfilename \"appendonly-7000.aof\"\ndbfilename dump-7000.rdb\ndir /d/7000\nbind 127.0.0.1\nprotected-mode no\n"
        );
    }
}
