//! `/images/...`: list, inspect, history, tag, remove, prune, search; pull, import and push
//! in [`transfer`]; save and load in [`archive`].
//!
//! An image's name may hold slashes and a port (`127.0.0.1:5000/app:v1`), which no path
//! segment can match: one wildcard route takes `/images/*` and splits the action
//! (`/json`, `/history`, `/get`, `/tag`, `/push`) off its end.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use berth_engine::image::{HistoryEntry, RemoveEvent};
use berth_engine::{Engine, EngineError, ImageFilter, ImageSummary};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::query::{flag, opt_number};
use crate::Api;

mod archive;
mod transfer;

use archive::body_reader;

pub fn routes() -> Router<Api> {
    Router::new()
        .route("/images/json", get(list))
        .route("/images/create", post(create))
        .route("/images/prune", post(prune))
        .route("/images/search", get(search))
        .route("/images/get", get(save_many))
        .route("/images/load", post(load))
        .route(
            "/images/{*rest}",
            get(get_named).post(post_named).delete(remove),
        )
        .route("/distribution/{*rest}", get(distribution))
}

/// `GET /distribution/{name}/json`: what the registry says the image is, without a pull —
/// the manifest's descriptor and its platforms (`docker manifest inspect`, `docker buildx
/// imagetools`, and clients that check a platform before they pull).
async fn distribution(
    State(api): State<Api>,
    headers: HeaderMap,
    Path(rest): Path<String>,
) -> Result<Response, ApiError> {
    let name = named(&rest, "json")
        .ok_or_else(|| ApiError::not_found("page not found"))?
        .to_string();
    let auth = transfer::registry_auth(&headers)?;
    let info = api.run(move |e| e.distribution(&name, &auth)).await?;
    let d = &info.descriptor;
    Ok(Json(json!({
        "Descriptor": {
            "mediaType": d.media_type,
            "digest": d.digest.to_string(),
            "size": d.size,
        },
        "Platforms": info.platforms,
    }))
    .into_response())
}

/// `rest` without its action suffix, when it has it and a name before it.
fn named<'a>(rest: &'a str, action: &str) -> Option<&'a str> {
    rest.strip_suffix(action)
        .and_then(|n| n.strip_suffix('/'))
        .filter(|n| !n.is_empty())
}

async fn get_named(State(api): State<Api>, Path(rest): Path<String>) -> Result<Response, ApiError> {
    if let Some(name) = named(&rest, "json") {
        let name = name.to_string();
        let v = api.run(move |e| e.inspect_image(&name)).await?;
        return Ok(Json(v).into_response());
    }
    if let Some(name) = named(&rest, "history") {
        let name = name.to_string();
        let rows = api.run(move |e| e.image_history(&name)).await?;
        return Ok(Json(rows.iter().map(history_json).collect::<Vec<_>>()).into_response());
    }
    if let Some(name) = named(&rest, "get") {
        return archive::save(api, vec![name.to_string()]).await;
    }
    Err(ApiError::not_found("page not found"))
}

#[derive(Debug, Deserialize)]
struct TagQuery {
    repo: Option<String>,
    tag: Option<String>,
}

async fn post_named(
    State(api): State<Api>,
    Path(rest): Path<String>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let value = |k: &str| pairs.iter().find(|(key, _)| key == k).map(|p| p.1.clone());
    if let Some(name) = named(&rest, "tag") {
        let q = TagQuery {
            repo: value("repo"),
            tag: value("tag"),
        };
        return tag(&api, name.to_string(), q).await;
    }
    if let Some(name) = named(&rest, "push") {
        let q = transfer::PushQuery { tag: value("tag") };
        return transfer::push(api, headers, name.to_string(), q).await;
    }
    Err(ApiError::not_found("page not found"))
}

/// `POST /images/{name}/tag?repo=&tag=`: 201 with no body.
async fn tag(api: &Api, source: String, q: TagQuery) -> Result<Response, ApiError> {
    let repo = q.repo.filter(|r| !r.is_empty()).ok_or_else(|| {
        ApiError::bad_request("repository name (repo) is required to tag an image")
    })?;
    let target = match q.tag.filter(|t| !t.is_empty()) {
        Some(t) => format!("{repo}:{t}"),
        None => repo,
    };
    api.run(move |e| e.tag(&source, &target)).await?;
    Ok(StatusCode::CREATED.into_response())
}

