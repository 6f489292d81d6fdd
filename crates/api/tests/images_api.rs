//! Push and pull through the Engine API's router against a registry that wants a login:
//! the client's `X-Registry-Auth` is what gets in, and the answer is docker's progress lines.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine as _;
use berth_registry::server::{self, ServerConfig};
use serde_json::Value;
use tower::ServiceExt;

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A router over an engine in a fresh root.
fn router(dir: &std::path::Path) -> axum::Router {
    let mut config = berth_engine::EngineConfig::new(dir);
    config.net = berth_net::NetSettings::new(
        dir.join("net"),
        berth_net::NetScope::Root,
        dir.join("net.lock"),
    );
    let engine = berth_engine::Engine::open(config).expect("engine");
    berth_api::router(Arc::new(engine))
}

/// A registry on 127.0.0.1 where `alice` (password `s3cret`) owns `alice/*` and every
/// repository is private: pulls need the login too.
fn registry(dir: &std::path::Path) -> server::ServerHandle {
    let hash = bcrypt::hash("s3cret", 4).expect("bcrypt");
    let htpasswd = dir.join("htpasswd");
    std::fs::write(&htpasswd, format!("alice:{hash}\n")).expect("htpasswd");
    let mut config = ServerConfig::new(dir.join("storage"), "127.0.0.1:0".parse().unwrap());
    config.htpasswd = Some(htpasswd);
    config.private_by_default = true;
    server::start(config).expect("registry")
}

fn rootfs() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let data = vec![7u8; 300 << 10];
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    b.append_data(&mut h, "data/blob", &data[..]).unwrap();
    b.into_inner().unwrap()
}

/// docker's header for `user`/`password`, URL-safe base64 without padding (what Go sends).
fn auth_header(user: &str, password: &str, server: &str) -> String {
    let json = serde_json::json!({"username": user, "password": password, "serveraddress": server});
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json.to_string())
}

async fn request(
    app: &axum::Router,
    method: &str,
    uri: &str,
    auth: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, Vec<u8>) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(a) = auth {
        req = req.header("X-Registry-Auth", a);
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 64 << 20)
        .await
        .unwrap();
    (status, bytes.to_vec())
}

/// The JSON lines of a progress stream (each must parse).
fn lines(body: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(body)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect()
}

fn statuses(lines: &[Value]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| l["status"].as_str())
        .map(str::to_string)
        .collect()
}

