//! Unpacking layers while they download.
//!
//! [`UnpackingSink`] is the pull's blob sink: every blob goes to the content store's layout
//! as before ([`BlobDir`]: `ingest/<hex>`, verified, renamed into `blobs/`), and the bytes of
//! a layer are also handed, in bounded chunks, to a thread that unpacks them into the layer
//! store's `tmp/` ([`LayerStore::prepare`]). Hashing, decompressing and writing the files
//! thus run beside the download instead of after it, on another core.
//!
//! Nothing becomes visible early: a prepared layer is published (under its chain ID, after
//! its diff ID is checked against the image config) only by `add_image_with_manifest`, once
//! the blob itself was verified and committed. A download that resumes an earlier partial
//! blob, is retried from the start, or fails, is not streamed (or stops streaming): its layer
//! is unpacked from the stored blob afterwards, as any layer of `load` or `import` is. A kill
//! leaves at worst a `tmp/unpack-*` directory, which `system check` counts as garbage.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use berth_image::digest::Digest;
use berth_image::layer::UnpackOptions;
use berth_registry::blob::{BlobDir, BlobError, BlobSink, PendingBlob};
use berth_registry::manifest::Descriptor;
use berth_store::{LayerStore, PreparedLayer, StoreError};

/// Chunks in flight between the download and the unpacking thread (each is one write of the
/// download, tens of KiB): enough to ride out jitter, small enough to keep memory flat.
const CHUNKS_IN_FLIGHT: usize = 32;

enum Chunk {
    Data(Vec<u8>),
    /// Every byte of the blob was sent (its verification is the committer's business).
    End,
}

/// An unpacking thread, and whether its blob was committed (verified and stored).
struct Unpacking {
    digest: Digest,
    handle: JoinHandle<Result<PreparedLayer, StoreError>>,
    committed: Arc<AtomicBool>,
}

/// A [`BlobSink`] that stores blobs in a [`BlobDir`] and unpacks layers as they arrive.
pub(crate) struct UnpackingSink {
    dir: BlobDir,
    layers: LayerStore,
    started: Arc<Mutex<Vec<Unpacking>>>,
}

impl UnpackingSink {
    pub(crate) fn new(dir: BlobDir, layers: LayerStore) -> Self {
        Self {
            dir,
            layers,
            started: Arc::default(),
        }
    }

    /// The layers unpacked while they downloaded, by blob digest. A layer whose unpacking
    /// failed or was abandoned is not there; it is unpacked again from its blob, which reports
    /// the failure properly if it was the content's.
    pub(crate) fn finish(self) -> HashMap<Digest, PreparedLayer> {
        let started = std::mem::take(&mut *self.started.lock().unwrap_or_else(|p| p.into_inner()));
        let mut done = HashMap::new();
        for Unpacking {
            digest,
            handle,
            committed,
        } in started
        {
            match handle.join() {
                // Only what came from a blob that passed its checks (a blob that failed them
                // may be downloaded again, by another thread).
                Ok(Ok(prepared)) if committed.load(Ordering::Acquire) => {
                    done.insert(digest, prepared);
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    tracing::debug!(%digest, error = %e, "unpacking while downloading failed")
                }
                Err(_) => tracing::debug!(%digest, "unpacking thread panicked"),
            }
        }
        done
    }
}

/// Layers, not configs: what unpacks.
fn is_layer(media_type: &str) -> bool {
    media_type.contains(".layer.") || media_type.contains(".diff.tar")
}

impl BlobSink for UnpackingSink {
    fn has_blob(&self, digest: &Digest) -> bool {
        self.dir.has_blob(digest)
    }

    fn begin_blob(&self, expected: &Descriptor) -> Result<Box<dyn PendingBlob>, BlobError> {
        let inner = self.dir.begin_blob(expected)?;
        // A resumed download's first bytes are on disk only: unpack it from the blob later.
        if !is_layer(&expected.media_type) || inner.written() > 0 {
            return Ok(inner);
        }
        let (tx, rx) = sync_channel(CHUNKS_IN_FLIGHT);
        let layers = self.layers.clone();
        let what = format!("layer {}", expected.digest);
        let digest = expected.digest.clone();
        let spawned = std::thread::Builder::new()
            .name("unpack".into())
            .spawn(move || {
                let reader = ChannelReader {
                    rx,
                    chunk: Vec::new(),
                    at: 0,
                    ended: false,
                };
                // The download hashes these very bytes, and the result is used only if they
                // matched: the unpacking need not hash them again.
                layers.prepare(
                    io::BufReader::with_capacity(1 << 20, reader),
                    &UnpackOptions::default(),
                    &what,
                    Some(&digest),
                )
            });
        let Ok(handle) = spawned else {
            return Ok(inner);
        };
        let committed = Arc::new(AtomicBool::new(false));
        self.started
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Unpacking {
                digest: expected.digest.clone(),
                handle,
                committed: committed.clone(),
            });
        Ok(Box::new(Tee {
            inner,
            tx: Some(tx),
            committed,
        }))
    }

    fn partial_len(&self, digest: &Digest) -> Option<u64> {
        self.dir.partial_len(digest)
    }
}

