#!/usr/bin/env bash
# Runs the redis-py 8 client test (test_redis_py.py) against a server binary.
#
# Usage: compat/pyclient/run.sh SERVER_BIN
# Creates compat/.venv (git-ignored) with the packages pinned in compat/requirements.txt the first time, and
# again whenever that file changes; later runs reuse it without touching the network.
# Env: PYTHON (default python3) is the interpreter the venv is made from.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
compat="$(cd "$here/.." && pwd)"
server_bin="${1:-}"
if [[ -z "$server_bin" ]]; then
    echo "usage: compat/pyclient/run.sh SERVER_BIN" >&2
    exit 2
fi
if [[ ! -x "$server_bin" ]]; then
    echo "pyclient: server binary '$server_bin' does not exist or is not executable" >&2
    exit 2
fi

venv="$compat/.venv"
requirements="$compat/requirements.txt"
stamp="$venv/.requirements.sha256"
wanted="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/python" ]] || [[ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]]; then
    echo "pyclient: creating $venv from $requirements"
    rm -rf "$venv"
    "${PYTHON:-python3}" -m venv "$venv"
    timeout 600 "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
    echo "$wanted" >"$stamp"
fi

exec timeout 300 "$venv/bin/python" "$here/test_redis_py.py" --server "$server_bin"
