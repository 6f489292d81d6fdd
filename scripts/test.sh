#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, and every test, the privileged ones
# included (they need root; run without root they are skipped, and say so).
# Usage: scripts/test.sh [extra nextest args]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."

if [ "$(id -u)" = 0 ]; then
    scripts/setup.sh
else
    echo "WARNING: not root: privileged tests will be SKIPPED and nothing is installed" >&2
fi

# A build from a clean checkout is built once: incremental state would only take disk (GBs
# across the test binaries) and time.
[ "${CI:-}" = true ] && export CARGO_INCREMENTAL=0
# The build and the tests' images, registries and layers need disk; a full disk fails tests
# far from the cause, so say how much there is before and after.
# (The target directory may not exist yet: df is asked about the checkout then.)
disk_report() {
    local target=${CARGO_TARGET_DIR:-target}
    [ -d "$target" ] || target=.
    df -h --output=avail,target "$target" "${TMPDIR:-/tmp}" |
        awk -v when="$1" 'NR > 1 { print "== disk " when ": " $1 " free on " $2 }' | sort -u || true
}
disk_report "before"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== tests"
# The docker interop tests use a private dockerd; stop it afterwards if we started it.
started_docker=0
if [ "$(id -u)" = 0 ] && ! scripts/dockerd.sh status >/dev/null 2>&1; then
    started_docker=1
fi
cleanup() { [ "$started_docker" = 1 ] && scripts/dockerd.sh stop >/dev/null 2>&1 || true; }
trap cleanup EXIT
profile=default
[ "${CI:-}" = true ] && profile=ci
status=0
cargo nextest run --workspace --profile "$profile" --no-fail-fast "$@" || status=$?
# Containers start on berth's own init by default; the isolation, crash and security tests run
# once more on libcontainer, the reference runtime (`--runtime libcontainer`), so that both
# keep every property.
echo "== isolation, crash and security tests on libcontainer"
BERTH_RUNTIME=libcontainer cargo nextest run -p berth --profile "$profile" --no-fail-fast \
    --test isolation --test container_crash --test containers --test security "$@" || status=$?
# The registry's conformance tests once more with every server over an S3 bucket (moto).
echo "== registry conformance tests over S3"
BERTH_TEST_STORAGE=s3 cargo nextest run -p berth-registry --profile "$profile" --no-fail-fast \
    --test conformance "$@" || status=$?
disk_report "after"
exit "$status"
