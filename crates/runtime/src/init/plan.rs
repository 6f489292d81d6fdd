//! The spec, turned before the clone into what the init's syscalls take: C strings, flag
//! words, bit masks. After the clone the child only reads this (no allocation, no parsing).

use std::ffi::CString;
use std::os::fd::OwnedFd;
use std::path::Path;

use libcontainer::oci_spec::runtime::{LinuxNamespaceType, Mount, PosixRlimitType, Spec};

use super::seccomp::Insn;
use super::InitError;
use crate::spec::{ALL_CAPS, DEFAULT_PATH};

/// One mount of the spec, resolved.
#[derive(Debug)]
pub struct MountOp {
    /// The destination's components below the root ("dev", "pts").
    pub components: Vec<CString>,
    /// The destination's paths below the root, one per component ("dev", "dev/pts").
    pub prefixes: Vec<CString>,
    /// The destination as the spec names it, for error messages.
    pub destination: String,
    pub source: Option<CString>,
    pub fstype: Option<CString>,
    /// `mount(2)` flags for the first call (for a bind: `MS_BIND` [| `MS_REC`]).
    pub flags: libc::c_ulong,
    pub data: Option<CString>,
    /// A bind mount of a file: the mount point is a file.
    pub is_file: bool,
    /// For a bind with ro/nosuid/…: the flags of the `MS_REMOUNT | MS_BIND` that applies them.
    pub remount: Option<libc::c_ulong>,
    /// `MS_PRIVATE`, `MS_SLAVE`… (with `MS_REC`), applied last; 0 for none.
    pub propagation: libc::c_ulong,
}

/// The capability sets, as bit masks.
#[derive(Debug, Default, Clone, Copy)]
pub struct Caps {
    pub bounding: u64,
    pub effective: u64,
    pub permitted: u64,
}

/// A device node to create in the container, with the directories above it.
#[derive(Debug)]
pub struct DeviceNode {
    pub path: CString,
    /// `S_IFCHR`/`S_IFBLK` with the permission bits.
    pub mode: libc::mode_t,
    pub rdev: libc::dev_t,
    pub uid: libc::uid_t,
    pub gid: libc::gid_t,
    /// Directories to make first, outermost first (`/dev/net` for `/dev/net/tun`).
    pub parents: Vec<CString>,
}

/// Everything the init does, decided in the parent.
#[derive(Debug, Default)]
pub struct Plan {
    /// `CLONE_NEW*` for the clone itself.
    pub clone_flags: libc::c_int,
    /// A new cgroup namespace, made after joining the cgroups (so that they are its root).
    pub unshare_cgroupns: bool,
    /// Namespaces joined by path: the open namespace file and its `CLONE_NEW*` type.
    pub join: Vec<(OwnedFd, libc::c_int)>,
    /// `/proc/sys/...` path and value, written after joining the network namespace.
    pub sysctls: Vec<(CString, CString)>,
    pub hostname: Option<CString>,
    pub domainname: Option<CString>,
    /// Propagation of `/` in the new mount namespace (`MS_SLAVE | MS_REC` unless the spec
    /// says otherwise), and whether to make it shared once everything is mounted.
    pub root_propagation: libc::c_ulong,
    pub rootfs: CString,
    pub mounts: Vec<MountOp>,
    /// Create the standard device nodes in the container's `/dev` (a tmpfs we mounted).
    pub make_devices: bool,
    /// `--device` nodes (`linux.devices`), created after the standard ones.
    pub devices: Vec<DeviceNode>,
    pub terminal: bool,
    /// The terminal's first size (rows, columns), set before the process starts.
    pub console_size: Option<(u16, u16)>,
    pub masked: Vec<CString>,
    pub readonly: Vec<CString>,
    pub root_readonly: bool,
    pub oom_score_adj: Option<CString>,
    pub rlimits: Vec<(libc::__rlimit_resource_t, libc::rlimit)>,
    /// Where the executable may be: the first candidate that is a regular file wins.
    pub exec_candidates: Vec<CString>,
    pub args0: String,
    pub argv: Vec<CString>,
    pub env: Vec<CString>,
    pub cwd: CString,
    pub uid: libc::uid_t,
    pub gid: libc::gid_t,
    pub groups: Vec<libc::gid_t>,
    pub caps: Caps,
    /// The highest capability this kernel knows (`/proc/sys/kernel/cap_last_cap`).
    pub last_cap: u32,
    pub no_new_privs: bool,
    pub seccomp: Option<Vec<Insn>>,
}

