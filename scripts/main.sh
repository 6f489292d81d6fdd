#!/usr/bin/env bash
# berth's main job on a fresh machine: install what is needed, build berth, make the test
# images offline, and run a container. Idempotent; a second run is fast.
# Usage: sudo scripts/main.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."

scripts/setup.sh
echo "== building berth (release)"
cargo build --release --quiet -p berth
berth=$PWD/target/release/berth
install -m 0755 "$berth" /usr/local/bin/berth

echo "== test images (busybox, hello-world), made offline"
images=$PWD/target/test-images
scripts/make-test-images.sh "$images" >/dev/null
berth image inspect busybox:latest >/dev/null 2>&1 ||
    berth import --change 'CMD ["sh"]' "$images/busybox-rootfs.tar" busybox:latest >/dev/null
berth image inspect hello-world:latest >/dev/null 2>&1 ||
    berth import --change 'CMD ["/hello"]' "$images/hello-rootfs.tar" hello-world:latest >/dev/null

echo "== berth images"
berth images
echo "== berth run --rm hello-world"
berth run --rm hello-world
