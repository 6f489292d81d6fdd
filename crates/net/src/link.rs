//! Links, addresses and routes, configured over rtnetlink from our own process (see
//! [`crate::netlink`]): no helper process, one request per setting.

use std::collections::HashMap;
use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE};
use netlink_packet_route::link::LinkMessage;
use netlink_packet_route::route::RouteMessage;
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage as Rt};

use crate::ipnet::Ipv4Net;
use crate::link_msg as msg;
use crate::netlink::{is_errno, kernel_error, LinkEvents, Netlink, BR_STATE_DISABLED};
use crate::sys::{in_netns, is_gone, set_sysctl};
use crate::NetError;

/// Makes sure bridge `name` exists, carries `gateway/prefix`, is up, and lets DNAT from
/// 127.0.0.1 reach it (`route_localnet`). Idempotent.
pub(crate) fn ensure_bridge(
    name: &str,
    gateway: Ipv4Addr,
    prefix: u8,
    mtu: Option<u32>,
) -> Result<(), NetError> {
    let what = format!("set up bridge {name}");
    let mut nl = Netlink::open()?;
    let look = |nl: &mut Netlink| {
        let facts = nl.link_facts(&what, Rt::GetLink(msg::link_named(name)))?;
        Ok::<_, NetError>(facts.map(|f| (f.index, f.kind)))
    };
    let (index, kind) = match look(&mut nl)? {
        Some(found) => found,
        None => {
            let add = nl.request(
                &what,
                Rt::NewLink(msg::new_bridge(name, mtu)),
                NLM_F_CREATE | NLM_F_EXCL,
            );
            match add {
                // Another process created it between our check and our add.
                Err(e) if is_errno(&e, &[libc::EEXIST]) => {}
                r => r?,
            }
            look(&mut nl)?.ok_or_else(|| gone(&what, name))?
        }
    };
    if kind.as_deref() != Some("bridge") {
        return Err(NetError::invalid(
            "bridge name",
            name,
            "an interface of that name exists and is not a bridge",
        ));
    }
    nl.request(
        &format!("{what}: set address {gateway}/{prefix}"),
        Rt::NewAddress(msg::ipv4_address(index, gateway, prefix)),
        NLM_F_CREATE | NLM_F_REPLACE,
    )?;
    nl.request(
        &format!("{what}: bring it up"),
        Rt::SetLink(msg::up(msg::link_index(index))),
        0,
    )?;
    set_sysctl(&format!("net/ipv4/conf/{name}/route_localnet"), "1")?;
    set_sysctl("net/ipv4/ip_forward", "1")
}

/// Deletes a link; one that is already gone is fine.
pub(crate) fn delete_link(name: &str) -> Result<(), NetError> {
    let what = format!("delete link {name}");
    let done = Netlink::open()?.request(&what, Rt::DelLink(msg::link_named(name)), 0);
    match done {
        Err(e) if !is_gone(&e) => Err(e),
        _ => Ok(()),
    }
}

/// Removes an address from a link; absent address or link is fine.
pub(crate) fn delete_addr(link: &str, ip: Ipv4Addr, prefix: u8) -> Result<(), NetError> {
    let what = format!("remove address {ip}/{prefix} from {link}");
    let mut nl = Netlink::open()?;
    let Some(found) = find_link(&mut nl, &what, link)? else {
        return Ok(());
    };
    let done = nl.request(
        &what,
        Rt::DelAddress(msg::ipv4_address(found.header.index, ip, prefix)),
        0,
    );
    match done {
        Err(e) if !is_gone(&e) && !is_errno(&e, &[libc::EADDRNOTAVAIL]) => Err(e),
        _ => Ok(()),
    }
}

/// What a veth pair needs.
#[derive(Debug)]
pub(crate) struct Veth<'a> {
    pub host: &'a str,
    pub bridge: &'a str,
    pub netns: &'a Path,
    pub ifname: &'a str,
    pub mac: &'a str,
    pub ip: Ipv4Addr,
    pub prefix: u8,
    /// Default route via this address, if any.
    pub gateway: Option<Ipv4Addr>,
    pub mtu: u32,
}

