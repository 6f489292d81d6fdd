//! One container and one volume of a pod spec, as Kubernetes writes them.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

use crate::error::KubeError;
use crate::model::{
    Container, ContainerPort, EnvFrom, EnvValue, Pod, Probe, Security, Volume, VolumeSource,
};
use crate::names::{dns_label, is_port_name};
use crate::quantity::{format_cpu, format_memory};

/// A `containers[]` entry; `volumes` are the pod's volume names, as written.
pub(crate) fn container(
    pod: &Pod,
    c: &Container,
    volumes: &BTreeSet<String>,
) -> Result<Value, KubeError> {
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
        out.insert("ports".into(), ports(pod, c)?);
    }
    if c.memory_limit.is_some() || c.cpu_limit.is_some() {
        out.insert("resources".into(), resources(c));
    }
    if !c.mounts.is_empty() {
        out.insert("volumeMounts".into(), volume_mounts(pod, c, volumes)?);
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

/// The container's ports; their names must be IANA service names, which a Service's
/// `targetPort` can refer to.
fn ports(pod: &Pod, c: &Container) -> Result<Value, KubeError> {
    let bad_name = c
        .ports
        .iter()
        .filter_map(|p| p.name.as_deref())
        .find(|n| !is_port_name(n));
    if let Some(name) = bad_name {
        let reason = format!(
            "container {}: port name {name:?} is not an IANA service name (at most 15 \
             lowercase letters, digits and '-')",
            c.name
        );
        return Err(KubeError::invalid_pod(&pod.name, reason));
    }
    Ok(c.ports.iter().map(container_port).collect())
}

/// `--memory` and `--cpus` as limits, the only resources docker has.
fn resources(c: &Container) -> Value {
    let mut limits = Map::new();
    if let Some(memory) = c.memory_limit {
        limits.insert("memory".into(), json!(format_memory(memory)));
    }
    if let Some(cpus) = c.cpu_limit {
        limits.insert("cpu".into(), json!(format_cpu(cpus)));
    }
    json!({ "limits": limits })
}

/// The container's mounts, naming the pod's volumes by their DNS-1123 names.
fn volume_mounts(pod: &Pod, c: &Container, volumes: &BTreeSet<String>) -> Result<Value, KubeError> {
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
    Ok(Value::Array(mounts))
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

fn container_port(port: &ContainerPort) -> Value {
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

pub(crate) fn volume(v: &Volume) -> Value {
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
