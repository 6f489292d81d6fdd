//! A classic-BPF interpreter for seccomp programs, and an equivalence check of two programs
//! over the inputs that can tell them apart.
//!
//! The interpreter runs a program on a `seccomp_data` given as sixteen 32-bit words (word 0
//! the syscall number, 1 the audit arch, 2–3 the instruction pointer, 4–15 the six arguments
//! as low/high words, little-endian). Reading the instruction pointer, a word past the end,
//! or an unaligned one is an error: neither of our programs may depend on where a syscall
//! was made from. While it runs, it notes every comparison of a loaded (optionally masked)
//! word with a constant: those constants are where the program's answer can change, so the
//! equivalence check draws its inputs from them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::Insn;

/// Words of `struct seccomp_data`.
pub const WORDS: usize = 16;
pub const NR: usize = 0;
pub const ARCH: usize = 1;
const IP: [usize; 2] = [2, 3];
const FIRST_ARG: usize = 4;
/// A bit per argument word.
const ARG_WORDS: u16 = !((1 << FIRST_ARG) - 1);

/// Evaluations allowed for one (arch, syscall number) pair before the check gives up.
const MAX_ARG_EVALS: usize = 200_000;

/// A program the interpreter cannot run to an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    #[error("instruction {0}: unsupported opcode {1:#06x}")]
    Opcode(usize, u16),
    #[error("instruction {0}: reads seccomp_data at offset {1}")]
    Read(usize, u32),
    #[error("instruction {0}: jumps past the end")]
    Jump(usize),
    #[error("instruction {0}: division by zero")]
    DivZero(usize),
    #[error("runs off the end without a return")]
    NoReturn,
}

/// A comparison the program made: word `word`, masked by `mask`, against `k`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Probe {
    pub word: usize,
    pub mask: u32,
    pub k: u32,
}

/// Runs `prog` on `data`; `probes` collects the comparisons made on the way with the words
/// set in `record` (a bit per word), and the words read are set in `read`.
pub fn run(
    prog: &[Insn],
    data: &[u32; WORDS],
    probes: &mut Vec<Probe>,
    record: u16,
    read: &mut u16,
) -> Result<u32, EvalError> {
    let (mut a, mut x) = (0u32, 0u32);
    // Where A came from: a word of seccomp_data and the mask applied to it since.
    let mut origin: Option<(usize, u32)> = None;
    let mut mem = [0u32; 16];
    let mut pc = 0usize;
    while let Some(i) = prog.get(pc) {
        let (code, k) = (i.code, i.k);
        pc += 1;
        match code {
            // ld [k]
            0x20 => {
                let w = word(pc - 1, k)?;
                *read |= 1 << w;
                a = data[w];
                origin = Some((w, u32::MAX));
            }
            // ld #k, ldx #k, ld M[k], ldx M[k], st M[k], stx M[k]
            0x00 => (a, origin) = (k, None),
            0x01 => x = k,
            0x60 | 0x61 | 0x02 | 0x03 => {
                let slot = mem.get_mut(k as usize).ok_or(EvalError::Read(pc - 1, k))?;
                match code {
                    0x60 => (a, origin) = (*slot, None),
                    0x61 => x = *slot,
                    0x02 => *slot = a,
                    _ => *slot = x,
                }
            }
            0x07 => x = a,
            0x87 => (a, origin) = (x, None),
            0x06 => return Ok(k),
            0x16 => return Ok(a),
            0x05 => pc = target(prog, pc, k as usize)?,
            c if c & 0x07 == 0x04 => {
                let operand = if c & 0x08 != 0 { x } else { k };
                origin = match (c & 0xf0, origin) {
                    (0x50, Some((w, m))) if c & 0x08 == 0 => Some((w, m & k)),
                    _ => None,
                };
                a = alu(pc - 1, c, a, operand)?;
            }
            c if c & 0x07 == 0x05 => {
                let operand = if c & 0x08 != 0 { x } else { k };
                let taken = match c & 0xf0 {
                    0x10 => a == operand,
                    0x20 => a > operand,
                    0x30 => a >= operand,
                    0x40 => a & operand != 0,
                    _ => return Err(EvalError::Opcode(pc - 1, c)),
                };
                if let (Some((word, mask)), false) = (origin, c & 0x08 != 0) {
                    if record & (1 << word) != 0 {
                        probes.push(Probe { word, mask, k });
                    }
                }
                let off = if taken { i.jt } else { i.jf };
                pc = target(prog, pc, usize::from(off))?;
            }
            c => return Err(EvalError::Opcode(pc - 1, c)),
        }
    }
    Err(EvalError::NoReturn)
}

