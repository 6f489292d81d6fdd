//! `POST /containers/create`: docker's `Config` + `HostConfig` + `NetworkingConfig` parsed
//! into the engine's `CreateOptions`. Everything is checked before anything is recorded; what
//! berth cannot honour is refused with a 400 that names it, never silently dropped.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_engine::container::health::HealthConfig;
use berth_engine::container::{flags, CreateOptions, NetworkMode, RestartPolicy};
use berth_net::{PortMapping, Proto};
use berth_runtime::spec::{ContainerSpec, MountKind, MountSpec, Ulimit};
use serde::Deserialize;
use serde_json::json;

use crate::error::ApiError;
use crate::Api;

#[derive(Debug, Deserialize)]
pub struct CreateQuery {
    name: Option<String>,
    platform: Option<String>,
}

/// docker's `ContainerCreateRequest` (`Config` with `HostConfig` and `NetworkingConfig`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateBody {
    hostname: String,
    domainname: String,
    user: String,
    tty: bool,
    open_stdin: bool,
    env: Option<Vec<String>>,
    cmd: Option<StringOrList>,
    healthcheck: Option<HealthConfig>,
    entrypoint: Option<StringOrList>,
    image: String,
    working_dir: String,
    labels: Option<BTreeMap<String, String>>,
    stop_signal: Option<String>,
    stop_timeout: Option<u32>,
    host_config: HostConfig,
    networking_config: Option<NetworkingConfig>,
}

/// `Cmd` and `Entrypoint` may be a string (run by a shell) or a list.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum StringOrList {
    One(String),
    Many(Vec<String>),
}

