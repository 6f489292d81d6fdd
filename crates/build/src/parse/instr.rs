//! Turning one logical line into a typed [`Instruction`].

use std::time::Duration;

use super::ast::*;
use super::words::{
    extract_flags, json_array, quoted_words, split_first, split_ws, FlagKind, Flags,
};
use crate::error::{BuildError, Result};

/// Every instruction keyword, for "did you mean" hints.
pub(crate) const KEYWORDS: &[&str] = &[
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

const COPY_FLAGS: &[(&str, FlagKind)] = &[
    ("from", FlagKind::Str),
    ("chown", FlagKind::Str),
    ("chmod", FlagKind::Str),
    ("link", FlagKind::Bool),
    ("parents", FlagKind::Bool),
    ("exclude", FlagKind::List),
];
const ADD_FLAGS: &[(&str, FlagKind)] = &[
    ("chown", FlagKind::Str),
    ("chmod", FlagKind::Str),
    ("link", FlagKind::Bool),
    ("checksum", FlagKind::Str),
    ("keep-git-dir", FlagKind::Bool),
    ("exclude", FlagKind::List),
];
const RUN_FLAGS: &[(&str, FlagKind)] = &[
    ("mount", FlagKind::List),
    ("network", FlagKind::Str),
    ("security", FlagKind::Str),
];
const HEALTH_FLAGS: &[(&str, FlagKind)] = &[
    ("interval", FlagKind::Str),
    ("timeout", FlagKind::Str),
    ("start-period", FlagKind::Str),
    ("start-interval", FlagKind::Str),
    ("retries", FlagKind::Str),
];

/// Parses the logical line `text` that starts at `line`. Heredoc bodies are attached later.
pub(crate) fn parse_line(text: &str, line: usize, escape: char) -> Result<Instruction> {
    let original = text.trim().to_owned();
    let (word, rest) = split_first(&original);
    let (raw_flags, args) = extract_flags(rest);
    let err = |m: String| BuildError::syntax(line, m);
    let keyword = word.to_ascii_uppercase();
    let allowed: &[(&str, FlagKind)] = match keyword.as_str() {
        "COPY" => COPY_FLAGS,
        "ADD" => ADD_FLAGS,
        "RUN" => RUN_FLAGS,
        "HEALTHCHECK" => HEALTH_FLAGS,
        "FROM" => &[("platform", FlagKind::Str)],
        _ => &[],
    };
    if !KEYWORDS.contains(&keyword.as_str()) {
        return Err(err(unknown_instruction(word)));
    }
    let flags = Flags::parse(&raw_flags, allowed).map_err(&err)?;
    let kind = build_kind(&keyword, &args, &flags, escape).map_err(&err)?;
    let kind = match kind {
        Some(kind) => kind,
        None => {
            // ONBUILD: the trigger is itself an instruction.
            if args.is_empty() {
                return Err(err("ONBUILD requires at least one argument".into()));
            }
            let inner = parse_line(&args, line, escape)?;
            match inner.kind {
                Kind::Onbuild(_) => {
                    return Err(err(
                        "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into()
                    ))
                }
                Kind::From(_) | Kind::Maintainer(_) => {
                    return Err(err(format!(
                        "{} isn't allowed as an ONBUILD trigger",
                        inner.kind.keyword()
                    )))
                }
                _ => Kind::Onbuild(Box::new(inner)),
            }
        }
    };
    Ok(Instruction {
        line,
        end_line: line,
        original,
        kind,
    })
}

fn unknown_instruction(word: &str) -> String {
    match crate::parse::suggest(&word.to_ascii_uppercase(), KEYWORDS.iter().copied()) {
        Some(s) => format!("unknown instruction: {word} (did you mean {s}?)"),
        None => format!("unknown instruction: {word}"),
    }
}

/// `Ok(None)` means ONBUILD, which the caller handles because it recurses.
fn build_kind(
    keyword: &str,
    args: &str,
    flags: &Flags,
    escape: char,
) -> Result<Option<Kind>, String> {
    let one = |what: &str| {
        if args.is_empty() {
            Err(format!("{what} requires exactly one argument"))
        } else {
            Ok(args.to_owned())
        }
    };
    let kind = match keyword {
        "FROM" => Kind::From(from(args, flags)?),
        "ARG" => Kind::Arg(arg(args, escape)?),
        "ENV" => Kind::Env(name_values("ENV", args, escape)?),
        "LABEL" => Kind::Label(name_values("LABEL", args, escape)?),
        "MAINTAINER" => Kind::Maintainer(one("MAINTAINER")?),
        "EXPOSE" => {
            let ports = split_ws(args);
            if ports.is_empty() {
                return Err("EXPOSE requires at least one argument".into());
            }
            Kind::Expose(ports)
        }
        "WORKDIR" => Kind::Workdir(one("WORKDIR")?),
        "USER" => Kind::User(one("USER")?),
        "STOPSIGNAL" => Kind::StopSignal(one("STOPSIGNAL")?),
        "COPY" => Kind::Copy(copy_args("COPY", args, flags)?),
        "ADD" => Kind::Add(copy_args("ADD", args, flags)?),
        "RUN" => Kind::Run(Run {
            command: command("RUN", args)?,
            mounts: flags.list("mount"),
            network: flags.string("network"),
            security: flags.string("security"),
            heredocs: Vec::new(),
        }),
        "CMD" => Kind::Cmd(command("CMD", args)?),
        "ENTRYPOINT" => Kind::Entrypoint(command("ENTRYPOINT", args)?),
        "SHELL" => match json_array(args)? {
            Some(v) if v.is_empty() => return Err("SHELL requires at least one argument".into()),
            Some(v) => Kind::Shell(v),
            None => return Err("SHELL requires the arguments to be in JSON form".into()),
        },
        "VOLUME" => Kind::Volume(volume(args)?),
        "HEALTHCHECK" => Kind::Healthcheck(healthcheck(args, flags)?),
        _ => return Ok(None),
    };
    Ok(Some(kind))
}

fn from(args: &str, flags: &Flags) -> Result<From, String> {
    let words = split_ws(args);
    let name = match words.as_slice() {
        [_] => None,
        [_, as_, name] if as_.eq_ignore_ascii_case("as") => {
            let name = name.to_ascii_lowercase();
            if !valid_stage_name(&name) {
                return Err(format!(
                    "invalid name for build stage: {name:?}, name can't start with a number or contain symbols"
                ));
            }
            Some(name)
        }
        _ => return Err("FROM requires either one or three arguments".into()),
    };
    Ok(From {
        image: words[0].clone(),
        name,
        platform: flags.string("platform"),
    })
}

/// Docker's rule: `^[a-z][a-z0-9-_.]*$`.
fn valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
}

