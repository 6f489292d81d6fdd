//! The entry loop: one tar entry at a time into the tree, directories' metadata last.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Timespec, Timestamps, XattrFlags};
use rustix::io::Errno;
use tar::EntryType;

use super::path::RelPath;
use super::tree::{proc_path, Fail, Tree};
use super::{LayerError, UnpackOptions};

/// Why an entry was refused. The whole unpack fails: a layer that tries any of these is hostile
/// or broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("path escapes the layer root")]
    EscapesRoot,
    #[error("name contains a NUL byte")]
    Nul,
    #[error("name too long")]
    TooLong,
    #[error("parent {0:?} is a symlink")]
    SymlinkInPath(String),
    #[error("parent {0:?} is not a directory")]
    NotADirectory(String),
    #[error("the layer root can only be a directory")]
    RootNotDirectory,
    #[error("link target is empty")]
    EmptyLinkTarget,
    #[error("hardlink target {0:?} escapes the layer root")]
    LinkTargetEscapes(String),
    #[error("hardlink target {0:?} does not exist")]
    LinkTargetMissing(String),
    #[error("hardlink target {0:?} is a directory")]
    LinkTargetDirectory(String),
    #[error("hardlink to itself")]
    LinkToItself,
    #[error("device nodes are not allowed")]
    Device,
    #[error("whiteout names no file")]
    BadWhiteout,
    #[error("owner id {0} out of range")]
    BadOwner(u64),
    #[error("unsupported entry type {0:?}")]
    UnsupportedType(char),
}

/// What an entry says about itself besides its name and data.
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: Timespec,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Meta {
    fn times(&self) -> Timestamps {
        Timestamps {
            last_access: self.mtime,
            last_modification: self.mtime,
        }
    }
}

/// Writes every entry of `archive` below `dest`; returns the sum of regular file sizes.
pub(crate) fn extract<R: Read>(
    mut archive: tar::Archive<R>,
    mut tree: Tree,
    opts: &UnpackOptions,
) -> Result<u64, LayerError> {
    let mut dirs = BTreeMap::new();
    let mut size = 0;
    for entry in archive.entries().map_err(LayerError::Read)? {
        let mut entry = entry.map_err(LayerError::Read)?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        size += one(&mut tree, &mut entry, &mut dirs, opts).map_err(|f| f.at(&name))?;
    }
    finish_dirs(&mut tree, dirs, opts)?;
    Ok(size)
}

fn one<R: Read>(
    tree: &mut Tree,
    entry: &mut tar::Entry<'_, R>,
    dirs: &mut BTreeMap<RelPath, Meta>,
    opts: &UnpackOptions,
) -> Result<u64, Fail> {
    let mut kind = entry.header().entry_type();
    if kind == EntryType::XGlobalHeader {
        return Ok(0);
    }
    let raw = entry.path_bytes().into_owned();
    if kind == EntryType::Regular && raw.ends_with(b"/") {
        kind = EntryType::Directory; // old tars mark directories only by the trailing slash
    }
    let path = RelPath::parse(&raw)?;
    let meta = read_meta(entry)?;
    let Some((parents, name)) = path.split_last() else {
        if kind != EntryType::Directory {
            return Err(Refusal::RootNotDirectory.into());
        }
        dirs.insert(path, meta);
        return Ok(0);
    };
    if let Some(hidden) = name.as_bytes().strip_prefix(b".wh.") {
        whiteout(tree, parents, hidden, &meta, opts)?;
        return Ok(0);
    }
    let parent = tree.dir(parents, true)?;
    match kind {
        EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
            regular(tree, &parent, name, entry, &meta, opts)
        }
        EntryType::Directory => {
            directory(tree, &parent, name, &meta)?;
            dirs.insert(path, meta);
            Ok(0)
        }
        EntryType::Symlink => symlink(tree, &parent, name, entry, &meta, opts).map(|()| 0),
        EntryType::Link => hardlink(tree, &parent, name, &path, entry).map(|()| 0),
        EntryType::Char | EntryType::Block | EntryType::Fifo => {
            let (file_type, dev) = special(entry.header(), opts)?;
            node(tree, &parent, name, file_type, dev, &meta, opts).map(|()| 0)
        }
        other => Err(Refusal::UnsupportedType(char::from(other.as_byte())).into()),
    }
}