impl StringOrList {
    fn into_vec(self) -> Vec<String> {
        match self {
            Self::One(s) if s.is_empty() => Vec::new(),
            Self::One(s) => vec!["/bin/sh".into(), "-c".into(), s],
            Self::Many(v) => v,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct HostConfig {
    binds: Option<Vec<String>>,
    mounts: Option<Vec<ApiMount>>,
    tmpfs: Option<BTreeMap<String, String>>,
    port_bindings: Option<BTreeMap<String, Option<Vec<PortBinding>>>>,
    publish_all_ports: bool,
    restart_policy: Option<ApiRestartPolicy>,
    auto_remove: bool,
    network_mode: String,
    privileged: bool,
    readonly_rootfs: bool,
    cap_add: Option<Vec<String>>,
    cap_drop: Option<Vec<String>>,
    security_opt: Option<Vec<String>>,
    memory: i64,
    memory_swap: i64,
    nano_cpus: i64,
    cpu_shares: i64,
    pids_limit: Option<i64>,
    ulimits: Option<Vec<ApiUlimit>>,
    init: Option<bool>,
    dns: Option<Vec<String>>,
    runtime: Option<String>,
    shm_size: i64,
    group_add: Option<Vec<String>>,
    extra_hosts: Option<Vec<String>>,
    sysctls: Option<BTreeMap<String, String>>,
    log_config: Option<ApiLogConfig>,
    /// `[height, width]` of the client's terminal.
    console_size: Option<Vec<u16>>,
    devices: Option<Vec<ApiDevice>>,
}

/// `HostConfig.Devices[]`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ApiDevice {
    path_on_host: String,
    path_in_container: String,
    cgroup_permissions: String,
}

/// `HostConfig.LogConfig`: `{"Type": "json-file", "Config": {"max-size": "10m"}}`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ApiLogConfig {
    #[serde(rename = "Type")]
    kind: String,
    config: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct PortBinding {
    host_ip: String,
    host_port: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct ApiRestartPolicy {
    name: String,
    maximum_retry_count: u32,
}

impl ApiRestartPolicy {
    /// The engine's policy for docker's `{"Name", "MaximumRetryCount"}`.
    pub(crate) fn policy(&self) -> Result<RestartPolicy, ApiError> {
        Ok(match self.name.as_str() {
            "" | "no" => RestartPolicy::No,
            "always" => RestartPolicy::Always,
            "unless-stopped" => RestartPolicy::UnlessStopped,
            "on-failure" => RestartPolicy::OnFailure(self.maximum_retry_count),
            other => return Err(bad(format!("invalid restart policy {other:?}"))),
        })
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ApiUlimit {
    name: String,
    soft: u64,
    hard: u64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ApiMount {
    #[serde(rename = "Type")]
    kind: String,
    source: String,
    target: String,
    read_only: bool,
    tmpfs_options: Option<TmpfsOptions>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct TmpfsOptions {
    size_bytes: i64,
    mode: u32,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct NetworkingConfig {
    endpoints_config: Option<BTreeMap<String, Option<EndpointConfig>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct EndpointConfig {
    aliases: Option<Vec<String>>,
}

fn bad(e: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(e.to_string())
}

/// `{"8000/tcp": [{"HostIp": "", "HostPort": "5000"}]}` → the engine's mappings; an empty or
/// `0` host port is a free one, as docker picks it.
fn ports(
    bindings: &BTreeMap<String, Option<Vec<PortBinding>>>,
) -> Result<Vec<PortMapping>, ApiError> {
    let mut out = Vec::new();
    for (key, list) in bindings {
        let (port, proto) = key.split_once('/').unwrap_or((key.as_str(), "tcp"));
        let container_port: u16 = port
            .parse()
            .map_err(|_| bad(format!("invalid port {key:?} in PortBindings")))?;
        let proto = match proto {
            "tcp" => Proto::Tcp,
            "udp" => Proto::Udp,
            other => return Err(bad(format!("invalid protocol {other:?} in PortBindings"))),
        };
        for b in list.iter().flatten() {
            let host_ip = match b.host_ip.as_str() {
                "" => None,
                ip => Some(
                    ip.parse()
                        .map_err(|_| bad(format!("invalid HostIp {ip:?} for port {key}")))?,
                ),
            };
            let host_port = match b.host_port.as_str() {
                "" => 0,
                p => p
                    .parse()
                    .map_err(|_| bad(format!("invalid HostPort {p:?} for port {key}")))?,
            };
            out.push(PortMapping {
                host_ip,
                host_port,
                host_port_end: None,
                container_port,
                proto,
            });
        }
    }
    Ok(out)
}

fn mounts(hc: &HostConfig) -> Result<Vec<MountSpec>, ApiError> {
    let mut out = Vec::new();
    for b in hc.binds.iter().flatten() {
        out.push(flags::volume(b).map_err(bad)?);
    }
    for m in hc.mounts.iter().flatten() {
        let kind = match m.kind.as_str() {
            "bind" | "" => MountKind::Bind,
            "volume" => MountKind::Volume,
            "tmpfs" => MountKind::Tmpfs,
            other => {
                return Err(bad(format!(
                    "mount type {other:?} is not supported: use bind, volume or tmpfs"
                )))
            }
        };
        let mut options = Vec::new();
        if let Some(t) = &m.tmpfs_options {
            if t.size_bytes > 0 {
                options.push(format!("size={}", t.size_bytes));
            }
            if t.mode > 0 {
                options.push(format!("mode={:o}", t.mode));
            }
        }
        out.push(MountSpec {
            source: m.source.clone(),
            destination: m.target.clone(),
            kind,
            read_only: m.read_only,
            options,
        });
    }
    for (path, opts) in hc.tmpfs.iter().flatten() {
        let spec = if opts.is_empty() {
            path.clone()
        } else {
            format!("{path}:{opts}")
        };
        out.push(flags::tmpfs(&spec).map_err(bad)?);
    }
    // A socket bound in that is not there would become an empty directory: refuse (the
    // testcontainers reaper binds the engine's socket).
    for m in &out {
        if m.kind == MountKind::Bind
            && m.source.ends_with(".sock")
            && !std::path::Path::new(&m.source).exists()
        {
            return Err(bad(format!(
                "invalid mount config: bind source path does not exist: {}",
                m.source
            )));
        }
    }
    Ok(out)
}

fn security(opts: &[String]) -> Result<(bool, bool), ApiError> {
    let (mut nnp, mut unconfined) = (false, false);
    for opt in opts {
        match opt.as_str() {
            "no-new-privileges" | "no-new-privileges:true" | "no-new-privileges=true" => nnp = true,
            "no-new-privileges:false" | "no-new-privileges=false" => nnp = false,
            "seccomp=unconfined" | "seccomp:unconfined" => unconfined = true,
            // docker's default label options: nothing to do without SELinux/AppArmor here.
            o if o.starts_with("label=") || o.starts_with("label:") || o.starts_with("apparmor") => {}
            other => {
                return Err(bad(format!(
                    "invalid SecurityOpt {other:?}: berth supports no-new-privileges and seccomp=unconfined"
                )))
            }
        }
    }
    Ok((nnp, unconfined))
}

/// The engine's options for `body` (named `name`).
pub fn options(name: Option<String>, body: CreateBody) -> Result<CreateOptions, ApiError> {
    let hc = &body.host_config;
    if body.image.is_empty() {
        return Err(bad("config has no Image"));
    }
    let network: NetworkMode = match hc.network_mode.as_str() {
        "" | "default" => NetworkMode::default(),
        m => m.parse().map_err(|e: berth_engine::EngineError| bad(e))?,
    };
    // docker's NetworkingConfig names the network (and aliases) to join.
    let mut aliases = Vec::new();
    if let Some(eps) = body
        .networking_config
        .as_ref()
        .and_then(|n| n.endpoints_config.as_ref())
    {
        for ep in eps.values().flatten() {
            aliases.extend(ep.aliases.iter().flatten().cloned());
        }
    }
    let (no_new_privileges, seccomp_unconfined) =
        security(hc.security_opt.as_deref().unwrap_or(&[]))?;
    let dns = hc
        .dns
        .iter()
        .flatten()
        .map(|d| d.parse().map_err(|_| bad(format!("invalid Dns {d:?}"))))
        .collect::<Result<_, _>>()?;
    let spec = ContainerSpec {
        hostname: Some(body.hostname.clone()).filter(|h| !h.is_empty()),
        domainname: Some(body.domainname.clone()).filter(|h| !h.is_empty()),
        entrypoint: body.entrypoint.map(|e| match e {
            StringOrList::One(s) => flags::entrypoint(&s),
            StringOrList::Many(v) => v,
        }),
        cmd: body.cmd.map(StringOrList::into_vec).unwrap_or_default(),
        env: body.env.unwrap_or_default(),
        workdir: Some(body.working_dir).filter(|w| !w.is_empty()),
        user: Some(body.user).filter(|u| !u.is_empty()),
        tty: body.tty,
        console_size: match hc.console_size.as_deref() {
            Some(&[rows, cols]) if rows > 0 && cols > 0 => Some((rows, cols)),
            _ => None,
        },
        open_stdin: body.open_stdin,
        read_only: hc.readonly_rootfs,
        privileged: hc.privileged,
        cap_add: hc.cap_add.clone().unwrap_or_default(),
        cap_drop: hc.cap_drop.clone().unwrap_or_default(),
        no_new_privileges,
        seccomp_unconfined,
        mounts: mounts(hc)?,
        memory: Some(hc.memory).filter(|m| *m > 0),
        memory_swap: Some(hc.memory_swap).filter(|m| *m != 0),
        cpus: Some(hc.nano_cpus)
            .filter(|n| *n > 0)
            .map(|n| n as f64 / 1e9),
        cpu_shares: u64::try_from(hc.cpu_shares).ok().filter(|s| *s > 0),
        pids_limit: hc.pids_limit.filter(|p| *p > 0),
        ulimits: hc
            .ulimits
            .iter()
            .flatten()
            .map(|u| Ulimit {
                name: u.name.clone(),
                soft: u.soft,
                hard: u.hard,
            })
            .collect(),
        init: hc.init.unwrap_or(false),
        stop_signal: body.stop_signal.clone().filter(|s| !s.is_empty()),
        labels: body.labels.clone().unwrap_or_default(),
        runtime: hc.runtime.clone().filter(|r| !r.is_empty() && r != "runc"),
        shm_size: Some(hc.shm_size).filter(|s| *s > 0),
        group_add: hc.group_add.clone().unwrap_or_default(),
        extra_hosts: hc
            .extra_hosts
            .iter()
            .flatten()
            .map(|h| {
                h.split_once(['=', ':'])
                    .map(|(n, ip)| (n.to_string(), ip.to_string()))
                    .ok_or_else(|| bad(format!("invalid ExtraHosts entry {h:?}: use HOST:IP")))
            })
            .collect::<Result<_, _>>()?,
        sysctls: hc.sysctls.clone().unwrap_or_default(),
        devices: hc
            .devices
            .iter()
            .flatten()
            .map(|d| berth_runtime::spec::DeviceMapping {
                host: d.path_on_host.clone(),
                container: Some(d.path_in_container.clone())
                    .filter(|c| !c.is_empty())
                    .unwrap_or_else(|| d.path_on_host.clone()),
                permissions: Some(d.cgroup_permissions.clone())
                    .filter(|p| !p.is_empty())
                    .unwrap_or_else(|| "rwm".into()),
            })
            .collect(),
        ..Default::default()
    };
    Ok(CreateOptions {
        name: name.filter(|n| !n.is_empty()),
        image: body.image.clone(),
        spec,
        restart: hc
            .restart_policy
            .as_ref()
            .map(ApiRestartPolicy::policy)
            .transpose()?
            .unwrap_or_default(),
        auto_remove: hc.auto_remove,
        stop_timeout: body.stop_timeout,
        network,
        ports: ports(hc.port_bindings.as_ref().unwrap_or(&BTreeMap::new()))?,
        publish_all: hc.publish_all_ports,
        aliases,
        dns,
        healthcheck: body.healthcheck,
        tied_to_client: false,
        pod: None,
        log: match &hc.log_config {
            None => Default::default(),
            Some(lc) => {
                let opts: Vec<(String, String)> =
                    lc.config.clone().unwrap_or_default().into_iter().collect();
                berth_engine::container::flags::log_options(Some(&lc.kind), &opts)
                    .map_err(|e| bad(e.to_string()))?
            }
        },
    })
}

pub async fn create(
    State(api): State<Api>,
    Query(q): Query<CreateQuery>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    if let Some(p) = q
        .platform
        .as_deref()
        .filter(|p| !p.is_empty() && !p.starts_with("linux"))
    {
        return Err(bad(format!("platform {p}: berth runs linux containers")));
    }
    let body: CreateBody =
        serde_json::from_slice(&body).map_err(|e| bad(format!("invalid container config: {e}")))?;
    let opts = options(q.name, body)?;
    let image = opts.image.clone();
    // docker answers 404 for a missing image; its clients then pull and retry.
    api.run(move |e| e.resolve_image(&image)).await?;
    let id = api.run(move |e| e.create_container(opts)).await?;
    Ok((StatusCode::CREATED, Json(json!({"Id": id, "Warnings": []}))).into_response())
}
