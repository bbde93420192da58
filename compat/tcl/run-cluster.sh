#!/usr/bin/env bash
# Runs units of Redis 7.0.15's legacy cluster test suite (tests/cluster/run.tcl, what ./runtest-cluster runs)
# against a server binary and compares the outcome with the committed list of tests known to pass
# (compat/tcl/cluster-passing.txt).
#
# Usage: compat/tcl/run-cluster.sh [--check | --update] [options] SERVER_BIN
#   (no mode)        run, write the results, exit non-zero if any test failed
#   --check          exit non-zero and print the regressions if a test listed in cluster-passing.txt did not pass
#   --update         rewrite cluster-passing.txt from this run (lines of units that were not run are kept)
# Options:
#   --unit U         run only unit U, e.g. 24-links (repeatable; default: every unit in cluster-tests.txt)
#   --units FILE     unit list (default compat/tcl/cluster-tests.txt)
#   --passing FILE   list of tests known to pass (default compat/tcl/cluster-passing.txt)
#   --results DIR    where logs and result lists go (default compat/.cache/tcl-cluster-results)
# Env:
#   REDIS_CLI                    client put at src/redis-cli (default: Debian's /usr/bin/redis-cli)
#   TCL_CLUSTER_JOBS             units run at once, each by its own harness (default 2, at most 4)
#   TCL_CLUSTER_TIMEOUT          seconds for all units together (default 780); units not started by then are
#                                reported as not run (and count as regressions under --check)
#   TCL_CLUSTER_UNIT_TIMEOUT     seconds one unit may take before its process group is killed (default 300)
#   TCL_WORKERS                  `io-threads` of every instance (default 1; see compat/tcl/run.sh)
#   TCL_CLUSTER_BASEPORT         first port the first lane's harness tries (lane i: 1100 * i above it; default
#                                11000, where Redis's harness says 30000:
#                                it uses BASE..BASE+1023 and the bus ports 10000 above, and those must stay
#                                below the ephemeral range that outgoing connections take ports from). Two runs on one machine
#                                need base ports TCL_CLUSTER_JOBS * 1100 apart: a unit that kills an instance and
#                                restarts it on the same port fails if another harness took that port meanwhile.
#   TCL_CLUSTER_EXTRA_ARGS       more harness arguments, e.g. "--dont-clean" (keeps the instances' logs in the
#                                work tree, which is then kept too)
#   TCL_RERUN                    with --check, rerun the units with regressions once (at most two) and fail only
#                                if they regress again (default 1; 0 turns the rerun off)
#   COMPAT_CACHE                 cache directory for the downloaded suite (default compat/.cache, git-ignored)
#
# How the legacy harness works (tests/instances.tcl): it spawns 20 instances of src/redis-server with
# `cluster-enabled yes`, `appendonly yes`, `enable-protected-configs yes` and `enable-debug-command yes` on ports
# found free from 30000 up (here TCL_CLUSTER_BASEPORT; bus port = port + 10000), then sources each unit of tests/cluster/tests/ matching
# --single; nearly every unit first sources includes/init-tests.tcl (CLUSTER RESET HARD, CONFIG SET, DEBUG
# DROP-CLUSTER-PACKET-FILTER, CONFIG REWRITE, CLUSTER MEET into a full mesh). A test prints
# "HH:MM:SS> name: OK" or "name: FAILED: ..."; an error that is not an assertion ends the unit.
# Units 20-half-migrated-slot and 21-many-slot-migration sit inside `if {false}` in 7.0.15 ("disabled until it is
# stabilized"), so as shipped they run no test; each lane's copy of the suite turns that into `if {true}` (see
# `enabled_here` below), so they run and count like any other unit.
# One harness runs per unit, so a unit that crashes or hangs an instance cannot spoil the units after it; units run
# in TCL_CLUSTER_JOBS lanes at once, each lane with its own work tree and port range. Two lanes halve the wall
# time: the units mostly wait (node timeouts, failovers), and the 20 instances of an idle harness cost little CPU.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=rerun.sh
source "$here/rerun.sh"
compat="$(cd "$here/.." && pwd)"

mode=report
units_file="$here/cluster-tests.txt"
passing="$here/cluster-passing.txt"
cache="${COMPAT_CACHE:-$compat/.cache}"
results=""
only_units=()
server_bin=""

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

while [[ $# -gt 0 ]]; do
    case "$1" in
    --check) mode=check ;;
    --update) mode=update ;;
    --unit) only_units+=("$2"); shift ;;
    --units) units_file="$2"; shift ;;
    --passing) passing="$2"; shift ;;
    --results) results="$2"; shift ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "run-cluster.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    *)
        if [[ -n "$server_bin" ]]; then echo "run-cluster.sh: more than one SERVER_BIN given" >&2; exit 2; fi
        server_bin="$1"
        ;;
    esac
    shift
done

if [[ -z "$server_bin" ]]; then
    echo "run-cluster.sh: SERVER_BIN missing" >&2
    usage >&2
    exit 2
