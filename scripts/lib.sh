# shellcheck shell=bash
# Helpers sourced by the scripts in this directory. Not executable on its own.

# need_pkgs PKG...: install the Debian packages that are missing, quietly. Idempotent: does nothing
# (and needs no network) when every package is already installed.
need_pkgs() {
    local missing=() p
    for p in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
            missing+=("$p")
        fi
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    echo "installing: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
        apt-get update -qq >/dev/null
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

die() {
    echo "$(basename "$0"): $*" >&2
    exit 1
}
