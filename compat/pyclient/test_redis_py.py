#!/usr/bin/env python3
"""Drives a server with redis-py 8 (the real client, RESP3 by default) and checks what a user of it would see.

Usage: compat/.venv/bin/python compat/pyclient/test_redis_py.py --server BIN
(compat/pyclient/run.sh creates the venv and runs this.)

Owns: one server process (started on a free 127.0.0.1 port with --save "" --appendonly no via
compat/differential/servers.py, killed by pid on exit). Every check runs once with the default protocol (which
must be RESP3 in redis-py 8) and once with protocol=2. Prints one PASS/FAIL line per check and `N passed, M failed`
last; exits non-zero on any failure. Must never talk to anything but 127.0.0.1.
"""
import argparse
import atexit
import os
import signal
import sys
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "differential"))

import redis  # noqa: E402
from servers import ServerError, ServerProcess  # noqa: E402

CHECKS = []


def check(fn):
    CHECKS.append(fn)
    return fn


def expect(actual, wanted, what=""):
    if actual != wanted:
        raise AssertionError("%s: expected %r, got %r" % (what or "value", wanted, actual))


@check
def connect_and_ping(r, proto):
    expect(r.ping(), True, "PING")
    hello = r.execute_command("HELLO")
    fields = hello if isinstance(hello, dict) else dict(zip(hello[::2], hello[1::2]))
    expect(fields.get(b"proto", fields.get("proto")), proto, "HELLO proto")
    expect(r.echo(b"hi"), b"hi", "ECHO")


@check
def strings(r, proto):
    expect(r.set("s:1", "v1"), True, "SET")
    expect(r.get("s:1"), b"v1", "GET")
    expect(r.get("s:missing"), None, "GET missing")
    expect(r.set("s:1", "v2", nx=True), None, "SET NX on existing")
    expect(r.set("s:2", "x", ex=100), True, "SET EX")
    ttl = r.ttl("s:2")
    if not 98 <= ttl <= 100:
        raise AssertionError("TTL after SET EX 100 is %r" % ttl)
    expect(r.incr("s:n"), 1, "INCR")
    expect(r.incrby("s:n", 41), 42, "INCRBY")
    expect(r.incrbyfloat("s:n", 0.5), 42.5, "INCRBYFLOAT")
    expect(r.mset({"s:a": "1", "s:b": "2"}), True, "MSET")
    expect(r.mget(["s:a", "s:b", "s:none"]), [b"1", b"2", None], "MGET")
    expect(r.append("s:a", "23"), 3, "APPEND")
    expect(r.getrange("s:a", 0, 1), b"12", "GETRANGE")
    expect(r.strlen("s:a"), 3, "STRLEN")
    expect(r.delete("s:a", "s:b", "s:none"), 2, "DEL")
    expect(r.exists("s:1", "s:a"), 1, "EXISTS")
    expect(r.type("s:1"), b"string", "TYPE")
    binary = bytes(range(256))
    expect(r.set("s:bin", binary), True, "SET binary")
    expect(r.get("s:bin"), binary, "GET binary")


@check
def errors(r, proto):
    r.set("e:str", "x")
    try:
        r.lpush("e:str", "a")
        raise AssertionError("LPUSH on a string did not fail")
    except redis.ResponseError as e:
        expect(str(e), "WRONGTYPE Operation against a key holding the wrong kind of value", "WRONGTYPE error")
    try:
        r.incr("e:str")
        raise AssertionError("INCR on a non-integer did not fail")
    except redis.ResponseError as e:
        expect(str(e), "value is not an integer or out of range", "INCR error")
    try:
        r.execute_command("NOSUCHCOMMAND", "a")
        raise AssertionError("an unknown command did not fail")
    except redis.ResponseError as e:
        expect(str(e), "unknown command 'NOSUCHCOMMAND', with args beginning with: 'a' ", "unknown command")


@check
def pipelines(r, proto):
    with r.pipeline(transaction=True) as p:
        p.set("p:1", "a").incr("p:n").incr("p:n").get("p:1").lrange("p:l", 0, -1)
        expect(p.execute(), [True, 1, 2, b"a", []], "MULTI/EXEC pipeline")
    with r.pipeline(transaction=False) as p:
        for i in range(100):
            p.rpush("p:l", i)
        p.llen("p:l")
        results = p.execute()
    expect(results[-1], 100, "plain pipeline LLEN")
    expect(results[:3], [1, 2, 3], "plain pipeline RPUSH")
    with r.pipeline(transaction=False) as p:
        p.set("p:s", "x").lpush("p:s", "y").get("p:s")
        results = p.execute(raise_on_error=False)
    expect(results[0], True, "pipeline SET")
    if not isinstance(results[1], redis.ResponseError):
        raise AssertionError("pipeline error not returned in place: %r" % (results[1],))
    expect(results[2], b"x", "pipeline GET after an error")


