//! berth's own model of what Kubernetes YAML describes: pods, their containers and the
//! documents around them (Deployment, Service, ConfigMap, Secret, PersistentVolumeClaim).
//!
//! The types carry only what berth maps (see the crate docs for the table); they are plain data,
//! so the CLI glue fills them from containers and the engine reads them without knowing YAML.

use std::collections::BTreeMap;

/// A pod: containers sharing one network namespace, as `kind: Pod` or a Deployment's template.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Pod {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub containers: Vec<Container>,
    pub restart_policy: RestartPolicy,
    pub hostname: Option<String>,
    pub volumes: Vec<Volume>,
}

/// `spec.restartPolicy`; Kubernetes' default is `Always`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RestartPolicy {
    #[default]
    Always,
    OnFailure,
    Never,
}

impl RestartPolicy {
    /// The spelling Kubernetes uses.
    pub fn as_str(self) -> &'static str {
        match self {
            RestartPolicy::Always => "Always",
            RestartPolicy::OnFailure => "OnFailure",
            RestartPolicy::Never => "Never",
        }
    }
}

/// One container of a pod.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Container {
    pub name: String,
    pub image: String,
    /// Kubernetes `command`, which replaces the image's ENTRYPOINT.
    pub command: Option<Vec<String>>,
    /// Kubernetes `args`, which replaces the image's CMD.
    pub args: Option<Vec<String>>,
    pub working_dir: Option<String>,
    pub env: Vec<EnvVar>,
    pub env_from: Vec<EnvFrom>,
    pub ports: Vec<ContainerPort>,
    /// `resources.limits.memory`, in bytes.
    pub memory_limit: Option<i64>,
    /// `resources.limits.cpu`, in CPUs (Kubernetes keeps millicores: 1m is the finest step).
    pub cpu_limit: Option<f64>,
    pub mounts: Vec<VolumeMount>,
    pub security: Security,
    pub liveness: Option<Probe>,
    pub tty: bool,
    pub stdin: bool,
}

/// A port the container listens on, and optionally the host port publishing it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ContainerPort {
    /// The port's name (an IANA service name), which a Service's `targetPort` may refer to.
    pub name: Option<String>,
    pub container_port: u16,
    pub host_port: Option<u16>,
    pub host_ip: Option<String>,
    pub protocol: Protocol,
}

/// A port's protocol; Kubernetes' default is TCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, PartialOrd, Ord, Hash)]
pub enum Protocol {
    #[default]
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    /// The spelling Kubernetes uses (`TCP`).
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }
}

/// An environment variable; its value may come from a ConfigMap or a Secret.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EnvVar {
    pub name: String,
    pub value: EnvValue,
}

/// Where an environment variable's value comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum EnvValue {
    Literal(String),
    ConfigMapKey {
        name: String,
        key: String,
        optional: bool,
    },
    SecretKey {
        name: String,
        key: String,
        optional: bool,
    },
    /// `valueFrom.fieldRef.fieldPath`: the pod's own metadata (`metadata.name`, …).
    FieldRef(String),
}

impl Default for EnvValue {
    fn default() -> Self {
        EnvValue::Literal(String::new())
    }
}

/// `envFrom`: every key of a ConfigMap or Secret as a variable, optionally prefixed.
#[derive(Debug, Clone, PartialEq)]
pub enum EnvFrom {
    ConfigMap {
        name: String,
        prefix: Option<String>,
        optional: bool,
    },
    Secret {
        name: String,
        prefix: Option<String>,
        optional: bool,
    },
}

/// `volumeMounts[]`: where a pod volume appears in a container.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VolumeMount {
    pub name: String,
    pub mount_path: String,
    pub read_only: bool,
    pub sub_path: Option<String>,
}

/// The container's `securityContext`. Capabilities are named as Kubernetes names them,
/// without the `CAP_` prefix (`NET_ADMIN`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Security {
    pub privileged: bool,
    pub read_only_root_fs: bool,
    pub run_as_user: Option<i64>,
    pub run_as_group: Option<i64>,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
}

/// A liveness probe that runs a command in the container (docker's HEALTHCHECK).
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// `exec.command`: argv, not a shell line (`CMD-SHELL x` is `["/bin/sh", "-c", "x"]`).
    pub command: Vec<String>,
    pub period_s: u32,
    pub timeout_s: u32,
    pub failure_threshold: u32,
    pub initial_delay_s: u32,
}

