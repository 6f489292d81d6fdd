//! `load`: docker-save archives (`manifest.json`) and OCI image layouts (`index.json`), plain,
//! gzip or zstd, from a file or a pipe.
//!
//! The archive is read in one pass (a pipe cannot be rewound, and docker's archives put
//! `manifest.json` anywhere): small files are kept in memory, large ones stream straight into
//! the content store. Only then are manifests resolved and layers unpacked, and an image is
//! recorded only once all its layers check out against its config. Blobs this load brought in
//! that no image ended up naming are removed before it returns.

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Read};

use berth_image::digest::Digest;
use berth_image::layer::{detect_compression, Compression};
use berth_image::reference::Reference;
use berth_store::BlobInfo;
use serde::Deserialize;
use serde_json::Value;

use super::add::LayerSource;
use crate::{Engine, EngineError};

/// Files up to this size are kept in memory while the archive streams by.
const IN_MEMORY_MAX: u64 = 1 << 20;
const WHAT: &str = "load";

/// One line of `load` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadEvent {
    /// `Loaded image: busybox:latest`
    Image(String),
    /// `Loaded image ID: sha256:…` (an untagged image)
    ImageId(Digest),
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifest {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

enum File {
    Memory(Vec<u8>),
    Blob(BlobInfo),
}

/// The archive's files after one pass.
struct Archive {
    files: HashMap<String, File>,
    links: HashMap<String, String>,
}

fn bad(reason: impl ToString) -> EngineError {
    EngineError::bad_input(WHAT, reason)
}

fn clean_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

impl Archive {
    fn resolve<'a>(&'a self, path: &str) -> Result<(&'a File, String), EngineError> {
        let mut p = clean_path(path);
        for _ in 0..16 {
            if let Some(f) = self.files.get(&p) {
                return Ok((f, p));
            }
            match self.links.get(&p) {
                Some(target) => p = target.clone(),
                None => break,
            }
        }
        Err(bad(format!("the archive has no file {path:?}")))
    }
}

impl Engine {
    /// Loads every image of an archive; returns what was loaded, for docker's output lines.
    pub fn load(&self, input: impl Read) -> Result<Vec<LoadEvent>, EngineError> {
        let _lock = self.store.lock_shared()?;
        let mut ingested = Vec::new();
        let result = self.load_inner(input, &mut ingested);
        // Whatever happened, blobs this load brought in that nothing names go away.
        let referenced: BTreeSet<Digest> = self
            .store
            .meta
            .read(|tx| tx.referenced_blobs())?
            .into_iter()
            .collect();
        for d in ingested.iter().filter(|d| !referenced.contains(d)) {
            let _ = self.store.content.remove(d);
        }
        let events = result?;
        self.sync_layout_index()?;
        self.emit_loaded(&events);
        Ok(events)
    }

    fn load_inner(
        &self,
        input: impl Read,
        ingested: &mut Vec<Digest>,
    ) -> Result<Vec<LoadEvent>, EngineError> {
        let archive = self.read_archive(input, ingested)?;
        if archive.files.contains_key("manifest.json") {
            self.load_docker(&archive)
        } else if archive.files.contains_key("index.json") {
            self.load_oci(&archive)
        } else {
            Err(bad(
                "not an image archive: it has neither manifest.json (docker save) nor index.json (OCI layout)",
            ))
        }
    }

