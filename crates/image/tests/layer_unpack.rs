//! Layer unpacking of ordinary layers: a rootfs with links, modes, owners and times, whiteout
//! conversion, devices, and the digests of plain, gzip and zstd streams. Tests that need root say
//! so and are skipped without it. Hostile layers are in hostile_tars.rs.

mod layer_support;

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use berth_image::digest::Digest;
use berth_image::layer::UnpackOptions;
use layer_support::{gzip, is_root, jail, Tar, MTIME};
use tar::{EntryType, Header};

#[test]
fn whiteouts_become_overlay_whiteouts() {
    if !is_root() {
        return;
    }
    let j = jail();
    let tar = Tar::default()
        .dir("etc/", 0o755)
        .file("etc/.wh.passwd", b"")
        .file("var/.wh..wh..opq", b"")
        .file(".wh..wh.plnk.1234", b"");
    j.unpack(&tar.end()).unwrap();
    let m = fs::symlink_metadata(j.at("etc/passwd")).unwrap();
    assert!(m.file_type().is_char_device());
    assert_eq!(m.rdev(), 0);
    let mut buf = [0u8; 8];
    let n = rustix::fs::getxattr(j.at("var"), "trusted.overlay.opaque", &mut buf).unwrap();
    assert_eq!(&buf[..n], b"y");
    let names: Vec<_> = fs::read_dir(&j.dest)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn devices_are_created_when_allowed() {
    if !is_root() {
        return;
    }
    let j = jail();
    let tar = Tar::default()
        .device("dev/null", EntryType::Char, 1, 3)
        .end();
    let opts = UnpackOptions {
        allow_devices: true,
        same_owner: true,
    };
    j.run(&tar, &opts).unwrap();
    let m = fs::symlink_metadata(j.at("dev/null")).unwrap();
    assert!(m.file_type().is_char_device());
    assert_eq!(m.rdev(), rustix::fs::makedev(1, 3));
}

#[test]
fn ordinary_rootfs_unpacks_with_links_modes_owners_and_times() {
    let j = jail();
    let mut shadow = Header::new_gnu();
    shadow.set_path("etc/shadow").unwrap();
    shadow.set_size(4);
    shadow.set_mode(0o640);
    shadow.set_uid(0);
    shadow.set_gid(42);
    shadow.set_mtime(MTIME);
    shadow.set_cksum();
    let tar = Tar::default()
        .dir("./", 0o755)
        .dir("bin/", 0o755)
        .raw(b"bin/busybox", EntryType::Regular, b"", b"#!busybox", 0o755)
        .symlink("bin/sh", "busybox")
        .hardlink("bin/ls", "/bin/busybox")
        .dir("usr/bin/", 0o755)
        .symlink("usr/bin/env", "/bin/busybox")
        .raw(b"usr/bin/su", EntryType::Regular, b"", b"su", 0o4755)
        .dir("etc/", 0o755)
        .push(&shadow, b"root")
        .dir("ro/", 0o555)
        .file("ro/inside", b"written before 0555")
        .end();
    let opts = UnpackOptions {
        allow_devices: false,
        same_owner: is_root(),
    };
    let done = j.run(&tar, &opts).unwrap();
    assert_eq!(done.diff_id, Digest::of(&tar));
    assert_eq!(done.compressed_digest, done.diff_id);
    assert_eq!(done.compressed_size, tar.len() as u64);
    assert_eq!(done.size, 9 + 2 + 4 + 19);

    assert_eq!(fs::read_link(j.at("bin/sh")).unwrap(), Path::new("busybox"));
    assert_eq!(
        fs::read_link(j.at("usr/bin/env")).unwrap(),
        Path::new("/bin/busybox")
    );
    assert_eq!(fs::metadata(j.at("bin/ls")).unwrap().nlink(), 2);
    assert_eq!(
        fs::metadata(j.at("usr/bin/su")).unwrap().mode() & 0o7777,
        0o4755
    );
    let ro = fs::metadata(j.at("ro")).unwrap();
    assert_eq!(ro.permissions().mode() & 0o7777, 0o555);
    assert_eq!(ro.mtime(), MTIME as i64);
    assert_eq!(fs::read(j.at("ro/inside")).unwrap(), b"written before 0555");
    assert_eq!(
        fs::symlink_metadata(j.at("bin/sh")).unwrap().mtime(),
        MTIME as i64
    );
    assert_eq!(
        fs::metadata(j.at("bin/busybox")).unwrap().mtime(),
        MTIME as i64
    );
    if opts.same_owner {
        assert_eq!(fs::metadata(j.at("etc/shadow")).unwrap().gid(), 42);
    }
}

#[test]
fn gzip_and_zstd_give_the_plain_tar_diff_id() {
    let tar = Tar::default()
        .dir("a/", 0o755)
        .file("a/f", &[1; 5000])
        .end();
    let plain = jail().unpack(&tar).unwrap();
    assert_eq!(plain.diff_id, Digest::of(&tar));
    for blob in [gzip(&tar), zstd::encode_all(&tar[..], 3).unwrap()] {
        let j = jail();
        let done = j.unpack(&blob).unwrap();
        assert_eq!(done.diff_id, plain.diff_id);
        assert_eq!(done.compressed_digest, Digest::of(&blob));
        assert_eq!(done.compressed_size, blob.len() as u64);
        assert_eq!(done.size, 5000);
        assert_eq!(fs::read(j.at("a/f")).unwrap(), vec![1; 5000]);
    }
}

#[test]
fn a_verified_blob_is_not_hashed_again_but_a_compressed_layers_diff_id_is() {
    let tar = Tar::default().file("f", &[2; 3000]).end();
    let opts = UnpackOptions::default();
    // The digest the caller vouches for is taken as is: a plain layer's diff ID is the same.
    let vouched = Digest::of(b"what the download verified");
    let j = jail();
    let done = berth_image::layer::unpack_verified(&tar[..], &j.dest, &opts, &vouched).unwrap();
    assert_eq!(done.diff_id, vouched);
    assert_eq!(done.compressed_digest, vouched);
    assert_eq!(done.compressed_size, tar.len() as u64);
    assert_eq!(fs::read(j.at("f")).unwrap(), vec![2; 3000]);
    // A compressed layer still gets the diff ID of its content.
    let blob = gzip(&tar);
    let j = jail();
    let done = berth_image::layer::unpack_verified(&blob[..], &j.dest, &opts, &vouched).unwrap();
    assert_eq!(done.diff_id, Digest::of(&tar));
    assert_eq!(done.compressed_digest, vouched);
    assert_eq!(done.compressed_size, blob.len() as u64);
}

#[test]
fn trailing_bytes_and_extra_gzip_members_are_hashed() {
    let mut tar = Tar::default().file("f", b"f").end();
    tar.extend_from_slice(&[0; 4096]);
    let done = jail().unpack(&tar).unwrap();
    assert_eq!(done.diff_id, Digest::of(&tar));
    assert_eq!(done.compressed_size, tar.len() as u64);

    let (head, tail) = tar.split_at(1024);
    let mut two = gzip(head);
    two.extend(gzip(tail));
    let done = jail().unpack(&two).unwrap();
    assert_eq!(done.diff_id, Digest::of(&tar));
    assert_eq!(done.compressed_digest, Digest::of(&two));
}

#[test]
fn long_pax_name_is_accepted() {
    let j = jail();
    let long = format!("{}/{}", "d".repeat(200), "f".repeat(200));
    j.unpack(
        &Tar::default()
            .pax(&[("path", long.as_bytes())])
            .file("s", b"x")
            .end(),
    )
    .unwrap();
    assert_eq!(fs::read(j.at(&long)).unwrap(), b"x");
}

/// Unmounts on drop, so a failing assertion does not leave the mount behind.
struct Mounted(std::path::PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = rustix::mount::unmount(&self.0, rustix::mount::UnmountFlags::DETACH);
    }
}

