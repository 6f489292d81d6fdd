use super::*;

const TUTORIAL_APP: &str = "import streamlit as st\n\ndef helloworld():\n    st.title(\"Henri Vandersleyen's Website\")\n    st.header(\"Hello World!\")\n\nhelloworld()\n";

use std::path::PathBuf;

fn args() -> Options {
    Options {
        force: false,
        python: None,
        port: None,
        dir: PathBuf::from("site"),
    }
}

fn project(files: &[(&str, &str)]) -> Project {
    Project {
        files: files
            .iter()
            .map(|(p, t)| SourceFile {
                path: p.to_string(),
                text: t.to_string(),
            })
            .collect(),
        ..Default::default()
    }
}

fn file<'a>(plan: &'a Plan, name: &str) -> &'a str {
    plan.files
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| t.as_str())
        .unwrap_or_else(|| panic!("no {name} in the plan"))
}

#[test]
fn the_tutorials_streamlit_site() {
    let installed = [Installed {
        name: "streamlit".into(),
        version: "1.31.0".into(),
        imports: vec!["streamlit".into()],
    }];
    let plan = plan(
        &project(&[("src/app.py", TUTORIAL_APP)]),
        Some("Python 3.11.7"),
        &installed,
        &args(),
    )
    .unwrap();
    assert_eq!(
        plan.report,
        vec![
            "entry point: src/app.py (imports streamlit)",
            "python: 3.11 (from python3 -V)",
            "port: 8501 (Streamlit's default)",
            "requirements.txt: streamlit==1.31.0 (installed)",
            "command: exec streamlit run src/app.py --server.port $PORT --server.address 0.0.0.0",
        ]
    );
    let names: Vec<&str> = plan.files.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        vec!["Dockerfile", ".dockerignore", "requirements.txt"]
    );
    assert_eq!(file(&plan, "requirements.txt"), "streamlit==1.31.0\n");
    assert_eq!(plan.port, Some(8501));
    let df = file(&plan, "Dockerfile");
    assert!(df.contains("\nFROM python:3.11-slim\n"), "{df}");
    assert!(df.contains("\nENV PORT=8501\nEXPOSE 8501\n"), "{df}");
    assert!(df.ends_with(
        "\nCMD exec streamlit run src/app.py --server.port $PORT --server.address 0.0.0.0\n"
    ));
}

#[test]
fn flask_fastapi_and_a_script() {
    let flask = project(&[(
        "app.py",
        "from flask import Flask\nimport requests\napp = Flask(__name__)\n",
    )]);
    let p = plan(&flask, Some("Python 3.12.1"), &[], &args()).unwrap();
    assert_eq!(
        p.report[3],
        "requirements.txt: flask (not installed here), requests (not installed here)"
    );
    assert_eq!(
        p.report[4],
        "command: exec flask --app app:app run --host 0.0.0.0 --port $PORT"
    );
    assert!(file(&p, "Dockerfile").contains("\nEXPOSE 5000\n"));

    // An existing requirements.txt is kept, and gunicorn in it serves the Flask app.
    let mut with_reqs = flask;
    with_reqs.requirements = Some("flask\ngunicorn==21.2.0\n".into());
    let p = plan(&with_reqs, None, &[], &args()).unwrap();
    assert!(p.report.contains(
        &"requirements.txt: kept the existing file (--force rewrites it from the imports)"
            .to_string()
    ));
    assert!(p
        .report
        .contains(&"command: exec gunicorn --bind 0.0.0.0:$PORT app:app".to_string()));
    assert!(!p.files.iter().any(|(n, _)| *n == "requirements.txt"));
    // ... unless --force.
    let forced = Options {
        force: true,
        ..args()
    };
    let p = plan(&with_reqs, None, &[], &forced).unwrap();
    assert_eq!(file(&p, "requirements.txt"), "flask\nrequests\n");

    // FastAPI needs uvicorn, which nothing imports.
    let fastapi = project(&[(
        "main.py",
        "from fastapi import FastAPI\nimport pydantic\napp = FastAPI()\n",
    )]);
    let p = plan(&fastapi, None, &[], &args()).unwrap();
    assert_eq!(file(&p, "requirements.txt"), "fastapi\npydantic\nuvicorn\n");
    assert_eq!(p.report[3], "requirements.txt: fastapi (not installed here), pydantic (not installed here), uvicorn (runs the app; not installed here)");
    assert!(p
        .report
        .contains(&"command: exec uvicorn main:app --host 0.0.0.0 --port $PORT".to_string()));
    let mut kept = fastapi;
    kept.requirements = Some("fastapi\n".into());
    let p = plan(&kept, None, &[], &args()).unwrap();
    assert!(
        p.report.contains(
            &"warning: requirements.txt does not list uvicorn, which the image's command runs"
                .to_string()
        ),
        "{:?}",
        p.report
    );

    let script = project(&[
        ("main.py", "import json\nimport helpers\n"),
        ("helpers.py", ""),
    ]);
    let p = plan(
        &script,
        None,
        &[],
        &Options {
            python: Some("3.10".into()),
            ..args()
        },
    )
    .unwrap();
    assert_eq!(
        p.report,
        vec![
            "entry point: main.py (the usual name for a main script)",
            "python: 3.10 (from --python)",
            "port: none (a script; --port gives it one)",
            "requirements.txt: nothing to install (only the standard library and local modules)",
            "command: python main.py",
        ]
    );
    assert_eq!(p.port, None);
    let df = file(&p, "Dockerfile");
    assert!(
        !df.contains("EXPOSE") && !df.contains("HEALTHCHECK"),
        "{df}"
    );
}

