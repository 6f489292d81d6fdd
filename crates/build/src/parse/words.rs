//! Low-level splitting of instruction arguments: builder flags, quoted words, JSON arrays.

/// Whitespace as the Dockerfile grammar sees it between arguments (no newlines remain).
fn is_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\x0b' | '\x0c' | '\r')
}

/// Splits on runs of whitespace, like Docker's `[\t\v\f\r ]+` split of FROM/EXPOSE/COPY args.
pub(crate) fn split_ws(s: &str) -> Vec<String> {
    s.split(is_ws)
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Splits `s` at its first run of whitespace: `("RUN", "echo hi")`.
pub(crate) fn split_first(s: &str) -> (&str, &str) {
    match s.find(is_ws) {
        Some(i) => (&s[..i], s[i..].trim_start_matches(is_ws)),
        None => (s, ""),
    }
}

/// Words of an ENV/LABEL/ARG line: whitespace separates words except inside quotes; quotes
/// and escapes stay in the word (expansion removes them later). An escape at the very end is
/// dropped.
pub(crate) fn quoted_words(rest: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut blank_ok = false;
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            if c == q {
                quote = None;
                word.push(c);
                continue;
            }
            if c == escape && q != '\'' {
                match chars.next() {
                    Some(n) => {
                        word.push(c);
                        word.push(n);
                    }
                    None => quote = None,
                }
                continue;
            }
            word.push(c);
            continue;
        }
        if c.is_whitespace() {
            if in_word && (blank_ok || !word.is_empty()) {
                words.push(std::mem::take(&mut word));
            }
            in_word = false;
            blank_ok = false;
            continue;
        }
        in_word = true;
        if c == '\'' || c == '"' {
            quote = Some(c);
            blank_ok = true;
            word.push(c);
        } else if c == escape {
            if let Some(n) = chars.next() {
                word.push(c);
                word.push(n);
            }
        } else {
            word.push(c);
        }
    }
    if in_word && (blank_ok || !word.is_empty()) {
        words.push(word);
    }
    words
}

