//! Overlay mounts of many layers: the short links keep 120 layers within one mount.

use std::io::Read;
use std::path::{Path, PathBuf};

use berth_image::layer::UnpackOptions;
use berth_store::Store;

fn layer_tar(files: &[(&str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, path, data.as_bytes())
            .expect("append");
    }
    b.into_inner().expect("finish tar")
}

struct Unmount<'a>(&'a Path);

impl Drop for Unmount<'_> {
    fn drop(&mut self) {
        let _ = berth_store::layers::unmount(self.0);
    }
}

#[test]
fn one_hundred_twenty_layers_mount_with_the_top_layer_winning() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("SKIPPED (needs root): overlay mount of 120 layers");
        return;
    }
    // A deep root path, so absolute lowerdir paths would not fit in one page.
    let base = tempfile::tempdir().expect("tempdir");
    let root = base
        .path()
        .join("a-rather-long-directory-name-for-the-store-root/and-another-level");
    let store = Store::open(&root).expect("open store");
    let mut chains = Vec::new();
    let mut parent = None;
    for i in 0..120 {
        let name = format!("layer-{i:03}");
        let tar = layer_tar(&[(name.as_str(), "x"), ("shared", name.as_str())]);
        let done = store
            .layers
            .unpack(parent.as_ref(), None, &tar[..], &UnpackOptions::default())
            .expect("unpack layer");
        parent = Some(done.chain_id.clone());
        chains.push(done.chain_id);
    }
    let target = base.path().join("merged");
    std::fs::create_dir(&target).expect("mkdir");
    store
        .layers
        .mount_overlay(&chains, None, &target)
        .expect("mount 120 layers");
    let _guard = Unmount(&target);
    assert!(target.join("layer-000").exists() && target.join("layer-119").exists());
    let mut shared = String::new();
    std::fs::File::open(target.join("shared"))
        .and_then(|mut f| f.read_to_string(&mut shared))
        .expect("read shared");
    assert_eq!(shared, "layer-119", "the top layer's file wins");
}

/// A store with one layer (`etc/motd` = "hello") and empty upper, work and mount directories.
struct Writable {
    _base: tempfile::TempDir,
    store: Store,
    chain: berth_image::Digest,
    upper: PathBuf,
    work: PathBuf,
    target: PathBuf,
}

impl Writable {
    fn new() -> Self {
        let base = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&base.path().join("root")).expect("open store");
        let tar = layer_tar(&[("etc/motd", "hello")]);
        let chain = store
            .layers
            .unpack(None, None, &tar[..], &UnpackOptions::default())
            .expect("unpack")
            .chain_id;
        let dir = |n: &str| base.path().join(n);
        let (upper, work, target) = (dir("u"), dir("w"), dir("m"));
        for d in [&upper, &work, &target] {
            std::fs::create_dir(d).expect("mkdir");
        }
        Self {
            _base: base,
            store,
            chain,
            upper,
            work,
            target,
        }
    }

    fn mount(&self, volatile: bool) -> Result<(), berth_store::StoreError> {
        self.store.layers.mount_overlay(
            std::slice::from_ref(&self.chain),
            Some(berth_store::layers::Upper {
                dir: &self.upper,
                work: &self.work,
                volatile,
                init: false,
            }),
            &self.target,
        )
    }
}

#[test]
fn a_writable_overlay_keeps_writes_in_the_upper_dir() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("SKIPPED (needs root): writable overlay mount");
        return;
    }
    let w = Writable::new();
    w.mount(false).expect("mount");
    let guard = Unmount(&w.target);
    std::fs::write(w.target.join("etc/motd"), "changed").expect("write through overlay");
    drop(guard);
    assert_eq!(
        std::fs::read_to_string(w.upper.join("etc/motd")).expect("upper"),
        "changed"
    );
    let lower = w.store.layers.diff_path(&w.chain).join("etc/motd");
    assert_eq!(
        std::fs::read_to_string(lower).expect("lower"),
        "hello",
        "the layer is untouched"
    );
}

/// A volatile upper (a `run --rm` container's) can be mounted again: the kernel's
/// `work/incompat/volatile` marker, which would refuse the next mount, is cleared first.
#[test]
fn a_volatile_overlay_mounts_again_after_it_was_unmounted() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("SKIPPED (needs root): volatile overlay mount");
        return;
    }
    let w = Writable::new();
    w.mount(true).expect("first mount");
    let guard = Unmount(&w.target);
    std::fs::write(w.target.join("etc/motd"), "changed").expect("write through overlay");
    drop(guard);
    assert!(
        w.work.join("work/incompat/volatile").exists(),
        "the kernel marks a volatile upper"
    );
    w.mount(true).expect("second mount");
    let _guard = Unmount(&w.target);
    assert_eq!(
        std::fs::read_to_string(w.target.join("etc/motd")).expect("read"),
        "changed"
    );
}
