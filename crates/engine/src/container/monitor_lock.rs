//! How a container's monitor is recognised: it holds a POSIX write lock on
//! `RUNROOT/monitors/ID` for its whole life, and the kernel names the holder (`F_GETLK`).
//!
//! A pid alone is not an identity (pids are reused), and a command line is not one either: a
//! monitor forked by the CLI (see `start.rs`) carries the CLI's. The lock goes with the
//! process — a `kill -9` or a crash releases it — and is not inherited by the container's
//! init or any other child. The monitor opens the file once and never closes it: a POSIX
//! lock is released when its process closes any descriptor of the file.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use nix::fcntl::{fcntl, FcntlArg};
use nix::libc;

/// The lock a live monitor holds (dropped, or the process gone, it is free).
#[derive(Debug)]
pub(crate) struct MonitorLock {
    _file: std::fs::File,
}

/// The lock file of container `id`'s monitor under `run_root`.
pub(crate) fn path(run_root: &Path, id: &str) -> PathBuf {
    run_root.join("monitors").join(id)
}

fn whole_file(kind: libc::c_short) -> libc::flock {
    libc::flock {
        l_type: kind,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: 0,
        l_len: 0,
        l_pid: 0,
    }
}

impl MonitorLock {
    /// Takes the lock of the monitor whose file is `path`; fails if a live process holds it.
    pub(crate) fn acquire(path: &Path) -> std::io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let fl = whole_file(libc::F_WRLCK as libc::c_short);
        fcntl(file.as_raw_fd(), FcntlArg::F_SETLK(&fl)).map_err(std::io::Error::from)?;
        Ok(Self { _file: file })
    }
}

/// The pid of the process that holds the lock at `path`, if any does. Never this process:
/// the kernel reports only locks that conflict with the caller's.
pub(crate) fn holder(path: &Path) -> Option<i32> {
    let file = std::fs::File::open(path).ok()?;
    let mut fl = whole_file(libc::F_WRLCK as libc::c_short);
    fcntl(file.as_raw_fd(), FcntlArg::F_GETLK(&mut fl)).ok()?;
    (fl.l_type != libc::F_UNLCK as libc::c_short && fl.l_pid > 0).then_some(fl.l_pid)
}

#[cfg(test)]
#[allow(unsafe_code)] // a forked child holding the lock: raw syscalls only
mod tests {
    use super::*;

    #[test]
    fn the_holder_is_named_while_it_lives_and_not_after() {
        let dir = tempfile::tempdir().unwrap();
        let lock = path(dir.path(), "abc");
        assert_eq!(holder(&lock), None, "no file, no holder");
        std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
        let c_path = std::ffi::CString::new(lock.as_os_str().as_encoded_bytes()).unwrap();
        let fl = whole_file(libc::F_WRLCK as libc::c_short);
        let (ready_r, ready_w) = nix::unistd::pipe().unwrap();
        let (leave_r, leave_w) = nix::unistd::pipe().unwrap();
        // A child takes the lock (a process never sees its own), says so, and waits. The test
        // harness has threads: the child makes raw syscalls only, nothing that allocates.
        // SAFETY: see above; the child ends with `_exit`.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => unsafe {
                // The child's copy of the write end would keep its own read from ending.
                libc::close(leave_w.as_raw_fd());
                let fd = libc::open(c_path.as_ptr(), libc::O_RDWR | libc::O_CREAT, 0o600);
                let ok = fd >= 0 && libc::fcntl(fd, libc::F_SETLK, &fl) == 0;
                let answer: &[u8] = if ok { b"y" } else { b"n" };
                libc::write(ready_w.as_raw_fd(), answer.as_ptr().cast(), 1);
                let mut b = 0u8;
                libc::read(leave_r.as_raw_fd(), std::ptr::addr_of_mut!(b).cast(), 1);
                libc::_exit(0)
            },
            nix::unistd::ForkResult::Parent { child } => {
                drop(ready_w);
                drop(leave_r);
                let mut b = [0u8; 1];
                nix::unistd::read(ready_r.as_raw_fd(), &mut b).unwrap();
                assert_eq!(&b, b"y");
                assert_eq!(holder(&lock), Some(child.as_raw()));
                assert!(
                    MonitorLock::acquire(&lock).is_err(),
                    "a second monitor cannot take a held lock"
                );
                drop(leave_w); // the child leaves, and its lock with it
                nix::sys::wait::waitpid(child, None).unwrap();
                assert_eq!(holder(&lock), None);
                let mine = MonitorLock::acquire(&lock).unwrap();
                assert_eq!(holder(&lock), None, "a process does not see its own lock");
                drop(mine);
            }
        }
    }
}
