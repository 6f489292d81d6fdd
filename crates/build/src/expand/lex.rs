//! The shell-like word processor Docker applies to ENV/ARG-aware instructions: quotes,
//! escapes, `$VAR` and `${VAR…}` forms, and splitting into words after expansion.

use super::Lookup;

/// How a word is processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Instruction arguments: quotes are removed, the escape character escapes anything.
    Word,
    /// Heredoc bodies: quotes are text; only `\$`, `\\` and `` \` `` are escapes.
    Heredoc,
    /// Step titles: like `Word`, but quotes and escapes stay as written and references to
    /// unset variables are left untouched (BuildKit's progress names).
    Display,
}

pub(crate) struct Lexer<'a> {
    chars: Vec<char>,
    pos: usize,
    escape: char,
    vars: &'a dyn Lookup,
    mode: Mode,
    /// A lookup found nothing since the flag was last cleared.
    missed: bool,
}

/// Collects words: whitespace produced by expansion or written unquoted separates words,
/// whitespace from quotes does not.
#[derive(Default)]
struct Words {
    words: Vec<String>,
    word: String,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, c: char) {
        if c.is_whitespace() {
            if self.in_word && !self.word.is_empty() {
                self.words.push(std::mem::take(&mut self.word));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(c);
        }
    }

    fn add_raw_char(&mut self, c: char) {
        self.word.push(c);
        self.in_word = true;
    }

    fn add_string(&mut self, s: &str) {
        s.chars().for_each(|c| self.add_char(c));
    }

    fn add_raw_string(&mut self, s: &str) {
        self.word.push_str(s);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<String> {
        if !self.word.is_empty() {
            self.words.push(self.word);
        }
        self.words
    }
}

type Out = Result<String, String>;

impl<'a> Lexer<'a> {
    pub(crate) fn new(word: &str, escape: char, vars: &'a dyn Lookup, mode: Mode) -> Self {
        Self {
            chars: word.chars().collect(),
            pos: 0,
            escape,
            vars,
            mode,
            missed: false,
        }
    }

    /// Processes the whole input: the expanded text and its words.
    pub(crate) fn run(mut self) -> Result<(String, Vec<String>), String> {
        self.until(None, false)
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        Some(c)
    }

    /// Processes until `stop` (consumed) or the end of input. With `raw_escapes` the escape
    /// character is kept in the output (patterns of `${x#…}` need it).
    fn until(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Result<(String, Vec<String>), String> {
        let mut out = String::new();
        let mut words = Words::default();
        let quotes = self.mode != Mode::Heredoc;
        let keep_escapes = raw_escapes || self.mode == Mode::Display;
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                self.pos += 1;
                return Ok((out, words.finish()));
            }
            match c {
                '$' => {
                    let v = self.dollar()?;
                    words.add_string(&v);
                    out.push_str(&v);
                }
                '\'' if quotes => {
                    let v = self.single_quoted()?;
                    words.add_raw_string(&v);
                    out.push_str(&v);
                }
                '"' if quotes => {
                    let v = self.double_quoted()?;
                    words.add_raw_string(&v);
                    out.push_str(&v);
                }
                '\\' if self.mode == Mode::Heredoc => {
                    self.pos += 1;
                    match self.peek() {
                        Some(n @ ('$' | '\\' | '`')) => {
                            self.pos += 1;
                            out.push(n);
                        }
                        _ => out.push(c),
                    }
                }
                c if c == self.escape && quotes => {
                    self.pos += 1;
                    if keep_escapes {
                        words.add_raw_char(c);
                        out.push(c);
                    }
                    let Some(n) = self.next() else { break };
                    words.add_raw_char(n);
                    out.push(n);
                }
                c => {
                    self.pos += 1;
                    words.add_char(c);
                    out.push(c);
                }
            }
        }
        match stop {
            Some(s) => Err(format!(
                "unexpected end of statement while looking for matching {s}"
            )),
            None => Ok((out, words.finish())),
        }
    }

    fn single_quoted(&mut self) -> Out {
        self.pos += 1;
        let raw = self.mode == Mode::Display;
        let mut out = String::from(if raw { "'" } else { "" });
        loop {
            match self.next() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .into(),
                    )
                }
                Some('\'') => {
                    if raw {
                        out.push('\'');
                    }
                    return Ok(out);
                }
                Some(c) => out.push(c),
            }
        }
    }

    fn double_quoted(&mut self) -> Out {
        self.pos += 1;
        let raw = self.mode == Mode::Display;
        let mut out = String::from(if raw { "\"" } else { "" });
        loop {
            match self.peek() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching double-quote"
                            .into(),
                    )
                }
                Some('"') => {
                    self.pos += 1;
                    if raw {
                        out.push('"');
                    }
                    return Ok(out);
                }
                Some('$') => out.push_str(&self.dollar()?),
                Some(mut c) => {
                    self.pos += 1;
                    if c == self.escape {
                        if raw {
                            out.push(c);
                        }
                        match self.peek() {
                            None => continue,
                            Some(n) if n == '"' || n == '$' || n == self.escape => {
                                self.pos += 1;
                                c = n;
                            }
                            Some(_) => {}
                        }
                    }
                    out.push(c);
                }
            }
        }
    }

    fn lookup(&mut self, name: &str) -> Option<String> {
        let found = self.vars.lookup(name).map(str::to_owned);
        self.missed |= found.is_none();
        found
    }

    /// A `$` reference. In display mode, one that touches an unset variable stays as written.
    fn dollar(&mut self) -> Out {
        let start = self.pos;
        let missed = std::mem::take(&mut self.missed);
        let value = self.reference();
        if self.mode == Mode::Display && self.missed {
            self.missed = true;
            return Ok(self.chars[start..self.pos].iter().collect());
        }
        self.missed |= missed;
        value
    }

    fn reference(&mut self) -> Out {
        self.pos += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(self.lookup(&name).unwrap_or_default());
        }
        self.pos += 1;
        match self.peek() {
            None => return Err("missing '}'".into()),
            Some('{' | '}' | ':') => return Err("bad substitution".into()),
            Some(_) => {}
        }
        let name = self.name();
        let Some(c) = self.next() else {
            return Err("missing '}'".into());
        };
        match c {
            '}' => Ok(self.lookup(&name).unwrap_or_default()),
            ':' | '+' | '-' | '?' | '#' | '%' => self.modifier(&name, c),
            '/' => self.replace(&name),
            other => Err(format!("unsupported modifier ({other}) in substitution")),
        }
    }

    /// `${name:-w}`, `${name-w}`, `${name:+w}`, `${name+w}`, `${name:?w}`, `${name?w}`,
    /// `${name#p}`, `${name##p}`, `${name%p}`, `${name%%p}`.
    fn modifier(&mut self, name: &str, first: char) -> Out {
        let (null_is_unset, op) = if first == ':' {
            match self.next() {
                Some(op) => (true, op),
                None => return Err("missing '}'".into()),
            }
        } else {
            (false, first)
        };
        let raw = op == '#' || op == '%';
        let word = self.word_to_brace(raw)?;
        let value = self.lookup(name);
        let empty = match &value {
            None => true,
            Some(v) => null_is_unset && v.is_empty(),
        };
        match op {
            '-' => Ok(if empty {
                word
            } else {
                value.unwrap_or_default()
            }),
            '+' => Ok(if empty { String::new() } else { word }),
            '?' => match value {
                None => Err(unset_message(name, &word, "is not allowed to be unset")),
                Some(v) if v.is_empty() && null_is_unset => {
                    Err(unset_message(name, &word, "is not allowed to be empty"))
                }
                Some(v) => Ok(v),
            },
            '#' | '%' if first != ':' => {
                let value = value.unwrap_or_default();
                let (greedy, pattern) = match word.strip_prefix(op) {
                    Some(p) => (true, p),
                    None => (false, word.as_str()),
                };
                let pattern = compile(pattern)?;
                Ok(if op == '#' {
                    trim_prefix(&pattern, &value, greedy)
                } else {
                    trim_suffix(&pattern, &value, greedy)
                })
            }
            _ => Err(format!(
                "unsupported modifier ({first}{op}) in substitution"
            )),
        }
    }

    fn word_to_brace(&mut self, raw: bool) -> Out {
        match self.until(Some('}'), raw) {
            Ok((w, _)) => Ok(w),
            Err(_) if self.peek().is_none() => Err("missing '}'".into()),
            Err(e) => Err(e),
        }
    }

    /// `${name/pattern/replacement}` and `${name//pattern/replacement}`.
    fn replace(&mut self, name: &str) -> Out {
        let all = self.peek() == Some('/');
        if all {
            self.pos += 1;
        }
        let pattern = match self.until(Some('/'), true) {
            Ok((p, _)) => p,
            Err(_) if self.peek().is_none() => return Err("missing '/' in ${}".into()),
            Err(e) => return Err(e),
        };
        let replacement = self.word_to_brace(true)?;
        let value = self.lookup(name).unwrap_or_default();
        let pattern = compile(&pattern)?;
        Ok(replace(&pattern, &value, &replacement, all))
    }

    /// A variable name: letters, digits and `_`; or a run of digits; or one special parameter.
    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if name.is_empty() && c.is_ascii_digit() {
                while let Some(d) = self.peek().filter(char::is_ascii_digit) {
                    name.push(d);
                    self.pos += 1;
                }
                return name;
            }
            if name.is_empty() && matches!(c, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.pos += 1;
                return c.to_string();
            }
            if !(c.is_alphanumeric() || c == '_') {
                break;
            }
            name.push(c);
            self.pos += 1;
        }
        name
    }
}

