//! `berth registry serve`: an OCI distribution-spec v1.1 registry over a directory, with
//! Docker Hub style users (htpasswd, bcrypt), bearer tokens, namespaces and private
//! repositories, optional TLS and online garbage collection.
//!
//! axum and tokio carry the HTTP (the Engine API uses them too); storage work runs on
//! blocking threads and uploads stream to disk through a bounded channel.

mod access;
mod blobs;
mod body;
mod error;
mod gc;
mod listing;
mod manifests;
mod metrics;
mod routes;
mod search;
mod storage;
pub mod tls;
mod token;
mod uploads;
pub mod users;
mod web;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

pub use error::ServerError;
pub use gc::{GcOptions, GcReport};
pub use metrics::AccessLog;
pub use storage::{RepoMeta, S3Config, S3ConfigError, Storage};

/// PEM files for TLS.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// How `berth registry serve` runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The storage directory.
    pub root: PathBuf,
    pub listen: SocketAddr,
    /// Users (`user:bcrypt-hash` lines). Without it, anyone may pull and push anything.
    pub htpasswd: Option<PathBuf>,
    /// The token endpoint advertised in challenges; by default `http(s)://<Host>/token`.
    pub realm: Option<String>,
    /// The `service` named in challenges and tokens.
    pub service: String,
    /// Whether a repository created by a push is private (the owner alone pulls it).
    pub private_by_default: bool,
    pub tls: Option<TlsFiles>,
    pub token_ttl: Duration,
    /// Run garbage collection this often while serving (`None`: only when asked).
    pub gc_interval: Option<Duration>,
    pub gc: GcOptions,
    /// Maintenance mode: pulls are served, every write (push, delete, upload) is refused, and
    /// no garbage collection runs.
    pub read_only: bool,
    /// Keep the registry in an S3 bucket instead of `root` (which then holds only the local
    /// files: `access.json`).
    pub s3: Option<S3Config>,
    /// Where one JSON line per request goes.
    pub access_log: AccessLog,
}

impl ServerConfig {
    pub fn new(root: impl Into<PathBuf>, listen: SocketAddr) -> ServerConfig {
        ServerConfig {
            root: root.into(),
            listen,
            htpasswd: None,
            realm: None,
            service: "berth-registry".to_owned(),
            private_by_default: false,
            tls: None,
            token_ttl: Duration::from_secs(300),
            gc_interval: None,
            gc: GcOptions::default(),
            read_only: false,
            s3: None,
            access_log: AccessLog::Off,
        }
    }
}

/// Shared by every request.
#[derive(Debug)]
pub(crate) struct App {
    pub store: Storage,
    pub access: access::Access,
    pub config: ServerConfig,
    pub uploads: Mutex<HashMap<String, uploads::Slot>>,
    pub metrics: metrics::Metrics,
}

impl std::fmt::Debug for uploads::Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            uploads::Slot::Busy => "Busy",
            uploads::Slot::Idle { .. } => "Idle",
        })
    }
}

fn build_app(config: &ServerConfig) -> Result<(Arc<App>, axum::Router), ServerError> {
    let io = |source| ServerError::Io {
        path: config.root.clone(),
        source,
    };
    let store = match &config.s3 {
        Some(s3) => {
            Storage::open_s3(s3.clone(), &config.root).map_err(|source| ServerError::Io {
                path: s3.url().into(),
                source,
            })?
        }
        None => Storage::open(&config.root).map_err(io)?,
    };
    let access = access::Access::open(
        &store,
        config.htpasswd.clone(),
        config.service.clone(),
        config.token_ttl,
        config.private_by_default,
    )
    .map_err(|source| ServerError::Io {
        path: store.location().into(),
        source,
    })?;
    let app = Arc::new(App {
        store,
        access,
        config: config.clone(),
        uploads: Mutex::new(HashMap::new()),
        metrics: metrics::Metrics::new(&config.access_log).map_err(io)?,
    });
    let router = axum::Router::new()
        .fallback(routes::dispatch)
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            metrics::observe,
        ))
        .with_state(app.clone());
    Ok((app, router))
}

