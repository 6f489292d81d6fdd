//! Docker's flag syntaxes (`-v`, `--tmpfs`, `--mount`, `--ulimit`, `--memory`, `-e`,
//! `--env-file`, `-l`, `--entrypoint`), parsed into the runtime's types. Pure and
//! table-tested: every front end shares them, because the Engine API's `HostConfig` uses the
//! same strings (`Binds: ["src:dst:ro,z"]`, `Tmpfs: {"/run": "rw,size=64m"}`) as the CLI's
//! flags, and both must accept and refuse the same things with the same words.
//!
//! Nothing here does I/O or reads the process environment: where docker takes a bare `-e K`
//! from "our" environment, the caller says whose environment that is (the CLI's own; an API
//! server has none to lend).
//!
//! ```
//! use berth_engine::container::flags;
//! let m = flags::volume("/srv/data:/data:ro").unwrap();
//! assert_eq!((m.source.as_str(), m.destination.as_str(), m.read_only), ("/srv/data", "/data", true));
//! assert_eq!(flags::ram_in_bytes("64m").unwrap(), 64 << 20);
//! ```

use std::collections::BTreeMap;
use std::num::{ParseFloatError, ParseIntError};

use berth_runtime::spec::{MountKind, MountSpec, Ulimit};

use crate::volume::valid_name as valid_volume_name;

/// A flag value that does not follow docker's syntax; the API answers 400 for these
/// (`EngineError::Flag` is `ErrorKind::InvalidArgument`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlagError {
    #[error("invalid size: {input:?} (use a number with an optional unit b, k, m or g)")]
    SizeNotANumber {
        input: String,
        #[source]
        cause: ParseFloatError,
    },
    #[error("invalid size: {0:?} is negative")]
    NegativeSize(String),
    #[error("invalid size: {0:?} is not a finite number of bytes")]
    SizeOutOfRange(String),
    #[error("invalid ulimit argument: {0:?} (expected NAME=SOFT[:HARD])")]
    UlimitSyntax(String),
    #[error("invalid ulimit type: {0}")]
    UlimitType(String),
    #[error("invalid ulimit value {value:?} in {input:?}")]
    UlimitValue {
        value: String,
        input: String,
        #[source]
        cause: ParseIntError,
    },
    #[error("ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}")]
    UlimitSoftAboveHard { soft: u64, hard: u64 },
    /// A `-v` with more than three `:`-separated fields.
    #[error("invalid volume specification: {0:?}")]
    VolumeFields(String),
    #[error("invalid volume specification: {spec:?}: {problem}")]
    Volume {
        spec: String,
        problem: VolumeProblem,
    },
    #[error("invalid tmpfs specification: {0:?}: the path must be absolute")]
    TmpfsRelativePath(String),
    #[error("invalid mount {spec:?}: {problem}")]
    Mount { spec: String, problem: MountProblem },
    #[error("log driver {0:?} is not supported: berth writes docker's json-file logs (--log-driver json-file)")]
    LogDriver(String),
    #[error("unknown log opt '{0}' for json-file log driver")]
    LogOptUnknown(String),
    #[error(
        "log opt '{0}' is not supported by berth's json-file logs (max-size and max-file are)"
    )]
    LogOptUnsupported(String),
    #[error("invalid log opt {key}={value:?}: {problem}")]
    LogOptValue {
        key: String,
        value: String,
        problem: &'static str,
    },
}

/// `--log-driver` / `--log-opt` (or the API's `HostConfig.LogConfig`): berth has one log
/// driver, docker's json-file, and takes its rotation options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LogOptions {
    /// `max-size`: rotate once the file reaches this many bytes (default 10 MB).
    pub max_size: Option<u64>,
    /// `max-file`: how many files to keep, the current one included (default 3).
    pub max_file: Option<u32>,
}

/// Parses a log driver and its `KEY=VALUE` options as docker's json-file driver does.
pub fn log_options(
    driver: Option<&str>,
    opts: &[(String, String)],
) -> Result<LogOptions, FlagError> {
    match driver {
        None | Some("" | "json-file") => {}
        Some(other) => return Err(FlagError::LogDriver(other.to_string())),
    }
    let mut out = LogOptions::default();
    for (key, value) in opts {
        let bad = |problem| FlagError::LogOptValue {
            key: key.clone(),
            value: value.clone(),
            problem,
        };
        match key.as_str() {
            "max-size" => {
                let n = ram_in_bytes(value).map_err(|_| bad("use a size such as 10m"))?;
                if n <= 0 {
                    return Err(bad("must be more than 0"));
                }
                out.max_size = Some(n as u64);
            }
            "max-file" => {
                let n: u32 = value.parse().map_err(|_| bad("use a whole number"))?;
                if n == 0 {
                    return Err(bad("must be at least 1"));
                }
                out.max_file = Some(n);
            }
            "labels" | "labels-regex" | "env" | "env-regex" | "tag" | "compress" => {
                return Err(FlagError::LogOptUnsupported(key.clone()))
            }
            _ => return Err(FlagError::LogOptUnknown(key.clone())),
        }
    }
    Ok(out)
}

