//! Pure OCI runtime spec generation: what the user asked for (`ContainerSpec`) plus the image's
//! config → the `config.json` libcontainer runs, with Docker's defaults (moby's
//! `oci/defaults.go` and `daemon/oci_linux.go`).
//!
//! Nothing here touches the disk, the kernel or the clock: whatever must be read (the image's
//! `/etc/passwd` and `/etc/group`, the host's hard rlimits, the cgroup mode, where the etc
//! files and the init binary live) is passed in by the caller. The spec types are the ones
//! `libcontainer` itself parses (its re-exported `oci_spec`), so a spec built here is exactly
//! what it will load from the bundle.
//!
//! ```
//! use berth_runtime::spec::{build_spec, ContainerSpec, EtcFiles, HostInfo, ImageConfig, SpecInputs};
//! let container = ContainerSpec { id: "0123456789abcdef".into(), cmd: vec!["true".into()], ..Default::default() };
//! let spec = build_spec(&SpecInputs {
//!     container: &container,
//!     image: &ImageConfig::default(),
//!     rootfs: std::path::Path::new("/var/lib/berth/containers/0123/rootfs"),
//!     passwd: Some("root:x:0:0:root:/root:/bin/sh\n"),
//!     group: None,
//!     host: &HostInfo::default(),
//!     cgroups_path: "/berth/0123456789abcdef",
//!     etc_files: &EtcFiles::default(),
//!     netns: None,
//!     ipc_ns: None,
//!     uts_ns: None,
//!     init_path: None,
//! })?;
//! assert_eq!(spec.hostname().as_deref(), Some("0123456789ab"));
//! # Ok::<(), berth_runtime::spec::SpecError>(())
//! ```

mod build;
mod caps;
mod command;
mod env;
mod mounts;
mod resources;
mod seccomp;
mod seccomp_profile;
mod user;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use build::build_spec;
#[cfg(test)]
pub(crate) use caps::default_caps_with;
pub use caps::{resolve_caps, ALL_CAPS, DEFAULT_CAPS};
pub use command::resolve_command;
pub use env::{merge_env, DEFAULT_PATH};
pub use libcontainer::oci_spec::runtime::{LinuxSeccomp, Spec};
pub use mounts::INIT_PATH_IN_CONTAINER;
pub use resources::{cpu_quota, host_devices, memory_limits, CPU_PERIOD};
pub use seccomp::{default_seccomp, to_runtime_spec_arg_order};
pub use user::{resolve_user, ResolvedUser};

/// What the user asked for: the `docker run` flags, parsed at the edge. Persisted as JSON by
/// the engine, so every field has a default and unknown fields are ignored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerSpec {
    pub id: String,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    /// `--entrypoint`: `Some(vec![])` (or `Some(vec!["".into()])`) resets the image's.
    pub entrypoint: Option<Vec<String>>,
    /// The arguments after the image name.
    pub cmd: Vec<String>,
    /// `-e K=V` / `--env-file`, already resolved to `K=V` (a bare `K` unsets `K`).
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub tty: bool,
    /// The terminal's rows and columns when the container is created with one (docker's
    /// `HostConfig.ConsoleSize`): the process starts with it, later changes come as resizes.
    pub console_size: Option<(u16, u16)>,
    pub open_stdin: bool,
    pub read_only: bool,
    pub privileged: bool,
    /// "NET_ADMIN", "CAP_NET_ADMIN" or "ALL", any case.
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub no_new_privileges: bool,
    pub seccomp_unconfined: bool,
    pub mounts: Vec<MountSpec>,
    /// Bytes.
    pub memory: Option<i64>,
    /// Bytes of memory + swap; -1 = unlimited swap.
    pub memory_swap: Option<i64>,
    pub cpus: Option<f64>,
    /// `--cpu-shares`: the relative CPU weight (cgroup v1 `cpu.shares`; 0 = the default).
    pub cpu_shares: Option<u64>,
    /// 0 or negative = unlimited.
    pub pids_limit: Option<i64>,
    pub ulimits: Vec<Ulimit>,
    /// `--init`: run the init binary (`SpecInputs::init_path`) as pid 1 in front of the command.
    pub init: bool,
    pub stop_signal: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// `--runtime`: "berth" or "libcontainer"; `None` leaves the choice to `BERTH_RUNTIME`
    /// and the default (`oci::RuntimeKind::select`).
    pub runtime: Option<String>,
    /// `--shm-size` in bytes (docker's default, 64 MiB, when `None`).
    pub shm_size: Option<i64>,
    /// `--group-add`: group names (looked up in the image's /etc/group) or numeric gids.
    pub group_add: Vec<String>,
    /// `--sysctl`: namespaced kernel parameters (checked by [`check_sysctl`]).
    pub sysctls: BTreeMap<String, String>,
    /// `--add-host NAME:IP` lines for /etc/hosts, parsed at the edge; `host-gateway` as the IP
    /// stands for the bridge's gateway (the host, seen from the container).
    pub extra_hosts: Vec<(String, String)>,
    /// `--device HOST[:CONTAINER][:PERMISSIONS]`.
    pub devices: Vec<DeviceMapping>,
}

