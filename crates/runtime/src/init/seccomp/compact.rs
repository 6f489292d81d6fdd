//! Our own compiler of a profile: the same decisions as libseccomp's program in a fraction of
//! its instructions.
//!
//! libseccomp tests a syscall number with one `jeq` per allowed syscall per ABI (1048
//! instructions for Docker's profile on x86-64), and the kernel's `SECCOMP_SET_MODE_FILTER`
//! costs time linear in the length (conversion to eBPF, JIT) on every container start, as
//! does every syscall the container makes. Here each audit arch gets a binary search over the
//! boundaries of runs of syscall numbers with one action (`jge` per boundary), and the few
//! syscalls with argument rules get their comparisons, a one-argument rule set as a search
//! over value ranges too. The result is only used after `bpf_eval::equivalent` found it to
//! answer as libseccomp's program does.
//!
//! What libseccomp decides, and this file mirrors:
//! - an arch not in the filter gets the bad-arch action (kill thread): it is never set here;
//! - x32 shares x86-64's audit arch, its numbers carry bit 0x40000000; without x32 in the
//!   filter, a number with that bit (but -1) on x86-64 is a bad arch too;
//! - a name this libseccomp does not know is skipped (as `compile`), so is a name that has
//!   no number on one arch;
//! - an unconditional rule of a syscall beats every conditional one, whichever came first;
//! - on a 32-bit ABI (i386, x32, arm) only the low word of an argument is compared.

use std::collections::{BTreeMap, HashMap};

use libcontainer::oci_spec::runtime::{LinuxSeccomp, LinuxSeccompOperator};
use libseccomp::{ScmpArch, ScmpSyscall};

use super::emit;
use super::{action, translate_arch, Insn, SeccompError};

/// `SECCOMP_RET_KILL_THREAD`: libseccomp's bad-arch action unless set otherwise.
const KILL_THREAD: u32 = 0;
const X32_BIT: u32 = 0x4000_0000;
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;

/// One comparison of an argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cmp {
    pub arg: u8,
    pub op: Op,
    pub datum: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// `arg & mask == datum`.
    MaskedEq(u64),
}

/// What one syscall number of one ABI does.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Decision {
    Ret(u32),
    /// `action` when one of the alternatives (each a conjunction) holds, else the default.
    Args {
        action: u32,
        alts: Vec<Vec<Cmp>>,
        /// Arguments are 64-bit (else only their low word is compared).
        wide: bool,
    },
}

/// One audit arch: what its syscall numbers do (others get `default`), and the numbers
/// that are a bad arch.
#[derive(Debug)]
pub struct ArchTable {
    pub token: u32,
    pub syscalls: BTreeMap<u32, Decision>,
    /// Inclusive ranges of numbers that get the bad-arch action.
    pub bad: Vec<(u32, u32)>,
}

#[derive(Debug)]
pub struct Model {
    pub default: u32,
    pub bad_arch: u32,
    pub arches: Vec<ArchTable>,
}

/// Compiles `profile` into our program.
pub fn compile(profile: &LinuxSeccomp) -> Result<Vec<Insn>, SeccompError> {
    let model = model(profile)?;
    let prog = emit::program(&model);
    // BPF_MAXINSNS: the kernel refuses longer programs.
    if prog.len() > 4096 {
        return Err(SeccompError::Unsupported("program length"));
    }
    Ok(prog)
}

/// The audit arch token of `arch`, and whether its syscalls take 64-bit arguments. Only
/// little-endian ABIs: argument words are laid out low word first.
fn abi(arch: ScmpArch) -> Result<(u32, bool), SeccompError> {
    Ok(match arch {
        ScmpArch::X8664 => (AUDIT_ARCH_X86_64, true),
        ScmpArch::X32 => (AUDIT_ARCH_X86_64, false),
        ScmpArch::X86 => (0x4000_0003, false),
        ScmpArch::Aarch64 => (0xc000_00b7, true),
        ScmpArch::Arm => (0x4000_0028, false),
        ScmpArch::Riscv64 => (0xc000_00f3, true),
        ScmpArch::Ppc64Le => (0xc000_0015, true),
        _ => {
            return Err(SeccompError::Unsupported(
                "architecture in the compact program",
            ))
        }
    })
}

