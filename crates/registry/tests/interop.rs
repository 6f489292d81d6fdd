//! berth against the reference implementations: Debian's `docker-registry` (distribution 2.8)
//! as the server for berth's client, and `skopeo` as a client of berth's server. Skipped, saying
//! so, when the tools are not installed (`apt-get install docker-registry skopeo`).
#![allow(clippy::unwrap_used)] // test helpers panic on setup failures by design

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use berth_registry::blob::BlobDir;
use berth_registry::manifest::{
    Descriptor, DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_MANIFEST, OCI_INDEX,
};
use berth_registry::platform::Platform;
use berth_registry::{Digest, Reference};
use common::*;

fn have(tool: &str) -> bool {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        eprintln!("SKIPPED: {tool} is not installed (apt-get install {tool})");
    }
    found
}

/// `docker-registry serve` on a free port with its own storage; killed when dropped.
struct DockerRegistry {
    child: Child,
    port: u16,
}

impl DockerRegistry {
    fn start(dir: &Path) -> DockerRegistry {
        Self::start_with(dir, "")
    }

    /// `extra` is appended to the YAML config (e.g. an `auth:` section).
    fn start_with(dir: &Path, extra: &str) -> DockerRegistry {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = dir.join("config.yml");
        let storage = dir.join("storage");
        std::fs::create_dir_all(&storage).unwrap();
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{extra}",
                storage.display()
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let reg = DockerRegistry { child, port };
        let deadline = Instant::now() + Duration::from_secs(15);
        while matches!(
            ureq::get(&format!("http://127.0.0.1:{port}/v2/")).call(),
            Err(ureq::Error::Transport(_))
        ) {
            assert!(Instant::now() < deadline, "docker-registry did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        reg
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for DockerRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn skopeo(args: &[&str]) -> String {
    let out = Command::new("skopeo")
        .arg("--insecure-policy")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Reads the manifest `tag` of an OCI layout written by skopeo.
fn layout_manifest(dir: &Path, tag: &str) -> (Digest, Vec<u8>) {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let entry = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap();
    let d: Digest = entry["digest"].as_str().unwrap().parse().unwrap();
    let bytes = BlobDir::open(dir).unwrap().read(&d).unwrap();
    (d, bytes)
}

/// Turns a `BlobDir` into an OCI layout with `manifest` tagged `tag`.
fn write_layout(blobs: &BlobDir, manifest: &[u8], media_type: &str, tag: &str) -> PathBuf {
    let desc = blobs.put(media_type, manifest).unwrap();
    let mut entry = serde_json::to_value(&desc).unwrap();
    entry["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": tag});
    let index =
        serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [entry]});
    std::fs::write(blobs.root().join("index.json"), index.to_string()).unwrap();
    std::fs::write(
        blobs.root().join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    blobs.root().to_owned()
}

#[test]
fn berth_pushes_to_docker_registry_and_skopeo_pulls() {
    if !have("docker-registry") || !have("skopeo") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let reg = DockerRegistry::start(&tmp.path().join("reg"));
    let image = make_image(&tmp.path().join("src"), &[3 << 20, 10_000], 31);
    let c = client_with(berth_registry::client::CredentialStore::anonymous(), |c| {
        c.monolithic_limit = 1 << 20;
        c.chunk_size = 1 << 20;
    });
    let r = Reference::parse(&format!("{}/team/app:v1", reg.host())).unwrap();
    let digest = c
        .push(&r, &image.push_image(), &image.blobs, &quiet)
        .unwrap();

    let out = tmp.path().join("skopeo-oci");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{}/team/app:v1", reg.host()),
        &format!("oci:{}:v1", out.display()),
    ]);
    let (d, bytes) = layout_manifest(&out, "v1");
    assert_eq!(
        (d, bytes.as_slice()),
        (digest.clone(), image.manifest.as_slice())
    );
    let copied = BlobDir::open(&out).unwrap();
    for l in image.layers.iter().chain([&image.config]) {
        assert_blob(&copied, l, &image.blobs.read(&l.digest).unwrap());
    }

    // And berth pulls it back, a Docker schema 2 image too.
    let sink = BlobDir::open(tmp.path().join("back")).unwrap();
    let pulled = c.pull(&r, &Platform::host(), &sink, &quiet).unwrap();
    assert_eq!(pulled.manifest_digest, digest);
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let layer = random_bytes(4096, 32);
    let cdesc = image.blobs.put(DOCKER_CONFIG, config).unwrap();
    let ldesc = image.blobs.put(DOCKER_LAYER_GZIP, &layer).unwrap();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": DOCKER_MANIFEST, "config": cdesc, "layers": [ldesc.clone()],
    }))
    .unwrap();
    let layers: Vec<Descriptor> = vec![ldesc.clone()];
    let docker_image = berth_registry::client::PushImage {
        manifest_bytes: &manifest,
        media_type: DOCKER_MANIFEST,
        config: &cdesc,
        layers: &layers,
        mount_from: &[],
    };
    let r2 = Reference::parse(&format!("{}/team/docker:v2", reg.host())).unwrap();
    c.push(&r2, &docker_image, &image.blobs, &quiet).unwrap();
    let pulled = c.pull(&r2, &Platform::host(), &sink, &quiet).unwrap();
    assert_eq!(pulled.manifest_media_type, DOCKER_MANIFEST);
    assert_blob(&sink, &ldesc, &layer);

    // distribution has no search API: berth's search reads its catalog instead, and names
    // what it finds `host/repository`, so that it can be pulled as printed.
    let found = c
        .search(
            &reg.host(),
            "DOCK",
            25,
            &berth_registry::client::SearchFilter::default(),
        )
        .unwrap();
    let names: Vec<String> = found.into_iter().map(|r| r.name).collect();
    assert_eq!(names, [format!("{}/team/docker", reg.host())]);
}

