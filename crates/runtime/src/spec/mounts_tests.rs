use super::*;

fn dests(t: &MountTable) -> Vec<String> {
    t.mounts
        .iter()
        .map(|m| m.destination().to_string_lossy().into_owned())
        .collect()
}

fn find<'a>(t: &'a MountTable, dest: &str) -> &'a Mount {
    t.mounts
        .iter()
        .find(|m| m.destination() == Path::new(dest))
        .unwrap_or_else(|| panic!("no mount at {dest}"))
}

fn opts(m: &Mount) -> Vec<String> {
    m.options().clone().unwrap_or_default()
}

fn etc() -> EtcFiles {
    EtcFiles {
        hostname: Some("/run/berth/c1/hostname".into()),
        hosts: Some("/run/berth/c1/hosts".into()),
        resolv_conf: Some("/run/berth/c1/resolv.conf".into()),
    }
}

fn inputs<'a>(user: &'a [MountSpec], etc: &'a EtcFiles) -> MountInputs<'a> {
    MountInputs {
        user,
        shm_size: None,
        etc_files: etc,
        init_path: None,
        read_only: false,
        privileged: false,
        cgroup_v2: true,
    }
}

fn bind(src: &str, dest: &str, ro: bool, options: &[&str]) -> MountSpec {
    MountSpec {
        source: src.into(),
        destination: dest.into(),
        kind: MountKind::Bind,
        read_only: ro,
        options: options.iter().map(|s| s.to_string()).collect(),
    }
}

fn tmpfs(dest: &str, options: &[&str]) -> MountSpec {
    MountSpec {
        kind: MountKind::Tmpfs,
        ..bind("", dest, false, options)
    }
}

#[test]
fn default_order_and_options() {
    let etc = etc();
    let t = build_mounts(&inputs(&[], &etc)).expect("mounts");
    assert_eq!(
        dests(&t),
        [
            "/proc",
            "/dev",
            "/dev/pts",
            "/sys",
            "/sys/fs/cgroup",
            "/dev/mqueue",
            "/dev/shm",
            "/etc/resolv.conf",
            "/etc/hostname",
            "/etc/hosts",
        ]
    );
    assert_eq!(opts(find(&t, "/proc")), ["nosuid", "noexec", "nodev"]);
    assert_eq!(
        opts(find(&t, "/dev")),
        ["nosuid", "strictatime", "mode=755", "size=65536k"]
    );
    assert_eq!(
        opts(find(&t, "/dev/pts")),
        [
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620",
            "gid=5"
        ]
    );
    assert!(opts(find(&t, "/sys")).contains(&"ro".to_string()));
    let cg = find(&t, "/sys/fs/cgroup");
    assert_eq!(cg.typ().as_deref(), Some("cgroup"));
    assert!(opts(cg).contains(&"ro".to_string()));
    assert!(opts(find(&t, "/dev/shm")).contains(&"size=67108864".to_string()));
    let hosts = find(&t, "/etc/hosts");
    assert_eq!(hosts.typ().as_deref(), Some("bind"));
    assert_eq!(
        hosts.source().as_deref(),
        Some(Path::new("/run/berth/c1/hosts"))
    );
    assert_eq!(opts(hosts), ["rbind", "rprivate"]);
    assert_eq!(t.rootfs_propagation, None);
}

#[test]
fn cgroup_v1_hybrid_gets_readonly_tmpfs() {
    let etc = EtcFiles::default();
    let t = build_mounts(&MountInputs {
        cgroup_v2: false,
        ..inputs(&[], &etc)
    })
    .expect("mounts");
    let cg = find(&t, "/sys/fs/cgroup");
    assert_eq!(cg.typ().as_deref(), Some("tmpfs"));
    assert_eq!(opts(cg)[0], "ro");
    // No etc files given: none mounted.
    assert!(!dests(&t).iter().any(|d| d.starts_with("/etc")));
}

#[test]
fn privileged_sys_and_cgroup_rw() {
    let etc = EtcFiles::default();
    for cgroup_v2 in [true, false] {
        let t = build_mounts(&MountInputs {
            privileged: true,
            cgroup_v2,
            ..inputs(&[], &etc)
        })
        .expect("mounts");
        assert!(!opts(find(&t, "/sys")).contains(&"ro".to_string()));
        let cg = find(&t, "/sys/fs/cgroup");
        assert_eq!(cg.typ().as_deref(), Some("cgroup"));
        assert!(!opts(cg).contains(&"ro".to_string()));
    }
}

