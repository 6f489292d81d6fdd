//! Helpers for berth-net's privileged tests: a per-test bridge, subnet, nft table and state
//! directory, torn down by a Drop guard even when the test fails; servers in namespaces; HTTP
//! clients that run inside a namespace.
#![allow(dead_code, clippy::unwrap_used)]

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use berth_net::{diagnose, NetConfig, Network};
use nix::sched::CloneFlags;

/// True when the test can run; prints a loud SKIPPED line otherwise.
pub fn privileged(test: &str) -> bool {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED (needs root): {test}");
        return false;
    }
    for tool in ["ip", "nft", "nsenter", "busybox"] {
        if Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_err()
        {
            eprintln!("SKIPPED (needs {tool}; run scripts/setup.sh): {test}");
            return false;
        }
    }
    true
}

pub fn hex(n: usize) -> String {
    format!("{:016x}", rand::random::<u64>())[..n].to_string()
}

/// Runs a command, panicking with its stderr on failure; returns stdout.
pub fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command, ignoring the outcome.
pub fn try_sh(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// One test's networking world.
pub struct Fx {
    pub net: Network,
    pub cfg: NetConfig,
    pub state: tempfile::TempDir,
    /// Further bridges to delete on drop (user-defined networks).
    pub bridges: Vec<String>,
    pub children: Vec<Child>,
}

/// A fixture on subnet 10.201.`n`.0/24 with bridge `bt`+hex and table `bt_`+hex.
pub fn fixture(n: u8) -> Fx {
    let state = tempfile::Builder::new()
        .prefix("berth-net-test")
        .tempdir()
        .unwrap();
    let mut cfg = NetConfig::new(state.path().join("net"));
    cfg.bridge = format!("bt{}", hex(6));
    cfg.subnet = format!("10.201.{n}.0/24").parse().unwrap();
    cfg.table = format!("bt_{}", hex(8));
    let net = Network::open(cfg.clone()).unwrap();
    Fx {
        net,
        cfg,
        state,
        bridges: Vec::new(),
        children: Vec::new(),
    }
}

impl Fx {
    pub fn netns_dir(&self) -> PathBuf {
        self.cfg.state_dir.join("netns")
    }

    /// Serves `body` with busybox httpd on `addr:port` inside `netns` and waits until it
    /// listens. The server dies with the fixture.
    pub fn serve(&mut self, netns: &Path, addr: &str, port: u16, body: &str) {
        let dir = self.state.path().join(format!("www-{}", hex(6)));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("index.html"), body).unwrap();
        let child = Command::new("nsenter")
            .arg(format!("--net={}", netns.display()))
            .args([
                "busybox",
                "httpd",
                "-f",
                "-p",
                &format!("{addr}:{port}"),
                "-h",
            ])
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.children.push(child);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            let ls = diagnose::listeners_in_netns(netns).unwrap();
            if ls.iter().any(|l| l.port == port) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "httpd on {addr}:{port} in {} did not start",
            netns.display()
        );
    }

    /// The pid of the last server started (for `diagnose::listeners(pid)`).
    pub fn last_pid(&self) -> i32 {
        self.children.last().unwrap().id() as i32
    }
}

impl Drop for Fx {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Err(errs) = self.net.destroy() {
            for e in errs {
                eprintln!("fixture teardown: {e}");
            }
        }
        // Belt and braces, in case the code under test is what failed.
        try_sh(&["ip", "link", "del", &self.cfg.bridge]);
        for b in &self.bridges {
            try_sh(&["ip", "link", "del", b]);
        }
        try_sh(&["nft", "delete", "table", "ip", &self.cfg.table]);
        if let Ok(entries) = std::fs::read_dir(self.netns_dir()) {
            for e in entries.flatten() {
                let _ = rustix::mount::unmount(e.path(), rustix::mount::UnmountFlags::DETACH);
            }
        }
    }
}

/// Runs `f` on a thread inside the network namespace at `netns`.
pub fn in_netns<T: Send>(netns: &Path, f: impl FnOnce() -> T + Send) -> T {
    let file = File::open(netns).unwrap();
    std::thread::scope(|s| {
        s.spawn(move || {
            nix::sched::setns(&file, CloneFlags::CLONE_NEWNET).unwrap();
            f()
        })
        .join()
        .unwrap()
    })
}

/// `GET /` over HTTP/1.0; the body, or the error as text.
pub fn http_get(addr: SocketAddr) -> Result<String, String> {
    let mut s =
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s.write_all(b"GET /index.html HTTP/1.0\r\nHost: x\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out).map_err(|e| e.to_string())?;
    Ok(out.split("\r\n\r\n").nth(1).unwrap_or_default().to_string())
}

/// `http_get` from inside a namespace.
pub fn http_get_in(netns: &Path, addr: SocketAddr) -> Result<String, String> {
    in_netns(netns, || http_get(addr))
}

pub fn sa(ip: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::from((ip, port))
}

/// The host's address on the interface carrying the default route (or any global address
/// not on a test bridge).
pub fn host_address() -> Option<Ipv4Addr> {
    let dev = sh(&["ip", "-4", "-o", "route", "show", "default"])
        .split_whitespace()
        .skip_while(|w| *w != "dev")
        .nth(1)
        .map(str::to_string);
    let out = sh(&["ip", "-4", "-o", "addr", "show", "scope", "global"]);
    out.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let ip = f.get(3)?.split('/').next()?.parse::<Ipv4Addr>().ok()?;
            Some((f.get(1)?.to_string(), ip))
        })
        .filter(|(d, _)| !d.starts_with("bt") && !d.starts_with("br-"))
        .find(|(d, _)| dev.as_deref().is_none_or(|x| x == d))
        .map(|(_, ip)| ip)
}

/// Names of every link in the current namespace.
pub fn links() -> Vec<String> {
    sh(&["ip", "-o", "link", "show"])
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .collect()
}

/// The elements of map `map` in table `table` (JSON values, empty when none).
pub fn map_elements(table: &str, map: &str) -> Vec<serde_json::Value> {
    let out = sh(&["nft", "-j", "list", "map", "ip", table, map]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|i| i.get("map"))
        .and_then(|m| m.get("elem"))
        .and_then(|e| e.as_array().cloned())
        .unwrap_or_default()
}

/// Number of rules in the nft table.
pub fn rule_count(table: &str) -> usize {
    let out = sh(&["nft", "-j", "list", "table", "ip", table]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i.get("rule").is_some())
        .count()
}

/// Files in a directory (names), empty if it does not exist.
pub fn files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Mount points under `dir` according to our mountinfo.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let prefix = dir.to_string_lossy().into_owned();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(&prefix))
        .map(str::to_string)
        .collect()
}
