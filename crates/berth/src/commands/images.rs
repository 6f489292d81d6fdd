//! `berth images` / `berth image ls`.

use berth_engine::{Engine, ImageFilter};
use serde_json::json;

use crate::cli::ImagesArgs;
use crate::output::print_list;
use crate::units::{human_size, since};

const HEADERS: &[(&str, &str)] = &[
    ("ID", "IMAGE ID"),
    ("Repository", "REPOSITORY"),
    ("Tag", "TAG"),
    ("Digest", "DIGEST"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("Size", "SIZE"),
    ("VirtualSize", "VIRTUAL SIZE"),
    ("SharedSize", "SHARED SIZE"),
    ("UniqueSize", "UNIQUE SIZE"),
    ("Containers", "CONTAINERS"),
];

pub fn run(engine: &Engine, args: ImagesArgs) -> anyhow::Result<()> {
    let mut filters = args.filter.clone();
    if let Some(repo) = &args.repository {
        filters.push(format!("reference={repo}"));
    }
    let mut filter = ImageFilter::parse(&filters)?;
    filter.all = args.all;
    let images = engine.images(&filter)?;
    let items: Vec<_> = images
        .iter()
        .map(|i| {
            let id = if args.no_trunc {
                i.id.to_string()
            } else {
                i.id.short().to_string()
            };
            json!({
                "Containers": "N/A",
                "CreatedAt": i.created.as_deref().and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
                    .map(|t| t.with_timezone(&chrono::Utc).format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string())
                    .unwrap_or_default(),
                "CreatedSince": since(i.created.as_deref()),
                "Digest": i.digest,
                "ID": id,
                "Repository": i.repository,
                "SharedSize": "N/A",
                "Size": human_size(i.size),
                "Tag": i.tag,
                "UniqueSize": "N/A",
                "VirtualSize": human_size(i.size),
            })
        })
        .collect();
    let default = if args.quiet {
        "{{.ID}}"
    } else if args.digests {
        "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    } else {
        "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    };
    let format = if args.quiet {
        None
    } else {
        args.format.as_deref()
    };
    print_list(format, default, HEADERS, &items)
}
