//! Persisted state: one JSON file per network and per attached container, written atomically
//! (temp file → fsync → rename → fsync dir) under an exclusive `flock` on `state_dir/lock`.
//!
//! ```text
//! state_dir/
//!   lock                  flock(2) target: one mutation at a time across processes
//!   networks/<name>.json  NetworkRecord: bridge, subnet, gateway, internal, IPAM cursor
//!   containers/<id>.json  ContainerRecord: netns, hostname, endpoints (IP lease, veth, ports)
//!   netns/<id>            the container's network namespace (an nsfs bind mount)
//! ```
//!
//! The IP leases *are* the endpoints in container records: an address is taken exactly while
//! some record holds it, so there is no second file to get out of step after a crash.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::ipnet::Ipv4Net;
use crate::publish::PortMapping;
use crate::NetError;

/// A network as persisted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct NetworkRecord {
    pub name: String,
    pub id: String,
    pub bridge: String,
    pub subnet: Ipv4Net,
    pub gateway: Ipv4Addr,
    pub internal: bool,
    /// Unix seconds.
    pub created: u64,
    /// IPAM cursor: the last address handed out (allocation continues after it).
    #[serde(default)]
    pub last_ip: Option<Ipv4Addr>,
}

/// One container's presence on one network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct EndpointRecord {
    pub network: String,
    pub ifname: String,
    pub ip: Ipv4Addr,
    pub mac: String,
    pub veth_host: String,
    pub bridge: String,
    pub gateway: Ipv4Addr,
    pub prefix_len: u8,
    pub name: String,
    pub aliases: Vec<String>,
    pub ports: Vec<PortMapping>,
    /// False from the moment the record is written until every effect is in place: a crash in
    /// between leaves a record that teardown can still follow.
    pub ready: bool,
}

/// A container's network state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ContainerRecord {
    pub container_id: String,
    pub netns: PathBuf,
    pub hostname: String,
    pub endpoints: Vec<EndpointRecord>,
}

/// Holds the state lock until dropped.
#[derive(Debug)]
pub(crate) struct Locked {
    _file: File,
}

/// The state directory.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    root: PathBuf,
}

/// Names used as file names: no separators, no leading dot, nothing odd.
pub(crate) fn check_name(what: &'static str, s: &str) -> Result<(), NetError> {
    let ok = !s.is_empty()
        && s.len() <= 128
        && !s.starts_with(['.', '-'])
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(NetError::invalid(
            what,
            s,
            "use letters, digits, '_', '.', '-' (not first)",
        ))
    }
}

