//! Healthchecks run by the monitor (`--health-*`, the image's `HEALTHCHECK`, `State.Health`,
//! ps's status, `health_status` events), `container update` on a live cgroup, and `search`
//! against local registries (berth's catalog, and a `/v1/search` answering as Docker Hub).
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{start_registry, test_images, wait_for, Berth, Sandbox};

/// Polls `cond` every 100 ms (each poll runs berth) for up to `limit`.
fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let t = Instant::now();
    while t.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    cond()
}

fn health_status(s: &Sandbox, name: &str) -> String {
    s.inspect(name, "{{.State.Health.Status}}")
}

fn ps_status(s: &Sandbox, name: &str) -> String {
    s.ok(&[
        "ps",
        "--filter",
        &format!("name={name}"),
        "--format",
        "{{.Status}}",
    ])
    .trim()
    .to_string()
}

#[test]
fn a_passing_check_is_healthy_and_a_failing_one_turns_unhealthy() {
    let Some(s) = Sandbox::with_busybox() else {
        return;
    };
    let id = s
        .ok(&[
            "run",
            "-d",
            "--name",
            "hc",
            "--health-cmd",
            "echo probed; test -e /ok",
            "--health-interval",
            "1s",
            "--health-retries",
            "2",
            "busybox",
            "sh",
            "-c",
            "touch /ok; exec sleep 300",
        ])
        .trim()
        .to_string();
    // Before its first probe (a minute away), a container's health is starting.
    s.ok(&[
        "run",
        "-d",
        "--name",
        "later",
        "--health-cmd",
        "true",
        "--health-interval",
        "1m",
        "busybox",
        "sleep",
        "300",
    ]);
    assert_eq!(health_status(&s, "later"), "starting");
    assert!(
        ps_status(&s, "later").ends_with("(health: starting)"),
        "{}",
        ps_status(&s, "later")
    );
    assert!(
        eventually(Duration::from_secs(8), || health_status(&s, "hc")
            == "healthy"),
        "never healthy: {}",
        s.inspect("hc", "{{json .State.Health}}")
    );
    assert!(
        ps_status(&s, "hc").ends_with("(healthy)"),
        "{}",
        ps_status(&s, "hc")
    );

    s.ok(&["exec", "hc", "rm", "/ok"]);
    assert!(
        eventually(Duration::from_secs(8), || health_status(&s, "hc")
            == "unhealthy"),
        "never unhealthy: {}",
        s.inspect("hc", "{{json .State.Health}}")
    );
    assert!(ps_status(&s, "hc").ends_with("(unhealthy)"));
    let unhealthy = s.ok(&["ps", "-q", "--filter", "health=unhealthy"]);
    assert_eq!(unhealthy.trim(), &id[..12]);
    let starting = s.ok(&[
        "ps",
        "--filter",
        "health=starting",
        "--format",
        "{{.Names}}",
    ]);
    assert_eq!(starting.trim(), "later");
    let state = s.inspect_json("hc")["State"].clone();
    let health = &state["Health"];
    assert!(health["FailingStreak"].as_i64().unwrap() >= 2, "{health}");
    let log = health["Log"].as_array().unwrap();
    assert!(!log.is_empty() && log.len() <= 5, "{health}");
    let last = log.last().unwrap();
    assert_eq!(last["ExitCode"], 1, "{health}");
    assert_eq!(last["Output"], "probed\n", "{health}");
    assert!(last["Start"].as_str().unwrap() <= last["End"].as_str().unwrap());
    let keys: Vec<&String> = health.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["Status", "FailingStreak", "Log"],
        "docker's field order"
    );
    let config = &s.inspect_json("hc")["Config"]["Healthcheck"];
    assert_eq!(
        config["Test"],
        serde_json::json!(["CMD-SHELL", "echo probed; test -e /ok"])
    );
    assert_eq!(
        (config["Interval"].as_i64(), config["Retries"].as_i64()),
        (Some(1_000_000_000), Some(2))
    );

    // The monitor records the new status, then appends its event: `inspect` can show
    // unhealthy a moment before the journal does, so read the journal until the event is in.
    let read_events = || {
        s.ok(&[
            "events",
            "--since",
            "5m",
            "--until",
            "0s",
            "--filter",
            &format!("container={id}"),
            "--format",
            "{{.Action}}",
        ])
    };
    let mut events = read_events();
    wait_for(Duration::from_secs(5), || {
        events = read_events();
        events.contains("health_status: unhealthy")
    });
    let actions: Vec<&str> = events
        .lines()
        .filter(|l| l.starts_with("health_status"))
        .collect();
    assert_eq!(
        actions,
        ["health_status: healthy", "health_status: unhealthy"],
        "{events}"
    );

    // As docker reports it, a stopped container's checks have stopped: unhealthy.
    s.ok(&["stop", "-t", "1", "hc"]);
    assert_eq!(health_status(&s, "hc"), "unhealthy");
}

