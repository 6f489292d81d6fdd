//! Many instances over one S3 bucket (issue 16): two `registry serve` instances, each with its
//! own local root, share a bucket of a real S3 server (moto, started here). What one takes,
//! the other serves: pushes, chunked uploads, tokens; an upload survives a restart; a bad
//! digest leaves nothing behind.
#![allow(clippy::unwrap_used)] // test helpers panic on setup failures by design

mod common;

use std::path::Path;

use berth_registry::blob::BlobDir;
use berth_registry::platform::Platform;
use berth_registry::server::{self, GcOptions, ServerConfig, ServerHandle, Storage};
use berth_registry::{Digest, Reference};
use common::moto::{moto, moto_with_auth, Moto};
use common::*;

const BUCKET: &str = "registry";
const PREFIX: &str = "shared/reg";

fn instance(m: &Moto, root: &Path, tweak: impl FnOnce(&mut ServerConfig)) -> ServerHandle {
    start_server(root, |c| {
        c.s3 = Some(m.config(BUCKET, PREFIX));
        tweak(c);
    })
}

/// Moto with a bucket and two instances over it.
fn pair(tmp: &Path) -> Option<(Moto, ServerHandle, ServerHandle)> {
    let m = moto()?;
    m.bucket(BUCKET);
    let a = instance(&m, &tmp.join("a"), |_| {});
    let b = instance(&m, &tmp.join("b"), |_| {});
    Some((m, a, b))
}

/// (status, headers we read, body) of a request that may fail.
fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Option<String>, Option<String>, Vec<u8>) {
    let mut req = ureq::request(method, url);
    for (k, v) in headers {
        req = req.set(k, v);
    }
    let resp = match req.send_bytes(body) {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {url}: {e}"),
    };
    let status = resp.status();
    let location = resp.header("Location").map(str::to_owned);
    let range = resp.header("Range").map(str::to_owned);
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut resp.into_reader(), &mut out).unwrap();
    (status, location, range, out)
}

#[test]
fn push_through_one_instance_pull_through_the_other() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((m, a, b)) = pair(tmp.path()) else {
        return;
    };
    // A layer bigger than one multipart part (8 MiB), and a small one.
    let image = make_image(&tmp.path().join("img"), &[9 << 20, 3000], 7);
    let on =
        |srv: &ServerHandle, s: &str| Reference::parse(&format!("{}/{s}", srv.host())).unwrap();
    let client = client();
    let pushed = client
        .push(
            &on(&a, "alice/app:v1"),
            &image.push_image(),
            &image.blobs,
            &quiet,
        )
        .unwrap();

    let sink = BlobDir::open(tmp.path().join("sink")).unwrap();
    let pulled = client
        .pull(&on(&b, "alice/app:v1"), &Platform::host(), &sink, &quiet)
        .unwrap();
    assert_eq!(pulled.manifest_digest, pushed);
    assert_eq!(pulled.manifest_bytes, image.manifest);
    for d in image.layers.iter().chain([&image.config]) {
        assert_blob(&sink, d, &image.blobs.read(&d.digest).unwrap());
    }
    // The same registry through either: catalog, tags, and the layout under the prefix.
    for srv in [&a, &b] {
        let (status, _, _, body) = send("GET", &format!("{}/v2/_catalog", srv.url()), &[], b"");
        assert_eq!(status, 200);
        assert!(String::from_utf8_lossy(&body).contains("alice/app"));
        assert_eq!(srv.storage().tags("alice/app").unwrap().unwrap(), ["v1"]);
    }
    let keys = m.keys(BUCKET, PREFIX);
    let layer = format!("{PREFIX}/blobs/sha256/{}", image.layers[0].digest.hex());
    assert!(keys.contains(&layer), "{keys:?}");
    assert!(keys.contains(&format!(
        "{PREFIX}/repositories/alice/app/_manifests/tags/v1"
    )));
    assert!(
        !keys.iter().any(|k| k.contains("/uploads/")),
        "finished uploads leave no parts: {keys:?}"
    );
    // Nothing of the registry's went to the local roots.
    for root in ["a", "b"] {
        assert!(!tmp.path().join(root).join("blobs").exists());
    }
    // A ranged read through B, straight from the bucket.
    let (status, _, _, body) = send(
        "GET",
        &format!("{}/v2/alice/app/blobs/{}", b.url(), image.layers[0].digest),
        &[("Range", "bytes=1000-1999")],
        b"",
    );
    assert_eq!(status, 206);
    assert_eq!(
        body,
        image.blobs.read(&image.layers[0].digest).unwrap()[1000..2000]
    );
}

