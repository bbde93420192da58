#!/usr/bin/env bash
# Side-by-side benchmark of Debian's redis-server (role A, "redis") and redoxide-server (role B,
# "redoxide"), following the protocol in shared/reference/performance.md. Prints ratios
# redoxide/redis and writes raw rows to bench/results/. See bench/README.md for how to read it.
#
# This script only ever talks to 127.0.0.1, starts every server itself, kills each one by pid on
# exit, and bounds every wait (server start, cluster_state:ok, each redis-benchmark run).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

REDIS_SERVER=${REDIS_SERVER:-/usr/bin/redis-server}
REDOXIDE_SERVER=${REDOXIDE_SERVER:-$repo/target/release/redoxide-server}
# One worker thread for redoxide: the comparison is per core.
REDOXIDE_ARGS=${REDOXIDE_ARGS:---io-threads 1}
REDIS_ARGS=${REDIS_ARGS:-}
BENCH=${REDIS_BENCHMARK:-redis-benchmark}
CLI=${REDIS_CLI:-redis-cli}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}

requests=1000000
rounds=3
pipelines="1 16 64"
clients_list="50"
only=""
breadth_pipeline=16
memory_keys=1000000
memory_pipeline=32
memory_value_bytes=16
modes="standalone"
do_throughput=1
do_breadth=1
do_memory=1
bench_timeout_s=600
aof_policies=""
# What every server starts with for persistence; the AOF run replaces it per policy.
persistence_args=(--appendonly no)
keep_tmp=0
results_dir="$here/results"

throughput_tests="set get"
breadth_tests="set get incr lpush rpush lpop rpop sadd hset spop zadd lrange_100"

usage() {
    cat <<EOF
usage: bench/run.sh [options]

Runs redis-server (A) and redoxide-server (B) side by side, interleaved A B A B, and prints
ratios redoxide/redis for requests/s, server CPU per request and memory bytes/key.

  --server PATH          redoxide binary (env REDOXIDE_SERVER; default target/release/redoxide-server)
  --redis PATH           redis binary (env REDIS_SERVER; default /usr/bin/redis-server)
  --quick                smoke run: -n 50000, 2 rounds, 100000 keys for memory
  --only LIST            only these tests, e.g. set,get (applies to throughput and breadth runs)
  --pipelines LIST       pipeline depths for the set/get run (default "1 16 64"; "16" or "1,16")
  --clients LIST         connection counts (default "50"; the protocol also uses "1 50 500")
  -n, --requests N       requests per redis-benchmark run (default $requests)
  --rounds N             interleaved rounds per workload (default $rounds)
  --breadth-pipeline N   pipeline depth of the breadth run (default $breadth_pipeline)
  --memory-keys N        -n and -r of the memory run (default $memory_keys; the full protocol uses 10000000)
  --cluster              also run everything in cluster mode (one-node cluster owning all slots)
  --cluster-only         run only in cluster mode
  --no-throughput, --no-breadth, --no-memory   skip a workload
  --aof LIST             also run SET at P=$breadth_pipeline with each AOF policy in LIST, each on its own fresh
                         pair of servers with an AOF in their own directory, all started at once and their rounds
                         interleaved: off (appendonly no), no, everysec, always; e.g.
                         "off,no,everysec,always". The summary gives each server's requests/s as a fraction of
                         its own "off" (the AOF's cost) besides the usual redoxide/redis ratios
  --timeout S            bound on each redis-benchmark run (default $bench_timeout_s)
  --keep                 keep the temporary server directories (logs) under /tmp
  -h, --help

Environment: REDOXIDE_ARGS (default "--io-threads 1"), REDIS_ARGS, SERVER_CPU (0), CLIENT_CPU (1),
REDIS_BENCHMARK, REDIS_CLI.
EOF
}

die() {
    echo "run.sh: $*" >&2
    exit 2
}

list_words() { echo "${1//,/ }"; }

while (($#)); do
    case $1 in
    --server) REDOXIDE_SERVER=${2:?}; shift ;;
    --redis) REDIS_SERVER=${2:?}; shift ;;
    --quick) requests=50000; rounds=2; memory_keys=100000 ;;
    --only) only=$(list_words "${2:?}"); shift ;;
    --pipelines) pipelines=$(list_words "${2:?}"); shift ;;
    --clients) clients_list=$(list_words "${2:?}"); shift ;;
    -n | --requests) requests=${2:?}; shift ;;
    --rounds) rounds=${2:?}; shift ;;
    --breadth-pipeline) breadth_pipeline=${2:?}; shift ;;
    --memory-keys) memory_keys=${2:?}; shift ;;
    --cluster) modes="standalone cluster" ;;
    --cluster-only) modes="cluster" ;;
    --no-throughput) do_throughput=0 ;;
    --no-breadth) do_breadth=0 ;;
    --no-memory) do_memory=0 ;;
    --aof) aof_policies=$(list_words "${2:?}"); shift ;;
    --timeout) bench_timeout_s=${2:?}; shift ;;
    --keep) keep_tmp=1 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
    esac
    shift
