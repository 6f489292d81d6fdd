//! `cp`, `export` and `diff` against a container that keeps flipping a directory between a
//! real directory and a symlink whose target names a host directory (CVE-2018-15664): the
//! host-side walk must resolve every path inside the container's root, so no host file outside
//! it is ever read or written, whatever the container does while we copy. Also: what `cp`
//! writes on the host stays in the destination, and `exec -u` reads the container's passwd.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use common::Sandbox;

const MARKER: &str = "HOST-MARKER: a host file read through the container's symlink";
const HOST_ONLY: &str = "host-only-name";
const INSIDE: [&str; 2] = ["inside-real\n", "inside-decoy\n"];

/// Every file under `dir` with its content (symlinks by their target), to prove it unchanged.
fn tree(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(dir).unwrap().display().to_string();
            let ft = e.file_type().unwrap();
            let what = if ft.is_dir() {
                todo.push(p.clone());
                "<dir>".to_string()
            } else if ft.is_symlink() {
                format!("-> {}", std::fs::read_link(&p).unwrap().display())
            } else {
                std::fs::read_to_string(&p).unwrap_or_default()
            };
            out.insert(rel, what);
        }
    }
    out
}

/// The regular files of a tar stream: (name, content).
fn tar_files(bytes: &[u8]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut ar = ::tar::Archive::new(bytes);
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().display().to_string();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        out.push((name, String::from_utf8_lossy(&data).into_owned()));
    }
    out
}

/// The container: `/data` flips between a real directory (`inside-real` files) and a symlink
/// to `host`'s absolute path; inside the container that path holds decoys (`inside-decoy`), on
/// the host it holds the marker. It stops flipping, leaving `/data` real, once `/stop` exists.
fn flipper_script(host: &str) -> String {
    format!(
        "mkdir -p /real/sub {host}/sub && \
         echo inside-real > /real/secret && echo inside-real > /real/sub/secret && \
         echo inside-decoy > {host}/secret && echo inside-decoy > {host}/sub/secret && \
         ln -s {host} /link && mv /real /data && touch /ready && \
         while [ ! -e /stop ]; do mv /data /real; mv /link /data; mv /data /link; mv /real /data; done; \
         touch /stopped; sleep 1000"
    )
}

fn copy_out(b: &Sandbox, i: usize, scratch: &Path) -> Option<Vec<(String, String)>> {
    let (src, to_file) = match i % 3 {
        0 => ("flip:/data/secret", false),
        1 => ("flip:/data/sub", false),
        _ => ("flip:/data/secret", true),
    };
    if to_file {
        let dest = scratch.join(format!("out-{i}"));
        let r = b.run(&["cp", src, dest.to_str().unwrap()]);
        if r.code != 0 {
            return None;
        }
        // A symlink copied as itself is fine; a file must be the container's.
        let meta = std::fs::symlink_metadata(&dest).unwrap();
        let content = if meta.is_file() {
            std::fs::read_to_string(&dest).unwrap()
        } else {
            String::new()
        };
        return Some(vec![(format!("out-{i}"), content)]);
    }
    let out = b.command().args(["cp", src, "-"]).output().unwrap();
    out.status.success().then(|| tar_files(&out.stdout))
}

fn copy_in(b: &Sandbox, i: usize, payload: &Path) -> bool {
    let name = format!("in-{i}");
    let r = match i % 3 {
        0 => {
            let src = payload.join(&name);
            std::fs::write(&src, format!("payload {i}\n")).unwrap();
            b.run(&["cp", src.to_str().unwrap(), "flip:/data/"])
        }
        1 => {
            let src = payload.join("file");
            std::fs::write(&src, format!("payload {i}\n")).unwrap();
            b.run(&["cp", src.to_str().unwrap(), &format!("flip:/data/{name}")])
        }
        _ => {
            let tar = common::tarball(&[(&name, format!("payload {i}\n").as_bytes())]);
            b.run_stdin(&["cp", "-", "flip:/data"], &tar)
        }
    };
    r.code == 0
}

