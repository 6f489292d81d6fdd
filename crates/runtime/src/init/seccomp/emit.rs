//! Code generation for the compact program, back to front: classic BPF only jumps forward,
//! so every jump's target is already emitted when the jump is, and its distance known. A
//! conditional jump reaches 255 instructions; a farther target gets a fresh `ret` (for a
//! return) or a `ja` trampoline next to the jump.

use std::collections::{BTreeMap, HashMap};

use super::compact::{ArchTable, Cmp, Decision, Model, Op};
use super::Insn;

const LD_ABS: u16 = 0x20;
const AND_K: u16 = 0x54;
const JA: u16 = 0x05;
const JEQ: u16 = 0x15;
const JGT: u16 = 0x25;
const JGE: u16 = 0x35;
const RET_K: u16 = 0x06;

const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const OFF_ARGS: u32 = 16;

/// A position in the reversed program: the index of an instruction in `Rev::code`.
type Label = usize;

/// The program, last instruction first.
struct Rev {
    code: Vec<Insn>,
    /// Where a `ret` of each value was last emitted.
    rets: HashMap<u32, Label>,
    /// Searches of an argument word whose leaves are all returns, by word and (start,
    /// return value): a 64-bit argument's low-word search is often a 32-bit ABI's whole one.
    searches: HashMap<(u32, Vec<(u32, u32)>), Label>,
}

impl Rev {
    fn push(&mut self, code: u16, jt: u8, jf: u8, k: u32) -> Label {
        self.code.push(Insn { code, jt, jf, k });
        self.code.len() - 1
    }

    fn ret(&mut self, k: u32) -> Label {
        if let Some(l) = self.rets.get(&k) {
            return *l;
        }
        let l = self.push(RET_K, 0, 0, k);
        self.rets.insert(k, l);
        l
    }

    fn ld(&mut self, off: u32) -> Label {
        self.push(LD_ABS, 0, 0, off)
    }

    /// Instructions between the next one pushed and `l`.
    fn distance(&self, l: Label) -> usize {
        self.code.len() - l - 1
    }

    /// `l`, or a copy of it within a conditional jump's reach from the next instruction: the
    /// latest `ret` of its value, else a new one, or a `ja` to anything else.
    fn near(&mut self, l: Label) -> Label {
        let reach = |rev: &Self, l: Label| rev.distance(l) <= usize::from(u8::MAX);
        if reach(self, l) {
            return l;
        }
        let i = self.code[l];
        if i.code == RET_K {
            if let Some(copy) = self.rets.get(&i.k).copied().filter(|c| reach(self, *c)) {
                return copy;
            }
            let copy = self.push(RET_K, 0, 0, i.k);
            self.rets.insert(i.k, copy);
            return copy;
        }
        let off = u32::try_from(self.distance(l)).unwrap_or(u32::MAX);
        self.push(JA, 0, 0, off)
    }

    /// A conditional jump: to `t` when `A <op> k`, else to `f`.
    fn jump(&mut self, op: u16, k: u32, t: Label, f: Label) -> Label {
        let f = self.near(f);
        let t = self.near(t);
        // A trampoline for `t` may have pushed `f` one further; it was at most 255 away.
        let f = self.near(f);
        let off = |l: Label| u8::try_from(self.distance(l)).unwrap_or(u8::MAX);
        let (jt, jf) = (off(t), off(f));
        self.push(op, jt, jf, k)
    }

    /// A binary search over `segs` (start of each run of values, sorted, the first 0) on
    /// the accumulator: one `jge` per boundary.
    fn search(&mut self, segs: &[(u32, Label)]) -> Label {
        if let [(_, l)] = segs {
            return *l;
        }
        let mid = segs.len() / 2;
        let right = self.search(&segs[mid..]);
        let left = self.search(&segs[..mid]);
        self.jump(JGE, segs[mid].0, right, left)
    }
}

/// What a run of syscall numbers leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leaf {
    Ret(u32),
    /// The argument checks of `blocks[i]`.
    Block(usize),
}

