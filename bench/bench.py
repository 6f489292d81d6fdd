#!/usr/bin/env python3
"""Side-by-side benchmarks: berth against docker, podman, runc, buildah, skopeo and docker-registry
on the same work, in the same run.

    python3 bench/bench.py [--berth target/release/berth] [-n 5] [--rows run-true,ps-1000]   (as root)

Python 3 standard library only. It installs what it needs from Debian (docker.io, podman, ...),
starts the private test dockerd (scripts/dockerd.sh), builds the fixtures once (cached in
--workdir), then for every row and every tool runs: before_all, then N times (after --warmup
untimed runs) setup → timed command → teardown, then after_all. Repetitions of the tools in a row
are interleaved (berth, docker, podman, runc, berth, ...) so drift hits all alike. It prints a
markdown table (median seconds, or the row's metric, e.g. requests/s or MB/s; ratio = how many times
better berth is: tool median / berth median for times, so docker 2.00 means docker took twice as
long as berth, berth median / tool median for "higher is better" metrics; peak RSS when the row
measures it), the rows' goals as PASS/FAIL, and writes everything to bench/results/<date>.json.

Rows are pluggable: ROWS below maps row name → Row(jobs={cell: Job}, title, runs, goals, metric,
dockerd); a cell is a tool, or TOOL:VARIANT (skopeo:raw), and --tools picks by TOOL; a plain
(setup, command, teardown) tuple works as a Job too. Commands are bash snippets formatted with the
context from `context()` ({berth}, {docker}, {podman}, {runc}, {busybox_ref}, {root}, {runroot},
...) and the Job's `vars`; a berth snippet runs with BERTH_ROOT and BERTH_RUNROOT set to the row's
temporary directories.

Until the berth binary exists the berth side is skipped with a message; a berth command that fails
(e.g. a verb not written yet) marks that cell failed and the run goes on.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import io
import json
import os
import platform
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = REPO / "scripts"
RESULTS = REPO / "bench" / "results"
DOCKER_SOCK = "/run/berth-test-docker.sock"
DOCKER_BIN = "/usr/bin/docker"  # Debian's client, same version as its dockerd
DOCKER = [DOCKER_BIN, "-H", f"unix://{DOCKER_SOCK}"]
# `scripts/dockerd.sh start --bridge`: a second dockerd with docker0 and its iptables rules
DOCKER_NET_SOCK = "/run/berth-test-docker-net.sock"
DOCKER_NET = [DOCKER_BIN, "-H", f"unix://{DOCKER_NET_SOCK}"]
RUN_BASE = Path("/run/berth-bench")  # the tools' run roots: BERTH_RUNROOT, podman --runroot, runc --root
APT_PACKAGES = ["docker.io", "skopeo", "busybox-static", "gcc", "libc6-dev", "tar"]

BIG_REF = "berth-bench/big:latest"
BIG_FILES = 4  # incompressible files in the big image ...
BIG_FILE_SIZE = 50 * 1024 * 1024  # ... of 50 MiB each
QUIET_FIXTURES = True  # hide make-test-images.sh's progress lines
FIXTURE_EPOCH = 1704067200  # mtime of every fixture tar entry (2024-01-01)
HTTP_FILE_SIZE = 4096  # www/index.html of the httpd image
HUGE_FILE_SIZE = 1 << 30  # the one file of registry-1g's image


# --------------------------------------------------------------------------------------------
# Rows


@dataclasses.dataclass
class Job:
    """One tool's part of a row. Every field but `command` is optional; all are bash snippets."""

    command: str
    setup: str | None = None  # before each repetition, untimed
    teardown: str | None = None  # after each repetition, untimed
    before_all: str | None = None  # once before the repetitions (and warmups)
    after_all: str | None = None  # once at the end, also after a failure
    describe: str | None = None  # after before_all; its stdout is kept as the cell's note
    measure: str | None = None  # right after each timed command, untimed; its stdout goes to the metric too
    vars: dict[str, str | int] = dataclasses.field(default_factory=dict)  # extra {names}
    env: dict[str, str] = dataclasses.field(default_factory=dict)  # extra environment variables


def as_job(spec: Job | tuple) -> Job:
    if isinstance(spec, Job):
        return spec
    setup, command, teardown = spec
    return Job(command=command, setup=setup, teardown=teardown)


@dataclasses.dataclass
class Goal:
    """A target printed under the table: `check(results of the row)` → (passed, text)."""

    name: str
    check: Callable[[dict[str, dict]], tuple[bool, str]]


def median_at_most(seconds: float, tool: str = "berth") -> Goal:
    def check(cells: dict[str, dict]) -> tuple[bool, str]:
        m = cells[tool]["median"]
        return m <= seconds, f"{tool} median {m * 1000:.1f} ms; goal ≤ {seconds * 1000:.0f} ms"

    return Goal(f"{tool} median ≤ {seconds * 1000:.0f} ms", check)


def faster_than(other: str, factor: float, tool: str = "berth") -> Goal:
    def check(cells: dict[str, dict]) -> tuple[bool, str]:
        ratio = cells[other]["median"] / cells[tool]["median"]
        return ratio >= factor, f"{other} median / {tool} median = {ratio:.1f}; goal ≥ {factor:g}"

    return Goal(f"{tool} ≥ {factor:g}× faster than {other}", check)


def at_least(other: str, factor: float = 1.0, tool: str = "berth") -> Goal:
    """For a "higher is better" metric: tool median ≥ factor × other median."""

    def check(cells: dict[str, dict]) -> tuple[bool, str]:
        mine, theirs = cells[tool]["median"], cells[other]["median"]
        unit = cells[tool].get("unit", "")
        ratio = mine / theirs
        return ratio >= factor, (
            f"{tool} median {mine:.0f} {unit}, {other} {theirs:.0f} {unit}: {ratio:.2f}×; goal ≥ {factor:g}×"
        )

    return Goal(f"{tool} ≥ {factor:g}× {other}" if factor != 1 else f"{tool} ≥ {other}", check)


def rss_at_most(megabytes: float, tool: str = "berth") -> Goal:
    """The highest peak RSS of the tool's repetitions (a row with Metric(rss=True))."""

    def check(cells: dict[str, dict]) -> tuple[bool, str]:
        peak = max(cells[tool]["peak_rss_kb"]) * 1024 / 1e6
        return (
            peak <= megabytes,
            f"{tool} peak RSS {peak:.1f} MB (highest of its runs); goal ≤ {megabytes:g} MB",
        )

    return Goal(f"{tool} peak RSS ≤ {megabytes:g} MB", check)


@dataclasses.dataclass
class Metric:
    """What a row measures instead of the command's wall time: parse(stdout, seconds, context) →
    (value, note); stdout is the command's, then the Job's `measure`'s. With rss=True the
    `NAME-rss-kb N` lines of that output (see with_rss) are kept too, as `NAME_rss_kb` lists."""

    unit: str
    parse: Callable[[str, float, dict], tuple[float, str]]  # raises ValueError when the output is unusable
    higher_is_better: bool = True
    rss: bool = False
    # per repetition, named values to keep as well (e.g. the phases of berth's debug timings):
    # the cell gets `series` = {name: [value of each run]} and the report their medians
    series: Callable[[str], dict[str, float]] | None = None


def wrk_requests_per_second(out: str, seconds: float = 0.0, ctx: dict | None = None) -> tuple[float, str]:
    """`Requests/sec:` of wrk's report; refuses a run with non-2xx answers or many socket errors."""
    rate = requests = None
    errors = ""
    for line in out.splitlines():
        words = line.split()
        if line.startswith("Requests/sec:"):
            rate = float(words[1])
        elif "requests in" in line:
            requests = int(words[0])
        elif line.strip().startswith("Socket errors:"):
            errors = line.strip()
        elif line.strip().startswith("Non-2xx or 3xx responses:"):
            raise ValueError(f"wrk: {line.strip()}")
    if rate is None or not requests:
        raise ValueError("no `Requests/sec:` or no requests in wrk's output")
    if errors:
        count = sum(int(w.rstrip(",")) for w in errors.split()[2:] if w.rstrip(",").isdigit())
        if count > requests / 100:
            raise ValueError(f"wrk: {errors} for {requests} requests")
    return rate, f"{requests} requests" + (f"; {errors}" if errors else "")


WRK = Metric(unit="req/s", parse=wrk_requests_per_second)


def throughput(bytes_var: str) -> Callable[[str, float, dict], tuple[float, str]]:
    """MB/s: the context's `bytes_var` (bytes of the image's layers, uncompressed) / wall time."""

    def parse(out: str, seconds: float, ctx: dict) -> tuple[float, str]:
        return int(ctx[bytes_var]) / 1e6 / seconds, f"{seconds:.3f} s"

    return parse


RSS_LINE = re.compile(r"^([a-z][a-z-]*-rss)-kb (\d+)$")


def rss_values(out: str) -> dict[str, int]:
    """`peak-rss-kb 14092` → {"peak_rss_kb": 14092} (the last of each name)."""
    found = {}
    for line in out.splitlines():
        if m := RSS_LINE.match(line.strip()):
            found[m.group(1).replace("-", "_") + "_kb"] = int(m.group(2))
    return found


@dataclasses.dataclass
class Row:
    jobs: dict[str, Job | tuple]  # tool → its part
    title: str = ""  # what the table shows (default: the row's name)
    runs: int = 5  # timed repetitions unless -n is given
    goals: list[Goal] = dataclasses.field(default_factory=list)
    metric: Metric | None = None  # None: the command's wall time in seconds, lower is better
    dockerd: str = "plain"  # "bridge": {docker} is the dockerd with docker0 + iptables


FRESH_ROOT = "{rm_roots} && mkdir -p {root} {runroot}"
DOCKER_HAS_BIG = (
    "{docker} image inspect {big_ref} >/dev/null 2>&1 || {docker} load -q -i {archive} >/dev/null"
)
DOCKER_RM_BIG = "{docker} rmi -f {big_ref} >/dev/null 2>&1 || true"
HELLO_CMD = """--change 'CMD ["/hello"]'"""
BUSYBOX_REF = "berth-bench/busybox:latest"
BUSYBOX_CMD = """--change 'CMD ["sh"]'"""

# The same busybox-rootfs.tar, imported by each tool into its own store. The test dockerd is
# shared with other users, so docker's copy has our own name and our containers our own label.
BERTH_HAS_BUSYBOX = (
    FRESH_ROOT + " && {berth} import " + BUSYBOX_CMD + " {busybox_tar} {busybox_ref} >/dev/null"
)
DOCKER_HAS_BUSYBOX = (
    "{docker} image inspect {busybox_ref} >/dev/null 2>&1"
    " || {docker} import " + BUSYBOX_CMD + " {busybox_tar} {busybox_ref} >/dev/null"
)
# podman's overlay driver bind-mounts {root}/overlay onto itself.
PODMAN_CLEAN = (
    "{{ {podman} rm -a -f >/dev/null 2>&1 || true; }}; {{ umount {root}/overlay 2>/dev/null || true; }};"
    " {rm_roots} {scratch}/tmp"
)
PODMAN_HAS_BUSYBOX = (
    PODMAN_CLEAN + " && {podman} import -q " + BUSYBOX_CMD + " {busybox_tar} {busybox_ref} >/dev/null"
)
# An OCI bundle: `runc spec`'s default config (its own pid, net, ipc, uts, mount namespaces; only
# lo in the network namespace) with args ["true"] and no terminal; rootfs = busybox-rootfs.tar.
RUNC_BUNDLE = (
    "rm -rf {scratch}/bundle {runroot} && mkdir -p {scratch}/bundle/rootfs {runroot}"
    " && tar -xf {busybox_tar} -C {scratch}/bundle/rootfs && cd {scratch}/bundle && runc spec"
    """ && jq '.process.args = ["true"] | .process.terminal = false' config.json > config.json.new"""
    " && mv config.json.new config.json"
)


def run_detached_then_rm(cli: str, label: str) -> str:
    """`{n}` × `CLI run -d ... sleep 1000`, then one `CLI rm -f` of all their ids."""
    return (
        'ids=(); for _ in $(seq {n}); do ids+=("$('
        + cli
        + f' run -d --network none --label {label} {{busybox_ref}} sleep 1000)"); done; '
        + cli
        + ' rm -f "${{ids[@]}}" >/dev/null'
    )


