//! `berth save [-o FILE] IMAGE...`: to a file atomically, or to a pipe.

use std::io::{IsTerminal, Write};

use anyhow::Context;
use berth_engine::Engine;

use crate::cli::SaveArgs;

pub fn run(engine: &Engine, args: SaveArgs) -> anyhow::Result<()> {
    match &args.output {
        Some(path) => {
            // Write next to the target and rename, so a failed save leaves no partial file.
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            let mut tmp = tempfile::Builder::new()
                .prefix(".berth-save-")
                .tempfile_in(dir)
                .with_context(|| format!("save: cannot write in {}", dir.display()))?;
            {
                let mut w = std::io::BufWriter::with_capacity(1 << 20, tmp.as_file_mut());
                engine.save(&args.images, &mut w)?;
                w.flush()?;
            }
            tmp.persist(path)
                .with_context(|| format!("save: {}", path.display()))?;
            Ok(())
        }
        None => {
            let stdout = std::io::stdout();
            if stdout.is_terminal() {
                anyhow::bail!(
                    "cowardly refusing to save to a terminal. Use the -o flag or redirect"
                );
            }
            let mut w = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
            engine.save(&args.images, &mut w)?;
            w.flush()?;
            Ok(())
        }
    }
}
