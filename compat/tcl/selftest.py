#!/usr/bin/env python3
"""Tests of results.py (the Tcl harness log parser and the passing-list check) on synthetic logs, so that a change
to the parser cannot silently turn every regression into a pass. Python 3 standard library only.

Usage: python3 compat/tcl/selftest.py
"""
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import results  # noqa: E402

LOG = """Cleanup: may take some time... OK
Starting test server at port 20968
[ready]: 1234
Testing unit/type/incr
[ok]: INCR against non existing key (1 ms)
[ok]: INCR (with parens) in name (0 ms)
[err]: INCR fails against key with spaces (left) in tests/unit/type/incr.tcl
Expected 'ERR*' to equal or match '1' (context: type eval line 2 cmd {assert_error ...})
[ok]: Twice (0 ms)
[err]: Twice in tests/unit/type/incr.tcl
Expected '### Starting server for test
123:M 04 Dec 2026 03:35:33.260 * Ready to accept connections' to match '*wrong offset*'
[ignore]: Not supported in cluster mode: needs:debug
[skip]: Some skipped test
[1/1 done]: unit/type/incr (0 seconds)
"""

EXCEPTION_LOG = """[ok]: First (0 ms)
[exception]: Executing test client: I/O error reading reply.
I/O error reading reply
    while executing
"""


class ParseTest(unittest.TestCase):
    def write(self, text):
        fd, path = tempfile.mkstemp(suffix=".log")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        self.addCleanup(os.remove, path)
        return path

    def test_ok_err_skip(self):
        passed, failed, problem, skipped, done = results.parse_unit_log(self.write(LOG))
        self.assertEqual(passed, {"INCR against non existing key", "INCR (with parens) in name"})
        self.assertEqual(set(failed), {"INCR fails against key with spaces (left)", "Twice"})
        self.assertIn("Expected 'ERR*'", failed["INCR fails against key with spaces (left)"])
        self.assertIsNone(problem)
        self.assertEqual(skipped, 2)
        self.assertEqual(done, {"unit/type/incr"})

    def test_exception(self):
        passed, failed, problem, _, done = results.parse_unit_log(self.write(EXCEPTION_LOG))
        self.assertEqual(passed, {"First"})
        self.assertIn("I/O error reading reply", problem)
        self.assertEqual(done, set())


class CheckTest(unittest.TestCase):
    def run_results(self, mode, passing_lines, log_text, rc=0):
        tmp = tempfile.mkdtemp()
        self.last_tmp = tmp
        log = os.path.join(tmp, "u.log")
        with open(log, "w") as f:
            f.write(log_text)
        runs = os.path.join(tmp, "runs.tsv")
        with open(runs, "w") as f:
            f.write("unit/type/incr\t%s\t%d\t1\n" % (log, rc))
        passing = os.path.join(tmp, "passing.txt")
        with open(passing, "w") as f:
            f.write("# header\n" + "".join(line + "\n" for line in passing_lines))
        known = os.path.join(tmp, "known.txt")
        open(known, "w").close()
        proc = subprocess.run([sys.executable, os.path.join(HERE, "results.py"), "--runs", runs, "--results",
                               os.path.join(tmp, "out"), "--passing", passing, "--known", known, "--mode", mode],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        with open(passing) as f:
            return proc.returncode, proc.stdout.decode(), f.read()

    def test_check_passes_without_regressions(self):
        rc, out, _ = self.run_results("check", ["unit/type/incr\tINCR against non existing key"], LOG, rc=1)
        self.assertEqual(rc, 0, out)

    def test_check_fails_on_regression(self):
        rc, out, _ = self.run_results("check", ["unit/type/incr\tTwice", "unit/other\tNot run here"], LOG, rc=1)
        self.assertEqual(rc, 1, out)
        self.assertIn("unit/type/incr\tTwice", out)
        self.assertNotIn("Not run here", out)  # units that were not run are not checked
        # The whole message of a regressed test is printed, not only its first line, and its unit is named
        # for run.sh's rerun.
        self.assertIn("    123:M 04 Dec 2026 03:35:33.260 * Ready to accept connections' to match '*wrong offset*'", out)
        self.assertNotIn("[ignore]", out)
        with open(os.path.join(self.last_tmp, "out", "regressed-units.txt")) as f:
            self.assertEqual(f.read(), "unit/type/incr\n")

    def test_check_fails_when_unit_dies(self):
        rc, out, _ = self.run_results("check", ["unit/type/incr\tSecond"], EXCEPTION_LOG, rc=1)
        self.assertEqual(rc, 1, out)
        self.assertIn("I/O error", out)

    def test_update_rewrites_list_keeping_header_and_other_units(self):
        rc, out, text = self.run_results("update", ["unit/other\tKept", "unit/type/incr\tGone"], LOG, rc=1)
        self.assertEqual(rc, 0, out)
        self.assertEqual(text, "# header\nunit/other\tKept\nunit/type/incr\tINCR (with parens) in name\n"
                               "unit/type/incr\tINCR against non existing key\n")


if __name__ == "__main__":
    unittest.main(verbosity=1)
