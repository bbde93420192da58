"""Cluster mode against the real tools: nodes configured as the seed configures them, joined by Debian's
`redis-cli --cluster create`, checked by `redis-cli --cluster check`, used by redis-py 8's RedisCluster (the
seed's Python examples) and redis-benchmark --cluster, restarted from nodes.conf, and mixed with redis-server
7.0.15 nodes in one cluster.

Usage: python test_cluster.py --server BIN [--only NAME]...   (BIN: redoxide-server, or /usr/bin/redis-server to
check the test itself). Exit status 0 when every scenario passed.
"""

import argparse
import os
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import REDIS_SERVER, Cluster, RespError, cluster_info, redis_cli, wait_until  # noqa: E402

SERVER = None


def create(cluster, replicas=1):
    code, out = redis_cli(
        "--cluster", "create", *[n.addr() for n in cluster.nodes], "--cluster-replicas", replicas, "--cluster-yes"
    )
    assert code == 0, "redis-cli --cluster create failed (%d):\n%s" % (code, out)
    assert "[OK] All 16384 slots covered." in out, out
    return out


def check_clean(node):
    """redis-cli --cluster check exits 0 and reports neither errors nor warnings."""
    def clean():
        code, out = redis_cli("--cluster", "check", node.addr())
        return (code == 0 and "[ERR]" not in out and "[WARNING]" not in out, out)

    deadline = time.time() + 30
    while True:
        ok, out = clean()
        if ok:
            return out
        if time.time() > deadline:
            raise AssertionError("redis-cli --cluster check not clean:\n" + out)
        time.sleep(0.5)


def myself_flags(node):
    line = [l for l in node.cmd("CLUSTER", "NODES").decode().split("\n") if "myself" in l][0]
    return line.split()[2]


def all_ok(cluster, known, replicas=None):
    """Waits until every node says cluster_state:ok, knows `known` nodes and, when `replicas` is given, sees
    that many replicas (redis-cli --cluster create returns before gossip has told every node who replicates
    whom)."""
    def ok():
        for n in cluster.nodes:
            info = cluster_info(n)
            if info.get("cluster_state") != "ok" or int(info.get("cluster_known_nodes", 0)) != known:
                return False
            if replicas is not None:
                flags = [l.split()[2] for l in n.cmd("CLUSTER", "NODES").decode().strip().split("\n")]
                if sum("slave" in f for f in flags) != replicas:
                    return False
        return True

    wait_until(ok, "cluster_state:ok and %d known nodes on every node" % known, timeout=40)


def test_seed_create_and_check():
    with Cluster([SERVER] * 6) as c:
        create(c)
        all_ok(c, 6, replicas=3)
        check_clean(c.nodes[0])
        for n in c.nodes:
            info = cluster_info(n)
            assert info["cluster_size"] == "3", info
            assert info["cluster_slots_assigned"] == "16384", info
        # Three masters with a third of the slots each and three replicas, each of a different master.
        lines = [l.split() for l in c.nodes[0].cmd("CLUSTER", "NODES").decode().strip().split("\n")]
        masters = [l for l in lines if "master" in l[2]]
        replicas = [l for l in lines if "slave" in l[2]]
        assert len(masters) == 3 and len(replicas) == 3, lines
        assert sorted(r[3] for r in replicas) == sorted(m[0] for m in masters), lines
        # The same view from every node: same ids, same slot ranges.
        def view(n):
            ls = [l.split() for l in n.cmd("CLUSTER", "NODES").decode().strip().split("\n")]
            return sorted((l[0], l[1].split("@")[0], tuple(l[8:])) for l in ls)

        wait_until(lambda: all(view(n) == view(c.nodes[0]) for n in c.nodes), "one view on all nodes")
        slots = c.nodes[1].cmd("CLUSTER", "SLOTS")
        covered = sum(s[1] - s[0] + 1 for s in slots)
        assert covered == 16384, slots
        # Each range is served by the master CLUSTER NODES gives it to (replicas follow only once they
        # have replicated something: isReplicaAvailable).
        ranges = {l[0]: l[8:] for l in lines if "master" in l[2]}
        for s in slots:
            owner = s[2][2].decode()
            assert "%d-%d" % (s[0], s[1]) in ranges[owner], (s, ranges)
            assert all(r[2].decode() in [l[0] for l in replicas if l[3] == owner] for r in s[3:]), (s, replicas)


