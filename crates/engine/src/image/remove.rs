//! `rmi` and `image prune`, with docker's rules for untagging versus deleting.

use std::collections::BTreeSet;

use berth_image::digest::Digest;
use berth_image::reference::Reference;
use berth_store::meta::Tx;
use berth_store::LayerRecord;

use crate::events::Action;
use crate::{Engine, EngineError};

/// One line of `rmi` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoveEvent {
    /// `Untagged: busybox:latest`
    Untagged(String),
    /// `Deleted: sha256:…` (images and layers alike, as docker prints them)
    Deleted(Digest),
}

/// What `image prune` removed.
#[derive(Debug, Clone, Default)]
pub struct PruneReport {
    pub events: Vec<RemoveEvent>,
    pub reclaimed: u64,
}

fn repository_of(full: &str) -> String {
    Reference::parse(full).map_or_else(|_| full.to_string(), |r| r.name())
}

impl Engine {
    /// Removes one image name the way `docker rmi` does: a tag is untagged, and the image is
    /// deleted once nothing names it; an ID deletes the image, refusing (unless `force`) when
    /// tags of several repositories name it.
    pub fn remove_image(&self, name: &str, force: bool) -> Result<Vec<RemoveEvent>, EngineError> {
        self.remove_image_with(name, force, true)
    }

    /// [`Engine::remove_image`] with `rmi --no-prune` as `prune: false`. Like docker's, it
    /// deletes with the image the chain of untagged images its build left (its parent, the
    /// parent's parent …) up to the first that is tagged, used by a container, the parent of
    /// another image, or not made by a build; without `prune` they stay. Either way an image
    /// other images were built on is only untagged.
    pub fn remove_image_with(
        &self,
        name: &str,
        force: bool,
        prune: bool,
    ) -> Result<Vec<RemoveEvent>, EngineError> {
        let _lock = self.store.lock_exclusive()?;
        self.remove_image_locked(name, force, true, prune)
    }

    /// Removes one image. With `as_rmi` an image other images were built on is kept
    /// (prunes pass false: they take images as they are); with `prune` its untagged build
    /// parents go with it.
    fn remove_image_locked(
        &self,
        name: &str,
        force: bool,
        as_rmi: bool,
        prune: bool,
    ) -> Result<Vec<RemoveEvent>, EngineError> {
        let id = self.resolve_image(name)?;
        let full = Reference::parse(name)
            .map(|r| r.with_default_tag().to_string())
            .unwrap_or_else(|_| name.to_string());
        let mut events = Vec::new();
        let deleted = self.store.meta.write(|tx| {
            let tags = tx.tags_of(&id)?;
            // `b` names the tag b:latest even when the image's ID starts with b.
            let by_id = is_id_prefix(&id, name) && !tags.iter().any(|t| t.name == full);
            let has_children = as_rmi && !tx.image_children(&id)?.is_empty();
            if by_id {
                let repos: BTreeSet<String> = tags.iter().map(|t| repository_of(&t.name)).collect();
                if repos.len() > 1 && !force {
                    return Err(EngineError::Conflict(format!(
                        "unable to delete {} (must be forced) - image is referenced in multiple repositories",
                        id.short()
                    )));
                }
                if has_children {
                    return Err(EngineError::Conflict(format!(
                        "unable to delete {} (cannot be forced) - image has dependent child images",
                        id.short()
                    )));
                }
                for t in &tags {
                    tx.remove_tag(&t.name)?;
                    events.push(RemoveEvent::Untagged(familiar(&t.name)));
                }
            } else {
                if tx.remove_tag(&full)? {
                    events.push(RemoveEvent::Untagged(familiar(&full)));
                }
                // Still named, or other images were built on it: it stays (untagged).
                if !tx.tags_of(&id)?.is_empty() || has_children {
                    return Ok(None);
                }
            }
            // Containers stack on the image's layers: a running one blocks the delete even
            // when forced; a stopped one unless forced, and then the image stays, untagged,
            // until its containers are gone.
            let users = tx.containers_of_image(&id)?;
            if let Some(c) = users.iter().find(|c| c.state.is_active()) {
                return Err(EngineError::Conflict(format!(
                    "unable to delete {} (cannot be forced) - image is being used by running container {}",
                    id.short(),
                    &c.id[..12]
                )));
            }
            if let Some(c) = users.first() {
                if !force {
                    return Err(EngineError::Conflict(format!(
                        "unable to delete {} (must be forced) - image is being used by stopped container {}",
                        id.short(),
                        &c.id[..12]
                    )));
                }
                return Ok(None);
            }
            for d in tx.repo_digests(&id)? {
                events.push(RemoveEvent::Untagged(familiar(&d)));
            }
            let parent = tx.image_parent(&id)?;
            let mut gone = vec![(id.clone(), tx.delete_image(&id)?)];
            if prune {
                gone.extend(delete_unused_parents(tx, parent)?);
            }
            Ok::<_, EngineError>(Some(gone))
        });
        let deleted = deleted?.unwrap_or_default();
        for _ in events
            .iter()
            .filter(|e| matches!(e, RemoveEvent::Untagged(_)))
        {
            self.emit_image(Action::Untag, &id.to_string(), &id.to_string());
        }
        let any = !deleted.is_empty();
        let mut layers = Vec::new();
        for (image, image_layers) in deleted {
            self.emit_image(Action::Delete, &image.to_string(), &image.to_string());
            events.push(RemoveEvent::Deleted(image));
            events.extend(
                image_layers
                    .iter()
                    .map(|l| RemoveEvent::Deleted(l.chain_id.clone())),
            );
            layers.extend(image_layers);
        }
        if any {
            self.reclaim(&layers)?;
        }
        self.sync_layout_index()?;
        Ok(events)
    }

