//! A YAML writer for JSON values that every YAML reader in the path reads back the same.
//!
//! serde_norway writes `yes`, `on`, `n`, `1:20` or `2001-12-14` as plain scalars: strings in
//! YAML 1.2, but a bool, an integer (sexagesimal) and a timestamp to the YAML 1.1 readers that
//! kubectl (go-yaml v2 under sigs.k8s.io/yaml) and PyYAML use, so `DEBUG=yes` would reach a
//! cluster as `true` and be refused. Here a string is written plain only when it starts with a
//! letter, `_` or `/`, holds no character YAML gives a meaning, and is no YAML 1.1 word;
//! everything else is double-quoted with JSON's escapes, which both YAML versions share.

use serde_json::{Map, Value};

/// `value` as a block-style YAML document (no `---`), ending with a newline.
pub(crate) fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => write_mapping(&mut out, map, 0, false),
        Value::Array(items) if !items.is_empty() => write_sequence(&mut out, items, 0),
        scalar => {
            out.push_str(&scalar_text(scalar));
            out.push('\n');
        }
    }
    out
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

/// Entries at `indent`; with `inline_first` the first entry follows a `- ` already written.
fn write_mapping(out: &mut String, map: &Map<String, Value>, indent: usize, inline_first: bool) {
    for (i, (key, value)) in map.iter().enumerate() {
        if i > 0 || !inline_first {
            pad(out, indent);
        }
        out.push_str(&string_text(key));
        out.push(':');
        match value {
            Value::Object(inner) if !inner.is_empty() => {
                out.push('\n');
                write_mapping(out, inner, indent + 2, false);
            }
            // A sequence under a key sits at the key's indentation, as kubectl writes it.
            Value::Array(items) if !items.is_empty() => {
                out.push('\n');
                write_sequence(out, items, indent);
            }
            scalar => {
                out.push(' ');
                out.push_str(&scalar_text(scalar));
                out.push('\n');
            }
        }
    }
}

fn write_sequence(out: &mut String, items: &[Value], indent: usize) {
    for item in items {
        pad(out, indent);
        out.push('-');
        match item {
            Value::Object(map) if !map.is_empty() => {
                out.push(' ');
                write_mapping(out, map, indent + 2, true);
            }
            Value::Array(inner) if !inner.is_empty() => {
                out.push('\n');
                write_sequence(out, inner, indent + 2);
            }
            scalar => {
                out.push(' ');
                out.push_str(&scalar_text(scalar));
                out.push('\n');
            }
        }
    }
}

/// A scalar, or an empty collection in flow style.
fn scalar_text(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string_text(s),
        Value::Array(_) => "[]".to_string(),
        Value::Object(_) => "{}".to_string(),
    }
}

/// Words YAML 1.1 resolves to bools or null, matched case-insensitively.
const SPECIAL_WORDS: [&str; 12] = [
    "y", "n", "yes", "no", "true", "false", "on", "off", "null", "nan", "inf", "infinity",
];

fn string_text(s: &str) -> String {
    if is_plain_safe(s) {
        s.to_string()
    } else {
        // A JSON string is a YAML double-quoted scalar, in 1.1 and 1.2 alike.
        Value::String(s.to_string()).to_string()
    }
}

fn is_plain_safe(s: &str) -> bool {
    let bytes = s.as_bytes();
    let Some(&first) = bytes.first() else {
        return false;
    };
    let first_ok = first.is_ascii_alphabetic() || first == b'_' || first == b'/';
    let chars_ok = bytes.iter().all(|&b| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'.' | b'_' | b'/' | b':' | b'@' | b'+' | b'=' | b'-' | b' '
            )
    });
    first_ok
        && chars_ok
        && !s.ends_with([' ', ':'])
        && !s.contains(": ")
        && !s.contains(" #")
        && !SPECIAL_WORDS.iter().any(|w| w.eq_ignore_ascii_case(s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ambiguous_strings_are_quoted() {
        let quoted = [
            "yes",
            "No",
            "ON",
            "off",
            "y",
            "N",
            "true",
            "Null",
            "~",
            "",
            "8080",
            "1:20",
            "12:30:00",
            "2001-12-14",
            "1_000",
            "0x1F",
            "0o17",
            "0b101",
            "1e3",
            ".inf",
            "-",
            "- a",
            "a: b",
            "a #c",
            "trailing ",
            "key:",
            "*alias",
            "&anchor",
            "!tag",
            "%x",
            "@x",
            "`x",
            "'x'",
            "\"x\"",
            "{x}",
            "[x]",
            "x, y",
            "?x",
            "|",
            ">",
            "line\nbreak",
            "tab\there",
            "é",
            "=",
            "<<",
            "+12",
        ];
        for s in quoted {
            let yaml = string_text(s);
            assert!(yaml.starts_with('"'), "{s:?} written as {yaml}");
            let back: String = serde_norway::from_str(&yaml).expect("reads back");
            assert_eq!(back, s);
        }
        let plain = [
            "nginx",
            "docker.io/library/nginx:1.27",
            "/var/lib/app",
            "app.kubernetes.io/name",
            "curl -fs http://localhost:8000/health",
            "NET_ADMIN",
            "metadata.name",
            "a=b",
        ];
        for s in plain {
            assert_eq!(string_text(s), s);
        }
    }

    #[test]
    fn block_layout() {
        let value = json!({
            "a": 1,
            "b": { "c": [ { "d": "x", "e": [] }, "f" ], "g": {} },
            "h": [[1, 2]],
            "i": "yes",
        });
        let yaml = to_yaml(&value);
        assert_eq!(
            yaml,
            "a: 1\nb:\n  c:\n  - d: x\n    e: []\n  - f\n  g: {}\nh:\n-\n  - 1\n  - 2\ni: \"yes\"\n"
        );
        let back: Value = serde_norway::from_str(&yaml).expect("reads back");
        assert_eq!(back, value);
    }
}
