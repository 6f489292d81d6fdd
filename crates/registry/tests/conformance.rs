//! The server against the distribution spec, request by request: the upload state machine,
//! manifests, tags and catalog pagination, referrers, error bodies, and garbage collection.
#![allow(clippy::unwrap_used)] // test helpers panic on setup failures by design

mod common;

use berth_registry::manifest::{Descriptor, DOCKER_MANIFEST, OCI_MANIFEST};
use berth_registry::server::{GcOptions, ServerHandle};
use berth_registry::Digest;
use common::*;

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    fn error_code(&self) -> String {
        self.json()["errors"][0]["code"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    }
}

fn call(
    srv: &ServerHandle,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    let url = if path.starts_with("http") {
        path.to_owned()
    } else {
        format!("{}{path}", srv.url())
    };
    let mut req = agent.request(method, &url);
    for (k, v) in headers {
        req = req.set(k, v);
    }
    let resp = match if body.is_empty() && method == "GET" || method == "HEAD" || method == "DELETE"
    {
        req.call()
    } else {
        req.send_bytes(body)
    } {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {path}: {e}"),
    };
    let status = resp.status();
    let headers = resp
        .headers_names()
        .into_iter()
        .map(|n| (n.clone(), resp.header(&n).unwrap_or("").to_owned()))
        .collect();
    let mut body = Vec::new();
    std::io::Read::read_to_end(&mut resp.into_reader(), &mut body).unwrap();
    Resp {
        status,
        headers,
        body,
    }
}

fn upload_blob(srv: &ServerHandle, repo: &str, bytes: &[u8]) -> Digest {
    let d = Digest::of(bytes);
    let r = call(
        srv,
        "POST",
        &format!("/v2/{repo}/blobs/uploads/?digest={d}"),
        &[],
        bytes,
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    d
}

#[test]
fn upload_state_machine() {
    let tmp = tempfile::tempdir().unwrap();
    let srv = start_server(tmp.path(), |_| {});
    let data: Vec<u8> = (0..30u8).collect();

    let r = call(&srv, "POST", "/v2/c/repo/blobs/uploads/", &[], b"");
    assert_eq!(r.status, 202);
    let loc = r.header("location").unwrap().to_owned();
    assert!(loc.starts_with("/v2/c/repo/blobs/uploads/"), "{loc}");
    assert!(r.header("docker-upload-uuid").is_some());
    assert_eq!(r.header("range"), Some("0-0"));

    let r = call(
        &srv,
        "PATCH",
        &loc,
        &[
            ("Content-Range", "0-9"),
            ("Content-Type", "application/octet-stream"),
        ],
        &data[..10],
    );
    assert_eq!((r.status, r.header("range")), (202, Some("0-9")));
    let loc = r.header("location").unwrap().to_owned();
    let r = call(
        &srv,
        "PATCH",
        &loc,
        &[("Content-Range", "20-29")],
        &data[20..],
    );
    assert_eq!(
        (r.status, r.header("range")),
        (416, Some("0-9")),
        "out of order"
    );
    let r = call(&srv, "GET", &loc, &[], b"");
    assert_eq!((r.status, r.header("range")), (204, Some("0-9")));
    let r = call(
        &srv,
        "PATCH",
        &loc,
        &[("Content-Range", "10-19")],
        &data[10..20],
    );
    assert_eq!(r.status, 202);
    // The last chunk rides on the PUT.
    let d = Digest::of(&data);
    let r = call(
        &srv,
        "PUT",
        &format!("{loc}?digest={d}"),
        &[("Content-Range", "20-29")],
        &data[20..],
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.header("location"),
        Some(format!("/v2/c/repo/blobs/{d}").as_str())
    );
    assert_eq!(
        r.header("docker-content-digest"),
        Some(d.to_string().as_str())
    );
    assert_eq!(
        call(&srv, "GET", &loc, &[], b"").status,
        404,
        "finished upload is gone"
    );

    // A wrong digest is refused and the upload is dropped.
    let r = call(&srv, "POST", "/v2/c/repo/blobs/uploads/", &[], b"");
    let loc2 = r.header("location").unwrap().to_owned();
    call(&srv, "PATCH", &loc2, &[], b"some bytes");
    let r = call(
        &srv,
        "PUT",
        &format!("{loc2}?digest={}", Digest::of(b"other")),
        &[],
        b"",
    );
    assert_eq!((r.status, r.error_code().as_str()), (400, "DIGEST_INVALID"));
    let r = call(&srv, "GET", &loc2, &[], b"");
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (404, "BLOB_UPLOAD_UNKNOWN")
    );
    assert!(
        srv.storage()
            .blob_size(&Digest::of(b"some bytes"))
            .is_none(),
        "nothing visible"
    );

    // Cancel.
    let r = call(&srv, "POST", "/v2/c/repo/blobs/uploads/", &[], b"");
    let loc3 = r.header("location").unwrap().to_owned();
    assert_eq!(call(&srv, "DELETE", &loc3, &[], b"").status, 204);
    assert_eq!(call(&srv, "GET", &loc3, &[], b"").status, 404);
    // POST then monolithic PUT.
    let r = call(&srv, "POST", "/v2/c/repo/blobs/uploads/", &[], b"");
    let loc4 = r.header("location").unwrap().to_owned();
    let mono = b"monolithic body";
    let r = call(
        &srv,
        "PUT",
        &format!("{loc4}?digest={}", Digest::of(mono)),
        &[],
        mono,
    );
    assert_eq!(r.status, 201);
    // Cross-repository mount, and its fallback to a plain upload.
    let r = call(
        &srv,
        "POST",
        &format!("/v2/c/other/blobs/uploads/?mount={d}&from=c/repo"),
        &[],
        b"",
    );
    assert_eq!(
        (r.status, r.header("docker-content-digest")),
        (201, Some(d.to_string().as_str()))
    );
    let r = call(
        &srv,
        "POST",
        &format!(
            "/v2/c/other/blobs/uploads/?mount={}&from=c/none",
            Digest::of(b"x")
        ),
        &[],
        b"",
    );
    assert_eq!(r.status, 202);
}