#[test]
fn a_probe_past_its_timeout_is_killed_with_what_it_started() {
    let Some(s) = Sandbox::with_busybox() else {
        return;
    };
    s.ok(&[
        "run",
        "-d",
        "--name",
        "slow",
        "--health-cmd",
        "sleep 30",
        "--health-interval",
        "200ms",
        "--health-timeout",
        "300ms",
        "--health-retries",
        "3",
        "busybox",
        "sleep",
        "300",
    ]);
    assert!(
        eventually(Duration::from_secs(10), || health_status(&s, "slow")
            == "unhealthy"),
        "{}",
        s.inspect("slow", "{{json .State.Health}}")
    );
    let health = s.inspect_json("slow")["State"]["Health"].clone();
    let last = health["Log"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["ExitCode"], -1);
    assert_eq!(last["Output"], "Health check exceeded timeout (300ms)");
    // Three probes timed out: had their `sleep 30` outlived them, the container would hold
    // more than its init and the one probe that may be running now.
    let pid = s.inspect("slow", "{{.State.Pid}}");
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let pids = cgroup
        .lines()
        .find_map(|l| {
            let mut p = l.splitn(3, ':');
            let (_, c, path) = (p.next()?, p.next()?, p.next()?);
            match c {
                "pids" => Some(format!("/sys/fs/cgroup/pids{path}/cgroup.procs")),
                "" => Some(format!("/sys/fs/cgroup{path}/cgroup.procs")),
                _ => None,
            }
        })
        .unwrap();
    let procs = std::fs::read_to_string(&pids).unwrap();
    assert!(
        procs.lines().count() <= 2,
        "leftover probes in {pids}: {procs}"
    );
}

#[test]
fn the_images_healthcheck_runs_and_flags_override_or_disable_it() {
    let Some(s) = Sandbox::with_busybox() else {
        return;
    };
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nHEALTHCHECK --interval=1s --retries=4 CMD [\"true\"]\n",
    )
    .unwrap();
    s.ok(&["build", "-q", "-t", "checked", ctx.path().to_str().unwrap()]);

    s.ok(&["run", "-d", "--name", "img", "checked", "sleep", "300"]);
    assert!(eventually(Duration::from_secs(8), || health_status(
        &s, "img"
    ) == "healthy"));

    s.ok(&[
        "create",
        "--name",
        "tuned",
        "--health-interval",
        "2s",
        "checked",
    ]);
    let hc = &s.inspect_json("tuned")["Config"]["Healthcheck"];
    assert_eq!(
        hc["Test"],
        serde_json::json!(["CMD", "true"]),
        "the image's test is kept"
    );
    assert_eq!(
        (hc["Interval"].as_i64(), hc["Retries"].as_i64()),
        (Some(2_000_000_000), Some(4))
    );

    s.ok(&[
        "run",
        "-d",
        "--name",
        "off",
        "--no-healthcheck",
        "checked",
        "sleep",
        "300",
    ]);
    let state = s.inspect_json("off")["State"].clone();
    assert!(state.get("Health").is_none(), "{state}");
    assert!(
        !ps_status(&s, "off").contains("health"),
        "{}",
        ps_status(&s, "off")
    );

    let r = s.run(&[
        "run",
        "--no-healthcheck",
        "--health-retries",
        "1",
        "checked",
        "true",
    ]);
    assert_eq!(r.code, 125);
    assert!(
        r.stderr
            .contains("--no-healthcheck conflicts with --health-* options"),
        "{}",
        r.stderr
    );
    let r = s.run(&["create", "--health-interval", "soon", "checked"]);
    assert_eq!(r.code, 125);
    assert!(
        r.stderr.contains("invalid duration \"soon\""),
        "{}",
        r.stderr
    );
}

