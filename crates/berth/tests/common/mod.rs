//! Helpers for driving the built `berth` binary against a throwaway root.
#![allow(dead_code, clippy::unwrap_used)]

pub mod served;
pub mod slow_link;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The test rootfs tarballs of `scripts/make-test-images.sh`, built once per machine (the
/// script is idempotent; flock keeps parallel test processes from racing it).
pub fn test_images() -> PathBuf {
    let out = workspace().join("target/test-images");
    let status = Command::new("flock")
        .arg(workspace().join("target/test-images.lock"))
        .arg(workspace().join("scripts/make-test-images.sh"))
        .arg(&out)
        .stdout(Stdio::null())
        .status()
        .expect("run scripts/make-test-images.sh");
    assert!(status.success(), "scripts/make-test-images.sh failed");
    out
}

/// A berth with its own root, removed when dropped.
pub struct Berth {
    pub root: tempfile::TempDir,
    /// Leave the network names to berth (a root of its own, as a second install would be)
    /// instead of giving it the test's bridge, subnets and table through the environment.
    pub own_net_names: bool,
    /// This berth's network slot, held while it lives: see [`claim_net_slot`].
    net_slot: (u32, std::fs::File),
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(o: Output) -> Self {
        Self {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }
}

impl Default for Berth {
    fn default() -> Self {
        Self::new()
    }
}

impl Berth {
    pub fn new() -> Self {
        Self {
            root: tempfile::Builder::new()
                .prefix("berth-test-")
                .tempdir()
                .unwrap(),
            own_net_names: false,
            net_slot: claim_net_slot(),
        }
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// This berth's runtime state (`BERTH_RUNROOT`): inside its root, so tests never share it.
    pub fn run_root(&self) -> PathBuf {
        self.root.path().join("run")
    }

    /// Where this berth keeps network namespaces for its next starts.
    pub fn netns_pool(&self) -> PathBuf {
        berth_engine::container::netns_pool(&self.run_root())
            .dir()
            .to_path_buf()
    }

    /// The network namespaces waiting in the pool (mount points).
    pub fn pooled_netns(&self) -> Vec<String> {
        mounts_under(&self.netns_pool())
    }

    /// The processes running berth for this root (its CLIs and monitors: a monitor is a fork
    /// of its CLI and has its environment), this test's own excepted.
    pub fn processes(&self) -> Vec<i32> {
        let want = format!("BERTH_ROOT={}", self.root().display());
        let me = std::process::id() as i32;
        let Ok(rd) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        rd.flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|&pid| pid != me)
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/environ"))
                    .is_ok_and(|env| env.split(|&b| b == 0).any(|v| v == want.as_bytes()))
            })
            .collect()
    }

    pub fn command(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_berth"));
        c.env("BERTH_ROOT", self.root.path());
        c.env("BERTH_RUNROOT", self.run_root());
        // Each test has its own bridge, subnets and nft table, so tests run side by side.
        let (bridge, table, subnet, pool) = self.net_names();
        if self.own_net_names {
            for var in [
                "BERTH_BRIDGE",
                "BERTH_NFT_TABLE",
                "BERTH_SUBNET",
                "BERTH_NET_POOL",
            ] {
                c.env_remove(var);
            }
        } else {
            c.env("BERTH_BRIDGE", bridge)
                .env("BERTH_NFT_TABLE", table)
                .env("BERTH_SUBNET", subnet)
                .env("BERTH_NET_POOL", pool);
        }
        c.stdin(Stdio::null());
        c
    }

    /// Bridge, nft table, subnet and user-network pool of this berth: the names derived from
    /// its root (unique per test), the subnets from its network slot, in 10.160.0.0 -
    /// 10.199.255.255, clear of the defaults (10.213, 10.214).
    pub fn net_names(&self) -> (String, String, String, String) {
        let h = berth_hash(self.root.path().to_string_lossy().as_bytes());
        let n = self.net_slot.0;
        let (a, b) = (160 + n / 128, (n % 128) * 2);
        (
            format!("bt{:08x}", h as u32),
            format!("bt{:08x}", h as u32),
            format!("10.{a}.{b}.0/24"),
            format!("10.{a}.{}.0/24", b + 1),
        )
    }

    /// Runs berth with `args`, whatever its exit code.
    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.command().args(args).output().unwrap())
    }

    /// Runs berth with `input` on stdin.
    pub fn run_stdin(&self, args: &[&str], input: &[u8]) -> Run {
        run_input(self.command().args(args), input)
    }

    /// Runs berth and asserts it succeeded; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert_eq!(
            r.code, 0,
            "berth {args:?} failed ({}):\n{}{}",
            r.code, r.stdout, r.stderr
        );
        r.stdout
    }

    /// Imports the busybox test image as `name`.
    pub fn busybox(&self, name: &str) -> String {
        let tar = test_images().join("busybox-rootfs.tar");
        self.ok(&[
            "import",
            "--change",
            r#"CMD ["sh"]"#,
            tar.to_str().unwrap(),
            name,
        ])
        .trim()
        .to_string()
    }

    /// Imports the hello-world test image as `name`.
    pub fn hello(&self, name: &str) -> String {
        let tar = test_images().join("hello-rootfs.tar");
        self.ok(&[
            "import",
            "--change",
            r#"CMD ["/hello"]"#,
            tar.to_str().unwrap(),
            name,
        ])
        .trim()
        .to_string()
    }

    /// Every file under the root (relative paths), for "nothing changed" assertions.
    pub fn snapshot(&self) -> Vec<String> {
        let mut out = Vec::new();
        walk(self.root(), self.root(), &mut out);
        out.retain(|p| !p.starts_with("meta.db") && p != "lock");
        out.sort();
        out
    }
}

fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        out.push(p.strip_prefix(base).unwrap().display().to_string());
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            walk(base, &p, out);
        }
    }
}

/// A small rootfs tarball made in memory: `files` are (path, content).
pub fn tarball(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, path, *data).unwrap();
    }
    b.into_inner().unwrap()
}

fn berth_hash(bytes: &[u8]) -> u64 {
    // FNV-1a: stable and dependency-free.
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Network slots: each gives a berth two /24 subnets of its own.
const NET_SLOTS: u32 = 40 * 128;

/// Claims a network slot no other test process holds now, by an exclusive lock on its file in
/// the shared temp directory; the lock goes with the file when the berth is dropped, or with
/// the process however it ends. Subnets drawn from a hash of the root collided: two tests that
/// ran at once got the same one, and the second bridge was refused as overlapping the first.
fn claim_net_slot() -> (u32, std::fs::File) {
    use rustix::fs::{flock, FlockOperation};
    let dir = std::env::temp_dir().join("berth-test-net-slots");
    std::fs::create_dir_all(&dir).unwrap();
    // Start at a different slot in each process, so that claims rarely probe the same files.
    let start = std::process::id() % NET_SLOTS;
    for i in 0..NET_SLOTS {
        let slot = (start + i) % NET_SLOTS;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(slot.to_string()))
            .unwrap();
        if flock(&file, FlockOperation::NonBlockingLockExclusive).is_ok() {
            return (slot, file);
        }
    }
    panic!(
        "all {NET_SLOTS} test network slots under {} are held",
        dir.display()
    );
}

impl Drop for Berth {
    fn drop(&mut self) {
        // Containers are the Sandbox's to remove; the test's own bridge and table go here.
        let (bridge, table, _, _) = self.net_names();
        let mut names = vec![(bridge, table)];
        // What berth chose and recorded for itself (`own_net_names`).
        if let Ok(text) = std::fs::read_to_string(self.root.path().join("net/config.json")) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
                if let (Some(b), Some(t)) = (v["bridge"].as_str(), v["table"].as_str()) {
                    names.push((b.to_string(), t.to_string()));
                }
            }
        }
        for (bridge, table) in names {
            let _ = Command::new("ip").args(["link", "del", &bridge]).output();
            let _ = Command::new("nft")
                .args(["delete", "table", "ip", &table])
                .output();
        }
        if let Ok(rd) = std::fs::read_dir(self.root.path().join("net/netns")) {
            for e in rd.flatten() {
                let _ = rustix::mount::unmount(e.path(), rustix::mount::UnmountFlags::DETACH);
            }
        }
        // (It waits for a monitor still filling the pool; none fills it after this.)
        if let Err(e) = berth_engine::container::netns_pool(&self.run_root()).drain() {
            eprintln!("cannot empty the network namespace pool: {e}");
        }
    }
}

pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

// ---------------------------------------------------------------------------------------------
// Containers: a berth whose containers, mounts, monitors and cgroups are checked and removed
// when the test ends, even when it fails.

/// How long one berth command may take before the test calls it hung.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// A [`Berth`] for container tests. Dropping it runs `rm -f` on every container of its root,
/// then checks that nothing is left behind: no mount under the root, no monitor process, no
/// cgroup. Leftovers are removed by force and fail the test (unless it is already failing).
pub struct Sandbox {
    pub berth: Berth,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("root", &self.root())
            .finish()
    }
}

impl std::ops::Deref for Sandbox {
    type Target = Berth;
    fn deref(&self) -> &Berth {
        &self.berth
    }
}

/// The name of the running test (libtest names the test's thread after it).
pub fn test_name() -> String {
    std::thread::current()
        .name()
        .unwrap_or("this test")
        .to_string()
}

impl Sandbox {
    /// A fresh sandbox, or `None` (after a loud SKIPPED line) when we are not root:
    /// containers need root.
    pub fn new() -> Option<Self> {
        if !is_root() {
            eprintln!("SKIPPED (needs root): {}", test_name());
            println!("SKIPPED (needs root): {}", test_name());
            return None;
        }
        Some(Self {
            berth: Berth::new(),
        })
    }

    /// A sandbox around `berth` (see [`Sandbox::new`]).
    pub fn from(berth: Berth) -> Option<Self> {
        if !is_root() {
            eprintln!("SKIPPED (needs root): {}", test_name());
            println!("SKIPPED (needs root): {}", test_name());
            return None;
        }
        Some(Self { berth })
    }

    /// A sandbox with the busybox test image imported as `busybox:latest`.
    pub fn with_busybox() -> Option<Self> {
        let s = Self::new()?;
        s.busybox("busybox:latest");
        Some(s)
    }

