#!/usr/bin/env bash
# Run a private dockerd (Debian's docker.io) for interop tests and benchmarks.
#
#   scripts/dockerd.sh start    start it (if not running), wait until it answers, print the socket
#   scripts/dockerd.sh stop     stop it (SIGTERM, then SIGKILL after 30 s) and its containerd
#   scripts/dockerd.sh status   print pid, socket and storage driver; exit 3 when not running
#   scripts/dockerd.sh env      print `export DOCKER_HOST=...` (eval "$(scripts/dockerd.sh env)")
#   scripts/dockerd.sh purge    stop, unmount and delete its data root
#
# It shares nothing with a system docker: own data root, exec root, pidfile, socket, config file
# and a containerd that dockerd starts itself (under the exec root). No networking: no iptables,
# no bridge (containers get --network none semantics unless you pass --network host).
# Storage driver overlay2, falling back to vfs when overlay2 does not work here.
#
# Use Debian's client, /usr/bin/docker (20.10, same as the daemon): on some machines another
# client earlier in PATH (e.g. /usr/local/bin/docker) speaks a newer API.
#
# Environment overrides:
#   BERTH_TEST_DOCKER_DATA_ROOT   default /var/lib/berth-test-docker
#   BERTH_TEST_DOCKER_DRIVER      force a storage driver (overlay2 | vfs)
#   BERTH_TEST_DOCKER_TIMEOUT     seconds to wait for the daemon to answer (default 60)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

NAME=berth-test-docker
DATA_ROOT=${BERTH_TEST_DOCKER_DATA_ROOT:-/var/lib/$NAME}
EXEC_ROOT=/run/$NAME
PIDFILE=/run/$NAME.pid
SOCK=/run/$NAME.sock
HOST=unix://$SOCK
CONFIG=/run/$NAME.json
LOG=/var/log/$NAME.log
TIMEOUT=${BERTH_TEST_DOCKER_TIMEOUT:-60}
DOCKER=/usr/bin/docker

dockerd_pid() {
    local pid
    [ -f "$PIDFILE" ] || return 1
    pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    # A stale pidfile could name a recycled pid: make sure it is a dockerd.
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ] || return 1
    echo "$pid"
}

answers() {
    timeout 10 "$DOCKER" -H "$HOST" version --format '{{.Server.Version}}' >/dev/null 2>&1
}

# Start dockerd with storage driver $1; succeed once it answers, fail if it exits or times out.
try_start() {
    local driver=$1 pid i
    echo "starting dockerd (storage driver $driver), log: $LOG" >&2
    echo "--- $(date -Is) start, storage driver $driver" >>"$LOG"
    setsid dockerd \
        --data-root "$DATA_ROOT" \
        --exec-root "$EXEC_ROOT" \
        --pidfile "$PIDFILE" \
        --config-file "$CONFIG" \
        -H "$HOST" \
        --storage-driver "$driver" \
        --iptables=false --ip6tables=false --ip-masq=false --bridge=none \
        --userland-proxy=false \
        --cgroup-parent "/$NAME" \
        --exec-opt native.cgroupdriver=cgroupfs \
        </dev/null >>"$LOG" 2>&1 &
    pid=$!
    for ((i = 0; i < TIMEOUT * 2; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "dockerd exited during startup (storage driver $driver):" >&2
            grep -E 'level=(error|fatal)|^failed to start' "$LOG" | tail -n 3 >&2 || true
            return 1
        fi
        if answers; then
            return 0
        fi
        sleep 0.5
    done
    echo "dockerd did not answer on $SOCK within ${TIMEOUT}s; stopping it" >&2
    do_stop >/dev/null 2>&1 || true
    return 1
}

do_start() {
    if dockerd_pid >/dev/null && answers; then
        echo "$SOCK"
        return 0
    fi
    [ "$(id -u)" -eq 0 ] || die "must run as root"
    need_pkgs docker.io
    do_stop >/dev/null 2>&1 || true # clear a half-dead earlier instance
    mkdir -p "$DATA_ROOT" "$EXEC_ROOT" "$(dirname "$LOG")"
    # An explicit, empty config file so /etc/docker/daemon.json (if any) does not leak in.
    echo '{}' >"$CONFIG"
    local drivers driver
    if [ -n "${BERTH_TEST_DOCKER_DRIVER:-}" ]; then
        drivers=("$BERTH_TEST_DOCKER_DRIVER")
    else
        drivers=(overlay2 vfs)
    fi
    for driver in "${drivers[@]}"; do
        if try_start "$driver"; then
            echo "dockerd up: pid $(dockerd_pid), driver $("$DOCKER" -H "$HOST" info --format '{{.Driver}}')" >&2
            echo "$SOCK"
            return 0
        fi
    done
    die "could not start dockerd (see $LOG)"
}

# Unmount everything under our roots, deepest first (overlay2 layers, shm, netns, ...).
unmount_ours() {
    local m
    awk '{print $5}' /proc/self/mountinfo |
        grep -E "^($DATA_ROOT|$EXEC_ROOT)(/|$)" | sort -r |
        while read -r m; do umount -l "$m" 2>/dev/null || true; done
}

do_stop() {
    local pid i cpid
    if pid=$(dockerd_pid); then
        kill -TERM "$pid"
        for ((i = 0; i < 60; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.5
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "dockerd $pid did not stop in 30s; killing it" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
        echo "dockerd $pid stopped" >&2
    else
        echo "dockerd not running" >&2
    fi
    # The containerd that dockerd started normally exits with it; not after a SIGKILL.
    if [ -f "$EXEC_ROOT/containerd/containerd.pid" ]; then
        cpid=$(cat "$EXEC_ROOT/containerd/containerd.pid")
        if [ -n "$cpid" ] && [ "$(cat "/proc/$cpid/comm" 2>/dev/null)" = containerd ]; then
            kill -TERM "$cpid" 2>/dev/null || true
            sleep 1
            kill -KILL "$cpid" 2>/dev/null || true
        fi
    fi
    rm -f "$PIDFILE" "$SOCK"
    unmount_ours
}

do_status() {
    local pid
    if pid=$(dockerd_pid) && answers; then
        echo "running pid $pid socket $SOCK driver $("$DOCKER" -H "$HOST" info --format '{{.Driver}}') data-root $DATA_ROOT"
    else
        echo "stopped"
        return 3
    fi
}

do_purge() {
    do_stop
    rm -rf "$DATA_ROOT" "$EXEC_ROOT" "$CONFIG"
    echo "removed $DATA_ROOT $EXEC_ROOT" >&2
}

case "${1:-}" in
start) do_start ;;
stop) do_stop ;;
status) do_status ;;
env) echo "export DOCKER_HOST=$HOST" ;;
purge) do_purge ;;
*)
    echo "usage: $0 start|stop|status|env|purge" >&2
    exit 2
    ;;
esac
