//! `.dockerignore` with Docker's semantics (moby/patternmatcher and the CLI's ignore-file
//! reader).
//!
//! - Lines starting with `#` are comments; blank lines are skipped; whitespace is trimmed.
//! - Patterns are cleaned like Go's `filepath.Clean` and a leading `/` is dropped: they are
//!   always relative to the context root.
//! - `*` and `?` stay within one path component, `**` matches any number of directories,
//!   `[a-z]` classes and `\` escapes work as in `filepath.Match`.
//! - `!pattern` re-includes; the last pattern that matches wins.
//! - A pattern matching a directory excludes everything below it — unless a later exception
//!   matches the path or one of its parents. A walker therefore still descends into an
//!   excluded directory when an exception could match inside it ([`Matcher::must_descend`]).
//! - The Dockerfile and `.dockerignore` are matched like any other file for `COPY . .`; the
//!   builder still reads them even when they are excluded.

pub(crate) mod pattern;

use crate::error::{BuildError, Result};
use pattern::Pattern;

/// Compiled `.dockerignore` patterns.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    patterns: Vec<Pattern>,
    exceptions: bool,
}

impl Matcher {
    /// A matcher that excludes nothing (no `.dockerignore`).
    pub fn empty() -> Self {
        Self::default()
    }

    /// Compiles the lines of a `.dockerignore` file. Errors name the 1-based line.
    pub fn new<I, S>(lines: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut matcher = Self::default();
        for (n, raw) in lines.into_iter().enumerate() {
            let raw = raw.as_ref();
            let raw = if n == 0 {
                raw.strip_prefix('\u{feff}').unwrap_or(raw)
            } else {
                raw
            };
            if raw.starts_with('#') {
                continue;
            }
            let line = raw.trim();
            if line.is_empty() {
                continue;
            }
            let (exception, body) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let err = |message: String| BuildError::Ignore {
                line: n + 1,
                message,
            };
            if body.is_empty() {
                return Err(err("illegal exclusion pattern: \"!\"".into()));
            }
            let cleaned = clean(body);
            let cleaned = match cleaned.strip_prefix('/') {
                Some(rest) if !rest.is_empty() => rest.to_owned(),
                _ => cleaned,
            };
            let pattern = Pattern::new(&cleaned, exception).map_err(err)?;
            matcher.exceptions |= exception;
            matcher.patterns.push(pattern);
        }
        Ok(matcher)
    }

    /// Compiles the text of a `.dockerignore` file.
    pub fn parse(text: &str) -> Result<Self> {
        Self::new(text.lines())
    }

    /// Whether `rel_path` (slash-separated, relative to the context root) is excluded: the
    /// last pattern that matches it or one of its parent directories decides. `is_dir` does
    /// not change the verdict — Docker cleans `dir/` to `dir`, so patterns match files and
    /// directories alike — but says what the caller holds; for a directory, also ask
    /// [`must_descend`](Self::must_descend) before skipping its contents.
    pub fn excluded(&self, rel_path: &str, is_dir: bool) -> bool {
        let _ = is_dir;
        if self.patterns.is_empty() {
            return false;
        }
        let needs_clean = rel_path.is_empty()
            || rel_path.starts_with('/')
            || rel_path.ends_with('/')
            || rel_path.contains("//")
            || rel_path.split('/').any(|c| c == "." || c == "..");
        if needs_clean {
            let cleaned = clean(rel_path);
            let cleaned = cleaned.trim_start_matches('/');
            if cleaned.is_empty() || cleaned == "." {
                return false;
            }
            return self.matches_or_parent(cleaned);
        }
        self.matches_or_parent(rel_path)
    }

    /// For an excluded directory: whether an exception (`!pattern`) could re-include
    /// something inside it, so a walker must look inside instead of skipping it.
    pub fn must_descend(&self, rel_dir: &str) -> bool {
        if !self.exceptions {
            return false;
        }
        let dir = rel_dir.trim_end_matches('/');
        self.patterns.iter().filter(|p| p.exception).any(|p| {
            let lit = p.literal.as_str();
            match lit.strip_prefix(dir) {
                // The exception's literal part continues below `dir`, or stops inside it.
                Some(rest) => {
                    rest.starts_with('/') || (rest.is_empty() && lit.len() < p.text.len())
                }
                // The literal part is shorter than `dir` and `dir` starts with it.
                None => dir.starts_with(lit),
            }
        })
    }

    /// Whether any pattern is an exception.
    pub fn has_exceptions(&self) -> bool {
        self.exceptions
    }

    /// Whether there are no patterns at all.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Moby's `MatchesOrParentMatches` on a clean path.
    fn matches_or_parent(&self, path: &str) -> bool {
        let mut matched = false;
        for p in &self.patterns {
            if p.exception != matched {
                continue;
            }
            let hit = p.matches(path)
                || path
                    .match_indices('/')
                    .any(|(i, _)| i > 0 && p.matches(&path[..i]));
            if hit {
                matched = !p.exception;
            }
        }
        matched
    }
}

/// Go's `path.Clean`: collapses `//`, drops `.`, resolves `..` lexically.
pub(crate) fn clean(p: &str) -> String {
    if p.is_empty() {
        return ".".to_owned();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for comp in p.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            c => parts.push(c),
        }
    }
    let body = parts.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".to_owned(),
        (false, false) => body,
    }
}

#[cfg(test)]
mod tests;
