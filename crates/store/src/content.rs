//! Content-addressed blobs, laid out as an OCI image layout's `blobs/sha256/<hex>`.
//!
//! A blob becomes visible only once it is complete and verified: bytes go to a private file
//! under `ingest/`, are fsynced, their digest and size are checked against what the caller
//! expected, and only then is the file renamed into `blobs/sha256/` and the directory fsynced.
//! A crash at any point leaves at most a stray file in `ingest/`, never a partial blob.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use berth_image::digest::{Digest, Hasher};

use crate::fsutil::{fsync_dir, write_atomic};
use crate::StoreError;

/// What was stored: the digest and size of a blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    pub digest: Digest,
    pub size: u64,
}

/// The blob half of the store.
#[derive(Debug, Clone)]
pub struct ContentStore {
    blobs: PathBuf,
    ingest: PathBuf,
}

impl ContentStore {
    /// Opens (creating if needed) the blob directories below `root`.
    pub fn open(root: &Path) -> Result<Self, StoreError> {
        let blobs = root.join("blobs").join("sha256");
        let ingest = root.join("ingest");
        for dir in [&blobs, &ingest] {
            fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        }
        Ok(Self { blobs, ingest })
    }

    /// Where the blob with `digest` lives (whether or not it exists).
    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.blobs.join(digest.hex())
    }

    pub fn contains(&self, digest: &Digest) -> bool {
        self.path(digest).is_file()
    }

    /// Size of a stored blob.
    pub fn size(&self, digest: &Digest) -> Result<u64, StoreError> {
        let path = self.path(digest);
        match fs::metadata(&path) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(StoreError::BlobNotFound(digest.clone()))
            }
            Err(e) => Err(StoreError::io(&path, e)),
        }
    }

    pub fn open_blob(&self, digest: &Digest) -> Result<File, StoreError> {
        let path = self.path(digest);
        File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StoreError::BlobNotFound(digest.clone()),
            _ => StoreError::io(&path, e),
        })
    }

    pub fn read(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        let mut bytes = Vec::new();
        let path = self.path(digest);
        self.open_blob(digest)?
            .read_to_end(&mut bytes)
            .map_err(|e| StoreError::io(&path, e))?;
        Ok(bytes)
    }

    /// Stores bytes already in memory (configs, manifests).
    pub fn put(&self, bytes: &[u8]) -> Result<BlobInfo, StoreError> {
        let digest = Digest::of(bytes);
        let info = BlobInfo {
            digest: digest.clone(),
            size: bytes.len() as u64,
        };
        if !self.contains(&digest) {
            write_atomic(&self.path(&digest), bytes, &self.ingest)?;
        }
        Ok(info)
    }

    /// Streams `reader` into the store. When `expected` is given, the blob is refused (and
    /// nothing becomes visible) unless both digest and size match.
    pub fn ingest(
        &self,
        reader: impl Read,
        expected: Option<&BlobInfo>,
    ) -> Result<BlobInfo, StoreError> {
        let mut pending = self.begin()?;
        io::copy(&mut { reader }, &mut pending).map_err(|e| StoreError::io(&pending.path, e))?;
        pending.commit(expected)
    }

    /// Starts a blob whose bytes the caller writes; `commit` verifies and publishes it.
    pub fn begin(&self) -> Result<PendingBlob, StoreError> {
        let file = tempfile::Builder::new()
            .prefix("blob-")
            .tempfile_in(&self.ingest)
            .map_err(|e| StoreError::io(&self.ingest, e))?;
        let path = file.path().to_path_buf();
        Ok(PendingBlob {
            writer: Hasher::new(io::BufWriter::with_capacity(1 << 20, file)),
            path,
            blobs: self.blobs.clone(),
        })
    }

    pub fn remove(&self, digest: &Digest) -> Result<(), StoreError> {
        let path = self.path(digest);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::io(&path, e)),
        }
    }

    /// Every blob digest present on disk; files that are not named by a digest are returned
    /// separately so that `system check` can report them.
    pub fn list(&self) -> Result<(Vec<Digest>, Vec<PathBuf>), StoreError> {
        let mut good = Vec::new();
        let mut bad = Vec::new();
        for entry in fs::read_dir(&self.blobs).map_err(|e| StoreError::io(&self.blobs, e))? {
            let entry = entry.map_err(|e| StoreError::io(&self.blobs, e))?;
            match entry.file_name().to_str().map(Digest::from_hex) {
                Some(Ok(d)) => good.push(d),
                _ => bad.push(entry.path()),
            }
        }
        good.sort();
        Ok((good, bad))
    }

    /// Leftovers of interrupted ingests.
    pub fn stray_ingests(&self) -> Result<Vec<PathBuf>, StoreError> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.ingest).map_err(|e| StoreError::io(&self.ingest, e))? {
            out.push(entry.map_err(|e| StoreError::io(&self.ingest, e))?.path());
        }
        Ok(out)
    }

    /// Recomputes a stored blob's digest.
    pub fn verify(&self, digest: &Digest) -> Result<bool, StoreError> {
        let path = self.path(digest);
        let mut hasher = Hasher::new(io::sink());
        io::copy(&mut self.open_blob(digest)?, &mut hasher)
            .map_err(|e| StoreError::io(&path, e))?;
        Ok(hasher.finish().0 == *digest)
    }
}

