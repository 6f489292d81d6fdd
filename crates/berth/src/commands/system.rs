//! `berth system df`, `berth system check` and `berth system prune`.

use berth_engine::image::RemoveEvent;
use berth_engine::system::SystemPruneOptions;
use berth_engine::Engine;
use serde_json::json;

use crate::cli::{CheckArgs, DfArgs, SystemPruneArgs};
use crate::output::{print_list, write_out};
use crate::units::human_size;

const HEADERS: &[(&str, &str)] = &[
    ("Type", "TYPE"),
    ("TotalCount", "TOTAL"),
    ("Active", "ACTIVE"),
    ("Size", "SIZE"),
    ("Reclaimable", "RECLAIMABLE"),
];

fn reclaimable(bytes: u64, total: u64) -> String {
    if total == 0 {
        return human_size(bytes);
    }
    format!("{} ({}%)", human_size(bytes), bytes * 100 / total)
}

pub fn df(engine: &Engine, args: DfArgs) -> anyhow::Result<()> {
    let u = engine.disk_usage()?;
    let row = |t: &str, total: usize, active: usize, size: u64, rec: String| {
        json!({"Type": t, "TotalCount": total.to_string(), "Active": active.to_string(),
               "Size": human_size(size), "Reclaimable": rec})
    };
    let items = vec![
        row(
            "Images",
            u.images,
            u.active_images,
            u.images_size,
            reclaimable(u.images_reclaimable, u.images_size),
        ),
        row(
            "Containers",
            u.containers,
            u.running_containers,
            u.containers_size,
            reclaimable(u.containers_reclaimable, u.containers_size),
        ),
        row(
            "Local Volumes",
            u.volumes,
            u.volumes_active,
            u.volumes_size,
            reclaimable(u.volumes_reclaimable, u.volumes_size),
        ),
        row(
            "Build Cache",
            u.build_cache,
            0,
            u.build_cache_size,
            reclaimable(u.build_cache_size, u.build_cache_size),
        ),
    ];
    if args.verbose {
        anyhow::bail!(
            "system df -v: the per-object listing is not supported yet; use berth images"
        );
    }
    print_list(
        args.format.as_deref(),
        "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}",
        HEADERS,
        &items,
    )
}

pub fn check(engine: &Engine, args: CheckArgs) -> anyhow::Result<()> {
    let mut out = String::new();
    if args.repair {
        for what in engine.repair()? {
            out.push_str(&format!("removed: {what}\n"));
        }
    }
    let r = engine.check()?;
    out.push_str(&format!(
        "checked {} blobs, {} images, {} layers\n",
        r.blobs_verified, r.images, r.layers
    ));
    for p in &r.problems {
        out.push_str(&format!("problem: {p}\n"));
    }
    for g in &r.garbage {
        out.push_str(&format!("garbage: {g}\n"));
    }
    if r.is_consistent() {
        out.push_str(&format!(
            "consistent{}\n",
            if r.garbage.is_empty() {
                ""
            } else {
                " (garbage is reclaimed by `berth image prune`)"
            }
        ));
        write_out(&out)
    } else {
        write_out(&out)?;
        Err(crate::Exit {
            code: 1,
            message: Some(format!("the store has {} problem(s)", r.problems.len())),
        }
        .into())
    }
}

/// docker's warning for `system prune`, one line per kind it will remove.
fn prune_warning(a: &SystemPruneArgs) -> String {
    let mut kinds = vec!["all stopped containers"];
    if a.volumes {
        kinds.push("all anonymous volumes not used by at least one container");
    }
    kinds.push("all networks not used by at least one container");
    kinds.push(if a.all {
        "all images without at least one container associated to them"
    } else {
        "all dangling images"
    });
    kinds.push(if a.all {
        "all build cache"
    } else {
        "all dangling build cache"
    });
    let mut text = String::from("WARNING! This will remove:\n");
    for k in kinds {
        text.push_str(&format!("  - {k}\n"));
    }
    text
}

/// `berth system prune [-a] [--volumes] [-f]`.
pub fn prune(engine: &Engine, a: SystemPruneArgs) -> anyhow::Result<()> {
    if !a.force && !super::confirm(&prune_warning(&a))? {
        return Ok(());
    }
    let r = engine.system_prune(SystemPruneOptions {
        all: a.all,
        volumes: a.volumes,
    })?;
    let mut out = String::new();
    let mut section = |title: &str, items: &[String]| {
        if !items.is_empty() {
            out.push_str(&format!("{title}:\n"));
            for i in items {
                out.push_str(&format!("{i}\n"));
            }
            out.push('\n');
        }
    };
    section("Deleted Containers", &r.containers.removed);
    section("Deleted Volumes", &r.volumes);
    section("Deleted Networks", &r.networks);
    let images: Vec<String> = r
        .images
        .events
        .iter()
        .map(|e| match e {
            RemoveEvent::Untagged(n) => format!("untagged: {n}"),
            RemoveEvent::Deleted(d) => format!("deleted: {d}"),
        })
        .collect();
    section("Deleted Images", &images);
    out.push_str(&format!(
        "Total reclaimed space: {}\n",
        human_size(r.reclaimed)
    ));
    write_out(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prune_warning_lists_what_docker_lists() {
        let a = SystemPruneArgs {
            all: false,
            force: false,
            volumes: false,
        };
        assert_eq!(
            prune_warning(&a),
            "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n  - all dangling images\n  - all dangling build cache\n"
        );
        let a = SystemPruneArgs {
            all: true,
            force: false,
            volumes: true,
        };
        let w = prune_warning(&a);
        assert!(w.contains("  - all anonymous volumes not used by at least one container\n"));
        assert!(w.contains("  - all images without at least one container associated to them\n"));
        assert!(w.ends_with("  - all build cache\n"));
    }
}
