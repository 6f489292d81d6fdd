//! Which Python the project uses, for the base image's tag.

use std::fmt;

use super::InitError;

/// A Python minor version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Minor(pub u32, pub u32);

impl fmt::Display for Minor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

/// The minors a slim image is chosen among when only a range is known.
const KNOWN: &[Minor] = &[
    Minor(3, 8),
    Minor(3, 9),
    Minor(3, 10),
    Minor(3, 11),
    Minor(3, 12),
    Minor(3, 13),
];

/// Used when nothing says which Python the project uses.
const DEFAULT: Minor = Minor(3, 12);

/// What the version is decided from; each is the text of a file or of a command's output.
#[derive(Debug, Default, Clone, Copy)]
pub struct Inputs<'a> {
    /// `--python`.
    pub flag: Option<&'a str>,
    pub python_version_file: Option<&'a str>,
    pub pyproject: Option<&'a str>,
    /// A virtual environment's `pyvenv.cfg` found in the project, with its directory's name.
    pub venv: Option<(&'a str, &'a str)>,
    /// The output of `python3 -V` run in the project directory.
    pub host: Option<&'a str>,
}

/// The image tag's version (`3.11`, or what `--python` said) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub version: String,
    pub reason: String,
}

pub fn decide(i: Inputs<'_>) -> Result<Decision, InitError> {
    let decision = |v: &dyn fmt::Display, reason: String| Decision {
        version: v.to_string(),
        reason,
    };
    if let Some(flag) = i.flag {
        let parts: Vec<&str> = flag.split('.').collect();
        let numeric = parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        if !numeric || !(2..=3).contains(&parts.len()) {
            return Err(InitError::PythonVersion(flag.to_string()));
        }
        return Ok(decision(&flag, "from --python".into()));
    }
    if let Some(v) = i.python_version_file.and_then(python_version_file) {
        return Ok(decision(&v, "from .python-version".into()));
    }
    let venv = i
        .venv
        .and_then(|(dir, cfg)| pyvenv_version(cfg).map(|v| (v, format!("{dir}/pyvenv.cfg"))));
    let local = venv.or_else(|| {
        i.host
            .and_then(leading_minor)
            .map(|v| (v, "python3 -V".into()))
    });
    if let Some((spec, key)) = i.pyproject.and_then(pyproject_constraint) {
        let within = format!("{key} {spec:?} in pyproject.toml");
        if let Some((v, from)) = local.as_ref().filter(|(v, _)| satisfies(&spec, *v)) {
            return Ok(decision(v, format!("from {from}, within {within}")));
        }
        if let Some(v) = KNOWN.iter().rev().find(|v| satisfies(&spec, **v)) {
            return Ok(decision(v, format!("the newest allowed by {within}")));
        }
        if let Some(v) = leading_minor(spec.trim_start_matches(|c: char| !c.is_ascii_digit())) {
            return Ok(decision(&v, format!("from {within}")));
        }
    }
    if let Some((v, from)) = local {
        return Ok(decision(&v, format!("from {from}")));
    }
    Ok(decision(
        &DEFAULT,
        "no .python-version, pyproject.toml or python3 found; a current default".into(),
    ))
}

/// `3.11.7`, `3.12`, `python-3.11`, `cpython-3.10.4`; comments and pyenv environment names
/// (which say nothing of the version) are skipped.
fn python_version_file(text: &str) -> Option<Minor> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .find_map(|l| {
            let l = l
                .strip_prefix("cpython-")
                .or(l.strip_prefix("python-"))
                .unwrap_or(l);
            leading_minor(l)
        })
}

/// `version = 3.11.7` (or `version_info = 3.11.7.final.0`) from a `pyvenv.cfg`.
fn pyvenv_version(cfg: &str) -> Option<Minor> {
    cfg.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        matches!(k.trim(), "version" | "version_info")
            .then(|| leading_minor(v.trim()))
            .flatten()
    })
}

/// The `X.Y` that `s` starts with, after an optional `Python ` (as `python3 -V` prints).
fn leading_minor(s: &str) -> Option<Minor> {
    let s = s.trim();
    let s = s.strip_prefix("Python ").unwrap_or(s);
    let (major, rest) = s.split_once('.')?;
    let minor_len = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let (major, minor) = (major.parse().ok()?, rest[..minor_len].parse().ok()?);
    Some(Minor(major, minor))
}

