//! The server's directory. Nothing becomes visible before it is complete and verified: every
//! file is written to `tmp/`, fsynced and renamed into place.
//!
//! ```text
//! blobs/sha256/<hex>                               content (manifests too), by digest
//! uploads/<id>/data, uploads/<id>/repo             uploads in progress
//! repositories/<name>/_meta.json                   owner and visibility
//! repositories/<name>/_layers/<hex>                blob is part of the repository
//! repositories/<name>/_manifests/revisions/<hex>   manifest is in the repository (its media type)
//! repositories/<name>/_manifests/tags/<tag>        tag → digest
//! repositories/<name>/_referrers/<subject>/<hex>   descriptor of a manifest whose subject it is
//! tmp/                                             staging for atomic writes
//! ```

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use berth_image::Digest;
use serde::{Deserialize, Serialize};

use crate::manifest::Descriptor;

/// A repository's owner and visibility, fixed by its first push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoMeta {
    pub owner: String,
    pub private: bool,
}

/// The registry's directory; clones share the garbage-collection lock.
#[derive(Debug, Clone)]
pub struct Storage {
    root: PathBuf,
    /// Held shared by anything that publishes a link, exclusively by `gc` while it marks and
    /// sweeps.
    pub(crate) gc_lock: Arc<RwLock<()>>,
}

