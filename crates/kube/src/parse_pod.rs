//! A pod spec (`kind: Pod`'s `spec`, a Deployment's `spec.template.spec`) → [`Pod`].

use std::collections::BTreeSet;

use crate::model::{
    Container, ContainerPort, EnvFrom, EnvValue, EnvVar, Pod, Probe, Protocol, RestartPolicy,
    Security, Volume, VolumeMount, VolumeSource,
};
use crate::node::{Field, Node};
use crate::quantity;

/// The pod spec at `spec`; the caller sets the name and labels from the metadata.
pub(crate) fn pod_spec(spec: &Node) -> Field<Pod> {
    let restart_policy = match spec.field("restartPolicy")? {
        None => RestartPolicy::Always,
        Some(node) => match node.as_str()? {
            "Always" => RestartPolicy::Always,
            "OnFailure" => RestartPolicy::OnFailure,
            "Never" => RestartPolicy::Never,
            _ => return Err(node.error("must be Always, OnFailure or Never")),
        },
    };
    // A pod-level securityContext gives defaults that a container's own overrides.
    let pod_security = match spec.field("securityContext")? {
        Some(node) => (node.opt_i64("runAsUser")?, node.opt_i64("runAsGroup")?),
        None => (None, None),
    };
    let volumes = spec
        .list("volumes")?
        .iter()
        .map(volume)
        .collect::<Field<Vec<_>>>()?;
    let volume_names: BTreeSet<&str> = volumes.iter().map(|v| v.name.as_str()).collect();
    let container_nodes = spec.list("containers")?;
    if container_nodes.is_empty() {
        let path = format!("{}.containers", spec.path());
        return Err(crate::node::FieldError {
            path,
            reason: "at least one container is required".to_string(),
        });
    }
    let mut containers = Vec::new();
    for node in &container_nodes {
        let mut c = container(node, &volume_names)?;
        c.security.run_as_user = c.security.run_as_user.or(pod_security.0);
        c.security.run_as_group = c.security.run_as_group.or(pod_security.1);
        if containers
            .iter()
            .any(|other: &Container| other.name == c.name)
        {
            return Err(node
                .required("name")?
                .error("a container of this name comes earlier"));
        }
        containers.push(c);
    }
    Ok(Pod {
        name: String::new(),
        labels: Default::default(),
        containers,
        restart_policy,
        hostname: spec.opt_string("hostname")?,
        volumes,
    })
}

fn container(node: &Node, volumes: &BTreeSet<&str>) -> Field<Container> {
    let mut c = Container {
        name: node.string("name")?,
        image: node.string("image")?,
        command: node.opt_strings("command")?,
        args: node.opt_strings("args")?,
        working_dir: node.opt_string("workingDir")?,
        tty: node.flag("tty")?,
        stdin: node.flag("stdin")?,
        ..Container::default()
    };
    for item in node.list("env")? {
        c.env.push(env_var(&item)?);
    }
    for item in node.list("envFrom")? {
        c.env_from.push(env_from(&item)?);
    }
    for item in node.list("ports")? {
        c.ports.push(ContainerPort {
            name: item.opt_string("name")?,
            container_port: item.required("containerPort")?.as_port()?,
            host_port: item.opt_port("hostPort")?,
            host_ip: item.opt_string("hostIP")?,
            protocol: match item.field("protocol")? {
                Some(p) => protocol(&p)?,
                None => Protocol::Tcp,
            },
        });
    }
    // Only limits map to docker's --memory/--cpus; requests are a scheduler's business.
    if let Some(resources) = node.field("resources")? {
        if let Some(limits) = resources.field("limits")? {
            if let Some(memory) = limits.field("memory")? {
                c.memory_limit = Some(quantity_of(&memory, quantity::parse_memory)?);
            }
            if let Some(cpu) = limits.field("cpu")? {
                c.cpu_limit = Some(quantity_of(&cpu, quantity::parse_cpu)?);
            }
        }
    }
    for item in node.list("volumeMounts")? {
        let mount = VolumeMount {
            name: item.string("name")?,
            mount_path: item.string("mountPath")?,
            read_only: item.flag("readOnly")?,
            sub_path: item.opt_string("subPath")?.filter(|s| !s.is_empty()),
        };
        if !volumes.contains(mount.name.as_str()) {
            let name = item.required("name")?;
            return Err(name.error(format!("no volume named {}", mount.name)));
        }
        c.mounts.push(mount);
    }
    if let Some(security_node) = node.field("securityContext")? {
        c.security = security(&security_node)?;
    }
    if let Some(probe) = node.field("livenessProbe")? {
        c.liveness = liveness(&probe)?;
    }
    Ok(c)
}

/// A quantity written as a string or a bare YAML number.
fn quantity_of<T>(node: &Node, parse: fn(&str) -> Result<T, String>) -> Field<T> {
    let text = node
        .scalar_text()
        .ok_or_else(|| node.error("must be a quantity"))?;
    parse(&text).map_err(|reason| node.error(reason))
}

pub(crate) fn protocol(node: &Node) -> Field<Protocol> {
    match node.as_str()? {
        "TCP" => Ok(Protocol::Tcp),
        "UDP" => Ok(Protocol::Udp),
        "SCTP" => Ok(Protocol::Sctp),
        _ => Err(node.error("must be TCP, UDP or SCTP")),
    }
}

