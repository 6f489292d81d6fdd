//! The container's seccomp profile as classic BPF, compiled once per profile and cached.
//!
//! Compiling Docker's profile with libseccomp costs ~11 ms, and every container with the same
//! capability set has the same profile, so the same program. The program is cached in
//! `DIR/<sha256 of the profile's JSON>.bpf` (under the run root: a reboot, or a new
//! libseccomp, starts from an empty cache). The init loads it with `SECCOMP_SET_MODE_FILTER`
//! itself.
//!
//! The translation is libcontainer 0.7's (`libcontainer::seccomp::initialize_seccomp`) rule
//! for rule, including its reading of a masked comparison (mask in `valueTwo`), which is the
//! order `spec::default_seccomp` writes: the same profile compiles to the same filter on
//! either runtime.
//!
//! libseccomp's program is long (1048 instructions for Docker's profile: one `jeq` per
//! syscall per ABI), and loading it costs ~0.85 ms of every start. So the cached program is
//! our own compiler's (`compact`: a binary search over runs of syscall numbers), used only
//! when an interpreter (`bpf_eval`) finds it answering as libseccomp's does on every input
//! that can tell them apart; otherwise libseccomp's is cached, with a warning naming the
//! first input they differ on.

mod bpf_eval;
mod compact;
mod emit;

use std::collections::HashSet;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use libcontainer::oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag,
    LinuxSeccompOperator,
};
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use sha2::{Digest, Sha256};

/// One BPF instruction, as `struct sock_filter`.
pub type Insn = libc::sock_filter;

/// Why a profile could not be turned into a program.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("seccomp profile: {0}")]
    Compile(String),
    #[error("seccomp profile: unsupported {0}")]
    Unsupported(&'static str),
    #[error("seccomp cache {path}: {source}")]
    Cache {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The program for `profile`: from `cache_dir` when compiled before, else compiled and
/// stored there.
pub fn program(profile: &LinuxSeccomp, cache_dir: &Path) -> Result<Vec<Insn>, SeccompError> {
    let json = serde_json::to_vec(profile).map_err(|e| SeccompError::Compile(e.to_string()))?;
    let mut h = Sha256::new();
    // The key covers the translation too: a change of this file's rules changes the tag.
    h.update(b"berth-seccomp-bpf-v2\0");
    h.update(&json);
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    let path = cache_dir.join(format!("{hex}.bpf"));
    if let Ok(bytes) = std::fs::read(&path) {
        if let Some(prog) = decode(&bytes) {
            return Ok(prog);
        }
        tracing::warn!(path = %path.display(), "corrupt seccomp cache entry: recompiling");
    }
    let ctx = compile(profile)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".{}.tmp", std::process::id()));
    let cache = |source| SeccompError::Cache {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(cache)?;
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(cache)?;
    let reference = export(&ctx, &mut f).map_err(|e| match e {
        Exported::Io(source) => SeccompError::Cache {
            path: tmp.clone(),
            source,
        },
        Exported::Compile(e) => e,
    })?;
    let prog = choose(profile, reference);
    // The entry appears whole or not at all: written to the temp file, then renamed.
    let write = f
        .set_len(0)
        .and_then(|()| f.seek(SeekFrom::Start(0)))
        .and_then(|_| f.write_all(&encode(&prog)));
    write.map_err(cache)?;
    drop(f);
    std::fs::rename(&tmp, &path).map_err(cache)?;
    Ok(prog)
}

enum Exported {
    Io(std::io::Error),
    Compile(SeccompError),
}

/// libseccomp's program for `ctx`, exported through `f` (libseccomp 2.5 exports to a file
/// descriptor only).
fn export(ctx: &ScmpFilterContext, f: &mut std::fs::File) -> Result<Vec<Insn>, Exported> {
    ctx.export_bpf(&*f).map_err(|e| Exported::Compile(err(e)))?;
    f.seek(SeekFrom::Start(0)).map_err(Exported::Io)?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes).map_err(Exported::Io)?;
    decode(&bytes).ok_or_else(|| {
        Exported::Compile(SeccompError::Compile(
            "libseccomp exported a malformed program".to_string(),
        ))
    })
}

/// Our compact program for `profile` when it is shorter than `reference` (libseccomp's) and
/// answers as it does; else `reference`, with a warning saying why.
pub fn choose(profile: &LinuxSeccomp, reference: Vec<Insn>) -> Vec<Insn> {
    let ours = match compact::compile(profile) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "seccomp: compact program not built, using libseccomp's");
            return reference;
        }
    };
    if ours.len() >= reference.len() {
        return reference;
    }
    match bpf_eval::equivalent(&ours, &reference) {
        Ok(()) => ours,
        Err(m) => {
            tracing::warn!(
                first_difference = %m,
                "seccomp: compact program differs from libseccomp's, using libseccomp's"
            );
            reference
        }
    }
}

fn encode(prog: &[Insn]) -> Vec<u8> {
    prog.iter()
        .flat_map(|i| {
            let mut b = [0u8; 8];
            b[..2].copy_from_slice(&i.code.to_ne_bytes());
            b[2] = i.jt;
            b[3] = i.jf;
            b[4..].copy_from_slice(&i.k.to_ne_bytes());
            b
        })
        .collect()
}