impl Store {
    pub fn new(root: PathBuf) -> Result<Self, NetError> {
        for sub in ["networks", "containers", "netns", "cursors"] {
            let dir = root.join(sub);
            fs::create_dir_all(&dir)
                .map_err(|e| NetError::io(format!("create {}", dir.display()), e))?;
        }
        Ok(Store { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn lock(&self) -> Result<Locked, NetError> {
        let path = self.root.join("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| NetError::io(format!("open {}", path.display()), e))?;
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| NetError::io(format!("lock {}", path.display()), e.into()))?;
        Ok(Locked { _file: file })
    }

    pub fn netns_path(&self, id: &str) -> PathBuf {
        self.root.join("netns").join(id)
    }

    fn network_path(&self, name: &str) -> PathBuf {
        self.root.join("networks").join(format!("{name}.json"))
    }

    fn container_path(&self, id: &str) -> PathBuf {
        self.root.join("containers").join(format!("{id}.json"))
    }

    fn cursor_path(&self, name: &str) -> PathBuf {
        self.root.join("cursors").join(name)
    }

    /// The IPAM cursor kept beside the definition (see [`Store::save_cursor`]).
    fn with_cursor(&self, mut n: NetworkRecord) -> NetworkRecord {
        if let Some(ip) = fs::read_to_string(self.cursor_path(&n.name))
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            n.last_ip = Some(ip);
        }
        n
    }

    pub fn networks(&self) -> Result<Vec<NetworkRecord>, NetError> {
        let mut v: Vec<NetworkRecord> = read_dir_json(&self.root.join("networks"))?;
        v.sort_by(|a, b| a.created.cmp(&b.created).then(a.name.cmp(&b.name)));
        Ok(v.into_iter().map(|n| self.with_cursor(n)).collect())
    }

    pub fn network(&self, name: &str) -> Result<Option<NetworkRecord>, NetError> {
        check_name("network name", name)?;
        Ok(read_json(&self.network_path(name))?.map(|n| self.with_cursor(n)))
    }

    /// Writes a network's definition, durably (`network create` is rare, and a definition
    /// lost to a crash is a user's network gone).
    pub fn save_network(&self, _l: &Locked, n: &NetworkRecord) -> Result<(), NetError> {
        write_json(&self.network_path(&n.name), n, Durability::Durable)
    }

    /// Records the last address handed out on network `name`, where the next allocation
    /// starts. A file of its own, not synced: every attach moves it, and one lost to a crash
    /// only makes allocation start over at the beginning of the free addresses.
    ///
    /// Overwritten in place, padded to one width, never truncated: ext4 flushes a file that
    /// was truncated and written again when it is closed (`auto_da_alloc`), ~0.25 ms here on
    /// every start.
    pub fn save_cursor(&self, _l: &Locked, name: &str, ip: Ipv4Addr) -> Result<(), NetError> {
        let path = self.cursor_path(name);
        let write = || {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)?;
            f.write_all(cursor_text(ip).as_bytes())
        };
        write().map_err(|e| NetError::io(format!("write {}", path.display()), e))
    }

    pub fn remove_network(&self, _l: &Locked, name: &str) -> Result<(), NetError> {
        remove_file(&self.cursor_path(name))?;
        remove_file(&self.network_path(name))
    }

    pub fn containers(&self) -> Result<Vec<ContainerRecord>, NetError> {
        let mut v: Vec<ContainerRecord> = read_dir_json(&self.root.join("containers"))?;
        v.sort_by(|a, b| a.container_id.cmp(&b.container_id));
        Ok(v)
    }

    pub fn container(&self, id: &str) -> Result<Option<ContainerRecord>, NetError> {
        check_name("container id", id)?;
        read_json(&self.container_path(id))
    }

    /// Writes the record, or removes its file when it has no endpoints left.
    ///
    /// Atomically (a reader sees the old record or the new one) but not synced: the record
    /// describes kernel objects (veths, the namespace mount, DNAT entries) that a reboot
    /// takes away, and `reconcile` squares records with what is there. Two to four fsyncs
    /// per start were 1–2 ms, and up to 54 ms when the journal was busy.
    pub fn save_container(&self, _l: &Locked, c: &ContainerRecord) -> Result<(), NetError> {
        let path = self.container_path(&c.container_id);
        if c.endpoints.is_empty() {
            remove_file(&path)
        } else {
            write_json(&path, c, Durability::Runtime)
        }
    }
}

/// A cursor file's text: the address, padded to the longest one's width (so that overwriting
/// a longer one leaves nothing of it), and a newline.
fn cursor_text(ip: Ipv4Addr) -> String {
    format!("{:<15}\n", ip.to_string())
}

pub(crate) fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, NetError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(NetError::io(format!("read {}", path.display()), e)),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| NetError::State {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
}

fn read_dir_json<T: DeserializeOwned>(dir: &Path) -> Result<Vec<T>, NetError> {
    let entries =
        fs::read_dir(dir).map_err(|e| NetError::io(format!("list {}", dir.display()), e))?;
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| NetError::io(format!("list {}", dir.display()), e))?;
        let path = entry.path();
        if path.extension().is_some_and(|x| x == "json") {
            if let Some(v) = read_json(&path)? {
                out.push(v);
            }
        }
    }
    Ok(out)
}

/// Atomic replace: temp file → fsync → rename → fsync of the directory.
/// How far a write goes before it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Durability {
    /// File and directory synced: on disk when this returns.
    Durable,
    /// Renamed into place only: atomic for readers, lost (old content kept) in a crash.
    Runtime,
}

pub(crate) fn write_json<T: Serialize>(
    path: &Path,
    value: &T,
    durability: Durability,
) -> Result<(), NetError> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| NetError::State {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("state"),
        std::process::id()
    ));
    let what = || format!("write {}", path.display());
    let mut f = File::create(&tmp).map_err(|e| NetError::io(what(), e))?;
    f.write_all(&bytes).map_err(|e| NetError::io(what(), e))?;
    if durability == Durability::Durable {
        f.sync_all().map_err(|e| NetError::io(what(), e))?;
    }
    drop(f);
    fs::rename(&tmp, path).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        NetError::io(what(), e)
    })?;
    if durability == Durability::Runtime {
        return Ok(());
    }
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| NetError::io(format!("sync {}", dir.display()), e))
}

/// Removes a file; a missing file is fine.
pub(crate) fn remove_file(path: &Path) -> Result<(), NetError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(NetError::io(format!("remove {}", path.display()), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shorter_cursor_overwrites_a_longer_one_whole() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().to_path_buf()).unwrap();
        let lock = store.lock().unwrap();
        let rec = NetworkRecord {
            name: "n".into(),
            id: "x".into(),
            bridge: "br-n".into(),
            subnet: "10.9.0.0/16".parse().unwrap(),
            gateway: Ipv4Addr::new(10, 9, 0, 1),
            internal: false,
            created: 0,
            last_ip: None,
        };
        store.save_network(&lock, &rec).unwrap();
        for ip in [
            Ipv4Addr::new(10, 9, 255, 254),
            Ipv4Addr::new(10, 9, 0, 2),
            Ipv4Addr::new(10, 9, 17, 3),
        ] {
            store.save_cursor(&lock, "n", ip).unwrap();
            assert_eq!(store.network("n").unwrap().unwrap().last_ip, Some(ip));
        }
        // A cursor written by an older berth (unpadded) is read as well.
        fs::write(dir.path().join("cursors/n"), "10.9.0.7").unwrap();
        assert_eq!(
            store.network("n").unwrap().unwrap().last_ip,
            Some(Ipv4Addr::new(10, 9, 0, 7))
        );
    }
}
