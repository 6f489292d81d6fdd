//! `berth system df` and `berth system check`.

use berth_engine::Engine;
use serde_json::json;

use crate::cli::DfArgs;
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

pub fn df(engine: &mut Engine, args: DfArgs) -> anyhow::Result<()> {
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

pub fn check(engine: &mut Engine) -> anyhow::Result<()> {
    let r = engine.check()?;
    let mut out = format!(
        "checked {} blobs, {} images, {} layers\n",
        r.blobs_verified, r.images, r.layers
    );
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