fn cstr(s: impl Into<Vec<u8>>, what: &str) -> Result<CString, InitError> {
    CString::new(s).map_err(|_| InitError::Spec(format!("{what} contains a NUL byte")))
}

fn ns_flag(t: LinuxNamespaceType) -> Result<libc::c_int, InitError> {
    Ok(match t {
        LinuxNamespaceType::Mount => libc::CLONE_NEWNS,
        LinuxNamespaceType::Uts => libc::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => libc::CLONE_NEWIPC,
        LinuxNamespaceType::Pid => libc::CLONE_NEWPID,
        LinuxNamespaceType::Network => libc::CLONE_NEWNET,
        LinuxNamespaceType::Cgroup => libc::CLONE_NEWCGROUP,
        other => {
            return Err(InitError::Spec(format!(
                "namespace {other:?} is not supported by berth's init"
            )))
        }
    })
}

/// Namespaces: new ones go into the clone flags, paths are opened now (joined in the child).
fn namespaces(spec: &Spec, plan: &mut Plan) -> Result<(), InitError> {
    let list = spec.linux().as_ref().and_then(|l| l.namespaces().clone());
    for ns in list.unwrap_or_default() {
        let flag = ns_flag(ns.typ())?;
        match ns.path() {
            Some(path) => {
                let f = std::fs::File::open(path).map_err(|e| InitError::Io {
                    what: format!("namespace {}", path.display()),
                    source: e,
                })?;
                plan.join.push((f.into(), flag));
            }
            None if flag == libc::CLONE_NEWCGROUP => plan.unshare_cgroupns = true,
            None => plan.clone_flags |= flag,
        }
    }
    if plan.clone_flags & libc::CLONE_NEWNS == 0 {
        return Err(InitError::Spec(
            "berth's init needs a mount namespace".into(),
        ));
    }
    Ok(())
}

/// What `mount(8)` would make of one option: a flag to set, one to clear, propagation, or
/// file-system data.
enum Opt {
    Set(libc::c_ulong),
    Clear(libc::c_ulong),
    Propagation(libc::c_ulong),
    Data,
}

fn option(o: &str) -> Opt {
    use libc::*;
    match o {
        "ro" => Opt::Set(MS_RDONLY),
        "rw" => Opt::Clear(MS_RDONLY),
        "nosuid" => Opt::Set(MS_NOSUID),
        "suid" => Opt::Clear(MS_NOSUID),
        "nodev" => Opt::Set(MS_NODEV),
        "dev" => Opt::Clear(MS_NODEV),
        "noexec" => Opt::Set(MS_NOEXEC),
        "exec" => Opt::Clear(MS_NOEXEC),
        "sync" => Opt::Set(MS_SYNCHRONOUS),
        "async" => Opt::Clear(MS_SYNCHRONOUS),
        "dirsync" => Opt::Set(MS_DIRSYNC),
        "mand" => Opt::Set(MS_MANDLOCK),
        "nomand" => Opt::Clear(MS_MANDLOCK),
        "noatime" => Opt::Set(MS_NOATIME),
        "atime" => Opt::Clear(MS_NOATIME),
        "nodiratime" => Opt::Set(MS_NODIRATIME),
        "diratime" => Opt::Clear(MS_NODIRATIME),
        "relatime" => Opt::Set(MS_RELATIME),
        "norelatime" => Opt::Clear(MS_RELATIME),
        "strictatime" => Opt::Set(MS_STRICTATIME),
        "nostrictatime" => Opt::Clear(MS_STRICTATIME),
        "bind" => Opt::Set(MS_BIND),
        "rbind" => Opt::Set(MS_BIND | MS_REC),
        "private" => Opt::Propagation(MS_PRIVATE),
        "rprivate" => Opt::Propagation(MS_PRIVATE | MS_REC),
        "shared" => Opt::Propagation(MS_SHARED),
        "rshared" => Opt::Propagation(MS_SHARED | MS_REC),
        "slave" => Opt::Propagation(MS_SLAVE),
        "rslave" => Opt::Propagation(MS_SLAVE | MS_REC),
        "unbindable" => Opt::Propagation(MS_UNBINDABLE),
        "runbindable" => Opt::Propagation(MS_UNBINDABLE | MS_REC),
        _ => Opt::Data,
    }
}

