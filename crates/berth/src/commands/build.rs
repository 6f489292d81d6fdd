//! `berth build` and `berth builder prune`.

use std::collections::BTreeMap;
use std::collections::VecDeque;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context;
use berth_engine::build::{BuildEvent, BuildOptions};
use berth_engine::{Engine, EngineError};

use crate::cli::{BuildArgs, BuilderPruneArgs};
use crate::live::Live;
use crate::output::write_out;
use crate::units::human_size;
use crate::Exit;

pub fn run(engine: &Engine, a: BuildArgs) -> anyhow::Result<()> {
    if let Some(p) = a.platform.as_deref().filter(|p| !p.starts_with("linux")) {
        anyhow::bail!("--platform {p}: berth builds linux images");
    }
    if !matches!(a.progress.as_str(), "auto" | "plain" | "tty") {
        anyhow::bail!(
            "invalid --progress {:?}: use auto, plain or tty",
            a.progress
        );
    }
    // A failed build leaves no ID behind (docker removes the file first too).
    if let Some(path) = &a.iidfile {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("build: --iidfile {}", path.display()))
            }
            _ => {}
        }
    }
    let mut build_args = std::collections::BTreeMap::new();
    for arg in &a.build_arg {
        match arg.split_once('=') {
            Some((k, v)) => build_args.insert(k.to_string(), v.to_string()),
            // docker: `--build-arg NAME` takes the value from the environment.
            None => match std::env::var(arg) {
                Ok(v) => build_args.insert(arg.clone(), v),
                Err(_) => continue,
            },
        };
    }
    // A context on standard input: a tar, which the engine unpacks for the build.
    let stdin_context;
    let context = if a.path == "-" {
        stdin_context = engine.context_from_tar(std::io::stdin().lock())?;
        stdin_context.path().to_path_buf()
    } else {
        let p = std::path::PathBuf::from(&a.path);
        if !p.is_dir() {
            anyhow::bail!("unable to prepare context: path {:?} not found", a.path);
        }
        p
    };
    let network = match a.network.as_str() {
        "default" | "bridge" => Default::default(),
        other => other.parse()?,
    };
    let source_date_epoch = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .map(|v| v.parse::<i64>())
        .transpose()
        .context("SOURCE_DATE_EPOCH must be a number of seconds")?;
    let opts = BuildOptions {
        context,
        dockerfile: a.file.clone(),
        tags: a.tag.clone(),
        build_args,
        target: a.target.clone(),
        labels: berth_engine::container::flags::labels(&a.label),
        no_cache: a.no_cache,
        pull: a.pull,
        network,
        source_date_epoch,
        cancel: berth_engine::Cancel::new(),
    };
    // ^C stops the build cleanly: its RUN containers are killed and removed.
    crate::terminal::cancel_on_signals(opts.cancel.clone())?;
    let quiet = a.quiet;
    let tty = match a.progress.as_str() {
        "tty" => true,
        "plain" => false,
        _ => std::io::stdout().is_terminal(),
    };
    let result = if quiet {
        engine.build(&opts, &|_| {})
    } else if tty {
        let view = TtyView::new(Live::new(std::io::stdout(), true).sorted());
        // The clock of the running steps moves even when they print nothing.
        let done = AtomicBool::new(false);
        let result = std::thread::scope(|s| {
            s.spawn(|| {
                while !done.load(Ordering::Relaxed) {
                    std::thread::sleep(crate::live::INTERVAL);
                    view.redraw();
                }
            });
            // Stops the clock however the build ends, a panic included (the scope waits for
            // the clock before it lets a panic through).
            let _stop = StopOnDrop(&done);
            engine.build(&opts, &|e| view.event(e))
        });
        view.finish(result.is_ok());
        result
    } else {
        let plain = Plain::default();
        engine.build(&opts, &|e| plain.event(e))
    };
    match result {
        Ok(id) => {
            if let Some(path) = &a.iidfile {
                // docker writes the ID alone, without a newline.
                std::fs::write(path, id.to_string())
                    .with_context(|| format!("build: write the image ID to {}", path.display()))?;
            }
            if quiet {
                write_out(&format!("{id}\n"))?;
            }
            Ok(())
        }
        Err(EngineError::BuildFailed(f)) => {
            let mut msg = format!(
                "error: {} (Dockerfile:{}) failed with exit code {}\n",
                f.header, f.line, f.code
            );
            if !f.tail.is_empty() {
                msg.push_str("its last lines of output:\n");
                for l in &f.tail {
                    msg.push_str("    ");
                    msg.push_str(l);
                    msg.push('\n');
                }
            }
            msg.push_str(&format!("the full log: {}\n", f.log.display()));
            eprint!("{msg}");
            Err(Exit::code(1).into())
        }
        Err(e) => Err(e.into()),
    }
}

