//! Parsed documents → what `berth kube play` creates, fully resolved: pod and container names,
//! environment with ConfigMap and Secret values in it, mounts with file contents, published
//! ports including those a Service asks for. The engine glue only executes it.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::KubeError;
use crate::model::{
    ConfigMap, Document, Pod, Probe, Protocol, RestartPolicy, Secret, Security, Service,
    TargetPort, VolumeSource,
};
use crate::resolve::{container_env, container_mounts, expand, Sources};

/// Everything a YAML stream asks berth to create.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PlayPlan {
    /// Named volumes to create when missing: PersistentVolumeClaims and the claims pods use.
    pub volumes: Vec<String>,
    pub pods: Vec<PodPlan>,
    /// What berth does differently from a cluster, for the user to read.
    pub warnings: Vec<String>,
}

/// One pod to create.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PodPlan {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub restart_policy: RestartPolicy,
    pub hostname: Option<String>,
    /// The pod's published ports (containers share its network namespace).
    pub publish: Vec<Publish>,
    /// Scratch volumes (`emptyDir`) that live and die with the pod, shared by its containers.
    pub scratch: Vec<ScratchVolume>,
    pub containers: Vec<ContainerPlan>,
}

/// A host port published to a port of the pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    pub host_ip: Option<String>,
    pub host_port: u16,
    pub container_port: u16,
    pub protocol: Protocol,
}

/// An `emptyDir`: a volume named `<pod>-<volume>` that the pod's containers share and that is
/// removed with the pod; `memory` for `medium: Memory` (tmpfs-backed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScratchVolume {
    pub name: String,
    pub memory: bool,
}

/// One container to create in a pod.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ContainerPlan {
    /// `<pod>-<container>`, as podman names them.
    pub name: String,
    pub image: String,
    /// `command` and `args`, with `$(VAR)` references to the environment expanded.
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub workdir: Option<String>,
    /// Resolved: envFrom sources first (prefixed, in order), then `env`; a later definition of
    /// a name replaces the value and keeps the first one's position.
    pub env: Vec<(String, String)>,
    pub mounts: Vec<MountPlan>,
    pub memory: Option<i64>,
    pub cpus: Option<f64>,
    pub security: Security,
    pub liveness: Option<Probe>,
    pub tty: bool,
    pub stdin: bool,
    /// `uid` or `uid:gid`, from runAsUser/runAsGroup.
    pub user: Option<String>,
}

/// A mount of a container, with its source resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum MountPlan {
    /// A named volume (a claim, or a pod's scratch volume), optionally a subdirectory of it.
    Volume {
        name: String,
        destination: String,
        read_only: bool,
        sub_path: Option<String>,
    },
    /// A host path; `kind` is the hostPath `type` (`DirectoryOrCreate` asks to create it).
    Bind {
        host_path: String,
        destination: String,
        read_only: bool,
        kind: Option<String>,
    },
    /// A directory of files (a ConfigMap or Secret volume): relative path → content.
    Files {
        destination: String,
        files: BTreeMap<String, Vec<u8>>,
        read_only: bool,
    },
    /// One file of a ConfigMap or Secret, mounted through `subPath`.
    File {
        destination: String,
        content: Vec<u8>,
        read_only: bool,
    },
}

/// What `berth kube play` creates for `docs`. Errors: a ConfigMap or Secret (or key of one)
/// that is needed but neither there nor `optional`, two objects of one name, two pods
/// publishing one host port.
pub fn plan(docs: Vec<Document>) -> Result<PlayPlan, KubeError> {
    let mut sources = Sources::default();
    let mut services = Vec::new();
    let mut workloads = Vec::new();
    let mut out = PlayPlan::default();
    for doc in docs {
        match doc {
            Document::ConfigMap(map) => insert_unique(&mut sources.maps, map, "configmap")?,
            Document::Secret(secret) => insert_unique(&mut sources.secrets, secret, "secret")?,
            Document::Claim(claim) => push_unique(&mut out.volumes, claim.name),
            Document::Service(service) => services.push(service),
            Document::Pod(pod) => workloads.push((pod.name.clone(), 1, pod, false)),
            Document::Deployment(d) => workloads.push((d.name, d.replicas, d.template, true)),
        }
    }
    // The templates the pods were made from, to resolve a Service's named targetPort.
    let mut templates: Vec<&Pod> = Vec::new();
    for (name, replicas, pod, is_deployment) in &workloads {
        for volume in &pod.volumes {
            if let VolumeSource::Claim { claim_name, .. } = &volume.source {
                push_unique(&mut out.volumes, claim_name.clone());
            }
        }
        if !is_deployment {
            out.pods
                .push(pod_plan(&sources, pod, name, true, &mut out.warnings)?);
            templates.push(pod);
            continue;
        }
        if *replicas == 0 {
            out.warnings
                .push(format!("deployment {name} has 0 replicas: no pod"));
        }
        for replica in 0..*replicas {
            let pod_name = match replicas {
                1 => format!("{name}-pod"),
                _ => format!("{name}-pod-{replica}"),
            };
            let plan = pod_plan(&sources, pod, &pod_name, replica == 0, &mut out.warnings)?;
            out.pods.push(plan);
            templates.push(pod);
        }
        let host_ports = host_ports(pod);
        if *replicas > 1 && !host_ports.is_empty() {
            out.warnings.push(format!(
                "deployment {name}: only {name}-pod-0 publishes host ports {host_ports} \
                 (a host port binds once per host)"
            ));
        }
    }
    check_unique_pods(&out.pods)?;
    for service in &services {
        publish_service(service, &mut out, &templates);
    }
    check_port_conflicts(&out.pods)?;
    Ok(out)
}