fn arg(args: &str, escape: char) -> Result<Vec<ArgDecl>, String> {
    let words = quoted_words(args, escape);
    if words.is_empty() {
        return Err("ARG requires at least one argument".into());
    }
    words
        .into_iter()
        .map(|w| {
            let (name, default) = match w.split_once('=') {
                Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
                None => (w, None),
            };
            if name.is_empty() {
                return Err("ARG names can not be blank".to_owned());
            }
            Ok(ArgDecl { name, default })
        })
        .collect()
}

/// `KEY=VALUE …` pairs, or the legacy `KEY VALUE` form (one pair, the value is the rest).
fn name_values(what: &str, args: &str, escape: char) -> Result<Vec<KeyValue>, String> {
    let words = quoted_words(args, escape);
    let Some(first) = words.first() else {
        return Err(format!("{what} requires at least one argument"));
    };
    let pairs = if first.contains('=') {
        words
            .iter()
            .map(|w| match w.split_once('=') {
                Some((k, v)) => Ok(KeyValue {
                    key: k.to_owned(),
                    value: v.to_owned(),
                }),
                None => Err(format!(
                    "Syntax error - can't find = in {w:?}. Must be of the form: name=value"
                )),
            })
            .collect::<Result<Vec<_>, _>>()?
    } else {
        let (key, value) = split_first(args);
        if value.is_empty() {
            return Err(format!("{what} must have two arguments"));
        }
        vec![KeyValue {
            key: key.to_owned(),
            value: value.to_owned(),
        }]
    };
    if pairs.iter().any(|p| p.key.is_empty()) {
        return Err(format!("{what} names can not be blank"));
    }
    Ok(pairs)
}

