#!/usr/bin/env bash
# Installs what berth's build, tests and main job need on a fresh Debian machine, idempotently.
# Needs root (apt-get). Usage: scripts/setup.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

[ "$(id -u)" = 0 ] || die "run as root: berth manages mounts, namespaces and cgroups"

need_pkgs busybox-static gcc libc6-dev pkg-config libseccomp-dev skopeo umoci docker.io \
    iproute2 nftables util-linux tar coreutils jq ca-certificates tini curl procps \
    debootstrap docker-registry openssl chromium apache2-utils

if ! cargo nextest --version >/dev/null 2>&1; then
    echo "installing cargo-nextest" >&2
    cargo install --locked cargo-nextest >/dev/null
fi
