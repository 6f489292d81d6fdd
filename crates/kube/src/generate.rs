//! berth's model → Kubernetes YAML (`berth kube generate`).
//!
//! Documents are built as ordered JSON values (the order a person reads: apiVersion, kind,
//! metadata, spec) and written as YAML. Names are made DNS-1123 here, once, so a pod and the
//! Service selecting it agree.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use crate::error::KubeError;
use crate::generate_container::{container, volume};
use crate::model::{Pod, RestartPolicy, VolumeSource};
use crate::names::{dns_label, is_label_key, is_label_value};

/// Which workload kind wraps each pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kind {
    #[default]
    Pod,
    Deployment,
}

/// Options of [`generate`]: `berth kube generate --type … [-s]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GenerateOptions {
    pub kind: Kind,
    /// Follow each workload with a NodePort Service for its published ports.
    pub service: bool,
}

/// Kubernetes' default NodePort range; a host port outside it cannot be a nodePort.
const NODE_PORTS: std::ops::RangeInclusive<u16> = 30000..=32767;

/// `pods` as a multi-document YAML stream: per pod a Pod or a Deployment (`replicas: 1`), then
/// with `opts.service` a NodePort Service publishing its host ports; last, a
/// PersistentVolumeClaim ([`CLAIM_SIZE`]) for each claim the pods name. Pods with no container,
/// no image, or names that collide once made DNS-1123 are errors.
pub fn generate(pods: &[Pod], opts: &GenerateOptions) -> Result<String, KubeError> {
    let mut names = BTreeSet::new();
    let mut documents = Vec::new();
    for pod in pods {
        let name = dns_label(&pod.name);
        if !names.insert(name.clone()) {
            return Err(KubeError::Duplicate { what: "pod", name });
        }
        let (mut labels, annotations) = split_labels(&pod.labels);
        // A Deployment's selector and a Service's must match the pod; `app` makes sure they
        // select this pod and no other.
        if opts.kind == Kind::Deployment || opts.service {
            labels
                .entry("app".to_string())
                .or_insert_with(|| name.clone());
        }
        let workload = match opts.kind {
            Kind::Pod => {
                let spec = pod_spec(pod, pod.restart_policy)?;
                json!({
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": metadata(&name, &labels, &annotations),
                    "spec": spec,
                })
            }
            Kind::Deployment => deployment(pod, &name, &labels, &annotations)?,
        };
        documents.push(workload);
        if opts.service {
            if let Some(service) = service(pod, &name, &labels) {
                documents.push(service);
            }
        }
    }
    // The claims the pods name, so that `kubectl apply` of the file gets them bound: berth's
    // volumes have no size, and a cluster needs one.
    let mut claims = BTreeSet::new();
    for pod in pods {
        for v in &pod.volumes {
            if let VolumeSource::Claim { claim_name, .. } = &v.source {
                let claim = dns_label(claim_name);
                if claims.insert(claim.clone()) {
                    documents.push(claim_document(&claim));
                }
            }
        }
    }
    let mut out = String::new();
    for (index, document) in documents.iter().enumerate() {
        if index > 0 {
            out.push_str("---\n");
        }
        let yaml = crate::yaml::to_yaml(document);
        out.push_str(&yaml);
    }
    Ok(out)
}

/// The size written on a generated PersistentVolumeClaim (berth's volumes have none).
pub const CLAIM_SIZE: &str = "1Gi";

/// A PersistentVolumeClaim of the default size, read-write by one node.
fn claim_document(name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": { "name": name },
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": { "requests": { "storage": CLAIM_SIZE } },
        },
    })
}

/// Labels Kubernetes accepts, and the rest (docker's `description=My app`) as annotations,
/// which take any value; keys that are not even a qualified name are dropped.
fn split_labels(
    labels: &BTreeMap<String, String>,
) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let mut valid = BTreeMap::new();
    let mut annotations = BTreeMap::new();
    for (key, value) in labels {
        if !is_label_key(key) {
            continue;
        }
        if is_label_value(value) {
            valid.insert(key.clone(), value.clone());
        } else {
            annotations.insert(key.clone(), value.clone());
        }
    }
    (valid, annotations)
}

