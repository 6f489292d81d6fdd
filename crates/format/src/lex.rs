//! Tokenizer for Go `text/template` syntax with the default `{{ }}` delimiters.
//!
//! The whole template is turned into a token list up front. Trim markers
//! (`{{- ` and ` -}}`) are applied to the neighbouring text here, and comments
//! are dropped, so the parser never sees either.

use crate::parse::ParseError;

/// A lexical item.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Text(String),
    LeftDelim,
    RightDelim,
    Space,
    /// `.Name`; the value holds the name without the dot.
    Field(String),
    /// `$name` or a bare `$`; the value includes the dollar sign.
    Variable(String),
    Ident(String),
    /// A quoted or raw string, already unquoted; the second value is the source text.
    Str(String, String),
    /// Numeric literal source text (char constants are converted to their code point).
    Number(String),
    Bool(bool),
    Nil,
    Dot,
    Pipe,
    LeftParen,
    RightParen,
    Declare,
    Assign,
    Comma,
    Keyword(&'static str),
    /// Any other printable character inside an action.
    Other(char),
    /// A lexing failure; the parser reports it when it gets this far, as
    /// Go's lazy lexer would.
    Error(ParseError),
    Eof,
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub tok: Tok,
    pub pos: usize,
}

const KEYWORDS: &[&str] = &[
    "block", "break", "continue", "define", "else", "end", "if", "range", "template", "with",
];

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    toks: Vec<Token>,
    paren_depth: usize,
}

/// Split `src` into tokens, ending with [`Tok::Eof`] (after a [`Tok::Error`]
/// if lexing failed).
pub(crate) fn lex(src: &str) -> Vec<Token> {
    let mut lx = Lexer {
        src,
        pos: 0,
        toks: Vec::new(),
        paren_depth: 0,
    };
    let mut trim_next_text = false;
    while lx.pos < src.len() {
        let rest = &src[lx.pos..];
        let text_end = rest.find("{{").map_or(src.len(), |i| lx.pos + i);
        let after = &src[text_end..];
        let left_trim =
            after.len() > 3 && after[2..].starts_with('-') && after[3..].starts_with(is_space);
        let mut text = &src[lx.pos..text_end];
        if trim_next_text {
            text = text.trim_start_matches(is_space);
        }
        if left_trim {
            text = text.trim_end_matches(is_space);
        }
        if !text.is_empty() {
            lx.push(Tok::Text(text.to_string()), lx.pos);
        }
        if text_end >= src.len() {
            break;
        }
        lx.pos = text_end + if left_trim { 4 } else { 2 };
        match lx.action(text_end) {
            Ok(trim) => trim_next_text = trim,
            Err(e) => {
                lx.push(Tok::Error(e), lx.pos);
                break;
            }
        }
    }
    lx.push(Tok::Eof, src.len());
    lx.toks
}