/// docker's plain output: `Step N/M` lines, the lines under them and the steps' output. While
/// stages run at the same time, each of their lines starts with `[stage] `.
#[derive(Default)]
struct Plain {
    /// The names of the stages running alongside others.
    concurrent: Mutex<BTreeMap<usize, String>>,
}

impl Plain {
    fn event(&self, e: BuildEvent<'_>) {
        let (stage, text) = match e {
            BuildEvent::Note(text) => (None, text),
            BuildEvent::StageStarted {
                stage,
                name,
                concurrent,
            } => {
                if let Ok(mut c) = self.concurrent.lock() {
                    if concurrent {
                        c.insert(stage, name.to_string());
                    } else {
                        c.remove(&stage);
                    }
                }
                return;
            }
            BuildEvent::Step {
                stage,
                header: text,
            }
            | BuildEvent::Detail { stage, text }
            | BuildEvent::Output { stage, text } => (Some(stage), text),
            BuildEvent::StepDone { .. } => return,
            BuildEvent::StageDone { stage } => {
                if let Ok(mut c) = self.concurrent.lock() {
                    c.remove(&stage);
                }
                return;
            }
        };
        let prefix = stage
            .and_then(|s| self.concurrent.lock().ok()?.get(&s).cloned())
            .map(|name| format!("[{name}] "));
        let mut out = std::io::stdout().lock();
        match prefix {
            Some(p) => {
                for l in text.lines() {
                    let _ = writeln!(out, "{p}{l}");
                }
            }
            None => {
                let _ = writeln!(out, "{text}");
            }
        }
        let _ = out.flush();
    }
}

/// Sets its flag when dropped.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// `--progress=tty`: a line per running step with its clock and its last lines of output,
/// rewritten in place; finished steps stay above it, one line each (`CACHED` or their time).
struct TtyView {
    live: Live<std::io::Stdout>,
    start: Instant,
    state: Mutex<TtyState>,
}

#[derive(Default)]
struct TtyState {
    /// `M` of `Step N/M`, once a step was seen.
    total: usize,
    /// Steps over.
    done: usize,
    /// Names of the stages running alongside others.
    concurrent: BTreeMap<usize, String>,
    /// The running step of each stage.
    running: BTreeMap<usize, Running>,
}

struct Running {
    header: String,
    started: Instant,
    /// The step's last lines of output.
    output: VecDeque<String>,
}

/// Lines of a running step's output shown under it.
const OUTPUT_LINES: usize = 5;

