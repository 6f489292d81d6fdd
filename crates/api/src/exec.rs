//! `POST /containers/{id}/exec`, `POST /exec/{id}/start` (detached, hijacked, or streamed),
//! `POST /exec/{id}/resize`, `GET /exec/{id}/json`.

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use berth_engine::container::{ExecInstance, ProcessIo};
use serde::Deserialize;
use serde_json::json;

use crate::error::ApiError;
use crate::hijack::{self, Streams};
use crate::Api;

pub fn routes() -> Router<Api> {
    Router::new()
        .route("/containers/{id}/exec", post(create))
        .route("/exec/{id}/start", post(start))
        .route("/exec/{id}/resize", post(resize))
        .route("/exec/{id}/json", get(inspect))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct CreateBody {
    attach_stdin: bool,
    attach_stdout: bool,
    attach_stderr: bool,
    tty: bool,
    env: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
    privileged: bool,
    user: String,
    working_dir: String,
    /// `[height, width]`.
    console_size: Option<[u16; 2]>,
}

async fn create(
    State(api): State<Api>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let b: CreateBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid exec config: {e}")))?;
    if b.privileged {
        return Err(ApiError::bad_request(
            "exec with Privileged is not supported: start the container privileged instead",
        ));
    }
    let instance = ExecInstance {
        cmd: b.cmd.unwrap_or_default(),
        env: b.env.unwrap_or_default(),
        workdir: Some(b.working_dir).filter(|w| !w.is_empty()),
        user: Some(b.user).filter(|u| !u.is_empty()),
        tty: b.tty,
        console_size: b
            .console_size
            .filter(|[h, w]| *h > 0 && *w > 0)
            .map(|[h, w]| (h, w)),
        attach_stdin: b.attach_stdin,
        attach_stdout: b.attach_stdout,
        attach_stderr: b.attach_stderr,
        ..Default::default()
    };
    let exec_id = api.run(move |e| e.create_exec(&id, instance)).await?;
    Ok((StatusCode::CREATED, Json(json!({"Id": exec_id}))).into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct StartBody {
    detach: bool,
}

async fn start(
    State(api): State<Api>,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, ApiError> {
    let upgrade = hijack::wants_upgrade(&req);
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .map_err(|e| ApiError::bad_request(format!("exec start body: {e}")))?;
    let b: StartBody = if bytes.is_empty() {
        StartBody::default()
    } else {
        serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::bad_request(format!("invalid exec start config: {e}")))?
    };
    let instance = {
        let id = id.clone();
        api.run(move |e| e.exec_instance(&id)).await?
    };
    if instance.started {
        return Err(ApiError::conflict(format!(
            "exec {id} has already been started"
        )));
    }
    if b.detach {
        let sink = || Box::new(std::io::sink());
        api.run(move |e| e.start_exec(&id, true, ProcessIo::new(sink(), sink())))
            .await?;
        return Ok(StatusCode::OK.into_response());
    }
    let want = Streams {
        stdin: instance.attach_stdin,
        stdout: instance.attach_stdout,
        stderr: instance.attach_stderr,
        tty: instance.tty,
    };
    if upgrade {
        let on_upgrade = hyper::upgrade::on(Request::from_parts(parts, axum::body::Body::empty()));
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => {
                    let key = Some(id.clone());
                    hijack::relay(api, upgraded, want, key, move |engine, io| {
                        engine.start_exec(&id, false, io)
                    })
                    .await
                }
                Err(e) => tracing::debug!(exec_id = %id, error = %e, "exec start: no upgrade"),
            }
        });
        return Ok(hijack::upgraded_response(instance.tty));
    }
    // No hijack asked for: the output as the body (without stdin).
    let (body, out, _hangup) = crate::stream::body();
    let engine = api.engine.clone();
    tokio::task::spawn_blocking(move || {
        let (stdout, stderr) =
            crate::stream::output_writers(&out, want.tty, want.stdout, want.stderr);
        let io = ProcessIo::new(stdout, stderr);
        if let Err(e) = engine.start_exec(&id, false, io) {
            tracing::debug!(exec_id = %id, error = %e, "exec ended with an error");
        }
    });
    let content_type = crate::stream::content_type(want.tty);
    Ok(([(header::CONTENT_TYPE, content_type)], body).into_response())
}

async fn resize(
    State(api): State<Api>,
    Path(id): Path<String>,
    Query(q): Query<crate::query::TerminalSize>,
) -> Result<StatusCode, ApiError> {
    let instance = {
        let id = id.clone();
        api.run(move |e| e.exec_instance(&id)).await?
    };
    if !instance.running {
        return Err(ApiError::conflict(format!("exec {id} is not running")));
    }
    let (rows, cols) = q.rows_cols();
    api.attachments.resize(&id, rows, cols);
    Ok(StatusCode::OK)
}

async fn inspect(State(api): State<Api>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let e = api.run(move |engine| engine.exec_instance(&id)).await?;
    let (entrypoint, arguments) = e
        .cmd
        .split_first()
        .map(|(a, rest)| (a.clone(), rest.to_vec()))
        .unwrap_or_default();
    Ok(Json(json!({
        "ID": e.id,
        "Running": e.running,
        "ExitCode": e.exit_code,
        "ProcessConfig": {
            "tty": e.tty,
            "entrypoint": entrypoint,
            "arguments": arguments,
            "privileged": false,
            "user": e.user.unwrap_or_default(),
        },
        "OpenStdin": e.attach_stdin,
        "OpenStderr": e.attach_stderr,
        "OpenStdout": e.attach_stdout,
        "CanRemove": false,
        "ContainerID": e.container_id,
        "DetachKeys": "",
        "Pid": 0,
    }))
    .into_response())
}
