//! Which bridge, subnet, user-network pool and nft table a state directory uses: chosen once,
//! persisted in `state_dir/config.json`, and read back by every process of that root (the CLI,
//! each container's monitor, a server), so no process depends on inherited environment.
//!
//! Two roots on one host must never share a bridge, a subnet or a table: each rewrites its own
//! table from its own state, and each hands out addresses from its own subnet. The default root
//! ([`NetScope::Default`]) keeps the names users know (`berth0`, table `berth`, and `10.213.0.0/16`
//! unless another interface routes it when the root is first used: then the next free /16 of
//! 10.221–10.229);
//! any other root ([`NetScope::Root`]) gets names derived from its state directory's path
//! (`bh` + 8 hex digits, unique by construction) and a subnet chosen from 10.215.0.0–10.218.255.255
//! that no host route uses. The choice and the creation of the bridge that claims it happen under
//! one host-wide lock, so two roots initialising at once cannot pick the same subnet; once the
//! bridge exists, its route is the claim every later chooser sees.
//!
//! User-defined networks of every root share the pool 10.214.0.0/16; `network create` picks a
//! free /24 under the same host lock, checking the host's routes, for the same reason.

use std::fs::{File, OpenOptions};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ipnet::Ipv4Net;
use crate::state::{read_json, write_json};
use crate::{link, FirewallKind, NetConfig, NetError};

/// Whose names a root gets when nothing is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NetScope {
    /// The machine's main berth: `berth0`, `10.213.0.0/16`, table `berth`.
    Default,
    /// Any other root (a second install, a test): names derived from the state directory.
    #[default]
    Root,
}

/// How to find (or make) a state directory's network configuration: explicit settings win,
/// then what the directory recorded, then the scope's defaults.
#[derive(Debug, Clone)]
pub struct NetSettings {
    pub state_dir: PathBuf,
    pub scope: NetScope,
    /// The host-wide lock that serialises choosing subnets across roots.
    pub host_lock: PathBuf,
    pub bridge: Option<String>,
    pub subnet: Option<Ipv4Net>,
    pub pool: Option<Ipv4Net>,
    pub table: Option<String>,
    pub firewall: FirewallKind,
    pub mtu: Option<u32>,
}

/// What `config.json` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Persisted {
    bridge: String,
    subnet: Ipv4Net,
    pool: Ipv4Net,
    table: String,
}

/// Where roots of [`NetScope::Root`] find their subnets: /20s of 10.215.0.0–10.218.255.255.
// (10.219/16 is the bench's; see docs/bench.md.)
const ROOT_RANGE: (Ipv4Addr, u32) = (Ipv4Addr::new(10, 215, 0, 0), 4 * 16);
const ROOT_PREFIX: u8 = 20;

fn default_pool() -> Ipv4Net {
    Ipv4Net::raw(Ipv4Addr::new(10, 214, 0, 0), 16)
}

impl NetSettings {
    /// Nothing explicit: the scope's defaults, or what `state_dir` recorded.
    pub fn new(state_dir: PathBuf, scope: NetScope, host_lock: PathBuf) -> Self {
        NetSettings {
            state_dir,
            scope,
            host_lock,
            bridge: None,
            subnet: None,
            pool: None,
            table: None,
            firewall: FirewallKind::Nft,
            mtu: None,
        }
    }

    /// Whether anything was set explicitly (then [`NetSettings::resolve`] records it, and
    /// should run before a process that lacks the settings, such as a monitor, resolves).
    pub fn is_explicit(&self) -> bool {
        self.bridge.is_some()
            || self.subnet.is_some()
            || self.pool.is_some()
            || self.table.is_some()
    }

    /// These settings without the explicit ones ([`NetSettings::is_explicit`]): what a
    /// process that must follow the root's record, not its caller's environment (a
    /// container's monitor), opens the network with.
    pub fn without_explicit(&self) -> Self {
        NetSettings {
            bridge: None,
            subnet: None,
            pool: None,
            table: None,
            ..self.clone()
        }
    }

