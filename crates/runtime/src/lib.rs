//! berth's container runtime layer: the OCI runtime spec a container runs with, the seam to
//! youki's `libcontainer`, and the stream plumbing (ptys, attach framing, json logs) that the
//! per-container monitor uses.
//!
//! It knows nothing of images, names or the metadata store: the engine hands it a bundle
//! directory and file descriptors and gets pids and exit codes back.
//!
//! ```no_run
//! let bundle = std::path::Path::new("/var/lib/berth/containers/abc");
//! let spec = berth_runtime::spec::Spec::load(bundle.join("config.json"))?;
//! let rt = berth_runtime::oci::Runtime::new("/run/berth/lc");
//! let pid = rt.create("abc", bundle, &spec, "sh", Default::default())?;
//! rt.start("abc", "sh")?;
//! # let _ = pid;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod cpu;
pub mod init;
pub mod oci;
pub mod signals;
pub mod spec;
pub mod stdio;
