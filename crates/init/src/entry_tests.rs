use super::*;

const TUTORIAL_APP: &str = "import streamlit as st\n\ndef helloworld():\n    st.title(\"Henri Vandersleyen's Website\")\n    st.header(\"Hello World!\")\n\nhelloworld()\n";

fn files(list: &[(&str, &str)]) -> Vec<SourceFile> {
    list.iter()
        .map(|(p, t)| SourceFile {
            path: p.to_string(),
            text: t.to_string(),
        })
        .collect()
}

fn detect_in(list: &[(&str, &str)]) -> Option<Entry> {
    let fs = files(list);
    let paths: Vec<String> = fs.iter().map(|f| f.path.clone()).collect();
    detect(&fs, |p| paths.iter().any(|q| q == p))
}

fn obj(dir: Option<&str>, module: &str, attr: &str, factory: bool) -> Option<AppObject> {
    Some(AppObject {
        app_dir: dir.map(str::to_string),
        module: module.into(),
        attr: attr.into(),
        factory,
    })
}

#[test]
fn entry_points() {
    type Case<'a> = (
        &'a [(&'a str, &'a str)],
        &'a str,
        Framework,
        &'a str,
        Option<AppObject>,
    );
    let flask = "from flask import Flask\napp = Flask(__name__)\n";
    let cases: &[Case<'_>] = &[
        (&[("src/app.py", TUTORIAL_APP)], "src/app.py", Framework::Streamlit, "imports streamlit", None),
        // The preferred names beat other Streamlit pages.
        (
            &[("pages/1_data.py", "import streamlit as st\n"), ("streamlit_app.py", "import streamlit\n"), ("app.py", "from streamlit import title\n")],
            "app.py", Framework::Streamlit, "imports streamlit", None,
        ),
        (&[("dashboard.py", "import streamlit as st\n"), ("lib/x/deep.py", "import streamlit\n")], "dashboard.py", Framework::Streamlit, "imports streamlit", None),
        (&[("app.py", flask)], "app.py", Framework::Flask, "creates a Flask app", obj(None, "app", "app", false)),
        (&[("src/server.py", "import flask\nserver = flask.Flask(__name__)\n")], "src/server.py", Framework::Flask, "creates a Flask app", obj(Some("src"), "server", "server", false)),
        (
            &[("web/__init__.py", "from flask import Flask\n\ndef create_app():\n    app = Flask(__name__)\n    return app\n"), ("web/views.py", "from flask import Blueprint\n")],
            "web/__init__.py", Framework::Flask, "creates a Flask app", obj(None, "web", "create_app", true),
        ),
        (
            &[("main.py", "from fastapi import FastAPI\nfrom .routers import items\n\napi: FastAPI = FastAPI(title=\"x\")\n")],
            "main.py", Framework::FastApi, "creates a FastAPI app", obj(None, "main", "api", false),
        ),
        (
            &[("app/__init__.py", ""), ("app/main.py", "import fastapi\napp = fastapi.FastAPI()\n"), ("app/routers/items.py", "from fastapi import APIRouter\nrouter = APIRouter()\n")],
            "app/main.py", Framework::FastApi, "creates a FastAPI app", obj(None, "app.main", "app", false),
        ),
        (&[("src/api.py", "from fastapi import FastAPI\napp = FastAPI()\n")], "src/api.py", Framework::FastApi, "creates a FastAPI app", obj(Some("src"), "api", "app", false)),
        // Importing flask without creating an app is not a Flask app.
        (&[("tool.py", "from flask import json\nif __name__ == '__main__':\n    pass\n")], "tool.py", Framework::Script, "has an `if __name__ == \"__main__\"` block", None),
        (&[("a.py", "x = 1\n"), ("cli/run_me.py", "if __name__ == \"__main__\":\n    main()\n")], "cli/run_me.py", Framework::Script, "has an `if __name__ == \"__main__\"` block", None),
        (&[("lib.py", "x = 1\n"), ("main.py", "print('hi')\n")], "main.py", Framework::Script, "the usual name for a main script", None),
        (&[("zeta.py", "x = 1\n"), ("alpha.py", "x = 2\n")], "alpha.py", Framework::Script, "no web framework or `__main__` block found; the first script", None),
        // A docstring mentioning streamlit is not an import.
        (&[("main.py", "\"\"\"Unlike\nimport streamlit\n\"\"\"\nprint(1)\n"), ("x.py", "")], "main.py", Framework::Script, "the usual name for a main script", None),
        (&[("job.py", "print(1)\n")], "job.py", Framework::Script, "the only .py file", None),
    ];
    for (list, path, framework, reason, app) in cases {
        let e = detect_in(list).unwrap();
        assert_eq!(
            (e.path.as_str(), e.framework, e.reason.as_str(), &e.app),
            (*path, *framework, *reason, app),
            "{list:?}"
        );
    }
    assert_eq!(detect_in(&[]), None);
}