/// The file type and device number of a FIFO or (when allowed) a device entry.
fn special(header: &tar::Header, opts: &UnpackOptions) -> Result<(FileType, u64), Fail> {
    let file_type = match header.entry_type() {
        EntryType::Fifo => return Ok((FileType::Fifo, 0)),
        _ if !opts.allow_devices => return Err(Refusal::Device.into()),
        EntryType::Char => FileType::CharacterDevice,
        _ => FileType::BlockDevice,
    };
    let bad = |e| Fail::Io("read header", e);
    let major = header.device_major().map_err(bad)?.unwrap_or(0);
    let minor = header.device_minor().map_err(bad)?.unwrap_or(0);
    Ok((file_type, rustix::fs::makedev(major, minor)))
}

fn read_meta<R: Read>(entry: &mut tar::Entry<'_, R>) -> Result<Meta, Fail> {
    let header = entry.header();
    let old = header.as_old();
    let id = |v: u64| u32::try_from(v).map_err(|_| Fail::from(Refusal::BadOwner(v)));
    let mut meta = Meta {
        mode: numeric(header.mode().map(u64::from), &old.mode)? as u32 & 0o7777,
        uid: id(numeric(header.uid(), &old.uid)?)?,
        gid: id(numeric(header.gid(), &old.gid)?)?,
        mtime: Timespec {
            tv_sec: i64::try_from(numeric(header.mtime(), &old.mtime)?).unwrap_or(i64::MAX),
            tv_nsec: 0,
        },
        xattrs: Vec::new(),
    };
    let bad = |e| Fail::Io("read header", e);
    let Some(pax) = entry.pax_extensions().map_err(bad)? else {
        return Ok(meta);
    };
    for record in pax {
        let record = record.map_err(bad)?;
        let key = record.key_bytes();
        if key == b"mtime" {
            if let Some(t) = parse_pax_time(record.value_bytes()) {
                meta.mtime = t;
            }
        } else if let Some(attr) = key.strip_prefix(b"SCHILY.xattr.") {
            if attr.starts_with(b"trusted.overlay.") {
                // Only our own whiteout conversion may write overlay metadata.
                tracing::debug!(xattr = %String::from_utf8_lossy(attr), "dropping overlay xattr");
            } else {
                meta.xattrs
                    .push((attr.to_vec(), record.value_bytes().to_vec()));
            }
        }
    }
    Ok(meta)
}

/// A numeric header field; an empty one (all NULs or spaces) reads as 0, as Go's archive/tar does.
fn numeric(parsed: io::Result<u64>, raw: &[u8]) -> Result<u64, Fail> {
    match parsed {
        Ok(v) => Ok(v),
        Err(_) if raw.iter().all(|b| matches!(b, 0 | b' ')) => Ok(0),
        Err(e) => Err(Fail::Io("read header", e)),
    }
}

/// `1700000000.5` → seconds and nanoseconds.
fn parse_pax_time(value: &[u8]) -> Option<Timespec> {
    let value = std::str::from_utf8(value).ok()?;
    let (secs, frac) = value.split_once('.').unwrap_or((value, ""));
    let tv_sec = secs.parse().ok()?;
    let digits: String = frac.chars().take(9).collect();
    let tv_nsec = if digits.is_empty() || tv_sec < 0 {
        0
    } else {
        format!("{digits:0<9}").parse().ok()?
    };
    Some(Timespec { tv_sec, tv_nsec })
}

fn regular<R: Read>(
    tree: &mut Tree,
    parent: &OwnedFd,
    name: &OsStr,
    entry: &mut tar::Entry<'_, R>,
    meta: &Meta,
    opts: &UnpackOptions,
) -> Result<u64, Fail> {
    tree.remove(parent, name)?;
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(parent, name, flags, Mode::from_raw_mode(0o600))
        .map_err(Fail::io("create file"))?;
    let mut file = File::from(fd);
    let expected = entry.size();
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0u64;
    // A layer is synced before it is published: start writing big files out early.
    let mut writeback = crate::writeback::Writeback::default();
    loop {
        let n = match entry.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Fail::Io("read data", e)),
        };
        file.write_all(&buf[..n])
            .map_err(|e| Fail::Io("write data", e))?;
        got += n as u64;
        writeback.wrote(&file, n as u64);
    }
    if got != expected {
        return Err(Fail::Truncated { expected, got });
    }
    if opts.same_owner {
        std::os::unix::fs::fchown(&file, Some(meta.uid), Some(meta.gid))
            .map_err(|e| Fail::Io("chown", e))?;
    }
    rustix::fs::fchmod(&file, Mode::from_raw_mode(meta.mode)).map_err(Fail::io("chmod"))?;
    set_xattrs(meta, false, |k, v| {
        rustix::fs::fsetxattr(&file, k, v, XattrFlags::empty())
    })?;
    rustix::fs::futimens(&file, &meta.times()).map_err(Fail::io("set times"))?;
    Ok(got)
}

