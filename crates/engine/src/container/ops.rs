//! `rename`, `pause`/`unpause`, `top`, `stats`.

use berth_store::ContainerState;
use std::time::Duration;

use crate::events::Action;
use crate::{Engine, EngineError};

/// One sample of `stats`.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub id: String,
    pub name: String,
    pub cpu_percent: f64,
    pub mem_usage: u64,
    pub mem_limit: u64,
    pub net_rx: u64,
    pub net_tx: u64,
    pub block_read: u64,
    pub block_write: u64,
    pub pids: u64,
}

/// Raw counters of a container at one moment (see [`Engine::stats_sample`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatsSample {
    pub id: String,
    pub name: String,
    /// Running or paused: the counters mean something.
    pub live: bool,
    /// CPU time the container's cgroup used, in nanoseconds.
    pub cpu_total_ns: u64,
    /// CPU time of the whole host (`/proc/stat`), in nanoseconds.
    pub system_cpu_ns: u64,
    pub online_cpus: u32,
    pub mem_usage: u64,
    pub mem_limit: u64,
    pub net_rx: u64,
    pub net_tx: u64,
    pub block_read: u64,
    pub block_write: u64,
    pub pids: u64,
}

/// The host's total CPU time in nanoseconds: the `cpu` line of `/proc/stat` (in clock ticks
/// of 1/100 s, the USER_HZ Linux exposes).
fn system_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: u64 = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse::<u64>().ok())
        .sum();
    Some(ticks * 10_000_000)
}

fn read_u64_opt(path: Option<std::path::PathBuf>) -> Option<u64> {
    read_u64(path?)
}

/// The cgroup directory of `pid` for a v1 controller (or the unified hierarchy).
pub(super) fn cgroup_dir(pid: i64, controller: &str) -> Option<std::path::PathBuf> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
        if ctrls.split(',').any(|c| c == controller) {
            return Some(
                std::path::Path::new("/sys/fs/cgroup")
                    .join(controller)
                    .join(path.trim_start_matches('/')),
            );
        }
    }
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(|p| std::path::Path::new("/sys/fs/cgroup").join(p.trim_start_matches('/')))
}

