//! Pure conversion between berth's pods and Kubernetes YAML: [`generate`] writes Pods or
//! Deployments (and NodePort Services) for `berth kube generate`; [`parse`] reads a
//! multi-document stream and [`plan()`] resolves it into what `berth kube play` creates.
//!
//! This crate does no I/O and knows nothing of the engine: the CLI glue fills [`Pod`]s from
//! containers, and executes a [`PlayPlan`] (pull, create volumes, pods, containers). It must
//! not grow engine calls; that is what keeps it table-testable in both directions.
//!
//! ```
//! use berth_kube::{generate, parse, plan, Container, Document, GenerateOptions, Pod};
//!
//! let pod = Pod {
//!     name: "web".into(),
//!     containers: vec![Container {
//!         name: "web".into(),
//!         image: "nginx".into(),
//!         ..Default::default()
//!     }],
//!     ..Default::default()
//! };
//! let yaml = generate(&[pod.clone()], &GenerateOptions::default())?;
//! let docs = parse(&yaml)?;
//! assert_eq!(docs, vec![Document::Pod(pod)]);
//! assert_eq!(plan(docs)?.pods[0].containers[0].name, "web-web");
//! # Ok::<(), berth_kube::KubeError>(())
//! ```
//!
//! # Mapping
//!
//! | docker / berth                  | Kubernetes                                             |
//! |---------------------------------|--------------------------------------------------------|
//! | pod or container name           | `metadata.name`, DNS-1123: `my_app` → `my-app`         |
//! | labels                          | `metadata.labels`; values it refuses → `annotations`   |
//! | `--restart no/on-failure/always`| `restartPolicy: Never/OnFailure/Always`                |
//! | `--hostname`                    | `hostname`                                             |
//! | container name                  | `containers[].name` (played as `<pod>-<name>`)         |
//! | image                           | `image`                                                |
//! | ENTRYPOINT, `--entrypoint`      | `command`                                              |
//! | CMD, arguments after the image  | `args`                                                 |
//! | `-w`                            | `workingDir`                                           |
//! | `-e NAME=value`                 | `env[].value`                                          |
//! | (play) values from elsewhere    | `env[].valueFrom.configMapKeyRef/secretKeyRef/fieldRef`|
//! | (play) all keys of a map/secret | `envFrom[].configMapRef/secretRef`, `prefix`           |
//! | `-p [ip:]host:ctr[/proto]`      | `ports[]`: `hostIP` `hostPort` `containerPort` `protocol` |
//! | `--memory`                      | `resources.limits.memory` (`256Mi`, or bytes)          |
//! | `--cpus`                        | `resources.limits.cpu` (`500m`, `2`)                   |
//! | `-v NAME:/dst[:ro]`             | `persistentVolumeClaim.claimName` + `volumeMounts`     |
//! | `-v /host:/dst[:ro]`            | `hostPath {path, type}` + `volumeMounts`               |
//! | scratch shared by a pod, tmpfs  | `emptyDir` (`medium: Memory`)                          |
//! | (play) files of a map/secret    | `configMap`/`secret` volumes, `items`, `subPath`       |
//! | `--privileged`                  | `securityContext.privileged`                           |
//! | `--read-only`                   | `securityContext.readOnlyRootFilesystem`               |
//! | `--user uid[:gid]`              | `securityContext.runAsUser`/`runAsGroup`               |
//! | `--cap-add`/`--cap-drop`        | `securityContext.capabilities.add/drop` (no `CAP_`)    |
//! | HEALTHCHECK command             | `livenessProbe.exec.command`                           |
//! | … interval/timeout/retries      | `periodSeconds`/`timeoutSeconds`/`failureThreshold`    |
//! | … start period                  | `initialDelaySeconds`                                  |
//! | `-t`/`-i`                       | `tty`/`stdin`                                          |
//!
//! Around the pods:
//! - `generate -s` writes a `NodePort` Service per pod with host ports: `port` = host port,
//!   `targetPort` = container port, `nodePort` = host port when in 30000–32767 (else the
//!   cluster picks one); selector = the pod's labels, with `app: <name>` added when absent
//!   (Deployments get it too, for their selector).
//! - `play` publishes a Service's ports on the first pod its selector matches: host port =
//!   `nodePort`, else `port`; a named `targetPort` is the container port of that name.
//! - `play` makes a Deployment of `replicas: N` N pods, `<name>-pod` (N = 1) or `<name>-pod-0`…;
//!   container host ports stay on the first (a host port binds once).
//! - `play` makes a PersistentVolumeClaim a named volume of its name (the size is not enforced),
//!   and an `emptyDir` a volume `<pod>-<volume>` that lives with the pod.
//!
//! # Not mapped
//!
//! Read and ignored: namespaces, annotations, resource requests, readiness and startup probes,
//! liveness probes other than `exec`, init containers, `imagePullPolicy`, node selection,
//! service accounts, file modes (`defaultMode`), a Secret's `type`, a Service's cluster IP, a
//! Deployment's selector and strategy (its pods carry the template's labels). `fieldRef`s other
//! than `metadata.name`, `metadata.namespace` and `metadata.labels['…']` are left unset, with a
//! warning. Refused: volume types other than the five above, other `valueFrom` sources, and
//! kinds other than Pod, Deployment, Service, ConfigMap, Secret and PersistentVolumeClaim
//! (`kind: List` included).
//!
//! `generate` writes no PersistentVolumeClaim documents (a cluster needs one per claim), no
//! Service for a pod without host ports, `restartPolicy: Always` in Deployments (the only one
//! they allow), and drops labels whose key is not a valid Kubernetes name. CPU limits keep to
//! the millicore, Kubernetes' finest step. Strings are quoted wherever a YAML 1.1 reader
//! (kubectl's) could take them for something else (`"yes"`, `"1:20"`, `"256Mi"`).

mod error;
mod generate;
mod generate_container;
mod model;
pub mod names;
mod node;
mod parse;
mod parse_pod;
mod plan;
pub mod quantity;
mod resolve;
mod yaml;

pub use error::KubeError;
pub use generate::{generate, GenerateOptions, Kind};
pub use model::*;
pub use parse::parse;
pub use plan::{plan, ContainerPlan, MountPlan, PlayPlan, PodPlan, Publish, ScratchVolume};

#[cfg(test)]
mod generate_tests;
#[cfg(test)]
mod parse_tests;
#[cfg(test)]
mod plan_tests;
#[cfg(test)]
mod schema_tests;
#[cfg(test)]
mod test_fixtures;
