//! cgroup resources (memory, cpu, pids, the device allow list) and rlimits, with Docker's
//! validation (moby `daemon/daemon_unix.go` `verifyPlatformContainerResources`,
//! `oci/defaults.go`) and the clamping this host needs.

use std::collections::BTreeMap;

use libcontainer::oci_spec::runtime::{
    LinuxCpuBuilder, LinuxDevice, LinuxDeviceBuilder, LinuxDeviceCgroup, LinuxDeviceCgroupBuilder,
    LinuxDeviceType, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResources, LinuxResourcesBuilder,
    PosixRlimit, PosixRlimitBuilder, PosixRlimitType,
};

use super::{ContainerSpec, SpecError, Ulimit};

/// Docker's minimum `--memory` (6 MiB).
pub const MIN_MEMORY: i64 = 6 * 1024 * 1024;
/// The CFS period Docker uses for `--cpus`.
pub const CPU_PERIOD: u64 = 100_000;

fn invalid(what: &'static str, reason: impl Into<String>) -> SpecError {
    SpecError::InvalidResource {
        what,
        reason: reason.into(),
    }
}

/// (memory limit, memory+swap limit). Docker: swap defaults to twice the memory; -1 is
/// unlimited swap; swap without memory is an error.
pub fn memory_limits(
    memory: Option<i64>,
    swap: Option<i64>,
) -> Result<(Option<i64>, Option<i64>), SpecError> {
    let memory = memory.filter(|m| *m != 0);
    let swap = swap.filter(|s| *s != 0);
    match (memory, swap) {
        (None, None) => Ok((None, None)),
        (None, Some(_)) => Err(invalid("memory-swap", "--memory-swap requires --memory")),
        (Some(m), _) if m < MIN_MEMORY => Err(invalid(
            "memory",
            format!("{m} bytes is below the minimum of 6MB"),
        )),
        (Some(m), None) => Ok((Some(m), Some(m.saturating_mul(2)))),
        (Some(m), Some(-1)) => Ok((Some(m), Some(-1))),
        (Some(m), Some(s)) if s < m => Err(invalid(
            "memory-swap",
            format!("{s} must be at least the memory limit {m}"),
        )),
        (Some(m), Some(s)) => Ok((Some(m), Some(s))),
    }
}

/// `--cpus` → CFS quota for a 100ms period.
pub fn cpu_quota(cpus: f64) -> Result<i64, SpecError> {
    if !cpus.is_finite() || cpus < 0.01 {
        return Err(invalid("cpus", format!("{cpus}: must be at least 0.01")));
    }
    // Through nanocpus, as Docker does, so 1.5 is exactly 150000.
    let nano = (cpus * 1e9).round();
    if nano > i64::MAX as f64 / CPU_PERIOD as f64 {
        return Err(invalid("cpus", format!("{cpus}: too large")));
    }
    Ok((nano as i64).saturating_mul(CPU_PERIOD as i64) / 1_000_000_000)
}

/// Docker's device cgroup rules: deny everything, then the usual character devices, mknod of
/// anything, the pty devices, tun, and never fuse. Privileged: allow everything.
pub fn device_rules(privileged: bool) -> Result<Vec<LinuxDeviceCgroup>, SpecError> {
    let rule = |allow: bool,
                typ: Option<LinuxDeviceType>,
                major: Option<i64>,
                minor: Option<i64>,
                access: &str| {
        let mut b = LinuxDeviceCgroupBuilder::default()
            .allow(allow)
            .access(access);
        if let Some(t) = typ {
            b = b.typ(t);
        }
        if let Some(m) = major {
            b = b.major(m);
        }
        if let Some(m) = minor {
            b = b.minor(m);
        }
        b.build()
    };
    let c = Some(LinuxDeviceType::C);
    if privileged {
        return Ok(vec![rule(true, None, None, None, "rwm")?]);
    }
    let mut rules = vec![
        rule(false, None, None, None, "rwm")?,
        rule(true, c, None, None, "m")?,
        rule(true, Some(LinuxDeviceType::B), None, None, "m")?,
    ];
    // null, zero, full, random, urandom, tty, console, ptmx, tun
    for (major, minor) in [
        (1, 3),
        (1, 5),
        (1, 7),
        (1, 8),
        (1, 9),
        (5, 0),
        (5, 1),
        (5, 2),
        (10, 200),
    ] {
        rules.push(rule(true, c, Some(major), Some(minor), "rwm")?);
    }
    rules.push(rule(true, c, Some(136), None, "rwm")?); // /dev/pts/*
    rules.push(rule(false, c, Some(10), Some(229), "rwm")?); // /dev/fuse
    Ok(rules)
}

