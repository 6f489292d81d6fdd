//! A container's network for one run: its namespace, its attachment to a bridge network with
//! published ports, and the `/etc/hosts` and `resolv.conf` that go with it.

use berth_store::ContainerState;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::str::FromStr;

use berth_net::{EndpointSpec, Network, PortMapping};
use berth_store::ContainerRecord;
use serde::{Deserialize, Serialize};

use super::ContainerConfig;
use crate::{Engine, EngineError};

/// `--network`, parsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NetworkMode {
    /// Loopback only.
    None,
    /// The host's network namespace.
    Host,
    /// A bridge network: `bridge` (the default) or one made with `network create`.
    Bridge(String),
    /// Another container's network namespace.
    Container(String),
}

impl Default for NetworkMode {
    fn default() -> Self {
        Self::Bridge(berth_net::DEFAULT_NETWORK.to_string())
    }
}

impl FromStr for NetworkMode {
    type Err = EngineError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "" | "default" | "bridge" => Self::default(),
            "none" => Self::None,
            "host" => Self::Host,
            _ => match s.strip_prefix("container:") {
                Some("") => {
                    return Err(EngineError::InvalidArgument(
                        "--network container: needs a container name or ID".into(),
                    ))
                }
                Some(c) => Self::Container(c.to_string()),
                None => Self::Bridge(s.to_string()),
            },
        })
    }
}

impl NetworkMode {
    pub fn name(&self) -> String {
        match self {
            Self::None => "none".into(),
            Self::Host => "host".into(),
            Self::Bridge(n) => n.clone(),
            Self::Container(c) => format!("container:{c}"),
        }
    }
}

/// What a container is attached to while it runs (kept in its record, for ps and inspect).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetSummary {
    pub network: String,
    pub ip: Option<Ipv4Addr>,
    pub gateway: Option<Ipv4Addr>,
    pub prefix_len: u8,
    pub mac: String,
    /// Published ports with the host ports actually chosen.
    pub ports: Vec<PortMapping>,
}

impl NetSummary {
    pub fn from_record(rec: &ContainerRecord) -> Vec<NetSummary> {
        serde_json::from_str(&rec.net).unwrap_or_default()
    }
}

/// The engine's network layer, held by one caller at a time.
#[derive(Debug)]
pub struct NetHandle<'a>(std::sync::MutexGuard<'a, Option<Network>>);

impl std::ops::Deref for NetHandle<'_> {
    type Target = Network;
    fn deref(&self) -> &Network {
        self.0
            .as_ref()
            .expect("a NetHandle is only made for an opened network")
    }
}

impl std::ops::DerefMut for NetHandle<'_> {
    fn deref_mut(&mut self) -> &mut Network {
        self.0
            .as_mut()
            .expect("a NetHandle is only made for an opened network")
    }
}

/// What a run's network set-up gives the spec and the /etc files.
#[derive(Debug, Default)]
pub(crate) struct NetSetup {
    /// The network namespace for the spec: `None` only when the runtime is to make one.
    pub netns: Option<PathBuf>,
    /// The namespace `netns` names through this process's file descriptors, when it has no
    /// mount of its own (`--network none`): keep it until the runtime has the container in it.
    pub held: Option<berth_net::Netns>,
    /// `/etc/hosts` content when the network provides one.
    pub hosts: Option<String>,
    pub attachments: Vec<NetSummary>,
}

/// The network namespaces made ahead of time for the starts of the berth whose run root is
/// `run_root` (mounts: whoever deletes a run root drains this first).
pub fn netns_pool(run_root: &std::path::Path) -> berth_net::NetnsPool {
    berth_net::NetnsPool::new(run_root.join("netns-pool"))
}

/// How many network namespaces wait for the next starts: enough for a few containers started
/// together (a compose file), ~100 KB of kernel memory each.
const NETNS_POOL_SIZE: usize = 4;

