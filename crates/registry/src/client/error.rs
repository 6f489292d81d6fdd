//! Everything a registry conversation can fail with, each naming the object and the cause.

use std::io;

use berth_image::Digest;

use crate::blob::BlobError;
use crate::client::credentials::CredentialError;
use crate::manifest::ManifestError;

/// A client operation's failure.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{url}: {reason}")]
    Transport { url: String, reason: String },
    #[error("authentication required to access {repository} on {registry}: run 'berth login {registry}' (the repository may also not exist)")]
    AuthRequired {
        registry: String,
        repository: String,
    },
    #[error("requested access to {repository} on {registry} is denied")]
    Denied {
        registry: String,
        repository: String,
    },
    #[error("{registry}: toomanyrequests: you have reached the registry's request rate limit ({detail}); Docker Hub limits anonymous pulls per IP address: log in ('berth login') for a higher limit, configure a registry mirror, or wait and retry")]
    RateLimited { registry: String, detail: String },
    #[error("{reference}: manifest unknown")]
    ManifestUnknown { reference: String },
    #[error("{repository}: repository unknown on {registry}")]
    NameUnknown {
        registry: String,
        repository: String,
    },
    #[error("{repository}: blob {digest} unknown")]
    BlobUnknown { repository: String, digest: Digest },
    #[error("{what}: registry answered {status}{}: {message}", code.as_deref().map(|c| format!(" {c}")).unwrap_or_default())]
    Status {
        what: String,
        status: u16,
        code: Option<String>,
        message: String,
    },
    #[error("{what}: digest mismatch: expected {expected}, received {actual}")]
    DigestMismatch {
        what: String,
        expected: Digest,
        actual: Digest,
    },
    #[error("{what}: size mismatch: expected {expected} bytes, received {actual}")]
    SizeMismatch {
        what: String,
        expected: u64,
        actual: u64,
    },
    #[error("{what}: larger than the {limit}-byte limit")]
    TooLarge { what: String, limit: u64 },
    #[error("{reference}: {source}")]
    Manifest {
        reference: String,
        #[source]
        source: ManifestError,
    },
    #[error("{reference}: no manifest for platform {platform} (available: {})", available.join(", "))]
    NoMatchingPlatform {
        reference: String,
        platform: String,
        available: Vec<String>,
    },
    #[error("{reference}: {media_type:?} is not an image manifest")]
    NotAnImage {
        reference: String,
        media_type: String,
    },
    #[error("{0}")]
    Blob(#[from] BlobError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("{0}")]
    Credentials(#[from] CredentialError),
    #[error("login to {registry} failed: {reason}")]
    Login { registry: String, reason: String },
    #[error("token from {realm}: {reason}")]
    Token { realm: String, reason: String },
    #[error("invalid registry address {address:?}: {reason}")]
    InvalidAddress { address: String, reason: String },
    #[error("TLS configuration: {0}")]
    Tls(String),
}

impl ClientError {
    /// True when trying another endpoint (a mirror's source) may help.
    pub(crate) fn is_endpoint_failure(&self) -> bool {
        !matches!(
            self,
            ClientError::Blob(BlobError::Io { .. }) | ClientError::Credentials(_)
        )
    }
}

/// Error body of the distribution spec: `{"errors":[{"code":…,"message":…}]}`.
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub errors: Vec<ErrorEntry>,
}

#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct ErrorEntry {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
}

impl ErrorBody {
    pub fn parse(bytes: &[u8]) -> ErrorBody {
        serde_json::from_slice(bytes).unwrap_or_default()
    }

    pub fn first_code(&self) -> Option<&str> {
        self.errors.first().map(|e| e.code.as_str())
    }

    pub fn message(&self) -> String {
        self.errors
            .iter()
            .map(|e| {
                if e.message.is_empty() {
                    e.code.to_ascii_lowercase().replace('_', " ")
                } else {
                    e.message.clone()
                }
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// ureq's transport error without the URL (the caller names it), lower case.
pub fn transport_cause(t: &ureq::Transport) -> String {
    let mut s = t.kind().to_string().to_lowercase();
    if let Some(m) = t.message().filter(|m| *m != "Connect error") {
        s.push_str(": ");
        s.push_str(m);
    }
    if let Some(src) = std::error::Error::source(t) {
        s.push_str(": ");
        s.push_str(&src.to_string());
    }
    s
}
