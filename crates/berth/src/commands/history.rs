//! `berth history IMAGE`.

use berth_engine::Engine;
use serde_json::json;

use crate::cli::HistoryArgs;
use crate::output::print_list;
use crate::units::{human_size, since};

const HEADERS: &[(&str, &str)] = &[
    ("ID", "IMAGE"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("CreatedBy", "CREATED BY"),
    ("Size", "SIZE"),
    ("Comment", "COMMENT"),
];

/// docker's `Ellipsis`: cut to `max` characters, the last one an ellipsis.
fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max - 1).collect();
        out.push('…');
        out
    }
}

pub fn run(engine: &Engine, args: HistoryArgs) -> anyhow::Result<()> {
    let rows = engine.image_history(&args.image)?;
    let items: Vec<_> = rows
        .iter()
        .map(|r| {
            let id = match &r.id {
                Some(id) if args.no_trunc => id.to_string(),
                Some(id) => id.short().to_string(),
                None => "<missing>".into(),
            };
            let created_by = r.created_by.replace('\t', " ");
            json!({
                "Comment": r.comment,
                "CreatedAt": r.created.clone().unwrap_or_default(),
                "CreatedBy": if args.no_trunc { created_by } else { ellipsis(&created_by, 45) },
                "CreatedSince": if args.human { since(r.created.as_deref()) } else { r.created.clone().unwrap_or_default() },
                "ID": id,
                "Size": if args.human { human_size(r.size) } else { r.size.to_string() },
            })
        })
        .collect();
    let default = if args.quiet {
        "{{.ID}}"
    } else {
        "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
    };
    let format = if args.quiet {
        None
    } else {
        args.format.as_deref()
    };
    print_list(format, default, HEADERS, &items)
}
