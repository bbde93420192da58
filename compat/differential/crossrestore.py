"""DUMP/RESTORE across implementations: values written on Debian's redis-server 7.0.15 are DUMPed there and
RESTOREd into redoxide, and values written on redoxide are DUMPed there and RESTOREd into redis-server; each restored
value must read back equal to the original. DUMP bytes themselves may differ (LZF output, the iteration order of
large hashes and sets), so values are compared through the read commands of their type.

Owns: the two server processes (free 127.0.0.1 ports, killed by pid on exit) and the seeded random values. Python 3
standard library only. Usage: python3 compat/differential/crossrestore.py --server BIN [--seeds N]
"""
import argparse
import atexit
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from resp import Conn  # noqa: E402
from servers import ServerProcess  # noqa: E402


def random_bytes(r):
    kind = r.random()
    if kind < 0.3:
        return str(r.randint(-10 ** r.randint(1, 19), 10 ** r.randint(1, 18))).encode()
    if kind < 0.5:
        return bytes(r.randrange(256) for _ in range(r.randint(0, 40)))
    if kind < 0.7:
        return r.choice([b"a", b"bc", b"x"]) * r.randint(1, 3000)  # compressible: LZF
    return ("v%d" % r.randint(0, 10 ** 6)).encode() * r.randint(1, 4)


def write_random(conn, r, key):
    """Writes a random value of a random type and size (small ones get listpack/intset encodings, large ones
    the plain encodings)."""
    t = r.choice(["string", "list", "hash", "set", "intset", "zset"])
    n = r.choice([1, 2, 5, 50, 200, 700])
    if t == "string":
        args = [b"SET", key, random_bytes(r)]
    elif t == "list":
        args = [b"RPUSH", key] + [random_bytes(r) for _ in range(n)]
    elif t == "hash":
        args = [b"HSET", key]
        for i in range(n):
            args += [b"f%d" % i, random_bytes(r)]
    elif t == "set":
        args = [b"SADD", key] + [random_bytes(r) for _ in range(n)]
    elif t == "intset":
        args = [b"SADD", key] + [str(r.randint(-2 ** 63, 2 ** 63 - 1) >> r.choice([0, 32, 48, 56])).encode()
                                 for _ in range(n)]
    else:
        args = [b"ZADD", key]
        for i in range(n):
            score = r.choice([str(r.randint(-1000, 1000)), repr(r.uniform(-1e6, 1e6)), "inf", "-inf", "-0", "1e300"])
            args += [score.encode(), b"m%d" % i + random_bytes(r)[:10]]
    reply = conn.call(args)
    assert not reply.is_error(), "writing %r failed: %r" % (args[:3], reply)


def read_value(conn, key):
    t = conn.call([b"TYPE", key]).text()
    if t == b"string":
        return t, conn.call([b"GET", key]).raw
    if t == b"list":
        return t, conn.call([b"LRANGE", key, b"0", b"-1"]).raw
    if t == b"hash":
        return t, sorted(conn.call([b"HGETALL", key]).raw.split(b"\r\n"))
    if t == b"set":
        return t, sorted(conn.call([b"SMEMBERS", key]).raw.split(b"\r\n"))
    if t == b"zset":
        return t, conn.call([b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"]).raw
    return t, None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", required=True, help="candidate server binary")
    ap.add_argument("--reference", default="/usr/bin/redis-server")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--keys", type=int, default=60, help="values per seed and direction")
    args = ap.parse_args()
    servers = [ServerProcess(os.path.abspath(args.reference), "reference"),
               ServerProcess(os.path.abspath(args.server), "candidate")]
    for s in servers:
        atexit.register(s.stop)
        s.start()
    ref, cand = (Conn(s.port) for s in servers)
    passed = failed = 0
    for seed in range(1, args.seeds + 1):
        for src, dst, direction in ((ref, cand, "redis->redoxide"), (cand, ref, "redoxide->redis")):
            r = random.Random("%d %s" % (seed, direction))
            for c in (src, dst):
                c.call([b"FLUSHALL"])
            for i in range(args.keys):
                key = b"k%d" % i
                write_random(src, r, key)
                payload = src.call([b"DUMP", key])
                restored = dst.call([b"RESTORE", key, b"0", payload.text()])
                want, got = read_value(src, key), read_value(dst, key)
                if restored.raw != b"+OK\r\n" or want != got:
                    failed += 1
                    print("FAIL %s seed=%d key=%d: RESTORE answered %r; type/value %r vs %r" % (
                        direction, seed, i, restored.raw, str(want)[:200], str(got)[:200]))
                else:
                    passed += 1
    print("crossrestore: %d values restored across implementations" % passed)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
