//! The narrow seam to the OS: sysctls and network namespaces.
//!
//! Namespace work happens on a short-lived thread that `setns`/`unshare`s itself: a netlink
//! socket opened on that thread belongs to the thread's namespace, so the container's namespace
//! is configured without `nsenter` or `ip netns`.

use std::fs::File;
use std::path::Path;

use nix::sched::CloneFlags;

use crate::NetError;

/// `statfs` magic of nsfs: what a namespace bind mount looks like.
const NSFS_MAGIC: i64 = 0x6e73_6673;

/// Whether a failed nftables command or netlink request failed only because its object was
/// already gone.
pub(crate) fn is_gone(e: &NetError) -> bool {
    match e {
        NetError::Netlink { .. } => crate::netlink::is_errno(e, &[libc::ENODEV, libc::ENOENT]),
        NetError::Command { stderr, .. } => {
            let s = stderr.to_ascii_lowercase();
            s.contains("cannot find device")
                || s.contains("no such file or directory")
                || s.contains("does not exist")
                || s.contains("no such device")
        }
        _ => false,
    }
}

/// Whether a network interface exists (in the calling thread's network namespace).
pub(crate) fn link_exists(name: &str) -> bool {
    Path::new("/proc/sys/net/ipv4/conf").join(name).exists()
}

/// Sets `/proc/sys/<key>` (e.g. `net/ipv4/ip_forward`) unless it already has that value.
pub(crate) fn set_sysctl(key: &str, value: &str) -> Result<(), NetError> {
    let path = Path::new("/proc/sys").join(key);
    if std::fs::read_to_string(&path).is_ok_and(|v| v.trim() == value) {
        return Ok(());
    }
    std::fs::write(&path, value).map_err(|e| NetError::io(format!("set {}", path.display()), e))
}

/// Runs `f` on a short-lived thread of its own, for work that moves its thread into another
/// namespace (`setns`, `unshare`) and must not move the caller's.
pub(crate) fn on_thread<T: Send>(
    what: &str,
    f: impl FnOnce() -> Result<T, NetError> + Send,
) -> Result<T, NetError> {
    std::thread::scope(|s| {
        s.spawn(f).join().unwrap_or_else(|_| {
            Err(NetError::io(
                what.to_string(),
                std::io::Error::other("worker thread panicked"),
            ))
        })
    })
}

/// Runs `f` on a fresh thread that has joined the network namespace at `netns`.
pub(crate) fn in_netns<T: Send>(
    netns: &Path,
    f: impl FnOnce() -> Result<T, NetError> + Send,
) -> Result<T, NetError> {
    let file = File::open(netns)
        .map_err(|e| NetError::io(format!("open network namespace {}", netns.display()), e))?;
    on_thread(
        &format!("network namespace {}", netns.display()),
        move || {
            nix::sched::setns(&file, CloneFlags::CLONE_NEWNET).map_err(|e| {
                NetError::io(
                    format!("enter network namespace {}", netns.display()),
                    e.into(),
                )
            })?;
            f()
        },
    )
}

/// Whether `path` is a namespace bind mount.
pub(crate) fn is_nsfs(path: &Path) -> bool {
    rustix::fs::statfs(path).is_ok_and(|s| s.f_type == NSFS_MAGIC)
}

/// Whether `file` is open on a namespace (nsfs), not on a plain file.
pub(crate) fn is_nsfs_fd(file: &File) -> bool {
    rustix::fs::fstatfs(file).is_ok_and(|s| s.f_type == NSFS_MAGIC)
}

/// Binds the namespace at `source` on `path` (a new empty file), as `create_netns` would have
/// made it.
pub(crate) fn bind_netns(source: &Path, path: &Path) -> Result<(), NetError> {
    let what = format!("bind network namespace at {}", path.display());
    File::create(path).map_err(|e| NetError::io(what.clone(), e))?;
    if let Err(e) = rustix::mount::mount_bind(source, path) {
        let _ = std::fs::remove_file(path);
        return Err(NetError::io(what, e.into()));
    }
    Ok(())
}

/// Creates a network namespace bound at `path` (like `ip netns add`, under our own directory)
/// with `lo` up. An existing namespace at `path` is kept.
pub(crate) fn create_netns(path: &Path) -> Result<(), NetError> {
    if is_nsfs(path) {
        return Ok(());
    }
    let what = format!("create network namespace {}", path.display());
    File::create(path).map_err(|e| NetError::io(what, e))?;
    let made = crate::pool::make(Some(path)).map(drop);
    if made.is_err() {
        let _ = remove_netns(path);
    }
    made
}

/// Unmounts and removes a namespace file; missing or unmounted is fine.
pub(crate) fn remove_netns(path: &Path) -> Result<(), NetError> {
    while is_nsfs(path) {
        rustix::mount::unmount(path, rustix::mount::UnmountFlags::DETACH).map_err(|e| {
            NetError::io(
                format!("unmount network namespace {}", path.display()),
                e.into(),
            )
        })?;
    }
    crate::state::remove_file(path)
}
