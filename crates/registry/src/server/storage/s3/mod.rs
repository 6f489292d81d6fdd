//! The S3 backend: the directory layout as keys under `s3://bucket/prefix/`, so several
//! `registry serve` instances share one registry. Every PUT of S3 is atomic, and a multipart
//! upload is invisible until completed: nothing is ever half-written.
//!
//! An upload keeps all its state in the bucket, so any instance continues it: `uploads/<id>/repo`
//! names its repository and each PATCH is one object `uploads/<id>/data/<offset>` (20 digits),
//! created only if absent (two instances cannot both write at one offset). The upload's
//! length is the sum of its contiguous parts. The final PUT hashes the parts as it reads them
//! and publishes the blob by a server-side copy (one part) or a multipart upload completed only
//! once the digest matched. `touch` cannot move an object's LastModified, so it writes an empty
//! marker `touched/<key>` that `gc` reads as the blob's age.

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sha2::{Digest as _, Sha256};

mod client;
pub mod config;
mod sigv4;

use super::backend::{Backend, ChunkWriter, Entry, ObjectMeta, Published};
use client::{Payload, S3Client};
use config::S3Config;

/// Parts of a multipart upload; S3 wants at least 5 MiB for all but the last. Also the most a
/// request buffers.
const PART_SIZE: usize = 8 << 20;
/// The largest object S3 copies in one request.
const MAX_COPY: u64 = 5 << 30;

#[derive(Debug)]
pub(crate) struct S3Backend {
    client: Arc<S3Client>,
}

impl S3Backend {
    /// Connects and checks, with one listing, that the bucket is there and the credentials are
    /// accepted.
    pub fn open(cfg: S3Config) -> io::Result<S3Backend> {
        let client = Arc::new(S3Client::new(cfg));
        let probe = client.full_key("");
        client.list(&probe, None, Some(1))?;
        Ok(S3Backend { client })
    }

    fn key(&self, key: &str) -> String {
        self.client.full_key(key)
    }

    /// `dir` as a listing prefix: `prefix/dir/`.
    fn dir_prefix(&self, dir: &str) -> String {
        format!("{}/", self.key(dir.trim_end_matches('/')))
    }

    fn upload_parts(&self, id: &str) -> io::Result<Vec<(String, u64)>> {
        let prefix = self.dir_prefix(&format!("uploads/{id}/data"));
        let listing = self.client.list(&prefix, None, None)?;
        let mut parts: Vec<(String, u64)> = listing
            .objects
            .into_iter()
            .map(|o| (o.key, o.size))
            .collect();
        parts.sort();
        // Only the run that starts at 0 and has no gap counts (a stray object would be a bug
        // elsewhere; ignoring it keeps the offsets honest).
        let mut offset = 0;
        let mut out = Vec::new();
        for (key, size) in parts {
            let at: Option<u64> = key.rsplit('/').next().and_then(|n| n.parse().ok());
            if at != Some(offset) {
                break;
            }
            offset += size;
            out.push((key, size));
        }
        Ok(out)
    }

    fn writer(&self, key: &str, if_absent: bool) -> S3Writer {
        S3Writer {
            client: self.client.clone(),
            key: self.key(key),
            buf: Vec::new(),
            multipart: None,
            if_absent,
            written: 0,
            done: false,
        }
    }

    /// Streams every part through the hash and, unless the blob is there already, into a
    /// multipart upload of `target` that is completed only when the digest matched.
    fn publish_streamed(
        &self,
        parts: &[(String, u64)],
        target: &str,
        expected: &str,
    ) -> io::Result<Published> {
        let exists = self.stat(target)?.is_some();
        let mut sink = Tee {
            hash: Sha256::new(),
            out: (!exists).then(|| self.writer(target, false)),
        };
        for (key, _) in parts {
            let mut r = self.client.get_range(key, 0, None)?.ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("upload part {key} vanished"),
                )
            })?;
            io::copy(&mut r, &mut sink)?;
        }
        let actual = hex::encode(sink.hash.finalize());
        if actual != expected {
            // Dropping the writer aborts its multipart upload.
            return Ok(Published::Mismatch(actual));
        }
        if let Some(w) = sink.out {
            w.finish()?;
        }
        Ok(Published::Done)
    }
}

impl Backend for S3Backend {
    fn describe(&self) -> String {
        format!(
            "{} at {}",
            self.client.config().url(),
            self.client.endpoint()
        )
    }

    fn read(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        Ok(self.client.get(&self.key(key))?)
    }

    fn write(&self, key: &str, bytes: &[u8]) -> io::Result<()> {
        self.client
            .put(&self.key(key), Payload::Bytes(bytes), false)?;
        Ok(())
    }

    fn create(&self, key: &str, bytes: &[u8]) -> io::Result<bool> {
        Ok(self
            .client
            .put(&self.key(key), Payload::Bytes(bytes), true)?)
    }

