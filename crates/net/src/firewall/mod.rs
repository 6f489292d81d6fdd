//! The firewall seam: what berth needs from a packet filter, and two implementations —
//! nftables (one table of berth's own, see `nft.rs` for its layout) and none.

pub(crate) mod docker;
mod nft;

use std::net::Ipv4Addr;

use crate::ipnet::Ipv4Net;
use crate::publish::Proto;
use crate::NetError;

pub(crate) use nft::Nft;

/// Which firewall berth programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FirewallKind {
    /// nftables, through the `nft` tool: masquerade, DNAT for published ports, isolation.
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
    /// Creates the table if missing and makes its contents exactly `nets` and `ports`
    /// (one atomic transaction), then makes sure other firewalls let the bridges through.
    fn sync(&self, nets: &[NetRule], ports: &[PortRule]) -> Result<(), NetError>;
    fn add_network(&self, net: &NetRule) -> Result<(), NetError>;
    /// Removes a network's elements; already-absent ones are fine.
    fn remove_network(&self, net: &NetRule) -> Result<(), NetError>;
    /// Adds DNAT entries, all or none.
    fn add_ports(&self, ports: &[PortRule]) -> Result<(), NetError>;
    /// Removes DNAT entries; already-absent ones are fine.
    fn remove_ports(&self, ports: &[PortRule]) -> Result<(), NetError>;
    /// Deletes the table and every rule berth put into other tables.
    fn uninstall(&self) -> Result<(), NetError>;
}

/// [`FirewallKind::None`].
#[derive(Debug)]
pub(crate) struct NoFirewall;

impl Firewall for NoFirewall {
    fn sync(&self, _: &[NetRule], _: &[PortRule]) -> Result<(), NetError> {
        Ok(())
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
    fn uninstall(&self) -> Result<(), NetError> {
        Ok(())
    }
}

pub(crate) fn make(kind: FirewallKind, table: &str) -> Box<dyn Firewall> {
    match kind {
        FirewallKind::Nft => Box::new(Nft::new(table)),
        FirewallKind::None => Box::new(NoFirewall),
    }
}
