//! Filesystem operations confined to one directory tree.
//!
//! Every path is reached from the root's directory fd one component at a time with
//! `O_NOFOLLOW | O_DIRECTORY`, so a symlink (or a non-directory) in the middle of a path stops the
//! walk instead of leading outside. Objects that cannot be opened safely (symlinks, devices) are
//! addressed as `/proc/self/fd/<parent>/<name>` with calls that do not follow the last component.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags, CWD};
use rustix::io::Errno;

use super::{LayerError, Refusal};

/// Why an operation on the tree failed, before it is tied to an entry name.
#[derive(Debug)]
pub(crate) enum Fail {
    Refused(Refusal),
    /// A directory on the way does not exist (only when not creating).
    Missing,
    Io(&'static str, io::Error),
    Truncated {
        expected: u64,
        got: u64,
    },
}

impl Fail {
    pub(crate) fn io(op: &'static str) -> impl FnOnce(Errno) -> Fail {
        move |e| Fail::Io(op, e.into())
    }

    /// Names the entry the failure belongs to.
    pub(crate) fn at(self, path: &str) -> LayerError {
        let path = path.to_owned();
        match self {
            Fail::Refused(reason) => LayerError::Refused { path, reason },
            Fail::Missing => LayerError::Io {
                path,
                op: "open parent directory",
                error: io::ErrorKind::NotFound.into(),
            },
            Fail::Io(op, error) => LayerError::Io { path, op, error },
            Fail::Truncated { expected, got } => LayerError::Truncated {
                path,
                expected,
                got,
            },
        }
    }
}

impl From<Refusal> for Fail {
    fn from(r: Refusal) -> Self {
        Fail::Refused(r)
    }
}

/// The destination directory, with the last parent directory opened kept for the next entry.
pub(crate) struct Tree {
    root: Rc<OwnedFd>,
    last: Option<(Vec<Vec<u8>>, Rc<OwnedFd>)>,
}

impl Tree {
    pub(crate) fn open(dest: &Path) -> io::Result<Self> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let root = rustix::fs::openat(CWD, dest, flags, Mode::empty())?;
        Ok(Self {
            root: Rc::new(root),
            last: None,
        })
    }

    /// The tree below an already open directory.
    pub(crate) fn from_fd(root: OwnedFd) -> Self {
        Self {
            root: Rc::new(root),
            last: None,
        }
    }

    /// Opens the directory reached by `dirs` from the root, creating missing components (mode
    /// 0755) when `create`. A component that is a symlink or not a directory is refused.
    pub(crate) fn dir(&mut self, dirs: &[Vec<u8>], create: bool) -> Result<Rc<OwnedFd>, Fail> {
        if dirs.is_empty() {
            return Ok(self.root.clone());
        }
        if let Some((path, fd)) = &self.last {
            if path == dirs {
                return Ok(fd.clone());
            }
        }
        let mut cur = self.root.clone();
        for (i, part) in dirs.iter().enumerate() {
            let name = OsStr::from_bytes(part);
            let next = match open_dir(cur.as_fd(), name) {
                Ok(fd) => fd,
                Err(Errno::NOENT) if create => {
                    match rustix::fs::mkdirat(&*cur, name, Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(Fail::Io("create parent directory", e.into())),
                    }
                    open_dir(cur.as_fd(), name).map_err(|e| why_not_dir(&cur, dirs, i, e))?
                }
                Err(e) => return Err(why_not_dir(&cur, dirs, i, e)),
            };
            cur = Rc::new(next);
        }
        self.last = Some((dirs.to_vec(), cur.clone()));
        Ok(cur)
    }

    /// The type of what is at `name` in `parent`, without following a symlink.
    pub(crate) fn existing(parent: &OwnedFd, name: &OsStr) -> Result<Option<FileType>, Fail> {
        match rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(FileType::from_raw_mode(st.st_mode))),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(Fail::Io("inspect existing file", e.into())),
        }
    }

    /// Removes whatever is at `name` in `parent` (a directory with all its content; a symlink
    /// itself, never its target).
    pub(crate) fn remove(&mut self, parent: &OwnedFd, name: &OsStr) -> Result<(), Fail> {
        match Self::existing(parent, name)? {
            None => Ok(()),
            Some(FileType::Directory) => {
                self.last = None;
                remove_tree(parent.as_fd(), name)
                    .map_err(|e| Fail::Io("remove existing directory", e))
            }
            Some(_) => rustix::fs::unlinkat(parent, name, AtFlags::empty())
                .map_err(Fail::io("remove existing file")),
        }
    }
}

fn open_dir(at: BorrowedFd<'_>, name: &OsStr) -> rustix::io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    rustix::fs::openat(at, name, flags, Mode::empty())
}

/// Explains why `dirs[i]` could not be opened as a directory.
fn why_not_dir(parent: &OwnedFd, dirs: &[Vec<u8>], i: usize, err: Errno) -> Fail {
    let shown = || String::from_utf8_lossy(&dirs[..=i].join(&b'/')).into_owned();
    match Tree::existing(parent, OsStr::from_bytes(&dirs[i])) {
        Ok(Some(FileType::Symlink)) => Fail::Refused(Refusal::SymlinkInPath(shown())),
        Ok(Some(FileType::Directory)) => Fail::Io("open parent directory", err.into()),
        Ok(Some(_)) => Fail::Refused(Refusal::NotADirectory(shown())),
        Ok(None) => Fail::Missing,
        Err(f) => f,
    }
}

/// Deletes a directory and its content through fds, never following symlinks.
fn remove_tree(parent: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    let dir = open_dir(parent, name)?;
    let mut children = Vec::new();
    for child in Dir::read_from(&dir)? {
        let child = child?;
        let child_name = child.file_name().to_bytes();
        if child_name != b"." && child_name != b".." {
            children.push((child_name.to_vec(), child.file_type()));
        }
    }
    for (child, kind) in children {
        let child = OsStr::from_bytes(&child);
        let kind = match kind {
            FileType::Unknown => {
                let st = rustix::fs::statat(&dir, child, AtFlags::SYMLINK_NOFOLLOW)?;
                FileType::from_raw_mode(st.st_mode)
            }
            known => known,
        };
        if kind == FileType::Directory {
            remove_tree(dir.as_fd(), child)?;
        } else {
            rustix::fs::unlinkat(&dir, child, AtFlags::empty())?;
        }
    }
    Ok(rustix::fs::unlinkat(parent, name, AtFlags::REMOVEDIR)?)
}

/// `/proc/self/fd/<parent>/<name>`: the kernel resolves the fd link to the directory itself, and
/// `l*` calls on this path act on `name` without following it.
pub(crate) fn proc_path(parent: &OwnedFd, name: &OsStr) -> PathBuf {
    let mut path = PathBuf::from(format!("/proc/self/fd/{}", parent.as_raw_fd()));
    path.push(name);
    path
}