/// POST + PATCH on one instance, PATCH + PUT on another: the blob reads back identical.
#[test]
fn a_chunked_upload_moves_between_instances() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((_m, a, b)) = pair(tmp.path()) else {
        return;
    };
    let data = random_bytes(6 << 20, 11);
    let digest = Digest::of(&data);
    let (status, location, _, _) = send(
        "POST",
        &format!("{}/v2/bob/blob/blobs/uploads/", a.url()),
        &[],
        b"",
    );
    assert_eq!(status, 202);
    let location = location.unwrap();
    let (status, _, range, _) = send(
        "PATCH",
        &format!("{}{location}", a.url()),
        &[("Content-Range", "0-2097151")],
        &data[..2 << 20],
    );
    assert_eq!((status, range.as_deref()), (202, Some("0-2097151")));
    // B knows the upload and where it stands.
    let (status, _, range, _) = send("GET", &format!("{}{location}", b.url()), &[], b"");
    assert_eq!((status, range.as_deref()), (204, Some("0-2097151")));
    // A chunk that does not follow is refused by either.
    let (status, _, _, _) = send(
        "PATCH",
        &format!("{}{location}", b.url()),
        &[("Content-Range", "100-199")],
        &data[100..200],
    );
    assert_eq!(status, 416);
    let (status, _, range, _) = send(
        "PATCH",
        &format!("{}{location}", b.url()),
        &[("Content-Range", "2097152-5242879")],
        &data[2 << 20..5 << 20],
    );
    assert_eq!((status, range.as_deref()), (202, Some("0-5242879")));
    let (status, _, _, body) = send(
        "PUT",
        &format!("{}{location}?digest={digest}", b.url()),
        &[],
        &data[5 << 20..],
    );
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let (status, _, _, body) = send(
        "GET",
        &format!("{}/v2/bob/blob/blobs/{digest}", a.url()),
        &[],
        b"",
    );
    assert_eq!(status, 200);
    assert!(body == data, "the blob read back differs");
    // The session is over on both.
    for srv in [&a, &b] {
        let (status, _, _, _) = send("GET", &format!("{}{location}", srv.url()), &[], b"");
        assert_eq!(status, 404);
    }
}

#[test]
fn an_upload_survives_a_restart_of_the_instance_that_took_it() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(m) = moto() else {
        return;
    };
    m.bucket(BUCKET);
    let root = tmp.path().join("a");
    let a = instance(&m, &root, |_| {});
    let data = random_bytes(300_000, 5);
    let digest = Digest::of(&data);
    let (_, location, _, _) = send(
        "POST",
        &format!("{}/v2/carol/x/blobs/uploads/", a.url()),
        &[],
        b"",
    );
    let location = location.unwrap();
    let (status, _, _, _) = send(
        "PATCH",
        &format!("{}{location}", a.url()),
        &[],
        &data[..100_000],
    );
    assert_eq!(status, 202);
    a.stop();

    // The same instance, restarted: nothing of the upload was in its memory.
    let again = instance(&m, &root, |_| {});
    let (status, _, range, _) = send(
        "PATCH",
        &format!("{}{location}", again.url()),
        &[],
        &data[100_000..],
    );
    assert_eq!((status, range.as_deref()), (202, Some("0-299999")));
    let (status, _, _, body) = send(
        "PUT",
        &format!("{}{location}?digest={digest}", again.url()),
        &[],
        b"",
    );
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    assert_eq!(again.storage().blob_size(&digest), Some(300_000));
}

