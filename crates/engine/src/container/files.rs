//! `cp`, `diff` and `export`: a container's files, read and written without ever following a
//! symlink out of its root.
//!
//! The container may be running and may change its tree while we walk it (swap `/data` for a
//! symlink to `/`, CVE-2018-15664), so nothing here looks a container path up from the host
//! by path: the root is opened once ([`Root`]), each path is resolved by the kernel inside it
//! (`openat2` with `RESOLVE_IN_ROOT`), and all further work goes through the fds that gives —
//! reading ([`pack_entry`], [`pack_dir`]) and writing ([`unpack_into`]) below them one
//! component at a time without following symlinks.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use berth_image::layer::{pack_dir, pack_entry, unpack_into, PackOptions, UnpackOptions};
use berth_image::rootfd::Root;
use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags, ResolveFlags, CWD};
use rustix::io::Errno;

use super::bundle::is_mountpoint;
use crate::{Engine, EngineError};

/// One line of `diff`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// `A` added, `C` changed, `D` deleted.
    pub kind: char,
    pub path: String,
}

/// A path inside a container, as `stat` sees it (without following a final symlink).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathStat {
    pub name: String,
    pub size: i64,
    /// The raw `st_mode` (type and permission bits).
    pub mode: u32,
    /// Seconds since the epoch.
    pub mtime: i64,
    /// A symlink's target; empty otherwise.
    pub link_target: String,
}

/// The merged root of a container, mounted for as long as this lives when it was not.
struct Rootfs<'a> {
    engine: &'a Engine,
    path: PathBuf,
    mounted_here: bool,
}

impl Rootfs<'_> {
    /// The root, opened for resolving paths inside it.
    fn open(&self) -> std::io::Result<Root> {
        Root::open(&self.path)
    }
}

impl Drop for Rootfs<'_> {
    fn drop(&mut self) {
        if self.mounted_here {
            self.engine.unmount_rootfs(&self.path);
        }
    }
}