/// The program for `model`.
pub fn program(model: &Model) -> Vec<Insn> {
    let mut rev = Rev {
        code: Vec::new(),
        rets: HashMap::new(),
        searches: HashMap::new(),
    };
    // Argument checks shared between arches (x32's and i386's are alike), by content.
    let mut blocks: HashMap<Decision, Label> = HashMap::new();
    let mut entries = Vec::new();
    for table in model.arches.iter().rev() {
        entries.push((table.token, arch(&mut rev, table, model, &mut blocks)));
    }
    let mut next = rev.ret(model.bad_arch);
    for (token, entry) in entries {
        next = rev.jump(JEQ, token, entry, next);
    }
    rev.ld(OFF_ARCH);
    rev.code.reverse();
    rev.code
}

/// One audit arch's block: a search over its syscall numbers, the argument checks it leads
/// to, and the returns.
fn arch(
    rev: &mut Rev,
    table: &ArchTable,
    model: &Model,
    blocks: &mut HashMap<Decision, Label>,
) -> Label {
    let (leaves, decisions) = runs(table, model);
    // The argument checks last, then the returns, nearest the search.
    let mut labels: Vec<Label> = Vec::new();
    for d in decisions {
        let l = match blocks.get(d) {
            Some(l) => *l,
            None => {
                let l = args(rev, d, model.default);
                blocks.insert(d.clone(), l);
                l
            }
        };
        labels.push(l);
    }
    let segs: Vec<(u32, Label)> = leaves
        .iter()
        .map(|(start, leaf)| {
            let l = match leaf {
                Leaf::Ret(k) => rev.ret(*k),
                Leaf::Block(i) => labels[*i],
            };
            (*start, l)
        })
        .collect();
    rev.search(&segs);
    rev.ld(OFF_NR)
}

/// The runs of syscall numbers of one audit arch, as (first number, leaf) covering
/// 0..=u32::MAX with neighbours apart, and the argument rules the leaves name.
fn runs<'m>(table: &'m ArchTable, model: &Model) -> (Vec<(u32, Leaf)>, Vec<&'m Decision>) {
    let mut runs: BTreeMap<u32, Leaf> = BTreeMap::new();
    let default = Leaf::Ret(model.default);
    runs.insert(0, default);
    let mut decisions: Vec<&Decision> = Vec::new();
    let mark = |runs: &mut BTreeMap<u32, Leaf>, from: u32, to: u32, leaf: Leaf| {
        let after = runs.range(..=to).next_back().map_or(default, |(_, l)| *l);
        let inner: Vec<u32> = runs.range(from..=to).map(|(k, _)| *k).collect();
        for k in inner {
            runs.remove(&k);
        }
        runs.insert(from, leaf);
        if let Some(next) = to.checked_add(1) {
            runs.entry(next).or_insert(after);
        }
    };
    for (lo, hi) in &table.bad {
        mark(&mut runs, *lo, *hi, Leaf::Ret(model.bad_arch));
    }
    for (nr, d) in &table.syscalls {
        let leaf = match d {
            Decision::Ret(a) => Leaf::Ret(*a),
            Decision::Args { .. } => {
                let i = decisions.iter().position(|x| *x == d).unwrap_or_else(|| {
                    decisions.push(d);
                    decisions.len() - 1
                });
                Leaf::Block(i)
            }
        };
        mark(&mut runs, *nr, *nr, leaf);
    }
    let mut leaves: Vec<(u32, Leaf)> = Vec::new();
    for (start, leaf) in runs {
        if leaves.last().is_none_or(|(_, l)| *l != leaf) {
            leaves.push((start, leaf));
        }
    }
    (leaves, decisions)
}

/// The checks of one syscall's argument rules: its action when one alternative holds, else
/// `default`.
fn args(rev: &mut Rev, d: &Decision, default: u32) -> Label {
    let Decision::Args { action, alts, wide } = d else {
        return rev.ret(default);
    };
    let f = rev.ret(default);
    let t = rev.ret(*action);
    if let Some(set) = one_arg_ranges(alts, *wide) {
        return ranges(rev, set, *wide, t, f);
    }
    let mut next_false = f;
    for alt in alts.iter().rev() {
        let mut ok = t;
        for c in alt.iter().rev() {
            ok = cmp(rev, c, *wide, ok, next_false);
        }
        next_false = ok;
    }
    next_false
}

