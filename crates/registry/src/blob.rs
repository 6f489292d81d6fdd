//! What the client reads blobs from and writes them to, so that it never depends on berth's
//! store: the engine implements [`BlobSink`] and [`BlobSource`] over its content store.
//!
//! [`BlobDir`] is a small implementation over a directory in the OCI image-layout shape
//! (`blobs/sha256/<hex>`), used by the tests and handy for tools; partial downloads wait in
//! `ingest/<hex>` so that a later pull resumes them.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use berth_image::digest::Digest;
use berth_image::writeback::Writeback;
use sha2::{Digest as _, Sha256};

use crate::manifest::Descriptor;

/// Why a blob could not be written, verified or read.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob {expected}: digest mismatch: received content with digest {actual}")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error("blob {digest}: size mismatch: expected {expected} bytes, received {actual}")]
    SizeMismatch {
        digest: Digest,
        expected: u64,
        actual: u64,
    },
    #[error("blob {digest}: not found")]
    NotFound { digest: Digest },
    #[error("blob {digest}: {source}")]
    Io {
        digest: Digest,
        #[source]
        source: io::Error,
    },
}

impl BlobError {
    pub fn io(digest: &Digest, source: io::Error) -> Self {
        BlobError::Io {
            digest: digest.clone(),
            source,
        }
    }
}

/// Where pulled blobs go.
pub trait BlobSink: Send + Sync {
    /// True when the blob is already stored (and verified): the client skips it.
    fn has_blob(&self, digest: &Digest) -> bool;

    /// Starts writing the blob `expected` describes. When an earlier attempt left the first bytes
    /// of it, the sink may resume: [`PendingBlob::written`] then starts at their count and the
    /// client asks the registry for the rest with a `Range` request.
    fn begin_blob(&self, expected: &Descriptor) -> Result<Box<dyn PendingBlob>, BlobError>;

    /// Bytes an interrupted download of `digest` left behind, if any (for progress display).
    fn partial_len(&self, _digest: &Digest) -> Option<u64> {
        None
    }
}

/// A blob being written. Dropping it without [`commit`](PendingBlob::commit) keeps what was
/// written for a later resume (the sink may also discard it); [`abort`](PendingBlob::abort)
/// always discards.
pub trait PendingBlob: Write + Send {
    /// Bytes held so far, including any resumed from an earlier attempt.
    fn written(&self) -> u64;
    /// Throws away everything held, to start again from byte 0.
    fn reset(&mut self) -> Result<(), BlobError>;
    /// Verifies digest and size against the descriptor given to `begin_blob` and publishes the
    /// blob; on a mismatch nothing becomes visible and the partial content is discarded.
    fn commit(self: Box<Self>) -> Result<(), BlobError>;
    /// Discards the partial content (it is known to be wrong).
    fn abort(self: Box<Self>);
}

/// Where pushed blobs come from.
pub trait BlobSource: Send + Sync {
    fn open_blob(&self, digest: &Digest) -> Result<Box<dyn Read + Send>, BlobError>;
    fn blob_size(&self, digest: &Digest) -> Result<u64, BlobError>;
}

/// Blobs in a directory laid out as an OCI image layout's `blobs/sha256/<hex>`.
#[derive(Debug, Clone)]
pub struct BlobDir {
    root: PathBuf,
}

