//! Directory → layer tar: the inverse of [`super::unpack`], for committing a container's
//! writable layer (`commit`, the builder's `RUN`).
//!
//! Overlay's whiteouts become OCI whiteouts: a character device 0:0 named `x` becomes an
//! empty `.wh.x`, and a directory marked opaque (`trusted.overlay.opaque=y`) gets a
//! `.wh..wh..opq` entry. Entries are written in sorted order with numeric owners, hard links
//! as links to their first path, and — when `mtime_clamp` is set (`SOURCE_DATE_EPOCH`) — no
//! time later than it, so the same tree always gives the same bytes.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use crate::digest::{Digest, Hasher};

/// How to write the tar.
#[derive(Debug, Clone, Default)]
pub struct PackOptions {
    /// Clamp every mtime to at most this (unix seconds).
    pub mtime_clamp: Option<u64>,
    /// Relative paths left out (a container's mount points for /etc/hosts and friends).
    pub skip: Vec<String>,
}

/// What [`pack`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packed {
    /// sha256 of the tar stream.
    pub diff_id: Digest,
    /// Bytes of the tar stream.
    pub tar_size: u64,
    /// Bytes of regular-file content.
    pub size: u64,
}

fn is_whiteout_device(meta: &fs::Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

fn is_opaque(path: &Path) -> bool {
    let mut v = [0u8; 2];
    matches!(rustix::fs::lgetxattr(path, "trusted.overlay.opaque", &mut v), Ok(1) if v[0] == b'y')
}

/// Writes `dir`'s contents (not `dir` itself) as a layer tar to `out`.
pub fn pack(dir: &Path, out: impl Write, opts: &PackOptions) -> io::Result<Packed> {
    let mut builder = tar::Builder::new(Hasher::new(CountingWriter { inner: out, n: 0 }));
    builder.follow_symlinks(false);
    let mut links: HashMap<(u64, u64), String> = HashMap::new();
    let mut size = 0u64;
    walk(dir, "", &mut builder, &mut links, &mut size, opts)?;
    let hasher = builder.into_inner()?;
    let (diff_id, tar_size, mut inner) = hasher.finish();
    inner.flush()?;
    Ok(Packed {
        diff_id,
        tar_size,
        size,
    })
}

struct CountingWriter<W> {
    inner: W,
    n: u64,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn header(meta: &fs::Metadata, kind: tar::EntryType, opts: &PackOptions) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(meta.mode() & 0o7777);
    h.set_uid(u64::from(meta.uid()));
    h.set_gid(u64::from(meta.gid()));
    let mtime = u64::try_from(meta.mtime()).unwrap_or(0);
    h.set_mtime(opts.mtime_clamp.map_or(mtime, |c| mtime.min(c)));
    h.set_size(0);
    h
}

fn walk<W: Write>(
    base: &Path,
    rel: &str,
    b: &mut tar::Builder<W>,
    links: &mut HashMap<(u64, u64), String>,
    size: &mut u64,
    opts: &PackOptions,
) -> io::Result<()> {
    let dir = if rel.is_empty() {
        base.to_path_buf()
    } else {
        base.join(rel)
    };
    let mut names: Vec<String> = fs::read_dir(&dir)?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<io::Result<_>>()?;
    names.sort();
    for name in names {
        let path = dir.join(&name);
        let rel_path = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        if opts.skip.contains(&rel_path) {
            continue;
        }
        let meta = fs::symlink_metadata(&path)?;
        let ft = meta.file_type();
        if is_whiteout_device(&meta) {
            let wh = match rel_path.rsplit_once('/') {
                Some((parent, n)) => format!("{parent}/.wh.{n}"),
                None => format!(".wh.{name}"),
            };
            let mut h = header(&meta, tar::EntryType::Regular, opts);
            h.set_mode(0o600);
            b.append_data(&mut h, wh, io::empty())?;
        } else if ft.is_dir() {
            let mut h = header(&meta, tar::EntryType::Directory, opts);
            b.append_data(&mut h, format!("{rel_path}/"), io::empty())?;
            if is_opaque(&path) {
                let mut h = header(&meta, tar::EntryType::Regular, opts);
                h.set_mode(0o600);
                b.append_data(&mut h, format!("{rel_path}/.wh..wh..opq"), io::empty())?;
            }
            walk(base, &rel_path, b, links, size, opts)?;
        } else if ft.is_symlink() {
            let target = fs::read_link(&path)?;
            let mut h = header(&meta, tar::EntryType::Symlink, opts);
            b.append_link(&mut h, &rel_path, &target)?;
        } else if ft.is_file() {
            let key = (meta.dev(), meta.ino());
            if meta.nlink() > 1 {
                if let Some(first) = links.get(&key) {
                    let mut h = header(&meta, tar::EntryType::Link, opts);
                    b.append_link(&mut h, &rel_path, first)?;
                    continue;
                }
                links.insert(key, rel_path.clone());
            }
            let mut h = header(&meta, tar::EntryType::Regular, opts);
            h.set_size(meta.len());
            *size += meta.len();
            b.append_data(&mut h, &rel_path, fs::File::open(&path)?)?;
        } else if ft.is_fifo() || ft.is_char_device() || ft.is_block_device() {
            let kind = if ft.is_fifo() {
                tar::EntryType::Fifo
            } else if ft.is_char_device() {
                tar::EntryType::Char
            } else {
                tar::EntryType::Block
            };
            let mut h = header(&meta, kind, opts);
            let rdev = meta.rdev();
            let major = ((rdev >> 32) & 0xffff_f000) | ((rdev >> 8) & 0xfff);
            let minor = ((rdev >> 12) & 0xffff_ff00) | (rdev & 0xff);
            h.set_device_major(u32::try_from(major).unwrap_or(0))?;
            h.set_device_minor(u32::try_from(minor).unwrap_or(0))?;
            b.append_data(&mut h, &rel_path, io::empty())?;
        }
        // Sockets are not part of a layer.
    }
    Ok(())
}
