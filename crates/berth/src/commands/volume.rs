//! `berth volume create|ls|inspect|rm|prune`.

use berth_engine::volume::VolumeInfo;
use berth_engine::Engine;
use serde_json::json;

use crate::cli::{VolumeCommand, VolumeInspectArgs, VolumeLsArgs, VolumePruneArgs};
use crate::output::{print_list, print_objects, write_out};
use crate::units::human_size;

pub fn run(engine: &Engine, cmd: VolumeCommand) -> anyhow::Result<()> {
    match cmd {
        VolumeCommand::Create(a) => {
            if a.driver != "local" {
                anyhow::bail!(
                    "volume create: driver {:?} is not supported: berth volumes are local",
                    a.driver
                );
            }
            let (name, _) = engine.create_volume(a.name.as_deref().unwrap_or(""))?;
            write_out(&format!("{name}\n"))
        }
        VolumeCommand::Ls(a) => ls(engine, a),
        VolumeCommand::Inspect(a) => inspect(engine, a),
        VolumeCommand::Rm(a) => super::for_each_name(&a.volumes, |name| {
            engine.remove_volume(name, a.force)?;
            write_out(&format!("{name}\n"))
        }),
        VolumeCommand::Prune(a) => prune(engine, a),
    }
}

fn json_of(v: &VolumeInfo) -> serde_json::Value {
    json!({
        "CreatedAt": chrono::DateTime::from_timestamp(v.created, 0).map(|t| t.to_rfc3339()).unwrap_or_default(),
        "Driver": "local",
        "Labels": if v.anonymous { json!({"com.docker.volume.anonymous": ""}) } else { json!(null) },
        "Mountpoint": v.mountpoint,
        "Name": v.name,
        "Options": null,
        "Scope": "local",
    })
}

fn ls(engine: &Engine, a: VolumeLsArgs) -> anyhow::Result<()> {
    let items: Vec<_> = engine
        .volumes()?
        .iter()
        .map(|v| json!({"Driver": "local", "Name": v.name, "Mountpoint": v.mountpoint, "Scope": "local", "Labels": ""}))
        .collect();
    let default = if a.quiet {
        "{{.Name}}"
    } else {
        "table {{.Driver}}\t{{.Name}}"
    };
    let format = if a.quiet { None } else { a.format.as_deref() };
    print_list(
        format,
        default,
        &[
            ("Driver", "DRIVER"),
            ("Name", "VOLUME NAME"),
            ("Mountpoint", "MOUNTPOINT"),
        ],
        &items,
    )
}

fn inspect(engine: &Engine, a: VolumeInspectArgs) -> anyhow::Result<()> {
    let mut found = Vec::new();
    let mut failed = false;
    for name in &a.volumes {
        match engine.volume(name) {
            Ok(v) => found.push(json_of(&v)),
            Err(_) => {
                eprintln!("Error: No such volume: {name}");
                failed = true;
            }
        }
    }
    print_objects(a.format.as_deref(), &found)?;
    if failed {
        return Err(crate::Exit::code(1).into());
    }
    Ok(())
}

fn prune(engine: &Engine, a: VolumePruneArgs) -> anyhow::Result<()> {
    if !a.force
        && !super::confirm(
            "WARNING! This will remove anonymous local volumes not used by at least one container.",
        )?
    {
        return Ok(());
    }
    let (removed, freed) = engine.prune_volumes(a.all)?;
    let mut out = String::new();
    if !removed.is_empty() {
        out.push_str("Deleted Volumes:\n");
        for n in &removed {
            out.push_str(n);
            out.push('\n');
        }
        out.push('\n');
    }
    out.push_str(&format!("Total reclaimed space: {}\n", human_size(freed)));
    write_out(&out)
}
