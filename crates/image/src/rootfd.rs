//! Paths inside a *live* root filesystem (a running container's), resolved by the kernel.
//!
//! [`crate::rootpath`] walks a root the way a chroot would, but by path: each step is a
//! separate lookup from the host, so a process inside the root that swaps a directory for a
//! symlink (`/data` → `/`) between two steps sends the host's next lookup to the host's own
//! files (CVE-2018-15664). A [`Root`] instead holds one `O_PATH` fd of the root and resolves
//! every path with `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`: the kernel resolves the
//! whole path in one call with the fd as `/`, so absolute symlinks and `..` stay inside
//! whatever the container does meanwhile. The fds it returns are what callers work through
//! (read, list, create relative to); they never go back to paths.
//!
//! Without `openat2` (Linux < 5.6) every call fails with [`std::io::ErrorKind::Unsupported`]:
//! there is no race-free fallback, and a racy one is what this module exists to avoid.
//!
//! ```no_run
//! use berth_image::rootfd::Root;
//! let root = Root::open("/var/lib/berth/containers/abc/rootfs".as_ref()).unwrap();
//! let passwd = root.read_file("/etc/passwd", 1 << 20).unwrap();
//! ```

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{FileType, Mode, OFlags, ResolveFlags, CWD};
use rustix::io::Errno;

/// How often a lookup is retried when the kernel reports that a rename raced a `..` step
/// (`EAGAIN`, which `RESOLVE_IN_ROOT` returns rather than risk an escape).
const RETRIES: usize = 128;

/// A root directory, opened once; every path below it is resolved inside it.
#[derive(Debug)]
pub struct Root {
    fd: OwnedFd,
}

impl Root {
    /// Opens `path` (a host path the caller trusts, such as a container's rootfs mount
    /// point) as the root, and checks that the kernel can resolve paths inside it.
    pub fn open(path: &Path) -> io::Result<Self> {
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(CWD, path, flags, Mode::empty()).map_err(|e| {
            io::Error::new(
                io::Error::from(e).kind(),
                format!("open root {}: {e}", path.display()),
            )
        })?;
        let root = Self { fd };
        // Fail here, clearly, on a kernel without openat2 rather than on the first use.
        root.resolve(".", OFlags::PATH | OFlags::DIRECTORY)?;
        Ok(root)
    }

    /// The root's own `O_PATH` fd.
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Opens `path` (as seen from inside the root) with `flags`, following symlinks inside
    /// the root; add `O_NOFOLLOW` to stop at a last component that is a symlink.
    pub fn resolve(&self, path: &str, flags: OFlags) -> io::Result<OwnedFd> {
        let how = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
        let path = if path.is_empty() { "." } else { path };
        for _ in 0..RETRIES {
            match rustix::fs::openat2(&self.fd, path, flags | OFlags::CLOEXEC, Mode::empty(), how) {
                Err(Errno::AGAIN | Errno::INTR) => continue,
                Err(Errno::NOSYS) => return Err(unsupported()),
                other => return other.map_err(io::Error::from),
            }
        }
        Err(io::Error::other(format!(
            "resolve {path} in its root: the tree kept changing under the lookup"
        )))
    }

    /// The directory `path`, opened for listing and as a parent for `*at` calls.
    pub fn open_dir(&self, path: &str) -> io::Result<OwnedFd> {
        self.resolve(path, OFlags::RDONLY | OFlags::DIRECTORY)
    }

    /// Whether `path` is a directory (following symlinks inside the root).
    pub fn is_dir(&self, path: &str) -> bool {
        self.resolve(path, OFlags::PATH | OFlags::DIRECTORY).is_ok()
    }

    /// The directory holding `path`'s last component, and that component; `None` when
    /// `path` names a directory without a name of its own (`/`, `a/.`, `a/..`), which is then
    /// returned itself. Trailing slashes are ignored: `cp` copies `/link/` as the link.
    pub fn parent(&self, path: &str) -> io::Result<(OwnedFd, Option<OsString>)> {
        let (dir, last) = split_last(path);
        match last {
            None => Ok((self.open_dir(path)?, None)),
            Some(name) => Ok((self.open_dir(dir)?, Some(OsStr::from_bytes(name).into()))),
        }
    }

    /// The content of the regular file at `path`, at most `limit` bytes of it. Never blocks
    /// on a FIFO and never opens a device: a container's `/etc/passwd` may be either.
    pub fn read_file(&self, path: &str, limit: u64) -> io::Result<Vec<u8>> {
        let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY;
        let fd = self.resolve(path, flags)?;
        let st = rustix::fs::fstat(&fd)?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{path} is not a regular file"),
            ));
        }
        let mut out = Vec::new();
        File::from(fd).take(limit).read_to_end(&mut out)?;
        Ok(out)
    }
}

fn unsupported() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "openat2 is not available (Linux 5.6 or later is needed to reach into a container's \
         root without racing it)",
    )
}

