//! pack ∘ unpack keeps a tree, whiteouts included, and the same tree packs to the same bytes.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use berth_image::layer::{pack, unpack, PackOptions, UnpackOptions};

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn tree(dir: &Path) {
    std::fs::create_dir_all(dir.join("etc/app")).unwrap();
    std::fs::write(dir.join("etc/app/conf"), "x=1\n").unwrap();
    std::fs::set_permissions(
        dir.join("etc/app/conf"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    std::fs::hard_link(dir.join("etc/app/conf"), dir.join("etc/app/conf.bak")).unwrap();
    std::os::unix::fs::symlink("/etc/app/conf", dir.join("etc/link")).unwrap();
    std::fs::create_dir(dir.join("opaque")).unwrap();
    std::fs::write(dir.join("opaque/kept"), "k").unwrap();
}

#[test]
fn pack_then_unpack_round_trips_with_whiteouts() {
    if !is_root() {
        eprintln!("SKIPPED (needs root): whiteout devices and trusted xattrs");
        return;
    }
    let base = tempfile::tempdir().unwrap();
    let src = base.path().join("src");
    tree(&src);
    rustix::fs::mknodat(
        rustix::fs::CWD,
        src.join("etc/gone"),
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::from_raw_mode(0),
        0,
    )
    .unwrap();
    rustix::fs::setxattr(
        src.join("opaque"),
        "trusted.overlay.opaque",
        b"y",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();

    let mut tar = Vec::new();
    let packed = pack(
        &src,
        &mut tar,
        &PackOptions {
            mtime_clamp: Some(1_700_000_000),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(packed.diff_id, berth_image::Digest::of(&tar));
    let names: Vec<String> = tar::Archive::new(&tar[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(names.contains(&"etc/.wh.gone".to_string()), "{names:?}");
    assert!(
        names.contains(&"opaque/.wh..wh..opq".to_string()),
        "{names:?}"
    );

    let dst = base.path().join("dst");
    std::fs::create_dir(&dst).unwrap();
    let got = unpack(&tar[..], &dst, &UnpackOptions::default()).unwrap();
    assert_eq!(got.diff_id, packed.diff_id);
    assert_eq!(
        std::fs::read_to_string(dst.join("etc/app/conf")).unwrap(),
        "x=1\n"
    );
    let (a, b) = (
        std::fs::metadata(dst.join("etc/app/conf")).unwrap(),
        std::fs::metadata(dst.join("etc/app/conf.bak")).unwrap(),
    );
    assert_eq!(a.ino(), b.ino(), "hard link kept");
    assert_eq!(a.mode() & 0o777, 0o640);
    assert_eq!(
        std::fs::read_link(dst.join("etc/link")).unwrap(),
        Path::new("/etc/app/conf")
    );
    let gone = std::fs::symlink_metadata(dst.join("etc/gone")).unwrap();
    assert!(std::os::unix::fs::FileTypeExt::is_char_device(&gone.file_type()) && gone.rdev() == 0);
    let mut v = [0u8; 2];
    assert_eq!(
        rustix::fs::lgetxattr(dst.join("opaque"), "trusted.overlay.opaque", &mut v).unwrap(),
        1
    );
}

#[test]
fn the_same_tree_packs_to_the_same_bytes() {
    let base = tempfile::tempdir().unwrap();
    let (a, b) = (base.path().join("a"), base.path().join("b"));
    tree(&a);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    tree(&b);
    let opts = PackOptions {
        mtime_clamp: Some(1_000_000),
        ..Default::default()
    };
    let (mut ta, mut tb) = (Vec::new(), Vec::new());
    let pa = pack(&a, &mut ta, &opts).unwrap();
    let pb = pack(&b, &mut tb, &opts).unwrap();
    assert_eq!(pa.diff_id, pb.diff_id, "mtimes clamped, order sorted");
    assert_eq!(
        pa.size, 5,
        "conf (4 bytes, two names, counted once) and kept (1)"
    );
}
