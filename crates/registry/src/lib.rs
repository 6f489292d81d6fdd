//! berth's registry side: the client that pulls, pushes and logs in the way Docker does, and the
//! OCI distribution server behind `berth registry serve`.
//!
//! The client never touches berth's store: it reads and writes blobs through the
//! [`BlobSink`](blob::BlobSink) and [`BlobSource`](blob::BlobSource) traits, which the engine
//! implements over its content store. It must not hard-code a token realm, trust a redirect with
//! credentials, or let an unverified byte become visible. The server keeps its own directory.
//!
//! ```no_run
//! use berth_image::Reference;
//! use berth_registry::blob::BlobDir;
//! use berth_registry::client::{Client, ClientConfig};
//! use berth_registry::platform::Platform;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::new(ClientConfig::default())?;
//! let sink = BlobDir::open("/tmp/blobs")?;
//! let image = client.pull(
//!     &Reference::parse("127.0.0.1:5000/alice/app:latest")?,
//!     &Platform::host(),
//!     &sink,
//!     &|event| eprintln!("{event:?}"),
//! )?;
//! println!("pulled {}", image.repo_digest);
//! # Ok(())
//! # }
//! ```

pub mod blob;
pub mod client;
pub mod manifest;
pub mod platform;
pub mod server;

pub use berth_image::{Digest, Reference};