def create_n(cli: str, label: str) -> str:
    """`{n}` × `CLI create` of a `sleep 1000` container (not started)."""
    return (
        "for _ in $(seq {n}); do "
        + cli
        + f" create --network none --label {label} {{busybox_ref}} sleep 1000 >/dev/null; done"
    )


def docker_rm_label(label: str) -> str:
    return "{docker} ps -aq --filter label=" + label + " | xargs -r {docker} rm -f >/dev/null"


def docker_none_left(label: str) -> str:
    return 'test -z "$({docker} ps -aq --filter label=' + label + ')"'


BERTH_RM_ALL = "{berth} ps -aq | xargs -r {berth} rm -f >/dev/null"
BERTH_NONE_LEFT = 'test -z "$({berth} ps -aq)"'


def count_containers(cli: str, label: str) -> str:
    return (
        f'echo "$({cli} ps -aq | wc -l) containers in ps -a'
        f" ($({cli} ps -aq --filter label={label} | wc -l) of them created by the bench),"
        f' $({cli} ps -q | wc -l) running"'
    )


# The http row: busybox httpd -f serving www/index.html (4 KiB) of the httpd image, published on
# a host port, loaded by wrk on 127.0.0.1. berth gets its own bridge, subnets and nft table so
# that it does not touch berth0 / table `berth` of other berth roots on this host.
HTTPD_REF = "berth-bench/httpd:latest"
HTTP_LABEL = "berth-bench=http"
BERTH_BENCH_NET = {
    "BERTH_BRIDGE": "berthbench0",
    "BERTH_SUBNET": "10.219.0.0/16",
    "BERTH_NET_POOL": "10.220.0.0/16",
    "BERTH_NFT_TABLE": "berth_bench",
}
WRK_CMD = "wrk -t2 -c32 -d10s http://127.0.0.1:{port}/index.html"
# Until the published port answers with the whole file (≤ 10 s).
HTTP_READY = (
    "for _ in $(seq 100); do"
    " test \"$(curl -sS -m 2 -o /dev/null -w '%{{http_code}} %{{size_download}}'"
    " http://127.0.0.1:{port}/index.html 2>/dev/null)\" = '200 {size}' && exit 0; sleep 0.1; done;"
    " echo 'http://127.0.0.1:{port}/index.html did not answer 200 with {size} bytes' >&2; exit 1"
)
HTTPD_RUN = (
    " run -d --name berth-bench-http --label " + HTTP_LABEL + " -p {port}:8000 {httpd_ref}"
    " httpd -f -p 8000 -h /www >/dev/null"
)
# berth's bench network: its table, bridge and the rules it put into Docker's chains.
BERTH_NET_CLEAN = (
    "nft delete table ip berth_bench 2>/dev/null || true; ip link delete berthbench0 2>/dev/null || true;"
    " for c in DOCKER-USER FORWARD; do nft -a list chain ip filter $c 2>/dev/null"
    " | sed -n 's/.*comment \"berth:berth_bench:.*# handle \\([0-9]*\\)$/\\1/p'"
    " | xargs -r -n1 nft delete rule ip filter $c handle; done"
)
DOCKER_NET_INFO = (
    'echo "bridge dockerd pid $(cat /run/berth-test-docker-net.pid),'
    " $(tr '\\0' ' ' </proc/$(cat /run/berth-test-docker-net.pid)/cmdline"
    " | grep -o -- '--userland-proxy=[a-z]*'), FORWARD policy"
    ' $(iptables -S FORWARD | sed -n "s/^-P FORWARD //p"),'
    ' $(pgrep -c -x docker-proxy || true) docker-proxy processes"'
)
BERTH_NET_INFO = (
    'echo "bridge berthbench0 (BERTH_BRIDGE etc.), FORWARD policy'
    ' $(iptables -S FORWARD | sed -n "s/^-P FORWARD //p"),'
    ' $(iptables -S 2>/dev/null | grep -c "berth:berth_bench:" || true) berth rules in ip filter"'
)

# Builds (issue 5): the same Dockerfile and context (fixtures/build-context, BUILD_DOCKERFILE) and
# the same busybox-rootfs.tar, imported by each tool as {busybox_ref}; the result is {built_ref}.
BUILT_REF = "berth-bench/built:latest"
# RUN steps with --network none for every tool: the test dockerd has no bridge, and berth's default
# bridge (berth0, nft table `berth`) is host-wide, shared with other berth roots on this host.
BERTH_BUILD = "{berth} build --network none -t {built_ref} {build_ctx}"
DOCKER_BUILD = (
    "DOCKER_BUILDKIT=0 {docker} build --network none -t {built_ref} {build_ctx}"  # the classic builder
)
BUILDAH_BUILD = "{buildah} bud --network none --pull=never -t {built_ref}"  # + flags + {build_ctx}
# containers/storage (buildah, skopeo's containers-storage:) leaves the overlay mounts of the layers
# it used, and its bind mount of {root}/overlay: unmount all under {root}, deepest first, then delete.
STORAGE_CLEAN = (
    "{{ awk '{{print $5}}' /proc/self/mountinfo | grep '^{root}/' || true; }} | sort -r | xargs -r -n1 umount -l;"
    " {rm_roots}"
)
BUILDAH_CLEAN = "{{ {buildah} rm -a >/dev/null 2>&1 || true; }}; " + STORAGE_CLEAN
# buildah has no `import`: a scratch container, the same tarball added at / (`buildah add`
# extracts a local tar), CMD sh, committed under the same name.
BUILDAH_HAS_BUSYBOX = (
    BUILDAH_CLEAN + " && mkdir -p {root} {runroot} && c=$({buildah} from scratch)"
    " && {buildah} add $c {busybox_tar} / >/dev/null && {buildah} config --cmd sh $c"
    " && {buildah} commit -q $c {busybox_ref} >/dev/null && {buildah} rm $c >/dev/null"
)


def cache_hits(build: str) -> str:
    """describe: one more build with the warm cache; how many steps printed `Using cache`."""
    return (
        'echo "warm cache: $('
        + build
        + " | {{ grep -c 'Using cache' || true; }}) of 10 steps printed 'Using cache'\""
    )


# Registries (issue 6). THE registry of the push/pull rows: Debian's docker-registry on 127.0.0.1,
# emptied (restarted on an empty directory) before every push; bench/registry.sh runs it.
REG_PORT = 18500
REG = f"127.0.0.1:{REG_PORT}"
REG_DIR = "{regbase}/docker-registry"
REG_RESET = f"{{registry_sh}} reset docker-registry {REG_PORT} {REG_DIR} && sync"
REG_STOP = f"{{registry_sh}} stop {REG_DIR} && rm -rf {REG_DIR}/data"


def with_rss(cmd: str) -> str:
    """The command under GNU time, its output discarded; READ_RSS prints its peak RSS (KiB)."""
    return "/usr/bin/time -f 'peak-rss-kb %M' -o {scratch}/peak-rss " + cmd + " >/dev/null"


READ_RSS = "cat {scratch}/peak-rss"


def server_rss(regdir: str) -> str:
    """The registry's VmHWM (its peak RSS since it started: the reset before this push)."""
    return "echo \"server-peak-rss-kb $(awk '/^VmHWM/{{print $2}}' /proc/$(cat " + regdir + '/pid)/status)"'


def berth_load_tagged(ref: str) -> str:
    return FRESH_ROOT + " && {berth} load -i {archive} >/dev/null && {berth} tag {big_ref} " + ref


REG_METRIC = Metric(unit="MB/s", parse=throughput("big_bytes"), rss=True)


def push_job(client: str, ref: str, setup: str, measure: str, after_all: str) -> Job:
    """`client` (berth, skopeo, skopeo:raw, docker) pushes the big image to `ref`."""
    if client == "berth":
        return Job(
            before_all=berth_load_tagged(ref),
            setup=setup,
            command=with_rss("{berth} push " + ref),
            measure=measure,
            after_all=after_all + "; {rm_roots}",
        )
    if client == "docker":
        return Job(
            before_all=DOCKER_HAS_BIG + " && {docker} tag {big_ref} " + ref,
            setup=setup,
            command=with_rss("{docker} push " + ref),
            measure=measure,
            after_all=after_all + "; {docker} rmi " + ref + " >/dev/null 2>&1 || true",
        )
    if client == "curl:ceiling":
        # Not a client: the registry's own intake. The layer alone, streamed by curl in one
        # monolithic upload (POST, then PUT ?digest= with the body) — no config, no manifest,
        # no client work beyond the socket. No client pushing the image can beat it.
        repo = ref.split("/", 1)[1].rsplit(":", 1)[0]
        return Job(
            before_all=(
                "tar -xOf {archive} \"$(tar -xOf {archive} manifest.json | jq -r '.[0].Layers[0]')\""
                " > {scratch}/layer.tar && sha256sum {scratch}/layer.tar | cut -c1-64 > {scratch}/layer.sha256"
            ),
            setup=setup,
            command=with_rss(
                f"sh -c 'loc=$(curl -sfi -X POST http://{REG}/v2/{repo}/blobs/uploads/"
                " | tr -d \"\\r\" | sed -n \"s/^[Ll]ocation: //p\")"
                " && curl -sf -o /dev/null -T {scratch}/layer.tar"
                " -H \"Content-Type: application/octet-stream\""
                " \"$loc&digest=sha256:$(cat {scratch}/layer.sha256)\"'"
            ),
            measure=measure,
            after_all=after_all + "; rm -f {scratch}/layer.tar {scratch}/layer.sha256",
        )
    # skopeo gzips the uncompressed layer of the archive on the way (as docker does);
    # with --preserve-digests it sends it as it is (as berth does).
    raw = "--preserve-digests " if client == "skopeo:raw" else ""
    return Job(
        setup=setup,
        command=with_rss(
            f"skopeo copy {raw}--dest-tls-verify=false docker-archive:{{archive}} docker://{ref}"
        ),
        measure=measure,
        after_all=after_all,
    )


def pull_row(tag: str, seed_flags: str, title: str) -> Row:
    """Each tool pulls REG/berth-bench/big:TAG into an empty store (skopeo: to a new dir: layout),
    pushed once by `skopeo copy SEED_FLAGS` if the registry does not have it."""
    ref = f"{REG}/berth-bench/big:{tag}"
    seed = (
        f"{{registry_sh}} start docker-registry {REG_PORT} {REG_DIR}"
        f" && {{{{ {{registry_sh}} has {REG_PORT} berth-bench/big {tag} || skopeo copy -q {seed_flags}"
        f"--dest-tls-verify=false docker-archive:{{archive}} docker://{ref} >/dev/null; }}}}"
    )
    return Row(
        {
            "berth": Job(
                setup=seed + " && " + FRESH_ROOT + " && sync",
                command=with_rss("{berth} pull " + ref),
                measure=READ_RSS,
                after_all=REG_STOP + "; {rm_roots}",
            ),
            # to a dir: layout: the blobs as they are, nothing unpacked
            "skopeo": Job(
                setup=seed + " && rm -rf {scratch}/pulled && sync",
                command=with_rss(f"skopeo copy --src-tls-verify=false docker://{ref} dir:{{scratch}}/pulled"),
                measure=READ_RSS,
                after_all=REG_STOP + "; rm -rf {scratch}/pulled",
            ),
            # into an empty containers/storage (overlay, as podman's): unpacked, as berth and docker do
            "skopeo:storage": Job(
                setup=seed + " && " + STORAGE_CLEAN + " && sync",
                command=with_rss(
                    f"skopeo copy --src-tls-verify=false docker://{ref}"
                    f" containers-storage:[overlay@{{root}}+{{runroot}}]berth-bench/big:{tag}"
                ),
                measure=READ_RSS,
                after_all=REG_STOP + "; " + STORAGE_CLEAN,
            ),
            # the image ID: every tag of it goes, and its layer with the last one
            "docker": Job(
                setup=seed + " && {{ {docker} rmi -f {big_id} >/dev/null 2>&1 || true; }} && sync",
                command=with_rss("{docker} pull " + ref),
                measure=READ_RSS,
                after_all=REG_STOP + "; {docker} rmi -f {big_id} >/dev/null 2>&1 || true",
            ),
        },
        title=title,
        metric=REG_METRIC,
        goals=[at_least("skopeo", 2), at_least("skopeo:storage", 2)],
    )


# `berth registry serve` against docker-registry, the same client pushing to each; each server
# restarted on an empty directory before every push.
SERVE = {
    "berth": (18502, "{regbase}/serve-berth"),
    "docker-registry": (18501, "{regbase}/serve-docker-registry"),
}


