//! Registries that misbehave, scripted with the fake server: the client resumes, refuses, or
//! explains, and never commits a wrong byte.
#![allow(clippy::unwrap_used)] // test helpers panic on setup failures by design

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_registry::blob::{BlobDir, BlobError, BlobSink};
use berth_registry::client::{ClientError, CredentialStore};
use berth_registry::manifest::{Descriptor, OCI_INDEX, OCI_MANIFEST};
use berth_registry::platform::Platform;
use berth_registry::{Digest, Reference};
use common::fake::{FakeServer, Recorded, Reply};
use common::*;

type Manifests = HashMap<String, (String, Vec<u8>)>;
type Blobs = HashMap<Digest, Vec<u8>>;

/// Serves `/v2/`, manifests by path suffix and blobs by digest; `hook` may answer first.
fn registry(
    manifests: HashMap<String, (String, Vec<u8>)>,
    blobs: HashMap<Digest, Vec<u8>>,
    hook: impl Fn(&Recorded) -> Option<Reply> + Send + Sync + 'static,
) -> FakeServer {
    FakeServer::start(move |req| {
        if let Some(r) = hook(req) {
            return r;
        }
        if req.path == "/v2/" {
            return Reply::new(200).body("{}");
        }
        if let Some((_, reference)) = req.path.split_once("/manifests/") {
            return match manifests.get(reference) {
                Some((ct, bytes)) => Reply::new(200)
                    .header("Content-Type", ct)
                    .body(bytes.clone()),
                None => Reply::new(404).body(
                    r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#,
                ),
            };
        }
        if let Some((_, d)) = req.path.split_once("/blobs/") {
            let Some(bytes) = d.parse::<Digest>().ok().and_then(|d| blobs.get(&d)) else {
                return Reply::new(404);
            };
            return serve_range(req, bytes);
        }
        Reply::new(404)
    })
}

fn serve_range(req: &Recorded, bytes: &[u8]) -> Reply {
    match req
        .header("range")
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
    {
        Some(start) => {
            let start: usize = start.parse().unwrap();
            Reply::new(206)
                .header(
                    "Content-Range",
                    &format!("bytes {start}-{}/{}", bytes.len() - 1, bytes.len()),
                )
                .body(bytes[start..].to_vec())
        }
        None => Reply::new(200).body(bytes.to_vec()),
    }
}

/// A one-layer image: (manifest map, blob map, layer descriptor, layer bytes).
fn one_layer(layer: Vec<u8>) -> (Manifests, Blobs, Descriptor) {
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#
            .to_vec();
    let cdesc = Descriptor::of("application/vnd.oci.image.config.v1+json", &config);
    let ldesc = Descriptor::of("application/vnd.oci.image.layer.v1.tar+gzip", &layer);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": cdesc, "layers": [ldesc],
    }))
    .unwrap();
    let mut manifests = HashMap::new();
    manifests.insert(
        "latest".to_owned(),
        (OCI_MANIFEST.to_owned(), manifest.clone()),
    );
    manifests.insert(
        Digest::of(&manifest).to_string(),
        (OCI_MANIFEST.to_owned(), manifest),
    );
    let blobs = HashMap::from([
        (cdesc.digest.clone(), config),
        (ldesc.digest.clone(), layer),
    ]);
    (manifests, blobs, ldesc)
}

fn reference(srv: &FakeServer, rest: &str) -> Reference {
    Reference::parse(&format!("{}/{rest}", srv.host())).unwrap()
}

