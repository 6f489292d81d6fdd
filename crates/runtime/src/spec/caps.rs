//! Capabilities: Docker's default set, `--cap-add`/`--cap-drop` (moby
//! `oci/caps.TweakCapabilities`) and `--privileged`.

use libcontainer::oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities};
use serde::de::value::{Error as DeError, StrDeserializer};
use serde::Deserialize;

use super::SpecError;

/// Docker's default capability set.
pub const DEFAULT_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability the spec types know (Linux ≤ 6.x: 0..=40), in kernel order. What
/// `--privileged` and `--cap-add ALL` grant.
pub const ALL_CAPS: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

const ALL: &str = "ALL";

/// "net_admin", "NET_ADMIN", "CAP_NET_ADMIN" → "CAP_NET_ADMIN"; "all" → "ALL".
fn normalize(cap: &str) -> Result<String, SpecError> {
    let upper = cap.trim().to_ascii_uppercase();
    if upper == ALL {
        return Ok(upper);
    }
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    if ALL_CAPS.contains(&full.as_str()) {
        Ok(full)
    } else {
        Err(SpecError::UnknownCapability(cap.trim().to_string()))
    }
}

fn normalize_all(caps: &[String]) -> Result<Vec<String>, SpecError> {
    caps.iter().map(|c| normalize(c)).collect()
}

fn push_unique(out: &mut Vec<String>, cap: String) {
    if !out.contains(&cap) {
        out.push(cap);
    }
}

/// The capability names the container gets: Docker's defaults minus `drop` plus `add`;
/// `ALL` in `add` starts from every capability, `ALL` in `drop` from none; privileged gets
/// every capability.
///
/// `available` is the creating process's bounding set (`None`: every known capability). A
/// capability outside it cannot be granted (capset fails), so "every capability" and the
/// defaults are cut down to it, and naming one in `add` is an error.
pub fn resolve_caps(
    add: &[String],
    drop: &[String],
    privileged: bool,
    available: Option<&[String]>,
) -> Result<Vec<String>, SpecError> {
    let usable = |c: &str| available.is_none_or(|a| a.iter().any(|x| x == c));
    let all = || ALL_CAPS.iter().filter(|c| usable(c)).map(|c| c.to_string());
    if privileged {
        return Ok(all().collect());
    }
    let add = normalize_all(add)?;
    let drop = normalize_all(drop)?;
    if let Some(missing) = add.iter().find(|c| *c != ALL && !usable(c)) {
        return Err(SpecError::CapabilityUnavailable(missing.clone()));
    }
    let base: Vec<String> = if add.iter().any(|c| c == ALL) {
        all().collect()
    } else if drop.iter().any(|c| c == ALL) {
        Vec::new()
    } else {
        DEFAULT_CAPS
            .iter()
            .filter(|c| usable(c))
            .map(|c| c.to_string())
            .collect()
    };
    let mut out = Vec::new();
    for cap in base.into_iter().filter(|c| !drop.contains(c)) {
        push_unique(&mut out, cap);
    }
    // With ALL added, drops still win; otherwise adds come after drops, as Docker does.
    if !add.iter().any(|c| c == ALL) {
        for cap in add.into_iter().filter(|c| c != ALL) {
            push_unique(&mut out, cap);
        }
    }
    Ok(out)
}

fn to_capability(name: &str) -> Result<Capability, SpecError> {
    Capability::deserialize(StrDeserializer::<DeError>::new(name))
        .map_err(|_| SpecError::UnknownCapability(name.to_string()))
}

/// bounding = effective = permitted = `caps`; inheritable and ambient empty (libcontainer's
/// defaults would fill them, handing capabilities to non-root execs).
pub fn linux_capabilities(caps: &[String]) -> Result<LinuxCapabilities, SpecError> {
    let set: Capabilities = caps
        .iter()
        .map(|c| to_capability(c))
        .collect::<Result<_, _>>()?;
    let mut lc = LinuxCapabilities::default();
    lc.set_bounding(Some(set.clone()))
        .set_effective(Some(set.clone()))
        .set_permitted(Some(set))
        .set_inheritable(Some(Capabilities::new()))
        .set_ambient(Some(Capabilities::new()));
    Ok(lc)
}

