//! Users, tokens, namespaces and private repositories on berth's server, driven by berth's
//! client with logins stored in temporary docker config directories.
#![allow(clippy::unwrap_used)] // test helpers panic on setup failures by design

mod common;

use std::path::Path;

use berth_registry::blob::BlobDir;
use berth_registry::client::{ClientError, CredentialStore};
use berth_registry::platform::Platform;
use berth_registry::server::ServerHandle;
use berth_registry::Reference;
use common::*;

fn htpasswd(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("htpasswd");
    let lines = [("alice", "alice-pw"), ("bob", "bob-pw")]
        .iter()
        .map(|(u, p)| format!("{u}:{}\n", bcrypt::hash(p, 4).unwrap()))
        .collect::<String>();
    std::fs::write(&path, lines).unwrap();
    path
}

fn auth_server(tmp: &Path) -> ServerHandle {
    let users = htpasswd(tmp);
    start_server(&tmp.join("srv"), |c| c.htpasswd = Some(users))
}

fn logged_in(
    srv: &ServerHandle,
    dir: &Path,
    user: &str,
    password: &str,
) -> berth_registry::client::Client {
    let c = client_with(CredentialStore::in_dir(dir), |_| {});
    c.login(&srv.host(), user, password).unwrap();
    c
}

#[test]
fn namespaces_private_repositories_and_the_token_flow() {
    let tmp = tempfile::tempdir().unwrap();
    let srv = auth_server(tmp.path());
    let image = make_image(&tmp.path().join("img"), &[70_000, 1000], 3);
    let alice = logged_in(&srv, &tmp.path().join("alice"), "alice", "alice-pw");
    let bob = logged_in(&srv, &tmp.path().join("bob"), "bob", "bob-pw");
    let anon = client();
    let r = |s: &str| Reference::parse(&format!("{}/{s}", srv.host())).unwrap();

    alice
        .push(&r("alice/app:1"), &image.push_image(), &image.blobs, &quiet)
        .unwrap();
    let err = bob
        .push(&r("alice/app:2"), &image.push_image(), &image.blobs, &quiet)
        .unwrap_err();
    assert!(matches!(err, ClientError::Denied { .. }), "{err}");
    assert!(err.to_string().contains("alice/app"), "{err}");
    let err = anon
        .push(&r("alice/app:3"), &image.push_image(), &image.blobs, &quiet)
        .unwrap_err();
    assert!(matches!(err, ClientError::AuthRequired { .. }), "{err}");
    bob.push(&r("bob/app:1"), &image.push_image(), &image.blobs, &quiet)
        .unwrap();

    let sink = BlobDir::open(tmp.path().join("anon-sink")).unwrap();
    anon.pull(&r("alice/app:1"), &Platform::host(), &sink, &quiet)
        .unwrap();

    alice
        .push(
            &r("alice/secret:1"),
            &image.push_image(),
            &image.blobs,
            &quiet,
        )
        .unwrap();
    srv.storage().set_private("alice/secret", true).unwrap();
    let sink2 = BlobDir::open(tmp.path().join("sink2")).unwrap();
    let err = anon
        .pull(&r("alice/secret:1"), &Platform::host(), &sink2, &quiet)
        .unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::AuthRequired { .. } | ClientError::Denied { .. }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("alice/secret"), "{err}");
    let err = bob
        .pull(&r("alice/secret:1"), &Platform::host(), &sink2, &quiet)
        .unwrap_err();
    assert!(matches!(err, ClientError::Denied { .. }), "{err}");
    let pulled = alice
        .pull(&r("alice/secret:1"), &Platform::host(), &sink2, &quiet)
        .unwrap();
    assert_eq!(pulled.manifest_bytes, image.manifest);
    // A blob of a private repository cannot be mounted into another namespace either.
    let from = vec!["alice/secret".to_owned()];
    let other = make_image(&tmp.path().join("img2"), &[5000], 4);
    let events = std::sync::Mutex::new(Vec::new());
    let with_secret = berth_registry::client::PushImage {
        mount_from: &from,
        ..other.push_image()
    };
    bob.push(&r("bob/copy:1"), &with_secret, &other.blobs, &|e| {
        events.lock().unwrap().push(e)
    })
    .unwrap();
    assert!(!events
        .lock()
        .unwrap()
        .iter()
        .any(|e| matches!(e, berth_registry::client::Event::BlobMounted { .. })));
}

