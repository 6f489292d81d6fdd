#!/usr/bin/env bash
# Build berth's two test rootfs tarballs offline, from Debian packages, reproducibly:
#
#   scripts/make-test-images.sh OUTDIR
#
#   OUTDIR/busybox-rootfs.tar  Debian's busybox-static at /bin/busybox, a symlink per applet
#                              (`busybox --list-full`), /etc/passwd (root, nobody), /etc/group,
#                              /tmp (1777), /root, /home, /var, /proc, /sys, /dev
#   OUTDIR/hello-rootfs.tar    /hello, scripts/hello.c built with `gcc -static -Os -s`
#
# Same inputs → same bytes: entries sorted by name, every mtime = SOURCE_DATE_EPOCH (default
# 2024-01-01), owner 0:0 numeric, PAX headers without atime/ctime. A tarball is rebuilt only
# when its inputs (this script, busybox binary, hello.c, compiler, tar version, epoch) change;
# OUTDIR/<name>.inputs holds the hash of those inputs and OUTDIR/SHA256SUMS the outputs' hashes.
#
# With BERTH=/path/to/berth set, it then imports them (BERTH_ROOT etc. pass through):
#   berth import --change 'CMD ["sh"]'     OUTDIR/busybox-rootfs.tar busybox:latest
#   berth import --change 'CMD ["/hello"]' OUTDIR/hello-rootfs.tar   hello-world:latest
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

[ $# -eq 1 ] || {
    echo "usage: $0 OUTDIR" >&2
    exit 2
}
mkdir -p "$1"
out=$(cd "$1" && pwd)
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1704067200}
umask 022

need_pkgs busybox-static gcc libc6-dev tar coreutils
BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] || die "$BUSYBOX missing after installing busybox-static"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# reproducible_tar DIR FILE: tar DIR's contents into FILE, deterministically. Paths are relative
# without a leading ./ and there is no entry for the root itself, as in Docker's own layers.
reproducible_tar() {
    (cd "$1" && find . -mindepth 1 -maxdepth 1 -printf '%P\0' | LC_ALL=C sort -z) >"$work/toplevel"
    tar --create --file "$2.tmp" --directory "$1" \
        --format=posix \
        --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
        --sort=name --mtime="@$SOURCE_DATE_EPOCH" --clamp-mtime \
        --owner=0 --group=0 --numeric-owner \
        --no-acls --no-xattrs --no-selinux \
        --null --verbatim-files-from --files-from "$work/toplevel"
    mv "$2.tmp" "$2"
}

# inputs_hash FILE...: one hash over the files' contents and the tool versions and epoch.
inputs_hash() {
    {
        sha256sum "$@" | awk '{print $1}'
        tar --version | head -n 1
        gcc --version | head -n 1
        echo "$SOURCE_DATE_EPOCH"
    } | sha256sum | awk '{print $1}'
}

# up_to_date NAME HASH: the tarball exists and was built from these inputs.
up_to_date() {
    [ -f "$out/$1.tar" ] && [ -f "$out/$1.inputs" ] && [ "$(cat "$out/$1.inputs")" = "$2" ]
}

build_busybox() {
    local root=$work/busybox applet dir
    mkdir -p "$root"
    (
        cd "$root"
        mkdir -p bin sbin usr/bin usr/sbin etc root home var proc sys dev tmp
        chmod 0700 root
        chmod 1777 tmp
        cp "$BUSYBOX" bin/busybox
        chmod 0755 bin/busybox
        "$BUSYBOX" --list-full | while read -r applet; do
            [ "$applet" = bin/busybox ] && continue
            dir=$(dirname "$applet")
            [ "$dir" = . ] || mkdir -p "$dir"
            ln -s /bin/busybox "$applet"
        done
        printf '%s\n' \
            'root:x:0:0:root:/root:/bin/sh' \
            'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >etc/passwd
        printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' >etc/group
        chmod 0644 etc/passwd etc/group
    )
    reproducible_tar "$root" "$out/busybox-rootfs.tar"
}

build_hello() {
    local root=$work/hello
    mkdir -p "$root"
    # -ffile-prefix-map and no -g keep build paths out of the binary; -s strips the symbols.
    gcc -static -Os -s -ffile-prefix-map="$here"=. -o "$root/hello" "$here/hello.c"
    chmod 0755 "$root/hello"
    "$root/hello" >/dev/null || die "the hello binary we just built does not run"
    reproducible_tar "$root" "$out/hello-rootfs.tar"
}

for name in busybox-rootfs hello-rootfs; do
    case $name in
    busybox-rootfs) h=$(inputs_hash "$0" "$BUSYBOX") ;;
    hello-rootfs) h=$(inputs_hash "$0" "$here/hello.c") ;;
    esac
    if up_to_date "$name" "$h"; then
        echo "$name.tar: up to date" >&2
        continue
    fi
    "build_${name%-rootfs}"
    echo "$h" >"$out/$name.inputs"
    echo "$name.tar: built ($(du -h "$out/$name.tar" | cut -f1))" >&2
done
(cd "$out" && sha256sum busybox-rootfs.tar hello-rootfs.tar >SHA256SUMS)
cat "$out/SHA256SUMS"

if [ -n "${BERTH:-}" ]; then
    [ -x "$BERTH" ] || die "BERTH=$BERTH is not an executable"
    "$BERTH" import --change 'CMD ["sh"]' "$out/busybox-rootfs.tar" busybox:latest
    "$BERTH" import --change 'CMD ["/hello"]' "$out/hello-rootfs.tar" hello-world:latest
fi