def serve_job(server: str, client: str) -> Job:
    port, regdir = SERVE[server]
    ref = f"127.0.0.1:{port}/berth-bench/big:serve"
    setup = (
        "BERTH={berth} " if server == "berth" else ""
    ) + f"{{registry_sh}} reset {server} {port} {regdir} && sync"
    return push_job(
        client,
        ref,
        setup,
        READ_RSS + "; " + server_rss(regdir),
        f"{{registry_sh}} stop {regdir} && rm -rf {regdir}/data",
    )


# registry-1g: one 1 GiB layer, berth alone, its peak RSS; a docker-registry for each direction.
HUGE_IMPORT = "{berth} import {huge_tar} berth-bench/huge:latest >/dev/null"
HUGE_PUSH_PORT, HUGE_PUSH_DIR = 18503, "{regbase}/1g-push"
HUGE_PUSH_REF = f"127.0.0.1:{HUGE_PUSH_PORT}/berth-bench/huge:latest"
HUGE_PULL_PORT, HUGE_PULL_DIR = 18504, "{regbase}/1g-pull"
HUGE_PULL_REF = f"127.0.0.1:{HUGE_PULL_PORT}/berth-bench/huge:latest"
# the image pushed there once, from a store of its own (deleted again)
HUGE_SEED = (
    f"{{registry_sh}} reset docker-registry {HUGE_PULL_PORT} {HUGE_PULL_DIR} && rm -rf {{scratch}}/src"
    f" && export BERTH_ROOT={{scratch}}/src && {HUGE_IMPORT}"
    f" && {{berth}} tag berth-bench/huge:latest {HUGE_PULL_REF} && {{berth}} push -q {HUGE_PULL_REF} >/dev/null"
    " && rm -rf {scratch}/src"
)


# The container start path (issue 13). The floor: the same busybox rootfs, entered with the
# namespaces of a container and nothing else (no engine, no runtime, no cgroup, no pivot_root).
FLOOR_ROOTFS = (
    "rm -rf {scratch}/rootfs && mkdir -p {scratch}/rootfs && tar -xf {busybox_tar} -C {scratch}/rootfs"
)
FLOOR_TRUE = "unshare --fork --pid --mount --uts --ipc{net} chroot {scratch}/rootfs /bin/true"
# The bridge rows' floor network, as an engine would make it, with `ip`: a netns, a veth pair
# into it on bridge berthfloor0 (10.221.0.1/16, made in setup), an address, lo, a route.
# Its `ip` forks are part of the floor's time (berth makes the same links over netlink).
FLOOR_BRIDGE = (
    "ip link show berthfloor0 >/dev/null 2>&1 || {{ ip link add berthfloor0 type bridge"
    " && ip addr add 10.221.0.1/16 dev berthfloor0 && ip link set berthfloor0 up; }}"
)
FLOOR_BRIDGE_DEL = "ip link del berthfloor0 2>/dev/null || true"


def floor_net_up(ns: str) -> str:
    """The netns `ns` (a bash word) plugged into berthfloor0, an address from this bash's pid."""
    return (
        f"ns={ns}; ip netns add $ns && ip link add vbf$$ type veth peer name eth0 netns $ns"
        " && ip link set vbf$$ master berthfloor0 up"
        " && ip -n $ns addr add 10.221.$(( $$ / 250 % 250 + 1 )).$(( $$ % 250 + 2 ))/16 dev eth0"
        " && ip -n $ns link set eth0 up && ip -n $ns link set lo up"
        " && ip -n $ns route add default via 10.221.0.1"
    )


FLOOR_NET_DOWN = "ip link del vbf$$ && ip netns del $ns"
# what a failed repetition may have left
FLOOR_NET_CLEAN = (
    "ip netns list | grep -o '^\\(bbf[0-9]*\\|" + "berth-bench-runc" + "\\)' | xargs -r -n1 ip netns del || true;"
    " ip -o link | grep -o 'vbf[0-9]*' | sort -u | xargs -r -n1 ip link del 2>/dev/null || true"
)
RUNC_NETNS = "berth-bench-runc"
# runc's bundle joining the netns /run/netns/berth-bench-runc instead of making an empty one.
RUNC_BUNDLE_BRIDGE = (
    RUNC_BUNDLE
    + " && jq '.linux.namespaces |= map(if .type == \"network\" then .path = \"/run/netns/"
    + RUNC_NETNS
    + "\" else . end)' config.json > config.json.new && mv config.json.new config.json"
)
# after a bridge row's berth cell: its containers, then its bridge, table and rules (the chains
# may not exist: that is not a failure), then its root
BERTH_BRIDGE_CLEAN = (
    "{{ " + BERTH_RM_ALL + " || true; }}; {{ " + BERTH_NET_CLEAN + "; }} || true; {rm_roots}"
)


def run_d_parallel(cli: str, label: str, network: str = " --network none") -> str:
    """`{n}` × `CLI run -d` all at once (one background job each), then waits for every one;
    fails if any failed. The IDs go to {scratch}/ids/N. `network`: the run's --network flag
    (empty: the tool's default bridge)."""
    return (
        "rm -rf {scratch}/ids && mkdir -p {scratch}/ids && pids=(); for i in $(seq {n}); do "
        + cli
        + f" run -d{network} --label {label} {{busybox_ref}} sleep 1000 > {{scratch}}/ids/$i & pids+=($!);"
        " done; failed=0; for p in \"${{pids[@]}}\"; do wait $p || failed=$((failed + 1)); done;"
        ' test $failed = 0 || {{ echo "$failed of {n} run -d failed" >&2; exit 1; }}'
    )


# untimed: all {n} printed an ID; then all of them removed
PARALLEL_STARTED = 'test "$(cat {scratch}/ids/* | grep -c .)" = {n}'


def timings_total(out: str, seconds: float = 0.0, ctx: dict | None = None) -> tuple[float, str]:
    """The `total` phase (ms) of `berth run --debug-timings`'s report."""
    phases = timing_phases(out)
    if "total" not in phases:
        raise ValueError("no `total` line in berth's debug timings")
    return phases["total"], f"{seconds * 1000:.1f} ms wall"


TIMING_LINE = re.compile(r"^  (\S+)\s+(\S+)\s+([0-9.]+)\s")


def timing_phases(out: str) -> dict[str, float]:
    """`  monitor      network  1.23  ...` lines of the debug timings → {"network": 1.23}."""
    return {m.group(2): float(m.group(3)) for line in out.splitlines() if (m := TIMING_LINE.match(line))}


def helper_execs(out: str, seconds: float = 0.0, ctx: dict | None = None) -> tuple[float, str]:
    """`strace -f -e trace=execve` output of `berth run ... true`: how many execve were neither
    berth's own binary (the CLI, its monitor) nor the container's `true`; the note lists all."""
    berth = (ctx or {}).get("berth", "")
    own, container, helpers = [], [], []
    for line in out.splitlines():
        m = re.search(r'execve\("([^"]*)", \[(.*?)\]', line)
        if not m:
            continue
        path, argv = m.group(1), re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(2))
        result = line.rsplit("=", 1)[-1].strip().split(" ")[0] if "=" in line else "?"
        what = f"{path} {' '.join(argv[1:])}".strip() + ("" if result == "0" else f" (= {result})")
        if path == berth:
            own.append(what)
        elif argv[:1] == ["true"]:
            container.append(what)
        else:
            helpers.append(what)
    if not own:
        raise ValueError("no execve of berth in the strace output")
    note = f"berth: {own}; container: {container}; helpers: {helpers}"
    return float(len(helpers)), note


def strace_run(network: str) -> str:
    return (
        "strace -f -qq -e trace=execve -e signal=none -s 200 -o {scratch}/strace {berth} run --rm"
        + network
        + " {busybox_ref} true"
    )


def at_most(value: float, tool: str = "berth") -> Goal:
    """A lower-is-better metric's median (e.g. a count) ≤ value."""

    def check(cells: dict[str, dict]) -> tuple[bool, str]:
        m = cells[tool]["median"]
        return m <= value, f"{tool} median {m:g} {cells[tool].get('unit', '')}; goal ≤ {value:g}"

    return Goal(f"{tool} ≤ {value:g}", check)


# The Engine API rows (berth serve against dockerd). berth serves a private root on its own
# socket, {api_sock}, started in before_all and stopped (SIGTERM, then its containers removed with
# the CLI) in after_all; the same docker CLI, /usr/bin/docker, talks to either through DOCKER_HOST.
# The list load is bench/api_load.c (C + pthreads), built into the cell's scratch dir.
API_LOAD_BUILD = "gcc -O2 -pthread -o {scratch}/api_load {api_load_c}"


def api_load(sock: str) -> str:
    """The list load: {clients} clients × {requests} GETs of containers/json?all=1 on sock; each
    answer must list at least {n} containers."""
    return "{scratch}/api_load " + sock + " {clients} {requests} '/containers/json?all=1' {n}"


API_LABEL = "berth-bench=api"
API_SCRATCH_CLEAN = "rm -f {scratch}/api_load {scratch}/startup-rss {scratch}/serve.log"
BERTH_API = "DOCKER_HOST=unix://{api_sock} {docker_cli}"
DOCKERD_API = "DOCKER_HOST=unix://{docker_sock} {docker_cli}"
BERTH_SERVE_START = (
    # braces: `&` would otherwise put the whole `a && b && serve` chain before it in the background
    "{{ {berth} serve -H unix://{api_sock} </dev/null >{scratch}/serve.log 2>&1 & }} && echo $! > {scratch}/serve.pid"
    " && for _ in $(seq 100); do curl -sf --unix-socket {api_sock} http://berth/_ping >/dev/null 2>&1 && break;"
    " sleep 0.1; done && {{ curl -sf --unix-socket {api_sock} http://berth/_ping >/dev/null"
    " || {{ echo 'berth serve did not answer on {api_sock}:' >&2; tail -n 5 {scratch}/serve.log >&2; exit 1; }}; }}"
)
# only the process we started (its command line names our socket); SIGKILL after 10 s
BERTH_SERVE_STOP = (
    "pid=$(cat {scratch}/serve.pid 2>/dev/null || true); if [ -n \"$pid\" ]"
    " && grep -qF {api_sock} /proc/$pid/cmdline 2>/dev/null; then kill -TERM $pid;"
    " for _ in $(seq 100); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done;"
    " if kill -0 $pid 2>/dev/null; then kill -KILL $pid; fi; fi; rm -f {scratch}/serve.pid {api_sock}"
)
# with BERTH_BENCH_NET (the berth cells' env), in case the engine sets up its network: then it is
# the bench's own bridge and table, not berth0 / `berth` of other roots on this host
# The API rows' set-up: the load client, {n} created containers and, for berth, its server.
BERTH_API_READY = (
    API_LOAD_BUILD + " && " + BERTH_HAS_BUSYBOX + " && " + create_n("{berth}", API_LABEL)
    + " && " + BERTH_SERVE_START
)
DOCKER_API_READY = (
    API_LOAD_BUILD + " && " + DOCKER_HAS_BUSYBOX + " && " + docker_rm_label(API_LABEL)
    + " && " + create_n("{docker}", API_LABEL)
)
BERTH_SERVE_CLEAN = (
    BERTH_SERVE_STOP + "; {{ " + BERTH_RM_ALL + " || true; }}; {{ " + BERTH_NET_CLEAN + "; }} || true;"
    " {rm_roots}; " + API_SCRATCH_CLEAN
)


def vm_kb(field: str, pidfile: str) -> str:
    """`VmRSS` (resident now) or `VmHWM` (peak since start) of the process in pidfile, in kB."""
    return "$(awk '/^" + field + ":/{{print $2}}' /proc/$(cat " + pidfile + ")/status)"


def rss_lines(pidfile: str) -> str:
    """measure: the server's RSS when idle again after the load, its peak, and at startup."""
    return (
        "cat {scratch}/startup-rss; echo idle-rss-kb "
        + vm_kb("VmRSS", pidfile)
        + "; echo peak-rss-kb "
        + vm_kb("VmHWM", pidfile)
    )


def api_list_p50(out: str, seconds: float = 0.0, ctx: dict | None = None) -> tuple[float, str]:
    """api_load's p50 (ms) of the round; the note has p99, max and the request rate."""
    v = api_values(out)
    if "p50-ms" not in v or "p99-ms" not in v:
        raise ValueError("no p50-ms / p99-ms in api_load's output")
    return v["p50-ms"], (
        f"p99 {v['p99-ms']:.2f} ms, max {v['max-ms']:.2f} ms, {v['req-per-s']:.0f} req/s,"
        f" {v['requests']:.0f} requests, {v['entries']:.0f} containers listed"
    )


