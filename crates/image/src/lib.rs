//! The OCI image model, with no knowledge of where anything is stored.
//!
//! This crate parses and validates what comes from outside — references such as
//! `python:3.8-slim`, digests, manifests, image configs, layer tarballs and image archives — into
//! types the rest of berth can trust. It does no I/O of its own beyond the readers and directories
//! it is handed: it never picks a path under `/var/lib/berth`, never talks to a registry and never
//! touches SQLite.
//!
//! ```
//! use berth_image::digest::Digest;
//! let d = Digest::of(b"");
//! assert_eq!(d.short(), "e3b0c44298fc");
//! ```

pub mod digest;
pub mod layer;
pub mod reference;
pub mod rootfd;
pub mod rootpath;
pub mod writeback;

pub use digest::Digest;
pub use reference::Reference;
