//! The mount table: Docker's defaults (moby `oci/defaults.go`), the init binary, the etc
//! files and the user's binds, volumes and tmpfs (moby `daemon/oci_linux.go` `WithMounts`).

use std::path::{Component, Path, PathBuf};

use libcontainer::oci_spec::runtime::{Mount, MountBuilder};

use super::{EtcFiles, MountKind, MountSpec, SpecError};

/// Where `--init` puts the init binary (Docker's path, so images that expect it work).
pub const INIT_PATH_IN_CONTAINER: &str = "/sbin/docker-init";

/// Docker's default `--shm-size` (64 MiB).
const SHM_SIZE: &str = "size=67108864";

/// Mounts whose options a read-only rootfs leaves alone (they are writable by design).
const KEEP_WRITABLE: [&str; 5] = ["/proc", "/dev/pts", "/dev/shm", "/dev/mqueue", "/dev"];

const PROPAGATIONS: [&str; 8] = [
    "private",
    "rprivate",
    "shared",
    "rshared",
    "slave",
    "rslave",
    "unbindable",
    "runbindable",
];

/// What the mount table depends on.
#[derive(Debug, Clone, Copy)]
pub struct MountInputs<'a> {
    pub user: &'a [MountSpec],
    /// `--shm-size` in bytes (64 MiB when `None`).
    pub shm_size: Option<i64>,
    pub etc_files: &'a EtcFiles,
    pub init_path: Option<&'a Path>,
    pub read_only: bool,
    pub privileged: bool,
    pub cgroup_v2: bool,
}

/// The mounts, and the rootfs propagation a shared or slave bind needs (Docker's rule).
#[derive(Debug, Clone)]
pub struct MountTable {
    pub mounts: Vec<Mount>,
    pub rootfs_propagation: Option<String>,
}

fn mount(
    dest: &str,
    typ: &str,
    source: impl Into<PathBuf>,
    opts: &[&str],
) -> Result<Mount, SpecError> {
    Ok(MountBuilder::default()
        .destination(PathBuf::from(dest))
        .typ(typ)
        .source(source.into())
        .options(opts.iter().map(|o| o.to_string()).collect::<Vec<_>>())
        .build()?)
}

/// Docker's default mounts. On a v1 or hybrid cgroup host libcontainer ignores `ro` on a
/// `cgroup` mount (it bind-mounts each v1 hierarchy read-write), which would let a container
/// raise its own limits; there, unprivileged containers get an empty read-only tmpfs instead.
fn default_mounts(
    privileged: bool,
    cgroup_v2: bool,
    shm_size: Option<i64>,
) -> Result<Vec<Mount>, SpecError> {
    let shm = shm_size.map_or_else(|| SHM_SIZE.to_string(), |b| format!("size={b}"));
    let sys = if privileged {
        &["nosuid", "noexec", "nodev"][..]
    } else {
        &["nosuid", "noexec", "nodev", "ro"][..]
    };
    let cgroup = if privileged {
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["nosuid", "noexec", "nodev"],
        )?
    } else if cgroup_v2 {
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["ro", "nosuid", "noexec", "nodev"],
        )?
    } else {
        mount(
            "/sys/fs/cgroup",
            "tmpfs",
            "tmpfs",
            &["ro", "nosuid", "noexec", "nodev", "mode=755", "size=4k"],
        )?
    };
    Ok(vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"])?,
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        )?,
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        )?,
        mount("/sys", "sysfs", "sysfs", sys)?,
        cgroup,
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        )?,
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", &shm],
        )?,
    ])
}

/// "/data/" and "/data//x" → "/data", "/data/x"; relative or root destinations are refused.
fn clean_destination(dest: &str) -> Result<String, SpecError> {
    let invalid = |reason: &str| SpecError::InvalidMount {
        destination: dest.to_string(),
        reason: reason.to_string(),
    };
    let path = Path::new(dest);
    if !path.is_absolute() {
        return Err(invalid("destination must be an absolute path"));
    }
    let mut parts = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::ParentDir => return Err(invalid("destination must not contain ..")),
            _ => {}
        }
    }
    if parts.is_empty() {
        return Err(invalid("destination can't be '/'"));
    }
    Ok(format!("/{}", parts.join("/")))
}

fn depth(dest: &str) -> usize {
    dest.split('/').filter(|p| !p.is_empty()).count()
}

fn bind_options(m: &MountSpec) -> (Vec<String>, Option<String>) {
    let has = |o: &str| m.options.iter().any(|x| x == o);
    let mut opts = vec![if has("bind") || has("nonrecursive") {
        "bind"
    } else {
        "rbind"
    }
    .to_string()];
    if m.read_only || has("ro") {
        opts.push("ro".to_string());
    }
    let propagation = m
        .options
        .iter()
        .rev()
        .find(|o| PROPAGATIONS.contains(&o.as_str()))
        .cloned();
    opts.push(
        propagation
            .clone()
            .unwrap_or_else(|| "rprivate".to_string()),
    );
    for o in &m.options {
        let skip = ["ro", "rw", "bind", "rbind", "nonrecursive"].contains(&o.as_str())
            || PROPAGATIONS.contains(&o.as_str());
        if !skip && !opts.contains(o) {
            opts.push(o.clone());
        }
    }
    (opts, propagation)
}

/// The mutually exclusive group a mount flag belongs to (moby/sys `MergeTmpfsOptions`).
fn flag_group(opt: &str) -> Option<&'static str> {
    Some(match opt {
        "ro" | "rw" => "ro",
        "suid" | "nosuid" => "suid",
        "dev" | "nodev" => "dev",
        "exec" | "noexec" => "exec",
        "sync" | "async" => "sync",
        "dirsync" => "dirsync",
        "mand" | "nomand" => "mand",
        "atime" | "noatime" => "atime",
        "diratime" | "nodiratime" => "diratime",
        "relatime" | "norelatime" => "relatime",
        "strictatime" | "nostrictatime" => "strictatime",
        o if PROPAGATIONS.contains(&o) => "propagation",
        _ => return None,
    })
}