/// The container's cgroup file `file` (v1 controller `controller`, or the unified hierarchy).
fn cgroup_file(pid: &str, controller: &str, file: &str) -> PathBuf {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    for l in text.lines() {
        let mut p = l.splitn(3, ':');
        let (_, c, path) = (p.next().unwrap(), p.next().unwrap(), p.next().unwrap());
        if c.split(',').any(|c| c == controller) {
            return PathBuf::from(format!("/sys/fs/cgroup/{controller}{path}/{file}"));
        }
    }
    let path = text.lines().find_map(|l| l.strip_prefix("0::")).unwrap();
    PathBuf::from(format!("/sys/fs/cgroup{path}/{file}"))
}

#[test]
fn update_changes_a_running_containers_cgroup_and_its_restart_policy() {
    let Some(s) = Sandbox::with_busybox() else {
        return;
    };
    s.ok(&[
        "run", "-d", "--name", "box", "-m", "32m", "busybox", "sleep", "300",
    ]);
    let pid = s.inspect("box", "{{.State.Pid}}");
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let mem = if v2 {
        cgroup_file(&pid, "memory", "memory.max")
    } else {
        cgroup_file(&pid, "memory", "memory.limit_in_bytes")
    };
    let read = |p: &PathBuf| std::fs::read_to_string(p).unwrap().trim().to_string();
    assert_eq!(read(&mem), (32 << 20).to_string());

    let out = s.ok(&[
        "update",
        "-m",
        "96m",
        "--memory-swap",
        "192m",
        "--pids-limit",
        "40",
        "--cpus",
        "0.5",
        "box",
    ]);
    assert_eq!(out, "box\n", "docker prints the name as given");
    assert_eq!(read(&mem), (96 << 20).to_string());
    assert_eq!(read(&cgroup_file(&pid, "pids", "pids.max")), "40");
    if !v2 {
        assert_eq!(read(&cgroup_file(&pid, "cpu", "cpu.cfs_quota_us")), "50000");
    }
    assert_eq!(
        s.inspect("box", "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}"),
        format!("{} 40", 96 << 20)
    );

    // Down again, below the swap limit just set: v1 takes memory first.
    s.ok(&["container", "update", "-m", "16m", "box"]);
    assert_eq!(read(&mem), (16 << 20).to_string());

    let r = s.run(&["update", "-m", "1m", "box"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("cannot update container") && r.stderr.contains("6MB"),
        "{}",
        r.stderr
    );
    assert_eq!(
        read(&mem),
        (16 << 20).to_string(),
        "a refused update changes nothing"
    );
    let r = s.run(&["update", "box"]);
    assert!(
        r.code != 0 && r.stderr.contains("you must provide one or more flags"),
        "{}",
        r.stderr
    );

    // The restart policy of a container that exits after it is set applies.
    s.ok(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "busybox",
        "sh",
        "-c",
        "sleep 3; exit 3",
    ]);
    s.ok(&["update", "--restart", "on-failure:2", "flaky"]);
    assert_eq!(
        s.inspect("flaky", "{{.HostConfig.RestartPolicy.Name}}"),
        "on-failure"
    );
    assert!(
        eventually(Duration::from_secs(25), || s
            .inspect("flaky", "{{.RestartCount}}")
            == "2"
            && s.inspect("flaky", "{{.State.Status}}") == "exited"),
        "restarted {} times",
        s.inspect("flaky", "{{.RestartCount}}")
    );

    // A stopped container keeps the new limits for its next start.
    s.ok(&["update", "-m", "48m", "flaky"]);
    s.ok(&["start", "flaky"]);
    let pid = s.inspect("flaky", "{{.State.Pid}}");
    if pid != "0" {
        let mem = if v2 {
            cgroup_file(&pid, "memory", "memory.max")
        } else {
            cgroup_file(&pid, "memory", "memory.limit_in_bytes")
        };
        assert_eq!(read(&mem), (48 << 20).to_string());
    }
}

