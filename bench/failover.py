#!/usr/bin/env python3
"""Failover and full-sync benchmark: redis-server 7.0.15 (A, "redis") against redoxide-server (B, "redoxide").

Failover, for each implementation, in the same run and with the same placement as bench/cluster.py (every node
`taskset -c SERVER_CPU`, the client `taskset -c CLIENT_CPU`, redoxide nodes with `--io-threads 1`):

1. start 3 masters with 1 replica each (`--cluster-node-timeout T`, default 2000 ms), created by the real
   `redis-cli --cluster create ... --cluster-replicas 1`, and wait until every node agrees and every replica says
   `master_link_status:up`;
2. a writer SETs one key in a slot of the victim master in a loop (`SET key <n>`, following MOVED, retrying any
   error after 5 ms) while the victim is killed with SIGKILL;
3. measured from the kill: **writes** = the first acknowledged write after it (the replica took the slots over),
   **ok** = every surviving node reports `cluster_state:ok` with the victim's slots on a live master; **lost** =
   acknowledged values the new master does not have (the value it holds is below the last acknowledged one);
4. the victim is restarted (it must rejoin as a replica of its successor), the cluster settles, and the next round
   kills the next shard's master. Rounds alternate A B A B.

Full sync (`--sync-keys K`, default 1,000,000; 0 skips it): a standalone master loaded with K keys (DEBUG POPULATE
K, 16-byte values; both servers accept it with enable-debug-command), then a fresh replica started with
`--replicaof`; time from the replica's start to `master_link_status:up` with its offset equal to the master's.

Prints medians and ratios redoxide/redis; raw rows go to bench/results/failover-<stamp>.csv (git-ignored). Every
process is started here and killed by its pid at the end (also on Ctrl-C or an error); every wait is bounded; only
127.0.0.1 is used.

usage: bench/failover.py [--rounds N] [--node-timeout MS] [--sync-keys K] [--timeout S] [--only failover|sync]
"""

import argparse
import csv
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cluster as cb  # noqa: E402  (bench/cluster.py: processes, RESP, clusters)


def info_field(port, section, field):
    """One INFO field as text, None when absent or the node does not answer."""
    try:
        text = cb.one(port, "INFO", section, timeout=2).decode()
    except (OSError, cb.RespError):
        return None
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return line.split(":", 1)[1].strip()
    return None


def replicas_in_sync(nodes, replicas):
    """`replicas` nodes are replicas, each with its link up and its offset equal to its master's."""
    roles = [info_field(n.port, "replication", "role") for n in nodes]
    if roles.count("slave") != replicas:
        return False
    offsets = {}
    for n in nodes:
        role = info_field(n.port, "replication", "role")
        if role is None:
            return False
        if role == "master":
            offsets[n.port] = info_field(n.port, "replication", "master_repl_offset")
    for n in nodes:
        if info_field(n.port, "replication", "role") != "slave":
            continue
        if info_field(n.port, "replication", "master_link_status") != "up":
            return False
        mport = info_field(n.port, "replication", "master_port")
        if mport is None or offsets.get(int(mport)) != info_field(n.port, "replication", "slave_repl_offset"):
            return False
    return True


