//! `GET|HEAD|PUT /containers/{id}/archive` (what `docker cp` uses) and
//! `GET /containers/{id}/export`. Paths resolve inside the container's root, race-free (the
//! engine's `rootfd`).

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::Engine as _;
use berth_engine::container::PathStat;
use serde::Deserialize;
use serde_json::json;

use crate::error::ApiError;
use crate::Api;

/// The largest tar a `PUT` takes.
const PUT_LIMIT: u64 = 16 << 30;

pub fn routes() -> Router<Api> {
    Router::new()
        .route(
            "/containers/{id}/archive",
            get(get_archive).head(head_archive).put(put_archive),
        )
        .route("/containers/{id}/export", get(export))
}

#[derive(Debug, Deserialize)]
struct PathQuery {
    path: String,
}

/// Go's `os.FileMode` of a raw `st_mode`: permission bits plus Go's type bits.
fn go_mode(mode: u32) -> u32 {
    let mut m = mode & 0o777;
    let kind = mode & libc::S_IFMT;
    m |= match kind {
        libc::S_IFDIR => 1 << 31,
        libc::S_IFLNK => 1 << 27,
        libc::S_IFIFO => 1 << 25,
        libc::S_IFSOCK => 1 << 24,
        libc::S_IFBLK => 1 << 26,
        libc::S_IFCHR => (1 << 26) | (1 << 21),
        _ => 0,
    };
    if mode & libc::S_ISUID != 0 {
        m |= 1 << 23;
    }
    if mode & libc::S_ISGID != 0 {
        m |= 1 << 22;
    }
    if mode & libc::S_ISVTX != 0 {
        m |= 1 << 20;
    }
    m
}

fn stat_header(st: &PathStat) -> Option<HeaderValue> {
    let mtime = chrono::DateTime::from_timestamp(st.mtime, 0)
        .map(|t| t.to_rfc3339())
        .unwrap_or_default();
    let v = json!({
        "name": st.name,
        "size": st.size,
        "mode": go_mode(st.mode),
        "mtime": mtime,
        "linkTarget": st.link_target,
    });
    let b64 = base64::engine::general_purpose::STANDARD.encode(v.to_string());
    HeaderValue::from_str(&b64).ok()
}

async fn stat(api: &Api, id: &str, path: &str) -> Result<PathStat, ApiError> {
    let (id, path) = (id.to_string(), path.to_string());
    api.run(move |e| e.container_path_stat(&id, &path)).await
}

async fn head_archive(
    State(api): State<Api>,
    Path(id): Path<String>,
    Query(q): Query<PathQuery>,
) -> Result<Response, ApiError> {
    let st = stat(&api, &id, &q.path).await?;
    let mut r = StatusCode::OK.into_response();
    if let Some(h) = stat_header(&st) {
        r.headers_mut().insert("X-Docker-Container-Path-Stat", h);
    }
    Ok(r)
}

async fn get_archive(
    State(api): State<Api>,
    Path(id): Path<String>,
    Query(q): Query<PathQuery>,
) -> Result<Response, ApiError> {
    let st = stat(&api, &id, &q.path).await?;
    let (body, out, _hangup) = crate::stream::body();
    let engine = api.engine.clone();
    tokio::task::spawn_blocking(move || {
        if let Err(e) = engine.copy_from_container(&id, &q.path, out) {
            tracing::debug!(container = %id, error = %e, "archive stream ended");
        }
    });
    let mut r = ([(header::CONTENT_TYPE, "application/x-tar")], body).into_response();
    if let Some(h) = stat_header(&st) {
        r.headers_mut().insert("X-Docker-Container-Path-Stat", h);
    }
    Ok(r)
}

async fn put_archive(
    State(api): State<Api>,
    Path(id): Path<String>,
    Query(q): Query<PathQuery>,
    req: Request,
) -> Result<StatusCode, ApiError> {
    let tar = crate::stream::reader(req.into_body(), PUT_LIMIT);
    api.run(move |e| e.copy_to_container(&id, &q.path, tar))
        .await?;
    Ok(StatusCode::OK)
}

async fn export(State(api): State<Api>, Path(id): Path<String>) -> Result<Response, ApiError> {
    {
        let id = id.clone();
        api.run(move |e| e.reconciled(&id)).await?;
    }
    let (body, out, _hangup) = crate::stream::body();
    let engine = api.engine.clone();
    tokio::task::spawn_blocking(move || {
        if let Err(e) = engine.export_container(&id, out) {
            tracing::debug!(container = %id, error = %e, "export stream ended");
        }
    });
    Ok(([(header::CONTENT_TYPE, "application/x-tar")], body).into_response())
}

#[cfg(test)]
mod tests {
    use super::go_mode;

    #[test]
    fn go_file_modes_carry_go_type_bits() {
        assert_eq!(go_mode(libc::S_IFDIR | 0o755), (1 << 31) | 0o755);
        assert_eq!(go_mode(libc::S_IFREG | 0o644), 0o644);
        assert_eq!(go_mode(libc::S_IFLNK | 0o777), (1 << 27) | 0o777);
    }
}
