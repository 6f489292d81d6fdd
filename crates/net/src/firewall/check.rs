//! Checking berth's nft table against the state directory, and repairing it.
//!
//! `Network::open` no longer rewrites the table on every start (see `marker.rs`), so something
//! that deleted berth's rules behind its back (`nft flush ruleset`, a firewall reload) is not
//! undone by the next `berth run`. [`Network::verify_firewall`] finds such damage with one
//! listing of the table (in-process, through libnftables) and [`Network::repair_firewall`]
//! rewrites the table from the state, as the first open after boot does.

use std::collections::{HashMap, HashSet};
use std::fmt;

use serde_json::Value;

use super::nft::{CHAINS, SETS};
use super::{FirewallKind, NetRule, PortRule};
use crate::{networks, ports, NetError, Network};

/// Something the recorded networks and published ports need in the nft table that it lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirewallGap {
    /// The whole table is gone: no NAT, no published ports, no isolation.
    Table { table: String },
    /// A set, map or chain of the table's fixed layout is gone, or a chain lost rules.
    Layout { table: String, what: String },
    /// An element of a network (its bridge or subnet in one of the sets).
    Network { network: String, element: String },
    /// The DNAT entry of a published port.
    Port {
        container_id: String,
        /// `[host_ip:]host_port/proto -> container_ip:port`
        mapping: String,
    },
}

impl fmt::Display for FirewallGap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FirewallGap::Table { table } => write!(f, "nft table ip {table} is missing"),
            FirewallGap::Layout { table, what } => {
                write!(f, "nft table ip {table}: {what} is missing")
            }
            FirewallGap::Network { network, element } => {
                write!(f, "network {network}: nft element {element} is missing")
            }
            FirewallGap::Port {
                container_id,
                mapping,
            } => write!(
                f,
                "container {container_id}: published port {mapping} has no DNAT entry"
            ),
        }
    }
}

impl Network {
    /// Lists the nft table and reports what the recorded networks and published ports need
    /// that it lacks (empty: all there). Elements nobody recorded are not reported; a repair
    /// removes them. Without a firewall there is nothing to check.
    pub fn verify_firewall(&self) -> Result<Vec<FirewallGap>, NetError> {
        if self.cfg.firewall == FirewallKind::None {
            return Ok(Vec::new());
        }
        // Under the lock: an attach between recording and publishing is not a gap.
        let _lock = self.store.lock()?;
        let nets: Vec<(String, NetRule)> = self
            .store
            .networks()?
            .iter()
            .map(|n| (n.name.clone(), networks::rule(n)))
            .collect();
        let mut rules = Vec::new();
        for c in self.store.containers()? {
            for ep in c.endpoints.iter().filter(|e| e.ready) {
                for r in ports::rules(&ep.ports, ep.ip) {
                    rules.push((c.container_id.clone(), r));
                }
            }
        }
        let json = self.fw.list_table()?;
        Ok(gaps(&self.cfg.table, json.as_deref(), &nets, &rules))
    }

    /// Rewrites the nft table from the state directory in one transaction (what the first
    /// open after boot does): re-adds what is missing and drops what nobody recorded.
    pub fn repair_firewall(&self) -> Result<(), NetError> {
        let _lock = self.store.lock()?;
        self.sync_firewall()
    }
}

/// An element as nft prints it, unquoted: `berth0`, `berth0 . berth0`, `10.213.0.0/16`,
/// `tcp . 80 : 10.213.0.2 . 8000` (map elements are `[key, value]`).
fn element_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Array(kv) if kv.len() == 2 => {
            format!("{} : {}", element_text(&kv[0]), element_text(&kv[1]))
        }
        Value::Object(o) => {
            if let Some(Value::Array(parts)) = o.get("concat") {
                parts
                    .iter()
                    .map(element_text)
                    .collect::<Vec<_>>()
                    .join(" . ")
            } else if let Some(p) = o.get("prefix") {
                format!("{}/{}", element_text(&p["addr"]), element_text(&p["len"]))
            } else if let Some(Value::Array(r)) = o.get("range") {
                r.iter().map(element_text).collect::<Vec<_>>().join("-")
            } else if let Some(e) = o.get("elem") {
                // An element with a counter, timeout or comment: `{"elem": {"val": …}}`.
                element_text(&e["val"])
            } else {
                v.to_string()
            }
        }
        other => other.to_string(),
    }
}

/// What the table holds: elements per set or map, rule counts per chain.
#[derive(Debug, Default)]
struct Listing {
    elements: HashMap<String, HashSet<String>>,
    rules: HashMap<String, usize>,
}

