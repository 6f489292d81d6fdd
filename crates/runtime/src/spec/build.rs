//! `build_spec`: assemble process, root, mounts and linux sections.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use libcontainer::oci_spec::runtime::{
    Linux, LinuxNamespace, LinuxNamespaceType, Process, Root, Spec, User,
};

use super::caps::{linux_capabilities, resolve_caps};
use super::mounts::{build_mounts, MountInputs, INIT_PATH_IN_CONTAINER};
use super::resources::{host_devices, linux_resources, rlimits};
use super::{default_seccomp, merge_env, resolve_command, resolve_user, SpecError, SpecInputs};

/// The runtime-spec version written to `ociVersion`.
pub const OCI_VERSION: &str = "1.2.0";

/// Docker's masked paths (moby `defaultLinuxMaskedPaths`, minus the per-cpu thermal_throttle
/// entries that need a look at the host).
const MASKED_PATHS: [&str; 12] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/sys/devices/virtual/powercap",
    "/sys/firmware",
];

const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Joining one of these means the host's network namespace, where net sysctls are refused.
const HOST_NETNS: [&str; 2] = ["/proc/1/ns/net", "/proc/self/ns/net"];

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// `--hostname`, else the first 12 characters of the id (Docker's short id).
pub fn container_hostname(id: &str, hostname: Option<&str>) -> String {
    match hostname.filter(|h| !h.is_empty()) {
        Some(h) => h.to_string(),
        None => id.chars().take(12).collect(),
    }
}

fn workdir(inputs: &SpecInputs) -> Result<PathBuf, SpecError> {
    let dir = [
        inputs.container.workdir.as_deref(),
        inputs.image.working_dir.as_deref(),
    ]
    .into_iter()
    .flatten()
    .find(|d| !d.is_empty())
    .unwrap_or("/");
    if !dir.starts_with('/') {
        return Err(SpecError::InvalidWorkdir(dir.to_string()));
    }
    Ok(PathBuf::from(dir))
}

fn namespaces(inputs: &SpecInputs) -> Vec<LinuxNamespace> {
    let (netns, cgroup_v2) = (inputs.netns, inputs.host.cgroup_v2);
    let ns = |typ, path: Option<&Path>| {
        let mut n = LinuxNamespace::default();
        n.set_typ(typ).set_path(path.map(Path::to_path_buf));
        n
    };
    let mut out = vec![
        ns(LinuxNamespaceType::Mount, None),
        ns(LinuxNamespaceType::Uts, inputs.uts_ns),
        ns(LinuxNamespaceType::Pid, None),
        ns(LinuxNamespaceType::Ipc, inputs.ipc_ns),
    ];
    // `--network host`: no network namespace entry, so the container keeps the runtime's
    // (the host's) rather than joining it through a /proc path libcontainer rejects.
    let host = netns.is_some_and(|p| HOST_NETNS.iter().any(|h| p == Path::new(h)));
    if !host {
        out.insert(1, ns(LinuxNamespaceType::Network, netns));
    }
    // Docker's default cgroupns mode: private on cgroup v2, host on v1 and hybrids.
    if cgroup_v2 {
        out.push(ns(LinuxNamespaceType::Cgroup, None));
    }
    out
}

/// Docker's sysctls for a container with its own network namespace: unprivileged ping and
/// binding ports below 1024 without CAP_NET_BIND_SERVICE.
fn sysctls(netns: Option<&Path>) -> HashMap<String, String> {
    let host = netns.is_some_and(|p| HOST_NETNS.iter().any(|h| p == Path::new(h)));
    if host {
        return HashMap::new();
    }
    HashMap::from([
        (
            "net.ipv4.ping_group_range".to_string(),
            "0 2147483647".to_string(),
        ),
        (
            "net.ipv4.ip_unprivileged_port_start".to_string(),
            "0".to_string(),
        ),
    ])
}

