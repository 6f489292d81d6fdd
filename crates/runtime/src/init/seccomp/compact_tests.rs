//! The compact program against libseccomp's, through the interpreter.

use libcontainer::oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArgBuilder, LinuxSeccompOperator,
    LinuxSyscall,
};

use super::bpf_eval::{self, Mismatch, ARCH, NR, WORDS};
use super::{compact, compile, export, Insn};
use crate::spec::default_seccomp;

const X86_64: u32 = 0xc000_003e;
const I386: u32 = 0x4000_0003;
const ALLOW: u32 = 0x7fff_0000;
const EPERM: u32 = 0x0005_0001;
const ENOSYS: u32 = 0x0005_0026;

use crate::spec::default_caps_with as caps;

/// libseccomp's program for `profile`.
fn reference(profile: &LinuxSeccomp) -> Vec<Insn> {
    let ctx = compile(profile).expect("libseccomp compiles the profile");
    let mut f = tempfile::tempfile().expect("temp file");
    match export(&ctx, &mut f) {
        Ok(p) => p,
        Err(_) => panic!("libseccomp exports the program"),
    }
}

fn both(profile: &LinuxSeccomp) -> (Vec<Insn>, Vec<Insn>) {
    let ours = compact::compile(profile).expect("the compact compiler takes the profile");
    (ours, reference(profile))
}

fn eval(prog: &[Insn], arch: u32, nr: u32, args: &[u64]) -> u32 {
    let mut d = [0u32; WORDS];
    d[ARCH] = arch;
    d[NR] = nr;
    for (i, a) in args.iter().enumerate() {
        d[4 + 2 * i] = *a as u32;
        d[5 + 2 * i] = (*a >> 32) as u32;
    }
    bpf_eval::run(prog, &d, &mut Vec::new(), 0, &mut 0).expect("the program runs")
}

#[test]
fn the_default_profile_compiles_short_and_equivalent_for_several_capability_sets() {
    for extra in [
        &[][..],
        &["CAP_SYS_ADMIN"],
        &[
            "CAP_SYS_PTRACE",
            "CAP_SYS_TIME",
            "CAP_SYS_NICE",
            "CAP_DAC_READ_SEARCH",
        ],
        &[
            "CAP_SYS_BOOT",
            "CAP_SYS_MODULE",
            "CAP_SYS_RAWIO",
            "CAP_BPF",
            "CAP_PERFMON",
        ],
    ] {
        let (ours, reference) = both(&default_seccomp(&caps(extra)));
        assert_eq!(bpf_eval::equivalent(&ours, &reference), Ok(()), "{extra:?}");
        assert!(reference.len() > 1000, "{extra:?}: {}", reference.len());
        eprintln!("{extra:?}: {} vs {}", ours.len(), reference.len());
        assert!(
            ours.len() < 340,
            "{extra:?}: {} instructions (libseccomp's: {})",
            ours.len(),
            reference.len()
        );
    }
}

#[test]
fn a_flipped_action_or_boundary_is_found() {
    let (ours, reference) = both(&default_seccomp(&caps(&[])));
    let flip = |pick: &dyn Fn(&Insn) -> bool, change: &dyn Fn(&mut Insn)| {
        let mut bad = ours.clone();
        let i = bad.iter().position(pick).expect("an instruction to change");
        change(&mut bad[i]);
        bpf_eval::equivalent(&bad, &reference)
    };
    let action = flip(&|i| i.code == 0x06 && i.k == ALLOW, &|i| i.k = EPERM);
    assert!(matches!(action, Err(Mismatch::Differ { .. })), "{action:?}");
    let boundary = flip(&|i| i.code == 0x35 && i.k > 100 && i.k < 300, &|i| i.k += 1);
    assert!(
        matches!(boundary, Err(Mismatch::Differ { .. })),
        "{boundary:?}"
    );
    let reads_ip = flip(&|i| i.code == 0x20 && i.k == 0, &|i| i.k = 8);
    assert!(
        matches!(reads_ip, Err(Mismatch::Invalid { ours: true, .. })),
        "{reads_ip:?}"
    );
}

#[test]
fn argument_rules_answer_right_on_both_sides_of_each_constant() {
    let (ours, reference) = both(&default_seccomp(&caps(&[])));
    let (personality, clone, clone3) = (135, 56, 435);
    for prog in [&ours, &reference] {
        for (arch, nr, arg, want) in [
            (X86_64, personality, 0, ALLOW),
            (X86_64, personality, 1, EPERM),
            (X86_64, personality, 7, EPERM),
            (X86_64, personality, 8, ALLOW),
            (X86_64, personality, 9, EPERM),
            (X86_64, personality, 0x20000, ALLOW),
            (X86_64, personality, 0x20008, ALLOW),
            (X86_64, personality, 0x20009, EPERM),
            (X86_64, personality, 0xffff_ffff, ALLOW),
            (X86_64, personality, 0xffff_fffe, EPERM),
            (X86_64, personality, 0x1_ffff_ffff, EPERM),
            (X86_64, personality, 0x1_0000_0000, EPERM),
            (I386, 136, 0xffff_ffff, ALLOW),
            (I386, 136, 2, EPERM),
            // clone without namespace flags (CLONE_VM | CLONE_FS | SIGCHLD), with one.
            (X86_64, clone, 0x111, ALLOW),
            (X86_64, clone, 0x2_0000, EPERM),
            (X86_64, clone, 0x1000_0000, EPERM),
            (X86_64, clone, 0x8000_0000, ALLOW),
            (X86_64, clone, 0xffff_ffff_0000_0000, ALLOW),
            (I386, 120, 0x4000_0000, EPERM),
            (X86_64, clone3, 0, ENOSYS),
            // socket: AF_UNIX..AF_INET6 by `<`, others listed, AF_PACKET (17) too.
            (X86_64, 41, 0, ALLOW),
            (X86_64, 41, 11, ALLOW),
            (X86_64, 41, 12, EPERM),
            (X86_64, 41, 0x1_0000_0001, EPERM),
            (I386, 359, 1, ALLOW),
        ] {
            assert_eq!(
                eval(prog, arch, nr, &[arg]),
                want,
                "{arch:#x} {nr} {arg:#x}"
            );
        }
    }
}

