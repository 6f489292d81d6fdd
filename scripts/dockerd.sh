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
# --bridge (after any of the verbs above) selects a second, separate dockerd WITH networking, as a
# real Docker install has it: the default docker0 bridge (172.17.0.0/16), --iptables=true (via
# iptables-nft: FORWARD policy DROP (see forward_drop), the DOCKER, DOCKER-USER and
# DOCKER-ISOLATION-STAGE-1/2 chains, NAT rules), masquerading, docker's userland proxy.
# Its own data root /var/lib/berth-test-docker-net, exec root, pidfile, socket
# /run/berth-test-docker-net.sock and log /var/log/berth-test-docker-net.log.
# It CHANGES THE HOST FIREWALL, and dockerd leaves its chains, rules, policy and docker0 behind
# when it stops (as Docker does). `start --bridge` first saves the firewall as it was
# (iptables-save, /run/berth-test-docker-net.firewall-before, kept until cleanup), and
#
#   scripts/dockerd.sh cleanup-firewall   (bridge dockerd stopped) removes what it added: its rules
#                                         in the built-in chains, its DOCKER* chains, FORWARD policy
#                                         back to ACCEPT, the empty filter/nat tables and docker0
#                                         if they were not there before; anything else is kept.
#
# Use Debian's client, /usr/bin/docker (20.10, same as the daemon): on some machines another
# client earlier in PATH (e.g. /usr/local/bin/docker) speaks a newer API.
#
# Environment overrides:
#   BERTH_TEST_DOCKER_DATA_ROOT   default /var/lib/berth-test-docker
#   BERTH_TEST_DOCKER_DRIVER      force a storage driver (overlay2 | vfs)
#   BERTH_TEST_DOCKER_TIMEOUT     seconds to wait for the daemon to answer (default 60)
#   BERTH_TEST_DOCKER_NET_DATA_ROOT          --bridge: default /var/lib/berth-test-docker-net
#   BERTH_TEST_DOCKER_NET_USERLAND_PROXY     --bridge: true (docker's default) | false
#   BERTH_TEST_DOCKER_NET_FORWARD_DROP       --bridge: true (default): set FORWARD policy DROP
#                                            when dockerd did not (it does only when it is the one
#                                            turning ip_forward on, as on a freshly booted host)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

verb=${1:-}
shift || true
BRIDGE=false
for arg in "$@"; do
    case "$arg" in
    --bridge) BRIDGE=true ;;
    *) die "unknown argument: $arg" ;;
    esac
done

if $BRIDGE; then
    NAME=berth-test-docker-net
    DATA_ROOT=${BERTH_TEST_DOCKER_NET_DATA_ROOT:-/var/lib/$NAME}
    # A real install's networking: default bridge docker0, iptables rules, masquerading.
    NET_FLAGS=(--iptables=true --ip6tables=false --ip-masq=true
        "--userland-proxy=${BERTH_TEST_DOCKER_NET_USERLAND_PROXY:-true}")
else
    NAME=berth-test-docker
    DATA_ROOT=${BERTH_TEST_DOCKER_DATA_ROOT:-/var/lib/$NAME}
    NET_FLAGS=(--iptables=false --ip6tables=false --ip-masq=false --bridge=none --userland-proxy=false)
fi
FW_BEFORE=/run/berth-test-docker-net.firewall-before
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
        "${NET_FLAGS[@]}" \
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
    if $BRIDGE; then
        need_pkgs iptables
        save_firewall
    fi
    local drivers driver
    if [ -n "${BERTH_TEST_DOCKER_DRIVER:-}" ]; then
        drivers=("$BERTH_TEST_DOCKER_DRIVER")
    else
        drivers=(overlay2 vfs)
    fi
    for driver in "${drivers[@]}"; do
        if try_start "$driver"; then
            $BRIDGE && forward_drop
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

# The firewall before the bridge dockerd first touched it; kept until cleanup-firewall, so a restart
# of that dockerd does not take docker's own chains for the host's.
save_firewall() {
    [ -e "$FW_BEFORE" ] && return 0
    {
        echo "# $(date -Is) before $NAME started; read by '$0 cleanup-firewall'"
        echo "# docker0 $(ip link show docker0 >/dev/null 2>&1 && echo present || echo absent)"
        echo "# ip_forward $(cat /proc/sys/net/ipv4/ip_forward)"
        echo "# bridge-nf-call-iptables $(cat /proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null || echo absent)"
        # iptables-save -t T prints the built-in chains even when the table does not exist
        for t in filter nat; do
            echo "# table $t $(nft list table ip "$t" >/dev/null 2>&1 && echo present || echo absent)"
        done
        iptables-save -t filter
        iptables-save -t nat
    } >"$FW_BEFORE.tmp"
    mv "$FW_BEFORE.tmp" "$FW_BEFORE"
}

