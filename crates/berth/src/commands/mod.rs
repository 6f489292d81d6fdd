//! One file per verb; `run` dispatches.

mod history;
mod images;
mod import;
mod inspect;
mod load;
mod prune;
mod rmi;
mod save;
mod system;
mod tag;

use berth_engine::{Engine, EngineConfig};

use crate::cli::{Cli, Command, ImageCommand, SystemCommand};

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let open = || -> anyhow::Result<Engine> {
        Engine::open(EngineConfig::new(&cli.root)).map_err(Into::into)
    };
    match cli.command {
        Command::Images(a) | Command::Image(ImageCommand::Ls(a)) => images::run(&mut open()?, a),
        Command::Tag(a) | Command::Image(ImageCommand::Tag(a)) => tag::run(&mut open()?, a),
        Command::Rmi(a) | Command::Image(ImageCommand::Rm(a)) => rmi::run(&mut open()?, a),
        Command::Inspect(a) | Command::Image(ImageCommand::Inspect(a)) => {
            inspect::run(&mut open()?, a)
        }
        Command::History(a) | Command::Image(ImageCommand::History(a)) => {
            history::run(&mut open()?, a)
        }
        Command::Import(a) | Command::Image(ImageCommand::Import(a)) => {
            import::run(&mut open()?, a)
        }
        Command::Save(a) | Command::Image(ImageCommand::Save(a)) => save::run(&mut open()?, a),
        Command::Load(a) | Command::Image(ImageCommand::Load(a)) => load::run(&mut open()?, a),
        Command::Image(ImageCommand::Prune(a)) => prune::run(&mut open()?, a),
        Command::System(SystemCommand::Df(a)) => system::df(&mut open()?, a),
        Command::System(SystemCommand::Check) => system::check(&mut open()?),
    }
}

/// Runs `f` for each name, printing each failure as docker does and going on; fails at the
/// end if any did.
pub fn for_each_name(
    names: &[String],
    mut f: impl FnMut(&str) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut failed = false;
    for name in names {
        if let Err(e) = f(name) {
            eprintln!("Error: {e:#}");
            failed = true;
        }
    }
    if failed {
        Err(crate::Exit::code(1).into())
    } else {
        Ok(())
    }
}
