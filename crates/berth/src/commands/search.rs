//! `berth search [--limit N] [--filter stars=N|is-official=B] [--no-trunc] [--format T] TERM`.

use berth_engine::Engine;
use berth_registry::client::{SearchFilter, SearchResult};
use serde_json::{json, Value};

use crate::cli::SearchArgs;
use crate::output::print_list;

const HEADERS: &[(&str, &str)] = &[
    ("Name", "NAME"),
    ("Description", "DESCRIPTION"),
    ("StarCount", "STARS"),
    ("IsOfficial", "OFFICIAL"),
    ("IsAutomated", "AUTOMATED"),
];

const DEFAULT: &str = "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}";

/// docker's `formatter.Ellipsis`: at most `width` characters, the last an ellipsis.
fn ellipsis(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    let mut out: String = s.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// One row as docker's search formatter shows it: descriptions on one line (cut to 45
/// characters unless `--no-trunc`), `[OK]` for true.
fn row(r: &SearchResult, trunc: bool) -> Value {
    let desc = r.description.replace(['\n', '\r'], " ");
    let ok = |b: bool| if b { "[OK]" } else { "" };
    json!({
        "Name": r.name,
        "Description": if trunc { ellipsis(&desc, 45) } else { desc },
        "StarCount": r.star_count.to_string(),
        "IsOfficial": ok(r.is_official),
        "IsAutomated": ok(r.is_automated),
    })
}

pub fn run(engine: &Engine, args: SearchArgs) -> anyhow::Result<()> {
    let filter = SearchFilter::parse(&args.filter).map_err(anyhow::Error::msg)?;
    let results = engine.search(&args.term, args.limit, &filter)?;
    let items: Vec<Value> = results.iter().map(|r| row(r, !args.no_trunc)).collect();
    print_list(args.format.as_deref(), DEFAULT, HEADERS, &items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_look_like_dockers() {
        let r = SearchResult {
            name: "python".into(),
            description: "Python is an interpreted,\ninteractive, object-oriented, open-source programming language.".into(),
            star_count: 9912,
            is_official: true,
            is_automated: false,
        };
        let v = row(&r, true);
        assert_eq!(
            v["Description"],
            "Python is an interpreted, interactive, objec…"
        );
        assert_eq!(v["Description"].as_str().unwrap().chars().count(), 45);
        assert_eq!(
            (v["StarCount"].as_str(), v["IsOfficial"].as_str()),
            (Some("9912"), Some("[OK]"))
        );
        assert_eq!(v["IsAutomated"], "");
        assert!(row(&r, false)["Description"]
            .as_str()
            .unwrap()
            .ends_with("language."));
    }
}
