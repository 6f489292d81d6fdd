//! Canonical text of an instruction: what `Step N/M :` prints and what the cache key hashes.
//! Meant for instructions after [`crate::expand`]: values are shown unquoted unless they need
//! quotes to read back as one word.

use std::fmt::{self, Display, Write as _};
use std::time::Duration;

use super::ast::*;

impl Display for Instruction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.kind.fmt(f)
    }
}

impl Instruction {
    /// The canonical text followed by every heredoc body and delimiter, so a change in an
    /// inline file changes the text a cache key is computed from.
    pub fn cache_text(&self) -> String {
        let mut text = self.to_string();
        let docs = match &self.kind {
            Kind::Run(r) => &r.heredocs,
            Kind::Copy(c) | Kind::Add(c) => &c.heredocs,
            Kind::Onbuild(inner) => return format!("ONBUILD {}", inner.cache_text()),
            _ => return text,
        };
        for doc in docs {
            text.push('\n');
            text.push_str(&doc.content);
            text.push_str(&doc.name);
        }
        text
    }
}

impl Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())?;
        match self {
            Kind::From(from) => {
                if let Some(p) = &from.platform {
                    write!(f, " --platform={p}")?;
                }
                write!(f, " {}", from.image)?;
                if let Some(n) = &from.name {
                    write!(f, " AS {n}")?;
                }
                Ok(())
            }
            Kind::Arg(args) => {
                for a in args {
                    match &a.default {
                        Some(d) => write!(f, " {}={}", a.name, quote(d))?,
                        None => write!(f, " {}", a.name)?,
                    }
                }
                Ok(())
            }
            Kind::Env(pairs) | Kind::Label(pairs) => {
                for p in pairs {
                    write!(f, " {}={}", quote(&p.key), quote(&p.value))?;
                }
                Ok(())
            }
            Kind::Expose(list) => write_words(f, list),
            Kind::Maintainer(s) | Kind::Workdir(s) | Kind::User(s) | Kind::StopSignal(s) => {
                write!(f, " {s}")
            }
            Kind::Copy(c) | Kind::Add(c) => copy(f, c),
            Kind::Run(r) => {
                for m in &r.mounts {
                    write!(f, " --mount={m}")?;
                }
                if let Some(n) = &r.network {
                    write!(f, " --network={n}")?;
                }
                if let Some(s) = &r.security {
                    write!(f, " --security={s}")?;
                }
                command(f, &r.command)
            }
            Kind::Cmd(c) | Kind::Entrypoint(c) => command(f, c),
            Kind::Shell(list) => write!(f, " {}", json(list)),
            Kind::Volume(v) if v.json => write!(f, " {}", json(&v.paths)),
            Kind::Volume(v) => write_words(f, &v.paths),
            Kind::Healthcheck(Healthcheck::None) => f.write_str(" NONE"),
            Kind::Healthcheck(Healthcheck::Check(h)) => {
                let durations = [
                    ("interval", h.interval),
                    ("timeout", h.timeout),
                    ("start-period", h.start_period),
                    ("start-interval", h.start_interval),
                ];
                for (name, d) in durations {
                    if let Some(d) = d {
                        write!(f, " --{name}={}", go_duration(d))?;
                    }
                }
                if let Some(r) = h.retries {
                    write!(f, " --retries={r}")?;
                }
                f.write_str(" CMD")?;
                command(f, &h.command)
            }
            Kind::Onbuild(inner) => write!(f, " {inner}"),
        }
    }
}