#[test]
fn dropped_connection_resumes_with_range() {
    let layer = random_bytes(3 << 20, 7);
    let (manifests, blobs, ldesc) = one_layer(layer.clone());
    let layer_path = format!("/blobs/{}", ldesc.digest);
    let served_once = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = served_once.clone();
    let cut = layer.clone();
    let srv = registry(manifests, blobs, move |req| {
        let first = req.path.ends_with(&layer_path)
            && req.header("range").is_none()
            && !flag.swap(true, std::sync::atomic::Ordering::SeqCst);
        first.then(|| Reply::new(200).body(cut.clone()).cut_after(1 << 20))
    });
    let tmp = tempfile::tempdir().unwrap();
    let sink = BlobDir::open(tmp.path()).unwrap();
    client()
        .pull(&reference(&srv, "x/app"), &Platform::host(), &sink, &quiet)
        .unwrap();
    assert_blob(&sink, &ldesc, &layer);
    let ranges: Vec<String> = srv
        .recorded()
        .iter()
        .filter(|r| r.path.ends_with(&format!("/blobs/{}", ldesc.digest)))
        .filter_map(|r| r.header("range").map(str::to_owned))
        .collect();
    assert_eq!(ranges.len(), 1, "one resumed request: {ranges:?}");
    let offset: u64 = ranges[0]
        .trim_start_matches("bytes=")
        .trim_end_matches('-')
        .parse()
        .unwrap();
    assert!(offset > 0 && offset <= 1 << 20, "resumed at {offset}");
}

#[test]
fn partial_blob_left_on_disk_is_resumed_by_the_next_pull() {
    let layer = random_bytes(1 << 20, 8);
    let (manifests, blobs, ldesc) = one_layer(layer.clone());
    let srv = registry(manifests, blobs, |_| None);
    let tmp = tempfile::tempdir().unwrap();
    let sink = BlobDir::open(tmp.path()).unwrap();
    // As if an earlier process died after 1000 bytes.
    let mut pending = sink.begin_blob(&ldesc).unwrap();
    std::io::Write::write_all(&mut pending, &layer[..1000]).unwrap();
    std::io::Write::flush(&mut pending).unwrap();
    drop(pending);
    client()
        .pull(&reference(&srv, "x/app"), &Platform::host(), &sink, &quiet)
        .unwrap();
    assert_blob(&sink, &ldesc, &layer);
    assert!(srv
        .recorded()
        .iter()
        .any(|r| r.header("range") == Some("bytes=1000-")));
}

fn assert_nothing_committed(tmp: &std::path::Path, layer: &Descriptor) {
    let sink = BlobDir::open(tmp).unwrap();
    assert!(!sink.has_blob(&layer.digest), "layer must not be committed");
}

#[test]
fn wrong_blob_digest_is_refused_and_discarded() {
    let layer = random_bytes(100_000, 9);
    let (manifests, mut blobs, ldesc) = one_layer(layer);
    blobs.insert(ldesc.digest.clone(), random_bytes(100_000, 10));
    let srv = registry(manifests, blobs, |_| None);
    let tmp = tempfile::tempdir().unwrap();
    let sink = BlobDir::open(tmp.path()).unwrap();
    let err = client()
        .pull(&reference(&srv, "x/app"), &Platform::host(), &sink, &quiet)
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Blob(BlobError::DigestMismatch { .. })),
        "{err}"
    );
    assert!(err.to_string().contains(&ldesc.digest.to_string()), "{err}");
    assert!(err.to_string().contains("digest mismatch"), "{err}");
    assert_nothing_committed(tmp.path(), &ldesc);
    assert_eq!(
        sink.partial_len(&ldesc.digest),
        None,
        "wrong bytes are not kept for resume"
    );
}

#[test]
fn truncated_body_is_an_error_and_nothing_is_committed() {
    let layer = random_bytes(200_000, 11);
    let (manifests, blobs, ldesc) = one_layer(layer.clone());
    let path = format!("/blobs/{}", ldesc.digest);
    let srv = registry(manifests, blobs, move |req| {
        req.path
            .ends_with(&path)
            .then(|| Reply::new(200).body(layer.clone()).cut_after(50_000))
    });
    let tmp = tempfile::tempdir().unwrap();
    let sink = BlobDir::open(tmp.path()).unwrap();
    let c = client_with(CredentialStore::anonymous(), |c| c.retries = 1);
    let err = c
        .pull(&reference(&srv, "x/app"), &Platform::host(), &sink, &quiet)
        .unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Transport { .. } | ClientError::SizeMismatch { .. }
        ),
        "{err}"
    );
    assert_nothing_committed(tmp.path(), &ldesc);
}

