//! The rtnetlink messages [`crate::link`] sends, and what it reads out of the kernel's answers:
//! pure functions, so that what goes on the wire is tested without root.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::RawFd;

use netlink_packet_core::{DefaultNla, Emitable, NLA_F_NESTED};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::AddressFamily;

use crate::ipnet::Ipv4Net;
use crate::link::Veth;
use crate::NetError;

/// `IFLA_PROTINFO`: per-port settings, read by the bridge on an `AF_BRIDGE` setlink.
const IFLA_PROTINFO: u16 = 12;
/// `IFLA_BRPORT_MODE`: the port's hairpin flag (`u8`).
const IFLA_BRPORT_MODE: u16 = 4;

/// A link named `name` (index 0: the kernel looks it up by name).
pub(crate) fn link_named(name: &str) -> LinkMessage {
    let mut m = LinkMessage::default();
    m.attributes.push(LinkAttribute::IfName(name.to_string()));
    m
}

/// The link with index `index`.
pub(crate) fn link_index(index: u32) -> LinkMessage {
    let mut m = LinkMessage::default();
    m.header.index = index;
    m
}

/// `m`, with the request to set `IFF_UP` (and leave every other flag alone).
pub(crate) fn up(mut m: LinkMessage) -> LinkMessage {
    m.header.flags = LinkFlags::Up;
    m.header.change_mask = LinkFlags::Up;
    m
}

/// A new bridge, with the given MTU or the kernel's default.
pub(crate) fn new_bridge(name: &str, mtu: Option<u32>) -> LinkMessage {
    let mut m = link_named(name);
    if let Some(mtu) = mtu {
        m.attributes.push(LinkAttribute::Mtu(mtu));
    }
    m.attributes
        .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
            InfoKind::Bridge,
        )]));
    m
}

/// A veth pair: the host end enslaved to bridge `bridge` and up, the container end born in the
/// namespace `netns_fd` refers to with its final name and MAC; both ends with `v.mtu`.
pub(crate) fn veth_pair(v: &Veth<'_>, mac: [u8; 6], bridge: u32, netns_fd: RawFd) -> LinkMessage {
    let mut peer = LinkMessage::default();
    peer.attributes = vec![
        LinkAttribute::IfName(v.ifname.to_string()),
        LinkAttribute::Mtu(v.mtu),
        LinkAttribute::Address(mac.to_vec()),
        LinkAttribute::NetNsFd(netns_fd),
    ];
    let mut m = up(link_named(v.host));
    m.attributes.extend([
        LinkAttribute::Mtu(v.mtu),
        LinkAttribute::Controller(bridge),
        LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))),
        ]),
    ]);
    m
}

/// Hairpin mode on bridge port `index`: an `AF_BRIDGE` setlink with a nested `IFLA_PROTINFO`
/// (the bridge reads a non-nested one as a bare STP port state).
pub(crate) fn hairpin(index: u32) -> LinkMessage {
    let mode = DefaultNla::new(IFLA_BRPORT_MODE, vec![1]);
    let mut nested = vec![0; mode.buffer_len()];
    mode.emit(&mut nested);
    let mut m = link_index(index);
    m.header.interface_family = AddressFamily::Bridge;
    m.attributes
        .push(LinkAttribute::ProtoInfoUnknown(DefaultNla::new(
            IFLA_PROTINFO | NLA_F_NESTED,
            nested,
        )));
    m
}

/// `ip/prefix` on link `index` (local and peer address alike, as `ip addr add` sends it).
pub(crate) fn ipv4_address(index: u32, ip: Ipv4Addr, prefix: u8) -> AddressMessage {
    let mut m = AddressMessage::default();
    m.header.family = AddressFamily::Inet;
    m.header.prefix_len = prefix;
    m.header.index = index;
    m.attributes = vec![
        AddressAttribute::Local(IpAddr::V4(ip)),
        AddressAttribute::Address(IpAddr::V4(ip)),
    ];
    m
}

/// `default via gateway dev index` in the main table, as `ip route add` makes it.
pub(crate) fn default_route(index: u32, gateway: Ipv4Addr) -> RouteMessage {
    let mut m = RouteMessage::default();
    m.header.address_family = AddressFamily::Inet;
    m.header.table = RouteHeader::RT_TABLE_MAIN;
    m.header.protocol = RouteProtocol::Boot;
    m.header.scope = RouteScope::Universe;
    m.header.kind = RouteType::Unicast;
    m.attributes = vec![
        RouteAttribute::Gateway(RouteAddress::Inet(gateway)),
        RouteAttribute::Oif(index),
    ];
    m
}

