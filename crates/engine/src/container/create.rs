//! `create`: record a container and lay out its directory; nothing runs yet.

use berth_runtime::spec::{resolve_command, ImageConfig};
use berth_store::ContainerRecord;
use berth_store::ContainerState;
use rand::RngCore;

use super::health::HealthConfig;
use super::{names, now_nanos, ContainerConfig, RestartPolicy};
use crate::{Engine, EngineError};

/// What `create` / `run` were asked for, parsed at the edge.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub name: Option<String>,
    /// The image as the user named it.
    pub image: String,
    pub spec: berth_runtime::spec::ContainerSpec,
    pub restart: RestartPolicy,
    pub auto_remove: bool,
    pub stop_timeout: Option<u32>,
    pub network: super::NetworkMode,
    pub ports: Vec<berth_net::PortMapping>,
    /// `-P`: publish every port the image exposes, each on a random host port.
    pub publish_all: bool,
    pub aliases: Vec<String>,
    pub dns: Vec<std::net::IpAddr>,
    /// The container's own healthcheck (`--health-*`), merged over the image's.
    pub healthcheck: Option<HealthConfig>,
    /// Killed and removed when its attached client goes (a build's RUN step).
    pub tied_to_client: bool,
    /// `--log-opt`: the json-file log's rotation.
    pub log: super::flags::LogOptions,
    /// `--pod`: join this pod (name or ID): its network, IPC and UTS namespaces.
    pub pod: Option<String>,
}

impl Engine {
    /// The `config` section of an image's config, typed.
    pub(crate) fn image_runtime_config(
        &self,
        image_id: &berth_image::Digest,
    ) -> Result<ImageConfig, EngineError> {
        let config = self.image_config(image_id)?;
        let section = config
            .get("config")
            .cloned()
            .unwrap_or(serde_json::Value::Null);
        if section.is_null() {
            return Ok(ImageConfig::default());
        }
        serde_json::from_value(section).map_err(|e| {
            EngineError::bad_input(
                format!("image {}", image_id.short()),
                format!("config: {e}"),
            )
        })
    }

    /// The image's `HEALTHCHECK` (`config.Healthcheck`), read from the raw config: docker
    /// writes it, and the typed view of the config does not carry it.
    fn image_healthcheck(
        &self,
        image_id: &berth_image::Digest,
    ) -> Result<Option<HealthConfig>, EngineError> {
        let config = self.image_config(image_id)?;
        match config.pointer("/config/Healthcheck") {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(v) => serde_json::from_value(v.clone()).map(Some).map_err(|e| {
                EngineError::bad_input(
                    format!("image {}", image_id.short()),
                    format!("config Healthcheck: {e}"),
                )
            }),
        }
    }

    /// Records a new container; returns its ID.
    pub fn create_container(&self, mut opts: CreateOptions) -> Result<String, EngineError> {
        let pod = match opts.pod.take() {
            Some(p) => Some(self.join_pod(&mut opts, &p)?),
            None => None,
        };
        self.create_container_in(opts, pod, false)
    }