#[test]
fn blobs_head_get_range_delete_and_error_bodies() {
    let tmp = tempfile::tempdir().unwrap();
    let srv = start_server(tmp.path(), |_| {});
    let data = random_bytes(1000, 1);
    let d = upload_blob(&srv, "b/repo", &data);
    let path = format!("/v2/b/repo/blobs/{d}");
    let r = call(&srv, "HEAD", &path, &[], b"");
    assert_eq!((r.status, r.header("content-length")), (200, Some("1000")));
    assert_eq!(
        r.header("docker-content-digest"),
        Some(d.to_string().as_str())
    );
    let r = call(&srv, "GET", &path, &[], b"");
    assert_eq!((r.status, r.body.as_slice()), (200, data.as_slice()));
    let r = call(&srv, "GET", &path, &[("Range", "bytes=100-199")], b"");
    assert_eq!(
        (r.status, r.header("content-range")),
        (206, Some("bytes 100-199/1000"))
    );
    assert_eq!(r.body, &data[100..200]);
    let r = call(&srv, "GET", &path, &[("Range", "bytes=5000-")], b"");
    assert_eq!(
        (r.status, r.header("content-range")),
        (416, Some("bytes */1000"))
    );
    // Not linked to another repository, even though the content exists.
    let r = call(&srv, "GET", &format!("/v2/b/elsewhere/blobs/{d}"), &[], b"");
    assert_eq!((r.status, r.error_code().as_str()), (404, "BLOB_UNKNOWN"));
    assert_eq!(r.json()["errors"][0]["detail"]["digest"], d.to_string());
    assert!(r.json()["errors"][0]["message"].is_string());
    assert_eq!(call(&srv, "DELETE", &path, &[], b"").status, 202);
    assert_eq!(call(&srv, "HEAD", &path, &[], b"").status, 404);
    let r = call(&srv, "GET", "/v2/b/repo/blobs/sha256:zz", &[], b"");
    assert_eq!((r.status, r.error_code().as_str()), (400, "DIGEST_INVALID"));
    let r = call(&srv, "GET", "/v2/Bad_Name/tags/list", &[], b"");
    assert_eq!((r.status, r.error_code().as_str()), (400, "NAME_INVALID"));
    let r = call(&srv, "PUT", "/v2/_catalog", &[], b"x");
    assert_eq!((r.status, r.error_code().as_str()), (405, "UNSUPPORTED"));
}

