//! The registry client: pull, push, login and logout, speaking the protocol as Docker Hub does.
//!
//! Blocking (one `ureq` agent with rustls), with a few threads for parallel blobs. It reads and
//! writes blobs only through [`BlobSink`](crate::blob::BlobSink) and
//! [`BlobSource`](crate::blob::BlobSource), so it knows nothing of berth's store.

mod auth;
pub mod credentials;
mod download;
mod error;
mod pull;
mod push;
mod search;
mod tls;
mod transport;
mod upload;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use berth_image::Digest;

pub use auth::{parse_challenge, Challenge};
pub use credentials::{Credential, CredentialError, CredentialStore};
pub use error::transport_cause;
pub use error::ClientError;
pub use pull::{DistributionInfo, FetchedManifest, PulledImage};
pub use push::PushImage;
pub use search::{parse_search, SearchFilter, SearchResult};

use crate::manifest::Descriptor;

/// What a [`Client`] is allowed and told to do.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Registries (`host` or `host:port`) that may be reached over plain HTTP or TLS without
    /// verification. `localhost`, `127.0.0.0/8` and `::1` always may.
    pub insecure_registries: Vec<String>,
    /// Pull-through mirrors for `docker.io` (`https://mirror.example`, `http://127.0.0.1:5000`),
    /// tried in order before Docker Hub itself.
    pub mirrors: Vec<String>,
    pub auth: CredentialStore,
    pub user_agent: String,
    /// Blobs moved at the same time (docker's default is 3 down, 5 up).
    pub parallel: usize,
    /// Blobs up to this size are uploaded with one PUT; larger ones in PATCH chunks.
    pub monolithic_limit: u64,
    /// Size of each PATCH of a chunked upload.
    pub chunk_size: u64,
    /// Extra PEM CA certificates to trust (e.g. `/etc/docker/certs.d/<host>/ca.crt`).
    pub ca_certs: Vec<PathBuf>,
    /// Connect timeout, and the longest a read or write may stall.
    pub timeout: Duration,
    /// Attempts for one blob download before giving up (each resumes with `Range`).
    pub retries: u32,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            insecure_registries: Vec::new(),
            mirrors: Vec::new(),
            auth: CredentialStore::from_env(),
            user_agent: format!("berth/{}", env!("CARGO_PKG_VERSION")),
            parallel: 3,
            monolithic_limit: 64 << 20,
            chunk_size: 64 << 20,
            ca_certs: Vec::new(),
            timeout: Duration::from_secs(60),
            retries: 4,
        }
    }
}

/// Progress of a pull or push, for progress bars and plain lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The reference resolved to this manifest (the index's, for a multi-platform image).
    Resolved {
        reference: String,
        digest: Digest,
    },
    /// The blob will be transferred once a transfer slot is free (all of an image's missing
    /// layers are announced before the first starts, in manifest order).
    BlobQueued {
        digest: Digest,
        size: u64,
    },
    /// The blob is already there (in the sink for a pull, on the registry for a push).
    BlobExists {
        digest: Digest,
        size: u64,
    },
    /// A transfer starts; `offset` > 0 when it resumes.
    BlobStarted {
        digest: Digest,
        size: u64,
        offset: u64,
    },
    /// Bytes moved so far (sent about every megabyte).
    BlobProgress {
        digest: Digest,
        done: u64,
        total: u64,
    },
    /// A transfer failed and is retried from `offset`.
    BlobRetry {
        digest: Digest,
        offset: u64,
        error: String,
    },
    /// The blob was mounted from another repository of the same registry.
    BlobMounted {
        digest: Digest,
        from: String,
    },
    BlobDone {
        digest: Digest,
        size: u64,
    },
    /// A mirror failed and the next endpoint is tried.
    MirrorFailed {
        mirror: String,
        error: String,
    },
    ManifestPushed {
        digest: Digest,
        tag: Option<String>,
    },
    /// A pulled layer blob is being unpacked: `done` of its `total` bytes read so far (sent
    /// at the start, then about every megabyte). The client does not send this: the caller
    /// that unpacks does, through the same callback.
    LayerExtracting {
        digest: Digest,
        done: u64,
        total: u64,
    },
    /// The layer blob is unpacked (sent by the caller, as [`Event::LayerExtracting`]).
    LayerExtracted {
        digest: Digest,
    },
}

/// A registry client; cheap to share between threads by reference.
#[derive(Debug)]
pub struct Client {
    inner: Inner,
}

#[derive(Debug)]
pub(crate) struct Inner {
    config: ClientConfig,
    agents: tls::Agents,
    /// Per registry base: the resolved scheme and its challenge.
    hosts: Mutex<HashMap<String, transport::HostInfo>>,
    /// Bearer tokens by realm, service and scopes.
    tokens: Mutex<HashMap<String, (String, Instant)>>,
}

impl Client {
    pub fn new(config: ClientConfig) -> Result<Client, ClientError> {
        let agents = tls::Agents::new(&config)?;
        Ok(Client {
            inner: Inner {
                config,
                agents,
                hosts: Mutex::new(HashMap::new()),
                tokens: Mutex::new(HashMap::new()),
            },
        })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// Checks `username`/`password` against `registry` (a domain: `docker.io`,
    /// `127.0.0.1:5000`) through its challenge, then stores them in the credential store.
    pub fn login(&self, registry: &str, username: &str, password: &str) -> Result<(), ClientError> {
        let cred = Credential::new(username, password);
        self.inner.verify_login(registry, &cred)?;
        self.inner.config.auth.store(registry, &cred)?;
        Ok(())
    }

    /// Checks `username` and `password` with `registry` without storing them (the Engine
    /// API's `/auth`: the client keeps its own credentials).
    pub fn check_login(
        &self,
        registry: &str,
        username: &str,
        password: &str,
    ) -> Result<(), ClientError> {
        self.inner
            .verify_login(registry, &Credential::new(username, password))
    }

    /// Forgets the login for `registry`; true when there was one.
    pub fn logout(&self, registry: &str) -> Result<bool, ClientError> {
        Ok(self.inner.config.auth.erase(registry)?)
    }
}

/// Bytes of a descriptor list, for progress totals.
pub fn total_size(descs: &[Descriptor]) -> u64 {
    descs.iter().map(|d| d.size).sum()
}

/// Runs `work` on every item with up to `workers` threads; the first error stops the others
/// (they see the cancel flag) and is returned.
pub(crate) fn run_parallel<T: Sync>(
    items: &[T],
    workers: usize,
    work: impl Fn(&T, &std::sync::atomic::AtomicBool) -> Result<(), ClientError> + Sync,
) -> Result<(), ClientError> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let cancel = AtomicBool::new(false);
    let first_error: Mutex<Option<ClientError>> = Mutex::new(None);
    let worker = || loop {
        if cancel.load(Ordering::Relaxed) {
            return;
        }
        let Some(item) = items.get(next.fetch_add(1, Ordering::Relaxed)) else {
            return;
        };
        if let Err(e) = work(item, &cancel) {
            if !cancel.swap(true, Ordering::Relaxed) {
                *first_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
            }
            return;
        }
    };
    let n = workers.clamp(1, items.len().max(1));
    if n == 1 {
        worker();
    } else {
        std::thread::scope(|scope| {
            for _ in 0..n {
                scope.spawn(worker);
            }
        });
    }
    match first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn client_is_shareable_between_threads() {
        fn check<T: Send + Sync>() {}
        check::<super::Client>();
    }
}
