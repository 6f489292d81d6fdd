//! `berth inspect` / `berth image inspect` (images; containers come with their issue).

use berth_engine::Engine;

use crate::cli::InspectArgs;
use crate::output::print_objects;

pub fn run(engine: &mut Engine, args: InspectArgs) -> anyhow::Result<()> {
    if let Some(kind) = args.kind.as_deref().filter(|k| *k != "image") {
        anyhow::bail!("{kind:?} is not a valid value for --type");
    }
    let mut found = Vec::new();
    let mut failed = false;
    for name in &args.names {
        match engine.inspect_image(name) {
            Ok(v) => found.push(v),
            Err(e) if e.is_not_found() => {
                eprintln!("Error: No such image: {name}");
                failed = true;
            }
            Err(e) => return Err(e.into()),
        }
    }
    print_objects(args.format.as_deref(), &found)?;
    if failed {
        return Err(crate::Exit::code(1).into());
    }
    Ok(())
}
