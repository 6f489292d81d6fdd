//! berth's networking layer: Linux bridges, veth pairs, IP address management, nftables NAT and
//! published ports, per-container `/etc/hosts` and `resolv.conf`, and port diagnosis.
//!
//! Every effect is recorded first and undone exactly: the state directory holds one JSON file
//! per network and per attached container (written atomically, under a `flock` shared by every
//! berth process), so `detach` and `reconcile` know precisely which veth, which DNAT entries and
//! which address belong to a container, even after a `kill -9` in the middle of an `attach`.
//! Links are set up over netlink, the firewall with one nftables transaction per change
//! run in-process through libnftables (all of berth's rules live in one table; see
//! `docs/networking.md` for its layout).
//!
//! This crate does not know about images, containers' processes or the OCI runtime: the engine
//! creates the namespace here, hands its path to the runtime, and calls `attach`/`detach`.
//! It does not hard-code paths: the state directory, bridge, subnet and nft table come from
//! [`NetConfig`], so tests run side by side with their own.
//!
//! ```no_run
//! use berth_net::{parse_publish, NetConfig, Network};
//!
//! let mut net = Network::open(NetConfig::new("/run/berth/net".into()))?;
//! let netns = net.create_netns("0123abcd")?; // put this path in the OCI spec's network namespace
//! let ports = parse_publish("5000:8000")?;
//! let att = net.attach("0123abcd", &netns, "web", &[], &ports)?;
//! println!("web is at {} (gateway {}), published {}", att.ip, att.gateway, att.ports[0]);
//! net.detach("0123abcd").map_err(berth_net::NetError::from_many)?;
//! # Ok::<(), berth_net::NetError>(())
//! ```

mod attach;
mod clash;
pub mod diagnose;
mod error;
mod etc;
mod firewall;
mod ipam;
mod ipnet;
mod link;
mod link_msg;
mod netlink;
mod networks;
mod pool;
mod ports;
mod publish;
mod reconcile;
mod settings;
mod state;
mod sys;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub use attach::{Attachment, EndpointSpec};
pub use clash::{clashes, SubnetClash};
pub use error::NetError;
pub use etc::{hosts_file, resolv_conf, write_in_place};
pub use firewall::{FirewallGap, FirewallKind};
pub use ipnet::Ipv4Net;
pub use networks::{NetworkInfo, NetworkSpec};
pub use pool::{Netns, NetnsPool};
pub use publish::{parse_publish, PortMapping, Proto};
pub use settings::{NetScope, NetSettings};

/// The name of the default network (docker's name for it).
pub const DEFAULT_NETWORK: &str = "bridge";

/// Where and how berth's networking lives.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// Persisted IPAM, networks, per-container attachments and namespace mounts.
    pub state_dir: PathBuf,
    /// Bridge of the default network.
    pub bridge: String,
    /// Subnet of the default network; its first address is the gateway.
    pub subnet: Ipv4Net,
    /// Subnets for `network create` without `--subnet` are the /24s of this range.
    pub pool: Ipv4Net,
    pub firewall: FirewallKind,
    /// The nft table (family `ip`) holding all of berth's rules.
    pub table: String,
    /// MTU of bridges and veths; `None` = that of the interface with the default route.
    pub mtu: Option<u32>,
    /// The host-wide lock taken while choosing a subnet that must not collide with another
    /// root's (see [`NetSettings`]); `None`: this state directory is alone on the host.
    pub host_lock: Option<PathBuf>,
}

impl NetConfig {
    /// Defaults: bridge `berth0`, subnet 10.213.0.0/16, pool 10.214.0.0/16, nft table `berth`.
    /// (Docker takes 172.17–31.x and 192.168.x, podman 10.88–89.x, Kubernetes distributions
    /// 10.42–43.x, 10.96.x and 10.244.x.)
    pub fn new(state_dir: PathBuf) -> Self {
        NetConfig {
            state_dir,
            bridge: "berth0".into(),
            subnet: Ipv4Net::raw(Ipv4Addr::new(10, 213, 0, 0), 16),
            pool: Ipv4Net::raw(Ipv4Addr::new(10, 214, 0, 0), 16),
            firewall: FirewallKind::Nft,
            table: "berth".into(),
            mtu: None,
            host_lock: None,
        }
    }
}

/// The networking state of one state directory: networks, their bridges and the firewall.
///
/// Methods that change anything take an exclusive lock on the state directory, so several
/// berth processes (CLI, API server, monitors) can hold a `Network` for the same directory.
#[derive(Debug)]
pub struct Network {
    cfg: NetConfig,
    store: state::Store,
    fw: Box<dyn firewall::Firewall>,
    mtu: OnceLock<u32>,
    /// Sockets holding the published host ports of the containers attached through this
    /// handle, by container ID and network: held until `detach`/`disconnect` (or until this
    /// process ends — a container's monitor keeps its handle for the container's life).
    held: std::collections::HashMap<(String, String), Vec<ports::Hold>>,
}

/// Interface names: at most 15 bytes, no '/', ':' or whitespace.
fn check_ifname(name: &str) -> Result<(), NetError> {
    if name.is_empty()
        || name.len() > 15
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        return Err(NetError::invalid(
            "interface name",
            name,
            "1-15 letters, digits, '_', '-' or '.'",
        ));
    }
    Ok(())
}

