//! Docker itself against `berth registry serve`: docker logs in, pushes and pulls through the
//! token flow; berth pulls what docker pushed (same image ID) and docker pulls what berth pushed.
//!
//! Needs the private test dockerd of `scripts/dockerd.sh` (CI starts it). Set
//! BERTH_SKIP_DOCKER=1 to skip on a machine without docker; the skip is printed.
#![allow(clippy::unwrap_used)] // test helpers panic on setup failures by design

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use berth_registry::blob::BlobDir;
use berth_registry::client::{CredentialStore, PushImage};
use berth_registry::manifest::{Descriptor, OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST};
use berth_registry::platform::Platform;
use berth_registry::{Digest, Reference};
use common::*;

const SOCKET: &str = "/run/berth-test-docker.sock";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn docker_available() -> bool {
    if std::env::var_os("BERTH_SKIP_DOCKER").is_some() || !Path::new("/usr/bin/docker").exists() {
        eprintln!(
            "SKIPPED: docker interop (BERTH_SKIP_DOCKER is set or /usr/bin/docker is missing)"
        );
        return false;
    }
    let started = Command::new(workspace().join("scripts/dockerd.sh"))
        .arg("start")
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(
        started.success(),
        "scripts/dockerd.sh start failed: see /var/log/berth-test-docker.log"
    );
    true
}

/// Runs docker with its own config directory; returns (success, stdout, stderr).
fn docker(config: &Path, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    let mut child = Command::new("/usr/bin/docker")
        .args(["-H", &format!("unix://{SOCKET}"), "--config"])
        .arg(config)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(config: &Path, args: &[&str]) -> String {
    let (success, out, err) = docker(config, args, None);
    assert!(success, "docker {args:?}: {err}");
    out
}

/// A one-file rootfs as an uncompressed tar.
fn rootfs_tar(dir: &Path, text: &str) -> Vec<u8> {
    let root = dir.join("rootfs");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("hello.txt"), text).unwrap();
    let tar = dir.join("rootfs.tar");
    let status = Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read(tar).unwrap()
}

