//! Layer unpacking against hostile tarballs, all built here byte by byte.
//!
//! Every case unpacks into `outer/dest`, where `outer` also holds a `sentinel` file; after the
//! unpack (successful or not) nothing in `outer` except `dest` may have changed. Tests that need
//! root (trusted xattrs) say so and are skipped without it. Ordinary layers are in layer_unpack.rs.

mod layer_support;

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use berth_image::layer::{LayerError, Refusal};
use layer_support::{gzip, is_root, jail, outer_abs, Tar};
use tar::{EntryType, Header};

// ---- paths ----

#[test]
fn dotdot_name_is_refused() {
    let j = jail();
    let tar = Tar::default().file("../evil", b"x").end();
    assert_eq!(j.refused(&tar), Refusal::EscapesRoot);
}

#[test]
fn nested_dotdot_that_climbs_out_is_refused() {
    let j = jail();
    let tar = Tar::default()
        .dir("a/", 0o755)
        .file("a/b/../../../evil", b"x")
        .end();
    assert_eq!(j.refused(&tar), Refusal::EscapesRoot);
}

#[test]
fn dotdot_directory_entry_is_refused() {
    let j = jail();
    assert_eq!(
        j.refused(&Tar::default().dir("../", 0o777).end()),
        Refusal::EscapesRoot
    );
}

#[test]
fn pax_path_that_climbs_out_is_refused() {
    let j = jail();
    let tar = Tar::default()
        .pax(&[("path", b"../../pwned")])
        .file("harmless", b"x");
    assert_eq!(j.refused(&tar.end()), Refusal::EscapesRoot);
}

#[test]
fn gnu_long_name_that_climbs_out_is_refused() {
    let j = jail();
    let tar = Tar::default()
        .raw(
            b"././@LongLink",
            EntryType::GNULongName,
            b"",
            b"a/../../pwned\0",
            0o644,
        )
        .file("harmless", b"x");
    assert_eq!(j.refused(&tar.end()), Refusal::EscapesRoot);
}

#[test]
fn absolute_name_of_the_sentinel_lands_inside_dest() {
    let j = jail();
    let abs = j.sentinel().to_str().unwrap().to_owned();
    j.unpack(&Tar::default().file(&abs, b"pwned").end())
        .unwrap();
    assert_eq!(
        fs::read(j.at(abs.trim_start_matches('/'))).unwrap(),
        b"pwned"
    );
}

#[test]
fn dotdot_that_stays_inside_is_normalised() {
    let j = jail();
    j.unpack(&Tar::default().file("a/../b", b"b").end())
        .unwrap();
    assert_eq!(fs::read(j.at("b")).unwrap(), b"b");
}

#[test]
fn parent_that_is_a_file_is_refused() {
    let j = jail();
    let tar = Tar::default().file("f", b"x").file("f/x", b"y").end();
    assert_eq!(j.refused(&tar), Refusal::NotADirectory("f".into()));
}

#[test]
fn root_entry_that_is_not_a_directory_is_refused() {
    let j = jail();
    assert_eq!(
        j.refused(&Tar::default().file(".", b"x").end()),
        Refusal::RootNotDirectory
    );
}

#[test]
fn unknown_entry_type_is_refused() {
    let j = jail();
    let tar = Tar::default()
        .raw(b"vol", EntryType::new(b'V'), b"", b"", 0o644)
        .end();
    assert_eq!(j.refused(&tar), Refusal::UnsupportedType('V'));
}

// ---- symlinks ----

#[test]
fn write_through_absolute_symlink_is_refused() {
    let j = jail();
    let tar = Tar::default()
        .symlink("evil", &outer_abs(&j))
        .file("evil/pwned", b"x")
        .end();
    assert_eq!(j.refused(&tar), Refusal::SymlinkInPath("evil".into()));
}

#[test]
fn write_through_relative_symlink_is_refused() {
    let j = jail();
    let tar = Tar::default()
        .dir("d/", 0o755)
        .symlink("d/up", "../..")
        .file("d/up/pwned", b"x");
    assert_eq!(j.refused(&tar.end()), Refusal::SymlinkInPath("d/up".into()));
}

