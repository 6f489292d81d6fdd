//! What an operator sees: `/metrics` counts what a push and a pull did, and the access log has
//! one JSON line per request — with the user, never a secret — including a download the
//! client abandoned.
#![allow(clippy::unwrap_used)] // test helpers panic on setup failures by design

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use berth_registry::blob::BlobDir;
use berth_registry::client::CredentialStore;
use berth_registry::platform::Platform;
use berth_registry::server::AccessLog;
use berth_registry::Reference;
use common::*;

fn htpasswd(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("htpasswd");
    let hash = bcrypt::hash("alice-pw", 4).unwrap();
    std::fs::write(&path, format!("alice:{hash}\n")).unwrap();
    path
}

/// The access log's lines once `done` holds for them (the writer is asynchronous).
fn log_lines(path: &Path, done: impl Fn(&[serde_json::Value]) -> bool) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        if done(&lines) {
            return lines;
        }
        assert!(
            Instant::now() < deadline,
            "access log never got there:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The value of one sample in a Prometheus exposition.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
        .parse()
        .unwrap()
}

#[test]
fn metrics_and_access_log_account_for_a_push_and_a_pull() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("access.log");
    let users = htpasswd(tmp.path());
    let srv = start_server(&tmp.path().join("srv"), |c| {
        c.htpasswd = Some(users);
        c.access_log = AccessLog::File(log.clone());
    });
    let image = make_image(&tmp.path().join("img"), &[300_000, 5_000], 7);
    let pushed: u64 = image.layers.iter().map(|l| l.size).sum::<u64>()
        + image.config.size
        + image.manifest.len() as u64;
    let alice = client_with(CredentialStore::in_dir(tmp.path().join("alice")), |_| {});
    alice.login(&srv.host(), "alice", "alice-pw").unwrap();
    let r = Reference::parse(&format!("{}/alice/app:1", srv.host())).unwrap();
    alice
        .push(&r, &image.push_image(), &image.blobs, &quiet)
        .unwrap();
    let sink = BlobDir::open(tmp.path().join("sink")).unwrap();
    alice.pull(&r, &Platform::host(), &sink, &quiet).unwrap();

    let text = ureq::get(&format!("{}/metrics", srv.url()))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    let put_manifest =
        "berth_registry_http_requests_total{route=\"manifest\",method=\"PUT\",status=\"201\"}";
    assert_eq!(sample(&text, put_manifest), 1.0);
    assert!(sample(&text, "berth_registry_http_received_bytes_total") >= pushed as f64);
    assert!(sample(&text, "berth_registry_http_sent_bytes_total") >= pushed as f64);
    let started = sample(&text, "berth_registry_upload_sessions_started_total");
    assert!(started >= 1.0, "{text}");
    assert_eq!(
        started,
        sample(&text, "berth_registry_upload_sessions_completed_total")
    );
    assert_eq!(sample(&text, "berth_registry_upload_sessions_open"), 0.0);
    assert!(
        sample(
            &text,
            "berth_registry_http_request_duration_seconds_count{route=\"blob\"}"
        ) >= 3.0
    );
    assert!(
        text.contains("# TYPE berth_registry_http_requests_total counter\n"),
        "{text}"
    );

    let lines = log_lines(&log, |lines| {
        lines
            .iter()
            .any(|l| l["method"] == "PUT" && l["route"] == "manifest")
            && lines.iter().filter(|l| l["route"] == "blob").count() >= 3
    });
    let manifest_put = lines
        .iter()
        .find(|l| l["method"] == "PUT" && l["route"] == "manifest")
        .unwrap();
    assert_eq!(manifest_put["status"], 201);
    assert_eq!(manifest_put["user"], "alice");
    assert_eq!(manifest_put["bytes_in"], image.manifest.len() as u64);
    assert_eq!(manifest_put["path"], "/v2/alice/app/manifests/1");
    assert!(manifest_put["remote"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.1:"));
    assert_eq!(manifest_put["complete"], true);
    let big = &image.layers[0];
    let download = lines
        .iter()
        .find(|l| {
            l["method"] == "GET" && l["path"] == format!("/v2/alice/app/blobs/{}", big.digest)
        })
        .unwrap();
    assert_eq!(download["bytes_out"], big.size);
    assert_eq!(download["user"], "alice");
    // A challenge answered with a password: the password and the tokens stay out of the log.
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(lines.iter().any(|l| l["route"] == "token"));
    assert!(
        !text.contains("alice-pw") && !text.contains("Bearer"),
        "{text}"
    );
}

#[test]
fn an_abandoned_download_is_logged_incomplete() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("access.log");
    let srv = start_server(&tmp.path().join("srv"), |c| {
        c.access_log = AccessLog::File(log.clone());
    });
    let image = make_image(&tmp.path().join("img"), &[8 << 20], 9);
    let r = Reference::parse(&format!("{}/big/blob:1", srv.host())).unwrap();
    client()
        .push(&r, &image.push_image(), &image.blobs, &quiet)
        .unwrap();
    let layer = &image.layers[0];
    let path = format!("/v2/big/blob/blobs/{}", layer.digest);
    let mut conn = std::net::TcpStream::connect(srv.addr()).unwrap();
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: quitter/1\r\n\r\n",
        srv.host()
    )
    .unwrap();
    let mut first = vec![0u8; 64 << 10];
    let n = conn.read(&mut first).unwrap();
    assert!(String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200"));
    drop(conn);

    let lines = log_lines(&log, |lines| {
        lines.iter().any(|l| l["user_agent"] == "quitter/1")
    });
    let quit = lines
        .iter()
        .find(|l| l["user_agent"] == "quitter/1")
        .unwrap();
    assert_eq!(quit["status"], 200);
    assert_eq!(quit["complete"], false, "{quit}");
    assert!(quit["bytes_out"].as_u64().unwrap() < layer.size, "{quit}");
    assert_eq!(quit["user"], "");
}
