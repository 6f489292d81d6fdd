//! berth's model → Kubernetes YAML (`berth kube generate`).
//!
//! Documents are built as ordered JSON values (the order a person reads: apiVersion, kind,
//! metadata, spec) and written as YAML. Names are made DNS-1123 here, once, so a pod and the
//! Service selecting it agree.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use crate::error::KubeError;
use crate::model::{
    Container, EnvFrom, EnvValue, Pod, Probe, RestartPolicy, Security, Volume, VolumeSource,
};
use crate::names::{dns_label, is_label_key, is_label_value};
use crate::quantity::{format_cpu, format_memory};

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
/// with `opts.service` a NodePort Service publishing its host ports. Pods with no container,
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
        documents.push(("pod", name.clone(), workload));
        if opts.service {
            if let Some(service) = service(pod, &name, &labels) {
                documents.push(("service", name, service));
            }
        }
    }
    let mut out = String::new();
    for (index, (what, name, document)) in documents.iter().enumerate() {
        if index > 0 {
            out.push_str("---\n");
        }
        let yaml = serde_norway::to_string(document).map_err(|e| KubeError::Serialize {
            what,
            name: name.clone(),
            message: e.to_string(),
        })?;
        out.push_str(&yaml);
    }
    Ok(out)
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

fn container(pod: &Pod, c: &Container, volumes: &BTreeSet<String>) -> Result<Value, KubeError> {
    if c.image.is_empty() {
        return Err(KubeError::invalid_pod(
            &pod.name,
            format!("container {} has no image", c.name),
        ));
    }
    let mut out = Map::new();
    out.insert("name".into(), json!(dns_label(&c.name)));
    out.insert("image".into(), json!(c.image));
    if let Some(command) = &c.command {
        out.insert("command".into(), json!(command));
    }
    if let Some(args) = &c.args {
        out.insert("args".into(), json!(args));
    }
    if let Some(dir) = &c.working_dir {
        out.insert("workingDir".into(), json!(dir));
    }
    if !c.env.is_empty() {
        let env = c.env.iter().map(|e| env_var(&e.name, &e.value)).collect();
        out.insert("env".into(), Value::Array(env));
    }
    if !c.env_from.is_empty() {
        out.insert("envFrom".into(), c.env_from.iter().map(env_from).collect());
    }
    if !c.ports.is_empty() {
        out.insert("ports".into(), c.ports.iter().map(container_port).collect());
    }
    let mut limits = Map::new();
    if let Some(memory) = c.memory_limit {
        limits.insert("memory".into(), json!(format_memory(memory)));
    }
    if let Some(cpus) = c.cpu_limit {
        limits.insert("cpu".into(), json!(format_cpu(cpus)));
    }
    if !limits.is_empty() {
        out.insert("resources".into(), json!({ "limits": limits }));
    }
    if !c.mounts.is_empty() {
        let mut mounts = Vec::new();
        for mount in &c.mounts {
            let name = dns_label(&mount.name);
            if !volumes.contains(&name) {
                return Err(KubeError::invalid_pod(
                    &pod.name,
                    format!(
                        "container {} mounts volume {}, which the pod does not define",
                        c.name, mount.name
                    ),
                ));
            }
            let mut m = Map::new();
            m.insert("name".into(), json!(name));
            m.insert("mountPath".into(), json!(mount.mount_path));
            if mount.read_only {
                m.insert("readOnly".into(), json!(true));
            }
            if let Some(sub_path) = &mount.sub_path {
                m.insert("subPath".into(), json!(sub_path));
            }
            mounts.push(Value::Object(m));
        }
        out.insert("volumeMounts".into(), Value::Array(mounts));
    }
    if c.security != Security::default() {
        out.insert("securityContext".into(), security(&c.security));
    }
    if let Some(probe) = &c.liveness {
        out.insert("livenessProbe".into(), liveness(probe));
    }
    if c.tty {
        out.insert("tty".into(), json!(true));
    }
    if c.stdin {
        out.insert("stdin".into(), json!(true));
    }
    Ok(Value::Object(out))
}

/// `{name, key, optional?}`: `optional` only when set, as people write it.
fn key_ref(name: &str, key: Option<&str>, optional: bool) -> Value {
    let mut r = Map::new();
    r.insert("name".into(), json!(name));
    if let Some(key) = key {
        r.insert("key".into(), json!(key));
    }
    if optional {
        r.insert("optional".into(), json!(true));
    }
    Value::Object(r)
}

