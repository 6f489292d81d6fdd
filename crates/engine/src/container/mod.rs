//! Containers: create, start (through a monitor process), stop, remove, list, logs, exec.
//!
//! Each running container has one monitor process (`berth monitor ID`, fork+exec'd from our
//! own binary) that outlives the CLI: it creates and starts the container with
//! libcontainer, owns its stdio, writes the json log, serves attach, records the exit and
//! cleans up. The CLI only records containers and talks to monitors.
//!
//! ```text
//! ROOT/containers/<id>/            the bundle: config.json, rootfs/ (overlay mount point),
//!                                  upper/ work/ (the writable layer), hostname hosts
//!                                  resolv.conf, <id>-json.log, monitor.log
//! RUNROOT/lc/<id>/                 libcontainer's state
//! RUNROOT/s/<short id>.sock        the monitor's attach socket (short: sun_path is 108 bytes)
//! ```

mod attach_client;
mod bundle;
mod commit;
mod create;
mod exec;
mod exec_instance;
mod exec_relay;
pub mod exec_shim;
mod files;
pub mod flags;
pub mod health;
mod health_probe;
mod inspect;
pub(crate) use inspect::dir_size;
mod list;
mod logs;
pub mod monitor;
mod monitor_lock;
mod monitor_spawn;
pub mod names;
pub mod network;
mod ops;
mod reconcile;
mod start;
mod stop;
mod streams;
pub mod timings;
mod update;

use std::path::PathBuf;

use berth_runtime::spec::ContainerSpec;
use berth_store::ContainerRecord;
use serde::{Deserialize, Serialize};

pub use commit::CommitOptions;
pub use create::CreateOptions;
pub use exec::ExecOptions;
pub use exec_instance::ExecInstance;
pub use files::{Change, PathStat};
pub use inspect::mount_point;
pub use list::{human_duration, ContainerFilter, ContainerSummary};
pub use logs::LogOptions;
pub use network::{netns_pool, NetSummary, NetworkMode};
pub use ops::{Stats, StatsSample};
pub use start::StartMode;
pub(crate) use stop::signal_number;
pub use streams::{ProcessControl, ProcessIo};
pub use update::UpdateOptions;

use crate::{Engine, EngineError};

/// When a container is restarted after it exits (`--restart`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum RestartPolicy {
    #[default]
    No,
    Always,
    UnlessStopped,
    /// Restart on a non-zero exit, at most this many times (0: no limit).
    OnFailure(u32),
}

impl std::str::FromStr for RestartPolicy {
    type Err = EngineError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            EngineError::InvalidArgument(format!(
                "invalid restart policy {s:?}: use no, always, unless-stopped or on-failure[:max-retries]"
            ))
        };
        Ok(match s.split_once(':') {
            None if s == "no" || s.is_empty() => Self::No,
            None if s == "always" => Self::Always,
            None if s == "unless-stopped" => Self::UnlessStopped,
            None if s == "on-failure" => Self::OnFailure(0),
            Some(("on-failure", n)) => Self::OnFailure(n.parse().map_err(|_| bad())?),
            _ => return Err(bad()),
        })
    }
}

impl RestartPolicy {
    pub fn name(&self) -> &'static str {
        match self {
            Self::No => "no",
            Self::Always => "always",
            Self::UnlessStopped => "unless-stopped",
            Self::OnFailure(_) => "on-failure",
        }
    }

    /// Whether a container that exited with `code` after `restarts` restarts is started
    /// again. A container the user stopped is never restarted.
    pub fn should_restart(&self, code: i64, restarts: i64, stopped_by_user: bool) -> bool {
        if stopped_by_user {
            return false;
        }
        match *self {
            Self::No => false,
            Self::Always | Self::UnlessStopped => true,
            Self::OnFailure(max) => code != 0 && (max == 0 || restarts < i64::from(max)),
        }
    }
}

/// What the engine keeps about a container beyond the store's columns (as JSON).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerConfig {
    pub spec: ContainerSpec,
    pub restart: RestartPolicy,
    pub auto_remove: bool,
    /// The command as resolved at create time: `Path` and `Args` of `inspect`.
    pub path: String,
    pub args: Vec<String>,
    /// Seconds `stop` waits before SIGKILL.
    pub stop_timeout: Option<u32>,
    pub network: NetworkMode,
    /// Ports to publish (`-p`, and `-P`'s choice made at create time).
    pub ports: Vec<berth_net::PortMapping>,
    /// `--network-alias`
    pub aliases: Vec<String>,
    /// `--dns`
    pub dns: Vec<std::net::IpAddr>,
    /// The healthcheck: the image's `HEALTHCHECK` under `--health-*`, merged at create time.
    pub healthcheck: Option<health::HealthConfig>,
    /// A build's RUN step: it lives only while its client is attached. When the client goes
    /// (a `berth build` killed, even by SIGKILL), the monitor kills and removes it.
    pub tied_to_client: bool,
    /// `--log-opt`: the json-file log's rotation (docker's defaults when unset).
    #[serde(default)]
    pub log: flags::LogOptions,
    /// The ID of the pod the container belongs to (`run --pod`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// The pod's infra container: its process holds the pod's namespaces.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub infra: bool,
}

