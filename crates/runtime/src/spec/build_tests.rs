use std::collections::BTreeMap;

use libcontainer::oci_spec::runtime::{Capability, PosixRlimitType};

use super::*;
use crate::spec::{ContainerSpec, EtcFiles, HostInfo, ImageConfig, MountKind, MountSpec, Ulimit};

const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\napp:x:1000:1000::/home/app:/bin/sh\n";
const GROUP: &str = "root:x:0:\napp:x:1000:\ndocker:x:999:app\n";
const ID: &str = "4f1c0e2d9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d";

struct Fixture {
    container: ContainerSpec,
    image: ImageConfig,
    host: HostInfo,
    etc: EtcFiles,
}

fn fixture() -> Fixture {
    Fixture {
        container: ContainerSpec {
            id: ID.into(),
            ..Default::default()
        },
        image: ImageConfig {
            env: Some(vec![
                "PATH=/usr/local/bin:/usr/bin:/bin".into(),
                "LANG=C.UTF-8".into(),
            ]),
            cmd: Some(vec!["python3".into()]),
            ..Default::default()
        },
        host: HostInfo {
            rlimit_hard: BTreeMap::from([("RLIMIT_NOFILE".to_string(), 20_000)]),
            cgroup_v2: false,
            cap_bounding: None,
        },
        etc: EtcFiles {
            hostname: Some("/run/berth/c/hostname".into()),
            hosts: Some("/run/berth/c/hosts".into()),
            resolv_conf: Some("/run/berth/c/resolv.conf".into()),
        },
    }
}

fn build(f: &Fixture, netns: Option<&Path>, init: Option<&Path>) -> Result<Spec, SpecError> {
    build_spec(&SpecInputs {
        container: &f.container,
        image: &f.image,
        rootfs: Path::new("/var/lib/berth/overlay/c/merged"),
        passwd: Some(PASSWD),
        group: Some(GROUP),
        host: &f.host,
        cgroups_path: "/berth/4f1c0e2d9a8b",
        etc_files: &f.etc,
        netns,
        ipc_ns: None,
        uts_ns: None,
        init_path: init,
    })
}

fn process(s: &Spec) -> &Process {
    s.process().as_ref().expect("process")
}

fn linux(s: &Spec) -> &Linux {
    s.linux().as_ref().expect("linux")
}

fn bounding(s: &Spec) -> Vec<Capability> {
    let caps = process(s).capabilities().as_ref().expect("caps");
    caps.bounding()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect()
}

