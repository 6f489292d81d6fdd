//! The engine's one error type, and the kinds every front end maps from one table each: the
//! CLI to docker's exit codes and messages, the Engine API to HTTP statuses.
//!
//! Errors of the layers below (networking, registry, builder) are carried typed, not flattened
//! into text, so a front end can tell "not found" from "conflict" from "unauthorized" — the
//! kind is decided here, once, from the cause's own variant.

use berth_net::NetError;
use berth_registry::client::ClientError;
use berth_store::StoreError;

use crate::build;
use crate::distribution::RegistryUnreachable;

/// What went wrong, as a front end needs to know it (containerd's errdefs classes, docker's
/// status codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The object named does not exist (404).
    NotFound,
    /// The request conflicts with the state: a name taken, a port in use, a container
    /// running (409).
    Conflict,
    /// The request itself is wrong: a malformed reference, flag or file (400).
    InvalidArgument,
    /// Nothing to do: already started, already stopped (304).
    NotModified,
    /// Credentials are needed or were refused (401).
    Unauthorized,
    /// Known credentials, but not allowed (403).
    Forbidden,
    /// Something needed is not reachable or exhausted right now: a registry, free ports or
    /// addresses (503).
    Unavailable,
    /// The caller, or a sibling failure, stopped it.
    Cancelled,
    /// Anything else: the engine or the host failed (500).
    Internal,
}

