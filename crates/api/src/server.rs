//! Listening: unix sockets (mode 0660, group `berth` when it exists), sockets handed over by
//! systemd (`LISTEN_FDS`, so the socket keeps its inode across restarts), and serving them
//! until SIGINT or SIGTERM.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_engine::Engine;

/// Where to listen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// A unix socket at this path (a stale socket file is replaced).
    Unix(PathBuf),
    /// The sockets systemd passed (`LISTEN_PID`/`LISTEN_FDS`).
    Systemd,
    /// TCP with TLS, every client presenting a certificate signed by `tls.ca`.
    Tcp {
        addr: std::net::SocketAddr,
        tls: TlsFiles,
    },
}

/// The PEM files of `--tlsverify`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The CA that signs client certificates.
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// How `berth serve` runs.
#[derive(Debug, Clone, Default)]
pub struct ServeConfig {
    pub listen: Vec<Listen>,
    /// The group given the sockets (docker's `docker` group); `None` for `berth` if it exists.
    pub group: Option<String>,
}

/// Why serving could not start or went on.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("listen on {path}: {source}")]
    Bind {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("listen on {0}: another server is already listening there (stop it, or choose another path with -H)")]
    InUse(PathBuf),
    #[error("no sockets from systemd: LISTEN_FDS is not set for this process")]
    NoSystemdSockets,
    #[error("listen on {addr}: {source}")]
    BindTcp {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(#[from] berth_registry::server::ServerError),
    #[error("group {0} does not exist")]
    NoGroup(String),
    #[error("serve: {0}")]
    Io(#[from] std::io::Error),
}

/// A bound listener, and the file to remove when done (none for systemd's sockets).
struct Bound {
    listener: tokio::net::UnixListener,
    cleanup: Option<PathBuf>,
}

/// Serves the API on every listener until SIGINT or SIGTERM; then removes the socket files
/// it made. Containers are not touched: they live under their monitors.
pub fn serve(engine: Arc<Engine>, config: ServeConfig) -> Result<(), ServeError> {
    crate::trim::limit_arenas();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(256)
        // Threads of a burst go soon after it, so that the trim after it finds them gone.
        .thread_keep_alive(std::time::Duration::from_millis(200))
        .enable_all()
        .thread_name("berth-api")
        .build()?;
    rt.block_on(async move {
        let group = socket_group(config.group.as_deref())?;
        let mut bound = Vec::new();
        let mut tcp = Vec::new();
        for l in &config.listen {
            match l {
                Listen::Unix(path) => bound.push(bind_unix(path, group)?),
                Listen::Systemd => bound.extend(systemd_listeners()?),
                Listen::Tcp { addr, tls } => {
                    let acceptor = berth_registry::server::tls::acceptor_verifying_clients(
                        &tls.cert, &tls.key, &tls.ca,
                    )?;
                    let listener = tokio::net::TcpListener::bind(addr)
                        .await
                        .map_err(|source| ServeError::BindTcp { addr: *addr, source })?;
                    tcp.push(berth_registry::server::tls::TlsListener::new(listener, acceptor)?);
                }
            }
        }
        let activity = Arc::new(crate::trim::Activity::default());
        let held = engine.clone();
        tokio::spawn(crate::trim::trim_when_idle(
            activity.clone(),
            Arc::new(move || held.store().meta.release_memory()),
        ));
        let app = crate::router_with(engine, activity);
        let cleanup: Vec<PathBuf> = bound.iter().filter_map(|b| b.cleanup.clone()).collect();
        let mut tasks = tokio::task::JoinSet::new();
        for b in bound {
            tracing::info!(socket = ?b.listener.local_addr().ok(), "serving the Engine API");
            let app = app.clone();
            tasks.spawn(async move { axum::serve(b.listener, app).await });
        }
        for l in tcp {
            tracing::info!(addr = ?axum::serve::Listener::local_addr(&l).ok(), "serving the Engine API over TLS");
            let app = app.clone();
            tasks.spawn(async move { axum::serve(l, app).await });
        }
        let result = tokio::select! {
            r = tasks.join_next() => match r {
                Some(Ok(Err(e))) => Err(ServeError::Io(e)),
                _ => Ok(()),
            },
            _ = shutdown_signal() => Ok(()),
        };
        for p in cleanup {
            let _ = std::fs::remove_file(p);
        }
        result
    })
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
    tracing::info!("stopping the Engine API (containers keep running)");
}

/// The gid for the sockets: the named group (which must exist), else `berth` if it exists.
fn socket_group(name: Option<&str>) -> Result<Option<nix::unistd::Gid>, ServeError> {
    let wanted = name.unwrap_or("berth");
    match nix::unistd::Group::from_name(wanted) {
        Ok(Some(g)) => Ok(Some(g.gid)),
        _ if name.is_some() => Err(ServeError::NoGroup(wanted.to_string())),
        _ => Ok(None),
    }
}

fn bind_unix(path: &Path, group: Option<nix::unistd::Gid>) -> Result<Bound, ServeError> {
    let bind_err = |source| ServeError::Bind {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(bind_err)?;
    }
    if path.exists() {
        // A socket nobody answers on is what a killed server left: replace it. One that
        // answers belongs to a live server, which must not be cut off.
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(ServeError::InUse(path.to_path_buf()));
        }
        std::fs::remove_file(path).map_err(bind_err)?;
    }
    let listener = tokio::net::UnixListener::bind(path).map_err(bind_err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).map_err(bind_err)?;
    if let Some(gid) = group {
        nix::unistd::chown(path, None, Some(gid)).map_err(|e| bind_err(e.into()))?;
    }
    Ok(Bound {
        listener,
        cleanup: Some(path.to_path_buf()),
    })
}

/// The sockets systemd passed: fds 3.. when `LISTEN_PID` is us.
fn systemd_listeners() -> Result<Vec<Bound>, ServeError> {
    let ours = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        == Some(std::process::id());
    let count = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse::<i32>().ok())
        .filter(|_| ours)
        .ok_or(ServeError::NoSystemdSockets)?;
    // Ours alone: children must not think these sockets are theirs.
    std::env::remove_var("LISTEN_PID");
    std::env::remove_var("LISTEN_FDS");
    std::env::remove_var("LISTEN_FDNAMES");
    (3..3 + count)
        .map(|fd| {
            let std_listener = crate::fds::claim_listener(fd)?;
            std_listener.set_nonblocking(true)?;
            Ok(Bound {
                listener: tokio::net::UnixListener::from_std(std_listener)?,
                cleanup: None,
            })
        })
        .collect()
}
