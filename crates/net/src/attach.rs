//! Putting a container on a network and taking it off again, exactly.
//!
//! Order of an attach, under the state lock: choose host ports and an address (refusals happen
//! here, before anything exists) → write the endpoint record marked not ready → create the veth
//! pair and address it → add the DNAT entries → mark the record ready. A failure undoes what was
//! made; a crash leaves a not-ready record that `reconcile` follows to undo the rest.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use crate::link::{self, Veth};
use crate::ports::{self, Taken};
use crate::publish::PortMapping;
use crate::state::{check_name, ContainerRecord, EndpointRecord, Locked};
use crate::sys;
use crate::{ipam, NetError, Network, DEFAULT_NETWORK};

/// What to attach a container to, and as whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointSpec {
    /// Network name (`bridge` is the default network).
    pub network: String,
    /// The container's name: other containers on a user-defined network resolve it.
    pub name: String,
    /// Hostname for `/etc/hosts`; `None` keeps the recorded one (default: 12-char short ID).
    pub hostname: Option<String>,
    /// Further names on this network (`--network-alias`).
    pub aliases: Vec<String>,
    pub ports: Vec<PortMapping>,
    /// A fixed address (`--ip`) instead of the next free one.
    pub ip: Option<Ipv4Addr>,
}

impl Default for EndpointSpec {
    fn default() -> Self {
        EndpointSpec {
            network: DEFAULT_NETWORK.to_string(),
            name: String::new(),
            hostname: None,
            aliases: Vec::new(),
            ports: Vec::new(),
            ip: None,
        }
    }
}

/// A container's presence on one network, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub container_id: String,
    pub network: String,
    /// Interface name inside the container (`eth0`, `eth1`, …).
    pub ifname: String,
    pub ip: Ipv4Addr,
    pub gateway: Ipv4Addr,
    pub prefix_len: u8,
    pub mac: String,
    /// Host end of the veth pair (`vb` + 8 hex digits), a port of `bridge`.
    pub veth_host: String,
    pub bridge: String,
    /// Published ports with the host ports actually chosen.
    pub ports: Vec<PortMapping>,
    pub name: String,
    pub aliases: Vec<String>,
    pub hostname: String,
    pub netns: PathBuf,
}

impl Attachment {
    pub(crate) fn new(c: &ContainerRecord, e: &EndpointRecord) -> Self {
        Attachment {
            container_id: c.container_id.clone(),
            network: e.network.clone(),
            ifname: e.ifname.clone(),
            ip: e.ip,
            gateway: e.gateway,
            prefix_len: e.prefix_len,
            mac: e.mac.clone(),
            veth_host: e.veth_host.clone(),
            bridge: e.bridge.clone(),
            ports: e.ports.clone(),
            name: e.name.clone(),
            aliases: e.aliases.clone(),
            hostname: c.hostname.clone(),
            netns: c.netns.clone(),
        }
    }
}

fn short(id: &str) -> String {
    id.chars().take(12).collect()
}

/// Who holds a port, for error messages: the container's name, else its short ID.
fn owner(c: &ContainerRecord, e: &EndpointRecord) -> String {
    if e.name.is_empty() {
        short(&c.container_id)
    } else {
        e.name.clone()
    }
}

/// How a detach gets rid of a container's veth pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Links {
    /// Delete each pair now (synchronous: the caller waits for the kernel).
    Delete,
    /// Leave them in the namespace, which the kernel tears down once it is unmounted.
    WithNamespace,
}

impl Network {
    /// Attaches a container to the default network: see [`Network::connect`].
    pub fn attach(
        &mut self,
        container_id: &str,
        netns: &Path,
        name: &str,
        aliases: &[String],
        ports: &[PortMapping],
    ) -> Result<Attachment, NetError> {
        let spec = EndpointSpec {
            name: name.to_string(),
            aliases: aliases.to_vec(),
            ports: ports.to_vec(),
            ..EndpointSpec::default()
        };
        self.connect(container_id, netns, &spec)
    }

