//! cgroup v1 for berth's init: the container's directories in every mounted hierarchy, made
//! and limited by the parent before the clone, joined by the init itself.
//!
//! The directories and files are libcontainer's (`<hierarchy>/<cgroupsPath>`, e.g.
//! `/sys/fs/cgroup/memory/berth/<id>`), so `stats`, `top`, `pause` and libcontainer's
//! `delete` find them whichever runtime created the container.
//!
//! Why the init joins by writing `0` to `tasks` instead of the parent writing its pid to
//! `cgroup.procs`: moving another process takes the global threadgroup rwsem, whose release
//! waits an RCU grace period per hierarchy (~2 ms each, ~18 ms for eight); a single-threaded
//! process moving itself through `tasks` skips that.

use std::ffi::OsStr;
use std::fs::OpenOptions;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use libcontainer::oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, LinuxResources};

use super::InitError;

/// One v1 hierarchy: where it is mounted and its name ("memory", "cpu,cpuacct").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    pub mount: PathBuf,
    pub controllers: Vec<String>,
}

impl Hierarchy {
    fn has(&self, c: &str) -> bool {
        self.controllers.iter().any(|x| x == c)
    }

    /// The name the hierarchy has below `/sys/fs/cgroup` (its mount point's last component).
    pub fn name(&self) -> &OsStr {
        self.mount.file_name().unwrap_or_default()
    }
}

/// The v1 controllers libcontainer manages; named hierarchies (`name=systemd`) are not ours.
const CONTROLLERS: [&str; 12] = [
    "cpu",
    "cpuacct",
    "cpuset",
    "devices",
    "hugetlb",
    "memory",
    "pids",
    "perf_event",
    "blkio",
    "net_cls",
    "net_prio",
    "freezer",
];

/// The v1 hierarchies in `mountinfo` (the text of `/proc/self/mountinfo`).
pub fn hierarchies(mountinfo: &str) -> Vec<Hierarchy> {
    let mut out: Vec<Hierarchy> = Vec::new();
    for line in mountinfo.lines() {
        // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let mut r = right.split(' ');
        if r.next() != Some("cgroup") {
            continue;
        }
        let Some(mount) = left.split(' ').nth(4) else {
            continue;
        };
        let controllers: Vec<String> = r
            .nth(1)
            .unwrap_or_default()
            .split(',')
            .filter(|o| CONTROLLERS.contains(o))
            .map(str::to_string)
            .collect();
        if controllers.is_empty() || out.iter().any(|h| h.controllers == controllers) {
            continue;
        }
        out.push(Hierarchy {
            mount: PathBuf::from(mount),
            controllers,
        });
    }
    out
}

/// The container's cgroups, made and limited; `tasks` holds one open `tasks` file per
/// hierarchy for the init to write `0` to.
#[derive(Debug)]
pub struct Cgroups {
    pub dirs: Vec<(Hierarchy, PathBuf)>,
    pub tasks: Vec<OwnedFd>,
}

fn io(what: &Path, source: std::io::Error) -> InitError {
    InitError::Io {
        what: format!("cgroup {}", what.display()),
        source,
    }
}

fn write(dir: &Path, file: &str, value: &str) -> Result<(), InitError> {
    let path = dir.join(file);
    std::fs::write(&path, value).map_err(|e| io(&path, e))
}

/// A new cpuset cgroup starts with no cpus and no memory nodes; it gets its parent's. A
/// parent we had to copy into a child for is told to do it itself from then on
/// (`cgroup.clone_children`): later containers only read theirs (2 reads, not 6 file
/// operations, on every start).
fn inherit_cpuset(mount: &Path, dir: &Path) -> Result<(), InitError> {
    let mut chain: Vec<&Path> = dir.ancestors().take_while(|a| *a != mount).collect();
    chain.reverse();
    for d in chain {
        let parent = d.parent().unwrap_or(mount);
        let mut copied = false;
        for file in ["cpuset.cpus", "cpuset.mems"] {
            let mine = std::fs::read_to_string(d.join(file)).map_err(|e| io(d, e))?;
            if mine.trim().is_empty() {
                let theirs =
                    std::fs::read_to_string(parent.join(file)).map_err(|e| io(parent, e))?;
                write(d, file, theirs.trim())?;
                copied = true;
            }
        }
        if copied && d == dir && parent != mount {
            // Best effort: without it, the next start copies again.
            let _ = write(parent, "cgroup.clone_children", "1");
        }
    }
    Ok(())
}

