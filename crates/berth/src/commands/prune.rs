//! `berth image prune`.

use berth_engine::image::RemoveEvent;
use berth_engine::Engine;

use crate::cli::PruneArgs;
use crate::output::write_out;
use crate::units::human_size;

pub fn run(engine: &Engine, args: PruneArgs) -> anyhow::Result<()> {
    if !args.filter.is_empty() {
        anyhow::bail!("image prune: --filter is not supported yet; remove images with rmi");
    }
    if !args.force {
        let warning = if args.all {
            "WARNING! This will remove all images without at least one container associated to them."
        } else {
            "WARNING! This will remove all dangling images."
        };
        if !super::confirm(warning)? {
            return Ok(());
        }
    }
    let report = engine.prune_images(args.all)?;
    let freed = report.reclaimed + engine.collect_garbage()?;
    let mut out = String::new();
    if !report.events.is_empty() {
        out.push_str("Deleted Images:\n");
        for e in &report.events {
            match e {
                RemoveEvent::Untagged(n) => out.push_str(&format!("untagged: {n}\n")),
                RemoveEvent::Deleted(d) => out.push_str(&format!("deleted: {d}\n")),
            }
        }
        out.push('\n');
    }
    out.push_str(&format!("Total reclaimed space: {}\n", human_size(freed)));
    write_out(&out)
}
