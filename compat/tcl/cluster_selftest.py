#!/usr/bin/env python3
"""Tests of cluster_results.py (the legacy cluster harness's log parser and the passing-list check) on synthetic
logs, so that a change to the parser cannot silently turn a regression into a pass. Python 3 standard library only.

Usage: python3 compat/tcl/cluster_selftest.py
"""
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import cluster_results  # noqa: E402

LOG = """Starting redis #0 at port 30000
Testing unit: 24-links.tcl
04:34:35> (init) Restart killed instances: redis/3 OK
04:34:35> Cluster nodes are reachable: OK
04:34:45> Cluster is up: OK
04:34:45> Slow test: ...
some output the test printed
OK
04:34:45> Disconnect link: 12 128KB messages needed to overflow 256KB buffer limit. OK
04:34:45> Slave expired keys is loaded when restarted: appendonly=no: OK
04:34:45> Named: with colon: 
printed: something
OK
05:29:18> Half-finish importing: redis-cli --cluster fix returns non-zero exit code, output below:
127.0.0.1:11000 (05f7cf67...) -> 0 keys | 8056 slots | 0 slaves.
[ERR] Nodes don't agree about configuration!
child process exited abnormally
OK
04:34:46> Cluster is up: FAILED: Cluster node 3 cluster_state:fail
(Jumping to next unit after error)
FAILED: caught an error in the test 
assertion:Cluster node 3 cluster_state:fail
    while executing
Cleaning up...
killing stale instance 31248
WARNING 1 test(s) failed.
"""

ERROR_LOG = """Testing unit: 00-base.tcl
04:41:08> Different nodes have different IDs: OK
04:41:08> Function no-cluster flag: FAILED: caught an error in the test ERR unknown command 'function'
ERR unknown command 'function'
    while executing
"[Rn $n] {*}$args"
Cleaning up...
"""

TOP_LEVEL_ERROR_LOG = """Testing unit: 03-failover-loop.tcl
04:42:13> Cluster is up: OK
FAILED: caught an error in the test assertion:Unable to retrieve slave's ID for master #5
Cleaning up...
"""

KILLED_LOG = """Testing unit: 04-resharding.tcl
04:42:47> Cluster is up: OK
04:42:47> Enable AOF in all the instances: """

DISABLED_LOG = """Testing unit: 20-half-migrated-slot.tcl
Cleaning up...
GOOD! No errors.
"""


def write(dir_, name, text):
    path = os.path.join(dir_, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


class ParseTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def parse(self, text):
        return cluster_results.parse_unit_log(write(self.dir, "u.log", text))

    def test_ok_and_failed(self):
        passed, failed, problem, entered = self.parse(LOG)
        self.assertTrue(entered)
        self.assertEqual(passed, {"(init) Restart killed instances", "Cluster nodes are reachable", "Slow test",
                                  "Disconnect link", "Slave expired keys is loaded when restarted: appendonly=no",
                                  "Named: with colon", "Half-finish importing"})
        # A name that failed once does not pass, even if another occurrence printed OK.
        self.assertEqual(set(failed), {"Cluster is up"})
        self.assertIn("cluster_state:fail", failed["Cluster is up"])
        self.assertIsNone(problem)

    def test_error_ends_unit(self):
        passed, failed, problem, _ = self.parse(ERROR_LOG)
        self.assertEqual(passed, {"Different nodes have different IDs"})
        self.assertIn("unknown command", failed["Function no-cluster flag"])
        self.assertIn("Function no-cluster flag", problem)

    def test_error_outside_a_test(self):
        passed, failed, problem, _ = self.parse(TOP_LEVEL_ERROR_LOG)
        self.assertEqual(passed, {"Cluster is up"})
        self.assertEqual(failed, {})
        self.assertIn("Unable to retrieve", problem)

    def test_killed_mid_test(self):
        passed, failed, _, _ = self.parse(KILLED_LOG)
        self.assertEqual(passed, {"Cluster is up"})
        self.assertIn("Enable AOF in all the instances", failed)

    def test_disabled_unit(self):
        passed, failed, problem, entered = self.parse(DISABLED_LOG)
        self.assertTrue(entered)
        self.assertEqual((passed, failed, problem), (set(), {}, None))


class CheckTest(unittest.TestCase):
    def run_check(self, passing_rows, mode="check"):
        with tempfile.TemporaryDirectory() as d:
            log = write(d, "24-links.log", LOG)
            killed = write(d, "04-resharding.log", KILLED_LOG)
            runs = write(d, "runs.tsv", "24-links\t%s\t1\t10\n04-resharding\t%s\t124\t200\n" % (log, killed))
            passing = write(d, "passing.txt", "# header\n" + "".join("%s\t%s\n" % r for r in passing_rows))
            proc = subprocess.run(
                [sys.executable, os.path.join(HERE, "cluster_results.py"), "--runs", runs, "--results",
                 os.path.join(d, "results"), "--passing", passing, "--mode", mode],
                capture_output=True, text=True)
            with open(passing, encoding="utf-8") as f:
                return proc.returncode, proc.stdout, f.read()

    def test_no_regression(self):
        rc, out, _ = self.run_check([("24-links", "Disconnect link"), ("05-other", "Not run here")])
        self.assertEqual(rc, 0, out)

    def test_regression_on_failure(self):
        rc, out, _ = self.run_check([("24-links", "Cluster is up")])
        self.assertEqual(rc, 1)
        self.assertIn("REGRESSIONS", out)

    def test_regression_on_timeout(self):
        rc, out, _ = self.run_check([("04-resharding", "Verify 50000 keys for consistency with logical content")])
        self.assertEqual(rc, 1)
        self.assertIn("time limit", out)

    def test_update_keeps_header_and_other_units(self):
        rc, _, text = self.run_check([("05-other", "Kept")], mode="update")
        self.assertEqual(rc, 0)
        self.assertTrue(text.startswith("# header\n"))
        self.assertIn("05-other\tKept\n", text)
        self.assertIn("24-links\tDisconnect link\n", text)
        self.assertNotIn("24-links\tCluster is up\n", text)
        self.assertIn("04-resharding\tCluster is up\n", text)


if __name__ == "__main__":
    unittest.main()
