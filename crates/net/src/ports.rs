//! Choosing host ports: conflicts with berth's own records and with whatever the host has
//! bound, checked before anything is created so that a refused `attach` changes nothing.

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, UdpSocket};

use crate::firewall::PortRule;
use crate::publish::{PortMapping, Proto};
use crate::NetError;

/// A host port some container already publishes.
#[derive(Debug, Clone)]
pub(crate) struct Taken {
    pub proto: Proto,
    pub host_ip: Option<Ipv4Addr>,
    pub port: u16,
    pub owner: String,
}

/// `None` for "every address" (`0.0.0.0`, `::` or unset); IPv6 hosts are refused.
pub(crate) fn host_v4(m: &PortMapping) -> Result<Option<Ipv4Addr>, NetError> {
    match m.host_ip {
        None => Ok(None),
        Some(IpAddr::V4(ip)) if ip.is_unspecified() => Ok(None),
        Some(IpAddr::V6(ip)) if ip.is_unspecified() => Ok(None),
        Some(IpAddr::V4(ip)) => Ok(Some(ip)),
        Some(IpAddr::V6(ip)) => Err(NetError::HostAddress {
            addr: ip.to_string(),
            port: m.host_port,
            reason: "berth publishes ports on IPv4 addresses only".into(),
        }),
    }
}

fn clash(a: Option<Ipv4Addr>, b: Option<Ipv4Addr>) -> bool {
    a.is_none() || b.is_none() || a == b
}

/// Tries to bind the port on the host: `Ok(true)` when free, `Ok(false)` when in use.
fn host_free(proto: Proto, ip: Option<Ipv4Addr>, port: u16) -> Result<bool, NetError> {
    let v4 = SocketAddr::new(IpAddr::V4(ip.unwrap_or(Ipv4Addr::UNSPECIFIED)), port);
    match bind(proto, v4) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::AddrInUse => return Ok(false),
        Err(e) if e.kind() == ErrorKind::AddrNotAvailable => {
            return Err(NetError::HostAddress {
                addr: v4.ip().to_string(),
                port,
                reason: "not an address of this host".into(),
            })
        }
        Err(e) => return Err(NetError::io(format!("check host port {port}/{proto}"), e)),
    }
    if ip.is_none() {
        // A dual-stack or IPv6-only listener on [::] also owns the port.
        let v6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port);
        if let Err(e) = bind(proto, v6) {
            if e.kind() == ErrorKind::AddrInUse {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

fn bind(proto: Proto, addr: SocketAddr) -> std::io::Result<u16> {
    match proto {
        Proto::Tcp => TcpListener::bind(addr).and_then(|l| l.local_addr()),
        Proto::Udp => UdpSocket::bind(addr).and_then(|s| s.local_addr()),
    }
    .map(|a| a.port())
}

/// Checks one candidate port against records and the host.
fn check(taken: &[Taken], proto: Proto, ip: Option<Ipv4Addr>, port: u16) -> Result<(), NetError> {
    if let Some(t) = taken
        .iter()
        .find(|t| t.proto == proto && t.port == port && clash(t.host_ip, ip))
    {
        return Err(NetError::PortInUseByContainer {
            port,
            proto,
            container: t.owner.clone(),
        });
    }
    if !host_free(proto, ip, port)? {
        return Err(NetError::PortInUseOnHost { port, proto });
    }
    Ok(())
}

/// Picks a port the kernel considers free (its ephemeral range) that no record holds.
fn random(taken: &[Taken], proto: Proto, ip: Option<Ipv4Addr>) -> Result<u16, NetError> {
    let addr = SocketAddr::new(IpAddr::V4(ip.unwrap_or(Ipv4Addr::UNSPECIFIED)), 0);
    for _ in 0..64 {
        let port = bind(proto, addr)
            .map_err(|e| NetError::io(format!("pick a free host port for {proto}"), e))?;
        if check(taken, proto, ip, port).is_ok() {
            return Ok(port);
        }
    }
    Err(NetError::NoFreePort {
        what: format!("a random {proto} port"),
    })
}

/// Turns requested mappings into concrete ones (every `host_port` chosen), or fails on the
/// first conflict. `taken` holds the ports of every other endpoint.
pub(crate) fn choose(
    requested: &[PortMapping],
    taken: &[Taken],
    me: &str,
) -> Result<Vec<PortMapping>, NetError> {
    let mut taken = taken.to_vec();
    let mut out = Vec::new();
    for m in requested {
        let ip = host_v4(m)?;
        let port = match (m.host_port, m.host_port_end) {
            (0, _) => random(&taken, m.proto, ip)?,
            (start, Some(end)) => (start..=end)
                .find(|p| check(&taken, m.proto, ip, *p).is_ok())
                .ok_or_else(|| NetError::NoFreePort {
                    what: format!("{m}: every port in {start}-{end} is in use"),
                })?,
            (p, None) => {
                check(&taken, m.proto, ip, p)?;
                p
            }
        };
        taken.push(Taken {
            proto: m.proto,
            host_ip: ip,
            port,
            owner: me.to_string(),
        });
        out.push(PortMapping {
            host_port: port,
            host_port_end: None,
            ..*m
        });
    }
    Ok(out)
}

/// The DNAT entries for an endpoint's (chosen) ports.
pub(crate) fn rules(ports: &[PortMapping], ip: Ipv4Addr) -> Vec<PortRule> {
    ports
        .iter()
        .map(|m| PortRule {
            proto: m.proto,
            host_ip: host_v4(m).ok().flatten(),
            host_port: m.host_port,
            ip,
            port: m.container_port,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publish::parse_publish;

    #[test]
    fn records_conflict_by_proto_port_and_address() {
        let taken = vec![Taken {
            proto: Proto::Tcp,
            host_ip: Some(Ipv4Addr::LOCALHOST),
            port: 1,
            owner: "web".into(),
        }];
        // Port 1 needs root to bind, but the record check comes first.
        let e = check(&taken, Proto::Tcp, None, 1).unwrap_err().to_string();
        assert_eq!(e, "port 1 is already in use by another container: web");
        assert!(clash(Some(Ipv4Addr::LOCALHOST), None));
        assert!(!clash(
            Some(Ipv4Addr::LOCALHOST),
            Some(Ipv4Addr::new(10, 0, 0, 1))
        ));
    }

    #[test]
    fn random_and_host_checks() {
        let chosen = choose(&parse_publish("127.0.0.1::80").unwrap(), &[], "me").unwrap();
        assert_ne!(chosen[0].host_port, 0);
        let held = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        let e = choose(&parse_publish(&format!("{port}:80")).unwrap(), &[], "me").unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("port {port} is already in use on the host")
        );
        let v6 = parse_publish("[::1]:5000:80").unwrap();
        assert!(choose(&v6, &[], "me")
            .unwrap_err()
            .to_string()
            .contains("IPv4 addresses only"));
    }
}
