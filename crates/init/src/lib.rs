//! berth-init: a Dockerfile, `.dockerignore` and `requirements.txt` for a Python app, decided
//! from the project itself — `berth init`'s core.
//!
//! The analysis is pure: [`plan`] and the modules behind it are functions of file contents
//! (the `.py` files, `pyproject.toml`, `.python-version`, a virtual environment's
//! `pyvenv.cfg`, `python3 -V`'s output, the installed distributions' metadata), so it is
//! table-tested without a disk. The edges are few and named: [`read_project`] and
//! [`installed_distributions`] read files, [`prepare`] also asks the host's `python3`, and
//! [`write`] writes the plan, refusing to overwrite unless forced.
//!
//! It must not print, prompt or exit: what to tell the user is in [`Plan::report`], and the
//! command line decides how to show it. It must not depend on the engine: init builds nothing
//! and runs no container.
//!
//! ```
//! use berth_init::{plan, Options, Project, SourceFile};
//!
//! let project = Project {
//!     files: vec![SourceFile {
//!         path: "app.py".into(),
//!         text: "import streamlit as st\nst.title('hello')\n".into(),
//!     }],
//!     ..Default::default()
//! };
//! let plan = plan(&project, Some("Python 3.11.7"), &[], &Options::default())?;
//! assert_eq!(plan.report[1], "python: 3.11 (from python3 -V)");
//! assert_eq!(plan.port, Some(8501));
//! let names: Vec<&str> = plan.files.iter().map(|(name, _)| *name).collect();
//! assert_eq!(names, ["Dockerfile", ".dockerignore", "requirements.txt"]);
//! # Ok::<(), berth_init::InitError>(())
//! ```

mod dockerfile;
mod entry;
mod python;
mod requirements;
mod scan;
mod source;
mod stdlib;

use std::path::PathBuf;

use entry::Framework;
pub use requirements::Installed;
pub use scan::{installed_distributions, read_project};

/// What `berth init` was asked for.
#[derive(Debug, Clone)]
pub struct Options {
    /// Overwrite an existing Dockerfile and `.dockerignore`, and rewrite `requirements.txt`
    /// from the imports.
    pub force: bool,
    /// The base image's Python version (`3.11`, `3.11.7`); `None` decides it from the project.
    pub python: Option<String>,
    /// The port the app listens on; `None` takes the framework's.
    pub port: Option<u16>,
    /// The project directory.
    pub dir: PathBuf,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            force: false,
            python: None,
            port: None,
            dir: PathBuf::from("."),
        }
    }
}

/// Why `berth init` decided or wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("{}: not a directory", .0.display())]
    NotADirectory(PathBuf),
    #[error("no Python files in {}: berth init sets up Python apps", .0.display())]
    NoPythonFiles(PathBuf),
    #[error("--python {0:?}: expected a version such as 3.11 or 3.11.7")]
    PythonVersion(String),
    /// Nothing was written: `names` are the plan's files already present in `dir`.
    #[error(
        "{} already {} in {}: nothing written (--force overwrites)",
        .names.join(", "),
        exist(.names),
        .dir.display()
    )]
    Exists {
        names: Vec<&'static str>,
        dir: PathBuf,
    },
    #[error("reading {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("writing {}: {source}", .path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A `.py` file of the project: its path relative to the project (`/`-separated) and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    pub path: String,
    pub text: String,
}

/// What the analysis reads from the project directory.
#[derive(Debug, Default)]
pub struct Project {
    /// Sorted by path; virtual environments, caches and build directories left out.
    pub files: Vec<SourceFile>,
    pub python_version: Option<String>,
    pub pyproject: Option<String>,
    pub requirements: Option<String>,
    pub streamlit_config: Option<String>,
    /// A virtual environment at the project's root: its directory name, `pyvenv.cfg` and
    /// site-packages directories.
    pub venv: Option<(String, String, Vec<PathBuf>)>,
}

/// What `berth init` decided: the lines to print and the files to write.
#[derive(Debug)]
pub struct Plan {
    /// One line per decision and the reason for it, for the user to read.
    pub report: Vec<String>,
    /// File names in the project directory and their contents, the Dockerfile first.
    pub files: Vec<(&'static str, String)>,
    /// The port the image exposes, if the app listens on one.
    pub port: Option<u16>,
}

const REQUIREMENTS: &str = "requirements.txt";

/// Reads the project in `opts.dir` and the host's Python, and decides the [`Plan`].
pub fn prepare(opts: &Options) -> Result<Plan, InitError> {
    let dir = &opts.dir;
    if !dir.is_dir() {
        return Err(InitError::NotADirectory(dir.clone()));
    }
    let project = read_project(dir)?;
    let host = scan::python3(dir, &["-V"]);
    // The installed versions only pin a requirements.txt that is (re)written.
    let installed = if opts.force || project.requirements.is_none() {
        installed_distributions(&scan::site_packages(dir, &project))
    } else {
        Vec::new()
    };
    plan(&project, host.as_deref(), &installed, opts)
}

/// Writes the plan's files into `opts.dir`. Without `opts.force`, writes none of them when
/// any already exists (a symbolic link counts, even a dangling one).
pub fn write(plan: &Plan, opts: &Options) -> Result<(), InitError> {
    let dir = &opts.dir;
    let existing: Vec<&'static str> = plan
        .files
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| dir.join(name).symlink_metadata().is_ok())
        .collect();
    if !opts.force && !existing.is_empty() {
        return Err(InitError::Exists {
            names: existing,
            dir: dir.clone(),
        });
    }
    for (name, text) in &plan.files {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|source| InitError::Write { path, source })?;
    }
    Ok(())
}