#[test]
fn tokens_from_one_instance_work_on_the_other() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(m) = moto() else {
        return;
    };
    m.bucket(BUCKET);
    let users = tmp.path().join("htpasswd");
    let hash = bcrypt::hash("alice-pw", 4).unwrap();
    std::fs::write(&users, format!("alice:{hash}\n")).unwrap();
    let a = instance(&m, &tmp.path().join("a"), |c| {
        c.htpasswd = Some(users.clone())
    });
    let b = instance(&m, &tmp.path().join("b"), |c| {
        c.htpasswd = Some(users.clone())
    });

    // Log in and push through A, pull through B with the same credentials.
    let alice = client_with(
        berth_registry::client::CredentialStore::in_dir(tmp.path().join("cfg")),
        |_| {},
    );
    alice.login(&a.host(), "alice", "alice-pw").unwrap();
    alice.login(&b.host(), "alice", "alice-pw").unwrap();
    let image = make_image(&tmp.path().join("img"), &[50_000], 9);
    let ra = Reference::parse(&format!("{}/alice/app:1", a.host())).unwrap();
    alice
        .push(&ra, &image.push_image(), &image.blobs, &quiet)
        .unwrap();

    // A token A signed, presented to B.
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode("alice:alice-pw");
    let (status, _, _, body) = send(
        "GET",
        &format!(
            "{}/token?service=berth-registry&scope=repository:alice/app:pull",
            a.url()
        ),
        &[("Authorization", &format!("Basic {basic}"))],
        b"",
    );
    assert_eq!(status, 200);
    let token = serde_json::from_slice::<serde_json::Value>(&body).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let tags = format!("{}/v2/alice/app/tags/list", b.url());
    let bearer = format!("Bearer {token}");
    let (status, _, _, body) = send("GET", &tags, &[("Authorization", &bearer)], b"");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    // A token nobody signed is still refused.
    let (status, _, _, _) = send("GET", &tags, &[("Authorization", "Bearer x.y")], b"");
    assert_eq!(status, 401);
    // One key, in the bucket; none in the local roots.
    assert!(m
        .keys(BUCKET, PREFIX)
        .contains(&format!("{PREFIX}/token.key")));
    assert!(!tmp.path().join("a/token.key").exists());
}

#[test]
fn a_bad_digest_leaves_no_blob_and_no_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((m, a, b)) = pair(tmp.path()) else {
        return;
    };
    let data = random_bytes(10_000, 3);
    let real = Digest::of(&data);
    let claimed = Digest::of(b"something else");
    let (_, location, _, _) = send(
        "POST",
        &format!("{}/v2/dave/app/blobs/uploads/", a.url()),
        &[],
        b"",
    );
    let location = location.unwrap();
    send("PATCH", &format!("{}{location}", a.url()), &[], &data);
    let (status, _, _, body) = send(
        "PUT",
        &format!("{}{location}?digest={claimed}", b.url()),
        &[],
        b"",
    );
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("DIGEST_INVALID"));
    for d in [&real, &claimed] {
        for srv in [&a, &b] {
            let (status, _, _, _) = send(
                "HEAD",
                &format!("{}/v2/dave/app/blobs/{d}", srv.url()),
                &[],
                b"",
            );
            assert_eq!(status, 404);
            assert_eq!(srv.storage().blob_size(d), None);
        }
    }
    // A manifest naming the blob that never was is refused, and nothing of it is visible.
    let config = serde_json::json!({
        "mediaType": "application/vnd.oci.image.config.v1+json",
        "digest": claimed.to_string(), "size": data.len(),
    });
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config, "layers": [],
    }))
    .unwrap();
    let (status, _, _, body) = send(
        "PUT",
        &format!("{}/v2/dave/app/manifests/v1", b.url()),
        &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
        &manifest,
    );
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("MANIFEST_BLOB_UNKNOWN"));
    let (status, _, _, _) = send(
        "GET",
        &format!("{}/v2/dave/app/manifests/v1", a.url()),
        &[],
        b"",
    );
    assert_eq!(status, 404);
    let keys = m.keys(BUCKET, PREFIX);
    assert!(
        !keys
            .iter()
            .any(|k| k.contains("/blobs/") || k.contains("/uploads/")),
        "left behind: {keys:?}"
    );
}

/// The admin side over the bucket: gc removes what no manifest needs, a repository goes
/// whole.
#[test]
fn gc_and_repository_removal_work_on_the_bucket() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((m, a, _b)) = pair(tmp.path()) else {
        return;
    };
    let image = make_image(&tmp.path().join("img"), &[40_000], 4);
    let r = Reference::parse(&format!("{}/erin/app:1", a.host())).unwrap();
    let pushed = client()
        .push(&r, &image.push_image(), &image.blobs, &quiet)
        .unwrap();
    // Offline, as `berth registry gc --storage s3://…` opens it.
    let store = Storage::open_s3(m.config(BUCKET, PREFIX), tmp.path().join("admin")).unwrap();
    let now = GcOptions {
        grace: std::time::Duration::ZERO,
        ..GcOptions::default()
    };
    let report = store.gc(&now).unwrap();
    assert!(report.blobs_removed.is_empty(), "{report:?}");
    assert_eq!(report.blobs_kept, 3);

    assert!(store.remove_repository("erin/app").unwrap());
    assert!(!store.repo_exists("erin/app"));
    assert!(store.repositories().unwrap().is_empty());
    let report = store.gc(&now).unwrap();
    assert_eq!(report.blobs_removed.len(), 3, "{report:?}");
    assert!(report.blobs_removed.contains(&pushed));
    let keys = m.keys(BUCKET, PREFIX);
    assert!(
        !keys
            .iter()
            .any(|k| k.contains("/blobs/") || k.contains("/repositories/")),
        "left behind: {keys:?}"
    );
}