/// `requires-python` in `[project]` or `python` in `[tool.poetry.dependencies]`, with which
/// key it was.
fn pyproject_constraint(text: &str) -> Option<(String, &'static str)> {
    let mut table = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            table = line
                .trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_string();
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim().trim_matches('"');
        let found = match (table.as_str(), key) {
            ("project", "requires-python") => "requires-python",
            ("tool.poetry.dependencies", "python") => "python",
            _ => continue,
        };
        let value = value.trim();
        let quote = value.chars().next().filter(|q| *q == '"' || *q == '\'')?;
        let value = value[1..].split(quote).next()?.trim().to_string();
        return Some((value, found));
    }
    None
}

/// Whether the newest release of minor `v` is allowed by a PEP 440 specifier such as
/// `>=3.9,<3.13` or a Poetry constraint such as `^3.10` or `>=3.8 || ^4`. Clauses are judged
/// at minor granularity; unparsable clauses allow everything.
pub fn satisfies(spec: &str, v: Minor) -> bool {
    spec.split("||")
        .any(|alt| clauses(alt).iter().all(|c| clause_allows(c, v)))
}

/// The clauses of an AND-ed constraint: separated by commas or (Poetry) spaces, with an
/// operator written apart from its version (`>= 3.9`) joined back to it.
fn clauses(alt: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut pending_op = String::new();
    for token in alt.split(|c: char| c == ',' || c.is_whitespace()) {
        if token.is_empty() {
            continue;
        }
        if token.chars().all(|c| "<>=!~^".contains(c)) {
            pending_op.push_str(token);
        } else {
            out.push(format!("{}{token}", std::mem::take(&mut pending_op)));
        }
    }
    out
}

