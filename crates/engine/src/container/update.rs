//! `container update`: new resource limits and restart policy for a container, running or
//! not. A running container's limits are written to its live cgroup first (found through
//! `/proc/PID/cgroup`, so whichever runtime made the cgroup and wherever the host nests it),
//! then to its stored config, so that a restart keeps them and a refused write changes
//! nothing.

use berth_store::ContainerState;
use std::path::Path;

use berth_runtime::spec::{cpu_quota, memory_limits, ContainerSpec, CPU_PERIOD};

use super::ops::cgroup_dir;
use super::{ContainerConfig, RestartPolicy};
use crate::events::Action;
use crate::{Engine, EngineError};

/// What `update` was asked to change, parsed at the edge; `None` leaves a setting alone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdateOptions {
    /// Bytes.
    pub memory: Option<i64>,
    /// Bytes of memory + swap; -1 = unlimited swap.
    pub memory_swap: Option<i64>,
    pub cpus: Option<f64>,
    pub cpu_shares: Option<u64>,
    /// 0 or negative = unlimited.
    pub pids_limit: Option<i64>,
    pub restart: Option<RestartPolicy>,
}

impl UpdateOptions {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// The container's config with `opts` applied, checked as docker's daemon checks an update;
/// the error is the reason alone.
pub(crate) fn apply(
    old: &ContainerConfig,
    opts: &UpdateOptions,
) -> Result<ContainerConfig, String> {
    let mut new = old.clone();
    let spec = &mut new.spec;
    if let Some(m) = opts.memory.filter(|m| *m != 0) {
        let kept_swap = spec.memory_swap.filter(|s| *s > 0);
        if opts.memory_swap.is_none() && kept_swap.is_some_and(|s| m > s) {
            return Err("Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time".into());
        }
        spec.memory = Some(m);
    }
    if let Some(s) = opts.memory_swap.filter(|s| *s != 0) {
        spec.memory_swap = Some(s);
    }
    memory_limits(spec.memory, spec.memory_swap).map_err(|e| e.to_string())?;
    if let Some(c) = opts.cpus {
        cpu_quota(c).map_err(|e| e.to_string())?;
        spec.cpus = Some(c);
    }
    if let Some(s) = opts.cpu_shares {
        spec.cpu_shares = Some(s);
    }
    if let Some(p) = opts.pids_limit {
        spec.pids_limit = Some(p);
    }
    if let Some(r) = opts.restart {
        if new.auto_remove && r != RestartPolicy::No {
            return Err(
                "Restart policy cannot be updated because AutoRemove is enabled for the container"
                    .into(),
            );
        }
        new.restart = r;
    }
    Ok(new)
}

/// One write to a cgroup file: (v1 controller, file, value).
type CgroupWrite = (&'static str, &'static str, String);

/// The cgroup files an update of `opts` writes, in order, for the limits of `spec` (the
/// config after the update). Memory comes as limit then swap; see [`write_all`].
pub(crate) fn cgroup_writes(
    spec: &ContainerSpec,
    opts: &UpdateOptions,
    v2: bool,
) -> Result<Vec<CgroupWrite>, String> {
    let mut out = Vec::new();
    if opts.memory.is_some() || opts.memory_swap.is_some() {
        if let (Some(limit), swap) =
            memory_limits(spec.memory, spec.memory_swap).map_err(|e| e.to_string())?
        {
            let swap = swap.unwrap_or(-1);
            if v2 {
                out.push(("memory", "memory.max", limit.to_string()));
                // v2 limits swap alone, not memory + swap.
                let s = if swap < 0 {
                    "max".into()
                } else {
                    (swap - limit).max(0).to_string()
                };
                out.push(("memory", "memory.swap.max", s));
            } else {
                out.push(("memory", "memory.limit_in_bytes", limit.to_string()));
                out.push(("memory", "memory.memsw.limit_in_bytes", swap.to_string()));
            }
        }
    }
    if let Some(c) = opts.cpus {
        let quota = cpu_quota(c).map_err(|e| e.to_string())?;
        if v2 {
            out.push(("cpu", "cpu.max", format!("{quota} {CPU_PERIOD}")));
        } else {
            out.push(("cpu", "cpu.cfs_period_us", CPU_PERIOD.to_string()));
            out.push(("cpu", "cpu.cfs_quota_us", quota.to_string()));
        }
    }
    if let Some(s) = opts.cpu_shares {
        // 0 is the default weight; the kernel clamps v1 shares to 2..=262144.
        let shares = if s == 0 { 1024 } else { s.clamp(2, 262_144) };
        if v2 {
            // runc's conversion of shares to a v2 weight (1..=10000).
            let weight = 1 + ((shares - 2) * 9999) / 262_142;
            out.push(("cpu", "cpu.weight", weight.to_string()));
        } else {
            out.push(("cpu", "cpu.shares", shares.to_string()));
        }
    }
    if let Some(p) = opts.pids_limit {
        let v = if p > 0 { p.to_string() } else { "max".into() };
        out.push(("pids", "pids.max", v));
    }
    Ok(out)
}

/// Writes each file in the container's cgroup. A memory limit above the current memory+swap
/// limit is refused by v1 until the swap limit is raised, and a swap limit below the memory
/// limit until that is lowered: a refused limit is retried after its swap limit.
fn write_all(pid: i64, writes: &[CgroupWrite]) -> Result<(), String> {
    let path = |controller: &str, file: &str| -> Result<std::path::PathBuf, String> {
        cgroup_dir(pid, controller)
            .map(|d| d.join(file))
            .ok_or_else(|| format!("no {controller} cgroup found for pid {pid}"))
    };
    let write = |p: &Path, v: &str| {
        std::fs::write(p, v).map_err(|e| format!("write {v} to {}: {e}", p.display()))
    };
    let mut i = 0;
    while i < writes.len() {
        let (ctl, file, value) = &writes[i];
        let p = path(ctl, file)?;
        // Swap accounting may be off (no memsw files): the memory limit alone applies.
        if file.contains("memsw") || file.contains("swap") {
            if p.exists() {
                write(&p, value)?;
            }
            i += 1;
            continue;
        }
        let swap_next = writes
            .get(i + 1)
            .filter(|(_, f, _)| f.contains("memsw") || f.contains("swap"));
        match (write(&p, value), swap_next) {
            (Ok(()), _) => {}
            (Err(_), Some((c2, f2, v2))) => {
                let p2 = path(c2, f2)?;
                if p2.exists() {
                    write(&p2, v2)?;
                }
                write(&p, value)?;
                i += 1;
            }
            (Err(e), None) => return Err(e),
        }
        i += 1;
    }
    Ok(())
}

impl Engine {
    /// `container update NAME`: applies `opts` to the live cgroup of a running container and
    /// to its stored config.
    pub fn update_container(&self, name: &str, opts: &UpdateOptions) -> Result<(), EngineError> {
        let rec = self.reconciled(name)?;
        let short = rec.id.get(..12).unwrap_or(&rec.id).to_string();
        let cannot = |reason: String| {
            EngineError::bad_input(format!("cannot update container {short}"), reason)
        };
        if opts.is_empty() {
            return Err(EngineError::InvalidArgument(
                "you must provide one or more flags when using this command".into(),
            ));
        }
        let old = ContainerConfig::from_record(&rec)?;
        let new = apply(&old, opts).map_err(cannot)?;
        let live =
            matches!(rec.state, ContainerState::Running | ContainerState::Paused) && rec.pid > 0;
        if live {
            let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
            let writes = cgroup_writes(&new.spec, opts, v2).map_err(cannot)?;
            write_all(rec.pid, &writes).map_err(cannot)?;
        }
        let json = serde_json::to_string(&new)
            .map_err(|e| EngineError::bad_input("container config", e))?;
        self.store.meta.write(|tx| {
            let mut r = tx
                .container(&rec.id)?
                .ok_or_else(|| EngineError::ContainerNotFound(name.to_string()))?;
            r.config = json.clone();
            tx.update_container(&r)?;
            Ok::<_, EngineError>(())
        })?;
        self.emit_container_id(&rec.id, Action::Update, &[]);
        tracing::debug!(container_id = %rec.id, live, "updated");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: i64 = 1024 * 1024;

    fn config(memory: Option<i64>, swap: Option<i64>) -> ContainerConfig {
        ContainerConfig {
            spec: ContainerSpec {
                memory,
                memory_swap: swap,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn memory_updates_follow_dockers_rules() {
        let mem = |m| UpdateOptions {
            memory: Some(m),
            ..Default::default()
        };
        let c = apply(&config(None, None), &mem(64 * MB)).unwrap();
        assert_eq!((c.spec.memory, c.spec.memory_swap), (Some(64 * MB), None));
        let err = apply(&config(Some(32 * MB), Some(64 * MB)), &mem(128 * MB)).unwrap_err();
        assert!(err.starts_with("Memory limit should be smaller"), "{err}");
        let both = UpdateOptions {
            memory: Some(128 * MB),
            memory_swap: Some(256 * MB),
            ..Default::default()
        };
        let c = apply(&config(Some(32 * MB), Some(64 * MB)), &both).unwrap();
        assert_eq!(
            (c.spec.memory, c.spec.memory_swap),
            (Some(128 * MB), Some(256 * MB))
        );
        assert!(apply(&config(None, None), &mem(MB))
            .unwrap_err()
            .contains("6MB"));
        let swap_only = UpdateOptions {
            memory_swap: Some(64 * MB),
            ..Default::default()
        };
        assert!(apply(&config(None, None), &swap_only).is_err());
    }

    #[test]
    fn restart_policy_cannot_be_set_on_an_auto_removed_container() {
        let mut c = config(None, None);
        c.auto_remove = true;
        let opts = UpdateOptions {
            restart: Some(RestartPolicy::Always),
            ..Default::default()
        };
        assert!(apply(&c, &opts).unwrap_err().contains("AutoRemove"));
        c.auto_remove = false;
        assert_eq!(apply(&c, &opts).unwrap().restart, RestartPolicy::Always);
    }

    #[test]
    fn cgroup_files_for_v1_and_v2() {
        let opts = UpdateOptions {
            memory: Some(64 * MB),
            cpus: Some(1.5),
            cpu_shares: Some(512),
            pids_limit: Some(-1),
            ..Default::default()
        };
        let new = apply(&config(None, None), &opts).unwrap();
        let v1 = cgroup_writes(&new.spec, &opts, false).unwrap();
        let files: Vec<(&str, &str)> = v1.iter().map(|(_, f, v)| (*f, v.as_str())).collect();
        assert_eq!(
            files,
            vec![
                ("memory.limit_in_bytes", "67108864"),
                ("memory.memsw.limit_in_bytes", "134217728"),
                ("cpu.cfs_period_us", "100000"),
                ("cpu.cfs_quota_us", "150000"),
                ("cpu.shares", "512"),
                ("pids.max", "max"),
            ]
        );
        let v2 = cgroup_writes(&new.spec, &opts, true).unwrap();
        let files: Vec<(&str, &str)> = v2.iter().map(|(_, f, v)| (*f, v.as_str())).collect();
        assert_eq!(
            files,
            vec![
                ("memory.max", "67108864"),
                ("memory.swap.max", "67108864"),
                ("cpu.max", "150000 100000"),
                ("cpu.weight", "20"),
                ("pids.max", "max"),
            ]
        );
        let restart_only = UpdateOptions {
            restart: Some(RestartPolicy::No),
            ..Default::default()
        };
        assert!(cgroup_writes(&new.spec, &restart_only, false)
            .unwrap()
            .is_empty());
    }
}
