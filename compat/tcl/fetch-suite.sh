#!/usr/bin/env bash
# Obtains Redis 7.0.15's own Tcl test suite (tests/, runtest, runtest-cluster) from Debian's source package
# `redis` and unpacks it into a cache directory that is never committed.
#
# Usage: compat/tcl/fetch-suite.sh [CACHE_DIR]        (default: compat/.cache)
# Prints the path of the unpacked tree (CACHE_DIR/redis-7.0.15) on stdout; everything else goes to stderr.
#
# Env:
#   REDIS_ORIG_TARBALL  use this redis_7.0.15.orig.tar.gz instead of downloading one
#
# Why Debian's source package: it is the exact upstream 7.0.15 tarball (checked by sha256 below) and Debian's
# archive is one of the few places CI can reach. Enabling deb-src changes the machine's apt configuration, so it
# is done only when apt cannot find the source otherwise, and only as root.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${1:-$here/../.cache}"
mkdir -p "$cache"
cache="$(cd "$cache" && pwd)"
tree="$cache/redis-7.0.15"
tarball_name="redis_7.0.15.orig.tar.gz"
# sha256 of upstream redis-7.0.15 as shipped by Debian (redis_7.0.15.orig.tar.gz).
tarball_sha256="4b1dc4ee6d622a09fff9c6777191209750fb5e5a725ef78ea012d6eef4c22982"

log() { echo "fetch-suite: $*" >&2; }

if [[ -f "$tree/.complete" ]]; then
    echo "$tree"
    exit 0
fi

# Two runs started at once must not unpack into the same directory together.
exec 9>"$cache/.fetch.lock"
if ! flock -w 600 9; then
    log "could not lock $cache/.fetch.lock within 600 s"
    exit 1
fi
if [[ -f "$tree/.complete" ]]; then
    echo "$tree"
    exit 0
fi

enable_deb_src() {
    if [[ $(id -u) -ne 0 ]]; then
        log "deb-src is not enabled and we are not root: enable it (see README, Testing) or set REDIS_ORIG_TARBALL"
        return 1
    fi
    local changed=0
    if [[ -f /etc/apt/sources.list.d/debian.sources ]] &&
        grep -q '^Types: deb$' /etc/apt/sources.list.d/debian.sources; then
        log "enabling deb-src in /etc/apt/sources.list.d/debian.sources"
        sed -i 's/^Types: deb$/Types: deb deb-src/' /etc/apt/sources.list.d/debian.sources
        changed=1
    fi
    if [[ -f /etc/apt/sources.list ]] && grep -q '^deb ' /etc/apt/sources.list &&
        ! grep -q '^deb-src ' /etc/apt/sources.list; then
        log "adding deb-src lines to /etc/apt/sources.list"
        grep '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' >>/etc/apt/sources.list
        changed=1
    fi
    if [[ $changed -eq 0 ]]; then
        log "found no apt source to add deb-src to"
        return 1
    fi
    apt-get update -qq >&2
}

tarball="$cache/$tarball_name"
if [[ -n "${REDIS_ORIG_TARBALL:-}" ]]; then
    tarball="$REDIS_ORIG_TARBALL"
elif [[ ! -f "$tarball" ]]; then
    dl="$cache/download"
    rm -rf "$dl"
    mkdir -p "$dl"
    # apt downloads as the unprivileged _apt user when it can write the directory (else it warns).
    if [[ $(id -u) -eq 0 ]] && id _apt >/dev/null 2>&1; then
        chown _apt "$dl"
    fi
    log "downloading Debian's source package 'redis' (apt-get source --download-only)"
    if ! (cd "$dl" && timeout 300 apt-get source --download-only -qq redis >&2); then
        log "apt-get source failed; enabling deb-src and retrying"
        enable_deb_src
        (cd "$dl" && timeout 300 apt-get source --download-only -qq redis >&2)
    fi
    if [[ ! -f "$dl/$tarball_name" ]]; then
        log "Debian's source package no longer carries $tarball_name; it has:"
        ls -l "$dl" >&2
        log "the compatibility target is Redis 7.0.15: get that tarball and pass it as REDIS_ORIG_TARBALL"
        exit 1
    fi
    mv "$dl/$tarball_name" "$tarball"
    rm -rf "$dl"
fi

actual_sha256="$(sha256sum "$tarball" | cut -d' ' -f1)"
if [[ "$actual_sha256" != "$tarball_sha256" ]]; then
    log "$tarball has sha256 $actual_sha256, expected $tarball_sha256"
    exit 1
fi

staging="$cache/.staging.$$"
rm -rf "$staging" "$tree"
mkdir -p "$staging"
tar -xzf "$tarball" -C "$staging" redis-7.0.15/tests redis-7.0.15/runtest redis-7.0.15/runtest-cluster
mv "$staging/redis-7.0.15" "$tree"
rmdir "$staging"
touch "$tree/.complete"
log "unpacked the suite into $tree"
echo "$tree"
