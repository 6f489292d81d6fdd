use super::*;

fn entry(framework: Framework, path: &str, app: Option<AppObject>) -> Entry {
    Entry {
        path: path.into(),
        framework,
        reason: String::new(),
        app,
        others: vec![],
    }
}

fn app(dir: Option<&str>, module: &str, attr: &str, factory: bool) -> Option<AppObject> {
    Some(AppObject {
        app_dir: dir.map(str::to_string),
        module: module.into(),
        attr: attr.into(),
        factory,
    })
}

/// The Dockerfile's instructions, continuation lines joined, comments dropped.
fn instructions(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        if cur.is_empty() && (line.trim().is_empty() || line.trim_start().starts_with('#')) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(part) => cur.push_str(part),
            None => {
                cur.push_str(line);
                out.push(
                    std::mem::take(&mut cur)
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" "),
                );
            }
        }
    }
    out
}

fn position(ins: &[String], prefix: &str) -> usize {
    ins.iter()
        .position(|i| i.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} in {ins:#?}"))
}

#[test]
fn commands() {
    let cases: &[(Entry, bool, &str)] = &[
        (
            entry(Framework::Streamlit, "src/app.py", None),
            false,
            "exec streamlit run src/app.py --server.port $PORT --server.address 0.0.0.0",
        ),
        (
            entry(Framework::Streamlit, "my app.py", None),
            false,
            "exec streamlit run 'my app.py' --server.port $PORT --server.address 0.0.0.0",
        ),
        (
            entry(
                Framework::FastApi,
                "main.py",
                app(None, "main", "app", false),
            ),
            false,
            "exec uvicorn main:app --host 0.0.0.0 --port $PORT",
        ),
        (
            entry(
                Framework::FastApi,
                "src/api.py",
                app(Some("src"), "api", "api", false),
            ),
            true,
            "exec uvicorn api:api --app-dir src --host 0.0.0.0 --port $PORT",
        ),
        (
            entry(
                Framework::FastApi,
                "web/__init__.py",
                app(None, "web", "create_app", true),
            ),
            false,
            "exec uvicorn web:create_app --factory --host 0.0.0.0 --port $PORT",
        ),
        (
            entry(Framework::Flask, "app.py", app(None, "app", "app", false)),
            false,
            "exec flask --app app:app run --host 0.0.0.0 --port $PORT",
        ),
        (
            entry(
                Framework::Flask,
                "src/app.py",
                app(Some("src"), "app", "app", false),
            ),
            false,
            "exec flask --app src/app.py:app run --host 0.0.0.0 --port $PORT",
        ),
        (
            entry(
                Framework::Flask,
                "web/__init__.py",
                app(None, "web", "create_app", true),
            ),
            false,
            "exec flask --app 'web:create_app()' run --host 0.0.0.0 --port $PORT",
        ),
        (
            entry(
                Framework::Flask,
                "app.py",
                app(None, "app", "server", false),
            ),
            true,
            "exec gunicorn --bind 0.0.0.0:$PORT app:server",
        ),
        (
            entry(
                Framework::Flask,
                "src/app.py",
                app(Some("src"), "app", "app", false),
            ),
            true,
            "exec gunicorn --pythonpath src --bind 0.0.0.0:$PORT app:app",
        ),
        (
            entry(
                Framework::Flask,
                "web/__init__.py",
                app(None, "web", "create_app", true),
            ),
            true,
            "exec gunicorn --bind 0.0.0.0:$PORT 'web:create_app()'",
        ),
    ];
    for (e, gunicorn, want) in cases {
        assert_eq!(command(e, *gunicorn), Cmd::Shell(want.to_string()), "{e:?}");
    }
    let script = entry(Framework::Script, "src/main.py", None);
    assert_eq!(
        command(&script, false),
        Cmd::Exec(vec!["python".into(), "src/main.py".into()])
    );
}

#[test]
fn web_app_dockerfiles_avoid_the_tutorials_traps() {
    let apps = [
        (
            entry(Framework::Streamlit, "src/app.py", None),
            8501,
            "/_stcore/health",
        ),
        (
            entry(Framework::Flask, "app.py", app(None, "app", "app", false)),
            5000,
            "/",
        ),
        (
            entry(
                Framework::FastApi,
                "main.py",
                app(None, "main", "app", false),
            ),
            8000,
            "/",
        ),
        (
            entry(Framework::Streamlit, "src/app.py", None),
            8000,
            "/_stcore/health",
        ),
    ];
    for (e, port, health) in &apps {
        let cmd = command(e, false);
        let text = dockerfile(&Spec {
            python: "3.11",
            entry: e,
            port: Some(*port),
            cmd: &cmd,
        });
        let ins = instructions(&text);
        assert_eq!(ins[0], "FROM python:3.11-slim", "{text}");
        // requirements.txt alone, installed, then the code: the install layer is cached.
        let copy_req = position(&ins, "COPY requirements.txt .");
        let install = position(&ins, "RUN pip install --no-cache-dir -r requirements.txt");
        let copy_all = position(&ins, "COPY . .");
        assert!(copy_req < install && install < copy_all, "{text}");
        assert!(position(&ins, "WORKDIR /app") < copy_req);
        // The same port in ENV and EXPOSE; the command reads $PORT and binds 0.0.0.0.
        let env_port: Vec<&String> = ins.iter().filter(|i| i.starts_with("ENV PORT=")).collect();
        assert_eq!(env_port, vec![&format!("ENV PORT={port}")], "{text}");
        let expose: Vec<&String> = ins.iter().filter(|i| i.starts_with("EXPOSE")).collect();
        assert_eq!(expose, vec![&format!("EXPOSE {port}")], "{text}");
        let cmd_line = &ins[position(&ins, "CMD ")];
        assert!(
            cmd_line.contains("$PORT") && cmd_line.contains("0.0.0.0"),
            "{cmd_line}"
        );
        assert!(
            !cmd_line.starts_with("CMD ["),
            "shell form, for $PORT: {cmd_line}"
        );
        assert_eq!(ins.last(), Some(cmd_line));
        // Not root: the user exists, and USER comes after the install and before CMD.
        let user = position(&ins, "USER ");
        assert_eq!(ins[user], "USER app");
        assert!(position(&ins, "RUN useradd --create-home --uid 10001 app") < user);
        assert!(install < user && user < position(&ins, "CMD "));
        let hc = &ins[position(&ins, "HEALTHCHECK ")];
        assert!(hc.contains("import urllib.request"), "{hc}");
        assert!(
            hc.contains(&format!("('http://127.0.0.1:$PORT{health}', timeout=4)")),
            "{hc}"
        );
        assert!(hc.ends_with("\" || exit 1"), "{hc}");
    }
}

#[test]
fn a_script_has_no_port_and_no_healthcheck() {
    let e = entry(Framework::Script, "main.py", None);
    let cmd = command(&e, false);
    let text = dockerfile(&Spec {
        python: "3.12",
        entry: &e,
        port: None,
        cmd: &cmd,
    });
    let ins = instructions(&text);
    assert_eq!(ins[0], "FROM python:3.12-slim");
    for absent in ["EXPOSE", "ENV PORT", "HEALTHCHECK"] {
        assert!(
            !ins.iter().any(|i| i.starts_with(absent)),
            "{absent} in {text}"
        );
    }
    assert_eq!(
        ins.last().map(String::as_str),
        Some("CMD [\"python\", \"main.py\"]")
    );
    assert!(ins.contains(&"USER app".to_string()));
}

#[test]
fn dockerignore_keeps_out_what_the_image_must_not_hold() {
    let lines: Vec<&str> = DOCKERIGNORE.lines().collect();
    for want in [
        ".git",
        "**/__pycache__",
        "**/*.pyc",
        ".venv",
        "venv",
        ".env",
        "Dockerfile",
        ".dockerignore",
        "build",
        "dist",
        "*.egg-info",
    ] {
        assert!(lines.contains(&want), "{want}");
    }
    for keep in ["requirements.txt", "src", ".streamlit", "*.py"] {
        assert!(!lines.contains(&keep), "{keep}");
    }
}