/// A blob written to the store and copied to its unpacking thread.
struct Tee {
    inner: Box<dyn PendingBlob>,
    /// `None` once the unpacking thread is gone or the stream was abandoned.
    tx: Option<SyncSender<Chunk>>,
    /// Set once the blob passed its checks and was stored.
    committed: Arc<AtomicBool>,
}

impl Write for Tee {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        if let Some(tx) = &self.tx {
            if tx.send(Chunk::Data(buf[..n].to_vec())).is_err() {
                // The unpacking failed (it will be redone from the blob): just download.
                self.tx = None;
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl PendingBlob for Tee {
    fn written(&self) -> u64 {
        self.inner.written()
    }

    fn reset(&mut self) -> Result<(), BlobError> {
        // The bytes sent so far are void: the unpacking stops (without `End` it fails).
        self.tx = None;
        self.inner.reset()
    }

    fn commit(mut self: Box<Self>) -> Result<(), BlobError> {
        // The stream is whole: the unpacking thread finishes (and syncs its files) while the
        // blob is verified and synced. Should the blob fail its check, the pull fails and the
        // prepared layer, never published, is dropped.
        let streamed = self.tx.take().is_some_and(|tx| tx.send(Chunk::End).is_ok());
        let committed = self.committed.clone();
        self.inner.commit()?;
        committed.store(streamed, Ordering::Release);
        Ok(())
    }

    fn abort(mut self: Box<Self>) {
        self.tx = None;
        self.inner.abort();
    }
}

/// The unpacking thread's side: the chunks as a stream, which fails if the download is
/// abandoned before its last byte.
struct ChannelReader {
    rx: Receiver<Chunk>,
    chunk: Vec<u8>,
    at: usize,
    /// `End` came: every later read is the end too (decoders read past it more than once).
    ended: bool,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.chunk.len() {
            if self.ended {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(Chunk::Data(data)) => {
                    self.chunk = data;
                    self.at = 0;
                }
                Ok(Chunk::End) => self.ended = true,
                Err(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the download stopped before the blob was complete",
                    ))
                }
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reader_ends_only_at_end_and_fails_when_abandoned() {
        let (tx, rx) = sync_channel(4);
        tx.send(Chunk::Data(b"abc".to_vec())).unwrap();
        tx.send(Chunk::Data(Vec::new())).unwrap();
        tx.send(Chunk::Data(b"de".to_vec())).unwrap();
        tx.send(Chunk::End).unwrap();
        let mut r = ChannelReader {
            rx,
            chunk: Vec::new(),
            at: 0,
            ended: false,
        };
        let mut got = String::new();
        r.read_to_string(&mut got).unwrap();
        assert_eq!(got, "abcde");
        drop(tx);
        assert_eq!(r.read(&mut [0u8; 8]).unwrap(), 0, "the end stays the end");

        let (tx, rx) = sync_channel(4);
        tx.send(Chunk::Data(b"abc".to_vec())).unwrap();
        drop(tx);
        let mut r = ChannelReader {
            rx,
            chunk: Vec::new(),
            at: 0,
            ended: false,
        };
        let mut got = Vec::new();
        let err = r.read_to_end(&mut got).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn layers_are_told_from_configs() {
        assert!(is_layer("application/vnd.oci.image.layer.v1.tar+gzip"));
        assert!(is_layer("application/vnd.oci.image.layer.v1.tar"));
        assert!(is_layer(
            "application/vnd.docker.image.rootfs.diff.tar.gzip"
        ));
        assert!(is_layer(
            "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
        ));
        assert!(!is_layer("application/vnd.oci.image.config.v1+json"));
        assert!(!is_layer("application/vnd.docker.container.image.v1+json"));
    }
}