/// The `--device`s of `c` as the runtime wants them: the nodes to create in the container and
/// the cgroup rules that let it use them (read from the host's device nodes now).
pub fn host_devices(
    c: &ContainerSpec,
) -> Result<(Vec<LinuxDevice>, Vec<LinuxDeviceCgroup>), SpecError> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let mut nodes = Vec::new();
    let mut rules = Vec::new();
    for d in &c.devices {
        let err = |reason: String| SpecError::Device {
            path: d.host.clone(),
            reason,
        };
        let meta = std::fs::metadata(&d.host).map_err(|e| {
            err(match e.kind() {
                std::io::ErrorKind::NotFound => "no such file or directory".into(),
                _ => e.to_string(),
            })
        })?;
        let typ = match meta.file_type() {
            t if t.is_char_device() => LinuxDeviceType::C,
            t if t.is_block_device() => LinuxDeviceType::B,
            _ => return Err(err("not a device node".into())),
        };
        let (major, minor) = (
            i64::from(libc::major(meta.rdev())),
            i64::from(libc::minor(meta.rdev())),
        );
        nodes.push(
            LinuxDeviceBuilder::default()
                .path(std::path::PathBuf::from(&d.container))
                .typ(typ)
                .major(major)
                .minor(minor)
                .file_mode(meta.mode() & 0o777)
                .uid(meta.uid())
                .gid(meta.gid())
                .build()?,
        );
        rules.push(
            LinuxDeviceCgroupBuilder::default()
                .allow(true)
                .typ(typ)
                .major(major)
                .minor(minor)
                .access(d.permissions.clone())
                .build()?,
        );
    }
    Ok((nodes, rules))
}

/// `linux.resources`: devices, memory, cpu, pids.
pub fn linux_resources(c: &ContainerSpec) -> Result<LinuxResources, SpecError> {
    let mut b = LinuxResourcesBuilder::default().devices(device_rules(c.privileged)?);
    let (limit, swap) = memory_limits(c.memory, c.memory_swap)?;
    if let Some(limit) = limit {
        let mut m = LinuxMemoryBuilder::default().limit(limit);
        if let Some(swap) = swap {
            m = m.swap(swap);
        }
        b = b.memory(m.build()?);
    }
    let shares = c.cpu_shares.filter(|s| *s > 0);
    if c.cpus.is_some() || shares.is_some() {
        let mut cpu = LinuxCpuBuilder::default();
        if let Some(cpus) = c.cpus {
            cpu = cpu.period(CPU_PERIOD).quota(cpu_quota(cpus)?);
        }
        if let Some(s) = shares {
            cpu = cpu.shares(s);
        }
        b = b.cpu(cpu.build()?);
    }
    if let Some(pids) = c.pids_limit {
        // Docker: 0 or negative means unlimited.
        let limit = if pids > 0 { pids } else { -1 };
        b = b.pids(LinuxPidsBuilder::default().limit(limit).build()?);
    }
    Ok(b.build()?)
}

/// `nofile` / `NOFILE` / `RLIMIT_NOFILE` → the spec's rlimit type.
fn rlimit_type(name: &str) -> Result<PosixRlimitType, SpecError> {
    let upper = name.trim().to_ascii_uppercase();
    let full = if upper.starts_with("RLIMIT_") {
        upper
    } else {
        format!("RLIMIT_{upper}")
    };
    full.parse().map_err(|_| SpecError::InvalidUlimit {
        name: name.to_string(),
        reason: "unknown ulimit type".to_string(),
    })
}

