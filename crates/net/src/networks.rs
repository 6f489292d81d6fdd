//! Networks: the default one (`bridge`, from [`NetConfig`](crate::NetConfig)) and user-defined
//! ones, each with its own bridge and subnet.

use std::net::Ipv4Addr;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::firewall::NetRule;
use crate::ipnet::Ipv4Net;
use crate::state::{check_name, Locked, NetworkRecord};
use crate::{check_ifname, link, NetError, Network, DEFAULT_NETWORK};

/// `network create` arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkSpec {
    pub name: String,
    /// `None` = the next free /24 of the configured pool.
    pub subnet: Option<Ipv4Net>,
    /// `None` = the subnet's first address.
    pub gateway: Option<Ipv4Addr>,
    /// No outbound NAT, no default route in containers, no traffic to or from other networks.
    pub internal: bool,
    /// Bridge device name; `None` = `br-` + the first 12 hex digits of the network ID.
    pub bridge: Option<String>,
}

/// A network as `network ls/inspect` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkInfo {
    pub name: String,
    /// 64 hex digits.
    pub id: String,
    pub bridge: String,
    pub subnet: Ipv4Net,
    pub gateway: Ipv4Addr,
    pub internal: bool,
    /// Unix seconds.
    pub created: u64,
    /// The default network: cannot be created or removed.
    pub predefined: bool,
    /// IDs of the containers attached to it.
    pub containers: Vec<String>,
}

const RESERVED: [&str; 3] = [DEFAULT_NETWORK, "host", "none"];