#[test]
fn docker_defaults() {
    let f = fixture();
    let s = build(&f, None, None).expect("spec");
    assert_eq!(s.version(), OCI_VERSION);
    assert_eq!(s.hostname().as_deref(), Some("4f1c0e2d9a8b"));
    assert_eq!(s.domainname(), &None);
    let root = s.root().as_ref().expect("root");
    assert_eq!(root.path(), Path::new("/var/lib/berth/overlay/c/merged"));
    assert_eq!(root.readonly(), Some(false));

    let p = process(&s);
    assert_eq!(p.args().as_deref(), Some(&["python3".to_string()][..]));
    assert_eq!(p.cwd(), Path::new("/"));
    assert_eq!(p.terminal(), Some(false));
    assert_eq!(p.no_new_privileges(), None, "absent, as Docker writes it");
    assert_eq!(p.oom_score_adj(), Some(0));
    assert_eq!(p.rlimits(), &None, "no youki default rlimits");
    assert_eq!((p.user().uid(), p.user().gid()), (0, 0));
    let env = p.env().clone().unwrap_or_default();
    assert_eq!(
        env,
        [
            "PATH=/usr/local/bin:/usr/bin:/bin",
            "HOSTNAME=4f1c0e2d9a8b",
            "LANG=C.UTF-8",
            "HOME=/root"
        ]
    );

    let caps = p.capabilities().as_ref().expect("caps");
    assert_eq!(caps.bounding().as_ref().map(|c| c.len()), Some(14));
    assert_eq!(caps.effective(), caps.bounding());
    assert_eq!(caps.permitted(), caps.bounding());
    assert_eq!(caps.inheritable().as_ref().map(|c| c.len()), Some(0));
    assert_eq!(caps.ambient().as_ref().map(|c| c.len()), Some(0));

    let l = linux(&s);
    assert_eq!(
        l.cgroups_path().as_deref(),
        Some(Path::new("/berth/4f1c0e2d9a8b"))
    );
    assert_eq!(l.masked_paths().as_ref().map(Vec::len), Some(12));
    assert!(l
        .masked_paths()
        .iter()
        .flatten()
        .any(|m| m == "/proc/kcore"));
    assert_eq!(
        l.readonly_paths().clone().unwrap_or_default(),
        READONLY_PATHS
    );
    assert!(l.seccomp().is_some());
    let types: Vec<LinuxNamespaceType> = l.namespaces().iter().flatten().map(|n| n.typ()).collect();
    assert_eq!(
        types,
        [
            LinuxNamespaceType::Mount,
            LinuxNamespaceType::Network,
            LinuxNamespaceType::Uts,
            LinuxNamespaceType::Pid,
            LinuxNamespaceType::Ipc
        ],
        "no cgroupns on a hybrid host"
    );
    assert!(l.namespaces().iter().flatten().all(|n| n.path().is_none()));
    assert_eq!(l.sysctl().as_ref().map(|s| s.len()), Some(2));
    assert_eq!(s.annotations(), &None);
}

#[test]
fn user_workdir_tty_and_flags() {
    let mut f = fixture();
    f.image.user = Some("app".into());
    f.image.working_dir = Some("/srv".into());
    f.container.tty = true;
    f.container.no_new_privileges = true;
    f.container.read_only = true;
    f.container.hostname = Some("web".into());
    f.container.domainname = Some("example.org".into());
    let s = build(&f, None, None).expect("spec");
    let p = process(&s);
    assert_eq!((p.user().uid(), p.user().gid()), (1000, 1000));
    assert_eq!(
        p.user().additional_gids().as_deref(),
        Some(&[1000, 999][..])
    );
    assert_eq!(p.cwd(), Path::new("/srv"));
    assert_eq!(p.terminal(), Some(true));
    assert_eq!(p.no_new_privileges(), Some(true));
    let env = p.env().clone().unwrap_or_default();
    assert!(env.contains(&"TERM=xterm".to_string()) && env.contains(&"HOME=/home/app".to_string()));
    assert!(env.contains(&"HOSTNAME=web".to_string()));
    assert_eq!(s.hostname().as_deref(), Some("web"));
    assert_eq!(s.domainname().as_deref(), Some("example.org"));
    assert_eq!(s.root().as_ref().and_then(|r| r.readonly()), Some(true));

    f.container.user = Some("root".into());
    f.container.workdir = Some("/tmp".into());
    let s = build(&f, None, None).expect("spec");
    assert_eq!(process(&s).user().uid(), 0, "--user beats image User");
    assert_eq!(process(&s).cwd(), Path::new("/tmp"));

    f.container.workdir = Some("relative".into());
    assert_eq!(
        build(&f, None, None).err(),
        Some(SpecError::InvalidWorkdir("relative".into()))
    );
    f.container.workdir = None;
    f.container.user = Some("ghost".into());
    assert_eq!(
        build(&f, None, None).err(),
        Some(SpecError::UserNotFound("ghost".into()))
    );
}