#[test]
fn cp_export_and_diff_never_follow_a_racing_symlink_out_of_the_root() {
    let Some(b) = Sandbox::with_busybox() else {
        return;
    };
    // The host directory the container's symlink names: the marker to never read, and what
    // must stay exactly as it is.
    let host = tempfile::Builder::new()
        .prefix("berth-cp-race-")
        .tempdir()
        .unwrap();
    std::fs::create_dir(host.path().join("sub")).unwrap();
    for f in ["secret", "sub/secret", HOST_ONLY] {
        std::fs::write(host.path().join(f), MARKER).unwrap();
    }
    let before = tree(host.path());
    let scratch = tempfile::tempdir().unwrap();
    let host_str = host.path().to_str().unwrap();

    b.ok(&[
        "run",
        "-d",
        "--name",
        "flip",
        "busybox",
        "sh",
        "-c",
        &flipper_script(host_str),
    ]);
    assert!(common::wait_for(Duration::from_secs(10), || b
        .run(&["exec", "flip", "test", "-e", "/ready"])
        .code
        == 0));

    let (mut out_ok, mut in_ok, mut leaks) = (0, Vec::new(), Vec::new());
    for i in 0..200 {
        if let Some(files) = copy_out(&b, i, scratch.path()) {
            out_ok += 1;
            for (name, content) in files {
                if content.contains("HOST-MARKER") {
                    leaks.push(format!("cp out #{i} read the host's {name}"));
                } else if !content.is_empty() && !INSIDE.contains(&content.as_str()) {
                    panic!("cp out #{i}: {name} has {content:?}");
                }
            }
        }
        if copy_in(&b, i, scratch.path()) {
            in_ok.push(i);
        }
        if i % 20 == 0 {
            // A tree that changes under the walk may fail it; what it gave must be the
            // container's.
            let tar = b.command().args(["export", "flip"]).output().unwrap();
            for (name, content) in tar_files(&tar.stdout) {
                if content.contains("HOST-MARKER") || name.contains(HOST_ONLY) {
                    leaks.push(format!("export #{i} took the host's {name}"));
                }
            }
            let diff = b.ok(&["diff", "flip"]);
            if diff.contains(HOST_ONLY) {
                leaks.push(format!("diff #{i} listed the host's {HOST_ONLY}"));
            }
        }
    }
    let after = tree(host.path());
    assert!(
        leaks.is_empty() && before == after,
        "the container's symlink led out of its root: {leaks:?}\nhost dir before {before:?}\nafter {after:?}"
    );
    eprintln!(
        "{out_ok} of 200 copies out and {} of 200 copies in succeeded while /data flipped",
        in_ok.len()
    );
    assert!(out_ok >= 20, "only {out_ok} of 200 copies out succeeded");
    assert!(
        in_ok.len() >= 20,
        "only {} of 200 copies in succeeded",
        in_ok.len()
    );

    // Every copy in that succeeded landed in the container: in the real directory or, through
    // the symlink resolved inside the root, in the decoy directory.
    b.ok(&["exec", "flip", "touch", "/stop"]);
    assert!(common::wait_for(Duration::from_secs(10), || b
        .run(&["exec", "flip", "test", "-e", "/stopped"])
        .code
        == 0));
    for i in in_ok {
        let script = format!("cat /data/in-{i} 2>/dev/null || cat {host_str}/in-{i}");
        let got = b.ok(&["exec", "flip", "sh", "-c", &script]);
        assert_eq!(got, format!("payload {i}\n"), "copy in #{i}");
    }
}

#[test]
fn cp_out_keeps_links_inside_the_destination_and_dir_slash_must_be_a_dir() {
    let Some(b) = Sandbox::with_busybox() else {
        return;
    };
    b.ok(&[
        "run",
        "-d",
        "--name",
        "links",
        "busybox",
        "sh",
        "-c",
        "mkdir /d && echo x > /d/a && ln /d/a /d/b && ln -s / /d/up && touch /ready; sleep 100",
    ]);
    assert!(common::wait_for(Duration::from_secs(10), || b
        .run(&["exec", "links", "test", "-e", "/ready"])
        .code
        == 0));
    let host = tempfile::tempdir().unwrap();
    let out = host.path().join("out");
    b.ok(&["cp", "links:/d", out.to_str().unwrap()]);
    use std::os::unix::fs::MetadataExt;
    let (a, bb) = (
        std::fs::metadata(out.join("a")).unwrap(),
        std::fs::metadata(out.join("b")).unwrap(),
    );
    assert_eq!(std::fs::read_to_string(out.join("b")).unwrap(), "x\n");
    assert_eq!(a.ino(), bb.ino(), "the hard link is kept, inside the copy");
    assert_eq!(std::fs::read_link(out.join("up")).unwrap(), Path::new("/"));

    // A destination that says "directory" must be one (docker cp): no file named `nodir`.
    let file = host.path().join("f");
    std::fs::write(&file, "f").unwrap();
    let r = b.run(&["cp", file.to_str().unwrap(), "links:/nodir/"]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(r.stderr.contains("does not exist"), "{}", r.stderr);
    assert_ne!(b.run(&["exec", "links", "test", "-e", "/nodir"]).code, 0);

    // A stopped container's root is mounted for the copy and unmounted after it, the fds
    // opened in it closed first (the sandbox fails the test on a leftover mount).
    b.ok(&["stop", "-t", "1", "links"]);
    b.ok(&["cp", file.to_str().unwrap(), "links:/d/"]);
    let tar = b.command().args(["cp", "links:/d", "-"]).output().unwrap();
    assert!(tar.status.success());
    assert!(tar_files(&tar.stdout)
        .iter()
        .any(|(n, c)| n == "d/f" && c == "f"));
    assert!(
        !b.mounts().iter().any(|m| m.contains("rootfs")),
        "{:?}",
        b.mounts()
    );
}

#[test]
fn exec_user_names_come_from_the_containers_own_passwd() {
    let Some(b) = Sandbox::with_busybox() else {
        return;
    };
    // A host file the container's /etc/passwd will name by its host path.
    let host = tempfile::tempdir().unwrap();
    let passwd = host.path().join("passwd");
    std::fs::write(&passwd, "hostonly:x:4242:4242::/:/bin/sh\n").unwrap();
    let script = format!(
        "ln -sf {} /etc/passwd && mkfifo /fifo && touch /ready; sleep 100",
        passwd.display()
    );
    b.ok(&["run", "-d", "--name", "pw", "busybox", "sh", "-c", &script]);
    assert!(common::wait_for(Duration::from_secs(10), || b
        .run(&["exec", "pw", "test", "-e", "/ready"])
        .code
        == 0));
    let r = b.run(&["exec", "-u", "hostonly", "pw", "id", "-u"]);
    assert_ne!(r.code, 0, "the host's passwd was read: {}", r.stdout);
    assert!(!r.stdout.contains("4242"), "{}", r.stdout);

    // A FIFO as /etc/passwd does not hang exec (the command's own timeout would fail it).
    b.ok(&[
        "exec",
        "pw",
        "sh",
        "-c",
        "rm /etc/passwd && ln -s /fifo /etc/passwd",
    ]);
    let r = b.run(&["exec", "-u", "nobody", "pw", "true"]);
    assert_ne!(r.code, 0, "no passwd to name nobody in");
    // Numeric ids need no passwd (`id` itself would block on the FIFO, so `true`).
    b.ok(&["exec", "-u", "0", "pw", "true"]);
}
