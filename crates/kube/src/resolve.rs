//! Resolution of a container's references for the play plan: environment variables from
//! ConfigMaps, Secrets and the pod's own metadata, and mounts from the pod's volumes.

use std::collections::BTreeMap;

use crate::error::KubeError;
use crate::model::{ConfigMap, Container, EnvFrom, EnvValue, Pod, Secret, VolumeSource};
use crate::plan::MountPlan;

/// The ConfigMaps and Secrets of the stream, by name.
#[derive(Debug, Default)]
pub(crate) struct Sources {
    pub maps: BTreeMap<String, ConfigMap>,
    pub secrets: BTreeMap<String, Secret>,
}

/// The namespace a pod believes it is in: berth has none, and `default` is what a cluster
/// would give the same YAML applied without `-n`.
const NAMESPACE: &str = "default";

/// An ordered environment where a later definition replaces the value in place.
#[derive(Default)]
struct Env {
    vars: Vec<(String, String)>,
}

impl Env {
    fn set(&mut self, name: String, value: String) {
        match self.vars.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.vars.push((name, value)),
        }
    }
}

fn missing(owner: &str, what: &'static str, name: &str) -> KubeError {
    KubeError::MissingRef {
        owner: owner.to_string(),
        what,
        name: name.to_string(),
    }
}

fn missing_key(owner: &str, what: &'static str, name: &str, key: &str) -> KubeError {
    KubeError::MissingKey {
        owner: owner.to_string(),
        what,
        name: name.to_string(),
        key: key.to_string(),
    }
}

fn secret_text(owner: &str, secret: &str, key: &str, bytes: &[u8]) -> Result<String, KubeError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| KubeError::Invalid {
        owner: owner.to_string(),
        reason: format!("key {key} of secret {secret} is not UTF-8, so not an environment value"),
    })
}

/// The container's environment: envFrom sources in order, then `env`, as Kubernetes builds it.
pub(crate) fn container_env(
    sources: &Sources,
    pod: &Pod,
    pod_name: &str,
    c: &Container,
    owner: &str,
    warnings: &mut Vec<String>,
) -> Result<Vec<(String, String)>, KubeError> {
    let mut env = Env::default();
    for from in &c.env_from {
        let (name, prefix, optional, what) = match from {
            EnvFrom::ConfigMap {
                name,
                prefix,
                optional,
            } => (name, prefix, *optional, "configmap"),
            EnvFrom::Secret {
                name,
                prefix,
                optional,
            } => (name, prefix, *optional, "secret"),
        };
        let entries: Vec<(String, String)> = match from {
            EnvFrom::ConfigMap { .. } => match sources.maps.get(name) {
                Some(map) => map.data.clone().into_iter().collect(),
                None if optional => continue,
                None => return Err(missing(owner, what, name)),
            },
            EnvFrom::Secret { .. } => match sources.secrets.get(name) {
                Some(secret) => secret
                    .data
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), secret_text(owner, name, k, v)?)))
                    .collect::<Result<_, KubeError>>()?,
                None if optional => continue,
                None => return Err(missing(owner, what, name)),
            },
        };
        for (key, value) in entries {
            let var = format!("{}{key}", prefix.as_deref().unwrap_or(""));
            // Kubernetes skips keys that cannot be variable names, and says so in an event.
            if var.is_empty() || var.contains('=') {
                warnings.push(format!("{owner}: key {key} of {what} {name} skipped"));
                continue;
            }
            env.set(var, value);
        }
    }
    for var in &c.env {
        let value = match &var.value {
            EnvValue::Literal(value) => Some(value.clone()),
            EnvValue::ConfigMapKey {
                name,
                key,
                optional,
            } => match sources.maps.get(name) {
                Some(map) => match map.data.get(key) {
                    Some(value) => Some(value.clone()),
                    None if *optional => None,
                    None => return Err(missing_key(owner, "configmap", name, key)),
                },
                None if *optional => None,
                None => return Err(missing(owner, "configmap", name)),
            },
            EnvValue::SecretKey {
                name,
                key,
                optional,
            } => match sources.secrets.get(name) {
                Some(secret) => match secret.data.get(key) {
                    Some(bytes) => Some(secret_text(owner, name, key, bytes)?),
                    None if *optional => None,
                    None => return Err(missing_key(owner, "secret", name, key)),
                },
                None if *optional => None,
                None => return Err(missing(owner, "secret", name)),
            },
            EnvValue::FieldRef(path) => {
                let value = field_ref(path, pod_name, pod);
                if value.is_none() {
                    warnings.push(format!(
                        "{owner}: env {}: fieldRef {path} has no value under berth; left unset",
                        var.name
                    ));
                }
                value
            }
        };
        if let Some(value) = value {
            env.set(var.name.clone(), value);
        }
    }
    Ok(env.vars)
}

/// The downward API fields that mean something without a cluster.
fn field_ref(path: &str, pod_name: &str, pod: &Pod) -> Option<String> {
    match path {
        "metadata.name" => Some(pod_name.to_string()),
        "metadata.namespace" => Some(NAMESPACE.to_string()),
        _ => {
            let key = path.strip_prefix("metadata.labels['")?.strip_suffix("']")?;
            Some(pod.labels.get(key).cloned().unwrap_or_default())
        }
    }
}

