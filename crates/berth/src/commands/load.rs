//! `berth load [-i FILE]`.

use std::io::{IsTerminal, Read};

use anyhow::Context;
use berth_engine::image::LoadEvent;
use berth_engine::Engine;

use crate::cli::LoadArgs;
use crate::output::write_out;

pub fn run(engine: &Engine, args: LoadArgs) -> anyhow::Result<()> {
    let input: Box<dyn Read> = match &args.input {
        Some(p) => {
            Box::new(std::fs::File::open(p).with_context(|| format!("load {}", p.display()))?)
        }
        None => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                anyhow::bail!("requested load from stdin, but stdin is empty");
            }
            Box::new(stdin.lock())
        }
    };
    let events = engine.load(input)?;
    if !args.quiet {
        let text: String = events
            .iter()
            .map(|e| match e {
                LoadEvent::Image(n) => format!("Loaded image: {n}\n"),
                LoadEvent::ImageId(d) => format!("Loaded image ID: {d}\n"),
            })
            .collect();
        write_out(&text)?;
    }
    Ok(())
}