#[test]
fn user_mounts_sorted_and_optioned() {
    let etc = etc();
    let user = [
        bind("/srv/logs", "/data/logs/", false, &[]),
        bind("/srv/data", "/data", true, &[]),
        bind("/srv/cfg", "/config", false, &["bind", "rslave", "nosuid"]),
        tmpfs("/tmp", &["size=64m", "exec"]),
        MountSpec {
            kind: MountKind::Volume,
            ..bind("/var/lib/berth/volumes/v/_data", "/var/lib/db", false, &[])
        },
    ];
    let t = build_mounts(&inputs(&user, &etc)).expect("mounts");
    let d = dests(&t);
    let tail: Vec<&str> = d[7..].iter().map(String::as_str).collect();
    assert_eq!(
        tail,
        [
            "/data",
            "/config",
            "/tmp",
            "/etc/resolv.conf",
            "/etc/hostname",
            "/etc/hosts",
            "/data/logs",
            "/var/lib/db",
        ]
    );
    assert_eq!(opts(find(&t, "/data")), ["rbind", "ro", "rprivate"]);
    assert_eq!(opts(find(&t, "/data/logs")), ["rbind", "rprivate"]);
    assert_eq!(opts(find(&t, "/config")), ["bind", "rslave", "nosuid"]);
    assert_eq!(t.rootfs_propagation.as_deref(), Some("rslave"));
    let tmp = find(&t, "/tmp");
    assert_eq!(tmp.typ().as_deref(), Some("tmpfs"));
    assert_eq!(
        opts(tmp),
        ["nosuid", "nodev", "rprivate", "size=64m", "exec"]
    );
    let vol = find(&t, "/var/lib/db");
    assert_eq!(vol.typ().as_deref(), Some("bind"));
    assert_eq!(
        vol.source().as_deref(),
        Some(Path::new("/var/lib/berth/volumes/v/_data"))
    );
}

#[test]
fn user_mounts_replace_defaults_and_etc_files() {
    let etc = etc();
    let user = [
        tmpfs("/dev/shm", &["size=1g"]),
        bind("/srv/hosts", "/etc/hosts", true, &[]),
    ];
    let t = build_mounts(&inputs(&user, &etc)).expect("mounts");
    let d = dests(&t);
    assert_eq!(d.iter().filter(|x| *x == "/dev/shm").count(), 1);
    assert!(opts(find(&t, "/dev/shm")).contains(&"size=1g".to_string()));
    assert_eq!(
        find(&t, "/etc/hosts").source().as_deref(),
        Some(Path::new("/srv/hosts"))
    );

    let user = [bind("/srv/dev", "/dev", false, &[])];
    let t = build_mounts(&inputs(&user, &etc)).expect("mounts");
    assert!(
        !dests(&t).iter().any(|x| x.starts_with("/dev/")),
        "user /dev drops /dev/*"
    );
}

#[test]
fn read_only_rootfs() {
    let etc = etc();
    let user = [bind("/srv/data", "/data", false, &[])];
    let init = Path::new("/usr/libexec/berth/init");
    let t = build_mounts(&MountInputs {
        read_only: true,
        init_path: Some(init),
        ..inputs(&user, &etc)
    })
    .expect("mounts");
    for dest in KEEP_WRITABLE {
        assert!(!opts(find(&t, dest)).contains(&"ro".to_string()), "{dest}");
    }
    assert_eq!(opts(find(&t, "/etc/hosts")), ["rbind", "ro", "rprivate"]);
    assert_eq!(
        opts(find(&t, "/data")),
        ["rbind", "rprivate"],
        "user mounts keep their mode"
    );
    let init_mount = find(&t, INIT_PATH_IN_CONTAINER);
    assert_eq!(init_mount.source().as_deref(), Some(init));
    assert_eq!(opts(init_mount), ["bind", "ro"]);
}

#[test]
fn invalid_mounts() {
    let etc = EtcFiles::default();
    let cases = [
        (
            bind("/a", "relative", false, &[]),
            "destination must be an absolute path",
        ),
        (bind("/a", "/", false, &[]), "destination can't be '/'"),
        (
            bind("/a", "/x/../etc", false, &[]),
            "destination must not contain ..",
        ),
        (
            bind("rel/src", "/x", false, &[]),
            "must be an absolute host path",
        ),
        (tmpfs("/x", &["bogus=1"]), "invalid tmpfs option"),
    ];
    for (m, want) in cases {
        let err = build_mounts(&inputs(std::slice::from_ref(&m), &etc)).expect_err(want);
        assert!(
            err.to_string().contains(want),
            "{err} should contain {want}"
        );
    }
    let dup = [bind("/a", "/x", false, &[]), tmpfs("/x/", &[])];
    let err = build_mounts(&inputs(&dup, &etc)).expect_err("duplicate");
    assert_eq!(err.to_string(), "invalid mount /x: duplicate mount point");
}

#[test]
fn tmpfs_merge_later_wins() {
    let o = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let merged = merge_tmpfs_options(
        "/t",
        &o(&["noexec", "nosuid", "size=1m", "exec", "size=2m", "ro"]),
    );
    assert_eq!(merged, Ok(o(&["nosuid", "exec", "size=2m", "ro"])));
}
