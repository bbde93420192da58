#!/usr/bin/env python3
"""3-master cluster benchmark: redis-server 7.0.15 (A, "redis") against redoxide-server (B, "redoxide").

For each implementation, in the same run and with the same placement (every node `taskset -c SERVER_CPU`, every
client `taskset -c CLIENT_CPU`, redoxide nodes with `--io-threads 1`):

1. start 3 nodes (`--cluster-enabled yes`, no replicas) on free 127.0.0.1 ports whose bus ports (+10000) are free
   too, create the cluster with the real `redis-cli --cluster create ... --cluster-yes`, wait until every node says
   `cluster_state:ok` and all agree on the slot map;
2. throughput: `redis-benchmark --cluster -t set|get -n N -r 1000000 -d 64 -c 50 -P {1,16} --threads 1 --csv`,
   one test per run, rounds interleaved A B A B; requests/s and server CPU per request (summed over the 3 nodes);
3. reshard: FLUSHALL, load K string keys (`bench:<n>`, V-byte values) with a pipelined loader that sends each key
   to the node owning its slot, then time `redis-cli --cluster reshard <node> --cluster-from <id> --cluster-to <id>
   --cluster-slots 5461 --cluster-yes --cluster-pipeline 100`. Keys moved = the keys in the slots that changed
   owner, counted with CLUSTER COUNTKEYSINSLOT before the move. Rounds alternate direction (node 1 -> node 2, then
   back) on the same cluster, interleaved A B A B, so every round moves the same 5461 slots and the same keys.
   Each round is timed with redis-cli and again with redoxide-cli (`--reshard-clis`), whose reshard sends each
   step for 64 slots as one pipeline instead of one slot at a time.

Prints medians and ratios redoxide/redis, and the command line that produced them; raw rows go to
bench/results/cluster-<stamp>.csv (git-ignored). Every process is started here, killed by its pid at the end (also
on Ctrl-C or an error), and every wait is bounded. Only 127.0.0.1 is used.

usage: bench/cluster.py [--quick] [--rounds N] [-n N] [--pipelines 1,16] [--keys K] [--value-bytes V]
                        [--reshard-pipeline 100] [--only throughput|reshard] [--perf] [--keep]
"""

import argparse
import os
import random
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

REDIS_SERVER = os.environ.get("REDIS_SERVER", "/usr/bin/redis-server")
REDOXIDE_SERVER = os.environ.get("REDOXIDE_SERVER", os.path.join(REPO, "target/release/redoxide-server"))
REDOXIDE_ARGS = shlex.split(os.environ.get("REDOXIDE_ARGS", "--io-threads 1"))
REDIS_ARGS = shlex.split(os.environ.get("REDIS_ARGS", ""))
BENCH = os.environ.get("REDIS_BENCHMARK", "redis-benchmark")
CLI = os.environ.get("REDIS_CLI", "redis-cli")
REDOXIDE_CLI = os.environ.get("REDOXIDE_CLI", os.path.join(REPO, "target/release/redoxide-cli"))
SERVER_CPU = os.environ.get("SERVER_CPU", "0")
CLIENT_CPU = os.environ.get("CLIENT_CPU", "1")
CLK_TCK = os.sysconf("SC_CLK_TCK")

LIVE = {}  # pid -> Popen: everything we started and have not reaped yet


class Interrupted(Exception):
    pass