@check
def hashes(r, proto):
    expect(r.hset("h:1", mapping={"a": "1", "b": "2", "c": "3"}), 3, "HSET mapping")
    expect(r.hgetall("h:1"), {b"a": b"1", b"b": b"2", b"c": b"3"}, "HGETALL")
    expect(r.hget("h:1", "b"), b"2", "HGET")
    expect(r.hincrby("h:1", "a", 10), 11, "HINCRBY")
    expect(r.hincrbyfloat("h:1", "a", 0.25), 11.25, "HINCRBYFLOAT")
    expect(r.hdel("h:1", "c", "zz"), 1, "HDEL")
    expect(sorted(r.hkeys("h:1")), [b"a", b"b"], "HKEYS")
    expect(r.hlen("h:1"), 2, "HLEN")
    expect(r.hexists("h:1", "b"), True, "HEXISTS")
    expect(r.hmget("h:1", ["a", "x"]), [b"11.25", None], "HMGET")
    expect(r.hgetall("h:none"), {}, "HGETALL missing")


@check
def lists(r, proto):
    expect(r.rpush("l:1", "a", "b", "c"), 3, "RPUSH")
    expect(r.lpush("l:1", "z"), 4, "LPUSH")
    expect(r.lrange("l:1", 0, -1), [b"z", b"a", b"b", b"c"], "LRANGE")
    expect(r.lpop("l:1", 2), [b"z", b"a"], "LPOP count")
    expect(r.rpop("l:1"), b"c", "RPOP")
    expect(tuple(r.blpop(["l:none", "l:1"], timeout=1)), (b"l:1", b"b"), "BLPOP")
    expect(r.brpop(["l:none"], timeout=0.1), None, "BRPOP timeout")
    r.rpush("l:2", "x", "y", "x")
    expect(r.lpos("l:2", "x", count=0), [0, 2], "LPOS COUNT 0")
    expect(r.lmove("l:2", "l:3", "LEFT", "RIGHT"), b"x", "LMOVE")
    expect(r.lindex("l:3", 0), b"x", "LINDEX")


@check
def sets(r, proto):
    expect(r.sadd("st:1", "a", "b", "c", "a"), 3, "SADD")
    expect(r.smembers("st:1"), {b"a", b"b", b"c"}, "SMEMBERS")
    expect(r.sismember("st:1", "a"), True, "SISMEMBER")
    expect(r.smismember("st:1", ["a", "z"]), [True, False], "SMISMEMBER")
    expect(r.scard("st:1"), 3, "SCARD")
    r.sadd("st:2", "b", "c", "d")
    expect(r.sinter(["st:1", "st:2"]), {b"b", b"c"}, "SINTER")
    expect(r.sunion(["st:1", "st:2"]), {b"a", b"b", b"c", b"d"}, "SUNION")
    popped = r.spop("st:1")
    if popped not in (b"a", b"b", b"c"):
        raise AssertionError("SPOP returned %r" % popped)
    expect(r.scard("st:1"), 2, "SCARD after SPOP")
    sample = r.srandmember("st:2", 2)
    if len(sample) != 2 or not set(sample) <= {b"b", b"c", b"d"}:
        raise AssertionError("SRANDMEMBER 2 returned %r" % (sample,))


@check
def sorted_sets(r, proto):
    expect(r.zadd("z:1", {"a": 1, "b": 2.5, "c": -1}), 3, "ZADD")
    expect(r.zrange("z:1", 0, -1), [b"c", b"a", b"b"], "ZRANGE")
    expect([tuple(x) for x in r.zrange("z:1", 0, -1, withscores=True)], [(b"c", -1.0), (b"a", 1.0), (b"b", 2.5)],
           "ZRANGE WITHSCORES")
    expect(r.zscore("z:1", "b"), 2.5, "ZSCORE")
    expect(r.zincrby("z:1", 10, "c"), 9.0, "ZINCRBY")
    expect(r.zrangebyscore("z:1", 1, "+inf"), [b"a", b"b", b"c"], "ZRANGEBYSCORE")
    expect(r.zrank("z:1", "c"), 2, "ZRANK")
    expect(r.zcard("z:1"), 3, "ZCARD")
    expect([tuple(x) for x in r.zpopmin("z:1")], [(b"a", 1.0)], "ZPOPMIN")
    expect(r.zrem("z:1", "b", "nope"), 1, "ZREM")


