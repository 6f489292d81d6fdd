//! What an operator watches: `/metrics` in Prometheus' text format, and one structured access
//! log line (a JSON object) per request.
//!
//! Both come from one middleware around the router, so no handler carries bookkeeping. The
//! request and response bodies are wrapped to count their bytes as they stream; the access line
//! is written when the response body is finished or dropped (a client that goes away mid-blob
//! is logged with `"complete": false` and the bytes it got). Lines go to a writer thread
//! through a bounded queue: a slow log destination drops lines (counted in
//! `berth_registry_access_log_dropped_total`) rather than stall requests.
//!
//! Upload sessions are counted from the protocol's answers (202 to a POST that opens one, 201
//! to the PUT that finishes one, 204 to a DELETE that cancels one), so the count needs no hook
//! in the upload code and holds whatever stores the sessions.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode};
use axum::middleware::Next;
use axum::serve::IncomingStream;
use http_body::{Body as HttpBody, Frame, SizeHint};
use serde::Serialize;

use crate::server::routes::{basic_credentials, parse_route, Route};
use crate::server::tls::TlsListener;
use crate::server::App;

/// Upper bounds of the request-duration histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0,
];

/// Lines waiting for the access-log writer before new ones are dropped.
const LOG_QUEUE: usize = 4096;

/// Where access log lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessLog {
    Off,
    Stdout,
    /// Appended to.
    File(PathBuf),
}

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    total: u64,
}

/// Counters since the process started.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    /// (route, method, status) → requests.
    requests: Mutex<BTreeMap<(&'static str, String, u16), u64>>,
    /// route → durations (until the response head).
    durations: Mutex<BTreeMap<&'static str, Histogram>>,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    uploads_started: AtomicU64,
    uploads_completed: AtomicU64,
    uploads_cancelled: AtomicU64,
    gc_ok: AtomicU64,
    gc_failed: AtomicU64,
    gc_blobs_removed: AtomicU64,
    gc_bytes_freed: AtomicU64,
    gc_last_success: AtomicU64,
    log_dropped: AtomicU64,
    log: Option<Mutex<SyncSender<String>>>,
}

