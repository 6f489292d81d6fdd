//! Variable substitution as Docker's shell lexer does it, for the instructions Docker expands:
//! ADD, ARG, COPY, ENV, EXPOSE, FROM, LABEL, STOPSIGNAL, USER, VOLUME and WORKDIR. RUN, CMD,
//! ENTRYPOINT, SHELL, HEALTHCHECK and ONBUILD are left alone: the shell in the container (or
//! the later build) sees them as written.
//!
//! Supported: `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:+alt}`,
//! `${VAR+alt}`, `${VAR:?message}`, `${VAR?message}`, `${VAR#pattern}` / `##` / `%` / `%%`,
//! `${VAR/pattern/replacement}` / `//`; escapes with the Dockerfile's escape character;
//! single quotes suppress expansion, double quotes do not; quotes are removed.

mod lex;

use std::collections::{BTreeMap, HashMap};

use crate::error::{BuildError, Result};
use crate::parse::{CopyArgs, Heredoc, Instruction, Kind, Volume};
use lex::{Lexer, Mode};

/// Where `$NAME` finds its value.
pub trait Lookup {
    fn lookup(&self, name: &str) -> Option<&str>;
}

impl Lookup for BTreeMap<String, String> {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

impl Lookup for HashMap<String, String> {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

/// Ordered variables where a later `set` replaces an earlier value in place, like a process
/// environment. Also usable as `"K=V"` lists for image configs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vars(Vec<(String, String)>);

impl Vars {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads `"K=V"` entries (an entry without `=` sets an empty value).
    pub fn from_env<S: AsRef<str>>(env: &[S]) -> Self {
        let mut vars = Self::new();
        for e in env {
            let (k, v) = e.as_ref().split_once('=').unwrap_or((e.as_ref(), ""));
            vars.set(k, v);
        }
        vars
    }

