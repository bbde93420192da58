"""`redoxide-cli --cluster up/down/health` and deploy/docker-compose.yml, tested end to end.

Scenarios (each on its own free 127.0.0.1 base port and temp directory):
  bad_input        a missing server binary, a port (or bus port) already taken, bad options: non-zero exit, a
                   clear message, nothing started and nothing written; health of an unreachable node and of a
                   cluster that is not ok exits non-zero
  up_down_up       up --cluster-detach gives a healthy 3+3 cluster (the seed's redis.conf per node, the node
                   table, the health report); the seed's Python examples pass against it (compat/venv.sh's
                   redis-py); `--cluster health` prints what the seed's monitoring script prints; down stops
                   every node (pids gone, ports free) and the masters' data is in their RDB files; up again
                   restarts the same node ids with the same slots (not re-created) and every key with its
                   value (from the AOF); then a killed replica shows as failed, a killed master makes
                   the cluster fail and health exit 1; down stops the rest
  foreground       up without --cluster-detach; SIGINT (Ctrl-C) stops every node with SHUTDOWN and exits 0;
                   SIGINT while up is still starting nodes stops those started and exits non-zero
  compose          deploy/docker-compose.yml: six services with the seed's settings, consistent port/announce
                   settings and volumes; each service's command line started locally (ports remapped to free
                   127.0.0.1 ports, announce settings and --dir/--bind adjusted, nothing else changed), the
                   cluster created from them with redoxide-cli, and checked healthy
  systemd_unit     deploy/redoxide@.service passes `systemd-analyze verify` (when installed) without a warning

Data across down/up: `up` writes the seed's `appendonly yes`, so a restarted node loads its AOF; down's SHUTDOWN
also saves the RDB (default save points). The test checks both: each master's RDB holds its keys (loaded into a
standalone server), and after up every key is back with the same DUMP payload.

Usage: python3 test_cluster_up.py [--cli target/release/redoxide-cli] [--only NAME]...
Every process is started on 127.0.0.1, ended by its pid, and every wait is bounded.
"""

import argparse
import os
import random
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "compat", "cluster"))
from harness import RespError, resp_command  # noqa: E402

CLI = None
SERVER = None
STARTED = []  # pids this test started itself (compose nodes, standalone RDB readers)


def port_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


_handed = set()


def free_base(count=6):
    """A base port b with b..b+count-1 and their bus ports free (below the ephemeral range)."""
    for _ in range(2000):
        b = random.randrange(20000, 30000 - count)
        ps = list(range(b, b + count))
        if any(p in _handed or p + 10000 in _handed for p in ps):
            continue
        if all(port_free(p) and port_free(p + 10000) for p in ps):
            _handed.update(ps)
            return b
    raise RuntimeError("no free port range")