def test_redirection_and_redis_cli_c():
    with Cluster([SERVER] * 6) as c:
        create(c)
        all_ok(c, 6, replicas=3)
        masters = [n for n in c.nodes if "master" in myself_flags(n)]
        assert len(masters) == 3, [myself_flags(n) for n in c.nodes]
        slot = 12182  # "foo"
        owner = None
        for n in masters:
            r = n.cmd("SET", "foo", "bar")
            if r == "OK":
                owner = n
            else:
                assert isinstance(r, RespError) and str(r).startswith("MOVED 12182 127.0.0.1:"), r
        assert owner is not None
        for n in masters:
            if n is not owner:
                assert str(n.cmd("GET", "foo")) == "MOVED %d %s" % (slot, owner.addr())
        assert str(owner.cmd("MSET", "a", "1", "b", "2")).startswith("CROSSSLOT"), "CROSSSLOT expected"
        assert owner.cmd("CLUSTER", "KEYSLOT", "foo") == slot
        for n in masters:
            code, out = redis_cli("-c", "-p", n.port, "SET", "{user:1}:name", "Alice")
            assert code == 0 and out.strip() == "OK", out
            code, out = redis_cli("-c", "-p", n.port, "GET", "{user:1}:name")
            assert code == 0 and out.strip() == "Alice", out


SEED_SCRIPT = r'''
import sys
from redis.cluster import RedisCluster, ClusterNode
ports = [int(p) for p in sys.argv[1:]]
rc = RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", p) for p in ports[:3]],
                  decode_responses=True, skip_full_coverage_check=True)
rc.set("user:1", "Alice"); rc.set("user:2", "Bob"); rc.set("user:3", "Charlie")
assert rc.get("user:1") == "Alice", rc.get("user:1")
# redis-py learns the nodes from CLUSTER SLOTS, which lists a replica only once it has replicated
# something (isReplicaAvailable: repl_offset != 0), so the count of replicas depends on replication.
rc.nodes_manager.initialize()
types = sorted(n.server_type for n in rc.get_nodes())
slots = rc.execute_command("CLUSTER SLOTS", target_nodes=rc.get_primaries()[0])
listed_replicas = sum(len(s) - 3 for s in slots)
assert types == ["primary"] * 3 + ["replica"] * listed_replicas, (types, slots)
rc.set("{user:1}:name", "Alice"); rc.set("{user:1}:email", "alice@example.com")
assert rc.mget("{user:1}:name", "{user:1}:email") == ["Alice", "alice@example.com"]
pipe = rc.pipeline()
pipe.set("{order:100}:status", "pending"); pipe.set("{order:100}:total", "99.99"); pipe.incr("{order:100}:items")
assert pipe.execute() == [True, True, 1]
assert rc.cluster_keyslot("user:1") == 10778, rc.cluster_keyslot("user:1")
assert rc.cluster_keyslot("{user:1}:name") == 10778
info = rc.cluster_info()
assert info["cluster_state"] == "ok" and int(info["cluster_known_nodes"]) == 6 and int(info["cluster_size"]) == 3, info
nodes = rc.cluster_nodes()
masters = {}
for node_id, ni in nodes.items():
    if "fail" in ni["flags"]:
        raise SystemExit("node marked failed: %r" % (ni,))
    if "master" in ni["flags"]:
        slots = ni.get("slots", [])
        assert slots, ("master without slots", ni)
        masters[node_id] = sum(int(s[1]) - int(s[0]) + 1 for s in slots)
assert sorted(masters.values()) == [5461, 5461, 5462], masters
# Many keys through a pipeline spread over all masters, read back.
pipe = rc.pipeline()
for i in range(500):
    pipe.set("key:%d" % i, "v%d" % i)
pipe.execute()
pipe = rc.pipeline()
for i in range(500):
    pipe.get("key:%d" % i)
assert pipe.execute() == ["v%d" % i for i in range(500)]
print("seed examples ok")
'''


