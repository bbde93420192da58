#!/usr/bin/env bash
# Smoke test with Debian's real redis-cli and redis-benchmark against a server binary: one-shot commands in the
# default (non-tty, raw) mode, --no-raw, --raw, -3 (RESP3), commands read from stdin, --pipe, -x, --scan,
# --bigkeys, -n, and `redis-benchmark -q -n 2000` with no error in its output.
#
# Usage: compat/pyclient/cli_smoke.sh SERVER_BIN
# Env: REDIS_CLI, REDIS_BENCHMARK (default: Debian's in /usr/bin).
# The server listens on 127.0.0.1 only, on a free port, and is killed by pid on exit. Every wait is bounded.
# Prints one PASS/FAIL line per check and `N passed, M failed` last; exits non-zero on any failure.
set -euo pipefail

server_bin="${1:-}"
if [[ -z "$server_bin" ]]; then
    echo "usage: compat/pyclient/cli_smoke.sh SERVER_BIN" >&2
    exit 2
fi
if [[ ! -x "$server_bin" ]]; then
    echo "cli-smoke: server binary '$server_bin' does not exist or is not executable" >&2
    exit 2
fi
cli_bin="${REDIS_CLI:-/usr/bin/redis-cli}"
bench_bin="${REDIS_BENCHMARK:-/usr/bin/redis-benchmark}"

workdir="$(mktemp -d /tmp/redoxide-cli-smoke.XXXXXX)"
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$server_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$server_pid" 2>/dev/null || true
    fi
    if [[ "${keep_workdir:-0}" != 1 ]]; then
        rm -rf "$workdir"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_server() {
    local attempt
    for attempt in 1 2 3; do
        port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
        "$server_bin" --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$workdir" \
            >"$workdir/server.log" 2>&1 </dev/null &
        server_pid=$!
        for _ in $(seq 1 100); do
            if ! kill -0 "$server_pid" 2>/dev/null; then
                break
            fi
            if [[ "$(timeout 2 "$cli_bin" -h 127.0.0.1 -p "$port" ping 2>/dev/null)" == "PONG" ]]; then
                return 0
            fi
            sleep 0.1
        done
        echo "cli-smoke: server did not answer PING (attempt $attempt); log tail:"
        tail -n 15 "$workdir/server.log" || true
        kill -KILL "$server_pid" 2>/dev/null || true
        server_pid=""
    done
    return 1
}

passed=0
failed=0
pass() {
    passed=$((passed + 1))
    echo "PASS $1"
}
fail() {
    failed=$((failed + 1))
    echo "FAIL $1"
}

# expect DESCRIPTION EXPECTED_OUTPUT ARGS... : runs redis-cli ARGS against the server and compares its output
# (stdout and stderr, trailing blank lines removed) with EXPECTED_OUTPUT.
expect() {
    local what="$1" wanted="$2"
    shift 2
    local got
    got="$(timeout 10 "$cli_bin" -h 127.0.0.1 -p "$port" "$@" 2>&1 </dev/null || true)"
    if [[ "$got" == "$wanted" ]]; then
        pass "$what"
    else
        fail "$what: redis-cli $*"
        echo "     expected: $(printf '%q' "$wanted")"
        echo "          got: $(printf '%q' "$got")"
    fi
}

# expect_stdin DESCRIPTION EXPECTED_OUTPUT INPUT ARGS... : the same, feeding INPUT on stdin.
expect_stdin() {
    local what="$1" wanted="$2" input="$3"
    shift 3
    local got
    got="$(printf '%b' "$input" | timeout 10 "$cli_bin" -h 127.0.0.1 -p "$port" "$@" 2>&1 || true)"
    if [[ "$got" == "$wanted" ]]; then
        pass "$what"
    else
        fail "$what: redis-cli $*"
        echo "     expected: $(printf '%q' "$wanted")"
        echo "          got: $(printf '%q' "$got")"
    fi
}

if ! start_server; then
    keep_workdir=1
    echo "0 passed, 1 failed"
    exit 1
fi
echo "cli-smoke: $server_bin on 127.0.0.1:$port, $("$cli_bin" --version)"

expect "ping" "PONG" ping
expect "set" "OK" set smoke:k v
expect "get" "v" get smoke:k
expect "get missing (raw mode prints nothing)" "" get smoke:missing
expect "get missing --no-raw" "(nil)" --no-raw get smoke:missing
expect "incr --no-raw" "(integer) 1" --no-raw incr smoke:n
expect "incr --raw" "2" --raw incr smoke:n
expect "wrong arity error --no-raw" "(error) ERR wrong number of arguments for 'set' command" --no-raw set
expect "wrong type error --raw" "WRONGTYPE Operation against a key holding the wrong kind of value" \
    --raw lpush smoke:k x
