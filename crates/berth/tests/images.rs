//! End to end: the image commands of the tutorial, on a throwaway root.

mod common;

use common::{tarball, Berth};

#[test]
fn images_lists_imported_image_with_docker_columns() {
    let b = Berth::new();
    let id = b.busybox("busybox:latest");
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    let out = b.ok(&["images"]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("REPOSITORY   TAG       IMAGE ID       CREATED"),
        "{out}"
    );
    assert!(lines[0].trim_end().ends_with("SIZE"), "{out}");
    assert!(lines[1].starts_with("busybox      latest    "), "{out}");
    assert!(lines[1].contains(&id[7..19]), "{out}");
    // `image ls` and `image list` are the same command.
    assert_eq!(b.ok(&["image", "ls"]), out);
    assert_eq!(b.ok(&["image", "list"]), out);
    // -q prints short IDs; --no-trunc full ones.
    assert_eq!(b.ok(&["images", "-q"]).trim(), &id[7..19]);
    assert_eq!(b.ok(&["images", "-q", "--no-trunc"]).trim(), id);
    // Combined short flags work as in docker.
    assert_eq!(b.ok(&["images", "-aq"]).trim(), &id[7..19]);
}

#[test]
fn format_templates_work_like_docker() {
    let b = Berth::new();
    let id = b.busybox("busybox:latest");
    assert_eq!(
        b.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]),
        "busybox:latest\n"
    );
    let json: serde_json::Value =
        serde_json::from_str(b.ok(&["images", "--format", "{{json .}}"]).trim()).unwrap();
    assert_eq!(json["Repository"], "busybox");
    assert_eq!(json["ID"], &id[7..19]);
    let table = b.ok(&["images", "--format", "table {{.ID}}\t{{.Repository}}"]);
    assert!(
        table.starts_with("IMAGE ID       REPOSITORY\n"),
        "{table:?}"
    );
    assert_eq!(
        b.ok(&[
            "image",
            "inspect",
            "--format",
            "{{.Id}} {{json .Config.Cmd}}",
            "busybox"
        ]),
        format!("{id} [\"sh\"]\n")
    );
    let r = b.run(&["images", "--format", "{{.Nope"]);
    assert_ne!(r.code, 0);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
}

#[test]
fn tag_and_rmi_untag_before_deleting() {
    let b = Berth::new();
    let id = b.busybox("busybox:latest");
    b.ok(&["tag", "busybox", "vandercycle/website-walkthrough:latest"]);
    b.ok(&["tag", &id[7..15], "localhost:5000/bb:v1"]);
    let repos = b.ok(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]);
    assert_eq!(repos.lines().count(), 3, "{repos}");
    assert!(repos.contains("localhost:5000/bb:v1"), "{repos}");

    // By ID, with tags in several repositories: refused without -f, nothing changes.
    let r = b.run(&["rmi", &id[7..19]]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("must be forced"), "{}", r.stderr);
    assert_eq!(b.ok(&["images", "-q"]).lines().count(), 3);

    // By tag: untag only while other tags remain.
    assert_eq!(
        b.ok(&["rmi", "vandercycle/website-walkthrough"]),
        "Untagged: vandercycle/website-walkthrough:latest\n"
    );
    // Forced by ID: everything goes, layers included.
    let out = b.ok(&["rmi", "-f", &id[7..19]]);
    assert!(out.contains("Untagged: busybox:latest"), "{out}");
    assert!(out.contains("Untagged: localhost:5000/bb:v1"), "{out}");
    assert!(out.contains(&format!("Deleted: {id}")), "{out}");
    assert_eq!(b.ok(&["images", "-q"]), "");
    assert!(b.ok(&["system", "check"]).contains("consistent"));
    let blobs = std::fs::read_dir(b.root().join("blobs/sha256"))
        .unwrap()
        .count();
    assert_eq!(blobs, 0, "every blob of the deleted image is gone");
}

