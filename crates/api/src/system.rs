//! `/_ping`, `/version`, `/info`, `/events`, `/auth`.

use std::io::Write;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use berth_engine::events::{parse_timestamp, EventFilter, EventQuery};
use berth_engine::system::{BuildInfo, ServerVersion};
use serde::Deserialize;

use crate::error::ApiError;
use crate::version::{API_VERSION, MIN_API_VERSION};
use crate::Api;

pub fn routes() -> Router<Api> {
    Router::new()
        .route("/_ping", get(ping).head(ping))
        .route("/version", get(version))
        .route("/info", get(info))
        .route("/events", get(events))
        .route("/auth", post(auth))
        .route("/system/df", get(df))
}

/// The headers every ping carries: clients negotiate their version from `Api-Version`.
async fn ping() -> Response {
    let mut h = HeaderMap::new();
    for (k, v) in [
        ("Api-Version", API_VERSION),
        ("Ostype", "linux"),
        ("Builder-Version", "1"),
        ("Swarm", "inactive"),
        ("Docker-Experimental", "false"),
        ("Cache-Control", "no-cache, no-store, must-revalidate"),
        ("Pragma", "no-cache"),
    ] {
        h.insert(k, HeaderValue::from_static(v));
    }
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    (StatusCode::OK, h, "OK").into_response()
}

async fn version() -> Json<ServerVersion> {
    let mut v = ServerVersion::gather(&BuildInfo::current());
    v.api_version = API_VERSION.into();
    v.min_api_version = MIN_API_VERSION.into();
    Json(v)
}

async fn info(State(api): State<Api>) -> Result<Response, ApiError> {
    let info = api.run(|e| e.system_info()).await?;
    Ok(Json(info).into_response())
}

#[derive(Debug, Deserialize)]
struct EventsQuery {
    since: Option<String>,
    until: Option<String>,
    filters: Option<String>,
}

/// docker's `since`/`until`: unix seconds with an optional fraction (or any time the CLI's
/// `--since` takes).
fn event_time(v: Option<&str>) -> Result<Option<i64>, ApiError> {
    let now = chrono::Local::now().fixed_offset();
    v.filter(|s| !s.is_empty())
        .map(|s| parse_timestamp(s, now).map_err(ApiError::from))
        .transpose()
}

/// The event stream: one JSON object per line, following until the client hangs up or
/// `until` passes.
async fn events(
    State(api): State<Api>,
    Query(q): Query<EventsQuery>,
) -> Result<Response, ApiError> {
    let query = EventQuery {
        since: event_time(q.since.as_deref())?,
        until: event_time(q.until.as_deref())?,
        filter: EventFilter::parse(&crate::query::filters(q.filters.as_deref())?)?,
    };
    let (body, mut out, hangup) = crate::stream::body();
    let stream = api.engine.events(&query, &hangup)?;
    tokio::task::spawn_blocking(move || {
        for event in stream {
            let Ok(event) = event else { break };
            let Ok(mut line) = serde_json::to_vec(&event) else {
                continue;
            };
            line.push(b'\n');
            if out.write_all(&line).is_err() {
                break;
            }
        }
    });
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// `docker system df`: images, containers and volumes with their sizes.
async fn df(State(api): State<Api>) -> Result<Response, ApiError> {
    let v = api
        .run(|e| {
            let usage = e.disk_usage()?;
            let containers = e.containers(true, &Default::default())?;
            let mut images = crate::images::summaries(e, &Default::default())?;
            for img in &mut images {
                let id = img["Id"].as_str().unwrap_or_default().to_string();
                let users = containers
                    .iter()
                    .filter(|c| c.record.image_id == id)
                    .count();
                img["Containers"] = serde_json::json!(users);
            }
            let containers: Vec<_> = containers
                .iter()
                .map(|c| {
                    let rw = e.container_size(&c.record.id).unwrap_or(0);
                    let image = e.image_size(&c.record.image_id).unwrap_or(0);
                    crate::containers::list::summary(c, Some((rw, rw + image)))
                })
                .collect();
            let volumes: Vec<_> = e
                .volumes()?
                .iter()
                .map(|v| {
                    let mut j = crate::volumes::volume_json(v);
                    j["UsageData"] =
                        serde_json::json!({"Size": v.disk_size(), "RefCount": v.used_by.len()});
                    j
                })
                .collect();
            Ok(serde_json::json!({
                "LayersSize": usage.images_size,
                "Images": images,
                "Containers": containers,
                "Volumes": volumes,
                "BuildCache": [],
            }))
        })
        .await?;
    Ok(Json(v).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
struct AuthConfig {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default, rename = "serveraddress")]
    server_address: String,
}

/// `docker login` through the API: checks the credentials with the registry. (The client
/// stores them; the engine's own store is for `berth login`.)
async fn auth(State(api): State<Api>, Json(a): Json<AuthConfig>) -> Result<Response, ApiError> {
    let registry = if a.server_address.is_empty() {
        "docker.io".to_string()
    } else {
        a.server_address
    };
    api.run(move |e| e.check_login(&registry, &a.username, &a.password))
        .await?;
    Ok(Json(serde_json::json!({"Status": "Login Succeeded", "IdentityToken": ""})).into_response())
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use serde_json::json;

    use crate::testing::{app, call};

    #[tokio::test]
    async fn ping_version_and_errors_answer_as_docker() {
        let (_dir, app) = app();
        let (s, body) = call(&app, "GET", "/_ping", None).await;
        assert_eq!((s, body), (StatusCode::OK, json!("OK")));
        let (s, v) = call(&app, "GET", "/v1.44/version", None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v["ApiVersion"], "1.44");
        assert_eq!(v["MinAPIVersion"], "1.24");
        let (s, v) = call(&app, "GET", "/v1.23/version", None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert!(v["message"].as_str().unwrap().contains("too old"), "{v}");
        let (s, v) = call(&app, "GET", "/v1.44/no/such/path", None).await;
        assert_eq!(
            (s, v),
            (StatusCode::NOT_FOUND, json!({"message": "page not found"}))
        );
        let (s, v) = call(&app, "GET", "/containers/nope/json", None).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        assert_eq!(v["message"], "No such container: nope");
        let (s, v) = call(&app, "GET", "/containers/json?filters=%7B", None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
        let (s, v) = call(&app, "GET", "/v1.44/containers/json?all=1", None).await;
        assert_eq!((s, v), (StatusCode::OK, json!([])));
    }
}
