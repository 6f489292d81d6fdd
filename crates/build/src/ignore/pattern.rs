//! One `.dockerignore` pattern, compiled the way moby/patternmatcher compiles it: exact,
//! prefix (`dir/**`), suffix (`**/name`) or a general glob where `*` and `?` stay inside one
//! path component, `**` spans any number of directories and `[...]` is a character class.

/// A character class `[...]` / `[^...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Class {
    negated: bool,
    ranges: Vec<(char, char)>,
}

impl Class {
    fn matches(&self, c: char) -> bool {
        self.ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != self.negated
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Lit(char),
    /// `*`: any run of characters but `/`.
    Star,
    /// `?`: one character but `/`.
    Any,
    Class(Class),
    /// `**/` (or `**` inside a pattern): any number of leading directories, even none.
    AnyDirs,
    /// A trailing `**` after something non-literal: anything at all.
    AnyTail,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Exact,
    /// Everything under a literal directory prefix (`dir/**`); holds the prefix.
    Prefix(String),
    /// A literal tail after a leading `**` (`**/name`); holds the tail.
    Suffix(String),
    Glob(Vec<Tok>),
}

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    /// The cleaned pattern without its `!`.
    pub text: String,
    /// `!pattern`: re-includes what earlier patterns excluded.
    pub exception: bool,
    /// The literal text before the first wildcard, to decide whether a walker must look
    /// inside an excluded directory.
    pub literal: String,
    kind: Kind,
}

impl Pattern {
    /// Compiles a cleaned pattern (without `!`). Errors are Go's `filepath.ErrBadPattern`.
    pub(crate) fn new(text: &str, exception: bool) -> Result<Pattern, String> {
        let bad = || format!("syntax error in pattern {text:?}");
        let chars: Vec<char> = text.chars().collect();
        let mut toks = Vec::new();
        let mut kind_is = Detected::Exact;
        let mut i = 0;
        let mut iteration = 0;
        while i < chars.len() {
            let c = chars[i];
            i += 1;
            match c {
                '*' if chars.get(i) == Some(&'*') => {
                    i += 1;
                    if chars.get(i) == Some(&'/') {
                        i += 1;
                    }
                    if i == chars.len() {
                        if kind_is == Detected::Exact {
                            kind_is = Detected::Prefix;
                        } else {
                            toks.push(Tok::AnyTail);
                            kind_is = Detected::Glob;
                        }
                    } else {
                        toks.push(Tok::AnyDirs);
                        kind_is = Detected::Glob;
                    }
                    if iteration == 0 {
                        kind_is = Detected::Suffix;
                    }
                }
                '*' => {
                    toks.push(Tok::Star);
                    kind_is = Detected::Glob;
                }
                '?' => {
                    toks.push(Tok::Any);
                    kind_is = Detected::Glob;
                }
                '\\' => {
                    let n = *chars.get(i).ok_or_else(bad)?;
                    i += 1;
                    toks.push(Tok::Lit(n));
                    kind_is = Detected::Glob;
                }
                '[' => {
                    let (class, used) = parse_class(&chars[i..]).ok_or_else(bad)?;
                    i += used;
                    toks.push(Tok::Class(class));
                    kind_is = Detected::Glob;
                }
                ']' => {
                    toks.push(Tok::Lit(']'));
                    kind_is = Detected::Glob;
                }
                c => toks.push(Tok::Lit(c)),
            }
            iteration += 1;
        }
        let kind = match kind_is {
            Detected::Exact => Kind::Exact,
            Detected::Prefix => Kind::Prefix(text[..text.len() - 2].to_owned()),
            Detected::Suffix => Kind::Suffix(text[2..].to_owned()),
            Detected::Glob => Kind::Glob(toks),
        };
        let literal_end = text.find(['*', '?', '[', '\\']).unwrap_or(text.len());
        Ok(Pattern {
            text: text.to_owned(),
            exception,
            literal: text[..literal_end].to_owned(),
            kind,
        })
    }

    /// Whether the pattern matches `path` itself (no parent logic).
    pub(crate) fn matches(&self, path: &str) -> bool {
        match &self.kind {
            Kind::Exact => path == self.text,
            Kind::Prefix(p) => path.starts_with(p.as_str()),
            Kind::Suffix(s) => {
                path.ends_with(s.as_str()) || s.strip_prefix('/').is_some_and(|s| path == s)
            }
            Kind::Glob(toks) => glob(toks, path),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Detected {
    Exact,
    Prefix,
    Suffix,
    Glob,
}

/// Parses a class after its `[`: returns it and how many characters it used (through `]`).
/// Follows Go's `filepath.Match`: no empty class, `-` and `]` must be escaped at the start of
/// a range, a range needs both ends.
fn parse_class(chars: &[char]) -> Option<(Class, usize)> {
    let mut i = 0;
    let negated = chars.first() == Some(&'^');
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    loop {
        if chars.get(i) == Some(&']') && !ranges.is_empty() {
            return Some((Class { negated, ranges }, i + 1));
        }
        let (lo, used) = class_char(&chars[i..])?;
        i += used;
        let mut hi = lo;
        if chars.get(i) == Some(&'-') {
            let (h, used) = class_char(&chars[i + 1..])?;
            hi = h;
            i += 1 + used;
        }
        ranges.push((lo, hi));
    }
}

/// One (possibly escaped) class character; something must follow it.
fn class_char(chars: &[char]) -> Option<(char, usize)> {
    let (c, used) = match chars.first()? {
        '-' | ']' => return None,
        '\\' => (*chars.get(1)?, 2),
        c => (*c, 1),
    };
    chars.get(used)?;
    Some((c, used))
}

/// Matches a whole path against glob tokens, without allocating.
fn glob(toks: &[Tok], s: &str) -> bool {
    let Some((tok, rest)) = toks.split_first() else {
        return s.is_empty();
    };
    let one = |ok: &dyn Fn(char) -> bool| {
        let mut it = s.chars();
        it.next().is_some_and(|c| ok(c) && glob(rest, it.as_str()))
    };
    match tok {
        Tok::Lit(c) => s.strip_prefix(*c).is_some_and(|r| glob(rest, r)),
        Tok::Any => one(&|c| c != '/'),
        Tok::Class(class) => one(&|c| class.matches(c)),
        Tok::Star => {
            let mut r = s;
            loop {
                if glob(rest, r) {
                    return true;
                }
                let mut it = r.chars();
                match it.next() {
                    Some(c) if c != '/' => r = it.as_str(),
                    _ => return false,
                }
            }
        }
        Tok::AnyTail => {
            rest.is_empty() || s.char_indices().any(|(i, _)| glob(rest, &s[i..])) || glob(rest, "")
        }
        Tok::AnyDirs => glob(rest, s) || s.match_indices('/').any(|(i, _)| glob(rest, &s[i + 1..])),
    }
}
