#!/usr/bin/env bash
# Runs units of Redis 7.0.15's own Tcl test suite against a server binary and compares the outcome with the
# committed list of tests known to pass (compat/tcl/passing.txt).
#
# Usage: compat/tcl/run.sh [--check | --update] [options] SERVER_BIN
#   (no mode)        run, write the results, exit non-zero if any test failed
#   --check          exit non-zero and print the regressions if a test listed in passing.txt did not pass
#   --update         rewrite passing.txt from this run (lines of units that were not run are kept)
# Options:
#   --unit U         run only unit U (repeatable; default: every unit in units.txt)
#   --units FILE     unit list (default compat/tcl/units.txt)
#   --passing FILE   list of tests known to pass (default compat/tcl/passing.txt)
#   --deferred FILE  tests skipped with --skiptest because they need a feature a later issue builds
#                    (default compat/tcl/deferred.txt; "unit<TAB>test name<TAB>what it needs"). Without this
#                    the first such test throws in the harness and ends its whole unit, hiding every later test.
#   --results DIR    where logs and result lists go (default compat/.cache/tcl-results)
# Env:
#   REDIS_CLI, REDIS_BENCHMARK   clients put at src/redis-cli, src/redis-benchmark (default: Debian's in /usr/bin)
#   TCL_JOBS             units run at the same time (default 2; each is its own harness with one test client)
#   TCL_UNIT_TIMEOUT     seconds one unit may take before its whole process group is killed (default 420;
#                        integration/replication takes about 240)
#   TCL_STALL_TIMEOUT    harness --timeout: seconds without any test finishing before it gives up (default 120)
#   TCL_TOTAL_TIMEOUT    seconds for all units together; units not started by then are reported as not run
#                        (default 900)
#   TCL_TAGS             harness --tags (default "-needs:debug -needs:repl"); a unit listed in units.txt with
#                        "+debug" after its name also runs its needs:debug tests (the tag is dropped for it);
#                        "+eval-only" runs only the EVAL pass of unit/scripting, which runs every test twice, first
#                        through FUNCTION/FCALL and then through EVAL, under the same names (so --skiptest cannot
#                        defer one pass): the unit's copy gets `foreach is_eval {1}` for `foreach is_eval {0 1}`
#   TCL_EXTRA_ARGS       more harness arguments, e.g. "--dump-logs" or "--only <test>"
#   TCL_WORKERS          worker threads of every server the harness starts (`io-threads`; default 1). Redis's
#                        tests assume that commands sent on different connections run in the order they were
#                        sent (e.g. two BRPOPLPUSH on two connections, then an LPUSH on a third, must find both
#                        blocked), which Redis's single execution thread gives them. With several workers the
#                        LPUSH can run before a blocking command read by a busier worker, and such a test hangs
#                        or fails now and then. That is ordering no client can observe through replies, not a
#                        defect, so the suite runs with one worker; crates/server/tests exercise several.
#   TCL_PORT_SLOT        first of the 40 port ranges (250 ports each, from 12000) the units take (default 0);
#                        two runs at once on one machine need slots apart by more than their unit count
#   TCL_RERUN            with --check, rerun the units with regressions once (at most two units) and fail only if
#                        they regress again (default 1; 0 turns the rerun off)
#   COMPAT_CACHE         cache directory for the downloaded suite (default compat/.cache, git-ignored)
#
# Why one harness per unit rather than one harness with --clients 2: the harness aborts the whole run (every unit)
# when a test client throws, which a young server triggers easily (e.g. by closing a connection). One harness per
# unit confines that to the unit, and running TCL_JOBS units at once gives the same parallelism as --clients 2.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=rerun.sh
source "$here/rerun.sh"
compat="$(cd "$here/.." && pwd)"

mode=report
units_file="$here/units.txt"
passing="$here/passing.txt"
known="$here/known-failures.txt"
deferred="$here/deferred.txt"
reference="$here/redis-passing.txt"
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
    --deferred) deferred="$2"; shift ;;
    --results) results="$2"; shift ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    *)
        if [[ -n "$server_bin" ]]; then echo "run.sh: more than one SERVER_BIN given" >&2; exit 2; fi
        server_bin="$1"
        ;;
    esac
    shift
done

if [[ -z "$server_bin" ]]; then
    echo "run.sh: SERVER_BIN missing" >&2
    usage >&2
    exit 2
fi
if [[ ! -x "$server_bin" ]]; then
    echo "run.sh: server binary '$server_bin' does not exist or is not executable" >&2
    exit 2
fi
server_bin="$(cd "$(dirname "$server_bin")" && pwd)/$(basename "$server_bin")"
redis_cli="${REDIS_CLI:-/usr/bin/redis-cli}"
redis_benchmark="${REDIS_BENCHMARK:-/usr/bin/redis-benchmark}"
for tool in "$redis_cli" "$redis_benchmark"; do
    if [[ ! -x "$tool" ]]; then
        echo "run.sh: $tool is missing (apt-get install redis-tools)" >&2
        exit 2
    fi