impl TtyView {
    fn new(live: Live<std::io::Stdout>) -> Self {
        Self {
            live,
            start: Instant::now(),
            state: Mutex::new(TtyState::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TtyState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn event(&self, e: BuildEvent<'_>) {
        let mut st = self.lock();
        match e {
            BuildEvent::Note(text) => self.live.print(text),
            BuildEvent::StageStarted {
                stage,
                name,
                concurrent,
            } => {
                if concurrent {
                    st.concurrent.insert(stage, name.to_string());
                }
            }
            BuildEvent::Step { stage, header } => {
                if let Some(total) = header
                    .strip_prefix("Step ")
                    .and_then(|h| h.split_once(' '))
                    .and_then(|(n, _)| n.split_once('/'))
                    .and_then(|(_, m)| m.parse().ok())
                {
                    st.total = total;
                }
                let header = match st.concurrent.get(&stage) {
                    Some(name) => format!("[{name}] {header}"),
                    None => header.to_string(),
                };
                st.running.insert(
                    stage,
                    Running {
                        header,
                        started: Instant::now(),
                        output: VecDeque::new(),
                    },
                );
            }
            BuildEvent::Detail { .. } => {}
            BuildEvent::Output { stage, text } => {
                if let Some(r) = st.running.get_mut(&stage) {
                    for l in text.lines() {
                        if r.output.len() == OUTPUT_LINES {
                            r.output.pop_front();
                        }
                        r.output.push_back(l.to_string());
                    }
                }
            }
            BuildEvent::StepDone { stage, cached } => {
                if let Some(r) = st.running.remove(&stage) {
                    st.done += 1;
                    self.clear(stage);
                    self.live.print(&if cached {
                        format!(" => CACHED {}", r.header)
                    } else {
                        format!(" => {}  {}", r.header, seconds(r.started.elapsed()))
                    });
                }
            }
            BuildEvent::StageDone { stage } => {
                st.concurrent.remove(&stage);
                self.clear(stage);
            }
        }
        self.draw(&st);
    }

    /// Takes a stage's lines out of the region.
    fn clear(&self, stage: usize) {
        self.live.remove(&format!("{stage:06}"));
        for i in 0..OUTPUT_LINES {
            self.live.remove(&format!("{stage:06}-{i}"));
        }
    }

    fn draw(&self, st: &TtyState) {
        let total = if st.total > 0 {
            st.total.to_string()
        } else {
            "?".to_string()
        };
        self.live.set_progress(
            "",
            "[+] Building",
            &format!(
                "{} ({}/{total} steps)",
                seconds(self.start.elapsed()),
                st.done
            ),
        );
        let cols = self.live.width();
        for (stage, r) in &st.running {
            // The clock at the end of the row: the header gives way to it.
            let clock = seconds(r.started.elapsed());
            let room = cols.saturating_sub(clock.len() + 1);
            let mut header: String = format!(" => {}", r.header).chars().take(room).collect();
            if header.chars().count() == room {
                header.pop();
                header.push('…');
            }
            self.live
                .set_progress(&format!("{stage:06}"), &header, &clock);
            // Output rows change as fast as a step prints: as progress, not state, so they
            // are drawn at most every INTERVAL (by the clock, or the next state change).
            for (i, l) in r.output.iter().enumerate() {
                self.live
                    .set_progress(&format!("{stage:06}-{i}"), "    |", l);
            }
        }
    }

    fn redraw(&self) {
        let st = self.lock();
        self.draw(&st);
    }

    /// The region's last frame: the running steps go, the clock stays.
    fn finish(&self, ok: bool) {
        let st = self.lock();
        for stage in st.running.keys() {
            self.clear(*stage);
        }
        self.live.set_progress(
            "",
            if ok {
                "[+] Built in"
            } else {
                "[+] Failed after"
            },
            &format!(
                "{} ({}/{} steps)",
                seconds(self.start.elapsed()),
                st.done,
                st.total
            ),
        );
        self.live.finish();
    }
}

fn seconds(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

pub fn prune(engine: &Engine, a: BuilderPruneArgs) -> anyhow::Result<()> {
    if !a.force && !super::confirm("WARNING! This will remove all dangling build cache.")? {
        return Ok(());
    }
    let freed = engine.prune_build_cache()?;
    write_out(&format!("Total reclaimed space: {}\n", human_size(freed)))
}
