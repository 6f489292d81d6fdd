//! Hijacked connections: `POST /containers/{id}/attach` and `POST /exec/{id}/start` answer
//! `101 UPGRADED` (`Upgrade: tcp`), then the connection carries the process's stdin one way
//! and its output the other — raw with a tty, else in docker's 8-byte multiplexed frames. The
//! client half-closing its side is the process's stdin EOF; output continues until the process
//! ends, then the server closes its side.
//!
//! docker's clients attach before they start a container (so no output is lost): an attach to
//! a container that is not running waits, and a start through the API that finds a waiting
//! attach starts the container in wait-for-attach mode, so its first output reaches it.

use std::collections::HashMap;
use std::io::Write;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_engine::container::{ContainerConfig, ProcessControl, ProcessIo};
use berth_engine::{Engine, EngineError};
use berth_store::ContainerState;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio_util::io::SyncIoBridge;

use crate::error::ApiError;
use crate::query::flag;
use crate::Api;

/// Attaches waiting for their container to start, and the terminals of attached clients (for
/// `resize`), by container ID. In-flight connections only: nothing here outlives them.
#[derive(Debug, Default)]
pub struct Attachments {
    waiting: Mutex<HashMap<String, Vec<tokio::sync::oneshot::Sender<()>>>>,
    terminals: Mutex<HashMap<String, Sender<ProcessControl>>>,
}

impl Attachments {
    /// Wakes the attaches waiting for `id`; true when there were some (the caller then starts
    /// the container in wait-for-attach mode).
    pub fn release(&self, id: &str) -> bool {
        let waiters = self
            .waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id)
            .unwrap_or_default();
        let any = !waiters.is_empty();
        for w in waiters {
            let _ = w.send(());
        }
        any
    }

    /// Whether an attach waits for `id` to start.
    pub fn has_waiting(&self, id: &str) -> bool {
        self.waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .is_some_and(|w| !w.is_empty())
    }

    /// Sends a resize to the client attached to `id`; false when there is none.
    pub fn resize(&self, id: &str, rows: u16, cols: u16) -> bool {
        let terminals = self.terminals.lock().unwrap_or_else(|p| p.into_inner());
        terminals
            .get(id)
            .is_some_and(|t| t.send(ProcessControl::Resize { rows, cols }).is_ok())
    }

    fn wait_for(&self, id: &str) -> tokio::sync::oneshot::Receiver<()> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(id.to_string())
            .or_default()
            .push(tx);
        rx
    }
}

#[derive(Debug, Deserialize)]
pub struct AttachQuery {
    #[serde(default, deserialize_with = "flag")]
    stdin: bool,
    #[serde(default, deserialize_with = "flag")]
    stdout: bool,
    #[serde(default, deserialize_with = "flag")]
    stderr: bool,
}

/// The 101 answer, before the connection is handed over.
pub fn upgraded_response(tty: bool) -> Response {
    let mut r = StatusCode::SWITCHING_PROTOCOLS.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(crate::stream::content_type(tty)),
    );
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
    r
}

pub fn wants_upgrade(req: &Request) -> bool {
    req.headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("tcp"))
}

/// `POST /containers/{id}/attach?stream=1&stdin=1&stdout=1&stderr=1`.
pub async fn attach(
    State(api): State<Api>,
    Path(id): Path<String>,
    Query(q): Query<AttachQuery>,
    req: Request,
) -> Result<Response, ApiError> {
    let rec = {
        let id = id.clone();
        api.run(move |e| e.reconciled(&id)).await?
    };
    let config = ContainerConfig::from_json(&rec.config)?;
    let tty = config.spec.tty;
    let stdin = q.stdin && config.spec.open_stdin;
    if !wants_upgrade(&req) {
        return Err(ApiError::bad_request(
            "attach needs a hijacked connection: send Connection: Upgrade and Upgrade: tcp",
        ));
    }
    // Registered before the answer: the client starts the container once it has it.
    let started = (rec.state != ContainerState::Running).then(|| api.attachments.wait_for(&rec.id));
    let on_upgrade = hyper::upgrade::on(req);
    let id = rec.id.clone();
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(u) => u,
            Err(e) => {
                tracing::debug!(container_id = %id, error = %e, "attach: no upgrade");
                return;
            }
        };
        if let Some(started) = started {
            wait_started(&api, &id, started).await;
        }
        let want = Streams {
            stdin,
            stdout: q.stdout,
            stderr: q.stderr,
            tty,
        };
        let key = Some(id.clone());
        relay(api, upgraded, want, key, move |engine, io| {
            engine.attach(&id, io)
        })
        .await;
    });
    Ok(upgraded_response(tty))
}

/// Until a start through the API releases the attach, or the container is found running
/// (started by someone else).
async fn wait_started(api: &Api, id: &str, mut started: tokio::sync::oneshot::Receiver<()>) {
    loop {
        let tick = tokio::time::sleep(std::time::Duration::from_millis(100));
        tokio::select! {
            _ = &mut started => return,
            _ = tick => {
                let running = {
                    let id = id.to_string();
                    api.run(move |e| e.reconciled(&id).map(|r| r.state == ContainerState::Running))
                        .await
                };
                if !matches!(running, Ok(false)) {
                    return;
                }
            }
        }
    }
}

/// What the client asked to be connected.
#[derive(Debug, Clone, Copy)]
pub struct Streams {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

type Conn = tokio::io::WriteHalf<TokioIo<hyper::upgrade::Upgraded>>;

/// The connection's write side, shared by stdout and stderr: frames never interleave.
#[derive(Clone)]
struct Shared(Arc<Mutex<SyncIoBridge<Conn>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("writer poisoned"))?
            .write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("writer poisoned"))?
            .flush()
    }
}

/// Runs `call` with the upgraded connection as the process's streams, on a blocking thread;
/// closes the connection's write side when it returns. With a tty, `terminal` names the
/// process for `resize` requests.
pub async fn relay(
    api: Api,
    upgraded: hyper::upgrade::Upgraded,
    want: Streams,
    terminal: Option<String>,
    call: impl FnOnce(&Engine, ProcessIo) -> Result<i32, EngineError> + Send + 'static,
) {
    let (read, write) = tokio::io::split(TokioIo::new(upgraded));
    let out = Shared(Arc::new(Mutex::new(SyncIoBridge::new(write))));
    let (stdout, stderr) = crate::stream::output_writers(&out, want.tty, want.stdout, want.stderr);
    let mut io = ProcessIo::new(stdout, stderr);
    if want.stdin {
        io.stdin = Some(Box::new(SyncIoBridge::new(read)));
    }
    let terminal = terminal.filter(|_| want.tty);
    if let Some(key) = &terminal {
        let (tx, rx) = std::sync::mpsc::channel();
        api.attachments
            .terminals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.clone(), tx);
        io.control = Some(rx);
    }
    let engine = api.engine.clone();
    let result = tokio::task::spawn_blocking(move || {
        let result = call(&engine, io);
        // The end of the output: the client reads EOF, then asks for the exit code.
        if let Ok(mut w) = out.0.lock() {
            let _ = w.flush();
            let _ = w.shutdown();
        }
        result
    })
    .await;
    if let Some(key) = terminal {
        api.attachments
            .terminals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key);
    }
    if let Ok(Err(e)) = &result {
        tracing::debug!(error = %e, "hijacked stream ended with an error");
    }
}
