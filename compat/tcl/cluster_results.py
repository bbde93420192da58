#!/usr/bin/env python3
"""Reads the logs of Redis's legacy cluster test harness (tests/cluster/run.tcl, one log per unit, written by
compat/tcl/run-cluster.sh), works out which tests passed and which failed, and compares that with the committed
list of tests known to pass (compat/tcl/cluster-passing.txt).

Owns: the result files in the results directory (passing.txt, failing.txt, units.tsv) and, with --update, the
committed passing list. Never runs the suite itself.

The harness (tests/instances.tcl, proc test) prints "HH:MM:SS> name: " when a test starts, then whatever the test
prints, then "OK" at the end of a line when it passed, or "FAILED: reason" when an assertion failed. An error
that is not an assertion propagates out of the unit: run_tests prints "FAILED: caught an error in the test ..."
and goes on with the next unit. A test counts as passed only if it printed OK and no occurrence of the same name in
the unit failed (the init tests run once per unit, and a few units repeat a name such as "Cluster is up").
"""
import argparse
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from results import read_header, read_list, write_list  # noqa: E402

START_LINE = re.compile(r"^\d\d:\d\d:\d\d> (.*)$")
UNIT_LINE = re.compile(r"^Testing unit: (\S+)\.tcl$")
CAUGHT = "FAILED: caught an error in the test"
END_LINES = ("Cleaning up...", "GOOD! No errors.", "WARNING: Aborting the test.")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
MAX_REASON_CHARS = 300


# 03-failover-loop names its tests after the instance it picked at random and the epoch it saw ("Wait failover by
# #5 with old epoch 24"): such names are recorded with the numbers replaced, so the list does not change from run
# to run (no other unit in the suite uses these phrases).
RUN_DEPENDENT = [
    (re.compile(r"^(Instance )#\d+( is now a slave)$"), r"\1#N\2"),
    (re.compile(r"^(Restarting node |Terminating node )#\d+$"), r"\1#N"),
    (re.compile(r"^(Wait failover by )#\d+( with old epoch )\d+$"), r"\1#N\2N"),
    (re.compile(r"^(Wait for slave of )#\d+( to sync)$"), r"\1#N\2"),
]


def clean_name(name):
    # Tabs separate the columns of our list files; no test name needs one.
    name = name.replace("\t", " ").strip()
    for pattern, replacement in RUN_DEPENDENT:
        name = pattern.sub(replacement, name)
    return name


# What tests/cluster/tests/includes/utils.tcl (fix_cluster) prints right after a test's "name: " when
# `redis-cli --cluster fix` or `--cluster check` exits non-zero; the test goes on and may still pass (fix exits 1
# while the nodes do not agree yet, and the check after it waits for them to). The name ends before it.
HARNESS_NOTES = (
    "redis-cli --cluster fix returns non-zero exit code, output below:",
    "redis-cli --cluster check returns non-zero exit code, output below:",
)


def split_start(text):
    """Splits what follows "HH:MM:SS> " into (test name, what the test printed after "name: ").

    A name may itself hold ": " (e.g. "Slave expired keys is loaded when restarted: appendonly=no"), so the split
    is the first ": " after which comes a result ("OK" or "FAILED: ..."); else, when the line ends with ": "
    (the test printed a newline before its result), everything before it; else the first ": "."""
    for note in HARNESS_NOTES:
        at = text.find(": " + note)
        if at >= 0:
            return text[:at], text[at + 2:]
    parts = text.split(": ")
    for i in range(1, len(parts)):
        rest = ": ".join(parts[i:]).strip()
        if rest == "OK" or rest.startswith("FAILED:"):
            return ": ".join(parts[:i]), rest
    if text.endswith(": ") or text.endswith(":"):
        return text.rstrip()[:-1], ""
    if len(parts) == 1:
        return text, ""
    return parts[0], ": ".join(parts[1:])


