//! `container inspect` in docker's JSON shape, and sizes.

use berth_store::ContainerState;
use serde_json::{json, Value};

use super::{rfc3339_nanos, ContainerConfig};
use crate::{Engine, EngineError};

/// Bytes used by files below `path` (not following symlinks, each inode once).
pub(crate) fn dir_size(path: &std::path::Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut seen = std::collections::HashSet::new();
    let mut total = 0;
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&p) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() {
                stack.push(e.path());
            } else if m.is_file() && seen.insert((m.dev(), m.ino())) {
                total += m.len();
            }
        }
    }
    total
}

impl Engine {
    /// Bytes in the container's writable layer.
    pub fn container_size(&self, id: &str) -> Result<u64, EngineError> {
        Ok(dir_size(&self.container_paths(id).upper))
    }

    /// An image's size by ID string.
    pub fn image_size(&self, id: &str) -> Result<u64, EngineError> {
        let d: berth_image::Digest = id
            .parse()
            .map_err(|e| EngineError::bad_input("image id", e))?;
        Ok(self
            .store
            .meta
            .read(|tx| tx.image(&d))?
            .map_or(0, |i| i.size))
    }

    /// `docker container inspect` for one container.
    pub fn inspect_container(&self, name: &str) -> Result<Value, EngineError> {
        let r = self.reconciled(name)?;
        let c = ContainerConfig::from_record(&r)?;
        let paths = self.container_paths(&r.id);
        let image: berth_image::Digest = r
            .image_id
            .parse()
            .map_err(|e| EngineError::bad_input("image id", e))?;
        let image_cfg = self.image_runtime_config(&image).unwrap_or_default();
        let lowers: Vec<String> = self
            .store
            .meta
            .read(|tx| tx.image(&image))?
            .map(|i| {
                i.layers
                    .iter()
                    .rev()
                    .map(|l| self.store.layers.diff_path(l).display().to_string())
                    .collect()
            })
            .unwrap_or_default();
        let s = &c.spec;
        let env: Vec<String> = image_cfg
            .env
            .clone()
            .unwrap_or_default()
            .into_iter()
            .chain(s.env.iter().cloned())
            .collect();
        let mounts: Vec<Value> = s.mounts.iter().map(mount_point).collect();
        let mut v = json!({
            "Id": r.id,
            "Created": rfc3339_nanos(r.created_at),
            "Path": c.path,
            "Args": c.args,
            "State": {
                "Status": r.state,
                "Running": matches!(r.state, ContainerState::Running | ContainerState::Paused),
                "Paused": r.state == ContainerState::Paused,
                "Restarting": r.state == ContainerState::Restarting,
                "OOMKilled": r.oom_killed,
                "Dead": r.state == ContainerState::Dead,
                "Pid": r.pid,
                "ExitCode": r.exit_code,
                "Error": r.error,
                "StartedAt": rfc3339_nanos(r.started_at),
                "FinishedAt": rfc3339_nanos(r.finished_at),
            },
            "Image": r.image_id,
            "ResolvConfPath": paths.dir.join("resolv.conf"),
            "HostnamePath": paths.dir.join("hostname"),
            "HostsPath": paths.dir.join("hosts"),
            "LogPath": paths.log,
            "Name": format!("/{}", r.name),
            "RestartCount": r.restart_count,
            "Driver": "overlay2",
            "Platform": "linux",
            "MountLabel": "",
            "ProcessLabel": "",
            "AppArmorProfile": "",
            "ExecIDs": Value::Null,
            "HostConfig": host_config(&c),
            "GraphDriver": {
                "Data": {
                    "LowerDir": lowers.join(":"),
                    "MergedDir": paths.rootfs,
                    "UpperDir": paths.upper,
                    "WorkDir": paths.work,
                },
                "Name": "overlay2",
            },
            "Mounts": mounts,
            "Config": {
                "Hostname": s.hostname.clone().unwrap_or_else(|| r.id[..12].to_string()),
                "Domainname": s.domainname.clone().unwrap_or_default(),
                "User": s.user.clone().or(image_cfg.user.clone()).unwrap_or_default(),
                "AttachStdin": s.open_stdin,
                "AttachStdout": true,
                "AttachStderr": true,
                "Tty": s.tty,
                "OpenStdin": s.open_stdin,
                "StdinOnce": s.open_stdin,
                "Env": env,
                "Cmd": if s.cmd.is_empty() { json!(image_cfg.cmd) } else { json!(s.cmd) },
                "Image": r.image_name,
                "Volumes": image_cfg.volumes,
                "WorkingDir": s.workdir.clone().or(image_cfg.working_dir.clone()).unwrap_or_default(),
                "Entrypoint": s.entrypoint.clone().or(image_cfg.entrypoint.clone()),
                "OnBuild": Value::Null,
                "Labels": s.labels,
                "StopSignal": s.stop_signal.clone().or(image_cfg.stop_signal.clone()),
            },
            "NetworkSettings": network_settings(&super::NetSummary::from_record(&r), &c),
        });
        add_health(&mut v, &r, &c);
        Ok(v)
    }
}

/// docker's `State.Health` (last in `State`) and `Config.Healthcheck` (after `Cmd`), both
/// left out when the container has no healthcheck.
fn add_health(v: &mut Value, r: &berth_store::ContainerRecord, c: &ContainerConfig) {
    if let Some(h) = super::health::Health::from_json(&r.health) {
        v["State"]["Health"] = json!(h);
    }
    let (Some(hc), Some(Value::Object(config))) = (&c.healthcheck, v.get_mut("Config")) else {
        return;
    };
    let old = std::mem::take(config);
    for (k, val) in old {
        let after_cmd = k == "Cmd";
        config.insert(k, val);
        if after_cmd {
            config.insert("Healthcheck".into(), json!(hc));
        }
    }
}

