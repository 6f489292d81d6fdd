//! `berth build` and `berth builder prune`.

use std::io::Write;

use anyhow::Context;
use berth_engine::build::BuildOptions;
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
    let stdout = std::io::stdout();
    let mut print = |line: &str| {
        if !quiet {
            let mut out = stdout.lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    };
    match engine.build(&opts, &mut print) {
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

pub fn prune(engine: &mut Engine, a: BuilderPruneArgs) -> anyhow::Result<()> {
    if !a.force && !super::confirm("WARNING! This will remove all dangling build cache.")? {
        return Ok(());
    }
    let freed = engine.prune_build_cache()?;
    write_out(&format!("Total reclaimed space: {}\n", human_size(freed)))
}