/// Errors the engine reports; each names the object and the cause.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("no such image: {0}")]
    ImageNotFound(String),
    #[error("no such container: {0}")]
    ContainerNotFound(String),
    #[error("no such volume: {0}")]
    VolumeNotFound(String),
    #[error("no such exec instance: {0}")]
    ExecNotFound(String),
    #[error("no such pod: {0}")]
    PodNotFound(String),
    /// A build step failed; the CLI shows the step, its output's tail and the log.
    #[error("{} (Dockerfile:{}) failed with exit code {}", .0.header, .0.line, .0.code)]
    BuildFailed(Box<build::StepFailure>),
    /// The caller cancelled the call (`what` names it).
    #[error("{0}: cancelled")]
    Cancelled(String),
    /// A build stage stopped because another one failed.
    #[error("stopped: another stage of the build failed")]
    BuildCancelled,
    /// The container could not be started; `code` is docker's exit code for it (125 engine
    /// failure, 126 cannot invoke, 127 not found).
    #[error("{message}")]
    StartFailed {
        id: String,
        code: i32,
        message: String,
    },
    #[error(transparent)]
    Reference(#[from] berth_image::reference::ReferenceError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Networking: networks, addresses, published ports, the firewall.
    #[error(transparent)]
    Net(#[from] NetError),
    /// A registry conversation (pull, push, login, search).
    #[error("{what}: {source}")]
    Registry {
        what: String,
        #[source]
        source: ClientError,
    },
    /// A registry that could not be reached at all.
    #[error("{what}: {source}")]
    Unreachable {
        what: String,
        #[source]
        source: RegistryUnreachable,
    },
    /// The OCI runtime refused an operation on a container (pause, delete, …).
    #[error(transparent)]
    Runtime(#[from] berth_runtime::oci::RuntimeError),
    /// A Dockerfile, `.dockerignore` or build context that cannot be used.
    #[error(transparent)]
    Build(#[from] berth_build::BuildError),
    /// A flag value (or its `HostConfig` twin) not in docker's syntax.
    #[error(transparent)]
    Flag(#[from] crate::container::flags::FlagError),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{what}: {reason}")]
    BadInput { what: String, reason: String },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl EngineError {
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            what: what.into(),
            source,
        }
    }

    pub fn bad_input(what: impl Into<String>, reason: impl ToString) -> Self {
        Self::BadInput {
            what: what.into(),
            reason: reason.to_string(),
        }
    }

    pub(crate) fn registry(what: impl Into<String>, source: ClientError) -> Self {
        Self::Registry {
            what: what.into(),
            source,
        }
    }

    /// Whether the error means "the thing named does not exist" (docker exits 1 for these
    /// too, but API front ends map them to 404).
    pub fn is_not_found(&self) -> bool {
        self.kind() == ErrorKind::NotFound
    }

    /// The kind of failure, decided from the cause's own variant.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::ImageNotFound(_)
            | Self::ContainerNotFound(_)
            | Self::VolumeNotFound(_)
            | Self::ExecNotFound(_)
            | Self::PodNotFound(_) => ErrorKind::NotFound,
            Self::BuildFailed(_) => ErrorKind::Internal,
            Self::BuildCancelled | Self::Cancelled(_) => ErrorKind::Cancelled,
            // docker answers 400 for a command that cannot be found or run.
            Self::StartFailed {
                code: 126 | 127, ..
            } => ErrorKind::InvalidArgument,
            Self::StartFailed { .. } => ErrorKind::Internal,
            Self::Reference(_)
            | Self::Build(_)
            | Self::Flag(_)
            | Self::InvalidArgument(_)
            | Self::BadInput { .. } => ErrorKind::InvalidArgument,
            Self::Store(e) => store_kind(e),
            Self::Net(e) => net_kind(e),
            Self::Registry { source, .. } => registry_kind(source),
            Self::Unreachable { .. } => ErrorKind::Unavailable,
            Self::Runtime(e) => match e.exit_code() {
                126 | 127 => ErrorKind::InvalidArgument,
                _ => ErrorKind::Internal,
            },
            Self::Conflict(_) => ErrorKind::Conflict,
            Self::Io { source, .. } => match source.kind() {
                std::io::ErrorKind::NotFound => ErrorKind::NotFound,
                std::io::ErrorKind::PermissionDenied => ErrorKind::Forbidden,
                std::io::ErrorKind::Interrupted => ErrorKind::Cancelled,
                _ => ErrorKind::Internal,
            },
        }
    }
}

fn store_kind(e: &StoreError) -> ErrorKind {
    match e {
        StoreError::BlobNotFound(_) => ErrorKind::NotFound,
        StoreError::DigestMismatch { .. } | StoreError::SizeMismatch { .. } => {
            ErrorKind::InvalidArgument
        }
        StoreError::Layer { .. } => ErrorKind::InvalidArgument,
        _ => ErrorKind::Internal,
    }
}

fn net_kind(e: &NetError) -> ErrorKind {
    use NetError as N;
    match e {
        N::InvalidPublish { .. } | N::Invalid { .. } | N::HostAddress { .. } => {
            ErrorKind::InvalidArgument
        }
        N::SubnetOverlap { .. } => ErrorKind::InvalidArgument,
        N::PortInUseByContainer { .. }
        | N::PortInUseOnHost { .. }
        | N::NetworkExists(_)
        | N::NetworkInUse { .. }
        | N::NetworkPredefined(_)
        | N::AddressInUse { .. }
        | N::AlreadyAttached { .. } => ErrorKind::Conflict,
        N::NetworkNotFound(_) | N::NotAttached { .. } => ErrorKind::NotFound,
        N::NoFreePort { .. } | N::AddressesExhausted { .. } => ErrorKind::Unavailable,
        N::Multiple(errs) => errs.first().map_or(ErrorKind::Internal, net_kind),
        _ => ErrorKind::Internal,
    }
}

fn registry_kind(e: &ClientError) -> ErrorKind {
    use ClientError as C;
    match e {
        C::AuthRequired { .. } | C::Login { .. } | C::Token { .. } => ErrorKind::Unauthorized,
        C::Denied { .. } => ErrorKind::Forbidden,
        C::ManifestUnknown { .. }
        | C::NameUnknown { .. }
        | C::BlobUnknown { .. }
        | C::NoMatchingPlatform { .. } => ErrorKind::NotFound,
        C::Transport { .. } | C::RateLimited { .. } => ErrorKind::Unavailable,
        C::InvalidAddress { .. } | C::NotAnImage { .. } | C::Manifest { .. } => {
            ErrorKind::InvalidArgument
        }
        C::Status { status, .. } => match status {
            401 => ErrorKind::Unauthorized,
            403 => ErrorKind::Forbidden,
            404 => ErrorKind::NotFound,
            409 => ErrorKind::Conflict,
            400..=499 => ErrorKind::InvalidArgument,
            _ => ErrorKind::Unavailable,
        },
        _ => ErrorKind::Internal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_net::Proto;

    #[test]
    fn causes_keep_their_kind() {
        let port = EngineError::from(NetError::PortInUseOnHost {
            port: 5000,
            proto: Proto::Tcp,
        });
        assert_eq!(port.kind(), ErrorKind::Conflict);
        assert_eq!(port.to_string(), "port 5000 is already in use on the host");
        let net = EngineError::from(NetError::NetworkNotFound("front".into()));
        assert!(net.is_not_found());
        let auth = EngineError::registry(
            "pull x",
            ClientError::AuthRequired {
                registry: "r".into(),
                repository: "x".into(),
            },
        );
        assert_eq!(auth.kind(), ErrorKind::Unauthorized);
        let gone = EngineError::registry(
            "pull x",
            ClientError::ManifestUnknown {
                reference: "x:1".into(),
            },
        );
        assert_eq!(gone.kind(), ErrorKind::NotFound);
        let many = EngineError::from(NetError::Multiple(vec![NetError::NetworkNotFound(
            "a".into(),
        )]));
        assert_eq!(many.kind(), ErrorKind::NotFound);
        let start = EngineError::StartFailed {
            id: "x".into(),
            code: 127,
            message: "exec: \"nope\": executable file not found in $PATH".into(),
        };
        assert_eq!(start.kind(), ErrorKind::InvalidArgument);
        assert_eq!(
            EngineError::ContainerNotFound("x".into()).kind(),
            ErrorKind::NotFound
        );
    }
}
