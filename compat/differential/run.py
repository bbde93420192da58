#!/usr/bin/env python3
"""Differential tester: sends the same seeded random command streams to Debian's redis-server (the reference) and
to a candidate server, and compares every reply, over RESP2 and over RESP3.

Usage: python3 compat/differential/run.py --server BIN [--seeds N] [--ops M] [--groups g1,g2] [--protocols 2,3]

Owns: the two server processes (started on free 127.0.0.1 ports with --save "" --appendonly no, killed by pid on
exit), the run loop and the report. One run = one (group, seed, protocol): a fresh connection to each server, both
flushed, M generated operations, then a comparison of the whole final keyspace. A run stops at its first mismatch
(the two keyspaces may differ after it, so later differences would be noise) and prints the seed, the command, both
replies and a command line that replays just that run. The last line is `N passed, M failed` over runs; the exit
code is non-zero if any run failed. Python 3 standard library only.
"""
import argparse
import atexit
import collections
import os
import random
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import compare  # noqa: E402
import gen  # noqa: E402
from resp import Conn  # noqa: E402
from servers import ServerError, ServerProcess  # noqa: E402

MAX_SCAN_CALLS = 2000
MAX_SERVER_RESTARTS = 3
DATABASES_CHECKED = 16
SHOW_BYTES = 600


class Mismatch(Exception):
    def __init__(self, what, command, ref=None, cand=None, broken=False):
        super().__init__(what)
        self.what = what
        self.command = command
        self.ref = ref
        self.cand = cand
        # A connection failed or timed out: a server may be wedged, so both are restarted before the next run.
        self.broken = broken


def fmt_args(args):
    out = []
    for a in args:
        try:
            text = a.decode("ascii")
            if text and all(33 <= ord(c) < 127 for c in text) and "'" not in text:
                out.append(text)
                continue
        except UnicodeDecodeError:
            pass
        out.append(repr(a)[1:])
    return " ".join(out)


def fmt_reply(reply):
    if reply is None:
        return "(none)"
    if isinstance(reply, tuple):  # a scan outcome
        if reply[0] == "items":
            return "iteration returned %d distinct elements: %s" % (len(reply[1]), sorted(reply[1])[:20])
        if reply[0] == "reply":
            return fmt_reply(reply[1])
        return reply[0]
    if isinstance(reply, str):
        return reply
    raw = reply.raw
    text = repr(raw[:SHOW_BYTES])
    return text + (" ... (%d bytes)" % len(raw) if len(raw) > SHOW_BYTES else "")


class Pair:
    """The reference and candidate connections, used in lock step."""

    def __init__(self, ref_port, cand_port, timeout_s):
        self.ref = Conn(ref_port, timeout_s)
        try:
            self.cand = Conn(cand_port, timeout_s)
        except OSError:
            self.ref.close()
            raise

    def close(self):
        self.ref.close()
        self.cand.close()

    def both(self, args):
        """Sends to both before reading either, so a short blocking timeout elapses on both at once."""
        self.ref.send(args)
        try:
            self.cand.send(args)
        except OSError as e:
            self.ref.read_reply()
            raise Mismatch("candidate connection failed: %s" % e, args, broken=True)
        ref = self.ref.read_reply()
        try:
            cand = self.cand.read_reply()
        except Exception as e:  # a closed socket, a timeout or bytes that are not RESP
            raise Mismatch("candidate gave no valid reply: %s" % e, args, ref, None, broken=True)
        return ref, cand

    def check(self, args, fn, *extra):
        ref, cand = self.both(args)
        diff = fn(ref, cand, *extra)
        if diff:
            raise Mismatch(diff, args, ref, cand)
        return ref, cand


def full_scan(conn, op):
    cursor = op.info["first_cursor"]
    items = set()
    for _ in range(MAX_SCAN_CALLS):
        args = op.args + ([op.info["key"]] if op.info["key"] is not None else []) + [cursor] + op.info["tail"]
        reply = conn.call(args)
        if not (reply.kind == "*" and reply.value is not None and len(reply.value) == 2
                and reply.value[0].kind == "$" and reply.value[1].is_aggregate()):
            return ("reply", reply)
        cursor = reply.value[0].value
        items.update(compare.items_of(reply.value[1], op.info["k"]))
        if cursor == b"0":
            return ("items", items)
    return ("endless", None)


