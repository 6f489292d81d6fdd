//! nftables through libnftables (see `libnft.rs`), in-process. Everything lives in one table (`ip berth` by default):
//!
//! ```text
//! table ip berth {
//!   map hp_any  { inet_proto . inet_service : ipv4_addr . inet_service }             # -p 5000:8000
//!   map hp_ip   { inet_proto . ipv4_addr . inet_service : ipv4_addr . inet_service } # -p IP:5000:8000
//!   set bridges { ifname }   set same { ifname . ifname }   set internal { ifname }
//!   set subnets { ipv4_addr, interval }   set nat_subnets { ipv4_addr, interval }
//!   chain prerouting  nat/prerouting dstnat : fib daddr type local jump hostports
//!   chain output      nat/output     -100   : fib daddr type local jump hostports
//!   chain hostports   dnat via @hp_ip, then via @hp_any
//!   chain postrouting nat/postrouting srcnat: masquerade DNATed loopback and hairpin traffic,
//!                                             and traffic leaving a non-internal subnet
//!   chain forward     filter/forward filter  : same-bridge accept, internal drop, replies and
//!                                             DNATed traffic to containers accept, else drop
//!   chain localnet    filter/prerouting raw  : drop what comes from a bridge for 127.0.0.0/8
//! }
//! ```
//!
//! The rules are fixed; networks and published ports are *elements* of the sets and maps, so
//! adding or removing one is an exact element operation, never a search for rule handles.
//! Each change is one script run as one transaction, exactly as `nft -f -` would run it.

use std::fmt::Write;
use std::path::Path;
use std::sync::Mutex;

use super::libnft::Context;
use super::marker::SyncMarker;
use super::{docker, Firewall, NetRule, PortRule};
use crate::sys::is_gone;
use crate::NetError;

#[derive(Debug)]
pub(crate) struct Nft {
    table: String,
    marker: SyncMarker,
    /// Created on first use (most `Network`s of a CLI run touch no firewall), then kept: a
    /// context caches what it learnt of the ruleset and keeps its netlink socket.
    ctx: Mutex<Option<Context>>,
}

pub(crate) const SETS: [&str; 7] = [
    "map hp_any { type inet_proto . inet_service : ipv4_addr . inet_service; }",
    "map hp_ip { type inet_proto . ipv4_addr . inet_service : ipv4_addr . inet_service; }",
    "set bridges { type ifname; }",
    "set same { type ifname . ifname; }",
    "set internal { type ifname; }",
    "set subnets { type ipv4_addr; flags interval; }",
    "set nat_subnets { type ipv4_addr; flags interval; }",
];

pub(crate) const CHAINS: [(&str, &str, &[&str]); 6] = [
    (
        "prerouting",
        "type nat hook prerouting priority dstnat; policy accept;",
        &["fib daddr type local jump hostports"],
    ),
    (
        "output",
        "type nat hook output priority -100; policy accept;",
        &["fib daddr type local jump hostports"],
    ),
    (
        "hostports",
        "",
        &[
            "meta l4proto { tcp, udp } dnat ip to meta l4proto . ip daddr . th dport map @hp_ip",
            "meta l4proto { tcp, udp } dnat ip to meta l4proto . th dport map @hp_any",
        ],
    ),
    (
        "postrouting",
        "type nat hook postrouting priority srcnat; policy accept;",
        &[
            "ct status dnat oifname @bridges ip saddr 127.0.0.0/8 masquerade",
            "ct status dnat oifname @bridges ip saddr @subnets masquerade",
            "oifname != @bridges ip saddr @nat_subnets masquerade",
        ],
    ),
    (
        "forward",
        "type filter hook forward priority filter; policy accept;",
        &[
            "iifname . oifname @same accept",
            "iifname @internal drop",
            "oifname @internal drop",
            "oifname @bridges ct state established,related accept",
            "oifname @bridges ct status dnat accept",
            "oifname @bridges drop",
        ],
    ),
    (
        // The bridges have route_localnet (so the host's own 127.0.0.1 traffic to a published
        // port can be DNATed out through them), which would also route a frame a container
        // sends to the gateway's MAC with a 127.x destination to the host's loopback services
        // (CVE-2020-8558). Nothing from a container may reach a host loopback address; replies
        // to the host's DNATed loopback traffic are addressed to the bridge's own IP here
        // (un-NATed only later, at dstnat priority), so they pass.
        "localnet",
        "type filter hook prerouting priority raw; policy accept;",
        &["iifname @bridges ip daddr 127.0.0.0/8 drop"],
    ),
];

