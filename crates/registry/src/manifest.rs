//! The four manifest media types a registry serves, descriptors, and a strict parser.
//!
//! Both the client (to walk what it pulled) and the server (to validate what is pushed) use
//! [`parse_manifest`]; it refuses anything that is not JSON with `schemaVersion: 2` and the fields
//! its type requires, so a malformed answer never reaches the store.

use std::collections::BTreeMap;

use berth_image::Digest;
use serde::{Deserialize, Serialize};

use crate::platform::Platform;

/// `application/vnd.oci.image.manifest.v1+json`
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// `application/vnd.oci.image.index.v1+json`
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// `application/vnd.docker.distribution.manifest.v2+json`
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// `application/vnd.docker.distribution.manifest.list.v2+json`
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker's old signed schema 1, which berth refuses.
pub const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";
/// `application/vnd.oci.image.config.v1+json`
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// `application/vnd.docker.container.image.v1+json`
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// `application/vnd.oci.image.layer.v1.tar+gzip`
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// `application/vnd.docker.image.rootfs.diff.tar.gzip`
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// The value of an `Accept` header that asks for any of the four manifest types.
pub const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// The largest manifest accepted, as containerd and distribution do.
pub const MAX_MANIFEST_SIZE: u64 = 4 << 20;

/// Points at content by digest and size, as the OCI image spec defines it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
}

impl Descriptor {
    /// A descriptor for `bytes` with `media_type`.
    pub fn of(media_type: &str, bytes: &[u8]) -> Self {
        Self::new(media_type, Digest::of(bytes), bytes.len() as u64)
    }

    pub fn new(media_type: &str, digest: Digest, size: u64) -> Self {
        Self {
            media_type: media_type.to_owned(),
            digest,
            size,
            platform: None,
            artifact_type: None,
            annotations: BTreeMap::new(),
            urls: Vec::new(),
        }
    }
}

/// An image manifest (OCI or Docker schema 2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An image index (OCI) or manifest list (Docker).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// A parsed manifest of either kind (short-lived, so the size difference does not matter).
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Manifest {
    Image(ImageManifest),
    Index(ImageIndex),
}

impl Manifest {
    /// The descriptor this manifest names as its subject (referrers API).
    pub fn subject(&self) -> Option<&Descriptor> {
        match self {
            Manifest::Image(m) => m.subject.as_ref(),
            Manifest::Index(i) => i.subject.as_ref(),
        }
    }

    /// The artifact type the referrers API reports: `artifactType`, else the config's type.
    pub fn artifact_type(&self) -> Option<&str> {
        match self {
            Manifest::Image(m) => m
                .artifact_type
                .as_deref()
                .or(Some(m.config.media_type.as_str())),
            Manifest::Index(i) => i.artifact_type.as_deref(),
        }
    }

    /// The annotations of the manifest itself.
    pub fn annotations(&self) -> &BTreeMap<String, String> {
        match self {
            Manifest::Image(m) => &m.annotations,
            Manifest::Index(i) => &i.annotations,
        }
    }
}

/// Why bytes are not a manifest berth accepts.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ManifestError {
    #[error("malformed manifest: {0}")]
    Malformed(String),
    #[error("unsupported manifest media type {0:?}")]
    UnsupportedMediaType(String),
    #[error("unsupported manifest schema version {0} (docker schema 1 images are not supported)")]
    SchemaVersion(u64),
    #[error("manifest mediaType {field:?} does not match its content type {header:?}")]
    MediaTypeConflict { field: String, header: String },
}

/// True for an index or manifest list media type.
pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST
}

/// True for one of the four manifest media types.
pub fn is_manifest_type(media_type: &str) -> bool {
    matches!(
        media_type,
        OCI_MANIFEST | OCI_INDEX | DOCKER_MANIFEST | DOCKER_MANIFEST_LIST
    )
}

/// `text/plain; charset=utf-8` → `text/plain`.
pub fn bare_media_type(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or("").trim()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    schema_version: Option<u64>,
    media_type: Option<String>,
    manifests: Option<serde_json::Value>,
    config: Option<serde_json::Value>,
}

