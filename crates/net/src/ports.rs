//! Choosing host ports: conflicts with berth's own records and with whatever the host has
//! bound, checked before anything is created so that a refused `attach` changes nothing.

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, TcpListener, UdpSocket};
use std::os::fd::OwnedFd;

use socket2::{Domain, Socket, Type};

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

/// A socket bound to a published host port for as long as the container publishes it, so a
/// host program that starts later fails to bind the port instead of silently losing its local
/// traffic to the container (docker holds its ports the same way). TCP sockets are bound
/// without `SO_REUSEADDR` and never listen: no other socket can bind the port, whatever its
/// options, and none of the DNATed traffic (rewritten before any socket lookup) reaches it.
#[derive(Debug)]
pub(crate) struct Hold(#[allow(dead_code)] OwnedFd);

fn hold(proto: Proto, ip: Option<Ipv4Addr>, port: u16) -> std::io::Result<Hold> {
    let addr = SocketAddrV4::new(ip.unwrap_or(Ipv4Addr::UNSPECIFIED), port);
    match proto {
        Proto::Tcp => {
            // socket2 opens it close-on-exec and sets no SO_REUSEADDR (std's TcpListener
            // would, and would listen).
            let sock = Socket::new(Domain::IPV4, Type::STREAM, None)?;
            sock.bind(&addr.into())?;
            Ok(Hold(sock.into()))
        }
        Proto::Udp => Ok(Hold(UdpSocket::bind(addr)?.into())),
    }
}

/// Checks one candidate port against records and the host, and holds it.
fn check(taken: &[Taken], proto: Proto, ip: Option<Ipv4Addr>, port: u16) -> Result<Hold, NetError> {
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
    hold(proto, ip, port).map_err(|e| match e.kind() {
        ErrorKind::AddrInUse => NetError::PortInUseOnHost { port, proto },
        _ => NetError::io(format!("hold host port {port}/{proto}"), e),
    })
}

/// Picks a port the kernel considers free (its ephemeral range) that no record holds.
fn random(taken: &[Taken], proto: Proto, ip: Option<Ipv4Addr>) -> Result<(u16, Hold), NetError> {
    let addr = SocketAddr::new(IpAddr::V4(ip.unwrap_or(Ipv4Addr::UNSPECIFIED)), 0);
    for _ in 0..64 {
        let port = bind(proto, addr)
            .map_err(|e| NetError::io(format!("pick a free host port for {proto}"), e))?;
        if let Ok(held) = check(taken, proto, ip, port) {
            return Ok((port, held));
        }
    }
    Err(NetError::NoFreePort {
        what: format!("a random {proto} port"),
    })
}

/// Turns requested mappings into concrete ones (every `host_port` chosen), or fails on the
/// first conflict. `taken` holds the ports of every other endpoint. The chosen ports come
/// back held (see [`Hold`]): keep the holds as long as the ports are published.
pub(crate) fn choose(
    requested: &[PortMapping],
    taken: &[Taken],
    me: &str,
) -> Result<(Vec<PortMapping>, Vec<Hold>), NetError> {
    let mut taken = taken.to_vec();
    let mut out = Vec::new();
    let mut holds = Vec::new();
    for m in requested {
        let ip = host_v4(m)?;
        let (port, held) = match (m.host_port, m.host_port_end) {
            (0, _) => random(&taken, m.proto, ip)?,
            (start, Some(end)) => (start..=end)
                .find_map(|p| check(&taken, m.proto, ip, p).ok().map(|h| (p, h)))
                .ok_or_else(|| NetError::NoFreePort {
                    what: format!("{m}: every port in {start}-{end} is in use"),
                })?,
            (p, None) => (p, check(&taken, m.proto, ip, p)?),
        };
        holds.push(held);
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
    Ok((out, holds))
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
        let (chosen, holds) = choose(&parse_publish("127.0.0.1::80").unwrap(), &[], "me").unwrap();
        assert_ne!(chosen[0].host_port, 0);
        assert_eq!(holds.len(), 1);
        // The chosen port is held: the host cannot take it, even with SO_REUSEADDR (which
        // std's TcpListener sets), until the hold goes.
        let port = chosen[0].host_port;
        let e = TcpListener::bind(("127.0.0.1", port)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AddrInUse);
        drop(holds);
        TcpListener::bind(("127.0.0.1", port)).unwrap();
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
