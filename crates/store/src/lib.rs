//! berth's on-disk store: content-addressed blobs, unpacked layers and SQLite metadata.
//!
//! Everything lives below one root passed in by the caller (the CLI defaults it to
//! `/var/lib/berth`, or `BERTH_ROOT`); this crate never picks a path of its own. The root is
//! also a valid OCI image layout:
//!
//! ```text
//! ROOT/oci-layout, ROOT/index.json    OCI image layout (tags as org.opencontainers.image.ref.name)
//! ROOT/blobs/sha256/<hex>             blobs, published only once verified
//! ROOT/ingest/                        blobs being written
//! ROOT/layers/                        unpacked layers by chain ID (see [`layers`])
//! ROOT/meta.db                        SQLite metadata (see [`meta`])
//! ```
//!
//! It must not parse user input or decide policy (what `rmi` may delete is the engine's call);
//! it keeps each write atomic and reports what is inconsistent.
//!
//! ```no_run
//! # fn main() -> Result<(), berth_store::StoreError> {
//! let mut store = berth_store::Store::open(std::path::Path::new("/tmp/berth-root"))?;
//! let blob = store.content.put(b"{}")?;
//! assert!(store.content.contains(&blob.digest));
//! # Ok(()) }
//! ```

pub mod content;
pub mod fsutil;
pub mod layers;
pub mod layout;
pub mod meta;
pub mod state;

use std::path::{Path, PathBuf};

use berth_image::digest::Digest;

pub use content::{BlobInfo, ContentStore};
pub use layers::{LayerStore, PreparedLayer};
pub use meta::{ContainerRecord, ImageRecord, LayerRecord, Meta, PodRecord, TagRecord};
pub use state::ContainerState;

/// What can go wrong in the store. Each variant names the object concerned.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("metadata database {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("metadata database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("blob {0} not found in the content store")]
    BlobNotFound(Digest),
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error("size mismatch for {digest}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        digest: Digest,
        expected: u64,
        actual: u64,
    },
    #[error("{what}: {source}")]
    Layer {
        what: String,
        #[source]
        source: berth_image::layer::LayerError,
    },
    #[error("mount overlay on {target}: {reason}")]
    Mount { target: PathBuf, reason: String },
    #[error("{what} is corrupt: {reason}")]
    Corrupt { what: String, reason: String },
}

impl StoreError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    fn db(path: &Path, source: rusqlite::Error) -> Self {
        Self::Open {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The three parts of the store, opened together.
#[derive(Debug)]
pub struct Store {
    root: PathBuf,
    pub content: ContentStore,
    pub layers: LayerStore,
    pub meta: Meta,
}

impl Store {
    /// Opens the store at `root`, creating its directories and files on first use.
    pub fn open(root: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(root).map_err(|e| StoreError::io(root, e))?;
        let content = ContentStore::open(root)?;
        let layers = LayerStore::open(root)?;
        layout::ensure_layout_file(root)?;
        let meta = Meta::open(&root.join("meta.db"))?;
        Ok(Self {
            root: root.to_path_buf(),
            content,
            layers,
            meta,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Held by operations that add content (load, import, pull, build): many at once.
    pub fn lock_shared(&self) -> Result<StoreLock, StoreError> {
        self.lock(rustix::fs::FlockOperation::LockShared)
    }

    /// Held by operations that delete content (rmi, prune): alone, so that a blob another
    /// process is about to name is never collected under it.
    pub fn lock_exclusive(&self) -> Result<StoreLock, StoreError> {
        self.lock(rustix::fs::FlockOperation::LockExclusive)
    }

    fn lock(&self, op: rustix::fs::FlockOperation) -> Result<StoreLock, StoreError> {
        Ok(StoreLock {
            _file: lock_file(&self.root.join("lock"), op)?,
        })
    }
}

/// Opens (creating it) the lock file `path` and takes `op` on it; the lock lives as long as
/// the file returned.
pub(crate) fn lock_file(
    path: &Path,
    op: rustix::fs::FlockOperation,
) -> Result<std::fs::File, StoreError> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| StoreError::io(path, e))?;
    rustix::fs::flock(&file, op).map_err(|e| StoreError::io(path, e.into()))?;
    Ok(file)
}

/// A held store lock; released on drop.
#[derive(Debug)]
pub struct StoreLock {
    _file: std::fs::File,
}