impl Storage {
    pub fn open(root: impl Into<PathBuf>) -> io::Result<Storage> {
        let root = root.into();
        for dir in ["blobs/sha256", "uploads", "repositories", "tmp"] {
            fs::create_dir_all(root.join(dir))?;
        }
        Ok(Storage {
            root,
            gc_lock: Arc::new(RwLock::new(())),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn blob_path(&self, d: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(d.hex())
    }

    /// The size of a stored blob.
    pub fn blob_size(&self, d: &Digest) -> Option<u64> {
        fs::metadata(self.blob_path(d)).ok().map(|m| m.len())
    }

    pub(crate) fn repo_dir(&self, repo: &str) -> PathBuf {
        self.root.join("repositories").join(repo)
    }

    pub fn repo_exists(&self, repo: &str) -> bool {
        self.repo_dir(repo).join("_manifests").is_dir()
            || self.repo_dir(repo).join("_layers").is_dir()
    }

    /// Writes `bytes` to `path` atomically (tmp → fsync → rename → fsync dir).
    pub(crate) fn write_atomic(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let dir = path
            .parent()
            .ok_or_else(|| io::Error::other("path has no parent"))?;
        fs::create_dir_all(dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(self.root.join("tmp"))?;
        tmp.write_all(bytes)?;
        tmp.as_file().sync_all()?;
        tmp.persist(path).map_err(|e| e.error)?;
        sync_dir(dir)
    }

    pub fn repo_meta(&self, repo: &str) -> Option<RepoMeta> {
        let bytes = fs::read(self.repo_dir(repo).join("_meta.json")).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// The repository's metadata, created with `owner` and `private` at its first push.
    pub fn ensure_repo_meta(&self, repo: &str, owner: &str, private: bool) -> io::Result<RepoMeta> {
        if let Some(meta) = self.repo_meta(repo) {
            return Ok(meta);
        }
        let meta = RepoMeta {
            owner: owner.to_owned(),
            private,
        };
        self.write_atomic(
            &self.repo_dir(repo).join("_meta.json"),
            &serde_json::to_vec(&meta)?,
        )?;
        Ok(meta)
    }

    /// Makes a repository private or public.
    /// Removes a repository: its tags, manifests links and settings (the blobs go at the next
    /// `gc`). It disappears at once — renamed aside, then deleted — so a reader never sees half
    /// of it. False when there was none.
    pub fn remove_repository(&self, repo: &str) -> io::Result<bool> {
        let _guard = self.publish_guard();
        let dir = self.repo_dir(repo);
        if !dir.join("_manifests").is_dir() {
            return Ok(false);
        }
        // Beside `repositories/`, not in it: a listing meanwhile must not find it.
        let aside = self.root.join(format!(".removed-{}", random_id()));
        fs::rename(&dir, &aside)?;
        fs::remove_dir_all(&aside)?;
        Ok(true)
    }

    pub fn set_private(&self, repo: &str, private: bool) -> io::Result<()> {
        let mut meta = self.repo_meta(repo).unwrap_or(RepoMeta {
            owner: repo.split('/').next().unwrap_or("").to_owned(),
            private,
        });
        meta.private = private;
        self.write_atomic(
            &self.repo_dir(repo).join("_meta.json"),
            &serde_json::to_vec(&meta)?,
        )
    }

    fn layer_link(&self, repo: &str, d: &Digest) -> PathBuf {
        self.repo_dir(repo).join("_layers").join(d.hex())
    }

    fn revision_link(&self, repo: &str, d: &Digest) -> PathBuf {
        self.repo_dir(repo)
            .join("_manifests/revisions")
            .join(d.hex())
    }

    fn tag_link(&self, repo: &str, tag: &str) -> PathBuf {
        self.repo_dir(repo).join("_manifests/tags").join(tag)
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
        let link = self.layer_link(repo, d);
        if !link.exists() {
            self.write_atomic(&link, b"")?;
        }
        Ok(())
    }

    /// Sets the blob's mtime to now, so that `gc` leaves it alone during its grace period.
    pub(crate) fn touch_blob(&self, d: &Digest) {
        if let Ok(f) = File::options().write(true).open(self.blob_path(d)) {
            let _ = f.set_modified(SystemTime::now());
        }
    }

    /// True when `d` may be read through `repo`: linked as a layer or a manifest, and present.
    pub fn blob_in_repo(&self, repo: &str, d: &Digest) -> bool {
        (self.layer_link(repo, d).exists() || self.revision_link(repo, d).exists())
            && self.blob_size(d).is_some()
    }

    pub(crate) fn unlink_blob(&self, repo: &str, d: &Digest) -> io::Result<bool> {
        remove_if_exists(&self.layer_link(repo, d))
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
        let path = self.blob_path(&digest);
        if !path.exists() {
            self.write_atomic(&path, bytes)?;
        } else {
            self.touch_blob(&digest);
        }
        self.write_atomic(&self.revision_link(repo, &digest), media_type.as_bytes())?;
        if let Some((subject, desc)) = referrer {
            let link = self
                .repo_dir(repo)
                .join("_referrers")
                .join(subject.hex())
                .join(digest.hex());
            self.write_atomic(&link, &serde_json::to_vec(desc)?)?;
        }
        if let Some(tag) = tag {
            self.write_atomic(&self.tag_link(repo, tag), digest.to_string().as_bytes())?;
        }
        Ok(digest)
    }

    /// The media type of manifest `d` in `repo`, if it is there.
    pub fn manifest_type(&self, repo: &str, d: &Digest) -> Option<String> {
        let t = fs::read_to_string(self.revision_link(repo, d)).ok()?;
        self.blob_size(d).map(|_| t)
    }

    pub fn resolve_tag(&self, repo: &str, tag: &str) -> Option<Digest> {
        fs::read_to_string(self.tag_link(repo, tag))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// A manifest's bytes and media type.
    pub fn read_manifest(&self, repo: &str, d: &Digest) -> io::Result<Option<(Vec<u8>, String)>> {
        let Some(media_type) = self.manifest_type(repo, d) else {
            return Ok(None);
        };
        Ok(Some((fs::read(self.blob_path(d))?, media_type)))
    }

    /// Removes manifest `d` from `repo`, with the tags that point at it and its referrer entry.
    pub(crate) fn delete_manifest(&self, repo: &str, d: &Digest) -> io::Result<bool> {
        if !remove_if_exists(&self.revision_link(repo, d))? {
            return Ok(false);
        }
        for tag in self.tags(repo)?.unwrap_or_default() {
            if self.resolve_tag(repo, &tag).as_ref() == Some(d) {
                remove_if_exists(&self.tag_link(repo, &tag))?;
            }
        }
        let referrers = self.repo_dir(repo).join("_referrers");
        if let Ok(entries) = fs::read_dir(&referrers) {
            for entry in entries.flatten() {
                remove_if_exists(&entry.path().join(d.hex()))?;
            }
        }
        Ok(true)
    }

    pub(crate) fn delete_tag(&self, repo: &str, tag: &str) -> io::Result<bool> {
        remove_if_exists(&self.tag_link(repo, tag))
    }

    /// When `tag` was last pushed (pointed at a manifest) in `repo`.
    pub fn tag_pushed_at(&self, repo: &str, tag: &str) -> Option<SystemTime> {
        fs::metadata(self.tag_link(repo, tag))
            .and_then(|m| m.modified())
            .ok()
    }

    /// The repository's tags, sorted; `None` when the repository does not exist.
    pub fn tags(&self, repo: &str) -> io::Result<Option<Vec<String>>> {
        if !self.repo_exists(repo) {
            return Ok(None);
        }
        Ok(Some(list_names(
            &self.repo_dir(repo).join("_manifests/tags"),
        )?))
    }

    /// Digests of the manifests in `repo`.
    pub fn revisions(&self, repo: &str) -> io::Result<Vec<Digest>> {
        let names = list_names(&self.repo_dir(repo).join("_manifests/revisions"))?;
        Ok(names
            .iter()
            .filter_map(|n| Digest::from_hex(n).ok())
            .collect())
    }

    /// Every repository name, sorted.
    pub fn repositories(&self) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        walk_repos(&self.root.join("repositories"), "", &mut out)?;
        out.sort();
        Ok(out)
    }

    /// Descriptors of the manifests in `repo` whose subject is `subject`.
    pub fn referrers(&self, repo: &str, subject: &Digest) -> io::Result<Vec<Descriptor>> {
        let dir = self.repo_dir(repo).join("_referrers").join(subject.hex());
        let mut out = Vec::new();
        for name in list_names(&dir)? {
            let Ok(d) = Digest::from_hex(&name) else {
                continue;
            };
            if self.manifest_type(repo, &d).is_none() {
                continue;
            }
            if let Ok(desc) = serde_json::from_slice::<Descriptor>(&fs::read(dir.join(&name))?) {
                out.push(desc);
            }
        }
        Ok(out)
    }

    // ---- uploads -------------------------------------------------------------------------

    pub(crate) fn upload_dir(&self, id: &str) -> PathBuf {
        self.root.join("uploads").join(id)
    }

    pub(crate) fn upload_data(&self, id: &str) -> PathBuf {
        self.upload_dir(id).join("data")
    }

    /// Starts an upload session for `repo`; returns its id. The session appears whole (built in
    /// `tmp/`, then renamed) so that `gc` never sees half of one.
    pub(crate) fn create_upload(&self, repo: &str) -> io::Result<String> {
        let id = random_id();
        let staging = self.root.join("tmp").join(format!("upload-{id}"));
        fs::create_dir_all(&staging)?;
        fs::write(staging.join("repo"), repo)?;
        File::create(staging.join("data"))?;
        fs::rename(&staging, self.upload_dir(&id))?;
        Ok(id)
    }

    /// The repository an upload belongs to and the bytes it holds.
    pub(crate) fn upload_info(&self, id: &str) -> Option<(String, u64)> {
        if !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') || id.is_empty() {
            return None;
        }
        let repo = fs::read_to_string(self.upload_dir(id).join("repo")).ok()?;
        let len = fs::metadata(self.upload_data(id)).ok()?.len();
        Some((repo, len))
    }

    pub(crate) fn remove_upload(&self, id: &str) {
        let _ = fs::remove_dir_all(self.upload_dir(id));
    }

    /// Publishes a verified upload as blob `d` and links it into `repo`.
    pub(crate) fn commit_upload(&self, id: &str, repo: &str, d: &Digest) -> io::Result<()> {
        let data = self.upload_data(id);
        OpenOptions::new().write(true).open(&data)?.sync_all()?;
        {
            let _guard = self.publish_guard();
            let target = self.blob_path(d);
            if !target.exists() {
                fs::rename(&data, &target)?;
                sync_dir(&self.root.join("blobs/sha256"))?;
            }
            self.link_blob_locked(repo, d)?;
        }
        self.remove_upload(id);
        Ok(())
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

pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

pub(crate) fn remove_if_exists(path: &Path) -> io::Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Sorted names of the entries of `dir`; empty when it does not exist.
pub(crate) fn list_names(dir: &Path) -> io::Result<Vec<String>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries {
        if let Some(name) = entry?.file_name().to_str() {
            out.push(name.to_owned());
        }
    }
    out.sort();
    Ok(out)
}

fn walk_repos(dir: &Path, prefix: &str, out: &mut Vec<String>) -> io::Result<()> {
    for name in list_names(dir)? {
        if name.starts_with('_') {
            continue;
        }
        let path = dir.join(&name);
        if !path.is_dir() {
            continue;
        }
        let full = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        if path.join("_manifests").is_dir() {
            out.push(full.clone());
        }
        walk_repos(&path, &full, out)?;
    }
    Ok(())
}
