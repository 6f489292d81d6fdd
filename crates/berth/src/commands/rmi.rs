//! `berth rmi` / `berth image rm`.

use berth_engine::image::RemoveEvent;
use berth_engine::Engine;

use crate::cli::RmiArgs;
use crate::output::write_out;

pub fn run(engine: &Engine, args: RmiArgs) -> anyhow::Result<()> {
    super::for_each_name(&args.images, |name| {
        let events = engine.remove_image_with(name, args.force, !args.no_prune)?;
        write_out(&render(&events))
    })
}

pub fn render(events: &[RemoveEvent]) -> String {
    events
        .iter()
        .map(|e| match e {
            RemoveEvent::Untagged(n) => format!("Untagged: {n}\n"),
            RemoveEvent::Deleted(d) => format!("Deleted: {d}\n"),
        })
        .collect()
}
