//! `berth tag SOURCE TARGET`.

use berth_engine::Engine;

use crate::cli::TagArgs;

pub fn run(engine: &Engine, args: TagArgs) -> anyhow::Result<()> {
    engine.tag(&args.source, &args.target)?;
    Ok(())
}