@check
def keyspace(r, proto):
    r.flushdb()
    for i in range(30):
        r.set("ks:%d" % i, i)
    expect(r.dbsize(), 30, "DBSIZE")
    expect(sorted(r.scan_iter(match="ks:1*")), sorted(b"ks:%d" % i for i in range(30) if str(i).startswith("1")),
           "SCAN MATCH")
    expect(sorted(r.keys("ks:2?")), sorted(b"ks:%d" % i for i in range(20, 30)), "KEYS")
    expect(r.expire("ks:1", 100), True, "EXPIRE")
    expect(r.persist("ks:1"), True, "PERSIST")
    expect(r.ttl("ks:1"), -1, "TTL after PERSIST")
    expect(r.rename("ks:1", "ks:renamed"), True, "RENAME")
    expect(r.get("ks:renamed"), b"1", "GET renamed")


@check
def command_table(r, proto):
    commands = r.command()
    for name in ("get", "set", "hset", "zadd", "blpop", "command", "info"):
        if name not in commands:
            raise AssertionError("COMMAND lacks %r" % name)
    expect(commands["get"]["arity"], 2, "COMMAND get arity")
    expect(commands["set"]["arity"], -3, "COMMAND set arity")
    count = r.command_count()
    expect(count, len(commands), "COMMAND COUNT equals the number of entries")


@check
def info(r, proto):
    everything = r.info()
    for field in ("redis_version", "connected_clients", "used_memory", "role", "uptime_in_seconds"):
        if field not in everything:
            raise AssertionError("INFO lacks %r" % field)
    expect(everything["role"], "master", "INFO role")
    r.set("info:key", "x")
    keyspace = r.info("keyspace")
    if not any(isinstance(v, dict) and "keys" in v for v in keyspace.values()):
        raise AssertionError("INFO keyspace has no db entry: %r" % keyspace)
    stats = r.info("commandstats")
    if "cmdstat_set" not in stats or "calls" not in stats["cmdstat_set"]:
        raise AssertionError("INFO commandstats lacks cmdstat_set: %r" % sorted(stats)[:10])
    server = r.info("server")
    if "redis_version" not in server or "used_memory" in server:
        raise AssertionError("INFO server section is wrong: %r" % sorted(server)[:10])


@check
def client_name(r, proto):
    expect(r.client_setname("redis-py-test"), True, "CLIENT SETNAME")
    # redis-py decodes CLIENT GETNAME's reply itself.
    expect(r.client_getname(), "redis-py-test", "CLIENT GETNAME")
    if not isinstance(r.client_id(), int):
        raise AssertionError("CLIENT ID is not an integer")


@check
def decoded_strings(r, proto):
    d = redis.Redis(host="127.0.0.1", port=r.connection_pool.connection_kwargs["port"], decode_responses=True,
                    protocol=proto, socket_timeout=10)
    try:
        expect(d.set("u:1", "h\u00e9llo \u2603"), True, "SET unicode")
        expect(d.get("u:1"), "h\u00e9llo \u2603", "GET decoded")
        expect(d.hset("u:h", mapping={"k": "v"}), 1, "HSET decoded")
        expect(d.hgetall("u:h"), {"k": "v"}, "HGETALL decoded")
        expect(d.client_setname("named"), True, "CLIENT SETNAME decoded")
        expect(d.client_getname(), "named", "CLIENT GETNAME decoded")
    finally:
        d.close()


def _get_message(p, timeout_s=5.0):
    """The next pub/sub message (not a subscribe confirmation), waiting up to timeout_s."""
    import time
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        m = p.get_message(ignore_subscribe_messages=True, timeout=0.2)
        if m is not None:
            return m
    raise AssertionError("no pub/sub message within %.1fs" % timeout_s)


