#!/usr/bin/env bash
# Runs every test of the project, in order, stopping at the first step that fails:
#   deps          Debian packages the compat tests need (compat/install-deps.sh; skipped when all are there)
#   build         cargo build --release
#   unit          cargo test --workspace (debug: compiling the tests with the release profile's LTO took 7 min
#                 on 2 busy cores against 1 min in debug, and they run in 30 s either way)
#   fmt           cargo fmt --all --check
#   clippy        cargo clippy --workspace --all-targets -- -D warnings
#   differential  compat/differential/selftest.py, then run.py: replies compared byte for byte with Debian's
#                 redis-server; then crossrestore.py: DUMP on one implementation, RESTORE on the other
#   redis-py      compat/pyclient/run.sh: redis-py 8 (RESP3 and RESP2) against the server
#   redis-cli     compat/pyclient/cli_smoke.sh: redis-cli one-shot modes and redis-benchmark
#   cli           compat/cli/diff.py: redoxide-cli against Debian's redis-cli, same commands, stdout/stderr/exit
#                 compared byte for byte; on Debian's redis-server (with -c on a two-node cluster), then on ours
#   cluster       compat/cluster/test_cluster.py: six nodes configured as the seed configures them, joined by Debian's
#                 redis-cli --cluster create, checked by redis-cli --cluster check, used by redis-py 8's RedisCluster
#                 (the seed's examples) and redis-benchmark --cluster, restarted, and mixed with redis-server nodes;
#                 then compat/cluster/test_partition.py: a master cut off by iptables in a private network namespace
#                 (redis-server first, then ours: same scenario, same assertions)
#   cli-cluster   compat/cli-cluster/run.py: redoxide-cli --cluster (create, add-node, rebalance, reshard, fix,
#                 del-node, call, info, bad input) on 6-8 node clusters, each step checked with Debian's
#                 `redis-cli --cluster check`, outputs compared with redis-cli's; once per server in
#                 CLI_CLUSTER_SERVERS
#   cluster-up    compat/cluster-up/test_cluster_up.py: redoxide-cli --cluster up (--cluster-detach and foreground
#                 with Ctrl-C), the seed's Python examples against it, --cluster health against the seed's
#                 monitoring script, down, up again (same ids, slots and keys), bad input; deploy/docker-compose.yml's
#                 command lines started locally and joined into a healthy cluster; the systemd unit verified
#   tcl           compat/tcl/selftest.py, then run.sh --check: Redis 7.0.15's Tcl suite; fails if a test in
#                 compat/tcl/passing.txt stops passing; then cluster_selftest.py and run-cluster.sh --check: its
#                 legacy cluster suite (tests/cluster), fails if a test in compat/tcl/cluster-passing.txt stops
#                 passing (TCL_CLUSTER_JOBS units at once, default 2; bounded by TCL_CLUSTER_TIMEOUT, default 780 s)
#   fuzz          fuzz/: the property checks' own tests, then each fuzz target built with libFuzzer's coverage
#                 instrumentation (as cargo-fuzz does, without needing it installed) and run for FUZZ_SECONDS
# Each step prints a banner and its time; the last line is `N passed, M failed` over steps.
#
# Usage: ./test.sh [--only STEP]... [--skip STEP]...
# Env:
#   SERVER_BIN    server under test for the compat steps (default target/release/redoxide-server); e.g.
#                 SERVER_BIN=/usr/bin/redis-server ./test.sh --skip unit checks the compat tooling itself
#   DIFF_SEEDS, DIFF_OPS, DIFF_GROUPS   differential run size (default 5 seeds x 500 ops, all groups)
#   TCL_*         see compat/tcl/run.sh (TCL_TOTAL_TIMEOUT, TCL_UNIT_TIMEOUT, TCL_JOBS, ...) and
#                 compat/tcl/run-cluster.sh (TCL_CLUSTER_TIMEOUT, TCL_CLUSTER_UNIT_TIMEOUT, TCL_CLUSTER_BASEPORT)
#   FUZZ_SECONDS  how long each fuzz target runs (default 12; CI runs everything in 40 minutes on 2 cores)
#   CLI_CLUSTER_SERVERS  servers the cli-cluster step runs against: space-separated, `redis` (Debian's
#                 /usr/bin/redis-server) and/or `redoxide` (SERVER_BIN); default "redis redoxide"
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$root"

all_steps=(deps build unit fmt clippy differential redis-py redis-cli cli cluster cli-cluster cluster-up tcl fuzz)
only=()
skip=()
while [[ $# -gt 0 ]]; do
    case "$1" in
    --only) only+=("$2"); shift ;;
    --skip) skip+=("$2"); shift ;;
    -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "test.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done
for s in "${only[@]}" "${skip[@]}"; do
    if [[ ! " ${all_steps[*]} " == *" $s "* ]]; then
        echo "test.sh: unknown step '$s' (steps: ${all_steps[*]})" >&2
        exit 2
    fi
