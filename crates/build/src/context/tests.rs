use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::*;

fn write(root: &Path, rel: &str, content: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, content).unwrap();
}

fn tutorial(root: &Path) {
    write(root, "Dockerfile", "FROM python:3.8-slim\n");
    write(root, "requirements.txt", "streamlit==0.72.0\n");
    write(root, "src/app.py", "import streamlit\n");
    write(root, "src/util.py", "x = 1\n");
}

fn srcs(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn hash(root: &Path, list: &[&str]) -> Digest {
    hash_sources(root, &srcs(list), &Matcher::empty()).unwrap()
}

fn err(root: &Path, list: &[&str], m: &Matcher) -> String {
    hash_sources(root, &srcs(list), m).unwrap_err().to_string()
}

#[test]
fn same_content_same_hash_whatever_the_directory_or_mtime() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    tutorial(a.path());
    tutorial(b.path());
    let old = SystemTime::now() - Duration::from_secs(86_400);
    fs::File::options()
        .write(true)
        .open(b.path().join("src/app.py"))
        .unwrap()
        .set_modified(old)
        .unwrap();
    assert_eq!(hash(a.path(), &["."]), hash(b.path(), &["."]));
    assert_eq!(hash(a.path(), &["src"]), hash(b.path(), &["src"]));
}

#[test]
fn changing_app_py_keeps_the_requirements_hash() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    tutorial(root);
    let req = hash(root, &["requirements.txt"]);
    let all = hash(root, &["."]);
    write(root, "src/app.py", "import streamlit as st\n");
    assert_eq!(hash(root, &["requirements.txt"]), req);
    assert_ne!(hash(root, &["."]), all);
}

#[test]
fn mode_symlink_target_and_names_are_covered() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    tutorial(root);
    symlink("app.py", root.join("src/link")).unwrap();
    let before = hash(root, &["src"]);
    fs::set_permissions(root.join("src/util.py"), fs::Permissions::from_mode(0o755)).unwrap();
    let after_mode = hash(root, &["src"]);
    assert_ne!(before, after_mode);
    fs::remove_file(root.join("src/link")).unwrap();
    symlink("util.py", root.join("src/link")).unwrap();
    let after_link = hash(root, &["src"]);
    assert_ne!(after_mode, after_link);
    assert_ne!(hash(root, &["src/util.py"]), hash(root, &["src/link"]));
    fs::rename(root.join("src/util.py"), root.join("src/util2.py")).unwrap();
    assert_ne!(hash(root, &["src"]), after_link);
}

#[test]
fn globs_select_sorted_matches() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    tutorial(root);
    write(root, "b.py", "");
    write(root, "a.py", "");
    let sel = select(root, &srcs(&["*.py", "src/*.py"]), &Matcher::empty()).unwrap();
    let rels: Vec<Vec<&str>> = sel
        .iter()
        .map(|s| match &s.selection {
            Selection::Paths(m) => m.iter().map(|m| m.rel.as_str()).collect(),
            Selection::Url(_) => vec![],
        })
        .collect();
    assert_eq!(
        rels,
        [vec!["a.py", "b.py"], vec!["src/app.py", "src/util.py"]]
    );
    assert_eq!(
        err(root, &["*.rs"], &Matcher::empty()),
        "*.rs: no source files were specified"
    );
}