/// `--ulimit`s → `process.rlimits`, each clamped to the host's hard limit (raising a hard
/// limit needs CAP_SYS_RESOURCE, which this host's bounding set lacks).
pub fn rlimits(
    ulimits: &[Ulimit],
    host_hard: &BTreeMap<String, u64>,
) -> Result<Vec<PosixRlimit>, SpecError> {
    let mut out: Vec<PosixRlimit> = Vec::new();
    for u in ulimits {
        let typ = rlimit_type(&u.name)?;
        if u.soft > u.hard {
            return Err(SpecError::InvalidUlimit {
                name: u.name.clone(),
                reason: format!(
                    "soft limit {} is greater than hard limit {}",
                    u.soft, u.hard
                ),
            });
        }
        let host = host_hard.get(&typ.to_string()).copied().unwrap_or(u64::MAX);
        let hard = u.hard.min(host);
        let soft = u.soft.min(hard);
        if hard != u.hard {
            tracing::warn!(ulimit = %u.name, requested = u.hard, host, "ulimit clamped to the host's hard limit");
        }
        let rl = PosixRlimitBuilder::default()
            .typ(typ)
            .soft(soft)
            .hard(hard)
            .build()?;
        // A later --ulimit of the same type wins.
        out.retain(|r| r.typ() != typ);
        out.push(rl);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: i64 = 1024 * 1024;

    #[test]
    fn memory_table() {
        type Limits = Result<(Option<i64>, Option<i64>), ()>;
        let rows: Vec<(&str, Option<i64>, Option<i64>, Limits)> = vec![
            ("none", None, None, Ok((None, None))),
            (
                "memory only doubles swap",
                Some(512 * MB),
                None,
                Ok((Some(512 * MB), Some(1024 * MB))),
            ),
            (
                "explicit swap",
                Some(512 * MB),
                Some(768 * MB),
                Ok((Some(512 * MB), Some(768 * MB))),
            ),
            (
                "swap equal to memory",
                Some(512 * MB),
                Some(512 * MB),
                Ok((Some(512 * MB), Some(512 * MB))),
            ),
            (
                "unlimited swap",
                Some(512 * MB),
                Some(-1),
                Ok((Some(512 * MB), Some(-1))),
            ),
            ("zero means unset", Some(0), Some(0), Ok((None, None))),
            ("below 6MB", Some(MB), None, Err(())),
            ("swap below memory", Some(512 * MB), Some(256 * MB), Err(())),
            ("swap without memory", None, Some(MB * 100), Err(())),
        ];
        for (name, memory, swap, want) in rows {
            assert_eq!(memory_limits(memory, swap).map_err(|_| ()), want, "{name}");
        }
    }

    #[test]
    fn cpu_table() {
        for (cpus, quota) in [
            (1.0, 100_000),
            (1.5, 150_000),
            (0.5, 50_000),
            (0.01, 1_000),
            (4.0, 400_000),
        ] {
            assert_eq!(cpu_quota(cpus), Ok(quota), "{cpus}");
        }
        for bad in [0.0, -1.0, 0.001, f64::NAN, f64::INFINITY] {
            assert!(cpu_quota(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn resources_from_flags() {
        let c = ContainerSpec {
            memory: Some(256 * MB),
            cpus: Some(1.5),
            pids_limit: Some(100),
            ..Default::default()
        };
        let r = linux_resources(&c).expect("resources");
        let mem = r.memory().as_ref().expect("memory");
        assert_eq!((mem.limit(), mem.swap()), (Some(256 * MB), Some(512 * MB)));
        let cpu = r.cpu().as_ref().expect("cpu");
        assert_eq!((cpu.quota(), cpu.period()), (Some(150_000), Some(100_000)));
        assert_eq!(r.pids().as_ref().map(|p| p.limit()), Some(100));

        let unlimited = ContainerSpec {
            pids_limit: Some(0),
            ..Default::default()
        };
        let r = linux_resources(&unlimited).expect("resources");
        assert_eq!(r.pids().as_ref().map(|p| p.limit()), Some(-1));
        assert!(r.memory().is_none() && r.cpu().is_none());

        let shares = ContainerSpec {
            cpu_shares: Some(512),
            ..Default::default()
        };
        let r = linux_resources(&shares).expect("resources");
        let cpu = r.cpu().as_ref().expect("cpu");
        assert_eq!((cpu.shares(), cpu.quota()), (Some(512), None));
    }

    #[test]
    fn device_rules_default_and_privileged() {
        let rules = device_rules(false).expect("rules");
        let first = &rules[0];
        assert!(
            !first.allow() && first.typ().is_none() && first.access().as_deref() == Some("rwm")
        );
        let allows = |major: i64, minor: Option<i64>| {
            rules
                .iter()
                .any(|r| r.allow() && r.major() == Some(major) && r.minor() == minor)
        };
        assert!(
            allows(1, Some(3)) && allows(1, Some(9)) && allows(5, Some(2)) && allows(136, None)
        );
        assert!(allows(10, Some(200)));
        let last = rules.last().expect("fuse rule");
        assert!(!last.allow() && last.major() == Some(10) && last.minor() == Some(229));

        let privileged = device_rules(true).expect("rules");
        assert_eq!(privileged.len(), 1);
        assert!(privileged[0].allow());
    }

    #[test]
    fn rlimits_clamp_to_host() {
        let host: BTreeMap<String, u64> = [
            ("RLIMIT_NOFILE".to_string(), 20_000),
            ("RLIMIT_NPROC".to_string(), 1000),
        ]
        .into();
        let ul = |name: &str, soft, hard| Ulimit {
            name: name.into(),
            soft,
            hard,
        };
        let got = rlimits(
            &[
                ul("nofile", 1024, 2048),
                ul("NPROC", 5000, 8000),
                ul("core", 0, u64::MAX),
                ul("nofile", 65536, 65536),
            ],
            &host,
        )
        .expect("rlimits");
        let find = |t: PosixRlimitType| {
            got.iter()
                .find(|r| r.typ() == t)
                .map(|r| (r.soft(), r.hard()))
        };
        assert_eq!(
            find(PosixRlimitType::RlimitNofile),
            Some((20_000, 20_000)),
            "clamped, later wins"
        );
        assert_eq!(find(PosixRlimitType::RlimitNproc), Some((1000, 1000)));
        assert_eq!(
            find(PosixRlimitType::RlimitCore),
            Some((0, u64::MAX)),
            "unknown host limit: as asked"
        );
        assert_eq!(got.len(), 3);

        assert!(rlimits(&[ul("nofiles", 1, 1)], &host).is_err());
        let err = rlimits(&[ul("nofile", 10, 5)], &host).expect_err("soft > hard");
        assert_eq!(
            err.to_string(),
            "invalid ulimit nofile: soft limit 10 is greater than hard limit 5"
        );
    }
}