fn put_image(
    srv: &ServerHandle,
    repo: &str,
    tag: &str,
    media_type: &str,
    seed: u64,
) -> (Digest, Vec<u8>) {
    let config = format!(r#"{{"seed":{seed}}}"#).into_bytes();
    let layer = random_bytes(500, seed);
    upload_blob(srv, repo, &config);
    upload_blob(srv, repo, &layer);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": media_type,
        "config": Descriptor::of("application/vnd.docker.container.image.v1+json", &config),
        "layers": [Descriptor::of("application/vnd.docker.image.rootfs.diff.tar.gzip", &layer)],
    }))
    .unwrap();
    let r = call(
        srv,
        "PUT",
        &format!("/v2/{repo}/manifests/{tag}"),
        &[("Content-Type", media_type)],
        &manifest,
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    (Digest::of(&manifest), manifest)
}

#[test]
fn manifests_by_tag_and_digest() {
    let tmp = tempfile::tempdir().unwrap();
    let srv = start_server(tmp.path(), |_| {});
    let (d, bytes) = put_image(&srv, "m/repo", "v1", DOCKER_MANIFEST, 1);
    for reference in ["v1".to_owned(), d.to_string()] {
        let r = call(
            &srv,
            "GET",
            &format!("/v2/m/repo/manifests/{reference}"),
            &[("Accept", DOCKER_MANIFEST)],
            b"",
        );
        assert_eq!(
            (r.status, r.header("content-type")),
            (200, Some(DOCKER_MANIFEST))
        );
        assert_eq!(r.body, bytes);
        assert_eq!(
            r.header("docker-content-digest"),
            Some(d.to_string().as_str())
        );
        let r = call(
            &srv,
            "HEAD",
            &format!("/v2/m/repo/manifests/{reference}"),
            &[],
            b"",
        );
        assert_eq!(
            (r.status, r.header("content-length")),
            (200, Some(bytes.len().to_string().as_str()))
        );
    }
    let missing = serde_json::json!({"schemaVersion":2,"mediaType":OCI_MANIFEST,"config":Descriptor::of("x", b"absent"),"layers":[]});
    let r = call(
        &srv,
        "PUT",
        "/v2/m/repo/manifests/bad",
        &[("Content-Type", OCI_MANIFEST)],
        missing.to_string().as_bytes(),
    );
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (400, "MANIFEST_BLOB_UNKNOWN")
    );
    // A descriptor whose size is not its blob's: refused, as distribution does.
    let config = b"{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}";
    upload_blob(&srv, "m/repo", config);
    let mut lying = Descriptor::of("application/vnd.oci.image.config.v1+json", config);
    lying.size += 1;
    let wrong_size =
        serde_json::json!({"schemaVersion":2,"mediaType":OCI_MANIFEST,"config":lying,"layers":[]});
    let r = call(
        &srv,
        "PUT",
        "/v2/m/repo/manifests/lies",
        &[("Content-Type", OCI_MANIFEST)],
        wrong_size.to_string().as_bytes(),
    );
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (400, "MANIFEST_INVALID"),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let r = call(
        &srv,
        "PUT",
        "/v2/m/repo/manifests/bad",
        &[("Content-Type", OCI_MANIFEST)],
        b"{not json",
    );
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (400, "MANIFEST_INVALID")
    );
    let r = call(
        &srv,
        "PUT",
        &format!("/v2/m/repo/manifests/{}", Digest::of(b"x")),
        &[("Content-Type", DOCKER_MANIFEST)],
        &bytes,
    );
    assert_eq!((r.status, r.error_code().as_str()), (400, "DIGEST_INVALID"));
    let r = call(&srv, "GET", "/v2/m/repo/manifests/bad", &[], b"");
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (404, "MANIFEST_UNKNOWN")
    );

    assert_eq!(
        call(&srv, "DELETE", "/v2/m/repo/manifests/v1", &[], b"").status,
        202
    );
    assert_eq!(
        call(&srv, "GET", "/v2/m/repo/manifests/v1", &[], b"").status,
        404
    );
    assert_eq!(
        call(&srv, "GET", &format!("/v2/m/repo/manifests/{d}"), &[], b"").status,
        200
    );
    assert_eq!(
        call(
            &srv,
            "DELETE",
            &format!("/v2/m/repo/manifests/{d}"),
            &[],
            b""
        )
        .status,
        202
    );
    assert_eq!(
        call(&srv, "GET", &format!("/v2/m/repo/manifests/{d}"), &[], b"").status,
        404
    );
}

