//! Docker's default seccomp profile, specialised for this architecture and a capability set
//! the way moby's `setupSeccomp` does.

use libcontainer::oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompArgBuilder,
    LinuxSeccompOperator, LinuxSyscall,
};

use super::seccomp_profile::{Act, Cmp, Rule, ALLOWED, RULES, SOCKET_DOMAINS};

const EPERM: u32 = 1;
const ENOSYS: u32 = 38;

/// This build's architecture, named as the profile (Go's GOARCH) names them.
const NATIVE_ARCH: &str = if cfg!(target_arch = "x86_64") {
    "amd64"
} else if cfg!(target_arch = "aarch64") {
    "arm64"
} else if cfg!(target_arch = "riscv64") {
    "riscv64"
} else if cfg!(target_arch = "s390x") {
    "s390x"
} else if cfg!(target_arch = "powerpc64") {
    "ppc64le"
} else {
    "unknown"
};

/// The architectures the filter covers: the native one and its compat ABIs.
fn architectures() -> Vec<Arch> {
    match NATIVE_ARCH {
        "amd64" => vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32],
        "arm64" => vec![Arch::ScmpArchAarch64, Arch::ScmpArchArm],
        "riscv64" => vec![Arch::ScmpArchRiscv64],
        "s390x" => vec![Arch::ScmpArchS390x, Arch::ScmpArchS390],
        "ppc64le" => vec![Arch::ScmpArchPpc64le],
        _ => vec![Arch::ScmpArchNative],
    }
}

fn applies(rule: &Rule, caps: &[String]) -> bool {
    let has = |c: &&str| caps.iter().any(|g| g == *c);
    (rule.arches.is_empty() || rule.arches.contains(&NATIVE_ARCH))
        && !rule.not_arches.contains(&NATIVE_ARCH)
        && rule.caps.iter().all(has)
        && !rule.not_caps.iter().any(has)
}

fn arg(index: usize, cmp: Cmp) -> LinuxSeccompArg {
    let (op, value, value_two) = match cmp {
        Cmp::Eq(v) => (LinuxSeccompOperator::ScmpCmpEq, v, None),
        Cmp::Lt(v) => (LinuxSeccompOperator::ScmpCmpLt, v, None),
        // libcontainer 0.7 reads SCMP_CMP_MASKED_EQ as mask = valueTwo, datum = value
        // (the runtime spec and runc have it the other way round). Written for libcontainer;
        // `to_runtime_spec_arg_order` converts for runc.
        Cmp::MaskedEq { mask, value } => (LinuxSeccompOperator::ScmpCmpMaskedEq, value, Some(mask)),
    };
    seccomp_arg(index, op, value, value_two)
}

/// `LinuxSeccompArg` has no setters; its builder has no required fields and no validation,
/// so `build` cannot fail.
fn seccomp_arg(
    index: usize,
    op: LinuxSeccompOperator,
    value: u64,
    value_two: Option<u64>,
) -> LinuxSeccompArg {
    let mut b = LinuxSeccompArgBuilder::default()
        .index(index)
        .op(op)
        .value(value);
    if let Some(v2) = value_two {
        b = b.value_two(v2);
    }
    b.build().unwrap_or_default()
}

fn syscall(names: &[&str], act: Act, args: Vec<LinuxSeccompArg>) -> LinuxSyscall {
    let mut s = LinuxSyscall::default();
    s.set_names(names.iter().map(|n| n.to_string()).collect());
    match act {
        Act::Allow => {
            s.set_action(LinuxSeccompAction::ScmpActAllow);
        }
        Act::ErrnoNosys => {
            s.set_action(LinuxSeccompAction::ScmpActErrno)
                .set_errno_ret(Some(ENOSYS));
        }
    }
    if !args.is_empty() {
        s.set_args(Some(args));
    }
    s
}

/// socket(2) limited to `SOCKET_DOMAINS`: the leading contiguous run from AF_UNIX as one
/// `<` rule, the rest one `==` rule each (repeated comparisons of one argument are ORed
/// rules, so a bounded range is not expressible).
fn socket_rules() -> Vec<LinuxSyscall> {
    let mut domains = SOCKET_DOMAINS.to_vec();
    domains.sort_unstable();
    let mut rules = Vec::new();
    let mut run_end = 0;
    if domains.len() > 1 && domains[0] == 1 && domains[1] == 2 {
        run_end = domains
            .iter()
            .zip(1u64..)
            .take_while(|(d, want)| **d == *want)
            .count();
        rules.push(syscall(
            &["socket"],
            Act::Allow,
            vec![arg(0, Cmp::Lt(domains[run_end - 1] + 1))],
        ));
    }
    for d in &domains[run_end..] {
        rules.push(syscall(&["socket"], Act::Allow, vec![arg(0, Cmp::Eq(*d))]));
    }
    rules
}

/// Docker's default profile for a container granted `caps` (full names, "CAP_SYS_ADMIN"):
/// default `SCMP_ACT_ERRNO` (EPERM), the allow list, and the rules whose capability and
/// architecture conditions hold. Assumes a kernel ≥ 4.8 (ptrace allowed). Pure and
/// deterministic, so the caller can cache the compiled filter per capability set.
pub fn default_seccomp(caps: &[String]) -> LinuxSeccomp {
    let mut syscalls = vec![syscall(ALLOWED, Act::Allow, Vec::new())];
    syscalls.extend(socket_rules());
    for rule in RULES.iter().filter(|r| applies(r, caps)) {
        let args = rule.args.iter().map(|a| arg(a.index, a.cmp)).collect();
        syscalls.push(syscall(rule.names, rule.act, args));
    }
    let mut s = LinuxSeccomp::default();
    s.set_default_action(LinuxSeccompAction::ScmpActErrno)
        .set_default_errno_ret(Some(EPERM))
        .set_architectures(Some(architectures()))
        .set_syscalls(Some(syscalls));
    s
}

/// Swap `value`/`valueTwo` of masked comparisons into the runtime-spec order (value = mask)
/// that runc expects; `default_seccomp` writes libcontainer's order.
pub fn to_runtime_spec_arg_order(seccomp: &mut LinuxSeccomp) {
    let Some(syscalls) = seccomp.syscalls().clone() else {
        return;
    };
    let fixed = syscalls
        .into_iter()
        .map(|mut s| {
            if let Some(args) = s.args().clone() {
                let args = args
                    .into_iter()
                    .map(|a| {
                        if a.op() == LinuxSeccompOperator::ScmpCmpMaskedEq {
                            let (value, mask) = (a.value(), a.value_two().unwrap_or_default());
                            seccomp_arg(a.index(), a.op(), mask, Some(value))
                        } else {
                            a
                        }
                    })
                    .collect();
                s.set_args(Some(args));
            }
            s
        })
        .collect();
    seccomp.set_syscalls(Some(fixed));
}

#[cfg(test)]
#[path = "seccomp_tests.rs"]
mod tests;
