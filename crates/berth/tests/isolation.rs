//! Isolation of containers (issue 3): namespaces, Docker's capability set and seccomp, the
//! operations a container must not be able to do, and the cgroup limits.
//!
//! Root only (SKIPPED otherwise); each test owns its roots and the [`Sandbox`] guard removes
//! its containers and checks for leftovers even on failure.

mod common;

use std::path::{Path, PathBuf};

use common::{status_field, Sandbox};

/// Docker's 14 default capabilities as a /proc/PID/status mask.
const DOCKER_CAPS: &str = "00000000a80425fb";
const NO_CAPS: &str = "0000000000000000";

fn host_status() -> String {
    std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status")
}

/// Runs `cat /proc/self/status` in a fresh container with `flags`.
fn status_with(b: &Sandbox, flags: &[&str]) -> String {
    let mut args = vec!["run", "--rm"];
    args.extend(flags);
    args.extend(["busybox", "cat", "/proc/self/status"]);
    b.ok(&args)
}

fn field(status: &str, key: &str) -> String {
    status_field(status, key)
        .unwrap_or_else(|| panic!("no {key} in:\n{status}"))
        .to_string()
}

#[test]
fn own_namespaces_and_hostname() {
    let Some(b) = Sandbox::with_busybox() else {
        return;
    };
    let out = b.ok(&[
        "run",
        "--name",
        "ns",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "for n in pid mnt uts ipc net; do readlink /proc/self/ns/$n; done; \
         hostname; cat /etc/hostname; ls /sys/class/net; echo pids $(ls /proc | grep -E '^[0-9]+$')",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    for (i, ns) in ["pid", "mnt", "uts", "ipc", "net"].iter().enumerate() {
        let host = std::fs::read_link(format!("/proc/self/ns/{ns}")).unwrap();
        let host = host.to_string_lossy();
        assert!(lines[i].starts_with(&format!("{ns}:[")), "{out}");
        assert_ne!(
            lines[i], host,
            "the container shares the host's {ns} namespace"
        );
    }
    let id = b.inspect("ns", "{{.Id}}");
    assert_eq!(lines[5], &id[..12], "hostname is the short ID");
    assert_eq!(lines[6], &id[..12], "/etc/hostname is the short ID");
    assert_eq!(
        lines[7], "lo",
        "only loopback in the container's network namespace"
    );
    // Its own pid namespace: the shell is pid 1 and only its few children exist.
    let pids: Vec<u32> = lines[8]
        .strip_prefix("pids ")
        .unwrap()
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(pids[0], 1, "{pids:?}");
    assert!(
        pids.len() <= 4 && pids.iter().all(|p| *p < 20),
        "the container sees other processes: {pids:?}"
    );
}

#[test]
fn default_capabilities_and_seccomp_are_dockers() {
    let Some(b) = Sandbox::with_busybox() else {
        return;
    };
    let s = status_with(&b, &[]);
    assert_eq!(field(&s, "CapEff"), DOCKER_CAPS);
    assert_eq!(field(&s, "CapPrm"), DOCKER_CAPS);
    assert_eq!(field(&s, "CapBnd"), DOCKER_CAPS);
    assert_eq!(field(&s, "CapInh"), NO_CAPS);
    assert_eq!(field(&s, "CapAmb"), NO_CAPS);
    assert_eq!(field(&s, "Seccomp"), "2", "Docker's seccomp filter");
    assert_eq!(field(&s, "NoNewPrivs"), "0");

    // A non-root user has no effective capabilities, as in docker.
    let s = status_with(&b, &["-u", "nobody"]);
    assert_eq!(field(&s, "CapEff"), NO_CAPS);
    assert_eq!(field(&s, "CapBnd"), DOCKER_CAPS);
}

/// runc applies the container's seccomp filter to `exec`'d processes too; without it an
/// exec'd shell reaches init_module, unshare(CLONE_NEWUSER), keyctl …
#[test]
fn exec_processes_get_the_containers_confinement() {
    let Some(b) = Sandbox::with_busybox() else {
        return;
    };
    b.ok(&["run", "-d", "--name", "caps", "busybox", "sleep", "30"]);
    let s = b.ok(&["exec", "caps", "cat", "/proc/self/status"]);
    assert_eq!(field(&s, "CapEff"), DOCKER_CAPS, "exec");
    assert_eq!(field(&s, "CapBnd"), DOCKER_CAPS, "exec");
    assert_eq!(field(&s, "CapInh"), NO_CAPS, "exec");
    assert_eq!(field(&s, "CapAmb"), NO_CAPS, "exec");
    assert_eq!(
        field(&s, "Seccomp"),
        "2",
        "exec must run under the seccomp filter"
    );
    // As docker's: no no_new_privs unless the container has it. (libcontainer's exec path
    // loads the filter after dropping CAP_SYS_ADMIN, which needs no_new_privs.)
    let libcontainer = std::env::var("BERTH_RUNTIME").as_deref() == Ok("libcontainer");
    let nnp = if libcontainer { "1" } else { "0" };
    assert_eq!(field(&s, "NoNewPrivs"), nnp, "exec");
    let r = b.run(&["exec", "caps", "unshare", "-U", "true"]);
    assert_ne!(r.code, 0, "an exec'd process created a user namespace");

    // Every namespace and cgroup of the container's init.
    let probe = "for n in cgroup ipc mnt net pid uts; do \
                 echo $n $(readlink /proc/self/ns/$n) $(readlink /proc/1/ns/$n); done; \
                 diff /proc/self/cgroup /proc/1/cgroup && echo same-cgroups";
    let out = b.ok(&["exec", "caps", "sh", "-c", probe]);
    for line in out.lines().filter(|l| !l.starts_with("same")) {
        let f: Vec<&str> = line.split_whitespace().collect();
        assert!(
            f.len() == 3 && f[1] == f[2],
            "exec outside the container's ns: {out}"
        );
    }
    assert!(out.contains("same-cgroups"), "{out}");
}

#[test]
fn privileged_cap_add_cap_drop_and_security_opts() {
    let Some(b) = Sandbox::with_busybox() else {
        return;
    };
    let host = host_status();
    let s = status_with(&b, &["--privileged"]);
    assert_eq!(
        field(&s, "CapEff"),
        field(&host, "CapBnd"),
        "--privileged: all of ours"
    );
    assert_eq!(field(&s, "Seccomp"), "0", "--privileged: no seccomp");

    let s = status_with(&b, &["--cap-drop", "ALL"]);
    assert_eq!(field(&s, "CapEff"), NO_CAPS);
    assert_eq!(field(&s, "CapPrm"), NO_CAPS);

    // CAP_SYS_ADMIN is bit 21; CAP_NET_RAW is bit 13.
    let s = status_with(&b, &["--cap-add", "SYS_ADMIN"]);
    assert_eq!(field(&s, "CapEff"), "00000000a82425fb");
    let s = status_with(&b, &["--cap-drop", "NET_RAW"]);
    assert_eq!(field(&s, "CapEff"), "00000000a80405fb");

    let s = status_with(&b, &["--security-opt", "no-new-privileges"]);
    assert_eq!(field(&s, "NoNewPrivs"), "1");
    let s = status_with(&b, &["--security-opt", "seccomp=unconfined"]);
    assert_eq!(field(&s, "Seccomp"), "0");
}

/// sysrq, /proc/sys, mounting, loading a module and changing its own cgroup limits all fail.
#[test]
fn dangerous_operations_fail() {
    let Some(b) = Sandbox::with_busybox() else {
        return;
    };
    let r = b.run(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo b > /proc/sysrq-trigger 2>/dev/null; echo sysrq=$?; \
         echo 3 > /proc/sys/vm/drop_caches 2>/dev/null; echo drop_caches=$?; \
         mount -t tmpfs x /mnt 2>/dev/null; echo mount_tmpfs=$?; \
         mount -t proc proc /mnt 2>/dev/null; echo mount_proc=$?; \
         mount -o bind /bin /mnt 2>/dev/null; echo mount_bind=$?; \
         head -c 64 /dev/zero > /tmp/m.ko; insmod /tmp/m.ko 2>&1; echo insmod=$?; \
         echo /tmp/evil > /proc/sys/kernel/modprobe 2>/dev/null; echo modprobe_path=$?",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = r.stdout;
    for key in [
        "sysrq",
        "drop_caches",
        "mount_tmpfs",
        "mount_proc",
        "mount_bind",
        "insmod",
        "modprobe_path",
    ] {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("{key}=")))
            .unwrap_or_else(|| panic!("no {key} in:\n{out}"));
        assert_ne!(
            line,
            format!("{key}=0"),
            "{key} succeeded in the container:\n{out}"
        );
    }
    // The module was refused for lack of privilege (seccomp / no CAP_SYS_MODULE), not because
    // the file is not a module: as host root the same call reaches the kernel.
    assert!(
        out.contains("insmod: can't insert '/tmp/m.ko': Operation not permitted"),
        "{out}"
    );
}

/// The container's cgroup paths on the host, for a controller (v1) or the unified tree.
fn cgroup_file(id: &str, controller: &str, file: &str) -> PathBuf {
    let v1 = Path::new("/sys/fs/cgroup")
        .join(controller)
        .join("berth")
        .join(id);
    if v1.is_dir() {
        v1.join(file)
    } else {
        Path::new("/sys/fs/cgroup/berth").join(id).join(file)
    }
}

fn read_trim(p: &Path) -> String {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_string()
}

#[test]
fn cgroup_limits_are_set_and_cannot_be_changed_from_inside() {
    let Some(b) = Sandbox::with_busybox() else {
        return;
    };
    let id = b.ok(&[
        "run",
        "-d",
        "--name",
        "lim",
        "--cpus",
        "0.5",
        "--pids-limit",
        "20",
        "--memory",
        "32m",
        "busybox",
        "sleep",
        "30",
    ]);
    let id = id.trim();
    let v1 = Path::new("/sys/fs/cgroup/cpu/berth").join(id).is_dir();
    if v1 {
        assert_eq!(
            read_trim(&cgroup_file(id, "cpu", "cpu.cfs_quota_us")),
            "50000"
        );
        assert_eq!(
            read_trim(&cgroup_file(id, "cpu", "cpu.cfs_period_us")),
            "100000"
        );
        assert_eq!(
            read_trim(&cgroup_file(id, "memory", "memory.limit_in_bytes")),
            "33554432"
        );
    } else {
        assert_eq!(read_trim(&cgroup_file(id, "", "cpu.max")), "50000 100000");
        assert_eq!(read_trim(&cgroup_file(id, "", "memory.max")), "33554432");
    }
    assert_eq!(read_trim(&cgroup_file(id, "pids", "pids.max")), "20");
    let pid = b.inspect("lim", "{{.State.Pid}}");
    let procs = read_trim(&cgroup_file(id, "memory", "cgroup.procs"));
    assert!(
        procs.lines().any(|l| l == pid),
        "State.Pid {pid} is not in its cgroup: {procs}"
    );
    assert_eq!(
        b.inspect(
            "lim",
            "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}}"
        ),
        "33554432 500000000 20"
    );

    // From inside: the limit files cannot be written, cgroupfs cannot be mounted, and the
    // cgroup cannot be left.
    let r = b.run(&[
        "exec",
        "lim",
        "sh",
        "-c",
        "for f in /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory.max \
                  /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/pids.max; do \
           echo 999999999 > $f 2>/dev/null && echo wrote $f; done; \
         mkdir -p /tmp/cg; mount -t cgroup -o memory cgroup /tmp/cg 2>/dev/null && echo mounted v1; \
         mount -t cgroup2 none /tmp/cg 2>/dev/null && echo mounted v2; \
         echo $$ > /sys/fs/cgroup/memory/cgroup.procs 2>/dev/null && echo moved; true",
    ]);
    assert_eq!((r.code, r.stdout.as_str()), (0, ""), "{}", r.stderr);
    if v1 {
        assert_eq!(
            read_trim(&cgroup_file(id, "memory", "memory.limit_in_bytes")),
            "33554432"
        );
    } else {
        assert_eq!(read_trim(&cgroup_file(id, "", "memory.max")), "33554432");
    }
    assert_eq!(read_trim(&cgroup_file(id, "pids", "pids.max")), "20");
}

#[test]
fn memory_limit_oom_kills_the_container() {
    let Some(b) = Sandbox::with_busybox() else {
        return;
    };
    // The shell itself (pid 1) holds ~100 MB in a variable: well over 32 MB.
    let r = b.run(&[
        "run",
        "--name",
        "oom",
        "--memory",
        "32m",
        "busybox",
        "sh",
        "-c",
        "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo ${#x}",
    ]);
    assert_eq!(r.code, 137, "stdout {:?} stderr {:?}", r.stdout, r.stderr);
    assert_eq!(r.stdout, "", "the allocation must not have succeeded");
    assert_eq!(
        b.inspect("oom", "{{.State.OOMKilled}} {{.State.ExitCode}}"),
        "true 137"
    );

    // The same without a limit succeeds: the limit is what killed it.
    let out = b.ok(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo ${#x}",
    ]);
    assert_eq!(out, "100000000\n");
}

#[test]
fn pids_limit_stops_a_fork_bomb() {
    let Some(b) = Sandbox::with_busybox() else {
        return;
    };
    let bomb = "i=0; while [ $i -lt 40 ]; do sleep 5 & i=$((i+1)); done; echo started=$i";
    let r = b.run(&[
        "run",
        "--rm",
        "--pids-limit",
        "20",
        "busybox",
        "sh",
        "-c",
        bomb,
    ]);
    assert_ne!(
        r.code, 0,
        "40 processes started under --pids-limit 20: {}",
        r.stdout
    );
    assert!(!r.stdout.contains("started=40"), "{}", r.stdout);
    assert!(r.stderr.contains("can't fork"), "{}", r.stderr);

    let out = b.ok(&["run", "--rm", "busybox", "sh", "-c", bomb]);
    assert_eq!(out, "started=40\n", "without the limit it works");
}
