//! `berth exec [-it] [-d] [-e K=V] [-w DIR] [-u USER] CONTAINER COMMAND [ARG...]`.

use berth_engine::container::ExecOptions;
use berth_engine::{Engine, EngineError};

use crate::cli::ExecArgs;
use crate::parse;
use crate::Exit;

pub fn run(engine: &mut Engine, args: ExecArgs) -> anyhow::Result<()> {
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
    match engine.exec(container, &opts) {
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
