//! `stop`, `restart`, `kill`, `rm`, `wait`, `attach`, `container prune`.

use berth_engine::Engine;
use berth_store::ContainerState;

use crate::cli::{AttachArgs, ContainerPruneArgs, KillArgs, NamesArgs, RmArgs, StopArgs};
use crate::output::write_out;
use crate::terminal;
use crate::units::human_size;
use crate::Exit;

pub fn stop(engine: &Engine, args: StopArgs) -> anyhow::Result<()> {
    super::for_each_name(&args.containers, |name| {
        if let Some(sig) = &args.signal {
            engine.kill_container(name, sig)?;
        }
        engine.stop_container(name, args.time)?;
        write_out(&format!("{name}\n"))
    })
}

pub fn restart(engine: &Engine, args: StopArgs) -> anyhow::Result<()> {
    super::for_each_name(&args.containers, |name| {
        engine.restart_container(name, args.time)?;
        write_out(&format!("{name}\n"))
    })
}

pub fn kill(engine: &Engine, args: KillArgs) -> anyhow::Result<()> {
    super::for_each_name(&args.containers, |name| {
        engine.kill_container(name, &args.signal)?;
        write_out(&format!("{name}\n"))
    })
}

pub fn rm(engine: &Engine, args: RmArgs) -> anyhow::Result<()> {
    super::for_each_name(&args.containers, |name| {
        engine.remove_container(name, args.force, args.volumes)?;
        write_out(&format!("{name}\n"))
    })
}

pub fn wait(engine: &Engine, args: NamesArgs) -> anyhow::Result<()> {
    super::for_each_name(&args.containers, |name| {
        let code = engine.wait_container(name)?;
        write_out(&format!("{code}\n"))
    })
}

pub fn attach(engine: &Engine, args: AttachArgs) -> anyhow::Result<()> {
    let rec = engine.reconciled(&args.container)?;
    if rec.state != ContainerState::Running {
        anyhow::bail!("you cannot attach to a stopped container, start it first");
    }
    let config = berth_engine::container::ContainerConfig::from_json(&rec.config)?;
    let (io, _terminal) = terminal::streams(terminal::Attach {
        stdin: !args.no_stdin && config.spec.open_stdin,
        tty: config.spec.tty,
        sig_proxy: args.sig_proxy,
    })?;
    let code = engine.attach(&args.container, io)?;
    if code == 0 {
        Ok(())
    } else {
        Err(Exit::code(u8::try_from(code & 0xff).unwrap_or(1)).into())
    }
}

pub fn prune(engine: &Engine, args: ContainerPruneArgs) -> anyhow::Result<()> {
    if !args.force && !super::confirm("WARNING! This will remove all stopped containers.")? {
        return Ok(());
    }
    let report = engine.prune_containers()?;
    let freed = report.reclaimed;
    let mut out = String::new();
    if !report.removed.is_empty() {
        out.push_str("Deleted Containers:\n");
        for id in &report.removed {
            out.push_str(id);
            out.push('\n');
        }
        out.push('\n');
    }
    out.push_str(&format!("Total reclaimed space: {}\n", human_size(freed)));
    write_out(&out)
}
