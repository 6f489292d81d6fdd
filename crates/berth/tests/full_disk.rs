//! A full disk (issue 14, item 9): berth's root on a small tmpfs. A container that fills it
//! keeps its monitor and can be listed and removed; a pull, a build and a commit that run out
//! of room fail with a clear error, leave nothing half-written, and the space comes back.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{start_registry, wait_for, Sandbox};

/// A tmpfs mounted over a sandbox's (still empty) root. Declared before the sandbox, so it is
/// dropped after it: the sandbox cleans up on the tmpfs, then the tmpfs goes.
#[derive(Default)]
struct SmallDisk(std::cell::RefCell<Option<PathBuf>>);

impl SmallDisk {
    fn mount(&self, root: &Path, size: &str) {
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(root)
            .status()
            .unwrap()
            .success();
        assert!(ok, "mount a tmpfs on {}", root.display());
        *self.0.borrow_mut() = Some(root.to_path_buf());
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        if let Some(root) = self.0.borrow_mut().take() {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&root)
                .status();
            let _ = std::fs::remove_dir(&root);
        }
    }
}

/// Bytes in use on the file system holding `path`.
fn used(path: &Path) -> u64 {
    let st = rustix::fs::statvfs(path).unwrap();
    (st.f_blocks - st.f_bfree) * st.f_frsize
}

const MB: u64 = 1 << 20;

/// What a failure on a full disk must say: the cause, and where to make room.
fn says_disk_full(r: &common::Run) {
    assert!(
        r.stderr.contains("No space left on device") || r.stderr.contains("disk is full"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("make room"), "{}", r.stderr);
}

fn consistent(s: &Sandbox) {
    let check = s.ok(&["system", "check"]);
    assert!(check.contains("consistent"), "{check}");
    assert!(!check.contains("left over from an interrupted"), "{check}");
}

#[test]
fn a_full_disk_is_survived_and_leaves_nothing_half_written() {
    let disk = SmallDisk::default();
    let Some(s) = Sandbox::new() else {
        return;
    };
    disk.mount(s.root(), "160m");
    s.busybox("busybox:latest");

    // An image of 30 MB of random bytes on a registry; then gone from here.
    let ctx_dir = tempfile::tempdir().unwrap();
    let ctx = ctx_dir.path();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nRUN dd if=/dev/urandom of=/big bs=1M count=30\n",
    )
    .unwrap();
    let registry = start_registry();
    let fat = format!("127.0.0.1:{}/tools/fat:v1", registry.port);
    s.ok(&[
        "build",
        "-q",
        "--network",
        "none",
        "-t",
        &fat,
        ctx.to_str().unwrap(),
    ]);
    s.ok(&["push", &fat]);
    s.ok(&["rmi", &fat]);
    s.ok(&["image", "prune", "-a", "-f"]);
    s.busybox("busybox:latest");
    let baseline = used(s.root());

    // A container that fills the disk keeps its monitor: it runs on, is listed, removed.
    s.ok(&[
        "run",
        "-d",
        "--name",
        "filler",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "dd if=/dev/zero of=/big bs=1M; sleep 300",
    ]);
    assert!(
        wait_for(Duration::from_secs(10), || {
            let st = rustix::fs::statvfs(s.root()).unwrap();
            st.f_bavail * st.f_frsize < MB
        }),
        "the container did not fill the disk"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(s.inspect("filler", "{{.State.Status}}"), "running");
    assert!(s.ok(&["ps", "--format", "{{.Names}}"]).contains("filler"));
    s.ok(&["rm", "-f", "filler"]);
    assert!(
        used(s.root()) < baseline + 4 * MB,
        "rm -f gave the space back"
    );

    // Room for a little, not for the image: leave ~12 MB free with a stopped container.
    let free = |s: &Sandbox| {
        let st = rustix::fs::statvfs(s.root()).unwrap();
        st.f_bavail * st.f_frsize
    };
    let fill = (free(&s) - 12 * MB) / MB;
    s.ok(&[
        "run",
        "--name",
        "ballast",
        "--network",
        "none",
        "busybox",
        "dd",
        "if=/dev/zero",
        "of=/ballast",
        "bs=1M",
        &format!("count={fill}"),
    ]);
    let before = used(s.root());

    // pull: refused for room, no partial kept, nothing listed, the space as it was.
    let r = s.run(&["pull", &fat]);
    assert_ne!(r.code, 0);
    says_disk_full(&r);
    assert!(!s
        .ok(&["images", "--format", "{{.Repository}}"])
        .contains("fat"));
    consistent(&s);
    assert!(
        used(s.root()) < before + MB,
        "the pull left its partial behind"
    );

    // build: a RUN that fills the disk fails; its container goes; the space comes back.
    let r = s.run(&[
        "build",
        "--network",
        "none",
        "-t",
        "fat2",
        ctx.to_str().unwrap(),
    ]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert_eq!(
        s.ok(&["ps", "-a", "--format", "{{.Names}}"]).trim(),
        "ballast"
    );
    consistent(&s);
    assert!(
        used(s.root()) < before + MB,
        "the build left its step behind"
    );

    // commit: the container's changes fit, their layer does not.
    s.ok(&[
        "run",
        "--name",
        "changed",
        "--network",
        "none",
        "busybox",
        "dd",
        "if=/dev/urandom",
        "of=/data",
        "bs=1M",
        "count=8",
    ]);
    let with_changes = used(s.root());
    let r = s.run(&["commit", "changed", "snapshot:v1"]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    says_disk_full(&r);
    assert!(!s
        .ok(&["images", "--format", "{{.Repository}}"])
        .contains("snapshot"));
    consistent(&s);
    assert!(
        used(s.root()) < with_changes + MB,
        "the commit left its partial layer behind"
    );

    // And once there is room, everything works again.
    s.ok(&["rm", "-f", "ballast", "changed"]);
    s.ok(&["pull", &fat]);
    consistent(&s);
}