pub(crate) fn rule(n: &NetworkRecord) -> NetRule {
    NetRule {
        bridge: n.bridge.clone(),
        subnet: n.subnet,
        internal: n.internal,
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

fn new_id() -> String {
    (0..4)
        .map(|_| format!("{:016x}", rand::random::<u64>()))
        .collect()
}

impl Network {
    /// Records the default network from the config (changing it only while nobody uses it).
    pub(crate) fn ensure_default_network(&self, lock: &Locked) -> Result<(), NetError> {
        let cfg = self.config();
        let gateway = cfg.subnet.first_host().ok_or_else(|| {
            NetError::invalid("subnet", cfg.subnet.to_string(), "too small for containers")
        })?;
        let current = self.store().network(DEFAULT_NETWORK)?;
        if let Some(cur) = &current {
            if cur.bridge == cfg.bridge && cur.subnet == cfg.subnet {
                return Ok(());
            }
            if !self.members(DEFAULT_NETWORK)?.is_empty() {
                tracing::warn!(bridge = %cur.bridge, subnet = %cur.subnet,
                    "default network is in use; keeping its bridge and subnet until it is empty");
                return Ok(());
            }
            self.fw.remove_network(&rule(cur))?;
            if cur.bridge != cfg.bridge {
                link::delete_link(&cur.bridge)?;
            } else {
                link::delete_addr(&cur.bridge, cur.gateway, cur.subnet.prefix_len())?;
            }
        }
        let rec = NetworkRecord {
            name: DEFAULT_NETWORK.to_string(),
            id: current.as_ref().map_or_else(new_id, |c| c.id.clone()),
            bridge: cfg.bridge.clone(),
            subnet: cfg.subnet,
            gateway,
            internal: false,
            created: current.as_ref().map_or_else(now, |c| c.created),
            last_ip: None,
        };
        self.check_overlap(&rec)?;
        self.store().save_network(lock, &rec)
    }

    /// Refuses a subnet that overlaps another network's or a host route on another device,
    /// and a bridge name another network uses.
    fn check_overlap(&self, rec: &NetworkRecord) -> Result<(), NetError> {
        let overlap = |other: String| NetError::SubnetOverlap {
            network: rec.name.clone(),
            subnet: rec.subnet.to_string(),
            other,
        };
        for reserved in ["0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/3"] {
            let r: Ipv4Net = reserved.parse()?;
            if r.overlaps(&rec.subnet) {
                return Err(overlap(format!("reserved range {r}")));
            }
        }
        for n in self.store().networks()? {
            if n.name == rec.name {
                continue;
            }
            if n.subnet.overlaps(&rec.subnet) {
                return Err(overlap(format!("network {} ({})", n.name, n.subnet)));
            }
            if n.bridge == rec.bridge {
                return Err(NetError::invalid(
                    "bridge name",
                    &rec.bridge,
                    format!("used by network {}", n.name),
                ));
            }
        }
        for (dst, dev) in link::routes()? {
            if dev != rec.bridge && dst.overlaps(&rec.subnet) {
                return Err(overlap(format!("route {dst} on {dev}")));
            }
        }
        Ok(())
    }

    fn members(&self, network: &str) -> Result<Vec<String>, NetError> {
        Ok(self
            .store()
            .containers()?
            .into_iter()
            .filter(|c| c.endpoints.iter().any(|e| e.network == network))
            .map(|c| c.container_id)
            .collect())
    }

    fn info(&self, n: NetworkRecord) -> Result<NetworkInfo, NetError> {
        let containers = self.members(&n.name)?;
        Ok(NetworkInfo {
            predefined: n.name == DEFAULT_NETWORK,
            name: n.name,
            id: n.id,
            bridge: n.bridge,
            subnet: n.subnet,
            gateway: n.gateway,
            internal: n.internal,
            created: n.created,
            containers,
        })
    }

    /// The first /24 of the pool that no network and no route uses.
    fn free_subnet(&self) -> Result<Ipv4Net, NetError> {
        let nets = self.store().networks()?;
        let routes = link::routes()?;
        let pool = self.config().pool;
        let step = 1u32 << 8;
        let count = if pool.prefix_len() >= 24 {
            1
        } else {
            pool.size() / step
        };
        for i in 0..count {
            let Some(addr) = pool.nth(i * step) else {
                break;
            };
            let cand = Ipv4Net::new(addr, pool.prefix_len().max(24))?;
            if nets.iter().all(|n| !n.subnet.overlaps(&cand))
                && routes.iter().all(|(r, _)| !r.overlaps(&cand))
            {
                return Ok(cand);
            }
        }
        Err(NetError::AddressesExhausted {
            network: "(new network)".into(),
            subnet: pool.to_string(),
        })
    }

    /// `network create`: records the network, creates its bridge and firewall entries.
    pub fn create_network(&mut self, spec: &NetworkSpec) -> Result<NetworkInfo, NetError> {
        check_name("network name", &spec.name)?;
        if RESERVED.contains(&spec.name.as_str()) {
            return Err(NetError::NetworkPredefined(spec.name.clone()));
        }
        // Lock order: the host's, then ours. The host lock makes "find a free subnet, create
        // its bridge" one step for every root on this host.
        let _host = match &self.config().host_lock {
            Some(path) => Some(crate::settings::host_lock(path)?),
            None => None,
        };
        let lock = self.store().lock()?;
        if self.store().network(&spec.name)?.is_some() {
            return Err(NetError::NetworkExists(spec.name.clone()));
        }
        let subnet = match spec.subnet {
            Some(s) => s,
            None => self.free_subnet()?,
        };
        let gateway = match spec.gateway {
            Some(g) => g,
            None => subnet.first_host().ok_or_else(|| {
                NetError::invalid("subnet", subnet.to_string(), "too small for containers")
            })?,
        };
        if !subnet.contains(gateway) || gateway == subnet.network() || gateway == subnet.broadcast()
        {
            return Err(NetError::invalid(
                "gateway",
                gateway.to_string(),
                format!("not a usable address of {subnet}"),
            ));
        }
        let id = new_id();
        let bridge = spec
            .bridge
            .clone()
            .unwrap_or_else(|| format!("br-{}", &id[..12]));
        check_ifname(&bridge)?;
        let rec = NetworkRecord {
            name: spec.name.clone(),
            id,
            bridge,
            subnet,
            gateway,
            internal: spec.internal,
            created: now(),
            last_ip: None,
        };
        self.check_overlap(&rec)?;
        self.store().save_network(&lock, &rec)?;
        let made =
            link::ensure_bridge(&rec.bridge, gateway, subnet.prefix_len(), self.config().mtu)
                .and_then(|()| self.fw.add_network(&rule(&rec)));
        if let Err(e) = made {
            let _ = self.fw.remove_network(&rule(&rec));
            let _ = link::delete_link(&rec.bridge);
            let _ = self.store().remove_network(&lock, &rec.name);
            return Err(e);
        }
        tracing::info!(network = %rec.name, bridge = %rec.bridge, %subnet, "network created");
        self.info(rec)
    }

    /// `network rm`: refuses while containers are attached; otherwise removes the firewall
    /// entries, the bridge and the record (every step is tried).
    pub fn remove_network(&mut self, name: &str) -> Result<(), NetError> {
        if RESERVED.contains(&name) {
            return Err(NetError::NetworkPredefined(name.to_string()));
        }
        let lock = self.store().lock()?;
        let rec = self
            .store()
            .network(name)?
            .ok_or_else(|| NetError::NetworkNotFound(name.to_string()))?;
        let members = self.members(name)?;
        if !members.is_empty() {
            return Err(NetError::NetworkInUse {
                name: name.to_string(),
                containers: members.join(", "),
            });
        }
        let mut errs = Vec::new();
        if let Err(e) = self.fw.remove_network(&rule(&rec)) {
            errs.push(e);
        }
        if let Err(e) = link::delete_link(&rec.bridge) {
            errs.push(e);
        }
        if errs.is_empty() {
            self.store().remove_network(&lock, name)
        } else {
            Err(NetError::from_many(errs))
        }
    }

    /// `network ls`: every network, oldest first.
    pub fn networks(&self) -> Result<Vec<NetworkInfo>, NetError> {
        self.store()
            .networks()?
            .into_iter()
            .map(|n| self.info(n))
            .collect()
    }

    /// `network inspect NAME`.
    pub fn network(&self, name: &str) -> Result<NetworkInfo, NetError> {
        let rec = self
            .store()
            .network(name)?
            .ok_or_else(|| NetError::NetworkNotFound(name.to_string()))?;
        self.info(rec)
    }
}
