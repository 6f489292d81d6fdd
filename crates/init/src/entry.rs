//! Which file starts the app, what kind of app it is, and on which port it listens.

use super::source::{self, is_identifier, logical_lines, top, Line};
use super::SourceFile;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framework {
    Streamlit,
    FastApi,
    Flask,
    Script,
}

impl Framework {
    pub fn name(self) -> &'static str {
        match self {
            Framework::Streamlit => "Streamlit",
            Framework::FastApi => "FastAPI",
            Framework::Flask => "Flask",
            Framework::Script => "a script",
        }
    }

    pub fn default_port(self) -> Option<u16> {
        match self {
            Framework::Streamlit => Some(8501),
            Framework::FastApi => Some(8000),
            Framework::Flask => Some(5000),
            Framework::Script => None,
        }
    }
}

/// How a WSGI/ASGI server finds the app object: `module:attr`, importable once `app_dir`
/// (relative to the project, when not the project itself) is on `sys.path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppObject {
    pub app_dir: Option<String>,
    pub module: String,
    pub attr: String,
    /// `attr` is a function returning the app (`def create_app(): app = Flask(__name__)`).
    pub factory: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: String,
    pub framework: Framework,
    /// Why this file, e.g. `imports streamlit`.
    pub reason: String,
    /// Flask and FastAPI only.
    pub app: Option<AppObject>,
    /// Other files that look like apps too, with their framework.
    pub others: Vec<(String, Framework)>,
}

/// File names an entry point is likely to have, most likely first.
const PREFERRED: &[&str] = &[
    "src/app.py",
    "app.py",
    "main.py",
    "streamlit_app.py",
    "src/main.py",
    "src/streamlit_app.py",
    "app/main.py",
    "src/app/main.py",
    "wsgi.py",
    "asgi.py",
    "server.py",
    "api.py",
    "run.py",
    "__main__.py",
];

fn rank(path: &str) -> (usize, usize, String) {
    let preferred = PREFERRED.iter().position(|p| *p == path);
    (
        preferred.unwrap_or(PREFERRED.len()),
        path.matches('/').count(),
        path.to_string(),
    )
}

struct Candidate<'a> {
    file: &'a SourceFile,
    framework: Framework,
    reason: String,
    object: Option<(String, bool)>,
}

fn classify(file: &SourceFile) -> Option<Candidate<'_>> {
    let imports = source::imports(&file.text);
    let imported = |name: &str| imports.iter().any(|m| top(m) == name);
    let lines = logical_lines(&file.text);
    let candidate = |framework, reason: &str, object| Candidate {
        file,
        framework,
        reason: reason.to_string(),
        object,
    };
    if imported("streamlit") {
        return Some(candidate(Framework::Streamlit, "imports streamlit", None));
    }
    if imported("fastapi") {
        if let Some(obj) = app_object(&lines, "FastAPI") {
            return Some(candidate(
                Framework::FastApi,
                "creates a FastAPI app",
                Some(obj),
            ));
        }
    }
    if imported("flask") {
        if let Some(obj) = app_object(&lines, "Flask") {
            return Some(candidate(
                Framework::Flask,
                "creates a Flask app",
                Some(obj),
            ));
        }
    }
    let main_guard = lines.iter().any(|l| {
        let t: String = l.text.split_whitespace().collect();
        t.starts_with("if__name__==\"\"") || t.starts_with("if\"\"==__name__")
    });
    main_guard.then(|| {
        candidate(
            Framework::Script,
            "has an `if __name__ == \"__main__\"` block",
            None,
        )
    })
}

/// Finds the entry point among the project's `.py` files: a Streamlit script first, then a
/// FastAPI app, a Flask app, and finally a script, preferring the usual file names and then
/// the shallowest path. `None` when there are no `.py` files.
pub fn detect(files: &[SourceFile], has_init: impl Fn(&str) -> bool) -> Option<Entry> {
    let mut found: Vec<Candidate<'_>> = files.iter().filter_map(classify).collect();
    found.sort_by_key(|c| (c.framework as u8, rank(&c.file.path)));
    let others: Vec<(String, Framework)> = found
        .iter()
        .skip(1)
        .filter(|c| c.framework != Framework::Script)
        .map(|c| (c.file.path.clone(), c.framework))
        .collect();
    let chosen = found.into_iter().next().or_else(|| {
        let file = files.iter().min_by_key(|f| rank(&f.path))?;
        let reason = if files.len() == 1 {
            "the only .py file"
        } else if PREFERRED.contains(&file.path.as_str()) {
            "the usual name for a main script"
        } else {
            "no web framework or `__main__` block found; the first script"
        };
        Some(Candidate {
            file,
            framework: Framework::Script,
            reason: reason.to_string(),
            object: None,
        })
    })?;
    let app = chosen.object.map(|(attr, factory)| {
        let (app_dir, module) = module_path(&chosen.file.path, &has_init);
        AppObject {
            app_dir,
            module,
            attr,
            factory,
        }
    });
    Some(Entry {
        path: chosen.file.path.clone(),
        framework: chosen.framework,
        reason: chosen.reason,
        app,
        others,
    })
}

