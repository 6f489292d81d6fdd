//! Crash safety of containers (issue 3): kill -9 of the CLI, of the monitor and of the
//! container's init each leave consistent state and no leaked mounts; restart policies.
//!
//! Root only (SKIPPED otherwise); each test owns its roots and the [`Sandbox`] guard removes
//! its containers and checks for leftovers even on failure.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{kill9, parent_pid, process_alive, wait_for, Sandbox};

/// A shell that reports it is ready and exits 0 on SIGTERM.
const POLITE: &str = "trap 'exit 0' TERM; echo ready; while :; do sleep 0.1; done";

/// The status of `name` once it exists (`None` while `inspect` does not know it).
fn status(b: &Sandbox, name: &str) -> Option<String> {
    let r = b.run(&["inspect", "--format", "{{.State.Status}}", name]);
    (r.code == 0).then(|| r.stdout.trim().to_string())
}

fn full_id(b: &Sandbox, name: &str) -> String {
    b.inspect(name, "{{.Id}}")
}

#[test]
fn kill_9_of_the_cli_during_a_foreground_run() {
    let Some(b) = Sandbox::with_busybox() else {
        return;
    };
    let mut cli = b
        .command()
        .args(["run", "--name", "fg", "busybox", "sh", "-c", POLITE])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        wait_for(Duration::from_secs(10), || status(&b, "fg").as_deref()
            == Some("running")),
        "the foreground container never ran"
    );
    let id = full_id(&b, "fg");
    let pid: i32 = b.inspect("fg", "{{.State.Pid}}").parse().unwrap();
    kill9(cli.id() as i32);
    cli.wait().unwrap();

    // The container outlives its CLI, and berth still knows it as running.
    std::thread::sleep(Duration::from_millis(300));
    assert!(process_alive(pid), "the container died with its CLI");
    assert_eq!(b.monitor_pids(&id).len(), 1, "its monitor must go on");
    assert_eq!(
        b.ok(&["ps", "--format", "{{.Names}} {{.Status}}"])
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>(),
        ["fg", "Up"]
    );
    assert!(
        wait_for(Duration::from_secs(5), || b.ok(&["logs", "fg"])
            == "ready\n"),
        "logs: {:?}",
        b.ok(&["logs", "fg"])
    );

    // rm -f works and takes everything with it.
    assert_eq!(b.ok(&["rm", "-f", "fg"]), "fg\n");
    assert!(!process_alive(pid), "rm -f left the container's process");
    assert_eq!(b.ok(&["ps", "-aq"]), "");
    assert!(
        wait_for(Duration::from_secs(5), || b.leftovers_of(&id).is_empty()),
        "left behind: {:?}",
        b.leftovers_of(&id)
    );

    // With --rm, the container still goes once it exits, CLI or not.
    let mut cli = b
        .command()
        .args(["run", "--rm", "--name", "gone", "busybox", "sleep", "0.5"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // (Killed before it attaches, the CLI would leave the monitor waiting 30 s for an
    // attach before it starts the container anyway.)
    assert!(wait_for(Duration::from_secs(10), || status(&b, "gone")
        .as_deref()
        == Some("running")));
    kill9(cli.id() as i32);
    cli.wait().unwrap();
    assert!(
        wait_for(Duration::from_secs(10), || b.ok(&["ps", "-aq"]).is_empty()),
        "a --rm container whose CLI was killed must still be removed"
    );
}

#[test]
fn kill_9_of_the_monitor() {
    let Some(b) = Sandbox::with_busybox() else {
        return;
    };
    let id = b.ok(&["run", "-d", "--name", "mon", "busybox", "sleep", "30"]);
    let id = id.trim().to_string();
    let pid: i32 = b.inspect("mon", "{{.State.Pid}}").parse().unwrap();
    let monitors = b.monitor_pids(&id);
    assert_eq!(monitors.len(), 1, "{monitors:?}");
    let monitor = monitors[0];
    assert_eq!(
        parent_pid(pid),
        Some(monitor),
        "the container's init is the monitor's child"
    );
    assert!(b.mounts().iter().any(|m| m.contains(&id)), "rootfs mounted");

    kill9(monitor);
    assert!(wait_for(Duration::from_secs(5), || !process_alive(monitor)));

    // From the first look on: exited, never running.
    let ps = b.ok(&["ps", "-a", "--format", "{{.Names}}|{{.Status}}"]);
    assert!(ps.starts_with("mon|Exited (137) "), "{ps}");
    assert_eq!(b.ok(&["ps", "-q"]), "", "ps must not list it as running");
    assert_eq!(
        b.inspect("mon", "{{.State.Status}} {{.State.Running}} {{.State.Pid}}"),
        "exited false 0"
    );
    // Nothing of it is left running or mounted.
    assert!(
        wait_for(Duration::from_secs(5), || !process_alive(pid)),
        "the container's process outlived its monitor"
    );
    assert!(
        wait_for(Duration::from_secs(5), || b.leftovers_of(&id).is_empty()),
        "left behind: {:?}",
        b.leftovers_of(&id)
    );
    // It can be started again, and removed.
    b.ok(&["start", "mon"]);
    assert_eq!(status(&b, "mon").as_deref(), Some("running"));
    b.ok(&["rm", "-f", "mon"]);
    assert_eq!(b.ok(&["ps", "-aq"]), "");
}

#[test]
fn kill_9_of_the_container_init() {
    let Some(b) = Sandbox::with_busybox() else {
        return;
    };
    let id = b.ok(&["run", "-d", "--name", "victim", "busybox", "sleep", "30"]);
    let id = id.trim().to_string();
    let pid: i32 = b.inspect("victim", "{{.State.Pid}}").parse().unwrap();
    kill9(pid);
    assert_eq!(b.ok(&["wait", "victim"]), "137\n");
    assert_eq!(
        b.inspect(
            "victim",
            "{{.State.Status}} {{.State.ExitCode}} {{.State.OOMKilled}}"
        ),
        "exited 137 false"
    );
    let ps = b.ok(&["ps", "-a", "--format", "{{.Status}}"]);
    assert!(ps.starts_with("Exited (137) "), "{ps}");
    assert!(
        wait_for(Duration::from_secs(5), || b.leftovers_of(&id).is_empty()),
        "left behind: {:?}",
        b.leftovers_of(&id)
    );
}

#[test]
fn restart_on_failure_3_restarts_three_times() {
    let Some(b) = Sandbox::with_busybox() else {
        return;
    };
    let id = b.ok(&[
        "run",
        "-d",
        "--name",
        "rof",
        "--restart",
        "on-failure:3",
        "busybox",
        "sh",
        "-c",
        "echo run; exit 1",
    ]);
    let id = id.trim().to_string();
    let done = || {
        b.inspect("rof", "{{.RestartCount}} {{.State.Status}}") == "3 exited"
            && b.monitor_pids(&id).is_empty()
    };
    // Backoff 100 + 200 + 400 ms.
    assert!(
        wait_for(Duration::from_secs(15), done),
        "after 15 s: {}",
        b.inspect("rof", "{{.RestartCount}} {{.State.Status}}")
    );
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(
        b.inspect(
            "rof",
            "{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}"
        ),
        "3 exited 1",
        "no fourth restart"
    );
    assert_eq!(
        b.ok(&["logs", "rof"]),
        "run\n".repeat(4),
        "1 run + 3 restarts"
    );
    let v = b.inspect_json("rof");
    assert_eq!(v["HostConfig"]["RestartPolicy"]["Name"], "on-failure");
    assert_eq!(v["HostConfig"]["RestartPolicy"]["MaximumRetryCount"], 3);

    // Exit 0 is not a failure: no restart.
    b.ok(&[
        "run",
        "-d",
        "--name",
        "fine",
        "--restart",
        "on-failure:3",
        "busybox",
        "true",
    ]);
    assert_eq!(b.ok(&["wait", "fine"]), "0\n");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        b.inspect("fine", "{{.RestartCount}} {{.State.Status}}"),
        "0 exited"
    );
}

