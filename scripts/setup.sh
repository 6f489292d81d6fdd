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
    debootstrap docker-registry openssl chromium chromium-driver apache2-utils docker-compose \
    python3-venv systemd

if ! cargo nextest --version >/dev/null 2>&1; then
    echo "installing cargo-nextest" >&2
    cargo install --locked cargo-nextest >/dev/null
fi

# The Engine API's real clients, for its tests: docker-py and testcontainers (PyPI),
# kubernetes-validate (Kubernetes' JSON schemas, for berth-kube's generated YAML), moto's S3
# server (the registry's object-store backend) and selenium (the registry's pages in Chromium,
# through Debian's chromedriver), in a venv of their own so the system's Python stays as Debian
# has it.
venv=/opt/berth/pyvenv
if ! "$venv/bin/python" -c 'import docker, testcontainers, kubernetes_validate, moto.server, selenium' >/dev/null 2>&1; then
    echo "installing the Python test clients (docker-py, testcontainers, kubernetes-validate, moto, selenium) into $venv" >&2
    /usr/bin/python3 -m venv "$venv"
    "$venv/bin/pip" install -q 'docker>=7' 'testcontainers>=4' 'kubernetes-validate>=1.30' \
        'moto[server]>=5' 'selenium>=4.20' >/dev/null
fi