    /// Runs berth with `args`, whatever its exit code; panics if it hangs.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_timeout(args, COMMAND_TIMEOUT)
            .unwrap_or_else(|| panic!("berth {args:?} did not finish in {COMMAND_TIMEOUT:?}"))
    }

    /// Runs berth with `args`; `None` (the process killed) when it takes longer than `limit`.
    pub fn run_timeout(&self, args: &[&str], limit: Duration) -> Option<Run> {
        run_with_timeout(self.command().args(args), limit)
    }

    /// Runs berth and asserts it succeeded; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert_eq!(
            r.code, 0,
            "berth {args:?} failed ({}):\n{}{}",
            r.code, r.stdout, r.stderr
        );
        r.stdout
    }

    /// `berth inspect --format FORMAT NAME`, trimmed.
    pub fn inspect(&self, name: &str, format: &str) -> String {
        self.ok(&["inspect", "--format", format, name])
            .trim()
            .to_string()
    }

    /// `berth inspect NAME` as JSON (the one object of the array).
    pub fn inspect_json(&self, name: &str) -> serde_json::Value {
        let out = self.ok(&["inspect", name]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v[0].clone()
    }

    /// The full IDs of every container this berth knows (from `ps -aq --no-trunc` and from the
    /// container directories, in case the metadata disagrees).
    pub fn all_container_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .run_timeout(&["ps", "-aq", "--no-trunc"], COMMAND_TIMEOUT)
            .map(|r| r.stdout.lines().map(str::to_string).collect())
            .unwrap_or_default();
        if let Ok(rd) = std::fs::read_dir(self.root().join("containers")) {
            for e in rd.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                if n.len() == 64 && is_hex(&n) && !ids.contains(&n) {
                    ids.push(n);
                }
            }
        }
        ids
    }

    /// Mount points under this berth's root (not a file system a test put at the root itself,
    /// as the full-disk test's tmpfs, nor the network namespaces made ahead of time: see
    /// [`Berth::pooled_netns`]).
    pub fn mounts(&self) -> Vec<String> {
        let root = self.root().to_string_lossy().into_owned();
        let pool = format!("{}/", self.netns_pool().display());
        mounts_under(self.root())
            .into_iter()
            .filter(|m| *m != root && !m.starts_with(&pool))
            .collect()
    }

    /// What container `id` left behind: mounts of its directory, its monitor, its cgroups.
    pub fn leftovers_of(&self, id: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .mounts()
            .into_iter()
            .filter(|m| m.contains(id))
            .map(|m| format!("mount {m}"))
            .collect();
        out.extend(
            self.monitor_pids(id)
                .into_iter()
                .map(|p| format!("monitor pid {p}")),
        );
        out.extend(
            cgroup_dirs(id)
                .into_iter()
                .map(|d| format!("cgroup {}", d.display())),
        );
        out
    }

    fn leftovers(&self, ids: &[String]) -> Vec<String> {
        let mut out: Vec<String> = self
            .mounts()
            .into_iter()
            .map(|m| format!("mount {m}"))
            .collect();
        for id in ids {
            out.extend(
                self.monitor_pids(id)
                    .into_iter()
                    .map(|p| format!("monitor pid {p}")),
            );
            out.extend(
                cgroup_dirs(id)
                    .into_iter()
                    .map(|d| format!("cgroup {}", d.display())),
            );
        }
        out
    }

    /// Last resort when `rm -f` left something: kill, unmount, remove by hand.
    fn force_cleanup(&self, ids: &[String]) {
        for id in ids {
            for p in self.monitor_pids(id) {
                kill9(p);
            }
            for d in cgroup_dirs(id) {
                if let Ok(procs) = std::fs::read_to_string(d.join("cgroup.procs")) {
                    for p in procs.lines().filter_map(|l| l.trim().parse().ok()) {
                        kill9(p);
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
        for id in ids {
            for d in cgroup_dirs(id) {
                let _ = std::fs::remove_dir(d);
            }
        }
        let mut mounts = self.mounts();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mounts {
            let _ = rustix::mount::unmount(m.as_str(), rustix::mount::UnmountFlags::DETACH);
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let mut problems = Vec::new();
        let ids = self.all_container_ids();
        // Pods first: their infra containers are removed with the pod, not by `rm`.
        let pods = self
            .run_timeout(&["pod", "ls", "-q", "--no-trunc"], COMMAND_TIMEOUT)
            .map(|r| r.stdout)
            .unwrap_or_default();
        for pod in pods.split_whitespace() {
            match self.run_timeout(&["pod", "rm", "-f", pod], COMMAND_TIMEOUT) {
                Some(r) if r.code == 0 => {}
                Some(r) => problems.push(format!(
                    "berth pod rm -f {pod} failed ({}): {}{}",
                    r.code, r.stdout, r.stderr
                )),
                None => problems.push(format!("berth pod rm -f {pod} hung")),
            }
        }
        let ids_left = self.all_container_ids();
        if !ids_left.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids_left.iter().map(String::as_str));
            match self.run_timeout(&args, COMMAND_TIMEOUT) {
                Some(r) if r.code == 0 => {}
                Some(r) => problems.push(format!(
                    "berth rm -f (all) failed ({}): {}{}",
                    r.code, r.stdout, r.stderr
                )),
                None => problems.push("berth rm -f (all) hung".to_string()),
            }
        }
        // Mounts must be gone when rm returns; give the cgroups and the monitors' last
        // steps a moment.
        let mounts = self.mounts();
        if !mounts.is_empty() {
            problems.push(format!(
                "mounts left under the root after rm -f: {mounts:?}"
            ));
        }
        let t = Instant::now();
        let mut left = self.leftovers(&ids);
        while !left.is_empty() && t.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
            left = self.leftovers(&ids);
        }
        if !left.is_empty() {
            problems.push(format!("left behind 5 s after rm -f: {left:?}"));
            self.force_cleanup(&ids);
        }
        if problems.is_empty() {
            return;
        }
        let msg = format!(
            "cleanup of {}:\n  {}",
            self.root().display(),
            problems.join("\n  ")
        );
        if std::thread::panicking() {
            eprintln!("{msg}");
        } else {
            panic!("{msg}");
        }
    }
}

/// Runs `cmd` with piped output; `None` (after killing it) when it outlives `limit`.
/// Runs `cmd` with `input` on its stdin (written from a thread, so a command that answers before
/// reading all of it cannot block the test), whatever its exit code.
pub fn run_input(cmd: &mut Command, input: &[u8]) -> Run {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    Run::from(out)
}

pub fn run_with_timeout(cmd: &mut Command, limit: Duration) -> Option<Run> {
    use std::io::Read;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let tx2 = tx.clone();
    std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out.read_to_end(&mut b);
        let _ = tx.send((1, b));
    });
    std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err.read_to_end(&mut b);
        let _ = tx2.send((2, b));
    });
    let t = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    for _ in 0..2 {
        // A grandchild that kept our pipes open must not hang the test.
        match rx.recv_timeout(Duration::from_secs(5)) {
            Ok((1, b)) => stdout = b,
            Ok((_, b)) => stderr = b,
            Err(_) => break,
        }
    }
    let status = status?;
    Some(Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    })
}

