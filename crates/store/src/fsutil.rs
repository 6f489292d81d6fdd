//! Small crash-safe file helpers: every write that must survive a crash goes through here.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use crate::StoreError;

/// fsyncs a directory so that a rename inside it is durable.
pub fn fsync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io(dir, e))
}

/// Writes `bytes` to `target` atomically: a temp file in `tmp_dir` (same filesystem), fsync,
/// rename, fsync of the target's directory.
pub fn write_atomic(target: &Path, bytes: &[u8], tmp_dir: &Path) -> Result<(), StoreError> {
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(tmp_dir)
        .map_err(|e| StoreError::io(tmp_dir, e))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| StoreError::io(tmp.path(), e))?;
    tmp.persist(target)
        .map_err(|e| StoreError::io(target, e.error))?;
    if let Some(parent) = target.parent() {
        fsync_dir(parent)?;
    }
    Ok(())
}

/// Removes a directory tree, treating "already gone" as success.
pub fn remove_tree(path: &Path) -> Result<(), StoreError> {
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::io(path, e)),
    }
}
