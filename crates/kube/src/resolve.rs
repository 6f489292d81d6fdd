//! Resolution of a container's references for the play plan: environment variables from
//! ConfigMaps, Secrets and the pod's own metadata, and mounts from the pod's volumes.

use std::collections::BTreeMap;

use crate::error::KubeError;
use crate::model::{
    ConfigMap, Container, EnvFrom, EnvValue, Pod, Secret, VolumeMount, VolumeSource,
};
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

/// Kubernetes' `$(VAR)` expansion, as it applies to `env` values, `command` and `args`:
/// `$(NAME)` becomes the value of a variable defined in `env` (before, for an `env` value),
/// `$$` becomes `$`, and anything else, an unknown name included, stays as written.
pub(crate) fn expand(text: &str, env: &[(String, String)]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some((name, tail)) = after
            .strip_prefix('(')
            .and_then(|inner| inner.split_once(')'))
        {
            match env.iter().find(|(n, _)| n == name) {
                Some((_, value)) => out.push_str(value),
                None => {
                    out.push_str("$(");
                    out.push_str(name);
                    out.push(')');
                }
            }
            rest = tail;
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
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

/// Which kind of source a reference names.
#[derive(Debug, Clone, Copy)]
enum Kind {
    ConfigMap,
    Secret,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::ConfigMap => "configmap",
            Kind::Secret => "secret",
        }
    }
}

impl Sources {
    /// Every key of a ConfigMap's `data` or of a Secret, as text; None when the source is
    /// missing and `optional`.
    fn entries(
        &self,
        owner: &str,
        kind: Kind,
        name: &str,
        optional: bool,
    ) -> Result<Option<Vec<(String, String)>>, KubeError> {
        let entries = match kind {
            Kind::ConfigMap => self
                .maps
                .get(name)
                .map(|map| map.data.clone().into_iter().collect()),
            Kind::Secret => self
                .secrets
                .get(name)
                .map(|secret| {
                    secret
                        .data
                        .iter()
                        .map(|(k, v)| Ok((k.clone(), secret_text(owner, name, k, v)?)))
                        .collect::<Result<Vec<_>, KubeError>>()
                })
                .transpose()?,
        };
        match entries {
            None if !optional => Err(missing(owner, kind.as_str(), name)),
            entries => Ok(entries),
        }
    }

    /// One key of a ConfigMap's `data` or of a Secret, as text; None when it or its source is
    /// missing and `optional`.
    fn value(
        &self,
        owner: &str,
        kind: Kind,
        name: &str,
        key: &str,
        optional: bool,
    ) -> Result<Option<String>, KubeError> {
        let value = match kind {
            Kind::ConfigMap => self.maps.get(name).map(|map| map.data.get(key).cloned()),
            Kind::Secret => self
                .secrets
                .get(name)
                .map(|secret| {
                    secret
                        .data
                        .get(key)
                        .map(|bytes| secret_text(owner, name, key, bytes))
                        .transpose()
                })
                .transpose()?,
        };
        match value {
            Some(Some(value)) => Ok(Some(value)),
            _ if optional => Ok(None),
            None => Err(missing(owner, kind.as_str(), name)),
            Some(None) => Err(missing_key(owner, kind.as_str(), name, key)),
        }
    }
}

impl Sources {
    /// The files a ConfigMap (`data` and `binaryData` alike) or Secret volume shows.
    fn files(&self, kind: Kind, name: &str) -> Option<BTreeMap<String, Vec<u8>>> {
        match kind {
            Kind::ConfigMap => self.maps.get(name).map(|m| {
                let mut all = m.binary_data.clone();
                for (k, v) in &m.data {
                    all.insert(k.clone(), v.clone().into_bytes());
                }
                all
            }),
            Kind::Secret => self.secrets.get(name).map(|s| s.data.clone()),
        }
    }
}

/// The container's environment: envFrom sources in order, then `env` (its literal values
/// `$(VAR)`-expanded), as Kubernetes builds it.
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
        let (kind, name, prefix, optional) = match from {
            EnvFrom::ConfigMap {
                name,
                prefix,
                optional,
            } => (Kind::ConfigMap, name, prefix, *optional),
            EnvFrom::Secret {
                name,
                prefix,
                optional,
            } => (Kind::Secret, name, prefix, *optional),
        };
        let entries = sources.entries(owner, kind, name, optional)?;
        for (key, value) in entries.unwrap_or_default() {
            let var = format!("{}{key}", prefix.as_deref().unwrap_or(""));
            // Kubernetes skips keys that cannot be variable names, and says so in an event.
            if var.is_empty() || var.contains('=') {
                let what = kind.as_str();
                warnings.push(format!("{owner}: key {key} of {what} {name} skipped"));
                continue;
            }
            env.set(var, value);
        }
    }
    for var in &c.env {
        let value = match &var.value {
            EnvValue::Literal(value) => Some(expand(value, &env.vars)),
            EnvValue::ConfigMapKey {
                name,
                key,
                optional,
            } => sources.value(owner, Kind::ConfigMap, name, key, *optional)?,
            EnvValue::SecretKey {
                name,
                key,
                optional,
            } => sources.value(owner, Kind::Secret, name, key, *optional)?,
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
    c.mounts
        .iter()
        .map(|mount| mount_plan(sources, pod, pod_name, mount, owner))
        .collect()
}

fn mount_plan(
    sources: &Sources,
    pod: &Pod,
    pod_name: &str,
    mount: &VolumeMount,
    owner: &str,
) -> Result<MountPlan, KubeError> {
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
    let (kind, name, items, optional) = match &volume.source {
        VolumeSource::Claim {
            claim_name,
            read_only,
        } => {
            return Ok(MountPlan::Volume {
                name: claim_name.clone(),
                destination,
                read_only: mount.read_only || *read_only,
                sub_path,
            })
        }
        VolumeSource::EmptyDir { .. } => {
            return Ok(MountPlan::Volume {
                name: format!("{pod_name}-{}", volume.name),
                destination,
                read_only: mount.read_only,
                sub_path,
            })
        }
        VolumeSource::HostPath { path, kind } => {
            let host_path = match &sub_path {
                Some(sub) => format!("{}/{sub}", path.trim_end_matches('/')),
                None => path.clone(),
            };
            return Ok(MountPlan::Bind {
                host_path,
                destination,
                read_only: mount.read_only,
                kind: kind.clone(),
            });
        }
        VolumeSource::ConfigMap {
            name,
            items,
            optional,
        } => (Kind::ConfigMap, name, items, *optional),
        VolumeSource::Secret {
            name,
            items,
            optional,
        } => (Kind::Secret, name, items, *optional),
    };
    let what = kind.as_str();
    let files = volume_files(
        owner,
        what,
        name,
        sources.files(kind, name),
        items,
        optional,
    )?;
    files_mount(owner, what, name, files, destination, sub_path)
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
