//! Generated YAML against Kubernetes' own JSON schemas, through the PyPI package
//! `kubernetes-validate` (installed by scripts/setup.sh into /opt/berth/pyvenv).

use std::path::Path;
use std::process::Command;

use crate::model::*;
use crate::test_fixtures::{labels, minimal_pod, rich_pod};
use crate::{generate, GenerateOptions, Kind};

const VALIDATOR: &str = "/opt/berth/pyvenv/bin/kubernetes-validate";

/// Runs the validator in strict mode (unknown fields are errors) on `yaml`; Ok(()) when every
/// document passes, Err(its report) otherwise. None when the validator is not installed.
fn validate(yaml: &str) -> Option<Result<(), String>> {
    if !Path::new(VALIDATOR).exists() {
        return None;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("generated.yaml");
    std::fs::write(&file, yaml).expect("write yaml");
    let output = Command::new(VALIDATOR)
        .arg("--strict")
        .arg(&file)
        .output()
        .expect("run kubernetes-validate");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Some(if output.status.success() {
        Ok(())
    } else {
        Err(report)
    })
}

/// A pod with docker-style names and labels, which generate must make valid.
fn dockerish_pod() -> Pod {
    let mut pod = minimal_pod("My_Website");
    pod.containers[0].name = "web_server.1".into();
    pod.labels = labels(&[
        ("com.docker.compose.project", "site"),
        ("description", "The tutorial's web site"),
    ]);
    pod.containers[0].ports.push(ContainerPort {
        container_port: 8000,
        host_port: Some(5000),
        ..ContainerPort::default()
    });
    pod.containers[0].memory_limit = Some(123_456_789);
    pod.containers[0].cpu_limit = Some(0.001);
    pod.containers[0].security.cap_add = vec!["CAP_SYS_PTRACE".into()];
    pod
}

#[test]
fn generated_yaml_passes_kubernetes_schemas() {
    let pods = [rich_pod(), minimal_pod("plain"), dockerish_pod()];
    let mut checked = 0;
    for kind in [Kind::Pod, Kind::Deployment] {
        for service in [false, true] {
            let opts = GenerateOptions { kind, service };
            let yaml = generate(&pods, &opts).expect("generate");
            match validate(&yaml) {
                None => {
                    eprintln!(
                        "SKIP generated_yaml_passes_kubernetes_schemas: {VALIDATOR} is missing; \
                         run scripts/setup.sh"
                    );
                    return;
                }
                Some(Err(report)) => panic!("{opts:?} does not validate:\n{report}\n{yaml}"),
                Some(Ok(())) => checked += 1,
            }
        }
    }
    assert_eq!(checked, 4);
}

#[test]
fn validator_rejects_a_broken_document() {
    let yaml = generate(&[minimal_pod("web")], &GenerateOptions::default()).expect("generate");
    let cases = [
        yaml.replace(
            "image: docker.io/library/nginx:1.27",
            "image: docker.io/library/nginx:1.27\n    ports:\n    - containerPort: x",
        ),
        yaml.replace(
            "restartPolicy: Always",
            "restartPolicy: Always\n  unknownField: 1",
        ),
    ];
    for broken in cases {
        assert_ne!(broken, yaml, "the fixture must change the document");
        match validate(&broken) {
            None => {
                eprintln!(
                    "SKIP validator_rejects_a_broken_document: {VALIDATOR} is missing; run \
                     scripts/setup.sh"
                );
                return;
            }
            Some(result) => assert!(result.is_err(), "accepted:\n{broken}"),
        }
    }
    assert_eq!(
        validate(&yaml),
        Some(Ok(())),
        "the unbroken document passes"
    );
}