#[test]
fn docker_and_berth_share_the_registry() {
    if !docker_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let users = tmp.path().join("htpasswd");
    let lines = format!(
        "alice:{}\nbob:{}\n",
        bcrypt::hash("alice-pw", 4).unwrap(),
        bcrypt::hash("bob-pw", 4).unwrap()
    );
    std::fs::write(&users, lines).unwrap();
    let srv = start_server(&tmp.path().join("srv"), |c| c.htpasswd = Some(users));
    let host = srv.host();
    let pid = std::process::id();
    let (alice_cfg, bob_cfg, anon_cfg) = (
        tmp.path().join("alice"),
        tmp.path().join("bob"),
        tmp.path().join("anon"),
    );

    // docker import → login → push.
    let tar = rootfs_tar(tmp.path(), &format!("from docker {pid}\n"));
    std::fs::write(tmp.path().join("import.tar"), &tar).unwrap();
    let tag = format!("{host}/alice/web:{pid}");
    let id = ok(
        &alice_cfg,
        &[
            "import",
            tmp.path().join("import.tar").to_str().unwrap(),
            &tag,
        ],
    )
    .trim()
    .to_owned();
    let (logged, _, err) = docker(
        &alice_cfg,
        &["login", "-u", "alice", "--password-stdin", &host],
        Some("alice-pw"),
    );
    assert!(logged, "docker login: {err}");
    ok(&alice_cfg, &["push", &tag]);

    // berth reads the login docker stored, and pulls what docker pushed: same image ID.
    let c = client_with(CredentialStore::in_dir(&alice_cfg), |_| {});
    let sink = BlobDir::open(tmp.path().join("sink")).unwrap();
    let pulled = c
        .pull(
            &Reference::parse(&tag).unwrap(),
            &Platform::host(),
            &sink,
            &quiet,
        )
        .unwrap();
    assert_eq!(pulled.config.digest.to_string(), id);

    // bob may not push into alice's namespace.
    ok(
        &bob_cfg,
        &["tag", &tag, &format!("{host}/alice/web:bob{pid}")],
    );
    let (logged, _, err) = docker(
        &bob_cfg,
        &["login", "-u", "bob", "--password-stdin", &host],
        Some("bob-pw"),
    );
    assert!(logged, "docker login: {err}");
    let (pushed, _, err) = docker(
        &bob_cfg,
        &["push", &format!("{host}/alice/web:bob{pid}")],
        None,
    );
    assert!(!pushed && err.contains("denied"), "{err}");
    let (logged, _, _) = docker(
        &bob_cfg,
        &["login", "-u", "bob", "--password-stdin", &host],
        Some("wrong"),
    );
    assert!(!logged, "a wrong password is refused");

    // berth pushes an image of its own (private); docker pulls it with alice's login only.
    let blobs = BlobDir::open(tmp.path().join("berth-image")).unwrap();
    let layer_tar = rootfs_tar(&tmp.path().join("b"), &format!("from berth {pid}\n"));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&layer_tar).unwrap();
    let layer = blobs.put(OCI_LAYER_GZIP, &gz.finish().unwrap()).unwrap();
    let config_json = serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": {"Cmd": ["/hello.txt"]},
        "rootfs": {"type": "layers", "diff_ids": [Digest::of(&layer_tar).to_string()]},
    });
    let config = blobs
        .put(OCI_CONFIG, config_json.to_string().as_bytes())
        .unwrap();
    let layers: Vec<Descriptor> = vec![layer];
    let manifest = serde_json::to_vec(&serde_json::json!({"schemaVersion":2,"mediaType":OCI_MANIFEST,"config":config,"layers":layers})).unwrap();
    let image = PushImage {
        manifest_bytes: &manifest,
        media_type: OCI_MANIFEST,
        config: &config,
        layers: &layers,
        mount_from: &[],
    };
    let berth_tag = format!("{host}/alice/made-by-berth:{pid}");
    c.push(
        &Reference::parse(&berth_tag).unwrap(),
        &image,
        &blobs,
        &quiet,
    )
    .unwrap();
    srv.storage()
        .set_private("alice/made-by-berth", true)
        .unwrap();
    let (pulled, _, err) = docker(&anon_cfg, &["pull", &berth_tag], None);
    assert!(!pulled, "anonymous pull of a private repository must fail");
    assert!(
        err.contains("denied")
            || err.contains("unauthorized")
            || err.contains("authentication required"),
        "{err}"
    );
    ok(&alice_cfg, &["pull", &berth_tag]);
    let docker_id = ok(
        &alice_cfg,
        &["image", "inspect", "--format", "{{.Id}}", &berth_tag],
    );
    assert_eq!(docker_id.trim(), config.digest.to_string());

    // docker search goes through dockerd to the registry's search API: the public repository
    // for everyone, the private one for its owner only.
    let found = ok(&anon_cfg, &["search", &format!("{host}/alice")]);
    assert!(found.contains("alice/web"), "{found}");
    assert!(!found.contains("made-by-berth"), "{found}");
    let found = ok(&bob_cfg, &["search", &format!("{host}/made-by")]);
    assert!(!found.contains("made-by-berth"), "{found}");
    let found = ok(&alice_cfg, &["search", &format!("{host}/made-by")]);
    assert!(found.contains("alice/made-by-berth"), "{found}");

    // Public repositories pull anonymously.
    ok(&anon_cfg, &["rmi", &tag]);
    ok(&anon_cfg, &["pull", &tag]);
    let _ = docker(
        &alice_cfg,
        &[
            "rmi",
            "-f",
            &tag,
            &berth_tag,
            &format!("{host}/alice/web:bob{pid}"),
        ],
        None,
    );
}