fn directory(tree: &mut Tree, parent: &OwnedFd, name: &OsStr, meta: &Meta) -> Result<(), Fail> {
    match Tree::existing(parent, name)? {
        Some(FileType::Directory) => {}
        Some(_) => {
            tree.remove(parent, name)?;
            mkdir(parent, name)?;
        }
        None => mkdir(parent, name)?,
    }
    if !meta.xattrs.is_empty() {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let dir = rustix::fs::openat(parent, name, flags, Mode::empty())
            .map_err(Fail::io("open directory"))?;
        set_xattrs(meta, false, |k, v| {
            rustix::fs::fsetxattr(&dir, k, v, XattrFlags::empty())
        })?;
    }
    Ok(())
}

fn mkdir(parent: &OwnedFd, name: &OsStr) -> Result<(), Fail> {
    rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o755)).map_err(Fail::io("mkdir"))
}

fn symlink<R: Read>(
    tree: &mut Tree,
    parent: &OwnedFd,
    name: &OsStr,
    entry: &tar::Entry<'_, R>,
    meta: &Meta,
    opts: &UnpackOptions,
) -> Result<(), Fail> {
    let target = entry.link_name_bytes().unwrap_or_default().into_owned();
    if target.is_empty() {
        return Err(Refusal::EmptyLinkTarget.into());
    }
    if target.contains(&0) {
        return Err(Refusal::Nul.into());
    }
    tree.remove(parent, name)?;
    rustix::fs::symlinkat(OsStr::from_bytes(&target), parent, name)
        .map_err(Fail::io("create symlink"))?;
    finish_node(parent, name, meta, opts, false)
}

fn hardlink<R: Read>(
    tree: &mut Tree,
    parent: &OwnedFd,
    name: &OsStr,
    path: &RelPath,
    entry: &tar::Entry<'_, R>,
) -> Result<(), Fail> {
    let raw = entry.link_name_bytes().unwrap_or_default().into_owned();
    if raw.is_empty() {
        return Err(Refusal::EmptyLinkTarget.into());
    }
    let shown = String::from_utf8_lossy(&raw).into_owned();
    let target = RelPath::parse(&raw).map_err(|r| match r {
        Refusal::EscapesRoot => Refusal::LinkTargetEscapes(shown.clone()),
        other => other,
    })?;
    let Some((target_dirs, target_name)) = target.split_last() else {
        return Err(Refusal::LinkTargetDirectory(shown).into());
    };
    if &target == path {
        return Err(Refusal::LinkToItself.into());
    }
    let target_dir = match tree.dir(target_dirs, false) {
        Err(Fail::Missing) => return Err(Refusal::LinkTargetMissing(shown).into()),
        other => other?,
    };
    match Tree::existing(&target_dir, target_name)? {
        None => return Err(Refusal::LinkTargetMissing(shown).into()),
        Some(FileType::Directory) => return Err(Refusal::LinkTargetDirectory(shown).into()),
        Some(_) => {}
    }
    tree.remove(parent, name)?;
    // No AT_SYMLINK_FOLLOW: a symlink target is linked itself, never what it points to.
    rustix::fs::linkat(&*target_dir, target_name, parent, name, AtFlags::empty())
        .map_err(Fail::io("create hardlink"))
}

fn node(
    tree: &mut Tree,
    parent: &OwnedFd,
    name: &OsStr,
    file_type: FileType,
    dev: u64,
    meta: &Meta,
    opts: &UnpackOptions,
) -> Result<(), Fail> {
    tree.remove(parent, name)?;
    let mode = Mode::from_raw_mode(meta.mode);
    rustix::fs::mknodat(parent, name, file_type, mode, dev).map_err(Fail::io("mknod"))?;
    finish_node(parent, name, meta, opts, true)
}

/// Owner, mode (unless a symlink), xattrs and times of something we just created at `name`.
fn finish_node(
    parent: &OwnedFd,
    name: &OsStr,
    meta: &Meta,
    opts: &UnpackOptions,
    chmod: bool,
) -> Result<(), Fail> {
    let proc = proc_path(parent, name);
    if opts.same_owner {
        std::os::unix::fs::lchown(&proc, Some(meta.uid), Some(meta.gid))
            .map_err(|e| Fail::Io("chown", e))?;
    }
    if chmod {
        chmod_nofollow(parent, name, meta.mode)?;
    }
    set_xattrs(meta, !chmod, |k, v| {
        rustix::fs::lsetxattr(&proc, k, v, XattrFlags::empty())
    })?;
    rustix::fs::utimensat(parent, name, &meta.times(), AtFlags::SYMLINK_NOFOLLOW)
        .map_err(Fail::io("set times"))
}