def venv_python():
    here = os.path.dirname(os.path.abspath(__file__))
    return subprocess.run(
        ["bash", os.path.join(here, "..", "venv.sh")], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_seed_python_examples():
    with Cluster([SERVER] * 6) as c:
        create(c)
        all_ok(c, 6, replicas=3)
        p = subprocess.run(
            [venv_python(), "-c", SEED_SCRIPT] + [str(n.port) for n in c.nodes],
            capture_output=True, text=True, timeout=120,
        )
        assert p.returncode == 0 and "seed examples ok" in p.stdout, p.stdout + p.stderr


def test_redis_benchmark_cluster():
    with Cluster([SERVER] * 6) as c:
        create(c)
        all_ok(c, 6, replicas=3)
        p = subprocess.run(
            ["redis-benchmark", "--cluster", "-h", "127.0.0.1", "-p", str(c.nodes[0].port), "-t", "set,get",
             "-n", "20000", "-c", "10", "-P", "8", "-q", "-r", "10000"],
            capture_output=True, text=True, timeout=120,
        )
        assert p.returncode == 0, p.stdout + p.stderr
        assert "SET:" in p.stdout and "GET:" in p.stdout, p.stdout + p.stderr
        for word in ("error", "ERR", "MOVED", "ASK"):
            assert word not in p.stdout + p.stderr, p.stdout + p.stderr


def test_restart_keeps_identity_and_slots():
    with Cluster([SERVER] * 6) as c:
        create(c)
        all_ok(c, 6, replicas=3)
        n = c.nodes[0]
        myid = n.cmd("CLUSTER", "MYID")
        before = n.cmd("CLUSTER", "NODES").decode()
        mine = [l for l in before.split("\n") if "myself" in l][0].split()
        n.stop()
        n.start()
        assert n.cmd("CLUSTER", "MYID") == myid
        all_ok(c, 6)
        after = [l for l in n.cmd("CLUSTER", "NODES").decode().split("\n") if "myself" in l][0].split()
        assert after[8:] == mine[8:], (mine, after)
        check_clean(c.nodes[1])


def test_mixed_cluster_with_redis_server():
    if SERVER == REDIS_SERVER:
        return
    with Cluster([SERVER, REDIS_SERVER, SERVER, REDIS_SERVER, SERVER, REDIS_SERVER]) as c:
        create(c, replicas=0)
        all_ok(c, 6)
        check_clean(c.nodes[0])
        check_clean(c.nodes[1])
        # Every key lands on its owner whichever kind it is, through redis-cli -c from either kind.
        for i in range(60):
            code, out = redis_cli("-c", "-p", c.nodes[i % 6].port, "SET", "mix:%d" % i, "v%d" % i)
            assert code == 0 and out.strip() == "OK", out
        for i in range(60):
            code, out = redis_cli("-c", "-p", c.nodes[(i + 3) % 6].port, "GET", "mix:%d" % i)
            assert out.strip() == "v%d" % i, out


TESTS = [
    test_seed_create_and_check,
    test_redirection_and_redis_cli_c,
    test_seed_python_examples,
    test_redis_benchmark_cluster,
    test_restart_keeps_identity_and_slots,
    test_mixed_cluster_with_redis_server,
]


def main():
    global SERVER
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--only", action="append", default=[])
    args = ap.parse_args()
    SERVER = os.path.abspath(args.server)
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
    print("%d failed" % failed)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
