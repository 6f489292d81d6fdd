//! `berth init`: a Dockerfile, `.dockerignore` and `requirements.txt` for a Python app,
//! decided from the project itself. The analysis is pure (functions of file contents, in the
//! submodules and [`plan`]); this file reads the project and the host, then writes.

mod dockerfile;
mod entry;
mod python;
mod requirements;
mod scan;
mod source;
mod stdlib;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

use entry::Framework;
use requirements::Installed;
use scan::{installed_distributions, read_project};

/// Arguments of `berth init`.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Overwrite an existing Dockerfile, .dockerignore and requirements.txt
    #[arg(long)]
    pub force: bool,
    /// Python version of the base image [default: from .python-version, pyproject.toml or
    /// python3 -V]
    #[arg(long, value_name = "VERSION")]
    pub python: Option<String>,
    /// Port the app listens on [default: the framework's]
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,
    /// The project directory
    #[arg(value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
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
    pub report: Vec<String>,
    pub files: Vec<(&'static str, String)>,
}

const REQUIREMENTS: &str = "requirements.txt";

pub fn run(args: InitArgs) -> anyhow::Result<()> {
    run_to(args, &mut std::io::stdout().lock())
}

/// [`run`], printing to `out`.
fn run_to(args: InitArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let dir = &args.dir;
    if !dir.is_dir() {
        anyhow::bail!("{}: not a directory", dir.display());
    }
    let project = read_project(dir)?;
    let host = python3(dir, &["-V"]);
    let regenerate = args.force || project.requirements.is_none();
    let installed = if regenerate {
        let mut sites: Vec<PathBuf> = project.venv.iter().flat_map(|v| v.2.clone()).collect();
        let script =
            "import site; print('\\n'.join(site.getsitepackages() + [site.getusersitepackages()]))";
        sites.extend(
            python3(dir, &["-c", script])
                .iter()
                .flat_map(|o| o.lines().map(PathBuf::from).collect::<Vec<_>>()),
        );
        installed_distributions(&sites)
    } else {
        Vec::new()
    };
    let plan = plan(&project, host.as_deref(), &installed, &args)?;

    let existing: Vec<&str> = plan
        .files
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| dir.join(name).symlink_metadata().is_ok())
        .collect();
    if !args.force && !existing.is_empty() {
        let verb = if existing.len() == 1 {
            "exists"
        } else {
            "exist"
        };
        anyhow::bail!(
            "{} already {verb} in {}: nothing written (--force overwrites)",
            existing.join(", "),
            dir.display()
        );
    }
    for line in &plan.report {
        writeln!(out, "{line}")?;
    }
    for (name, text) in &plan.files {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    let names: Vec<&str> = plan.files.iter().map(|(n, _)| *n).collect();
    writeln!(out, "wrote {}", names.join(", "))?;
    if let Some(next) = next_steps(dir, &plan) {
        writeln!(out, "{next}")?;
    }
    Ok(())
}

/// Decides everything from the project's files, `python3 -V`'s output and the distributions
/// installed on the host.
pub fn plan(
    project: &Project,
    host_python: Option<&str>,
    installed: &[Installed],
    args: &InitArgs,
) -> anyhow::Result<Plan> {
    let has_file = |p: &str| project.files.iter().any(|f| f.path == p);
    let Some(entry) = entry::detect(&project.files, has_file) else {
        anyhow::bail!(
            "no Python files in {}: berth init sets up Python apps",
            args.dir.display()
        );
    };
    let mut report = vec![format!("entry point: {} ({})", entry.path, entry.reason)];
    for (path, framework) in &entry.others {
        report.push(format!(
            "  also a {} app: {path} (not used)",
            framework.name()
        ));
    }
    let version = python::decide(python::Inputs {
        flag: args.python.as_deref(),
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
        args.port,
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
    let requirements_text = match (&project.requirements, args.force) {
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
    let text = dockerfile::dockerfile(&dockerfile::Spec {
        python: &version.version,
        entry: &entry,
        port: port.as_ref().map(|(p, _)| *p),
        cmd: &cmd,
    });
    files.insert(0, ("Dockerfile", text));
    files.insert(1, (".dockerignore", dockerfile::DOCKERIGNORE.to_string()));
    Ok(Plan { report, files })
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

/// `next: berth build -t website . && berth run -d -p 8501:8501 website`.
fn next_steps(dir: &Path, plan: &Plan) -> Option<String> {
    let name = std::fs::canonicalize(dir)
        .ok()?
        .file_name()?
        .to_str()?
        .to_lowercase();
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let name = name.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    let name = if name.is_empty() { "app" } else { name };
    let port = plan
        .files
        .iter()
        .find(|(n, _)| *n == "Dockerfile")?
        .1
        .lines()
        .find_map(|l| l.strip_prefix("EXPOSE "))
        .map(|p| format!("-p {p}:{p} "))
        .unwrap_or_default();
    Some(format!(
        "next: berth build -t {name} {} && berth run -d {port}{name}",
        dir.display()
    ))
}

/// Runs the host's `python3` in the project directory (so pyenv honours its
/// `.python-version`); its standard output, or `None` when it cannot run.
fn python3(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("python3")
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

#[cfg(test)]
mod tests;
