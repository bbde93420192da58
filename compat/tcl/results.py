#!/usr/bin/env python3
"""Reads the logs of Redis's Tcl test harness (one log per unit, written by compat/tcl/run.sh), works out which
tests passed and which failed, and compares that with the committed list of tests known to pass.

Owns: the result files in the results directory (passing.txt, failing.txt, units.tsv) and, with --update, the
committed passing list. Never runs the suite itself and never edits known-failures.txt (that one is curated by
hand: it records why a test cannot pass, which no log can tell).

A test counts as passed only if the harness printed `[ok]: name` for it and no `[err]: name` in the same unit
(a few units run the same test name more than once, once per encoding).
"""
import argparse
import os
import re
import sys

OK_LINE = re.compile(r"^\[ok\]: (.*) \(\d+ ms\)$")
ERR_LINE = re.compile(r"^\[err\]: (.*)$")
ERR_IN_FILE = re.compile(r"^(.*) in tests/\S+\.tcl$")
EXCEPTION_LINE = re.compile(r"^\[exception\]: (.*)$")
TIMEOUT_LINE = re.compile(r"^\[TIMEOUT\]:")
SKIP_LINE = re.compile(r"^\[(skip|ignore)\]: ")
# "[3/11 done]: unit/type/string (7 seconds)"
DONE_LINE = re.compile(r"^\[\d+/\d+ done\]: (\S+)")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
MAX_REASON_CHARS = 300
# A failed assertion's message can span many lines (assert_match on a server's log prints the whole log). The
# regression report prints this much of it, so that a failure seen only in CI can be diagnosed from CI's output.
MAX_DETAIL_LINES = 40
MAX_DETAIL_LINE_CHARS = 240


# integration/psync2 names its tests after a random layout, a random counter and the number of cycles that fit in
# its time ("Set #2 to replicate from #4", "cluster is consistent after load (x = 394938)", "--- CYCLE 6 ---"): such names are recorded with the numbers replaced, so the list
# does not change from run to run. A name pattern of another unit with a fixed "#2" stays as it is.
RUN_DEPENDENT = [
    (re.compile(r"^(PSYNC2: Set )#\d+( to replicate from )#\d+$"), r"\1#N\2#N"),
    (re.compile(r"^(PSYNC2: \[NEW LAYOUT\] Set )#\d+( as master)$"), r"\1#N\2"),
    (re.compile(r"^(PSYNC2: cluster is consistent after load \(x = )\d+(\))$"), r"\1N\2"),
    # As many cycles as fit in 40 seconds.
    (re.compile(r"^(PSYNC2: --- CYCLE )\d+( ---)$"), r"\1N\2"),
]


def clean_name(name):
    # Tabs separate the columns of our list files; no test name needs one.
    name = name.replace("\t", " ").strip()
    for pattern, replacement in RUN_DEPENDENT:
        name = pattern.sub(replacement, name)
    return name


def failure_detail(lines, start):
    """The harness's message for an [err] at lines[start]: the lines up to the next result line, bounded."""
    detail = []
    for line in lines[start + 1:start + 1 + MAX_DETAIL_LINES]:
        if OK_LINE.match(line) or ERR_LINE.match(line) or SKIP_LINE.match(line) or DONE_LINE.match(line) \
                or EXCEPTION_LINE.match(line):
            break
        detail.append(line[:MAX_DETAIL_LINE_CHARS])
    return "\n".join(detail).strip("\n")


def parse_unit_log(path, details=None):
    """Returns (passed names, {failed name: reason}, unit-level problem or None, skipped count, units done).
    `details`, if given, receives {failed name: the harness's whole message} for the regression report."""
    passed = set()
    failed = {}
    problem = None
    skipped = 0
    done_units = set()
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as f:
            lines = [ANSI.sub("", line.rstrip("\r\n")) for line in f]
    except OSError as e:
        return passed, failed, "no log (%s)" % e, skipped, done_units
    for i, line in enumerate(lines):
        m = OK_LINE.match(line)
        if m:
            passed.add(clean_name(m.group(1)))
            continue
        m = ERR_LINE.match(line)
        if m:
            data = m.group(1)
            in_file = ERR_IN_FILE.match(data)
            name = clean_name(in_file.group(1) if in_file else data)
            detail = next((lines[j].strip() for j in range(i + 1, min(i + 4, len(lines))) if lines[j].strip()), "")
            failed[name] = (detail or "failed")[:MAX_REASON_CHARS]
            if details is not None:
                details[name] = failure_detail(lines, i)
            continue
        m = EXCEPTION_LINE.match(line)
        if m:
            detail = m.group(1).strip()
            # The harness prints the error message and a stack trace on the following lines.
            follow = [lines[j].strip() for j in range(i + 1, min(i + 6, len(lines))) if lines[j].strip()]
            if follow:
                detail += " | " + " | ".join(follow[:2])
            problem = ("harness exception: " + detail)[:MAX_REASON_CHARS]
            continue
        if TIMEOUT_LINE.match(line):
            problem = "harness timeout (no progress for the --timeout period)"
            continue
        if SKIP_LINE.match(line):
            skipped += 1
            continue
        m = DONE_LINE.match(line)
        if m:
            done_units.add(m.group(1))
    passed -= set(failed)
    return passed, failed, problem, skipped, done_units