fn clause_allows(clause: &str, v: Minor) -> bool {
    let op_len = clause
        .find(|c: char| c.is_ascii_digit() || c == '*')
        .unwrap_or(clause.len());
    let (op, ver) = clause.split_at(op_len);
    if ver == "*" || ver.is_empty() {
        return true;
    }
    let nums: Vec<u32> = ver.split('.').map_while(|p| p.parse().ok()).collect();
    let Some(&major) = nums.first() else {
        return true;
    };
    let bound = Minor(major, nums.get(1).copied().unwrap_or(0));
    let has_patch = nums.get(2).is_some_and(|p| *p > 0);
    let wildcard = ver.ends_with(".*") && nums.len() == 2;
    match op {
        // `>3.9` allows 3.9.1, so the minor 3.9 qualifies.
        ">=" | ">" => v >= bound,
        "<=" => v <= bound,
        "<" if has_patch => v <= bound,
        "<" => v < bound,
        "==" | "===" | "" | "~" if nums.len() == 1 => v.0 == major,
        "==" | "===" | "" | "~" => v == bound,
        "!=" if wildcard => v != bound,
        "!=" => true,
        "~=" if nums.len() >= 3 => v == bound,
        "~=" | "^" => v >= bound && v.0 == major,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(i: Inputs<'_>) -> (String, String) {
        let d = decide(i).unwrap();
        (d.version, d.reason)
    }

    #[test]
    fn sources_in_order() {
        let host = Some("Python 3.11.7\n");
        let cases: &[(Inputs<'_>, &str, &str)] = &[
            (
                Inputs {
                    flag: Some("3.10"),
                    python_version_file: Some("3.12"),
                    host,
                    ..Default::default()
                },
                "3.10",
                "from --python",
            ),
            (
                Inputs {
                    flag: Some("3.11.7"),
                    ..Default::default()
                },
                "3.11.7",
                "from --python",
            ),
            (
                Inputs {
                    python_version_file: Some("3.12.1\n"),
                    host,
                    ..Default::default()
                },
                "3.12",
                "from .python-version",
            ),
            (
                Inputs {
                    python_version_file: Some("# pinned\n\ncpython-3.9.18\n"),
                    ..Default::default()
                },
                "3.9",
                "from .python-version",
            ),
            // A pyenv virtualenv name says nothing; the next source decides.
            (
                Inputs {
                    python_version_file: Some("myenv\n"),
                    host,
                    ..Default::default()
                },
                "3.11",
                "from python3 -V",
            ),
            (
                Inputs {
                    pyproject: Some("[project]\nname = \"x\"\nrequires-python = \">=3.9\"\n"),
                    host,
                    ..Default::default()
                },
                "3.11",
                "from python3 -V, within requires-python \">=3.9\" in pyproject.toml",
            ),
            (
                Inputs {
                    pyproject: Some("[project]\nrequires-python = \">=3.9,<3.11\"\n"),
                    host,
                    ..Default::default()
                },
                "3.10",
                "the newest allowed by requires-python \">=3.9,<3.11\" in pyproject.toml",
            ),
            (
                Inputs {
                    pyproject: Some("[project]\nrequires-python = '==3.10.*'\n"),
                    ..Default::default()
                },
                "3.10",
                "the newest allowed by requires-python \"==3.10.*\" in pyproject.toml",
            ),
            (
                Inputs {
                    pyproject: Some("[project]\nrequires-python = \">=3.15\"\n"),
                    host,
                    ..Default::default()
                },
                "3.15",
                "from requires-python \">=3.15\" in pyproject.toml",
            ),
            (
                Inputs {
                    pyproject: Some(
                        "[tool.poetry.dependencies]\npython = \"^3.12\"\nstreamlit = \"*\"\n",
                    ),
                    host,
                    ..Default::default()
                },
                "3.13",
                "the newest allowed by python \"^3.12\" in pyproject.toml",
            ),
            // `python` outside the Poetry table is not the constraint.
            (
                Inputs {
                    pyproject: Some("[tool.other]\npython = \"3.8\"\n"),
                    host,
                    ..Default::default()
                },
                "3.11",
                "from python3 -V",
            ),
            (
                Inputs {
                    venv: Some((".venv", "home = /usr/bin\nversion = 3.10.12\n")),
                    host,
                    ..Default::default()
                },
                "3.10",
                "from .venv/pyvenv.cfg",
            ),
            (
                Inputs {
                    venv: Some(("venv", "version_info = 3.12.3.final.0\n")),
                    ..Default::default()
                },
                "3.12",
                "from venv/pyvenv.cfg",
            ),
            (
                Inputs {
                    host: Some("Python 3.13.0"),
                    ..Default::default()
                },
                "3.13",
                "from python3 -V",
            ),
            (
                Inputs::default(),
                "3.12",
                "no .python-version, pyproject.toml or python3 found; a current default",
            ),
        ];
        for (inputs, version, reason) in cases {
            assert_eq!(
                run(*inputs),
                (version.to_string(), reason.to_string()),
                "{inputs:?}"
            );
        }
    }

    #[test]
    fn bad_flag() {
        for flag in ["3", "three", "3.11-slim", "3..1", "3.11.7.1"] {
            let err = decide(Inputs {
                flag: Some(flag),
                ..Default::default()
            })
            .unwrap_err();
            assert!(err.to_string().contains("--python"), "{flag}: {err}");
        }
    }

    #[test]
    fn specifiers() {
        let cases: &[(&str, Minor, bool)] = &[
            (">=3.9", Minor(3, 9), true),
            (">=3.9", Minor(3, 8), false),
            (">= 3.9, < 3.12", Minor(3, 11), true),
            (">=3.9,<3.12", Minor(3, 12), false),
            ("<3.11.4", Minor(3, 11), true),
            ("<=3.10", Minor(3, 10), true),
            (">3.9", Minor(3, 9), true),
            (">3.9", Minor(3, 8), false),
            ("==3.11.*", Minor(3, 11), true),
            ("==3.11.*", Minor(3, 12), false),
            ("==3.*", Minor(3, 12), true),
            ("!=3.10.*", Minor(3, 10), false),
            ("!=3.10.*", Minor(3, 11), true),
            ("~=3.10", Minor(3, 13), true),
            ("~=3.10.2", Minor(3, 11), false),
            ("^3.10", Minor(3, 12), true),
            ("^3.10", Minor(3, 9), false),
            ("~3.10", Minor(3, 10), true),
            ("~3.10", Minor(3, 11), false),
            ("3.11", Minor(3, 11), true),
            (">=3.8 <3.10", Minor(3, 10), false),
            ("^2.7 || ^3.12", Minor(3, 12), true),
            ("^2.7 || ^3.12", Minor(3, 11), false),
            ("*", Minor(3, 8), true),
        ];
        for (spec, v, want) in cases {
            assert_eq!(satisfies(spec, *v), *want, "{spec} {v}");
        }
    }
}