/// chmod of the node at `name` that cannot be sent elsewhere: in a running container's root
/// it may have been swapped for a symlink since we made it, and chmod follows symlinks. The
/// `O_PATH` fd pins the inode we check; chmod through its `/proc/self/fd` link acts on it.
fn chmod_nofollow(parent: &OwnedFd, name: &OsStr, mode: u32) -> Result<(), Fail> {
    let flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(parent, name, flags, Mode::empty()).map_err(Fail::io("chmod"))?;
    let st = rustix::fs::fstat(&fd).map_err(Fail::io("chmod"))?;
    if FileType::from_raw_mode(st.st_mode) == FileType::Symlink {
        return Err(Fail::Io(
            "chmod",
            io::Error::other("replaced by a symlink while being written"),
        ));
    }
    let link = format!("/proc/self/fd/{}", fd.as_raw_fd());
    rustix::fs::chmod(link.as_str(), Mode::from_raw_mode(mode)).map_err(Fail::io("chmod"))
}

/// Applies the entry's xattrs; a filesystem without xattr support (or, on a symlink, without
/// that namespace) is not an error.
fn set_xattrs(
    meta: &Meta,
    on_symlink: bool,
    mut set: impl FnMut(&OsStr, &[u8]) -> rustix::io::Result<()>,
) -> Result<(), Fail> {
    for (key, value) in &meta.xattrs {
        match set(OsStr::from_bytes(key), value) {
            Ok(()) => {}
            Err(Errno::OPNOTSUPP) => {
                tracing::debug!(xattr = %String::from_utf8_lossy(key), "xattr not supported")
            }
            Err(Errno::PERM) if on_symlink => {}
            Err(e) => return Err(Fail::Io("set xattr", e.into())),
        }
    }
    Ok(())
}

fn whiteout(
    tree: &mut Tree,
    parents: &[Vec<u8>],
    hidden: &[u8],
    meta: &Meta,
    opts: &UnpackOptions,
) -> Result<(), Fail> {
    if let Some(special) = hidden.strip_prefix(b".wh.") {
        if special == b".opq" {
            let dir = tree.dir(parents, true)?;
            rustix::fs::fsetxattr(&*dir, "trusted.overlay.opaque", b"y", XattrFlags::empty())
                .map_err(Fail::io("set opaque xattr"))?;
        } else {
            tracing::debug!(name = %String::from_utf8_lossy(special), "ignoring whiteout metadata");
        }
        return Ok(());
    }
    if matches!(hidden, b"" | b"." | b"..") {
        return Err(Refusal::BadWhiteout.into());
    }
    let parent = tree.dir(parents, true)?;
    let name = OsStr::from_bytes(hidden);
    tree.remove(&parent, name)?;
    let dev = rustix::fs::makedev(0, 0);
    rustix::fs::mknodat(
        &*parent,
        name,
        FileType::CharacterDevice,
        Mode::empty(),
        dev,
    )
    .map_err(Fail::io("create whiteout"))?;
    if opts.same_owner {
        std::os::unix::fs::lchown(proc_path(&parent, name), Some(meta.uid), Some(meta.gid))
            .map_err(|e| Fail::Io("chown", e))?;
    }
    Ok(())
}

/// Directories get their owner, mode and times once everything inside them is written, deepest
/// first. One that was replaced by something else later in the tar is skipped.
fn finish_dirs(
    tree: &mut Tree,
    dirs: BTreeMap<RelPath, Meta>,
    opts: &UnpackOptions,
) -> Result<(), LayerError> {
    let mut dirs: Vec<_> = dirs.into_iter().collect();
    dirs.sort_by_key(|(path, _)| Reverse(path.depth()));
    for (path, meta) in dirs {
        let fd = match tree.dir(path.components(), false) {
            Ok(fd) => fd,
            Err(Fail::Io(op, error)) => return Err(Fail::Io(op, error).at(&path.to_string())),
            Err(skip) => {
                tracing::debug!(path = %path, reason = ?skip, "directory replaced; not applying metadata");
                continue;
            }
        };
        let apply = || -> Result<(), Fail> {
            if opts.same_owner {
                std::os::unix::fs::fchown(&*fd, Some(meta.uid), Some(meta.gid))
                    .map_err(|e| Fail::Io("chown", e))?;
            }
            rustix::fs::fchmod(&*fd, Mode::from_raw_mode(meta.mode)).map_err(Fail::io("chmod"))?;
            rustix::fs::futimens(&*fd, &meta.times()).map_err(Fail::io("set times"))
        };
        apply().map_err(|f| f.at(&path.to_string()))?;
    }
    Ok(())
}
