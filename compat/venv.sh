#!/usr/bin/env bash
# Prints the path of compat/.venv's python, creating the venv (git-ignored) with the packages pinned in
# compat/requirements.txt the first time, and again whenever that file changes; later calls reuse it without
# touching the network. Env: PYTHON (default python3) is the interpreter the venv is made from.
set -euo pipefail

compat="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$compat/.venv"
requirements="$compat/requirements.txt"
stamp="$venv/.requirements.sha256"
wanted="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/python" ]] || [[ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]]; then
    echo "compat: creating $venv from $requirements" >&2
    rm -rf "$venv"
    "${PYTHON:-python3}" -m venv "$venv"
    timeout 600 "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" >&2
    echo "$wanted" >"$stamp"
fi
echo "$venv/bin/python"