#[test]
fn private_by_default_and_access_json() {
    let tmp = tempfile::tempdir().unwrap();
    let users = htpasswd(tmp.path());
    let srv = start_server(&tmp.path().join("srv"), |c| {
        c.htpasswd = Some(users);
        c.private_by_default = true;
    });
    let image = make_image(&tmp.path().join("img"), &[1000], 5);
    let alice = logged_in(&srv, &tmp.path().join("alice"), "alice", "alice-pw");
    let r = |s: &str| Reference::parse(&format!("{}/{s}", srv.host())).unwrap();
    alice
        .push(
            &r("alice/site:1"),
            &image.push_image(),
            &image.blobs,
            &quiet,
        )
        .unwrap();
    let sink = BlobDir::open(tmp.path().join("sink")).unwrap();
    assert!(client()
        .pull(&r("alice/site:1"), &Platform::host(), &sink, &quiet)
        .is_err());
    std::fs::write(
        tmp.path().join("srv/access.json"),
        r#"{"public":["alice/*"]}"#,
    )
    .unwrap();
    client()
        .pull(&r("alice/site:1"), &Platform::host(), &sink, &quiet)
        .unwrap();
}

#[test]
fn login_verifies_then_stores_and_logout_removes() {
    let tmp = tempfile::tempdir().unwrap();
    let srv = auth_server(tmp.path());
    let cfg_dir = tmp.path().join("docker");
    let c = client_with(CredentialStore::in_dir(&cfg_dir), |_| {});
    let err = c.login(&srv.host(), "alice", "wrong").unwrap_err();
    assert!(matches!(err, ClientError::Login { .. }), "{err}");
    assert!(
        err.to_string().contains("incorrect username or password"),
        "{err}"
    );
    assert!(
        !cfg_dir.join("config.json").exists(),
        "nothing stored after a failed login"
    );

    c.login(&srv.host(), "alice", "alice-pw").unwrap();
    let text = std::fs::read_to_string(cfg_dir.join("config.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v["auths"][srv.host()]["auth"],
        "YWxpY2U6YWxpY2UtcHc=",
        "{text}"
    );

    assert!(c.logout(&srv.host()).unwrap());
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cfg_dir.join("config.json")).unwrap())
            .unwrap();
    assert!(v["auths"].get(srv.host()).is_none());
    let image = make_image(&tmp.path().join("img"), &[100], 6);
    let r = Reference::parse(&format!("{}/alice/app:1", srv.host())).unwrap();
    let err = c
        .push(&r, &image.push_image(), &image.blobs, &quiet)
        .unwrap_err();
    assert!(matches!(err, ClientError::AuthRequired { .. }), "{err}");
}

#[test]
fn credentials_come_from_docker_config_env() {
    let tmp = tempfile::tempdir().unwrap();
    let srv = auth_server(tmp.path());
    let cfg_dir = tmp.path().join("docker-env");
    std::fs::create_dir_all(&cfg_dir).unwrap();
    let config = serde_json::json!({"auths": {format!("http://{}", srv.host()): {"auth": "YWxpY2U6YWxpY2UtcHc="}}});
    std::fs::write(cfg_dir.join("config.json"), config.to_string()).unwrap();
    // Only this test in this binary reads DOCKER_CONFIG.
    std::env::set_var("DOCKER_CONFIG", &cfg_dir);
    let c = client_with(CredentialStore::from_env(), |_| {});
    let image = make_image(&tmp.path().join("img"), &[100], 7);
    let r = Reference::parse(&format!("{}/alice/env:1", srv.host())).unwrap();
    c.push(&r, &image.push_image(), &image.blobs, &quiet)
        .unwrap();
}