fn process(inputs: &SpecInputs, caps: &[String]) -> Result<Process, SpecError> {
    let c = inputs.container;
    let mut args = resolve_command(c, inputs.image)?;
    if c.init {
        inputs.init_path.ok_or(SpecError::InitUnavailable)?;
        args.splice(0..0, [INIT_PATH_IN_CONTAINER.to_string(), "--".to_string()]);
    }
    let user_spec = c.user.as_deref().or(inputs.image.user.as_deref());
    let mut user = resolve_user(user_spec, inputs.passwd, inputs.group)?;
    for g in &c.group_add {
        let gid = super::user::group_id(g, inputs.group)?;
        if !user.additional_gids.contains(&gid) {
            user.additional_gids.push(gid);
        }
    }
    let hostname = container_hostname(&c.id, c.hostname.as_deref());
    let image_env = inputs.image.env.as_deref().unwrap_or_default();
    let env = merge_env(image_env, &c.env, &user.home, &hostname, c.tty);
    let rlimits = rlimits(&c.ulimits, &inputs.host.rlimit_hard)?;

    let mut spec_user = User::default();
    spec_user
        .set_uid(user.uid)
        .set_gid(user.gid)
        .set_umask(None)
        .set_additional_gids(Some(user.additional_gids))
        .set_username(None);

    // Start from the default and set every field: its defaults (rlimits, capabilities,
    // noNewPrivileges) are youki's, not Docker's.
    let mut p = Process::default();
    let console_size = c
        .console_size
        .filter(|_| c.tty)
        .map(|(rows, cols)| {
            libcontainer::oci_spec::runtime::BoxBuilder::default()
                .height(rows)
                .width(cols)
                .build()
        })
        .transpose()
        .map_err(|e| SpecError::InvalidResource {
            what: "console size",
            reason: e.to_string(),
        })?;
    p.set_terminal(Some(c.tty))
        .set_console_size(console_size)
        .set_user(spec_user)
        .set_args(Some(args))
        .set_command_line(None)
        .set_env(Some(env))
        .set_cwd(workdir(inputs)?)
        .set_capabilities(Some(linux_capabilities(caps)?))
        .set_rlimits((!rlimits.is_empty()).then_some(rlimits))
        // Absent, not false, when unset: libcontainer treats any value as "set" and then
        // loads seccomp after dropping CAP_SYS_ADMIN, which fails.
        .set_no_new_privileges(c.no_new_privileges.then_some(true))
        .set_apparmor_profile(None)
        .set_oom_score_adj(Some(0))
        .set_selinux_label(None)
        .set_io_priority(None)
        .set_scheduler(None)
        .set_exec_cpu_affinity(None);
    Ok(p)
}

fn linux(
    inputs: &SpecInputs,
    caps: &[String],
    rootfs_propagation: Option<String>,
) -> Result<Linux, SpecError> {
    let c = inputs.container;
    let (masked, readonly) = if c.privileged {
        (Vec::new(), Vec::new())
    } else {
        (strings(&MASKED_PATHS), strings(&READONLY_PATHS))
    };
    let seccomp = (!c.privileged && !c.seccomp_unconfined).then(|| default_seccomp(caps));
    // The `--device` nodes, read from the host once: their cgroup rules go after Docker's
    // list, so that a `--device` wins over its denials (fuse).
    let (device_nodes, device_rules) = host_devices(c)?;
    let mut resources = linux_resources(c)?;
    let mut rules = resources.devices().clone().unwrap_or_default();
    rules.extend(device_rules);
    resources.set_devices(Some(rules));
    let mut l = Linux::default();
    l.set_net_devices(None)
        .set_uid_mappings(None)
        .set_gid_mappings(None)
        .set_sysctl(Some({
            let mut s = sysctls(inputs.netns);
            s.extend(inputs.container.sysctls.clone());
            s
        }))
        .set_resources(Some(resources))
        .set_cgroups_path(Some(PathBuf::from(inputs.cgroups_path)))
        .set_namespaces(Some(namespaces(inputs)))
        .set_devices(Some(device_nodes))
        .set_seccomp(seccomp)
        .set_rootfs_propagation(rootfs_propagation)
        .set_masked_paths(Some(masked))
        .set_readonly_paths(Some(readonly))
        .set_mount_label(None)
        .set_intel_rdt(None)
        .set_memory_policy(None)
        .set_personality(None)
        .set_time_offsets(None);
    Ok(l)
}

/// The OCI runtime spec for `inputs`, with Docker's defaults. See the module docs.
pub fn build_spec(inputs: &SpecInputs) -> Result<Spec, SpecError> {
    let c = inputs.container;
    let caps = resolve_caps(
        &c.cap_add,
        &c.cap_drop,
        c.privileged,
        inputs.host.cap_bounding.as_deref(),
    )?;
    let process = process(inputs, &caps)?;
    let table = build_mounts(&MountInputs {
        user: &c.mounts,
        shm_size: c.shm_size,
        etc_files: inputs.etc_files,
        init_path: inputs.init_path.filter(|_| c.init),
        read_only: c.read_only,
        privileged: c.privileged,
        cgroup_v2: inputs.host.cgroup_v2,
    })?;
    let linux = linux(inputs, &caps, table.rootfs_propagation)?;

    let mut root = Root::default();
    root.set_path(inputs.rootfs.to_path_buf())
        .set_readonly(Some(c.read_only));

    let mut spec = Spec::default();
    spec.set_version(OCI_VERSION.to_string())
        .set_root(Some(root))
        .set_mounts(Some(table.mounts))
        .set_process(Some(process))
        .set_hostname(
            inputs
                .uts_ns
                .is_none()
                .then(|| container_hostname(&c.id, c.hostname.as_deref())),
        )
        .set_domainname(
            c.domainname
                .clone()
                .filter(|d| !d.is_empty() && inputs.uts_ns.is_none()),
        )
        .set_hooks(None)
        .set_annotations(None)
        .set_linux(Some(linux));
    Ok(spec)
}

#[cfg(test)]
#[path = "build_tests.rs"]
mod tests;