impl Metrics {
    /// Starts the access-log writer thread for `log`.
    pub(crate) fn new(log: &AccessLog) -> std::io::Result<Metrics> {
        let sink: Box<dyn Write + Send> = match log {
            AccessLog::Off => return Ok(Metrics::default()),
            AccessLog::Stdout => Box::new(std::io::stdout()),
            AccessLog::File(path) => Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            ),
        };
        let (tx, rx) = sync_channel::<String>(LOG_QUEUE);
        std::thread::Builder::new()
            .name("registry-access-log".into())
            .spawn(move || {
                let mut sink = std::io::LineWriter::new(sink);
                for line in rx {
                    // A destination that fails (a closed pipe, a full disk) must not take the
                    // server down; the lines are lost, as they would be dropped when slow.
                    if sink.write_all(line.as_bytes()).is_err() {
                        continue;
                    }
                }
            })?;
        Ok(Metrics {
            log: Some(Mutex::new(tx)),
            ..Metrics::default()
        })
    }

    fn record(&self, route: &'static str, method: &Method, status: StatusCode, secs: f64) {
        let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        *requests
            .entry((route, method.as_str().to_owned(), status.as_u16()))
            .or_default() += 1;
        drop(requests);
        let mut durations = self.durations.lock().unwrap_or_else(|e| e.into_inner());
        let h = durations.entry(route).or_default();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                h.counts[i] += 1;
            }
        }
        h.sum += secs;
        h.total += 1;
    }

    fn count_upload(&self, route: &Route, method: &Method, status: StatusCode) {
        let counter = match (route, method, status) {
            (Route::Uploads(_), &Method::POST, StatusCode::ACCEPTED) => &self.uploads_started,
            (Route::Upload(..), &Method::PUT, StatusCode::CREATED) => &self.uploads_completed,
            (Route::Upload(..), &Method::DELETE, StatusCode::NO_CONTENT) => &self.uploads_cancelled,
            _ => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Records one garbage-collection run.
    pub(crate) fn gc_ran(&self, result: Result<(u64, u64), ()>) {
        match result {
            Ok((blobs, bytes)) => {
                self.gc_ok.fetch_add(1, Ordering::Relaxed);
                self.gc_blobs_removed.fetch_add(blobs, Ordering::Relaxed);
                self.gc_bytes_freed.fetch_add(bytes, Ordering::Relaxed);
                self.gc_last_success.store(unix_now(), Ordering::Relaxed);
            }
            Err(()) => {
                self.gc_failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn log(&self, line: String) {
        let Some(tx) = &self.log else { return };
        let tx = tx.lock().unwrap_or_else(|e| e.into_inner());
        match tx.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.log_dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        family(
            &mut out,
            "berth_registry_http_requests_total",
            "counter",
            "Requests answered, by route, method and status.",
        );
        let requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        for ((route, method, status), n) in requests.iter() {
            out.push_str(&format!(
                "berth_registry_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {n}\n"
            ));
        }
        drop(requests);
        out.push_str(
            "# HELP berth_registry_http_request_duration_seconds Time to the response head, by route.\n\
             # TYPE berth_registry_http_request_duration_seconds histogram\n",
        );
        let durations = self.durations.lock().unwrap_or_else(|e| e.into_inner());
        for (route, h) in durations.iter() {
            for (bound, n) in BUCKETS.iter().zip(h.counts) {
                out.push_str(&format!(
                    "berth_registry_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {n}\n"
                ));
            }
            out.push_str(&format!(
                "berth_registry_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {t}\n\
                 berth_registry_http_request_duration_seconds_sum{{route=\"{route}\"}} {s}\n\
                 berth_registry_http_request_duration_seconds_count{{route=\"{route}\"}} {t}\n",
                t = h.total,
                s = h.sum
            ));
        }
        drop(durations);
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let started = load(&self.uploads_started);
        let finished = load(&self.uploads_completed) + load(&self.uploads_cancelled);
        let scalars: [(&str, &str, &str, String); 12] = [
            ("berth_registry_http_received_bytes_total", "counter", "Request body bytes read.", load(&self.bytes_in).to_string()),
            ("berth_registry_http_sent_bytes_total", "counter", "Response body bytes sent.", load(&self.bytes_out).to_string()),
            ("berth_registry_upload_sessions_started_total", "counter", "Blob upload sessions opened through this instance.", started.to_string()),
            ("berth_registry_upload_sessions_completed_total", "counter", "Blob upload sessions finished through this instance.", load(&self.uploads_completed).to_string()),
            ("berth_registry_upload_sessions_cancelled_total", "counter", "Blob upload sessions cancelled through this instance.", load(&self.uploads_cancelled).to_string()),
            ("berth_registry_upload_sessions_open", "gauge", "Sessions opened through this instance and not yet finished or cancelled through it.", started.saturating_sub(finished).to_string()),
            ("berth_registry_gc_runs_total{result=\"ok\"}", "counter", "Garbage-collection runs while serving.", load(&self.gc_ok).to_string()),
            ("berth_registry_gc_runs_total{result=\"error\"}", "", "", load(&self.gc_failed).to_string()),
            ("berth_registry_gc_blobs_removed_total", "counter", "Blobs removed by garbage collection.", load(&self.gc_blobs_removed).to_string()),
            ("berth_registry_gc_freed_bytes_total", "counter", "Bytes freed by garbage collection.", load(&self.gc_bytes_freed).to_string()),
            ("berth_registry_gc_last_success_timestamp_seconds", "gauge", "When the last garbage collection succeeded (0: never).", load(&self.gc_last_success).to_string()),
            ("berth_registry_access_log_dropped_total", "counter", "Access log lines dropped because the destination was too slow.", load(&self.log_dropped).to_string()),
        ];
        for (name, kind, help, value) in scalars {
            if !kind.is_empty() {
                let base = name.split('{').next().unwrap_or(name);
                family(&mut out, base, kind, help);
            }
            out.push_str(&format!("{name} {value}\n"));
        }
        family(
            &mut out,
            "berth_registry_build_info",
            "gauge",
            "The running version.",
        );
        out.push_str(&format!(
            "berth_registry_build_info{{version=\"{}\"}} 1\n",
            env!("CARGO_PKG_VERSION")
        ));
        out
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The route's label: a fixed set, never a repository name (names are unbounded).
fn route_label(path: &str) -> (&'static str, Option<Route>) {
    if path == "/token" {
        return ("token", None);
    }
    if path == "/v1/search" {
        return ("search", None);
    }
    if path == "/metrics" {
        return ("metrics", None);
    }
    let Some(rest) = path.strip_prefix("/v2/").or((path == "/v2").then_some("")) else {
        return ("web", None);
    };
    let Some(route) = parse_route(rest) else {
        return ("unknown", None);
    };
    let label = match route {
        Route::Base => "base",
        Route::Catalog => "catalog",
        Route::Tags(_) => "tags",
        Route::Manifest(..) => "manifest",
        Route::Blob(..) => "blob",
        Route::Uploads(_) | Route::Upload(..) => "upload",
        Route::Referrers(..) => "referrers",
    };
    (label, Some(route))
}

/// The user a request names: a token's subject, or a Basic user. Unverified Basic names are
/// logged as given; a token that does not verify names nobody.
fn requester(app: &App, headers: &HeaderMap) -> String {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return String::new();
    };
    if let Some(token) = value.strip_prefix("Bearer ") {
        return app
            .access
            .verify(token.trim())
            .map(|c| c.sub)
            .unwrap_or_default();
    }
    basic_credentials(value).map(|(u, _)| u).unwrap_or_default()
}

/// One access log line.
#[derive(Debug, Serialize)]
struct AccessLine {
    time: String,
    remote: String,
    method: String,
    path: String,
    route: &'static str,
    status: u16,
    user: String,
    user_agent: String,
    bytes_in: u64,
    bytes_out: u64,
    /// Until the response head.
    duration_ms: f64,
    /// Until the body was finished or dropped.
    total_ms: f64,
    /// False when the client went away before the whole body was sent.
    complete: bool,
}

/// The peer of a connection, plain or TLS (axum knows only its own listener's address).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientAddr(pub SocketAddr);

impl Connected<IncomingStream<'_, tokio::net::TcpListener>> for ClientAddr {
    fn connect_info(stream: IncomingStream<'_, tokio::net::TcpListener>) -> ClientAddr {
        ClientAddr(*stream.remote_addr())
    }
}

impl Connected<IncomingStream<'_, TlsListener>> for ClientAddr {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> ClientAddr {
        ClientAddr(*stream.remote_addr())
    }
}

/// The middleware: serves `/metrics`, counts, and logs.
pub(crate) async fn observe(
    State(app): State<Arc<App>>,
    req: Request,
    next: Next,
) -> Response<Body> {
    let start = Instant::now();
    let path = req.uri().path().to_owned();
    if path == "/metrics" && (req.method() == Method::GET || req.method() == Method::HEAD) {
        let mut resp = Response::new(Body::from(app.metrics.render()));
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        );
        app.metrics.record(
            "metrics",
            req.method(),
            StatusCode::OK,
            start.elapsed().as_secs_f64(),
        );
        return resp;
    }
    let (label, route) = route_label(&path);
    let method = req.method().clone();
    let line = AccessLine {
        time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        remote: req
            .extensions()
            .get::<ConnectInfo<ClientAddr>>()
            .map(|c| c.0 .0.to_string())
            .unwrap_or_default(),
        method: method.to_string(),
        path: req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or(path),
        route: label,
        status: 0,
        user: requester(&app, req.headers()),
        user_agent: req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned(),
        bytes_in: 0,
        bytes_out: 0,
        duration_ms: 0.0,
        total_ms: 0.0,
        complete: false,
    };
    let bytes_in = Arc::new(AtomicU64::new(0));
    let req = req.map(|body| {
        Body::new(Counted {
            inner: body,
            bytes: 0,
            tally: Some(Tally::In(app.clone(), bytes_in.clone())),
        })
    });
    let resp = next.run(req).await;
    let status = resp.status();
    let head = start.elapsed();
    app.metrics
        .record(label, &method, status, head.as_secs_f64());
    if let Some(route) = &route {
        app.metrics.count_upload(route, &method, status);
    }
    let done = Done {
        app: app.clone(),
        line: AccessLine {
            status: status.as_u16(),
            duration_ms: head.as_secs_f64() * 1e3,
            ..line
        },
        start,
        bytes_in,
    };
    resp.map(|body| {
        Body::new(Counted {
            inner: body,
            bytes: 0,
            tally: Some(Tally::Out(Box::new(done))),
        })
    })
}

/// What a finished response writes.
struct Done {
    app: Arc<App>,
    line: AccessLine,
    start: Instant,
    bytes_in: Arc<AtomicU64>,
}

enum Tally {
    /// A request body: adds to the request's count and the server's.
    In(Arc<App>, Arc<AtomicU64>),
    /// A response body: logs the request when finished or dropped.
    Out(Box<Done>),
}

/// A body that counts the bytes that pass through it.
struct Counted {
    inner: Body,
    bytes: u64,
    tally: Option<Tally>,
}

impl Counted {
    fn finish(&mut self, complete: bool) {
        match self.tally.take() {
            Some(Tally::In(..)) | None => {}
            Some(Tally::Out(done)) => {
                let Done {
                    app,
                    mut line,
                    start,
                    bytes_in,
                } = *done;
                line.bytes_in = bytes_in.load(Ordering::Relaxed);
                line.bytes_out = self.bytes;
                line.total_ms = start.elapsed().as_secs_f64() * 1e3;
                line.complete = complete;
                if let Ok(mut json) = serde_json::to_string(&line) {
                    json.push('\n');
                    app.metrics.log(json);
                }
            }
        }
    }
}

impl HttpBody for Counted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let n = data.len() as u64;
                    this.bytes += n;
                    match &this.tally {
                        Some(Tally::In(app, request)) => {
                            request.fetch_add(n, Ordering::Relaxed);
                            app.metrics.bytes_in.fetch_add(n, Ordering::Relaxed);
                        }
                        Some(Tally::Out(done)) => {
                            done.app.metrics.bytes_out.fetch_add(n, Ordering::Relaxed);
                        }
                        None => {}
                    }
                }
            }
            Poll::Ready(None) => this.finish(true),
            Poll::Ready(Some(Err(_))) => this.finish(false),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        // hyper drops a body it knows is empty (or exhausted by its length) without polling it
        // to the end; a body that reports its end is complete.
        let complete = self.inner.is_end_stream();
        self.finish(complete);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_labels_never_carry_names() {
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        for (path, label) in [
            ("/v2/", "base"),
            ("/v2", "base"),
            ("/v2/_catalog", "catalog"),
            ("/v2/alice/app/tags/list", "tags"),
            ("/v2/alice/app/manifests/latest", "manifest"),
            (&format!("/v2/a/blobs/{d}") as &str, "blob"),
            ("/v2/a/blobs/uploads/", "upload"),
            ("/v2/a/blobs/uploads/abc", "upload"),
            ("/v2/a/what", "unknown"),
            ("/token", "token"),
            ("/v1/search", "search"),
            ("/metrics", "metrics"),
            ("/r/alice/app", "web"),
        ] {
            assert_eq!(route_label(path).0, label, "{path}");
        }
    }

    #[test]
    fn the_exposition_is_prometheus_text() {
        let m = Metrics::default();
        m.record("blob", &Method::GET, StatusCode::OK, 0.003);
        m.record("blob", &Method::GET, StatusCode::OK, 2.0);
        m.record("manifest", &Method::PUT, StatusCode::CREATED, 0.02);
        m.count_upload(
            &Route::Uploads("a".into()),
            &Method::POST,
            StatusCode::ACCEPTED,
        );
        m.count_upload(
            &Route::Uploads("a".into()),
            &Method::POST,
            StatusCode::ACCEPTED,
        );
        m.count_upload(
            &Route::Upload("a".into(), "x".into()),
            &Method::PUT,
            StatusCode::CREATED,
        );
        // A refused upload is not a session.
        m.count_upload(
            &Route::Uploads("a".into()),
            &Method::POST,
            StatusCode::UNAUTHORIZED,
        );
        m.gc_ran(Ok((3, 300)));
        m.gc_ran(Err(()));
        let text = m.render();
        for want in [
            "berth_registry_http_requests_total{route=\"blob\",method=\"GET\",status=\"200\"} 2\n",
            "berth_registry_http_requests_total{route=\"manifest\",method=\"PUT\",status=\"201\"} 1\n",
            "berth_registry_http_request_duration_seconds_bucket{route=\"blob\",le=\"0.005\"} 1\n",
            "berth_registry_http_request_duration_seconds_bucket{route=\"blob\",le=\"+Inf\"} 2\n",
            "berth_registry_http_request_duration_seconds_count{route=\"blob\"} 2\n",
            "berth_registry_upload_sessions_started_total 2\n",
            "berth_registry_upload_sessions_open 1\n",
            "berth_registry_gc_runs_total{result=\"ok\"} 1\n",
            "berth_registry_gc_runs_total{result=\"error\"} 1\n",
            "berth_registry_gc_blobs_removed_total 3\n",
            "# TYPE berth_registry_gc_runs_total counter\n",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        // Every sample line is `name{labels} value` with a numeric value, and every family
        // has its TYPE before its samples.
        let mut typed = std::collections::HashSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                typed.insert(rest.split(' ').next().unwrap_or("").to_owned());
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').expect("sample");
            assert!(value.parse::<f64>().is_ok(), "{line}");
            let name = series.split('{').next().unwrap_or("");
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .filter(|f| typed.contains(*f))
                .unwrap_or(name);
            assert!(typed.contains(family), "no TYPE before {line}");
        }
    }
}