fn copy_args(what: &str, args: &str, flags: &Flags) -> Result<CopyArgs, String> {
    let (mut words, json) = match json_array(args)? {
        Some(v) => (v, true),
        None => (split_ws(args), false),
    };
    match words.len() {
        0 => return Err(format!("{what} requires at least two arguments")),
        1 => {
            return Err(format!(
            "{what} requires at least two arguments, but only one was provided. Destination could not be determined"
        ))
        }
        _ => {}
    }
    let dest = words.pop().unwrap_or_default();
    Ok(CopyArgs {
        srcs: words,
        heredocs: Vec::new(),
        dest,
        from: flags.string("from"),
        chown: flags.string("chown"),
        chmod: flags.string("chmod"),
        link: flags.bool("link"),
        parents: flags.bool("parents"),
        exclude: flags.list("exclude"),
        checksum: flags.string("checksum"),
        keep_git_dir: flags.bool("keep-git-dir"),
        json,
    })
}

fn command(what: &str, args: &str) -> Result<Command, String> {
    if args.is_empty() {
        return Err(format!("{what} requires at least one argument"));
    }
    Ok(match json_array(args)? {
        Some(v) => Command::Exec(v),
        None => Command::Shell(args.to_owned()),
    })
}

fn volume(args: &str) -> Result<Volume, String> {
    let (paths, json) = match json_array(args)? {
        Some(v) => (v.into_iter().map(|p| p.trim().to_owned()).collect(), true),
        None => (split_ws(args), false),
    };
    if paths.is_empty() {
        return Err("VOLUME requires at least one argument".into());
    }
    if paths.iter().any(String::is_empty) {
        return Err("VOLUME specified can not be an empty string".into());
    }
    Ok(Volume { paths, json })
}

fn healthcheck(args: &str, flags: &Flags) -> Result<Healthcheck, String> {
    let (typ, rest) = split_first(args);
    match typ.to_ascii_uppercase().as_str() {
        "" => Err("HEALTHCHECK requires an argument".into()),
        "NONE" if rest.is_empty() => Ok(Healthcheck::None),
        "NONE" => Err("HEALTHCHECK NONE takes no arguments".into()),
        "CMD" => {
            if rest.is_empty() {
                return Err("Missing command after HEALTHCHECK CMD".into());
            }
            let command = match json_array(rest)? {
                Some(v) => Command::Exec(v),
                None => Command::Shell(rest.to_owned()),
            };
            let retries = match flags.string("retries") {
                None => None,
                Some(r) => match r.parse::<i64>() {
                    Ok(n) if n < 0 => return Err(format!("--retries cannot be negative ({n})")),
                    Ok(n) => Some(u32::try_from(n).map_err(|_| format!("--retries: {r}"))?),
                    Err(_) => return Err(format!("--retries: invalid number {r:?}")),
                },
            };
            Ok(Healthcheck::Check(HealthCheck {
                command,
                interval: health_duration(flags, "interval")?,
                timeout: health_duration(flags, "timeout")?,
                start_period: health_duration(flags, "start-period")?,
                start_interval: health_duration(flags, "start-interval")?,
                retries: retries.filter(|n| *n > 0),
            }))
        }
        other => Err(format!("Unknown type {other:?} in HEALTHCHECK (try CMD)")),
    }
}

fn health_duration(flags: &Flags, name: &str) -> Result<Option<Duration>, String> {
    let Some(raw) = flags.string(name) else {
        return Ok(None);
    };
    let d = parse_go_duration(&raw).ok_or_else(|| format!("--{name}: invalid duration {raw:?}"))?;
    if d.is_zero() {
        return Ok(None);
    }
    if d < Duration::from_millis(1) {
        return Err(format!("--{name}={raw}: cannot be less than 1ms"));
    }
    Ok(Some(d))
}

/// Parses Go's duration syntax (`30s`, `1m30s`, `1.5h`, `500ms`, `0`). No negatives.
pub fn parse_go_duration(s: &str) -> Option<Duration> {
    if s == "0" {
        return Some(Duration::ZERO);
    }
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    if rest.is_empty() {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, tail) = rest.split_at(n);
        if num.is_empty() || num == "." {
            return None;
        }
        let value: f64 = num.parse().ok()?;
        let u = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(u);
        let nanos = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += value * nanos;
        rest = tail;
    }
    Some(Duration::from_nanos(total.round() as u64))
}
