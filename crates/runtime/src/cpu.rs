//! Keeping the hand-off to a freshly made process on the CPU that makes it.
//!
//! A start hands work from process to process (the CLI to its monitor, the monitor to the
//! container's init), and each hands off to a *new* task, which the scheduler places on the
//! idlest CPU. On a virtual machine that CPU is usually a halted vCPU, and waking it costs the
//! host's scheduling latency: measured on this project's 2-vCPU VM, a child of `clone` began
//! to run 0.5–0.9 ms after the call on another CPU, 0.09 ms on the parent's own (the parent
//! waits for the child at once, so the child loses nothing by sharing its CPU).
//!
//! So the maker pins itself to its current CPU around the `clone`/`fork` ([`pin_here`]); the
//! child inherits the pin and runs there as soon as the maker blocks, and both put the
//! original affinity back at once ([`Pinned`]'s drop in the maker, [`Pinned::restore_raw`]
//! in a child that must not allocate), before anything the user runs: the container's
//! processes get the affinity they would have had.
#![allow(unsafe_code)]

/// The affinity a process had before [`pin_here`]; dropping it restores it.
#[derive(Debug)]
pub struct Pinned {
    original: libc::cpu_set_t,
}

/// Pins the calling thread to the CPU it runs on. `None` when the CPU or the affinity cannot
/// be read (then nothing changed).
pub fn pin_here() -> Option<Pinned> {
    // SAFETY: `sched_getcpu` takes no arguments.
    let cpu = unsafe { libc::sched_getcpu() };
    let cpu = usize::try_from(cpu).ok()?;
    // SAFETY: `cpu_set_t` is plain bits; all-zero is the empty set.
    let mut original: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: a valid pointer to a set of the size given.
    if unsafe { libc::sched_getaffinity(0, size, &mut original) } != 0 {
        return None;
    }
    // SAFETY: as above.
    let mut here: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    if cpu >= libc::CPU_SETSIZE as usize {
        return None;
    }
    // SAFETY: `cpu` is within the set (checked above).
    unsafe { libc::CPU_SET(cpu, &mut here) };
    // SAFETY: a valid pointer to a set of the size given.
    if unsafe { libc::sched_setaffinity(0, size, &here) } != 0 {
        return None;
    }
    Some(Pinned { original })
}

impl Pinned {
    /// Restores the original affinity in a child of the pinned process (a copy of this value
    /// is in its memory): one syscall, no allocation, no lock — safe between fork and exec.
    pub fn restore_raw(&self) {
        // SAFETY: a valid pointer to a set of the size given.
        unsafe {
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &self.original);
        }
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        self.restore_raw();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn affinity() -> Vec<usize> {
        // SAFETY: plain bits, and a valid pointer to a set of the size given.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        let size = std::mem::size_of::<libc::cpu_set_t>();
        assert_eq!(unsafe { libc::sched_getaffinity(0, size, &mut set) }, 0);
        (0..libc::CPU_SETSIZE as usize)
            // SAFETY: every index is within the set.
            .filter(|c| unsafe { libc::CPU_ISSET(*c, &set) })
            .collect()
    }

    #[test]
    fn pinning_holds_one_cpu_and_dropping_restores_the_original() {
        // A thread of its own: the harness's threads keep their affinity whatever happens.
        std::thread::spawn(|| {
            let before = affinity();
            let pinned = pin_here().expect("pin");
            let during = affinity();
            assert_eq!(during.len(), 1, "{during:?}");
            assert!(before.contains(&during[0]));
            drop(pinned);
            assert_eq!(affinity(), before);
        })
        .join()
        .unwrap();
    }
}