#[test]
fn tags_and_catalog_paginate() {
    let tmp = tempfile::tempdir().unwrap();
    let srv = start_server(tmp.path(), |_| {});
    for (i, tag) in ["t0", "t1", "t2", "t3", "t4"].iter().enumerate() {
        put_image(&srv, "p/repo", tag, OCI_MANIFEST, i as u64);
    }
    put_image(&srv, "a/one", "x", OCI_MANIFEST, 9);
    put_image(&srv, "z", "x", OCI_MANIFEST, 9);
    let mut path = "/v2/p/repo/tags/list?n=2".to_owned();
    let mut pages = Vec::new();
    loop {
        let r = call(&srv, "GET", &path, &[], b"");
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["name"], "p/repo");
        pages.push(
            r.json()["tags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap().to_owned())
                .collect::<Vec<_>>(),
        );
        match r.header("link") {
            Some(link) => {
                path = link
                    .trim_start_matches('<')
                    .split('>')
                    .next()
                    .unwrap()
                    .to_owned()
            }
            None => break,
        }
    }
    assert_eq!(pages, vec![vec!["t0", "t1"], vec!["t2", "t3"], vec!["t4"]]);
    let r = call(&srv, "GET", "/v2/p/repo/tags/list", &[], b"");
    assert_eq!(r.json()["tags"].as_array().unwrap().len(), 5);
    let r = call(&srv, "GET", "/v2/p/none/tags/list", &[], b"");
    assert_eq!((r.status, r.error_code().as_str()), (404, "NAME_UNKNOWN"));

    let r = call(&srv, "GET", "/v2/_catalog?n=2", &[], b"");
    assert_eq!(
        r.json()["repositories"],
        serde_json::json!(["a/one", "p/repo"])
    );
    assert_eq!(
        r.header("link"),
        Some(r#"</v2/_catalog?n=2&last=p/repo>; rel="next""#)
    );
    let r = call(&srv, "GET", "/v2/_catalog?n=2&last=p/repo", &[], b"");
    assert_eq!(r.json()["repositories"], serde_json::json!(["z"]));
    assert!(r.header("link").is_none());
}

#[test]
fn referrers_api() {
    let tmp = tempfile::tempdir().unwrap();
    let srv = start_server(tmp.path(), |_| {});
    let (subject, bytes) = put_image(&srv, "r/repo", "v1", OCI_MANIFEST, 1);
    let empty = b"{}";
    upload_blob(&srv, "r/repo", empty);
    let sig = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/vnd.example.sig",
        "config": Descriptor::of("application/vnd.oci.empty.v1+json", empty), "layers": [],
        "subject": Descriptor::of(OCI_MANIFEST, &bytes),
        "annotations": {"org.example": "yes"},
    }))
    .unwrap();
    let sig_d = Digest::of(&sig);
    let r = call(
        &srv,
        "PUT",
        &format!("/v2/r/repo/manifests/{sig_d}"),
        &[("Content-Type", OCI_MANIFEST)],
        &sig,
    );
    assert_eq!(
        (r.status, r.header("oci-subject")),
        (201, Some(subject.to_string().as_str()))
    );
    let r = call(
        &srv,
        "GET",
        &format!("/v2/r/repo/referrers/{subject}"),
        &[],
        b"",
    );
    assert_eq!(
        (r.status, r.header("content-type")),
        (200, Some("application/vnd.oci.image.index.v1+json"))
    );
    let list = r.json();
    assert_eq!(list["manifests"][0]["digest"], sig_d.to_string());
    assert_eq!(
        list["manifests"][0]["artifactType"],
        "application/vnd.example.sig"
    );
    assert_eq!(list["manifests"][0]["annotations"]["org.example"], "yes");
    let r = call(
        &srv,
        "GET",
        &format!("/v2/r/repo/referrers/{subject}?artifactType=application/other"),
        &[],
        b"",
    );
    assert_eq!(r.header("oci-filters-applied"), Some("artifactType"));
    assert_eq!(r.json()["manifests"], serde_json::json!([]));
    let r = call(
        &srv,
        "GET",
        &format!("/v2/r/repo/referrers/{}", Digest::of(b"none")),
        &[],
        b"",
    );
    assert_eq!(
        (r.status, r.json()["manifests"].clone()),
        (200, serde_json::json!([]))
    );
}

