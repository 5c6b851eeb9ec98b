//! `/etc/hosts` — address → names (hosts(5)).
//!
//! Read the way glibc reads it: `#` starts a comment anywhere, fields are separated by spaces
//! or tabs, the first field is an address and the rest are names (canonical name first).
//! Lines glibc would skip (no valid address, no name) are not errors here either; they are
//! reported in `ignored` so a drift check can mention them.

use super::error::Result;
use super::text::numbered_lines;
use serde::Serialize;
use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct HostsFile {
    pub entries: Vec<HostsEntry>,
    /// Non-comment lines that glibc skips: (line number, text).
    pub ignored: Vec<(usize, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostsEntry {
    /// 1-based line number.
    pub line: usize,
    pub address: IpAddr,
    /// Canonical name first, then aliases.
    pub names: Vec<String>,
}

impl HostsFile {
    /// Every name listed for `addr`, in file order (over all lines with that address).
    pub fn names_for(&self, addr: IpAddr) -> Vec<&str> {
        self.entries
            .iter()
            .filter(|e| e.address == addr)
            .flat_map(|e| e.names.iter().map(String::as_str))
            .collect()
    }
    /// Every address that `name` is listed under (names compare case-insensitively, as the
    /// resolver does).
    pub fn addresses_for(&self, name: &str) -> Vec<IpAddr> {
        self.entries
            .iter()
            .filter(|e| e.names.iter().any(|n| n.eq_ignore_ascii_case(name)))
            .map(|e| e.address)
            .collect()
    }
    /// What the resolver returns first for `name`: the first line listing it.
    pub fn resolve(&self, name: &str) -> Option<IpAddr> {
        self.addresses_for(name).into_iter().next()
    }
}

/// Parse `/etc/hosts`. Never fails on content (glibc semantics); `Result` for uniformity.
pub fn parse_hosts(text: &str) -> Result<HostsFile> {
    let mut out = HostsFile::default();
    for (n, line) in numbered_lines(text) {
        let content = line.split('#').next().unwrap_or("");
        let mut words = content.split_whitespace();
        let Some(first) = words.next() else { continue };
        let names: Vec<String> = words.map(str::to_string).collect();
        match first.parse::<IpAddr>() {
            Ok(address) if !names.is_empty() => out.entries.push(HostsEntry { line: n, address, names }),
            _ => out.ignored.push((n, line.to_string())),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lab_hosts_file() {
        let h = parse_hosts(include_str!("../../tests/fixtures/parsers/etc-hosts.txt")).unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(h.names_for(ip("10.231.10.11")), ["pve-node1.lab.home.arpa", "pve-node1"]);
        assert_eq!(h.resolve("PVE-NODE2"), Some(ip("10.231.10.12")));
        assert_eq!(h.names_for(ip("127.0.0.1")), ["localhost", "localhost.localdomain"]);
        assert_eq!(h.names_for(ip("::1")), ["localhost", "ip6-localhost", "ip6-loopback"]);
        assert_eq!(h.addresses_for("localhost"), [ip("127.0.0.1"), ip("::1")]);
        assert_eq!(h.resolve("qdevice1"), Some(ip("10.231.10.5")));
        assert_eq!(h.ignored.len(), 2);
        assert_eq!(h.ignored[0].0, 9);
        assert!(h.resolve("commented-out").is_none());
    }
}