/// A blob being written. Dropping it without `commit` deletes the temporary file.
#[derive(Debug)]
pub struct PendingBlob {
    writer: Hasher<io::BufWriter<tempfile::NamedTempFile>>,
    path: PathBuf,
    blobs: PathBuf,
}

impl Write for PendingBlob {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }
}

impl PendingBlob {
    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.writer.count()
    }

    /// fsyncs, verifies against `expected` and renames into place.
    pub fn commit(self, expected: Option<&BlobInfo>) -> Result<BlobInfo, StoreError> {
        let (digest, size, buffered) = self.writer.finish();
        let file = buffered
            .into_inner()
            .map_err(|e| StoreError::io(&self.path, e.into_error()))?;
        if let Some(want) = expected {
            if want.digest != digest {
                return Err(StoreError::DigestMismatch {
                    expected: want.digest.clone(),
                    actual: digest,
                });
            }
            if want.size != size {
                return Err(StoreError::SizeMismatch {
                    digest,
                    expected: want.size,
                    actual: size,
                });
            }
        }
        file.as_file()
            .sync_all()
            .map_err(|e| StoreError::io(&self.path, e))?;
        let target = self.blobs.join(digest.hex());
        file.persist(&target)
            .map_err(|e| StoreError::io(&target, e.error))?;
        fsync_dir(&self.blobs)?;
        Ok(BlobInfo { digest, size })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingest_verifies_before_publishing() {
        let root = tempfile::tempdir().unwrap();
        let cs = ContentStore::open(root.path()).unwrap();
        let info = cs.ingest(&b"hello"[..], None).unwrap();
        assert_eq!(info.digest, Digest::of(b"hello"));
        assert_eq!(cs.read(&info.digest).unwrap(), b"hello");

        let wrong = BlobInfo {
            digest: Digest::of(b"other"),
            size: 5,
        };
        let err = cs.ingest(&b"hello2"[..], Some(&wrong)).unwrap_err();
        assert!(matches!(err, StoreError::DigestMismatch { .. }), "{err}");
        assert!(!cs.contains(&Digest::of(b"hello2")));
        assert!(cs.stray_ingests().unwrap().is_empty(), "temp file removed");

        let short = BlobInfo {
            digest: Digest::of(b"hello"),
            size: 4,
        };
        assert!(matches!(
            cs.ingest(&b"hello"[..], Some(&short)),
            Err(StoreError::SizeMismatch { .. })
        ));
        assert!(cs.verify(&info.digest).unwrap());
    }

    #[test]
    fn list_reports_foreign_files() {
        let root = tempfile::tempdir().unwrap();
        let cs = ContentStore::open(root.path()).unwrap();
        cs.put(b"x").unwrap();
        fs::write(root.path().join("blobs/sha256/junk"), b"").unwrap();
        let (good, bad) = cs.list().unwrap();
        assert_eq!(good, vec![Digest::of(b"x")]);
        assert_eq!(bad.len(), 1);
    }
}