/// Creates the pair with its container end born inside the namespace (so no name clash with
/// the host's `eth0`) and its host end up on the bridge in hairpin mode, then addresses the
/// container end.
pub(crate) fn create_veth(v: &Veth<'_>) -> Result<(), NetError> {
    let what = format!("create veth {} for {}", v.host, v.netns.display());
    let mac = msg::parse_mac(v.mac)?;
    let ns = File::open(v.netns)
        .map_err(|e| NetError::io(format!("{what}: open the network namespace"), e))?;
    let mut nl = Netlink::open()?;
    let bridge = index_of(&what, v.bridge)?;
    nl.request(
        &what,
        Rt::NewLink(msg::veth_pair(v, mac, bridge, ns.as_raw_fd())),
        NLM_F_CREATE | NLM_F_EXCL,
    )?;
    // The bridge sends a frame back out of the port it came in by only in hairpin mode: what
    // lets a container reach itself through a published port.
    let host = index_of(&what, v.host)?;
    nl.request(
        &format!("{what}: set hairpin mode"),
        Rt::SetLink(msg::hairpin(host)),
        0,
    )?;
    // The container end going up gives the host end carrier; the bridge hears of it only when
    // the kernel's link watcher runs, and until then the port is disabled and drops every
    // frame. Listen before that can happen, so the wait below cannot miss it.
    let mut events = LinkEvents::subscribe()?;
    in_netns(v.netns, || configure_inside(v, &what))?;
    wait_port_enabled(&mut nl, &mut events, &what, host)
}

/// How long a bridge port may take to hear of its carrier before the container goes on
/// without it (the link watcher is asynchronous: usually well under a millisecond, longer
/// while many namespaces are torn down at once).
const PORT_ENABLE_TIMEOUT: Duration = Duration::from_secs(1);

/// Waits until bridge port `index` has left the disabled state: with STP off (berth's bridges)
/// that is forwarding. Without the wait a container's first packets can be dropped — a TCP
/// connect then stalls for the one-second SYN retransmission, a DNS query for its timeout.
fn wait_port_enabled(
    nl: &mut Netlink,
    events: &mut LinkEvents,
    what: &str,
    index: u32,
) -> Result<(), NetError> {
    let start = Instant::now();
    loop {
        let facts = nl.link_facts(what, Rt::GetLink(msg::link_index(index)))?;
        let state = facts.and_then(|f| f.port_state);
        if state != Some(BR_STATE_DISABLED) {
            tracing::debug!(waited = ?start.elapsed(), ?state, "bridge port enabled");
            return Ok(());
        }
        let left = PORT_ENABLE_TIMEOUT.saturating_sub(start.elapsed());
        if left.is_zero() || !events.wait_for(index, left) {
            tracing::warn!(
                "{what}: the bridge port was still disabled after {PORT_ENABLE_TIMEOUT:?}; \
                 the container's first packets may be lost"
            );
            return Ok(());
        }
    }
}

/// Addresses the container end (in the calling thread's namespace), brings it up and adds the
/// default route if asked.
fn configure_inside(v: &Veth<'_>, what: &str) -> Result<(), NetError> {
    let mut nl = Netlink::open()?;
    let index = index_of(what, v.ifname)?;
    nl.request(
        &format!("{what}: add address {}/{} to {}", v.ip, v.prefix, v.ifname),
        Rt::NewAddress(msg::ipv4_address(index, v.ip, v.prefix)),
        NLM_F_CREATE | NLM_F_EXCL,
    )?;
    nl.request(
        &format!("{what}: bring {} up", v.ifname),
        Rt::SetLink(msg::up(msg::link_index(index))),
        0,
    )?;
    if let Some(gw) = v.gateway {
        nl.request(
            &format!("{what}: add default route via {gw} dev {}", v.ifname),
            Rt::NewRoute(msg::default_route(index, gw)),
            NLM_F_CREATE | NLM_F_EXCL,
        )?;
    }
    Ok(())
}

/// Brings link `name` up in the calling thread's namespace.
pub(crate) fn set_up(nl: &mut Netlink, what: &str, name: &str) -> Result<(), NetError> {
    nl.request(
        &format!("{what}: bring {name} up"),
        Rt::SetLink(msg::up(msg::link_named(name))),
        0,
    )
}