fn insert_unique<T: Named>(
    map: &mut BTreeMap<String, T>,
    item: T,
    what: &'static str,
) -> Result<(), KubeError> {
    let name = item.name().to_string();
    if map.insert(name.clone(), item).is_some() {
        return Err(KubeError::Duplicate { what, name });
    }
    Ok(())
}

trait Named {
    fn name(&self) -> &str;
}

impl Named for ConfigMap {
    fn name(&self) -> &str {
        &self.name
    }
}

impl Named for Secret {
    fn name(&self) -> &str {
        &self.name
    }
}

fn push_unique(list: &mut Vec<String>, name: String) {
    if !list.contains(&name) {
        list.push(name);
    }
}

/// The host ports of a pod's containers, as `8080, 8443/udp`, for a warning.
fn host_ports(pod: &Pod) -> String {
    let ports: Vec<String> = pod
        .containers
        .iter()
        .flat_map(|c| &c.ports)
        .filter_map(|p| {
            let host = p.host_port?;
            Some(match p.protocol {
                Protocol::Tcp => host.to_string(),
                other => format!("{host}/{}", other.as_str().to_ascii_lowercase()),
            })
        })
        .collect();
    ports.join(", ")
}

fn pod_plan(
    sources: &Sources,
    pod: &Pod,
    name: &str,
    keep_host_ports: bool,
    warnings: &mut Vec<String>,
) -> Result<PodPlan, KubeError> {
    let mut plan = PodPlan {
        name: name.to_string(),
        labels: pod.labels.clone(),
        restart_policy: pod.restart_policy,
        hostname: pod.hostname.clone(),
        ..PodPlan::default()
    };
    for volume in &pod.volumes {
        if let VolumeSource::EmptyDir { memory } = volume.source {
            plan.scratch.push(ScratchVolume {
                name: format!("{name}-{}", volume.name),
                memory,
            });
        }
    }
    for c in &pod.containers {
        let owner = format!("pod {name} container {}", c.name);
        if keep_host_ports {
            for port in &c.ports {
                if let Some(host_port) = port.host_port {
                    add_publish(&mut plan, name, host_port, port)?;
                }
            }
        }
        let user = match (c.security.run_as_user, c.security.run_as_group) {
            (Some(uid), Some(gid)) => Some(format!("{uid}:{gid}")),
            (Some(uid), None) => Some(uid.to_string()),
            (None, Some(_)) => {
                warnings.push(format!(
                    "{owner}: runAsGroup without runAsUser is not applied (docker's --user \
                     needs a uid)"
                ));
                None
            }
            (None, None) => None,
        };
        let env = container_env(sources, pod, name, c, &owner, warnings)?;
        let expand_all = |argv: &Vec<String>| -> Vec<String> {
            argv.iter().map(|arg| expand(arg, &env)).collect()
        };
        plan.containers.push(ContainerPlan {
            name: format!("{name}-{}", c.name),
            image: c.image.clone(),
            entrypoint: c.command.as_ref().map(expand_all),
            cmd: c.args.as_ref().map(expand_all),
            workdir: c.working_dir.clone(),
            env,
            mounts: container_mounts(sources, pod, name, c, &owner)?,
            memory: c.memory_limit,
            cpus: c.cpu_limit,
            security: c.security.clone(),
            liveness: c.liveness.clone(),
            tty: c.tty,
            stdin: c.stdin,
            user,
        });
    }
    Ok(plan)
}

