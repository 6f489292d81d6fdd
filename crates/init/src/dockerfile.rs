//! The Dockerfile and `.dockerignore`, written to avoid the tutorial's traps: an unpinned
//! `python:3` base, a port the server does not listen on, a server bound to 127.0.0.1, root.

use super::entry::{AppObject, Entry, Framework};

/// The container's command: shell form (so `$PORT` expands) or exec form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cmd {
    Shell(String),
    Exec(Vec<String>),
}

impl Cmd {
    pub fn display(&self) -> String {
        match self {
            Cmd::Shell(s) => s.clone(),
            Cmd::Exec(v) => v.join(" "),
        }
    }
}

/// The command that serves `entry` on `$PORT` on all interfaces. `gunicorn`: whether the
/// requirements list it (Flask is then served by it rather than by its development server).
pub fn command(entry: &Entry, gunicorn: bool) -> Cmd {
    let path = sh_quote(&entry.path);
    let default = AppObject {
        app_dir: None,
        module: "app".into(),
        attr: "app".into(),
        factory: false,
    };
    let app = entry.app.as_ref().unwrap_or(&default);
    let target = |call: bool| {
        let t = format!("{}:{}", app.module, app.attr);
        if app.factory && call {
            sh_quote(&format!("{t}()"))
        } else {
            t
        }
    };
    let shell = match entry.framework {
        Framework::Script => return Cmd::Exec(vec!["python".into(), entry.path.clone()]),
        Framework::Streamlit => {
            format!("streamlit run {path} --server.port $PORT --server.address 0.0.0.0")
        }
        Framework::FastApi => {
            let mut s = format!("uvicorn {}", target(false));
            if app.factory {
                s.push_str(" --factory");
            }
            if let Some(dir) = &app.app_dir {
                s.push_str(&format!(" --app-dir {}", sh_quote(dir)));
            }
            s + " --host 0.0.0.0 --port $PORT"
        }
        Framework::Flask if gunicorn => {
            let dir = app.app_dir.as_ref();
            let pythonpath = dir.map(|d| format!("--pythonpath {} ", sh_quote(d)));
            format!(
                "gunicorn {}--bind 0.0.0.0:$PORT {}",
                pythonpath.unwrap_or_default(),
                target(true)
            )
        }
        Framework::Flask => {
            // Flask's --app takes a file path as well as a module, which spares a PYTHONPATH.
            let spec = match &app.app_dir {
                Some(_) => format!("{}:{}", entry.path, app.attr),
                None => format!("{}:{}", app.module, app.attr),
            };
            let spec = if app.factory {
                format!("{spec}()")
            } else {
                spec
            };
            format!(
                "flask --app {} run --host 0.0.0.0 --port $PORT",
                sh_quote(&spec)
            )
        }
    };
    Cmd::Shell(format!("exec {shell}"))
}

/// `s` as one shell word.
fn sh_quote(s: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// What the Dockerfile is made from.
#[derive(Debug, Clone)]
pub struct Spec<'a> {
    /// The `python:` tag's version, e.g. `3.11`.
    pub python: &'a str,
    pub entry: &'a Entry,
    pub port: Option<u16>,
    pub cmd: &'a Cmd,
}

pub fn dockerfile(s: &Spec<'_>) -> String {
    let mut out = format!(
        "# Written by `berth init` for {kind}: {entry}.\n\
         # Base image pinned to the Python version the project uses.\n\
         FROM python:{python}-slim\n\n\
         ENV PYTHONDONTWRITEBYTECODE=1 \\\n    PYTHONUNBUFFERED=1 \\\n    \
         PIP_DISABLE_PIP_VERSION_CHECK=1 \\\n    PIP_ROOT_USER_ACTION=ignore\n",
        kind = s.entry.framework.name(),
        entry = s.entry.path,
        python = s.python,
    );
    if s.entry.framework == Framework::Streamlit {
        out.push_str(
            "ENV STREAMLIT_SERVER_HEADLESS=true \\\n    \
             STREAMLIT_BROWSER_GATHER_USAGE_STATS=false\n",
        );
    }
    out.push_str(
        "\n# The app runs as this unprivileged user, not as root.\n\
         RUN useradd --create-home --uid 10001 app\n\n\
         WORKDIR /app\n\n\
         # Dependencies before the code: editing the code does not reinstall them.\n\
         COPY requirements.txt .\n\
         RUN pip install --no-cache-dir -r requirements.txt\n\n\
         COPY . .\n\n\
         USER app\n",
    );
    if let Some(port) = s.port {
        out.push_str(&format!(
            "\n# The port the app listens on: `-e PORT=...` moves it, `-p HOST:{port}` publishes it.\n\
             ENV PORT={port}\n\
             EXPOSE {port}\n"
        ));
    }
    // Streamlit has a health endpoint; for Flask and FastAPI any HTTP answer, a 404 included,
    // shows the server is up (an opener without urllib's error processor does not raise).
    let health = match s.entry.framework {
        Framework::Streamlit => Some(
            "import urllib.request; \
             urllib.request.urlopen('http://127.0.0.1:$PORT/_stcore/health', timeout=4)",
        ),
        Framework::Flask | Framework::FastApi => Some(
            "import urllib.request as u; o = u.OpenerDirector(); o.add_handler(u.HTTPHandler()); \
             o.open('http://127.0.0.1:$PORT/', timeout=4)",
        ),
        Framework::Script => None,
    };
    if let (Some(check), Some(_)) = (health, s.port) {
        out.push_str(&format!(
            "\nHEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \\\n    \
             CMD python -c \"{check}\" || exit 1\n\n\
             # Shell form so that $PORT expands; 0.0.0.0 so that connections from outside the\n\
             # container reach the server.\n"
        ));
    } else {
        out.push('\n');
    }
    match s.cmd {
        Cmd::Shell(c) => out.push_str(&format!("CMD {c}\n")),
        Cmd::Exec(v) => {
            let words: Vec<String> = v
                .iter()
                .map(|w| serde_json::Value::from(w.as_str()).to_string())
                .collect();
            out.push_str(&format!("CMD [{}]\n", words.join(", ")));
        }
    }
    out
}

/// Keeps secrets, virtual environments, caches and build artefacts out of the build context.
pub const DOCKERIGNORE: &str = "\
# Written by `berth init`: what the image does not need.
.git
.gitignore
**/__pycache__
**/*.pyc
**/*.pyo
.venv
venv
.env
Dockerfile
.dockerignore
build
dist
*.egg-info
.eggs
.pytest_cache
.mypy_cache
.ruff_cache
.tox
.coverage
htmlcov
.ipynb_checkpoints
.idea
.vscode
.DS_Store
";

#[cfg(test)]
#[path = "dockerfile_tests.rs"]
mod tests;
