//! `berth start [-a] [-i] CONTAINER...`.

use berth_engine::container::StartMode;
use berth_engine::Engine;

use crate::cli::StartArgs;
use crate::output::write_out;
use crate::terminal;
use crate::Exit;

pub fn run(engine: &Engine, args: StartArgs) -> anyhow::Result<()> {
    if args.attach || args.interactive {
        if args.containers.len() > 1 {
            anyhow::bail!("you cannot start and attach multiple containers at once");
        }
        let name = &args.containers[0];
        let rec = engine.resolve_container(name)?;
        let tty = berth_engine::container::ContainerConfig::from_json(&rec.config)
            .map(|c| c.spec.tty)
            .unwrap_or(false);
        engine.start_container_warning(name, StartMode::AttachNow, &mut super::print_warning)?;
        let (io, _terminal) = terminal::streams(terminal::Attach {
            stdin: args.interactive,
            tty,
            sig_proxy: true,
        })?;
        let code = engine.attach(name, io)?;
        return if code == 0 {
            Ok(())
        } else {
            Err(Exit::code(u8::try_from(code & 0xff).unwrap_or(1)).into())
        };
    }
    super::for_each_name(&args.containers, |name| {
        engine.start_container_warning(name, StartMode::Detached, &mut super::print_warning)?;
        write_out(&format!("{name}\n"))
    })
}
