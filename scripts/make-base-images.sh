#!/usr/bin/env bash
# Makes the base images the tutorial needs without Docker Hub, and stores them in berth:
#   debian:bookworm-slim   debootstrap (variant minbase) from Debian's archive, imported
#   python:3.11-slim       built by berth from images/python/Dockerfile on top of it
# Cached: an image that berth already has is not made again; the debootstrap tarball is kept
# in OUTDIR (default target/base-images) and reused.
# Usage: scripts/make-base-images.sh [OUTDIR]      (BERTH=path/to/berth, default berth)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

out=${1:-$here/../target/base-images}
berth=${BERTH:-berth}
mkdir -p "$out"
out=$(cd "$out" && pwd)

if ! "$berth" image inspect debian:bookworm-slim >/dev/null 2>&1; then
    tarball=$out/debian-bookworm-minbase.tar
    if [ ! -s "$tarball" ]; then
        need_pkgs debootstrap
        mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
        mirror=${mirror:-http://deb.debian.org/debian}
        rootfs=$(mktemp -d)
        trap 'rm -rf "$rootfs"' EXIT
        echo "debootstrap bookworm (minbase) from $mirror" >&2
        debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$out/debootstrap.log" 2>&1 ||
            die "debootstrap failed: see $out/debootstrap.log"
        # A slim image: no apt lists, no docs, no logs.
        rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/usr/share/doc/* \
            "$rootfs"/usr/share/man/* "$rootfs"/var/log/*
        tar --numeric-owner -C "$rootfs" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
        rm -rf "$rootfs"
        trap - EXIT
    fi
    "$berth" import --change 'CMD ["bash"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        "$tarball" debian:bookworm-slim >/dev/null
    echo "made debian:bookworm-slim" >&2
fi

if ! "$berth" image inspect python:3.11-slim >/dev/null 2>&1; then
    ctx=$(mktemp -d)
    trap 'rm -rf "$ctx"' EXIT
    cp "$here/../images/python/Dockerfile" "$ctx/"
    # This machine may reach PyPI through a TLS-inspecting proxy: the image trusts what the
    # host trusts, so pip inside containers works as pip on the host does.
    cp /etc/ssl/certs/ca-certificates.crt "$ctx/host-ca-certificates.crt"
    "$berth" build -q -t python:3.11-slim -t python:3.11 "$ctx" >/dev/null
    echo "made python:3.11-slim" >&2
fi

# An archive of both, so that tests (each with its own store) load them in seconds.
archive=$out/python-3.11-slim.tar
if [ ! -s "$archive" ]; then
    "$berth" save -o "$archive.tmp" python:3.11-slim debian:bookworm-slim && mv "$archive.tmp" "$archive"
fi
