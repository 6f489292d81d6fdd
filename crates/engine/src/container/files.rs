//! `cp`, `diff` and `export`: a container's files, read and written without ever following a
//! symlink out of its root.

use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use berth_image::layer::{pack, unpack, PackOptions, UnpackOptions};

use super::bundle::is_mountpoint;
use crate::{Engine, EngineError};
use berth_image::rootpath::resolve_in_root;

/// One line of `diff`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// `A` added, `C` changed, `D` deleted.
    pub kind: char,
    pub path: String,
}

/// The merged root of a container, mounted for as long as this lives when it was not.
struct Rootfs<'a> {
    engine: &'a Engine,
    path: PathBuf,
    mounted_here: bool,
}

impl Drop for Rootfs<'_> {
    fn drop(&mut self) {
        if self.mounted_here {
            self.engine.unmount_rootfs(&self.path);
        }
    }
}

impl Engine {
    fn rootfs<'a>(&'a mut self, name: &str) -> Result<(String, Rootfs<'a>), EngineError> {
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
            self.store.layers.mount_overlay(
                &image.layers,
                Some((&paths.upper, &paths.work)),
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
    pub fn container_diff(&mut self, name: &str) -> Result<Vec<Change>, EngineError> {
        let rec = self.reconciled(name)?;
        let paths = self.container_paths(&rec.id);
        let image_id: berth_image::Digest = rec
            .image_id
            .parse()
            .map_err(|e| EngineError::bad_input("image id", e))?;
        let lowers = self.image_layer_dirs(&image_id)?;
        let mut out = Vec::new();
        diff_walk(&paths.upper, "", &lowers, &mut out);
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
    pub fn export_container(&mut self, name: &str, out: impl Write) -> Result<(), EngineError> {
        let (id, root) = self.rootfs(name)?;
        pack(&root.path, out, &PackOptions::default())
            .map_err(|e| EngineError::io(format!("export container {}", &id[..12]), e))?;
        Ok(())
    }

    /// `cp CONTAINER:SRC -`: a tar of `src` (named by its last component) to `out`.
    pub fn copy_from_container(
        &mut self,
        name: &str,
        src: &str,
        out: impl Write,
    ) -> Result<(), EngineError> {
        let (id, root) = self.rootfs(name)?;
        let what = format!("cp {}:{src}", &id[..12]);
        let resolved =
            resolve_in_root(&root.path, src, false).map_err(|e| EngineError::io(&what, e))?;
        let meta = std::fs::symlink_metadata(&resolved).map_err(|e| EngineError::io(&what, e))?;
        let base = Path::new(src.trim_end_matches('/'))
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| ".".into());
        let mut tar = tar::Builder::new(out);
        tar.follow_symlinks(false);
        let result = if meta.is_dir() {
            tar.append_dir_all(&base, &resolved)
        } else {
            tar.append_path_with_name(&resolved, &base)
        };
        result
            .and_then(|()| tar.finish())
            .map_err(|e| EngineError::io(&what, e))
    }

    /// `cp SRC CONTAINER:DEST` (a tar stream of what to copy): extracted into the
    /// container with the same safety as a layer, so nothing lands outside its root.
    pub fn copy_to_container(
        &mut self,
        name: &str,
        dest: &str,
        tar: impl Read,
    ) -> Result<(), EngineError> {
        let (id, root) = self.rootfs(name)?;
        let what = format!("cp to {}:{dest}", &id[..12]);
        let target =
            resolve_in_root(&root.path, dest, true).map_err(|e| EngineError::io(&what, e))?;
        if !target.is_dir() {
            return Err(EngineError::InvalidArgument(format!(
                "{what}: the destination directory does not exist in the container"
            )));
        }
        unpack(tar, &target, &UnpackOptions::default())
            .map_err(|e| EngineError::bad_input(&what, e))?;
        Ok(())
    }

    /// Whether `path` in the container is an existing directory (for `cp`'s naming rules).
    pub fn container_path_is_dir(&mut self, name: &str, path: &str) -> Result<bool, EngineError> {
        let (_, root) = self.rootfs(name)?;
        Ok(resolve_in_root(&root.path, path, true).is_ok_and(|p| p.is_dir()))
    }
}

fn exists_below(lowers: &[PathBuf], rel: &str) -> bool {
    lowers
        .iter()
        .any(|l| std::fs::symlink_metadata(l.join(rel)).is_ok())
}

fn diff_walk(upper: &Path, rel: &str, lowers: &[PathBuf], out: &mut Vec<Change>) {
    let dir = upper.join(rel);
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let child = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let Ok(meta) = e.metadata() else { continue };
        let kind = if meta.file_type().is_char_device() && meta.rdev() == 0 {
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
        if meta.is_dir() {
            diff_walk(upper, &child, lowers, out);
        }
    }
}