#[test]
fn mkdir_through_symlink_is_refused() {
    let j = jail();
    let tar = Tar::default()
        .symlink("evil", &outer_abs(&j))
        .dir("evil/newdir/", 0o755)
        .end();
    assert_eq!(j.refused(&tar), Refusal::SymlinkInPath("evil".into()));
}

#[test]
fn file_replaces_symlink_instead_of_writing_through_it() {
    let j = jail();
    let abs = j.sentinel().to_str().unwrap().to_owned();
    j.unpack(&Tar::default().symlink("a", &abs).file("a", b"new").end())
        .unwrap();
    assert!(fs::symlink_metadata(j.at("a")).unwrap().is_file());
    assert_eq!(fs::read(j.at("a")).unwrap(), b"new");
}

#[test]
fn directory_replaces_symlink() {
    let j = jail();
    let tar = Tar::default()
        .symlink("a", &outer_abs(&j))
        .dir("a/", 0o700)
        .file("a/x", b"x");
    j.unpack(&tar.end()).unwrap();
    assert!(fs::symlink_metadata(j.at("a")).unwrap().is_dir());
    assert_eq!(fs::read(j.at("a/x")).unwrap(), b"x");
}

#[test]
fn directory_later_replaced_by_symlink_does_not_chmod_its_target() {
    let j = jail();
    let tar = Tar::default()
        .dir("d/", 0o700)
        .symlink("d", &outer_abs(&j))
        .end();
    j.unpack(&tar).unwrap();
    assert!(fs::symlink_metadata(j.at("d")).unwrap().is_symlink());
}

#[test]
fn replacing_a_directory_removes_escaping_symlinks_not_their_targets() {
    let j = jail();
    let tar = Tar::default()
        .dir("d/", 0o755)
        .symlink("d/out", &outer_abs(&j))
        .file("d", b"f");
    j.unpack(&tar.end()).unwrap();
    assert_eq!(fs::read(j.at("d")).unwrap(), b"f");
}

#[test]
fn empty_symlink_target_is_refused() {
    let j = jail();
    assert_eq!(
        j.refused(&Tar::default().symlink("l", "").end()),
        Refusal::EmptyLinkTarget
    );
}

#[test]
fn nul_in_pax_linkpath_is_refused() {
    let j = jail();
    let tar = Tar::default()
        .pax(&[("linkpath", b"/etc\0x")])
        .symlink("l", "t")
        .end();
    assert_eq!(j.refused(&tar), Refusal::Nul);
}

// ---- hardlinks ----

#[test]
fn hardlink_to_absolute_outside_path_resolves_inside_and_is_missing() {
    let j = jail();
    let abs = j.sentinel().to_str().unwrap().to_owned();
    let tar = Tar::default().hardlink("h", &abs).end();
    assert!(matches!(j.refused(&tar), Refusal::LinkTargetMissing(_)));
}

#[test]
fn hardlink_to_etc_passwd_is_refused() {
    let j = jail();
    let nlink = fs::metadata("/etc/passwd").map(|m| m.nlink()).ok();
    let tar = Tar::default().hardlink("passwd", "/etc/passwd").end();
    assert!(matches!(j.refused(&tar), Refusal::LinkTargetMissing(_)));
    assert_eq!(fs::metadata("/etc/passwd").map(|m| m.nlink()).ok(), nlink);
}

#[test]
fn hardlink_with_dotdot_target_is_refused() {
    let j = jail();
    let tar = Tar::default().hardlink("h", "../sentinel").end();
    assert_eq!(
        j.refused(&tar),
        Refusal::LinkTargetEscapes("../sentinel".into())
    );
}

#[test]
fn hardlink_through_symlinked_directory_is_refused() {
    let j = jail();
    let tar = Tar::default()
        .symlink("d", &outer_abs(&j))
        .hardlink("h", "d/sentinel")
        .end();
    assert_eq!(j.refused(&tar), Refusal::SymlinkInPath("d".into()));
}