fn listing(json: &str) -> Listing {
    let mut l = Listing::default();
    let Ok(v) = serde_json::from_str::<Value>(json) else {
        return l;
    };
    for item in v["nftables"].as_array().into_iter().flatten() {
        for kind in ["set", "map"] {
            if let Some(s) = item.get(kind) {
                let name = s["name"].as_str().unwrap_or_default().to_string();
                let elems = s["elem"].as_array().into_iter().flatten();
                l.elements
                    .entry(name)
                    .or_default()
                    .extend(elems.map(element_text));
            }
        }
        if let Some(c) = item.get("chain") {
            let name = c["name"].as_str().unwrap_or_default().to_string();
            l.rules.entry(name).or_default();
        }
        if let Some(r) = item.get("rule") {
            let chain = r["chain"].as_str().unwrap_or_default().to_string();
            *l.rules.entry(chain).or_default() += 1;
        }
    }
    l
}

/// The elements a network needs: (set, element as nft prints it).
fn net_elements(n: &NetRule) -> Vec<(&'static str, String)> {
    // nft prints a one-address interval as the bare address.
    let subnet = if n.subnet.prefix_len() == 32 {
        n.subnet.addr().to_string()
    } else {
        n.subnet.to_string()
    };
    let b = &n.bridge;
    vec![
        ("bridges", b.clone()),
        ("same", format!("{b} . {b}")),
        ("subnets", subnet.clone()),
        if n.internal {
            ("internal", b.clone())
        } else {
            ("nat_subnets", subnet)
        },
    ]
}

/// The map entry a published port needs: (map, element as nft prints it).
fn port_element(p: &PortRule) -> (&'static str, String) {
    match p.host_ip {
        None => (
            "hp_any",
            format!("{} . {} : {} . {}", p.proto, p.host_port, p.ip, p.port),
        ),
        Some(h) => (
            "hp_ip",
            format!(
                "{} . {h} . {} : {} . {}",
                p.proto, p.host_port, p.ip, p.port
            ),
        ),
    }
}

