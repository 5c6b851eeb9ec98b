//! Simulated ZFS pool state of a PVE node (`/var/lib/pve-sim/zfs.json`), as a ZFS install leaves it:
//! `rpool`, `rpool/ROOT`, `rpool/ROOT/pve-1` (mounted at `/`), `rpool/data` (local-zfs) and
//! `rpool/var-lib-vz` (`/var/lib/vz`, PVE ≥ 8.1). Properties follow OpenZFS defaults and
//! inheritance; sources are `local`, `default`, `inherited from X` or `-` like `zfs get`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::sys;

pub const GIB: u64 = 1024 * 1024 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Pool {
    pub size: u64,
    pub health: String,
    pub vdev: String,
    pub guid: u64,
    #[serde(default)]
    pub props: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Dataset {
    /// filesystem | volume | snapshot
    #[serde(rename = "type")]
    pub kind: String,
    pub creation: i64,
    /// Bytes referenced by this dataset alone.
    pub referenced: u64,
    /// Locally set properties.
    #[serde(default)]
    pub props: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ZfsState {
    pub pools: BTreeMap<String, Pool>,
    pub datasets: BTreeMap<String, Dataset>,
}

pub fn state_path() -> PathBuf {
    sys::p("/var/lib/pve-sim/zfs.json")
}

/// Inheritable properties with their defaults (OpenZFS 2.2/2.3 as shipped with PVE 9).
pub const INHERITABLE: &[(&str, &str)] = &[
    ("aclinherit", "restricted"),
    ("aclmode", "discard"),
    ("acltype", "off"),
    ("atime", "on"),
    ("checksum", "on"),
    ("compression", "off"),
    ("copies", "1"),
    ("dedup", "off"),
    ("devices", "on"),
    ("dnodesize", "legacy"),
    ("exec", "on"),
    ("logbias", "latency"),
    ("primarycache", "all"),
    ("readonly", "off"),
    ("recordsize", "128K"),
    ("redundant_metadata", "all"),
    ("relatime", "on"),
    ("secondarycache", "all"),
    ("setuid", "on"),
    ("sharenfs", "off"),
    ("sharesmb", "off"),
    ("snapdev", "hidden"),
    ("snapdir", "hidden"),
    ("sync", "standard"),
    ("volmode", "default"),
    ("xattr", "sa"),
    ("zoned", "off"),
];

/// Settable, non-inheritable properties with defaults.
pub const LOCAL_ONLY: &[(&str, &str)] = &[
    ("canmount", "on"),
    ("quota", "none"),
    ("refquota", "none"),
    ("refreservation", "none"),
    ("reservation", "none"),
    ("volsize", "-"),
];

/// Read-only properties.
pub const READONLY: &[&str] = &[
    "type", "creation", "used", "available", "referenced", "compressratio", "mounted", "origin", "usedbysnapshots",
    "usedbydataset", "usedbychildren", "usedbyrefreservation", "guid", "volblocksize", "logicalused", "logicalreferenced",
    "written", "version", "utf8only", "normalization", "casesensitivity", "encryption", "keystatus",
];

/// Order of `zfs get all`.
pub const ALL_ORDER: &[&str] = &[
    "type", "creation", "used", "available", "referenced", "compressratio", "mounted", "quota", "reservation",
    "recordsize", "mountpoint", "sharenfs", "checksum", "compression", "atime", "devices", "exec", "setuid",
    "readonly", "zoned", "snapdir", "aclmode", "aclinherit", "canmount", "xattr", "copies", "version", "utf8only",
    "normalization", "casesensitivity", "primarycache", "secondarycache", "usedbysnapshots", "usedbydataset",
    "usedbychildren", "usedbyrefreservation", "logbias", "dedup", "sync", "dnodesize", "refquota",
    "refreservation", "relatime", "acltype", "redundant_metadata", "snapdev", "volmode", "volsize", "volblocksize",
];

impl ZfsState {
    pub fn load() -> Result<ZfsState> {
        match sys::read_opt(&state_path()) {
            Some(s) => Ok(serde_json::from_str(&s)?),
            None => Ok(ZfsState::default()),
        }
    }

    pub fn save(&self) -> Result<()> {
        sys::write_str(&state_path(), &serde_json::to_string_pretty(self)?, 0o644)
    }

    /// The layout of a fresh PVE ZFS install on a 32 GiB disk.
    pub fn fresh_install() -> ZfsState {
        let now = sys::now();
        let mut s = ZfsState::default();
        let mut pool_props = BTreeMap::new();
        pool_props.insert("ashift".into(), "12".into());
        pool_props.insert("bootfs".into(), "rpool/ROOT/pve-1".into());
        pool_props.insert("cachefile".into(), "none".into());
        s.pools.insert(
            "rpool".into(),
            Pool {
                size: 31 * GIB + GIB / 2,
                health: "ONLINE".into(),
                vdev: "scsi-0QEMU_QEMU_HARDDISK_drive-scsi0-part3".into(),
                guid: 0x5ec0_1d5e_ed00 ^ (now as u64),
                props: pool_props,
            },
        );
        let fs = |refd: u64, props: &[(&str, &str)]| Dataset {
            kind: "filesystem".into(),
            creation: now,
            referenced: refd,
            props: props.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        };
        s.datasets.insert(
            "rpool".into(),
            fs(104 * 1024, &[("atime", "on"), ("compression", "on"), ("relatime", "on"), ("sync", "standard")]),
        );
        s.datasets.insert("rpool/ROOT".into(), fs(96 * 1024, &[]));
        s.datasets.insert(
            "rpool/ROOT/pve-1".into(),
            fs(1_288_490_188 + 412 * 1024 * 1024, &[("acltype", "posix"), ("mountpoint", "/")]),
        );
        s.datasets.insert("rpool/data".into(), fs(96 * 1024, &[]));
        s.datasets.insert("rpool/var-lib-vz".into(), fs(96 * 1024, &[("mountpoint", "/var/lib/vz")]));
        s
    }

    pub fn exists(&self, name: &str) -> bool {
        self.datasets.contains_key(name)
    }

    pub fn pool_of(name: &str) -> &str {
        name.split(['/', '@']).next().unwrap_or(name)
    }

    pub fn parent(name: &str) -> Option<&str> {
        if let Some((p, _)) = name.split_once('@') {
            return Some(p);
        }
        name.rsplit_once('/').map(|(p, _)| p)
    }

    fn children<'a>(&'a self, name: &'a str) -> impl Iterator<Item = (&'a String, &'a Dataset)> + 'a {
        self.datasets.iter().filter(move |(n, _)| Self::parent(n) == Some(name))
    }

    /// Bytes used by the dataset and its descendants (volumes count their volsize if not sparse).
    pub fn used(&self, name: &str) -> u64 {
        let Some(d) = self.datasets.get(name) else { return 0 };
        if d.kind == "snapshot" {
            return 0; // a fresh snapshot shares all its blocks with the dataset
        }
        let own = d.referenced + d.props.get("refreservation").and_then(|r| parse_size(r)).unwrap_or(0);
        own + self.children(name).map(|(n, _)| self.used(n)).sum::<u64>()
    }

    pub fn pool_alloc(&self, pool: &str) -> u64 {
        self.datasets
            .iter()
            .filter(|(n, _)| Self::pool_of(n) == pool)
            .map(|(_, d)| d.referenced)
            .sum()
    }

    pub fn available(&self, name: &str) -> u64 {
        let pool = Self::pool_of(name);
        let size = self.pools.get(pool).map(|p| p.size).unwrap_or(0);
        // ZFS keeps ~3.2 % slop space.
        let usable = size - size / 32;
        usable.saturating_sub(self.used(pool))
    }

    /// (value, source) of a property, raw numbers when `parsable`.
    pub fn get(&self, name: &str, prop: &str, parsable: bool) -> Option<(String, String)> {
        let d = self.datasets.get(name)?;
        let num = |n: u64| if parsable { n.to_string() } else { crate::render::zfs_nicenum(n) };
        let ro = |v: String| Some((v, "-".to_string()));
        match prop {
            "name" => return ro(name.to_string()),
            "type" => return ro(d.kind.clone()),
            "creation" => {
                return ro(if parsable { d.creation.to_string() } else { ctime_short(d.creation) });
            }
            "used" => return ro(num(self.used(name))),
            "available" | "avail" => {
                return ro(if d.kind == "snapshot" { "-".into() } else { num(self.available(name)) })
            }
            "referenced" | "refer" => return ro(num(d.referenced)),
            "usedbydataset" => return ro(num(d.referenced)),
            "usedbychildren" => return ro(num(self.used(name) - d.referenced)),
            "usedbysnapshots" | "usedbyrefreservation" => return ro(num(0)),
            "logicalused" | "logicalreferenced" | "written" => return ro(num(d.referenced)),
            "compressratio" | "refcompressratio" => return ro("1.00x".into()),
            "mounted" => {
                return ro(if d.kind == "filesystem" { "yes".into() } else { "-".into() });
            }
            "guid" => return ro(format!("{}", 0x9e37_79b9_7f4a_7c15u64 ^ (name.len() as u64 * 7919))),
            "version" => return ro(if d.kind == "filesystem" { "5".into() } else { "-".into() }),
            "utf8only" | "encryption" => return ro(if d.kind == "filesystem" { "off".into() } else { "-".into() }),
            "normalization" => return ro(if d.kind == "filesystem" { "none".into() } else { "-".into() }),
            "casesensitivity" => return ro(if d.kind == "filesystem" { "sensitive".into() } else { "-".into() }),
            "keystatus" | "origin" => return ro("-".into()),
            "volblocksize" => return ro(if d.kind == "volume" { "16K".into() } else { "-".into() }),
            _ => {}
        }
        if prop == "volsize" {
            return Some(match d.props.get("volsize") {
                Some(v) if d.kind == "volume" => {
                    (if parsable { parse_size(v).unwrap_or(0).to_string() } else { v.clone() }, "local".into())
                }
                _ => ("-".into(), "-".into()),
            });
        }
        if prop == "mountpoint" {
            if d.kind != "filesystem" {
                return ro("-".into());
            }
            if let Some(v) = d.props.get("mountpoint") {
                return Some((v.clone(), "local".into()));
            }
            // Derived from the nearest ancestor with a local mountpoint.
            let mut suffix = Vec::new();
            let mut cur = name;
            while let Some(p) = Self::parent(cur) {
                suffix.push(&cur[p.len() + 1..]);
                if let Some(v) = self.datasets.get(p).and_then(|pd| pd.props.get("mountpoint")) {
                    suffix.reverse();
                    let base = v.trim_end_matches('/');
                    return Some((format!("{base}/{}", suffix.join("/")), format!("inherited from {p}")));
                }
                cur = p;
            }
            return Some((format!("/{name}"), "default".into()));
        }
        if let Some((_, def)) = INHERITABLE.iter().find(|(k, _)| *k == prop) {
            if d.kind == "volume" && matches!(prop, "recordsize" | "atime" | "relatime" | "devices" | "exec" | "setuid" | "snapdir" | "aclmode" | "aclinherit" | "xattr" | "acltype" | "sharenfs" | "sharesmb" | "zoned" | "dnodesize") {
                return ro("-".into());
            }
            if let Some(v) = d.props.get(prop) {
                return Some((v.clone(), "local".into()));
            }
            let mut cur = name;
            while let Some(p) = Self::parent(cur) {
                if let Some(v) = self.datasets.get(p).and_then(|pd| pd.props.get(prop)) {
                    return Some((v.clone(), format!("inherited from {p}")));
                }
                cur = p;
            }
            return Some((def.to_string(), "default".into()));
        }
        if let Some((_, def)) = LOCAL_ONLY.iter().find(|(k, _)| *k == prop) {
            return Some(match d.props.get(prop) {
                Some(v) => (v.clone(), "local".into()),
                None => (def.to_string(), if *def == "-" { "-".into() } else { "default".into() }),
            });
        }
        if prop.contains(':') {
            return Some(match d.props.get(prop) {
                Some(v) => (v.clone(), "local".into()),
                None => ("-".into(), "-".into()),
            });
        }
        None
    }

    /// `zfs set`. Errors are zfs's messages.
    pub fn set(&mut self, name: &str, prop: &str, value: &str) -> Result<(), String> {
        if !self.exists(name) {
            return Err(format!("cannot open '{name}': dataset does not exist"));
        }
        if READONLY.contains(&prop) {
            return Err(format!("cannot set property for '{name}': '{prop}' is readonly"));
        }
        let known = INHERITABLE.iter().any(|(k, _)| *k == prop)
            || LOCAL_ONLY.iter().any(|(k, _)| *k == prop)
            || prop == "mountpoint"
            || prop.contains(':');
        if !known {
            return Err(format!("cannot set property for '{name}': invalid property '{prop}'"));
        }
        validate(prop, value).map_err(|m| format!("cannot set property for '{name}': {m}"))?;
        let d = self.datasets.get_mut(name).expect("exists");
        d.props.insert(prop.to_string(), value.to_string());
        Ok(())
    }

    pub fn inherit(&mut self, name: &str, prop: &str) -> Result<(), String> {
        let Some(d) = self.datasets.get_mut(name) else {
            return Err(format!("cannot open '{name}': dataset does not exist"));
        };
        d.props.remove(prop);
        Ok(())
    }

    pub fn create(&mut self, name: &str, volsize: Option<u64>, props: &[(String, String)]) -> Result<(), String> {
        if self.exists(name) {
            return Err(format!("cannot create '{name}': dataset already exists"));
        }
        let Some(parent) = Self::parent(name) else {
            return Err(format!("cannot create '{name}': missing dataset name"));
        };
        if !self.exists(parent) {
            return Err(format!("cannot create '{name}': parent does not exist"));
        }
        let mut d = Dataset {
            kind: if volsize.is_some() { "volume".into() } else { "filesystem".into() },
            creation: sys::now(),
            referenced: if volsize.is_some() { 56 * 1024 } else { 96 * 1024 },
            props: BTreeMap::new(),
        };
        if let Some(v) = volsize {
            d.props.insert("volsize".into(), crate::render::zfs_nicenum(v));
        }
        for (k, v) in props {
            d.props.insert(k.clone(), v.clone());
        }
        self.datasets.insert(name.to_string(), d);
        Ok(())
    }

    pub fn snapshot(&mut self, name: &str) -> Result<(), String> {
        let Some((ds, _)) = name.split_once('@') else {
            return Err(format!("cannot create snapshot '{name}': invalid character in name"));
        };
        if !self.exists(ds) {
            return Err(format!("cannot open '{ds}': dataset does not exist"));
        }
        if self.exists(name) {
            return Err(format!("cannot create snapshot '{name}': dataset already exists"));
        }
        self.datasets.insert(
            name.to_string(),
            Dataset { kind: "snapshot".into(), creation: sys::now(), referenced: self.datasets[ds].referenced, props: BTreeMap::new() },
        );
        Ok(())
    }

    pub fn destroy(&mut self, name: &str, recursive: bool) -> Result<(), String> {
        if !self.exists(name) {
            return Err(format!("cannot open '{name}': dataset does not exist"));
        }
        let kids: Vec<String> =
            self.datasets.keys().filter(|n| n.starts_with(&format!("{name}/")) || n.starts_with(&format!("{name}@"))).cloned().collect();
        if !kids.is_empty() && !recursive {
            return Err(format!(
                "cannot destroy '{name}': filesystem has children\nuse '-r' to destroy the following datasets:\n{}",
                kids.join("\n")
            ));
        }
        for k in kids {
            self.datasets.remove(&k);
        }
        self.datasets.remove(name);
        Ok(())
    }
}

fn validate(prop: &str, v: &str) -> Result<(), String> {
    let onoff = |v: &str| matches!(v, "on" | "off");
    let ok = match prop {
        "compression" => {
            matches!(v, "on" | "off" | "lzjb" | "gzip" | "zle" | "lz4" | "zstd" | "zstd-fast")
                || v.strip_prefix("gzip-").is_some_and(|n| matches!(n.parse::<u8>(), Ok(1..=9)))
                || v.strip_prefix("zstd-fast-").is_some_and(|n| n.parse::<u32>().is_ok())
                || v.strip_prefix("zstd-").is_some_and(|n| matches!(n.parse::<u8>(), Ok(1..=19)))
        }
        "atime" | "relatime" | "devices" | "exec" | "setuid" | "readonly" | "zoned" => onoff(v),
        "sync" => matches!(v, "standard" | "always" | "disabled"),
        "xattr" => matches!(v, "on" | "off" | "sa" | "dir"),
        "acltype" => matches!(v, "off" | "noacl" | "posix" | "posixacl" | "nfsv4"),
        "checksum" => matches!(v, "on" | "off" | "fletcher2" | "fletcher4" | "sha256" | "sha512" | "skein" | "edonr" | "blake3" | "noparity"),
        "primarycache" | "secondarycache" => matches!(v, "all" | "none" | "metadata"),
        "logbias" => matches!(v, "latency" | "throughput"),
        "copies" => matches!(v, "1" | "2" | "3"),
        "canmount" => matches!(v, "on" | "off" | "noauto"),
        "quota" | "refquota" | "reservation" | "refreservation" => v == "none" || parse_size(v).is_some(),
        "recordsize" => parse_size(v).is_some_and(|n| n.is_power_of_two() && (512..=16 * 1024 * 1024).contains(&n)),
        "mountpoint" => v.starts_with('/') || matches!(v, "none" | "legacy"),
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("bad {prop} value '{v}'"))
    }
}

/// `1G`, `512M`, `4096`, `1.5T` → bytes.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    if s == "none" || s == "-" {
        return None;
    }
    let (num, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&s[..i], s[i..].trim_end_matches(['B', 'b']).to_ascii_uppercase()),
        None => (s, String::new()),
    };
    let n: f64 = num.parse().ok()?;
    let mult = match unit.as_str() {
        "" => 1u64,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        "P" => 1 << 50,
        _ => return None,
    };
    Some((n * mult as f64) as u64)
}

