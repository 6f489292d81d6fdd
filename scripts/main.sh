#!/usr/bin/env bash
# berth's main job on a fresh machine: the tutorial's website, built and served by berth.
# Installs what is needed, builds berth, makes the base images offline from Debian's archive
# (no Docker Hub), builds examples/website and runs it on http://127.0.0.1:5000.
# Idempotent: a second run reuses everything and only restarts the site.
# Usage: sudo scripts/main.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."

scripts/setup.sh
echo "== building berth (release)"
cargo build --release --quiet -p berth
install -m 0755 target/release/berth /usr/local/bin/berth
export BERTH=/usr/local/bin/berth

echo "== test images (busybox, hello-world), made offline"
images=$PWD/target/test-images
scripts/make-test-images.sh "$images" >/dev/null
berth image inspect busybox:latest >/dev/null 2>&1 ||
    berth import --change 'CMD ["sh"]' "$images/busybox-rootfs.tar" busybox:latest >/dev/null
berth image inspect hello-world:latest >/dev/null 2>&1 ||
    berth import --change 'CMD ["/hello"]' "$images/hello-rootfs.tar" hello-world:latest >/dev/null
berth run --rm hello-world | head -n 3

echo "== base images: debian:bookworm-slim and python:3.11-slim (from Debian's packages)"
scripts/make-base-images.sh

echo "== the tutorial's website"
berth build -t streamlit:beta-pre-prod examples/website
berth rm -f personal-website >/dev/null 2>&1 || true
berth run --name personal-website -d -p 5000:8000 -e PORT=8000 streamlit:beta-pre-prod
for _ in $(seq 1 120); do
    if curl -sf -m 2 http://127.0.0.1:5000/_stcore/health >/dev/null; then
        berth ps
        echo
        echo "The site answers at http://127.0.0.1:5000"
        exit 0
    fi
    sleep 0.5
done
berth logs personal-website >&2
echo "the site did not answer at http://127.0.0.1:5000 within 60 s" >&2
exit 1