/// `02:42:0a:c9:01:02` as bytes.
pub(crate) fn parse_mac(mac: &str) -> Result<[u8; 6], NetError> {
    let bad = || NetError::invalid("MAC address", mac, "expected six hex bytes a:b:c:d:e:f");
    let mut out = [0u8; 6];
    let mut parts = mac.split(':');
    for byte in &mut out {
        let part = parts.next().ok_or_else(bad)?;
        if part.is_empty() || part.len() > 2 {
            return Err(bad());
        }
        *byte = u8::from_str_radix(part, 16).map_err(|_| bad())?;
    }
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok(out)
}

pub(crate) fn name(link: &LinkMessage) -> Option<String> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.clone()),
        _ => None,
    })
}

pub(crate) fn mtu(link: &LinkMessage) -> Option<u32> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::Mtu(m) => Some(*m),
        _ => None,
    })
}

/// The index of the bridge (or other master) `link` is enslaved to.
pub(crate) fn controller(link: &LinkMessage) -> Option<u32> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::Controller(i) => Some(*i),
        _ => None,
    })
}

pub(crate) fn oif(route: &RouteMessage) -> Option<u32> {
    route.attributes.iter().find_map(|a| match a {
        RouteAttribute::Oif(i) => Some(*i),
        _ => None,
    })
}

/// Whether an IPv4 route is in the main table (`RTA_TABLE` wins over the header's 8 bits).
pub(crate) fn in_main_table(route: &RouteMessage) -> bool {
    let table = route
        .attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(route.header.table));
    route.header.address_family == AddressFamily::Inet
        && table == u32::from(RouteHeader::RT_TABLE_MAIN)
}

