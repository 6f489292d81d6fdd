//! `berth init`: the flags, and the lines it prints. What to write, and why, is decided by
//! berth-init; this file only maps the flags to its options and shows its report.

use std::io::Write;
use std::path::{Path, PathBuf};

use berth_init::{Options, Plan};

// Arguments of `berth init`. (Not a doc comment: clap would make it the command's about.)
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

impl From<InitArgs> for Options {
    fn from(a: InitArgs) -> Self {
        Options {
            force: a.force,
            python: a.python,
            port: a.port,
            dir: a.dir,
        }
    }
}

pub fn run(args: InitArgs) -> anyhow::Result<()> {
    run_to(args, &mut std::io::stdout().lock())
}

/// [`run`], printing to `out`. Nothing is printed when nothing is written.
fn run_to(args: InitArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let opts = Options::from(args);
    let plan = berth_init::prepare(&opts)?;
    berth_init::write(&plan, &opts)?;
    for line in &plan.report {
        writeln!(out, "{line}")?;
    }
    let names: Vec<&str> = plan.files.iter().map(|(n, _)| *n).collect();
    writeln!(out, "wrote {}", names.join(", "))?;
    if let Some(next) = next_steps(&opts.dir, &plan) {
        writeln!(out, "{next}")?;
    }
    Ok(())
}

/// `next: berth build -t website . && berth run -d -p 8501:8501 website`, the image named
/// after the project directory.
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
    // A repository name starts and ends with a letter or digit.
    let name = name.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    let name = if name.is_empty() { "app" } else { name };
    let port = plan
        .port
        .map(|p| format!("-p {p}:{p} "))
        .unwrap_or_default();
    Some(format!(
        "next: berth build -t {name} {} && berth run -d {port}{name}",
        dir.display()
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn args(dir: &Path, force: bool) -> InitArgs {
        InitArgs {
            force,
            python: Some("3.11".into()),
            port: None,
            dir: dir.to_path_buf(),
        }
    }

    #[test]
    fn prints_the_report_what_it_wrote_and_what_next() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("My Site!");
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::write(dir.join("src/app.py"), "import streamlit as st\n").unwrap();
        std::fs::write(dir.join("requirements.txt"), "streamlit\n").unwrap();

        let mut out = Vec::new();
        run_to(args(&dir, false), &mut out).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert_eq!(
            out,
            format!(
                "entry point: src/app.py (imports streamlit)\n\
                 python: 3.11 (from --python)\n\
                 port: 8501 (Streamlit's default)\n\
                 requirements.txt: kept the existing file (--force rewrites it from the imports)\n\
                 command: exec streamlit run src/app.py --server.port $PORT --server.address 0.0.0.0\n\
                 wrote Dockerfile, .dockerignore\n\
                 next: berth build -t my-site {} && berth run -d -p 8501:8501 my-site\n",
                dir.display()
            )
        );

        // A second run refuses, and prints nothing.
        let mut out = Vec::new();
        let err = run_to(args(&dir, false), &mut out).unwrap_err();
        assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));
        assert!(err.to_string().ends_with("(--force overwrites)"), "{err}");
    }

    #[test]
    fn a_script_publishes_no_port() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("main.py"), "import json\n").unwrap();
        let mut out = Vec::new();
        run_to(args(tmp.path(), true), &mut out).unwrap();
        let out = String::from_utf8(out).unwrap();
        let next = out.lines().last().unwrap();
        assert!(next.starts_with("next: berth build -t "), "{out}");
        assert!(next.contains(" && berth run -d "), "{out}");
        assert!(!next.contains("-p "), "{out}");
    }
}
