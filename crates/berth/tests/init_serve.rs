//! `berth init` writes files that build and serve the app with no edits: Streamlit (the
//! tutorial's app), Flask and FastAPI. Needs root and network to PyPI.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::{base_images, wait_for, Sandbox};

fn serves(s: &Sandbox, name: &str, files: &[(&str, &str)], port: &str, path: &str) {
    let dir = s.root().join(name);
    for (p, c) in files {
        let f = dir.join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, c).unwrap();
    }
    let said = s.ok(&["init", dir.to_str().unwrap()]);
    assert!(said.contains("wrote Dockerfile"), "{said}");
    s.ok(&["build", "-q", "-t", name, dir.to_str().unwrap()]);
    s.ok(&["run", "-d", "--name", name, "-p", port, name]);
    let host = s
        .ok(&["port", name, &format!("{port}/tcp")])
        .trim()
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();
    let url = format!("http://127.0.0.1:{host}{path}");
    assert!(
        wait_for(Duration::from_secs(60), || Command::new("curl")
            .args(["-sf", "-m", "2", &url])
            .output()
            .is_ok_and(|o| o.status.success())),
        "{name} answers at {url}: {}",
        s.ok(&["logs", name])
    );
    assert_eq!(
        s.ok(&["exec", name, "id", "-u"]).trim(),
        "10001",
        "{name} runs as a non-root user"
    );
}

#[test]
fn init_output_builds_and_serves_streamlit_flask_and_fastapi() {
    let Some(s) = Sandbox::new() else { return };
    s.ok(&["load", "-i", base_images().to_str().unwrap()]);
    let streamlit =
        std::fs::read_to_string(common::workspace().join("examples/website/src/app.py")).unwrap();
    serves(
        &s,
        "st",
        &[("src/app.py", &streamlit)],
        "8501",
        "/_stcore/health",
    );
    serves(
        &s,
        "fl",
        &[("app.py", "from flask import Flask\n\napp = Flask(__name__)\n\n\n@app.route('/')\ndef index():\n    return 'hello from flask'\n")],
        "5000",
        "/",
    );
    serves(
        &s,
        "fa",
        &[("main.py", "from fastapi import FastAPI\n\napi = FastAPI()\n\n\n@api.get('/')\ndef index():\n    return {'hello': 'fastapi'}\n")],
        "8000",
        "/",
    );
}