#[test]
fn an_unreachable_store_or_a_missing_bucket_is_named_at_startup() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(m) = moto() else {
        return;
    };
    let mut cfg = ServerConfig::new(tmp.path().join("a"), "127.0.0.1:0".parse().unwrap());
    cfg.s3 = Some(m.config("no-such-bucket", ""));
    let err = server::start(cfg.clone()).unwrap_err().to_string();
    assert!(
        err.contains("no-such-bucket") && err.contains("NoSuchBucket"),
        "{err}"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut s3 = m.config(BUCKET, "");
    s3.endpoint = Some(format!("http://127.0.0.1:{port}"));
    cfg.s3 = Some(s3);
    let err = server::start(cfg).unwrap_err().to_string();
    assert!(
        err.contains(BUCKET)
            && err.contains(&format!("127.0.0.1:{port}"))
            && err.contains("cannot reach"),
        "{err}"
    );
}

/// The protocol's other paths over the bucket, split across the two instances: single-POST
/// uploads (an empty blob too), a cross-repository mount, tags and their pagination, referrers,
/// and deletes of a tag, a manifest and a blob link.
#[test]
fn the_rest_of_the_protocol_over_the_bucket() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((_m, a, b)) = pair(tmp.path()) else {
        return;
    };
    let url = |srv: &ServerHandle, path: &str| format!("{}{path}", srv.url());
    let blob = |srv: &ServerHandle, repo: &str, data: &[u8]| {
        let d = Digest::of(data);
        let (status, _, _, body) = send(
            "POST",
            &url(srv, &format!("/v2/{repo}/blobs/uploads/?digest={d}")),
            &[],
            data,
        );
        assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
        d
    };
    let config = br#"{"architecture":"amd64","os":"linux"}"#;
    let cfg = blob(&a, "f/app", config);
    let empty = blob(&b, "f/app", b"");
    assert_eq!(b.storage().blob_size(&empty), Some(0));
    let layer = random_bytes(70_000, 21);
    let layer_d = blob(&a, "f/app", &layer);
    let desc = |media: &str, d: &Digest, size: usize| serde_json::json!({"mediaType": media, "digest": d.to_string(), "size": size});
    let manifest = |extra: serde_json::Value| {
        let mut m = serde_json::json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": desc("application/vnd.oci.image.config.v1+json", &cfg, config.len()),
            "layers": [desc("application/vnd.oci.image.layer.v1.tar+gzip", &layer_d, layer.len())],
        });
        if let (Some(m), Some(e)) = (m.as_object_mut(), extra.as_object()) {
            m.extend(e.clone());
        }
        serde_json::to_vec(&m).unwrap()
    };
    let put = |srv: &ServerHandle, reference: &str, bytes: &[u8]| {
        let (status, _, _, body) = send(
            "PUT",
            &url(srv, &format!("/v2/f/app/manifests/{reference}")),
            &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
            bytes,
        );
        assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
        Digest::of(bytes)
    };
    let image = manifest(serde_json::json!({}));
    let image_d = put(&a, "t1", &image);
    put(&b, "t2", &image);
    put(&a, "t3", &image);
    let (_, _, _, body) = send("GET", &url(&b, "/v2/f/app/tags/list?n=2"), &[], b"");
    let tags: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(tags["tags"], serde_json::json!(["t1", "t2"]));
    let (_, _, _, body) = send("GET", &url(&a, "/v2/f/app/tags/list?n=2&last=t2"), &[], b"");
    let tags: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(tags["tags"], serde_json::json!(["t3"]));

    // A signature whose subject is the image, listed by the other instance.
    let sig = manifest(serde_json::json!({
        "artifactType": "application/vnd.example.sig",
        "subject": desc("application/vnd.oci.image.manifest.v1+json", &image_d, image.len()),
    }));
    let sig_d = put(&a, &Digest::of(&sig).to_string(), &sig);
    let (status, _, _, body) = send(
        "GET",
        &url(&b, &format!("/v2/f/app/referrers/{image_d}")),
        &[],
        b"",
    );
    assert_eq!(status, 200);
    let index: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(index["manifests"][0]["digest"], sig_d.to_string());

    // Mount into another repository through B, read through A.
    let (status, _, _, _) = send(
        "POST",
        &url(
            &b,
            &format!("/v2/g/app/blobs/uploads/?mount={layer_d}&from=f/app"),
        ),
        &[],
        b"",
    );
    assert_eq!(status, 201);
    let (status, _, _, body) = send(
        "GET",
        &url(&a, &format!("/v2/g/app/blobs/{layer_d}")),
        &[],
        b"",
    );
    assert_eq!(status, 200);
    assert!(body == layer);

    // Deletes, each seen by the other instance.
    let (status, _, _, _) = send("DELETE", &url(&a, "/v2/f/app/manifests/t3"), &[], b"");
    assert_eq!(status, 202);
    let (status, _, _, _) = send("GET", &url(&b, "/v2/f/app/manifests/t3"), &[], b"");
    assert_eq!(status, 404);
    let (status, _, _, _) = send(
        "DELETE",
        &url(&b, &format!("/v2/f/app/manifests/{sig_d}")),
        &[],
        b"",
    );
    assert_eq!(status, 202);
    let (_, _, _, body) = send(
        "GET",
        &url(&a, &format!("/v2/f/app/referrers/{image_d}")),
        &[],
        b"",
    );
    let index: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(index["manifests"], serde_json::json!([]));
    let (status, _, _, _) = send(
        "DELETE",
        &url(&b, &format!("/v2/g/app/blobs/{layer_d}")),
        &[],
        b"",
    );
    assert_eq!(status, 202);
    let (status, _, _, _) = send(
        "HEAD",
        &url(&a, &format!("/v2/g/app/blobs/{layer_d}")),
        &[],
        b"",
    );
    assert_eq!(status, 404);
    let (status, _, _, _) = send(
        "DELETE",
        &url(&a, &format!("/v2/g/app/blobs/{layer_d}")),
        &[],
        b"",
    );
    assert_eq!(status, 404);
    // Still whole in the repository it came from.
    let (status, _, _, _) = send(
        "HEAD",
        &url(&b, &format!("/v2/f/app/blobs/{layer_d}")),
        &[],
        b"",
    );
    assert_eq!(status, 200);
}

