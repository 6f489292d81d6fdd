//! The monitor's side of healthchecks: it starts each probe as a child process (`berth exec
//! ID CMD…`, a fork+exec of our own binary, so the single-threaded monitor never runs
//! libcontainer's exec path itself), lets its poll loop reap it, kills it at the timeout, and
//! records the result in the container record, with a `health_status` event when the status
//! changes.
//!
//! The monitor never blocks on a probe: [`Prober::wake_in`] tells the loop how long it may
//! sleep, [`Prober::poll`] starts and kills probes when their time has come, and
//! [`Prober::reaped`] takes the exit the loop collected with `waitpid`.

use std::fs::File;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;

use super::health::{Health, HealthConfig, HealthStatus, ProbeResult, MAX_OUTPUT_LEN};
use super::{now_nanos, ContainerConfig};
use crate::events::Action;
use crate::{Engine, EngineError};

/// The probe that is running.
struct Running {
    pid: Pid,
    /// Unix nanoseconds, for the log entry.
    start: i64,
    began: Instant,
    deadline: Instant,
    timed_out: bool,
}

/// Runs one container's healthcheck for one run of the container.
pub(super) struct Prober {
    /// A handle of its own: the monitor's is borrowed by the loop's other chores.
    engine: Engine,
    id: String,
    config: HealthConfig,
    probe: Vec<String>,
    health: Health,
    started: Instant,
    next: Instant,
    running: Option<Running>,
    /// The probe's stdout and stderr, read back when it exits (a file, so that a probe that
    /// prints much never blocks on a pipe the loop does not read).
    output: PathBuf,
}