/// The names of links enslaved to `bridge`.
pub(crate) fn bridge_ports(bridge: &str) -> Result<Vec<String>, NetError> {
    let what = format!("list ports of bridge {bridge}");
    let mut nl = Netlink::open()?;
    let index = index_of(&what, bridge)?;
    Ok(dump_links(&mut nl, &what)?
        .iter()
        .filter(|l| msg::controller(l) == Some(index))
        .filter_map(msg::name)
        .collect())
}

/// MTU of the interface that carries the default route (1500 when there is none).
pub(crate) fn uplink_mtu() -> u32 {
    match try_uplink_mtu() {
        Ok(mtu) => mtu.unwrap_or(1500),
        Err(e) => {
            tracing::debug!(error = %e, "could not read the uplink's MTU; using 1500");
            1500
        }
    }
}

fn try_uplink_mtu() -> Result<Option<u32>, NetError> {
    let mut nl = Netlink::open()?;
    let routes = dump_routes(&mut nl, "find default route")?;
    let oif = routes
        .iter()
        .filter(|r| msg::in_main_table(r) && r.header.destination_prefix_length == 0)
        .map(msg::oif)
        .next()
        .flatten();
    let Some(oif) = oif else {
        return Ok(None);
    };
    match nl.get("read uplink mtu", Rt::GetLink(msg::link_index(oif)))? {
        Rt::NewLink(link) => Ok(msg::mtu(&link)),
        _ => Ok(None),
    }
}

/// IPv4 routes of the main table as (destination, device), default route excluded.
pub(crate) fn routes() -> Result<Vec<(Ipv4Net, String)>, NetError> {
    let what = "list routes";
    let mut nl = Netlink::open()?;
    let routes = dump_routes(&mut nl, what)?;
    // Names by index one ioctl each, for the few interfaces routes use: a dump of every link
    // parses each bridge's link info at ~1 ms apiece (see `index_of`).
    let names: HashMap<u32, String> = routes
        .iter()
        .filter_map(msg::oif)
        .collect::<std::collections::BTreeSet<u32>>()
        .into_iter()
        .filter_map(|i| {
            let name = nix::net::if_::if_indextoname(i).ok()?;
            Some((i, name.to_string_lossy().into_owned()))
        })
        .collect();
    Ok(msg::main_routes(&routes, &names))
}

/// The link called `name`, if there is one.
fn find_link(nl: &mut Netlink, what: &str, name: &str) -> Result<Option<LinkMessage>, NetError> {
    match nl.get(
        &format!("{what}: look up link {name}"),
        Rt::GetLink(msg::link_named(name)),
    ) {
        Ok(Rt::NewLink(link)) => Ok(Some(link)),
        Ok(_) => Ok(None),
        Err(e) if is_gone(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The index of link `name` in the calling thread's namespace; its absence is an error.
///
/// `if_nametoindex` (one ioctl) rather than an `RTM_GETLINK`: the reply carries every
/// attribute of the link, and parsing a bridge's (netlink-packet-route formats an error
/// context for its link info data whether or not it fails) was ~10 % of an attach's CPU.
fn index_of(what: &str, name: &str) -> Result<u32, NetError> {
    match nix::net::if_::if_nametoindex(name) {
        Ok(i) => Ok(i),
        Err(nix::errno::Errno::ENODEV) => Err(gone(what, name)),
        Err(e) => Err(kernel_error(
            &format!("{what}: look up link {name}"),
            -(e as i32),
            None,
        )),
    }
}

fn gone(what: &str, name: &str) -> NetError {
    kernel_error(&format!("{what}: link {name}"), -libc::ENODEV, None)
}

fn dump_links(nl: &mut Netlink, what: &str) -> Result<Vec<LinkMessage>, NetError> {
    Ok(nl
        .dump(what, Rt::GetLink(LinkMessage::default()))?
        .into_iter()
        .filter_map(|m| match m {
            Rt::NewLink(l) => Some(l),
            _ => None,
        })
        .collect())
}

fn dump_routes(nl: &mut Netlink, what: &str) -> Result<Vec<RouteMessage>, NetError> {
    let mut req = RouteMessage::default();
    req.header.address_family = AddressFamily::Inet;
    Ok(nl
        .dump(what, Rt::GetRoute(req))?
        .into_iter()
        .filter_map(|m| match m {
            Rt::NewRoute(r) => Some(r),
            _ => None,
        })
        .collect())
}