def api_values(out: str) -> dict[str, float]:
    """`p50-ms 1.234` lines → {"p50-ms": 1.234}."""
    found = {}
    for line in out.splitlines():
        words = line.split()
        if len(words) == 2 and re.fullmatch(r"[0-9.]+", words[1]):
            found[words[0]] = float(words[1])
    return found


def api_latencies(out: str) -> dict[str, float]:
    return {k: v for k, v in api_values(out).items() if k.endswith("-ms")}


def idle_rss_mb(out: str, seconds: float = 0.0, ctx: dict | None = None) -> tuple[float, str]:
    """The server's VmRSS (MB) once idle again after the list load."""
    rss = rss_values(out)
    if "idle_rss_kb" not in rss or "startup_rss_kb" not in rss:
        raise ValueError("no idle-rss-kb / startup-rss-kb line")
    return rss["idle_rss_kb"] * 1024 / 1e6, f"startup {rss['startup_rss_kb'] * 1024 / 1e6:.1f} MB"


def idle_rss_at_most(megabytes: float, tool: str = "berth") -> Goal:
    """VmRSS after startup and after the load (every run) ≤ megabytes."""

    def check(cells: dict[str, dict]) -> tuple[bool, str]:
        r = cells[tool]
        worst = max([*r["values"], *(kb * 1024 / 1e6 for kb in r["startup_rss_kb"])])
        return worst <= megabytes, (
            f"{tool} idle RSS {max(r['startup_rss_kb']) * 1024 / 1e6:.1f} MB after startup,"
            f" {max(r['values']):.1f} MB after the load (highest of the runs); goal ≤ {megabytes:g} MB"
        )

    return Goal(f"{tool} idle RSS ≤ {megabytes:g} MB", check)


def api_rss_job(server: str) -> Job:
    """api-idle-rss: the server with {n} containers, idle; each run the list load, 2 s of rest,
    then its VmRSS. berth's serve is started by the job; dockerd is the running test daemon."""
    load = api_load("{api_sock}" if server == "berth" else "{docker_sock}") + " >/dev/null && sleep 2"
    if server == "berth":
        return Job(
            before_all=BERTH_API_READY
            + " && sleep 2 && echo startup-rss-kb "
            + vm_kb("VmRSS", "{scratch}/serve.pid")
            + " > {scratch}/startup-rss",
            describe=count_containers(BERTH_API, API_LABEL),
            command=load,
            measure=rss_lines("{scratch}/serve.pid"),
            after_all=BERTH_SERVE_CLEAN,
            vars={"n": 100, "clients": 100, "requests": 5},
            env=BERTH_BENCH_NET,
        )
    return Job(
        before_all=DOCKER_API_READY
        + " && sleep 2 && echo startup-rss-kb "
        + vm_kb("VmRSS", "{docker_pidfile}")
        + " > {scratch}/startup-rss",
        # the shared test dockerd: how long it has run, what else it holds, its containerd
        describe='echo "dockerd up since $(ps -o lstart= -p $(cat {docker_pidfile})),'
        " $({docker} ps -aq | wc -l) containers ($({docker} ps -q | wc -l) running), its containerd VmRSS "
        + vm_kb("VmRSS", "{containerd_pidfile}")
        + ' kB"',
        command=load,
        measure=rss_lines("{docker_pidfile}"),
        after_all=docker_rm_label(API_LABEL) + "; " + API_SCRATCH_CLEAN,
        vars={"n": 100, "clients": 100, "requests": 5},
    )


