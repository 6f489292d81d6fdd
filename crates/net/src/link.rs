//! Links and addresses, with `ip -batch` (one process per step, not one per setting).

use std::net::Ipv4Addr;
use std::path::Path;

use serde_json::Value;

use crate::ipnet::Ipv4Net;
use crate::sys::{in_netns, is_gone, link_exists, run, set_sysctl};
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
    if link_exists(name) {
        let json = run(
            &what,
            "ip",
            &["-d", "-j", "link", "show", "dev", name],
            None,
        )?;
        let v: Value = serde_json::from_str(&json).unwrap_or_default();
        if v[0]["linkinfo"]["info_kind"] != "bridge" {
            return Err(NetError::invalid(
                "bridge name",
                name,
                "an interface of that name exists and is not a bridge",
            ));
        }
    } else {
        let mut args = vec!["link", "add", name];
        let mtu_s = mtu.map(|m| m.to_string());
        if let Some(m) = &mtu_s {
            args.extend(["mtu", m.as_str()]);
        }
        args.extend(["type", "bridge"]);
        match run(&what, "ip", &args, None) {
            // Another process created it between our check and our add.
            Err(NetError::Command { ref stderr, .. }) if stderr.contains("File exists") => {}
            r => {
                r?;
            }
        }
    }
    let script = format!("addr replace {gateway}/{prefix} dev {name}\nlink set {name} up\n");
    run(&what, "ip", &["-batch", "-"], Some(&script))?;
    set_sysctl(&format!("net/ipv4/conf/{name}/route_localnet"), "1")?;
    set_sysctl("net/ipv4/ip_forward", "1")
}

/// Deletes a link; one that is already gone is fine.
pub(crate) fn delete_link(name: &str) -> Result<(), NetError> {
    match run(
        &format!("delete link {name}"),
        "ip",
        &["link", "del", "dev", name],
        None,
    ) {
        Err(e) if !is_gone(&e) => Err(e),
        _ => Ok(()),
    }
}

/// Removes an address from a link; absent address or link is fine.
pub(crate) fn delete_addr(link: &str, ip: Ipv4Addr, prefix: u8) -> Result<(), NetError> {
    let addr = format!("{ip}/{prefix}");
    match run(
        &format!("remove address {addr} from {link}"),
        "ip",
        &["addr", "del", &addr, "dev", link],
        None,
    ) {
        Err(NetError::Command { ref stderr, .. }) if stderr.contains("Cannot assign") => Ok(()),
        Err(e) if !is_gone(&e) => Err(e),
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
/// the host's `eth0`), plugs the host end into the bridge, then addresses the container end.
pub(crate) fn create_veth(v: &Veth<'_>) -> Result<(), NetError> {
    let what = format!("create veth {} for {}", v.host, v.netns.display());
    let host = format!(
        "link add {h} mtu {m} type veth peer name {i} mtu {m} address {mac} netns \"{ns}\"\n\
         link set {h} master {b}\n\
         link set dev {h} type bridge_slave hairpin on\n\
         link set {h} up\n",
        h = v.host,
        m = v.mtu,
        i = v.ifname,
        mac = v.mac,
        ns = v.netns.display(),
        b = v.bridge,
    );
    run(&what, "ip", &["-batch", "-"], Some(&host))?;
    let mut inside = format!(
        "addr add {}/{} dev {i}\nlink set {i} up\n",
        v.ip,
        v.prefix,
        i = v.ifname
    );
    if let Some(gw) = v.gateway {
        inside.push_str(&format!("route add default via {gw} dev {}\n", v.ifname));
    }
    in_netns(v.netns, || {
        run(&what, "ip", &["-batch", "-"], Some(&inside)).map(|_| ())
    })
}

/// The names of links enslaved to `bridge`.
pub(crate) fn bridge_ports(bridge: &str) -> Result<Vec<String>, NetError> {
    let json = run(
        &format!("list ports of bridge {bridge}"),
        "ip",
        &["-j", "link", "show", "master", bridge],
        None,
    )?;
    let v: Value = serde_json::from_str(&json).unwrap_or_default();
    Ok(v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|l| l["ifname"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default())
}

/// MTU of the interface that carries the default route (1500 when there is none).
pub(crate) fn uplink_mtu() -> u32 {
    let dev = run(
        "find default route",
        "ip",
        &["-4", "-j", "route", "show", "default"],
        None,
    )
    .ok()
    .and_then(|j| serde_json::from_str::<Value>(&j).ok())
    .and_then(|v| v[0]["dev"].as_str().map(str::to_string));
    dev.and_then(|d| {
        run(
            "read uplink mtu",
            "ip",
            &["-j", "link", "show", "dev", &d],
            None,
        )
        .ok()
    })
    .and_then(|j| serde_json::from_str::<Value>(&j).ok())
    .and_then(|v| v[0]["mtu"].as_u64())
    .and_then(|m| u32::try_from(m).ok())
    .unwrap_or(1500)
}

/// IPv4 routes of the main table as (destination, device), default route excluded.
pub(crate) fn routes() -> Result<Vec<(Ipv4Net, String)>, NetError> {
    let json = run("list routes", "ip", &["-4", "-j", "route", "show"], None)?;
    let v: Value = serde_json::from_str(&json).unwrap_or_default();
    let mut out = Vec::new();
    for r in v.as_array().into_iter().flatten() {
        let dst = r["dst"].as_str().unwrap_or_default();
        let dev = r["dev"].as_str().unwrap_or_default().to_string();
        let (addr, prefix) = dst.split_once('/').unwrap_or((dst, "32"));
        let (Ok(addr), Ok(prefix)) = (addr.parse::<Ipv4Addr>(), prefix.parse::<u8>()) else {
            continue;
        };
        if prefix > 32 {
            continue;
        }
        let mask = if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(prefix))
        };
        if let Ok(net) = Ipv4Net::new(Ipv4Addr::from(u32::from(addr) & mask), prefix) {
            out.push((net, dev));
        }
    }
    Ok(out)
}
