//! Online garbage collection: blobs no manifest of any repository references are removed, unless
//! they were written, linked or confirmed within the grace period (a push in progress uploads its
//! blobs before its manifest). Marking and sweeping hold the storage lock exclusively, so no
//! manifest or link can be published in between.

use std::collections::HashSet;
use std::io;
use std::time::{Duration, SystemTime};

use berth_image::Digest;

use crate::manifest::{parse_manifest, Manifest};
use crate::server::storage::Storage;

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
    /// Removes unreferenced blobs and stale uploads; safe while this process serves. With
    /// several instances over one S3 bucket, the lock below guards this process only: run it
    /// while the others are read-only (or stopped), as distribution requires.
    pub fn gc(&self, opts: &GcOptions) -> io::Result<GcReport> {
        let mut report = GcReport::default();
        let now = SystemTime::now();
        let age = |t: Option<SystemTime>| {
            t.and_then(|m| now.duration_since(m).ok())
                .unwrap_or_default()
        };
        let backend = self.backend();
        for (id, last) in backend.uploads()? {
            // Idle for longer than the expiry: nothing was written to it since.
            if last.is_some() && age(last) > opts.upload_expiry {
                report.uploads_removed += 1;
                if !opts.dry_run {
                    self.remove_upload(&id);
                }
            }
        }
        if !opts.dry_run {
            backend.sweep_staging(opts.upload_expiry);
        }
        let _guard = self.gc_lock.write().unwrap_or_else(|e| e.into_inner());
        let marked = self.mark()?;
        for (name, meta) in backend.list_objects("blobs/sha256")? {
            let Ok(d) = Digest::from_hex(&name) else {
                continue;
            };
            if marked.contains(&d) {
                report.blobs_kept += 1;
                continue;
            }
            let key = format!("blobs/sha256/{name}");
            let young = age(meta.modified) < opts.grace
                || backend
                    .touched_at(&key)
                    .is_some_and(|t| age(Some(t)) < opts.grace);
            if young {
                report.blobs_kept += 1;
                continue;
            }
            report.bytes_freed += meta.size;
            if !opts.dry_run {
                backend.delete(&key)?;
                backend.forget_touch(&key);
            }
            tracing::info!(digest = %d, size = meta.size, "gc: removed unreferenced blob");
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
                let Ok(Some(bytes)) = self.read_blob(&d) else {
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
