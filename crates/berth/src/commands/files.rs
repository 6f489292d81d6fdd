//! `commit`, `cp`, `diff`, `export`, `pause`/`unpause`, `top`, `stats`.

use berth_store::ContainerState;
use std::io::{IsTerminal, Write};
use std::path::Path;

use anyhow::Context;
use berth_engine::container::CommitOptions;
use berth_engine::Engine;
use serde_json::json;

use crate::cli::{CommitArgs, CpArgs, ExportArgs, NamesArgs, OneContainer, StatsArgs, TopArgs};
use crate::output::{print_list, write_out};
use crate::units::human_size;

pub fn commit(engine: &Engine, a: CommitArgs) -> anyhow::Result<()> {
    let rec = engine.reconciled(&a.container)?;
    let paused = a.pause
        && rec.state == ContainerState::Running
        && engine.pause_container(&rec.id, true).is_ok();
    let result = engine.commit_container(
        &rec.id,
        &CommitOptions {
            reference: a.reference.clone(),
            changes: a.change.clone(),
            message: a.message.clone(),
            author: a.author.clone(),
            record_container: true,
            ..Default::default()
        },
    );
    if paused {
        let _ = engine.pause_container(&rec.id, false);
    }
    write_out(&format!("{}\n", result?))
}

/// `NAME:PATH` → (container, path); a local path (or `-`) → None.
fn split_container(arg: &str) -> Option<(&str, &str)> {
    if arg.starts_with('/') || arg.starts_with('.') || arg == "-" {
        return None;
    }
    arg.split_once(':')
        .filter(|(c, _)| !c.is_empty() && !c.contains('/'))
}

pub fn cp(engine: &Engine, a: CpArgs) -> anyhow::Result<()> {
    match (split_container(&a.src), split_container(&a.dest)) {
        (Some(_), Some(_)) => anyhow::bail!("copying between containers is not supported"),
        (None, None) => anyhow::bail!("must specify at least one container source"),
        (Some((c, src)), None) => {
            if a.dest == "-" {
                let stdout = std::io::stdout();
                if stdout.is_terminal() {
                    anyhow::bail!("cowardly refusing to write a tar archive to a terminal");
                }
                let mut w = std::io::BufWriter::new(stdout.lock());
                engine.copy_from_container(c, src, &mut w)?;
                w.flush()?;
                return Ok(());
            }
            // Into a tar in memory-bounded pieces: through a temp file, then extract.
            let mut tmp = tempfile::tempfile().context("cp: temporary file")?;
            engine.copy_from_container(c, src, &mut tmp)?;
            std::io::Seek::rewind(&mut tmp)?;
            extract_on_host(tmp, src, Path::new(&a.dest))
        }
        (None, Some((c, dest))) => {
            let tar: Box<dyn std::io::Read> = if a.src == "-" {
                Box::new(std::io::stdin().lock())
            } else {
                let src = Path::new(&a.src);
                let meta = std::fs::symlink_metadata(src)
                    .with_context(|| format!("cp: {}", src.display()))?;
                // docker cp: into an existing directory keeps the source's name; otherwise
                // the destination names the copy.
                let into_dir = engine.container_path_is_dir(c, dest)?;
                if !into_dir && (dest.ends_with('/') || dest.ends_with("/.")) {
                    // docker cp: a destination that says "directory" must be one.
                    anyhow::bail!("cp: destination directory {c}:{dest} does not exist");
                }
                let (dir, name) = if into_dir {
                    (dest.to_string(), file_name(&a.src))
                } else {
                    let p = Path::new(dest);
                    (
                        p.parent()
                            .map_or_else(|| "/".into(), |d| d.display().to_string()),
                        p.file_name().map_or_else(
                            || file_name(&a.src),
                            |n| n.to_string_lossy().into_owned(),
                        ),
                    )
                };
                let mut b = tar::Builder::new(Vec::new());
                b.follow_symlinks(a.follow_link);
                if meta.is_dir() {
                    b.append_dir_all(&name, src)?;
                } else {
                    b.append_path_with_name(src, &name)?;
                }
                let mut bytes = b.into_inner()?;
                if !a.archive {
                    bytes = owned_by_root(&bytes)?;
                }
                return Ok(engine.copy_to_container(c, &dir, &bytes[..])?);
            };
            engine.copy_to_container(c, dest, tar)?;
            Ok(())
        }
    }
}