fi
if [[ ! -x "$server_bin" ]]; then
    echo "run-cluster.sh: server binary '$server_bin' does not exist or is not executable" >&2
    exit 2
fi
server_bin="$(cd "$(dirname "$server_bin")" && pwd)/$(basename "$server_bin")"
redis_cli="${REDIS_CLI:-/usr/bin/redis-cli}"
if [[ ! -x "$redis_cli" ]]; then
    echo "run-cluster.sh: $redis_cli is missing (apt-get install redis-tools)" >&2
    exit 2
fi
tclsh=""
for v in 8.5 8.6 8.7; do
    command -v "tclsh$v" >/dev/null && tclsh="$(command -v "tclsh$v")"
done
if [[ -z "$tclsh" ]]; then
    echo "run-cluster.sh: the harness needs tclsh 8.5+ (apt-get install tcl)" >&2
    exit 2
fi

total_timeout="${TCL_CLUSTER_TIMEOUT:-780}"
unit_timeout="${TCL_CLUSTER_UNIT_TIMEOUT:-300}"
baseport="${TCL_CLUSTER_BASEPORT:-11000}"
lanes="${TCL_CLUSTER_JOBS:-2}"
if ! [[ "$lanes" =~ ^[1-4]$ ]]; then
    echo "run-cluster.sh: TCL_CLUSTER_JOBS must be 1 to 4" >&2
    exit 2
fi
if ! [[ "$baseport" =~ ^[0-9]+$ ]] || ((baseport < 1024 || baseport + (lanes - 1) * 1100 > 54000)); then
    echo "run-cluster.sh: TCL_CLUSTER_BASEPORT must be a port from 1024 to $((54000 - (lanes - 1) * 1100))" >&2
    exit 2
fi
read -r -a extra_args <<<"${TCL_CLUSTER_EXTRA_ARGS:-}"
# The harness writes no `bind` into the instances' configuration (so they would listen on every interface).
extra_args+=(--config bind 127.0.0.1 --config io-threads "${TCL_WORKERS:-1}")

mkdir -p "$cache"
cache="$(cd "$cache" && pwd)"
results="${results:-$cache/tcl-cluster-results}"
suite="$("$here/fetch-suite.sh" "$cache")"