/// The low and high word of `v`.
fn split(v: u64) -> (u32, u32) {
    (v as u32, (v >> 32) as u32)
}

/// One comparison: to `t` when it holds, else to `f`. A 64-bit one compares the high words
/// first, the low words only where those are equal.
fn cmp(rev: &mut Rev, c: &Cmp, wide: bool, t: Label, f: Label) -> Label {
    let off = OFF_ARGS + 8 * u32::from(c.arg);
    let (dlo, dhi) = split(c.datum);
    if let Op::MaskedEq(mask) = c.op {
        let (mlo, mhi) = split(mask);
        let word = |rev: &mut Rev, off: u32, m: u32, d: u32, t: Label, f: Label| match m {
            0 if d == 0 => t,
            0 => f,
            _ => {
                rev.jump(JEQ, d, t, f);
                if m != u32::MAX {
                    rev.push(AND_K, 0, 0, m);
                }
                rev.ld(off)
            }
        };
        let lo = word(rev, off, mlo, dlo, t, f);
        return if wide {
            word(rev, off + 4, mhi, dhi, lo, f)
        } else {
            lo
        };
    }
    // The low word's test, then, for a 64-bit argument, the high word's around it.
    let (op, lo_t, lo_f) = match c.op {
        Op::Eq => (JEQ, t, f),
        Op::Ne => (JEQ, f, t),
        Op::Gt => (JGT, t, f),
        Op::Ge => (JGE, t, f),
        Op::Lt => (JGE, f, t),
        Op::Le => (JGT, f, t),
        Op::MaskedEq(_) => unreachable!("handled above"),
    };
    rev.jump(op, dlo, lo_t, lo_f);
    let lo = rev.ld(off);
    if !wide {
        return lo;
    }
    match c.op {
        Op::Eq => rev.jump(JEQ, dhi, lo, f),
        Op::Ne => rev.jump(JEQ, dhi, lo, t),
        Op::Gt | Op::Ge => {
            let eq = rev.jump(JEQ, dhi, lo, f);
            rev.jump(JGT, dhi, t, eq)
        }
        _ => {
            let eq = rev.jump(JEQ, dhi, lo, t);
            rev.jump(JGT, dhi, f, eq)
        }
    };
    rev.ld(off + 4)
}

/// Inclusive ranges of 64-bit values, sorted and apart.
type Set = Vec<(u64, u64)>;

/// When every alternative is one plain comparison of the same argument: the argument's
/// values that satisfy one, and the argument.
fn one_arg_ranges(alts: &[Vec<Cmp>], wide: bool) -> Option<(u8, Set)> {
    let arg = alts.first()?.first()?.arg;
    let mut set: Set = Vec::new();
    for alt in alts {
        let [c] = alt.as_slice() else { return None };
        // A 32-bit ABI compares the low word with the datum's: a datum past 32 bits is
        // libseccomp's to read.
        if c.arg != arg || (!wide && c.datum > u64::from(u32::MAX)) {
            return None;
        }
        let v = c.datum;
        let max = if wide { u64::MAX } else { u64::from(u32::MAX) };
        let r: Set = match c.op {
            Op::Eq => vec![(v, v)],
            Op::Ne if v == 0 => vec![(1, max)],
            Op::Ne if v == max => vec![(0, max - 1)],
            Op::Ne => vec![(0, v - 1), (v + 1, max)],
            Op::Lt if v == 0 => vec![],
            Op::Lt => vec![(0, v - 1)],
            Op::Le => vec![(0, v)],
            Op::Gt if v == max => vec![],
            Op::Gt => vec![(v + 1, max)],
            Op::Ge => vec![(v, max)],
            Op::MaskedEq(_) => return None,
        };
        set.extend(r);
    }
    set.sort_unstable();
    let mut merged: Set = Vec::new();
    for (lo, hi) in set {
        match merged.last_mut() {
            Some((_, end)) if lo <= end.saturating_add(1) => *end = (*end).max(hi),
            _ => merged.push((lo, hi)),
        }
    }
    Some((arg, merged))
}

