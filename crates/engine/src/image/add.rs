//! Adding an image whose blobs are already in the content store: the one path that `load`,
//! `import`, and later `pull` and `build` share.

use std::collections::HashMap;
use std::io::Read;

use berth_image::digest::{chain_ids, Digest};
use berth_image::layer::{detect_compression, Compression, UnpackOptions};
use berth_registry::client::Event;
use berth_store::layers::UnpackedLayer;
use berth_store::{BlobInfo, ImageRecord, LayerRecord, PreparedLayer};
use serde_json::json;

use crate::{Engine, EngineError};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// A layer blob of an image being added.
#[derive(Debug, Clone)]
pub struct LayerSource {
    pub blob: BlobInfo,
    /// The media type it was distributed with; guessed from its first bytes when `None`.
    pub media_type: Option<String>,
}

/// The layer media type for a blob's compression.
pub fn layer_media_type(c: Compression) -> &'static str {
    match c {
        Compression::None => "application/vnd.oci.image.layer.v1.tar",
        Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
        Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
    }
}

/// The `rootfs.diff_ids` of an image config.
pub fn config_diff_ids(config: &serde_json::Value, what: &str) -> Result<Vec<Digest>, EngineError> {
    let ids = config
        .pointer("/rootfs/diff_ids")
        .and_then(|v| v.as_array())
        .ok_or_else(|| EngineError::bad_input(what, "image config has no rootfs.diff_ids"))?;
    ids.iter()
        .map(|v| {
            v.as_str()
                .unwrap_or_default()
                .parse::<Digest>()
                .map_err(|e| EngineError::bad_input(what, format!("image config: {e}")))
        })
        .collect()
}

impl Engine {
    /// Records an image from its config bytes and its layer blobs (bottom first), unpacking
    /// every layer not unpacked yet and checking each against the config's diff IDs. Nothing
    /// is recorded unless every layer checks out.
    pub fn add_image(
        &self,
        config_bytes: &[u8],
        layers: &[LayerSource],
        what: &str,
    ) -> Result<ImageRecord, EngineError> {
        self.add_image_with_manifest(
            config_bytes,
            layers,
            None,
            what,
            &|_| {},
            &mut HashMap::new(),
        )
    }