/// Docker's default capabilities plus `extra`, as the spec's tests and the seccomp tests
/// build a capability set.
#[cfg(test)]
pub(crate) fn default_caps_with(extra: &[&str]) -> Vec<String> {
    DEFAULT_CAPS
        .iter()
        .chain(extra)
        .map(|c| c.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    fn defaults_without(drop: &[&str]) -> Vec<String> {
        DEFAULT_CAPS
            .iter()
            .filter(|c| !drop.contains(c))
            .map(|c| c.to_string())
            .collect()
    }

    #[test]
    fn caps_table() {
        let mut plus_admin = defaults_without(&[]);
        plus_admin.push("CAP_NET_ADMIN".into());
        let all_but_admin: Vec<String> = ALL_CAPS
            .iter()
            .filter(|c| **c != "CAP_SYS_ADMIN")
            .map(|c| c.to_string())
            .collect();
        type Row<'a> = (&'a str, Vec<String>, Vec<String>, bool, Vec<String>);
        let rows: Vec<Row> = vec![
            ("defaults", v(&[]), v(&[]), false, defaults_without(&[])),
            (
                "add short name",
                v(&["NET_ADMIN"]),
                v(&[]),
                false,
                plus_admin.clone(),
            ),
            (
                "add full name, any case",
                v(&["cap_net_admin"]),
                v(&[]),
                false,
                plus_admin,
            ),
            (
                "drop",
                v(&[]),
                v(&["NET_RAW", "CAP_MKNOD"]),
                false,
                defaults_without(&["CAP_NET_RAW", "CAP_MKNOD"]),
            ),
            (
                "add existing is no dup",
                v(&["CHOWN"]),
                v(&[]),
                false,
                defaults_without(&[]),
            ),
            ("drop ALL", v(&[]), v(&["ALL"]), false, v(&[])),
            (
                "drop ALL, add back",
                v(&["NET_BIND_SERVICE"]),
                v(&["all"]),
                false,
                v(&["CAP_NET_BIND_SERVICE"]),
            ),
            (
                "add ALL",
                v(&["ALL"]),
                v(&[]),
                false,
                ALL_CAPS.iter().map(|c| c.to_string()).collect(),
            ),
            (
                "add ALL, drop one",
                v(&["ALL"]),
                v(&["SYS_ADMIN"]),
                false,
                all_but_admin,
            ),
            (
                "privileged",
                v(&[]),
                v(&["ALL"]),
                true,
                ALL_CAPS.iter().map(|c| c.to_string()).collect(),
            ),
        ];
        for (name, add, drop, privileged, want) in rows {
            assert_eq!(
                resolve_caps(&add, &drop, privileged, None),
                Ok(want),
                "{name}"
            );
        }
    }

    #[test]
    fn unknown_capability() {
        let err = resolve_caps(&v(&["NET_ADMN"]), &[], false, None);
        assert_eq!(err, Err(SpecError::UnknownCapability("NET_ADMN".into())));
        assert_eq!(
            SpecError::UnknownCapability("NET_ADMN".into()).to_string(),
            "unknown capability: NET_ADMN"
        );
        assert!(resolve_caps(&[], &v(&["BOGUS"]), false, None).is_err());
    }

    #[test]
    fn bounded_by_the_host() {
        // This host: everything but CAP_SYS_RESOURCE.
        let host: Vec<String> = ALL_CAPS
            .iter()
            .filter(|c| **c != "CAP_SYS_RESOURCE")
            .map(|c| c.to_string())
            .collect();
        let privileged = resolve_caps(&[], &[], true, Some(&host)).expect("privileged");
        assert_eq!(privileged.len(), 40);
        assert!(!privileged.contains(&"CAP_SYS_RESOURCE".to_string()));
        let all = resolve_caps(&v(&["ALL"]), &[], false, Some(&host)).expect("add ALL");
        assert_eq!(all, privileged);
        assert_eq!(
            resolve_caps(&v(&["SYS_RESOURCE"]), &[], false, Some(&host)),
            Err(SpecError::CapabilityUnavailable("CAP_SYS_RESOURCE".into()))
        );
        let small = v(&["CAP_CHOWN", "CAP_KILL"]);
        assert_eq!(
            resolve_caps(&[], &[], false, Some(&small)),
            Ok(small.clone())
        );
    }

    #[test]
    fn every_known_cap_converts() {
        let lc = linux_capabilities(&ALL_CAPS.iter().map(|c| c.to_string()).collect::<Vec<_>>());
        let lc = lc.expect("all caps convert");
        assert_eq!(lc.bounding().as_ref().map(|s| s.len()), Some(41));
        assert_eq!(lc.inheritable().as_ref().map(|s| s.len()), Some(0));
        assert_eq!(lc.ambient().as_ref().map(|s| s.len()), Some(0));
    }
}
