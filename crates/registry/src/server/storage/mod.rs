//! The registry's storage: one layout, written once here, over a [`Backend`] — a directory
//! (the default, [`fs`]) or an S3 bucket ([`s3`], so that several instances serve one
//! registry). Nothing becomes visible before it is complete and verified: a directory write
//! goes to `tmp/`, is fsynced and renamed into place; an S3 PUT or completed multipart upload
//! is atomic.
//!
//! ```text
//! blobs/sha256/<hex>                               content (manifests too), by digest
//! uploads/<id>/data, uploads/<id>/repo             uploads in progress (S3: data/<offset> parts)
//! repositories/<name>/_meta.json                   owner and visibility
//! repositories/<name>/_layers/<hex>                blob is part of the repository
//! repositories/<name>/_manifests/revisions/<hex>   manifest is in the repository (its media type)
//! repositories/<name>/_manifests/tags/<tag>        tag → digest
//! repositories/<name>/_referrers/<subject>/<hex>   descriptor of a manifest whose subject it is
//! token.key                                        the token signing key (shared by instances)
//! tmp/                                             staging for atomic writes (directory only)
//! touched/blobs/sha256/<hex>                       last use of a blob (S3 only; see s3/mod.rs)
//! ```

mod backend;
mod fs;
mod s3;

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use berth_image::Digest;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::manifest::Descriptor;
pub(crate) use backend::{Backend, Published};
pub use s3::config::{S3Config, S3ConfigError};

/// A repository's owner and visibility, fixed by its first push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoMeta {
    pub owner: String,
    pub private: bool,
}

/// The registry's storage; clones share the backend and the garbage-collection lock.
#[derive(Debug, Clone)]
pub struct Storage {
    /// The local directory: the whole store (directory backend), or the files that stay
    /// local with S3 (`access.json`).
    root: PathBuf,
    backend: Arc<dyn Backend>,
    /// Held shared by anything that publishes a link, exclusively by `gc` while it marks and
    /// sweeps. It guards one process: with S3 and several instances, see `gc`.
    pub(crate) gc_lock: Arc<RwLock<()>>,
}

fn blob_key(d: &Digest) -> String {
    format!("blobs/sha256/{}", d.hex())
}

fn repo_key(repo: &str) -> String {
    format!("repositories/{repo}")
}

fn layer_link(repo: &str, d: &Digest) -> String {
    format!("repositories/{repo}/_layers/{}", d.hex())
}

fn revision_link(repo: &str, d: &Digest) -> String {
    format!("repositories/{repo}/_manifests/revisions/{}", d.hex())
}

fn tag_link(repo: &str, tag: &str) -> String {
    format!("repositories/{repo}/_manifests/tags/{tag}")
}

fn referrers_dir(repo: &str, subject: &Digest) -> String {
    format!("repositories/{repo}/_referrers/{}", subject.hex())
}

impl Storage {
    /// The directory backend at `root`.
    pub fn open(root: impl Into<PathBuf>) -> io::Result<Storage> {
        let root = root.into();
        let backend = fs::FsBackend::open(root.clone())?;
        Ok(Storage {
            root,
            backend: Arc::new(backend),
            gc_lock: Arc::new(RwLock::new(())),
        })
    }

    /// The S3 backend; `root` keeps the files that stay local. Fails, naming the bucket, the
    /// endpoint and the cause, when the bucket cannot be listed (unreachable, no such bucket,
    /// credentials refused).
    pub fn open_s3(config: S3Config, root: impl Into<PathBuf>) -> io::Result<Storage> {
        let root = root.into();
        std::fs::create_dir_all(&root)?;
        let backend = s3::S3Backend::open(config)?;
        Ok(Storage {
            root,
            backend: Arc::new(backend),
            gc_lock: Arc::new(RwLock::new(())),
        })
    }

    /// The local directory (with S3: where the local files are).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the objects are: the directory, or `s3://bucket/prefix at endpoint`.
    pub fn location(&self) -> String {
        self.backend.describe()
    }

    pub(crate) fn backend(&self) -> &dyn Backend {
        &*self.backend
    }

    /// The blob's file when the backend is a directory (it is then served with async I/O).
    pub(crate) fn blob_local_path(&self, d: &Digest) -> Option<PathBuf> {
        self.backend.local_path(&blob_key(d))
    }

    /// The size of a stored blob.
    pub fn blob_size(&self, d: &Digest) -> Option<u64> {
        self.backend
            .stat(&blob_key(d))
            .ok()
            .flatten()
            .map(|m| m.size)
    }

