use super::*;
use crate::spec::seccomp_profile::CLONE_NAMESPACE_FLAGS;

use crate::spec::default_caps_with as caps;

/// Rules naming `name` (unconditional or not).
fn rules_for<'a>(s: &'a LinuxSeccomp, name: &str) -> Vec<&'a LinuxSyscall> {
    s.syscalls()
        .as_ref()
        .map(|v| {
            v.iter()
                .filter(|r| r.names().iter().any(|n| n == name))
                .collect()
        })
        .unwrap_or_default()
}

/// Allowed with no argument condition.
fn allowed(s: &LinuxSeccomp, name: &str) -> bool {
    rules_for(s, name)
        .iter()
        .any(|r| r.action() == LinuxSeccompAction::ScmpActAllow && r.args().is_none())
}

#[test]
fn defaults() {
    let s = default_seccomp(&caps(&[]));
    assert_eq!(s.default_action(), LinuxSeccompAction::ScmpActErrno);
    assert_eq!(s.default_errno_ret(), Some(1));
    if cfg!(target_arch = "x86_64") {
        assert_eq!(
            s.architectures().as_deref(),
            Some(&[Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32][..])
        );
        assert!(allowed(&s, "arch_prctl") && allowed(&s, "modify_ldt"));
        assert!(!allowed(&s, "set_tls"), "arm-only");
    }
    for name in [
        "read",
        "write",
        "execve",
        "openat",
        "futex",
        "exit_group",
        "ptrace",
        "chroot",
    ] {
        assert!(allowed(&s, name), "{name} allowed by default");
    }
    for name in [
        "kexec_load",
        "init_module",
        "finit_module",
        "mount",
        "umount2",
        "unshare",
        "setns",
        "bpf",
        "reboot",
        "open_by_handle_at",
        "kcmp",
        "pidfd_getfd",
        "perf_event_open",
        "add_key",
        "keyctl",
        "io_uring_setup",
        "userfaultfd",
        "acct",
        "swapon",
        "clock_settime",
    ] {
        assert!(rules_for(&s, name).is_empty(), "{name} denied by default");
    }
}

#[test]
fn chroot_follows_sys_chroot() {
    let without: Vec<String> = caps(&[])
        .into_iter()
        .filter(|c| c != "CAP_SYS_CHROOT")
        .collect();
    assert!(!allowed(&default_seccomp(&without), "chroot"));
}

#[test]
fn clone_rules_depend_on_sys_admin() {
    let s = default_seccomp(&caps(&[]));
    let clone = rules_for(&s, "clone");
    assert_eq!(clone.len(), 1, "only the masked rule");
    let args = clone[0].args().clone().unwrap_or_default();
    assert_eq!(args.len(), 1);
    assert_eq!(args[0].index(), 0);
    assert_eq!(args[0].op(), LinuxSeccompOperator::ScmpCmpMaskedEq);
    // libcontainer order: valueTwo is the mask, value the datum.
    assert_eq!(
        (args[0].value(), args[0].value_two()),
        (0, Some(CLONE_NAMESPACE_FLAGS))
    );
    assert_eq!(CLONE_NAMESPACE_FLAGS, 2_114_060_288);
    let clone3 = rules_for(&s, "clone3");
    assert_eq!(clone3.len(), 1);
    assert_eq!(clone3[0].action(), LinuxSeccompAction::ScmpActErrno);
    assert_eq!(clone3[0].errno_ret(), Some(38));

    let admin = default_seccomp(&caps(&["CAP_SYS_ADMIN"]));
    for name in [
        "clone",
        "clone3",
        "mount",
        "umount2",
        "unshare",
        "setns",
        "sethostname",
        "bpf",
    ] {
        assert!(allowed(&admin, name), "{name} with CAP_SYS_ADMIN");
    }
    assert!(
        rules_for(&admin, "clone")
            .iter()
            .all(|r| r.args().is_none()),
        "no masked rule"
    );
    assert!(rules_for(&admin, "clone3")
        .iter()
        .all(|r| r.action() == LinuxSeccompAction::ScmpActAllow));
}

