//! Signal state for the processes we start. A container's init is a clone of the process that
//! creates it (the monitor, the exec shim) and keeps, across its exec, every signal that process
//! ignores or blocks: the Rust runtime ignores SIGPIPE, and a monitor blocks SIGCHLD for its
//! signalfd. A container must start as docker's do — default dispositions, nothing blocked —
//! or `yes | head -c 1` never ends and a SIGCHLD handler never runs.
#![allow(unsafe_code)]

use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal};

/// Runs `f` (which clones a container's processes) with SIGPIPE at its default disposition and
/// no signal blocked, then restores both. The caller must be single-threaded (the monitor and
/// the exec shim are): dispositions are per process.
pub fn with_default_signals<T>(f: impl FnOnce() -> T) -> T {
    let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    // SAFETY: installing SIG_DFL runs no handler code; the previous action is restored below.
    let old_pipe = unsafe { sigaction(Signal::SIGPIPE, &default) }.ok();
    let old_mask = SigSet::empty()
        .thread_swap_mask(SigmaskHow::SIG_SETMASK)
        .ok();
    let out = f();
    if let Some(mask) = old_mask {
        let _ = mask.thread_set_mask();
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
        assert!(SigSet::thread_get_mask().unwrap().contains(Signal::SIGUSR2));
        blocked.thread_unblock().unwrap();
    }
}
