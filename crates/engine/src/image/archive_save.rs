//! `save`: one archive that both docker (`manifest.json`) and OCI tools (`oci-layout`,
//! `index.json`, `blobs/`) read, as docker 25 and later write it. Blobs are copied as stored,
//! so saving costs no recompression and the digests in the archive are the registry's.

use std::collections::BTreeSet;
use std::io::Write;

use berth_image::digest::Digest;
use berth_image::reference::Reference;
use serde_json::{json, Value};

use crate::{Engine, EngineError};

const WHAT: &str = "save";

struct Saved {
    id: Digest,
    manifest: Digest,
    manifest_media_type: String,
    manifest_size: u64,
    layers: Vec<Digest>,
    /// Tags to record, full form.
    tags: Vec<Reference>,
}

impl Engine {
    /// Writes the named images (tags keep their names; an ID saves the image untagged) as a
    /// tar archive to `out`.
    pub fn save(&self, names: &[String], out: impl Write) -> Result<(), EngineError> {
        let _lock = self.store.lock_shared()?;
        let mut saved: Vec<Saved> = Vec::new();
        for name in names {
            let id = self.resolve_image(name)?;
            let tag = Reference::parse(name)
                .ok()
                .map(Reference::with_default_tag)
                .filter(|r| r.digest().is_none())
                .filter(|r| {
                    self.store
                        .meta
                        .read(|tx| tx.tag(&r.to_string()))
                        .ok()
                        .flatten()
                        .as_ref()
                        == Some(&id)
                });
            if let Some(s) = saved.iter_mut().find(|s| s.id == id) {
                s.tags.extend(tag);
                continue;
            }
            let img = self
                .store
                .meta
                .read(|tx| tx.image(&id))?
                .ok_or_else(|| EngineError::ImageNotFound(name.clone()))?;
            let layers = self.store.meta.read(|tx| {
                img.layers
                    .iter()
                    .map(|c| {
                        tx.layer(c)?.map(|l| l.blob).ok_or_else(|| {
                            berth_store::StoreError::Corrupt {
                                what: format!("image {}", id.short()),
                                reason: format!("layer {c} is not recorded"),
                            }
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
            })?;
            saved.push(Saved {
                id,
                manifest: img.manifest,
                manifest_media_type: img.manifest_media_type,
                manifest_size: img.manifest_size,
                layers,
                tags: tag.into_iter().collect(),
            });
        }

        let mut tar = tar::Builder::new(out);
        let mut written: BTreeSet<Digest> = BTreeSet::new();
        add_dir(&mut tar, "blobs/")?;
        add_dir(&mut tar, "blobs/sha256/")?;
        for s in &saved {
            for d in std::iter::once(&s.manifest)
                .chain(std::iter::once(&s.id))
                .chain(&s.layers)
            {
                if written.insert(d.clone()) {
                    self.add_blob(&mut tar, d)?;
                }
            }
        }
        let mut index_entries = Vec::new();
        let mut docker_manifest = Vec::new();
        for s in &saved {
            let names: Vec<Option<&Reference>> = if s.tags.is_empty() {
                vec![None]
            } else {
                s.tags.iter().map(Some).collect()
            };
            for r in names {
                let mut desc = json!({
                    "mediaType": s.manifest_media_type,
                    "digest": s.manifest.to_string(),
                    "size": s.manifest_size,
                });
                if let Some(r) = r {
                    desc["annotations"] = json!({
                        "io.containerd.image.name": r.to_string(),
                        "org.opencontainers.image.ref.name": r.tag().unwrap_or("latest"),
                    });
                }
                index_entries.push(desc);
            }
            docker_manifest.push(json!({
                "Config": format!("blobs/sha256/{}", s.id.hex()),
                "RepoTags": if s.tags.is_empty() { Value::Null } else {
                    json!(s.tags.iter().map(Reference::familiar).collect::<Vec<_>>())
                },
                "Layers": s.layers.iter().map(|d| format!("blobs/sha256/{}", d.hex())).collect::<Vec<_>>(),
            }));
        }
        add_file(&mut tar, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        let index = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": index_entries,
        });
        add_file(&mut tar, "index.json", &to_vec(&index)?)?;
        add_file(
            &mut tar,
            "manifest.json",
            &to_vec(&Value::Array(docker_manifest))?,
        )?;
        tar.into_inner()
            .and_then(|mut w| w.flush())
            .map_err(|e| EngineError::io(WHAT, e))?;
        for s in &saved {
            self.emit_image(
                crate::events::Action::Save,
                &s.id.to_string(),
                &s.id.to_string(),
            );
        }
        Ok(())
    }

    fn add_blob<W: Write>(&self, tar: &mut tar::Builder<W>, d: &Digest) -> Result<(), EngineError> {
        let mut file = self.store.content.open_blob(d)?;
        let size = self.store.content.size(d)?;
        let mut header = header(tar::EntryType::Regular, size, 0o444);
        tar.append_data(&mut header, format!("blobs/sha256/{}", d.hex()), &mut file)
            .map_err(|e| EngineError::io(WHAT, e))
    }
}

fn to_vec(v: &Value) -> Result<Vec<u8>, EngineError> {
    serde_json::to_vec(v).map_err(|e| EngineError::bad_input(WHAT, e))
}

fn header(kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h
}

fn add_dir<W: Write>(tar: &mut tar::Builder<W>, path: &str) -> Result<(), EngineError> {
    let mut h = header(tar::EntryType::Directory, 0, 0o755);
    tar.append_data(&mut h, path, std::io::empty())
        .map_err(|e| EngineError::io(WHAT, e))
}

fn add_file<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    bytes: &[u8],
) -> Result<(), EngineError> {
    let mut h = header(tar::EntryType::Regular, bytes.len() as u64, 0o444);
    tar.append_data(&mut h, path, bytes)
        .map_err(|e| EngineError::io(WHAT, e))
}