/// `KEY=VALUE` items (`--log-opt`), split at the first `=`.
pub fn key_values(items: &[String]) -> Result<Vec<(String, String)>, FlagError> {
    items
        .iter()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| FlagError::LogOptValue {
                    key: kv.clone(),
                    value: String::new(),
                    problem: "use KEY=VALUE",
                })
        })
        .collect()
}

/// What is wrong with a `-v` (or `Binds` entry) that has the right number of fields.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VolumeProblem {
    #[error("the container path must be absolute")]
    RelativeTarget,
    #[error("unknown mode {0:?}")]
    UnknownMode(String),
    #[error("{0:?} is neither an absolute path nor a valid volume name")]
    BadSource(String),
}

/// What is wrong with a `--mount`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MountProblem {
    #[error("type must be bind, volume or tmpfs")]
    UnknownType,
    #[error("unknown field {0:?}")]
    UnknownField(String),
    #[error("target is required")]
    NoTarget,
    #[error("target must be an absolute path")]
    RelativeTarget,
    #[error("a bind mount needs an absolute source")]
    RelativeBindSource,
}

/// `--memory-swap`: like [`ram_in_bytes`], and `-1` for unlimited swap.
pub fn swap_in_bytes(s: &str) -> Result<i64, FlagError> {
    if s == "-1" {
        Ok(-1)
    } else {
        ram_in_bytes(s)
    }
}

/// `--memory 32m`: bytes, with docker's binary units b, k, m, g, t (case-insensitive, an
/// optional trailing `b` as in `64mb`).
pub fn ram_in_bytes(s: &str) -> Result<i64, FlagError> {
    let t = s.trim().to_ascii_lowercase();
    let t = t
        .strip_suffix('b')
        .filter(|r| !r.is_empty() && r.chars().last().is_some_and(|c| c.is_ascii_alphabetic()))
        .unwrap_or(&t);
    // The unit is one ASCII letter, so slicing it off stays on a char boundary.
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        Some('b') => (&t[..t.len() - 1], 1),
        _ => (t, 1),
    };
    let n: f64 = num.parse().map_err(|cause| FlagError::SizeNotANumber {
        input: s.to_string(),
        cause,
    })?;
    if n < 0.0 {
        return Err(FlagError::NegativeSize(s.to_string()));
    }
    let bytes = n * mult as f64;
    // "nan" and "inf" parse as floats; neither is a size (docker refuses them too).
    if !bytes.is_finite() || bytes >= i64::MAX as f64 {
        return Err(FlagError::SizeOutOfRange(s.to_string()));
    }
    Ok(bytes as i64)
}

/// The resource names `--ulimit` takes (docker's list, `RLIMIT_*` without the prefix).
const ULIMIT_NAMES: [&str; 16] = [
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
    "as",
];

/// `--ulimit nofile=1024:2048` (or `nofile=1024`, soft = hard); `-1` and `unlimited` mean
/// no limit.
pub fn ulimit(s: &str) -> Result<Ulimit, FlagError> {
    let (name, values) = s
        .split_once('=')
        .ok_or_else(|| FlagError::UlimitSyntax(s.to_string()))?;
    if !ULIMIT_NAMES.contains(&name) {
        return Err(FlagError::UlimitType(name.to_string()));
    }
    let parse = |v: &str| -> Result<u64, FlagError> {
        if v == "-1" || v == "unlimited" {
            return Ok(u64::MAX);
        }
        v.parse().map_err(|cause| FlagError::UlimitValue {
            value: v.to_string(),
            input: s.to_string(),
            cause,
        })
    };
    let (soft, hard) = match values.split_once(':') {
        Some((a, b)) => (parse(a)?, parse(b)?),
        None => (parse(values)?, parse(values)?),
    };
    if soft > hard {
        return Err(FlagError::UlimitSoftAboveHard { soft, hard });
    }
    Ok(Ulimit {
        name: name.to_string(),
        soft,
        hard,
    })
}

