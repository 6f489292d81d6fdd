//! Pods: containers that share a network namespace (they talk over localhost, and the
//! published ports are the pod's), an IPC namespace and a hostname, as Kubernetes' and
//! podman's pods do.
//!
//! A pod is a row of its own (name, labels, what it shares) and an *infra container*: a
//! container of berth's pause image (`pause.rs`, built from our own code, no registry), whose
//! process does nothing but hold the namespaces. It carries the pod's network attachment and
//! published ports, so everything containers already do — the monitor, network set-up and
//! teardown, cgroups, stop and kill, events, restart after a crash of the monitor — serves the
//! pod too. A member container joins the infra's namespaces (`--network container:` for the
//! network, `/proc/PID/ns/{ipc,uts}` for the rest) and names its pod in its config, so a
//! pod's members are always what the containers say, never a list that could go stale.
//!
//! Start order: infra first (a member's start starts it when it is down), stop order: members
//! first. If the infra process dies (killed), the pod is `Degraded`: its members keep their
//! namespaces (the kernel holds them while anyone is inside) but a new member cannot join
//! until the pod is restarted; `pod rm -f` removes everything.

pub mod kube;
mod pause;

use std::collections::BTreeMap;
use std::path::PathBuf;

use berth_store::{ContainerRecord, ContainerState, PodRecord};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::container::{names, now_nanos, ContainerConfig, CreateOptions, NetworkMode, StartMode};
use crate::events::Action;
use crate::{Engine, EngineError};

/// The namespaces a pod's containers can share.
pub const SHAREABLE: [&str; 3] = ["ipc", "net", "uts"];

/// What `pod create` was asked for.
#[derive(Debug, Clone, Default)]
pub struct PodOptions {
    pub name: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// Published ports (`-p`): the pod's, on its infra container.
    pub ports: Vec<berth_net::PortMapping>,
    /// The network the pod is on (the default bridge when `None`).
    pub network: Option<NetworkMode>,
    /// `--share`: a subset of [`SHAREABLE`]; `net` always. `None`: all of them.
    pub share: Option<Vec<String>>,
    /// The pod's hostname (its name when `None`).
    pub hostname: Option<String>,
    pub dns: Vec<std::net::IpAddr>,
    /// `--add-host NAME:IP` lines, as `run` takes them.
    pub extra_hosts: Vec<(String, String)>,
}

/// What the engine keeps about a pod (the `config` column, JSON).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PodConfig {
    pub labels: BTreeMap<String, String>,
    pub hostname: String,
    pub share: Vec<String>,
    pub infra_id: String,
}

impl PodConfig {
    fn shares(&self, ns: &str) -> bool {
        self.share.iter().any(|s| s == ns)
    }
}

/// A pod's state, derived from its containers' (podman's words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodStatus {
    /// Nothing started yet.
    Created,
    /// Every container runs.
    Running,
    /// Some run, some do not (a member exited, or the infra process was killed).
    Degraded,
    /// Every container is paused.
    Paused,
    /// Nothing runs.
    Exited,
}

impl PodStatus {
    fn of(containers: &[ContainerRecord]) -> Self {
        use ContainerState as S;
        let count = |f: &dyn Fn(&S) -> bool| containers.iter().filter(|c| f(&c.state)).count();
        let running = count(&|s| matches!(s, S::Running | S::Restarting));
        let paused = count(&|s| *s == S::Paused);
        let created = count(&|s| *s == S::Created);
        let n = containers.len();
        if n > 0 && paused == n {
            Self::Paused
        } else if n > 0 && running + paused == n {
            Self::Running
        } else if running + paused > 0 {
            Self::Degraded
        } else if created == n {
            Self::Created
        } else {
            Self::Exited
        }
    }
}

impl std::fmt::Display for PodStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Created => "Created",
            Self::Running => "Running",
            Self::Degraded => "Degraded",
            Self::Paused => "Paused",
            Self::Exited => "Exited",
        })
    }
}

/// A pod and its containers (the infra container first).
#[derive(Debug, Clone)]
pub struct Pod {
    pub record: PodRecord,
    pub config: PodConfig,
    pub containers: Vec<ContainerRecord>,
}

