//! Preparing a container's bundle for a run: the overlay rootfs, the /etc files docker
//! provides, and the OCI `config.json`.

use std::path::Path;

use berth_image::rootpath::mkdir_in_root;
use berth_runtime::spec::{build_spec, EtcFiles, HostInfo, Spec, SpecInputs};
use berth_store::ContainerRecord;

use super::ContainerConfig;
use crate::{Engine, EngineError};

/// Reads the host's hard rlimits, so that the spec never asks for more.
fn host_info() -> HostInfo {
    use nix::sys::resource::{getrlimit, Resource};
    let mut info = HostInfo::default();
    for (name, res) in [
        ("RLIMIT_NOFILE", Resource::RLIMIT_NOFILE),
        ("RLIMIT_NPROC", Resource::RLIMIT_NPROC),
        ("RLIMIT_CORE", Resource::RLIMIT_CORE),
        ("RLIMIT_STACK", Resource::RLIMIT_STACK),
        ("RLIMIT_MEMLOCK", Resource::RLIMIT_MEMLOCK),
        ("RLIMIT_AS", Resource::RLIMIT_AS),
        ("RLIMIT_FSIZE", Resource::RLIMIT_FSIZE),
        ("RLIMIT_CPU", Resource::RLIMIT_CPU),
        ("RLIMIT_DATA", Resource::RLIMIT_DATA),
        ("RLIMIT_MSGQUEUE", Resource::RLIMIT_MSGQUEUE),
        ("RLIMIT_NICE", Resource::RLIMIT_NICE),
        ("RLIMIT_RTPRIO", Resource::RLIMIT_RTPRIO),
        ("RLIMIT_SIGPENDING", Resource::RLIMIT_SIGPENDING),
    ] {
        if let Ok((_, hard)) = getrlimit(res) {
            info.rlimit_hard.insert(name.to_string(), hard);
        }
    }
    info.cgroup_v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    info.cap_bounding = bounding_caps();
    info
}

/// The capabilities this process may pass on (`CapBnd` of /proc/self/status), by name.
fn bounding_caps() -> Option<Vec<String>> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))?
        .trim();
    let mask = u64::from_str_radix(hex, 16).ok()?;
    Some(
        berth_runtime::spec::ALL_CAPS
            .iter()
            .enumerate()
            .filter(|(bit, _)| mask & (1u64 << bit) != 0)
            .map(|(_, name)| name.to_string())
            .collect(),
    )
}

/// The files the runtime binds over in every container (from the container's directory).
pub(crate) const MOUNT_POINT_FILES: [&str; 3] = ["etc/hostname", "etc/hosts", "etc/resolv.conf"];

/// A run, ready for the runtime.
pub(crate) struct Bundle {
    pub attachments: Vec<super::NetSummary>,
    /// The spec written to `config.json`.
    pub spec: Spec,
    /// The network namespace the spec names by one of this process's file descriptors, if it
    /// does: keep it until the runtime has created the container.
    pub netns: Option<berth_net::Netns>,
}

impl Engine {
    /// Connects the network, mounts the rootfs, writes the /etc files and `config.json` for
    /// the next run. Returns the network attachments and the spec written (for the runtime,
    /// which need not read it back).
    pub(crate) fn prepare_bundle(
        &self,
        rec: &ContainerRecord,
        config: &ContainerConfig,
    ) -> Result<Bundle, EngineError> {
        let image_id: berth_image::Digest = rec
            .image_id
            .parse()
            .map_err(|e| EngineError::bad_input(format!("container {}", &rec.id[..12]), e))?;
        let image = self
            .store
            .meta
            .read(|tx| tx.image(&image_id))?
            .ok_or_else(|| EngineError::ImageNotFound(rec.image_name.clone()))?;
        let image_config = self.image_runtime_config(&image_id)?;

        // The network's helper threads (one makes the namespace, others work inside it) start
        // on this CPU while we wait for them (see `berth_runtime::cpu`): on another, halted
        // vCPU each began ~1 ms late.
        let pinned = berth_runtime::cpu::pin_here();
        let net = self.network_up(rec, config);
        drop(pinned);
        let net = net?;
        self.mark(&rec.id, "mon.network");
        match self.prepare_rootfs_and_spec(rec, config, &image, &image_config, &net) {
            Ok(spec) => Ok(Bundle {
                attachments: net.attachments,
                spec,
                netns: net.held,
            }),
            Err(e) => {
                self.network_down(&rec.id, config);
                Err(e)
            }
        }
    }