/// The main table's IPv4 routes as (destination, device name), default routes left out; a
/// route with no single device (multipath, blackhole) has an empty device name.
pub(crate) fn main_routes(
    routes: &[RouteMessage],
    names: &HashMap<u32, String>,
) -> Vec<(Ipv4Net, String)> {
    routes
        .iter()
        .filter(|r| in_main_table(r) && r.header.destination_prefix_length > 0)
        .filter_map(|r| {
            let prefix = r.header.destination_prefix_length;
            let dst = r.attributes.iter().find_map(|a| match a {
                RouteAttribute::Destination(RouteAddress::Inet(d)) => Some(*d),
                _ => None,
            })?;
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            let net = Ipv4Net::new(Ipv4Addr::from(u32::from(dst) & mask), prefix).ok()?;
            let dev = oif(r)
                .and_then(|i| names.get(&i).cloned())
                .unwrap_or_default();
            Some((net, dev))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::serialize;
    use netlink_packet_route::RouteNetlinkMessage as Rt;
    use std::path::Path;

    /// The bytes of attribute `kind` at the top level of `attrs` (a message's attribute area).
    fn attr(attrs: &[u8], kind: u16) -> Option<Vec<u8>> {
        netlink_packet_core::NlasIterator::new(attrs)
            .flatten()
            .find(|a| a.kind() == kind)
            .map(|a| a.value().to_vec())
    }

    /// Netlink header (16) + ifinfomsg (16): where a link message's attributes start.
    const LINK_ATTRS: usize = 32;

    #[test]
    fn hairpin_is_a_nested_bridge_port_mode_on_an_af_bridge_setlink() {
        let bytes = serialize(Rt::SetLink(hairpin(42)), 0, 1);
        assert_eq!(u16::from_ne_bytes([bytes[4], bytes[5]]), 19, "RTM_SETLINK");
        assert_eq!(bytes[16], libc::AF_BRIDGE as u8);
        assert_eq!(u32::from_ne_bytes(bytes[20..24].try_into().unwrap()), 42);
        // The raw type must carry NLA_F_NESTED, or the bridge takes the byte as an STP state.
        let raw_type = u16::from_ne_bytes([bytes[LINK_ATTRS + 2], bytes[LINK_ATTRS + 3]]);
        assert_eq!(raw_type, IFLA_PROTINFO | NLA_F_NESTED);
        let protinfo = attr(&bytes[LINK_ATTRS..], IFLA_PROTINFO).unwrap();
        assert_eq!(attr(&protinfo, IFLA_BRPORT_MODE), Some(vec![1]));
    }

    #[test]
    fn the_veth_peer_is_born_in_the_namespace_with_its_name_mac_and_mtu() {
        let v = Veth {
            host: "vbabcdef01",
            bridge: "berth0",
            netns: Path::new("/run/x"),
            ifname: "eth1",
            mac: "02:42:0a:c9:01:02",
            ip: Ipv4Addr::new(10, 201, 1, 2),
            prefix: 24,
            gateway: None,
            mtu: 1400,
        };
        let mac = parse_mac(v.mac).unwrap();
        let m = veth_pair(&v, mac, 7, 99);
        assert_eq!(m.header.flags, LinkFlags::Up);
        assert!(m.attributes.contains(&LinkAttribute::Controller(7)));
        assert!(m.attributes.contains(&LinkAttribute::Mtu(1400)));
        let bytes = serialize(Rt::NewLink(m), 0, 1);
        // IFLA_LINKINFO(18) > IFLA_INFO_DATA(2) > VETH_INFO_PEER(1) > ifinfomsg + attributes.
        let info = attr(&bytes[LINK_ATTRS..], 18).unwrap();
        let data = attr(&info, 2).unwrap();
        let peer = attr(&data, 1).unwrap();
        let peer_attrs = &peer[16..];
        assert_eq!(attr(peer_attrs, 3).unwrap(), b"eth1\0"); // IFLA_IFNAME
        assert_eq!(attr(peer_attrs, 4).unwrap(), 1400u32.to_ne_bytes()); // IFLA_MTU
        assert_eq!(attr(peer_attrs, 1).unwrap(), mac); // IFLA_ADDRESS
        assert_eq!(attr(peer_attrs, 28).unwrap(), 99i32.to_ne_bytes()); // IFLA_NET_NS_FD
    }

    #[test]
    fn the_default_route_goes_to_the_main_table_via_the_gateway() {
        let r = default_route(3, Ipv4Addr::new(10, 0, 0, 1));
        assert!(in_main_table(&r));
        assert_eq!(r.header.destination_prefix_length, 0);
        assert_eq!(oif(&r), Some(3));
        let bytes = serialize(Rt::NewRoute(r), 0, 1);
        // rtmsg is 12 bytes; RTA_GATEWAY is 5.
        assert_eq!(attr(&bytes[28..], 5).unwrap(), [10, 0, 0, 1]);
    }

    #[test]
    fn addresses_carry_local_and_address_with_the_prefix() {
        let a = ipv4_address(5, Ipv4Addr::new(10, 201, 1, 2), 24);
        let bytes = serialize(Rt::NewAddress(a), 0, 1);
        assert_eq!(bytes[16], libc::AF_INET as u8);
        assert_eq!(bytes[17], 24);
        assert_eq!(u32::from_ne_bytes(bytes[20..24].try_into().unwrap()), 5);
        // ifaddrmsg is 8 bytes; IFA_ADDRESS is 1, IFA_LOCAL 2.
        assert_eq!(attr(&bytes[24..], 1).unwrap(), [10, 201, 1, 2]);
        assert_eq!(attr(&bytes[24..], 2).unwrap(), [10, 201, 1, 2]);
    }

    #[test]
    fn macs_parse_strictly() {
        assert_eq!(
            parse_mac("02:42:0a:c9:01:02").unwrap(),
            [2, 0x42, 0x0a, 0xc9, 1, 2]
        );
        for bad in [
            "",
            "02:42:0a:c9:01",
            "02:42:0a:c9:01:02:03",
            "02:42:0a:c9:01:zz",
            "002:42:0a:c9:01:02",
        ] {
            assert!(parse_mac(bad).is_err(), "{bad}");
        }
    }

    fn route(table: u8, dst: Option<(Ipv4Addr, u8)>, oif_: Option<u32>) -> RouteMessage {
        let mut r = RouteMessage::default();
        r.header.address_family = AddressFamily::Inet;
        r.header.table = table;
        if let Some((d, p)) = dst {
            r.header.destination_prefix_length = p;
            r.attributes
                .push(RouteAttribute::Destination(RouteAddress::Inet(d)));
        }
        if let Some(i) = oif_ {
            r.attributes.push(RouteAttribute::Oif(i));
        }
        r
    }

    #[test]
    fn main_routes_keep_the_main_table_without_the_default_route() {
        let names = HashMap::from([(2, "eth0".to_string()), (9, "berth0".to_string())]);
        let mut big_table = route(252, Some((Ipv4Addr::new(10, 9, 0, 0), 16)), Some(2));
        big_table.attributes.push(RouteAttribute::Table(1000));
        let routes = [
            route(254, None, Some(2)), // default
            route(254, Some((Ipv4Addr::new(192, 168, 1, 0), 24)), Some(2)),
            route(254, Some((Ipv4Addr::new(10, 213, 0, 7), 16)), Some(9)),
            route(254, Some((Ipv4Addr::new(10, 1, 1, 1), 32)), None), // blackhole
            route(255, Some((Ipv4Addr::new(127, 0, 0, 0), 8)), Some(1)), // local table
            big_table,
        ];
        let got = main_routes(&routes, &names);
        let want: Vec<(Ipv4Net, String)> = [
            ("192.168.1.0/24", "eth0"),
            ("10.213.0.0/16", "berth0"),
            ("10.1.1.1/32", ""),
        ]
        .iter()
        .map(|(n, d)| (n.parse().unwrap(), d.to_string()))
        .collect();
        assert_eq!(got, want);
    }
}