impl Engine {
    fn rootfs<'a>(&'a self, name: &str) -> Result<(String, Rootfs<'a>), EngineError> {
        let rec = self.reconciled(name)?;
        let paths = self.container_paths(&rec.id);
        let mut mounted_here = false;
        if !is_mountpoint(&paths.rootfs) {
            let image_id: berth_image::Digest = rec
                .image_id
                .parse()
                .map_err(|e| EngineError::bad_input("image id", e))?;
            let image = self
                .store
                .meta
                .read(|tx| tx.image(&image_id))?
                .ok_or_else(|| EngineError::ImageNotFound(rec.image_name.clone()))?;
            std::fs::create_dir_all(&paths.rootfs)
                .map_err(|e| EngineError::io(format!("create {}", paths.rootfs.display()), e))?;
            // As the container's own runs mount it (a volatile upper cannot be remounted
            // otherwise after a crash).
            let volatile = super::ContainerConfig::from_record(&rec)
                .map(|c| c.auto_remove)
                .unwrap_or(false);
            self.store.layers.mount_overlay(
                &image.layers,
                Some(berth_store::layers::Upper {
                    dir: &paths.upper,
                    work: &paths.work,
                    volatile,
                    init: self.init_layer(&image, false),
                }),
                &paths.rootfs,
            )?;
            mounted_here = true;
        }
        Ok((
            rec.id,
            Rootfs {
                engine: self,
                path: paths.rootfs,
                mounted_here,
            },
        ))
    }

    /// `diff`: what the container changed, from its writable layer.
    pub fn container_diff(&self, name: &str) -> Result<Vec<Change>, EngineError> {
        let rec = self.reconciled(name)?;
        let paths = self.container_paths(&rec.id);
        let image_id: berth_image::Digest = rec
            .image_id
            .parse()
            .map_err(|e| EngineError::bad_input("image id", e))?;
        let what = format!("diff container {}", &rec.id[..12]);
        let lowers = self
            .image_layer_dirs(&image_id)?
            .iter()
            .map(|l| open_own_dir(l, OFlags::PATH))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| EngineError::io(&what, e))?;
        let upper =
            open_own_dir(&paths.upper, OFlags::RDONLY).map_err(|e| EngineError::io(&what, e))?;
        let mut out = Vec::new();
        diff_walk(upper.as_fd(), "", &lowers, &mut out);
        let hidden = self.mount_placeholders(&rec.id, &image_id)?;
        out.retain(|c| {
            !hidden
                .iter()
                .any(|h| c.path.strip_prefix('/') == Some(h.as_str()))
        });
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// `export`: the container's whole filesystem as a tar.
    pub fn export_container(&self, name: &str, out: impl Write) -> Result<(), EngineError> {
        let (id, root) = self.rootfs(name)?;
        let what = format!("export container {}", &id[..12]);
        let top = root
            .open()
            .and_then(|r| r.open_dir("/"))
            .map_err(|e| EngineError::io(&what, e))?;
        pack_dir(top.as_fd(), out, &PackOptions::default())
            .map_err(|e| EngineError::io(&what, e))?;
        Ok(())
    }

    /// `cp CONTAINER:SRC -`: a tar of `src` (named by its last component) to `out`. A symlink
    /// named by `src` is copied as itself; symlinks before it resolve inside the root.
    pub fn copy_from_container(
        &self,
        name: &str,
        src: &str,
        out: impl Write,
    ) -> Result<(), EngineError> {
        let (id, root) = self.rootfs(name)?;
        let what = format!("cp {}:{src}", &id[..12]);
        let (parent, last) = root
            .open()
            .and_then(|r| r.parent(src))
            .map_err(|e| EngineError::io(&what, e))?;
        let base = Path::new(src.trim_end_matches('/'))
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| ".".into());
        pack_entry(
            parent.as_fd(),
            last.as_deref(),
            &base,
            out,
            &PackOptions::default(),
        )
        .map_err(|e| EngineError::io(&what, e))?;
        Ok(())
    }

    /// What `path` inside the container is, resolved inside its root without following a
    /// final symlink (docker's `X-Docker-Container-Path-Stat`).
    pub fn container_path_stat(&self, name: &str, path: &str) -> Result<PathStat, EngineError> {
        let (id, root) = self.rootfs(name)?;
        let what = format!("stat {}:{path}", &id[..12]);
        let (parent, last) = root
            .open()
            .and_then(|r| r.parent(path))
            .map_err(|e| EngineError::io(&what, e))?;
        let st = match &last {
            Some(n) => rustix::fs::statat(
                &parent,
                n.as_os_str(),
                rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
            ),
            None => rustix::fs::fstat(&parent),
        }
        .map_err(|e| EngineError::io(&what, e.into()))?;
        let link_target = match &last {
            Some(n)
                if rustix::fs::FileType::from_raw_mode(st.st_mode)
                    == rustix::fs::FileType::Symlink =>
            {
                rustix::fs::readlinkat(&parent, n.as_os_str(), Vec::new())
                    .map(|t| t.to_string_lossy().into_owned())
                    .unwrap_or_default()
            }
            _ => String::new(),
        };
        let name = Path::new(path.trim_end_matches('/'))
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "/".into());
        Ok(PathStat {
            name,
            size: st.st_size as i64,
            mode: st.st_mode,
            mtime: st.st_mtime as i64,
            link_target,
        })
    }

    /// `cp SRC CONTAINER:DEST` (a tar stream of what to copy): extracted into the
    /// container with the same safety as a layer, so nothing lands outside its root.
    pub fn copy_to_container(
        &self,
        name: &str,
        dest: &str,
        tar: impl Read,
    ) -> Result<(), EngineError> {
        let (id, root) = self.rootfs(name)?;
        let what = format!("cp to {}:{dest}", &id[..12]);
        let r = root.open().map_err(|e| EngineError::io(&what, e))?;
        let target = r.open_dir(dest).map_err(|e| {
            let missing = e.kind() == std::io::ErrorKind::NotFound
                || e.raw_os_error() == Some(Errno::NOTDIR.raw_os_error());
            if missing {
                EngineError::InvalidArgument(format!(
                    "{what}: the destination directory does not exist in the container"
                ))
            } else {
                EngineError::io(&what, e)
            }
        })?;
        unpack_into(tar, target, &UnpackOptions::default())
            .map_err(|e| EngineError::bad_input(&what, e))?;
        Ok(())
    }

    /// Whether `path` in the container is an existing directory (for `cp`'s naming rules).
    pub fn container_path_is_dir(&self, name: &str, path: &str) -> Result<bool, EngineError> {
        let (id, root) = self.rootfs(name)?;
        let r = root
            .open()
            .map_err(|e| EngineError::io(format!("cp {}:{path}", &id[..12]), e))?;
        Ok(r.is_dir(path))
    }
}