#[test]
fn missing_excluded_and_escaping_sources_fail() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    tutorial(root);
    write(root, "secret.env", "TOKEN=x\n");
    let outside = tempfile::tempdir().unwrap();
    write(outside.path(), "x", "x");
    symlink(outside.path().join("x"), root.join("escape")).unwrap();
    symlink("secret.env", root.join("link-to-secret")).unwrap();
    symlink("/secret.env", root.join("abs-link-to-secret")).unwrap();
    let m = Matcher::new(["secret.env", "src"]).unwrap();
    let rows = [
        // A link does not bring in the excluded file it points to.
        (
            "link-to-secret",
            "link-to-secret: file not found in build context or excluded by .dockerignore",
        ),
        (
            "abs-link-to-secret",
            "abs-link-to-secret: file not found in build context or excluded by .dockerignore",
        ),
        (
            "missing.txt",
            "missing.txt: file not found in build context or excluded by .dockerignore",
        ),
        (
            "secret.env",
            "secret.env: file not found in build context or excluded by .dockerignore",
        ),
        (
            "src",
            "src: file not found in build context or excluded by .dockerignore",
        ),
        (
            "src/app.py",
            "src/app.py: file not found in build context or excluded by .dockerignore",
        ),
        (
            "../etc/passwd",
            "../etc/passwd: forbidden path outside the build context",
        ),
        // A symlink out of the context resolves inside it (BuildKit's scoping): not there.
        (
            "escape",
            "escape: file not found in build context or excluded by .dockerignore",
        ),
    ];
    for (src, want) in rows {
        assert_eq!(err(root, &[src], &m), want);
    }
}

#[test]
fn dockerignore_shapes_the_walk() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    tutorial(root);
    write(
        root,
        ".dockerignore",
        "*.log\nbuild\ndocs\n!docs/README.md\nDockerfile\n.dockerignore\n",
    );
    write(root, "debug.log", "");
    write(root, "build/out.bin", "");
    write(root, "docs/README.md", "");
    write(root, "docs/internal.md", "");
    let m = Matcher::parse(&fs::read_to_string(root.join(".dockerignore")).unwrap()).unwrap();
    let rels: Vec<String> = walk(root, &m).unwrap().into_iter().map(|e| e.rel).collect();
    assert_eq!(
        rels,
        [
            "docs",
            "docs/README.md",
            "requirements.txt",
            "src",
            "src/app.py",
            "src/util.py"
        ]
    );
    // The Dockerfile is excluded from `COPY . .` but still readable by the builder.
    assert!(root.join("Dockerfile").exists());
    let with = hash_sources(root, &srcs(&["."]), &m).unwrap();
    fs::write(root.join("Dockerfile"), "FROM python:3.9\n").unwrap();
    write(root, "build/other.bin", "");
    assert_eq!(hash_sources(root, &srcs(&["."]), &m).unwrap(), with);
}

#[test]
fn urls_are_hashed_by_their_text() {
    let dir = tempfile::tempdir().unwrap();
    let a = hash(dir.path(), &["https://example.com/a.tgz"]);
    assert_ne!(a, hash(dir.path(), &["https://example.com/b.tgz"]));
}

#[test]
fn many_files_hash_deterministically_in_parallel() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for i in 0..300 {
        write(
            root,
            &format!("d{}/f{i:03}.txt", i % 7),
            &format!("content {i}\n"),
        );
    }
    let first = hash(root, &["."]);
    assert_eq!(hash(root, &["."]), first);
    write(root, "d6/f293.txt", "changed\n");
    assert_ne!(hash(root, &["."]), first);
}

#[test]
fn walk_reports_kinds_modes_sizes_and_links() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "bin/run.sh", "#!/bin/sh\n");
    fs::set_permissions(root.join("bin/run.sh"), fs::Permissions::from_mode(0o4755)).unwrap();
    symlink("run.sh", root.join("bin/run")).unwrap();
    let got: Vec<(String, EntryKind, u32, u64, Option<String>)> = walk(root, &Matcher::empty())
        .unwrap()
        .into_iter()
        .map(|e| {
            let link = e.link.map(|l| l.to_string_lossy().into_owned());
            (e.rel, e.kind, e.mode, e.size, link)
        })
        .collect();
    let dir_mode = fs::metadata(root.join("bin")).unwrap().permissions().mode() & 0o7777;
    assert_eq!(
        got,
        [
            ("bin".into(), EntryKind::Dir, dir_mode, 0, None),
            (
                "bin/run".into(),
                EntryKind::Symlink,
                0o777,
                0,
                Some("run.sh".into())
            ),
            ("bin/run.sh".into(), EntryKind::File, 0o4755, 10, None),
        ]
    );
}
