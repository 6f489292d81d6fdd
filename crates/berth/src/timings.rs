//! `berth run --debug-timings` (or `BERTH_DEBUG_TIMINGS=1`): where the time of a run went,
//! printed on stderr when the run ends.
//!
//! The CLI keeps its own marks before the container has an ID (process start, engine open)
//! in memory; the engine and the monitor append theirs to the container's timings file (see
//! `berth_engine::container::timings`). The report is the phases between those marks, each
//! measured by the process that did the work; the bench (`bench/bench.py`) parses its lines.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use berth_engine::container::timings::{self, Mark};
use berth_engine::Engine;

/// When `main` began, noted first thing: the CLI's start for the report.
static START: OnceLock<Mark> = OnceLock::new();

/// Notes the start of the process (cheap: one clock read; the report is opt-in).
pub fn note_start() {
    let _ = START.set(Mark::now("cli.main"));
}

/// Which runs a phase belongs to.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Both,
    Foreground,
    Detached,
}

/// (key, process, from mark, to mark, runs, what happens in it)
type Phase<'a> = (&'a str, &'a str, &'a str, &'a str, Mode, &'a str);

// A table: one phase a line reads better than rustfmt's six.
#[rustfmt::skip]
const PHASES: &[Phase<'static>] = &[
    ("engine-open", "cli", "cli.main", "cli.engine-open", Mode::Both, "CLI start → engine open (arguments, privilege check, store open)"),
    ("store", "cli", "cli.engine-open", "cli.created", Mode::Both, "image lookup, container record and directory"),
    ("start-request", "cli", "cli.created", "cli.spawn", Mode::Both, "reconcile, reset the record, open the monitor log"),
    ("monitor-spawn", "cli→monitor", "cli.spawn", "mon.begin", Mode::Both, "the CLI's fork into the monitor, its lock, engine, claim"),
    ("network", "monitor", "mon.begin", "mon.network", Mode::Both, "read the records, network up"),
    ("rootfs", "monitor", "mon.network", "mon.bundle", Mode::Both, "overlay mount, /etc files, config.json"),
    ("runtime-create", "monitor", "mon.bundle", "mon.created", Mode::Both, "attach socket (a foreground run's CLI told to attach), pipes, the runtime's create (the init up to ready)"),
    ("attach", "monitor", "mon.created", "mon.go", Mode::Foreground, "accept the CLI's attach (made during the create), open the json log"),
    ("runtime-start", "monitor", "mon.go", "mon.started", Mode::Both, "the runtime's start (the init execs)"),
    ("record-running", "monitor", "mon.started", "mon.recorded", Mode::Both, "record running, event"),
    ("report-started", "monitor→cli", "mon.recorded", "cli.reported", Mode::Detached, "\"started\" down the pipe, the CLI wakes"),
    ("started-to-return", "cli", "cli.reported", "cli.done", Mode::Detached, "print the ID, return"),
    ("wait-exit", "monitor", "mon.recorded", "mon.exited", Mode::Foreground, "the container runs, exits, its output drains"),
    ("exit-record", "monitor", "mon.exited", "mon.exit-sent", Mode::Foreground, "record the exit, event, the exit to the client"),
    ("teardown-runtime", "monitor", "mon.exit-sent", "mon.rt-deleted", Mode::Foreground, "the runtime's delete (cgroups, state directory)"),
    ("teardown-network", "monitor", "mon.rt-deleted", "mon.net-down", Mode::Foreground, "network down, record"),
    ("teardown-rootfs", "monitor", "mon.net-down", "mon.unmounted", Mode::Foreground, "unmount the rootfs"),
    ("teardown-remove", "monitor", "mon.unmounted", "mon.finished", Mode::Foreground, "clear the monitor, --rm removal"),
    ("monitor-to-return", "monitor→cli", "mon.finished", "cli.done", Mode::Foreground, "the monitor closes the connection, the CLI returns"),
    ("total", "cli", "cli.main", "cli.done", Mode::Both, "CLI start → CLI return"),
];

/// The CLI's own marks of one run; empty (and free) unless timings are on.
pub struct RunTimings {
    marks: Vec<Mark>,
    on: bool,
}

impl RunTimings {
    /// Starts the report of a run: `flag` is `--debug-timings`, which also turns the marks on
    /// for the engine and the monitor (through the environment the monitor inherits).
    pub fn begin(flag: bool) -> Self {
        if flag {
            std::env::set_var(timings::ENV, "1");
        }
        let on = timings::enabled();
        let mut marks = Vec::new();
        if on {
            marks.extend(START.get().cloned());
            marks.push(Mark::now("cli.engine-open"));
        }
        Self { marks, on }
    }

    pub fn mark(&mut self, name: &str) {
        if self.on {
            self.marks.push(Mark::now(name));
        }
    }

    /// Ends the run's timings and prints them on stderr. In the foreground the monitor's
    /// teardown may still be going on: its last marks are waited for (≤ 2 s), after the
    /// CLI's own end was noted.
    pub fn report(mut self, engine: &Engine, id: &str, detached: bool) {
        if !self.on {
            return;
        }
        self.mark("cli.done");
        let mut marks = engine.timing_marks(id);
        if !detached {
            let deadline = Instant::now() + Duration::from_secs(2);
            while !marks.iter().any(|m| m.name == "mon.finished") && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
                marks = engine.timing_marks(id);
            }
            engine.remove_timing_marks(id);
        }
        marks.extend(self.marks);
        marks.sort_by_key(|m| m.at_ns);
        eprint!("{}", render(&marks, id, detached));
    }
}

fn render(marks: &[Mark], id: &str, detached: bool) -> String {
    let short = id.get(..12).unwrap_or(id);
    let mut out = format!(
        "debug timings, container {short} ({}; ms, each phase timed by the process named):\n",
        if detached { "detached" } else { "foreground" }
    );
    let wanted = if detached {
        Mode::Detached
    } else {
        Mode::Foreground
    };
    for (key, process, from, to, mode, what) in PHASES {
        if *mode != Mode::Both && *mode != wanted {
            continue;
        }
        let ms = timings::span_ms(marks, from, to)
            .map(|ms| format!("{ms:9.2}"))
            .unwrap_or_else(|| format!("{:>9}", "-"));
        out.push_str(&format!("  {process:<12} {key:<19} {ms}  {what}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_names_each_phase_with_its_time() {
        let marks = timings::parse(
            "0 1 cli.main\n1000000 1 cli.engine-open\n3000000 1 cli.created\n\
             3500000 1 cli.spawn\n5500000 2 mon.begin\n40000000 1 cli.done\n",
        );
        let text = render(&marks, "0123456789abcdef", false);
        let line = |key: &str| {
            text.lines()
                .find(|l| l.split_whitespace().nth(1) == Some(key))
                .map(|l| l.split_whitespace().nth(2).unwrap_or_default().to_string())
        };
        assert!(text.starts_with("debug timings, container 0123456789ab (foreground;"));
        assert_eq!(line("engine-open").as_deref(), Some("1.00"));
        assert_eq!(line("store").as_deref(), Some("2.00"));
        assert_eq!(line("monitor-spawn").as_deref(), Some("2.00"));
        assert_eq!(line("network").as_deref(), Some("-"));
        assert_eq!(line("total").as_deref(), Some("40.00"));
        assert_eq!(
            line("started-to-return"),
            None,
            "a detached phase in a foreground run"
        );
    }
}