/// A search for the argument's value among `set`'s ranges: `t` inside, `f` outside. A
/// 64-bit argument is searched by high word, then by low word where a high word is
/// partly inside.
fn ranges(rev: &mut Rev, (arg, set): (u8, Set), wide: bool, t: Label, f: Label) -> Label {
    let off = OFF_ARGS + 8 * u32::from(arg);
    if !wide {
        let lo = runs32(&set, 0, t, f);
        return search_word(rev, off, &lo);
    }
    // High words where the set starts or ends: the only ones partly inside.
    let mut bounds: Vec<u32> = vec![0];
    for (lo, hi) in &set {
        for v in [*lo, *hi] {
            let h = split(v).1;
            bounds.push(h);
            if let Some(n) = h.checked_add(1) {
                bounds.push(n);
            }
        }
    }
    bounds.sort_unstable();
    bounds.dedup();
    let mut segs: Vec<(u32, Label)> = Vec::new();
    for (i, h) in bounds.iter().enumerate() {
        let next = bounds
            .get(i + 1)
            .map_or(u64::from(u32::MAX) + 1, |n| u64::from(*n));
        let whole = (u64::from(*h) << 32, (next << 32).wrapping_sub(1));
        let l = if contains(&set, whole) {
            t
        } else if next == u64::from(*h) + 1 && overlaps(&set, whole) {
            let lo = runs32(&set, u64::from(*h) << 32, t, f);
            search_word(rev, off, &lo)
        } else {
            f
        };
        if segs.last().is_none_or(|(_, p)| *p != l) {
            segs.push((*h, l));
        }
    }
    search_word(rev, off + 4, &segs)
}

fn search_word(rev: &mut Rev, off: u32, segs: &[(u32, Label)]) -> Label {
    if let [(_, l)] = segs {
        return *l;
    }
    let key: Option<Vec<(u32, u32)>> = segs
        .iter()
        .map(|(s, l)| {
            let i = rev.code[*l];
            (i.code == RET_K).then_some((*s, i.k))
        })
        .collect();
    if let Some(l) = key
        .as_ref()
        .and_then(|k| rev.searches.get(&(off, k.clone())))
    {
        return *l;
    }
    rev.search(segs);
    let l = rev.ld(off);
    if let Some(k) = key {
        rev.searches.insert((off, k), l);
    }
    l
}

/// `set` within `[base, base + 2^32)` as runs of the low word: (start, t or f).
fn runs32(set: &Set, base: u64, t: Label, f: Label) -> Vec<(u32, Label)> {
    let top = base + u64::from(u32::MAX);
    let mut segs: Vec<(u32, Label)> = vec![(0, f)];
    for (lo, hi) in set.iter().filter(|(lo, hi)| *hi >= base && *lo <= top) {
        let (s, e) = ((*lo).max(base) - base, (*hi).min(top) - base);
        segs.push((s as u32, t));
        if e < u64::from(u32::MAX) {
            segs.push((e as u32 + 1, f));
        }
    }
    // Later entries at one start win (a range starting at 0 replaces the leading `f`).
    let mut out: Vec<(u32, Label)> = Vec::new();
    for (s, l) in segs {
        match out.last_mut() {
            Some((ps, pl)) if *ps == s => *pl = l,
            _ => out.push((s, l)),
        }
    }
    out.dedup_by(|b, a| a.1 == b.1);
    out
}

fn contains(set: &Set, (lo, hi): (u64, u64)) -> bool {
    set.iter().any(|(a, b)| *a <= lo && hi <= *b)
}

fn overlaps(set: &Set, (lo, hi): (u64, u64)) -> bool {
    set.iter().any(|(a, b)| *a <= hi && lo <= *b)
}