const TMPFS_DATA: [&str; 7] = [
    "size",
    "mode",
    "uid",
    "gid",
    "nr_inodes",
    "nr_blocks",
    "mpol",
];

/// Later options win over earlier ones of the same flag group or data key.
fn merge_tmpfs_options(dest: &str, options: &[String]) -> Result<Vec<String>, SpecError> {
    let mut seen: Vec<&str> = Vec::new();
    let mut out: Vec<String> = Vec::new();
    for opt in options.iter().rev().filter(|o| o.as_str() != "defaults") {
        let key = match flag_group(opt) {
            Some(group) => group,
            None => match opt.split_once('=') {
                Some((k, _)) if TMPFS_DATA.contains(&k) => k,
                _ => {
                    return Err(SpecError::InvalidMount {
                        destination: dest.to_string(),
                        reason: format!("invalid tmpfs option {opt:?}"),
                    })
                }
            },
        };
        if !seen.contains(&key) {
            seen.push(key);
            out.insert(0, opt.clone());
        }
    }
    Ok(out)
}

fn user_mount(m: &MountSpec, dest: &str) -> Result<(Mount, Option<String>), SpecError> {
    match m.kind {
        MountKind::Tmpfs => {
            let mut opts: Vec<String> = ["noexec", "nosuid", "nodev", "rprivate"]
                .map(String::from)
                .into();
            opts.extend(m.options.iter().cloned());
            if m.read_only {
                opts.push("ro".to_string());
            }
            let opts = merge_tmpfs_options(dest, &opts)?;
            let refs: Vec<&str> = opts.iter().map(String::as_str).collect();
            Ok((mount(dest, "tmpfs", "tmpfs", &refs)?, None))
        }
        MountKind::Bind | MountKind::Volume => {
            if !Path::new(&m.source).is_absolute() {
                return Err(SpecError::InvalidMount {
                    destination: dest.to_string(),
                    reason: format!("source {:?} must be an absolute host path", m.source),
                });
            }
            let (opts, propagation) = bind_options(m);
            let refs: Vec<&str> = opts.iter().map(String::as_str).collect();
            Ok((mount(dest, "bind", m.source.as_str(), &refs)?, propagation))
        }
    }
}

/// Defaults (minus those a user mount replaces), the init binary, then the etc files and user
/// mounts ordered parents-first.
pub fn build_mounts(inputs: &MountInputs) -> Result<MountTable, SpecError> {
    // The user's mounts, cleaned and checked for duplicates.
    let mut user: Vec<(String, &MountSpec)> = Vec::new();
    for m in inputs.user {
        let dest = clean_destination(&m.destination)?;
        if user.iter().any(|(d, _)| *d == dest) {
            return Err(SpecError::InvalidMount {
                destination: dest,
                reason: "duplicate mount point".into(),
            });
        }
        user.push((dest, m));
    }
    let user_has = |dest: &str| user.iter().any(|(d, _)| d == dest);
    let user_dev = user_has("/dev");

    let mut mounts = Vec::new();
    for m in default_mounts(inputs.privileged, inputs.cgroup_v2, inputs.shm_size)? {
        let dest = m.destination().to_string_lossy().into_owned();
        if user_has(&dest) || (user_dev && dest.starts_with("/dev/")) {
            continue;
        }
        mounts.push(m);
    }
    if let Some(init) = inputs.init_path {
        mounts.push(mount(
            INIT_PATH_IN_CONTAINER,
            "bind",
            init,
            &["bind", "ro"],
        )?);
    }
    if inputs.read_only {
        for m in &mut mounts {
            let dest = m.destination().to_string_lossy().into_owned();
            let opts = m.options_mut().get_or_insert_with(Vec::new);
            if !KEEP_WRITABLE.contains(&dest.as_str()) && !opts.iter().any(|o| o == "ro") {
                opts.push("ro".to_string());
            }
        }
    }

    // Etc files (unless the user mounts over them) and user mounts, parents first.
    let mut later: Vec<(String, Mount)> = Vec::new();
    let etc = [
        ("/etc/resolv.conf", &inputs.etc_files.resolv_conf),
        ("/etc/hostname", &inputs.etc_files.hostname),
        ("/etc/hosts", &inputs.etc_files.hosts),
    ];
    for (dest, source) in etc {
        if let Some(source) = source.as_ref().filter(|_| !user_has(dest)) {
            let opts: &[&str] = if inputs.read_only {
                &["rbind", "ro", "rprivate"]
            } else {
                &["rbind", "rprivate"]
            };
            later.push((
                dest.to_string(),
                mount(dest, "bind", source.as_path(), opts)?,
            ));
        }
    }
    let mut rootfs_propagation: Option<String> = None;
    for (dest, m) in &user {
        let (mnt, propagation) = user_mount(m, dest)?;
        match propagation.as_deref() {
            Some("shared" | "rshared") => rootfs_propagation = Some("shared".to_string()),
            Some("slave" | "rslave") if rootfs_propagation.is_none() => {
                rootfs_propagation = Some("rslave".to_string())
            }
            _ => {}
        }
        later.push((dest.clone(), mnt));
    }
    later.sort_by_key(|(dest, _)| depth(dest));
    mounts.extend(later.into_iter().map(|(_, m)| m));
    Ok(MountTable {
        mounts,
        rootfs_propagation,
    })
}

#[cfg(test)]
#[path = "mounts_tests.rs"]
mod tests;
