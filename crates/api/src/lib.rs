//! The Docker Engine API over berth's engine: what `berth serve` answers on its socket, so that
//! the docker CLI, Compose, docker-py, testcontainers and bollard drive berth.
//!
//! This crate is a thin front end. Each route parses docker's request (path, query, JSON body)
//! into the engine's typed options, calls the engine on a blocking thread, and shapes the
//! answer as docker's JSON; streams (logs, events, pull and build progress) are JSON lines or
//! docker's 8-byte multiplexed frames, and attach/exec hijack the connection. It keeps no
//! state of its own: containers live under their monitors, and everything else is in the
//! engine's root, so the CLI and the API see the same world and a restart of the server loses
//! nothing. It must not reach below the engine (no store, runtime or network calls of its own).
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let engine = berth_engine::Engine::open(berth_engine::EngineConfig::new("/var/lib/berth"))?;
//! let config = berth_api::ServeConfig {
//!     listen: vec![berth_api::Listen::Unix("/run/berth/berth.sock".into())],
//!     ..Default::default()
//! };
//! berth_api::serve(std::sync::Arc::new(engine), config)?;
//! # Ok(()) }
//! ```

use std::sync::Arc;

use axum::Router;
use berth_engine::{Engine, EngineError};

mod archive;
mod build;
mod containers;
mod error;
mod exec;
mod fds;
mod hijack;
mod images;
mod networks;
mod query;
mod server;
mod stream;
mod system;
mod trim;
mod version;
mod volumes;

pub use error::ApiError;
pub use server::{serve, Listen, ServeConfig, ServeError, TlsFiles};
pub use version::{API_VERSION, MIN_API_VERSION};

/// What every handler shares: the one engine.
#[derive(Clone)]
pub(crate) struct Api {
    engine: Arc<Engine>,
    attachments: Arc<hijack::Attachments>,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api").finish_non_exhaustive()
    }
}

impl Api {
    /// Runs `f` on the engine on a blocking thread: engine calls do file and process I/O.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Engine) -> Result<T, EngineError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let engine = self.engine.clone();
        tokio::task::spawn_blocking(move || f(&engine))
            .await
            .map_err(|e| ApiError::internal(format!("engine task failed: {e}")))?
            .map_err(ApiError::from)
    }
}

/// The API's routes over `engine`, with docker's version prefixes (`/v1.44/...`) accepted.
pub fn router(engine: Arc<Engine>) -> Router {
    router_with(engine, Arc::default())
}

/// [`router`], counting requests into `activity`.
pub(crate) fn router_with(engine: Arc<Engine>, activity: Arc<trim::Activity>) -> Router {
    let api = Api {
        engine,
        attachments: Arc::default(),
    };
    let routes = Router::new()
        .merge(system::routes())
        .merge(containers::routes())
        .merge(archive::routes())
        .merge(exec::routes())
        .merge(images::routes())
        .merge(build::routes())
        .merge(networks::routes())
        .merge(volumes::routes())
        .fallback(error::page_not_found)
        .with_state(api);
    version::versioned(routes).layer(axum::middleware::from_fn_with_state(activity, log_request))
}

/// Every request, with its answer's status and how long the answer took to start.
async fn log_request(
    axum::extract::State(activity): axum::extract::State<Arc<trim::Activity>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    activity.note();
    let (method, uri) = (req.method().clone(), req.uri().clone());
    let t0 = std::time::Instant::now();
    let resp = next.run(req).await;
    tracing::info!(
        %method,
        uri = %uri,
        status = resp.status().as_u16(),
        ms = t0.elapsed().as_secs_f64() * 1e3,
        "request"
    );
    resp
}

/// In-process requests against the router, for the routes' tests.
#[cfg(test)]
pub(crate) mod testing {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    /// A test's temporary root. Dropping it also deletes the bridge and nft table the engine
    /// chose for the root (recorded in `net/config.json`) and unmounts its network
    /// namespaces: host-level things a temporary directory's removal does not reach.
    #[derive(Debug)]
    pub struct Root(tempfile::TempDir);

    impl Root {
        pub fn new() -> Self {
            Self(tempfile::tempdir().expect("temp dir"))
        }

        pub fn path(&self) -> &std::path::Path {
            self.0.path()
        }

        /// An engine config for this root: its own network names, chosen under the one host
        /// lock every root uses (so that concurrent tests never pick the same subnet).
        pub fn config(&self) -> berth_engine::EngineConfig {
            let mut config = berth_engine::EngineConfig::new(self.path());
            config.net = berth_net::NetSettings::new(
                self.path().join("net"),
                berth_net::NetScope::Root,
                std::path::PathBuf::from(berth_engine::HOST_NET_LOCK),
            );
            config
        }
    }

    impl Drop for Root {
        fn drop(&mut self) {
            // The network namespaces kept for the next starts are mounts in the run root
            // (draining waits for a monitor still filling the pool).
            let run_root = berth_engine::EngineConfig::new(self.path()).run_root;
            if let Err(e) = berth_engine::container::netns_pool(&run_root).drain() {
                eprintln!("cannot empty the network namespace pool: {e}");
            }
            let net = self.path().join("net");
            if let Ok(rd) = std::fs::read_dir(net.join("netns")) {
                for e in rd.flatten() {
                    let _ = rustix::mount::unmount(e.path(), rustix::mount::UnmountFlags::DETACH);
                }
            }
            let Ok(text) = std::fs::read_to_string(net.join("config.json")) else {
                return;
            };
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
                return;
            };
            if let Some(bridge) = v["bridge"].as_str() {
                let _ = std::process::Command::new("ip")
                    .args(["link", "del", bridge])
                    .output();
            }
            if let Some(table) = v["table"].as_str() {
                let _ = std::process::Command::new("nft")
                    .args(["delete", "table", "ip", table])
                    .output();
            }
        }
    }

    /// A router over an engine in a fresh temporary root (cleaned up with the returned guard).
    pub fn app() -> (Root, axum::Router) {
        let root = Root::new();
        let engine = berth_engine::Engine::open(root.config()).expect("engine");
        (root, super::router(std::sync::Arc::new(engine)))
    }

    /// Sends one request; the status and the body (JSON when it parses, else a string).
    pub async fn call(
        app: &axum::Router,
        method: &str,
        uri: &str,
        body: Option<serde_json::Value>,
    ) -> (StatusCode, serde_json::Value) {
        let mut req = Request::builder().method(method).uri(uri);
        let body = match body {
            Some(v) => {
                req = req.header("content-type", "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        let resp = app
            .clone()
            .oneshot(req.body(body).expect("request"))
            .await
            .expect("infallible");
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 64 << 20)
            .await
            .expect("body");
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&bytes).into()));
        (status, value)
    }
}
