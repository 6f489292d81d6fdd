//! The narrow seam to the OS: running `ip`/`nft`, sysctls, and network namespaces.
//!
//! Namespace work happens on a short-lived thread that `setns`/`unshare`s itself: a child
//! process inherits the namespaces of the thread that spawns it, so `ip` run from that thread
//! configures the container's namespace without `nsenter` or `ip netns`.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use nix::sched::CloneFlags;

use crate::NetError;

/// `statfs` magic of nsfs: what a namespace bind mount looks like.
const NSFS_MAGIC: i64 = 0x6e73_6673;

fn package_of(tool: &'static str) -> &'static str {
    match tool {
        "nft" => "nftables",
        "ip" => "iproute2",
        _ => tool,
    }
}

/// Runs `tool args…` (feeding `stdin` if given) and returns stdout; a non-zero exit becomes
/// [`NetError::Command`] carrying stderr.
pub(crate) fn run(
    what: &str,
    tool: &'static str,
    args: &[&str],
    stdin: Option<&str>,
) -> Result<String, NetError> {
    let mut cmd = Command::new(tool);
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            NetError::ToolMissing {
                tool,
                package: package_of(tool),
            }
        } else {
            NetError::io(format!("{what}: run {tool}"), e)
        }
    })?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())
            .map_err(|e| NetError::io(format!("{what}: write to {tool}"), e))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| NetError::io(format!("{what}: wait for {tool}"), e))?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let mut command = std::iter::once(tool)
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ");
    if let Some(text) = stdin {
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        command.push_str(&format!(" <<< {}", lines.join("; ")));
    }
    Err(NetError::Command {
        what: what.to_string(),
        command,
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    })
}

/// Whether a failed command failed only because its object was already gone.
pub(crate) fn is_gone(e: &NetError) -> bool {
    match e {
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

/// Runs `f` on a fresh thread that has joined the network namespace at `netns`.
pub(crate) fn in_netns<T: Send>(
    netns: &Path,
    f: impl FnOnce() -> Result<T, NetError> + Send,
) -> Result<T, NetError> {
    let file = File::open(netns)
        .map_err(|e| NetError::io(format!("open network namespace {}", netns.display()), e))?;
    std::thread::scope(|s| {
        s.spawn(move || {
            nix::sched::setns(&file, CloneFlags::CLONE_NEWNET).map_err(|e| {
                NetError::io(
                    format!("enter network namespace {}", netns.display()),
                    e.into(),
                )
            })?;
            f()
        })
        .join()
        .unwrap_or_else(|_| {
            Err(NetError::io(
                format!("network namespace {}", netns.display()),
                std::io::Error::other("worker thread panicked"),
            ))
        })
    })
}

/// Whether `path` is a namespace bind mount.
pub(crate) fn is_nsfs(path: &Path) -> bool {
    rustix::fs::statfs(path).is_ok_and(|s| s.f_type == NSFS_MAGIC)
}

/// Creates a network namespace bound at `path` (like `ip netns add`, under our own directory)
/// with `lo` up. An existing namespace at `path` is kept.
pub(crate) fn create_netns(path: &Path) -> Result<(), NetError> {
    if is_nsfs(path) {
        return Ok(());
    }
    let what = format!("create network namespace {}", path.display());
    File::create(path).map_err(|e| NetError::io(what.clone(), e))?;
    let made = std::thread::scope(|s| {
        s.spawn(|| {
            nix::sched::unshare(CloneFlags::CLONE_NEWNET)
                .map_err(|e| NetError::io(what.clone(), e.into()))?;
            rustix::mount::mount_bind("/proc/thread-self/ns/net", path)
                .map_err(|e| NetError::io(what.clone(), e.into()))?;
            run(&what, "ip", &["link", "set", "lo", "up"], None).map(|_| ())
        })
        .join()
        .unwrap_or_else(|_| {
            Err(NetError::io(
                what.clone(),
                std::io::Error::other("worker thread panicked"),
            ))
        })
    });
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
