//! Signal state for the processes we start. A container's init is a clone of the process that
//! creates it (the monitor, the exec shim) and keeps, across its exec, every signal that process
//! ignores or blocks: the Rust runtime ignores SIGPIPE, a monitor blocks SIGCHLD for its
//! signalfd, and glibc's `posix_spawn` (how `std::process::Command` starts the monitor and the
//! shim) leaves its two internal signals, 32 and 33, ignored in the program it starts. A
//! container must start as docker's do — default dispositions, nothing blocked — or `yes |
//! head -c 1` never ends, a SIGCHLD handler never runs, and a program that uses 32 or 33 as
//! real-time signals (a JVM, a Go runtime on another libc) finds them ignored.
#![allow(unsafe_code)]

use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal};

/// glibc's internal signals (`SIGCANCEL`, `SIGSETXID`): its `sigaction` refuses to touch
/// them, so they are set with the raw system call.
const GLIBC_INTERNAL: [libc::c_int; 2] = [32, 33];

/// The kernel's `struct sigaction` (x86_64 and aarch64 both define `SA_RESTORER`).
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct KernelSigaction {
    handler: usize,
    flags: libc::c_ulong,
    restorer: usize,
    mask: u64,
}

/// `SIG_DFL`, no flags, nothing masked.
pub(crate) const DEFAULT_ACTION: KernelSigaction = KernelSigaction {
    handler: 0,
    flags: 0,
    restorer: 0,
    mask: 0,
};

/// `rt_sigaction(sig, new, old)` without libc's filter; false on failure. Async-signal-safe
/// and allocation-free: a cloned child may call it.
pub(crate) fn raw_sigaction(
    sig: libc::c_int,
    new: Option<&KernelSigaction>,
    old: Option<&mut KernelSigaction>,
) -> bool {
    let new = new.map_or(std::ptr::null(), |n| n as *const KernelSigaction);
    let old = old.map_or(std::ptr::null_mut(), |o| o as *mut KernelSigaction);
    // SAFETY: both pointers are null or point at live structs of the kernel's layout; the
    // last argument is the size of the kernel's sigset (64 signals).
    unsafe { libc::syscall(libc::SYS_rt_sigaction, sig, new, old, 8usize) == 0 }
}

/// Runs `f` (which clones a container's processes) with SIGPIPE and glibc's internal signals
/// at their default dispositions and no signal blocked, then restores all three and the mask.
/// The caller must be single-threaded (the monitor and the exec shim are): dispositions are
/// per process.
pub fn with_default_signals<T>(f: impl FnOnce() -> T) -> T {
    let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    // SAFETY: installing SIG_DFL runs no handler code; the previous action is restored below.
    let old_pipe = unsafe { sigaction(Signal::SIGPIPE, &default) }.ok();
    let mut old_internal = [DEFAULT_ACTION; 2];
    let reset: Vec<bool> = GLIBC_INTERNAL
        .iter()
        .zip(old_internal.iter_mut())
        .map(|(sig, old)| raw_sigaction(*sig, Some(&DEFAULT_ACTION), Some(old)))
        .collect();
    let old_mask = SigSet::empty()
        .thread_swap_mask(SigmaskHow::SIG_SETMASK)
        .ok();
    let out = f();
    if let Some(mask) = old_mask {
        let _ = mask.thread_set_mask();
    }
    for ((sig, old), done) in GLIBC_INTERNAL.iter().zip(&old_internal).zip(reset) {
        if done {
            raw_sigaction(*sig, Some(old), None);
        }
    }
    if let Some(action) = old_pipe {
        // SAFETY: puts back the action that was installed before (SIG_IGN from the runtime).
        let _ = unsafe { sigaction(Signal::SIGPIPE, &action) };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispositions_and_mask_are_default_inside_and_restored_after() {
        let mut blocked = SigSet::empty();
        blocked.add(Signal::SIGUSR2);
        blocked.thread_block().unwrap();
        let inside = with_default_signals(|| {
            let mask = SigSet::thread_get_mask().unwrap();
            let ignore = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
            // SAFETY: reads the current action by swapping in SIG_IGN and back.
            let pipe = unsafe { sigaction(Signal::SIGPIPE, &ignore) }.unwrap();
            // SAFETY: restores the action just read.
            unsafe { sigaction(Signal::SIGPIPE, &pipe) }.unwrap();
            (mask.contains(Signal::SIGUSR2), pipe.handler())
        });
        assert_eq!(inside, (false, SigHandler::SigDfl));
        // glibc's internal signals too (posix_spawn leaves them ignored in what it starts).
        let ignore = KernelSigaction {
            handler: 1,
            ..DEFAULT_ACTION
        };
        assert!(raw_sigaction(33, Some(&ignore), None));
        let handler = with_default_signals(|| {
            let mut now = DEFAULT_ACTION;
            raw_sigaction(33, None, Some(&mut now));
            now.handler
        });
        assert_eq!(handler, 0, "SIG_DFL inside");
        let mut after = DEFAULT_ACTION;
        raw_sigaction(33, Some(&DEFAULT_ACTION), Some(&mut after));
        assert_eq!(after.handler, 1, "SIG_IGN again after");
        assert!(SigSet::thread_get_mask().unwrap().contains(Signal::SIGUSR2));
        blocked.thread_unblock().unwrap();
    }
}
