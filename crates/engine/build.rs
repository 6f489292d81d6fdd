//! Records what `berth version` reports about the build: the compiler, the commit and the
//! time. Each is optional: a build from a tarball has no git, and then no commit is shown.

use std::path::Path;
use std::process::Command;

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    if let Some(v) = output(Command::new(rustc).arg("--version")) {
        println!("cargo:rustc-env=BERTH_RUSTC_VERSION={v}");
    }
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    if let Some(commit) = output(
        Command::new("git")
            .args(["rev-parse", "--short=7", "HEAD"])
            .current_dir(&manifest),
    ) {
        println!("cargo:rustc-env=BERTH_GIT_COMMIT={commit}");
    }
    // Rebuild when HEAD moves (a commit, a checkout), not on every build: the commit shown is
    // then always the one built.
    if let Some(git_dir) = output(
        Command::new("git")
            .args(["rev-parse", "--absolute-git-dir"])
            .current_dir(&manifest),
    ) {
        let git_dir = Path::new(&git_dir);
        println!("cargo:rerun-if-changed={}", git_dir.join("HEAD").display());
        if let Some(head) = std::fs::read_to_string(git_dir.join("HEAD"))
            .ok()
            .and_then(|h| h.strip_prefix("ref: ").map(|r| r.trim().to_string()))
        {
            println!("cargo:rerun-if-changed={}", git_dir.join(head).display());
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
    let built = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    println!("cargo:rustc-env=BERTH_BUILT_UNIX={built}");
    build_pause();
}

/// The static `/pause` of berth's pause image (`pause/pause.rs`): compiled with the same
/// rustc, for the same target, with glibc linked in statically, and embedded by
/// `crate::pod::pause_image`.
fn build_pause() {
    println!("cargo:rerun-if-changed=pause/pause.rs");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let target = std::env::var("TARGET").expect("TARGET");
    let status = Command::new(rustc)
        .args([
            "--edition",
            "2021",
            "--crate-name",
            "pause",
            "--target",
            &target,
        ])
        .args([
            "-C",
            "opt-level=s",
            "-C",
            "panic=abort",
            "-C",
            "strip=symbols",
        ])
        .args(["-C", "target-feature=+crt-static", "-C", "codegen-units=1"])
        .arg("-o")
        .arg(out.join("pause"))
        .arg("pause/pause.rs")
        .status()
        .expect("run rustc for the pause binary");
    assert!(
        status.success(),
        "building the pause binary failed: a static glibc (libc6-dev's libc.a) is needed"
    );
}

/// The command's trimmed stdout when it succeeds with something to say.
fn output(cmd: &mut Command) -> Option<String> {
    let out = cmd.output().ok().filter(|o| o.status.success())?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!text.is_empty()).then_some(text)
}
