//! Value types with the installer's parsing rules: FQDN (§2.3), CIDR (§2.4), e-mail (§3.2 step 5).

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// A fully-qualified domain name by `proxmox_network_types::fqdn` rules (§2.3): at least two
/// labels of 1..63 ASCII alphanumerics or `-`, not starting/ending with `-`, total ≤ 253,
/// and a hostname (first label) that is not purely numeric.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fqdn(String);

impl Fqdn {
    pub fn host(&self) -> &str {
        self.0.split('.').next().unwrap_or("")
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a name is not an FQDN (only shown by our own generator; the installer's message is
/// the generic one in `model::FQDN_MESSAGE`).
pub fn fqdn_problem(s: &str) -> Option<String> {
    if s.len() > 253 {
        return Some(format!("'{s}' is longer than 253 characters"));
    }
    let labels: Vec<&str> = s.split('.').collect();
    if labels.len() < 2 {
        return Some(format!("'{s}' has no domain part (need host.domain)"));
    }
    for l in &labels {
        if l.is_empty() || l.len() > 63 {
            return Some(format!("label '{l}' of '{s}' must be 1 to 63 characters"));
        }
        if !l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Some(format!("label '{l}' of '{s}' may only contain ASCII letters, digits and '-'"));
        }
        if l.starts_with('-') || l.ends_with('-') {
            return Some(format!("label '{l}' of '{s}' must start and end with a letter or digit"));
        }
    }
    if labels[0].chars().all(|c| c.is_ascii_digit()) {
        return Some(format!("hostname '{}' of '{s}' must not be purely numeric", labels[0]));
    }
    None
}

impl FromStr for Fqdn {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match fqdn_problem(s) {
            Some(p) => Err(p),
            None => Ok(Fqdn(s.to_string())),
        }
    }
}

impl Serialize for Fqdn {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// `addr/prefix` or a bare address, parsed like `proxmox_network_types::ip_address::Cidr`
/// (§2.4): IPv4 is tried first; when that fails the IPv6 parse decides the error, which is
/// why `10.0.0.1/33` reports `invalid IP address` while `::1/129` reports `invalid netmask`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl FromStr for Cidr {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(c) = parse_family::<Ipv4Addr>(s, 32) {
            return Ok(Cidr { addr: IpAddr::V4(c.0), prefix: c.1 });
        }
        parse_family::<Ipv6Addr>(s, 128).map(|c| Cidr { addr: IpAddr::V6(c.0), prefix: c.1 })
    }
}

fn parse_family<A: FromStr>(s: &str, max: u8) -> Result<(A, u8), &'static str> {
    match s.split_once('/') {
        None => Ok((s.parse().map_err(|_| "invalid IP address")?, max)),
        Some((a, m)) => {
            let addr = a.parse().map_err(|_| "invalid IP address")?;
            let mask: u8 = m.parse().map_err(|_| "invalid netmask")?;
            if mask > max {
                return Err("invalid netmask");
            }
            Ok((addr, mask))
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(de::Error::custom)
    }
}

impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The HTML-spec `<input type=email>` pattern the installer uses (`email_validate`):
/// `^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$`
pub fn email_looks_valid(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else { return false };
    if local.is_empty() || !local.chars().all(|c| c.is_ascii_alphanumeric() || ".!#$%&'*+/=?^_`{|}~-".contains(c)) {
        return false;
    }
    domain.split('.').all(|label| {
        let b = label.as_bytes();
        !b.is_empty()
            && b.len() <= 63
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fqdn_rules() {
        assert!("pve.example.com".parse::<Fqdn>().is_ok());
        assert!("pve-1.lab.home.arpa".parse::<Fqdn>().is_ok());
        for bad in ["foobar", "123.x", "pve_auto.x", "-a.b", "a-.b", "a..b", ""] {
            assert!(bad.parse::<Fqdn>().is_err(), "{bad}");
        }
        assert!(format!("{}.com", "a".repeat(64)).parse::<Fqdn>().is_err());
    }

    #[test]
    fn cidr_messages_follow_the_ipv4_then_ipv6_rule() {
        assert_eq!("10.0.0.1/24".parse::<Cidr>().unwrap().to_string(), "10.0.0.1/24");
        assert_eq!("10.0.0.1".parse::<Cidr>().unwrap().prefix, 32);
        assert_eq!("fd00::1".parse::<Cidr>().unwrap().prefix, 128);
        assert_eq!("10.10.10.10/33".parse::<Cidr>().unwrap_err(), "invalid IP address");
        assert_eq!("fd00::1/129".parse::<Cidr>().unwrap_err(), "invalid netmask");
        assert_eq!("garbage".parse::<Cidr>().unwrap_err(), "invalid IP address");
    }

    #[test]
    fn email_pattern() {
        assert!(email_looks_valid("root@localhost.localdomain"));
        assert!(email_looks_valid("a.b+c@example.com"));
        assert!(email_looks_valid("root@localhost"));
        for bad in ["foo", "@x.y", "a@", "a@-x.y", "a@x..y", "a b@x.y"] {
            assert!(!email_looks_valid(bad), "{bad}");
        }
    }
}