fn word(at: usize, k: u32) -> Result<usize, EvalError> {
    let w = (k / 4) as usize;
    if !k.is_multiple_of(4) || w >= WORDS || IP.contains(&w) {
        return Err(EvalError::Read(at, k));
    }
    Ok(w)
}

fn target(prog: &[Insn], pc: usize, off: usize) -> Result<usize, EvalError> {
    let t = pc + off;
    if t >= prog.len() {
        return Err(EvalError::Jump(pc - 1));
    }
    Ok(t)
}

fn alu(at: usize, code: u16, a: u32, v: u32) -> Result<u32, EvalError> {
    Ok(match code & 0xf0 {
        0x00 => a.wrapping_add(v),
        0x10 => a.wrapping_sub(v),
        0x20 => a.wrapping_mul(v),
        0x30 => a.checked_div(v).ok_or(EvalError::DivZero(at))?,
        0x40 => a | v,
        0x50 => a & v,
        0x60 => a.checked_shl(v).unwrap_or(0),
        0x70 => a.checked_shr(v).unwrap_or(0),
        0x80 => a.wrapping_neg(),
        0x90 => a.checked_rem(v).ok_or(EvalError::DivZero(at))?,
        0xa0 => a ^ v,
        _ => return Err(EvalError::Opcode(at, code)),
    })
}

/// Why two programs were not found equivalent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// They return different actions for this input.
    Differ {
        data: [u32; WORDS],
        ours: u32,
        reference: u32,
    },
    /// One of them cannot be run (`ours` tells which).
    Invalid { ours: bool, error: EvalError },
    /// A syscall compares more argument values than the check tries.
    TooManyInputs { arch: u32, nr: u32 },
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::Differ {
                data,
                ours,
                reference,
            } => {
                write!(f, "arch {:#x} nr {:#x}", data[ARCH], data[NR])?;
                let args = &data[FIRST_ARG..];
                if args.iter().any(|w| *w != 0) {
                    let args: Vec<String> = args
                        .chunks(2)
                        .map(|w| format!("{:#x}", u64::from(w[1]) << 32 | u64::from(w[0])))
                        .collect();
                    write!(f, " args [{}]", args.join(", "))?;
                }
                write!(f, ": ours returns {ours:#x}, libseccomp's {reference:#x}")
            }
            Mismatch::Invalid { ours, error } => {
                let which = if *ours { "ours" } else { "libseccomp's" };
                write!(f, "{which} cannot be evaluated: {error}")
            }
            Mismatch::TooManyInputs { arch, nr } => write!(
                f,
                "arch {arch:#x} nr {nr:#x} compares more argument values than the check tries"
            ),
        }
    }
}

/// Runs both programs on one input; the probes of both on the words in `record` are
/// appended to `probes` (kept free of duplicates, so a long run stays small).
struct Pair<'a> {
    ours: &'a [Insn],
    reference: &'a [Insn],
    probes: Vec<Probe>,
    record: u16,
    read: u16,
}

impl Pair<'_> {
    fn check(&mut self, data: &[u32; WORDS]) -> Result<(), Mismatch> {
        let (probes, record, read) = (&mut self.probes, self.record, &mut self.read);
        let ours = run(self.ours, data, probes, record, read)
            .map_err(|error| Mismatch::Invalid { ours: true, error })?;
        let reference = run(self.reference, data, probes, record, read)
            .map_err(|error| Mismatch::Invalid { ours: false, error })?;
        if probes.len() > 4096 {
            probes.sort_unstable();
            probes.dedup();
        }
        if ours != reference {
            return Err(Mismatch::Differ {
                data: *data,
                ours,
                reference,
            });
        }
        Ok(())
    }

    /// Constants compared with `word` since the last call.
    fn take(&mut self, word: usize) -> impl Iterator<Item = Probe> + '_ {
        self.probes.iter().copied().filter(move |p| p.word == word)
    }
}

