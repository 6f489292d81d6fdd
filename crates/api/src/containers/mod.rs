//! `/containers/...`: create, list, inspect and the lifecycle; logs, attach, files and stats
//! in the modules below.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use berth_engine::container::StartMode;
use berth_store::{ContainerRecord, ContainerState};
use serde::Deserialize;
use serde_json::json;

use crate::error::ApiError;
use crate::query::{flag, opt_number};
use crate::Api;

mod create;
pub(crate) mod list;
mod logs;
mod stats;

pub fn routes() -> Router<Api> {
    Router::new()
        .route("/containers/json", get(list::list))
        .route("/containers/create", post(create::create))
        .route("/containers/prune", post(prune))
        .route("/containers/{id}/json", get(inspect))
        .route("/containers/{id}/start", post(start))
        .route("/containers/{id}/stop", post(stop))
        .route("/containers/{id}/restart", post(restart))
        .route("/containers/{id}/kill", post(kill))
        .route("/containers/{id}/wait", post(wait))
        .route("/containers/{id}/rename", post(rename))
        .route("/containers/{id}/pause", post(pause))
        .route("/containers/{id}/unpause", post(unpause))
        .route("/containers/{id}/logs", get(logs::logs))
        .route("/containers/{id}/attach", post(crate::hijack::attach))
        .route("/containers/{id}/resize", post(resize))
        .route("/containers/{id}/top", get(top))
        .route("/containers/{id}/changes", get(changes))
        .route("/containers/{id}/stats", get(stats::stats))
        .route("/containers/{id}/update", post(stats::update))
        .route("/containers/{id}", delete(remove))
}

async fn inspect(State(api): State<Api>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let v = api.run(move |e| e.inspect_container(&id)).await?;
    Ok(Json(v).into_response())
}

/// The container's record now (for docker's 304 answers, and its full ID).
async fn record_of(api: &Api, id: &str) -> Result<ContainerRecord, ApiError> {
    let id = id.to_string();
    api.run(move |e| e.reconciled(&id)).await
}