fn file_name(p: &str) -> String {
    Path::new(p.trim_end_matches('/'))
        .file_name()
        .map_or_else(|| ".".into(), |n| n.to_string_lossy().into_owned())
}

/// docker cp gives copied files to root unless -a.
fn owned_by_root(tar_bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = tar::Builder::new(Vec::new());
    let mut ar = tar::Archive::new(tar_bytes);
    for e in ar.entries()? {
        let mut e = e?;
        let mut h = e.header().clone();
        h.set_uid(0);
        h.set_gid(0);
        let path = e.path()?.into_owned();
        if let Some(link) = e.link_name()? {
            let link = link.into_owned();
            out.append_link(&mut h, &path, link)?;
        } else {
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data)?;
            out.append_data(&mut h, &path, &data[..])?;
        }
    }
    Ok(out.into_inner()?)
}

/// Extracts the single-rooted tar of `src` to `dest` with docker cp's naming rules.
fn extract_on_host(tar_file: std::fs::File, src: &str, dest: &Path) -> anyhow::Result<()> {
    let (dir, rename) = if dest.is_dir() {
        (dest.to_path_buf(), None)
    } else {
        let parent = dest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !parent.is_dir() {
            anyhow::bail!(
                "cp: destination directory {} does not exist",
                parent.display()
            );
        }
        (
            parent.to_path_buf(),
            dest.file_name().map(|n| n.to_string_lossy().into_owned()),
        )
    };
    let name = file_name(src);
    let base = dir
        .canonicalize()
        .with_context(|| format!("cp: {}", dir.display()))?;
    let mut ar = tar::Archive::new(tar_file);
    ar.set_preserve_permissions(true);
    ar.set_overwrite(true);
    for e in ar.entries()? {
        let mut e = e?;
        let path = e.path()?.into_owned();
        let rel = renamed(&path, &name, rename.as_deref())?;
        let target = dir.join(&rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
            inside(&base, parent, &path)?;
        }
        if e.header().entry_type().is_hard_link() {
            // Relative to the archive's root, as our own walk wrote it: tar's unpack would
            // take it relative to our working directory.
            let Some(link) = e.link_name()? else {
                anyhow::bail!("cp: the archive entry {} links nothing", path.display());
            };
            let src = dir.join(renamed(&link, &name, rename.as_deref())?);
            if let Some(parent) = src.parent() {
                inside(&base, parent, &path)?;
            }
            if std::fs::symlink_metadata(&target).is_ok_and(|m| !m.is_dir()) {
                std::fs::remove_file(&target)?;
            }
            std::fs::hard_link(&src, &target)
                .map_err(|err| anyhow::anyhow!("cp: {}: {err}", rel.display()))?;
            continue;
        }
        e.unpack(&target)
            .map_err(|err| anyhow::anyhow!("cp: {}: {err}", rel.display()))?;
    }
    Ok(())
}

/// An archive path below the destination: the copy's own name (its first component)
/// replaced by `rename`; only plain components.
fn renamed(path: &Path, name: &str, rename: Option<&str>) -> anyhow::Result<std::path::PathBuf> {
    let rel = match (rename, path.strip_prefix(name)) {
        (Some(new), Ok(rest)) if rest.as_os_str().is_empty() => Path::new(new).to_path_buf(),
        (Some(new), Ok(rest)) => Path::new(new).join(rest),
        _ => path.to_path_buf(),
    };
    if rel
        .components()
        .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        anyhow::bail!("cp: refusing the archive entry {}", path.display());
    }
    Ok(rel)
}

/// Refuses an entry whose directory, once symlinks (made by earlier entries) are resolved,
/// is not below the destination `base`.
fn inside(base: &Path, dir: &Path, entry: &Path) -> anyhow::Result<()> {
    let real = dir
        .canonicalize()
        .with_context(|| format!("cp: {}", dir.display()))?;
    if !real.starts_with(base) {
        anyhow::bail!(
            "cp: refusing the archive entry {}: it leads out of {}",
            entry.display(),
            base.display()
        );
    }
    Ok(())
}