fn rule(
    names: &[&str],
    action: LinuxSeccompAction,
    args: &[(usize, LinuxSeccompOperator, u64, Option<u64>)],
) -> LinuxSyscall {
    let mut s = LinuxSyscall::default();
    s.set_names(names.iter().map(|n| n.to_string()).collect());
    s.set_action(action);
    if action == LinuxSeccompAction::ScmpActErrno {
        s.set_errno_ret(Some(13));
    }
    if !args.is_empty() {
        let args = args
            .iter()
            .map(|(index, op, value, two)| {
                let mut b = LinuxSeccompArgBuilder::default()
                    .index(*index)
                    .op(*op)
                    .value(*value);
                if let Some(v) = two {
                    b = b.value_two(*v);
                }
                b.build().expect("an argument")
            })
            .collect();
        s.set_args(Some(args));
    }
    s
}

fn profile(arches: Vec<Arch>, rules: Vec<LinuxSyscall>) -> LinuxSeccomp {
    let mut p = LinuxSeccomp::default();
    p.set_default_action(LinuxSeccompAction::ScmpActErrno)
        .set_default_errno_ret(Some(1))
        .set_architectures(Some(arches))
        .set_syscalls(Some(rules));
    p
}

#[test]
fn an_unknown_syscall_name_is_skipped() {
    let p = profile(
        vec![Arch::ScmpArchX86_64],
        vec![rule(
            &["no_such_syscall", "getpid"],
            LinuxSeccompAction::ScmpActAllow,
            &[],
        )],
    );
    let (ours, reference) = both(&p);
    assert_eq!(bpf_eval::equivalent(&ours, &reference), Ok(()));
    assert_eq!(eval(&ours, X86_64, 39, &[]), ALLOW);
    assert_eq!(eval(&ours, X86_64, 40, &[]), EPERM);
}

#[test]
fn every_operator_on_wide_and_narrow_abis_matches_libseccomp() {
    use LinuxSeccompOperator as O;
    let allow = LinuxSeccompAction::ScmpActAllow;
    let rules = vec![
        rule(&["read"], allow, &[(0, O::ScmpCmpNe, 5, None)]),
        rule(&["write"], allow, &[(1, O::ScmpCmpGt, 0x1_0000_0010, None)]),
        rule(&["openat"], allow, &[(2, O::ScmpCmpLe, 0x40, None)]),
        rule(
            &["close"],
            allow,
            &[(0, O::ScmpCmpGe, 3, None), (1, O::ScmpCmpLt, 9, None)],
        ),
        rule(
            &["mmap"],
            allow,
            &[(3, O::ScmpCmpMaskedEq, 0x10, Some(0xff0_0000_00f0))],
        ),
        rule(
            &["ioctl"],
            LinuxSeccompAction::ScmpActErrno,
            &[(1, O::ScmpCmpEq, 0x5401, None)],
        ),
        // Repeated comparisons of one argument are alternatives.
        rule(
            &["fcntl"],
            allow,
            &[
                (1, O::ScmpCmpEq, 1, None),
                (1, O::ScmpCmpEq, 2, None),
                (1, O::ScmpCmpGt, 1000, None),
            ],
        ),
        // An unconditional rule beats an earlier conditional one.
        rule(&["dup"], allow, &[(0, O::ScmpCmpEq, 1, None)]),
        rule(&["dup"], allow, &[]),
        rule(&["kill"], LinuxSeccompAction::ScmpActKillProcess, &[]),
        rule(&["getpid"], LinuxSeccompAction::ScmpActTrap, &[]),
        rule(&["gettid"], LinuxSeccompAction::ScmpActLog, &[]),
    ];
    for arches in [
        vec![Arch::ScmpArchX86_64],
        vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86],
        vec![Arch::ScmpArchX86_64, Arch::ScmpArchX32, Arch::ScmpArchX86],
    ] {
        // A profile this small is no shorter compact (`choose` keeps libseccomp's then):
        // the point is that every comparison means the same.
        let (ours, reference) = both(&profile(arches.clone(), rules.clone()));
        assert_eq!(
            bpf_eval::equivalent(&ours, &reference),
            Ok(()),
            "{arches:?}"
        );
    }
}

#[test]
fn x32_numbers_are_a_bad_arch_without_x32() {
    let p = profile(
        vec![Arch::ScmpArchX86_64],
        vec![rule(&["getpid"], LinuxSeccompAction::ScmpActAllow, &[])],
    );
    let (ours, reference) = both(&p);
    for prog in [&ours, &reference] {
        assert_eq!(eval(prog, X86_64, 0x4000_0027, &[]), 0, "killed");
        assert_eq!(
            eval(prog, X86_64, u32::MAX, &[]),
            EPERM,
            "-1 is the default"
        );
        assert_eq!(eval(prog, I386, 20, &[]), 0, "i386 is not in the filter");
    }
}
