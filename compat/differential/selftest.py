#!/usr/bin/env python3
"""Tests of the differential tester itself: the RESP parser, the comparison modes, and a negative control (a
candidate that really differs must be caught). Python 3 standard library only.

Usage: python3 compat/differential/selftest.py [--reference /usr/bin/redis-server]
"""
import os
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import compare  # noqa: E402
import gen  # noqa: E402
import random  # noqa: E402
from resp import Incomplete, parse_reply  # noqa: E402

REFERENCE = os.environ.get("DIFF_REFERENCE", "/usr/bin/redis-server")


def reply(raw):
    r, used = parse_reply(raw)
    assert used == len(raw), "trailing bytes in %r" % raw
    return r


class ParserTest(unittest.TestCase):
    def test_nested_resp3(self):
        r = reply(b"%2\r\n+a\r\n*2\r\n:1\r\n,1.5\r\n$1\r\nb\r\n_\r\n")
        self.assertEqual(r.kind, "%")
        self.assertEqual(len(r.value), 4)
        self.assertEqual(r.value[1].value[1].raw, b",1.5\r\n")
        self.assertTrue(r.value[3].is_null())

    def test_null_bulk_and_array_differ(self):
        self.assertNotEqual(reply(b"$-1\r\n").raw, reply(b"*-1\r\n").raw)
        self.assertTrue(reply(b"$-1\r\n").is_null())

    def test_incomplete(self):
        with self.assertRaises(Incomplete):
            parse_reply(b"$5\r\nab")
        with self.assertRaises(Incomplete):
            parse_reply(b"*2\r\n:1\r\n")

    def test_verbatim_text(self):
        self.assertEqual(reply(b"=8\r\ntxt:# ab\r\n").text(), b"# ab")