/// (flags, propagation, data) of a mount's options.
pub fn parse_options(options: &[String]) -> (libc::c_ulong, libc::c_ulong, Vec<String>) {
    let (mut flags, mut prop, mut data) = (0, 0, Vec::new());
    for o in options {
        match option(o) {
            Opt::Set(f) => flags |= f,
            Opt::Clear(f) => flags &= !f,
            Opt::Propagation(p) => prop = p,
            Opt::Data => data.push(o.clone()),
        }
    }
    (flags, prop, data)
}

/// The flags a bind mount only gets from a remount.
const REMOUNT_FLAGS: libc::c_ulong = libc::MS_RDONLY
    | libc::MS_NOSUID
    | libc::MS_NODEV
    | libc::MS_NOEXEC
    | libc::MS_NOATIME
    | libc::MS_NODIRATIME
    | libc::MS_RELATIME
    | libc::MS_STRICTATIME;

/// One spec mount; `cgroup_v2` maps the spec's `cgroup` type to `cgroup2`.
pub fn mount_op(m: &Mount, cgroup_v2: bool) -> Result<MountOp, InitError> {
    let destination = m.destination().to_string_lossy().into_owned();
    let components = m
        .destination()
        .components()
        .filter_map(|c| match c {
            std::path::Component::Normal(p) => Some(p.as_encoded_bytes().to_vec()),
            _ => None,
        })
        .map(|c| cstr(c, "mount destination"))
        .collect::<Result<Vec<_>, _>>()?;
    if components.is_empty() {
        return Err(InitError::Spec(format!("mount on {destination:?}")));
    }
    let mut prefixes = Vec::with_capacity(components.len());
    let mut prefix: Vec<u8> = Vec::new();
    for c in &components {
        if !prefix.is_empty() {
            prefix.push(b'/');
        }
        prefix.extend_from_slice(c.to_bytes());
        prefixes.push(cstr(prefix.clone(), "mount destination")?);
    }
    let (flags, propagation, data) = parse_options(m.options().as_deref().unwrap_or_default());
    let typ = m.typ().as_deref().unwrap_or("");
    let bind = flags & libc::MS_BIND != 0 || typ == "bind";
    let source = m.source().as_ref();
    let is_file = bind && source.is_some_and(|s| !s.is_dir());
    let fstype = match typ {
        "cgroup" if cgroup_v2 => Some("cgroup2"),
        "bind" | "" => None,
        t => Some(t),
    };
    let (first, remount) = if bind {
        let first = libc::MS_BIND | (flags & libc::MS_REC);
        let extra = flags & REMOUNT_FLAGS;
        (
            first,
            (extra != 0).then_some(libc::MS_BIND | libc::MS_REMOUNT | extra),
        )
    } else {
        (flags & !libc::MS_BIND & !libc::MS_REC, None)
    };
    Ok(MountOp {
        components,
        prefixes,
        destination,
        source: source
            .map(|s| cstr(s.as_os_str().as_encoded_bytes(), "mount source"))
            .transpose()?,
        fstype: fstype.map(|t| cstr(t, "mount type")).transpose()?,
        flags: first,
        data: (!data.is_empty())
            .then(|| cstr(data.join(","), "mount options"))
            .transpose()?,
        is_file,
        remount,
        propagation,
    })
}

fn cap_mask(
    names: Option<&std::collections::HashSet<libcontainer::oci_spec::runtime::Capability>>,
) -> u64 {
    let mut mask = 0u64;
    for cap in names.into_iter().flatten() {
        let name = cap.to_string();
        let full = if name.starts_with("CAP_") {
            name
        } else {
            format!("CAP_{name}")
        };
        if let Some(bit) = ALL_CAPS.iter().position(|c| *c == full) {
            mask |= 1 << bit;
        }
    }
    mask
}