    /// A blob whole (for manifests and configs: small ones).
    pub fn read_blob(&self, d: &Digest) -> io::Result<Option<Vec<u8>>> {
        self.backend.read(&blob_key(d))
    }

    /// `len` bytes of a blob (to its end when `None`) from `start`, streamed.
    pub fn blob_reader(
        &self,
        d: &Digest,
        start: u64,
        len: Option<u64>,
    ) -> io::Result<Option<Box<dyn Read + Send>>> {
        self.backend.reader(&blob_key(d), start, len)
    }

    pub fn repo_exists(&self, repo: &str) -> bool {
        let base = repo_key(repo);
        self.backend
            .dir_exists(&format!("{base}/_manifests"))
            .unwrap_or(false)
            || self
                .backend
                .dir_exists(&format!("{base}/_layers"))
                .unwrap_or(false)
    }

    pub fn repo_meta(&self, repo: &str) -> Option<RepoMeta> {
        let bytes = self
            .backend
            .read(&format!("{}/_meta.json", repo_key(repo)))
            .ok()??;
        serde_json::from_slice(&bytes).ok()
    }

    /// The repository's metadata, created with `owner` and `private` at its first push (by
    /// whichever instance gets there first).
    pub fn ensure_repo_meta(&self, repo: &str, owner: &str, private: bool) -> io::Result<RepoMeta> {
        if let Some(meta) = self.repo_meta(repo) {
            return Ok(meta);
        }
        let meta = RepoMeta {
            owner: owner.to_owned(),
            private,
        };
        let key = format!("{}/_meta.json", repo_key(repo));
        if self.backend.create(&key, &serde_json::to_vec(&meta)?)? {
            return Ok(meta);
        }
        Ok(self.repo_meta(repo).unwrap_or(meta))
    }

    /// Removes a repository: its tags, manifests links and settings (the blobs go at the next
    /// `gc`). In a directory it disappears at once (renamed aside, then deleted); on S3 its
    /// manifests go first. False when there was none.
    pub fn remove_repository(&self, repo: &str) -> io::Result<bool> {
        let _guard = self.publish_guard();
        let base = repo_key(repo);
        if !self.backend.dir_exists(&format!("{base}/_manifests"))? {
            return Ok(false);
        }
        self.backend.remove_dir(&base)
    }

    /// Makes a repository private or public.
    pub fn set_private(&self, repo: &str, private: bool) -> io::Result<()> {
        let mut meta = self.repo_meta(repo).unwrap_or(RepoMeta {
            owner: repo.split('/').next().unwrap_or("").to_owned(),
            private,
        });
        meta.private = private;
        self.backend.write(
            &format!("{}/_meta.json", repo_key(repo)),
            &serde_json::to_vec(&meta)?,
        )
    }

    /// Holds off `gc` while something is checked and published.
    pub(crate) fn publish_guard(&self) -> std::sync::RwLockReadGuard<'_, ()> {
        self.gc_lock.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks `d` as part of `repo` (the blob must exist) and refreshes its GC grace time.
    pub(crate) fn link_blob(&self, repo: &str, d: &Digest) -> io::Result<()> {
        let _guard = self.publish_guard();
        self.link_blob_locked(repo, d)
    }

