//! Directory → layer tar: the inverse of [`super::unpack`], for committing a container's
//! writable layer (`commit`, the builder's `RUN`).
//!
//! Overlay's whiteouts become OCI whiteouts: a character device 0:0 named `x` becomes an
//! empty `.wh.x`, and a directory marked opaque (`trusted.overlay.opaque=y`) gets a
//! `.wh..wh..opq` entry. Entries are written in sorted order with numeric owners, hard links
//! as links to their first path, and — when `mtime_clamp` is set (`SOURCE_DATE_EPOCH`) — no
//! time later than it, so the same tree always gives the same bytes.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags, Stat, CWD};
use rustix::io::Errno;

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

/// Writes `dir`'s contents (not `dir` itself) as a layer tar to `out`.
pub fn pack(dir: &Path, out: impl Write, opts: &PackOptions) -> io::Result<Packed> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(CWD, dir, flags, Mode::empty())?;
    pack_dir(fd.as_fd(), out, opts)
}

/// [`pack`] of an open directory (one resolved inside a container's root).
pub fn pack_dir(dir: BorrowedFd<'_>, out: impl Write, opts: &PackOptions) -> io::Result<Packed> {
    let mut p = Packer::new(out, opts);
    p.children(dir, "")?;
    p.finish()
}

/// A tar of one entry, named `as_name`: `name` in the directory `parent` (not followed when a
/// symlink), with everything below it; `parent` itself when `name` is `None` (`cp`).
pub fn pack_entry(
    parent: BorrowedFd<'_>,
    name: Option<&OsStr>,
    as_name: &str,
    out: impl Write,
    opts: &PackOptions,
) -> io::Result<Packed> {
    let mut p = Packer::new(out, opts);
    match name {
        Some(name) => {
            if !p.entry(parent, name, as_name)? {
                return Err(io::ErrorKind::NotFound.into());
            }
        }
        None => {
            let st = rustix::fs::fstat(parent)?;
            p.directory(parent, &st, as_name)?;
        }
    }
    p.finish()
}

/// The walk: every object is reached through its parent's fd without following symlinks,
/// and what is written about it comes from the fd that was opened, so a tree that changes
/// under the walk (a running container's) can never lead it outside.
struct Packer<'o, W: Write> {
    b: tar::Builder<Hasher<CountingWriter<W>>>,
    links: HashMap<(u64, u64), String>,
    size: u64,
    opts: &'o PackOptions,
}

impl<'o, W: Write> Packer<'o, W> {
    fn new(out: W, opts: &'o PackOptions) -> Self {
        let mut b = tar::Builder::new(Hasher::new(CountingWriter { inner: out, n: 0 }));
        b.follow_symlinks(false);
        Self {
            b,
            links: HashMap::new(),
            size: 0,
            opts,
        }
    }

    fn finish(self) -> io::Result<Packed> {
        let hasher = self.b.into_inner()?;
        let (diff_id, tar_size, mut inner) = hasher.finish();
        inner.flush()?;
        Ok(Packed {
            diff_id,
            tar_size,
            size: self.size,
        })
    }

    /// Writes the entries below the open directory `dir`, whose entry is named `rel`.
    fn children(&mut self, dir: BorrowedFd<'_>, rel: &str) -> io::Result<()> {
        let mut names: Vec<OsString> = Vec::new();
        for e in Dir::read_from(dir)? {
            let e = e?;
            let n = e.file_name().to_bytes();
            if n != b"." && n != b".." {
                names.push(OsStr::from_bytes(n).into());
            }
        }
        // Sorted for reproducible layers; deduplicated because a directory renamed into
        // while it is read can list a name twice.
        names.sort();
        names.dedup();
        for name in names {
            let shown = name.to_string_lossy();
            let rel_path = if rel.is_empty() {
                shown.into_owned()
            } else {
                format!("{rel}/{shown}")
            };
            if !self.opts.skip.contains(&rel_path) {
                self.entry(dir, &name, &rel_path)?;
            }
        }
        Ok(())
    }