    /// [`Engine::create_container`] for pod `pod` (its ID), as its infra container when
    /// `infra`.
    pub(crate) fn create_container_in(
        &self,
        opts: CreateOptions,
        pod: Option<String>,
        infra: bool,
    ) -> Result<String, EngineError> {
        if opts.auto_remove && opts.restart != RestartPolicy::No {
            return Err(EngineError::InvalidArgument(
                "conflicting options: --restart and --rm cannot be used together".into(),
            ));
        }
        if let Some(n) = &opts.name {
            if !names::valid(n.strip_prefix('/').unwrap_or(n)) {
                return Err(EngineError::InvalidArgument(format!(
                    "invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                )));
            }
        }
        check_spec(&opts)?;
        let image_id = self.resolve_image(&opts.image)?;
        let image = self.image_runtime_config(&image_id)?;
        let healthcheck =
            HealthConfig::merge(opts.healthcheck.clone(), self.image_healthcheck(&image_id)?);
        if let Some(h) = &healthcheck {
            h.validate()?;
        }
        let command = resolve_command(&opts.spec, &image)
            .map_err(|e| EngineError::InvalidArgument(format!("{}: {e}", opts.image)))?;
        let mut ports = opts.ports.clone();
        if opts.publish_all {
            for key in image.exposed_ports.iter().flat_map(|m| m.keys()) {
                let (num, proto) = key.split_once('/').unwrap_or((key, "tcp"));
                let parsed = berth_net::parse_publish(&format!("{num}/{proto}"))
                    .map_err(|e| EngineError::InvalidArgument(format!("EXPOSE {key}: {e}")))?;
                ports.extend(parsed);
            }
        }
        if !ports.is_empty() && !matches!(opts.network, super::NetworkMode::Bridge(_)) {
            return Err(EngineError::InvalidArgument(format!(
                "published ports are discarded when using {} network mode: publish ports on a bridge network",
                opts.network.name()
            )));
        }
        if let super::NetworkMode::Bridge(name) = &opts.network {
            if name != berth_net::DEFAULT_NETWORK {
                self.network()?.network(name).map_err(|_| {
                    EngineError::InvalidArgument(format!("network {name} not found"))
                })?;
            }
        }
        // Volumes: names become directories; `-v /path` and the image's VOLUMEs not
        // covered by a mount get anonymous ones.
        let mut spec_mounts = opts.spec.mounts.clone();
        for vol in image.volumes.iter().flat_map(|v| v.keys()) {
            if !spec_mounts.iter().any(|m| m.destination == *vol) {
                spec_mounts.push(berth_runtime::spec::MountSpec {
                    source: String::new(),
                    destination: vol.clone(),
                    kind: berth_runtime::spec::MountKind::Volume,
                    ..Default::default()
                });
            }
        }
        for m in spec_mounts
            .iter_mut()
            .filter(|m| m.kind == berth_runtime::spec::MountKind::Volume)
        {
            let (_, data) = self.create_volume(&m.source)?;
            m.source = data.to_string_lossy().into_owned();
        }
        let mut id_bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut id_bytes);
        let id = hex::encode(id_bytes);
        let mut spec = opts.spec.clone();
        spec.id = id.clone();
        spec.mounts = spec_mounts;
        let config = ContainerConfig {
            spec,
            restart: opts.restart,
            auto_remove: opts.auto_remove,
            path: command.first().cloned().unwrap_or_default(),
            args: command.iter().skip(1).cloned().collect(),
            stop_timeout: opts.stop_timeout,
            network: opts.network.clone(),
            ports,
            aliases: opts.aliases.clone(),
            dns: opts.dns.clone(),
            healthcheck,
            tied_to_client: opts.tied_to_client,
            log: opts.log,
            pod,
            infra,
        };
        let config_json = serde_json::to_string(&config)
            .map_err(|e| EngineError::bad_input("container config", e))?;
        let paths = self.container_paths(&id);
        let mut rec = ContainerRecord {
            id: id.clone(),
            name: String::new(),
            image_id: image_id.to_string(),
            image_name: opts.image.clone(),
            config: config_json,
            created_at: now_nanos(),
            state: ContainerState::Created,
            ..Default::default()
        };
        let result = self.store.meta.write(|tx| {
            rec.name = match &opts.name {
                Some(n) => {
                    let n = n.strip_prefix('/').unwrap_or(n).to_string();
                    if let Some(other) = tx.container_by_name(&n)? {
                        return Err(EngineError::Conflict(format!(
                            "the container name \"/{n}\" is already in use by container \"{}\"; remove (or rename) that container to be able to reuse that name",
                            other.id
                        )));
                    }
                    n
                }
                None => {
                    let mut retry = 0;
                    loop {
                        let n = names::generate(retry);
                        if tx.container_by_name(&n)?.is_none() {
                            break n;
                        }
                        retry += 1;
                    }
                }
            };
            // The directories are made inside the transaction: a container directory that
            // no record names is then always a leftover (`system check` looks for them
            // holding the write lock), never one being created.
            for d in [&paths.dir, &paths.upper, &paths.work, &paths.rootfs] {
                std::fs::create_dir_all(d)
                    .map_err(|e| EngineError::io(format!("create {}", d.display()), e))?;
            }
            // So is the monitor's log: a start or exec then opens it without creating it,
            // and one racing a `rm -f` cannot add an entry to a directory being removed.
            std::fs::File::create(&paths.monitor_log).map_err(|e| {
                EngineError::io(format!("create {}", paths.monitor_log.display()), e)
            })?;
            // A pod removed since `join_pod` looked would leave this container a member of
            // nothing: checked where the record is written.
            if let Some(pod) = &config.pod {
                if tx.pod(pod)?.is_none() {
                    return Err(EngineError::PodNotFound(pod.clone()));
                }
            }
            tx.insert_container(&rec)?;
            Ok(())
        });
        if let Err(e) = result {
            let _ = std::fs::remove_dir_all(&paths.dir);
            return Err(e);
        }
        self.emit_container(&rec, crate::events::Action::Create, &[]);
        Ok(id)
    }
}

/// The kernel's limit on one argument or environment string, its terminating NUL included.
const MAX_ARG_STRLEN: usize = 32 * 4096;

/// What docker's daemon refuses at create time, so that nothing fails later (a `stop` with a
/// signal that does not exist, an environment the runtime cannot pass on).
fn check_spec(opts: &CreateOptions) -> Result<(), EngineError> {
    let spec = &opts.spec;
    if let Some(sig) = &spec.stop_signal {
        super::stop::signal_number(sig)?;
    }
    for e in &spec.env {
        if e.is_empty() || e.starts_with('=') {
            return Err(EngineError::InvalidArgument(format!(
                "invalid environment variable: {e:?} (use NAME=VALUE, or NAME to pass on ours)"
            )));
        }
        // execve refuses any one string longer than MAX_ARG_STRLEN (32 pages): say so now,
        // not as an exec failure when the container starts.
        if e.len() >= MAX_ARG_STRLEN {
            let name = e.split('=').next().unwrap_or_default();
            return Err(EngineError::InvalidArgument(format!(
                "environment variable {name} is {} bytes: Linux passes at most {} bytes per variable to a program",
                e.len(),
                MAX_ARG_STRLEN - 1
            )));
        }
    }
    if let Some(cpus) = spec.cpus {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        if !(0.01..=n as f64).contains(&cpus) {
            return Err(EngineError::InvalidArgument(format!(
                "range of CPUs is from 0.01 to {n}.00, as there are only {n} CPUs available"
            )));
        }
    }
    if let Some(shm) = spec.shm_size {
        if shm <= 0 {
            return Err(EngineError::InvalidArgument(format!(
                "invalid --shm-size {shm}: must be greater than 0"
            )));
        }
    }
    for (name, ip) in &spec.extra_hosts {
        let bad = |why: &str| {
            EngineError::InvalidArgument(format!("invalid --add-host {name}:{ip}: {why}"))
        };
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(bad("the name is empty or has a space"));
        }
        if ip == "host-gateway" {
            if !matches!(opts.network, super::NetworkMode::Bridge(_)) {
                return Err(bad("host-gateway needs a bridge network"));
            }
        } else if ip.parse::<std::net::IpAddr>().is_err() {
            return Err(bad("not an IP address (or host-gateway)"));
        }
    }
    // A `--device` that is missing, or no device, is refused now, as docker does.
    berth_runtime::spec::host_devices(spec)
        .map_err(|e| EngineError::InvalidArgument(e.to_string()))?;
    let own_netns = !matches!(opts.network, super::NetworkMode::Host);
    for key in spec.sysctls.keys() {
        berth_runtime::spec::check_sysctl(key, own_netns).map_err(EngineError::InvalidArgument)?;
    }
    Ok(())
}