/// `a/b/c` → (`a/b`, `c`); a path ending in `.` or `..` (or naming the root) has no last
/// name of its own.
fn split_last(path: &str) -> (&str, Option<&[u8]>) {
    let trimmed = path.trim_end_matches('/');
    let (dir, last) = match trimmed.rsplit_once('/') {
        Some((dir, last)) => (if dir.is_empty() { "/" } else { dir }, last),
        None => (".", trimmed),
    };
    match last {
        "" | "." | ".." => (path, None),
        name => (dir, Some(name.as_bytes())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tree() -> (tempfile::TempDir, std::path::PathBuf) {
        let base = tempfile::tempdir().unwrap();
        let root = base.path().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/passwd"), "inside\n").unwrap();
        std::fs::write(base.path().join("passwd"), "outside\n").unwrap();
        (base, root)
    }

    fn content(fd: OwnedFd) -> String {
        let mut s = String::new();
        File::from(fd).read_to_string(&mut s).unwrap();
        s
    }

    #[test]
    fn split_last_names_the_parent_and_the_last_component() {
        for (path, dir, last) in [
            ("/a/b/c", "/a/b", Some("c")),
            ("/a/b/c/", "/a/b", Some("c")),
            ("a", ".", Some("a")),
            ("/a", "/", Some("a")),
            ("/", "/", None),
            ("", "", None),
            ("/a/.", "/a/.", None),
            ("/a/..", "/a/..", None),
        ] {
            let (d, l) = split_last(path);
            assert_eq!(
                (d, l.map(|b| std::str::from_utf8(b).unwrap())),
                (dir, last),
                "{path}"
            );
        }
    }

    #[test]
    fn absolute_and_dotdot_symlinks_resolve_inside_the_root() {
        let (base, root) = tree();
        symlink("/", root.join("up")).unwrap();
        symlink("../../../..", root.join("dots")).unwrap();
        symlink(base.path(), root.join("hostpath")).unwrap();
        let r = Root::open(&root).unwrap();
        for path in [
            "/etc/passwd",
            "up/etc/passwd",
            "/dots/etc/passwd",
            "../../etc/passwd",
        ] {
            let fd = r.resolve(path, OFlags::RDONLY).unwrap();
            assert_eq!(content(fd), "inside\n", "{path}");
        }
        // A host path as the target names nothing inside this root.
        let err = r.resolve("/hostpath/passwd", OFlags::RDONLY).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert_eq!(r.read_file("/up/etc/passwd", 100).unwrap(), b"inside\n");
    }

    #[test]
    fn nofollow_stops_at_a_last_symlink_and_magic_links_are_refused() {
        let (_base, root) = tree();
        symlink("/etc", root.join("link")).unwrap();
        symlink("/proc/self/root", root.join("magic")).unwrap();
        let r = Root::open(&root).unwrap();
        let fd = r.resolve("link", OFlags::PATH | OFlags::NOFOLLOW).unwrap();
        let st = rustix::fs::fstat(&fd).unwrap();
        assert_eq!(FileType::from_raw_mode(st.st_mode), FileType::Symlink);
        assert!(r.is_dir("/link"), "followed inside the root");
        // `/proc` inside this root does not exist; a magic link is refused all the same.
        assert!(r.resolve("magic/etc", OFlags::PATH).is_err());
    }

    #[test]
    fn parent_gives_the_directory_and_the_name() {
        let (_base, root) = tree();
        symlink("/etc", root.join("link")).unwrap();
        let r = Root::open(&root).unwrap();
        let (dir, name) = r.parent("/link/passwd").unwrap();
        assert_eq!(name.as_deref(), Some(OsStr::new("passwd")));
        let fd = rustix::fs::openat(&dir, "passwd", OFlags::RDONLY, Mode::empty()).unwrap();
        assert_eq!(content(fd), "inside\n");
        let (_, name) = r.parent("/link/").unwrap();
        assert_eq!(name.as_deref(), Some(OsStr::new("link")), "the link itself");
        let (dir, name) = r.parent("/etc/.").unwrap();
        assert!(name.is_none());
        assert!(rustix::fs::statat(&dir, "passwd", rustix::fs::AtFlags::empty()).is_ok());
    }

    #[test]
    fn read_file_refuses_what_is_not_a_regular_file() {
        let (_base, root) = tree();
        rustix::fs::mknodat(
            CWD,
            root.join("fifo"),
            FileType::Fifo,
            Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        let r = Root::open(&root).unwrap();
        assert!(r.read_file("/fifo", 10).is_err(), "and did not block");
        assert!(r.read_file("/etc", 10).is_err());
        assert_eq!(r.read_file("/etc/passwd", 3).unwrap(), b"ins");
    }

    #[test]
    fn a_root_that_is_not_a_directory_is_refused() {
        let (base, _root) = tree();
        assert!(Root::open(&base.path().join("passwd")).is_err());
        assert!(Root::open(&base.path().join("missing")).is_err());
    }
}