pub fn diff(engine: &Engine, a: OneContainer) -> anyhow::Result<()> {
    let text: String = engine
        .container_diff(&a.container)?
        .iter()
        .map(|c| format!("{} {}\n", c.kind, c.path))
        .collect();
    write_out(&text)
}

pub fn export(engine: &Engine, a: ExportArgs) -> anyhow::Result<()> {
    match &a.output {
        Some(path) => {
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let mut tmp = tempfile::Builder::new()
                .prefix(".berth-export-")
                .tempfile_in(dir)?;
            {
                let mut w = std::io::BufWriter::new(tmp.as_file_mut());
                engine.export_container(&a.container, &mut w)?;
                w.flush()?;
            }
            tmp.persist(path)?;
            Ok(())
        }
        None => {
            let stdout = std::io::stdout();
            if stdout.is_terminal() {
                anyhow::bail!(
                    "cowardly refusing to save to a terminal. Use the -o flag or redirect"
                );
            }
            let mut w = std::io::BufWriter::new(stdout.lock());
            engine.export_container(&a.container, &mut w)?;
            w.flush()?;
            Ok(())
        }
    }
}

pub fn pause(engine: &Engine, a: NamesArgs, pause: bool) -> anyhow::Result<()> {
    super::for_each_name(&a.containers, |name| {
        engine.pause_container(name, pause)?;
        write_out(&format!("{name}\n"))
    })
}

pub fn top(engine: &Engine, a: TopArgs) -> anyhow::Result<()> {
    let (header, rows) = engine.top(&a.container, &a.ps_args)?;
    let mut lines = vec![header];
    lines.extend(rows);
    write_out(&berth_format::tabwrite(&lines))
}

pub fn stats(engine: &Engine, a: StatsArgs) -> anyhow::Result<()> {
    if !a.no_stream {
        anyhow::bail!("stats: only --no-stream is supported; run it again to sample again");
    }
    let names: Vec<String> = if a.containers.is_empty() {
        engine
            .containers(a.all, &Default::default())?
            .into_iter()
            .map(|c| c.record.id)
            .collect()
    } else {
        a.containers.clone()
    };
    let mut items = Vec::new();
    for n in &names {
        let s = engine.stats(n, std::time::Duration::from_millis(250))?;
        let pct = |a: u64, b: u64| {
            if b == 0 {
                0.0
            } else {
                a as f64 / b as f64 * 100.0
            }
        };
        items.push(json!({
            "Container": if a.no_trunc { s.id.clone() } else { s.id[..12].to_string() },
            "ID": if a.no_trunc { s.id.clone() } else { s.id[..12].to_string() },
            "Name": s.name,
            "CPUPerc": format!("{:.2}%", s.cpu_percent),
            "MemUsage": format!("{} / {}", iec(s.mem_usage), iec(s.mem_limit)),
            "MemPerc": format!("{:.2}%", pct(s.mem_usage, s.mem_limit)),
            "NetIO": format!("{} / {}", human_size(s.net_rx), human_size(s.net_tx)),
            "BlockIO": format!("{} / {}", human_size(s.block_read), human_size(s.block_write)),
            "PIDs": s.pids.to_string(),
        }));
    }
    print_list(
        a.format.as_deref(),
        "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}",
        &[("ID", "CONTAINER ID"), ("Container", "CONTAINER"), ("Name", "NAME"), ("CPUPerc", "CPU %"),
          ("MemUsage", "MEM USAGE / LIMIT"), ("MemPerc", "MEM %"), ("NetIO", "NET I/O"),
          ("BlockIO", "BLOCK I/O"), ("PIDs", "PIDS")],
        &items,
    )
}

/// Binary units as docker's stats shows memory ("1.5MiB / 23.4GiB").
fn iec(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    // Go's %.4g: four significant digits.
    let digits = if v < 10.0 {
        3
    } else if v < 100.0 {
        2
    } else if v < 1000.0 {
        1
    } else {
        0
    };
    let s = format!("{v:.digits$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    s + UNITS[i]
}
