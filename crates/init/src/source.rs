//! Just enough of Python's lexical structure to read imports and a few assignments reliably:
//! logical lines with comments dropped, string literals blanked and bracketed or
//! backslash-continued lines joined, so that an `import` inside a docstring or a comment is
//! not one.

/// A logical line of Python source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The code with comments removed, each string literal replaced by `""` and continuation
    /// lines joined with a space; trimmed.
    pub text: String,
    /// Columns of leading whitespace (a tab advances to the next multiple of 8).
    pub indent: usize,
    /// The 1-based physical line it starts on.
    pub number: usize,
}

/// Splits `src` into logical lines; blank and comment-only lines are left out.
pub fn logical_lines(src: &str) -> Vec<Line> {
    let chars: Vec<char> = src.chars().collect();
    let mut lines = Vec::new();
    let mut cur = String::new();
    let (mut depth, mut number, mut start, mut indent) = (0usize, 1usize, 1usize, 0usize);
    let mut at_start = true;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if at_start {
            match c {
                ' ' => indent += 1,
                '\t' => indent = (indent / 8 + 1) * 8,
                '\x0c' => indent = 0,
                _ => {
                    at_start = false;
                    start = number;
                    continue;
                }
            }
            i += 1;
            continue;
        }
        match c {
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            '\'' | '"' => {
                let triple = chars.get(i + 1) == Some(&c) && chars.get(i + 2) == Some(&c);
                i += if triple { 3 } else { 1 };
                while i < chars.len() {
                    match chars[i] {
                        '\\' => {
                            if chars.get(i + 1) == Some(&'\n') {
                                number += 1;
                            }
                            i += 2;
                            continue;
                        }
                        '\n' if !triple => break,
                        '\n' => number += 1,
                        q if q == c => {
                            if !triple {
                                i += 1;
                                break;
                            }
                            if chars.get(i + 1) == Some(&c) && chars.get(i + 2) == Some(&c) {
                                i += 3;
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
                cur.push_str("\"\"");
                continue;
            }
            '\\' if chars.get(i + 1) == Some(&'\n') => {
                number += 1;
                cur.push(' ');
                i += 2;
                continue;
            }
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            '\n' => {
                number += 1;
                if depth > 0 {
                    cur.push(' ');
                } else {
                    flush(&mut lines, &mut cur, indent, start);
                    at_start = true;
                    indent = 0;
                }
                i += 1;
                continue;
            }
            _ => {}
        }
        cur.push(c);
        i += 1;
    }
    flush(&mut lines, &mut cur, indent, start);
    lines
}

fn flush(lines: &mut Vec<Line>, cur: &mut String, indent: usize, number: usize) {
    let text = cur.trim();
    if !text.is_empty() {
        lines.push(Line {
            text: text.to_string(),
            indent,
            number,
        });
    }
    cur.clear();
}

/// The absolute modules `src` imports, as dotted names: `import a.b as c, d` gives `a.b` and
/// `d`; `from x.y import p, q` gives `x.y.p` and `x.y.q` (the names may be submodules, which
/// matters for namespace packages such as `google`). Relative imports and `__future__` are
/// left out. Imports anywhere count, inside functions and `try` blocks included.
pub fn imports(src: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in logical_lines(src) {
        for stmt in line.text.split(';') {
            import_statement(stmt.trim(), &mut out);
        }
    }
    out
}

fn import_statement(stmt: &str, out: &mut Vec<String>) {
    if let Some(rest) = keyword(stmt, "import") {
        for item in rest.split(',') {
            if let Some(name) = item.split_whitespace().next().filter(|n| is_dotted(n)) {
                out.push(name.to_string());
            }
        }
    } else if let Some(rest) = keyword(stmt, "from") {
        let rest = rest.trim_start();
        let (module, after) = rest.split_at(rest.find(char::is_whitespace).unwrap_or(rest.len()));
        let Some(names) = after.trim_start().strip_prefix("import") else {
            return;
        };
        if !names.starts_with(|c: char| c.is_whitespace() || c == '(') {
            return;
        }
        if module.starts_with('.') || module == "__future__" || !is_dotted(module) {
            return;
        }
        let names = names.trim().trim_start_matches('(').trim_end_matches(')');
        let mut any = false;
        for item in names.split(',') {
            if let Some(name) = item.split_whitespace().next().filter(|n| is_identifier(n)) {
                out.push(format!("{module}.{name}"));
                any = true;
            }
        }
        if !any {
            out.push(module.to_string());
        }
    }
}

/// The rest of `stmt` if it starts with the keyword `kw` followed by whitespace.
fn keyword<'a>(stmt: &'a str, kw: &str) -> Option<&'a str> {
    let rest = stmt.strip_prefix(kw)?;
    rest.starts_with(char::is_whitespace).then_some(rest)
}

pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c == '_' || c.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphanumeric())
}