/// Decides whether `ours` returns what `reference` returns on every input that matters: every
/// arch value either program compares with plus an unknown one; syscall numbers 0..=1023,
/// the x32 range 0x40000000..=0x400003ff, a few extremes and every number either program
/// compares with (±1); and, for a number whose path reads arguments, argument words drawn
/// from the constants the programs compare them with.
pub fn equivalent(ours: &[Insn], reference: &[Insn]) -> Result<(), Mismatch> {
    let mut pair = Pair {
        ours,
        reference,
        probes: Vec::new(),
        record: 1 << ARCH,
        read: 0,
    };
    let arches = discover(&mut pair, ARCH, [0u32].into_iter().collect(), |a| {
        let mut d = [0u32; WORDS];
        d[ARCH] = a;
        d
    })?;
    // Every constant either program jumps on, as a syscall number: a superset of those
    // compared with the number, found without running the linear chains once per number.
    let mut nrs: BTreeSet<u32> = (0..=1023).chain(0x4000_0000..=0x4000_03ff).collect();
    nrs.extend([
        0xffff_ffff,
        0xffff_fffe,
        0x3fff_ffff,
        0x7fff_ffff,
        0x8000_0000,
    ]);
    nrs.extend(
        ours.iter()
            .chain(reference)
            .filter(|i| i.code & 0x07 == 0x05 && i.code != 0x05)
            .flat_map(|i| neighbours(i.k)),
    );
    pair.record = ARG_WORDS;
    for arch in arches {
        for nr in &nrs {
            syscall(&mut pair, arch, *nr)?;
        }
    }
    Ok(())
}

/// Runs inputs made by `input` from values of `word`, starting from `start` and adding every
/// constant the programs compare that word with, until no new value turns up.
fn discover(
    pair: &mut Pair,
    word: usize,
    start: BTreeSet<u32>,
    input: impl Fn(u32) -> [u32; WORDS],
) -> Result<BTreeSet<u32>, Mismatch> {
    let mut values = start;
    let mut pending: Vec<u32> = values.iter().copied().collect();
    while let Some(v) = pending.pop() {
        pair.probes.clear();
        pair.check(&input(v))?;
        let found: Vec<u32> = pair.take(word).map(|p| p.k).collect();
        for k in found {
            if values.insert(k) {
                pending.push(k);
            }
        }
    }
    Ok(values)
}

fn neighbours(k: u32) -> [u32; 3] {
    [k, k.wrapping_sub(1), k.wrapping_add(1)]
}

/// Values worth trying for an argument word compared as `p`.
fn interesting(p: Probe) -> Vec<u32> {
    let mut v = neighbours(p.k).to_vec();
    if p.mask != u32::MAX {
        let low_bit = p.mask & p.mask.wrapping_neg();
        v.extend([p.k | !p.mask, p.k ^ low_bit, p.mask]);
    }
    v
}

/// Checks one (arch, nr): with zero arguments first, then, while the programs compare
/// argument words, over every combination of the values seen for the words they read.
fn syscall(pair: &mut Pair, arch: u32, nr: u32) -> Result<(), Mismatch> {
    let mut base = [0u32; WORDS];
    base[ARCH] = arch;
    base[NR] = nr;
    pair.read = 0;
    pair.probes.clear();
    pair.check(&base)?;
    let mut values: BTreeMap<usize, BTreeSet<u32>> = BTreeMap::new();
    loop {
        let before: usize = values.values().map(BTreeSet::len).sum();
        for w in FIRST_ARG..WORDS {
            if pair.read & (1 << w) != 0 {
                values.entry(w).or_default().extend([0, u32::MAX]);
            }
        }
        for p in pair.probes.iter().filter(|p| p.word >= FIRST_ARG) {
            values.entry(p.word).or_default().extend(interesting(*p));
        }
        let after: usize = values.values().map(BTreeSet::len).sum();
        if after == before {
            return Ok(());
        }
        let total = values
            .values()
            .try_fold(1usize, |n, v| n.checked_mul(v.len()))
            .filter(|n| *n <= MAX_ARG_EVALS)
            .ok_or(Mismatch::TooManyInputs { arch, nr })?;
        pair.probes.clear();
        let words: Vec<(usize, Vec<u32>)> = values
            .iter()
            .map(|(w, v)| (*w, v.iter().copied().collect()))
            .collect();
        for mut i in 0..total {
            let mut data = base;
            for (w, vals) in &words {
                data[*w] = vals[i % vals.len()];
                i /= vals.len();
            }
            pair.check(&data)?;
        }
    }
}