#[derive(Debug, Deserialize)]
struct RemoveQuery {
    #[serde(default, deserialize_with = "flag")]
    force: bool,
    #[serde(default, deserialize_with = "flag")]
    noprune: bool,
}

/// `DELETE /images/{name}`: docker's `[{"Untagged": …}, {"Deleted": …}]`.
async fn remove(
    State(api): State<Api>,
    Path(name): Path<String>,
    Query(q): Query<RemoveQuery>,
) -> Result<Response, ApiError> {
    let events = api
        .run(move |e| e.remove_image_with(&name, q.force, !q.noprune))
        .await?;
    Ok(Json(events.iter().map(remove_json).collect::<Vec<_>>()).into_response())
}

fn remove_json(e: &RemoveEvent) -> Value {
    match e {
        RemoveEvent::Untagged(name) => json!({ "Untagged": name }),
        RemoveEvent::Deleted(id) => json!({ "Deleted": id.to_string() }),
    }
}

/// RFC 3339 → unix seconds (docker's `Created` in lists); 0 when unknown.
fn unix_secs(t: Option<&str>) -> i64 {
    t.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map_or(0, |t| t.timestamp())
}

fn history_json(h: &HistoryEntry) -> Value {
    json!({
        "Id": h.id.as_ref().map_or_else(|| "<missing>".to_string(), ToString::to_string),
        "Created": unix_secs(h.created.as_deref()),
        "CreatedBy": h.created_by,
        "Tags": Value::Null,
        "Size": h.size,
        "Comment": h.comment,
    })
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    #[serde(default, deserialize_with = "flag")]
    all: bool,
    filters: Option<String>,
}

/// `GET /images/json`: one summary per image (the engine's rows are one per tag).
async fn list(State(api): State<Api>, Query(q): Query<ListQuery>) -> Result<Response, ApiError> {
    let mut filter = ImageFilter::parse(&crate::query::filters(q.filters.as_deref())?)?;
    filter.all = q.all;
    let rows = api.run(move |e| summaries(e, &filter)).await?;
    Ok(Json(rows).into_response())
}

pub(crate) fn summaries(engine: &Engine, filter: &ImageFilter) -> Result<Vec<Value>, EngineError> {
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for row in engine.images(filter)? {
        if !seen.insert(row.id.clone()) {
            continue;
        }
        let labels = if row.labels.is_empty() {
            engine
                .image_config(&row.id)?
                .pointer("/config/Labels")
                .cloned()
                .unwrap_or(Value::Null)
        } else {
            Value::Object(row.labels.clone())
        };
        out.push(summary_json(&row, labels));
    }
    Ok(out)
}

fn summary_json(row: &ImageSummary, labels: Value) -> Value {
    json!({
        "Id": row.id.to_string(),
        "ParentId": "",
        "RepoTags": row.repo_tags,
        "RepoDigests": row.repo_digests,
        "Created": unix_secs(row.created.as_deref()),
        "Size": row.size,
        "SharedSize": -1,
        "VirtualSize": row.size,
        "Labels": labels,
        "Containers": -1,
    })
}

#[derive(Debug, Deserialize)]
struct PruneQuery {
    filters: Option<String>,
}

/// `POST /images/prune`: dangling images, or with `dangling=false` every unused one.
async fn prune(State(api): State<Api>, Query(q): Query<PruneQuery>) -> Result<Response, ApiError> {
    let mut all = false;
    for f in crate::query::filters(q.filters.as_deref())? {
        match f.split_once('=') {
            Some(("dangling", v)) => all = matches!(v.to_ascii_lowercase().as_str(), "false" | "0"),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "invalid filter {f:?}: image prune accepts dangling"
                )))
            }
        }
    }
    let report = api.run(move |e| e.prune_images(all)).await?;
    let deleted: Vec<Value> = report.events.iter().map(remove_json).collect();
    Ok(Json(json!({
        "ImagesDeleted": if deleted.is_empty() { Value::Null } else { Value::from(deleted) },
        "SpaceReclaimed": report.reclaimed,
    }))
    .into_response())
}