fn copy(f: &mut fmt::Formatter<'_>, c: &CopyArgs) -> fmt::Result {
    let flags = [
        ("from", &c.from),
        ("chown", &c.chown),
        ("chmod", &c.chmod),
        ("checksum", &c.checksum),
    ];
    for (name, value) in flags {
        if let Some(v) = value {
            write!(f, " --{name}={v}")?;
        }
    }
    for (name, on) in [
        ("link", c.link),
        ("parents", c.parents),
        ("keep-git-dir", c.keep_git_dir),
    ] {
        if on {
            write!(f, " --{name}")?;
        }
    }
    for e in &c.exclude {
        write!(f, " --exclude={e}")?;
    }
    let mut words: Vec<String> = c.srcs.clone();
    words.extend(c.heredocs.iter().map(marker));
    words.push(c.dest.clone());
    if c.json {
        write!(f, " {}", json(&words))
    } else {
        write_words(f, &words)
    }
}

/// `<<EOF`, `<<-EOF`, `<<"EOF"`: what decides how the body is read is part of the text.
fn marker(doc: &Heredoc) -> String {
    let fd = doc.fd.map(|n| n.to_string()).unwrap_or_default();
    let chomp = if doc.chomp { "-" } else { "" };
    if doc.expand {
        format!("{fd}<<{chomp}{}", doc.name)
    } else {
        format!("{fd}<<{chomp}\"{}\"", doc.name)
    }
}

fn command(f: &mut fmt::Formatter<'_>, c: &Command) -> fmt::Result {
    match c {
        Command::Exec(args) => write!(f, " {}", json(args)),
        Command::Shell(line) => write!(f, " {line}"),
    }
}

fn write_words(f: &mut fmt::Formatter<'_>, words: &[String]) -> fmt::Result {
    for w in words {
        write!(f, " {w}")?;
    }
    Ok(())
}

/// `["a","b c"]`, as Docker prints exec forms.
fn json(list: &[String]) -> String {
    serde_json::to_string(list).unwrap_or_default()
}

/// The value as is when it reads back as one word, otherwise double-quoted.
fn quote(s: &str) -> String {
    let plain = !s.is_empty()
        && !s
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '\\' | '$' | '`'));
    if plain {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if matches!(c, '"' | '\\' | '$' | '`') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Go's `time.Duration` formatting (`30s`, `1m30s`, `1h0m0s`, `500ms`, `1.5s`).
pub fn go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    if nanos < 1_000_000_000 {
        let (unit, div) = match nanos {
            n if n < 1_000 => ("ns", 1u128),
            n if n < 1_000_000 => ("µs", 1_000),
            _ => ("ms", 1_000_000),
        };
        return format!("{}{unit}", decimal(nanos, div));
    }
    let hours = nanos / 3_600_000_000_000;
    let minutes = (nanos / 60_000_000_000) % 60;
    let secs = decimal(nanos % 60_000_000_000, 1_000_000_000);
    let mut out = String::new();
    if hours > 0 {
        let _ = write!(out, "{hours}h{minutes}m");
    } else if minutes > 0 {
        let _ = write!(out, "{minutes}m");
    }
    out.push_str(&secs);
    out.push('s');
    out
}

/// `n / div` with the fraction written without trailing zeros.
fn decimal(n: u128, div: u128) -> String {
    let whole = n / div;
    let frac = n % div;
    if frac == 0 {
        return whole.to_string();
    }
    let width = div.to_string().len() - 1;
    let frac = format!("{frac:0width$}");
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        let rows = [
            (Duration::from_secs(30), "30s"),
            (Duration::from_secs(90), "1m30s"),
            (Duration::from_secs(3600), "1h0m0s"),
            (Duration::from_millis(500), "500ms"),
            (Duration::from_millis(1500), "1.5s"),
            (Duration::from_micros(1), "1µs"),
        ];
        for (d, want) in rows {
            assert_eq!(go_duration(d), want);
        }
    }

    #[test]
    fn quoting_only_when_needed() {
        assert_eq!(quote("abc"), "abc");
        assert_eq!(quote("a b"), "\"a b\"");
        assert_eq!(quote(""), "\"\"");
        assert_eq!(quote("say \"hi\""), "\"say \\\"hi\\\"\"");
    }
}