impl Engine {
    /// The network layer, opened on first use (opening checks bridges and the firewall). The
    /// handle is this engine's only one: drop it before asking for it again.
    pub fn network(&self) -> Result<NetHandle<'_>, EngineError> {
        let mut guard = self.net.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            let config = self.net_settings.resolve().map_err(EngineError::Net)?;
            *guard = Some(Network::open(config).map_err(EngineError::Net)?);
        }
        Ok(NetHandle(guard))
    }

    /// Connects a container for a run. On failure nothing of it is left.
    pub(crate) fn network_up(
        &self,
        rec: &ContainerRecord,
        config: &ContainerConfig,
    ) -> Result<NetSetup, EngineError> {
        match &config.network {
            // Docker's `none` is a namespace with `lo` up, and nothing else.
            NetworkMode::None => {
                let ns = self.netns_pool().take_or_make().map_err(EngineError::Net)?;
                Ok(NetSetup {
                    netns: Some(ns.proc_path()),
                    held: Some(ns),
                    ..Default::default()
                })
            }
            NetworkMode::Host => Ok(NetSetup {
                netns: Some(PathBuf::from("/proc/self/ns/net")),
                ..Default::default()
            }),
            NetworkMode::Container(other) => {
                let o = self.reconciled(other)?;
                if o.state != ContainerState::Running {
                    return Err(EngineError::Conflict(format!(
                        "cannot join the network of container {other}: it is not running"
                    )));
                }
                let via_net = self.network()?.netns_path(&o.id);
                let netns = if berth_net::is_netns(&via_net) {
                    via_net
                } else {
                    PathBuf::from(format!("/proc/{}/ns/net", o.pid))
                };
                Ok(NetSetup {
                    netns: Some(netns),
                    hosts: std::fs::read_to_string(self.container_paths(&o.id).dir.join("hosts"))
                        .ok(),
                    attachments: NetSummary::from_record(&o),
                    held: None,
                })
            }
            NetworkMode::Bridge(name) => {
                let id = rec.id.clone();
                let spec = EndpointSpec {
                    network: name.clone(),
                    name: rec.name.clone(),
                    hostname: config
                        .spec
                        .hostname
                        .clone()
                        .or_else(|| Some(id[..12].to_string())),
                    aliases: config.aliases.clone(),
                    ports: config.ports.clone(),
                    ip: None,
                };
                let mut net = self.network()?;
                let _ = net.detach(&id);
                let ns = self.netns_pool().take_or_make().map_err(EngineError::Net)?;
                let netns = net.bind_netns(&id, &ns).map_err(EngineError::Net)?;
                drop(ns);
                let att = match net.connect(&id, &netns, &spec) {
                    Ok(a) => a,
                    Err(e) => {
                        let _ = net.detach(&id);
                        let _ = net.remove_netns(&id);
                        return Err(EngineError::Net(e));
                    }
                };
                let hosts = net.hosts_for(&id).map_err(EngineError::Net)?;
                let hosts = with_extra_hosts(hosts, &config.spec.extra_hosts, Some(att.gateway));
                let summary = NetSummary {
                    network: att.network.clone(),
                    ip: Some(att.ip),
                    gateway: Some(att.gateway),
                    prefix_len: att.prefix_len,
                    mac: att.mac.clone(),
                    ports: att.ports.clone(),
                };
                drop(net);
                self.refresh_peer_hosts(&id, std::slice::from_ref(name));
                self.emit_network(crate::events::Action::Connect, name, Some(&id));
                Ok(NetSetup {
                    netns: Some(netns),
                    hosts: Some(hosts),
                    attachments: vec![summary],
                    held: None,
                })
            }
        }
    }

    /// The network namespaces made ahead of time for this root's starts.
    pub(crate) fn netns_pool(&self) -> berth_net::NetnsPool {
        netns_pool(&self.run_root)
    }

    /// Tops the pool of network namespaces up for the next starts. Call it only when no
    /// client waits on this process: a namespace costs ~0.5 ms of the kernel's time.
    pub(crate) fn refill_netns_pool(&self) {
        let pinned = berth_runtime::cpu::pin_here();
        let filled = self.netns_pool().fill(NETNS_POOL_SIZE);
        drop(pinned);
        if let Err(e) = filled {
            tracing::debug!(error = %e, "cannot fill the network namespace pool");
        }
    }

    /// Disconnects a container after a run; every step is tried.
    pub(crate) fn network_down(&self, id: &str, config: &ContainerConfig) {
        if !matches!(config.network, NetworkMode::Bridge(_)) {
            return;
        }
        let attached = self.attached_networks(id);
        // Unless another container joined this one's namespace (and keeps it alive), the
        // kernel deletes the veths when the namespace goes: no waiting for it here.
        let joined = self.netns_joined_by_others(id);
        match self.network() {
            Ok(mut net) => {
                let detached = if joined {
                    net.detach(id)
                } else {
                    net.release(id)
                };
                if let Err(errs) = detached {
                    for e in errs {
                        tracing::warn!(container_id = id, error = %e, "network teardown");
                    }
                }
                let _ = net.remove_netns(id);
            }
            Err(e) => tracing::warn!(container_id = id, error = %e, "network teardown"),
        }
        let left: Vec<String> = attached.iter().map(|(_, name)| name.clone()).collect();
        self.refresh_peer_hosts(id, &left);
        self.emit_disconnects(id, &attached);
    }

    /// The host routes that clash with this root's networks (all, or `only` one), as
    /// sentences for a user; nothing when the network layer cannot tell.
    pub fn subnet_clashes(&self, only: Option<&str>) -> Vec<String> {
        let found = self
            .network()
            .and_then(|net| net.subnet_clashes(only).map_err(EngineError::Net));
        match found {
            Ok(c) => c.iter().map(ToString::to_string).collect(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot check the host's routes for subnet clashes");
                Vec::new()
            }
        }
    }

    /// Whether an active container other than `id` runs in `id`'s network namespace
    /// (`--network container:ID|NAME`).
    fn netns_joined_by_others(&self, id: &str) -> bool {
        let Ok(all) = self.store.meta.read(|tx| tx.containers()) else {
            return true; // unknown: take the careful path
        };
        all.iter()
            // (a cheap look at the JSON first: few configs join another container)
            .filter(|c| c.id != id && c.state.is_active() && c.config.contains("\"Container\""))
            .filter_map(|c| serde_json::from_str::<ContainerConfig>(&c.config).ok())
            .any(|cfg| match cfg.network {
                NetworkMode::Container(other) => {
                    self.resolve_container(&other).map_or(true, |o| o.id == id)
                }
                _ => false,
            })
    }

    /// Rewrites the /etc/hosts of the other containers on `networks`, which container
    /// `changed` joined or left (in place: their bind mounts keep the inode), so they find
    /// each other by name.
    fn refresh_peer_hosts(&self, changed: &str, networks: &[String]) {
        let root = self.store.root().join("containers");
        let Ok(net) = self.network() else { return };
        let _ = net.refresh_hosts(networks, &|cid, text| {
            if cid != changed {
                let text = self.with_own_extra_hosts(cid, text);
                let _ = berth_net::write_in_place(&root.join(cid).join("hosts"), &text);
            }
        });
    }
}