fn read_u64(path: std::path::PathBuf) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn keyed(path: std::path::PathBuf, key: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

impl Engine {
    /// `rename OLD NEW`.
    pub fn rename_container(&self, name: &str, new: &str) -> Result<(), EngineError> {
        let new = new.strip_prefix('/').unwrap_or(new);
        if !super::names::valid(new) {
            return Err(EngineError::InvalidArgument(format!(
                "invalid container name ({new}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        let rec = self.reconciled(name)?;
        self.store.meta.write(|tx| {
            if let Some(other) = tx.container_by_name(new)? {
                return Err(EngineError::Conflict(format!(
                    "the container name \"/{new}\" is already in use by container \"{}\"",
                    other.id
                )));
            }
            let mut r = tx
                .container(&rec.id)?
                .ok_or_else(|| EngineError::ContainerNotFound(name.to_string()))?;
            r.name = new.to_string();
            tx.update_container(&r)?;
            Ok::<_, EngineError>(())
        })?;
        self.emit_container_id(
            &rec.id,
            Action::Rename,
            &[("oldName", format!("/{}", rec.name))],
        );
        Ok(())
    }

    /// `pause` / `unpause`.
    pub fn pause_container(&self, name: &str, pause: bool) -> Result<String, EngineError> {
        let rec = self.reconciled(name)?;
        let (want, next) = if pause {
            (ContainerState::Running, ContainerState::Paused)
        } else {
            (ContainerState::Paused, ContainerState::Running)
        };
        if rec.state != want {
            return Err(EngineError::Conflict(format!(
                "container {} is not {want}",
                &rec.id[..12]
            )));
        }
        let rt = self.oci_runtime();
        let result = if pause {
            rt.pause(&rec.id)
        } else {
            rt.resume(&rec.id)
        };
        result?;
        self.store.meta.write(|tx| {
            if let Some(mut r) = tx.container(&rec.id)? {
                r.state = next;
                tx.update_container(&r)?;
            }
            Ok::<_, EngineError>(())
        })?;
        let action = if pause {
            Action::Pause
        } else {
            Action::Unpause
        };
        self.emit_container(&rec, action, &[]);
        Ok(rec.id)
    }

    /// Host pids of the processes of a running container.
    pub fn container_pids(&self, name: &str) -> Result<Vec<i64>, EngineError> {
        let rec = self.reconciled(name)?;
        if !matches!(rec.state, ContainerState::Running | ContainerState::Paused) {
            return Err(EngineError::Conflict(format!(
                "container {} is not running",
                &rec.id[..12]
            )));
        }
        let dir = cgroup_dir(rec.pid, "pids")
            .or_else(|| cgroup_dir(rec.pid, "memory"))
            .ok_or_else(|| {
                EngineError::InvalidArgument(format!(
                    "container {}: no cgroup found",
                    &rec.id[..12]
                ))
            })?;
        let text = std::fs::read_to_string(dir.join("cgroup.procs")).map_err(|e| {
            EngineError::io(format!("container {}: cgroup.procs", &rec.id[..12]), e)
        })?;
        Ok(text.lines().filter_map(|l| l.trim().parse().ok()).collect())
    }

    /// `top`: `ps` on the host (with `ps_args`, default `-ef`), only the container's rows.
    pub fn top(
        &self,
        name: &str,
        ps_args: &[String],
    ) -> Result<(Vec<String>, Vec<Vec<String>>), EngineError> {
        let pids = self.container_pids(name)?;
        let args: Vec<String> = if ps_args.is_empty() {
            vec!["-ef".into()]
        } else {
            ps_args.to_vec()
        };
        let out = std::process::Command::new("ps")
            .args(&args)
            .output()
            .map_err(|e| EngineError::io("top: run ps", e))?;
        if !out.status.success() {
            return Err(EngineError::InvalidArgument(format!(
                "ps {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        let header: Vec<String> = lines
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect();
        let pid_col = header.iter().position(|h| h == "PID").ok_or_else(|| {
            EngineError::InvalidArgument("top: ps output has no PID column".into())
        })?;
        let cols = header.len();
        let rows = lines
            .filter_map(|l| {
                let fields: Vec<&str> = l.split_whitespace().collect();
                let pid: i64 = fields.get(pid_col)?.parse().ok()?;
                pids.contains(&pid).then(|| {
                    let mut row: Vec<String> = fields[..cols.saturating_sub(1).min(fields.len())]
                        .iter()
                        .map(|s| s.to_string())
                        .collect();
                    row.push(fields[cols.saturating_sub(1).min(fields.len())..].join(" "));
                    row
                })
            })
            .collect();
        Ok((header, rows))
    }

    /// `stats --no-stream`: one sample, CPU measured over `window`.
    pub fn stats(&self, name: &str, window: Duration) -> Result<Stats, EngineError> {
        let first = self.stats_sample(name)?;
        let mut s = Stats {
            id: first.id.clone(),
            name: first.name.clone(),
            ..Default::default()
        };
        if !first.live {
            return Ok(s);
        }
        let t0 = std::time::Instant::now();
        std::thread::sleep(window);
        let last = self.stats_sample(name)?;
        let elapsed = t0.elapsed().as_nanos() as f64;
        s.cpu_percent = if elapsed > 0.0 {
            last.cpu_total_ns.saturating_sub(first.cpu_total_ns) as f64 / elapsed * 100.0
        } else {
            0.0
        };
        s.mem_usage = last.mem_usage;
        s.mem_limit = last.mem_limit;
        s.pids = last.pids;
        s.block_read = last.block_read;
        s.block_write = last.block_write;
        s.net_rx = last.net_rx;
        s.net_tx = last.net_tx;
        Ok(s)
    }

    /// The container's counters now, as the kernel keeps them (the Engine API's stats: the
    /// client computes rates from two samples).
    pub fn stats_sample(&self, name: &str) -> Result<StatsSample, EngineError> {
        let rec = self.reconciled(name)?;
        let mut s = StatsSample {
            id: rec.id.clone(),
            name: rec.name.clone(),
            live: matches!(rec.state, ContainerState::Running | ContainerState::Paused),
            system_cpu_ns: system_cpu_ns().unwrap_or(0),
            online_cpus: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
            ..Default::default()
        };
        if !s.live {
            return Ok(s);
        }
        let pid = rec.pid;
        s.cpu_total_ns = read_u64_opt(cgroup_dir(pid, "cpuacct").map(|d| d.join("cpuacct.usage")))
            .or_else(|| {
                keyed(cgroup_dir(pid, "cpu")?.join("cpu.stat"), "usage_usec").map(|u| u * 1000)
            })
            .unwrap_or(0);
        if let Some(dir) = cgroup_dir(pid, "memory") {
            let usage = read_u64(dir.join("memory.usage_in_bytes"))
                .or_else(|| read_u64(dir.join("memory.current")))
                .unwrap_or(0);
            let cache = keyed(dir.join("memory.stat"), "total_inactive_file")
                .or_else(|| keyed(dir.join("memory.stat"), "inactive_file"))
                .unwrap_or(0);
            s.mem_usage = usage.saturating_sub(cache);
            let host = std::fs::read_to_string("/proc/meminfo")
                .ok()
                .and_then(|t| {
                    t.lines()
                        .find_map(|l| l.strip_prefix("MemTotal:"))
                        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
                })
                .unwrap_or(0)
                * 1024;
            s.mem_limit = read_u64(dir.join("memory.limit_in_bytes"))
                .or_else(|| read_u64(dir.join("memory.max")))
                .filter(|l| *l < host || host == 0)
                .unwrap_or(host);
        }
        if let Some(dir) = cgroup_dir(pid, "pids") {
            s.pids = read_u64(dir.join("pids.current")).unwrap_or(0);
        }
        if let Some(dir) = cgroup_dir(pid, "blkio") {
            if let Ok(text) = std::fs::read_to_string(dir.join("blkio.throttle.io_service_bytes")) {
                for l in text.lines() {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    if f.len() == 3 {
                        let n: u64 = f[2].parse().unwrap_or(0);
                        match f[1] {
                            "Read" => s.block_read += n,
                            "Write" => s.block_write += n,
                            _ => {}
                        }
                    }
                }
            }
        }
        if let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/dev")) {
            for l in text.lines().skip(2) {
                let Some((iface, rest)) = l.split_once(':') else {
                    continue;
                };
                if iface.trim() == "lo" {
                    continue;
                }
                let f: Vec<u64> = rest
                    .split_whitespace()
                    .filter_map(|x| x.parse().ok())
                    .collect();
                if f.len() >= 9 {
                    s.net_rx += f[0];
                    s.net_tx += f[8];
                }
            }
        }
        Ok(s)
    }
}