impl BlobDir {
    /// Opens (creating) `root/blobs/sha256` and `root/ingest`.
    pub fn open(root: impl Into<PathBuf>) -> io::Result<BlobDir> {
        let root = root.into();
        fs::create_dir_all(root.join("blobs/sha256"))?;
        fs::create_dir_all(root.join("ingest"))?;
        Ok(BlobDir { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the verified blob `digest` lives.
    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    fn partial_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("ingest").join(digest.hex())
    }

    /// Stores `bytes` and returns their descriptor.
    pub fn put(&self, media_type: &str, bytes: &[u8]) -> Result<Descriptor, BlobError> {
        let desc = Descriptor::of(media_type, bytes);
        if !self.has_blob(&desc.digest) {
            let mut pending = self.begin_blob(&desc)?;
            pending.reset()?;
            pending
                .write_all(bytes)
                .map_err(|e| BlobError::io(&desc.digest, e))?;
            pending.commit()?;
        }
        Ok(desc)
    }

    /// The whole content of a stored blob.
    pub fn read(&self, digest: &Digest) -> Result<Vec<u8>, BlobError> {
        fs::read(self.path(digest)).map_err(|e| not_found_or_io(digest, e))
    }
}

/// A partial of its own next to `shared` (`<hex>.<random>`), for a download that does not own
/// the shared one. It is not resumed by a later pull; `system check` counts a leftover one as
/// garbage, as any partial.
fn private_partial(shared: &Path) -> io::Result<(File, PathBuf)> {
    let dir = shared.parent().unwrap_or(Path::new("."));
    let mut prefix = shared.file_name().unwrap_or_default().to_owned();
    prefix.push(".");
    let (file, path) = tempfile::Builder::new()
        .prefix(&prefix)
        .append(true)
        .tempfile_in(dir)?
        .keep()
        .map_err(|e| e.error)?;
    Ok((file, path))
}

fn not_found_or_io(digest: &Digest, e: io::Error) -> BlobError {
    if e.kind() == io::ErrorKind::NotFound {
        BlobError::NotFound {
            digest: digest.clone(),
        }
    } else {
        BlobError::io(digest, e)
    }
}

impl BlobSink for BlobDir {
    fn has_blob(&self, digest: &Digest) -> bool {
        self.path(digest).is_file()
    }

    fn begin_blob(&self, expected: &Descriptor) -> Result<Box<dyn PendingBlob>, BlobError> {
        let digest = &expected.digest;
        let io_err = |e| BlobError::io(digest, e);
        let mut path = self.partial_path(digest);
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(io_err)?;
        // One download at a time owns `ingest/<hex>` (the lock lives as long as the file is
        // open, until the commit's rename). Another one of the same blob — a second pull in
        // another process or thread — writes a private partial instead of appending to the
        // same file, which would interleave both and publish the mix.
        if rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_err() {
            let (f, p) = private_partial(&path).map_err(io_err)?;
            (file, path) = (f, p);
        }
        // Rehash what an earlier attempt left, so that the digest covers the whole blob.
        let mut hash = Sha256::new();
        let mut held = 0u64;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = file.read(&mut buf).map_err(io_err)?;
            if n == 0 {
                break;
            }
            hash.update(&buf[..n]);
            held += n as u64;
        }
        if held > expected.size {
            file.set_len(0).map_err(io_err)?;
            hash = Sha256::new();
            held = 0;
        }
        Ok(Box::new(DirPending {
            file: BufWriter::with_capacity(1 << 20, file),
            hash,
            held,
            writeback: Writeback::from(held),
            writeback_at: held,
            path,
            target: self.path(digest),
            expected: expected.clone(),
        }))
    }

    fn partial_len(&self, digest: &Digest) -> Option<u64> {
        fs::metadata(self.partial_path(digest))
            .ok()
            .map(|m| m.len())
    }
}

impl BlobSource for BlobDir {
    fn open_blob(&self, digest: &Digest) -> Result<Box<dyn Read + Send>, BlobError> {
        let file = File::open(self.path(digest)).map_err(|e| not_found_or_io(digest, e))?;
        Ok(Box::new(file))
    }

