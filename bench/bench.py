#!/usr/bin/env python3
"""Side-by-side benchmarks: berth against docker, podman and runc on the same work, in the same run.

    sudo python3 bench/bench.py [--berth target/release/berth] [-n 5] [--rows run-true,ps-1000]

Python 3 standard library only. It installs what it needs from Debian (docker.io, podman, ...),
starts the private test dockerd (scripts/dockerd.sh), builds the fixtures once (cached in
--workdir), then for every row and every tool runs: before_all, then N times (after --warmup
untimed runs) setup → timed command → teardown, then after_all. Repetitions of the tools in a row
are interleaved (berth, docker, podman, runc, berth, ...) so drift hits all alike. It prints a
markdown table (median seconds, or the row's metric, e.g. requests/s; ratio = how many times better
berth is: tool median / berth median for times, so docker 2.00 means docker took twice as long as
berth, berth median / tool median for "higher is better" metrics), the rows' goals as PASS/FAIL,
and writes everything to bench/results/<date>.json.

Rows are pluggable: ROWS below maps row name → Row(jobs={tool: Job}, title, runs, goals, metric,
dockerd); a plain
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


@dataclasses.dataclass
class Metric:
    """What a row measures instead of the command's wall time: parse(stdout) → (value, note)."""

    unit: str
    parse: Callable[[str], tuple[float, str]]  # raises ValueError when the output is unusable
    higher_is_better: bool = True


def wrk_requests_per_second(out: str) -> tuple[float, str]:
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


@dataclasses.dataclass
class Row:
    jobs: dict[str, Job | tuple]  # tool → its part
    title: str = ""  # what the table shows (default: the row's name)
    runs: int = 5  # timed repetitions unless -n is given
    goals: list[Goal] = dataclasses.field(default_factory=list)
    metric: Metric | None = None  # None: the command's wall time in seconds, lower is better
    dockerd: str = "plain"  # "bridge": {docker} is the dockerd with docker0 + iptables


FRESH_ROOT = "rm -rf {root} {runroot} && mkdir -p {root} {runroot}"
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
    " rm -rf {root} {runroot} {scratch}/tmp"
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