#[test]
fn gc_removes_only_unreferenced_blobs_past_their_grace() {
    let tmp = tempfile::tempdir().unwrap();
    let srv = start_server(tmp.path(), |_| {});
    let (_, kept) = put_image(&srv, "g/keep", "v1", OCI_MANIFEST, 1);
    let (gone_d, gone) = put_image(&srv, "g/gone", "v1", OCI_MANIFEST, 2);
    let pending = upload_blob(&srv, "g/push", b"uploaded, manifest not yet pushed");
    assert_eq!(
        call(
            &srv,
            "DELETE",
            &format!("/v2/g/gone/manifests/{gone_d}"),
            &[],
            b""
        )
        .status,
        202
    );

    let careful = srv.storage().gc(&GcOptions::default()).unwrap();
    assert!(
        careful.blobs_removed.is_empty(),
        "everything is within the grace period"
    );
    let report = srv
        .storage()
        .gc(&GcOptions {
            grace: std::time::Duration::ZERO,
            ..GcOptions::default()
        })
        .unwrap();
    let gone_manifest: serde_json::Value = serde_json::from_slice(&gone).unwrap();
    let gone_layer: Digest = gone_manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(report.blobs_removed.contains(&gone_d) && report.blobs_removed.contains(&gone_layer));
    assert!(report.blobs_removed.contains(&pending));
    assert_eq!(report.blobs_removed.len(), 4, "{report:?}");
    let kept_manifest: serde_json::Value = serde_json::from_slice(&kept).unwrap();
    let layer = kept_manifest["layers"][0]["digest"].as_str().unwrap();
    assert_eq!(
        call(&srv, "GET", &format!("/v2/g/keep/blobs/{layer}"), &[], b"").status,
        200
    );
    assert_eq!(
        call(&srv, "GET", "/v2/g/keep/manifests/v1", &[], b"").status,
        200
    );
    assert_eq!(
        call(
            &srv,
            "HEAD",
            &format!("/v2/g/gone/blobs/{gone_layer}"),
            &[],
            b""
        )
        .status,
        404
    );
}

#[test]
fn gc_during_pushes_keeps_every_pushed_image_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let srv = start_server(&tmp.path().join("srv"), |_| {});
    let stop = std::sync::atomic::AtomicBool::new(false);
    let opts = GcOptions {
        grace: std::time::Duration::from_secs(30),
        ..GcOptions::default()
    };
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut runs = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && runs < 500 {
                srv.storage().gc(&opts).unwrap();
                runs += 1;
            }
        });
        let c = client();
        for i in 0..6u64 {
            let image = make_image(
                &tmp.path().join(format!("img{i}")),
                &[200_000, 3000],
                100 + i,
            );
            let r = berth_registry::Reference::parse(&format!("{}/g/app:{i}", srv.host())).unwrap();
            c.push(&r, &image.push_image(), &image.blobs, &quiet)
                .unwrap();
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let c = client();
    for i in 0..6u64 {
        let r = berth_registry::Reference::parse(&format!("{}/g/app:{i}", srv.host())).unwrap();
        let sink =
            berth_registry::blob::BlobDir::open(tmp.path().join(format!("pull{i}"))).unwrap();
        c.pull(
            &r,
            &berth_registry::platform::Platform::host(),
            &sink,
            &quiet,
        )
        .unwrap();
    }
}

