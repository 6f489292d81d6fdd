//! Unpacked layers: one directory per chain ID, and overlay mounts over them.
//!
//! ```text
//! layers/<chain hex>/diff     the layer's files, whiteouts in overlay's form
//! layers/<chain hex>/link     the short name below
//! layers/l/<SHORT>            symlink → ../<chain hex>/diff
//! layers/tmp/                 layers being unpacked or deleted
//! ```
//!
//! A layer is unpacked into `tmp/` and renamed into place whole, so a crash never leaves a
//! half-unpacked layer under its chain ID. The short links keep overlay's `lowerdir=` option
//! small: 128 layers take about 2 KiB, well inside the one page the kernel accepts.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::Command;

use berth_image::digest::Digest;
use berth_image::layer::{self, UnpackOptions, Unpacked};
use rand::Rng;

use crate::fsutil::{fsync_dir, remove_tree};
use crate::StoreError;

/// Length of the short link names.
const LINK_LEN: usize = 12;
/// The kernel copies mount options into one page; keep a margin.
const MAX_MOUNT_DATA: usize = 4000;

/// A layer just unpacked (or found unpacked already).
#[derive(Debug, Clone)]
pub struct UnpackedLayer {
    pub chain_id: Digest,
    pub link: String,
    pub unpacked: Unpacked,
}

/// A layer's files unpacked into `tmp/`, waiting for [`LayerStore::publish`].
#[derive(Debug)]
pub struct PreparedLayer {
    tmp: tempfile::TempDir,
    pub unpacked: Unpacked,
}

/// The unpacked-layer half of the store.
#[derive(Debug, Clone)]
pub struct LayerStore {
    dir: PathBuf,
}

