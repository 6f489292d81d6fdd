//! parse of hand-written YAML, in the style of the Kubernetes docs, and its errors.

use std::collections::BTreeMap;

use crate::model::*;
use crate::parse;
use crate::test_fixtures::{labels, strings};

/// A Deployment with 2 replicas, a ConfigMap used through envFrom, and a Service.
pub(crate) const WEB: &str = r#"
# the docs' usual three documents
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
data:
  GREETING: hello
  COLOR: blue
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
        ports:
        - name: http
          containerPort: 80
        envFrom:
        - configMapRef:
            name: web-config
          prefix: WEB_
        env:
        - name: WEB_COLOR
          value: red
        - name: LEVEL
          value: "3"
        resources:
          limits:
            memory: 128Mi
            cpu: 0.5
          requests:
            cpu: 250m
        imagePullPolicy: IfNotPresent
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  type: NodePort
  selector:
    app: web
  ports:
  - port: 8080
    targetPort: http
    nodePort: 30080
"#;

/// A Pod with a PersistentVolumeClaim, a hostPath and a Secret volume.
pub(crate) const DB: &str = r#"
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: db-data
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 1Gi
---
---
apiVersion: v1
kind: Secret
metadata:
  name: db-secret
type: Opaque
data:
  password: czNjcjN0
  user: bm9ib2R5
stringData:
  user: admin
---
apiVersion: v1
kind: Pod
metadata:
  name: db
  labels: {app: db}
spec:
  restartPolicy: Never
  securityContext:
    runAsUser: 999
  containers:
  - name: postgres
    image: postgres:16
    env:
    - name: POSTGRES_PASSWORD
      valueFrom:
        secretKeyRef: {name: db-secret, key: password}
    ports:
    - containerPort: 5432
      hostPort: 5432
    volumeMounts:
    - {name: data, mountPath: /var/lib/postgresql/data}
    - {name: host-conf, mountPath: /etc/postgresql, readOnly: true}
    - {name: secrets, mountPath: /run/secrets/db}
    - {name: secrets, mountPath: /run/secrets/user, subPath: user}
    livenessProbe:
      exec:
        command: [pg_isready, -U, postgres]
      periodSeconds: 15
  volumes:
  - name: data
    persistentVolumeClaim: {claimName: db-data}
  - name: host-conf
    hostPath: {path: /srv/db/conf, type: Directory}
  - name: secrets
    secret: {secretName: db-secret}
"#;

fn mount(name: &str, path: &str, read_only: bool, sub_path: Option<&str>) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        read_only,
        sub_path: sub_path.map(str::to_string),
    }
}

#[test]
fn deployment_configmap_service() {
    let docs = parse(WEB).expect("parse");
    let nginx = Container {
        name: "nginx".into(),
        image: "nginx:1.27".into(),
        env: vec![
            EnvVar {
                name: "WEB_COLOR".into(),
                value: EnvValue::Literal("red".into()),
            },
            EnvVar {
                name: "LEVEL".into(),
                value: EnvValue::Literal("3".into()),
            },
        ],
        env_from: vec![EnvFrom::ConfigMap {
            name: "web-config".into(),
            prefix: Some("WEB_".into()),
            optional: false,
        }],
        ports: vec![ContainerPort {
            name: Some("http".into()),
            container_port: 80,
            ..ContainerPort::default()
        }],
        memory_limit: Some(128 << 20),
        cpu_limit: Some(0.5),
        ..Container::default()
    };
    let want = vec![
        Document::ConfigMap(ConfigMap {
            name: "web-config".into(),
            data: labels(&[("GREETING", "hello"), ("COLOR", "blue")]),
            binary_data: BTreeMap::new(),
        }),
        Document::Deployment(Deployment {
            name: "web".into(),
            labels: labels(&[("app", "web")]),
            replicas: 2,
            template: Pod {
                name: "web".into(),
                labels: labels(&[("app", "web")]),
                containers: vec![nginx],
                ..Pod::default()
            },
        }),
        Document::Service(Service {
            name: "web".into(),
            labels: BTreeMap::new(),
            selector: labels(&[("app", "web")]),
            ports: vec![ServicePort {
                name: None,
                port: 8080,
                target_port: TargetPort::Name("http".into()),
                node_port: Some(30080),
                protocol: Protocol::Tcp,
            }],
            kind: ServiceType::NodePort,
        }),
    ];
    assert_eq!(docs, want);
}