/// The table, its sets and chains, with the chains' rules replaced (idempotent).
pub(crate) fn base_script(t: &str) -> String {
    let mut s = format!("add table ip {t}\n");
    for set in SETS {
        let _ = writeln!(s, "add {} ip {t} {}", &set[..3], &set[4..]);
    }
    for (name, hook, _) in CHAINS {
        if hook.is_empty() {
            let _ = writeln!(s, "add chain ip {t} {name}");
        } else {
            let _ = writeln!(s, "add chain ip {t} {name} {{ {hook} }}");
        }
        let _ = writeln!(s, "flush chain ip {t} {name}");
    }
    for (name, _, rules) in CHAINS {
        for r in rules {
            let _ = writeln!(s, "add rule ip {t} {name} {r}");
        }
    }
    s
}

/// Element lines for a network; `op` is `add` or `delete`.
pub(crate) fn net_lines(t: &str, op: &str, n: &NetRule) -> Vec<String> {
    let b = &n.bridge;
    let mut v = vec![
        format!("{op} element ip {t} bridges {{ \"{b}\" }}"),
        format!("{op} element ip {t} same {{ \"{b}\" . \"{b}\" }}"),
        format!("{op} element ip {t} subnets {{ {} }}", n.subnet),
    ];
    if n.internal {
        v.push(format!("{op} element ip {t} internal {{ \"{b}\" }}"));
    } else {
        v.push(format!(
            "{op} element ip {t} nat_subnets {{ {} }}",
            n.subnet
        ));
    }
    v
}

/// The element line for a published port; `op` is `add` or `delete`.
pub(crate) fn port_line(t: &str, op: &str, p: &PortRule) -> String {
    let (map, key) = match p.host_ip {
        None => ("hp_any", format!("{} . {}", p.proto, p.host_port)),
        Some(ip) => ("hp_ip", format!("{} . {ip} . {}", p.proto, p.host_port)),
    };
    if op == "delete" {
        format!("delete element ip {t} {map} {{ {key} }}")
    } else {
        format!(
            "{op} element ip {t} {map} {{ {key} : {} . {} }}",
            p.ip, p.port
        )
    }
}

/// The whole table from state, in one transaction.
pub(crate) fn sync_script(t: &str, nets: &[NetRule], ports: &[PortRule]) -> String {
    let mut s = base_script(t);
    for set in SETS {
        let (kind, rest) = (&set[..3], &set[4..]);
        let name = rest.split_whitespace().next().unwrap_or_default();
        let _ = writeln!(s, "flush {kind} ip {t} {name}");
    }
    for n in nets {
        for l in net_lines(t, "add", n) {
            let _ = writeln!(s, "{l}");
        }
    }
    for p in ports {
        let _ = writeln!(s, "{}", port_line(t, "add", p));
    }
    s
}