/// Pushes the busybox test image to `127.0.0.1:PORT/REPO:latest`.
fn publish(port: u16, repo: &str) {
    let b = Berth::new();
    let reference = format!("127.0.0.1:{port}/{repo}:latest");
    let tar = test_images().join("busybox-rootfs.tar");
    b.ok(&["import", tar.to_str().unwrap(), &reference]);
    b.ok(&["push", &reference]);
}

#[test]
fn search_finds_a_berth_registrys_repositories_through_its_search_api() {
    let reg = start_registry();
    for repo in ["team/web", "team/webapp", "other/db"] {
        publish(reg.port, repo);
    }
    let b = Berth::new();
    let host = format!("127.0.0.1:{}", reg.port);
    let out = b.ok(&["search", &format!("{host}/web")]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["NAME", "DESCRIPTION", "STARS", "OFFICIAL"]
    );
    let names: Vec<&str> = lines[1..]
        .iter()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    // berth's registry answers the search API: names as it gives them, as docker shows them.
    assert_eq!(names, ["team/web", "team/webapp"]);
    let limited = b.ok(&[
        "search",
        "--limit",
        "1",
        "--format",
        "{{.Name}}:{{.StarCount}}",
        &format!("{host}/WEB"),
    ]);
    assert_eq!(limited, "team/web:0\n");
    let none = b.ok(&[
        "search",
        "--filter",
        "stars=1",
        "--format",
        "{{.Name}}",
        &format!("{host}/web"),
    ]);
    assert_eq!(none, "");
    let r = b.run(&["search", "--filter", "color=red", &format!("{host}/web")]);
    assert!(
        r.code != 0 && r.stderr.contains("invalid filter 'color'"),
        "{}",
        r.stderr
    );
    let r = b.run(&["search", "--limit", "500", "python"]);
    assert!(
        r.code != 0 && r.stderr.contains("outside the range of [1, 100]"),
        "{}",
        r.stderr
    );
}

/// A registry that answers `/v1/search` as Docker Hub does (the recorded answer).
fn fake_index() -> (u16, std::thread::JoinHandle<Vec<String>>) {
    const HUB: &str = r#"{"num_pages":1,"num_results":2,"page_size":25,"query":"python","page":1,"results":[{"star_count":9912,"is_official":true,"name":"python","is_automated":false,"description":"Python is an interpreted, interactive, object-oriented, open-source programming language."},{"star_count":7,"is_official":false,"name":"circleci/python","is_automated":true,"description":"Python with tools for CircleCI"}]}"#;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let mut seen = Vec::new();
        listener.set_nonblocking(false).unwrap();
        for conn in listener.incoming().take(8) {
            let Ok(mut conn) = conn else { break };
            let mut line = String::new();
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            // The client tries TLS first on a local registry: refuse the handshake (0x16).
            if reader.fill_buf().map_or(true, |b| b.first() == Some(&0x16)) {
                continue;
            }
            if reader.read_line(&mut line).is_err() || line.is_empty() {
                continue;
            }
            let mut h = String::new();
            while reader.read_line(&mut h).is_ok() && h != "\r\n" && !h.is_empty() {
                h.clear();
            }
            let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
            let body = if path.starts_with("/v1/search") {
                HUB
            } else {
                "{}"
            };
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let done = path.starts_with("/v1/search");
            seen.push(path);
            if done {
                break;
            }
        }
        seen
    });
    (port, handle)
}

#[test]
fn search_uses_a_registrys_search_api_and_renders_dockers_columns() {
    let (port, server) = fake_index();
    let b = Berth::new();
    let out = b.ok(&["search", &format!("127.0.0.1:{port}/python")]);
    let seen = server.join().unwrap();
    assert!(
        seen.iter().any(|p| p == "/v1/search?q=python&n=25"),
        "{seen:?}"
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[1].starts_with("python "), "{out}");
    assert!(
        lines[1].contains("Python is an interpreted, interactive, objec…"),
        "{out}"
    );
    assert!(
        lines[1].contains("9912") && lines[1].trim_end().ends_with("[OK]"),
        "{out}"
    );
    assert!(
        lines[2].starts_with("circleci/python ") && lines[2].trim_end().ends_with('7'),
        "{out}"
    );
}
