//! Cancelling a long engine call from another thread: a pull, a push, a build, an events
//! follow. The API server cancels when its client hangs up; the CLI never needs to.
//!
//! Pulls and pushes notice through their blob streams: a write into the store or a read for
//! the registry fails with "cancelled", which stops every parallel transfer of the call (a
//! partial download is kept and resumed by the next pull). Builds notice between steps and
//! kill their running RUN containers.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use berth_image::Digest;
use berth_registry::blob::{BlobError, BlobSink, BlobSource, PendingBlob};
use berth_registry::manifest::Descriptor;

/// A flag shared by the caller and a long call. Clones share it; cancelling is for good.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// A flag that is not set.
    pub fn new() -> Self {
        Self::default()
    }

    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// An error if cancelled (for checks between steps).
    pub(crate) fn check(&self, what: &str) -> Result<(), crate::EngineError> {
        if self.is_cancelled() {
            Err(crate::EngineError::Cancelled(what.to_string()))
        } else {
            Ok(())
        }
    }
}

/// Not `ErrorKind::Interrupted`: readers and writers retry on that.
fn cancelled() -> io::Error {
    io::Error::other("cancelled")
}

/// A blob sink whose writes fail once `cancel` is set.
pub(crate) struct CancelSink<'a> {
    pub inner: &'a dyn BlobSink,
    pub cancel: &'a Cancel,
}

impl BlobSink for CancelSink<'_> {
    fn has_blob(&self, digest: &Digest) -> bool {
        self.inner.has_blob(digest)
    }

    fn begin_blob(&self, expected: &Descriptor) -> Result<Box<dyn PendingBlob>, BlobError> {
        if self.cancel.is_cancelled() {
            return Err(BlobError::io(&expected.digest, cancelled()));
        }
        Ok(Box::new(CancelPending {
            inner: self.inner.begin_blob(expected)?,
            cancel: self.cancel.clone(),
        }))
    }

    fn partial_len(&self, digest: &Digest) -> Option<u64> {
        self.inner.partial_len(digest)
    }
}

struct CancelPending {
    inner: Box<dyn PendingBlob>,
    cancel: Cancel,
}

impl Write for CancelPending {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.cancel.is_cancelled() {
            return Err(cancelled());
        }
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl PendingBlob for CancelPending {
    fn written(&self) -> u64 {
        self.inner.written()
    }

    fn reset(&mut self) -> Result<(), BlobError> {
        self.inner.reset()
    }

    fn commit(self: Box<Self>) -> Result<(), BlobError> {
        self.inner.commit()
    }

    fn abort(self: Box<Self>) {
        self.inner.abort()
    }
}

/// A blob source whose reads fail once `cancel` is set.
pub(crate) struct CancelSource<'a> {
    pub inner: &'a dyn BlobSource,
    pub cancel: &'a Cancel,
}

impl BlobSource for CancelSource<'_> {
    fn open_blob(&self, digest: &Digest) -> Result<Box<dyn Read + Send>, BlobError> {
        if self.cancel.is_cancelled() {
            return Err(BlobError::io(digest, cancelled()));
        }
        Ok(Box::new(CancelRead {
            inner: self.inner.open_blob(digest)?,
            cancel: self.cancel.clone(),
        }))
    }

    fn blob_size(&self, digest: &Digest) -> Result<u64, BlobError> {
        self.inner.blob_size(digest)
    }
}

struct CancelRead {
    inner: Box<dyn Read + Send>,
    cancel: Cancel,
}

impl Read for CancelRead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.cancel.is_cancelled() {
            return Err(cancelled());
        }
        self.inner.read(buf)
    }
}
