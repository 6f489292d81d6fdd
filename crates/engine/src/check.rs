//! `system check` and `system df`: what the store holds, and whether it is consistent.
//!
//! `check` separates problems (a blob whose bytes do not match its digest, a record naming
//! something missing) from garbage (files nothing names, left by an interrupted operation),
//! which is harmless and which `image prune` removes.

use std::collections::BTreeSet;
use std::path::PathBuf;

use berth_image::digest::Digest;

use crate::{Engine, EngineError};

/// The findings of `system check`.
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    pub blobs_verified: usize,
    pub images: usize,
    pub layers: usize,
    /// Inconsistencies: each line names the object and what is wrong.
    pub problems: Vec<String>,
    /// Harmless leftovers that a prune reclaims.
    pub garbage: Vec<String>,
}

impl CheckReport {
    pub fn is_consistent(&self) -> bool {
        self.problems.is_empty()
    }
}

/// `system df` numbers for images.
#[derive(Debug, Clone, Default)]
pub struct DiskUsage {
    pub images: usize,
    pub active_images: usize,
    /// Bytes of unpacked layers (shared layers once).
    pub images_size: u64,
    pub images_reclaimable: u64,
    /// Bytes of blobs in the content store.
    pub blobs_size: u64,
    pub containers: usize,
    pub running_containers: usize,
    /// Bytes in the containers' writable layers.
    pub containers_size: u64,
    /// Of which in stopped containers.
    pub containers_reclaimable: u64,
    pub volumes: usize,
    pub volumes_active: usize,
    pub volumes_size: u64,
    pub volumes_reclaimable: u64,
    /// Images builds made that nothing else holds (no tag, no container): what `builder
    /// prune` removes. They are not counted under `images`.
    pub build_cache: usize,
    /// Bytes of the layers only those images use.
    pub build_cache_size: u64,
}

impl Engine {
    /// Verifies every blob's digest and every reference between records.
    pub fn check(&self) -> Result<CheckReport, EngineError> {
        let _lock = self.store.lock_shared()?;
        let mut r = CheckReport::default();
        let (blobs, foreign) = self.store.content.list()?;
        for b in &blobs {
            if !self.store.content.verify(b)? {
                r.problems
                    .push(format!("blob {b}: content does not match its digest"));
            }
        }
        r.blobs_verified = blobs.len();
        r.problems.extend(foreign.iter().map(|p| {
            format!(
                "{}: a file in the blob directory that is not named by a digest",
                p.display()
            )
        }));
        let (images, layers, dangling) = self
            .store
            .meta
            .read(|tx| Ok((tx.images()?, tx.layers()?, tx.dangling_references()?)))?;
        r.images = images.len();
        r.layers = layers.len();
        r.problems.extend(dangling);
        let on_disk: BTreeSet<&Digest> = blobs.iter().collect();
        let mut named: BTreeSet<Digest> = BTreeSet::new();
        for img in &images {
            for (what, d) in [("manifest", &img.manifest), ("config", &img.id)] {
                named.insert(d.clone());
                if !on_disk.contains(d) {
                    r.problems.push(format!(
                        "image {}: {what} blob {d} is missing",
                        img.id.short()
                    ));
                }
            }
        }
        for l in &layers {
            named.insert(l.blob.clone());
            if !on_disk.contains(&l.blob) {
                r.problems
                    .push(format!("layer {}: blob {} is missing", l.chain_id, l.blob));
            }
            if !self.store.layers.exists(&l.chain_id) {
                r.problems.push(format!(
                    "layer {}: unpacked directory is missing",
                    l.chain_id
                ));
                continue;
            }
            match self.store.layers.link(&l.chain_id) {
                Ok(link) if link == l.link => {
                    let target = self.store.layers.dir().join("l").join(&link);
                    if !target.is_dir() {
                        r.problems.push(format!(
                            "layer {}: short link l/{link} is missing",
                            l.chain_id
                        ));
                    }
                }
                Ok(link) => r.problems.push(format!(
                    "layer {}: link file says {link}, the database says {}",
                    l.chain_id, l.link
                )),
                Err(e) => r.problems.push(format!("layer {}: {e}", l.chain_id)),
            }
        }
        for b in blobs.iter().filter(|b| !named.contains(*b)) {
            r.garbage.push(format!("blob {b} is not used by any image"));
        }
        let recorded: BTreeSet<&Digest> = layers.iter().map(|l| &l.chain_id).collect();
        let (dirs, other) = self.store.layers.list()?;
        for d in dirs.iter().filter(|d| !recorded.contains(d)) {
            r.garbage
                .push(format!("layer directory {} is not recorded", d.hex()));
        }
        let strays: Vec<PathBuf> = other
            .into_iter()
            .chain(self.store.layers.strays()?)
            .chain(self.store.content.stray_ingests()?)
            .collect();
        r.garbage.extend(
            strays
                .iter()
                .map(|p| format!("{} is left over from an interrupted operation", p.display())),
        );
        // Only for a root whose network layer exists (opening it would make the bridge).
        if self.net_settings.state_dir.join("config.json").exists() {
            r.problems.extend(self.subnet_clashes(None));
        }
        for (id, what) in self.orphans()? {
            r.problems.push(format!(
                "container {id} has no record but its {} (left by an interrupted create or \
                 remove): `berth system check --repair` removes them",
                what.join(", ")
            ));
        }
        Ok(r)
    }