    pub fn set(&mut self, key: &str, value: &str) {
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => value.clone_into(&mut slot.1),
            None => self.0.push((key.to_owned(), value.to_owned())),
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `["K=V", …]` in order.
    pub fn to_env(&self) -> Vec<String> {
        self.0.iter().map(|(k, v)| format!("{k}={v}")).collect()
    }
}

impl Lookup for Vars {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.get(name)
    }
}

/// A malformed or failing substitution, before it is tied to a Dockerfile line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpandError {
    /// The word being processed.
    pub word: String,
    pub cause: String,
}

impl ExpandError {
    /// The error as it is reported for Dockerfile line `line`.
    pub fn at(self, line: usize) -> BuildError {
        BuildError::Expand {
            line,
            word: self.word,
            cause: self.cause,
        }
    }
}

/// Expands one word (quotes removed, spaces kept): `"$HOME/a b"` → `/root/a b`.
pub fn expand_word(word: &str, vars: &dyn Lookup, escape: char) -> Result<String, ExpandError> {
    run(word, vars, escape, Mode::Word).map(|(w, _)| w)
}

/// Expands then splits into words (quoted spaces do not split): `$PORTS 9000` with
/// `PORTS="80 443"` → `["80", "443", "9000"]`.
pub fn expand_words(
    word: &str,
    vars: &dyn Lookup,
    escape: char,
) -> Result<Vec<String>, ExpandError> {
    run(word, vars, escape, Mode::Word).map(|(_, w)| w)
}

/// Expands a heredoc body: `$VAR` forms and `\$`, quotes are kept as text.
pub fn expand_heredoc(body: &str, vars: &dyn Lookup) -> Result<String, ExpandError> {
    run(body, vars, '\\', Mode::Heredoc).map(|(w, _)| w)
}

/// The title of a step: `original` (an instruction line as written) with the variables that
/// are set substituted, and quotes, escapes, spacing and unset references left as written —
/// how BuildKit names steps. Falls back to `original` if it does not lex.
pub fn display(original: &str, vars: &dyn Lookup, escape: char) -> String {
    run(original, vars, escape, Mode::Display).map_or_else(|_| original.to_owned(), |(w, _)| w)
}

fn run(
    word: &str,
    vars: &dyn Lookup,
    escape: char,
    mode: Mode,
) -> Result<(String, Vec<String>), ExpandError> {
    Lexer::new(word, escape, vars, mode)
        .run()
        .map_err(|cause| ExpandError {
            word: word.to_owned(),
            cause,
        })
}

/// Whether Docker expands variables in this instruction.
pub fn expands(kind: &Kind) -> bool {
    !matches!(
        kind,
        Kind::Maintainer(_)
            | Kind::Run(_)
            | Kind::Cmd(_)
            | Kind::Entrypoint(_)
            | Kind::Shell(_)
            | Kind::Healthcheck(_)
            | Kind::Onbuild(_)
    )
}

/// The instruction with its variables expanded where Docker expands them; the others are
/// returned unchanged. ENV pairs all see the variables as they were before the instruction.
pub fn expand_instruction(
    inst: &Instruction,
    vars: &dyn Lookup,
    escape: char,
) -> Result<Instruction> {
    let line = inst.line;
    let word = |w: &str| expand_word(w, vars, escape).map_err(|e| e.at(line));
    let opt = |w: &Option<String>| w.as_deref().map(word).transpose();
    let words = |list: &[String]| -> Result<Vec<String>> {
        let mut out = Vec::new();
        for w in list {
            out.extend(expand_words(w, vars, escape).map_err(|e| e.at(line))?);
        }
        Ok(out)
    };
    let kind = match &inst.kind {
        Kind::From(f) => Kind::From(crate::parse::From {
            image: word(&f.image)?,
            name: f.name.clone(),
            platform: opt(&f.platform)?,
        }),
        Kind::Arg(args) => Kind::Arg(
            args.iter()
                .map(|a| {
                    Ok(crate::parse::ArgDecl {
                        name: word(&a.name)?,
                        default: opt(&a.default)?,
                    })
                })
                .collect::<Result<_>>()?,
        ),
        Kind::Env(pairs) => Kind::Env(key_values(pairs, &word)?),
        Kind::Label(pairs) => Kind::Label(key_values(pairs, &word)?),
        Kind::Expose(ports) => Kind::Expose(words(ports)?),
        Kind::Workdir(w) => Kind::Workdir(word(w)?),
        Kind::User(u) => Kind::User(word(u)?),
        Kind::StopSignal(s) => Kind::StopSignal(word(s)?),
        Kind::Volume(v) => Kind::Volume(Volume {
            paths: if v.json {
                v.paths.iter().map(|p| word(p)).collect::<Result<_>>()?
            } else {
                words(&v.paths)?
            },
            json: v.json,
        }),
        Kind::Copy(c) => Kind::Copy(copy_args(c, vars, &word)?),
        Kind::Add(c) => Kind::Add(copy_args(c, vars, &word)?),
        other => other.clone(),
    };
    Ok(Instruction {
        kind,
        ..inst.clone()
    })
}

fn key_values(
    pairs: &[crate::parse::KeyValue],
    word: &dyn Fn(&str) -> Result<String>,
) -> Result<Vec<crate::parse::KeyValue>> {
    pairs
        .iter()
        .map(|p| {
            Ok(crate::parse::KeyValue {
                key: word(&p.key)?,
                value: word(&p.value)?,
            })
        })
        .collect()
}

fn copy_args(
    c: &CopyArgs,
    vars: &dyn Lookup,
    word: &dyn Fn(&str) -> Result<String>,
) -> Result<CopyArgs> {
    let opt = |w: &Option<String>| w.as_deref().map(word).transpose();
    let heredocs = c
        .heredocs
        .iter()
        .map(|d| {
            if !d.expand {
                return Ok(d.clone());
            }
            let content = expand_heredoc(&d.content, vars).map_err(|e| e.at(d.line))?;
            Ok(Heredoc {
                content,
                ..d.clone()
            })
        })
        .collect::<Result<_>>()?;
    Ok(CopyArgs {
        srcs: c.srcs.iter().map(|s| word(s)).collect::<Result<_>>()?,
        heredocs,
        dest: word(&c.dest)?,
        from: opt(&c.from)?,
        chown: opt(&c.chown)?,
        chmod: opt(&c.chmod)?,
        exclude: c.exclude.iter().map(|s| word(s)).collect::<Result<_>>()?,
        checksum: opt(&c.checksum)?,
        ..c.clone()
    })
}

#[cfg(test)]
mod tests;