done

server_bin="${SERVER_BIN:-$root/target/release/redoxide-server}"
diff_seeds="${DIFF_SEEDS:-5}"
diff_ops="${DIFF_OPS:-500}"
diff_groups="${DIFF_GROUPS:-}"

wanted() {
    local step="$1" s
    for s in "${skip[@]}"; do [[ "$s" == "$step" ]] && return 1; done
    [[ ${#only[@]} -eq 0 ]] && return 0
    for s in "${only[@]}"; do [[ "$s" == "$step" ]] && return 0; done
    return 1
}

need_server() {
    if [[ ! -x "$server_bin" ]]; then
        echo "test.sh: server binary $server_bin does not exist (did the build step run? set SERVER_BIN to test another)"
        return 1
    fi
}

step_deps() { bash compat/install-deps.sh; }
step_build() { cargo build --release --workspace; }
step_unit() { cargo test --workspace; }
step_fmt() { cargo fmt --all --check; }
step_clippy() { cargo clippy --workspace --all-targets -- -D warnings; }
step_differential() {
    need_server
    local args=(--server "$server_bin" --seeds "$diff_seeds" --ops "$diff_ops")
    [[ -n "$diff_groups" ]] && args+=(--groups "$diff_groups")
    timeout 300 python3 compat/differential/selftest.py
    timeout 600 python3 compat/differential/run.py "${args[@]}"
    timeout 300 python3 compat/differential/crossrestore.py --server "$server_bin" --seeds 3
}
step_redis-py() {
    need_server
    bash compat/pyclient/run.sh "$server_bin"
}
step_redis-cli() {
    need_server
    timeout 300 bash compat/pyclient/cli_smoke.sh "$server_bin"
}
step_cli() {
    need_server
    if [[ ! -x target/release/redoxide-cli ]]; then
        echo "test.sh: target/release/redoxide-cli does not exist (did the build step run?)"
        return 1
    fi
    timeout 600 python3 compat/cli/diff.py --cluster
    timeout 600 python3 compat/cli/diff.py --server "$server_bin"
}
step_cluster() {
    need_server
    timeout 900 python3 compat/cluster/test_cluster.py --server "$server_bin"
    timeout 300 python3 compat/cluster/test_partition.py --server /usr/bin/redis-server --server "$server_bin"
}
step_cli-cluster() {
    local name bin
    if [[ ! -x target/release/redoxide-cli ]]; then
        echo "test.sh: target/release/redoxide-cli does not exist (did the build step run?)"
        return 1
    fi
    for name in ${CLI_CLUSTER_SERVERS:-redis redoxide}; do
        case "$name" in
        redis) bin=/usr/bin/redis-server ;;
        redoxide) need_server; bin="$server_bin" ;;
        *) echo "test.sh: unknown CLI_CLUSTER_SERVERS entry '$name' (known: redis redoxide)"; return 1 ;;
        esac
        echo "cli-cluster: servers are $name ($bin)"
        SERVER_BIN="$bin" CLI="$root/target/release/redoxide-cli" timeout 300 python3 compat/cli-cluster/run.py
    done
}
step_cluster-up() {
    if [[ ! -x target/release/redoxide-cli || ! -x target/release/redoxide-server ]]; then
        echo "test.sh: target/release/redoxide-cli or redoxide-server does not exist (did the build step run?)"
        return 1
    fi
    timeout 300 python3 compat/cluster-up/test_cluster_up.py --cli "$root/target/release/redoxide-cli"
}
step_tcl() {
    need_server
    timeout 300 python3 compat/tcl/selftest.py
    bash compat/tcl/run.sh --check "$server_bin"
    timeout 300 python3 compat/tcl/cluster_selftest.py
    # run-cluster.sh keeps to TCL_CLUSTER_TIMEOUT itself; the outer limit only guards against a hang in it.
    timeout --kill-after=30 $((${TCL_CLUSTER_TIMEOUT:-780} + 120)) bash compat/tcl/run-cluster.sh --check "$server_bin"
}