ROWS: dict[str, Row] = {
    # `load -i` of a docker-save archive of a ~200 MB single-layer image, into an empty store
    # (berth: a fresh BERTH_ROOT; docker: the image and its layer removed first).
    "load": Row(
        {
            "berth": Job(
                setup=FRESH_ROOT,
                command="{berth} load -i {archive}",
                teardown="sync",
                after_all="{rm_roots}",
            ),
            "docker": Job(
                setup=DOCKER_RM_BIG + "; sync",
                command="{docker} load -i {archive}",
                teardown="sync",
            ),
        }
    ),
    # `save -o` of that image (already in the store) to a new file.
    "save": Row(
        {
            "berth": Job(
                before_all=FRESH_ROOT + " && {berth} load -i {archive} >/dev/null",
                setup="rm -f {out} && sync",
                command="{berth} save -o {out} {big_ref}",
                teardown="rm -f {out}",
                after_all="{rm_roots} {out}",
            ),
            "docker": Job(
                before_all=DOCKER_HAS_BIG,
                setup="rm -f {out} && sync",
                command="{docker} save -o {out} {big_ref}",
                teardown="rm -f {out}",
                after_all="rm -f {out}",
            ),
        }
    ),
    # `run --rm` of the static hello-world image (no network), output discarded.
    "run": Row(
        {
            "berth": Job(
                before_all=FRESH_ROOT
                + " && {berth} import "
                + HELLO_CMD
                + " {hello_tar} hello-world:latest >/dev/null",
                command="{berth} run --rm --network none hello-world:latest >/dev/null",
                after_all="{rm_roots}",
            ),
            "docker": Job(
                before_all="{docker} image inspect hello-world:latest >/dev/null 2>&1"
                + " || {docker} import "
                + HELLO_CMD
                + " {hello_tar} hello-world:latest >/dev/null",
                command="{docker} run --rm --network none hello-world:latest >/dev/null",
            ),
        }
    ),
    # create + start + wait + remove of `true` in busybox; runc = the bare runtime, no engine.
    "run-true": Row(
        {
            "berth": Job(
                before_all=BERTH_HAS_BUSYBOX,
                command="{berth} run --rm --network none {busybox_ref} true",
                after_all="{rm_roots}",
            ),
            "docker": Job(
                before_all=DOCKER_HAS_BUSYBOX,
                command="{docker} run --rm --network none {busybox_ref} true",
            ),
            "podman": Job(
                before_all=PODMAN_HAS_BUSYBOX,
                command="{podman} run --rm --network none {podman_ulimits} {busybox_ref} true",
                after_all=PODMAN_CLEAN,
            ),
            "runc": Job(
                before_all=RUNC_BUNDLE,
                # $$ = this repetition's bash: a fresh container id each time; `runc run`
                # deletes the container when it exits.
                command="{runc} run --bundle {scratch}/bundle bench-$$",
                after_all="rm -rf {scratch}/bundle {runroot}",
            ),
            "floor": Job(
                before_all=FLOOR_ROOTFS,
                command=FLOOR_TRUE,
                after_all="rm -rf {scratch}/rootfs",
                vars={"net": " --net"},
            ),
        },
        title="run --rm busybox true",
        runs=20,
        # issue 13: ≤ 12 ms with --network none, ≥ 15× docker in the same run
        goals=[median_at_most(0.012), faster_than("docker", 15)],
    ),
    # `exec C true` into a running container (started untimed before the row): CLI start to
    # CLI exit, the exec'd process created, run and reaped.
    "exec": Row(
        {
            "berth": Job(
                before_all=BERTH_HAS_BUSYBOX
                + " && {berth} run -d --network none --name bench-exec {busybox_ref} sleep 100000 >/dev/null",
                command="{berth} exec bench-exec true",
                after_all="{berth} rm -f bench-exec >/dev/null; {rm_roots}",
            ),
            "berth:libcontainer": Job(
                before_all=BERTH_HAS_BUSYBOX
                + " && {berth} run -d --runtime libcontainer --network none --name bench-exec {busybox_ref} sleep 100000 >/dev/null",
                command="{berth} exec bench-exec true",
                after_all="{berth} rm -f bench-exec >/dev/null; {rm_roots}",
            ),
            "docker": Job(
                before_all=DOCKER_HAS_BUSYBOX
                + " && {{ {docker} rm -f bench-exec >/dev/null 2>&1 || true; }}"
                + " && {docker} run -d --network none --name bench-exec {busybox_ref} sleep 100000 >/dev/null",
                command="{docker} exec bench-exec true",
                after_all="{docker} rm -f bench-exec >/dev/null",
            ),
            "podman": Job(
                before_all=PODMAN_HAS_BUSYBOX
                + " && {podman} run -d --network none {podman_ulimits} --name bench-exec {busybox_ref} sleep 100000 >/dev/null",
                command="{podman} exec bench-exec true",
                after_all=PODMAN_CLEAN,
            ),
        },
        title="exec C true (a running container)",
        runs=20,
    ),
    # {n} × `run -d ... sleep 1000`, then one `rm -f` of all of them.
    "run-d-100": Row(
        {
            "berth": Job(
                before_all=BERTH_HAS_BUSYBOX,
                command=run_detached_then_rm("{berth}", "berth-bench=run-d"),
                teardown=BERTH_NONE_LEFT,
                after_all=BERTH_RM_ALL + "; {rm_roots}",
                vars={"n": 100},
            ),
            "docker": Job(
                before_all=DOCKER_HAS_BUSYBOX + " && " + docker_rm_label("berth-bench=run-d"),
                command=run_detached_then_rm("{docker}", "berth-bench=run-d"),
                teardown=docker_none_left("berth-bench=run-d"),
                after_all=docker_rm_label("berth-bench=run-d"),
                vars={"n": 100},
            ),
        },
        title="run -d + rm -f of 100 containers",
        runs=3,
    ),
    # `ps -a` with {n} created (never started) containers in the store.
    "ps-1000": Row(
        {
            "berth": Job(
                before_all=BERTH_HAS_BUSYBOX + " && " + create_n("{berth}", "berth-bench=ps"),
                describe=count_containers("{berth}", "berth-bench=ps"),
                command="{berth} ps -a >/dev/null",
                after_all=BERTH_RM_ALL + "; {rm_roots}",
                vars={"n": 1000},
            ),
            "docker": Job(
                before_all=DOCKER_HAS_BUSYBOX
                + " && "
                + docker_rm_label("berth-bench=ps")
                + " && "
                + create_n("{docker}", "berth-bench=ps"),
                describe=count_containers("{docker}", "berth-bench=ps"),  # the dockerd is shared
                command="{docker} ps -a >/dev/null",
                after_all=docker_rm_label("berth-bench=ps"),
                vars={"n": 1000},
            ),
        },
        title="ps -a with 1000 containers",
        runs=10,
        goals=[median_at_most(0.050)],
    ),
    # HTTP throughput through a published port: requests/s of `wrk` on 127.0.0.1 against
    # busybox httpd -f (a fork per connection) serving a 4 KiB file; docker = the bridge dockerd.
    "http": Row(
        {
            "berth": Job(
                before_all=FRESH_ROOT
                + " && {berth} import "
                + BUSYBOX_CMD
                + " {httpd_tar} {httpd_ref} >/dev/null && {berth}"
                + HTTPD_RUN
                + " && "
                + HTTP_READY,
                describe=BERTH_NET_INFO,
                command=WRK_CMD,
                after_all="{berth} rm -f berth-bench-http >/dev/null 2>&1 || true; "
                + BERTH_NET_CLEAN
                + "; {rm_roots}",
                vars={"port": 18480, "size": HTTP_FILE_SIZE},
                env=BERTH_BENCH_NET,
            ),
            "docker": Job(
                before_all="{docker} image inspect {httpd_ref} >/dev/null 2>&1 || {docker} import "
                + BUSYBOX_CMD
                + " {httpd_tar} {httpd_ref} >/dev/null; "
                + docker_rm_label(HTTP_LABEL)
                + " && {docker}"
                + HTTPD_RUN
                + " && "
                + HTTP_READY,
                describe=DOCKER_NET_INFO,
                command=WRK_CMD,
                after_all=docker_rm_label(HTTP_LABEL),
                vars={"port": 18481, "size": HTTP_FILE_SIZE},
            ),
        },
        title="http: wrk -c32 10 s, 4 KiB file",
        runs=3,
        goals=[at_least("docker")],
        metric=WRK,
        dockerd="bridge",
    ),
    # A 10-step Dockerfile (BUILD_DOCKERFILE) on busybox, every step run: berth `build --no-cache`
    # in a fresh store, docker's classic builder --no-cache, buildah without layer cache.
    "build-cold": Row(
        {
            "berth": Job(
                setup=BERTH_HAS_BUSYBOX + " && sync",
                command="{berth} build --no-cache --network none -t {built_ref} {build_ctx} >/dev/null",
                after_all="{rm_roots}",
            ),
            "docker": Job(
                before_all=DOCKER_HAS_BUSYBOX + "; {docker} rmi {built_ref} >/dev/null 2>&1 || true",
                setup="sync",
                command="DOCKER_BUILDKIT=0 {docker} build --no-cache --network none -t {built_ref} {build_ctx} >/dev/null",
                teardown="{docker} rmi {built_ref} >/dev/null",
            ),
            "buildah": Job(
                before_all=BUILDAH_HAS_BUSYBOX,
                setup="sync",
                command="{buildah} bud --layers=false --network none --pull=never -t {built_ref} {build_ctx} >/dev/null",
                teardown="{buildah} rmi {built_ref} >/dev/null",
                after_all=BUILDAH_CLEAN,
            ),
        },
        title="build --no-cache, 10 steps",
    ),
    # The same build again, nothing changed, its cache warm (built once in before_all).
    "build-cached": Row(
        {
            "berth": Job(
                before_all=BERTH_HAS_BUSYBOX + " && " + BERTH_BUILD + " >/dev/null",
                describe=cache_hits(BERTH_BUILD),
                command=BERTH_BUILD + " >/dev/null",
                after_all="{rm_roots}",
            ),
            "docker": Job(
                before_all=DOCKER_HAS_BUSYBOX + " && " + DOCKER_BUILD + " >/dev/null",
                describe=cache_hits(DOCKER_BUILD),
                command=DOCKER_BUILD + " >/dev/null",
                after_all="{docker} rmi {built_ref} >/dev/null 2>&1 || true",
            ),
            "buildah": Job(
                before_all=BUILDAH_HAS_BUSYBOX + " && " + BUILDAH_BUILD + " --layers {build_ctx} >/dev/null",
                describe=cache_hits(BUILDAH_BUILD + " --layers {build_ctx}"),
                command=BUILDAH_BUILD + " --layers {build_ctx} >/dev/null",
                after_all=BUILDAH_CLEAN,
            ),
        },
        title="build, unchanged, cache warm",
        runs=10,
        goals=[faster_than("docker", 4)],
    ),
    # The 212 MB image pushed to an empty docker-registry on 127.0.0.1. MB/s = the layer's
    # uncompressed bytes / wall time.
    "push": Row(
        {
            client: push_job(
                client,
                f"{REG}/berth-bench/big:{client.replace(':', '-')}",
                REG_RESET,
                READ_RSS + "; " + server_rss(REG_DIR),
                REG_STOP,
            )
            for client in ("berth", "skopeo", "skopeo:raw", "docker", "curl:ceiling")
        },
        title="push 212 MB to docker-registry (curl:ceiling: the layer alone, streamed by curl)",
        metric=REG_METRIC,
        goals=[at_least("skopeo", 2), at_least("skopeo:raw", 2)],
    ),
    # Pulled from it into an empty store: the layer gzipped (as docker and skopeo push it) ...
    "pull": pull_row("pull", "", "pull 212 MB (gzip layer)"),
    # ... and uncompressed (as berth pushes an image loaded from a docker-save archive).
    "pull-raw": pull_row("pull-raw", "--preserve-digests ", "pull 212 MB (uncompressed layer)"),
    # The servers: berth's client, then skopeo's (uncompressed, --preserve-digests), pushing the
    # 212 MB image to an empty `berth registry serve` and to an empty docker-registry.
    "serve-push-berth": Row(
        {server: serve_job(server, "berth") for server in SERVE},
        title="registry server ← berth push",
        metric=REG_METRIC,
        goals=[at_least("docker-registry")],
    ),
    "serve-push-skopeo": Row(
        {server: serve_job(server, "skopeo:raw") for server in SERVE},
        title="registry server ← skopeo push (raw)",
        metric=REG_METRIC,
        goals=[at_least("docker-registry")],
    ),
    # One 1 GiB layer of random bytes: berth push to an empty docker-registry, berth pull into an
    # empty store (from another docker-registry, holding it since before_all); peak RSS.
    "registry-1g": Row(
        {
            "berth:push": Job(
                before_all=f"{FRESH_ROOT} && {HUGE_IMPORT} && {{berth}} tag berth-bench/huge:latest {HUGE_PUSH_REF}",
                setup=f"{{registry_sh}} reset docker-registry {HUGE_PUSH_PORT} {HUGE_PUSH_DIR} && sync",
                command=with_rss("{berth} push " + HUGE_PUSH_REF),
                measure=READ_RSS + "; " + server_rss(HUGE_PUSH_DIR),
                after_all=f"{{registry_sh}} stop {HUGE_PUSH_DIR} && rm -rf {HUGE_PUSH_DIR}/data {{root}} {{runroot}}",
            ),
            "berth:pull": Job(
                before_all=HUGE_SEED,
                setup=f"{{registry_sh}} start docker-registry {HUGE_PULL_PORT} {HUGE_PULL_DIR} && {FRESH_ROOT} && sync",
                command=with_rss("{berth} pull " + HUGE_PULL_REF),
                measure=READ_RSS,
                after_all=f"{{registry_sh}} stop {HUGE_PULL_DIR} && rm -rf {HUGE_PULL_DIR}/data {{root}} {{runroot}}",
            ),
        },
        title="registry-1g: 1 GiB layer, berth",
        runs=3,
        metric=Metric(unit="MB/s", parse=throughput("huge_bytes"), rss=True),
        goals=[rss_at_most(100, "berth:push"), rss_at_most(100, "berth:pull")],
    ),
    # The same with each tool's default bridge network: berth on its own bridge and table (as in
    # the http row), docker = the bridge dockerd, podman's CNI `podman` network; runc and the
    # floor in a netns plugged into berthfloor0 by `ip` (inside the timed command).
    "run-true-bridge": Row(
        {
            "berth": Job(
                before_all=BERTH_HAS_BUSYBOX,
                command="{berth} run --rm {busybox_ref} true",
                after_all=BERTH_BRIDGE_CLEAN,
                env=BERTH_BENCH_NET,
            ),
            "docker": Job(
                before_all=DOCKER_HAS_BUSYBOX,
                command="{docker} run --rm {busybox_ref} true",
            ),
            "podman": Job(
                before_all=PODMAN_HAS_BUSYBOX,
                command="{podman} run --rm {podman_ulimits} {busybox_ref} true",
                after_all=PODMAN_CLEAN,
            ),
            "runc": Job(
                before_all=RUNC_BUNDLE_BRIDGE,
                setup=FLOOR_BRIDGE + f" && {{{{ ip netns del {RUNC_NETNS} 2>/dev/null || true; }}}}",
                command=floor_net_up(RUNC_NETNS)
                + " && {runc} run --bundle {scratch}/bundle bench-$$ && "
                + FLOOR_NET_DOWN,
                after_all="rm -rf {scratch}/bundle {runroot}; " + FLOOR_NET_CLEAN + "; " + FLOOR_BRIDGE_DEL,
            ),
            "floor": Job(
                before_all=FLOOR_ROOTFS,
                setup=FLOOR_BRIDGE,
                command=floor_net_up("bbf$$")
                + " && nsenter --net=/run/netns/$ns "
                + FLOOR_TRUE
                + " && "
                + FLOOR_NET_DOWN,
                after_all="rm -rf {scratch}/rootfs; " + FLOOR_NET_CLEAN + "; " + FLOOR_BRIDGE_DEL,
                vars={"net": ""},
            ),
        },
        title="run --rm busybox true, bridge",
        runs=20,
        dockerd="bridge",
        # issue 13: ≤ 20 ms on the default bridge network, ≥ 15× docker in the same run
        goals=[median_at_most(0.020), faster_than("docker", 15)],
    ),
    # `run -d` until the CLI returns (the container is running); removed again, untimed.
    "run-d": Row(
        {
            "berth": Job(
                before_all=BERTH_HAS_BUSYBOX,
                command="{berth} run -d --network none --label berth-bench=run-d1 {busybox_ref} sleep 1000 >/dev/null",
                teardown=BERTH_RM_ALL + " && " + BERTH_NONE_LEFT,
                after_all="{rm_roots}",
            ),
            "docker": Job(
                before_all=DOCKER_HAS_BUSYBOX + " && " + docker_rm_label("berth-bench=run-d1"),
                command="{docker} run -d --network none --label berth-bench=run-d1 {busybox_ref} sleep 1000 >/dev/null",
                teardown=docker_rm_label("berth-bench=run-d1") + " && " + docker_none_left("berth-bench=run-d1"),
                after_all=docker_rm_label("berth-bench=run-d1"),
            ),
        },
        title="run -d busybox sleep (CLI returns)",
        runs=20,
    ),
    # {n} × `run -d` launched at once (a background job each), timed until every CLI returned;
    # teardown (untimed) checks that all printed an ID, then removes them.
    "run-d-parallel": Row(
        {
            "berth": Job(
                before_all=BERTH_HAS_BUSYBOX,
                command=run_d_parallel("{berth}", "berth-bench=run-dp"),
                teardown=PARALLEL_STARTED + " && " + BERTH_RM_ALL + " && " + BERTH_NONE_LEFT,
                after_all="{{ " + BERTH_RM_ALL + " || true; }}; {rm_roots}",
                vars={"n": 100},
            ),
            # the same on berth's default bridge network (a veth, an address, hosts files each)
            "berth:bridge": Job(
                before_all=BERTH_HAS_BUSYBOX,
                command=run_d_parallel("{berth}", "berth-bench=run-dp", network=""),
                teardown=PARALLEL_STARTED + " && " + BERTH_RM_ALL + " && " + BERTH_NONE_LEFT,
                after_all=BERTH_BRIDGE_CLEAN,
                env=BERTH_BENCH_NET,
                vars={"n": 100},
            ),
            "docker": Job(
                before_all=DOCKER_HAS_BUSYBOX + " && " + docker_rm_label("berth-bench=run-dp"),
                command=run_d_parallel("{docker}", "berth-bench=run-dp"),
                teardown=PARALLEL_STARTED
                + " && "
                + docker_rm_label("berth-bench=run-dp")
                + " && "
                + docker_none_left("berth-bench=run-dp"),
                after_all=docker_rm_label("berth-bench=run-dp"),
                vars={"n": 100},
            ),
        },
        title="100 × run -d in parallel",
        runs=3,
        goals=[median_at_most(3.0), median_at_most(3.0, "berth:bridge")],
    ),
    # berth alone: `run --rm --debug-timings ... true`, its report's phases (medians below the
    # table); the metric is the report's total (CLI start → CLI return, ms).
    "run-breakdown": Row(
        {
            "berth:none": Job(
                before_all=BERTH_HAS_BUSYBOX,
                command="{berth} run --rm --debug-timings --network none {busybox_ref} true 2>{scratch}/timings",
                measure="cat {scratch}/timings",
                after_all="{rm_roots}",
            ),
            "berth:bridge": Job(
                before_all=BERTH_HAS_BUSYBOX,
                command="{berth} run --rm --debug-timings {busybox_ref} true 2>{scratch}/timings",
                measure="cat {scratch}/timings",
                after_all=BERTH_BRIDGE_CLEAN,
                env=BERTH_BENCH_NET,
            ),
        },
        title="berth run --rm true: where the time goes",
        runs=20,
        metric=Metric(unit="ms", parse=timings_total, higher_is_better=False, series=timing_phases),
    ),
    # berth alone, under `strace -f -e trace=execve`: every program a `run` executes. The metric
    # is the number of helpers (neither berth itself nor the container's `true`); goal none.
    "run-execs": Row(
        {
            "berth:none": Job(
                before_all=BERTH_HAS_BUSYBOX,
                command=strace_run(" --network none"),
                measure="cat {scratch}/strace",
                after_all="{rm_roots} {scratch}/strace",
            ),
            "berth:bridge": Job(
                before_all=BERTH_HAS_BUSYBOX,
                command=strace_run(""),
                measure="cat {scratch}/strace",
                after_all=BERTH_BRIDGE_CLEAN + " {scratch}/strace",
                env=BERTH_BENCH_NET,
            ),
        },
        title="execve during berth run --rm true",
        runs=3,
        metric=Metric(unit="helper execs", parse=helper_execs, higher_is_better=False),
        goals=[at_most(0, "berth:none"), at_most(0, "berth:bridge")],
    ),
    # The Engine API (berth serve against the test dockerd), the same docker CLI through
    # DOCKER_HOST: `docker run --rm --network none busybox true`, CLI start to CLI exit.
    "api-run-true": Row(
        {
            "berth": Job(
                before_all=BERTH_HAS_BUSYBOX + " && " + BERTH_SERVE_START,
                command=BERTH_API + " run --rm --network none {busybox_ref} true",
                after_all=BERTH_SERVE_CLEAN,
                env=BERTH_BENCH_NET,
            ),
            "docker": Job(
                before_all=DOCKER_HAS_BUSYBOX,
                command=DOCKERD_API + " run --rm --network none {busybox_ref} true",
            ),
        },
        title="API: docker run --rm busybox true",
        runs=20,
        goals=[faster_than("docker", 5)],
    ),
    # {n} created containers; each run (a round) {clients} concurrent connections, each sending
    # {requests} × GET /vX.Y/containers/json?all=1 (bench/api_load.c); metric = the round's p50
    # latency, p90/p99/max in the series table.
    "api-list": Row(
        {
            "berth": Job(
                before_all=BERTH_API_READY,
                describe=count_containers(BERTH_API, API_LABEL),
                command=api_load("{api_sock}"),
                after_all=BERTH_SERVE_CLEAN,
                vars={"n": 100, "clients": 100, "requests": 5},
                env=BERTH_BENCH_NET,
            ),
            "docker": Job(
                before_all=DOCKER_API_READY,
                describe=count_containers("{docker}", API_LABEL),
                command=api_load("{docker_sock}"),
                after_all=docker_rm_label(API_LABEL) + "; " + API_SCRATCH_CLEAN,
                vars={"n": 100, "clients": 100, "requests": 5},
            ),
        },
        title="API: 100 clients × GET containers/json (100 containers)",
        runs=10,
        metric=Metric(unit="ms p50", parse=api_list_p50, higher_is_better=False, series=api_latencies),
    ),
    # The server's VmRSS: after startup (2 s idle), and idle again 2 s after each round of the
    # api-list load; the peak column is its VmHWM. dockerd: the running test daemon, for reference.
    "api-idle-rss": Row(
        {"berth": api_rss_job("berth"), "docker": api_rss_job("docker")},
        title="API: server RSS idle (after startup, after the list load)",
        runs=3,
        metric=Metric(unit="MB", parse=idle_rss_mb, higher_is_better=False, rss=True),
        goals=[idle_rss_at_most(15)],
    ),
}
# not "http": it starts the bridge dockerd, which changes the host firewall (docs/bench.md);
# not "registry-1g": 1 GiB fixture, ~6 GB of disk, a minute or more
DEFAULT_ROWS = [
    "load",
    "save",
    "run",
    "run-true",
    "run-d-100",
    "run-d",
    "run-d-parallel",
    "run-breakdown",
    "run-execs",
    "exec",
    "ps-1000",
    "build-cold",
    "build-cached",
    "push",
    "pull",
    "pull-raw",
    "serve-push-berth",
    "serve-push-skopeo",
    "api-run-true",
    "api-list",
    "api-idle-rss",
]
TOOLS = ["berth", "docker", "podman", "runc", "floor", "buildah", "skopeo", "docker-registry", "curl"]
TOOL_PACKAGES = {
    "podman": ["podman", "runc"],
    "runc": ["runc", "jq", "iproute2"],
    "floor": ["util-linux", "iproute2"],
    "buildah": ["buildah"],
    "skopeo": ["skopeo"],
    "docker-registry": ["docker-registry"],
}
REGISTRY_PACKAGES = ["docker-registry", "skopeo", "curl", "time", "jq"]
ROW_PACKAGES = {
    "http": ["wrk", "curl", "iptables", "nftables"],
    "run-execs": ["strace"],
    "run-true-bridge": ["iptables", "nftables", "containernetworking-plugins"],
    "api-run-true": ["curl"],
    "api-list": ["curl", "gcc", "libc6-dev"],
    "api-idle-rss": ["curl", "gcc", "libc6-dev"],
} | {
    row: REGISTRY_PACKAGES
    for row in ("push", "pull", "pull-raw", "serve-push-berth", "serve-push-skopeo", "registry-1g")
}

