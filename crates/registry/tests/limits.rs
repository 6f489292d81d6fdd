//! Bad input at scale: an oversized manifest, a 10 GB upload into a store with a 64 MiB quota,
//! and 1000 upload sessions open at once. Each gets a clear answer, leaves nothing half-written
//! and keeps the server's memory bounded.
#![allow(clippy::unwrap_used)] // test helpers panic on setup failures by design

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_registry::manifest::{OCI_CONFIG, OCI_MANIFEST};
use berth_registry::Digest;
use common::*;

/// The process's peak resident set, in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Everything under `dir`, recursively, as relative paths.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path().strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn an_oversized_manifest_is_refused_and_nothing_is_stored() {
    let tmp = tempfile::tempdir().unwrap();
    let srv = start_server(&tmp.path().join("srv"), |_| {});
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let config_digest = Digest::of(config);
    let url = |p: &str| format!("{}/v2/big/app/{p}", srv.url());
    let resp = ureq::post(&url(&format!("blobs/uploads/?digest={config_digest}")))
        .send_bytes(config)
        .unwrap();
    assert_eq!(resp.status(), 201);
    // A valid manifest made large by an annotation: 5 MiB, over the 4 MiB limit.
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest.to_string(), "size": config.len()},
        "layers": [],
        "annotations": {"padding": "x".repeat(5 << 20)},
    }))
    .unwrap();
    let err = ureq::put(&url("manifests/latest"))
        .set("Content-Type", OCI_MANIFEST)
        .send_bytes(&manifest)
        .unwrap_err();
    let ureq::Error::Status(status, resp) = err else {
        panic!("{err}")
    };
    assert_eq!(status, 413);
    let body: serde_json::Value = serde_json::from_str(&resp.into_string().unwrap()).unwrap();
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("4 MiB"), "{body}");
    assert_eq!(body["errors"][0]["code"], "SIZE_INVALID");
    // Nothing of it: no tag, no manifest blob.
    let tags = ureq::get(&url("tags/list")).call().unwrap().into_string();
    let tags: serde_json::Value = serde_json::from_str(&tags.unwrap()).unwrap();
    assert!(
        tags["tags"].as_array().is_none_or(|t| t.is_empty()),
        "{tags}"
    );
    let d = Digest::of(&manifest);
    assert!(srv.storage().blob_size(&d).is_none());
    assert!(srv
        .storage()
        .read_manifest("big/app", &d)
        .unwrap()
        .is_none());
}

/// Writes `total` bytes of a PATCH body in 1 MiB chunks until the server stops reading;
/// returns (bytes written, the response head if one came back).
fn stream_patch(addr: &str, path: &str, total: u64) -> (u64, String) {
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        conn,
        "PATCH {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/octet-stream\r\nContent-Length: {total}\r\n\r\n"
    )
    .unwrap();
    let chunk = random_bytes(1 << 20, 5);
    let mut sent = 0u64;
    while sent < total {
        match conn.write_all(&chunk) {
            Ok(()) => sent += chunk.len() as u64,
            Err(_) => break,
        }
    }
    let mut head = Vec::new();
    let _ = conn.read_to_end(&mut head);
    (sent, String::from_utf8_lossy(&head).into_owned())
}