/// A host device made available in the container (`--device`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeviceMapping {
    pub host: String,
    pub container: String,
    /// A subset of `rwm` (read, write, mknod).
    pub permissions: String,
}

impl DeviceMapping {
    /// docker's `--device` syntax: `/dev/sda`, `/dev/sda:/dev/xvdc`, `/dev/sda:/dev/xvdc:r`,
    /// `/dev/sda:r`.
    pub fn parse(s: &str) -> Result<Self, SpecError> {
        let bad = |why: &str| SpecError::InvalidResource {
            what: "device",
            reason: format!("{s}: {why}"),
        };
        let is_perms = |p: &str| !p.is_empty() && p.chars().all(|c| matches!(c, 'r' | 'w' | 'm'));
        let parts: Vec<&str> = s.split(':').collect();
        let (host, container, permissions) = match parts.as_slice() {
            [h] => (*h, *h, "rwm"),
            [h, p] if is_perms(p) => (*h, *h, *p),
            [h, c] => (*h, *c, "rwm"),
            [h, c, p] => (*h, *c, *p),
            _ => return Err(bad("use HOST[:CONTAINER][:PERMISSIONS]")),
        };
        if !is_perms(permissions) {
            return Err(bad("permissions are a combination of r, w and m"));
        }
        if !host.starts_with('/') || !container.starts_with('/') {
            return Err(bad("device paths must be absolute"));
        }
        Ok(Self {
            host: host.to_string(),
            container: container.to_string(),
            permissions: permissions.to_string(),
        })
    }
}

/// docker's rule for `--sysctl`: only parameters namespaced with the container (IPC's
/// `kernel.msg*`, `kernel.sem`, `kernel.shm*`, `fs.mqueue.*`, and `net.*` with a network of its
/// own) may be set; anything else would change the host.
pub fn check_sysctl(key: &str, own_netns: bool) -> Result<(), String> {
    let ipc = matches!(
        key,
        "kernel.sem"
            | "kernel.shmmax"
            | "kernel.shmall"
            | "kernel.shmmni"
            | "kernel.shm_rmid_forced"
            | "kernel.msgmax"
            | "kernel.msgmnb"
            | "kernel.msgmni"
    ) || key.starts_with("fs.mqueue.");
    if ipc {
        return Ok(());
    }
    if key.starts_with("net.") {
        return if own_netns {
            Ok(())
        } else {
            Err(format!(
                "sysctl {key:?} is not allowed with the host's network: it would change the host"
            ))
        };
    }
    Err(format!(
        "sysctl {key:?} is not allowed: only IPC (kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*) and net.* parameters are namespaced"
    ))
}

/// One `-v`, `--tmpfs` or `--mount`. Named volumes arrive already resolved to a host path.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MountSpec {
    /// Host path (bind, volume); ignored for tmpfs.
    pub source: String,
    pub destination: String,
    pub kind: MountKind,
    pub read_only: bool,
    /// Bind: propagation (`rprivate`, `rshared`, …), `bind` (non-recursive), `nosuid`…;
    /// tmpfs: `size=64m`, `mode=1777`, `exec`…
    pub options: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    #[default]
    Bind,
    Tmpfs,
    Volume,
}

/// `--ulimit nofile=1024:2048` → `{ name: "nofile", soft: 1024, hard: 2048 }`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Ulimit {
    pub name: String,
    pub soft: u64,
    pub hard: u64,
}

/// The `config` section of an image config, as Docker writes it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImageConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, Empty>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, Empty>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
}

/// The `{}` Docker uses as the value of `ExposedPorts` and `Volumes` entries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