# podman 4.3 as root asks runc for RLIMIT_NOFILE 1048576 (`--ulimit host` too; with only nofile
# given, for RLIMIT_NPROC 1048576), which fails here (hard limits 20000 and 96365, no
# CAP_SYS_RESOURCE): give it both, at the limits its runc actually has.
PODMAN_NPROC_CAP = 32768  # RLIMIT_NPROC of podman's conmon/runc on this host


def podman_ulimits() -> str:
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc = min(resource.getrlimit(resource.RLIMIT_NPROC)[1], PODMAN_NPROC_CAP)
    return f"--ulimit nofile={nofile}:{nofile} --ulimit nproc={nproc}:{nproc}"


def context(args: argparse.Namespace, fixtures: dict, row: str, tool: str) -> dict[str, str]:
    cell = tool.replace(":", "-")
    scratch = args.workdir / "scratch" / row / cell
    # Run roots under /run, where each tool keeps them by default (/run/berth,
    # /run/berth-test-docker, /run/containers/storage, /run/runc).
    root, runroot = scratch / "root", RUN_BASE / row / cell
    dockerd = "berth-test-docker-net" if ROWS[row].dockerd == "bridge" else "berth-test-docker"
    return {
        "berth": str(args.berth),
        "docker": " ".join(DOCKER_NET if ROWS[row].dockerd == "bridge" else DOCKER),
        # the Engine API rows: the bare client and the daemon's socket, for DOCKER_HOST
        "docker_cli": DOCKER_BIN,
        "docker_sock": DOCKER_NET_SOCK if ROWS[row].dockerd == "bridge" else DOCKER_SOCK,
        "docker_pidfile": f"/run/{dockerd}.pid",  # scripts/dockerd.sh's names
        "containerd_pidfile": f"/run/{dockerd}/containerd/containerd.pid",
        "api_sock": str(runroot / "api.sock"),  # berth serve's, in the cell's run root
        "api_load_c": str(REPO / "bench" / "api_load.c"),
        # private store, state and tmp dirs; the same runc the other tools use; no systemd here
        "podman": f"podman --root {root} --runroot {runroot} --tmpdir {scratch}/tmp --storage-driver overlay"
        " --runtime runc --cgroup-manager cgroupfs --events-backend file",
        "podman_ulimits": podman_ulimits(),
        "runc": f"runc --root {runroot}",
        # private store and state; overlay, as podman's; OCI isolation (runc) works here
        "buildah": f"buildah --root {root} --runroot {runroot} --storage-driver overlay",
        "registry_sh": str(REPO / "bench" / "registry.sh"),
        "regbase": str(args.workdir / "registry"),
        "build_ctx": str(fixtures["build_context"]),
        "built_ref": BUILT_REF,
        "big_id": fixtures["big_image_id"],
        "big_bytes": str(fixtures["big_layer_bytes"]),
        "huge_tar": str(fixtures["huge_tar"]),
        "huge_bytes": str(fixtures["huge_tar_bytes"]),
        "archive": str(fixtures["big_archive"]),
        "big_ref": BIG_REF,
        "busybox_ref": BUSYBOX_REF,
        "busybox_tar": str(fixtures["busybox_tar"]),
        "hello_tar": str(fixtures["hello_tar"]),
        "httpd_ref": HTTPD_REF,
        "httpd_tar": str(fixtures["httpd_tar"]),
        "root": str(root),
        "runroot": str(runroot),
        # berth keeps network namespaces for its next starts as mounts in its run root: empty
        # the pool first (under its lock, so that a monitor still filling it is waited for).
        "rm_roots": f"{{ [ ! -d {runroot}/netns-pool ] || flock {runroot}/netns-pool"
        f" sh -c 'umount -l {runroot}/netns-pool/ns-* 2>/dev/null; rm -rf {runroot}/netns-pool'; }};"
        f" rm -rf {root} {runroot}",
        "out": str(scratch / "out.tar"),
        "scratch": str(scratch),
    }


# --------------------------------------------------------------------------------------------
# Running


def log(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


class StepFailed(Exception):
    pass


def sh(snippet: str, env: dict[str, str] | None = None, what: str = "") -> float:
    """Run a bash snippet; return its wall time in seconds; raise StepFailed if it fails."""
    return run_snippet(snippet, env, what)[0]


def sh_output(snippet: str, env: dict[str, str] | None = None, what: str = "") -> str:
    """Run a bash snippet; return its stdout, stripped; raise StepFailed if it fails."""
    return run_snippet(snippet, env, what)[1].decode(errors="replace").strip()


# No step of any row comes near this; a step past it is hung (the test dockerd once never
# answered a `docker rm -f` of 100 containers), and fails its cell instead of the whole bench.
STEP_TIMEOUT_S = 1800


def run_snippet(snippet: str, env: dict[str, str] | None, what: str) -> tuple[float, bytes]:
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", snippet],
            check=False,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=STEP_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        # (subprocess.run killed bash; what it started is the cleanup's to find)
        raise StepFailed(
            f"{what or 'command'} did not finish in {STEP_TIMEOUT_S} s: `{snippet}`"
        ) from None
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).decode(errors="replace").strip().splitlines()[-5:]
        raise StepFailed(f"{what or 'command'} exited {proc.returncode}: `{snippet}`: " + " | ".join(tail))
    return elapsed, proc.stdout


def install_packages(packages: list[str]) -> None:
    missing = []
    for pkg in dict.fromkeys(packages):
        q = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", pkg], check=False, capture_output=True, text=True
        )
        if q.stdout.strip() != "install ok installed":
            missing.append(pkg)
    if not missing:
        return
    log(f"installing {' '.join(missing)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing]
    if subprocess.run(cmd, check=False, env=env, stdout=subprocess.DEVNULL).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=True, stdout=subprocess.DEVNULL)
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)


def docker(*argv: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*DOCKER, *argv], check=True, **kw)


def run_row(
    args: argparse.Namespace, fixtures: dict, row: str, tools: dict[str, Job], runs: int
) -> dict[str, dict]:
    """Run one row for all its tools, interleaving repetitions. Returns tool → result."""
    metric = ROWS[row].metric
    results: dict[str, dict] = {}
    active: dict[str, tuple[Job, dict, dict]] = {}
    for tool, job in tools.items():
        ctx = context(args, fixtures, row, tool) | {k: str(v) for k, v in job.vars.items()}
        Path(ctx["scratch"]).mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, BERTH_ROOT=ctx["root"], BERTH_RUNROOT=ctx["runroot"]) | job.env
        results[tool] = {"status": "ok", "times": [], "command": timed_snippet(args, job, ctx)}
        if metric:
            results[tool] |= {"unit": metric.unit, "higher_is_better": metric.higher_is_better}
            results[tool] |= {"values": [], "run_notes": []}
        if job.env:
            results[tool]["env"] = job.env
        if not args.berth_ok and uses_berth(tool, job):
            results[tool] = {"status": "skipped", "reason": args.berth_missing}
            continue
        try:
            if job.before_all:
                log(f"{row}/{tool}: preparing")
                start = time.perf_counter()
                sh(job.before_all.format(**ctx), env, "before_all")
                results[tool]["before_all_seconds"] = round(time.perf_counter() - start, 3)
            if job.describe:
                note = sh_output(job.describe.format(**ctx), env, "describe")
                log(f"{row}/{tool}: {note}")
                results[tool]["note"] = note
            active[tool] = (job, ctx, env)
        except StepFailed as e:
            fail(results[tool], row, tool, e)
            run_after_all(job, ctx, env)

    total = args.warmup + runs
    for i in range(total):
        warm = i < args.warmup
        for tool in list(active):
            job, ctx, env = active[tool]
            try:
                if job.setup:
                    sh(job.setup.format(**ctx), env, "setup")
                t, out = run_snippet(timed_snippet(args, job, ctx), env, "command")
                if job.measure:
                    out += b"\n" + run_snippet(job.measure.format(**ctx), env, "measure")[1]
                if metric:
                    text = out.decode(errors="replace")
                    try:
                        value, note = metric.parse(text, t, ctx)
                        rss = rss_values(text) if metric.rss else {}
                        series = metric.series(text) if metric.series else {}
                        if metric.rss and "peak_rss_kb" not in rss:
                            raise ValueError("no `peak-rss-kb N` line")
                    except ValueError as e:
                        raise StepFailed(f"command output: {e}: " + " | ".join(text.splitlines()[-8:])) from e
                    if rss:
                        note += "; " + ", ".join(f"{k} {v}" for k, v in rss.items())
                if job.teardown:
                    sh(job.teardown.format(**ctx), env, "teardown")
            except StepFailed as e:
                fail(results[tool], row, tool, e)
                run_after_all(job, ctx, env)
                del active[tool]
                continue
            label = "warmup" if warm else f"run {i - args.warmup + 1}/{runs}"
            log(
                f"{row}/{tool}: {label}: {t:.3f}s"
                + (f": {value:.1f} {metric.unit} ({note})" if metric else "")
            )
            if not warm:
                results[tool]["times"].append(t)
                if metric:
                    results[tool]["values"].append(value)
                    results[tool]["run_notes"].append(note)
                    for k, v in rss.items():
                        results[tool].setdefault(k, []).append(v)
                    for k, v in series.items():
                        results[tool].setdefault("series", {}).setdefault(k, []).append(v)
    for tool, (job, ctx, env) in active.items():
        run_after_all(job, ctx, env)
        xs = samples(results[tool])
        results[tool].update(
            median=statistics.median(xs),
            min=min(xs),
            max=max(xs),
            stdev=statistics.stdev(xs) if len(xs) > 1 else 0.0,
        )
    return results