#[test]
fn streamlit_wins_over_an_api_and_the_api_is_mentioned() {
    let e = detect_in(&[
        ("api.py", "from fastapi import FastAPI\napp = FastAPI()\n"),
        ("ui.py", "import streamlit as st\n"),
    ])
    .unwrap();
    assert_eq!(
        (e.path.as_str(), e.framework),
        ("ui.py", Framework::Streamlit)
    );
    assert_eq!(e.others, vec![("api.py".to_string(), Framework::FastApi)]);
}

#[test]
fn app_variables() {
    let cases: &[(&str, Option<(&str, bool)>)] = &[
        ("app = Flask(__name__)", Some(("app", false))),
        (
            "application=Flask( __name__ )",
            Some(("application", false)),
        ),
        ("if True:\n    app = Flask(__name__)", Some(("app", false))),
        (
            "def make():\n    a = Flask(__name__)\n    return a",
            Some(("make", true)),
        ),
        (
            "def make():\n    a = Flask(__name__)\nmain = Flask(__name__)",
            Some(("main", false)),
        ),
        ("register(Flask(__name__))", Some(("app", false))),
        ("class MyFlask(Flask):\n    pass", None),
        ("ok = x == Flask(1)", Some(("app", false))),
        ("# app = Flask(__name__)", None),
    ];
    for (src, want) in cases {
        let got = app_object(&logical_lines(src), "Flask");
        assert_eq!(got, want.map(|(v, f)| (v.to_string(), f)), "{src:?}");
    }
}

#[test]
fn ports() {
    let entry = |framework, path: &str| Entry {
        path: path.into(),
        framework,
        reason: String::new(),
        app: None,
        others: vec![],
    };
    let st = entry(Framework::Streamlit, "src/app.py");
    let flask = entry(Framework::Flask, "app.py");
    let fast = entry(Framework::FastApi, "main.py");
    let script = entry(Framework::Script, "main.py");
    let cfg = "[theme]\nport = 1\n[server]\nheadless = true\nport = 8600 # mine\n";
    type Case<'a> = (
        &'a Entry,
        &'a str,
        Option<&'a str>,
        Option<u16>,
        Option<(u16, &'a str)>,
    );
    let cases: &[Case<'_>] = &[
        (
            &st,
            TUTORIAL_APP,
            None,
            None,
            Some((8501, "Streamlit's default")),
        ),
        (
            &st,
            TUTORIAL_APP,
            Some(cfg),
            None,
            Some((8600, "from .streamlit/config.toml")),
        ),
        (
            &st,
            TUTORIAL_APP,
            Some(cfg),
            Some(9000),
            Some((9000, "from --port")),
        ),
        (
            &flask,
            "app = Flask(__name__)\n",
            None,
            None,
            Some((5000, "Flask's default")),
        ),
        (
            &flask,
            "if __name__ == '__main__':\n    app.run(host='0.0.0.0', port = 8080, debug=True)\n",
            None,
            None,
            Some((8080, "the port= of the run(...) call in app.py")),
        ),
        (
            &flask,
            "app.run(port=int(os.environ['PORT']))\n",
            None,
            None,
            Some((5000, "Flask's default")),
        ),
        (
            &fast,
            "uvicorn.run(\n    app,\n    port=8001,\n)\n",
            None,
            None,
            Some((8001, "the port= of the run(...) call in main.py")),
        ),
        (
            &fast,
            "app = FastAPI()\n",
            None,
            None,
            Some((8000, "FastAPI's default")),
        ),
        (
            &script,
            "print(1)\n",
            None,
            Some(80),
            Some((80, "from --port")),
        ),
        (&script, "app.run(port=80)\n", None, None, None),
    ];
    for (e, src, config, flag, want) in cases {
        let got = port(e, src, *config, *flag);
        assert_eq!(got, want.map(|(p, r)| (p, r.to_string())), "{src:?}");
    }
}

#[test]
fn module_paths() {
    let inits = [
        "pkg/__init__.py",
        "pkg/api/__init__.py",
        "src/lib/__init__.py",
    ];
    let has = |p: &str| inits.contains(&p);
    let cases: &[(&str, Option<&str>, &str)] = &[
        ("app.py", None, "app"),
        ("src/app.py", Some("src"), "app"),
        ("pkg/api/main.py", None, "pkg.api.main"),
        ("pkg/__init__.py", None, "pkg"),
        ("src/lib/web.py", Some("src"), "lib.web"),
        ("a/b/c.py", Some("a/b"), "c"),
    ];
    for (path, dir, module) in cases {
        assert_eq!(
            module_path(path, has),
            (dir.map(str::to_string), module.to_string()),
            "{path}"
        );
    }
}
