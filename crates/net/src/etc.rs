//! A container's `/etc/hosts` and `/etc/resolv.conf`.
//!
//! Name resolution on user-defined networks is done with `/etc/hosts`: each container's file
//! lists the names and aliases of every container sharing a user-defined network with it, and
//! the engine rewrites the files of all containers ([`Network::refresh_hosts`]) whenever
//! membership changes. The engine bind-mounts each file from the host, so rewrites go into the
//! same inode ([`write_in_place`]), never through a rename, or the container would keep
//! seeing the old file.

use std::collections::BTreeSet;
use std::fs::OpenOptions;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use crate::attach::Attachment;
use crate::state::ContainerRecord;
use crate::{NetError, Network, DEFAULT_NETWORK};

const BASE_HOSTS: &str = "127.0.0.1\tlocalhost\n\
::1\tlocalhost ip6-localhost ip6-loopback\n\
fe00::0\tip6-localnet\n\
ff00::0\tip6-mcastprefix\n\
ff02::1\tip6-allnodes\n\
ff02::2\tip6-allrouters\n";

/// Docker's `/etc/hosts`: localhost lines, the container's own address with its hostname,
/// then `peers` (one line per address, names in the order given, duplicates dropped).
pub fn hosts_file(att: &Attachment, hostname: &str, peers: &[(String, Ipv4Addr)]) -> String {
    let mut out = String::from(BASE_HOSTS);
    out.push_str(&format!("{}\t{hostname}\n", att.ip));
    let mut order: Vec<Ipv4Addr> = Vec::new();
    let mut names: Vec<Vec<&str>> = Vec::new();
    let mut seen = BTreeSet::new();
    for (name, ip) in peers {
        if name.is_empty() || *ip == att.ip || !seen.insert((name.as_str(), *ip)) {
            continue;
        }
        match order.iter().position(|x| x == ip) {
            Some(i) => names[i].push(name),
            None => {
                order.push(*ip);
                names.push(vec![name]);
            }
        }
    }
    for (ip, n) in order.iter().zip(names) {
        out.push_str(&format!("{ip}\t{}\n", n.join(" ")));
    }
    out
}

/// A container's `resolv.conf` from the host's: `dns` (if any) replaces the nameservers;
/// otherwise the host's are kept except loopback ones (unreachable from the container's
/// namespace; on systemd-resolved hosts pass `/run/systemd/resolve/resolv.conf` instead) and
/// IPv6 ones (containers are IPv4-only), falling back to Google's like Docker does.
/// `search`, `domain` and `options` lines are kept.
pub fn resolv_conf(host_resolv: &str, dns: &[IpAddr]) -> String {
    let mut servers: Vec<String> = dns.iter().map(ToString::to_string).collect();
    let mut rest = Vec::new();
    for line in host_resolv.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") if dns.is_empty() => {
                if let Some(Ok(IpAddr::V4(ip))) = words.next().map(str::parse::<IpAddr>) {
                    if !ip.is_loopback() {
                        servers.push(ip.to_string());
                    }
                }
            }
            Some("search" | "domain" | "options") => rest.push(line.trim().to_string()),
            _ => {}
        }
    }
    if servers.is_empty() {
        servers = vec!["8.8.8.8".into(), "8.8.4.4".into()];
    }
    let mut out = String::new();
    for r in rest {
        out.push_str(&r);
        out.push('\n');
    }
    for s in servers {
        out.push_str(&format!("nameserver {s}\n"));
    }
    out
}

/// Replaces the contents of `path` keeping its inode (truncate + write + fsync), so a bind
/// mount of the file shows the new contents. Creates the file if missing.
pub fn write_in_place(path: &Path, content: &str) -> Result<(), NetError> {
    let what = || format!("write {}", path.display());
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(|e| NetError::io(what(), e))?;
    f.write_all(content.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| NetError::io(what(), e))
}

impl Network {
    /// The `/etc/hosts` of a container: its hostname on its first address and, for each
    /// user-defined network it is on, the name, aliases and short ID of every other container
    /// there. A container with no attachment gets the localhost lines only.
    pub fn hosts_for(&self, container_id: &str) -> Result<String, NetError> {
        let all = self.store().containers()?;
        Ok(Self::hosts_among(&all, container_id))
    }

