//! Docker's flag syntaxes, parsed at the edge into typed values (pure, table-tested).

use std::collections::BTreeMap;

use anyhow::{bail, Context};
use berth_runtime::spec::{MountKind, MountSpec, Ulimit};

/// `--memory-swap`: like [`ram_in_bytes`], and `-1` for unlimited swap.
pub fn swap_in_bytes(s: &str) -> anyhow::Result<i64> {
    if s == "-1" {
        Ok(-1)
    } else {
        ram_in_bytes(s)
    }
}

/// `--memory 32m`: bytes, with docker's binary units b, k, m, g (case-insensitive).
pub fn ram_in_bytes(s: &str) -> anyhow::Result<i64> {
    let t = s.trim().to_ascii_lowercase();
    let t = t
        .strip_suffix('b')
        .filter(|r| !r.is_empty() && r.chars().last().is_some_and(|c| c.is_ascii_alphabetic()))
        .unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        Some('b') => (&t[..t.len() - 1], 1),
        _ => (t, 1),
    };
    let n: f64 = num.parse().with_context(|| {
        format!("invalid size: {s:?} (use a number with an optional unit b, k, m or g)")
    })?;
    if n < 0.0 {
        bail!("invalid size: {s:?} is negative");
    }
    Ok((n * mult as f64) as i64)
}

/// `--ulimit nofile=1024:2048` (or `nofile=1024`, soft = hard).
pub fn ulimit(s: &str) -> anyhow::Result<Ulimit> {
    let (name, values) = s
        .split_once('=')
        .with_context(|| format!("invalid ulimit argument: {s:?} (expected NAME=SOFT[:HARD])"))?;
    const NAMES: [&str; 16] = [
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
    if !NAMES.contains(&name) {
        bail!("invalid ulimit type: {name}");
    }
    let parse = |v: &str| -> anyhow::Result<u64> {
        if v == "-1" || v == "unlimited" {
            return Ok(u64::MAX);
        }
        v.parse()
            .with_context(|| format!("invalid ulimit value {v:?} in {s:?}"))
    };
    let (soft, hard) = match values.split_once(':') {
        Some((a, b)) => (parse(a)?, parse(b)?),
        None => (parse(values)?, parse(values)?),
    };
    if soft > hard {
        bail!("ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}");
    }
    Ok(Ulimit {
        name: name.to_string(),
        soft,
        hard,
    })
}

/// `-v HOST:CTR[:ro|rw]` or `-v NAME:CTR`. Named volumes come back as `MountKind::Volume`
/// with the name as source; the engine turns the name into a directory.
pub fn volume(s: &str) -> anyhow::Result<MountSpec> {
    let parts: Vec<&str> = s.split(':').collect();
    let (src, dst, mode) = match parts.as_slice() {
        [dst] => ("", *dst, ""),
        [src, dst] => (*src, *dst, ""),
        [src, dst, mode] => (*src, *dst, *mode),
        _ => bail!("invalid volume specification: {s:?}"),
    };
    if !dst.starts_with('/') {
        bail!("invalid volume specification: {s:?}: the container path must be absolute");
    }
    let mut read_only = false;
    let mut options = Vec::new();
    for m in mode.split(',').filter(|m| !m.is_empty()) {
        match m {
            "ro" => read_only = true,
            "rw" => read_only = false,
            "z" | "Z" | "nocopy" | "consistent" | "cached" | "delegated" => {}
            "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" => {
                options.push(m.to_string())
            }
            _ => bail!("invalid volume specification: {s:?}: unknown mode {m:?}"),
        }
    }
    let kind = if src.starts_with('/') {
        MountKind::Bind
    } else {
        MountKind::Volume
    };
    if kind == MountKind::Volume && !src.is_empty() && !crate::parse::valid_volume_name(src) {
        bail!("invalid volume specification: {s:?}: {src:?} is neither an absolute path nor a valid volume name");
    }
    Ok(MountSpec {
        source: src.to_string(),
        destination: dst.to_string(),
        kind,
        read_only,
        options,
    })
}

pub fn valid_volume_name(n: &str) -> bool {
    let mut chars = n.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// `--tmpfs /run[:size=64m,mode=1777]`.
pub fn tmpfs(s: &str) -> anyhow::Result<MountSpec> {
    let (dst, opts) = s.split_once(':').unwrap_or((s, ""));
    if !dst.starts_with('/') {
        bail!("invalid tmpfs specification: {s:?}: the path must be absolute");
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

/// `--mount type=bind,source=/a,target=/b,readonly`.
pub fn mount(s: &str) -> anyhow::Result<MountSpec> {
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
                    _ => bail!("invalid mount {s:?}: type must be bind, volume or tmpfs"),
                })
            }
            "source" | "src" => source = v.to_string(),
            "target" | "destination" | "dst" => target = Some(v.to_string()),
            "readonly" | "ro" => read_only = v.is_empty() || v == "true" || v == "1",
            "tmpfs-size" => options.push(format!("size={v}")),
            "tmpfs-mode" => options.push(format!("mode={v}")),
            "bind-propagation" => options.push(v.to_string()),
            _ => bail!("invalid mount {s:?}: unknown field {k:?}"),
        }
    }
    let kind = kind.unwrap_or(MountKind::Volume);
    let target = target.with_context(|| format!("invalid mount {s:?}: target is required"))?;
    if !target.starts_with('/') {
        bail!("invalid mount {s:?}: target must be an absolute path");
    }
    if kind == MountKind::Bind && !source.starts_with('/') {
        bail!("invalid mount {s:?}: a bind mount needs an absolute source");
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

/// `--env-file`: `K=V` lines, comments and blanks skipped; a bare `K` takes the value from
/// our environment (dropped when unset), as docker does.
pub fn env_file(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim_start)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| match l.split_once('=') {
            Some(_) => Some(l.to_string()),
            None => std::env::var(l).ok().map(|v| format!("{l}={v}")),
        })
        .collect()
}