    /// Attaches the container whose network namespace is `netns` to `spec.network`: leases an
    /// address, creates a veth pair (container end `ethN` inside `netns`, host end on the
    /// network's bridge) and publishes `spec.ports`. A refused or failed attach leaves nothing
    /// behind; the record is persisted before this returns.
    pub fn connect(
        &mut self,
        container_id: &str,
        netns: &Path,
        spec: &EndpointSpec,
    ) -> Result<Attachment, NetError> {
        check_name("container id", container_id)?;
        if !sys::is_nsfs(netns) {
            return Err(NetError::invalid(
                "network namespace",
                netns.display().to_string(),
                "not a network namespace (create it with create_netns)",
            ));
        }
        let lock = self.store().lock()?;
        let net = self
            .store()
            .network(&spec.network)?
            .ok_or_else(|| NetError::NetworkNotFound(spec.network.clone()))?;
        let all = self.store().containers()?;
        let mut rec = all
            .iter()
            .find(|c| c.container_id == container_id)
            .cloned()
            .unwrap_or_else(|| ContainerRecord {
                container_id: container_id.to_string(),
                netns: netns.to_path_buf(),
                hostname: short(container_id),
                endpoints: Vec::new(),
            });
        if rec.endpoints.iter().any(|e| e.network == net.name) {
            return Err(NetError::AlreadyAttached {
                container: container_id.to_string(),
                network: net.name.clone(),
            });
        }
        if let Some(h) = &spec.hostname {
            rec.hostname.clone_from(h);
        }
        rec.netns = netns.to_path_buf();

        let endpoints = || {
            all.iter()
                .flat_map(|c| c.endpoints.iter().map(move |e| (c, e)))
        };
        let taken: Vec<Taken> = endpoints()
            .flat_map(|(c, e)| {
                e.ports.iter().map(move |p| Taken {
                    proto: p.proto,
                    host_ip: ports::host_v4(p).ok().flatten(),
                    port: p.host_port,
                    owner: owner(c, e),
                })
            })
            .collect();
        let me = if spec.name.is_empty() {
            short(container_id)
        } else {
            spec.name.clone()
        };
        let (chosen, holds) = ports::choose(&spec.ports, &taken, &me)?;
        if let Some(ip) = spec.ip {
            if let Some((c, _)) = endpoints().find(|(_, e)| e.network == net.name && e.ip == ip) {
                return Err(NetError::AddressInUse {
                    network: net.name.clone(),
                    ip: ip.to_string(),
                    container: short(&c.container_id),
                });
            }
        }
        let used: HashSet<Ipv4Addr> = endpoints()
            .filter(|(_, e)| e.network == net.name)
            .map(|(_, e)| e.ip)
            .collect();
        let ip = ipam::allocate(&net, &used, spec.ip)?;
        let ifname = (0..)
            .map(|i| format!("eth{i}"))
            .find(|n| !rec.endpoints.iter().any(|e| &e.ifname == n))
            .unwrap_or_else(|| "eth0".into());
        let veths: HashSet<&str> = endpoints().map(|(_, e)| e.veth_host.as_str()).collect();
        let veth_host = (0..16)
            .map(|_| ipam::veth_name())
            .find(|v| !veths.contains(v.as_str()) && !sys::link_exists(v))
            .unwrap_or_else(ipam::veth_name);

        let ep = EndpointRecord {
            network: net.name.clone(),
            ifname,
            ip,
            mac: ipam::mac_for(ip),
            veth_host,
            bridge: net.bridge.clone(),
            gateway: net.gateway,
            prefix_len: net.subnet.prefix_len(),
            name: spec.name.clone(),
            aliases: spec.aliases.clone(),
            ports: chosen,
            ready: false,
        };
        rec.endpoints.push(ep.clone());
        self.store().save_container(&lock, &rec)?;
        if let Err(e) = self.store().save_cursor(&lock, &net.name, ip) {
            tracing::warn!(network = %net.name, error = %e, "could not save the IPAM cursor");
        }

        let first = rec.endpoints.len() == 1;
        let made = link::create_veth(&Veth {
            host: &ep.veth_host,
            bridge: &net.bridge,
            netns,
            ifname: &ep.ifname,
            mac: &ep.mac,
            ip,
            prefix: ep.prefix_len,
            gateway: (first && !net.internal).then_some(net.gateway),
            mtu: self.mtu(),
        })
        .and_then(|()| self.fw.add_ports(&ports::rules(&ep.ports, ip)));
        if let Err(e) = made {
            let errs = self.teardown_endpoint(&ep);
            if errs.is_empty() {
                rec.endpoints.retain(|x| x.network != net.name);
                if let Err(se) = self.store().save_container(&lock, &rec) {
                    tracing::warn!(container_id, error = %se, "could not drop a failed endpoint");
                }
            } else {
                tracing::warn!(container_id, errors = %NetError::from_many(errs),
                    "rolling back a failed attach left work for reconcile");
            }
            return Err(e);
        }
        for e in &mut rec.endpoints {
            if e.network == net.name {
                e.ready = true;
            }
        }
        self.store().save_container(&lock, &rec)?;
        self.held
            .insert((container_id.to_string(), net.name.clone()), holds);
        tracing::debug!(container_id, network = %net.name, %ip, "attached");
        let ready = rec.endpoints.iter().find(|e| e.network == net.name);
        Ok(Attachment::new(&rec, ready.unwrap_or(&ep)))
    }

    /// Removes the container from every network and deletes its namespace: DNAT entries, veth
    /// pairs, address leases, the namespace mount and file. Tries every step and reports every
    /// failure; what failed stays recorded so that a later `detach` or `reconcile` retries it.
    pub fn detach(&mut self, container_id: &str) -> Result<(), Vec<NetError>> {
        self.detach_with(container_id, Links::Delete)
    }

