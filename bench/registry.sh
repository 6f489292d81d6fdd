#!/usr/bin/env bash
# Start, stop and empty the registries of the bench's registry rows (docs/bench.md), on 127.0.0.1.
#
#   bench/registry.sh start KIND PORT DIR    start it unless it answers already; wait (≤ 20 s) for GET /v2/
#   bench/registry.sh reset KIND PORT DIR    stop, delete its storage, start again (empty)
#   bench/registry.sh stop DIR               stop the one started with DIR (pid in DIR/pid)
#   bench/registry.sh has PORT REPO TAG      exit 0 if the registry has that manifest
#
# KIND: docker-registry  Debian's docker-registry (distribution 2.8) with its own config file
#                        DIR/config.yml: filesystem storage in DIR/data, no auth, no blob
#                        descriptor cache (so a reset's emptied storage is all it knows), deletes on
#                        berth                  `$BERTH registry serve --root DIR/data --listen
#                        127.0.0.1:PORT`, no htpasswd (anyone may push and pull)
# Logs: DIR/log. Plain HTTP: every client here treats 127.0.0.1 as an insecure registry.
set -euo pipefail

die() {
    echo "registry.sh: $*" >&2
    exit 1
}

answers() {
    curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$1/v2/" 2>/dev/null
}

pid_of() {
    local pid
    [ -f "$1/pid" ] || return 1
    pid=$(cat "$1/pid")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    echo "$pid"
}

do_start() {
    local kind=$1 port=$2 dir=$3 i
    if pid_of "$dir" >/dev/null && answers "$port"; then
        return 0
    fi
    answers "$port" && die "something else answers on 127.0.0.1:$port"
    mkdir -p "$dir/data"
    case $kind in
    docker-registry)
        cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
  redirect:
    disable: true
http:
  addr: 127.0.0.1:$port
EOF
        setsid docker-registry serve "$dir/config.yml" </dev/null >>"$dir/log" 2>&1 &
        ;;
    berth)
        [ -x "${BERTH:-}" ] || die "BERTH must name the berth binary"
        setsid "$BERTH" registry serve --root "$dir/data" --listen "127.0.0.1:$port" </dev/null >>"$dir/log" 2>&1 &
        ;;
    *) die "unknown kind $kind" ;;
    esac
    echo $! >"$dir/pid"
    for ((i = 0; i < 200; i++)); do
        answers "$port" && return 0
        kill -0 "$(cat "$dir/pid")" 2>/dev/null || die "$kind exited at start: $(tail -n 3 "$dir/log")"
        sleep 0.1
    done
    die "$kind did not answer on 127.0.0.1:$port within 20 s"
}

do_stop() {
    local dir=$1 pid i
    pid=$(pid_of "$dir") || { rm -f "$dir/pid"; return 0; }
    kill -TERM "$pid"
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$dir/pid"
}

verb=${1:-}
shift || true
case $verb in
start) do_start "$@" ;;
reset)
    do_stop "$3"
    rm -rf "$3/data"
    do_start "$@"
    ;;
stop) do_stop "$@" ;;
has)
    curl -fsS -m 5 -o /dev/null -I \
        -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
        -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
        "http://127.0.0.1:$1/v2/$2/manifests/$3" 2>/dev/null
    ;;
*)
    echo "usage: $0 start|reset KIND PORT DIR | stop DIR | has PORT REPO TAG" >&2
    exit 2
    ;;
esac