done
if ! command -v tclsh8.6 >/dev/null && ! command -v tclsh8.5 >/dev/null && ! command -v tclsh8.7 >/dev/null; then
    echo "run.sh: the harness needs tclsh 8.5+ (apt-get install tcl)" >&2
    exit 2
fi

jobs_max="${TCL_JOBS:-2}"
unit_timeout="${TCL_UNIT_TIMEOUT:-420}"
stall_timeout="${TCL_STALL_TIMEOUT:-120}"
total_timeout="${TCL_TOTAL_TIMEOUT:-900}"
tags="${TCL_TAGS:--needs:debug -needs:repl}"
read -r -a extra_args <<<"${TCL_EXTRA_ARGS:-}"
extra_args+=(--config io-threads "${TCL_WORKERS:-1}")

mkdir -p "$cache"
cache="$(cd "$cache" && pwd)"
results="${results:-$cache/tcl-results}"
suite="$("$here/fetch-suite.sh" "$cache")"

units=()
declare -A unit_debug=() # units whose needs:debug tests run ("+debug" in the units file)
declare -A unit_eval_only=() # units whose FUNCTION pass is left out ("+eval-only")
listed=()
while IFS= read -r line || [[ -n "$line" ]]; do
    line="${line%%#*}"
    read -r -a fields <<<"$line"
    [[ ${#fields[@]} -eq 0 ]] && continue
    listed+=("${fields[0]}")
    for opt in "${fields[@]:1}"; do
        [[ "$opt" == "+debug" ]] && unit_debug[${fields[0]}]=1
        [[ "$opt" == "+eval-only" ]] && unit_eval_only[${fields[0]}]=1
    done
done <"$units_file"
if [[ ${#only_units[@]} -gt 0 ]]; then
    units=("${only_units[@]}")
else
    units=("${listed[@]}")
fi
if [[ ${#units[@]} -eq 0 ]]; then
    echo "run.sh: no units to run" >&2
    exit 2
fi
for unit in "${units[@]}"; do
    if [[ ! -f "$suite/tests/$unit.tcl" ]]; then
        echo "run.sh: unit '$unit' does not exist in the suite ($suite/tests/$unit.tcl)" >&2
        exit 2
    fi
done

rm -rf "$results"
mkdir -p "$results/logs"
# One work tree per invocation, so that two runs in the same checkout do not share tests/tmp.
# Short on purpose: every server the harness starts listens on <its dir>/socket, and a Unix socket path has at most
# 107 bytes. Under compat/.cache with the unit's name twice in it (integration/convert-ziplist-zset-on-load) the path
# passed that limit, the server could not open the socket and exited, and the harness waited for it forever.
work_root="${TMPDIR:-/tmp}/rdx-tcl.$$"
rm -rf "$work_root"
mkdir -p "$work_root"

declare -A job_unit=()  # pid of the unit's `timeout` process -> unit
declare -A job_start=() # pid -> start time (s)
declare -A unit_dir=()  # unit -> its copy of the suite
runs="$results/runs.tsv"
: >"$runs"

# `timeout` puts itself and everything it starts (the harness, its test clients and the servers they spawn) in a
# new process group and signals that whole group when the unit runs too long, so a hung unit leaves nothing
# behind. On our own exit we do the same for the units still running.
cleanup() {
    local pid
    for pid in "${!job_unit[@]}"; do
        kill -TERM -- "-$pid" 2>/dev/null || true
    done
    for pid in "${!job_unit[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work_root"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

slug_of() { echo "${1//\//_}"; }

# The --skiptest arguments for a unit's deferred tests.
skip_args_for() {
    local unit="$1" u name rest
    [[ -f "$deferred" ]] || return 0
    while IFS=$'\t' read -r u name rest || [[ -n "$u" ]]; do
        [[ "$u" == "#"* || -z "$name" ]] && continue
        [[ "$u" == "$unit" ]] && printf '%s\0%s\0' --skiptest "$name"
    done <"$deferred"
}

start_unit() {
    local unit="$1" index="$2" budget="$3"
    local slug dir baseport unit_tags="$tags"
    if [[ -n "${unit_debug[$unit]:-}" ]]; then
        unit_tags="$(echo "${tags//-needs:debug/}" | xargs)"
    fi
    local skip_args=()
    mapfile -d '' -t skip_args < <(skip_args_for "$unit")
    slug="$(slug_of "$unit")"
    dir="$work_root/u$index"
    unit_dir[$unit]="$dir"
    mkdir -p "$dir/src"
    cp -a "$suite/tests" "$suite/runtest" "$dir/"
    if [[ -n "${unit_eval_only[$unit]:-}" ]]; then
        sed -i 's/^foreach is_eval {0 1} {$/foreach is_eval {1} {/' "$dir/tests/$unit.tcl"
        grep -q '^foreach is_eval {1} {$' "$dir/tests/$unit.tcl" || { echo "run.sh: +eval-only found no FUNCTION pass in $unit" >&2; exit 2; }
    fi
    ln -s "$server_bin" "$dir/src/redis-server"
    ln -s "$redis_cli" "$dir/src/redis-cli"
    ln -s "$redis_benchmark" "$dir/src/redis-benchmark"
    # The server binary is also the AOF checker when called by that name, as Redis's is.
    ln -s "$server_bin" "$dir/src/redis-check-aof"
    # Each unit gets its own port range so harnesses running side by side do not race for the same ports
    # (the harness also probes ports and skips busy ones). Client ports 12000-21999 put every cluster bus port
    # (+10000) below Linux's ephemeral range (32768 and up): an outgoing connection of any process can take an
    # ephemeral port between the harness's probe and the server's bind, which a range in the 30000s invited.
    baseport=$((12000 + ((index + ${TCL_PORT_SLOT:-0}) % 40) * 250))
    (
        cd "$dir"
        export TERM=dumb # no colour codes in the logs
        exec timeout --kill-after=10 "$budget" ./runtest --single "$unit" --tags "$unit_tags" \
            --ignore-encoding --clients 1 --timeout "$stall_timeout" \
            --baseport "$baseport" --portcount 250 "${skip_args[@]}" "${extra_args[@]}"
    ) >"$results/logs/$slug.log" 2>&1 </dev/null &
    job_unit[$!]="$unit"
    job_start[$!]="$SECONDS"
    echo "tcl: started $unit (limit ${budget}s)"
}

# CI keeps only what this script prints, so a unit that fails shows the end of its harness log and of the logs of
# the servers it started last: enough to tell a hung server from a failed assertion without the files.
show_failure() {
    local unit="$1" slug log
    slug="$(slug_of "$unit")"
    echo "tcl: --- end of the harness log of $unit ---"
    tail -n 15 "$results/logs/$slug.log" | sed 's/^/    /'
    local tmp="${unit_dir[$unit]}/tests/tmp" f
    [[ -d "$tmp" ]] || return 0
    while IFS= read -r f; do
        echo "tcl: --- end of $f ---"
        tail -n 8 "$f" | sed 's/^/    /'
    done < <(find "$tmp" -name stdout -type f -printf '%T@ %p\n' 2>/dev/null | sort -n | tail -n 4 | cut -d' ' -f2-)
}

finish_one() {
    local pid rc=0
    wait -n -p pid "${!job_unit[@]}" || rc=$?
    local unit="${job_unit[$pid]}"
    local secs=$((SECONDS - job_start[$pid]))
    printf '%s\t%s\t%s\t%s\n' "$unit" "$results/logs/$(slug_of "$unit").log" "$rc" "$secs" >>"$runs"
    echo "tcl: finished $unit in ${secs}s (exit $rc)"
    if [[ $rc -ne 0 ]]; then show_failure "$unit"; fi
    unset "job_unit[$pid]" "job_start[$pid]"
}

echo "tcl: server $server_bin, ${#units[@]} units, $jobs_max at a time, suite $suite"
started=$SECONDS
index=0
for unit in "${units[@]}"; do
    while [[ ${#job_unit[@]} -ge $jobs_max ]]; do
        finish_one
    done
    remaining=$((total_timeout - (SECONDS - started)))
    if [[ $remaining -lt 30 ]]; then
        echo "tcl: total time budget (${total_timeout}s) exhausted; not running $unit"
        echo "[exception]: not run: run.sh total time budget TCL_TOTAL_TIMEOUT=${total_timeout}s exhausted" \
            >"$results/logs/$(slug_of "$unit").log"
        printf '%s\t%s\t%s\t%s\n' "$unit" "$results/logs/$(slug_of "$unit").log" 125 0 >>"$runs"
        continue
    fi
    budget=$((remaining < unit_timeout ? remaining : unit_timeout))
    start_unit "$unit" "$index" "$budget"
    index=$((index + 1))
done
while [[ ${#job_unit[@]} -gt 0 ]]; do
    finish_one
done
echo "tcl: all units done in $((SECONDS - started))s; logs in $results/logs"

rc=0
python3 "$here/results.py" --runs "$runs" --results "$results" --passing "$passing" --known "$known" \
    --reference "$reference" --mode "$mode" || rc=$?

# One rerun of the units with regressions (see rerun.sh for why).
rerun_file="$results/regressed-units.txt"
if [[ "$mode" == check && $rc -ne 0 && -s "$rerun_file" && "${TCL_RERUN:-1}" -gt 0 ]] &&
    rerun_regressions_once tcl "$rerun_file" bash "$0" --check --units "$units_file" --passing "$passing" \
        --deferred "$deferred" --results "$results/rerun" "$server_bin"; then
    rc=0
fi
exit $rc
