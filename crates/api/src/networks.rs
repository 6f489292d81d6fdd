//! `/networks/...`: bridge networks — list, inspect, create, connect, disconnect, remove and
//! prune. berth's default network is `bridge`, as docker's is; `host` and `none` are listed
//! as docker lists them and, like `bridge`, cannot be removed.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use berth_net::{Ipv4Net, NetworkSpec};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::volumes::labels_match;
use crate::Api;

pub fn routes() -> Router<Api> {
    Router::new()
        .route("/networks", get(list))
        .route("/networks/create", post(create))
        .route("/networks/prune", post(prune))
        .route("/networks/{id}", get(inspect).delete(remove))
        .route("/networks/{id}/connect", post(connect))
        .route("/networks/{id}/disconnect", post(disconnect))
}

/// The networks every host has, which cannot be removed.
const PREDEFINED: [&str; 3] = [berth_net::DEFAULT_NETWORK, "host", "none"];

/// The option of docker's bridge driver that names the bridge device.
const BRIDGE_NAME_OPTION: &str = "com.docker.network.bridge.name";

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_default()
}

fn labels_of(v: &Value) -> BTreeMap<String, String> {
    serde_json::from_value(v["Labels"].clone()).unwrap_or_default()
}

/// The filters of `list` and `prune`.
#[derive(Debug, Default)]
struct NetworkFilter {
    names: Vec<String>,
    ids: Vec<String>,
    labels: Vec<String>,
    drivers: Vec<String>,
    /// `custom` or `builtin`.
    types: Vec<String>,
    dangling: Option<bool>,
}

impl NetworkFilter {
    fn parse(raw: Option<&str>, allowed: &[&str]) -> Result<Self, ApiError> {
        let mut f = Self::default();
        for kv in crate::query::filters(raw)? {
            let (k, v) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
            if !allowed.contains(&k) {
                return Err(ApiError::bad_request(format!(
                    "invalid filter '{k}': networks filter by {}",
                    allowed.join(", ")
                )));
            }
            let v = v.to_string();
            match k {
                "name" => f.names.push(v),
                "id" => f.ids.push(v),
                "label" => f.labels.push(v),
                "driver" => f.drivers.push(v),
                "type" if v == "custom" || v == "builtin" => f.types.push(v),
                "type" => {
                    return Err(ApiError::bad_request(format!(
                        "invalid filter 'type={v}': custom or builtin"
                    )))
                }
                "dangling" => {
                    f.dangling = Some(match v.as_str() {
                        "1" | "true" => true,
                        "0" | "false" => false,
                        _ => {
                            return Err(ApiError::bad_request(format!(
                                "invalid filter 'dangling={v}': true or false"
                            )))
                        }
                    })
                }
                _ => {}
            }
        }
        Ok(f)
    }

    /// docker's matching: names by substring, IDs by prefix, the rest exactly.
    fn matches(&self, n: &Value) -> bool {
        let (name, id) = (text(n, "Name"), text(n, "Id"));
        let builtin = PREDEFINED.contains(&name);
        let labels: Vec<&str> = self.labels.iter().map(String::as_str).collect();
        let unused = n["Containers"].as_object().is_none_or(|c| c.is_empty());
        (self.names.is_empty() || self.names.iter().any(|w| name.contains(w.as_str())))
            && (self.ids.is_empty() || self.ids.iter().any(|w| id.starts_with(w.as_str())))
            && labels_match(&labels_of(n), &labels)
            && (self.drivers.is_empty() || self.drivers.iter().any(|d| d == text(n, "Driver")))
            && (self.types.is_empty()
                || self
                    .types
                    .iter()
                    .any(|t| (t == "builtin") == builtin))
            // docker: dangling=true is the custom networks without containers.
            && self.dangling.is_none_or(|d| d == (unused && !builtin))
    }
}

#[derive(Debug, Deserialize)]
struct FilterQuery {
    filters: Option<String>,
}

async fn list(State(api): State<Api>, Query(q): Query<FilterQuery>) -> Result<Response, ApiError> {
    let filter = NetworkFilter::parse(
        q.filters.as_deref(),
        &["name", "id", "label", "driver", "type", "dangling", "scope"],
    )?;
    let all = api.run(|e| e.network_resources()).await?;
    let items: Vec<Value> = all.into_iter().filter(|n| filter.matches(n)).collect();
    Ok(Json(items).into_response())
}