impl Pod {
    pub fn status(&self) -> PodStatus {
        PodStatus::of(&self.containers)
    }

    pub fn infra(&self) -> Option<&ContainerRecord> {
        self.containers
            .iter()
            .find(|c| c.id == self.config.infra_id)
    }

    /// The containers other than the infra.
    pub fn members(&self) -> impl Iterator<Item = &ContainerRecord> {
        self.containers
            .iter()
            .filter(|c| c.id != self.config.infra_id)
    }
}

/// The namespaces a member joins and the hostname it has (see `bundle.rs`).
#[derive(Debug, Default)]
pub(crate) struct PodNamespaces {
    pub ipc: Option<PathBuf>,
    pub uts: Option<PathBuf>,
    pub hostname: Option<String>,
}

fn config_of(rec: &PodRecord) -> Result<PodConfig, EngineError> {
    serde_json::from_str(&rec.config).map_err(|e| {
        EngineError::bad_input(format!("pod {}", rec.name), format!("stored config: {e}"))
    })
}

impl Engine {
    /// Creates a pod and its infra container (nothing runs yet); returns the pod's ID.
    pub fn create_pod(&self, opts: PodOptions) -> Result<String, EngineError> {
        let share = match &opts.share {
            None => SHAREABLE.iter().map(|s| s.to_string()).collect(),
            Some(list) => parse_share(list)?,
        };
        if let Some(n) = &opts.name {
            if !names::valid(n) {
                return Err(EngineError::InvalidArgument(format!(
                    "invalid pod name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                )));
            }
        }
        let pause = self.pause_image()?;
        let mut id_bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut id_bytes);
        let id = hex::encode(id_bytes);
        let mut rec = PodRecord {
            id: id.clone(),
            name: String::new(),
            created_at: now_nanos(),
            config: String::new(),
        };
        let mut config = PodConfig {
            labels: opts.labels.clone(),
            hostname: String::new(),
            share,
            infra_id: String::new(),
        };
        self.store.meta.write(|tx| {
            rec.name = match &opts.name {
                Some(n) => {
                    if let Some(other) = tx.pod_by_name(n)? {
                        return Err(EngineError::Conflict(format!(
                            "the pod name \"{n}\" is already in use by pod {}; remove it (pod rm) to reuse the name",
                            &other.id[..12]
                        )));
                    }
                    n.clone()
                }
                None => {
                    let mut retry = 0;
                    loop {
                        let n = names::generate(retry);
                        if tx.pod_by_name(&n)?.is_none() {
                            break n;
                        }
                        retry += 1;
                    }
                }
            };
            config.hostname = opts.hostname.clone().unwrap_or_else(|| rec.name.clone());
            rec.config = to_json(&config)?;
            tx.insert_pod(&rec)?;
            Ok::<_, EngineError>(())
        })?;
        let infra = self.create_container_in(
            CreateOptions {
                name: Some(format!("{}-infra", &id[..12])),
                image: pause,
                spec: berth_runtime::spec::ContainerSpec {
                    hostname: Some(config.hostname.clone()),
                    extra_hosts: opts.extra_hosts.clone(),
                    labels: opts.labels.clone(),
                    ..Default::default()
                },
                network: opts.network.clone().unwrap_or_default(),
                ports: opts.ports.clone(),
                dns: opts.dns.clone(),
                ..Default::default()
            },
            Some(id.clone()),
            true,
        );
        let infra = match infra {
            Ok(i) => i,
            Err(e) => {
                let _ = self.store.meta.write(|tx| tx.delete_pod(&id));
                return Err(e);
            }
        };
        config.infra_id = infra.clone();
        rec.config = to_json(&config)?;
        if !self.store.meta.write(|tx| tx.update_pod(&rec))? {
            // A `pod rm` or `prune` took the pod while its infra was being made.
            let _ = self.remove_container_of_pod(&infra, true, false);
            return Err(EngineError::PodNotFound(rec.name));
        }
        self.emit_pod(Action::Create, &id, &rec.name);
        Ok(id)
    }

    /// The pod named `name` (name, full ID or unique ID prefix) with its containers.
    pub fn pod(&self, name: &str) -> Result<Pod, EngineError> {
        let rec = self.resolve_pod(name)?;
        self.pod_of(rec)
    }

    fn resolve_pod(&self, name: &str) -> Result<PodRecord, EngineError> {
        let not_found = || EngineError::PodNotFound(name.to_string());
        if name.is_empty() {
            return Err(not_found());
        }
        self.store.meta.read_as(|tx| {
            if let Some(p) = tx.pod(name)? {
                return Ok(p);
            }
            if let Some(p) = tx.pod_by_name(name)? {
                return Ok(p);
            }
            if name.bytes().all(|b| b.is_ascii_hexdigit()) {
                match tx.pods_by_prefix(&name.to_ascii_lowercase())?.as_slice() {
                    [one] => return tx.pod(one)?.ok_or_else(not_found),
                    [] => {}
                    _ => {
                        return Err(EngineError::InvalidArgument(format!(
                            "multiple pods match the ID prefix {name}: type more of the ID"
                        )))
                    }
                }
            }
            Err(not_found())
        })
    }

    fn pod_of(&self, record: PodRecord) -> Result<Pod, EngineError> {
        let config = config_of(&record)?;
        let mut containers: Vec<ContainerRecord> = Vec::new();
        for c in self.store.meta.read(|tx| tx.containers())? {
            if pod_of_record(&c).as_deref() == Some(record.id.as_str()) {
                containers.push(self.reconcile_one(c)?);
            }
        }
        // The infra first, then the members oldest first (the order they were added).
        containers.sort_by_key(|c| (c.id != config.infra_id, c.created_at));
        Ok(Pod {
            record,
            config,
            containers,
        })
    }

    /// Every pod, newest first.
    pub fn pods(&self) -> Result<Vec<Pod>, EngineError> {
        let records = self.store.meta.read(|tx| tx.pods())?;
        records.into_iter().map(|r| self.pod_of(r)).collect()
    }

    /// Makes `opts` (a `run --pod` / `create --pod`) a member of pod `name`: its network is
    /// the pod's, and what only the pod may set is refused. Returns the pod's ID.
    pub(crate) fn join_pod(
        &self,
        opts: &mut CreateOptions,
        name: &str,
    ) -> Result<String, EngineError> {
        let rec = self.resolve_pod(name)?;
        let config = config_of(&rec)?;
        if !opts.ports.is_empty() || opts.publish_all {
            return Err(EngineError::InvalidArgument(format!(
                "published ports of pod {} are set when it is created (pod create -p …): its containers share its network",
                rec.name
            )));
        }
        if opts.network != NetworkMode::default() {
            return Err(EngineError::InvalidArgument(format!(
                "a container of pod {} is on the pod's network: leave out --network",
                rec.name
            )));
        }
        if config.shares("uts") && opts.spec.hostname.is_some() {
            return Err(EngineError::InvalidArgument(format!(
                "a container of pod {} has the pod's hostname ({}): leave out --hostname",
                rec.name, config.hostname
            )));
        }
        opts.network = NetworkMode::Container(config.infra_id.clone());
        Ok(rec.id)
    }

    /// The IPC and UTS namespaces a container of a pod joins (its infra's), and its
    /// hostname; nothing for a container outside a pod, or the infra itself.
    pub(crate) fn pod_namespaces(
        &self,
        config: &ContainerConfig,
    ) -> Result<PodNamespaces, EngineError> {
        let Some(pod_id) = config.pod.as_deref().filter(|_| !config.infra) else {
            return Ok(PodNamespaces::default());
        };
        let rec = self
            .store
            .meta
            .read(|tx| tx.pod(pod_id))?
            .ok_or_else(|| EngineError::PodNotFound(pod_id.to_string()))?;
        let pod = config_of(&rec)?;
        let infra = self.reconciled(&pod.infra_id)?;
        if infra.state != ContainerState::Running {
            return Err(EngineError::Conflict(format!(
                "the infra container of pod {} is not running: restart the pod (pod restart {0})",
                rec.name
            )));
        }
        let ns = |name: &str| {
            pod.shares(name)
                .then(|| PathBuf::from(format!("/proc/{}/ns/{name}", infra.pid)))
        };
        Ok(PodNamespaces {
            ipc: ns("ipc"),
            uts: ns("uts"),
            hostname: pod.shares("uts").then(|| pod.hostname.clone()),
        })
    }

    /// Starts the infra container of pod `pod_id` unless it runs (a member's start needs it).
    pub(crate) fn ensure_pod_infra(&self, pod_id: &str) -> Result<(), EngineError> {
        let rec = self
            .store
            .meta
            .read(|tx| tx.pod(pod_id))?
            .ok_or_else(|| EngineError::PodNotFound(pod_id.to_string()))?;
        let config = config_of(&rec)?;
        let infra = self.reconciled(&config.infra_id)?;
        if !infra.state.is_active() {
            self.start_container(&infra.id, StartMode::Detached)?;
        }
        Ok(())
    }

    /// Starts the pod: its infra, then every member that is not running. Returns the pod's
    /// ID; the first member that fails to start fails the call (the others stay started).
    pub fn start_pod(&self, name: &str) -> Result<String, EngineError> {
        let pod = self.pod(name)?;
        self.ensure_pod_infra(&pod.record.id)?;
        for c in pod.members() {
            if !c.state.is_active() {
                self.start_container(&c.id, StartMode::Detached)?;
            }
        }
        self.emit_pod(Action::Start, &pod.record.id, &pod.record.name);
        Ok(pod.record.id)
    }

    /// Stops the members (each as `stop` does), then the infra.
    pub fn stop_pod(&self, name: &str, timeout: Option<u32>) -> Result<String, EngineError> {
        let pod = self.pod(name)?;
        self.each_member_then_infra(&pod, |id| self.stop_container(id, timeout).map(drop))?;
        self.emit_pod(Action::Stop, &pod.record.id, &pod.record.name);
        Ok(pod.record.id)
    }

    /// Stops and starts the pod.
    pub fn restart_pod(&self, name: &str, timeout: Option<u32>) -> Result<String, EngineError> {
        let id = self.stop_pod(name, timeout)?;
        self.start_pod(&id)
    }

    /// Sends `signal` to every running container of the pod, the infra last.
    pub fn kill_pod(&self, name: &str, signal: &str) -> Result<String, EngineError> {
        crate::container::signal_number(signal)?;
        let pod = self.pod(name)?;
        let mut killed = 0;
        self.each_member_then_infra(&pod, |id| {
            let rec = self.reconciled(id)?;
            if rec.state.is_active() {
                self.kill_container(id, signal)?;
                killed += 1;
            }
            Ok(())
        })?;
        if killed == 0 {
            return Err(EngineError::Conflict(format!(
                "pod {} has no running container to kill",
                pod.record.name
            )));
        }
        self.emit_pod(Action::Kill, &pod.record.id, &pod.record.name);
        Ok(pod.record.id)
    }

    /// Freezes (`pause`) or thaws every running container of the pod.
    pub fn pause_pod(&self, name: &str, pause: bool) -> Result<String, EngineError> {
        let pod = self.pod(name)?;
        let wanted = if pause {
            ContainerState::Running
        } else {
            ContainerState::Paused
        };
        self.each_member_then_infra(&pod, |id| {
            if self.reconciled(id)?.state == wanted {
                self.pause_container(id, pause)?;
            }
            Ok(())
        })?;
        let action = if pause {
            Action::Pause
        } else {
            Action::Unpause
        };
        self.emit_pod(action, &pod.record.id, &pod.record.name);
        Ok(pod.record.id)
    }

    /// Removes the pod, its members and its infra. A pod with a running container is
    /// refused unless `force` (which kills them).
    pub fn remove_pod(&self, name: &str, force: bool) -> Result<String, EngineError> {
        let pod = self.pod(name)?;
        if !force {
            if let Some(c) = pod.members().find(|c| c.state.is_active()) {
                return Err(EngineError::Conflict(format!(
                    "pod {} has a running container ({}): stop the pod first or force removal (pod rm -f)",
                    pod.record.name, c.name
                )));
            }
        }
        self.each_member_then_infra(&pod, |id| {
            match self.remove_container_of_pod(id, true, false) {
                Err(e) if e.is_not_found() => Ok(()),
                other => other.map(drop),
            }
        })?;
        self.store.meta.write(|tx| tx.delete_pod(&pod.record.id))?;
        // Files `kube play` wrote for its ConfigMap and Secret volumes.
        let dir = self.pod_dir(&pod.record.id);
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(pod = %pod.record.name, error = %e, "remove {}", dir.display());
            }
        }
        self.emit_pod(Action::Remove, &pod.record.id, &pod.record.name);
        Ok(pod.record.id)
    }