/// Decides everything from the project's files, `python3 -V`'s output and the distributions
/// installed on the host.
pub fn plan(
    project: &Project,
    host_python: Option<&str>,
    installed: &[Installed],
    opts: &Options,
) -> Result<Plan, InitError> {
    let has_file = |p: &str| project.files.iter().any(|f| f.path == p);
    let Some(entry) = entry::detect(&project.files, has_file) else {
        return Err(InitError::NoPythonFiles(opts.dir.clone()));
    };
    let mut report = vec![format!("entry point: {} ({})", entry.path, entry.reason)];
    for (path, framework) in &entry.others {
        report.push(format!(
            "  also a {} app: {path} (not used)",
            framework.name()
        ));
    }
    let version = python::decide(python::Inputs {
        flag: opts.python.as_deref(),
        python_version_file: project.python_version.as_deref(),
        pyproject: project.pyproject.as_deref(),
        venv: project
            .venv
            .as_ref()
            .map(|(d, cfg, _)| (d.as_str(), cfg.as_str())),
        host: host_python,
    })?;
    report.push(format!("python: {} ({})", version.version, version.reason));
    let entry_source = project
        .files
        .iter()
        .find(|f| f.path == entry.path)
        .map_or("", |f| f.text.as_str());
    let port = entry::port(
        &entry,
        entry_source,
        project.streamlit_config.as_deref(),
        opts.port,
    );
    match &port {
        Some((p, why)) => report.push(format!("port: {p} ({why})")),
        None => report.push("port: none (a script; --port gives it one)".into()),
    }

    // The program the CMD runs must be installed by requirements.txt.
    let server = match entry.framework {
        Framework::Streamlit => Some("streamlit"),
        Framework::FastApi => Some("uvicorn"),
        Framework::Flask => Some("flask"),
        Framework::Script => None,
    };
    let mut files = Vec::new();
    let requirements_text = match (&project.requirements, opts.force) {
        (Some(existing), false) => {
            report.push(format!(
                "{REQUIREMENTS}: kept the existing file (--force rewrites it from the imports)"
            ));
            existing.clone()
        }
        _ => {
            let mut imports = requirements::third_party_imports(&project.files);
            // Not imported, but the image's command runs it.
            let added = server.filter(|s| !imports.iter().any(|m| source::top(m) == *s));
            if let Some(s) = added {
                imports.insert(s.to_string());
            }
            let reqs = requirements::resolve(&imports, installed);
            report.push(format!("{REQUIREMENTS}: {}", describe(&reqs, added)));
            let text = requirements::render(&reqs);
            files.push((REQUIREMENTS, text.clone()));
            text
        }
    };
    let gunicorn =
        entry.framework == Framework::Flask && requirements::lists(&requirements_text, "gunicorn");
    let server = if gunicorn { Some("gunicorn") } else { server };
    if let Some(s) = server.filter(|s| !requirements::lists(&requirements_text, s)) {
        report.push(format!(
            "warning: {REQUIREMENTS} does not list {s}, which the image's command runs"
        ));
    }
    let cmd = dockerfile::command(&entry, gunicorn);
    report.push(format!("command: {}", cmd.display()));
    let port = port.map(|(p, _)| p);
    let text = dockerfile::dockerfile(&dockerfile::Spec {
        python: &version.version,
        entry: &entry,
        port,
        cmd: &cmd,
    });
    files.insert(0, ("Dockerfile", text));
    files.insert(1, (".dockerignore", dockerfile::DOCKERIGNORE.to_string()));
    Ok(Plan {
        report,
        files,
        port,
    })
}

/// `streamlit==1.31.0 (installed), scikit-learn (imported as sklearn; not installed here)`.
/// `server`: a requirement added because the command runs it.
fn describe(reqs: &[requirements::Requirement], server: Option<&str>) -> String {
    if reqs.is_empty() {
        return "nothing to install (only the standard library and local modules)".into();
    }
    let parts: Vec<String> = reqs
        .iter()
        .map(|r| {
            let as_names: Vec<&str> = r
                .imported_as
                .iter()
                .map(String::as_str)
                .filter(|i| requirements::normalize(i) != requirements::normalize(&r.dist))
                .collect();
            let imported = if server.is_some_and(|s| r.imported_as.contains(s)) {
                "runs the app; ".to_string()
            } else if as_names.is_empty() {
                String::new()
            } else {
                format!("imported as {}; ", as_names.join(", "))
            };
            match &r.version {
                Some(v) => format!("{}=={v} ({imported}installed)", r.dist),
                None => format!("{} ({imported}not installed here)", r.dist),
            }
        })
        .collect();
    parts.join(", ")
}

/// The verb for [`InitError::Exists`]: "Dockerfile exists", "Dockerfile, .dockerignore exist".
fn exist(names: &[&str]) -> &'static str {
    if names.len() == 1 {
        "exists"
    } else {
        "exist"
    }
}

#[cfg(test)]
mod tests;