impl Lexer<'_> {
    fn push(&mut self, tok: Tok, pos: usize) {
        self.toks.push(Token { tok, pos });
    }

    fn rest(&self) -> &str {
        &self.src[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn err(&self, pos: usize, msg: impl Into<String>) -> ParseError {
        ParseError::new(self.src, pos, msg)
    }

    /// Whether the input is at `}}` or ` -}}`; returns the length to skip and
    /// whether the following text must be left-trimmed.
    fn at_right_delim(&self) -> Option<(usize, bool)> {
        let rest = self.rest();
        if rest.starts_with(is_space) && rest[1..].starts_with("-}}") {
            Some((4, true))
        } else if rest.starts_with("}}") {
            Some((2, false))
        } else {
            None
        }
    }

    /// Lex one action starting after its left delimiter. Returns whether the
    /// text after it must be trimmed.
    fn action(&mut self, start: usize) -> Result<bool, ParseError> {
        if self.rest().starts_with("/*") {
            return self.comment(start);
        }
        self.push(Tok::LeftDelim, start);
        loop {
            if let Some((len, trim)) = self.at_right_delim() {
                if self.paren_depth > 0 {
                    return Err(self.err(self.pos, "unclosed left paren"));
                }
                self.push(Tok::RightDelim, self.pos);
                self.pos += len;
                return Ok(trim);
            }
            let Some(c) = self.peek() else {
                return Err(self.err(self.src.len(), "unclosed action"));
            };
            let start = self.pos;
            if is_space(c) {
                while self.peek().is_some_and(is_space) && self.at_right_delim().is_none() {
                    self.pos += 1;
                }
                self.push(Tok::Space, start);
                continue;
            }
            self.pos += c.len_utf8();
            let tok = match c {
                '=' => Tok::Assign,
                ':' => {
                    if self.peek() != Some('=') {
                        return Err(self.err(start, "expected :="));
                    }
                    self.pos += 1;
                    Tok::Declare
                }
                '|' => Tok::Pipe,
                ',' => Tok::Comma,
                '"' => self.quoted(start)?,
                '`' => self.raw(start)?,
                '\'' => self.char_const(start)?,
                '$' => Tok::Variable(format!("${}", self.word())),
                '.' if self.peek().is_some_and(|d| d.is_ascii_digit()) => {
                    self.pos = start;
                    self.number(start)?
                }
                '.' if self.peek().is_some_and(is_alnum) => Tok::Field(self.word().to_string()),
                '.' => Tok::Dot,
                '+' | '-' | '0'..='9' => {
                    self.pos = start;
                    self.number(start)?
                }
                '(' => {
                    self.paren_depth += 1;
                    Tok::LeftParen
                }
                ')' => {
                    if self.paren_depth == 0 {
                        return Err(self.err(start, "unexpected right paren"));
                    }
                    self.paren_depth -= 1;
                    Tok::RightParen
                }
                c if is_alnum(c) => {
                    self.pos = start;
                    let word = self.word();
                    match word {
                        "true" | "false" => Tok::Bool(word == "true"),
                        "nil" => Tok::Nil,
                        w => match KEYWORDS.iter().find(|k| **k == w) {
                            Some(k) => Tok::Keyword(k),
                            None => Tok::Ident(w.to_string()),
                        },
                    }
                }
                c if c.is_ascii_graphic() => Tok::Other(c),
                c => {
                    return Err(self.err(start, format!("bad character U+{:04X} '{c}'", c as u32)));
                }
            };
            self.push(tok, start);
        }
    }

    fn comment(&mut self, start: usize) -> Result<bool, ParseError> {
        let Some(end) = self.rest().find("*/") else {
            return Err(self.err(start, "unclosed comment"));
        };
        self.pos += end + 2;
        match self.at_right_delim() {
            Some((len, trim)) => {
                self.pos += len;
                Ok(trim)
            }
            None => Err(self.err(start, "comment ends before closing delimiter")),
        }
    }

    /// Consume an identifier-like run of alphanumerics.
    fn word(&mut self) -> &str {
        let start = self.pos;
        while self.peek().is_some_and(is_alnum) {
            self.pos += self.peek().map_or(1, char::len_utf8);
        }
        &self.src[start..self.pos]
    }

    fn number(&mut self, start: usize) -> Result<Tok, ParseError> {
        let rest = self.rest();
        let bytes = rest.as_bytes();
        let mut i = 0;
        if matches!(bytes.first(), Some(b'+' | b'-')) {
            i += 1;
        }
        let hex = rest[i..].starts_with("0x") || rest[i..].starts_with("0X");
        if hex {
            i += 2;
            while i < bytes.len() && (bytes[i].is_ascii_hexdigit() || bytes[i] == b'_') {
                i += 1;
            }
        } else {
            while i < bytes.len()
                && (bytes[i].is_ascii_digit() || bytes[i] == b'_' || bytes[i] == b'.')
            {
                i += 1;
            }
            if i < bytes.len() && matches!(bytes[i], b'e' | b'E') {
                i += 1;
                if i < bytes.len() && matches!(bytes[i], b'+' | b'-') {
                    i += 1;
                }
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
            }
        }
        let text = &rest[..i];
        let bad = !text.bytes().any(|b| b.is_ascii_digit())
            || rest[i..].starts_with(is_alnum)
            || rest[i..].starts_with('.');
        if bad {
            let end = rest[i..]
                .find(|c: char| !is_alnum(c) && c != '.')
                .map_or(rest.len(), |e| i + e);
            return Err(self.err(start, format!("bad number syntax: {:?}", &rest[..end])));
        }
        let tok = Tok::Number(text.replace('_', ""));
        self.pos += i;
        Ok(tok)
    }

    fn quoted(&mut self, start: usize) -> Result<Tok, ParseError> {
        let mut out = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.pos += i + 1;
                    return Ok(Tok::Str(out, self.src[start..self.pos].to_string()));
                }
                '\n' => break,
                '\\' => {
                    let Some((_, e)) = chars.next() else { break };
                    let simple = match e {
                        'n' => Some('\n'),
                        't' => Some('\t'),
                        'r' => Some('\r'),
                        'a' => Some('\u{7}'),
                        'b' => Some('\u{8}'),
                        'f' => Some('\u{c}'),
                        'v' => Some('\u{b}'),
                        '\\' | '"' | '\'' => Some(e),
                        _ => None,
                    };
                    if let Some(s) = simple {
                        out.push(s);
                        continue;
                    }
                    let digits = match e {
                        'x' => 2,
                        'u' => 4,
                        'U' => 8,
                        _ => return Err(self.err(start, "invalid syntax in quoted string")),
                    };
                    let hex: String = chars.by_ref().take(digits).map(|(_, h)| h).collect();
                    match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                        Some(ch) if hex.len() == digits => out.push(ch),
                        _ => return Err(self.err(start, "invalid syntax in quoted string")),
                    }
                }
                c => out.push(c),
            }
        }
        Err(self.err(start, "unterminated quoted string"))
    }

    fn raw(&mut self, start: usize) -> Result<Tok, ParseError> {
        match self.rest().find('`') {
            Some(end) => {
                let s = self.rest()[..end].to_string();
                self.pos += end + 1;
                Ok(Tok::Str(s, self.src[start..self.pos].to_string()))
            }
            None => Err(self.err(start, "unterminated raw quoted string")),
        }
    }

    fn char_const(&mut self, start: usize) -> Result<Tok, ParseError> {
        let rest = self.rest();
        let mut chars = rest.chars();
        let value = match chars.next() {
            Some('\\') => match chars.next() {
                Some('n') => '\n',
                Some('t') => '\t',
                Some('r') => '\r',
                Some('0') => '\0',
                Some(c @ ('\\' | '\'' | '"')) => c,
                _ => return Err(self.err(start, "unsupported escape in character constant")),
            },
            Some(c) if c != '\'' && c != '\n' => c,
            _ => return Err(self.err(start, "malformed character constant")),
        };
        if chars.next() != Some('\'') {
            return Err(self.err(start, "unterminated character constant"));
        }
        self.pos += rest.len() - chars.as_str().len();
        Ok(Tok::Number((value as u32).to_string()))
    }
}