def uses_berth(cell: str, job: Job) -> bool:
    """A berth cell, or another tool's that needs the berth binary (e.g. berth's client or server)."""
    snippets = [
        job.command,
        job.setup,
        job.teardown,
        job.before_all,
        job.after_all,
        job.describe,
        job.measure,
    ]
    return tool_of(cell) == "berth" or any("{berth}" in s for s in snippets if s)


def tool_of(cell: str) -> str:
    """A row's cells are tools, or `TOOL:VARIANT` (e.g. `skopeo:raw`, `berth:push`); --tools names the TOOL."""
    return cell.split(":")[0]


def samples(result: dict) -> list[float]:
    """What a cell's median is of: the metric's values if the row has one, else the wall times."""
    return result["values"] if "values" in result else result["times"]


def timed_snippet(args: argparse.Namespace, job: Job, ctx: dict) -> str:
    command = job.command.format(**ctx)
    return f"{command} && sync" if args.durable else command


def fail(result: dict, row: str, tool: str, e: StepFailed) -> None:
    log(f"{row}/{tool}: FAILED: {e}")
    result.update(status="failed", error=str(e))
    result.pop("times", None)
    result.pop("values", None)


def run_after_all(job: Job, ctx: dict, env: dict) -> None:
    if job.after_all:
        try:
            sh(job.after_all.format(**ctx), env, "after_all")
        except StepFailed as e:
            log(f"warning: {e}")


# --------------------------------------------------------------------------------------------
# Fixtures


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def make_big_rootfs(busybox_tar: Path, dest: Path) -> None:
    """busybox rootfs + BIG_FILES files of seeded (so reproducible) incompressible bytes."""
    tmp = dest.with_suffix(".tmp")
    with tarfile.open(busybox_tar) as src, tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as out:
        for member in src:
            out.addfile(member, src.extractfile(member) if member.isreg() else None)
        d = tarfile.TarInfo("data")
        d.type, d.mode, d.mtime = tarfile.DIRTYPE, 0o755, FIXTURE_EPOCH
        out.addfile(d)
        rng = random.Random(20240101)
        for i in range(BIG_FILES):
            info = tarfile.TarInfo(f"data/random-{i}.bin")
            info.size, info.mode, info.mtime = BIG_FILE_SIZE, 0o644, FIXTURE_EPOCH
            out.addfile(info, io.BytesIO(rng.randbytes(BIG_FILE_SIZE)))
    tmp.rename(dest)


def http_page() -> bytes:
    """HTTP_FILE_SIZE bytes of seeded (so reproducible) text: the page the http row serves."""
    rng = random.Random(20240102)
    words = ["berth", "bench", "static", "page", "served", "by", "busybox", "httpd", "through", "a", "port"]
    text = "<!doctype html><title>berth bench</title><pre>\n"
    while len(text) < HTTP_FILE_SIZE:
        text += " ".join(rng.choice(words) for _ in range(10)) + "\n"
    return text[: HTTP_FILE_SIZE - 1].encode() + b"\n"


def make_httpd_rootfs(busybox_tar: Path, dest: Path) -> None:
    """busybox rootfs + www/index.html (HTTP_FILE_SIZE bytes)."""
    tmp = dest.with_suffix(".tmp")
    with tarfile.open(busybox_tar) as src, tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as out:
        for member in src:
            out.addfile(member, src.extractfile(member) if member.isreg() else None)
        d = tarfile.TarInfo("www")
        d.type, d.mode, d.mtime = tarfile.DIRTYPE, 0o755, FIXTURE_EPOCH
        out.addfile(d)
        page = http_page()
        info = tarfile.TarInfo("www/index.html")
        info.size, info.mode, info.mtime = len(page), 0o644, FIXTURE_EPOCH
        out.addfile(info, io.BytesIO(page))
    tmp.rename(dest)


# The build rows' Dockerfile: 10 steps on the busybox image, a COPY of the whole context (21 files,
# ~150 KB), 3 RUN steps doing small work. Its output (`docker run IMAGE`) is the size of src/.
BUILD_DOCKERFILE = """\
FROM berth-bench/busybox:latest
ENV APP_HOME=/app GREETING=hello
WORKDIR /app
COPY . /app/
RUN mkdir -p out && for i in $(seq 1 20); do echo "$GREETING $i" > out/file-$i.txt; done
RUN cat src/*.txt | wc -c > out/size && sha256sum src/* conf/* > out/SHA256SUMS
RUN echo "$APP_HOME built" > out/stamp && ls -lR /app > out/listing
LABEL org.opencontainers.image.title="berth bench build" bench.row=build
EXPOSE 8080
CMD ["sh", "-c", "cat /app/out/size"]
"""


def build_context_files() -> dict[str, bytes]:
    """Dockerfile + src/part-01..16.txt (seeded text, 1-16 KB) + conf/{a,b,c}.conf + run.sh."""
    rng = random.Random(20240103)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/"
    files = {"Dockerfile": BUILD_DOCKERFILE.encode()}
    for i in range(1, 17):
        text = "".join(rng.choice(alphabet) for _ in range(1000 * i))
        files[f"src/part-{i:02d}.txt"] = (
            "\n".join(text[j : j + 76] for j in range(0, len(text), 76)).encode() + b"\n"
        )
    for name in "abc":
        files[f"conf/{name}.conf"] = f"key_{name}=value\n".encode()
    files["run.sh"] = b"#!/bin/sh\necho hello\n"
    return files


def make_build_context(dest: Path) -> None:
    """(Re)write the build context, every mtime FIXTURE_EPOCH; files not in it are removed."""
    files = build_context_files()
    if dest.exists():
        for path in sorted(dest.rglob("*"), reverse=True):
            rel = path.relative_to(dest).as_posix()
            if path.is_file() and rel not in files:
                path.unlink()
            elif path.is_dir() and not any(f.startswith(rel + "/") for f in files):
                path.rmdir()
    for rel, data in files.items():
        path = dest / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
        path.chmod(0o755 if rel.endswith(".sh") else 0o644)
        os.utime(path, (FIXTURE_EPOCH, FIXTURE_EPOCH))
    for d in [dest, *(p for p in dest.rglob("*") if p.is_dir())]:
        os.utime(d, (FIXTURE_EPOCH, FIXTURE_EPOCH))


class SeededBytes:
    """`size` bytes of seeded pseudo-random data for tarfile.addfile, read in chunks (never all in
    memory)."""

    def __init__(self, seed: int, size: int) -> None:
        self.rng, self.left = random.Random(seed), size

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        self.left -= n
        return self.rng.randbytes(n)


def make_huge_rootfs(dest: Path) -> None:
    """A rootfs of one directory and one HUGE_FILE_SIZE file of seeded incompressible bytes."""
    tmp = dest.with_suffix(".tmp")
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as out:
        d = tarfile.TarInfo("data")
        d.type, d.mode, d.mtime = tarfile.DIRTYPE, 0o755, FIXTURE_EPOCH
        out.addfile(d)
        info = tarfile.TarInfo("data/random.bin")
        info.size, info.mode, info.mtime = HUGE_FILE_SIZE, 0o644, FIXTURE_EPOCH
        out.addfile(info, SeededBytes(20240104, HUGE_FILE_SIZE))
    tmp.rename(dest)


def archive_image(archive: Path) -> tuple[str, int]:
    """The image ID (config digest) and the uncompressed size of the layers of a docker-save archive."""
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))[0]
        size = sum(tar.getmember(layer).size for layer in manifest["Layers"])
    return "sha256:" + manifest["Config"].removesuffix(".json"), size


def prepare_fixtures(args: argparse.Namespace) -> dict:
    fx = args.workdir / "fixtures"
    fx.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [str(SCRIPTS / "make-test-images.sh"), str(fx)],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL if QUIET_FIXTURES else None,
    )
    busybox_tar, hello_tar = fx / "busybox-rootfs.tar", fx / "hello-rootfs.tar"

    big_rootfs = fx / "big-rootfs.tar"
    stamp = fx / "big-rootfs.inputs"
    inputs = f"{sha256_file(busybox_tar)} {BIG_FILES}x{BIG_FILE_SIZE} v1"
    if not big_rootfs.exists() or not stamp.exists() or stamp.read_text() != inputs:
        log(f"building {big_rootfs} ({BIG_FILES} x {BIG_FILE_SIZE >> 20} MiB random + busybox)")
        make_big_rootfs(busybox_tar, big_rootfs)
        stamp.write_text(inputs)
        (fx / "big-image.tar").unlink(missing_ok=True)

    httpd_tar = fx / "httpd-rootfs.tar"
    stamp = fx / "httpd-rootfs.inputs"
    inputs = f"{sha256_file(busybox_tar)} {hashlib.sha256(http_page()).hexdigest()} v1"
    if not httpd_tar.exists() or not stamp.exists() or stamp.read_text() != inputs:
        log(f"building {httpd_tar} (busybox + www/index.html, {HTTP_FILE_SIZE} bytes)")
        make_httpd_rootfs(busybox_tar, httpd_tar)
        stamp.write_text(inputs)

    # The archive both tools load: what `docker save` makes of `docker import`ed big-rootfs.tar.
    big_archive = fx / "big-image.tar"
    if not big_archive.exists():
        log(f"docker import + docker save → {big_archive}")
        docker("import", "--change", 'CMD ["sh"]', str(big_rootfs), BIG_REF, stdout=subprocess.DEVNULL)
        tmp = big_archive.with_suffix(".tmp")
        docker("save", "-o", str(tmp), BIG_REF)
        tmp.rename(big_archive)
    inspect = subprocess.run(
        ["skopeo", "inspect", f"docker-archive:{big_archive}"], check=True, capture_output=True, text=True
    )
    layers = json.loads(inspect.stdout).get("Layers", [])
    big_id, big_bytes = archive_image(big_archive)

    build_context = fx / "build-context"
    make_build_context(build_context)

    # Only for registry-1g: 1 GiB, built on first use.
    huge_tar = fx / "huge-rootfs.tar"
    if "registry-1g" in args.rows.split(","):
        stamp = fx / "huge-rootfs.inputs"
        inputs = f"{HUGE_FILE_SIZE} v1"
        if not huge_tar.exists() or not stamp.exists() or stamp.read_text() != inputs:
            log(f"building {huge_tar} (one file of {HUGE_FILE_SIZE >> 20} MiB random)")
            make_huge_rootfs(huge_tar)
            stamp.write_text(inputs)
    return {
        "build_context": build_context,
        "big_image_id": big_id,
        "big_layer_bytes": big_bytes,
        "huge_tar": huge_tar,
        "huge_tar_bytes": huge_tar.stat().st_size if huge_tar.exists() else None,
        "busybox_tar": busybox_tar,
        "hello_tar": hello_tar,
        "httpd_tar": httpd_tar,
        "httpd_tar_sha256": sha256_file(httpd_tar),
        "big_rootfs": big_rootfs,
        "big_archive": big_archive,
        "big_archive_bytes": big_archive.stat().st_size,
        "big_archive_sha256": sha256_file(big_archive),
        "big_archive_layers": layers,
    }


# --------------------------------------------------------------------------------------------
# Reporting


