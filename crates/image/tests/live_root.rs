//! Copying out of and into a root that changes while we work on it (a running container's):
//! [`Root`] resolves inside it, [`pack_entry`] and [`unpack_into`] work below the fds it gives,
//! and a directory flipped to a symlink out of the root in a tight loop never leads a read or
//! a write outside (CVE-2018-15664).
#![allow(clippy::unwrap_used)]

use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use berth_image::layer::{pack_entry, unpack_into, PackOptions, UnpackOptions};
use berth_image::rootfd::Root;

const MARKER: &str = "outside";

/// (name, content or link target) of every entry of a tar.
fn entries(tar: &[u8]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for e in tar::Archive::new(tar).entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().display().to_string();
        let mut data = String::new();
        match e.link_name().unwrap() {
            Some(l) => data = l.display().to_string(),
            None => {
                e.read_to_string(&mut data).unwrap();
            }
        }
        out.push((name, data));
    }
    out
}

fn one_file_tar(name: &str, data: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, name, data).unwrap();
    b.into_inner().unwrap()
}

/// `base/root` with `/data` (a directory holding `secret`), and `base/outside` holding the
/// marker where a symlink followed on the host would lead.
fn layout() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let base = tempfile::tempdir().unwrap();
    let root = base.path().join("root");
    let outside = base.path().join("outside");
    std::fs::create_dir_all(root.join("data/sub")).unwrap();
    std::fs::write(root.join("data/secret"), "inside").unwrap();
    std::fs::write(root.join("data/sub/secret"), "inside").unwrap();
    std::fs::create_dir_all(outside.join("sub")).unwrap();
    std::fs::write(outside.join("secret"), MARKER).unwrap();
    std::fs::write(outside.join("sub/secret"), MARKER).unwrap();
    (base, root, outside)
}

#[test]
fn pack_entry_copies_a_symlink_as_itself_and_never_walks_through_one() {
    let (_base, root, outside) = layout();
    symlink(&outside, root.join("data/away")).unwrap();
    std::fs::hard_link(root.join("data/secret"), root.join("data/zagain")).unwrap();
    let r = Root::open(&root).unwrap();

    let (parent, name) = r.parent("/data").unwrap();
    let mut tar = Vec::new();
    pack_entry(
        parent.as_fd(),
        name.as_deref(),
        "data",
        &mut tar,
        &PackOptions::default(),
    )
    .unwrap();
    let got = entries(&tar);
    assert!(got.contains(&("data/away".into(), outside.display().to_string())));
    assert!(got.contains(&("data/secret".into(), "inside".into())));
    assert!(
        got.contains(&("data/zagain".into(), "data/secret".into())),
        "a hard link to its first path: {got:?}"
    );
    assert!(got
        .iter()
        .all(|(n, d)| d != MARKER && !n.starts_with("data/away/")));

    // The root itself, named `.`.
    let (parent, name) = r.parent("/").unwrap();
    assert!(name.is_none());
    let mut tar = Vec::new();
    pack_entry(parent.as_fd(), None, ".", &mut tar, &PackOptions::default()).unwrap();
    assert!(entries(&tar).iter().any(|(n, _)| n == "data/sub/secret"));

    // A name that is not there.
    let (parent, name) = r.parent("/data/missing").unwrap();
    let err = pack_entry(
        parent.as_fd(),
        name.as_deref(),
        "missing",
        &mut Vec::new(),
        &PackOptions::default(),
    )
    .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
}

#[test]
fn unpack_into_writes_below_the_resolved_directory_only() {
    let (_base, root, outside) = layout();
    symlink("/", root.join("up")).unwrap();
    symlink(&outside, root.join("data/away")).unwrap();
    let r = Root::open(&root).unwrap();
    let opts = UnpackOptions {
        allow_devices: false,
        same_owner: false,
    };
    // `/up/data` resolves inside the root to `/data`.
    let dir = r.open_dir("/up/data").unwrap();
    unpack_into(&one_file_tar("new", b"payload")[..], dir, &opts).unwrap();
    assert_eq!(std::fs::read(root.join("data/new")).unwrap(), b"payload");
    // Through a symlink below the destination: refused, nothing written outside.
    let dir = r.open_dir("/data").unwrap();
    assert!(unpack_into(&one_file_tar("away/new", b"payload")[..], dir, &opts).is_err());
    assert!(!outside.join("new").exists());
}

/// Flips `root/data` between the real directory and a symlink to `outside` (absolute, as a
/// container's would be) until told to stop.
fn flipper(root: &Path, outside: &Path, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    let (data, real, link) = (root.join("data"), root.join("real"), root.join("link"));
    symlink(outside, &link).unwrap();
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            let _ = std::fs::rename(&data, &real);
            let _ = std::fs::rename(&link, &data);
            let _ = std::fs::rename(&data, &link);
            let _ = std::fs::rename(&real, &data);
            // Long enough as a directory for a copy to start; short enough to flip under it.
            std::thread::sleep(std::time::Duration::from_micros(20));
        }
    })
}

#[test]
fn a_directory_flipping_to_a_symlink_never_leads_a_copy_outside() {
    let (_base, root, outside) = layout();
    let before: Vec<_> = std::fs::read_dir(&outside)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let r = Root::open(&root).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let flip = flipper(&root, &outside, stop.clone());
    let opts = UnpackOptions {
        allow_devices: false,
        same_owner: false,
    };
    let (mut read, mut written) = (0, 0);
    for i in 0..2000 {
        let src = if i % 2 == 0 {
            "/data/secret"
        } else {
            "/data/sub"
        };
        if let Ok((parent, name)) = r.parent(src) {
            let mut tar = Vec::new();
            let opts = PackOptions::default();
            if pack_entry(parent.as_fd(), name.as_deref(), "x", &mut tar, &opts).is_ok() {
                read += 1;
                for (n, d) in entries(&tar) {
                    assert_ne!(d, MARKER, "copy #{i} read {n} outside the root");
                }
            }
        }
        if let Ok(dir) = r.open_dir("/data") {
            let name = format!("in-{i}");
            if unpack_into(&one_file_tar(&name, b"payload")[..], dir, &opts).is_ok() {
                written += 1;
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    flip.join().unwrap();
    let after: Vec<_> = std::fs::read_dir(&outside)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(before, after, "nothing written outside the root");
    eprintln!("{read} of 2000 copies out and {written} of 2000 copies in succeeded");
    assert!(read > 0 && written > 0, "{read} reads, {written} writes");
}