impl LayerStore {
    pub fn open(root: &Path) -> Result<Self, StoreError> {
        let dir = root.join("layers");
        for d in [dir.join("l"), dir.join("tmp")] {
            fs::create_dir_all(&d).map_err(|e| StoreError::io(&d, e))?;
        }
        Ok(Self { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The directory holding the layer's files.
    pub fn diff_path(&self, chain_id: &Digest) -> PathBuf {
        self.dir.join(chain_id.hex()).join("diff")
    }

    /// Where the init layer of images whose top layer is `top` is (see [`LayerStore::make_init`]);
    /// inside the layer's own directory, so it goes with the layer.
    pub fn init_path(&self, top: &Digest) -> PathBuf {
        self.dir.join(init_link(top))
    }

    /// Publishes the init layer of `top`: a read-only layer that containers of its images get
    /// between the image and their writable layer, holding the empty files the runtime binds
    /// over (/etc/hosts, ...) where the image has none. `fill` makes its content in a fresh
    /// directory; it appears whole, or not at all (another process may have published it
    /// first: theirs is kept).
    pub fn make_init(
        &self,
        top: &Digest,
        fill: impl FnOnce(&Path) -> io::Result<()>,
    ) -> Result<PathBuf, StoreError> {
        let target = self.init_path(top);
        let tmp = self
            .dir
            .join("tmp")
            .join(format!("init-{}-{}", top.short(), random_link()));
        fs::create_dir(&tmp).map_err(|e| StoreError::io(&tmp, e))?;
        let made = fill(&tmp).map_err(|e| StoreError::io(&tmp, e));
        let published = made.and_then(|()| match fs::rename(&tmp, &target) {
            Ok(()) => Ok(()),
            Err(_) if target.is_dir() => Ok(()),
            Err(e) => Err(StoreError::io(&target, e)),
        });
        if tmp.exists() {
            let _ = remove_tree(&tmp);
        }
        published.map(|()| target)
    }

    pub fn exists(&self, chain_id: &Digest) -> bool {
        self.diff_path(chain_id).is_dir()
    }

    /// The short link name of an unpacked layer.
    pub fn link(&self, chain_id: &Digest) -> Result<String, StoreError> {
        let path = self.dir.join(chain_id.hex()).join("link");
        fs::read_to_string(&path).map_err(|e| StoreError::io(&path, e))
    }

    /// Unpacks a layer stream on top of `parent` (a chain ID). The layer is published under
    /// the chain ID its content gives; with `expected_diff`, content whose diff ID differs is
    /// refused and nothing is published. If another process unpacked the same layer
    /// meanwhile, that copy wins and ours is discarded.
    pub fn unpack(
        &self,
        parent: Option<&Digest>,
        expected_diff: Option<&Digest>,
        reader: impl Read,
        opts: &UnpackOptions,
    ) -> Result<UnpackedLayer, StoreError> {
        let what = expected_diff.map_or_else(|| "layer".to_string(), |d| format!("layer {d}"));
        let prepared = self.prepare(reader, opts, &what, None)?;
        self.publish(prepared, parent, expected_diff)
    }

    /// The first half of [`LayerStore::unpack`]: the layer's files in a private directory
    /// under `tmp/`, synced, not yet under any chain ID (a layer's files do not depend on its
    /// parent, so this can run while the layer still downloads). Dropped unpublished, the
    /// directory goes. `verified`: the digest the stream's bytes were already checked against
    /// (see [`layer::unpack_verified`]); it is not computed again.
    pub fn prepare(
        &self,
        reader: impl Read,
        opts: &UnpackOptions,
        what: &str,
        verified: Option<&Digest>,
    ) -> Result<PreparedLayer, StoreError> {
        let tmp = tempfile::Builder::new()
            .prefix("unpack-")
            .tempdir_in(self.dir.join("tmp"))
            .map_err(|e| StoreError::io(&self.dir, e))?;
        let diff = tmp.path().join("diff");
        fs::create_dir(&diff).map_err(|e| StoreError::io(&diff, e))?;
        let unpacked = match verified {
            Some(d) => layer::unpack_verified(reader, &diff, opts, d),
            None => layer::unpack(reader, &diff, opts),
        }
        .map_err(|source| StoreError::Layer {
            what: what.to_string(),
            source,
        })?;
        // Sync the new files before a rename publishes them.
        sync_tree(tmp.path());
        Ok(PreparedLayer { tmp, unpacked })
    }

    /// The second half of [`LayerStore::unpack`]: checks the diff ID and publishes the
    /// prepared files on top of `parent`.
    pub fn publish(
        &self,
        prepared: PreparedLayer,
        parent: Option<&Digest>,
        expected_diff: Option<&Digest>,
    ) -> Result<UnpackedLayer, StoreError> {
        let PreparedLayer { tmp, unpacked } = prepared;
        if let Some(want) = expected_diff {
            if *want != unpacked.diff_id {
                return Err(StoreError::DigestMismatch {
                    expected: want.clone(),
                    actual: unpacked.diff_id,
                });
            }
        }
        let chain_id = match parent {
            None => unpacked.diff_id.clone(),
            Some(p) => Digest::of(format!("{p} {}", unpacked.diff_id).as_bytes()),
        };
        let link = random_link();
        let link_file = tmp.path().join("link");
        fs::File::create(&link_file)
            .and_then(|mut f| {
                io::Write::write_all(&mut f, link.as_bytes())?;
                f.sync_all()
            })
            .map_err(|e| StoreError::io(&link_file, e))?;
        fsync_dir(tmp.path())?;

        // The link first (dangling until the rename): a crash leaves at worst a stray link.
        let link_path = self.dir.join("l").join(&link);
        std::os::unix::fs::symlink(format!("../{}/diff", chain_id.hex()), &link_path)
            .map_err(|e| StoreError::io(&link_path, e))?;
        let final_dir = self.dir.join(chain_id.hex());
        let tmp_path = tmp.keep();
        let link = match fs::rename(&tmp_path, &final_dir) {
            Ok(()) => {
                fsync_dir(&self.dir)?;
                link
            }
            Err(e) if final_dir.is_dir() => {
                // Someone else got there first (or a crash left a complete copy): keep it.
                tracing::debug!(%chain_id, error = %e, "layer already unpacked");
                let _ = fs::remove_file(&link_path);
                let _ = remove_tree(&tmp_path);
                self.link(&chain_id)?
            }
            Err(e) => {
                let _ = fs::remove_file(&link_path);
                let _ = remove_tree(&tmp_path);
                return Err(StoreError::io(&final_dir, e));
            }
        };
        Ok(UnpackedLayer {
            chain_id,
            link,
            unpacked,
        })
    }

    /// Removes an unpacked layer: renamed out of the way first, so its chain ID never names a
    /// half-deleted tree.
    pub fn remove(&self, chain_id: &Digest, link: &str) -> Result<(), StoreError> {
        let final_dir = self.dir.join(chain_id.hex());
        let doomed =
            self.dir
                .join("tmp")
                .join(format!("rm-{}-{}", chain_id.short(), random_link()));
        match fs::rename(&final_dir, &doomed) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::io(&final_dir, e)),
        }
        let link_path = self.dir.join("l").join(link);
        match fs::remove_file(&link_path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::io(&link_path, e)),
        }
        remove_tree(&doomed)
    }

    /// Chain IDs that have a directory on disk, and anything else found in `layers/`.
    pub fn list(&self) -> Result<(Vec<Digest>, Vec<PathBuf>), StoreError> {
        let mut good = Vec::new();
        let mut other = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(|e| StoreError::io(&self.dir, e))? {
            let entry = entry.map_err(|e| StoreError::io(&self.dir, e))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name == "l" || name == "tmp" {
                continue;
            }
            match Digest::from_hex(&name) {
                Ok(d) => good.push(d),
                Err(_) => other.push(entry.path()),
            }
        }
        good.sort();
        Ok((good, other))
    }