#[test]
fn push_and_pull_with_x_registry_auth() {
    if !is_root() {
        eprintln!("SKIP push_and_pull_with_x_registry_auth: needs root (layers unpack as root)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // The registry runs its own runtime: started outside the test's.
    let reg = registry(dir.path());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(push_then_pull(dir.path(), reg.host()));
}

async fn push_then_pull(dir: &std::path::Path, host: String) {
    let app = router(&dir.join("engine"));
    let name = format!("{host}/alice/app");

    let uri = format!("/v1.44/images/create?fromSrc=-&repo={name}&tag=v1");
    let (s, body) = request(&app, "POST", &uri, None, rootfs()).await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let id = lines(&body)[0]["status"].as_str().unwrap().to_string();

    // Without a login the registry refuses: the stream ends with docker's error line.
    let push = format!("/v1.44/images/{name}/push?tag=v1");
    let (s, body) = request(&app, "POST", &push, None, Vec::new()).await;
    assert_eq!(s, StatusCode::OK);
    let out = lines(&body);
    let last = out.last().unwrap();
    assert!(last["error"].is_string(), "{out:#?}");
    assert_eq!(last["error"], last["errorDetail"]["message"]);

    // A wrong password is refused too; the right one pushes.
    let wrong = auth_header("alice", "nope", &host);
    let (_, body) = request(&app, "POST", &push, Some(&wrong), Vec::new()).await;
    assert!(lines(&body).last().unwrap()["error"].is_string());
    let alice = auth_header("alice", "s3cret", &host);
    let (s, body) = request(&app, "POST", &push, Some(&alice), Vec::new()).await;
    assert_eq!(s, StatusCode::OK);
    let out = lines(&body);
    let said = statuses(&out);
    assert_eq!(
        said[0],
        format!("The push refers to repository [{name}]"),
        "{out:#?}"
    );
    assert!(out.iter().all(|l| l["error"].is_null()), "{out:#?}");
    let layer = out
        .iter()
        .find(|l| l["status"] == "Pushed")
        .and_then(|l| l["id"].as_str())
        .unwrap_or_else(|| panic!("no Pushed line: {out:#?}"))
        .to_string();
    assert_eq!(layer.len(), 12);
    assert!(out
        .iter()
        .any(|l| l["status"] == "Preparing" && l["id"] == layer));
    let aux = &out.last().unwrap()["aux"];
    assert_eq!(aux["Tag"], "v1", "{out:#?}");
    let digest = aux["Digest"].as_str().unwrap().to_string();
    let size = aux["Size"].as_u64().unwrap();
    assert!(
        said.contains(&format!("v1: digest: {digest} size: {size}")),
        "{said:#?}"
    );

    // Pushed again: the registry has the layer.
    let (_, body) = request(&app, "POST", &push, Some(&alice), Vec::new()).await;
    let again = lines(&body);
    assert!(
        again
            .iter()
            .any(|l| l["status"] == "Layer already exists" && l["id"] == layer),
        "{again:#?}"
    );

    // Pull into a second engine: anonymous fails (private), alice's login pulls.
    let app2 = router(&dir.join("engine2"));
    let pull = format!("/images/create?fromImage={name}&tag=v1");
    let (s, body) = request(&app2, "POST", &pull, None, Vec::new()).await;
    assert_eq!(s, StatusCode::OK);
    let out = lines(&body);
    assert_eq!(out[0]["status"], "Pulling from alice/app");
    assert_eq!(out[0]["id"], "v1");
    assert!(out.last().unwrap()["error"].is_string(), "{out:#?}");

    // Padded standard base64 works as well as Go's URL encoding.
    let padded = base64::engine::general_purpose::STANDARD
        .encode(serde_json::json!({"username": "alice", "password": "s3cret"}).to_string());
    let (s, body) = request(&app2, "POST", &pull, Some(&padded), Vec::new()).await;
    assert_eq!(s, StatusCode::OK);
    let out = lines(&body);
    assert!(out.iter().all(|l| l["error"].is_null()), "{out:#?}");
    let said = statuses(&out);
    let at = |s: &str| {
        said.iter()
            .position(|x| x == s)
            .unwrap_or_else(|| panic!("no {s:?} in {said:#?}"))
    };
    let fs = out
        .iter()
        .position(|l| l["status"] == "Pulling fs layer" && l["id"] == layer)
        .unwrap_or_else(|| panic!("{out:#?}"));
    assert_eq!(out[fs]["progressDetail"], serde_json::json!({}));
    let done = out
        .iter()
        .position(|l| l["status"] == "Download complete" && l["id"] == layer)
        .unwrap();
    let complete = out
        .iter()
        .position(|l| l["status"] == "Pull complete" && l["id"] == layer)
        .unwrap();
    assert!(fs < done && done < complete, "{out:#?}");
    if let Some(d) = out.iter().find(|l| l["status"] == "Downloading") {
        assert!(d["progressDetail"]["total"].as_u64().is_some(), "{d}");
    }
    assert!(
        at(&format!("Digest: {digest}"))
            < at(&format!("Status: Downloaded newer image for {name}:v1"))
    );

    // The same image: up to date, and the image is the one pushed.
    let (_, body) = request(&app2, "POST", &pull, Some(&alice), Vec::new()).await;
    let said = statuses(&lines(&body));
    assert_eq!(
        said.last().unwrap(),
        &format!("Status: Image is up to date for {name}:v1"),
        "{said:#?}"
    );
    let (s, body) = request(
        &app2,
        "GET",
        &format!("/images/{name}:v1/json"),
        None,
        Vec::new(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let inspect: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(inspect["Id"], Value::from(id));
    assert!(
        inspect["RepoDigests"].to_string().contains(&digest),
        "{inspect}"
    );

    // What the registry says without a pull (docker-py's get_registry_data): the pushed
    // manifest and the platform its config declares; private, so only with the login.
    let dist = format!("/v1.44/distribution/{name}:v1/json");
    let (s, body) = request(&app2, "GET", &dist, None, Vec::new()).await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "{}",
        String::from_utf8_lossy(&body)
    );
    let (s, body) = request(&app2, "GET", &dist, Some(&alice), Vec::new()).await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let info: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(info["Descriptor"]["digest"], Value::from(digest.clone()));
    assert_eq!(info["Descriptor"]["size"], Value::from(size));
    assert_eq!(
        info["Descriptor"]["mediaType"], "application/vnd.oci.image.manifest.v1+json",
        "{info}"
    );
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    assert_eq!(
        info["Platforms"],
        serde_json::json!([{"architecture": arch, "os": "linux"}])
    );
    let (s, body) = request(
        &app2,
        "GET",
        &format!("/v1.44/distribution/{host}/alice/nothing:v1/json"),
        Some(&alice),
        Vec::new(),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "{}",
        String::from_utf8_lossy(&body)
    );
}
