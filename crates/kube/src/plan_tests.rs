//! plan of parsed streams: names, environment order, mounts, the publish set, warnings, errors.

use std::collections::BTreeMap;

use crate::model::*;
use crate::parse_tests::{DB, WEB};
use crate::plan::{MountPlan, Publish, ScratchVolume};
use crate::test_fixtures::rich_pod;
use crate::{generate, parse, plan, GenerateOptions, Kind, PlayPlan};

fn play(yaml: &str) -> PlayPlan {
    plan(parse(yaml).expect("parse")).expect("plan")
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn publish(host_port: u16, container_port: u16) -> Publish {
    Publish {
        host_ip: None,
        host_port,
        container_port,
        protocol: Protocol::Tcp,
    }
}

#[test]
fn deployment_replicas_and_service() {
    let plan = play(WEB);
    let names: Vec<_> = plan.pods.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["web-pod-0", "web-pod-1"]);
    assert_eq!(plan.pods[0].containers[0].name, "web-pod-0-nginx");
    assert_eq!(plan.pods[1].containers[0].name, "web-pod-1-nginx");
    // envFrom first (prefixed, in key order), then env: WEB_COLOR keeps its place, env wins.
    assert_eq!(
        plan.pods[0].containers[0].env,
        env(&[
            ("WEB_COLOR", "red"),
            ("WEB_GREETING", "hello"),
            ("LEVEL", "3")
        ])
    );
    // The Service's nodePort, to the container port named http, on the first replica only.
    assert_eq!(plan.pods[0].publish, vec![publish(30080, 80)]);
    assert_eq!(plan.pods[1].publish, Vec::new());
    assert_eq!(
        plan.warnings,
        ["service web: published on pod web-pod-0 only, not on web-pod-1 (a host port binds once)"]
    );
    assert_eq!(plan.pods[0].containers[0].memory, Some(128 << 20));
    assert_eq!(plan.pods[0].containers[0].cpus, Some(0.5));
    assert!(plan.volumes.is_empty());
}

#[test]
fn pod_with_claim_host_path_and_secret() {
    let plan = play(DB);
    assert_eq!(plan.volumes, ["db-data"]);
    assert_eq!(plan.warnings, Vec::<String>::new());
    let pod = &plan.pods[0];
    assert_eq!(
        (pod.name.as_str(), pod.restart_policy),
        ("db", RestartPolicy::Never)
    );
    assert_eq!(pod.publish, vec![publish(5432, 5432)]);
    let c = &pod.containers[0];
    assert_eq!(c.name, "db-postgres");
    assert_eq!(c.env, env(&[("POSTGRES_PASSWORD", "s3cr3t")]));
    assert_eq!(c.user.as_deref(), Some("999"));
    let mut files = BTreeMap::new();
    files.insert("password".to_string(), b"s3cr3t".to_vec());
    files.insert("user".to_string(), b"admin".to_vec());
    assert_eq!(
        c.mounts,
        vec![
            MountPlan::Volume {
                name: "db-data".into(),
                destination: "/var/lib/postgresql/data".into(),
                read_only: false,
                sub_path: None,
            },
            MountPlan::Bind {
                host_path: "/srv/db/conf".into(),
                destination: "/etc/postgresql".into(),
                read_only: true,
                kind: Some("Directory".into()),
            },
            MountPlan::Files {
                destination: "/run/secrets/db".into(),
                files,
                read_only: true,
            },
            MountPlan::File {
                destination: "/run/secrets/user".into(),
                content: b"admin".to_vec(),
                read_only: true,
            },
        ]
    );
    assert_eq!(c.liveness.as_ref().map(|p| p.period_s), Some(15));
}

