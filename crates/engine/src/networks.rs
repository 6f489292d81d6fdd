//! Networks as engine calls: `network create` and `network rm` go through here rather than
//! straight to berth-net, so that every front end (CLI, API) records their events; `network
//! ls` and `inspect` get docker's `NetworkResource` shape from here, so that every front end
//! shows the same.

use std::collections::BTreeMap;
use std::path::PathBuf;

use berth_net::{NetworkInfo, NetworkSpec};
use serde_json::{json, Map, Value};

use crate::events::Action;
use crate::{Engine, EngineError};

/// The networks every docker host has besides `bridge`: (name, driver).
const PREDEFINED: [(&str, &str); 2] = [("host", "host"), ("none", "null")];

/// docker's `NetworkResource` for a bridge network; `containers` by container ID.
fn resource(
    n: &NetworkInfo,
    containers: Map<String, Value>,
    labels: BTreeMap<String, String>,
) -> Value {
    json!({
        "Name": n.name,
        "Id": n.id,
        "Created": chrono::DateTime::from_timestamp(n.created as i64, 0)
            .map(|t| t.to_rfc3339())
            .unwrap_or_default(),
        "Scope": "local",
        "Driver": "bridge",
        "EnableIPv6": false,
        "IPAM": {"Driver": "default", "Options": null,
            "Config": [{"Subnet": n.subnet.to_string(), "Gateway": n.gateway.to_string()}]},
        "Internal": n.internal,
        "Attachable": false,
        "Ingress": false,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": false,
        "Containers": containers,
        "Options": {"com.docker.network.bridge.name": n.bridge},
        "Labels": labels,
    })
}

/// `host` and `none`: their IDs are stable digests of their names.
fn predefined(name: &str, driver: &str) -> Value {
    json!({
        "Name": name,
        "Id": berth_image::Digest::of(name.as_bytes()).hex().to_string(),
        "Created": "0001-01-01T00:00:00Z",
        "Scope": "local",
        "Driver": driver,
        "EnableIPv6": false,
        "IPAM": {"Driver": "default", "Options": null, "Config": []},
        "Internal": false,
        "Attachable": false,
        "Ingress": false,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": false,
        "Containers": {},
        "Options": {},
        "Labels": {},
    })
}

impl Engine {
    /// `network create`.
    pub fn create_network(&self, spec: &NetworkSpec) -> Result<NetworkInfo, EngineError> {
        self.create_network_labeled(spec, &BTreeMap::new())
    }

    /// Where the labels of user networks are kept, by network ID: berth-net keeps the networks
    /// and knows nothing of labels, which only docker's clients (compose) read.
    fn network_labels_path(&self, id: &str) -> PathBuf {
        self.store
            .root()
            .join("network-labels")
            .join(format!("{id}.json"))
    }

    fn network_labels(&self, id: &str) -> BTreeMap<String, String> {
        std::fs::read(self.network_labels_path(id))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// `network create --label`: a network with docker's labels (compose finds and removes
    /// its project's networks by them). On failure no network is left.
    pub fn create_network_labeled(
        &self,
        spec: &NetworkSpec,
        labels: &BTreeMap<String, String>,
    ) -> Result<NetworkInfo, EngineError> {
        let info = self
            .network()?
            .create_network(spec)
            .map_err(EngineError::Net)?;
        if !labels.is_empty() {
            let path = self.network_labels_path(&info.id);
            let written = serde_json::to_vec(labels)
                .map_err(std::io::Error::other)
                .and_then(|json| {
                    std::fs::create_dir_all(path.parent().unwrap_or(&path))?;
                    std::fs::write(&path, json)
                });
            if let Err(e) = written {
                let _ = self.network()?.remove_network(&info.name);
                return Err(EngineError::io(
                    format!("create network {}: its labels", info.name),
                    e,
                ));
            }
        }
        self.emit_network_id(Action::Create, &info.id, &info.name, None);
        Ok(info)
    }

    /// `network rm NAME`.
    pub fn remove_network(&self, name: &str) -> Result<(), EngineError> {
        let id = self.network()?.network(name).map(|n| n.id).ok();
        self.network()?
            .remove_network(name)
            .map_err(EngineError::Net)?;
        if let Some(id) = &id {
            let _ = std::fs::remove_file(self.network_labels_path(id));
        }
        self.emit_network_id(Action::Destroy, id.as_deref().unwrap_or(name), name, None);
        Ok(())
    }

    /// `network ls`: docker's `NetworkResource` of every network, `host` and `none` last.
    pub fn network_resources(&self) -> Result<Vec<Value>, EngineError> {
        let net = self.network()?;
        let attachments = net.attachments();
        let mut out = Vec::new();
        for n in net.networks()? {
            let mut containers = Map::new();
            for att in attachments.iter().filter(|a| a.network == n.name) {
                containers.insert(
                    att.container_id.clone(),
                    json!({
                        "Name": att.name,
                        "EndpointID": "",
                        "MacAddress": att.mac,
                        "IPv4Address": format!("{}/{}", att.ip, att.prefix_len),
                        "IPv6Address": "",
                    }),
                );
            }
            let labels = self.network_labels(&n.id);
            out.push(resource(&n, containers, labels));
        }
        out.extend(
            PREDEFINED
                .iter()
                .map(|(name, driver)| predefined(name, driver)),
        );
        Ok(out)
    }

    /// `network inspect NAME|ID`: by name, full ID or a unique ID prefix, as docker finds it.
    pub fn network_resource(&self, name: &str) -> Result<Value, EngineError> {
        let all = self.network_resources()?;
        let field = |v: &Value, k: &str| v[k].as_str().unwrap_or_default().to_string();
        if let Some(n) = all
            .iter()
            .find(|v| field(v, "Name") == name || field(v, "Id") == name)
        {
            return Ok(n.clone());
        }
        let by_prefix: Vec<&Value> = all
            .iter()
            .filter(|v| !name.is_empty() && field(v, "Id").starts_with(name))
            .collect();
        match by_prefix.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(EngineError::Net(berth_net::NetError::NetworkNotFound(
                name.to_string(),
            ))),
            _ => Err(EngineError::InvalidArgument(format!(
                "network {name} is ambiguous ({} matches)",
                by_prefix.len()
            ))),
        }
    }
}
