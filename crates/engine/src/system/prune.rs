//! Prunes: stopped containers, unused networks, and `system prune`, which runs every prune
//! in docker's order (containers first, so that what they held becomes unused).

use crate::image::PruneReport;
use crate::{Engine, EngineError};
use berth_store::ContainerState;

/// What `container prune` removed.
#[derive(Debug, Clone, Default)]
pub struct ContainerPrune {
    /// Full IDs of the removed containers.
    pub removed: Vec<String>,
    /// Bytes of their writable layers.
    pub reclaimed: u64,
}

/// `system prune`'s flags.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemPruneOptions {
    /// Every unused image, not just dangling ones, and all of the build cache (`-a`).
    pub all: bool,
    /// Anonymous volumes no container uses too (`--volumes`).
    pub volumes: bool,
}

/// What `system prune` removed, by kind.
#[derive(Debug, Default)]
pub struct SystemPrune {
    pub containers: ContainerPrune,
    /// Names of the removed volumes (empty without `--volumes`).
    pub volumes: Vec<String>,
    pub networks: Vec<String>,
    pub images: PruneReport,
    /// Every byte freed: writable layers, volumes, image layers, build cache, blobs.
    pub reclaimed: u64,
}

impl Engine {
    /// `container prune`: removes every container that is not running (created, exited,
    /// dead), as docker does.
    pub fn prune_containers(&self) -> Result<ContainerPrune, EngineError> {
        let mut report = ContainerPrune::default();
        for rec in self.reconcile_all()? {
            if !matches!(
                rec.state,
                ContainerState::Exited | ContainerState::Created | ContainerState::Dead
            ) {
                continue;
            }
            let size = self.container_size(&rec.id).unwrap_or(0);
            self.remove_container(&rec.id, false, false)?;
            report.reclaimed += size;
            report.removed.push(rec.id);
        }
        Ok(report)
    }

    /// `network prune`: removes the user networks no container is attached to; returns
    /// their names.
    pub fn prune_networks(&self) -> Result<Vec<String>, EngineError> {
        let unused: Vec<String> = self
            .network()?
            .networks()
            .map_err(EngineError::Net)?
            .into_iter()
            .filter(|n| !n.predefined && n.containers.is_empty())
            .map(|n| n.name)
            .collect();
        for name in &unused {
            // Through the engine, so that each removal is recorded as an event.
            self.remove_network(name)?;
        }
        Ok(unused)
    }

    /// `system prune`: stopped containers, (anonymous volumes), unused networks, dangling
    /// (or all unused) images and the build cache, then blobs nothing references.
    pub fn system_prune(&self, opts: SystemPruneOptions) -> Result<SystemPrune, EngineError> {
        let containers = self.prune_containers()?;
        let mut reclaimed = containers.reclaimed;
        let mut volumes = Vec::new();
        if opts.volumes {
            let (removed, freed) = self.prune_volumes(false)?;
            volumes = removed;
            reclaimed += freed;
        }
        let networks = self.prune_networks()?;
        let images = self.prune_images(opts.all)?;
        reclaimed += images.reclaimed;
        reclaimed += self.prune_build_cache()?;
        reclaimed += self.collect_garbage()?;
        // The network namespaces made ahead of time are unused too; the next start makes
        // what it needs.
        if let Err(e) = self.netns_pool().drain() {
            tracing::warn!(error = %e, "cannot empty the network namespace pool");
        }
        Ok(SystemPrune {
            containers,
            volumes,
            networks,
            images,
            reclaimed,
        })
    }
}