impl ContainerConfig {
    pub(crate) fn from_record(rec: &ContainerRecord) -> Result<Self, EngineError> {
        serde_json::from_str(&rec.config).map_err(|e| {
            EngineError::bad_input(
                format!("container {}", &rec.id[..12]),
                format!("stored config: {e}"),
            )
        })
    }

    /// Parses the `config` column of a container record.
    pub fn from_json(json: &str) -> Result<Self, EngineError> {
        serde_json::from_str(json).map_err(|e| EngineError::bad_input("container config", e))
    }

    /// `"sh -c 'x'"`-style display of the command, as `ps` shows it.
    pub fn command_line(&self) -> String {
        std::iter::once(self.path.as_str())
            .chain(self.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Paths of one container.
#[derive(Debug, Clone)]
pub struct ContainerPaths {
    pub dir: PathBuf,
    pub rootfs: PathBuf,
    pub upper: PathBuf,
    pub work: PathBuf,
    pub log: PathBuf,
    pub monitor_log: PathBuf,
    pub attach_socket: PathBuf,
    pub console_socket: PathBuf,
}

impl Engine {
    pub fn container_paths(&self, id: &str) -> ContainerPaths {
        let dir = self.store.root().join("containers").join(id);
        let sockets = self.run_root.join("s");
        ContainerPaths {
            rootfs: dir.join("rootfs"),
            upper: dir.join("upper"),
            work: dir.join("work"),
            log: dir.join(format!("{id}-json.log")),
            monitor_log: dir.join("monitor.log"),
            // Socket paths must fit in sun_path (108 bytes): name them by the short ID.
            attach_socket: sockets.join(format!("{}.sock", short(id))),
            console_socket: sockets.join(format!("{}.tty", short(id))),
            dir,
        }
    }

    /// Opens container `id`'s monitor log for appending, for a monitor or exec shim about to
    /// be spawned. The log is made with the container, so it is opened, not created: a start
    /// racing a `rm -f` must not add an entry to a directory the remove is emptying (its
    /// `rmdir` would then fail), and finds the container gone instead.
    pub(crate) fn open_monitor_log(&self, id: &str) -> Result<std::fs::File, EngineError> {
        let path = self.container_paths(id).monitor_log;
        let open = |create: bool| {
            std::fs::OpenOptions::new()
                .create(create)
                .append(true)
                .open(&path)
        };
        let failed = |e| EngineError::io(format!("open {}", path.display()), e);
        match open(false) {
            Ok(f) => Ok(f),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // Gone with the container, or a container made before the log was made with
                // it: created under the write lock, where a remove cannot be half done.
                self.store.meta.write(|tx| match tx.container(id)? {
                    None => Err(EngineError::ContainerNotFound(id.to_string())),
                    Some(_) => open(true).map_err(failed),
                })
            }
            Err(e) => Err(failed(e)),
        }
    }

    pub(crate) fn oci_runtime(&self) -> berth_runtime::oci::Runtime {
        berth_runtime::oci::Runtime::new(self.run_root.join("lc"))
    }

    /// Finds a container by full ID, name (with or without docker's leading `/`) or unique
    /// ID prefix.
    pub fn resolve_container(&self, name: &str) -> Result<ContainerRecord, EngineError> {
        let not_found = || EngineError::ContainerNotFound(name.to_string());
        let key = name.strip_prefix('/').unwrap_or(name);
        if key.is_empty() {
            return Err(not_found());
        }
        self.store.meta.read_as(|tx| {
            if let Some(c) = tx.container(key)? {
                return Ok(c);
            }
            if let Some(c) = tx.container_by_name(key)? {
                return Ok(c);
            }
            if key.bytes().all(|b| b.is_ascii_hexdigit()) {
                let ids = tx.containers_by_prefix(&key.to_ascii_lowercase())?;
                match ids.as_slice() {
                    [one] => return tx.container(one)?.ok_or_else(not_found),
                    [] => {}
                    _ => {
                        return Err(EngineError::InvalidArgument(format!(
                            "multiple containers match the ID prefix {key}: type more of the ID"
                        )))
                    }
                }
            }
            Err(not_found())
        })
    }
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// Unix nanoseconds now.
pub(crate) fn now_nanos() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
}

/// RFC 3339 with nanoseconds, as docker's inspect shows times; docker's zero time for 0.
pub fn rfc3339_nanos(nanos: i64) -> String {
    if nanos == 0 {
        return "0001-01-01T00:00:00Z".into();
    }
    chrono::DateTime::from_timestamp_nanos(nanos)
        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_policies_parse_and_decide() {
        let p: RestartPolicy = "on-failure:3".parse().unwrap();
        assert_eq!(p, RestartPolicy::OnFailure(3));
        assert!(p.should_restart(1, 0, false));
        assert!(p.should_restart(1, 2, false));
        assert!(!p.should_restart(1, 3, false));
        assert!(!p.should_restart(0, 0, false));
        assert!(!p.should_restart(1, 0, true));
        assert!("always"
            .parse::<RestartPolicy>()
            .unwrap()
            .should_restart(0, 99, false));
        assert!(!"no"
            .parse::<RestartPolicy>()
            .unwrap()
            .should_restart(1, 0, false));
        assert!("sometimes".parse::<RestartPolicy>().is_err());
        assert!("on-failure:x".parse::<RestartPolicy>().is_err());
    }
}