/// A path Kubernetes accepts inside a volume: relative, without `..`.
fn relative_path(owner: &str, path: &str) -> Result<(), KubeError> {
    let bad = path.is_empty() || path.starts_with('/') || path.split('/').any(|part| part == "..");
    if bad {
        return Err(KubeError::Invalid {
            owner: owner.to_string(),
            reason: format!("path {path:?} is not a relative path inside its volume"),
        });
    }
    Ok(())
}

/// The files a ConfigMap or Secret volume shows: every key, or the listed items.
fn volume_files(
    owner: &str,
    what: &'static str,
    name: &str,
    all: Option<BTreeMap<String, Vec<u8>>>,
    items: &[(String, String)],
    optional: bool,
) -> Result<BTreeMap<String, Vec<u8>>, KubeError> {
    let Some(all) = all else {
        return if optional {
            Ok(BTreeMap::new())
        } else {
            Err(missing(owner, what, name))
        };
    };
    if items.is_empty() {
        return Ok(all);
    }
    let mut files = BTreeMap::new();
    for (key, path) in items {
        relative_path(owner, path)?;
        match all.get(key) {
            Some(content) => {
                files.insert(path.clone(), content.clone());
            }
            None if optional => {}
            None => return Err(missing_key(owner, what, name, key)),
        }
    }
    Ok(files)
}

/// The container's mounts, each with its source resolved.
pub(crate) fn container_mounts(
    sources: &Sources,
    pod: &Pod,
    pod_name: &str,
    c: &Container,
    owner: &str,
) -> Result<Vec<MountPlan>, KubeError> {
    let mut mounts = Vec::new();
    for mount in &c.mounts {
        let Some(volume) = pod.volumes.iter().find(|v| v.name == mount.name) else {
            return Err(KubeError::Invalid {
                owner: owner.to_string(),
                reason: format!(
                    "mounts volume {}, which the pod does not define",
                    mount.name
                ),
            });
        };
        if let Some(sub_path) = &mount.sub_path {
            relative_path(owner, sub_path)?;
        }
        let destination = mount.mount_path.clone();
        let sub_path = mount.sub_path.clone();
        let (what, name, all, items, optional) = match &volume.source {
            VolumeSource::Claim {
                claim_name,
                read_only,
            } => {
                mounts.push(MountPlan::Volume {
                    name: claim_name.clone(),
                    destination,
                    read_only: mount.read_only || *read_only,
                    sub_path,
                });
                continue;
            }
            VolumeSource::EmptyDir { .. } => {
                mounts.push(MountPlan::Volume {
                    name: format!("{pod_name}-{}", volume.name),
                    destination,
                    read_only: mount.read_only,
                    sub_path,
                });
                continue;
            }
            VolumeSource::HostPath { path, kind } => {
                let host_path = match &sub_path {
                    Some(sub) => format!("{}/{sub}", path.trim_end_matches('/')),
                    None => path.clone(),
                };
                mounts.push(MountPlan::Bind {
                    host_path,
                    destination,
                    read_only: mount.read_only,
                    kind: kind.clone(),
                });
                continue;
            }
            VolumeSource::ConfigMap {
                name,
                items,
                optional,
            } => {
                let all = sources.maps.get(name).map(|m| {
                    let mut all: BTreeMap<String, Vec<u8>> = m.binary_data.clone();
                    for (k, v) in &m.data {
                        all.insert(k.clone(), v.clone().into_bytes());
                    }
                    all
                });
                ("configmap", name, all, items, *optional)
            }
            VolumeSource::Secret {
                name,
                items,
                optional,
            } => {
                let all = sources.secrets.get(name).map(|s| s.data.clone());
                ("secret", name, all, items, *optional)
            }
        };
        let files = volume_files(owner, what, name, all, items, optional)?;
        mounts.push(files_mount(
            owner,
            what,
            name,
            files,
            destination,
            sub_path,
        )?);
    }
    Ok(mounts)
}

/// A ConfigMap or Secret volume, or through `subPath` one file or subdirectory of it.
/// Always read-only, as Kubernetes mounts them.
fn files_mount(
    owner: &str,
    what: &str,
    name: &str,
    mut files: BTreeMap<String, Vec<u8>>,
    destination: String,
    sub_path: Option<String>,
) -> Result<MountPlan, KubeError> {
    let Some(sub) = sub_path else {
        return Ok(MountPlan::Files {
            destination,
            files,
            read_only: true,
        });
    };
    if let Some(content) = files.remove(&sub) {
        return Ok(MountPlan::File {
            destination,
            content,
            read_only: true,
        });
    }
    let prefix = format!("{}/", sub.trim_end_matches('/'));
    let files: BTreeMap<String, Vec<u8>> = files
        .into_iter()
        .filter_map(|(path, content)| Some((path.strip_prefix(&prefix)?.to_string(), content)))
        .collect();
    if files.is_empty() {
        return Err(KubeError::Invalid {
            owner: owner.to_string(),
            reason: format!("subPath {sub} is not in {what} {name}"),
        });
    }
    Ok(MountPlan::Files {
        destination,
        files,
        read_only: true,
    })
}
