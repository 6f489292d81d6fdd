//! The firewall seam: what berth needs from a packet filter, and two implementations —
//! nftables (one table of berth's own, see `nft.rs` for its layout; programmed in-process
//! through libnftables, see `libnft.rs`) and none.

mod check;
pub(crate) mod docker;
mod libnft;
mod marker;
mod nft;

use std::net::Ipv4Addr;
use std::path::Path;

use crate::ipnet::Ipv4Net;
use crate::publish::Proto;
use crate::NetError;

pub use check::FirewallGap;
pub(crate) use nft::Nft;

/// Which firewall berth programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FirewallKind {
    /// nftables, through libnftables: masquerade, DNAT for published ports, isolation.
    #[default]
    Nft,
    /// Touch no firewall: no outbound NAT and no published ports (the admin does it).
    None,
}

/// One DNAT: `host_ip:host_port` (every local address when `None`) → `ip:port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PortRule {
    pub proto: Proto,
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub ip: Ipv4Addr,
    pub port: u16,
}

/// What the firewall needs to know about a network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NetRule {
    pub bridge: String,
    pub subnet: Ipv4Net,
    pub internal: bool,
}

pub(crate) trait Firewall: std::fmt::Debug + Send + Sync {
    /// Whether a full [`Firewall::sync`] happened since boot (so opening need not sync).
    fn in_sync(&self) -> bool;
    /// Creates the table if missing and makes its contents exactly `nets` and `ports`
    /// (one atomic transaction), then makes sure other firewalls let the bridges through,
    /// and records that it did (see `marker.rs`).
    fn sync(&self, nets: &[NetRule], ports: &[PortRule]) -> Result<(), NetError>;
    fn add_network(&self, net: &NetRule) -> Result<(), NetError>;
    /// Removes a network's elements; already-absent ones are fine.
    fn remove_network(&self, net: &NetRule) -> Result<(), NetError>;
    /// Adds DNAT entries, all or none.
    fn add_ports(&self, ports: &[PortRule]) -> Result<(), NetError>;
    /// Removes DNAT entries; already-absent ones are fine.
    fn remove_ports(&self, ports: &[PortRule]) -> Result<(), NetError>;
    /// Re-adds berth's accept rules for `bridges` to another firewall's drop-policy chain.
    fn ensure_neighbours(&self, bridges: &[&str]) -> Result<(), NetError>;
    /// The table as `nft -j list table` prints it; `None` when it does not exist.
    fn list_table(&self) -> Result<Option<String>, NetError>;
    /// Deletes the table and every rule berth put into other tables.
    fn uninstall(&self) -> Result<(), NetError>;
}

/// [`FirewallKind::None`].
#[derive(Debug)]
pub(crate) struct NoFirewall {
    marker: marker::SyncMarker,
}

impl Firewall for NoFirewall {
    fn in_sync(&self) -> bool {
        false
    }
    /// Nothing to program, but ports published meanwhile are in no table: forget the last
    /// nftables sync so that switching back to nftables syncs in full.
    fn sync(&self, _: &[NetRule], _: &[PortRule]) -> Result<(), NetError> {
        self.marker.clear()
    }
    fn add_network(&self, _: &NetRule) -> Result<(), NetError> {
        Ok(())
    }
    fn remove_network(&self, _: &NetRule) -> Result<(), NetError> {
        Ok(())
    }
    fn add_ports(&self, _: &[PortRule]) -> Result<(), NetError> {
        Ok(())
    }
    fn remove_ports(&self, _: &[PortRule]) -> Result<(), NetError> {
        Ok(())
    }
    fn ensure_neighbours(&self, _: &[&str]) -> Result<(), NetError> {
        Ok(())
    }
    fn list_table(&self) -> Result<Option<String>, NetError> {
        Ok(None)
    }
    fn uninstall(&self) -> Result<(), NetError> {
        Ok(())
    }
}

/// The firewall of `kind`; `state_dir` holds the record of its last full sync.
pub(crate) fn make(kind: FirewallKind, table: &str, state_dir: &Path) -> Box<dyn Firewall> {
    match kind {
        FirewallKind::Nft => Box::new(Nft::new(table, state_dir)),
        FirewallKind::None => Box::new(NoFirewall {
            marker: marker::SyncMarker::new(state_dir, table),
        }),
    }
}