#[test]
fn what_cannot_be_stored_here_is_not_found_as_distribution_answers() {
    let tmp = tempfile::tempdir().unwrap();
    let srv = start_server(tmp.path(), |_| {});
    upload_blob(&srv, "c/repo", b"something");
    let sha512 = format!("sha512:{}", "a".repeat(128));
    // A well-formed digest of an algorithm the server does not store names nothing here.
    for method in ["GET", "HEAD", "DELETE"] {
        let r = call(
            &srv,
            method,
            &format!("/v2/c/repo/blobs/{sha512}"),
            &[],
            b"",
        );
        assert_eq!(r.status, 404, "{method} blob");
        if method != "HEAD" {
            assert_eq!(r.error_code(), "BLOB_UNKNOWN", "{method} blob");
        }
        let r = call(
            &srv,
            method,
            &format!("/v2/c/repo/manifests/{sha512}"),
            &[],
            b"",
        );
        assert_eq!(r.status, 404, "{method} manifest");
        if method != "HEAD" {
            assert_eq!(r.error_code(), "MANIFEST_UNKNOWN", "{method} manifest");
        }
    }
    // A tag that is not a valid tag: no manifest of that name.
    for method in ["GET", "HEAD", "DELETE"] {
        let r = call(&srv, method, "/v2/c/repo/manifests/bad+tag", &[], b"");
        assert_eq!(r.status, 404, "{method}");
        if method != "HEAD" {
            assert_eq!(r.error_code(), "MANIFEST_UNKNOWN", "{method}");
        }
    }
    // Malformed digests stay 400s, and a push addressed by sha512 is refused.
    let r = call(&srv, "GET", "/v2/c/repo/blobs/sha256:xyz", &[], b"");
    assert_eq!((r.status, r.error_code().as_str()), (400, "DIGEST_INVALID"));
    let r = call(&srv, "GET", "/v2/c/repo/blobs/SHA512:aa", &[], b"");
    assert_eq!((r.status, r.error_code().as_str()), (400, "DIGEST_INVALID"));
    let r = call(
        &srv,
        "PUT",
        &format!("/v2/c/repo/manifests/{sha512}"),
        &[("Content-Type", OCI_MANIFEST)],
        b"{}",
    );
    assert_eq!(r.status, 400);
}

#[test]
fn read_only_mode_serves_pulls_and_refuses_every_write() {
    let tmp = tempfile::tempdir().unwrap();
    let d = {
        let srv = start_server(tmp.path(), |_| {});
        upload_blob(&srv, "r/repo", b"kept")
    };
    let srv = start_server(tmp.path(), |c| c.read_only = true);
    let r = call(&srv, "GET", &format!("/v2/r/repo/blobs/{d}"), &[], b"");
    assert_eq!((r.status, r.body.as_slice()), (200, b"kept".as_slice()));
    for (method, path) in [
        ("POST", "/v2/r/repo/blobs/uploads/".to_string()),
        ("DELETE", format!("/v2/r/repo/blobs/{d}")),
        ("PUT", "/v2/r/repo/manifests/v1".to_string()),
        ("PATCH", "/v2/r/repo/blobs/uploads/x".to_string()),
    ] {
        let r = call(&srv, method, &path, &[], b"x");
        assert_eq!(r.status, 405, "{method} {path}");
        assert_eq!(r.error_code(), "UNSUPPORTED", "{method} {path}");
    }
    // Nothing was written: the blob is still there, no upload was started.
    assert_eq!(
        call(&srv, "HEAD", &format!("/v2/r/repo/blobs/{d}"), &[], b"").status,
        200
    );
    assert_eq!(
        std::fs::read_dir(tmp.path().join("uploads"))
            .map(|d| d.count())
            .unwrap_or(0),
        0
    );
}
