//! End to end: `berth init` on the tutorial's project — a directory holding only `src/app.py`
//! — and on a project importing sklearn, cv2, PIL and a local module. Needs no root and no
//! engine; `python3` on the host only refines the Python version and the pins.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

const TUTORIAL_APP: &str = r#"import streamlit as st

def helloworld():
    st.title("Henri Vandersleyen's Website")
    st.header("Hello World!")

helloworld()
"#;

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn berth_init(args: &[&str]) -> Out {
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("init")
        .args(args)
        .output()
        .unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Every file under `dir` with its contents.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// The index of the first line starting with `prefix`.
fn line_of(text: &str, prefix: &str) -> usize {
    text.lines()
        .position(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in\n{text}"))
}

#[test]
fn the_tutorials_site_gets_a_dockerfile_that_avoids_its_traps() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir(dir.join("src")).unwrap();
    std::fs::write(dir.join("src/app.py"), TUTORIAL_APP).unwrap();
    let d = dir.to_str().unwrap();

    let r = berth_init(&[d]);
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    for line in [
        "entry point: src/app.py (imports streamlit)",
        "port: 8501 (Streamlit's default)",
        "wrote Dockerfile, .dockerignore, requirements.txt",
    ] {
        assert!(
            r.stdout.lines().any(|l| l == line),
            "{line:?} not in\n{}",
            r.stdout
        );
    }
    assert!(r.stdout.contains("\npython: 3."), "{}", r.stdout);
    assert!(
        r.stdout.contains("\nrequirements.txt: streamlit"),
        "{}",
        r.stdout
    );

    let files = snapshot(dir);
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        vec![
            ".dockerignore",
            "Dockerfile",
            "requirements.txt",
            "src/app.py"
        ]
    );
    let text = |n: &str| String::from_utf8(files[n].clone()).unwrap();

    let reqs = text("requirements.txt");
    assert_eq!(reqs.lines().count(), 1, "{reqs}");
    let req = reqs.trim();
    assert!(
        req == "streamlit" || req.starts_with("streamlit=="),
        "{reqs}"
    );

    let df = text("Dockerfile");
    let from = &df.lines().nth(line_of(&df, "FROM ")).unwrap()["FROM ".len()..];
    let version = from
        .strip_prefix("python:")
        .and_then(|t| t.strip_suffix("-slim"))
        .unwrap_or_else(|| panic!("not a pinned slim python base: {from}"));
    assert!(
        version.starts_with("3.") && version.split('.').all(|p| p.parse::<u32>().is_ok()),
        "{from}"
    );
    let copy_req = line_of(&df, "COPY requirements.txt .");
    let install = line_of(&df, "RUN pip install --no-cache-dir -r requirements.txt");
    let copy_all = line_of(&df, "COPY . .");
    assert!(copy_req < install && install < copy_all, "{df}");
    assert!(df.contains("\nENV PORT=8501\nEXPOSE 8501\n"), "{df}");
    assert!(
        df.contains("\nRUN useradd --create-home --uid 10001 app\n"),
        "{df}"
    );
    assert!(line_of(&df, "USER app") > install, "{df}");
    assert!(df.contains("127.0.0.1:$PORT/_stcore/health"), "{df}");
    let cmd = df.lines().last().unwrap();
    assert_eq!(
        cmd,
        "CMD exec streamlit run src/app.py --server.port $PORT --server.address 0.0.0.0"
    );

    let ignore = text(".dockerignore");
    for want in [
        ".git",
        "**/__pycache__",
        "**/*.pyc",
        ".venv",
        "venv",
        ".env",
    ] {
        assert!(ignore.lines().any(|l| l == want), "{want} not in\n{ignore}");
    }

    // Again without --force: refused, naming the files, and nothing changes (the existing
    // requirements.txt would be kept, so it is not in the way).
    let r = berth_init(&[d]);
    assert_eq!(r.code, 1, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    assert_eq!(r.stdout, "");
    assert!(
        r.stderr
            .starts_with("Error: Dockerfile, .dockerignore already exist in "),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--force"), "{}", r.stderr);
    assert_eq!(snapshot(dir), files);

    // With --force: all three are rewritten.
    std::fs::write(dir.join("Dockerfile"), "FROM scratch\n").unwrap();
    let r = berth_init(&["--force", "--port", "8000", d]);
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("\nport: 8000 (from --port)\n"),
        "{}",
        r.stdout
    );
    let df = std::fs::read_to_string(dir.join("Dockerfile")).unwrap();
    assert!(df.contains("\nENV PORT=8000\nEXPOSE 8000\n"), "{df}");
}

#[test]
fn requirements_from_imports_map_to_distributions_and_leave_out_local_modules() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(
        dir.join("main.py"),
        "import os\nimport sklearn\nimport cv2\nfrom PIL import Image\nimport utils\n\n\
         if __name__ == \"__main__\":\n    utils.run()\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("utils.py"),
        "import json\n\ndef run():\n    pass\n",
    )
    .unwrap();

    let r = berth_init(&[dir.to_str().unwrap()]);
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    assert!(r.stdout.contains("entry point: main.py "), "{}", r.stdout);
    let reqs = std::fs::read_to_string(dir.join("requirements.txt")).unwrap();
    // Pinned when installed here, so compare the names.
    let names: Vec<&str> = reqs
        .lines()
        .map(|l| l.split("==").next().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["opencv-python", "pillow", "scikit-learn"],
        "{reqs}"
    );
    let df = std::fs::read_to_string(dir.join("Dockerfile")).unwrap();
    assert!(
        !df.contains("EXPOSE") && !df.contains("HEALTHCHECK"),
        "{df}"
    );
    assert!(df.ends_with("CMD [\"python\", \"main.py\"]\n"), "{df}");
}

#[test]
fn a_missing_directory_is_an_error() {
    let r = berth_init(&["/nonexistent/berth-init"]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr,
        "Error: /nonexistent/berth-init: not a directory\n"
    );
}