fn is_dotted(s: &str) -> bool {
    s.split('.').all(is_identifier)
}

/// The first component of a dotted module name.
pub fn top(module: &str) -> &str {
    module.split('.').next().unwrap_or(module)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_forms() {
        let cases: &[(&str, &[&str])] = &[
            ("import os", &["os"]),
            ("import a, b", &["a", "b"]),
            ("import a.b as c", &["a.b"]),
            ("import a.b as c, d as e, f", &["a.b", "d", "f"]),
            ("from x import y", &["x.y"]),
            ("from x.y import z as w, v", &["x.y.z", "x.y.v"]),
            ("from x import (\n    a,\n    b,\n)", &["x.a", "x.b"]),
            ("from x import (a,  # the first\n b)", &["x.a", "x.b"]),
            ("from x import *", &["x"]),
            ("from x import \\\n    a", &["x.a"]),
            ("from . import sibling", &[]),
            ("from .models import User", &[]),
            ("from ..pkg.mod import f", &[]),
            ("from __future__ import annotations", &[]),
            (
                "def f():\n    import numpy as np\n    return np",
                &["numpy"],
            ),
            (
                "try:\n    import ujson as json\nexcept ImportError:\n    import json",
                &["ujson", "json"],
            ),
            ("import os; import sys", &["os", "sys"]),
            ("# import nothing\nx = 1", &[]),
            ("s = 'import fake'", &[]),
            (
                "\"\"\"Docs.\n\nimport fake\nfrom fake import x\n\"\"\"\nimport real",
                &["real"],
            ),
            ("x = '''a\n''' ; import after", &["after"]),
            ("important = 1\nfromage = 2\nimport_x = 3", &[]),
            ("print('from x import y')", &[]),
            (
                "from google.protobuf import message",
                &["google.protobuf.message"],
            ),
            (
                "from importlib import import_module",
                &["importlib.import_module"],
            ),
            ("from x import(a, b)", &["x.a", "x.b"]),
            ("from x importa", &[]),
        ];
        for (src, want) in cases {
            assert_eq!(imports(src), want.to_vec(), "{src:?}");
        }
    }

    #[test]
    fn logical_lines_join_and_blank() {
        let lines = logical_lines("a = f(1,\n      2)  # c\n\nif x:\n    s = \"it's\"\n\tt = 1\n");
        let got: Vec<_> = lines
            .iter()
            .map(|l| (l.text.as_str(), l.indent, l.number))
            .collect();
        assert_eq!(
            got,
            vec![
                ("a = f(1,       2)", 0, 1),
                ("if x:", 0, 4),
                ("s = \"\"", 4, 5),
                ("t = 1", 8, 6),
            ]
        );
    }

    #[test]
    fn escapes_and_unterminated_strings_do_not_swallow_code() {
        assert_eq!(imports("s = 'a\\'b'\nimport x"), vec!["x"]);
        assert_eq!(imports("s = 'oops\nimport x"), vec!["x"]);
        assert_eq!(imports("s = \"\"\"a\\\"\"\"\"\nimport x"), vec!["x"]);
    }

    #[test]
    fn names() {
        assert!(is_identifier("_x1") && is_identifier("café"));
        assert!(!is_identifier("1x") && !is_identifier("") && !is_identifier("a-b"));
        assert_eq!(top("a.b.c"), "a");
        assert_eq!(top("a"), "a");
    }
}