/// Publishes a container's hostPort on the pod; the same mapping twice is kept once, the same
/// host port to two container ports is an error.
fn add_publish(
    plan: &mut PodPlan,
    pod: &str,
    host_port: u16,
    port: &crate::model::ContainerPort,
) -> Result<(), KubeError> {
    let publish = Publish {
        host_ip: port.host_ip.clone(),
        host_port,
        container_port: port.container_port,
        protocol: port.protocol,
    };
    if let Some(existing) = plan
        .publish
        .iter()
        .find(|p| p.host_port == host_port && p.protocol == port.protocol)
    {
        if *existing == publish {
            return Ok(());
        }
        return Err(KubeError::invalid_pod(
            pod,
            format!(
                "host port {host_port}/{} is published to container ports {} and {}",
                port.protocol.as_str(),
                existing.container_port,
                port.container_port
            ),
        ));
    }
    plan.publish.push(publish);
    Ok(())
}

fn check_unique_pods(pods: &[PodPlan]) -> Result<(), KubeError> {
    let mut seen = BTreeSet::new();
    for pod in pods {
        if !seen.insert(pod.name.as_str()) {
            return Err(KubeError::Duplicate {
                what: "pod",
                name: pod.name.clone(),
            });
        }
    }
    Ok(())
}

/// A Service's ports, published on the first pod its selector matches: berth has no cluster
/// IP nor load balancer, so the service's port is a host port, which binds once.
fn publish_service(service: &Service, out: &mut PlayPlan, templates: &[&Pod]) {
    let name = &service.name;
    if service.selector.is_empty() {
        out.warnings
            .push(format!("service {name} has no selector: nothing published"));
        return;
    }
    let matching: Vec<usize> = out
        .pods
        .iter()
        .enumerate()
        .filter(|(_, pod)| {
            service
                .selector
                .iter()
                .all(|(k, v)| pod.labels.get(k) == Some(v))
        })
        .map(|(i, _)| i)
        .collect();
    let Some(&first) = matching.first() else {
        out.warnings
            .push(format!("service {name} selects no pod: nothing published"));
        return;
    };
    if matching.len() > 1 {
        let others: Vec<&str> = matching[1..]
            .iter()
            .map(|&i| out.pods[i].name.as_str())
            .collect();
        out.warnings.push(format!(
            "service {name}: published on pod {} only, not on {} (a host port binds once)",
            out.pods[first].name,
            others.join(", ")
        ));
    }
    let pod = &mut out.pods[first];
    for port in &service.ports {
        let Some(container_port) = target_port(&port.target_port, templates[first]) else {
            out.warnings.push(format!(
                "service {name}: pod {} has no port named {}: port {} not published",
                pod.name,
                describe(&port.target_port),
                port.port
            ));
            continue;
        };
        let host_port = port.node_port.unwrap_or(port.port);
        let already = pod
            .publish
            .iter()
            .any(|p| p.host_port == host_port && p.protocol == port.protocol);
        if !already {
            pod.publish.push(Publish {
                host_ip: None,
                host_port,
                container_port,
                protocol: port.protocol,
            });
        }
    }
}

/// The container port a Service's `targetPort` means in a pod made from `template`.
fn target_port(target: &TargetPort, template: &Pod) -> Option<u16> {
    match target {
        TargetPort::Number(n) => Some(*n),
        TargetPort::Name(name) => template
            .containers
            .iter()
            .flat_map(|c| &c.ports)
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .map(|p| p.container_port),
    }
}

fn describe(target: &TargetPort) -> String {
    match target {
        TargetPort::Number(n) => n.to_string(),
        TargetPort::Name(name) => name.clone(),
    }
}

/// Two pods cannot bind one host port; say which before anything is created.
fn check_port_conflicts(pods: &[PodPlan]) -> Result<(), KubeError> {
    let mut owners: BTreeMap<(u16, Protocol), &str> = BTreeMap::new();
    for pod in pods {
        for publish in &pod.publish {
            let key = (publish.host_port, publish.protocol);
            if let Some(first) = owners.insert(key, &pod.name) {
                if first != pod.name {
                    return Err(KubeError::PortConflict {
                        port: publish.host_port,
                        protocol: publish.protocol.as_str(),
                        first: first.to_string(),
                        second: pod.name.clone(),
                    });
                }
            }
        }
    }
    Ok(())
}
