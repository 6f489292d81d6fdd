//! The hidden `berth monitor ID` entry: the per-container monitor process.

use berth_engine::container::monitor::{self, MonitorOptions};
use berth_engine::Engine;

use crate::cli::MonitorArgs;
use crate::Exit;

pub fn run(engine: &Engine, args: MonitorArgs) -> anyhow::Result<()> {
    let mut report = std::io::stdout();
    let code = monitor::run(
        engine,
        &args.id,
        MonitorOptions {
            wait_attach: args.wait_attach,
            ready_before_create: args.ready_before_create,
        },
        &mut report,
    );
    if code == 0 {
        Ok(())
    } else {
        Err(Exit::code(u8::try_from(code).unwrap_or(1)).into())
    }
}
