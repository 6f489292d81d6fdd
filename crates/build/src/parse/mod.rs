//! Dockerfile text → [`Dockerfile`]: parser directives, comments, line continuations,
//! heredocs and every instruction, each with its line number.
//!
//! The rules follow BuildKit's parser: directives (`# escape=`, `# syntax=`, `# check=`) count
//! only before anything else; a comment line inside a continuation is skipped; an empty
//! continuation line is skipped with a warning; heredocs are recognised on RUN, COPY and ADD
//! (also behind ONBUILD) in shell form.

mod ast;
mod display;
pub(crate) mod heredoc;
mod instr;
mod words;

/// Go's `time.Duration` syntax (HEALTHCHECK options; docker's flags and `--since` use it too).
pub use display::go_duration;
pub use instr::parse_go_duration;

pub use ast::*;

use crate::error::{BuildError, Result};

/// Parses a whole Dockerfile.
pub fn parse(text: &str) -> Result<Dockerfile> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.lines().collect();
    let mut p = Parser {
        lines: &lines,
        next: 0,
        escape: '\\',
        warnings: Vec::new(),
    };
    p.directives()?;
    let mut instructions = Vec::new();
    while let Some(inst) = p.instruction()? {
        instructions.push(inst);
    }
    Ok(Dockerfile {
        escape: p.escape,
        instructions,
        warnings: p.warnings,
    })
}

/// Parses one instruction given as text, such as an ONBUILD trigger from an image config.
pub fn parse_instruction(text: &str, escape: char) -> Result<Instruction> {
    instr::parse_line(text, 1, escape)
}

struct Parser<'a> {
    lines: &'a [&'a str],
    /// Index of the next unread line; its line number is `next + 1`.
    next: usize,
    escape: char,
    warnings: Vec<Warning>,
}

impl Parser<'_> {
    /// Reads `# key=value` directives at the top of the file.
    fn directives(&mut self) -> Result<()> {
        let mut seen: Vec<String> = Vec::new();
        while let Some(line) = self.lines.get(self.next) {
            let Some((key, value)) = directive(line) else {
                return Ok(());
            };
            let lineno = self.next + 1;
            if seen.contains(&key) {
                return Err(BuildError::syntax(
                    lineno,
                    format!("only one {key} parser directive can be used"),
                ));
            }
            if key == "escape" {
                self.escape = match value {
                    "\\" => '\\',
                    "`" => '`',
                    _ => {
                        return Err(BuildError::syntax(
                            lineno,
                            format!("invalid escape token '{value}' does not match ` or \\"),
                        ))
                    }
                };
            }
            seen.push(key);
            self.next += 1;
        }
        Ok(())
    }

    /// The next instruction, or `None` at the end of the file.
    fn instruction(&mut self) -> Result<Option<Instruction>> {
        loop {
            let Some(raw) = self.lines.get(self.next) else {
                return Ok(None);
            };
            self.next += 1;
            let start = self.next;
            let first = raw.trim_start();
            if first.starts_with('#') {
                continue;
            }
            let (mut text, mut more) = self.trim_continuation(first);
            if !more && text.trim().is_empty() {
                continue;
            }
            let mut empty_continuation = false;
            while more {
                let Some(raw) = self.lines.get(self.next) else {
                    break;
                };
                self.next += 1;
                if raw.trim_start().starts_with('#') {
                    continue;
                }
                if raw.trim().is_empty() {
                    empty_continuation = true;
                    continue;
                }
                let (part, again) = self.trim_continuation(raw);
                text.push_str(&part);
                more = again;
            }
            if text.trim().is_empty() {
                continue;
            }
            if empty_continuation {
                self.warnings.push(Warning {
                    line: start,
                    message: format!("Empty continuation line found in: {}", text.trim()),
                });
            }
            let mut inst = instr::parse_line(&text, start, self.escape)?;
            self.heredocs(&mut inst, &text)?;
            inst.end_line = self.next;
            return Ok(Some(inst));
        }
    }

    /// Strips a trailing escape character (plus spaces/tabs after it) that continues the line.
    /// An escaped escape (`\\`) at the end does not continue.
    fn trim_continuation(&self, line: &str) -> (String, bool) {
        let t = line.trim_end_matches([' ', '\t']);
        if let Some(before) = t.strip_suffix(self.escape) {
            if before.is_empty() || !before.ends_with(self.escape) {
                return (before.to_owned(), true);
            }
        }
        (line.to_owned(), false)
    }

    /// Reads the bodies of heredocs opened on `text` and attaches them to `inst`.
    fn heredocs(&mut self, inst: &mut Instruction, text: &str) -> Result<()> {
        let target = match &mut inst.kind {
            Kind::Onbuild(inner) => &mut inner.kind,
            kind => kind,
        };
        let json = match target {
            Kind::Run(r) => matches!(r.command, Command::Exec(_)),
            Kind::Copy(c) | Kind::Add(c) => c.json,
            _ => return Ok(()),
        };
        if json {
            return Ok(());
        }
        let mut docs = Vec::new();
        for opener in heredoc::openers(text, self.escape) {
            let body_line = self.next + 1;
            let mut content = String::new();
            loop {
                let Some(raw) = self.lines.get(self.next) else {
                    return Err(BuildError::syntax(inst.line, "unterminated heredoc"));
                };
                self.next += 1;
                let candidate = if opener.chomp {
                    raw.trim_start_matches('\t')
                } else {
                    raw
                };
                if candidate == opener.name {
                    break;
                }
                content.push_str(raw);
                content.push('\n');
            }
            docs.push(Heredoc {
                name: opener.name,
                expand: opener.expand,
                chomp: opener.chomp,
                fd: opener.fd,
                content,
                line: body_line,
            });
        }
        match target {
            Kind::Run(r) => r.heredocs = docs,
            Kind::Copy(c) | Kind::Add(c) => {
                c.srcs.retain(|s| heredoc::parse_word(s).is_none());
                c.heredocs = docs;
            }
            _ => {}
        }
        Ok(())
    }
}

/// `# key=value` with a key Docker knows (`escape`, `syntax`, `check`).
fn directive(line: &str) -> Option<(String, &str)> {
    let body = line.trim_start().strip_prefix('#')?.trim_start();
    let (key, value) = body.split_once('=')?;
    let key = key.trim_end();
    let mut chars = key.chars();
    let well_formed = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric());
    let key = key.to_ascii_lowercase();
    let value = value.trim();
    if !well_formed || value.is_empty() || !["escape", "syntax", "check"].contains(&key.as_str()) {
        return None;
    }
    Some((key, value))
}

/// The closest of `options` to `word`, if it is close enough to be a likely typo.
pub(crate) fn suggest<'a>(word: &str, options: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let w = word.to_ascii_lowercase();
    let limit = if w.chars().count() <= 3 { 1 } else { 2 };
    options
        .map(|o| (levenshtein(&w, &o.to_ascii_lowercase()), o))
        .filter(|(d, _)| *d <= limit && *d > 0)
        .min_by_key(|(d, _)| *d)
        .map(|(_, o)| o)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests;