    fn blob_size(&self, digest: &Digest) -> Result<u64, BlobError> {
        fs::metadata(self.path(digest))
            .map(|m| m.len())
            .map_err(|e| not_found_or_io(digest, e))
    }
}

struct DirPending {
    file: BufWriter<File>,
    hash: Sha256,
    held: u64,
    writeback: Writeback,
    /// Bytes of the file the writeback knows of.
    writeback_at: u64,
    path: PathBuf,
    target: PathBuf,
    expected: Descriptor,
}

impl Write for DirPending {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hash.update(&buf[..n]);
        self.held += n as u64;
        // What the buffer passed on to the file: the blob is synced on commit, so its
        // writeback can start now.
        let in_file = self.held - self.file.buffer().len() as u64;
        let new = in_file - self.writeback_at;
        if new > 0 {
            self.writeback.wrote(self.file.get_ref(), new);
            self.writeback_at = in_file;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl PendingBlob for DirPending {
    fn written(&self) -> u64 {
        self.held
    }

    fn reset(&mut self) -> Result<(), BlobError> {
        let io_err = |e| BlobError::io(&self.expected.digest, e);
        self.file.flush().map_err(io_err)?;
        self.file.get_ref().set_len(0).map_err(io_err)?;
        self.hash = Sha256::new();
        self.held = 0;
        self.writeback = Writeback::default();
        self.writeback_at = 0;
        Ok(())
    }

    fn commit(self: Box<Self>) -> Result<(), BlobError> {
        let DirPending {
            file,
            hash,
            held,
            path,
            target,
            expected,
            ..
        } = *self;
        let discard = |e: BlobError| {
            let _ = fs::remove_file(&path);
            e
        };
        let file = file
            .into_inner()
            .map_err(|e| discard(BlobError::io(&expected.digest, e.into_error())))?;
        if held != expected.size {
            return Err(discard(BlobError::SizeMismatch {
                digest: expected.digest,
                expected: expected.size,
                actual: held,
            }));
        }
        let digest = Digest::from_hex(&hex::encode(hash.finalize()))
            .map_err(|e| BlobError::io(&expected.digest, io::Error::other(e)))?;
        if digest != expected.digest {
            return Err(discard(BlobError::DigestMismatch {
                expected: expected.digest,
                actual: digest,
            }));
        }
        let io_err = |e| BlobError::io(&expected.digest, e);
        // A blob that cannot be made durable (ENOSPC at the sync, on file systems that
        // allocate late) goes, its space with it.
        file.sync_all().map_err(|e| discard(io_err(e)))?;
        fs::rename(&path, &target).map_err(|e| discard(io_err(e)))?;
        if let Some(dir) = target.parent() {
            File::open(dir).and_then(|d| d.sync_all()).map_err(io_err)?;
        }
        Ok(())
    }

    fn abort(self: Box<Self>) {
        let _ = fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_downloads_of_one_blob_do_not_share_a_partial() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobDir::open(dir.path()).unwrap();
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let desc = Descriptor::of("x", &data);
        // Two pulls of the same blob at once, their writes interleaved.
        let mut a = blobs.begin_blob(&desc).unwrap();
        let mut b = blobs.begin_blob(&desc).unwrap();
        for chunk in data.chunks(10_000) {
            a.write_all(chunk).unwrap();
            b.write_all(chunk).unwrap();
        }
        a.commit().unwrap();
        b.commit().unwrap();
        assert_eq!(blobs.read(&desc.digest).unwrap(), data);
        let left: Vec<_> = fs::read_dir(dir.path().join("ingest")).unwrap().collect();
        assert!(left.is_empty(), "no partial is left: {left:?}");
    }

    #[test]
    fn resumes_a_partial_blob_and_verifies_the_whole() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobDir::open(dir.path()).unwrap();
        let data = b"hello, resumable world".to_vec();
        let desc = Descriptor::of("x", &data);
        let mut p = blobs.begin_blob(&desc).unwrap();
        p.write_all(&data[..7]).unwrap();
        p.flush().unwrap();
        drop(p);
        assert_eq!(blobs.partial_len(&desc.digest), Some(7));
        let mut p = blobs.begin_blob(&desc).unwrap();
        assert_eq!(p.written(), 7);
        p.write_all(&data[7..]).unwrap();
        p.commit().unwrap();
        assert_eq!(blobs.read(&desc.digest).unwrap(), data);
        assert_eq!(blobs.partial_len(&desc.digest), None);
    }

    #[test]
    fn wrong_content_is_never_published() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobDir::open(dir.path()).unwrap();
        let desc = Descriptor::of("x", b"right");
        let mut p = blobs.begin_blob(&desc).unwrap();
        p.write_all(b"wrong").unwrap();
        let err = p.commit().unwrap_err();
        assert!(matches!(err, BlobError::DigestMismatch { .. }), "{err}");
        assert!(!blobs.has_blob(&desc.digest));
        assert_eq!(blobs.partial_len(&desc.digest), None);
        let mut p = blobs.begin_blob(&desc).unwrap();
        p.write_all(b"righ").unwrap();
        assert!(matches!(p.commit(), Err(BlobError::SizeMismatch { .. })));
        let mut p = blobs.begin_blob(&desc).unwrap();
        p.write_all(b"ri").unwrap();
        p.reset().unwrap();
        p.write_all(b"right").unwrap();
        p.commit().unwrap();
        assert!(blobs.has_blob(&desc.digest));
    }
}
