//! Rendering lists and objects: docker's default tables and `--format` templates.

use std::io::Write;

use anyhow::Context;
use berth_format::Template;
use serde_json::Value;

/// Prints `items` with the user's `--format`, or with `default` (a docker `table …` format).
pub fn print_list(
    format: Option<&str>,
    default: &str,
    headers: &[(&str, &str)],
    items: &[Value],
) -> anyhow::Result<()> {
    let format = format
        .filter(|f| !f.is_empty() && *f != "table")
        .unwrap_or(default);
    let template = Template::parse(format, headers).context("--format")?;
    let text = template.render_all(items)?;
    write_out(&text)
}

/// `inspect` output: a pretty JSON array, or one rendering of `format` per object.
pub fn print_objects(format: Option<&str>, items: &[Value]) -> anyhow::Result<()> {
    match format {
        None | Some("") => {
            let mut text = pretty_json(&Value::Array(items.to_vec()))?;
            text.push('\n');
            write_out(&text)
        }
        Some(f) => {
            let template = Template::parse(f, &[]).context("--format")?;
            let mut text = String::new();
            for item in items {
                text.push_str(&template.render_one(item)?);
                text.push('\n');
            }
            write_out(&text)
        }
    }
}

/// JSON indented with four spaces, as docker's `MarshalIndent(v, "", "    ")`.
pub fn pretty_json(v: &Value) -> anyhow::Result<String> {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    serde::Serialize::serialize(v, &mut ser)?;
    Ok(String::from_utf8(buf)?)
}

pub fn write_out(text: &str) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut lock = stdout.lock();
    lock.write_all(text.as_bytes())?;
    lock.flush()?;
    Ok(())
}