fn rlimit_resource(t: PosixRlimitType) -> libc::__rlimit_resource_t {
    use PosixRlimitType::*;
    match t {
        RlimitCpu => libc::RLIMIT_CPU,
        RlimitFsize => libc::RLIMIT_FSIZE,
        RlimitData => libc::RLIMIT_DATA,
        RlimitStack => libc::RLIMIT_STACK,
        RlimitCore => libc::RLIMIT_CORE,
        RlimitRss => libc::RLIMIT_RSS,
        RlimitNproc => libc::RLIMIT_NPROC,
        RlimitNofile => libc::RLIMIT_NOFILE,
        RlimitMemlock => libc::RLIMIT_MEMLOCK,
        RlimitAs => libc::RLIMIT_AS,
        RlimitLocks => libc::RLIMIT_LOCKS,
        RlimitSigpending => libc::RLIMIT_SIGPENDING,
        RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        RlimitNice => libc::RLIMIT_NICE,
        RlimitRtprio => libc::RLIMIT_RTPRIO,
        RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

/// Where to look for `args0`: itself when it names a path, else each `$PATH` entry.
pub fn exec_candidates(args0: &str, env: &[String], cwd: &Path) -> Vec<String> {
    if args0.contains('/') {
        return vec![cwd.join(args0).to_string_lossy().into_owned()];
    }
    let path = env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    path.split(':')
        .map(|d| if d.is_empty() { "." } else { d })
        .map(|d| cwd.join(d).join(args0).to_string_lossy().into_owned())
        .collect()
}

/// The process section: command, environment, user, capabilities, limits.
fn process(spec: &Spec, plan: &mut Plan) -> Result<(), InitError> {
    let p = spec
        .process()
        .as_ref()
        .ok_or_else(|| InitError::Spec("no process".into()))?;
    let args = p.args().clone().unwrap_or_default();
    let args0 = args
        .first()
        .cloned()
        .ok_or_else(|| InitError::Spec("no command".into()))?;
    let env = p.env().clone().unwrap_or_default();
    for c in exec_candidates(&args0, &env, p.cwd()) {
        plan.exec_candidates.push(cstr(c, "executable path")?);
    }
    plan.args0 = args0;
    plan.argv = args
        .iter()
        .map(|a| cstr(a.as_str(), "argument"))
        .collect::<Result<_, _>>()?;
    plan.env = env
        .iter()
        .map(|e| cstr(e.as_str(), "environment"))
        .collect::<Result<_, _>>()?;
    plan.cwd = cstr(p.cwd().as_os_str().as_encoded_bytes(), "working directory")?;
    plan.terminal = p.terminal().unwrap_or(false);
    plan.console_size = p
        .console_size()
        .as_ref()
        .map(|b| (clamp_u16(b.height()), clamp_u16(b.width())));
    let user = p.user();
    plan.uid = user.uid();
    plan.gid = user.gid();
    plan.groups = user.additional_gids().clone().unwrap_or_default();
    if let Some(c) = p.capabilities() {
        plan.caps = Caps {
            bounding: cap_mask(c.bounding().as_ref()),
            effective: cap_mask(c.effective().as_ref()),
            permitted: cap_mask(c.permitted().as_ref()),
        };
    }
    plan.no_new_privs = p.no_new_privileges().unwrap_or(false);
    plan.oom_score_adj = p
        .oom_score_adj()
        .map(|v| cstr(v.to_string(), "oom_score_adj"))
        .transpose()?;
    for r in p.rlimits().iter().flatten() {
        plan.rlimits.push((
            rlimit_resource(r.typ()),
            libc::rlimit {
                rlim_cur: r.soft(),
                rlim_max: r.hard(),
            },
        ));
    }
    Ok(())
}

fn device_node(d: &libcontainer::oci_spec::runtime::LinuxDevice) -> Result<DeviceNode, InitError> {
    use libcontainer::oci_spec::runtime::LinuxDeviceType as T;
    let kind = match d.typ() {
        T::C | T::U => libc::S_IFCHR,
        T::B => libc::S_IFBLK,
        other => {
            return Err(InitError::Spec(format!(
                "device {}: type {other:?} is not supported by berth's init",
                d.path().display()
            )))
        }
    };
    let number = |v: i64| {
        u32::try_from(v)
            .map_err(|_| InitError::Spec(format!("device {}: number {v}", d.path().display())))
    };
    let mut parents = Vec::new();
    let mut dir = d.path().parent();
    while let Some(p) = dir.filter(|p| *p != Path::new("/")) {
        parents.push(cstr(p.as_os_str().as_encoded_bytes(), "device path")?);
        dir = p.parent();
    }
    parents.reverse();
    Ok(DeviceNode {
        path: cstr(d.path().as_os_str().as_encoded_bytes(), "device path")?,
        mode: kind | d.file_mode().unwrap_or(0o666),
        rdev: libc::makedev(number(d.major())?, number(d.minor())?),
        uid: d.uid().unwrap_or(0),
        gid: d.gid().unwrap_or(0),
        parents,
    })
}

fn clamp_u16(v: u64) -> u16 {
    u16::try_from(v).unwrap_or(u16::MAX)
}

/// The name of a namespace type under `/proc/PID/ns/`.
fn ns_file(t: LinuxNamespaceType) -> Result<&'static str, InitError> {
    Ok(match t {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Cgroup => "cgroup",
        other => {
            return Err(InitError::Spec(format!(
                "namespace {other:?} is not supported by berth's init"
            )))
        }
    })
}

/// Builds the plan of an exec: `process` in the namespaces of the running container of
/// `spec` whose init is `init_pid` — every namespace the spec lists, joined through the
/// init's `/proc/PID/ns` files; the PID namespace separately (`pid_ns`), since it must be
/// entered before the clone (it applies to children only). Nothing is mounted.
pub fn build_exec(
    spec: &Spec,
    process: &libcontainer::oci_spec::runtime::Process,
    init_pid: i32,
    last_cap: u32,
    seccomp: Option<Vec<Insn>>,
) -> Result<(Plan, Option<OwnedFd>), InitError> {
    let mut plan = Plan {
        last_cap,
        seccomp,
        ..Plan::default()
    };
    let mut with_process = spec.clone();
    with_process.set_process(Some(process.clone()));
    self::process(&with_process, &mut plan)?;
    let mut pid_ns = None;
    let list = spec.linux().as_ref().and_then(|l| l.namespaces().clone());
    for ns in list.unwrap_or_default() {
        let path = format!("/proc/{init_pid}/ns/{}", ns_file(ns.typ())?);
        let f = std::fs::File::open(&path).map_err(|e| InitError::Io {
            what: format!("open the container's namespace {path}"),
            source: e,
        })?;
        match ns.typ() {
            LinuxNamespaceType::Pid => pid_ns = Some(f.into()),
            t => plan.join.push((f.into(), ns_flag(t)?)),
        }
    }
    // The cgroup namespace last: its view is rooted at the cgroups the child joined.
    plan.join
        .sort_by_key(|(_, flag)| *flag == libc::CLONE_NEWCGROUP);
    Ok((plan, pid_ns))
}

/// Builds the plan for `spec` (read from the bundle). `seccomp` is the compiled profile.
pub fn build(
    spec: &Spec,
    cgroup_v2: bool,
    last_cap: u32,
    seccomp: Option<Vec<Insn>>,
) -> Result<Plan, InitError> {
    let mut plan = Plan {
        last_cap,
        seccomp,
        ..Plan::default()
    };
    namespaces(spec, &mut plan)?;
    process(spec, &mut plan)?;
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| InitError::Spec("no root".into()))?;
    plan.rootfs = cstr(root.path().as_os_str().as_encoded_bytes(), "root path")?;
    plan.root_readonly = root.readonly().unwrap_or(false);
    plan.hostname = spec
        .hostname()
        .as_deref()
        .map(|h| cstr(h, "hostname"))
        .transpose()?;
    plan.domainname = spec
        .domainname()
        .as_deref()
        .map(|d| cstr(d, "domainname"))
        .transpose()?;
    for m in spec.mounts().iter().flatten() {
        let op = mount_op(m, cgroup_v2)?;
        if op.destination == "/dev" && op.fstype.as_deref() == Some(c"tmpfs") {
            plan.make_devices = true;
        }
        plan.mounts.push(op);
    }
    if let Some(linux) = spec.linux() {
        plan.root_propagation = match linux.rootfs_propagation().as_deref() {
            Some(p) => match option(p) {
                Opt::Propagation(f) => f | libc::MS_REC,
                _ => return Err(InitError::Spec(format!("rootfs propagation {p:?}"))),
            },
            None => libc::MS_SLAVE | libc::MS_REC,
        };
        for (key, value) in linux.sysctl().iter().flatten() {
            let path = format!("/proc/sys/{}", key.replace('.', "/"));
            plan.sysctls
                .push((cstr(path, "sysctl")?, cstr(value.as_str(), "sysctl")?));
        }
        let paths = |list: &Option<Vec<String>>| -> Result<Vec<CString>, InitError> {
            list.iter()
                .flatten()
                .map(|p| cstr(p.as_str(), "masked path"))
                .collect()
        };
        plan.masked = paths(linux.masked_paths())?;
        plan.readonly = paths(linux.readonly_paths())?;
        for d in linux.devices().iter().flatten() {
            plan.devices.push(device_node(d)?);
        }
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options_split_into_flags_propagation_and_data() {
        let (f, p, d) = parse_options(&opts(&["nosuid", "strictatime", "mode=755", "size=65536k"]));
        assert_eq!(f, libc::MS_NOSUID | libc::MS_STRICTATIME);
        assert_eq!(p, 0);
        assert_eq!(d, ["mode=755", "size=65536k"]);
        let (f, p, d) = parse_options(&opts(&["rbind", "ro", "rprivate"]));
        assert_eq!(f, libc::MS_BIND | libc::MS_REC | libc::MS_RDONLY);
        assert_eq!(p, libc::MS_PRIVATE | libc::MS_REC);
        assert!(d.is_empty());
        // A later option wins, as with mount(8).
        let (f, _, _) = parse_options(&opts(&["ro", "rw"]));
        assert_eq!(f & libc::MS_RDONLY, 0);
    }

    #[test]
    fn a_read_only_bind_is_applied_by_a_remount() {
        let m = libcontainer::oci_spec::runtime::MountBuilder::default()
            .destination("/data")
            .typ("bind")
            .source("/tmp")
            .options(opts(&["rbind", "ro", "rprivate"]))
            .build()
            .unwrap();
        let op = mount_op(&m, false).unwrap();
        assert_eq!(op.flags, libc::MS_BIND | libc::MS_REC);
        assert_eq!(
            op.remount,
            Some(libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY)
        );
        assert_eq!(op.propagation, libc::MS_PRIVATE | libc::MS_REC);
        assert!(!op.is_file);
        assert_eq!(op.components, [c"data".to_owned()]);
    }

    #[test]
    fn cgroup_mounts_are_cgroup2_on_a_unified_host() {
        let m = libcontainer::oci_spec::runtime::MountBuilder::default()
            .destination("/sys/fs/cgroup")
            .typ("cgroup")
            .source("cgroup")
            .options(opts(&["ro", "nosuid"]))
            .build()
            .unwrap();
        assert_eq!(
            mount_op(&m, true).unwrap().fstype.as_deref(),
            Some(c"cgroup2")
        );
        assert_eq!(
            mount_op(&m, false).unwrap().fstype.as_deref(),
            Some(c"cgroup")
        );
    }

    #[test]
    fn executables_are_looked_up_in_the_containers_path() {
        let env = opts(&["HOME=/", "PATH=/usr/bin:/bin"]);
        assert_eq!(
            exec_candidates("sh", &env, Path::new("/")),
            ["/usr/bin/sh", "/bin/sh"]
        );
        assert_eq!(
            exec_candidates("./run", &env, Path::new("/app")),
            ["/app/./run"]
        );
        assert_eq!(
            exec_candidates("/bin/true", &[], Path::new("/x")),
            ["/bin/true"]
        );
        assert_eq!(
            exec_candidates("ls", &[], Path::new("/"))
                .first()
                .map(String::as_str),
            Some("/usr/local/sbin/ls")
        );
    }
}
