#!/usr/bin/env python3
"""Summarizes a bench/run.sh results CSV: medians per workload and ratios redoxide/redis.

Usage: python3 bench/summarize.py bench/results/<stamp>.csv

Ratios are redoxide / redis, so for requests/s higher is better and for CPU per request and
bytes per key lower is better. Only rows whose status is "ok" enter the medians.
"""

import csv
import math
import statistics
import sys
from collections import OrderedDict


def num(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


def fmt(v, digits=0):
    if v is None:
        return "-"
    return f"{v:,.{digits}f}"


def ratio(b, a):
    if a is None or b is None or a == 0:
        return None
    return b / a


def spread(values):
    """Half the range across rounds as a percentage of the median: the run-to-run noise."""
    if len(values) < 2:
        return ""
    med = statistics.median(values)
    if med == 0:
        return ""
    return f"±{(max(values) - min(values)) / 2 / med * 100:.0f}%"


def table_head(title, head):
    """A blank line, the table's title, its column heads and a rule under them."""
    print()
    print(title)
    print(head)
    print("-" * len(head))


def main(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))

    runs = OrderedDict()  # (mode, workload, test, pipeline, clients) -> server -> list of rows
    memory = OrderedDict()  # mode -> server -> row
    problems = []
    for r in rows:
        if r["kind"] == "unavailable":
            problems.append(f"{r['server']} unavailable ({r['mode']} mode, {r['workload']}): {r['status']}")
            continue
        if r["status"] != "ok":
            problems.append(
                f"{r['server']} {r['mode']} {r['workload']} {r['test']} P={r['pipeline']} "
                f"round {r['round']}: {r['status']}"
            )
        if r["kind"] == "memory":
            memory.setdefault(r["mode"], {})[r["server"]] = r
            continue
        key = (r["mode"], r["workload"], r["test"], r["pipeline"], r["clients"])
        runs.setdefault(key, {}).setdefault(r["server"], []).append(r)

    rps_ratios, cpu_ratios = [], []
    if runs:
        head = (
            f"{'mode':<10} {'workload':<10} {'test':<10} {'P':>3} {'c':>4} | "
            f"{'redis rps':>11} {'redoxide rps':>12} {'ratio':>6} | "
            f"{'redis us/req':>12} {'redoxide us/req':>15} {'ratio':>6} | noise (rps A/B)"
        )
        print("Throughput (medians over rounds; ratio = redoxide/redis; rps: higher is better, us/req: lower)")
        print(head)
        print("-" * len(head))
        for (mode, workload, test, pipeline, clients), by_server in runs.items():
            med = {}
            noise = {}
            for server in ("redis", "redoxide"):
                ok = [r for r in by_server.get(server, []) if r["status"] == "ok"]
                rps = [num(r["rps"]) for r in ok if num(r["rps"]) is not None]
                cpu = [num(r["cpu_us_per_req"]) for r in ok if num(r["cpu_us_per_req"]) is not None]
                med[server] = (
                    statistics.median(rps) if rps else None,
                    statistics.median(cpu) if cpu else None,
                )
                noise[server] = spread(rps)
                if not ok and by_server.get(server):
                    noise[server] = by_server[server][-1]["status"]
            rr = ratio(med["redoxide"][0], med["redis"][0])
            cr = ratio(med["redoxide"][1], med["redis"][1])
            if rr:
                rps_ratios.append(rr)
            if cr:
                cpu_ratios.append(cr)
            print(
                f"{mode:<10} {workload:<10} {test:<10} {pipeline:>3} {clients:>4} | "
                f"{fmt(med['redis'][0]):>11} {fmt(med['redoxide'][0]):>12} {fmt(rr, 2):>6} | "
                f"{fmt(med['redis'][1], 3):>12} {fmt(med['redoxide'][1], 3):>15} {fmt(cr, 2):>6} | "
                f"{noise['redis'] or '-'} / {noise['redoxide'] or '-'}"
            )
        if rps_ratios or cpu_ratios:
            gm = lambda xs: math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None  # noqa: E731
            print(
                f"geometric mean of ratios: rps {fmt(gm(rps_ratios), 2)} over {len(rps_ratios)} rows, "
                f"CPU/request {fmt(gm(cpu_ratios), 2)} over {len(cpu_ratios)} rows"
            )

    aof = OrderedDict()  # mode -> policy -> server -> median rps
    for (mode, workload, _test, _pipeline, _clients), by_server in runs.items():
        if not workload.startswith("aof-"):
            continue
        for server in ("redis", "redoxide"):
            rps = [num(r["rps"]) for r in by_server.get(server, []) if r["status"] == "ok" and num(r["rps"])]
            aof.setdefault(mode, OrderedDict()).setdefault(workload[4:], {})[server] = (
                statistics.median(rps) if rps else None
            )
    if aof:
        table_head(
            "AOF cost (SET, medians; 'of off' = requests/s as a fraction of the same server without an AOF)",
            f"{'mode':<10} {'appendfsync':<11} | {'redis rps':>11} {'of off':>6} | "
            f"{'redoxide rps':>12} {'of off':>6} | {'ratio':>6}",
        )
        for mode, by_policy in aof.items():
            off = by_policy.get("off", {})
            for policy, med in by_policy.items():
                a, b = med.get("redis"), med.get("redoxide")
                print(
                    f"{mode:<10} {policy:<11} | {fmt(a):>11} {fmt(ratio(a, off.get('redis')), 2):>6} | "
                    f"{fmt(b):>12} {fmt(ratio(b, off.get('redoxide')), 2):>6} | {fmt(ratio(b, a), 2):>6}"
                )

    if memory:
        table_head(
            "Memory (fresh servers; bytes/key = (RSS after - RSS before) / DBSIZE; lower is better)",
            f"{'mode':<10} | {'redis keys':>10} {'redis B/key':>11} | "
            f"{'redoxide keys':>13} {'redoxide B/key':>14} | {'ratio':>6}",
        )
        for mode, by_server in memory.items():
            a = by_server.get("redis", {})
            b = by_server.get("redoxide", {})
            ra = num(a.get("bytes_per_key"))
            rb = num(b.get("bytes_per_key"))
            print(
                f"{mode:<10} | {a.get('keys') or '-':>10} {fmt(ra, 1):>11} | "
                f"{b.get('keys') or '-':>13} {fmt(rb, 1):>14} | {fmt(ratio(rb, ra), 2):>6}"
            )

    if problems:
        print()
        print("Problems (rows left out of the medians):")
        for p in problems:
            print(f"  {p}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
