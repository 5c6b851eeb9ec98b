//! Addresses as the inventory writes them: IP addresses, CIDR networks and MAC addresses.
//!
//! Parsing is strict on purpose (no octal-looking `010.1.1.1`, no host bits in a network):
//! what the inventory says is copied into corosync.conf, answer files and storage.cfg, and a
//! sloppy value there fails far from the line that caused it.

use std::fmt;
use std::net::IpAddr;

/// Parse an IPv4 or IPv6 address; the error says what was expected.
pub fn parse_ip(s: &str) -> Result<IpAddr, String> {
    s.parse::<IpAddr>().map_err(|_| {
        if s.contains('/') {
            format!("`{s}` is a network, not an address; write the address without `/prefix`")
        } else {
            format!("`{s}` is not an IP address (expected e.g. 192.168.10.230)")
        }
    })
}

/// An IP network such as `192.168.10.0/24` (host bits must be zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (a, p) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}` is not a CIDR network: write address/prefix, e.g. 192.168.10.0/24"))?;
        let addr: IpAddr = a
            .parse()
            .map_err(|_| format!("`{s}` is not a CIDR network: `{a}` is not an IP address (expected e.g. 192.168.10.0/24)"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix: u8 = match p.parse::<u8>() {
            Ok(n) if n <= max && !p.starts_with('+') => n,
            _ => return Err(format!("`{s}` is not a CIDR network: the prefix `{p}` must be a number 0..={max}")),
        };
        let cidr = Cidr { addr, prefix };
        let net = cidr.network();
        if net != addr {
            return Err(format!(
                "`{s}` has host bits set; the network is {net}/{prefix} (write that, and put host addresses on the nodes)"
            ));
        }
        Ok(cidr)
    }

    fn mask(&self) -> u128 {
        let bits = if self.addr.is_ipv4() { 32 } else { 128 };
        if self.prefix == 0 {
            0
        } else {
            (!0u128 << (bits - u32::from(self.prefix))) & if bits == 32 { 0xffff_ffff } else { !0u128 }
        }
    }

    /// The network address (host bits cleared).
    pub fn network(&self) -> IpAddr {
        from_bits(self.addr.is_ipv4(), to_bits(self.addr) & self.mask())
    }

    /// Is `ip` inside this network? (An address of the other family never is.)
    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.addr.is_ipv4() && (to_bits(ip) & self.mask()) == (to_bits(self.addr) & self.mask())
    }

    /// Do the two networks share any address?
    pub fn overlaps(&self, other: &Cidr) -> bool {
        if self.addr.is_ipv4() != other.addr.is_ipv4() {
            return false;
        }
        let shorter = if self.prefix <= other.prefix { self } else { other };
        let longer = if self.prefix <= other.prefix { other } else { self };
        shorter.contains(longer.addr)
    }

    /// The IPv4 broadcast address (`None` for IPv6 and for /31, /32, which have none).
    pub fn broadcast(&self) -> Option<IpAddr> {
        match self.addr {
            IpAddr::V4(_) if self.prefix <= 30 => Some(from_bits(true, (to_bits(self.addr) | !self.mask()) & 0xffff_ffff)),
            _ => None,
        }
    }

    /// Is `ip` usable as a host address here (inside, and not the network/broadcast address)?
    pub fn is_host(&self, ip: IpAddr) -> bool {
        let edge = self.addr.is_ipv4() && self.prefix <= 30 && (ip == self.network() || Some(ip) == self.broadcast());
        self.contains(ip) && !edge
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn to_bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn from_bits(v4: bool, bits: u128) -> IpAddr {
    if v4 {
        IpAddr::V4((bits as u32).into())
    } else {
        IpAddr::V6(bits.into())
    }
}

/// A MAC address, normalised to lower-case `aa:bb:cc:dd:ee:ff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// Accepts `aa:bb:cc:dd:ee:ff` (either case). A multicast or all-zero address cannot be a
    /// NIC's own address, so it is refused too.
    pub fn parse(s: &str) -> Result<Mac, String> {
        let parts: Vec<&str> = s.split(':').collect();
        let valid = parts.len() == 6 && parts.iter().all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()));
        if !valid {
            let hint = if s.contains('-') { " (use `:` between the bytes, not `-`)" } else { "" };
            return Err(format!("`{s}` is not a MAC address: expected six hex bytes like 58:47:ca:7a:1c:30{hint}"));
        }
        let mut b = [0u8; 6];
        for (i, p) in parts.iter().enumerate() {
            b[i] = u8::from_str_radix(p, 16).expect("checked hex");
        }
        if b == [0; 6] {
            return Err(format!("`{s}` is the all-zero MAC address; copy the NIC's real address (ip link)"));
        }
        if b[0] & 1 == 1 {
            return Err(format!("`{s}` is a multicast MAC address (lowest bit of the first byte set); a NIC's own address never is — copy it again from `ip link` on that host"));
        }
        Ok(Mac(b))
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3], b[4], b[5])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_parses_and_contains() {
        let c = Cidr::parse("192.168.10.0/24").unwrap();
        assert!(c.contains("192.168.10.230".parse().unwrap()));
        assert!(!c.contains("192.168.1.230".parse().unwrap()));
        assert!(!c.is_host("192.168.10.0".parse().unwrap()));
        assert!(!c.is_host("192.168.10.255".parse().unwrap()));
        assert!(c.is_host("192.168.10.1".parse().unwrap()));
        assert_eq!(c.broadcast().unwrap().to_string(), "192.168.10.255");
        let v6 = Cidr::parse("fd00:10::/64").unwrap();
        assert!(v6.contains("fd00:10::5".parse().unwrap()));
        assert!(!v6.contains("192.168.10.5".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains("8.8.8.8".parse().unwrap()));
    }

    #[test]
    fn cidr_rejects_malformed() {
        assert!(Cidr::parse("192.168.10.0").unwrap_err().contains("address/prefix"));
        assert!(Cidr::parse("192.168.10.0/33").unwrap_err().contains("0..=32"));
        assert!(Cidr::parse("192.168.10.0/x").is_err());
        assert!(Cidr::parse("192.168.300.0/24").is_err());
        assert!(Cidr::parse("192.168.10.5/24").unwrap_err().contains("192.168.10.0/24"));
    }

    #[test]
    fn overlaps() {
        let a = Cidr::parse("10.0.0.0/8").unwrap();
        let b = Cidr::parse("10.1.0.0/16").unwrap();
        let c = Cidr::parse("192.168.0.0/16").unwrap();
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(!a.overlaps(&c));
    }

    #[test]
    fn mac_rules() {
        assert_eq!(Mac::parse("58:47:CA:7A:1C:30").unwrap().to_string(), "58:47:ca:7a:1c:30");
        assert!(Mac::parse("58-47-ca-7a-1c-30").unwrap_err().contains("not `-`"));
        assert!(Mac::parse("58:47:ca:7a:1c").is_err());
        assert!(Mac::parse("01:00:5e:00:00:01").unwrap_err().contains("multicast"));
        assert!(Mac::parse("00:00:00:00:00:00").unwrap_err().contains("all-zero"));
    }

    #[test]
    fn ip_rules() {
        assert!(parse_ip("192.168.10.230").is_ok());
        assert!(parse_ip("010.1.1.1").is_err());
        assert!(parse_ip("192.168.10.230/24").unwrap_err().contains("without"));
    }
}
