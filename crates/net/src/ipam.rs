//! Address allocation: the next free address after the network's cursor, wrapping around, so
//! a just-released address is not handed out again at once (stale ARP entries, conntrack).

use std::collections::HashSet;
use std::net::Ipv4Addr;

use crate::state::NetworkRecord;
use crate::NetError;

/// Picks an address of `net` that is not in `used`, not the gateway, network or broadcast
/// address; `want` asks for one address in particular (`--ip`).
pub(crate) fn allocate(
    net: &NetworkRecord,
    used: &HashSet<Ipv4Addr>,
    want: Option<Ipv4Addr>,
) -> Result<Ipv4Addr, NetError> {
    let subnet = net.subnet;
    let reserved =
        |ip: Ipv4Addr| ip == net.gateway || ip == subnet.network() || ip == subnet.broadcast();
    if let Some(ip) = want {
        if !subnet.contains(ip) || reserved(ip) {
            return Err(NetError::invalid(
                "address",
                ip.to_string(),
                format!("not a usable address of network {} ({subnet})", net.name),
            ));
        }
        return Ok(ip);
    }
    let size = subnet.size();
    let start = net.last_ip.and_then(|ip| subnet.index_of(ip)).unwrap_or(0);
    for step in 1..=size {
        let idx = ((u64::from(start) + u64::from(step)) % u64::from(size)) as u32;
        if let Some(ip) = subnet.nth(idx) {
            if !reserved(ip) && !used.contains(&ip) {
                return Ok(ip);
            }
        }
    }
    Err(NetError::AddressesExhausted {
        network: net.name.clone(),
        subnet: subnet.to_string(),
    })
}

/// Docker's MAC scheme: 02:42 followed by the IPv4 address, so a reused address keeps its MAC.
pub(crate) fn mac_for(ip: Ipv4Addr) -> String {
    let o = ip.octets();
    format!("02:42:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3])
}

/// A host-side veth name: `vb` + 8 random hex digits (10 characters, under IFNAMSIZ).
pub(crate) fn veth_name() -> String {
    format!("vb{:08x}", rand::random::<u32>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(subnet: &str, last: Option<Ipv4Addr>) -> NetworkRecord {
        let subnet: crate::Ipv4Net = subnet.parse().unwrap();
        NetworkRecord {
            name: "n".into(),
            id: "x".into(),
            bridge: "b".into(),
            subnet,
            gateway: subnet.first_host().unwrap(),
            internal: false,
            created: 0,
            last_ip: last,
        }
    }

    #[test]
    fn sequential_after_cursor_and_wraps() {
        let n = net("10.0.0.0/29", None);
        let mut used = HashSet::new();
        let mut got = Vec::new();
        for _ in 0..5 {
            let ip = allocate(&n, &used, None).unwrap();
            used.insert(ip);
            got.push(ip.octets()[3]);
        }
        assert_eq!(got, vec![2, 3, 4, 5, 6]);
        assert!(matches!(
            allocate(&n, &used, None),
            Err(NetError::AddressesExhausted { .. })
        ));
        used.remove(&Ipv4Addr::new(10, 0, 0, 3));
        let n = net("10.0.0.0/29", Some(Ipv4Addr::new(10, 0, 0, 5)));
        assert_eq!(
            allocate(&n, &used, None).unwrap(),
            Ipv4Addr::new(10, 0, 0, 3)
        );
        used.clear();
        assert_eq!(
            allocate(&n, &used, None).unwrap(),
            Ipv4Addr::new(10, 0, 0, 6)
        );
    }

    #[test]
    fn requested_address_and_names() {
        let n = net("10.0.0.0/24", None);
        let used = HashSet::new();
        let ten = Ipv4Addr::new(10, 0, 0, 10);
        assert_eq!(allocate(&n, &used, Some(ten)).unwrap(), ten);
        assert!(allocate(&n, &used, Some(Ipv4Addr::new(10, 0, 0, 1))).is_err());
        assert!(allocate(&n, &used, Some(Ipv4Addr::new(10, 0, 1, 1))).is_err());
        assert_eq!(mac_for(Ipv4Addr::new(10, 213, 0, 2)), "02:42:0a:d5:00:02");
        let v = veth_name();
        assert!(v.len() == 10 && v.starts_with("vb"));
    }
}