#[test]
fn rmi_of_unknown_image_fails_and_goes_on() {
    let b = Berth::new();
    b.busybox("busybox:latest");
    let r = b.run(&["rmi", "nope", "busybox"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("no such image: nope"), "{}", r.stderr);
    assert!(
        r.stdout.contains("Untagged: busybox:latest"),
        "{}",
        r.stdout
    );
}

#[test]
fn dangling_images_are_exactly_the_untagged_ones() {
    let b = Berth::new();
    let t1 = b.root().join("a.tar");
    let t2 = b.root().join("b.tar");
    let t3 = b.root().join("c.tar");
    std::fs::write(&t1, tarball(&[("a", b"1")])).unwrap();
    std::fs::write(&t2, tarball(&[("a", b"2")])).unwrap();
    std::fs::write(&t3, tarball(&[("a", b"3")])).unwrap();
    let old = b.ok(&["import", t1.to_str().unwrap(), "app:latest"]);
    let new = b.ok(&["import", t2.to_str().unwrap(), "app:latest"]);
    let keep = b.ok(&["import", t3.to_str().unwrap(), "other:v1"]);
    let dangling = b.ok(&["images", "-f", "dangling=true", "-q", "--no-trunc"]);
    assert_eq!(
        dangling.trim(),
        old.trim(),
        "the superseded image is dangling"
    );
    let listed = b.ok(&["images"]);
    assert!(listed.contains("<none>       <none>"), "{listed}");

    // The tutorial's clean-up: rmi -f $(images -f dangling=true -q)
    let ids = b.ok(&["images", "-f", "dangling=true", "-q"]);
    let mut args = vec!["rmi", "-f"];
    args.extend(ids.split_whitespace());
    b.ok(&args);
    let left = b.ok(&["images", "-q", "--no-trunc"]);
    let mut left: Vec<&str> = left.lines().collect();
    left.sort();
    let mut want = vec![new.trim(), keep.trim()];
    want.sort();
    assert_eq!(left, want);
    assert_eq!(
        b.ok(&["images", "-f", "dangling=false", "-q"])
            .lines()
            .count(),
        2
    );
    assert_eq!(
        b.ok(&[
            "images",
            "-f",
            "reference=oth*",
            "--format",
            "{{.Repository}}"
        ]),
        "other\n"
    );
}

#[test]
fn save_and_load_round_trip_keeps_the_id() {
    let a = Berth::new();
    let id = a.busybox("busybox:latest");
    a.ok(&["tag", "busybox", "me/site:v2"]);
    let archive = a.root().join("out.tar");
    a.ok(&[
        "save",
        "-o",
        archive.to_str().unwrap(),
        "busybox",
        "me/site:v2",
    ]);

    let b = Berth::new();
    let out = b.ok(&["load", "-i", archive.to_str().unwrap()]);
    assert_eq!(
        out,
        "Loaded image: busybox:latest\nLoaded image: me/site:v2\n"
    );
    assert_eq!(
        b.ok(&["images", "-q", "--no-trunc"])
            .lines()
            .next()
            .unwrap(),
        id
    );
    assert!(b.ok(&["system", "check"]).contains("consistent"));

    // From stdin, gzip-compressed, into a third store.
    let c = Berth::new();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &std::fs::read(&archive).unwrap()).unwrap();
    let r = c.run_stdin(&["load"], &gz.finish().unwrap());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        c.ok(&["images", "-q", "--no-trunc"])
            .lines()
            .next()
            .unwrap(),
        id
    );

    // save to a pipe gives the same bytes as save -o.
    let piped = a
        .command()
        .args(["save", "busybox", "me/site:v2"])
        .output()
        .unwrap();
    assert!(piped.status.success());
    assert_eq!(piped.stdout, std::fs::read(&archive).unwrap());
}

#[test]
fn history_and_inspect_have_docker_shapes() {
    let b = Berth::new();
    let id = b.busybox("busybox:latest");
    let v: serde_json::Value =
        serde_json::from_str(&b.ok(&["image", "inspect", "busybox"])).unwrap();
    let img = &v[0];
    for key in [
        "Id",
        "RepoTags",
        "RepoDigests",
        "Parent",
        "Comment",
        "Created",
        "Config",
        "Architecture",
        "Os",
        "Size",
        "GraphDriver",
        "RootFS",
        "Metadata",
    ] {
        assert!(img.get(key).is_some(), "inspect lacks {key}: {img}");
    }
    assert_eq!(img["Id"], id);
    assert_eq!(img["RepoTags"][0], "busybox:latest");
    assert_eq!(img["RootFS"]["Type"], "layers");
    assert_eq!(img["Config"]["Cmd"][0], "sh");
    let hist = b.ok(&["history", "busybox"]);
    let lines: Vec<&str> = hist.lines().collect();
    assert!(lines[0].starts_with("IMAGE          CREATED"), "{hist}");
    assert!(
        lines[1].starts_with(&id[7..19]) && lines[1].contains("Imported from -"),
        "{hist}"
    );
    assert_eq!(b.ok(&["history", "-q", "busybox"]).trim(), &id[7..19]);
}

#[test]
fn skopeo_and_umoci_read_the_store_as_an_oci_layout() {
    let b = Berth::new();
    let id = b.busybox("busybox:latest");
    b.ok(&["tag", "busybox", "localhost:5000/app:v1"]);
    let Ok(out) = std::process::Command::new("skopeo")
        .args(["inspect", "--config"])
        .arg(format!("oci:{}:busybox:latest", b.root().display()))
        .output()
    else {
        panic!("skopeo is not installed: run scripts/setup.sh (CI installs it)");
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(config["config"]["Cmd"][0], "sh");
    let raw = std::process::Command::new("skopeo")
        .args(["inspect", "--raw"])
        .arg(format!("oci:{}:localhost:5000/app:v1", b.root().display()))
        .output()
        .unwrap();
    assert!(
        raw.status.success(),
        "{}",
        String::from_utf8_lossy(&raw.stderr)
    );
    let manifest: serde_json::Value = serde_json::from_slice(&raw.stdout).unwrap();
    assert_eq!(manifest["config"]["digest"], id);
    let umoci = std::process::Command::new("umoci")
        .args(["ls", "--layout"])
        .arg(b.root())
        .output()
        .expect("umoci is not installed: run scripts/setup.sh");
    let names = String::from_utf8_lossy(&umoci.stdout);
    assert!(
        names.contains("busybox:latest") && names.contains("localhost:5000/app:v1"),
        "{names}"
    );
}

#[test]
fn system_df_counts_images() {
    let b = Berth::new();
    b.busybox("busybox:latest");
    let out = b.ok(&["system", "df"]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE"),
        "{out}"
    );
    assert!(
        lines[1].starts_with("Images          1         0         "),
        "{out}"
    );
}