/// Against a moto that checks every signature: the whole push and pull path signs right (list,
/// get, ranged get, head, put, conditional put, copy, multipart, delete), and refused
/// credentials stop an instance at startup with S3's reason.
#[test]
fn signatures_are_checked_and_refused_credentials_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((m, key, secret)) = moto_with_auth(BUCKET) else {
        return;
    };
    let creds = |key: &str, secret: &str| {
        let mut c = m.config(BUCKET, PREFIX);
        c.access_key = key.to_owned();
        c.secret_key = secret.to_owned();
        c
    };
    let a = start_server(&tmp.path().join("a"), |c| c.s3 = Some(creds(&key, &secret)));
    let image = make_image(&tmp.path().join("img"), &[9 << 20, 2000], 17);
    let r = Reference::parse(&format!("{}/sig/app:1", a.host())).unwrap();
    client()
        .push(&r, &image.push_image(), &image.blobs, &quiet)
        .unwrap();
    let sink = BlobDir::open(tmp.path().join("sink")).unwrap();
    client().pull(&r, &Platform::host(), &sink, &quiet).unwrap();
    assert_blob(
        &sink,
        &image.layers[0],
        &image.blobs.read(&image.layers[0].digest).unwrap(),
    );
    let (status, _, _, _) = send(
        "GET",
        &format!("{}/v2/sig/app/blobs/{}", a.url(), image.layers[0].digest),
        &[("Range", "bytes=5-9")],
        b"",
    );
    assert_eq!(status, 206);
    assert!(a.storage().remove_repository("sig/app").unwrap());

    let start = |s3| {
        let mut cfg = ServerConfig::new(tmp.path().join("b"), "127.0.0.1:0".parse().unwrap());
        cfg.s3 = Some(s3);
        server::start(cfg).unwrap_err().to_string()
    };
    let err = start(creds(&key, "not-the-secret"));
    assert!(
        err.contains(BUCKET) && err.contains("SignatureDoesNotMatch"),
        "{err}"
    );
    let err = start(creds("AKIANOSUCHKEY0000000", &secret));
    assert!(
        err.contains(BUCKET) && err.contains("InvalidAccessKeyId"),
        "{err}"
    );
}