def listening(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def run_cli(*args, timeout=180, cli=None):
    p = subprocess.run([cli or CLI] + [str(a) for a in args], capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def pid_alive(pid):
    """Alive and not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def read_pids(d):
    with open(os.path.join(d, "cluster.pids")) as f:
        return {int(a): int(b) for a, b in (l.split() for l in f if l.strip())}


def wait_until(pred, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.2)
    raise AssertionError("timed out (%ss) waiting for %s" % (timeout, what))


def venv_python():
    return subprocess.run(
        ["bash", os.path.join(ROOT, "compat", "venv.sh")], capture_output=True, text=True, check=True, timeout=900
    ).stdout.strip()


def nodes_view(port):
    """{port: (id, role, master id, slots)} from one node's CLUSTER NODES."""
    text = resp_command(port, "CLUSTER", "NODES").decode()
    out = {}
    for line in text.splitlines():
        f = line.split(" ")
        p = int(f[1].split("@")[0].rsplit(":", 1)[1])
        out[p] = (f[0], "replica" if "slave" in f[2] else "master", f[3], tuple(f[8:]))
    return out


def dbsize_total(ports):
    return sum(resp_command(p, "DBSIZE") for p in ports)


def dump_masters(ports, view):
    """{key: DUMP payload} over every master."""
    out = {}
    for p in ports:
        if view[p][1] != "master":
            continue
        for k in resp_command(p, "KEYS", "*"):
            out[k] = resp_command(p, "DUMP", k)
    return out


def kill_started():
    for pid in STARTED:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    STARTED.clear()


def force_down(d):
    """Last resort at the end of a failed scenario: the recorded pids, by pid."""
    try:
        pids = read_pids(d)
    except OSError:
        return
    for pid in pids.values():
        if pid_alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


SEED_CONF_KEYS = ["port", "cluster-enabled", "cluster-config-file", "cluster-node-timeout", "appendonly",
                  "appendfilename", "dbfilename", "dir", "bind", "protected-mode"]


def test_bad_input():
    tmp = tempfile.mkdtemp(prefix="clusterup-bad-")
    try:
        base = free_base()
        # The server binary missing: a lone copy of redoxide-cli.
        lone = os.path.join(tmp, "bin")
        os.mkdir(lone)
        shutil.copy(CLI, os.path.join(lone, "redoxide-cli"))
        d = os.path.join(tmp, "c1")
        code, out, err = run_cli("--cluster", "up", "--cluster-dir", d, "--cluster-base-port", base,
                                 "--cluster-detach", cli=os.path.join(lone, "redoxide-cli"), timeout=30)
        assert code != 0, (code, out, err)
        assert "redoxide-server not found" in err and "cargo build --release" in err, err
        assert not os.path.exists(d), "a directory was written although nothing could start"
        assert not any(listening(p) for p in range(base, base + 6))
        # A port taken (the third node's), then a bus port taken.
        for taken in (base + 2, base + 10004):
            blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            blocker.bind(("127.0.0.1", taken))
            blocker.listen(1)
            try:
                d = os.path.join(tmp, "c-%d" % taken)
                code, out, err = run_cli("--cluster", "up", "--cluster-dir", d, "--cluster-base-port", base,
                                         "--cluster-detach", timeout=30)
                assert code != 0, (code, out, err)
                assert "already in use" in err and str(taken) in err, err
                assert not os.path.exists(d), "a directory was written although the port check failed"
                assert not any(listening(p) for p in range(base, base + 6) if p != taken), "a node was started"
            finally:
                blocker.close()
        # Options out of range, arguments where none are taken.
        for bad in (["--cluster-masters", "2"], ["--cluster-base-port", "60000"], ["--cluster-node-timeout", "0"],
                    ["extra-arg"]):
            d = os.path.join(tmp, "c-opt")
            argv = ["--cluster", "up"] + (bad if bad[0] == "extra-arg" else []) + ["--cluster-dir", d] + \
                ([] if bad[0] == "extra-arg" else bad) + ["--cluster-detach"]
            code, out, err = run_cli(*argv, timeout=30)
            assert code != 0 and err.strip(), (bad, code, out, err)
            assert not os.path.exists(d), bad
        # down on a directory without a cluster; health of nothing, and of a node whose cluster is not ok.
        code, out, err = run_cli("--cluster", "down", "--cluster-dir", os.path.join(tmp, "nothing"), timeout=30)
        assert code != 0 and "holds no cluster" in err, (code, out, err)
        code, out, err = run_cli("--cluster", "health", "127.0.0.1:%d" % base, timeout=30)
        assert code != 0 and "Could not connect" in err, (code, out, err)
        nd = os.path.join(tmp, "lone-node")
        os.mkdir(nd)
        proc = subprocess.Popen([SERVER, "--port", str(base), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                                 "--dir", nd, "--save", "", "--appendonly", "no"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=nd)
        STARTED.append(proc.pid)
        wait_until(lambda: listening(base), 15, "the lone node")
        code, out, err = run_cli("--cluster", "health", "127.0.0.1:%d" % base, timeout=30)
        assert code == 1 and out.startswith("Cluster state: fail\nKnown nodes: 1\n"), (code, out)
        assert "WARNING: Master with no slots!" in out and "not ok" in err, (out, err)
    finally:
        kill_started()
        shutil.rmtree(tmp, ignore_errors=True)


def health_blocks(text):
    """The health text as (header, set of node blocks with `myself,` removed, distribution)."""
    head, _, rest = text.partition("\n\nNode: ")
    nodes_part, _, dist = ("Node: " + rest).partition("\n\nSlot distribution:\n")
    blocks = {b.replace("myself,", "") for b in nodes_part.split("\n\nNode: ")}
    blocks = {b if b.startswith("Node: ") else "Node: " + b for b in blocks}
    return head, blocks, dist


def test_up_down_up():
    tmp = tempfile.mkdtemp(prefix="clusterup-")
    d = os.path.join(tmp, "cluster")
    try:
        base = free_base()
        ports = list(range(base, base + 6))
        t0 = time.time()
        code, out, err = run_cli("--cluster", "up", "--cluster-dir", d, "--cluster-base-port", base,
                                 "--cluster-detach")
        assert code == 0, (code, out, err)
        print("  up --cluster-detach: %.1fs" % (time.time() - t0))
        assert ">>> Performing hash slots allocation on 6 nodes" in out, out
        assert "[OK] All 16384 slots covered." in out
        table = [l.split() for l in out.splitlines()
                 if re.match(r"^\d+\s+\d+\s+(master|replica)\s", l) and int(l.split()[0]) in ports]
        assert len(table) == 6 and sorted(r[2] for r in table) == ["master"] * 3 + ["replica"] * 3, out
        assert "Cluster state: ok" in out and "redoxide-cli --cluster down --cluster-dir %s" % d in out, out
        # One redis.conf per node in the seed's style.
        for p in ports:
            nd = os.path.join(d, str(p))
            with open(os.path.join(nd, "redis.conf")) as f:
                lines = f.read().splitlines()
            assert [l.split()[0] for l in lines] == SEED_CONF_KEYS, lines
            want = {"port": str(p), "cluster-enabled": "yes", "cluster-config-file": "nodes-%d.conf" % p,
                    "cluster-node-timeout": "5000", "appendonly": "yes", "appendfilename": '"appendonly-%d.aof"' % p,
                    "dbfilename": "dump-%d.rdb" % p, "dir": nd, "bind": "127.0.0.1", "protected-mode": "no"}
            assert dict(l.split(" ", 1) for l in lines) == want, lines
        pids = read_pids(d)
        assert sorted(pids) == ports and all(pid_alive(pid) for pid in pids.values()), pids
        # Every node agrees: same roles and slots from each one's point of view.
        views = [nodes_view(p) for p in ports]
        assert all(v == views[0] for v in views), views
        before = views[0]
        # The seed's Python examples, then its health script against `--cluster health`.
        py = venv_python()
        p = subprocess.run([py, os.path.join(HERE, "seed_examples.py")] + [str(x) for x in ports],
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0 and "seed examples ok" in p.stdout, p.stdout + p.stderr
        seed_health = p.stdout.split("--- health ---\n", 1)[1].split("--- end health ---\n", 1)[0]
        code, ours, err = run_cli("--cluster", "health", "127.0.0.1:%d" % base, timeout=30)
        assert code == 0, (code, ours, err)
        assert health_blocks(ours) == health_blocks(seed_health), (ours, seed_health)
        assert ours.startswith("Cluster state: ok\nKnown nodes: 6\nCluster size: 3\n"), ours
        assert ours.count("\nNode: 127.0.0.1:") == 6 and "WARNING" not in ours, ours
        dist = ours.split("Slot distribution:\n")[1].splitlines()
        assert len(dist) == 3 and all(re.match(r"^  127\.0\.0\.1:\d+: 546[12] slots ={10}$", l) for l in dist), dist
        # Data, then down.
        keys = dbsize_total([p for p in ports if before[p][1] == "master"])
        assert keys >= 300, keys
        dumped = dump_masters(ports, before)
        assert len(dumped) == keys, (len(dumped), keys)
        t0 = time.time()
        code, out, err = run_cli("--cluster", "down", "--cluster-dir", d, timeout=120)
        assert code == 0, (code, out, err)
        print("  down: %.1fs" % (time.time() - t0))
        assert not any(pid_alive(pid) for pid in pids.values()), "a node survived down"
        assert not any(listening(p) for p in ports)
        assert not os.path.exists(os.path.join(d, "cluster.pids"))
        code, out, err = run_cli("--cluster", "down", "--cluster-dir", d, timeout=30)
        assert code == 0 and "No node" in out, (code, out, err)
        # The masters' keys are in their RDB files (SHUTDOWN saved them): read each with a standalone server.
        saved = 0
        for p in ports:
            if before[p][1] != "master":
                continue
            rd = os.path.join(tmp, "rdb-%d" % p)
            os.mkdir(rd)
            shutil.copy(os.path.join(d, str(p), "dump-%d.rdb" % p), rd)
            sp = free_base(1)
            proc = subprocess.Popen([SERVER, "--port", str(sp), "--bind", "127.0.0.1", "--dir", rd, "--dbfilename",
                                     "dump-%d.rdb" % p, "--appendonly", "no", "--save", ""],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=rd)
            STARTED.append(proc.pid)
            wait_until(lambda: listening(sp), 15, "the RDB reader")
            saved += resp_command(sp, "DBSIZE")
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        assert saved == keys, (saved, keys)
        # up again: the same nodes rejoin, nothing is re-created.
        t0 = time.time()
        code, out, err = run_cli("--cluster", "up", "--cluster-dir", d, "--cluster-detach")
        assert code == 0, (code, out, err)
        print("  up again: %.1fs" % (time.time() - t0))
        assert ">>> Restarting 6 nodes" in out and "Performing hash slots allocation" not in out, out
        code, out2, err = run_cli("--cluster", "up", "--cluster-dir", d, "--cluster-detach", timeout=30)
        assert code != 0 and "already running" in err, (code, out2, err)
        code, out2, err = run_cli("--cluster", "up", "--cluster-dir", d, "--cluster-masters", "4", timeout=30)
        assert code != 0 and "already holds a cluster" in err, (code, out2, err)
        after = nodes_view(base)
        assert {p: (v[0], v[1], v[2], v[3]) for p, v in after.items()} == before, (before, after)
        pids = read_pids(d)
        # Every key back with its value (each master's keys DUMPed before down and after up), from the AOF.
        for p in ports:
            if after[p][1] == "master":
                assert os.path.isdir(os.path.join(d, str(p), "appendonlydir")), "no AOF directory for %d" % p
        back = dump_masters(ports, after)
        assert back == dumped, "%d keys before down, %d after up; differing: %r" % (
            len(dumped), len(back), sorted(set(dumped.items()) ^ set(back.items()))[:5])
        print("  data after up again: all %d keys back with their values" % len(back))
        code, out, err = run_cli("-c", "-p", base, "SET", "after-restart", "1", timeout=30)
        assert code == 0 and out.strip() == "OK", (code, out, err)
        # A killed replica is reported failed (the cluster stays ok); a killed master fails the cluster.
        replica = next(p for p in ports if after[p][1] == "replica")
        master = next(p for p in ports if after[p][1] == "master" and p != base)
        os.kill(pids[replica], signal.SIGKILL)

        def health_has(text, rc):
            def check():
                code, out, _ = run_cli("--cluster", "health", "127.0.0.1:%d" % base, timeout=30)
                return code == rc and text in out
            return check
        wait_until(health_has("Node: 127.0.0.1:%d\n  Flags: slave,fail\n" % replica, 0), 60, "the replica to fail")
        os.kill(pids[master], signal.SIGKILL)
        wait_until(health_has("Cluster state: fail\n", 1), 60, "the cluster to fail")
        code, out, err = run_cli("--cluster", "health", "127.0.0.1:%d" % base, timeout=30)
        assert "Node: 127.0.0.1:%d\n  Flags: master,fail\n" % master in out and "WARNING: Node marked as failed!" in out
        code, out, err = run_cli("--cluster", "down", "--cluster-dir", d, timeout=120)
        assert code == 0 and "Stopping 4 node(s)" in out, (code, out, err)
        assert not any(pid_alive(pid) for pid in pids.values())
    finally:
        force_down(d)
        kill_started()
        shutil.rmtree(tmp, ignore_errors=True)


def test_foreground():
    tmp = tempfile.mkdtemp(prefix="clusterup-fg-")
    d = os.path.join(tmp, "cluster")
    proc = None
    try:
        base = free_base()
        log = open(os.path.join(tmp, "up.log"), "w+")
        proc = subprocess.Popen([CLI, "--cluster", "up", "--cluster-dir", d, "--cluster-base-port", str(base)],
                                stdout=log, stderr=subprocess.STDOUT)

        def ready():
            assert proc.poll() is None, open(log.name).read()
            return "Press Ctrl-C to stop every node." in open(log.name).read()
        wait_until(ready, 120, "the foreground up to be ready")
        pids = read_pids(d)
        assert len(pids) == 6 and all(pid_alive(p) for p in pids.values())
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=90) == 0, open(log.name).read()
        text = open(log.name).read()
        assert ">>> Stopping every node (SHUTDOWN)" in text and ">>> Stopped." in text, text
        # The nodes were our children: reaped, so gone from /proc.
        assert not any(pid_alive(p) for p in pids.values()), pids
        assert not any(listening(p) for p in pids)
        assert not os.path.exists(os.path.join(d, "cluster.pids"))
        # Ctrl-C while up is still starting nodes: it stops the ones it started and exits non-zero.
        d2 = os.path.join(tmp, "interrupted")
        base2 = free_base()
        proc = subprocess.Popen([CLI, "--cluster", "up", "--cluster-dir", d2, "--cluster-base-port", str(base2)],
                                stdout=log, stderr=subprocess.STDOUT)
        wait_until(lambda: os.path.exists(os.path.join(d2, "cluster.pids")) and read_pids(d2), 60, "a first node")
        early = read_pids(d2)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=90) != 0
        assert "interrupted" in open(log.name).read()
        assert early and not any(pid_alive(p) for p in early.values()), early
        assert not any(listening(p) for p in range(base2, base2 + 6))
    finally:
        if proc and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        force_down(d)
        shutil.rmtree(tmp, ignore_errors=True)


def load_compose(path):
    """deploy/docker-compose.yml as data: PyYAML when installed, otherwise a reader of the subset the file uses
    (nested maps by indentation, lists of scalars, quoted or plain scalars, comments); with PyYAML both are
    compared, so the small reader stays honest."""
    text = open(path).read()
    mine = _mini_yaml(text)
    try:
        import yaml
    except ImportError:
        return mine
    full = yaml.safe_load(text)
    assert full == mine, "the subset reader disagrees with PyYAML"
    return full


def _scalar(s):
    s = s.strip()
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"":
        return s[1:-1]
    return s if s else None


def _mini_yaml(text):
    lines = []
    for raw in text.splitlines():
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        lines.append((len(raw) - len(raw.lstrip(" ")), raw.strip()))

    def block(i, indent):
        if lines[i][1].startswith("- "):
            out = []
            while i < len(lines) and lines[i][0] == indent and lines[i][1].startswith("- "):
                out.append(_scalar(lines[i][1][2:]))
                i += 1
            return out, i
        out = {}
        while i < len(lines) and lines[i][0] == indent:
            key, _, rest = lines[i][1].partition(":")
            i += 1
            if rest.strip():
                out[key] = _scalar(rest)
            elif i < len(lines) and lines[i][0] > indent:
                out[key], i = block(i, lines[i][0])
            else:
                out[key] = None
        return out, i

    return block(0, 0)[0]


def test_compose():
    compose = load_compose(os.path.join(ROOT, "deploy", "docker-compose.yml"))
    services = compose["services"]
    assert len(services) == 6, list(services)
    assert set(compose["volumes"]) == {"redis-node-%d-data" % i for i in range(1, 7)}
    tmp = tempfile.mkdtemp(prefix="clusterup-compose-")
    procs = []
    try:
        host_ports = set()
        plans = []
        for name, svc in services.items():
            # Compose's interpolation: ${VAR:?message} takes the variable's value (here 127.0.0.1: local test).
            cmd = re.sub(r"\$\{REDOXIDE_ANNOUNCE_IP:\?[^}]*\}", "127.0.0.1", svc["command"])
            argv = shlex.split(cmd)
            assert argv[0] == "redoxide-server", argv
            opts = dict(zip(argv[1::2], argv[2::2]))
            assert len(argv) % 2 == 1 and len(opts) == (len(argv) - 1) // 2, argv
            assert opts["--port"] == "6379" and opts["--cluster-enabled"] == "yes"
            assert opts["--cluster-node-timeout"] == "5000" and opts["--appendonly"] == "yes"
            assert opts["--dir"] == "/data" and opts["--cluster-config-file"] == "nodes.conf"
            (client_map, bus_map) = svc["ports"]
            hp, cp = client_map.split(":")
            hb, cb = bus_map.split(":")
            assert cp == "6379" and cb == "16379" and int(hb) == int(hp) + 10000, svc["ports"]
            assert opts["--cluster-announce-port"] == hp and opts["--cluster-announce-bus-port"] == hb, opts
            assert svc["volumes"] == ["%s-data:/data" % name], svc["volumes"]
            host_ports.add(hp)
            plans.append((name, argv))
        assert len(host_ports) == 6
        # Local run: the same command lines, with ports remapped and announce/dir/bind adjusted; nothing else.
        base = free_base()
        local_ports = []
        for i, (name, argv) in enumerate(plans):
            p = base + i
            nd = os.path.join(tmp, name)
            os.mkdir(nd)
            change = {"--port": str(p), "--cluster-announce-port": str(p), "--cluster-announce-bus-port": str(p + 10000),
                      "--cluster-announce-ip": "127.0.0.1", "--dir": nd, "--bind": "127.0.0.1"}
            local = [SERVER]
            for k, v in zip(argv[1::2], argv[2::2]):
                local += [k, change.get(k, v)]
            log = open(os.path.join(nd, "node.log"), "w")
            proc = subprocess.Popen(local, stdout=log, stderr=subprocess.STDOUT, cwd=nd)
            log.close()
            procs.append(proc)
            STARTED.append(proc.pid)
            local_ports.append(p)
        for p, proc in zip(local_ports, procs):
            wait_until(lambda: proc.poll() is None and listening(p), 15, "compose node on %d" % p)
        code, out, err = run_cli("--cluster", "create", *["127.0.0.1:%d" % p for p in local_ports],
                                 "--cluster-replicas", "1", "--cluster-yes", timeout=120)
        assert code == 0 and "[OK] All 16384 slots covered." in out, (code, out, err)

        def healthy():
            code, out, _ = run_cli("--cluster", "health", "127.0.0.1:%d" % local_ports[0], timeout=30)
            views = [nodes_view(p) for p in local_ports]
            return (code == 0 and "Known nodes: 6" in out and all(v == views[0] for v in views)
                    and sum(1 for v in views[0].values() if v[1] == "replica") == 3)
        wait_until(healthy, 60, "the compose cluster to be healthy")
        # The announced addresses are the (remapped) published ones.
        text = resp_command(local_ports[0], "CLUSTER", "NODES").decode()
        addrs = sorted(l.split(" ")[1] for l in text.splitlines())
        assert addrs == sorted("127.0.0.1:%d@%d" % (p, p + 10000) for p in local_ports), addrs
        for i in range(20):
            code, out, err = run_cli("-c", "-p", local_ports[i % 6], "SET", "k%d" % i, "v%d" % i, timeout=30)
            assert code == 0 and out.strip() == "OK", (code, out, err)
        for i in range(20):
            code, out, err = run_cli("-c", "-p", local_ports[(i + 3) % 6], "GET", "k%d" % i, timeout=30)
            assert code == 0 and out.strip() == "v%d" % i, (code, out, err)
        for p in local_ports:
            assert os.path.exists(os.path.join(tmp, plans[local_ports.index(p)][0], "nodes.conf"))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
        kill_started()
        shutil.rmtree(tmp, ignore_errors=True)


def test_systemd_unit():
    """deploy/redoxide@.service passes `systemd-analyze verify` without a warning (binaries pointed at ours)."""
    unit = open(os.path.join(ROOT, "deploy", "redoxide@.service")).read()
    assert "ExecStart=/usr/local/bin/redoxide-server /etc/redoxide/%i/redis.conf" in unit
    assert "ExecStop=/usr/local/bin/redoxide-cli -p %i shutdown" in unit
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        print("  systemd-analyze is not installed: only the unit's text was checked")
        return
    tmp = tempfile.mkdtemp(prefix="clusterup-unit-")
    try:
        with open(os.path.join(tmp, "redoxide@.service"), "w") as f:
            f.write(unit.replace("/usr/local/bin/", os.path.dirname(CLI) + "/"))
        os.symlink("redoxide@.service", os.path.join(tmp, "redoxide@7000.service"))
        p = subprocess.run([analyze, "verify", os.path.join(tmp, "redoxide@7000.service")], capture_output=True,
                           text=True, timeout=60, cwd=tmp)
        problems = [l for l in (p.stdout + p.stderr).splitlines() if "redoxide" in l]
        assert p.returncode == 0 and not problems, p.stdout + p.stderr
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


TESTS = [test_bad_input, test_up_down_up, test_foreground, test_compose, test_systemd_unit]


def main():
    global CLI, SERVER
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", default=os.path.join(ROOT, "target", "release", "redoxide-cli"))
    ap.add_argument("--only", action="append", default=[])
    args = ap.parse_args()
    CLI = os.path.abspath(args.cli)
    SERVER = os.path.join(os.path.dirname(CLI), "redoxide-server")
    for b in (CLI, SERVER):
        if not os.access(b, os.X_OK):
            print("test_cluster_up: %s does not exist (cargo build --release)" % b)
            sys.exit(1)
    failed = 0
    for t in TESTS:
        if args.only and t.__name__ not in args.only and t.__name__[5:] not in args.only:
            continue
        start = time.time()
        try:
            t()
            print("[ok]   %s (%.1fs)" % (t.__name__, time.time() - start), flush=True)
        except Exception:
            failed += 1
            print("[FAIL] %s (%.1fs)" % (t.__name__, time.time() - start), flush=True)
            traceback.print_exc()
        finally:
            kill_started()
    print("%d failed" % failed)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