    /// [`Engine::add_image`] keeping a manifest that came with the image (a pull's: its
    /// digest is the registry's), instead of writing one. Each layer it unpacks is reported to
    /// `progress` ([`Event::LayerExtracting`], then [`Event::LayerExtracted`]).
    pub fn add_image_with_manifest(
        &self,
        config_bytes: &[u8],
        layers: &[LayerSource],
        manifest: Option<(BlobInfo, String)>,
        what: &str,
        progress: &(dyn Fn(Event) + Sync),
        prepared: &mut HashMap<Digest, PreparedLayer>,
    ) -> Result<ImageRecord, EngineError> {
        let config: serde_json::Value = serde_json::from_slice(config_bytes)
            .map_err(|e| EngineError::bad_input(what, format!("image config is not JSON: {e}")))?;
        let diff_ids = config_diff_ids(&config, what)?;
        if diff_ids.len() != layers.len() {
            return Err(EngineError::bad_input(
                what,
                format!(
                    "image config lists {} layers but {} were supplied",
                    diff_ids.len(),
                    layers.len()
                ),
            ));
        }
        let chains = chain_ids(&diff_ids);
        let opts = UnpackOptions::default();
        let mut records: Vec<LayerRecord> = Vec::with_capacity(layers.len());
        for (i, src) in layers.iter().enumerate() {
            let chain = &chains[i];
            let parent = i.checked_sub(1).map(|p| chains[p].clone());
            if let Some(rec) = self.store.meta.read(|tx| tx.layer(chain))? {
                if self.store.layers.exists(chain) {
                    records.push(rec);
                    continue;
                }
            }
            let media_type = match &src.media_type {
                Some(m) => m.clone(),
                None => self.guess_layer_media_type(&src.blob.digest)?,
            };
            let done = match prepared.remove(&src.blob.digest) {
                // Unpacked while it downloaded: only its diff ID to check and the rename.
                Some(p) => self
                    .store
                    .layers
                    .publish(p, parent.as_ref(), Some(&diff_ids[i]))?,
                None => self.unpack_blob(src, parent.as_ref(), &diff_ids[i], &opts, progress)?,
            };
            progress(Event::LayerExtracted {
                digest: src.blob.digest.clone(),
            });
            if done.unpacked.compressed_digest != src.blob.digest {
                return Err(EngineError::bad_input(
                    what,
                    format!("layer blob {} changed while it was read", src.blob.digest),
                ));
            }
            records.push(LayerRecord {
                chain_id: done.chain_id,
                diff_id: done.unpacked.diff_id,
                parent,
                blob: src.blob.digest.clone(),
                blob_size: src.blob.size,
                media_type,
                size: done.unpacked.size,
                link: done.link,
            });
        }

        let config_blob = self.store.content.put(config_bytes)?;
        let (manifest_blob, manifest_media_type) = match manifest {
            Some(m) => m,
            None => {
                let manifest = json!({
                    "schemaVersion": 2,
                    "mediaType": OCI_MANIFEST,
                    "config": {"mediaType": OCI_CONFIG, "digest": config_blob.digest.to_string(), "size": config_blob.size},
                    "layers": records.iter().map(|l| json!({
                        "mediaType": l.media_type, "digest": l.blob.to_string(), "size": l.blob_size,
                    })).collect::<Vec<_>>(),
                });
                let bytes =
                    serde_json::to_vec(&manifest).map_err(|e| EngineError::bad_input(what, e))?;
                (self.store.content.put(&bytes)?, OCI_MANIFEST.to_string())
            }
        };
        let image = ImageRecord {
            id: config_blob.digest.clone(),
            manifest: manifest_blob.digest,
            manifest_media_type,
            manifest_size: manifest_blob.size,
            created: config
                .get("created")
                .and_then(|v| v.as_str())
                .map(str::to_string),
            size: records.iter().map(|l| l.size).sum(),
            added_at: crate::now_unix(),
            layers: chains,
        };
        let image = self.store.meta.write(|tx| {
            for l in &records {
                tx.insert_layer(l)?;
            }
            if !tx.insert_image(&image)? {
                // Already known (same config): keep the record we had.
                if let Some(existing) = tx.image(&image.id)? {
                    return Ok::<_, EngineError>(existing);
                }
            }
            Ok(image)
        })?;
        Ok(image)
    }

    fn guess_layer_media_type(&self, blob: &Digest) -> Result<String, EngineError> {
        let mut head = [0u8; 8];
        let mut f = self.store.content.open_blob(blob)?;
        let n = f
            .read(&mut head)
            .map_err(|e| EngineError::io(format!("read blob {blob}"), e))?;
        Ok(layer_media_type(detect_compression(&head[..n])).to_string())
    }
}

/// Reports the bytes of a layer blob read while it is unpacked, about every megabyte.
impl Engine {
    /// Unpacks a stored layer blob on top of `parent`, reporting its progress.
    fn unpack_blob(
        &self,
        src: &LayerSource,
        parent: Option<&Digest>,
        diff_id: &Digest,
        opts: &UnpackOptions,
        progress: &(dyn Fn(Event) + Sync),
    ) -> Result<UnpackedLayer, EngineError> {
        let blob = Reporting {
            inner: self.store.content.open_blob(&src.blob.digest)?,
            blob: &src.blob,
            done: 0,
            next: 0,
            progress,
        };
        Ok(self.store.layers.unpack(
            parent,
            Some(diff_id),
            std::io::BufReader::with_capacity(1 << 20, blob),
            opts,
        )?)
    }
}

struct Reporting<'a, R> {
    inner: R,
    blob: &'a BlobInfo,
    done: u64,
    next: u64,
    progress: &'a (dyn Fn(Event) + Sync),
}

impl<R: Read> Read for Reporting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.done >= self.next {
            self.next = self.done + (1 << 20);
            (self.progress)(Event::LayerExtracting {
                digest: self.blob.digest.clone(),
                done: self.done,
                total: self.blob.size,
            });
        }
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        Ok(n)
    }
}
