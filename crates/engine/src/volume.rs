//! Named volumes: directories under `ROOT/volumes/<name>/_data`, as docker's local driver
//! keeps them. A volume is in use while a container's config mounts it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use berth_runtime::spec::MountKind;
use rand::RngCore;

use crate::container::ContainerConfig;
use crate::events::Action;
use crate::{Engine, EngineError};

/// One volume, for `volume ls` and `volume inspect`.
#[derive(Debug, Clone)]
pub struct VolumeInfo {
    pub name: String,
    pub mountpoint: PathBuf,
    /// Unix seconds.
    pub created: i64,
    /// IDs of the containers that mount it.
    pub used_by: Vec<String>,
    /// Made for one container (a `-v /path` or an image VOLUME), not named by a user.
    pub anonymous: bool,
    /// docker's volume labels (compose finds its project's volumes by them).
    pub labels: BTreeMap<String, String>,
}

/// Docker's rule for volume names.
pub fn valid_name(n: &str) -> bool {
    let mut chars = n.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && n.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

const ANONYMOUS_MARK: &str = ".berth-anonymous";
/// The labels a volume was created with, beside its data.
const LABELS_FILE: &str = "labels.json";

impl VolumeInfo {
    /// Bytes of the volume's data on disk.
    pub fn disk_size(&self) -> u64 {
        crate::container::dir_size(&self.mountpoint)
    }
}

impl Engine {
    fn volumes_dir(&self) -> PathBuf {
        self.store.root().join("volumes")
    }

    /// Creates (or finds) a volume; an empty name makes an anonymous one. Returns its name
    /// and data directory.
    pub fn create_volume(&self, name: &str) -> Result<(String, PathBuf), EngineError> {
        self.create_volume_labeled(name, &BTreeMap::new())
    }

    /// [`Engine::create_volume`] with docker's labels. A volume that exists already is found,
    /// its labels unchanged, as docker's local driver does.
    pub fn create_volume_labeled(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<(String, PathBuf), EngineError> {
        let (name, anonymous) = if name.is_empty() {
            let mut b = [0u8; 32];
            rand::thread_rng().fill_bytes(&mut b);
            (hex::encode(b), true)
        } else if valid_name(name) {
            (name.to_string(), false)
        } else {
            return Err(EngineError::InvalidArgument(format!(
                "invalid volume name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        };
        let dir = self.volumes_dir().join(&name);
        let data = dir.join("_data");
        let existed = data.is_dir();
        std::fs::create_dir_all(&data)
            .map_err(|e| EngineError::io(format!("create volume {name}"), e))?;
        if anonymous {
            let _ = std::fs::write(dir.join(ANONYMOUS_MARK), "");
        }
        if !existed && !labels.is_empty() {
            let json = serde_json::to_vec(labels)
                .map_err(|e| EngineError::bad_input(format!("volume {name}: labels"), e))?;
            if let Err(e) = std::fs::write(dir.join(LABELS_FILE), json) {
                // No half-made volume: one without its labels would escape label filters.
                let _ = std::fs::remove_dir_all(&dir);
                return Err(EngineError::io(format!("create volume {name}: labels"), e));
            }
        }
        if !existed {
            self.emit_volume(Action::Create, &name);
        }
        Ok((name, data))
    }

    /// Every volume with the containers that use it.
    pub fn volumes(&self) -> Result<Vec<VolumeInfo>, EngineError> {
        let containers = self.store.meta.read(|tx| tx.containers())?;
        let dir = self.volumes_dir();
        let mut out = Vec::new();
        let Ok(rd) = std::fs::read_dir(&dir) else {
            return Ok(out);
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let data = e.path().join("_data");
            if !data.is_dir() {
                continue;
            }
            let used_by = containers
                .iter()
                .filter(|c| {
                    ContainerConfig::from_record(c).is_ok_and(|cfg| {
                        cfg.spec.mounts.iter().any(|m| {
                            m.kind == MountKind::Volume && m.source == data.to_string_lossy()
                        })
                    })
                })
                .map(|c| c.id.clone())
                .collect();
            let created = e
                .metadata()
                .ok()
                .and_then(|m| m.modified().ok())
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs() as i64);
            let labels = std::fs::read(e.path().join(LABELS_FILE))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default();
            out.push(VolumeInfo {
                anonymous: e.path().join(ANONYMOUS_MARK).exists(),
                labels,
                name,
                mountpoint: data,
                created,
                used_by,
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    pub fn volume(&self, name: &str) -> Result<VolumeInfo, EngineError> {
        self.volumes()?
            .into_iter()
            .find(|v| v.name == name)
            .ok_or_else(|| EngineError::VolumeNotFound(name.to_string()))
    }

    /// `volume rm`: refused while a container uses it (even stopped), as docker does.
    pub fn remove_volume(&self, name: &str, force: bool) -> Result<(), EngineError> {
        let v = match self.volume(name) {
            Ok(v) => v,
            Err(EngineError::VolumeNotFound(_)) if force => return Ok(()),
            Err(e) => return Err(e),
        };
        if let Some(c) = v.used_by.first() {
            return Err(EngineError::Conflict(format!(
                "remove {name}: volume is in use - [{c}]"
            )));
        }
        let dir = self.volumes_dir().join(name);
        std::fs::remove_dir_all(&dir)
            .map_err(|e| EngineError::io(format!("remove volume {name}"), e))?;
        self.emit_volume(Action::Destroy, name);
        Ok(())
    }

    /// `volume prune`: unused anonymous volumes, or with `all` every unused one.
    pub fn prune_volumes(&self, all: bool) -> Result<(Vec<String>, u64), EngineError> {
        self.prune_volumes_matching(all, &|_| true)
    }

    /// [`Engine::prune_volumes`] of the volumes `selected` picks (the API's label filters).
    pub fn prune_volumes_matching(
        &self,
        all: bool,
        selected: &dyn Fn(&VolumeInfo) -> bool,
    ) -> Result<(Vec<String>, u64), EngineError> {
        let mut removed = Vec::new();
        let mut freed = 0;
        for v in self.volumes()? {
            if v.used_by.is_empty() && (all || v.anonymous) && selected(&v) {
                freed += crate::container::dir_size(&v.mountpoint);
                self.remove_volume(&v.name, false)?;
                removed.push(v.name);
            }
        }
        Ok((removed, freed))
    }

    /// Removes the anonymous volumes a removed container used (`rm -v`).
    pub(crate) fn remove_anonymous_volumes(&self, config: &ContainerConfig) {
        for m in config
            .spec
            .mounts
            .iter()
            .filter(|m| m.kind == MountKind::Volume)
        {
            let data = PathBuf::from(&m.source);
            let Some(dir) = data.parent() else { continue };
            if dir.join(ANONYMOUS_MARK).exists()
                && dir.starts_with(self.volumes_dir())
                && std::fs::remove_dir_all(dir).is_ok()
            {
                let name = dir.file_name().unwrap_or_default().to_string_lossy();
                self.emit_volume(Action::Destroy, &name);
            }
        }
    }
}