/// `-e K=V` keeps its value; a bare `-e K` takes ours (dropped when unset).
pub fn env_arg(s: &str) -> Option<String> {
    if s.contains('=') {
        Some(s.to_string())
    } else {
        std::env::var(s).ok().map(|v| format!("{s}={v}"))
    }
}

/// `-l k=v` (a bare `k` gets an empty value).
pub fn labels(items: &[String]) -> BTreeMap<String, String> {
    items
        .iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (l.to_string(), String::new()),
        })
        .collect()
}

/// `--entrypoint` as docker takes it: one string; an empty string resets the entrypoint.
pub fn entrypoint(s: &str) -> Vec<String> {
    if s.is_empty() {
        Vec::new()
    } else {
        vec![s.to_string()]
    }
}

/// `--since`/`--until` for logs: RFC 3339, a unix timestamp, or a duration ago (`42m`).
pub fn time_or_ago(s: &str) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    if let Ok(secs) = s.parse::<f64>() {
        let nanos = (secs * 1e9) as i64;
        return Ok(chrono::DateTime::from_timestamp_nanos(nanos));
    }
    let (num, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len()));
    let n: f64 = num.parse().with_context(|| {
        format!("invalid time {s:?}: use RFC 3339, a unix timestamp, or a duration like 42m")
    })?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "ms" => n / 1000.0,
        _ => bail!("invalid time {s:?}: unknown unit {unit:?}"),
    };
    Ok(chrono::Utc::now() - chrono::Duration::milliseconds((secs * 1000.0) as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        for (s, want) in [
            ("32m", 32 << 20),
            ("32M", 32 << 20),
            ("1g", 1 << 30),
            ("512k", 512 << 10),
            ("1024", 1024),
            ("64mb", 64 << 20),
            ("1.5g", 3 << 29),
        ] {
            assert_eq!(ram_in_bytes(s).unwrap(), want, "{s}");
        }
        for bad in ["", "abc", "-1m", "12q"] {
            assert!(ram_in_bytes(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ulimits() {
        let u = ulimit("nofile=1024:2048").unwrap();
        assert_eq!((u.name.as_str(), u.soft, u.hard), ("nofile", 1024, 2048));
        let u = ulimit("nproc=64").unwrap();
        assert_eq!((u.soft, u.hard), (64, 64));
        for bad in ["nofile", "bogus=1", "nofile=2:1", "nofile=x"] {
            assert!(ulimit(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn volumes() {
        let v = volume("/srv/data:/data:ro").unwrap();
        assert_eq!(
            (
                v.kind,
                v.source.as_str(),
                v.destination.as_str(),
                v.read_only
            ),
            (MountKind::Bind, "/srv/data", "/data", true)
        );
        let v = volume("cache:/root/.cache").unwrap();
        assert_eq!((v.kind, v.source.as_str()), (MountKind::Volume, "cache"));
        let v = volume("/anon").unwrap();
        assert_eq!((v.kind, v.source.as_str()), (MountKind::Volume, ""));
        for bad in ["a:b", "/a:/b:xx", "a:b:c:d", "bad name:/x"] {
            assert!(volume(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn mounts_and_tmpfs() {
        let m = mount("type=bind,source=/a,target=/b,readonly").unwrap();
        assert_eq!(
            (
                m.kind,
                m.source.as_str(),
                m.destination.as_str(),
                m.read_only
            ),
            (MountKind::Bind, "/a", "/b", true)
        );
        let m = mount("type=tmpfs,target=/t,tmpfs-size=64m").unwrap();
        assert_eq!(
            (m.kind, m.options.clone()),
            (MountKind::Tmpfs, vec!["size=64m".to_string()])
        );
        assert!(mount("type=bind,source=rel,target=/b").is_err());
        assert!(mount("type=nfs,target=/b").is_err());
        assert!(mount("type=bind,source=/a").is_err());
        let t = tmpfs("/run:size=1m,mode=1777").unwrap();
        assert_eq!(t.options, vec!["size=1m", "mode=1777"]);
        assert!(tmpfs("run").is_err());
    }

    #[test]
    fn env_files_skip_comments() {
        let env = env_file("# c\nA=1\n\n  B=two words\nBERTH_SURELY_UNSET_VAR\n");
        assert_eq!(env, vec!["A=1", "B=two words"]);
    }
}
