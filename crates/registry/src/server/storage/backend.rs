//! The seam between the registry's layout (in `mod.rs`, written once) and where its objects
//! live: a directory ([`fs`](super::fs)) or an S3 bucket ([`s3`](super::s3)). Keys are
//! `/`-separated paths relative to the root or the bucket prefix, e.g.
//! `repositories/alice/app/_manifests/tags/latest`.

use std::fmt;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::time::SystemTime;

use sha2::Sha256;

/// Size and age of one object.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ObjectMeta {
    pub size: u64,
    pub modified: Option<SystemTime>,
}

/// One entry of a directory (a key prefix, on S3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub name: String,
    pub dir: bool,
}

/// A verified upload was published, or its content had another digest (the hex given).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Published {
    Done,
    Mismatch(String),
}

/// Bytes appended to an upload; they count only once [`commit`](ChunkWriter::commit) returns
/// (dropping the writer abandons the chunk where the backend can, S3).
pub(crate) trait ChunkWriter: Write + Send {
    fn commit(self: Box<Self>) -> io::Result<()>;
}

pub(crate) trait Backend: Send + Sync + fmt::Debug {
    /// The directory or `s3://bucket/prefix at endpoint`, for messages.
    fn describe(&self) -> String;
    /// A small object whole, `None` when absent.
    fn read(&self, key: &str) -> io::Result<Option<Vec<u8>>>;
    /// Replaces an object atomically: readers see the old bytes or the new, never part.
    fn write(&self, key: &str, bytes: &[u8]) -> io::Result<()>;
    /// Creates an object unless there is one (false then); two racing creators cannot both win.
    fn create(&self, key: &str, bytes: &[u8]) -> io::Result<bool>;
    fn stat(&self, key: &str) -> io::Result<Option<ObjectMeta>>;
    /// False when there was nothing to delete (S3 cannot tell: it asks first).
    fn delete(&self, key: &str) -> io::Result<bool>;
    /// The entries directly under `dir`, sorted by name; empty when there is none.
    fn list(&self, dir: &str) -> io::Result<Vec<Entry>>;
    /// The objects directly under `dir` with their size and age, sorted by name.
    fn list_objects(&self, dir: &str) -> io::Result<Vec<(String, ObjectMeta)>>;
    /// True when `dir` exists (holds something, on S3).
    fn dir_exists(&self, dir: &str) -> io::Result<bool>;
    /// Removes `dir` and everything under it; false when it did not exist.
    fn remove_dir(&self, dir: &str) -> io::Result<bool>;
    /// Restarts the object's garbage-collection grace period.
    fn touch(&self, key: &str);
    /// When `key` was last touched, where that is kept apart from the object (S3).
    fn touched_at(&self, key: &str) -> Option<SystemTime>;
    /// Forgets the touch record of a removed object.
    fn forget_touch(&self, key: &str);
    /// `len` bytes (to the end when `None`) of an object from `start`; `None` when absent.
    fn reader(
        &self,
        key: &str,
        start: u64,
        len: Option<u64>,
    ) -> io::Result<Option<Box<dyn Read + Send>>>;
    /// The file holding `key`, when the backend is a directory (served with async file I/O).
    fn local_path(&self, key: &str) -> Option<PathBuf>;
    /// Removes leftovers of interrupted writes older than `age` (local staging files).
    fn sweep_staging(&self, age: std::time::Duration);

    // ---- uploads: `uploads/<id>/…`, the state any instance continues from ---------------

    fn create_upload(&self, id: &str, repo: &str) -> io::Result<()>;
    /// The upload's repository and the bytes it holds; `None` when there is no such upload.
    fn upload_info(&self, id: &str) -> io::Result<Option<(String, u64)>>;
    /// A writer appending at `offset` (the bytes the upload holds).
    fn upload_writer(&self, id: &str, offset: u64) -> io::Result<Box<dyn ChunkWriter>>;
    /// Verifies the upload's bytes against `expected` (hex; `hash` is their running hash when
    /// this process saw all of them) and, when they match, publishes them at `target` — whole,
    /// or not at all. The upload itself stays (the caller removes it).
    fn publish_upload(
        &self,
        id: &str,
        target: &str,
        expected: &str,
        hash: Option<Sha256>,
    ) -> io::Result<Published>;
    fn remove_upload(&self, id: &str);
    /// Every upload's id with its last activity.
    fn uploads(&self) -> io::Result<Vec<(String, Option<SystemTime>)>>;
}