ROWS: dict[str, Row] = {
    # `load -i` of a docker-save archive of a ~200 MB single-layer image, into an empty store
    # (berth: a fresh BERTH_ROOT; docker: the image and its layer removed first).
    "load": Row(
        {
            "berth": Job(
                setup=FRESH_ROOT,
                command="{berth} load -i {archive}",
                teardown="sync",
                after_all="rm -rf {root} {runroot}",
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
                after_all="rm -rf {root} {runroot} {out}",
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
                after_all="rm -rf {root} {runroot}",
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
                after_all="rm -rf {root} {runroot}",
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
        },
        title="run --rm busybox true",
        runs=20,
        goals=[median_at_most(0.015), faster_than("docker", 20)],
    ),
    # {n} × `run -d ... sleep 1000`, then one `rm -f` of all of them.
    "run-d-100": Row(
        {
            "berth": Job(
                before_all=BERTH_HAS_BUSYBOX,
                command=run_detached_then_rm("{berth}", "berth-bench=run-d"),
                teardown=BERTH_NONE_LEFT,
                after_all=BERTH_RM_ALL + "; rm -rf {root} {runroot}",
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
                after_all=BERTH_RM_ALL + "; rm -rf {root} {runroot}",
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
                + "; rm -rf {root} {runroot}",
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
}
# not "http": it starts the bridge dockerd, which changes the host firewall (docs/bench.md)
DEFAULT_ROWS = ["load", "save", "run", "run-true", "run-d-100", "ps-1000"]
TOOLS = ["berth", "docker", "podman", "runc"]
TOOL_PACKAGES = {"podman": ["podman", "runc"], "runc": ["runc", "jq"]}
ROW_PACKAGES = {"http": ["wrk", "curl", "iptables", "nftables"]}

# podman 4.3 as root asks runc for RLIMIT_NOFILE 1048576 (`--ulimit host` too; with only nofile
# given, for RLIMIT_NPROC 1048576), which fails here (hard limits 20000 and 96365, no
# CAP_SYS_RESOURCE): give it both, at the limits its runc actually has.
PODMAN_NPROC_CAP = 32768  # RLIMIT_NPROC of podman's conmon/runc on this host


def podman_ulimits() -> str:
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc = min(resource.getrlimit(resource.RLIMIT_NPROC)[1], PODMAN_NPROC_CAP)
    return f"--ulimit nofile={nofile}:{nofile} --ulimit nproc={nproc}:{nproc}"


def context(args: argparse.Namespace, fixtures: dict, row: str, tool: str) -> dict[str, str]:
    scratch = args.workdir / "scratch" / row / tool
    # Run roots under /run, where each tool keeps them by default (/run/berth,
    # /run/berth-test-docker, /run/containers/storage, /run/runc).
    root, runroot = scratch / "root", RUN_BASE / row / tool
    return {
        "berth": str(args.berth),
        "docker": " ".join(DOCKER_NET if ROWS[row].dockerd == "bridge" else DOCKER),
        # private store, state and tmp dirs; the same runc the other tools use; no systemd here
        "podman": f"podman --root {root} --runroot {runroot} --tmpdir {scratch}/tmp --storage-driver overlay"
        " --runtime runc --cgroup-manager cgroupfs --events-backend file",
        "podman_ulimits": podman_ulimits(),
        "runc": f"runc --root {runroot}",
        "archive": str(fixtures["big_archive"]),
        "big_ref": BIG_REF,
        "busybox_ref": BUSYBOX_REF,
        "busybox_tar": str(fixtures["busybox_tar"]),
        "hello_tar": str(fixtures["hello_tar"]),
        "httpd_ref": HTTPD_REF,
        "httpd_tar": str(fixtures["httpd_tar"]),
        "root": str(root),
        "runroot": str(runroot),
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


def run_snippet(snippet: str, env: dict[str, str] | None, what: str) -> tuple[float, bytes]:
    start = time.perf_counter()
    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", snippet],
        check=False,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
    )
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
        if tool == "berth" and not args.berth_ok:
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
                if metric:
                    text = out.decode(errors="replace")
                    try:
                        value, note = metric.parse(text)
                    except ValueError as e:
                        raise StepFailed(f"command output: {e}: " + " | ".join(text.splitlines()[-8:])) from e
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
    return {
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
    lines = [
        "| row | tool | runs | median | min | max | unit | ratio vs berth |",
        "|---|---|---:|---:|---:|---:|---|---:|",
    ]
    notes = []
    for row, tools in results.items():
        title = ROWS[row].title or row
        for tool, r in tools.items():
            if r.get("note"):
                notes.append(f"- {title}, {tool}: {r['note']} (setup {r.get('before_all_seconds', 0):.1f} s)")
            if r["status"] != "ok":  # the reason was logged; it is also in the JSON
                lines.append(f"| {title} | {tool} | | {r['status']} | | | | |")
                continue
            ratio = "—" if r["ratio_vs_berth"] is None else f"{r['ratio_vs_berth']:.2f}"
            unit, fmt = (f"{r['unit']} ↑", "{:.0f}") if "unit" in r else ("s", "{:.3f}")
            median, lo, hi = (fmt.format(r[k]) for k in ("median", "min", "max"))
            lines.append(
                f"| {title} | {tool} | {len(samples(r))} | {median} | {lo} | {hi} | {unit} | {ratio} |"
            )
    return "\n".join(lines + ([""] + notes if notes else []))


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
        for row in args.rows.split(","):
            tools = {t: as_job(spec) for t, spec in ROWS[row].jobs.items() if t in wanted_tools}
            runs[row] = args.runs or ROWS[row].runs
            if ROWS[row].dockerd == "bridge" and "docker" in tools:
                results[row] = run_row_with_bridge_dockerd(args, fixtures, row, tools, runs[row])
            else:
                results[row] = run_row(args, fixtures, row, tools, runs[row])
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
        }
        path.write_text(json.dumps(doc, indent=2) + "\n")
        log(f"results written to {path.relative_to(REPO)}")
    failed = any(r["status"] == "failed" for tools in results.values() for r in tools.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
