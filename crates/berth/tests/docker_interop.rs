//! Images move between berth and a real dockerd both ways with the same image ID.
//!
//! Needs the private test dockerd of `scripts/dockerd.sh` (CI starts it). Without it the test
//! fails loudly rather than passing: set BERTH_SKIP_DOCKER=1 to skip on a machine without
//! docker, and the skip is printed.

mod common;

use std::path::Path;
use std::process::Command;

use common::Berth;

const SOCKET: &str = "/run/berth-test-docker.sock";

fn docker() -> Option<Command> {
    if std::env::var_os("BERTH_SKIP_DOCKER").is_some() {
        eprintln!("SKIPPED: docker interop (BERTH_SKIP_DOCKER is set)");
        return None;
    }
    let started = Command::new(common::workspace().join("scripts/dockerd.sh"))
        .arg("start")
        .status()
        .expect("run scripts/dockerd.sh");
    assert!(
        started.success(),
        "scripts/dockerd.sh start failed: see /var/log/berth-test-docker.log"
    );
    assert!(Path::new(SOCKET).exists());
    let mut c = Command::new("/usr/bin/docker");
    c.args(["-H", &format!("unix://{SOCKET}")]);
    Some(c)
}

fn run(mut c: Command, args: &[&str]) -> String {
    let out = c.args(args).output().expect("run docker");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn docker_save_loads_into_berth_and_berth_save_runs_in_docker() {
    let Some(_) = docker() else { return };
    let images = common::test_images();
    let tag = format!("berth-interop-{}:t", std::process::id());

    // docker import + save → berth load: same image ID.
    let docker_id = run(
        docker().unwrap(),
        &[
            "import",
            "--change",
            r#"CMD ["/hello"]"#,
            images.join("hello-rootfs.tar").to_str().unwrap(),
            &tag,
        ],
    )
    .trim()
    .to_string();
    let b = Berth::new();
    let archive = b.root().join("from-docker.tar");
    run(
        docker().unwrap(),
        &["save", "-o", archive.to_str().unwrap(), &tag],
    );
    let out = b.ok(&["load", "-i", archive.to_str().unwrap()]);
    assert_eq!(out, format!("Loaded image: {tag}\n"));
    assert_eq!(b.ok(&["images", "-q", "--no-trunc"]).trim(), docker_id);
    assert!(b.ok(&["system", "check"]).contains("consistent"));
    run(docker().unwrap(), &["rmi", "-f", &tag]);

    // berth import + save → docker load → docker run.
    let berth_tag = format!("berth-made-{}:t", std::process::id());
    let berth_id = b.busybox(&berth_tag);
    let out_archive = b.root().join("from-berth.tar");
    b.ok(&["save", "-o", out_archive.to_str().unwrap(), &berth_tag]);
    let loaded = run(
        docker().unwrap(),
        &["load", "-i", out_archive.to_str().unwrap()],
    );
    assert!(loaded.contains(&berth_tag), "{loaded}");
    let inspected = run(
        docker().unwrap(),
        &["image", "inspect", "--format", "{{.Id}}", &berth_tag],
    );
    assert_eq!(inspected.trim(), berth_id);
    let said = run(
        docker().unwrap(),
        &[
            "run",
            "--rm",
            "--network",
            "none",
            &berth_tag,
            "echo",
            "hello from a berth image",
        ],
    );
    assert_eq!(said, "hello from a berth image\n");
    run(docker().unwrap(), &["rmi", "-f", &berth_tag]);
}