units=()
if [[ ${#only_units[@]} -gt 0 ]]; then
    units=("${only_units[@]}")
else
    while IFS= read -r line || [[ -n "$line" ]]; do
        line="${line%%#*}"
        line="$(echo "$line" | xargs)"
        [[ -n "$line" ]] && units+=("$line")
    done <"$units_file"
fi
if [[ ${#units[@]} -eq 0 ]]; then
    echo "run-cluster.sh: no units to run" >&2
    exit 2
fi
for unit in "${units[@]}"; do
    if [[ ! -f "$suite/tests/cluster/tests/$unit.tcl" ]]; then
        echo "run-cluster.sh: unit '$unit' does not exist in the suite ($suite/tests/cluster/tests/$unit.tcl)" >&2
        exit 2
    fi
done

rm -rf "$results"
mkdir -p "$results/logs"
# One work tree per lane (the harness writes the instances' directories into tests/cluster/tmp, and the base port
# lives in tests/instances.tcl). Lane i searches ports from baseport + i * lane_stride: each harness uses BASE up to
# BASE+1023 (and the bus ports 10000 above), and a unit that kills an instance and restarts it on the same port
# fails if another lane's harness took that port meanwhile, so the ranges must not overlap.
lane_stride=1100
enabled_here=(20-half-migrated-slot 21-many-slot-migration)
work_base="$cache/tcl-cluster-work.$$"
lane_work=()
for ((lane = 0; lane < lanes; lane++)); do
    work="$work_base.$lane"
    port=$((baseport + lane * lane_stride))
    rm -rf "$work"
    mkdir -p "$work/src"
    cp -a "$suite/tests" "$suite/runtest-cluster" "$work/"
    # The harness has no option for its base port: set it in this lane's copy of tests/instances.tcl.
    sed -i "s/^set ::redis_base_port 30000\$/set ::redis_base_port $port/" "$work/tests/instances.tcl"
    grep -q "^set ::redis_base_port $port\$" "$work/tests/instances.tcl" || {
        echo "run-cluster.sh: could not set the base port in tests/instances.tcl" >&2
        exit 2
    }
    # The units Redis disabled upstream that pass here (and with Debian's redis-server): enabled in the copy.
    for unit in "${enabled_here[@]}"; do
        sed -i 's/^if {false} {$/if {true} {/' "$work/tests/cluster/tests/$unit.tcl"
        grep -q '^if {true} {$' "$work/tests/cluster/tests/$unit.tcl" || {
            echo "run-cluster.sh: could not enable $unit in this copy of the suite" >&2
            exit 2
        }
    done
    ln -s "$server_bin" "$work/src/redis-server"
    ln -s "$redis_cli" "$work/src/redis-cli"
    lane_work+=("$work")
done
keep_work=0
[[ " ${extra_args[*]} " == *" --dont-clean "* ]] && keep_work=1

# Per lane: the pid of the unit running in it (empty when idle), its name and when it started.
lane_job=()
lane_unit=()
lane_start=()
for ((lane = 0; lane < lanes; lane++)); do lane_job+=(""); lane_unit+=(""); lane_start+=(0); done
# `timeout` puts itself, the harness and the instances the harness spawns in a new process group and signals that
# whole group when the unit runs too long; on our own exit we do the same for every unit still running.
cleanup() {
    local lane
    for ((lane = 0; lane < lanes; lane++)); do
        if [[ -n "${lane_job[$lane]}" ]]; then
            kill -TERM -- "-${lane_job[$lane]}" 2>/dev/null || true
            wait "${lane_job[$lane]}" 2>/dev/null || true
        fi
        if [[ $keep_work -eq 0 ]]; then rm -rf "${lane_work[$lane]}"; else echo "tcl-cluster: work tree kept in ${lane_work[$lane]}"; fi
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

runs="$results/runs.tsv"
: >"$runs"

# Collects the unit of a lane whose job has exited, and records its outcome.
reap_lane() {
    local lane=$1 rc=0 secs
    wait "${lane_job[$lane]}" || rc=$?
    # When an instance answers no PING within 5 s of being spawned (a loaded machine), the harness starts another
    # on the next port and forgets the first, which then outlives the harness; it is still in the unit's process
    # group, so end whatever is left of that group.
    kill -KILL -- "-${lane_job[$lane]}" 2>/dev/null || true
    secs=$((SECONDS - lane_start[lane]))
    printf '%s\t%s\t%s\t%s\n' "${lane_unit[$lane]}" "$results/logs/${lane_unit[$lane]}.log" "$rc" "$secs" >>"$runs"
    echo "tcl-cluster: finished ${lane_unit[$lane]} in ${secs}s (exit $rc)"
    lane_job[lane]=""
}

# Waits (polling once a second: every unit is bounded by its own `timeout`) until some lane is idle, reaping the
# lanes whose unit has ended; sets free_lane.
wait_for_free_lane() {
    local lane
    while :; do
        for ((lane = 0; lane < lanes; lane++)); do
            if [[ -n "${lane_job[$lane]}" ]] && ! kill -0 "${lane_job[$lane]}" 2>/dev/null; then
                reap_lane "$lane"
            fi
            if [[ -z "${lane_job[$lane]}" ]]; then
                free_lane=$lane
                return
            fi
        done
        sleep 1
    done
}

echo "tcl-cluster: server $server_bin, ${#units[@]} units in $lanes lanes, suite $suite"
started=$SECONDS
for unit in "${units[@]}"; do
    log="$results/logs/$unit.log"
    wait_for_free_lane
    remaining=$((total_timeout - (SECONDS - started)))
    if [[ $remaining -lt 30 ]]; then
        echo "tcl-cluster: total time budget (${total_timeout}s) exhausted; not running $unit"
        echo "NOT RUN: run-cluster.sh total time budget TCL_CLUSTER_TIMEOUT=${total_timeout}s exhausted" >"$log"
        printf '%s\t%s\t%s\t%s\n' "$unit" "$log" 125 0 >>"$runs"
        continue
    fi
    budget=$((remaining < unit_timeout ? remaining : unit_timeout))
    echo "tcl-cluster: started $unit in lane $free_lane (limit ${budget}s)"
    (
        cd "${lane_work[$free_lane]}"
        export TERM=dumb # no colour codes in the logs
        # --single matches "*pattern*" against ../tests/<unit>.tcl; the ".tcl" keeps 12-replica-migration
        # from also matching 12-replica-migration-2.
        exec timeout --kill-after=15 "$budget" "$tclsh" tests/cluster/run.tcl --single "/$unit.tcl" \
            "${extra_args[@]}"
    ) >"$log" 2>&1 </dev/null &
    lane_job[free_lane]=$!
    lane_unit[free_lane]=$unit
    lane_start[free_lane]=$SECONDS
done
for ((lane = 0; lane < lanes; lane++)); do
    [[ -n "${lane_job[$lane]}" ]] && reap_lane "$lane"
done
echo "tcl-cluster: all units done in $((SECONDS - started))s; logs in $results/logs"

rc=0
python3 "$here/cluster_results.py" --runs "$runs" --results "$results" --passing "$passing" \
    --mode "$mode" || rc=$?

# One rerun of the units with regressions (see rerun.sh for why).
rerun_file="$results/regressed-units.txt"
if [[ "$mode" == check && $rc -ne 0 && -s "$rerun_file" && "${TCL_RERUN:-1}" -gt 0 ]] &&
    rerun_regressions_once tcl-cluster "$rerun_file" bash "$0" --check --units "$units_file" \
        --passing "$passing" --results "$results/rerun" "$server_bin"; then
    rc=0
fi
exit $rc
