//! A small IPv4 prefix type (`10.213.0.0/16`), so the crate needs no `ipnet` dependency.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::NetError;

/// An IPv4 network: a network address (host bits zero) and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Net {
    addr: Ipv4Addr,
    prefix: u8,
}

impl Ipv4Net {
    /// A network from its address and prefix; fails when host bits are set or prefix > 32.
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Result<Self, NetError> {
        let text = format!("{addr}/{prefix}");
        if prefix > 32 {
            return Err(NetError::invalid("subnet", text, "prefix longer than 32"));
        }
        let net = Ipv4Net { addr, prefix };
        if net.network() != addr {
            return Err(NetError::invalid(
                "subnet",
                text,
                format!("host bits set, did you mean {}/{prefix}", net.network()),
            ));
        }
        Ok(net)
    }

    /// For constants known to be valid.
    pub(crate) const fn raw(addr: Ipv4Addr, prefix: u8) -> Self {
        Ipv4Net { addr, prefix }
    }

    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    pub fn prefix_len(&self) -> u8 {
        self.prefix
    }

    fn mask(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        }
    }

    /// The network address (host bits cleared).
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }

    /// The broadcast address (host bits set).
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !self.mask())
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.addr) & self.mask()
    }

    pub fn overlaps(&self, other: &Ipv4Net) -> bool {
        self.contains(other.network()) || other.contains(self.network())
    }

    /// The `n`th address of the network (0 = network address), if inside it.
    pub fn nth(&self, n: u32) -> Option<Ipv4Addr> {
        let size = 1u64 << (32 - u32::from(self.prefix));
        if u64::from(n) >= size {
            return None;
        }
        Some(Ipv4Addr::from(u32::from(self.network()) + n))
    }

    /// The first usable host address: the conventional gateway.
    pub fn first_host(&self) -> Option<Ipv4Addr> {
        if self.prefix >= 31 {
            return None;
        }
        self.nth(1)
    }

    /// The index of `ip` in this network (inverse of `nth`).
    pub fn index_of(&self, ip: Ipv4Addr) -> Option<u32> {
        self.contains(ip)
            .then(|| u32::from(ip) - u32::from(self.network()))
    }

    /// Number of addresses, saturating at `u32::MAX` for /0.
    pub fn size(&self) -> u32 {
        u32::try_from(1u64 << (32 - u32::from(self.prefix))).unwrap_or(u32::MAX)
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Ipv4Net {
    type Err = NetError;

    fn from_str(s: &str) -> Result<Self, NetError> {
        let (a, p) = s
            .split_once('/')
            .ok_or_else(|| NetError::invalid("subnet", s, "expected ADDRESS/PREFIX"))?;
        let addr: Ipv4Addr = a
            .parse()
            .map_err(|_| NetError::invalid("subnet", s, "not an IPv4 address"))?;
        let prefix: u8 = p
            .parse()
            .map_err(|_| NetError::invalid("subnet", s, "bad prefix length"))?;
        Ipv4Net::new(addr, prefix)
    }
}

impl Serialize for Ipv4Net {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Ipv4Net {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_arith() {
        let n: Ipv4Net = "10.213.0.0/16".parse().unwrap();
        assert_eq!(n.first_host(), Some(Ipv4Addr::new(10, 213, 0, 1)));
        assert_eq!(n.broadcast(), Ipv4Addr::new(10, 213, 255, 255));
        assert_eq!(n.nth(258), Some(Ipv4Addr::new(10, 213, 1, 2)));
        assert_eq!(n.index_of(Ipv4Addr::new(10, 213, 1, 2)), Some(258));
        assert!(n.contains(Ipv4Addr::new(10, 213, 9, 9)));
        assert!(!n.contains(Ipv4Addr::new(10, 214, 0, 1)));
        assert_eq!(n.size(), 65536);
        assert_eq!(n.to_string(), "10.213.0.0/16");
        let m: Ipv4Net = "10.213.4.0/24".parse().unwrap();
        assert!(n.overlaps(&m) && m.overlaps(&n));
        let o: Ipv4Net = "10.214.0.0/24".parse().unwrap();
        assert!(!n.overlaps(&o));
        let all: Ipv4Net = "0.0.0.0/0".parse().unwrap();
        assert!(all.overlaps(&o));
    }

    #[test]
    fn rejects_bad_input() {
        for bad in [
            "10.0.0.1/24",
            "10.0.0.0",
            "10.0.0.0/33",
            "x/8",
            "10.0.0.0/x",
        ] {
            assert!(bad.parse::<Ipv4Net>().is_err(), "{bad}");
        }
        let e = "10.0.0.1/24".parse::<Ipv4Net>().unwrap_err().to_string();
        assert!(e.contains("did you mean 10.0.0.0/24"), "{e}");
    }
}