expect "rpush" "3" rpush smoke:l a b c
expect "lrange --no-raw" $'1) "a"\n2) "b"\n3) "c"' --no-raw lrange smoke:l 0 -1
expect "lrange --raw" $'a\nb\nc' --raw lrange smoke:l 0 -1
expect "hset RESP3" "(integer) 1" -3 --no-raw hset smoke:h f v
expect "hgetall RESP3 map --no-raw" '1# "f" => "v"' -3 --no-raw hgetall smoke:h
expect "zadd" "2" zadd smoke:z 1 a 2.5 b
expect "zscore RESP3 double --no-raw" '(double) 2.5' -3 --no-raw zscore smoke:z b
expect "zrange withscores --raw" $'a\n1\nb\n2.5' --raw zrange smoke:z 0 -1 withscores
expect "select via -n" "OK" -n 1 set smoke:db1 x
expect "dbsize via -n" "1" -n 1 dbsize
expect "set an empty string" "OK" set smoke:empty ""
expect "strlen of empty" "0" strlen smoke:empty
expect "utf-8 value --raw" "h$(printf '\xc3\xa9')llo" --raw echo "h$(printf '\xc3\xa9')llo"
expect "utf-8 value --no-raw" '"h\xc3\xa9llo"' --no-raw echo "h$(printf '\xc3\xa9')llo"
expect "type" "list" type smoke:l
expect "ttl without expire" "-1" ttl smoke:l
scanned="$(timeout 20 "$cli_bin" -h 127.0.0.1 -p "$port" --scan --pattern 'smoke:[lzq]' 2>&1 | sort || true)"
if [[ "$scanned" == $'smoke:l\nsmoke:z' ]]; then
    pass "--scan --pattern"
else
    fail "--scan --pattern 'smoke:[lzq]': got $(printf '%q' "$scanned")"
fi
expect "unknown command" "ERR unknown command 'nosuchcmd', with args beginning with: 'x' " nosuchcmd x
expect_stdin "commands from stdin" $'OK\n1\n2' 'SET smoke:a 1\nGET smoke:a\nINCR smoke:a\n'
expect_stdin "-x reads the last argument from stdin" "OK" 'blob\ndata' -x set smoke:blob
expect "value set by -x" "9" strlen smoke:blob
expect_stdin "--pipe mass insertion" $'All data transferred. Waiting for the last reply...\nLast reply received from server.\nerrors: 0, replies: 2' \
    '*3\r\n$3\r\nSET\r\n$7\r\nsmoke:p\r\n$1\r\ny\r\n*2\r\n$3\r\nGET\r\n$7\r\nsmoke:p\r\n' --pipe

info="$(timeout 20 "$cli_bin" -h 127.0.0.1 -p "$port" info server 2>&1 || true)"
if grep -q '^redis_version:' <<<"$info" && grep -q '^tcp_port:'"$port" <<<"$(tr -d '\r' <<<"$info")"; then
    pass "info server has redis_version and the right tcp_port"
else
    fail "info server: $(head -c 300 <<<"$info")"
fi

bigkeys="$(timeout 60 "$cli_bin" -h 127.0.0.1 -p "$port" --bigkeys 2>&1 || true)"
if grep -q "Biggest   list found '\"smoke:l\"' has 3 items" <<<"$bigkeys" &&
    grep -q "Biggest   hash found '\"smoke:h\"' has 1 fields" <<<"$bigkeys" &&
    grep -q "^1 zsets with 2 members" <<<"$bigkeys"; then
    pass "--bigkeys"
else
    fail "--bigkeys output:"
    sed 's/^/     /' <<<"$bigkeys" | tail -n 20
fi

bench_rc=0
timeout 300 "$bench_bin" -h 127.0.0.1 -p "$port" -q -n 2000 >"$workdir/benchmark.out" 2>&1 </dev/null || bench_rc=$?
# -q rewrites a progress line with \r; the final line of each test ends in "requests per second".
results="$(tr '\r' '\n' <"$workdir/benchmark.out" | grep -c 'requests per second' || true)"
errors="$(tr '\r' '\n' <"$workdir/benchmark.out" | grep -Ei 'ERR|error' || true)"
if [[ $bench_rc -eq 0 && -z "$errors" && $results -ge 20 ]]; then
    pass "redis-benchmark -q -n 2000 ($results tests)"
else
    fail "redis-benchmark -q -n 2000: exit $bench_rc, $results result lines, errors:"
    sed 's/^/     /' <<<"$errors" | head -n 10
fi

if ! kill -0 "$server_pid" 2>/dev/null; then
    fail "server still running at the end"
fi
if [[ $failed -gt 0 ]]; then
    keep_workdir=1
    echo "server log: $workdir/server.log"
fi
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