async fn start(State(api): State<Api>, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    let rec = record_of(&api, &id).await?;
    if rec.state == ContainerState::Running {
        return Ok(StatusCode::NOT_MODIFIED);
    }
    // An attach waits for this start: start once it is connected, so it gets all the output.
    let mode = if api.attachments.has_waiting(&rec.id) {
        StartMode::WaitAttach
    } else {
        StartMode::Detached
    };
    let full = rec.id.clone();
    api.run(move |e| e.start_container(&full, mode)).await?;
    if mode == StartMode::WaitAttach {
        api.attachments.release(&rec.id);
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
struct StopQuery {
    #[serde(default, deserialize_with = "opt_number")]
    t: Option<u32>,
}

async fn stop(
    State(api): State<Api>,
    Path(id): Path<String>,
    Query(q): Query<StopQuery>,
) -> Result<StatusCode, ApiError> {
    if !record_of(&api, &id).await?.state.is_active() {
        return Ok(StatusCode::NOT_MODIFIED);
    }
    api.run(move |e| e.stop_container(&id, q.t)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn restart(
    State(api): State<Api>,
    Path(id): Path<String>,
    Query(q): Query<StopQuery>,
) -> Result<StatusCode, ApiError> {
    api.run(move |e| e.restart_container(&id, q.t)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
struct KillQuery {
    signal: Option<String>,
}

async fn kill(
    State(api): State<Api>,
    Path(id): Path<String>,
    Query(q): Query<KillQuery>,
) -> Result<StatusCode, ApiError> {
    let signal = q
        .signal
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "KILL".into());
    api.run(move |e| e.kill_container(&id, &signal)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
struct WaitQuery {
    condition: Option<String>,
}

/// `wait`: the status line is sent at once and the JSON when the condition is met, so a
/// client that waits before it starts the container (compose, docker run) is not blocked.
async fn wait(
    State(api): State<Api>,
    Path(id): Path<String>,
    Query(q): Query<WaitQuery>,
) -> Result<Response, ApiError> {
    let condition = q.condition.unwrap_or_else(|| "not-running".into());
    if !matches!(condition.as_str(), "not-running" | "next-exit" | "removed") {
        return Err(ApiError::bad_request(format!(
            "invalid condition {condition:?}: use not-running, next-exit or removed"
        )));
    }
    // Resolved now: a missing container is a 404 before any byte is sent.
    let rec = {
        let id = id.clone();
        api.run(move |e| e.reconciled(&id)).await?
    };
    let (body, mut out, _hangup) = crate::stream::body();
    let engine = api.engine.clone();
    tokio::task::spawn_blocking(move || {
        let result = match condition.as_str() {
            "next-exit" => engine.wait_next_exit(&rec.id),
            "removed" => engine.wait_removed(&rec.id),
            _ => engine.wait_container(&rec.id),
        };
        let answer = match result {
            Ok(code) => json!({"StatusCode": code, "Error": null}),
            Err(e) => json!({"StatusCode": -1, "Error": {"Message": e.to_string()}}),
        };
        let _ = std::io::Write::write_all(&mut out, format!("{answer}\n").as_bytes());
    });
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
struct RenameQuery {
    name: String,
}

async fn rename(
    State(api): State<Api>,
    Path(id): Path<String>,
    Query(q): Query<RenameQuery>,
) -> Result<StatusCode, ApiError> {
    api.run(move |e| e.rename_container(&id, &q.name)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn pause(State(api): State<Api>, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    api.run(move |e| e.pause_container(&id, true)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn unpause(State(api): State<Api>, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    api.run(move |e| e.pause_container(&id, false)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
struct RemoveQuery {
    #[serde(default, deserialize_with = "flag")]
    force: bool,
    #[serde(default, deserialize_with = "flag")]
    v: bool,
}

async fn remove(
    State(api): State<Api>,
    Path(id): Path<String>,
    Query(q): Query<RemoveQuery>,
) -> Result<StatusCode, ApiError> {
    api.run(move |e| e.remove_container(&id, q.force, q.v))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The terminal size of the container's tty (its attach socket takes resizes).
async fn resize(
    State(api): State<Api>,
    Path(id): Path<String>,
    Query(q): Query<crate::query::TerminalSize>,
) -> Result<StatusCode, ApiError> {
    let (rows, cols) = q.rows_cols();
    let full = record_of(&api, &id).await?.id;
    if !api.attachments.resize(&full, rows, cols) {
        api.run(move |e| e.resize_container(&id, rows, cols))
            .await?;
    }
    Ok(StatusCode::OK)
}

#[derive(Debug, Deserialize)]
struct TopQuery {
    ps_args: Option<String>,
}

async fn top(
    State(api): State<Api>,
    Path(id): Path<String>,
    Query(q): Query<TopQuery>,
) -> Result<Response, ApiError> {
    let args: Vec<String> = q
        .ps_args
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let (titles, processes) = api.run(move |e| e.top(&id, &args)).await?;
    Ok(Json(json!({"Titles": titles, "Processes": processes})).into_response())
}

async fn changes(State(api): State<Api>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let changes = api.run(move |e| e.container_diff(&id)).await?;
    let items: Vec<_> = changes
        .iter()
        .map(|c| {
            let kind = match c.kind {
                'C' => 0,
                'A' => 1,
                _ => 2,
            };
            json!({"Path": c.path, "Kind": kind})
        })
        .collect();
    Ok(Json(items).into_response())
}

async fn prune(State(api): State<Api>) -> Result<Response, ApiError> {
    let report = api.run(|e| e.prune_containers()).await?;
    Ok(Json(json!({
        "ContainersDeleted": report.removed,
        "SpaceReclaimed": report.reclaimed,
    }))
    .into_response())
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use serde_json::json;

    use crate::testing::{app, call};

    #[tokio::test]
    async fn container_routes_answer_docker_statuses_without_a_container() {
        let (_dir, app) = app();
        let cases: &[(&str, &str, Option<serde_json::Value>, StatusCode)] = &[
            (
                "POST",
                "/containers/create",
                Some(json!({"Cmd": ["true"]})),
                StatusCode::BAD_REQUEST,
            ),
            (
                "POST",
                "/containers/create",
                Some(json!({"Image": "nope:1"})),
                StatusCode::NOT_FOUND,
            ),
            (
                "POST",
                "/containers/create",
                Some(json!({"Image": "x", "HostConfig": {"PortBindings": {"80/sctp": [{}]}}})),
                StatusCode::BAD_REQUEST,
            ),
            (
                "POST",
                "/containers/create",
                Some(json!({"Image": "x", "HostConfig": {"RestartPolicy": {"Name": "sometimes"}}})),
                StatusCode::BAD_REQUEST,
            ),
            (
                "POST",
                "/containers/create",
                Some(
                    json!({"Image": "x", "HostConfig": {"Binds": ["/nope/docker.sock:/var/run/docker.sock"]}}),
                ),
                StatusCode::BAD_REQUEST,
            ),
            ("GET", "/containers/ghost/json", None, StatusCode::NOT_FOUND),
            (
                "POST",
                "/containers/ghost/start",
                None,
                StatusCode::NOT_FOUND,
            ),
            (
                "POST",
                "/containers/ghost/stop",
                None,
                StatusCode::NOT_FOUND,
            ),
            (
                "POST",
                "/containers/ghost/kill",
                None,
                StatusCode::NOT_FOUND,
            ),
            (
                "POST",
                "/containers/ghost/wait?condition=whenever",
                None,
                StatusCode::BAD_REQUEST,
            ),
            (
                "POST",
                "/containers/ghost/wait",
                None,
                StatusCode::NOT_FOUND,
            ),
            (
                "GET",
                "/containers/ghost/logs",
                None,
                StatusCode::BAD_REQUEST,
            ),
            (
                "GET",
                "/containers/ghost/logs?stdout=1",
                None,
                StatusCode::NOT_FOUND,
            ),
            ("DELETE", "/containers/ghost", None, StatusCode::NOT_FOUND),
            (
                "GET",
                "/containers/ghost/archive?path=/etc",
                None,
                StatusCode::NOT_FOUND,
            ),
            (
                "POST",
                "/containers/ghost/exec",
                Some(json!({"Cmd": ["true"]})),
                StatusCode::NOT_FOUND,
            ),
            ("GET", "/exec/00ff/json", None, StatusCode::NOT_FOUND),
            ("GET", "/exec/not-hex/json", None, StatusCode::BAD_REQUEST),
            ("POST", "/containers/prune", None, StatusCode::OK),
        ];
        for (method, uri, body, want) in cases {
            let (got, v) = call(&app, method, uri, body.clone()).await;
            assert_eq!(got, *want, "{method} {uri}: {v}");
            if got != StatusCode::OK {
                assert!(
                    v["message"].as_str().is_some_and(|m| !m.is_empty()),
                    "{method} {uri}: {v}"
                );
            }
        }
        let (_, v) = call(&app, "GET", "/containers/ghost/json", None).await;
        assert_eq!(v["message"], "No such container: ghost");
        let (_, v) = call(&app, "GET", "/exec/00ff/json", None).await;
        assert_eq!(v["message"], "No such exec instance: 00ff");
    }
}