/// The `/etc/passwd` and `/etc/group` of a container's root, read inside it (a container's
/// `/etc/passwd` may be a symlink to anything, or a FIFO); `None` for a file that cannot be
/// read. Fails only when the root cannot be opened (or openat2 is missing): names must not
/// silently stop resolving.
pub(crate) fn passwd_and_group(
    rootfs: &Path,
) -> Result<(Option<String>, Option<String>), EngineError> {
    const LIMIT: u64 = 16 << 20;
    let root = Root::open(rootfs).map_err(|e| EngineError::io("read the container's users", e))?;
    let read = |p: &str| {
        root.read_file(p, LIMIT)
            .ok()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    };
    Ok((read("/etc/passwd"), read("/etc/group")))
}

/// Whether `rel` exists in a lower layer as overlay would see it: no symlink on the way
/// (an upper directory over a lower symlink hides it).
fn exists_below(lowers: &[OwnedFd], rel: &str) -> bool {
    let how = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
    let flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    lowers
        .iter()
        .any(|l| rustix::fs::openat2(l, rel, flags, Mode::empty(), how).is_ok())
}

/// The upper layer of a running container changes under us: each directory is listed
/// through its own fd, reached from its parent's without following symlinks.
fn diff_walk(dir: BorrowedFd<'_>, rel: &str, lowers: &[OwnedFd], out: &mut Vec<Change>) {
    let Ok(entries) = Dir::read_from(dir) else {
        return;
    };
    let mut names: Vec<Vec<u8>> = entries
        .flatten()
        .map(|e| e.file_name().to_bytes().to_vec())
        .filter(|n| n != b"." && n != b"..")
        .collect();
    names.sort();
    names.dedup();
    for name in names {
        let name = OsStr::from_bytes(&name);
        let child = if rel.is_empty() {
            name.to_string_lossy().into_owned()
        } else {
            format!("{rel}/{}", name.to_string_lossy())
        };
        let Ok(st) = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) else {
            continue;
        };
        let ft = FileType::from_raw_mode(st.st_mode);
        let kind = if ft == FileType::CharacterDevice && st.st_rdev == 0 {
            'D'
        } else if exists_below(lowers, &child) {
            'C'
        } else {
            'A'
        };
        out.push(Change {
            kind,
            path: format!("/{child}"),
        });
        if ft == FileType::Directory {
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            if let Ok(sub) = rustix::fs::openat(dir, name, flags, Mode::empty()) {
                diff_walk(sub.as_fd(), &child, lowers, out);
            }
        }
    }
}

/// What is at `rel` below the directory `dir` without following any symlink on the way or at
/// the end: `None` when a component is a symlink or anything is missing. For a container's
/// upper layer, which the container may change while we look.
pub(crate) fn lstat_beneath(dir: &Path, rel: &str) -> Option<rustix::fs::Stat> {
    let how = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
    let flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let top = open_own_dir(dir, OFlags::PATH).ok()?;
    let fd = rustix::fs::openat2(&top, rel, flags, Mode::empty(), how).ok()?;
    rustix::fs::fstat(&fd).ok()
}

/// Opens a directory the engine owns (a layer, a container's upper dir).
fn open_own_dir(path: &Path, flags: OFlags) -> std::io::Result<OwnedFd> {
    Ok(rustix::fs::openat(
        CWD,
        path,
        flags | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}