/// `zfs get creation` text form: `Mon Sep  1 12:00 2025`.
pub fn ctime_short(t: i64) -> String {
    let tm = sys::localtime(t);
    const D: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const M: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    format!("{} {} {:>2} {:02}:{:02} {}", D[tm.wday as usize % 7], M[(tm.mon as usize + 11) % 12], tm.mday, tm.hour, tm.min, tm.year)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_install_properties_and_inheritance() {
        let s = ZfsState::fresh_install();
        assert_eq!(s.get("rpool/data", "compression", false).unwrap(), ("on".into(), "inherited from rpool".into()));
        assert_eq!(s.get("rpool/ROOT/pve-1", "mountpoint", false).unwrap(), ("/".into(), "local".into()));
        assert_eq!(s.get("rpool/data", "mountpoint", false).unwrap(), ("/rpool/data".into(), "default".into()));
        assert_eq!(s.get("rpool", "used", false).unwrap().1, "-");
        assert!(s.used("rpool") > s.used("rpool/data"));
    }

    #[test]
    fn set_and_errors() {
        let mut s = ZfsState::fresh_install();
        s.set("rpool/data", "compression", "zstd").unwrap();
        assert_eq!(s.get("rpool/data", "compression", false).unwrap().1, "local");
        assert_eq!(s.set("rpool", "used", "1").unwrap_err(), "cannot set property for 'rpool': 'used' is readonly");
        assert!(s.set("rpool", "bogus", "1").unwrap_err().contains("invalid property 'bogus'"));
        assert!(s.set("rpool/x", "atime", "on").unwrap_err().contains("dataset does not exist"));
        s.create("rpool/data/vm-100-disk-0", Some(4 * GIB), &[]).unwrap();
        assert_eq!(s.get("rpool/data/vm-100-disk-0", "volsize", false).unwrap().0, "4G");
        assert!(s.destroy("rpool/data", false).is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4G"), Some(4 * GIB));
        assert_eq!(parse_size("128K"), Some(131072));
        assert_eq!(parse_size("none"), None);
    }
}