fn device_rule(r: &LinuxDeviceCgroup) -> String {
    let typ = match r.typ() {
        Some(LinuxDeviceType::C) => "c",
        Some(LinuxDeviceType::B) => "b",
        _ => "a",
    };
    let num = |n: Option<i64>| n.map_or("*".to_string(), |n| n.to_string());
    format!(
        "{typ} {}:{} {}",
        num(r.major()),
        num(r.minor()),
        r.access().as_deref().unwrap_or("rwm")
    )
}

fn limit(dir: &Path, h: &Hierarchy, res: &LinuxResources) -> Result<(), InitError> {
    if h.has("memory") {
        if let Some(m) = res.memory() {
            if let Some(l) = m.limit() {
                write(dir, "memory.limit_in_bytes", &l.to_string())?;
            }
            // Without swap accounting the file is absent and swap cannot be limited.
            if let Some(s) = m
                .swap()
                .filter(|_| dir.join("memory.memsw.limit_in_bytes").exists())
            {
                write(dir, "memory.memsw.limit_in_bytes", &s.to_string())?;
            }
        }
    }
    if h.has("cpu") {
        if let Some(c) = res.cpu() {
            if let Some(p) = c.period() {
                write(dir, "cpu.cfs_period_us", &p.to_string())?;
            }
            if let Some(q) = c.quota() {
                write(dir, "cpu.cfs_quota_us", &q.to_string())?;
            }
        }
    }
    if h.has("pids") {
        if let Some(p) = res.pids() {
            let v = if p.limit() > 0 {
                p.limit().to_string()
            } else {
                "max".to_string()
            };
            write(dir, "pids.max", &v)?;
        }
    }
    if h.has("devices") {
        write_device_rules(dir, res.devices().iter().flatten())?;
    }
    Ok(())
}

/// Writes device rules in order, each with one `write` (the kernel takes one rule per
/// write), through one open file per rule file: Docker's defaults are ~15 rules, and an
/// open, write and close for each cost ~0.3 ms of every start.
fn write_device_rules<'a>(
    dir: &Path,
    rules: impl Iterator<Item = &'a LinuxDeviceCgroup>,
) -> Result<(), InitError> {
    use std::io::Write;
    let (mut allow, mut deny): (Option<std::fs::File>, Option<std::fs::File>) = (None, None);
    for r in rules {
        let (slot, name) = if r.allow() {
            (&mut allow, "devices.allow")
        } else {
            (&mut deny, "devices.deny")
        };
        let path = dir.join(name);
        let file = match slot {
            Some(f) => f,
            None => slot.insert(
                OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(|e| io(&path, e))?,
            ),
        };
        file.write_all(device_rule(r).as_bytes())
            .map_err(|e| io(&path, e))?;
    }
    Ok(())
}

/// Makes `<hierarchy>/<path>` in every hierarchy, applies `res`, opens each `tasks`.
/// On failure, what was made is removed again.
pub fn setup(
    hierarchies: &[Hierarchy],
    path: &Path,
    res: Option<&LinuxResources>,
) -> Result<Cgroups, InitError> {
    let rel = path.strip_prefix("/").unwrap_or(path);
    let mut made = Cgroups {
        dirs: Vec::new(),
        tasks: Vec::new(),
    };
    let result = (|| {
        for h in hierarchies {
            let dir = h.mount.join(rel);
            std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
            made.dirs.push((h.clone(), dir.clone()));
            if h.has("cpuset") {
                inherit_cpuset(&h.mount, &dir)?;
            }
            if let Some(res) = res {
                limit(&dir, h, res)?;
            }
            let tasks = dir.join("tasks");
            let f = OpenOptions::new()
                .write(true)
                .open(&tasks)
                .map_err(|e| io(&tasks, e))?;
            made.tasks.push(f.into());
        }
        Ok(())
    })();
    match result {
        Ok(()) => Ok(made),
        Err(e) => {
            remove(&made);
            Err(e)
        }
    }
}

