//! `berth kube generate|play|down`: Kubernetes YAML from berth's pods and containers, and
//! pods from YAML. The conversion is `berth_kube`'s; the engine creates.

use std::io::Read;

use anyhow::Context;
use berth_engine::pod::kube::PlayOptions;
use berth_engine::Engine;

use super::distribution::{pull_reporting, Report};
use crate::cli::{KubeCommand, KubeDownArgs, KubeGenerateArgs, KubePlayArgs};
use crate::output::write_out;

pub fn run(engine: &Engine, cmd: KubeCommand) -> anyhow::Result<()> {
    match cmd {
        KubeCommand::Generate(a) => generate(engine, a),
        KubeCommand::Play(a) if a.down => down(engine, &a.files),
        KubeCommand::Play(a) => play(engine, a),
        KubeCommand::Down(KubeDownArgs { files }) => down(engine, &files),
    }
}

fn generate(engine: &Engine, a: KubeGenerateArgs) -> anyhow::Result<()> {
    let kind = match a.kind.as_str() {
        "pod" => berth_kube::Kind::Pod,
        "deployment" => berth_kube::Kind::Deployment,
        other => anyhow::bail!("kube generate: --type {other:?}: use pod or deployment"),
    };
    let pods = engine.kube_pods(&a.names)?;
    let yaml = berth_kube::generate(
        &pods,
        &berth_kube::GenerateOptions {
            kind,
            service: a.service,
        },
    )?;
    match &a.filename {
        Some(path) => std::fs::write(path, yaml)
            .with_context(|| format!("kube generate: write {}", path.display())),
        None => write_out(&yaml),
    }
}

/// Every file's documents, in order, read before anything is done.
fn documents(files: &[String]) -> anyhow::Result<Vec<berth_kube::Document>> {
    let mut docs = Vec::new();
    for f in files {
        let text = if f == "-" {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("kube play: read the standard input")?;
            s
        } else {
            std::fs::read_to_string(f).with_context(|| format!("kube play: read {f}"))?
        };
        docs.extend(berth_kube::parse(&text).with_context(|| format!("kube play: {f}"))?);
    }
    Ok(docs)
}

fn play(engine: &Engine, a: KubePlayArgs) -> anyhow::Result<()> {
    let plan = berth_kube::plan(documents(&a.files)?)?;
    for w in &plan.warnings {
        super::print_warning(w);
    }
    let played = engine.kube_play(
        &plan,
        PlayOptions {
            start: a.start,
            replace: a.replace,
        },
        &mut |image| {
            pull_reporting(engine, image, None, false, Report::Stderr)
                .map(drop)
                .map_err(|e| berth_engine::EngineError::InvalidArgument(format!("{e:#}")))
        },
    )?;
    let mut out = String::new();
    if !played.volumes.is_empty() {
        out.push_str("Volumes:\n");
        for v in &played.volumes {
            out.push_str(&format!("{v}\n"));
        }
    }
    out.push_str("Pods:\n");
    for (name, id) in &played.pods {
        out.push_str(&format!("{id} ({name})\n"));
    }
    write_out(&out)
}

fn down(engine: &Engine, files: &[String]) -> anyhow::Result<()> {
    let plan = berth_kube::plan(documents(files)?)?;
    let downed = engine.kube_down(&plan)?;
    let mut out = String::from("Pods stopped and removed:\n");
    for p in &downed.pods {
        out.push_str(&format!("{p}\n"));
    }
    if !downed.volumes.is_empty() {
        out.push_str("Volumes removed:\n");
        for v in &downed.volumes {
            out.push_str(&format!("{v}\n"));
        }
    }
    write_out(&out)
}