#[test]
fn hardlink_to_escaping_symlink_links_the_symlink_itself() {
    let j = jail();
    let abs = j.sentinel().to_str().unwrap().to_owned();
    let tar = Tar::default().symlink("s", &abs).hardlink("h", "s");
    j.unpack(&tar.clone().end()).unwrap();
    assert_eq!(fs::read_link(j.at("h")).unwrap(), Path::new(&abs));
    // A later regular file at either name replaces the link; the sentinel is not written.
    let j = jail();
    let tar = Tar::default()
        .symlink("s", &abs)
        .hardlink("h", "s")
        .file("h", b"x")
        .file("s", b"y");
    j.unpack(&tar.end()).unwrap();
    assert_eq!(fs::read(j.at("h")).unwrap(), b"x");
}

#[test]
fn file_over_a_hardlink_does_not_write_the_other_name() {
    let j = jail();
    let tar = Tar::default()
        .file("f", b"original")
        .hardlink("h", "f")
        .file("h", b"replaced");
    j.unpack(&tar.end()).unwrap();
    assert_eq!(fs::read(j.at("f")).unwrap(), b"original");
    assert_eq!(fs::read(j.at("h")).unwrap(), b"replaced");
    assert_eq!(fs::metadata(j.at("f")).unwrap().nlink(), 1);
}

#[test]
fn hardlink_to_missing_target_is_refused() {
    let j = jail();
    let tar = Tar::default().hardlink("h", "nope/x").end();
    assert_eq!(j.refused(&tar), Refusal::LinkTargetMissing("nope/x".into()));
}

#[test]
fn hardlink_to_directory_or_itself_is_refused() {
    let j = jail();
    let tar = Tar::default().dir("d/", 0o755).hardlink("h", "d").end();
    assert_eq!(j.refused(&tar), Refusal::LinkTargetDirectory("d".into()));
    let j = jail();
    let tar = Tar::default().file("a", b"a").hardlink("a", "./a").end();
    assert_eq!(j.refused(&tar), Refusal::LinkToItself);
}

// ---- duplicates and type changes ----

#[test]
fn duplicate_entries_last_one_wins() {
    let j = jail();
    let tar = Tar::default()
        .file("f", b"one")
        .file("f", b"two")
        .file("x", b"file")
        .dir("x/", 0o755)
        .file("x/y", b"y")
        .dir("d/", 0o755)
        .file("d/z", b"z")
        .file("d", b"now a file");
    j.unpack(&tar.end()).unwrap();
    assert_eq!(fs::read(j.at("f")).unwrap(), b"two");
    assert_eq!(fs::read(j.at("x/y")).unwrap(), b"y");
    assert_eq!(fs::read(j.at("d")).unwrap(), b"now a file");
}

// ---- devices ----

#[test]
fn char_device_is_refused_when_not_allowed() {
    let j = jail();
    let tar = Tar::default().device("mem", EntryType::Char, 1, 1).end();
    assert_eq!(j.refused(&tar), Refusal::Device);
    assert!(fs::symlink_metadata(j.at("mem")).is_err());
}

#[test]
fn block_device_is_refused_when_not_allowed() {
    let j = jail();
    let tar = Tar::default().device("sda", EntryType::Block, 8, 0).end();
    assert_eq!(j.refused(&tar), Refusal::Device);
}

#[test]
fn fifo_is_created_inside_dest() {
    let j = jail();
    j.unpack(&Tar::default().device("p", EntryType::Fifo, 0, 0).end())
        .unwrap();
    assert!(fs::symlink_metadata(j.at("p"))
        .unwrap()
        .file_type()
        .is_fifo());
}

// ---- names ----

#[test]
fn nul_in_pax_path_is_refused() {
    let j = jail();
    let tar = Tar::default()
        .pax(&[("path", b"a\0/../../x")])
        .file("short", b"x")
        .end();
    assert_eq!(j.refused(&tar), Refusal::Nul);
}

#[test]
fn overlong_component_is_refused() {
    let j = jail();
    let long = "x".repeat(300);
    let tar = Tar::default()
        .pax(&[("path", long.as_bytes())])
        .file("s", b"x")
        .end();
    assert_eq!(j.refused(&tar), Refusal::TooLong);
}

#[test]
fn overlong_path_is_refused() {
    let j = jail();
    let long = "ab/".repeat(1500) + "f";
    let tar = Tar::default()
        .pax(&[("path", long.as_bytes())])
        .file("s", b"x")
        .end();
    assert_eq!(j.refused(&tar), Refusal::TooLong);
    assert_eq!(fs::read_dir(&j.dest).unwrap().count(), 0);
}

