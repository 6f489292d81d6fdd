//! Throughput of a 200 MB image on loopback (ignored by default; run in release):
//! `cargo test --release -p berth-registry --test throughput -- --ignored --nocapture`.
//! Prints push and pull rates against berth's server and, when installed, Debian's
//! docker-registry, with the process's peak RSS (client and server share it).
#![allow(clippy::unwrap_used)] // test helpers panic on setup failures by design

mod common;

use std::io::Write;
use std::time::Instant;

use berth_registry::blob::BlobDir;
use berth_registry::client::PushImage;
use berth_registry::manifest::{Descriptor, OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST};
use berth_registry::platform::Platform;
use berth_registry::{Digest, Reference};
use common::*;
use rand::{RngCore, SeedableRng};
use sha2::Digest as _;

/// Writes a `len`-byte random layer straight to disk, never holding it in memory.
fn stream_layer(blobs: &BlobDir, len: u64, seed: u64) -> Descriptor {
    let tmp = blobs.root().join("gen.tmp");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp).unwrap());
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut hash = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        rng.fill_bytes(&mut buf[..n]);
        f.write_all(&buf[..n]).unwrap();
        hash.update(&buf[..n]);
        left -= n as u64;
    }
    f.flush().unwrap();
    let d = Digest::from_hex(&hex::encode(hash.finalize())).unwrap();
    std::fs::rename(&tmp, blobs.path(&d)).unwrap();
    Descriptor::new(OCI_LAYER_GZIP, d, len)
}

fn peak_rss_mb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0)
        / 1024
}

fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

#[test]
#[ignore = "benchmark: run with --release --ignored --nocapture"]
fn push_and_pull_200mb() {
    let tmp = tempfile::tempdir().unwrap();
    let blobs = BlobDir::open(tmp.path().join("src")).unwrap();
    let layers: Vec<Descriptor> = [120u64 << 20, 60 << 20, 20 << 20]
        .iter()
        .enumerate()
        .map(|(i, n)| stream_layer(&blobs, *n, i as u64))
        .collect();
    let config = blobs
        .put(OCI_CONFIG, br#"{"architecture":"amd64","os":"linux"}"#)
        .unwrap();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": layers,
    }))
    .unwrap();
    let image = PushImage {
        manifest_bytes: &manifest,
        media_type: OCI_MANIFEST,
        config: &config,
        layers: &layers,
        mount_from: &[],
    };
    let total: u64 = layers.iter().map(|l| l.size).sum();
    let mb = total as f64 / (1 << 20) as f64;
    let srv = start_server(&tmp.path().join("srv"), |_| {});
    let mut targets = vec![("berth registry serve".to_owned(), srv.host(), None)];
    if std::process::Command::new("sh")
        .args(["-c", "command -v docker-registry"])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tmp.path().join("reg");
        std::fs::create_dir_all(dir.join("storage")).unwrap();
        let cfg = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.join("storage").display()
        );
        std::fs::write(dir.join("config.yml"), cfg).unwrap();
        let child = std::process::Command::new("docker-registry")
            .arg("serve")
            .arg(dir.join("config.yml"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        while ureq::get(&format!("http://127.0.0.1:{port}/v2/"))
            .call()
            .is_err()
        {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        targets.push((
            "docker-registry 2.8".to_owned(),
            format!("127.0.0.1:{port}"),
            Some(child),
        ));
    }
    println!("\nimage: {} layers, {mb:.0} MB", layers.len());
    for (name, host, child) in &mut targets {
        let c = client();
        let r = Reference::parse(&format!("{host}/bench/app:1")).unwrap();
        reset_peak_rss();
        let t = Instant::now();
        c.push(&r, &image, &blobs, &quiet).unwrap();
        let push = t.elapsed().as_secs_f64();
        let push_rss = peak_rss_mb();
        let sink =
            BlobDir::open(tmp.path().join(format!("sink-{}", host.replace(':', "-")))).unwrap();
        reset_peak_rss();
        let t = Instant::now();
        c.pull(&r, &Platform::host(), &sink, &quiet).unwrap();
        let pull = t.elapsed().as_secs_f64();
        let pull_rss = peak_rss_mb();
        println!(
            "{name:>22}: push {push:.2}s = {:.0} MB/s (peak RSS {push_rss} MB) | pull {pull:.2}s = {:.0} MB/s (peak RSS {pull_rss} MB)",
            mb / push,
            mb / pull
        );
        if have_skopeo() {
            // The same image with skopeo as the client, for comparison.
            let layout = write_layout(&blobs, &manifest);
            let t = Instant::now();
            skopeo(&[
                "copy",
                "--dest-tls-verify=false",
                &format!("oci:{}:t", layout.display()),
                &format!("docker://{host}/bench/skopeo:1"),
            ]);
            let push = t.elapsed().as_secs_f64();
            let out = tmp
                .path()
                .join(format!("skopeo-{}", host.replace(':', "-")));
            let t = Instant::now();
            skopeo(&[
                "copy",
                "--src-tls-verify=false",
                &format!("docker://{host}/bench/skopeo:1"),
                &format!("oci:{}:t", out.display()),
            ]);
            let pull = t.elapsed().as_secs_f64();
            println!("{:>22}  skopeo 1.9 as the client: push {push:.2}s = {:.0} MB/s | pull {pull:.2}s = {:.0} MB/s", "", mb / push, mb / pull);
        }
        if let Some(ch) = child.as_mut() {
            let _ = ch.kill();
            let _ = ch.wait();
        }
    }
}

fn have_skopeo() -> bool {
    std::process::Command::new("sh")
        .args(["-c", "command -v skopeo"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn skopeo(args: &[&str]) {
    let out = std::process::Command::new("skopeo")
        .arg("--insecure-policy")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Makes the source `BlobDir` an OCI layout with `manifest` tagged `t`.
fn write_layout(blobs: &BlobDir, manifest: &[u8]) -> std::path::PathBuf {
    let desc = blobs.put(OCI_MANIFEST, manifest).unwrap();
    let mut entry = serde_json::to_value(&desc).unwrap();
    entry["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": "t"});
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [entry]});
    std::fs::write(blobs.root().join("index.json"), index.to_string()).unwrap();
    std::fs::write(
        blobs.root().join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    blobs.root().to_owned()
}
