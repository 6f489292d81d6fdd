//! `berth inspect` (containers and images), `berth image inspect`, `berth container inspect`.

use berth_engine::Engine;

use crate::cli::InspectArgs;
use crate::output::print_objects;

pub fn run(engine: &Engine, args: InspectArgs) -> anyhow::Result<()> {
    let kind = args.kind.clone();
    run_as(engine, args, kind.as_deref())
}

/// Inspects each name as the given kind, or (without one) as a container first, then an
/// image, as docker does.
pub fn run_as(engine: &Engine, args: InspectArgs, kind: Option<&str>) -> anyhow::Result<()> {
    if let Some(k) = kind.filter(|k| !matches!(*k, "image" | "container")) {
        anyhow::bail!("{k:?} is not a valid value for --type");
    }
    let mut found = Vec::new();
    let mut failed = false;
    for name in &args.names {
        let result = match kind {
            Some("image") => engine.inspect_image(name),
            Some(_) => engine.inspect_container(name),
            None => match engine.inspect_container(name) {
                Err(e) if e.is_not_found() => engine.inspect_image(name),
                other => other,
            },
        };
        match result {
            Ok(v) => found.push(v),
            Err(e) if e.is_not_found() => {
                let what = match kind {
                    Some("image") => "image",
                    Some("container") => "container",
                    _ => "object",
                };
                eprintln!("Error: No such {what}: {name}");
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