    fn config_path(&self) -> PathBuf {
        self.state_dir.join("config.json")
    }

    /// The configuration to open the network with. Records it in `state_dir/config.json` when
    /// it is new or an explicit setting changed it. For a [`NetScope::Root`] state directory
    /// seen for the first time, this chooses a free subnet and creates the bridge that claims
    /// it (root needed, as for anything else in this crate).
    pub fn resolve(&self) -> Result<NetConfig, NetError> {
        std::fs::create_dir_all(&self.state_dir)
            .map_err(|e| NetError::io(format!("create {}", self.state_dir.display()), e))?;
        let recorded = self.recorded()?;
        let (bridge, table) = self.names(recorded.as_ref());
        let pool = self
            .pool
            .or(recorded.as_ref().map(|r| r.pool))
            .unwrap_or_else(default_pool);
        let subnet = match self.subnet.or(recorded.as_ref().map(|r| r.subnet)) {
            Some(s) => s,
            None => return self.claim(bridge, table, pool),
        };
        let chosen = Persisted {
            bridge,
            subnet,
            pool,
            table,
        };
        if recorded.as_ref() != Some(&chosen) {
            write_json(
                &self.config_path(),
                &chosen,
                crate::state::Durability::Durable,
            )?;
        }
        Ok(self.config(chosen))
    }

    /// `config.json`, or for a directory from before it existed, the default network's record.
    fn recorded(&self) -> Result<Option<Persisted>, NetError> {
        if let Some(p) = read_json::<Persisted>(&self.config_path())? {
            return Ok(Some(p));
        }
        let old: Option<crate::state::NetworkRecord> =
            read_json(&self.state_dir.join("networks/bridge.json"))?;
        Ok(old.map(|n| Persisted {
            table: match self.scope {
                NetScope::Default => "berth".into(),
                NetScope::Root => derived_name(&self.state_dir),
            },
            bridge: n.bridge,
            subnet: n.subnet,
            pool: default_pool(),
        }))
    }

    fn names(&self, recorded: Option<&Persisted>) -> (String, String) {
        let default = || match self.scope {
            NetScope::Default => ("berth0".to_string(), "berth".to_string()),
            NetScope::Root => {
                let n = derived_name(&self.state_dir);
                (n.clone(), n)
            }
        };
        let (b, t) = default();
        (
            self.bridge
                .clone()
                .or(recorded.map(|r| r.bridge.clone()))
                .unwrap_or(b),
            self.table
                .clone()
                .or(recorded.map(|r| r.table.clone()))
                .unwrap_or(t),
        )
    }

    /// First use of a state directory: under the host lock, pick the first candidate subnet
    /// that no route through another interface claims and create the bridge on it, then
    /// record the choice. The default root tries 10.213.0.0/16 (the address users know), then
    /// 10.221–10.229.0.0/16, as docker moves on through its pools; another root /20s of
    /// 10.215.0.0–10.218.255.255.
    fn claim(&self, bridge: String, table: String, pool: Ipv4Net) -> Result<NetConfig, NetError> {
        crate::check_ifname(&bridge)?;
        let _host = host_lock(&self.host_lock)?;
        // Another process of this root may have claimed while we waited for the lock.
        if let Some(p) = read_json::<Persisted>(&self.config_path())? {
            return Ok(self.config(p));
        }
        let routes = link::routes()?;
        let (candidates, range): (Box<dyn Iterator<Item = Ipv4Net>>, String) = match self.scope {
            NetScope::Default => (
                Box::new(default_candidates()),
                "10.213.0.0/16 and 10.221.0.0/16 … 10.229.0.0/16".to_string(),
            ),
            NetScope::Root => (
                Box::new(root_candidates()),
                format!(
                    "{}/{} … +{} blocks",
                    ROOT_RANGE.0, ROOT_PREFIX, ROOT_RANGE.1
                ),
            ),
        };
        let subnet = free_block(&routes, &bridge, candidates).ok_or_else(|| {
            NetError::AddressesExhausted {
                network: "bridge".into(),
                subnet: format!("{range} (every one is routed on this host)"),
            }
        })?;
        if self.scope == NetScope::Default && default_candidates().next() != Some(subnet) {
            tracing::warn!(
                "10.213.0.0/16 is routed elsewhere on this host: the default network uses {subnet}"
            );
        }
        let gateway = subnet.first_host().ok_or_else(|| {
            NetError::invalid("subnet", subnet.to_string(), "too small for containers")
        })?;
        link::ensure_bridge(&bridge, gateway, subnet.prefix_len(), self.mtu)?;
        let chosen = Persisted {
            bridge,
            subnet,
            pool,
            table,
        };
        write_json(
            &self.config_path(),
            &chosen,
            crate::state::Durability::Durable,
        )?;
        tracing::info!(bridge = %chosen.bridge, %subnet, "claimed a subnet for this root");
        Ok(self.config(chosen))
    }

