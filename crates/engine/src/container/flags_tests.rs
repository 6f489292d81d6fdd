use super::*;
use crate::{EngineError, ErrorKind};

#[test]
fn sizes() {
    for (s, want) in [
        ("32m", 32 << 20),
        ("32M", 32 << 20),
        ("1g", 1 << 30),
        ("512k", 512 << 10),
        ("1024", 1024),
        ("64mb", 64 << 20),
        ("1.5g", 3 << 29),
        ("2t", 2 << 40),
        ("10b", 10),
        (" 8m ", 8 << 20),
    ] {
        assert_eq!(ram_in_bytes(s), Ok(want), "{s}");
    }
    for bad in ["", "abc", "-1m", "12q", "b", "m"] {
        assert!(ram_in_bytes(bad).is_err(), "{bad}");
    }
    assert_eq!(swap_in_bytes("-1"), Ok(-1));
    assert_eq!(swap_in_bytes("1g"), Ok(1 << 30));
    assert!(swap_in_bytes("-2").is_err());
}

#[test]
fn ulimits() {
    for (s, want) in [
        ("nofile=1024:2048", ("nofile", 1024, 2048)),
        ("nproc=64", ("nproc", 64, 64)),
        ("core=-1", ("core", u64::MAX, u64::MAX)),
        ("memlock=1024:unlimited", ("memlock", 1024, u64::MAX)),
    ] {
        let u = ulimit(s).unwrap();
        assert_eq!((u.name.as_str(), u.soft, u.hard), want, "{s}");
    }
    for bad in [
        "nofile",
        "bogus=1",
        "nofile=2:1",
        "nofile=x",
        "nofile=1:",
        "=1",
    ] {
        assert!(ulimit(bad).is_err(), "{bad}");
    }
}

#[test]
fn volumes() {
    for (s, want) in [
        (
            "/srv/data:/data:ro",
            (MountKind::Bind, "/srv/data", "/data", true),
        ),
        ("/srv:/srv:rw,z", (MountKind::Bind, "/srv", "/srv", false)),
        (
            "cache:/root/.cache",
            (MountKind::Volume, "cache", "/root/.cache", false),
        ),
        ("/anon", (MountKind::Volume, "", "/anon", false)),
    ] {
        let v = volume(s).unwrap();
        let got = (
            v.kind,
            v.source.as_str(),
            v.destination.as_str(),
            v.read_only,
        );
        assert_eq!(got, want, "{s}");
    }
    assert_eq!(volume("/a:/b:ro,rshared").unwrap().options, vec!["rshared"]);
    for bad in ["a:b", "/a:/b:xx", "a:b:c:d", "bad name:/x", "-x:/x", "a:/x"] {
        assert!(volume(bad).is_err(), "{bad}");
    }
}

#[test]
fn mounts() {
    let m = mount("type=bind,source=/a,target=/b,readonly").unwrap();
    let got = (
        m.kind,
        m.source.as_str(),
        m.destination.as_str(),
        m.read_only,
    );
    assert_eq!(got, (MountKind::Bind, "/a", "/b", true));
    let m = mount("type=tmpfs,target=/t,tmpfs-size=64m,tmpfs-mode=1777").unwrap();
    assert_eq!(
        (m.kind, m.source.as_str(), m.options),
        (
            MountKind::Tmpfs,
            "tmpfs",
            vec!["size=64m".to_string(), "mode=1777".to_string()]
        )
    );
    let m = mount("src=data,dst=/d,ro=false").unwrap();
    assert_eq!(
        (m.kind, m.source.as_str(), m.read_only),
        (MountKind::Volume, "data", false)
    );
    for (bad, problem) in [
        (
            "type=bind,source=rel,target=/b",
            MountProblem::RelativeBindSource,
        ),
        ("type=nfs,target=/b", MountProblem::UnknownType),
        ("type=bind,source=/a", MountProblem::NoTarget),
        ("type=volume,target=rel", MountProblem::RelativeTarget),
        (
            "target=/b,colour=red",
            MountProblem::UnknownField("colour".into()),
        ),
    ] {
        let want = FlagError::Mount {
            spec: bad.to_string(),
            problem,
        };
        assert_eq!(mount(bad), Err(want), "{bad}");
    }
}