#[test]
fn generated_rich_pod_plays() {
    let config = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata:\n  \
                  db_host: db.local\n  app.conf: 'debug = false'\n---\n";
    let secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\nstringData: \
                  {password: pw, tls.crt: CERT}\n---\n";
    let yaml = generate(
        &[rich_pod()],
        &GenerateOptions {
            kind: Kind::Pod,
            service: true,
        },
    )
    .expect("generate");
    let plan = play(&format!("{config}{secret}{yaml}"));
    let pod = &plan.pods[0];
    assert_eq!(plan.volumes, ["shop-data"]);
    // The container hostPorts, and nothing twice for the Service that repeats them.
    assert_eq!(
        pod.publish,
        vec![
            Publish {
                host_ip: Some("127.0.0.1".into()),
                ..publish(8080, 8000)
            },
            Publish {
                protocol: Protocol::Udp,
                ..publish(30053, 5353)
            },
        ]
    );
    assert_eq!(
        pod.scratch,
        vec![
            ScratchVolume {
                name: "shop-cache".into(),
                memory: true
            },
            ScratchVolume {
                name: "shop-scratch".into(),
                memory: false
            },
        ]
    );
    let app = &pod.containers[0];
    assert_eq!(
        app.env,
        env(&[
            ("APP_app.conf", "debug = false"),
            ("APP_db_host", "db.local"),
            ("password", "pw"),
            ("tls.crt", "CERT"),
            ("MODE", "production"),
            ("EMPTY", ""),
            ("NUMBERISH", "8080"),
            ("DEBUG", "yes"),
            ("CLOCK", "1:20"),
            ("DAY", "2001-12-14"),
            ("SCRIPT", "a: b\n  # not a comment\n\ttab \"q\" 'q' é"),
            ("DB_HOST", "db.local"),
            ("DB_PASSWORD", "pw"),
            ("POD_NAME", "shop"),
        ])
    );
    assert_eq!(app.user.as_deref(), Some("1000:1000"));
    assert_eq!(
        app.entrypoint.as_deref(),
        Some(&["/usr/bin/tini".to_string(), "--".into()][..])
    );
    assert!(app.tty && app.stdin);
    let config_files: BTreeMap<String, Vec<u8>> =
        [("conf/app.conf".to_string(), b"debug = false".to_vec())].into();
    assert_eq!(
        app.mounts[2],
        MountPlan::Files {
            destination: "/etc/app".into(),
            files: config_files,
            read_only: true
        }
    );
    assert_eq!(
        app.mounts[4],
        MountPlan::Volume {
            name: "shop-cache".into(),
            destination: "/cache".into(),
            read_only: false,
            sub_path: None
        }
    );
    assert_eq!(pod.containers[1].name, "shop-sidecar");
    assert!(pod.containers[1].security.privileged);
}

#[test]
fn host_ports_on_the_first_replica_only() {
    let yaml = "kind: Deployment\nmetadata: {name: api}\nspec:\n  replicas: 3\n  template:\n    \
                metadata: {labels: {app: api}}\n    spec:\n      containers:\n      - name: a\n        \
                image: i\n        ports: [{containerPort: 80, hostPort: 8080}, {containerPort: 53, \
                hostPort: 5353, protocol: UDP}]\n";
    let plan = play(yaml);
    let publishes: Vec<usize> = plan.pods.iter().map(|p| p.publish.len()).collect();
    assert_eq!(publishes, [2, 0, 0]);
    assert_eq!(
        plan.warnings,
        ["deployment api: only api-pod-0 publishes host ports 8080, 5353/udp (a host port binds \
          once per host)"]
    );
    let single = play(&yaml.replace("replicas: 3", "replicas: 1"));
    assert_eq!(single.pods[0].name, "api-pod");
    assert!(single.warnings.is_empty());
    let none = play(&yaml.replace("replicas: 3", "replicas: 0"));
    assert!(none.pods.is_empty());
    assert_eq!(none.warnings, ["deployment api has 0 replicas: no pod"]);
}

#[test]
fn services_that_publish_nothing_say_so() {
    let pod = "kind: Pod\nmetadata: {name: p, labels: {app: p}}\nspec:\n  containers:\n  - \
               name: c\n    image: i\n    ports: [{containerPort: 80, name: web}]\n---\n";
    let yaml = format!(
        "{pod}kind: Service\nmetadata: {{name: none}}\nspec: {{selector: {{app: q}}, ports: \
         [{{port: 80}}]}}\n---\nkind: Service\nmetadata: {{name: nosel}}\nspec: {{ports: \
         [{{port: 81}}]}}\n---\nkind: Service\nmetadata: {{name: named}}\nspec: {{selector: \
         {{app: p}}, ports: [{{port: 82, targetPort: api}}, {{port: 83, targetPort: web}}, \
         {{port: 84, targetPort: \"8080\"}}]}}\n"
    );
    let plan = play(&yaml);
    assert_eq!(
        plan.pods[0].publish,
        vec![publish(83, 80), publish(84, 8080)]
    );
    assert_eq!(
        plan.warnings,
        [
            "service none selects no pod: nothing published",
            "service nosel has no selector: nothing published",
            "service named: pod p has no port named api: port 82 not published",
        ]
    );
}