@check
def pubsub(r, proto):
    p = r.pubsub()
    try:
        p.subscribe("ps:news")
        p.psubscribe("ps:n*")
        first = p.get_message(timeout=5)
        expect(first, {"type": "subscribe", "pattern": None, "channel": b"ps:news", "data": 1}, "subscribe confirmation")
        second = p.get_message(timeout=5)
        expect(second, {"type": "psubscribe", "pattern": None, "channel": b"ps:n*", "data": 2},
               "psubscribe confirmation")
        expect(r.publish("ps:news", "hello"), 2, "PUBLISH receivers")
        expect(_get_message(p), {"type": "message", "pattern": None, "channel": b"ps:news", "data": b"hello"}, "message")
        expect(_get_message(p), {"type": "pmessage", "pattern": b"ps:n*", "channel": b"ps:news", "data": b"hello"},
               "pmessage")
        expect(r.pubsub_numsub("ps:news", "ps:none"), [(b"ps:news", 1), (b"ps:none", 0)], "PUBSUB NUMSUB")
        expect(r.pubsub_numpat(), 1, "PUBSUB NUMPAT")
        expect(r.pubsub_channels("ps:*"), [b"ps:news"], "PUBSUB CHANNELS")
        # A handler is called instead of get_message returning the message.
        seen = []
        p.subscribe(**{"ps:handled": lambda m: seen.append(m["data"])})
        expect(r.publish("ps:handled", "cb"), 1, "PUBLISH to a handled channel")
        import time
        deadline = time.monotonic() + 5
        while not seen and time.monotonic() < deadline:
            p.get_message(timeout=0.2)
        expect(seen, [b"cb"], "handler saw the message")
        p.unsubscribe()
        p.punsubscribe()
        deadline = time.monotonic() + 5
        while p.subscribed and time.monotonic() < deadline:
            p.get_message(timeout=0.2)
        expect(p.subscribed, False, "unsubscribed from everything")
        expect(r.publish("ps:news", "gone"), 0, "PUBLISH after unsubscribe")
    finally:
        p.close()


@check
def keyspace_notifications(r, proto):
    expect(r.config_set("notify-keyspace-events", "KEA"), True, "CONFIG SET notify-keyspace-events")
    expect(r.config_get("notify-keyspace-events"), {"notify-keyspace-events": "AKE"}, "CONFIG GET")
    p = r.pubsub(ignore_subscribe_messages=True)
    try:
        p.psubscribe("__keyevent@*__:*")
        p.get_message(timeout=5)
        r.set("ksn:k", "v")
        expect(_get_message(p), {"type": "pmessage", "pattern": b"__keyevent@*__:*",
                                 "channel": b"__keyevent@0__:set", "data": b"ksn:k"}, "set event")
        r.expire("ksn:k", 100)
        expect(_get_message(p)["channel"], b"__keyevent@0__:expire", "expire event")
        r.delete("ksn:k")
        expect(_get_message(p)["channel"], b"__keyevent@0__:del", "del event")
        r.zadd("ksn:z", {"a": 1})
        expect(_get_message(p)["channel"], b"__keyevent@0__:zadd", "zadd event")
    finally:
        r.config_set("notify-keyspace-events", "")
        p.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", required=True, help="server binary")
    args = ap.parse_args()
    if not os.access(args.server, os.X_OK):
        print("error: %s is not an executable file" % args.server)
        return 2

    server = ServerProcess(os.path.abspath(args.server), "redis-py")
    atexit.register(server.stop)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        server.start()
    except ServerError as e:
        print("error: %s" % e)
        print("0 passed, 1 failed")
        return 1
    print("redis-py %s against %s (port %d)" % (redis.__version__, args.server, server.port))

    passed = failed = 0
    for proto in (None, 2):
        kwargs = {} if proto is None else {"protocol": proto}
        r = redis.Redis(host="127.0.0.1", port=server.port, socket_timeout=10, **kwargs)
        effective = 3 if proto is None else proto
        label = "default protocol (RESP3)" if proto is None else "protocol=2"
        try:
            r.flushall()
        except redis.RedisError as e:
            print("FAIL %s: FLUSHALL: %s" % (label, e))
            failed += 1
            continue
        for fn in CHECKS:
            try:
                fn(r, effective)
                passed += 1
                print("PASS %s %s" % (fn.__name__, label))
            except Exception as e:  # any failure of the client or the server counts against the server
                failed += 1
                print("FAIL %s %s: %s" % (fn.__name__, label, e))
                tb = traceback.extract_tb(e.__traceback__)
                if tb:
                    frame = tb[-1]
                    print("     at %s:%d" % (os.path.basename(frame.filename), frame.lineno))
        r.close()
    server.stop()
    if failed:
        print("server log: %s" % server.log_path)
    else:
        server.remove_dir()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