    fn prepare_rootfs_and_spec(
        &self,
        rec: &ContainerRecord,
        config: &ContainerConfig,
        image: &berth_store::ImageRecord,
        image_config: &berth_runtime::spec::ImageConfig,
        net: &super::network::NetSetup,
    ) -> Result<Spec, EngineError> {
        let paths = self.container_paths(&rec.id);
        self.unmount_rootfs(&paths.rootfs);
        std::fs::create_dir_all(&paths.rootfs)
            .map_err(|e| EngineError::io(format!("create {}", paths.rootfs.display()), e))?;
        self.store.layers.mount_overlay(
            &image.layers,
            Some(berth_store::layers::Upper {
                dir: &paths.upper,
                work: &paths.work,
                volatile: config.auto_remove,
                init: self.init_layer(image, true),
            }),
            &paths.rootfs,
        )?;

        // Docker creates a missing working directory; symlinks in its path resolve inside
        // the container's root, never out of it.
        if let Some(dir) = config
            .spec
            .workdir
            .as_deref()
            .or(image_config.working_dir.as_deref())
            .filter(|d| d.starts_with('/') && *d != "/")
        {
            mkdir_in_root(&paths.rootfs, dir).map_err(|e| {
                EngineError::InvalidArgument(format!("working directory {dir}: {e}"))
            })?;
        }

        let pod_ns = self.pod_namespaces(config)?;
        let hostname = pod_ns
            .hostname
            .clone()
            .or_else(|| config.spec.hostname.clone())
            .unwrap_or_else(|| rec.id[..12].to_string());
        let etc = EtcFiles {
            hostname: Some(paths.dir.join("hostname")),
            hosts: Some(paths.dir.join("hosts")),
            resolv_conf: Some(paths.dir.join("resolv.conf")),
        };
        let hosts = net.hosts.clone().unwrap_or_else(|| {
            super::network::with_extra_hosts(
                format!(
                    "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n127.0.1.1\t{hostname}\n"
                ),
                &config.spec.extra_hosts,
                None,
            )
        });
        for (path, content) in [
            (paths.dir.join("hostname"), format!("{hostname}\n")),
            (paths.dir.join("hosts"), hosts),
            (
                paths.dir.join("resolv.conf"),
                super::network::resolv_conf(&config.dns),
            ),
        ] {
            std::fs::write(&path, content)
                .map_err(|e| EngineError::io(format!("write {}", path.display()), e))?;
        }

        let init = if config.spec.init {
            Some(find_init()?)
        } else {
            None
        };
        let (passwd, group) = super::files::passwd_and_group(&paths.rootfs)?;
        let host = host_info();
        let cgroups_path = format!("/berth/{}", rec.id);
        let spec = build_spec(&SpecInputs {
            container: &config.spec,
            image: image_config,
            rootfs: &paths.rootfs,
            passwd: passwd.as_deref(),
            group: group.as_deref(),
            host: &host,
            cgroups_path: &cgroups_path,
            etc_files: &etc,
            netns: net.netns.as_deref(),
            ipc_ns: pod_ns.ipc.as_deref(),
            uts_ns: pod_ns.uts.as_deref(),
            init_path: init.as_deref(),
        })
        .map_err(|e| EngineError::InvalidArgument(e.to_string()))?;
        let json =
            serde_json::to_vec(&spec).map_err(|e| EngineError::bad_input("runtime spec", e))?;
        let target = paths.dir.join("config.json");
        std::fs::write(&target, json)
            .map_err(|e| EngineError::io(format!("write {}", target.display()), e))?;
        Ok(spec)
    }