fn runtime() -> Result<tokio::runtime::Runtime, ServerError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("berth-registry")
        .build()
        .map_err(ServerError::Runtime)
}

async fn run(
    app: Arc<App>,
    router: axum::Router,
    listener: tokio::net::TcpListener,
) -> Result<(), ServerError> {
    if let Some(every) = app.config.gc_interval.filter(|_| !app.config.read_only) {
        let store = app.store.clone();
        let opts = app.config.gc.clone();
        let gc_app = app.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let (s, o) = (store.clone(), opts.clone());
                match tokio::task::spawn_blocking(move || s.gc(&o)).await {
                    Ok(Ok(r)) => {
                        gc_app
                            .metrics
                            .gc_ran(Ok((r.blobs_removed.len() as u64, r.bytes_freed)));
                        tracing::info!(removed = r.blobs_removed.len(), freed = r.bytes_freed, "gc")
                    }
                    Ok(Err(e)) => {
                        gc_app.metrics.gc_ran(Err(()));
                        tracing::warn!(error = %e, "gc failed")
                    }
                    Err(e) => tracing::warn!(error = %e, "gc task failed"),
                }
            }
        });
    }
    match &app.config.tls {
        Some(files) => {
            let acceptor = tls::acceptor(&files.cert, &files.key)?;
            let tls = tls::TlsListener::new(listener, acceptor).map_err(ServerError::Runtime)?;
            axum::serve(
                tls,
                router.into_make_service_with_connect_info::<metrics::ClientAddr>(),
            )
            .await
            .map_err(ServerError::Runtime)
        }
        None => axum::serve(
            listener,
            router.into_make_service_with_connect_info::<metrics::ClientAddr>(),
        )
        .await
        .map_err(ServerError::Runtime),
    }
}

async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, ServerError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })
}

/// Serves until the process ends (or the listener fails).
pub fn serve(config: ServerConfig) -> Result<(), ServerError> {
    let (app, router) = build_app(&config)?;
    let rt = runtime()?;
    rt.block_on(async move {
        let listener = bind(config.listen).await?;
        tracing::info!(addr = %config.listen, root = %config.root.display(), "registry serving");
        run(app, router, listener).await
    })
}

/// A server running on its own thread (tests, embedding). Stops when dropped.
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    storage: Storage,
    tls: bool,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// Binds `config.listen` (port 0 picks one) and serves on a background thread.
pub fn start(config: ServerConfig) -> Result<ServerHandle, ServerError> {
    let (app, router) = build_app(&config)?;
    let rt = runtime()?;
    let listener = rt.block_on(bind(config.listen))?;
    let addr = listener.local_addr().map_err(ServerError::Runtime)?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let storage = app.store.clone();
    let tls = config.tls.is_some();
    let thread = std::thread::Builder::new()
        .name("berth-registry".into())
        .spawn(move || {
            rt.block_on(async move {
                tokio::select! {
                    r = run(app, router, listener) => {
                        if let Err(e) = r {
                            tracing::error!(error = %e, "registry server stopped");
                        }
                    }
                    _ = rx => {}
                }
            });
            rt.shutdown_timeout(Duration::from_secs(1));
        })
        .map_err(ServerError::Runtime)?;
    Ok(ServerHandle {
        addr,
        storage,
        tls,
        shutdown: Some(tx),
        thread: Some(thread),
    })
}

impl ServerHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `127.0.0.1:PORT`, as a reference's domain.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// `http://127.0.0.1:PORT` (https with TLS).
    pub fn url(&self) -> String {
        format!(
            "{}://{}",
            if self.tls { "https" } else { "http" },
            self.addr
        )
    }

    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// Stops serving and waits for the thread.
    pub fn stop(mut self) {
        self.shutdown_now();
    }

    fn shutdown_now(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.shutdown_now();
    }
}
