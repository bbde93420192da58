"""A network partition on one machine (issue 6): six nodes on 127.0.0.11-16 inside a private network namespace,
a master cut off from every other node by iptables DROP rules while a client on the master's side keeps writing
to it.

What must hold, for redoxide-server and, in the same run, for redis-server 7.0.15 (so the test itself is checked
against the real thing):
- the cut-off master, in the minority, stops acknowledging writes: redoxide within node-timeout (issue 6's
  promise: it counts a master it has heard nothing from for node-timeout - 250 ms as unreachable, see
  cluster::machine::minority_quiet_ms); redis-server within 1.5 x node-timeout + 1 s (it marks the other masters
  PFAIL once a ping has gone node-timeout without a pong, and pings go out at most node-timeout/2 after the last
  pong; then it counts a minority of reachable masters and reports the cluster down);
- the majority promotes the master's replica;
- after the rules are removed there is one master per slot, every node agrees on it, and the old master has
  become a replica holding exactly the new master's data: no key keeps the writes the old master acknowledged
  after the cut (asynchronous replication may lose those, as Redis documents; two histories must not survive).

Usage: python test_partition.py --server BIN [--server BIN]...
The script re-runs itself under `unshare --net` (a new, empty network namespace: only its own loopback exists, so
nothing here can reach any other host). It needs root, unshare and iptables; without them it skips, unless the
environment variable CI is set, where it fails.
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (  # noqa: E402
    Node, RespError, _read_reply, cluster_info, free_cluster_port, key_slot, redis_cli, wait_until
)

NODE_TIMEOUT_MS = 2000
HOSTS = ["127.0.0.%d" % (11 + i) for i in range(6)]
KEYS = 100


def nodes_lines(node):
    return [l.split() for l in node.cmd("CLUSTER", "NODES").decode().strip().split("\n")]


def myself(node):
    return [f for f in nodes_lines(node) if "myself" in f[2]][0]


def owned_slots(fields):
    slots = set()
    for r in fields[8:]:
        if r.startswith("["):
            continue
        a, _, b = r.partition("-")
        slots.update(range(int(a), int(b or a) + 1))
    return slots


def role(node):
    return node.cmd("ROLE")


def repl_info(node):
    text = node.cmd("INFO", "replication").decode()
    return dict(l.split(":", 1) for l in text.split("\r\n") if ":" in l)


class Conn:
    """One persistent connection (the writer needs to see each reply, and a refused write must not cost a new
    connect)."""

    def __init__(self, node, timeout=1.0):
        self.sock = socket.create_connection((node.host, node.port), timeout=timeout)
        self.f = self.sock.makefile("rb")

    def cmd(self, *args):
        payload = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            payload += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(payload)
        return _read_reply(self.f)

    def close(self):
        self.sock.close()


class Writer(threading.Thread):
    """Writes `{tag}:k<i % KEYS>` = `m-<i>` to one node, in order, until stopped; notes each acknowledgement's
    time and the first refusal."""

    def __init__(self, node, tag):
        super().__init__(daemon=True)
        self.node, self.tag = node, tag
        self.acks = []  # (time, key, value)
        self.first_refusal = None
        self.stopping = False

    def run(self):
        conn = None
        deadline = time.time() + 120
        i = 0
        while not self.stopping and time.time() < deadline:
            try:
                if conn is None:
                    conn = Conn(self.node)
                key, value = "{%s}:k%d" % (self.tag, i % KEYS), "m-%d" % i
                reply = conn.cmd("SET", key, value)
                if reply == "OK":
                    self.acks.append((time.time(), key, value))
                    i += 1
                elif isinstance(reply, RespError) and self.first_refusal is None:
                    self.first_refusal = (time.time(), str(reply))
            except OSError:
                if conn is not None:
                    conn.close()
                conn = None
            time.sleep(0.005)
        if conn is not None:
            conn.close()


def iptables(*args):
    subprocess.run(["iptables", *args], check=True, capture_output=True, timeout=10)


def cut_off(host):
    """Drops every packet between `host` and the other node addresses, both ways (127.0.0.1, where the test's
    clients connect from, stays connected to everyone)."""
    for other in HOSTS:
        if other != host:
            iptables("-A", "INPUT", "-s", host, "-d", other, "-j", "DROP")
            iptables("-A", "INPUT", "-s", other, "-d", host, "-j", "DROP")


def heal():
    iptables("-F", "INPUT")


def slot_map(node):
    """slot -> master address, from the node's CLUSTER SLOTS."""
    owners = {}
    for entry in node.cmd("CLUSTER", "SLOTS"):
        lo, hi, master = entry[0], entry[1], entry[2]
        addr = "%s:%d" % (master[0].decode(), master[1])
        for s in range(lo, hi + 1):
            owners[s] = addr
    return owners