impl Nft {
    pub fn new(table: &str, state_dir: &Path) -> Self {
        Nft {
            table: table.to_string(),
            marker: SyncMarker::new(state_dir, table),
            ctx: Mutex::new(None),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Runs `script` as one transaction; its output (JSON when `json`) on success.
    pub(crate) fn run(&self, what: &str, script: &str, json: bool) -> Result<String, NetError> {
        // Nothing panics while the lock is held (the calls into libnftables cannot), so even
        // a poisoned lock guards a context that is between two commands.
        let mut slot = self.ctx.lock().unwrap_or_else(|p| p.into_inner());
        let ctx = match &mut *slot {
            Some(c) => c,
            None => slot.insert(Context::new()?),
        };
        ctx.run(script, json).map_err(|stderr| {
            let lines: Vec<&str> = script.lines().filter(|l| !l.trim().is_empty()).collect();
            NetError::Command {
                what: what.to_string(),
                command: format!("nft <<< {}", lines.join("; ")),
                stderr,
            }
        })
    }

    fn apply(&self, what: &str, script: &str) -> Result<(), NetError> {
        self.run(what, script, false).map(|_| ())
    }

    /// Adds elements; a failure because the table is gone forgets the last sync.
    fn add_lines(&self, what: &str, script: &str) -> Result<(), NetError> {
        let r = self.apply(what, script);
        if r.as_ref().is_err_and(is_gone) {
            self.forget_sync_if_table_gone();
        }
        r
    }

    /// Called when an element operation found something missing: if it is the whole table
    /// (deleted behind berth's back), forgets the last sync so that the next `Network::open`
    /// re-creates the table from state. One listing of table names, on failure paths only.
    fn forget_sync_if_table_gone(&self) {
        let listed = self.run("list nft tables", "list tables ip", false);
        let gone = listed.is_ok_and(|out| {
            !out.lines().any(|l| {
                l.split_whitespace()
                    .eq(["table", "ip", self.table.as_str()])
            })
        });
        if gone {
            tracing::warn!(table = %self.table, "nft table is gone; the next open re-creates it");
            if let Err(e) = self.marker.clear() {
                tracing::warn!(error = %e, "cannot clear the firewall sync record");
            }
        }
    }

    /// Deletes elements in one transaction, falling back to one by one so that entries that
    /// are already gone do not keep the others in place.
    fn delete_lines(&self, what: &str, lines: &[String]) -> Result<(), NetError> {
        if lines.is_empty() || self.apply(what, &lines.join("\n")).is_ok() {
            return Ok(());
        }
        let mut errs = Vec::new();
        let mut gone = false;
        for l in lines {
            match self.apply(what, l) {
                Err(e) if !is_gone(&e) => errs.push(e),
                Err(_) => gone = true,
                Ok(()) => {}
            }
        }
        if gone {
            self.forget_sync_if_table_gone();
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(NetError::from_many(errs))
        }
    }
}

impl Firewall for Nft {
    fn in_sync(&self) -> bool {
        self.marker.is_current()
    }

    fn sync(&self, nets: &[NetRule], ports: &[PortRule]) -> Result<(), NetError> {
        let t = &self.table;
        self.apply(
            &format!("set up nft table ip {t}"),
            &sync_script(t, nets, ports),
        )?;
        let bridges: Vec<&str> = nets.iter().map(|n| n.bridge.as_str()).collect();
        docker::ensure(self, &bridges)?;
        self.marker.record()
    }

    fn add_network(&self, net: &NetRule) -> Result<(), NetError> {
        let t = &self.table;
        let what = format!("add network bridge {} to nft table ip {t}", net.bridge);
        let mut script = base_script(t);
        for l in net_lines(t, "add", net) {
            script.push_str(&l);
            script.push('\n');
        }
        self.apply(&what, &script)?;
        docker::ensure(self, &[net.bridge.as_str()])
    }

    fn remove_network(&self, net: &NetRule) -> Result<(), NetError> {
        let t = &self.table;
        let what = format!("remove network bridge {} from nft table ip {t}", net.bridge);
        let r = self.delete_lines(&what, &net_lines(t, "delete", net));
        let d = docker::remove(self, Some(&net.bridge));
        r.and(d)
    }

    fn add_ports(&self, ports: &[PortRule]) -> Result<(), NetError> {
        if ports.is_empty() {
            return Ok(());
        }
        let t = &self.table;
        let lines: Vec<String> = ports.iter().map(|p| port_line(t, "add", p)).collect();
        self.add_lines(
            &format!("publish ports in nft table ip {t}"),
            &lines.join("\n"),
        )
    }

    fn remove_ports(&self, ports: &[PortRule]) -> Result<(), NetError> {
        let t = &self.table;
        let lines: Vec<String> = ports.iter().map(|p| port_line(t, "delete", p)).collect();
        self.delete_lines(&format!("unpublish ports in nft table ip {t}"), &lines)
    }

    fn ensure_neighbours(&self, bridges: &[&str]) -> Result<(), NetError> {
        docker::ensure(self, bridges)
    }

    fn list_table(&self) -> Result<Option<String>, NetError> {
        let t = &self.table;
        match self.run(
            &format!("list nft table ip {t}"),
            &format!("list table ip {t}"),
            true,
        ) {
            Ok(json) => Ok(Some(json)),
            Err(e) if is_gone(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn uninstall(&self) -> Result<(), NetError> {
        let t = &self.table;
        // Forget the sync first: if deleting fails half-way, the next open still syncs.
        let m = self.marker.clear();
        let r = match self.apply(
            &format!("delete nft table ip {t}"),
            &format!("delete table ip {t}"),
        ) {
            Err(e) if !is_gone(&e) => Err(e),
            _ => Ok(()),
        };
        let d = docker::remove(self, None);
        m.and(r).and(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publish::Proto;
    use std::net::Ipv4Addr;

    #[test]
    fn base_script_is_idempotent_shape() {
        let s = base_script("berth");
        assert!(s.starts_with("add table ip berth\n"));
        assert!(s.contains("add map ip berth hp_any { type inet_proto . inet_service : ipv4_addr . inet_service; }"));
        assert!(s.contains("add chain ip berth prerouting { type nat hook prerouting priority dstnat; policy accept; }"));
        assert!(s.contains("add chain ip berth hostports\n"));
        // Every chain is flushed before its rules are added, so re-running never duplicates.
        let flush = s.find("flush chain ip berth forward").unwrap();
        let rule = s.find("add rule ip berth forward").unwrap();
        assert!(flush < rule);
        assert_eq!(s.matches("add rule").count(), 14);
    }

    #[test]
    fn elements() {
        let n = NetRule {
            bridge: "berth0".into(),
            subnet: "10.213.0.0/16".parse().unwrap(),
            internal: false,
        };
        assert_eq!(
            net_lines("t", "add", &n),
            vec![
                "add element ip t bridges { \"berth0\" }",
                "add element ip t same { \"berth0\" . \"berth0\" }",
                "add element ip t subnets { 10.213.0.0/16 }",
                "add element ip t nat_subnets { 10.213.0.0/16 }",
            ]
        );
        let internal = NetRule {
            internal: true,
            ..n
        };
        assert!(net_lines("t", "delete", &internal)[3].contains("delete element ip t internal"));
        let p = PortRule {
            proto: Proto::Udp,
            host_ip: Some(Ipv4Addr::LOCALHOST),
            host_port: 5000,
            ip: Ipv4Addr::new(10, 213, 0, 2),
            port: 53,
        };
        assert_eq!(
            port_line("t", "add", &p),
            "add element ip t hp_ip { udp . 127.0.0.1 . 5000 : 10.213.0.2 . 53 }"
        );
        assert_eq!(
            port_line("t", "delete", &PortRule { host_ip: None, ..p }),
            "delete element ip t hp_any { udp . 5000 }"
        );
        let s = sync_script("t", &[], &[p]);
        let flush = s.find("flush map ip t hp_ip").unwrap();
        assert!(flush < s.find("add element ip t hp_ip").unwrap());
    }
}