    fn config(&self, p: Persisted) -> NetConfig {
        NetConfig {
            state_dir: self.state_dir.clone(),
            bridge: p.bridge,
            subnet: p.subnet,
            pool: p.pool,
            firewall: self.firewall,
            table: p.table,
            mtu: self.mtu,
            host_lock: Some(self.host_lock.clone()),
        }
    }
}

/// The first block of [`ROOT_RANGE`] that no route uses (routes on `own`, our bridge, do not
/// count: after a crash between creating the bridge and recording it, we take it back).
fn free_block(
    routes: &[(Ipv4Net, String)],
    own: &str,
    mut candidates: impl Iterator<Item = Ipv4Net>,
) -> Option<Ipv4Net> {
    // Conservative, as docker's choice is: any route elsewhere that overlaps, even a broader
    // one, makes a candidate taken (the clash check of a subnet in use is the precise one).
    candidates.find(|cand| {
        routes
            .iter()
            .all(|(r, dev)| dev == own || !r.overlaps(cand))
    })
}

/// The /20s of [`ROOT_RANGE`].
fn root_candidates() -> impl Iterator<Item = Ipv4Net> {
    let step = 1u32 << (32 - u32::from(ROOT_PREFIX));
    (0..ROOT_RANGE.1).map(move |i| {
        Ipv4Net::raw(
            Ipv4Addr::from(u32::from(ROOT_RANGE.0) + i * step),
            ROOT_PREFIX,
        )
    })
}

/// The default root's subnets, the one users know first.
fn default_candidates() -> impl Iterator<Item = Ipv4Net> {
    std::iter::once(213)
        .chain(221..=229)
        .map(|b| Ipv4Net::raw(Ipv4Addr::new(10, b, 0, 0), 16))
}

/// `bh` + 8 hex digits of a hash of the directory's path: an interface and table name unique
/// to this root and stable across its processes.
fn derived_name(state_dir: &Path) -> String {
    let path = std::fs::canonicalize(state_dir).unwrap_or_else(|_| state_dir.to_path_buf());
    let h = path
        .as_os_str()
        .as_encoded_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
        });
    format!("bh{:08x}", (h ^ (h >> 32)) as u32)
}

/// Holds the host-wide lock until dropped.
#[derive(Debug)]
pub(crate) struct HostLock {
    _file: File,
}