    /// Writes `name` of `dir` as `rel_path`; false when it vanished or changed type under
    /// the walk (a file being replaced while we read is the container's business, not an
    /// error of ours).
    fn entry(&mut self, dir: BorrowedFd<'_>, name: &OsStr, rel_path: &str) -> io::Result<bool> {
        let st = match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT) => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => {
                let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW;
                let Some(fd) = open_child(dir, name, flags)? else {
                    return Ok(false);
                };
                let st = rustix::fs::fstat(&fd)?;
                self.directory(fd.as_fd(), &st, rel_path)?;
            }
            FileType::RegularFile => return self.regular(dir, name, rel_path),
            FileType::Symlink => {
                let target = match rustix::fs::readlinkat(dir, name, Vec::new()) {
                    Ok(t) => t,
                    Err(Errno::NOENT | Errno::INVAL) => return Ok(false),
                    Err(e) => return Err(e.into()),
                };
                let mut h = header(&st, tar::EntryType::Symlink, self.opts);
                let target = OsStr::from_bytes(target.as_bytes());
                self.b.append_link(&mut h, rel_path, target)?;
            }
            FileType::CharacterDevice if st.st_rdev == 0 => {
                let wh = match rel_path.rsplit_once('/') {
                    Some((parent, n)) => format!("{parent}/.wh.{n}"),
                    None => format!(".wh.{rel_path}"),
                };
                let mut h = header(&st, tar::EntryType::Regular, self.opts);
                h.set_mode(0o600);
                self.b.append_data(&mut h, wh, io::empty())?;
            }
            kind @ (FileType::Fifo | FileType::CharacterDevice | FileType::BlockDevice) => {
                let kind = match kind {
                    FileType::Fifo => tar::EntryType::Fifo,
                    FileType::CharacterDevice => tar::EntryType::Char,
                    _ => tar::EntryType::Block,
                };
                let mut h = header(&st, kind, self.opts);
                h.set_device_major(rustix::fs::major(st.st_rdev))?;
                h.set_device_minor(rustix::fs::minor(st.st_rdev))?;
                self.b.append_data(&mut h, rel_path, io::empty())?;
            }
            // Sockets are not part of a layer.
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn directory(&mut self, fd: BorrowedFd<'_>, st: &Stat, rel_path: &str) -> io::Result<()> {
        let mut h = header(st, tar::EntryType::Directory, self.opts);
        self.b
            .append_data(&mut h, format!("{rel_path}/"), io::empty())?;
        if is_opaque(fd) {
            let mut h = header(st, tar::EntryType::Regular, self.opts);
            h.set_mode(0o600);
            self.b
                .append_data(&mut h, format!("{rel_path}/.wh..wh..opq"), io::empty())?;
        }
        self.children(fd, rel_path)
    }

    fn regular(&mut self, dir: BorrowedFd<'_>, name: &OsStr, rel_path: &str) -> io::Result<bool> {
        // O_NONBLOCK: what was a file a moment ago may be a FIFO now.
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY;
        let Some(fd) = open_child(dir, name, flags)? else {
            return Ok(false);
        };
        let st = rustix::fs::fstat(&fd)?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return Ok(false);
        }
        let key = (st.st_dev, st.st_ino);
        if st.st_nlink > 1 {
            if let Some(first) = self.links.get(&key) {
                let mut h = header(&st, tar::EntryType::Link, self.opts);
                let first = first.clone();
                self.b.append_link(&mut h, rel_path, first)?;
                return Ok(true);
            }
            self.links.insert(key, rel_path.to_string());
        }
        let len = u64::try_from(st.st_size).unwrap_or(0);
        let mut h = header(&st, tar::EntryType::Regular, self.opts);
        h.set_size(len);
        self.size += len;
        // Exactly `len` bytes whatever the file does meanwhile: cut when it grew, padded
        // with zeros when it shrank, so the tar stays well-formed.
        let data = File::from(fd).take(len).chain(io::repeat(0).take(len));
        self.b.append_data(&mut h, rel_path, data.take(len))?;
        Ok(true)
    }
}

/// `openat(dir, name, flags)`; `None` when what was there is gone or is now something the
/// flags refuse (a symlink under `O_NOFOLLOW`, a non-directory under `O_DIRECTORY`).
fn open_child(dir: BorrowedFd<'_>, name: &OsStr, flags: OFlags) -> io::Result<Option<OwnedFd>> {
    match rustix::fs::openat(dir, name, flags | OFlags::CLOEXEC, Mode::empty()) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::NOENT | Errno::LOOP | Errno::NOTDIR | Errno::NXIO) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn is_opaque(dir: BorrowedFd<'_>) -> bool {
    let mut v = [0u8; 2];
    matches!(rustix::fs::fgetxattr(dir, "trusted.overlay.opaque", &mut v), Ok(1) if v[0] == b'y')
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

fn header(st: &Stat, kind: tar::EntryType, opts: &PackOptions) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(u64::from(st.st_uid));
    h.set_gid(u64::from(st.st_gid));
    // u64 on some targets' stat, i64 on others.
    #[allow(clippy::useless_conversion)]
    let mtime = u64::try_from(st.st_mtime).unwrap_or(0);
    h.set_mtime(opts.mtime_clamp.map_or(mtime, |c| mtime.min(c)));
    h.set_size(0);
    h
}