/// The arches of the filter: the native one (libseccomp's context always has it) first,
/// then the profile's.
fn arches(profile: &LinuxSeccomp) -> Result<Vec<ScmpArch>, SeccompError> {
    let mut out = vec![ScmpArch::native()];
    for a in profile.architectures().iter().flatten() {
        let a = match translate_arch(*a)? {
            ScmpArch::Native => ScmpArch::native(),
            a => a,
        };
        if !out.contains(&a) {
            out.push(a);
        }
    }
    if out.contains(&ScmpArch::X32) && !out.contains(&ScmpArch::X8664) {
        return Err(SeccompError::Unsupported("x32 without x86-64"));
    }
    Ok(out)
}

/// The rules of one syscall number, as added so far.
#[derive(Default)]
struct Rules {
    uncond: Option<u32>,
    cond: Vec<(u32, Vec<Cmp>)>,
    wide: bool,
}

/// Resolves `profile` into per-arch tables.
pub fn model(profile: &LinuxSeccomp) -> Result<Model, SeccompError> {
    let default = ret(action(
        profile.default_action(),
        profile.default_errno_ret(),
    )?)?;
    let arches = arches(profile)?;
    let mut tables: Vec<(u32, BTreeMap<u32, Rules>)> = Vec::new();
    for a in &arches {
        let (token, _) = abi(*a)?;
        if !tables.iter().any(|(t, _)| *t == token) {
            tables.push((token, BTreeMap::new()));
        }
    }
    let mut numbers = Numbers::default();
    for rule in profile.syscalls().iter().flatten() {
        let act = ret(action(rule.action(), rule.errno_ret())?)?;
        if act == default {
            continue;
        }
        let alts = alternatives(rule.args().as_deref().unwrap_or_default())?;
        for name in rule.names() {
            // A name this libseccomp does not know is a syscall this kernel lacks.
            if ScmpSyscall::from_name(name).is_err() {
                continue;
            }
            for a in &arches {
                let (token, wide) = abi(*a)?;
                let Some(nr) = numbers.get(name, *a, token) else {
                    continue;
                };
                let table = tables
                    .iter_mut()
                    .find(|(t, _)| *t == token)
                    .map(|(_, m)| m)
                    .ok_or(SeccompError::Unsupported("architecture"))?;
                let r = table.entry(nr).or_default();
                r.wide = wide;
                add(r, act, &alts);
            }
        }
    }
    numbers.check_multiplexers(&tables)?;
    let has_x32 = arches.contains(&ScmpArch::X32);
    let out = tables
        .into_iter()
        .map(|(token, rules)| table(token, rules, has_x32))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Model {
        default,
        bad_arch: KILL_THREAD,
        arches: out,
    })
}

/// One audit arch's decisions from its rules.
fn table(
    token: u32,
    rules: BTreeMap<u32, Rules>,
    has_x32: bool,
) -> Result<ArchTable, SeccompError> {
    let mut syscalls = BTreeMap::new();
    for (nr, r) in rules {
        if let Some(d) = decide(r)? {
            syscalls.insert(nr, d);
        }
    }
    // Without x32, libseccomp's x86-64 filter sends x32 numbers to the bad-arch action, all
    // but -1 (which tracers use to skip a syscall).
    let bad = if token == AUDIT_ARCH_X86_64 && !has_x32 {
        vec![(X32_BIT, u32::MAX - 1)]
    } else {
        Vec::new()
    };
    Ok(ArchTable {
        token,
        syscalls,
        bad,
    })
}

/// Syscall numbers by name and arch, as libseccomp's rules get them.
#[derive(Default)]
struct Numbers {
    /// Per arch, the name of every number below 1024 (built when first needed).
    names: HashMap<ScmpArch, HashMap<String, u32>>,
    /// Multiplexers (i386's socketcall, ipc) that libseccomp adds an argument rule to, per
    /// audit arch, which this compiler leaves out.
    multiplexed: Vec<(u32, u32)>,
}

impl Numbers {
    /// The number of `name` on `arch`; none where it has none there. A name that libseccomp
    /// resolves to a pseudo number (i386's socket calls, ipc calls) is a multiplexed call: its
    /// rule applies to the direct syscall where the arch has one (socket is 359 on i386), and
    /// to the multiplexer with its first argument the call's number.
    fn get(&mut self, name: &str, arch: ScmpArch, token: u32) -> Option<u32> {
        let raw = ScmpSyscall::from_name_by_arch(name, arch)
            .ok()?
            .as_raw_syscall();
        if let Ok(nr) = u32::try_from(raw) {
            return Some(nr);
        }
        let mux = ScmpSyscall::from_name_by_arch_rewrite(name, arch)
            .ok()
            .and_then(|s| u32::try_from(s.as_raw_syscall()).ok());
        if let Some(mux) = mux {
            self.multiplexed.push((token, mux));
        }
        let names = self.names.entry(arch).or_insert_with(|| {
            (0..1024)
                .filter_map(|nr| {
                    let name = ScmpSyscall::from(nr).get_name_by_arch(arch).ok()?;
                    Some((name, nr as u32))
                })
                .collect()
        });
        names.get(name).copied()
    }