#[test]
fn pod_with_claim_host_path_and_secret() {
    let docs = parse(DB).expect("parse");
    let postgres = Container {
        name: "postgres".into(),
        image: "postgres:16".into(),
        env: vec![EnvVar {
            name: "POSTGRES_PASSWORD".into(),
            value: EnvValue::SecretKey {
                name: "db-secret".into(),
                key: "password".into(),
                optional: false,
            },
        }],
        ports: vec![ContainerPort {
            container_port: 5432,
            host_port: Some(5432),
            ..ContainerPort::default()
        }],
        mounts: vec![
            mount("data", "/var/lib/postgresql/data", false, None),
            mount("host-conf", "/etc/postgresql", true, None),
            mount("secrets", "/run/secrets/db", false, None),
            mount("secrets", "/run/secrets/user", false, Some("user")),
        ],
        security: Security {
            run_as_user: Some(999),
            ..Security::default()
        },
        liveness: Some(Probe {
            command: strings(&["pg_isready", "-U", "postgres"]),
            period_s: 15,
            ..Probe::default()
        }),
        ..Container::default()
    };
    let mut secret = BTreeMap::new();
    secret.insert("password".to_string(), b"s3cr3t".to_vec());
    secret.insert("user".to_string(), b"admin".to_vec());
    let want = vec![
        Document::Claim(Claim {
            name: "db-data".into(),
            storage: Some("1Gi".into()),
        }),
        Document::Secret(Secret {
            name: "db-secret".into(),
            data: secret,
        }),
        Document::Pod(Pod {
            name: "db".into(),
            labels: labels(&[("app", "db")]),
            containers: vec![postgres],
            restart_policy: RestartPolicy::Never,
            hostname: None,
            volumes: vec![
                Volume {
                    name: "data".into(),
                    source: VolumeSource::Claim {
                        claim_name: "db-data".into(),
                        read_only: false,
                    },
                },
                Volume {
                    name: "host-conf".into(),
                    source: VolumeSource::HostPath {
                        path: "/srv/db/conf".into(),
                        kind: Some("Directory".into()),
                    },
                },
                Volume {
                    name: "secrets".into(),
                    source: VolumeSource::Secret {
                        name: "db-secret".into(),
                        items: Vec::new(),
                        optional: false,
                    },
                },
            ],
        }),
    ];
    assert_eq!(docs, want);
}

#[test]
fn quantities_as_kubernetes_writes_them() {
    let cases: &[(&str, &str, Option<i64>, Option<f64>)] = &[
        ("1G", "1", Some(1_000_000_000), Some(1.0)),
        ("128974848", "0.5", Some(128_974_848), Some(0.5)),
        ("1e3", "500m", Some(1000), Some(0.5)),
        ("129e6", "2", Some(129_000_000), Some(2.0)),
        ("0.5Gi", "1500m", Some(512 << 20), Some(1.5)),
    ];
    for (memory, cpu, want_memory, want_cpu) in cases {
        for quote in ["", "\""] {
            let yaml = format!(
                "kind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n  - name: c\n    \
                 image: i\n    resources:\n      limits: {{memory: {quote}{memory}{quote}, \
                 cpu: {quote}{cpu}{quote}}}\n"
            );
            let docs = parse(&yaml).unwrap_or_else(|e| panic!("{memory} {cpu}: {e}"));
            let Document::Pod(pod) = &docs[0] else {
                panic!("not a pod");
            };
            let c = &pod.containers[0];
            assert_eq!((c.memory_limit, c.cpu_limit), (*want_memory, *want_cpu));
        }
    }
}

#[test]
fn lenient_where_kubernetes_is() {
    // Comments, empty documents, unknown fields, nulls, merge keys, a pod-level user that a
    // container overrides.
    let yaml = r#"
---
# nothing here
---
apiVersion: v1
kind: Pod
metadata:
  name: p
  namespace: prod
  annotations: {note: x}
  labels: null
spec:
  nodeSelector: {disk: ssd}
  securityContext: {runAsUser: 1, runAsGroup: 2}
  containers:
  - &base
    name: a
    image: busybox
    futureField: {x: 1}
    readinessProbe: {httpGet: {path: /, port: 80}}
    livenessProbe: {tcpSocket: {port: 80}}
  - <<: *base
    name: b
    securityContext: {runAsUser: 3, privileged: yes, readOnlyRootFilesystem: Off}
    tty: on
"#;
    let docs = parse(yaml).expect("parse");
    assert_eq!(docs.len(), 1);
    let Document::Pod(pod) = &docs[0] else {
        panic!("not a pod");
    };
    assert!(pod.labels.is_empty());
    let users: Vec<_> = pod
        .containers
        .iter()
        .map(|c| {
            (
                c.name.as_str(),
                c.security.run_as_user,
                c.security.run_as_group,
            )
        })
        .collect();
    assert_eq!(
        users,
        vec![("a", Some(1), Some(2)), ("b", Some(3), Some(2))]
    );
    assert_eq!(
        pod.containers[0].liveness, None,
        "tcpSocket probes are not mapped"
    );
    assert_eq!(parse("").expect("empty stream"), Vec::new());
}