/// Separates leading `--flag[=value]` words from the rest of the arguments. Quotes inside a
/// flag are removed (`--chown="a b"`), a lone `--` ends the flags.
pub(crate) fn extract_flags(line: &str) -> (Vec<String>, String) {
    let chars: Vec<char> = line.chars().collect();
    let mut flags = Vec::new();
    let mut i = 0;
    loop {
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        if i + 1 >= chars.len() || chars[i] != '-' || chars[i + 1] != '-' {
            let rest: String = chars[i..].iter().collect();
            return (flags, rest.trim().to_owned());
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        while i < chars.len() {
            let c = chars[i];
            match quote {
                None if c.is_whitespace() => break,
                None if c == '\'' || c == '"' => quote = Some(c),
                Some(q) if c == q => quote = None,
                _ if c == '\\' => {
                    if i + 1 < chars.len() {
                        i += 1;
                        word.push(chars[i]);
                    }
                }
                _ => word.push(c),
            }
            i += 1;
        }
        if word == "--" {
            let rest: String = chars[i..].iter().collect();
            return (flags, rest.trim().to_owned());
        }
        flags.push(word);
    }
}

/// Why an argument that looks like JSON was refused.
pub(crate) const NOT_STRINGS: &str =
    "when using JSON array syntax, arrays must be comprised of strings only";

/// `Ok(Some(list))` for a JSON array of strings, `Ok(None)` when `rest` is not JSON (so it is
/// shell form), `Err` for a JSON array holding something other than strings.
pub(crate) fn json_array(rest: &str) -> Result<Option<Vec<String>>, String> {
    let t = rest.trim_start();
    if !t.starts_with('[') {
        return Ok(None);
    }
    let Ok(values) = serde_json::from_str::<Vec<serde_json::Value>>(t) else {
        return Ok(None);
    };
    values
        .into_iter()
        .map(|v| match v {
            serde_json::Value::String(s) => Ok(s),
            _ => Err(NOT_STRINGS.to_owned()),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// How a builder flag takes its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlagKind {
    /// `--link` or `--link=true|false`.
    Bool,
    /// `--from=x`, at most once.
    Str,
    /// `--mount=x`, any number of times.
    List,
}

/// Flags after validation against what an instruction accepts.
#[derive(Debug, Default)]
pub(crate) struct Flags {
    values: Vec<(String, String)>,
}

impl Flags {
    /// Checks raw `--name=value` words against `allowed`.
    pub(crate) fn parse(raw: &[String], allowed: &[(&str, FlagKind)]) -> Result<Flags, String> {
        let mut flags = Flags::default();
        for word in raw {
            let Some(body) = word.strip_prefix("--") else {
                return Err(format!("arg should start with -- : {word}"));
            };
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            let Some(&(_, kind)) = allowed.iter().find(|(n, _)| *n == name) else {
                return Err(unknown_flag(name, allowed));
            };
            if kind != FlagKind::List && flags.values.iter().any(|(n, _)| n == name) {
                return Err(format!("duplicate flag specified: {name}"));
            }
            let value = match (kind, value) {
                (FlagKind::Bool, None) => "true".to_owned(),
                (FlagKind::Bool, Some("")) | (_, None) => {
                    return Err(format!("missing a value on flag: {name}"))
                }
                (FlagKind::Bool, Some(v)) => match v.to_ascii_lowercase().as_str() {
                    "true" => "true".to_owned(),
                    "false" => "false".to_owned(),
                    _ => return Err(format!("expecting boolean value for flag {name}, not: {v}")),
                },
                (_, Some(v)) => v.to_owned(),
            };
            flags.values.push((name.to_owned(), value));
        }
        Ok(flags)
    }

    pub(crate) fn string(&self, name: &str) -> Option<String> {
        self.values
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    pub(crate) fn bool(&self, name: &str) -> bool {
        self.string(name).is_some_and(|v| v == "true")
    }

    pub(crate) fn list(&self, name: &str) -> Vec<String> {
        self.values
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

fn unknown_flag(name: &str, allowed: &[(&str, FlagKind)]) -> String {
    let names = allowed.iter().map(|(n, _)| *n);
    match crate::parse::suggest(name, names) {
        Some(s) => format!("unknown flag: {name} (did you mean {s}?)"),
        None => format!("unknown flag: {name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_split_from_arguments() {
        let rows: &[(&str, &[&str], &str)] = &[
            ("--from=build /a /b", &["--from=build"], "/a /b"),
            ("--chown=\"a b\" x y", &["--chown=a b"], "x y"),
            ("--link  --chmod=644 a b", &["--link", "--chmod=644"], "a b"),
            ("-- --notaflag x", &[], "--notaflag x"),
            ("a --b", &[], "a --b"),
            (
                "--mount=type=cache,target=/c",
                &["--mount=type=cache,target=/c"],
                "",
            ),
        ];
        for (line, flags, rest) in rows {
            let (f, r) = extract_flags(line);
            assert_eq!(f, *flags, "{line}");
            assert_eq!(r, *rest, "{line}");
        }
    }

    #[test]
    fn quoted_words_keep_quotes() {
        assert_eq!(
            quoted_words(r#"A=1 B="x y" C='p q' D=a\ b"#, '\\'),
            vec!["A=1", r#"B="x y""#, "C='p q'", r"D=a\ b"]
        );
        assert_eq!(quoted_words("  ", '\\'), Vec::<String>::new());
        assert_eq!(quoted_words(r#""""#, '\\'), vec![r#""""#]);
    }

    #[test]
    fn json_arrays() {
        assert_eq!(
            json_array(r#"["a", "b c"]"#),
            Ok(Some(vec!["a".into(), "b c".into()]))
        );
        assert_eq!(json_array("echo [x]"), Ok(None));
        assert_eq!(json_array("[not json"), Ok(None));
        assert_eq!(json_array("[1, 2]"), Err(NOT_STRINGS.to_owned()));
    }

    #[test]
    fn flag_validation() {
        let allowed = [("from", FlagKind::Str), ("link", FlagKind::Bool)];
        let parse = |raw: &[&str]| {
            let raw: Vec<String> = raw.iter().map(|s| s.to_string()).collect();
            Flags::parse(&raw, &allowed)
        };
        assert!(parse(&["--from=a", "--link"]).unwrap().bool("link"));
        assert!(!parse(&["--link=false"]).unwrap().bool("link"));
        assert_eq!(
            parse(&["--form=a"]).unwrap_err(),
            "unknown flag: form (did you mean from?)"
        );
        assert_eq!(
            parse(&["--from"]).unwrap_err(),
            "missing a value on flag: from"
        );
        assert_eq!(
            parse(&["--from=a", "--from=b"]).unwrap_err(),
            "duplicate flag specified: from"
        );
        assert_eq!(
            parse(&["--link=maybe"]).unwrap_err(),
            "expecting boolean value for flag link, not: maybe"
        );
    }
}