async fn inspect(State(api): State<Api>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let v = api.run(move |e| e.network_resource(&id)).await?;
    Ok(Json(v).into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct IpamConfig {
    #[serde(default)]
    subnet: String,
    #[serde(default)]
    gateway: String,
    #[serde(default, rename = "IPRange")]
    ip_range: String,
    #[serde(default)]
    aux_address: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Ipam {
    #[serde(default)]
    driver: String,
    #[serde(default)]
    config: Option<Vec<IpamConfig>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateBody {
    name: String,
    #[serde(default)]
    driver: String,
    #[serde(default)]
    internal: bool,
    #[serde(default, rename = "EnableIPv6")]
    enable_ipv6: Option<bool>,
    #[serde(default, rename = "IPAM")]
    ipam: Option<Ipam>,
    #[serde(default)]
    options: Option<BTreeMap<String, String>>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
    // `CheckDuplicate` is not read: a name is always unique (docker 1.44 ignores it too).
}

/// docker's create body as the spec berth-net takes, and the warning for options that berth
/// does not act on.
fn spec_of(b: &CreateBody) -> Result<(NetworkSpec, String), ApiError> {
    if b.name.trim().is_empty() {
        return Err(ApiError::bad_request("network create: a name is required"));
    }
    if !matches!(b.driver.as_str(), "" | "bridge") {
        return Err(ApiError::bad_request(format!(
            "network driver {:?} is not supported: berth networks are bridges",
            b.driver
        )));
    }
    if b.enable_ipv6 == Some(true) {
        return Err(ApiError::bad_request(
            "network create: IPv6 is not supported: berth networks are IPv4",
        ));
    }
    let ipam = b.ipam.as_ref();
    if let Some(d) = ipam.map(|i| i.driver.as_str()) {
        if !matches!(d, "" | "default") {
            return Err(ApiError::bad_request(format!(
                "IPAM driver {d:?} is not supported: only the default one"
            )));
        }
    }
    let configs = ipam.and_then(|i| i.config.as_deref()).unwrap_or_default();
    let (subnet, gateway) = match configs {
        [] => (None, None),
        [c] => {
            if !c.ip_range.is_empty() || c.aux_address.as_ref().is_some_and(|a| !a.is_empty()) {
                return Err(ApiError::bad_request(
                    "network create: IPRange and AuxiliaryAddresses are not supported",
                ));
            }
            let subnet = (!c.subnet.is_empty())
                .then(|| c.subnet.parse::<Ipv4Net>())
                .transpose()
                .map_err(|e| ApiError::bad_request(format!("invalid subnet: {e}")))?;
            let gateway = (!c.gateway.is_empty())
                .then(|| c.gateway.parse::<std::net::Ipv4Addr>())
                .transpose()
                .map_err(|e| {
                    ApiError::bad_request(format!("invalid gateway {:?}: {e}", c.gateway))
                })?;
            (subnet, gateway)
        }
        _ => {
            return Err(ApiError::bad_request(
                "network create: one IPAM config only (one IPv4 subnet per network)",
            ))
        }
    };
    let mut bridge = None;
    let mut ignored = Vec::new();
    for (k, v) in b.options.iter().flatten() {
        if k == BRIDGE_NAME_OPTION {
            bridge = Some(v.clone());
        } else {
            ignored.push(k.as_str());
        }
    }
    let warning = if ignored.is_empty() {
        String::new()
    } else {
        format!(
            "options not supported by berth were ignored: {}",
            ignored.join(", ")
        )
    };
    let spec = NetworkSpec {
        name: b.name.clone(),
        subnet,
        gateway,
        internal: b.internal,
        bridge,
    };
    Ok((spec, warning))
}

async fn create(State(api): State<Api>, Json(b): Json<CreateBody>) -> Result<Response, ApiError> {
    let (spec, warning) = spec_of(&b)?;
    if PREDEFINED.contains(&spec.name.as_str()) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "{} is a pre-defined network and cannot be created",
                spec.name
            ),
        ));
    }
    let labels = b.labels.unwrap_or_default();
    let info = api
        .run(move |e| e.create_network_labeled(&spec, &labels))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"Id": info.id, "Warning": warning})),
    )
        .into_response())
}

/// The name of the network `id` names (a name, an ID or a unique ID prefix).
async fn resolve(api: &Api, id: String) -> Result<String, ApiError> {
    let n = api.run(move |e| e.network_resource(&id)).await?;
    Ok(text(&n, "Name").to_string())
}