#[test]
fn caps_and_seccomp_follow_flags() {
    let mut f = fixture();
    f.container.cap_add = vec!["SYS_PTRACE".into()];
    f.container.cap_drop = vec!["net_raw".into()];
    let s = build(&f, None, None).expect("spec");
    let caps = bounding(&s);
    assert!(caps.contains(&Capability::SysPtrace) && !caps.contains(&Capability::NetRaw));
    let seccomp = linux(&s).seccomp().clone().expect("seccomp");
    assert!(seccomp
        .syscalls()
        .iter()
        .flatten()
        .any(|r| r.names().iter().any(|n| n == "kcmp")));

    f.container.cap_add = vec!["NET_ADMN".into()];
    assert_eq!(
        build(&f, None, None).err(),
        Some(SpecError::UnknownCapability("NET_ADMN".into()))
    );

    let mut f = fixture();
    f.container.seccomp_unconfined = true;
    let s = build(&f, None, None).expect("spec");
    assert!(linux(&s).seccomp().is_none());
    assert_eq!(
        bounding(&s).len(),
        14,
        "unconfined seccomp keeps default caps"
    );
}

#[test]
fn privileged() {
    let mut f = fixture();
    f.container.privileged = true;
    let s = build(&f, None, None).expect("spec");
    assert_eq!(bounding(&s).len(), 41);
    f.host.cap_bounding = Some(
        crate::spec::ALL_CAPS
            .iter()
            .filter(|c| **c != "CAP_SYS_RESOURCE")
            .map(|c| c.to_string())
            .collect(),
    );
    let bounded = build(&f, None, None).expect("spec");
    assert_eq!(bounding(&bounded).len(), 40, "only what the host can grant");
    assert!(!bounding(&bounded).contains(&Capability::SysResource));
    let l = linux(&s);
    assert!(l.seccomp().is_none());
    assert_eq!(l.masked_paths().as_ref().map(Vec::len), Some(0));
    assert_eq!(l.readonly_paths().as_ref().map(Vec::len), Some(0));
    let devices = l
        .resources()
        .as_ref()
        .and_then(|r| r.devices().clone())
        .unwrap_or_default();
    assert_eq!(devices.len(), 1);
    assert!(devices[0].allow());
    let sys = s
        .mounts()
        .iter()
        .flatten()
        .find(|m| m.destination() == Path::new("/sys"))
        .expect("sys");
    assert!(!sys.options().iter().flatten().any(|o| o == "ro"));
}

#[test]
fn resources_rlimits_and_namespaces() {
    let mut f = fixture();
    f.host.cgroup_v2 = true;
    f.container.memory = Some(64 << 20);
    f.container.cpus = Some(0.5);
    f.container.pids_limit = Some(50);
    f.container.ulimits = vec![Ulimit {
        name: "nofile".into(),
        soft: 1024,
        hard: 1 << 20,
    }];
    let netns = Path::new("/run/berth/netns/c1");
    let s = build(&f, Some(netns), None).expect("spec");
    let r = linux(&s).resources().as_ref().expect("resources");
    assert_eq!(r.memory().as_ref().and_then(|m| m.limit()), Some(64 << 20));
    assert_eq!(r.memory().as_ref().and_then(|m| m.swap()), Some(128 << 20));
    assert_eq!(r.cpu().as_ref().and_then(|c| c.quota()), Some(50_000));
    assert_eq!(r.pids().as_ref().map(|p| p.limit()), Some(50));
    let rl = process(&s).rlimits().clone().unwrap_or_default();
    assert_eq!(rl.len(), 1);
    assert_eq!(
        (rl[0].typ(), rl[0].soft(), rl[0].hard()),
        (PosixRlimitType::RlimitNofile, 1024, 20_000)
    );

    let ns = linux(&s).namespaces().clone().unwrap_or_default();
    let net = ns
        .iter()
        .find(|n| n.typ() == LinuxNamespaceType::Network)
        .expect("netns");
    assert_eq!(net.path().as_deref(), Some(netns));
    assert!(
        ns.iter().any(|n| n.typ() == LinuxNamespaceType::Cgroup),
        "private cgroupns on v2"
    );
    let cg = s
        .mounts()
        .iter()
        .flatten()
        .find(|m| m.destination() == Path::new("/sys/fs/cgroup"));
    assert_eq!(cg.and_then(|m| m.typ().clone()).as_deref(), Some("cgroup"));

    let host = build(&f, Some(Path::new("/proc/1/ns/net")), None).expect("spec");
    assert_eq!(
        linux(&host).sysctl().as_ref().map(|s| s.len()),
        Some(0),
        "no net sysctls in the host netns"
    );
    assert!(
        !linux(&host)
            .namespaces()
            .iter()
            .flatten()
            .any(|n| n.typ() == LinuxNamespaceType::Network),
        "--network host: no network namespace entry"
    );

    f.container.memory = Some(1024);
    assert!(matches!(
        build(&f, None, None),
        Err(SpecError::InvalidResource { what: "memory", .. })
    ));
}