done

for policy in $aof_policies; do
    [[ $policy =~ ^(off|no|everysec|always)$ ]] || die "unknown AOF policy: $policy (off, no, everysec, always)"
done
for v in "$requests" "$rounds" "$breadth_pipeline" "$memory_keys" "$bench_timeout_s" $pipelines $clients_list; do
    [[ $v =~ ^[0-9]+$ && $v -gt 0 ]] || die "not a positive integer: '$v'"
done
for tool in "$BENCH" "$CLI" taskset timeout python3; do
    command -v "$tool" >/dev/null || die "missing tool: $tool"
done
[[ -x $REDIS_SERVER ]] || die "redis-server not found: $REDIS_SERVER"
read -r -a redoxide_args <<<"$REDOXIDE_ARGS"
read -r -a redis_args <<<"$REDIS_ARGS"
clk_tck=$(getconf CLK_TCK)

selected() { # test name -> is it in --only (or is there no --only)?
    [[ -z $only ]] && return 0
    local t
    for t in $only; do [[ $t == "$1" ]] && return 0; done
    return 1
}

# ---------------------------------------------------------------------------------------------
# Process bookkeeping: every server we start is recorded in `live` and killed by pid on exit.

declare -A live=()
declare -A srv_pid=() srv_port=() srv_dir=() srv_error=()
tmp_root=$(mktemp -d /tmp/redoxide-bench.XXXXXX)

alive() { # pid -> running (not a zombie)?
    local state
    state=$(awk '{ sub(/^.*\) /, ""); print $1 }' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n $state && $state != Z ]]
}

stop_pid() {
    local pid=$1 i
    [[ -n ${live[$pid]:-} ]] || return 0
    if alive "$pid"; then
        kill -TERM "$pid" 2>/dev/null
        for ((i = 0; i < 50; i++)); do
            alive "$pid" || break
            sleep 0.1
        done
        alive "$pid" && kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    unset "live[$pid]"
}

cleanup() {
    local pid
    for pid in "${!live[@]}"; do stop_pid "$pid"; done
    if ((keep_tmp)); then
        echo "server directories kept in $tmp_root"
    else
        rm -rf "$tmp_root"
    fi
}
trap cleanup EXIT
trap 'echo "run.sh: interrupted" >&2; exit 130' INT TERM

# A label is A (redis-server) or B (redoxide), optionally with ":<what differs>" (the AOF run's "A:everysec").
name_of() { [[ ${1%%:*} == A ]] && echo redis || echo redoxide; }

cli() { # label args... -> one redis-cli call, bounded
    timeout 5 "$CLI" -h 127.0.0.1 -p "${srv_port[$1]}" "${@:2}" 2>&1
}

