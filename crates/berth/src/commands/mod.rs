//! One file per verb; `run` dispatches.

mod build;
mod completion;
mod distribution;
mod events;
mod exec;
mod files;
mod history;
mod images;
mod import;
pub mod init;
mod inspect;
mod kube;
mod lifecycle;
mod load;
mod logs;
mod monitor;
mod network;
mod pod;
mod port;
mod prune;
mod ps;
mod registry_admin;
mod rmi;
mod run;
mod save;
mod search;
mod serve;
mod start;
mod system;
mod tag;
mod update;
mod version;
mod volume;

use berth_engine::{Engine, EngineConfig};

use crate::cli::{Cli, Command, ContainerCommand, ImageCommand, SystemCommand};

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let open = || -> anyhow::Result<Engine> {
        let mut config = EngineConfig::new(&cli.root);
        config.run_root = cli.run_root.clone();
        net_settings(&cli.root, &mut config.net)?;
        Engine::open(config).map_err(Into::into)
    };
    use ContainerCommand as C;
    match cli.command {
        Command::Images(a) | Command::Image(ImageCommand::Ls(a)) => images::run(&open()?, a),
        Command::Tag(a) | Command::Image(ImageCommand::Tag(a)) => tag::run(&open()?, a),
        Command::Rmi(a) | Command::Image(ImageCommand::Rm(a)) => rmi::run(&open()?, a),
        Command::Inspect(a) => inspect::run(&open()?, a),
        Command::Image(ImageCommand::Inspect(a)) => inspect::run_as(&open()?, a, Some("image")),
        Command::History(a) | Command::Image(ImageCommand::History(a)) => history::run(&open()?, a),
        Command::Import(a) | Command::Image(ImageCommand::Import(a)) => import::run(&open()?, a),
        Command::Save(a) | Command::Image(ImageCommand::Save(a)) => save::run(&open()?, a),
        Command::Load(a) | Command::Image(ImageCommand::Load(a)) => load::run(&open()?, a),
        Command::Image(ImageCommand::Prune(a)) => prune::run(&open()?, a),
        Command::System(SystemCommand::Df(a)) => system::df(&open()?, a),
        Command::System(SystemCommand::Check(a)) => system::check(&open()?, a),
        Command::System(SystemCommand::Prune(a)) => system::prune(&open()?, a),
        Command::Info(a) | Command::System(SystemCommand::Info(a)) => {
            version::info(a, crate::privilege::check(&cli.root, &cli.run_root), open)
        }
        Command::Version(a) => {
            version::version(a, crate::privilege::check(&cli.root, &cli.run_root))
        }
        Command::Completion(a) => completion::run(a),
        Command::Run(a) | Command::Container(C::Run(a)) => run::run(&open()?, a),
        Command::Build(a) => build::run(&open()?, a),
        Command::Init(a) => init::run(a),
        Command::Pull(a) => distribution::pull(&open()?, a),
        Command::Push(a) => distribution::push(&open()?, a),
        Command::Login(a) => distribution::login(&open()?, a),
        Command::Logout(a) => distribution::logout(&open()?, a),
        Command::Registry(c) => distribution::registry(c),
        Command::Serve(a) => serve::run(open()?, a),
        Command::Builder(crate::cli::BuilderCommand::Prune(a)) => build::prune(&open()?, a),
        Command::Create(a) | Command::Container(C::Create(a)) => run::create(&open()?, a),
        Command::Start(a) | Command::Container(C::Start(a)) => start::run(&open()?, a),
        Command::Ps(a) | Command::Container(C::Ls(a)) => ps::run(&open()?, a),
        Command::Logs(a) | Command::Container(C::Logs(a)) => logs::run(&open()?, a),
        Command::Exec(a) | Command::Container(C::Exec(a)) => exec::run(&open()?, a),
        Command::Stop(a) | Command::Container(C::Stop(a)) => lifecycle::stop(&open()?, a),
        Command::Restart(a) | Command::Container(C::Restart(a)) => lifecycle::restart(&open()?, a),
        Command::Kill(a) | Command::Container(C::Kill(a)) => lifecycle::kill(&open()?, a),
        Command::Rm(a) | Command::Container(C::Rm(a)) => lifecycle::rm(&open()?, a),
        Command::Wait(a) | Command::Container(C::Wait(a)) => lifecycle::wait(&open()?, a),
        Command::Attach(a) | Command::Container(C::Attach(a)) => lifecycle::attach(&open()?, a),
        Command::Container(C::Prune(a)) => lifecycle::prune(&open()?, a),
        Command::Container(C::Inspect(a)) => inspect::run_as(&open()?, a, Some("container")),
        Command::Monitor(a) => monitor::run(&open()?, a),
        Command::ExecShim(a) => exec::shim(&open()?, a),
        Command::Port(a) | Command::Container(C::Port(a)) => port::run(&open()?, a),
        Command::Commit(a) | Command::Container(C::Commit(a)) => files::commit(&open()?, a),
        Command::Cp(a) | Command::Container(C::Cp(a)) => files::cp(&open()?, a),
        Command::Diff(a) | Command::Container(C::Diff(a)) => files::diff(&open()?, a),
        Command::Export(a) | Command::Container(C::Export(a)) => files::export(&open()?, a),
        Command::Rename(a) | Command::Container(C::Rename(a)) => {
            open()?.rename_container(&a.container, &a.new_name)?;
            Ok(())
        }
        Command::Pause(a) | Command::Container(C::Pause(a)) => files::pause(&open()?, a, true),
        Command::Unpause(a) | Command::Container(C::Unpause(a)) => files::pause(&open()?, a, false),
        Command::Top(a) | Command::Container(C::Top(a)) => files::top(&open()?, a),
        Command::Stats(a) | Command::Container(C::Stats(a)) => files::stats(&open()?, a),
        Command::Update(a) | Command::Container(C::Update(a)) => update::run(&open()?, a),
        Command::Search(a) => search::run(&open()?, a),
        Command::Network(c) => network::run(&open()?, c),
        Command::Volume(c) => volume::run(&open()?, c),
        Command::Pod(c) => pod::run(&open()?, c),
        Command::Kube(c) => kube::run(&open()?, c),
        Command::Events(a) | Command::System(SystemCommand::Events(a)) => events::run(&open()?, a),
    }
}