def add_ratios(results: dict[str, dict[str, dict]]) -> None:
    """ratio_vs_berth = how many times better berth is (None when berth has no median): tool median
    / berth median for times, berth median / tool median for "higher is better" metrics."""
    for tools in results.values():
        base = tools.get("berth", {}).get("median")
        for r in tools.values():
            if r["status"] != "ok":
                continue
            if not base:
                r["ratio_vs_berth"] = None
            elif r.get("higher_is_better"):
                r["ratio_vs_berth"] = base / r["median"]
            else:
                r["ratio_vs_berth"] = r["median"] / base


def table(results: dict[str, dict[str, dict]]) -> str:
    """The markdown table; a `peak RSS (MB)` column (highest of the runs) when some row measured it."""
    rss = any("peak_rss_kb" in r for tools in results.values() for r in tools.values())
    lines = [
        "| row | tool | runs | median | min | max | unit | ratio vs berth |"
        + (" peak RSS (MB) |" if rss else ""),
        "|---|---|---:|---:|---:|---:|---|---:|" + ("---:|" if rss else ""),
    ]
    notes = []
    for row, tools in results.items():
        title = ROWS[row].title or row
        for tool, r in tools.items():
            if r.get("note"):
                notes.append(f"- {title}, {tool}: {r['note']} (setup {r.get('before_all_seconds', 0):.1f} s)")
            for key in (k for k in r if k.endswith("_rss_kb") and k != "peak_rss_kb"):
                mb = ", ".join(f"{v * 1024 / 1e6:.1f}" for v in r[key])
                notes.append(
                    f"- {title}, {tool}: {key.removesuffix('_kb').replace('_', ' ')} (MB, each run): {mb}"
                )
            if r["status"] != "ok":  # the reason was logged; it is also in the JSON
                lines.append(f"| {title} | {tool} | | {r['status']} | | | | |" + (" |" if rss else ""))
                continue
            ratio = "—" if r["ratio_vs_berth"] is None else f"{r['ratio_vs_berth']:.2f}"
            if "unit" not in r:
                unit, fmt = "s", "{:.3f}"
            elif r.get("higher_is_better", True):
                unit, fmt = f"{r['unit']} ↑", "{:.0f}"
            else:
                unit, fmt = r["unit"], "{:.1f}"
            median, lo, hi = (fmt.format(r[k]) for k in ("median", "min", "max"))
            peak = (
                f" {max(r['peak_rss_kb']) * 1024 / 1e6:.1f} |"
                if "peak_rss_kb" in r
                else (" |" if rss else "")
            )
            lines.append(
                f"| {title} | {tool} | {len(samples(r))} | {median} | {lo} | {hi} | {unit} | {ratio} |{peak}"
            )
    return "\n".join(lines + ([""] + notes if notes else []) + series_tables(results))


def series_tables(results: dict[str, dict[str, dict]]) -> list[str]:
    """A table per row whose cells kept `series` (berth's phases): the median of each name
    per cell, in the order the first cell printed them."""
    out = []
    for row, tools in results.items():
        cells = {t: r["series"] for t, r in tools.items() if r.get("status") == "ok" and r.get("series")}
        if not cells:
            continue
        names = list(dict.fromkeys(k for series in cells.values() for k in series))
        out += [
            "",
            f"{ROWS[row].title or row}: median of each (min–max), ms",
            "",
            "| phase | " + " | ".join(cells) + " |",
            "|---|" + "---:|" * len(cells),
        ]
        for name in names:
            values = [
                f"{statistics.median(xs):.2f} ({min(xs):.2f}–{max(xs):.2f})" if (xs := s.get(name)) else ""
                for s in cells.values()
            ]
            out.append(f"| {name} | " + " | ".join(values) + " |")
    return out


def check_goals(results: dict[str, dict[str, dict]]) -> list[dict]:
    """Every goal of every row that ran: PASS, FAIL, or n/a when a cell it needs has no median."""
    checked = []
    for row, cells in results.items():
        for goal in ROWS[row].goals:
            try:
                passed, text = goal.check(cells)
                verdict = "PASS" if passed else "FAIL"
            except (KeyError, ZeroDivisionError):
                verdict, text = "n/a", "a cell it needs did not run"
            checked.append({"row": row, "goal": goal.name, "verdict": verdict, "detail": text})
    return checked


def goals_text(checked: list[dict]) -> str:
    return "\n".join(
        f"goal {ROWS[g['row']].title or g['row']}: {g['goal']}: {g['verdict']} ({g['detail']})"
        for g in checked
    )


def output(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def host_info(args: argparse.Namespace) -> dict:
    return {
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "mem_total_kb": next(
            (int(ln.split()[1]) for ln in open("/proc/meminfo") if ln.startswith("MemTotal")), None
        ),
        "workdir_fs": output(["findmnt", "-no", "FSTYPE", "--target", str(args.workdir)]),
        "docker_version": output([*DOCKER, "version", "--format", "{{.Server.Version}}"]),
        "wrk_version": output(["dpkg-query", "-W", "-f=${Version}", "wrk"]),
        "docker_storage_driver": output([*DOCKER, "info", "--format", "{{.Driver}}"]),
        "berth_version": output([str(args.berth), "--version"]) if args.berth_ok else None,
        "berth_binary": str(args.berth_source) if args.berth_ok else None,
        "berth_sha256": sha256_file(args.berth) if args.berth_ok else None,
        "podman_version": output(["podman", "--version"]),
        "runc_version": output(["runc", "--version"]).split("\n")[0],
        "loadavg_at_start": os.getloadavg(),
        "processes_at_start": output(["sh", "-c", "ps -e --no-headers | wc -l"]),
        "git_commit": output(["git", "-C", str(REPO), "rev-parse", "HEAD"]),
        "crates_dirty": bool(output(["git", "-C", str(REPO), "status", "--porcelain", "--", "crates"])),
    }


def results_path() -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    day = dt.date.today().isoformat()
    path, n = RESULTS / f"{day}.json", 2
    while path.exists():
        path, n = RESULTS / f"{day}-{n}.json", n + 1
    return path


# --------------------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--berth", type=Path, default=REPO / "target" / "release" / "berth", help="berth binary")
    p.add_argument("-n", "--runs", type=int, help="timed repetitions per cell (default: the row's, 3 to 20)")
    p.add_argument("--warmup", type=int, default=1, help="untimed repetitions first (default 1)")
    p.add_argument("--rows", default=",".join(DEFAULT_ROWS), help=f"comma-separated, of: {', '.join(ROWS)}")
    p.add_argument("--tools", default=",".join(TOOLS), help=f"comma-separated (default {','.join(TOOLS)})")
    p.add_argument("--workdir", type=Path, default=Path("/var/tmp/berth-bench"), help="fixtures and scratch")
    p.add_argument(
        "--durable",
        action="store_true",
        help="time `COMMAND && sync`, so data a tool left in the page cache counts too",
    )
    p.add_argument("--no-install", action="store_true", help="do not apt-get install anything")
    p.add_argument(
        "--keep-dockerd", action="store_true", help="leave the test dockerds (plain, bridge) running"
    )
    p.add_argument(
        "--cleanup-firewall",
        action="store_true",
        help="after stopping the bridge dockerd, remove what it added to the firewall"
        " (scripts/dockerd.sh cleanup-firewall)",
    )
    p.add_argument("--no-save", action="store_true", help="do not write bench/results/*.json")
    args = p.parse_args(argv)
    if args.runs is not None and args.runs < 1:
        p.error("--runs must be at least 1")
    for row in args.rows.split(","):
        if row not in ROWS:
            p.error(f"unknown row {row!r}; rows: {', '.join(ROWS)}")
    args.workdir = args.workdir.resolve()
    args.berth = args.berth if args.berth.is_absolute() else (Path.cwd() / args.berth)
    args.berth_ok = args.berth.is_file() and os.access(args.berth, os.X_OK)
    args.berth_missing = (
        None if args.berth_ok else f"no berth binary at {args.berth} (cargo build --release, or --berth PATH)"
    )
    return args


def run_row_with_bridge_dockerd(
    args: argparse.Namespace, fixtures: dict, row: str, tools: dict[str, Job], runs: int
) -> dict[str, dict]:
    """Start `dockerd.sh start --bridge` for this row, run it, stop that dockerd again (unless it was
    already running, or --keep-dockerd); after stopping it, --cleanup-firewall undoes its firewall
    changes."""
    dockerd = str(SCRIPTS / "dockerd.sh")
    was_running = (
        subprocess.run([dockerd, "status", "--bridge"], check=False, capture_output=True).returncode == 0
    )
    start = subprocess.run([dockerd, "start", "--bridge"], check=False, capture_output=True, text=True)
    if start.returncode != 0:
        reason = f"dockerd.sh start --bridge failed: {start.stderr.strip()[-500:]}"
        log(f"{row}/docker: {reason}")
        tools = {t: job for t, job in tools.items() if t != "docker"}
        results = run_row(args, fixtures, row, tools, runs)
        results["docker"] = {"status": "failed", "error": reason}
        return results
    try:
        return run_row(args, fixtures, row, tools, runs)
    finally:
        if not was_running and not args.keep_dockerd:
            subprocess.run([dockerd, "stop", "--bridge"], check=False, stderr=subprocess.DEVNULL)
            if args.cleanup_firewall:
                subprocess.run([dockerd, "cleanup-firewall"], check=False)
            else:
                log("the bridge dockerd left its chains and FORWARD policy DROP in the firewall;")
                log("`scripts/dockerd.sh cleanup-firewall` removes them (docs/bench.md)")


def snapshot_berth(args: argparse.Namespace) -> None:
    """Time a private copy: others may rebuild target/release/berth while the bench runs."""
    copy = args.workdir / "berth-under-test"
    copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(args.berth, copy)
    args.berth_source, args.berth = args.berth, copy
    log(f"timing a copy of {args.berth_source} ({sha256_file(copy)[:12]})")


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0:
        log("must run as root (it starts a dockerd and berth needs root to run containers)")
        return 1
    if not args.berth_ok:
        log(f"berth rows will be skipped: {args.berth_missing}")
    else:
        snapshot_berth(args)
    wanted_tools = args.tools.split(",")
    if not args.no_install:
        install_packages(
            APT_PACKAGES
            + [pkg for t in wanted_tools for pkg in TOOL_PACKAGES.get(t, [])]
            + [pkg for r in args.rows.split(",") for pkg in ROW_PACKAGES.get(r, [])]
        )

    status = subprocess.run([str(SCRIPTS / "dockerd.sh"), "status"], check=False, capture_output=True)
    was_running = status.returncode == 0
    subprocess.run([str(SCRIPTS / "dockerd.sh"), "start"], check=True, stdout=subprocess.DEVNULL)
    try:
        host = host_info(args)
        fixtures = prepare_fixtures(args)
        log(
            f"input archive {fixtures['big_archive']}: {fixtures['big_archive_bytes'] / 1e6:.1f} MB,"
            f" {len(fixtures['big_archive_layers'])} layer(s)"
        )
        results: dict[str, dict[str, dict]] = {}
        runs: dict[str, int] = {}
        loads: dict[str, dict[str, list[float]]] = {}  # other sessions share the CPUs: say how busy
        for row in args.rows.split(","):
            loads[row] = {"start": list(os.getloadavg())}
            log(f"{row}: load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
            tools = {t: as_job(spec) for t, spec in ROWS[row].jobs.items() if tool_of(t) in wanted_tools}
            runs[row] = args.runs or ROWS[row].runs
            if ROWS[row].dockerd == "bridge" and "docker" in tools:
                results[row] = run_row_with_bridge_dockerd(args, fixtures, row, tools, runs[row])
            else:
                results[row] = run_row(args, fixtures, row, tools, runs[row])
            loads[row]["end"] = list(os.getloadavg())
    finally:
        if not was_running and not args.keep_dockerd:
            subprocess.run([str(SCRIPTS / "dockerd.sh"), "stop"], check=False, stderr=subprocess.DEVNULL)

    add_ratios(results)
    goals = check_goals(results)
    print(table(results))
    if goals:
        print("\n" + goals_text(goals))
    if not args.no_save:
        path = results_path()
        doc = {
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "runs": runs,
            "warmup": args.warmup,
            "durable": args.durable,
            "host": host,
            "fixtures": {k: str(v) if isinstance(v, Path) else v for k, v in fixtures.items()},
            "rows": results,
            "goals": goals,
            "loadavg_by_row": loads,
        }
        path.write_text(json.dumps(doc, indent=2) + "\n")
        log(f"results written to {path.relative_to(REPO)}")
    failed = any(r["status"] == "failed" for tools in results.values() for r in tools.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