#[test]
fn overrides_and_the_imports_acceptance_project() {
    let p = project(&[
        (
            "train.py",
            "import sklearn\nimport cv2\nfrom PIL import Image\nimport utils\n\nif __name__ == '__main__':\n    utils.go()\n",
        ),
        ("utils.py", "import os\n"),
    ]);
    let a = Options {
        port: Some(9000),
        python: Some("3.9".into()),
        ..args()
    };
    let plan = plan(&p, Some("Python 3.11.7"), &[], &a).unwrap();
    assert_eq!(
        file(&plan, "requirements.txt"),
        "opencv-python\npillow\nscikit-learn\n"
    );
    assert_eq!(
        plan.report[3],
        "requirements.txt: opencv-python (imported as cv2; not installed here), pillow (imported as PIL; not installed here), scikit-learn (imported as sklearn; not installed here)"
    );
    assert_eq!(plan.port, Some(9000));
    let df = file(&plan, "Dockerfile");
    assert!(df.contains("FROM python:3.9-slim\n") && df.contains("\nENV PORT=9000\nEXPOSE 9000\n"));
    // A script with a port: published, but no HTTP health check is assumed.
    assert!(!df.contains("HEALTHCHECK"), "{df}");
}

#[test]
fn no_python_files() {
    let err = plan(&project(&[]), None, &[], &args()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no Python files in site: berth init sets up Python apps"
    );
}

#[test]
fn write_refuses_to_overwrite_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("src")).unwrap();
    std::fs::write(dir.path().join("src/app.py"), TUTORIAL_APP).unwrap();
    std::fs::write(dir.path().join(".dockerignore"), "mine\n").unwrap();
    let a = Options {
        dir: dir.path().to_path_buf(),
        ..args()
    };
    let p = prepare(&a).unwrap();
    assert_eq!(p.report[0], "entry point: src/app.py (imports streamlit)");
    let err = write(&p, &a).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            ".dockerignore already exists in {}: nothing written (--force overwrites)",
            dir.path().display()
        )
    );
    assert!(!dir.path().join("Dockerfile").exists());
    assert!(!dir.path().join("requirements.txt").exists());
    assert_eq!(
        std::fs::read_to_string(dir.path().join(".dockerignore")).unwrap(),
        "mine\n"
    );

    // Two present: the plural, and the names in the plan's order.
    std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").unwrap();
    let err = write(&p, &a).unwrap_err().to_string();
    assert!(
        err.starts_with("Dockerfile, .dockerignore already exist in "),
        "{err}"
    );

    let a = Options { force: true, ..a };
    let p = prepare(&a).unwrap();
    write(&p, &a).unwrap();
    let ignore = std::fs::read_to_string(dir.path().join(".dockerignore")).unwrap();
    assert_eq!(ignore, dockerfile::DOCKERIGNORE);
    let df = std::fs::read_to_string(dir.path().join("Dockerfile")).unwrap();
    assert_eq!(df, file(&p, "Dockerfile"));
    let reqs = std::fs::read_to_string(dir.path().join("requirements.txt")).unwrap();
    assert!(reqs.starts_with("streamlit"), "{reqs}");
}

#[test]
fn prepare_wants_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let err = prepare(&Options {
        dir: missing.clone(),
        ..args()
    })
    .unwrap_err();
    assert!(
        matches!(&err, InitError::NotADirectory(d) if *d == missing),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!("{}: not a directory", missing.display())
    );
}

#[test]
fn scanning_skips_environments_and_build_output() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (path, text) in [
        ("app.py", "import streamlit\n"),
        ("pkg/__init__.py", ""),
        ("pkg/mod.py", "import yaml\n"),
        (".venv/lib/python3.11/site-packages/x.py", "import nope\n"),
        ("myenv/lib/y.py", "import nope\n"),
        ("build/lib/z.py", "import nope\n"),
        ("pkg/__pycache__/w.py", "import nope\n"),
        ("notes.txt", "import nope\n"),
    ] {
        std::fs::create_dir_all(d.join(path).parent().unwrap()).unwrap();
        std::fs::write(d.join(path), text).unwrap();
    }
    std::fs::write(d.join(".venv/pyvenv.cfg"), "version = 3.10.4\n").unwrap();
    std::fs::write(d.join("myenv/pyvenv.cfg"), "version = 3.9.1\n").unwrap();
    let dist = d.join(".venv/lib/python3.11/site-packages/PyYAML-6.0.1.dist-info");
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::write(dist.join("METADATA"), "Name: PyYAML\nVersion: 6.0.1\n\n").unwrap();
    std::fs::write(dist.join("RECORD"), "yaml/__init__.py,,\n").unwrap();

    let p = read_project(d).unwrap();
    let paths: Vec<&str> = p.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, vec!["app.py", "pkg/__init__.py", "pkg/mod.py"]);
    let (name, cfg, sites) = p.venv.clone().unwrap();
    assert_eq!(
        (name.as_str(), cfg.as_str()),
        (".venv", "version = 3.10.4\n")
    );
    let installed = installed_distributions(&sites);
    assert_eq!(
        installed,
        vec![Installed {
            name: "PyYAML".into(),
            version: "6.0.1".into(),
            imports: vec!["yaml".into()],
        }]
    );
    let plan = plan(&p, Some("Python 3.11.7"), &installed, &args()).unwrap();
    assert_eq!(plan.report[1], "python: 3.10 (from .venv/pyvenv.cfg)");
    assert!(file(&plan, "requirements.txt").starts_with("PyYAML==6.0.1\nstreamlit"));
}
