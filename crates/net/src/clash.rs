//! Subnet clashes: the host routing (part of) a berth network's subnet through another
//! interface — a Docker network on the same range, a VPN — breaks every published port and
//! all outbound traffic of the containers there, without an error anywhere. `system check`
//! reports clashes and a start warns about its own network.

use std::fmt;

use crate::ipnet::Ipv4Net;
use crate::{link, NetError, Network};

/// A berth network whose subnet the host does not route (only) to its bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetClash {
    pub network: String,
    pub subnet: Ipv4Net,
    pub bridge: String,
    /// The other route and its interface; `None`: there is no route to the bridge at all.
    pub other: Option<(Ipv4Net, String)>,
}

impl fmt::Display for SubnetClash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (net, subnet, bridge) = (&self.network, self.subnet, &self.bridge);
        match &self.other {
            Some((route, dev)) => write!(
                f,
                "network {net} ({subnet} on {bridge}) clashes with {route}, routed via {dev}: \
                 its containers cannot reach the outside or be reached through published \
                 ports; remove the other network, or give berth another subnet"
            ),
            None => write!(
                f,
                "network {net} ({subnet}): the host has no route to it through {bridge} (is \
                 the bridge down?); its containers are unreachable"
            ),
        }
    }
}

/// The clashes of `nets` (name, subnet, bridge) with the host's main-table `routes` (prefix,
/// interface). A route through another interface clashes when it is as specific as the
/// network's or more (the kernel prefers it for those addresses); a broader one (a default
/// route, a VPN's 10.0.0.0/8) loses to the bridge's own route and is fine.
pub fn clashes(
    nets: &[(String, Ipv4Net, String)],
    routes: &[(Ipv4Net, String)],
) -> Vec<SubnetClash> {
    let mut out = Vec::new();
    for (name, subnet, bridge) in nets {
        let clash = |other| SubnetClash {
            network: name.clone(),
            subnet: *subnet,
            bridge: bridge.clone(),
            other,
        };
        let mut own = false;
        for (route, dev) in routes {
            if !route.overlaps(subnet) {
                continue;
            }
            if dev == bridge {
                own |= route.prefix_len() <= subnet.prefix_len();
            } else if route.prefix_len() >= subnet.prefix_len() {
                out.push(clash(Some((*route, dev.clone()))));
            }
        }
        if !own {
            out.push(clash(None));
        }
    }
    out
}

impl Network {
    /// The clashes of this root's networks with the host's routes (see [`clashes`]); `only`
    /// limits the check to one network.
    pub fn subnet_clashes(&self, only: Option<&str>) -> Result<Vec<SubnetClash>, NetError> {
        let nets: Vec<(String, Ipv4Net, String)> = self
            .store()
            .networks()?
            .into_iter()
            .filter(|n| only.is_none_or(|o| o == n.name))
            .map(|n| (n.name, n.subnet, n.bridge))
            .collect();
        if nets.is_empty() {
            return Ok(Vec::new());
        }
        Ok(clashes(&nets, &link::routes()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    fn nets() -> Vec<(String, Ipv4Net, String)> {
        vec![("bridge".into(), net("10.213.0.0/16"), "berth0".into())]
    }

    fn route(s: &str, dev: &str) -> (Ipv4Net, String) {
        (net(s), dev.to_string())
    }

    #[test]
    fn a_route_through_the_bridge_and_broader_ones_elsewhere_are_fine() {
        let routes = [
            route("0.0.0.0/0", "eth0"),
            route("10.0.0.0/8", "tun0"),
            route("10.213.0.0/16", "berth0"),
            route("10.214.1.0/24", "br-x"),
        ];
        assert_eq!(clashes(&nets(), &routes), vec![]);
    }

    #[test]
    fn the_same_or_a_narrower_route_elsewhere_clashes() {
        for other in ["10.213.0.0/16", "10.213.4.0/24"] {
            let routes = [route("10.213.0.0/16", "berth0"), route(other, "br-1a2b")];
            let got = clashes(&nets(), &routes);
            assert_eq!(got.len(), 1, "{other}: {got:?}");
            assert_eq!(got[0].other, Some(route(other, "br-1a2b")));
            let msg = got[0].to_string();
            assert!(
                msg.contains("clashes with") && msg.contains("br-1a2b"),
                "{msg}"
            );
        }
    }

    #[test]
    fn no_route_to_the_bridge_is_reported() {
        let got = clashes(&nets(), &[route("0.0.0.0/0", "eth0")]);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].other, None);
        assert!(got[0].to_string().contains("no route"), "{}", got[0]);
    }
}