def parse_unit_log(path):
    """Returns (passed names, {failed name: reason}, unit-level problem or None, whether the unit was entered)."""
    passed = set()
    failed = {}
    problem = None
    entered = False
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as f:
            lines = [ANSI.sub("", line.rstrip("\r\n")) for line in f]
    except OSError as e:
        return passed, failed, "no log (%s)" % e, entered

    current = None  # name of the test that started and has not reported yet

    def fail(name, reason):
        failed.setdefault(name, (reason.strip() or "failed")[:MAX_REASON_CHARS])

    def settle(text, index):
        """Looks at output of the current test; returns True once the test reported."""
        nonlocal current, problem
        if text.endswith("OK") and "FAILED" not in text:
            passed.add(current)
            current = None
            return True
        at = text.find("FAILED:")
        if at >= 0:
            reason = text[at + len("FAILED:"):].strip()
            if text[at:].startswith(CAUGHT):
                # The error left the unit: the harness prints the stack trace on the next lines.
                follow = [lines[j].strip() for j in range(index + 1, min(index + 3, len(lines)))
                          if lines[j].strip()]
                # The first of them usually repeats the error message.
                follow = [f for f in follow if f not in reason]
                reason = " | ".join([reason] + follow)
                problem = "unit ended by an error in test '%s'" % current
            fail(current, reason)
            current = None
            return True
        return False

    for i, line in enumerate(lines):
        m = UNIT_LINE.match(line)
        if m:
            entered = True
            continue
        m = START_LINE.match(line)
        if m:
            if current is not None:
                fail(current, "printed no result")
            name, rest = split_start(m.group(1))
            current = clean_name(name)
            settle(rest.strip(), i)
            continue
        if current is not None:
            if line.strip() in END_LINES:
                fail(current, "printed no result (harness ended the unit)")
                current = None
            else:
                settle(line.strip(), i)
            continue
        if line.startswith(CAUGHT):
            # After a failed assertion the harness ends the unit with `return -code continue`, which
            # run_tests reports like an error: that one is the failure already recorded.
            if not failed:
                problem = ("error outside a test: " + line[len(CAUGHT):].strip())[:MAX_REASON_CHARS]
        elif line.startswith(">>>>>>>> ") or line.startswith("NOT RUN: "):
            problem = line.split(" ", 1)[1].strip()[:MAX_REASON_CHARS]
    if current is not None:
        fail(current, "printed no result (log ends: harness killed?)")
    passed -= set(failed)
    return passed, failed, problem, entered


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", required=True, help="runs.tsv written by run-cluster.sh: unit, log, exit code, seconds")
    ap.add_argument("--results", required=True, help="directory to write passing.txt/failing.txt/units.tsv into")
    ap.add_argument("--passing", required=True, help="committed list of tests known to pass")
    ap.add_argument("--mode", choices=["report", "check", "update"], default="report")
    args = ap.parse_args()

    runs = read_list(args.runs, 4)
    units_run = [r[0] for r in runs]
    all_passed = set()
    all_failed = {}
    unit_rows = []
    for unit, log, rc, seconds in runs:
        passed, failed, problem, entered = parse_unit_log(log)
        rc = int(rc)
        if rc in (124, 137):
            problem = "unit killed after its time limit (TCL_CLUSTER_UNIT_TIMEOUT / TCL_CLUSTER_TIMEOUT)" + (
                "; " + problem if problem else "")
        elif problem is None and not entered:
            problem = "the harness never entered the unit (exit code %d; see %s)" % (rc, log)
        elif problem is None and not passed and not failed:
            problem = "the unit ran no test (disabled upstream?)"
        elif problem is None and rc != 0 and not failed:
            problem = "harness exited with code %d (see %s)" % (rc, log)
        status = "ok" if rc == 0 and not failed and problem is None else "FAILED"
        unit_rows.append((unit, str(len(passed)), str(len(failed)), seconds + "s", status, problem or ""))
        for name in passed:
            all_passed.add((unit, name))
        for name, reason in failed.items():
            all_failed[(unit, name)] = reason
        if problem:
            all_failed[(unit, "*")] = problem

    os.makedirs(args.results, exist_ok=True)
    write_list(os.path.join(args.results, "passing.txt"), [], sorted(all_passed))
    write_list(os.path.join(args.results, "failing.txt"), [],
               [(u, n, r) for (u, n), r in all_failed.items()])
    with open(os.path.join(args.results, "units.tsv"), "w", encoding="utf-8") as f:
        f.write("unit\tpassed\tfailed\ttime\tstatus\tproblem\n")
        for row in unit_rows:
            f.write("\t".join(row) + "\n")

    print("Tcl cluster units:")
    for unit, npass, nfail, secs, status, problem in unit_rows:
        print("  %-30s %3s passed %3s failed %5s  %s%s" % (
            unit, npass, nfail, secs, status, ("  (" + problem + ")") if problem else ""))
    for (unit, name), reason in sorted(all_failed.items()):
        if name != "*":
            print("  failed: %s\t%s\t-- %s" % (unit, name, reason))

    expected = set(read_list(args.passing, 2))
    expected_here = {e for e in expected if e[0] in units_run}
    regressions = sorted(expected_here - all_passed)
    new_passes = sorted(all_passed - expected)
    failed_total = len([k for k in all_failed if k[1] != "*"])
    clean_units = len([r for r in unit_rows if r[4] == "ok"])
    print("tcl-cluster: %d tests passed, %d failed; %d of %d units passed whole" % (
        len(all_passed), failed_total, clean_units, len(runs)))

    if args.mode == "update":
        header = read_header(args.passing)
        kept = [e for e in expected if e[0] not in units_run]
        write_list(args.passing, header, kept + sorted(all_passed))
        print("updated %s: %d tests (%d new, %d dropped)" % (
            args.passing, len(kept) + len(all_passed), len(new_passes), len(regressions)))
        return 0

    if args.mode == "check":
        if new_passes:
            print("%d tests pass that are not in %s yet (run-cluster.sh --update to record them)" % (
                len(new_passes), args.passing))
        if regressions:
            print("REGRESSIONS: %d tests listed in %s did not pass:" % (len(regressions), args.passing))
            for unit, name in regressions:
                reason = all_failed.get((unit, name)) or all_failed.get((unit, "*")) or "not reported as OK"
                print("  %s\t%s\t-- %s" % (unit, name, reason))
            # run-cluster.sh reruns these units once (see there) and needs to know which they are.
            with open(os.path.join(args.results, "regressed-units.txt"), "w", encoding="utf-8") as f:
                f.write("".join(u + "\n" for u in sorted({u for u, _ in regressions})))
            return 1
        print("no regressions against %s (%d tests checked)" % (args.passing, len(expected_here)))
        return 0

    return 1 if all_failed else 0


if __name__ == "__main__":
    sys.exit(main())