    fn link_blob_locked(&self, repo: &str, d: &Digest) -> io::Result<()> {
        if self.blob_size(d).is_none() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("blob {d} vanished"),
            ));
        }
        self.touch_blob(d);
        let link = layer_link(repo, d);
        if self.backend.stat(&link)?.is_none() {
            self.backend.write(&link, b"")?;
        }
        Ok(())
    }

    /// Restarts the blob's grace period, so that `gc` leaves it alone for a while.
    pub(crate) fn touch_blob(&self, d: &Digest) {
        self.backend.touch(&blob_key(d));
    }

    /// True when `d` may be read through `repo`: linked as a layer or a manifest, and present.
    pub fn blob_in_repo(&self, repo: &str, d: &Digest) -> bool {
        let linked = |k: String| self.backend.stat(&k).ok().flatten().is_some();
        (linked(layer_link(repo, d)) || linked(revision_link(repo, d)))
            && self.blob_size(d).is_some()
    }

    pub(crate) fn unlink_blob(&self, repo: &str, d: &Digest) -> io::Result<bool> {
        self.backend.delete(&layer_link(repo, d))
    }

    /// Stores a verified manifest in `repo`, tags it, and records it as a referrer of its
    /// subject. The caller holds [`publish_guard`](Self::publish_guard) and has checked, under
    /// it, that the referenced blobs are there.
    pub(crate) fn put_manifest_locked(
        &self,
        repo: &str,
        bytes: &[u8],
        media_type: &str,
        tag: Option<&str>,
        referrer: Option<(&Digest, &Descriptor)>,
    ) -> io::Result<Digest> {
        let digest = Digest::of(bytes);
        if self.blob_size(&digest).is_none() {
            self.backend.write(&blob_key(&digest), bytes)?;
        } else {
            self.touch_blob(&digest);
        }
        // The content first, then the links that make it visible.
        self.backend
            .write(&revision_link(repo, &digest), media_type.as_bytes())?;
        if let Some((subject, desc)) = referrer {
            let link = format!("{}/{}", referrers_dir(repo, subject), digest.hex());
            self.backend.write(&link, &serde_json::to_vec(desc)?)?;
        }
        if let Some(tag) = tag {
            self.backend
                .write(&tag_link(repo, tag), digest.to_string().as_bytes())?;
        }
        Ok(digest)
    }

    /// The media type of manifest `d` in `repo`, if it is there.
    pub fn manifest_type(&self, repo: &str, d: &Digest) -> Option<String> {
        let t = self.backend.read(&revision_link(repo, d)).ok()??;
        let t = String::from_utf8(t).ok()?;
        self.blob_size(d).map(|_| t)
    }

    pub fn resolve_tag(&self, repo: &str, tag: &str) -> Option<Digest> {
        let bytes = self.backend.read(&tag_link(repo, tag)).ok()??;
        std::str::from_utf8(&bytes).ok()?.trim().parse().ok()
    }

    /// A manifest's bytes and media type.
    pub fn read_manifest(&self, repo: &str, d: &Digest) -> io::Result<Option<(Vec<u8>, String)>> {
        let Some(media_type) = self.manifest_type(repo, d) else {
            return Ok(None);
        };
        let bytes = self.read_blob(d)?.ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, format!("manifest {d} vanished"))
        })?;
        Ok(Some((bytes, media_type)))
    }

    /// Removes manifest `d` from `repo`, with the tags that point at it and its referrer entry.
    pub(crate) fn delete_manifest(&self, repo: &str, d: &Digest) -> io::Result<bool> {
        if !self.backend.delete(&revision_link(repo, d))? {
            return Ok(false);
        }
        for tag in self.tags(repo)?.unwrap_or_default() {
            if self.resolve_tag(repo, &tag).as_ref() == Some(d) {
                self.backend.delete(&tag_link(repo, &tag))?;
            }
        }
        let referrers = format!("{}/_referrers", repo_key(repo));
        for subject in self.backend.list(&referrers)? {
            let key = format!("{referrers}/{}/{}", subject.name, d.hex());
            if subject.dir && self.backend.stat(&key)?.is_some() {
                self.backend.delete(&key)?;
            }
        }
        Ok(true)
    }

    pub(crate) fn delete_tag(&self, repo: &str, tag: &str) -> io::Result<bool> {
        self.backend.delete(&tag_link(repo, tag))
    }

    /// When `tag` was last pushed (pointed at a manifest) in `repo`.
    pub fn tag_pushed_at(&self, repo: &str, tag: &str) -> Option<SystemTime> {
        self.backend.stat(&tag_link(repo, tag)).ok()??.modified
    }

    /// The repository's tags, sorted; `None` when the repository does not exist.
    pub fn tags(&self, repo: &str) -> io::Result<Option<Vec<String>>> {
        if !self.repo_exists(repo) {
            return Ok(None);
        }
        let dir = format!("{}/_manifests/tags", repo_key(repo));
        Ok(Some(self.list_names(&dir)?))
    }

    /// Digests of the manifests in `repo`.
    pub fn revisions(&self, repo: &str) -> io::Result<Vec<Digest>> {
        let dir = format!("{}/_manifests/revisions", repo_key(repo));
        Ok(self
            .list_names(&dir)?
            .iter()
            .filter_map(|n| Digest::from_hex(n).ok())
            .collect())
    }

    /// Every repository name, sorted.
    pub fn repositories(&self) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        self.walk_repos("repositories", "", &mut out)?;
        out.sort();
        Ok(out)
    }

    /// One listing per directory: a directory holding `_manifests` is a repository; names
    /// starting with `_` are the repositories' own.
    fn walk_repos(&self, dir: &str, name: &str, out: &mut Vec<String>) -> io::Result<()> {
        let entries = self.backend.list(dir)?;
        if !name.is_empty() && entries.iter().any(|e| e.dir && e.name == "_manifests") {
            out.push(name.to_owned());
        }
        for e in entries.iter().filter(|e| e.dir && !e.name.starts_with('_')) {
            let full = if name.is_empty() {
                e.name.clone()
            } else {
                format!("{name}/{}", e.name)
            };
            self.walk_repos(&format!("{dir}/{}", e.name), &full, out)?;
        }
        Ok(())
    }

    /// Descriptors of the manifests in `repo` whose subject is `subject`.
    pub fn referrers(&self, repo: &str, subject: &Digest) -> io::Result<Vec<Descriptor>> {
        let dir = referrers_dir(repo, subject);
        let mut out = Vec::new();
        for name in self.list_names(&dir)? {
            let Ok(d) = Digest::from_hex(&name) else {
                continue;
            };
            if self.manifest_type(repo, &d).is_none() {
                continue;
            }
            let Some(bytes) = self.backend.read(&format!("{dir}/{name}"))? else {
                continue;
            };
            if let Ok(desc) = serde_json::from_slice::<Descriptor>(&bytes) {
                out.push(desc);
            }
        }
        Ok(out)
    }

    /// Sorted names of the entries of `dir`; empty when it does not exist.
    pub(crate) fn list_names(&self, dir: &str) -> io::Result<Vec<String>> {
        Ok(self
            .backend
            .list(dir)?
            .into_iter()
            .map(|e| e.name)
            .collect())
    }

    /// The key that signs tokens, shared by every instance over the same store: created once
    /// (of racing creators, one wins and the others read its key), replaced only when
    /// unreadable.
    pub(crate) fn token_key(&self) -> io::Result<[u8; 32]> {
        const KEY: &str = "token.key";
        for _ in 0..3 {
            match self.backend.read(KEY)? {
                Some(bytes) if bytes.len() == 32 => {
                    let mut k = [0u8; 32];
                    k.copy_from_slice(&bytes);
                    return Ok(k);
                }
                Some(_) => {
                    let k: [u8; 32] = rand::random();
                    self.backend.write(KEY, &k)?;
                    return Ok(k);
                }
                None => {
                    let k: [u8; 32] = rand::random();
                    if self.backend.create(KEY, &k)? {
                        return Ok(k);
                    }
                }
            }
        }
        Err(io::Error::other(format!(
            "{}: token.key keeps changing",
            self.location()
        )))
    }

    // ---- uploads -------------------------------------------------------------------------

    /// Starts an upload session for `repo`; returns its id.
    pub(crate) fn create_upload(&self, repo: &str) -> io::Result<String> {
        let id = random_id();
        self.backend.create_upload(&id, repo)?;
        Ok(id)
    }

    /// The repository an upload belongs to and the bytes it holds.
    pub(crate) fn upload_info(&self, id: &str) -> Option<(String, u64)> {
        if !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') || id.is_empty() {
            return None;
        }
        match self.backend.upload_info(id) {
            Ok(info) => info,
            Err(e) => {
                tracing::warn!(upload = id, error = %e, "cannot read an upload's state");
                None
            }
        }
    }

    /// A writer that appends to upload `id`, which holds `offset` bytes.
    pub(crate) fn upload_writer(
        &self,
        id: &str,
        offset: u64,
    ) -> io::Result<Box<dyn backend::ChunkWriter>> {
        self.backend.upload_writer(id, offset)
    }

    pub(crate) fn remove_upload(&self, id: &str) {
        self.backend.remove_upload(id);
    }

    /// Verifies upload `id` against `d` (`hash`: its running hash, when this process saw every
    /// byte) and publishes it as blob `d` linked into `repo`. A mismatch removes the upload and
    /// returns the digest of what was uploaded (hex).
    ///
    /// Verifying and publishing (a long read, or an S3 copy) happen outside the gc lock, so a
    /// waiting `gc` does not stall every other publish meanwhile; a freshly published blob is
    /// young, so `gc` leaves it alone until it is linked under the lock.
    pub(crate) fn commit_upload(
        &self,
        id: &str,
        repo: &str,
        d: &Digest,
        hash: Option<Sha256>,
    ) -> io::Result<Option<String>> {
        let key = blob_key(d);
        if let Published::Mismatch(actual) = self.backend.publish_upload(id, &key, d.hex(), hash)? {
            self.remove_upload(id);
            return Ok(Some(actual));
        }
        {
            let _guard = self.publish_guard();
            if self.blob_size(d).is_none() {
                // The blob was there already (so the upload was kept, not published), old and
                // unreferenced, and `gc` took it in between: publish the upload after all.
                self.backend.publish_upload(id, &key, d.hex(), None)?;
            }
            self.link_blob_locked(repo, d)?;
        }
        self.remove_upload(id);
        Ok(None)
    }
}

pub(crate) fn random_id() -> String {
    let bytes: [u8; 16] = rand::random();
    let h = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}
