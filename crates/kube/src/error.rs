//! The crate's one error type. Documents are numbered from 1 in the order of the stream, so a
//! message points at the document a reader counts to in the file.

/// The kinds `parse` accepts, as a message lists them.
pub(crate) const SUPPORTED_KINDS: &str =
    "Pod, Deployment, Service, ConfigMap, Secret and PersistentVolumeClaim";

/// What went wrong converting between berth's model and Kubernetes YAML.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    /// A document is not YAML, or not a mapping.
    #[error("document {index}: invalid yaml: {message}")]
    Yaml { index: usize, message: String },

    /// A document has no `kind` or no `metadata.name`.
    #[error("document {index}: {reason}")]
    Incomplete { index: usize, reason: String },

    /// A document of a kind berth does not play; returned before any document is converted.
    #[error(
        "document {index} ({kind} {name}): kind {kind} is not supported; berth plays {}",
        SUPPORTED_KINDS
    )]
    Unsupported {
        index: usize,
        kind: String,
        name: String,
    },

    /// A known field holds something Kubernetes would reject.
    #[error("document {index} ({kind} {name}): {path}: {reason}")]
    Field {
        index: usize,
        kind: String,
        name: String,
        path: String,
        reason: String,
    },

    /// A ConfigMap or Secret that a pod needs (not marked `optional`) is not in the stream.
    #[error("{owner}: {what} {name} not found")]
    MissingRef {
        owner: String,
        what: &'static str,
        name: String,
    },

    /// A key a pod needs (not marked `optional`) is not in its ConfigMap or Secret.
    #[error("{owner}: key {key} not found in {what} {name}")]
    MissingKey {
        owner: String,
        what: &'static str,
        name: String,
        key: String,
    },

    /// Two documents (or a Deployment's replica and a Pod) make objects of one name.
    #[error("{what} {name} is defined twice")]
    Duplicate { what: &'static str, name: String },

    /// Two pods publish the same host port; the second could not bind it.
    #[error("host port {port}/{protocol} is published by both pod {first} and pod {second}")]
    PortConflict {
        port: u16,
        protocol: &'static str,
        first: String,
        second: String,
    },

    /// A pod or container cannot be expressed (no container, names that collide once made
    /// DNS-1123, a secret that is not text where text is needed, a path leaving its volume, …);
    /// `owner` is `pod NAME` or `pod NAME container NAME`.
    #[error("{owner}: {reason}")]
    Invalid { owner: String, reason: String },
}

impl KubeError {
    pub(crate) fn invalid_pod(pod: &str, reason: impl Into<String>) -> Self {
        KubeError::Invalid {
            owner: format!("pod {pod}"),
            reason: reason.into(),
        }
    }
}