    /// Links in `l/` whose target is gone, and leftovers in `tmp/`.
    pub fn strays(&self) -> Result<Vec<PathBuf>, StoreError> {
        let mut out = Vec::new();
        let l = self.dir.join("l");
        for entry in fs::read_dir(&l).map_err(|e| StoreError::io(&l, e))? {
            let path = entry.map_err(|e| StoreError::io(&l, e))?.path();
            if !path.exists() {
                out.push(path);
            }
        }
        let tmp = self.dir.join("tmp");
        for entry in fs::read_dir(&tmp).map_err(|e| StoreError::io(&tmp, e))? {
            out.push(entry.map_err(|e| StoreError::io(&tmp, e))?.path());
        }
        Ok(out)
    }

    /// Mounts an overlay of `lowers` (bottom first) with `upper` on `target`.
    /// With no upper, the mount is read-only.
    pub fn mount_overlay(
        &self,
        lowers: &[Digest],
        upper: Option<Upper<'_>>,
        target: &Path,
    ) -> Result<(), StoreError> {
        let mut links = Vec::with_capacity(lowers.len() + 1);
        if let (true, Some(top)) = (upper.is_some_and(|u| u.init), lowers.last()) {
            links.push(init_link(top));
        }
        for chain in lowers.iter().rev() {
            links.push(format!("l/{}", self.link(chain)?));
        }
        if links.is_empty() {
            return Err(StoreError::Mount {
                target: target.to_path_buf(),
                reason: "an overlay needs at least one lower layer".into(),
            });
        }
        let upper_opts = match upper {
            None => String::new(),
            Some(u) => {
                let mut o = format!(",upperdir={},workdir={}", u.dir.display(), u.work.display());
                if u.volatile {
                    // A volatile mount leaves work/incompat/volatile behind and the kernel
                    // refuses the next mount while it is there: the upper of a disposable
                    // container may be remounted after a crash, whatever it holds.
                    let _ = fs::remove_dir_all(u.work.join("work").join("incompat"));
                    o.push_str(",volatile");
                }
                o
            }
        };
        let absolute: Vec<String> = links
            .iter()
            .map(|l| self.dir.join(l).display().to_string())
            .collect();
        let data = format!("lowerdir={}{upper_opts}", absolute.join(":"));
        if data.len() <= MAX_MOUNT_DATA {
            return mount_overlay_syscall(&data, target);
        }
        // Too long with absolute paths: mount from inside layers/ with the short relative
        // links. cwd is per process, so do it in a child rather than chdir in ours.
        let data = format!("lowerdir={}{upper_opts}", links.join(":"));
        if data.len() > MAX_MOUNT_DATA {
            return Err(StoreError::Mount {
                target: target.to_path_buf(),
                reason: format!(
                    "{} layers are more than one overlay mount can hold",
                    lowers.len()
                ),
            });
        }
        let out = Command::new("mount")
            .current_dir(&self.dir)
            .args(["-t", "overlay", "overlay", "-o", &data])
            .arg(target)
            .output()
            .map_err(|e| StoreError::io(Path::new("mount"), e))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(StoreError::Mount {
                target: target.to_path_buf(),
                reason: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            })
        }
    }
}

/// The writable layer of an overlay mount.
#[derive(Debug, Clone, Copy)]
pub struct Upper<'a> {
    pub dir: &'a Path,
    /// overlayfs's work directory, on the same filesystem as `dir`.
    pub work: &'a Path,
    /// Mount with `volatile`: the overlay never syncs its upper layer (fsync in the container
    /// is a no-op, and unmounting skips the sync: 1.6 -> 0.4 ms here). For a container whose
    /// writable layer dies with it (`run --rm`), as podman does for its transient containers.
    pub volatile: bool,
    /// Stack the init layer of the top lower layer ([`LayerStore::make_init`], which must have
    /// made it) just below the writable layer.
    pub init: bool,
}

/// The init layer of `top`, relative to the layers directory (as the overlay's lower dirs are).
fn init_link(top: &Digest) -> String {
    format!("{}/init", top.hex())
}

fn mount_overlay_syscall(data: &str, target: &Path) -> Result<(), StoreError> {
    rustix::mount::mount(
        "overlay",
        target,
        "overlay",
        rustix::mount::MountFlags::empty(),
        data,
    )
    .map_err(|e| StoreError::Mount {
        target: target.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Unmounts `target` (lazily, so a busy mount still goes away).
pub fn unmount(target: &Path) -> Result<(), StoreError> {
    rustix::mount::unmount(target, rustix::mount::UnmountFlags::DETACH).map_err(|e| {
        StoreError::Mount {
            target: target.to_path_buf(),
            reason: e.to_string(),
        }
    })
}

fn random_link() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::thread_rng();
    (0..LINK_LEN)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Best-effort syncfs of the filesystem holding `path`: one call flushes every file the
/// unpack wrote, far cheaper than an fsync per file.
fn sync_tree(path: &Path) {
    if let Ok(f) = fs::File::open(path) {
        let _ = rustix::fs::syncfs(&f);
    }
}
