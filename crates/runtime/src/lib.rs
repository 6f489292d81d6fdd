//! berth's container runtime layer: the OCI runtime spec a container runs with, the seam to
//! youki's `libcontainer`, and the stream plumbing (ptys, attach framing, json logs) that the
//! per-container monitor uses.
//!
//! It knows nothing of images, names or the metadata store: the engine hands it a bundle
//! directory and file descriptors and gets pids and exit codes back.
//!
//! ```no_run
//! let rt = berth_runtime::oci::Runtime::new("/run/berth/lc");
//! let pid = rt.create("abc", std::path::Path::new("/var/lib/berth/containers/abc"), "sh", Default::default())?;
//! rt.start("abc", "sh")?;
//! # let _ = pid;
//! # Ok::<(), berth_runtime::oci::RuntimeError>(())
//! ```

pub mod init;
pub mod oci;
pub mod signals;
pub mod spec;
pub mod stdio;