pub fn is_hex(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Polls `cond` every 10 ms for up to `limit`; whether it became true.
pub fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let t = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if t.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Mount points (from /proc/self/mountinfo) at or under `dir`.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let dir = dir.to_string_lossy().into_owned();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| *m == dir || m.starts_with(&format!("{dir}/")))
        .map(str::to_string)
        .collect()
}

impl Berth {
    /// The pid of container `id`'s live monitor, if it has one: the holder of the POSIX lock
    /// on `RUNROOT/monitors/ID`, as the kernel lists it in `/proc/locks` (a monitor forked by
    /// the CLI has the CLI's command line, so it is not found by that).
    pub fn monitor_pids(&self, id: &str) -> Vec<i32> {
        use std::os::unix::fs::MetadataExt;
        let Ok(meta) = std::fs::metadata(self.run_root().join("monitors").join(id)) else {
            return Vec::new();
        };
        let dev = meta.dev();
        let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
        let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
        let file = format!("{major:02x}:{minor:02x}:{}", meta.ino());
        let locks = std::fs::read_to_string("/proc/locks").unwrap_or_default();
        locks
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                // "1: POSIX  ADVISORY  WRITE 1234 fd:01:5678 0 EOF"
                (f.get(1) == Some(&"POSIX") && f.get(5) == Some(&file.as_str()))
                    .then(|| f.get(4)?.parse().ok())
                    .flatten()
            })
            .filter(|pid| process_alive(*pid))
            .collect()
    }
}

/// The cgroup directories of container `id` (`/sys/fs/cgroup/*/berth/ID`) that still exist.
pub fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut bases = vec![PathBuf::from("/sys/fs/cgroup")];
    if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
        bases.extend(rd.flatten().map(|e| e.path()));
    }
    for b in bases {
        let d = b.join("berth").join(id);
        if d.is_dir() {
            out.push(d);
        }
    }
    out
}

/// Whether `pid` is a live process (not a zombie).
pub fn process_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s
            .rsplit_once(')')
            .map(|(_, rest)| !rest.trim_start().starts_with('Z'))
            .unwrap_or(false),
        Err(_) => false,
    }
}

/// The parent pid of `pid`.
pub fn parent_pid(pid: i32) -> Option<i32> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = s.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// SIGKILL to `pid`.
pub fn kill9(pid: i32) {
    if let Some(p) = rustix::process::Pid::from_raw(pid) {
        let _ = rustix::process::kill_process(p, rustix::process::Signal::Kill);
    }
}

/// A field of /proc/PID/status text such as "CapEff".
pub fn status_field<'a>(status: &'a str, key: &str) -> Option<&'a str> {
    status.lines().find_map(|l| {
        l.strip_prefix(key)
            .and_then(|r| r.strip_prefix(':'))
            .map(str::trim)
    })
}

/// The python base image archive of scripts/make-base-images.sh (made once per machine).
pub fn base_images() -> PathBuf {
    let out = workspace().join("target/base-images");
    let archive = out.join("python-3.11-slim.tar");
    if !archive.exists() {
        let scratch = Berth::new();
        let status = Command::new("flock")
            .arg(workspace().join("target/base-images.lock"))
            .arg(workspace().join("scripts/make-base-images.sh"))
            .arg(&out)
            .env("BERTH", env!("CARGO_BIN_EXE_berth"))
            .env("BERTH_ROOT", scratch.root())
            .env("BERTH_RUNROOT", scratch.root().join("run"))
            .env("BERTH_BRIDGE", scratch.net_names().0)
            .env("BERTH_NFT_TABLE", scratch.net_names().1)
            .env("BERTH_SUBNET", scratch.net_names().2)
            .env("BERTH_NET_POOL", scratch.net_names().3)
            .status()
            .unwrap();
        assert!(status.success(), "scripts/make-base-images.sh failed");
    }
    archive
}