fn unset_message(name: &str, word: &str, default: &str) -> String {
    format!("{name}: {}", if word.is_empty() { default } else { word })
}

/// One element of a `${x#pattern}` pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Star,
    Any,
    Lit(char),
}

fn compile(pattern: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(match c {
            '*' => Tok::Star,
            '?' => Tok::Any,
            '\\' => match chars.next() {
                Some(n @ ('*' | '?' | '\\' | '}' | '/')) => Tok::Lit(n),
                Some(n) => {
                    return Err(format!(
                        "invalid pattern ({pattern}) in substitution: invalid escape '\\{n}'"
                    ))
                }
                None => Tok::Lit('\\'),
            },
            c => Tok::Lit(c),
        });
    }
    Ok(out)
}

fn glob(p: &[Tok], s: &[char]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((Tok::Star, rest)) => (0..=s.len()).any(|i| glob(rest, &s[i..])),
        Some((Tok::Any, rest)) => !s.is_empty() && glob(rest, &s[1..]),
        Some((Tok::Lit(c), rest)) => s.first() == Some(c) && glob(rest, &s[1..]),
    }
}

fn trim_prefix(p: &[Tok], value: &str, greedy: bool) -> String {
    let s: Vec<char> = value.chars().collect();
    let mut lens: Vec<usize> = (0..=s.len()).collect();
    if greedy {
        lens.reverse();
    }
    match lens.into_iter().find(|&n| glob(p, &s[..n])) {
        Some(n) => s[n..].iter().collect(),
        None => value.to_owned(),
    }
}

fn trim_suffix(p: &[Tok], value: &str, greedy: bool) -> String {
    let s: Vec<char> = value.chars().collect();
    let mut starts: Vec<usize> = (0..=s.len()).rev().collect();
    if greedy {
        starts.reverse();
    }
    match starts.into_iter().find(|&i| glob(p, &s[i..])) {
        Some(i) => s[..i].iter().collect(),
        None => value.to_owned(),
    }
}

fn replace(p: &[Tok], value: &str, with: &str, all: bool) -> String {
    let s: Vec<char> = value.chars().collect();
    if p.is_empty() {
        return value.to_owned();
    }
    let mut out = String::new();
    let mut i = 0;
    while i < s.len() {
        let longest = (i + 1..=s.len()).rev().find(|&end| glob(p, &s[i..end]));
        match longest {
            Some(end) => {
                out.push_str(with);
                i = end;
                if !all {
                    out.extend(&s[i..]);
                    return out;
                }
            }
            None => {
                out.push(s[i]);
                i += 1;
            }
        }
    }
    out
}