    /// What containers that no record names left behind: their directory, runtime state,
    /// network attachment or namespace. `create` makes a container's directory inside the
    /// transaction that records it, the rest comes later, and `rm` drops the record before
    /// any of it: so what is seen under the write lock is a leftover of a crash (or of a
    /// remove still at work), never a container being made.
    fn orphans(&self) -> Result<Vec<(String, Vec<&'static str>)>, EngineError> {
        let net = &self.net_settings.state_dir;
        let places: [(&'static str, PathBuf, &str); 5] = [
            ("directory", self.store.root().join("containers"), ""),
            // Moved aside by an --rm's monitor that died before emptying it.
            (
                "directory in the trash",
                self.store.root().join("trash"),
                "",
            ),
            ("runtime state", self.oci_runtime().root().to_path_buf(), ""),
            ("network attachment", net.join("containers"), ".json"),
            ("network namespace", net.join("netns"), ""),
        ];
        self.store.meta.write(|tx| {
            let mut found: std::collections::BTreeMap<String, Vec<&'static str>> =
                Default::default();
            for (what, dir, suffix) in &places {
                let entries = match std::fs::read_dir(dir) {
                    Ok(rd) => rd,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(EngineError::io(format!("list {}", dir.display()), e)),
                };
                for entry in entries.flatten() {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    let Some(id) = name.strip_suffix(suffix) else {
                        continue;
                    };
                    let is_id = berth_image::reference::is_hex_identifier(id);
                    if is_id && tx.container(id)?.is_none() {
                        found.entry(id.to_string()).or_default().push(what);
                    }
                }
            }
            Ok(found.into_iter().collect())
        })
    }

    /// `system check --repair`: removes what `check` reports as left behind by a crash —
    /// the directory, mounts, runtime state and cgroups, network attachment and namespace of
    /// containers that no record names. Returns what it removed.
    pub fn repair(&self) -> Result<Vec<String>, EngineError> {
        let mut done = Vec::new();
        for (id, what) in self.orphans()? {
            let removed = self.remove_leftovers(&id, &|| {
                if let Ok(mut net) = self.network() {
                    let _ = net.detach(&id);
                }
            });
            if let Err(e) = std::fs::remove_dir_all(self.trash_path(&id)) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    return Err(EngineError::io(format!("remove the trash of {id}"), e));
                }
            }
            match removed {
                Ok(()) => {}
                // The runtime's state may be half gone already: what could go, went.
                Err(EngineError::Runtime(e)) => {
                    tracing::warn!(container_id = %id, error = %e, "repair: runtime delete");
                }
                Err(e) => return Err(e),
            }
            done.push(format!("container {id} ({})", what.join(", ")));
        }
        Ok(done)
    }

    /// Removes the garbage `check` reports: unnamed blobs, unrecorded layer directories and
    /// leftovers of interrupted operations. Returns the bytes freed.
    pub fn collect_garbage(&self) -> Result<u64, EngineError> {
        let _lock = self.store.lock_exclusive()?;
        let mut freed = self.collect_garbage_blobs()?;
        let recorded: BTreeSet<Digest> = self
            .store
            .meta
            .read(|tx| tx.layers())?
            .into_iter()
            .map(|l| l.chain_id)
            .collect();
        let (dirs, _) = self.store.layers.list()?;
        for d in dirs.iter().filter(|d| !recorded.contains(d)) {
            let link = self.store.layers.link(d).unwrap_or_default();
            self.store.layers.remove(d, &link)?;
        }
        for p in self
            .store
            .layers
            .strays()?
            .into_iter()
            .chain(self.store.content.stray_ingests()?)
        {
            freed += std::fs::symlink_metadata(&p).map(|m| m.len()).unwrap_or(0);
            let _ = if p.is_dir() && !p.is_symlink() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
        }
        Ok(freed)
    }

    pub fn disk_usage(&self) -> Result<DiskUsage, EngineError> {
        let (all_images, layers, built, tagged) = self.store.meta.read(|tx| {
            Ok((
                tx.images()?,
                tx.layers()?,
                tx.cached_images()?,
                tx.tags()?
                    .into_iter()
                    .map(|t| t.image_id)
                    .collect::<BTreeSet<_>>(),
            ))
        })?;
        let (blobs, _) = self.store.content.list()?;
        let containers = self.reconcile_all()?;
        let used: BTreeSet<String> = containers.iter().map(|c| c.image_id.clone()).collect();
        // The build cache: images a build made that no tag and no container holds.
        let cache: BTreeSet<Digest> = built
            .into_iter()
            .filter(|id| !tagged.contains(id) && !used.contains(&id.to_string()))
            .collect();
        let (cached, images): (Vec<_>, Vec<_>) =
            all_images.into_iter().partition(|i| cache.contains(&i.id));
        let kept: BTreeSet<&Digest> = images.iter().flat_map(|i| &i.layers).collect();
        let only_cached: BTreeSet<&Digest> = cached
            .iter()
            .flat_map(|i| &i.layers)
            .filter(|l| !kept.contains(l))
            .collect();
        let layer_size = |set: &BTreeSet<&Digest>| -> u64 {
            layers
                .iter()
                .filter(|l| set.contains(&l.chain_id))
                .map(|l| l.size)
                .sum()
        };
        let images_size = layer_size(&kept);
        // An image is reclaimable when no container uses it (what `image prune -a` frees).
        let reclaimable: u64 = images
            .iter()
            .filter(|i| !used.contains(&i.id.to_string()))
            .map(|i| i.size)
            .sum();
        let mut u = DiskUsage {
            images: images.len(),
            active_images: images
                .iter()
                .filter(|i| used.contains(&i.id.to_string()))
                .count(),
            images_size,
            images_reclaimable: reclaimable.min(images_size),
            blobs_size: blobs
                .iter()
                .map(|b| self.store.content.size(b).unwrap_or(0))
                .sum(),
            containers: containers.len(),
            build_cache: cached.len(),
            build_cache_size: layer_size(&only_cached),
            ..Default::default()
        };
        for c in &containers {
            let size = self.container_size(&c.id).unwrap_or(0);
            u.containers_size += size;
            if c.state.is_active() {
                u.running_containers += 1;
            } else {
                u.containers_reclaimable += size;
            }
        }
        for v in self.volumes()? {
            let size = crate::container::dir_size(&v.mountpoint);
            u.volumes += 1;
            u.volumes_size += size;
            if v.used_by.is_empty() {
                u.volumes_reclaimable += size;
            } else {
                u.volumes_active += 1;
            }
        }
        Ok(u)
    }
}