/// Kills every process in `dirs` (the container's cgroups, one per hierarchy) and removes
/// the directories. A directory that is already gone is fine; one that stays busy after its
/// processes were killed (they are still exiting) is retried for up to a second.
pub fn kill_and_remove(dirs: &[PathBuf]) -> Result<(), InitError> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    for dir in dirs {
        loop {
            match std::fs::remove_dir(dir) {
                Ok(()) => break,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    if std::time::Instant::now() >= deadline {
                        return Err(io(dir, e));
                    }
                    kill_all(dir);
                    // The killed processes leave the cgroup as they exit: a moment.
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                Err(e) => return Err(io(dir, e)),
            }
        }
    }
    Ok(())
}

/// SIGKILL to every process listed in `dir/cgroup.procs`.
fn kill_all(dir: &Path) {
    let Ok(procs) = std::fs::read_to_string(dir.join("cgroup.procs")) else {
        return;
    };
    for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// Removes the container's cgroup directories (they must be empty).
pub fn remove(c: &Cgroups) {
    for (_, dir) in &c.dirs {
        let _ = std::fs::remove_dir(dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
30 23 0:26 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:27 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
32 30 0:28 / /sys/fs/cgroup/memory rw,relatime shared:5 - cgroup cgroup rw,memory
33 30 0:29 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
34 30 0:30 / /sys/fs/cgroup/net_cls,net_prio rw - cgroup cgroup rw,net_cls,net_prio
35 30 0:31 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn v1_hierarchies_but_not_named_or_unified_ones() {
        let h = hierarchies(MOUNTINFO);
        let names: Vec<_> = h.iter().map(|h| h.controllers.join(",")).collect();
        assert_eq!(names, ["cpu", "memory", "net_cls,net_prio"]);
        assert_eq!(h[1].mount, Path::new("/sys/fs/cgroup/memory"));
        assert_eq!(h[2].name(), "net_cls,net_prio");
    }

    /// On plain files standing in for cpuset's: an empty child gets its parent's cpus and
    /// nodes, and the parent (never the hierarchy's root) is told to hand them down itself.
    #[test]
    fn a_new_cpuset_gets_its_parents_and_the_parent_hands_them_down_from_then_on() {
        let mount = tempfile::tempdir().unwrap();
        let parent = mount.path().join("berth");
        let leaf = parent.join("c1");
        std::fs::create_dir_all(&leaf).unwrap();
        for (dir, cpus, mems) in [
            (mount.path(), "0-3", "0"),
            (&parent, "0-1", "0"),
            (&leaf, "", ""),
        ] {
            std::fs::write(dir.join("cpuset.cpus"), cpus).unwrap();
            std::fs::write(dir.join("cpuset.mems"), mems).unwrap();
        }
        inherit_cpuset(mount.path(), &leaf).unwrap();
        let read = |p: &Path| std::fs::read_to_string(p).unwrap();
        assert_eq!(read(&leaf.join("cpuset.cpus")), "0-1");
        assert_eq!(read(&leaf.join("cpuset.mems")), "0");
        assert_eq!(read(&parent.join("cgroup.clone_children")), "1");
        assert!(!mount.path().join("cgroup.clone_children").exists());

        // A child that came with its parent's values changes nothing.
        std::fs::remove_file(parent.join("cgroup.clone_children")).unwrap();
        inherit_cpuset(mount.path(), &leaf).unwrap();
        assert!(!parent.join("cgroup.clone_children").exists());
    }

    #[test]
    fn device_rules_in_the_kernels_syntax() {
        use libcontainer::oci_spec::runtime::LinuxDeviceCgroupBuilder;
        let all = LinuxDeviceCgroupBuilder::default()
            .allow(false)
            .access("rwm")
            .build()
            .unwrap();
        assert_eq!(device_rule(&all), "a *:* rwm");
        let null = LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(LinuxDeviceType::C)
            .major(1)
            .minor(3)
            .access("rwm")
            .build()
            .unwrap();
        assert_eq!(device_rule(&null), "c 1:3 rwm");
    }
}