free_port() { # a port p with p and p+10000 (cluster bus) both free on 127.0.0.1
    python3 - <<'EOF'
import random, socket
for _ in range(200):
    p = random.randint(20000, 54000)
    ok = True
    for q in (p, p + 10000):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", q))
        except OSError:
            ok = False
        finally:
            s.close()
    if ok:
        print(p)
        break
else:
    raise SystemExit(1)
EOF
}

# start_server LABEL MODE: starts a fresh server, waits for PING (and cluster_state:ok in cluster
# mode). On failure returns 1 with the reason in srv_error[LABEL].
start_server() {
    local label=$1 mode=$2 bin port dir pid i reply
    local args=() cluster_args=()
    if [[ ${label%%:*} == A ]]; then
        bin=$REDIS_SERVER
        args=("${redis_args[@]}")
    else
        bin=$REDOXIDE_SERVER
        args=("${redoxide_args[@]}")
    fi
    srv_error[$label]=""
    srv_pid[$label]=""
    if [[ ! -x $bin ]]; then
        srv_error[$label]="binary not found or not executable: $bin"
        return 1
    fi
    port=$(free_port) || {
        srv_error[$label]="no free port found"
        return 1
    }
    dir=$(mktemp -d "$tmp_root/$label-$mode.XXXX")
    if [[ $mode == cluster ]]; then
        cluster_args=(--cluster-enabled yes --cluster-config-file "$dir/nodes.conf")
    fi
    (cd "$dir" && exec taskset -c "$SERVER_CPU" "$bin" --port "$port" --bind 127.0.0.1 --save "" \
        --dir "$dir" "${persistence_args[@]}" "${cluster_args[@]}" "${args[@]}" >"$dir/server.log" 2>&1) &
    pid=$!
    live[$pid]=1
    srv_port[$label]=$port
    srv_dir[$label]=$dir
    for ((i = 0; i < 100; i++)); do
        if ! alive "$pid"; then
            wait "$pid"
            srv_error[$label]="exited during startup (status $?): $(tail -n 3 "$dir/server.log" | tr '\n' ' ')"
            unset "live[$pid]"
            return 1
        fi
        [[ $(cli "$label" ping) == PONG ]] && break
        sleep 0.1
    done
    if ((i == 100)); then
        srv_error[$label]="no PONG within 10 s"
        stop_pid "$pid"
        return 1
    fi
    srv_pid[$label]=$pid
    if [[ $mode == cluster ]]; then
        reply=$(cli "$label" cluster addslotsrange 0 16383)
        if [[ $reply != OK ]]; then
            srv_error[$label]="CLUSTER ADDSLOTSRANGE 0 16383 answered: $reply"
            stop_server "$label"
            return 1
        fi
        for ((i = 0; i < 200; i++)); do
            cli "$label" cluster info | grep -q '^cluster_state:ok' && break
            sleep 0.1
        done
        if ((i == 200)); then
            srv_error[$label]="no cluster_state:ok within 20 s"
            stop_server "$label"
            return 1
        fi
    fi
    return 0
}

stop_server() {
    local label=$1
    [[ -n ${srv_pid[$label]:-} ]] && stop_pid "${srv_pid[$label]}"
    srv_pid[$label]=""
}

cpu_ticks() { # utime + stime of the whole process, in clock ticks
    awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null
}

rss_kb() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null
}

# ---------------------------------------------------------------------------------------------
# Results

mkdir -p "$results_dir"
stamp=$(date +%Y%m%d-%H%M%S)
csv="$results_dir/$stamp.csv"
echo "kind,mode,workload,test,pipeline,clients,round,server,requests,rps,avg_ms,p50_ms,p99_ms,cpu_s,cpu_us_per_req,keys,rss_before_kb,rss_after_kb,bytes_per_key,status" >"$csv"

