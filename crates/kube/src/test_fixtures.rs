//! Pods shared by the tests of both directions and the schema test.

use std::collections::BTreeMap;

use crate::model::*;

pub(crate) fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub(crate) fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

pub(crate) fn minimal_pod(name: &str) -> Pod {
    Pod {
        name: name.to_string(),
        containers: vec![Container {
            name: name.to_string(),
            image: "docker.io/library/nginx:1.27".into(),
            ..Container::default()
        }],
        ..Pod::default()
    }
}

/// A pod using every field of the model, with names already valid for Kubernetes so it comes
/// back unchanged.
pub(crate) fn rich_pod() -> Pod {
    let app = Container {
        name: "app".into(),
        image: "registry.example.com/shop/app:2.1".into(),
        command: Some(strings(&["/usr/bin/tini", "--"])),
        args: Some(strings(&["gunicorn", "-b", "0.0.0.0:8000", "app:app"])),
        working_dir: Some("/srv/app".into()),
        env: vec![
            EnvVar {
                name: "MODE".into(),
                value: EnvValue::Literal("production".into()),
            },
            EnvVar {
                name: "EMPTY".into(),
                value: EnvValue::Literal(String::new()),
            },
            EnvVar {
                name: "NUMBERISH".into(),
                value: EnvValue::Literal("8080".into()),
            },
            // Strings YAML 1.1 readers (kubectl, PyYAML) take for a bool, a sexagesimal
            // integer and a timestamp unless they are quoted.
            EnvVar {
                name: "DEBUG".into(),
                value: EnvValue::Literal("yes".into()),
            },
            EnvVar {
                name: "CLOCK".into(),
                value: EnvValue::Literal("1:20".into()),
            },
            EnvVar {
                name: "DAY".into(),
                value: EnvValue::Literal("2001-12-14".into()),
            },
            EnvVar {
                name: "SCRIPT".into(),
                value: EnvValue::Literal("a: b\n  # not a comment\n\ttab \"q\" 'q' é".into()),
            },
            EnvVar {
                name: "DB_HOST".into(),
                value: EnvValue::ConfigMapKey {
                    name: "settings".into(),
                    key: "db_host".into(),
                    optional: false,
                },
            },
            EnvVar {
                name: "DB_PASSWORD".into(),
                value: EnvValue::SecretKey {
                    name: "creds".into(),
                    key: "password".into(),
                    optional: true,
                },
            },
            EnvVar {
                name: "POD_NAME".into(),
                value: EnvValue::FieldRef("metadata.name".into()),
            },
        ],
        env_from: vec![
            EnvFrom::ConfigMap {
                name: "settings".into(),
                prefix: Some("APP_".into()),
                optional: false,
            },
            EnvFrom::Secret {
                name: "creds".into(),
                prefix: None,
                optional: true,
            },
        ],
        ports: vec![
            ContainerPort {
                name: Some("http".into()),
                container_port: 8000,
                host_port: Some(8080),
                host_ip: Some("127.0.0.1".into()),
                protocol: Protocol::Tcp,
            },
            ContainerPort {
                name: None,
                container_port: 5353,
                host_port: Some(30053),
                host_ip: None,
                protocol: Protocol::Udp,
            },
            ContainerPort {
                name: Some("metrics".into()),
                container_port: 9100,
                host_port: None,
                host_ip: None,
                protocol: Protocol::Tcp,
            },
        ],
        memory_limit: Some(256 << 20),
        cpu_limit: Some(1.5),
        mounts: vec![
            VolumeMount {
                name: "data".into(),
                mount_path: "/var/lib/app".into(),
                read_only: false,
                sub_path: Some("app".into()),
            },
            VolumeMount {
                name: "logs".into(),
                mount_path: "/var/log/app".into(),
                read_only: true,
                sub_path: None,
            },
            VolumeMount {
                name: "config".into(),
                mount_path: "/etc/app".into(),
                read_only: true,
                sub_path: None,
            },
            VolumeMount {
                name: "tls".into(),
                mount_path: "/etc/tls".into(),
                read_only: true,
                sub_path: None,
            },
            VolumeMount {
                name: "cache".into(),
                mount_path: "/cache".into(),
                read_only: false,
                sub_path: None,
            },
        ],
        security: Security {
            privileged: false,
            read_only_root_fs: true,
            run_as_user: Some(1000),
            run_as_group: Some(1000),
            cap_add: strings(&["NET_BIND_SERVICE"]),
            cap_drop: strings(&["ALL"]),
        },
        liveness: Some(Probe {
            command: strings(&["/bin/sh", "-c", "curl -fs http://localhost:8000/health"]),
            period_s: 30,
            timeout_s: 5,
            failure_threshold: 4,
            initial_delay_s: 10,
        }),
        tty: true,
        stdin: true,
    };
    let sidecar = Container {
        name: "sidecar".into(),
        image: "busybox:1.36".into(),
        args: Some(strings(&["sh", "-c", "tail -F /var/log/app/app.log"])),
        memory_limit: Some(1000),
        cpu_limit: Some(0.25),
        mounts: vec![VolumeMount {
            name: "logs".into(),
            mount_path: "/var/log/app".into(),
            read_only: false,
            sub_path: None,
        }],
        security: Security {
            privileged: true,
            ..Security::default()
        },
        ..Container::default()
    };
    Pod {
        name: "shop".into(),
        labels: labels(&[("app.kubernetes.io/name", "shop"), ("tier", "web")]),
        containers: vec![app, sidecar],
        restart_policy: RestartPolicy::OnFailure,
        hostname: Some("shop-host".into()),
        volumes: vec![
            Volume {
                name: "data".into(),
                source: VolumeSource::Claim {
                    claim_name: "shop-data".into(),
                    read_only: false,
                },
            },
            Volume {
                name: "logs".into(),
                source: VolumeSource::HostPath {
                    path: "/var/log/shop".into(),
                    kind: Some("DirectoryOrCreate".into()),
                },
            },
            Volume {
                name: "config".into(),
                source: VolumeSource::ConfigMap {
                    name: "settings".into(),
                    items: vec![("app.conf".into(), "conf/app.conf".into())],
                    optional: false,
                },
            },
            Volume {
                name: "tls".into(),
                source: VolumeSource::Secret {
                    name: "creds".into(),
                    items: Vec::new(),
                    optional: true,
                },
            },
            Volume {
                name: "cache".into(),
                source: VolumeSource::EmptyDir { memory: true },
            },
            Volume {
                name: "scratch".into(),
                source: VolumeSource::EmptyDir { memory: false },
            },
        ],
    }
}
