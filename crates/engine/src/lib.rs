//! The engine: the one API that both front ends (the `berth` CLI and `berth serve`) call.
//!
//! It owns the order of side effects — what is written first so that a crash leaves a
//! consistent store — and the policy of each operation (what `rmi` may delete, how a name
//! resolves to an image). It does not parse command lines or render output; callers hand it
//! typed values and get typed results back.
//!
//! ```no_run
//! # fn main() -> Result<(), berth_engine::EngineError> {
//! let engine = berth_engine::Engine::open(berth_engine::EngineConfig::new("/tmp/berth-root"))?;
//! for image in engine.images(&Default::default())? {
//!     println!("{} {}", image.id, image.size);
//! }
//! # Ok(()) }
//! ```

pub mod build;
mod cancel;
pub mod check;
pub mod container;
pub mod distribution;
mod error;
pub mod events;
mod filter;
pub mod image;
mod networks;
pub mod pod;
pub mod system;
mod unpack_stream;
pub mod volume;
pub use cancel::Cancel;
pub use check::{CheckReport, DiskUsage};

use std::path::PathBuf;

use berth_image::digest::Digest;
use berth_store::Store;

pub use error::{EngineError, ErrorKind};
pub use image::{ImageFilter, ImageSummary};

/// Where the engine keeps its state.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Persistent state: blobs, layers, metadata, containers (`/var/lib/berth`).
    pub root: PathBuf,
    /// State that a reboot clears: runtime state, sockets (`/run/berth`).
    pub run_root: PathBuf,
    /// The berth binary, started as each container's monitor.
    pub exe: PathBuf,
    /// Bridge, subnets and firewall table of container networking: explicit settings, else
    /// what the root recorded, else the scope's defaults (see [`berth_net::NetSettings`]).
    pub net: berth_net::NetSettings,
}

/// The one host-wide path of berth's networking: the lock under which roots choose subnets
/// that must not collide. Every root on a host must use the same one.
pub const HOST_NET_LOCK: &str = "/run/lock/berth-net.lock";

impl EngineConfig {
    /// A config with `run_root` under `root`, the current executable as monitor, and network
    /// names of this root's own ([`berth_net::NetScope::Root`]).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        Self {
            run_root: root.join("run"),
            exe: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("berth")),
            net: berth_net::NetSettings::new(
                root.join("net"),
                berth_net::NetScope::Root,
                PathBuf::from(HOST_NET_LOCK),
            ),
            root,
        }
    }
}

/// An open engine.
#[derive(Debug)]
pub struct Engine {
    store: Store,
    run_root: PathBuf,
    exe: PathBuf,
    net_settings: berth_net::NetSettings,
    /// The network layer, opened on first use; one user at a time within this process
    /// (berth-net's own file lock orders processes).
    net: std::sync::Mutex<Option<berth_net::Network>>,
    /// The container whose monitor this process is, once it is one.
    monitoring: std::sync::OnceLock<String>,
}

// One engine serves many threads at once (the API server shares one): keep it so.
const _: () = {
    const fn shareable<T: Send + Sync>() {}
    shareable::<Engine>()
};

impl Engine {
    pub fn open(config: EngineConfig) -> Result<Self, EngineError> {
        std::fs::create_dir_all(&config.run_root)
            .map_err(|e| EngineError::io(format!("create {}", config.run_root.display()), e))?;
        if config.net.is_explicit() {
            // Record explicit network settings now: the first process to open the network
            // may be a container's monitor, which is started without them.
            config.net.resolve().map_err(EngineError::Net)?;
        }
        Ok(Self {
            store: Store::open(&config.root)?,
            run_root: config.run_root,
            exe: config.exe,
            net_settings: config.net,
            net: std::sync::Mutex::new(None),
            monitoring: std::sync::OnceLock::new(),
        })
    }

    /// The configuration this engine was opened with (to open another handle on the same
    /// root, for another thread).
    pub fn config(&self) -> EngineConfig {
        EngineConfig {
            root: self.store.root().to_path_buf(),
            run_root: self.run_root.clone(),
            exe: self.exe.clone(),
            net: self.net_settings.clone(),
        }
    }

    /// The configuration a container's monitor opens its engine with: this one without the
    /// explicit network settings of the caller's environment — the monitor reads what the
    /// root recorded (see [`Engine::own_command`]).
    pub(crate) fn monitor_config(&self) -> EngineConfig {
        let mut config = self.config();
        config.net = config.net.without_explicit();
        config
    }

    /// Our own binary (`berth monitor …`, `berth exec-shim …`) for this root: it reads the
    /// root's recorded configuration, not the caller's environment (a process started by
    /// `berth serve` or after a restart has none of it), and runs in its own process group, so
    /// a ^C meant for the caller does not reach it.
    pub(crate) fn own_command(&self) -> std::process::Command {
        use std::os::unix::process::CommandExt;
        let mut cmd = std::process::Command::new(&self.exe);
        for var in [
            "BERTH_BRIDGE",
            "BERTH_SUBNET",
            "BERTH_NET_POOL",
            "BERTH_NFT_TABLE",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("BERTH_ROOT", self.store.root())
            .env("BERTH_RUNROOT", &self.run_root)
            .process_group(0);
        cmd
    }

    pub fn store(&self) -> &Store {
        &self.store
    }
}

/// Seconds since the epoch, for records.
pub(crate) fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Short form of an image ID as `docker images` prints it.
pub fn short_id(id: &Digest) -> String {
    id.short().to_string()
}
