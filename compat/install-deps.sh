#!/usr/bin/env bash
# Installs the Debian packages the compatibility tests need, skipping whatever is already there: Debian's
# redis-server (the reference), redis-tools (redis-cli, redis-benchmark), tcl (Redis's Tcl test harness), procps
# (`ps` and /bin/kill, used by that harness), python3-venv (for redis-py), tmux (the prompt test) and iptables and
# iproute2 (the partition test). It also enables deb-src when Redis's
# test suite still has to be downloaded (compat/tcl/fetch-suite.sh gets it with `apt-get source`), so that one
# `apt-get update` serves both.
#
# Usage: compat/install-deps.sh          (as root, or with everything already installed)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export DEBIAN_FRONTEND=noninteractive

pkgs=()
[[ -x /usr/bin/redis-server ]] || pkgs+=(redis-server)
[[ -x /usr/bin/redis-cli && -x /usr/bin/redis-benchmark ]] || pkgs+=(redis-tools)
command -v tclsh8.6 >/dev/null || command -v tclsh8.5 >/dev/null || command -v tclsh8.7 >/dev/null || pkgs+=(tcl)
command -v ps >/dev/null && [[ -x /bin/kill ]] || pkgs+=(procps)
command -v tmux >/dev/null || pkgs+=(tmux) # the redoxide-cli prompt test types into a real terminal
command -v iptables >/dev/null || pkgs+=(iptables) # compat/cluster/test_partition.py cuts links with DROP rules
command -v ip >/dev/null || pkgs+=(iproute2)      # ... inside a private network namespace (unshare is in util-linux)
if ! command -v python3 >/dev/null; then
    pkgs+=(python3 python3-venv)
elif ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    pkgs+=(python3-venv)
fi

need_deb_src=0
cache="${COMPAT_CACHE:-$here/.cache}"
if [[ ! -f "$cache/redis-7.0.15/.complete" && ! -f "$cache/redis_7.0.15.orig.tar.gz" && -z "${REDIS_ORIG_TARBALL:-}" ]]; then
    if [[ -f /etc/apt/sources.list.d/debian.sources ]] &&
        grep -q '^Types: deb$' /etc/apt/sources.list.d/debian.sources; then
        need_deb_src=1
    elif [[ -f /etc/apt/sources.list ]] && grep -q '^deb ' /etc/apt/sources.list &&
        ! grep -q '^deb-src ' /etc/apt/sources.list; then
        need_deb_src=1
    fi
fi

if [[ ${#pkgs[@]} -eq 0 && $need_deb_src -eq 0 ]]; then
    echo "install-deps: everything is installed"
    exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: not root: cannot install '${pkgs[*]:-}' (deb-src needed: $need_deb_src)" >&2
    [[ ${#pkgs[@]} -eq 0 ]] && exit 0 # fetch-suite.sh will say what to do about deb-src
    exit 1
fi

if [[ $need_deb_src -eq 1 ]]; then
    echo "install-deps: enabling deb-src (for apt-get source redis)"
    if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
        sed -i 's/^Types: deb$/Types: deb deb-src/' /etc/apt/sources.list.d/debian.sources
    else
        grep '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' >>/etc/apt/sources.list
    fi
fi

echo "install-deps: apt-get update"
timeout 600 apt-get update -qq
if [[ ${#pkgs[@]} -gt 0 ]]; then
    echo "install-deps: installing ${pkgs[*]}"
    # Debian's redis-server package starts a redis-server on port 6379 when it is installed; the tests start
    # their own servers, so keep the package's service from being started (policy-rc.d exit 101 = "not allowed").
    created_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        created_policy=1
    fi
    rc=0
    timeout 900 apt-get install -y -qq --no-install-recommends "${pkgs[@]}" || rc=$?
    if [[ $created_policy -eq 1 ]]; then
        rm -f /usr/sbin/policy-rc.d
    fi
    if [[ $rc -ne 0 ]]; then
        echo "install-deps: apt-get install failed (exit $rc)" >&2
        exit $rc
    fi
fi
echo "install-deps: done"
