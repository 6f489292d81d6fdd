//! Network namespaces made ahead of time.
//!
//! A new network namespace costs ~0.5 ms of the kernel's time (`setup_net` runs the
//! per-namespace set-up of IPv4, IPv6, nftables, conntrack, ...), on the path of every start.
//! A start takes one made earlier instead, and whoever took it makes the next one once its
//! client has its answer ([`NetnsPool::fill`]).
//!
//! A pooled namespace is an nsfs bind mount on a file of the pool directory (as `ip netns
//! add` makes them), with `lo` up. Taking one needs no lock: the taker opens the entry — the
//! open file keeps the namespace alive — and unmounts it; the one whose unmount succeeds owns
//! the namespace, one that loses the race gets `EINVAL` and tries the next entry. A namespace
//! is published by its mount, which comes after `lo` is up: a half-made one is never taken.
//!
//! Fills hold an exclusive `flock` on the pool's directory. Only a start creates the
//! directory, never a fill: once [`NetnsPool::drain`] (which waits for a fill in progress) has
//! removed it, or someone removed the whole run root, a monitor finishing late leaves no
//! mount behind.

use std::fs::{self, File};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;
use rustix::mount::UnmountFlags;

use crate::netlink::Netlink;
use crate::NetError;

/// The namespaces of one berth root that wait for a container.
#[derive(Debug, Clone)]
pub struct NetnsPool {
    dir: PathBuf,
}

/// What a start gets: a network namespace with `lo` up, held open.
#[derive(Debug)]
pub struct Netns(OwnedFd);

impl Netns {
    /// A path that names the namespace while this is alive, in this process and in processes
    /// cloned from it (for an OCI spec's namespace path).
    pub fn proc_path(&self) -> PathBuf {
        use std::os::fd::AsRawFd;
        PathBuf::from(format!("/proc/self/fd/{}", self.0.as_raw_fd()))
    }
}

impl AsFd for Netns {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl NetnsPool {
    /// The pool kept in `dir` (which the first start creates).
    pub fn new(dir: PathBuf) -> Self {
        NetnsPool { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A namespace for a start: a pooled one, or a new one when the pool is empty.
    pub fn take_or_make(&self) -> Result<Netns, NetError> {
        match self.take() {
            Some(ns) => Ok(ns),
            None => make(None).map(Netns),
        }
    }

    /// Takes a pooled namespace, if one is there. (Creates the pool's directory when it is
    /// missing, so that the next fill has somewhere to put its namespaces.)
    pub fn take(&self) -> Option<Netns> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) => {
                if e.kind() == std::io::ErrorKind::NotFound {
                    let _ = fs::create_dir_all(&self.dir);
                }
                return None;
            }
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if !is_entry(&path) {
                continue;
            }
            let Ok(file) = File::open(&path) else {
                continue;
            };
            if !crate::sys::is_nsfs_fd(&file) {
                continue; // being made, or already taken
            }
            match rustix::mount::unmount(&path, UnmountFlags::DETACH) {
                Ok(()) => {
                    let _ = fs::remove_file(&path);
                    return Some(Netns(file.into()));
                }
                // (EINVAL: taken by another start between our open and our unmount.)
                Err(e) if e != rustix::io::Errno::INVAL => {
                    tracing::debug!(path = %path.display(), error = %e, "cannot take a pooled network namespace");
                }
                Err(_) => {}
            }
        }
        None
    }

    /// Makes namespaces until the pool holds `target`. Returns how many it made; 0 when
    /// another process is filling the pool at the moment (it will have done the same), or
    /// when the pool's directory is gone (drained: see the module's comment).
    pub fn fill(&self, target: usize) -> Result<usize, NetError> {
        let what = format!("fill network namespace pool {}", self.dir.display());
        let lock = match File::open(&self.dir) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(NetError::io(what, e)),
        };
        match rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(e) if e == rustix::io::Errno::WOULDBLOCK => return Ok(0),
            Err(e) => return Err(NetError::io(what, e.into())),
        }
        // A drain that finished just before we took the lock removed the directory.
        if lock
            .metadata()
            .map_err(|e| NetError::io(what.clone(), e))?
            .nlink()
            == 0
        {
            return Ok(0);
        }
        // Under the lock no entry is being made: a plain file is what a crash left.
        let mut have = 0;
        for entry in fs::read_dir(&self.dir)
            .map_err(|e| NetError::io(what.clone(), e))?
            .flatten()
        {
            let path = entry.path();
            if !is_entry(&path) {
                continue;
            }
            if crate::sys::is_nsfs(&path) {
                have += 1;
            } else {
                let _ = fs::remove_file(&path);
            }
        }
        let missing = target.saturating_sub(have);
        if missing == 0 {
            return Ok(0);
        }
        let paths: Vec<PathBuf> = (0..missing)
            .map(|_| {
                self.dir
                    .join(format!("{ENTRY_PREFIX}{:016x}", rand::random::<u64>()))
            })
            .collect();
        for p in &paths {
            File::create_new(p)
                .map_err(|e| NetError::io(format!("{what}: create {}", p.display()), e))?;
        }
        let made = crate::sys::on_thread(&what, || {
            let mut made = 0;
            for p in &paths {
                make_here(Some(p))?;
                made += 1;
            }
            Ok(made)
        });
        if made.is_err() {
            for p in &paths {
                if !crate::sys::is_nsfs(p) {
                    let _ = fs::remove_file(p);
                }
            }
        }
        made
    }

    /// Unmounts and removes every pooled namespace and the pool's directory, after a fill in
    /// progress; no fill makes more until a start creates the directory again.
    pub fn drain(&self) -> Result<(), NetError> {
        let what = format!("empty network namespace pool {}", self.dir.display());
        let lock = match File::open(&self.dir) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(NetError::io(what, e)),
        };
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| NetError::io(what.clone(), e.into()))?;
        for entry in fs::read_dir(&self.dir)
            .map_err(|e| NetError::io(what.clone(), e))?
            .flatten()
        {
            let path = entry.path();
            if is_entry(&path) {
                crate::sys::remove_netns(&path)?;
            } else {
                // Nothing else belongs here; whatever it is must not keep the directory.
                let _ = fs::remove_file(&path);
            }
        }
        fs::remove_dir(&self.dir).map_err(|e| NetError::io(what, e))
    }
}

const ENTRY_PREFIX: &str = "ns-";

fn is_entry(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with(ENTRY_PREFIX))
}

/// Makes a network namespace with `lo` up and moves the calling thread into it; with
/// `bind`, mounts it there once `lo` is up. Returns the namespace, opened.
fn make_here(bind: Option<&Path>) -> Result<OwnedFd, NetError> {
    let what = "create a network namespace";
    nix::sched::unshare(CloneFlags::CLONE_NEWNET).map_err(|e| NetError::io(what, e.into()))?;
    crate::link::set_up(&mut Netlink::open()?, what, "lo")?;
    if let Some(path) = bind {
        rustix::mount::mount_bind("/proc/thread-self/ns/net", path)
            .map_err(|e| NetError::io(format!("{what} at {}", path.display()), e.into()))?;
    }
    File::open("/proc/thread-self/ns/net")
        .map(OwnedFd::from)
        .map_err(|e| NetError::io(what, e))
}

/// [`make_here`] on a short-lived thread: unsharing moves the thread, not its caller.
pub(crate) fn make(bind: Option<&Path>) -> Result<OwnedFd, NetError> {
    crate::sys::on_thread("create a network namespace", || make_here(bind))
}
