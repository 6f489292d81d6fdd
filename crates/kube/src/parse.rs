//! Kubernetes YAML → berth's model (the reading half of `berth kube play`).
//!
//! All documents are read and their kinds checked before any is converted, so an unsupported
//! kind anywhere in the stream is the first error and the caller creates nothing.

use base64::Engine as _;
use serde::Deserialize as _;
use serde_norway::Value;

use crate::error::KubeError;
use crate::model::{
    Claim, ConfigMap, Deployment, Document, Protocol, Secret, Service, ServicePort, ServiceType,
    TargetPort,
};
use crate::node::{Field, Node};
use crate::parse_pod::{pod_spec, protocol};
use crate::quantity;

/// Every non-empty document of a multi-document YAML stream, in order.
pub fn parse(yaml: &str) -> Result<Vec<Document>, KubeError> {
    let mut documents = Vec::new();
    for (i, de) in serde_norway::Deserializer::from_str(yaml).enumerate() {
        let index = i + 1;
        let yaml_error = |e: serde_norway::Error| KubeError::Yaml {
            index,
            message: e.to_string(),
        };
        let mut value = Value::deserialize(de).map_err(yaml_error)?;
        if value.is_null() {
            continue;
        }
        // `<<: *defaults` merge keys, which kubectl honours too.
        value.apply_merge().map_err(yaml_error)?;
        documents.push((index, value));
    }
    let heads = documents
        .iter()
        .map(|(index, value)| header(*index, value))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(head) = heads.iter().find(|h| !SUPPORTED.contains(&h.kind.as_str())) {
        return Err(KubeError::Unsupported {
            index: head.index,
            kind: head.kind.clone(),
            name: head.name.clone().unwrap_or_else(|| "(unnamed)".to_string()),
        });
    }
    documents
        .iter()
        .zip(heads)
        .map(|((_, value), head)| {
            let name = head.name.clone().ok_or_else(|| KubeError::Incomplete {
                index: head.index,
                reason: format!("{} has no metadata.name", head.kind),
            })?;
            convert(&head.kind, name.clone(), &Node::root(value)).map_err(|e| KubeError::Field {
                index: head.index,
                kind: head.kind,
                name,
                path: e.path,
                reason: e.reason,
            })
        })
        .collect()
}

const SUPPORTED: [&str; 6] = [
    "Pod",
    "Deployment",
    "Service",
    "ConfigMap",
    "Secret",
    "PersistentVolumeClaim",
];

/// What every document says about itself.
struct Header {
    index: usize,
    kind: String,
    name: Option<String>,
}

fn header(index: usize, value: &Value) -> Result<Header, KubeError> {
    if !value.is_mapping() {
        return Err(KubeError::Yaml {
            index,
            message: "not a mapping (a Kubernetes object has apiVersion, kind and metadata)"
                .to_string(),
        });
    }
    let kind = value.get("kind").and_then(Value::as_str);
    let Some(kind) = kind.filter(|k| !k.is_empty()) else {
        return Err(KubeError::Incomplete {
            index,
            reason: "no kind".to_string(),
        });
    };
    let name = value
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    Ok(Header {
        index,
        kind: kind.to_string(),
        name,
    })
}

fn convert(kind: &str, name: String, root: &Node) -> Field<Document> {
    let meta = root.required("metadata")?;
    let labels = meta.string_map("labels")?;
    Ok(match kind {
        "Pod" => {
            let mut pod = pod_spec(&root.required("spec")?)?;
            pod.name = name;
            pod.labels = labels;
            Document::Pod(pod)
        }
        "Deployment" => Document::Deployment(deployment(name, labels, root)?),
        "Service" => Document::Service(service(name, labels, root)?),
        "ConfigMap" => Document::ConfigMap(config_map(name, root)?),
        "Secret" => Document::Secret(secret(name, root)?),
        "PersistentVolumeClaim" => Document::Claim(claim(name, root)?),
        other => return Err(root.error(format!("kind {other} is not supported"))),
    })
}