def run_partition(binary):
    kind = "redis" if os.path.basename(binary) == "redis-server" else "redoxide"
    directory = tempfile.mkdtemp(prefix="redoxide-partition-")
    nodes = [Node(binary, free_cluster_port(), directory, host=h, node_timeout_ms=NODE_TIMEOUT_MS) for h in HOSTS]
    writer = None
    try:
        for n in nodes:
            n.start()
        code, out = redis_cli(
            "--cluster", "create", *[n.addr() for n in nodes], "--cluster-replicas", "1", "--cluster-yes"
        )
        assert code == 0 and "[OK] All 16384 slots covered." in out, out

        def settled():
            for n in nodes:
                if cluster_info(n).get("cluster_state") != "ok":
                    return False
                if sum("slave" in f[2] for f in nodes_lines(n)) != 3 or len(nodes_lines(n)) != 6:
                    return False
            return True

        wait_until(settled, "the cluster to settle", timeout=60)
        master = next(n for n in nodes if "master" in myself(n)[2])
        master_id = myself(master)[0]
        replica = next(n for n in nodes if myself(n)[3] == master_id)
        slots = owned_slots(myself(master))
        tag = next(t for t in ("p%d" % i for i in range(100000)) if key_slot(t) in slots)

        try:
            wait_until(lambda: repl_info(replica).get("master_link_status") == "up", "the replica's first sync", timeout=30)
        except AssertionError:
            print(replica.tail_log(30), master.tail_log(30))
            raise
        conn = Conn(master, timeout=10)
        for i in range(KEYS):
            assert conn.cmd("SET", "{%s}:k%d" % (tag, i), "before") == "OK"
        assert conn.cmd("WAIT", "1", "5000") == 1, "the replica did not acknowledge the first writes"
        conn.close()

        writer = Writer(master, tag)
        writer.start()
        wait_until(lambda: len(writer.acks) > 50, "the writer to get going", timeout=10)
        cut_at = time.time()
        cut_off(master.host)

        wait_until(lambda: writer.first_refusal, "the cut-off master to refuse writes", timeout=NODE_TIMEOUT_MS / 1000 * 4)
        refused_after = writer.first_refusal[0] - cut_at
        acked_after_cut = sum(1 for t, _, _ in writer.acks if t > cut_at)
        bound = NODE_TIMEOUT_MS / 1000 if kind == "redoxide" else 1.5 * NODE_TIMEOUT_MS / 1000 + 1.0
        assert refused_after <= bound, "%s: the minority master acknowledged writes for %.2fs (bound %.2fs)" % (
            kind, refused_after, bound)
        last_ack = max((t for t, _, _ in writer.acks), default=cut_at)
        assert last_ack <= writer.first_refusal[0] + 0.05, "a write was acknowledged after the first refusal"

        def promoted():
            r = role(replica)
            return r[0] == b"master" and cluster_info(replica).get("cluster_state") == "ok"

        wait_until(promoted, "the replica to be promoted by the majority", timeout=30)
        promoted_after = time.time() - cut_at
        writer.stopping = True
        writer.join(timeout=10)

        conn = Conn(replica, timeout=5)
        for i in range(KEYS):
            reply = conn.cmd("SET", "{%s}:k%d" % (tag, i), "after")
            assert reply == "OK", reply
        conn.close()

        heal_at = time.time()
        heal()

        def rejoined():
            r = role(master)
            if r[0] != b"slave" or (r[1].decode(), r[2]) != (replica.host, replica.port) or r[3] != b"connected":
                return False
            return repl_info(master).get("slave_repl_offset") == repl_info(replica).get("master_repl_offset")

        wait_until(rejoined, "the old master to rejoin as a replica of the new one", timeout=60)

        def one_master_per_slot():
            maps = [slot_map(n) for n in nodes]
            if any(cluster_info(n).get("cluster_state") != "ok" for n in nodes):
                return False
            return all(len(m) == 16384 and m == maps[0] for m in maps)

        wait_until(one_master_per_slot, "every node to agree on one master per slot", timeout=60)
        healed_after = time.time() - heal_at
        owners = slot_map(nodes[0])
        assert all(owners[s] == replica.addr() for s in slots), "the promoted replica does not own the slots"

        old = Conn(master, timeout=5)
        assert old.cmd("READONLY") == "OK"
        new = Conn(replica, timeout=5)
        diverged = []
        for i in range(KEYS):
            key = "{%s}:k%d" % (tag, i)
            a, b = old.cmd("GET", key), new.cmd("GET", key)
            if a != b or b != b"after":
                diverged.append((key, a, b))
        old.close()
        new.close()
        assert not diverged, "keys with two histories after healing: %r" % diverged[:5]
        print(
            "partition %s: writes refused %.2fs after the cut (%s; node-timeout %dms), %d writes acknowledged after "
            "the cut and lost as asynchronous replication allows, replica promoted after %.2fs, one master per "
            "slot %.2fs after healing"
            % (kind, refused_after, writer.first_refusal[1].split(" ")[0], NODE_TIMEOUT_MS, acked_after_cut,
               promoted_after, healed_after),
            flush=True,
        )
    finally:
        if writer is not None:
            writer.stopping = True
        for n in nodes:
            try:
                n.stop()
            except Exception:
                pass
        try:
            heal()
        except Exception:
            pass
        shutil.rmtree(directory, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", action="append", required=True)
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    servers = [os.path.abspath(s) if os.sep in s else s for s in args.server]
    if not args.inside:
        missing = [t for t in ("unshare", "iptables", "ip") if shutil.which(t) is None]
        if os.geteuid() != 0 or missing:
            why = "needs root and %s" % ", ".join(["unshare", "iptables", "ip"])
            if os.environ.get("CI"):
                print("test_partition: %s (missing: %s)" % (why, missing or "root"))
                sys.exit(1)
            print("test_partition: skipped, %s" % why)
            sys.exit(0)
        cmd = ["unshare", "--net", sys.executable, os.path.abspath(__file__), "--inside"]
        for s in servers:
            cmd += ["--server", s]
        sys.exit(subprocess.run(cmd, timeout=600).returncode)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=10)
    failed = 0
    for binary in servers:
        start = time.time()
        try:
            run_partition(binary)
            print("[ok]   partition with %s (%.1fs)" % (binary, time.time() - start), flush=True)
        except Exception:
            import traceback

            failed += 1
            print("[FAIL] partition with %s (%.1fs)" % (binary, time.time() - start), flush=True)
            traceback.print_exc()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