#[test]
fn malformed_manifest_is_refused_before_any_blob() {
    let mut manifests = HashMap::new();
    manifests.insert(
        "latest".to_owned(),
        (
            OCI_MANIFEST.to_owned(),
            br#"{"schemaVersion":2,"config":"#.to_vec(),
        ),
    );
    let srv = registry(manifests, HashMap::new(), |_| None);
    let tmp = tempfile::tempdir().unwrap();
    let sink = BlobDir::open(tmp.path()).unwrap();
    let err = client()
        .pull(&reference(&srv, "x/app"), &Platform::host(), &sink, &quiet)
        .unwrap_err();
    assert!(matches!(err, ClientError::Manifest { .. }), "{err}");
    assert!(committed(tmp.path()).is_empty());
    assert!(!srv.recorded().iter().any(|r| r.path.contains("/blobs/")));
}

#[test]
fn manifest_digest_is_checked_against_the_reference() {
    let (mut manifests, blobs, _) = one_layer(random_bytes(10, 12));
    let wanted = Digest::of(b"something else");
    manifests.insert(wanted.to_string(), manifests["latest"].clone());
    let srv = registry(manifests, blobs, |_| None);
    let tmp = tempfile::tempdir().unwrap();
    let sink = BlobDir::open(tmp.path()).unwrap();
    let err = client()
        .pull(
            &reference(&srv, &format!("x/app@{wanted}")),
            &Platform::host(),
            &sink,
            &quiet,
        )
        .unwrap_err();
    assert!(matches!(err, ClientError::DigestMismatch { .. }), "{err}");
    assert!(committed(tmp.path()).is_empty());
}