csv_row() { # exactly 20 fields; the last (status/reason) is quoted, commas and quotes removed
    (($# == 20)) || die "csv_row: $# fields"
    local status=${20//[,\"]/ }
    (IFS=,; echo "${*:1:19},\"$status\"") >>"$csv"
}

# run_bench LABEL MODE WORKLOAD TEST PIPELINE CLIENTS ROUND N -- redis-benchmark args...
# Runs one redis-benchmark against server LABEL, measuring the server's CPU around it.
# Sets last_status and last_rows (CSV fields rps..cpu_us_per_req of the first result row).
run_bench() {
    local label=$1 mode=$2 workload=$3 test=$4 pipeline=$5 clients=$6 round=$7 n=$8
    shift 9
    local pid=${srv_pid[$label]} port=${srv_port[$label]}
    local out="$tmp_root/bench.out" err="$tmp_root/bench.err"
    local t0 t1 rc status rows rps avg p50 p99 cpu_s cpu_us total
    local bench_pid i died=0
    t0=$(cpu_ticks "$pid")
    # In the background and polled: redis-benchmark hangs forever if the server dies under it, and
    # a foreground child would also delay our INT/TERM trap until it finished.
    timeout "$bench_timeout_s" taskset -c "$CLIENT_CPU" "$BENCH" -h 127.0.0.1 -p "$port" -n "$n" \
        -c "$clients" -P "$pipeline" --threads 1 --csv "$@" >"$out" 2>"$err" &
    bench_pid=$!
    live[$bench_pid]=1
    for ((i = 0; i < bench_timeout_s * 20 + 100; i++)); do
        alive "$bench_pid" || break
        if ! alive "$pid"; then
            died=1
            kill -TERM "$bench_pid" 2>/dev/null
        fi
        sleep 0.05
    done
    alive "$bench_pid" && kill -KILL "$bench_pid" 2>/dev/null
    wait "$bench_pid"
    rc=$?
    unset "live[$bench_pid]"
    t1=$(cpu_ticks "$pid")
    status=ok
    if ((died)) || ! alive "$pid"; then
        status=server-died
    elif ((rc == 124)); then
        status=timeout
    elif grep -q 'Error from server' "$err"; then
        status=error-reply
    elif ((rc != 0)); then
        status=failed-rc$rc
    fi
    rows=$(grep -v '^"test"' "$out" | grep -c '^"')
    if ((rows == 0)) && [[ $status == ok ]]; then
        status=no-output
    fi
    rps="" avg="" p50="" p99="" cpu_s="" cpu_us=""
    if ((rows > 0)); then
        IFS=, read -r _ rps avg _ p50 _ p99 _ < <(grep -v '^"test"' "$out" | grep '^"' | head -n 1 | tr -d '"')
    fi
    if [[ -n $t0 && -n $t1 && $status == ok ]]; then
        total=$((n * rows))
        cpu_s=$(awk -v d=$((t1 - t0)) -v hz="$clk_tck" 'BEGIN { printf "%.3f", d / hz }')
        cpu_us=$(awk -v d=$((t1 - t0)) -v hz="$clk_tck" -v r="$total" 'BEGIN { printf "%.4f", d / hz * 1e6 / r }')
    fi
    last_status=$status
    last_rps=$rps
    last_cpu_us=$cpu_us
    csv_row run "$mode" "$workload" "$test" "$pipeline" "$clients" "$round" "$(name_of "$label")" \
        $((n * (rows > 0 ? rows : 1))) "$rps" "$avg" "$p50" "$p99" "$cpu_s" "$cpu_us" "" "" "" "" "$status"
    if [[ $status != ok ]]; then
        echo "    $(name_of "$label") $test: $status: $(tail -n 2 "$err" | tr '\n' ' ')"
    fi
}

progress() { # label test pipeline clients round
    printf '  %-10s %-12s P=%-3s c=%-4s round %s/%s  %-8s %10s rps  %8s us/req  %s\n' \
        "[$mode]" "$2" "$3" "$4" "$5" "$rounds" "$(name_of "$1")" "${last_rps:--}" "${last_cpu_us:--}" \
        "$([[ $last_status == ok ]] || echo "$last_status")"
}

# bench_args TEST -> redis-benchmark arguments for one breadth/throughput test
bench_args() {
    case $1 in
    lrange_100) echo "-r 1000000 -d 64 LRANGE mylist 0 99" ;;
    *) echo "-r 1000000 -d 64 -t $1" ;;
    esac
}

# prefill TEST LABEL: untimed setup a test needs (LRANGE needs a list of at least 100 elements).
prefill() {
    if [[ $1 == lrange_100 ]]; then
        timeout 60 taskset -c "$CLIENT_CPU" "$BENCH" -h 127.0.0.1 -p "${srv_port[$2]}" -n 200 -c 1 \
            -d 64 -t lpush >/dev/null 2>&1
    fi
}

# interleaved WORKLOAD TEST PIPELINE CLIENTS: rounds of A then B on the running servers.
interleaved() {
    local workload=$1 test=$2 pipeline=$3 clients=$4 round label
    local -a args
    read -r -a args <<<"$(bench_args "$test")"
    for ((round = 1; round <= rounds; round++)); do
        for label in A B; do
            [[ -n ${srv_pid[$label]} ]] || continue
            ((round == 1)) && prefill "$test" "$label"
            run_bench "$label" "$mode" "$workload" "$test" "$pipeline" "$clients" "$round" "$requests" \
                -- "${args[@]}"
            progress "$label" "$test" "$pipeline" "$clients" "$round"
            if [[ $last_status == server-died ]]; then
                echo "  !! $(name_of "$label") died; log tail: $(tail -n 5 "${srv_dir[$label]}/server.log" | tr '\n' ' ')"
                stop_server "$label"
            fi
        done
    done
}

# The AOF's cost: the same SET load per appendfsync policy, each policy on its own fresh pair of servers (an
# empty AOF), all started at once and their rounds interleaved (round 1 of every policy, then round 2, ...).
# Rejected: one policy after the other, which put minutes of this shared machine's drift between "off" and the
# policy it is compared with and made the cost swing by as much as it measures.
aof_interleaved() {
    local policy side label round
    local -a args labels=()
    read -r -a args <<<"$(bench_args set)"
    for policy in $aof_policies; do
        case $policy in
        off) persistence_args=(--appendonly no) ;;
        no | everysec | always) persistence_args=(--appendonly yes --appendfsync "$policy") ;;
        *) die "unknown AOF policy: $policy (off, no, everysec, always)" ;;
        esac
        for side in A B; do
            if start_server "$side:$policy" "$mode"; then
                labels+=("$side:$policy")
            else
                echo "  !! $(name_of "$side") ($mode mode, appendfsync $policy) unavailable: ${srv_error[$side:$policy]}"
            fi
        done
    done
    persistence_args=(--appendonly no)
    for ((round = 1; round <= rounds; round++)); do
        for label in "${labels[@]}"; do
            [[ -n ${srv_pid[$label]} ]] || continue
            policy=${label#*:}
            run_bench "$label" "$mode" "aof-$policy" set "$breadth_pipeline" 50 "$round" "$requests" -- "${args[@]}"
            progress "$label" "set/$policy" "$breadth_pipeline" 50 "$round"
            if [[ $last_status == server-died ]]; then
                echo "  !! $(name_of "$label") died; log tail: $(tail -n 5 "${srv_dir[$label]}/server.log" | tr '\n' ' ')"
                stop_server "$label"
            fi
        done
    done
    for label in "${labels[@]}"; do
        stop_server "$label"
    done
}

