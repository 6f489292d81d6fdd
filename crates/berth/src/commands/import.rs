//! `berth import FILE|- [REPOSITORY[:TAG]]`.

use std::io::Read;

use anyhow::Context;
use berth_engine::image::ImportOptions;
use berth_engine::Engine;

use crate::cli::ImportArgs;
use crate::output::write_out;

pub fn run(engine: &Engine, args: ImportArgs) -> anyhow::Result<()> {
    if let Some(p) = args.platform.as_deref().filter(|p| !p.starts_with("linux")) {
        anyhow::bail!("import: platform {p:?} is not supported: berth imports linux images");
    }
    let input: Box<dyn Read> = if args.source == "-" {
        Box::new(std::io::stdin().lock())
    } else if args.source.contains("://") {
        anyhow::bail!(
            "import {}: importing from a URL is not supported; download the file and import it",
            args.source
        );
    } else {
        Box::new(
            std::fs::File::open(&args.source).with_context(|| format!("import {}", args.source))?,
        )
    };
    let id = engine.import(
        input,
        &ImportOptions {
            reference: args.reference,
            changes: args.change,
            message: args.message,
        },
    )?;
    write_out(&format!("{id}\n"))
}
