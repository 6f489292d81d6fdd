//! Helpers shared by the integration tests: images made of random blobs, clients, servers.
#![allow(dead_code, clippy::unwrap_used)]

pub mod fake;
pub mod moto;

use std::path::Path;
use std::time::Duration;

use berth_registry::blob::{BlobDir, BlobSink};
use berth_registry::client::{Client, ClientConfig, CredentialStore, Event};
use berth_registry::manifest::{Descriptor, OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST};
use berth_registry::server::{self, ServerConfig, ServerHandle};
use rand::{RngCore, SeedableRng};

pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut v = vec![0u8; len];
    rng.fill_bytes(&mut v);
    v
}

/// An image whose blobs sit in a `BlobDir`.
pub struct TestImage {
    pub blobs: BlobDir,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    pub manifest: Vec<u8>,
    pub media_type: String,
}

impl TestImage {
    pub fn push_image(&self) -> berth_registry::client::PushImage<'_> {
        berth_registry::client::PushImage {
            manifest_bytes: &self.manifest,
            media_type: &self.media_type,
            config: &self.config,
            layers: &self.layers,
            mount_from: &[],
        }
    }
}

/// `len` random bytes as a gzip stream (stored, not compressed): tools such as skopeo sniff
/// layers and would recompress anything that is not gzip.
pub fn gzip_layer(len: usize, seed: u64) -> Vec<u8> {
    use std::io::Write;
    let mut enc =
        flate2::write::GzEncoder::new(Vec::with_capacity(len + 1024), flate2::Compression::none());
    enc.write_all(&random_bytes(len, seed)).unwrap();
    enc.finish().unwrap()
}

/// Builds an OCI image with one random (gzip) layer per entry of `layer_sizes`.
pub fn make_image(dir: &Path, layer_sizes: &[usize], seed: u64) -> TestImage {
    let blobs = BlobDir::open(dir).unwrap();
    let layers: Vec<Descriptor> = layer_sizes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            blobs
                .put(OCI_LAYER_GZIP, &gzip_layer(*n, seed * 100 + i as u64))
                .unwrap()
        })
        .collect();
    let config_json = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l.digest.to_string()).collect::<Vec<_>>()},
        "seed": seed,
    });
    let config = blobs
        .put(OCI_CONFIG, &serde_json::to_vec(&config_json).unwrap())
        .unwrap();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": layers,
    }))
    .unwrap();
    TestImage {
        blobs,
        config,
        layers,
        manifest,
        media_type: OCI_MANIFEST.to_owned(),
    }
}

pub fn client_with(auth: CredentialStore, tweak: impl FnOnce(&mut ClientConfig)) -> Client {
    let mut cfg = ClientConfig {
        auth,
        timeout: Duration::from_secs(20),
        ..ClientConfig::default()
    };
    tweak(&mut cfg);
    Client::new(cfg).unwrap()
}

pub fn client() -> Client {
    client_with(CredentialStore::anonymous(), |_| {})
}

pub fn start_server(root: &Path, tweak: impl FnOnce(&mut ServerConfig)) -> ServerHandle {
    let mut cfg = ServerConfig::new(root, "127.0.0.1:0".parse().unwrap());
    cfg.s3 = moto::storage_under_test(root);
    tweak(&mut cfg);
    server::start(cfg).unwrap()
}

pub fn quiet(_: Event) {}

/// Asserts the sink holds exactly `want` as `desc`.
pub fn assert_blob(sink: &BlobDir, desc: &Descriptor, want: &[u8]) {
    assert!(sink.has_blob(&desc.digest), "{} missing", desc.digest);
    assert_eq!(
        sink.read(&desc.digest).unwrap(),
        want,
        "{} differs",
        desc.digest
    );
}

/// Verified blobs in a sink (`blobs/sha256`).
pub fn committed(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir.join("blobs/sha256"))
        .map(|r| {
            r.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}
