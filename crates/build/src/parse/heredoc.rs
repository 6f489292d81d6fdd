//! Recognising `<<EOF` words on RUN, COPY and ADD lines.

/// A heredoc opener found on an instruction line; its body is read afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Opener {
    pub name: String,
    pub expand: bool,
    pub chomp: bool,
    pub fd: Option<u32>,
}

/// Splits a line into words the way a shell would see them, keeping quotes and escapes as
/// written: only unquoted whitespace separates words.
pub(crate) fn raw_words(line: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                word.push(c);
                if c == q {
                    quote = None;
                } else if c == escape && q == '"' {
                    if let Some(n) = chars.next() {
                        word.push(n);
                    }
                }
            }
            None if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            None => {
                in_word = true;
                word.push(c);
                if c == '\'' || c == '"' {
                    quote = Some(c);
                } else if c == escape {
                    if let Some(n) = chars.next() {
                        word.push(n);
                    }
                }
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// Parses one word as a heredoc opener: `[fd]<<[-]DELIM`, where DELIM may be quoted (which
/// turns expansion of the body off). Returns `None` for anything else.
pub(crate) fn parse_word(word: &str) -> Option<Opener> {
    let digits = word.bytes().take_while(u8::is_ascii_digit).count();
    let after = word[digits..].strip_prefix("<<")?;
    let (chomp, rest) = match after.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, after),
    };
    if rest.is_empty() || rest.contains('<') {
        return None;
    }
    let fd = if digits > 0 {
        word[..digits].parse().ok()
    } else {
        None
    };
    let (name, quoted) = unquote(rest)?;
    if name.is_empty() {
        return None;
    }
    Some(Opener {
        name,
        expand: !quoted,
        chomp,
        fd,
    })
}

/// Removes shell quoting from a delimiter. `None` if it is more than one word or a quote is
/// left open.
fn unquote(s: &str) -> Option<(String, bool)> {
    let mut out = String::new();
    let mut quoted = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                quoted = true;
                loop {
                    let n = chars.next()?;
                    if n == c {
                        break;
                    }
                    if c == '"' && n == '\\' {
                        out.push(chars.next()?);
                    } else {
                        out.push(n);
                    }
                }
            }
            '\\' => out.push(chars.next()?),
            c if c.is_whitespace() => return None,
            c => out.push(c),
        }
    }
    Some((out, quoted))
}

/// The heredoc openers on an instruction line, in order.
pub(crate) fn openers(line: &str, escape: char) -> Vec<Opener> {
    if !line.contains("<<") {
        return Vec::new();
    }
    raw_words(line, escape)
        .iter()
        .filter_map(|w| parse_word(w))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_keep_quotes_and_split_on_unquoted_space() {
        assert_eq!(
            raw_words(r#"RUN cat <<"E O F" 'a b' c\ d"#, '\\'),
            vec!["RUN", "cat", r#"<<"E O F""#, "'a b'", r"c\ d"]
        );
    }

    /// Delimiter, expand, chomp, fd.
    type Want = Option<(&'static str, bool, bool, Option<u32>)>;

    #[test]
    fn openers_table() {
        let rows: &[(&str, Want)] = &[
            ("<<EOF", Some(("EOF", true, false, None))),
            ("<<-EOF", Some(("EOF", true, true, None))),
            ("<<\"EOF\"", Some(("EOF", false, false, None))),
            ("<<'EOF'", Some(("EOF", false, false, None))),
            ("<<-'EOT'", Some(("EOT", false, true, None))),
            ("3<<EOF", Some(("EOF", true, false, Some(3)))),
            ("<<E\"O\"F", Some(("EOF", false, false, None))),
            ("<<", None),
            ("<<<EOF", None),
            ("a<<EOF", None),
            ("\"<<EOF\"", None),
            ("<<'EOF", None),
        ];
        for (word, want) in rows {
            let got = parse_word(word).map(|o| (o.name, o.expand, o.chomp, o.fd));
            let want = want.map(|(n, e, c, f)| (n.to_owned(), e, c, f));
            assert_eq!(got, want, "{word}");
        }
    }
}