/// Compares a listing (`None`: no table) with what the state needs.
pub(crate) fn gaps(
    table: &str,
    json: Option<&str>,
    nets: &[(String, NetRule)],
    ports: &[(String, PortRule)],
) -> Vec<FirewallGap> {
    let Some(json) = json else {
        return vec![FirewallGap::Table {
            table: table.to_string(),
        }];
    };
    let l = listing(json);
    let mut out = Vec::new();
    for set in SETS {
        let name = set[4..].split_whitespace().next().unwrap_or_default();
        if !l.elements.contains_key(name) {
            out.push(FirewallGap::Layout {
                table: table.to_string(),
                what: format!("{} {name}", &set[..3]),
            });
        }
    }
    for (name, _, rules) in CHAINS {
        match l.rules.get(name) {
            None => out.push(FirewallGap::Layout {
                table: table.to_string(),
                what: format!("chain {name}"),
            }),
            Some(&n) if n < rules.len() => out.push(FirewallGap::Layout {
                table: table.to_string(),
                what: format!(
                    "{} of the {} rules of chain {name}",
                    rules.len() - n,
                    rules.len()
                ),
            }),
            Some(_) => {}
        }
    }
    let has = |set: &str, e: &str| l.elements.get(set).is_some_and(|s| s.contains(e));
    for (network, n) in nets {
        for (set, e) in net_elements(n) {
            if l.elements.contains_key(set) && !has(set, &e) {
                out.push(FirewallGap::Network {
                    network: network.clone(),
                    element: format!("{set} {{ {e} }}"),
                });
            }
        }
    }
    for (container_id, p) in ports {
        let (map, e) = port_element(p);
        if l.elements.contains_key(map) && !has(map, &e) {
            let host = p.host_ip.map(|h| format!("{h}:")).unwrap_or_default();
            out.push(FirewallGap::Port {
                container_id: container_id.clone(),
                mapping: format!("{host}{}/{} -> {}:{}", p.host_port, p.proto, p.ip, p.port),
            });
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::publish::Proto;
    use std::net::Ipv4Addr;

    /// What `nft -j list table ip t` printed for a synced table (trimmed to what matters).
    fn listing_json(with_port: bool, forward_rules: usize) -> String {
        let port = if with_port {
            r#"[{"concat": ["tcp", 80]}, {"concat": ["10.213.0.2", 8000]}]"#
        } else {
            ""
        };
        let fwd: Vec<String> = (0..forward_rules)
            .map(|i| format!(r#"{{"rule": {{"chain": "forward", "handle": {i}}}}}"#))
            .collect();
        let mut items = vec![
            r#"{"metainfo": {"version": "1.0.6"}}"#.to_string(),
            r#"{"table": {"family": "ip", "name": "t"}}"#.to_string(),
            format!(r#"{{"map": {{"name": "hp_any", "elem": [{port}]}}}}"#),
            r#"{"map": {"name": "hp_ip", "elem": [[{"concat": ["udp", "127.0.0.1", 5000]}, {"concat": ["10.213.0.3", 53]}]]}}"#.into(),
            r#"{"set": {"name": "bridges", "elem": ["berth0", {"elem": {"val": "other0", "counter": {"packets": 0}}}]}}"#.into(),
            r#"{"set": {"name": "same", "elem": [{"concat": ["berth0", "berth0"]}]}}"#.into(),
            r#"{"set": {"name": "internal"}}"#.into(),
            r#"{"set": {"name": "subnets", "elem": [{"prefix": {"addr": "10.213.0.0", "len": 16}}]}}"#.into(),
            r#"{"set": {"name": "nat_subnets", "elem": [{"prefix": {"addr": "10.213.0.0", "len": 16}}]}}"#.into(),
        ];
        for (name, _, rules) in CHAINS {
            items.push(format!(r#"{{"chain": {{"name": "{name}"}}}}"#));
            if name != "forward" {
                for i in 0..rules.len() {
                    items.push(format!(
                        r#"{{"rule": {{"chain": "{name}", "handle": {i}}}}}"#
                    ));
                }
            }
        }
        items.extend(fwd);
        format!(r#"{{"nftables": [{}]}}"#, items.join(","))
    }

    /// Rules with the network or container they belong to.
    type Owned<T> = Vec<(String, T)>;

    fn state() -> (Owned<NetRule>, Owned<PortRule>) {
        let net = NetRule {
            bridge: "berth0".into(),
            subnet: "10.213.0.0/16".parse().unwrap(),
            internal: false,
        };
        let port = |host_ip, host_port, ip, port, proto| PortRule {
            proto,
            host_ip,
            host_port,
            ip,
            port,
        };
        let ports = vec![
            (
                "web".to_string(),
                port(None, 80, Ipv4Addr::new(10, 213, 0, 2), 8000, Proto::Tcp),
            ),
            (
                "dns".to_string(),
                port(
                    Some(Ipv4Addr::LOCALHOST),
                    5000,
                    Ipv4Addr::new(10, 213, 0, 3),
                    53,
                    Proto::Udp,
                ),
            ),
        ];
        (vec![("bridge".to_string(), net)], ports)
    }

    #[test]
    fn a_complete_table_has_no_gaps() {
        let (nets, ports) = state();
        assert_eq!(
            gaps("t", Some(&listing_json(true, 6)), &nets, &ports),
            vec![]
        );
    }

    #[test]
    fn reports_missing_table_port_and_rules() {
        let (nets, ports) = state();
        assert_eq!(
            gaps("t", None, &nets, &ports),
            vec![FirewallGap::Table { table: "t".into() }]
        );
        let g = gaps("t", Some(&listing_json(false, 4)), &nets, &ports);
        assert_eq!(
            g,
            vec![
                FirewallGap::Layout {
                    table: "t".into(),
                    what: "2 of the 6 rules of chain forward".into()
                },
                FirewallGap::Port {
                    container_id: "web".into(),
                    mapping: "80/tcp -> 10.213.0.2:8000".into()
                },
            ]
        );
        assert_eq!(
            g[1].to_string(),
            "container web: published port 80/tcp -> 10.213.0.2:8000 has no DNAT entry"
        );
    }

    #[test]
    fn reports_network_elements_and_missing_sets() {
        let (mut nets, _) = state();
        nets.push((
            "internal".into(),
            NetRule {
                bridge: "br-int".into(),
                subnet: "10.214.1.0/24".parse().unwrap(),
                internal: true,
            },
        ));
        let json = listing_json(true, 6).replace(
            r#"{"set": {"name": "same", "#,
            r#"{"set": {"name": "gone", "#,
        );
        let g = gaps("t", Some(&json), &nets, &[]);
        let text: Vec<String> = g.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            vec![
                "nft table ip t: set same is missing",
                "network internal: nft element bridges { br-int } is missing",
                "network internal: nft element subnets { 10.214.1.0/24 } is missing",
                "network internal: nft element internal { br-int } is missing",
            ]
        );
    }

    #[test]
    fn element_text_matches_the_script_syntax() {
        let v: Value = serde_json::from_str(r#"{"range": ["10.0.0.1", "10.0.0.9"]}"#).unwrap();
        assert_eq!(element_text(&v), "10.0.0.1-10.0.0.9");
        let (_, ports) = state();
        assert_eq!(
            port_element(&ports[1].1),
            (
                "hp_ip",
                "udp . 127.0.0.1 . 5000 : 10.213.0.3 . 53".to_string()
            )
        );
    }
}
