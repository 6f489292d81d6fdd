//! `/volumes/...`: docker's local volumes — create, list, inspect, remove and prune.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use berth_engine::volume::VolumeInfo;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::query::flag;
use crate::Api;

pub fn routes() -> Router<Api> {
    Router::new()
        .route("/volumes", get(list))
        .route("/volumes/create", post(create))
        .route("/volumes/prune", post(prune))
        .route("/volumes/{name}", get(inspect).delete(remove))
}

/// docker's `Volume`.
pub(crate) fn volume_json(v: &VolumeInfo) -> Value {
    json!({
        "Name": v.name,
        "Driver": "local",
        "Mountpoint": v.mountpoint,
        "CreatedAt": chrono::DateTime::from_timestamp(v.created, 0)
            .map(|t| t.to_rfc3339())
            .unwrap_or_default(),
        "Labels": v.labels,
        "Scope": "local",
        "Options": {},
    })
}

/// Whether `labels` has every `key` or `key=value` of the `label` filters.
pub(crate) fn labels_match(labels: &BTreeMap<String, String>, wanted: &[&str]) -> bool {
    wanted.iter().all(|w| match w.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|have| have == v),
        None => labels.contains_key(*w),
    })
}

/// docker's boolean filter values.
fn filter_bool(key: &str, v: &str) -> Result<bool, ApiError> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" => Ok(true),
        "0" | "false" => Ok(false),
        _ => Err(ApiError::bad_request(format!(
            "invalid filter '{key}={v}': a boolean (true or false)"
        ))),
    }
}

/// The volume filters of `list`: name (substring), label, dangling, driver.
#[derive(Debug, Default)]
struct VolumeFilter {
    names: Vec<String>,
    labels: Vec<String>,
    dangling: Option<bool>,
    drivers: Vec<String>,
}

impl VolumeFilter {
    fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let mut f = Self::default();
        for kv in crate::query::filters(raw)? {
            let (k, v) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
            match k {
                "name" => f.names.push(v.to_string()),
                "label" => f.labels.push(v.to_string()),
                "dangling" => f.dangling = Some(filter_bool(k, v)?),
                "driver" => f.drivers.push(v.to_string()),
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "invalid filter '{k}': volumes filter by name, label, dangling or driver"
                    )))
                }
            }
        }
        Ok(f)
    }

    fn matches(&self, v: &VolumeInfo) -> bool {
        let labels: Vec<&str> = self.labels.iter().map(String::as_str).collect();
        (self.names.is_empty() || self.names.iter().any(|n| v.name.contains(n.as_str())))
            && labels_match(&v.labels, &labels)
            && self.dangling.is_none_or(|d| d == v.used_by.is_empty())
            && (self.drivers.is_empty() || self.drivers.iter().any(|d| d == "local"))
    }
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    filters: Option<String>,
}