def wait(what, cond, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return time.time()
        time.sleep(0.02)
    raise RuntimeError("timed out after %d s waiting for %s" % (timeout, what))


class Writer(threading.Thread):
    """SET `key` n, n = 1, 2, ... against whichever node owns the key; remembers when each write was acknowledged."""

    def __init__(self, key, port, ports):
        super().__init__(daemon=True)
        self.key = key
        self.port = port
        # Where to ask next when the node we write to is gone: any live node answers MOVED to the key's owner.
        self.ports = ports
        self.stop_flag = threading.Event()
        # (sent, acknowledged, n): a write sent before the kill may be acknowledged after it, so "writes are back"
        # is judged by the send time.
        self.acked = []
        self.n = 0

    def run(self):
        conn = None
        while not self.stop_flag.is_set():
            self.n += 1
            try:
                if conn is None:
                    conn = cb.Conn(self.port, timeout=1.0)
                sent = time.time()
                reply = conn.cmd("SET", self.key, str(self.n))
                if reply == "OK":
                    self.acked.append((sent, time.time(), self.n))
                    continue
            except cb.RespError as e:
                text = str(e)
                if text.startswith("MOVED"):
                    self.port = int(text.split()[2].rsplit(":", 1)[1])
                    conn.close()
                    conn = None
                    continue
            except OSError:
                if conn is not None:
                    conn.close()
                conn = None
                self.port = self.ports[(self.ports.index(self.port) + 1) % len(self.ports)]
            time.sleep(0.005)
        if conn is not None:
            conn.close()


def master_of_slot(cl, slot, alive):
    for n in alive:
        try:
            owners = cl.owners(n)
        except (OSError, cb.RespError):
            continue
        owner = owners.get(slot)
        return next((m for m in cl.nodes if m.id == owner), None)
    return None


def failover_round(cl, victim, timeout):
    """Kill `victim` (a master) under a writer; returns a dict of figures and restarts it afterwards."""
    owners = cl.owners(victim)
    slot = next(s for s, o in owners.items() if o == victim.id)
    key = next("fo:%d" % i for i in range(1_000_000) if cb.key_slot(b"fo:%d" % i) == slot)
    writer = Writer(key, victim.port, [n.port for n in cl.nodes])
    writer.start()
    wait("the writer's first write", lambda: len(writer.acked) > 10, 10)
    t_kill = time.time()
    os.kill(victim.pid, signal.SIGKILL)
    victim.proc.wait()
    alive = [n for n in cl.nodes if n is not victim]
    status = "ok"
    try:
        wait("a write sent after the kill", lambda: any(sent > t_kill for sent, _, _ in writer.acked), timeout)
        t_writes = min(acked for sent, acked, _ in writer.acked if sent > t_kill)

        def healthy():
            try:
                if not all("cluster_state:ok" in cb.one(n.port, "CLUSTER", "INFO").decode() for n in alive):
                    return False
            except (OSError, cb.RespError):
                return False
            m = master_of_slot(cl, slot, alive)
            return m is not None and m is not victim

        t_ok = wait("cluster_state:ok everywhere", healthy, timeout)
    except RuntimeError as e:
        status = str(e)
        t_writes = t_ok = None
    writer.stop_flag.set()
    writer.join(5)
    last_acked = max((n for _, _, n in writer.acked), default=0)
    lost = None
    if status == "ok":
        new_master = master_of_slot(cl, slot, alive)
        held = cb.one(new_master.port, "GET", key)
        lost = max(0, last_acked - int(held)) if held is not None else last_acked
    victim.start()
    return {
        "status": status,
        "writes_s": (t_writes - t_kill) if t_writes else None,
        "ok_s": (t_ok - t_kill) if t_ok else None,
        "lost": lost,
    }


def settle(cl, timeout):
    cl.wait_consistent(timeout)
    wait("replicas in sync", lambda: replicas_in_sync(cl.nodes, len(cl.nodes) // 2), timeout)


def masters(cl):
    return [n for n in cl.nodes if info_field(n.port, "replication", "role") == "master"]


def full_sync(binary, extra, nkeys, root, timeout):
    """Seconds from a fresh replica's start to being in sync with a master holding `nkeys` keys."""
    d = tempfile.mkdtemp(prefix="sync-", dir=root)
    procs = []
    try:
        mport, rport = cb.free_cluster_port(), cb.free_cluster_port()
        # No diskless-sync delay: Redis 7.0 waits 5 s by default for more replicas, which would be measured too.
        common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--enable-debug-command", "yes",
                  "--repl-diskless-sync-delay", "0"]
        m = cb.start(["taskset", "-c", cb.SERVER_CPU, binary, "--port", str(mport), "--dir", d,
                      "--dbfilename", "m.rdb"] + common + extra,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(m)
        wait("the master", lambda: ping(mport), 10)
        c = cb.Conn(mport, timeout=600)
        c.cmd("DEBUG", "POPULATE", str(nkeys), "key", "16")
        c.close()
        t0 = time.time()
        r = cb.start(["taskset", "-c", cb.SERVER_CPU, binary, "--port", str(rport), "--dir", d,
                      "--dbfilename", "r.rdb", "--replicaof", "127.0.0.1", str(mport)] + common + extra,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(r)

        def synced():
            if info_field(rport, "replication", "master_link_status") != "up":
                return False
            return (info_field(rport, "replication", "slave_repl_offset")
                    == info_field(mport, "replication", "master_repl_offset"))

        t1 = wait("the replica's sync", synced, timeout)
        keys = cb.one(rport, "DBSIZE")
        return ("ok" if keys == nkeys else "replica has %s of %d keys" % (keys, nkeys)), t1 - t0
    except RuntimeError as e:
        return str(e), None
    finally:
        for p in procs:
            cb.stop(p)


def ping(port):
    try:
        return cb.one(port, "PING", timeout=1) == "PONG"
    except (OSError, cb.RespError):
        return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--node-timeout", type=int, default=2000)
    ap.add_argument("--sync-keys", type=int, default=1_000_000)
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--only", choices=["failover", "sync"])
    args = ap.parse_args()
    signal.signal(signal.SIGINT, cb.on_signal)
    signal.signal(signal.SIGTERM, cb.on_signal)
    impls = [("redis", cb.REDIS_SERVER, cb.REDIS_ARGS), ("redoxide", cb.REDOXIDE_SERVER, cb.REDOXIDE_ARGS)]
    stamp = time.strftime("%Y%m%d-%H%M%S")
    root = "/dev/shm" if os.path.isdir("/dev/shm") else None
    rows = []
    print("redoxide failover bench %s: %s" % (stamp, " ".join(sys.argv)))
    clusters = {}
    try:
        if args.only != "sync":
            for name, binary, extra in impls:
                cl = cb.Cluster(name, binary, extra, root, masters=3, replicas=1, node_timeout_ms=args.node_timeout)
                clusters[name] = cl
                try:
                    cl.start()
                    settle(cl, args.timeout)
                except RuntimeError as e:
                    # One side not able to run the scenario is a result to print, not a reason to lose the other's.
                    print("  %-8s cannot run the failover rounds: %s" % (name, e))
                    rows.append(dict(kind="failover", impl=name, round=0, status="setup: %s" % e))
                    continue
                print("  %-8s 3 masters + 3 replicas up, node-timeout %d ms" % (name, args.node_timeout))
            ready = [name for name, _, _ in impls if not any(r["impl"] == name and r["round"] == 0 for r in rows)]
            for rnd in range(args.rounds):
                for name in ready:
                    cl = clusters[name]
                    ms = masters(cl)
                    victim = ms[rnd % len(ms)]
                    r = failover_round(cl, victim, args.timeout)
                    if r["status"] == "ok":
                        try:
                            settle(cl, args.timeout)
                        except RuntimeError as e:
                            r["status"] = "after restart: %s" % e
                    rows.append(dict(kind="failover", impl=name, round=rnd + 1, **r))
                    print("  failover round %d %-8s writes back %s s, cluster ok %s s, lost %s  %s" % (
                        rnd + 1, name, cb.fmt(r["writes_s"], 2), cb.fmt(r["ok_s"], 2), r["lost"], r["status"]))
        if args.only != "failover" and args.sync_keys > 0:
            for rnd in range(max(1, args.rounds // 2)):
                for name, binary, extra in impls:
                    status, secs = full_sync(binary, extra, args.sync_keys, root, max(args.timeout, 300))
                    rows.append(dict(kind="sync", impl=name, round=rnd + 1, status=status, sync_s=secs))
                    print("  full sync of %d keys round %d %-8s %s s  %s" % (
                        args.sync_keys, rnd + 1, name, cb.fmt(secs, 2), status))
    finally:
        for cl in clusters.values():
            cl.stop()
    print()
    for kind, fields in (("failover", ("writes_s", "ok_s")), ("sync", ("sync_s",))):
        for field in fields:
            med = {}
            for name, _, _ in impls:
                med[name] = cb.median([r[field] for r in rows if r["kind"] == kind and r["impl"] == name
                                       and r["status"] == "ok"])
            if any(v is not None for v in med.values()):
                print("%-8s %-9s redis %s s  redoxide %s s  ratio redoxide/redis %s" % (
                    kind, field, cb.fmt(med["redis"], 2), cb.fmt(med["redoxide"], 2),
                    cb.fmt(cb.ratio(med["redoxide"], med["redis"]), 2)))
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    out = os.path.join(HERE, "results", "failover-%s.csv" % stamp)
    with open(out, "w", newline="") as f:
        keys = sorted({k for r in rows for k in r})
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    print("command: %s\nraw rows: %s" % (" ".join(["bench/failover.py"] + sys.argv[1:]), os.path.relpath(out, os.path.dirname(HERE))))


if __name__ == "__main__":
    main()