def execute(pair, op):
    mode = op.mode
    if mode == "exact":
        pair.check(op.args, compare.exact)
    elif mode == "unordered":
        pair.check(op.args, compare.unordered)
    elif mode == "unordered_pairs":
        pair.check(op.args, compare.unordered_pairs)
    elif mode == "ttl":
        pair.check(op.args, compare.ttl, op.info["tolerance"])
    elif mode == "time":
        pair.check(op.args, compare.time_shape)
    elif mode == "info":
        pair.check(op.args, compare.info)
    elif mode == "hello":
        pair.check(op.args, compare.hello)
    elif mode == "command_info":
        pair.check(op.args, compare.command_info, op.info["ordered"])
    elif mode == "command_count":
        pair.check(op.args, compare.command_count)
    elif mode == "acl_rules":
        pair.check(op.args, compare.acl_rules)
    elif mode == "memory_stats":
        pair.check(op.args, compare.memory_stats)
    elif mode == "subset":
        pair.check(op.args, compare.subset)
    elif mode == "command_docs":
        pair.check(op.args, compare.command_docs, op.info["ordered"])
    elif mode in ("random", "spop"):
        pre = op.info["pre"]
        pre_ref, pre_cand = pair.both(pre)
        diff = compare.unordered(pre_ref, pre_cand) if pre[0] != b"ZRANGE" else compare.exact(pre_ref, pre_cand)
        if pre[0] == b"HGETALL":
            diff = compare.unordered_pairs(pre_ref, pre_cand)
        if diff:
            raise Mismatch("keyspaces differ (seen by %s before the command)" % pre[0].decode(), pre, pre_ref,
                           pre_cand)
        pair.check(op.args, compare.random_items, pre_ref, pre_cand, op.info["k"], op.info["pre_k"],
                   op.info["distinct"])
        if mode == "spop":
            resync_after_spop(pair, op)
    elif mode == "scan":
        ra = full_scan(pair.ref, op)
        try:
            rb = full_scan(pair.cand, op)
        except (OSError, TimeoutError, ConnectionError) as e:
            raise Mismatch("candidate failed during the iteration: %s" % e, op.args, ra, None, broken=True)
        diff = compare.scan_results(ra, rb)
        if diff:
            raise Mismatch(diff, op.args + [b"(full iteration)"] + op.info["tail"], ra, rb)
    else:
        raise ValueError("unknown mode %s" % mode)


def resync_after_spop(pair, op):
    """SPOP removed different random members on each server; make the candidate's set equal the reference's
    again by putting back what it popped and removing what the reference popped. The same SADD/SREM go to the
    reference too, where they change nothing (what is missing on the candidate is present on the reference and
    vice versa), so both servers still count the same commands in INFO commandstats."""
    key = op.info["key"]
    ref_members, cand_members = pair.both([b"SMEMBERS", key])
    if ref_members.is_error() or cand_members.is_error():
        return
    ref_set = {r.value for r in (ref_members.value or [])}
    cand_set = {r.value for r in (cand_members.value or [])}
    missing = sorted(ref_set - cand_set)
    surplus = sorted(cand_set - ref_set)
    for args in ([b"SADD", key] + missing, [b"SREM", key] + surplus):
        if len(args) > 2:
            ref, _ = pair.both(args)
            if ref.raw != b":0\r\n":
                raise Mismatch("resynchronising after SPOP changed the reference", args, ref, None)


