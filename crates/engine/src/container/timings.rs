//! Where the time of a `run` goes: with `BERTH_DEBUG_TIMINGS=1` in the environment (which
//! `berth run --debug-timings` sets for itself and so for the monitor it spawns), each process
//! that does a step of a container's start appends a mark to `RUNROOT/timings/<id>`, and the
//! CLI prints the phases between the marks when the run ends.
//!
//! A mark is one line, `NANOS PID NAME`, written with one `write` on an `O_APPEND` file, so the
//! marks of the CLI and the monitor interleave whole. NANOS is the wall clock: the one clock
//! this crate can read that every process on the host shares (the spans are a few ms; a clock
//! step in the middle of one would show as a nonsense phase, not as wrong behaviour).
//! Timings change nothing a container does; off (the default) a mark costs one `getenv`.
//!
//! ```text
//! 1764881881123456789 4242 cli.spawn
//! 1764881881125456789 4250 mon.begin
//! ```

use std::io::Write;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::Engine;

/// The environment variable that turns the marks on (any value but empty or `0`).
pub const ENV: &str = "BERTH_DEBUG_TIMINGS";

/// Whether this process records marks.
pub fn enabled() -> bool {
    std::env::var_os(ENV).is_some_and(|v| !v.is_empty() && v != "0")
}

/// Nanoseconds since the epoch.
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// One point of a run: which process passed which step, when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    pub at_ns: u64,
    pub pid: u32,
    pub name: String,
}

impl Mark {
    /// A mark of this process, now.
    pub fn now(name: &str) -> Self {
        Self {
            at_ns: now_ns(),
            pid: std::process::id(),
            name: name.to_string(),
        }
    }

    fn line(&self) -> String {
        format!("{} {} {}\n", self.at_ns, self.pid, self.name)
    }
}

/// The marks of a timings file, oldest first; lines that are not marks are skipped (a file
/// cut short by a crash ends in half a line).
pub fn parse(text: &str) -> Vec<Mark> {
    let mut marks: Vec<Mark> = text
        .lines()
        .filter_map(|line| {
            let mut words = line.split(' ');
            let at_ns = words.next()?.parse().ok()?;
            let pid = words.next()?.parse().ok()?;
            let name = words.next().filter(|n| !n.is_empty())?;
            words.next().is_none().then(|| Mark {
                at_ns,
                pid,
                name: name.to_string(),
            })
        })
        .collect();
    marks.sort_by_key(|m| m.at_ns);
    marks
}

/// How long from the first `from` mark to the first `to` mark after it, in milliseconds.
pub fn span_ms(marks: &[Mark], from: &str, to: &str) -> Option<f64> {
    let start = marks.iter().position(|m| m.name == from)?;
    let end = marks[start..].iter().find(|m| m.name == to)?;
    Some((end.at_ns - marks[start].at_ns) as f64 / 1e6)
}

impl Engine {
    fn timings_path(&self, id: &str) -> PathBuf {
        self.run_root.join("timings").join(id)
    }

    /// Appends the mark `name` of this process for container `id`, when timings are on.
    /// Best effort: a mark that cannot be written is left out of the report, never an error.
    pub fn mark(&self, id: &str, name: &str) {
        if !enabled() {
            return;
        }
        let mark = Mark::now(name);
        let path = self.timings_path(id);
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(mark.line().as_bytes()));
        if let Err(e) = written {
            tracing::debug!(container_id = id, error = %e, "timings mark {name}");
        }
    }

    /// The marks recorded so far for container `id`, oldest first.
    pub fn timing_marks(&self, id: &str) -> Vec<Mark> {
        std::fs::read_to_string(self.timings_path(id))
            .map(|text| parse(&text))
            .unwrap_or_default()
    }

    /// Forgets the marks of container `id`.
    pub fn remove_timing_marks(&self, id: &str) {
        let _ = std::fs::remove_file(self.timings_path(id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_sorts_and_skips_broken_lines() {
        let text = "30 7 mon.begin\n10 5 cli.spawn\nnot a mark\n20 5\n40 7 two words\n50 7 mon.net";
        let names: Vec<_> = parse(text).into_iter().map(|m| m.name).collect();
        assert_eq!(names, ["cli.spawn", "mon.begin", "mon.net"]);
    }

    #[test]
    fn a_mark_survives_its_line() {
        let mark = Mark {
            at_ns: 1_764_881_881_123_456_789,
            pid: 4242,
            name: "cli.spawn".into(),
        };
        assert_eq!(parse(&mark.line()), [mark]);
    }

    #[test]
    fn span_takes_the_first_end_after_the_start() {
        let marks = parse("1000000 1 a\n3000000 1 b\n4000000 1 a\n9000000 1 b\n");
        assert_eq!(span_ms(&marks, "a", "b"), Some(2.0));
        assert_eq!(span_ms(&marks, "b", "a"), Some(1.0));
        assert_eq!(span_ms(&marks, "a", "c"), None);
        assert_eq!(span_ms(&[], "a", "b"), None);
    }
}
