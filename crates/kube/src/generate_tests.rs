//! generate → parse gives the model back, and generate's own rules (names, labels, Services).

use crate::model::*;
use crate::test_fixtures::{labels, minimal_pod, rich_pod, strings};
use crate::{generate, parse, GenerateOptions, Kind, KubeError};

const POD: GenerateOptions = GenerateOptions {
    kind: Kind::Pod,
    service: false,
};
const POD_SVC: GenerateOptions = GenerateOptions {
    kind: Kind::Pod,
    service: true,
};
const DEPLOY: GenerateOptions = GenerateOptions {
    kind: Kind::Deployment,
    service: false,
};
const DEPLOY_SVC: GenerateOptions = GenerateOptions {
    kind: Kind::Deployment,
    service: true,
};

fn round_trip(pods: &[Pod], opts: &GenerateOptions) -> Vec<Document> {
    let yaml = generate(pods, opts).expect("generate");
    parse(&yaml).unwrap_or_else(|e| panic!("parse back: {e}\n{yaml}"))
}

/// `pod` as it comes back inside a Deployment: with the `app` label and restarting Always.
fn as_template(mut pod: Pod) -> Pod {
    let name = pod.name.clone();
    pod.labels.entry("app".into()).or_insert(name);
    pod.restart_policy = RestartPolicy::Always;
    pod
}

/// The Service generate writes for the rich pod: its two host ports, nodePort only in range.
fn rich_service(selector: &std::collections::BTreeMap<String, String>) -> Service {
    Service {
        name: "shop".into(),
        labels: selector.clone(),
        selector: selector.clone(),
        ports: vec![
            ServicePort {
                name: Some("8080-tcp".into()),
                port: 8080,
                target_port: TargetPort::Number(8000),
                node_port: None,
                protocol: Protocol::Tcp,
            },
            ServicePort {
                name: Some("30053-udp".into()),
                port: 30053,
                target_port: TargetPort::Number(5353),
                node_port: Some(30053),
                protocol: Protocol::Udp,
            },
        ],
        kind: ServiceType::NodePort,
    }
}

#[test]
fn round_trips() {
    let rich = rich_pod();
    let mut with_app = rich.clone();
    with_app.labels.insert("app".into(), "shop".into());
    let templated = as_template(rich.clone());
    let deployment = Deployment {
        name: "shop".into(),
        labels: templated.labels.clone(),
        replicas: 1,
        template: templated.clone(),
    };
    let cases: Vec<(&str, Vec<Pod>, GenerateOptions, Vec<Document>)> = vec![
        (
            "minimal pod",
            vec![minimal_pod("web")],
            POD,
            vec![Document::Pod(minimal_pod("web"))],
        ),
        (
            "rich pod",
            vec![rich.clone()],
            POD,
            vec![Document::Pod(rich.clone()), claim()],
        ),
        (
            "rich pod and service",
            vec![rich.clone()],
            POD_SVC,
            vec![
                Document::Pod(with_app.clone()),
                Document::Service(rich_service(&with_app.labels)),
                claim(),
            ],
        ),
        (
            "rich deployment",
            vec![rich.clone()],
            DEPLOY,
            vec![Document::Deployment(deployment.clone()), claim()],
        ),
        (
            "deployment and service",
            vec![rich.clone()],
            DEPLOY_SVC,
            vec![
                Document::Deployment(deployment),
                Document::Service(rich_service(&templated.labels)),
                claim(),
            ],
        ),
        (
            "two pods, no host port means no service",
            vec![minimal_pod("a"), minimal_pod("b")],
            POD_SVC,
            vec![
                Document::Pod(as_labelled(minimal_pod("a"))),
                Document::Pod(as_labelled(minimal_pod("b"))),
            ],
        ),
    ];
    for (what, pods, opts, want) in cases {
        assert_eq!(round_trip(&pods, &opts), want, "{what}");
    }
}

/// The claim generate writes after the rich pod, which names `shop-data`.
fn claim() -> Document {
    Document::Claim(Claim {
        name: "shop-data".into(),
        storage: Some(crate::generate::CLAIM_SIZE.into()),
    })
}

fn as_labelled(mut pod: Pod) -> Pod {
    pod.labels.insert("app".into(), pod.name.clone());
    pod
}

