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
    debootstrap docker-registry openssl chromium apache2-utils docker-compose python3-venv \
    systemd

if ! cargo nextest --version >/dev/null 2>&1; then
    echo "installing cargo-nextest" >&2
    cargo install --locked cargo-nextest >/dev/null
fi

# The Engine API's real clients, for its tests: docker-py and testcontainers (PyPI), and
# kubernetes-validate (Kubernetes' JSON schemas, for berth-kube's generated YAML), in a venv
# of their own so the system's Python stays as Debian has it.
venv=/opt/berth/pyvenv
if ! "$venv/bin/python" -c 'import docker, testcontainers, kubernetes_validate' >/dev/null 2>&1; then
    echo "installing docker-py, testcontainers and kubernetes-validate into $venv" >&2
    /usr/bin/python3 -m venv "$venv"
    "$venv/bin/pip" install -q 'docker>=7' 'testcontainers>=4' 'kubernetes-validate>=1.30' >/dev/null
fi
