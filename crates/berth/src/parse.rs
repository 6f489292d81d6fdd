//! What only the CLI resolves, against its own clock and environment: docker's CLI turns
//! `--since 42m` into a timestamp and `-e K` into `K=value` before asking the daemon, so the
//! engine and the API only ever see absolute times and explicit values. Docker's flag
//! syntaxes that become engine types (`-v`, `--mount`, `--ulimit`, `--memory`, …) live in
//! `berth_engine::container::flags`, shared with the API.

use anyhow::{bail, Context};

/// The environment a bare `-e K` or `--env-file` line `K` takes its value from: the CLI's
/// own, as with docker (the engine's parsers take it as an argument, since a server has none
/// to lend).
pub fn our_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
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

/// `--tail N|all`: how many lines from the end, `None` for all.
pub fn tail(value: Option<&str>) -> anyhow::Result<Option<usize>> {
    match value {
        None | Some("all") => Ok(None),
        Some(n) => n
            .parse::<usize>()
            .map(Some)
            .map_err(|_| anyhow::anyhow!("invalid --tail {n:?}: a number or \"all\"")),
    }
}

/// `--add-host HOST:IP` lines as (name, address); docker splits at the first ':' (an IPv6
/// address keeps its own) or '='.
pub fn extra_hosts(items: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    items
        .iter()
        .map(|h| {
            h.split_once(['=', ':'])
                .map(|(n, ip)| (n.to_string(), ip.to_string()))
                .ok_or_else(|| anyhow::anyhow!("invalid --add-host {h:?}: use HOST:IP"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_and_relative_times() {
        let t = time_or_ago("2024-05-01T12:00:00Z").unwrap();
        assert_eq!(t.timestamp(), 1_714_564_800);
        let t = time_or_ago("1714564800.5").unwrap();
        assert_eq!(t.timestamp_millis(), 1_714_564_800_500);
        let ago = chrono::Utc::now() - time_or_ago("42m").unwrap();
        assert!((ago.num_seconds() - 42 * 60).abs() < 5, "{ago}");
        for bad in ["soon", "5d", ""] {
            assert!(time_or_ago(bad).is_err(), "{bad}");
        }
    }
}
