//! `berth exec [-it] [-d] [-e K=V] [-w DIR] [-u USER] CONTAINER COMMAND [ARG...]`, and the
//! hidden `berth exec-shim ID EXEC_ID` that the engine starts for each exec.
//!
//! The engine takes streams; the terminal is ours: raw mode while a `-it` exec runs, its size
//! sent at the start and on every SIGWINCH. As with docker, ^C without `-t` ends the CLI and
//! leaves the process running; with `-t` it is a byte for the process's terminal.

use std::os::fd::AsFd;
use std::sync::mpsc::{self, Sender};

use berth_engine::container::exec_shim::{self, ShimOptions};
use berth_engine::container::{ExecControl, ExecIo, ExecOptions};
use berth_engine::{Engine, EngineError};
use berth_runtime::stdio::pty;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use crate::cli::{ExecArgs, ExecShimArgs};
use crate::parse;
use crate::Exit;

pub fn run(engine: &Engine, args: ExecArgs) -> anyhow::Result<()> {
    let (container, cmd) = args
        .container_and_command
        .split_first()
        .ok_or_else(|| anyhow::anyhow!("\"exec\" requires at least 2 arguments"))?;
    if args.privileged {
        anyhow::bail!(
            "exec --privileged is not supported: start the container with --privileged instead"
        );
    }
    let opts = ExecOptions {
        cmd: cmd.to_vec(),
        env: args.env.iter().filter_map(|e| parse::env_arg(e)).collect(),
        workdir: args.workdir.clone(),
        user: args.user.clone(),
        tty: args.tty,
        interactive: args.interactive,
        detach: args.detach,
    };
    let result = if opts.detach {
        let io = ExecIo::new(Box::new(std::io::sink()), Box::new(std::io::sink()));
        engine.exec(container, &opts, io)
    } else {
        exec_attached(engine, container, &opts)?
    };
    match result {
        Ok(0) => Ok(()),
        Ok(code) => Err(Exit::code(u8::try_from(code & 0xff).unwrap_or(1)).into()),
        Err(EngineError::StartFailed { code, message, .. }) => Err(Exit {
            code: u8::try_from(code).unwrap_or(126),
            message: Some(message),
        }
        .into()),
        Err(e) => Err(e.into()),
    }
}

/// Runs the exec with our stdio; the terminal in raw mode and its size followed with `-it`.
fn exec_attached(
    engine: &Engine,
    container: &str,
    opts: &ExecOptions,
) -> anyhow::Result<Result<i32, EngineError>> {
    let stdin = std::io::stdin();
    let mut io = ExecIo::new(Box::new(std::io::stdout()), Box::new(std::io::stderr()));
    if opts.interactive {
        // Unbuffered: what the user typed goes on at once.
        let fd = stdin.as_fd().try_clone_to_owned()?;
        io.stdin = Some(Box::new(std::fs::File::from(fd)));
    }
    let _raw = if opts.tty && opts.interactive && pty::is_tty(stdin.as_fd()) {
        Some(pty::RawMode::enter(stdin.as_fd())?)
    } else {
        None
    };
    if opts.tty {
        let (tx, rx) = mpsc::channel();
        follow_window_size(tx)?;
        io.control = Some(rx);
    }
    Ok(engine.exec(container, opts, io))
}

/// Sends our terminal's size now and after every SIGWINCH, from a thread of its own, which
/// ends with the process.
fn follow_window_size(tx: Sender<ExecControl>) -> anyhow::Result<()> {
    let resize = || {
        pty::get_winsize(std::io::stdout().as_fd())
            .ok()
            .map(|(rows, cols)| ExecControl::Resize { rows, cols })
    };
    if let Some(r) = resize() {
        let _ = tx.send(r);
    }
    // Blocked before any thread starts, so that every thread inherits the block and the
    // signal waits for the signalfd instead of being discarded.
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGWINCH);
    mask.thread_block()?;
    let sigfd = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC)?;
    std::thread::Builder::new()
        .name("exec-winch".into())
        .spawn(move || {
            while let Ok(Some(_)) = sigfd.read_signal() {
                if let Some(r) = resize() {
                    if tx.send(r).is_err() {
                        return;
                    }
                }
            }
        })?;
    Ok(())
}

/// `berth exec-shim ID EXEC_ID`: started by the engine, never by hand.
pub fn shim(engine: &Engine, args: ExecShimArgs) -> anyhow::Result<()> {
    let opts = ShimOptions {
        stdin: args.stdin,
        detach: args.detach,
    };
    let code = exec_shim::run(
        engine,
        &args.id,
        &args.exec_id,
        opts,
        &mut std::io::stdout(),
    );
    if code == 0 {
        Ok(())
    } else {
        Err(Exit::code(u8::try_from(code).unwrap_or(1)).into())
    }
}
