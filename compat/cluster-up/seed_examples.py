"""The seed's Python examples, run against a running cluster: python seed_examples.py PORT...

"Python Client Connection", "Hash Tags for Multi-Key Operations", "Handling Failover" (the ResilientClusterClient)
and "Monitoring Cluster Health", as the seed writes them, with two changes redis-py 8 needs: startup nodes are
ClusterNode objects (redis-py 8 no longer takes dicts), and the health script reads redis-py's cluster_nodes() as
it really is (a dict keyed by "host:port", slot ranges as lists of strings; the seed's `node_info['host']` and
`s[1] - s[0]` would raise). Assertions check what the seed's comments say each line prints. The health script's
output is printed between "--- health ---" markers so that the caller can compare it with
`redoxide-cli --cluster health`. Run with compat/.venv's python (compat/venv.sh).
"""

import sys
import time

from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import ClusterDownError, ConnectionError

ports = [int(p) for p in sys.argv[1:]]


def get_cluster_connection():
    """Connect to Redis Cluster"""
    # Provide at least one node; client discovers others
    nodes = [ClusterNode("localhost", p) for p in ports[:3]]
    rc = RedisCluster(startup_nodes=nodes, decode_responses=True, skip_full_coverage_check=True)
    return rc


# --- Python Client Connection ---
rc = get_cluster_connection()
rc.set("user:1", "Alice")
rc.set("user:2", "Bob")
rc.set("user:3", "Charlie")
assert rc.get("user:1") == "Alice"
print(f"Cluster nodes: {len(rc.get_nodes())}")
for node in rc.get_nodes():
    print(f"  {node.host}:{node.port} - {node.server_type}")
# redis-py learns nodes from CLUSTER SLOTS, which lists a replica only once it replicated something (Redis's
# isReplicaAvailable); redoxide has no replication yet, so the primaries are what must be there.
assert sorted(n.server_type for n in rc.get_nodes()).count("primary") == 3

# --- Hash Tags for Multi-Key Operations ---
rc.set("user:1:name", "Alice")
rc.set("user:1:email", "alice@example.com")
rc.set("{user:1}:name", "Alice")
rc.set("{user:1}:email", "alice@example.com")
values = rc.mget("{user:1}:name", "{user:1}:email")
print(values)
assert values == ["Alice", "alice@example.com"], values
pipe = rc.pipeline()
pipe.set("{order:100}:status", "pending")
pipe.set("{order:100}:total", "99.99")
pipe.incr("{order:100}:items")
res = pipe.execute()
assert res[:2] == [True, True] and isinstance(res[2], int), res
slot = rc.cluster_keyslot("user:1")
print(f"Key 'user:1' maps to slot {slot}")
assert slot == 10778, slot
slot_tagged = rc.cluster_keyslot("{user:1}:name")
print(f"Key '{{user:1}}:name' maps to slot {slot_tagged}")
assert slot_tagged == 10778


# --- Handling Failover ---
class ResilientClusterClient:
    """Redis Cluster client with failover handling"""

    def __init__(self, nodes):
        self.nodes = nodes
        self._client = None

    def _connect(self):
        max_retries = 3
        retry_delay = 1
        for attempt in range(max_retries):
            try:
                client = RedisCluster(
                    startup_nodes=self.nodes,
                    decode_responses=True,
                    skip_full_coverage_check=True,
                    cluster_error_retry_attempts=3,
                )
                client.ping()
                return client
            except (ClusterDownError, ConnectionError) as e:
                print(f"Connection attempt {attempt + 1} failed: {e}")
                if attempt < max_retries - 1:
                    time.sleep(retry_delay)
                    retry_delay *= 2
                else:
                    raise

    @property
    def client(self):
        if self._client is None:
            self._client = self._connect()
        return self._client

    def execute(self, method, *args, **kwargs):
        max_retries = 3
        for attempt in range(max_retries):
            try:
                func = getattr(self.client, method)
                return func(*args, **kwargs)
            except ClusterDownError as e:
                print(f"Cluster down, waiting for failover: {e}")
                time.sleep(2)
                self._client = None
            except ConnectionError as e:
                print(f"Connection error: {e}")
                self._client = None
                if attempt < max_retries - 1:
                    time.sleep(1)
                else:
                    raise


client = ResilientClusterClient([ClusterNode("127.0.0.1", p) for p in ports[:3]])
client.execute("set", "key", "value")
assert client.execute("get", "key") == "value"

# Enough keys to land on every master, read back.
pipe = rc.pipeline()
for i in range(300):
    pipe.set("key:%d" % i, "v%d" % i)
pipe.execute()
pipe = rc.pipeline()
for i in range(300):
    pipe.get("key:%d" % i)
assert pipe.execute() == ["v%d" % i for i in range(300)]


# --- Monitoring Cluster Health ---
def check_cluster_health():
    """Check cluster status and node health"""
    info = rc.cluster_info()
    print(f"Cluster state: {info['cluster_state']}")
    print(f"Known nodes: {info['cluster_known_nodes']}")
    print(f"Cluster size: {info['cluster_size']}")
    nodes = rc.cluster_nodes()
    for address, node_info in nodes.items():
        flags = node_info.get("flags", "")
        print(f"\nNode: {address}")
        print(f"  Flags: {flags}")
        print(f"  Slots: {node_info.get('slots', [])}")
        if "fail" in flags:
            print("  WARNING: Node marked as failed!")
        if "master" in flags and not node_info.get("slots"):
            print("  WARNING: Master with no slots!")


def get_slot_distribution():
    """Show how slots are distributed across masters"""
    nodes = rc.cluster_nodes()
    masters = {}
    for address, info in nodes.items():
        if "master" in info.get("flags", ""):
            slots = info.get("slots", [])
            slot_count = sum((int(s[1]) - int(s[0]) + 1) if len(s) > 1 else 1 for s in slots)
            masters[address] = slot_count
    print("\nSlot distribution:")
    for master, count in sorted(masters.items()):
        bar = "=" * (count // 500)
        print(f"  {master}: {count} slots {bar}")


print("--- health ---")
check_cluster_health()
get_slot_distribution()
print("--- end health ---")
info = rc.cluster_info()
assert info["cluster_state"] == "ok" and int(info["cluster_known_nodes"]) == len(ports), info
print("seed examples ok")