impl Prober {
    /// A prober for a container that has just started, its state recorded as `starting`;
    /// `None` when the container has no healthcheck to run.
    pub(super) fn start(engine: &Engine, id: &str, config: &ContainerConfig) -> Option<Self> {
        let hc = config.healthcheck.clone()?;
        let probe = hc.probe()?;
        let own = match Engine::open(engine.config()) {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(container_id = id, error = %e, "healthcheck: cannot open the root");
                return None;
            }
        };
        let mut health = own
            .resolve_container(id)
            .ok()
            .and_then(|r| Health::from_json(&r.health))
            .unwrap_or_default();
        health.restart();
        let paths = engine.container_paths(id);
        let dir = paths.attach_socket.parent()?.to_path_buf();
        let now = Instant::now();
        let mut prober = Self {
            engine: own,
            id: id.to_string(),
            next: now + hc.next_interval(HealthStatus::Starting, Duration::ZERO),
            config: hc,
            probe,
            health,
            started: now,
            running: None,
            output: dir.join(format!("{}-health.out", &id[..id.len().min(12)])),
        };
        prober.save();
        Some(prober)
    }

    /// How long the loop may sleep before the prober has something to do.
    pub(super) fn wake_in(&self) -> Duration {
        let at = self.running.as_ref().map_or(self.next, |r| r.deadline);
        at.saturating_duration_since(Instant::now())
    }

    /// Starts the probe when it is due; kills it when it has run past its timeout.
    pub(super) fn poll(&mut self) {
        let now = Instant::now();
        match &mut self.running {
            Some(r) if now >= r.deadline && !r.timed_out => {
                r.timed_out = true;
                kill_tree(r.pid);
            }
            Some(_) => {}
            None if now >= self.next => {
                if let Err(e) = self.spawn() {
                    let start = now_nanos();
                    let msg = e.to_string();
                    self.finish(ProbeResult::new(start, start, -1, msg.as_bytes()), now);
                }
            }
            None => {}
        }
    }

    fn spawn(&mut self) -> Result<(), EngineError> {
        let out = File::create(&self.output).map_err(|e| {
            EngineError::io(format!("healthcheck output {}", self.output.display()), e)
        })?;
        let err = out
            .try_clone()
            .map_err(|e| EngineError::io("healthcheck output", e))?;
        let root = self.engine.store.root().to_path_buf();
        let child = Command::new(&self.engine.exe)
            .arg("exec")
            .arg(&self.id)
            .args(&self.probe)
            .env("BERTH_ROOT", root)
            .env("BERTH_RUNROOT", &self.engine.run_root)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .map_err(|e| {
                EngineError::io(format!("healthcheck: run {}", self.engine.exe.display()), e)
            })?;
        let pid = i32::try_from(child.id()).map_err(|_| {
            EngineError::bad_input("healthcheck", "the probe's pid is out of range")
        })?;
        // The monitor's loop reaps every child with waitpid; the `Child` is not waited on.
        drop(child);
        let began = Instant::now();
        self.running = Some(Running {
            pid: Pid::from_raw(pid),
            start: now_nanos(),
            began,
            deadline: began + self.config.timeout(),
            timed_out: false,
        });
        Ok(())
    }

    /// Takes a child's exit from the loop: true when it was the probe's.
    pub(super) fn reaped(&mut self, status: WaitStatus) -> bool {
        let Some(r) = self.running.take_if(|r| Some(r.pid) == status.pid()) else {
            return false;
        };
        let end = now_nanos();
        let result = if r.timed_out {
            let msg = format!(
                "Health check exceeded timeout ({})",
                berth_build::parse::go_duration(self.config.timeout())
            );
            ProbeResult::new(r.start, end, -1, msg.as_bytes())
        } else {
            let code = match status {
                WaitStatus::Exited(_, c) => i64::from(c),
                _ => -1,
            };
            ProbeResult::new(r.start, end, code, &self.read_output())
        };
        self.finish(result, r.began);
        true
    }

    fn read_output(&self) -> Vec<u8> {
        let mut buf = Vec::new();
        if let Ok(f) = File::open(&self.output) {
            let _ = f.take(MAX_OUTPUT_LEN as u64).read_to_end(&mut buf);
        }
        buf
    }

    fn finish(&mut self, result: ProbeResult, began: Instant) {
        let since_start = began.saturating_duration_since(self.started);
        let changed = self.health.record(result, &self.config, since_start);
        self.save();
        if let Some(status) = changed {
            tracing::info!(container_id = %self.id, status = status.as_str(), "health status");
            if status != HealthStatus::Starting {
                let healthy = status == HealthStatus::Healthy;
                self.engine
                    .emit_container_id(&self.id, Action::HealthStatus(healthy), &[]);
            }
        }
        let now = Instant::now();
        self.next = now
            + self.config.next_interval(
                self.health.status,
                now.saturating_duration_since(self.started),
            );
    }

    fn save(&mut self) {
        let json = self.health.to_json();
        if let Err(e) = self
            .engine
            .store
            .meta
            .write(|tx| tx.set_container_health(&self.id, &json))
        {
            tracing::warn!(container_id = %self.id, error = %e, "healthcheck: cannot record");
        }
    }

    /// The container stopped: a running probe is killed and collected, and the status is
    /// `unhealthy`, as docker reports a container whose checks have stopped.
    pub(super) fn stop(mut self) {
        if let Some(r) = self.running.take() {
            kill_tree(r.pid);
            let _ = nix::sys::wait::waitpid(r.pid, None);
        }
        self.health.status = HealthStatus::Unhealthy;
        self.save();
        let _ = std::fs::remove_file(&self.output);
    }
}

/// Kills a probe and everything it started. The process it runs in the container is a child
/// of `berth exec` in a session of its own, so neither the probe's process group nor its
/// death reaches it: the descendants are found through `/proc` before anything is killed.
fn kill_tree(pid: Pid) {
    let mut tree = vec![pid];
    let mut i = 0;
    let parents = parent_map();
    while i < tree.len() {
        let p = tree[i];
        tree.extend(parents.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    let _ = killpg(pid, Signal::SIGKILL);
    for p in tree {
        let _ = nix::sys::signal::kill(p, Signal::SIGKILL);
    }
}

/// (pid, parent pid) of every process.
fn parent_map() -> Vec<(Pid, Pid)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // The command may hold spaces and parentheses: fields follow the last ')'.
            let rest = &stat[stat.rfind(')')? + 1..];
            let ppid = rest.split_whitespace().nth(1)?.parse().ok()?;
            Some((Pid::from_raw(pid), Pid::from_raw(ppid)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_print_as_go_durations() {
        for (d, want) in [
            (Duration::from_secs(30), "30s"),
            (Duration::from_secs(1), "1s"),
            (Duration::from_millis(500), "500ms"),
            (Duration::from_millis(1500), "1.5s"),
            (Duration::from_secs(90), "1m30s"),
            (Duration::from_secs(3600), "1h0m0s"),
        ] {
            assert_eq!(berth_build::parse::go_duration(d), want);
        }
    }
}