class CompareTest(unittest.TestCase):
    def test_acl_rules(self):
        def users(*lines):
            return reply(b"*%d\r\n" % len(lines) + b"".join(b"$%d\r\n%s\r\n" % (len(x), x) for x in lines))
        a = users(b"user u off -@all +@read +sadd +srem ~x")
        self.assertIsNone(compare.acl_rules(a, users(b"user u off -@all +@read +srem +sadd ~x")))
        # Categories keep their order; a different set of commands differs.
        self.assertIsNotNone(compare.acl_rules(a, users(b"user u off -@all +@read +sadd +sdel ~x")))
        self.assertIsNotNone(compare.acl_rules(users(b"-@all +@a +@b +c"), users(b"-@all +@b +@a +c")))
        self.assertEqual(compare._acl_normalized(b"(~k -@all +set +get)"), b"(~k -@all +get +set)")

    def test_unordered(self):
        a = reply(b"*2\r\n$1\r\na\r\n$1\r\nb\r\n")
        b = reply(b"*2\r\n$1\r\nb\r\n$1\r\na\r\n")
        self.assertIsNone(compare.unordered(a, b))
        self.assertIsNotNone(compare.exact(a, b))
        self.assertIsNotNone(compare.unordered(a, reply(b"*2\r\n$1\r\na\r\n$1\r\na\r\n")))
        self.assertIsNotNone(compare.unordered(a, reply(b"~2\r\n$1\r\na\r\n$1\r\nb\r\n")))

    def test_unordered_pairs_keeps_pairs(self):
        a = reply(b"*4\r\n$1\r\nf\r\n$1\r\n1\r\n$1\r\ng\r\n$1\r\n2\r\n")
        swapped = reply(b"*4\r\n$1\r\ng\r\n$1\r\n2\r\n$1\r\nf\r\n$1\r\n1\r\n")
        crossed = reply(b"*4\r\n$1\r\nf\r\n$1\r\n2\r\n$1\r\ng\r\n$1\r\n1\r\n")
        self.assertIsNone(compare.unordered_pairs(a, swapped))
        self.assertIsNotNone(compare.unordered_pairs(a, crossed))

    def test_random_membership(self):
        pre = reply(b"*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n")
        a = reply(b"*2\r\n$1\r\na\r\n$1\r\nb\r\n")
        ok = reply(b"*2\r\n$1\r\nc\r\n$1\r\na\r\n")
        stranger = reply(b"*2\r\n$1\r\nz\r\n$1\r\na\r\n")
        repeated = reply(b"*2\r\n$1\r\nc\r\n$1\r\nc\r\n")
        self.assertIsNone(compare.random_items(a, ok, pre, pre, 1, 1, True))
        self.assertIsNotNone(compare.random_items(a, stranger, pre, pre, 1, 1, True))
        self.assertIsNotNone(compare.random_items(a, repeated, pre, pre, 1, 1, True))
        self.assertIsNone(compare.random_items(a, repeated, pre, pre, 1, 1, False))
        self.assertIsNotNone(compare.random_items(a, reply(b"*1\r\n$1\r\na\r\n"), pre, pre, 1, 1, True))

    def test_ttl_tolerance(self):
        self.assertIsNone(compare.ttl(reply(b":100\r\n"), reply(b":99\r\n"), 2))
        self.assertIsNotNone(compare.ttl(reply(b":100\r\n"), reply(b":90\r\n"), 2))
        self.assertIsNotNone(compare.ttl(reply(b":-1\r\n"), reply(b":-2\r\n"), 2))

    def test_info(self):
        def bulk(text):
            return reply(b"$%d\r\n%s\r\n" % (len(text), text))
        a = bulk(b"# Server\r\nredis_version:7.0.15\r\nuptime:1\r\n")
        same_fields = bulk(b"# Server\r\nuptime:9\r\nredis_version:7.0.15\r\n")
        missing = bulk(b"# Server\r\nredis_version:7.0.15\r\n")
        extra = bulk(b"# Server\r\nredis_version:7.0.15\r\nuptime:1\r\nour_own:1\r\n")
        self.assertIsNone(compare.info(a, same_fields))
        self.assertIsNotNone(compare.info(a, missing))
        self.assertIsNone(compare.info(a, extra))
        errors = bulk(b"# Errorstats\r\nerrorstat_ERR:count=1\r\n")
        more_errors = bulk(b"# Errorstats\r\nerrorstat_ERR:count=1\r\nerrorstat_WRONGTYPE:count=1\r\n")
        self.assertIsNotNone(compare.info(errors, more_errors))
        ks_a = bulk(b"# Keyspace\r\ndb0:keys=3,expires=0,avg_ttl=0\r\n")
        ks_b = bulk(b"# Keyspace\r\ndb0:keys=4,expires=0,avg_ttl=7\r\n")
        ks_c = bulk(b"# Keyspace\r\ndb0:keys=3,expires=0,avg_ttl=7\r\n")
        self.assertIsNotNone(compare.info(ks_a, ks_b))
        self.assertIsNone(compare.info(ks_a, ks_c))

    def test_streams_are_reproducible(self):
        def stream(seed):
            g = gen.Gen(random.Random("zset/%d" % seed))
            return [g.next_op(gen.ZSET_OPS).args for _ in range(200)]
        self.assertEqual(stream(3), stream(3))
        self.assertNotEqual(stream(3), stream(4))


@unittest.skipUnless(os.access(REFERENCE, os.X_OK), "no reference server")
class NegativeControlTest(unittest.TestCase):
    def test_a_different_server_is_caught(self):
        # Only 4 databases on the candidate: SELECT 15 succeeds on the reference and fails on the candidate.
        proc = subprocess.run(
            [sys.executable, os.path.join(HERE, "run.py"), "--server", REFERENCE, "--server-arg=--databases",
             "--server-arg=4", "--discard-logs", "--groups", "server", "--seeds", "3", "--ops", "300",
             "--protocols", "2"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
        out = proc.stdout.decode("utf-8", "replace")
        self.assertNotEqual(proc.returncode, 0, out)
        self.assertIn("FAIL server seed=", out)
        self.assertIn("reproduce:", out)
        self.assertRegex(out.strip().splitlines()[-1], r"^\d+ passed, [1-9]\d* failed$")


if __name__ == "__main__":
    unittest.main(verbosity=1)
