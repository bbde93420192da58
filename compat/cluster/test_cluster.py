"""Cluster mode against the real tools: nodes configured as the seed configures them, joined by Debian's
`redis-cli --cluster create`, checked by `redis-cli --cluster check`, used by redis-py 8's RedisCluster (the
seed's Python examples) and redis-benchmark --cluster, restarted from nodes.conf, and mixed with redis-server
7.0.15 nodes in one cluster.

Usage: python test_cluster.py --server BIN [--only NAME]...   (BIN: redoxide-server, or /usr/bin/redis-server to
check the test itself). Exit status 0 when every scenario passed.
"""

import argparse
import json
import os
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import REDIS_SERVER, Cluster, RespError, cluster_info, key_slot, redis_cli, wait_until  # noqa: E402

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


def owned_slots(node):
    """The slots `node` says it owns (its own CLUSTER NODES line)."""
    line = [l for l in node.cmd("CLUSTER", "NODES").decode().split("\n") if "myself" in l][0]
    slots = set()
    for r in line.split()[8:]:
        if r.startswith("["):
            continue
        a, _, b = r.partition("-")
        slots.update(range(int(a), int(b or a) + 1))
    return slots


def owns(node, slot):
    line = [l for l in node.cmd("CLUSTER", "NODES").decode().split("\n") if "myself" in l][0]
    for r in line.split()[8:]:
        if r.startswith("["):
            continue
        a, _, b = r.partition("-")
        if int(a) <= slot <= int(b or a):
            return True
    return False


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


