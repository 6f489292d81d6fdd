#!/usr/bin/env bash
# Regenerates crates/berth/symbol-order.txt: the functions berth runs on its hot paths, which the
# release link places first in .text (crates/berth/build.rs passes the file to lld).
#
# Why: the kernel maps a binary's code in runs around each page a process touches (fault-around,
# 64 KiB; more with large page-cache folios). In link order the code `berth serve` or a `berth
# run` needs is spread over all 17 MB of .text, so each process maps about half of it: 9 MB of
# the idle server's 14 MB were code. Packed together, the same code is under 3 MB.
#
# How: a release build runs the hot paths under valgrind's callgrind in a scratch root of its own
# (own bridge, subnet and nft table; nothing of an installed berth is touched), and every function
# it executed goes in the file: the API server's first (the long-running process whose memory
# counts; what it runs to answer lists before what it runs to start containers), then the CLI's.
# Symbol names do not change with the order, so one build profiles itself. Names a later build no
# longer has are ignored by the linker: a stale file only orders less. Regenerate after a
# toolchain or dependency upgrade, or when `bench.py --rows api-idle-rss` shows the server's RSS
# grow. (The monitor and the container's init are not in it: valgrind cannot follow a clone into
# new namespaces.)
#
# Usage (root): scripts/symbol-order.sh [BERTH_BINARY]   default: target/release/berth, built here
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"
[ "$(id -u)" = 0 ] || die "run as root: the workload runs containers"
need_pkgs valgrind curl

berth=${1:-}
if [ -z "$berth" ]; then
    cargo build --release --quiet -p berth --manifest-path "$repo/Cargo.toml"
    berth="$repo/target/release/berth"
fi
[ -x "$berth" ] || die "no berth binary at $berth"

scratch=$(mktemp -d /tmp/berth-order-XXXXXX)
export BERTH_ROOT="$scratch/root" BERTH_RUNROOT="/run/berth-order-$$"
export BERTH_BRIDGE=berthord0 BERTH_SUBNET=10.217.0.0/16 BERTH_NET_POOL=10.218.0.0/16
export BERTH_NFT_TABLE=berth_order
sock="$scratch/api.sock"
serve_pid=
cleanup() {
    if [ -n "$serve_pid" ]; then kill "$serve_pid" 2>/dev/null || true; fi
    # shellcheck disable=SC2046
    "$berth" rm -f $("$berth" ps -aq 2>/dev/null) >/dev/null 2>&1 || true
    ip link del berthord0 2>/dev/null || true
    nft delete table ip berth_order 2>/dev/null || true
    # The network namespaces kept for the next starts are mounts: empty the pool (under its
    # lock: a monitor may still be filling it).
    local pool="$BERTH_RUNROOT/netns-pool"
    if [ -d "$pool" ]; then
        flock "$pool" sh -c "umount -l '$pool'/ns-* 2>/dev/null; rm -rf '$pool'"
    fi
    rm -rf "$scratch" "$BERTH_RUNROOT"
}
trap cleanup EXIT

# callgrind with mangled names, one output file per process.
grind() {
    local tier=$1
    shift
    valgrind -q --tool=callgrind --demangle=no --compress-strings=no --dump-instr=no \
        --callgrind-out-file="$scratch/$tier.%p.out" "$@"
}

images="$repo/target/test-images"
[ -f "$images/busybox-rootfs.tar" ] || "$here/make-test-images.sh" >/dev/null
"$berth" import --change 'CMD ["sh"]' "$images/busybox-rootfs.tar" busybox:latest >/dev/null
for _ in $(seq 20); do "$berth" create --network none busybox true >/dev/null; done

echo "the API server's paths" >&2
# Started directly (not through the function) so that $! is valgrind itself; a background job
# of a script ignores SIGINT, so it is stopped with SIGTERM, which berth serve also takes.
valgrind -q --tool=callgrind --demangle=no --compress-strings=no --dump-instr=no \
    --callgrind-out-file="$scratch/1-serve.%p.out" \
    "$berth" serve -H "unix://$sock" </dev/null >"$scratch/serve.log" 2>&1 &
serve_pid=$!
for _ in $(seq 300); do curl -sf --unix-socket "$sock" http://berth/_ping >/dev/null && break; sleep 0.1; done
api() { curl -sf --unix-socket "$sock" "$@" >/dev/null; }
for _ in $(seq 5); do
    api http://berth/_ping
    api "http://berth/containers/json?all=1"
done
# Concurrent clients too: a burst takes other paths (blocking threads come and go, the store's
# connection pool grows).
for _ in 1 2 3; do
    seq 20 | xargs -P 20 -I{} curl -sf --unix-socket "$sock" -o /dev/null "http://berth/containers/json?all=1"
done
api http://berth/version
api http://berth/info
api http://berth/images/json
api http://berth/networks
api http://berth/volumes
# What an idle server that answers lists needs comes first; what running containers adds, after.
callgrind_control -d "$serve_pid" >/dev/null 2>&1
if command -v docker >/dev/null; then
    DOCKER_HOST="unix://$sock" docker run --rm busybox true
    DOCKER_HOST="unix://$sock" docker ps -a >/dev/null
fi
kill -TERM "$serve_pid"
wait "$serve_pid" || true
serve_pid=

echo "the CLI's paths" >&2
grind 2-cli "$berth" --version >/dev/null
grind 2-cli "$berth" run --rm --network none busybox true
grind 2-cli "$berth" run --rm busybox true
id=$(grind 2-cli "$berth" run -d busybox sleep 60)
grind 2-cli "$berth" exec "$id" true
grind 2-cli "$berth" ps -a >/dev/null
grind 2-cli "$berth" logs "$id" >/dev/null
grind 2-cli "$berth" inspect "$id" >/dev/null
grind 2-cli "$berth" images >/dev/null
grind 2-cli "$berth" rm -f "$id" >/dev/null

# `fn=NAME` (or `fn=(ID) NAME` the first time) starts each function's costs in a tier's files;
# unnamed addresses are other objects' code.
out="$repo/crates/berth/symbol-order.txt"
# (A dump mid-run leaves `NAME.out.1` with the costs until then, and `NAME.out` the rest.)
for part in "$scratch"/1-serve.*.out.1 "$scratch"/1-serve.*.out "$scratch"/2-cli.*.out; do
    cat "$part"
done | sed -n 's/^fn=\(([0-9]*) \)\{0,1\}//p' | grep -v '^0x' | awk 'NF && !seen[$0]++' >"$out"
echo "wrote $(wc -l <"$out") functions to crates/berth/symbol-order.txt" >&2