def key_content(conn, key):
    """A comparable description of one key: its type, content and whether it has a TTL."""
    kind = conn.call([b"TYPE", key]).value
    if kind == b"string":
        content = conn.call([b"GET", key]).raw
    elif kind == b"list":
        content = conn.call([b"LRANGE", key, b"0", b"-1"]).raw
    elif kind == b"set":
        reply = conn.call([b"SMEMBERS", key])
        content = sorted(compare.leaves(reply))
    elif kind == b"hash":
        reply = conn.call([b"HGETALL", key])
        content = sorted(compare.group(compare.leaves(reply), 2))
    elif kind == b"zset":
        content = conn.call([b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"]).raw
    else:
        content = None
    pttl = conn.call([b"PTTL", key])
    has_ttl = pttl.kind == ":" and pttl.value >= 0
    return kind, content, has_ttl, pttl.value if pttl.kind == ":" else None


def compare_keyspaces(pair):
    for db in range(DATABASES_CHECKED):
        select = [b"SELECT", str(db).encode()]
        ra, rb = pair.both(select)
        if ra.raw != rb.raw:
            raise Mismatch("final check: SELECT differs", select, ra, rb)
        keys_ref, keys_cand = pair.check([b"KEYS", b"*"], compare.unordered)
        for key_reply in keys_ref.value or []:
            key = key_reply.value
            a = key_content(pair.ref, key)
            b = key_content(pair.cand, key)
            if a[:3] != b[:3] or (a[2] and abs(a[3] - b[3]) > 2000):
                raise Mismatch("final check: key %r in db %d differs" % (key, db), [b"(final state)", key],
                               "type=%r content=%r ttl_ms=%r" % (a[0], a[1], a[3]),
                               "type=%r content=%r ttl_ms=%r" % (b[0], b[1], b[3]))


def run_one(group, seed, proto, ops, ref, cand, timeout_s, verbose):
    rng = random.Random("%s/%d" % (group, seed))
    g = gen.Gen(rng)
    table = gen.GROUPS[group](str(proto).encode())
    pair = Pair(ref.port, cand.port, timeout_s)
    recent = collections.deque(maxlen=6)
    try:
        # Setup: both servers empty and with zeroed statistics (INFO errorstats/commandstats are compared).
        for args in ([b"FLUSHALL"], [b"CONFIG", b"RESETSTAT"]):
            pair.both(args)
        if proto == 3:
            pair.check([b"HELLO", b"3"], compare.hello)
        for args in gen.GROUP_SETUP.get(group, lambda g: [])(g):
            pair.check(args, compare.exact)
        for index in range(ops):
            op = g.next_op(table)
            recent.append(op.args)
            if verbose:
                print("  %s #%d [%s] %s" % (group, index, op.mode, fmt_args(op.args)))
            try:
                execute(pair, op)
            except Mismatch as m:
                m.index = index
                m.recent = list(recent)[:-1]
                raise
            except (OSError, TimeoutError, ConnectionError) as e:
                m = Mismatch("reference connection failed: %s" % e, op.args, broken=True)
                m.index = index
                m.recent = list(recent)[:-1]
                raise m
        end_group(pair, group)
        try:
            compare_keyspaces(pair)
        except Mismatch as m:
            m.index = ops
            m.recent = list(recent)
            raise
    except Mismatch:
        try:
            end_group(pair, group)
        except Exception:  # the first mismatch is what gets reported; a run it spoils fails on its own
            pass
        raise
    finally:
        pair.close()


def check_command_table(proto, ref, cand, timeout_s):
    """COMMAND and COMMAND DOCS, whole, compared entry by entry (compare.command_info / command_docs)."""
    pair = Pair(ref.port, cand.port, timeout_s)
    try:
        if proto == 3:
            pair.check([b"HELLO", b"3"], compare.hello)
        pair.check([b"COMMAND"], compare.command_info, False)
        pair.check([b"COMMAND", b"DOCS"], compare.command_docs, False)
    finally:
        pair.close()


def end_group(pair, group):
    """The group's closing commands (an open MULTI discarded, the configuration it changed restored)."""
    for args in gen.GROUP_TEARDOWN.get(group, []):
        pair.check(args, compare.exact)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", required=True, help="candidate server binary")
    ap.add_argument("--reference", default="/usr/bin/redis-server", help="reference server binary")
    ap.add_argument("--seeds", type=int, default=3, help="number of seeds per group and protocol")
    ap.add_argument("--seed-start", type=int, default=1, help="first seed")
    ap.add_argument("--ops", type=int, default=300, help="operations per run")
    ap.add_argument("--groups", default=",".join(gen.GROUPS), help="comma-separated: " + ",".join(gen.GROUPS))
    ap.add_argument("--protocols", default="2,3", help="comma-separated RESP versions")
    ap.add_argument("--server-arg", action="append", default=[], help="extra argument for the candidate")
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for one reply")
    ap.add_argument("--verbose", action="store_true", help="print every command sent")
    ap.add_argument("--discard-logs", action="store_true", help="remove the servers' logs even after a failure")
    args = ap.parse_args()

    groups = [x for x in args.groups.split(",") if x]
    for name in groups:
        if name not in gen.GROUPS:
            ap.error("unknown group %r (known: %s)" % (name, ", ".join(gen.GROUPS)))
    protocols = [int(x) for x in args.protocols.split(",") if x]
    for p in protocols:
        if p not in (2, 3):
            ap.error("protocols are 2 and 3")
    for binary in (args.server, args.reference):
        if not os.access(binary, os.X_OK):
            print("error: %s is not an executable file" % binary, file=sys.stderr)
            return 2

    ref = ServerProcess(os.path.abspath(args.reference), "reference")
    cand = ServerProcess(os.path.abspath(args.server), "candidate", args.server_arg)
    servers = [ref, cand]

    def stop_all():
        for s in servers:
            s.stop()

    atexit.register(stop_all)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(130))

    passed = failed = 0
    restarts = 0
    restart_all = False
    started = time.monotonic()
    try:
        ref.start()
        cand.start()
    except ServerError as e:
        print("error: %s" % e)
        print("0 passed, 1 failed")
        return 1
    print("differential: reference %s (port %d), candidate %s (port %d)" % (
        args.reference, ref.port, args.server, cand.port))

    # The whole command table once per protocol: every command the candidate has must be described as Redis
    # 7.0.15 describes it (issue 3). The streams ask for the whole table only now and then.
    for proto in protocols:
        label = "command table resp%d" % proto
        try:
            check_command_table(proto, ref, cand, args.timeout)
            passed += 1
            print("PASS %s" % label)
        except Mismatch as m:
            failed += 1
            print("FAIL %s: %s\n   reference: %s\n   candidate: %s" % (
                label, m.what, fmt_reply(m.ref)[:300], fmt_reply(m.cand)[:300]))

    for group in groups:
        for seed in range(args.seed_start, args.seed_start + args.seeds):
            for proto in protocols:
                label = "%s seed=%d resp%d" % (group, seed, proto)
                for server in servers:
                    if restart_all or not server.alive():
                        if not server.alive():
                            print("%s exited; log tail:\n%s" % (server.label, server.log_tail()))
                        restarts += 1
                        if restarts > MAX_SERVER_RESTARTS:
                            print("too many server restarts; giving up")
                            print("%d passed, %d failed" % (passed, failed + 1))
                            return 1
                        server.stop()
                        try:
                            server.start()
                        except ServerError as e:
                            print("error: %s" % e)
                            print("%d passed, %d failed" % (passed, failed + 1))
                            return 1
                restart_all = False
                t0 = time.monotonic()
                try:
                    run_one(group, seed, proto, args.ops, ref, cand, args.timeout, args.verbose)
                    passed += 1
                    print("PASS %s (%d ops, %.1fs)" % (label, args.ops, time.monotonic() - t0))
                except Mismatch as m:
                    failed += 1
                    restart_all = m.broken
                    print("FAIL %s at op #%d: %s" % (label, getattr(m, "index", -1), m.what))
                    for prev in getattr(m, "recent", []):
                        print("       after: %s" % fmt_args(prev))
                    print("     command: %s" % fmt_args(m.command))
                    print("   reference: %s" % fmt_reply(m.ref))
                    print("   candidate: %s" % fmt_reply(m.cand))
                    print("    reproduce: python3 %s --server %s --groups %s --seed-start %d --seeds 1 --ops %d "
                          "--protocols %d" % (os.path.relpath(os.path.abspath(__file__)), args.server, group, seed,
                                              args.ops, proto))
                except (OSError, TimeoutError, ConnectionError) as e:
                    failed += 1
                    restart_all = True
                    print("FAIL %s: connection error: %s" % (label, e))

    for server in servers:
        server.stop()
        if failed == 0 or args.discard_logs:
            server.remove_dir()
        else:
            print("%s log: %s" % (server.label, server.log_path))
    print("differential: %d runs in %.1fs" % (passed + failed, time.monotonic() - started))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