#[test]
fn rate_limit_is_explained() {
    let srv = registry(HashMap::new(), HashMap::new(), |req| {
        req.path.contains("/manifests/").then(|| {
            Reply::new(429).body(r#"{"errors":[{"code":"TOOMANYREQUESTS","message":"You have reached your pull rate limit."}]}"#)
        })
    });
    let tmp = tempfile::tempdir().unwrap();
    let sink = BlobDir::open(tmp.path()).unwrap();
    let err = client()
        .pull(&reference(&srv, "x/app"), &Platform::host(), &sink, &quiet)
        .unwrap_err();
    assert!(matches!(err, ClientError::RateLimited { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("rate limit") && text.contains("berth login"),
        "{text}"
    );
}

#[test]
fn redirect_to_another_host_drops_authorization() {
    let layer = random_bytes(50_000, 13);
    let (manifests, blobs, ldesc) = one_layer(layer.clone());
    let cdn_bytes = layer.clone();
    let cdn = FakeServer::start(move |req| serve_range(req, &cdn_bytes));
    let cdn_url = format!("http://{}/blob-data", cdn.host());
    let layer_path = format!("/blobs/{}", ldesc.digest);
    let realm = Arc::new(std::sync::Mutex::new(String::new()));
    let realm2 = realm.clone();
    let srv = registry(manifests, blobs, move |req| {
        if req.path.starts_with("/token") {
            return Some(Reply::new(200).body(r#"{"token":"T0KEN","expires_in":300}"#));
        }
        if req.header("authorization") != Some("Bearer T0KEN") {
            let challenge = format!(
                r#"Bearer realm="{}",service="fake""#,
                realm2.lock().unwrap()
            );
            return Some(Reply::new(401).header("WWW-Authenticate", &challenge));
        }
        req.path
            .ends_with(&layer_path)
            .then(|| Reply::new(307).header("Location", &cdn_url))
    });
    *realm.lock().unwrap() = format!("http://{}/token", srv.host());
    let tmp = tempfile::tempdir().unwrap();
    let sink = BlobDir::open(tmp.path().join("sink")).unwrap();
    client()
        .pull(&reference(&srv, "x/app"), &Platform::host(), &sink, &quiet)
        .unwrap();
    assert_blob(&sink, &ldesc, &layer);
    let at_cdn = cdn.recorded();
    assert_eq!(at_cdn.len(), 1);
    assert_eq!(
        at_cdn[0].header("authorization"),
        None,
        "credentials leaked to {:?}",
        at_cdn[0]
    );
    let token_reqs: Vec<Recorded> = srv
        .recorded()
        .into_iter()
        .filter(|r| r.path.starts_with("/token"))
        .collect();
    assert_eq!(token_reqs.len(), 1, "the token is cached for its scope");
    let token_req = &token_reqs[0];
    assert!(
        token_req.path.contains("scope=repository%3Ax%2Fapp%3Apull"),
        "{}",
        token_req.path
    );
    assert!(token_req.path.contains("service=fake"));
}

#[test]
fn index_platform_selection_skips_attestations() {
    let (mut manifests, blobs, ldesc) = one_layer(random_bytes(1000, 14));
    let image = manifests["latest"].1.clone();
    let entry = |platform: serde_json::Value| serde_json::json!({"mediaType": OCI_MANIFEST, "digest": Digest::of(&image), "size": image.len(), "platform": platform});
    let other = serde_json::json!({"mediaType": OCI_MANIFEST, "digest": Digest::of(b"nope"), "size": 4, "platform": {"os":"linux","architecture":"amd64"}});
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [entry(serde_json::json!({"os":"unknown","architecture":"unknown"})), other, entry(serde_json::json!({"os":"linux","architecture":"arm64","variant":"v8"}))],
    }))
    .unwrap();
    manifests.insert("multi".to_owned(), (OCI_INDEX.to_owned(), index.clone()));
    let srv = registry(manifests, blobs, |_| None);
    let tmp = tempfile::tempdir().unwrap();
    let sink = BlobDir::open(tmp.path()).unwrap();
    let c = client();
    let pulled = c
        .pull(
            &reference(&srv, "x/app:multi"),
            &Platform::parse("linux/arm64").unwrap(),
            &sink,
            &quiet,
        )
        .unwrap();
    assert_eq!(pulled.manifest_digest, Digest::of(&image));
    assert_eq!(
        pulled.index.as_ref().map(|i| i.digest.clone()),
        Some(Digest::of(&index))
    );
    assert!(pulled
        .repo_digest
        .ends_with(&Digest::of(&index).to_string()));
    assert!(sink.has_blob(&ldesc.digest));
    let err = c
        .pull(
            &reference(&srv, "x/app:multi"),
            &Platform::parse("linux/s390x").unwrap(),
            &sink,
            &quiet,
        )
        .unwrap_err();
    assert!(
        matches!(err, ClientError::NoMatchingPlatform { .. }),
        "{err}"
    );
    assert!(!err.to_string().contains("unknown/unknown"), "{err}");
}

#[test]
fn layers_download_in_parallel() {
    let layers: Vec<Vec<u8>> = (0..3).map(|i| random_bytes(10_000, 20 + i)).collect();
    let descs: Vec<Descriptor> = layers
        .iter()
        .map(|l| Descriptor::of("application/vnd.oci.image.layer.v1.tar+gzip", l))
        .collect();
    let config = b"{}".to_vec();
    let cdesc = Descriptor::of("application/vnd.oci.image.config.v1+json", &config);
    let manifest = serde_json::to_vec(&serde_json::json!({"schemaVersion":2,"mediaType":OCI_MANIFEST,"config":cdesc,"layers":descs})).unwrap();
    let manifests = HashMap::from([("latest".to_owned(), (OCI_MANIFEST.to_owned(), manifest))]);
    let mut blobs: HashMap<Digest, Vec<u8>> =
        descs.iter().map(|d| d.digest.clone()).zip(layers).collect();
    blobs.insert(cdesc.digest.clone(), config);
    let slow: Vec<String> = descs
        .iter()
        .map(|d| format!("/blobs/{}", d.digest))
        .collect();
    let blobs2 = blobs.clone();
    let srv = registry(manifests, blobs, move |req| {
        let d = slow.iter().position(|p| req.path.ends_with(p))?;
        let _ = d;
        let digest: Digest = req.path.rsplit('/').next()?.parse().ok()?;
        Some(serve_range(req, &blobs2[&digest]).delay(Duration::from_millis(400)))
    });
    let tmp = tempfile::tempdir().unwrap();
    let sink = BlobDir::open(tmp.path()).unwrap();
    let started = Instant::now();
    client()
        .pull(&reference(&srv, "x/app"), &Platform::host(), &sink, &quiet)
        .unwrap();
    assert!(srv.max_concurrent.load(std::sync::atomic::Ordering::SeqCst) >= 2);
    assert!(
        started.elapsed() < Duration::from_millis(1100),
        "{:?}",
        started.elapsed()
    );
    for d in &descs {
        assert!(sink.has_blob(&d.digest));
    }
}
