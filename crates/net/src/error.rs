//! The crate's one error type: every variant names the object and the cause.

use std::path::PathBuf;

use crate::publish::Proto;

/// What went wrong, and with what.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// A `-p` value that docker's grammar does not accept.
    #[error("invalid publish spec {spec:?}: {reason}")]
    InvalidPublish { spec: String, reason: String },
    /// Any other malformed input (subnet, address, name, …).
    #[error("invalid {what} {value:?}: {reason}")]
    Invalid {
        what: &'static str,
        value: String,
        reason: String,
    },
    /// A host port that one of berth's own containers already publishes.
    #[error("port {} is already in use by another container: {container}", port_label(*.port, *.proto))]
    PortInUseByContainer {
        port: u16,
        proto: Proto,
        container: String,
    },
    /// A host port some process on the host is bound to.
    #[error("port {} is already in use on the host", port_label(*.port, *.proto))]
    PortInUseOnHost { port: u16, proto: Proto },
    /// No free host port in a range (or none found at random).
    #[error("no free host port for {what}")]
    NoFreePort { what: String },
    /// A published host address that is not an address of this host (or not IPv4).
    #[error("cannot publish port {port} on {addr}: {reason}")]
    HostAddress {
        addr: String,
        port: u16,
        reason: String,
    },
    #[error("network {0} not found")]
    NetworkNotFound(String),
    #[error("network with name {0} already exists")]
    NetworkExists(String),
    #[error("network {name} has active endpoints: {containers}")]
    NetworkInUse { name: String, containers: String },
    #[error("network {0} is predefined and cannot be removed or recreated")]
    NetworkPredefined(String),
    #[error("subnet {subnet} of network {network} overlaps {other}")]
    SubnetOverlap {
        network: String,
        subnet: String,
        other: String,
    },
    #[error("network {network}: no free address left in {subnet}")]
    AddressesExhausted { network: String, subnet: String },
    #[error("network {network}: address {ip} is already in use by container {container}")]
    AddressInUse {
        network: String,
        ip: String,
        container: String,
    },
    #[error("container {container} is already connected to network {network}")]
    AlreadyAttached { container: String, network: String },
    #[error("container {container} is not connected to network {network}")]
    NotAttached { container: String, network: String },
    /// A tool or library berth drives (nftables) is not installed.
    #[error("{tool} not found: install the {package} package")]
    ToolMissing {
        tool: &'static str,
        package: &'static str,
    },
    /// A command that ran and failed; `stderr` is its last words.
    #[error("{what}: `{command}` failed: {stderr}")]
    Command {
        what: String,
        command: String,
        stderr: String,
    },
    /// A netlink request the kernel refused (`source` carries its errno), with the kernel's
    /// own explanation (extended ACK) when it gave one.
    #[error("{what}: {source}{}", detail.as_ref().map(|d| format!(": {d}")).unwrap_or_default())]
    Netlink {
        what: String,
        #[source]
        source: std::io::Error,
        detail: Option<String>,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// A state file that exists but cannot be understood.
    #[error("state file {}: {reason}", path.display())]
    State { path: PathBuf, reason: String },
    /// Several failures at once (teardown reports every step that failed).
    #[error("{}", join_errors(.0))]
    Multiple(Vec<NetError>),
}

fn port_label(port: u16, proto: Proto) -> String {
    match proto {
        Proto::Tcp => port.to_string(),
        Proto::Udp => format!("{port}/udp"),
    }
}

fn join_errors(errs: &[NetError]) -> String {
    errs.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl NetError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        NetError::Io {
            what: what.into(),
            source,
        }
    }

    pub(crate) fn invalid(
        what: &'static str,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        NetError::Invalid {
            what,
            value: value.into(),
            reason: reason.into(),
        }
    }

    /// Folds the error list that teardown returns into one error (for callers that want one).
    pub fn from_many(mut errs: Vec<NetError>) -> NetError {
        if errs.len() == 1 {
            if let Some(e) = errs.pop() {
                return e;
            }
        }
        NetError::Multiple(errs)
    }
}
