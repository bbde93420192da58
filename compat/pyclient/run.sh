#!/usr/bin/env bash
# Runs the redis-py 8 client test (test_redis_py.py) against a server binary.
#
# Usage: compat/pyclient/run.sh SERVER_BIN
# The redis-py venv comes from compat/venv.sh.
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

python="$(bash "$compat/venv.sh")"

exec timeout 300 "$python" "$here/test_redis_py.py" --server "$server_bin"