#[test]
fn names_become_dns_labels() {
    let mut pod = minimal_pod("My_App");
    pod.containers[0].name = "web_1".into();
    pod.hostname = Some("Web.Example".into());
    pod.volumes.push(Volume {
        name: "data_vol".into(),
        source: VolumeSource::Claim {
            claim_name: "my_data".into(),
            read_only: true,
        },
    });
    pod.containers[0].mounts.push(VolumeMount {
        name: "data_vol".into(),
        mount_path: "/data".into(),
        ..VolumeMount::default()
    });
    let docs = round_trip(&[pod], &POD);
    let Document::Pod(back) = &docs[0] else {
        panic!("not a pod: {docs:?}");
    };
    assert_eq!(back.name, "my-app");
    assert_eq!(back.containers[0].name, "web-1");
    assert_eq!(back.hostname.as_deref(), Some("web-example"));
    assert_eq!(back.volumes[0].name, "data-vol");
    assert_eq!(back.containers[0].mounts[0].name, "data-vol");
    assert_eq!(
        back.volumes[0].source,
        VolumeSource::Claim {
            claim_name: "my-data".into(),
            read_only: true
        }
    );
}

#[test]
fn labels_kubernetes_refuses_become_annotations() {
    let mut pod = minimal_pod("web");
    pod.labels = labels(&[
        ("tier", "web"),
        ("description", "My web site"),
        ("bad key", "x"),
    ]);
    let yaml = generate(&[pod], &POD).expect("generate");
    assert!(
        yaml.contains("annotations:\n    description: My web site"),
        "{yaml}"
    );
    assert!(!yaml.contains("bad key"), "{yaml}");
    let docs = parse(&yaml).expect("parse");
    let Document::Pod(back) = &docs[0] else {
        panic!("not a pod");
    };
    assert_eq!(back.labels, labels(&[("tier", "web")]));
}

#[test]
fn yaml_shape() {
    let mut pod = rich_pod();
    pod.containers[0].security.cap_add = strings(&["cap_net_admin"]);
    let yaml = generate(&[pod, minimal_pod("second")], &DEPLOY_SVC).expect("generate");
    for want in [
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: shop\n",
        "\n---\napiVersion: v1\nkind: Service\n",
        "\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: second\n",
        "  replicas: 1\n  selector:\n    matchLabels:\n",
        "memory: \"256Mi\"",
        "cpu: \"1500m\"",
        "memory: \"1000\"",
        "cpu: \"250m\"",
        "- NET_ADMIN",
        "type: NodePort",
        "restartPolicy: Always",
        // The claim the pod names, sized for a cluster.
        "\n---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: shop-data\n",
        "storage: \"1Gi\"",
    ] {
        assert!(yaml.contains(want), "missing {want:?} in\n{yaml}");
    }
    // Deployment, Service, Deployment (no host port: no Service), claim.
    assert_eq!(yaml.matches("\n---\n").count(), 3, "{yaml}");
}

#[test]
fn generate_errors() {
    let mut no_container = minimal_pod("empty");
    no_container.containers.clear();
    let mut collide = minimal_pod("web");
    let mut twin = collide.containers[0].clone();
    collide.containers[0].name = "my_app".into();
    twin.name = "my.app".into();
    collide.containers.push(twin);
    let mut no_image = minimal_pod("web");
    no_image.containers[0].image.clear();
    let mut stray_mount = minimal_pod("web");
    stray_mount.containers[0].mounts.push(VolumeMount {
        name: "nowhere".into(),
        mount_path: "/x".into(),
        ..VolumeMount::default()
    });
    let mut bad_port_name = minimal_pod("web");
    bad_port_name.containers[0].ports.push(ContainerPort {
        name: Some("HTTP_Port".into()),
        container_port: 80,
        ..ContainerPort::default()
    });
    let cases: Vec<(Vec<Pod>, &str)> = vec![
        (
            vec![bad_port_name],
            "pod web: container web: port name \"HTTP_Port\" is not an IANA service name (at \
             most 15 lowercase letters, digits and '-')",
        ),
        (vec![no_container], "pod empty: no container"),
        (
            vec![collide],
            "pod web: containers my_app and my.app both become my-app",
        ),
        (vec![no_image], "pod web: container web has no image"),
        (
            vec![stray_mount],
            "pod web: container web mounts volume nowhere, which the pod does not define",
        ),
        (
            vec![minimal_pod("Web"), minimal_pod("web")],
            "pod web is defined twice",
        ),
    ];
    for (pods, want) in cases {
        let err = generate(&pods, &POD).expect_err(want);
        assert_eq!(err.to_string(), want);
    }
    assert!(matches!(
        generate(&[minimal_pod("a"), minimal_pod("A")], &POD),
        Err(KubeError::Duplicate { .. })
    ));
}