step_fuzz() {
    local host flags target extra f
    host="$(rustc -vV | sed -n 's/^host: //p')"
    (cd fuzz && cargo test --lib)
    # cargo-fuzz's instrumentation flags; --target keeps them off build scripts, as cargo-fuzz does.
    flags="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4"
    flags+=" -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table"
    flags+=" -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing"
    (cd fuzz && RUSTFLAGS="$flags" cargo build --release --target "$host" --target-dir target/cov --bins)
    # Seeds for the cluster targets: packets and nodes.conf files captured from a real Redis 7.0.15
    # (byte 0 of a cluster_bus input is its control byte: 0 = as captured, 1 = length fixed up).
    mkdir -p fuzz/corpus/cluster_bus fuzz/corpus/nodes_conf
    for f in crates/cluster/tests/fixtures/bus/*.bin; do
        { printf '\x00'; cat "$f"; } >"fuzz/corpus/cluster_bus/seed0-$(basename "$f")"
        { printf '\x01'; cat "$f"; } >"fuzz/corpus/cluster_bus/seed1-$(basename "$f")"
    done
    cp crates/cluster/tests/fixtures/nodes_conf/*.conf fuzz/corpus/nodes_conf/
    mkdir -p fuzz/corpus/rdb_file
    cp crates/persist/tests/fixtures/*.rdb fuzz/corpus/rdb_file/
    # RESTORE payloads redis-server wrote for streams (the fixture holds them in hex).
    mkdir -p fuzz/corpus/restore_payload
    # (python3 rather than xxd, which a fresh Debian machine does not have.)
    python3 - crates/persist/tests/fixtures/redis-7.0.15-stream-dumps.txt fuzz/corpus/restore_payload <<'PY'
import re, sys
src, dest = sys.argv[1], sys.argv[2]
for line in open(src):
    if line.startswith("#") or "\t" not in line:
        continue
    name, hexed = line.rstrip("\n").split("\t", 1)
    with open(f"{dest}/seed-{re.sub('[^a-z0-9]', '-', name)}", "wb") as out:
        out.write(bytes.fromhex(hexed.strip()))
PY
    # AOF seeds (byte 0 picks the parser: 0 = manifest, 1 = command stream), written by redis-server.
    # A seed aclfile: users with passwords, key and channel patterns, commands and a selector.
    mkdir -p fuzz/corpus/acl_file
    printf '\0user default on nopass ~* &* +@all\nuser alice on >secret %%R~r:* ~cached:* resetchannels &news.* -@all +get +set|ex (~other:* +@read)\n' \
        >fuzz/corpus/acl_file/seed-users
    mkdir -p fuzz/corpus/aof_file
    { printf '\x00'; cat crates/persist/tests/fixtures/redis-7.0.15-appendonly.aof.manifest; } >fuzz/corpus/aof_file/seed-manifest
    { printf '\x01'; cat crates/persist/tests/fixtures/redis-7.0.15-appendonly.aof.1.incr.aof; } >fuzz/corpus/aof_file/seed-incr
    local log failing=()
    log="$(mktemp)"
    for target in parse_request split_args restore_payload rdb_file cluster_bus nodes_conf aof_file cluster_command repl_handshake acl_file; do
        mkdir -p "fuzz/corpus/$target" fuzz/artifacts
        extra=()
        # An UPDATE packet is 4352 bytes, past libFuzzer's default 4096-byte input limit.
        [[ $target == cluster_bus ]] && extra=(-max_len=8192)
        echo "fuzz: $target for ${FUZZ_SECONDS:-12}s"
        if timeout $((${FUZZ_SECONDS:-12} + 60)) "fuzz/target/cov/$host/release/$target" "${extra[@]}" \
            -max_total_time="${FUZZ_SECONDS:-12}" -rss_limit_mb=512 -malloc_limit_mb=512 -timeout=5 \
            -artifact_prefix="fuzz/artifacts/" "fuzz/corpus/$target" >"$log" 2>&1; then
            tail -n 1 "$log"
        else
            # CI keeps only stdout and the artifact dies with the machine: print the panic and the
            # input (libFuzzer's Base64 line) so the failure can be replayed, then fuzz the rest.
            grep -v '^ \{2,\}\(at \|[0-9]\+: \)' "$log" | grep -v '^#[0-9]' | tail -n 25
            echo "fuzz: $target found a failing input (see fuzz/artifacts/ and the Base64 line above)"
            failing+=("$target")
        fi
    done
    rm -f "$log"
    [[ ${#failing[@]} -eq 0 ]] || { echo "fuzz: failing targets: ${failing[*]}"; return 1; }
}

passed=0
failed=0
started=$SECONDS
summary() {
    echo
    echo "test.sh: $((SECONDS - started))s in all"
    echo "$passed passed, $failed failed"
}
trap 'echo; echo "test.sh: interrupted"; summary; exit 130' INT TERM

for step in "${all_steps[@]}"; do
    wanted "$step" || continue
    echo
    echo "==================== $step ===================="
    t0=$SECONDS
    # A subshell with errexit on, outside any `||`, so that the first failing command ends the step.
    set +e
    (
        set -e
        "step_$step"
    )
    rc=$?
    set -e
    if [[ $rc -ne 0 ]]; then
        failed=$((failed + 1))
        echo "==================== $step: FAILED (exit $rc, $((SECONDS - t0))s) ===================="
        echo "test.sh: stopping at the first failed step ($step); the output above says why"
        summary
        exit 1
    fi
    passed=$((passed + 1))
    echo "==================== $step: ok ($((SECONDS - t0))s) ===================="
done
summary
