//! The store root doubles as an OCI image layout, so `skopeo inspect oci:ROOT:TAG` and
//! `umoci ls --layout ROOT` read berth's images directly.

use std::path::Path;

use berth_image::digest::Digest;
use serde_json::json;

use crate::fsutil::write_atomic;
use crate::StoreError;

/// A manifest the layout's `index.json` lists, under a reference name.
#[derive(Debug, Clone)]
pub struct IndexEntry {
    pub manifest: Digest,
    pub media_type: String,
    pub size: u64,
    /// Value of `org.opencontainers.image.ref.name`: the tag as users write it
    /// (`busybox:latest`, `localhost:5000/app:v1`).
    pub ref_name: String,
    /// Full normalised name, as containerd records it (`io.containerd.image.name`).
    pub full_name: String,
}

pub fn ensure_layout_file(root: &Path) -> Result<(), StoreError> {
    let path = root.join("oci-layout");
    if !path.exists() {
        write_atomic(&path, br#"{"imageLayoutVersion":"1.0.0"}"#, root)?;
    }
    if !root.join("index.json").exists() {
        write_index(root, &[])?;
    }
    Ok(())
}

/// Rewrites `index.json` atomically.
pub fn write_index(root: &Path, entries: &[IndexEntry]) -> Result<(), StoreError> {
    let manifests: Vec<_> = entries
        .iter()
        .map(|e| {
            json!({
                "mediaType": e.media_type,
                "digest": e.manifest.to_string(),
                "size": e.size,
                "annotations": {
                    "io.containerd.image.name": e.full_name,
                    "org.opencontainers.image.ref.name": e.ref_name,
                }
            })
        })
        .collect();
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests,
    });
    let bytes = serde_json::to_vec_pretty(&index).map_err(|e| StoreError::Corrupt {
        what: "index.json".into(),
        reason: e.to_string(),
    })?;
    write_atomic(&root.join("index.json"), &bytes, &root.join("ingest"))
}