start_pair() { # MODE: starts A and B; B failing is reported, A failing is fatal
    local mode=$1
    start_server A "$mode" || die "redis-server ($mode) failed to start: ${srv_error[A]}"
    if ! start_server B "$mode"; then
        echo "  !! redoxide ($mode mode) unavailable: ${srv_error[B]}"
        if [[ $mode == cluster ]]; then
            echo "  !! (expected until redoxide implements cluster mode; redis rows are still measured)"
        fi
        csv_row unavailable "$mode" start "" "" "" "" redoxide "" "" "" "" "" "" "" "" "" "" "" \
            "${srv_error[B]}"
    fi
}

memory_run() { # LABEL: fresh server, SET memory_keys random keys, bytes/key = dRSS / DBSIZE
    local label=$1 rss0 rss1 keys bpk last
    local -a f
    if ! start_server "$label" "$mode"; then
        echo "  !! $(name_of "$label") ($mode mode) unavailable for the memory run: ${srv_error[$label]}"
        csv_row unavailable "$mode" memory "" "" "" "" "$(name_of "$label")" "" "" "" "" "" "" "" "" "" "" "" \
            "${srv_error[$label]}"
        return
    fi
    rss0=$(rss_kb "${srv_pid[$label]}")
    run_bench "$label" "$mode" memory set "$memory_pipeline" 50 1 "$memory_keys" -- \
        -t set -r "$memory_keys" -d "$memory_value_bytes"
    keys=$(cli "$label" dbsize)
    rss1=$(rss_kb "${srv_pid[$label]}")
    bpk=""
    if [[ $keys =~ ^[0-9]+$ && $keys -gt 0 && -n $rss0 && -n $rss1 ]]; then
        bpk=$(awk -v a="$rss0" -v b="$rss1" -v k="$keys" 'BEGIN { printf "%.1f", (b - a) * 1024 / k }')
    else
        keys=""
    fi
    # Rewrite the row run_bench appended: it is a memory row, with the RSS figures filled in.
    last=$(tail -n 1 "$csv")
    sed -i '$d' "$csv"
    IFS=, read -r -a f <<<"$last"
    f[0]=memory
    f[15]=$keys
    f[16]=$rss0
    f[17]=$rss1
    f[18]=$bpk
    f[19]=${f[19]//\"/}
    csv_row "${f[@]:0:20}"
    printf '  %-10s memory       %-8s keys=%-9s RSS %s kB -> %s kB  %s bytes/key  %s\n' "[$mode]" \
        "$(name_of "$label")" "${keys:--}" "${rss0:--}" "${rss1:--}" "${bpk:--}" \
        "$([[ $last_status == ok ]] || echo "$last_status")"
    stop_server "$label"
}

# ---------------------------------------------------------------------------------------------

summary="${csv%.csv}.txt"
{
    echo "redoxide bench $stamp"
    echo "  A redis:    $REDIS_SERVER ${REDIS_ARGS}"
    echo "  B redoxide: $REDOXIDE_SERVER ${REDOXIDE_ARGS}"
    echo "  server cpu $SERVER_CPU, client cpu $CLIENT_CPU; -n $requests, $rounds rounds, pipelines [$pipelines]," \
        "clients [$clients_list], breadth P=$breadth_pipeline, memory keys $memory_keys, modes [$modes]"
    echo "  $("$BENCH" --version 2>/dev/null | head -n 1);$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)," \
        "$(nproc) cpus, load average $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$summary"

for mode in $modes; do
    echo
    echo "== $mode =="
    if ((do_throughput || do_breadth)); then
        start_pair "$mode"
        if ((do_throughput)); then
            for clients in $clients_list; do
                for pipeline in $pipelines; do
                    for test in $throughput_tests; do
                        selected "$test" && interleaved throughput "$test" "$pipeline" "$clients"
                    done
                done
            done
        fi
        if ((do_breadth)); then
            for test in $breadth_tests; do
                selected "$test" && interleaved breadth "$test" "$breadth_pipeline" 50
            done
        fi
        stop_server A
        stop_server B
    fi
    [[ -n $aof_policies ]] && aof_interleaved
    if ((do_memory)); then
        memory_run A
        memory_run B
    fi
done

echo
echo >>"$summary"
python3 "$here/summarize.py" "$csv" | tee -a "$summary"
echo
echo "raw rows: $csv"
echo "summary:  $summary"
