//! `GET /containers/json`: docker's container summaries.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_engine::container::{mount_point, ContainerFilter, ContainerSummary, NetSummary};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::query::{flag, opt_number};
use crate::Api;

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    #[serde(default, deserialize_with = "flag")]
    all: bool,
    #[serde(default, deserialize_with = "opt_number")]
    limit: Option<i64>,
    #[serde(default, deserialize_with = "flag")]
    size: bool,
    filters: Option<String>,
}

/// The command as docker's summary shows it: path and arguments, space-joined.
fn command(c: &ContainerSummary) -> String {
    std::iter::once(c.config.path.as_str())
        .chain(c.config.args.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One summary, with every field docker-py, compose and testcontainers read.
pub fn summary(c: &ContainerSummary, sizes: Option<(u64, u64)>) -> Value {
    let r = &c.record;
    let nets = NetSummary::from_record(r);
    let ports: Vec<Value> = nets
        .iter()
        .flat_map(|n| n.ports.iter())
        .map(|p| {
            json!({
                "IP": p.host_ip.map_or_else(|| "0.0.0.0".to_string(), |ip| ip.to_string()),
                "PrivatePort": p.container_port,
                "PublicPort": p.host_port,
                "Type": p.proto.to_string(),
            })
        })
        .collect();
    let mut networks = Map::new();
    for n in &nets {
        networks.insert(
            n.network.clone(),
            json!({
                "IPAddress": n.ip.map(|i| i.to_string()).unwrap_or_default(),
                "IPPrefixLen": n.prefix_len,
                "Gateway": n.gateway.map(|g| g.to_string()).unwrap_or_default(),
                "MacAddress": n.mac,
                "NetworkID": "",
                "EndpointID": "",
            }),
        );
    }
    let mounts: Vec<Value> = c.config.spec.mounts.iter().map(mount_point).collect();
    let mut v = json!({
        "Id": r.id,
        "Names": [format!("/{}", r.name)],
        "Image": r.image_name,
        "ImageID": r.image_id,
        "Command": command(c),
        "Created": r.created_at / 1_000_000_000,
        "Ports": ports,
        "Labels": c.config.spec.labels,
        "State": r.state,
        "Status": c.status(),
        "HostConfig": {"NetworkMode": c.config.network.name()},
        "NetworkSettings": {"Networks": networks},
        "Mounts": mounts,
    });
    if let Some((rw, rootfs)) = sizes {
        v["SizeRw"] = json!(rw);
        v["SizeRootFs"] = json!(rootfs);
    }
    v
}

pub async fn list(
    State(api): State<Api>,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let filters = crate::query::filters(q.filters.as_deref())?;
    let items = api
        .run(move |e| {
            let filter = ContainerFilter::parse(&filters)?;
            // `limit` implies all, as `ps -n` does.
            let all = q.all || q.limit.is_some_and(|n| n > 0);
            let mut list = e.containers(all, &filter)?;
            if let Some(n) = q.limit.filter(|n| *n > 0) {
                list.truncate(usize::try_from(n).unwrap_or(usize::MAX));
            }
            Ok(list
                .iter()
                .map(|c| {
                    let sizes = q.size.then(|| {
                        let rw = e.container_size(&c.record.id).unwrap_or(0);
                        let image = e.image_size(&c.record.image_id).unwrap_or(0);
                        (rw, rw + image)
                    });
                    summary(c, sizes)
                })
                .collect::<Vec<_>>())
        })
        .await?;
    Ok(Json(items).into_response())
}