    fn read_archive(
        &self,
        input: impl Read,
        ingested: &mut Vec<Digest>,
    ) -> Result<Archive, EngineError> {
        let mut buffered = BufReader::with_capacity(1 << 20, input);
        let head = buffered.fill_buf().map_err(|e| EngineError::io(WHAT, e))?;
        if head.is_empty() {
            return Err(bad("the archive is empty"));
        }
        let reader: Box<dyn Read> = match detect_compression(head) {
            Compression::None => Box::new(buffered),
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(buffered)),
            Compression::Zstd => {
                Box::new(zstd_decoder(buffered).map_err(|e| EngineError::io(WHAT, e))?)
            }
        };
        let mut tar = tar::Archive::new(reader);
        let mut archive = Archive {
            files: HashMap::new(),
            links: HashMap::new(),
        };
        let entries = tar
            .entries()
            .map_err(|e| bad(format!("not a tar archive: {e}")))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| bad(format!("corrupt archive: {e}")))?;
            let path = clean_path(&entry.path().map_err(bad)?.to_string_lossy());
            match entry.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    let file = if entry.size() <= IN_MEMORY_MAX {
                        let mut bytes = Vec::with_capacity(entry.size() as usize);
                        entry
                            .read_to_end(&mut bytes)
                            .map_err(|e| bad(format!("{path}: {e}")))?;
                        File::Memory(bytes)
                    } else {
                        let info = self
                            .store
                            .content
                            .ingest(&mut entry, None)
                            .map_err(|e| bad(format!("{path}: {e}")))?;
                        ingested.push(info.digest.clone());
                        File::Blob(info)
                    };
                    check_blob_name(&path, &file)?;
                    archive.files.insert(path, file);
                }
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    let target = entry
                        .link_name()
                        .map_err(bad)?
                        .map(|t| t.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    let base = if entry.header().entry_type() == tar::EntryType::Symlink {
                        path.rsplit_once('/')
                            .map(|(d, _)| d.to_string())
                            .unwrap_or_default()
                    } else {
                        String::new()
                    };
                    archive
                        .links
                        .insert(path, clean_path(&format!("{base}/{target}")));
                }
                _ => {}
            }
        }
        Ok(archive)
    }

    fn bytes_of(&self, archive: &Archive, path: &str) -> Result<Vec<u8>, EngineError> {
        match archive.resolve(path)?.0 {
            File::Memory(b) => Ok(b.clone()),
            File::Blob(info) => Ok(self.store.content.read(&info.digest)?),
        }
    }

    fn blob_of(&self, archive: &Archive, path: &str) -> Result<BlobInfo, EngineError> {
        match archive.resolve(path)?.0 {
            File::Memory(b) => Ok(self.store.content.put(b)?),
            File::Blob(info) => Ok(info.clone()),
        }
    }

    fn load_docker(&self, archive: &Archive) -> Result<Vec<LoadEvent>, EngineError> {
        let manifest: Vec<DockerManifest> =
            serde_json::from_slice(&self.bytes_of(archive, "manifest.json")?)
                .map_err(|e| bad(format!("manifest.json: {e}")))?;
        let mut events = Vec::new();
        for m in manifest {
            let config = self.bytes_of(archive, &m.config)?;
            let layers = m
                .layers
                .iter()
                .map(|p| {
                    Ok(LayerSource {
                        blob: self.blob_of(archive, p)?,
                        media_type: None,
                    })
                })
                .collect::<Result<Vec<_>, EngineError>>()?;
            let image = self.add_image(&config, &layers, WHAT)?;
            let tags: Vec<Reference> = m
                .repo_tags
                .unwrap_or_default()
                .iter()
                .map(|t| Reference::parse(t).map(Reference::with_default_tag))
                .collect::<Result<_, _>>()?;
            events.extend(self.tag_loaded(&image.id, &tags)?);
        }
        Ok(events)
    }

    fn load_oci(&self, archive: &Archive) -> Result<Vec<LoadEvent>, EngineError> {
        let index: Value = serde_json::from_slice(&self.bytes_of(archive, "index.json")?)
            .map_err(|e| bad(format!("index.json: {e}")))?;
        let mut events = Vec::new();
        for desc in index
            .get("manifests")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let manifest = self.oci_pick_manifest(archive, desc, 0)?;
            let config_digest = descriptor_digest(manifest.get("config"))?;
            let config = self.bytes_of(archive, &blob_path(&config_digest))?;
            let layers = manifest
                .get("layers")
                .and_then(Value::as_array)
                .ok_or_else(|| bad("manifest has no layers"))?
                .iter()
                .map(|l| {
                    let d = descriptor_digest(Some(l))?;
                    Ok(LayerSource {
                        blob: self.blob_of(archive, &blob_path(&d))?,
                        media_type: l
                            .get("mediaType")
                            .and_then(Value::as_str)
                            .map(str::to_string),
                    })
                })
                .collect::<Result<Vec<_>, EngineError>>()?;
            let image = self.add_image(&config, &layers, WHAT)?;
            let annotations = desc.get("annotations");
            let name = annotations
                .and_then(|a| a.get("io.containerd.image.name"))
                .or_else(|| annotations.and_then(|a| a.get("org.opencontainers.image.ref.name")))
                .and_then(Value::as_str);
            // A bare tag ("latest") names no repository: the image loads untagged.
            let tags: Vec<Reference> = name
                .filter(|n| n.contains(':') || n.contains('/'))
                .and_then(|n| Reference::parse(n).ok())
                .map(Reference::with_default_tag)
                .into_iter()
                .collect();
            events.extend(self.tag_loaded(&image.id, &tags)?);
        }
        Ok(events)
    }

    /// Follows an index down to the linux/amd64 (or host) manifest.
    fn oci_pick_manifest(
        &self,
        archive: &Archive,
        desc: &Value,
        depth: u8,
    ) -> Result<Value, EngineError> {
        let digest = descriptor_digest(Some(desc))?;
        let doc: Value = serde_json::from_slice(&self.bytes_of(archive, &blob_path(&digest))?)
            .map_err(|e| bad(format!("{digest}: {e}")))?;
        let is_index = doc.get("manifests").is_some();
        if !is_index {
            return Ok(doc);
        }
        if depth > 4 {
            return Err(bad("image indexes nest too deeply"));
        }
        let arch = crate::image::import::go_arch();
        let entries = doc
            .get("manifests")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let pick = entries
            .iter()
            .find(|m| {
                let p = m.get("platform");
                p.and_then(|p| p.get("os")).and_then(Value::as_str) == Some("linux")
                    && p.and_then(|p| p.get("architecture"))
                        .and_then(Value::as_str)
                        == Some(arch)
            })
            .or_else(|| entries.first())
            .ok_or_else(|| bad(format!("index {digest} lists no manifests")))?;
        self.oci_pick_manifest(archive, pick, depth + 1)
    }

    fn tag_loaded(&self, id: &Digest, tags: &[Reference]) -> Result<Vec<LoadEvent>, EngineError> {
        if tags.is_empty() {
            return Ok(vec![LoadEvent::ImageId(id.clone())]);
        }
        let now = crate::now_unix();
        self.store.meta.write(|tx| {
            for t in tags {
                tx.set_tag(&t.to_string(), id, now)?;
            }
            Ok::<_, EngineError>(())
        })?;
        Ok(tags
            .iter()
            .map(|t| LoadEvent::Image(t.familiar()))
            .collect())
    }
}

fn zstd_decoder<R: BufRead>(r: R) -> std::io::Result<zstd::stream::read::Decoder<'static, R>> {
    zstd::stream::read::Decoder::with_buffer(r)
}

fn blob_path(d: &Digest) -> String {
    format!("blobs/sha256/{}", d.hex())
}

fn descriptor_digest(desc: Option<&Value>) -> Result<Digest, EngineError> {
    desc.and_then(|d| d.get("digest"))
        .and_then(Value::as_str)
        .ok_or_else(|| bad("a descriptor has no digest"))?
        .parse()
        .map_err(|e| bad(format!("descriptor: {e}")))
}

/// Files under `blobs/sha256/` are named by their digest: check it.
fn check_blob_name(path: &str, file: &File) -> Result<(), EngineError> {
    let Some(hex) = path.strip_prefix("blobs/sha256/") else {
        return Ok(());
    };
    let named = Digest::from_hex(hex).map_err(|e| bad(format!("{path}: {e}")))?;
    let actual = match file {
        File::Memory(b) => Digest::of(b),
        File::Blob(info) => info.digest.clone(),
    };
    if named != actual {
        return Err(bad(format!(
            "{path}: digest mismatch: the file's content is {actual}"
        )));
    }
    Ok(())
}