/// The resolv.conf for a container on a bridge network: the host's, without loopback
/// resolvers (unreachable from another namespace), plus `--dns` servers first.
pub(crate) fn resolv_conf(dns: &[IpAddr]) -> String {
    let host = std::fs::read_to_string("/run/systemd/resolve/resolv.conf")
        .or_else(|_| std::fs::read_to_string("/etc/resolv.conf"))
        .unwrap_or_default();
    berth_net::resolv_conf(&host, dns)
}

impl Engine {
    /// The published ports of a running container (host ports as chosen).
    pub fn published_ports(&self, name: &str) -> Result<Vec<PortMapping>, EngineError> {
        let rec = self.reconciled(name)?;
        Ok(NetSummary::from_record(&rec)
            .into_iter()
            .flat_map(|n| n.ports)
            .collect())
    }

    /// Port diagnosis: watches the container's listening sockets for up to `watch` and
    /// returns hints when a published port has no listener but another port has, or when
    /// the app listens only on loopback. Returns as soon as every published port listens or
    /// a hint is certain; only a container that listens on nothing at all is watched for the
    /// whole time.
    /// What the kernel's rules lack for container `name`'s published ports: its own DNAT
    /// entries, and anything of the table or its network that every published port needs.
    /// Empty when the rules are all there (or the container publishes nothing).
    pub fn firewall_gaps(&self, name: &str) -> Result<Vec<String>, EngineError> {
        let rec = self.reconciled(name)?;
        if rec.state != ContainerState::Running || self.published_ports(&rec.id)?.is_empty() {
            return Ok(Vec::new());
        }
        let networks: Vec<String> = NetSummary::from_record(&rec)
            .into_iter()
            .map(|n| n.network)
            .collect();
        let gaps = self
            .network()?
            .verify_firewall()
            .map_err(EngineError::Net)?;
        Ok(gaps
            .into_iter()
            .filter(|g| match g {
                berth_net::FirewallGap::Port { container_id, .. } => *container_id == rec.id,
                berth_net::FirewallGap::Network { network, .. } => networks.contains(network),
                berth_net::FirewallGap::Table { .. } | berth_net::FirewallGap::Layout { .. } => {
                    true
                }
            })
            .map(|g| g.to_string())
            .collect())
    }