/// `struct sock_filter` is 8 bytes: code (u16), jt, jf (u8), k (u32), native endian.
fn decode(bytes: &[u8]) -> Option<Vec<Insn>> {
    if bytes.is_empty() || !bytes.len().is_multiple_of(8) || bytes.len() / 8 > usize::from(u16::MAX)
    {
        return None;
    }
    Some(
        bytes
            .chunks_exact(8)
            .map(|c| Insn {
                code: u16::from_ne_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect(),
    )
}

fn err(e: impl std::fmt::Display) -> SeccompError {
    SeccompError::Compile(e.to_string())
}

/// Compiles `profile` with libseccomp.
pub fn compile(profile: &LinuxSeccomp) -> Result<ScmpFilterContext, SeccompError> {
    let default = action(profile.default_action(), profile.default_errno_ret())?;
    let mut ctx = ScmpFilterContext::new(default).map_err(err)?;
    for flag in profile.flags().iter().flatten() {
        match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => ctx.set_ctl_log(true),
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => ctx.set_ctl_ssb(true),
            // Thread sync and killable waits are load-time flags; the init is one thread.
            _ => return Err(SeccompError::Unsupported("filter flag")),
        }
        .map_err(err)?;
    }
    for arch in profile.architectures().iter().flatten() {
        ctx.add_arch(translate_arch(*arch)?).map_err(err)?;
    }
    // The init loads the program itself; libseccomp's own load would set no_new_privs.
    ctx.set_ctl_nnp(false).map_err(err)?;
    for rule in profile.syscalls().iter().flatten() {
        let act = action(rule.action(), rule.errno_ret())?;
        if act == default {
            continue;
        }
        for name in rule.names() {
            // A name this libseccomp does not know is a syscall this kernel lacks.
            let Ok(sc) = ScmpSyscall::from_name(name) else {
                continue;
            };
            for alt in alternatives(rule.args().as_deref().unwrap_or_default()) {
                if alt.is_empty() {
                    ctx.add_rule(act, sc).map_err(err)?;
                    continue;
                }
                let cmps: Vec<ScmpArgCompare> = alt
                    .iter()
                    .map(|a| {
                        ScmpArgCompare::new(a.index() as u32, op(a.op(), a.value_two()), a.value())
                    })
                    .collect();
                ctx.add_rule_conditional(act, sc, &cmps).map_err(err)?;
            }
        }
    }
    Ok(ctx)
}

/// A rule's comparisons as alternatives of conjunctions, as both compilers read them:
/// comparisons of one argument repeated in a rule are alternatives (one rule each, as runc),
/// otherwise they all must hold. No comparison at all is one empty conjunction.
fn alternatives(args: &[LinuxSeccompArg]) -> Vec<Vec<&LinuxSeccompArg>> {
    let mut seen = HashSet::new();
    if args.iter().any(|a| !seen.insert(a.index())) {
        args.iter().map(|a| vec![a]).collect()
    } else {
        vec![args.iter().collect()]
    }
}

fn action(a: LinuxSeccompAction, errno: Option<u32>) -> Result<ScmpAction, SeccompError> {
    let errno = errno.map_or(libc::EPERM, |e| e as i32);
    Ok(match a {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(errno),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(
            u16::try_from(errno).map_err(|_| SeccompError::Unsupported("trace errno"))?,
        ),
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        // A notify fd needs an agent to answer; berth has none.
        LinuxSeccompAction::ScmpActNotify => return Err(SeccompError::Unsupported("notify")),
    })
}

/// libcontainer's reading: a masked comparison's mask is `valueTwo`.
fn op(o: LinuxSeccompOperator, value_two: Option<u64>) -> ScmpCompareOp {
    match o {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        LinuxSeccompOperator::ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual(value_two.unwrap_or(0)),
    }
}

fn translate_arch(a: Arch) -> Result<ScmpArch, SeccompError> {
    Ok(match a {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        _ => return Err(SeccompError::Unsupported("architecture")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::default_seccomp;

    fn caps() -> Vec<String> {
        crate::spec::default_caps_with(&[])
    }

    #[test]
    fn the_default_profile_compiles_and_is_cached() {
        let dir = tempfile::tempdir().unwrap();
        let profile = default_seccomp(&caps());
        let first = program(&profile, dir.path()).unwrap();
        assert!(first.len() > 100, "{} instructions", first.len());
        let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(entries.len(), 1, "one cache entry");
        let again = program(&profile, dir.path()).unwrap();
        assert_eq!(
            first
                .iter()
                .map(|i| (i.code, i.jt, i.jf, i.k))
                .collect::<Vec<_>>(),
            again
                .iter()
                .map(|i| (i.code, i.jt, i.jf, i.k))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_corrupt_cache_entry_is_recompiled() {
        let dir = tempfile::tempdir().unwrap();
        let profile = default_seccomp(&caps());
        program(&profile, dir.path()).unwrap();
        let entry = std::fs::read_dir(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        std::fs::write(entry.path(), b"short").unwrap();
        let prog = program(&profile, dir.path()).unwrap();
        assert!(prog.len() > 100);
        assert_eq!(std::fs::read(entry.path()).unwrap().len(), prog.len() * 8);
    }

    #[test]
    fn profiles_that_differ_get_their_own_entries() {
        let dir = tempfile::tempdir().unwrap();
        program(&default_seccomp(&caps()), dir.path()).unwrap();
        let mut more = caps();
        more.push("CAP_SYS_ADMIN".into());
        program(&default_seccomp(&more), dir.path()).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }
}

#[cfg(test)]
mod compact_tests;
