//! `berth info`'s data: docker's `types.Info`, the fields berth can answer truly.

use berth_store::ContainerState;
use std::collections::BTreeMap;

use serde::Serialize;

use super::{host, BuildInfo};
use crate::distribution::RegistrySettings;
use crate::{Engine, EngineError};

/// docker's `GET /info` body (the fields berth has), in docker's key order.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SystemInfo {
    pub containers: usize,
    pub containers_running: usize,
    pub containers_paused: usize,
    pub containers_stopped: usize,
    pub images: usize,
    pub driver: String,
    /// `[name, value]` pairs, as docker's.
    pub driver_status: Vec<[String; 2]>,
    pub plugins: Plugins,
    pub debug: bool,
    pub system_time: String,
    pub logging_driver: String,
    pub cgroup_driver: String,
    pub cgroup_version: String,
    pub kernel_version: String,
    pub operating_system: String,
    #[serde(rename = "OSVersion")]
    pub os_version: String,
    #[serde(rename = "OSType")]
    pub os_type: String,
    pub architecture: String,
    pub index_server_address: String,
    pub registry_config: RegistryConfig,
    #[serde(rename = "NCPU")]
    pub ncpu: usize,
    pub mem_total: u64,
    pub docker_root_dir: String,
    pub name: String,
    pub labels: Vec<String>,
    pub experimental_build: bool,
    pub server_version: String,
    pub runtimes: BTreeMap<String, Runtime>,
    pub default_runtime: String,
    pub live_restore_enabled: bool,
    pub security_options: Vec<String>,
    pub warnings: Vec<String>,
}

/// The drivers berth has, by kind.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Plugins {
    pub volume: Vec<String>,
    pub network: Vec<String>,
    pub authorization: Option<Vec<String>>,
    pub log: Vec<String>,
}

/// `RegistryConfig`: where pulls go, from `/etc/berth/config.json` (docker's daemon.json keys).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RegistryConfig {
    #[serde(rename = "InsecureRegistryCIDRs")]
    pub insecure_registry_cidrs: Vec<String>,
    /// docker.io, and each registry named (not given as a network) as insecure.
    pub index_configs: BTreeMap<String, IndexConfig>,
    pub mirrors: Vec<String>,
}

/// One registry's settings in `RegistryConfig.IndexConfigs`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct IndexConfig {
    pub name: String,
    pub mirrors: Vec<String>,
    pub secure: bool,
    pub official: bool,
}

/// An OCI runtime: berth runs containers with libcontainer from its own binary.
#[derive(Debug, Clone, Serialize)]
pub struct Runtime {
    pub path: String,
}

/// The runtime's name in `Runtimes` and `DefaultRuntime`.
const RUNTIME: &str = "libcontainer";

impl Engine {
    /// What `berth info` shows: the store's counts, the host and the configuration.
    pub fn system_info(&self) -> Result<SystemInfo, EngineError> {
        let containers = self.reconcile_all()?;
        let count = |states: &[ContainerState]| {
            containers
                .iter()
                .filter(|c| states.contains(&c.state))
                .count()
        };
        let running = count(&[ContainerState::Running, ContainerState::Restarting]);
        let paused = count(&[ContainerState::Paused]);
        let images = self.store.meta.read(|tx| tx.images())?.len();
        let root = self.store.root().to_path_buf();
        let (operating_system, os_version) = host::os_release();
        let registry = RegistrySettings::load()?;
        let cgroup_version = host::cgroup_version();
        let mut security_options = vec!["name=seccomp,profile=builtin".to_string()];
        if cgroup_version == "2" {
            // Containers get their own cgroup namespace on a unified hierarchy.
            security_options.push("name=cgroupns".into());
        }
        let mut driver_status = Vec::new();
        if let Some(fs) = host::backing_filesystem(&root) {
            driver_status.push(["Backing Filesystem".to_string(), fs]);
        }
        Ok(SystemInfo {
            containers: containers.len(),
            containers_running: running,
            containers_paused: paused,
            containers_stopped: containers.len() - running - paused,
            images,
            driver: "overlay2".into(),
            driver_status,
            plugins: Plugins {
                volume: vec!["local".into()],
                network: vec!["bridge".into(), "host".into(), "null".into()],
                authorization: None,
                log: vec!["json-file".into()],
            },
            debug: false,
            system_time: chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            logging_driver: "json-file".into(),
            cgroup_driver: "cgroupfs".into(),
            cgroup_version: cgroup_version.into(),
            kernel_version: host::kernel_version(),
            operating_system,
            os_version,
            os_type: "linux".into(),
            architecture: std::env::consts::ARCH.into(),
            index_server_address: "https://index.docker.io/v1/".into(),
            registry_config: registry_config(&registry),
            ncpu: host::ncpu(),
            mem_total: host::mem_total(),
            docker_root_dir: root.display().to_string(),
            name: host::hostname(),
            labels: Vec::new(),
            experimental_build: false,
            server_version: BuildInfo::current().version.into(),
            runtimes: BTreeMap::from([(
                RUNTIME.to_string(),
                Runtime {
                    path: self.exe.display().to_string(),
                },
            )]),
            default_runtime: RUNTIME.into(),
            live_restore_enabled: false,
            security_options,
            warnings: Vec::new(),
        })
    }
}

/// The registry client always allows plain HTTP to loopback (as docker's default
/// `127.0.0.0/8`); the rest comes from the config.
fn registry_config(s: &RegistrySettings) -> RegistryConfig {
    let mut cidrs = vec!["::1/128".to_string(), "127.0.0.0/8".to_string()];
    let mut index = BTreeMap::from([(
        "docker.io".to_string(),
        IndexConfig {
            name: "docker.io".into(),
            mirrors: s.registry_mirrors.clone(),
            secure: true,
            official: true,
        },
    )]);
    for r in &s.insecure_registries {
        if r.contains('/') {
            cidrs.push(r.clone());
        } else {
            index.insert(
                r.clone(),
                IndexConfig {
                    name: r.clone(),
                    mirrors: Vec::new(),
                    secure: false,
                    official: false,
                },
            );
        }
    }
    RegistryConfig {
        insecure_registry_cidrs: cidrs,
        index_configs: index,
        mirrors: s.registry_mirrors.clone(),
    }
}