#[test]
fn init_and_mounts() {
    let mut f = fixture();
    f.container.init = true;
    f.container.mounts = vec![MountSpec {
        source: "/srv/data".into(),
        destination: "/data".into(),
        kind: MountKind::Bind,
        read_only: true,
        options: vec![],
    }];
    assert_eq!(
        build(&f, None, None).err(),
        Some(SpecError::InitUnavailable)
    );
    let init = Path::new("/usr/libexec/berth/docker-init");
    let s = build(&f, None, Some(init)).expect("spec");
    let args = process(&s).args().clone().unwrap_or_default();
    assert_eq!(args, [INIT_PATH_IN_CONTAINER, "--", "python3"]);
    let dests: Vec<String> = s
        .mounts()
        .iter()
        .flatten()
        .map(|m| m.destination().to_string_lossy().into_owned())
        .collect();
    assert_eq!(dests[7], INIT_PATH_IN_CONTAINER);
    assert_eq!(dests[8], "/data");
    assert!(dests.ends_with(&[
        "/etc/resolv.conf".into(),
        "/etc/hostname".into(),
        "/etc/hosts".into()
    ]));

    // An init path without --init mounts nothing.
    f.container.init = false;
    let s = build(&f, None, Some(init)).expect("spec");
    assert!(!s
        .mounts()
        .iter()
        .flatten()
        .any(|m| m.destination() == Path::new(INIT_PATH_IN_CONTAINER)));
}

#[test]
fn json_is_what_libcontainer_loads() {
    let mut f = fixture();
    f.container.tty = true;
    f.container.ulimits = vec![Ulimit {
        name: "nproc".into(),
        soft: 100,
        hard: 200,
    }];
    let s = build(&f, None, None).expect("spec");
    let text = serde_json::to_string_pretty(&s).expect("serialise");
    let json: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(json["ociVersion"], OCI_VERSION);
    assert_eq!(json["process"]["terminal"], true);
    assert_eq!(json["process"]["cwd"], "/");
    assert_eq!(json["process"]["user"]["uid"], 0);
    assert_eq!(json["process"]["rlimits"][0]["type"], "RLIMIT_NPROC");
    assert_eq!(
        json["process"]["capabilities"]["ambient"],
        serde_json::json!([])
    );
    assert_eq!(json["root"]["path"], "/var/lib/berth/overlay/c/merged");
    assert_eq!(json["mounts"][0]["destination"], "/proc");
    assert_eq!(json["linux"]["cgroupsPath"], "/berth/4f1c0e2d9a8b");
    assert_eq!(json["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
    assert_eq!(json["linux"]["resources"]["devices"][0]["allow"], false);
    assert_eq!(json["linux"]["namespaces"][1]["type"], "network");
    assert_eq!(json["linux"]["maskedPaths"][0], "/proc/acpi");

    // libcontainer parses it back to the same spec and its validator accepts it.
    let back: Spec = serde_json::from_str(&text).expect("libcontainer's Spec parses it");
    assert_eq!(back, s);
    libcontainer::validator::Validator::validate_spec(&back).expect("valid for libcontainer");
}
