//! Docker-compatible `--format` templates and table output.
//!
//! This crate turns the `--format` argument of list and inspect commands into
//! text exactly the way the docker CLI does, so that scripts written for
//! docker keep working: Go `text/template` syntax (fields, pipelines,
//! `if`/`else`, `range`, `with`, variables, comparison and printing
//! builtins), the functions docker adds (`json`, `join`, `split`, `lower`,
//! `upper`, `title`, `truncate`, `pad`), the `table` directive with a header
//! row, the `json` shorthand, and docker's column alignment (Go's tabwriter
//! with minimum width 10 and padding 3).
//!
//! It only formats: items arrive as [`serde_json::Value`] objects whose keys
//! are the field names of docker's Go structs (`ID`, `Repository`, `Tag`, …),
//! already computed by the caller. It must not know about images, containers
//! or the store, must not do I/O, and must not reorder keys: `{{json .}}`
//! prints objects in the order they were built.
//!
//! The template engine is implemented here rather than with `gtmpl`: that
//! crate keeps maps in a `HashMap` (so `{{json .}}` could not keep key order),
//! prints arrays and maps with Rust's `Debug` form instead of Go's `[a b]` /
//! `map[k:v]`, and cannot make a missing key an error.
//!
//! ```
//! use berth_format::Template;
//! use serde_json::json;
//!
//! let headers = [("ID", "IMAGE ID"), ("Repository", "REPOSITORY")];
//! let tmpl = Template::parse(r"table {{.ID}}\t{{.Repository}}", &headers).unwrap();
//! let items = [json!({"ID": "0123456789ab", "Repository": "alpine"})];
//! assert_eq!(
//!     tmpl.render_all(&items).unwrap(),
//!     "IMAGE ID       REPOSITORY\n0123456789ab   alpine\n"
//! );
//! ```

mod ast;
mod exec;
mod funcs;
mod lex;
mod parse;
mod print;
mod tabwriter;
#[cfg(test)]
mod tests;

use serde_json::Value;

use crate::ast::Node;

/// The template docker uses for `--format json`.
pub const JSON_FORMAT: &str = "{{json .}}";

/// Why a format string could not be parsed or rendered. Messages are one
/// line and worded like docker's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// The template does not parse.
    #[error("template parsing error: template: :{line}: {message}")]
    Parse { line: usize, message: String },
    /// Executing the template failed, e.g. a field does not exist.
    #[error("template: :{line}:{column}: executing \"\" at <{context}>: {message}")]
    Exec {
        line: usize,
        column: usize,
        context: String,
        message: String,
    },
}

/// A parsed `--format` value.
#[derive(Debug, Clone)]
pub struct Template {
    source: String,
    nodes: Vec<Node>,
    table: bool,
    headers: Vec<(String, String)>,
}

impl Template {
    /// Parse a docker `--format` value.
    ///
    /// A leading `table` selects table output: the rest is the row template
    /// and a header row is rendered from it, titling each `.Field` from
    /// `headers` (field name → column title) or else the upper-cased field
    /// name. `json` alone means one compact JSON object per item. Literal
    /// `\t` and `\n` (backslash sequences) become tab and newline, and
    /// surrounding spaces are trimmed, as docker does.
    ///
    /// A bare `table` leaves an empty row template; use
    /// [`Template::parse_with_default`] to substitute the command's default.
    pub fn parse(format: &str, headers: &[(&str, &str)]) -> Result<Template, FormatError> {
        let table = format.starts_with("table");
        let body = if table {
            &format["table".len()..]
        } else if format.trim() == "json" {
            JSON_FORMAT
        } else {
            format
        };
        let source = body
            .trim_matches(' ')
            .replace("\\t", "\t")
            .replace("\\n", "\n");
        let nodes = parse::parse(&source).map_err(|e| FormatError::Parse {
            line: e.line,
            message: e.msg,
        })?;
        Ok(Template {
            source,
            nodes,
            table,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        })
    }

    /// Like [`Template::parse`], but an empty format or a bare `table` uses
    /// `default` (the command's default format) instead.
    pub fn parse_with_default(
        format: &str,
        default: &str,
        headers: &[(&str, &str)],
    ) -> Result<Template, FormatError> {
        match format.trim() {
            "" | "table" => Template::parse(default, headers),
            _ => Template::parse(format, headers),
        }
    }

    /// Whether the format started with the `table` directive.
    pub fn is_table(&self) -> bool {
        self.table
    }

    /// Render the complete output for a list: each item's line followed by a
    /// newline and, for tables, a header row first and all columns aligned.
    /// A table prints its header even when there are no items.
    pub fn render_all(&self, items: &[Value]) -> Result<String, FormatError> {
        let mut out = String::new();
        if self.table {
            // Like docker, a header that fails to render keeps what it produced.
            let (header, _) = exec::execute(
                &self.nodes,
                &Value::String(String::new()),
                Some(&self.headers),
            );
            out.push_str(&header);
            out.push('\n');
        }
        for item in items {
            out.push_str(&self.render_one(item)?);
            out.push('\n');
        }
        Ok(if self.table {
            tabwriter::align_text(&out)
        } else {
            out
        })
    }

    /// Render the template for one item, without a trailing newline and
    /// without table alignment (what `inspect --format` prints per object).
    pub fn render_one(&self, item: &Value) -> Result<String, FormatError> {
        let (out, result) = exec::execute(&self.nodes, item, None);
        result.map_err(|e| {
            let before = &self.source[..e.pos.min(self.source.len())];
            let line_start = before.rfind('\n').map_or(0, |i| i + 1);
            FormatError::Exec {
                line: 1 + before.matches('\n').count(),
                column: before.len() - line_start,
                context: e.context,
                message: e.msg,
            }
        })?;
        Ok(out)
    }
}

/// Align rows of cells like docker's tabwriter (minimum width 10, padding
/// 3, spaces). The last cell of each line is not padded; every line ends
/// with a newline.
pub fn tabwrite(lines: &[Vec<String>]) -> String {
    let mut split: Vec<Vec<&str>> = lines
        .iter()
        .map(|l| l.iter().map(String::as_str).collect())
        .collect();
    // An empty, unterminated last line makes every real line newline-terminated.
    split.push(vec![""]);
    tabwriter::align(&split)
}

/// A header row plus data rows, aligned with [`tabwrite`]: the default
/// output of `images`, `ps` and similar list commands.
pub fn render_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut lines = Vec::with_capacity(rows.len() + 1);
    lines.push(headers.iter().map(|h| h.to_string()).collect());
    lines.extend(rows.iter().cloned());
    tabwrite(&lines)
}
