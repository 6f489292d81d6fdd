//! What `berth version`, `berth info` and `berth system prune` are about: the engine's build
//! and host facts, and the prune of everything unused at once.
//!
//! The structs serialize with docker's JSON field names (`ServerVersion`, `NCPU`,
//! `RegistryConfig.Mirrors`, …): the CLI's `--format` templates and the Engine API both
//! hand them out as they are. Gathering reads the host (`/proc`, `/etc/os-release`) and the
//! store, and changes nothing beyond the state refresh every container listing makes.
//! Rendering is the caller's.
//!
//! ```no_run
//! # fn main() -> Result<(), berth_engine::EngineError> {
//! let engine = berth_engine::Engine::open(berth_engine::EngineConfig::new("/tmp/berth-root"))?;
//! let info = engine.system_info()?;
//! println!("{} containers, {} images on {}", info.containers, info.images, info.kernel_version);
//! # Ok(()) }
//! ```

mod host;
mod info;
mod prune;
mod version;

pub use info::{IndexConfig, Plugins, RegistryConfig, Runtime, SystemInfo};
pub use prune::{ContainerPrune, SystemPrune, SystemPruneOptions};
pub use version::{BuildInfo, ServerComponent, ServerVersion, API_VERSION, MIN_API_VERSION};
