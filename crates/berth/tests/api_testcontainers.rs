//! End to end: testcontainers-python against `berth serve`, with its resource reaper. The
//! reaper is our own implementation of ryuk's protocol (tests/clients/reaper, on the python base
//! image: Docker Hub's testcontainers/ryuk cannot be pulled here), started by testcontainers
//! itself with the API socket bind-mounted into it. After the test process is SIGKILLed, the
//! reaper alone removes its containers through berth's API, then goes away (auto-removed).
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::served::Served;
use common::{base_images, kill9, wait_for, Sandbox};

/// The reaper image the test builds; testcontainers is told to use it (`RYUK_CONTAINER_IMAGE`).
const REAPER_IMAGE: &str = "berth-test/ryuk:local";

/// How long after the kill the reaper may take to remove everything: its reconnection
/// timeout (2 s) plus the removals, with room for a loaded machine.
const CLEANUP_BOUND: Duration = Duration::from_secs(30);

/// A child process SIGKILLed (and reaped) when dropped, so a failing test leaves no sleeper.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The venv's Python when it has testcontainers, or `None` (after a loud SKIPPED line).
fn testcontainers_python() -> Option<PathBuf> {
    let py = PathBuf::from("/opt/berth/pyvenv/bin/python");
    let has_it = py.exists()
        && Command::new(&py)
            .args(["-c", "import testcontainers.core.container"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if has_it {
        return Some(py);
    }
    let msg = format!(
        "SKIPPED (no /opt/berth/pyvenv with testcontainers; run scripts/setup.sh): {}",
        common::test_name()
    );
    eprintln!("{msg}");
    println!("{msg}");
    None
}

fn clients_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

/// The victim's stdout, line by line, through a channel (so waiting on it can time out).
fn lines_of(child: &mut Child) -> mpsc::Receiver<String> {
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The value of the first `KEY value` line within `limit`.
fn wait_line(rx: &mpsc::Receiver<String>, key: &str, limit: Duration) -> Option<String> {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        let line = rx.recv_timeout(left).ok()?;
        if let Some(v) = line.strip_prefix(key).and_then(|r| r.strip_prefix(' ')) {
            return Some(v.trim().to_string());
        }
    }
}

/// `berth logs -f NAME` into `file`, so the reaper's account survives its removal.
fn follow_logs(s: &Sandbox, name: &str, file: &Path) -> Killed {
    let f = std::fs::File::create(file).unwrap();
    Killed(
        s.command()
            .args(["logs", "-f", name])
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .spawn()
            .unwrap(),
    )
}

#[test]
fn testcontainers_reaper_removes_the_containers_of_a_killed_test_process() {
    let Some(s) = Sandbox::with_busybox() else {
        return;
    };
    let Some(python) = testcontainers_python() else {
        return;
    };
    s.ok(&["load", "-i", base_images().to_str().unwrap()]);
    let reaper_dir = clients_dir().join("reaper");
    s.ok(&[
        "build",
        "-q",
        "-t",
        REAPER_IMAGE,
        reaper_dir.to_str().unwrap(),
    ]);
    let api = Served::start(&s);

    let mut victim = Command::new(python);
    victim
        .arg(clients_dir().join("testcontainers_victim.py"))
        .env("DOCKER_HOST", format!("unix://{}", api.socket.display()))
        .env("TESTCONTAINERS_DOCKER_SOCKET_OVERRIDE", &api.socket)
        .env("RYUK_CONTAINER_IMAGE", REAPER_IMAGE)
        // testcontainers hands the reaper its own setting (default 10 s), over the image's.
        .env("RYUK_RECONNECTION_TIMEOUT", "2s")
        .env_remove("TESTCONTAINERS_RYUK_DISABLED")
        .env("DOCKER_CONFIG", s.root().join("docker-config"))
        .env("HOME", s.root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut victim = Killed(victim.spawn().unwrap());
    let stderr_file = s.root().join("victim.stderr");
    let mut stderr = victim.0.stderr.take().unwrap();
    let copy_to = stderr_file.clone();
    std::thread::spawn(move || {
        let mut f = std::fs::File::create(copy_to).unwrap();
        let _ = std::io::copy(&mut stderr, &mut f);
    });
    let out = lines_of(&mut victim.0);
    let victim_stderr = || std::fs::read_to_string(&stderr_file).unwrap_or_default();

    let session = wait_line(&out, "session", Duration::from_secs(120))
        .unwrap_or_else(|| panic!("the victim never started: {}", victim_stderr()));
    let id = wait_line(&out, "container", Duration::from_secs(30))
        .unwrap_or_else(|| panic!("the victim printed no container: {}", victim_stderr()));
    assert_eq!(id.len(), 64, "{id}");
    let reaper = format!("testcontainers-ryuk-{session}");
    assert_eq!(s.inspect(&id, "{{.State.Running}}"), "true");
    assert_eq!(
        s.inspect(
            &reaper,
            "{{.State.Running}} {{.HostConfig.AutoRemove}} {{.Config.Image}}"
        ),
        format!("true true {REAPER_IMAGE}"),
        "testcontainers started our reaper, to be removed when it exits"
    );
    let reaper_log = s.root().join("reaper.log");
    let mut logs = follow_logs(&s, &reaper, &reaper_log);
    // The reaper acknowledged the session's filter before the test process goes.
    assert!(
        wait_for(Duration::from_secs(10), || std::fs::read_to_string(
            &reaper_log
        )
        .is_ok_and(|l| l.contains(&session))),
        "the reaper never got the session's filter: {}",
        std::fs::read_to_string(&reaper_log).unwrap_or_default()
    );

    kill9(i32::try_from(victim.0.id()).unwrap());
    let _ = victim.0.wait();
    let killed = Instant::now();
    let gone = wait_for(CLEANUP_BOUND, || {
        s.ok(&["ps", "-aq", "--no-trunc"]).trim().is_empty()
    });
    let took = killed.elapsed();
    assert!(
        gone,
        "{CLEANUP_BOUND:?} after the kill, left: {}\nreaper's log:\n{}",
        s.ok(&["ps", "-a", "--no-trunc"]),
        std::fs::read_to_string(&reaper_log).unwrap_or_default()
    );
    // `logs -f` ends with the container: then the log file holds the reaper's last words.
    wait_for(Duration::from_secs(10), || {
        logs.0.try_wait().is_ok_and(|s| s.is_some())
    });
    let log = std::fs::read_to_string(&reaper_log).unwrap_or_default();
    assert!(
        log.contains(&format!("removed container {id}")),
        "the reaper itself removed the victim: {log}"
    );
    eprintln!("reaper cleaned up {took:?} after the kill");
}