async fn remove(State(api): State<Api>, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    let name = resolve(&api, id).await?;
    if PREDEFINED.contains(&name.as_str()) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("{name} is a pre-defined network and cannot be removed"),
        ));
    }
    api.run(move |e| e.remove_network(&name)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EndpointConfig {
    #[serde(default)]
    aliases: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ConnectBody {
    container: String,
    #[serde(default)]
    endpoint_config: Option<EndpointConfig>,
}

async fn connect(
    State(api): State<Api>,
    Path(id): Path<String>,
    Json(b): Json<ConnectBody>,
) -> Result<StatusCode, ApiError> {
    let name = resolve(&api, id).await?;
    if name == "host" || name == "none" {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("container cannot be connected to the {name} network"),
        ));
    }
    let aliases = b
        .endpoint_config
        .and_then(|c| c.aliases)
        .unwrap_or_default();
    api.run(move |e| e.network_connect(&name, &b.container, &aliases))
        .await?;
    Ok(StatusCode::OK)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DisconnectBody {
    container: String,
    // `Force` is accepted and not needed: the engine detaches whatever state the container
    // is in.
}

async fn disconnect(
    State(api): State<Api>,
    Path(id): Path<String>,
    Json(b): Json<DisconnectBody>,
) -> Result<StatusCode, ApiError> {
    let name = resolve(&api, id).await?;
    api.run(move |e| e.network_disconnect(&name, &b.container))
        .await?;
    Ok(StatusCode::OK)
}

/// `prune`: the custom networks no container uses, narrowed by the `label` filters. (One
/// pass over the resources, as the engine's `prune_networks`, so that filters apply.)
async fn prune(State(api): State<Api>, Query(q): Query<FilterQuery>) -> Result<Response, ApiError> {
    let mut filter = NetworkFilter::parse(q.filters.as_deref(), &["label"])?;
    filter.dangling = Some(true);
    let removed = api
        .run(move |e| {
            let names: Vec<String> = e
                .network_resources()?
                .iter()
                .filter(|n| filter.matches(n))
                .map(|n| text(n, "Name").to_string())
                .collect();
            for name in &names {
                e.remove_network(name)?;
            }
            Ok(names)
        })
        .await?;
    Ok(Json(json!({"NetworksDeleted": removed})).into_response())
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use serde_json::json;

    use crate::testing::{app, call};
    use crate::volumes::tests::enc;

    fn is_root() -> bool {
        rustix::process::geteuid().is_root()
    }

    #[tokio::test]
    async fn networks_create_list_inspect_remove_and_prune() {
        if !is_root() {
            eprintln!("SKIP networks_create_list_inspect_remove_and_prune: needs root (bridges, nftables)");
            return;
        }
        let (_dir, app) = app();
        let (s, v) = call(&app, "GET", "/v1.44/networks", None).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let names: Vec<&str> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["Name"].as_str().unwrap())
            .collect();
        assert!(
            names.contains(&"bridge") && names.contains(&"host") && names.contains(&"none"),
            "{names:?}"
        );

        let body = json!({
            "Name": "front",
            "CheckDuplicate": true,
            "Driver": "bridge",
            "Labels": {"com.docker.compose.project": "demo"},
            "IPAM": {"Driver": "default", "Config": [{"Subnet": "10.251.7.0/24", "Gateway": "10.251.7.1"}]},
            "Options": {"com.docker.network.driver.mtu": "1400"},
        });
        let (s, v) = call(&app, "POST", "/networks/create", Some(body.clone())).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let id = v["Id"].as_str().unwrap().to_string();
        assert_eq!(id.len(), 64, "{v}");
        assert!(v["Warning"].as_str().unwrap().contains("mtu"), "{v}");
        let (s, v) = call(&app, "POST", "/networks/create", Some(body)).await;
        assert_eq!(s, StatusCode::CONFLICT, "{v}");
        let (s, _) = call(
            &app,
            "POST",
            "/networks/create",
            Some(json!({"Name": "bridge"})),
        )
        .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, _) = call(
            &app,
            "POST",
            "/networks/create",
            Some(json!({"Name": "o", "Driver": "overlay"})),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);

        for key in ["front", &id, &id[..12]] {
            let (s, v) = call(&app, "GET", &format!("/networks/{key}"), None).await;
            assert_eq!(s, StatusCode::OK, "{key}: {v}");
            assert_eq!(v["Name"], "front");
            assert_eq!(v["Driver"], "bridge");
            assert_eq!(v["IPAM"]["Config"][0]["Subnet"], "10.251.7.0/24");
            assert_eq!(v["Labels"], json!({"com.docker.compose.project": "demo"}));
        }
        let (s, v) = call(&app, "GET", "/networks/nope", None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{v}");

        let by_label = enc(r#"{"label":["com.docker.compose.project=demo"]}"#);
        let (_, v) = call(&app, "GET", &format!("/networks?filters={by_label}"), None).await;
        assert_eq!(v.as_array().unwrap().len(), 1, "{v}");
        assert_eq!(v[0]["Id"], id.as_str());
        let custom = enc(r#"{"type":["custom"]}"#);
        let (_, v) = call(&app, "GET", &format!("/networks?filters={custom}"), None).await;
        assert_eq!(v.as_array().unwrap().len(), 1, "{v}");
        let builtin = enc(r#"{"type":["builtin"]}"#);
        let (_, v) = call(&app, "GET", &format!("/networks?filters={builtin}"), None).await;
        assert_eq!(v.as_array().unwrap().len(), 3, "{v}");

        for predefined in ["bridge", "host", "none"] {
            let (s, v) = call(&app, "DELETE", &format!("/networks/{predefined}"), None).await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{predefined}: {v}");
        }
        let (s, v) = call(&app, "DELETE", "/networks/front", None).await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
        let (s, _) = call(&app, "DELETE", "/networks/front", None).await;
        assert_eq!(s, StatusCode::NOT_FOUND);

        for (name, project) in [("keep", "other"), ("gone", "demo")] {
            let b = json!({"Name": name, "Labels": {"com.docker.compose.project": project}});
            let (s, v) = call(&app, "POST", "/networks/create", Some(b)).await;
            assert_eq!(s, StatusCode::CREATED, "{v}");
        }
        let (s, v) = call(
            &app,
            "POST",
            &format!("/networks/prune?filters={by_label}"),
            None,
        )
        .await;
        assert_eq!(
            (s, &v),
            (StatusCode::OK, &json!({"NetworksDeleted": ["gone"]}))
        );
        let (_, v) = call(&app, "POST", "/networks/prune", None).await;
        assert_eq!(v, json!({"NetworksDeleted": ["keep"]}));
        let (_, v) = call(&app, "GET", &format!("/networks?filters={custom}"), None).await;
        assert_eq!(v, json!([]));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn running_containers_connect_and_disconnect_and_hold_their_volumes() {
        if !is_root() {
            eprintln!(
                "SKIP running_containers_connect_and_disconnect_and_hold_their_volumes: needs root"
            );
            return;
        }
        let dir = crate::testing::Root::new();
        let Some(app) = crate::build::tests::app_with_busybox(dir.path()) else {
            eprintln!("SKIP running_containers_connect_and_disconnect_and_hold_their_volumes: no berth binary (cargo build -p berth, or set BERTH_EXE)");
            return;
        };
        let (s, v) = call(
            &app,
            "POST",
            "/networks/create",
            Some(json!({"Name": "back"})),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let create = json!({
            "Image": "busybox",
            "Cmd": ["sleep", "4244"],
            "HostConfig": {"Binds": ["held:/data"]},
        });
        let (s, v) = call(
            &app,
            "POST",
            "/containers/create?name=sleeper",
            Some(create),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let (s, v) = call(&app, "POST", "/containers/sleeper/start", None).await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{v}");

        let (s, v) = call(&app, "DELETE", "/volumes/held", None).await;
        assert_eq!(s, StatusCode::CONFLICT, "{v}");
        let (_, v) = call(
            &app,
            "GET",
            &format!("/volumes?filters={}", enc(r#"{"dangling":["true"]}"#)),
            None,
        )
        .await;
        assert_eq!(v["Volumes"], json!([]), "{v}");

        let body = json!({"Container": "sleeper", "EndpointConfig": {"Aliases": ["db"]}});
        let (s, v) = call(&app, "POST", "/networks/back/connect", Some(body)).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let (_, v) = call(&app, "GET", "/networks/back", None).await;
        let members: Vec<&str> = v["Containers"]
            .as_object()
            .unwrap()
            .values()
            .map(|c| c["Name"].as_str().unwrap())
            .collect();
        assert_eq!(members, ["sleeper"], "{v}");
        let (s, v) = call(&app, "DELETE", "/networks/back", None).await;
        assert_eq!(s, StatusCode::CONFLICT, "{v}");
        let (_, v) = call(&app, "POST", "/networks/prune", None).await;
        assert_eq!(v, json!({"NetworksDeleted": []}));
        let (s, v) = call(
            &app,
            "POST",
            "/networks/back/disconnect",
            Some(json!({"Container": "sleeper", "Force": false})),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let (_, v) = call(&app, "GET", "/networks/back", None).await;
        assert_eq!(v["Containers"], json!({}), "{v}");
        let (s, _) = call(
            &app,
            "POST",
            "/networks/none/connect",
            Some(json!({"Container": "sleeper"})),
        )
        .await;
        assert_eq!(s, StatusCode::FORBIDDEN);

        let (s, v) = call(&app, "DELETE", "/containers/sleeper?force=1", None).await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
        let (s, v) = call(&app, "DELETE", "/volumes/held", None).await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
        let (s, v) = call(&app, "DELETE", "/networks/back", None).await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    }
}