fn deployment(
    name: String,
    labels: std::collections::BTreeMap<String, String>,
    root: &Node,
) -> Field<Deployment> {
    let spec = root.required("spec")?;
    let replicas = spec.opt_u32("replicas")?.unwrap_or(1);
    let template = spec.required("template")?;
    let mut pod = pod_spec(&template.required("spec")?)?;
    pod.name = name.clone();
    if let Some(meta) = template.field("metadata")? {
        pod.labels = meta.string_map("labels")?;
    }
    Ok(Deployment {
        name,
        labels,
        replicas,
        template: pod,
    })
}

fn service(
    name: String,
    labels: std::collections::BTreeMap<String, String>,
    root: &Node,
) -> Field<Service> {
    let spec = root.required("spec")?;
    let kind = match spec.field("type")? {
        None => ServiceType::ClusterIp,
        Some(node) => match node.as_str()? {
            "ClusterIP" => ServiceType::ClusterIp,
            "NodePort" => ServiceType::NodePort,
            "LoadBalancer" => ServiceType::LoadBalancer,
            "ExternalName" => ServiceType::ExternalName,
            _ => {
                return Err(node.error("must be ClusterIP, NodePort, LoadBalancer or ExternalName"))
            }
        },
    };
    let ports = spec
        .list("ports")?
        .iter()
        .map(service_port)
        .collect::<Field<Vec<_>>>()?;
    Ok(Service {
        name,
        labels,
        selector: spec.string_map("selector")?,
        ports,
        kind,
    })
}

fn service_port(node: &Node) -> Field<ServicePort> {
    let port = node.required("port")?.as_port()?;
    let target_port = match node.field("targetPort")? {
        None => TargetPort::Number(port),
        Some(target) if target.is_string() => {
            let name = target.as_str()?;
            if name.is_empty() {
                return Err(target.error("must not be empty"));
            }
            // `"8080"` is a name to the API server, which then refuses it (a name has a
            // letter); people mean the number.
            match name.parse::<u16>() {
                Ok(number) if number != 0 => TargetPort::Number(number),
                _ => TargetPort::Name(name.to_string()),
            }
        }
        Some(target) => TargetPort::Number(target.as_port()?),
    };
    Ok(ServicePort {
        name: node.opt_string("name")?,
        port,
        target_port,
        node_port: node.opt_port("nodePort")?,
        protocol: match node.field("protocol")? {
            Some(p) => protocol(&p)?,
            None => Protocol::Tcp,
        },
    })
}

fn decode_base64(node: &Node) -> Field<Vec<u8>> {
    let text = node.as_str()?;
    // Kubernetes' JSON decoder takes standard base64 with padding; line breaks are allowed in
    // hand-written YAML block scalars, so drop whitespace first.
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| node.error("not valid base64"))
}

fn config_map(name: String, root: &Node) -> Field<ConfigMap> {
    let mut binary_data = std::collections::BTreeMap::new();
    for (key, value) in root.entries("binaryData")? {
        binary_data.insert(key, decode_base64(&value)?);
    }
    Ok(ConfigMap {
        name,
        data: root.string_map("data")?,
        binary_data,
    })
}

fn secret(name: String, root: &Node) -> Field<Secret> {
    let mut data = std::collections::BTreeMap::new();
    for (key, value) in root.entries("data")? {
        data.insert(key, decode_base64(&value)?);
    }
    // stringData is write-only sugar for data, and wins over it (as the API server merges).
    for (key, value) in root.string_map("stringData")? {
        data.insert(key, value.into_bytes());
    }
    Ok(Secret { name, data })
}

fn claim(name: String, root: &Node) -> Field<Claim> {
    let mut storage = None;
    if let Some(spec) = root.field("spec")? {
        if let Some(resources) = spec.field("resources")? {
            if let Some(requests) = resources.field("requests")? {
                if let Some(node) = requests.field("storage")? {
                    let text = node
                        .scalar_text()
                        .ok_or_else(|| node.error("must be a quantity"))?;
                    quantity::check(&text).map_err(|reason| node.error(reason))?;
                    storage = Some(text);
                }
            }
        }
    }
    Ok(Claim { name, storage })
}
