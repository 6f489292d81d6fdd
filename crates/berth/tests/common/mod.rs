//! Helpers for driving the built `berth` binary against a throwaway root.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The test rootfs tarballs of `scripts/make-test-images.sh`, built once per machine (the
/// script is idempotent; flock keeps parallel test processes from racing it).
pub fn test_images() -> PathBuf {
    let out = workspace().join("target/test-images");
    let status = Command::new("flock")
        .arg(workspace().join("target/test-images.lock"))
        .arg(workspace().join("scripts/make-test-images.sh"))
        .arg(&out)
        .stdout(Stdio::null())
        .status()
        .expect("run scripts/make-test-images.sh");
    assert!(status.success(), "scripts/make-test-images.sh failed");
    out
}

/// A berth with its own root, removed when dropped.
pub struct Berth {
    pub root: tempfile::TempDir,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(o: Output) -> Self {
        Self {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }
}

impl Default for Berth {
    fn default() -> Self {
        Self::new()
    }
}

impl Berth {
    pub fn new() -> Self {
        Self {
            root: tempfile::Builder::new()
                .prefix("berth-test-")
                .tempdir()
                .unwrap(),
        }
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }

    pub fn command(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_berth"));
        c.env("BERTH_ROOT", self.root.path());
        c.stdin(Stdio::null());
        c
    }

    /// Runs berth with `args`, whatever its exit code.
    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.command().args(args).output().unwrap())
    }

    /// Runs berth with `input` on stdin.
    pub fn run_stdin(&self, args: &[&str], input: &[u8]) -> Run {
        use std::io::Write;
        let mut child = self
            .command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let input = input.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap();
        Run::from(out)
    }

    /// Runs berth and asserts it succeeded; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert_eq!(
            r.code, 0,
            "berth {args:?} failed ({}):\n{}{}",
            r.code, r.stdout, r.stderr
        );
        r.stdout
    }

    /// Imports the busybox test image as `name`.
    pub fn busybox(&self, name: &str) -> String {
        let tar = test_images().join("busybox-rootfs.tar");
        self.ok(&[
            "import",
            "--change",
            r#"CMD ["sh"]"#,
            tar.to_str().unwrap(),
            name,
        ])
        .trim()
        .to_string()
    }

    /// Imports the hello-world test image as `name`.
    pub fn hello(&self, name: &str) -> String {
        let tar = test_images().join("hello-rootfs.tar");
        self.ok(&[
            "import",
            "--change",
            r#"CMD ["/hello"]"#,
            tar.to_str().unwrap(),
            name,
        ])
        .trim()
        .to_string()
    }

    /// Every file under the root (relative paths), for "nothing changed" assertions.
    pub fn snapshot(&self) -> Vec<String> {
        let mut out = Vec::new();
        walk(self.root(), self.root(), &mut out);
        out.retain(|p| !p.starts_with("meta.db") && p != "lock");
        out.sort();
        out
    }
}

fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        out.push(p.strip_prefix(base).unwrap().display().to_string());
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            walk(base, &p, out);
        }
    }
}

/// A small rootfs tarball made in memory: `files` are (path, content).
pub fn tarball(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, path, *data).unwrap();
    }
    b.into_inner().unwrap()
}

pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}
