"""A client that writes continuously through a failover, with the seed's ResilientClusterClient around redis-py 8's
RedisCluster (the seed's code, trimmed of its prints). Run by test_cluster.py in the shared venv.

Usage: python failover_writer.py OUT STOP PORT...
Writes `fo:<k>` = <n> for n = 1, 2, ... over 1,000 keys (k = n mod 1000, so every slot owner is written to) until
the file STOP exists, then writes OUT as JSON: {"last": {key: last acknowledged value}, "acks": [[time, key], ...],
"failed": number of calls that returned nothing or raised}. A call counts as acknowledged only when SET returned
True; the driver compares the cluster's values with "last".
"""

import json
import os
import sys
import time

from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import ClusterDownError, ConnectionError


class ResilientClusterClient:
    """Redis Cluster client with failover handling (the seed's class)."""

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
            except (ClusterDownError, ConnectionError):
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
            except ClusterDownError:
                time.sleep(2)
                self._client = None
            except ConnectionError:
                self._client = None
                if attempt < max_retries - 1:
                    time.sleep(1)
                else:
                    raise


def main():
    out, stop = sys.argv[1], sys.argv[2]
    ports = [int(p) for p in sys.argv[3:]]
    client = ResilientClusterClient([ClusterNode("127.0.0.1", p) for p in ports])
    last, acks, failed = {}, [], 0
    n = 0
    deadline = time.time() + 300  # the driver stops us long before; this only bounds a lost driver
    while not os.path.exists(stop) and time.time() < deadline:
        n += 1
        key = "fo:%d" % (n % 1000)
        try:
            ok = client.execute("set", key, str(n))
        except Exception:
            ok = None
        if ok is True:
            last[key] = str(n)
            acks.append([time.time(), key])
        else:
            failed += 1
            time.sleep(0.01)
    with open(out + ".tmp", "w") as f:
        json.dump({"last": last, "acks": acks, "failed": failed}, f)
    os.rename(out + ".tmp", out)


if __name__ == "__main__":
    main()