def load_keys(node, count, prefix="k"):
    """Writes `count` keys of several types through redis-py's cluster client; returns {key: value}."""
    script = r'''
import sys, json
from redis.cluster import RedisCluster, ClusterNode
port, count, prefix = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rc = RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", port)], decode_responses=True)
pipe = rc.pipeline()
for i in range(count):
    pipe.set("%s:%d" % (prefix, i), "v%d" % i)
    if i % 10 == 0:
        pipe.rpush("{%s:list}:%d" % (prefix, i), "a", "b", str(i))
        pipe.hset("%s:hash:%d" % (prefix, i), mapping={"f": str(i)})
pipe.execute()
'''
    p = subprocess.run([venv_python(), "-c", script, str(node.port), str(count), prefix],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr


DUMP_SCRIPT = r'''
import sys, json
from redis.cluster import RedisCluster, ClusterNode
rc = RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", int(sys.argv[1]))], decode_responses=True)
out = {}
for node in rc.get_primaries():
    for key in rc.scan_iter(count=1000, target_nodes=node):
        t = rc.type(key)
        if t == "string":
            out[key] = rc.get(key)
        elif t == "list":
            out[key] = rc.lrange(key, 0, -1)
        elif t == "hash":
            out[key] = rc.hgetall(key)
        else:
            out[key] = t
print(json.dumps(out, sort_keys=True))
'''


def dataset(node):
    """Every key of the cluster with its value, read through redis-py (each key from the master that owns it)."""
    p = subprocess.run([venv_python(), "-c", DUMP_SCRIPT, str(node.port)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    return json.loads(p.stdout)


def node_id(node):
    return node.cmd("CLUSTER", "MYID").decode()


def slot_counts(node):
    counts = {}
    for line in node.cmd("CLUSTER", "NODES").decode().strip().split("\n"):
        f = line.split()
        if "master" in f[2]:
            n = 0
            for r in f[8:]:
                if r.startswith("["):
                    continue
                a, _, b = r.partition("-")
                n += int(b or a) - int(a) + 1
            counts[f[1].split("@")[0]] = n
    return counts


def test_cluster_operations_keep_every_key():
    """The seed's "Cluster Operations" with the real redis-cli on a loaded cluster: add-node (master, and
    replica with --cluster-slave --cluster-master-id), rebalance --cluster-use-empty-masters, reshard,
    fix of a half-migrated slot, del-node; after each, check is clean and no key is lost or changed."""
    with Cluster([SERVER] * 6) as c:
        create(c)
        all_ok(c, 6, replicas=3)
        load_keys(c.nodes[0], 3000)
        before = dataset(c.nodes[0])
        assert len(before) == 3000 + 300 + 300, len(before)
        entry = c.nodes[0].addr()

        new_master = c.add(SERVER)
        code, out = redis_cli("--cluster", "add-node", new_master.addr(), entry)
        assert code == 0 and "[OK] New node added correctly." in out, out
        all_ok(c, 7, replicas=3)
        check_clean(c.nodes[0])

        new_replica = c.add(SERVER)
        code, out = redis_cli("--cluster", "add-node", new_replica.addr(), entry, "--cluster-slave",
                              "--cluster-master-id", node_id(new_master))
        assert code == 0 and "[OK] New node added correctly." in out, out
        all_ok(c, 8, replicas=4)
        check_clean(c.nodes[0])

        code, out = redis_cli("--cluster", "rebalance", entry, "--cluster-use-empty-masters", timeout=300)
        assert code == 0, out
        counts = slot_counts(c.nodes[0])
        assert counts[new_master.addr()] >= 4000, counts
        check_clean(c.nodes[0])
        assert dataset(c.nodes[0]) == before

        code, out = redis_cli("--cluster", "reshard", entry, "--cluster-from", node_id(c.nodes[0]),
                              "--cluster-to", node_id(new_master), "--cluster-slots", "500", "--cluster-yes",
                              "--cluster-pipeline", "100", timeout=300)
        assert code == 0, out
        check_clean(c.nodes[0])
        assert dataset(c.nodes[0]) == before

        # A slot left half-migrated (MIGRATING on its owner, IMPORTING on the target, one key moved) is
        # closed by fix with every key ending on one node.
        slot = c.nodes[0].cmd("CLUSTER", "KEYSLOT", "k:7")
        src = [n for n in c.nodes if "master" in myself_flags(n) and owns(n, slot)][0]
        dst = [n for n in c.nodes if "master" in myself_flags(n) and n is not src][0]
        keys = src.cmd("CLUSTER", "GETKEYSINSLOT", slot, 10)
        assert b"k:7" in keys, keys
        assert dst.cmd("CLUSTER", "SETSLOT", slot, "IMPORTING", node_id(src)) == "OK"
        assert src.cmd("CLUSTER", "SETSLOT", slot, "MIGRATING", node_id(dst)) == "OK"
        assert src.cmd("MIGRATE", "127.0.0.1", dst.port, keys[0], 0, 5000) == "OK"
        code, out = redis_cli("--cluster", "check", entry)
        assert "open slot" in out.lower() or "[WARNING]" in out, out
        code, out = redis_cli("--cluster", "fix", entry, timeout=300)
        assert code == 0, out
        check_clean(c.nodes[0])
        assert dataset(c.nodes[0]) == before

        # del-node: the replica directly; the new master after moving its slots away.
        code, out = redis_cli("--cluster", "del-node", entry, node_id(new_replica))
        assert code == 0 and "Sending CLUSTER RESET SOFT to the deleted node." in out, out
        code, out = redis_cli("--cluster", "reshard", entry, "--cluster-from", node_id(new_master),
                              "--cluster-to", node_id(c.nodes[0]),
                              "--cluster-slots", str(slot_counts(c.nodes[0])[new_master.addr()]),
                              "--cluster-yes", timeout=300)
        assert code == 0, out
        code, out = redis_cli("--cluster", "del-node", entry, node_id(new_master))
        assert code == 0, out
        for gone in (new_master, new_replica):
            # Reset by del-node and no longer part of the cluster: stopped here, since close() only ends
            # the nodes still listed.
            gone.stop()
            c.nodes.remove(gone)
        all_ok(c, 6)
        check_clean(c.nodes[0])
        assert dataset(c.nodes[0]) == before


REDOXIDE_CLI = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "target", "release", "redoxide-cli")


def test_reshard_under_load_loses_nothing():
    """A client keeps writing (the seed's ResilientClusterClient over redis-py) while a third of the slots move
    to another master with redoxide-cli's batched reshard (64 slots open at once) and back with redis-cli's
    one-slot-at-a-time reshard: no call fails, no acknowledged write is lost, every loaded key keeps its value."""
    with Cluster([SERVER] * 6) as c:
        create(c)
        all_ok(c, 6, replicas=3)
        load_keys(c.nodes[0], 3000)
        before = dataset(c.nodes[0])
        masters = [n for n in c.nodes if "master" in myself_flags(n)]
        src, dst = masters[0], masters[1]
        moving = len(owned_slots(src)) - 1
        writer = Writer(c)
        time.sleep(1)
        t0 = time.time()
        code, out = redis_cli("--cluster", "reshard", src.addr(), "--cluster-from", node_id(src), "--cluster-to",
                              node_id(dst), "--cluster-slots", moving, "--cluster-yes", "--cluster-pipeline", 10,
                              timeout=300, cli=REDOXIDE_CLI)
        assert code == 0 and "Moved %d/%d slots" % (moving, moving) in out, out
        t1 = time.time()
        check_clean(src)
        code, out = redis_cli("--cluster", "reshard", src.addr(), "--cluster-from", node_id(dst), "--cluster-to",
                              node_id(src), "--cluster-slots", moving, "--cluster-yes", "--cluster-pipeline", 10,
                              timeout=300)
        assert code == 0, out
        t2 = time.time()
        time.sleep(0.5)
        result = writer.stop()
        assert result["failed"] == 0, "calls that failed during the reshards: %d" % result["failed"]
        for a, b in ((t0, t1), (t1, t2)):
            assert any(a <= t <= b for t, _ in result["acks"]), "no write acknowledged during a reshard"
        check_clean(src)
        check_no_acknowledged_write_lost(c, result)
        after = dataset(c.nodes[0])
        assert {k: v for k, v in after.items() if not k.startswith("fo:")} == before


def test_reshard_between_redis_server_and_redoxide():
    """Slots with keys move from a redis-server master to a redoxide master and back (MIGRATE both ways)."""
    if SERVER == REDIS_SERVER:
        return
    with Cluster([REDIS_SERVER, SERVER, SERVER]) as c:
        create(c, replicas=0)
        all_ok(c, 3)
        load_keys(c.nodes[0], 2000, prefix="x")
        before = dataset(c.nodes[0])
        redis_node, ours = c.nodes[0], c.nodes[1]
        for src, dst in ((redis_node, ours), (ours, redis_node)):
            code, out = redis_cli("--cluster", "reshard", redis_node.addr(), "--cluster-from", node_id(src),
                                  "--cluster-to", node_id(dst), "--cluster-slots", "2000", "--cluster-yes",
                                  "--cluster-pipeline", "100", timeout=300)
            assert code == 0, out
            check_clean(redis_node)
            check_clean(ours)
            assert dataset(ours) == before


class Subscriber:
    """A raw RESP2 connection in subscribed mode."""

    def __init__(self, node, command, channel):
        import socket as _socket
        from harness import _read_reply
        self._read_reply = _read_reply
        self.sock = _socket.create_connection(("127.0.0.1", node.port), timeout=5)
        self.f = self.sock.makefile("rb")
        payload = b"*2\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(command), command, len(channel), channel)
        self.sock.sendall(payload)
        confirm = self.read()
        assert confirm[0].lower() == command.lower() and confirm[1] == channel, confirm

    def read(self):
        return self._read_reply(self.f)

    def close(self):
        self.sock.close()


def test_pubsub_across_the_bus():
    """PUBLISH reaches subscribers on every node, SPUBLISH the subscribers of the shard's nodes, in a cluster
    of redoxide and redis-server nodes (so the PUBLISH/PUBLISHSHARD packets are Redis's)."""
    kinds = [SERVER, REDIS_SERVER, SERVER] if SERVER != REDIS_SERVER else [SERVER] * 3
    with Cluster(kinds + [SERVER, SERVER]) as c:
        code, out = redis_cli("--cluster", "create", *[n.addr() for n in c.nodes[:3]], "--cluster-yes")
        assert code == 0, out
        for n in c.nodes[3:]:
            assert c.nodes[0].cmd("CLUSTER", "MEET", "127.0.0.1", n.port) == "OK"
        all_ok(c, 5)
        # The last two nodes joined empty: make them replicas of the first two.
        assert c.nodes[3].cmd("CLUSTER", "REPLICATE", node_id(c.nodes[0])) == "OK"
        assert c.nodes[4].cmd("CLUSTER", "REPLICATE", node_id(c.nodes[1])) == "OK"
        all_ok(c, 5, replicas=2)
        subs = [Subscriber(n, b"SUBSCRIBE", b"news") for n in c.nodes]
        for publisher in c.nodes[:3]:
            receivers = publisher.cmd("PUBLISH", "news", "from-%d" % publisher.port)
            assert receivers == 1, receivers
            for sub in subs:
                assert sub.read() == [b"message", b"news", b"from-%d" % publisher.port]
        for sub in subs:
            sub.close()
        # A shard channel hashing to node 0's slots: its replica (node 3) hears SPUBLISH, the others do not.
        channel = None
        for i in range(1000):
            name = "shard:%d" % i
            if owns(c.nodes[0], c.nodes[0].cmd("CLUSTER", "KEYSLOT", name)):
                channel = name.encode()
                break
        on_master = Subscriber(c.nodes[0], b"SSUBSCRIBE", channel)
        on_replica = Subscriber(c.nodes[3], b"SSUBSCRIBE", channel)
        assert c.nodes[0].cmd("SPUBLISH", channel, "s1") == 1
        assert on_master.read() == [b"smessage", channel, b"s1"]
        assert on_replica.read() == [b"smessage", channel, b"s1"]
        moved = c.nodes[1].cmd("SPUBLISH", channel, "s2")
        assert isinstance(moved, RespError) and str(moved).startswith("MOVED"), moved
        on_master.close()
        on_replica.close()


def test_blocked_client_follows_its_slot():
    """A client blocked (BLPOP) on a key of a slot that moves away gets -MOVED instead of waiting forever, and
    -ASK/-MOVED are followed by redis-cli -c during a migration."""
    import socket as _socket
    from harness import _read_reply
    with Cluster([SERVER] * 3) as c:
        create(c, replicas=0)
        all_ok(c, 3)
        slot = c.nodes[0].cmd("CLUSTER", "KEYSLOT", "queue")
        owner = [n for n in c.nodes if owns(n, slot)][0]
        other = [n for n in c.nodes if n is not owner][0]
        sock = _socket.create_connection(("127.0.0.1", owner.port), timeout=10)
        sock.sendall(b"*3\r\n$5\r\nBLPOP\r\n$5\r\nqueue\r\n$1\r\n0\r\n")
        # A shard channel of the same slot: its subscribers are unsubscribed when the slot leaves.
        shard_sub = Subscriber(owner, b"SSUBSCRIBE", b"queue")
        time.sleep(0.3)
        for n in c.nodes:
            assert n.cmd("CLUSTER", "SETSLOT", slot, "NODE", node_id(other)) == "OK"
        reply = _read_reply(sock.makefile("rb"))
        assert isinstance(reply, RespError) and str(reply) == "MOVED %d %s" % (slot, other.addr()), reply
        sock.close()
        assert shard_sub.read() == [b"sunsubscribe", b"queue", 0]
        shard_sub.close()
        # A migration in progress: the key moved already is reached through ASK by redis-cli -c.
        key = "{queue}moved"
        assert other.cmd("SET", key, "here") == "OK"
        target = [n for n in c.nodes if n is not other][0]
        assert target.cmd("CLUSTER", "SETSLOT", slot, "IMPORTING", node_id(other)) == "OK"
        assert other.cmd("CLUSTER", "SETSLOT", slot, "MIGRATING", node_id(target)) == "OK"
        assert other.cmd("MIGRATE", "127.0.0.1", target.port, key, 0, 5000) == "OK"
        assert str(other.cmd("GET", key)) == "ASK %d %s" % (slot, target.addr())
        assert str(target.cmd("GET", key)).startswith("MOVED")
        code, out = redis_cli("-c", "-p", owner.port, "GET", key)
        assert code == 0 and out.strip() == "here", out


def repl_field(node, field):
    for line in node.cmd("INFO", "replication").decode().splitlines():
        if line.startswith(field + ":"):
            return line.split(":", 1)[1].strip()
    return None


def replicas_synced(cluster):
    """Every replica's link is up and its offset equals its master's."""
    offsets = {n.port: repl_field(n, "master_repl_offset") for n in cluster.nodes
               if n.proc is not None and repl_field(n, "role") == "master"}
    for n in cluster.nodes:
        if n.proc is None or repl_field(n, "role") != "slave":
            continue
        if repl_field(n, "master_link_status") != "up":
            return False
        if offsets.get(int(repl_field(n, "master_port"))) != repl_field(n, "slave_repl_offset"):
            return False
    return True


class Writer:
    """failover_writer.py (the seed's ResilientClusterClient over redis-py) writing until stopped."""

    def __init__(self, cluster):
        here = os.path.dirname(os.path.abspath(__file__))
        self.out = os.path.join(cluster.dir, "writer.json")
        self.stop_file = os.path.join(cluster.dir, "writer.stop")
        self.proc = subprocess.Popen(
            [venv_python(), os.path.join(here, "failover_writer.py"), self.out, self.stop_file]
            + [str(n.port) for n in cluster.nodes[:3]],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )

    def acks(self):
        return self.result["acks"]

    def stop(self):
        open(self.stop_file, "w").close()
        try:
            out, _ = self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        assert self.proc.returncode == 0 and os.path.exists(self.out), out.decode(errors="replace")
        with open(self.out) as f:
            self.result = json.load(f)
        return self.result


def check_no_acknowledged_write_lost(cluster, result):
    """Every key holds the last value the writer was told was written (one writer, keys written in order)."""
    live = [n for n in cluster.nodes if n.proc is not None]
    slots = {n.port: owned_slots(n) for n in live if "master" in myself_flags(n)}
    lost = []
    for key, value in result["last"].items():
        slot = key_slot(key)
        owner = [n for n in live if slot in slots.get(n.port, ())]
        assert len(owner) == 1, (key, slot, [myself_flags(n) for n in live])
        got = owner[0].cmd("GET", key)
        if got is None or got.decode() != value:
            lost.append((key, value, got))
    assert not lost, "acknowledged writes lost: %d, e.g. %r" % (len(lost), lost[:5])


def test_failover_under_load_loses_nothing():
    """The seed's promise: a master dies, its replica takes over, the client (ResilientClusterClient) keeps
    writing, nothing it was told is written is lost, and the old master comes back as a replica. With a node
    timeout of 2 s (bench/failover.py's), the slots are writable again within node timeout + 0.5 s (issue 6)."""
    node_timeout_s = 2.0
    with Cluster([SERVER] * 6, node_timeout_ms=int(node_timeout_s * 1000)) as c:
        create(c)
        all_ok(c, 6, replicas=3)
        wait_until(lambda: replicas_synced(c), "replicas in sync", timeout=60)
        writer = Writer(c)
        time.sleep(2)
        masters = [n for n in c.nodes if "master" in myself_flags(n)]
        victim = masters[0]
        victim_id = node_id(victim)
        replica = [n for n in c.nodes if repl_field(n, "role") == "slave"
                   and int(repl_field(n, "master_port")) == victim.port][0]
        # "Killed with its replica in sync": writes stop on the victim, its replica catches up, then SIGKILL.
        # Writes held by the pause were never acknowledged, and are retried against the new master.
        assert victim.cmd("CLIENT", "PAUSE", 10000, "WRITE") == "OK"
        wait_until(lambda: repl_field(victim, "master_repl_offset") == repl_field(replica, "slave_repl_offset"),
                   "the victim's replica to catch up", timeout=10, interval=0.02)
        victim_slots = owned_slots(victim)
        probe = next("probe:%d" % i for i in range(100000) if key_slot("probe:%d" % i) in victim_slots)
        t_kill = time.time()
        victim.stop()

        def writable():
            try:
                return replica.cmd("SET", probe, "x", timeout=1) == "OK"
            except (OSError, RespError):
                return False

        wait_until(writable, "the dead master's slots to be writable on its replica", timeout=30, interval=0.02)
        seconds = time.time() - t_kill
        print("  the dead master's slots writable on its replica after %.2f s (node timeout %.0f s)"
              % (seconds, node_timeout_s))
        # The target of issue 6. Redis 7.0.15 takes node timeout + 0.8..2 s here (bench/failover.py): failure
        # reports reach a majority by gossip, then a 500..1000 ms election delay. Ours: the masters' reports
        # reach the replica when they time out, then a 66..133 ms delay (see failover.rs).
        assert seconds < node_timeout_s + 0.5, seconds
        wait_until(lambda: "master" in myself_flags(replica), "the replica to be promoted", timeout=30)
        all_ok_nodes = [n for n in c.nodes if n.proc is not None]
        wait_until(lambda: all(cluster_info(n).get("cluster_state") == "ok" for n in all_ok_nodes),
                   "cluster_state:ok on the survivors", timeout=30)
        time.sleep(2)
        result = writer.stop()
        taken_over = owned_slots(replica)
        back = [t for t, key in result["acks"] if t > t_kill and key_slot(key) in taken_over]
        assert back, "the client wrote nothing to the failed master's slots after the failover"
        print("  the client's writes to those slots back after %.2f s (its retry sleeps included)" % (back[0] - t_kill))
        assert victim_slots and victim_slots <= taken_over, "the replica did not take every slot over"
        check_no_acknowledged_write_lost(c, result)
        # The old master, restarted, rejoins as a replica of its successor and syncs.
        victim.start()
        wait_until(lambda: "slave" in myself_flags(victim), "the old master to rejoin as a replica", timeout=30)
        line = [l for l in victim.cmd("CLUSTER", "NODES").decode().split("\n") if "myself" in l][0].split()
        assert line[0] == victim_id and line[3] == node_id(replica), line
        wait_until(lambda: replicas_synced(c), "the old master to sync from the new one", timeout=60)
        check_clean(c.nodes[1])


def test_manual_failover_under_load_loses_nothing():
    """CLUSTER FAILOVER on a replica while the client writes: the roles swap, no acknowledged write is lost."""
    with Cluster([SERVER] * 6) as c:
        create(c)
        all_ok(c, 6, replicas=3)
        wait_until(lambda: replicas_synced(c), "replicas in sync", timeout=60)
        writer = Writer(c)
        time.sleep(2)
        replica = [n for n in c.nodes if repl_field(n, "role") == "slave"][0]
        old_master = [n for n in c.nodes if n.port == int(repl_field(replica, "master_port"))][0]
        assert replica.cmd("CLUSTER", "FAILOVER") == "OK"
        wait_until(lambda: "master" in myself_flags(replica) and "slave" in myself_flags(old_master),
                   "the manual failover to swap the roles", timeout=30)
        time.sleep(2)
        result = writer.stop()
        assert len(result["acks"]) > 100, result["failed"]
        check_no_acknowledged_write_lost(c, result)
        wait_until(lambda: replicas_synced(c), "the old master to sync from the new one", timeout=60)
        check_clean(c.nodes[0])


def test_mixed_replication_and_failover():
    """A redis-server replica of a redoxide master and a redoxide replica of a redis-server master sync, stay
    in sync under writes, and fail over both ways."""
    if SERVER == REDIS_SERVER:
        return
    with Cluster([SERVER, REDIS_SERVER, SERVER, REDIS_SERVER, SERVER, REDIS_SERVER]) as c:
        # Masters: 0 redoxide, 1 redis, 2 redoxide. Replicas added the seed's way (add-node --cluster-slave):
        # 3 (redis) of 0, 4 (redoxide) of 1, 5 (redis) of 2.
        code, out = redis_cli("--cluster", "create", *[n.addr() for n in c.nodes[:3]], "--cluster-replicas", 0,
                              "--cluster-yes")
        assert code == 0 and "[OK] All 16384 slots covered." in out, out
        for r, m in ((3, 0), (4, 1), (5, 2)):
            code, out = redis_cli("--cluster", "add-node", c.nodes[r].addr(), c.nodes[0].addr(), "--cluster-slave",
                                  "--cluster-master-id", node_id(c.nodes[m]))
            assert code == 0, out
        all_ok(c, 6, replicas=3)
        load_keys(c.nodes[0], 600)
        load = dataset(c.nodes[2])
        assert len(load) > 600, len(load)
        wait_until(lambda: replicas_synced(c), "mixed replicas in sync", timeout=60)
        for r, m in ((3, 0), (4, 1)):
            assert c.nodes[r].cmd("DBSIZE") == c.nodes[m].cmd("DBSIZE") > 0
        # Fail over both kinds by killing their masters.
        for r, m in ((3, 0), (4, 1)):
            c.nodes[m].stop()
            wait_until(lambda: "master" in myself_flags(c.nodes[r]), "replica %d promoted" % r, timeout=30)
        live = [n for n in c.nodes if n.proc is not None]
        wait_until(lambda: all(cluster_info(n).get("cluster_state") == "ok" for n in live), "cluster ok", timeout=30)
        assert dataset(c.nodes[2]) == load


TESTS = [
    test_seed_create_and_check,
    test_redirection_and_redis_cli_c,
    test_seed_python_examples,
    test_redis_benchmark_cluster,
    test_restart_keeps_identity_and_slots,
    test_mixed_cluster_with_redis_server,
    test_cluster_operations_keep_every_key,
    test_reshard_between_redis_server_and_redoxide,
    test_reshard_under_load_loses_nothing,
    test_pubsub_across_the_bus,
    test_blocked_client_follows_its_slot,
    test_failover_under_load_loses_nothing,
    test_manual_failover_under_load_loses_nothing,
    test_mixed_replication_and_failover,
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
