//! `kube generate` and `kube play`: the engine's side of [`berth_kube`], which converts
//! between its model and YAML. Here containers and pods become that model, and a play plan
//! becomes volumes, pods and containers.
//!
//! What `play` makes carries the label [`PLAYED`], so `play --down` removes what a file made
//! and nothing else (a volume that existed before is left alone, and so is a pod of the same
//! name made by hand: `--replace` is needed to take its place).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use berth_kube as k;
use berth_kube::{ContainerPlan, MountPlan, PlayPlan, PodPlan};
use berth_runtime::spec::{ContainerSpec, MountKind, MountSpec};
use berth_store::ContainerRecord;

use super::PodOptions;
use crate::container::health::HealthConfig;
use crate::container::names;
use crate::container::{ContainerConfig, CreateOptions, RestartPolicy};
use crate::{Engine, EngineError};

/// The label on what `kube play` made.
pub const PLAYED: &str = "io.berth.kube.play";

/// `kube play` options.
#[derive(Debug, Clone, Copy)]
pub struct PlayOptions {
    /// Start the pods once created (`--start`, the default).
    pub start: bool,
    /// Remove pods of the same names first (`--replace`).
    pub replace: bool,
}

/// What a play created.
#[derive(Debug, Clone, Default)]
pub struct Played {
    /// Pods: (name, ID).
    pub pods: Vec<(String, String)>,
    /// Volumes it created (not those that were there).
    pub volumes: Vec<String>,
}

/// What `--down` removed.
#[derive(Debug, Clone, Default)]
pub struct Downed {
    pub pods: Vec<String>,
    pub volumes: Vec<String>,
}