    /// libseccomp's argument rule on a multiplexer only matters where the multiplexer has no
    /// unconditional rule (Docker's profile allows socketcall and ipc outright).
    fn check_multiplexers(
        &self,
        tables: &[(u32, BTreeMap<u32, Rules>)],
    ) -> Result<(), SeccompError> {
        for (token, mux) in &self.multiplexed {
            let unconditional = tables
                .iter()
                .find(|(t, _)| t == token)
                .and_then(|(_, m)| m.get(mux))
                .is_some_and(|r| r.uncond.is_some());
            if !unconditional {
                return Err(SeccompError::Unsupported(
                    "a multiplexed call without its multiplexer",
                ));
            }
        }
        Ok(())
    }
}

/// The rule's comparisons as alternatives of conjunctions (the grouping is
/// [`super::alternatives`], shared with libseccomp's compilation).
fn alternatives(
    args: &[libcontainer::oci_spec::runtime::LinuxSeccompArg],
) -> Result<Vec<Vec<Cmp>>, SeccompError> {
    super::alternatives(args)
        .into_iter()
        .map(|alt| alt.into_iter().map(cmp).collect())
        .collect()
}

fn cmp(a: &libcontainer::oci_spec::runtime::LinuxSeccompArg) -> Result<Cmp, SeccompError> {
    let arg = u8::try_from(a.index())
        .ok()
        .filter(|i| *i < 6)
        .ok_or(SeccompError::Unsupported("argument index"))?;
    let op = match a.op() {
        LinuxSeccompOperator::ScmpCmpNe => Op::Ne,
        LinuxSeccompOperator::ScmpCmpLt => Op::Lt,
        LinuxSeccompOperator::ScmpCmpLe => Op::Le,
        LinuxSeccompOperator::ScmpCmpEq => Op::Eq,
        LinuxSeccompOperator::ScmpCmpGe => Op::Ge,
        LinuxSeccompOperator::ScmpCmpGt => Op::Gt,
        // libcontainer's reading, as `op`: the mask is `valueTwo`.
        LinuxSeccompOperator::ScmpCmpMaskedEq => Op::MaskedEq(a.value_two().unwrap_or(0)),
    };
    Ok(Cmp {
        arg,
        op,
        datum: a.value(),
    })
}

/// Adds a rule the way libseccomp merges it: an unconditional rule stays, whatever comes
/// after; a later unconditional one replaces conditional ones.
fn add(r: &mut Rules, act: u32, alts: &[Vec<Cmp>]) {
    if r.uncond.is_some() {
        return;
    }
    if alts.iter().all(Vec::is_empty) {
        r.uncond = Some(act);
        r.cond.clear();
        return;
    }
    r.cond.extend(alts.iter().map(|c| (act, c.clone())));
}

fn decide(r: Rules) -> Result<Option<Decision>, SeccompError> {
    if let Some(a) = r.uncond {
        return Ok(Some(Decision::Ret(a)));
    }
    let Some((action, _)) = r.cond.first() else {
        return Ok(None);
    };
    let action = *action;
    // Conditional rules of different actions: which wins where both hold is libseccomp's
    // tree order; leave those profiles to libseccomp's program.
    if r.cond.iter().any(|(a, _)| *a != action) {
        return Err(SeccompError::Unsupported(
            "argument rules of different actions",
        ));
    }
    let mut alts: Vec<Vec<Cmp>> = r.cond.into_iter().map(|(_, c)| c).collect();
    alts.dedup();
    Ok(Some(Decision::Args {
        action,
        alts,
        wide: r.wide,
    }))
}

/// The `SECCOMP_RET_*` value of an action (libseccomp's encoding).
fn ret(a: libseccomp::ScmpAction) -> Result<u32, SeccompError> {
    use libseccomp::ScmpAction as A;
    Ok(match a {
        A::KillProcess => 0x8000_0000,
        A::KillThread => 0,
        A::Trap => 0x0003_0000,
        A::Notify => 0x7fc0_0000,
        A::Errno(e) => 0x0005_0000 | (e as u32 & 0xffff),
        A::Trace(m) => 0x7ff0_0000 | u32::from(m),
        A::Log => 0x7ffc_0000,
        A::Allow => 0x7fff_0000,
        _ => return Err(SeccompError::Unsupported("action in the compact program")),
    })
}