#[test]
fn converted_whiteouts_hide_lower_files_in_a_real_overlay_mount() {
    if !is_root() {
        return;
    }
    let lower = jail();
    let base = Tar::default()
        .file("etc/passwd", b"root")
        .file("etc/hosts", b"hosts")
        .file("var/old", b"old");
    lower.unpack(&base.end()).unwrap();
    let upper = jail();
    let diff = Tar::default()
        .file("etc/.wh.passwd", b"")
        .file("var/.wh..wh..opq", b"")
        .file("var/new", b"new");
    upper.unpack(&diff.end()).unwrap();

    let merged = tempfile::tempdir().unwrap();
    let data = format!("lowerdir={}:{}", upper.dest.display(), lower.dest.display());
    let flags = rustix::mount::MountFlags::RDONLY;
    if let Err(e) = rustix::mount::mount("overlay", merged.path(), "overlay", flags, data.as_str())
    {
        eprintln!("skipped: overlay mount failed: {e}");
        return;
    }
    let _guard = Mounted(merged.path().to_owned());
    let m = merged.path();
    assert!(fs::symlink_metadata(m.join("etc/passwd")).is_err());
    assert_eq!(fs::read(m.join("etc/hosts")).unwrap(), b"hosts");
    assert!(fs::symlink_metadata(m.join("var/old")).is_err());
    assert_eq!(fs::read(m.join("var/new")).unwrap(), b"new");
}
