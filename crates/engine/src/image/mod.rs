//! Images: naming, listing, adding and removing.

mod add;
mod archive_load;
mod archive_save;
mod import;
mod inspect;
mod list;
mod remove;

pub use add::LayerSource;
pub use archive_load::LoadEvent;
pub use import::{apply_change, go_arch, ImportOptions};
pub use inspect::HistoryEntry;
pub use list::{ImageFilter, ImageSummary};
pub use remove::{PruneReport, RemoveEvent};

use berth_image::digest::Digest;
use berth_image::reference::Reference;
use berth_store::layout::{self, IndexEntry};

use crate::{Engine, EngineError};

impl Engine {
    /// Resolves what a user typed (`busybox`, `busybox:1.36`, `sha256:…`, an ID prefix) to an
    /// image ID, the way docker does: a full ID first, then a tag, then a unique ID prefix.
    pub fn resolve_image(&self, name: &str) -> Result<Digest, EngineError> {
        let not_found = || EngineError::ImageNotFound(name.to_string());
        if let Ok(d) = name.parse::<Digest>() {
            return self
                .store
                .meta
                .read(|tx| tx.image(&d))?
                .map(|i| i.id)
                .ok_or_else(not_found);
        }
        let as_ref = Reference::parse(name).map(Reference::with_default_tag);
        if let Ok(r) = &as_ref {
            let full = r.to_string();
            if let Some(id) = self.store.meta.read(|tx| {
                if r.digest().is_some() {
                    Ok(tx
                        .images()?
                        .into_iter()
                        .find(|img| {
                            tx.repo_digests(&img.id)
                                .map(|ds| ds.contains(&full))
                                .unwrap_or(false)
                        })
                        .map(|i| i.id))
                } else {
                    tx.tag(&full)
                }
            })? {
                return Ok(id);
            }
        }
        let hex = name.strip_prefix("sha256:").unwrap_or(name);
        if !hex.is_empty() && hex.len() <= 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let hex = hex.to_ascii_lowercase();
            let found = self.store.meta.read(|tx| tx.images_by_prefix(&hex))?;
            match found.len() {
                1 => return found.into_iter().next().ok_or_else(not_found),
                0 => {}
                _ => {
                    return Err(EngineError::InvalidArgument(format!(
                        "image ID prefix {name} is ambiguous: it matches {} images; type more of the ID",
                        found.len()
                    )))
                }
            }
        }
        match as_ref {
            Err(e) => Err(e.into()),
            Ok(_) => Err(not_found()),
        }
    }

    /// Tags `source` (any name `resolve_image` accepts) as `target`.
    pub fn tag(&self, source: &str, target: &str) -> Result<(), EngineError> {
        let id = self.resolve_image(source)?;
        let target = Reference::parse(target)?.with_default_tag();
        if target.digest().is_some() {
            return Err(EngineError::InvalidArgument(format!(
                "refusing to create a tag with a digest reference: {target}"
            )));
        }
        self.set_tags(std::slice::from_ref(&target), &id)?;
        self.emit_image(
            crate::events::Action::Tag,
            &id.to_string(),
            &target.familiar(),
        );
        Ok(())
    }

    /// Points the tags `names` (full references) at `id`, in one transaction, and updates the
    /// OCI layout's index to match.
    pub(crate) fn set_tags(&self, names: &[Reference], id: &Digest) -> Result<(), EngineError> {
        let now = crate::now_unix();
        self.store.meta.write(|tx| {
            for name in names {
                tx.set_tag(&name.to_string(), id, now)?;
            }
            Ok::<_, EngineError>(())
        })?;
        self.sync_layout_index()
    }

    /// Rewrites the OCI layout's `index.json` from the tags, so that skopeo and umoci see
    /// exactly the tagged images.
    pub(crate) fn sync_layout_index(&self) -> Result<(), EngineError> {
        let entries = self.store.meta.read(|tx| {
            let mut out = Vec::new();
            for tag in tx.tags()? {
                let Some(img) = tx.image(&tag.image_id)? else {
                    continue;
                };
                let familiar = Reference::parse(&tag.name)
                    .map(|r| r.familiar())
                    .unwrap_or_else(|_| tag.name.clone());
                out.push(IndexEntry {
                    manifest: img.manifest,
                    media_type: img.manifest_media_type,
                    size: img.manifest_size,
                    ref_name: familiar,
                    full_name: tag.name,
                });
            }
            Ok(out)
        })?;
        layout::write_index(self.store.root(), &entries)?;
        Ok(())
    }

    /// The raw config bytes of an image (its ID is their digest).
    pub fn image_config(&self, id: &Digest) -> Result<serde_json::Value, EngineError> {
        let bytes = self.store.content.read(id)?;
        serde_json::from_slice(&bytes)
            .map_err(|e| EngineError::bad_input(format!("config of image {}", id.short()), e))
    }
}