    /// Deletes the files of removed images: their layer directories and every blob that no
    /// record names any more. A crash here leaves only unreferenced files, which `system
    /// check` reports and prune removes.
    fn reclaim(&self, layers: &[LayerRecord]) -> Result<u64, EngineError> {
        let mut freed = 0;
        for l in layers {
            self.store.layers.remove(&l.chain_id, &l.link)?;
            freed += l.size;
        }
        self.collect_garbage_blobs()?;
        Ok(freed)
    }

    /// Removes every blob that no record names. Returns the bytes freed.
    pub fn collect_garbage_blobs(&self) -> Result<u64, EngineError> {
        let referenced: BTreeSet<Digest> = self
            .store
            .meta
            .read(|tx| tx.referenced_blobs())?
            .into_iter()
            .collect();
        let (blobs, _) = self.store.content.list()?;
        let mut freed = 0;
        for b in blobs.iter().filter(|b| !referenced.contains(b)) {
            freed += self.store.content.size(b).unwrap_or(0);
            self.store.content.remove(b)?;
        }
        Ok(freed)
    }

    /// `image prune`: removes dangling images, or with `all` every image no container uses.
    pub fn prune_images(&self, all: bool) -> Result<PruneReport, EngineError> {
        let _lock = self.store.lock_exclusive()?;
        let victims: Vec<(Digest, u64)> = self.store.meta.read(|tx| {
            let tagged: BTreeSet<Digest> = tx.tags()?.into_iter().map(|t| t.image_id).collect();
            let mut out = Vec::new();
            let cached: BTreeSet<Digest> = tx.cached_images()?.into_iter().collect();
            for i in tx.images()? {
                // The build cache's images go with `builder prune`, not here.
                if cached.contains(&i.id) {
                    continue;
                }
                let unused = tx.containers_of_image(&i.id)?.is_empty();
                if unused && (all || !tagged.contains(&i.id)) {
                    out.push((i.id, i.size));
                }
            }
            Ok(out)
        })?;
        let mut report = PruneReport::default();
        for (id, _) in victims {
            let before = self.layer_bytes()?;
            let events = self.remove_image_locked(&id.to_string(), true, false, false)?;
            report.reclaimed += before.saturating_sub(self.layer_bytes()?);
            report.events.extend(events);
        }
        Ok(report)
    }

    fn layer_bytes(&self) -> Result<u64, EngineError> {
        Ok(self
            .store
            .meta
            .read(|tx| tx.layers())?
            .iter()
            .map(|l| l.size)
            .sum())
    }
}

/// Deletes `parent` and its own parents while each is an image a build made that nothing
/// else holds: no tag or repo digest, no container, no other child. Returns what went, in
/// order. Build cache entries naming them go too (the table cascades), so a later build
/// runs those steps again instead of finding a missing image.
fn delete_unused_parents(
    tx: &Tx<'_>,
    mut parent: Option<Digest>,
) -> Result<Vec<(Digest, Vec<LayerRecord>)>, EngineError> {
    let mut gone = Vec::new();
    while let Some(p) = parent {
        let held = !tx.cache_holds(&p)?
            || !tx.tags_of(&p)?.is_empty()
            || !tx.repo_digests(&p)?.is_empty()
            || !tx.containers_of_image(&p)?.is_empty()
            || !tx.image_children(&p)?.is_empty();
        if held || tx.image(&p)?.is_none() {
            break;
        }
        parent = tx.image_parent(&p)?;
        let layers = tx.delete_image(&p)?;
        gone.push((p, layers));
    }
    Ok(gone)
}

fn familiar(full: &str) -> String {
    Reference::parse(full).map_or_else(|_| full.to_string(), |r| r.familiar())
}

/// Whether `name` named the image by (a prefix of) its ID rather than by a tag.
fn is_id_prefix(id: &Digest, name: &str) -> bool {
    let hex = name.strip_prefix("sha256:").unwrap_or(name);
    !hex.is_empty() && id.hex().starts_with(&hex.to_ascii_lowercase())
}

impl Engine {
    /// `builder prune`: forgets the build cache and deletes the images only it kept.
    /// Returns the bytes freed.
    pub fn prune_build_cache(&self) -> Result<u64, EngineError> {
        let _lock = self.store.lock_exclusive()?;
        let before = self.layer_bytes()?;
        let images = self.store.meta.write(|tx| tx.cache_clear())?;
        for id in images {
            let keep = self.store.meta.read(|tx| {
                Ok(!tx.tags_of(&id)?.is_empty() || !tx.containers_of_image(&id)?.is_empty())
            })?;
            if !keep {
                match self.remove_image_locked(&id.to_string(), true, false, false) {
                    Ok(_) | Err(EngineError::ImageNotFound(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(before.saturating_sub(self.layer_bytes()?))
    }
}