#[test]
fn token_endpoint_and_challenge_speak_docker_hub() {
    let tmp = tempfile::tempdir().unwrap();
    let srv = auth_server(tmp.path());
    let agent = ureq::AgentBuilder::new().build();
    let url = srv.url();
    let err = agent.get(&format!("{url}/v2/")).call().unwrap_err();
    let ureq::Error::Status(401, resp) = err else {
        panic!("{err:?}")
    };
    let challenge = resp.header("www-authenticate").unwrap().to_owned();
    assert_eq!(
        challenge,
        format!(r#"Bearer realm="{url}/token",service="berth-registry""#)
    );
    let err = agent
        .post(&format!("{url}/v2/alice/app/blobs/uploads/"))
        .call()
        .unwrap_err();
    let ureq::Error::Status(401, resp) = err else {
        panic!("{err:?}")
    };
    let challenge = resp.header("www-authenticate").unwrap();
    assert!(
        challenge.contains(r#"scope="repository:alice/app:pull,push""#),
        "{challenge}"
    );
    let body = resp.into_string().unwrap();
    assert!(body.contains(r#""code":"UNAUTHORIZED""#), "{body}");

    let basic = |u: &str, p: &str| berth_registry::client::Credential::new(u, p).basic();
    // Credentials that cannot be read get a 400, not an anonymous token.
    for malformed in ["Basic !!!not-base64", "Basic", "basic Zm9v"] {
        let r = agent
            .get(&format!(
                "{url}/token?service=berth-registry&scope=repository:alice/app:pull"
            ))
            .set("Authorization", malformed)
            .call();
        assert!(
            matches!(r, Err(ureq::Error::Status(400, _))),
            "{malformed}: {r:?}"
        );
    }
    let bad = agent
        .get(&format!(
            "{url}/token?service=berth-registry&scope=repository:alice/app:pull"
        ))
        .set("Authorization", &basic("alice", "nope"))
        .call();
    assert!(matches!(bad, Err(ureq::Error::Status(401, _))));
    let ok: serde_json::Value = agent
        .get(&format!(
            "{url}/token?service=berth-registry&scope=repository:alice/app:pull,push"
        ))
        .set("Authorization", &basic("alice", "alice-pw"))
        .call()
        .unwrap()
        .into_string()
        .map(|s| serde_json::from_str(&s).unwrap())
        .unwrap();
    assert!(ok["token"].is_string() && ok["token"] == ok["access_token"]);
    assert!(ok["expires_in"].as_u64().unwrap() > 0);
    let token = ok["token"].as_str().unwrap();
    let resp = agent
        .get(&format!("{url}/v2/"))
        .set("Authorization", &format!("Bearer {token}"))
        .call()
        .unwrap();
    assert_eq!(
        resp.header("docker-distribution-api-version"),
        Some("registry/2.0")
    );
    let forged = format!("{}x", token);
    assert!(agent
        .get(&format!("{url}/v2/"))
        .set("Authorization", &format!("Bearer {forged}"))
        .call()
        .is_err());
    // The OAuth2 password grant gives the same kind of token.
    let form: serde_json::Value = agent
        .post(&format!("{url}/token"))
        .send_form(&[
            ("grant_type", "password"),
            ("username", "bob"),
            ("password", "bob-pw"),
            ("scope", "repository:bob/x:push"),
            ("service", "berth-registry"),
        ])
        .unwrap()
        .into_string()
        .map(|s| serde_json::from_str(&s).unwrap())
        .unwrap();
    assert!(form["access_token"].is_string());
}

#[test]
fn a_mount_the_token_does_not_cover_gets_a_challenge_for_both_scopes() {
    let tmp = tempfile::tempdir().unwrap();
    let srv = auth_server(tmp.path());
    let url = srv.url();
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    let basic = berth_registry::client::Credential::new("alice", "alice-pw").basic();
    // alice's blob in alice/app, pushed monolithically with her password.
    let data = b"a layer of alice's".to_vec();
    let d = berth_registry::Digest::of(&data);
    let r = agent
        .post(&format!("{url}/v2/alice/app/blobs/uploads/?digest={d}"))
        .set("Authorization", &basic)
        .send_bytes(&data)
        .unwrap();
    assert_eq!(r.status(), 201);
    let token = |scopes: &[&str]| -> String {
        let q: String = scopes.iter().map(|s| format!("&scope={s}")).collect();
        let v: serde_json::Value = agent
            .get(&format!("{url}/token?service=berth-registry{q}"))
            .set("Authorization", &basic)
            .call()
            .map(|r| serde_json::from_str(&r.into_string().unwrap()).unwrap())
            .unwrap();
        v["token"].as_str().unwrap().to_owned()
    };
    let mount = format!("{url}/v2/alice/copy/blobs/uploads/?mount={d}&from=alice/app");
    // A token for the target only: 401, and the challenge names both scopes.
    let only_target = token(&["repository:alice/copy:pull,push"]);
    let err = agent
        .post(&mount)
        .set("Authorization", &format!("Bearer {only_target}"))
        .call()
        .unwrap_err();
    let ureq::Error::Status(401, resp) = err else {
        panic!("{err:?}")
    };
    let challenge = resp.header("www-authenticate").unwrap();
    assert!(
        challenge.contains(r#"scope="repository:alice/copy:pull,push repository:alice/app:pull""#),
        "{challenge}"
    );
    // With both, the blob is mounted: no upload.
    let both = token(&[
        "repository:alice/copy:pull,push",
        "repository:alice/app:pull",
    ]);
    let r = agent
        .post(&mount)
        .set("Authorization", &format!("Bearer {both}"))
        .call()
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(
        r.header("docker-content-digest"),
        Some(d.to_string().as_str())
    );
    // A user who may not pull the source (now private) gets a plain upload, not a challenge.
    berth_registry::server::Storage::open(tmp.path().join("srv"))
        .unwrap()
        .set_private("alice/app", true)
        .unwrap();
    let bob = berth_registry::client::Credential::new("bob", "bob-pw").basic();
    let v: serde_json::Value = agent
        .get(&format!(
            "{url}/token?service=berth-registry&scope=repository:bob/copy:pull,push"
        ))
        .set("Authorization", &bob)
        .call()
        .map(|r| serde_json::from_str(&r.into_string().unwrap()).unwrap())
        .unwrap();
    let r = agent
        .post(&format!(
            "{url}/v2/bob/copy/blobs/uploads/?mount={d}&from=alice/app"
        ))
        .set(
            "Authorization",
            &format!("Bearer {}", v["token"].as_str().unwrap()),
        )
        .call()
        .unwrap();
    assert_eq!(r.status(), 202);
}
