//! Docker's `-p` grammar, parsed into typed [`PortMapping`]s. Pure: no I/O.
//!
//! `[IP:][HOST_PORT:]CONTAINER_PORT[/PROTO]`, where either port may be a range `A-B`, an empty
//! host port (`127.0.0.1::8000`) means "pick one", and IPv6 addresses are written in brackets.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::NetError;

/// Transport protocol of a published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn as_str(&self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Proto {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "" | "tcp" => Ok(Proto::Tcp),
            "udp" => Ok(Proto::Udp),
            "sctp" => Err("protocol sctp is not supported".into()),
            other => Err(format!("invalid protocol {other:?}")),
        }
    }
}

/// One published port: traffic to `host_ip:host_port` (any local address when `host_ip` is
/// `None`) goes to the container's `container_port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PortMapping {
    pub host_ip: Option<IpAddr>,
    /// 0 = pick a free port when attaching.
    pub host_port: u16,
    /// When set (`-p 5000-5010:80`), any free port in `host_port..=host_port_end` will do.
    /// Attachments always hold the chosen port here, with `host_port_end` `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_port_end: Option<u16>,
    pub container_port: u16,
    pub proto: Proto,
}

impl PortMapping {
    /// `-P`/`-p CONTAINER_PORT`: the container port on a random host port, every address.
    pub fn random(container_port: u16, proto: Proto) -> Self {
        PortMapping {
            host_ip: None,
            host_port: 0,
            host_port_end: None,
            container_port,
            proto,
        }
    }
}

/// Docker's rendering, as in the PORTS column: `0.0.0.0:5000->8000/tcp`.
impl fmt::Display for PortMapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.host_ip {
            None => write!(f, "0.0.0.0:")?,
            Some(IpAddr::V4(ip)) => write!(f, "{ip}:")?,
            Some(IpAddr::V6(ip)) => write!(f, "[{ip}]:")?,
        }
        write!(f, "{}", self.host_port)?;
        if let Some(end) = self.host_port_end {
            write!(f, "-{end}")?;
        }
        write!(f, "->{}/{}", self.container_port, self.proto)
    }
}

fn bad(spec: &str, reason: impl Into<String>) -> NetError {
    NetError::InvalidPublish {
        spec: spec.to_string(),
        reason: reason.into(),
    }
}

fn port(spec: &str, what: &str, s: &str) -> Result<u16, NetError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(spec, format!("invalid {what} {s:?}")));
    }
    s.parse::<u16>()
        .map_err(|_| bad(spec, format!("{what} {s} is out of range (1-65535)")))
}

fn range(spec: &str, what: &str, s: &str) -> Result<(u16, u16), NetError> {
    let (a, b) = match s.split_once('-') {
        Some((a, b)) => (port(spec, what, a)?, port(spec, what, b)?),
        None => {
            let p = port(spec, what, s)?;
            (p, p)
        }
    };
    if a > b {
        return Err(bad(
            spec,
            format!("invalid {what} range {s}: start is after end"),
        ));
    }
    Ok((a, b))
}

/// Splits `[IP:][HOST:]CTR` the way docker does (IPv6 may be bracketed, or bare with more colons).
fn split_parts(s: &str) -> (&str, &str, &str) {
    if let Some(rest) = s.strip_prefix('[') {
        if let Some((ip, tail)) = rest.split_once(']') {
            let tail = tail.strip_prefix(':').unwrap_or(tail);
            let (host, ctr) = tail.split_once(':').unwrap_or(("", tail));
            return (ip, host, ctr);
        }
    }
    let parts: Vec<&str> = s.split(':').collect();
    match parts.len() {
        1 => ("", "", s),
        2 => ("", parts[0], parts[1]),
        n => {
            let ctr_start = s.len() - parts[n - 1].len();
            let host_start = ctr_start - 1 - parts[n - 2].len();
            (&s[..host_start - 1], parts[n - 2], parts[n - 1])
        }
    }
}

/// Parses one `-p` value into one mapping per container port.
pub fn parse_publish(spec: &str) -> Result<Vec<PortMapping>, NetError> {
    if spec.is_empty() || spec.chars().any(char::is_whitespace) {
        return Err(bad(spec, "empty or contains whitespace"));
    }
    let (ip, host, ctr) = split_parts(spec);
    let (ctr, proto) = match ctr.split_once('/') {
        Some((c, p)) => (c, p.parse::<Proto>().map_err(|e| bad(spec, e))?),
        None => (ctr, Proto::Tcp),
    };
    let host_ip = if ip.is_empty() {
        None
    } else {
        Some(
            ip.parse::<IpAddr>()
                .map_err(|_| bad(spec, format!("invalid IP address {ip:?}")))?,
        )
    };
    if ctr.is_empty() {
        return Err(bad(spec, "no container port specified"));
    }
    let (c0, c1) = range(spec, "container port", ctr)?;
    if c0 == 0 {
        return Err(bad(spec, "container port 0 is not valid"));
    }
    let hosts = if host.is_empty() {
        None
    } else {
        Some(range(spec, "host port", host)?)
    };
    let mut out = Vec::new();
    for (i, container_port) in (c0..=c1).enumerate() {
        let (host_port, host_port_end) = match hosts {
            None => (0, None),
            Some((h0, h1)) if c0 == c1 && h0 != h1 => (h0, Some(h1)),
            Some((h0, h1)) => {
                if h1 - h0 != c1 - c0 {
                    return Err(bad(
                        spec,
                        format!("host port range {host} and container port range {ctr} differ in length"),
                    ));
                }
                let offset = u16::try_from(i).map_err(|_| bad(spec, "range too long"))?;
                (h0 + offset, None)
            }
        };
        out.push(PortMapping {
            host_ip,
            host_port,
            host_port_end,
            container_port,
            proto,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_like_docker_ps() {
        let p = parse_publish("127.0.0.1:5000:8000").unwrap()[0];
        assert_eq!(p.to_string(), "127.0.0.1:5000->8000/tcp");
        let p = parse_publish("5000:53/udp").unwrap()[0];
        assert_eq!(p.to_string(), "0.0.0.0:5000->53/udp");
        let p = parse_publish("[::1]:1:2").unwrap()[0];
        assert_eq!(p.to_string(), "[::1]:1->2/tcp");
    }
}