#[test]
fn optional_references_may_be_missing() {
    let yaml = "kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    image: i\n    \
                env:\n    - {name: A, valueFrom: {configMapKeyRef: {name: m, key: k, optional: true}}}\n    \
                - {name: B, valueFrom: {fieldRef: {fieldPath: status.podIP}}}\n    \
                envFrom: [{secretRef: {name: s, optional: true}}]\n    \
                volumeMounts: [{name: v, mountPath: /v}]\n  volumes:\n  - name: v\n    \
                configMap: {name: m, optional: true}\n";
    let plan = play(yaml);
    let c = &plan.pods[0].containers[0];
    assert!(c.env.is_empty(), "{:?}", c.env);
    assert_eq!(
        c.mounts,
        vec![MountPlan::Files {
            destination: "/v".into(),
            files: BTreeMap::new(),
            read_only: true
        }]
    );
    assert_eq!(
        plan.warnings,
        ["pod p container c: env B: fieldRef status.podIP has no value under berth; left unset"]
    );
}

#[test]
fn variables_expand_as_in_kubernetes() {
    let yaml = "kind: ConfigMap\nmetadata: {name: m}\ndata: {PORT: '8080'}\n---\nkind: Pod\n\
                metadata: {name: p}\nspec:\n  containers:\n  - name: c\n    image: i\n    \
                envFrom: [{configMapRef: {name: m}}]\n    env:\n    - {name: URL, value: \
                'http://localhost:$(PORT)/$(LATER)'}\n    - {name: LATER, value: x}\n    \
                - {name: COST, value: '$$(PORT) $5 $(PORT'}\n    command: ['serve', \
                '--port=$(PORT)', '--later=$(LATER)']\n    args: ['$(UNKNOWN)', '$$(PORT)']\n";
    let plan = play(yaml);
    let c = &plan.pods[0].containers[0];
    assert_eq!(
        c.env,
        env(&[
            ("PORT", "8080"),
            ("URL", "http://localhost:8080/$(LATER)"),
            ("LATER", "x"),
            ("COST", "$(PORT) $5 $(PORT"),
        ])
    );
    let argv = |items: &[&str]| Some(items.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    assert_eq!(c.entrypoint, argv(&["serve", "--port=8080", "--later=x"]));
    assert_eq!(c.cmd, argv(&["$(UNKNOWN)", "$(PORT)"]));
}

#[test]
fn plan_errors() {
    let pod = |body: &str| {
        format!(
            "kind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n  - name: c\n    image: i\n{body}"
        )
    };
    let cases: Vec<(String, &str)> = vec![
        (
            pod("    envFrom: [{configMapRef: {name: settings}}]\n"),
            "pod p container c: configmap settings not found",
        ),
        (
            pod("    env: [{name: X, valueFrom: {secretKeyRef: {name: s, key: k}}}]\n"),
            "pod p container c: secret s not found",
        ),
        (
            format!(
                "kind: ConfigMap\nmetadata: {{name: m}}\ndata: {{a: b}}\n---\n{}",
                pod("    env: [{name: X, valueFrom: {configMapKeyRef: {name: m, key: k}}}]\n")
            ),
            "pod p container c: key k not found in configmap m",
        ),
        (
            pod("    volumeMounts: [{name: v, mountPath: /v}]\n  volumes: [{name: v, secret: {secretName: tls}}]\n"),
            "pod p container c: secret tls not found",
        ),
        (
            format!(
                "kind: Secret\nmetadata: {{name: s}}\nstringData: {{a: b}}\n---\n{}",
                pod("    volumeMounts: [{name: v, mountPath: /v}]\n  volumes: [{name: v, secret: {secretName: s, items: [{key: a, path: ../a}]}}]\n")
            ),
            "pod p container c: path \"../a\" is not a relative path inside its volume",
        ),
        (
            format!("{}---\n{}", pod(""), pod("")),
            "pod p is defined twice",
        ),
        (
            format!(
                "{}---\n{}",
                pod("    ports: [{containerPort: 80, hostPort: 8080}]\n"),
                pod("    ports: [{containerPort: 81, hostPort: 8080}]\n").replace("name: p}", "name: q}")
            ),
            "host port 8080/TCP is published by both pod p and pod q",
        ),
        (
            pod("    ports: [{containerPort: 80, hostPort: 8080}, {containerPort: 81, hostPort: 8080}]\n"),
            "pod p: host port 8080/TCP is published to container ports 80 and 81",
        ),
    ];
    for (yaml, want) in cases {
        let docs = parse(&yaml).unwrap_or_else(|e| panic!("parse {want}: {e}"));
        let err = plan(docs).expect_err(want);
        assert_eq!(err.to_string(), want);
    }
}