/// What the caller read from the host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HostInfo {
    /// Hard limits of the process that will create the container, keyed "RLIMIT_NOFILE".
    /// Requested rlimits are clamped to these (the kernel refuses to raise a hard limit
    /// without CAP_SYS_RESOURCE).
    pub rlimit_hard: BTreeMap<String, u64>,
    /// Pure cgroup v2 (unified). False on v1 and on v1+v2 hybrids.
    pub cgroup_v2: bool,
    /// Capabilities in the creating process's bounding set ("CAP_CHOWN", …); `None` = all
    /// known. `--privileged` and `--cap-add ALL` grant only these (this host lacks
    /// CAP_SYS_RESOURCE, and asking for a capability the runtime lacks fails at start).
    pub cap_bounding: Option<Vec<String>>,
}

/// Host paths of the files bind-mounted over the container's `/etc/hostname`, `/etc/hosts`
/// and `/etc/resolv.conf`. `None` leaves the image's file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EtcFiles {
    pub hostname: Option<PathBuf>,
    pub hosts: Option<PathBuf>,
    pub resolv_conf: Option<PathBuf>,
}

/// Everything `build_spec` needs; the caller does the reading.
#[derive(Debug, Clone, Copy)]
pub struct SpecInputs<'a> {
    pub container: &'a ContainerSpec,
    pub image: &'a ImageConfig,
    pub rootfs: &'a Path,
    /// Contents of the image's `/etc/passwd` and `/etc/group` (`None` if absent).
    pub passwd: Option<&'a str>,
    pub group: Option<&'a str>,
    pub host: &'a HostInfo,
    pub cgroups_path: &'a str,
    pub etc_files: &'a EtcFiles,
    /// `None`: a new network namespace; `Some(path)`: join that one.
    pub netns: Option<&'a Path>,
    /// IPC and UTS namespaces to join (a pod's), `None` for new ones. A joined UTS namespace
    /// keeps its hostname: the spec then sets none.
    pub ipc_ns: Option<&'a Path>,
    pub uts_ns: Option<&'a Path>,
    /// Host path of the init binary for `--init`.
    pub init_path: Option<&'a Path>,
}

/// Why a spec could not be built. Messages follow Docker's where Docker has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("no command specified")]
    NoCommand,
    #[error("unknown capability: {0}")]
    UnknownCapability(String),
    #[error("capability {0} is not available on this host")]
    CapabilityUnavailable(String),
    #[error("unable to find user {0}: no matching entries in passwd file")]
    UserNotFound(String),
    #[error("unable to find group {0}: no matching entries in group file")]
    GroupNotFound(String),
    #[error("invalid user {user}: {reason}")]
    InvalidUser { user: String, reason: String },
    #[error("invalid working directory {0}: it needs to be an absolute path")]
    InvalidWorkdir(String),
    #[error("invalid ulimit {name}: {reason}")]
    InvalidUlimit { name: String, reason: String },
    #[error("invalid mount {destination}: {reason}")]
    InvalidMount { destination: String, reason: String },
    #[error("invalid {what}: {reason}")]
    InvalidResource { what: &'static str, reason: String },
    /// docker's words for a `--device` that is missing or not a device.
    #[error("error gathering device information while adding custom device {path:?}: {reason}")]
    Device { path: String, reason: String },
    #[error("--init: no init binary available")]
    InitUnavailable,
    #[error("build oci spec: {0}")]
    Build(String),
}

impl From<libcontainer::oci_spec::OciSpecError> for SpecError {
    fn from(e: libcontainer::oci_spec::OciSpecError) -> Self {
        Self::Build(e.to_string())
    }
}

#[cfg(test)]
mod device_tests {
    use super::DeviceMapping;

    #[test]
    fn device_flags_parse_as_docker_reads_them() {
        let d = |s: &str| DeviceMapping::parse(s).map(|d| (d.host, d.container, d.permissions));
        let t = |h: &str, c: &str, p: &str| Ok((h.to_string(), c.to_string(), p.to_string()));
        assert_eq!(d("/dev/fuse"), t("/dev/fuse", "/dev/fuse", "rwm"));
        assert_eq!(d("/dev/sda:/dev/xvdc"), t("/dev/sda", "/dev/xvdc", "rwm"));
        assert_eq!(d("/dev/sda:r"), t("/dev/sda", "/dev/sda", "r"));
        assert_eq!(d("/dev/sda:/dev/xvdc:rw"), t("/dev/sda", "/dev/xvdc", "rw"));
        assert!(d("/dev/sda:/x:q").is_err());
        assert!(d("dev/sda").is_err());
        assert!(d("/a:/b:r:x").is_err());
    }
}
