//! berth's client against berth's server: push, pull back, compare byte for byte.
#![allow(clippy::unwrap_used)] // test helpers panic on setup failures by design

mod common;

use std::sync::Mutex;

use berth_registry::blob::BlobDir;
use berth_registry::client::{Event, PushImage};
use berth_registry::platform::Platform;
use berth_registry::Reference;
use common::*;

#[test]
fn push_then_pull_is_byte_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let srv = start_server(&tmp.path().join("srv"), |_| {});
    let image = make_image(&tmp.path().join("src"), &[20 << 20, 3000], 1);
    let client = client();
    let reference = Reference::parse(&format!("{}/alice/app:v1", srv.host())).unwrap();
    let pushed = client
        .push(&reference, &image.push_image(), &image.blobs, &quiet)
        .unwrap();
    assert_eq!(pushed, berth_registry::Digest::of(&image.manifest));

    let sink = BlobDir::open(tmp.path().join("dst")).unwrap();
    let events = Mutex::new(Vec::new());
    let pulled = client
        .pull(
            &reference,
            &Platform::parse("linux/amd64").unwrap(),
            &sink,
            &|e| events.lock().unwrap().push(e),
        )
        .unwrap();
    assert_eq!(pulled.manifest_bytes, image.manifest);
    assert_eq!(pulled.manifest_digest, pushed);
    assert_eq!(
        pulled.repo_digest,
        format!("{}/alice/app@{pushed}", srv.host())
    );
    assert_eq!(pulled.config, image.config);
    assert_eq!(pulled.layers, image.layers);
    for d in image.layers.iter().chain([&image.config]) {
        assert_blob(&sink, d, &image.blobs.read(&d.digest).unwrap());
    }
    let events = events.into_inner().unwrap();
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::BlobDone { size, .. } if *size == image.layers[0].size)));

    // A second pull finds everything in the sink; a second push finds everything on the server.
    let again = Mutex::new(Vec::new());
    client
        .pull(&reference, &Platform::host(), &sink, &|e| {
            again.lock().unwrap().push(e)
        })
        .unwrap();
    let again = again.into_inner().unwrap();
    assert_eq!(
        again
            .iter()
            .filter(|e| matches!(e, Event::BlobExists { .. }))
            .count(),
        2
    );
    assert!(!again.iter().any(|e| matches!(e, Event::BlobStarted { .. })));
    let pushes = Mutex::new(Vec::new());
    client
        .push(&reference, &image.push_image(), &image.blobs, &|e| {
            pushes.lock().unwrap().push(e)
        })
        .unwrap();
    let pushes = pushes.into_inner().unwrap();
    assert_eq!(
        pushes
            .iter()
            .filter(|e| matches!(e, Event::BlobExists { .. }))
            .count(),
        3
    );
}

#[test]
fn chunked_upload_and_cross_repo_mount() {
    let tmp = tempfile::tempdir().unwrap();
    let srv = start_server(&tmp.path().join("srv"), |_| {});
    let image = make_image(&tmp.path().join("src"), &[5 << 20, 1 << 20], 2);
    let client = client_with(berth_registry::client::CredentialStore::anonymous(), |c| {
        c.monolithic_limit = 1 << 20;
        c.chunk_size = 1 << 20;
    });
    let first = Reference::parse(&format!("{}/alice/base:1", srv.host())).unwrap();
    client
        .push(&first, &image.push_image(), &image.blobs, &quiet)
        .unwrap();

    let second = Reference::parse(&format!("{}/alice/derived:1", srv.host())).unwrap();
    let from = vec!["alice/base".to_owned()];
    let events = Mutex::new(Vec::new());
    let img = PushImage {
        mount_from: &from,
        ..image.push_image()
    };
    client
        .push(&second, &img, &image.blobs, &|e| {
            events.lock().unwrap().push(e)
        })
        .unwrap();
    let mounted = events
        .into_inner()
        .unwrap()
        .into_iter()
        .filter(|e| matches!(e, Event::BlobMounted { from, .. } if from == "alice/base"))
        .count();
    assert_eq!(mounted, 3, "config and both layers mounted");

    let sink = BlobDir::open(tmp.path().join("dst")).unwrap();
    let pulled = client
        .pull(&second, &Platform::host(), &sink, &quiet)
        .unwrap();
    for d in pulled.layers.iter() {
        assert_blob(&sink, d, &image.blobs.read(&d.digest).unwrap());
    }
}