#[test]
fn skopeo_pushes_to_berth_server_with_a_login_and_berth_pulls() {
    if !have("skopeo") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let users = tmp.path().join("htpasswd");
    std::fs::write(
        &users,
        format!("alice:{}\n", bcrypt::hash("alice-pw", 4).unwrap()),
    )
    .unwrap();
    let srv = start_server(&tmp.path().join("srv"), |c| c.htpasswd = Some(users));
    let image = make_image(&tmp.path().join("src"), &[2 << 20, 5000], 41);
    let layout = write_layout(&image.blobs, &image.manifest, &image.media_type, "v1");
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        "alice:alice-pw",
        &format!("oci:{}:v1", layout.display()),
        &format!("docker://{}/alice/app:v1", srv.host()),
    ]);
    let tags = skopeo(&[
        "list-tags",
        "--tls-verify=false",
        &format!("docker://{}/alice/app", srv.host()),
    ]);
    assert!(tags.contains("\"v1\""), "{tags}");
    let inspect = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{}/alice/app:v1", srv.host()),
    ]);
    assert_eq!(inspect.as_bytes(), image.manifest.as_slice());

    let sink = BlobDir::open(tmp.path().join("pulled")).unwrap();
    let r = Reference::parse(&format!("{}/alice/app:v1", srv.host())).unwrap();
    let pulled = client().pull(&r, &Platform::host(), &sink, &quiet).unwrap();
    assert_eq!(pulled.manifest_bytes, image.manifest);
    for l in image.layers.iter().chain([&image.config]) {
        assert_blob(&sink, l, &image.blobs.read(&l.digest).unwrap());
    }

    // Without credentials skopeo is refused a push into alice's namespace.
    let out = Command::new("skopeo")
        .args(["--insecure-policy", "copy", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:v1", layout.display()))
        .arg(format!("docker://{}/alice/other:v1", srv.host()))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("authentication required") || err.contains("unauthorized"),
        "{err}"
    );
}

#[test]
fn berth_pushes_to_berth_and_skopeo_copies_to_docker_registry() {
    if !have("docker-registry") || !have("skopeo") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let srv = start_server(&tmp.path().join("srv"), |_| {});
    let reg = DockerRegistry::start(&tmp.path().join("reg"));
    let image = make_image(&tmp.path().join("src"), &[1 << 20], 51);
    let r = Reference::parse(&format!("{}/a/b:c", srv.host())).unwrap();
    client()
        .push(&r, &image.push_image(), &image.blobs, &quiet)
        .unwrap();
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &format!("docker://{}/a/b:c", srv.host()),
        &format!("docker://{}/a/b:c", reg.host()),
    ]);
    let sink = BlobDir::open(tmp.path().join("pulled")).unwrap();
    let r2 = Reference::parse(&format!("{}/a/b:c", reg.host())).unwrap();
    let pulled = client()
        .pull(&r2, &Platform::host(), &sink, &quiet)
        .unwrap();
    assert_eq!(pulled.manifest_bytes, image.manifest);
}

#[test]
fn basic_auth_against_docker_registry_htpasswd() {
    if !have("docker-registry") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let users = tmp.path().join("htpasswd");
    std::fs::write(
        &users,
        format!("carol:{}\n", bcrypt::hash("carol-pw", 5).unwrap()),
    )
    .unwrap();
    let auth = format!(
        "auth:\n  htpasswd:\n    realm: basic-realm\n    path: {}\n",
        users.display()
    );
    let reg = DockerRegistry::start_with(&tmp.path().join("reg"), &auth);
    let image = make_image(&tmp.path().join("src"), &[20_000], 61);
    let r = Reference::parse(&format!("{}/carol/app:1", reg.host())).unwrap();
    let err = client()
        .push(&r, &image.push_image(), &image.blobs, &quiet)
        .unwrap_err();
    assert!(
        matches!(
            err,
            berth_registry::client::ClientError::AuthRequired { .. }
        ),
        "{err}"
    );
    let c = client_with(
        berth_registry::client::CredentialStore::in_dir(tmp.path().join("docker")),
        |_| {},
    );
    let bad = c.login(&reg.host(), "carol", "wrong").unwrap_err();
    assert!(
        bad.to_string().contains("incorrect username or password"),
        "{bad}"
    );
    c.login(&reg.host(), "carol", "carol-pw").unwrap();
    let digest = c
        .push(&r, &image.push_image(), &image.blobs, &quiet)
        .unwrap();
    let sink = BlobDir::open(tmp.path().join("pulled")).unwrap();
    assert_eq!(
        c.pull(&r, &Platform::host(), &sink, &quiet)
            .unwrap()
            .manifest_digest,
        digest
    );
}