def read_list(path, columns):
    """Reads a tab-separated list file, skipping blank lines and '#' comments."""
    rows = []
    if not os.path.exists(path):
        return rows
    with open(path, "r", encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split("\t")
            if len(parts) < columns:
                sys.exit("%s:%d: expected %d tab-separated columns, got: %r" % (path, lineno, columns, line))
            rows.append(tuple(parts[:columns]))
    return rows


def read_header(path):
    header = []
    if os.path.exists(path):
        with open(path, "r", encoding="utf-8") as f:
            for line in f:
                if not line.startswith("#"):
                    break
                header.append(line.rstrip("\n"))
    return header


def write_list(path, header, rows):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        for line in header:
            f.write(line + "\n")
        for row in sorted(set(rows)):
            f.write("\t".join(row) + "\n")
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", required=True, help="runs.tsv written by run.sh: unit, log path, exit code, seconds")
    ap.add_argument("--results", required=True, help="directory to write passing.txt/failing.txt/units.tsv into")
    ap.add_argument("--passing", required=True, help="committed list of tests known to pass")
    ap.add_argument("--known", required=True, help="committed list of known failures with reasons")
    ap.add_argument("--reference", help="list of tests Redis 7.0.15 itself passes (for a progress figure)")
    ap.add_argument("--mode", choices=["report", "check", "update"], default="report")
    args = ap.parse_args()

    runs = read_list(args.runs, 4)
    units_run = [r[0] for r in runs]
    all_passed = set()
    all_failed = {}
    all_details = {}
    unit_rows = []
    for unit, log, rc, seconds in runs:
        details = {}
        passed, failed, problem, skipped, done_units = parse_unit_log(log, details)
        for name, detail in details.items():
            all_details[(unit, name)] = detail
        rc = int(rc)
        if rc == 124 or rc == 137:
            problem = "unit killed after its time limit (run.sh TCL_UNIT_TIMEOUT)" + (
                "; " + problem if problem else "")
        elif problem is None and unit not in done_units and rc != 0:
            problem = "harness exited with code %d before finishing the unit (see %s)" % (rc, log)
        status = "ok" if rc == 0 and not failed and problem is None else "FAILED"
        unit_rows.append((unit, str(len(passed)), str(len(failed)), str(skipped), seconds + "s", status,
                          problem or ""))
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
        f.write("unit\tpassed\tfailed\tskipped\ttime\tstatus\tproblem\n")
        for row in unit_rows:
            f.write("\t".join(row) + "\n")

    print("Tcl units:")
    for unit, npass, nfail, nskip, secs, status, problem in unit_rows:
        print("  %-22s %4s passed %4s failed %4s skipped %6s  %s%s" % (
            unit, npass, nfail, nskip, secs, status, ("  (" + problem + ")") if problem else ""))

    known = {(u, n): r for u, n, r in read_list(args.known, 3)}
    expected = set(read_list(args.passing, 2))
    expected_here = {e for e in expected if e[0] in units_run}
    regressions = sorted(expected_here - all_passed)
    new_passes = sorted(all_passed - expected)

    if args.reference and os.path.exists(args.reference):
        reference = {r for r in read_list(args.reference, 2) if r[0] in units_run}
        if reference:
            print("progress: %d of the %d tests Redis 7.0.15 passes in these units pass" % (
                len(reference & all_passed), len(reference)))

    stale_known = sorted(k for k in known if k in all_passed)
    for unit, name in stale_known:
        print("note: known failure now passes: %s\t%s (remove it from known-failures.txt)" % (unit, name))

    failed_total = len([k for k in all_failed if k[1] != "*"])
    aborted = len([k for k in all_failed if k[1] == "*"])
    print("tcl: %d tests passed, %d failed, %d of %d units cut short (%d known failures listed)" % (
        len(all_passed), failed_total, aborted, len(runs), len(known)))

    if args.mode == "update":
        header = read_header(args.passing)
        kept = [e for e in expected if e[0] not in units_run]
        write_list(args.passing, header, kept + sorted(all_passed))
        print("updated %s: %d tests (%d new, %d dropped)" % (
            args.passing, len(kept) + len(all_passed), len(new_passes), len(regressions)))
        return 0

    if args.mode == "check":
        if new_passes:
            print("%d tests pass that are not in %s yet (run.sh --update to record them)" % (
                len(new_passes), args.passing))
        if regressions:
            print("REGRESSIONS: %d tests listed in %s did not pass:" % (len(regressions), args.passing))
            for unit, name in regressions:
                reason = all_failed.get((unit, name)) or all_failed.get((unit, "*")) or "not reported as [ok]"
                print("  %s\t%s\t-- %s" % (unit, name, reason))
            for unit, name in regressions:
                detail = all_details.get((unit, name))
                if detail:
                    print("tcl: --- what the harness said of %s: %s ---" % (unit, name))
                    print("\n".join("    " + line for line in detail.split("\n")))
            # run.sh reruns these units once (see there) and needs to know which they are.
            with open(os.path.join(args.results, "regressed-units.txt"), "w", encoding="utf-8") as f:
                f.write("".join(u + "\n" for u in sorted({u for u, _ in regressions})))
            return 1
        print("no regressions against %s (%d tests checked)" % (args.passing, len(expected_here)))
        return 0

    return 1 if all_failed else 0


if __name__ == "__main__":
    sys.exit(main())