#[test]
fn cap_gated_groups() {
    let table: &[(&str, &[&str])] = &[
        (
            "CAP_SYS_PTRACE",
            &["kcmp", "pidfd_getfd", "process_madvise"],
        ),
        (
            "CAP_SYS_MODULE",
            &["init_module", "finit_module", "delete_module"],
        ),
        ("CAP_SYS_BOOT", &["reboot"]),
        ("CAP_SYS_TIME", &["settimeofday", "clock_settime"]),
        ("CAP_SYS_RAWIO", &["iopl", "ioperm"]),
        ("CAP_SYS_PACCT", &["acct"]),
        ("CAP_SYS_NICE", &["mbind", "set_mempolicy"]),
        ("CAP_SYSLOG", &["syslog"]),
        ("CAP_BPF", &["bpf"]),
        ("CAP_PERFMON", &["perf_event_open"]),
        ("CAP_DAC_READ_SEARCH", &["open_by_handle_at"]),
        ("CAP_SYS_TTY_CONFIG", &["vhangup"]),
    ];
    let base = default_seccomp(&caps(&[]));
    for (cap, names) in table {
        let s = default_seccomp(&caps(&[cap]));
        for name in *names {
            assert!(!allowed(&base, name), "{name} denied without {cap}");
            assert!(allowed(&s, name), "{name} allowed with {cap}");
        }
    }
    assert!(
        rules_for(&default_seccomp(&caps(&["CAP_SYS_ADMIN"])), "kexec_load").is_empty(),
        "never"
    );
}

#[test]
fn personality_and_socket_conditions() {
    let s = default_seccomp(&caps(&[]));
    let values: Vec<u64> = rules_for(&s, "personality")
        .iter()
        .flat_map(|r| r.args().clone().unwrap_or_default())
        .map(|a| a.value())
        .collect();
    assert_eq!(values, [0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff]);

    let sockets = rules_for(&s, "socket");
    let args: Vec<(LinuxSeccompOperator, u64)> = sockets
        .iter()
        .flat_map(|r| r.args().clone().unwrap_or_default())
        .map(|a| (a.op(), a.value()))
        .collect();
    assert_eq!(
        args[0],
        (LinuxSeccompOperator::ScmpCmpLt, 12),
        "AF_UNIX..=AF_ROSE"
    );
    let eq: Vec<u64> = args[1..].iter().map(|(_, v)| *v).collect();
    assert!(eq.contains(&16) && eq.contains(&17), "netlink, packet");
    assert!(
        !eq.contains(&38) && !eq.contains(&40),
        "AF_ALG and AF_VSOCK blocked"
    );
    assert!(args[1..]
        .iter()
        .all(|(op, _)| *op == LinuxSeccompOperator::ScmpCmpEq));
}

#[test]
fn deterministic_and_runc_order() {
    let a = default_seccomp(&caps(&[]));
    assert_eq!(a, default_seccomp(&caps(&[])));
    let mut runc = a.clone();
    to_runtime_spec_arg_order(&mut runc);
    let arg = rules_for(&runc, "clone")[0]
        .args()
        .clone()
        .unwrap_or_default()[0];
    assert_eq!(
        (arg.value(), arg.value_two()),
        (CLONE_NAMESPACE_FLAGS, Some(0))
    );
    assert_eq!(
        rules_for(&runc, "personality"),
        rules_for(&a, "personality"),
        "other ops untouched"
    );
}

#[test]
fn serialises_like_docker() {
    let json = serde_json::to_value(default_seccomp(&caps(&[]))).expect("json");
    assert_eq!(json["defaultAction"], "SCMP_ACT_ERRNO");
    assert_eq!(json["defaultErrnoRet"], 1);
    let first = &json["syscalls"][0];
    assert_eq!(first["action"], "SCMP_ACT_ALLOW");
    assert!(first["names"].as_array().is_some_and(|n| n.len() > 300));
}