    fn stat(&self, key: &str) -> io::Result<Option<ObjectMeta>> {
        Ok(self
            .client
            .head(&self.key(key))?
            .map(|(size, modified)| ObjectMeta { size, modified }))
    }

    fn delete(&self, key: &str) -> io::Result<bool> {
        let full = self.key(key);
        if self.client.head(&full)?.is_none() {
            return Ok(false);
        }
        self.client.delete(&full)?;
        Ok(true)
    }

    fn list(&self, dir: &str) -> io::Result<Vec<Entry>> {
        let prefix = self.dir_prefix(dir);
        let listing = self.client.list(&prefix, Some("/"), None)?;
        let name = |k: &str| {
            k.strip_prefix(&prefix)
                .map(|n| n.trim_end_matches('/').to_owned())
        };
        let mut out: Vec<Entry> = listing
            .objects
            .iter()
            .filter_map(|o| name(&o.key))
            .map(|name| Entry { name, dir: false })
            .chain(
                listing
                    .prefixes
                    .iter()
                    .filter_map(|p| name(p))
                    .map(|name| Entry { name, dir: true }),
            )
            .filter(|e| !e.name.is_empty())
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn list_objects(&self, dir: &str) -> io::Result<Vec<(String, ObjectMeta)>> {
        let prefix = self.dir_prefix(dir);
        let listing = self.client.list(&prefix, Some("/"), None)?;
        let mut out: Vec<(String, ObjectMeta)> = listing
            .objects
            .into_iter()
            .filter_map(|o| {
                let name = o.key.strip_prefix(&prefix)?.to_owned();
                let meta = ObjectMeta {
                    size: o.size,
                    modified: o.modified,
                };
                (!name.is_empty()).then_some((name, meta))
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    fn dir_exists(&self, dir: &str) -> io::Result<bool> {
        let listing = self.client.list(&self.dir_prefix(dir), None, Some(1))?;
        Ok(!listing.objects.is_empty())
    }

    fn remove_dir(&self, dir: &str) -> io::Result<bool> {
        let listing = self.client.list(&self.dir_prefix(dir), None, None)?;
        if listing.objects.is_empty() {
            return Ok(false);
        }
        // S3 has no rename: the manifests go first, so that the repository stops being listed
        // and served before the rest of it goes.
        let mut keys: Vec<String> = listing.objects.into_iter().map(|o| o.key).collect();
        keys.sort_by_key(|k| (!k.contains("/_manifests/"), k.clone()));
        for key in keys {
            self.client.delete(&key)?;
        }
        Ok(true)
    }

    fn touch(&self, key: &str) {
        let marker = self.key(&format!("touched/{key}"));
        if let Err(e) = self.client.put(&marker, Payload::Empty, false) {
            tracing::warn!(key, error = %e, "s3: cannot record a blob's use");
        }
    }

    fn touched_at(&self, key: &str) -> Option<SystemTime> {
        let marker = self.key(&format!("touched/{key}"));
        self.client.head(&marker).ok().flatten().and_then(|m| m.1)
    }

    fn forget_touch(&self, key: &str) {
        let _ = self.client.delete(&self.key(&format!("touched/{key}")));
    }

    fn reader(
        &self,
        key: &str,
        start: u64,
        len: Option<u64>,
    ) -> io::Result<Option<Box<dyn Read + Send>>> {
        Ok(self.client.get_range(&self.key(key), start, len)?)
    }

    fn local_path(&self, _key: &str) -> Option<std::path::PathBuf> {
        None
    }

    fn sweep_staging(&self, _age: Duration) {
        // Multipart uploads of a crashed instance are invisible; a bucket lifecycle rule
        // (AbortIncompleteMultipartUpload) reclaims them.
    }

    fn create_upload(&self, id: &str, repo: &str) -> io::Result<()> {
        let key = self.key(&format!("uploads/{id}/repo"));
        if !self
            .client
            .put(&key, Payload::Bytes(repo.as_bytes()), true)?
        {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("upload {id} exists"),
            ));
        }
        Ok(())
    }

    fn upload_info(&self, id: &str) -> io::Result<Option<(String, u64)>> {
        let Some(repo) = self.client.get(&self.key(&format!("uploads/{id}/repo")))? else {
            return Ok(None);
        };
        let repo = String::from_utf8(repo)
            .map_err(|_| io::Error::other(format!("upload {id}: repository is not UTF-8")))?;
        let len = self.upload_parts(id)?.iter().map(|p| p.1).sum();
        Ok(Some((repo, len)))
    }

    fn upload_writer(&self, id: &str, offset: u64) -> io::Result<Box<dyn ChunkWriter>> {
        let key = format!("uploads/{id}/data/{offset:020}");
        Ok(Box::new(self.writer(&key, true)))
    }

    fn publish_upload(
        &self,
        id: &str,
        target: &str,
        expected: &str,
        hash: Option<Sha256>,
    ) -> io::Result<Published> {
        let parts = self.upload_parts(id)?;
        match parts.as_slice() {
            [] => {
                let actual = hex::encode(Sha256::digest(b""));
                if actual != expected {
                    return Ok(Published::Mismatch(actual));
                }
                self.write(target, b"")?;
                Ok(Published::Done)
            }
            [(part, size)] if *size <= MAX_COPY => {
                let actual = match hash {
                    Some(h) => hex::encode(h.finalize()),
                    None => {
                        let mut r = self.client.get_range(part, 0, None)?.ok_or_else(|| {
                            io::Error::new(io::ErrorKind::NotFound, format!("{part} vanished"))
                        })?;
                        super::fs::hash_reader(&mut r)?
                    }
                };
                if actual != expected {
                    return Ok(Published::Mismatch(actual));
                }
                if self.stat(target)?.is_none() {
                    self.client.copy(part, &self.key(target))?;
                }
                Ok(Published::Done)
            }
            _ => self.publish_streamed(&parts, target, expected),
        }
    }

    fn remove_upload(&self, id: &str) {
        // The session object first: from then on the upload is unknown to every instance.
        let _ = self.client.delete(&self.key(&format!("uploads/{id}/repo")));
        if let Ok(listing) =
            self.client
                .list(&self.dir_prefix(&format!("uploads/{id}")), None, None)
        {
            for o in listing.objects {
                let _ = self.client.delete(&o.key);
            }
        }
    }

    fn uploads(&self) -> io::Result<Vec<(String, Option<SystemTime>)>> {
        let mut out = Vec::new();
        for e in self.list("uploads")?.into_iter().filter(|e| e.dir) {
            let listing =
                self.client
                    .list(&self.dir_prefix(&format!("uploads/{}", e.name)), None, None)?;
            let last = listing.objects.iter().filter_map(|o| o.modified).max();
            out.push((e.name, last));
        }
        Ok(out)
    }
}

/// Writes an object of unknown length with bounded memory: one PUT when it fits in a part,
/// else a multipart upload, completed by [`finish`](S3Writer::finish) and aborted when dropped
/// unfinished.
struct S3Writer {
    client: Arc<S3Client>,
    key: String,
    buf: Vec<u8>,
    /// Upload id and the ETags of the parts sent.
    multipart: Option<(String, Vec<String>)>,
    if_absent: bool,
    written: u64,
    done: bool,
}

impl S3Writer {
    fn send_part(&mut self) -> io::Result<()> {
        let (id, etags) = match &mut self.multipart {
            Some(m) => m,
            None => {
                let id = self.client.create_multipart(&self.key)?;
                self.multipart.insert((id, Vec::new()))
            }
        };
        let n = u32::try_from(etags.len() + 1).map_err(io::Error::other)?;
        let etag = self.client.upload_part(&self.key, id, n, &self.buf)?;
        etags.push(etag);
        self.buf.clear();
        Ok(())
    }

    /// Makes the object visible, whole.
    fn finish(mut self) -> io::Result<()> {
        let stored = match self.multipart.take() {
            None => self
                .client
                .put(&self.key, Payload::Bytes(&self.buf), self.if_absent)?,
            Some(m) => {
                self.multipart = Some(m);
                if !self.buf.is_empty() {
                    self.send_part()?;
                }
                let (id, etags) = self
                    .multipart
                    .as_ref()
                    .ok_or_else(|| io::Error::other("multipart upload lost its id"))?;
                self.client
                    .complete_multipart(&self.key, id, etags, self.if_absent)?
            }
        };
        self.done = true;
        if !stored {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} was written by another request", self.key),
            ));
        }
        Ok(())
    }
}

impl Write for S3Writer {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(PART_SIZE - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        self.written += n as u64;
        if self.buf.len() == PART_SIZE {
            self.send_part()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl ChunkWriter for S3Writer {
    fn commit(self: Box<Self>) -> io::Result<()> {
        if self.written == 0 && self.multipart.is_none() {
            // An empty PATCH adds nothing; an object for it would collide with the next one.
            return Ok(());
        }
        (*self).finish()
    }
}

impl Drop for S3Writer {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if let Some((id, _)) = &self.multipart {
            if let Err(e) = self.client.abort_multipart(&self.key, id) {
                tracing::warn!(key = %self.key, error = %e, "s3: cannot abort a multipart upload");
            }
        }
    }
}

/// Hashes what passes through and writes it on, when there is somewhere to write it.
struct Tee {
    hash: Sha256,
    out: Option<S3Writer>,
}

impl Write for Tee {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = match &mut self.out {
            Some(w) => w.write(data)?,
            None => data.len(),
        };
        self.hash.update(&data[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