/// Takes the host-wide lock (an `flock` on `path`, created with its directory if missing).
pub(crate) fn host_lock(path: &Path) -> Result<HostLock, NetError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| NetError::io(format!("create {}", dir.display()), e))?;
    }
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| NetError::io(format!("open {}", path.display()), e))?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
        .map_err(|e| NetError::io(format!("lock {}", path.display()), e.into()))?;
    Ok(HostLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn free_block_skips_routed_blocks_but_not_our_own() {
        let routes = vec![
            (net("10.215.0.0/20"), "bhaaaa".to_string()),
            (net("10.215.16.0/24"), "eth1".to_string()),
            (net("0.0.0.0/1"), "tun0".to_string()),
        ];
        // 0.0.0.0/1 covers all of 10/8.
        assert_eq!(free_block(&routes, "bhbbbb", root_candidates()), None);
        let routes = &routes[..2];
        let free = |routes, own| free_block(routes, own, root_candidates());
        assert_eq!(free(routes, "bhbbbb"), Some(net("10.215.32.0/20")));
        assert_eq!(free(routes, "bhaaaa"), Some(net("10.215.0.0/20")));
        assert_eq!(free(&[], "x"), Some(net("10.215.0.0/20")));
    }

    /// The default network keeps 10.213.0.0/16 unless another interface has it (a Docker
    /// network on that range), then takes the next free /16 (issue 14, item 8).
    #[test]
    fn the_default_network_moves_off_a_routed_10_213() {
        let free =
            |routes: &[(Ipv4Net, String)]| free_block(routes, "berth0", default_candidates());
        assert_eq!(free(&[]), Some(net("10.213.0.0/16")));
        let ours = [(net("10.213.0.0/16"), "berth0".to_string())];
        assert_eq!(free(&ours), Some(net("10.213.0.0/16")));
        let docker = [
            (net("10.213.0.0/16"), "br-5d1c".to_string()),
            (net("10.221.4.0/24"), "br-77aa".to_string()),
        ];
        assert_eq!(free(&docker), Some(net("10.222.0.0/16")));
    }

    #[test]
    fn the_range_ends_before_10_219() {
        let step = 1u32 << (32 - u32::from(ROOT_PREFIX));
        let last = u32::from(ROOT_RANGE.0) + (ROOT_RANGE.1 - 1) * step;
        assert_eq!(Ipv4Addr::from(last), Ipv4Addr::new(10, 218, 240, 0));
    }

    #[test]
    fn derived_names_are_valid_and_differ_per_directory() {
        let a = derived_name(Path::new("/tmp/root-a/net"));
        let b = derived_name(Path::new("/tmp/root-b/net"));
        assert_ne!(a, b);
        assert_eq!(a.len(), 10);
        assert!(crate::check_ifname(&a).is_ok());
        assert_eq!(a, derived_name(Path::new("/tmp/root-a/net")));
    }

    #[test]
    fn explicit_settings_win_and_are_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = NetSettings::new(
            dir.path().join("net"),
            NetScope::Root,
            dir.path().join("host.lock"),
        );
        s.bridge = Some("btx".into());
        s.table = Some("btx".into());
        s.subnet = Some(net("10.201.7.0/24"));
        let c = s.resolve().unwrap();
        assert_eq!((c.bridge.as_str(), c.table.as_str()), ("btx", "btx"));
        assert_eq!(c.subnet, net("10.201.7.0/24"));
        assert_eq!(c.pool, default_pool());
        // A process without the explicit settings (a monitor) reads the same back.
        let plain = NetSettings::new(
            dir.path().join("net"),
            NetScope::Root,
            dir.path().join("host.lock"),
        );
        let c2 = plain.resolve().unwrap();
        assert_eq!(
            (c2.bridge, c2.table, c2.subnet, c2.pool),
            (c.bridge, c.table, c.subnet, c.pool)
        );
    }

    #[test]
    fn the_default_scope_keeps_the_known_names() {
        let dir = tempfile::tempdir().unwrap();
        let c = NetSettings::new(
            dir.path().join("net"),
            NetScope::Default,
            dir.path().join("host.lock"),
        )
        .resolve()
        .unwrap();
        assert_eq!((c.bridge.as_str(), c.table.as_str()), ("berth0", "berth"));
        assert_eq!(c.subnet, net("10.213.0.0/16"));
    }
}