/// docker's `Ports` map: `"8000/tcp": [{"HostIp": "0.0.0.0", "HostPort": "5000"}]`.
fn ports_map(ports: &[berth_net::PortMapping]) -> serde_json::Map<String, Value> {
    let mut map = serde_json::Map::new();
    for p in ports {
        let key = format!("{}/{}", p.container_port, p.proto);
        let entry = map.entry(key).or_insert_with(|| json!([]));
        if let Some(list) = entry.as_array_mut() {
            list.push(json!({
                "HostIp": p.host_ip.map_or_else(|| "0.0.0.0".to_string(), |ip| ip.to_string()),
                "HostPort": if p.host_port == 0 { String::new() } else { p.host_port.to_string() },
            }));
        }
    }
    map
}

fn port_bindings(ports: &[berth_net::PortMapping]) -> Value {
    Value::Object(ports_map(ports))
}

fn network_settings(nets: &[super::NetSummary], c: &ContainerConfig) -> Value {
    let first = nets.first();
    let ip = |n: Option<&super::NetSummary>| {
        n.and_then(|n| n.ip)
            .map(|i| i.to_string())
            .unwrap_or_default()
    };
    let gw = |n: Option<&super::NetSummary>| {
        n.and_then(|n| n.gateway)
            .map(|i| i.to_string())
            .unwrap_or_default()
    };
    let mut networks = serde_json::Map::new();
    if nets.is_empty() {
        networks.insert(
            c.network.name(),
            json!({"IPAddress": "", "Gateway": "", "IPPrefixLen": 0, "MacAddress": "", "Aliases": c.aliases}),
        );
    }
    for n in nets {
        networks.insert(
            n.network.clone(),
            json!({
                "IPAddress": ip(Some(n)),
                "Gateway": gw(Some(n)),
                "IPPrefixLen": n.prefix_len,
                "MacAddress": n.mac,
                "Aliases": c.aliases,
            }),
        );
    }
    let ports: Vec<berth_net::PortMapping> = nets.iter().flat_map(|n| n.ports.clone()).collect();
    json!({
        "Bridge": "",
        "Ports": Value::Object(ports_map(&ports)),
        "IPAddress": ip(first),
        "Gateway": gw(first),
        "IPPrefixLen": first.map_or(0, |n| n.prefix_len),
        "MacAddress": first.map(|n| n.mac.clone()).unwrap_or_default(),
        "Networks": networks,
    })
}

/// docker's `MountPoint` of a mount (inspect's `Mounts`, the list's too).
pub fn mount_point(m: &berth_runtime::spec::MountSpec) -> Value {
    json!({
        "Type": format!("{:?}", m.kind).to_lowercase(),
        "Source": m.source,
        "Destination": m.destination,
        "Mode": if m.read_only { "ro" } else { "" },
        "RW": !m.read_only,
        "Propagation": "rprivate",
    })
}

/// docker's `HostConfig` of a container.
fn host_config(c: &ContainerConfig) -> Value {
    let s = &c.spec;
    json!({
        "Binds": s.mounts.iter().filter(|m| m.kind != berth_runtime::spec::MountKind::Tmpfs)
            .map(|m| format!("{}:{}{}", m.source, m.destination, if m.read_only { ":ro" } else { "" }))
            .collect::<Vec<_>>(),
        "NetworkMode": c.network.name(),
        "PortBindings": port_bindings(&c.ports),
        "RestartPolicy": {
            "Name": c.restart.name(),
            "MaximumRetryCount": match c.restart { super::RestartPolicy::OnFailure(n) => n, _ => 0 },
        },
        "AutoRemove": c.auto_remove,
        "CapAdd": s.cap_add,
        "CapDrop": s.cap_drop,
        "Privileged": s.privileged,
        "ReadonlyRootfs": s.read_only,
        "SecurityOpt": Value::Null,
        "Memory": s.memory.unwrap_or(0),
        "MemorySwap": s.memory_swap.unwrap_or(0),
        "NanoCpus": s.cpus.map_or(0, |c| (c * 1e9) as i64),
        "PidsLimit": s.pids_limit,
        "Init": s.init,
        "Ulimits": s.ulimits.iter().map(|u| json!({"Name": u.name, "Soft": u.soft, "Hard": u.hard})).collect::<Vec<_>>(),
        "CpuShares": s.cpu_shares.unwrap_or(0),
        "Dns": c.dns.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "Tmpfs": s.mounts.iter().filter(|m| m.kind == berth_runtime::spec::MountKind::Tmpfs)
            .map(|m| (m.destination.clone(), Value::String(m.options.join(","))))
            .collect::<serde_json::Map<String, Value>>(),
        // The json log is the only driver berth has (docker-py reads the type).
        "LogConfig": {"Type": "json-file", "Config": log_config(&c.log)},
        "Runtime": s.runtime.clone().unwrap_or_else(|| "runc".into()),
    })
}

/// `HostConfig.LogConfig.Config` as docker shows it: the options given, as strings.
fn log_config(log: &super::flags::LogOptions) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    if let Some(n) = log.max_size {
        out.insert("max-size".into(), n.to_string().into());
    }
    if let Some(n) = log.max_file {
        out.insert("max-file".into(), n.to_string().into());
    }
    serde_json::Value::Object(out)
}
