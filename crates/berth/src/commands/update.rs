//! `berth update` / `berth container update`: new limits and restart policy, live.

use berth_engine::container::{flags, UpdateOptions};
use berth_engine::Engine;

use crate::cli::UpdateArgs;
use crate::output::write_out;

/// The flags as the engine takes them; a bad value fails before any container is touched.
fn options(args: &UpdateArgs) -> anyhow::Result<UpdateOptions> {
    let opts = UpdateOptions {
        memory: args
            .memory
            .as_deref()
            .map(flags::ram_in_bytes)
            .transpose()?,
        memory_swap: args
            .memory_swap
            .as_deref()
            .map(flags::swap_in_bytes)
            .transpose()?,
        cpus: args.cpus,
        cpu_shares: args.cpu_shares,
        pids_limit: args.pids_limit,
        restart: args.restart.as_deref().map(str::parse).transpose()?,
    };
    if opts.is_empty() {
        anyhow::bail!("you must provide one or more flags when using this command");
    }
    Ok(opts)
}

/// Updates each container, printing its name as given (as docker does); failures are
/// reported per container and make the exit status 1.
pub fn run(engine: &Engine, args: UpdateArgs) -> anyhow::Result<()> {
    let opts = options(&args)?;
    super::for_each_name(&args.containers, |name| {
        engine.update_container(name, &opts)?;
        write_out(&format!("{name}\n"))
    })
}