// ---- broken streams ----

#[test]
fn huge_declared_size_with_short_data_is_truncated() {
    let j = jail();
    let mut h = Header::new_gnu();
    h.set_path("big").unwrap();
    h.set_size(1 << 40);
    h.set_cksum();
    let mut tar = h.as_bytes().to_vec();
    tar.extend_from_slice(b"only ten b");
    match j.unpack(&tar) {
        Err(LayerError::Truncated { path, got: 10, .. }) => assert_eq!(path, "big"),
        other => panic!("expected truncation, got {other:?}"),
    }
}

#[test]
fn archive_cut_inside_a_header_is_an_error() {
    let j = jail();
    let tar = Tar::default().file("a", b"a").file("b", b"b").end();
    assert!(matches!(
        j.unpack(&tar[..1024 + 300]),
        Err(LayerError::Read(_))
    ));
}

#[test]
fn non_tar_stream_is_an_error() {
    let j = jail();
    let text = "this is not a tar archive, just words. ".repeat(40);
    assert!(matches!(
        j.unpack(text.as_bytes()),
        Err(LayerError::Read(_))
    ));
}

#[test]
fn gzip_garbage_is_an_error() {
    let j = jail();
    let mut blob = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
    blob.extend((0..2000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    assert!(j.unpack(&blob).is_err());
}

#[test]
fn truncated_gzip_is_an_error() {
    let j = jail();
    let tar = Tar::default().file("a", &[7; 100_000]).end();
    let gz = gzip(&tar);
    assert!(j.unpack(&gz[..gz.len() / 2]).is_err());
}

#[test]
fn zstd_garbage_is_an_error() {
    let j = jail();
    let mut blob = vec![0x28, 0xb5, 0x2f, 0xfd];
    blob.extend_from_slice(&[0xff; 600]);
    assert!(j.unpack(&blob).is_err());
}

// ---- whiteouts ----

#[test]
fn whiteout_inside_symlinked_directory_is_refused() {
    let j = jail();
    let tar = Tar::default()
        .symlink("l", &outer_abs(&j))
        .file("l/.wh.sentinel", b"")
        .end();
    assert_eq!(j.refused(&tar), Refusal::SymlinkInPath("l".into()));
}

#[test]
fn opaque_marker_inside_symlinked_directory_is_refused() {
    let j = jail();
    let tar = Tar::default()
        .symlink("l", &outer_abs(&j))
        .file("l/.wh..wh..opq", b"")
        .end();
    assert_eq!(j.refused(&tar), Refusal::SymlinkInPath("l".into()));
    assert!(rustix::fs::getxattr(j.outer.path(), "trusted.overlay.opaque", &mut [0; 8]).is_err());
}

#[test]
fn whiteout_of_dot_or_dotdot_is_refused() {
    for name in [".wh...", "a/.wh..", ".wh."] {
        let j = jail();
        let tar = Tar::default().file(name, b"").end();
        assert_eq!(j.refused(&tar), Refusal::BadWhiteout, "{name}");
    }
}

#[test]
fn whiteout_above_the_root_is_refused() {
    let j = jail();
    let tar = Tar::default().file("../.wh.sentinel", b"").end();
    assert_eq!(j.refused(&tar), Refusal::EscapesRoot);
}

#[test]
fn overlay_xattrs_in_the_tar_are_dropped() {
    if !is_root() {
        return;
    }
    let j = jail();
    let tar = Tar::default()
        .pax(&[
            ("SCHILY.xattr.trusted.overlay.opaque", b"y"),
            ("SCHILY.xattr.user.k", b"v"),
        ])
        .dir("d/", 0o755);
    j.unpack(&tar.end()).unwrap();
    let mut buf = [0u8; 8];
    assert!(rustix::fs::getxattr(j.at("d"), "trusted.overlay.opaque", &mut buf).is_err());
    if let Ok(n) = rustix::fs::getxattr(j.at("d"), "user.k", &mut buf) {
        assert_eq!(&buf[..n], b"v");
    }
}

// ---- digests and compression ----