fn env_var(node: &Node) -> Field<EnvVar> {
    let name = node.string("name")?;
    let Some(from) = node.field("valueFrom")? else {
        let value = node.opt_string("value")?.unwrap_or_default();
        return Ok(EnvVar {
            name,
            value: EnvValue::Literal(value),
        });
    };
    let value = if let Some(r) = from.field("configMapKeyRef")? {
        EnvValue::ConfigMapKey {
            name: r.string("name")?,
            key: r.string("key")?,
            optional: r.flag("optional")?,
        }
    } else if let Some(r) = from.field("secretKeyRef")? {
        EnvValue::SecretKey {
            name: r.string("name")?,
            key: r.string("key")?,
            optional: r.flag("optional")?,
        }
    } else if let Some(r) = from.field("fieldRef")? {
        EnvValue::FieldRef(r.string("fieldPath")?)
    } else {
        return Err(from.error("berth resolves configMapKeyRef, secretKeyRef and fieldRef only"));
    };
    Ok(EnvVar { name, value })
}

fn env_from(node: &Node) -> Field<EnvFrom> {
    let prefix = node.opt_string("prefix")?.filter(|p| !p.is_empty());
    if let Some(r) = node.field("configMapRef")? {
        return Ok(EnvFrom::ConfigMap {
            name: r.string("name")?,
            prefix,
            optional: r.flag("optional")?,
        });
    }
    if let Some(r) = node.field("secretRef")? {
        return Ok(EnvFrom::Secret {
            name: r.string("name")?,
            prefix,
            optional: r.flag("optional")?,
        });
    }
    Err(node.error("needs configMapRef or secretRef"))
}

fn security(node: &Node) -> Field<Security> {
    let mut s = Security {
        privileged: node.flag("privileged")?,
        read_only_root_fs: node.flag("readOnlyRootFilesystem")?,
        run_as_user: node.opt_i64("runAsUser")?,
        run_as_group: node.opt_i64("runAsGroup")?,
        ..Security::default()
    };
    if let Some(caps) = node.field("capabilities")? {
        s.cap_add = caps.opt_strings("add")?.unwrap_or_default();
        s.cap_drop = caps.opt_strings("drop")?.unwrap_or_default();
    }
    Ok(s)
}

/// An exec liveness probe; None for httpGet, tcpSocket and grpc probes, which berth's
/// healthchecks (a command in the container) cannot express.
fn liveness(node: &Node) -> Field<Option<Probe>> {
    let Some(exec) = node.field("exec")? else {
        return Ok(None);
    };
    let command = exec.opt_strings("command")?.unwrap_or_default();
    if command.is_empty() {
        return Err(exec.required("command")?.error("must not be empty"));
    }
    let defaults = Probe::default();
    // Kubernetes' defaulting replaces a zero period, timeout or threshold with the default.
    let or_default =
        |value: Option<u32>, default: u32| value.filter(|&v| v != 0).unwrap_or(default);
    Ok(Some(Probe {
        command,
        period_s: or_default(node.opt_u32("periodSeconds")?, defaults.period_s),
        timeout_s: or_default(node.opt_u32("timeoutSeconds")?, defaults.timeout_s),
        failure_threshold: or_default(
            node.opt_u32("failureThreshold")?,
            defaults.failure_threshold,
        ),
        initial_delay_s: node.opt_u32("initialDelaySeconds")?.unwrap_or(0),
    }))
}

const HOST_PATH_TYPES: [&str; 7] = [
    "DirectoryOrCreate",
    "Directory",
    "FileOrCreate",
    "File",
    "Socket",
    "CharDevice",
    "BlockDevice",
];

fn key_items(node: &Node) -> Field<Vec<(String, String)>> {
    node.list("items")?
        .iter()
        .map(|item| Ok((item.string("key")?, item.string("path")?)))
        .collect()
}

fn volume(node: &Node) -> Field<Volume> {
    let name = node.string("name")?;
    let source = if let Some(claim) = node.field("persistentVolumeClaim")? {
        VolumeSource::Claim {
            claim_name: claim.string("claimName")?,
            read_only: claim.flag("readOnly")?,
        }
    } else if let Some(host) = node.field("hostPath")? {
        let kind = host.opt_string("type")?.filter(|t| !t.is_empty());
        if let Some(kind) = &kind {
            if !HOST_PATH_TYPES.contains(&kind.as_str()) {
                let reason = format!("must be one of {}", HOST_PATH_TYPES.join(", "));
                return Err(host.required("type")?.error(reason));
            }
        }
        VolumeSource::HostPath {
            path: host.string("path")?,
            kind,
        }
    } else if let Some(map) = node.field("configMap")? {
        VolumeSource::ConfigMap {
            name: map.string("name")?,
            items: key_items(&map)?,
            optional: map.flag("optional")?,
        }
    } else if let Some(secret) = node.field("secret")? {
        VolumeSource::Secret {
            name: secret.string("secretName")?,
            items: key_items(&secret)?,
            optional: secret.flag("optional")?,
        }
    } else if let Some(dir) = node.field("emptyDir")? {
        VolumeSource::EmptyDir {
            memory: dir.opt_string("medium")?.as_deref() == Some("Memory"),
        }
    } else {
        return Err(node.error(
            "volume type not supported; berth plays persistentVolumeClaim, hostPath, configMap, \
             secret and emptyDir",
        ));
    };
    Ok(Volume { name, source })
}
