//! `berth exec [-it] [-d] [-e K=V] [-w DIR] [-u USER] CONTAINER COMMAND [ARG...]`, and the
//! hidden `berth exec-shim ID EXEC_ID` that the engine starts for each exec.
//!
//! The engine takes streams; the terminal is ours: raw mode while a `-it` exec runs, its size
//! sent at the start and on every SIGWINCH. As with docker, ^C without `-t` ends the CLI and
//! leaves the process running; with `-t` it is a byte for the process's terminal.

use berth_engine::container::exec_shim::{self, ShimOptions};
use berth_engine::container::flags;
use berth_engine::container::{ExecOptions, ProcessIo};
use berth_engine::{Engine, EngineError};

use crate::cli::{ExecArgs, ExecShimArgs};
use crate::parse::our_env;
use crate::terminal;
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
        env: args
            .env
            .iter()
            .filter_map(|e| flags::env_arg(e, our_env))
            .collect(),
        workdir: args.workdir.clone(),
        user: args.user.clone(),
        tty: args.tty,
        interactive: args.interactive,
        detach: args.detach,
        console_size: args.tty.then(crate::terminal::size).flatten(),
    };
    let result = if opts.detach {
        let io = ProcessIo::new(Box::new(std::io::sink()), Box::new(std::io::sink()));
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
    let (io, _terminal) = terminal::streams(terminal::Attach {
        stdin: opts.interactive,
        tty: opts.tty,
        // As docker: ^C ends the CLI, not the exec'd process.
        sig_proxy: false,
    })?;
    Ok(engine.exec(container, opts, io))
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
