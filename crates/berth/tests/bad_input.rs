//! Bad input gets a one-line error naming the object and changes nothing.

mod common;

use common::{tarball, Berth};

fn assert_one_line_error(r: &common::Run, needle: &str) {
    assert_ne!(r.code, 0, "expected failure: {}", r.stdout);
    assert_eq!(
        r.stderr.trim().lines().count(),
        1,
        "one line: {:?}",
        r.stderr
    );
    assert!(
        r.stderr.contains(needle),
        "{needle:?} not in {:?}",
        r.stderr
    );
}

#[test]
fn malformed_references_are_refused_without_change() {
    let b = Berth::new();
    b.busybox("busybox:latest");
    let before = b.snapshot();
    for bad in [
        "Busybox:x",
        "a:b:c",
        "user/Upper",
        "has space",
        "x@sha256:123",
    ] {
        let r = b.run(&["tag", "busybox", bad]);
        assert_one_line_error(&r, bad);
    }
    assert_eq!(b.snapshot(), before);
}

#[test]
fn unknown_image_is_named() {
    let b = Berth::new();
    for args in [
        vec!["rmi", "ghost"],
        vec!["tag", "ghost", "x"],
        vec!["history", "ghost"],
        vec!["save", "-o", "/tmp/never-written.tar", "ghost"],
    ] {
        let r = b.run(&args);
        assert_one_line_error(&r, "ghost");
    }
    assert!(!std::path::Path::new("/tmp/never-written.tar").exists());
    let r = b.run(&["image", "inspect", "ghost"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("No such image: ghost"), "{}", r.stderr);
}

#[test]
fn corrupt_archives_change_nothing() {
    let b = Berth::new();
    b.busybox("busybox:latest");
    let good = b.root().join("good.tar");
    b.ok(&["save", "-o", good.to_str().unwrap(), "busybox"]);
    let bytes = std::fs::read(&good).unwrap();

    let c = Berth::new();
    c.ok(&["images"]);
    let before = c.snapshot();
    // Truncated in the middle of the layer.
    let r = c.run_stdin(&["load"], &bytes[..bytes.len() / 2]);
    assert_one_line_error(&r, "load");
    // Not a tar at all.
    let r = c.run_stdin(
        &["load"],
        b"this is not an archive at all, not even close..........",
    );
    assert_one_line_error(&r, "load");
    // An empty input.
    let r = c.run_stdin(&["load"], b"");
    assert_one_line_error(&r, "empty");
    // A tar without manifest.json or index.json.
    let r = c.run_stdin(&["load"], &tarball(&[("hello.txt", b"hi")]));
    assert_one_line_error(&r, "not an image archive");
    assert_eq!(c.snapshot(), before, "nothing written by failed loads");
    assert!(c.ok(&["system", "check"]).contains("consistent"));
}

#[test]
fn digest_mismatch_in_archive_is_refused() {
    let b = Berth::new();
    b.busybox("busybox:latest");
    let good = b.root().join("good.tar");
    b.ok(&["save", "-o", good.to_str().unwrap(), "busybox"]);
    // Rewrite the archive with one byte of the biggest blob flipped.
    let mut ar = tar::Archive::new(std::fs::File::open(&good).unwrap());
    let mut out = tar::Builder::new(Vec::new());
    let mut entries: Vec<(tar::Header, Vec<u8>)> = Vec::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        entries.push((e.header().clone(), data));
    }
    let biggest = entries
        .iter()
        .enumerate()
        .max_by_key(|(_, (_, d))| d.len())
        .unwrap()
        .0;
    let mid = entries[biggest].1.len() / 2;
    entries[biggest].1[mid] ^= 0xff;
    for (mut h, d) in entries {
        let path = h.path().unwrap().into_owned();
        out.append_data(&mut h, path, &d[..]).unwrap();
    }
    let tampered = out.into_inner().unwrap();

    let c = Berth::new();
    c.ok(&["images"]);
    let before = c.snapshot();
    let r = c.run_stdin(&["load"], &tampered);
    assert_one_line_error(&r, "digest");
    assert_eq!(c.snapshot(), before);
}

#[test]
fn bad_import_changes_are_refused_before_anything_is_stored() {
    let b = Berth::new();
    b.ok(&["images"]);
    let before = b.snapshot();
    let tar = b.root().join("x.tar");
    std::fs::write(&tar, tarball(&[("a", b"1")])).unwrap();
    let r = b.run(&[
        "import",
        "--change",
        "RUN rm -rf /",
        tar.to_str().unwrap(),
        "x",
    ]);
    assert_one_line_error(&r, "RUN");
    let r = b.run(&["import", tar.to_str().unwrap(), "Bad:Name"]);
    assert_one_line_error(&r, "Bad:Name");
    std::fs::remove_file(&tar).unwrap();
    assert_eq!(b.snapshot(), before);
}

#[test]
fn system_check_reports_a_corrupt_blob() {
    let b = Berth::new();
    let id = b.busybox("busybox:latest");
    let config = b.root().join("blobs/sha256").join(&id[7..]);
    let mut bytes = std::fs::read(&config).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&config, bytes).unwrap();
    let r = b.run(&["system", "check"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout
            .contains(&format!("blob {id}: content does not match")),
        "{}",
        r.stdout
    );
}

#[test]
fn bad_run_flags_are_refused_before_anything_is_recorded() {
    let b = Berth::new();
    b.busybox("busybox:latest");
    let big_env = b.root().join("big.env");
    std::fs::write(&big_env, format!("BIG={}\n", "a".repeat(200_000))).unwrap();
    let big_env = big_env.to_str().unwrap();
    let before = b.snapshot();
    for (flags, needle) in [
        (vec!["--stop-signal", "BOGUS"], "invalid signal: BOGUS"),
        (
            vec!["--env-file", big_env],
            "environment variable BIG is 200004 bytes",
        ),
        (vec!["-e", ""], "invalid environment variable"),
        (vec!["-e", "=x"], "invalid environment variable"),
        (vec!["--cpus", "1000"], "range of CPUs is from 0.01"),
        (vec!["--cpus", "-1"], "range of CPUs is from 0.01"),
        (vec!["--shm-size", "0"], "--shm-size"),
        (vec!["--sysctl", "kernel.hostname=x"], "not allowed"),
        (vec!["--sysctl", "novalue"], "KEY=VALUE"),
        (
            vec!["--network", "host", "--sysctl", "net.core.somaxconn=1"],
            "host's network",
        ),
    ] {
        let mut args = vec!["create"];
        args.extend(flags.iter().copied());
        args.extend(["busybox", "true"]);
        let r = b.run(&args);
        assert_eq!(r.code, 125, "{args:?}: docker's exit code for a bad flag");
        assert_one_line_error(&r, needle);
    }
    assert_eq!(b.snapshot(), before, "nothing recorded");
}