/// `-v HOST:CTR[:ro|rw]`, `-v NAME:CTR` or `-v CTR` (an anonymous volume); also the API's
/// `Binds` entries. Named volumes come back as `MountKind::Volume` with the name as source
/// (empty when anonymous); the engine turns the name into a directory.
pub fn volume(s: &str) -> Result<MountSpec, FlagError> {
    let bad = |problem| FlagError::Volume {
        spec: s.to_string(),
        problem,
    };
    let parts: Vec<&str> = s.split(':').collect();
    let (src, dst, mode) = match parts.as_slice() {
        [dst] => ("", *dst, ""),
        [src, dst] => (*src, *dst, ""),
        [src, dst, mode] => (*src, *dst, *mode),
        _ => return Err(FlagError::VolumeFields(s.to_string())),
    };
    if !dst.starts_with('/') {
        return Err(bad(VolumeProblem::RelativeTarget));
    }
    let mut read_only = false;
    let mut options = Vec::new();
    for m in mode.split(',').filter(|m| !m.is_empty()) {
        match m {
            "ro" => read_only = true,
            "rw" => read_only = false,
            // SELinux relabelling and docker-for-mac consistency hints mean nothing here.
            "z" | "Z" | "nocopy" | "consistent" | "cached" | "delegated" => {}
            "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" => {
                options.push(m.to_string())
            }
            _ => return Err(bad(VolumeProblem::UnknownMode(m.to_string()))),
        }
    }
    let kind = if src.starts_with('/') {
        MountKind::Bind
    } else {
        MountKind::Volume
    };
    if kind == MountKind::Volume && !src.is_empty() && !valid_volume_name(src) {
        return Err(bad(VolumeProblem::BadSource(src.to_string())));
    }
    Ok(MountSpec {
        source: src.to_string(),
        destination: dst.to_string(),
        kind,
        read_only,
        options,
    })
}

/// `--tmpfs /run[:size=64m,mode=1777]`; the options go to the mount as given.
pub fn tmpfs(s: &str) -> Result<MountSpec, FlagError> {
    let (dst, opts) = s.split_once(':').unwrap_or((s, ""));
    if !dst.starts_with('/') {
        return Err(FlagError::TmpfsRelativePath(s.to_string()));
    }
    Ok(MountSpec {
        source: "tmpfs".into(),
        destination: dst.to_string(),
        kind: MountKind::Tmpfs,
        read_only: false,
        options: opts
            .split(',')
            .filter(|o| !o.is_empty())
            .map(str::to_string)
            .collect(),
    })
}

/// `--mount type=bind,source=/a,target=/b,readonly`; the type defaults to `volume`, as in
/// docker.
pub fn mount(s: &str) -> Result<MountSpec, FlagError> {
    let bad = |problem| FlagError::Mount {
        spec: s.to_string(),
        problem,
    };
    let mut kind = None;
    let mut source = String::new();
    let mut target = None;
    let mut read_only = false;
    let mut options = Vec::new();
    for field in s.split(',') {
        let (k, v) = field.split_once('=').unwrap_or((field, ""));
        match k {
            "type" => {
                kind = Some(match v {
                    "bind" => MountKind::Bind,
                    "volume" => MountKind::Volume,
                    "tmpfs" => MountKind::Tmpfs,
                    _ => return Err(bad(MountProblem::UnknownType)),
                })
            }
            "source" | "src" => source = v.to_string(),
            "target" | "destination" | "dst" => target = Some(v.to_string()),
            "readonly" | "ro" => read_only = v.is_empty() || v == "true" || v == "1",
            "tmpfs-size" => options.push(format!("size={v}")),
            "tmpfs-mode" => options.push(format!("mode={v}")),
            "bind-propagation" => options.push(v.to_string()),
            _ => return Err(bad(MountProblem::UnknownField(k.to_string()))),
        }
    }
    let kind = kind.unwrap_or(MountKind::Volume);
    let target = target.ok_or_else(|| bad(MountProblem::NoTarget))?;
    if !target.starts_with('/') {
        return Err(bad(MountProblem::RelativeTarget));
    }
    if kind == MountKind::Bind && !source.starts_with('/') {
        return Err(bad(MountProblem::RelativeBindSource));
    }
    Ok(MountSpec {
        source: if kind == MountKind::Tmpfs {
            "tmpfs".into()
        } else {
            source
        },
        destination: target,
        kind,
        read_only,
        options,
    })
}

/// `--env-file` contents: `K=V` lines, comments and blanks skipped; a bare `K` takes its value
/// from `lookup` (the CLI passes its own environment, as docker does) and is dropped when
/// `lookup` has none.
pub fn env_file(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Vec<String> {
    text.lines()
        .map(str::trim_start)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| env_arg(l, &lookup))
        .collect()
}

/// `-e K=V` keeps its value; a bare `-e K` takes it from `lookup` (dropped when it has none).
pub fn env_arg(s: &str, lookup: impl Fn(&str) -> Option<String>) -> Option<String> {
    if s.contains('=') {
        Some(s.to_string())
    } else {
        lookup(s).map(|v| format!("{s}={v}"))
    }
}

/// `-l k=v` (a bare `k` gets an empty value; a later `k` wins).
pub fn labels(items: &[String]) -> BTreeMap<String, String> {
    items
        .iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (l.to_string(), String::new()),
        })
        .collect()
}

/// `--entrypoint` as docker takes it: one string, not split; an empty string resets the
/// image's entrypoint.
pub fn entrypoint(s: &str) -> Vec<String> {
    if s.is_empty() {
        Vec::new()
    } else {
        vec![s.to_string()]
    }
}

#[cfg(test)]
#[path = "flags_tests.rs"]
mod tests;