    /// [`Network::hosts_for`] with every container record already read.
    fn hosts_among(all: &[ContainerRecord], container_id: &str) -> String {
        let Some(me) = all.iter().find(|c| c.container_id == container_id) else {
            return BASE_HOSTS.to_string();
        };
        let Some(first) = me.endpoints.first() else {
            return BASE_HOSTS.to_string();
        };
        let own = Attachment::new(me, first);
        let mut peers = Vec::new();
        for ep in me.endpoints.iter().filter(|e| e.network != DEFAULT_NETWORK) {
            for other in all.iter().filter(|c| c.container_id != container_id) {
                for oe in other.endpoints.iter().filter(|e| e.network == ep.network) {
                    let short: String = other.container_id.chars().take(12).collect();
                    let names = std::iter::once(oe.name.clone())
                        .chain(oe.aliases.iter().cloned())
                        .chain(std::iter::once(short));
                    peers.extend(names.map(|n| (n, oe.ip)));
                }
            }
        }
        hosts_file(&own, &me.hostname, &peers)
    }

    /// Calls `write(container_id, hosts)` for every container whose hosts file lists the
    /// members of `networks`: those attached to one of them, when it is a user-defined
    /// network (the default network has no name resolution, as in Docker, so nobody's file
    /// changes when a container comes or goes there). The engine writes the text into that
    /// container's hosts file with [`write_in_place`]. Call it after each attach, connect,
    /// disconnect and detach, with the networks the container joined or left.
    ///
    /// The records are read once: a start among a hundred running containers on the default
    /// network rewrites no file, where rewriting every container's (reading every record for
    /// each) made 100 parallel starts quadratic.
    pub fn refresh_hosts(
        &self,
        networks: &[String],
        write: &dyn Fn(&str, &str),
    ) -> Result<(), NetError> {
        let named: Vec<&String> = networks
            .iter()
            .filter(|n| n.as_str() != DEFAULT_NETWORK)
            .collect();
        if named.is_empty() {
            return Ok(());
        }
        let all = self.store().containers()?;
        for c in &all {
            if c.endpoints.iter().any(|e| named.contains(&&e.network)) {
                write(&c.container_id, &Self::hosts_among(&all, &c.container_id));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn att(ip: [u8; 4]) -> Attachment {
        Attachment {
            container_id: "c".repeat(64),
            network: "front".into(),
            ifname: "eth0".into(),
            ip: Ipv4Addr::from(ip),
            gateway: Ipv4Addr::new(10, 1, 0, 1),
            prefix_len: 24,
            mac: "02:42:0a:01:00:02".into(),
            veth_host: "vb00000000".into(),
            bridge: "b".into(),
            ports: vec![],
            name: "web".into(),
            aliases: vec![],
            hostname: "cccccccccccc".into(),
            netns: PathBuf::from("/x"),
        }
    }

    #[test]
    fn hosts_lists_self_then_peers_grouped() {
        let a = att([10, 1, 0, 2]);
        let db = Ipv4Addr::new(10, 1, 0, 3);
        let peers = vec![
            ("db".to_string(), db),
            ("postgres".to_string(), db),
            ("db".to_string(), db),
            ("cache".to_string(), Ipv4Addr::new(10, 1, 0, 4)),
            (String::new(), Ipv4Addr::new(10, 1, 0, 5)),
        ];
        let h = hosts_file(&a, "cccccccccccc", &peers);
        assert!(h.starts_with("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost"));
        assert!(h.ends_with("10.1.0.2\tcccccccccccc\n10.1.0.3\tdb postgres\n10.1.0.4\tcache\n"));
    }

    #[test]
    fn resolv_conf_rules() {
        let host = "# comment\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nnameserver fd00::1\nsearch corp.example\noptions edns0 trust-ad\n";
        assert_eq!(
            resolv_conf(host, &[]),
            "search corp.example\noptions edns0 trust-ad\nnameserver 10.0.0.2\n"
        );
        assert_eq!(
            resolv_conf("nameserver 127.0.0.53\n", &[]),
            "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
        let dns = ["1.1.1.1".parse().unwrap()];
        assert_eq!(
            resolv_conf(host, &dns),
            "search corp.example\noptions edns0 trust-ad\nnameserver 1.1.1.1\n"
        );
    }

    #[test]
    fn write_in_place_keeps_inode() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("hosts");
        write_in_place(&p, "a long first version\n").unwrap();
        let ino = std::fs::metadata(&p).unwrap().ino();
        write_in_place(&p, "short\n").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "short\n");
        assert_eq!(std::fs::metadata(&p).unwrap().ino(), ino);
    }
}