    /// Whether `image` has an init layer (making it first when `make`): empty files, shared
    /// by the image's containers, for the mount points the runtime binds over and the image
    /// lacks — /etc/hosts, /etc/hostname, /etc/resolv.conf. Without one the runtime makes them
    /// in each container's writable layer on every start (overlayfs copies /etc up, then
    /// creates three files). Docker keeps a layer of its own per container for them.
    ///
    /// A path is added only where no layer of the image has anything at it (a symlink, a
    /// whiteout): there the runtime's own resolution decides, as before. An image whose /etc
    /// is not a directory gets no init layer.
    pub(crate) fn init_layer(&self, image: &berth_store::ImageRecord, make: bool) -> bool {
        let Some(top) = image.layers.last() else {
            return false;
        };
        if self.store.layers.init_path(top).is_dir() {
            return true;
        }
        if !make {
            return false;
        }
        // Top layer first.
        let layers: Vec<std::path::PathBuf> = image
            .layers
            .iter()
            .rev()
            .map(|l| self.store.layers.diff_path(l))
            .collect();
        let etc = layers
            .iter()
            .find_map(|l| super::files::lstat_beneath(l, "etc"));
        let etc_is_dir = etc.is_none_or(|st| {
            rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Directory
        });
        if !etc_is_dir {
            return false;
        }
        let missing: Vec<&str> = MOUNT_POINT_FILES
            .into_iter()
            .filter(|p| {
                !layers
                    .iter()
                    .any(|l| super::files::lstat_beneath(l, p).is_some())
            })
            .collect();
        let made = self.store.layers.make_init(top, |dir| {
            std::fs::create_dir(dir.join("etc"))?;
            std::fs::set_permissions(
                dir.join("etc"),
                std::os::unix::fs::PermissionsExt::from_mode(0o755),
            )?;
            for p in &missing {
                std::fs::File::create(dir.join(p))?;
            }
            Ok(())
        });
        match made {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(error = %e, "cannot make the image's init layer; the runtime makes its mount points");
                false
            }
        }
    }

    /// Unmounts a container's rootfs if it is mounted.
    pub(crate) fn unmount_rootfs(&self, rootfs: &Path) {
        while is_mountpoint(rootfs) {
            if berth_store::layers::unmount(rootfs).is_err() {
                break;
            }
        }
    }

    /// Whether the kernel OOM-killed something in the container's memory cgroup.
    pub(crate) fn oom_killed(&self, id: &str) -> bool {
        let v1 = format!("/sys/fs/cgroup/memory/berth/{id}/memory.oom_control");
        let v2 = format!("/sys/fs/cgroup/berth/{id}/memory.events");
        for path in [v1, v2] {
            if let Ok(text) = std::fs::read_to_string(path) {
                return text.lines().any(|l| {
                    let mut parts = l.split_whitespace();
                    parts.next() == Some("oom_kill")
                        && parts
                            .next()
                            .and_then(|n| n.parse::<u64>().ok())
                            .unwrap_or(0)
                            > 0
                });
            }
        }
        false
    }

    /// Thaws a paused container (so that it can receive signals).
    pub(crate) fn unfreeze(&self, rec: &ContainerRecord) {
        let state = format!("/sys/fs/cgroup/freezer/berth/{}/freezer.state", rec.id);
        let _ = std::fs::write(state, "THAWED");
    }
}

/// A static init for `--init` (tini, as docker's docker-init is): `BERTH_INIT`, or the one
/// Debian's `tini` package installs.
fn find_init() -> Result<std::path::PathBuf, EngineError> {
    let candidates = std::env::var_os("BERTH_INIT")
        .map(std::path::PathBuf::from)
        .into_iter()
        .chain(
            [
                "/usr/bin/tini-static",
                "/usr/bin/docker-init",
                "/usr/libexec/docker/docker-init",
            ]
            .map(std::path::PathBuf::from),
        );
    for c in candidates {
        if c.is_file() {
            return Ok(c);
        }
    }
    Err(EngineError::InvalidArgument(
        "--init needs a static init binary: install Debian's tini package (/usr/bin/tini-static) or set BERTH_INIT".into(),
    ))
}

/// Whether `path` is a mount point (the root of a mount in our namespace).
pub(crate) fn is_mountpoint(path: &Path) -> bool {
    // One statx (Linux ≥ 5.8 says whether a path is the root of a mount) instead of reading
    // and scanning the whole mount table, which start and teardown did several times each.
    use rustix::fs::{statx, AtFlags, StatxFlags, CWD};
    const STATX_ATTR_MOUNT_ROOT: u64 = 0x2000; // linux/stat.h
    match statx(
        CWD,
        path,
        AtFlags::SYMLINK_NOFOLLOW,
        StatxFlags::BASIC_STATS,
    ) {
        Ok(st) if st.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT != 0 => {
            return st.stx_attributes & STATX_ATTR_MOUNT_ROOT != 0;
        }
        Ok(_) => {} // an older kernel: look in the mount table
        Err(_) => return false,
    }
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = path.to_string_lossy();
    info.lines()
        .any(|l| l.split(' ').nth(4) == Some(want.as_ref()))
}