impl Network {
    /// Sets up (or checks) everything shared: the default network's bridge with its gateway
    /// address, `ip_forward`, every known network's bridge, and — on the first open after boot,
    /// or when the table name changed — the nft table with exactly the networks and published
    /// ports of the state directory ([`Network::verify_firewall`] and
    /// [`Network::repair_firewall`] check and redo that later). Idempotent; call it at every
    /// start.
    pub fn open(cfg: NetConfig) -> Result<Self, NetError> {
        check_ifname(&cfg.bridge)?;
        state::check_name("nft table name", &cfg.table)?;
        let store = state::Store::new(cfg.state_dir.clone())?;
        let fw = firewall::make(cfg.firewall, &cfg.table, &cfg.state_dir);
        let net = Network {
            cfg,
            store,
            fw,
            mtu: OnceLock::new(),
            held: Default::default(),
        };
        let lock = net.store.lock()?;
        net.ensure_default_network(&lock)?;
        for n in net.store.networks()? {
            link::ensure_bridge(&n.bridge, n.gateway, n.subnet.prefix_len(), net.cfg.mtu)?;
        }
        // The table is rewritten only when it may be stale (first open, reboot, renamed
        // table): every later change is made incrementally by the call that causes it.
        if !net.fw.in_sync() {
            net.sync_firewall()?;
        }
        Ok(net)
    }

    pub fn config(&self) -> &NetConfig {
        &self.cfg
    }

    fn mtu(&self) -> u32 {
        *self
            .mtu
            .get_or_init(|| self.cfg.mtu.unwrap_or_else(link::uplink_mtu))
    }

    /// Where the namespace of `container_id` is (or would be) bound.
    /// Re-adds berth's accept rules to another firewall's drop-policy FORWARD chain (Docker's
    /// `DOCKER-USER`) when they went missing — Docker started after berth, say. Cheap when
    /// nothing changed (one in-process listing of `ip filter`); berth's monitors call it now and then, since berth
    /// has no daemon to notice.
    pub fn ensure_neighbours(&self) -> Result<(), NetError> {
        if self.cfg.firewall == FirewallKind::None {
            return Ok(());
        }
        let nets = self.store.networks()?;
        let bridges: Vec<&str> = nets.iter().map(|n| n.bridge.as_str()).collect();
        self.fw.ensure_neighbours(&bridges)
    }

    pub fn netns_path(&self, container_id: &str) -> PathBuf {
        self.store.netns_path(container_id)
    }

    /// Creates the container's network namespace at `state_dir/netns/<id>` with `lo` up, and
    /// returns its path (for the OCI spec). An existing one is kept.
    pub fn create_netns(&self, container_id: &str) -> Result<PathBuf, NetError> {
        state::check_name("container id", container_id)?;
        let path = self.store.netns_path(container_id);
        sys::create_netns(&path)?;
        Ok(path)
    }

    /// Binds `ns` (from a [`NetnsPool`]) as the container's network namespace at
    /// `state_dir/netns/<id>`, as [`Network::create_netns`] makes one, and returns its path.
    /// An existing one is kept.
    pub fn bind_netns(&self, container_id: &str, ns: &Netns) -> Result<PathBuf, NetError> {
        state::check_name("container id", container_id)?;
        let path = self.store.netns_path(container_id);
        if !sys::is_nsfs(&path) {
            sys::bind_netns(&ns.proc_path(), &path)?;
        }
        Ok(path)
    }

    /// Unmounts and removes the container's namespace file (`detach` does this too).
    pub fn remove_netns(&self, container_id: &str) -> Result<(), NetError> {
        state::check_name("container id", container_id)?;
        sys::remove_netns(&self.store.netns_path(container_id))
    }

    /// Makes the nft table match the state directory exactly (one transaction), and records
    /// that it did so that later opens skip it.
    fn sync_firewall(&self) -> Result<(), NetError> {
        let nets: Vec<_> = self.store.networks()?.iter().map(networks::rule).collect();
        let mut rules = Vec::new();
        for c in self.store.containers()? {
            for ep in &c.endpoints {
                rules.extend(ports::rules(&ep.ports, ep.ip));
            }
        }
        self.fw.sync(&nets, &rules)
    }

    /// Tears down everything this state directory created: every attachment, every network's
    /// bridge, the nft table and berth's rules in other tables. Tries every step.
    pub fn destroy(&mut self) -> Result<(), Vec<NetError>> {
        let lock = self.store.lock().map_err(|e| vec![e])?;
        let mut errs = Vec::new();
        match self.store.containers() {
            Ok(cs) => {
                for c in cs {
                    errs.extend(self.detach_locked(
                        &lock,
                        &c.container_id,
                        crate::attach::Links::Delete,
                    ));
                }
            }
            Err(e) => errs.push(e),
        }
        match self.store.networks() {
            Ok(ns) => {
                for n in ns {
                    if let Err(e) = link::delete_link(&n.bridge) {
                        errs.push(e);
                    }
                    if let Err(e) = self.store.remove_network(&lock, &n.name) {
                        errs.push(e);
                    }
                }
            }
            Err(e) => errs.push(e),
        }
        if let Err(e) = self.fw.uninstall() {
            errs.push(e);
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(errs)
        }
    }

    pub(crate) fn store(&self) -> &state::Store {
        &self.store
    }
}

/// Whether `path` is a network namespace bind mount (as `create_netns` makes).
pub fn is_netns(path: &Path) -> bool {
    sys::is_nsfs(path)
}