fn env_var(name: &str, value: &EnvValue) -> Value {
    match value {
        EnvValue::Literal(value) => json!({ "name": name, "value": value }),
        EnvValue::ConfigMapKey {
            name: map,
            key,
            optional,
        } => json!({
            "name": name,
            "valueFrom": { "configMapKeyRef": key_ref(map, Some(key), *optional) },
        }),
        EnvValue::SecretKey {
            name: secret,
            key,
            optional,
        } => json!({
            "name": name,
            "valueFrom": { "secretKeyRef": key_ref(secret, Some(key), *optional) },
        }),
        EnvValue::FieldRef(path) => json!({
            "name": name,
            "valueFrom": { "fieldRef": { "fieldPath": path } },
        }),
    }
}

fn env_from(source: &EnvFrom) -> Value {
    let (field, name, prefix, optional) = match source {
        EnvFrom::ConfigMap {
            name,
            prefix,
            optional,
        } => ("configMapRef", name, prefix, optional),
        EnvFrom::Secret {
            name,
            prefix,
            optional,
        } => ("secretRef", name, prefix, optional),
    };
    let mut out = Map::new();
    out.insert(field.into(), key_ref(name, None, *optional));
    if let Some(prefix) = prefix {
        out.insert("prefix".into(), json!(prefix));
    }
    Value::Object(out)
}

fn container_port(port: &crate::model::ContainerPort) -> Value {
    let mut out = Map::new();
    if let Some(name) = &port.name {
        out.insert("name".into(), json!(name));
    }
    out.insert("containerPort".into(), json!(port.container_port));
    if let Some(host_port) = port.host_port {
        out.insert("hostPort".into(), json!(host_port));
    }
    if let Some(ip) = &port.host_ip {
        out.insert("hostIP".into(), json!(ip));
    }
    out.insert("protocol".into(), json!(port.protocol.as_str()));
    Value::Object(out)
}

/// Kubernetes names capabilities without docker's optional `CAP_` prefix.
fn capability(name: &str) -> String {
    let upper = name.to_ascii_uppercase();
    upper.strip_prefix("CAP_").unwrap_or(&upper).to_string()
}

fn security(s: &Security) -> Value {
    let mut out = Map::new();
    if s.privileged {
        out.insert("privileged".into(), json!(true));
    }
    if s.read_only_root_fs {
        out.insert("readOnlyRootFilesystem".into(), json!(true));
    }
    if let Some(uid) = s.run_as_user {
        out.insert("runAsUser".into(), json!(uid));
    }
    if let Some(gid) = s.run_as_group {
        out.insert("runAsGroup".into(), json!(gid));
    }
    let mut caps = Map::new();
    for (field, list) in [("add", &s.cap_add), ("drop", &s.cap_drop)] {
        if !list.is_empty() {
            let names: Vec<String> = list.iter().map(|c| capability(c)).collect();
            caps.insert(field.into(), json!(names));
        }
    }
    if !caps.is_empty() {
        out.insert("capabilities".into(), Value::Object(caps));
    }
    Value::Object(out)
}

fn liveness(p: &Probe) -> Value {
    json!({
        "exec": { "command": p.command },
        "initialDelaySeconds": p.initial_delay_s,
        "periodSeconds": p.period_s,
        "timeoutSeconds": p.timeout_s,
        "failureThreshold": p.failure_threshold,
    })
}

fn items(items: &[(String, String)]) -> Value {
    items
        .iter()
        .map(|(key, path)| json!({ "key": key, "path": path }))
        .collect()
}

fn volume(v: &Volume) -> Value {
    let name = dns_label(&v.name);
    match &v.source {
        VolumeSource::Claim {
            claim_name,
            read_only,
        } => {
            let mut claim = Map::new();
            claim.insert("claimName".into(), json!(dns_label(claim_name)));
            if *read_only {
                claim.insert("readOnly".into(), json!(true));
            }
            json!({ "name": name, "persistentVolumeClaim": claim })
        }
        VolumeSource::HostPath { path, kind } => {
            let mut host = Map::new();
            host.insert("path".into(), json!(path));
            if let Some(kind) = kind {
                host.insert("type".into(), json!(kind));
            }
            json!({ "name": name, "hostPath": host })
        }
        VolumeSource::ConfigMap {
            name: map,
            items: list,
            optional,
        } => {
            let mut source = key_ref(map, None, *optional);
            if let (Value::Object(source), false) = (&mut source, list.is_empty()) {
                source.insert("items".into(), items(list));
            }
            json!({ "name": name, "configMap": source })
        }
        VolumeSource::Secret {
            name: secret,
            items: list,
            optional,
        } => {
            let mut source = Map::new();
            source.insert("secretName".into(), json!(secret));
            if !list.is_empty() {
                source.insert("items".into(), items(list));
            }
            if *optional {
                source.insert("optional".into(), json!(true));
            }
            json!({ "name": name, "secret": source })
        }
        VolumeSource::EmptyDir { memory: true } => {
            json!({ "name": name, "emptyDir": { "medium": "Memory" } })
        }
        VolumeSource::EmptyDir { memory: false } => json!({ "name": name, "emptyDir": {} }),
    }
}
