#!/usr/bin/env bash
# What one AOF rewrite costs in CPU: redis-server 7.0.15 (its fork child included) against redoxide-server.
#
# For each server, in turn: start it pinned to SERVER_CPU on a free 127.0.0.1 port in a temp directory
# (--appendonly yes --appendfsync everysec, automatic rewrites off, no save points), fill it with
# `redis-benchmark -n N -r 1000000 -d 64 -t set -P 16 -c 50` run FILLS times on CLIENT_CPU (random 64-byte
# values, the dataset bench/run.sh --aof writes), then run BGREWRITEAOF K times on the idle server and read its
# CPU time (utime + stime + the reaped children's, from /proc/PID/stat, 10 ms ticks) around each, waiting until
# INFO says no rewrite is in progress or scheduled. Prints each rewrite's CPU in ms, the median, and the median
# per key. Every server is ended by its pid; every wait is bounded.
#
# usage: bench/rewrite-cost.sh [--requests N] [--fills F] [--rewrites K] [--server BIN] [--redis BIN]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
requests=500000
fills=4
rewrites=6
server_bin=${REDOXIDE_SERVER:-$here/../target/release/redoxide-server}
redis_bin=${REDIS_SERVER:-/usr/bin/redis-server}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
while [[ $# -gt 0 ]]; do
    case $1 in
    --requests) requests=${2:?}; shift ;;
    --fills) fills=${2:?}; shift ;;
    --rewrites) rewrites=${2:?}; shift ;;
    --server) server_bin=${2:?}; shift ;;
    --redis) redis_bin=${2:?}; shift ;;
    -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "rewrite-cost.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
for tool in redis-benchmark redis-cli taskset python3 "$server_bin" "$redis_bin"; do
    command -v "$tool" >/dev/null || { echo "rewrite-cost.sh: missing $tool" >&2; exit 2; }
done

clk_tck=$(getconf CLK_TCK)
pid=""
dir=""
cleanup() {
    if [[ -n $pid ]]; then
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    [[ -n $dir ]] && rm -rf "$dir"
    pid=""
    dir=""
}
trap cleanup EXIT INT TERM

# CPU ticks of the process, its threads and its reaped children.
ticks() { awk '{print $14 + $15 + $16 + $17}' "/proc/$1/stat"; }

info_field() { redis-cli -p "$1" INFO persistence | tr -d '\r' | sed -n "s/^$2://p"; }

measure() {
    local name=$1 bin=$2 port i t0 t1 keys
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    dir=$(mktemp -d /tmp/rewrite-cost.XXXX)
    (cd "$dir" && exec taskset -c "$SERVER_CPU" "$bin" --port "$port" --bind 127.0.0.1 --dir "$dir" --save "" \
        --appendonly yes --appendfsync everysec --auto-aof-rewrite-percentage 0 >"$dir/log" 2>&1) &
    pid=$!
    for ((i = 0; i < 100; i++)); do
        redis-cli -p "$port" PING 2>/dev/null | grep -q PONG && break
        sleep 0.1
    done
    for ((i = 0; i < fills; i++)); do
        timeout 300 taskset -c "$CLIENT_CPU" redis-benchmark -p "$port" -n "$requests" -r 1000000 -d 64 -t set \
            -P 16 -c 50 -q >/dev/null 2>&1
    done
    keys=$(redis-cli -p "$port" DBSIZE)
    local costs=()
    for ((i = 0; i < rewrites; i++)); do
        t0=$(ticks "$pid")
        redis-cli -p "$port" BGREWRITEAOF >/dev/null
        local waited
        for ((waited = 0; waited < 600; waited++)); do
            sleep 0.1
            [[ $(info_field "$port" aof_rewrite_in_progress) == 0 && $(info_field "$port" aof_rewrite_scheduled) == 0 ]] && break
        done
        sleep 0.2
        t1=$(ticks "$pid")
        costs+=($(((t1 - t0) * 1000 / clk_tck)))
    done
    python3 - "$name" "$keys" "${costs[@]}" <<'EOF'
import statistics, sys
name, keys, costs = sys.argv[1], int(sys.argv[2]), [int(c) for c in sys.argv[3:]]
med = statistics.median(costs)
print("%-9s %8d keys  rewrite CPU ms: %s  median %.0f ms, %.0f ns per key" % (
    name, keys, " ".join(map(str, costs)), med, med * 1e6 / max(keys, 1)))
EOF
    cleanup
}

echo "rewrite-cost: $fills x redis-benchmark -n $requests -r 1000000 -d 64 -t set -P 16, then $rewrites BGREWRITEAOFs" \
    "each; server cpu $SERVER_CPU, client cpu $CLIENT_CPU"
measure redis "$redis_bin"
measure redoxide "$server_bin"
