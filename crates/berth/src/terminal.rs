//! Our end of `run` (foreground), `start -a`, `attach` and `exec`: the engine takes streams,
//! the terminal is ours. While attached, a terminal is in raw mode (with `-t`), its size is
//! sent at the start and on every SIGWINCH, and with docker's sig-proxy SIGINT, SIGTERM,
//! SIGHUP and SIGQUIT go to the container instead of ending us.

use std::os::fd::AsFd;
use std::sync::mpsc::{self, Sender};

use berth_engine::container::{ProcessControl, ProcessIo};
use berth_runtime::stdio::pty;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

/// What the attached process gets of ours.
#[derive(Debug, Clone, Copy, Default)]
pub struct Attach {
    /// Forward our stdin (`-i`).
    pub stdin: bool,
    /// The process has a terminal (`-t`): raw mode and resizes.
    pub tty: bool,
    /// Forward SIGINT, SIGTERM, SIGHUP and SIGQUIT to it (docker's `--sig-proxy`; only
    /// without a terminal, where ^C is a byte for the process instead).
    pub sig_proxy: bool,
}

/// Restores the terminal when dropped.
#[derive(Debug)]
pub struct Attached {
    _raw: Option<pty::RawMode>,
}

/// Our stdio as the streams of an attach or exec, and the terminal set up for it.
pub fn streams(opts: Attach) -> anyhow::Result<(ProcessIo, Attached)> {
    let stdin = std::io::stdin();
    let mut io = ProcessIo::new(Box::new(std::io::stdout()), Box::new(std::io::stderr()));
    if opts.stdin {
        // Unbuffered: what the user typed goes on at once.
        let fd = stdin.as_fd().try_clone_to_owned()?;
        io.stdin = Some(Box::new(std::fs::File::from(fd)));
    }
    let raw = if opts.tty && opts.stdin && pty::is_tty(stdin.as_fd()) {
        Some(pty::RawMode::enter(stdin.as_fd())?)
    } else {
        None
    };
    let proxy = opts.sig_proxy && !opts.tty;
    if opts.tty || proxy {
        let (tx, rx) = mpsc::channel();
        forward_signals(tx, opts.tty, proxy)?;
        io.control = Some(rx);
    }
    Ok((io, Attached { _raw: raw }))
}

/// Rows and columns of the terminal on our stdout, if it is one with a size.
pub fn size() -> Option<(u16, u16)> {
    pty::get_winsize(std::io::stdout().as_fd())
        .ok()
        .filter(|(rows, cols)| *rows > 0 && *cols > 0)
}

/// Sends our terminal's size now and after every SIGWINCH (`resize`), and the proxied signals
/// (`proxy`), from a thread of its own that ends with the process.
fn forward_signals(tx: Sender<ProcessControl>, resize: bool, proxy: bool) -> anyhow::Result<()> {
    let size = || {
        pty::get_winsize(std::io::stdout().as_fd())
            .ok()
            .map(|(rows, cols)| ProcessControl::Resize { rows, cols })
    };
    if resize {
        if let Some(r) = size() {
            let _ = tx.send(r);
        }
    }
    // Blocked before the engine starts its threads, so that every thread inherits the block
    // and each signal waits for the signalfd instead of its default action.
    let mut mask = SigSet::empty();
    if resize {
        mask.add(Signal::SIGWINCH);
    }
    if proxy {
        for sig in [
            Signal::SIGINT,
            Signal::SIGTERM,
            Signal::SIGHUP,
            Signal::SIGQUIT,
        ] {
            mask.add(sig);
        }
    }
    mask.thread_block()?;
    let sigfd = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC)?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            while let Ok(Some(info)) = sigfd.read_signal() {
                let sig = info.ssi_signo as i32;
                let msg = if sig == Signal::SIGWINCH as i32 {
                    match size() {
                        Some(r) => r,
                        None => continue,
                    }
                } else {
                    ProcessControl::Signal(sig)
                };
                if tx.send(msg).is_err() {
                    return;
                }
            }
        })?;
    Ok(())
}

/// Turns SIGINT, SIGTERM and SIGHUP into `cancel` for a long call that cleans up after itself
/// (a build kills its RUN containers) instead of dying half-way.
pub fn cancel_on_signals(cancel: berth_engine::Cancel) -> anyhow::Result<()> {
    let mut mask = SigSet::empty();
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        mask.add(sig);
    }
    mask.thread_block()?;
    let sigfd = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC)?;
    std::thread::Builder::new()
        .name("cancel".into())
        .spawn(move || {
            // The first signal cancels; a second one (the user gave up waiting) ends us.
            if let Ok(Some(_)) = sigfd.read_signal() {
                cancel.cancel();
            }
            if let Ok(Some(_)) = sigfd.read_signal() {
                std::process::exit(130);
            }
        })?;
    Ok(())
}