#[test]
fn a_10_gb_upload_into_a_full_store_fails_cleanly() {
    if !is_root() {
        eprintln!("SKIPPED (needs root to mount a size-limited tmpfs): a_10_gb_upload_into_a_full_store_fails_cleanly");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    std::fs::create_dir(&store).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64m", "tmpfs"])
        .arg(&store)
        .status()
        .unwrap();
    assert!(mounted.success());
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&store);
    let srv = start_server(&store, |_| {});
    let rss_before = peak_rss_kib();

    let resp = ureq::post(&format!("{}/v2/huge/app/blobs/uploads/", srv.url()))
        .call()
        .unwrap();
    assert_eq!(resp.status(), 202);
    let location = resp.header("Location").unwrap().to_owned();
    let started = Instant::now();
    let (sent, head) = stream_patch(&srv.host(), &location, 10 << 30);
    // The server stopped reading soon after the store filled: not 10 GB later.
    assert!(
        sent < 1 << 30,
        "{sent} bytes went in before the server gave up"
    );
    assert!(started.elapsed() < Duration::from_secs(60));
    // The answer arrives although the client was still sending.
    assert!(
        head.starts_with("HTTP/1.1 507"),
        "unexpected answer: {head}"
    );
    assert!(head.contains("storage is full"), "{head}");
    // Nothing half-written: the session's data is gone and the space is free again.
    let leftovers: Vec<String> = files_under(&store)
        .into_iter()
        .filter(|f| f.starts_with("uploads/") || f.starts_with("tmp/") || f.starts_with("blobs/"))
        .collect();
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
    let status = ureq::get(&format!("{}{location}", srv.url())).call();
    assert!(
        matches!(status, Err(ureq::Error::Status(404, _))),
        "the failed session should be gone: {status:?}"
    );
    // And the registry still takes a push that fits.
    let image = make_image(&tmp.path().join("img"), &[100_000], 3);
    let r = berth_registry::Reference::parse(&format!("{}/small/app:1", srv.host())).unwrap();
    client()
        .push(&r, &image.push_image(), &image.blobs, &quiet)
        .unwrap();
    let grown = peak_rss_kib().saturating_sub(rss_before);
    assert!(grown < 128 << 10, "peak RSS grew by {grown} KiB");
}

#[test]
fn a_thousand_upload_sessions_at_once() {
    const SESSIONS: usize = 1000;
    const THREADS: usize = 50;
    let tmp = tempfile::tempdir().unwrap();
    let srv = Arc::new(start_server(&tmp.path().join("srv"), |_| {}));
    let fds_before = open_fds();
    let rss_before = peak_rss_kib();
    let agent = ureq::AgentBuilder::new()
        .max_idle_connections(THREADS)
        .build();
    let base = format!("{}/v2/many/app/blobs/uploads/", srv.url());

    // Open them all first, so all 1000 are in progress together.
    let locations: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                s.spawn(|| {
                    (0..SESSIONS / THREADS)
                        .map(|_| {
                            let r = agent.post(&base).call().unwrap();
                            assert_eq!(r.status(), 202);
                            r.header("Location").unwrap().to_owned()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert_eq!(locations.len(), SESSIONS);
    let listed = files_under(&srv.storage().root().join("uploads"));
    assert!(listed.len() >= SESSIONS, "{} upload files", listed.len());

    // Then a chunk into each, and the final PUT with its digest.
    let done = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (locations, agent, srv, done) = (&locations, &agent, &srv, &done);
            s.spawn(move || {
                for (i, loc) in locations.iter().enumerate().skip(t).step_by(THREADS) {
                    let data = random_bytes(16 << 10, i as u64);
                    let url = format!("{}{loc}", srv.url());
                    let r = agent
                        .request("PATCH", &url)
                        .set("Content-Type", "application/octet-stream")
                        .send_bytes(&data)
                        .unwrap();
                    assert_eq!(r.status(), 202);
                    let next = format!("{}{}", srv.url(), r.header("Location").unwrap());
                    let sep = if next.contains('?') { '&' } else { '?' };
                    let r = agent
                        .put(&format!("{next}{sep}digest={}", Digest::of(&data)))
                        .call()
                        .unwrap();
                    assert_eq!(r.status(), 201);
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    assert_eq!(done.load(Ordering::Relaxed), SESSIONS);
    for i in [0, 499, 999] {
        let data = random_bytes(16 << 10, i as u64);
        let got = ureq::get(&format!(
            "{}/v2/many/app/blobs/{}",
            srv.url(),
            Digest::of(&data)
        ))
        .call()
        .unwrap();
        let mut body = Vec::new();
        got.into_reader().read_to_end(&mut body).unwrap();
        assert_eq!(body, data);
    }
    let left = files_under(&srv.storage().root().join("uploads"));
    assert!(left.is_empty(), "{} upload files left", left.len());
    drop(agent);
    // Bounded: no per-session buffers, no file left open per session.
    let grown = peak_rss_kib().saturating_sub(rss_before);
    assert!(grown < 256 << 10, "peak RSS grew by {grown} KiB");
    let fds = open_fds();
    assert!(
        fds < fds_before + THREADS + 16,
        "{fds} fds open, {fds_before} before"
    );
}