    pub fn port_hints(
        &self,
        name: &str,
        watch: std::time::Duration,
    ) -> Result<Vec<String>, EngineError> {
        let deadline = std::time::Instant::now() + watch;
        loop {
            let rec = self.reconciled(name)?;
            let ports = self.published_ports(&rec.id)?;
            if rec.state != ContainerState::Running || ports.is_empty() {
                return Ok(Vec::new());
            }
            let listeners = berth_net::diagnose::listeners(rec.pid as i32).unwrap_or_default();
            let served = ports.iter().all(|p| {
                listeners
                    .iter()
                    .any(|l| l.port == p.container_port && l.proto == p.proto && l.reachable())
            });
            // Something already listens where it should not: the hint cannot change by
            // waiting for more. While nothing listens at all the app may still be starting,
            // and that alone is not worth a warning.
            let hints = if listeners.is_empty() {
                Vec::new()
            } else {
                berth_net::diagnose::hint(&rec.name, &ports, &listeners)
            };
            if served || !hints.is_empty() || std::time::Instant::now() >= deadline {
                return Ok(hints);
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
}

impl Engine {
    /// `network connect`: attaches a running container to another network.
    pub fn network_connect(
        &self,
        network: &str,
        container: &str,
        aliases: &[String],
    ) -> Result<(), EngineError> {
        let rec = self.reconciled(container)?;
        if rec.state != ContainerState::Running {
            return self.connect_stopped(&rec, network, aliases);
        }
        let netns = self.network()?.netns_path(&rec.id);
        if !berth_net::is_netns(&netns) {
            return Err(EngineError::Conflict(format!(
                "container {container} has no network of its own to connect (it runs with --network none, host or container:)"
            )));
        }
        let spec = EndpointSpec {
            network: network.to_string(),
            name: rec.name.clone(),
            hostname: Some(rec.id[..12].to_string()),
            aliases: aliases.to_vec(),
            ports: Vec::new(),
            ip: None,
        };
        let att = self
            .network()?
            .connect(&rec.id, &netns, &spec)
            .map_err(EngineError::Net)?;
        let mut nets = NetSummary::from_record(&rec);
        nets.push(NetSummary {
            network: att.network,
            ip: Some(att.ip),
            gateway: Some(att.gateway),
            prefix_len: att.prefix_len,
            mac: att.mac,
            ports: Vec::new(),
        });
        self.save_net(&rec.id, &nets)?;
        let hosts = self
            .network()?
            .hosts_for(&rec.id)
            .map_err(EngineError::Net)?;
        let hosts = self.with_own_extra_hosts(&rec.id, &hosts);
        let _ = berth_net::write_in_place(&self.container_paths(&rec.id).dir.join("hosts"), &hosts);
        self.refresh_peer_hosts(&rec.id, &[network.to_string()]);
        self.emit_network(crate::events::Action::Connect, network, Some(&rec.id));
        Ok(())
    }

    /// `network disconnect`.
    pub fn network_disconnect(&self, network: &str, container: &str) -> Result<(), EngineError> {
        let rec = self.reconciled(container)?;
        if !rec.state.is_active() {
            return self.disconnect_stopped(&rec, network);
        }
        self.network()?
            .disconnect(&rec.id, network)
            .map_err(|errs| EngineError::Net(berth_net::NetError::from_many(errs)))?;
        let nets: Vec<NetSummary> = NetSummary::from_record(&rec)
            .into_iter()
            .filter(|n| n.network != network)
            .collect();
        self.save_net(&rec.id, &nets)?;
        self.refresh_peer_hosts("", &[network.to_string()]);
        self.emit_network(crate::events::Action::Disconnect, network, Some(&rec.id));
        Ok(())
    }

    /// `network connect` of a container that is not running: the network it joins at its
    /// next start (docker's clients — compose — disconnect and reconnect a created
    /// container to set its aliases). berth starts a container on one network; joining a
    /// second is for a running container.
    fn connect_stopped(
        &self,
        rec: &ContainerRecord,
        network: &str,
        aliases: &[String],
    ) -> Result<(), EngineError> {
        // The network must exist (a typo is a 404, as docker's).
        self.network()?.network(network).map_err(EngineError::Net)?;
        self.change_config(rec, |c| match &c.network {
            NetworkMode::None => {
                c.network = NetworkMode::Bridge(network.to_string());
                c.aliases = aliases.to_vec();
                Ok(())
            }
            NetworkMode::Bridge(n) if n == network => {
                for a in aliases {
                    if !c.aliases.contains(a) {
                        c.aliases.push(a.clone());
                    }
                }
                Ok(())
            }
            other => Err(EngineError::Conflict(format!(
                "container {} is not running and already joins network {} at its start: start it, then connect it to {network}",
                &rec.id[..12],
                other.name()
            ))),
        })?;
        self.emit_network(crate::events::Action::Connect, network, Some(&rec.id));
        Ok(())
    }

    /// `network disconnect` of a container that is not running: it will start without
    /// that network.
    fn disconnect_stopped(&self, rec: &ContainerRecord, network: &str) -> Result<(), EngineError> {
        self.change_config(rec, |c| match &c.network {
            NetworkMode::Bridge(n) if n == network => {
                c.network = NetworkMode::None;
                c.aliases.clear();
                Ok(())
            }
            _ => Err(EngineError::Net(berth_net::NetError::NotAttached {
                container: rec.id.clone(),
                network: network.to_string(),
            })),
        })?;
        self.emit_network(crate::events::Action::Disconnect, network, Some(&rec.id));
        Ok(())
    }

    /// `text` (a hosts file berth-net made for container `id`) with the container's own
    /// `--add-host` lines.
    fn with_own_extra_hosts(&self, id: &str, text: &str) -> String {
        let Ok(rec) = self.resolve_container(id) else {
            return text.to_string();
        };
        let Ok(config) = ContainerConfig::from_record(&rec) else {
            return text.to_string();
        };
        let gateway = NetSummary::from_record(&rec)
            .first()
            .and_then(|n| n.gateway);
        with_extra_hosts(text.to_string(), &config.spec.extra_hosts, gateway)
    }

    /// Rewrites the stored config of container `id` with `f`.
    pub(crate) fn change_config_of(
        &self,
        id: &str,
        f: impl FnOnce(&mut ContainerConfig) -> Result<(), EngineError>,
    ) -> Result<(), EngineError> {
        let rec = self.resolve_container(id)?;
        self.change_config(&rec, f)
    }

    /// Rewrites the stored config of `rec` with `f`.
    fn change_config(
        &self,
        rec: &ContainerRecord,
        f: impl FnOnce(&mut ContainerConfig) -> Result<(), EngineError>,
    ) -> Result<(), EngineError> {
        let mut config = ContainerConfig::from_record(rec)?;
        f(&mut config)?;
        let json = serde_json::to_string(&config)
            .map_err(|e| EngineError::bad_input("container config", e))?;
        self.store.meta.write(|tx| {
            if let Some(mut r) = tx.container(&rec.id)? {
                r.config = json;
                tx.update_container(&r)?;
            }
            Ok::<_, EngineError>(())
        })
    }

    fn save_net(&self, id: &str, nets: &[NetSummary]) -> Result<(), EngineError> {
        let json = serde_json::to_string(nets).unwrap_or_default();
        self.store.meta.write(|tx| {
            if let Some(mut r) = tx.container(id)? {
                r.net = json;
                tx.update_container(&r)?;
            }
            Ok::<_, EngineError>(())
        })
    }
}

/// `hosts` with the `--add-host` entries appended (`host-gateway` → `gateway`, and left out
/// without one: create refuses it for networks that have none).
pub(crate) fn with_extra_hosts(
    mut hosts: String,
    extra: &[(String, String)],
    gateway: Option<std::net::Ipv4Addr>,
) -> String {
    for (name, ip) in extra {
        let ip = if ip == "host-gateway" {
            match gateway {
                Some(g) => g.to_string(),
                None => continue,
            }
        } else {
            ip.clone()
        };
        if !hosts.ends_with('\n') && !hosts.is_empty() {
            hosts.push('\n');
        }
        hosts.push_str(&format!("{ip}\t{name}\n"));
    }
    hosts
}