/// Parses `bytes` as a manifest. `content_type` is the `Content-Type` it came with (a generic
/// type such as `application/json` is ignored). Returns the manifest and its media type.
pub fn parse_manifest(
    bytes: &[u8],
    content_type: Option<&str>,
) -> Result<(Manifest, String), ManifestError> {
    let probe: Probe =
        serde_json::from_slice(bytes).map_err(|e| ManifestError::Malformed(e.to_string()))?;
    let header = content_type
        .map(bare_media_type)
        .filter(|t| !t.is_empty() && *t != "application/json" && *t != "text/plain");
    if header == Some(DOCKER_SCHEMA1_SIGNED) {
        return Err(ManifestError::SchemaVersion(1));
    }
    match probe.schema_version {
        Some(2) => {}
        Some(v) => return Err(ManifestError::SchemaVersion(v)),
        None => return Err(ManifestError::Malformed("missing schemaVersion".into())),
    }
    let media_type = match (&probe.media_type, header) {
        (Some(field), Some(h)) if field != h => {
            return Err(ManifestError::MediaTypeConflict {
                field: field.clone(),
                header: h.to_owned(),
            })
        }
        (Some(field), _) => field.clone(),
        (None, Some(h)) => h.to_owned(),
        (None, None) if probe.manifests.is_some() => OCI_INDEX.to_owned(),
        (None, None) if probe.config.is_some() => OCI_MANIFEST.to_owned(),
        (None, None) => return Err(ManifestError::Malformed("unknown manifest kind".into())),
    };
    let bad = |e: serde_json::Error| ManifestError::Malformed(e.to_string());
    let manifest = match media_type.as_str() {
        OCI_MANIFEST | DOCKER_MANIFEST => {
            Manifest::Image(serde_json::from_slice(bytes).map_err(bad)?)
        }
        OCI_INDEX | DOCKER_MANIFEST_LIST => {
            Manifest::Index(serde_json::from_slice(bytes).map_err(bad)?)
        }
        other => return Err(ManifestError::UnsupportedMediaType(other.to_owned())),
    };
    Ok((manifest, media_type))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image_json(media_type: Option<&str>) -> Vec<u8> {
        let cfg = Descriptor::of(OCI_CONFIG, b"{}");
        let mut v = serde_json::json!({"schemaVersion": 2, "config": cfg, "layers": []});
        if let Some(t) = media_type {
            v["mediaType"] = t.into();
        }
        serde_json::to_vec(&v).unwrap()
    }

    #[test]
    fn parses_by_field_header_or_shape() {
        let (m, t) = parse_manifest(&image_json(Some(DOCKER_MANIFEST)), None).unwrap();
        assert_eq!(t, DOCKER_MANIFEST);
        assert!(matches!(m, Manifest::Image(_)));
        let (_, t) = parse_manifest(&image_json(None), Some(OCI_MANIFEST)).unwrap();
        assert_eq!(t, OCI_MANIFEST);
        let (_, t) = parse_manifest(&image_json(None), Some("application/json")).unwrap();
        assert_eq!(t, OCI_MANIFEST);
        let idx = br#"{"schemaVersion":2,"manifests":[]}"#;
        let (m, t) = parse_manifest(idx, None).unwrap();
        assert_eq!(t, OCI_INDEX);
        assert!(matches!(m, Manifest::Index(_)));
    }

    #[test]
    fn refuses_malformed_and_old() {
        for bad in [
            &b"not json"[..],
            b"{}",
            br#"{"schemaVersion":2,"config":{}}"#,
        ] {
            assert!(parse_manifest(bad, Some(OCI_MANIFEST)).is_err());
        }
        let e = parse_manifest(br#"{"schemaVersion":1}"#, None).unwrap_err();
        assert_eq!(e, ManifestError::SchemaVersion(1));
        let e = parse_manifest(&image_json(Some(OCI_MANIFEST)), Some(DOCKER_MANIFEST));
        assert!(matches!(e, Err(ManifestError::MediaTypeConflict { .. })));
        let neg = br#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":-1}}"#;
        assert!(parse_manifest(neg, None).is_err());
    }
}