async fn list(State(api): State<Api>, Query(q): Query<ListQuery>) -> Result<Response, ApiError> {
    let filter = VolumeFilter::parse(q.filters.as_deref())?;
    let volumes = api.run(|e| e.volumes()).await?;
    let items: Vec<Value> = volumes
        .iter()
        .filter(|v| filter.matches(v))
        .map(volume_json)
        .collect();
    Ok(Json(json!({"Volumes": items, "Warnings": []})).into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateBody {
    #[serde(default)]
    name: String,
    #[serde(default)]
    driver: String,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    driver_opts: Option<BTreeMap<String, String>>,
}

async fn create(
    State(api): State<Api>,
    body: Option<Json<CreateBody>>,
) -> Result<Response, ApiError> {
    let body = body.map(|Json(b)| b).unwrap_or_default();
    if !matches!(body.driver.as_str(), "" | "local") {
        return Err(ApiError::bad_request(format!(
            "volume driver {:?} is not supported: berth has the local driver only",
            body.driver
        )));
    }
    // The local driver's options mount a device or a tmpfs at each start; berth's volumes
    // are plain directories, so taking them would make a volume that is not what was asked.
    if body.driver_opts.as_ref().is_some_and(|o| !o.is_empty()) {
        return Err(ApiError::bad_request(
            "volume driver options (DriverOpts) are not supported: berth's local volumes are directories",
        ));
    }
    let labels = body.labels.unwrap_or_default();
    let info = api
        .run(move |e| {
            let (name, _) = e.create_volume_labeled(&body.name, &labels)?;
            e.volume(&name)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(volume_json(&info))).into_response())
}

async fn inspect(State(api): State<Api>, Path(name): Path<String>) -> Result<Response, ApiError> {
    let info = api.run(move |e| e.volume(&name)).await?;
    Ok(Json(volume_json(&info)).into_response())
}

#[derive(Debug, Deserialize)]
struct RemoveQuery {
    #[serde(default, deserialize_with = "flag")]
    force: bool,
}

async fn remove(
    State(api): State<Api>,
    Path(name): Path<String>,
    Query(q): Query<RemoveQuery>,
) -> Result<StatusCode, ApiError> {
    api.run(move |e| e.remove_volume(&name, q.force)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `prune`: unused anonymous volumes, or with the filter `all=true` every unused one (API
/// 1.42 and later); `label` filters narrow it.
async fn prune(State(api): State<Api>, Query(q): Query<ListQuery>) -> Result<Response, ApiError> {
    let (mut all, mut labels) = (false, Vec::new());
    for kv in crate::query::filters(q.filters.as_deref())? {
        let (k, v) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
        match k {
            "all" => all = filter_bool(k, v)?,
            "label" => labels.push(v.to_string()),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "invalid filter '{k}': volume prune filters by all or label"
                )))
            }
        }
    }
    let (removed, freed) = api
        .run(move |e| {
            let wanted: Vec<&str> = labels.iter().map(String::as_str).collect();
            e.prune_volumes_matching(all, &|v| labels_match(&v.labels, &wanted))
        })
        .await?;
    Ok(Json(json!({"VolumesDeleted": removed, "SpaceReclaimed": freed})).into_response())
}

#[cfg(test)]
pub(crate) mod tests {
    use axum::http::StatusCode;
    use serde_json::json;

    use crate::testing::{app, call};

    #[tokio::test]
    async fn volumes_create_inspect_list_remove_and_prune() {
        let (_dir, app) = app();
        let (s, v) = call(
            &app,
            "POST",
            "/v1.44/volumes/create",
            Some(json!({"Name": "data", "Labels": {"com.example.app": "web"}})),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        assert_eq!(v["Name"], "data");
        assert_eq!(v["Driver"], "local");
        assert_eq!(v["Scope"], "local");
        assert_eq!(v["Labels"], json!({"com.example.app": "web"}));
        let mountpoint = v["Mountpoint"].as_str().unwrap().to_string();
        assert!(std::path::Path::new(&mountpoint).is_dir(), "{mountpoint}");
        assert!(v["CreatedAt"].as_str().unwrap().contains('T'), "{v}");

        // Created again: the same volume, labels kept.
        let (s, again) = call(
            &app,
            "POST",
            "/volumes/create",
            Some(json!({"Name": "data"})),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED);
        assert_eq!(again["Labels"], json!({"com.example.app": "web"}));

        let (s, anon) = call(&app, "POST", "/volumes/create", Some(json!({}))).await;
        assert_eq!(s, StatusCode::CREATED);
        let anon_name = anon["Name"].as_str().unwrap().to_string();
        assert_eq!(anon_name.len(), 64, "{anon}");

        let (s, v) = call(&app, "GET", "/volumes/data", None).await;
        assert_eq!(
            (s, v["Mountpoint"].as_str()),
            (StatusCode::OK, Some(mountpoint.as_str()))
        );
        let (s, v) = call(&app, "GET", "/volumes/nope", None).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        assert_eq!(v["message"], "No such volume: nope");

        let (s, v) = call(&app, "GET", "/volumes", None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v["Warnings"], json!([]));
        assert_eq!(v["Volumes"].as_array().unwrap().len(), 2, "{v}");
        let label = r#"{"label":["com.example.app=web"]}"#;
        let (_, v) = call(
            &app,
            "GET",
            &format!("/volumes?filters={}", enc(label)),
            None,
        )
        .await;
        let names: Vec<&str> = v["Volumes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["Name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["data"]);
        let (_, v) = call(
            &app,
            "GET",
            &format!("/volumes?filters={}", enc(r#"{"name":["zzz"]}"#)),
            None,
        )
        .await;
        assert_eq!(v["Volumes"], json!([]));
        let (s, _) = call(
            &app,
            "GET",
            &format!("/volumes?filters={}", enc(r#"{"bogus":["x"]}"#)),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);

        let (s, v) = call(
            &app,
            "POST",
            "/volumes/create",
            Some(json!({"Name": "x1", "Driver": "nfs"})),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
        let (s, _) = call(
            &app,
            "POST",
            "/volumes/create",
            Some(json!({"Name": "/bad"})),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        let (s, _) = call(
            &app,
            "POST",
            "/volumes/create",
            Some(json!({"Name": "t", "DriverOpts": {"type": "tmpfs"}})),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);

        // Prune takes only anonymous volumes unless all=true.
        let (s, v) = call(&app, "POST", "/volumes/prune", None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v["VolumesDeleted"], json!([anon_name]));
        assert!(v["SpaceReclaimed"].is_u64(), "{v}");
        let (_, v) = call(&app, "GET", "/volumes/data", None).await;
        assert_eq!(v["Name"], "data");
        let no_match = enc(r#"{"all":["true"],"label":["other"]}"#);
        let (_, v) = call(
            &app,
            "POST",
            &format!("/volumes/prune?filters={no_match}"),
            None,
        )
        .await;
        assert_eq!(v["VolumesDeleted"], json!([]));

        let (s, v) = call(&app, "DELETE", "/volumes/data", None).await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
        let (s, _) = call(&app, "DELETE", "/volumes/data", None).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, _) = call(&app, "DELETE", "/volumes/data?force=1", None).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        assert!(!std::path::Path::new(&mountpoint).exists());
    }

    /// Percent-encodes a query value.
    pub(crate) fn enc(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    }
}