fn metadata(
    name: &str,
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
) -> Value {
    let mut meta = Map::new();
    if !name.is_empty() {
        meta.insert("name".into(), json!(name));
    }
    if !labels.is_empty() {
        meta.insert("labels".into(), json!(labels));
    }
    if !annotations.is_empty() {
        meta.insert("annotations".into(), json!(annotations));
    }
    Value::Object(meta)
}

fn deployment(
    pod: &Pod,
    name: &str,
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
) -> Result<Value, KubeError> {
    // A Deployment's pods must restart Always: the API server rejects anything else.
    let spec = pod_spec(pod, RestartPolicy::Always)?;
    Ok(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(name, labels, &BTreeMap::new()),
        "spec": {
            "replicas": 1,
            "selector": { "matchLabels": labels },
            "template": {
                "metadata": metadata("", labels, annotations),
                "spec": spec,
            },
        },
    }))
}

/// A NodePort Service for the container ports that have a host port; None when there are none
/// (a NodePort Service needs at least one port).
fn service(pod: &Pod, name: &str, labels: &BTreeMap<String, String>) -> Option<Value> {
    let mut seen = BTreeSet::new();
    let mut ports = Vec::new();
    for port in pod.containers.iter().flat_map(|c| &c.ports) {
        let Some(host_port) = port.host_port else {
            continue;
        };
        if !seen.insert((host_port, port.protocol)) {
            continue;
        }
        let protocol = port.protocol.as_str();
        let mut entry = Map::new();
        // Names are required once a Service has two ports; give every port one.
        let port_name = format!("{host_port}-{}", protocol.to_ascii_lowercase());
        entry.insert("name".into(), json!(port_name));
        entry.insert("protocol".into(), json!(protocol));
        entry.insert("port".into(), json!(host_port));
        entry.insert("targetPort".into(), json!(port.container_port));
        if NODE_PORTS.contains(&host_port) {
            entry.insert("nodePort".into(), json!(host_port));
        }
        ports.push(Value::Object(entry));
    }
    if ports.is_empty() {
        return None;
    }
    Some(json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(name, labels, &BTreeMap::new()),
        "spec": {
            "type": "NodePort",
            "selector": labels,
            "ports": ports,
        },
    }))
}

fn pod_spec(pod: &Pod, restart: RestartPolicy) -> Result<Value, KubeError> {
    if pod.containers.is_empty() {
        return Err(KubeError::invalid_pod(&pod.name, "no container"));
    }
    let volume_names = unique_names(&pod.name, "volumes", pod.volumes.iter().map(|v| &v.name))?;
    unique_names(
        &pod.name,
        "containers",
        pod.containers.iter().map(|c| &c.name),
    )?;
    let mut spec = Map::new();
    spec.insert("restartPolicy".into(), json!(restart.as_str()));
    if let Some(hostname) = &pod.hostname {
        spec.insert("hostname".into(), json!(dns_label(hostname)));
    }
    let containers = pod
        .containers
        .iter()
        .map(|c| container(pod, c, &volume_names))
        .collect::<Result<Vec<_>, _>>()?;
    spec.insert("containers".into(), Value::Array(containers));
    if !pod.volumes.is_empty() {
        let volumes = pod.volumes.iter().map(volume).collect();
        spec.insert("volumes".into(), Value::Array(volumes));
    }
    Ok(Value::Object(spec))
}

/// The DNS-1123 forms of `names`, refusing two that become the same.
fn unique_names<'a>(
    pod: &str,
    what: &str,
    names: impl Iterator<Item = &'a String>,
) -> Result<BTreeSet<String>, KubeError> {
    let mut seen: BTreeMap<String, &String> = BTreeMap::new();
    for name in names {
        let label = dns_label(name);
        if let Some(first) = seen.insert(label.clone(), name) {
            return Err(KubeError::invalid_pod(
                pod,
                format!("{what} {first} and {name} both become {label}"),
            ));
        }
    }
    Ok(seen.into_keys().collect())
}
