# Sourced by compat/tcl/run.sh and compat/tcl/run-cluster.sh: one rerun of the units in which a --check found
# regressions.
#
# Why: the suites' tests race against the clock and against each other's load on a shared 2-core machine (Redis's
# own CI keeps a list of tests it lets fail now and then). A regression counts only if it fails again; one that
# passes on the rerun is printed as FLAKY, below the first run's whole failure message, so a real intermittent
# defect stays visible. Rejected: no rerun (one unexplained failure among ~2800 tests blocked every landing), and
# per-test reruns with --only (the harness still runs every block's setup, whose own waits fail without the
# skipped tests before them). At most two units: a change that breaks more than that is no flake.

# rerun_regressions_once PREFIX FILE COMMAND...: runs COMMAND with "--unit U" for each unit listed in FILE (one per
# line) and TCL_RERUN=0; succeeds if that run does, fails if it does not or FILE lists more than two units.
rerun_regressions_once() {
    local prefix=$1 rerun_file=$2 unit
    shift 2
    local -a again=() unit_args=()
    mapfile -t again <"$rerun_file"
    [[ ${#again[@]} -ge 1 && ${#again[@]} -le 2 ]] || return 1
    echo "$prefix: rerunning ${again[*]} once: a regression counts only if it fails again"
    for unit in "${again[@]}"; do unit_args+=(--unit "$unit"); done
    if TCL_RERUN=0 "$@" "${unit_args[@]}"; then
        echo "$prefix: FLAKY: the regressions above (in ${again[*]}) passed on the rerun"
        return 0
    fi
    return 1
}
