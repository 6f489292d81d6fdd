//! `berth build` and `berth builder prune`.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Mutex;

use anyhow::Context;
use berth_engine::build::{BuildEvent, BuildOptions};
use berth_engine::{Engine, EngineError};

use crate::cli::{BuildArgs, BuilderPruneArgs};
use crate::output::write_out;
use crate::units::human_size;
use crate::Exit;

pub fn run(engine: &mut Engine, a: BuildArgs) -> anyhow::Result<()> {
    if let Some(p) = a.platform.as_deref().filter(|p| !p.starts_with("linux")) {
        anyhow::bail!("--platform {p}: berth builds linux images");
    }
    if !matches!(a.progress.as_str(), "auto" | "plain" | "tty") {
        anyhow::bail!(
            "invalid --progress {:?}: use auto, plain or tty",
            a.progress
        );
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
    // A context on standard input: a tar, unpacked into a private directory first.
    let stdin_context;
    let context = if a.path == "-" {
        stdin_context = tempfile::tempdir().context("build: temporary context")?;
        berth_image::layer::unpack(
            std::io::stdin().lock(),
            stdin_context.path(),
            &berth_image::layer::UnpackOptions {
                allow_devices: false,
                same_owner: false,
            },
        )
        .context("build: the context on standard input is not a valid tar archive")?;
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
        labels: crate::parse::labels(&a.label),
        no_cache: a.no_cache,
        network,
        source_date_epoch,
    };
    let quiet = a.quiet;
    let plain = Plain::default();
    let events = |e: BuildEvent<'_>| {
        if !quiet {
            plain.event(e);
        }
    };
    match engine.build(&opts, &events) {
        Ok(id) => {
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

pub fn prune(engine: &mut Engine, a: BuilderPruneArgs) -> anyhow::Result<()> {
    if !a.force && !super::confirm("WARNING! This will remove all dangling build cache.")? {
        return Ok(());
    }
    let freed = engine.prune_build_cache()?;
    write_out(&format!("Total reclaimed space: {}\n", human_size(freed)))
}