def on_signal(signum, _frame):
    raise Interrupted("signal %d" % signum)


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(") ", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def stop(proc, grace=5.0):
    """Ends one process we started, by its pid: TERM, bounded wait, KILL."""
    if proc is None:
        return
    if proc.poll() is None:
        try:
            os.kill(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            try:
                os.kill(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)
    LIVE.pop(proc.pid, None)


def start(argv, **kw):
    proc = subprocess.Popen(argv, **kw)
    LIVE[proc.pid] = proc
    return proc


def cpu_ticks(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(") ", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return None


# --------------------------------------------------------------------------------------------------------------
# RESP over a socket (requests are pipelined: send many, then read as many replies)


class RespError(Exception):
    pass


def encode(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Conn:
    def __init__(self, port, timeout=30.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.f = self.sock.makefile("rb")

    def close(self):
        self.f.close()
        self.sock.close()

    def send(self, payload):
        self.sock.sendall(payload)

    def read(self):
        line = self.f.readline()
        if not line:
            raise ConnectionError("connection closed")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RespError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self.f.read(n + 2)[:-2]
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise RespError("unexpected reply %r" % line)

    def cmd(self, *args):
        self.send(encode(*args))
        r = self.read()
        if isinstance(r, RespError):
            raise r
        return r

    def pipeline(self, commands, batch=1000):
        """Sends commands in batches, returns all replies (errors raised)."""
        replies = []
        for i in range(0, len(commands), batch):
            chunk = commands[i : i + batch]
            self.send(b"".join(encode(*c) for c in chunk))
            for _ in chunk:
                r = self.read()
                if isinstance(r, RespError):
                    raise r
                replies.append(r)
        return replies


def one(port, *args, timeout=5.0):
    c = Conn(port, timeout)
    try:
        return c.cmd(*args)
    finally:
        c.close()


# CRC16 (XMODEM) as in Redis's crc16.c, and keyHashSlot with hash tags.
_CRC_TABLE = []
for _i in range(256):
    _c = _i << 8
    for _ in range(8):
        _c = ((_c << 1) ^ 0x1021) if _c & 0x8000 else (_c << 1)
    _CRC_TABLE.append(_c & 0xFFFF)


def key_slot(key):
    s = key.find(b"{")
    if s >= 0:
        e = key.find(b"}", s + 1)
        if e > s + 1:
            key = key[s + 1 : e]
    crc = 0
    for b in key:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC_TABLE[((crc >> 8) ^ b) & 0xFF]
    return crc & 0x3FFF


# --------------------------------------------------------------------------------------------------------------
# Clusters


_handed_out = set()


def port_free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_cluster_port():
    """p with p and p+10000 free, below the ephemeral range, each handed out once per run."""
    for _ in range(2000):
        p = random.randrange(20000, 30000)
        if {p, p + 10000} & _handed_out:
            continue
        if port_free(p) and port_free(p + 10000):
            _handed_out.update((p, p + 10000))
            return p
    raise RuntimeError("no free port pair found")


class Node:
    def __init__(self, cluster, binary, extra, node_timeout_ms=5000):
        self.cluster = cluster
        self.binary = binary
        self.extra = extra
        self.node_timeout_ms = node_timeout_ms
        self.port = free_cluster_port()
        self.proc = None
        self.id = None
        self.log = os.path.join(cluster.dir, "node-%d.log" % self.port)

    @property
    def pid(self):
        return self.proc.pid

    def start(self):
        argv = [
            "taskset", "-c", SERVER_CPU, self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--cluster-enabled", "yes",
            "--cluster-config-file", "nodes-%d.conf" % self.port, "--cluster-node-timeout", str(self.node_timeout_ms),
            "--dir", self.cluster.dir,
        ] + self.extra
        with open(self.log, "ab") as logf:
            self.proc = start(argv, stdout=logf, stderr=subprocess.STDOUT, cwd=self.cluster.dir)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited during startup: %s" % (self.cluster.name, self.tail()))
            try:
                if one(self.port, "PING", timeout=1) == "PONG":
                    self.id = one(self.port, "CLUSTER", "MYID").decode()
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("%s did not answer PING on %d within 10 s" % (self.cluster.name, self.port))

    def tail(self, n=5):
        try:
            with open(self.log, "rb") as f:
                return " | ".join(l.decode(errors="replace").rstrip() for l in f.readlines()[-n:])
        except OSError:
            return ""

    def addr(self):
        return "127.0.0.1:%d" % self.port


class Cluster:
    """`masters` masters with `replicas` replicas each, created by the real redis-cli."""

    def __init__(self, name, binary, extra, root, masters=3, replicas=0, node_timeout_ms=5000):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix="%s-" % name, dir=root)
        self.replicas = replicas
        self.nodes = [Node(self, binary, extra, node_timeout_ms) for _ in range(masters * (1 + replicas))]

    def pids(self):
        return [n.pid for n in self.nodes]

    def all_alive(self):
        return all(n.proc is not None and n.proc.poll() is None for n in self.nodes)

    def cpu(self):
        t = [cpu_ticks(p) for p in self.pids()]
        return None if None in t else sum(t)

    def stop(self):
        for n in self.nodes:
            stop(n.proc)

    def start(self):
        for n in self.nodes:
            n.start()
        rc, out = run_cli(["--cluster", "create"] + [n.addr() for n in self.nodes]
                          + ["--cluster-replicas", str(self.replicas), "--cluster-yes"], 120)
        if rc != 0 or "[OK] All 16384 slots covered" not in out:
            raise RuntimeError("%s: redis-cli --cluster create failed (rc %s): %s" % (self.name, rc, out[-500:]))
        self.wait_consistent(60)

    def owners(self, node):
        """slot -> node id, from CLUSTER SLOTS of one node."""
        owner = {}
        for entry in one(node.port, "CLUSTER", "SLOTS"):
            lo, hi, master = entry[0], entry[1], entry[2]
            for s in range(lo, hi + 1):
                owner[s] = master[2].decode()
        return owner

    def wait_consistent(self, timeout):
        """Every node: cluster_state:ok, and all nodes report the same owner for all 16384 slots."""
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            try:
                states = [one(n.port, "CLUSTER", "INFO").decode() for n in self.nodes]
                if all("cluster_state:ok" in s for s in states):
                    maps = [self.owners(n) for n in self.nodes]
                    if all(len(m) == 16384 for m in maps) and all(m == maps[0] for m in maps[1:]):
                        return maps[0]
                    last = "slot maps differ"
                else:
                    last = "cluster_state not ok on every node"
            except (OSError, RespError) as e:
                last = repr(e)
            if not self.all_alive():
                raise RuntimeError("%s: a node died: %s" % (self.name, [n.tail() for n in self.nodes]))
            time.sleep(0.1)
        raise RuntimeError("%s: cluster not consistent within %d s (%s)" % (self.name, timeout, last))


def run_cli(args, timeout):
    """The real redis-cli on the client core; (rc, stdout+stderr)."""
    p = start(["taskset", "-c", CLIENT_CPU, CLI] + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop(p)
        return 124, "timeout after %d s" % timeout
    LIVE.pop(p.pid, None)
    return p.returncode, out.decode(errors="replace")


def run_watched(argv, cluster, timeout, out_path):
    """Runs a client on the client core, polling: stopped at once if a node of `cluster` dies (redis-benchmark
    would hang) or after `timeout`. Returns (status, wall seconds)."""
    with open(out_path, "wb") as out:
        t0 = time.monotonic()
        p = start(["taskset", "-c", CLIENT_CPU] + argv, stdout=out, stderr=subprocess.STDOUT)
        status = None
        while p.poll() is None:
            if time.monotonic() - t0 > timeout:
                status = "timeout"
                break
            if not cluster.all_alive():
                status = "server-died"
                break
            time.sleep(0.02)
        wall = time.monotonic() - t0
        stop(p)
    if status is None:
        status = "ok" if p.returncode == 0 else "failed-rc%d" % p.returncode
    return status, wall


# --------------------------------------------------------------------------------------------------------------
# Workloads


def bench_throughput(cl, test, pipeline, requests, clients, tmp, timeout):
    out = os.path.join(tmp, "bench.out")
    argv = [BENCH, "-h", "127.0.0.1", "-p", str(cl.nodes[0].port), "--cluster", "-t", test, "-n", str(requests),
            "-r", "1000000", "-d", "64", "-c", str(clients), "-P", str(pipeline), "--threads", "1", "--csv"]
    c0 = cl.cpu()
    status, wall = run_watched(argv, cl, timeout, out)
    c1 = cl.cpu()
    text = open(out, "rb").read().decode(errors="replace")
    rps = None
    for line in text.splitlines():
        f = [x.strip('"') for x in line.split(",")]
        if len(f) > 1 and f[0].upper() == test.upper():
            try:
                rps = float(f[1])
            except ValueError:
                pass
    if status == "ok" and ("Error" in text or "ERR" in text):
        status = "error-reply"
    if status == "ok" and rps is None:
        status = "no-output"
    cpu_us = None
    if status == "ok" and c0 is not None and c1 is not None:
        cpu_us = (c1 - c0) / CLK_TCK * 1e6 / requests
    if status != "ok":
        print("    %s %s: %s: %s" % (cl.name, test, status, text.strip().splitlines()[-2:] if text.strip() else ""))
    return status, rps, cpu_us


def load_keys(cl, nkeys, value_bytes):
    """FLUSHALL everywhere, then SET bench:<i> to a value_bytes value, each key to its slot's owner, pipelined.
    Returns (keys per slot before, DBSIZE total)."""
    owner = cl.owners(cl.nodes[0])
    by_id = {n.id: n for n in cl.nodes}
    for n in cl.nodes:
        one(n.port, "FLUSHALL", timeout=60)
    value = (b"v" * value_bytes)
    per_node = {n.id: [] for n in cl.nodes}
    per_slot = [0] * 16384
    for i in range(nkeys):
        k = b"bench:%d" % i
        s = key_slot(k)
        per_slot[s] += 1
        per_node[owner[s]].append(("SET", k, value))
    for nid, cmds in per_node.items():
        c = Conn(by_id[nid].port, 60)
        try:
            c.pipeline(cmds, 2000)
        finally:
            c.close()
    total = sum(one(n.port, "DBSIZE") for n in cl.nodes)
    return per_slot, total


def count_keys(cl, slots_by_node):
    """CLUSTER COUNTKEYSINSLOT for each slot on its owner (pipelined); slot -> count."""
    counts = {}
    for node, slots in slots_by_node:
        c = Conn(node.port, 60)
        try:
            for s, n in zip(slots, c.pipeline([("CLUSTER", "COUNTKEYSINSLOT", s) for s in slots])):
                counts[s] = n
        finally:
            c.close()
    return counts


def reshard_pair(cl, nslots):
    """(source, target) for the odd rounds; even rounds move the same slots back. A Redis 7 master that gives
    away its last slot turns into a replica of the taker (cluster-allow-replica-migration), so the source must
    keep at least one: it is the master with more than nslots slots (after `--cluster create`, the second one:
    5461-10922), the target the master with the highest slots, so that moving back (redis-cli takes a source's
    lowest-numbered slots) returns exactly the slots that came."""
    owner = cl.wait_consistent(60)
    by_id = {n.id: n for n in cl.nodes}
    count = {n.id: 0 for n in cl.nodes}
    for o in owner.values():
        count[o] += 1
    src = [n for n in cl.nodes if count[n.id] > nslots]
    if not src:
        raise RuntimeError("%s: no master has more than %d slots: %s" % (cl.name, nslots, count))
    src = src[0]
    top = by_id[owner[16383]]
    if top is src:
        raise RuntimeError("%s: unexpected slot layout" % cl.name)
    return src, top


def reshard(cli, cl, src, dst, nslots, pipeline, tmp, timeout, perf_out=None):
    """One timed `<cli> --cluster reshard`; returns a dict of figures."""
    owner = cl.wait_consistent(60)
    src_slots = sorted(s for s, o in owner.items() if o == src.id)
    counts = count_keys(cl, [(src, src_slots)])
    dbsize = {n.id: one(n.port, "DBSIZE") for n in cl.nodes}
    argv = [cli, "--cluster", "reshard", src.addr(), "--cluster-from", src.id, "--cluster-to", dst.id,
            "--cluster-slots", str(nslots), "--cluster-yes", "--cluster-pipeline", str(pipeline)]
    perf = None
    if perf_out:
        perf = start(["perf", "record", "-F", "499", "--call-graph", "dwarf,16384", "-o", perf_out, "-p", ",".join(str(p) for p in (src.pid, dst.pid))],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
    cpu0 = {n.id: cpu_ticks(n.pid) for n in cl.nodes}
    out = os.path.join(tmp, "reshard.out")
    status, wall = run_watched(argv, cl, timeout, out)
    cpu1 = {n.id: cpu_ticks(n.pid) for n in cl.nodes}
    if perf is not None:
        try:
            os.kill(perf.pid, signal.SIGINT)
            perf.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        stop(perf)
    text = open(out, "rb").read().decode(errors="replace")
    if status == "ok" and "[ERR]" in text:
        status = "error"
    after = cl.wait_consistent(60) if status == "ok" else cl.owners(src)
    moved = [s for s in src_slots if after.get(s) != src.id]
    keys = sum(counts[s] for s in moved)
    dbsize_after = {n.id: one(n.port, "DBSIZE") for n in cl.nodes}
    if status == "ok" and dbsize_after[src.id] != dbsize[src.id] - keys:
        status = "keys-missing (src %d -> %d, moved %d)" % (dbsize[src.id], dbsize_after[src.id], keys)
    if status == "ok" and sum(dbsize_after.values()) != sum(dbsize.values()):
        status = "keys-lost (%d -> %d)" % (sum(dbsize.values()), sum(dbsize_after.values()))
    if status != "ok":
        print("    %s reshard: %s: %s" % (cl.name, status, text.strip()[-400:]))
    return {
        "status": status, "wall": wall, "slots": len(moved), "keys": keys,
        "src_cpu": ((cpu1[src.id] - cpu0[src.id]) / CLK_TCK) if cpu0[src.id] is not None else None,
        "dst_cpu": ((cpu1[dst.id] - cpu0[dst.id]) / CLK_TCK) if cpu0[dst.id] is not None else None,
        "all_cpu": (sum(cpu1.values()) - sum(cpu0.values())) / CLK_TCK if None not in cpu0.values() else None,
    }


# --------------------------------------------------------------------------------------------------------------


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def spread(xs):
    xs = [x for x in xs if x is not None]
    if len(xs) < 2:
        return "-"
    m = statistics.median(xs)
    return "±%.0f%%" % ((max(xs) - min(xs)) / 2 / m * 100) if m else "-"


def fmt(v, d=0):
    return "-" if v is None else "{:,.{}f}".format(v, d)


def ratio(b, a):
    return None if a in (None, 0) or b is None else b / a


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="-n 100000, 2 rounds, 100000 keys")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("-n", "--requests", type=int, default=500000, help="requests per redis-benchmark run")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--pipelines", default="16,1")
    ap.add_argument("--keys", type=int, default=200000, help="keys loaded before the reshard")
    ap.add_argument("--value-bytes", type=int, default=32)
    ap.add_argument("--reshard-slots", type=int, default=5461)
    ap.add_argument("--reshard-pipeline", type=int, default=100)
    ap.add_argument("--reshard-clis", default="redis-cli,redoxide-cli",
                    help="which clients time the reshard, each in every round: redis-cli ($REDIS_CLI) and/or "
                    "redoxide-cli ($REDOXIDE_CLI)")
    ap.add_argument("--only", choices=["throughput", "reshard"])
    ap.add_argument("--timeout", type=int, default=600, help="bound on one client run, seconds")
    ap.add_argument("--perf", action="store_true",
                    help="perf record -g the source and target redoxide nodes during the last redoxide reshard "
                    "(the last cli of --reshard-clis)")
    ap.add_argument("--dir", default="/dev/shm" if os.path.isdir("/dev/shm") else None,
                    help="where node directories (nodes.conf, logs) go; default /dev/shm: a Redis 7 node fsyncs "
                    "nodes.conf at least once per slot it takes over, and on a shared disk fsync (1-17 ms here) "
                    "would dominate the reshard figure. Use --dir /tmp to include the disk")
    ap.add_argument("--keep", action="store_true", help="keep node directories (logs) under /tmp")
    ap.add_argument("--server", default=REDOXIDE_SERVER)
    ap.add_argument("--redis", default=REDIS_SERVER)
    args = ap.parse_args()
    known_clis = {"redis-cli": CLI, "redoxide-cli": REDOXIDE_CLI}
    clis = []
    for cli_name in args.reshard_clis.split(","):
        if cli_name not in known_clis:
            ap.error("--reshard-clis: %r is neither redis-cli nor redoxide-cli" % cli_name)
        clis.append((cli_name, known_clis[cli_name]))
    if args.quick:
        args.requests, args.rounds, args.keys = 100000, 2, 100000
    pipelines = [int(p) for p in args.pipelines.replace(",", " ").split()]
    command = " ".join(shlex.quote(a) for a in ["bench/cluster.py"] + sys.argv[1:])

    for tool in ["taskset", BENCH, CLI] + [cli for _, cli in clis]:
        if shutil.which(tool) is None:
            sys.exit("cluster.py: missing tool: %s" % tool)
    for b in (args.redis, args.server):
        if not os.access(b, os.X_OK):
            sys.exit("cluster.py: not executable: %s" % b)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    root = tempfile.mkdtemp(prefix="redoxide-bench-cluster-", dir=args.dir)
    results = os.path.join(HERE, "results")
    os.makedirs(results, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    csv_path = os.path.join(results, "cluster-%s.csv" % stamp)
    csv = open(csv_path, "w")
    # For reshard rows, "test" names the cli that ran it.
    csv.write("kind,test,pipeline,round,server,status,rps,cpu_us_per_req,wall_s,slots,keys,keys_per_s,mb_per_s,"
              "src_cpu_s,dst_cpu_s,all_nodes_cpu_s\n")

    header = [
        "redoxide cluster bench %s: %s" % (stamp, command),
        "  A redis:    %s %s" % (args.redis, " ".join(REDIS_ARGS)),
        "  B redoxide: %s %s" % (args.server, " ".join(REDOXIDE_ARGS)),
        "  3 masters each, all nodes on cpu %s, clients on cpu %s, %d rounds%s%s"
        % (SERVER_CPU, CLIENT_CPU, args.rounds,
           "; throughput -n %d -c %d -P %s" % (args.requests, args.clients, pipelines)
           if args.only in (None, "throughput") else "",
           "; reshard %d slots of %d keys (%d-byte values), --cluster-pipeline %d" % (
               args.reshard_slots, args.keys, args.value_bytes, args.reshard_pipeline)
           if args.only in (None, "reshard") else ""),
        "  node directories under %s; %s; %d cpus, load average %s" % (args.dir or tempfile.gettempdir(),
            subprocess.run([BENCH, "--version"], capture_output=True, text=True).stdout.strip(),
            os.cpu_count(), " ".join(open("/proc/loadavg").read().split()[:3])),
    ]
    print("\n".join(header), flush=True)

    clusters = {}
    tput = {}  # (test, P) -> name -> [(rps, cpu)]
    resh = {}  # name -> [dict]
    problems = []
    try:
        for name, binary, extra in (("redis", args.redis, REDIS_ARGS), ("redoxide", args.server, REDOXIDE_ARGS)):
            cl = Cluster(name, binary, extra, root)
            clusters[name] = cl
            t0 = time.monotonic()
            cl.start()
            print("  %-8s cluster up in %.1f s: %s" % (name, time.monotonic() - t0,
                                                        " ".join(n.addr() for n in cl.nodes)), flush=True)

        if args.only in (None, "throughput"):
            for pipeline in pipelines:
                for test in ("set", "get"):
                    for rnd in range(1, args.rounds + 1):
                        for name, cl in clusters.items():
                            st, rps, cpu = bench_throughput(cl, test, pipeline, args.requests, args.clients, root,
                                                            args.timeout)
                            print("  throughput %-3s P=%-2d round %d/%d %-8s %12s rps %8s us/req %s" % (
                                test, pipeline, rnd, args.rounds, name, fmt(rps), fmt(cpu, 3),
                                "" if st == "ok" else st), flush=True)
                            csv.write("throughput,%s,%d,%d,%s,%s,%s,%s,,,,,,,\n" % (
                                test, pipeline, rnd, name, st, rps or "", cpu or ""))
                            if st == "ok":
                                tput.setdefault((test, pipeline), {}).setdefault(name, []).append((rps, cpu))
                            else:
                                problems.append("%s throughput %s P=%d round %d: %s" % (name, test, pipeline, rnd, st))
                            if not cl.all_alive():
                                raise RuntimeError("%s: a node died: %s" % (name, [n.tail() for n in cl.nodes]))

        if args.only in (None, "reshard"):
            for name, cl in clusters.items():
                t0 = time.monotonic()
                _, total = load_keys(cl, args.keys, args.value_bytes)
                print("  %-8s loaded %d keys in %.1f s" % (name, total, time.monotonic() - t0), flush=True)
            pairs = {name: reshard_pair(cl, args.reshard_slots) for name, cl in clusters.items()}
            moves = {name: 0 for name in clusters}
            for rnd in range(1, args.rounds + 1):
                for cli_name, cli in clis:
                    for name, cl in clusters.items():
                        src, dst = pairs[name]
                        # Every reshard moves the slots back where the previous one took them.
                        if moves[name] % 2 == 1:
                            src, dst = dst, src
                        moves[name] += 1
                        perf_out = None
                        if args.perf and name == "redoxide" and rnd == args.rounds and cli_name == clis[-1][0]:
                            perf_out = os.path.join(HERE, "results", "cluster-%s-reshard.perf.data" % stamp)
                        r = reshard(cli, cl, src, dst, args.reshard_slots, args.reshard_pipeline, root, args.timeout,
                                    perf_out)
                        kps = r["keys"] / r["wall"] if r["status"] == "ok" and r["wall"] > 0 else None
                        mbps = kps * (len(b"bench:100000") + args.value_bytes) / 1e6 if kps else None
                        print("  reshard %d slots round %d/%d %-12s %-8s %6.2f s  %d keys  %10s keys/s  %5s slots/s  "
                              "cpu src %s s dst %s s all %s s %s" % (
                                  r["slots"], rnd, args.rounds, cli_name, name, r["wall"], r["keys"], fmt(kps),
                                  fmt(r["slots"] / r["wall"] if r["wall"] else None), fmt(r["src_cpu"], 2),
                                  fmt(r["dst_cpu"], 2), fmt(r["all_cpu"], 2), "" if r["status"] == "ok" else r["status"]),
                              flush=True)
                        csv.write("reshard,%s,%d,%d,%s,%s,,,%.3f,%d,%d,%s,%s,%s,%s,%s\n" % (
                            cli_name, args.reshard_pipeline, rnd, name, r["status"].replace(",", ";"), r["wall"], r["slots"],
                            r["keys"], kps or "", mbps or "", r["src_cpu"], r["dst_cpu"], r["all_cpu"]))
                        if r["status"] == "ok":
                            r["kps"], r["mbps"] = kps, mbps
                            resh.setdefault((cli_name, name), []).append(r)
                        else:
                            problems.append("%s reshard (%s) round %d: %s" % (name, cli_name, rnd, r["status"]))
                        if perf_out:
                            print("  perf data: %s (perf report -i ... --no-children)" % perf_out)
    except Interrupted as e:
        print("cluster.py: interrupted (%s)" % e, file=sys.stderr)
        problems.append("interrupted")
    except Exception as e:  # report what we have, then clean up
        print("cluster.py: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        problems.append("%s: %s" % (type(e).__name__, e))
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for cl in clusters.values():
            cl.stop()
        for proc in list(LIVE.values()):
            stop(proc)
        csv.close()
        if args.keep:
            print("node directories kept in %s" % root)
        else:
            shutil.rmtree(root, ignore_errors=True)

    lines = [""]
    if tput:
        lines.append("Throughput, redis-benchmark --cluster (medians; ratio = redoxide/redis; "
                     "us/req = server CPU of the 3 nodes per request)")
        head = "%-4s %3s | %11s %12s %6s | %12s %15s %6s | noise (rps A/B)" % (
            "test", "P", "redis rps", "redoxide rps", "ratio", "redis us/req", "redoxide us/req", "ratio")
        lines += [head, "-" * len(head)]
        for (test, p), by in tput.items():
            a, b = by.get("redis", []), by.get("redoxide", [])
            ra, rb = median([x[0] for x in a]), median([x[0] for x in b])
            ca, cb = median([x[1] for x in a]), median([x[1] for x in b])
            lines.append("%-4s %3d | %11s %12s %6s | %12s %15s %6s | %s / %s" % (
                test, p, fmt(ra), fmt(rb), fmt(ratio(rb, ra), 2), fmt(ca, 3), fmt(cb, 3), fmt(ratio(cb, ca), 2),
                spread([x[0] for x in a]), spread([x[0] for x in b])))
    if resh:
        lines.append("")
        lines.append("Reshard, <cli> --cluster reshard --cluster-slots %d --cluster-pipeline %d "
                     "(medians; keys/s = keys in the moved slots / wall time of the cli)" % (
                         args.reshard_slots, args.reshard_pipeline))
        head = "%-12s %-9s | %6s %8s %7s %10s %8s %9s | %s" % (
            "cli", "server", "slots", "keys", "wall s", "keys/s", "MB/s", "slots/s", "CPU s src/dst/all 3, noise")
        lines += [head, "-" * len(head)]
        med = {}
        for cli_name, _ in clis:
            for name in ("redis", "redoxide"):
                rs = resh.get((cli_name, name), [])
                if not rs:
                    continue
                med[(cli_name, name)] = median([r["kps"] for r in rs])
                lines.append("%-12s %-9s | %6d %8d %7.2f %10s %8.2f %9s | %.2f / %.2f / %.2f, %s" % (
                    cli_name, name, rs[0]["slots"], median([r["keys"] for r in rs]), median([r["wall"] for r in rs]),
                    fmt(med[(cli_name, name)]), median([r["mbps"] for r in rs]),
                    fmt(median([r["slots"] / r["wall"] for r in rs])), median([r["src_cpu"] for r in rs]),
                    median([r["dst_cpu"] for r in rs]), median([r["all_cpu"] for r in rs]),
                    spread([r["kps"] for r in rs])))
        for cli_name, _ in clis:
            lines.append("ratio redoxide/redis keys/s with %s: %s" % (
                cli_name, fmt(ratio(med.get((cli_name, "redoxide")), med.get((cli_name, "redis"))), 2)))
        if len(clis) > 1:
            lines.append("ratio redoxide-cli on redoxide / redis-cli on redis keys/s (the whole tool swapped): %s" % fmt(
                ratio(med.get(("redoxide-cli", "redoxide")), med.get(("redis-cli", "redis"))), 2))
    if problems:
        lines.append("")
        lines.append("Problems (left out of the medians):")
        lines += ["  " + p for p in problems]
    lines.append("")
    lines.append("command: %s" % command)
    lines.append("raw rows: %s" % os.path.relpath(csv_path, REPO))
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(results, "cluster-%s.txt" % stamp), "w") as f:
        f.write("\n".join(header) + "\n" + text + "\n")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