    /// [`Network::detach`] for a container whose namespace nothing else holds (its processes
    /// have exited and no other container joined it): the veth pairs are left in the
    /// namespace, and unmounting it hands them to the kernel, which deletes them in the
    /// background when the namespace dies. Deleting a veth ourselves waits for RCU (19–44 ms
    /// here); this returns in well under a millisecond. The published ports and address
    /// leases are released before this returns, as with `detach`; a veth that outlives its
    /// namespace because something still held it is an unrecorded port that `reconcile`
    /// removes.
    pub fn release(&mut self, container_id: &str) -> Result<(), Vec<NetError>> {
        self.detach_with(container_id, Links::WithNamespace)
    }

    fn detach_with(&mut self, container_id: &str, links: Links) -> Result<(), Vec<NetError>> {
        check_name("container id", container_id).map_err(|e| vec![e])?;
        let lock = self.store().lock().map_err(|e| vec![e])?;
        let errs = self.detach_locked(&lock, container_id, links);
        self.held.retain(|(id, _), _| id != container_id);
        if errs.is_empty() {
            Ok(())
        } else {
            Err(errs)
        }
    }

    /// Removes the container from one network (its namespace stays).
    pub fn disconnect(&mut self, container_id: &str, network: &str) -> Result<(), Vec<NetError>> {
        check_name("container id", container_id).map_err(|e| vec![e])?;
        let lock = self.store().lock().map_err(|e| vec![e])?;
        let not_attached = || {
            vec![NetError::NotAttached {
                container: container_id.to_string(),
                network: network.to_string(),
            }]
        };
        let mut rec = self
            .store()
            .container(container_id)
            .map_err(|e| vec![e])?
            .ok_or_else(not_attached)?;
        let ep = rec
            .endpoints
            .iter()
            .find(|e| e.network == network)
            .cloned()
            .ok_or_else(not_attached)?;
        let mut errs = self.teardown_endpoint(&ep);
        self.held
            .remove(&(container_id.to_string(), network.to_string()));
        if errs.is_empty() {
            rec.endpoints.retain(|e| e.network != network);
            if let Err(e) = self.store().save_container(&lock, &rec) {
                errs.push(e);
            }
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(errs)
        }
    }

    pub(crate) fn detach_locked(
        &self,
        lock: &Locked,
        container_id: &str,
        links: Links,
    ) -> Vec<NetError> {
        let mut errs = Vec::new();
        match self.store().container(container_id) {
            Ok(Some(mut rec)) => {
                let mut kept = Vec::new();
                for ep in std::mem::take(&mut rec.endpoints) {
                    let e = match links {
                        Links::Delete => self.teardown_endpoint(&ep),
                        Links::WithNamespace => self.unpublish(&ep),
                    };
                    if !e.is_empty() {
                        errs.extend(e);
                        kept.push(ep);
                    }
                }
                rec.endpoints = kept;
                if let Err(e) = self.store().save_container(lock, &rec) {
                    errs.push(e);
                }
            }
            Ok(None) => {}
            Err(e) => errs.push(e),
        }
        if let Err(e) = sys::remove_netns(&self.store().netns_path(container_id)) {
            errs.push(e);
        }
        errs
    }

    /// Undoes one endpoint's effects: its DNAT entries and its veth pair (deleting the host
    /// end deletes the container end). Both tolerate "already gone".
    pub(crate) fn teardown_endpoint(&self, ep: &EndpointRecord) -> Vec<NetError> {
        let mut errs = self.unpublish(ep);
        if let Err(e) = link::delete_link(&ep.veth_host) {
            errs.push(e);
        }
        errs
    }

    /// Removes one endpoint's DNAT entries.
    fn unpublish(&self, ep: &EndpointRecord) -> Vec<NetError> {
        match self.fw.remove_ports(&ports::rules(&ep.ports, ep.ip)) {
            Ok(()) => Vec::new(),
            Err(e) => vec![e],
        }
    }

    /// Every recorded attachment, all containers and networks.
    pub fn attachments(&self) -> Vec<Attachment> {
        match self.store().containers() {
            Ok(cs) => cs
                .iter()
                .flat_map(|c| c.endpoints.iter().map(move |e| Attachment::new(c, e)))
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read network attachments");
                Vec::new()
            }
        }
    }

    /// The attachments of one container (empty when it has none).
    pub fn container_attachments(&self, container_id: &str) -> Vec<Attachment> {
        match self.store().container(container_id) {
            Ok(Some(c)) => c.endpoints.iter().map(|e| Attachment::new(&c, e)).collect(),
            Ok(None) => Vec::new(),
            Err(e) => {
                tracing::warn!(container_id, error = %e, "cannot read network attachments");
                Vec::new()
            }
        }
    }
}
