//! Reading the project directory, the host's `python3` and its installed distributions.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::requirements::{normalize, parse_metadata, provided_imports, Installed};
use super::{InitError, Project, SourceFile, REQUIREMENTS};

/// Directories that never hold the app's own code.
const SKIPPED_DIRS: &[&str] = &[
    "__pycache__",
    "build",
    "dist",
    "node_modules",
    "site-packages",
    "venv",
];

/// At most this many `.py` files are read, and none larger than [`MAX_FILE`].
const MAX_FILES: usize = 5000;
const MAX_FILE: u64 = 2 << 20;

/// The project's `.py` files (see [`Project::files`]), the files that tell its Python version
/// and requirements, and a virtual environment at its root.
pub fn read_project(dir: &Path) -> Result<Project, InitError> {
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).ok();
    let mut project = Project {
        python_version: read(".python-version"),
        pyproject: read("pyproject.toml"),
        requirements: read(REQUIREMENTS),
        streamlit_config: read(".streamlit/config.toml"),
        ..Default::default()
    };
    project.venv = find_venv(dir);
    walk(dir, "", &mut project.files)?;
    project.files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(project)
}

fn walk(dir: &Path, rel: &str, files: &mut Vec<SourceFile>) -> Result<(), InitError> {
    let reading = |path: &Path| {
        let path = path.to_path_buf();
        move |source| InitError::Read { path, source }
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .and_then(|rd| rd.collect::<Result<_, _>>())
        .map_err(reading(dir))?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let Some(name) = e.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let path = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        // Not followed: symbolic links (they may leave the project).
        let kind = e.file_type().map_err(reading(&e.path()))?;
        if kind.is_dir() {
            let skipped = name.starts_with('.')
                || SKIPPED_DIRS.contains(&name.as_str())
                || name.ends_with(".egg-info")
                || e.path().join("pyvenv.cfg").exists();
            if !skipped {
                walk(&e.path(), &path, files)?;
            }
        } else if kind.is_file() && name.ends_with(".py") && files.len() < MAX_FILES {
            if e.metadata().map(|m| m.len() > MAX_FILE).unwrap_or(true) {
                continue;
            }
            let bytes = std::fs::read(e.path()).map_err(reading(&e.path()))?;
            files.push(SourceFile {
                path,
                text: String::from_utf8_lossy(&bytes).into_owned(),
            });
        }
    }
    Ok(())
}

/// A virtual environment at the project's root (`.venv` and `venv` first): its name, its
/// `pyvenv.cfg` and its `lib/python*/site-packages`.
fn find_venv(dir: &Path) -> Option<(String, String, Vec<PathBuf>)> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    names.sort_by_key(|n| (n != ".venv", n != "venv", n.clone()));
    names.into_iter().find_map(|name| {
        let root = dir.join(&name);
        let cfg = std::fs::read_to_string(root.join("pyvenv.cfg")).ok()?;
        let mut sites: Vec<PathBuf> = std::fs::read_dir(root.join("lib"))
            .map(|rd| {
                rd.filter_map(|e| Some(e.ok()?.path().join("site-packages")))
                    .filter(|p| p.is_dir())
                    .collect()
            })
            .unwrap_or_default();
        sites.sort();
        Some((name, cfg, sites))
    })
}

/// The distributions installed in `sites` (`*.dist-info` and `*.egg-info`), the first of each
/// name winning, as Python's own search order would have it.
pub fn installed_distributions(sites: &[PathBuf]) -> Vec<Installed> {
    let mut seen_dirs = HashSet::new();
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for site in sites {
        if !seen_dirs.insert(site.clone()) {
            continue;
        }
        let Ok(rd) = std::fs::read_dir(site) else {
            continue;
        };
        let mut dirs: Vec<PathBuf> = rd.filter_map(|e| Some(e.ok()?.path())).collect();
        dirs.sort();
        for d in dirs {
            let Some(name) = d.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let metadata = if name.ends_with(".dist-info") {
                "METADATA"
            } else if name.ends_with(".egg-info") {
                "PKG-INFO"
            } else {
                continue;
            };
            let read = |f: &str| std::fs::read_to_string(d.join(f)).ok();
            let Some((name, version)) = read(metadata).as_deref().and_then(parse_metadata) else {
                continue;
            };
            if !seen.insert(normalize(&name)) {
                continue;
            }
            let imports =
                provided_imports(read("RECORD").as_deref(), read("top_level.txt").as_deref());
            out.push(Installed {
                name,
                version,
                imports,
            });
        }
    }
    out
}

/// Where the project's Python looks for distributions: the site-packages of its virtual
/// environment, then those of the host's `python3` run in `dir`.
pub fn site_packages(dir: &Path, project: &Project) -> Vec<PathBuf> {
    let mut sites: Vec<PathBuf> = project.venv.iter().flat_map(|v| v.2.clone()).collect();
    let script =
        "import site; print('\\n'.join(site.getsitepackages() + [site.getusersitepackages()]))";
    if let Some(out) = python3(dir, &["-c", script]) {
        sites.extend(out.lines().map(PathBuf::from));
    }
    sites
}

/// Runs the host's `python3` in the project directory (so pyenv honours its
/// `.python-version`); its standard output, or `None` when it cannot run.
pub fn python3(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("python3")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}