# dockerd sets FORWARD policy DROP only when it turns ip_forward on itself, as on a host booted
# with ip_forward=0 where Docker starts first. Here berth (or anyone) may have set it to 1 already;
# then do what dockerd would have done, so the host looks like a real Docker host.
forward_drop() {
    [ "${BERTH_TEST_DOCKER_NET_FORWARD_DROP:-true}" = true ] || return 0
    if iptables-save -t filter | grep -q '^:FORWARD ACCEPT'; then
        iptables -P FORWARD DROP
        echo "FORWARD policy set to DROP (dockerd leaves it when ip_forward was already 1)" >&2
    fi
}

# Undo what the bridge dockerd did to the firewall, and nothing else.
do_cleanup_firewall() {
    [ "$(id -u)" -eq 0 ] || die "must run as root"
    NAME=berth-test-docker-net PIDFILE=/run/berth-test-docker-net.pid
    if dockerd_pid >/dev/null; then
        die "the bridge dockerd is running; '$0 stop --bridge' first"
    fi
    [ -e "$FW_BEFORE" ] || die "no $FW_BEFORE: nothing recorded of the firewall before '$0 start --bridge'"
    local table line chain before now removed=0
    for table in nat filter; do
        before=$(sed -n "/^\*$table\$/,/^COMMIT/p" "$FW_BEFORE")
        now=$(iptables-save -t "$table")
        # 1. Docker's rules in the built-in chains (they jump to DOCKER* or name docker0), unless
        #    the same rule was there before.
        while IFS= read -r line; do
            [[ $line =~ ^-A\ (PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING)\  ]] || continue
            [[ $line =~ (-j\ DOCKER|docker0) ]] || continue
            grep -qxF -- "$line" <<<"$before" && continue
            [[ $line == *\"* ]] && { echo "kept (quoted, not docker's): $table $line" >&2; continue; }
            read -ra rule <<<"${line#-A }"
            iptables -t "$table" -D "${rule[@]}"
            echo "removed: -t $table $line" >&2
            removed=$((removed + 1))
        done <<<"$now"
        # 2. Its chains that did not exist before: flush all (they jump to one another), then delete.
        local chains=()
        while IFS= read -r chain; do
            grep -q "^:$chain " <<<"$before" || chains+=("$chain")
        done < <(sed -n 's/^:\(DOCKER[^ ]*\) .*/\1/p' <<<"$now")
        for chain in "${chains[@]}"; do
            iptables -t "$table" -F "$chain"
        done
        for chain in "${chains[@]}"; do
            iptables -t "$table" -X "$chain"
            echo "removed chain: -t $table $chain" >&2
            removed=$((removed + 1))
        done
    done
    # 3. FORWARD policy: back to ACCEPT if it was ACCEPT (or there was no filter table) before.
    if iptables-save -t filter | grep -q '^:FORWARD DROP' && ! grep -q '^:FORWARD DROP' "$FW_BEFORE"; then
        iptables -P FORWARD ACCEPT
        echo "FORWARD policy DROP -> ACCEPT" >&2
        removed=$((removed + 1))
    fi
    # 4. The tables iptables-nft created for docker, if they are now empty and all-ACCEPT.
    for table in nat filter; do
        grep -qx "# table $table absent" "$FW_BEFORE" || continue
        nft list table ip "$table" >/dev/null 2>&1 || continue
        now=$(iptables-save -t "$table")
        if ! grep -q '^-A ' <<<"$now" && ! grep -qE '^:[A-Z]+ DROP' <<<"$now" &&
            [ "$(grep -c '^:' <<<"$now")" -eq "$(grep -cE '^:(PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING) ' <<<"$now")" ]; then
            nft delete table ip "$table"
            echo "removed empty table ip $table" >&2
        fi
    done
    # 5. docker0, if dockerd created it and nothing is plugged into it.
    if grep -qx '# docker0 absent' "$FW_BEFORE" && ip link show docker0 >/dev/null 2>&1; then
        if [ -z "$(ip -o link show master docker0)" ]; then
            ip link delete docker0
            echo "removed bridge docker0" >&2
        else
            echo "kept docker0: interfaces are still attached to it" >&2
        fi
    fi
    grep -E '^# (ip_forward|bridge-nf)' "$FW_BEFORE" | while read -r _ key value; do
        case $key in
        ip_forward) now=$(cat /proc/sys/net/ipv4/ip_forward) ;;
        *) now=$(cat /proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null || echo absent) ;;
        esac
        [ "$now" = "$value" ] || echo "note: $key is $now (was $value before); left as is" >&2
    done
    rm -f "$FW_BEFORE"
    echo "cleanup-firewall: $removed change(s)" >&2
}

do_purge() {
    do_stop
    rm -rf "$DATA_ROOT" "$EXEC_ROOT" "$CONFIG"
    echo "removed $DATA_ROOT $EXEC_ROOT" >&2
}

case "$verb" in
start) do_start ;;
stop) do_stop ;;
status) do_status ;;
env) echo "export DOCKER_HOST=$HOST" ;;
purge) do_purge ;;
cleanup-firewall) do_cleanup_firewall ;;
*)
    echo "usage: $0 start|stop|status|env|purge [--bridge] | cleanup-firewall" >&2
    exit 2
    ;;
esac
