//! Where the client connects: TLS on berth's server, pull-through mirrors for docker.io with
//! fallback, and HEAD resolution of a reference.
#![allow(clippy::unwrap_used)] // test helpers panic on setup failures by design

mod common;

use std::process::Command;
use std::sync::Mutex;

use berth_registry::blob::BlobDir;
use berth_registry::client::{CredentialStore, Event};
use berth_registry::platform::Platform;
use berth_registry::server::TlsFiles;
use berth_registry::{Digest, Reference};
use common::*;

#[test]
fn tls_server_serves_the_client() {
    let tmp = tempfile::tempdir().unwrap();
    let (cert, key) = (tmp.path().join("cert.pem"), tmp.path().join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
        ])
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output();
    if !made.as_ref().is_ok_and(|o| o.status.success()) {
        eprintln!("SKIPPED: openssl could not make a test certificate");
        return;
    }
    let tls = TlsFiles {
        cert: cert.clone(),
        key,
    };
    let srv = start_server(&tmp.path().join("srv"), |c| c.tls = Some(tls));
    assert!(srv.url().starts_with("https://"));
    let image = make_image(&tmp.path().join("img"), &[300_000], 1);
    // The CA file is accepted; 127.0.0.1 is an insecure (local) registry either way.
    let c = client_with(CredentialStore::anonymous(), |c| c.ca_certs = vec![cert]);
    let r = Reference::parse(&format!("{}/t/app:1", srv.host())).unwrap();
    c.push(&r, &image.push_image(), &image.blobs, &quiet)
        .unwrap();
    let sink = BlobDir::open(tmp.path().join("sink")).unwrap();
    let pulled = c.pull(&r, &Platform::host(), &sink, &quiet).unwrap();
    assert_eq!(pulled.manifest_bytes, image.manifest);
    // Plain HTTP is not answered by a TLS server.
    assert!(ureq::get(&format!("http://{}/v2/", srv.host()))
        .call()
        .is_err());
}

#[test]
fn docker_io_pulls_go_through_mirrors_with_fallback() {
    let tmp = tempfile::tempdir().unwrap();
    let mirror = start_server(&tmp.path().join("mirror"), |_| {});
    let image = make_image(&tmp.path().join("img"), &[10_000], 2);
    let c = client();
    let on_mirror = Reference::parse(&format!("{}/library/busybox:latest", mirror.host())).unwrap();
    c.push(&on_mirror, &image.push_image(), &image.blobs, &quiet)
        .unwrap();

    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let c = client_with(CredentialStore::anonymous(), |c| {
        c.mirrors = vec![format!("http://{dead}"), mirror.url()];
    });
    let events = Mutex::new(Vec::new());
    let sink = BlobDir::open(tmp.path().join("sink")).unwrap();
    let hub = Reference::parse("busybox").unwrap().with_default_tag();
    let pulled = c
        .pull(&hub, &Platform::host(), &sink, &|e| {
            events.lock().unwrap().push(e)
        })
        .unwrap();
    assert_eq!(pulled.manifest_bytes, image.manifest);
    assert_eq!(
        pulled.repo_digest,
        format!("docker.io/library/busybox@{}", Digest::of(&image.manifest))
    );
    let events = events.into_inner().unwrap();
    assert!(events.iter().any(
        |e| matches!(e, Event::MirrorFailed { mirror, .. } if mirror.contains(&dead.to_string()))
    ));
}

#[test]
fn head_manifest_resolves_without_a_download() {
    let tmp = tempfile::tempdir().unwrap();
    let srv = start_server(&tmp.path().join("srv"), |_| {});
    let image = make_image(&tmp.path().join("img"), &[1000], 3);
    let c = client();
    let r = Reference::parse(&format!("{}/h/app:1", srv.host())).unwrap();
    let digest = c
        .push(&r, &image.push_image(), &image.blobs, &quiet)
        .unwrap();
    let desc = c.head_manifest(&r).unwrap();
    assert_eq!(
        (desc.digest, desc.size),
        (digest, image.manifest.len() as u64)
    );
    assert_eq!(desc.media_type, image.media_type);
    let missing = Reference::parse(&format!("{}/h/app:nope", srv.host())).unwrap();
    assert!(matches!(
        c.head_manifest(&missing),
        Err(berth_registry::client::ClientError::ManifestUnknown { .. })
    ));
    let fetched = c.fetch_manifest(&r).unwrap();
    assert_eq!(fetched.bytes, image.manifest);
}