#[test]
fn restart_always_survives_a_crash_but_not_stop() {
    let Some(b) = Sandbox::with_busybox() else {
        return;
    };
    b.ok(&[
        "run",
        "-d",
        "--name",
        "ra",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        POLITE,
    ]);
    // `run -d` returns once the container started, not once its shell ran a line: killing it
    // before the first `ready` would leave one line in the log for the two runs (the race
    // behind this test's timeouts).
    assert!(
        wait_for(Duration::from_secs(5), || b.ok(&["logs", "ra"])
            == "ready\n"),
        "the first run never said ready: {:?}",
        b.ok(&["logs", "ra"])
    );
    // A crash (kill -9 of its init) brings it back.
    let pid: i32 = b.inspect("ra", "{{.State.Pid}}").parse().unwrap();
    kill9(pid);
    assert!(
        wait_for(Duration::from_secs(10), || {
            b.inspect("ra", "{{.RestartCount}} {{.State.Status}}") == "1 running"
        }),
        "not restarted after a crash: {}",
        b.inspect("ra", "{{.RestartCount}} {{.State.Status}}")
    );
    assert!(
        wait_for(Duration::from_secs(5), || {
            b.ok(&["logs", "ra"]) == "ready\nready\n"
        }),
        "the restarted run never said ready: {:?}",
        b.ok(&["logs", "ra"])
    );

    // stop is final.
    let t = Instant::now();
    b.ok(&["stop", "ra"]);
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "stop took {:?}",
        t.elapsed()
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        b.inspect(
            "ra",
            "{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}"
        ),
        "exited 1 0",
        "stop must not trigger the restart policy"
    );
    assert_eq!(b.ok(&["ps", "-q"]), "");
}