#[test]
fn tmpfs_mounts() {
    let t = tmpfs("/run:size=1m,mode=1777").unwrap();
    assert_eq!(
        (t.kind, t.destination.as_str(), t.options),
        (
            MountKind::Tmpfs,
            "/run",
            vec!["size=1m".to_string(), "mode=1777".to_string()]
        )
    );
    assert!(tmpfs("/tmp").unwrap().options.is_empty());
    assert!(tmpfs("run").is_err());
}

/// The words are part of the interface: the CLI prints them and the API returns them in 400
/// bodies, as before the parsers moved here.
#[test]
fn messages_name_the_input_and_the_cause() {
    let cases: [(Result<(), FlagError>, &str); 11] = [
        (
            ram_in_bytes("lots").map(drop),
            "invalid size: \"lots\" (use a number with an optional unit b, k, m or g)",
        ),
        (
            ram_in_bytes("-1m").map(drop),
            "invalid size: \"-1m\" is negative",
        ),
        (
            ulimit("nofile").map(drop),
            "invalid ulimit argument: \"nofile\" (expected NAME=SOFT[:HARD])",
        ),
        (ulimit("bogus=1").map(drop), "invalid ulimit type: bogus"),
        (
            ulimit("nofile=x").map(drop),
            "invalid ulimit value \"x\" in \"nofile=x\"",
        ),
        (
            ulimit("nofile=2:1").map(drop),
            "ulimit soft limit must be less than or equal to hard limit: 2 > 1",
        ),
        (
            volume("a:b:c:d").map(drop),
            "invalid volume specification: \"a:b:c:d\"",
        ),
        (
            volume("a:b").map(drop),
            "invalid volume specification: \"a:b\": the container path must be absolute",
        ),
        (
            volume("/a:/b:xx").map(drop),
            "invalid volume specification: \"/a:/b:xx\": unknown mode \"xx\"",
        ),
        (
            volume("bad name:/x").map(drop),
            "invalid volume specification: \"bad name:/x\": \"bad name\" is neither an absolute path nor a valid volume name",
        ),
        (
            tmpfs("run").map(drop),
            "invalid tmpfs specification: \"run\": the path must be absolute",
        ),
    ];
    for (got, want) in cases {
        assert_eq!(got.unwrap_err().to_string(), want);
    }
    assert_eq!(
        mount("type=bind,source=/a").unwrap_err().to_string(),
        "invalid mount \"type=bind,source=/a\": target is required"
    );
}

#[test]
fn parse_failures_keep_their_cause() {
    use std::error::Error;
    let e = ram_in_bytes("lots").unwrap_err();
    assert!(e.source().is_some_and(|c| c.is::<ParseFloatError>()));
    let e = ulimit("nofile=x").unwrap_err();
    assert!(e.source().is_some_and(|c| c.is::<ParseIntError>()));
}

#[test]
fn flag_errors_are_invalid_arguments() {
    let e = EngineError::from(ulimit("bogus=1").unwrap_err());
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert_eq!(e.to_string(), "invalid ulimit type: bogus");
}

#[test]
fn env_takes_bare_names_from_the_lookup() {
    let lookup = |k: &str| (k == "HOME").then(|| "/root".to_string());
    let env = env_file("# c\nA=1\n\n  B=two words\nHOME\nUNSET\n", lookup);
    assert_eq!(env, vec!["A=1", "B=two words", "HOME=/root"]);
    for (arg, want) in [
        ("K=V", Some("K=V")),
        ("K=", Some("K=")),
        ("HOME", Some("HOME=/root")),
        ("UNSET", None),
    ] {
        assert_eq!(env_arg(arg, lookup).as_deref(), want, "{arg}");
    }
}

#[test]
fn labels_and_entrypoints() {
    let items = ["a=1", "b", "c=x=y", "a=2"].map(String::from);
    let want: BTreeMap<String, String> = [("a", "2"), ("b", ""), ("c", "x=y")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(labels(&items), want);
    assert_eq!(entrypoint(""), Vec::<String>::new());
    assert_eq!(entrypoint("sh -c"), vec!["sh -c"]);
}

#[test]
fn sizes_that_are_not_finite_are_refused() {
    for bad in ["nan", "inf", "-inf", "1e30g"] {
        assert!(ram_in_bytes(bad).is_err(), "{bad}");
    }
    assert_eq!(ram_in_bytes("1.5k").unwrap(), 1536);
}
