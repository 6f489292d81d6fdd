//! Facts about the host, read from `/proc` and `/etc`: what `berth info` reports beside the
//! store's counts. Each reader returns what it found or an empty value, never a guess.

use std::path::Path;

/// The running kernel's release (`uname -r`).
pub(crate) fn kernel_version() -> String {
    read_trimmed("/proc/sys/kernel/osrelease")
}

/// The host name (`uname -n`).
pub(crate) fn hostname() -> String {
    read_trimmed("/proc/sys/kernel/hostname")
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// `PRETTY_NAME` and `VERSION_ID` of os-release(5), unquoted.
pub(crate) fn os_release() -> (String, String) {
    let text = std::fs::read_to_string("/etc/os-release")
        .or_else(|_| std::fs::read_to_string("/usr/lib/os-release"))
        .unwrap_or_default();
    (
        os_release_field(&text, "PRETTY_NAME").unwrap_or_else(|| "Linux".into()),
        os_release_field(&text, "VERSION_ID").unwrap_or_default(),
    )
}

fn os_release_field(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let v = l.strip_prefix(key)?.strip_prefix('=')?;
        Some(v.trim().trim_matches(['"', '\'']).to_string())
    })
}

/// Total memory in bytes (`MemTotal` of /proc/meminfo), 0 when unknown.
pub(crate) fn mem_total() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| mem_total_of(&t))
        .unwrap_or(0)
}

fn mem_total_of(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// CPUs this process may run on, as Go's `runtime.NumCPU` counts them for docker.
pub(crate) fn ncpu() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// "2" on a unified (v2) hierarchy, else "1": the same test the bundle makes.
pub(crate) fn cgroup_version() -> &'static str {
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "2"
    } else {
        "1"
    }
}

/// The filesystem under `path`, with docker's names for the common ones.
pub(crate) fn backing_filesystem(path: &Path) -> Option<String> {
    let st = rustix::fs::statfs(path).ok()?;
    // f_type's width differs between architectures; the magic numbers fit in 32 bits.
    #[allow(clippy::unnecessary_cast)]
    let magic = st.f_type as u64 & 0xffff_ffff;
    Some(
        match magic {
            0xEF53 => "extfs",
            0x5846_5342 => "xfs",
            0x9123_683E => "btrfs",
            0x0102_1994 => "tmpfs",
            0x794C_7630 => "overlayfs",
            0x2FC1_2FC1 => "zfs",
            0xF2F5_2010 => "f2fs",
            other => return Some(format!("0x{other:x}")),
        }
        .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_fields_unquote() {
        let text = "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION_ID=\"12\"\n";
        assert_eq!(
            os_release_field(text, "PRETTY_NAME").as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        assert_eq!(os_release_field(text, "VERSION_ID").as_deref(), Some("12"));
        assert_eq!(
            os_release_field(text, "NAME").as_deref(),
            Some("Debian GNU/Linux")
        );
        assert_eq!(os_release_field(text, "ID"), None);
    }

    #[test]
    fn meminfo_total_is_in_bytes() {
        let text = "MemTotal:        4028388 kB\nMemFree:  1 kB\n";
        assert_eq!(mem_total_of(text), Some(4_028_388 * 1024));
        assert_eq!(mem_total_of("MemFree: 1 kB\n"), None);
    }

    #[test]
    fn the_host_answers() {
        assert!(!kernel_version().is_empty());
        assert!(ncpu() >= 1);
        assert!(mem_total() > 0);
        assert!(backing_filesystem(Path::new("/")).is_some());
    }
}
