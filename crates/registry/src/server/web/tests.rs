//! Page decisions against a real store and policy: who sees which repository, who may
//! change it, and that bad cookies and missing CSRF tokens change nothing.

use std::io::Write as _;

use axum::http::Request;
use berth_image::Digest;

use super::data::Viewer;
use super::*;
use crate::manifest::{OCI_CONFIG, OCI_MANIFEST};
use crate::server::ServerConfig;

struct Fixture {
    _dir: tempfile::TempDir,
    app: Arc<App>,
    config: ServerConfig,
}

const CONFIG: &[u8] =
    br#"{"created":"2027-01-15T08:00:00Z","os":"linux","architecture":"arm64","variant":"v8"}"#;

/// A registry (through the protocol, as clients fill it) with `alice/web` (tags v1, v2) and
/// `alice/tools` (v1); users alice and bob unless `users` is false.
async fn fixture(users: bool) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let htpasswd = dir.path().join("htpasswd");
    let mut f = std::fs::File::create(&htpasswd).unwrap();
    for (u, p) in [("alice", "a-pass"), ("bob", "b-pass")] {
        writeln!(f, "{u}:{}", bcrypt::hash(p, 4).unwrap()).unwrap();
    }
    let mut config = ServerConfig::new(dir.path().join("store"), "127.0.0.1:0".parse().unwrap());
    config.htpasswd = users.then_some(htpasswd);
    let (app, _) = crate::server::build_app(&config).unwrap();
    let layer = b"layer".as_slice();
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": Digest::of(CONFIG).to_string(),
                   "size": CONFIG.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": Digest::of(layer).to_string(), "size": layer.len()}],
    })
    .to_string();
    for (repo, tags) in [("alice/web", &["v1", "v2"][..]), ("alice/tools", &["v1"])] {
        for blob in [CONFIG, layer] {
            push_blob(&app, repo, blob).await;
        }
        for tag in tags {
            put_manifest(&app, repo, tag, OCI_MANIFEST, &manifest).await;
        }
    }
    Fixture {
        _dir: dir,
        app,
        config,
    }
}

async fn push_blob(app: &Arc<App>, repo: &str, blob: &[u8]) {
    let uri = format!("/v2/{repo}/blobs/uploads/?digest={}", Digest::of(blob));
    assert_eq!(protocol(app, "POST", &uri, None, blob.to_vec()).await, 201);
}

async fn put_manifest(app: &Arc<App>, repo: &str, reference: &str, media_type: &str, body: &str) {
    let uri = format!("/v2/{repo}/manifests/{reference}");
    let status = protocol(app, "PUT", &uri, Some(media_type), body.as_bytes().to_vec()).await;
    assert_eq!(status, 201, "{repo}:{reference}");
}

/// A protocol request as alice (Basic credentials, as the protocol accepts them).
async fn protocol(app: &Arc<App>, method: &str, uri: &str, ct: Option<&str>, body: Vec<u8>) -> u16 {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::HOST, "reg.test:5000")
        .header(header::AUTHORIZATION, "Basic YWxpY2U6YS1wYXNz");
    if let Some(ct) = ct {
        req = req.header(header::CONTENT_TYPE, ct);
    }
    let req = req.body(Body::from(body)).unwrap();
    let resp = crate::server::routes::dispatch(axum::extract::State(app.clone()), req).await;
    resp.status().as_u16()
}

