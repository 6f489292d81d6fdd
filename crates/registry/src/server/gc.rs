//! Online garbage collection: blobs no manifest of any repository references are removed, unless
//! they were written, linked or confirmed within the grace period (a push in progress uploads its
//! blobs before its manifest). Marking and sweeping hold the storage lock exclusively, so no
//! manifest or link can be published in between.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::time::{Duration, SystemTime};

use berth_image::Digest;

use crate::manifest::{parse_manifest, Manifest};
use crate::server::storage::{list_names, Storage};

/// How careful `gc` is.
#[derive(Debug, Clone)]
pub struct GcOptions {
    /// Unreferenced blobs younger than this are kept.
    pub grace: Duration,
    /// Upload sessions idle for longer than this are removed.
    pub upload_expiry: Duration,
    /// Report what would be removed, remove nothing.
    pub dry_run: bool,
}

impl Default for GcOptions {
    fn default() -> Self {
        GcOptions {
            grace: Duration::from_secs(3600),
            upload_expiry: Duration::from_secs(24 * 3600),
            dry_run: false,
        }
    }
}

/// What a collection removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    pub blobs_removed: Vec<Digest>,
    pub bytes_freed: u64,
    pub blobs_kept: usize,
    pub uploads_removed: usize,
}

impl Storage {
    /// Removes unreferenced blobs and stale uploads; safe while the server runs.
    pub fn gc(&self, opts: &GcOptions) -> io::Result<GcReport> {
        let mut report = GcReport::default();
        let now = SystemTime::now();
        let age = |meta: &fs::Metadata| {
            meta.modified()
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .unwrap_or_default()
        };
        for id in list_names(&self.root().join("uploads"))? {
            // Idle for longer than the expiry: neither the data nor the session changed since.
            let idle = [self.upload_data(&id), self.upload_dir(&id)]
                .iter()
                .filter_map(|p| fs::metadata(p).ok())
                .map(|m| age(&m))
                .min();
            let stale = idle.is_some_and(|a| a > opts.upload_expiry);
            if stale {
                report.uploads_removed += 1;
                if !opts.dry_run {
                    self.remove_upload(&id);
                }
            }
        }
        for name in list_names(&self.root().join("tmp"))? {
            let path = self.root().join("tmp").join(name);
            if fs::metadata(&path).is_ok_and(|m| age(&m) > opts.upload_expiry) && !opts.dry_run {
                let _ = fs::remove_file(&path);
            }
        }
        let _guard = self.gc_lock.write().unwrap_or_else(|e| e.into_inner());
        let marked = self.mark()?;
        let blobs_dir = self.root().join("blobs/sha256");
        for name in list_names(&blobs_dir)? {
            let Ok(d) = Digest::from_hex(&name) else {
                continue;
            };
            if marked.contains(&d) {
                report.blobs_kept += 1;
                continue;
            }
            let path = blobs_dir.join(&name);
            let Ok(meta) = fs::metadata(&path) else {
                continue;
            };
            if age(&meta) < opts.grace {
                report.blobs_kept += 1;
                continue;
            }
            report.bytes_freed += meta.len();
            if !opts.dry_run {
                fs::remove_file(&path)?;
            }
            tracing::info!(digest = %d, size = meta.len(), "gc: removed unreferenced blob");
            report.blobs_removed.push(d);
        }
        if !opts.dry_run && !report.blobs_removed.is_empty() {
            self.drop_dangling_links(&report.blobs_removed)?;
        }
        Ok(report)
    }

    /// Every digest a manifest of any repository needs: the manifests themselves, configs,
    /// layers and the manifests an index lists.
    fn mark(&self) -> io::Result<HashSet<Digest>> {
        let mut marked = HashSet::new();
        for repo in self.repositories()? {
            for d in self.revisions(&repo)? {
                marked.insert(d.clone());
                let Ok(bytes) = fs::read(self.blob_path(&d)) else {
                    continue;
                };
                match parse_manifest(&bytes, None) {
                    Ok((Manifest::Image(m), _)) => {
                        marked.insert(m.config.digest);
                        marked.extend(m.layers.into_iter().map(|l| l.digest));
                    }
                    Ok((Manifest::Index(i), _)) => {
                        marked.extend(i.manifests.into_iter().map(|m| m.digest));
                    }
                    Err(_) => {}
                }
            }
        }
        Ok(marked)
    }

    fn drop_dangling_links(&self, removed: &[Digest]) -> io::Result<()> {
        for repo in self.repositories()? {
            for d in removed {
                let _ = self.unlink_blob(&repo, d)?;
            }
        }
        Ok(())
    }
}