    /// Removes every pod with no running container; returns their IDs.
    pub fn prune_pods(&self) -> Result<Vec<String>, EngineError> {
        let mut removed = Vec::new();
        for pod in self.pods()? {
            // (a pod without its infra yet is being created)
            if !pod.config.infra_id.is_empty()
                && !pod.containers.iter().any(|c| c.state.is_active())
            {
                removed.push(self.remove_pod(&pod.record.id, false)?);
            }
        }
        Ok(removed)
    }

    /// Runs `f` on each member's ID, then the infra's; every one is tried, the first error
    /// is returned.
    fn each_member_then_infra(
        &self,
        pod: &Pod,
        mut f: impl FnMut(&str) -> Result<(), EngineError>,
    ) -> Result<(), EngineError> {
        let mut first = None;
        let ids = pod
            .members()
            .map(|c| c.id.as_str())
            .chain(pod.infra().map(|c| c.id.as_str()));
        for id in ids {
            if let Err(e) = f(id) {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

/// The pod a container record belongs to (a cheap look at the JSON first: few do).
pub(crate) fn pod_of_record(c: &ContainerRecord) -> Option<String> {
    if !c.config.contains("\"pod\"") {
        return None;
    }
    serde_json::from_str::<ContainerConfig>(&c.config)
        .ok()
        .and_then(|cfg| cfg.pod)
}

fn parse_share(list: &[String]) -> Result<Vec<String>, EngineError> {
    let mut out: Vec<String> = vec!["net".into()];
    for item in list.iter().flat_map(|s| s.split(',')).map(str::trim) {
        match item {
            "" | "none" => {}
            s if SHAREABLE.contains(&s) => {
                if !out.iter().any(|o| o == s) {
                    out.push(s.to_string());
                }
            }
            other => {
                return Err(EngineError::InvalidArgument(format!(
                "cannot share the {other:?} namespace in a pod: berth's pods share {} (net always)",
                SHAREABLE.join(", ")
            )))
            }
        }
    }
    out.sort();
    Ok(out)
}

fn to_json(config: &PodConfig) -> Result<String, EngineError> {
    serde_json::to_string(config).map_err(|e| EngineError::bad_input("pod config", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(state: ContainerState) -> ContainerRecord {
        ContainerRecord {
            state,
            ..Default::default()
        }
    }

    #[test]
    fn the_pods_status_follows_its_containers() {
        use ContainerState as S;
        let of = |states: &[S]| {
            PodStatus::of(&states.iter().map(|s| rec(*s)).collect::<Vec<_>>()).to_string()
        };
        assert_eq!(of(&[S::Created, S::Created]), "Created");
        assert_eq!(of(&[S::Running, S::Running]), "Running");
        assert_eq!(of(&[S::Running, S::Exited]), "Degraded");
        assert_eq!(of(&[S::Exited, S::Running]), "Degraded");
        assert_eq!(of(&[S::Paused, S::Paused]), "Paused");
        assert_eq!(of(&[S::Running, S::Paused]), "Running");
        assert_eq!(of(&[S::Exited, S::Created]), "Exited");
    }

    #[test]
    fn share_lists_always_hold_net_and_refuse_the_rest() {
        let s = |v: &[&str]| parse_share(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(s(&["ipc"]).unwrap(), vec!["ipc", "net"]);
        assert_eq!(s(&["uts,ipc,net"]).unwrap(), vec!["ipc", "net", "uts"]);
        assert_eq!(s(&["none"]).unwrap(), vec!["net"]);
        let e = s(&["pid"]).unwrap_err().to_string();
        assert!(e.contains("\"pid\"") && e.contains("ipc, net, uts"), "{e}");
    }
}