impl Engine {
    /// The pods and containers `names` name, as [`berth_kube`]'s pods: a pod with its
    /// members (its published ports on the member listening on the port, else the first),
    /// a container outside a pod as a pod of its own named `<container>-pod`.
    pub fn kube_pods(&self, names: &[String]) -> Result<Vec<k::Pod>, EngineError> {
        let mut out = Vec::new();
        for name in names {
            match self.pod(name) {
                Ok(pod) => out.push(self.kube_pod_of_pod(&pod)?),
                Err(e) if e.is_not_found() => {
                    let rec = self.resolve_container(name)?;
                    let config = ContainerConfig::from_record(&rec)?;
                    if config.pod.is_some() {
                        return Err(EngineError::InvalidArgument(format!(
                            "container {} belongs to a pod: generate its pod instead",
                            rec.name
                        )));
                    }
                    let (mut c, volumes) = self.kube_container(&rec, &config)?;
                    c.ports = kube_ports(&config.ports);
                    out.push(k::Pod {
                        name: format!("{}-pod", rec.name),
                        labels: config.spec.labels.clone(),
                        restart_policy: restart_policy(&config.restart),
                        volumes,
                        containers: vec![c],
                        hostname: config.spec.hostname.clone(),
                    });
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    fn kube_pod_of_pod(&self, pod: &super::Pod) -> Result<k::Pod, EngineError> {
        let mut containers = Vec::new();
        let mut volumes = Vec::new();
        let mut restart = k::RestartPolicy::Never;
        let mut images_ports: Vec<Vec<u16>> = Vec::new();
        for rec in pod.members() {
            let config = ContainerConfig::from_record(rec)?;
            restart = restart_policy(&config.restart);
            let (mut c, v) = self.kube_container(rec, &config)?;
            // `kube play` names a pod's containers `<pod>-<name>`: the YAML says `<name>`,
            // so that generate after play gives the file back.
            if let Some(bare) = c
                .name
                .strip_prefix(&format!("{}-", pod.record.name))
                .filter(|b| !b.is_empty())
            {
                c.name = bare.to_string();
            }
            containers.push(c);
            merge_volumes(&mut volumes, v);
            let exposed = self
                .resolve_image(&rec.image_id)
                .and_then(|id| self.image_runtime_config(&id))
                .map(|c| {
                    c.exposed_ports
                        .iter()
                        .flat_map(|m| m.keys())
                        .filter_map(|p| p.split('/').next()?.parse().ok())
                        .collect()
                })
                .unwrap_or_default();
            images_ports.push(exposed);
        }
        if containers.is_empty() {
            return Err(EngineError::InvalidArgument(format!(
                "pod {} has no container to describe",
                pod.record.name
            )));
        }
        // The pod's ports, each on the member whose image exposes it, else on the first.
        if let Some(infra) = pod.infra() {
            let config = ContainerConfig::from_record(infra)?;
            for port in kube_ports(&config.ports) {
                let i = images_ports
                    .iter()
                    .position(|ports| ports.contains(&port.container_port))
                    .unwrap_or(0);
                containers[i].ports.push(port);
            }
        }
        let hostname =
            Some(pod.config.hostname.clone()).filter(|h| *h != pod.record.name && !h.is_empty());
        Ok(k::Pod {
            name: pod.record.name.clone(),
            labels: pod.config.labels.clone(),
            restart_policy: restart,
            hostname,
            volumes,
            containers,
        })
    }

    /// One container as Kubernetes describes it (without ports: the caller knows whose),
    /// and the pod volumes its mounts name.
    fn kube_container(
        &self,
        rec: &ContainerRecord,
        config: &ContainerConfig,
    ) -> Result<(k::Container, Vec<k::Volume>), EngineError> {
        let s = &config.spec;
        let mut mounts = Vec::new();
        let mut volumes = Vec::new();
        for (i, m) in s.mounts.iter().enumerate() {
            let volume = self.kube_volume(&rec.name, i, m);
            mounts.push(k::VolumeMount {
                name: volume.name.clone(),
                mount_path: m.destination.clone(),
                read_only: m.read_only,
                sub_path: None,
            });
            volumes.push(volume);
        }
        let (run_as_user, run_as_group) = match s.user.as_deref().map(|u| u.split_once(':')) {
            Some(Some((u, g))) => (u.parse().ok(), g.parse().ok()),
            Some(None) => (s.user.as_deref().and_then(|u| u.parse().ok()), None),
            None => (None, None),
        };
        let container = k::Container {
            name: rec.name.clone(),
            image: rec.image_name.clone(),
            command: s.entrypoint.clone().filter(|e| !e.is_empty()),
            args: Some(s.cmd.clone()).filter(|c| !c.is_empty()),
            working_dir: s.workdir.clone(),
            env: s
                .env
                .iter()
                .filter_map(|e| e.split_once('='))
                .map(|(n, v)| k::EnvVar {
                    name: n.to_string(),
                    value: k::EnvValue::Literal(v.to_string()),
                })
                .collect(),
            env_from: Vec::new(),
            ports: Vec::new(),
            memory_limit: s.memory,
            cpu_limit: s.cpus,
            mounts,
            security: k::Security {
                privileged: s.privileged,
                read_only_root_fs: s.read_only,
                run_as_user,
                run_as_group,
                cap_add: s.cap_add.iter().map(|c| bare_cap(c)).collect(),
                cap_drop: s.cap_drop.iter().map(|c| bare_cap(c)).collect(),
            },
            liveness: config.healthcheck.as_ref().and_then(probe),
            tty: s.tty,
            stdin: s.open_stdin,
        };
        Ok((container, volumes))
    }

    /// The pod volume behind mount `i` of container `owner`: a named volume is a claim of
    /// its name; an anonymous one an `emptyDir`, a tmpfs a memory-backed one, a bind a
    /// `hostPath` (their names are the container's, so two containers never clash).
    fn kube_volume(&self, owner: &str, i: usize, m: &MountSpec) -> k::Volume {
        let (name, source) = match m.kind {
            MountKind::Volume => match self.named_volume(&m.source) {
                Some(n) => (
                    n.clone(),
                    k::VolumeSource::Claim {
                        claim_name: n,
                        read_only: false,
                    },
                ),
                None => (
                    format!("{owner}-vol-{i}"),
                    k::VolumeSource::EmptyDir { memory: false },
                ),
            },
            MountKind::Bind => (
                format!("{owner}-host-{i}"),
                k::VolumeSource::HostPath {
                    path: m.source.clone(),
                    kind: None,
                },
            ),
            MountKind::Tmpfs => (
                format!("{owner}-tmp-{i}"),
                k::VolumeSource::EmptyDir { memory: true },
            ),
        };
        k::Volume { name, source }
    }

    /// The name of the named (not anonymous) volume whose data directory is `path`.
    fn named_volume(&self, path: &str) -> Option<String> {
        let dir = Path::new(path).parent()?;
        let name = dir.file_name()?.to_str()?.to_string();
        let volumes = self.store.root().join("volumes");
        (dir.parent()? == volumes && !dir.join(".berth-anonymous").exists()).then_some(name)
    }

    /// Creates what `plan` describes: volumes, pods, their containers; starts the pods unless
    /// told not to. Images are pulled first when missing. Nothing is created when a name is
    /// taken (without `replace`) or an image cannot be had; a failure midway removes what
    /// this play had made.
    pub fn kube_play(
        &self,
        plan: &PlayPlan,
        opts: PlayOptions,
        pull: &mut dyn FnMut(&str) -> Result<(), EngineError>,
    ) -> Result<Played, EngineError> {
        for pod in &plan.pods {
            match self.pod(&pod.name) {
                Ok(_) if opts.replace => {}
                Ok(_) => {
                    return Err(EngineError::Conflict(format!(
                        "pod {} exists already: remove it, or play with --replace",
                        pod.name
                    )))
                }
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
            for c in &pod.containers {
                if let Ok(other) = self.resolve_container(&c.name) {
                    let in_replaced_pod = opts.replace
                        && super::pod_of_record(&other)
                            .is_some_and(|p| self.pod(&p).is_ok_and(|p| p.record.name == pod.name));
                    if !in_replaced_pod {
                        return Err(EngineError::Conflict(format!(
                            "the container name {} (pod {}, container {}) is in use: remove that container first",
                            c.name, pod.name, c.name
                        )));
                    }
                }
            }
        }
        // Everything the input decides is checked before anything is pulled, removed or made.
        for pod in &plan.pods {
            check_pod_plan(pod)?;
        }
        // A subPath through a link in an existing volume (checked again as it is mounted).
        for pod in &plan.pods {
            for c in &pod.containers {
                for m in &c.mounts {
                    if let MountPlan::Volume {
                        name,
                        sub_path: Some(sub),
                        ..
                    } = m
                    {
                        if let Ok(v) = self.volume(name) {
                            let path = inside(&v.mountpoint, sub, &c.name)?;
                            no_symlink_below(&v.mountpoint, &path, &c.name)?;
                        }
                    }
                }
            }
        }
        let scratch = plan
            .pods
            .iter()
            .flat_map(|p| p.scratch.iter().map(|s| &s.name));
        if let Some(v) = plan
            .volumes
            .iter()
            .chain(scratch)
            .find(|v| !crate::volume::valid_name(v))
        {
            return Err(EngineError::InvalidArgument(format!(
                "volume name {v:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        for pod in &plan.pods {
            for c in &pod.containers {
                if self.resolve_image(&c.image).is_err() {
                    pull(&c.image)?;
                }
            }
        }
        if opts.replace {
            for pod in &plan.pods {
                if self.pod(&pod.name).is_ok() {
                    self.remove_pod(&pod.name, true)?;
                }
            }
        }
        let mut played = Played::default();
        let result = self.play_into(plan, opts, &mut played);
        if let Err(e) = result {
            for (_, id) in &played.pods {
                let _ = self.remove_pod(id, true);
            }
            for v in &played.volumes {
                let _ = self.remove_volume(v, true);
            }
            return Err(e);
        }
        Ok(played)
    }

    fn play_into(
        &self,
        plan: &PlayPlan,
        opts: PlayOptions,
        played: &mut Played,
    ) -> Result<(), EngineError> {
        let label = BTreeMap::from([(PLAYED.to_string(), "true".to_string())]);
        for v in plan.volumes.iter().chain(
            plan.pods
                .iter()
                .flat_map(|p| p.scratch.iter().map(|s| &s.name)),
        ) {
            if self.volume(v).is_err() {
                self.create_volume_labeled(v, &label)?;
                played.volumes.push(v.to_string());
            }
        }
        for pod in &plan.pods {
            self.play_pod(pod, played)?;
        }
        if opts.start {
            for (_, id) in &played.pods {
                self.start_pod(id)?;
            }
        }
        Ok(())
    }

    /// Creates one pod and its containers; the pod is in `played` from the moment it exists,
    /// so a failure in one of its containers takes it away with the rest.
    fn play_pod(&self, pod: &PodPlan, played: &mut Played) -> Result<(), EngineError> {
        let id = self.create_pod(pod_options(pod)?)?;
        played.pods.push((pod.name.clone(), id.clone()));
        let files = self.pod_dir(&id).join("files");
        for c in &pod.containers {
            let mounts = self.play_mounts(c, &files)?;
            let opts = CreateOptions {
                name: Some(c.name.clone()),
                image: c.image.clone(),
                spec: ContainerSpec {
                    entrypoint: c.entrypoint.clone(),
                    cmd: c.cmd.clone().unwrap_or_default(),
                    env: c.env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
                    workdir: c.workdir.clone(),
                    user: c.user.clone(),
                    tty: c.tty,
                    open_stdin: c.stdin,
                    read_only: c.security.read_only_root_fs,
                    privileged: c.security.privileged,
                    cap_add: c.security.cap_add.clone(),
                    cap_drop: c.security.cap_drop.clone(),
                    mounts,
                    memory: c.memory,
                    cpus: c.cpus,
                    labels: pod.labels.clone(),
                    ..Default::default()
                },
                restart: match pod.restart_policy {
                    k::RestartPolicy::Always => RestartPolicy::Always,
                    k::RestartPolicy::OnFailure => RestartPolicy::OnFailure(0),
                    k::RestartPolicy::Never => RestartPolicy::No,
                },
                healthcheck: c.liveness.as_ref().map(health_of),
                pod: Some(id.clone()),
                ..Default::default()
            };
            self.create_container(opts)?;
        }
        Ok(())
    }

    /// The container's mounts; ConfigMap and Secret contents are written below `files`
    /// (the pod's directory, removed with it) and bound read-only.
    fn play_mounts(&self, c: &ContainerPlan, files: &Path) -> Result<Vec<MountSpec>, EngineError> {
        let mut out = Vec::new();
        for (i, m) in c.mounts.iter().enumerate() {
            let write = |path: &Path, content: &[u8]| {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| EngineError::io(format!("create {}", dir.display()), e))?;
                }
                std::fs::write(path, content)
                    .map_err(|e| EngineError::io(format!("write {}", path.display()), e))
            };
            let spec = match m {
                MountPlan::Volume {
                    name,
                    destination,
                    read_only,
                    sub_path: None,
                } => MountSpec {
                    source: name.clone(),
                    destination: destination.clone(),
                    kind: MountKind::Volume,
                    read_only: *read_only,
                    options: Vec::new(),
                },
                MountPlan::Volume {
                    name,
                    destination,
                    read_only,
                    sub_path: Some(sub),
                } => {
                    let (_, data) = self.create_volume(name)?;
                    let dir = inside(&data, sub, &c.name)?;
                    no_symlink_below(&data, &dir, &c.name)?;
                    std::fs::create_dir_all(&dir)
                        .map_err(|e| EngineError::io(format!("create {}", dir.display()), e))?;
                    bind(&dir, destination, *read_only)
                }
                MountPlan::Bind {
                    host_path,
                    destination,
                    read_only,
                    kind,
                } => {
                    let path = Path::new(host_path);
                    match kind.as_deref() {
                        Some("DirectoryOrCreate") => std::fs::create_dir_all(path)
                            .map_err(|e| EngineError::io(format!("create {host_path}"), e))?,
                        Some("FileOrCreate") if !path.exists() => write(path, b"")?,
                        _ => {}
                    }
                    bind(path, destination, *read_only)
                }
                MountPlan::Files {
                    destination,
                    files: contents,
                    read_only,
                } => {
                    let dir = inside(files, &format!("{}-{i}", c.name), &c.name)?;
                    for (rel, content) in contents {
                        write(&inside(&dir, rel, &c.name)?, content)?;
                    }
                    std::fs::create_dir_all(&dir)
                        .map_err(|e| EngineError::io(format!("create {}", dir.display()), e))?;
                    bind(&dir, destination, *read_only)
                }
                MountPlan::File {
                    destination,
                    content,
                    read_only,
                } => {
                    let path = inside(files, &format!("{}-{i}", c.name), &c.name)?;
                    write(&path, content)?;
                    bind(&path, destination, *read_only)
                }
            };
            out.push(spec);
        }
        Ok(out)
    }

    /// Removes what `plan`'s file made: its pods (those `play` labelled) and the volumes
    /// `play` created (labelled too). Missing ones are skipped.
    pub fn kube_down(&self, plan: &PlayPlan) -> Result<Downed, EngineError> {
        let mut downed = Downed::default();
        // Every pod is looked at before any goes: a pod of the file's that play did not make
        // stops the whole down.
        let mut ours = Vec::new();
        for pod in &plan.pods {
            match self.pod(&pod.name) {
                Ok(p) if p.config.labels.contains_key(PLAYED) => ours.push(p),
                Ok(_) => {
                    return Err(EngineError::Conflict(format!(
                        "pod {} was not made by kube play: remove it with pod rm",
                        pod.name
                    )))
                }
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        for p in ours {
            self.remove_pod(&p.record.id, true)?;
            downed.pods.push(p.record.name);
        }
        let names = plan.volumes.iter().chain(
            plan.pods
                .iter()
                .flat_map(|p| p.scratch.iter().map(|s| &s.name)),
        );
        for v in names {
            if let Ok(info) = self.volume(v) {
                if info.labels.contains_key(PLAYED) {
                    self.remove_volume(v, false)?;
                    downed.volumes.push(v.to_string());
                }
            }
        }
        Ok(downed)
    }

    /// A pod's own directory (files of its ConfigMap and Secret volumes).
    pub(crate) fn pod_dir(&self, id: &str) -> PathBuf {
        self.store.root().join("pods").join(id)
    }
}

/// What `play` would refuse only midway, refused before anything is made: names berth
/// cannot use (a container's name also names files on the host), ports it cannot publish,
/// paths that leave their volume, destinations that are not absolute.
fn check_pod_plan(pod: &PodPlan) -> Result<(), EngineError> {
    let bad = |what: String| EngineError::InvalidArgument(format!("pod {}: {what}", pod.name));
    if !names::valid(&pod.name) {
        return Err(bad("not a valid pod name".into()));
    }
    pod_options(pod)?;
    for c in &pod.containers {
        if !names::valid(&c.name) {
            return Err(bad(format!(
                "container name {:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
                c.name
            )));
        }
        for m in &c.mounts {
            let (destination, rels): (&str, Vec<&str>) = match m {
                MountPlan::Volume {
                    destination,
                    sub_path,
                    ..
                } => (destination, sub_path.iter().map(String::as_str).collect()),
                MountPlan::Bind { destination, .. } | MountPlan::File { destination, .. } => {
                    (destination, Vec::new())
                }
                MountPlan::Files {
                    destination, files, ..
                } => (destination, files.keys().map(String::as_str).collect()),
            };
            if !destination.starts_with('/') {
                return Err(bad(format!(
                    "container {}: mount path {destination:?} is not absolute",
                    c.name
                )));
            }
            for rel in rels {
                inside(Path::new("/"), rel, &c.name)?;
            }
        }
    }
    Ok(())
}

/// The pod's own options: labelled as played, its published ports.
fn pod_options(pod: &PodPlan) -> Result<PodOptions, EngineError> {
    let mut labels = pod.labels.clone();
    labels.insert(PLAYED.to_string(), "true".to_string());
    let mut ports = Vec::new();
    for p in &pod.publish {
        let host_ip = p
            .host_ip
            .as_deref()
            .map(|ip| {
                ip.parse().map_err(|_| {
                    EngineError::InvalidArgument(format!(
                        "pod {}: hostIP {ip:?} is not an IP address",
                        pod.name
                    ))
                })
            })
            .transpose()?;
        let proto = match p.protocol {
            k::Protocol::Tcp => berth_net::Proto::Tcp,
            k::Protocol::Udp => berth_net::Proto::Udp,
            k::Protocol::Sctp => {
                return Err(EngineError::InvalidArgument(format!(
                    "pod {}: port {}: SCTP is not published by berth",
                    pod.name, p.container_port
                )))
            }
        };
        ports.push(berth_net::PortMapping {
            host_ip,
            host_port: p.host_port,
            host_port_end: None,
            container_port: p.container_port,
            proto,
        });
    }
    Ok(PodOptions {
        name: Some(pod.name.clone()),
        labels,
        ports,
        hostname: pod.hostname.clone(),
        ..Default::default()
    })
}

/// Refuses `path` (inside `base`) when a symbolic link on the way could lead out of `base`:
/// a volume's content is the containers' to write, and a link there must not make a
/// `subPath` bind a host directory (the shape of CVE-2017-1002101).
fn no_symlink_below(base: &Path, path: &Path, what: &str) -> Result<(), EngineError> {
    let Ok(rel) = path.strip_prefix(base) else {
        return Err(EngineError::InvalidArgument(format!(
            "container {what}: {} is outside its volume",
            path.display()
        )));
    };
    let mut at = base.to_path_buf();
    for part in rel.components() {
        at.push(part);
        if std::fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(EngineError::InvalidArgument(format!(
                "container {what}: subPath {} goes through a symbolic link in its volume: refused",
                rel.display()
            )));
        }
    }
    Ok(())
}

/// `base/rel`, refused when `rel` climbs out of `base`.
fn inside(base: &Path, rel: &str, what: &str) -> Result<PathBuf, EngineError> {
    let rel = Path::new(rel);
    let safe = rel
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_)));
    if !safe {
        return Err(EngineError::InvalidArgument(format!(
            "container {what}: path {} must stay inside its volume",
            rel.display()
        )));
    }
    Ok(base.join(rel))
}

fn bind(source: &Path, destination: &str, read_only: bool) -> MountSpec {
    MountSpec {
        source: source.to_string_lossy().into_owned(),
        destination: destination.to_string(),
        kind: MountKind::Bind,
        read_only,
        options: Vec::new(),
    }
}

/// Adds `more` to `volumes`, once per name.
fn merge_volumes(volumes: &mut Vec<k::Volume>, more: Vec<k::Volume>) {
    for v in more {
        if !volumes.iter().any(|x| x.name == v.name) {
            volumes.push(v);
        }
    }
}

fn kube_ports(ports: &[berth_net::PortMapping]) -> Vec<k::ContainerPort> {
    ports
        .iter()
        .map(|p| k::ContainerPort {
            name: None,
            container_port: p.container_port,
            host_port: Some(p.host_port).filter(|h| *h != 0),
            host_ip: p.host_ip.map(|ip| ip.to_string()),
            protocol: match p.proto {
                berth_net::Proto::Tcp => k::Protocol::Tcp,
                berth_net::Proto::Udp => k::Protocol::Udp,
            },
        })
        .collect()
}

fn restart_policy(r: &RestartPolicy) -> k::RestartPolicy {
    match r {
        RestartPolicy::No => k::RestartPolicy::Never,
        RestartPolicy::Always | RestartPolicy::UnlessStopped => k::RestartPolicy::Always,
        RestartPolicy::OnFailure(_) => k::RestartPolicy::OnFailure,
    }
}

/// `CAP_NET_ADMIN` → `NET_ADMIN`, as Kubernetes names capabilities.
fn bare_cap(c: &str) -> String {
    let up = c.to_ascii_uppercase();
    up.strip_prefix("CAP_").map(str::to_string).unwrap_or(up)
}

const SECOND: i64 = 1_000_000_000;

/// A healthcheck as a liveness probe; none for `NONE` or an inherited test.
fn probe(h: &HealthConfig) -> Option<k::Probe> {
    let command = match h.test.split_first()? {
        (kind, args) if kind == "CMD" => args.to_vec(),
        (kind, [line]) if kind == "CMD-SHELL" => {
            vec!["/bin/sh".into(), "-c".into(), line.clone()]
        }
        _ => return None,
    };
    let secs = |ns: i64, default: u32| {
        if ns > 0 {
            u32::try_from((ns + SECOND - 1) / SECOND).unwrap_or(u32::MAX)
        } else {
            default
        }
    };
    Some(k::Probe {
        command,
        period_s: secs(h.interval, 30),
        timeout_s: secs(h.timeout, 30),
        failure_threshold: u32::try_from(h.retries)
            .ok()
            .filter(|r| *r > 0)
            .unwrap_or(3),
        initial_delay_s: secs(h.start_period, 0),
    })
}

/// A liveness probe as a healthcheck.
fn health_of(p: &k::Probe) -> HealthConfig {
    HealthConfig {
        test: std::iter::once("CMD".to_string())
            .chain(p.command.iter().cloned())
            .collect(),
        interval: i64::from(p.period_s) * SECOND,
        timeout: i64::from(p.timeout_s) * SECOND,
        start_period: i64::from(p.initial_delay_s) * SECOND,
        retries: i64::from(p.failure_threshold),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthchecks_and_probes_convert_both_ways() {
        let h = HealthConfig {
            test: vec!["CMD-SHELL".into(), "wget -q localhost".into()],
            interval: 5 * SECOND,
            timeout: 2 * SECOND,
            retries: 4,
            start_period: SECOND,
            ..Default::default()
        };
        let p = probe(&h).unwrap();
        assert_eq!(p.command, ["/bin/sh", "-c", "wget -q localhost"]);
        assert_eq!(
            (
                p.period_s,
                p.timeout_s,
                p.failure_threshold,
                p.initial_delay_s
            ),
            (5, 2, 4, 1)
        );
        let back = health_of(&p);
        assert_eq!(back.test, ["CMD", "/bin/sh", "-c", "wget -q localhost"]);
        assert_eq!((back.interval, back.retries), (5 * SECOND, 4));
        let none = HealthConfig {
            test: vec!["NONE".into()],
            ..Default::default()
        };
        assert!(probe(&none).is_none());
    }

    #[test]
    fn paths_in_volumes_stay_inside() {
        let base = Path::new("/v");
        assert_eq!(inside(base, "a/b", "c").unwrap(), Path::new("/v/a/b"));
        assert!(inside(base, "../etc", "c").is_err());
        assert!(inside(base, "/etc", "c").is_err());
        assert_eq!(bare_cap("cap_net_admin"), "NET_ADMIN");
    }
}