/// docker: `stop` of a container waiting to be restarted cancels the restart.
#[test]
fn stop_during_the_restart_backoff_is_final() {
    let Some(b) = Sandbox::with_busybox() else {
        return;
    };
    let id = b.ok(&[
        "run",
        "-d",
        "--name",
        "rb",
        "--restart",
        "always",
        "busybox",
        "true",
    ]);
    let id = id.trim().to_string();
    // After the third restart's run, the monitor waits 800 ms before the fourth
    // (docker counts a restart when it happens; during the wait the status is restarting).
    assert!(wait_for(Duration::from_secs(10), || {
        b.inspect("rb", "{{.RestartCount}} {{.State.Status}}") == "3 restarting"
    }));
    b.ok(&["stop", "rb"]);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        b.inspect("rb", "{{.RestartCount}} {{.State.Status}}"),
        "3 exited",
        "the container was restarted after stop"
    );
    assert!(b.monitor_pids(&id).is_empty(), "the monitor is still there");
}

/// docker reports a container waiting out its restart backoff as `restarting` (and `ps`
/// lists it); `exited` would say the policy is done.
#[test]
fn a_container_waiting_to_restart_is_restarting() {
    let Some(b) = Sandbox::with_busybox() else {
        return;
    };
    b.ok(&[
        "run",
        "-d",
        "--name",
        "rw",
        "--restart",
        "always",
        "busybox",
        "true",
    ]);
    let mut seen = Vec::new();
    let t = Instant::now();
    while t.elapsed() < Duration::from_millis(1500) {
        let s = b.inspect("rw", "{{.State.Status}}");
        if !seen.contains(&s) {
            seen.push(s);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !seen.iter().any(|s| s == "exited"),
        "a container with --restart always showed {seen:?}"
    );
    assert!(seen.iter().any(|s| s == "restarting"), "{seen:?}");
}

/// `run` racing `rm -f` of the same name (issue 14, item 5; the audit saw 37 of 40 runs fail
/// with "mount overlay …: No such file or directory", each leaving `containers/<id>` behind).
/// Whichever wins, nothing is left: no record, container directory, mount, cgroup or monitor,
/// and `system check` finds nothing wrong.
#[test]
fn run_racing_rm_f_of_the_same_name_leaves_nothing() {
    let Some(b) = Sandbox::with_busybox() else {
        return;
    };
    let mut outcomes = (0, 0); // (run succeeded, run failed)
    for i in 0..20 {
        let name = format!("racer{i}");
        let mut run = b
            .command()
            .args(["run", "-d", "--name", &name, "--network", "none"])
            .args(["busybox", "sleep", "30"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // rm -f as soon as the name exists (from the moment the record is made, through the
        // monitor's start), then once more after the run returned.
        let removed_early = loop {
            let r = b.run(&["rm", "-f", &name]);
            if r.code == 0 {
                break true;
            }
            assert!(
                r.stderr.to_lowercase().contains("no such container"),
                "rm -f {name}: {}",
                r.stderr
            );
            if run.try_wait().unwrap().is_some() {
                break false;
            }
        };
        let out = run.wait_with_output().unwrap();
        if out.status.success() {
            outcomes.0 += 1;
        } else {
            outcomes.1 += 1;
            let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
            assert!(
                err.contains("no such container") || err.contains("removed while it was starting"),
                "run {name} failed for another reason: {err}"
            );
        }
        if !removed_early {
            b.ok(&["rm", "-f", &name]);
        }
        assert_eq!(b.ok(&["ps", "-aq"]), "", "round {i}: a container is left");
        let dirs: Vec<_> = std::fs::read_dir(b.root().join("containers"))
            .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(
            dirs.is_empty(),
            "round {i}: container directories left: {dirs:?}"
        );
        let mounts = b.mounts();
        assert!(mounts.is_empty(), "round {i}: mounts left: {mounts:?}");
    }
    let check = b.run(&["system", "check"]);
    assert_eq!(check.code, 0, "{}{}", check.stdout, check.stderr);
    assert!(!check.stdout.contains("problem"), "{}", check.stdout);
    eprintln!(
        "20 races: run succeeded {} times, failed {} times",
        outcomes.0, outcomes.1
    );
}

/// The monitor's log is made with the container, and a start opens it without creating it
/// (so that one racing a `rm -f` adds nothing to a directory being removed). A container an
/// earlier berth made has no log yet: its start makes one, and its exec too.
#[test]
fn a_container_without_a_monitor_log_still_starts_and_execs() {
    let Some(b) = Sandbox::with_busybox() else {
        return;
    };
    let id = b.ok(&["create", "--network", "none", "busybox", "sleep", "30"]);
    let id = id.trim();
    let log = b.root().join("containers").join(id).join("monitor.log");
    assert!(log.is_file(), "create made no {}", log.display());
    std::fs::remove_file(&log).unwrap();
    b.ok(&["start", id]);
    assert!(log.is_file(), "start made no {}", log.display());
    std::fs::remove_file(&log).unwrap();
    assert_eq!(b.ok(&["exec", id, "echo", "in"]).trim(), "in");
    assert!(log.is_file(), "exec made no {}", log.display());
    b.ok(&["rm", "-f", id]);
    let gone = b.run(&["start", id]);
    assert_ne!(gone.code, 0);
    assert!(
        gone.stderr.to_lowercase().contains("no such container"),
        "{}",
        gone.stderr
    );
}

/// What a crash in the middle of a create or remove leaves — a container directory that no
/// record names, its rootfs maybe still mounted — is a problem for `system check`, and
/// `system check --repair` removes it and nothing else.
#[test]
fn system_check_repair_removes_what_containers_without_a_record_left() {
    let Some(b) = Sandbox::with_busybox() else {
        return;
    };
    b.ok(&["create", "--name", "kept", "busybox", "true"]);
    let kept = full_id(&b, "kept");
    let orphan = "ab".repeat(32);
    let dir = b.root().join("containers").join(&orphan);
    std::fs::create_dir_all(dir.join("rootfs")).unwrap();
    std::fs::create_dir_all(dir.join("upper/etc")).unwrap();
    std::fs::write(dir.join("upper/etc/hostname"), "orphan\n").unwrap();
    rustix::mount::mount(
        "tmpfs",
        dir.join("rootfs"),
        "tmpfs",
        rustix::mount::MountFlags::empty(),
        "",
    )
    .unwrap();
    // And its network namespace, mounted where the network layer keeps them.
    b.ok(&["run", "--rm", "busybox", "true"]); // the network layer exists
    let netns = b.root().join("net/netns").join(&orphan);
    std::fs::write(&netns, "").unwrap();
    let bound = std::process::Command::new("unshare")
        .args(["--net", "mount", "--bind", "/proc/self/ns/net"])
        .arg(&netns)
        .status()
        .unwrap();
    assert!(bound.success(), "bind a network namespace");

    let r = b.run(&["system", "check"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&format!(
            "problem: container {orphan} has no record but its directory, network namespace"
        )),
        "{}",
        r.stdout
    );
    assert!(
        !r.stdout.contains(&kept),
        "a recorded container is no orphan: {}",
        r.stdout
    );

    let r = b.run(&["system", "check", "--repair"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&format!(
            "removed: container {orphan} (directory, network namespace)"
        )),
        "{}",
        r.stdout
    );
    assert!(!dir.exists(), "the orphan is gone");
    assert!(!netns.exists(), "its network namespace too");
    assert!(b.mounts().is_empty(), "its mount too: {:?}", b.mounts());
    assert!(
        b.root().join("containers").join(&kept).is_dir(),
        "kept's directory stays"
    );
    assert_eq!(b.ok(&["ps", "-aq", "--no-trunc"]).trim(), kept);
    let r = b.run(&["system", "check"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}