/// The variable bound to `Ctor(...)` (or `module.Ctor(...)`) and whether it is bound inside a
/// factory function. A binding at module level wins; without any binding, `app`.
fn app_object(lines: &[Line], ctor: &str) -> Option<(String, bool)> {
    let mut seen = false;
    let mut factory = None;
    for (i, line) in lines.iter().enumerate() {
        let Some(lhs) = constructor_call(&line.text, ctor) else {
            continue;
        };
        seen = true;
        let Some(var) = lhs else { continue };
        if line.indent == 0 {
            return Some((var, false));
        }
        let enclosing = lines[..i].iter().rev().find(|l| l.indent < line.indent);
        let def = enclosing.and_then(|l| {
            let t = l.text.strip_prefix("async ").unwrap_or(&l.text);
            let name = t.strip_prefix("def ")?.split('(').next()?.trim();
            (l.indent == 0 && is_identifier(name)).then(|| name.to_string())
        });
        match def {
            Some(name) => factory = factory.or(Some(name)),
            // Inside an `if` or `try` at module level: still a module attribute.
            None => return Some((var, false)),
        }
    }
    factory
        .map(|f| (f, true))
        .or_else(|| seen.then(|| ("app".to_string(), false)))
}

/// Whether `text` calls `ctor(`; if so, the plain variable it is assigned to, if any.
fn constructor_call(text: &str, ctor: &str) -> Option<Option<String>> {
    let pattern = format!("{ctor}(");
    let mut from = 0;
    while let Some(pos) = text[from..].find(&pattern).map(|p| p + from) {
        from = pos + pattern.len();
        let before = &text[..pos];
        if before.ends_with(|c: char| c == '_' || c.is_alphanumeric()) {
            continue;
        }
        // `fastapi.FastAPI(` / `flask.Flask(`
        let before = match before.strip_suffix('.') {
            Some(b) => b.trim_end_matches(|c: char| c == '_' || c.is_alphanumeric()),
            None => before,
        };
        let lhs = before
            .trim_end()
            .strip_suffix('=')
            .filter(|b| !b.ends_with(|c: char| "=!<>+-*/%&|^:@".contains(c)));
        let var = lhs
            .map(|b| b.split(':').next().unwrap_or(b).trim())
            .filter(|v| is_identifier(v))
            .map(str::to_string);
        return Some(var);
    }
    None
}

/// `src/app.py` → (`src`, `app`); `pkg/api/main.py` with `pkg/__init__.py` and
/// `pkg/api/__init__.py` → (project, `pkg.api.main`): the module climbs through packages.
pub fn module_path(path: &str, has_init: impl Fn(&str) -> bool) -> (Option<String>, String) {
    let stem = path.strip_suffix(".py").unwrap_or(path);
    let mut parts: Vec<&str> = stem.split('/').collect();
    let mut module = vec![parts.pop().unwrap_or(stem)];
    if module[0] == "__init__" && !parts.is_empty() {
        module.clear();
        module.push(parts.pop().unwrap_or(stem));
    }
    while !parts.is_empty() && has_init(&format!("{}/__init__.py", parts.join("/"))) {
        module.insert(0, parts.pop().unwrap_or_default());
    }
    let dir = (!parts.is_empty()).then(|| parts.join("/"));
    (dir, module.join("."))
}

/// The port, and why: `--port`, a literal `port=` in the entry point's `run(...)` call or
/// Streamlit's `.streamlit/config.toml`, else the framework's default. A script has none
/// unless `--port` gives one.
pub fn port(
    entry: &Entry,
    source: &str,
    streamlit_config: Option<&str>,
    flag: Option<u16>,
) -> Option<(u16, String)> {
    if let Some(p) = flag {
        return Some((p, "from --port".into()));
    }
    let default = entry.framework.default_port()?;
    if entry.framework == Framework::Streamlit {
        if let Some(p) = streamlit_config.and_then(streamlit_config_port) {
            return Some((p, "from .streamlit/config.toml".into()));
        }
    } else if let Some(p) = run_call_port(source) {
        return Some((
            p,
            format!("the port= of the run(...) call in {}", entry.path),
        ));
    }
    Some((default, format!("{}'s default", entry.framework.name())))
}

fn run_call_port(source: &str) -> Option<u16> {
    logical_lines(source).iter().find_map(|l| {
        let text: String = l.text.split_whitespace().collect();
        if !text.contains(".run(") {
            return None;
        }
        let after = &text[text.find(",port=").or_else(|| text.find("(port="))? + 6..];
        let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok().filter(|p| *p > 0)
    })
}

fn streamlit_config_port(config: &str) -> Option<u16> {
    let mut table = "";
    for line in config.lines().map(str::trim) {
        if line.starts_with('[') {
            table = line;
        } else if let Some((k, v)) = line.split_once('=') {
            if table == "[server]" && k.trim() == "port" {
                return v.split('#').next()?.trim().parse().ok();
            }
        }
    }
    None
}

#[cfg(test)]
#[path = "entry_tests.rs"]
mod tests;
