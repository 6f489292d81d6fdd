//! Port diagnosis: what listens inside a container, and a hint when a published port has no
//! listener (the tutorial's trap: `-p 3000:8051` while Streamlit listens on 8501) or one that
//! only listens on loopback.
//!
//! Listeners come from the container's `/proc/net/{tcp,tcp6,udp,udp6}`: TCP sockets in state
//! LISTEN and unconnected bound UDP sockets.

use std::collections::BTreeSet;
use std::fmt::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use crate::publish::{PortMapping, Proto};
use crate::sys::in_netns;
use crate::NetError;

/// A listening socket inside a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Listener {
    pub port: u16,
    pub proto: Proto,
    pub addr: IpAddr,
}

impl Listener {
    /// Reachable from outside the namespace (not bound to a loopback address only).
    pub fn reachable(&self) -> bool {
        match self.addr {
            IpAddr::V4(a) => !a.is_loopback(),
            IpAddr::V6(a) => {
                !a.is_loopback() && !a.to_ipv4_mapped().is_some_and(|v| v.is_loopback())
            }
        }
    }
}

fn hex_words(s: &str) -> Option<Vec<[u8; 4]>> {
    if !s.len().is_multiple_of(8) {
        return None;
    }
    (0..s.len() / 8)
        .map(|i| {
            u32::from_str_radix(s.get(i * 8..i * 8 + 8)?, 16)
                .ok()
                .map(u32::to_ne_bytes)
        })
        .collect()
}

fn parse_addr(s: &str) -> Option<(IpAddr, u16)> {
    let (a, p) = s.split_once(':')?;
    let port = u16::from_str_radix(p, 16).ok()?;
    let words = hex_words(a)?;
    let ip = match words.len() {
        1 => IpAddr::V4(Ipv4Addr::from(words[0])),
        4 => {
            let mut b = [0u8; 16];
            for (i, w) in words.iter().enumerate() {
                b[i * 4..i * 4 + 4].copy_from_slice(w);
            }
            IpAddr::V6(Ipv6Addr::from(b))
        }
        _ => return None,
    };
    Some((ip, port))
}

/// Parses the text of `/proc/net/tcp`, `tcp6`, `udp` or `udp6` (the kernel prints addresses
/// as host-order hex words, hence the native-endian decoding).
pub fn parse_proc_net(text: &str, proto: Proto) -> Vec<Listener> {
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 4 {
            continue;
        }
        let (Some((addr, port)), Some((_, rport))) = (parse_addr(f[1]), parse_addr(f[2])) else {
            continue;
        };
        let listening = match proto {
            Proto::Tcp => f[3] == "0A",
            Proto::Udp => f[3] == "07" && rport == 0,
        };
        if listening && port != 0 {
            out.push(Listener { port, proto, addr });
        }
    }
    out
}

fn collect(read: impl Fn(&str) -> Option<String>) -> Vec<Listener> {
    let mut set = BTreeSet::new();
    for (file, proto) in [
        ("tcp", Proto::Tcp),
        ("tcp6", Proto::Tcp),
        ("udp", Proto::Udp),
        ("udp6", Proto::Udp),
    ] {
        if let Some(text) = read(file) {
            set.extend(parse_proc_net(&text, proto));
        }
    }
    set.into_iter().collect()
}

/// Listening sockets in the network namespace of process `pid` (the container's init).
pub fn listeners(pid: i32) -> Result<Vec<Listener>, NetError> {
    let dir = format!("/proc/{pid}/net");
    std::fs::metadata(format!("{dir}/tcp"))
        .map_err(|e| NetError::io(format!("read {dir}/tcp"), e))?;
    Ok(collect(|f| {
        std::fs::read_to_string(format!("{dir}/{f}")).ok()
    }))
}

/// Listening sockets in the network namespace bound at `netns`.
pub fn listeners_in_netns(netns: &Path) -> Result<Vec<Listener>, NetError> {
    in_netns(netns, || {
        Ok(collect(|f| {
            std::fs::read_to_string(format!("/proc/thread-self/net/{f}")).ok()
        }))
    })
}

/// How the user should have written `-p` for container port `port`.
fn suggest(m: &PortMapping, port: u16) -> String {
    let mut s = String::from("-p ");
    match m.host_ip {
        Some(IpAddr::V4(ip)) => {
            let _ = write!(s, "{ip}:");
        }
        Some(IpAddr::V6(ip)) => {
            let _ = write!(s, "[{ip}]:");
        }
        None => {}
    }
    if m.host_port != 0 {
        let _ = write!(s, "{}:", m.host_port);
    } else if m.host_ip.is_some() {
        s.push(':');
    }
    let _ = write!(s, "{port}");
    if m.proto == Proto::Udp {
        s.push_str("/udp");
    }
    s
}

/// Warnings for published ports that cannot work given what listens in the container;
/// empty when every published port has a reachable listener.
pub fn hint(
    container_name: &str,
    published: &[PortMapping],
    listeners: &[Listener],
) -> Vec<String> {
    let mut out = Vec::new();
    let mut done = BTreeSet::new();
    let published_ports: BTreeSet<(u16, Proto)> = published
        .iter()
        .map(|m| (m.container_port, m.proto))
        .collect();
    for m in published {
        if !done.insert((m.container_port, m.proto)) {
            continue;
        }
        let (port, proto) = (m.container_port, m.proto);
        let here: Vec<&Listener> = listeners
            .iter()
            .filter(|l| l.port == port && l.proto == proto)
            .collect();
        if here.iter().any(|l| l.reachable()) {
            continue;
        }
        if let Some(l) = here.first() {
            out.push(format!(
                "warning: {container_name}: the app listens only on {} inside the container, \
                 which is unreachable from outside it — make the app bind 0.0.0.0",
                sock(l)
            ));
            continue;
        }
        let mut others: Vec<&Listener> = listeners
            .iter()
            .filter(|l| l.proto == proto && !published_ports.contains(&(l.port, l.proto)))
            .collect();
        // Loopback-only listeners are candidates only when nothing reachable is.
        if others.iter().any(|l| l.reachable()) {
            others.retain(|l| l.reachable());
        }
        others.sort_by_key(|l| l.port);
        let mut seen = BTreeSet::new();
        others.retain(|l| seen.insert(l.port));
        let mut msg = format!(
            "warning: {container_name}: nothing listens on {port}/{proto} inside the container"
        );
        match others.as_slice() {
            [] => {}
            [l] if l.reachable() => {
                let _ = write!(
                    msg,
                    "; it listens on {}/{proto} — publish it with {}",
                    l.port,
                    suggest(m, l.port)
                );
            }
            [l] => {
                let _ = write!(
                    msg,
                    "; it listens on {} only — make the app bind 0.0.0.0 and publish it with {}",
                    sock(l),
                    suggest(m, l.port)
                );
            }
            [first, ..] => {
                let list: Vec<String> = others
                    .iter()
                    .map(|l| format!("{}/{proto}", l.port))
                    .collect();
                let _ = write!(
                    msg,
                    "; it listens on {} — publish one of them, e.g. {}",
                    list.join(", "),
                    suggest(m, first.port)
                );
            }
        }
        out.push(msg);
    }
    out
}

fn sock(l: &Listener) -> String {
    match l.addr {
        IpAddr::V4(a) => format!("{a}:{}", l.port),
        IpAddr::V6(a) => format!("[{a}]:{}", l.port),
    }
}