#[derive(Debug, Deserialize)]
struct SearchQuery {
    term: Option<String>,
    #[serde(default, deserialize_with = "opt_number")]
    limit: Option<usize>,
    filters: Option<String>,
}

async fn search(
    State(api): State<Api>,
    Query(q): Query<SearchQuery>,
) -> Result<Response, ApiError> {
    let term = q
        .term
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::bad_request("a search term (term) is required"))?;
    let filters = crate::query::filters(q.filters.as_deref())?;
    let filter =
        berth_registry::client::SearchFilter::parse(&filters).map_err(ApiError::bad_request)?;
    let results = api.run(move |e| e.search(&term, q.limit, &filter)).await?;
    Ok(Json(results).into_response())
}

async fn create(
    State(api): State<Api>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
    body: Body,
) -> Result<Response, ApiError> {
    transfer::create(api, headers, transfer::CreateQuery::from_pairs(pairs), body).await
}

/// `GET /images/get?names=a&names=b`.
async fn save_many(
    State(api): State<Api>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let names = pairs
        .into_iter()
        .filter(|(k, v)| k == "names" && !v.is_empty())
        .map(|(_, v)| v)
        .collect();
    archive::save(api, names).await
}

async fn load(State(api): State<Api>, body: Body) -> Result<Response, ApiError> {
    archive::load(api, body).await
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use serde_json::{json, Value};
    use tower::ServiceExt;

    use crate::testing::{app, call};

    /// A root filesystem tarball with one file.
    fn rootfs() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let data = b"hello from a test image\n";
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        b.append_data(&mut h, "etc/greeting", &data[..]).unwrap();
        b.into_inner().unwrap()
    }

    /// A request with a raw body; the status and the body's bytes.
    async fn send(
        app: &axum::Router,
        method: &str,
        uri: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Vec<u8>) {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::from(body))
            .unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 64 << 20)
            .await
            .unwrap();
        (status, bytes.to_vec())
    }

    #[tokio::test]
    async fn an_empty_store_lists_nothing_and_misses_are_docker_errors() {
        let (_dir, app) = app();
        assert_eq!(
            call(&app, "GET", "/images/json", None).await,
            (StatusCode::OK, json!([]))
        );
        let (s, v) = call(
            &app,
            "GET",
            "/v1.44/images/json?all=1&filters=%7B%22dangling%22%3A%5B%22true%22%5D%7D",
            None,
        )
        .await;
        assert_eq!((s, v), (StatusCode::OK, json!([])));
        let (s, v) = call(
            &app,
            "GET",
            "/images/json?filters=%7B%22nope%22%3A%5B%22x%22%5D%7D",
            None,
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
        let (s, v) = call(&app, "GET", "/images/127.0.0.1:5000/app:v1/json", None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
        assert_eq!(v["message"], "No such image: 127.0.0.1:5000/app:v1");
        let (s, _) = call(&app, "GET", "/images/busybox/history", None).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, _) = call(&app, "DELETE", "/images/busybox", None).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, _) = call(&app, "GET", "/images/busybox/get", None).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, _) = call(&app, "GET", "/images/busybox/nonsense", None).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, v) = call(&app, "POST", "/images/prune", None).await;
        assert_eq!(
            (s, v),
            (
                StatusCode::OK,
                json!({"ImagesDeleted": null, "SpaceReclaimed": 0})
            )
        );
    }

    #[tokio::test]
    async fn bad_references_are_refused_before_any_transfer() {
        let (_dir, app) = app();
        // Upper case is no repository name: a 400, not a stream with an error line.
        let (s, v) = call(
            &app,
            "POST",
            "/images/create?fromImage=BusyBox&tag=latest",
            None,
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
        let (s, v) = call(&app, "POST", "/images/create", None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
        let (s, _) = call(
            &app,
            "POST",
            "/images/create?fromSrc=http://example.com/x.tar",
            None,
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        let (s, _) = call(&app, "POST", "/images/Nope/push", None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        let req = Request::builder()
            .method("POST")
            .uri("/images/create?fromImage=busybox")
            .header("X-Registry-Auth", "%%%")
            .body(Body::empty())
            .unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn an_imported_image_is_listed_tagged_saved_loaded_and_removed() {
        let (_dir, app) = app();
        let (s, body) = send(
            &app,
            "POST",
            "/images/create?fromSrc=-&repo=127.0.0.1:5000/team/app&tag=v1&message=test",
            rootfs(),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        let line: Value = serde_json::from_slice(&body).unwrap();
        let id = line["status"].as_str().unwrap().to_string();
        assert!(id.starts_with("sha256:"), "{line}");

        let (s, list) = call(&app, "GET", "/images/json", None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
        let row = &list[0];
        assert_eq!(row["Id"], json!(id));
        assert_eq!(row["RepoTags"], json!(["127.0.0.1:5000/team/app:v1"]));
        assert_eq!(
            (row["SharedSize"].clone(), row["Containers"].clone()),
            (json!(-1), json!(-1))
        );
        assert!(
            row["Created"].as_i64().is_some_and(|t| t > 1_600_000_000),
            "{row}"
        );
        assert!(row["Size"].as_u64().is_some_and(|s| s > 0), "{row}");

        let (s, v) = call(&app, "GET", "/images/127.0.0.1:5000/team/app:v1/json", None).await;
        assert_eq!((s, v["Id"].clone()), (StatusCode::OK, json!(id)));
        let (s, h) = call(
            &app,
            "GET",
            "/images/127.0.0.1:5000/team/app:v1/history",
            None,
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(
            (h[0]["Id"].clone(), h[0]["Comment"].clone()),
            (json!(id), json!("test"))
        );

        let (s, v) = call(
            &app,
            "POST",
            "/images/127.0.0.1:5000/team/app:v1/tag?repo=other/name&tag=v2",
            None,
        )
        .await;
        assert_eq!((s, v), (StatusCode::CREATED, json!("")));
        let (s, _) = call(
            &app,
            "POST",
            "/images/127.0.0.1:5000/team/app:v1/tag?repo=Bad",
            None,
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        let (s, _) = call(&app, "POST", "/images/127.0.0.1:5000/team/app:v1/tag", None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        let (_, v) = call(&app, "GET", "/images/other/name:v2/json", None).await;
        assert_eq!(v["Id"], json!(id));

        // docker save, then load into a second engine.
        let (s, tarball) = send(
            &app,
            "GET",
            "/images/get?names=other/name:v2&names=127.0.0.1:5000/team/app:v1",
            Vec::new(),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        assert!(tarball.len() > 1024, "{} bytes", tarball.len());
        let (_dir2, app2) = crate::testing::app();
        let (s, body) = send(&app2, "POST", "/images/load?quiet=1", tarball).await;
        assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        let text = String::from_utf8(body).unwrap();
        assert!(
            text.contains(r#"{"stream":"Loaded image: other/name:v2\n"}"#),
            "{text}"
        );
        let (_, v) = call(&app2, "GET", "/images/other/name:v2/json", None).await;
        assert_eq!(v["Id"], json!(id));

        // Untag one name, then delete the image by its other one.
        let (s, v) = call(&app, "DELETE", "/images/other/name:v2", None).await;
        assert_eq!(
            (s, v),
            (StatusCode::OK, json!([{"Untagged": "other/name:v2"}]))
        );
        let (s, v) = call(
            &app,
            "DELETE",
            "/images/127.0.0.1:5000/team/app:v1?noprune=1",
            None,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v[0], json!({"Untagged": "127.0.0.1:5000/team/app:v1"}));
        assert!(
            v.as_array().unwrap().contains(&json!({"Deleted": id})),
            "{v}"
        );
        assert_eq!(
            call(&app, "GET", "/images/json", None).await,
            (StatusCode::OK, json!([]))
        );
    }
}