/// `berth ARGS` with its stdout on a 200-column pseudo-terminal (docker draws bars only on
/// terminals wider than 110 columns); `None` when util-linux's `script` is missing.
pub fn under_terminal(b: &Berth, args: &[&str]) -> Option<Run> {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("SKIPPED (needs util-linux's script): {}", test_name());
        return None;
    }
    let berth = b.command();
    let line = format!(
        "stty cols 200 rows 50 && exec {} {}",
        env!("CARGO_BIN_EXE_berth"),
        args.join(" ")
    );
    let mut script = Command::new("script");
    script.args(["-qfec", &line, "/dev/null"]);
    for (k, v) in berth.get_envs() {
        if let Some(v) = v {
            script.env(k, v);
        }
    }
    run_with_timeout(script.stdin(Stdio::null()), Duration::from_secs(120))
}

/// The rows a terminal shows after `text`, for the output the live view writes: text, `\r`,
/// `\n`, cursor up (`ESC [ n A`) and clear line (`ESC [ 2 K`). Any other escape fails the test.
pub fn screen(text: &str) -> Vec<String> {
    let mut rows: Vec<Vec<char>> = vec![Vec::new()];
    let (mut row, mut col) = (0usize, 0usize);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => {
                assert_eq!(chars.next(), Some('['), "escape in {text:?}");
                let mut arg = String::new();
                let cmd = loop {
                    match chars.next().unwrap() {
                        d if d.is_ascii_digit() => arg.push(d),
                        other => break other,
                    }
                };
                match cmd {
                    'A' => row -= arg.parse::<usize>().unwrap_or(1),
                    'K' if arg == "2" => rows[row].clear(),
                    other => panic!("unexpected escape {arg}{other} in {text:?}"),
                }
            }
            '\r' => col = 0,
            '\n' => {
                row += 1;
                if row == rows.len() {
                    rows.push(Vec::new());
                }
            }
            c => {
                let r = &mut rows[row];
                if r.len() <= col {
                    r.resize(col + 1, ' ');
                }
                r[col] = c;
                col += 1;
            }
        }
    }
    rows.into_iter().map(|r| r.into_iter().collect()).collect()
}

/// A `berth registry serve` on 127.0.0.1 for one test (anyone may push), stopped when dropped.
pub struct Registry {
    child: std::process::Child,
    pub port: u16,
    root: tempfile::TempDir,
}

impl Registry {
    /// The server's storage (`access.json` goes here).
    pub fn root(&self) -> &Path {
        self.root.path()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start_registry() -> Registry {
    start_registry_with(None)
}

/// [`start_registry`] behind a [`slow_link`](slow_link::slow_link): its answers reach clients at
/// `bytes_per_sec`, so a pull of a few megabytes lasts long enough to be caught part-way.
pub fn start_slow_registry(bytes_per_sec: u64) -> Registry {
    let mut registry = start_registry();
    registry.port = slow_link::slow_link(registry.port, bytes_per_sec);
    registry
}

/// [`start_registry`], with users from an htpasswd file (then pushes need a login).
pub fn start_registry_with(htpasswd: Option<&Path>) -> Registry {
    let root = tempfile::Builder::new()
        .prefix("berth-registry-")
        .tempdir()
        .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
    cmd.args(["registry", "serve", "--root"])
        .arg(root.path())
        .args(["--listen", &format!("127.0.0.1:{port}")]);
    if let Some(h) = htpasswd {
        cmd.arg("--htpasswd").arg(h);
    }
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_for(Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    }));
    Registry { child, port, root }
}

/// A free TCP port on 127.0.0.1 (bound and released), for a published port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An HTTP GET with a short timeout, through curl (what a user would type); the body when it
/// answered with success.
pub fn http_get(url: &str) -> Option<String> {
    let out = std::process::Command::new("curl")
        .args(["-s", "-m", "3", url])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}
