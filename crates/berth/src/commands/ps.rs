//! `berth ps` / `berth container ls`.

use berth_engine::container::{ContainerFilter, ContainerSummary};
use berth_engine::Engine;
use serde_json::json;

use crate::cli::PsArgs;
use crate::output::print_list;
use crate::units::{human_duration, human_size};

const HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Status", "STATUS"),
    ("State", "STATE"),
    ("Ports", "PORTS"),
    ("Names", "NAMES"),
    ("Size", "SIZE"),
    ("Labels", "LABELS"),
    ("Mounts", "MOUNTS"),
    ("Networks", "NETWORKS"),
];

fn ago(nanos: i64) -> i64 {
    (chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default() - nanos) / 1_000_000_000
}

/// docker's COMMAND column: arguments with spaces in single quotes, cut to 20 characters
/// with an ellipsis, then quoted as Go's `strconv.Quote` does.
fn command(c: &ContainerSummary, no_trunc: bool) -> String {
    let mut cmd = c.config.path.clone();
    for a in &c.config.args {
        cmd.push(' ');
        if a.contains(' ') {
            cmd.push_str(&format!("'{a}'"));
        } else {
            cmd.push_str(a);
        }
    }
    let cmd = if no_trunc || cmd.chars().count() <= 20 {
        cmd
    } else {
        let mut s: String = cmd.chars().take(19).collect();
        s.push('…');
        s
    };
    go_quote(&cmd)
}

/// Go's `strconv.Quote` for the characters a command line holds.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub fn run(engine: &Engine, args: PsArgs) -> anyhow::Result<()> {
    let filter = ContainerFilter::parse(&args.filter)?;
    let all = args.all || args.last.is_some() || args.latest;
    let mut list = engine.containers(all, &filter)?;
    if args.latest {
        list.truncate(1);
    } else if let Some(n) = args.last {
        list.truncate(n);
    }
    let items: Vec<_> = list
        .iter()
        .map(|c| {
            let r = &c.record;
            let id = if args.no_trunc { r.id.clone() } else { r.id[..12].to_string() };
            let size = if args.size {
                let own = engine.container_size(&r.id).unwrap_or(0);
                let image = engine.image_size(&r.image_id).unwrap_or(0);
                format!("{} (virtual {})", human_size(own), human_size(own + image))
            } else {
                String::new()
            };
            json!({
                "Command": command(c, args.no_trunc),
                "CreatedAt": chrono::DateTime::from_timestamp_nanos(r.created_at).format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string(),
                "ID": id,
                "Image": r.image_name,
                "Labels": c.config.spec.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
                "LocalVolumes": "0",
                "Mounts": "",
                "Names": r.name,
                "Networks": c.config.network.name(),
                "Ports": berth_engine::container::NetSummary::from_record(r)
                    .iter()
                    .flat_map(|n| n.ports.iter().map(ToString::to_string))
                    .collect::<Vec<_>>()
                    .join(", "),
                "RunningFor": format!("{} ago", human_duration(ago(r.created_at))),
                "Size": size,
                "State": r.state,
                "Status": c.status(),
            })
        })
        .collect();
    let default = if args.quiet {
        "{{.ID}}"
    } else if args.size {
        "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}\t{{.Size}}"
    } else {
        "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
    };
    let format = if args.quiet {
        None
    } else {
        args.format.as_deref()
    };
    print_list(format, default, HEADERS, &items)
}