/// Networking settings: the default root keeps the names users know (`berth0`, table
/// `berth`); any other root gets its own (see `berth_net::NetSettings`). The environment may
/// name them explicitly; the root records them, so its monitors need no environment.
fn net_settings(root: &std::path::Path, net: &mut berth_net::NetSettings) -> anyhow::Result<()> {
    if is_default_root(root) {
        net.scope = berth_net::NetScope::Default;
    }
    if let Ok(b) = std::env::var("BERTH_BRIDGE") {
        net.bridge = Some(b);
    }
    if let Ok(s) = std::env::var("BERTH_SUBNET") {
        let subnet = s
            .parse()
            .map_err(|e| anyhow::anyhow!("BERTH_SUBNET={s}: {e}"))?;
        net.subnet = Some(subnet);
    }
    if let Ok(s) = std::env::var("BERTH_NET_POOL") {
        let pool = s
            .parse()
            .map_err(|e| anyhow::anyhow!("BERTH_NET_POOL={s}: {e}"))?;
        net.pool = Some(pool);
    }
    if let Ok(t) = std::env::var("BERTH_NFT_TABLE") {
        net.table = Some(t);
    }
    Ok(())
}

/// Whether `root` is the machine's main root, `/var/lib/berth` (however it is spelled).
fn is_default_root(root: &std::path::Path) -> bool {
    // The default of `--root` (crates/berth/src/cli.rs).
    let default = std::path::Path::new("/var/lib/berth");
    root == default
        || std::fs::canonicalize(root)
            .ok()
            .zip(std::fs::canonicalize(default).ok())
            .is_some_and(|(a, b)| a == b)
}

/// docker's prune prompt: true when the user answers yes.
pub fn confirm(warning: &str) -> anyhow::Result<bool> {
    use std::io::{BufRead, Write};
    eprint!("{warning}\nAre you sure you want to continue? [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
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

/// A warning from the engine, as docker's CLI prints one.
pub(crate) fn print_warning(w: &str) {
    eprintln!("WARNING: {w}");
}