impl Default for Probe {
    /// Kubernetes' defaults for the timing fields.
    fn default() -> Self {
        Probe {
            command: Vec::new(),
            period_s: 10,
            timeout_s: 1,
            failure_threshold: 3,
            initial_delay_s: 0,
        }
    }
}

/// A pod volume (`spec.volumes[]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Volume {
    pub name: String,
    pub source: VolumeSource,
}

/// What backs a pod volume.
#[derive(Debug, Clone, PartialEq)]
pub enum VolumeSource {
    /// `persistentVolumeClaim`: a berth named volume of that name.
    Claim { claim_name: String, read_only: bool },
    /// `hostPath`; `kind` is Kubernetes' `type` (`Directory`, `DirectoryOrCreate`, `File`, …).
    HostPath { path: String, kind: Option<String> },
    /// `configMap`; `items` are (key, path) pairs, empty for every key.
    ConfigMap {
        name: String,
        items: Vec<(String, String)>,
        optional: bool,
    },
    /// `secret`; `items` are (key, path) pairs, empty for every key.
    Secret {
        name: String,
        items: Vec<(String, String)>,
        optional: bool,
    },
    /// `emptyDir`; `memory` for `medium: Memory` (a tmpfs).
    EmptyDir { memory: bool },
}

/// `kind: Deployment`: `replicas` copies of a pod template.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Deployment {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub replicas: u32,
    /// The template; its `name` is the Deployment's.
    pub template: Pod,
}

/// `kind: Service`: berth publishes its ports on the pods its selector matches.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Service {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub selector: BTreeMap<String, String>,
    pub ports: Vec<ServicePort>,
    pub kind: ServiceType,
}

/// `spec.type` of a Service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ServiceType {
    #[default]
    ClusterIp,
    NodePort,
    LoadBalancer,
    ExternalName,
}

impl ServiceType {
    /// The spelling Kubernetes uses.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceType::ClusterIp => "ClusterIP",
            ServiceType::NodePort => "NodePort",
            ServiceType::LoadBalancer => "LoadBalancer",
            ServiceType::ExternalName => "ExternalName",
        }
    }
}

/// One port of a Service.
#[derive(Debug, Clone, PartialEq)]
pub struct ServicePort {
    pub name: Option<String>,
    pub port: u16,
    pub target_port: TargetPort,
    pub node_port: Option<u16>,
    pub protocol: Protocol,
}

/// A Service port's `targetPort`: a number, or the name of a container port.
#[derive(Debug, Clone, PartialEq)]
pub enum TargetPort {
    Number(u16),
    Name(String),
}

/// `kind: ConfigMap`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConfigMap {
    pub name: String,
    pub data: BTreeMap<String, String>,
    pub binary_data: BTreeMap<String, Vec<u8>>,
}

/// `kind: Secret`: `data` (base64, decoded here) merged with `stringData`, which wins.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Secret {
    pub name: String,
    pub data: BTreeMap<String, Vec<u8>>,
}

/// `kind: PersistentVolumeClaim`: a berth named volume.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Claim {
    pub name: String,
    /// `spec.resources.requests.storage` as written (a quantity); berth's volumes have no size.
    pub storage: Option<String>,
}

/// One document of a YAML stream, of a kind berth plays.
#[derive(Debug, Clone, PartialEq)]
pub enum Document {
    Pod(Pod),
    Deployment(Deployment),
    Service(Service),
    ConfigMap(ConfigMap),
    Secret(Secret),
    Claim(Claim),
}

impl Document {
    /// The Kubernetes kind of this document.
    pub fn kind(&self) -> &'static str {
        match self {
            Document::Pod(_) => "Pod",
            Document::Deployment(_) => "Deployment",
            Document::Service(_) => "Service",
            Document::ConfigMap(_) => "ConfigMap",
            Document::Secret(_) => "Secret",
            Document::Claim(_) => "PersistentVolumeClaim",
        }
    }

    /// `metadata.name` of this document.
    pub fn name(&self) -> &str {
        match self {
            Document::Pod(p) => &p.name,
            Document::Deployment(d) => &d.name,
            Document::Service(s) => &s.name,
            Document::ConfigMap(c) => &c.name,
            Document::Secret(s) => &s.name,
            Document::Claim(c) => &c.name,
        }
    }
}