fn pod_with(container_extra: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - name: \
         app\n    image: nginx\n{container_extra}"
    )
}

#[test]
fn errors_name_document_and_path() {
    let supported = "berth plays Pod, Deployment, Service, ConfigMap, Secret and \
                     PersistentVolumeClaim";
    let bad_port = pod_with("    ports:\n    - containerPort: 80\n    - containerPort: x\n");
    let unsupported_after_bad =
        format!("{bad_port}---\napiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: db\n");
    let cases: Vec<(String, String)> = vec![
        (
            unsupported_after_bad,
            format!("document 2 (StatefulSet db): kind StatefulSet is not supported; {supported}"),
        ),
        (
            "kind: Namespace\nmetadata: {}\n".into(),
            format!("document 1 (Namespace (unnamed)): kind Namespace is not supported; {supported}"),
        ),
        (
            bad_port,
            "document 1 (Pod web): spec.containers[0].ports[1].containerPort: not a port number"
                .into(),
        ),
        (
            pod_with("    ports:\n    - {containerPort: 80, hostPort: 70000}\n"),
            "document 1 (Pod web): spec.containers[0].ports[0].hostPort: not a port number".into(),
        ),
        (
            pod_with("    ports:\n    - {containerPort: \"80\"}\n"),
            "document 1 (Pod web): spec.containers[0].ports[0].containerPort: not a port number"
                .into(),
        ),
        (
            pod_with("    resources: {limits: {memory: 12Q}}\n"),
            "document 1 (Pod web): spec.containers[0].resources.limits.memory: \"12Q\" is not a \
             quantity (like 128Mi, 1G, 500m or 0.5)"
                .into(),
        ),
        (
            pod_with("    resources: {limits: {cpu: -1}}\n"),
            "document 1 (Pod web): spec.containers[0].resources.limits.cpu: \"-1\" is negative"
                .into(),
        ),
        (
            pod_with("    env:\n    - {name: PORT, value: 8080}\n"),
            "document 1 (Pod web): spec.containers[0].env[0].value: must be a string".into(),
        ),
        (
            pod_with("    volumeMounts:\n    - {name: data, mountPath: /d}\n"),
            "document 1 (Pod web): spec.containers[0].volumeMounts[0].name: no volume named data"
                .into(),
        ),
        (
            pod_with("    tty: yes please\n"),
            "document 1 (Pod web): spec.containers[0].tty: must be true or false".into(),
        ),
        (
            pod_with("  volumes:\n  - {name: n, nfs: {server: s, path: /}}\n"),
            "document 1 (Pod web): spec.volumes[0]: volume type not supported; berth plays \
             persistentVolumeClaim, hostPath, configMap, secret and emptyDir"
                .into(),
        ),
        (
            pod_with("  restartPolicy: Sometimes\n"),
            "document 1 (Pod web): spec.restartPolicy: must be Always, OnFailure or Never".into(),
        ),
        (
            "kind: Pod\nmetadata: {name: web}\nspec: {containers: []}\n".into(),
            "document 1 (Pod web): spec.containers: at least one container is required".into(),
        ),
        (
            "kind: Pod\nmetadata: {name: web}\nspec:\n  containers:\n  - name: a\n".into(),
            "document 1 (Pod web): spec.containers[0].image: required".into(),
        ),
        (
            "kind: Secret\nmetadata: {name: s}\ndata: {k: '***'}\n".into(),
            "document 1 (Secret s): data.k: not valid base64".into(),
        ),
        (
            "kind: Deployment\nmetadata: {name: d}\nspec: {replicas: -1, template: {}}\n".into(),
            "document 1 (Deployment d): spec.replicas: must be a non-negative integer".into(),
        ),
        (
            "kind: Service\nmetadata: {name: s, labels: {a: 1}}\n".into(),
            "document 1 (Service s): metadata.labels.a: must be a string".into(),
        ),
        (
            "metadata: {name: x}\n".into(),
            "document 1: no kind".into(),
        ),
        (
            "kind: Pod\nspec: {}\n".into(),
            "document 1: Pod has no metadata.name".into(),
        ),
        ("- a\n- b\n".into(), "document 1: invalid yaml: not a mapping (a Kubernetes object has apiVersion, kind and metadata)".into()),
    ];
    for (yaml, want) in cases {
        let err = parse(&yaml).expect_err(&want);
        assert_eq!(err.to_string(), want, "for\n{yaml}");
    }
    let err = parse("kind: Pod\n---\nkind: [unclosed\n").expect_err("bad yaml");
    assert!(
        err.to_string().starts_with("document 2: invalid yaml: "),
        "{err}"
    );
}