fn viewer<'a>(app: &'a App, user: &'a str) -> Viewer<'a> {
    Viewer {
        access: &app.access,
        store: &app.store,
        user,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visitors_see_what_they_may_pull_and_owners_alone_change_it() {
    let fx = fixture(true).await;
    let app = &fx.app;
    app.store.set_private("alice/web", true).unwrap();
    let names = |user| -> Vec<String> {
        viewer(app, user)
            .list(|_| true, 0)
            .unwrap()
            .rows
            .into_iter()
            .map(|r| r.name)
            .collect()
    };
    assert_eq!(names(""), ["alice/tools"]);
    assert_eq!(names("bob"), ["alice/tools"]);
    assert_eq!(names("alice"), ["alice/tools", "alice/web"]);
    assert!(viewer(app, "").detail("alice/web").unwrap().is_none());
    assert!(viewer(app, "bob").detail("alice/web").unwrap().is_none());
    assert!(viewer(app, "bob").detail("nobody/here").unwrap().is_none());
    let d = viewer(app, "alice").detail("alice/web").unwrap().unwrap();
    assert!(d.row.private);
    assert_eq!(d.tags.len(), 2);
    let image = &d.tags[0].images[0];
    assert_eq!(image.platform.as_deref(), Some("linux/arm64/v8"));
    assert_eq!(image.created.as_deref(), Some("2027-01-15T08:00:00Z"));
    assert_eq!(image.size, (CONFIG.len() + b"layer".len()) as u64);
    assert_eq!(d.row.size, Some(image.size));
    for (user, may) in [("alice", true), ("bob", false), ("", false)] {
        let v = viewer(app, user);
        assert_eq!(v.may_delete("alice/tools"), may, "{user}");
        assert_eq!(v.may_set_visibility("alice/tools"), may, "{user}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_shows_each_platform_and_leaves_attestations_out() {
    let fx = fixture(true).await;
    let app = &fx.app;
    let repo = "alice/multi";
    let (mut entries, mut expected) = (Vec::new(), Vec::new());
    for (arch, created, layer) in [
        ("amd64", "2027-01-01T00:00:00Z", &b"amd64 layer"[..]),
        ("arm64", "2027-02-01T00:00:00Z", &b"arm64 layer, longer"[..]),
    ] {
        let config = format!(r#"{{"created":"{created}","os":"linux","architecture":"{arch}"}}"#);
        push_blob(app, repo, config.as_bytes()).await;
        push_blob(app, repo, layer).await;
        let manifest = serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": Digest::of(config.as_bytes()).to_string(),
                       "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                        "digest": Digest::of(layer).to_string(), "size": layer.len()}],
        })
        .to_string();
        let d = Digest::of(manifest.as_bytes());
        put_manifest(app, repo, &d.to_string(), OCI_MANIFEST, &manifest).await;
        entries.push(serde_json::json!({
            "mediaType": OCI_MANIFEST, "digest": d.to_string(), "size": manifest.len(),
            "platform": {"os": "linux", "architecture": arch},
        }));
        if arch == "amd64" {
            // docker buildx's attestation: an image manifest marked by an annotation.
            entries.push(serde_json::json!({
                "mediaType": OCI_MANIFEST, "digest": d.to_string(), "size": manifest.len(),
                "platform": {"os": "unknown", "architecture": "unknown"},
                "annotations": {"vnd.docker.reference.type": "attestation-manifest"},
            }));
        }
        expected.push((config.len() + layer.len()) as u64);
    }
    let index = serde_json::json!({
        "schemaVersion": 2, "mediaType": crate::manifest::OCI_INDEX, "manifests": entries,
    })
    .to_string();
    put_manifest(app, repo, "v1", crate::manifest::OCI_INDEX, &index).await;
    let d = viewer(app, "").detail(repo).unwrap().unwrap();
    let images = &d.tags[0].images;
    let platforms: Vec<_> = images.iter().map(|i| i.platform.as_deref()).collect();
    assert_eq!(platforms, [Some("linux/amd64"), Some("linux/arm64")]);
    let sizes: Vec<u64> = images.iter().map(|i| i.size).collect();
    assert_eq!(sizes, expected);
    assert_eq!(d.tags[0].size(), expected.iter().sum::<u64>());
    assert_eq!(d.row.size, Some(expected.iter().sum::<u64>()));
    assert_eq!(images[1].created.as_deref(), Some("2027-02-01T00:00:00Z"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_registry_lists_everything_and_changes_nothing() {
    let fx = fixture(false).await;
    let app = &fx.app;
    app.store.set_private("alice/web", true).unwrap();
    let v = viewer(app, "");
    assert_eq!(v.list(|_| true, 0).unwrap().total, 2);
    assert!(!v.private("alice/web"), "nothing is private without users");
    assert!(!v.may_delete("alice/web") && !v.may_set_visibility("alice/web"));
    let (status, html) = request(app, "GET", "/r/alice/web", "", "").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("no users") && !html.contains("make-"),
        "{html}"
    );
    assert!(!html.contains("id=\"sign-in\""), "nothing to sign in to");
    let (status, html) = request(app, "GET", "/login", "", "").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("no users") && !html.contains("password"),
        "{html}"
    );
    let (status, _) = request(
        app,
        "POST",
        "/r/alice/web/-/visibility",
        "",
        "visibility=public",
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(
        app.store.repo_meta("alice/web").map(|m| m.private),
        Some(true)
    );
}

async fn request(
    app: &Arc<App>,
    method: &str,
    uri: &str,
    cookie: &str,
    body: &str,
) -> (u16, String) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::HOST, "reg.test:5000")
        .header(
            header::COOKIE,
            HeaderValue::from_bytes(cookie.as_bytes()).unwrap(),
        )
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body.to_owned()))
        .unwrap();
    let (parts, body) = req.into_parts();
    let resp = handle(app, &parts, body).await;
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// The `Set-Cookie` and other headers of a page request.
async fn headers_of(
    app: &Arc<App>,
    method: &str,
    uri: &str,
    cookie: &str,
    body: &str,
) -> axum::http::HeaderMap {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::COOKIE, cookie)
        .body(Body::from(body.to_owned()))
        .unwrap();
    let (parts, body) = req.into_parts();
    handle(app, &parts, body).await.headers().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookies_are_http_only_same_site_and_secure_under_tls() {
    let fx = fixture(true).await;
    let h = headers_of(&fx.app, "GET", "/login", "", "").await;
    let set = h[header::SET_COOKIE].to_str().unwrap();
    assert!(
        set.contains("; HttpOnly; SameSite=Lax") && !set.contains("Secure"),
        "{set}"
    );
    let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("script-src"),
        "{csp}"
    );
    assert_eq!(h[header::CACHE_CONTROL], "no-store");
    assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");
    // Sign-in and sign-out, served over TLS (the listener's files are not read here).
    let mut config = fx.config.clone();
    config.tls = Some(crate::server::TlsFiles {
        cert: "unused.pem".into(),
        key: "unused.pem".into(),
    });
    let (app, _) = crate::server::build_app(&config).unwrap();
    let (pre, pre_csrf) = cookie_for(&app, "");
    let body = format!("username=alice&password=a-pass&csrf={pre_csrf}");
    let h = headers_of(&app, "POST", "/login", &pre, &body).await;
    let set = h[header::SET_COOKIE].to_str().unwrap();
    assert!(set.ends_with("; HttpOnly; SameSite=Lax; Secure"), "{set}");
    assert_eq!(h[header::LOCATION], "/u/alice");
    let (alice, csrf) = cookie_for(&app, "alice");
    let h = headers_of(&app, "POST", "/logout", &alice, "").await;
    assert!(
        h.get(header::SET_COOKIE).is_none(),
        "sign-out needs the token"
    );
    let h = headers_of(&app, "POST", "/logout", &alice, &format!("csrf={csrf}")).await;
    let set = h[header::SET_COOKIE].to_str().unwrap();
    assert!(set.starts_with("berth_session=; Max-Age=0;"), "{set}");
}

use http_body_util::BodyExt as _;

fn cookie_for(app: &App, user: &str) -> (String, String) {
    let keys = Keys::new(app.access.derive_key("web session"));
    let mut s = Session::new(user, 4_000_000_000 - 100_000, 100_000);
    s.stamp = app.access.password_stamp(user).unwrap_or_default();
    (
        format!("{}={}", session::COOKIE, keys.seal(&s)),
        keys.csrf(&s),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_cookies_are_anonymous_and_posts_need_the_token() {
    let fx = fixture(true).await;
    let app = &fx.app;
    app.store.set_private("alice/web", true).unwrap();
    let (alice, csrf) = cookie_for(app, "alice");
    // A bearer token of the same server is not a cookie.
    let token = app.access.issue("alice", Vec::new());
    for bad in [
        "berth_session=".to_owned(),
        "berth_session=garbage".into(),
        "berth_session=a.b.c".into(),
        alice[..alice.len() - 5].to_string(),
        format!("berth_session={token}"),
        "berth_session=\u{e9}t\u{e9}".into(),
        format!("berth_session={}", "x".repeat(5000)),
    ] {
        let (status, html) = request(app, "GET", "/u/alice", &bad, "").await;
        assert_eq!(status, 200, "{bad}");
        assert!(html.contains("id=\"sign-in\""), "{bad}: anonymous");
        assert!(!html.contains("alice/web") && html.contains("alice/tools"));
        let (status, _) = request(app, "GET", "/r/alice/web", &bad, "").await;
        assert_eq!(status, 404, "{bad}");
    }
    let (status, html) = request(app, "GET", "/r/alice/web", &alice, "").await;
    assert_eq!(status, 200);
    assert!(html.contains("id=\"make-public\"") && html.contains("reg.test:5000/alice/web"));
    // Without the token, with another session's, or with none at all: 403, nothing changes.
    let (_, other_csrf) = cookie_for(app, "alice");
    for body in [
        "visibility=public".to_owned(),
        format!("visibility=public&csrf={other_csrf}"),
    ] {
        let (status, _) = request(app, "POST", "/r/alice/web/-/visibility", &alice, &body).await;
        assert_eq!(status, 403, "{body}");
    }
    let body = format!("visibility=public&csrf={csrf}");
    let (status, _) = request(app, "POST", "/r/alice/web/-/visibility", "", &body).await;
    assert_eq!(status, 403);
    let (status, _) = request(app, "POST", "/r/alice/web/-/delete-tag", &alice, "tag=v1").await;
    assert_eq!(status, 403);
    assert!(app.access.is_private(&app.store, "alice/web"));
    assert!(app.store.resolve_tag("alice/web", "v1").is_some());
    // bob's valid form for alice's repository: hidden (404) or refused (403), unchanged.
    let (bob, bob_csrf) = cookie_for(app, "bob");
    let body = format!("tag=v1&csrf={bob_csrf}");
    let (status, _) = request(app, "POST", "/r/alice/web/-/delete-tag", &bob, &body).await;
    assert_eq!(status, 404);
    let (status, _) = request(app, "POST", "/r/alice/tools/-/delete-tag", &bob, &body).await;
    assert_eq!(status, 403);
    assert!(app.store.resolve_tag("alice/tools", "v1").is_some());
    // With the token: done, and a GET shows it.
    let body = format!("tag=v2&csrf={csrf}");
    let (status, _) = request(app, "POST", "/r/alice/web/-/delete-tag", &alice, &body).await;
    assert_eq!(status, 303);
    assert!(app.store.resolve_tag("alice/web", "v2").is_none());
    let body = format!("visibility=public&csrf={csrf}");
    let (status, _) = request(app, "POST", "/r/alice/web/-/visibility", &alice, &body).await;
    assert_eq!(status, 303);
    assert!(!app.access.is_private(&app.store, "alice/web"));
}

/// Changes the fixture's htpasswd file as `berth registry user` does.
fn edit_users(fx: &Fixture, change: impl FnOnce(&mut crate::server::users::Htpasswd)) {
    let path = fx.config.htpasswd.clone().unwrap();
    let mut users = crate::server::users::Htpasswd::load(&path).unwrap();
    change(&mut users);
    users.save().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_user_is_signed_out_at_once() {
    let fx = fixture(true).await;
    let app = &fx.app;
    let (bob, _) = cookie_for(app, "bob");
    let (_, html) = request(app, "GET", "/explore", &bob, "").await;
    assert!(html.contains("id=\"me\""), "bob is signed in");
    edit_users(&fx, |users| users.remove("bob").unwrap());
    let (status, html) = request(app, "GET", "/explore", &bob, "").await;
    assert_eq!(status, 200);
    assert!(html.contains("id=\"sign-in\"") && !html.contains("id=\"me\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_password_ends_the_sessions_opened_with_the_old_one() {
    let fx = fixture(true).await;
    let app = &fx.app;
    let (bob, _) = cookie_for(app, "bob");
    let (_, html) = request(app, "GET", "/explore", &bob, "").await;
    assert!(html.contains("id=\"me\""), "bob is signed in");
    edit_users(&fx, |users| {
        users.set_password("bob", "new-password").unwrap()
    });
    let (status, html) = request(app, "GET", "/explore", &bob, "").await;
    assert_eq!(status, 200);
    assert!(html.contains("id=\"sign-in\"") && !html.contains("id=\"me\""));
    // A cookie without a stamp (or a forged one) is no session either.
    let keys = Keys::new(app.access.derive_key("web session"));
    let bare = Session::new("bob", 4_000_000_000 - 100_000, 100_000);
    let bare = format!("{}={}", session::COOKIE, keys.seal(&bare));
    let (_, html) = request(app, "GET", "/explore", &bare, "").await;
    assert!(!html.contains("id=\"me\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_checks_the_password_and_the_form_token() {
    let fx = fixture(true).await;
    let app = &fx.app;
    let (status, html) = request(app, "GET", "/login", "", "").await;
    assert_eq!(status, 200);
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_owned();
    // The form's token is bound to the cookie the form page set; this test has none.
    let body = format!("username=alice&password=a-pass&csrf={csrf}");
    let (status, _) = request(app, "POST", "/login", "", &body).await;
    assert_eq!(status, 403);
    let (pre, pre_csrf) = cookie_for(app, "");
    let body = format!("username=alice&password=wrong&csrf={pre_csrf}");
    let (status, html) = request(app, "POST", "/login", &pre, &body).await;
    assert_eq!(status, 401);
    assert!(html.contains("incorrect username or password"));
    let body = format!("username=alice&password=a-pass&csrf={pre_csrf}");
    let (status, _) = request(app, "POST", "/login", &pre, &body).await;
    assert_eq!(status, 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_mode_shows_pages_and_refuses_changes() {
    let fx = fixture(true).await;
    let mut config = fx.config.clone();
    config.read_only = true;
    let (app, _) = crate::server::build_app(&config).unwrap();
    let (status, html) = request(&app, "GET", "/explore", "", "").await;
    assert_eq!(status, 200);
    assert!(html.contains("read-only mode") && html.contains("alice/tools"));
    // The owner, signed in, gets no forms, and a well-formed POST of theirs is refused.
    let (alice, csrf) = cookie_for(&app, "alice");
    let (status, html) = request(&app, "GET", "/r/alice/web", &alice, "").await;
    assert_eq!(status, 200);
    assert!(
        !html.contains("make-private") && !html.contains("delete-v1"),
        "{html}"
    );
    let body = format!("tag=v1&csrf={csrf}");
    let (status, html) = request(&app, "POST", "/r/alice/web/-/delete-tag", &alice, &body).await;
    assert_eq!(status, 405);
    assert!(html.contains("read-only mode"));
    assert!(app.store.resolve_tag("alice/web", "v1").is_some());
    // Signing in changes nothing stored: it still works.
    let (pre, pre_csrf) = cookie_for(&app, "");
    let body = format!("username=alice&password=a-pass&csrf={pre_csrf}");
    assert_eq!(request(&app, "POST", "/login", &pre, &body).await.0, 303);
}

#[test]
fn page_paths_do_not_take_the_protocols() {
    for ours in [
        "/",
        "/login",
        "/explore",
        "/search",
        "/u/alice",
        "/r/a/b",
        "/static/style.css",
    ] {
        assert!(claims(ours), "{ours}");
    }
    for theirs in [
        "/v2/",
        "/v2/a/tags/list",
        "/token",
        "/v1/search",
        "/metrics",
        "/users",
    ] {
        assert!(!claims(theirs), "{theirs}");
    }
}
